/* err.c: the error record; see err.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "banned.h"

int
err_set(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return code;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

int
err_prefix(struct err *e, const char *fmt, ...)
{
	char old[ERR_MSG_MAX];
	size_t n, m;
	va_list ap;
	int k;

	if (e == NULL)
		return AG_EINVAL;
	memcpy(old, e->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	va_start(ap, fmt);
	k = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	n = k < 0 ? 0 : (size_t)k;
	if (n > sizeof(e->msg) - 3)
		return e->code;		/* the context alone fills it */
	e->msg[n++] = ':';
	e->msg[n++] = ' ';
	m = strlen(old);
	if (m > sizeof(e->msg) - 1 - n)
		m = sizeof(e->msg) - 1 - n;
	memcpy(e->msg + n, old, m);
	e->msg[n + m] = '\0';
	return e->code;
}

void
err_clear(struct err *e)
{
	if (e == NULL)
		return;
	e->code = AG_OK;
	e->msg[0] = '\0';
}

const char *
err_name(int code)
{
	switch (code) {
	case AG_OK:		return "ok";
	case AG_ENOMEM:		return "out of memory";
	case AG_EIO:		return "i/o";
	case AG_ENET:		return "network";
	case AG_EPROTO:		return "protocol";
	case AG_EINVAL:		return "invalid input";
	case AG_ETIMEOUT:	return "timeout";
	case AG_EHOOK:		return "hook";
	case AG_ENOTSUP:	return "not supported";
	}
	return "unknown";
}

/* buf.c: bounded growable buffer; see buf.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "banned.h"

void
buf_init(struct buf *b, size_t max)
{
	b->ptr = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

void
buf_release(struct buf *b)
{
	free(b->ptr);
	b->ptr = NULL;
	b->len = b->cap = 0;
}

void
buf_release_secret(struct buf *b)
{
	if (b->ptr != NULL) {
		/* volatile so the compiler cannot drop the store */
		volatile char *p = b->ptr;
		size_t i;

		for (i = 0; i < b->cap; i++)
			p[i] = 0;
	}
	buf_release(b);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->ptr != NULL)
		b->ptr[0] = '\0';
}

int
buf_grow(struct buf *b, size_t n)
{
	size_t want, ncap;
	char *p;

	if (n > b->max || b->len > b->max - n)
		return AG_EINVAL;
	want = b->len + n + 1;
	if (want <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < want)
		ncap = ncap > ((size_t)-1) / 2 ? want : ncap * 2;
	if ((p = realloc(b->ptr, ncap)) == NULL)
		return AG_ENOMEM;
	if (b->ptr == NULL)
		p[0] = '\0';
	b->ptr = p;
	b->cap = ncap;
	return 0;
}

int
buf_add(struct buf *b, const void *data, size_t n)
{
	int r;

	if ((r = buf_grow(b, n)) != 0)
		return r;
	if (n > 0)
		memcpy(b->ptr + b->len, data, n);
	b->len += n;
	b->ptr[b->len] = '\0';
	return 0;
}

int
buf_addstr(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_addch(struct buf *b, char c)
{
	return buf_add(b, &c, 1);
}

int
buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n, r;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return AG_EINVAL;
	if ((r = buf_grow(b, (size_t)n)) != 0)
		return r;
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vaddf(b, fmt, ap);
	va_end(ap);
	return r;
}

int
buf_setstr(struct buf *b, const char *s)
{
	buf_reset(b);
	return buf_addstr(b, s);
}

void
buf_truncate(struct buf *b, size_t n)
{
	if (n >= b->len)
		return;
	b->len = n;
	b->ptr[n] = '\0';
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->ptr, b->ptr + n, b->len - n);
	b->len -= n;
	b->ptr[b->len] = '\0';
}

const char *
buf_cstr(const struct buf *b)
{
	return b->ptr != NULL ? b->ptr : "";
}

char *
buf_detach(struct buf *b)
{
	char *p = b->ptr;

	if (p == NULL)
		p = calloc(1, 1);
	b->ptr = NULL;
	b->len = b->cap = 0;
	return p;
}

int
buf_read_file(struct buf *b, const char *path, struct err *e)
{
	char chunk[16384];
	ssize_t n;
	int fd, r = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_set(e, AG_EIO, "open %s: %s", path, strerror(errno));
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = err_set(e, AG_EIO, "read %s: %s", path,
			    strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if ((r = buf_add(b, chunk, (size_t)n)) != 0) {
			r = err_set(e, r, "read %s: %s", path, r == AG_ENOMEM ?
			    "out of memory" : "file is larger than allowed");
			break;
		}
	}
	close(fd);
	return r;
}

/*
 * err.h: the error record every fallible function fills in.
 *
 * Functions return 0 on success or one of the negative AG_* codes, and put a
 * one-line, user-actionable message into the caller's struct err. The
 * record has a fixed size so the out-of-memory path never allocates.
 *
 *	if ((r = spec_parse(&s, text, len, &e)) != 0)
 *		goto out;		// e.msg says what and where
 *
 * Messages are lowercase single lines ("open /x: No such file or
 * directory"); callers add context with err_prefix() rather than replacing
 * the message.
 */
#ifndef CDAGENT_ERR_H
#define CDAGENT_ERR_H

enum {
	AG_OK = 0,
	AG_ENOMEM = -1,		/* allocation failed */
	AG_EIO = -2,		/* file system or pipe I/O */
	AG_ENET = -3,		/* network, TLS, proxy */
	AG_EPROTO = -4,		/* a peer or file broke its format */
	AG_EINVAL = -5,		/* bad input from the user or a bundle */
	AG_ETIMEOUT = -6,	/* a deadline passed */
	AG_EHOOK = -7,		/* a lifecycle hook script failed */
	AG_ENOTSUP = -8,	/* not available on this host or build */
};

#define ERR_MSG_MAX 1024

struct err {
	int code;
	char msg[ERR_MSG_MAX];
};

#define ERR_INIT { 0, { 0 } }

#if defined(__GNUC__)
#define AG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define AG_PRINTF(f, a)
#endif

/* Fill e (which may be NULL) and return code, for `return err_set(...)`. */
int err_set(struct err *e, int code, const char *fmt, ...) AG_PRINTF(3, 4);

/* Put "<context>: " in front of the message already in e; returns e->code. */
int err_prefix(struct err *e, const char *fmt, ...) AG_PRINTF(2, 3);

/* Reset to AG_OK with an empty message. */
void err_clear(struct err *e);

/* A short name for a code ("io", "network", ...), for logs. */
const char *err_name(int code);

#endif

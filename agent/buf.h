/*
 * buf.h: the one growable byte buffer (git's strbuf, curl's dynbuf).
 *
 * A buf is always NUL-terminated once it holds anything, and buf_cstr()
 * returns "" for an empty one. Every buf has a maximum size: an append that
 * would pass it fails with AG_EINVAL and leaves the buffer unchanged, so
 * HTTP bodies, JSON and file contents cannot grow without bound.
 *
 *	struct buf b = BUF_INIT(64 * 1024);
 *	if (buf_addf(&b, "%s/%s", dir, name) != 0) ...
 *	use(buf_cstr(&b));
 *	buf_release(&b);
 *
 * Buffers that held secrets (keys, tokens, signatures) are released with
 * buf_release_secret(), which zeroes the memory first.
 */
#ifndef CDAGENT_BUF_H
#define CDAGENT_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "err.h"

struct buf {
	char *ptr;	/* owned; NULL until the first append */
	size_t len;	/* bytes used, not counting the NUL */
	size_t cap;	/* bytes allocated */
	size_t max;	/* largest len allowed */
};

#define BUF_INIT(m) { NULL, 0, 0, (m) }
#define BUF_MAX_DEFAULT ((size_t)16 << 20)

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
void buf_release_secret(struct buf *b);

/* Drop the contents, keep the allocation. */
void buf_reset(struct buf *b);

/* Make room for n more bytes; AG_ENOMEM or AG_EINVAL (past max). */
int buf_grow(struct buf *b, size_t n);

int buf_add(struct buf *b, const void *data, size_t n);
int buf_addstr(struct buf *b, const char *s);
int buf_addch(struct buf *b, char c);
int buf_addf(struct buf *b, const char *fmt, ...) AG_PRINTF(2, 3);
int buf_vaddf(struct buf *b, const char *fmt, va_list ap);

/* Replace the contents with s. */
int buf_setstr(struct buf *b, const char *s);

/* Shorten to n bytes (n <= len). */
void buf_truncate(struct buf *b, size_t n);

/* Remove the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);

/* The contents as a C string; "" when empty. Valid until the next change. */
const char *buf_cstr(const struct buf *b);

/*
 * Hand the allocation to the caller (free() it); the buf is left empty.
 * Returns a heap "" for an empty buf, or NULL when that allocation fails.
 */
char *buf_detach(struct buf *b);

/* Read a whole file into b (respecting max); messages name the path. */
int buf_read_file(struct buf *b, const char *path, struct err *e);

#endif

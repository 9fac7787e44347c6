/*
 * util.h: small helpers with no better home: checked number parsing, a
 * string vector, path joining, and wiping secrets.
 */
#ifndef CDAGENT_UTIL_H
#define CDAGENT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * Parse all of s as a base-10 integer in [min, max] into *out. Leading and
 * trailing blanks are refused. Returns 0 or AG_EINVAL (no message set:
 * the caller knows which field it was).
 */
int util_parse_ll(const char *s, long long min, long long max, long long *out);

/* strdup that returns NULL for NULL input (check the result otherwise). */
char *util_strdup(const char *s);

/* Zero n bytes at p in a way the compiler keeps (OpenSSH explicit_bzero). */
void util_wipe(void *p, size_t n);

/* Zero a heap string to its NUL, then free it. NULL-safe. */
void util_free_secret(char *s);

/*
 * A NULL-terminated vector of owned strings (argv, envp, lists).
 *	struct strv v = STRV_INIT;
 *	strv_push(&v, "a"); ... execve(v.v[0], v.v, ...); strv_release(&v);
 */
struct strv {
	char **v;	/* owned; v[n] == NULL once anything was pushed */
	size_t n, cap;
};
#define STRV_INIT { NULL, 0, 0 }

int strv_push(struct strv *s, const char *str);		/* copies str */
int strv_pushf(struct strv *s, const char *fmt, ...) AG_PRINTF(2, 3);
int strv_push_owned(struct strv *s, char *str);		/* takes str */
int strv_contains(const struct strv *s, const char *str);
void strv_release(struct strv *s);

/*
 * Set NAME=value in an environment vector, replacing an existing NAME;
 * value NULL removes NAME.
 */
int strv_setenv(struct strv *env, const char *name, const char *value);

/*
 * Join dir and rel with one '/' into a new heap string (NULL on ENOMEM).
 * A leading '/' in rel does not make it absolute: join("/a", "/b") is "/a/b".
 */
char *util_path_join(const char *dir, const char *rel);

/* 1 when path names an existing file system object (lstat). */
int util_exists(const char *path);

/* 1 when s ends with suffix. */
int util_endswith(const char *s, const char *suffix);

#endif

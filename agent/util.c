/* util.c: see util.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "util.h"
#include "banned.h"

int
util_parse_ll(const char *s, long long min, long long max, long long *out)
{
	long long v;
	char *end;

	if (s == NULL || *s == '\0' || *s == ' ' || *s == '\t')
		return AG_EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return AG_EINVAL;
	*out = v;
	return 0;
}

char *
util_strdup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

void
util_wipe(void *p, size_t n)
{
	volatile unsigned char *q = p;

	while (n-- > 0)
		*q++ = 0;
}

void
util_free_secret(char *s)
{
	if (s == NULL)
		return;
	util_wipe(s, strlen(s));
	free(s);
}

static int
strv_grow(struct strv *s)
{
	size_t ncap;
	char **p;

	if (s->n + 2 <= s->cap)
		return 0;
	ncap = s->cap ? s->cap * 2 : 8;
	if ((p = realloc(s->v, ncap * sizeof(*p))) == NULL)
		return AG_ENOMEM;
	s->v = p;
	s->cap = ncap;
	return 0;
}

int
strv_push_owned(struct strv *s, char *str)
{
	if (str == NULL || strv_grow(s) != 0) {
		free(str);
		return AG_ENOMEM;
	}
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
	return 0;
}

int
strv_push(struct strv *s, const char *str)
{
	return strv_push_owned(s, util_strdup(str));
}

int
strv_pushf(struct strv *s, const char *fmt, ...)
{
	struct buf b = BUF_INIT(BUF_MAX_DEFAULT);
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (r != 0) {
		buf_release(&b);
		return r;
	}
	return strv_push_owned(s, buf_detach(&b));
}

int
strv_contains(const struct strv *s, const char *str)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i], str) == 0)
			return 1;
	return 0;
}

void
strv_release(struct strv *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

int
strv_setenv(struct strv *env, const char *name, const char *value)
{
	size_t i, nl = strlen(name);
	char *kv = NULL;

	if (value != NULL) {
		struct buf b = BUF_INIT(BUF_MAX_DEFAULT);

		if (buf_addf(&b, "%s=%s", name, value) != 0) {
			buf_release(&b);
			return AG_ENOMEM;
		}
		kv = buf_detach(&b);
		if (kv == NULL)
			return AG_ENOMEM;
	}
	for (i = 0; i < env->n; i++) {
		if (strncmp(env->v[i], name, nl) == 0 && env->v[i][nl] == '=')
			break;
	}
	if (i < env->n) {
		free(env->v[i]);
		if (kv != NULL) {
			env->v[i] = kv;
			return 0;
		}
		memmove(&env->v[i], &env->v[i + 1],
		    (env->n - i) * sizeof(*env->v));	/* moves the NULL too */
		env->n--;
		return 0;
	}
	if (kv == NULL)
		return 0;
	return strv_push_owned(env, kv);
}

char *
util_path_join(const char *dir, const char *rel)
{
	struct buf b = BUF_INIT(BUF_MAX_DEFAULT);
	size_t dl = strlen(dir);

	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	while (*rel == '/')
		rel++;
	if (buf_add(&b, dir, dl) != 0 ||
	    (*rel != '\0' && !(dl == 1 && dir[0] == '/') &&
	    buf_addch(&b, '/') != 0) || buf_addstr(&b, rel) != 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b);
}

int
util_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

int
util_endswith(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

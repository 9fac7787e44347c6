/* ydoc.c: see ydoc.h. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "err.h"
#include "util.h"
#include "ydoc.h"
#include "banned.h"

struct ydoc {
	struct ydoc_node *root;
	size_t n_nodes;
};

#define TAG_PREFIX "tag:yaml.org,2002:"

static void
node_free(struct ydoc_node *n, int wipe)
{
	size_t i;

	if (n == NULL)
		return;
	/* Depth is bounded by YDOC_MAX_DEPTH, so recursion is fine. */
	for (i = 0; i < n->n; i++)
		node_free(n->items[i], wipe);
	free(n->items);
	if (wipe && n->text != NULL)
		util_wipe(n->text, n->len);
	free(n->text);
	free(n->tag);
	free(n);
}

void
ydoc_free(struct ydoc *d)
{
	if (d == NULL)
		return;
	node_free(d->root, 0);
	free(d);
}

void
ydoc_free_secret(struct ydoc *d)
{
	if (d == NULL)
		return;
	node_free(d->root, 1);
	free(d);
}

const struct ydoc_node *
ydoc_root(const struct ydoc *d)
{
	return d != NULL ? d->root : NULL;
}

/* ---- building the tree ---------------------------------------------- */

struct builder {
	struct ydoc *d;
	struct ydoc_node *stack[YDOC_MAX_DEPTH + 1];
	size_t cap[YDOC_MAX_DEPTH + 1];	/* allocated items of stack[i] */
	size_t depth;
	const char *filename;
	struct err *e;
};

static int
tag_allowed(const char *tag)
{
	static const char *const core[] = {
		"str", "int", "float", "bool", "null", "map", "seq",
	};
	size_t i;

	if (tag == NULL || strcmp(tag, "!") == 0)
		return 1;
	if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) != 0)
		return 0;
	for (i = 0; i < sizeof(core) / sizeof(core[0]); i++)
		if (strcmp(tag + strlen(TAG_PREFIX), core[i]) == 0)
			return 1;
	return 0;
}

static int
add_child(struct builder *b, struct ydoc_node *n)
{
	struct ydoc_node *p;
	struct ydoc_node **items;
	size_t *cap, ncap;

	if (b->depth == 0) {
		b->d->root = n;
		return 0;
	}
	p = b->stack[b->depth - 1];
	cap = &b->cap[b->depth - 1];
	if (p->n == *cap) {
		ncap = *cap ? *cap * 2 : 4;
		if ((items = realloc(p->items, ncap * sizeof(*items))) == NULL)
			return AG_ENOMEM;
		p->items = items;
		*cap = ncap;
	}
	p->items[p->n++] = n;
	return 0;
}

/*
 * Make a node from an event and hang it into the tree. On failure n is
 * freed here, so the caller never owns a half-linked node.
 */
static int
new_node(struct builder *b, const yaml_event_t *ev, enum ydoc_kind kind,
    struct ydoc_node **out)
{
	const yaml_mark_t *m = &ev->start_mark;
	const yaml_char_t *anchor = NULL, *tag = NULL;
	struct ydoc_node *n = NULL;
	int r;

	*out = NULL;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	default:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	}
	if (anchor != NULL)
		return err_set(b->e, AG_EPROTO, "%s:%zu:%zu: anchors and "
		    "aliases are not supported (&%.64s)", b->filename,
		    m->line + 1, m->column + 1, (const char *)anchor);
	if (!tag_allowed((const char *)tag))
		return err_set(b->e, AG_EPROTO, "%s:%zu:%zu: tag %.64s is not "
		    "supported", b->filename, m->line + 1, m->column + 1,
		    (const char *)tag);
	if (++b->d->n_nodes > YDOC_MAX_NODES)
		return err_set(b->e, AG_EPROTO, "%s:%zu:%zu: document has more "
		    "than %d nodes", b->filename, m->line + 1, m->column + 1,
		    YDOC_MAX_NODES);
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return err_set(b->e, AG_ENOMEM, "out of memory");
	n->kind = kind;
	n->line = m->line >= INT_MAX ? INT_MAX : (int)m->line + 1;
	n->col = m->column >= INT_MAX ? INT_MAX : (int)m->column + 1;
	if (tag != NULL && (n->tag = strdup((const char *)tag)) == NULL)
		goto oom;
	if (kind == YDOC_SCALAR) {
		const char *v = (const char *)ev->data.scalar.value;
		size_t len = ev->data.scalar.length;

		if (memchr(v, '\0', len) != NULL) {
			node_free(n, 0);
			return err_set(b->e, AG_EPROTO, "%s:%zu:%zu: NUL "
			    "character in a scalar", b->filename, m->line + 1,
			    m->column + 1);
		}
		if ((n->text = malloc(len + 1)) == NULL)
			goto oom;
		memcpy(n->text, v, len);
		n->text[len] = '\0';
		n->len = len;
		switch (ev->data.scalar.style) {
		case YAML_SINGLE_QUOTED_SCALAR_STYLE:
		case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
			n->style = YDOC_QUOTED;
			break;
		case YAML_LITERAL_SCALAR_STYLE:
		case YAML_FOLDED_SCALAR_STYLE:
			n->style = YDOC_BLOCK;
			break;
		default:
			n->style = YDOC_PLAIN;
			break;
		}
	} else {
		int flow = kind == YDOC_SEQ ?
		    ev->data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE :
		    ev->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;

		n->style = flow ? YDOC_FLOW : YDOC_PLAIN;
	}
	if ((r = add_child(b, n)) != 0)
		goto oom;
	*out = n;
	return 0;
 oom:
	node_free(n, 0);
	return err_set(b->e, AG_ENOMEM, "out of memory");
}

static int
push(struct builder *b, struct ydoc_node *n)
{
	const struct ydoc_node *top = n;

	if (b->depth >= YDOC_MAX_DEPTH)
		return err_set(b->e, AG_EPROTO, "%s:%d:%d: document is nested "
		    "deeper than %d levels", b->filename, top->line, top->col,
		    YDOC_MAX_DEPTH);
	b->cap[b->depth] = 0;
	b->stack[b->depth++] = n;
	return 0;
}

static int
syntax_error(struct builder *b, const yaml_parser_t *p)
{
	const yaml_mark_t *m = &p->problem_mark;

	if (p->error == YAML_MEMORY_ERROR)
		return err_set(b->e, AG_ENOMEM, "out of memory");
	if (p->context != NULL)
		return err_set(b->e, AG_EPROTO, "%s:%zu:%zu: %s %s (line %zu)",
		    b->filename, m->line + 1, m->column + 1,
		    p->problem != NULL ? p->problem : "syntax error",
		    p->context, p->context_mark.line + 1);
	return err_set(b->e, AG_EPROTO, "%s:%zu:%zu: %s", b->filename,
	    m->line + 1, m->column + 1,
	    p->problem != NULL ? p->problem : "syntax error");
}

int
ydoc_parse(struct ydoc **out, const char *text, size_t len,
    const char *filename, struct err *e)
{
	struct builder b;
	yaml_parser_t parser;
	yaml_event_t ev;
	struct ydoc_node *n;
	int r = 0, done = 0, have_ev = 0;

	*out = NULL;
	memset(&b, 0, sizeof(b));
	b.filename = filename;
	b.e = e;
	if ((b.d = calloc(1, sizeof(*b.d))) == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	if (!yaml_parser_initialize(&parser)) {
		free(b.d);
		return err_set(e, AG_ENOMEM, "out of memory");
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
	    len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			r = syntax_error(&b, &parser);
			goto out;
		}
		have_ev = 1;
		switch (ev.type) {
		case YAML_SCALAR_EVENT:
			r = new_node(&b, &ev, YDOC_SCALAR, &n);
			break;
		case YAML_SEQUENCE_START_EVENT:
			if ((r = new_node(&b, &ev, YDOC_SEQ, &n)) == 0)
				r = push(&b, n);
			break;
		case YAML_MAPPING_START_EVENT:
			if ((r = new_node(&b, &ev, YDOC_MAP, &n)) == 0)
				r = push(&b, n);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			b.depth--;
			break;
		case YAML_ALIAS_EVENT:
			r = err_set(e, AG_EPROTO, "%s:%zu:%zu: anchors and "
			    "aliases are not supported (*%.64s)", filename,
			    ev.start_mark.line + 1, ev.start_mark.column + 1,
			    (const char *)ev.data.alias.anchor);
			break;
		case YAML_DOCUMENT_END_EVENT:
		case YAML_STREAM_END_EVENT:
			done = 1;	/* the first document is all we read */
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		have_ev = 0;
		if (r != 0)
			goto out;
	}
	*out = b.d;
	b.d = NULL;	/* transferred */
 out:
	if (have_ev)
		yaml_event_delete(&ev);
	yaml_parser_delete(&parser);
	ydoc_free(b.d);
	return r;
}

/* ---- lookups ---------------------------------------------------------- */

/* Index of the last key equal to key in a mapping's items, or 0. */
static size_t
map_find(const struct ydoc_node *map, const char *key)
{
	const struct ydoc_node *k;
	size_t i;

	if (map == NULL || map->kind != YDOC_MAP)
		return 0;
	for (i = map->n; i >= 2; i -= 2) {
		k = map->items[i - 2];
		if (k->kind == YDOC_SCALAR && strcmp(k->text, key) == 0)
			return i;
	}
	return 0;
}

const struct ydoc_node *
ydoc_map_key(const struct ydoc_node *map, const char *key)
{
	size_t i = map_find(map, key);

	return i > 0 ? map->items[i - 2] : NULL;
}

const struct ydoc_node *
ydoc_map_get(const struct ydoc_node *map, const char *key)
{
	size_t i = map_find(map, key);

	return i > 0 ? map->items[i - 1] : NULL;
}

/* ---- YAML 1.1 scalar resolution --------------------------------------- */

int
ydoc_text_is_null(const char *s)
{
	return *s == '\0' || strcmp(s, "~") == 0 || strcasecmp(s, "null") == 0;
}

int
ydoc_text_bool(const char *s, int *out)
{
	/* Psych matches these case-insensitively, so "yEs" is true too. */
	if (strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0 ||
	    strcasecmp(s, "on") == 0) {
		*out = 1;
		return 1;
	}
	if (strcasecmp(s, "no") == 0 || strcasecmp(s, "false") == 0 ||
	    strcasecmp(s, "off") == 0) {
		*out = 0;
		return 1;
	}
	return 0;
}

static int
digit_val(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

/*
 * 1: an int that fits, 0: not int syntax, -1: int syntax but too large.
 * Digits may be separated by '_' (not leading, as YAML 1.1).
 */
static int
parse_int(const char *s, long long *out)
{
	unsigned long long v = 0, lim;
	int neg = 0, base = 10, d, nd = 0;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (s[0] == '0' && s[1] == 'x') {
		base = 16;
		s += 2;
	} else if (s[0] == '0' && s[1] == 'o') {
		base = 8;
		s += 2;
	} else if (s[0] == '0' && s[1] == 'b') {
		base = 2;
		s += 2;
	} else if (s[0] == '0' && s[1] != '\0') {
		base = 8;	/* YAML 1.1: 0755 is octal */
		s++;
	}
	if (*s == '_' || *s == '\0')
		return 0;
	lim = neg ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
	for (; *s != '\0'; s++) {
		if (*s == '_')
			continue;
		if ((d = digit_val((unsigned char)*s)) >= base)
			return 0;
		if (nd >= 0 && (v > (lim - (unsigned)d) / (unsigned)base))
			nd = -1;	/* keep scanning: syntax decides */
		else if (nd >= 0) {
			v = v * (unsigned)base + (unsigned)d;
			nd++;
		}
	}
	if (nd < 0)
		return -1;
	if (neg)
		*out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN :
		    -(long long)v;
	else
		*out = (long long)v;
	return 1;
}

int
ydoc_text_int(const char *s, long long *out)
{
	long long v;

	if (parse_int(s, &v) != 1)
		return 0;
	*out = v;
	return 1;
}

/* 1 when s is a YAML 1.1 float (a '.' is required, as in Psych). */
static int
parse_float(const char *s, double *out)
{
	char tmp[128];
	const char *p = s;
	size_t n = 0;
	int digits = 0, dot = 0;
	char *end;

	if (*p == '-' || *p == '+')
		p++;
	if (strcmp(p, ".inf") == 0 || strcmp(p, ".Inf") == 0 ||
	    strcmp(p, ".INF") == 0) {
		*out = *s == '-' ? -HUGE_VAL : HUGE_VAL;
		return 1;
	}
	if (p == s && (strcmp(p, ".nan") == 0 || strcmp(p, ".NaN") == 0 ||
	    strcmp(p, ".NAN") == 0)) {
		*out = NAN;
		return 1;
	}
	for (; *p != '\0'; p++) {
		if (*p >= '0' && *p <= '9')
			digits++;
		else if (*p == '.' && !dot)
			dot = 1;
		else if (*p == '_' && digits > 0 && !dot)
			;
		else if ((*p == 'e' || *p == 'E') && digits > 0 && dot)
			break;
		else
			return 0;
	}
	if (!dot || digits == 0)
		return 0;
	if (*p != '\0') {	/* exponent: [eE][-+]?[0-9]+ */
		const char *x = p + 1;

		if (*x == '-' || *x == '+')
			x++;
		if (*x == '\0')
			return 0;
		for (; *x != '\0'; x++)
			if (*x < '0' || *x > '9')
				return 0;
	}
	for (p = s; *p != '\0'; p++) {
		if (*p == '_')
			continue;
		if (n + 1 >= sizeof(tmp))
			return 0;
		tmp[n++] = *p;
	}
	tmp[n] = '\0';
	errno = 0;
	*out = strtod(tmp, &end);
	return *end == '\0';
}

int
ydoc_text_float(const char *s, double *out)
{
	long long i;

	if (parse_float(s, out))
		return 1;
	if (ydoc_text_int(s, &i)) {
		*out = (double)i;
		return 1;
	}
	return 0;
}

static int
tag_is(const struct ydoc_node *n, const char *name)
{
	return n->tag != NULL && strncmp(n->tag, TAG_PREFIX,
	    strlen(TAG_PREFIX)) == 0 &&
	    strcmp(n->tag + strlen(TAG_PREFIX), name) == 0;
}

enum ydoc_type
ydoc_type(const struct ydoc_node *n)
{
	long long i;
	double f;
	int b;

	if (n == NULL)
		return YDOC_T_NULL;
	if (n->kind == YDOC_SEQ)
		return YDOC_T_SEQ;
	if (n->kind == YDOC_MAP)
		return YDOC_T_MAP;
	if (n->tag != NULL) {
		/* An explicit core tag asks for that type when it fits. */
		if (tag_is(n, "null") && ydoc_text_is_null(n->text))
			return YDOC_T_NULL;
		if (tag_is(n, "bool") && ydoc_text_bool(n->text, &b))
			return YDOC_T_BOOL;
		if (tag_is(n, "int") && parse_int(n->text, &i) != 0)
			return YDOC_T_INT;
		if (tag_is(n, "float") && ydoc_text_float(n->text, &f))
			return YDOC_T_FLOAT;
		return YDOC_T_STR;
	}
	if (n->style != YDOC_PLAIN)
		return YDOC_T_STR;
	if (ydoc_text_is_null(n->text))
		return YDOC_T_NULL;
	if (ydoc_text_bool(n->text, &b))
		return YDOC_T_BOOL;
	if (parse_int(n->text, &i) != 0)
		return YDOC_T_INT;
	if (parse_float(n->text, &f))
		return YDOC_T_FLOAT;
	return YDOC_T_STR;
}

int
ydoc_is_null(const struct ydoc_node *n)
{
	return ydoc_type(n) == YDOC_T_NULL;
}

int
ydoc_bool(const struct ydoc_node *n, int *out)
{
	if (ydoc_type(n) != YDOC_T_BOOL || !ydoc_text_bool(n->text, out))
		return AG_EINVAL;
	return 0;
}

int
ydoc_int(const struct ydoc_node *n, long long *out)
{
	if (ydoc_type(n) != YDOC_T_INT || !ydoc_text_int(n->text, out))
		return AG_EINVAL;
	return 0;
}

int
ydoc_float(const struct ydoc_node *n, double *out)
{
	enum ydoc_type t = ydoc_type(n);

	if ((t != YDOC_T_FLOAT && t != YDOC_T_INT) ||
	    !ydoc_text_float(n->text, out))
		return AG_EINVAL;
	return 0;
}

const char *
ydoc_type_name(enum ydoc_type t)
{
	switch (t) {
	case YDOC_T_NULL:
		return "null";
	case YDOC_T_BOOL:
		return "a boolean";
	case YDOC_T_INT:
		return "an integer";
	case YDOC_T_FLOAT:
		return "a number";
	case YDOC_T_STR:
		return "a string";
	case YDOC_T_SEQ:
		return "a list";
	case YDOC_T_MAP:
		return "a mapping";
	}
	return "a value";
}

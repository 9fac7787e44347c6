/*
 * ydoc.h: a small YAML document tree over libyaml's event API, shared by
 * the AppSpec and config parsers.
 *
 * The tree keeps what the callers need to validate a file the way the Ruby
 * agent (Psych, YAML 1.1) reads it and to point at the offending spot:
 * every node has a 1-based line and column; a scalar keeps its raw text,
 * whether it was plain or quoted, and its tag. Types are resolved lazily
 * with the YAML 1.1 rules Psych applies to plain scalars:
 *
 *	null	~, null (any case), or nothing at all
 *	bool	yes/no, true/false, on/off (any case, as Psych)
 *	int	decimal, 0755 (octal 493), 0o755, 0x1f, 0b101, '_' separators
 *	float	1.5, .5, 1., -.inf, .nan, with an optional exponent
 *
 * Quoted and block scalars, and anything tagged !!str or "!", are strings.
 *
 * Limits, so a hostile bundle cannot exhaust the agent: nesting deeper
 * than YDOC_MAX_DEPTH or more than YDOC_MAX_NODES nodes is refused.
 * Anchors and aliases are refused (Psych 4 refuses aliases by default, and
 * they are the vector of "billion laughs"); so are tags outside the YAML
 * core schema and scalars holding a NUL. Only the first document of a
 * stream is read; what follows it is not even parsed (Psych.load does the
 * same).
 *
 *	struct ydoc *d = NULL;
 *	if (ydoc_parse(&d, text, len, "appspec.yml", &e) != 0)
 *		fail(e.msg);	// "appspec.yml:3:7: did not find expected key"
 *	const struct ydoc_node *v = ydoc_map_get(ydoc_root(d), "version");
 *	ydoc_free(d);
 */
#ifndef CDAGENT_YDOC_H
#define CDAGENT_YDOC_H

#include <stddef.h>

struct err;

#define YDOC_MAX_DEPTH 64
#define YDOC_MAX_NODES 100000

enum ydoc_kind { YDOC_SCALAR = 1, YDOC_SEQ, YDOC_MAP };

enum ydoc_style {
	YDOC_PLAIN = 0,		/* unquoted: subject to type resolution */
	YDOC_QUOTED,		/* 'single' or "double" */
	YDOC_BLOCK,		/* | literal or > folded */
	YDOC_FLOW,		/* [a, b] or {a: b} (containers only) */
};

struct ydoc_node {
	enum ydoc_kind kind;
	enum ydoc_style style;
	int line, col;		/* 1-based position of the node's start */
	char *text;		/* owned; scalars only, NUL-free, never NULL */
	size_t len;		/* strlen(text) */
	char *tag;		/* owned; resolved ("tag:yaml.org,2002:str"), or
				 * NULL when the node had none */
	/*
	 * Children: a sequence has n items; a mapping has n / 2 pairs laid
	 * out key, value, key, value. In document order.
	 */
	struct ydoc_node **items;	/* owned */
	size_t n;
};

struct ydoc;

/*
 * Parse the first YAML document of text[0..len). filename is used only in
 * messages, which read "<filename>:<line>:<col>: <problem>". Returns 0 or
 * AG_EPROTO (syntax, limits, aliases) or AG_ENOMEM. An empty stream, or
 * one with only comments, parses fine and has a NULL root.
 */
int ydoc_parse(struct ydoc **out, const char *text, size_t len,
    const char *filename, struct err *e);

void ydoc_free(struct ydoc *d);		/* NULL-safe */

/*
 * ydoc_free() that first zeroes every scalar, for documents holding
 * secrets (the on-premises keys). libyaml's own buffers are freed without
 * wiping; the caller wipes the input text.
 */
void ydoc_free_secret(struct ydoc *d);

/* The root node, or NULL for an empty stream. */
const struct ydoc_node *ydoc_root(const struct ydoc *d);

/*
 * The value of the last pair of map whose key is a scalar with text key
 * (the last, because that is the one a Ruby Hash keeps). NULL when map is
 * NULL, not a mapping, or has no such key. A key that is present with a
 * null value returns the null scalar: use ydoc_has() to tell them apart
 * when it matters.
 */
const struct ydoc_node *ydoc_map_get(const struct ydoc_node *map,
    const char *key);
const struct ydoc_node *ydoc_map_key(const struct ydoc_node *map,
    const char *key);		/* the key node itself, for positions */

/* Resolved type of a node; a NULL node is YDOC_T_NULL. */
enum ydoc_type {
	YDOC_T_NULL = 0,
	YDOC_T_BOOL,
	YDOC_T_INT,
	YDOC_T_FLOAT,
	YDOC_T_STR,
	YDOC_T_SEQ,
	YDOC_T_MAP,
};
enum ydoc_type ydoc_type(const struct ydoc_node *n);

/* 1 when n is NULL or a null scalar. */
int ydoc_is_null(const struct ydoc_node *n);

/*
 * Typed reads. Each returns 0 and sets *out when n resolves to that type,
 * else AG_EINVAL with no message (the caller knows the key). ydoc_int
 * also fails for an int outside long long; ydoc_float accepts ints too.
 */
int ydoc_bool(const struct ydoc_node *n, int *out);
int ydoc_int(const struct ydoc_node *n, long long *out);
int ydoc_float(const struct ydoc_node *n, double *out);

/*
 * The same rules on bare text, for callers that hold a string rather
 * than a node (for example a quoted value they decide to be lenient
 * about). Return 1 when s has that form and set *out.
 */
int ydoc_text_is_null(const char *s);
int ydoc_text_bool(const char *s, int *out);
int ydoc_text_int(const char *s, long long *out);
int ydoc_text_float(const char *s, double *out);

/* A short name for a kind of node ("a list", "a mapping", "a string"). */
const char *ydoc_type_name(enum ydoc_type t);

#endif

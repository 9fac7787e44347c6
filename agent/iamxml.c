/*
 * iamxml.c: a small strict XML reader for IAM replies; see iamxml.h.
 *
 * Each element is kept with its full path ("A/B/C", local names), so a
 * lookup is a string comparison; replies are a few KiB, so a linear scan
 * is all that is needed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "iamxml.h"
#include "util.h"
#include "banned.h"

#define IAMXML_TEXT_MAX ((size_t)1 << 20)

struct iamxml_elem {
	char *path;		/* owned: "Root/Child/Leaf" */
	struct buf text;	/* owned: decoded direct text (may be secret) */
};

struct iamxml {
	struct iamxml_elem *v;	/* owned */
	size_t n, cap;
};

struct open_tag {
	size_t elem;		/* index in x->v */
	const char *qname;	/* into the input, for the end tag */
	size_t qlen;
};

struct parser {
	const char *p, *end, *start;
	struct iamxml *x;
	struct open_tag stack[IAMXML_MAX_DEPTH];
	size_t depth;
	int seen_root;
	struct err *e;
};

static int
line_of(const struct parser *ps)
{
	const char *q;
	int line = 1;

	for (q = ps->start; q < ps->p; q++)
		if (*q == '\n')
			line++;
	return line;
}

static int
bad(struct parser *ps, const char *what)
{
	return err_set(ps->e, AG_EPROTO, "xml: line %d: %s", line_of(ps),
	    what);
}

static int
starts(const struct parser *ps, const char *s)
{
	size_t n = strlen(s);

	return (size_t)(ps->end - ps->p) >= n && memcmp(ps->p, s, n) == 0;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int
name_start(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
	    c == ':' || c >= 0x80;
}

static int
name_char(unsigned char c)
{
	return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static void
skip_space(struct parser *ps)
{
	while (ps->p < ps->end && is_space(*ps->p))
		ps->p++;
}

/* A Name at ps->p into name and len; AG_EPROTO when there is none. */
static int
read_name(struct parser *ps, const char **name, size_t *len)
{
	const char *s = ps->p;

	if (ps->p >= ps->end || !name_start((unsigned char)*ps->p))
		return bad(ps, "expected a name");
	while (ps->p < ps->end && name_char((unsigned char)*ps->p))
		ps->p++;
	*name = s;
	*len = (size_t)(ps->p - s);
	return 0;
}

/* Skip to just past the terminator term; AG_EPROTO at end of input. */
static int
skip_past(struct parser *ps, const char *term, const char *what)
{
	size_t n = strlen(term);

	while ((size_t)(ps->end - ps->p) >= n) {
		if (memcmp(ps->p, term, n) == 0) {
			ps->p += n;
			return 0;
		}
		ps->p++;
	}
	return bad(ps, what);
}

static int
add_utf8(struct buf *b, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_add(b, u, n);
}

/* Decode the reference at ps->p ('&') onto b (NULL: check only). */
static int
entity(struct parser *ps, struct buf *b)
{
	static const struct {
		const char *name;
		char c;
	} ents[] = { { "lt;", '<' }, { "gt;", '>' }, { "amp;", '&' },
	    { "quot;", '"' }, { "apos;", '\'' } };
	uint32_t cp = 0;
	size_t i;
	int digits = 0, hex;

	ps->p++;
	for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
		if (starts(ps, ents[i].name)) {
			ps->p += strlen(ents[i].name);
			return b != NULL && buf_addch(b, ents[i].c) != 0 ?
			    err_set(ps->e, AG_ENOMEM, "out of memory") : 0;
		}
	}
	if (!starts(ps, "#"))
		return bad(ps, "unknown entity (only the predefined five)");
	ps->p++;
	hex = starts(ps, "x");
	if (hex)
		ps->p++;
	for (; ps->p < ps->end && *ps->p != ';'; ps->p++, digits++) {
		char c = *ps->p;
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = (uint32_t)(c - '0');
		else if (hex && c >= 'a' && c <= 'f')
			d = (uint32_t)(c - 'a' + 10);
		else if (hex && c >= 'A' && c <= 'F')
			d = (uint32_t)(c - 'A' + 10);
		else
			return bad(ps, "bad character reference");
		cp = cp * (hex ? 16u : 10u) + d;
		if (cp > 0x10ffff)
			return bad(ps, "character reference out of range");
	}
	if (ps->p >= ps->end || digits == 0)
		return bad(ps, "bad character reference");
	ps->p++;
	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) ||
	    (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r'))
		return bad(ps, "character reference to a forbidden character");
	if (b != NULL && add_utf8(b, cp) != 0)
		return err_set(ps->e, AG_ENOMEM, "out of memory");
	return 0;
}

/* Character data up to the next '<' (or the end of an attribute value). */
static int
chars(struct parser *ps, struct buf *b, char stop)
{
	int r;

	while (ps->p < ps->end && *ps->p != '<' && *ps->p != stop) {
		unsigned char c = (unsigned char)*ps->p;

		if (c == '&') {
			if (b == NULL)
				return bad(ps, "text outside the root element");
			if ((r = entity(ps, b)) != 0)
				return r;
			continue;
		}
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			return bad(ps, "control character");
		if (b == NULL && !is_space((char)c))
			return bad(ps, "text outside the root element");
		if (b != NULL && buf_addch(b, (char)c) != 0)
			return err_set(ps->e, AG_ENOMEM, "out of memory");
		ps->p++;
	}
	return 0;
}

static struct buf *
top_text(struct parser *ps)
{
	if (ps->depth == 0)
		return NULL;
	return &ps->x->v[ps->stack[ps->depth - 1].elem].text;
}

static int
push_elem(struct parser *ps, const char *q, size_t qlen)
{
	struct iamxml *x = ps->x;
	struct iamxml_elem *el;
	struct buf path = BUF_INIT(64 * 1024);
	const char *local = q, *colon;

	if (ps->depth == IAMXML_MAX_DEPTH)
		return bad(ps, "elements nested too deeply");
	if (x->n == IAMXML_MAX_ELEMENTS)
		return bad(ps, "too many elements");
	if ((colon = memchr(q, ':', qlen)) != NULL)
		local = colon + 1;
	if (local == q + qlen)
		return bad(ps, "empty local name");
	if (x->n == x->cap) {
		size_t nc = x->cap ? x->cap * 2 : 32;
		struct iamxml_elem *nv = realloc(x->v, nc * sizeof(*nv));

		if (nv == NULL)
			return err_set(ps->e, AG_ENOMEM, "out of memory");
		x->v = nv;
		x->cap = nc;
	}
	if ((ps->depth > 0 && buf_addf(&path, "%s/",
	    x->v[ps->stack[ps->depth - 1].elem].path) != 0) ||
	    buf_add(&path, local, qlen - (size_t)(local - q)) != 0) {
		buf_release(&path);
		return err_set(ps->e, AG_ENOMEM, "out of memory");
	}
	el = &x->v[x->n];
	buf_init(&el->text, IAMXML_TEXT_MAX);
	if ((el->path = buf_detach(&path)) == NULL)
		return err_set(ps->e, AG_ENOMEM, "out of memory");
	ps->stack[ps->depth].elem = x->n++;
	ps->stack[ps->depth].qname = q;
	ps->stack[ps->depth].qlen = qlen;
	ps->depth++;
	ps->seen_root = 1;
	return 0;
}

static int
start_tag(struct parser *ps)
{
	const char *q, *an;
	size_t qlen, alen;
	char quote;
	int r;

	ps->p++;
	if ((r = read_name(ps, &q, &qlen)) != 0)
		return r;
	if (ps->seen_root && ps->depth == 0)
		return bad(ps, "a second root element");
	if ((r = push_elem(ps, q, qlen)) != 0)
		return r;
	for (;;) {
		int had_space = ps->p < ps->end && is_space(*ps->p);

		skip_space(ps);
		if (starts(ps, "/>")) {
			ps->p += 2;
			ps->depth--;
			return 0;
		}
		if (starts(ps, ">")) {
			ps->p++;
			return 0;
		}
		if (!had_space)
			return bad(ps, "expected '>', '/>' or an attribute");
		if ((r = read_name(ps, &an, &alen)) != 0)
			return r;
		skip_space(ps);
		if (!starts(ps, "="))
			return bad(ps, "attribute without '='");
		ps->p++;
		skip_space(ps);
		if (ps->p >= ps->end || (*ps->p != '"' && *ps->p != '\''))
			return bad(ps, "attribute value not quoted");
		quote = *ps->p++;
		/* values are checked, not kept: nothing here needs them */
		while (ps->p < ps->end && *ps->p != quote) {
			if (*ps->p == '<')
				return bad(ps, "'<' in an attribute value");
			if (*ps->p == '&') {
				if ((r = entity(ps, NULL)) != 0)
					return r;
				continue;
			}
			ps->p++;
		}
		if (ps->p >= ps->end)
			return bad(ps, "unterminated attribute value");
		ps->p++;
	}
}

static int
end_tag(struct parser *ps)
{
	const char *q;
	size_t qlen;
	struct open_tag *t;
	int r;

	ps->p += 2;
	if ((r = read_name(ps, &q, &qlen)) != 0)
		return r;
	skip_space(ps);
	if (!starts(ps, ">"))
		return bad(ps, "expected '>' after the end tag name");
	ps->p++;
	if (ps->depth == 0)
		return bad(ps, "end tag without a start tag");
	t = &ps->stack[ps->depth - 1];
	if (t->qlen != qlen || memcmp(t->qname, q, qlen) != 0)
		return bad(ps, "end tag does not match the start tag");
	ps->depth--;
	return 0;
}

static int
parse(struct parser *ps)
{
	const char *cd;
	struct buf *t;
	int r;

	if (starts(ps, "\xef\xbb\xbf"))
		ps->p += 3;
	while (ps->p < ps->end) {
		if (*ps->p != '<') {
			if ((r = chars(ps, top_text(ps), '\0')) != 0)
				return r;
			continue;
		}
		if (starts(ps, "<?")) {
			r = skip_past(ps, "?>", "unterminated processing "
			    "instruction");
		} else if (starts(ps, "<!--")) {
			r = skip_past(ps, "-->", "unterminated comment");
		} else if (starts(ps, "<![CDATA[")) {
			if ((t = top_text(ps)) == NULL)
				return bad(ps, "CDATA outside the root element");
			ps->p += 9;
			cd = ps->p;
			if ((r = skip_past(ps, "]]>", "unterminated CDATA")) ==
			    0 && buf_add(t, cd, (size_t)(ps->p - 3 - cd)) != 0)
				r = err_set(ps->e, AG_ENOMEM, "out of memory");
		} else if (starts(ps, "<!")) {
			r = bad(ps, "DOCTYPE and declarations are not accepted");
		} else if (starts(ps, "</")) {
			r = end_tag(ps);
		} else {
			r = start_tag(ps);
		}
		if (r != 0)
			return r;
	}
	if (!ps->seen_root)
		return bad(ps, "no root element");
	if (ps->depth != 0)
		return bad(ps, "unexpected end of document inside an element");
	return 0;
}

int
iamxml_parse(struct iamxml **out, const char *text, size_t len,
    struct err *e)
{
	struct parser ps;
	struct iamxml *x;
	int r;

	*out = NULL;
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	memset(&ps, 0, sizeof(ps));
	ps.p = ps.start = text;
	ps.end = text + len;
	ps.x = x;
	ps.e = e;
	if ((r = parse(&ps)) != 0) {
		iamxml_free(x);
		return r;
	}
	*out = x;
	return 0;
}

void
iamxml_free(struct iamxml *x)
{
	size_t i;

	if (x == NULL)
		return;
	for (i = 0; i < x->n; i++) {
		free(x->v[i].path);
		buf_release_secret(&x->v[i].text);
	}
	free(x->v);
	free(x);
}

const char *
iamxml_get(const struct iamxml *x, const char *path)
{
	size_t i;

	for (i = 0; x != NULL && i < x->n; i++)
		if (strcmp(x->v[i].path, path) == 0)
			return buf_cstr(&x->v[i].text);
	return NULL;
}

int
iamxml_get_all(const struct iamxml *x, const char *path, struct strv *out)
{
	size_t i;

	for (i = 0; x != NULL && i < x->n; i++)
		if (strcmp(x->v[i].path, path) == 0 &&
		    strv_push(out, buf_cstr(&x->v[i].text)) != 0)
			return AG_ENOMEM;
	return 0;
}

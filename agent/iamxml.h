/*
 * iamxml.h: a small, strict XML reader for AWS Query API replies (IAM).
 *
 * IAM answers in XML like
 *	<CreateAccessKeyResponse xmlns="https://iam.amazonaws.com/doc/...">
 *	  <CreateAccessKeyResult><AccessKey>
 *	    <AccessKeyId>AKIA...</AccessKeyId> ...
 *	</CreateAccessKeyResponse>
 * and errors as <ErrorResponse><Error><Code/><Message/></Error>.
 * Registration needs a handful of text values out of these, so this
 * reader builds a flat list of elements (name, text, depth) and looks
 * values up by their path from the root, e.g.
 *	"CreateAccessKeyResponse/CreateAccessKeyResult/AccessKey/AccessKeyId".
 *
 *	struct iamxml *x = NULL;
 *	if (iamxml_parse(&x, body, len, &e) == 0)
 *		id = iamxml_get(x, "ErrorResponse/Error/Code");	// or NULL
 *	iamxml_free(x);		// zeroes all text: replies carry secrets
 *
 * Strict means: one root element, tags properly nested and closed,
 * attribute syntax checked (values dropped), only the five predefined
 * entities and numeric character references, comments, processing
 * instructions and CDATA allowed; a DOCTYPE (and with it any entity
 * definition, the door to XXE and "billion laughs") is refused, as is
 * non-blank text outside the root. Element names are compared without
 * their namespace prefix. Depth and element count are bounded.
 */
#ifndef CDAGENT_IAMXML_H
#define CDAGENT_IAMXML_H

#include <stddef.h>

struct err;
struct strv;
struct iamxml;

#define IAMXML_MAX_DEPTH 32
#define IAMXML_MAX_ELEMENTS 4096

/*
 * Parse len bytes of text. Returns 0, AG_EPROTO ("xml: line N: ...") for
 * anything malformed or over the limits, or AG_ENOMEM.
 */
int iamxml_parse(struct iamxml **out, const char *text, size_t len,
    struct err *e);

/* Frees the tree, zeroing every text first. NULL-safe. */
void iamxml_free(struct iamxml *x);

/*
 * The text (entities decoded, direct text and CDATA of the element
 * joined) of the first element whose path from the root is path, or
 * NULL when there is none. Borrowed from x.
 */
const char *iamxml_get(const struct iamxml *x, const char *path);

/*
 * Push the text of every element matching path onto out, in document
 * order (list members: ".../AccessKeyMetadata/member/AccessKeyId").
 * Returns 0 or AG_ENOMEM.
 */
int iamxml_get_all(const struct iamxml *x, const char *path,
    struct strv *out);

#endif

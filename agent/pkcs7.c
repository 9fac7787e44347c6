/*
 * pkcs7.c: CMS SignedData verification; see pkcs7.h.
 *
 * mbedTLS's pkcs7 module handles neither attached content nor signed
 * attributes, so the SignedData is walked here with a small BER reader of
 * our own: mbedtls_asn1_get_tag() knows no indefinite lengths, and
 * `openssl cms -stream` writes them. mbedTLS does the rest: X.509 parsing,
 * digests, mbedtls_pk_verify() and, when asked, chain verification.
 *
 * The reader never trusts a length: every TLV is checked against the end of
 * its container before it is used, indefinite lengths are resolved by
 * walking the children to the end-of-contents octets (at most P7_DEPTH
 * levels deep, so hostile nesting cannot exhaust the stack), and every
 * offset in a message counts from the start of the DER.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509.h>
#include <mbedtls/x509_crt.h>

#include "err.h"
#include "pkcs7.h"
#include "banned.h"

#define P7_DEPTH	32	/* nesting of indefinite-length values */
#define P7_MAX_CERTS	64
#define P7_MAX_SIGNERS	16

#define ENV_PFX "deployment specification envelope: "
#define SIG_PFX "deployment specification signature does not verify: "

/* 1.2.840.113549.1.9.3 contentType and .4 messageDigest (RFC 5652 §11) */
#define OID_CONTENT_TYPE	MBEDTLS_OID_PKCS9 "\x03"
#define OID_MESSAGE_DIGEST	MBEDTLS_OID_PKCS9 "\x04"

enum {
	T_INTEGER = 0x02,
	T_OCTETS = 0x04,
	T_OCTETS_C = 0x24,	/* constructed (chunked) OCTET STRING */
	T_OID = 0x06,
	T_SEQ = 0x30,
	T_SET = 0x31,
	T_CTX0_P = 0x80,	/* [0] IMPLICIT, primitive */
	T_CTX0 = 0xa0,		/* [0], constructed */
	T_CTX1 = 0xa1,
};

/* One parse: the DER being read and where errors go. */
struct p7 {
	const unsigned char *base;
	struct err *e;
};

/* One decoded TLV. */
struct tlv {
	unsigned char tag;		/* identifier octet (low tag form only) */
	const unsigned char *hdr;	/* identifier octet */
	const unsigned char *val;	/* contents */
	size_t len;			/* contents, end-of-contents excluded */
	size_t total;			/* everything, end-of-contents included */
	int indef;
};

/* The unread part of a constructed value. */
struct cur {
	const unsigned char *p, *end;
};

static int bad(struct p7 *x, const unsigned char *at, const char *fmt, ...)
    AG_PRINTF(3, 4);
static int nover(struct err *e, const char *fmt, ...) AG_PRINTF(2, 3);

static int
bad(struct p7 *x, const unsigned char *at, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return err_set(x->e, AG_EPROTO, ENV_PFX "%s at offset %zu", what,
	    (size_t)(at - x->base));
}

static int
nover(struct err *e, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return err_set(e, AG_EINVAL, SIG_PFX "%s", why);
}

/*
 * Decode the TLV at p, which must end by end. An indefinite length is
 * resolved by walking the children up to the end-of-contents octets.
 */
static int
tlv_parse(struct p7 *x, const unsigned char *p, const unsigned char *end,
    int depth, struct tlv *t)
{
	const unsigned char *q;
	struct tlv c;
	size_t n, i;
	int r;

	memset(t, 0, sizeof(*t));
	t->hdr = p;
	if (p >= end || end - p < 2)
		return bad(x, p, "truncated value");
	t->tag = *p++;
	if ((t->tag & 0x1f) == 0x1f)
		return bad(x, t->hdr, "unsupported high tag number");
	if (*p < 0x80) {
		t->len = *p++;
	} else if (*p == 0x80) {
		if (!(t->tag & MBEDTLS_ASN1_CONSTRUCTED))
			return bad(x, t->hdr, "indefinite length on a "
			    "primitive value");
		t->indef = 1;
		p++;
	} else {
		n = *p++ & 0x7f;
		if (n > sizeof(size_t) || n > (size_t)(end - p))
			return bad(x, t->hdr, "bad length");
		for (i = 0; i < n; i++) {
			if (t->len > (SIZE_MAX >> 8))
				return bad(x, t->hdr, "bad length");
			t->len = (t->len << 8) | *p++;
		}
	}
	t->val = p;
	if (!t->indef) {
		if (t->len > (size_t)(end - p))
			return bad(x, t->hdr, "length %zu past the end",
			    t->len);
		t->total = (size_t)(p - t->hdr) + t->len;
		return 0;
	}
	if (depth >= P7_DEPTH)
		return bad(x, t->hdr, "nesting too deep");
	for (q = p; end - q < 2 || q[0] != 0 || q[1] != 0; q += c.total)
		if ((r = tlv_parse(x, q, end, depth + 1, &c)) != 0)
			return r;
	t->len = (size_t)(q - p);
	t->total = (size_t)(q + 2 - t->hdr);
	return 0;
}

static void
cur_in(struct cur *c, const struct tlv *t)
{
	c->p = t->val;
	c->end = t->val + t->len;
}

/* The tag of the next value, or -1 at the end. */
static int
cur_peek(const struct cur *c)
{
	return c->p < c->end ? *c->p : -1;
}

/* Read the next value, which must be there and carry tag (0: any). */
static int
cur_get(struct p7 *x, struct cur *c, unsigned char tag, const char *what,
    struct tlv *t)
{
	int r;

	if (c->p >= c->end)
		return bad(x, c->p, "missing %s", what);
	if ((r = tlv_parse(x, c->p, c->end, 0, t)) != 0)
		return r;
	if (tag != 0 && t->tag != tag)
		return bad(x, t->hdr, "expected %s (tag 0x%02x), got tag 0x%02x",
		    what, tag, t->tag);
	c->p += t->total;
	return 0;
}

static int
cur_done(struct p7 *x, const struct cur *c, const char *what)
{
	if (c->p < c->end)
		return bad(x, c->p, "unexpected value after %s", what);
	return 0;
}

static int
oid_is(const struct tlv *t, const char *oid, size_t n)
{
	return t->tag == T_OID && t->len == n && memcmp(t->val, oid, n) == 0;
}

#define OID_IS(t, o) oid_is((t), (o), sizeof(o) - 1)

static void
oid_buf(const struct tlv *t, mbedtls_asn1_buf *b)
{
	b->tag = t->tag;
	b->len = t->len;
	b->p = (unsigned char *)(uintptr_t)t->val;
}

/*
 * Append the octets of an OCTET STRING, primitive or constructed (BER
 * chunks, possibly nested), to out at *n; out has room for t->len bytes,
 * which bounds every chunk it holds.
 */
static int
octets_collect(struct p7 *x, const struct tlv *t, int depth,
    unsigned char *out, size_t *n)
{
	struct cur c;
	struct tlv ch;
	int r;

	if (t->tag == T_OCTETS) {
		memcpy(out + *n, t->val, t->len);
		*n += t->len;
		return 0;
	}
	if (t->tag != T_OCTETS_C)
		return bad(x, t->hdr, "expected OCTET STRING chunk, got tag "
		    "0x%02x", t->tag);
	if (depth >= P7_DEPTH)
		return bad(x, t->hdr, "nesting too deep");
	cur_in(&c, t);
	while (cur_peek(&c) >= 0) {
		if ((r = cur_get(x, &c, 0, "OCTET STRING chunk", &ch)) != 0)
			return r;
		if ((r = octets_collect(x, &ch, depth + 1, out, n)) != 0)
			return r;
	}
	return 0;
}

/* The digest algorithms a signer may use. */
static int
md_from_alg(struct p7 *x, const struct tlv *alg, mbedtls_md_type_t *md)
{
	mbedtls_asn1_buf ob;
	struct cur c;
	struct tlv oid;
	int r;

	cur_in(&c, alg);
	if ((r = cur_get(x, &c, T_OID, "digest algorithm OID", &oid)) != 0)
		return r;
	oid_buf(&oid, &ob);
	if (mbedtls_oid_get_md_alg(&ob, md) != 0 ||
	    (*md != MBEDTLS_MD_SHA1 && *md != MBEDTLS_MD_SHA256 &&
	    *md != MBEDTLS_MD_SHA384 && *md != MBEDTLS_MD_SHA512))
		return bad(x, oid.hdr, "unsupported digest algorithm");
	return 0;
}

/*
 * The public key algorithm of a signatureAlgorithm: RSA PKCS#1 v1.5 or
 * ECDSA, named either bare (rsaEncryption, id-ecPublicKey) or with the
 * digest (sha256WithRSAEncryption, ecdsa-with-SHA256), which must then be
 * the signer's digest algorithm.
 */
static int
pk_from_alg(struct p7 *x, const struct tlv *alg, mbedtls_md_type_t md,
    mbedtls_pk_type_t *pk)
{
	mbedtls_asn1_buf ob;
	mbedtls_md_type_t smd;
	struct cur c;
	struct tlv oid;
	int r;

	cur_in(&c, alg);
	if ((r = cur_get(x, &c, T_OID, "signature algorithm OID", &oid)) != 0)
		return r;
	oid_buf(&oid, &ob);
	if (mbedtls_oid_get_sig_alg(&ob, &smd, pk) != 0) {
		if (mbedtls_oid_get_pk_alg(&ob, pk) != 0)
			return bad(x, oid.hdr, "unknown signature algorithm");
		smd = md;
		if (*pk == MBEDTLS_PK_ECKEY)
			*pk = MBEDTLS_PK_ECDSA;
	}
	if (*pk != MBEDTLS_PK_RSA && *pk != MBEDTLS_PK_ECDSA)
		return bad(x, oid.hdr, "unsupported signature algorithm");
	if (smd != md)
		return bad(x, oid.hdr, "signature algorithm digest differs "
		    "from the digest algorithm");
	return 0;
}

/*
 * Check the signed attributes against the content: contentType must be
 * id-data and messageDigest the content digest, each present once. Then
 * hash their DER as a SET OF (RFC 5652 §5.4: the [0] IMPLICIT tag is
 * replaced by the SET tag) into hash.
 */
static int
attrs_check(struct p7 *x, const struct tlv *attrs, mbedtls_md_type_t md,
    const unsigned char *digest, unsigned char *hash)
{
	const mbedtls_md_info_t *mi = mbedtls_md_info_from_type(md);
	size_t dlen = mbedtls_md_get_size(mi), hl, n;
	unsigned char *der = NULL;
	int have_ct = 0, have_md = 0, r;
	struct cur c, ac, vc;
	struct tlv a, type, vals, v;

	cur_in(&c, attrs);
	while (cur_peek(&c) >= 0) {
		if ((r = cur_get(x, &c, T_SEQ, "attribute", &a)) != 0)
			return r;
		cur_in(&ac, &a);
		if ((r = cur_get(x, &ac, T_OID, "attribute type", &type)) != 0 ||
		    (r = cur_get(x, &ac, T_SET, "attribute values",
		    &vals)) != 0 ||
		    (r = cur_done(x, &ac, "attribute values")) != 0)
			return r;
		if (OID_IS(&type, OID_CONTENT_TYPE)) {
			if (have_ct++)
				return bad(x, a.hdr, "duplicate contentType");
			cur_in(&vc, &vals);
			if ((r = cur_get(x, &vc, T_OID, "contentType value",
			    &v)) != 0 ||
			    (r = cur_done(x, &vc, "contentType value")) != 0)
				return r;
			if (!OID_IS(&v, MBEDTLS_OID_PKCS7_DATA))
				return nover(x->e, "signed contentType is not "
				    "id-data");
		} else if (OID_IS(&type, OID_MESSAGE_DIGEST)) {
			if (have_md++)
				return bad(x, a.hdr, "duplicate messageDigest");
			cur_in(&vc, &vals);
			if ((r = cur_get(x, &vc, T_OCTETS,
			    "messageDigest value", &v)) != 0 ||
			    (r = cur_done(x, &vc, "messageDigest value")) != 0)
				return r;
			if (v.len != dlen || memcmp(v.val, digest, dlen) != 0)
				return nover(x->e, "content digest does not "
				    "match the signed messageDigest");
		}
	}
	if (!have_ct || !have_md)
		return bad(x, attrs->hdr, "signed attributes lack %s",
		    have_md ? "contentType" : "messageDigest");

	/* An indefinite [0] is re-encoded with its definite length. */
	hl = attrs->indef ? 2 + sizeof(size_t) : (size_t)(attrs->val -
	    attrs->hdr);
	if ((der = malloc(hl + attrs->len)) == NULL)
		return err_set(x->e, AG_ENOMEM, "out of memory");
	if (attrs->indef) {
		if (attrs->len < 0x80) {
			der[1] = (unsigned char)attrs->len;
			hl = 2;
		} else {
			for (n = attrs->len, hl = 0; n > 0; n >>= 8)
				hl++;
			der[1] = (unsigned char)(0x80 | hl);
			for (n = attrs->len, r = (int)hl; r > 0; r--, n >>= 8)
				der[1 + r] = (unsigned char)(n & 0xff);
			hl += 2;
		}
	} else
		memcpy(der, attrs->hdr, hl);
	der[0] = T_SET;
	memcpy(der + hl, attrs->val, attrs->len);
	r = mbedtls_md(mi, der, hl + attrs->len, hash);
	free(der);
	if (r != 0)
		return err_set(x->e, AG_EINVAL, SIG_PFX "digest failed "
		    "(mbedtls -0x%04x)", (unsigned)-r);
	return 0;
}

/* Find the certificate a SignerIdentifier names. */
static mbedtls_x509_crt *
signer_find(mbedtls_x509_crt *certs, const struct tlv *issuer,
    const struct tlv *serial, const struct tlv *ski)
{
	mbedtls_x509_crt *c;

	for (c = certs; c != NULL && c->raw.p != NULL; c = c->next) {
		if (ski != NULL) {
			if (c->subject_key_id.len == ski->len &&
			    ski->len > 0 &&
			    memcmp(c->subject_key_id.p, ski->val,
			    ski->len) == 0)
				return c;
			continue;
		}
		if (c->issuer_raw.len == issuer->total &&
		    memcmp(c->issuer_raw.p, issuer->hdr, issuer->total) == 0 &&
		    c->serial.len == serial->len &&
		    memcmp(c->serial.p, serial->val, serial->len) == 0)
			return c;
	}
	return NULL;
}

/*
 * Verify signer against ca, offering every other embedded certificate as
 * an intermediate.
 */
static int
chain_check(struct p7 *x, mbedtls_x509_crt *signer, mbedtls_x509_crt *certs,
    mbedtls_x509_crt *ca, const char *ca_file)
{
	mbedtls_x509_crt chain, *c;
	char info[512], *nl;
	uint32_t flags = 0;
	int r;

	mbedtls_x509_crt_init(&chain);
	if ((r = mbedtls_x509_crt_parse_der(&chain, signer->raw.p,
	    signer->raw.len)) != 0) {
		r = err_set(x->e, AG_ENOMEM, "copy signer certificate: "
		    "mbedtls -0x%04x", (unsigned)-r);
		goto out;
	}
	for (c = certs; c != NULL && c->raw.p != NULL; c = c->next)
		if (c != signer)
			(void)mbedtls_x509_crt_parse_der(&chain, c->raw.p,
			    c->raw.len);
	if (mbedtls_x509_crt_verify(&chain, ca, NULL, NULL, &flags, NULL,
	    NULL) != 0) {
		info[0] = '\0';
		(void)mbedtls_x509_crt_verify_info(info, sizeof(info), "",
		    flags);
		while ((nl = strchr(info, '\n')) != NULL)
			*nl = nl[1] != '\0' ? ';' : '\0';
		r = nover(x->e, "signer certificate does not chain to %s: %s",
		    ca_file, info[0] != '\0' ? info : "unknown reason");
		goto out;
	}
	r = 0;
 out:
	mbedtls_x509_crt_free(&chain);
	return r;
}

/*
 * Verify one SignerInfo over content, and its certificate against ca when
 * there is one; dn receives the signer's subject.
 */
static int
signer_verify(struct p7 *x, const struct tlv *si, mbedtls_x509_crt *certs,
    const unsigned char *content, size_t clen, mbedtls_x509_crt *ca,
    const char *ca_file, char *dn, size_t dnsz)
{
	unsigned char digest[MBEDTLS_MD_MAX_SIZE], hash[MBEDTLS_MD_MAX_SIZE];
	const mbedtls_md_info_t *mi;
	mbedtls_md_type_t md;
	mbedtls_pk_type_t pk;
	mbedtls_x509_crt *crt;
	struct tlv ver, sid, issuer, serial, dalg, attrs, salg, sig, uattrs;
	struct cur c, sc;
	int has_attrs = 0, r;

	cur_in(&c, si);
	if ((r = cur_get(x, &c, T_INTEGER, "SignerInfo version", &ver)) != 0 ||
	    (r = cur_get(x, &c, 0, "signer identifier", &sid)) != 0)
		return r;
	if (sid.tag == T_SEQ) {
		cur_in(&sc, &sid);
		if ((r = cur_get(x, &sc, T_SEQ, "issuer", &issuer)) != 0 ||
		    (r = cur_get(x, &sc, T_INTEGER, "serial number",
		    &serial)) != 0 ||
		    (r = cur_done(x, &sc, "serial number")) != 0)
			return r;
		crt = signer_find(certs, &issuer, &serial, NULL);
	} else if (sid.tag == T_CTX0_P)
		crt = signer_find(certs, NULL, NULL, &sid);
	else
		return bad(x, sid.hdr, "unsupported signer identifier");
	if ((r = cur_get(x, &c, T_SEQ, "digest algorithm", &dalg)) != 0 ||
	    (r = md_from_alg(x, &dalg, &md)) != 0)
		return r;
	if (cur_peek(&c) == T_CTX0) {
		if ((r = cur_get(x, &c, T_CTX0, "signed attributes",
		    &attrs)) != 0)
			return r;
		has_attrs = 1;
	}
	if ((r = cur_get(x, &c, T_SEQ, "signature algorithm", &salg)) != 0 ||
	    (r = pk_from_alg(x, &salg, md, &pk)) != 0 ||
	    (r = cur_get(x, &c, T_OCTETS, "signature", &sig)) != 0)
		return r;
	if (cur_peek(&c) == T_CTX1 &&
	    (r = cur_get(x, &c, T_CTX1, "unsigned attributes",
	    &uattrs)) != 0)
		return r;
	if ((r = cur_done(x, &c, "SignerInfo")) != 0)
		return r;
	if (crt == NULL)
		return nover(x->e, "signer certificate not among the embedded "
		    "certificates");

	mi = mbedtls_md_info_from_type(md);
	if ((r = mbedtls_md(mi, content, clen, digest)) != 0)
		return nover(x->e, "digest failed (mbedtls -0x%04x)",
		    (unsigned)-r);
	if (has_attrs) {
		if ((r = attrs_check(x, &attrs, md, digest, hash)) != 0)
			return r;
	} else
		memcpy(hash, digest, mbedtls_md_get_size(mi));

	if (mbedtls_x509_dn_gets(dn, dnsz, &crt->subject) < 0)
		dn[0] = '\0';
	if (!mbedtls_pk_can_do(&crt->pk, pk))
		return nover(x->e, "key of signer %s does not fit the "
		    "signature algorithm", dn);
	if ((r = mbedtls_pk_verify(&crt->pk, md, hash,
	    mbedtls_md_get_size(mi), sig.val, sig.len)) != 0)
		return nover(x->e, "bad signature by %s (mbedtls -0x%04x)", dn,
		    (unsigned)-r);
	if (ca != NULL)
		return chain_check(x, crt, certs, ca, ca_file);
	return 0;
}

/* Turn PEM armour into DER in pem; DER input is left alone. */
static int
pem_unwrap(mbedtls_pem_context *pem, const unsigned char *in, size_t len,
    const unsigned char **der, size_t *der_len, struct err *e)
{
	static const char *const labels[] = { "PKCS7", "CMS" };
	char head[32], foot[32];
	unsigned char *z = NULL;
	size_t i, used;
	int r = 0;

	for (i = 0; i < len && (in[i] == ' ' || in[i] == '\t' ||
	    in[i] == '\r' || in[i] == '\n'); i++)
		;
	if (len - i < 10 || memcmp(in + i, "-----BEGIN", 10) != 0) {
		*der = in;
		*der_len = len;
		return 0;
	}
	/* mbedtls_pem_read_buffer() wants a C string. */
	if ((z = malloc(len + 1)) == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	memcpy(z, in, len);
	z[len] = '\0';
	for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		snprintf(head, sizeof(head), "-----BEGIN %s-----", labels[i]);
		snprintf(foot, sizeof(foot), "-----END %s-----", labels[i]);
		mbedtls_pem_free(pem);
		mbedtls_pem_init(pem);
		r = mbedtls_pem_read_buffer(pem, head, foot, z, NULL, 0, &used);
		if (r != MBEDTLS_ERR_PEM_NO_HEADER_FOOTER_PRESENT)
			break;
	}
	free(z);
	if (r == MBEDTLS_ERR_PEM_NO_HEADER_FOOTER_PRESENT)
		return err_set(e, AG_EPROTO, ENV_PFX "PEM label is not PKCS7 "
		    "or CMS at offset 0");
	if (r != 0)
		return err_set(e, AG_EPROTO, ENV_PFX "bad PEM armour "
		    "(mbedtls -0x%04x) at offset 0", (unsigned)-r);
	*der = mbedtls_pem_get_buffer(pem, der_len);
	return 0;
}

int
pkcs7_verify(const void *env, size_t len, const char *ca_file,
    char **content, size_t *content_len, char **subject, struct err *e)
{
	mbedtls_pem_context pem;
	mbedtls_x509_crt certs, ca, *pca = NULL;
	const unsigned char *der = NULL;
	unsigned char *out = NULL;
	size_t der_len = 0, n = 0, ncerts = 0, nsigners = 0;
	struct p7 x;
	struct tlv ci, type, exp, sd, ver, dalgs, eci, etype, ectx, eoct, ce,
	    crls, sis, si;
	struct cur c, cc;
	char dn[1024], *first = NULL;
	int r;

	*content = NULL;
	*content_len = 0;
	if (subject != NULL)
		*subject = NULL;
	mbedtls_pem_init(&pem);
	mbedtls_x509_crt_init(&certs);
	mbedtls_x509_crt_init(&ca);
	if (env == NULL || len == 0) {
		r = err_set(e, AG_EPROTO, ENV_PFX "empty at offset 0");
		goto out;
	}
	if ((r = pem_unwrap(&pem, env, len, &der, &der_len, e)) != 0)
		goto out;
	if (der == NULL || der_len == 0) {
		r = err_set(e, AG_EPROTO, ENV_PFX "empty PEM at offset 0");
		goto out;
	}
	x.base = der;
	x.e = e;

	/* ContentInfo { contentType signedData, [0] EXPLICIT SignedData } */
	c.p = der;
	c.end = der + der_len;
	if ((r = cur_get(&x, &c, T_SEQ, "ContentInfo", &ci)) != 0 ||
	    (r = cur_done(&x, &c, "ContentInfo")) != 0)
		goto out;
	cur_in(&c, &ci);
	if ((r = cur_get(&x, &c, T_OID, "content type", &type)) != 0)
		goto out;
	if (!OID_IS(&type, MBEDTLS_OID_PKCS7_SIGNED_DATA)) {
		r = bad(&x, type.hdr, "content type is not signedData");
		goto out;
	}
	if ((r = cur_get(&x, &c, T_CTX0, "[0] content", &exp)) != 0 ||
	    (r = cur_done(&x, &c, "content")) != 0)
		goto out;
	cur_in(&c, &exp);
	if ((r = cur_get(&x, &c, T_SEQ, "SignedData", &sd)) != 0 ||
	    (r = cur_done(&x, &c, "SignedData")) != 0)
		goto out;

	/* SignedData { version, digestAlgorithms, encapContentInfo, ... } */
	cur_in(&c, &sd);
	if ((r = cur_get(&x, &c, T_INTEGER, "SignedData version", &ver)) != 0 ||
	    (r = cur_get(&x, &c, T_SET, "digestAlgorithms", &dalgs)) != 0 ||
	    (r = cur_get(&x, &c, T_SEQ, "encapContentInfo", &eci)) != 0)
		goto out;
	cur_in(&cc, &eci);
	if ((r = cur_get(&x, &cc, T_OID, "eContentType", &etype)) != 0)
		goto out;
	if (!OID_IS(&etype, MBEDTLS_OID_PKCS7_DATA)) {
		r = bad(&x, etype.hdr, "eContentType is not id-data");
		goto out;
	}
	if (cur_peek(&cc) < 0) {
		r = bad(&x, cc.p, "no attached content (detached signature)");
		goto out;
	}
	if ((r = cur_get(&x, &cc, T_CTX0, "[0] eContent", &ectx)) != 0 ||
	    (r = cur_done(&x, &cc, "eContent")) != 0)
		goto out;
	cur_in(&cc, &ectx);
	if ((r = cur_get(&x, &cc, 0, "eContent OCTET STRING", &eoct)) != 0 ||
	    (r = cur_done(&x, &cc, "eContent OCTET STRING")) != 0)
		goto out;
	if ((out = malloc(eoct.len + 1)) == NULL) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = octets_collect(&x, &eoct, 0, out, &n)) != 0)
		goto out;
	out[n] = '\0';

	/* [0] IMPLICIT certificates, [1] IMPLICIT crls, both optional */
	if (cur_peek(&c) == T_CTX0) {
		if ((r = cur_get(&x, &c, T_CTX0, "certificates", &ce)) != 0)
			goto out;
		cur_in(&cc, &ce);
		while (cur_peek(&cc) >= 0) {
			struct tlv crt;

			if ((r = cur_get(&x, &cc, 0, "certificate", &crt)) != 0)
				goto out;
			if (crt.tag != T_SEQ || crt.indef)
				continue;	/* other CertificateChoices */
			if (++ncerts > P7_MAX_CERTS) {
				r = bad(&x, crt.hdr, "too many certificates");
				goto out;
			}
			/* an unparsable one is skipped: it may be unused */
			(void)mbedtls_x509_crt_parse_der(&certs, crt.hdr,
			    crt.total);
		}
	}
	if (cur_peek(&c) == T_CTX1 &&
	    (r = cur_get(&x, &c, T_CTX1, "crls", &crls)) != 0)
		goto out;
	if ((r = cur_get(&x, &c, T_SET, "signerInfos", &sis)) != 0 ||
	    (r = cur_done(&x, &c, "signerInfos")) != 0)
		goto out;

	if (ca_file != NULL) {
		r = mbedtls_x509_crt_parse_file(&ca, ca_file);
		if (r == MBEDTLS_ERR_PK_FILE_IO_ERROR) {
			r = err_set(e, AG_EIO, "read CA file %s: cannot read "
			    "it", ca_file);
			goto out;
		}
		if (r < 0) {
			r = err_set(e, AG_EIO, "read CA file %s: mbedtls "
			    "-0x%04x", ca_file, (unsigned)-r);
			goto out;
		}
		if (ca.raw.p == NULL) {
			r = err_set(e, AG_EIO, "read CA file %s: no usable "
			    "certificate", ca_file);
			goto out;
		}
		pca = &ca;
	}

	/* Every SignerInfo must verify, and there must be one. */
	cur_in(&cc, &sis);
	while (cur_peek(&cc) >= 0) {
		if ((r = cur_get(&x, &cc, T_SEQ, "SignerInfo", &si)) != 0)
			goto out;
		if (++nsigners > P7_MAX_SIGNERS) {
			r = bad(&x, si.hdr, "too many signers");
			goto out;
		}
		if ((r = signer_verify(&x, &si, &certs, out, n, pca, ca_file,
		    dn, sizeof(dn))) != 0)
			goto out;
		if (first == NULL && subject != NULL &&
		    (first = strdup(dn)) == NULL) {
			r = err_set(e, AG_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (nsigners == 0) {
		r = bad(&x, sis.hdr, "no SignerInfo");
		goto out;
	}

	*content = (char *)out;
	*content_len = n;
	out = NULL;	/* transferred */
	if (subject != NULL) {
		*subject = first;
		first = NULL;	/* transferred */
	}
	r = 0;
 out:
	free(out);
	free(first);
	mbedtls_x509_crt_free(&ca);
	mbedtls_x509_crt_free(&certs);
	mbedtls_pem_free(&pem);
	return r;
}

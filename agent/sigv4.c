/*
 * sigv4.c: AWS Signature Version 4; see sigv4.h.
 *
 * Everything is built in bounded bufs; the derived keys live on the stack
 * and are wiped before returning. The rules follow botocore.auth (SigV4Auth
 * and S3SigV4Auth), which is also the test oracle.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mbedtls/md.h>
#include <mbedtls/sha256.h>

#include "buf.h"
#include "err.h"
#include "sigv4.h"
#include "util.h"
#include "banned.h"

#define SIGV4_BUF_MAX ((size_t)1 << 20)
#define SIGV4_ALGO "AWS4-HMAC-SHA256"

static const char hexdig[] = "0123456789abcdef";

void
sigv4_out_init(struct sigv4_out *o)
{
	memset(o, 0, sizeof(*o));
	buf_init(&o->authorization, 64 * 1024);
	buf_init(&o->canonical, SIGV4_BUF_MAX);
	buf_init(&o->signed_headers, 64 * 1024);
}

void
sigv4_out_release(struct sigv4_out *o)
{
	buf_release_secret(&o->authorization);
	buf_release(&o->canonical);
	buf_release(&o->signed_headers);
}

static void
hex_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hexdig[in[i] >> 4];
		out[2 * i + 1] = hexdig[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void
sigv4_sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char md[32];

	mbedtls_sha256(data, n, md, 0);
	hex_encode(md, sizeof(md), out);
}

static int
hmac(const unsigned char *key, size_t klen, const void *msg, size_t mlen,
    unsigned char out[32])
{
	return mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
	    key, klen, msg, mlen, out) == 0 ? 0 : AG_EINVAL;
}

static int
unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
	    c == '~';
}

int
sigv4_uri_encode(struct buf *b, const char *s, size_t n, int keep_slash)
{
	static const char up[] = "0123456789ABCDEF";
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[3];

		if (unreserved(c) || (keep_slash && c == '/')) {
			r = buf_addch(b, (char)c);
		} else {
			esc[0] = '%';
			esc[1] = up[c >> 4];
			esc[2] = up[c & 15];
			r = buf_add(b, esc, 3);
		}
		if (r != 0)
			return r;
	}
	return 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode %XX in s[0..n) into b; a malformed escape stays literal. */
static int
uri_decode(struct buf *b, const char *s, size_t n)
{
	size_t i;
	int r, hi, lo;

	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n &&
		    (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			if ((r = buf_addch(b, (char)(hi << 4 | lo))) != 0)
				return r;
			i += 2;
		} else if ((r = buf_addch(b, s[i])) != 0) {
			return r;
		}
	}
	return 0;
}

/*
 * botocore's remove_dot_segments(): drop "", "." and resolve ".."; keep
 * a leading '/' and a trailing '/' (when anything is left).
 */
static int
normalize_path(struct buf *out, const char *path)
{
	size_t plen = strlen(path), *segs = NULL, *lens = NULL, nseg = 0, i;
	const char *p = path;
	int r = 0;

	if (plen == 0)
		return buf_addch(out, '/');
	if ((segs = calloc(plen + 1, sizeof(*segs))) == NULL ||
	    (lens = calloc(plen + 1, sizeof(*lens))) == NULL) {
		r = AG_ENOMEM;
		goto out;
	}
	while (*p != '\0') {
		size_t l = strcspn(p, "/");

		if (l == 0 || (l == 1 && p[0] == '.')) {
			/* skip */
		} else if (l == 2 && p[0] == '.' && p[1] == '.') {
			if (nseg > 0)
				nseg--;
		} else {
			segs[nseg] = (size_t)(p - path);
			lens[nseg++] = l;
		}
		p += l;
		if (*p == '/')
			p++;
	}
	if (path[0] == '/' && (r = buf_addch(out, '/')) != 0)
		goto out;
	for (i = 0; i < nseg; i++) {
		if ((i > 0 && (r = buf_addch(out, '/')) != 0) ||
		    (r = buf_add(out, path + segs[i], lens[i])) != 0)
			goto out;
	}
	if (path[plen - 1] == '/' && nseg > 0)
		r = buf_addch(out, '/');
 out:
	free(segs);
	free(lens);
	return r;
}

static int
canonical_uri(struct buf *out, const char *path, int s3)
{
	struct buf norm = BUF_INIT(SIGV4_BUF_MAX);
	int r;

	if (path == NULL || *path == '\0')
		return buf_addch(out, '/');
	if (s3)
		return buf_addstr(out, path);
	if ((r = normalize_path(&norm, path)) == 0)
		r = sigv4_uri_encode(out, norm.ptr, norm.len, 1);
	buf_release(&norm);
	return r;
}

struct kv {
	char *k, *v;
	size_t idx;
};

static int
kv_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	int c;

	if ((c = strcmp(x->k, y->k)) != 0)
		return c;
	if ((c = strcmp(x->v, y->v)) != 0)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void
kv_free(struct kv *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(v[i].k);
		free(v[i].v);
	}
	free(v);
}

/* Decode then strictly re-encode s[0..n) into a new heap string. */
static char *
reencode(const char *s, size_t n)
{
	struct buf dec = BUF_INIT(SIGV4_BUF_MAX), enc = BUF_INIT(SIGV4_BUF_MAX);
	char *res = NULL;

	if (uri_decode(&dec, s, n) == 0 &&
	    sigv4_uri_encode(&enc, buf_cstr(&dec), dec.len, 0) == 0)
		res = buf_detach(&enc);
	buf_release(&dec);
	buf_release(&enc);
	return res;
}

static int
canonical_query(struct buf *out, const char *q)
{
	struct kv *v = NULL;
	size_t n = 0, cap, i;
	const char *p;
	int r = 0;

	if (q == NULL || *q == '\0')
		return 0;
	for (cap = 1, p = q; *p != '\0'; p++)
		cap += *p == '&';
	if ((v = calloc(cap, sizeof(*v))) == NULL)
		return AG_ENOMEM;
	for (p = q; ; ) {
		size_t l = strcspn(p, "&"), kl;
		const char *eq = memchr(p, '=', l);

		if (l > 0) {
			kl = eq != NULL ? (size_t)(eq - p) : l;
			v[n].idx = n;
			v[n].k = reencode(p, kl);
			v[n].v = eq != NULL ? reencode(eq + 1, l - kl - 1) :
			    util_strdup("");
			n++;
			if (v[n - 1].k == NULL || v[n - 1].v == NULL) {
				r = AG_ENOMEM;
				goto out;
			}
		}
		if (p[l] == '\0')
			break;
		p += l + 1;
	}
	qsort(v, n, sizeof(*v), kv_cmp);
	for (i = 0; i < n; i++) {
		if ((r = buf_addf(out, "%s%s=%s", i > 0 ? "&" : "", v[i].k,
		    v[i].v)) != 0)
			goto out;
	}
 out:
	kv_free(v, n);
	return r;
}

static int
hdr_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	int c;

	if ((c = strcmp(x->k, y->k)) != 0)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	    c == '\f';
}

/* Lowercased name and trimmed, blank-collapsed value (botocore split()). */
static int
hdr_push(struct kv *v, size_t *n, const char *name, const char *value)
{
	struct buf b = BUF_INIT(SIGV4_BUF_MAX);
	const char *p;
	char *k;
	size_t i;

	if ((k = util_strdup(name)) == NULL)
		return AG_ENOMEM;
	for (i = 0; k[i] != '\0'; i++)
		k[i] = (char)tolower((unsigned char)k[i]);
	for (p = value; *p != '\0'; ) {
		size_t l;

		while (is_blank(*p))
			p++;
		if (*p == '\0')
			break;
		for (l = 0; p[l] != '\0' && !is_blank(p[l]); l++)
			;
		if ((b.len > 0 && buf_addch(&b, ' ') != 0) ||
		    buf_add(&b, p, l) != 0) {
			buf_release(&b);
			free(k);
			return AG_ENOMEM;
		}
		p += l;
	}
	v[*n].k = k;
	v[*n].v = buf_detach(&b);
	v[*n].idx = *n;
	(*n)++;
	return v[*n - 1].v == NULL ? AG_ENOMEM : 0;
}

static int
reserved_header(const char *name)
{
	return strcasecmp(name, "host") == 0 ||
	    strcasecmp(name, "x-amz-date") == 0 ||
	    strcasecmp(name, "x-amz-content-sha256") == 0 ||
	    strcasecmp(name, "x-amz-security-token") == 0 ||
	    strcasecmp(name, "authorization") == 0;
}

static int
bad_header_text(const char *s, int name)
{
	for (; *s != '\0'; s++)
		if (*s == '\r' || *s == '\n' || (name && (*s == ':' ||
		    *s == ' ')))
			return 1;
	return 0;
}

int
sigv4_sign(const struct sigv4_req *rq, const struct sigv4_creds *c,
    int64_t now, struct sigv4_out *o, struct err *e)
{
	struct buf sts = BUF_INIT(SIGV4_BUF_MAX), key = BUF_INIT(4096);
	struct kv *h = NULL;
	size_t nh = 0, i;
	unsigned char k[32], sig[32];
	char date[9], scope_hash[65], sighex[65];
	struct tm tm;
	time_t t = (time_t)now;
	int r = AG_ENOMEM;

	if (rq->method == NULL || rq->host == NULL || rq->region == NULL ||
	    rq->service == NULL || c == NULL || c->access_key_id == NULL ||
	    c->secret_access_key == NULL || *c->access_key_id == '\0' ||
	    *c->secret_access_key == '\0')
		return err_set(e, AG_EINVAL, "sigv4: missing request field or "
		    "credentials");
	for (i = 0; i < rq->nheaders; i++) {
		if (reserved_header(rq->headers[i].name))
			return err_set(e, AG_EINVAL, "sigv4: header %s is "
			    "added by the signer", rq->headers[i].name);
		if (bad_header_text(rq->headers[i].name, 1) ||
		    bad_header_text(rq->headers[i].value, 0))
			return err_set(e, AG_EINVAL, "sigv4: invalid header "
			    "%s", rq->headers[i].name);
	}
	if (gmtime_r(&t, &tm) == NULL)
		return err_set(e, AG_EINVAL, "sigv4: bad time");
	strftime(o->amz_date, sizeof(o->amz_date), "%Y%m%dT%H%M%SZ", &tm);
	memcpy(date, o->amz_date, 8);
	date[8] = '\0';
	if (rq->payload_hash != NULL)
		snprintf(o->content_sha256, sizeof(o->content_sha256), "%s",
		    rq->payload_hash);
	else
		sigv4_sha256_hex(rq->body != NULL ? rq->body : "",
		    rq->body_len, o->content_sha256);

	buf_reset(&o->canonical);
	buf_reset(&o->signed_headers);
	buf_reset(&o->authorization);
	if ((h = calloc(rq->nheaders + 4, sizeof(*h))) == NULL)
		goto fail;
	for (i = 0; i < rq->nheaders; i++)
		if (hdr_push(h, &nh, rq->headers[i].name,
		    rq->headers[i].value) != 0)
			goto fail;
	if (hdr_push(h, &nh, "host", rq->host) != 0 ||
	    hdr_push(h, &nh, "x-amz-date", o->amz_date) != 0)
		goto fail;
	if ((rq->flags & SIGV4_CONTENT_SHA256) &&
	    hdr_push(h, &nh, "x-amz-content-sha256", o->content_sha256) != 0)
		goto fail;
	if (c->session_token != NULL && *c->session_token != '\0' &&
	    !(rq->flags & SIGV4_TOKEN_UNSIGNED) &&
	    hdr_push(h, &nh, "x-amz-security-token", c->session_token) != 0)
		goto fail;
	qsort(h, nh, sizeof(*h), hdr_cmp);

	/* method, URI, query */
	if (buf_addf(&o->canonical, "%s\n", rq->method) != 0 ||
	    canonical_uri(&o->canonical, rq->path,
	    (rq->flags & SIGV4_S3) != 0) != 0 ||
	    buf_addch(&o->canonical, '\n') != 0 ||
	    canonical_query(&o->canonical, rq->query) != 0 ||
	    buf_addch(&o->canonical, '\n') != 0)
		goto fail;
	/* headers, duplicates joined with ',' */
	for (i = 0; i < nh; i++) {
		int dup = i > 0 && strcmp(h[i].k, h[i - 1].k) == 0;

		if (dup) {
			buf_truncate(&o->canonical, o->canonical.len - 1);
			if (buf_addf(&o->canonical, ",%s\n", h[i].v) != 0)
				goto fail;
			continue;
		}
		if (buf_addf(&o->canonical, "%s:%s\n", h[i].k, h[i].v) != 0 ||
		    buf_addf(&o->signed_headers, "%s%s",
		    o->signed_headers.len > 0 ? ";" : "", h[i].k) != 0)
			goto fail;
	}
	if (buf_addf(&o->canonical, "\n%s\n%s", buf_cstr(&o->signed_headers),
	    o->content_sha256) != 0)
		goto fail;

	sigv4_sha256_hex(o->canonical.ptr, o->canonical.len, scope_hash);
	if (buf_addf(&sts, SIGV4_ALGO "\n%s\n%s/%s/%s/aws4_request\n%s",
	    o->amz_date, date, rq->region, rq->service, scope_hash) != 0)
		goto fail;

	/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region),
	 * service), "aws4_request") */
	if (buf_addf(&key, "AWS4%s", c->secret_access_key) != 0)
		goto fail;
	if (hmac((unsigned char *)key.ptr, key.len, date, strlen(date),
	    k) != 0 ||
	    hmac(k, 32, rq->region, strlen(rq->region), k) != 0 ||
	    hmac(k, 32, rq->service, strlen(rq->service), k) != 0 ||
	    hmac(k, 32, "aws4_request", 12, k) != 0 ||
	    hmac(k, 32, sts.ptr, sts.len, sig) != 0) {
		r = err_set(e, AG_EINVAL, "sigv4: hmac failed");
		goto out;
	}
	hex_encode(sig, 32, sighex);
	if (buf_addf(&o->authorization, SIGV4_ALGO " Credential=%s/%s/%s/%s/"
	    "aws4_request, SignedHeaders=%s, Signature=%s", c->access_key_id,
	    date, rq->region, rq->service, buf_cstr(&o->signed_headers),
	    sighex) != 0)
		goto fail;
	r = 0;
	goto out;
 fail:
	r = err_set(e, AG_ENOMEM, "sigv4: out of memory");
 out:
	util_wipe(k, sizeof(k));
	util_wipe(sig, sizeof(sig));
	util_wipe(sighex, sizeof(sighex));
	buf_release_secret(&key);
	buf_release(&sts);
	kv_free(h, nh);
	return r;
}

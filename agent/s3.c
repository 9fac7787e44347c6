/*
 * s3.c: S3 GetObject to a file with resume; see s3.h.
 *
 * The retry loop for a GET lives here rather than in http.c because only
 * this layer knows how to continue a body: it re-signs a Range request
 * from the bytes on disk. http.c still retries everything that failed
 * before the first body byte.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mbedtls/md5.h>
#include <mbedtls/sha256.h>

#include "buf.h"
#include "creds.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "platform.h"
#include "s3.h"
#include "sigv4.h"
#include "util.h"
#include "banned.h"

#define EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MAX_RESTARTS 3

/* ---- names and URLs ------------------------------------------------------ */

static int
dns_bucket(const char *b)
{
	size_t n = strlen(b), i;

	if (n < 3 || n > 63 || !isalnum((unsigned char)b[0]) ||
	    !isalnum((unsigned char)b[n - 1]))
		return 0;
	for (i = 0; i < n; i++)
		if (!(islower((unsigned char)b[i]) ||
		    isdigit((unsigned char)b[i]) || b[i] == '-'))
			return 0;	/* dots too: they break TLS wildcards */
	return 1;
}

static int
is_ip_host(const char *h)
{
	if (*h == '[')
		return 1;
	for (; *h != '\0'; h++)
		if (!isdigit((unsigned char)*h) && *h != '.')
			return 0;
	return 1;
}

int
s3_object_url(const struct s3_fetch_req *rq, struct buf *url,
    struct buf *host, struct buf *path, struct buf *query, struct err *e)
{
	const char *scheme = "https", *ep = rq->endpoint, *hp, *slash;
	struct buf base = BUF_INIT(1024);
	int path_style = rq->force_path_style || !dns_bucket(rq->bucket);
	int r = AG_ENOMEM;

	buf_reset(url);
	buf_reset(host);
	buf_reset(path);
	buf_reset(query);
	if (rq->bucket == NULL || *rq->bucket == '\0' || rq->key == NULL ||
	    *rq->key == '\0')
		return err_set(e, AG_EINVAL, "s3: bucket and key are required");
	if (ep != NULL && *ep != '\0') {
		if (strncasecmp(ep, "http://", 7) == 0) {
			scheme = "http";
			hp = ep + 7;
		} else if (strncasecmp(ep, "https://", 8) == 0) {
			hp = ep + 8;
		} else {
			hp = ep;
		}
		slash = strchr(hp, '/');
		if (buf_add(&base, hp, slash != NULL ? (size_t)(slash - hp) :
		    strlen(hp)) != 0)
			goto out;
		/* explicit port or IP literal: the bucket cannot be a label */
		if (strchr(buf_cstr(&base), ':') != NULL ||
		    is_ip_host(buf_cstr(&base)))
			path_style = 1;
	} else {
		if (rq->region == NULL || *rq->region == '\0')
			return err_set(e, AG_EINVAL, "s3: no region");
		if (rq->use_fips)
			r = buf_addf(&base, "s3-fips.%s.amazonaws.com",
			    rq->region);
		else if (strcmp(rq->region, "eusc-de-east-1") == 0)
			r = buf_addstr(&base, "s3.eusc-de-east-1.amazonaws.eu");
		else if (strncmp(rq->region, "cn-", 3) == 0)
			r = buf_addf(&base, "s3.%s.amazonaws.com.cn",
			    rq->region);
		else
			r = buf_addf(&base, "s3.%s.amazonaws.com", rq->region);
		if (r != 0)
			goto out;
	}
	if (path_style) {
		if (buf_addstr(host, buf_cstr(&base)) != 0 ||
		    buf_addch(path, '/') != 0 ||
		    sigv4_uri_encode(path, rq->bucket, strlen(rq->bucket),
		    0) != 0)
			goto out;
	} else if (buf_addf(host, "%s.%s", rq->bucket, buf_cstr(&base)) !=
	    0) {
		goto out;
	}
	if (buf_addch(path, '/') != 0 ||
	    sigv4_uri_encode(path, rq->key, strlen(rq->key), 1) != 0)
		goto out;
	if (rq->version != NULL && *rq->version != '\0' &&
	    (buf_addstr(query, "versionId=") != 0 ||
	    sigv4_uri_encode(query, rq->version, strlen(rq->version), 0) != 0))
		goto out;
	if (buf_addf(url, "%s://%s%s%s%s", scheme, buf_cstr(host),
	    buf_cstr(path), query->len > 0 ? "?" : "", buf_cstr(query)) != 0)
		goto out;
	r = 0;
 out:
	buf_release(&base);
	if (r != 0)
		return err_set(e, AG_ENOMEM, "s3: URL too long");
	return 0;
}

/* ---- errors ------------------------------------------------------------------ */

static void
xml_tag(const char *xml, const char *tag, char *out, size_t outsz)
{
	char open[64], close[64];
	const char *a, *b;
	size_t n;

	out[0] = '\0';
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	if ((a = strstr(xml, open)) == NULL)
		return;
	a += strlen(open);
	if ((b = strstr(a, close)) == NULL)
		return;
	n = (size_t)(b - a);
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, a, n);
	out[n] = '\0';
}

void
s3_parse_error(const char *xml, char *code, size_t codesz, char *msg,
    size_t msgsz)
{
	xml_tag(xml, "Code", code, codesz);
	xml_tag(xml, "Message", msg, msgsz);
}

int
s3_etag_is_multipart(const char *s)
{
	const char *dash;

	if (*s == '"')
		s++;
	if ((dash = strchr(s, '-')) == NULL || dash == s)
		return 0;
	for (; s < dash; s++)
		if (!isxdigit((unsigned char)*s))
			return 0;
	if (!isdigit((unsigned char)dash[1]))
		return 0;
	for (s = dash + 1; *s != '\0' && *s != '"'; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

static void
strip_quotes(char *dst, size_t dstsz, const char *s)
{
	size_t n = 0;

	for (; *s != '\0' && n + 1 < dstsz; s++)
		if (*s != '"')
			dst[n++] = *s;
	dst[n] = '\0';
}

static int
s3_error(const struct s3_fetch_req *rq, const struct http_resp *resp,
    struct err *e)
{
	char code[128], msg[512], ver[300] = "", hint[256] = "";
	int ag = AG_ENET;

	s3_parse_error(buf_cstr(&resp->body), code, sizeof(code), msg,
	    sizeof(msg));
	if (code[0] == '\0') {
		/* HEAD answers have no body: name the status */
		snprintf(code, sizeof(code), "%s", resp->status == 404 ?
		    "NotFound" : resp->status == 403 ? "Forbidden" :
		    resp->status == 301 ? "PermanentRedirect" : "Error");
	}
	if (rq->version != NULL && *rq->version != '\0')
		snprintf(ver, sizeof(ver), " (version %s)", rq->version);
	if (resp->bucket_region[0] != '\0' && rq->region != NULL &&
	    strcmp(resp->bucket_region, rq->region) != 0)
		snprintf(hint, sizeof(hint), "; the bucket is in %s but the "
		    "agent signs for %s (the bucket must be in the instance's "
		    "region)", resp->bucket_region, rq->region);
	else if (strcmp(code, "SignatureDoesNotMatch") == 0)
		snprintf(hint, sizeof(hint), "; check the secret key and the "
		    "host clock");
	if (resp->status == 404 || resp->status == 403 || resp->status == 400 ||
	    resp->status == 301)
		ag = AG_EINVAL;
	return err_set(e, ag, "s3://%s/%s%s: %s%s%s (HTTP %ld)%s",
	    rq->bucket, rq->key, ver, code, msg[0] ? ": " : "", msg,
	    resp->status, hint);
}

/* ---- signing ------------------------------------------------------------------ */

/*
 * Build the header list for one request: Host, signer headers, extra
 * ("Name: value" pairs). hdrs holds the strings, v the pointers.
 */
static int
sign_into(const struct s3_fetch_req *rq, const char *method,
    const struct buf *host, const struct buf *path, const struct buf *query,
    const struct sigv4_header *extra, size_t nextra, const void *body,
    size_t body_len, struct strv *hv, struct err *e)
{
	struct sigv4_creds sc;
	struct sigv4_req sr;
	struct sigv4_out o;
	size_t i;
	int r;

	if (rq->creds == NULL || rq->creds->access_key_id == NULL)
		return err_set(e, AG_EINVAL, "s3: no credentials");
	sc.access_key_id = rq->creds->access_key_id;
	sc.secret_access_key = rq->creds->secret_access_key;
	sc.session_token = rq->creds->session_token;
	memset(&sr, 0, sizeof(sr));
	sr.method = method;
	sr.host = buf_cstr(host);
	sr.path = buf_cstr(path);
	sr.query = buf_cstr(query);
	sr.headers = extra;
	sr.nheaders = nextra;
	sr.body = body;
	sr.body_len = body_len;
	sr.payload_hash = body == NULL ? EMPTY_SHA256 : NULL;
	sr.region = rq->region;
	sr.service = "s3";
	sr.flags = SIGV4_S3 | SIGV4_CONTENT_SHA256;
	sigv4_out_init(&o);
	if ((r = sigv4_sign(&sr, &sc, plat_time_ms() / 1000, &o, e)) != 0)
		goto out;
	for (i = 0; i < hv->n; i++)
		util_free_secret(hv->v[i]);
	hv->n = 0;
	if (hv->v != NULL)
		hv->v[0] = NULL;
	r = AG_ENOMEM;
	if (strv_pushf(hv, "Host: %s", buf_cstr(host)) != 0 ||
	    strv_pushf(hv, "X-Amz-Date: %s", o.amz_date) != 0 ||
	    strv_pushf(hv, "X-Amz-Content-Sha256: %s", o.content_sha256) != 0 ||
	    (sc.session_token != NULL && *sc.session_token != '\0' &&
	    strv_pushf(hv, "X-Amz-Security-Token: %s", sc.session_token) != 0) ||
	    strv_pushf(hv, "Authorization: %s", buf_cstr(&o.authorization)) !=
	    0)
		goto nomem;
	for (i = 0; i < nextra; i++)
		if (strv_pushf(hv, "%s: %s", extra[i].name, extra[i].value) != 0)
			goto nomem;
	r = 0;
	goto out;
 nomem:
	r = err_set(e, AG_ENOMEM, "s3: out of memory");
 out:
	sigv4_out_release(&o);
	return r;
}

static void
strv_release_secret(struct strv *v)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		util_free_secret(v->v[i]);
		v->v[i] = NULL;
	}
	v->n = 0;
	strv_release(v);
}

/* ---- download state ------------------------------------------------------- */

/*
 * SHA-256 and MD5 of every byte run on a second thread while this one
 * decrypts and writes: on a download the two hashes cost as much as TLS.
 * The producer fills one slot at a time; slots [head, head + count) wait
 * for the hasher. Without the thread (it could not start) it is inline.
 */
#define HQ_SLOTS 4
#define HQ_SLOT ((size_t)256 * 1024)

struct hashq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int running, stop;
	unsigned char *slot[HQ_SLOTS];	/* owned */
	size_t len[HQ_SLOTS];
	unsigned head, count;		/* under mu: the queued slots */
	unsigned tail;			/* producer only: the slot it fills */
	size_t fill;			/* producer only: bytes in slot tail */
	mbedtls_sha256_context *sha;	/* borrowed: struct dl's */
	mbedtls_md5_context *md5;
};

struct dl {
	int fd;
	const char *dst;
	mbedtls_sha256_context sha;
	mbedtls_md5_context md5;
	struct hashq hq;
	uint64_t off;			/* bytes in the file */
	uint64_t want_from;		/* Range start of this GET */
	struct http_resp *resp;
	int checked;			/* first byte of this GET seen */
	int restarted;			/* 200 to a Range GET */
};

static void *
hashq_main(void *arg)
{
	struct hashq *q = arg;
	unsigned i;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (q->count == 0 && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->stop)
			break;	/* what is queued is not wanted any more */
		i = q->head;
		pthread_mutex_unlock(&q->mu);
		mbedtls_sha256_update(q->sha, q->slot[i], q->len[i]);
		mbedtls_md5_update(q->md5, q->slot[i], q->len[i]);
		pthread_mutex_lock(&q->mu);
		q->head = (q->head + 1) % HQ_SLOTS;
		q->count--;
		pthread_cond_broadcast(&q->cv);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

static void
hashq_start(struct hashq *q, mbedtls_sha256_context *sha,
    mbedtls_md5_context *md5)
{
	unsigned i;

	memset(q, 0, sizeof(*q));
	q->sha = sha;
	q->md5 = md5;
	for (i = 0; i < HQ_SLOTS; i++)
		if ((q->slot[i] = malloc(HQ_SLOT)) == NULL)
			return;		/* inline hashing */
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	if (pthread_create(&q->th, NULL, hashq_main, q) != 0) {
		pthread_mutex_destroy(&q->mu);
		pthread_cond_destroy(&q->cv);
		return;
	}
	q->running = 1;
}

/* Queue the slot being filled; wait while every slot is taken. */
static void
hashq_push(struct hashq *q)
{
	pthread_mutex_lock(&q->mu);
	q->len[q->tail] = q->fill;
	q->count++;
	pthread_cond_broadcast(&q->cv);
	/* the next slot to fill must not be one still queued */
	while (q->count == HQ_SLOTS)
		pthread_cond_wait(&q->cv, &q->mu);
	pthread_mutex_unlock(&q->mu);
	q->tail = (q->tail + 1) % HQ_SLOTS;
	q->fill = 0;
}

static void
hashq_feed(struct hashq *q, const void *data, size_t n)
{
	const unsigned char *p = data;
	unsigned char *dst;
	size_t k;

	if (!q->running) {
		mbedtls_sha256_update(q->sha, data, n);
		mbedtls_md5_update(q->md5, data, n);
		return;
	}
	while (n > 0) {
		/* slot tail is never one the hasher reads (hashq_push) */
		dst = q->slot[q->tail];
		k = HQ_SLOT - q->fill < n ? HQ_SLOT - q->fill : n;
		memcpy(dst + q->fill, p, k);
		q->fill += k;
		p += k;
		n -= k;
		if (q->fill == HQ_SLOT)
			hashq_push(q);
	}
}

/* Hash everything fed so far; the contexts may then be used directly. */
static void
hashq_sync(struct hashq *q)
{
	if (!q->running)
		return;
	if (q->fill > 0)
		hashq_push(q);
	pthread_mutex_lock(&q->mu);
	while (q->count > 0)
		pthread_cond_wait(&q->cv, &q->mu);
	pthread_mutex_unlock(&q->mu);
}

static void
hashq_stop(struct hashq *q)
{
	unsigned i;

	if (q->running) {
		pthread_mutex_lock(&q->mu);
		q->stop = 1;
		pthread_cond_broadcast(&q->cv);
		pthread_mutex_unlock(&q->mu);
		pthread_join(q->th, NULL);
		pthread_mutex_destroy(&q->mu);
		pthread_cond_destroy(&q->cv);
		q->running = 0;
	}
	for (i = 0; i < HQ_SLOTS; i++) {
		free(q->slot[i]);
		q->slot[i] = NULL;
	}
}

static void
dl_hash_reset(struct dl *d)
{
	hashq_sync(&d->hq);
	mbedtls_sha256_free(&d->sha);
	mbedtls_md5_free(&d->md5);
	mbedtls_sha256_init(&d->sha);
	mbedtls_md5_init(&d->md5);
	mbedtls_sha256_starts(&d->sha, 0);
	mbedtls_md5_starts(&d->md5);
}

static int
dl_truncate(struct dl *d, struct err *e)
{
	if (ftruncate(d->fd, 0) != 0 || lseek(d->fd, 0, SEEK_SET) != 0)
		return err_set(e, AG_EIO, "truncate %s: %s", d->dst,
		    strerror(errno));
	d->off = 0;
	dl_hash_reset(d);
	return 0;
}

static int
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
dl_sink(void *arg, const void *data, size_t n, struct err *e)
{
	struct dl *d = arg;
	int r;

	if (!d->checked) {
		d->checked = 1;
		if (d->resp->status == 200 && d->off > 0) {
			/* the server ignored Range: start again */
			if ((r = dl_truncate(d, e)) != 0)
				return r;
			d->restarted = 1;
		} else if (d->resp->status == 206) {
			unsigned long long a = 0;

			if (sscanf(d->resp->content_range, "bytes %llu-", &a) !=
			    1 || a != d->off)
				return err_set(e, AG_EPROTO, "s3: Content-Range "
				    "'%s' does not continue at byte %llu",
				    d->resp->content_range,
				    (unsigned long long)d->off);
		}
	}
	if (write_all(d->fd, data, n) != 0)
		return err_set(e, AG_EIO, "write %s: %s", d->dst,
		    strerror(errno));
	hashq_feed(&d->hq, data, n);
	d->off += n;
	return 0;
}

/* Hash the bytes already in the file (resume) and seek to their end. */
static int
dl_rehash(struct dl *d, uint64_t upto, struct err *e)
{
	unsigned char chunk[65536];
	uint64_t left = upto;
	ssize_t n;

	if (lseek(d->fd, 0, SEEK_SET) != 0)
		return err_set(e, AG_EIO, "seek %s: %s", d->dst,
		    strerror(errno));
	dl_hash_reset(d);
	while (left > 0) {
		size_t want = left < sizeof(chunk) ? (size_t)left :
		    sizeof(chunk);

		n = read(d->fd, chunk, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return err_set(e, AG_EIO, "read %s: %s", d->dst,
			    n < 0 ? strerror(errno) : "short file");
		hashq_feed(&d->hq, chunk, (size_t)n);
		left -= (uint64_t)n;
	}
	if (ftruncate(d->fd, (off_t)upto) != 0)
		return err_set(e, AG_EIO, "truncate %s: %s", d->dst,
		    strerror(errno));
	d->off = upto;
	return 0;
}

/* ---- the sidecar ------------------------------------------------------------ */

static int
sidecar_write(const char *side, const struct s3_fetch_req *rq,
    const char *etag, uint64_t size, struct err *e)
{
	json_t *j;
	char *s = NULL;
	int r;

	j = json_pack("{s:s, s:s, s:s, s:s, s:I}", "bucket", rq->bucket,
	    "key", rq->key, "version", rq->version != NULL ? rq->version : "",
	    "etag", etag, "size",
	    (json_int_t)size);
	if (j == NULL || (s = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		return err_set(e, AG_ENOMEM, "s3: out of memory");
	}
	r = plat_fs_write_atomic(side, s, strlen(s), 0600, e);
	free(s);
	json_decref(j);
	return r;
}

/* 1 when the sidecar describes this object with this etag and size. */
static int
sidecar_matches(const char *side, const struct s3_fetch_req *rq,
    const char *etag, uint64_t size)
{
	struct buf b = BUF_INIT(64 * 1024);
	struct err e = ERR_INIT;
	const char *bk = NULL, *k = NULL, *v = NULL, *et = NULL;
	json_int_t sz = -1;
	json_t *j = NULL;
	int ok = 0;

	if (buf_read_file(&b, side, &e) != 0)
		goto out;
	if ((j = json_loadb(b.ptr, b.len, 0, NULL)) == NULL ||
	    json_unpack(j, "{s:s, s:s, s?s, s:s, s:I}", "bucket", &bk, "key",
	    &k, "version", &v, "etag", &et, "size", &sz) != 0)
		goto out;
	ok = strcmp(bk, rq->bucket) == 0 && strcmp(k, rq->key) == 0 &&
	    strcmp(v != NULL ? v : "", rq->version != NULL ? rq->version :
	    "") == 0 && strcmp(et, etag) == 0 && sz == (json_int_t)size;
 out:
	json_decref(j);
	buf_release(&b);
	return ok;
}

/* ---- HEAD, disk budget --------------------------------------------------------- */

static int
s3_head(const struct s3_fetch_req *rq, const struct buf *url,
    const struct buf *host, const struct buf *path, const struct buf *query,
    struct http_resp *resp, struct err *e)
{
	struct strv hv = STRV_INIT;
	struct http_req hr;
	int r;

	if ((r = sign_into(rq, "HEAD", host, path, query, NULL, 0, NULL, 0,
	    &hv, e)) != 0)
		goto out;
	memset(&hr, 0, sizeof(hr));
	hr.method = "HEAD";
	hr.url = buf_cstr(url);
	hr.dest = HTTP_DEST_STORAGE;
	hr.headers = (const char *const *)hv.v;
	hr.timeout_ms = 120 * 1000;
	r = http_do(rq->http, &hr, resp, e);
 out:
	strv_release_secret(&hv);
	return r;
}

static int
check_budget(const struct s3_fetch_req *rq, uint64_t size, struct err *e)
{
	uint64_t free_b = 0, need, factor;
	int r;

	if (rq->budget_dir == NULL)
		return 0;
	factor = rq->expansion_factor > 1 ? (uint64_t)rq->expansion_factor : 1;
	if ((r = plat_fs_free_space(rq->budget_dir, &free_b, e)) != 0)
		return r;
	need = size > UINT64_MAX / factor ? UINT64_MAX : size * factor;
	if (need > UINT64_MAX - rq->disk_reserve ||
	    need + rq->disk_reserve > free_b)
		return err_set(e, AG_EIO, "not enough disk space for "
		    "s3://%s/%s: the object is %llu bytes, x%llu for "
		    "unpacking = %llu bytes, but %s has %llu bytes free and "
		    "%llu are kept in reserve (:disk_reserve_bytes:)",
		    rq->bucket, rq->key, (unsigned long long)size,
		    (unsigned long long)factor, (unsigned long long)need,
		    rq->budget_dir, (unsigned long long)free_b,
		    (unsigned long long)rq->disk_reserve);
	return 0;
}

/* ---- s3_fetch --------------------------------------------------------------- */

int
s3_fetch(const struct s3_fetch_req *rq, const char *dst_path,
    struct s3_fetch_stats *st, struct err *e)
{
	struct buf url = BUF_INIT(16384), host = BUF_INIT(1024),
	    path = BUF_INIT(8192), query = BUF_INIT(4096),
	    side = BUF_INIT(8192);
	struct http_resp resp;
	struct strv hv = STRV_INIT;
	struct dl d;
	struct stat sb;
	char etag[256] = "", rng[64], ifm[300], cmp1[256], cmp2[256];
	unsigned char md[32];
	uint64_t size = 0;
	int r, have_size = 0, attempts, attempt, need_head = 1, i;

	memset(st, 0, sizeof(*st));
	memset(&d, 0, sizeof(d));
	d.fd = -1;
	d.dst = dst_path;
	mbedtls_sha256_init(&d.sha);
	mbedtls_md5_init(&d.md5);
	hashq_start(&d.hq, &d.sha, &d.md5);
	http_resp_init(&resp, 64 * 1024);
	d.resp = &resp;
	attempts = rq->max_attempts > 0 ? rq->max_attempts : 5;

	if ((r = s3_object_url(rq, &url, &host, &path, &query, e)) != 0)
		goto out;
	if (strncmp(buf_cstr(&url), "http://", 7) == 0)
		log_warn("S3 endpoint %s is plain http: the bundle is not "
		    "protected in transit", rq->endpoint);
	if ((r = buf_addf(&side, "%s.part.json", dst_path)) != 0) {
		r = err_set(e, r, "s3: path too long");
		goto out;
	}
	if ((d.fd = open(dst_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		r = err_set(e, AG_EIO, "open %s: %s", dst_path,
		    strerror(errno));
		goto out;
	}

	for (attempt = 0; attempt < attempts; ) {
		struct sigv4_header xh[2];
		size_t nxh = 0;
		struct http_req hr;

		if (need_head) {
			need_head = 0;
			if ((r = s3_head(rq, &url, &host, &path, &query, &resp,
			    e)) != 0)
				goto out;
			if (resp.status == 200) {
				snprintf(etag, sizeof(etag), "%s", resp.etag);
				have_size = resp.content_length >= 0;
				size = have_size ?
				    (uint64_t)resp.content_length : 0;
				if (have_size && (r = check_budget(rq, size,
				    e)) != 0)
					goto out;
				if (etag[0] != '\0' && fstat(d.fd, &sb) == 0 &&
				    (uint64_t)sb.st_size <= size &&
				    sb.st_size > 0 && sidecar_matches(
				    buf_cstr(&side), rq, etag, size)) {
					if ((r = dl_rehash(&d,
					    (uint64_t)sb.st_size, e)) != 0)
						goto out;
					log_info("resuming s3://%s/%s at byte "
					    "%llu of %llu", rq->bucket, rq->key,
					    (unsigned long long)d.off,
					    (unsigned long long)size);
				} else {
					if (fstat(d.fd, &sb) == 0 &&
					    sb.st_size > 0 && access(
					    buf_cstr(&side), F_OK) == 0) {
						/* a partial download of
						 * another object version */
						st->restarts++;
						log_warn("s3://%s/%s changed "
						    "since the partial download;"
						    " starting from zero",
						    rq->bucket, rq->key);
					}
					if ((r = dl_truncate(&d, e)) != 0)
						goto out;
				}
				if (etag[0] != '\0' && (r = sidecar_write(
				    buf_cstr(&side), rq, etag, size, e)) != 0)
					goto out;
			} else {
				/* no body on HEAD: the GET below names the
				 * S3 error code */
				etag[0] = '\0';
				have_size = 0;
				if ((r = dl_truncate(&d, e)) != 0)
					goto out;
			}
		}
		if (have_size && d.off == size && size > 0)
			break;		/* all bytes already on disk */
		if (d.off > 0) {
			snprintf(rng, sizeof(rng), "bytes=%llu-",
			    (unsigned long long)d.off);
			xh[nxh].name = "Range";
			xh[nxh++].value = rng;
		}
		if (etag[0] != '\0') {
			snprintf(ifm, sizeof(ifm), "%s", etag);
			xh[nxh].name = "If-Match";
			xh[nxh++].value = ifm;
		}
		if ((r = sign_into(rq, "GET", &host, &path, &query, xh, nxh,
		    NULL, 0, &hv, e)) != 0)
			goto out;
		memset(&hr, 0, sizeof(hr));
		hr.method = "GET";
		hr.url = buf_cstr(&url);
		hr.dest = HTTP_DEST_STORAGE;
		hr.headers = (const char *const *)hv.v;
		hr.sink = dl_sink;
		hr.sink_arg = &d;
		d.checked = 0;
		d.restarted = 0;
		d.want_from = d.off;
		resp.sink_bytes = 0;
		r = http_do(rq->http, &hr, &resp, e);
		st->bytes_fetched += resp.sink_bytes;
		attempt++;
		if (resp.sink_bytes > 0) {
			st->gets++;
			if (d.want_from > 0 && !d.restarted)
				st->resumed_from = d.want_from;
			if (d.restarted)
				st->restarts++;
		}
		if (r == AG_ENET || r == AG_ETIMEOUT) {
			if (attempt >= attempts)
				goto out;
			log_warn("s3://%s/%s: %s; resuming at byte %llu "
			    "(attempt %d/%d)", rq->bucket, rq->key, e->msg,
			    (unsigned long long)d.off, attempt, attempts);
			plat_sleep_until(plat_clock_ms() + 200L * attempt,
			    NULL);
			continue;
		}
		if (r != 0)
			goto out;
		if (resp.status == 412 || resp.status == 416) {
			/* changed since HEAD (or since the partial file) */
			if (++st->restarts > MAX_RESTARTS) {
				r = err_set(e, AG_ENET, "s3://%s/%s keeps "
				    "changing during the download",
				    rq->bucket, rq->key);
				goto out;
			}
			log_warn("s3://%s/%s changed since the download "
			    "started (HTTP %ld); starting again from zero",
			    rq->bucket, rq->key, resp.status);
			unlink(buf_cstr(&side));
			if ((r = dl_truncate(&d, e)) != 0)
				goto out;
			need_head = 1;
			continue;
		}
		if (resp.status < 200 || resp.status >= 300) {
			r = s3_error(rq, &resp, e);
			goto out;
		}
		if (resp.etag[0] != '\0')
			snprintf(etag, sizeof(etag), "%s", resp.etag);
		snprintf(st->version_id, sizeof(st->version_id), "%s",
		    resp.version_id);
		if (!have_size) {
			have_size = 1;
			size = d.off;
		}
		if (d.off == size)
			break;
		/* a short body without a transport error: resume */
		if (attempt >= attempts) {
			r = err_set(e, AG_ENET, "s3://%s/%s: got %llu of %llu "
			    "bytes", rq->bucket, rq->key,
			    (unsigned long long)d.off,
			    (unsigned long long)size);
			goto out;
		}
	}
	if (attempt >= attempts && !(have_size && d.off == size)) {
		r = err_set(e, AG_ENET, "s3://%s/%s: gave up after %d "
		    "attempts", rq->bucket, rq->key, attempts);
		goto out;
	}

	/* checks */
	st->size = size;
	hashq_sync(&d.hq);
	mbedtls_sha256_finish(&d.sha, md);
	for (i = 0; i < 32; i++)
		snprintf(st->sha256 + 2 * i, 3, "%02x", md[i]);
	mbedtls_md5_finish(&d.md5, md);
	for (i = 0; i < 16; i++)
		snprintf(st->md5 + 2 * i, 3, "%02x", md[i]);
	strip_quotes(st->etag, sizeof(st->etag), etag);
	if (rq->etag != NULL && *rq->etag != '\0') {
		strip_quotes(cmp1, sizeof(cmp1), rq->etag);
		strip_quotes(cmp2, sizeof(cmp2), etag);
		if (strcmp(cmp1, cmp2) != 0) {
			r = err_set(e, AG_EINVAL, "s3://%s/%s: expected "
			    "deployment artifact bundle etag %s but was "
			    "actually %s", rq->bucket, rq->key, cmp1, cmp2);
			goto out;
		}
	}
	if (strlen(st->etag) == 32 && !s3_etag_is_multipart(st->etag) &&
	    resp.sse[0] == '\0' && strcasecmp(st->etag, st->md5) != 0) {
		r = err_set(e, AG_EPROTO, "s3://%s/%s: downloaded bytes have "
		    "MD5 %s, but the ETag is %s", rq->bucket, rq->key, st->md5,
		    st->etag);
		unlink(buf_cstr(&side));
		dl_truncate(&d, e);
		goto out;
	}
	if (fsync(d.fd) != 0) {
		r = err_set(e, AG_EIO, "fsync %s: %s", dst_path,
		    strerror(errno));
		goto out;
	}
	unlink(buf_cstr(&side));
	log_info("fetched s3://%s/%s%s%s: %llu bytes, sha256 %s",
	    rq->bucket, rq->key, rq->version ? " version " : "",
	    rq->version ? rq->version : "", (unsigned long long)size,
	    st->sha256);
	r = 0;
 out:
	hashq_stop(&d.hq);
	if (d.fd >= 0)
		close(d.fd);
	mbedtls_sha256_free(&d.sha);
	mbedtls_md5_free(&d.md5);
	strv_release_secret(&hv);
	http_resp_release(&resp);
	buf_release(&url);
	buf_release(&host);
	buf_release(&path);
	buf_release(&query);
	buf_release(&side);
	return r;
}

int
s3_put(const struct s3_fetch_req *rq, const void *data, size_t n,
    char *etag_out, struct err *e)
{
	struct buf url = BUF_INIT(16384), host = BUF_INIT(1024),
	    path = BUF_INIT(8192), query = BUF_INIT(4096);
	struct http_resp resp;
	struct strv hv = STRV_INIT;
	struct http_req hr;
	int r;

	http_resp_init(&resp, 64 * 1024);
	if ((r = s3_object_url(rq, &url, &host, &path, &query, e)) != 0)
		goto out;
	buf_reset(&query);	/* a PUT never names a version */
	buf_reset(&url);
	if ((r = buf_addf(&url, "%s://%s%s",
	    strncasecmp(rq->endpoint != NULL ? rq->endpoint : "", "http://",
	    7) == 0 ? "http" : "https", buf_cstr(&host), buf_cstr(&path))) !=
	    0)
		goto out;
	if ((r = sign_into(rq, "PUT", &host, &path, &query, NULL, 0,
	    data != NULL ? data : "", n, &hv, e)) != 0)
		goto out;
	memset(&hr, 0, sizeof(hr));
	hr.method = "PUT";
	hr.url = buf_cstr(&url);
	hr.dest = HTTP_DEST_STORAGE;
	hr.headers = (const char *const *)hv.v;
	hr.body = data != NULL ? data : "";
	hr.body_len = n;
	if ((r = http_do(rq->http, &hr, &resp, e)) != 0)
		goto out;
	if (resp.status != 200) {
		r = s3_error(rq, &resp, e);
		goto out;
	}
	if (etag_out != NULL)
		snprintf(etag_out, 256, "%s", resp.etag);
 out:
	strv_release_secret(&hv);
	http_resp_release(&resp);
	buf_release(&url);
	buf_release(&host);
	buf_release(&path);
	buf_release(&query);
	return r;
}

/*
 * http.c: libcurl wrapper; see http.h for the policy.
 *
 * The proxy decision is ours (NO_PROXY semantics differ between curl
 * versions and tools), so libcurl always gets CURLOPT_PROXY explicitly.
 * Response headers are parsed by the header callback and reset on every
 * status line, so a 100-continue or a redirect leaves only the final
 * response's values.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "buf.h"
#include "config.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "platform.h"
#include "util.h"
#include "banned.h"

#define LOW_SPEED_BYTES 1024L

struct http {
	CURL *curl;
	char *ca;			/* owned, NULL: none found */
	const char *ca_source;
	char ca_err[ERR_MSG_MAX];	/* why none was found */
	char *capath;			/* owned: $AWS_SSL_CA_DIRECTORY */
	char *proxy_uri, *cp_proxy, *st_proxy;	/* owned secrets */
	long connect_timeout_s, low_speed_time_s, backoff_base_ms,
	    backoff_max_ms;
	int max_attempts;
	uint64_t rng;			/* xorshift state for jitter */
	const volatile int *abort_flag;	/* borrowed, or NULL */
};

#define TLS13_PREFERENCE "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
	"TLS_CHACHA20_POLY1305_SHA256"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void
curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static const char *const system_bundles[] = {
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/ssl/cert.pem",
};

static int
readable(const char *p)
{
	return access(p, R_OK) == 0;
}

int
http_ca_bundle(const char *cfg_bundle, struct buf *out, const char **source,
    struct err *e)
{
	static const char *const envs[] = { "AWS_SSL_CA_BUNDLE",
	    "SSL_CERT_FILE" };
	const char *v;
	size_t i;

	for (i = 0; i < 2; i++) {
		v = getenv(envs[i]);
		if (v == NULL || *v == '\0')
			continue;
		if (!readable(v))
			return err_set(e, AG_EIO, "CA bundle %s (from %s) is "
			    "not readable: %s", v, envs[i], strerror(errno));
		*source = envs[i];
		return buf_setstr(out, v);
	}
	if (cfg_bundle != NULL && *cfg_bundle != '\0') {
		if (!readable(cfg_bundle))
			return err_set(e, AG_EIO, "CA bundle %s (from "
			    ":ca_bundle:) is not readable: %s", cfg_bundle,
			    strerror(errno));
		*source = "ca_bundle";
		return buf_setstr(out, cfg_bundle);
	}
	for (i = 0; i < sizeof(system_bundles) / sizeof(*system_bundles);
	    i++) {
		if (readable(system_bundles[i])) {
			*source = "system";
			return buf_setstr(out, system_bundles[i]);
		}
	}
	return err_set(e, AG_EIO, "no CA bundle found: set "
	    "AWS_SSL_CA_BUNDLE or :ca_bundle:, or install ca-certificates");
}

void
http_opts_from_config(struct http_opts *o, const struct config *c)
{
	memset(o, 0, sizeof(*o));
	o->ca_bundle = c->ca_bundle;
	o->proxy_uri = c->proxy_uri;
	o->control_plane_proxy_uri = c->control_plane_proxy_uri;
	o->storage_proxy_uri = c->storage_proxy_uri;
	o->low_speed_time_s = c->http_read_timeout;
}

int
http_new(struct http **out, const struct http_opts *o, struct err *e)
{
	struct buf ca = BUF_INIT(4096);
	struct http *h = NULL;
	struct err cae = ERR_INIT;
	const char *v;
	int r = AG_ENOMEM;

	*out = NULL;
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK)
		return err_set(e, AG_ENET, "libcurl init: %s",
		    curl_easy_strerror(curl_init_rc));
	if ((h = calloc(1, sizeof(*h))) == NULL)
		goto nomem;
	if ((h->curl = curl_easy_init()) == NULL)
		goto nomem;
	if (http_ca_bundle(o->ca_bundle, &ca, &h->ca_source, &cae) == 0) {
		if ((h->ca = buf_detach(&ca)) == NULL)
			goto nomem;
	} else {
		/* only https requests need it: fail those, not http_new */
		snprintf(h->ca_err, sizeof(h->ca_err), "%s", cae.msg);
	}
	v = getenv("AWS_SSL_CA_DIRECTORY");
	if (v != NULL && *v != '\0' && (h->capath = util_strdup(v)) == NULL)
		goto nomem;
	if ((o->proxy_uri != NULL &&
	    (h->proxy_uri = util_strdup(o->proxy_uri)) == NULL) ||
	    (o->control_plane_proxy_uri != NULL &&
	    (h->cp_proxy = util_strdup(o->control_plane_proxy_uri)) == NULL) ||
	    (o->storage_proxy_uri != NULL &&
	    (h->st_proxy = util_strdup(o->storage_proxy_uri)) == NULL))
		goto nomem;
	h->connect_timeout_s = o->connect_timeout_s > 0 ?
	    o->connect_timeout_s : 15;
	h->low_speed_time_s = o->low_speed_time_s > 0 ?
	    o->low_speed_time_s : 80;
	h->max_attempts = o->max_attempts > 0 ? o->max_attempts : 4;
	h->abort_flag = o->abort_flag;
	h->backoff_base_ms = o->backoff_base_ms > 0 ? o->backoff_base_ms : 500;
	h->backoff_max_ms = o->backoff_max_ms > 0 ? o->backoff_max_ms : 20000;
	h->rng = (uint64_t)plat_time_ms() ^ ((uint64_t)getpid() << 32) ^
	    (uint64_t)(uintptr_t)h;
	if (h->rng == 0)
		h->rng = 0x9e3779b97f4a7c15ULL;
	*out = h;
	h = NULL;	/* transferred */
	r = 0;
	goto out;
 nomem:
	r = err_set(e, AG_ENOMEM, "http: out of memory");
 out:
	buf_release(&ca);
	http_free(h);
	return r;
}

void
http_free(struct http *h)
{
	if (h == NULL)
		return;
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	free(h->ca);
	free(h->capath);
	util_free_secret(h->proxy_uri);
	util_free_secret(h->cp_proxy);
	util_free_secret(h->st_proxy);
	free(h);
}

void
http_resp_init(struct http_resp *r, size_t max_body)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, max_body);
	r->content_length = -1;
}

void
http_resp_release(struct http_resp *r)
{
	buf_release(&r->body);
}

/* ---- URLs ------------------------------------------------------------ */

int
http_url_host(const char *url, struct buf *out)
{
	CURLU *u;
	char *host = NULL;
	size_t l;
	int r = AG_EINVAL;

	if ((u = curl_url()) == NULL)
		return AG_ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		const char *p = host;

		l = strlen(p);
		if (l >= 2 && p[0] == '[' && p[l - 1] == ']') {
			p++;
			l -= 2;
		}
		buf_reset(out);
		r = buf_add(out, p, l);
	}
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

int
http_redact_url(const char *url, struct buf *out)
{
	CURLU *u;
	char *s = NULL;
	int r;

	buf_reset(out);
	if ((u = curl_url()) == NULL)
		return AG_ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_GUESS_SCHEME) !=
	    CURLUE_OK) {
		curl_url_cleanup(u);
		return buf_addstr(out, "<unparsable url>");
	}
	curl_url_set(u, CURLUPART_USER, NULL, 0);
	curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
	curl_url_set(u, CURLUPART_QUERY, NULL, 0);
	curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
	if (curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK)
		r = buf_addstr(out, s);
	else
		r = buf_addstr(out, "<unparsable url>");
	curl_free(s);
	curl_url_cleanup(u);
	return r;
}

/* ---- NO_PROXY ---------------------------------------------------------- */

struct ipaddr {
	int family;			/* AF_INET, AF_INET6, 0: not an IP */
	unsigned char a[16];
};

static void
parse_ip(const char *s, size_t n, struct ipaddr *ip)
{
	char tmp[64];

	ip->family = 0;
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(tmp))
		return;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (inet_pton(AF_INET, tmp, ip->a) == 1)
		ip->family = AF_INET;
	else if (inet_pton(AF_INET6, tmp, ip->a) == 1)
		ip->family = AF_INET6;
}

static int
prefix_match(const unsigned char *a, const unsigned char *b, long bits)
{
	long full = bits / 8, rem = bits % 8;
	unsigned char mask;

	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	if (rem == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - rem));
	return (a[full] & mask) == (b[full] & mask);
}

/* One NO_PROXY entry e[0..n), lowercased, against the normalised host. */
static int
entry_match(const char *e, size_t n, const char *host,
    const struct ipaddr *hip)
{
	const char *slash = memchr(e, '/', n);
	struct ipaddr eip;
	size_t hl = strlen(host);

	if (n == 1 && e[0] == '*')
		return 1;
	if (slash != NULL) {
		long long bits;
		char num[8];
		size_t bl = n - (size_t)(slash - e) - 1;

		if (hip->family == 0 || bl == 0 || bl >= sizeof(num))
			return 0;
		memcpy(num, slash + 1, bl);
		num[bl] = '\0';
		parse_ip(e, (size_t)(slash - e), &eip);
		if (eip.family != hip->family || util_parse_ll(num, 0,
		    eip.family == AF_INET ? 32 : 128, &bits) != 0)
			return 0;
		return prefix_match(eip.a, hip->a, (long)bits);
	}
	parse_ip(e, n, &eip);
	if (eip.family == 0 && n > 0 && e[0] == '[') {
		/* [v6]:port */
		const char *rb = memchr(e, ']', n);

		if (rb != NULL)
			parse_ip(e, (size_t)(rb - e) + 1, &eip);
	}
	if (eip.family == 0) {
		/* host:port (v4 or name): drop the port */
		const char *colon = memchr(e, ':', n);

		if (colon != NULL && memchr(colon + 1, ':', n - (size_t)(colon -
		    e) - 1) == NULL) {
			n = (size_t)(colon - e);
			parse_ip(e, n, &eip);
		}
	}
	if (eip.family != 0)
		return hip->family == eip.family &&
		    memcmp(hip->a, eip.a, eip.family == AF_INET ? 4 : 16) == 0;
	if (hip->family != 0)
		return 0;
	/* domain: *.x, .x and x all mean x and its subdomains */
	if (n >= 2 && e[0] == '*' && e[1] == '.') {
		e += 2;
		n -= 2;
	}
	while (n > 0 && e[0] == '.') {
		e++;
		n--;
	}
	while (n > 0 && e[n - 1] == '.')
		n--;
	if (n == 0)
		return 0;
	if (hl == n)
		return memcmp(host, e, n) == 0;
	return hl > n && host[hl - n - 1] == '.' &&
	    memcmp(host + hl - n, e, n) == 0;
}

int
http_no_proxy_match(const char *list, const char *host)
{
	char h[512], ent[512];
	struct ipaddr hip;
	size_t hl, i;
	const char *p;

	if (list == NULL || host == NULL)
		return 0;
	hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host++;
		hl -= 2;
	}
	while (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (hl == 0 || hl >= sizeof(h))
		return 0;
	for (i = 0; i < hl; i++)
		h[i] = (char)tolower((unsigned char)host[i]);
	h[hl] = '\0';
	parse_ip(h, hl, &hip);
	for (p = list; *p != '\0'; ) {
		size_t n = strcspn(p, ", \t\r\n");

		if (n > 0 && n < sizeof(ent)) {
			for (i = 0; i < n; i++)
				ent[i] = (char)tolower((unsigned char)p[i]);
			ent[n] = '\0';
			if (entry_match(ent, n, h, &hip))
				return 1;
		}
		p += n;
		if (*p != '\0')
			p++;
	}
	return 0;
}

static const char *
env2(const char *a, const char *b)
{
	const char *v = getenv(a);

	if (v == NULL || *v == '\0')
		v = getenv(b);
	return v != NULL && *v != '\0' ? v : NULL;
}

int
http_proxy_for(const struct http *h, enum http_dest dest, const char *url,
    struct buf *out, const char **source, struct err *e)
{
	struct buf host = BUF_INIT(1024);
	const char *p = NULL, *src = "none";
	int r;

	buf_reset(out);
	if (source != NULL)
		*source = "none";
	if (http_url_host(url, &host) != 0) {
		buf_release(&host);
		return err_set(e, AG_EINVAL, "bad URL %s", url);
	}
	if (dest == HTTP_DEST_IMDS ||
	    strcmp(buf_cstr(&host), "169.254.169.254") == 0 ||
	    strcasecmp(buf_cstr(&host), "fd00:ec2::254") == 0) {
		buf_release(&host);
		if (source != NULL)
			*source = "metadata (never proxied)";
		return 0;
	}
	if (dest == HTTP_DEST_CONTROL && h->cp_proxy != NULL &&
	    *h->cp_proxy != '\0') {
		p = h->cp_proxy;
		src = "control_plane_proxy_uri";
	} else if (dest == HTTP_DEST_STORAGE && h->st_proxy != NULL &&
	    *h->st_proxy != '\0') {
		p = h->st_proxy;
		src = "storage_proxy_uri";
	} else if (h->proxy_uri != NULL && *h->proxy_uri != '\0') {
		p = h->proxy_uri;
		src = "proxy_uri";
	} else if (strncasecmp(url, "https:", 6) == 0 &&
	    (p = env2("https_proxy", "HTTPS_PROXY")) != NULL) {
		src = "HTTPS_PROXY";
	} else if (strncasecmp(url, "http:", 5) == 0 &&
	    (p = env2("http_proxy", "HTTP_PROXY")) != NULL) {
		src = "HTTP_PROXY";
	} else if ((p = env2("all_proxy", "ALL_PROXY")) != NULL) {
		src = "ALL_PROXY";
	}
	if (p != NULL && http_no_proxy_match(env2("no_proxy", "NO_PROXY"),
	    buf_cstr(&host))) {
		p = NULL;
		src = "NO_PROXY (direct)";
	}
	buf_release(&host);
	if (source != NULL)
		*source = src;
	if (p == NULL)
		return 0;
	if ((r = buf_setstr(out, p)) != 0)
		return err_set(e, r, "proxy URL too long");
	return 0;
}

/* ---- one transfer ------------------------------------------------------ */

struct xfer {
	const struct http_req *rq;
	struct http_resp *resp;
	struct err *e;
	int sink_rc;			/* the sink's error, or 0 */
	int too_big;
	uint64_t attempt_sink_bytes;
	long retry_after_s;
};

static void
hdr_copy(char *dst, size_t dstsz, const char *v, size_t n)
{
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' ||
	    v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	if (n >= dstsz)
		n = dstsz - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static size_t
header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	struct http_resp *r = x->resp;
	size_t n = size * nmemb, nl;
	const char *colon;
	char tmp[64];

	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		const char *sp = memchr(data, ' ', n);

		r->etag[0] = r->content_range[0] = r->content_type[0] = '\0';
		r->version_id[0] = r->bucket_region[0] = r->sse[0] = '\0';
		r->date[0] = '\0';
		r->content_length = -1;
		x->retry_after_s = -1;
		buf_reset(&r->body);
		if (sp != NULL)
			r->status = strtol(sp + 1, NULL, 10);
		return n;
	}
	if ((colon = memchr(data, ':', n)) == NULL)
		return n;
	nl = (size_t)(colon - data);
	colon++;
#define IS(name) (nl == sizeof(name) - 1 && strncasecmp(data, name, nl) == 0)
	if (IS("etag"))
		hdr_copy(r->etag, sizeof(r->etag), colon, n - nl - 1);
	else if (IS("content-range"))
		hdr_copy(r->content_range, sizeof(r->content_range), colon,
		    n - nl - 1);
	else if (IS("content-type"))
		hdr_copy(r->content_type, sizeof(r->content_type), colon,
		    n - nl - 1);
	else if (IS("x-amz-version-id"))
		hdr_copy(r->version_id, sizeof(r->version_id), colon,
		    n - nl - 1);
	else if (IS("x-amz-bucket-region"))
		hdr_copy(r->bucket_region, sizeof(r->bucket_region), colon,
		    n - nl - 1);
	else if (IS("date"))
		hdr_copy(r->date, sizeof(r->date), colon, n - nl - 1);
	else if (IS("x-amz-server-side-encryption"))
		hdr_copy(r->sse, sizeof(r->sse), colon, n - nl - 1);
	else if (IS("content-length") || IS("retry-after")) {
		long long v;

		hdr_copy(tmp, sizeof(tmp), colon, n - nl - 1);
		if (util_parse_ll(tmp, 0, INT64_MAX, &v) == 0) {
			if (IS("content-length"))
				r->content_length = v;
			else
				x->retry_after_s = (long)(v > 3600 ? 3600 : v);
		}
	}
#undef IS
	return n;
}

/* Abandon the transfer once the caller's abort flag is set. */
static int
progress_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	const volatile int *flag = arg;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return *flag ? 1 : 0;
}

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	long st = x->resp->status;

	if (st >= 200 && st < 300 && x->rq->sink != NULL) {
		int rc = x->rq->sink(x->rq->sink_arg, data, n, x->e);

		if (rc != 0) {
			x->sink_rc = rc;
			return 0;	/* CURLE_WRITE_ERROR */
		}
		x->attempt_sink_bytes += n;
		x->resp->sink_bytes += n;
		return n;
	}
	if (buf_add(&x->resp->body, data, n) != 0) {
		if (st >= 200 && st < 300) {
			x->too_big = 1;
			return 0;
		}
		/* error bodies: keep what fits, drop the rest */
		if (x->resp->body.len < x->resp->body.max)
			buf_add(&x->resp->body, data,
			    x->resp->body.max - x->resp->body.len);
	}
	return n;
}

static int
retryable_status(long st, const struct buf *body)
{
	if (st == 429 || st >= 500)
		return st != 501 && st != 505;
	if (st == 400 || st == 403) {
		const char *b = buf_cstr(body);

		return strstr(b, "Throttl") != NULL ||
		    strstr(b, "RequestLimitExceeded") != NULL ||
		    strstr(b, "SlowDown") != NULL ||
		    strstr(b, "RequestTimeTooSkewed") != NULL;
	}
	return 0;
}

static uint64_t
rng_next(struct http *h)
{
	uint64_t x = h->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return h->rng = x;
}

/* Full jitter: uniform in [0, min(max, base * 2^attempt)]. */
static long
backoff_ms(struct http *h, int attempt, long retry_after_s)
{
	long cap = h->backoff_base_ms;
	int i;

	for (i = 0; i < attempt && cap < h->backoff_max_ms; i++)
		cap *= 2;
	if (cap > h->backoff_max_ms)
		cap = h->backoff_max_ms;
	if (retry_after_s > 0 && retry_after_s * 1000 <= h->backoff_max_ms)
		return retry_after_s * 1000;
	return (long)(rng_next(h) % (uint64_t)(cap + 1));
}

static int
curl_fail(const struct http_req *rq, CURLcode cc, const char *errbuf,
    const char *ca, const char *ca_source, const char *proxy,
    struct err *e)
{
	struct buf u = BUF_INIT(4096), host = BUF_INIT(1024);
	const char *why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc);
	char via[600] = "";
	int code = AG_ENET;

	http_redact_url(rq->url, &u);
	http_url_host(rq->url, &host);
	if (proxy[0] != '\0')
		snprintf(via, sizeof(via), " (via proxy %s)", proxy);
	switch (cc) {
	case CURLE_PEER_FAILED_VERIFICATION:
		err_set(e, AG_ENET, "TLS certificate of %s not trusted: %s "
		    "(CA bundle %s from %s)%s", buf_cstr(&host), why,
		    ca != NULL ? ca : "none", ca_source != NULL ? ca_source :
		    "-", via);
		break;
	case CURLE_SSL_CACERT_BADFILE:
		err_set(e, AG_ENET, "TLS to %s: cannot use CA bundle %s "
		    "(from %s): %s", buf_cstr(&host), ca != NULL ? ca : "none",
		    ca_source != NULL ? ca_source : "-", why);
		break;
	case CURLE_SSL_CONNECT_ERROR:
		err_set(e, AG_ENET, "TLS handshake with %s failed: %s%s",
		    buf_cstr(&host), why, via);
		break;
	case CURLE_COULDNT_RESOLVE_PROXY:
		err_set(e, AG_ENET, "cannot resolve proxy %s: %s", proxy, why);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		err_set(e, AG_ENET, "cannot resolve %s: %s", buf_cstr(&host),
		    why);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		code = AG_ETIMEOUT;
		err_set(e, code, "%s %s: %s%s", rq->method, buf_cstr(&u), why,
		    via);
		break;
	default:
		err_set(e, AG_ENET, "%s %s: %s%s", rq->method, buf_cstr(&u),
		    why, via);
		break;
	}
	buf_release(&u);
	buf_release(&host);
	return code;
}

static int
retryable_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

int
http_do(struct http *h, const struct http_req *rq, struct http_resp *resp,
    struct err *e)
{
	struct buf proxy = BUF_INIT(4096), red = BUF_INIT(4096);
	struct curl_slist *hl = NULL, *t;
	struct xfer x;
	char errbuf[CURL_ERROR_SIZE];
	int attempts, attempt, r = 0, is_https, has_ctype = 0;
	size_t i;

	is_https = strncasecmp(rq->url, "https://", 8) == 0;
	if (is_https && h->ca == NULL)
		return err_set(e, AG_EIO, "%s", h->ca_err);
	if ((r = http_proxy_for(h, rq->dest, rq->url, &proxy, NULL, e)) != 0)
		goto out;
	if (proxy.len > 0)
		http_redact_url(buf_cstr(&proxy), &red);
	snprintf(resp->proxy, sizeof(resp->proxy), "%s", buf_cstr(&red));
	for (i = 0; rq->headers != NULL && rq->headers[i] != NULL; i++) {
		if (strncasecmp(rq->headers[i], "content-type:", 13) == 0)
			has_ctype = 1;
		if ((t = curl_slist_append(hl, rq->headers[i])) == NULL)
			goto nomem;
		hl = t;
	}
	/* no Expect: 100-continue round trip, no libcurl default type */
	if ((t = curl_slist_append(hl, "Expect:")) == NULL)
		goto nomem;
	hl = t;
	if (rq->body != NULL && !has_ctype) {
		if ((t = curl_slist_append(hl, "Content-Type:")) == NULL)
			goto nomem;
		hl = t;
	}

	attempts = rq->max_attempts > 0 ? rq->max_attempts : h->max_attempts;
	for (attempt = 0; attempt < attempts; attempt++) {
		CURL *c = h->curl;
		CURLcode cc;
		long delay;

		memset(&x, 0, sizeof(x));
		x.rq = rq;
		x.resp = resp;
		x.e = e;
		x.retry_after_s = -1;
		resp->status = 0;
		resp->attempts = attempt + 1;
		buf_reset(&resp->body);
		errbuf[0] = '\0';

		curl_easy_reset(c);
		curl_easy_setopt(c, CURLOPT_URL, rq->url);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
		    h->connect_timeout_s);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_BYTES);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
		    h->low_speed_time_s);
		if (rq->timeout_ms > 0)
			curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, rq->timeout_ms);
		/*
		 * mbedTLS offers ChaCha20 first; with AES in hardware (AES-NI,
		 * ARMv8 crypto) AES-GCM moves bulk downloads several times
		 * faster, so prefer it as OpenSSL does on such hosts.
		 */
		curl_easy_setopt(c, CURLOPT_TLS13_CIPHERS, TLS13_PREFERENCE);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
		curl_easy_setopt(c, CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
		if (h->ca != NULL) {
			curl_easy_setopt(c, CURLOPT_CAINFO, h->ca);
			curl_easy_setopt(c, CURLOPT_PROXY_CAINFO, h->ca);
		}
		if (h->capath != NULL)
			curl_easy_setopt(c, CURLOPT_CAPATH, h->capath);
		/* explicit, so libcurl never reads the environment */
		curl_easy_setopt(c, CURLOPT_PROXY, buf_cstr(&proxy));
		curl_easy_setopt(c, CURLOPT_NOPROXY, "");
		curl_easy_setopt(c, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
		if (h->abort_flag != NULL) {
			curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
			curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION,
			    progress_cb);
			curl_easy_setopt(c, CURLOPT_XFERINFODATA,
			    (void *)h->abort_flag);
		}
		if (rq->follow_redirects) {
			curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
			curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
		}
		if (strcmp(rq->method, "HEAD") == 0) {
			curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		} else if (strcmp(rq->method, "GET") != 0) {
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)rq->body_len);
			curl_easy_setopt(c, CURLOPT_POSTFIELDS,
			    rq->body != NULL ? rq->body : "");
		}

		cc = curl_easy_perform(c);
		if (x.sink_rc != 0) {
			r = x.sink_rc;	/* e already filled by the sink */
			goto out;
		}
		if (x.too_big) {
			http_redact_url(rq->url, &red);
			r = err_set(e, AG_EPROTO, "%s %s: response body larger "
			    "than %zu bytes", rq->method, buf_cstr(&red),
			    resp->body.max);
			goto out;
		}
		if (cc == CURLE_ABORTED_BY_CALLBACK) {
			r = err_set(e, AG_ENET, "%s: aborted", rq->method);
			goto out;
		}
		if (cc != CURLE_OK) {
			r = curl_fail(rq, cc, errbuf, h->ca, h->ca_source,
			    resp->proxy, e);
			if (!retryable_curl(cc) || x.attempt_sink_bytes > 0 ||
			    attempt + 1 >= attempts)
				goto out;
			delay = backoff_ms(h, attempt, -1);
			log_warn("%s (attempt %d/%d, retrying in %ld ms)",
			    e->msg, attempt + 1, attempts, delay);
		} else {
			r = 0;
			if (!retryable_status(resp->status, &resp->body) ||
			    attempt + 1 >= attempts)
				goto out;
			delay = backoff_ms(h, attempt, x.retry_after_s);
			http_redact_url(rq->url, &red);
			log_warn("%s %s: HTTP %ld (attempt %d/%d, retrying in "
			    "%ld ms)", rq->method, buf_cstr(&red), resp->status,
			    attempt + 1, attempts, delay);
		}
		plat_sleep_until(plat_clock_ms() + delay, NULL);
	}
	goto out;
 nomem:
	r = err_set(e, AG_ENOMEM, "http: out of memory");
 out:
	curl_slist_free_all(hl);
	/* reset drops the handle's pointers to our stack and headers */
	curl_easy_reset(h->curl);
	buf_release_secret(&proxy);
	buf_release(&red);
	return r;
}

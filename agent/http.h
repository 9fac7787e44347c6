/*
 * http.h: HTTP(S) through libcurl on mbedTLS.
 *
 * One struct http per thread: it owns one curl handle, so connections are
 * reused between requests, and the settings every request shares (CA
 * bundle, proxies, timeouts, retry policy).
 *
 *	struct http *h = NULL;
 *	struct http_opts o = { .ca_bundle = cfg->ca_bundle, ... };
 *	const char *hdrs[] = { "Authorization: ...", NULL };
 *	struct http_req rq = { .method = "GET", .url = url,
 *	    .dest = HTTP_DEST_STORAGE, .headers = hdrs, .sink = write_fn };
 *	struct http_resp resp;
 *	http_resp_init(&resp, 64 * 1024);
 *	if (http_new(&h, &o, &e) == 0 && http_do(h, &rq, &resp, &e) == 0)
 *		... resp.status, resp.etag ...
 *	http_resp_release(&resp);
 *	http_free(h);
 *
 * Policy, the same for every caller:
 *  - TLS peer and host verification are always on. The CA bundle is the
 *    first of: $AWS_SSL_CA_BUNDLE, $SSL_CERT_FILE, opts->ca_bundle, then
 *    the system bundles (/etc/ssl/certs/ca-certificates.crt,
 *    /etc/pki/tls/certs/ca-bundle.crt, /etc/ssl/ca-bundle.pem,
 *    /etc/ssl/cert.pem). $AWS_SSL_CA_DIRECTORY adds a CA directory. A
 *    certificate error names the host, the reason and the bundle used.
 *  - Proxies are chosen here (http_proxy_for()), never by libcurl from
 *    the environment: libcurl always gets an explicit CURLOPT_PROXY, ""
 *    meaning direct.
 *  - Connect timeout 15 s. Transfers have no total timeout unless the
 *    request sets one; a stall (under 1 KiB/s for low_speed_time_s) ends
 *    them instead.
 *  - Network errors, 5xx, 429 and throttling error codes are retried
 *    with full-jitter exponential backoff (Retry-After honoured, capped),
 *    at most max_attempts times, but never once bytes of a 2xx body were
 *    handed to the sink: the caller resumes (s3.c) instead.
 *  - Nothing here logs headers, bodies, query strings or proxy
 *    credentials; URLs in messages are redacted with http_redact_url().
 *
 * curl_global_init() runs once, from the first http_new(), under
 * pthread_once(): the one piece of process-wide state in this module.
 */
#ifndef CDAGENT_HTTP_H
#define CDAGENT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct err;
struct http;

/* Where a request goes: selects the proxy. */
enum http_dest {
	HTTP_DEST_CONTROL,	/* Commands API: control_plane_proxy_uri */
	HTTP_DEST_STORAGE,	/* S3, GitHub: storage_proxy_uri */
	HTTP_DEST_IMDS,		/* instance metadata: never proxied */
	HTTP_DEST_OTHER,	/* proxy_uri / environment only */
};

struct http_opts {
	const char *ca_bundle;		/* cfg->ca_bundle, or NULL */
	const char *proxy_uri;		/* cfg->proxy_uri, or NULL */
	const char *control_plane_proxy_uri;	/* overrides proxy_uri */
	const char *storage_proxy_uri;	/* overrides proxy_uri */
	long connect_timeout_s;		/* 0: 15 */
	long low_speed_time_s;		/* 0: 80 (cfg->http_read_timeout) */
	int max_attempts;		/* 0: 4 (1 try + 3 retries) */
	long backoff_base_ms;		/* 0: 500 */
	long backoff_max_ms;		/* 0: 20000 */
	/*
	 * When non-NULL and it becomes non-zero (a signal handler's stop
	 * flag), a transfer in progress is abandoned within ~100 ms with
	 * AG_ENET "aborted", and no retry is made.
	 */
	const volatile int *abort_flag;
};

/*
 * o for the agent configuration c: its CA bundle, proxies and read
 * timeout; everything else at the defaults.
 */
struct config;
void http_opts_from_config(struct http_opts *o, const struct config *c);

int http_new(struct http **out, const struct http_opts *o, struct err *e);
void http_free(struct http *h);	/* NULL-safe */

/*
 * Receives a 2xx response body as it arrives; returns 0 or an AG_* code
 * with e filled (the transfer then stops and http_do returns that code).
 */
typedef int (*http_sink_fn)(void *arg, const void *data, size_t n,
    struct err *e);

struct http_req {
	const char *method;		/* "GET", "HEAD", "PUT", "POST" */
	const char *url;
	enum http_dest dest;
	const char *const *headers;	/* "Name: value" strings, NULL-ended;
					 * may hold secrets, never logged */
	const void *body;		/* request body, or NULL */
	size_t body_len;
	http_sink_fn sink;		/* NULL: 2xx body into resp->body */
	void *sink_arg;
	long timeout_ms;		/* total per attempt; 0: none */
	int max_attempts;		/* 0: the client's; 1: no retry */
	unsigned follow_redirects:1;	/* GitHub -> codeload */
};

struct http_resp {
	long status;			/* last HTTP status; 0: none */
	struct buf body;		/* 2xx body without sink (bounded: a
					 * larger one is AG_EPROTO); non-2xx
					 * bodies, truncated at body.max */
	char etag[256];			/* ETag as sent, quotes kept */
	char content_range[128];
	char content_type[128];
	char version_id[256];		/* x-amz-version-id */
	char bucket_region[64];		/* x-amz-bucket-region */
	char sse[32];			/* x-amz-server-side-encryption */
	char date[64];			/* Date, for clock-skew reports */
	int64_t content_length;		/* -1: not sent */
	uint64_t sink_bytes;		/* body bytes handed to the sink, all
					 * attempts */
	int attempts;			/* tries made */
	char proxy[512];		/* proxy used, redacted; "" direct */
};

void http_resp_init(struct http_resp *r, size_t max_body);
void http_resp_release(struct http_resp *r);

/*
 * Perform rq, retrying as described above. Returns 0 when a response
 * arrived, whatever its status (the caller interprets 4xx/5xx), or
 * AG_ENET (connect, DNS, TLS, proxy, transfer cut), AG_ETIMEOUT (stall or
 * timeout), AG_EPROTO (body too large, bad redirect), AG_EINVAL, or the
 * sink's code. Messages name the method, the redacted URL and the proxy.
 */
int http_do(struct http *h, const struct http_req *rq, struct http_resp *resp,
    struct err *e);

/*
 * The proxy for url going to dest, into out ("" when direct):
 * 169.254.169.254, fd00:ec2::254 and HTTP_DEST_IMDS are always direct;
 * otherwise the per-destination config key, then proxy_uri, then
 * https_proxy/HTTPS_PROXY (https URLs) or http_proxy/HTTP_PROXY, then
 * all_proxy/ALL_PROXY; in every case no_proxy/NO_PROXY can exempt the
 * host. *source (if not NULL) names where it came from, for `doctor`.
 * out may hold credentials: redact it before printing.
 */
int http_proxy_for(const struct http *h, enum http_dest dest, const char *url,
    struct buf *out, const char **source, struct err *e);

/*
 * 1 when host is exempted by the NO_PROXY list: entries separated by
 * commas or blanks, case-insensitive; "*" matches all; "example.com",
 * ".example.com" and "*.example.com" match the domain and its
 * subdomains; IPv4/IPv6 literals match exactly; "10.0.0.0/8" and
 * "fd00::/8" match addresses in the block; a ":port" suffix on an entry
 * is ignored. host may be bracketed IPv6 and may end with '.'.
 */
int http_no_proxy_match(const char *list, const char *host);

/*
 * The CA bundle to use into out and its source ("AWS_SSL_CA_BUNDLE",
 * "SSL_CERT_FILE", "ca_bundle", "system") into *source. AG_EIO when a
 * configured file is unreadable or no system bundle exists.
 */
int http_ca_bundle(const char *cfg_bundle, struct buf *out,
    const char **source, struct err *e);

/* url without user:password@, query string and fragment, into out. */
int http_redact_url(const char *url, struct buf *out);

/* The host of url (no brackets, no port) into out; AG_EINVAL if none. */
int http_url_host(const char *url, struct buf *out);

#endif

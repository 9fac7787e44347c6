/*
 * awsreq.h: one signed AWS API request (JSON 1.1 or Query) over http.c.
 *
 * The Commands API client (cp.c) and registration (register.c) both POST
 * a body to an endpoint, signed with SigV4 under a service name; this is
 * that step, once. The signature, token and secret-bearing headers are
 * wiped after the request.
 */
#ifndef CDAGENT_AWSREQ_H
#define CDAGENT_AWSREQ_H

#include <stddef.h>

struct creds;
struct err;
struct http;
struct http_resp;

/* An endpoint URL split for signing: https://host[:port][/path]. */
struct awsreq_endpoint {
	char *url, *host, *path;	/* owned; path "/" by default */
	const char *region;		/* borrowed: signing region */
	const char *service;		/* borrowed: signing name */
};

/*
 * Fill ep from url (http or https, no query or fragment, no userinfo).
 * Release with awsreq_endpoint_release() whatever the result.
 */
int awsreq_endpoint_set(struct awsreq_endpoint *ep, const char *url,
    const char *region, const char *service, struct err *e);
void awsreq_endpoint_release(struct awsreq_endpoint *ep);

struct awsreq {
	const char *content_type;	/* "application/x-amz-json-1.1", ... */
	const char *target;		/* X-Amz-Target, or NULL */
	const char *extra_header;	/* one more "Name: value", or NULL */
	const char *body;
	size_t body_len;
	long timeout_ms;		/* 0: none */
	int max_attempts;		/* passed to http_do (1: no retry) */
	int dest;			/* enum http_dest: selects the proxy */
};

/*
 * Sign rq for ep with c and POST it. Returns 0 when an HTTP answer came
 * back (resp->status says which), or http_do's error.
 */
int awsreq_post(struct http *h, const struct awsreq_endpoint *ep,
    const struct creds *c, const struct awsreq *rq, struct http_resp *resp,
    struct err *e);

#endif

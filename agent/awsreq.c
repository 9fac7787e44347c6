/* awsreq.c: a SigV4-signed POST; see awsreq.h. */
#include <stdlib.h>
#include <string.h>

#include "awsreq.h"
#include "buf.h"
#include "creds.h"
#include "err.h"
#include "http.h"
#include "platform.h"
#include "sigv4.h"
#include "util.h"
#include "banned.h"

void
awsreq_endpoint_release(struct awsreq_endpoint *ep)
{
	free(ep->url);
	free(ep->host);
	free(ep->path);
	memset(ep, 0, sizeof(*ep));
}

int
awsreq_endpoint_set(struct awsreq_endpoint *ep, const char *url,
    const char *region, const char *service, struct err *e)
{
	const char *p, *slash;

	memset(ep, 0, sizeof(*ep));
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		return err_set(e, AG_EINVAL, "endpoint '%s' is not an "
		    "http(s) URL", url);
	p = strstr(url, "://") + 3;
	slash = strchr(p, '/');
	ep->url = strdup(url);
	ep->host = slash ? strndup(p, (size_t)(slash - p)) : strdup(p);
	ep->path = strdup(slash ? slash : "/");
	if (ep->url == NULL || ep->host == NULL || ep->path == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	if (*ep->host == '\0' || strpbrk(ep->host, "?#@") != NULL ||
	    strchr(ep->path, '?') != NULL)
		return err_set(e, AG_EINVAL, "endpoint '%s': want "
		    "https://host[:port][/path]", url);
	/*
	 * libcurl leaves a default port out of the Host header; the
	 * signature must cover the same Host.
	 */
	if (util_endswith(ep->host, strncmp(url, "https", 5) == 0 ? ":443" :
	    ":80"))
		*strrchr(ep->host, ':') = '\0';
	ep->region = region;
	ep->service = service;
	return 0;
}

int
awsreq_post(struct http *h, const struct awsreq_endpoint *ep,
    const struct creds *c, const struct awsreq *rq, struct http_resp *resp,
    struct err *e)
{
	struct sigv4_header sh[2];
	struct sigv4_req sr;
	struct sigv4_out so;
	struct http_req hr;
	struct strv hdrs = STRV_INIT;
	size_t i;
	int r;

	sigv4_out_init(&so);
	sh[0].name = "Content-Type";
	sh[0].value = rq->content_type;
	sh[1].name = "X-Amz-Target";
	sh[1].value = rq->target;
	memset(&sr, 0, sizeof(sr));
	sr.method = "POST";
	sr.host = ep->host;
	sr.path = ep->path;
	sr.headers = sh;
	sr.nheaders = rq->target != NULL ? 2 : 1;
	sr.body = rq->body;
	sr.body_len = rq->body_len;
	sr.region = ep->region;
	sr.service = ep->service;
	sr.flags = SIGV4_CONTENT_SHA256;
	if ((r = sigv4_sign(&sr, &(struct sigv4_creds){ c->access_key_id,
	    c->secret_access_key, c->session_token }, plat_time_ms() / 1000,
	    &so, e)) != 0)
		goto out;
	if (strv_pushf(&hdrs, "Content-Type: %s", rq->content_type) ||
	    (rq->target != NULL && strv_pushf(&hdrs, "X-Amz-Target: %s",
	    rq->target)) ||
	    strv_pushf(&hdrs, "X-Amz-Date: %s", so.amz_date) ||
	    strv_pushf(&hdrs, "X-Amz-Content-Sha256: %s", so.content_sha256) ||
	    (rq->extra_header != NULL && strv_push(&hdrs, rq->extra_header)) ||
	    (c->session_token != NULL && strv_pushf(&hdrs,
	    "X-Amz-Security-Token: %s", c->session_token)) ||
	    strv_pushf(&hdrs, "Authorization: %s",
	    buf_cstr(&so.authorization))) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	memset(&hr, 0, sizeof(hr));
	hr.method = "POST";
	hr.url = ep->url;
	hr.dest = (enum http_dest)rq->dest;
	hr.headers = (const char *const *)hdrs.v;
	hr.body = rq->body;
	hr.body_len = rq->body_len;
	hr.timeout_ms = rq->timeout_ms;
	hr.max_attempts = rq->max_attempts;
	r = http_do(h, &hr, resp, e);
 out:
	/* the header strings hold the signature and the token */
	for (i = 0; i < hdrs.n; i++)
		util_wipe(hdrs.v[i], strlen(hdrs.v[i]));
	strv_release(&hdrs);
	sigv4_out_release(&so);
	return r;
}

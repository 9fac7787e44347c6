/*
 * cp.c: the Commands API client; see cp.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "awsreq.h"
#include "buf.h"
#include "config.h"
#include "cp.h"
#include "creds.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "platform.h"
#include "util.h"
#include "version.h"
#include "banned.h"

#define CP_BODY_MAX ((size_t)1 << 20)	/* replies are small */

struct cp {
	struct awsreq_endpoint ep;	/* signing name = cp_signing_name() */
	char *region;
	int secure;
	long read_timeout_s;
	struct cp_transport tr;		/* the one in use */
	struct http *http;
	struct creds_provider *creds;
	int has_skew;
	int64_t skew_s;
};

const char *
cp_signing_name(int secure)
{
	return secure ? "codedeploy-commands-secure" : "codedeploy-commands";
}

static const char *
target_prefix(int secure)
{
	return secure ? "CodeDeployCommandService" :
	    "CodeDeployCommandService_v20141006";
}

int
cp_endpoint(const struct config *c, const char *region, struct buf *out,
    struct err *e)
{
	static const char *const fips_regions[] = { "us-east-1", "us-east-2",
	    "us-west-1", "us-west-2", "us-gov-west-1", "us-gov-east-1" };
	const char *domain = "amazonaws.com";
	size_t i;
	int ok = 0;

	buf_reset(out);
	if (c->deploy_control_endpoint != NULL) {
		if (buf_addstr(out, c->deploy_control_endpoint) != 0)
			return err_set(e, AG_ENOMEM, "out of memory");
		return 0;
	}
	if (region == NULL || *region == '\0')
		return err_set(e, AG_EINVAL, "no region: set region in the "
		    "on-premises config or AWS_REGION");
	for (i = 0; region[i] != '\0'; i++)
		if (!islower((unsigned char)region[i]) &&
		    !isdigit((unsigned char)region[i]) && region[i] != '-')
			return err_set(e, AG_EINVAL, "Invalid region: %s",
			    region);
	if (c->use_fips_mode) {
		for (i = 0; i < sizeof(fips_regions) / sizeof(*fips_regions);
		    i++)
			ok |= strcmp(region, fips_regions[i]) == 0;
		if (!ok)
			return err_set(e, AG_EINVAL, "use_fips_mode is only "
			    "available in us-east-1, us-east-2, us-west-1, "
			    "us-west-2, us-gov-west-1 and us-gov-east-1, not "
			    "%s", region);
	}
	if (strncmp(region, "cn-", 3) == 0)
		domain = "amazonaws.com.cn";
	else if (strcmp(region, "eusc-de-east-1") == 0)
		domain = "amazonaws.eu";
	if (buf_addf(out, "https://codedeploy-commands%s%s.%s.%s",
	    c->enable_auth_policy ? "-secure" : "",
	    c->use_fips_mode ? "-fips" : "", region, domain) != 0)
		return err_set(e, AG_ENOMEM, "out of memory");
	return 0;
}

/* The default transport: SigV4 over http.c. */
static int
sigv4_post(void *arg, const char *target, const char *body, size_t len,
    long timeout_ms, struct cp_reply *reply, struct err *e)
{
	struct cp *c = arg;
	struct http_resp resp;
	struct awsreq rq;
	struct creds cr;
	char vh[128];
	int r;

	memset(&cr, 0, sizeof(cr));
	http_resp_init(&resp, CP_BODY_MAX);
	if ((r = creds_get(c->creds, &cr, e)) != 0)
		goto out;
	snprintf(vh, sizeof(vh), "x-amz-codedeploy-agent-version: %s",
	    version_agent_string());
	memset(&rq, 0, sizeof(rq));
	rq.content_type = "application/x-amz-json-1.1";
	rq.target = target;
	rq.extra_header = vh;
	rq.body = body;
	rq.body_len = len;
	rq.timeout_ms = timeout_ms;
	rq.max_attempts = 1;
	rq.dest = HTTP_DEST_CONTROL;
	r = awsreq_post(c->http, &c->ep, &cr, &rq, &resp, e);
	reply->status = resp.status;
	snprintf(reply->date, sizeof(reply->date), "%s", resp.date);
	if (resp.status != 0) {
		buf_reset(&reply->body);
		if (buf_add(&reply->body, buf_cstr(&resp.body),
		    resp.body.len) != 0) {
			r = err_set(e, AG_EPROTO, "reply too large");
			goto out;
		}
		r = 0;	/* an HTTP answer: the caller reads the status */
	}
 out:
	http_resp_release(&resp);
	creds_release(&cr);
	return r;
}

int
cp_new(struct cp **out, const struct cp_opts *o, struct err *e)
{
	struct cp *c;
	int r;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	c->secure = o->secure;
	c->read_timeout_s = o->read_timeout_s > 0 ? o->read_timeout_s : 80;
	c->http = o->http;
	c->creds = o->creds;
	if ((c->region = strdup(o->region ? o->region : "")) == NULL) {
		cp_free(c);
		return err_set(e, AG_ENOMEM, "out of memory");
	}
	if ((r = awsreq_endpoint_set(&c->ep, o->endpoint, c->region,
	    cp_signing_name(c->secure), e)) != 0) {
		err_prefix(e, "control plane");
		cp_free(c);
		return r;
	}
	if (o->transport != NULL) {
		c->tr = *o->transport;
	} else {
		c->tr.post = sigv4_post;
		c->tr.arg = c;
	}
	*out = c;
	return 0;
}

void
cp_free(struct cp *c)
{
	if (c == NULL)
		return;
	awsreq_endpoint_release(&c->ep);
	free(c->region);
	free(c);
}

/* "Wed, 26 Nov 2026 03:31:22 GMT" -> epoch seconds, or -1. */
static int64_t
parse_http_date(const char *s)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char mon[4];
	int d, y, hh, mm, ss;
	struct tm tm;
	const char *m;

	if (sscanf(s, "%*3s, %d %3s %d %d:%d:%d", &d, mon, &y, &hh, &mm,
	    &ss) != 6 || (m = strstr(months, mon)) == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_mday = d;
	tm.tm_mon = (int)((m - months) / 3);
	tm.tm_year = y - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	return (int64_t)timegm(&tm);
}

/*
 * One operation: POST the request object, return the parsed reply object
 * (NULL for an empty body) or an error naming the service's error type.
 */
static int
call(struct cp *c, const char *op, json_t *req, long timeout_ms,
    json_t **reply_out, struct err *e)
{
	struct cp_reply reply;
	char target[128], *body = NULL;
	json_t *rj = NULL;
	json_error_t je;
	int64_t t;
	int r;

	*reply_out = NULL;
	memset(&reply, 0, sizeof(reply));
	buf_init(&reply.body, CP_BODY_MAX);
	snprintf(target, sizeof(target), "%s.%s", target_prefix(c->secure),
	    op);
	if ((body = json_dumps(req, JSON_COMPACT)) == NULL) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	r = c->tr.post(c->tr.arg, target, body, strlen(body), timeout_ms,
	    &reply, e);
	if (r != 0) {
		if (r != AG_ENOMEM)
			err_prefix(e, "%s", op);
		goto out;
	}
	if (reply.date[0] != '\0' && (t = parse_http_date(reply.date)) > 0) {
		c->skew_s = t - plat_time_ms() / 1000;
		c->has_skew = 1;
	}
	if (reply.body.len > 0)
		rj = json_loadb(buf_cstr(&reply.body), reply.body.len, 0, &je);
	if (reply.status < 200 || reply.status > 299) {
		const char *type = NULL, *msg = NULL, *h;

		if (json_is_object(rj)) {
			type = json_string_value(json_object_get(rj,
			    "__type"));
			msg = json_string_value(json_object_get(rj, "message"));
			if (msg == NULL)
				msg = json_string_value(json_object_get(rj,
				    "Message"));
		}
		if (type != NULL && (h = strrchr(type, '#')) != NULL)
			type = h + 1;
		if (type == NULL)
			type = reply.status == 429 ? "ThrottlingException" :
			    reply.status >= 500 ? "ServerException" :
			    "ClientException";
		r = err_set(e, AG_EPROTO, "%s: %s: %s (HTTP %ld)", op, type,
		    msg ? msg : "no message", reply.status);
		if (strstr(type, "InvalidSignature") != NULL && c->has_skew &&
		    (c->skew_s > 60 || c->skew_s < -60))
			log_error("the clock is %lld s %s the control plane's "
			    "(Date header): fix the time (NTP) on this host",
			    (long long)(c->skew_s < 0 ? -c->skew_s : c->skew_s),
			    c->skew_s < 0 ? "ahead of" : "behind");
		goto out;
	}
	if (reply.body.len > 0 && !json_is_object(rj)) {
		r = err_set(e, AG_EPROTO, "%s: reply is not a JSON object", op);
		goto out;
	}
	*reply_out = rj;
	rj = NULL;	/* transferred */
	r = 0;
 out:
	json_decref(rj);
	free(body);
	buf_release(&reply.body);
	return r;
}

enum cp_error_kind
cp_error_kind(int code, const struct err *e)
{
	if (code == AG_ENET)
		return CP_ERR_NETWORK;
	if (code != AG_EPROTO)
		return CP_ERR_CLIENT;
	if (strstr(e->msg, "Throttl") != NULL ||
	    strstr(e->msg, "(HTTP 429)") != NULL ||
	    strstr(e->msg, "RequestLimitExceeded") != NULL)
		return CP_ERR_THROTTLE;
	if (strstr(e->msg, "AccessDenied") != NULL ||
	    strstr(e->msg, "InvalidSignature") != NULL ||
	    strstr(e->msg, "UnrecognizedClient") != NULL ||
	    strstr(e->msg, "ExpiredToken") != NULL ||
	    strstr(e->msg, "MissingAuthenticationToken") != NULL)
		return CP_ERR_AUTH;
	if (strstr(e->msg, "(HTTP 5") != NULL)
		return CP_ERR_SERVER;
	return CP_ERR_CLIENT;
}

int
cp_last_skew(const struct cp *c, int64_t *skew_s)
{
	if (!c->has_skew)
		return 0;
	*skew_s = c->skew_s;
	return 1;
}

void
cp_command_free(struct cp_command *c)
{
	if (c == NULL)
		return;
	free(c->host_command_id);
	free(c->host_id);
	free(c->execution_id);
	free(c->name);
	free(c);
}

static char *
dup_member(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? strdup(s) : NULL;
}

int
cp_poll(struct cp *c, const char *host_id, struct cp_command **out,
    struct err *e)
{
	struct cp_command *cmd = NULL;
	json_t *req, *rep = NULL, *hc;
	int r;

	*out = NULL;
	if ((req = json_pack("{s:s}", "HostIdentifier", host_id)) == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	r = call(c, "PollHostCommand", req, c->read_timeout_s * 1000, &rep, e);
	json_decref(req);
	if (r != 0)
		return r;
	hc = json_object_get(rep, "HostCommand");
	if (hc == NULL || json_is_null(hc))
		goto out;
	if (!json_is_object(hc)) {
		r = err_set(e, AG_EPROTO, "PollHostCommand: HostCommand is "
		    "not an object");
		goto out;
	}
	if ((cmd = calloc(1, sizeof(*cmd))) == NULL) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	cmd->host_command_id = dup_member(hc, "HostCommandIdentifier");
	cmd->host_id = dup_member(hc, "HostIdentifier");
	cmd->execution_id = dup_member(hc, "DeploymentExecutionId");
	cmd->name = dup_member(hc, "CommandName");
	cmd->nonce = json_integer_value(json_object_get(hc, "Nonce"));
	if (cmd->host_command_id == NULL || cmd->execution_id == NULL) {
		r = err_set(e, AG_EPROTO, "PollHostCommand: the command lacks "
		    "HostCommandIdentifier or DeploymentExecutionId");
		goto out;
	}
	*out = cmd;
	cmd = NULL;	/* transferred */
 out:
	cp_command_free(cmd);
	json_decref(rep);
	return r;
}

int
cp_get_spec(struct cp *c, const char *execution_id, const char *host_id,
    char **format, char **payload, struct err *e)
{
	json_t *req, *rep = NULL, *env;
	const char *sys, *f, *p;
	int r;

	*format = *payload = NULL;
	req = json_pack("{s:s, s:s}", "DeploymentExecutionId", execution_id,
	    "HostIdentifier", host_id);
	if (req == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	r = call(c, "GetDeploymentSpecification", req, 60000, &rep, e);
	json_decref(req);
	if (r != 0)
		return r;
	sys = json_string_value(json_object_get(rep, "DeploymentSystem"));
	if (sys == NULL || strcmp(sys, "CodeDeploy") != 0) {
		r = err_set(e, AG_EPROTO, "Deployment System mismatch: "
		    "CodeDeploy != %s", sys ? sys : "");
		goto out;
	}
	env = json_object_get(json_object_get(rep, "DeploymentSpecification"),
	    "GenericEnvelope");
	f = json_string_value(json_object_get(env, "Format"));
	p = json_string_value(json_object_get(env, "Payload"));
	if (f == NULL || p == NULL) {
		r = err_set(e, AG_EPROTO, "Deployment Specification missing");
		goto out;
	}
	if ((*format = strdup(f)) == NULL || (*payload = strdup(p)) == NULL) {
		free(*format);
		*format = NULL;
		r = err_set(e, AG_ENOMEM, "out of memory");
	}
 out:
	json_decref(rep);
	return r;
}

int
cp_ack(struct cp *c, const char *host_command_id, int noop, char status[16],
    struct err *e)
{
	json_t *req, *rep = NULL;
	const char *s;
	char payload[32];
	int r;

	status[0] = '\0';
	snprintf(payload, sizeof(payload), "{\"IsCommandNoop\":%s}",
	    noop ? "true" : "false");
	req = json_pack("{s:s, s:{s:s, s:s}}", "HostCommandIdentifier",
	    host_command_id, "Diagnostics", "Format", "JSON", "Payload",
	    payload);
	if (req == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	r = call(c, "PutHostCommandAcknowledgement", req, 60000, &rep, e);
	json_decref(req);
	if (r != 0)
		return r;
	s = json_string_value(json_object_get(rep, "CommandStatus"));
	if (s != NULL)
		snprintf(status, 16, "%s", s);
	json_decref(rep);
	return 0;
}

int
cp_complete(struct cp *c, const char *host_command_id, const char *status,
    const char *payload, struct err *e)
{
	json_t *req, *rep = NULL;
	int r;

	req = json_pack("{s:s, s:s, s:{s:s, s:s}}", "HostCommandIdentifier",
	    host_command_id, "CommandStatus", status, "Diagnostics", "Format",
	    "JSON", "Payload", payload);
	if (req == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	r = call(c, "PutHostCommandComplete", req, 60000, &rep, e);
	json_decref(req);
	json_decref(rep);
	return r;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t len, i;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) { len = 2; cp = p[0] & 0x1fu; }
	else if ((p[0] & 0xf0) == 0xe0) { len = 3; cp = p[0] & 0x0fu; }
	else if ((p[0] & 0xf8) == 0xf0) { len = 4; cp = p[0] & 0x07u; }
	else return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3fu);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* s as valid UTF-8 (bad bytes become U+FFFD), from byte skip on. */
static int
utf8_clean(const char *s, size_t n, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, l;

	buf_reset(out);
	while (i < n) {
		l = utf8_len(p + i, n - i);
		if (l == 0) {
			if (buf_addstr(out, "\xef\xbf\xbd") != 0)
				return AG_ENOMEM;
			i++;
			continue;
		}
		if (buf_add(out, p + i, l) != 0)
			return AG_ENOMEM;
		i += l;
	}
	return 0;
}

/* Characters (code points) of valid UTF-8 text. */
static size_t
utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Cut k bytes off the end (or the front) of b on a character boundary. */
static void
utf8_cut(struct buf *b, size_t k, int front)
{
	size_t n;

	if (k >= b->len) {
		buf_reset(b);
		return;
	}
	if (front) {
		n = k;
		while (n < b->len && ((unsigned char)b->ptr[n] & 0xc0) == 0x80)
			n++;
		buf_consume(b, n);
	} else {
		n = b->len - k;
		while (n > 0 && ((unsigned char)b->ptr[n] & 0xc0) == 0x80)
			n--;
		buf_truncate(b, n);
	}
}

#define CP_PAYLOAD_MAX 8192

int
cp_diagnostics(int error_code, const char *script_name, const char *message,
    const char *log, struct buf *out)
{
	struct buf sn = BUF_INIT(CP_PAYLOAD_MAX), msg = BUF_INIT(1 << 20);
	struct buf lg = BUF_INIT(1 << 20);
	json_t *o = NULL;
	char *s = NULL;
	size_t len, excess;
	int r = AG_ENOMEM, guard;

	if (utf8_clean(script_name, strlen(script_name), &sn) ||
	    utf8_clean(message, strlen(message), &msg) ||
	    utf8_clean(log, strlen(log), &lg))
		goto out;
	for (guard = 0; guard < 64; guard++) {
		json_decref(o);
		free(s);
		s = NULL;
		o = json_object();
		if (o == NULL ||
		    json_object_set_new(o, "error_code",
		    json_integer(error_code)) ||
		    json_object_set_new(o, "script_name",
		    json_string(buf_cstr(&sn))) ||
		    json_object_set_new(o, "message",
		    json_string(buf_cstr(&msg))) ||
		    json_object_set_new(o, "log", json_string(buf_cstr(&lg))))
			goto out;
		if ((s = json_dumps(o, JSON_COMPACT)) == NULL)
			goto out;
		if ((len = utf8_chars(s)) <= CP_PAYLOAD_MAX)
			break;
		/* the escaped form can be up to 6 bytes a character */
		excess = len - CP_PAYLOAD_MAX;
		if (msg.len > 0)
			utf8_cut(&msg, excess, 0);
		else if (lg.len > 0)
			utf8_cut(&lg, excess, 1);
		else
			utf8_cut(&sn, excess, 0);
	}
	buf_reset(out);
	r = buf_addstr(out, s);
 out:
	json_decref(o);
	free(s);
	buf_release(&sn);
	buf_release(&msg);
	buf_release(&lg);
	return r;
}

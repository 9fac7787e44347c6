/*
 * creds.c: credentials and region; see creds.h.
 *
 * The provider caches one set of credentials and decides on each
 * creds_get() whether to reload: a session file is stat()ed every time
 * (cheap) and re-read when its mtime or size changed; IMDS credentials are
 * re-fetched 5 minutes before they expire.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "buf.h"
#include "config.h"
#include "creds.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "platform.h"
#include "util.h"
#include "banned.h"

#define IMDS_DEFAULT "http://169.254.169.254"
#define IMDS_TIMEOUT_MS 5000
#define REFRESH_EARLY_MS (5 * 60 * 1000)
#define FILE_REREAD_MS (30 * 60 * 1000)

struct creds_provider {
	const struct onprem *op;
	unsigned flags;
	struct http *http;
	struct creds cur;		/* cached; access_key_id NULL: none */
	struct timespec file_mtime;
	off_t file_size;
	int64_t file_read_ms;
	char *imds_token;		/* owned secret */
	int64_t imds_token_ms;		/* when fetched */
	int imds_v1;			/* token PUT failed, v1 allowed */
};

void
creds_release(struct creds *c)
{
	util_free_secret(c->access_key_id);
	util_free_secret(c->secret_access_key);
	util_free_secret(c->session_token);
	c->access_key_id = c->secret_access_key = c->session_token = NULL;
	c->expires_ms = 0;
}

int
creds_copy(struct creds *dst, const struct creds *src, struct err *e)
{
	memset(dst, 0, sizeof(*dst));
	dst->expires_ms = src->expires_ms;
	dst->source = src->source;
	if ((dst->access_key_id = util_strdup(src->access_key_id)) == NULL ||
	    (dst->secret_access_key = util_strdup(src->secret_access_key)) ==
	    NULL || (src->session_token != NULL &&
	    (dst->session_token = util_strdup(src->session_token)) == NULL)) {
		creds_release(dst);
		return err_set(e, AG_ENOMEM, "credentials: out of memory");
	}
	return 0;
}

const char *
creds_imds_endpoint(void)
{
	const char *v = getenv("CDAGENT_IMDS_ENDPOINT");

	return v != NULL && *v != '\0' ? v : IMDS_DEFAULT;
}

int
creds_provider_new(struct creds_provider **out, const struct onprem *op,
    unsigned flags, struct http *h, struct err *e)
{
	struct creds_provider *p;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return err_set(e, AG_ENOMEM, "credentials: out of memory");
	p->op = op;
	p->flags = flags;
	p->http = h;
	*out = p;
	return 0;
}

void
creds_provider_free(struct creds_provider *p)
{
	if (p == NULL)
		return;
	creds_release(&p->cur);
	util_free_secret(p->imds_token);
	free(p);
}

/* ---- shared-credentials file ------------------------------------------- */

static char *
trimdup(const char *s, size_t n)
{
	char *r;

	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
	    s[n - 1] == '\r'))
		n--;
	if ((r = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

int
creds_parse_shared(const char *text, const char *profile, struct creds *out,
    struct err *e)
{
	const char *p = text;
	int in = 0;
	char *sec = NULL, *k = NULL, *v = NULL;

	memset(out, 0, sizeof(*out));
	while (*p != '\0') {
		size_t n = strcspn(p, "\n");
		const char *line = p, *eq;

		p += n;
		if (*p == '\n')
			p++;
		while (n > 0 && (*line == ' ' || *line == '\t')) {
			line++;
			n--;
		}
		if (n == 0 || *line == '#' || *line == ';')
			continue;
		if (*line == '[') {
			const char *rb = memchr(line, ']', n);

			if (rb == NULL)
				continue;
			if ((sec = trimdup(line + 1, (size_t)(rb - line - 1))) ==
			    NULL)
				goto nomem;
			/* "[profile x]" is the config-file spelling */
			in = strcmp(sec, profile) == 0 ||
			    (strncmp(sec, "profile ", 8) == 0 &&
			    strcmp(sec + 8, profile) == 0);
			free(sec);
			sec = NULL;
			continue;
		}
		if (!in || (eq = memchr(line, '=', n)) == NULL)
			continue;
		if ((k = trimdup(line, (size_t)(eq - line))) == NULL ||
		    (v = trimdup(eq + 1, n - (size_t)(eq - line) - 1)) == NULL)
			goto nomem;
		if (strcmp(k, "aws_access_key_id") == 0) {
			util_free_secret(out->access_key_id);
			out->access_key_id = v;
		} else if (strcmp(k, "aws_secret_access_key") == 0) {
			util_free_secret(out->secret_access_key);
			out->secret_access_key = v;
		} else if (strcmp(k, "aws_session_token") == 0) {
			util_free_secret(out->session_token);
			out->session_token = v;
		} else {
			util_free_secret(v);
		}
		v = NULL;
		free(k);
		k = NULL;
	}
	if (out->access_key_id == NULL || out->secret_access_key == NULL ||
	    *out->access_key_id == '\0' || *out->secret_access_key == '\0') {
		creds_release(out);
		return err_set(e, AG_EINVAL, "profile %s has no "
		    "aws_access_key_id and aws_secret_access_key", profile);
	}
	out->source = "file";
	return 0;
 nomem:
	free(k);
	util_free_secret(v);
	creds_release(out);
	return err_set(e, AG_ENOMEM, "credentials: out of memory");
}

static int
load_file(struct creds_provider *p, const char *path, struct err *e)
{
	struct buf text = BUF_INIT(1 << 20);
	struct creds c;
	struct stat st;
	const char *profile = getenv("AWS_PROFILE");
	int64_t now = plat_clock_ms();
	int r;

	if (profile == NULL || *profile == '\0')
		profile = "default";
	if (stat(path, &st) != 0)
		return err_set(e, AG_EIO, "failed to load credentials from "
		    "path %s: %s", path, strerror(errno));
	if (p->cur.access_key_id != NULL &&
	    st.st_mtim.tv_sec == p->file_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == p->file_mtime.tv_nsec &&
	    st.st_size == p->file_size && now - p->file_read_ms <
	    FILE_REREAD_MS)
		return 0;
	if (st.st_mode & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH))
		log_warn("credentials file %s is accessible by group or "
		    "others (mode %03o); make it 0600", path,
		    (unsigned)(st.st_mode & 0777));
	if ((r = buf_read_file(&text, path, e)) != 0) {
		buf_release_secret(&text);
		return err_prefix(e, "failed to load credentials from path %s",
		    path);
	}
	r = creds_parse_shared(buf_cstr(&text), profile, &c, e);
	buf_release_secret(&text);
	if (r != 0)
		return err_prefix(e, "credentials file %s", path);
	creds_release(&p->cur);
	p->cur = c;
	p->file_mtime = st.st_mtim;
	p->file_size = st.st_size;
	p->file_read_ms = now;
	log_info("loaded credentials from %s (profile %s)", path, profile);
	return 0;
}

/* ---- IMDS ------------------------------------------------------------------ */

static int
imds_token(struct creds_provider *p, struct err *e)
{
	static const char *const hdrs[] = {
		"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL };
	struct http_req rq = { .method = "PUT", .dest = HTTP_DEST_IMDS,
	    .headers = hdrs, .timeout_ms = IMDS_TIMEOUT_MS,
	    .max_attempts = 2 };
	struct http_resp resp;
	struct buf url = BUF_INIT(4096);
	int r;

	/* a 6 h token, renewed after 5 h */
	if (p->imds_token != NULL &&
	    plat_clock_ms() - p->imds_token_ms < 5 * 3600 * 1000)
		return 0;
	if (p->imds_v1)
		return 0;
	http_resp_init(&resp, 4096);
	if ((r = buf_addf(&url, "%s/latest/api/token",
	    creds_imds_endpoint())) != 0)
		goto out;
	rq.url = buf_cstr(&url);
	r = http_do(p->http, &rq, &resp, e);
	if (r == 0 && resp.status == 200 && resp.body.len > 0) {
		util_free_secret(p->imds_token);
		if ((p->imds_token = util_strdup(buf_cstr(&resp.body))) == NULL) {
			r = err_set(e, AG_ENOMEM, "imds: out of memory");
			goto out;
		}
		p->imds_token_ms = plat_clock_ms();
		goto out;
	}
	if (r == 0)
		r = err_set(e, AG_ENET, "instance metadata token request: "
		    "HTTP %ld", resp.status);
	if (p->flags & CREDS_NO_IMDS_V1) {
		err_prefix(e, "IMDSv2 failed and :disable_imds_v1: is set");
		goto out;
	}
	log_warn("IMDSv2 token failed (%s); falling back to IMDSv1", e->msg);
	p->imds_v1 = 1;
	r = 0;
 out:
	buf_release_secret(&resp.body);
	http_resp_release(&resp);
	buf_release(&url);
	return r;
}

/* GET an IMDS path into body (bounded), with one token refresh on 401. */
static int
imds_get(struct creds_provider *p, const char *path, struct buf *body,
    struct err *e)
{
	struct buf url = BUF_INIT(4096), th = BUF_INIT(4096);
	struct http_resp resp;
	int r, tries;

	http_resp_init(&resp, 64 * 1024);
	if ((r = buf_addf(&url, "%s%s", creds_imds_endpoint(), path)) != 0)
		goto out;
	for (tries = 0; tries < 2; tries++) {
		const char *hdrs[2] = { NULL, NULL };
		struct http_req rq = { .method = "GET", .url = buf_cstr(&url),
		    .dest = HTTP_DEST_IMDS, .headers = hdrs,
		    .timeout_ms = IMDS_TIMEOUT_MS, .max_attempts = 3 };

		if ((r = imds_token(p, e)) != 0)
			goto out;
		buf_reset(&th);
		if (p->imds_token != NULL) {
			if ((r = buf_addf(&th, "X-aws-ec2-metadata-token: %s",
			    p->imds_token)) != 0)
				goto out;
			hdrs[0] = buf_cstr(&th);
		}
		if ((r = http_do(p->http, &rq, &resp, e)) != 0) {
			err_prefix(e, "instance metadata");
			goto out;
		}
		if (resp.status == 401 && p->imds_token != NULL) {
			util_free_secret(p->imds_token);
			p->imds_token = NULL;
			continue;
		}
		break;
	}
	if (resp.status != 200) {
		r = err_set(e, AG_ENET, "instance metadata %s: HTTP %ld", path,
		    resp.status);
		goto out;
	}
	buf_reset(body);
	r = buf_add(body, resp.body.ptr != NULL ? resp.body.ptr : "",
	    resp.body.len);
	if (r != 0)
		r = err_set(e, r, "instance metadata %s: too large", path);
 out:
	buf_release_secret(&resp.body);
	http_resp_release(&resp);
	buf_release(&url);
	buf_release_secret(&th);
	return r;
}

static int64_t
parse_iso8601_ms(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || (end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) ==
	    NULL)
		return 0;
	return (int64_t)timegm(&tm) * 1000;
}

int
creds_imds_get(struct creds_provider *p, const char *path, struct buf *body,
    struct err *e)
{
	return imds_get(p, path, body, e);
}

static int
load_imds(struct creds_provider *p, struct err *e)
{
	struct buf body = BUF_INIT(64 * 1024), path = BUF_INIT(4096);
	const char *ak, *sk, *tok = NULL, *code = NULL, *exp = NULL;
	json_t *j = NULL;
	json_error_t je;
	struct creds c;
	size_t n;
	int r;

	if (p->http == NULL)
		return err_set(e, AG_EINVAL, "no http client for IMDS");
	if ((r = imds_get(p, "/latest/meta-data/iam/security-credentials/",
	    &body, e)) != 0) {
		err_prefix(e, "no instance profile credentials");
		goto out;
	}
	n = strcspn(buf_cstr(&body), "\r\n");
	if (n == 0) {
		r = err_set(e, AG_EINVAL, "no IAM role attached to this "
		    "instance");
		goto out;
	}
	if ((r = buf_addstr(&path, "/latest/meta-data/iam/security-"
	    "credentials/")) != 0 || (r = buf_add(&path, body.ptr, n)) != 0)
		goto out;
	if ((r = imds_get(p, buf_cstr(&path), &body, e)) != 0)
		goto out;
	if ((j = json_loadb(body.ptr, body.len, 0, &je)) == NULL ||
	    json_unpack_ex(j, &je, 0, "{s:s, s:s, s?s, s?s, s?s}",
	    "AccessKeyId", &ak, "SecretAccessKey", &sk, "Token", &tok,
	    "Code", &code, "Expiration", &exp) != 0) {
		r = err_set(e, AG_EPROTO, "instance metadata role "
		    "credentials: %s", je.text);
		goto out;
	}
	if (code != NULL && strcmp(code, "Success") != 0) {
		r = err_set(e, AG_ENET, "instance metadata role credentials: "
		    "Code %s", code);
		goto out;
	}
	memset(&c, 0, sizeof(c));
	c.source = "imds";
	c.expires_ms = parse_iso8601_ms(exp);
	if ((c.access_key_id = util_strdup(ak)) == NULL ||
	    (c.secret_access_key = util_strdup(sk)) == NULL ||
	    (tok != NULL && (c.session_token = util_strdup(tok)) == NULL)) {
		creds_release(&c);
		r = err_set(e, AG_ENOMEM, "credentials: out of memory");
		goto out;
	}
	creds_release(&p->cur);
	p->cur = c;
	log_info("instance profile credentials refreshed");
 out:
	if (j != NULL) {
		/* the parsed tree holds the secret too: wipe its strings */
		json_t *v;

		if ((v = json_object_get(j, "SecretAccessKey")) != NULL &&
		    json_is_string(v))
			util_wipe((void *)json_string_value(v),
			    json_string_length(v));
		if ((v = json_object_get(j, "Token")) != NULL &&
		    json_is_string(v))
			util_wipe((void *)json_string_value(v),
			    json_string_length(v));
		json_decref(j);
	}
	buf_release_secret(&body);
	buf_release(&path);
	return r;
}

/* ---- the chain ------------------------------------------------------------- */

static int
set_static(struct creds_provider *p, const char *ak, const char *sk,
    const char *tok, const char *source, struct err *e)
{
	struct creds c = { NULL, NULL, NULL, 0, source };

	if (p->cur.access_key_id != NULL && strcmp(p->cur.source, source) == 0)
		return 0;
	c.access_key_id = (char *)ak;
	c.secret_access_key = (char *)sk;
	c.session_token = (char *)(tok != NULL && *tok != '\0' ? tok : NULL);
	creds_release(&p->cur);
	return creds_copy(&p->cur, &c, e);
}

int
creds_get(struct creds_provider *p, struct creds *out, struct err *e)
{
	const struct onprem *op = p->op;
	const char *ak, *sk;
	int r;

	memset(out, 0, sizeof(*out));
	if (op != NULL && op->iam_session_arn != NULL) {
		if (op->aws_credentials_file == NULL)
			return err_set(e, AG_EINVAL, "on-premises session "
			    "mode needs aws_credentials_file");
		r = load_file(p, op->aws_credentials_file, e);
	} else if (op != NULL && op->aws_access_key_id != NULL &&
	    op->aws_secret_access_key != NULL) {
		r = set_static(p, op->aws_access_key_id,
		    op->aws_secret_access_key, NULL, "onprem", e);
	} else if ((p->flags & CREDS_ENV) &&
	    (ak = getenv("AWS_ACCESS_KEY_ID")) != NULL && *ak != '\0' &&
	    (sk = getenv("AWS_SECRET_ACCESS_KEY")) != NULL && *sk != '\0') {
		/* re-copied each time: the environment may change */
		creds_release(&p->cur);
		r = set_static(p, ak, sk, getenv("AWS_SESSION_TOKEN"), "env",
		    e);
	} else if (p->flags & CREDS_IMDS) {
		r = 0;
		if (p->cur.access_key_id == NULL || (p->cur.expires_ms != 0 &&
		    plat_time_ms() >= p->cur.expires_ms - REFRESH_EARLY_MS))
			r = load_imds(p, e);
		if (r != 0 && p->cur.access_key_id != NULL &&
		    plat_time_ms() < p->cur.expires_ms) {
			/* still valid: keep going, try again next time */
			log_warn("credential refresh failed, using the current "
			    "ones until they expire: %s", e->msg);
			r = 0;
		}
	} else {
		return err_set(e, AG_EINVAL, "no AWS credentials: no "
		    "on-premises config%s", (p->flags & CREDS_ENV) ?
		    " and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY not set" :
		    "");
	}
	if (r != 0)
		return r;
	return creds_copy(out, &p->cur, e);
}

int
creds_region(struct creds_provider *p, struct buf *out, struct err *e)
{
	struct buf doc = BUF_INIT(64 * 1024);
	const char *v, *reg = NULL;
	json_t *j = NULL;
	json_error_t je;
	int r;

	if (p->op != NULL && p->op->region != NULL && *p->op->region != '\0')
		return buf_setstr(out, p->op->region);
	if ((v = getenv("AWS_REGION")) != NULL && *v != '\0')
		return buf_setstr(out, v);
	if (!(p->flags & CREDS_IMDS) || p->http == NULL)
		return err_set(e, AG_EINVAL, "no region: set AWS_REGION or "
		    "region in the on-premises config");
	if ((r = imds_get(p, "/latest/dynamic/instance-identity/document",
	    &doc, e)) != 0)
		goto out;
	if ((j = json_loadb(doc.ptr, doc.len, 0, &je)) == NULL ||
	    json_unpack_ex(j, &je, 0, "{s:s}", "region", &reg) != 0) {
		r = err_set(e, AG_EPROTO, "instance identity document: %s",
		    je.text);
		goto out;
	}
	r = buf_setstr(out, reg);
 out:
	json_decref(j);
	buf_release(&doc);
	return r;
}

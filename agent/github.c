/*
 * github.c: a GitHub revision to a file (reference §12.2); see github.h.
 *
 * The retry schedule is the Ruby agent's, not http.c's: every request is
 * made with max_attempts 1 and this file sleeps 10, 30, 90 s between
 * whole downloads, so the error text can list every status seen.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curlver.h>
#include <mbedtls/sha256.h>

#include "buf.h"
#include "err.h"
#include "github.h"
#include "http.h"
#include "log.h"
#include "platform.h"
#include "util.h"
#include "version.h"
#include "banned.h"

/*
 * Since 7.58 libcurl keeps a custom Authorization header from other hosts
 * on redirects, since 7.83 also from other ports and schemes (CVE-2022-
 * 27776). The token's safety on the codeload redirect rests on that.
 */
#if LIBCURL_VERSION_NUM < 0x075300
#error "libcurl >= 7.83 needed: older ones forward Authorization on redirects"
#endif

#define RETRY_BASE_DEFAULT_MS 10000L

const char *
github_status_text(long status)
{
	static const struct {
		long code;
		const char *text;
	} t[] = {
		{ 300, "Multiple Choices" }, { 301, "Moved Permanently" },
		{ 302, "Found" }, { 303, "See Other" },
		{ 304, "Not Modified" }, { 307, "Temporary Redirect" },
		{ 308, "Permanent Redirect" }, { 400, "Bad Request" },
		{ 401, "Unauthorized" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" },
		{ 406, "Not Acceptable" }, { 408, "Request Timeout" },
		{ 409, "Conflict" }, { 410, "Gone" },
		{ 415, "Unsupported Media Type" },
		{ 422, "Unprocessable Entity" }, { 429, "Too Many Requests" },
		{ 451, "Unavailable For Legal Reasons" },
		{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].code == status)
			return t[i].text;
	return "";
}

int
github_format_from_bundle_type(const char *bundle_type,
    enum github_format *out, struct err *e)
{
	if (bundle_type != NULL && strcmp(bundle_type, "tar") == 0)
		*out = GITHUB_TARBALL;
	else if (bundle_type != NULL && strcmp(bundle_type, "zip") == 0)
		*out = GITHUB_ZIPBALL;
	else
		return err_set(e, AG_EINVAL, "GitHub revision specified with "
		    "bundle_type other than zip or tar");
	return 0;
}

/*
 * Append one path segment, percent-encoded; '/' passes when allow_slash
 * (a ref such as "release/1.2"), but no piece may be "", "." or "..".
 */
static int
add_segment(struct buf *out, const char *what, const char *s, int allow_slash,
    struct err *e)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *p, *piece;
	size_t n;

	if (s == NULL || *s == '\0')
		return err_set(e, AG_EINVAL, "GitHub revision: %s is empty",
		    what);
	for (piece = s;; piece = p + 1) {
		p = allow_slash ? strchr(piece, '/') : NULL;
		n = p != NULL ? (size_t)(p - piece) : strlen(piece);
		if (n == 0 || (n == 1 && piece[0] == '.') ||
		    (n == 2 && piece[0] == '.' && piece[1] == '.'))
			return err_set(e, AG_EINVAL, "GitHub revision: %s '%s' "
			    "is not a valid path segment", what, s);
		if (p == NULL)
			break;
	}
	if (buf_addch(out, '/') != 0)
		return err_set(e, AG_ENOMEM, "out of memory");
	for (p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		int r;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~' || (allow_slash && c == '/'))
			r = buf_addch(out, (char)c);
		else
			r = buf_addf(out, "%%%c%c", hex[c >> 4], hex[c & 15]);
		if (r != 0)
			return err_set(e, AG_ENOMEM, "out of memory");
	}
	return 0;
}

int
github_archive_url(const struct github_fetch_req *rq, struct buf *out,
    struct err *e)
{
	const char *base = rq->api_base;
	size_t n;
	int r;

	if (base == NULL || *base == '\0')
		base = getenv("CDAGENT_GITHUB_API");
	if (base == NULL || *base == '\0')
		base = GITHUB_API_DEFAULT;
	if (strncasecmp(base, "https://", 8) != 0 || base[8] == '\0' ||
	    base[8] == '/')
		return err_set(e, AG_EINVAL, "GitHub API base %s is not an "
		    "https:// URL", base);
	if (strpbrk(base, "?#@") != NULL)
		return err_set(e, AG_EINVAL, "GitHub API base %s must not "
		    "carry credentials, a query or a fragment", base);
	for (n = strlen(base); n > 8 && base[n - 1] == '/'; n--)
		;
	buf_reset(out);
	if (buf_add(out, base, n) != 0 || buf_addstr(out, "/repos") != 0)
		return err_set(e, AG_ENOMEM, "out of memory");
	if ((r = add_segment(out, "Account", rq->account, 0, e)) != 0 ||
	    (r = add_segment(out, "Repository", rq->repo, 0, e)) != 0)
		return r;
	if (buf_addstr(out, rq->format == GITHUB_ZIPBALL ? "/zipball" :
	    "/tarball") != 0)
		return err_set(e, AG_ENOMEM, "out of memory");
	return add_segment(out, "CommitId", rq->commit, 1, e);
}

static long
retry_base_ms(const struct github_fetch_req *rq)
{
	const char *s;
	long long v;

	if (rq->retry_base_ms != 0)
		return rq->retry_base_ms < 0 ? 0 : rq->retry_base_ms;
	s = getenv("CDAGENT_GITHUB_RETRY_DELAY_MS");
	if (s != NULL && util_parse_ll(s, 0, 3600000, &v) == 0)
		return (long)v;
	return RETRY_BASE_DEFAULT_MS;
}

struct gh_sink {
	int fd;
	const char *path;
	uint64_t bytes;
	mbedtls_sha256_context sha;
};

static int
gh_write(void *arg, const void *data, size_t n, struct err *e)
{
	struct gh_sink *s = arg;
	const char *p = data;
	size_t left = n;
	ssize_t w;

	while (left > 0) {
		if ((w = write(s->fd, p, left)) < 0) {
			if (errno == EINTR)
				continue;
			return err_set(e, AG_EIO, "write %s: %s", s->path,
			    strerror(errno));
		}
		p += w;
		left -= (size_t)w;
	}
	mbedtls_sha256_update(&s->sha, data, n);
	s->bytes += n;
	return 0;
}

/* Back to an empty file: every attempt is a whole download. */
static int
gh_restart(struct gh_sink *s, struct err *e)
{
	if (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) != 0)
		return err_set(e, AG_EIO, "truncate %s: %s", s->path,
		    strerror(errno));
	mbedtls_sha256_free(&s->sha);
	mbedtls_sha256_init(&s->sha);
	mbedtls_sha256_starts(&s->sha, 0);
	s->bytes = 0;
	return 0;
}

int
github_fetch(const struct github_fetch_req *rq, const char *dst_path,
    struct github_fetch_stats *st, struct err *e)
{
	struct buf url = BUF_INIT(8192), auth = BUF_INIT(4096);
	struct buf codes = BUF_INIT(8192), ua = BUF_INIT(256);
	struct gh_sink s;
	const char *hdrs[4];
	struct http_req hr;
	struct http_resp resp;
	struct err ae = ERR_INIT;
	unsigned char md[32];
	long base, delay = 0;
	int r, attempt, nh = 0;
	size_t i;

	memset(st, 0, sizeof(*st));
	memset(&s, 0, sizeof(s));
	s.fd = -1;
	s.path = dst_path;
	mbedtls_sha256_init(&s.sha);
	http_resp_init(&resp, 64 * 1024);
	if (rq->http == NULL) {
		r = err_set(e, AG_EINVAL, "GitHub revision: no HTTP client");
		goto out;
	}
	if ((r = github_archive_url(rq, &url, e)) != 0)
		goto out;
	if (buf_addf(&ua, "User-Agent: %s", version_agent_string()) != 0) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	hdrs[nh++] = buf_cstr(&ua);
	hdrs[nh++] = "Accept: application/vnd.github+json";
	if (rq->token != NULL && *rq->token != '\0') {
		if (strpbrk(rq->token, "\r\n") != NULL) {
			r = err_set(e, AG_EINVAL, "GitHubAccessToken contains "
			    "a line break");
			goto out;
		}
		if (buf_addf(&auth, "Authorization: token %s",
		    rq->token) != 0) {
			r = err_set(e, AG_ENOMEM, "out of memory");
			goto out;
		}
		hdrs[nh++] = buf_cstr(&auth);
	}
	hdrs[nh] = NULL;
	if ((s.fd = open(dst_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0) {
		r = err_set(e, AG_EIO, "open %s: %s", dst_path,
		    strerror(errno));
		goto out;
	}
	mbedtls_sha256_starts(&s.sha, 0);

	memset(&hr, 0, sizeof(hr));
	hr.method = "GET";
	hr.url = buf_cstr(&url);
	hr.dest = HTTP_DEST_STORAGE;
	hr.headers = hdrs;
	hr.sink = gh_write;
	hr.sink_arg = &s;
	hr.max_attempts = 1;		/* the §12.2 schedule is ours */
	hr.follow_redirects = 1;
	base = retry_base_ms(rq);
	log_info("downloading %s%s", buf_cstr(&url), nh == 3 ?
	    " (with an access token)" : "");
	for (attempt = 0; attempt <= GITHUB_RETRIES; attempt++) {
		if (attempt > 0) {
			/* 10, 30, 90 s: base x 3^(attempt-1) */
			for (delay = base, i = 1; i < (size_t)attempt; i++)
				delay *= 3;
			log_info("retrying the download in %ld ms", delay);
			plat_sleep_until(plat_clock_ms() + delay,
			    rq->abort_flag);
			if (rq->abort_flag != NULL && *rq->abort_flag) {
				r = err_set(e, AG_ENET, "download of %s "
				    "aborted", buf_cstr(&url));
				goto out;
			}
			if ((r = gh_restart(&s, e)) != 0)
				goto out;
		}
		st->attempts++;
		err_clear(&ae);
		r = http_do(rq->http, &hr, &resp, &ae);
		st->status = resp.status;
		if (r == 0 && resp.status >= 200 && resp.status < 300)
			break;
		if (r == 0) {
			log_warn("Could not download bundle at '%s'. Server "
			    "returned code %ld '%s'", buf_cstr(&url),
			    resp.status, github_status_text(resp.status));
			r = buf_addf(&codes, "%s%ld '%s'", codes.len ? "; " :
			    "", resp.status, github_status_text(resp.status));
		} else if (r == AG_ENET || r == AG_ETIMEOUT) {
			if (rq->abort_flag != NULL && *rq->abort_flag) {
				r = err_set(e, r, "%s", ae.msg);
				goto out;
			}
			log_warn("Could not download bundle at '%s': %s",
			    buf_cstr(&url), ae.msg);
			r = buf_addf(&codes, "%snetwork error (%s)", codes.len ?
			    "; " : "", ae.msg);
		} else {
			/* disk, memory, bad input: retrying would not help */
			r = err_set(e, r, "%s", ae.msg);
			goto out;
		}
		if (r != 0) {
			r = err_set(e, AG_ENOMEM, "out of memory");
			goto out;
		}
		r = AG_ENET;
	}
	if (r != 0) {
		r = err_set(e, AG_ENET, "Could not download bundle at '%s' "
		    "after %d retries. Server returned codes: %s.",
		    buf_cstr(&url), GITHUB_RETRIES, buf_cstr(&codes));
		goto out;
	}
	if (fsync(s.fd) != 0) {
		r = err_set(e, AG_EIO, "fsync %s: %s", dst_path,
		    strerror(errno));
		goto out;
	}
	mbedtls_sha256_finish(&s.sha, md);
	for (i = 0; i < sizeof(md); i++)
		snprintf(st->sha256 + 2 * i, 3, "%02x", md[i]);
	st->size = s.bytes;
	log_info("fetched %s: %llu bytes in %d request(s), sha256 %s",
	    buf_cstr(&url), (unsigned long long)st->size, st->attempts,
	    st->sha256);
 out:
	if (s.fd >= 0)
		close(s.fd);
	mbedtls_sha256_free(&s.sha);
	http_resp_release(&resp);
	buf_release(&url);
	buf_release(&codes);
	buf_release(&ua);
	buf_release_secret(&auth);
	return r;
}

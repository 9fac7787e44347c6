/*
 * github.h: fetch a GitHub revision (an archive of one commit) to a file.
 *
 *	struct github_fetch_req rq = {
 *		.account = ds->gh_account, .repo = ds->gh_repo,
 *		.commit = ds->gh_commit, .format = GITHUB_TARBALL,
 *		.token = ds->gh_token, .http = x->http,
 *	};
 *	struct github_fetch_stats st;
 *	r = github_fetch(&rq, "<deployment>/bundle.tar", &st, &e);
 *
 * What github_fetch does (reference §12.2):
 *  - GET <api>/repos/<account>/<repo>/<tarball|zipball>/<commit>, where
 *    <api> is rq->api_base, else $CDAGENT_GITHUB_API (tests point it at a
 *    local server), else https://api.github.com. Only https is accepted.
 *    Path segments are percent-encoded; "", "." and ".." are refused.
 *  - Headers: User-Agent cdagent/<version> (GitHub refuses requests
 *    without one), Accept application/vnd.github+json, and with a token
 *    `Authorization: token <t>`. The token is never logged.
 *  - Redirects are followed (GitHub answers 302 to codeload.github.com).
 *    The token goes to the API host only: libcurl (>= 7.83, we build
 *    8.x) drops a custom Authorization header when a redirect changes the
 *    host, the port or the scheme, and CURLOPT_UNRESTRICTED_AUTH is never
 *    set. github_fetch refuses to send a token through an older libcurl.
 *    The proxy is the one chosen for the API URL (HTTP_DEST_STORAGE).
 *  - The body is streamed to dst_path (created 0600, truncated), never
 *    held in memory; SHA-256 computed on the way.
 *  - Retries: any HTTP status other than 2xx, and network errors, are
 *    retried 3 times after sleeping retry_base_ms x 1, 3, 9 (10, 30, 90 s
 *    by default, as the Ruby agent); a retry starts the file from zero.
 *    Then it fails with AG_ENET and the Ruby text:
 *	Could not download bundle at '<uri>' after 3 retries. Server
 *	returned codes: 404 'Not Found'; 404 'Not Found'; ...
 *    (a network failure appears in the list as "network error (<msg>)").
 *    retry_base_ms 0 means $CDAGENT_GITHUB_RETRY_DELAY_MS when set (meant
 *    for tests only), else 10000.
 */
#ifndef CDAGENT_GITHUB_H
#define CDAGENT_GITHUB_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct err;
struct http;

#define GITHUB_API_DEFAULT "https://api.github.com"
#define GITHUB_RETRIES 3

enum github_format {
	GITHUB_TARBALL,		/* BundleType tar */
	GITHUB_ZIPBALL,		/* BundleType zip */
};

struct github_fetch_req {
	const char *account;
	const char *repo;
	const char *commit;		/* sha, branch, tag or HEAD */
	enum github_format format;
	const char *token;		/* GitHubAccessToken (secret), or NULL */
	struct http *http;
	const char *api_base;		/* NULL: $CDAGENT_GITHUB_API or the
					 * default */
	long retry_base_ms;		/* 0: env or 10000; < 0: no sleep */
	const volatile int *abort_flag;	/* cuts the retry sleeps short */
};

struct github_fetch_stats {
	uint64_t size;			/* bytes in dst_path */
	int attempts;			/* GETs made (redirects not counted) */
	long status;			/* last HTTP status, 0: none */
	char sha256[65];		/* of dst_path, hex */
};

int github_fetch(const struct github_fetch_req *rq, const char *dst_path,
    struct github_fetch_stats *st, struct err *e);

/*
 * The archive URL for rq into out, with the API base resolved as
 * github_fetch does. AG_EINVAL for a missing or unsafe segment or a
 * non-https base. Exposed for tests.
 */
int github_archive_url(const struct github_fetch_req *rq, struct buf *out,
    struct err *e);

/* BundleType "tar" or "zip" to the format; AG_EINVAL with the §12.2 text. */
int github_format_from_bundle_type(const char *bundle_type,
    enum github_format *out, struct err *e);

/* The reason phrase of an HTTP status ("Not Found"), "" when unknown. */
const char *github_status_text(long status);

#endif

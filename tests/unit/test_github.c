/*
 * Unit tests for github.c: archive URL building (API base, encoding,
 * unsafe segments), bundle types, status texts, and the §12.2 failure
 * text after retries (against a closed local port; no sleeping). The
 * end-to-end cases with a real HTTPS server are tests/e2e/t_github.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "github.h"
#include "http.h"

static int
url_of(const char *base, const char *acct, const char *repo,
    const char *commit, enum github_format f, struct buf *out,
    struct err *e)
{
	struct github_fetch_req rq;

	memset(&rq, 0, sizeof(rq));
	rq.api_base = base;
	rq.account = acct;
	rq.repo = repo;
	rq.commit = commit;
	rq.format = f;
	return github_archive_url(&rq, out, e);
}

static void
test_github_url_default(void **state)
{
	struct buf b = BUF_INIT(4096);
	struct err e = ERR_INIT;

	(void)state;
	unsetenv("CDAGENT_GITHUB_API");
	assert_int_equal(url_of(NULL, "o", "r", "abc123", GITHUB_TARBALL, &b,
	    &e), 0);
	assert_string_equal(buf_cstr(&b),
	    "https://api.github.com/repos/o/r/tarball/abc123");
	assert_int_equal(url_of(NULL, "my-org", "my.repo", "HEAD",
	    GITHUB_ZIPBALL, &b, &e), 0);
	assert_string_equal(buf_cstr(&b),
	    "https://api.github.com/repos/my-org/my.repo/zipball/HEAD");
	buf_release(&b);
}

static void
test_github_url_base(void **state)
{
	struct buf b = BUF_INIT(4096);
	struct err e = ERR_INIT;

	(void)state;
	/* the environment, then the request field wins over it */
	setenv("CDAGENT_GITHUB_API", "https://127.0.0.1:8443/", 1);
	assert_int_equal(url_of(NULL, "o", "r", "c", GITHUB_TARBALL, &b, &e),
	    0);
	assert_string_equal(buf_cstr(&b),
	    "https://127.0.0.1:8443/repos/o/r/tarball/c");
	assert_int_equal(url_of("https://ghe.example/api/v3//", "o", "r", "c",
	    GITHUB_TARBALL, &b, &e), 0);
	assert_string_equal(buf_cstr(&b),
	    "https://ghe.example/api/v3/repos/o/r/tarball/c");
	unsetenv("CDAGENT_GITHUB_API");
	/* plain http, no host, credentials or a query: refused */
	assert_int_equal(url_of("http://api.github.com", "o", "r", "c",
	    GITHUB_TARBALL, &b, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "https"));
	assert_int_equal(url_of("https://", "o", "r", "c", GITHUB_TARBALL, &b,
	    &e), AG_EINVAL);
	assert_int_equal(url_of("https://u:p@h", "o", "r", "c",
	    GITHUB_TARBALL, &b, &e), AG_EINVAL);
	assert_int_equal(url_of("https://h/?x=1", "o", "r", "c",
	    GITHUB_TARBALL, &b, &e), AG_EINVAL);
	buf_release(&b);
}

static void
test_github_url_encoding(void **state)
{
	struct buf b = BUF_INIT(4096);
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(url_of("https://h", "a b", "r?x", "release/1.2",
	    GITHUB_TARBALL, &b, &e), 0);
	assert_string_equal(buf_cstr(&b),
	    "https://h/repos/a%20b/r%3Fx/tarball/release/1.2");
	assert_int_equal(url_of("https://h", "o", "r", "v#1%",
	    GITHUB_TARBALL, &b, &e), 0);
	assert_string_equal(buf_cstr(&b), "https://h/repos/o/r/tarball/v%231%25");
	/* a '/' in the account or repository is encoded, not a new level */
	assert_int_equal(url_of("https://h", "o/x", "r", "c", GITHUB_TARBALL,
	    &b, &e), 0);
	assert_string_equal(buf_cstr(&b), "https://h/repos/o%2Fx/r/tarball/c");
	buf_release(&b);
}

static void
test_github_url_unsafe(void **state)
{
	struct buf b = BUF_INIT(4096);
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(url_of("https://h", "..", "r", "c", GITHUB_TARBALL,
	    &b, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "Account"));
	assert_int_equal(url_of("https://h", "o", ".", "c", GITHUB_TARBALL,
	    &b, &e), AG_EINVAL);
	assert_int_equal(url_of("https://h", "o", "r", "a/../b",
	    GITHUB_TARBALL, &b, &e), AG_EINVAL);
	assert_int_equal(url_of("https://h", "o", "r", "a//b", GITHUB_TARBALL,
	    &b, &e), AG_EINVAL);
	assert_int_equal(url_of("https://h", "o", "r", "", GITHUB_TARBALL, &b,
	    &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "CommitId is empty"));
	assert_int_equal(url_of("https://h", NULL, "r", "c", GITHUB_TARBALL,
	    &b, &e), AG_EINVAL);
	buf_release(&b);
}

static void
test_github_bundle_type(void **state)
{
	enum github_format f = GITHUB_ZIPBALL;
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(github_format_from_bundle_type("tar", &f, &e), 0);
	assert_int_equal(f, GITHUB_TARBALL);
	assert_int_equal(github_format_from_bundle_type("zip", &f, &e), 0);
	assert_int_equal(f, GITHUB_ZIPBALL);
	assert_int_equal(github_format_from_bundle_type("tgz", &f, &e),
	    AG_EINVAL);
	assert_string_equal(e.msg, "GitHub revision specified with "
	    "bundle_type other than zip or tar");
	assert_int_equal(github_format_from_bundle_type(NULL, &f, &e),
	    AG_EINVAL);
}

static void
test_github_status_text(void **state)
{
	(void)state;
	assert_string_equal(github_status_text(404), "Not Found");
	assert_string_equal(github_status_text(401), "Unauthorized");
	assert_string_equal(github_status_text(503), "Service Unavailable");
	assert_string_equal(github_status_text(299), "");
}

/* A port on 127.0.0.1 that refuses connections (bound, not listening). */
static int
closed_port(int *fd)
{
	struct sockaddr_in a;
	socklen_t n = sizeof(a);

	*fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (*fd < 0 || bind(*fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(*fd, (struct sockaddr *)&a, &n) != 0)
		return -1;
	return ntohs(a.sin_port);
}

static void
test_github_fetch_retries_message(void **state)
{
	struct github_fetch_req rq;
	struct github_fetch_stats st;
	struct http_opts ho;
	struct http *h = NULL;
	struct err e = ERR_INIT;
	char base[64], dst[] = "/tmp/test_github.XXXXXX", want[256];
	int fd, port, tfd;
	const char *p;
	size_t n;

	(void)state;
	if ((port = closed_port(&fd)) < 0)
		skip();
	if ((tfd = mkstemp(dst)) < 0)
		skip();
	close(tfd);
	/* any readable file: the connection is refused before TLS */
	setenv("AWS_SSL_CA_BUNDLE", dst, 1);
	memset(&ho, 0, sizeof(ho));
	assert_int_equal(http_new(&h, &ho, &e), 0);
	snprintf(base, sizeof(base), "https://127.0.0.1:%d", port);
	memset(&rq, 0, sizeof(rq));
	rq.api_base = base;
	rq.account = "o";
	rq.repo = "r";
	rq.commit = "abc123";
	rq.format = GITHUB_TARBALL;
	rq.token = "ghp_secret_never_in_messages";
	rq.http = h;
	rq.retry_base_ms = -1;
	assert_int_equal(github_fetch(&rq, dst, &st, &e), AG_ENET);
	assert_int_equal(st.attempts, GITHUB_RETRIES + 1);
	snprintf(want, sizeof(want), "Could not download bundle at "
	    "'%s/repos/o/r/tarball/abc123' after 3 retries. Server returned "
	    "codes: network error (", base);
	assert_memory_equal(e.msg, want, strlen(want));
	for (n = 0, p = e.msg; (p = strstr(p, "network error (")) != NULL; p++)
		n++;
	assert_int_equal(n, 4);
	assert_null(strstr(e.msg, "ghp_secret"));
	assert_int_equal(e.msg[strlen(e.msg) - 1], '.');
	/* a token with a line break could inject headers: refused */
	rq.token = "x\r\nHost: evil";
	assert_int_equal(github_fetch(&rq, dst, &st, &e), AG_EINVAL);
	http_free(h);
	unsetenv("AWS_SSL_CA_BUNDLE");
	unlink(dst);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_github_url_default),
		cmocka_unit_test(test_github_url_base),
		cmocka_unit_test(test_github_url_encoding),
		cmocka_unit_test(test_github_url_unsafe),
		cmocka_unit_test(test_github_bundle_type),
		cmocka_unit_test(test_github_status_text),
		cmocka_unit_test(test_github_fetch_retries_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

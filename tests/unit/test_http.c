/*
 * Unit tests for http.c: NO_PROXY matching, proxy choice per destination,
 * CA bundle order, URL redaction, and retries against a local server
 * (python3 -m http.server stand-in started by the test; skipped without
 * python3).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "http.h"

static void
test_http_no_proxy(void **state)
{
	(void)state;
	assert_true(http_no_proxy_match("*", "anything.example"));
	assert_true(http_no_proxy_match("example.com", "example.com"));
	assert_true(http_no_proxy_match("example.com", "s3.EXAMPLE.com"));
	assert_true(http_no_proxy_match("example.com", "example.com."));
	assert_false(http_no_proxy_match("example.com", "badexample.com"));
	assert_true(http_no_proxy_match(".example.com", "a.b.example.com"));
	assert_true(http_no_proxy_match(".example.com", "example.com"));
	assert_true(http_no_proxy_match("*.example.com", "x.example.com"));
	assert_false(http_no_proxy_match("*.example.com", "example.org"));
	assert_true(http_no_proxy_match("foo, bar.com ,baz", "x.bar.com"));
	assert_true(http_no_proxy_match("foo\tbaz", "baz"));
	assert_true(http_no_proxy_match("example.com:443", "example.com"));
	/* IPs */
	assert_true(http_no_proxy_match("127.0.0.1", "127.0.0.1"));
	assert_false(http_no_proxy_match("127.0.0.1", "127.0.0.11"));
	assert_false(http_no_proxy_match("0.0.1", "127.0.0.1"));
	assert_true(http_no_proxy_match("127.0.0.1:5055", "127.0.0.1"));
	assert_true(http_no_proxy_match("::1", "[::1]"));
	assert_true(http_no_proxy_match("[::1]:8080", "::1"));
	assert_false(http_no_proxy_match("::1", "::2"));
	/* CIDRs */
	assert_true(http_no_proxy_match("10.0.0.0/8", "10.200.3.4"));
	assert_false(http_no_proxy_match("10.0.0.0/8", "11.0.0.1"));
	assert_true(http_no_proxy_match("192.168.1.0/23", "192.168.0.77"));
	assert_false(http_no_proxy_match("192.168.1.0/24", "192.168.0.77"));
	assert_true(http_no_proxy_match("0.0.0.0/0", "8.8.8.8"));
	assert_true(http_no_proxy_match("fd00::/8", "fd12:3456::1"));
	assert_false(http_no_proxy_match("fd00::/8", "fe80::1"));
	assert_false(http_no_proxy_match("10.0.0.0/8", "10.example.com"));
	assert_false(http_no_proxy_match("10.0.0.0/33", "10.0.0.1"));
	/* a domain entry never matches an IP and vice versa */
	assert_false(http_no_proxy_match("0.1", "10.0.0.1"));
	assert_false(http_no_proxy_match("", "example.com"));
	assert_false(http_no_proxy_match(NULL, "example.com"));
	assert_false(http_no_proxy_match(",,", "example.com"));
}

static void
clear_env(void)
{
	static const char *const v[] = { "http_proxy", "HTTP_PROXY",
	    "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
	    "no_proxy", "NO_PROXY", "AWS_SSL_CA_BUNDLE", "SSL_CERT_FILE",
	    "AWS_SSL_CA_DIRECTORY" };
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(*v); i++)
		unsetenv(v[i]);
}

static void
test_http_proxy_for(void **state)
{
	struct http_opts o = { 0 };
	struct http *h = NULL;
	struct buf p = BUF_INIT(4096);
	struct err e = ERR_INIT;
	const char *src;

	(void)state;
	clear_env();
	assert_int_equal(http_new(&h, &o, &e), 0);
	assert_int_equal(http_proxy_for(h, HTTP_DEST_STORAGE,
	    "https://b.s3.amazonaws.com/k", &p, &src, &e), 0);
	assert_string_equal(buf_cstr(&p), "");
	setenv("HTTPS_PROXY", "http://envproxy:3128", 1);
	setenv("http_proxy", "http://plainproxy:3128", 1);
	assert_int_equal(http_proxy_for(h, HTTP_DEST_STORAGE,
	    "https://b.s3.amazonaws.com/k", &p, &src, &e), 0);
	assert_string_equal(buf_cstr(&p), "http://envproxy:3128");
	assert_string_equal(src, "HTTPS_PROXY");
	assert_int_equal(http_proxy_for(h, HTTP_DEST_STORAGE,
	    "http://127.0.0.1:9000/b/k", &p, &src, &e), 0);
	assert_string_equal(buf_cstr(&p), "http://plainproxy:3128");
	/* metadata: never */
	assert_int_equal(http_proxy_for(h, HTTP_DEST_OTHER,
	    "http://169.254.169.254/latest/api/token", &p, &src, &e), 0);
	assert_string_equal(buf_cstr(&p), "");
	assert_int_equal(http_proxy_for(h, HTTP_DEST_IMDS,
	    "http://127.0.0.1:1234/latest", &p, &src, &e), 0);
	assert_string_equal(buf_cstr(&p), "");
	setenv("NO_PROXY", ".amazonaws.com,10.0.0.0/8", 1);
	assert_int_equal(http_proxy_for(h, HTTP_DEST_STORAGE,
	    "https://b.s3.amazonaws.com/k", &p, &src, &e), 0);
	assert_string_equal(buf_cstr(&p), "");
	assert_string_equal(src, "NO_PROXY (direct)");
	http_free(h);
	h = NULL;

	/* config keys win over the environment, per destination */
	o.proxy_uri = "http://user:secret@all:3128";
	o.storage_proxy_uri = "http://storage:3128";
	unsetenv("NO_PROXY");
	assert_int_equal(http_new(&h, &o, &e), 0);
	assert_int_equal(http_proxy_for(h, HTTP_DEST_STORAGE,
	    "https://b.s3.amazonaws.com/k", &p, &src, &e), 0);
	assert_string_equal(buf_cstr(&p), "http://storage:3128");
	assert_string_equal(src, "storage_proxy_uri");
	assert_int_equal(http_proxy_for(h, HTTP_DEST_CONTROL,
	    "https://codedeploy-commands.us-east-1.amazonaws.com/", &p, &src,
	    &e), 0);
	assert_string_equal(buf_cstr(&p), "http://user:secret@all:3128");
	assert_string_equal(src, "proxy_uri");
	http_free(h);
	buf_release(&p);
	clear_env();
}

static void
test_http_redact(void **state)
{
	struct buf b = BUF_INIT(4096);

	(void)state;
	assert_int_equal(http_redact_url("http://user:pw@proxy:3128", &b), 0);
	assert_null(strstr(buf_cstr(&b), "pw"));
	assert_null(strstr(buf_cstr(&b), "user"));
	assert_non_null(strstr(buf_cstr(&b), "proxy:3128"));
	assert_int_equal(http_redact_url("https://b.s3.amazonaws.com/k?"
	    "X-Amz-Signature=abc&X-Amz-Credential=AK", &b), 0);
	assert_string_equal(buf_cstr(&b), "https://b.s3.amazonaws.com/k");
	assert_int_equal(http_url_host("https://[::1]:8443/x", &b), 0);
	assert_string_equal(buf_cstr(&b), "::1");
	buf_release(&b);
}

static void
test_http_ca_order(void **state)
{
	struct buf b = BUF_INIT(4096);
	struct err e = ERR_INIT;
	const char *src = NULL;
	char f1[] = "/tmp/cdagent-ca1.XXXXXX", f2[] = "/tmp/cdagent-ca2.XXXXXX";
	int fd1, fd2;

	(void)state;
	clear_env();
	fd1 = mkstemp(f1);
	fd2 = mkstemp(f2);
	assert_true(fd1 >= 0 && fd2 >= 0);
	close(fd1);
	close(fd2);
	assert_int_equal(http_ca_bundle(f2, &b, &src, &e), 0);
	assert_string_equal(buf_cstr(&b), f2);
	assert_string_equal(src, "ca_bundle");
	setenv("SSL_CERT_FILE", f1, 1);
	assert_int_equal(http_ca_bundle(f2, &b, &src, &e), 0);
	assert_string_equal(buf_cstr(&b), f1);
	assert_string_equal(src, "SSL_CERT_FILE");
	setenv("AWS_SSL_CA_BUNDLE", "/nonexistent/ca.pem", 1);
	assert_int_equal(http_ca_bundle(f2, &b, &src, &e), AG_EIO);
	assert_non_null(strstr(e.msg, "/nonexistent/ca.pem"));
	assert_non_null(strstr(e.msg, "AWS_SSL_CA_BUNDLE"));
	setenv("AWS_SSL_CA_BUNDLE", f2, 1);
	assert_int_equal(http_ca_bundle(NULL, &b, &src, &e), 0);
	assert_string_equal(src, "AWS_SSL_CA_BUNDLE");
	clear_env();
	if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0) {
		assert_int_equal(http_ca_bundle(NULL, &b, &src, &e), 0);
		assert_string_equal(src, "system");
	}
	unlink(f1);
	unlink(f2);
	buf_release(&b);
}

/*
 * A local server that answers 503, 429 (Retry-After: 0), then 200 with a
 * body; checks that http_do retries and lands on the 200.
 */
static const char server_py[] =
    "import http.server, os, sys, threading, time\n"
    "pp = os.getppid()\n"
    "def watch():\n"
    "    while os.getppid() == pp: time.sleep(0.2)\n"
    "    os._exit(0)\n"
    "threading.Thread(target=watch, daemon=True).start()\n"
    "n = [0]\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def log_message(self, *a): pass\n"
    "    def do_GET(self):\n"
    "        n[0] += 1\n"
    "        if self.path == '/big':\n"
    "            b = b'x' * 5000\n"
    "            self.send_response(200)\n"
    "        elif n[0] == 1:\n"
    "            b = b'busy'; self.send_response(503)\n"
    "        elif n[0] == 2:\n"
    "            b = b'<Error><Code>SlowDown</Code></Error>'\n"
    "            self.send_response(429); self.send_header('Retry-After', '0')\n"
    "        elif self.path == '/404':\n"
    "            b = b'nope'; self.send_response(404)\n"
    "        else:\n"
    "            b = ('ok %d' % n[0]).encode(); self.send_response(200)\n"
    "            self.send_header('ETag', '\"abc\"')\n"
    "        self.send_header('Content-Length', str(len(b)))\n"
    "        self.end_headers(); self.wfile.write(b)\n"
    "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
    "print(s.server_address[1], flush=True)\n"
    "s.serve_forever()\n";

static void
test_http_retry(void **state)
{
	struct http_opts o = { .backoff_base_ms = 10, .backoff_max_ms = 50 };
	struct http *h = NULL;
	struct http_resp resp;
	struct err e = ERR_INIT;
	char url[128], port[16] = "";
	int pfd[2];
	pid_t pid;
	FILE *f;

	(void)state;
	clear_env();
	if (system("python3 -c 1 >/dev/null 2>&1") != 0)
		skip();
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		execlp("python3", "python3", "-c", server_py, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "r");
	assert_non_null(fgets(port, sizeof(port), f));
	fclose(f);
	port[strcspn(port, "\n")] = '\0';

	http_resp_init(&resp, 1024);
	assert_int_equal(http_new(&h, &o, &e), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%s/x", port);
	{
		struct http_req rq = { .method = "GET", .url = url,
		    .dest = HTTP_DEST_OTHER };

		assert_int_equal(http_do(h, &rq, &resp, &e), 0);
		assert_int_equal(resp.status, 200);
		assert_int_equal(resp.attempts, 3);
		assert_string_equal(buf_cstr(&resp.body), "ok 3");
		assert_string_equal(resp.etag, "\"abc\"");
		assert_int_equal(resp.content_length, 4);
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%s/404", port);
	{
		struct http_req rq = { .method = "GET", .url = url,
		    .dest = HTTP_DEST_OTHER };

		assert_int_equal(http_do(h, &rq, &resp, &e), 0);
		assert_int_equal(resp.status, 404);
		assert_int_equal(resp.attempts, 1);
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%s/big", port);
	{
		struct http_req rq = { .method = "GET", .url = url,
		    .dest = HTTP_DEST_OTHER };

		assert_int_equal(http_do(h, &rq, &resp, &e), AG_EPROTO);
		assert_non_null(strstr(e.msg, "larger than 1024"));
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	/* nobody listens now: a network error after the attempts */
	{
		struct http_req rq = { .method = "GET", .url = url,
		    .dest = HTTP_DEST_OTHER, .max_attempts = 2 };

		assert_int_equal(http_do(h, &rq, &resp, &e), AG_ENET);
		assert_int_equal(resp.attempts, 2);
		assert_non_null(strstr(e.msg, "127.0.0.1"));
	}
	http_free(h);
	http_resp_release(&resp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_no_proxy),
		cmocka_unit_test(test_http_proxy_for),
		cmocka_unit_test(test_http_redact),
		cmocka_unit_test(test_http_ca_order),
		cmocka_unit_test(test_http_retry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

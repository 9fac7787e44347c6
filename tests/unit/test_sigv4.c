/*
 * Unit tests for sigv4.c.
 *
 * Two oracles:
 *  - tests/fixtures/sigv4/<case>.req with .creq and .authz: the AWS SigV4
 *    test-suite layout (credentials AKIDEXAMPLE, 20150830T123600Z,
 *    us-east-1, service "service"). The expected files were written by
 *    gen_botocore.py (`write`); get-vanilla, post-x-www-form-urlencoded and
 *    post-sts-header-after match the published signatures, which are also
 *    asserted literally below.
 *  - gen_botocore.py `table`, run live through popen(): Commands API POSTs
 *    (with and without session token, the -secure service) and S3 GETs
 *    (spaces, unicode, '+', '~', versionId, Range/If-Match, path style).
 *    Skipped when python3 with botocore is not available.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "err.h"
#include "sigv4.h"

#define AK "AKIDEXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define NOW 1440938160		/* 2015-08-30T12:36:00Z */

static const char *
fixdir(void)
{
	static char dir[4096];
	const char *top = getenv("TOP");

	snprintf(dir, sizeof(dir), "%s/tests/fixtures/sigv4",
	    top != NULL ? top : ".");
	return dir;
}

/* One request read from a record or a .req file. */
struct tcase {
	char name[128];
	char method[16];
	char host[256];
	char path[1024];
	char query[1024];
	char hnames[16][64];
	char hvals[16][1024];
	struct sigv4_header h[16];
	size_t nh;
	unsigned char body[4096];
	size_t body_len;
	char service[64], region[32];
	char token[1024];
	char sha_hdr[80];
	unsigned flags;
	char auth[1024];
	char creq[8192];
};

static void
tc_header(struct tcase *t, const char *name, const char *val)
{
	if (strcasecmp(name, "x-amz-content-sha256") == 0) {
		t->flags |= SIGV4_CONTENT_SHA256;
		snprintf(t->sha_hdr, sizeof(t->sha_hdr), "%s", val);
		return;
	}
	assert_true(t->nh < 16);
	snprintf(t->hnames[t->nh], sizeof(t->hnames[0]), "%s", name);
	snprintf(t->hvals[t->nh], sizeof(t->hvals[0]), "%s", val);
	t->h[t->nh].name = t->hnames[t->nh];
	t->h[t->nh].value = t->hvals[t->nh];
	t->nh++;
}

static int
unhex(const char *s, unsigned char *out, size_t max)
{
	size_t n = 0;
	unsigned v;

	while (s[0] != '\0' && s[1] != '\0' && s[0] != '\n') {
		if (n >= max || sscanf(s, "%2x", &v) != 1)
			return -1;
		out[n++] = (unsigned char)v;
		s += 2;
	}
	return (int)n;
}

static void
check_case(const struct tcase *t)
{
	struct sigv4_creds c = { AK, SK, t->token[0] ? t->token : NULL };
	struct sigv4_req rq = {
		.method = t->method, .host = t->host, .path = t->path,
		.query = t->query[0] ? t->query : NULL,
		.headers = t->h, .nheaders = t->nh,
		.body = t->body, .body_len = t->body_len,
		.region = t->region, .service = t->service, .flags = t->flags,
	};
	struct sigv4_out o;
	struct err e = ERR_INIT;

	sigv4_out_init(&o);
	if (sigv4_sign(&rq, &c, NOW, &o, &e) != 0)
		fail_msg("%s: %s", t->name, e.msg);
	assert_string_equal(o.amz_date, "20150830T123600Z");
	if (t->creq[0] != '\0' && strcmp(buf_cstr(&o.canonical),
	    t->creq) != 0) {
		print_error("%s: canonical request\n--- got\n%s\n--- want\n"
		    "%s\n", t->name, buf_cstr(&o.canonical), t->creq);
		fail();
	}
	if (strcmp(buf_cstr(&o.authorization), t->auth) != 0) {
		print_error("%s:\n got  %s\n want %s\n", t->name,
		    buf_cstr(&o.authorization), t->auth);
		fail();
	}
	if (t->sha_hdr[0] != '\0')
		assert_string_equal(o.content_sha256, t->sha_hdr);
	sigv4_out_release(&o);
}

static char *
slurp(const char *path, size_t *len)
{
	struct buf b = BUF_INIT(1 << 20);
	struct err e = ERR_INIT;

	if (buf_read_file(&b, path, &e) != 0) {
		buf_release(&b);
		return NULL;
	}
	*len = b.len;
	return buf_detach(&b);
}

/* Parse a test-suite .req file into t (request line, headers, body). */
static void
parse_req(struct tcase *t, const char *text)
{
	const char *p = text, *eol, *sp, *http;
	char line[1024];

	eol = strchr(p, '\n');
	assert_non_null(eol);
	sp = strchr(p, ' ');
	snprintf(t->method, sizeof(t->method), "%.*s", (int)(sp - p), p);
	snprintf(line, sizeof(line), "%.*s", (int)(eol - sp - 1), sp + 1);
	http = strstr(line, " HTTP/");
	assert_non_null(http);
	line[http - line] = '\0';
	if ((sp = strchr(line, '?')) != NULL) {
		snprintf(t->query, sizeof(t->query), "%s", sp + 1);
		line[sp - line] = '\0';
	}
	snprintf(t->path, sizeof(t->path), "%s", line);
	p = eol + 1;
	while (*p != '\0' && *p != '\n') {
		const char *colon;

		eol = strchr(p, '\n');
		if (eol == NULL)
			eol = p + strlen(p);
		snprintf(line, sizeof(line), "%.*s", (int)(eol - p), p);
		colon = strchr(line, ':');
		assert_non_null(colon);
		line[colon - line] = '\0';
		if (strcasecmp(line, "host") == 0)
			snprintf(t->host, sizeof(t->host), "%s", colon + 1);
		else if (strcasecmp(line, "x-amz-security-token") == 0)
			snprintf(t->token, sizeof(t->token), "%s", colon + 1);
		else if (strcasecmp(line, "x-amz-date") != 0)
			tc_header(t, line, colon + 1);
		p = *eol ? eol + 1 : eol;
	}
	if (*p == '\n') {
		p++;
		t->body_len = strlen(p);
		memcpy(t->body, p, t->body_len);
	}
}

#define STS_TOKEN "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HI" \
	"Z8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPp" \
	"KPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSX" \
	"Dvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZ" \
	"bqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxB" \
	"A=="

static void
test_sigv4_suite(void **state)
{
	DIR *d;
	struct dirent *de;
	int n = 0;

	(void)state;
	d = opendir(fixdir());
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		struct tcase *t;
		char path[4096], *txt;
		size_t len, nl = strlen(de->d_name);

		if (nl < 5 || strcmp(de->d_name + nl - 4, ".req") != 0)
			continue;
		t = calloc(1, sizeof(*t));
		assert_non_null(t);
		snprintf(t->name, sizeof(t->name), "%.*s", (int)(nl - 4),
		    de->d_name);
		snprintf(t->service, sizeof(t->service), "service");
		snprintf(t->region, sizeof(t->region), "us-east-1");
		snprintf(path, sizeof(path), "%s/%s", fixdir(), de->d_name);
		txt = slurp(path, &len);
		assert_non_null(txt);
		parse_req(t, txt);
		free(txt);
		if (strcmp(t->name, "post-sts-header-after") == 0) {
			snprintf(t->token, sizeof(t->token), "%s", STS_TOKEN);
			t->flags |= SIGV4_TOKEN_UNSIGNED;
		}
		snprintf(path, sizeof(path), "%s/%s.authz", fixdir(), t->name);
		txt = slurp(path, &len);
		assert_non_null(txt);
		snprintf(t->auth, sizeof(t->auth), "%s", txt);
		free(txt);
		snprintf(path, sizeof(path), "%s/%s.creq", fixdir(), t->name);
		txt = slurp(path, &len);
		assert_non_null(txt);
		snprintf(t->creq, sizeof(t->creq), "%s", txt);
		free(txt);
		check_case(t);
		free(t);
		n++;
	}
	closedir(d);
	assert_true(n >= 25);
}

/* The published values, independent of the fixture files. */
static void
test_sigv4_published(void **state)
{
	struct sigv4_creds c = { AK, SK, NULL };
	struct sigv4_header form = { "Content-Type",
	    "application/x-www-form-urlencoded" };
	struct sigv4_req rq = {
		.method = "GET", .host = "example.amazonaws.com", .path = "/",
		.region = "us-east-1", .service = "service",
	};
	struct sigv4_out o;
	struct err e = ERR_INIT;

	(void)state;
	sigv4_out_init(&o);
	assert_int_equal(sigv4_sign(&rq, &c, NOW, &o, &e), 0);
	assert_string_equal(buf_cstr(&o.authorization), "AWS4-HMAC-SHA256 "
	    "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
	    "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942"
	    "676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	rq.method = "POST";
	rq.headers = &form;
	rq.nheaders = 1;
	rq.body = "Param1=value1";
	rq.body_len = 13;
	assert_int_equal(sigv4_sign(&rq, &c, NOW, &o, &e), 0);
	assert_string_equal(buf_cstr(&o.authorization), "AWS4-HMAC-SHA256 "
	    "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
	    "SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932"
	    "ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
	rq.headers = NULL;
	rq.nheaders = 0;
	rq.body = NULL;
	rq.body_len = 0;
	c.session_token = STS_TOKEN;
	rq.flags = SIGV4_TOKEN_UNSIGNED;
	assert_int_equal(sigv4_sign(&rq, &c, NOW, &o, &e), 0);
	assert_non_null(strstr(buf_cstr(&o.authorization),
	    "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e"
	    "92efbe5d6b"));
	sigv4_out_release(&o);
}

static int
parse_record(FILE *f, struct tcase *t)
{
	char line[32768];

	memset(t, 0, sizeof(*t));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *v;
		size_t l = strlen(line);

		if (l > 0 && line[l - 1] == '\n')
			line[--l] = '\0';
		if (strcmp(line, "end") == 0)
			return 1;
		if ((v = strchr(line, ' ')) == NULL)
			continue;
		*v++ = '\0';
		if (strcmp(line, "case") == 0)
			snprintf(t->name, sizeof(t->name), "%s", v);
		else if (strcmp(line, "method") == 0)
			snprintf(t->method, sizeof(t->method), "%s", v);
		else if (strcmp(line, "host") == 0)
			snprintf(t->host, sizeof(t->host), "%s", v);
		else if (strcmp(line, "path") == 0)
			snprintf(t->path, sizeof(t->path), "%s", v);
		else if (strcmp(line, "query") == 0)
			snprintf(t->query, sizeof(t->query), "%s", v);
		else if (strcmp(line, "service") == 0)
			snprintf(t->service, sizeof(t->service), "%s", v);
		else if (strcmp(line, "region") == 0)
			snprintf(t->region, sizeof(t->region), "%s", v);
		else if (strcmp(line, "token") == 0)
			snprintf(t->token, sizeof(t->token), "%s", v);
		else if (strcmp(line, "s3") == 0)
			t->flags |= SIGV4_S3;
		else if (strcmp(line, "tokenunsigned") == 0)
			t->flags |= SIGV4_TOKEN_UNSIGNED;
		else if (strcmp(line, "auth") == 0)
			snprintf(t->auth, sizeof(t->auth), "%s", v);
		else if (strcmp(line, "body") == 0) {
			int n = unhex(v, t->body, sizeof(t->body));

			assert_true(n >= 0);
			t->body_len = (size_t)n;
		} else if (strcmp(line, "creq") == 0) {
			int n = unhex(v, (unsigned char *)t->creq,
			    sizeof(t->creq) - 1);

			assert_true(n >= 0);
			t->creq[n] = '\0';
		} else if (strcmp(line, "header") == 0) {
			char *tab = strchr(v, '\t');

			assert_non_null(tab);
			*tab = '\0';
			tc_header(t, v, tab + 1);
		}
	}
	return 0;
}

static void
run_oracle(const char *mode, int min_cases)
{
	char cmd[8192];
	struct tcase *t;
	FILE *f;
	int n = 0, rc;

	if (system("python3 -c 'import botocore' >/dev/null 2>&1") != 0) {
		print_message("python3 with botocore not found\n");
		skip();
	}
	snprintf(cmd, sizeof(cmd), "python3 '%s/gen_botocore.py' %s '%s'",
	    fixdir(), mode, fixdir());
	f = popen(cmd, "r");
	assert_non_null(f);
	t = calloc(1, sizeof(*t));
	assert_non_null(t);
	while (parse_record(f, t)) {
		check_case(t);
		n++;
	}
	free(t);
	rc = pclose(f);
	assert_int_equal(rc, 0);
	assert_true(n >= min_cases);
}

static void
test_sigv4_botocore_table(void **state)
{
	(void)state;
	run_oracle("table", 12);
}

static void
test_sigv4_botocore_suite(void **state)
{
	(void)state;
	run_oracle("suite", 25);
}

static void
test_sigv4_uri_encode(void **state)
{
	struct buf b = BUF_INIT(1024);

	(void)state;
	assert_int_equal(sigv4_uri_encode(&b, "a b/c+d~e_f.g-h", 15, 1), 0);
	assert_string_equal(buf_cstr(&b), "a%20b/c%2Bd~e_f.g-h");
	buf_reset(&b);
	assert_int_equal(sigv4_uri_encode(&b, "a/\xc3\xa9%", 5, 0), 0);
	assert_string_equal(buf_cstr(&b), "a%2F%C3%A9%25");
	buf_release(&b);
}

static void
test_sigv4_refuses(void **state)
{
	struct sigv4_creds c = { AK, SK, NULL };
	struct sigv4_header h = { "Host", "evil" };
	struct sigv4_req rq = {
		.method = "GET", .host = "example.amazonaws.com", .path = "/",
		.region = "us-east-1", .service = "service",
		.headers = &h, .nheaders = 1,
	};
	struct sigv4_out o;
	struct err e = ERR_INIT;

	(void)state;
	sigv4_out_init(&o);
	assert_int_equal(sigv4_sign(&rq, &c, NOW, &o, &e), AG_EINVAL);
	h.name = "X-Evil";
	h.value = "a\r\nInjected: 1";
	assert_int_equal(sigv4_sign(&rq, &c, NOW, &o, &e), AG_EINVAL);
	rq.nheaders = 0;
	c.secret_access_key = "";
	assert_int_equal(sigv4_sign(&rq, &c, NOW, &o, &e), AG_EINVAL);
	/* the secret never appears in anything the signer returns */
	c.secret_access_key = SK;
	assert_int_equal(sigv4_sign(&rq, &c, NOW, &o, &e), 0);
	assert_null(strstr(buf_cstr(&o.authorization), SK));
	assert_null(strstr(buf_cstr(&o.canonical), SK));
	sigv4_out_release(&o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigv4_published),
		cmocka_unit_test(test_sigv4_suite),
		cmocka_unit_test(test_sigv4_botocore_table),
		cmocka_unit_test(test_sigv4_botocore_suite),
		cmocka_unit_test(test_sigv4_uri_encode),
		cmocka_unit_test(test_sigv4_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

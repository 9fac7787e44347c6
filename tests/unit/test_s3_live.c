/*
 * Tests for s3.c and creds.c.
 *
 * Offline cases always run (URL building, error parsing, ETag forms,
 * shared-credentials parsing and re-reading). Live cases run against the
 * moto started by tests/e2e/t_s3.sh, which sets (all required for live):
 *	CDAGENT_S3_ENDPOINT	http://127.0.0.1:PORT (moto, SigV4 checked)
 *	CDAGENT_S3_AK / _SK	the IAM access key moto knows
 *	CDAGENT_S3_BUCKET	plain bucket
 *	CDAGENT_S3_VBUCKET, CDAGENT_S3_V1, CDAGENT_S3_V1_SHA256
 *				versioned bucket "bundle.tar", older version
 *	CDAGENT_S3_FAULT_ENDPOINT, CDAGENT_S3_FAULT_ARM
 *				faultproxy.py in front of moto, and the file
 *				that arms one cut
 *	CDAGENT_S3_TLS_ENDPOINT, CDAGENT_S3_CA, CDAGENT_S3_WRONG_CA
 *				tlsproxy.py in front of moto and its CAs
 *	CDAGENT_S3_PROXY, CDAGENT_S3_PROXY_LOG
 *				connectproxy.py (with user:password) + its log
 *	CDAGENT_S3_TMP		scratch directory
 * Without them the live cases are skipped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "creds.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "s3.h"
#include "sigv4.h"

/* ---- offline ------------------------------------------------------------ */

static void
url_is(struct s3_fetch_req *rq, const char *want_url, const char *want_host)
{
	struct buf u = BUF_INIT(8192), h = BUF_INIT(1024), p = BUF_INIT(8192),
	    q = BUF_INIT(1024);
	struct err e = ERR_INIT;

	assert_int_equal(s3_object_url(rq, &u, &h, &p, &q, &e), 0);
	assert_string_equal(buf_cstr(&u), want_url);
	assert_string_equal(buf_cstr(&h), want_host);
	buf_release(&u);
	buf_release(&h);
	buf_release(&p);
	buf_release(&q);
}

static void
test_s3_urls(void **state)
{
	struct s3_fetch_req rq = { .bucket = "my-bucket", .key = "a b/c+d.tgz",
	    .region = "us-west-2" };

	(void)state;
	url_is(&rq, "https://my-bucket.s3.us-west-2.amazonaws.com/a%20b/"
	    "c%2Bd.tgz", "my-bucket.s3.us-west-2.amazonaws.com");
	rq.version = "v/1+x";
	url_is(&rq, "https://my-bucket.s3.us-west-2.amazonaws.com/a%20b/"
	    "c%2Bd.tgz?versionId=v%2F1%2Bx",
	    "my-bucket.s3.us-west-2.amazonaws.com");
	rq.version = NULL;
	rq.use_fips = 1;
	url_is(&rq, "https://my-bucket.s3-fips.us-west-2.amazonaws.com/a%20b/"
	    "c%2Bd.tgz", "my-bucket.s3-fips.us-west-2.amazonaws.com");
	rq.use_fips = 0;
	rq.region = "cn-north-1";
	url_is(&rq, "https://my-bucket.s3.cn-north-1.amazonaws.com.cn/a%20b/"
	    "c%2Bd.tgz", "my-bucket.s3.cn-north-1.amazonaws.com.cn");
	rq.region = "eusc-de-east-1";
	url_is(&rq, "https://my-bucket.s3.eusc-de-east-1.amazonaws.eu/a%20b/"
	    "c%2Bd.tgz", "my-bucket.s3.eusc-de-east-1.amazonaws.eu");
	/* dotted and upper-case buckets: path style */
	rq.region = "us-east-1";
	rq.bucket = "my.dotted.bucket";
	url_is(&rq, "https://s3.us-east-1.amazonaws.com/my.dotted.bucket/"
	    "a%20b/c%2Bd.tgz", "s3.us-east-1.amazonaws.com");
	rq.bucket = "My_Bucket";
	url_is(&rq, "https://s3.us-east-1.amazonaws.com/My_Bucket/a%20b/"
	    "c%2Bd.tgz", "s3.us-east-1.amazonaws.com");
	/* overrides: IP/port -> path style; a name -> virtual-hosted */
	rq.bucket = "b1";
	rq.key = "k";
	rq.bucket = "bkt";
	rq.endpoint = "http://127.0.0.1:9000";
	url_is(&rq, "http://127.0.0.1:9000/bkt/k", "127.0.0.1:9000");
	rq.endpoint = "https://minio.lan";
	url_is(&rq, "https://bkt.minio.lan/k", "bkt.minio.lan");
	rq.force_path_style = 1;
	url_is(&rq, "https://minio.lan/bkt/k", "minio.lan");
	rq.force_path_style = 0;
	rq.endpoint = "https://minio.lan:8443/";
	url_is(&rq, "https://minio.lan:8443/bkt/k", "minio.lan:8443");
}

static void
test_s3_errors_etags(void **state)
{
	char code[64], msg[256];

	(void)state;
	s3_parse_error("<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code>"
	    "<Message>The specified key does not exist.</Message><Key>k</Key>"
	    "</Error>", code, sizeof(code), msg, sizeof(msg));
	assert_string_equal(code, "NoSuchKey");
	assert_string_equal(msg, "The specified key does not exist.");
	s3_parse_error("garbage", code, sizeof(code), msg, sizeof(msg));
	assert_string_equal(code, "");
	assert_true(s3_etag_is_multipart("\"d41d8cd98f00b204e9800998ecf8427e-12\""));
	assert_true(s3_etag_is_multipart("d41d8cd98f00b204e9800998ecf8427e-1"));
	assert_false(s3_etag_is_multipart("\"d41d8cd98f00b204e9800998ecf8427e\""));
	assert_false(s3_etag_is_multipart("abc-"));
	assert_false(s3_etag_is_multipart("xyz-3"));
}

static void
test_creds_shared(void **state)
{
	struct creds c;
	struct err e = ERR_INIT;
	const char *text =
	    "# comment\n[other]\naws_access_key_id = NO\n"
	    "aws_secret_access_key = NO\n\n[default]\n"
	    "aws_access_key_id=AKIA1\r\n aws_secret_access_key = s e c \n"
	    "aws_session_token = tok\n[profile prod]\naws_access_key_id=P\n"
	    "aws_secret_access_key=PS\n";

	(void)state;
	assert_int_equal(creds_parse_shared(text, "default", &c, &e), 0);
	assert_string_equal(c.access_key_id, "AKIA1");
	assert_string_equal(c.secret_access_key, "s e c");
	assert_string_equal(c.session_token, "tok");
	creds_release(&c);
	assert_int_equal(creds_parse_shared(text, "prod", &c, &e), 0);
	assert_string_equal(c.access_key_id, "P");
	assert_null(c.session_token);
	creds_release(&c);
	assert_int_equal(creds_parse_shared(text, "missing", &c, &e),
	    AG_EINVAL);
	assert_non_null(strstr(e.msg, "missing"));
	assert_null(c.access_key_id);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void
test_creds_provider(void **state)
{
	char dir[] = "/tmp/cdagent-creds.XXXXXX", path[256];
	struct onprem op;
	struct creds_provider *p = NULL;
	struct creds c;
	struct buf region = BUF_INIT(64);
	struct err e = ERR_INIT;
	struct timespec ts[2];

	(void)state;
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_REGION");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/session", dir);
	write_file(path, "[default]\naws_access_key_id=A1\n"
	    "aws_secret_access_key=S1\naws_session_token=T1\n", 0600);

	/* session mode: re-read when the mtime changes */
	memset(&op, 0, sizeof(op));
	op.iam_session_arn = "arn:aws:sts::1:assumed-role/r/h";
	op.aws_credentials_file = path;
	op.region = "eu-west-1";
	assert_int_equal(creds_provider_new(&p, &op, 0, NULL, &e), 0);
	assert_int_equal(creds_get(p, &c, &e), 0);
	assert_string_equal(c.access_key_id, "A1");
	assert_string_equal(c.session_token, "T1");
	creds_release(&c);
	write_file(path, "[default]\naws_access_key_id=A2\n"
	    "aws_secret_access_key=S2\n", 0644);	/* warns: 0644 */
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) + 5;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	utimensat(AT_FDCWD, path, ts, 0);
	assert_int_equal(creds_get(p, &c, &e), 0);
	assert_string_equal(c.access_key_id, "A2");
	assert_null(c.session_token);
	creds_release(&c);
	assert_int_equal(creds_region(p, &region, &e), 0);
	assert_string_equal(buf_cstr(&region), "eu-west-1");
	unlink(path);
	utimensat(AT_FDCWD, dir, ts, 0);
	creds_provider_free(p);
	p = NULL;
	assert_int_equal(creds_provider_new(&p, &op, 0, NULL, &e), 0);
	assert_int_equal(creds_get(p, &c, &e), AG_EIO);
	assert_non_null(strstr(e.msg, "failed to load credentials from "
	    "path"));
	creds_provider_free(p);
	p = NULL;

	/* static on-premises keys */
	memset(&op, 0, sizeof(op));
	op.iam_user_arn = "arn:aws:iam::1:user/u";
	op.aws_access_key_id = "AKSTATIC";
	op.aws_secret_access_key = "SSTATIC";
	assert_int_equal(creds_provider_new(&p, &op, CREDS_ENV, NULL, &e), 0);
	assert_int_equal(creds_get(p, &c, &e), 0);
	assert_string_equal(c.access_key_id, "AKSTATIC");
	assert_string_equal(c.source, "onprem");
	creds_release(&c);
	creds_provider_free(p);
	p = NULL;

	/* environment, only with CREDS_ENV */
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	setenv("AWS_REGION", "ap-south-1", 1);
	assert_int_equal(creds_provider_new(&p, NULL, 0, NULL, &e), 0);
	assert_int_equal(creds_get(p, &c, &e), AG_EINVAL);
	creds_provider_free(p);
	p = NULL;
	assert_int_equal(creds_provider_new(&p, NULL, CREDS_ENV, NULL, &e), 0);
	assert_int_equal(creds_get(p, &c, &e), 0);
	assert_string_equal(c.access_key_id, "AKENV");
	creds_release(&c);
	assert_int_equal(creds_region(p, &region, &e), 0);
	assert_string_equal(buf_cstr(&region), "ap-south-1");
	creds_provider_free(p);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_REGION");
	buf_release(&region);
	rmdir(dir);
}

/* ---- live ------------------------------------------------------------------- */

struct live {
	const char *ep, *ak, *sk, *bucket, *vbucket, *v1, *v1sha, *fault,
	    *arm, *tls, *ca, *wrongca, *proxy, *proxylog, *tmp;
	struct creds c;
	struct http *h;
	char dst[1024];
	unsigned char *obj;		/* the plain object's bytes */
	size_t objlen;
	char objsha[65];
	const char *key;
};

static struct live L;

static int part_exists(void);

static int
live_setup(void **state)
{
	struct http_opts o = { .backoff_base_ms = 50, .backoff_max_ms = 200 };
	struct err e = ERR_INIT;
	size_t i;
	uint32_t x = 12345;

	(void)state;
	memset(&L, 0, sizeof(L));
	L.ep = getenv("CDAGENT_S3_ENDPOINT");
	L.ak = getenv("CDAGENT_S3_AK");
	L.sk = getenv("CDAGENT_S3_SK");
	L.bucket = getenv("CDAGENT_S3_BUCKET");
	L.vbucket = getenv("CDAGENT_S3_VBUCKET");
	L.v1 = getenv("CDAGENT_S3_V1");
	L.v1sha = getenv("CDAGENT_S3_V1_SHA256");
	L.fault = getenv("CDAGENT_S3_FAULT_ENDPOINT");
	L.arm = getenv("CDAGENT_S3_FAULT_ARM");
	L.tls = getenv("CDAGENT_S3_TLS_ENDPOINT");
	L.ca = getenv("CDAGENT_S3_CA");
	L.wrongca = getenv("CDAGENT_S3_WRONG_CA");
	L.proxy = getenv("CDAGENT_S3_PROXY");
	L.proxylog = getenv("CDAGENT_S3_PROXY_LOG");
	L.tmp = getenv("CDAGENT_S3_TMP");
	if (L.ep == NULL || L.ak == NULL || L.sk == NULL || L.bucket == NULL ||
	    L.tmp == NULL)
		return 0;
	L.c.access_key_id = strdup(L.ak);
	L.c.secret_access_key = strdup(L.sk);
	if (http_new(&L.h, &o, &e) != 0)
		return -1;
	snprintf(L.dst, sizeof(L.dst), "%s/bundle.tar", L.tmp);
	/*
	 * moto's own SigV4 check rejects '+' and non-ASCII keys even from
	 * botocore; those encodings are covered by test_sigv4's botocore
	 * table instead.
	 */
	L.key = "dir/my bundle~1.tar";
	L.objlen = 3 * 1024 * 1024 + 17;
	L.obj = malloc(L.objlen);
	for (i = 0; i < L.objlen; i++) {
		x = x * 1103515245u + 12345u;
		L.obj[i] = (unsigned char)(x >> 16);
	}
	sigv4_sha256_hex(L.obj, L.objlen, L.objsha);
	return 0;
}

static int
live_teardown(void **state)
{
	(void)state;
	http_free(L.h);
	creds_release(&L.c);
	free(L.obj);
	return 0;
}

#define NEED_LIVE() do { if (L.h == NULL) { \
	print_message("live S3 variables not set\n"); skip(); } } while (0)

static struct s3_fetch_req
req(const char *ep, const char *bucket, const char *key)
{
	struct s3_fetch_req rq = { .bucket = bucket, .key = key,
	    .region = "us-east-1", .creds = &L.c, .http = L.h, .endpoint = ep,
	    .budget_dir = L.tmp, .disk_reserve = 1024, .expansion_factor = 3 };

	return rq;
}

static void
put_plain(const unsigned char *data, size_t n)
{
	struct s3_fetch_req rq = req(L.ep, L.bucket, L.key);
	struct err e = ERR_INIT;
	char etag[256];

	if (s3_put(&rq, data, n, etag, &e) != 0)
		fail_msg("put: %s", e.msg);
}

static void
test_live_plain(void **state)
{
	struct s3_fetch_req rq;
	struct s3_fetch_stats st;
	struct err e = ERR_INIT;

	(void)state;
	NEED_LIVE();
	unlink(L.dst);
	put_plain(L.obj, L.objlen);
	rq = req(L.ep, L.bucket, L.key);
	if (s3_fetch(&rq, L.dst, &st, &e) != 0)
		fail_msg("%s", e.msg);
	assert_string_equal(st.sha256, L.objsha);
	assert_int_equal(st.size, L.objlen);
	assert_int_equal(st.bytes_fetched, L.objlen);
	assert_string_equal(st.md5, st.etag);
	/* the spec's ETag, quoted or not, is accepted */
	rq.etag = st.etag;
	assert_int_equal(s3_fetch(&rq, L.dst, &st, &e), 0);
	assert_false(part_exists());
}

static void
test_live_version(void **state)
{
	struct s3_fetch_req rq;
	struct s3_fetch_stats st;
	struct err e = ERR_INIT;

	(void)state;
	NEED_LIVE();
	if (L.vbucket == NULL || L.v1 == NULL || L.v1sha == NULL)
		skip();
	rq = req(L.ep, L.vbucket, "bundle.tar");
	rq.version = L.v1;
	if (s3_fetch(&rq, L.dst, &st, &e) != 0)
		fail_msg("%s", e.msg);
	assert_string_equal(st.sha256, L.v1sha);
	rq.version = "nonexistentversionid0000000000000";
	assert_int_not_equal(s3_fetch(&rq, L.dst, &st, &e), 0);
	print_message("no such version: %s\n", e.msg);
	assert_non_null(strstr(e.msg, "nonexistentversionid"));
	assert_non_null(strstr(e.msg, L.vbucket));
}

static void
test_live_errors(void **state)
{
	struct s3_fetch_req rq;
	struct s3_fetch_stats st;
	struct creds bad = { 0 };
	struct err e = ERR_INIT;
	char want[512];

	(void)state;
	NEED_LIVE();
	/* missing key */
	rq = req(L.ep, L.bucket, "no/such key.tar");
	assert_int_equal(s3_fetch(&rq, L.dst, &st, &e), AG_EINVAL);
	print_message("missing key: %s\n", e.msg);
	snprintf(want, sizeof(want), "s3://%s/no/such key.tar", L.bucket);
	assert_non_null(strstr(e.msg, want));
	assert_non_null(strstr(e.msg, "NoSuchKey"));
	/* wrong secret */
	bad.access_key_id = (char *)L.ak;
	bad.secret_access_key = "wrong-secret-key";
	rq = req(L.ep, L.bucket, L.key);
	rq.creds = &bad;
	assert_int_equal(s3_fetch(&rq, L.dst, &st, &e), AG_EINVAL);
	print_message("wrong secret: %s\n", e.msg);
	assert_non_null(strstr(e.msg, "SignatureDoesNotMatch"));
	assert_non_null(strstr(e.msg, L.bucket));
	assert_null(strstr(e.msg, "wrong-secret-key"));
	/* ETag mismatch */
	rq = req(L.ep, L.bucket, L.key);
	rq.etag = "\"0123456789abcdef0123456789abcdef\"";
	assert_int_equal(s3_fetch(&rq, L.dst, &st, &e), AG_EINVAL);
	print_message("etag: %s\n", e.msg);
	assert_non_null(strstr(e.msg, "expected deployment artifact bundle "
	    "etag 0123456789abcdef0123456789abcdef but was actually"));
	/* disk budget */
	rq = req(L.ep, L.bucket, L.key);
	rq.expansion_factor = 1 << 30;
	assert_int_equal(s3_fetch(&rq, L.dst, &st, &e), AG_EIO);
	print_message("budget: %s\n", e.msg);
	assert_non_null(strstr(e.msg, "not enough disk space"));
	assert_non_null(strstr(e.msg, L.tmp));
}

static void
arm(void)
{
	FILE *f = fopen(L.arm, "w");

	assert_non_null(f);
	fclose(f);
}

static int
part_exists(void)
{
	char side[1100];

	snprintf(side, sizeof(side), "%s.part.json", L.dst);
	return access(side, F_OK) == 0;
}

static void
test_live_resume(void **state)
{
	struct s3_fetch_req rq;
	struct s3_fetch_stats st;
	struct err e = ERR_INIT;
	struct stat sb;

	(void)state;
	NEED_LIVE();
	if (L.fault == NULL || L.arm == NULL)
		skip();
	put_plain(L.obj, L.objlen);
	unlink(L.dst);
	/* cut inside one call: resumed with Range */
	arm();
	rq = req(L.fault, L.bucket, L.key);
	if (s3_fetch(&rq, L.dst, &st, &e) != 0)
		fail_msg("%s", e.msg);
	print_message("resume: from %llu, fetched %llu of %llu\n",
	    (unsigned long long)st.resumed_from,
	    (unsigned long long)st.bytes_fetched, (unsigned long long)st.size);
	assert_string_equal(st.sha256, L.objsha);
	assert_true(st.resumed_from > 0);
	assert_true(st.bytes_fetched < L.objlen + L.objlen / 20);
	assert_false(part_exists());

	/* cut with one attempt: the partial file survives "a restart" */
	unlink(L.dst);
	arm();
	rq.max_attempts = 1;
	assert_int_equal(s3_fetch(&rq, L.dst, &st, &e), AG_ENET);
	print_message("cut: %s\n", e.msg);
	assert_true(part_exists());
	assert_int_equal(stat(L.dst, &sb), 0);
	assert_true(sb.st_size > 0 && (size_t)sb.st_size < L.objlen);
	rq.max_attempts = 0;
	if (s3_fetch(&rq, L.dst, &st, &e) != 0)
		fail_msg("%s", e.msg);
	assert_int_equal(st.resumed_from, sb.st_size);
	assert_true(st.bytes_fetched <= L.objlen - (size_t)sb.st_size);
	assert_string_equal(st.sha256, L.objsha);
}

static void
test_live_changed(void **state)
{
	struct s3_fetch_req rq;
	struct s3_fetch_stats st;
	struct err e = ERR_INIT;
	unsigned char *other;
	char sha[65];
	size_t i;

	(void)state;
	NEED_LIVE();
	if (L.fault == NULL || L.arm == NULL)
		skip();
	put_plain(L.obj, L.objlen);
	unlink(L.dst);
	arm();
	rq = req(L.fault, L.bucket, L.key);
	rq.max_attempts = 1;
	assert_int_equal(s3_fetch(&rq, L.dst, &st, &e), AG_ENET);
	assert_true(part_exists());
	other = malloc(L.objlen);
	for (i = 0; i < L.objlen; i++)
		other[i] = (unsigned char)(L.obj[i] ^ 0x5a);
	sigv4_sha256_hex(other, L.objlen, sha);
	put_plain(other, L.objlen);
	rq.max_attempts = 0;
	if (s3_fetch(&rq, L.dst, &st, &e) != 0)
		fail_msg("%s", e.msg);
	assert_string_equal(st.sha256, sha);
	assert_int_equal(st.resumed_from, 0);
	assert_true(st.restarts >= 1);
	free(other);
	put_plain(L.obj, L.objlen);
}

static int
count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, ch;

	if (f == NULL)
		return 0;
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

static void
tls_fetch(const char *ca, int want, const char *proxy, const char *noproxy,
    struct err *e)
{
	struct http_opts o = { .backoff_base_ms = 50, .backoff_max_ms = 200,
	    .max_attempts = 1 };
	struct http *h = NULL;
	struct s3_fetch_req rq;
	struct s3_fetch_stats st;

	setenv("AWS_SSL_CA_BUNDLE", ca, 1);
	if (proxy != NULL)
		setenv("HTTPS_PROXY", proxy, 1);
	if (noproxy != NULL)
		setenv("NO_PROXY", noproxy, 1);
	assert_int_equal(http_new(&h, &o, e), 0);
	rq = req(L.tls, L.bucket, L.key);
	rq.http = h;
	unlink(L.dst);
	assert_int_equal(s3_fetch(&rq, L.dst, &st, e), want);
	if (want == 0)
		assert_string_equal(st.sha256, L.objsha);
	http_free(h);
	unsetenv("AWS_SSL_CA_BUNDLE");
	unsetenv("HTTPS_PROXY");
	unsetenv("NO_PROXY");
}

static void
test_live_tls_proxy(void **state)
{
	struct err e = ERR_INIT;
	int before;

	(void)state;
	NEED_LIVE();
	if (L.tls == NULL || L.ca == NULL || L.wrongca == NULL)
		skip();
	put_plain(L.obj, L.objlen);
	tls_fetch(L.ca, 0, NULL, NULL, &e);
	tls_fetch(L.wrongca, AG_ENET, NULL, NULL, &e);
	print_message("wrong CA: %s\n", e.msg);
	assert_non_null(strstr(e.msg, "127.0.0.1"));
	assert_non_null(strstr(e.msg, "not trusted"));
	if (L.proxy == NULL || L.proxylog == NULL)
		return;
	before = count_lines(L.proxylog);
	tls_fetch(L.ca, 0, L.proxy, NULL, &e);
	assert_true(count_lines(L.proxylog) > before);
	before = count_lines(L.proxylog);
	tls_fetch(L.ca, 0, L.proxy, "localhost,127.0.0.0/8", &e);
	assert_int_equal(count_lines(L.proxylog), before);
	/* a proxy error never shows the proxy password */
	tls_fetch(L.wrongca, AG_ENET, L.proxy, NULL, &e);
	print_message("via proxy: %s\n", e.msg);
	assert_null(strstr(e.msg, "proxypass"));
}

/* IMDS credentials (fakeimds.py hands out the moto key) used for a fetch */
static void
imds_fetch(const char *imds, unsigned flags, int want)
{
	struct creds_provider *p = NULL;
	struct creds c;
	struct buf region = BUF_INIT(64);
	struct s3_fetch_req rq;
	struct s3_fetch_stats st;
	struct err e = ERR_INIT;

	setenv("CDAGENT_IMDS_ENDPOINT", imds, 1);
	unsetenv("AWS_REGION");
	assert_int_equal(creds_provider_new(&p, NULL, CREDS_IMDS | flags, L.h,
	    &e), 0);
	assert_int_equal(creds_get(p, &c, &e), want);
	if (want != 0) {
		print_message("imds: %s\n", e.msg);
		goto out;
	}
	assert_string_equal(c.source, "imds");
	assert_true(c.expires_ms > 0);
	assert_int_equal(creds_region(p, &region, &e), 0);
	assert_string_equal(buf_cstr(&region), "us-east-1");
	rq = req(L.ep, L.bucket, L.key);
	rq.creds = &c;
	if (s3_fetch(&rq, L.dst, &st, &e) != 0)
		fail_msg("%s", e.msg);
	creds_release(&c);
 out:
	creds_provider_free(p);
	buf_release(&region);
	unsetenv("CDAGENT_IMDS_ENDPOINT");
}

static void
test_live_imds(void **state)
{
	const char *v2 = getenv("CDAGENT_S3_IMDS"),
	    *v1 = getenv("CDAGENT_S3_IMDS_V1");

	(void)state;
	NEED_LIVE();
	if (v2 == NULL || v1 == NULL)
		skip();
	put_plain(L.obj, L.objlen);
	imds_fetch(v2, 0, 0);
	imds_fetch(v1, 0, 0);			/* falls back to IMDSv1 */
	imds_fetch(v1, CREDS_NO_IMDS_V1, AG_ENET);	/* unless disabled */
}

int
main(void)
{
	const struct CMUnitTest offline[] = {
		cmocka_unit_test(test_s3_urls),
		cmocka_unit_test(test_s3_errors_etags),
		cmocka_unit_test(test_creds_shared),
		cmocka_unit_test(test_creds_provider),
	};
	const struct CMUnitTest live[] = {
		cmocka_unit_test(test_live_plain),
		cmocka_unit_test(test_live_version),
		cmocka_unit_test(test_live_errors),
		cmocka_unit_test(test_live_resume),
		cmocka_unit_test(test_live_changed),
		cmocka_unit_test(test_live_tls_proxy),
		cmocka_unit_test(test_live_imds),
	};
	int r;

	log_setup("cdagent-test", LOG_INFO, 1);
	r = cmocka_run_group_tests_name("offline", offline, NULL, NULL);
	if (getenv("CDAGENT_S3_ENDPOINT") == NULL)
		return r;
	return r | cmocka_run_group_tests_name("live", live, live_setup,
	    live_teardown);
}

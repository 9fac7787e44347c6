/*
 * Unit tests for register.c (validation, form encoding, endpoints, the
 * on-premises config it writes, --from-env) and iamxml.c (the strict XML
 * reader for IAM replies).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "config.h"
#include "err.h"
#include "iamxml.h"
#include "log.h"
#include "platform.h"
#include "register.h"
#include "util.h"

static char *
rep(char c, size_t n)
{
	char *s = malloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void
test_register_instance_name(void **state)
{
	struct err e = ERR_INIT;
	char *s;

	(void)state;
	assert_int_equal(reg_check_instance_name("web-1.example_com@x+=,",
	    &e), 0);
	assert_int_equal(reg_check_instance_name("i-0123", &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "i-"));
	assert_int_equal(reg_check_instance_name("I-0123", &e), 0);
	assert_int_equal(reg_check_instance_name("host 1", &e), AG_EINVAL);
	assert_int_equal(reg_check_instance_name("h/1", &e), AG_EINVAL);
	assert_int_equal(reg_check_instance_name("", &e), AG_EINVAL);
	assert_int_equal(reg_check_instance_name(NULL, &e), AG_EINVAL);
	s = rep('a', 100);
	assert_int_equal(reg_check_instance_name(s, &e), 0);
	free(s);
	s = rep('a', 101);
	assert_int_equal(reg_check_instance_name(s, &e), AG_EINVAL);
	free(s);
}

static void
test_register_arns(void **state)
{
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(reg_check_user_arn("arn:aws:iam::123456789012:user/"
	    "AWS/CodeDeploy/web-1", &e), 0);
	assert_int_equal(reg_check_user_arn("arn:aws-cn:iam::123456789012:"
	    "user/x", &e), 0);
	assert_int_equal(reg_check_user_arn("arn:aws:iam::12345678901:user/x",
	    &e), AG_EINVAL);
	assert_int_equal(reg_check_user_arn("arn:aws:iam::123456789012:role/x",
	    &e), AG_EINVAL);
	assert_int_equal(reg_check_user_arn("arn:aws:iam::123456789012:user/",
	    &e), AG_EINVAL);
	assert_int_equal(reg_check_user_arn("arn:aws:iam::123456789012:user/a"
	    " b", &e), AG_EINVAL);
	assert_int_equal(reg_check_user_arn("arn:aws:sts::123456789012:user/x",
	    &e), AG_EINVAL);
	assert_int_equal(reg_check_user_arn("arn:foo:iam::123456789012:user/x",
	    &e), AG_EINVAL);

	assert_int_equal(reg_check_session_arn("arn:aws:sts::444455556666:"
	    "assumed-role/CodeDeployInstanceRole/AssetTag12010298EX", &e), 0);
	assert_int_equal(reg_check_session_arn("arn:aws:sts::444455556666:"
	    "assumed-role/Role/x", &e), AG_EINVAL);	/* session < 2 */
	assert_int_equal(reg_check_session_arn("arn:aws:sts::444455556666:"
	    "assumed-role/Role", &e), AG_EINVAL);
	assert_int_equal(reg_check_session_arn("arn:aws:sts::444455556666:"
	    "assumed-role/a/b/cd", &e), AG_EINVAL);
	assert_int_equal(reg_check_session_arn("arn:aws:iam::444455556666:"
	    "assumed-role/Role/sess", &e), AG_EINVAL);

	assert_int_equal(reg_check_region("us-west-2", &e), 0);
	assert_int_equal(reg_check_region("US-west-2", &e), AG_EINVAL);
	assert_int_equal(reg_check_region("us west", &e), AG_EINVAL);
	assert_int_equal(reg_check_access_key_id("AKIAIOSFODNN7EXAMPLE", &e), 0);
	assert_int_equal(reg_check_access_key_id("AKIDEXAMPLE", &e), AG_EINVAL);
	assert_null(strstr(e.msg, "AKIDEXAMPLE"));	/* not echoed */
}

static void
test_register_tags(void **state)
{
	struct err e = ERR_INIT;
	char *k, *v, *s, *t;

	(void)state;
	assert_int_equal(reg_parse_tag("Key=Env,Value=a=b c", &k, &v, &e), 0);
	assert_string_equal(k, "Env");
	assert_string_equal(v, "a=b c");
	free(k);
	free(v);
	assert_int_equal(reg_parse_tag("Key=Env,Value=", &k, &v, &e), 0);
	assert_string_equal(v, "");
	free(k);
	free(v);
	assert_int_equal(reg_parse_tag("Env=prod", &k, &v, &e), AG_EINVAL);
	assert_null(k);
	assert_int_equal(reg_parse_tag("Key=,Value=x", &k, &v, &e), AG_EINVAL);
	assert_int_equal(reg_parse_tag("Key=a,Value=x,y", &k, &v, &e),
	    AG_EINVAL);
	assert_int_equal(reg_parse_tag("Key=a", &k, &v, &e), AG_EINVAL);

	s = rep('k', 128);
	t = malloc(300 + 128);
	snprintf(t, 300 + 128, "Key=%s,Value=v", s);
	assert_int_equal(reg_parse_tag(t, &k, &v, &e), 0);
	free(k);
	free(v);
	free(s);
	s = rep('k', 129);
	snprintf(t, 300 + 128, "Key=%s,Value=v", s);
	assert_int_equal(reg_parse_tag(t, &k, &v, &e), AG_EINVAL);
	free(s);
	s = rep('v', 256);
	snprintf(t, 300 + 128, "Key=k,Value=%s", s);
	assert_int_equal(reg_parse_tag(t, &k, &v, &e), 0);
	free(k);
	free(v);
	free(s);
	s = rep('v', 257);
	snprintf(t, 300 + 128, "Key=k,Value=%s", s);
	assert_int_equal(reg_parse_tag(t, &k, &v, &e), AG_EINVAL);
	free(s);
	free(t);
}

static void
test_register_form(void **state)
{
	struct buf b = BUF_INIT(4096);

	(void)state;
	assert_int_equal(reg_form_add(&b, "Action", "CreateUser"), 0);
	assert_int_equal(reg_form_add(&b, "Path", "/AWS/CodeDeploy/"), 0);
	assert_int_equal(reg_form_add(&b, "Doc", "{\"a\": [\"s3:Get*\"]}~"),
	    0);
	assert_int_equal(reg_form_add(&b, "U", "caf\xc3\xa9+=&"), 0);
	assert_string_equal(buf_cstr(&b), "Action=CreateUser"
	    "&Path=%2FAWS%2FCodeDeploy%2F"
	    "&Doc=%7B%22a%22%3A%20%5B%22s3%3AGet%2A%22%5D%7D~"
	    "&U=caf%C3%A9%2B%3D%26");
	buf_release(&b);
}

static void
test_register_endpoints(void **state)
{
	struct buf b = BUF_INIT(4096);
	struct err e = ERR_INIT;
	const char *sr;

	(void)state;
	assert_int_equal(reg_codedeploy_endpoint("us-west-2", NULL, &b, &e), 0);
	assert_string_equal(buf_cstr(&b), "https://codedeploy.us-west-2."
	    "amazonaws.com");
	assert_int_equal(reg_codedeploy_endpoint("cn-north-1", NULL, &b, &e),
	    0);
	assert_string_equal(buf_cstr(&b), "https://codedeploy.cn-north-1."
	    "amazonaws.com.cn");
	assert_int_equal(reg_codedeploy_endpoint("us-west-2",
	    "https://127.0.0.1:1/", &b, &e), 0);
	assert_string_equal(buf_cstr(&b), "https://127.0.0.1:1/");
	assert_int_equal(reg_iam_endpoint("eu-west-1", NULL, &b, &sr, &e), 0);
	assert_string_equal(buf_cstr(&b), "https://iam.amazonaws.com/");
	assert_string_equal(sr, "us-east-1");
	assert_int_equal(reg_iam_endpoint("cn-northwest-1", NULL, &b, &sr, &e),
	    0);
	assert_string_equal(sr, "cn-north-1");
	assert_int_equal(reg_iam_endpoint("us-gov-east-1", NULL, &b, &sr, &e),
	    0);
	assert_string_equal(sr, "us-gov-west-1");
	assert_int_equal(reg_iam_endpoint("eu-west-1", "http://x:2", &b, &sr,
	    &e), 0);
	assert_string_equal(buf_cstr(&b), "http://x:2");
	buf_release(&b);
}

/* ---- iamxml ---------------------------------------------------------------- */

static const char create_key_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<!-- a comment -->\n"
    "<CreateAccessKeyResponse xmlns=\"https://iam.amazonaws.com/doc/"
    "2010-05-08/\">\n"
    "  <CreateAccessKeyResult>\n"
    "    <AccessKey>\n"
    "      <UserName>Bob</UserName>\n"
    "      <AccessKeyId>AKIAIOSFODNN7EXAMPLE</AccessKeyId>\n"
    "      <Status>Active</Status>\n"
    "      <SecretAccessKey>wJalr/K7&amp;&lt;&#x41;&#66;<![CDATA[<x>]]>"
    "</SecretAccessKey>\n"
    "      <Empty/>\n"
    "    </AccessKey>\n"
    "  </CreateAccessKeyResult>\n"
    "  <ResponseMetadata><RequestId>7a62c49f</RequestId>"
    "</ResponseMetadata>\n"
    "</CreateAccessKeyResponse>\n";

static void
test_iamxml_reply(void **state)
{
	struct iamxml *x = NULL;
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(iamxml_parse(&x, create_key_xml,
	    strlen(create_key_xml), &e), 0);
	assert_string_equal(iamxml_get(x, "CreateAccessKeyResponse/"
	    "CreateAccessKeyResult/AccessKey/AccessKeyId"),
	    "AKIAIOSFODNN7EXAMPLE");
	assert_string_equal(iamxml_get(x, "CreateAccessKeyResponse/"
	    "CreateAccessKeyResult/AccessKey/SecretAccessKey"),
	    "wJalr/K7&<AB<x>");
	assert_string_equal(iamxml_get(x, "CreateAccessKeyResponse/"
	    "CreateAccessKeyResult/AccessKey/Empty"), "");
	assert_null(iamxml_get(x, "CreateAccessKeyResult/AccessKey"));
	assert_null(iamxml_get(x, "CreateAccessKeyResponse/Nope"));
	iamxml_free(x);
}

static void
test_iamxml_error_and_lists(void **state)
{
	static const char er[] = "<ErrorResponse xmlns='x'><Error>"
	    "<Type>Sender</Type><Code>EntityAlreadyExists</Code>"
	    "<Message>User with name web-1 already exists.</Message></Error>"
	    "<RequestId>1</RequestId></ErrorResponse>";
	static const char li[] = "<a:R xmlns:a=\"u\"><a:L><member>p1</member>"
	    "<member>p&#233;2</member></a:L></a:R>";
	struct iamxml *x = NULL;
	struct strv v = STRV_INIT;
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(iamxml_parse(&x, er, strlen(er), &e), 0);
	assert_string_equal(iamxml_get(x, "ErrorResponse/Error/Code"),
	    "EntityAlreadyExists");
	iamxml_free(x);
	assert_int_equal(iamxml_parse(&x, li, strlen(li), &e), 0);
	assert_int_equal(iamxml_get_all(x, "R/L/member", &v), 0);
	assert_int_equal(v.n, 2);
	assert_string_equal(v.v[0], "p1");
	assert_string_equal(v.v[1], "p\xc3\xa9" "2");
	strv_release(&v);
	iamxml_free(x);
}

static void
test_iamxml_strict(void **state)
{
	static const char *const bad[] = {
		"",
		"   ",
		"<a>",
		"<a></b>",
		"<a><b></a></b>",
		"<a/><b/>",
		"text<a/>",
		"<a/>text",
		"<a>&foo;</a>",
		"<a>&amp</a>",
		"<a>&#0;</a>",
		"<a>&#xD800;</a>",
		"<a>&#x110000;</a>",
		"<a>& b</a>",
		"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
		"<a x=1/>",
		"<a x=\"<\"/>",
		"<a x=\"1\"y=\"2\"/>",
		"<a><!-- open </a>",
		"<a><![CDATA[ x </a>",
		"<a>\x01</a>",
		"<1a/>",
		"<a:/>",
		"</a>",
	};
	struct iamxml *x = NULL;
	struct err e = ERR_INIT;
	struct buf deep = BUF_INIT(4096);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&e);
		if (iamxml_parse(&x, bad[i], strlen(bad[i]), &e) != AG_EPROTO)
			fail_msg("accepted: %s", bad[i]);
		assert_null(x);
		assert_non_null(strstr(e.msg, "xml: line "));
	}
	for (i = 0; i < IAMXML_MAX_DEPTH + 1; i++)
		buf_addstr(&deep, "<d>");
	for (i = 0; i < IAMXML_MAX_DEPTH + 1; i++)
		buf_addstr(&deep, "</d>");
	assert_int_equal(iamxml_parse(&x, deep.ptr, deep.len, &e), AG_EPROTO);
	assert_non_null(strstr(e.msg, "deeply"));
	buf_release(&deep);
	/* within limits, and a BOM */
	assert_int_equal(iamxml_parse(&x, "\xef\xbb\xbf<a x='1' y=\"&amp;\">"
	    "<b>1</b ></a>", strlen("\xef\xbb\xbf<a x='1' y=\"&amp;\">"
	    "<b>1</b ></a>"), &e), 0);
	assert_string_equal(iamxml_get(x, "a/b"), "1");
	iamxml_free(x);
}

/* ---- the on-premises config ------------------------------------------------ */

static void
write_and_load(const struct reg_onprem *ro, struct onprem *op)
{
	char dir[] = "/tmp/test_register.XXXXXX";
	struct buf b = BUF_INIT(65536);
	struct err e = ERR_INIT;
	struct stat st;
	char *path;

	assert_non_null(mkdtemp(dir));
	path = util_path_join(dir, "codedeploy.onpremises.yml");
	assert_int_equal(reg_onprem_format(&b, ro, &e), 0);
	assert_int_equal(plat_fs_write_atomic(path, b.ptr, b.len, 0600, &e),
	    0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	if (onprem_load(op, path, &e) != 0)
		fail_msg("onprem_load: %s\n%s", e.msg, buf_cstr(&b));
	buf_release_secret(&b);
	unlink(path);
	rmdir(dir);
	free(path);
}

static void
test_register_onprem_user(void **state)
{
	struct reg_onprem ro = {
		.instance_name = "web-1",
		.region = "us-west-2",
		.iam_user_arn = "arn:aws:iam::123456789012:user/AWS/"
		    "CodeDeploy/web-1",
		.aws_access_key_id = "AKIAIOSFODNN7EXAMPLE",
		.aws_secret_access_key = "wJalr'XUtn: #FEMI/K7MDENG+bPxRfiCY",
		.machine_id = "0123456789abcdef0123456789abcdef",
	};
	struct onprem op;

	(void)state;
	write_and_load(&ro, &op);
	assert_string_equal(op.iam_user_arn, ro.iam_user_arn);
	assert_string_equal(op.aws_access_key_id, ro.aws_access_key_id);
	assert_string_equal(op.aws_secret_access_key,
	    ro.aws_secret_access_key);
	assert_string_equal(op.region, "us-west-2");
	assert_string_equal(op.machine_id, ro.machine_id);
	assert_null(op.iam_session_arn);
	onprem_release(&op);
}

static void
test_register_onprem_session(void **state)
{
	struct reg_onprem ro = {
		.instance_name = "host-2",
		.region = "eu-west-1",
		.iam_session_arn = "arn:aws:sts::444455556666:assumed-role/"
		    "CodeDeployInstanceRole/AssetTag12010298EX",
		.aws_credentials_file = "/etc/codedeploy-agent/conf/session "
		    "creds",
	};
	struct onprem op;
	struct buf b = BUF_INIT(4096);
	struct err e = ERR_INIT;

	(void)state;
	write_and_load(&ro, &op);
	assert_string_equal(op.iam_session_arn, ro.iam_session_arn);
	assert_string_equal(op.aws_credentials_file, ro.aws_credentials_file);
	assert_null(op.aws_access_key_id);
	assert_null(op.machine_id);
	onprem_release(&op);

	ro.aws_credentials_file = "/x\ny: 1";
	assert_int_equal(reg_onprem_format(&b, &ro, &e), AG_EINVAL);
	ro.aws_credentials_file = "/x";
	ro.iam_user_arn = "arn:aws:iam::123456789012:user/x";
	assert_int_equal(reg_onprem_format(&b, &ro, &e), AG_EINVAL);
	buf_release(&b);
}

/* ---- options and --from-env ------------------------------------------------ */

static void
test_register_env(void **state)
{
	static const char text[] =
	    "# golden image\n"
	    "\n"
	    "INSTANCE_NAME=golden-7\r\n"
	    "export REGION = us-east-1\n"
	    "TAGS=\"Key=Env,Value=prod; Key=Image,Value=a b\"\n"
	    "TAGS=Key=Three,Value=3\n"
	    "CREATE_IAM_USER=yes\n"
	    "AWS_ACCESS_KEY_ID='AKIAOPERATOR00000001'\n"
	    "AWS_SECRET_ACCESS_KEY=sec=ret\n";
	struct reg_opts o;
	struct err e = ERR_INIT;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.region = strdup("eu-west-1");		/* from the command line */
	assert_int_equal(reg_parse_env(&o, text, "f.env", &e), 0);
	assert_string_equal(o.instance_name, "golden-7");
	assert_string_equal(o.region, "eu-west-1");
	assert_int_equal(o.ntags, 3);
	assert_string_equal(o.tag_keys[1], "Image");
	assert_string_equal(o.tag_values[1], "a b");
	assert_int_equal(o.create_iam_user, 1);
	assert_string_equal(o.op_access_key_id, "AKIAOPERATOR00000001");
	assert_string_equal(o.op_secret_access_key, "sec=ret");
	assert_int_equal(reg_check_opts(&o, &e), 0);
	reg_opts_release(&o);

	memset(&o, 0, sizeof(o));
	assert_int_equal(reg_parse_env(&o, "INSTANCE_NAME=a\nNOPE=1\n",
	    "f.env", &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "f.env:2"));
	reg_opts_release(&o);
	memset(&o, 0, sizeof(o));
	assert_int_equal(reg_parse_env(&o, "just words\n", "f.env", &e),
	    AG_EINVAL);
	assert_int_equal(reg_parse_env(&o, "CREATE_IAM_USER=maybe\n", "f.env",
	    &e), AG_EINVAL);
	reg_opts_release(&o);
}

static void
test_register_check_opts(void **state)
{
	struct reg_opts o;
	struct err e = ERR_INIT;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.instance_name = strdup("h1");
	o.region = strdup("us-east-1");
	assert_int_equal(reg_check_opts(&o, &e), AG_EINVAL);	/* no mode */
	o.iam_user_arn = strdup("arn:aws:iam::123456789012:user/h1");
	assert_int_equal(reg_check_opts(&o, &e), AG_EINVAL);	/* no keys */
	o.access_key_id = strdup("AKIAIOSFODNN7EXAMPLE");
	o.secret_access_key_file = strdup("/k");
	assert_int_equal(reg_check_opts(&o, &e), 0);
	o.create_iam_user = 1;
	assert_int_equal(reg_check_opts(&o, &e), AG_EINVAL);	/* two */
	o.create_iam_user = 0;
	o.credentials_file = strdup("/c");
	assert_int_equal(reg_check_opts(&o, &e), AG_EINVAL);
	reg_opts_release(&o);

	memset(&o, 0, sizeof(o));
	o.instance_name = strdup("h1");
	o.region = strdup("us-east-1");
	o.iam_session_arn = strdup("arn:aws:sts::123456789012:assumed-role/"
	    "R/s1");
	o.credentials_file = strdup("relative");
	assert_int_equal(reg_check_opts(&o, &e), AG_EINVAL);
	free(o.credentials_file);
	o.credentials_file = strdup("/etc/creds");
	assert_int_equal(reg_check_opts(&o, &e), 0);
	reg_opts_release(&o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_instance_name),
		cmocka_unit_test(test_register_arns),
		cmocka_unit_test(test_register_tags),
		cmocka_unit_test(test_register_form),
		cmocka_unit_test(test_register_endpoints),
		cmocka_unit_test(test_iamxml_reply),
		cmocka_unit_test(test_iamxml_error_and_lists),
		cmocka_unit_test(test_iamxml_strict),
		cmocka_unit_test(test_register_onprem_user),
		cmocka_unit_test(test_register_onprem_session),
		cmocka_unit_test(test_register_env),
		cmocka_unit_test(test_register_check_opts),
	};

	log_setup("test_register", LOG_ERROR, 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for config.c (agent and on-premises configuration). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "config.h"
#include "err.h"
#include "log.h"
#include "util.h"

struct fx {
	char dir[64];
	char *conf;	/* <dir>/agent.yml */
	char *log;	/* <dir>/agent.log: what log_warn() wrote */
};

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct err e = ERR_INIT;

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_config.XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	fx->conf = util_path_join(fx->dir, "agent.yml");
	fx->log = util_path_join(fx->dir, "agent.log");
	log_setup("test_config", LOG_DEBUG, 0);
	if (log_open_file(fx->log, 0, 0, &e) != 0)
		return -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	log_close();
	unlink(fx->conf);
	unlink(fx->log);
	rmdir(fx->dir);
	free(fx->conf);
	free(fx->log);
	free(fx);
	return 0;
}

static void
write_conf(const struct fx *fx, const char *text)
{
	FILE *f = fopen(fx->conf, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Everything logged so far (a heap string). */
static char *
read_log(const struct fx *fx)
{
	struct buf b = BUF_INIT(1 << 20);
	struct err e = ERR_INIT;

	assert_int_equal(buf_read_file(&b, fx->log, &e), 0);
	return buf_detach(&b);
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay++;
	}
	return n;
}

/* Load text over the defaults; must fail with all given substrings. */
static void
load_bad(const struct fx *fx, const char *text, ...)
{
	struct config c;
	struct err e = ERR_INIT;
	const char *want;
	va_list ap;

	write_conf(fx, text);
	assert_int_equal(config_init(&c, &e), 0);
	assert_int_equal(config_load(&c, fx->conf, &e), AG_EINVAL);
	va_start(ap, text);
	while ((want = va_arg(ap, const char *)) != NULL)
		if (strstr(e.msg, want) == NULL)
			fail_msg("for:\n%s\nwanted \"%s\" in: %s", text, want,
			    e.msg);
	va_end(ap);
	config_release(&c);
}

static void
test_config_defaults(void **state)
{
	struct config c;
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(config_init(&c, &e), 0);
	assert_null(c.path);
	assert_string_equal(c.root_dir,
	    "/opt/codedeploy-agent/deployment-root");
	assert_string_equal(c.log_dir, "/var/log/aws/codedeploy-agent");
	assert_string_equal(c.pid_dir, "/opt/codedeploy-agent/state/.pid");
	assert_string_equal(c.program_name, "codedeploy-agent");
	assert_string_equal(c.on_premises_config_file, CONFIG_DEFAULT_ONPREM);
	assert_string_equal(c.ongoing_deployment_tracking,
	    "ongoing-deployment");
	assert_int_equal(c.verbose, 0);
	assert_int_equal(c.max_revisions, 5);
	assert_int_equal(c.enable_deployments_log, 1);
	assert_int_equal(c.wait_between_runs, 1);
	assert_int_equal(c.http_read_timeout, 80);
	assert_int_equal(c.kill_agent_max_wait_time_seconds, 7200);
	assert_int_equal(c.log_max_bytes, 64u << 20);
	assert_int_equal(c.log_keep, 8);
	assert_int_equal(c.hook_kill_grace_seconds, 10);
	assert_int_equal(c.hook_outputs_left_open_fail, 0);
	assert_int_equal(c.hook_output_drain_ms, 2000);
	assert_true(c.archive_max_extraction_size == (uint64_t)10 << 30);
	assert_int_equal(c.allow_setuid_in_bundle, 0);
	assert_int_equal(c.preserve_symlinks, 1);
	assert_int_equal(c.disk_reserve_bytes, 100u << 20);
	assert_int_equal(c.disk_expansion_factor, 3);
	assert_null(c.deploy_control_endpoint);
	assert_int_equal(c.enable_auth_policy, 0);
	assert_int_equal(c.use_fips_mode, 0);
	assert_int_equal(c.disable_imds_v1, 0);
	assert_null(c.proxy_uri);
	assert_null(c.control_plane_proxy_uri);
	assert_null(c.storage_proxy_uri);
	assert_null(c.ca_bundle);
	assert_null(c.s3_endpoint_override);
	assert_int_equal(c.s3_force_path_style, 0);
	assert_int_equal(c.max_parallel_commands, 4);
	assert_null(c.deployment_spec_signer_ca);
	assert_int_equal(c.allow_text_json_spec, 0);
	assert_null(c.codedeploy_endpoint);
	assert_null(c.iam_endpoint);
	config_release(&c);
	config_release(&c);	/* released twice is harmless */
}

/* The shipped file, Ruby symbol style. */
static void
test_config_ruby_keys(void **state)
{
	struct fx *fx = *state;
	struct config c;
	struct err e = ERR_INIT;
	char *log;

	write_conf(fx, "--- \n"
	    ":log_aws_wire: false\n"
	    ":log_dir: '/var/log/aws/codedeploy-agent/'\n"
	    ":pid_dir: '/opt/codedeploy-agent/state/.pid/'\n"
	    ":program_name: codedeploy-agent\n"
	    ":root_dir: '/srv/deploy'\n"
	    ":verbose: true\n"
	    ":wait_between_runs: 1\n"
	    ":proxy_uri:\n"
	    ":max_revisions: 2\n"
	    ":children: 1\n"
	    ":user: root\n"
	    ":plugins: [codedeploy]\n"
	    ":enable_auth_policy: yes\n"
	    ":http_read_timeout: 0x3c\n"
	    ":disable_imds_v1: On\n");
	assert_int_equal(config_init(&c, &e), 0);
	assert_int_equal(config_load(&c, fx->conf, &e), 0);
	assert_string_equal(c.path, fx->conf);
	/* trailing slashes dropped: one spelling per directory */
	assert_string_equal(c.log_dir, "/var/log/aws/codedeploy-agent");
	assert_string_equal(c.pid_dir, "/opt/codedeploy-agent/state/.pid");
	assert_string_equal(c.root_dir, "/srv/deploy");
	assert_int_equal(c.verbose, 1);
	assert_int_equal(c.max_revisions, 2);
	assert_null(c.proxy_uri);
	assert_int_equal(c.enable_auth_policy, 1);
	assert_int_equal(c.http_read_timeout, 60);
	assert_int_equal(c.disable_imds_v1, 1);
	/* untouched keys keep their defaults */
	assert_int_equal(c.kill_agent_max_wait_time_seconds, 7200);
	config_release(&c);
	/* accepted Ruby keys are silent */
	log = read_log(fx);
	assert_null(strstr(log, "unknown key"));
	free(log);
}

static void
test_config_plain_keys(void **state)
{
	struct fx *fx = *state;
	struct config c;
	struct err e = ERR_INIT;

	write_conf(fx, "root_dir: /data/cd\n"
	    "proxy_uri: http://proxy:3128\n"
	    "storage_proxy_uri: 'http://s3proxy:3128'\n"
	    "max_parallel_commands: 8\n"
	    "log_max_bytes: 1048576\n"
	    "archive_max_extraction_size: 0\n"
	    "disk_reserve_bytes: 1_000_000\n"
	    "hook_outputs_left_open: fail\n"
	    "preserve_symlinks: no\n"
	    "use_fips_mode: true\n"
	    "allow_text_json_spec: TRUE\n"
	    "s3_endpoint_override: http://127.0.0.1:5000\n"
	    "kill_agent_max_wait_time_seconds: 30\n"
	    "verbose: false\n"
	    ":verbose: true\n");		/* the last one wins */
	assert_int_equal(config_init(&c, &e), 0);
	assert_int_equal(config_load(&c, fx->conf, &e), 0);
	assert_string_equal(c.root_dir, "/data/cd");
	assert_string_equal(c.proxy_uri, "http://proxy:3128");
	assert_string_equal(c.storage_proxy_uri, "http://s3proxy:3128");
	assert_int_equal(c.max_parallel_commands, 8);
	assert_int_equal(c.log_max_bytes, 1048576);
	assert_int_equal(c.archive_max_extraction_size, 0);
	assert_int_equal(c.disk_reserve_bytes, 1000000);
	assert_int_equal(c.hook_outputs_left_open_fail, 1);
	assert_int_equal(c.preserve_symlinks, 0);
	assert_int_equal(c.use_fips_mode, 1);
	assert_int_equal(c.allow_text_json_spec, 1);
	assert_string_equal(c.s3_endpoint_override, "http://127.0.0.1:5000");
	assert_int_equal(c.kill_agent_max_wait_time_seconds, 30);
	assert_int_equal(c.verbose, 1);
	config_release(&c);

	write_conf(fx, "hook_outputs_left_open: ignore\n");
	assert_int_equal(config_init(&c, &e), 0);
	c.hook_outputs_left_open_fail = 1;
	assert_int_equal(config_load(&c, fx->conf, &e), 0);
	assert_int_equal(c.hook_outputs_left_open_fail, 0);
	config_release(&c);

	/* an empty file keeps every default */
	write_conf(fx, "# nothing\n");
	assert_int_equal(config_init(&c, &e), 0);
	assert_int_equal(config_load(&c, fx->conf, &e), 0);
	assert_int_equal(c.max_revisions, 5);
	config_release(&c);
}

static void
test_config_unknown_key(void **state)
{
	struct fx *fx = *state;
	struct config c;
	struct err e = ERR_INIT;
	char *log;

	write_conf(fx, ":max_revisons: 3\n"
	    "frobnicate: 1\n"
	    "frobnicate: 2\n"
	    ":frobnicate: 3\n"
	    "max_revisions: 4\n");
	assert_int_equal(config_init(&c, &e), 0);
	assert_int_equal(config_load(&c, fx->conf, &e), 0);
	assert_int_equal(c.max_revisions, 4);
	config_release(&c);
	log = read_log(fx);
	assert_non_null(strstr(log, "unknown key 'max_revisons' ignored"));
	assert_non_null(strstr(log, fx->conf));
	assert_int_equal(count(log, "unknown key 'frobnicate' ignored"), 1);
	free(log);
}

static void
test_config_bad_values(void **state)
{
	struct fx *fx = *state;
	char want[256];

	snprintf(want, sizeof(want), "%s:2: max_revisions: invalid value '0' "
	    "(must be an integer >= 1)", fx->conf);
	load_bad(fx, "verbose: true\n:max_revisions: 0\n", want, NULL);
	load_bad(fx, "max_revisions: -3\n", "max_revisions: invalid value "
	    "'-3' (must be an integer >= 1)", NULL);
	load_bad(fx, "max_revisions: five\n", "max_revisions: invalid value "
	    "'five'", NULL);
	load_bad(fx, "max_revisions: '5'\n", "max_revisions: invalid value "
	    "'5'", NULL);
	load_bad(fx, "verbose: maybe\n", ":1: verbose: invalid value "
	    "'maybe' (must be true or false)", NULL);
	load_bad(fx, "verbose: 'false'\n", "verbose: invalid value 'false'",
	    NULL);
	load_bad(fx, "hook_outputs_left_open: close\n",
	    "hook_outputs_left_open: invalid value 'close' (must be fail or "
	    "ignore)", NULL);
	load_bad(fx, ":children: 2\n", "children: invalid value '2' (must be "
	    "1)", NULL);
	load_bad(fx, "log_max_bytes: 10MB\n", "log_max_bytes: invalid value "
	    "'10MB' (must be a size in bytes >= 0)", NULL);
	load_bad(fx, "max_parallel_commands: 5000\n", "max_parallel_commands: "
	    "invalid value '5000' (must be an integer from 1 to 1024)", NULL);
	load_bad(fx, "root_dir: ''\n", "root_dir: invalid value '' (must be "
	    "a non-empty string)", NULL);
	load_bad(fx, "proxy_uri: [a, b]\n", "proxy_uri: invalid value "
	    "'[...]' (must be a string)", NULL);
	load_bad(fx, "- a\n- b\n", "expected a mapping of keys to values, "
	    "found a list", NULL);
	load_bad(fx, "a: [\n", fx->conf, ":2:1:", NULL);
	load_bad(fx, "a: &x 1\nb: *x\n", "anchors and aliases", NULL);
}

static void
test_config_missing_file(void **state)
{
	struct fx *fx = *state;
	struct config c;
	struct err e = ERR_INIT;
	char *p = util_path_join(fx->dir, "nope.yml");

	assert_int_equal(config_init(&c, &e), 0);
	assert_int_equal(config_load(&c, p, &e), AG_EIO);
	assert_non_null(strstr(e.msg, "the config file "));
	assert_non_null(strstr(e.msg, "/nope.yml does not exist or is not "
	    "readable"));
	/* defaults survive a failed load */
	assert_int_equal(c.max_revisions, 5);
	config_release(&c);
	free(p);
}

/* ---- on-premises -------------------------------------------------------- */

static void
test_onprem_user(void **state)
{
	struct fx *fx = *state;
	struct onprem o;
	struct err e = ERR_INIT;

	write_conf(fx, "---\n"
	    "aws_access_key_id: AKIAEXAMPLE\n"
	    "aws_secret_access_key: c2VjcmV0\n"
	    "iam_user_arn: arn:aws:iam::444455556666:user/CodeDeployUser\n"
	    ":region: us-west-2\n");
	assert_int_equal(onprem_load(&o, fx->conf, &e), 0);
	assert_string_equal(o.iam_user_arn,
	    "arn:aws:iam::444455556666:user/CodeDeployUser");
	assert_null(o.iam_session_arn);
	assert_string_equal(o.aws_access_key_id, "AKIAEXAMPLE");
	assert_string_equal(o.aws_secret_access_key, "c2VjcmV0");
	assert_string_equal(o.region, "us-west-2");
	assert_null(o.aws_credentials_file);
	onprem_release(&o);
	assert_null(o.aws_secret_access_key);
	onprem_release(&o);
}

static void
test_onprem_session(void **state)
{
	struct fx *fx = *state;
	struct onprem o;
	struct err e = ERR_INIT;

	write_conf(fx, "iam_session_arn: arn:aws:sts::444455556666:"
	    "assumed-role/R/S\n"
	    "aws_credentials_file: /etc/codedeploy-agent/conf/session-creds\n"
	    "region: eu-west-1\n");
	assert_int_equal(onprem_load(&o, fx->conf, &e), 0);
	assert_string_equal(o.iam_session_arn,
	    "arn:aws:sts::444455556666:assumed-role/R/S");
	assert_string_equal(o.aws_credentials_file,
	    "/etc/codedeploy-agent/conf/session-creds");
	assert_null(o.aws_access_key_id);
	onprem_release(&o);

	/* neither ARN: nothing to do, EC2 mode */
	write_conf(fx, "region: eu-west-1\n");
	assert_int_equal(onprem_load(&o, fx->conf, &e), 0);
	assert_null(o.iam_user_arn);
	assert_null(o.iam_session_arn);
	assert_string_equal(o.region, "eu-west-1");
	onprem_release(&o);
}

static void
test_onprem_errors(void **state)
{
	struct fx *fx = *state;
	struct onprem o;
	struct err e = ERR_INIT;
	char *p = util_path_join(fx->dir, "nope.yml");

	write_conf(fx, "iam_user_arn: arn:aws:iam::1:user/u\n"
	    "iam_session_arn: arn:aws:sts::1:assumed-role/r/s\n"
	    "aws_access_key_id: AKIA\naws_secret_access_key: s\n"
	    "region: us-east-1\n");
	assert_int_equal(onprem_load(&o, fx->conf, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "cannot contain both 'iam_user_arn' "
	    "and 'iam_session_arn' keys"));
	assert_non_null(strstr(e.msg, fx->conf));
	assert_null(o.iam_user_arn);	/* nothing left behind */
	assert_null(o.aws_secret_access_key);

	write_conf(fx, "iam_user_arn: arn:aws:iam::1:user/u\n"
	    "region: us-east-1\naws_access_key_id: AKIA\n");
	assert_int_equal(onprem_load(&o, fx->conf, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "'aws_secret_access_key' key is "
	    "required when 'iam_user_arn' is provided"));

	write_conf(fx, "iam_session_arn: arn:aws:sts::1:assumed-role/r/s\n"
	    "region: us-east-1\n");
	assert_int_equal(onprem_load(&o, fx->conf, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "'aws_credentials_file' key is "
	    "required when 'iam_session_arn' is provided"));

	write_conf(fx, "region: [us-east-1\n");
	assert_int_equal(onprem_load(&o, fx->conf, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "The deployment failed because the "
	    "format of the following on-premises configuration file is "
	    "invalid: "));
	assert_non_null(strstr(e.msg, fx->conf));

	assert_int_equal(onprem_load(&o, p, &e), AG_EIO);
	assert_non_null(strstr(e.msg, "does not exist or not readable"));
	assert_non_null(strstr(e.msg, "nope.yml"));
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test_setup_teardown(test_config_ruby_keys, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_config_plain_keys, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_config_unknown_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_config_bad_values, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_config_missing_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_onprem_user, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_onprem_session, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_onprem_errors, setup,
		    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

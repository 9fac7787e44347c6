/* Unit tests for imageprep.c: what image-prep removes, keeps and refuses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "err.h"
#include "platform.h"

/* From imageprep.c (XXX: cli.h once the command is registered). */
int imageprep_run(const struct config *c, unsigned flags, FILE *out,
    struct err *e);
int cmd_image_prep(int argc, char **argv);
#define KEEP_CONFIG 1u
#define DRY_RUN 2u

struct fx {
	char dir[64];
	char path[512];		/* scratch for P() */
	struct config c;
	char *out;		/* what imageprep_run printed */
	size_t outlen;
};

/* P(f, "x/y"): "<tmpdir>/x/y" in f->path. */
static const char *
P(struct fx *f, const char *rel)
{
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, rel);
	return f->path;
}

static void
touch(struct fx *f, const char *rel)
{
	FILE *fp;
	char dir[512], *slash;

	snprintf(dir, sizeof(dir), "%s/%s", f->dir, rel);
	slash = strrchr(dir, '/');
	*slash = '\0';
	assert_int_equal(plat_fs_mkdir_p(dir, 0755, NULL), 0);
	fp = fopen(P(f, rel), "w");
	assert_non_null(fp);
	fputs("x\n", fp);
	fclose(fp);
}

static int
exists(struct fx *f, const char *rel)
{
	struct stat st;

	return lstat(P(f, rel), &st) == 0;
}

static void
set(char **field, const char *v)
{
	free(*field);
	*field = v ? strdup(v) : NULL;
	if (v)
		assert_non_null(*field);
}

/* A host with state everywhere image-prep looks, plus things to keep. */
static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_imageprep.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(config_init(&f->c, NULL), 0);
	set(&f->c.root_dir, P(f, "root"));
	set(&f->c.log_dir, P(f, "log"));
	set(&f->c.pid_dir, P(f, "state/.pid"));
	set(&f->c.on_premises_config_file, P(f, "conf/onprem.yml"));

	touch(f, "root/g1/d-1/bundle.tar");
	touch(f, "root/g1/d-1/logs/scripts.log");
	touch(f, "root/deployment-instructions/g1_last_successful_install");
	touch(f, "root/deployment-logs/codedeploy-agent-deployments.log");
	touch(f, "root/ongoing-deployment/d-1");
	touch(f, "root/.cdagent/journal/hcid-1");	/* daemon state */
	touch(f, "log/codedeploy-agent.log");
	touch(f, "log/codedeploy-agent.log.1");
	touch(f, "log/codedeploy-local.log");
	touch(f, "log/other-service.log");
	touch(f, "state/.pid/codedeploy-agent.pid");
	touch(f, "state/.pid/codedeploy-agent.pid.lock");
	touch(f, "conf/onprem.yml");
	touch(f, "conf/codedeployagent.yml");
	touch(f, "outside/keep.txt");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	assert_int_equal(plat_fs_rm_rf(f->dir, NULL), 0);
	config_release(&f->c);
	free(f->out);
	free(f);
	return 0;
}

static int
run(struct fx *f, unsigned flags, struct err *e)
{
	FILE *m;
	int r;

	free(f->out);
	f->out = NULL;
	m = open_memstream(&f->out, &f->outlen);
	assert_non_null(m);
	r = imageprep_run(&f->c, flags, m, e);
	fclose(m);
	return r;
}

/* The line "<prefix> <tmpdir>/<rel>" appears in the output. */
static int
printed(struct fx *f, const char *prefix, const char *rel)
{
	char line[600];

	snprintf(line, sizeof(line), "%s %s/%s\n", prefix, f->dir, rel);
	return f->out != NULL && strstr(f->out, line) != NULL;
}

/* Nothing of the fixture was removed. */
static void
assert_untouched(struct fx *f)
{
	assert_true(exists(f, "root/g1/d-1/bundle.tar"));
	assert_true(exists(f, "root/ongoing-deployment/d-1"));
	assert_true(exists(f, "log/codedeploy-agent.log"));
	assert_true(exists(f, "state/.pid/codedeploy-agent.pid"));
	assert_true(exists(f, "conf/onprem.yml"));
}

static void
test_imageprep_removes_host_state(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;

	assert_int_equal(run(f, 0, &e), 0);
	/* removed */
	assert_false(exists(f, "root/g1"));
	assert_false(exists(f, "root/deployment-instructions"));
	assert_false(exists(f, "root/deployment-logs"));
	assert_false(exists(f, "root/ongoing-deployment"));
	assert_false(exists(f, "root/.cdagent"));
	assert_false(exists(f, "log/codedeploy-agent.log"));
	assert_false(exists(f, "log/codedeploy-agent.log.1"));
	assert_false(exists(f, "log/codedeploy-local.log"));
	assert_false(exists(f, "state/.pid/codedeploy-agent.pid"));
	assert_false(exists(f, "state/.pid/codedeploy-agent.pid.lock"));
	assert_false(exists(f, "conf/onprem.yml"));
	/* kept: the directories, the agent config, other files */
	assert_true(exists(f, "root"));
	assert_true(exists(f, "log"));
	assert_true(exists(f, "state/.pid"));
	assert_true(exists(f, "log/other-service.log"));
	assert_true(exists(f, "conf/codedeployagent.yml"));
	assert_true(exists(f, "outside/keep.txt"));
	/* every removal printed, top-level entries only */
	assert_true(printed(f, "removed", "root/g1"));
	assert_true(printed(f, "removed", "root/ongoing-deployment"));
	assert_true(printed(f, "removed", "log/codedeploy-agent.log.1"));
	assert_true(printed(f, "removed", "state/.pid/codedeploy-agent.pid"));
	assert_true(printed(f, "removed", "conf/onprem.yml"));
	assert_false(printed(f, "removed", "root/g1/d-1"));
	assert_null(strstr(f->out, "other-service"));

	/* a second run has nothing left to do */
	assert_int_equal(run(f, 0, &e), 0);
	assert_string_equal(f->out, "");
}

static void
test_imageprep_keep_config(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;

	assert_int_equal(run(f, KEEP_CONFIG, &e), 0);
	assert_true(exists(f, "conf/onprem.yml"));
	assert_false(exists(f, "root/g1"));
	assert_false(printed(f, "removed", "conf/onprem.yml"));
}

static void
test_imageprep_dry_run(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;

	assert_int_equal(run(f, DRY_RUN, &e), 0);
	assert_untouched(f);
	assert_true(printed(f, "would remove", "root/g1"));
	assert_true(printed(f, "would remove", "conf/onprem.yml"));
	assert_null(strstr(f->out, "removed "));
}

static void
test_imageprep_refuses_dangerous_paths(void **state)
{
	static const char *const bad[] = {
		"/", "//", "", "relative/root", "/opt", "/var/", "/var/log",
		"/usr/local", "/opt/codedeploy-agent", "/x/../", "/x/./y",
		"/x/..",
	};
	struct fx *f = *state;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct err e = ERR_INIT;

		set(&f->c.root_dir, bad[i]);
		assert_int_equal(run(f, 0, &e), AG_EINVAL);
		assert_non_null(strstr(e.msg, "refusing"));
	}
	set(&f->c.root_dir, P(f, "root"));
	set(&f->c.log_dir, "/");
	{
		struct err e = ERR_INIT;

		assert_int_equal(run(f, 0, &e), AG_EINVAL);
	}
	set(&f->c.log_dir, P(f, "log"));
	set(&f->c.program_name, "../x");
	{
		struct err e = ERR_INIT;

		assert_int_equal(run(f, 0, &e), AG_EINVAL);
	}
	assert_untouched(f);
}

static void
test_imageprep_slashes_cleaned(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	char p[600];

	snprintf(p, sizeof(p), "%s//root/", f->dir);
	set(&f->c.root_dir, p);
	assert_int_equal(run(f, DRY_RUN, &e), 0);
	assert_true(printed(f, "would remove", "root/g1"));
	assert_null(strstr(f->out, "//"));
}

static void
test_imageprep_refuses_while_agent_runs(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	int fd;

	fd = open(P(f, "state/.pid/codedeploy-agent.pid.lock"), O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	assert_int_equal(run(f, 0, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "running"));
	assert_untouched(f);
	close(fd);
	assert_int_equal(run(f, 0, &e), 0);
	assert_false(exists(f, "root/g1"));
}

static void
test_imageprep_symlink_not_followed(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	char target[512];

	snprintf(target, sizeof(target), "%s/outside", f->dir);
	assert_int_equal(symlink(target, P(f, "root/link")), 0);
	assert_int_equal(run(f, 0, &e), 0);
	assert_false(exists(f, "root/link"));
	assert_true(exists(f, "outside/keep.txt"));
}

static void
test_imageprep_missing_dirs(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;

	set(&f->c.root_dir, P(f, "nope/root"));
	set(&f->c.log_dir, P(f, "nope/log"));
	set(&f->c.pid_dir, P(f, "nope/pid"));
	set(&f->c.on_premises_config_file, P(f, "nope/onprem.yml"));
	assert_int_equal(run(f, 0, &e), 0);
	assert_string_equal(f->out, "");
	assert_untouched(f);
}

static void
test_imageprep_cmd(void **state)
{
	struct fx *f = *state;
	char conf[512], absent[512];
	char *bogus[] = { "image-prep", "--bogus", NULL };
	char *missing[] = { "image-prep", "-c", absent, NULL };
	char *dry[] = { "image-prep", "-c", conf, "--dry-run", NULL };
	char *keep[] = { "image-prep", "-c", conf, "--keep-config", NULL };
	char *dangling[] = { "image-prep", "-c", NULL };
	FILE *fp;

	snprintf(conf, sizeof(conf), "%s/conf/agent.yml", f->dir);
	fp = fopen(conf, "w");
	assert_non_null(fp);
	fprintf(fp, "---\n:root_dir: '%s/root/'\n:log_dir: '%s/log'\n"
	    ":pid_dir: '%s/state/.pid/'\n:on_premises_config_file: "
	    "'%s/conf/onprem.yml'\n", f->dir, f->dir, f->dir, f->dir);
	fclose(fp);

	assert_int_equal(cmd_image_prep(2, bogus), 2);
	assert_int_equal(cmd_image_prep(2, dangling), 2);
	snprintf(absent, sizeof(absent), "%s/conf/absent.yml", f->dir);
	assert_int_equal(cmd_image_prep(3, missing), 1);
	assert_int_equal(cmd_image_prep(4, dry), 0);
	assert_untouched(f);
	assert_int_equal(cmd_image_prep(4, keep), 0);
	assert_false(exists(f, "root/g1"));
	assert_false(exists(f, "log/codedeploy-agent.log"));
	assert_true(exists(f, "conf/onprem.yml"));
	assert_true(exists(f, "conf/agent.yml"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_imageprep_removes_host_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imageprep_keep_config,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_imageprep_dry_run,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imageprep_refuses_dangerous_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imageprep_slashes_cleaned,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imageprep_refuses_while_agent_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_imageprep_symlink_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imageprep_missing_dirs,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_imageprep_cmd, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

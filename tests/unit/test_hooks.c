/* Unit tests for hooks.c, running real scripts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <pwd.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "appspec.h"
#include "buf.h"
#include "err.h"
#include "hooks.h"
#include "platform.h"
#include "util.h"

static const char *const test_env[] = {
	"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	"CDAGENT_TEST_VAR=hello world",
	NULL,
};

struct fx {
	char dir[64];
	char slog[128], dlog[128];
	struct appspec_script sc[2];
	struct appspec_hook hook;
	struct hooks_event ev;
	struct hooks_result res;
	struct err e;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/cdagent-hooks-XXXXXX");
	if (mkdtemp(f->dir) == NULL || chmod(f->dir, 0755) != 0)
		return -1;
	snprintf(f->slog, sizeof(f->slog), "%s/logs/scripts.log", f->dir);
	snprintf(f->dlog, sizeof(f->dlog), "%s/dl/deployments.log", f->dir);
	f->hook.event = "AfterInstall";
	f->hook.scripts = f->sc;
	f->hook.n_scripts = 1;
	f->sc[0].timeout = 10;
	f->sc[1].timeout = 10;
	f->ev.event = "AfterInstall";
	f->ev.hook = &f->hook;
	f->ev.archive_dir = f->dir;
	f->ev.scripts_log = f->slog;
	f->ev.deployment_id = "d-TEST12345";
	f->ev.envp = test_env;
	f->ev.cwd = f->dir;
	f->ev.kill_grace_ms = 300;
	f->ev.drain_ms = 300;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	plat_fs_rm_rf(f->dir, NULL);
	free(f);
	return 0;
}

/* Write dir/name with body and mode; returns the heap path. */
static char *
script(struct fx *f, const char *name, unsigned mode, const char *body)
{
	char *path = util_path_join(f->dir, name);
	FILE *fp;

	assert_non_null(path);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(body, fp);
	fclose(fp);
	assert_int_equal(chmod(path, (mode_t)mode), 0);
	return path;
}

static int
run(struct fx *f, const char *location)
{
	f->sc[0].location = (char *)location;
	err_clear(&f->e);
	return hooks_run_event(&f->ev, &f->res, &f->e);
}

static char *
slurp(const char *path)
{
	struct buf b = BUF_INIT(1 << 20);

	assert_int_equal(buf_read_file(&b, path, NULL), 0);
	return buf_detach(&b);
}

/* 1 when pid exists and is not a zombie. */
static int
alive(long pid)
{
	struct buf b = BUF_INIT(4096);
	char path[64];
	const char *s;
	int r = 0;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (buf_read_file(&b, path, NULL) == 0 &&
	    (s = strrchr(buf_cstr(&b), ')')) != NULL)
		r = s[2] != 'Z' && s[2] != 'X';
	buf_release(&b);
	return r;
}

/* Read the pids in file; returns how many. */
static size_t
read_pids(const char *path, long *pids, size_t max)
{
	FILE *fp = fopen(path, "r");
	size_t n = 0;

	if (fp == NULL)
		return 0;
	while (n < max && fscanf(fp, "%ld", &pids[n]) == 1)
		n++;
	fclose(fp);
	return n;
}

/* ---- the tail ---------------------------------------------------------- */

static void
test_hooks_tail_arithmetic(void **state)
{
	struct hooks_tail *t = malloc(sizeof(*t));
	char a[3001];

	(void)state;
	assert_non_null(t);
	hooks_tail_init(t);
	memset(a, 'a', 1000);
	hooks_tail_append(t, a, 1000);
	memset(a, 'b', 1000);
	hooks_tail_append(t, a, 1000);
	memset(a, 'c', 40);
	hooks_tail_append(t, a, 40);
	/* 2040 <= 2047: all three kept (Ruby keeps two) */
	assert_int_equal(t->len, 2040);
	assert_int_equal(t->n, 3);
	assert_int_equal(t->data[0], 'a');
	assert_int_equal(strlen(t->data), 2040);
	/* 8 more: the oldest entry goes */
	hooks_tail_append(t, "dddddddd", 8);
	assert_int_equal(t->len, 1048);
	assert_int_equal(t->data[0], 'b');
	assert_int_equal(t->data[1047], 'd');
	/* exactly 2047 in total still fits */
	hooks_tail_init(t);
	hooks_tail_append(t, a, 1000);
	hooks_tail_append(t, a, 1047);
	assert_int_equal(t->len, 2047);
	assert_int_equal(t->n, 2);
	/* a single 3000-char entry keeps its last 2047 chars */
	memset(a, 'x', 3000);
	memcpy(a + 3000 - 5, "VWXYZ", 5);
	a[3000] = '\0';
	hooks_tail_append(t, a, 3000);
	assert_int_equal(t->len, 2047);
	assert_int_equal(t->n, 1);
	assert_string_equal(t->data + 2042, "VWXYZ");
	assert_int_equal(t->data[0], 'x');
	/* a cut never starts inside a UTF-8 sequence */
	memset(a, 'x', 3000);
	a[3000 - 2047] = (char)0xA9;	/* continuation byte of "é" */
	a[3000 - 2048] = (char)0xC3;
	hooks_tail_append(t, a, 3000);
	assert_int_equal(t->len, 2046);
	assert_int_equal(t->data[0], 'x');
	free(t);
}

/* ---- running scripts ---------------------------------------------------- */

static int
line_matches(const char *line, const char *re)
{
	regex_t rx;
	int r;

	assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
	r = regexec(&rx, line, 0, NULL, 0) == 0;
	regfree(&rx);
	return r;
}

static void
test_hooks_success_and_logs(void **state)
{
	struct fx *f = *state;
	char *p = script(f, "ok.sh", 0755,
	    "#!/bin/sh\necho out\nsleep 0.1\necho err >&2\nexit 0\n");
	char *log, *line, *next;
	int n = 0;

	f->ev.deployments_log = f->dlog;
	assert_int_equal(run(f, "ok.sh"), 0);
	assert_int_equal(f->res.error_code, 0);
	assert_string_equal(f->res.script_name, "");
	assert_string_equal(f->res.message, "");
	assert_string_equal(f->res.log, "LifecycleEvent - AfterInstall\n"
	    "Script - ok.sh\n[stdout]out\n[stderr]err\n");

	log = slurp(f->slog);
	for (line = log; *line != '\0'; line = next, n++) {
		next = strchr(line, '\n');
		assert_non_null(next);
		*next++ = '\0';
		assert_true(line_matches(line, "^[0-9]{4}-[0-9]{2}-[0-9]{2} "
		    "[0-9]{2}:[0-9]{2}:[0-9]{2} (LifecycleEvent - AfterInstall"
		    "|Script - ok\\.sh|\\[stdout\\]out|\\[stderr\\]err)$"));
	}
	assert_int_equal(n, 4);
	free(log);

	log = slurp(f->dlog);
	assert_true(line_matches(log, "^\\[[0-9]{4}-[0-9]{2}-[0-9]{2} "
	    "[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}\\] \\[d-TEST12345\\]"
	    "LifecycleEvent - AfterInstall\n"));
	assert_non_null(strstr(log, "] [d-TEST12345][stdout]out\n"));
	free(log);
	free(p);
}

static void
test_hooks_exit_code(void **state)
{
	struct fx *f = *state;
	char *p = script(f, "fail.sh", 0755, "#!/bin/sh\necho bye\nexit 3\n");

	assert_int_equal(run(f, "fail.sh"), AG_EHOOK);
	assert_int_equal(f->res.error_code, 4);
	assert_string_equal(f->res.script_name, "fail.sh");
	assert_string_equal(f->res.message, "Script at specified location: "
	    "fail.sh failed with exit code 3");
	assert_non_null(strstr(f->res.log, "[stdout]bye\n"));
	free(p);
}

static void
test_hooks_killed_by_signal(void **state)
{
	struct fx *f = *state;
	char *p = script(f, "sig.sh", 0755, "#!/bin/sh\nkill -KILL $$\n");

	assert_int_equal(run(f, "sig.sh"), AG_EHOOK);
	assert_int_equal(f->res.error_code, 4);
	assert_string_equal(f->res.message, "Script at specified location: "
	    "sig.sh failed with exit code ");
	free(p);
}

static void
test_hooks_first_failure_stops(void **state)
{
	struct fx *f = *state;
	char *a = script(f, "a.sh", 0755, "#!/bin/sh\nexit 1\n");
	char *b = script(f, "b.sh", 0755, "#!/bin/sh\necho ran-b\n");

	f->sc[1].location = "b.sh";
	f->hook.n_scripts = 2;
	assert_int_equal(run(f, "a.sh"), AG_EHOOK);
	assert_string_equal(f->res.script_name, "a.sh");
	assert_null(strstr(f->res.log, "b.sh"));
	free(a);
	free(b);
}

static void
test_hooks_missing_script(void **state)
{
	struct fx *f = *state;
	char want[256];

	snprintf(want, sizeof(want), "Script does not exist at specified "
	    "location: %s/scripts/nope.sh", f->dir);
	assert_int_equal(run(f, "scripts/nope.sh"), AG_EHOOK);
	assert_int_equal(f->res.error_code, 1);
	assert_string_equal(f->res.script_name, "scripts/nope.sh");
	assert_string_equal(f->res.message, want);
}

static void
test_hooks_made_executable(void **state)
{
	struct fx *f = *state;
	char *p = script(f, "noexec.sh", 0644, "#!/bin/sh\necho fine\n");
	struct stat st;

	assert_int_equal(run(f, "noexec.sh"), 0);
	assert_int_equal(f->res.error_code, 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	assert_non_null(strstr(f->res.log, "[stdout]fine\n"));
	free(p);
}

/*
 * chmod must fail: as root, run the event in a child that dropped to
 * nobody, on a root-owned file; as non-root, on /etc/passwd (not ours).
 */
static void
test_hooks_chmod_fails(void **state)
{
	struct fx *f = *state;
	char *p = script(f, "ro.sh", 0644, "#!/bin/sh\n");
	char logs[128];
	pid_t pid;
	int st;

	if (geteuid() != 0) {
		f->ev.archive_dir = "/etc";
		assert_int_equal(run(f, "passwd"), AG_EHOOK);
		assert_int_equal(f->res.error_code, 2);
		assert_string_equal(f->res.message, "Unable to set script at "
		    "specified location: passwd as executable");
		free(p);
		return;
	}
	/* nobody must be able to write the logs, just not chmod the script */
	snprintf(logs, sizeof(logs), "%s/logs", f->dir);
	assert_int_equal(mkdir(logs, 0777), 0);
	assert_int_equal(chmod(logs, 0777), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int ok;

		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(3);
		ok = run(f, "ro.sh") == AG_EHOOK && f->res.error_code == 2 &&
		    strcmp(f->res.message, "Unable to set script at specified "
		    "location: ro.sh as executable") == 0;
		free(p);
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	free(p);
}

static void
check_timeout_tree(struct fx *f, unsigned flags)
{
	char body[512], pidfile[128];
	long pids[8];
	size_t n, i;
	int64_t t0;
	int dead;
	char *p;

	snprintf(pidfile, sizeof(pidfile), "%s/pids", f->dir);
	unlink(pidfile);
	snprintf(body, sizeof(body), "#!/bin/sh\ntrap \"\" TERM\n"
	    "echo $$ >> %s\n"
	    "sleep 1000 &\necho $! >> %s\n"
	    "setsid sleep 1000 &\necho $! >> %s\n"
	    "echo started\nsleep 1000\n", pidfile, pidfile, pidfile);
	p = script(f, "t.sh", 0755, body);
	f->sc[0].timeout = 1;
	f->ev.proc_flags = flags;
	t0 = plat_clock_ms();
	assert_int_equal(run(f, "t.sh"), AG_EHOOK);
	assert_true(plat_clock_ms() - t0 < 5000);
	assert_int_equal(f->res.error_code, 3);
	assert_string_equal(f->res.message, "Script at specified location: "
	    "t.sh failed to complete in 1 seconds");
	assert_non_null(strstr(f->res.log, "[stdout]started\n"));
	n = read_pids(pidfile, pids, 8);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++) {
		/* SIGKILL is delivered asynchronously: allow a moment */
		for (t0 = plat_clock_ms(); alive(pids[i]) &&
		    plat_clock_ms() - t0 < 1000; )
			usleep(10000);
		dead = !alive(pids[i]);
		if (!dead)
			kill((pid_t)pids[i], SIGKILL);	/* no leftovers */
		assert_true(dead);
	}
	free(p);
}

static void
test_hooks_timeout_kills_tree(void **state)
{
	check_timeout_tree(*state, 0);
}

static void
test_hooks_timeout_kills_tree_no_cgroup(void **state)
{
	check_timeout_tree(*state, PLAT_PROC_NO_CGROUP);
}

static void
test_hooks_background_holds_stdout(void **state)
{
	struct fx *f = *state;
	char body[256], pidfile[128];
	long pids[2];
	int64_t t0;
	char *p;

	snprintf(pidfile, sizeof(pidfile), "%s/bgpid", f->dir);
	snprintf(body, sizeof(body), "#!/bin/sh\nsleep 30 &\necho $! > %s\n"
	    "echo done\n", pidfile);
	p = script(f, "bg.sh", 0755, body);

	t0 = plat_clock_ms();
	assert_int_equal(run(f, "bg.sh"), 0);
	assert_true(plat_clock_ms() - t0 < 5000);
	assert_int_equal(f->res.error_code, 0);
	assert_non_null(strstr(f->res.log, "[stdout]done\n"));
	assert_int_equal(read_pids(pidfile, pids, 1), 1);
	assert_true(alive(pids[0]));	/* daemons of hooks live on */
	kill((pid_t)pids[0], SIGKILL);

	f->ev.outputs_left_open_fail = 1;
	t0 = plat_clock_ms();
	assert_int_equal(run(f, "bg.sh"), AG_EHOOK);
	assert_true(plat_clock_ms() - t0 < 5000);
	assert_int_equal(f->res.error_code, 6);
	assert_string_equal(f->res.message, "Script at specified location: "
	    "bg.sh failed to close STDOUT");
	assert_int_equal(read_pids(pidfile, pids, 1), 1);
	kill((pid_t)pids[0], SIGKILL);
	free(p);
}

#define TEST_USER "cdagent-test-hook"

static void
test_hooks_runas(void **state)
{
	struct fx *f = *state;
	struct passwd *pw;
	char want[64];
	char *p;

	if (geteuid() != 0) {
		print_message("SKIP runas: needs root to create " TEST_USER
		    "\n");
		skip();
	}
	if (system("userdel " TEST_USER " >/dev/null 2>&1; "
	    "useradd -M -s /bin/sh " TEST_USER) != 0)
		fail_msg("useradd " TEST_USER " failed");
	pw = getpwnam(TEST_USER);
	assert_non_null(pw);
	snprintf(want, sizeof(want), "[stdout]%ld\n", (long)pw->pw_uid);
	p = script(f, "who.sh", 0755,
	    "#!/bin/sh\nid -u\necho \"user=$USER logname=$LOGNAME\"\n");
	f->sc[0].runas = TEST_USER;
	f->sc[0].sudo = 1;	/* as root, sudo adds nothing */
	run(f, "who.sh");
	f->sc[0].runas = NULL;
	if (system("userdel " TEST_USER " >/dev/null 2>&1") != 0)
		print_message("userdel " TEST_USER " failed\n");
	assert_int_equal(f->res.error_code, 0);
	assert_non_null(strstr(f->res.log, want));
	assert_non_null(strstr(f->res.log, "[stdout]user=" TEST_USER
	    " logname=" TEST_USER "\n"));
	free(p);
}

static void
test_hooks_runas_unknown(void **state)
{
	struct fx *f = *state;
	char *p = script(f, "x.sh", 0755, "#!/bin/sh\n");

	f->sc[0].runas = "cdagent-no-such-user";
	assert_int_equal(run(f, "x.sh"), AG_EHOOK);
	f->sc[0].runas = NULL;
	assert_int_equal(f->res.error_code, 4);
	assert_string_equal(f->res.message, "Script at specified location: "
	    "x.sh run as user cdagent-no-such-user failed with error "
	    "ArgumentError with message unknown user cdagent-no-such-user");
	free(p);
}

/*
 * A spawn error. The natural case, a bad #! interpreter, makes execve()
 * fail in the child, which valgrind (make unit) cannot survive; a missing
 * working directory fails just before it.
 */
static void
test_hooks_spawn_error(void **state)
{
	struct fx *f = *state;
	char *p = script(f, "bad.sh", 0755, "#!/bin/sh\n");

	f->ev.cwd = "/nonexistent-cdagent-dir";
	assert_int_equal(run(f, "bad.sh"), AG_EHOOK);
	free(p);
	assert_int_equal(f->res.error_code, 4);
	assert_string_equal(f->res.message, "Script at specified location: "
	    "bad.sh failed with error Errno::ENOENT with message chdir "
	    "/nonexistent-cdagent-dir: No such file or directory");
}

static void
test_hooks_path_with_spaces(void **state)
{
	struct fx *f = *state;
	char dir[128];
	char *p;

	snprintf(dir, sizeof(dir), "%s/my scripts", f->dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	p = script(f, "my scripts/run me.sh", 0755,
	    "#!/bin/sh\necho \"spaced $0\"\n");
	assert_int_equal(run(f, "my scripts/run me.sh"), 0);
	assert_non_null(strstr(f->res.log, "Script - my scripts/run me.sh\n"));
	assert_non_null(strstr(f->res.log, "[stdout]spaced "));
	assert_non_null(strstr(f->res.log, "/my scripts/run me.sh\n"));
	free(p);
}

static void
test_hooks_stdin_is_dev_null(void **state)
{
	struct fx *f = *state;
	char *p = script(f, "in.sh", 0755, "#!/bin/sh\nread x\necho rc=$?\n"
	    "ls -l /proc/$$/fd/0\n");
	int64_t t0 = plat_clock_ms();

	f->sc[0].timeout = 2;
	assert_int_equal(run(f, "in.sh"), 0);
	assert_true(plat_clock_ms() - t0 < 2000);
	assert_non_null(strstr(f->res.log, "[stdout]rc=1\n"));
	assert_non_null(strstr(f->res.log, "-> /dev/null\n"));
	free(p);
}

static void
test_hooks_environment(void **state)
{
	struct fx *f = *state;
	char *p = script(f, "env.sh", 0755, "#!/bin/sh\n"
	    "echo \"v=$CDAGENT_TEST_VAR\"\n"
	    "echo \"h=${CDAGENT_HIDDEN-unset}\"\npwd\n");
	char want[128];

	setenv("CDAGENT_HIDDEN", "leaked", 1);
	assert_int_equal(run(f, "env.sh"), 0);
	unsetenv("CDAGENT_HIDDEN");
	assert_non_null(strstr(f->res.log, "[stdout]v=hello world\n"));
	assert_non_null(strstr(f->res.log, "[stdout]h=unset\n"));
	snprintf(want, sizeof(want), "[stdout]%s\n", f->dir);
	assert_non_null(strstr(f->res.log, want));
	free(p);
}

static void
test_hooks_empty_event(void **state)
{
	struct fx *f = *state;

	f->hook.n_scripts = 0;
	assert_int_equal(run(f, "none"), 0);
	assert_int_equal(f->res.error_code, 0);
	assert_string_equal(f->res.log, "");
	assert_false(util_exists(f->slog));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hooks_tail_arithmetic),
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
		T(test_hooks_success_and_logs),
		T(test_hooks_exit_code),
		T(test_hooks_killed_by_signal),
		T(test_hooks_first_failure_stops),
		T(test_hooks_missing_script),
		T(test_hooks_made_executable),
		T(test_hooks_chmod_fails),
		T(test_hooks_timeout_kills_tree),
		T(test_hooks_timeout_kills_tree_no_cgroup),
		T(test_hooks_background_holds_stdout),
		T(test_hooks_runas),
		T(test_hooks_runas_unknown),
		T(test_hooks_spawn_error),
		T(test_hooks_path_with_spaces),
		T(test_hooks_stdin_is_dev_null),
		T(test_hooks_environment),
		T(test_hooks_empty_event),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

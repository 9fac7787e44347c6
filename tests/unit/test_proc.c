/* Unit tests for platform/linux/proc.c, with real processes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "err.h"
#include "platform.h"
#include "util.h"

static const char *const env[] = { "PATH=/usr/bin:/bin", NULL };

struct lines {
	int n;
	char text[16][128];
	int stream[16];
	size_t len[16];
};

static void
collect(void *ctx, int stream, const char *line, size_t len)
{
	struct lines *l = ctx;

	if (l->n >= 16)
		return;
	snprintf(l->text[l->n], sizeof(l->text[0]), "%.*s",
	    (int)(len < 127 ? len : 127), line);
	l->stream[l->n] = stream;
	l->len[l->n++] = len;
}

/* Run sh -c script to completion; returns plat_proc_wait's code. */
static int
run_sh(const char *script, unsigned flags, int64_t timeout_ms,
    struct lines *l, struct plat_proc_result *res)
{
	const char *argv[] = { "sh", "-c", script, NULL };
	struct plat_proc_opts o = { argv, env, NULL, NULL, flags };
	struct plat_proc_wait_opts w;
	struct plat_proc *p = NULL;
	struct err e = ERR_INIT;
	int r;

	memset(l, 0, sizeof(*l));
	assert_int_equal(plat_proc_start(&p, &o, &e), 0);
	w.deadline_ms = plat_clock_ms() + timeout_ms;
	w.kill_grace_ms = 200;
	w.drain_ms = 200;
	w.on_line = collect;
	w.ctx = l;
	r = plat_proc_wait(p, &w, res, &e);
	plat_proc_free(p);
	return r;
}

static void
test_proc_lines_and_exit(void **state)
{
	struct plat_proc_result res;
	struct lines l;

	(void)state;
	assert_int_equal(run_sh("printf 'a\\nbb\\n'; printf 'e\\n' >&2; "
	    "printf ccc; exit 7", 0, 5000, &l, &res), 0);
	assert_int_equal(res.exit_code, 7);
	assert_int_equal(res.signo, 0);
	assert_int_equal(res.timed_out, 0);
	assert_int_equal(res.open_streams, 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.text[0], "a");
	assert_string_equal(l.text[1], "bb");
	/* the unterminated fragment arrives at EOF */
	assert_true((strcmp(l.text[2], "ccc") == 0 && l.stream[2] == 1) ||
	    (strcmp(l.text[3], "ccc") == 0 && l.stream[3] == 1));
	assert_true((strcmp(l.text[2], "e") == 0 && l.stream[2] == 2) ||
	    (strcmp(l.text[3], "e") == 0 && l.stream[3] == 2));
}

static void
test_proc_long_line_in_pieces(void **state)
{
	struct plat_proc_result res;
	struct lines l;

	(void)state;
	assert_int_equal(run_sh("head -c 70000 /dev/zero | tr '\\0' x; echo",
	    0, 5000, &l, &res), 0);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.len[0], PLAT_PROC_LINE_MAX);
	assert_int_equal(l.len[1], 70000 - PLAT_PROC_LINE_MAX);
}

static void
test_proc_signal(void **state)
{
	struct plat_proc_result res;
	struct lines l;

	(void)state;
	assert_int_equal(run_sh("kill -TERM $$", 0, 5000, &l, &res), 0);
	assert_int_equal(res.exit_code, -1);
	assert_int_equal(res.signo, SIGTERM);
}

static void
test_proc_start_errors(void **state)
{
	const char *argv[] = { "cdagent-no-such-program", NULL };
	struct plat_proc_opts o = { argv, env, NULL, NULL, 0 };
	struct plat_proc *p = NULL;
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(plat_proc_start(&p, &o, &e), AG_EIO);
	assert_int_equal(errno, ENOENT);
	assert_null(p);
	assert_string_equal(e.msg, "exec cdagent-no-such-program: "
	    "No such file or directory");

	argv[0] = "true";
	o.run_as = "cdagent-no-such-user";
	assert_int_equal(plat_proc_start(&p, &o, &e), AG_EINVAL);
	assert_int_equal(errno, 0);
	assert_null(p);
	assert_string_equal(e.msg, "unknown user cdagent-no-such-user");

	o.run_as = NULL;
	o.cwd = "/nonexistent-cdagent";
	assert_int_equal(plat_proc_start(&p, &o, &e), AG_EIO);
	assert_int_equal(errno, ENOENT);
	assert_null(p);
	plat_proc_free(NULL);
}

/* The child runs in its own cgroup, which is gone after the wait. */
static void
test_proc_cgroup(void **state)
{
	const char *argv[] = { "sh", "-c", "cat /proc/self/cgroup", NULL };
	struct plat_proc_opts o = { argv, env, NULL, NULL, 0 };
	struct plat_proc_wait_opts w = { 0, 200, 200, collect, NULL };
	struct plat_proc_result res;
	struct plat_proc *p = NULL;
	struct err e = ERR_INIT;
	struct lines l;
	char *cg;
	int i, found = 0;

	(void)state;
	memset(&l, 0, sizeof(l));
	w.ctx = &l;
	assert_int_equal(plat_proc_start(&p, &o, &e), 0);
	assert_int_equal(plat_proc_pgid(p), plat_proc_pid(p));
	if (plat_proc_cgroup(p) == NULL) {
		plat_proc_free(p);
		print_message("SKIP cgroup: no writable cgroup v2 here\n");
		skip();
	}
	cg = strdup(plat_proc_cgroup(p));
	assert_non_null(strstr(cg, "/cdagent-hook-"));
	w.deadline_ms = plat_clock_ms() + 5000;
	assert_int_equal(plat_proc_wait(p, &w, &res, &e), 0);
	plat_proc_free(p);
	for (i = 0; i < l.n; i++)
		if (strncmp(l.text[i], "0::", 3) == 0 &&
		    strstr(l.text[i], "/cdagent-hook-") != NULL)
			found = 1;
	assert_true(found);
	assert_int_equal(access(cg, F_OK), -1);	/* removed */
	free(cg);
}

/*
 * 1 when plat_proc_start() should create the child inside its cgroup:
 * clone3 exists (valgrind answers ENOSYS) and the kernel is 5.7 or later.
 */
static int
clone3_into_cgroup_expected(void)
{
	struct utsname u;
	int major = 0, minor = 0;

#ifdef SYS_clone3
	if (syscall(SYS_clone3, NULL, 0) == 0 || errno == ENOSYS)
		return 0;	/* size 0 is EINVAL where clone3 exists */
#else
	return 0;
#endif
	if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return 0;
	return major > 5 || (major == 5 && minor >= 7);
}

/*
 * Where the kernel can, the child is created in its cgroup (no move after
 * the fork); PLAT_PROC_FORK takes the fallback. Either way the program
 * sees itself in that cgroup, and NO_CGROUP gets none.
 */
static void
test_proc_cgroup_placement(void **state)
{
	const char *argv[] = { "sh", "-c", "cat /proc/self/cgroup", NULL };
	const unsigned flags[] = { 0, PLAT_PROC_FORK };
	struct plat_proc_opts o = { argv, env, NULL, NULL, 0 };
	struct plat_proc_wait_opts w = { 0, 200, 200, collect, NULL };
	struct plat_proc_result res;
	struct plat_proc *p = NULL;
	struct err e = ERR_INIT;
	struct lines l;
	char want[256];
	int i, k, found;

	(void)state;
	o.flags = PLAT_PROC_NO_CGROUP;
	assert_int_equal(plat_proc_start(&p, &o, &e), 0);
	assert_null(plat_proc_cgroup(p));
	assert_int_equal(plat_proc_placement(p), PLAT_PROC_CG_NONE);
	plat_proc_free(p);
	p = NULL;

	for (k = 0; k < 2; k++) {
		memset(&l, 0, sizeof(l));
		w.ctx = &l;
		o.flags = flags[k];
		assert_int_equal(plat_proc_start(&p, &o, &e), 0);
		if (plat_proc_cgroup(p) == NULL) {
			plat_proc_free(p);
			print_message("SKIP placement: no writable cgroup v2\n");
			skip();
		}
		if (flags[k] == 0 && clone3_into_cgroup_expected())
			assert_int_equal(plat_proc_placement(p),
			    PLAT_PROC_CG_CLONED);
		else
			assert_int_equal(plat_proc_placement(p),
			    PLAT_PROC_CG_MOVED);
		/* the wait removes the cgroup: keep its name */
		assert_non_null(strrchr(plat_proc_cgroup(p), '/'));
		snprintf(want, sizeof(want), "%s",
		    strrchr(plat_proc_cgroup(p), '/'));
		w.deadline_ms = plat_clock_ms() + 5000;
		assert_int_equal(plat_proc_wait(p, &w, &res, &e), 0);
		plat_proc_free(p);
		p = NULL;
		assert_int_equal(res.exit_code, 0);
		for (i = 0, found = 0; i < l.n; i++)
			if (strncmp(l.text[i], "0::", 3) == 0 &&
			    strstr(l.text[i], want) != NULL)
				found = 1;
		assert_true(found);
	}
}

/* Both ways of starting drop to the run_as user, groups included. */
static void
test_proc_run_as(void **state)
{
	const char *argv[] = { "sh", "-c", "id -u; id -g; id -G", NULL };
	const unsigned flags[] = { 0, PLAT_PROC_FORK };
	struct plat_proc_opts o = { argv, env, NULL, "nobody", 0 };
	struct plat_proc_wait_opts w = { 0, 200, 200, collect, NULL };
	struct plat_proc_result res;
	struct plat_proc *p = NULL;
	struct err e = ERR_INIT;
	struct passwd *pw;
	struct lines l;
	char num[32];
	int k;

	(void)state;
	if (geteuid() != 0 || (pw = getpwnam("nobody")) == NULL) {
		print_message("SKIP run_as: needs root and user nobody\n");
		skip();
	}
	for (k = 0; k < 2; k++) {
		memset(&l, 0, sizeof(l));
		w.ctx = &l;
		o.flags = flags[k];
		assert_int_equal(plat_proc_start(&p, &o, &e), 0);
		w.deadline_ms = plat_clock_ms() + 5000;
		assert_int_equal(plat_proc_wait(p, &w, &res, &e), 0);
		plat_proc_free(p);
		p = NULL;
		assert_int_equal(res.exit_code, 0);
		assert_int_equal(l.n, 3);
		snprintf(num, sizeof(num), "%lu", (unsigned long)pw->pw_uid);
		assert_string_equal(l.text[0], num);
		snprintf(num, sizeof(num), "%lu", (unsigned long)pw->pw_gid);
		assert_string_equal(l.text[1], num);
		/* root's groups (0) are gone */
		assert_null(strstr(l.text[2], "0 "));
		assert_true(strcmp(l.text[2], "0") != 0);
	}
}

/* 1 while pid is a process, not a zombie (nobody may reap it here). */
static int
alive(long pid)
{
	char path[64], st[512], *s;
	size_t n;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	n = fread(st, 1, sizeof(st) - 1, fp);
	fclose(fp);
	st[n] = '\0';
	return (s = strrchr(st, ')')) != NULL && s[1] == ' ' &&
	    s[2] != 'Z' && s[2] != 'X';
}

/*
 * A timeout kills the whole tree, a child that left the process group
 * included, however the process was started.
 */
static void
test_proc_timeout_tree(void **state)
{
	const unsigned flags[] = { 0, PLAT_PROC_FORK, PLAT_PROC_NO_CGROUP };
	struct plat_proc_result res;
	struct lines l;
	int64_t t0;
	long pid;
	int k;

	(void)state;
	for (k = 0; k < 3; k++) {
		t0 = plat_clock_ms();
		assert_int_equal(run_sh("setsid sleep 1000 & echo $!; "
		    "sleep 1000", flags[k], 300, &l, &res), 0);
		assert_true(plat_clock_ms() - t0 < 3000);
		assert_int_equal(res.timed_out, 1);
		assert_int_equal(res.signo, SIGTERM);
		assert_int_equal(l.n, 1);
		pid = strtol(l.text[0], NULL, 10);
		assert_true(pid > 0);
		for (t0 = plat_clock_ms(); alive(pid) &&
		    plat_clock_ms() - t0 < 1000; )
			usleep(10000);
		if (alive(pid)) {
			kill((pid_t)pid, SIGKILL);	/* no leftovers */
			fail_msg("setsid child %ld survived (flags %u)", pid,
			    flags[k]);
		}
	}
}

/* What restart recovery does with a recorded pgid and cgroup. */
static void
test_proc_kill_recorded(void **state)
{
	const char *argv[] = { "sh", "-c", "sleep 1000 & setsid sleep 1000 & "
	    "sleep 1000", NULL };
	struct plat_proc_opts o = { argv, env, NULL, NULL, 0 };
	struct plat_proc_wait_opts w = { 0, 200, 100, NULL, NULL };
	struct plat_proc_result res;
	struct plat_proc *p = NULL;
	struct err e = ERR_INIT;
	char *cg = NULL;
	long pgid;

	(void)state;
	assert_int_equal(plat_proc_kill_recorded(1, "/tmp", &e), AG_EINVAL);
	assert_int_equal(plat_proc_kill_recorded(0,
	    "/tmp/cdagent-hook-nothing-here", &e), 0);
	assert_int_equal(plat_proc_start(&p, &o, &e), 0);
	pgid = plat_proc_pgid(p);
	if (plat_proc_cgroup(p) != NULL)
		cg = strdup(plat_proc_cgroup(p));
	usleep(100000);
	assert_int_equal(plat_proc_kill_recorded(pgid, cg, &e), 0);
	w.deadline_ms = plat_clock_ms() + 5000;
	assert_int_equal(plat_proc_wait(p, &w, &res, &e), 0);
	assert_int_equal(res.timed_out, 0);
	assert_int_equal(res.signo, SIGKILL);
	if (cg != NULL) {
		/* the setsid'd sleep was in the cgroup: pipes all closed */
		assert_int_equal(res.open_streams, 0);
		assert_int_equal(access(cg, F_OK), -1);
	}
	plat_proc_free(p);
	free(cg);
}

/* A background child keeps stdout: reported with its pid, not waited for. */
static void
test_proc_outputs_left_open(void **state)
{
	struct plat_proc_result res;
	struct lines l;
	int64_t t0 = plat_clock_ms();

	(void)state;
	assert_int_equal(run_sh("sleep 5 & echo $!", 0, 5000, &l, &res), 0);
	assert_true(plat_clock_ms() - t0 < 3000);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(res.open_streams,
	    PLAT_PROC_STDOUT | PLAT_PROC_STDERR);
	assert_int_equal(l.n, 1);
	assert_int_equal(res.n_holders, 1);
	assert_int_equal(res.holders[0], strtol(l.text[0], NULL, 10));
	kill((pid_t)res.holders[0], SIGKILL);
}

/* A descriptor the agent left open without close-on-exec stays out. */
static void
test_proc_no_inherited_fds(void **state)
{
	struct plat_proc_result res;
	struct lines l;
	int fd, i, leaked = 0;

	(void)state;
	fd = open("/dev/null", O_RDONLY);	/* no O_CLOEXEC, on purpose */
	assert_true(fd > 2);
	/* a number the shell's own descriptors will not reuse */
	assert_int_equal(dup2(fd, 200), 200);
	close(fd);
	fd = 200;
	assert_int_equal(run_sh("for f in /proc/self/fd/*; do "
	    "echo ${f##*/}; done", 0, 5000, &l, &res), 0);
	close(fd);
	assert_int_equal(res.exit_code, 0);
	for (i = 0; i < l.n; i++) {
		long long v;

		if (util_parse_ll(l.text[i], 0, 1 << 20, &v) == 0 && v == fd)
			leaked = 1;
	}
	assert_false(leaked);
	assert_true(l.n >= 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proc_lines_and_exit),
		cmocka_unit_test(test_proc_no_inherited_fds),
		cmocka_unit_test(test_proc_long_line_in_pieces),
		cmocka_unit_test(test_proc_signal),
		cmocka_unit_test(test_proc_start_errors),
		cmocka_unit_test(test_proc_cgroup),
		cmocka_unit_test(test_proc_cgroup_placement),
		cmocka_unit_test(test_proc_run_as),
		cmocka_unit_test(test_proc_timeout_tree),
		cmocka_unit_test(test_proc_kill_recorded),
		cmocka_unit_test(test_proc_outputs_left_open),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

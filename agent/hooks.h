/*
 * hooks.h: run the scripts of one lifecycle event (reference §7.4-7.5) and
 * produce the diagnostics of §3.5.
 *
 *	struct hooks_event ev = { .event = "AfterInstall",
 *	    .hook = appspec_hook(as, "AfterInstall"),
 *	    .archive_dir = "/opt/.../d-X/deployment-archive",
 *	    .scripts_log = "/opt/.../d-X/logs/scripts.log",
 *	    .deployment_id = "d-X", .envp = env.v,
 *	    .drain_ms = 1000 };
 *	struct hooks_result res;
 *	r = hooks_run_event(&ev, &res, &e);
 *	report(res.error_code, res.script_name, res.message, res.log);
 *
 * Scripts run in list order, each as argv (never a shell string), with
 * stdin on /dev/null, in a session and cgroup of its own (plat_proc_*).
 * The first failure stops the event.
 *
 * For each script:
 *  1. <archive_dir>/<location> must exist (stat, so links are followed),
 *     else code 1 "Script does not exist at specified location: <path>".
 *  2. If it is not executable (access X_OK), the agent log gets "Script at
 *     specified location: <location> is not executable.  Trying to make
 *     it executable." and the x bits are added (chmod a+x); if that
 *     fails, code 2 "Unable to set script at specified location:
 *     <location> as executable".
 *  3. The command line, without su (divergence: su needs a terminal when
 *     the agent is not root, issue #191, and mangles paths with spaces):
 *	runas  sudo  agent root?  argv                       started as
 *	-      -     any          [path]                     agent user
 *	R      -     any          [path]                     R (dropped)
 *	-      yes   yes          [path]                     agent (root)
 *	R      yes   yes          [path]                     R (dropped)
 *	-      yes   no           ["sudo", path]             agent user
 *	R      yes   no           ["sudo", "-u", R, path]    agent user
 *     "Dropped" means fork, then the supplementary groups, gid and uid of
 *     R, with HOME/USER/LOGNAME/SHELL of R; a non-root agent cannot drop
 *     to another user and gets code 4. sudo applies its own environment
 *     policy (env_reset), so the variables of envp may not all arrive.
 *  4. One deadline: start + timeout seconds. At the deadline the whole
 *     tree gets SIGTERM, then SIGKILL after kill_grace_ms; code 3
 *     "Script at specified location: <location> failed to complete in
 *     <timeout> seconds". No process of the tree survives (see
 *     plat_proc_wait for the one escape without a cgroup).
 *  5. The script is done when it exits. A background child still holding
 *     stdout or stderr after drain_ms is logged (with its pid) and, when
 *     outputs_left_open_fail is set, fails with code 6 "Script at
 *     specified location: <location> failed to close STDOUT" (or STDERR;
 *     Ruby behaviour), else the exit code decides.
 *  6. Exit code n != 0: code 4 "Script at specified location:
 *     <location>[ run as user <runas>] failed with exit code <n>".
 *     Killed by a signal: the same text ending in "exit code " and
 *     nothing (Ruby's nil); the signal number goes to the agent log.
 *  7. The process could not be started: code 4 "Script at specified
 *     location: <location>[ run as user <runas>] failed with error
 *     <Class> with message <msg>", Class being Ruby's name for the errno
 *     ("Errno::ENOENT", "Errno::EACCES", ...), "ArgumentError" for an
 *     unknown runas user, "RuntimeError" otherwise; msg is the
 *     platform's message ("exec /x: Permission denied").
 *
 * Output: every line (and the headers "LifecycleEvent - <event>" once per
 * event with scripts, and "Script - <location>" before each script) is
 * appended to scripts_log as "YYYY-MM-DD HH:MM:SS <entry>" in local time,
 * one write per line, output lines as "[stdout]<line>" / "[stderr]<line>";
 * to deployments_log (when set) as "[YYYY-MM-DD HH:MM:SS.mmm] [<id>]<entry
 * without trailing blanks>"; and to the 2 KiB tail that becomes
 * res->log. A line of more than PLAT_PROC_LINE_MAX bytes is logged in
 * pieces, one per log line; a last line without a newline gets one.
 */
#ifndef CDAGENT_HOOKS_H
#define CDAGENT_HOOKS_H

#include <stddef.h>
#include <stdint.h>

struct err;
struct appspec_hook;

/* §3.5 error codes. */
enum hooks_code {
	HOOKS_SUCCEEDED = 0,
	HOOKS_SCRIPT_MISSING = 1,
	HOOKS_SCRIPT_EXECUTABILITY = 2,
	HOOKS_SCRIPT_TIMED_OUT = 3,
	HOOKS_SCRIPT_FAILED = 4,
	HOOKS_UNKNOWN_ERROR = 5,
	HOOKS_OUTPUTS_LEFT_OPEN = 6,
};

struct hooks_event {
	const char *event;		/* "AfterInstall" */
	const struct appspec_hook *hook; /* NULL or empty: nothing to do */
	/* the selected revision's deployment-archive, absolute */
	const char *archive_dir;
	/* the CURRENT deployment's logs/scripts.log; its directory is made */
	const char *scripts_log;
	/*
	 * <root>/deployment-logs/codedeploy-agent-deployments.log, or NULL.
	 * It is rotated (.1 .. .8) when it is 64 MiB or more at the start of
	 * an event. XXX: not while an event writes; a long event can pass
	 * the limit.
	 */
	const char *deployments_log;
	const char *deployment_id;	/* for the deployments log */
	const char *const *envp;	/* whole environment; no credentials */
	const char *cwd;		/* NULL: the agent's directory */
	int64_t kill_grace_ms;		/* <= 0: the 10 s default */
	int64_t drain_ms;		/* < 0: 0 */
	int outputs_left_open_fail;	/* 1: code 6 as Ruby; 0: exit code */
	unsigned proc_flags;		/* plat_proc_flags, normally 0 */
	/*
	 * Progress, may be NULL: before a script is started (done 0,
	 * elapsed 0) and after it ended or failed to start (done 1, elapsed
	 * run time). Not called for a missing or unfixable script.
	 */
	void (*on_script)(void *ctx, const char *location, int64_t elapsed_ms,
	    int done);
	/* After each spawn, to record the tree for recovery; may be NULL. */
	void (*on_spawn)(void *ctx, long pgid, const char *cgroup);
	void *ctx;
};

#define HOOKS_LOG_MAX 2047	/* characters kept in the tail (§15 #10) */

struct hooks_result {
	int error_code;		/* enum hooks_code */
	char script_name[1024];	/* location that failed; "" on success */
	char message[2048];	/* §3.5 text; "" on success */
	char log[HOOKS_LOG_MAX + 1];	/* the output tail */
};

/*
 * Run the event. Returns 0 when every script succeeded (res->error_code
 * 0), AG_EHOOK when a script failed (res says how), or another AG_* code
 * when the agent itself failed (scripts.log cannot be opened, out of
 * memory); then res->error_code is 5 and res->message is e->msg. res is
 * always filled in.
 */
int hooks_run_event(const struct hooks_event *ev, struct hooks_result *res,
    struct err *e);

/*
 * The output tail (§3.5, §15 #10): the longest suffix of whole entries
 * totalling at most HOOKS_LOG_MAX bytes; when the newest entry alone is
 * longer, its last HOOKS_LOG_MAX bytes (not starting inside a UTF-8
 * sequence). Bytes are counted, not characters, so multi-byte text keeps
 * a little less than Ruby would. Exposed for tests and other callers.
 */
struct hooks_tail {
	char data[HOOKS_LOG_MAX + 1];	/* NUL-terminated concatenation */
	size_t len;
	size_t lens[HOOKS_LOG_MAX];	/* entry lengths, oldest first */
	size_t n;
};

void hooks_tail_init(struct hooks_tail *t);
void hooks_tail_append(struct hooks_tail *t, const char *s, size_t n);

#endif

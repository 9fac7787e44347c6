/*
 * platform.h: everything cdagent needs from the operating system, and the
 * only place OS differences live. Implemented once per directory below
 * platform/ (linux/, windows/); the Makefile picks one with PLATFORM=.
 * Any #ifdef inside platform/ tests a feature, never an OS. Strings are
 * UTF-8; only platform/windows converts to UTF-16.
 *
 * Conventions as in agent/: 0 or a negative AG_* code, details in the
 * caller's struct err; every descriptor opened here is close-on-exec.
 */
#ifndef CDAGENT_PLATFORM_H
#define CDAGENT_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct err;

/* ---- identity ---------------------------------------------------------- */

/* "linux" or "windows": the AppSpec `os` value this build accepts. */
const char *plat_os_name(void);

/* ---- clocks ------------------------------------------------------------ */

int64_t plat_clock_ms(void);	/* monotonic milliseconds, for deadlines */
int64_t plat_time_ms(void);	/* wall-clock milliseconds since the epoch */

/* Sleep until the monotonic deadline or until *stop becomes non-zero. */
void plat_sleep_until(int64_t deadline_ms, volatile const int *stop);

/* ---- files --------------------------------------------------------------- */

/*
 * Write data to path atomically: a temporary file in the same directory,
 * fsync, rename over path, fsync of the directory. A crash leaves either
 * the old file or the new one, never a torn one.
 */
int plat_fs_write_atomic(const char *path, const void *data, size_t len,
    unsigned mode, struct err *e);

/* mkdir -p; existing directories are fine, anything else in the way isn't. */
int plat_fs_mkdir_p(const char *path, unsigned mode, struct err *e);

/*
 * rm -rf without a shell and without following symbolic links: a link is
 * removed, never what it points to. Refuses "" and "/". A missing path is
 * not an error.
 */
int plat_fs_rm_rf(const char *path, struct err *e);

/* Bytes available to an unprivileged user on the file system of path. */
int plat_fs_free_space(const char *path, uint64_t *out, struct err *e);

/*
 * Copy a regular file's content, mode and times to dst (created or
 * truncated; a symlink at dst is not followed). Uses copy_file_range or
 * sendfile where the kernel has them; constant memory.
 */
int plat_fs_copy_file(const char *src, const char *dst, struct err *e);

/*
 * Copy the tree at src into dst (created), keeping symbolic links as links,
 * and modes and times of files. Devices, FIFOs and sockets are refused.
 */
int plat_fs_copy_tree(const char *src, const char *dst, struct err *e);

/*
 * Take an exclusive, non-blocking lock on path (created 0644), held until
 * plat_fs_unlock() or process exit. AG_EIO "busy" when another process
 * holds it.
 */
int plat_fs_lock(const char *path, int *fd_out, struct err *e);
void plat_fs_unlock(int fd);

/* 1 when fd is a terminal. */
int plat_isatty(int fd);

/* ---- service manager ---------------------------------------------------- */

/*
 * Tell the service manager about our state ("READY=1", "STOPPING=1",
 * "WATCHDOG=1", "STATUS=..."): systemd's notify socket on Linux, spoken
 * directly (no libsystemd). A no-op when not run by one.
 */
void plat_service_notify(const char *state);

/* This boot's identity (Linux: /proc/sys/kernel/random/boot_id); 0 or -1. */
int plat_boot_id(char *out, size_t n);

/* The watchdog interval the service manager asked for, ms; 0 if none. */
int64_t plat_service_watchdog_ms(void);

/* ---- users ------------------------------------------------------------- */

struct plat_user {
	uint32_t uid, gid;
	char name[256];
	char home[1024];
	char shell[256];
};

/* Look up a user by name; AG_EINVAL with "unknown user X" when absent. */
int plat_user_lookup(const char *name, struct plat_user *out, struct err *e);

/* Look up a group by name; AG_EINVAL with "unknown group X" when absent. */
int plat_group_lookup(const char *name, uint32_t *gid, struct err *e);

/* 1 when the agent runs with full privileges (root / Administrator). */
int plat_is_privileged(void);

/* ---- processes ----------------------------------------------------------- */
/*
 * Child processes for lifecycle hooks (the shape of libgit2's process.h).
 *
 *	struct plat_proc *p = NULL;
 *	struct plat_proc_opts o = { argv, envp, cwd, NULL, 0 };
 *	struct plat_proc_wait_opts w = { deadline, 10000, 500, on_line, ctx };
 *	struct plat_proc_result res;
 *	if (plat_proc_start(&p, &o, &e) == 0) {
 *		record(plat_proc_pgid(p), plat_proc_cgroup(p));
 *		plat_proc_wait(p, &w, &res, &e);
 *	}
 *	plat_proc_free(p);
 *
 * A started process always has stdin on /dev/null and stdout and stderr on
 * pipes that only plat_proc_wait() reads. It is the leader of a new session
 * and process group (setsid), and on Linux, where cgroup v2 is mounted and
 * writable, it also runs in a cgroup of its own: below the agent's cgroup,
 * or in <cgroup2 mount>/cdagent/ when the agent sits at the root. The cgroup
 * catches children that leave the process group (setsid, daemonize); when
 * none can be made, the process group is all there is, and that is logged
 * once per agent run. The process is created inside its cgroup (clone3,
 * Linux 5.7); elsewhere it is moved there before it runs the program,
 * which costs the kernel an RCU grace period (~10 ms). Windows uses a Job
 * Object instead.
 *
 * Nothing runs through a shell: argv is executed as given.
 */
struct plat_proc;			/* opaque */

enum plat_proc_flags {
	/* Do not try a cgroup; the process group only (tests, config). */
	PLAT_PROC_NO_CGROUP = 1 << 0,
	/*
	 * Linux: fork(), then move the child into its cgroup, as where
	 * clone3 is missing or refuses the cgroup (tests of that path).
	 */
	PLAT_PROC_FORK = 1 << 1,
};

struct plat_proc_opts {
	/*
	 * argv[0] is the program: a path (absolute or relative to the
	 * agent's working directory) or, without a '/', a name looked up in
	 * the PATH of envp (the agent's default PATH when envp has none).
	 */
	const char *const *argv;
	const char *const *envp;	/* the whole environment; NULL: empty */
	const char *cwd;		/* NULL: the agent's directory */
	/*
	 * NULL: keep the agent's user. Otherwise the user is looked up
	 * before anything is spawned (an unknown user fails here, AG_EINVAL)
	 * and the child drops to it: supplementary groups of that user,
	 * then its gid, then its uid. HOME, USER, LOGNAME and SHELL of that
	 * user replace those of envp. Naming the agent's own user changes
	 * only the environment; any other user needs root.
	 */
	const char *run_as;
	unsigned flags;			/* enum plat_proc_flags */
};

/*
 * Start a process. On failure nothing is left running and errno holds the
 * system error behind it (ENOENT for a missing program, EACCES, ...), or 0
 * when there was none (unknown user); e->msg names the step ("exec /x:
 * Permission denied", "setuid 1001: ...", "chdir /srv: ...").
 */
int plat_proc_start(struct plat_proc **out, const struct plat_proc_opts *o,
    struct err *e);

long plat_proc_pid(const struct plat_proc *p);
/*
 * For crash recovery: the process group id (the pid, thanks to setsid)
 * and the absolute cgroup directory (NULL without one). Record both
 * before waiting; plat_proc_kill_recorded() takes them back.
 */
long plat_proc_pgid(const struct plat_proc *p);
const char *plat_proc_cgroup(const struct plat_proc *p);

/*
 * How the process got into its cgroup: created there, moved there after
 * the fork (no clone3, the kernel refused it, or PLAT_PROC_FORK), or not
 * at all (no cgroup). Set by plat_proc_start(); for tests and logs.
 */
enum plat_proc_placement {
	PLAT_PROC_CG_NONE = 0,
	PLAT_PROC_CG_CLONED,
	PLAT_PROC_CG_MOVED,
};
int plat_proc_placement(const struct plat_proc *p);

enum plat_proc_stream { PLAT_PROC_STDOUT = 1, PLAT_PROC_STDERR = 2 };

/* Longest line delivered in one piece; longer lines come in pieces. */
#define PLAT_PROC_LINE_MAX (64 * 1024)
#define PLAT_PROC_KILL_GRACE_DEFAULT 10000	/* ms, SIGTERM -> SIGKILL */
#define PLAT_PROC_MAX_HOLDERS 16

/*
 * Called for each line of output, without its '\n'. A line longer than
 * PLAT_PROC_LINE_MAX arrives as several calls; a last line without '\n'
 * arrives at end of file. stream is a plat_proc_stream. line is not
 * NUL-terminated and may contain NUL bytes.
 */
typedef void (*plat_proc_line_fn)(void *ctx, int stream, const char *line,
    size_t len);

struct plat_proc_wait_opts {
	int64_t deadline_ms;	/* plat_clock_ms() time to exit by */
	int64_t kill_grace_ms;	/* SIGTERM -> SIGKILL; < 0: the default */
	/*
	 * After the process exited, keep reading for at most this long
	 * while something (a background child) still holds a pipe; < 0: 0.
	 */
	int64_t drain_ms;
	plat_proc_line_fn on_line;	/* may be NULL: output is discarded */
	void *ctx;
};

struct plat_proc_result {
	int exit_code;		/* 0..255 after a normal exit, else -1 */
	int signo;		/* the signal that ended it, else 0 */
	int timed_out;		/* deadline passed, the tree was killed */
	/*
	 * PLAT_PROC_STDOUT/STDERR bits: pipes still open when reading
	 * stopped, and (best effort, from /proc/<pid>/fd) processes that
	 * held them then, the agent itself excluded.
	 */
	unsigned open_streams;
	long holders[PLAT_PROC_MAX_HOLDERS];
	size_t n_holders;
};

/*
 * Read both pipes, handing lines to w->on_line, until the process has
 * exited; completion is the exit of the process itself (waitpid), not the
 * pipes closing. After the exit, reading goes on for w->drain_ms while a
 * pipe is still open; then the pipes are closed and reported in
 * open_streams. Processes left behind by a normal exit are not killed
 * (hooks start daemons); they are moved out of the process's cgroup, into
 * its parent, and the cgroup is removed.
 *
 * At the deadline the whole tree gets SIGTERM (the process group and every
 * member of the cgroup, including children that left the group), then
 * after w->kill_grace_ms (or sooner, once nothing is left) SIGKILL;
 * res->timed_out is set. Without a cgroup, children that called setsid
 * are found, best effort, as holders of the pipes and killed too; one
 * that also redirected its output escapes.
 *
 * Returns 0 with *res filled in (a failing or timed-out process is not an
 * error), or AG_ETIMEOUT when the process could not be reaped even after
 * SIGKILL (stuck in the kernel). Call once per process.
 */
int plat_proc_wait(struct plat_proc *p, const struct plat_proc_wait_opts *w,
    struct plat_proc_result *res, struct err *e);

/* SIGKILL the process, its group and its cgroup now. */
void plat_proc_kill_tree(struct plat_proc *p);

/*
 * Kill what is left, reap the process, remove its cgroup, close the
 * pipes and free. NULL-safe.
 */
void plat_proc_free(struct plat_proc *p);

/*
 * Restart recovery: SIGKILL a tree recorded by an earlier agent run and
 * remove its cgroup. pgid <= 1 or cgroup NULL skips that part. The cgroup
 * must be a directory on a cgroup2 file system named "cdagent-hook-*", as
 * plat_proc_start() names them (others are refused with AG_EINVAL); a
 * missing one is fine. A process group id can be reused after a reboot:
 * pass a pgid only when the record is from this boot.
 */
int plat_proc_kill_recorded(long pgid, const char *cgroup, struct err *e);

#endif

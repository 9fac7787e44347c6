/*
 * linux/proc.c: hook processes; see platform.h.
 *
 * Everything the child needs (argv, envp, the resolved program path, the
 * credentials, the cgroup) is prepared before fork(). Between fork() and
 * execve() the child only makes async-signal-safe calls and reports a
 * failure as { step, errno } through a close-on-exec pipe (git's
 * child_die), so the agent's other threads and their locks cannot bite.
 *
 * The child is created inside its cgroup by clone3(CLONE_INTO_CGROUP)
 * (Linux 5.7). Moving it in after a fork, by writing its pid to
 * cgroup.procs, costs ~10 ms: the kernel waits for an RCU grace period.
 * Where clone3 is missing (Linux < 5.3, valgrind, seccomp filters) or the
 * kernel refuses the cgroup, the move is the fallback: the child then waits
 * on a socket until the parent has moved it, so that the parent can fall
 * back to the process group alone when that write fails, and the child
 * never runs user code outside the cgroup.
 *
 * clone3 also returns a pidfd, so the wait blocks in poll() on the pipes
 * and the pidfd and wakes up as soon as the process exits.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "log.h"
#include "util.h"
#include "platform.h"
#include "banned.h"

#define CGROUP2_MAGIC 0x63677270
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:" \
	"/sbin:/bin"
#define REAP_MAX_MS 5000	/* after SIGKILL, before giving up */
#define CG_EMPTY_MAX_MS 2000	/* after SIGKILL, for the cgroup to empty */
/*
 * Without a pidfd, waitpid() cannot be polled: the wait loop then wakes up
 * at least every TICK_MAX_MS, starting at 1 ms and doubling, and again at
 * 1 ms once the pipes close (the process is exiting). A SIGCHLD self-pipe
 * would be global state, and threads other than ours reap their children.
 */
#define TICK_MAX_MS 50

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434	/* the same on every architecture */
#endif
/* 32-bit architectures have 16-bit ids in the plain calls (as musl does) */
#ifdef SYS_setgroups32
#define SYS_SETGROUPS SYS_setgroups32
#define SYS_SETGID SYS_setgid32
#define SYS_SETUID SYS_setuid32
#else
#define SYS_SETGROUPS SYS_setgroups
#define SYS_SETGID SYS_setgid
#define SYS_SETUID SYS_setuid
#endif

/* struct clone_args of <linux/sched.h> up to Linux 5.7's cgroup field. */
struct clone3_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
	uint64_t stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

struct stream {
	int fd;			/* read end, -1 once closed */
	ino_t ino;		/* pipe inode, to find holders */
	size_t len;		/* bytes pending in buf */
	char buf[PLAT_PROC_LINE_MAX];
};

struct plat_proc {
	pid_t pid;
	int pidfd;		/* -1 without; readable once pid has exited */
	int reaped;
	int status;		/* from waitpid, valid when reaped */
	int placement;		/* enum plat_proc_placement */
	char *cgroup;		/* owned; NULL without one */
	char *cgroup_parent;	/* owned; where survivors go */
	struct stream out, err;
};

/* Child failure report; the step names index child_steps[]. */
enum child_step {
	CS_SETSID, CS_SYNC, CS_SETGROUPS, CS_SETGID, CS_SETUID, CS_CHDIR,
	CS_DUP, CS_EXEC,
};
static const char *const child_steps[] = {
	"setsid", "sync", "setgroups", "setgid", "setuid", "chdir", "dup2",
	"exec",
};
struct child_fail {
	int step, err;
};

/*
 * The only mutable static state: whether the "no usable cgroup" notice was
 * logged, so it appears once per agent run, not once per hook; and whether
 * pidfd_open() is known to be missing, so that valgrind (`make unit`) warns
 * about the unknown system call once per run, not once per hook.
 */
static atomic_int cg_fallback_logged;
static atomic_int no_pidfd_open;

static void
cg_fallback(const char *why)
{
	if (atomic_exchange(&cg_fallback_logged, 1) == 0)
		log_info("no usable cgroup v2 (%s); hook process trees are "
		    "tracked by process group only", why);
}

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#define CLOSE_RANGE_CLOEXEC_FLAG (1U << 2)	/* linux/close_range.h */

/* ---- small file helpers ---------------------------------------------- */

static int
write_str(const char *path, const char *s)
{
	size_t n = strlen(s);
	ssize_t w;
	int fd, saved;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -errno;
	w = write(fd, s, n);
	saved = errno;
	close(fd);
	if (w < 0)
		return -saved;
	return (size_t)w == n ? 0 : -EIO;
}

/* Parse whitespace-separated pids from cgroup.procs. */
static size_t
cg_read_pids(const char *cg, pid_t *pids, size_t max)
{
	struct buf b = BUF_INIT(1 << 20);
	char path[PATH_MAX], *s, *end;
	size_t n = 0;
	long v;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	if (buf_read_file(&b, path, NULL) != 0)
		goto out;
	for (s = b.ptr; s != NULL && *s != '\0' && n < max; s = end) {
		errno = 0;
		v = strtol(s, &end, 10);
		if (end == s)
			break;
		if (errno == 0 && v > 0 && v <= INT_MAX)
			pids[n++] = (pid_t)v;
	}
 out:
	buf_release(&b);
	return n;
}

static int
cg_populated(const char *cg)
{
	struct buf b = BUF_INIT(4096);
	char path[PATH_MAX];
	int r = 0;

	snprintf(path, sizeof(path), "%s/cgroup.events", cg);
	if (buf_read_file(&b, path, NULL) == 0)
		r = strstr(buf_cstr(&b), "populated 1") != NULL;
	buf_release(&b);
	return r;
}

/* Signal every member; SIGKILL uses cgroup.kill when the kernel has it. */
static void
cg_signal(const char *cg, int sig)
{
	pid_t pids[512];
	char path[PATH_MAX];
	size_t i, n;
	int pass;

	if (sig == SIGKILL) {
		snprintf(path, sizeof(path), "%s/cgroup.kill", cg);
		if (write_str(path, "1") == 0)
			return;
	}
	/* Without cgroup.kill, repeat: members may fork while we kill. */
	for (pass = 0; pass < (sig == SIGKILL ? 20 : 1); pass++) {
		if ((n = cg_read_pids(cg, pids, 512)) == 0)
			break;
		for (i = 0; i < n; i++)
			kill(pids[i], sig);
	}
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Remove the cgroup directory. With kill_rest, members are killed first;
 * otherwise they move to the parent cgroup (daemons a hook started).
 */
static void
cg_remove(const char *cg, const char *parent, int kill_rest)
{
	char ppath[PATH_MAX], num[32];
	int64_t until = plat_clock_ms() + CG_EMPTY_MAX_MS;
	pid_t pids[512];
	size_t i, n;

	if (kill_rest)
		cg_signal(cg, SIGKILL);
	snprintf(ppath, sizeof(ppath), "%s/cgroup.procs",
	    parent != NULL ? parent : "/nonexistent");
	while (rmdir(cg) != 0) {
		if (errno == ENOENT)
			return;
		if (errno != EBUSY || plat_clock_ms() >= until) {
			log_warn("cannot remove cgroup %s: %s", cg,
			    strerror(errno));
			return;
		}
		if (!kill_rest && parent != NULL) {
			n = cg_read_pids(cg, pids, 512);
			for (i = 0; i < n; i++) {
				snprintf(num, sizeof(num), "%ld",
				    (long)pids[i]);
				write_str(ppath, num);
			}
		} else if (kill_rest) {
			cg_signal(cg, SIGKILL);
		}
		sleep_ms(10);
	}
}

/* ---- finding and making the cgroup -------------------------------------- */

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void
unescape_octal(char *s)
{
	char *w = s;

	for (; *s != '\0'; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			    (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/*
 * The first cgroup2 mount in /proc/self/mountinfo: its mount point and the
 * directory of the hierarchy mounted there ("/" except in containers).
 */
static int
cg_find_mount(char *mnt, size_t mntsz, char *root, size_t rootsz)
{
	struct buf b = BUF_INIT(4 << 20);
	char *line, *next, *sep, *f[5], *s;
	int i, r = -1;

	if (buf_read_file(&b, "/proc/self/mountinfo", NULL) != 0)
		goto out;
	for (line = b.ptr; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((sep = strstr(line, " - ")) == NULL)
			continue;
		if (strncmp(sep + 3, "cgroup2 ", 8) != 0)
			continue;
		*sep = '\0';
		/* id parent major:minor root mount-point ... */
		for (i = 0, s = line; i < 5; i++) {
			f[i] = s;
			if ((s = strchr(s, ' ')) == NULL)
				break;
			*s++ = '\0';
		}
		if (i < 4)
			continue;
		unescape_octal(f[3]);
		unescape_octal(f[4]);
		snprintf(root, rootsz, "%s", f[3]);
		snprintf(mnt, mntsz, "%s", f[4]);
		r = 0;
		break;
	}
 out:
	buf_release(&b);
	return r;
}

/* The agent's own cgroup v2 path, from the "0::" line of /proc/self/cgroup. */
static int
cg_self(char *out, size_t n)
{
	struct buf b = BUF_INIT(1 << 20);
	const char *s;
	size_t len;
	int r = -1;

	if (buf_read_file(&b, "/proc/self/cgroup", NULL) != 0)
		goto out;
	s = buf_cstr(&b);
	if (strncmp(s, "0::", 3) != 0 && (s = strstr(s, "\n0::")) != NULL)
		s++;
	if (s == NULL || strncmp(s, "0::", 3) != 0)
		goto out;
	s += 3;
	len = strcspn(s, "\n");
	if (len == 0 || len >= n)
		goto out;
	memcpy(out, s, len);
	out[len] = '\0';
	/* " (deleted)" follows a removed cgroup; no place to make children */
	if (strstr(out, " (deleted)") == NULL)
		r = 0;
 out:
	buf_release(&b);
	return r;
}

/* mkdir base/cdagent-hook-<pid>-<tid>-<ns>, retrying on a name clash. */
static char *
cg_mkdir_in(const char *base)
{
	struct timespec ts;
	char path[PATH_MAX];
	int i;

	for (i = 0; i < 4; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		if (snprintf(path, sizeof(path),
		    "%s/cdagent-hook-%ld-%ld-%lld-%ld", base, (long)getpid(),
		    (long)syscall(SYS_gettid), (long long)ts.tv_sec,
		    ts.tv_nsec) >= (int)sizeof(path))
			return NULL;
		if (mkdir(path, 0755) == 0)
			return util_strdup(path);
		if (errno != EEXIST)
			return NULL;
	}
	return NULL;
}

/* Make the process's cgroup; on failure p->cgroup stays NULL. */
static void
cg_create(struct plat_proc *p)
{
	char mnt[PATH_MAX], root[PATH_MAX], self[PATH_MAX], base[PATH_MAX];
	const char *rel;
	struct statfs sf;
	size_t rl;

	if (cg_find_mount(mnt, sizeof(mnt), root, sizeof(root)) != 0) {
		cg_fallback("no cgroup2 mount");
		return;
	}
	if (statfs(mnt, &sf) != 0 || sf.f_type != CGROUP2_MAGIC) {
		cg_fallback("cgroup2 mount not accessible");
		return;
	}
	/* first choice: below the agent's own cgroup */
	if (cg_self(self, sizeof(self)) == 0) {
		rl = strlen(root);
		rel = NULL;
		if (strcmp(root, "/") == 0)
			rel = self;
		else if (strncmp(self, root, rl) == 0 &&
		    (self[rl] == '/' || self[rl] == '\0'))
			rel = self + rl;
		if (rel != NULL && strcmp(rel, "/") != 0 && *rel != '\0' &&
		    snprintf(base, sizeof(base), "%s%s", mnt, rel) <
		    (int)sizeof(base) &&
		    (p->cgroup = cg_mkdir_in(base)) != NULL) {
			p->cgroup_parent = util_strdup(base);
			return;
		}
	}
	/* else <mount>/cdagent, shared by the agent's hooks */
	if (snprintf(base, sizeof(base), "%s/cdagent", mnt) >=
	    (int)sizeof(base))
		return;
	if (mkdir(base, 0755) != 0 && errno != EEXIST) {
		cg_fallback(strerror(errno));
		return;
	}
	if ((p->cgroup = cg_mkdir_in(base)) == NULL) {
		cg_fallback(strerror(errno));
		return;
	}
	p->cgroup_parent = util_strdup(base);
}

static void
cg_drop(struct plat_proc *p)
{
	if (p->cgroup != NULL)
		rmdir(p->cgroup);
	free(p->cgroup);
	free(p->cgroup_parent);
	p->cgroup = p->cgroup_parent = NULL;
}

/* ---- preparing the child ------------------------------------------------ */

/* argv[0] to an executable path, searching PATH of envp for a bare name. */
static char *
resolve_program(const char *name, const char *const *envp)
{
	const char *path = NULL, *s, *colon;
	char cand[PATH_MAX];
	size_t i, dl;

	if (strchr(name, '/') != NULL)
		return util_strdup(name);
	for (i = 0; envp != NULL && envp[i] != NULL; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0)
			path = envp[i] + 5;
	if (path == NULL)
		path = DEFAULT_PATH;
	for (s = path; ; s = colon + 1) {
		colon = strchr(s, ':');
		dl = colon != NULL ? (size_t)(colon - s) : strlen(s);
		if (snprintf(cand, sizeof(cand), "%.*s%s%s", (int)dl, s,
		    dl > 0 ? "/" : "", name) < (int)sizeof(cand) &&
		    access(cand, X_OK) == 0)
			return util_strdup(cand);
		if (colon == NULL)
			break;
	}
	errno = ENOENT;
	return NULL;
}

struct creds {
	int change;		/* 0: keep the agent's ids */
	uid_t uid;
	gid_t gid;
	gid_t *groups;		/* owned */
	size_t ngroups;
};

static int
creds_prepare(struct creds *c, const char *user, struct strv *env,
    struct err *e)
{
	struct plat_user u;
	int n = 32, r;
	gid_t *g;

	if ((r = plat_user_lookup(user, &u, e)) != 0) {
		errno = 0;
		return r;
	}
	if (strv_setenv(env, "HOME", u.home) != 0 ||
	    strv_setenv(env, "USER", u.name) != 0 ||
	    strv_setenv(env, "LOGNAME", u.name) != 0 ||
	    strv_setenv(env, "SHELL", u.shell) != 0)
		return err_set(e, AG_ENOMEM, "out of memory");
	c->uid = (uid_t)u.uid;
	c->gid = (gid_t)u.gid;
	if (c->uid == geteuid() && c->gid == getegid())
		return 0;	/* already that user: nothing to drop */
	c->change = 1;
	for (;;) {
		if ((g = realloc(c->groups, (size_t)n * sizeof(*g))) == NULL)
			return err_set(e, AG_ENOMEM, "out of memory");
		c->groups = g;
		if (getgrouplist(u.name, c->gid, g, &n) >= 0)
			break;
		if (n > 65536) {
			errno = 0;
			return err_set(e, AG_EIO, "too many groups for %s",
			    u.name);
		}
		n *= 2;
	}
	c->ngroups = (size_t)n;
	return 0;
}

/* ---- the child --------------------------------------------------------- */

struct child_plan {
	const char *path, *cwd;
	char *const *argv, *const *envp;
	const struct creds *creds;
	int null_fd, out_fd, err_fd, fail_fd;
	int sync_fd;		/* -1: already in its cgroup, no wait */
};

static _Noreturn void
child_die(int fd, int step)
{
	struct child_fail f;

	f.step = step;
	f.err = errno;
	if (write(fd, &f, sizeof(f)) < 0) {
		/* nobody to tell */
	}
	_exit(127);
}

/*
 * Only async-signal-safe calls from here to execve(). After a raw clone3()
 * libc's thread bookkeeping is still the parent's (fork() would have reset
 * it), so two more rules. Credentials change through the system calls:
 * libc's setuid() and friends run their all-threads protocol (glibc
 * setxid, musl __synccall) over the parent's thread list and its locks.
 * SIGABRT is left alone: musl takes abort()'s lock for it, which another
 * thread may have held at the clone; the agent never ignores SIGABRT, so
 * execve() brings back the default anyway.
 */
static _Noreturn void
child_run(const struct child_plan *c)
{
	struct sigaction sa;
	sigset_t none;
	int fds[3], i;
	char ch;

	/* Dispositions and the mask survive execve: start clean. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (i = 1; i < NSIG; i++)
		if (i != SIGABRT)
			sigaction(i, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	if (setsid() < 0)
		child_die(c->fail_fd, CS_SETSID);
	/* wait until the parent has put us into the cgroup (or gave up) */
	while (c->sync_fd >= 0 && read(c->sync_fd, &ch, 1) < 0)
		if (errno != EINTR)
			child_die(c->fail_fd, CS_SYNC);
	if (c->creds->change) {
		if (syscall(SYS_SETGROUPS, c->creds->ngroups,
		    c->creds->groups) != 0)
			child_die(c->fail_fd, CS_SETGROUPS);
		if (syscall(SYS_SETGID, (long)c->creds->gid) != 0)
			child_die(c->fail_fd, CS_SETGID);
		if (syscall(SYS_SETUID, (long)c->creds->uid) != 0)
			child_die(c->fail_fd, CS_SETUID);
	}
	if (c->cwd != NULL && chdir(c->cwd) != 0)
		child_die(c->fail_fd, CS_CHDIR);

	/* Lift the sources above 2 first so no dup2 clobbers another. */
	fds[0] = c->null_fd;
	fds[1] = c->out_fd;
	fds[2] = c->err_fd;
	for (i = 0; i < 3; i++)
		if (fds[i] < 3 &&
		    (fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3)) < 0)
			child_die(c->fail_fd, CS_DUP);
	for (i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)	/* the copy is not CLOEXEC */
			child_die(c->fail_fd, CS_DUP);
	/*
	 * Nothing else of the agent's reaches a hook: libraries (libcurl's
	 * cached connections) open descriptors without close-on-exec.
	 * CLOEXEC rather than close, so the failure pipe still reports.
	 */
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC_FLAG) != 0)
		for (i = 3; i < 4096; i++)
			(void)fcntl(i, F_SETFD, FD_CLOEXEC);

	execve(c->path, c->argv, c->envp);
	child_die(c->fail_fd, CS_EXEC);
}

/* ---- start ------------------------------------------------------------- */

static void
stream_close(struct stream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static int
pipe_pair(int fds[2], struct err *e)
{
	if (pipe2(fds, O_CLOEXEC) != 0)
		return err_set(e, AG_EIO, "pipe: %s", strerror(errno));
	return 0;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * fork() by clone3(): into the cgroup of cg_fd unless that is -1, with a
 * pidfd in *pidfd. With no stack given, the child goes on like after
 * fork(), on a copy of the parent's stack. Returns what fork() does;
 * errno ENOSYS where there is no clone3 (Linux < 5.3, valgrind).
 */
static pid_t
clone3_fork(int cg_fd, int *pidfd)
{
#ifdef SYS_clone3
	struct clone3_args a;

	memset(&a, 0, sizeof(a));
	a.flags = CLONE_PIDFD;
	a.pidfd = (uint64_t)(uintptr_t)pidfd;
	a.exit_signal = SIGCHLD;
	if (cg_fd >= 0) {
		a.flags |= CLONE_INTO_CGROUP;
		a.cgroup = (uint64_t)cg_fd;
	}
	return (pid_t)syscall(SYS_clone3, &a, sizeof(a));
#else
	(void)cg_fd;
	(void)pidfd;
	errno = ENOSYS;
	return -1;
#endif
}

/*
 * Start the child of plan: straight into p->cgroup when the kernel can,
 * else held on the socket pair sync for the parent to move it. Sets
 * p->pid, p->pidfd and p->placement; in the child, never returns. Call
 * with every signal blocked.
 */
static int
spawn(struct plat_proc *p, struct child_plan *plan, unsigned flags,
    int sync[2], struct err *e)
{
	int cg_fd = -1, saved, clone3_ok = !(flags & PLAT_PROC_FORK);

	if (p->cgroup != NULL && clone3_ok)
		cg_fd = open(p->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd >= 0) {
		plan->sync_fd = -1;
		p->pid = clone3_fork(cg_fd, &p->pidfd);
		saved = errno;
		close(cg_fd);
		if (p->pid == 0)
			child_run(plan);
		if (p->pid > 0) {
			p->placement = PLAT_PROC_CG_CLONED;
			return 0;
		}
		/*
		 * Refused (EINVAL, E2BIG: Linux < 5.7; EBUSY, EACCES,
		 * EPERM, EOPNOTSUPP: this cgroup): fork and move it.
		 */
		clone3_ok = saved != ENOSYS;
	}
	if (p->cgroup != NULL) {
		/* a socket: releasing a child that died is no SIGPIPE */
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
		    sync) != 0)
			return err_set(e, AG_EIO, "socketpair: %s",
			    strerror(errno));
		plan->sync_fd = sync[0];
	}
	if (clone3_ok) {
		p->pid = clone3_fork(-1, &p->pidfd);
		if (p->pid == 0)
			child_run(plan);
		if (p->pid > 0)
			return 0;
		/* seccomp filters answer ENOSYS, some EPERM: fork says */
	}
	p->pid = fork();
	if (p->pid == 0)
		child_run(plan);
	if (p->pid < 0)
		return err_set(e, AG_EIO, "fork: %s", strerror(errno));
	/*
	 * A filter may refuse clone3 and still allow pidfd_open. After the
	 * first ENOSYS, don't ask again (valgrind warns about each call).
	 */
	if (!atomic_load(&no_pidfd_open) &&
	    (p->pidfd = (int)syscall(SYS_pidfd_open, (long)p->pid, 0L)) < 0) {
		if (errno == ENOSYS)
			atomic_store(&no_pidfd_open, 1);
		p->pidfd = -1;
	}
	return 0;
}

int
plat_proc_start(struct plat_proc **out, const struct plat_proc_opts *o,
    struct err *e)
{
	struct plat_proc *p = NULL;
	struct strv argv = STRV_INIT, env = STRV_INIT;
	struct creds creds = { 0, 0, 0, NULL, 0 };
	struct child_plan plan;
	struct child_fail cf;
	char *path = NULL, *empty[1] = { NULL }, num[32];
	int opipe[2] = { -1, -1 }, epipe[2] = { -1, -1 };
	int fpipe[2] = { -1, -1 }, spipe[2] = { -1, -1 }, null_fd = -1;
	int r = 0, saved_errno = 0;
	sigset_t all, old;
	ssize_t n;
	size_t i;

	*out = NULL;
	if (o->argv == NULL || o->argv[0] == NULL) {
		r = err_set(e, AG_EINVAL, "empty command");
		errno = EINVAL;
		return r;
	}
	for (i = 0; o->argv[i] != NULL; i++)
		if (strv_push(&argv, o->argv[i]) != 0)
			goto oom;
	for (i = 0; o->envp != NULL && o->envp[i] != NULL; i++)
		if (strv_push(&env, o->envp[i]) != 0)
			goto oom;
	if (o->run_as != NULL &&
	    (r = creds_prepare(&creds, o->run_as, &env, e)) != 0) {
		saved_errno = errno;
		goto out;
	}
	if ((path = resolve_program(o->argv[0], o->envp)) == NULL) {
		saved_errno = errno;
		r = err_set(e, AG_EIO, "exec %s: %s", o->argv[0],
		    strerror(saved_errno));
		goto out;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		goto oom;
	p->pid = -1;
	p->pidfd = -1;
	p->out.fd = p->err.fd = -1;
	if ((null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		saved_errno = errno;
		r = err_set(e, AG_EIO, "open /dev/null: %s", strerror(errno));
		goto out;
	}
	if ((r = pipe_pair(opipe, e)) != 0 || (r = pipe_pair(epipe, e)) != 0 ||
	    (r = pipe_pair(fpipe, e)) != 0) {
		saved_errno = errno;
		goto out;
	}
	if (!(o->flags & PLAT_PROC_NO_CGROUP))
		cg_create(p);

	plan.path = path;
	plan.cwd = o->cwd;
	plan.argv = argv.v;
	plan.envp = env.v != NULL ? env.v : empty;
	plan.creds = &creds;
	plan.null_fd = null_fd;
	plan.out_fd = opipe[1];
	plan.err_fd = epipe[1];
	plan.fail_fd = fpipe[1];
	plan.sync_fd = -1;

	/* No handler of ours may run in the child before it resets them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = spawn(p, &plan, o->flags, spipe, e);
	saved_errno = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		goto out;
	close_fd(&opipe[1]);
	close_fd(&epipe[1]);
	close_fd(&fpipe[1]);
	close_fd(&spipe[0]);
	close_fd(&null_fd);

	if (p->cgroup != NULL && p->placement != PLAT_PROC_CG_CLONED) {
		char procs[PATH_MAX];
		int wr;

		snprintf(procs, sizeof(procs), "%s/cgroup.procs", p->cgroup);
		snprintf(num, sizeof(num), "%ld", (long)p->pid);
		if ((wr = write_str(procs, num)) != 0) {
			cg_fallback(strerror(-wr));
			cg_drop(p);
		} else {
			p->placement = PLAT_PROC_CG_MOVED;
		}
	}
	/* release a held child; EOF on the failure pipe: execve worked */
	if (spipe[1] >= 0 && send(spipe[1], "g", 1, MSG_NOSIGNAL) < 0) {
		/* the child died already; the failure pipe tells why */
	}
	close_fd(&spipe[1]);
	do
		n = read(fpipe[0], &cf, sizeof(cf));
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		saved_errno = n == (ssize_t)sizeof(cf) ? cf.err : EIO;
		if (n == (ssize_t)sizeof(cf) && cf.step == CS_EXEC)
			r = err_set(e, AG_EIO, "exec %s: %s", path,
			    strerror(saved_errno));
		else if (n == (ssize_t)sizeof(cf) && cf.step == CS_CHDIR)
			r = err_set(e, AG_EIO, "chdir %s: %s", o->cwd,
			    strerror(saved_errno));
		else if (n == (ssize_t)sizeof(cf) && cf.step >= 0 &&
		    cf.step <= CS_EXEC)
			r = err_set(e, AG_EIO, "%s (%s): %s",
			    child_steps[cf.step], o->run_as ? o->run_as :
			    "child", strerror(saved_errno));
		else
			r = err_set(e, AG_EIO, "child setup failed");
		goto out;	/* plat_proc_free reaps it */
	}
	p->out.fd = opipe[0];
	p->err.fd = epipe[0];
	opipe[0] = epipe[0] = -1;
	{
		struct stat st;

		if (fstat(p->out.fd, &st) == 0)
			p->out.ino = st.st_ino;
		if (fstat(p->err.fd, &st) == 0)
			p->err.ino = st.st_ino;
	}
	*out = p;
	p = NULL;	/* transferred */
	goto out;
 oom:
	saved_errno = ENOMEM;
	r = err_set(e, AG_ENOMEM, "out of memory");
 out:
	close_fd(&opipe[0]);
	close_fd(&opipe[1]);
	close_fd(&epipe[0]);
	close_fd(&epipe[1]);
	close_fd(&fpipe[0]);
	close_fd(&fpipe[1]);
	close_fd(&spipe[0]);
	close_fd(&spipe[1]);
	close_fd(&null_fd);
	plat_proc_free(p);
	free(creds.groups);
	free(path);
	strv_release(&argv);
	strv_release(&env);
	errno = r != 0 ? saved_errno : 0;
	return r;
}

long
plat_proc_pid(const struct plat_proc *p)
{
	return (long)p->pid;
}

long
plat_proc_pgid(const struct plat_proc *p)
{
	return (long)p->pid;	/* setsid() made it the group leader */
}

const char *
plat_proc_cgroup(const struct plat_proc *p)
{
	return p->cgroup;
}

int
plat_proc_placement(const struct plat_proc *p)
{
	return p->placement;
}

/* ---- waiting ----------------------------------------------------------- */

static void
try_reap(struct plat_proc *p, int block)
{
	pid_t w;
	int st;

	if (p->reaped || p->pid <= 0)
		return;
	do
		w = waitpid(p->pid, &st, block ? 0 : WNOHANG);
	while (w < 0 && errno == EINTR);
	if (w == p->pid) {
		p->reaped = 1;
		p->status = st;
	} else if (w < 0) {
		/* ECHILD: someone set SIGCHLD to SIG_IGN; status is lost */
		log_warn("waitpid %ld: %s", (long)p->pid, strerror(errno));
		p->reaped = 1;
		p->status = -1;
	}
	if (p->reaped && p->pidfd >= 0) {
		close(p->pidfd);	/* readable for good now */
		p->pidfd = -1;
	}
}

static void
tree_signal(struct plat_proc *p, int sig)
{
	if (p->cgroup != NULL)
		cg_signal(p->cgroup, sig);
	if (p->pid > 0) {
		kill(-p->pid, sig);
		if (!p->reaped)
			kill(p->pid, sig);
	}
}

static int
tree_alive(const struct plat_proc *p)
{
	if (p->cgroup != NULL)
		return cg_populated(p->cgroup);
	return kill(-p->pid, 0) == 0 || errno == EPERM;
}

/* Hand complete lines of s->buf to the callback; at eof, the rest too. */
static void
stream_lines(struct stream *s, int which, const struct plat_proc_wait_opts *w,
    int eof)
{
	size_t start = 0, i;

	for (i = 0; i < s->len; i++) {
		if (s->buf[i] != '\n')
			continue;
		if (w->on_line != NULL)
			w->on_line(w->ctx, which, s->buf + start, i - start);
		start = i + 1;
	}
	if (start > 0) {
		memmove(s->buf, s->buf + start, s->len - start);
		s->len -= start;
	}
	if (s->len > 0 && (eof || s->len == sizeof(s->buf))) {
		if (w->on_line != NULL)
			w->on_line(w->ctx, which, s->buf, s->len);
		s->len = 0;
	}
}

static void
stream_read(struct stream *s, int which, const struct plat_proc_wait_opts *w)
{
	ssize_t n;

	n = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		stream_lines(s, which, w, 1);
		stream_close(s);
		return;
	}
	s->len += (size_t)n;
	stream_lines(s, which, w, 0);
}

/* Processes (not us) with an fd on one of the still-open pipes. */
static void
find_holders(const struct plat_proc *p, struct plat_proc_result *res)
{
	char dpath[64], lpath[PATH_MAX], link[64], want[2][64];
	struct dirent *de, *fe;
	DIR *d, *fd;
	long pid, self = (long)getpid();
	ssize_t n;
	int k, hit;
	char *end;

	snprintf(want[0], sizeof(want[0]), "pipe:[%lu]",
	    p->out.fd >= 0 ? (unsigned long)p->out.ino : 0UL);
	snprintf(want[1], sizeof(want[1]), "pipe:[%lu]",
	    p->err.fd >= 0 ? (unsigned long)p->err.ino : 0UL);
	if ((d = opendir("/proc")) == NULL)
		return;
	while ((de = readdir(d)) != NULL &&
	    res->n_holders < PLAT_PROC_MAX_HOLDERS) {
		pid = strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0 || pid == self)
			continue;
		snprintf(dpath, sizeof(dpath), "/proc/%ld/fd", pid);
		if ((fd = opendir(dpath)) == NULL)
			continue;
		hit = 0;
		while (!hit && (fe = readdir(fd)) != NULL) {
			if (fe->d_name[0] == '.')
				continue;
			snprintf(lpath, sizeof(lpath), "%s/%s", dpath,
			    fe->d_name);
			if ((n = readlink(lpath, link, sizeof(link) - 1)) <= 0)
				continue;
			link[n] = '\0';
			for (k = 0; k < 2; k++)
				if (strcmp(link, want[k]) == 0)
					hit = 1;
		}
		closedir(fd);
		if (hit)
			res->holders[res->n_holders++] = pid;
	}
	closedir(d);
}

/* The parent pid of pid from /proc/<pid>/stat, or -1. */
static long
parent_of(long pid)
{
	struct buf b = BUF_INIT(4096);
	char path[64];
	const char *s;
	long ppid = -1;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (buf_read_file(&b, path, NULL) == 0 &&
	    (s = strrchr(buf_cstr(&b), ')')) != NULL)
		if (sscanf(s, ") %*c %ld", &ppid) != 1)
			ppid = -1;
	buf_release(&b);
	return ppid;
}

int
plat_proc_wait(struct plat_proc *p, const struct plat_proc_wait_opts *w,
    struct plat_proc_result *res, struct err *e)
{
	int64_t now, next, grace, drain, drain_end = -1, kill_at = -1;
	int64_t give_up = -1;
	struct pollfd pf[3];
	int phase = 0;		/* 0 running, 1 SIGTERM sent, 2 SIGKILL */
	int np, i, r = 0, timeout, open_fds;
	int64_t tick = 1;
	size_t h;

	memset(res, 0, sizeof(*res));
	res->exit_code = -1;
	grace = w->kill_grace_ms >= 0 ? w->kill_grace_ms :
	    PLAT_PROC_KILL_GRACE_DEFAULT;
	drain = w->drain_ms >= 0 ? w->drain_ms : 0;

	for (;;) {
		now = plat_clock_ms();
		try_reap(p, 0);
		if (phase == 0 && !p->reaped && now >= w->deadline_ms) {
			res->timed_out = 1;
			tree_signal(p, SIGTERM);
			phase = 1;
			kill_at = now + grace;
		}
		if (phase == 1 && (now >= kill_at ||
		    (p->reaped && !tree_alive(p)))) {
			tree_signal(p, SIGKILL);
			phase = 2;
			give_up = now + REAP_MAX_MS;
		}
		if (phase == 2 && !p->reaped && now >= give_up) {
			r = err_set(e, AG_ETIMEOUT, "process %ld survived "
			    "SIGKILL", (long)p->pid);
			break;
		}
		if (p->reaped && phase != 1) {
			if (drain_end < 0)
				drain_end = now + drain;
			if ((p->out.fd < 0 && p->err.fd < 0) ||
			    now >= drain_end)
				break;
		}

		next = INT64_MAX;
		if (phase == 0 && !p->reaped)
			next = w->deadline_ms;
		else if (phase == 1)
			next = kill_at;
		else if (phase == 2 && !p->reaped)
			next = give_up;
		if (drain_end >= 0 && drain_end < next)
			next = drain_end;
		/* phase 1 waits for the tree to empty: no fd tells that */
		if ((phase == 1 || (!p->reaped && p->pidfd < 0)) &&
		    now + tick < next)
			next = now + tick;
		if (tick < TICK_MAX_MS)
			tick *= 2;
		timeout = next - now > 60000 ? 60000 :
		    next - now < 0 ? 0 : (int)(next - now);

		np = 0;
		if (p->out.fd >= 0)
			pf[np++] = (struct pollfd){ p->out.fd, POLLIN, 0 };
		if (p->err.fd >= 0)
			pf[np++] = (struct pollfd){ p->err.fd, POLLIN, 0 };
		if (p->pidfd >= 0)	/* closed once reaped */
			pf[np++] = (struct pollfd){ p->pidfd, POLLIN, 0 };
		if (poll(pf, (nfds_t)np, timeout) < 0 && errno != EINTR) {
			r = err_set(e, AG_EIO, "poll: %s", strerror(errno));
			break;
		}
		open_fds = (p->out.fd >= 0) + (p->err.fd >= 0);
		for (i = 0; i < np; i++) {
			if (pf[i].revents == 0)
				continue;
			if (pf[i].fd == p->out.fd)
				stream_read(&p->out, PLAT_PROC_STDOUT, w);
			else if (pf[i].fd == p->err.fd)
				stream_read(&p->err, PLAT_PROC_STDERR, w);
		}
		/* pipes closing: the process is most likely exiting */
		if ((p->out.fd >= 0) + (p->err.fd >= 0) < open_fds)
			tick = 1;
	}

	if (p->out.fd >= 0)
		res->open_streams |= PLAT_PROC_STDOUT;
	if (p->err.fd >= 0)
		res->open_streams |= PLAT_PROC_STDERR;
	if (res->open_streams != 0) {
		/* deliver what we have; a held pipe is not read further */
		stream_lines(&p->out, PLAT_PROC_STDOUT, w, 1);
		stream_lines(&p->err, PLAT_PROC_STDERR, w, 1);
		find_holders(p, res);
		/*
		 * After a timeout, holders are the tree's escapees (setsid
		 * without a cgroup). A process whose parent is the agent is
		 * another hook's child between fork and exec: spare it.
		 */
		for (h = 0; res->timed_out && h < res->n_holders; h++)
			if (parent_of(res->holders[h]) != (long)getpid())
				kill((pid_t)res->holders[h], SIGKILL);
	}
	stream_close(&p->out);
	stream_close(&p->err);
	if (p->cgroup != NULL && p->reaped) {
		cg_remove(p->cgroup, p->cgroup_parent, res->timed_out);
		free(p->cgroup);
		free(p->cgroup_parent);
		p->cgroup = p->cgroup_parent = NULL;
	}
	if (p->reaped && p->status != -1) {
		if (WIFEXITED(p->status))
			res->exit_code = WEXITSTATUS(p->status);
		else if (WIFSIGNALED(p->status))
			res->signo = WTERMSIG(p->status);
	}
	return r;
}

void
plat_proc_kill_tree(struct plat_proc *p)
{
	if (p != NULL)
		tree_signal(p, SIGKILL);
}

void
plat_proc_free(struct plat_proc *p)
{
	if (p == NULL)
		return;
	if (p->pid > 0 && !p->reaped) {
		tree_signal(p, SIGKILL);
		try_reap(p, 1);
	}
	stream_close(&p->out);
	stream_close(&p->err);
	if (p->pidfd >= 0)
		close(p->pidfd);
	if (p->cgroup != NULL)
		cg_remove(p->cgroup, p->cgroup_parent, 1);
	free(p->cgroup);
	free(p->cgroup_parent);
	free(p);
}

int
plat_proc_kill_recorded(long pgid, const char *cgroup, struct err *e)
{
	const char *base;
	struct statfs sf;

	if (cgroup != NULL) {
		base = strrchr(cgroup, '/');
		base = base != NULL ? base + 1 : cgroup;
		if (strncmp(base, "cdagent-hook-", 13) != 0)
			return err_set(e, AG_EINVAL, "not a hook cgroup: %s",
			    cgroup);
		if (statfs(cgroup, &sf) == 0) {
			if (sf.f_type != CGROUP2_MAGIC)
				return err_set(e, AG_EINVAL, "not a cgroup: %s",
				    cgroup);
			cg_remove(cgroup, NULL, 1);
		} else if (errno != ENOENT) {
			return err_set(e, AG_EIO, "%s: %s", cgroup,
			    strerror(errno));
		}
	}
	if (pgid > 1 && kill(-(pid_t)pgid, SIGKILL) != 0 && errno != ESRCH)
		return err_set(e, AG_EIO, "kill process group %ld: %s", pgid,
		    strerror(errno));
	return 0;
}

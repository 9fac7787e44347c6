/* hooks.c: lifecycle event scripts; see hooks.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "appspec.h"
#include "buf.h"
#include "err.h"
#include "hooks.h"
#include "log.h"
#include "util.h"
#include "platform.h"
#include "banned.h"

#define DLOG_ROTATE_BYTES ((off_t)64 << 20)
#define DLOG_KEEP 8

/* ---- the tail ---------------------------------------------------------- */

void
hooks_tail_init(struct hooks_tail *t)
{
	t->len = t->n = 0;
	t->data[0] = '\0';
}

void
hooks_tail_append(struct hooks_tail *t, const char *s, size_t n)
{
	size_t cut, drop;

	if (n == 0)
		return;
	if (n >= HOOKS_LOG_MAX) {
		/* alone and too long: its end, not mid-way into a character */
		cut = n - HOOKS_LOG_MAX;
		while (cut < n && ((unsigned char)s[cut] & 0xC0) == 0x80)
			cut++;
		t->len = n - cut;
		memcpy(t->data, s + cut, t->len);
		t->data[t->len] = '\0';
		t->lens[0] = t->len;
		t->n = 1;
		return;
	}
	/* drop the oldest entries until the new one fits */
	for (cut = 0, drop = 0; t->len - cut + n > HOOKS_LOG_MAX; drop++)
		cut += t->lens[drop];
	if (drop > 0) {
		t->n -= drop;
		memmove(t->lens, t->lens + drop, t->n * sizeof(*t->lens));
		memmove(t->data, t->data + cut, t->len - cut);
		t->len -= cut;
	}
	memcpy(t->data + t->len, s, n);
	t->len += n;
	t->data[t->len] = '\0';
	t->lens[t->n++] = n;
}

/* ---- writing the logs -------------------------------------------------- */

struct run {
	const struct hooks_event *ev;
	struct hooks_tail tail;
	int slog, dlog;		/* fds, -1 when absent */
	int write_warned;
	struct buf line;	/* scratch for one log line */
};

static void
write_all(struct run *r, int fd, const char *s, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (!r->write_warned)
				log_warn("write hook log: %s", strerror(errno));
			r->write_warned = 1;
			return;
		}
		s += w;
		n -= (size_t)w;
	}
}

/*
 * One entry: prefix + text + "\n" into the tail, then scripts.log and the
 * deployments log with their time stamps. Failures to write the files are
 * logged once and do not fail the script (the tail still reports).
 */
static void
emit(struct run *r, const char *prefix, const char *s, size_t n)
{
	struct timespec ts;
	struct tm tm;
	char stamp[40];
	size_t body, end;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);

	buf_reset(&r->line);
	if (buf_addstr(&r->line, stamp) != 0 || buf_addch(&r->line, ' ') ||
	    buf_addstr(&r->line, prefix) != 0 || buf_add(&r->line, s, n) ||
	    buf_addch(&r->line, '\n') != 0) {
		log_warn("hook output line dropped: out of memory");
		return;
	}
	body = strlen(stamp) + 1;
	hooks_tail_append(&r->tail, r->line.ptr + body, r->line.len - body);
	if (r->slog >= 0)
		write_all(r, r->slog, r->line.ptr, r->line.len);
	if (r->dlog < 0)
		return;

	/* "[stamp.mmm] [id]<entry stripped>\n" */
	end = r->line.len;
	while (end > body && (r->line.ptr[end - 1] == '\n' ||
	    r->line.ptr[end - 1] == ' ' || r->line.ptr[end - 1] == '\t' ||
	    r->line.ptr[end - 1] == '\r'))
		end--;
	buf_truncate(&r->line, end);
	buf_consume(&r->line, body);
	{
		struct buf d = BUF_INIT(PLAT_PROC_LINE_MAX + 4096);

		if (buf_addf(&d, "[%s.%03ld] [%s]", stamp,
		    ts.tv_nsec / 1000000L, r->ev->deployment_id ?
		    r->ev->deployment_id : "") == 0 &&
		    buf_add(&d, r->line.ptr, r->line.len) == 0 &&
		    buf_addch(&d, '\n') == 0)
			write_all(r, r->dlog, d.ptr, d.len);
		buf_release(&d);
	}
}

static void
on_line(void *ctx, int stream, const char *line, size_t len)
{
	emit(ctx, stream == PLAT_PROC_STDERR ? "[stderr]" : "[stdout]", line,
	    len);
}

/* Parent directory of path (heap), or NULL. */
static char *
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	struct buf b = BUF_INIT(PATH_MAX);

	if (slash == NULL)
		return NULL;
	if (buf_add(&b, path, slash == path ? 1 : (size_t)(slash - path)))
		return NULL;
	return buf_detach(&b);
}

static int
open_log(const char *path, struct err *e)
{
	char *dir;
	int fd, r;

	if ((dir = dir_of(path)) != NULL) {
		r = plat_fs_mkdir_p(dir, 0755, e);
		free(dir);
		if (r != 0)
			return r;
	}
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644)) < 0)
		return err_set(e, AG_EIO, "open %s: %s", path,
		    strerror(errno));
	return fd;
}

/* <log>.7 -> .8, ..., <log> -> .1 once it is 64 MiB. */
static void
rotate_dlog(const char *path)
{
	char from[PATH_MAX], to[PATH_MAX];
	struct stat st;
	int i;

	if (stat(path, &st) != 0 || st.st_size < DLOG_ROTATE_BYTES)
		return;
	for (i = DLOG_KEEP - 1; i >= 1; i--) {
		snprintf(from, sizeof(from), "%s.%d", path, i);
		snprintf(to, sizeof(to), "%s.%d", path, i + 1);
		rename(from, to);
	}
	snprintf(to, sizeof(to), "%s.1", path);
	rename(path, to);
}

/* ---- one script -------------------------------------------------------- */

/* Ruby's exception class for a spawn errno. */
static const char *
errno_class(int err)
{
	static const struct { int err; const char *name; } tab[] = {
		{ ENOENT, "Errno::ENOENT" }, { EACCES, "Errno::EACCES" },
		{ EPERM, "Errno::EPERM" }, { ENOEXEC, "Errno::ENOEXEC" },
		{ ENOMEM, "Errno::ENOMEM" }, { E2BIG, "Errno::E2BIG" },
		{ ETXTBSY, "Errno::ETXTBSY" }, { EISDIR, "Errno::EISDIR" },
		{ ENOTDIR, "Errno::ENOTDIR" }, { ELOOP, "Errno::ELOOP" },
		{ ENAMETOOLONG, "Errno::ENAMETOOLONG" },
		{ EAGAIN, "Errno::EAGAIN" }, { EMFILE, "Errno::EMFILE" },
		{ ENFILE, "Errno::ENFILE" }, { EINVAL, "Errno::EINVAL" },
		{ EIO, "Errno::EIO" }, { ENOSPC, "Errno::ENOSPC" },
	};
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (tab[i].err == err)
			return tab[i].name;
	return "SystemCallError";
}

static int
fail(struct hooks_result *res, int code, const char *location,
    const char *fmt, ...) AG_PRINTF(4, 5);

static int
fail(struct hooks_result *res, int code, const char *location,
    const char *fmt, ...)
{
	va_list ap;

	res->error_code = code;
	snprintf(res->script_name, sizeof(res->script_name), "%s", location);
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
	return AG_EHOOK;
}

/* argv for the script per the table in hooks.h; run_as says who to drop to. */
static int
build_argv(struct strv *argv, const char **run_as,
    const struct appspec_script *sc, const char *path)
{
	*run_as = sc->runas;
	if (sc->sudo && !plat_is_privileged()) {
		*run_as = NULL;
		if (strv_push(argv, "sudo") != 0)
			return AG_ENOMEM;
		if (sc->runas != NULL && (strv_push(argv, "-u") != 0 ||
		    strv_push(argv, sc->runas) != 0))
			return AG_ENOMEM;
	}
	return strv_push(argv, path);
}

static int
run_script(struct run *r, const struct appspec_script *sc,
    struct hooks_result *res, struct err *e)
{
	const struct hooks_event *ev = r->ev;
	struct plat_proc_opts po;
	struct plat_proc_wait_opts wo;
	struct plat_proc_result pr;
	struct plat_proc *p = NULL;
	struct strv argv = STRV_INIT;
	struct err pe = ERR_INIT;
	const char *run_as = NULL, *loc = sc->location;
	char *path = NULL, as[300] = "";
	int64_t start, deadline;
	struct stat st;
	int rc = 0, perr;
	size_t i;

	if (sc->runas != NULL)
		snprintf(as, sizeof(as), " run as user %s", sc->runas);
	if ((path = util_path_join(ev->archive_dir, loc)) == NULL) {
		rc = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	if (stat(path, &st) != 0) {
		rc = fail(res, HOOKS_SCRIPT_MISSING, loc,
		    "Script does not exist at specified location: %s", path);
		goto out;
	}
	if (access(path, X_OK) != 0) {
		log_warn("Script at specified location: %s is not executable."
		    "  Trying to make it executable.", loc);
		if (chmod(path, (st.st_mode & 07777) | 0111) != 0) {
			log_warn("chmod +x %s: %s", path, strerror(errno));
			rc = fail(res, HOOKS_SCRIPT_EXECUTABILITY, loc,
			    "Unable to set script at specified location: %s "
			    "as executable", loc);
			goto out;
		}
	}
	if (build_argv(&argv, &run_as, sc, path) != 0) {
		rc = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}

	emit(r, "Script - ", loc, strlen(loc));
	if (ev->on_script != NULL)
		ev->on_script(ev->ctx, loc, 0, 0);
	start = plat_clock_ms();
	/* a timeout beyond a year is as good as none (and cannot overflow) */
	deadline = start + (sc->timeout > 0 && sc->timeout < 31536000L ?
	    (int64_t)sc->timeout : 31536000) * 1000;

	po.argv = (const char *const *)argv.v;
	po.envp = ev->envp;
	po.cwd = ev->cwd;
	po.run_as = run_as;
	po.flags = ev->proc_flags;
	if (plat_proc_start(&p, &po, &pe) != 0) {
		perr = errno;
		rc = fail(res, HOOKS_SCRIPT_FAILED, loc, "Script at specified "
		    "location: %s%s failed with error %s with message %s",
		    loc, as, perr != 0 ? errno_class(perr) :
		    pe.code == AG_EINVAL ? "ArgumentError" : "RuntimeError",
		    pe.msg);
		goto done;
	}
	if (ev->on_spawn != NULL)
		ev->on_spawn(ev->ctx, plat_proc_pgid(p), plat_proc_cgroup(p));

	wo.deadline_ms = deadline;
	wo.kill_grace_ms = ev->kill_grace_ms > 0 ? ev->kill_grace_ms : -1;
	wo.drain_ms = ev->drain_ms;
	wo.on_line = on_line;
	wo.ctx = r;
	if (plat_proc_wait(p, &wo, &pr, &pe) != 0) {
		rc = fail(res, HOOKS_SCRIPT_FAILED, loc, "Script at specified "
		    "location: %s%s failed with error RuntimeError with "
		    "message %s", loc, as, pe.msg);
		goto done;
	}
	if (pr.open_streams != 0) {
		struct buf w = BUF_INIT(1024);

		for (i = 0; i < pr.n_holders; i++)
			buf_addf(&w, " %ld", pr.holders[i]);
		log_warn("script %s: %s still open after it exited%s%s", loc,
		    pr.open_streams == (PLAT_PROC_STDOUT | PLAT_PROC_STDERR) ?
		    "STDOUT and STDERR" : pr.open_streams & PLAT_PROC_STDOUT ?
		    "STDOUT" : "STDERR", pr.n_holders ? ", held by pid" : "",
		    buf_cstr(&w));
		buf_release(&w);
	}
	if (pr.timed_out)
		rc = fail(res, HOOKS_SCRIPT_TIMED_OUT, loc, "Script at "
		    "specified location: %s failed to complete in %ld seconds",
		    loc, sc->timeout);
	else if (pr.open_streams != 0 && ev->outputs_left_open_fail)
		rc = fail(res, HOOKS_OUTPUTS_LEFT_OPEN, loc, "Script at "
		    "specified location: %s failed to close %s", loc,
		    pr.open_streams & PLAT_PROC_STDOUT ? "STDOUT" : "STDERR");
	else if (pr.exit_code != 0) {
		if (pr.signo != 0)
			log_warn("script %s killed by signal %d", loc,
			    pr.signo);
		if (pr.exit_code > 0)
			rc = fail(res, HOOKS_SCRIPT_FAILED, loc, "Script at "
			    "specified location: %s%s failed with exit code "
			    "%d", loc, as, pr.exit_code);
		else
			rc = fail(res, HOOKS_SCRIPT_FAILED, loc, "Script at "
			    "specified location: %s%s failed with exit code ",
			    loc, as);
	}
 done:
	if (ev->on_script != NULL)
		ev->on_script(ev->ctx, loc, plat_clock_ms() - start, 1);
 out:
	plat_proc_free(p);
	strv_release(&argv);
	free(path);
	return rc;
}

int
hooks_run_event(const struct hooks_event *ev, struct hooks_result *res,
    struct err *e)
{
	struct run *r = NULL;
	size_t i;
	int rc = 0, fd;

	memset(res, 0, sizeof(*res));
	if (ev->hook == NULL || ev->hook->n_scripts == 0)
		return 0;
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		rc = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	r->ev = ev;
	r->slog = r->dlog = -1;
	hooks_tail_init(&r->tail);
	buf_init(&r->line, PLAT_PROC_LINE_MAX + 4096);
	if ((fd = open_log(ev->scripts_log, e)) < 0) {
		rc = fd;
		goto out;
	}
	r->slog = fd;
	if (ev->deployments_log != NULL) {
		rotate_dlog(ev->deployments_log);
		if ((fd = open_log(ev->deployments_log, e)) < 0) {
			rc = fd;
			goto out;
		}
		r->dlog = fd;
	}

	emit(r, "LifecycleEvent - ", ev->event, strlen(ev->event));
	for (i = 0; i < ev->hook->n_scripts && rc == 0; i++)
		rc = run_script(r, &ev->hook->scripts[i], res, e);
 out:
	if (rc == AG_EHOOK) {
		err_set(e, AG_EHOOK, "%s", res->message);
	} else if (rc != 0) {
		res->error_code = HOOKS_UNKNOWN_ERROR;
		snprintf(res->message, sizeof(res->message), "%s",
		    e != NULL ? e->msg : err_name(rc));
	}
	if (r != NULL) {
		memcpy(res->log, r->tail.data, r->tail.len + 1);
		if (r->slog >= 0)
			close(r->slog);
		if (r->dlog >= 0)
			close(r->dlog);
		buf_release(&r->line);
		free(r);
	}
	return rc;
}

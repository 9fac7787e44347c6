/* log.c: see log.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "banned.h"

/*
 * Logging is process-wide by nature (like syslog): the sink is set once in
 * main() and guarded by one mutex.
 */
static struct {
	pthread_mutex_t mu;
	char name[64];
	enum log_level level;
	int to_stderr;
	int fd;
	char path[4096];
	uint64_t max_bytes, size;
	int keep;
} L = { PTHREAD_MUTEX_INITIALIZER, "cdagent", LOG_INFO, 1, -1, "", 0, 0, 0 };

static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

void
log_setup(const char *program_name, enum log_level level, int to_stderr)
{
	pthread_mutex_lock(&L.mu);
	snprintf(L.name, sizeof(L.name), "%s", program_name);
	L.level = level;
	L.to_stderr = to_stderr;
	pthread_mutex_unlock(&L.mu);
}

static int
open_log_fd(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int
log_open_file(const char *path, uint64_t max_bytes, int keep, struct err *e)
{
	struct stat st;
	int fd;

	if ((fd = open_log_fd(path)) < 0)
		return err_set(e, AG_EIO, "open log %s: %s", path,
		    strerror(errno));
	pthread_mutex_lock(&L.mu);
	if (L.fd >= 0)
		close(L.fd);
	L.fd = fd;
	snprintf(L.path, sizeof(L.path), "%s", path);
	L.max_bytes = max_bytes;
	L.keep = keep;
	L.size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	pthread_mutex_unlock(&L.mu);
	return 0;
}

void
log_close(void)
{
	pthread_mutex_lock(&L.mu);
	if (L.fd >= 0)
		close(L.fd);
	L.fd = -1;
	pthread_mutex_unlock(&L.mu);
}

/* Called with the mutex held. */
static void
rotate(void)
{
	char from[4200], to[4200];
	int i;

	for (i = L.keep - 1; i >= 1; i--) {
		snprintf(from, sizeof(from), "%s.%d", L.path, i);
		snprintf(to, sizeof(to), "%s.%d", L.path, i + 1);
		rename(from, to);
	}
	if (L.keep >= 1) {
		snprintf(to, sizeof(to), "%s.1", L.path);
		rename(L.path, to);
	} else {
		unlink(L.path);
	}
	close(L.fd);
	L.fd = open_log_fd(L.path);
	L.size = 0;
}

static void
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

void
log_msg(enum log_level lvl, const char *func, const char *fmt, ...)
{
	char line[8192], ts[32];
	struct tm tm;
	time_t now;
	va_list ap;
	int n, m;

	if (lvl > L.level)
		return;
	now = time(NULL);
	localtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s %-5s [%s(%ld)]: ", ts,
	    level_names[lvl], L.name, (long)getpid());
	if (n < 0)
		return;
	if (L.level >= LOG_DEBUG && func != NULL)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%s: ", func);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	line[n] = '\0';

	pthread_mutex_lock(&L.mu);
	if (L.to_stderr)
		write_all(2, line, (size_t)n);
	if (L.fd >= 0) {
		if (L.max_bytes > 0 && L.size + (uint64_t)n > L.max_bytes)
			rotate();
		if (L.fd >= 0) {
			write_all(L.fd, line, (size_t)n);
			L.size += (uint64_t)n;
		}
	}
	pthread_mutex_unlock(&L.mu);
}

/* linux/fs.c: files, clocks, terminals; see platform.h. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "platform.h"
#include "banned.h"

const char *
plat_os_name(void)
{
	return "linux";
}

int64_t
plat_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
plat_time_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
plat_sleep_until(int64_t deadline_ms, volatile const int *stop)
{
	struct timespec ts;
	int64_t left;

	while ((stop == NULL || !*stop) &&
	    (left = deadline_ms - plat_clock_ms()) > 0) {
		if (left > 100)
			left = 100;	/* stay responsive to *stop */
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000L;
		nanosleep(&ts, NULL);
	}
}

int
plat_isatty(int fd)
{
	return isatty(fd);
}

static int
fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, r;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -1;
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

int
plat_fs_write_atomic(const char *path, const void *data, size_t len,
    unsigned mode, struct err *e)
{
	char tmp[PATH_MAX];
	const char *p = data;
	int fd = -1, r = 0;
	ssize_t w;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >=
	    (int)sizeof(tmp))
		return err_set(e, AG_EINVAL, "path too long: %s", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return err_set(e, AG_EIO, "create %s: %s", tmp,
		    strerror(errno));
	while (len > 0) {
		w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = err_set(e, AG_EIO, "write %s: %s", tmp,
			    strerror(errno));
			goto out;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fchmod(fd, (mode_t)mode) != 0 || fsync(fd) != 0) {
		r = err_set(e, AG_EIO, "sync %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		r = err_set(e, AG_EIO, "close %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		r = err_set(e, AG_EIO, "rename %s to %s: %s", tmp, path,
		    strerror(errno));
		goto out;
	}
	fsync_dir_of(path);
	return 0;
 out:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}

int
plat_fs_mkdir_p(const char *path, unsigned mode, struct err *e)
{
	char p[PATH_MAX];
	struct stat st;
	size_t i, n;

	n = strlen(path);
	if (n == 0 || n >= sizeof(p))
		return err_set(e, AG_EINVAL, "bad directory path '%s'", path);
	memcpy(p, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST)
			return err_set(e, AG_EIO, "mkdir %s: %s", p,
			    strerror(errno));
		if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
			return err_set(e, AG_EIO, "mkdir %s: %s", p,
			    "exists and is not a directory");
		if (i < n)
			p[i] = '/';
	}
	return 0;
}

/* Remove everything inside the directory open at dfd; closes dfd. */
static int
rm_contents(int dfd, const char *path, struct err *e)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int r = 0, cfd;

	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return err_set(e, AG_EIO, "open %s: %s", path,
		    strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			cfd = openat(dirfd(d), de->d_name, O_RDONLY |
			    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0) {
				r = err_set(e, AG_EIO, "open %s/%s: %s", path,
				    de->d_name, strerror(errno));
				break;
			}
			if ((r = rm_contents(cfd, de->d_name, e)) != 0)
				break;
			if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) != 0) {
				r = err_set(e, AG_EIO, "rmdir %s/%s: %s", path,
				    de->d_name, strerror(errno));
				break;
			}
		} else if (unlinkat(dirfd(d), de->d_name, 0) != 0 &&
		    errno != ENOENT) {
			r = err_set(e, AG_EIO, "unlink %s/%s: %s", path,
			    de->d_name, strerror(errno));
			break;
		}
	}
	closedir(d);
	return r;
}

int
plat_fs_rm_rf(const char *path, struct err *e)
{
	struct stat st;
	int fd, r;

	if (path == NULL || path[0] == '\0' || strcmp(path, "/") == 0)
		return err_set(e, AG_EINVAL, "refusing to remove '%s'",
		    path ? path : "(null)");
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(e, AG_EIO, "stat %s: %s", path,
		    strerror(errno));
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) != 0 && errno != ENOENT)
			return err_set(e, AG_EIO, "unlink %s: %s", path,
			    strerror(errno));
		return 0;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, AG_EIO, "open %s: %s", path,
		    strerror(errno));
	if ((r = rm_contents(fd, path, e)) != 0)
		return r;
	if (rmdir(path) != 0 && errno != ENOENT)
		return err_set(e, AG_EIO, "rmdir %s: %s", path,
		    strerror(errno));
	return 0;
}

int
plat_fs_free_space(const char *path, uint64_t *out, struct err *e)
{
	struct statvfs sv;

	if (statvfs(path, &sv) != 0)
		return err_set(e, AG_EIO, "statvfs %s: %s", path,
		    strerror(errno));
	*out = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	return 0;
}

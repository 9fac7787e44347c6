/* linux/fs.c: files, clocks, terminals; see platform.h. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/sendfile.h>
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

/* Copy the bytes of in to out: copy_file_range, then sendfile, then read. */
static int
copy_fd(int in, int out, const char *src, struct err *e)
{
	char chunk[65536];
	ssize_t n, w;
	off_t off;
	int stage = 0;

	for (;;) {
		if (stage == 0) {
			n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
			if (n < 0 && (errno == EXDEV || errno == EINVAL ||
			    errno == ENOSYS || errno == EOPNOTSUPP)) {
				stage = 1;
				continue;
			}
		} else if (stage == 1) {
			off = lseek(in, 0, SEEK_CUR);
			n = sendfile(out, in, NULL, 1 << 30);
			if (n < 0 && (errno == EINVAL || errno == ENOSYS)) {
				if (off >= 0)
					lseek(in, off, SEEK_SET);
				stage = 2;
				continue;
			}
		} else {
			n = read(in, chunk, sizeof(chunk));
			if (n > 0) {
				char *p = chunk;
				ssize_t left = n;

				while (left > 0) {
					w = write(out, p, (size_t)left);
					if (w < 0 && errno == EINTR)
						continue;
					if (w < 0)
						return err_set(e, AG_EIO,
						    "copy %s: %s", src,
						    strerror(errno));
					p += w;
					left -= w;
				}
			}
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(e, AG_EIO, "copy %s: %s", src,
			    errno == ENOSPC ? "No space left on device" :
			    strerror(errno));
		if (n == 0)
			return 0;
	}
}

int
plat_fs_copy_file(const char *src, const char *dst, struct err *e)
{
	struct timespec ts[2];
	struct stat st;
	int in = -1, out = -1, r;

	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
		return err_set(e, AG_EIO, "open %s: %s", src, strerror(errno));
	if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
		r = err_set(e, AG_EINVAL, "copy %s: not a regular file", src);
		goto out;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (out < 0) {
		r = err_set(e, AG_EIO, "create %s: %s", dst, strerror(errno));
		goto out;
	}
	if ((r = copy_fd(in, out, src, e)) != 0)
		goto out;
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	if (fchmod(out, st.st_mode & 07777) != 0 ||
	    futimens(out, ts) != 0) {
		r = err_set(e, AG_EIO, "set mode/times of %s: %s", dst,
		    strerror(errno));
		goto out;
	}
	r = 0;
 out:
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) != 0 && r == 0)
		r = err_set(e, AG_EIO, "close %s: %s", dst, strerror(errno));
	return r;
}

/* Deeper than this, a bundle is refused rather than the stack risked. */
#define COPY_TREE_MAX_DEPTH 256

static int
copy_tree(const char *src, const char *dst, int depth, struct err *e)
{
	char *s = NULL, *d, *target;
	struct timespec ts[2];
	struct dirent *de;
	struct stat st;
	DIR *dir = NULL;
	ssize_t n;
	int r = 0;

	if (depth > COPY_TREE_MAX_DEPTH)
		return err_set(e, AG_EINVAL, "copy %s: more than %d directory "
		    "levels", src, COPY_TREE_MAX_DEPTH);
	if (lstat(src, &st) != 0)
		return err_set(e, AG_EIO, "stat %s: %s", src, strerror(errno));
	if (S_ISREG(st.st_mode))
		return plat_fs_copy_file(src, dst, e);
	if (!S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode))
		return err_set(e, AG_EINVAL, "copy %s: not a file, directory "
		    "or symbolic link", src);
	/* on the heap: three PATH_MAX buffers a level would eat a stack */
	if ((s = malloc(3 * (size_t)PATH_MAX)) == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	d = s + PATH_MAX;
	target = d + PATH_MAX;
	if (S_ISLNK(st.st_mode)) {
		if ((n = readlink(src, target, PATH_MAX - 1)) < 0) {
			r = err_set(e, AG_EIO, "readlink %s: %s", src,
			    strerror(errno));
			goto out;
		}
		target[n] = '\0';
		if (symlink(target, dst) != 0)
			r = err_set(e, AG_EIO, "symlink %s: %s", dst,
			    strerror(errno));
		goto out;
	}
	if (mkdir(dst, 0700) != 0 && errno != EEXIST) {
		r = err_set(e, AG_EIO, "mkdir %s: %s", dst, strerror(errno));
		goto out;
	}
	if ((dir = opendir(src)) == NULL) {
		r = err_set(e, AG_EIO, "open %s: %s", src, strerror(errno));
		goto out;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(s, PATH_MAX, "%s/%s", src, de->d_name) >=
		    PATH_MAX || snprintf(d, PATH_MAX, "%s/%s", dst,
		    de->d_name) >= PATH_MAX) {
			r = err_set(e, AG_EINVAL, "path too long under %s",
			    src);
			goto out;
		}
		if ((r = copy_tree(s, d, depth + 1, e)) != 0)
			goto out;
	}
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	if (chmod(dst, st.st_mode & 07777) != 0 ||
	    utimensat(AT_FDCWD, dst, ts, AT_SYMLINK_NOFOLLOW) != 0)
		r = err_set(e, AG_EIO, "set mode/times of %s: %s", dst,
		    strerror(errno));
 out:
	if (dir != NULL)
		closedir(dir);
	free(s);
	return r;
}

int
plat_fs_copy_tree(const char *src, const char *dst, struct err *e)
{
	return copy_tree(src, dst, 0, e);
}

int
plat_fs_lock(const char *path, int *fd_out, struct err *e)
{
	int fd;

	*fd_out = -1;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
		return err_set(e, AG_EIO, "open %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int busy = errno == EWOULDBLOCK;

		close(fd);
		return err_set(e, AG_EIO, "lock %s: %s", path, busy ?
		    "busy: another agent is running" : strerror(errno));
	}
	*fd_out = fd;
	return 0;
}

void
plat_fs_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

/*
 * unpack.c: bundle -> archive directory; see unpack.h.
 *
 * libarchive only reads. Every write is ours, relative to a descriptor of
 * the archive root: each directory on an entry's path is opened with
 * O_DIRECTORY | O_NOFOLLOW, and the last component is created with O_EXCL
 * (files), mkdirat, symlinkat or linkat, none of which follow a link. The
 * checks on names and link targets are therefore a first line that gives
 * good messages; the descriptors are what makes escaping impossible.
 *
 * Speed. Archives list many files per directory, so the descriptor of the
 * last parent directory is kept (struct dcache) and a regular file in the
 * same directory costs openat, write, futimens and close. The cache is
 * dropped after every entry that is not a new regular file (directories,
 * links, and anything that replaced an older entry): only those can change
 * what a name on the cached path refers to; a new file only adds a name.
 * Every walk that does happen is the O_NOFOLLOW walk from the root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "buf.h"
#include "err.h"
#include "platform.h"
#include "unpack.h"
#include "banned.h"

#define UNPACK_BLOCK	(64 * 1024)
#define FIXUP_MAX	((size_t)64 << 20)
#define PROGRESS_MS	100

/* A directory whose mode and time are applied after the last entry. */
struct fixup {
	uint32_t mode, depth;
	int has_time;
	int64_t sec, nsec;
	/* followed by the NUL-terminated relative path */
};

struct fixref {
	size_t off;
	uint32_t depth;
};

/* The open parent directory of the last entry; see "Speed" above. */
struct dcache {
	int fd;				/* -1: empty */
	size_t len;			/* path[0..len) is the directory */
	char path[PATH_MAX];
	struct stat st;			/* for the owner shortcut */
};

struct unpack {
	struct archive *ar;
	const struct unpack_opts *o;
	const char *root;		/* archive_dir, for messages */
	int rootfd;
	char ename[256];		/* printable entry name, for messages */
	char path[PATH_MAX];		/* normalised entry path */
	char lpath[PATH_MAX];		/* normalised hard link target */
	uint32_t depth;			/* components in path */
	uint64_t total;			/* bytes counted against the cap */
	struct unpack_stats st;
	int64_t last_progress;
	struct buf fix;			/* struct fixup records */
	size_t nfix;
	char up_link[256];		/* a link that needs the top directory */
	struct dcache dc;
	struct stat rootst;
	int replaced;			/* the entry removed an older one */
	mode_t umask;			/* 0777 when it could not be read */
	uid_t euid;
	gid_t egid;
};

static int
bad(struct unpack *u, struct err *e, const char *fmt, ...) AG_PRINTF(3, 4);

static int
bad(struct unpack *u, struct err *e, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return err_set(e, AG_EINVAL, "bundle entry '%s': %s", u->ename, why);
}

/* A local file system error on root/rel; ENOSPC gets the Ruby text. */
static int
sys_err(struct unpack *u, struct err *e, const char *op, const char *rel)
{
	int saved = errno;

	if (saved == ENOSPC || saved == EDQUOT)
		return err_set(e, AG_EIO,
		    "The disk is (or was) full during extraction.");
	return err_set(e, AG_EIO, "%s %s/%s: %s", op, u->root, rel,
	    strerror(saved));
}

static int
arch_err(struct unpack *u, struct err *e)
{
	const char *msg = archive_error_string(u->ar);

	if (msg == NULL)
		msg = "unknown libarchive error";
	/* EIO while reading the bundle is the disk's fault, not the bundle's */
	if (archive_errno(u->ar) == EIO)
		return err_set(e, AG_EIO, "read bundle: %s", msg);
	if (u->ename[0] != '\0')
		return bad(u, e, "%s", msg);
	return err_set(e, AG_EINVAL, "bundle: %s", msg);
}

/* Copy a raw entry name for messages: bounded, control bytes as '?'. */
static void
set_ename(struct unpack *u, const char *raw)
{
	size_t i;

	for (i = 0; raw[i] != '\0' && i < sizeof(u->ename) - 1; i++)
		u->ename[i] = (unsigned char)raw[i] < 0x20 ||
		    raw[i] == 0x7f ? '?' : raw[i];
	u->ename[i] = '\0';
}

/*
 * raw -> "a/b/c" without ".", empty components or a trailing '/'. Returns
 * NULL or why the name is refused. *depth is the number of components.
 */
static const char *
norm_path(const char *raw, char *out, size_t outsz, uint32_t *depth)
{
	const char *p = raw, *q;
	size_t len = 0, n;

	*depth = 0;
	if (raw[0] == '/')
		return "absolute path";
	while (*p != '\0') {
		for (q = p; *q != '\0' && *q != '/'; q++)
			;
		n = (size_t)(q - p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return "path escapes the archive root";
		if (n > NAME_MAX)
			return "name too long";
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (len + n + 2 > outsz)
				return "path too long";
			if (len > 0)
				out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
			(*depth)++;
		}
		p = *q == '/' ? q + 1 : q;
	}
	out[len] = '\0';
	return NULL;
}

/*
 * Open the directory that holds the last component of path (normalised),
 * creating missing directories 0755 when create is set. *dirfd is
 * u->rootfd or a descriptor the caller closes; *base points into path.
 */
static int
open_parent(struct unpack *u, const char *path, int create, int *dirfd,
    const char **base, struct err *e)
{
	char comp[NAME_MAX + 1];
	const char *p = path, *q;
	int fd = u->rootfd, nfd, r = 0;

	for (;;) {
		q = strchr(p, '/');
		if (q == NULL)
			break;
		memcpy(comp, p, (size_t)(q - p));
		comp[q - p] = '\0';
		nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, comp, 0755) != 0 && errno != EEXIST) {
				r = sys_err(u, e, "mkdir", path);
				goto out;
			}
			nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
		}
		if (nfd < 0) {
			if (errno == ELOOP || errno == ENOTDIR)
				r = bad(u, e, "path goes through a symbolic "
				    "link or a file ('%.*s')",
				    (int)(q - path), path);
			else if (errno == ENOENT)
				r = bad(u, e, "'%.*s' is not in the archive",
				    (int)(q - path), path);
			else
				r = sys_err(u, e, "open", path);
			goto out;
		}
		if (fd != u->rootfd)
			close(fd);
		fd = nfd;
		p = q + 1;
	}
	*dirfd = fd;
	*base = p;
	return 0;
 out:
	if (fd != u->rootfd)
		close(fd);
	return r;
}

static void
dcache_drop(struct unpack *u)
{
	if (u->dc.fd >= 0)
		close(u->dc.fd);
	u->dc.fd = -1;
	u->dc.len = 0;
}

/*
 * open_parent through the cache: *dirfd is borrowed (u->rootfd or the
 * cached descriptor), *dst describes it. Only an exact match of the parent
 * path is a hit ("a" is not "ab", nor "a/b").
 */
static int
parent_cached(struct unpack *u, const char *path, int *dirfd,
    const char **base, const struct stat **dst, struct err *e)
{
	const char *slash = strrchr(path, '/');
	size_t len;
	int fd, r;

	if (slash == NULL) {
		*dirfd = u->rootfd;
		*base = path;
		*dst = &u->rootst;
		return 0;
	}
	len = (size_t)(slash - path);
	if (u->dc.fd < 0 || u->dc.len != len ||
	    memcmp(u->dc.path, path, len) != 0) {
		dcache_drop(u);
		if ((r = open_parent(u, path, 1, &fd, base, e)) != 0)
			return r;
		if (fstat(fd, &u->dc.st) != 0) {
			r = sys_err(u, e, "stat", path);
			close(fd);
			return r;
		}
		u->dc.fd = fd;
		u->dc.len = len;
		memcpy(u->dc.path, path, len);
	}
	*dirfd = u->dc.fd;
	*base = slash + 1;
	*dst = &u->dc.st;
	return 0;
}

/*
 * The umask, without changing it (umask(2) would, for a moment, for every
 * thread). 0777 when unknown: then every file is chmodded, as before.
 * "Umask:" is the second line, after a Name of at most 15 escaped bytes;
 * the buffer is small because this runs on a job thread's stack.
 */
static mode_t
read_umask(void)
{
	char b[512], *p;
	mode_t m = 0777;
	ssize_t n;
	size_t len = 0;
	int fd;

	if ((fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) < 0)
		return m;
	while (len < sizeof(b) - 1 &&
	    (n = read(fd, b + len, sizeof(b) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	b[len] = '\0';
	if ((p = strstr(b, "\nUmask:")) != NULL) {
		char *end;
		unsigned long v;

		p += sizeof("\nUmask:") - 1;
		while (*p == ' ' || *p == '\t')
			p++;
		errno = 0;
		v = strtoul(p, &end, 8);
		if (errno == 0 && end != p && *end == '\n' && v <= 0777)
			m = (mode_t)v;
	}
	return m;
}

/* Make room for a new entry named base: an older entry of that name goes. */
static int
remove_old(struct unpack *u, int dirfd, const char *base, struct err *e)
{
	struct stat st;

	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return 0;
		return sys_err(u, e, "stat", u->path);
	}
	if (S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, base, AT_REMOVEDIR) == 0) {
			u->replaced = 1;
			return 0;
		}
		if (errno == ENOTEMPTY || errno == EEXIST)
			return bad(u, e, "replaces a non-empty directory");
		return sys_err(u, e, "rmdir", u->path);
	}
	if (unlinkat(dirfd, base, 0) != 0)
		return sys_err(u, e, "unlink", u->path);
	u->replaced = 1;
	return 0;
}

static void
progress(struct unpack *u, int force)
{
	int64_t now;

	if (u->o->progress == NULL)
		return;
	now = plat_clock_ms();
	if (!force && now - u->last_progress < PROGRESS_MS)
		return;
	u->last_progress = now;
	u->o->progress(u->o->ctx, u->st.bytes, u->st.files);
}

/* Count n more bytes against the cap. */
static int
charge(struct unpack *u, uint64_t n, struct err *e)
{
	uint64_t cap = u->o->max_total_size;

	if (cap != 0 && (n > cap || u->total > cap - n))
		return bad(u, e, "bundle expands past the size limit of %llu "
		    "bytes", (unsigned long long)cap);
	u->total += n;
	return 0;
}

static void
entry_times(struct archive_entry *ent, struct timespec ts[2])
{
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	if (archive_entry_mtime_is_set(ent)) {
		ts[1].tv_sec = (time_t)archive_entry_mtime(ent);
		ts[1].tv_nsec = archive_entry_mtime_nsec(ent);
	} else {
		ts[1].tv_sec = 0;
		ts[1].tv_nsec = UTIME_OMIT;
	}
}

static int
chown_ok(struct archive_entry *ent, uid_t *uid, gid_t *gid)
{
	int64_t a = archive_entry_uid(ent), b = archive_entry_gid(ent);

	if (a < 0 || b < 0 || a >= (int64_t)UINT32_MAX ||
	    b >= (int64_t)UINT32_MAX)
		return 0;
	*uid = (uid_t)a;
	*gid = (gid_t)b;
	return 1;
}

static int
do_dir(struct unpack *u, struct archive_entry *ent, int dirfd,
    const char *base, struct err *e)
{
	struct fixup fx;
	struct stat st;
	uid_t uid;
	gid_t gid;
	int r;

	if (mkdirat(dirfd, base, 0700) != 0) {
		if (errno != EEXIST)
			return sys_err(u, e, "mkdir", u->path);
		if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0)
			return sys_err(u, e, "stat", u->path);
		if (!S_ISDIR(st.st_mode)) {
			if ((r = remove_old(u, dirfd, base, e)) != 0)
				return r;
			if (mkdirat(dirfd, base, 0700) != 0)
				return sys_err(u, e, "mkdir", u->path);
		}
	}
	if (u->o->keep_owner && chown_ok(ent, &uid, &gid) &&
	    fchownat(dirfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
		return sys_err(u, e, "chown", u->path);

	memset(&fx, 0, sizeof(fx));
	/* setuid/setgid on a directory: dropped, see unpack.h */
	fx.mode = (uint32_t)archive_entry_perm(ent) & 07777;
	if (!u->o->allow_setuid)
		fx.mode &= ~(uint32_t)06000;
	fx.depth = u->depth;
	fx.has_time = archive_entry_mtime_is_set(ent);
	fx.sec = archive_entry_mtime(ent);
	fx.nsec = archive_entry_mtime_nsec(ent);
	if ((r = buf_add(&u->fix, &fx, sizeof(fx))) != 0 ||
	    (r = buf_add(&u->fix, u->path, strlen(u->path) + 1)) != 0) {
		if (r == AG_ENOMEM)
			return err_set(e, r, "out of memory");
		return err_set(e, AG_EINVAL, "bundle has too many directories");
	}
	u->nfix++;
	u->st.dirs++;
	return 0;
}

static int
write_all(struct unpack *u, int fd, const char *p, size_t n, int64_t off,
    struct err *e)
{
	ssize_t w;

	while (n > 0) {
		w = pwrite(fd, p, n, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return sys_err(u, e, "write", u->path);
		}
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

/*
 * Whether the new file, owned by our euid and by egid or the directory's
 * group, needs fchown to get uid:gid. A setgid directory, or a file system
 * mounted "grpid", gives the directory's group: then only a directory
 * whose group is egid and that is not setgid is a sure thing.
 */
static int
need_chown(const struct unpack *u, const struct stat *dst, uid_t uid,
    gid_t gid)
{
	return uid != u->euid || gid != u->egid ||
	    (dst->st_mode & S_ISGID) != 0 || dst->st_gid != u->egid;
}

static int
do_file(struct unpack *u, struct archive_entry *ent, int dirfd,
    const char *base, const struct stat *dst, struct err *e)
{
	uint64_t cap = u->o->max_total_size;
	struct timespec ts[2];
	const void *blk;
	size_t len;
	int64_t off, end = 0, size;
	mode_t mode = archive_entry_perm(ent) & 07777;
	uid_t uid;
	gid_t gid;
	int fd = -1, r, ar;

	/* a header that admits the bomb is refused before any write */
	size = archive_entry_size_is_set(ent) ? archive_entry_size(ent) : 0;
	if (cap != 0 && size > 0 &&
	    ((uint64_t)size > cap || u->total > cap - (uint64_t)size))
		return charge(u, (uint64_t)size, e);
	/*
	 * Created with the final permission bits (never setuid/setgid/sticky:
	 * see below), so that fchmod is needed only when the umask took some.
	 * O_EXCL refuses any existing name, a link included: only then is
	 * the older entry removed, and the open tried once more.
	 */
	fd = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode & 0777);
	if (fd < 0 && errno == EEXIST) {
		if ((r = remove_old(u, dirfd, base, e)) != 0)
			return r;
		fd = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, mode & 0777);
	}
	if (fd < 0)
		return sys_err(u, e, "open", u->path);

	for (;;) {
		ar = archive_read_data_block(u->ar, &blk, &len, &off);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
			r = arch_err(u, e);
			goto out;
		}
		if (off < 0) {
			r = bad(u, e, "negative data offset");
			goto out;
		}
		/* holes count too: a copy of the file would fill them */
		if (off + (int64_t)len > end) {
			if ((r = charge(u, (uint64_t)(off + (int64_t)len -
			    end), e)) != 0)
				goto out;
			end = off + (int64_t)len;
		}
		if ((r = write_all(u, fd, blk, len, off, e)) != 0)
			goto out;
		u->st.bytes += len;
		progress(u, 0);
	}
	/* a sparse file may end in a hole that no block covers */
	if (archive_entry_sparse_count(ent) > 0 && size > end) {
		if ((r = charge(u, (uint64_t)(size - end), e)) != 0)
			goto out;
		if (ftruncate(fd, (off_t)size) != 0) {
			r = sys_err(u, e, "truncate", u->path);
			goto out;
		}
	}
	/*
	 * chown first: it clears setuid/setgid, which fchmod then sets (and
	 * so does a write without CAP_FSETID: the bits are only set here,
	 * after the data, as they always were).
	 */
	if (u->o->keep_owner && chown_ok(ent, &uid, &gid) &&
	    need_chown(u, dst, uid, gid) && fchown(fd, uid, gid) != 0) {
		r = sys_err(u, e, "chown", u->path);
		goto out;
	}
	if (((mode & 07000) != 0 || (mode & u->umask) != 0) &&
	    fchmod(fd, mode) != 0) {
		r = sys_err(u, e, "chmod", u->path);
		goto out;
	}
	entry_times(ent, ts);
	if (ts[1].tv_nsec != UTIME_OMIT && futimens(fd, ts) != 0) {
		r = sys_err(u, e, "utimes", u->path);
		goto out;
	}
	r = close(fd);
	fd = -1;
	if (r != 0) {
		r = sys_err(u, e, "close", u->path);
		goto out;
	}
	u->st.files++;
 out:
	if (fd >= 0)
		close(fd);
	return r;
}

/*
 * A link at depth u->depth (its directory has depth - 1 components) may
 * climb with leading ".." only, and not above the root. Returns NULL or
 * why the target is refused; notes links that need the top directory.
 */
static const char *
check_target(struct unpack *u, const char *t)
{
	uint32_t up = 0, d = u->depth - 1;
	const char *p = t, *q;
	int named = 0;
	size_t n;

	if (t[0] == '\0')
		return "empty symbolic link target";
	if (t[0] == '/')
		return "symbolic link target is absolute";
	if (strlen(t) >= PATH_MAX)
		return "symbolic link target too long";
	while (*p != '\0') {
		for (q = p; *q != '\0' && *q != '/'; q++)
			;
		n = (size_t)(q - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (named)
				return "symbolic link target has '..' after "
				    "a name";
			if (++up > d)
				return "symbolic link target escapes the "
				    "archive root";
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			named = 1;
		}
		p = *q == '/' ? q + 1 : q;
	}
	/* "top/l -> ../x" is fine unless the strip rule removes "top" */
	if (d >= 1 && up == d && u->up_link[0] == '\0')
		snprintf(u->up_link, sizeof(u->up_link), "%s", u->ename);
	return NULL;
}

static int
do_symlink(struct unpack *u, struct archive_entry *ent, int dirfd,
    const char *base, struct err *e)
{
	const char *t = archive_entry_symlink(ent), *why;
	struct timespec ts[2];
	uid_t uid;
	gid_t gid;
	int r;

	if (t == NULL)
		t = archive_entry_symlink_utf8(ent);
	if (t == NULL)
		return bad(u, e, "symbolic link without a target");
	if ((why = check_target(u, t)) != NULL)
		return bad(u, e, "%s", why);
	if ((r = remove_old(u, dirfd, base, e)) != 0)
		return r;
	if (symlinkat(t, dirfd, base) != 0)
		return sys_err(u, e, "symlink", u->path);
	if (u->o->keep_owner && chown_ok(ent, &uid, &gid) &&
	    fchownat(dirfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
		return sys_err(u, e, "chown", u->path);
	entry_times(ent, ts);
	if (utimensat(dirfd, base, ts, AT_SYMLINK_NOFOLLOW) != 0)
		return sys_err(u, e, "utimes", u->path);
	u->st.links++;
	return 0;
}

static int
do_hardlink(struct unpack *u, const char *raw, int dirfd, const char *base,
    struct err *e)
{
	struct stat sst, dst;
	const char *why, *sbase;
	uint32_t depth;
	int sfd = -1, r;

	if ((why = norm_path(raw, u->lpath, sizeof(u->lpath), &depth)) != NULL)
		return bad(u, e, "hard link target: %s", why);
	if (depth == 0)
		return bad(u, e, "hard link to the archive root");
	if ((r = open_parent(u, u->lpath, 0, &sfd, &sbase, e)) != 0)
		return r;
	if (fstatat(sfd, sbase, &sst, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			r = bad(u, e, "hard link target is not in the archive");
		else
			r = sys_err(u, e, "stat", u->lpath);
		goto out;
	}
	/* a linked symlink would be read from another directory */
	if (!S_ISREG(sst.st_mode)) {
		r = bad(u, e, "hard link target is not a regular file");
		goto out;
	}
	if (fstatat(dirfd, base, &dst, AT_SYMLINK_NOFOLLOW) == 0 &&
	    dst.st_dev == sst.st_dev && dst.st_ino == sst.st_ino)
		goto done;	/* already that file */
	if ((r = remove_old(u, dirfd, base, e)) != 0)
		goto out;
	if (linkat(sfd, sbase, dirfd, base, 0) != 0) {
		r = sys_err(u, e, "link", u->path);
		goto out;
	}
 done:
	u->st.links++;
	r = 0;
 out:
	if (sfd >= 0 && sfd != u->rootfd)
		close(sfd);
	return r;
}

static int
do_entry(struct unpack *u, struct archive_entry *ent, struct err *e)
{
	const char *raw, *why, *base, *hl;
	const struct stat *dst = NULL;
	mode_t type = archive_entry_filetype(ent);
	int dirfd = -1, r;

	if ((raw = archive_entry_pathname(ent)) == NULL &&
	    (raw = archive_entry_pathname_utf8(ent)) == NULL)
		return err_set(e, AG_EINVAL, "bundle entry without a name");
	set_ename(u, raw);
	if ((why = norm_path(raw, u->path, sizeof(u->path), &u->depth)))
		return bad(u, e, "%s", why);
	hl = archive_entry_hardlink(ent);
	if (hl == NULL)
		hl = archive_entry_hardlink_utf8(ent);
	if (hl == NULL && type != AE_IFREG && type != AE_IFDIR &&
	    type != AE_IFLNK) {
		if (type == AE_IFCHR || type == AE_IFBLK)
			return bad(u, e, "device nodes are not allowed");
		if (type == AE_IFIFO)
			return bad(u, e, "FIFOs are not allowed");
		if (type == AE_IFSOCK)
			return bad(u, e, "sockets are not allowed");
		return bad(u, e, "unsupported entry type 0%o",
		    (unsigned)type);
	}
	if (u->depth == 0) {
		if (hl == NULL && type == AE_IFDIR)
			return 0;	/* "./": the root itself */
		return bad(u, e, "entry names the archive root");
	}
	if (hl == NULL && type == AE_IFREG && !u->o->allow_setuid &&
	    (archive_entry_perm(ent) & 06000) != 0)
		return bad(u, e, "setuid/setgid files are not allowed");

	if ((r = parent_cached(u, u->path, &dirfd, &base, &dst, e)) != 0)
		return r;
	u->replaced = 0;
	if (hl != NULL)
		r = do_hardlink(u, hl, dirfd, base, e);
	else if (type == AE_IFDIR)
		r = do_dir(u, ent, dirfd, base, e);
	else if (type == AE_IFLNK)
		r = do_symlink(u, ent, dirfd, base, e);
	else
		r = do_file(u, ent, dirfd, base, dst, e);
	/* only a new regular file keeps the cache: see the top */
	if (hl != NULL || type != AE_IFREG || u->replaced)
		dcache_drop(u);
	return r;
}

static int
fixcmp(const void *a, const void *b)
{
	const struct fixref *x = a, *y = b;

	/* deepest first, so a parent's mode never blocks its children */
	if (x->depth != y->depth)
		return x->depth > y->depth ? -1 : 1;
	/* then in archive order: a later entry for the same path wins */
	return x->off < y->off ? -1 : x->off > y->off;
}

static int
apply_fixups(struct unpack *u, struct err *e)
{
	struct fixref *refs = NULL;
	struct fixup fx;
	struct timespec ts[2];
	const char *base;
	size_t i, off;
	int dirfd, fd, r = 0;

	if (u->nfix == 0)
		return 0;
	if ((refs = calloc(u->nfix, sizeof(*refs))) == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	for (i = 0, off = 0; i < u->nfix; i++) {
		memcpy(&fx, u->fix.ptr + off, sizeof(fx));
		refs[i].off = off;
		refs[i].depth = fx.depth;
		off += sizeof(fx) + strlen(u->fix.ptr + off + sizeof(fx)) + 1;
	}
	qsort(refs, u->nfix, sizeof(*refs), fixcmp);
	for (i = 0; i < u->nfix; i++) {
		memcpy(&fx, u->fix.ptr + refs[i].off, sizeof(fx));
		/* u->path and ename for messages; it always fits */
		snprintf(u->path, sizeof(u->path), "%s",
		    u->fix.ptr + refs[i].off + sizeof(fx));
		set_ename(u, u->path);
		if ((r = open_parent(u, u->path, 0, &dirfd, &base, e)) != 0)
			goto out;
		fd = openat(dirfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (dirfd != u->rootfd)
			close(dirfd);
		if (fd < 0)
			continue;	/* replaced by a later entry */
		ts[0].tv_sec = 0;
		ts[0].tv_nsec = UTIME_OMIT;
		ts[1].tv_sec = (time_t)fx.sec;
		ts[1].tv_nsec = fx.has_time ? (long)fx.nsec : UTIME_OMIT;
		if (fchmod(fd, (mode_t)fx.mode) != 0 ||
		    futimens(fd, ts) != 0) {
			r = sys_err(u, e, "chmod", u->path);
			close(fd);
			goto out;
		}
		close(fd);
	}
 out:
	free(refs);
	return r;
}

/*
 * Number of entries in the directory dirfd; with exactly one, its name is
 * copied to name. With pat, stops at the first name containing pat (ASCII,
 * any case) and returns 1, or 0.
 */
static int
scan_dir(int dirfd, const char *pat, char *name, size_t namesz,
    long *count)
{
	struct dirent *de;
	DIR *d;
	size_t i, j, plen = pat ? strlen(pat) : 0, n;
	int fd, found = 0, failed;

	*count = 0;
	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while (!found && (errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (++*count == 1 && name != NULL)
			snprintf(name, namesz, "%s", de->d_name);
		n = strlen(de->d_name);
		for (i = 0; pat != NULL && i + plen <= n && !found; i++) {
			for (j = 0; j < plen; j++) {
				char c = de->d_name[i + j];

				if (c >= 'A' && c <= 'Z')
					c = (char)(c - 'A' + 'a');
				if (c != pat[j])
					break;
			}
			found = j == plen;
		}
	}
	failed = !found && errno != 0;
	closedir(d);
	return failed ? -1 : found;
}

/* §12.4: move the single top directory's contents up when it holds an
 * appspec. On error the caller removes both directories. */
static int
strip_top(struct unpack *u, const char *archive_dir, struct err *e)
{
	struct buf tmp = BUF_INIT(PATH_MAX);
	struct buf inner = BUF_INIT(PATH_MAX);
	char name[NAME_MAX + 1];
	struct stat st;
	long n;
	int fd = -1, r;

	if (scan_dir(u->rootfd, NULL, name, sizeof(name), &n) < 0) {
		r = sys_err(u, e, "read", ".");
		goto out;
	}
	r = 0;
	if (n != 1 || fstatat(u->rootfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    !S_ISDIR(st.st_mode))
		goto out;
	fd = openat(u->rootfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0 || scan_dir(fd, "appspec", NULL, 0, &n) != 1)
		goto out;	/* unreadable: no strip, as a failed glob */
	if (u->up_link[0] != '\0') {
		r = err_set(e, AG_EINVAL, "bundle entry '%s': symbolic link "
		    "target leaves the top directory that is stripped",
		    u->up_link);
		goto out;
	}
	if ((r = buf_addf(&tmp, "%s-temp", archive_dir)) != 0 ||
	    (r = buf_addf(&inner, "%s-temp/%s", archive_dir, name)) != 0) {
		r = err_set(e, r, "%s-temp: path too long", archive_dir);
		goto out;
	}
	if ((r = plat_fs_rm_rf(buf_cstr(&tmp), e)) != 0)
		goto out;
	if (rename(archive_dir, buf_cstr(&tmp)) != 0) {
		r = err_set(e, AG_EIO, "rename %s: %s", archive_dir,
		    strerror(errno));
		goto out;
	}
	if (rename(buf_cstr(&inner), archive_dir) != 0) {
		r = err_set(e, AG_EIO, "rename %s: %s", buf_cstr(&inner),
		    strerror(errno));
		goto out;
	}
	r = plat_fs_rm_rf(buf_cstr(&tmp), e);
 out:
	if (fd >= 0)
		close(fd);
	buf_release(&tmp);
	buf_release(&inner);
	return r;
}

/* Create archive_dir, or accept it as an empty real directory. */
static int
open_root(const char *archive_dir, int *fdp, struct err *e)
{
	struct stat st;
	long n;
	int fd, r;

	if (lstat(archive_dir, &st) != 0) {
		if (errno != ENOENT)
			return err_set(e, AG_EIO, "stat %s: %s", archive_dir,
			    strerror(errno));
	} else if (!S_ISDIR(st.st_mode)) {
		return err_set(e, AG_EINVAL, "%s exists and is not a directory",
		    archive_dir);
	}
	if ((r = plat_fs_mkdir_p(archive_dir, 0755, e)) != 0)
		return r;
	fd = open(archive_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, AG_EIO, "open %s: %s", archive_dir,
		    strerror(errno));
	if (scan_dir(fd, NULL, NULL, 0, &n) < 0 || n != 0) {
		close(fd);
		return err_set(e, AG_EINVAL, "%s is not empty", archive_dir);
	}
	*fdp = fd;
	return 0;
}

static int
open_archive(struct archive **out, const char *bundle, struct err *e)
{
	struct archive *ar;
	int fd = -1, r;

	*out = NULL;
	if ((ar = archive_read_new()) == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	/*
	 * Only what we accept (toolchain-2 §3). ARCHIVE_WARN here means an
	 * external program would be forked: refuse that too.
	 */
	if (archive_read_support_format_tar(ar) != ARCHIVE_OK ||
	    archive_read_support_format_zip(ar) != ARCHIVE_OK ||
	    archive_read_support_filter_gzip(ar) != ARCHIVE_OK ||
	    archive_read_support_filter_bzip2(ar) != ARCHIVE_OK ||
	    archive_read_support_filter_xz(ar) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(ar) != ARCHIVE_OK) {
		r = err_set(e, AG_ENOTSUP, "libarchive lacks a format or "
		    "filter: %s", archive_error_string(ar) ?
		    archive_error_string(ar) : "built without it");
		goto out;
	}
	if ((fd = open(bundle, O_RDONLY | O_CLOEXEC)) < 0) {
		r = err_set(e, AG_EIO, "open %s: %s", bundle, strerror(errno));
		goto out;
	}
	/* the format bids happen here, on the first block */
	if (archive_read_open_fd(ar, fd, UNPACK_BLOCK) != ARCHIVE_OK) {
		r = err_set(e, archive_errno(ar) == EIO ? AG_EIO : AG_EINVAL,
		    "bundle is not a valid tar or zip archive: %s",
		    archive_error_string(ar) ? archive_error_string(ar) :
		    "cannot be read");
		goto out;
	}
	/* libarchive does not close an fd it was given: the caller does */
	*out = ar;
	ar = NULL;	/* transferred */
	return fd;
 out:
	if (ar != NULL)
		archive_read_free(ar);
	if (fd >= 0)
		close(fd);
	return r;
}

int
unpack_bundle(const char *bundle, const char *archive_dir,
    const struct unpack_opts *o, struct unpack_stats *st, struct err *e)
{
	static const struct unpack_opts defaults;
	struct unpack u;
	struct archive_entry *ent;
	struct err e2 = ERR_INIT;
	struct buf tmp = BUF_INIT(PATH_MAX + 8);
	int bfd = -1, r, ar, entries = 0;

	memset(&u, 0, sizeof(u));
	u.o = o != NULL ? o : &defaults;
	u.root = archive_dir;
	u.rootfd = -1;
	u.dc.fd = -1;
	buf_init(&u.fix, FIXUP_MAX);
	u.last_progress = plat_clock_ms();
	u.umask = read_umask();
	u.euid = geteuid();
	u.egid = getegid();

	if ((r = open_root(archive_dir, &u.rootfd, e)) != 0)
		return r;	/* not ours to remove */
	if (fstat(u.rootfd, &u.rootst) != 0) {
		r = err_set(e, AG_EIO, "stat %s: %s", archive_dir,
		    strerror(errno));
		goto out;
	}
	if ((r = open_archive(&u.ar, bundle, e)) < 0)
		goto out;
	bfd = r;
	for (;;) {
		u.ename[0] = '\0';
		ar = archive_read_next_header(u.ar, &ent);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
			if (entries == 0)
				r = err_set(e, AG_EINVAL, "bundle is not a "
				    "valid tar or zip archive: %s",
				    archive_error_string(u.ar) ?
				    archive_error_string(u.ar) : "unknown");
			else
				r = arch_err(&u, e);
			goto out;
		}
		entries++;
		if ((r = do_entry(&u, ent, e)) != 0)
			goto out;
	}
	dcache_drop(&u);
	if ((r = apply_fixups(&u, e)) != 0)
		goto out;
	close(u.rootfd);
	u.rootfd = open(archive_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (u.rootfd < 0) {
		r = err_set(e, AG_EIO, "open %s: %s", archive_dir,
		    strerror(errno));
		goto out;
	}
	if ((r = strip_top(&u, archive_dir, e)) != 0)
		goto out;
	progress(&u, 1);
	if (st != NULL)
		*st = u.st;
 out:
	dcache_drop(&u);
	if (u.ar != NULL)
		archive_read_free(u.ar);
	if (bfd >= 0)
		close(bfd);
	if (u.rootfd >= 0)
		close(u.rootfd);
	if (r != 0) {
		/* e keeps the first error; cleanup failures only lose space */
		plat_fs_rm_rf(archive_dir, &e2);
		if (buf_addf(&tmp, "%s-temp", archive_dir) == 0)
			plat_fs_rm_rf(buf_cstr(&tmp), &e2);
	}
	buf_release(&tmp);
	buf_release(&u.fix);
	return r;
}

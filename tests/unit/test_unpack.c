/*
 * Unit tests for unpack.c. Bundles are written at test time with
 * libarchive's write API (every format/filter the agent reads, plus entries
 * no honest tool would produce), into a mkdtemp directory laid out as
 *	<base>/bundle  <base>/root (archive_dir)  <base>/sentinel (empty)
 * A hostile bundle must fail with AG_EINVAL naming the entry, leave no
 * <base>/root, and leave the sentinel empty and <base> otherwise untouched.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>

#include "err.h"
#include "platform.h"
#include "unpack.h"
#include "util.h"

enum { T_FILE, T_DIR, T_SYMLINK, T_HARDLINK, T_CHR, T_FIFO };
enum { F_NONE, F_GZIP, F_BZIP2, F_XZ, F_ZSTD };

struct ent {
	const char *name;
	int type;
	unsigned perm;
	const char *data;	/* contents, or NULL for `zeros` zero bytes */
	size_t zeros;
	const char *target;	/* symlink or hardlink target */
	long long mtime;	/* 0: leave unset */
	long long uid, gid;
};

struct fx {
	char base[64];
	char bundle[PATH_MAX];
	char root[PATH_MAX];
	char sentinel[PATH_MAX];
};

#define T0 1500000000LL

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->base, sizeof(f->base), "/tmp/test_unpack-XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->bundle, sizeof(f->bundle), "%s/bundle.tar", f->base);
	snprintf(f->root, sizeof(f->root), "%s/root", f->base);
	snprintf(f->sentinel, sizeof(f->sentinel), "%s/sentinel", f->base);
	assert_int_equal(mkdir(f->sentinel, 0755), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;

	assert_int_equal(plat_fs_rm_rf(f->base, &e), 0);
	free(f);
	return 0;
}

static void
mkarchive(const char *path, int zip, int filter, const struct ent *es,
    size_t n)
{
	static const char zero[65536];
	struct archive *a = archive_write_new();
	struct archive_entry *ae;
	size_t i, left, k;

	assert_non_null(a);
	if (zip)
		assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
	else
		assert_int_equal(archive_write_set_format_pax_restricted(a),
		    ARCHIVE_OK);
	switch (filter) {
	case F_GZIP:
		assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
		break;
	case F_BZIP2:
		assert_int_equal(archive_write_add_filter_bzip2(a), ARCHIVE_OK);
		break;
	case F_XZ:
		assert_int_equal(archive_write_add_filter_xz(a), ARCHIVE_OK);
		break;
	case F_ZSTD:
		assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
		break;
	}
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (i = 0; i < n; i++) {
		const struct ent *x = &es[i];
		size_t size = x->data ? strlen(x->data) : x->zeros;

		ae = archive_entry_new();
		archive_entry_set_pathname(ae, x->name);
		archive_entry_set_perm(ae, x->perm ? x->perm :
		    x->type == T_DIR ? 0755 : 0644);
		if (x->mtime)
			archive_entry_set_mtime(ae, x->mtime, 0);
		archive_entry_set_uid(ae, x->uid);
		archive_entry_set_gid(ae, x->gid);
		switch (x->type) {
		case T_FILE:
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_size(ae, (la_int64_t)size);
			break;
		case T_DIR:
			archive_entry_set_filetype(ae, AE_IFDIR);
			break;
		case T_SYMLINK:
			archive_entry_set_filetype(ae, AE_IFLNK);
			archive_entry_set_symlink(ae, x->target);
			break;
		case T_HARDLINK:
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_hardlink(ae, x->target);
			break;
		case T_CHR:
			archive_entry_set_filetype(ae, AE_IFCHR);
			archive_entry_set_rdev(ae, makedev(1, 3));
			break;
		case T_FIFO:
			archive_entry_set_filetype(ae, AE_IFIFO);
			break;
		}
		assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
		if (x->type == T_FILE) {
			if (x->data)
				assert_int_equal(archive_write_data(a, x->data,
				    size), (la_ssize_t)size);
			for (left = x->data ? 0 : size; left > 0; left -= k) {
				k = left < sizeof(zero) ? left : sizeof(zero);
				assert_int_equal(archive_write_data(a, zero, k),
				    (la_ssize_t)k);
			}
		}
		archive_entry_free(ae);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

/*
 * Make every size field of a small zip claim `size` uncompressed bytes
 * (local header, data descriptor, central directory): a lying header.
 */
static void
zip_lie(const char *path, uint32_t size)
{
	unsigned char b[65536];
	ssize_t n;
	size_t i;
	int fd;

	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	n = read(fd, b, sizeof(b));
	assert_true(n > 0 && (size_t)n < sizeof(b));
	for (i = 0; i + 28 < (size_t)n; i++) {
		size_t at = 0;

		if (memcmp(b + i, "PK\3\4", 4) == 0)
			at = i + 22;
		else if (memcmp(b + i, "PK\7\10", 4) == 0)
			at = i + 12;
		else if (memcmp(b + i, "PK\1\2", 4) == 0)
			at = i + 24;
		if (at != 0) {
			b[at] = (unsigned char)size;
			b[at + 1] = (unsigned char)(size >> 8);
			b[at + 2] = (unsigned char)(size >> 16);
			b[at + 3] = (unsigned char)(size >> 24);
		}
	}
	assert_int_equal(pwrite(fd, b, (size_t)n, 0), n);
	close(fd);
}

static long
count_entries(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	long n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static char *
slurp(const char *dir, const char *rel)
{
	static char data[4096];
	char p[PATH_MAX * 2];
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, data, sizeof(data) - 1);
	assert_true(n >= 0);
	data[n] = '\0';
	close(fd);
	return data;
}

/* dir/rel, in a static buffer */
static const char *
rel_path(const char *dir, const char *rel)
{
	static char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return p;
}

static void
lstat_rel(const char *dir, const char *rel, struct stat *st)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	assert_int_equal(lstat(p, st), 0);
}

static int
exists_rel(const char *dir, const char *rel)
{
	char p[PATH_MAX * 2];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return lstat(p, &st) == 0;
}

/* The bundle is refused, names `entry`, and nothing is left anywhere. */
static void
expect_refused(struct fx *f, const struct unpack_opts *o, const char *entry,
    const char *why)
{
	struct err e = ERR_INIT;
	char quoted[PATH_MAX + 2];
	int r;

	r = unpack_bundle(f->bundle, f->root, o, NULL, &e);
	if (r != AG_EINVAL)
		fail_msg("expected AG_EINVAL, got %d: %s", r, e.msg);
	snprintf(quoted, sizeof(quoted), "'%s'", entry);
	if (entry[0] && strstr(e.msg, quoted) == NULL)
		fail_msg("message does not name %s: %s", quoted, e.msg);
	if (why && strstr(e.msg, why) == NULL)
		fail_msg("message lacks '%s': %s", why, e.msg);
	assert_false(util_exists(f->root));
	assert_int_equal(count_entries(f->sentinel), 0);
	/* <base> holds the bundle and the sentinel, nothing else */
	assert_int_equal(count_entries(f->base), 2);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- happy paths ------------------------------------------------------- */

static void
test_unpack_tgz(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "./", T_DIR, 0755, 0, 0, 0, 0, 0, 0 },
		{ "d/", T_DIR, 0750, 0, 0, 0, T0, 0, 0 },
		{ "d/e/", T_DIR, 0700, 0, 0, 0, T0 + 1, 0, 0 },
		{ "d/e/f.txt", T_FILE, 0640, "hello\n", 0, 0, T0 + 2, 0, 0 },
		{ "d/run.sh", T_FILE, 0755, "#!/bin/sh\n", 0, 0, T0 + 3, 0, 0 },
		{ "d/link", T_SYMLINK, 0777, 0, 0, "e/f.txt", T0 + 4, 0, 0 },
		{ "d/e/up", T_SYMLINK, 0777, 0, 0, "../run.sh", 0, 0, 0 },
		{ "d/hard", T_HARDLINK, 0640, 0, 0, "d/e/f.txt", 0, 0, 0 },
		{ "implicit/x/y", T_FILE, 0600, "y", 0, 0, 0, 0, 0 },
		{ "ro/", T_DIR, 0555, 0, 0, 0, T0 + 5, 0, 0 },
		{ "ro/file", T_FILE, 0444, "ro", 0, 0, 0, 0, 0 },
		{ "big", T_FILE, 0644, NULL, 300000, 0, 0, 0, 0 },
	};
	struct unpack_stats st;
	struct err e = ERR_INIT;
	struct stat s1, s2;
	char lnk[64];
	char p[PATH_MAX * 2];
	ssize_t n;

	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	assert_int_equal(unpack_bundle(f->bundle, f->root, NULL, &st, &e), 0);
	assert_string_equal(slurp(f->root, "d/e/f.txt"), "hello\n");
	lstat_rel(f->root, "d", &s1);
	assert_true(S_ISDIR(s1.st_mode));
	assert_int_equal(s1.st_mode & 07777, 0750);
	assert_int_equal(s1.st_mtime, T0);
	lstat_rel(f->root, "d/e", &s1);
	assert_int_equal(s1.st_mode & 07777, 0700);
	assert_int_equal(s1.st_mtime, T0 + 1);
	lstat_rel(f->root, "d/e/f.txt", &s1);
	assert_int_equal(s1.st_mode & 07777, 0640);
	assert_int_equal(s1.st_mtime, T0 + 2);
	lstat_rel(f->root, "d/run.sh", &s1);
	assert_int_equal(s1.st_mode & 07777, 0755);
	assert_int_equal(s1.st_mtime, T0 + 3);
	/* symlinks stay symlinks */
	lstat_rel(f->root, "d/link", &s1);
	assert_true(S_ISLNK(s1.st_mode));
	assert_int_equal(s1.st_mtime, T0 + 4);
	snprintf(p, sizeof(p), "%s/d/link", f->root);
	n = readlink(p, lnk, sizeof(lnk) - 1);
	assert_true(n > 0);
	lnk[n] = '\0';
	assert_string_equal(lnk, "e/f.txt");
	assert_string_equal(slurp(f->root, "d/e/up"), "#!/bin/sh\n");
	/* the hard link shares the inode */
	lstat_rel(f->root, "d/hard", &s1);
	lstat_rel(f->root, "d/e/f.txt", &s2);
	assert_int_equal(s1.st_ino, s2.st_ino);
	assert_int_equal(s1.st_nlink, 2);
	assert_string_equal(slurp(f->root, "implicit/x/y"), "y");
	/* a read-only directory was still filled, then made read-only */
	lstat_rel(f->root, "ro", &s1);
	assert_int_equal(s1.st_mode & 07777, 0555);
	assert_int_equal(s1.st_mtime, T0 + 5);
	assert_string_equal(slurp(f->root, "ro/file"), "ro");
	/* plat_fs_rm_rf cannot empty it without root otherwise */
	snprintf(p, sizeof(p), "%s/ro", f->root);
	assert_int_equal(chmod(p, 0755), 0);
	lstat_rel(f->root, "big", &s1);
	assert_int_equal(s1.st_size, 300000);

	assert_int_equal(st.files, 5);
	assert_int_equal(st.dirs, 3);
	assert_int_equal(st.links, 3);
	assert_int_equal(st.bytes, 6 + 10 + 1 + 2 + 300000);
	assert_int_equal(count_entries(f->sentinel), 0);
}

static void
test_unpack_zip(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "app/", T_DIR, 0755, 0, 0, 0, T0, 0, 0 },
		{ "app/a.txt", T_FILE, 0600, "zip data", 0, 0, T0, 0, 0 },
		{ "app/bin/tool", T_FILE, 0755, "#!/bin/sh", 0, 0, 0, 0, 0 },
		{ "app/link", T_SYMLINK, 0777, 0, 0, "a.txt", 0, 0, 0 },
		{ "readme", T_FILE, 0644, "r", 0, 0, 0, 0, 0 },
	};
	struct err e = ERR_INIT;
	struct stat s;
	char lnk[64], p[PATH_MAX * 2];
	ssize_t n;

	mkarchive(f->bundle, 1, F_NONE, es, N(es));
	assert_int_equal(unpack_bundle(f->bundle, f->root, NULL, NULL, &e), 0);
	assert_string_equal(slurp(f->root, "app/a.txt"), "zip data");
	lstat_rel(f->root, "app/a.txt", &s);
	assert_int_equal(s.st_mode & 07777, 0600);
	assert_int_equal(s.st_mtime, T0);
	lstat_rel(f->root, "app/bin/tool", &s);
	assert_int_equal(s.st_mode & 07777, 0755);
	lstat_rel(f->root, "app/link", &s);
	assert_true(S_ISLNK(s.st_mode));
	snprintf(p, sizeof(p), "%s/app/link", f->root);
	n = readlink(p, lnk, sizeof(lnk) - 1);
	assert_true(n > 0);
	lnk[n] = '\0';
	assert_string_equal(lnk, "a.txt");
}

static void
filter_case(struct fx *f, int filter)
{
	const struct ent es[] = {
		{ "x/y.txt", T_FILE, 0644, "compressed", 0, 0, 0, 0, 0 },
		{ "z", T_FILE, 0644, NULL, 100000, 0, 0, 0, 0 },
	};
	struct err e = ERR_INIT;
	struct unpack_stats st;

	mkarchive(f->bundle, 0, filter, es, N(es));
	assert_int_equal(unpack_bundle(f->bundle, f->root, NULL, &st, &e), 0);
	assert_string_equal(slurp(f->root, "x/y.txt"), "compressed");
	assert_int_equal(st.bytes, 10 + 100000);
}

static void
test_unpack_tar(void **state)
{
	filter_case(*state, F_NONE);
}

static void
test_unpack_bz2(void **state)
{
	filter_case(*state, F_BZIP2);
}

static void
test_unpack_xz(void **state)
{
	filter_case(*state, F_XZ);
}

static void
test_unpack_zst(void **state)
{
	filter_case(*state, F_ZSTD);
}

static void
test_unpack_strip(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "owner-repo-abc/", T_DIR, 0755, 0, 0, 0, 0, 0, 0 },
		{ "owner-repo-abc/AppSpec.yml", T_FILE, 0644, "v", 0, 0, 0,
		    0, 0 },
		{ "owner-repo-abc/sub/x", T_FILE, 0644, "x", 0, 0, 0, 0, 0 },
		{ "owner-repo-abc/l", T_SYMLINK, 0777, 0, 0, "sub/x", 0, 0,
		    0 },
	};
	struct err e = ERR_INIT;
	char tmp[PATH_MAX + 8];

	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	assert_int_equal(unpack_bundle(f->bundle, f->root, NULL, NULL, &e), 0);
	assert_string_equal(slurp(f->root, "AppSpec.yml"), "v");
	assert_string_equal(slurp(f->root, "sub/x"), "x");
	assert_string_equal(slurp(f->root, "l"), "x");
	assert_false(exists_rel(f->root, "owner-repo-abc"));
	snprintf(tmp, sizeof(tmp), "%s-temp", f->root);
	assert_false(util_exists(tmp));
}

static void
test_unpack_strip_not_applied(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "top/", T_DIR, 0755, 0, 0, 0, 0, 0, 0 },
		{ "top/readme", T_FILE, 0644, "r", 0, 0, 0, 0, 0 },
		{ "top/sub/appspec.yml", T_FILE, 0644, "deep", 0, 0, 0, 0, 0 },
	};
	const struct ent es2[] = {
		{ "a/appspec.yml", T_FILE, 0644, "v", 0, 0, 0, 0, 0 },
		{ "b", T_FILE, 0644, "b", 0, 0, 0, 0, 0 },
	};
	struct err e = ERR_INIT;

	/* the appspec must be a direct child of the single directory */
	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	assert_int_equal(unpack_bundle(f->bundle, f->root, NULL, NULL, &e), 0);
	assert_string_equal(slurp(f->root, "top/readme"), "r");
	assert_int_equal(count_entries(f->root), 1);
	assert_int_equal(plat_fs_rm_rf(f->root, &e), 0);

	/* two top-level entries: no strip */
	mkarchive(f->bundle, 0, F_GZIP, es2, N(es2));
	assert_int_equal(unpack_bundle(f->bundle, f->root, NULL, NULL, &e), 0);
	assert_string_equal(slurp(f->root, "a/appspec.yml"), "v");
}

static void
test_unpack_strip_link_through_top(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "top/appspec.yml", T_FILE, 0644, "v", 0, 0, 0, 0, 0 },
		{ "top/l", T_SYMLINK, 0777, 0, 0, "../top/appspec.yml", 0, 0,
		    0 },
	};

	/* inside before the strip, outside after it */
	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	expect_refused(f, NULL, "top/l", "stripped");
}

static void
test_unpack_duplicate(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "f", T_FILE, 0644, "first", 0, 0, 0, 0, 0 },
		{ "g", T_HARDLINK, 0644, 0, 0, "f", 0, 0, 0 },
		{ "f", T_FILE, 0600, "second", 0, 0, 0, 0, 0 },
		{ "d", T_FILE, 0644, "file", 0, 0, 0, 0, 0 },
		{ "d/", T_DIR, 0755, 0, 0, 0, 0, 0, 0 },
		{ "d/x", T_FILE, 0644, "x", 0, 0, 0, 0, 0 },
		{ "s", T_SYMLINK, 0777, 0, 0, "f", 0, 0, 0 },
		{ "s", T_FILE, 0644, "not a link", 0, 0, 0, 0, 0 },
		{ "d/", T_DIR, 0700, 0, 0, 0, 0, 0, 0 },
	};
	struct err e = ERR_INIT;
	struct stat s;

	mkarchive(f->bundle, 0, F_NONE, es, N(es));
	assert_int_equal(unpack_bundle(f->bundle, f->root, NULL, NULL, &e), 0);
	assert_string_equal(slurp(f->root, "f"), "second");
	/* the hard link kept the old contents: f was replaced, not written */
	assert_string_equal(slurp(f->root, "g"), "first");
	assert_string_equal(slurp(f->root, "d/x"), "x");
	lstat_rel(f->root, "d", &s);
	assert_int_equal(s.st_mode & 07777, 0700);
	lstat_rel(f->root, "s", &s);
	assert_true(S_ISREG(s.st_mode));
}

static void
test_unpack_setuid_allowed(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "su", T_FILE, 04755, "x", 0, 0, 0, 0, 0 },
		{ "sgdir/", T_DIR, 02775, 0, 0, 0, 0, 0, 0 },
	};
	struct unpack_opts o = { .allow_setuid = 1 };
	struct err e = ERR_INIT;
	struct stat s;

	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	assert_int_equal(unpack_bundle(f->bundle, f->root, &o, NULL, &e), 0);
	lstat_rel(f->root, "su", &s);
	assert_int_equal(s.st_mode & 07777, 04755);
	lstat_rel(f->root, "sgdir", &s);
	assert_int_equal(s.st_mode & 07777, 02775);
}

static void
test_unpack_setgid_dir_dropped(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "sgdir/", T_DIR, 02775, 0, 0, 0, 0, 0, 0 },
	};
	struct err e = ERR_INIT;
	struct stat s;

	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	assert_int_equal(unpack_bundle(f->bundle, f->root, NULL, NULL, &e), 0);
	lstat_rel(f->root, "sgdir", &s);
	assert_int_equal(s.st_mode & 07777, 0775);
}

static void
test_unpack_owner(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "d/", T_DIR, 0755, 0, 0, 0, 0, 1234, 2345 },
		{ "d/f", T_FILE, 0644, "o", 0, 0, 0, 1234, 2345 },
		{ "d/l", T_SYMLINK, 0777, 0, 0, "f", 0, 1234, 2345 },
	};
	struct unpack_opts o = { .keep_owner = 1 };
	struct err e = ERR_INIT;
	struct stat s;

	if (geteuid() != 0) {
		printf("SKIP test_unpack_owner: needs root\n");
		return;
	}
	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	assert_int_equal(unpack_bundle(f->bundle, f->root, NULL, NULL, &e), 0);
	lstat_rel(f->root, "d/f", &s);
	assert_int_equal(s.st_uid, 0);
	assert_int_equal(plat_fs_rm_rf(f->root, &e), 0);

	assert_int_equal(unpack_bundle(f->bundle, f->root, &o, NULL, &e), 0);
	lstat_rel(f->root, "d", &s);
	assert_int_equal(s.st_uid, 1234);
	assert_int_equal(s.st_gid, 2345);
	lstat_rel(f->root, "d/f", &s);
	assert_int_equal(s.st_uid, 1234);
	assert_int_equal(s.st_gid, 2345);
	lstat_rel(f->root, "d/l", &s);
	assert_int_equal(s.st_uid, 1234);
}

static void
on_progress(void *ctx, uint64_t bytes, uint64_t files)
{
	uint64_t *calls = ctx;

	(void)files;
	calls[0]++;
	calls[1] = bytes;
}

static void
test_unpack_progress(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "a", T_FILE, 0644, NULL, 1 << 20, 0, 0, 0, 0 },
	};
	uint64_t calls[2] = { 0, 0 };
	struct unpack_opts o = { .progress = on_progress, .ctx = calls };
	struct err e = ERR_INIT;

	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	assert_int_equal(unpack_bundle(f->bundle, f->root, &o, NULL, &e), 0);
	assert_true(calls[0] >= 1);
	assert_int_equal(calls[1], 1 << 20);
}

static void
test_unpack_root_not_empty(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "a", T_FILE, 0644, "a", 0, 0, 0, 0, 0 },
	};
	struct err e = ERR_INIT;
	char p[PATH_MAX + 8];
	int fd;

	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	assert_int_equal(mkdir(f->root, 0755), 0);
	snprintf(p, sizeof(p), "%s/keep", f->root);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(unpack_bundle(f->bundle, f->root, NULL, NULL, &e),
	    AG_EINVAL);
	assert_non_null(strstr(e.msg, "not empty"));
	/* left alone */
	assert_true(util_exists(p));

	/* an empty existing directory is fine */
	assert_int_equal(unlink(p), 0);
	assert_int_equal(unpack_bundle(f->bundle, f->root, NULL, NULL, &e), 0);
	assert_string_equal(slurp(f->root, "a"), "a");
}

/* ---- hostile bundles ----------------------------------------------------- */

static void
test_unpack_absolute(void **state)
{
	struct fx *f = *state;
	char name[PATH_MAX + 8];
	struct ent es[] = {
		{ "ok", T_FILE, 0644, "ok", 0, 0, 0, 0, 0 },
		{ name, T_FILE, 0644, "evil", 0, 0, 0, 0, 0 },
	};

	snprintf(name, sizeof(name), "%s/evil", f->sentinel);
	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	expect_refused(f, NULL, name, "absolute path");
}

static void
test_unpack_dotdot(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "../sentinel/evil", T_FILE, 0644, "evil", 0, 0, 0, 0, 0 },
	};
	const struct ent es2[] = {
		{ "a/", T_DIR, 0755, 0, 0, 0, 0, 0, 0 },
		{ "a/../../sentinel/evil", T_FILE, 0644, "e", 0, 0, 0, 0, 0 },
	};

	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	expect_refused(f, NULL, "../sentinel/evil",
	    "path escapes the archive root");
	mkarchive(f->bundle, 1, F_NONE, es2, N(es2));
	expect_refused(f, NULL, "a/../../sentinel/evil", "escapes");
}

static void
test_unpack_symlink_escape(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "a/", T_DIR, 0755, 0, 0, 0, 0, 0, 0 },
		{ "a/link", T_SYMLINK, 0777, 0, 0, "../../sentinel", 0, 0, 0 },
		{ "a/link/pwned", T_FILE, 0644, "evil", 0, 0, 0, 0, 0 },
	};
	char abs[PATH_MAX];
	const struct ent es2[] = {
		{ "link", T_SYMLINK, 0777, 0, 0, abs, 0, 0, 0 },
		{ "link/pwned", T_FILE, 0644, "evil", 0, 0, 0, 0, 0 },
	};
	const struct ent es3[] = {
		{ "l1", T_SYMLINK, 0777, 0, 0, ".", 0, 0, 0 },
		{ "l2", T_SYMLINK, 0777, 0, 0, "l1/../sentinel", 0, 0, 0 },
	};

	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	expect_refused(f, NULL, "a/link", "escapes the archive root");
	snprintf(abs, sizeof(abs), "%s", f->sentinel);
	mkarchive(f->bundle, 1, F_NONE, es2, N(es2));
	expect_refused(f, NULL, "link", "absolute");
	/* lexically inside, but l1/.. is the root's parent */
	mkarchive(f->bundle, 0, F_NONE, es3, N(es3));
	expect_refused(f, NULL, "l2", "'..' after a name");
}

static void
test_unpack_write_through_symlink(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "sub/", T_DIR, 0755, 0, 0, 0, 0, 0, 0 },
		{ "inner", T_SYMLINK, 0777, 0, 0, "sub", 0, 0, 0 },
		{ "inner/pwned", T_FILE, 0644, "evil", 0, 0, 0, 0, 0 },
	};

	/* even a link that stays inside is never written through */
	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	expect_refused(f, NULL, "inner/pwned", "symbolic link");
}

static void
test_unpack_hardlink_escape(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "pw", T_HARDLINK, 0644, 0, 0, "/etc/passwd", 0, 0, 0 },
	};
	const struct ent es2[] = {
		{ "x", T_HARDLINK, 0644, 0, 0, "../sentinel/x", 0, 0, 0 },
	};
	const struct ent es3[] = {
		{ "x", T_HARDLINK, 0644, 0, 0, "missing", 0, 0, 0 },
	};
	const struct ent es4[] = {
		{ "s", T_SYMLINK, 0777, 0, 0, "t", 0, 0, 0 },
		{ "d/x", T_HARDLINK, 0644, 0, 0, "s", 0, 0, 0 },
	};

	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	expect_refused(f, NULL, "pw", "absolute");
	mkarchive(f->bundle, 0, F_GZIP, es2, N(es2));
	expect_refused(f, NULL, "x", "escapes");
	mkarchive(f->bundle, 0, F_GZIP, es3, N(es3));
	expect_refused(f, NULL, "x", "not in the archive");
	mkarchive(f->bundle, 0, F_GZIP, es4, N(es4));
	expect_refused(f, NULL, "d/x", "not a regular file");
}

static void
test_unpack_special_files(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "ok", T_FILE, 0644, "ok", 0, 0, 0, 0, 0 },
		{ "dev/null0", T_CHR, 0666, 0, 0, 0, 0, 0, 0 },
	};
	const struct ent es2[] = {
		{ "fifo", T_FIFO, 0644, 0, 0, 0, 0, 0, 0 },
	};

	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	expect_refused(f, NULL, "dev/null0", "device");
	mkarchive(f->bundle, 0, F_GZIP, es2, N(es2));
	expect_refused(f, NULL, "fifo", "FIFO");
}

static void
test_unpack_setuid_refused(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "bin/su", T_FILE, 04755, "x", 0, 0, 0, 0, 0 },
	};
	const struct ent es2[] = {
		{ "bin/sg", T_FILE, 02755, "x", 0, 0, 0, 0, 0 },
	};

	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	expect_refused(f, NULL, "bin/su", "setuid");
	mkarchive(f->bundle, 1, F_NONE, es2, N(es2));
	expect_refused(f, NULL, "bin/sg", "setuid/setgid");
}

static void
test_unpack_bomb(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "zeros", T_FILE, 0644, NULL, 2 << 20, 0, 0, 0, 0 },
	};
	const struct ent es2[] = {
		{ "a", T_FILE, 0644, NULL, 512 << 10, 0, 0, 0, 0 },
		{ "b", T_FILE, 0644, NULL, 512 << 10, 0, 0, 0, 0 },
		{ "c", T_FILE, 0644, "1", 0, 0, 0, 0, 0 },
	};
	struct unpack_opts o = { .max_total_size = 1 << 20 };
	struct err e = ERR_INIT;
	struct stat s;

	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	assert_int_equal(stat(f->bundle, &s), 0);
	assert_true(s.st_size < 65536);
	expect_refused(f, &o, "zeros", "size limit");
	mkarchive(f->bundle, 1, F_NONE, es, N(es));
	expect_refused(f, &o, "zeros", "size limit");
	/* the sum counts, not just each entry */
	mkarchive(f->bundle, 0, F_XZ, es2, N(es2));
	expect_refused(f, &o, "c", "size limit");
	/* a header claiming 100 bytes: the bytes written are what count */
	mkarchive(f->bundle, 1, F_NONE, es, N(es));
	zip_lie(f->bundle, 100);
	expect_refused(f, &o, "zeros", "size limit");
	/* exactly at the cap is fine */
	mkarchive(f->bundle, 0, F_XZ, es2, 2);
	assert_int_equal(unpack_bundle(f->bundle, f->root, &o, NULL, &e), 0);
}

static void
test_unpack_corrupt(void **state)
{
	struct fx *f = *state;
	char data[200000];
	struct ent es[] = {
		{ "a", T_FILE, 0644, "hello", 0, 0, 0, 0, 0 },
		{ "noise", T_FILE, 0644, data, 0, 0, 0, 0, 0 },
		{ "z", T_FILE, 0644, "end", 0, 0, 0, 0, 0 },
	};
	unsigned x = 12345;
	size_t i;
	int fd;

	for (i = 0; i < sizeof(data) - 1; i++) {
		x = x * 1103515245 + 12345;
		data[i] = (char)(1 + (x >> 16) % 255);
	}
	data[sizeof(data) - 1] = '\0';
	/* truncated in the middle of an entry */
	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	assert_int_equal(truncate(f->bundle, 100000), 0);
	expect_refused(f, NULL, "noise", NULL);
	mkarchive(f->bundle, 1, F_NONE, es, N(es));
	assert_int_equal(truncate(f->bundle, 100000), 0);
	expect_refused(f, NULL, "", NULL);
	/* not an archive at all */
	fd = open(f->bundle, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, 4096), 4096);
	close(fd);
	expect_refused(f, NULL, "", "not a valid tar or zip archive");
}

/* ---- the parent directory cache and the syscall shortcuts ---------------- */

static void
test_unpack_dir_cache_alternate(void **state)
{
	struct fx *f = *state;
	/* "a" is a prefix of "ab" and of "a/b": none may be taken for another */
	static const char *const dirs[] = { "a", "ab", "a/b", "", "b/c/d" };
	static char names[300][32], datas[300][16];
	struct ent es[302];
	struct unpack_stats st;
	struct err e = ERR_INIT;
	struct stat s;
	size_t i, n = 0;

	for (i = 0; i < 300; i++) {
		const char *d = dirs[i % N(dirs)];

		snprintf(names[i], sizeof(names[i]), "%s%sf%03zu", d,
		    d[0] ? "/" : "", i);
		snprintf(datas[i], sizeof(datas[i]), "data %zu", i);
		es[n++] = (struct ent){ names[i], T_FILE, i % 2 ? 0600 : 0755,
		    datas[i], 0, 0, T0 + (long long)i, 0, 0 };
		/* a duplicate in the cached directory, then new files */
		if (i == 151)
			es[n++] = (struct ent){ names[151], T_FILE,
			    i % 2 ? 0600 : 0755, "again", 0, 0,
			    T0 + (long long)i, 0, 0 };
		/* a directory entry in the middle drops the cache */
		if (i == 200)
			es[n++] = (struct ent){ "a/b/dir/", T_DIR, 0700, 0, 0,
			    0, 0, 0, 0 };
	}
	assert_true(n <= N(es));
	mkarchive(f->bundle, 0, F_GZIP, es, n);
	assert_int_equal(unpack_bundle(f->bundle, f->root, NULL, &st, &e), 0);
	assert_int_equal(st.files, 301);
	assert_int_equal(st.dirs, 1);
	for (i = 0; i < 300; i++) {
		assert_string_equal(slurp(f->root, names[i]),
		    i == 151 ? "again" : datas[i]);
		lstat_rel(f->root, names[i], &s);
		assert_true(S_ISREG(s.st_mode));
		assert_int_equal(s.st_nlink, 1);
		assert_int_equal(s.st_mode & 07777, i % 2 ? 0600 : 0755);
		assert_int_equal(s.st_mtime, T0 + (long long)i);
	}
	/* 60 files each, plus the subdirectories */
	assert_int_equal(count_entries(f->root), 60 + 3);
	assert_int_equal(count_entries(rel_path(f->root, "a")), 60 + 1);
	assert_int_equal(count_entries(rel_path(f->root, "ab")), 60);
	assert_int_equal(count_entries(rel_path(f->root, "a/b")), 60 + 1);
	assert_int_equal(count_entries(rel_path(f->root, "b/c/d")), 60);
	assert_int_equal(count_entries(f->sentinel), 0);
}

static void
test_unpack_dir_cache_invalidate(void **state)
{
	struct fx *f = *state;
	/* the cached directory "d" made a link: refused by the target check */
	const struct ent es[] = {
		{ "d/a", T_FILE, 0644, "a", 0, 0, 0, 0, 0 },
		{ "d", T_SYMLINK, 0777, 0, 0, "../sentinel", 0, 0, 0 },
		{ "d/b", T_FILE, 0644, "evil", 0, 0, 0, 0, 0 },
	};
	/* ... or by the rule on non-empty directories, with a target inside */
	const struct ent es2[] = {
		{ "e/", T_DIR, 0755, 0, 0, 0, 0, 0, 0 },
		{ "d/a", T_FILE, 0644, "a", 0, 0, 0, 0, 0 },
		{ "d", T_SYMLINK, 0777, 0, 0, "e", 0, 0, 0 },
		{ "d/b", T_FILE, 0644, "evil", 0, 0, 0, 0, 0 },
	};
	/* a link created inside the cached directory, then written through */
	const struct ent es3[] = {
		{ "d/a", T_FILE, 0644, "a", 0, 0, 0, 0, 0 },
		{ "d/l", T_SYMLINK, 0777, 0, 0, "..", 0, 0, 0 },
		{ "d/l/sentinel/b", T_FILE, 0644, "evil", 0, 0, 0, 0, 0 },
	};
	/* an empty directory replaced by a hard link to a file, then used */
	const struct ent es4[] = {
		{ "d/e/", T_DIR, 0755, 0, 0, 0, 0, 0, 0 },
		{ "d/f", T_FILE, 0644, "f", 0, 0, 0, 0, 0 },
		{ "d/e", T_HARDLINK, 0644, 0, 0, "d/f", 0, 0, 0 },
		{ "d/e/x", T_FILE, 0644, "evil", 0, 0, 0, 0, 0 },
	};
	/* ... replaced by a file, the parent being cached all along */
	const struct ent es5[] = {
		{ "d/f", T_FILE, 0644, "f", 0, 0, 0, 0, 0 },
		{ "d/e/", T_DIR, 0755, 0, 0, 0, 0, 0, 0 },
		{ "d/g", T_FILE, 0644, "g", 0, 0, 0, 0, 0 },
		{ "d/e", T_FILE, 0644, "now a file", 0, 0, 0, 0, 0 },
		{ "d/h", T_FILE, 0644, "h", 0, 0, 0, 0, 0 },
		{ "d/e/x", T_FILE, 0644, "evil", 0, 0, 0, 0, 0 },
	};
	/* a link in the cached directory replaced by a file: written to */
	const struct ent es6[] = {
		{ "d/a", T_FILE, 0644, "a", 0, 0, 0, 0, 0 },
		{ "d/s", T_SYMLINK, 0777, 0, 0, "a", 0, 0, 0 },
		{ "d/b", T_FILE, 0644, "b", 0, 0, 0, 0, 0 },
		{ "d/s", T_FILE, 0600, "not a link", 0, 0, 0, 0, 0 },
		{ "d/c", T_FILE, 0644, "c", 0, 0, 0, 0, 0 },
	};
	struct err e = ERR_INIT;
	struct stat s;

	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	expect_refused(f, NULL, "d", "escapes the archive root");
	mkarchive(f->bundle, 0, F_GZIP, es2, N(es2));
	expect_refused(f, NULL, "d", "replaces a non-empty directory");
	mkarchive(f->bundle, 0, F_GZIP, es3, N(es3));
	expect_refused(f, NULL, "d/l/sentinel/b", "symbolic link");
	mkarchive(f->bundle, 0, F_NONE, es4, N(es4));
	expect_refused(f, NULL, "d/e/x", "symbolic link or a file");
	mkarchive(f->bundle, 0, F_NONE, es5, N(es5));
	expect_refused(f, NULL, "d/e/x", "symbolic link or a file");

	mkarchive(f->bundle, 0, F_NONE, es6, N(es6));
	assert_int_equal(unpack_bundle(f->bundle, f->root, NULL, NULL, &e), 0);
	assert_string_equal(slurp(f->root, "d/a"), "a");
	assert_string_equal(slurp(f->root, "d/s"), "not a link");
	assert_string_equal(slurp(f->root, "d/c"), "c");
	lstat_rel(f->root, "d/s", &s);
	assert_true(S_ISREG(s.st_mode));
	assert_int_equal(s.st_mode & 07777, 0600);
	lstat_rel(f->root, "d/a", &s);
	assert_int_equal(s.st_nlink, 1);
}

/* Files are created with their mode: the umask must still not show. */
static void
test_unpack_mode_umask(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "m/777", T_FILE, 0777, "x", 0, 0, 0, 0, 0 },
		{ "m/666", T_FILE, 0666, "x", 0, 0, 0, 0, 0 },
		{ "m/750", T_FILE, 0750, "x", 0, 0, 0, 0, 0 },
		{ "m/400", T_FILE, 0400, "x", 0, 0, 0, 0, 0 },
		{ "m/sticky", T_FILE, 01000, "x", 0, 0, 0, 0, 0 },
		{ "m/su", T_FILE, 06711, "x", 0, 0, 0, 0, 0 },
	};
	static const unsigned want[] = { 0777, 0666, 0750, 0400, 01000, 06711 };
	static const mode_t masks[] = { 022, 077, 0, 0777 };
	struct unpack_opts o = { .allow_setuid = 1 };
	struct err e = ERR_INIT;
	struct stat s;
	mode_t old;
	size_t i, m;

	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	for (m = 0; m < N(masks); m++) {
		old = umask(masks[m]);
		e.code = unpack_bundle(f->bundle, f->root, &o, NULL, &e);
		umask(old);
		if (e.code != 0)
			fail_msg("umask %o: %s", (unsigned)masks[m], e.msg);
		for (i = 0; i < N(es); i++) {
			lstat_rel(f->root, es[i].name, &s);
			if ((s.st_mode & 07777) != want[i])
				fail_msg("umask %o: %s is %o", (unsigned)masks[m],
				    es[i].name, (unsigned)(s.st_mode & 07777));
		}
		assert_int_equal(plat_fs_rm_rf(f->root, &e), 0);
	}
}

/*
 * keep_owner skips fchown when the file would get uid:gid anyway; not under
 * a setgid directory, whose group a new file takes.
 */
static void
test_unpack_owner_setgid_parent(void **state)
{
	struct fx *f = *state;
	const struct ent es[] = {
		{ "top", T_FILE, 0644, "t", 0, 0, 0, 0, 0 },
		{ "d/f", T_FILE, 0644, "f", 0, 0, 0, 0, 0 },
		{ "d/g", T_FILE, 02755, "g", 0, 0, 0, 0, 4321 },
		{ "d/o", T_FILE, 0644, "o", 0, 0, 0, 1234, 0 },
	};
	struct unpack_opts o = { .keep_owner = 1, .allow_setuid = 1 };
	struct err e = ERR_INIT;
	struct stat s;

	if (geteuid() != 0 || getegid() == 4321) {
		printf("SKIP test_unpack_owner_setgid_parent: needs root\n");
		return;
	}
	mkarchive(f->bundle, 0, F_GZIP, es, N(es));
	assert_int_equal(mkdir(f->root, 0755), 0);
	assert_int_equal(chown(f->root, 0, 4321), 0);
	assert_int_equal(chmod(f->root, 02755), 0);
	assert_int_equal(unpack_bundle(f->bundle, f->root, &o, NULL, &e), 0);
	lstat_rel(f->root, "top", &s);
	assert_int_equal(s.st_uid, 0);
	assert_int_equal(s.st_gid, 0);
	lstat_rel(f->root, "d/f", &s);	/* d inherited the setgid bit */
	assert_int_equal(s.st_uid, 0);
	assert_int_equal(s.st_gid, 0);
	lstat_rel(f->root, "d/g", &s);
	assert_int_equal(s.st_gid, 4321);
	assert_int_equal(s.st_mode & 07777, 02755);
	lstat_rel(f->root, "d/o", &s);
	assert_int_equal(s.st_uid, 1234);
	assert_int_equal(s.st_gid, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_unpack_tgz),
		T(test_unpack_zip),
		T(test_unpack_tar),
		T(test_unpack_bz2),
		T(test_unpack_xz),
		T(test_unpack_zst),
		T(test_unpack_strip),
		T(test_unpack_strip_not_applied),
		T(test_unpack_strip_link_through_top),
		T(test_unpack_duplicate),
		T(test_unpack_setuid_allowed),
		T(test_unpack_setgid_dir_dropped),
		T(test_unpack_owner),
		T(test_unpack_progress),
		T(test_unpack_root_not_empty),
		T(test_unpack_absolute),
		T(test_unpack_dotdot),
		T(test_unpack_symlink_escape),
		T(test_unpack_write_through_symlink),
		T(test_unpack_hardlink_escape),
		T(test_unpack_special_files),
		T(test_unpack_setuid_refused),
		T(test_unpack_bomb),
		T(test_unpack_corrupt),
		T(test_unpack_dir_cache_alternate),
		T(test_unpack_dir_cache_invalidate),
		T(test_unpack_mode_umask),
		T(test_unpack_owner_setgid_parent),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for install.c: real files under a mkdtemp directory, AppSpecs
 * built by hand (no parser involved).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "appspec.h"
#include "buf.h"
#include "err.h"
#include "install.h"
#include "platform.h"
#include "util.h"

struct fx {
	char top[64];
	char arch[128];		/* the unpacked revision */
	char dest[128];		/* where files go */
	char instr[128];	/* deployment-instructions */
	char path[PATH_MAX];	/* scratch */
};

static const char *P(struct fx *, const char *, ...) AG_PRINTF(2, 3);

static const char *
P(struct fx *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->path, sizeof(f->path), fmt, ap);
	va_end(ap);
	return f->path;
}

static void
put(const char *path, const char *text, mode_t mode)
{
	char *dir = strdup(path), *sl = strrchr(dir, '/');
	struct err e = ERR_INIT;
	FILE *fp;

	*sl = '\0';
	assert_int_equal(plat_fs_mkdir_p(dir, 0755, &e), 0);
	free(dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(chmod(path, mode), 0);
}

static char *
slurp(const char *path)
{
	struct buf b = BUF_INIT(1 << 20);
	struct err e = ERR_INIT;

	if (buf_read_file(&b, path, &e) != 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b);
}

static int
content_is(const char *path, const char *want)
{
	char *s = slurp(path);
	int ok = s != NULL && strcmp(s, want) == 0;

	free(s);
	return ok;
}

static mode_t
mode_of(const char *path)
{
	struct stat sb;

	assert_int_equal(lstat(path, &sb), 0);
	return sb.st_mode & 07777;
}

static int
is_link(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct err e = ERR_INIT;

	assert_non_null(f);
	snprintf(f->top, sizeof(f->top), "/tmp/cdinst-XXXXXX");
	assert_non_null(mkdtemp(f->top));
	snprintf(f->arch, sizeof(f->arch), "%s/arch", f->top);
	snprintf(f->dest, sizeof(f->dest), "%s/dest", f->top);
	snprintf(f->instr, sizeof(f->instr), "%s/instr", f->top);
	assert_int_equal(plat_fs_mkdir_p(f->arch, 0755, &e), 0);
	assert_int_equal(plat_fs_mkdir_p(f->dest, 0755, &e), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;

	plat_fs_rm_rf(f->top, &e);
	free(f);
	return 0;
}

static void
perm_init(struct appspec_perm *pm, char *object)
{
	memset(pm, 0, sizeof(*pm));
	pm->object = object;
	pm->pattern = "**";
	pm->types = APPSPEC_T_FILE | APPSPEC_T_DIR;
	pm->mode = -1;
}

static int
run(struct fx *f, const struct appspec *as, enum appspec_feb feb,
    int preserve, struct install_stats *st, struct err *e)
{
	struct install_opts o;

	memset(&o, 0, sizeof(o));
	o.spec = as;
	o.archive_dir = f->arch;
	o.instructions_dir = f->instr;
	o.group_id = "g-1";
	o.feb = feb;
	o.preserve_symlinks = preserve;
	return install_run(&o, st, e);
}

/* A revision with a file, a subdir, a file symlink and a dir symlink. */
static void
make_bundle(struct fx *f)
{
	struct timespec ts[2] = { { 1000000, 0 }, { 1000000, 0 } };

	put(P(f, "%s/appspec.yml", f->arch), "version: 0.0\n", 0644);
	put(P(f, "%s/a/b.txt", f->arch), "bee\n", 0640);
	assert_int_equal(utimensat(AT_FDCWD, f->path, ts, 0), 0);
	put(P(f, "%s/a/sub/c.sh", f->arch), "#!/bin/sh\n", 0755);
	assert_int_equal(symlink("a/b.txt", P(f, "%s/link", f->arch)), 0);
	assert_int_equal(symlink("a", P(f, "%s/dlink", f->arch)), 0);
}

static void
test_install_dir_root(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct install_stats st;
	struct appspec_file fl;
	struct appspec as;
	struct stat sb;
	char buf[64], app[256];
	ssize_t n;

	make_bundle(f);
	snprintf(app, sizeof(app), "%s/x/y/app", f->dest);
	memset(&as, 0, sizeof(as));
	fl.source = "/";
	fl.destination = app;
	as.files = &fl;
	as.n_files = 1;
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, &st, &e), 0);

	/* ancestors x, x/y created; the whole tree incl. appspec.yml */
	assert_true(content_is(P(f, "%s/appspec.yml", app), "version: 0.0\n"));
	assert_true(content_is(P(f, "%s/a/b.txt", app), "bee\n"));
	assert_int_equal(mode_of(f->path), 0640);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mtime, 1000000);
	assert_int_equal(mode_of(P(f, "%s/a/sub/c.sh", app)), 0755);
	/* symlinks kept as symlinks with the same text, dir link too */
	assert_true(is_link(P(f, "%s/link", app)));
	n = readlink(f->path, buf, sizeof(buf) - 1);
	assert_int_equal(n, 7);
	buf[n] = '\0';
	assert_string_equal(buf, "a/b.txt");
	assert_true(is_link(P(f, "%s/dlink", app)));
	assert_int_equal(st.files, 5);
	assert_int_equal(st.dirs, 5);	/* x, y, app, a, a/sub */
	assert_int_equal(st.bytes, 13 + 4 + 10);
	/* the cleanup file names everything */
	{
		char *cl = slurp(P(f, "%s/g-1-cleanup", f->instr));

		assert_non_null(cl);
		snprintf(buf, sizeof(buf), "/x\n");
		assert_non_null(strstr(cl, buf));
		assert_non_null(strstr(cl, "/app/a/sub/c.sh\n"));
		assert_non_null(strstr(cl, "/app/dlink\n"));
		free(cl);
	}
}

static void
test_install_materialise(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl;
	struct appspec as;
	struct stat sb;

	make_bundle(f);
	memset(&as, 0, sizeof(as));
	fl.source = "/";
	fl.destination = f->dest;
	as.files = &fl;
	as.n_files = 1;
	assert_int_equal(run(f, &as, FEB_DISALLOW, 0, NULL, &e), 0);
	/* Ruby 1.8: the directory symlink becomes a real directory */
	assert_int_equal(lstat(P(f, "%s/dlink", f->dest), &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_true(content_is(P(f, "%s/dlink/b.txt", f->dest), "bee\n"));
	/* file symlinks are still symlinks */
	assert_true(is_link(P(f, "%s/link", f->dest)));
}

static void
test_install_single_file(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl[2];
	struct appspec as;
	char d[256];

	make_bundle(f);
	snprintf(d, sizeof(d), "%s/d1/./d2/../d2", f->dest);
	memset(&as, 0, sizeof(as));
	fl[0].source = "a/b.txt";
	fl[0].destination = d;
	as.files = fl;
	as.n_files = 1;
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), 0);
	assert_true(content_is(P(f, "%s/d1/d2/b.txt", f->dest), "bee\n"));
	assert_int_equal(mode_of(f->path), 0640);
}

static void
test_install_second_removes_old(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl;
	struct appspec as;

	put(P(f, "%s/a/b.txt", f->arch), "one\n", 0644);
	put(P(f, "%s/a/c.txt", f->arch), "cee\n", 0644);
	put(P(f, "%s/old/x.txt", f->arch), "x\n", 0644);
	memset(&as, 0, sizeof(as));
	fl.source = "/";
	fl.destination = f->dest;
	as.files = &fl;
	as.n_files = 1;
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), 0);
	/* someone adds a file to an installed directory */
	put(P(f, "%s/old/user.txt", f->dest), "mine\n", 0644);

	/* the next revision lacks c.txt and old/ */
	assert_int_equal(unlink(P(f, "%s/a/c.txt", f->arch)), 0);
	assert_int_equal(unlink(P(f, "%s/old/x.txt", f->arch)), 0);
	assert_int_equal(rmdir(P(f, "%s/old", f->arch)), 0);
	put(P(f, "%s/a/b.txt", f->arch), "two\n", 0644);
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), 0);
	assert_true(content_is(P(f, "%s/a/b.txt", f->dest), "two\n"));
	assert_false(util_exists(P(f, "%s/a/c.txt", f->dest)));
	assert_false(util_exists(P(f, "%s/old/x.txt", f->dest)));
	/* rmdir of the non-empty directory was ignored */
	assert_true(content_is(P(f, "%s/old/user.txt", f->dest), "mine\n"));
}

static void
test_install_cleanup_torn(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec as;
	char p1[256], p2[256], text[1024];

	snprintf(p1, sizeof(p1), "%s/one", f->dest);
	snprintf(p2, sizeof(p2), "%s/two", f->dest);
	put(p1, "1", 0644);
	put(p2, "2", 0644);
	snprintf(text, sizeof(text), "%s/missing\n%s\n%s", f->dest, p1, p2);
	put(P(f, "%s/g-1-cleanup", f->instr), text, 0644);
	memset(&as, 0, sizeof(as));
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), 0);
	assert_false(util_exists(p1));
	assert_true(util_exists(p2));	/* the unterminated line is dropped */
	/* a fresh (empty) cleanup file replaced the old one */
	assert_true(content_is(P(f, "%s/g-1-cleanup", f->instr), ""));
}

static void
test_install_disallow(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl;
	struct appspec as;
	char want[512];

	put(P(f, "%s/b.txt", f->arch), "new\n", 0644);
	put(P(f, "%s/b.txt", f->dest), "old\n", 0644);
	memset(&as, 0, sizeof(as));
	fl.source = "b.txt";
	fl.destination = f->dest;
	as.files = &fl;
	as.n_files = 1;
	assert_int_equal(run(f, &as, FEB_UNSET, 1, NULL, &e), AG_EINVAL);
	snprintf(want, sizeof(want), "The deployment failed because a "
	    "specified file already exists at this location: %s/b.txt",
	    f->dest);
	assert_string_equal(e.msg, want);
	assert_true(content_is(P(f, "%s/b.txt", f->dest), "old\n"));
}

static void
test_install_overwrite(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl;
	struct appspec as;
	char victim[256];

	put(P(f, "%s/b.txt", f->arch), "new\n", 0600);
	put(P(f, "%s/c.txt", f->arch), "cnew\n", 0644);
	put(P(f, "%s/b.txt", f->dest), "old\n", 0644);
	snprintf(victim, sizeof(victim), "%s/victim", f->top);
	put(victim, "precious\n", 0644);
	assert_int_equal(symlink(victim, P(f, "%s/c.txt", f->dest)), 0);
	memset(&as, 0, sizeof(as));
	fl.source = "/";
	fl.destination = f->dest;
	as.files = &fl;
	as.n_files = 1;
	assert_int_equal(run(f, &as, FEB_OVERWRITE, 1, NULL, &e), 0);
	assert_true(content_is(P(f, "%s/b.txt", f->dest), "new\n"));
	assert_int_equal(mode_of(f->path), 0600);
	/* the symlink itself was replaced, its target left alone */
	assert_false(is_link(P(f, "%s/c.txt", f->dest)));
	assert_true(content_is(f->path, "cnew\n"));
	assert_true(content_is(victim, "precious\n"));
	assert_int_equal(mode_of(victim), 0644);
	/* and OVERWRITE onto a symlink with a symlink works too */
	assert_int_equal(symlink("c.txt", P(f, "%s/l", f->arch)), 0);
	assert_int_equal(symlink(victim, P(f, "%s/l", f->dest)), 0);
	assert_int_equal(unlink(P(f, "%s/g-1-cleanup", f->instr)), 0);
	assert_int_equal(run(f, &as, FEB_OVERWRITE, 1, NULL, &e), 0);
	assert_true(is_link(P(f, "%s/l", f->dest)));
	assert_true(content_is(f->path, "cnew\n"));
	assert_true(content_is(victim, "precious\n"));
}

static void
test_install_retain(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct install_stats st;
	struct appspec_file fl;
	struct appspec as;
	char *cl;

	put(P(f, "%s/b.txt", f->arch), "new\n", 0644);
	put(P(f, "%s/c.txt", f->arch), "c\n", 0644);
	put(P(f, "%s/b.txt", f->dest), "old\n", 0644);
	memset(&as, 0, sizeof(as));
	fl.source = "/";
	fl.destination = f->dest;
	as.files = &fl;
	as.n_files = 1;
	assert_int_equal(run(f, &as, FEB_RETAIN, 1, &st, &e), 0);
	assert_int_equal(st.skipped, 1);
	assert_int_equal(st.files, 1);
	assert_true(content_is(P(f, "%s/b.txt", f->dest), "old\n"));
	cl = slurp(P(f, "%s/g-1-cleanup", f->instr));
	assert_non_null(cl);
	assert_null(strstr(cl, "b.txt"));
	assert_non_null(strstr(cl, "c.txt"));
	free(cl);
}

static void
test_install_two_sources(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl[2];
	struct appspec as;

	put(P(f, "%s/b.txt", f->arch), "1\n", 0644);
	put(P(f, "%s/a/b.txt", f->arch), "2\n", 0644);
	memset(&as, 0, sizeof(as));
	fl[0].source = "b.txt";
	fl[0].destination = f->dest;
	fl[1].source = "a/b.txt";
	fl[1].destination = f->dest;
	as.files = fl;
	as.n_files = 2;
	assert_int_equal(run(f, &as, FEB_OVERWRITE, 1, NULL, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "specifies two source files named"));
	assert_non_null(strstr(e.msg, "/dest/b.txt)"));
	/* nothing was installed: planning comes first */
	assert_false(util_exists(P(f, "%s/b.txt", f->dest)));
}

static void
test_install_newline_refused(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl;
	struct appspec as;

	put(P(f, "%s/bad\nname", f->arch), "x", 0644);
	memset(&as, 0, sizeof(as));
	fl.source = "/";
	fl.destination = f->dest;
	as.files = &fl;
	as.n_files = 1;
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "newline"));
}

static void
test_install_source_confined(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl;
	struct appspec as;

	/* "../" cannot leave the archive: this names <archive>/etc/passwd */
	memset(&as, 0, sizeof(as));
	fl.source = "../../etc/passwd";
	fl.destination = f->dest;
	as.files = &fl;
	as.n_files = 1;
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "does not exist in the revision"));
	assert_false(util_exists(P(f, "%s/passwd", f->dest)));

	/* materialising a symlink loop is caught, not recursed forever */
	put(P(f, "%s/a/x", f->arch), "x", 0644);
	assert_int_equal(symlink("..", P(f, "%s/a/up", f->arch)), 0);
	fl.source = "/";
	assert_int_equal(run(f, &as, FEB_DISALLOW, 0, NULL, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "loops back"));
	/* preserved, it is just a symlink */
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), 0);
	assert_true(is_link(P(f, "%s/a/up", f->dest)));
}

static void
test_install_json(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl;
	struct appspec_perm pm;
	struct appspec_context cx = { NULL, "httpd_sys_content_t", NULL };
	struct appspec as;
	json_error_t je;
	json_t *root, *arr, *it;
	size_t i;
	int ncopy = 0, nmkdir = 0, nchmod = 0, nchown = 0;
	char obj[256];

	put(P(f, "%s/s/b.txt", f->arch), "b\n", 0644);
	snprintf(obj, sizeof(obj), "%s/app", f->dest);
	memset(&as, 0, sizeof(as));
	fl.source = "/";
	fl.destination = obj;
	as.files = &fl;
	as.n_files = 1;
	perm_init(&pm, obj);
	pm.mode = 0750;
	pm.owner = "root";
	as.perms = &pm;
	as.n_perms = 1;
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), 0);
	root = json_load_file(P(f, "%s/g-1-install.json", f->instr), 0, &je);
	assert_non_null(root);
	arr = json_object_get(root, "instructions");
	assert_true(json_is_array(arr));
	json_array_foreach(arr, i, it) {
		const char *t = json_string_value(json_object_get(it, "type"));

		assert_non_null(t);
		ncopy += strcmp(t, "copy") == 0;
		nmkdir += strcmp(t, "mkdir") == 0;
		nchmod += strcmp(t, "chmod") == 0;
		nchown += strcmp(t, "chown") == 0;
		if (strcmp(t, "chmod") == 0)
			assert_string_equal(json_string_value(
			    json_object_get(it, "mode")), "0750");
	}
	assert_int_equal(ncopy, 1);
	assert_int_equal(nmkdir, 2);	/* app, app/s */
	assert_int_equal(nchmod, 2);	/* app/s/b.txt, app/s */
	assert_int_equal(nchown, 2);
	json_decref(root);

	/* a context without range serialises (Ruby crashed, §6.5) */
	pm.mode = -1;
	pm.owner = NULL;
	pm.context = &cx;
	setenv("PATH", f->top, 1);	/* no semanage there */
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), AG_ENOTSUP);
	root = json_load_file(P(f, "%s/g-1-install.json", f->instr), 0, &je);
	assert_non_null(root);
	json_decref(root);
	setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
	    "/sbin:/bin", 1);
}

/*
 * install.json is streamed entry by entry: thousands of entries (several
 * flushes), names that need escaping, valid UTF-8 and not, still give one
 * valid document listing every copy, mkdir and permission exactly once.
 */
static void
test_install_json_many(void **state)
{
	enum { NDIR = 12, PER = 250, N = NDIR * PER };
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl;
	struct appspec_perm pm;
	struct appspec as;
	struct install_stats st;
	struct stat sb;
	json_error_t je;
	json_t *root, *arr, *it;
	const char *t, *src, *dst, *base;
	struct dirent *de;
	DIR *d;
	char app[256], *seen;
	size_t i, ncopy = 0, nmkdir = 0, nchmod = 0, nbad = 0, k;

	for (i = 0; i < N; i++)
		put(P(f, i % 2 ? "%s/d%02zu/f%04zu-\xc3\xa9.txt" :
		    "%s/d%02zu/f\"%04zu\\\t.txt", f->arch, i / PER, i), "x",
		    0644);
	put(P(f, "%s/d00/bad\xffname", f->arch), "y", 0644);
	snprintf(app, sizeof(app), "%s/app", f->dest);
	memset(&as, 0, sizeof(as));
	fl.source = "/";
	fl.destination = app;
	as.files = &fl;
	as.n_files = 1;
	perm_init(&pm, app);
	pm.mode = 0640;
	as.perms = &pm;
	as.n_perms = 1;
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, &st, &e), 0);
	assert_int_equal(st.files, N + 1);
	assert_int_equal(stat(P(f, "%s/g-1-install.json", f->instr), &sb),
	    0);
	assert_true(sb.st_size > 256 * 1024);	/* written in pieces */
	assert_int_equal(sb.st_mode & 0777, 0644);
	root = json_load_file(f->path, 0, &je);
	assert_non_null(root);
	arr = json_object_get(root, "instructions");
	assert_true(json_is_array(arr));
	seen = calloc(N, 1);
	assert_non_null(seen);
	json_array_foreach(arr, i, it) {
		t = json_string_value(json_object_get(it, "type"));
		assert_non_null(t);
		if (strcmp(t, "mkdir") == 0) {
			nmkdir++;
			continue;
		}
		if (strcmp(t, "chmod") == 0) {
			nchmod++;
			assert_string_equal(json_string_value(
			    json_object_get(it, "mode")), "0640");
			continue;
		}
		assert_string_equal(t, "copy");
		ncopy++;
		src = json_string_value(json_object_get(it, "source"));
		dst = json_string_value(json_object_get(it, "destination"));
		assert_non_null(src);
		assert_non_null(dst);
		assert_int_equal(strncmp(dst, app, strlen(app)), 0);
		assert_int_equal(strncmp(src, f->arch, strlen(f->arch)), 0);
		/* the same relative path on both sides */
		assert_string_equal(src + strlen(f->arch), dst + strlen(app));
		base = strrchr(dst, '/') + 1;
		if (strcmp(base, "bad?name") == 0) {
			nbad++;
			continue;
		}
		assert_int_equal(lstat(dst, &sb), 0);	/* decoded exactly */
		k = strtoul(base + (base[1] == '"' ? 2 : 1), NULL, 10);
		assert_true(k < N);
		assert_int_equal(seen[k], 0);
		seen[k] = 1;
	}
	for (i = 0; i < N; i++)
		assert_int_equal(seen[i], 1);
	assert_int_equal(ncopy, N + 1);
	assert_int_equal(nbad, 1);
	assert_int_equal(nmkdir, NDIR + 1);	/* app, app/dNN */
	assert_int_equal(nchmod, N + 1 + NDIR);
	free(seen);
	json_decref(root);
	/* no temporary left behind */
	assert_non_null(d = opendir(f->instr));
	while ((de = readdir(d)) != NULL)
		assert_null(strstr(de->d_name, ".tmp."));
	closedir(d);
}

/* app/{s1.sh,s2.txt,sub/s3.sh,sub/deeper/} */
static void
perm_tree(struct fx *f, struct appspec *as, struct appspec_file *fl,
    char *app)
{
	put(P(f, "%s/s1.sh", f->arch), "1", 0644);
	put(P(f, "%s/s2.txt", f->arch), "2", 0644);
	put(P(f, "%s/sub/s3.sh", f->arch), "3", 0644);
	assert_int_equal(mkdir(P(f, "%s/sub/deeper", f->arch), 0755), 0);
	snprintf(app, 256, "%s/app", f->dest);
	memset(as, 0, sizeof(*as));
	fl->source = "/";
	fl->destination = app;
	as->files = fl;
	as->n_files = 1;
}

static void
test_perm_recursive_and_types(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl;
	struct appspec_perm pm[2];
	struct appspec as;
	char app[256];

	perm_tree(f, &as, &fl, app);
	umask(022);
	perm_init(&pm[0], app);
	pm[0].types = APPSPEC_T_FILE;
	pm[0].mode = 0604;
	perm_init(&pm[1], app);
	pm[1].types = APPSPEC_T_DIR;
	pm[1].mode = 0710;
	as.perms = pm;
	as.n_perms = 2;
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), 0);
	/* ** recurses; type file touches only files, directory only dirs */
	assert_int_equal(mode_of(P(f, "%s/s1.sh", app)), 0604);
	assert_int_equal(mode_of(P(f, "%s/s2.txt", app)), 0604);
	assert_int_equal(mode_of(P(f, "%s/sub/s3.sh", app)), 0604);
	assert_int_equal(mode_of(P(f, "%s/sub", app)), 0710);
	assert_int_equal(mode_of(P(f, "%s/sub/deeper", app)), 0710);
	/* the object itself is never included; mkdir used 0777 & ~umask */
	assert_int_equal(mode_of(app), 0755);
}

static void
test_perm_glob_and_except(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl;
	struct appspec_perm pm[2];
	struct appspec as;
	char app[256], sub[300], *exc[] = { "s3*" }, *exc2[] = { "*.txt" };

	perm_tree(f, &as, &fl, app);
	snprintf(sub, sizeof(sub), "%s/sub", app);
	perm_init(&pm[0], app);
	pm[0].pattern = "*.sh";
	pm[0].mode = 0700;
	pm[0].except = exc2;	/* irrelevant here, must not hurt */
	pm[0].n_except = 1;
	perm_init(&pm[1], sub);
	pm[1].except = exc;
	pm[1].n_except = 1;
	pm[1].mode = 0600;
	as.perms = pm;
	as.n_perms = 2;
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), 0);
	/* *.sh: direct children only */
	assert_int_equal(mode_of(P(f, "%s/s1.sh", app)), 0700);
	assert_int_equal(mode_of(P(f, "%s/s2.txt", app)), 0644);
	/* except s3* under sub: s3.sh excluded, deeper/ matched */
	assert_int_equal(mode_of(P(f, "%s/sub/s3.sh", app)), 0644);
	assert_int_equal(mode_of(P(f, "%s/sub/deeper", app)), 0600);
}

static void
test_perm_twice(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl;
	struct appspec_perm pm[2];
	struct appspec as;
	char app[256], file[300];

	perm_tree(f, &as, &fl, app);
	snprintf(file, sizeof(file), "%s/s1.sh", app);
	perm_init(&pm[0], app);
	pm[0].pattern = "*.sh";
	pm[0].mode = 0700;
	perm_init(&pm[1], file);
	pm[1].mode = 0600;
	as.perms = pm;
	as.n_perms = 2;
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "is specified more than once"));
	assert_non_null(strstr(e.msg, file));
	/* a file object with a pattern is refused */
	pm[1].pattern = "*";
	as.perms = &pm[1];
	as.n_perms = 1;
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "with an invalid pattern (*)"));
}

static void
test_perm_owner_group(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl;
	struct appspec_perm pm;
	struct appspec as;
	struct passwd *pw = NULL;
	struct group *gr = NULL;
	struct stat sb;
	char app[256], file[300];

	if (geteuid() != 0 || (pw = getpwnam("nobody")) == NULL ||
	    (gr = getgrnam("nogroup")) == NULL) {
		print_message("SKIP owner/group: needs root, nobody, nogroup\n");
		skip();
	}
	perm_tree(f, &as, &fl, app);
	snprintf(file, sizeof(file), "%s/s1.sh", app);
	perm_init(&pm, file);
	pm.owner = "nobody";
	pm.group = "nogroup";
	pm.mode = 04755;	/* survives the chown */
	as.perms = &pm;
	as.n_perms = 1;
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), 0);
	assert_int_equal(stat(file, &sb), 0);
	assert_int_equal(sb.st_uid, pw->pw_uid);
	assert_int_equal(sb.st_gid, gr->gr_gid);
	assert_int_equal(sb.st_mode & 07777, 04755);

	pm.owner = "no-such-user-cdagent";
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "no-such-user-cdagent"));
}

static void
test_perm_acl(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl;
	struct appspec_perm pm[2];
	struct appspec as;
	char app[256], file[300], cmd[600], line[256], *acl[] = {
	    "user:nobody:rw-" }, *dacl[] = { "default:group:nogroup:r-x" };
	int seen = 0, dseen = 0;
	FILE *fp;
	int r;

	if (geteuid() != 0 || getpwnam("nobody") == NULL) {
		print_message("SKIP acl: needs root and user nobody\n");
		skip();
	}
	perm_tree(f, &as, &fl, app);
	snprintf(file, sizeof(file), "%s/s1.sh", app);
	perm_init(&pm[0], file);
	pm[0].mode = 0640;
	pm[0].acls = acl;
	pm[0].n_acls = 1;
	perm_init(&pm[1], app);
	pm[1].types = APPSPEC_T_DIR;
	pm[1].pattern = "sub";
	pm[1].acls = dacl;
	pm[1].n_acls = 1;
	pm[1].acl_has_default = 1;
	as.perms = pm;
	as.n_perms = 2;
	r = run(f, &as, FEB_DISALLOW, 1, NULL, &e);
	if (r == AG_ENOTSUP) {
		print_message("SKIP acl: %s\n", e.msg);
		skip();
	}
	assert_int_equal(r, 0);
	snprintf(cmd, sizeof(cmd), "getfacl -cp '%s' '%s/sub' 2>/dev/null",
	    file, app);
	if ((fp = popen(cmd, "r")) == NULL || access("/usr/bin/getfacl",
	    X_OK) != 0) {
		if (fp != NULL)
			pclose(fp);
		/* fall back to the raw xattr */
		assert_true(getxattr(file, "system.posix_acl_access", line,
		    sizeof(line)) > 4 * 4);
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		/* "#effective:r--": the mask is the group bits */
		seen |= strncmp(line, "user:nobody:rw-", 15) == 0;
		dseen |= strncmp(line, "default:group:nogroup:r-x", 25) == 0;
	}
	pclose(fp);
	assert_true(seen);
	assert_true(dseen);
	/* mask from the group bits of the mode */
	assert_int_equal(mode_of(file), 0640);

	/* a default acl on a file object is refused */
	pm[0].acls = dacl;
	pm[0].acl_has_default = 1;
	as.n_perms = 1;
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "-d parameter"));
}

/* Plant a symlink where the installed file was, after its copy. */
struct plant {
	const char *target, *victim;
	int done;
};

static void
plant_cb(void *ctx, uint64_t bytes, uint64_t files)
{
	struct plant *p = ctx;

	(void)bytes;
	(void)files;
	if (p->done || !util_exists(p->target))
		return;
	assert_int_equal(unlink(p->target), 0);
	assert_int_equal(symlink(p->victim, p->target), 0);
	p->done = 1;
}

static void
test_perm_symlink_not_followed(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct install_opts o;
	struct appspec_file fl;
	struct appspec_perm pm;
	struct appspec as;
	struct plant pl;
	char app[256], file[300], victim[256];

	perm_tree(f, &as, &fl, app);
	snprintf(file, sizeof(file), "%s/s1.sh", app);
	snprintf(victim, sizeof(victim), "%s/victim", f->top);
	put(victim, "v", 0644);
	perm_init(&pm, app);
	pm.mode = 0777;
	pm.types = APPSPEC_T_FILE;
	as.perms = &pm;
	as.n_perms = 1;

	/* a symlink in the bundle: installed, its target left alone */
	assert_int_equal(symlink(victim, P(f, "%s/vlink", f->arch)), 0);
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), 0);
	assert_true(is_link(P(f, "%s/vlink", app)));
	assert_int_equal(mode_of(victim), 0644);
	assert_int_equal(mode_of(file), 0777);

	/* a symlink planted over an installed file: refused, not followed */
	assert_int_equal(unlink(P(f, "%s/vlink", f->arch)), 0);
	memset(&o, 0, sizeof(o));
	o.spec = &as;
	o.archive_dir = f->arch;
	o.instructions_dir = f->instr;
	o.group_id = "g-1";
	o.feb = FEB_DISALLOW;
	o.preserve_symlinks = 1;
	pl.target = file;
	pl.victim = victim;
	pl.done = 0;
	o.progress = plant_cb;
	o.ctx = &pl;
	assert_int_equal(install_run(&o, NULL, &e), AG_EIO);
	assert_true(pl.done);
	assert_non_null(strstr(e.msg, "symbolic link"));
	assert_int_equal(mode_of(victim), 0644);
}

/*
 * Progress callback that swaps a directory of the destination for a
 * symlink to an outside directory, as a hostile user could meanwhile: dir
 * is renamed to aside (when it exists) and a link to victim put there.
 */
struct swap {
	const char *trigger;	/* fire once this exists; NULL: at once */
	const char *dir, *aside, *victim;
	int done;
};

static void
swap_cb(void *ctx, uint64_t bytes, uint64_t files)
{
	struct swap *s = ctx;

	(void)bytes;
	(void)files;
	if (s->done || (s->trigger != NULL && !util_exists(s->trigger)))
		return;
	if (s->aside != NULL && util_exists(s->dir))
		assert_int_equal(rename(s->dir, s->aside), 0);
	assert_int_equal(symlink(s->victim, s->dir), 0);
	s->done = 1;
}

static int
run_cb(struct fx *f, const struct appspec *as, enum appspec_feb feb,
    struct swap *s, struct err *e)
{
	struct install_opts o;

	memset(&o, 0, sizeof(o));
	o.spec = as;
	o.archive_dir = f->arch;
	o.instructions_dir = f->instr;
	o.group_id = "g-1";
	o.feb = feb;
	o.preserve_symlinks = 1;
	o.progress = swap_cb;
	o.ctx = s;
	return install_run(&o, NULL, e);
}

/* dest/sub swapped for a link to /outside after the copy: no chmod there */
static void
test_perm_parent_swapped(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl;
	struct appspec_perm pm;
	struct appspec as;
	struct swap sw;
	struct stat sb;
	char out[256], sub[256], aside[256], trig[300];

	snprintf(out, sizeof(out), "%s/outside", f->top);
	snprintf(sub, sizeof(sub), "%s/sub", f->dest);
	snprintf(aside, sizeof(aside), "%s/sub.real", f->dest);
	snprintf(trig, sizeof(trig), "%s/a.txt", sub);
	put(P(f, "%s/a.txt", out), "secret\n", 0644);
	put(P(f, "%s/sub/a.txt", f->arch), "a\n", 0644);
	put(P(f, "%s/z.txt", f->arch), "z\n", 0644);
	memset(&as, 0, sizeof(as));
	fl.source = "/";
	fl.destination = f->dest;
	as.files = &fl;
	as.n_files = 1;
	perm_init(&pm, f->dest);
	pm.mode = 0777;
	pm.types = APPSPEC_T_FILE;
	if (geteuid() == 0 && getpwnam("nobody") != NULL)
		pm.owner = "nobody";
	as.perms = &pm;
	as.n_perms = 1;
	sw.trigger = trig;
	sw.dir = sub;
	sw.aside = aside;
	sw.victim = out;
	sw.done = 0;
	assert_int_equal(run_cb(f, &as, FEB_DISALLOW, &sw, &e), AG_EIO);
	assert_true(sw.done);
	assert_non_null(strstr(e.msg, "changed during the deployment (a "
	    "symbolic link was planted?): permissions not applied"));
	assert_non_null(strstr(e.msg, "/sub/a.txt"));
	assert_int_equal(lstat(P(f, "%s/a.txt", out), &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0644);
	assert_int_equal(sb.st_uid, geteuid());
	assert_true(content_is(f->path, "secret\n"));
}

/*
 * An installed directory replaced by a link to a directory holding files
 * of the same names: the next install's cleanup does not follow it.
 */
static void
test_cleanup_parent_symlink(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl;
	struct appspec as;
	char out[256], real[256];

	snprintf(out, sizeof(out), "%s/outside", f->top);
	put(P(f, "%s/x.txt", out), "keep\n", 0644);
	put(P(f, "%s/deep/y.txt", out), "keep\n", 0644);
	put(P(f, "%s/d/x.txt", f->arch), "x\n", 0644);
	put(P(f, "%s/d/deep/y.txt", f->arch), "y\n", 0644);
	memset(&as, 0, sizeof(as));
	fl.source = "/";
	fl.destination = f->dest;
	as.files = &fl;
	as.n_files = 1;
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), 0);
	snprintf(real, sizeof(real), "%s/d.real", f->top);
	assert_int_equal(rename(P(f, "%s/d", f->dest), real), 0);
	assert_int_equal(symlink(out, P(f, "%s/d", f->dest)), 0);
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), 0);
	assert_true(content_is(P(f, "%s/x.txt", out), "keep\n"));
	assert_true(content_is(P(f, "%s/deep/y.txt", out), "keep\n"));
	/* the link itself was an installed path: removed, d made afresh */
	assert_false(is_link(P(f, "%s/d", f->dest)));
	assert_true(content_is(P(f, "%s/d/deep/y.txt", f->dest), "y\n"));
}

/* A symlink where a directory below the destination is planned. */
static void
test_install_dir_symlink_below(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl;
	struct appspec as;
	struct swap sw;
	char out[256], d[256], aside[256];

	snprintf(out, sizeof(out), "%s/outside", f->top);
	assert_int_equal(mkdir(out, 0755), 0);
	snprintf(d, sizeof(d), "%s/d", f->dest);
	snprintf(aside, sizeof(aside), "%s/d.real", f->top);
	put(P(f, "%s/a.txt", f->arch), "a\n", 0644);
	put(P(f, "%s/d/x.txt", f->arch), "x\n", 0644);
	memset(&as, 0, sizeof(as));
	fl.source = "/";
	fl.destination = f->dest;
	as.files = &fl;
	as.n_files = 1;

	/* there when planning: refused by the plan, nothing written */
	assert_int_equal(symlink(out, d), 0);
	assert_int_equal(run(f, &as, FEB_OVERWRITE, 1, NULL, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, d));
	assert_non_null(strstr(e.msg, "symbolic link"));
	assert_false(util_exists(P(f, "%s/x.txt", out)));
	assert_false(util_exists(P(f, "%s/a.txt", f->dest)));
	assert_int_equal(unlink(d), 0);

	/* planted before its mkdir: mkdir does not take it */
	sw.trigger = NULL;
	sw.dir = d;
	sw.aside = NULL;
	sw.victim = out;
	sw.done = 0;
	assert_int_equal(run_cb(f, &as, FEB_OVERWRITE, &sw, &e), AG_EIO);
	assert_true(sw.done);
	assert_non_null(strstr(e.msg, d));
	assert_non_null(strstr(e.msg, "symbolic link"));
	assert_false(util_exists(P(f, "%s/x.txt", out)));
	assert_int_equal(unlink(d), 0);

	/* an existing directory swapped after planning: not entered */
	assert_int_equal(mkdir(d, 0755), 0);
	assert_int_equal(unlink(P(f, "%s/a.txt", f->dest)), 0);
	sw.aside = aside;
	sw.done = 0;
	assert_int_equal(run_cb(f, &as, FEB_OVERWRITE, &sw, &e), AG_EIO);
	assert_true(sw.done);
	assert_non_null(strstr(e.msg, d));
	assert_non_null(strstr(e.msg, "symbolic link"));
	assert_false(util_exists(P(f, "%s/x.txt", out)));
}

/* A link re-rooted by a subdirectory source must not climb out of it. */
static void
test_install_link_escape(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl;
	struct appspec as;
	char app[256];

	put(P(f, "%s/a/b/c/f.txt", f->arch), "f\n", 0644);
	put(P(f, "%s/a/b/c/s/g.txt", f->arch), "g\n", 0644);
	assert_int_equal(symlink("../f.txt", P(f, "%s/a/b/c/s/ok",
	    f->arch)), 0);
	assert_int_equal(symlink("./s/../f.txt", P(f, "%s/a/b/c/ok2",
	    f->arch)), 0);
	snprintf(app, sizeof(app), "%s/app", f->dest);
	memset(&as, 0, sizeof(as));
	fl.source = "a/b/c";
	fl.destination = app;
	as.files = &fl;
	as.n_files = 1;
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), 0);
	assert_true(content_is(P(f, "%s/s/ok", app), "f\n"));
	assert_true(content_is(P(f, "%s/ok2", app), "f\n"));

	assert_int_equal(symlink("../../..", P(f, "%s/a/b/c/l", f->arch)),
	    0);
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "would point outside"));
	assert_non_null(strstr(e.msg, P(f, "%s/l", app)));
	assert_non_null(strstr(e.msg, "../../.."));
	assert_false(is_link(P(f, "%s/l", app)));
	assert_int_equal(unlink(P(f, "%s/a/b/c/l", f->arch)), 0);

	/* the same with a deeper link, and as a single-file source */
	assert_int_equal(symlink("s/../../../x", P(f, "%s/a/b/c/s/m",
	    f->arch)), 0);
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "would point outside"));
	assert_int_equal(unlink(P(f, "%s/a/b/c/s/m", f->arch)), 0);
	fl.source = "a/b/c/s/ok";
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "would point outside"));
}

/* A destination that is itself a symlink is the admin's: it works. */
static void
test_install_dest_symlink(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl;
	struct appspec_perm pm;
	struct appspec as;
	char www[256], app[300], *cl;

	snprintf(www, sizeof(www), "%s/www", f->top);
	assert_int_equal(symlink(f->dest, www), 0);
	put(P(f, "%s/d/x.txt", f->arch), "x\n", 0644);
	put(P(f, "%s/y.txt", f->arch), "y\n", 0644);
	memset(&as, 0, sizeof(as));
	fl.source = "/";
	snprintf(app, sizeof(app), "%s/app", www);
	fl.destination = app;
	as.files = &fl;
	as.n_files = 1;
	perm_init(&pm, app);
	pm.mode = 0600;
	pm.types = APPSPEC_T_FILE;
	as.perms = &pm;
	as.n_perms = 1;
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), 0);
	assert_true(content_is(P(f, "%s/app/d/x.txt", f->dest), "x\n"));
	assert_int_equal(mode_of(f->path), 0600);
	/* the cleanup file names the real paths, so cleanup follows none */
	cl = slurp(P(f, "%s/g-1-cleanup", f->instr));
	assert_non_null(cl);
	assert_non_null(strstr(cl, P(f, "%s/app/d/x.txt\n", f->dest)));
	assert_null(strstr(cl, www));
	free(cl);
	/* DISALLOW again: the previous install was removed through it */
	assert_int_equal(unlink(P(f, "%s/y.txt", f->arch)), 0);
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), 0);
	assert_false(util_exists(P(f, "%s/app/y.txt", f->dest)));
	assert_true(content_is(P(f, "%s/app/d/x.txt", f->dest), "x\n"));
}

static void
write_script(const char *path, const char *log)
{
	char text[512];

	snprintf(text, sizeof(text), "#!/bin/sh\necho \"$0 $*\" >> '%s'\n"
	    "echo some output\n", log);
	put(path, text, 0755);
}

static void
test_perm_semanage(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct appspec_file fl;
	struct appspec_perm pm;
	struct appspec_context cx = { "system_u", "httpd_sys_content_t", "s0" };
	struct appspec as, empty;
	char app[256], file[300], bin[256], log[256], want[1536], *s, *old;
	const char *path = getenv("PATH");
	size_t n;

	old = strdup(path != NULL ? path : "/usr/bin:/bin");
	perm_tree(f, &as, &fl, app);
	snprintf(file, sizeof(file), "%s/s1.sh", app);
	snprintf(bin, sizeof(bin), "%s/bin", f->top);
	snprintf(log, sizeof(log), "%s/cmds.log", f->top);
	assert_int_equal(mkdir(bin, 0755), 0);
	perm_init(&pm, file);
	pm.context = &cx;
	as.perms = &pm;
	as.n_perms = 1;

	/* semanage not installed: a clear error */
	setenv("PATH", bin, 1);
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), AG_ENOTSUP);
	snprintf(want, sizeof(want), "SELinux context requested for %s but "
	    "semanage is not installed on this host", file);
	assert_string_equal(e.msg, want);

	/* fake semanage and restorecon: argv, then the cleanup line */
	write_script(P(f, "%s/semanage", bin), log);
	write_script(P(f, "%s/restorecon", bin), log);
	setenv("PATH", bin, 1);
	assert_int_equal(run(f, &as, FEB_DISALLOW, 1, NULL, &e), 0);
	s = slurp(log);
	assert_non_null(s);
	snprintf(want, sizeof(want), "%s/semanage fcontext -a -s system_u -t "
	    "httpd_sys_content_t -r s0 %s\n%s/restorecon -v %s\n", bin, file,
	    bin, file);
	assert_string_equal(s, want);
	free(s);
	s = slurp(P(f, "%s/g-1-cleanup", f->instr));
	assert_non_null(s);
	n = strlen(s);	/* up to the NUL of "semanage\0" */
	assert_string_equal(s + n - 8, "semanage");
	assert_string_equal(s + n + 1, P(f, "%s\n", file));
	free(s);

	/* the next install's cleanup deletes the fcontext rule */
	memset(&empty, 0, sizeof(empty));
	assert_int_equal(unlink(log), 0);
	assert_int_equal(run(f, &empty, FEB_DISALLOW, 1, NULL, &e), 0);
	s = slurp(log);
	assert_non_null(s);
	snprintf(want, sizeof(want), "%s/semanage fcontext -d %s\n", bin,
	    file);
	assert_string_equal(s, want);
	free(s);
	assert_false(util_exists(file));
	setenv("PATH", old, 1);
	free(old);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_install_dir_root,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_materialise,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_single_file,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_install_second_removes_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_cleanup_torn,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_disallow,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_overwrite,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_retain,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_two_sources,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_newline_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_source_confined,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_json,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_json_many,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_perm_recursive_and_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perm_glob_and_except,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_perm_twice,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_perm_owner_group,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_perm_acl,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_perm_symlink_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perm_parent_swapped,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_cleanup_parent_symlink,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_dir_symlink_below,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_link_escape,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_dest_symlink,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_perm_semanage,
		    setup, teardown),
	};

	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

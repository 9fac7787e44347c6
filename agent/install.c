/* install.c: the Install step; see install.h for the contract. */
#include <sys/types.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "appspec.h"
#include "buf.h"
#include "err.h"
#include "install.h"
#include "log.h"
#include "platform.h"
#include "util.h"
#include "banned.h"

#define NONE SIZE_MAX
#define CLEANUP_MAX ((size_t)512 << 20)	/* a cleanup file we will read */
#define WALK_DEPTH_MAX 1024
#define COPY_CHUNK ((size_t)1 << 30)
#define RW_BUF (128 * 1024)
#define PATH_BUF ((size_t)PATH_MAX * 8)	/* a composed path */
#define ARENA_BLK ((size_t)64 << 10)
#define JSON_FLUSH ((size_t)64 << 10)
#define INS_MAX ((size_t)UINT32_MAX - 1)

/* Kernel ACL xattr layout (linux/posix_acl_xattr.h), little-endian. */
#define ACL_XATTR_VERSION 2
#define ACL_USER_OBJ 0x01
#define ACL_USER 0x02
#define ACL_GROUP_OBJ 0x04
#define ACL_GROUP 0x08
#define ACL_MASK 0x10
#define ACL_OTHER 0x20
#define ACL_UNDEF_ID 0xffffffffu

/*
 * openat2(2) with RESOLVE_NO_SYMLINKS opens a path below a directory in
 * one call, refusing any symlink on the way. The struct is declared here
 * (uapi linux/openat2.h) so the musl build needs no kernel headers; where
 * the call is missing, the per-component walk does the same job.
 */
#if defined(SYS_openat2)
struct ag_open_how {
	uint64_t flags, mode, resolve;
};
#define AG_RESOLVE_NO_SYMLINKS 0x04
#endif

enum ins_kind { INS_COPY, INS_MKDIR };

/*
 * The plan holds an entry per file of the bundle, so an entry is small
 * (24 bytes, plus its name and 8-16 bytes of hash table): each directory
 * pair is stored once, as a pdir, and an entry keeps only its name. Its
 * destination is pdir.dst + "/" + name, its source pdir.src + "/" + name;
 * a mkdir has no name and stands for pdir.dst itself. Strings live in an
 * arena of large blocks, so there is no malloc overhead per path.
 */
struct pdir {
	const char *src;	/* arena; NULL for a planned ancestor */
	const char *dst;	/* arena */
	/*
	 * dst[0..rlen) is the AppSpec destination (or an ancestor of it),
	 * trusted as the admin wrote it: opened by path, symlinks followed.
	 * Below it every component is opened O_NOFOLLOW (walk_open).
	 */
	uint32_t rlen;
	unsigned fresh:1;	/* dst is a planned mkdir: nothing is in it */
};

struct ins {
	const char *name;	/* arena; NULL: the directory pdir.dst */
	uint32_t dir;		/* index in plan.dirs */
	uint32_t hash;		/* of the destination path */
	unsigned kind:1;	/* enum ins_kind */
	unsigned src_link:1;	/* install a symlink (same target text) */
	unsigned replace:1;	/* OVERWRITE something at dst */
	unsigned has_perm:1;	/* already a permission target */
};

struct arena {
	struct arena *next;
	size_t len, cap;
	char data[];
};

struct acl_ent {
	uint16_t tag, perm;
	uint32_t id;
};

/* One permission entry, resolved once when its first target is found. */
struct perm_res {
	uint32_t uid, gid;
	unsigned has_uid:1, has_gid:1, resolved:1;
	struct acl_ent *acc, *def;	/* owned; explicit entries only */
	size_t nacc, ndef;
};

struct papply {
	uint32_t ins, perm;
};

struct plan {
	struct ins *v;
	size_t n, cap;
	struct pdir *dirs;
	size_t ndirs, dcap;
	struct arena *arena;	/* owned; newest block first */
	uint32_t *tab;		/* dst hash: index + 1, 0 empty */
	size_t tabcap;
	struct papply *pa;
	size_t npa, pacap;
	struct perm_res *pr;	/* spec->n_perms */
	size_t npr;
	/* scratch for composed paths: destination, source, lookups */
	struct buf db, sb, fb;
};

/* Ancestors of a directory being walked, to catch symlink loops. */
struct walk {
	dev_t dev;
	ino_t ino;
	const struct walk *up;
	int depth;
};

/* The identity of an object the install made (or reused). */
struct fid {
	dev_t dev;
	ino_t ino;		/* 0: none recorded */
};

/* A directory entry while planning: its name and readdir type. */
struct dent {
	const char *name;	/* arena: the entry's name if it is planned */
	unsigned char type;	/* DT_* */
};

struct ctx {
	const struct install_opts *o;
	struct install_stats *st;
	struct plan p;
	int cfd;		/* the new cleanup file */
	size_t rlen;		/* planning: length of the destination */
	/*
	 * Execution: per plan entry, what was installed there, so the
	 * permission step acts on that object only (NULL: no permissions).
	 */
	struct fid *ids;
	/* the realpath of the last trusted root (key), for cleanup lines */
	char *rkey, *rreal;
	struct buf cb;		/* a cleanup line being composed */
	char *rwbuf;		/* owned; read/write fallback buffer */
	/*
	 * Execution: the directories of the entry being copied stay open
	 * while the following entries share them (xdir: their pdir, or
	 * NONE), so a copy opens only its two files, by name.
	 */
	size_t xdir;
	int sfd, dfd;
	gid_t xgid;		/* group a new file gets in dfd */
	unsigned xacl:1;	/* dfd has a default ACL */
	uid_t euid;
	gid_t egid;
	int umask;		/* -1: unknown */
	unsigned tmpseq;	/* for temporary names */
};

/* ---- paths ------------------------------------------------------------ */

/* Lexically normalise an absolute path (File.expand_path without ~). */
static char *
path_norm(const char *in)
{
	size_t n = strlen(in), o = 0;
	const char *s = in, *c;
	char *out;

	if ((out = malloc(n + 2)) == NULL)
		return NULL;
	while (*s != '\0') {
		while (*s == '/')
			s++;
		if (*s == '\0')
			break;
		for (c = s; *c != '\0' && *c != '/'; c++)
			;
		if (c - s == 1 && s[0] == '.') {
			/* skip */
		} else if (c - s == 2 && s[0] == '.' && s[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else {
			out[o++] = '/';
			memcpy(out + o, s, (size_t)(c - s));
			o += (size_t)(c - s);
		}
		s = c;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

/* Absolute normalised form of p; relative to the working directory. */
static char *
path_abs(const char *p)
{
	char cwd[PATH_MAX], *j, *r;

	if (p[0] == '/')
		return path_norm(p);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	if ((j = util_path_join(cwd, p)) == NULL)
		return NULL;
	r = path_norm(j);
	free(j);
	return r;
}

/* dirname of a normalised absolute path, as a new string. */
static char *
path_dir(const char *p)
{
	const char *sl = strrchr(p, '/');

	if (sl == NULL || sl == p)
		return strdup("/");
	return strndup(p, (size_t)(sl - p));
}

static const char *
path_base(const char *p)
{
	const char *sl = strrchr(p, '/');

	return sl != NULL ? sl + 1 : p;
}

/* "/" + "x" must not become "//x". */
static char *
path_child(const char *dir, const char *name)
{
	struct buf b = BUF_INIT(PATH_MAX * 4);

	if (buf_addstr(&b, dir) != 0 ||
	    (strcmp(dir, "/") != 0 && buf_addch(&b, '/') != 0) ||
	    buf_addstr(&b, name) != 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b);
}

/*
 * Open the directory path[0..len) of which path[0..rlen) is trusted: that
 * part is opened by path (symlinks followed, as the admin wrote it), the
 * rest one component at a time with O_NOFOLLOW (or in one openat2 with
 * RESOLVE_NO_SYMLINKS). -1 with errno on failure, ELOOP when a component
 * below the trusted part is a symlink; *bad is then the length of the
 * path up to the component that failed, for messages.
 */
static int
walk_open(const char *path, size_t rlen, size_t len, size_t *bad)
{
#if defined(SYS_openat2)
	static int no_openat2;	/* set once: the kernel lacks it */
	struct ag_open_how how;
#endif
	struct stat sb;
	char *b;
	size_t i, j;
	int fd, nfd, err;

	*bad = rlen < len ? rlen : len;
	if ((b = malloc(len + 1)) == NULL)
		return -1;
	memcpy(b, path, len);
	b[len] = '\0';
	if (rlen > len)
		rlen = len;
	b[rlen] = '\0';
	fd = open(rlen > 0 ? b : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rlen < len)
		b[rlen] = path[rlen];
	for (i = rlen; i < len && b[i] == '/'; i++)
		;
	if (fd < 0 || i >= len)
		goto out;
#if defined(SYS_openat2)
	if (!no_openat2) {
		memset(&how, 0, sizeof(how));
		how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
		how.resolve = AG_RESOLVE_NO_SYMLINKS;
		nfd = (int)syscall(SYS_openat2, fd, b + i, &how, sizeof(how));
		if (nfd >= 0) {
			close(fd);
			fd = nfd;
			goto out;
		}
		if (errno == ENOSYS)
			no_openat2 = 1;
		/* else the walk finds (and names) the component at fault */
	}
#endif
	for (;;) {
		for (j = i; j < len && b[j] != '/'; j++)
			;
		b[j] = '\0';
		nfd = openat(fd, b + i, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		err = errno;
		if (nfd < 0 && (err == ENOTDIR || err == ELOOP))
			err = fstatat(fd, b + i, &sb,
			    AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode) ?
			    ELOOP : ENOTDIR;
		close(fd);
		if ((fd = nfd) < 0) {
			*bad = j;
			errno = err;
			break;
		}
		for (i = j + 1; i < len && b[i] == '/'; i++)
			;
		if (i >= len)
			break;
	}
 out:
	err = errno;
	free(b);
	errno = err;
	return fd;
}

/* ---- the plan ----------------------------------------------------------- */

static uint32_t
hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* dir + "/" + name into b ("/" + "x" is "/x"); NULL when out of memory. */
static const char *
path_in(struct buf *b, const char *dir, const char *name)
{
	buf_reset(b);
	if (buf_addstr(b, dir) != 0 || (name != NULL &&
	    ((strcmp(dir, "/") != 0 && buf_addch(b, '/') != 0) ||
	    buf_addstr(b, name) != 0)))
		return NULL;
	return buf_cstr(b);
}

/* Entry i's destination, or (INS_COPY only) source, composed in b. */
static const char *
ins_dst(const struct plan *p, struct buf *b, size_t i)
{
	return path_in(b, p->dirs[p->v[i].dir].dst, p->v[i].name);
}

static const char *
ins_src(const struct plan *p, struct buf *b, size_t i)
{
	return path_in(b, p->dirs[p->v[i].dir].src, p->v[i].name);
}

/* A path for a message: NULL (out of memory) must not reach printf. */
static const char *
msgpath(const char *s)
{
	return s != NULL ? s : "(out of memory)";
}

/* Is entry i's destination dst? Compared in place, nothing composed. */
static int
ins_dst_is(const struct plan *p, size_t i, const char *dst)
{
	const char *dir = p->dirs[p->v[i].dir].dst, *name = p->v[i].name;
	size_t n = strlen(dir);

	if (strncmp(dst, dir, n) != 0)
		return 0;
	if (name == NULL)
		return dst[n] == '\0';
	if (strcmp(dir, "/") != 0 && dst[n++] != '/')
		return 0;
	return strcmp(dst + n, name) == 0;
}

static size_t
plan_find(const struct plan *p, const char *dst, uint32_t h)
{
	size_t i, k;

	if (p->tabcap == 0)
		return NONE;
	for (i = h & (p->tabcap - 1); p->tab[i] != 0;
	    i = (i + 1) & (p->tabcap - 1)) {
		k = p->tab[i] - 1;
		if (p->v[k].hash == h && ins_dst_is(p, k, dst))
			return k;
	}
	return NONE;
}

static int
plan_rehash(struct plan *p)
{
	size_t ncap = p->tabcap ? p->tabcap * 2 : 256, i, j;
	uint32_t *nt;

	if ((nt = calloc(ncap, sizeof(*nt))) == NULL)
		return AG_ENOMEM;
	for (i = 0; i < p->n; i++) {
		for (j = p->v[i].hash & (ncap - 1); nt[j] != 0;
		    j = (j + 1) & (ncap - 1))
			;
		nt[j] = (uint32_t)(i + 1);
	}
	free(p->tab);
	p->tab = nt;
	p->tabcap = ncap;
	return 0;
}

/* A copy of s in the arena; NULL when out of memory. */
static const char *
arena_dup(struct plan *p, const char *s)
{
	struct arena *a = p->arena;
	size_t n = strlen(s) + 1;
	char *d;

	if (a == NULL || a->cap - a->len < n) {
		size_t cap = n > ARENA_BLK ? n : ARENA_BLK;

		if ((a = malloc(sizeof(*a) + cap)) == NULL)
			return NULL;
		a->next = p->arena;
		a->len = 0;
		a->cap = cap;
		p->arena = a;
	}
	d = a->data + a->len;
	memcpy(d, s, n);
	a->len += n;
	return d;
}

/* A directory pair; src NULL for a planned ancestor. */
static int
pdir_add(struct plan *p, const char *src, const char *dst, size_t rlen,
    int fresh, size_t *out, struct err *e)
{
	struct pdir *nd;

	if (p->ndirs == p->dcap) {
		size_t ncap = p->dcap ? p->dcap * 2 : 64;

		if (p->ndirs >= INS_MAX ||
		    (nd = realloc(p->dirs, ncap * sizeof(*nd))) == NULL)
			goto nomem;
		p->dirs = nd;
		p->dcap = ncap;
	}
	nd = &p->dirs[p->ndirs];
	nd->src = NULL;
	nd->fresh = fresh ? 1 : 0;
	nd->rlen = (uint32_t)(rlen < strlen(dst) ? rlen : strlen(dst));
	if ((src != NULL && (nd->src = arena_dup(p, src)) == NULL) ||
	    (nd->dst = arena_dup(p, dst)) == NULL)
		goto nomem;
	*out = p->ndirs++;
	return 0;
 nomem:
	return err_set(e, AG_ENOMEM, "out of memory planning the install");
}

/* Append an instruction; name is in the arena already (or NULL). */
static int
plan_add(struct plan *p, enum ins_kind kind, size_t dir, const char *name,
    uint32_t h, struct ins **out, struct err *e)
{
	struct ins *nv;
	size_t j;

	if (p->n + 1 > p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 64;

		if (p->n >= INS_MAX ||
		    (nv = realloc(p->v, ncap * sizeof(*nv))) == NULL)
			goto nomem;
		p->v = nv;
		p->cap = ncap;
	}
	if ((p->n + 1) * 2 > p->tabcap && plan_rehash(p) != 0)
		goto nomem;
	memset(&p->v[p->n], 0, sizeof(p->v[p->n]));
	p->v[p->n].kind = kind;
	p->v[p->n].dir = (uint32_t)dir;
	p->v[p->n].name = name;
	p->v[p->n].hash = h;
	for (j = h & (p->tabcap - 1); p->tab[j] != 0;
	    j = (j + 1) & (p->tabcap - 1))
		;
	p->tab[j] = (uint32_t)++p->n;
	*out = &p->v[p->n - 1];
	return 0;
 nomem:
	return err_set(e, AG_ENOMEM, "out of memory planning the install");
}

static void
plan_release(struct plan *p)
{
	struct arena *a, *next;
	size_t i;

	for (a = p->arena; a != NULL; a = next) {
		next = a->next;
		free(a);
	}
	for (i = 0; i < p->npr; i++) {
		free(p->pr[i].acc);
		free(p->pr[i].def);
	}
	free(p->v);
	free(p->dirs);
	free(p->tab);
	free(p->pa);
	free(p->pr);
	buf_release(&p->db);
	buf_release(&p->sb);
	buf_release(&p->fb);
	memset(p, 0, sizeof(*p));
}

static int
check_name(const char *dst, struct err *e)
{
	if (strchr(dst, '\n') != NULL)
		return err_set(e, AG_EINVAL, "refusing to install a path "
		    "containing a newline: %s", dst);
	return 0;
}

/*
 * dst is normalised; duplicates are dropped silently (§6.2). dir: its
 * pdir, or NONE to make one (a planned ancestor).
 */
static int
plan_mkdir(struct ctx *c, const char *dst, size_t dir, struct err *e)
{
	struct plan *p = &c->p;
	struct ins *in;
	uint32_t h = hash_str(dst);
	size_t i;
	int r;

	if ((i = plan_find(p, dst, h)) != NONE) {
		if (p->v[i].kind == INS_MKDIR)
			return 0;
		return err_set(e, AG_EINVAL, "The deployment failed because "
		    "the application specification file includes an mkdir "
		    "command more than once for the same destination path "
		    "(%s) from (%s). Update the files section of the AppSpec "
		    "file, and then try again.", dst,
		    msgpath(ins_src(p, &p->fb, i)));
	}
	if (check_name(dst, e) != 0)
		return AG_EINVAL;
	/* a planned ancestor is part of a destination: trusted */
	if (dir == NONE && (r = pdir_add(p, NULL, dst, strlen(dst), 1, &dir,
	    e)) != 0)
		return r;
	return plan_add(p, INS_MKDIR, dir, NULL, h, &in, e);
}

/* Plan mkdir for every missing ancestor of dst, top down. */
static int
plan_ancestors(struct ctx *c, const char *dst, struct err *e)
{
	struct strv miss = STRV_INIT;
	struct stat sb;
	char *q = NULL, *up;
	size_t i;
	int r = 0;

	if ((q = path_dir(dst)) == NULL)
		goto nomem;
	/* stop when dirname(q) == q, i.e. at "/" (§15 row 9) */
	while (strcmp(q, "/") != 0 && stat(q, &sb) != 0) {
		if (strv_push(&miss, q) != 0 || (up = path_dir(q)) == NULL)
			goto nomem;
		free(q);
		q = up;
	}
	for (i = miss.n; i > 0 && r == 0; i--)
		r = plan_mkdir(c, miss.v[i - 1], NONE, e);
	goto out;
 nomem:
	r = err_set(e, AG_ENOMEM, "out of memory");
 out:
	free(q);
	strv_release(&miss);
	return r;
}

/*
 * A symlink installed at name in the directory pair dir must stay inside
 * the entry's destination: a `files` source that is a subdirectory
 * re-roots the bundle's links, and "../../.." from a/b/c would climb out
 * of it. Lexically, its relative target may climb at most as many levels
 * as the link lies below the destination. An absolute target is kept as
 * the Ruby agent does (see install.h).
 */
static int
check_link(struct ctx *c, size_t dir, const char *name, const char *src,
    struct err *e)
{
	const struct pdir *pd = &c->p.dirs[dir];
	char tgt[PATH_MAX], dmsg[PATH_MAX];
	const char *q;
	ssize_t n;
	long depth = 0;

	if ((n = readlink(src, tgt, sizeof(tgt) - 1)) < 0)
		return err_set(e, AG_EIO, "readlink %s: %s", src,
		    strerror(errno));
	tgt[n] = '\0';
	if (tgt[0] == '/')
		return 0;
	for (q = pd->dst + pd->rlen; *q != '\0'; q++)
		if (*q != '/' && (q == pd->dst + pd->rlen || q[-1] == '/'))
			depth++;
	for (q = tgt; *q != '\0'; ) {
		size_t l = strcspn(q, "/");

		if (l == 2 && q[0] == '.' && q[1] == '.') {
			if (--depth < 0) {
				snprintf(dmsg, sizeof(dmsg), "%.*s",
				    (int)pd->rlen, pd->dst);
				return err_set(e, AG_EINVAL, "The deployment "
				    "failed because the symbolic link %s "
				    "(to %s) would point outside the "
				    "destination %s", msgpath(path_in(
				    &c->p.fb, pd->dst, name)), tgt, dmsg);
			}
		} else if (l > 0 && !(l == 1 && q[0] == '.'))
			depth++;
		q += l;
		q += strspn(q, "/");
	}
	return 0;
}

/* §6.2/§6.3: name (in the arena) in the directory pair dir. */
static int
plan_copy(struct ctx *c, size_t dir, const char *name, int link,
    struct err *e)
{
	struct plan *p = &c->p;
	struct ins *in;
	struct stat sb;
	const char *dst, *src;
	uint32_t h;
	size_t i;
	int replace = 0, r;

	if ((dst = path_in(&p->db, p->dirs[dir].dst, name)) == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	/* for messages only */
	src = msgpath(path_in(&p->sb, p->dirs[dir].src, name));
	h = hash_str(dst);
	if ((i = plan_find(p, dst, h)) != NONE) {
		if (p->v[i].kind == INS_COPY)
			return err_set(e, AG_EINVAL, "The deployment failed "
			    "because the application specification file "
			    "specifies two source files named %s and %s for "
			    "the same destination (%s). Remove one of the "
			    "source file paths from the AppSpec file, and then "
			    "try again.", src, msgpath(ins_src(p, &p->fb, i)),
			    dst);
		return err_set(e, AG_EINVAL, "The deployment failed "
		    "because the application specification file calls "
		    "for installing the file %s, but a file with that "
		    "name already exists at the location (%s). Update "
		    "your AppSpec file or directory structure, and "
		    "then try again.", src, dst);
	}
	if ((r = check_name(dst, e)) != 0 ||
	    (link && (r = check_link(c, dir, name, src, e)) != 0))
		return r;
	if (p->dirs[dir].fresh)
		;	/* its directory is yet to be made: nothing exists */
	else if (lstat(dst, &sb) == 0) {
		switch (c->o->feb) {
		case FEB_UNSET:
		case FEB_DISALLOW:
			return err_set(e, AG_EINVAL, "The deployment failed "
			    "because a specified file already exists at this "
			    "location: %s", dst);
		case FEB_OVERWRITE:
			if (S_ISDIR(sb.st_mode))
				return err_set(e, AG_EINVAL, "The deployment "
				    "failed because a directory exists where "
				    "the file %s is to be installed, and "
				    "OVERWRITE replaces only files and "
				    "symbolic links: %s", src, dst);
			replace = 1;
			break;
		case FEB_RETAIN:
			c->st->skipped++;
			return 0;
		default:
			return err_set(e, AG_EINVAL, "The deployment failed "
			    "because an invalid option was specified for "
			    "fileExistsBehavior: %d. Valid options include "
			    "OVERWRITE, RETAIN, and DISALLOW.", (int)c->o->feb);
		}
	} else if (errno != ENOENT && errno != ENOTDIR)
		return err_set(e, AG_EIO, "lstat %s: %s", dst,
		    strerror(errno));
	if ((r = plan_add(p, INS_COPY, dir, name, h, &in, e)) != 0)
		return r;
	in->src_link = link ? 1 : 0;
	in->replace = replace ? 1 : 0;
	return 0;
}

static int
cmp_dent(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name,
	    ((const struct dent *)b)->name);
}

static int plan_dir(struct ctx *, const char *, const char *,
    const struct walk *, struct err *);

/*
 * One entry of the directory pair dir: recurse, or plan a copy. The type
 * comes from readdir, so a regular file costs no system call here.
 */
static int
plan_child(struct ctx *c, size_t dir, const struct dent *de,
    const struct walk *up, struct err *e)
{
	struct stat sb;
	char *cs = NULL, *cd = NULL;
	unsigned char t = de->type;
	int r;

	if (t == DT_REG)
		return plan_copy(c, dir, de->name, 0, e);
	if ((cs = path_child(c->p.dirs[dir].src, de->name)) == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	if (t == DT_UNKNOWN) {
		if (lstat(cs, &sb) != 0) {
			r = err_set(e, AG_EIO, "lstat %s: %s", cs,
			    strerror(errno));
			goto out;
		}
		t = (unsigned char)IFTODT(sb.st_mode);
	}
	if (t == DT_LNK && !c->o->preserve_symlinks &&
	    stat(cs, &sb) == 0 && S_ISDIR(sb.st_mode))
		t = DT_DIR;	/* materialise (Ruby 1.8, issue #152) */
	if (t == DT_DIR) {
		if ((cd = path_child(c->p.dirs[dir].dst, de->name)) == NULL)
			r = err_set(e, AG_ENOMEM, "out of memory");
		else
			r = plan_dir(c, cs, cd, up, e);
	} else if (t == DT_REG || t == DT_LNK)
		r = plan_copy(c, dir, de->name, t == DT_LNK, e);
	else
		r = err_set(e, AG_EINVAL, "%s in the revision is not a "
		    "regular file, directory or symbolic link", cs);
 out:
	free(cs);
	free(cd);
	return r;
}

static int
plan_dir(struct ctx *c, const char *src, const char *dst,
    const struct walk *up, struct err *e)
{
	struct dent *v = NULL, *nv;
	struct walk w;
	struct dirent *de;
	struct stat sb;
	const struct walk *a;
	DIR *d = NULL;
	size_t n = 0, cap = 0, i, pd;
	int r = 0, fresh = 0, below;

	if (stat(src, &sb) != 0)
		return err_set(e, AG_EIO, "stat %s: %s", src, strerror(errno));
	for (a = up; a != NULL; a = a->up)
		if (a->dev == sb.st_dev && a->ino == sb.st_ino)
			return err_set(e, AG_EINVAL, "%s in the revision loops "
			    "back to one of its parent directories", src);
	w.dev = sb.st_dev;
	w.ino = sb.st_ino;
	w.up = up;
	w.depth = up != NULL ? up->depth + 1 : 0;
	if (w.depth > WALK_DEPTH_MAX)
		return err_set(e, AG_EINVAL, "%s is nested too deeply", src);

	/* the destination itself may be a symlink; below it, never */
	below = strlen(dst) > c->rlen;
	if ((below ? lstat(dst, &sb) : stat(dst, &sb)) != 0 ||
	    !S_ISDIR(sb.st_mode)) {
		if (lstat(dst, &sb) == 0 &&
		    plan_find(&c->p, dst, hash_str(dst)) == NONE) {
			if (below && S_ISLNK(sb.st_mode))
				return err_set(e, AG_EINVAL, "The deployment "
				    "failed because %s is a symbolic link "
				    "where the directory is to be installed "
				    "below the destination %.*s: it is not "
				    "followed", dst, (int)c->rlen, dst);
			return err_set(e, AG_EINVAL, "The deployment failed "
			    "because a file that is not a directory exists "
			    "where the directory %s is to be created", dst);
		}
		fresh = 1;
	}
	if ((r = pdir_add(&c->p, src, dst, c->rlen, fresh, &pd, e)) != 0 ||
	    (fresh && (r = plan_mkdir(c, dst, pd, e)) != 0))
		return r;
	if ((d = opendir(src)) == NULL)
		return err_set(e, AG_EIO, "opendir %s: %s", src,
		    strerror(errno));
	while (errno = 0, (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL)
				goto nomem;
			v = nv;
		}
		if ((v[n].name = arena_dup(&c->p, de->d_name)) == NULL)
			goto nomem;
		v[n++].type = de->d_type;
	}
	if (errno != 0) {
		r = err_set(e, AG_EIO, "readdir %s: %s", src, strerror(errno));
		goto out;
	}
	closedir(d);
	d = NULL;
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_dent);
	for (i = 0; i < n && r == 0; i++)
		r = plan_child(c, pd, &v[i], &w, e);
	goto out;
 nomem:
	r = err_set(e, AG_ENOMEM, "out of memory");
 out:
	if (d != NULL)
		closedir(d);
	free(v);
	return r;
}

static int
plan_files(struct ctx *c, const char *archive, struct err *e)
{
	const struct appspec *as = c->o->spec;
	struct stat sb;
	char *rel = NULL, *src = NULL, *dst = NULL, *fdst = NULL;
	const char *nm;
	char *sdir = NULL;
	size_t i, k, pd;
	mode_t lmode;
	int r = 0, isdir;

	for (i = 0; i < as->n_files && r == 0; i++) {
		const struct appspec_file *f = &as->files[i];

		if (f->source == NULL || f->destination == NULL)
			return err_set(e, AG_EINVAL, "files entry %zu has no "
			    "source or destination", i + 1);
		/* "/" + source, normalised: "/", "./x", "../x" stay inside */
		if ((fdst = path_child("/", f->source)) == NULL ||
		    (rel = path_norm(fdst)) == NULL ||
		    (src = strcmp(rel, "/") == 0 ? strdup(archive) :
		    util_path_join(archive, rel + 1)) == NULL ||
		    (dst = path_abs(f->destination)) == NULL)
			goto nomem;
		free(fdst);
		fdst = NULL;
		if (lstat(src, &sb) != 0) {
			r = err_set(e, AG_EINVAL, "The deployment failed "
			    "because the source %s named in the files section "
			    "of the AppSpec file does not exist in the "
			    "revision", f->source);
			goto out;
		}
		lmode = sb.st_mode;
		isdir = S_ISDIR(sb.st_mode);
		if (S_ISLNK(sb.st_mode) && !c->o->preserve_symlinks &&
		    stat(src, &sb) == 0 && S_ISDIR(sb.st_mode))
			isdir = 1;
		if (isdir) {
			c->rlen = strlen(dst);
			if ((r = plan_ancestors(c, dst, e)) == 0)
				r = plan_dir(c, src, dst, NULL, e);
		} else {
			if ((fdst = path_child(dst, path_base(src))) == NULL ||
			    (sdir = path_dir(src)) == NULL)
				goto nomem;
			if ((r = plan_ancestors(c, fdst, e)) != 0)
				goto out;
			if (!S_ISLNK(lmode) && !S_ISREG(lmode)) {
				r = err_set(e, AG_EINVAL, "%s in the revision "
				    "is not a regular file, directory or "
				    "symbolic link", src);
				goto out;
			}
			k = plan_find(&c->p, dst, hash_str(dst));
			if ((nm = arena_dup(&c->p, path_base(src))) == NULL)
				goto nomem;
			if ((r = pdir_add(&c->p, sdir, dst, strlen(dst),
			    k != NONE &&
			    c->p.v[k].kind == INS_MKDIR, &pd, e)) == 0)
				r = plan_copy(c, pd, nm, S_ISLNK(lmode), e);
		}
		free(rel);
		free(src);
		free(dst);
		free(fdst);
		free(sdir);
		rel = src = dst = fdst = sdir = NULL;
	}
	goto out;
 nomem:
	r = err_set(e, AG_ENOMEM, "out of memory");
 out:
	free(rel);
	free(src);
	free(dst);
	free(fdst);
	free(sdir);
	return r;
}

/* ---- permissions: plan ---------------------------------------------------- */

static int
name_id(const char *name, int group, uint32_t *id, struct err *e)
{
	struct plat_user u;
	long long v;
	int r;

	r = group ? plat_group_lookup(name, id, e) :
	    plat_user_lookup(name, &u, e);
	if (r == AG_EINVAL &&
	    util_parse_ll(name, 0, (long long)ACL_UNDEF_ID - 1, &v) == 0) {
		*id = (uint32_t)v;	/* numeric ids, as setfacl takes */
		err_clear(e);
		return 0;
	}
	if (r == 0 && !group)
		*id = u.uid;
	return r;
}

/* "[default:]type:name:perms" as normalised by appspec.c (§5.4). */
static int
acl_parse(const char *ace, struct acl_ent *out, int *is_def, struct err *e)
{
	char f[3][256];
	const char *s = ace, *c;
	int nf = 0, r;
	unsigned perm = 0;

	*is_def = 0;
	if (strncmp(s, "default:", 8) == 0 || strncmp(s, "d:", 2) == 0) {
		*is_def = 1;
		s = strchr(s, ':') + 1;
	}
	for (; nf < 3; nf++) {
		c = nf < 2 ? strchr(s, ':') : s + strlen(s);
		if (c == NULL || (size_t)(c - s) >= sizeof(f[0]))
			goto bad;
		memcpy(f[nf], s, (size_t)(c - s));
		f[nf][c - s] = '\0';
		s = *c != '\0' ? c + 1 : c;
	}
	if (f[2][0] >= '0' && f[2][0] <= '7' && f[2][1] == '\0')
		perm = (unsigned)(f[2][0] - '0');
	else
		for (c = f[2]; *c != '\0'; c++) {
			if (*c == 'r')
				perm |= 4;
			else if (*c == 'w')
				perm |= 2;
			else if (*c == 'x')
				perm |= 1;
			else if (*c != '-')
				goto bad;
		}
	out->perm = (uint16_t)perm;
	out->id = ACL_UNDEF_ID;
	if (strcmp(f[0], "user") == 0 || strcmp(f[0], "u") == 0) {
		out->tag = f[1][0] ? ACL_USER : ACL_USER_OBJ;
		if (f[1][0] && (r = name_id(f[1], 0, &out->id, e)) != 0)
			return err_prefix(e, "acl %s", ace);
	} else if (strcmp(f[0], "group") == 0 || strcmp(f[0], "g") == 0) {
		out->tag = f[1][0] ? ACL_GROUP : ACL_GROUP_OBJ;
		if (f[1][0] && (r = name_id(f[1], 1, &out->id, e)) != 0)
			return err_prefix(e, "acl %s", ace);
	} else if (strcmp(f[0], "mask") == 0 || strcmp(f[0], "m") == 0)
		out->tag = ACL_MASK;
	else if (strcmp(f[0], "other") == 0 || strcmp(f[0], "o") == 0)
		out->tag = ACL_OTHER;
	else
		goto bad;
	return 0;
 bad:
	return err_set(e, AG_EINVAL, "invalid acl entry %s", ace);
}

static int
perm_resolve(struct ctx *c, size_t k, struct err *e)
{
	const struct appspec_perm *pm = &c->o->spec->perms[k];
	struct perm_res *pr = &c->p.pr[k];
	struct acl_ent ent;
	size_t i;
	int r, def;

	if (pr->resolved)
		return 0;
	if (pm->owner != NULL) {
		if ((r = name_id(pm->owner, 0, &pr->uid, e)) != 0)
			return err_prefix(e, "owner of %s", pm->object);
		pr->has_uid = 1;
	}
	if (pm->group != NULL) {
		if ((r = name_id(pm->group, 1, &pr->gid, e)) != 0)
			return err_prefix(e, "group of %s", pm->object);
		pr->has_gid = 1;
	}
	if (pm->n_acls > 0 &&
	    ((pr->acc = calloc(pm->n_acls, sizeof(*pr->acc))) == NULL ||
	    (pr->def = calloc(pm->n_acls, sizeof(*pr->def))) == NULL))
		return err_set(e, AG_ENOMEM, "out of memory");
	for (i = 0; i < pm->n_acls; i++) {
		if ((r = acl_parse(pm->acls[i], &ent, &def, e)) != 0)
			return r;
		if (def)
			pr->def[pr->ndef++] = ent;
		else
			pr->acc[pr->nacc++] = ent;
	}
	pr->resolved = 1;
	return 0;
}

static int
perm_has_default(const struct appspec_perm *pm)
{
	size_t i;

	for (i = 0; i < pm->n_acls; i++)
		if (strncmp(pm->acls[i], "default:", 8) == 0 ||
		    strncmp(pm->acls[i], "d:", 2) == 0)
			return 1;
	return pm->acl_has_default;
}

static int
perm_target(struct ctx *c, size_t i, size_t k, struct err *e)
{
	struct plan *p = &c->p;
	struct papply *np;
	int r;

	if (p->v[i].has_perm)
		return err_set(e, AG_EINVAL, "The deployment failed because "
		    "the permissions setting for (%s) is specified more than "
		    "once in the application specification file. Update the "
		    "files section of the AppSpec file, and then try again.",
		    msgpath(ins_dst(p, &p->fb, i)));
	if (p->v[i].kind == INS_COPY &&
	    perm_has_default(&c->o->spec->perms[k]))
		return err_set(e, AG_EINVAL, "The deployment failed because "
		    "the -d parameter has been specified to apply an acl "
		    "setting to a file. This parameter is supported for "
		    "directories only. Update the AppSpec file, and then try "
		    "again. (%s)", msgpath(ins_dst(p, &p->fb, i)));
	if ((r = perm_resolve(c, k, e)) != 0)
		return r;
	if (p->npa == p->pacap) {
		size_t ncap = p->pacap ? p->pacap * 2 : 32;

		if ((np = realloc(p->pa, ncap * sizeof(*np))) == NULL)
			return err_set(e, AG_ENOMEM, "out of memory");
		p->pa = np;
		p->pacap = ncap;
	}
	p->pa[p->npa].ins = (uint32_t)i;
	p->pa[p->npa].perm = (uint32_t)k;
	p->npa++;
	p->v[i].has_perm = 1;
	return 0;
}

/* Does dst fall under base ("<object>/") by the pattern rule of §6.5? */
static int
perm_matches(const struct appspec_perm *pm, const char *base, size_t blen,
    const char *dst)
{
	const char *rel;
	size_t j;

	if (strncmp(dst, base, blen) != 0 || dst[blen] == '\0')
		return 0;
	rel = dst + blen;
	if (pm->pattern != NULL && strcmp(pm->pattern, "**") != 0 &&
	    !appspec_glob_match(pm->pattern, rel))
		return 0;
	for (j = 0; j < pm->n_except; j++)
		if (appspec_glob_match(pm->except[j], rel))
			return 0;
	return 1;
}

/* Make entry i a target of permission k if it falls under base. */
static int
perm_try(struct ctx *c, size_t i, size_t k, const char *base, size_t blen,
    struct err *e)
{
	const char *dst = ins_dst(&c->p, &c->p.db, i);

	if (dst == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	if (!perm_matches(&c->o->spec->perms[k], base, blen, dst))
		return 0;
	return perm_target(c, i, k, e);
}

static int
plan_perms(struct ctx *c, struct err *e)
{
	const struct appspec *as = c->o->spec;
	struct plan *p = &c->p;
	struct stat sb;
	char *obj = NULL, *base = NULL;
	size_t k, i, j, blen;
	unsigned types;
	int r = 0, kind;

	if (as->n_perms == 0)
		return 0;
	if ((p->pr = calloc(as->n_perms, sizeof(*p->pr))) == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	p->npr = as->n_perms;
	for (k = 0; k < as->n_perms && r == 0; k++) {
		const struct appspec_perm *pm = &as->perms[k];

		types = pm->types ? pm->types : APPSPEC_T_FILE | APPSPEC_T_DIR;
		if (pm->object == NULL || pm->object[0] == '\0')
			return err_set(e, AG_EINVAL, "The deployment failed "
			    "because a permission listed in the application "
			    "specification file has no object value. Update "
			    "the permissions section of the AppSpec file, and "
			    "then try again.");
		for (j = 0; j < pm->n_except; j++)
			if (strchr(pm->except[j], '/') != NULL)
				log_warn("permissions for %s: except value %s "
				    "contains '/' and never matches",
				    pm->object, pm->except[j]);
		if ((obj = path_abs(pm->object)) == NULL)
			return err_set(e, AG_ENOMEM, "out of memory");
		i = plan_find(p, obj, hash_str(obj));
		kind = i != NONE ? (int)p->v[i].kind : -1;
		if (kind == INS_COPY) {
			if (!(types & APPSPEC_T_FILE))
				goto next;
			if (pm->pattern != NULL &&
			    strcmp(pm->pattern, "**") != 0) {
				r = err_set(e, AG_EINVAL, "The deployment "
				    "failed because the application "
				    "specification file includes an object "
				    "(%s) with an invalid pattern (%s), such "
				    "as a pattern for a file applied to a "
				    "directory. Correct the permissions "
				    "section of the AppSpec file, and then try "
				    "again.", pm->object, pm->pattern);
				goto next;
			}
			if (pm->n_except > 0) {
				r = err_set(e, AG_EINVAL, "The deployment "
				    "failed because the except parameter for "
				    "a pattern in the permissions section "
				    "(%s%s) for the object named %s contains "
				    "an invalid format. Update the AppSpec "
				    "file, and then try again.", pm->except[0],
				    pm->n_except > 1 ? ", ..." : "",
				    pm->object);
				goto next;
			}
			r = perm_target(c, i, k, e);
		} else if (kind == INS_MKDIR ||
		    (stat(obj, &sb) == 0 && S_ISDIR(sb.st_mode))) {
			base = strcmp(obj, "/") == 0 ? strdup("/") :
			    path_child(obj, "");
			if (base == NULL) {
				r = err_set(e, AG_ENOMEM, "out of memory");
				goto next;
			}
			blen = strlen(base);
			/* files first, then directories, in plan order */
			for (i = 0; (types & APPSPEC_T_FILE) && i < p->n &&
			    r == 0; i++)
				if (p->v[i].kind == INS_COPY)
					r = perm_try(c, i, k, base, blen, e);
			for (i = 0; (types & APPSPEC_T_DIR) && i < p->n &&
			    r == 0; i++)
				if (p->v[i].kind == INS_MKDIR)
					r = perm_try(c, i, k, base, blen, e);
		}
 next:
		free(obj);
		free(base);
		obj = base = NULL;
	}
	return r;
}

/* ---- install.json ------------------------------------------------------- */

/*
 * install.json is written entry by entry, as the plan is walked, into a
 * temporary file renamed over the old one: its size costs no memory. The
 * text is what jansson's JSON_COMPACT gave for the whole tree.
 */
struct jw {
	struct buf b;
	int fd;
	int err;		/* errno of the first failed write */
	int nomem;
	size_t n;		/* instructions written */
};

static void
jw_flush(struct jw *w)
{
	size_t off = 0;
	ssize_t n;

	while (off < w->b.len && w->err == 0) {
		if ((n = write(w->fd, w->b.ptr + off, w->b.len - off)) < 0) {
			if (errno != EINTR)
				w->err = errno;
			continue;
		}
		off += (size_t)n;
	}
	buf_reset(&w->b);
}

static void
jw_raw(struct jw *w, const char *s, size_t n)
{
	if (buf_add(&w->b, s, n) != 0)
		w->nomem = 1;
}

/* s must be a string literal: "" s does not compile otherwise */
#define JW_LIT(w, s) jw_raw((w), "" s, sizeof(s) - 1)

/* Valid UTF-8 as jansson takes it: no overlong forms, no surrogates. */
static int
utf8_valid(const unsigned char *s)
{
	uint32_t cp;
	int n, k;

	while (*s != '\0') {
		if (*s < 0x80) {
			s++;
			continue;
		}
		if (*s < 0xc2 || *s > 0xf4)
			return 0;
		n = *s >= 0xf0 ? 3 : *s >= 0xe0 ? 2 : 1;
		cp = *s & (0x3fu >> n);
		for (k = 1; k <= n; k++) {
			if ((s[k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[k] & 0x3fu);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		s += n + 1;
	}
	return 1;
}

/* A JSON string, or null; not UTF-8: bytes >= 0x80 become '?'. */
static void
jw_str(struct jw *w, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *u = (const unsigned char *)s, *run;
	char esc[6] = { '\\', 'u', '0', '0' };
	unsigned char ch;
	int utf8;

	if (s == NULL) {
		JW_LIT(w, "null");
		return;
	}
	utf8 = utf8_valid(u);
	JW_LIT(w, "\"");
	for (;;) {
		for (run = u; *u >= 0x20 && *u != '"' && *u != '\\' &&
		    (utf8 || *u < 0x80); u++)
			;
		jw_raw(w, (const char *)run, (size_t)(u - run));
		if ((ch = *u++) == '\0')
			break;
		switch (ch) {
		case '"':	JW_LIT(w, "\\\""); break;
		case '\\':	JW_LIT(w, "\\\\"); break;
		case '\b':	JW_LIT(w, "\\b"); break;
		case '\f':	JW_LIT(w, "\\f"); break;
		case '\n':	JW_LIT(w, "\\n"); break;
		case '\r':	JW_LIT(w, "\\r"); break;
		case '\t':	JW_LIT(w, "\\t"); break;
		default:
			if (ch >= 0x80) {
				JW_LIT(w, "?");
				break;
			}
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
			jw_raw(w, esc, sizeof(esc));
		}
	}
	JW_LIT(w, "\"");
}

/* {"type":"<type>", then jw_key + value pairs, then jw_end; plain ASCII. */
static void
jw_begin(struct jw *w, const char *type)
{
	if (w->n++ > 0)
		JW_LIT(w, ",");
	JW_LIT(w, "{\"type\":\"");
	jw_raw(w, type, strlen(type));
	JW_LIT(w, "\"");
}

static void
jw_key(struct jw *w, const char *key)
{
	JW_LIT(w, ",\"");
	jw_raw(w, key, strlen(key));
	JW_LIT(w, "\":");
}

static void
jw_end(struct jw *w)
{
	JW_LIT(w, "}");
	if (w->b.len >= JSON_FLUSH)
		jw_flush(w);
}

static void
json_perm(struct jw *w, const struct appspec_perm *pm, const char *file)
{
	const struct appspec_context *cx = pm->context;
	char mode[16];
	size_t i;

	if (pm->mode >= 0) {
		snprintf(mode, sizeof(mode), "%04o", (unsigned)pm->mode);
		jw_begin(w, "chmod");
		jw_key(w, "mode");
		jw_str(w, mode);
		jw_key(w, "file");
		jw_str(w, file);
		jw_end(w);
	}
	if (pm->n_acls > 0) {
		jw_begin(w, "setfacl");
		jw_key(w, "acl");
		JW_LIT(w, "[");
		for (i = 0; i < pm->n_acls; i++) {
			if (i > 0)
				JW_LIT(w, ",");
			jw_str(w, pm->acls[i]);
		}
		JW_LIT(w, "]");
		jw_key(w, "file");
		jw_str(w, file);
		jw_end(w);
	}
	if (cx != NULL) {
		jw_begin(w, "semanage");
		jw_key(w, "context");
		JW_LIT(w, "{\"user\":");
		jw_str(w, cx->user);
		JW_LIT(w, ",\"role\":null,\"type\":");
		jw_str(w, cx->type);
		JW_LIT(w, ",\"range\":");
		jw_str(w, cx->range);
		JW_LIT(w, "}");
		jw_key(w, "file");
		jw_str(w, file);
		jw_end(w);
	}
	if (pm->owner != NULL || pm->group != NULL) {
		jw_begin(w, "chown");
		jw_key(w, "owner");
		jw_str(w, pm->owner);
		jw_key(w, "group");
		jw_str(w, pm->group);
		jw_key(w, "file");
		jw_str(w, file);
		jw_end(w);
	}
}

/* Write path atomically, as plat_fs_write_atomic() would. */
static int
write_json(struct ctx *c, const char *path, struct err *e)
{
	struct plan *p = &c->p;
	struct jw w = { BUF_INIT(BUF_MAX_DEFAULT), -1, 0, 0, 0 };
	struct buf tmp = BUF_INIT(PATH_BUF);
	const char *src, *dst;
	size_t i;
	int r = 0, dfd;

	if (buf_addf(&tmp, "%s.tmp.XXXXXX", path) != 0)
		goto nomem;
	if ((w.fd = mkostemp(tmp.ptr, O_CLOEXEC)) < 0) {
		r = err_set(e, AG_EIO, "create %s: %s", tmp.ptr,
		    strerror(errno));
		buf_reset(&tmp);	/* nothing to unlink */
		goto out;
	}
	JW_LIT(&w, "{\"instructions\":[");
	for (i = 0; i < p->n && !w.nomem; i++) {
		const struct ins *in = &p->v[i];

		if ((dst = ins_dst(p, &p->db, i)) == NULL)
			goto nomem;
		if (in->kind == INS_COPY) {
			if ((src = ins_src(p, &p->sb, i)) == NULL)
				goto nomem;
			jw_begin(&w, "copy");
			jw_key(&w, "source");
			jw_str(&w, src);
			jw_key(&w, "destination");
			jw_str(&w, dst);
		} else {
			jw_begin(&w, "mkdir");
			jw_key(&w, "directory");
			jw_str(&w, dst);
		}
		jw_end(&w);
	}
	for (i = 0; i < p->npa && !w.nomem; i++) {
		if ((dst = ins_dst(p, &p->db, p->pa[i].ins)) == NULL)
			goto nomem;
		json_perm(&w, &c->o->spec->perms[p->pa[i].perm], dst);
	}
	JW_LIT(&w, "]}");
	if (w.nomem)
		goto nomem;
	jw_flush(&w);
	if (w.err != 0) {
		r = err_set(e, AG_EIO, "write %s: %s", tmp.ptr,
		    strerror(w.err));
		goto out;
	}
	if (fchmod(w.fd, 0644) != 0 || fsync(w.fd) != 0) {
		r = err_set(e, AG_EIO, "sync %s: %s", tmp.ptr, strerror(errno));
		goto out;
	}
	if (close(w.fd) != 0) {
		w.fd = -1;
		r = err_set(e, AG_EIO, "close %s: %s", tmp.ptr,
		    strerror(errno));
		goto out;
	}
	w.fd = -1;
	if (rename(tmp.ptr, path) != 0) {
		r = err_set(e, AG_EIO, "rename %s to %s: %s", tmp.ptr, path,
		    strerror(errno));
		goto out;
	}
	buf_reset(&tmp);	/* renamed */
	/* the rename itself, durable (best effort, as the platform does) */
	if ((dfd = open(c->o->instructions_dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	goto out;
 nomem:
	r = err_set(e, AG_ENOMEM, "out of memory writing %s", path);
 out:
	if (w.fd >= 0)
		close(w.fd);
	if (tmp.len > 0)
		unlink(tmp.ptr);
	buf_release(&tmp);
	buf_release(&w.b);
	return r;
}

/* ---- running semanage / restorecon ---------------------------------------- */

/* The executable name is found on PATH here, before fork. */
static char *
find_in_path(const char *name)
{
	const char *path = getenv("PATH"), *s, *c;
	char *cand;
	size_t n;

	if (path == NULL)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
		    "/sbin:/bin";
	for (s = path; ; s = c + 1) {
		c = strchr(s, ':');
		n = c != NULL ? (size_t)(c - s) : strlen(s);
		if (n > 0 && n < PATH_MAX) {
			char dir[PATH_MAX];

			memcpy(dir, s, n);
			dir[n] = '\0';
			if ((cand = util_path_join(dir, name)) == NULL)
				return NULL;
			if (access(cand, X_OK) == 0)
				return cand;
			free(cand);
		}
		if (c == NULL)
			return NULL;
	}
}

/*
 * Run argv (no shell), stdin from /dev/null, stdout and stderr into a pipe
 * of which the last line is kept in tail. *status: the exit code, or 128 +
 * signal. AG_ENOTSUP when argv[0] is not on PATH.
 */
static int
run_argv(char *const argv[], int *status, char *tail, size_t tailsz,
    struct err *e)
{
	char *exe = NULL, rb[4096];
	struct sigaction sa;
	sigset_t none;
	int op[2] = { -1, -1 }, ep[2] = { -1, -1 }, ws, cerr = 0, nul, r = 0;
	int sig;
	size_t tl = 0;
	ssize_t n;
	pid_t pid;

	tail[0] = '\0';
	sigemptyset(&none);
	if ((exe = find_in_path(argv[0])) == NULL)
		return err_set(e, AG_ENOTSUP, "%s is not installed", argv[0]);
	if (pipe2(op, O_CLOEXEC) != 0 || pipe2(ep, O_CLOEXEC) != 0) {
		r = err_set(e, AG_EIO, "pipe: %s", strerror(errno));
		goto out;
	}
	if ((pid = fork()) < 0) {
		r = err_set(e, AG_EIO, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		/* child: async-signal-safe calls only */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		for (sig = 1; sig < NSIG; sig++)
			(void)sigaction(sig, &sa, NULL); /* some refuse */
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* dup2 clears CLOEXEC on fd 0; open may return 0 itself */
		if ((nul = open("/dev/null", O_RDONLY | O_CLOEXEC)) == 0)
			fcntl(0, F_SETFD, 0);
		else if (nul > 0)
			dup2(nul, 0);
		dup2(op[1], 1);
		dup2(op[1], 2);
		execv(exe, argv);
		cerr = errno;
		n = write(ep[1], &cerr, sizeof(cerr));
		_exit(127);
	}
	close(op[1]);
	close(ep[1]);
	op[1] = ep[1] = -1;
	while ((n = read(ep[0], &cerr, sizeof(cerr))) < 0 && errno == EINTR)
		;
	for (;;) {
		n = read(op[0], rb, sizeof(rb));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		/* keep the newest tailsz - 1 bytes */
		if ((size_t)n >= tailsz - 1) {
			memcpy(tail, rb + (size_t)n - (tailsz - 1), tailsz - 1);
			tl = tailsz - 1;
		} else {
			if (tl + (size_t)n > tailsz - 1) {
				size_t drop = tl + (size_t)n - (tailsz - 1);

				memmove(tail, tail + drop, tl - drop);
				tl -= drop;
			}
			memcpy(tail + tl, rb, (size_t)n);
			tl += (size_t)n;
		}
	}
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR) {
			r = err_set(e, AG_EIO, "waitpid: %s", strerror(errno));
			goto out;
		}
	if (cerr != 0) {
		r = err_set(e, AG_EIO, "exec %s: %s", exe, strerror(cerr));
		goto out;
	}
	*status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	/* last non-empty line only */
	while (tl > 0 && (tail[tl - 1] == '\n' || tail[tl - 1] == '\r'))
		tl--;
	tail[tl] = '\0';
	if ((n = (ssize_t)tl) > 0) {
		char *nl = memrchr(tail, '\n', tl);

		if (nl != NULL)
			memmove(tail, nl + 1, strlen(nl + 1) + 1);
	}
 out:
	if (op[0] >= 0)
		close(op[0]);
	if (op[1] >= 0)
		close(op[1]);
	if (ep[0] >= 0)
		close(ep[0]);
	if (ep[1] >= 0)
		close(ep[1]);
	free(exe);
	return r;
}

/* ---- cleanup of the previous install ---------------------------------- */

/* The parent directory of the last cleanup line, kept open. */
struct rmdir_cache {
	char *path;		/* owned; NULL: none */
	int fd;
};

/*
 * Remove path, an absolute path from the cleanup file, without following
 * any symlink on the way: its parent is opened from "/" one component at
 * a time with O_NOFOLLOW, then the entry is removed relative to it. A
 * symlink among the parents (an installed directory replaced by a link
 * meanwhile) skips the line with a warning.
 */
static int
remove_path(struct rmdir_cache *rc, const char *path, struct err *e)
{
	const char *base = path_base(path);
	size_t plen = (size_t)(base - path), bad;
	struct stat sb;
	int fd;

	if (*base == '\0' || strcmp(base, ".") == 0 ||
	    strcmp(base, "..") == 0)
		return 0;	/* never written by install */
	if (plen > 1)
		plen--;		/* the parent without its trailing '/' */
	if (rc->path == NULL || strlen(rc->path) != plen ||
	    memcmp(rc->path, path, plen) != 0) {
		if (rc->fd >= 0)
			close(rc->fd);
		free(rc->path);
		rc->path = NULL;
		if ((rc->fd = walk_open(path, 1, plen, &bad)) < 0) {
			if (errno == ENOENT || errno == ENOTDIR)
				return 0;
			if (errno == ELOOP) {
				log_warn("not removing %s: %.*s is a symbolic "
				    "link now, which is not followed", path,
				    (int)bad, path);
				return 0;
			}
			return err_set(e, AG_EIO, "open %.*s: %s", (int)plen,
			    path, strerror(errno));
		}
		if ((rc->path = strndup(path, plen)) == NULL)
			return err_set(e, AG_ENOMEM, "out of memory");
	}
	fd = rc->fd;
	if (fstatat(fd, base, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return err_set(e, AG_EIO, "lstat %s: %s", path,
		    strerror(errno));
	}
	if (S_ISDIR(sb.st_mode)) {
		if (unlinkat(fd, base, AT_REMOVEDIR) != 0 &&
		    errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
			return err_set(e, AG_EIO, "rmdir %s: %s", path,
			    strerror(errno));
	} else if (unlinkat(fd, base, 0) != 0 && errno != ENOENT)
		return err_set(e, AG_EIO, "unlink %s: %s", path,
		    strerror(errno));
	return 0;
}

static void
semanage_delete(const char *path)
{
	char *argv[] = { "semanage", "fcontext", "-d", NULL, NULL };
	struct err e = ERR_INIT;
	char tail[256];
	int status = 0;

	argv[3] = (char *)path;
	if (run_argv(argv, &status, tail, sizeof(tail), &e) != 0)
		log_warn("semanage fcontext -d %s: %s", path, e.msg);
	else if (status != 0)
		log_warn("semanage fcontext -d %s: exit %d: %s", path, status,
		    tail);
}

static int
cleanup_previous(const char *cpath, struct err *e)
{
	struct buf b = BUF_INIT(CLEANUP_MAX);
	struct rmdir_cache rc = { NULL, -1 };
	struct stat sb;
	char *line, *nl;
	size_t end, len;
	int r = 0;

	if (lstat(cpath, &sb) != 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(e, AG_EIO, "lstat %s: %s", cpath,
		    strerror(errno));
	}
	if ((r = buf_read_file(&b, cpath, e)) != 0)
		goto out;
	/* drop an unterminated last line: a torn write */
	nl = b.len > 0 ? memrchr(b.ptr, '\n', b.len) : NULL;
	end = nl != NULL ? (size_t)(nl - b.ptr) : 0;	/* at a '\n' */
	while (nl != NULL && r == 0) {
		b.ptr[end] = '\0';
		nl = end > 0 ? memrchr(b.ptr, '\n', end) : NULL;
		line = nl != NULL ? nl + 1 : b.ptr;
		len = end - (size_t)(line - b.ptr);
		end = nl != NULL ? (size_t)(nl - b.ptr) : 0;
		if (len > 9 && memcmp(line, "semanage\0", 9) == 0) {
			if (memchr(line + 9, '\0', len - 9) == NULL)
				semanage_delete(line + 9);
			continue;
		}
		if (len == 0)
			continue;
		if (line[0] != '/' || memchr(line, '\0', len) != NULL) {
			log_warn("%s: ignoring a line that is not an absolute "
			    "path", cpath);
			continue;
		}
		r = remove_path(&rc, line, e);
	}
	if (r == 0 && unlink(cpath) != 0)
		r = err_set(e, AG_EIO, "unlink %s: %s", cpath,
		    strerror(errno));
 out:
	if (rc.fd >= 0)
		close(rc.fd);
	free(rc.path);
	buf_release(&b);
	return r;
}

/* ---- execution ------------------------------------------------------------ */

static int
cleanup_add(struct ctx *c, const char *s, size_t n, struct err *e)
{
	struct iovec iov[2];
	ssize_t w;

	iov[0].iov_base = (void *)s;
	iov[0].iov_len = n;
	iov[1].iov_base = "\n";
	iov[1].iov_len = 1;
	/* one O_APPEND writev: a crash leaves at most an unterminated line */
	while ((w = writev(c->cfd, iov, 2)) < 0 && errno == EINTR)
		;
	if (w < 0 || (size_t)w != n + 1)
		return err_set(e, AG_EIO, "write cleanup file: %s",
		    w < 0 ? strerror(errno) : "short write");
	return 0;
}

/*
 * Append the cleanup line for name (NULL: the directory itself) in the
 * directory pair dir. The trusted part of the path is written resolved
 * (realpath), so the next cleanup, which follows no symlink at all, finds
 * what was installed below a destination such as /var/www -> /srv/www.
 */
static int
cleanup_ent(struct ctx *c, size_t dir, const char *name, struct err *e)
{
	const struct pdir *pd = &c->p.dirs[dir];
	const char *rel = pd->dst + pd->rlen;
	struct buf *b = &c->cb;

	if (c->rkey == NULL || strlen(c->rkey) != pd->rlen ||
	    memcmp(c->rkey, pd->dst, pd->rlen) != 0) {
		free(c->rkey);
		free(c->rreal);
		c->rreal = NULL;
		if ((c->rkey = strndup(pd->dst, pd->rlen)) == NULL)
			return err_set(e, AG_ENOMEM, "out of memory");
		if ((c->rreal = realpath(c->rkey, NULL)) == NULL) {
			free(c->rkey);
			c->rkey = NULL;
			return err_set(e, AG_EIO, "realpath %s: %s", pd->dst,
			    strerror(errno));
		}
	}
	while (*rel == '/')
		rel++;
	buf_reset(b);
	if (buf_addstr(b, c->rreal) != 0 ||
	    (*rel != '\0' && strcmp(c->rreal, "/") != 0 &&
	    buf_addch(b, '/') != 0) || buf_addstr(b, rel) != 0 ||
	    (name != NULL && strcmp(buf_cstr(b), "/") != 0 &&
	    buf_addch(b, '/') != 0) ||
	    (name != NULL && buf_addstr(b, name) != 0))
		return err_set(e, AG_ENOMEM, "out of memory");
	if (check_name(buf_cstr(b), e) != 0)
		return AG_EINVAL;
	return cleanup_add(c, b->ptr, b->len, e);
}

/*
 * The umask, read from /proc without changing it: umask(2) can only be
 * read by setting it, for the whole process. -1 when unknown.
 */
static int
read_umask(void)
{
	char s[512], *u, *end;
	ssize_t n;
	long v;
	int fd;

	if ((fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, s, sizeof(s) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	s[n] = '\0';
	if ((u = strstr(s, "\nUmask:")) == NULL)
		return -1;
	errno = 0;
	v = strtol(u + 7, &end, 8);
	if (errno != 0 || end == u + 7 || v < 0 || v > 0777)
		return -1;
	return (int)v;
}

static void
xdir_close(struct ctx *c)
{
	if (c->sfd >= 0)
		close(c->sfd);
	if (c->dfd >= 0)
		close(c->dfd);
	c->sfd = c->dfd = -1;
	c->xdir = NONE;
}

/*
 * Open the directories of entry i (src, dst: its paths, for messages)
 * unless they are open already, and learn what a new file gets there.
 */
/*
 * Make dfd (owned) the open destination directory of the pair dir, and
 * open its source (src: a path in it, for messages).
 */
static int
xdir_adopt(struct ctx *c, size_t dir, int dfd, const char *src,
    struct err *e)
{
	const struct pdir *pd = &c->p.dirs[dir];
	struct stat sb;

	xdir_close(c);
	c->dfd = dfd;
	if (pd->src != NULL && (c->sfd = openat(AT_FDCWD, pd->src,
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return err_set(e, AG_EIO, "open %s: %s", src, strerror(errno));
	if (fstat(c->dfd, &sb) != 0)
		return err_set(e, AG_EIO, "fstat %s: %s", pd->dst,
		    strerror(errno));
	c->xgid = (sb.st_mode & S_ISGID) ? sb.st_gid : c->egid;
	/* a default ACL, not the umask, shapes a new file's mode there */
	c->xacl = fgetxattr(c->dfd, "system.posix_acl_default", NULL, 0) > 0;
	c->xdir = dir;
	return 0;
}

/* The error for a walk_open() of p[0..len) that failed. */
static int
walk_err(const char *p, size_t len, size_t bad, const struct pdir *pd,
    struct err *e)
{
	if (errno == ELOOP)
		return err_set(e, AG_EIO, "%.*s is a symbolic link where a "
		    "directory is expected below the destination %.*s: it "
		    "is not followed", (int)bad, p, (int)pd->rlen, pd->dst);
	return err_set(e, AG_EIO, "open %.*s: %s", (int)len, p,
	    strerror(errno));
}

/*
 * Open the directories of entry i (src, dst: its paths, for messages)
 * unless they are open already, and learn what a new file gets there.
 * Below the destination nothing is followed (walk_open).
 */
static int
xdir_enter(struct ctx *c, size_t i, const char *src, const char *dst,
    struct err *e)
{
	const struct pdir *pd = &c->p.dirs[c->p.v[i].dir];
	size_t bad;
	int fd;

	(void)dst;
	if (c->xdir == c->p.v[i].dir)
		return 0;
	xdir_close(c);
	if ((fd = walk_open(pd->dst, pd->rlen, strlen(pd->dst), &bad)) < 0)
		return walk_err(pd->dst, strlen(pd->dst), bad, pd, e);
	return xdir_adopt(c, c->p.v[i].dir, fd, src, e);
}

/* Remember what entry i installed: fd, or name in dfd. */
static void
note_id(struct ctx *c, size_t i, int fd, const char *name)
{
	struct stat sb;

	if (c->ids == NULL)
		return;
	if ((name == NULL ? fstat(fd, &sb) :
	    fstatat(fd, name, &sb, AT_SYMLINK_NOFOLLOW)) != 0)
		return;		/* none recorded: exec_perm refuses */
	c->ids[i].dev = sb.st_dev;
	c->ids[i].ino = sb.st_ino;
}

/* A fresh name for a temporary in dfd: ".cdagent-XXXXXX". */
static void
tmp_name(struct ctx *c, char tmp[32])
{
	c->tmpseq = c->tmpseq * 1103515245u + 12345u;
	snprintf(tmp, 32, ".cdagent-%06x", (c->tmpseq >> 8) & 0xffffff);
}

/* The full path of a name in dfd, for messages. */
static const char *
xdir_path(struct ctx *c, const char *name)
{
	return msgpath(path_in(&c->p.fb, c->p.dirs[c->xdir].dst, name));
}

/* Copy size bytes (fewer if the file shrank meanwhile). */
static int
copy_data(struct ctx *c, int in, int out, uint64_t size, const char *src,
    struct err *e)
{
	int method = 0;		/* copy_file_range, sendfile, read/write */
	ssize_t n, w, off;
	size_t want;

	while (size > 0) {
		want = size < COPY_CHUNK ? (size_t)size : COPY_CHUNK;
		if (method == 0)
			n = copy_file_range(in, NULL, out, NULL, want, 0);
		else if (method == 1)
			n = sendfile(out, in, NULL, want);
		else {
			if (c->rwbuf == NULL &&
			    (c->rwbuf = malloc(RW_BUF)) == NULL)
				return err_set(e, AG_ENOMEM, "out of memory");
			if ((n = read(in, c->rwbuf, want < RW_BUF ? want :
			    RW_BUF)) > 0)
				for (off = 0; off < n; off += w)
					if ((w = write(out, c->rwbuf + off,
					    (size_t)(n - off))) < 0) {
						if (errno == EINTR) {
							w = 0;
							continue;
						}
						return err_set(e, AG_EIO,
						    "write copy of %s: %s",
						    src, strerror(errno));
					}
		}
		if (n == 0)
			return 0;
		if (n > 0) {
			c->st->bytes += (uint64_t)n;
			size -= (uint64_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		/* nothing moved this call: the next method can take over */
		if (method < 2 && (errno == EXDEV || errno == EINVAL ||
		    errno == ENOSYS || errno == EOPNOTSUPP ||
		    errno == EBADF || errno == EPERM)) {
			method++;
			continue;
		}
		return err_set(e, AG_EIO, "copy %s: %s", src, strerror(errno));
	}
	return 0;
}

static int
copy_link(struct ctx *c, size_t idx, const char *src, const char *dst,
    struct err *e)
{
	const struct ins *in = &c->p.v[idx];
	struct stat sb;
	char *tgt = NULL, tmp[32];
	ssize_t n;
	size_t sz;
	int r = 0, i;

	if ((r = xdir_enter(c, idx, src, dst, e)) != 0)
		return r;
	if (fstatat(c->sfd, in->name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return err_set(e, AG_EIO, "lstat %s: %s", src,
		    strerror(errno));
	sz = (size_t)sb.st_size + 1;
	for (;;) {
		free(tgt);
		if (sz > PATH_MAX * 4 || (tgt = malloc(sz)) == NULL) {
			r = err_set(e, AG_ENOMEM, "readlink %s: too long",
			    src);
			goto out;
		}
		if ((n = readlinkat(c->sfd, in->name, tgt, sz)) < 0) {
			r = err_set(e, AG_EIO, "readlink %s: %s", src,
			    strerror(errno));
			goto out;
		}
		if ((size_t)n < sz)
			break;
		sz *= 2;
	}
	tgt[n] = '\0';
	if (!in->replace) {
		if (symlinkat(tgt, c->dfd, in->name) != 0)
			r = err_set(e, AG_EIO, "symlink %s: %s", dst,
			    strerror(errno));
		else if ((r = cleanup_ent(c, in->dir, in->name, e)) != 0)
			unlinkat(c->dfd, in->name, 0);
		else
			note_id(c, idx, c->dfd, in->name);
		goto out;
	}
	/* OVERWRITE: a link under a fresh name, renamed over dst */
	for (i = 0; i < 100; i++) {
		tmp_name(c, tmp);
		if (symlinkat(tgt, c->dfd, tmp) == 0)
			break;
		if (errno != EEXIST) {
			r = err_set(e, AG_EIO, "symlink %s: %s",
			    xdir_path(c, tmp), strerror(errno));
			goto out;
		}
	}
	if (i == 100)
		r = err_set(e, AG_EIO, "no free temporary name near %s", dst);
	else if ((r = cleanup_ent(c, in->dir, in->name, e)) != 0)
		unlinkat(c->dfd, tmp, 0);
	else if (renameat(c->dfd, tmp, c->dfd, in->name) != 0) {
		r = err_set(e, AG_EIO, "rename %s to %s: %s",
		    xdir_path(c, tmp), dst, strerror(errno));
		unlinkat(c->dfd, tmp, 0);
	} else
		note_id(c, idx, c->dfd, in->name);
 out:
	free(tgt);
	return r;
}

/* Create a temporary in dfd, its name in tmp; errno EEXIST: none free. */
static int
tmp_create(struct ctx *c, char tmp[32], mode_t mode)
{
	int i, fd;

	for (i = 0; i < 100; i++) {
		tmp_name(c, tmp);
		fd = openat(c->dfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

/*
 * The file is opened by name in the cached directories: two opens, one
 * fstat, the copy, one futimens, two closes. A new file is ours, in our
 * group (or the setgid directory's), with the mode asked for less the
 * umask: fchown and fchmod run only when that is not what the source has.
 * When the owner is to change, the file stays private (mode & 0700) until
 * it has, so nobody of the interim group can open it meanwhile.
 */
static int
copy_file(struct ctx *c, size_t idx, const char *src, const char *dst,
    struct err *e)
{
	const struct ins *in = &c->p.v[idx];
	struct timespec ts[2];
	struct stat sb;
	char tmp[32] = "";
	mode_t mode, cmode;
	int ifd = -1, ofd = -1, r = 0, own;

	if ((r = xdir_enter(c, idx, src, dst, e)) != 0)
		return r;
	if ((ifd = openat(c->sfd, in->name, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0 || fstat(ifd, &sb) != 0) {
		r = err_set(e, AG_EIO, "open %s: %s", src, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		r = err_set(e, AG_EIO, "%s is no longer a regular file", src);
		goto out;
	}
	mode = sb.st_mode & 07777;
	own = sb.st_uid != c->euid || sb.st_gid != c->xgid;
	cmode = mode & (own ? 0700 : 0777);
	if (in->replace)
		ofd = tmp_create(c, tmp, cmode);
	else
		ofd = openat(c->dfd, in->name, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, cmode);
	if (ofd < 0) {
		if (in->replace && errno == EEXIST)
			r = err_set(e, AG_EIO, "no free temporary name near "
			    "%s", dst);
		else if (errno == EEXIST)
			r = err_set(e, AG_EIO, "The deployment failed because "
			    "a specified file already exists at this location: "
			    "%s", dst);
		else
			r = err_set(e, AG_EIO, "create %s: %s", in->replace ?
			    xdir_path(c, tmp) : dst, strerror(errno));
		tmp[0] = '\0';	/* nothing was created */
		goto out;
	}
	/* ours now: into the cleanup file before any data lands */
	if ((r = cleanup_ent(c, in->dir, in->name, e)) != 0) {
		if (!tmp[0])
			unlinkat(c->dfd, in->name, 0);
		goto out;
	}
	note_id(c, idx, ofd, NULL);
	if ((r = copy_data(c, ifd, ofd, (uint64_t)sb.st_size, src, e)) != 0)
		goto out;
	if (own && fchown(ofd, sb.st_uid, sb.st_gid) != 0)
		mode &= (mode_t)~(S_ISUID | S_ISGID);
	ts[0] = sb.st_atim;
	ts[1] = sb.st_mtim;
	if (((c->umask < 0 || c->xacl ||
	    mode != (cmode & ~(mode_t)c->umask)) && fchmod(ofd, mode) != 0) ||
	    futimens(ofd, ts) != 0) {
		r = err_set(e, AG_EIO, "set mode/times of %s: %s",
		    tmp[0] ? xdir_path(c, tmp) : dst, strerror(errno));
		goto out;
	}
	if (close(ofd) != 0) {
		ofd = -1;
		r = err_set(e, AG_EIO, "close %s: %s",
		    tmp[0] ? xdir_path(c, tmp) : dst, strerror(errno));
		goto out;
	}
	ofd = -1;
	if (tmp[0] && renameat(c->dfd, tmp, c->dfd, in->name) != 0)
		r = err_set(e, AG_EIO, "rename %s to %s: %s",
		    xdir_path(c, tmp), dst, strerror(errno));
 out:
	if (ofd >= 0)
		close(ofd);
	if (ifd >= 0)
		close(ifd);
	if (tmp[0] && r != 0)
		unlinkat(c->dfd, tmp, 0);
	return r;
}

/*
 * mkdir entry i (dst: its path). At or above the destination that is a
 * mkdir by path; below it, mkdirat in the parent opened with nothing
 * followed (usually the directory open already), and the new directory's
 * descriptor becomes the open one for the entries that go into it.
 */
static int
exec_mkdir(struct ctx *c, size_t i, const char *dst, struct err *e)
{
	size_t dir = c->p.v[i].dir, len = strlen(dst), plen, bad;
	const struct pdir *pd = &c->p.dirs[dir];
	const char *base = path_base(dst);
	struct stat sb;
	int pfd = -1, fd = -1, r, made;

	if (len <= pd->rlen) {
		made = mkdir(dst, 0777) == 0;
		if (!made && (errno != EEXIST || lstat(dst, &sb) != 0 ||
		    !S_ISDIR(sb.st_mode)))
			return err_set(e, AG_EIO, "mkdir %s: %s", dst,
			    strerror(errno));
		fd = open(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	} else {
		plen = (size_t)(base - dst) - 1;
		if (c->xdir != NONE &&
		    strlen(c->p.dirs[c->xdir].dst) == plen &&
		    memcmp(c->p.dirs[c->xdir].dst, dst, plen) == 0)
			pfd = c->dfd;	/* borrowed */
		else if ((pfd = walk_open(dst, pd->rlen, plen, &bad)) < 0)
			return walk_err(dst, plen, bad, pd, e);
		made = mkdirat(pfd, base, 0777) == 0;
		if (!made && (errno != EEXIST ||
		    fstatat(pfd, base, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISDIR(sb.st_mode))) {
			if (errno == EEXIST && S_ISLNK(sb.st_mode))
				r = err_set(e, AG_EIO, "%s is a symbolic link "
				    "where a directory is expected below the "
				    "destination %.*s: it is not followed",
				    dst, (int)pd->rlen, pd->dst);
			else
				r = err_set(e, AG_EIO, "mkdir %s: %s", dst,
				    strerror(errno));
			if (pfd != c->dfd)
				close(pfd);
			return r;
		}
		fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (pfd != c->dfd)
			close(pfd);
	}
	/* made meanwhile by someone else: use it, but it is not ours */
	if (made) {
		c->st->dirs++;
		if ((r = cleanup_ent(c, dir, NULL, e)) != 0) {
			if (fd >= 0)
				close(fd);
			return r;
		}
	}
	if (fd < 0)
		return err_set(e, AG_EIO, "open %s: %s", dst, strerror(errno));
	note_id(c, i, fd, NULL);
	return xdir_adopt(c, dir, fd, dst, e);
}

/* ---- execution: permissions ------------------------------------------- */

static int
cmp_ent(const void *a, const void *b)
{
	const struct acl_ent *x = a, *y = b;

	if (x->tag != y->tag)
		return x->tag < y->tag ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * Complete the explicit entries as the Ruby agent does before setfacl
 * (§6.5 step 2): the missing base entries from the mode (for a default
 * ACL: from the access bits too), and a mask equal to the group entry when
 * named entries exist and none was given. Then encode the xattr.
 */
static int
acl_build(const struct acl_ent *x, size_t n, mode_t mode, struct buf *out,
    const char *path, struct err *e)
{
	struct acl_ent v[64];
	size_t i, nv = 0;
	unsigned have = 0, named = 0, gperm = (mode >> 3) & 7;
	unsigned char rec[8];

	if (n + 4 > sizeof(v) / sizeof(v[0]))
		return err_set(e, AG_EINVAL, "too many acl entries for %s",
		    path);
	for (i = 0; i < n; i++) {
		v[nv++] = x[i];
		have |= x[i].tag;
		if (x[i].tag == ACL_USER || x[i].tag == ACL_GROUP)
			named = 1;
		if (x[i].tag == ACL_GROUP_OBJ)
			gperm = x[i].perm;
	}
	if (!(have & ACL_USER_OBJ))
		v[nv++] = (struct acl_ent){ ACL_USER_OBJ,
		    (uint16_t)((mode >> 6) & 7), ACL_UNDEF_ID };
	if (!(have & ACL_GROUP_OBJ))
		v[nv++] = (struct acl_ent){ ACL_GROUP_OBJ,
		    (uint16_t)((mode >> 3) & 7), ACL_UNDEF_ID };
	if (!(have & ACL_OTHER))
		v[nv++] = (struct acl_ent){ ACL_OTHER, (uint16_t)(mode & 7),
		    ACL_UNDEF_ID };
	if (named && !(have & ACL_MASK))
		v[nv++] = (struct acl_ent){ ACL_MASK, (uint16_t)gperm,
		    ACL_UNDEF_ID };
	qsort(v, nv, sizeof(v[0]), cmp_ent);
	for (i = 1; i < nv; i++)
		if (v[i].tag == v[i - 1].tag && v[i].id == v[i - 1].id)
			return err_set(e, AG_EINVAL, "the acls for %s name "
			    "the same entry twice", path);
	buf_reset(out);
	rec[0] = ACL_XATTR_VERSION;
	rec[1] = rec[2] = rec[3] = 0;
	if (buf_add(out, rec, 4) != 0)
		return err_set(e, AG_ENOMEM, "out of memory");
	for (i = 0; i < nv; i++) {
		rec[0] = (unsigned char)(v[i].tag & 0xff);
		rec[1] = (unsigned char)(v[i].tag >> 8);
		rec[2] = (unsigned char)(v[i].perm & 0xff);
		rec[3] = (unsigned char)(v[i].perm >> 8);
		rec[4] = (unsigned char)(v[i].id & 0xff);
		rec[5] = (unsigned char)((v[i].id >> 8) & 0xff);
		rec[6] = (unsigned char)((v[i].id >> 16) & 0xff);
		rec[7] = (unsigned char)(v[i].id >> 24);
		if (buf_add(out, rec, 8) != 0)
			return err_set(e, AG_ENOMEM, "out of memory");
	}
	return 0;
}

static int
acl_set(const char *proc, const char *name, const struct buf *b,
    const char *path, struct err *e)
{
	if (setxattr(proc, name, b->ptr, b->len, 0) == 0)
		return 0;
	if (errno == EOPNOTSUPP)
		return err_set(e, AG_ENOTSUP, "acls requested for %s, but its "
		    "file system does not support POSIX ACLs", path);
	return err_set(e, AG_EIO, "The deployment failed because of a "
	    "problem with the acls permission settings in the application "
	    "specification file for this object: %s (%s)", path,
	    strerror(errno));
}

static int
exec_acl(const char *proc, int fd, const struct perm_res *pr, int isdir,
    const char *path, struct err *e)
{
	struct buf b = BUF_INIT(4096);
	struct stat sb;
	int r;

	if (fstat(fd, &sb) != 0)
		return err_set(e, AG_EIO, "stat %s: %s", path,
		    strerror(errno));
	if ((r = acl_build(pr->acc, pr->nacc, sb.st_mode, &b, path, e)) != 0 ||
	    (r = acl_set(proc, "system.posix_acl_access", &b, path, e)) != 0)
		goto out;
	if (pr->ndef > 0) {
		if (!isdir) {
			r = err_set(e, AG_EINVAL, "default acls requested for "
			    "%s, which is not a directory", path);
			goto out;
		}
		/* default base entries come from the access bits */
		if ((r = acl_build(pr->def, pr->ndef, sb.st_mode, &b, path,
		    e)) != 0 || (r = acl_set(proc, "system.posix_acl_default",
		    &b, path, e)) != 0)
			goto out;
	}
 out:
	buf_release(&b);
	return r;
}

static int
exec_context(struct ctx *c, const char *proc, const char *path,
    const struct appspec_context *cx, struct err *e)
{
	char *argv[12], *real = NULL, tail[256];
	int n = 0, status = 0, r;
	size_t step;

	if ((real = realpath(proc, NULL)) == NULL)
		return err_set(e, AG_EIO, "realpath %s: %s", path,
		    strerror(errno));
	argv[n++] = "semanage";
	argv[n++] = "fcontext";
	argv[n++] = "-a";
	if (cx->user != NULL) {
		argv[n++] = "-s";
		argv[n++] = cx->user;
	}
	argv[n++] = "-t";
	argv[n++] = cx->type;
	if (cx->range != NULL) {
		argv[n++] = "-r";
		argv[n++] = cx->range;
	}
	argv[n++] = real;
	argv[n] = NULL;
	for (step = 0; step < 2; step++) {
		if (step == 1) {
			argv[0] = "restorecon";
			argv[1] = "-v";
			argv[2] = real;
			argv[3] = NULL;
		}
		r = run_argv(argv, &status, tail, sizeof(tail), e);
		if (r == AG_ENOTSUP) {
			r = err_set(e, AG_ENOTSUP, "SELinux context requested "
			    "for %s but %s is not installed on this host",
			    path, argv[0]);
			goto out;
		}
		if (r != 0)
			goto out;
		if (status != 0) {
			r = err_set(e, AG_EIO, "The deployment failed because "
			    "the application specification file contains an "
			    "error in the settings for the context parameter. "
			    "Update the permissions section of the AppSpec "
			    "file, and then try again. Failed command: %s "
			    "for %s. Exit code: %d%s%s", argv[0], real, status,
			    tail[0] ? ": " : "", tail);
			goto out;
		}
	}
	{
		struct buf l = BUF_INIT(PATH_MAX * 4);

		r = buf_add(&l, "semanage\0", 9) != 0 ||
		    buf_addstr(&l, real) != 0 ?
		    err_set(e, AG_ENOMEM, "out of memory") :
		    cleanup_add(c, l.ptr, l.len, e);
		buf_release(&l);
	}
 out:
	free(real);
	return r;
}

static int
exec_perm(struct ctx *c, const struct papply *pa, struct err *e)
{
	const struct ins *in = &c->p.v[pa->ins];
	const struct appspec_perm *pm = &c->o->spec->perms[pa->perm];
	const struct perm_res *pr = &c->p.pr[pa->perm];
	const char *path = ins_dst(&c->p, &c->p.db, pa->ins);
	const struct pdir *pd = &c->p.dirs[in->dir];
	const struct fid *id = &c->ids[pa->ins];
	struct stat sb;
	char proc[64];
	size_t len, plen, bad;
	int fd = -1, pfd, r = 0, islink, isdir;

	if (path == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	/*
	 * Not by path: the parent is walked from the destination with
	 * nothing followed, so a directory swapped for a symlink since the
	 * copy cannot redirect the chmod/chown.
	 */
	len = strlen(path);
	plen = (size_t)(path_base(path) - path);
	if (plen > 1)
		plen--;
	if (len <= pd->rlen)
		fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	else if ((pfd = walk_open(path, pd->rlen, plen, &bad)) >= 0) {
		fd = openat(pfd, path_base(path), O_PATH | O_NOFOLLOW |
		    O_CLOEXEC);
		close(pfd);
	} else if (errno == ELOOP || errno == ENOTDIR || errno == ENOENT) {
		r = err_set(e, AG_EIO, "%s changed during the deployment (a "
		    "symbolic link was planted?): permissions not applied",
		    path);
		goto out;
	}
	if (fd < 0 || fstat(fd, &sb) != 0) {
		r = err_set(e, AG_EIO, "open %s: %s", path, strerror(errno));
		goto out;
	}
	islink = S_ISLNK(sb.st_mode);
	isdir = S_ISDIR(sb.st_mode);
	if (islink && !(in->kind == INS_COPY && in->src_link)) {
		r = err_set(e, AG_EIO, "refusing to set permissions on %s: it "
		    "was replaced by a symbolic link", path);
		goto out;
	}
	if (!islink && (in->kind == INS_MKDIR ? !isdir :
	    !S_ISREG(sb.st_mode))) {
		r = err_set(e, AG_EIO, "refusing to set permissions on %s: it "
		    "is no longer the %s installed", path,
		    in->kind == INS_MKDIR ? "directory" : "file");
		goto out;
	}
	if (id->ino == 0 || id->dev != sb.st_dev || id->ino != sb.st_ino) {
		r = err_set(e, AG_EIO, "%s changed during the deployment (a "
		    "symbolic link was planted?): permissions not applied",
		    path);
		goto out;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (islink && (pm->mode >= 0 || pm->n_acls > 0 || pm->context))
		log_warn("%s is a symbolic link: mode, acls and context are "
		    "not applied to it", path);
	if (!islink && pm->mode >= 0 && chmod(proc, (mode_t)pm->mode) != 0) {
		r = err_set(e, AG_EIO, "chmod %s: %s", path, strerror(errno));
		goto out;
	}
	if (!islink && pm->n_acls > 0 &&
	    (r = exec_acl(proc, fd, pr, isdir, path, e)) != 0)
		goto out;
	if (!islink && pm->context != NULL &&
	    (r = exec_context(c, proc, path, pm->context, e)) != 0)
		goto out;
	if (pr->has_uid || pr->has_gid) {
		if (fchownat(fd, "", pr->has_uid ? pr->uid : (uid_t)-1,
		    pr->has_gid ? pr->gid : (gid_t)-1, AT_EMPTY_PATH) != 0) {
			r = err_set(e, AG_EIO, "chown %s: %s", path,
			    strerror(errno));
			goto out;
		}
		/* chown cleared setuid/setgid: the mode asked for them */
		if (!islink && pm->mode >= 0 && (pm->mode & 06000) &&
		    chmod(proc, (mode_t)pm->mode) != 0) {
			r = err_set(e, AG_EIO, "chmod %s: %s", path,
			    strerror(errno));
			goto out;
		}
	}
 out:
	if (fd >= 0)
		close(fd);
	return r;
}

static int
execute(struct ctx *c, struct err *e)
{
	struct plan *p = &c->p;
	const char *src = NULL, *dst;
	size_t i;
	int r = 0;

	if (p->npa > 0 && (c->ids = calloc(p->n, sizeof(*c->ids))) == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	for (i = 0; i < p->n && r == 0; i++) {
		const struct ins *in = &p->v[i];

		if ((dst = ins_dst(p, &p->db, i)) == NULL ||
		    (in->kind == INS_COPY &&
		    (src = ins_src(p, &p->sb, i)) == NULL)) {
			r = err_set(e, AG_ENOMEM, "out of memory");
			break;
		}
		if (in->kind == INS_MKDIR) {
			r = exec_mkdir(c, i, dst, e);
			continue;
		}
		/* the path goes to the cleanup file once created, pre-data */
		r = in->src_link ? copy_link(c, i, src, dst, e) :
		    copy_file(c, i, src, dst, e);
		if (r == 0) {
			c->st->files++;
			if (c->o->progress != NULL)
				c->o->progress(c->o->ctx, c->st->bytes,
				    c->st->files);
		}
	}
	xdir_close(c);
	for (i = 0; i < p->npa && r == 0; i++)
		r = exec_perm(c, &p->pa[i], e);
	return r;
}

/* ---- the step ------------------------------------------------------------- */

int
install_run(const struct install_opts *o, struct install_stats *st,
    struct err *e)
{
	struct install_stats local;
	struct err le = ERR_INIT;
	struct ctx c;
	char *cpath = NULL, *jpath = NULL, *archive = NULL, name[512];
	int r;

	if (e == NULL)
		e = &le;	/* err_prefix() needs a record */
	memset(&c, 0, sizeof(c));
	c.cfd = c.sfd = c.dfd = -1;
	c.xdir = NONE;
	buf_init(&c.p.db, PATH_BUF);
	buf_init(&c.p.sb, PATH_BUF);
	buf_init(&c.p.fb, PATH_BUF);
	buf_init(&c.cb, PATH_BUF);
	c.o = o;
	c.st = st != NULL ? st : &local;
	memset(c.st, 0, sizeof(*c.st));
	if (o == NULL || o->spec == NULL || o->archive_dir == NULL ||
	    o->instructions_dir == NULL || o->group_id == NULL ||
	    o->group_id[0] == '\0' || strchr(o->group_id, '/') != NULL ||
	    strcmp(o->group_id, ".") == 0 || strcmp(o->group_id, "..") == 0)
		return err_set(e, AG_EINVAL, "install: bad options");
	if ((r = plat_fs_mkdir_p(o->instructions_dir, 0755, e)) != 0)
		goto out;
	snprintf(name, sizeof(name), "%s-cleanup", o->group_id);
	if ((cpath = util_path_join(o->instructions_dir, name)) == NULL)
		goto nomem;
	snprintf(name, sizeof(name), "%s-install.json", o->group_id);
	if ((jpath = util_path_join(o->instructions_dir, name)) == NULL ||
	    (archive = path_abs(o->archive_dir)) == NULL)
		goto nomem;

	if ((r = cleanup_previous(cpath, e)) != 0 ||
	    (r = plan_files(&c, archive, e)) != 0 ||
	    (r = plan_perms(&c, e)) != 0 ||
	    (r = write_json(&c, jpath, e)) != 0)
		goto out;
	if ((c.cfd = open(cpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND |
	    O_NOFOLLOW | O_CLOEXEC, 0644)) < 0) {
		r = err_set(e, AG_EIO, "open %s: %s", cpath, strerror(errno));
		goto out;
	}
	c.euid = geteuid();
	c.egid = getegid();
	c.umask = read_umask();
	c.tmpseq = (unsigned)getpid() ^ (unsigned)plat_time_ms();
	r = execute(&c, e);
	log_info("installed %llu files, %llu directories, %llu bytes; "
	    "%llu existing files retained%s",
	    (unsigned long long)c.st->files, (unsigned long long)c.st->dirs,
	    (unsigned long long)c.st->bytes, (unsigned long long)c.st->skipped,
	    r != 0 ? " before failing" : "");
	goto out;
 nomem:
	r = err_set(e, AG_ENOMEM, "out of memory");
 out:
	if (c.cfd >= 0) {
		if (fdatasync(c.cfd) != 0 && r == 0)
			r = err_set(e, AG_EIO, "fsync %s: %s", cpath,
			    strerror(errno));
		close(c.cfd);
	}
	xdir_close(&c);
	plan_release(&c.p);
	buf_release(&c.cb);
	free(c.ids);
	free(c.rkey);
	free(c.rreal);
	free(c.rwbuf);
	free(cpath);
	free(jpath);
	free(archive);
	return r;
}

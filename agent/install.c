/* install.c: the Install step; see install.h for the contract. */
#include <sys/types.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

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

/* Kernel ACL xattr layout (linux/posix_acl_xattr.h), little-endian. */
#define ACL_XATTR_VERSION 2
#define ACL_USER_OBJ 0x01
#define ACL_USER 0x02
#define ACL_GROUP_OBJ 0x04
#define ACL_GROUP 0x08
#define ACL_MASK 0x10
#define ACL_OTHER 0x20
#define ACL_UNDEF_ID 0xffffffffu

enum ins_kind { INS_COPY, INS_MKDIR };

struct ins {
	char *dst;		/* owned; absolute, normalised */
	char *src;		/* owned; INS_COPY only */
	enum ins_kind kind;
	unsigned src_link:1;	/* install a symlink (same target text) */
	unsigned replace:1;	/* OVERWRITE something at dst */
	unsigned has_perm:1;	/* already a permission target */
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
	size_t ins, perm;
};

struct plan {
	struct ins *v;
	size_t n, cap;
	size_t *tab;		/* dst hash: index + 1, 0 empty */
	size_t tabcap;
	struct papply *pa;
	size_t npa, pacap;
	struct perm_res *pr;	/* spec->n_perms */
	size_t npr;
};

/* Ancestors of a directory being walked, to catch symlink loops. */
struct walk {
	dev_t dev;
	ino_t ino;
	const struct walk *up;
	int depth;
};

struct ctx {
	const struct install_opts *o;
	struct install_stats *st;
	struct plan p;
	int cfd;		/* the new cleanup file */
	char *rwbuf;		/* owned; read/write fallback buffer */
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

/* ---- the plan ----------------------------------------------------------- */

static size_t
hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

static size_t
plan_find(const struct plan *p, const char *dst)
{
	size_t i;

	if (p->tabcap == 0)
		return NONE;
	for (i = hash_str(dst) & (p->tabcap - 1); p->tab[i] != 0;
	    i = (i + 1) & (p->tabcap - 1))
		if (strcmp(p->v[p->tab[i] - 1].dst, dst) == 0)
			return p->tab[i] - 1;
	return NONE;
}

static int
plan_rehash(struct plan *p)
{
	size_t ncap = p->tabcap ? p->tabcap * 2 : 256, i, j;
	size_t *nt;

	if ((nt = calloc(ncap, sizeof(*nt))) == NULL)
		return AG_ENOMEM;
	for (i = 0; i < p->n; i++) {
		for (j = hash_str(p->v[i].dst) & (ncap - 1); nt[j] != 0;
		    j = (j + 1) & (ncap - 1))
			;
		nt[j] = i + 1;
	}
	free(p->tab);
	p->tab = nt;
	p->tabcap = ncap;
	return 0;
}

/* Append an instruction; takes src and dst (freed on failure). */
static int
plan_add(struct plan *p, enum ins_kind kind, char *src, char *dst,
    struct ins **out, struct err *e)
{
	struct ins *nv;
	size_t j;

	if (p->n + 1 > p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 64;

		if ((nv = realloc(p->v, ncap * sizeof(*nv))) == NULL)
			goto nomem;
		p->v = nv;
		p->cap = ncap;
	}
	if ((p->n + 1) * 2 > p->tabcap && plan_rehash(p) != 0)
		goto nomem;
	memset(&p->v[p->n], 0, sizeof(p->v[p->n]));
	p->v[p->n].kind = kind;
	p->v[p->n].src = src;
	p->v[p->n].dst = dst;
	for (j = hash_str(dst) & (p->tabcap - 1); p->tab[j] != 0;
	    j = (j + 1) & (p->tabcap - 1))
		;
	p->tab[j] = ++p->n;
	*out = &p->v[p->n - 1];
	return 0;
 nomem:
	free(src);
	free(dst);
	return err_set(e, AG_ENOMEM, "out of memory planning the install");
}

static void
plan_release(struct plan *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free(p->v[i].src);
		free(p->v[i].dst);
	}
	for (i = 0; i < p->npr; i++) {
		free(p->pr[i].acc);
		free(p->pr[i].def);
	}
	free(p->v);
	free(p->tab);
	free(p->pa);
	free(p->pr);
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

/* dst is normalised; duplicates are dropped silently (§6.2). */
static int
plan_mkdir(struct ctx *c, const char *dst, struct err *e)
{
	struct ins *in;
	char *d;
	size_t i;

	if ((i = plan_find(&c->p, dst)) != NONE) {
		if (c->p.v[i].kind == INS_MKDIR)
			return 0;
		return err_set(e, AG_EINVAL, "The deployment failed because "
		    "the application specification file includes an mkdir "
		    "command more than once for the same destination path "
		    "(%s) from (%s). Update the files section of the AppSpec "
		    "file, and then try again.", dst, c->p.v[i].src);
	}
	if (check_name(dst, e) != 0)
		return AG_EINVAL;
	if ((d = strdup(dst)) == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	return plan_add(&c->p, INS_MKDIR, NULL, d, &in, e);
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
		r = plan_mkdir(c, miss.v[i - 1], e);
	goto out;
 nomem:
	r = err_set(e, AG_ENOMEM, "out of memory");
 out:
	free(q);
	strv_release(&miss);
	return r;
}

/* §6.2/§6.3: takes src; dst borrowed. */
static int
plan_copy(struct ctx *c, char *src, const char *dst, int link,
    struct err *e)
{
	struct ins *in;
	struct stat sb;
	char *d = NULL;
	size_t i;
	int replace = 0, r;

	if ((i = plan_find(&c->p, dst)) != NONE) {
		if (c->p.v[i].kind == INS_COPY)
			r = err_set(e, AG_EINVAL, "The deployment failed "
			    "because the application specification file "
			    "specifies two source files named %s and %s for "
			    "the same destination (%s). Remove one of the "
			    "source file paths from the AppSpec file, and then "
			    "try again.", src, c->p.v[i].src, dst);
		else
			r = err_set(e, AG_EINVAL, "The deployment failed "
			    "because the application specification file calls "
			    "for installing the file %s, but a file with that "
			    "name already exists at the location (%s). Update "
			    "your AppSpec file or directory structure, and "
			    "then try again.", src, dst);
		goto fail;
	}
	if ((r = check_name(dst, e)) != 0)
		goto fail;
	if (lstat(dst, &sb) == 0) {
		switch (c->o->feb) {
		case FEB_UNSET:
		case FEB_DISALLOW:
			r = err_set(e, AG_EINVAL, "The deployment failed "
			    "because a specified file already exists at this "
			    "location: %s", dst);
			goto fail;
		case FEB_OVERWRITE:
			if (S_ISDIR(sb.st_mode)) {
				r = err_set(e, AG_EINVAL, "The deployment "
				    "failed because a directory exists where "
				    "the file %s is to be installed, and "
				    "OVERWRITE replaces only files and "
				    "symbolic links: %s", src, dst);
				goto fail;
			}
			replace = 1;
			break;
		case FEB_RETAIN:
			c->st->skipped++;
			free(src);
			return 0;
		default:
			r = err_set(e, AG_EINVAL, "The deployment failed "
			    "because an invalid option was specified for "
			    "fileExistsBehavior: %d. Valid options include "
			    "OVERWRITE, RETAIN, and DISALLOW.", (int)c->o->feb);
			goto fail;
		}
	} else if (errno != ENOENT && errno != ENOTDIR) {
		r = err_set(e, AG_EIO, "lstat %s: %s", dst, strerror(errno));
		goto fail;
	}
	if ((d = strdup(dst)) == NULL) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto fail;
	}
	if ((r = plan_add(&c->p, INS_COPY, src, d, &in, e)) != 0)
		return r;
	in->src_link = link ? 1 : 0;
	in->replace = replace ? 1 : 0;
	return 0;
 fail:
	free(src);
	return r;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int plan_dir(struct ctx *, const char *, const char *,
    const struct walk *, struct err *);

/* One entry (or a `files` source): recurse, or plan a copy. */
static int
plan_entry(struct ctx *c, const char *src, const char *dst,
    const struct walk *up, struct err *e)
{
	struct stat sb, tb;
	char *s;

	if (lstat(src, &sb) != 0)
		return err_set(e, AG_EIO, "lstat %s: %s", src,
		    strerror(errno));
	if (S_ISLNK(sb.st_mode) && !c->o->preserve_symlinks &&
	    stat(src, &tb) == 0 && S_ISDIR(tb.st_mode))
		sb = tb;	/* materialise (Ruby 1.8, issue #152) */
	if (S_ISDIR(sb.st_mode))
		return plan_dir(c, src, dst, up, e);
	if (!S_ISLNK(sb.st_mode) && !S_ISREG(sb.st_mode))
		return err_set(e, AG_EINVAL, "%s in the revision is not a "
		    "regular file, directory or symbolic link", src);
	if ((s = strdup(src)) == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	return plan_copy(c, s, dst, S_ISLNK(sb.st_mode), e);
}

static int
plan_dir(struct ctx *c, const char *src, const char *dst,
    const struct walk *up, struct err *e)
{
	struct strv names = STRV_INIT;
	struct walk w;
	struct dirent *de;
	struct stat sb;
	const struct walk *a;
	char *cs = NULL, *cd = NULL;
	DIR *d = NULL;
	size_t i;
	int r = 0;

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

	if (stat(dst, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		if (lstat(dst, &sb) == 0 && plan_find(&c->p, dst) == NONE)
			return err_set(e, AG_EINVAL, "The deployment failed "
			    "because a file that is not a directory exists "
			    "where the directory %s is to be created", dst);
		if ((r = plan_mkdir(c, dst, e)) != 0)
			return r;
	}
	if ((d = opendir(src)) == NULL)
		return err_set(e, AG_EIO, "opendir %s: %s", src,
		    strerror(errno));
	while (errno = 0, (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (strv_push(&names, de->d_name) != 0) {
			r = err_set(e, AG_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (errno != 0) {
		r = err_set(e, AG_EIO, "readdir %s: %s", src, strerror(errno));
		goto out;
	}
	closedir(d);
	d = NULL;
	if (names.n > 1)
		qsort(names.v, names.n, sizeof(*names.v), cmp_str);
	for (i = 0; i < names.n && r == 0; i++) {
		if ((cs = path_child(src, names.v[i])) == NULL ||
		    (cd = path_child(dst, names.v[i])) == NULL) {
			r = err_set(e, AG_ENOMEM, "out of memory");
			goto out;
		}
		r = plan_entry(c, cs, cd, &w, e);
		free(cs);
		free(cd);
		cs = cd = NULL;
	}
 out:
	free(cs);
	free(cd);
	if (d != NULL)
		closedir(d);
	strv_release(&names);
	return r;
}

static int
plan_files(struct ctx *c, const char *archive, struct err *e)
{
	const struct appspec *as = c->o->spec;
	struct stat sb;
	char *rel = NULL, *src = NULL, *dst = NULL, *fdst = NULL;
	size_t i;
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
		    (dst = path_abs(f->destination)) == NULL) {
			r = err_set(e, AG_ENOMEM, "out of memory");
			goto out;
		}
		free(fdst);
		fdst = NULL;
		if (lstat(src, &sb) != 0) {
			r = err_set(e, AG_EINVAL, "The deployment failed "
			    "because the source %s named in the files section "
			    "of the AppSpec file does not exist in the "
			    "revision", f->source);
			goto out;
		}
		isdir = S_ISDIR(sb.st_mode);
		if (S_ISLNK(sb.st_mode) && !c->o->preserve_symlinks &&
		    stat(src, &sb) == 0 && S_ISDIR(sb.st_mode))
			isdir = 1;
		if (isdir) {
			if ((r = plan_ancestors(c, dst, e)) == 0)
				r = plan_entry(c, src, dst, NULL, e);
		} else {
			if ((fdst = path_child(dst, path_base(src))) == NULL) {
				r = err_set(e, AG_ENOMEM, "out of memory");
				goto out;
			}
			if ((r = plan_ancestors(c, fdst, e)) == 0)
				r = plan_entry(c, src, fdst, NULL, e);
		}
		free(rel);
		free(src);
		free(dst);
		free(fdst);
		rel = src = dst = fdst = NULL;
	}
 out:
	free(rel);
	free(src);
	free(dst);
	free(fdst);
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
		    p->v[i].dst);
	if (p->v[i].kind == INS_COPY &&
	    perm_has_default(&c->o->spec->perms[k]))
		return err_set(e, AG_EINVAL, "The deployment failed because "
		    "the -d parameter has been specified to apply an acl "
		    "setting to a file. This parameter is supported for "
		    "directories only. Update the AppSpec file, and then try "
		    "again. (%s)", p->v[i].dst);
	if ((r = perm_resolve(c, k, e)) != 0)
		return r;
	if (p->npa == p->pacap) {
		size_t ncap = p->pacap ? p->pacap * 2 : 32;

		if ((np = realloc(p->pa, ncap * sizeof(*np))) == NULL)
			return err_set(e, AG_ENOMEM, "out of memory");
		p->pa = np;
		p->pacap = ncap;
	}
	p->pa[p->npa].ins = i;
	p->pa[p->npa].perm = k;
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
		i = plan_find(p, obj);
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
				if (p->v[i].kind == INS_COPY &&
				    perm_matches(pm, base, blen, p->v[i].dst))
					r = perm_target(c, i, k, e);
			for (i = 0; (types & APPSPEC_T_DIR) && i < p->n &&
			    r == 0; i++)
				if (p->v[i].kind == INS_MKDIR &&
				    perm_matches(pm, base, blen, p->v[i].dst))
					r = perm_target(c, i, k, e);
		}
 next:
		free(obj);
		free(base);
		obj = base = NULL;
	}
	return r;
}

/* ---- install.json ------------------------------------------------------- */

/* A JSON string; non-UTF-8 bytes become '?' (the file is informational). */
static json_t *
jstr(const char *s)
{
	json_t *v;
	char *t, *q;

	if (s == NULL)
		return json_null();
	if ((v = json_string(s)) != NULL || (t = strdup(s)) == NULL)
		return v;
	for (q = t; *q != '\0'; q++)
		if ((unsigned char)*q >= 0x80)
			*q = '?';
	v = json_string(t);
	free(t);
	return v;
}

static int
jadd(json_t *arr, json_t *obj, const char *k1, json_t *v1, const char *k2,
    json_t *v2, const char *k3, json_t *v3)
{
	int bad = obj == NULL || v1 == NULL || v2 == NULL ||
	    (k3 != NULL && v3 == NULL);

	if (!bad) {
		bad |= json_object_set_new(obj, k1, v1) != 0;
		bad |= json_object_set_new(obj, k2, v2) != 0;
		if (k3 != NULL)
			bad |= json_object_set_new(obj, k3, v3) != 0;
		return json_array_append_new(arr, obj) != 0 || bad ?
		    AG_ENOMEM : 0;
	}
	json_decref(obj);
	json_decref(v1);
	json_decref(v2);
	json_decref(v3);
	return AG_ENOMEM;
}

static int
json_perm(json_t *arr, const struct appspec_perm *pm, const char *file)
{
	const struct appspec_context *cx = pm->context;
	char mode[16];
	json_t *acl, *ctx;
	size_t i;
	int r = 0;

	if (pm->mode >= 0) {
		snprintf(mode, sizeof(mode), "%04o", (unsigned)pm->mode);
		r |= jadd(arr, json_object(), "type", json_string("chmod"),
		    "mode", json_string(mode), "file", jstr(file));
	}
	if (pm->n_acls > 0) {
		if ((acl = json_array()) == NULL)
			return AG_ENOMEM;
		for (i = 0; i < pm->n_acls; i++)
			r |= json_array_append_new(acl, jstr(pm->acls[i]));
		r |= jadd(arr, json_object(), "type", json_string("setfacl"),
		    "acl", acl, "file", jstr(file));
	}
	if (cx != NULL) {
		ctx = json_object();
		if (ctx == NULL)
			return AG_ENOMEM;
		r |= json_object_set_new(ctx, "user", jstr(cx->user));
		r |= json_object_set_new(ctx, "role", json_null());
		r |= json_object_set_new(ctx, "type", jstr(cx->type));
		r |= json_object_set_new(ctx, "range", jstr(cx->range));
		r |= jadd(arr, json_object(), "type",
		    json_string("semanage"), "context", ctx, "file",
		    jstr(file));
	}
	if (pm->owner != NULL || pm->group != NULL) {
		json_t *o = json_object();

		if (o != NULL &&
		    json_object_set_new(o, "type", json_string("chown")) != 0)
			r = AG_ENOMEM;
		r |= jadd(arr, o, "owner", jstr(pm->owner), "group",
		    jstr(pm->group), "file", jstr(file));
	}
	return r != 0 ? AG_ENOMEM : 0;
}

static int
write_json(struct ctx *c, const char *path, struct err *e)
{
	const struct plan *p = &c->p;
	json_t *root = NULL, *arr;
	char *s = NULL;
	size_t i;
	int r = 0;

	if ((root = json_object()) == NULL || (arr = json_array()) == NULL ||
	    json_object_set_new(root, "instructions", arr) != 0)
		goto nomem;
	for (i = 0; i < p->n && r == 0; i++) {
		const struct ins *in = &p->v[i];

		if (in->kind == INS_COPY)
			r = jadd(arr, json_object(), "type",
			    json_string("copy"), "source", jstr(in->src),
			    "destination", jstr(in->dst));
		else
			r = jadd(arr, json_object(), "type",
			    json_string("mkdir"), "directory", jstr(in->dst),
			    NULL, NULL);
	}
	for (i = 0; i < p->npa && r == 0; i++)
		r = json_perm(arr, &c->o->spec->perms[p->pa[i].perm],
		    p->v[p->pa[i].ins].dst);
	if (r != 0 || (s = json_dumps(root, JSON_COMPACT)) == NULL)
		goto nomem;
	r = plat_fs_write_atomic(path, s, strlen(s), 0644, e);
	goto out;
 nomem:
	r = err_set(e, AG_ENOMEM, "out of memory writing %s", path);
 out:
	free(s);
	json_decref(root);
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
	int op[2] = { -1, -1 }, ep[2] = { -1, -1 }, ws, cerr = 0, nul, r = 0;
	size_t tl = 0;
	ssize_t n;
	pid_t pid;

	tail[0] = '\0';
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
		if ((nul = open("/dev/null", O_RDONLY)) >= 0)
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

static int
remove_path(const char *path, struct err *e)
{
	struct stat sb;

	if (lstat(path, &sb) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return err_set(e, AG_EIO, "lstat %s: %s", path,
		    strerror(errno));
	}
	if (S_ISDIR(sb.st_mode)) {
		if (rmdir(path) != 0 && errno != ENOTEMPTY &&
		    errno != EEXIST && errno != ENOENT)
			return err_set(e, AG_EIO, "rmdir %s: %s", path,
			    strerror(errno));
	} else if (unlink(path) != 0 && errno != ENOENT)
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
		r = remove_path(line, e);
	}
	if (r == 0 && unlink(cpath) != 0)
		r = err_set(e, AG_EIO, "unlink %s: %s", cpath,
		    strerror(errno));
 out:
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

/* A fresh name next to dst: "<dir>/.cdagent-XXXXXX". */
static char *
tmp_name(const char *dst)
{
	char *dir, *t;

	if ((dir = path_dir(dst)) == NULL)
		return NULL;
	t = path_child(dir, ".cdagent-XXXXXX");
	free(dir);
	return t;
}

static int
copy_data(struct ctx *c, int in, int out, const char *src, struct err *e)
{
	int method = 0;		/* copy_file_range, sendfile, read/write */
	ssize_t n, w, off;

	for (;;) {
		if (method == 0)
			n = copy_file_range(in, NULL, out, NULL, COPY_CHUNK,
			    0);
		else if (method == 1)
			n = sendfile(out, in, NULL, COPY_CHUNK);
		else {
			if (c->rwbuf == NULL &&
			    (c->rwbuf = malloc(RW_BUF)) == NULL)
				return err_set(e, AG_ENOMEM, "out of memory");
			if ((n = read(in, c->rwbuf, RW_BUF)) > 0)
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
}

static int
copy_link(const struct ins *in, struct err *e)
{
	struct stat sb;
	char *tgt = NULL, *tmp = NULL;
	ssize_t n;
	size_t sz;
	int r = 0, i;

	if (lstat(in->src, &sb) != 0)
		return err_set(e, AG_EIO, "lstat %s: %s", in->src,
		    strerror(errno));
	sz = (size_t)sb.st_size + 1;
	for (;;) {
		free(tgt);
		if (sz > PATH_MAX * 4 || (tgt = malloc(sz)) == NULL) {
			r = err_set(e, AG_ENOMEM, "readlink %s: too long",
			    in->src);
			goto out;
		}
		if ((n = readlink(in->src, tgt, sz)) < 0) {
			r = err_set(e, AG_EIO, "readlink %s: %s", in->src,
			    strerror(errno));
			goto out;
		}
		if ((size_t)n < sz)
			break;
		sz *= 2;
	}
	tgt[n] = '\0';
	if (!in->replace) {
		if (symlink(tgt, in->dst) != 0)
			r = err_set(e, AG_EIO, "symlink %s: %s", in->dst,
			    strerror(errno));
		goto out;
	}
	/* OVERWRITE: a link under a fresh name, renamed over dst */
	for (i = 0; i < 100; i++) {
		free(tmp);
		if ((tmp = tmp_name(in->dst)) == NULL) {
			r = err_set(e, AG_ENOMEM, "out of memory");
			goto out;
		}
		snprintf(tmp + strlen(tmp) - 6, 7, "%06x",
		    (unsigned)(((unsigned)getpid() * 2654435761u +
		    (unsigned)i * 40503u + (unsigned)sb.st_ino) & 0xffffff));
		if (symlink(tgt, tmp) == 0)
			break;
		if (errno != EEXIST) {
			r = err_set(e, AG_EIO, "symlink %s: %s", tmp,
			    strerror(errno));
			goto out;
		}
	}
	if (i == 100)
		r = err_set(e, AG_EIO, "no free temporary name near %s",
		    in->dst);
	else if (rename(tmp, in->dst) != 0) {
		r = err_set(e, AG_EIO, "rename %s to %s: %s", tmp, in->dst,
		    strerror(errno));
		unlink(tmp);
	}
 out:
	free(tmp);
	free(tgt);
	return r;
}

static int
copy_file(struct ctx *c, const struct ins *in, struct err *e)
{
	struct timespec ts[2];
	struct stat sb;
	char *tmp = NULL;
	const char *dst = in->dst;
	mode_t mode;
	int ifd = -1, ofd = -1, r = 0;

	if ((ifd = open(in->src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    fstat(ifd, &sb) != 0) {
		r = err_set(e, AG_EIO, "open %s: %s", in->src,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		r = err_set(e, AG_EIO, "%s is no longer a regular file",
		    in->src);
		goto out;
	}
	if (in->replace) {
		if ((tmp = tmp_name(in->dst)) == NULL) {
			r = err_set(e, AG_ENOMEM, "out of memory");
			goto out;
		}
		ofd = mkostemp(tmp, O_CLOEXEC);
		dst = tmp;
	} else
		ofd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
	if (ofd < 0) {
		if (errno == EEXIST)
			r = err_set(e, AG_EIO, "The deployment failed because "
			    "a specified file already exists at this location: "
			    "%s", in->dst);
		else
			r = err_set(e, AG_EIO, "create %s: %s", dst,
			    strerror(errno));
		free(tmp);	/* nothing was created */
		tmp = NULL;
		goto out;
	}
	if ((r = copy_data(c, ifd, ofd, in->src, e)) != 0)
		goto out;
	mode = sb.st_mode & 07777;
	if (fchown(ofd, sb.st_uid, sb.st_gid) != 0)
		mode &= (mode_t)~(S_ISUID | S_ISGID);
	ts[0] = sb.st_atim;
	ts[1] = sb.st_mtim;
	if (fchmod(ofd, mode) != 0 || futimens(ofd, ts) != 0) {
		r = err_set(e, AG_EIO, "set mode/times of %s: %s", dst,
		    strerror(errno));
		goto out;
	}
	if (close(ofd) != 0) {
		ofd = -1;
		r = err_set(e, AG_EIO, "close %s: %s", dst, strerror(errno));
		goto out;
	}
	ofd = -1;
	if (tmp != NULL && rename(tmp, in->dst) != 0)
		r = err_set(e, AG_EIO, "rename %s to %s: %s", tmp, in->dst,
		    strerror(errno));
 out:
	if (ofd >= 0)
		close(ofd);
	if (ifd >= 0)
		close(ifd);
	if (tmp != NULL) {
		if (r != 0)
			unlink(tmp);
		free(tmp);
	}
	return r;
}

static int
exec_mkdir(struct ctx *c, const struct ins *in, struct err *e)
{
	struct stat sb;

	if (mkdir(in->dst, 0777) == 0) {
		c->st->dirs++;
		return cleanup_add(c, in->dst, strlen(in->dst), e);
	}
	/* made meanwhile by someone else: use it, but it is not ours */
	if (errno == EEXIST && lstat(in->dst, &sb) == 0 && S_ISDIR(sb.st_mode))
		return 0;
	return err_set(e, AG_EIO, "mkdir %s: %s", in->dst, strerror(errno));
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
	const char *path = in->dst;
	struct stat sb;
	char proc[64];
	int fd, r = 0, islink, isdir;

	if ((fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    fstat(fd, &sb) != 0) {
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
	size_t i;
	int r = 0;

	for (i = 0; i < c->p.n && r == 0; i++) {
		const struct ins *in = &c->p.v[i];

		if (in->kind == INS_MKDIR) {
			r = exec_mkdir(c, in, e);
			continue;
		}
		/* the path goes to the cleanup file before the copy */
		if ((r = cleanup_add(c, in->dst, strlen(in->dst), e)) != 0)
			break;
		r = in->src_link ? copy_link(in, e) : copy_file(c, in, e);
		if (r == 0) {
			c->st->files++;
			if (c->o->progress != NULL)
				c->o->progress(c->o->ctx, c->st->bytes,
				    c->st->files);
		}
	}
	for (i = 0; i < c->p.npa && r == 0; i++)
		r = exec_perm(c, &c->p.pa[i], e);
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
	c.cfd = -1;
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
	plan_release(&c.p);
	free(c.rwbuf);
	free(cpath);
	free(jpath);
	free(archive);
	return r;
}

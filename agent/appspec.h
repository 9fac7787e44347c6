/*
 * appspec.h: the AppSpec file (appspec.yml) of an EC2/on-premises revision.
 *
 * Parsed with libyaml under YAML 1.1 scalar rules (0755 is octal 493, yes/no
 * are booleans), validated as the Ruby agent does (reference §5), with the
 * Ruby error texts plus "(<file>:<line>:<column>)" of the offending node.
 * Divergences that are ours: a quoted "0.0" version is accepted, a context
 * without range is accepted, the SELinux user may be given as `name` or
 * `user`.
 *
 *	struct appspec *as = NULL;
 *	if (appspec_load(&as, archive_dir, "appspec.yml", "linux", NULL, &e))
 *		fail(e.msg);
 *	const struct appspec_hook *h = appspec_hook(as, "AfterInstall");
 *	appspec_free(as);
 */
#ifndef CDAGENT_APPSPEC_H
#define CDAGENT_APPSPEC_H

#include <stddef.h>

struct err;
struct strv;

enum appspec_feb {		/* file_exists_behavior */
	FEB_UNSET = 0,
	FEB_DISALLOW,
	FEB_OVERWRITE,
	FEB_RETAIN,
};

struct appspec_file {
	char *source;		/* owned, as written (relative to the archive) */
	char *destination;	/* owned, as written */
	int line;
};

enum appspec_obj_type { APPSPEC_T_FILE = 1 << 0, APPSPEC_T_DIR = 1 << 1 };

struct appspec_context {
	char *user;		/* owned, NULL when absent */
	char *type;		/* owned, required */
	char *range;		/* owned, normalised; NULL when absent */
};

struct appspec_perm {
	char *object;		/* owned */
	char *pattern;		/* owned, "**" by default */
	char **except;		/* owned, n_except globs */
	size_t n_except;
	unsigned types;		/* APPSPEC_T_* bits; both by default */
	char *owner;		/* owned, NULL when unset */
	char *group;		/* owned, NULL when unset */
	int mode;		/* 0..07777, or -1 when unset */
	char **acls;		/* owned, normalised "[default:]type:name:rwx" */
	size_t n_acls;
	int acl_has_default;	/* some entry is a default: entry */
	struct appspec_context *context;	/* owned, NULL when unset */
	int line;
};

struct appspec_script {
	char *location;		/* owned, relative to the archive root */
	char *runas;		/* owned, NULL when unset */
	int sudo;		/* anything but null/false counts as true */
	long timeout;		/* seconds, > 0; default 3600 */
	int line;
};

struct appspec_hook {
	char *event;		/* owned */
	struct appspec_script *scripts;	/* owned, n_scripts of them */
	size_t n_scripts;	/* 0: an empty list, a no-op */
};

struct appspec {
	char *path;		/* owned: the file this was read from */
	char *os;		/* owned: "linux" or "windows" */
	enum appspec_feb feb;	/* FEB_UNSET when the key is absent */
	struct appspec_file *files;
	size_t n_files;
	struct appspec_perm *perms;
	size_t n_perms;
	struct appspec_hook *hooks;	/* in file order; null lists dropped */
	size_t n_hooks;
};

/*
 * Parse and validate an AppSpec held in memory. filename is used in
 * messages only. want_os is the `os` value this host accepts ("linux").
 * When problems is non-NULL, parsing goes on after a validation error and
 * every problem found is pushed there (for `cdagent validate`); the return
 * value is still the first error, and *out may then hold what did parse
 * (the invalid entries left out) so the caller can check the rest. On
 * success *out owns a new appspec.
 */
int appspec_parse(struct appspec **out, const char *text, size_t len,
    const char *filename, const char *want_os, struct strv *problems,
    struct err *e);

/*
 * Find and parse the AppSpec of an unpacked revision: <archive>/<name>, then
 * <archive>/appspec.yaml, then <archive>/appspec.yml (the Install fallback
 * chain, used for hooks too). name NULL means "appspec.yml". Only regular
 * files count: a symbolic link, or a name with a ".." component, is
 * treated as absent (Ruby follows links; a root agent must not read
 * outside the revision). When none exists the error is the Ruby "did not
 * find an AppSpec file" text. Messages name the file relative to the
 * archive ("appspec.yaml:3:7"); as->path is the full path.
 */
int appspec_load(struct appspec **out, const char *archive_dir,
    const char *name, const char *want_os, struct strv *problems,
    struct err *e);

/* The path appspec_load() would read, or NULL (heap string). */
char *appspec_find(const char *archive_dir, const char *name);

/* The hook list of event, or NULL when the AppSpec has none. */
const struct appspec_hook *appspec_hook(const struct appspec *as,
    const char *event);

/* "DISALLOW" etc. to enum; FEB_UNSET for anything else. */
enum appspec_feb appspec_feb_parse(const char *s);
const char *appspec_feb_name(enum appspec_feb f);

void appspec_free(struct appspec *as);	/* NULL-safe */

/*
 * Pieces the install step shares (reference §6.5): the simple glob of
 * `pattern`/`except` ('*' matches any run, everything else is literal).
 * As in Ruby, a name containing '/' never matches: only direct children
 * of the object can (the "**" pattern is the caller's business).
 */
int appspec_glob_match(const char *glob, const char *s);

#endif

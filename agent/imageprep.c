/*
 * imageprep.c: `cdagent image-prep`, making a host ready to be captured
 * as a golden image.
 *
 * What identifies a host or belongs to its history, and goes:
 *  - the on-premises config (its IAM identity), unless --keep-config;
 *  - everything inside root_dir: deployed revisions, the deployment
 *    markers (whose "last successful" would make a clone skip or clean up
 *    files it never installed), the deployments log and the tracking
 *    files of running commands (which a clone would "recover");
 *  - the agent's logs in log_dir: only files named after the agent
 *    (program_name, codedeploy-local), since log_dir may be shared;
 *  - the PID file and its lock in pid_dir.
 * The agent config, the directories themselves and their modes stay.
 *
 * Paths are checked before anything is removed: "" and "/" and relative
 * paths are refused everywhere, and root_dir, whose whole contents go,
 * must not be a top-level or other well-known system directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "err.h"
#include "platform.h"
#include "util.h"
#include "banned.h"

enum imageprep_flags {
	IMAGEPREP_KEEP_CONFIG = 1 << 0,	/* keep the on-premises config */
	IMAGEPREP_DRY_RUN = 1 << 1,	/* print, remove nothing */
};

/* XXX: the lead moves these two into cli.h when registering the command. */
int imageprep_run(const struct config *c, unsigned flags, FILE *out,
    struct err *e);
int cmd_image_prep(int argc, char **argv);

#define IP_USAGE "usage: cdagent image-prep [-c CONFIG] [--keep-config] " \
	"[--dry-run]"

/*
 * A cleaned copy of path: repeated and trailing slashes dropped. NULL
 * (with e set) for "", "/", a relative path, or "." / ".." components,
 * which would make the checks below meaningless.
 */
static char *
path_clean(const char *key, const char *path, struct err *e)
{
	char *p;
	size_t i, j;

	if (path == NULL || path[0] != '/') {
		err_set(e, AG_EINVAL, "refusing %s '%s': not an absolute path",
		    key, path ? path : "");
		return NULL;
	}
	if ((p = util_strdup(path)) == NULL) {
		err_set(e, AG_ENOMEM, "out of memory");
		return NULL;
	}
	for (i = j = 0; path[i] != '\0'; i++)
		if (path[i] != '/' || j == 0 || p[j - 1] != '/')
			p[j++] = path[i];
	if (j > 1 && p[j - 1] == '/')
		j--;
	p[j] = '\0';
	if (strcmp(p, "/") == 0 || strstr(p, "/./") != NULL ||
	    strstr(p, "/../") != NULL || util_endswith(p, "/.") ||
	    util_endswith(p, "/..")) {
		err_set(e, AG_EINVAL, "refusing %s '%s'", key, path);
		free(p);
		return NULL;
	}
	return p;
}

/* Directories whose contents are never all removed, whatever root_dir says. */
static int
is_system_dir(const char *p)
{
	static const char *const sys[] = {
		"/var/log", "/var/lib", "/var/cache", "/var/opt", "/var/tmp",
		"/usr/local", "/usr/lib", "/usr/share", "/etc/codedeploy-agent",
		"/opt/codedeploy-agent",
	};
	size_t i;

	if (strchr(p + 1, '/') == NULL)	/* /opt, /etc, /home, /srv, ... */
		return 1;
	for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
		if (strcmp(p, sys[i]) == 0)
			return 1;
	return 0;
}

/* Remove path (or say it would); a failure is reported on stderr. */
static int
drop(const char *path, unsigned flags, FILE *out)
{
	struct err re = ERR_INIT;

	if (!util_exists(path))
		return 0;
	if (flags & IMAGEPREP_DRY_RUN) {
		fprintf(out, "would remove %s\n", path);
		return 0;
	}
	if (plat_fs_rm_rf(path, &re) != 0) {
		fprintf(stderr, "cdagent: image-prep: %s\n", re.msg);
		return re.code;
	}
	fprintf(out, "removed %s\n", path);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The entries of dir (sorted, for stable output) whose names pass want
 * (NULL: all), as full paths. A missing dir gives an empty list.
 */
static int
list_dir(struct strv *out, const char *dir,
    int (*want)(const char *name, const void *arg), const void *arg,
    struct err *e)
{
	struct dirent *de;
	DIR *d;
	int r = 0;

	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return 0;
		return err_set(e, AG_EIO, "open %s: %s", dir, strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (want != NULL && !want(de->d_name, arg))
			continue;
		if (strv_push_owned(out, util_path_join(dir, de->d_name)) !=
		    0) {
			r = err_set(e, AG_ENOMEM, "out of memory");
			break;
		}
	}
	closedir(d);
	if (r == 0 && out->n > 1)
		qsort(out->v, out->n, sizeof(out->v[0]), cmp_str);
	return r;
}

/* A log of ours: <program_name>.* or -*, codedeploy-local.log*. */
static int
is_agent_log(const char *name, const void *arg)
{
	const char *prog = arg;
	size_t n = strlen(prog);

	if (strncmp(name, prog, n) == 0 && (name[n] == '.' || name[n] == '-'))
		return 1;
	return strncmp(name, "codedeploy-local.log",
	    strlen("codedeploy-local.log")) == 0;
}

/*
 * 1 when the agent holds <pid_dir>/<program_name>.pid.lock (flock, as the
 * Ruby agent's master takes it), 0 when nobody does or there is none.
 */
static int
agent_running(const char *pid_dir, const char *prog)
{
	char path[4096];
	int fd, busy = 0;

	snprintf(path, sizeof(path), "%s/%s.pid.lock", pid_dir, prog);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK)
		busy = 1;
	close(fd);	/* drops our lock, if we got it */
	return busy;
}

int
imageprep_run(const struct config *c, unsigned flags, FILE *out,
    struct err *e)
{
	struct strv del = STRV_INIT;
	char *root = NULL, *logs = NULL, *pids = NULL, *onprem = NULL;
	size_t i;
	int r = 0, failed = 0;

	if (strchr(c->program_name, '/') != NULL ||
	    c->program_name[0] == '\0' || c->program_name[0] == '.') {
		r = err_set(e, AG_EINVAL, "refusing program_name '%s'",
		    c->program_name);
		goto out;
	}
	if ((root = path_clean("root_dir", c->root_dir, e)) == NULL ||
	    (logs = path_clean("log_dir", c->log_dir, e)) == NULL ||
	    (pids = path_clean("pid_dir", c->pid_dir, e)) == NULL) {
		r = e->code;
		goto out;
	}
	if (!(flags & IMAGEPREP_KEEP_CONFIG) &&
	    (onprem = path_clean("on_premises_config_file",
	    c->on_premises_config_file, e)) == NULL) {
		r = e->code;
		goto out;
	}
	if (is_system_dir(root)) {
		r = err_set(e, AG_EINVAL, "refusing to empty root_dir '%s': a "
		    "system directory", c->root_dir);
		goto out;
	}
	if (agent_running(pids, c->program_name)) {
		r = err_set(e, AG_EINVAL, "the agent is running (%s/%s.pid.lock "
		    "is locked); stop it first: systemctl stop cdagent", pids,
		    c->program_name);
		goto out;
	}

	/* Gather everything first, so a listing error removes nothing. */
	if (onprem != NULL && (r = strv_push(&del, onprem)) != 0) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = list_dir(&del, root, NULL, NULL, e)) != 0 ||
	    (r = list_dir(&del, logs, is_agent_log, c->program_name, e)) != 0)
		goto out;
	if (strv_pushf(&del, "%s/%s.pid", pids, c->program_name) != 0 ||
	    strv_pushf(&del, "%s/%s.pid.lock", pids, c->program_name) != 0) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}

	for (i = 0; i < del.n; i++)
		if (drop(del.v[i], flags, out) != 0)
			failed++;
	if (failed)
		r = err_set(e, AG_EIO, "%d path%s could not be removed",
		    failed, failed == 1 ? "" : "s");
 out:
	strv_release(&del);
	free(root);
	free(logs);
	free(pids);
	free(onprem);
	return r;
}

int
cmd_image_prep(int argc, char **argv)
{
	struct config c;
	struct err e = ERR_INIT;
	const char *path = NULL;
	unsigned flags = 0;
	int i, r, inited = 0, status = CLI_EXIT_FAIL;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			printf(IP_USAGE "\n\n"
			    "Remove this host's identity and state before an "
			    "image of it is captured:\nthe on-premises config "
			    "(unless --keep-config), the deployment root's\n"
			    "contents, the agent's logs and PID files. Prints "
			    "each path removed.\n\n"
			    "  -c, --config CONFIG  agent config (default %s)\n"
			    "  --keep-config        keep the on-premises config\n"
			    "  --dry-run            print what would be removed, "
			    "remove nothing\n", CONFIG_DEFAULT_PATH);
			return CLI_EXIT_OK;
		} else if ((strcmp(argv[i], "-c") == 0 ||
		    strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
			path = argv[++i];
		} else if (strcmp(argv[i], "--keep-config") == 0) {
			flags |= IMAGEPREP_KEEP_CONFIG;
		} else if (strcmp(argv[i], "--dry-run") == 0) {
			flags |= IMAGEPREP_DRY_RUN;
		} else {
			fprintf(stderr, "cdagent: image-prep: unexpected "
			    "argument '%s'\n%s\n", argv[i], IP_USAGE);
			return CLI_EXIT_USAGE;
		}
	}

	if ((r = config_init(&c, &e)) != 0)
		goto out;
	inited = 1;
	/* The default file is optional (defaults apply); a named one is not. */
	if (path == NULL && util_exists(CONFIG_DEFAULT_PATH))
		path = CONFIG_DEFAULT_PATH;
	if (path != NULL && (r = config_load(&c, path, &e)) != 0)
		goto out;
	if ((r = imageprep_run(&c, flags, stdout, &e)) != 0)
		goto out;
	status = CLI_EXIT_OK;
 out:
	if (status != CLI_EXIT_OK)
		fprintf(stderr, "cdagent: image-prep: %s\n", e.msg);
	if (inited)
		config_release(&c);
	return status;
}

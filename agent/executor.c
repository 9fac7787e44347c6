/*
 * executor.c: one host command against the deployment root; see
 * executor.h. The modules doing the work are unpack (bundles), install
 * (files and permissions) and hooks (scripts); this file owns the layout,
 * the marker files, retention and the choice of revision per event.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "appspec.h"
#include "buf.h"
#include "config.h"
#include "creds.h"
#include "deployspec.h"
#include "err.h"
#include "executor.h"
#include "github.h"
#include "hooks.h"
#include "install.h"
#include "log.h"
#include "platform.h"
#include "s3.h"
#include "unpack.h"
#include "util.h"
#include "banned.h"

extern char **environ;

const char *const executor_default_events[11] = {
	"BeforeBlockTraffic", "AfterBlockTraffic", "ApplicationStop",
	"DownloadBundle", "BeforeInstall", "Install", "AfterInstall",
	"ApplicationStart", "ValidateService", "BeforeAllowTraffic",
	"AfterAllowTraffic",
};

/* The hook events of the service's command mapping (§3.3). */
static const char *const hook_events[9] = {
	"BeforeBlockTraffic", "AfterBlockTraffic", "ApplicationStop",
	"BeforeInstall", "AfterInstall", "ApplicationStart",
	"ValidateService", "BeforeAllowTraffic", "AfterAllowTraffic",
};

/* Which revision's AppSpec and scripts an event uses (§7.2). */
enum revmode { REV_LAST_SUCCESSFUL, REV_MOST_RECENT, REV_CURRENT };

/* Variables that may carry credentials: never passed to a hook. */
static const char *const secret_env[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_SECURITY_TOKEN", "AWS_ACCESS_KEY", "AWS_SECRET_KEY",
	"AWS_CREDENTIAL_FILE", "AWS_CREDENTIALS_FILE",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN", "CDAGENT_GITHUB_TOKEN",
};

int
executor_is_agent_event(const char *event)
{
	return strcmp(event, "DownloadBundle") == 0 ||
	    strcmp(event, "Install") == 0;
}

static int
is_hook_event(const char *event)
{
	size_t i;

	for (i = 0; i < sizeof(hook_events) / sizeof(hook_events[0]); i++)
		if (strcmp(event, hook_events[i]) == 0)
			return 1;
	return 0;
}

static int
is_default_event(const char *event)
{
	size_t i;

	for (i = 0; i < 11; i++)
		if (strcmp(event, executor_default_events[i]) == 0)
			return 1;
	return 0;
}

static void
res_set(struct exec_result *res, int code, const char *msg)
{
	memset(res, 0, sizeof(*res));
	res->error_code = code;
	snprintf(res->message, sizeof(res->message), "%s", msg);
}

char *
executor_deployment_dir(const struct config *c, const struct deployspec *ds)
{
	struct buf b = BUF_INIT(8192);

	if (buf_addf(&b, "%s/%s/%s", c->root_dir, ds->group_id,
	    ds->deployment_id) != 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b);
}

static int
path_fmt(struct buf *b, struct err *e, const char *fmt, ...)
    AG_PRINTF(3, 4);

static int
path_fmt(struct buf *b, struct err *e, const char *fmt, ...)
{
	va_list ap;
	int r;

	buf_reset(b);
	va_start(ap, fmt);
	r = buf_vaddf(b, fmt, ap);
	va_end(ap);
	if (r != 0)
		return err_set(e, AG_EINVAL, "path too long");
	return 0;
}

/* Read a marker file: an absolute directory, trailing blanks stripped. */
static char *
read_marker(const struct config *c, const char *group, const char *suffix)
{
	struct buf path = BUF_INIT(8192), val = BUF_INIT(8192);
	struct err e = ERR_INIT;
	char *out = NULL;

	if (path_fmt(&path, &e, "%s/deployment-instructions/%s%s",
	    c->root_dir, group, suffix) != 0)
		goto out;
	if (buf_read_file(&val, buf_cstr(&path), &e) != 0)
		goto out;
	while (val.len > 0 && (val.ptr[val.len - 1] == '\n' ||
	    val.ptr[val.len - 1] == ' ' || val.ptr[val.len - 1] == '\t' ||
	    val.ptr[val.len - 1] == '\r'))
		buf_truncate(&val, val.len - 1);
	if (val.len > 0)
		out = buf_detach(&val);
 out:
	buf_release(&path);
	buf_release(&val);
	return out;
}

static int
write_marker(const struct config *c, const char *group, const char *suffix,
    const char *value, struct err *e)
{
	struct buf path = BUF_INIT(8192);
	int r;

	if ((r = path_fmt(&path, e, "%s/deployment-instructions",
	    c->root_dir)) != 0 ||
	    (r = plat_fs_mkdir_p(buf_cstr(&path), 0755, e)) != 0 ||
	    (r = buf_addf(&path, "/%s%s", group, suffix)) != 0 ||
	    (r = plat_fs_write_atomic(buf_cstr(&path), value, strlen(value),
	    0644, e)) != 0) {
		if (r == AG_EINVAL && e->msg[0] == '\0')
			err_set(e, r, "path too long");
	}
	buf_release(&path);
	return r;
}

static enum revmode
event_revmode(const char *event, const struct deployspec *ds)
{
	int bg = deployspec_is_bg_rollback(ds);

	if (strcmp(event, "BeforeBlockTraffic") == 0 ||
	    strcmp(event, "AfterBlockTraffic") == 0)
		return bg ? REV_MOST_RECENT : REV_LAST_SUCCESSFUL;
	if (strcmp(event, "ApplicationStop") == 0)
		return REV_LAST_SUCCESSFUL;
	if (strcmp(event, "BeforeAllowTraffic") == 0 ||
	    strcmp(event, "AfterAllowTraffic") == 0)
		return bg ? REV_LAST_SUCCESSFUL : REV_CURRENT;
	return REV_CURRENT;
}

/*
 * The deployment directory whose archive an event uses, or NULL when there
 * is none to use (the hook is then a no-op). §7.2: the older revisions are
 * used only while the current deployment has no archive yet.
 */
static char *
select_revision(const struct exec_ctx *x, const struct deployspec *ds,
    const char *event)
{
	enum revmode m = event_revmode(event, ds);
	char *cur, *arch;
	int have;

	if ((cur = executor_deployment_dir(x->cfg, ds)) == NULL)
		return NULL;
	if (m == REV_CURRENT)
		return cur;
	arch = util_path_join(cur, "deployment-archive");
	have = arch != NULL && util_exists(arch);
	free(arch);
	if (have)
		return cur;
	free(cur);
	return read_marker(x->cfg, ds->group_id, m == REV_MOST_RECENT ?
	    "_most_recent_install" : "_last_successful_install");
}

/* ---- retention (§9.2) ---------------------------------------------------- */

struct cand {
	char *path;
	int64_t mtime_ns;
};

static int
cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	return (x->mtime_ns > y->mtime_ns) - (x->mtime_ns < y->mtime_ns);
}

static int
prune_archives(const struct exec_ctx *x, const struct deployspec *ds,
    const char *current, struct err *e)
{
	struct cand *c = NULL;
	size_t n = 0, cap = 0, i;
	char *gdir = NULL, *keep = NULL, *p;
	struct dirent *de;
	struct stat st;
	long extra;
	DIR *d = NULL;
	int r = 0;

	if ((gdir = util_path_join(x->cfg->root_dir, ds->group_id)) == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	if ((d = opendir(gdir)) == NULL)
		goto out;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if ((p = util_path_join(gdir, de->d_name)) == NULL) {
			r = err_set(e, AG_ENOMEM, "out of memory");
			goto out;
		}
		if (strcmp(p, current) == 0 || lstat(p, &st) != 0) {
			free(p);
			continue;
		}
		if (n == cap) {
			struct cand *nc;

			cap = cap ? cap * 2 : 16;
			if ((nc = realloc(c, cap * sizeof(*c))) == NULL) {
				free(p);
				r = err_set(e, AG_ENOMEM, "out of memory");
				goto out;
			}
			c = nc;
		}
		c[n].path = p;
		c[n].mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
		    st.st_mtim.tv_nsec;
		n++;
	}
	extra = (long)n - x->cfg->max_revisions + 1;
	if (extra <= 0)
		goto out;
	keep = read_marker(x->cfg, ds->group_id, "_last_successful_install");
	qsort(c, n, sizeof(*c), cand_cmp);
	for (i = 0; i < n && extra > 0; i++) {
		if (keep != NULL && strcmp(c[i].path, keep) == 0)
			continue;
		log_info("removing old revision %s (max_revisions %d)",
		    c[i].path, x->cfg->max_revisions);
		if ((r = plat_fs_rm_rf(c[i].path, e)) != 0) {
			err_prefix(e, "Error deleting directories");
			goto out;
		}
		extra--;
	}
 out:
	if (d != NULL)
		closedir(d);
	for (i = 0; i < n; i++)
		free(c[i].path);
	free(c);
	free(gdir);
	free(keep);
	return r;
}

/* ---- DownloadBundle (§12) ------------------------------------------------ */

struct progress_adapter {
	const struct exec_ctx *x;
	const char *what;
};

static void
on_unpack_progress(void *ctx, uint64_t bytes, uint64_t files)
{
	struct progress_adapter *pa = ctx;

	if (pa->x->on_bytes != NULL)
		pa->x->on_bytes(pa->x->ctx, pa->what, bytes, files);
}

/* §12.1: GetObject streamed to bundle.tar, resumable, checked. */
static int
fetch_s3(const struct exec_ctx *x, const struct deployspec *ds,
    const char *bundle, struct err *e)
{
	struct s3_fetch_req rq;
	struct s3_fetch_stats st;
	struct creds cr;
	int r;

	if (x->http == NULL || x->creds == NULL || x->region == NULL)
		return err_set(e, AG_EINVAL, "S3 revision: no credentials or "
		    "region configured for S3");
	memset(&cr, 0, sizeof(cr));
	if ((r = creds_get(x->creds, &cr, e)) != 0)
		return r;
	memset(&rq, 0, sizeof(rq));
	memset(&st, 0, sizeof(st));
	rq.bucket = ds->s3_bucket;
	rq.key = ds->s3_key;
	rq.version = ds->s3_version;
	rq.etag = ds->s3_etag;
	rq.region = x->region;
	rq.creds = &cr;
	rq.http = x->http;
	rq.endpoint = x->cfg->s3_endpoint_override;
	rq.force_path_style = x->cfg->s3_force_path_style;
	rq.use_fips = x->cfg->use_fips_mode;
	rq.budget_dir = x->cfg->root_dir;
	rq.disk_reserve = x->cfg->disk_reserve_bytes;
	rq.expansion_factor = x->cfg->disk_expansion_factor;
	r = s3_fetch(&rq, bundle, &st, e);
	creds_release(&cr);
	if (r == 0)
		log_info("fetched s3://%s/%s (%llu bytes, %d request(s), "
		    "sha256 %s)", ds->s3_bucket, ds->s3_key,
		    (unsigned long long)st.size, st.gets, st.sha256);
	return r;
}

/* §12.2: the commit's archive from the GitHub API, redirects followed. */
static int
fetch_github(const struct exec_ctx *x, const struct deployspec *ds,
    const char *bundle, struct err *e)
{
	struct github_fetch_req rq;
	struct github_fetch_stats st;
	int r;

	if (x->http == NULL)
		return err_set(e, AG_EINVAL, "GitHub revision: no HTTP client "
		    "configured");
	memset(&rq, 0, sizeof(rq));
	if ((r = github_format_from_bundle_type(ds->bundle_type, &rq.format,
	    e)) != 0)
		return r;
	rq.account = ds->gh_account;
	rq.repo = ds->gh_repo;
	rq.commit = ds->gh_commit;
	rq.token = ds->gh_token;
	rq.http = x->http;
	return github_fetch(&rq, bundle, &st, e);
}

static int
fetch_bundle(const struct exec_ctx *x, const struct deployspec *ds,
    const char *bundle, struct err *e)
{
	switch (ds->rev) {
	case REV_LOCAL_FILE:
		/* a copy, so a source replaced mid-deployment can't bite */
		unlink(bundle);
		return plat_fs_copy_file(ds->local_location, bundle, e);
	case REV_S3:
		return fetch_s3(x, ds, bundle, e);
	case REV_GITHUB:
		return fetch_github(x, ds, bundle, e);
	case REV_LOCAL_DIR:
		break;
	}
	return err_set(e, AG_EINVAL, "no bundle to fetch for a directory");
}

static int
download_bundle(const struct exec_ctx *x, const struct deployspec *ds,
    const char *ddir, struct err *e)
{
	struct buf bundle = BUF_INIT(8192), arch = BUF_INIT(8192);
	struct progress_adapter pa = { x, "unpack" };
	struct unpack_opts uo;
	struct unpack_stats us;
	int r;

	if ((r = prune_archives(x, ds, ddir, e)) != 0)
		goto out;
	if ((r = path_fmt(&bundle, e, "%s/bundle.tar", ddir)) != 0 ||
	    (r = path_fmt(&arch, e, "%s/deployment-archive", ddir)) != 0)
		goto out;
	if ((r = plat_fs_rm_rf(buf_cstr(&arch), e)) != 0)
		goto out;
	if (ds->rev == REV_LOCAL_DIR) {
		if ((r = plat_fs_copy_tree(ds->local_location, buf_cstr(&arch),
		    e)) != 0)
			goto out;
	} else {
		if ((r = fetch_bundle(x, ds, buf_cstr(&bundle), e)) != 0)
			goto out;
		memset(&uo, 0, sizeof(uo));
		memset(&us, 0, sizeof(us));
		uo.max_total_size = x->cfg->archive_max_extraction_size;
		uo.allow_setuid = x->cfg->allow_setuid_in_bundle;
		uo.keep_owner = plat_is_privileged();
		uo.progress = on_unpack_progress;
		uo.ctx = &pa;
		if ((r = unpack_bundle(buf_cstr(&bundle), buf_cstr(&arch), &uo,
		    &us, e)) != 0)
			goto out;
		log_info("unpacked %llu files, %llu bytes into %s",
		    (unsigned long long)us.files,
		    (unsigned long long)us.bytes, buf_cstr(&arch));
	}
	r = write_marker(x->cfg, ds->group_id, "_most_recent_install", ddir, e);
 out:
	buf_release(&bundle);
	buf_release(&arch);
	return r;
}

/* ---- Install (§6) -------------------------------------------------------- */

/* §5.5: the AppSpec's events against AllPossibleLifecycleEvents. */
static int
validate_events(const struct deployspec *ds, const struct appspec *as,
    struct err *e)
{
	struct buf bad = BUF_INIT(4096);
	const char *name = ds->appspec_filename;
	size_t i, j;
	int r = 0, found;

	if (!ds->has_all_events)
		return 0;
	for (i = 0; i < as->n_hooks; i++)
		if (!strv_contains(&ds->all_events, as->hooks[i].event))
			buf_addf(&bad, "%s%s", bad.len ? ", " : "",
			    as->hooks[i].event);
	if (bad.len > 0) {
		r = err_set(e, AG_EINVAL, "%s file contains unknown lifecycle "
		    "events: [%s]", name, buf_cstr(&bad));
		goto out;
	}
	for (i = 0; i < ds->all_events.n; i++) {
		const char *ev = ds->all_events.v[i];

		if (is_default_event(ev))
			continue;
		found = 0;
		for (j = 0; j < as->n_hooks && !found; j++)
			found = strcmp(as->hooks[j].event, ev) == 0;
		if (!found)
			buf_addf(&bad, "%s%s", bad.len ? "," : "", ev);
	}
	if (bad.len > 0)
		r = err_set(e, AG_EINVAL, "You specified a lifecycle event "
		    "which is not a default one and doesn't exist in your %s "
		    "file: %s", name, buf_cstr(&bad));
 out:
	buf_release(&bad);
	return r;
}

static int
run_install(const struct exec_ctx *x, const struct deployspec *ds,
    const char *ddir, struct err *e)
{
	struct buf arch = BUF_INIT(8192), instr = BUF_INIT(8192);
	struct progress_adapter pa = { x, "install" };
	struct appspec *as = NULL;
	struct install_opts io;
	struct install_stats is;
	enum appspec_feb feb;
	int r;

	if ((r = path_fmt(&arch, e, "%s/deployment-archive", ddir)) != 0 ||
	    (r = path_fmt(&instr, e, "%s/deployment-instructions",
	    x->cfg->root_dir)) != 0)
		goto out;
	if ((r = plat_fs_mkdir_p(buf_cstr(&instr), 0755, e)) != 0)
		goto out;
	if ((r = appspec_load(&as, buf_cstr(&arch), ds->appspec_filename,
	    plat_os_name(), NULL, e)) != 0)
		goto out;
	if ((r = validate_events(ds, as, e)) != 0)
		goto out;
	feb = as->feb;
	if (feb == FEB_UNSET && ds->feb != NULL &&
	    (feb = appspec_feb_parse(ds->feb)) == FEB_UNSET) {
		r = err_set(e, AG_EINVAL, "The deployment failed because an "
		    "invalid option was specified for fileExistsBehavior: %s. "
		    "Valid options include OVERWRITE, RETAIN, and DISALLOW.",
		    ds->feb);
		goto out;
	}
	if (feb == FEB_UNSET)
		feb = FEB_DISALLOW;
	memset(&io, 0, sizeof(io));
	memset(&is, 0, sizeof(is));
	io.spec = as;
	io.archive_dir = buf_cstr(&arch);
	io.instructions_dir = buf_cstr(&instr);
	io.group_id = ds->group_id;
	io.feb = feb;
	io.preserve_symlinks = x->cfg->preserve_symlinks;
	io.progress = on_unpack_progress;
	io.ctx = &pa;
	if ((r = install_run(&io, &is, e)) != 0)
		goto out;
	log_info("installed %llu files, %llu directories (%llu bytes, %llu "
	    "retained)", (unsigned long long)is.files,
	    (unsigned long long)is.dirs, (unsigned long long)is.bytes,
	    (unsigned long long)is.skipped);
	r = write_marker(x->cfg, ds->group_id, "_last_successful_install",
	    ddir, e);
 out:
	appspec_free(as);
	buf_release(&arch);
	buf_release(&instr);
	return r;
}

/* ---- hooks (§7) ---------------------------------------------------------- */

static int
build_env(const struct exec_ctx *x, const struct deployspec *ds,
    const char *event, struct strv *env)
{
	const char *const *src = x->base_env ? x->base_env :
	    (const char *const *)environ;
	size_t i, j;
	int skip;

	for (i = 0; src != NULL && src[i] != NULL; i++) {
		skip = 0;
		for (j = 0; j < sizeof(secret_env) / sizeof(secret_env[0]);
		    j++) {
			size_t n = strlen(secret_env[j]);

			if (strncmp(src[i], secret_env[j], n) == 0 &&
			    src[i][n] == '=')
				skip = 1;
		}
		if (!skip && strv_push(env, src[i]) != 0)
			return AG_ENOMEM;
	}
	if (strv_setenv(env, "LIFECYCLE_EVENT", event) ||
	    strv_setenv(env, "DEPLOYMENT_ID", ds->deployment_id) ||
	    strv_setenv(env, "APPLICATION_NAME", ds->app_name) ||
	    strv_setenv(env, "DEPLOYMENT_GROUP_NAME", ds->group_name) ||
	    strv_setenv(env, "DEPLOYMENT_GROUP_ID", ds->group_id))
		return AG_ENOMEM;
	if (ds->rev == REV_S3 &&
	    (strv_setenv(env, "BUNDLE_BUCKET", ds->s3_bucket) ||
	    strv_setenv(env, "BUNDLE_KEY", ds->s3_key) ||
	    strv_setenv(env, "BUNDLE_VERSION", ds->s3_version) ||
	    strv_setenv(env, "BUNDLE_ETAG", ds->s3_etag)))
		return AG_ENOMEM;
	if (ds->rev == REV_GITHUB &&
	    strv_setenv(env, "BUNDLE_COMMIT", ds->gh_commit))
		return AG_ENOMEM;
	return 0;
}

static int
run_hooks(const struct exec_ctx *x, const struct deployspec *ds,
    const char *event, const char *ddir, struct exec_result *res,
    struct err *e)
{
	struct buf arch = BUF_INIT(8192), slog = BUF_INIT(8192);
	struct buf dlog = BUF_INIT(8192);
	struct hooks_result hr;
	struct hooks_event ev;
	struct appspec *as = NULL;
	const struct appspec_hook *h;
	struct strv env = STRV_INIT;
	char *sel = NULL, cwd[4096];
	int r = 0;

	if ((sel = select_revision(x, ds, event)) == NULL) {
		log_info("%s: no previous revision to run scripts from", event);
		goto out;
	}
	if ((r = path_fmt(&arch, e, "%s/deployment-archive", sel)) != 0 ||
	    (r = path_fmt(&slog, e, "%s/logs/scripts.log", ddir)) != 0 ||
	    (r = path_fmt(&dlog, e, "%s/deployment-logs/%s-deployments.log",
	    x->cfg->root_dir, x->cfg->program_name)) != 0)
		goto out;
	if ((r = appspec_load(&as, buf_cstr(&arch), ds->appspec_filename,
	    plat_os_name(), NULL, e)) != 0)
		goto out;
	h = appspec_hook(as, event);
	if (h == NULL || h->n_scripts == 0)
		goto out;
	if (build_env(x, ds, event, &env) != 0) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	if (x->cfg->enable_deployments_log) {
		char *dir = util_path_join(x->cfg->root_dir,
		    "deployment-logs");

		if (dir == NULL || plat_fs_mkdir_p(dir, 0755, e) != 0)
			log_warn("cannot create deployment-logs under %s",
			    x->cfg->root_dir);
		free(dir);
	}
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		snprintf(cwd, sizeof(cwd), "/");
	memset(&ev, 0, sizeof(ev));
	memset(&hr, 0, sizeof(hr));
	ev.event = event;
	ev.hook = h;
	ev.archive_dir = buf_cstr(&arch);
	ev.scripts_log = buf_cstr(&slog);
	ev.deployments_log = x->cfg->enable_deployments_log ?
	    buf_cstr(&dlog) : NULL;
	ev.deployment_id = ds->deployment_id;
	ev.envp = (const char *const *)env.v;
	ev.cwd = cwd;
	ev.kill_grace_ms = (int64_t)x->cfg->hook_kill_grace_seconds * 1000;
	ev.drain_ms = x->cfg->hook_output_drain_ms;
	ev.outputs_left_open_fail = x->cfg->hook_outputs_left_open_fail;
	ev.on_script = x->on_script;
	ev.on_spawn = x->on_spawn;
	ev.ctx = x->ctx;
	r = hooks_run_event(&ev, &hr, e);
	if (r == 0 && hr.error_code != 0)
		r = AG_EHOOK;
	if (hr.error_code != 0) {
		res->error_code = hr.error_code;
		snprintf(res->script_name, sizeof(res->script_name), "%s",
		    hr.script_name);
		snprintf(res->message, sizeof(res->message), "%s",
		    hr.message);
		snprintf(res->log, sizeof(res->log), "%s", hr.log);
	}
 out:
	appspec_free(as);
	strv_release(&env);
	free(sel);
	buf_release(&arch);
	buf_release(&slog);
	buf_release(&dlog);
	return r;
}

/* ---- entry points -------------------------------------------------------- */

int
executor_run(const struct exec_ctx *x, const struct deployspec *ds,
    const char *command, struct exec_result *res)
{
	struct err e = ERR_INIT;
	char *ddir = NULL;
	int r;

	res_set(res, 0, "");
	if ((ddir = executor_deployment_dir(x->cfg, ds)) == NULL) {
		r = err_set(&e, AG_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = plat_fs_mkdir_p(ddir, 0755, &e)) != 0)
		goto out;
	if (strcmp(command, "DownloadBundle") == 0)
		r = download_bundle(x, ds, ddir, &e);
	else if (strcmp(command, "Install") == 0)
		r = run_install(x, ds, ddir, &e);
	else if (is_hook_event(command) || x->local)
		r = run_hooks(x, ds, command, ddir, res, &e);
	else
		r = err_set(&e, AG_EINVAL, "Unsupported command type: %s.",
		    command);
 out:
	if (r != 0 && res->error_code == 0)
		res_set(res, 5, e.msg);
	free(ddir);
	return r;
}

int
executor_is_noop(const struct exec_ctx *x, const struct deployspec *ds,
    const char *command, int *noop)
{
	struct appspec *as = NULL;
	const struct appspec_hook *h;
	struct err e = ERR_INIT;
	char *sel = NULL, *arch = NULL;

	*noop = 1;
	if (executor_is_agent_event(command)) {
		*noop = 0;
		return 0;
	}
	if (!is_hook_event(command) && !x->local)
		return 0;
	if ((sel = select_revision(x, ds, command)) == NULL)
		return 0;
	if ((arch = util_path_join(sel, "deployment-archive")) == NULL)
		goto out;
	/* an AppSpec that does not parse is not a no-op: running says why */
	if (appspec_load(&as, arch, ds->appspec_filename, plat_os_name(), NULL,
	    &e) != 0) {
		*noop = 0;
		goto out;
	}
	h = appspec_hook(as, command);
	*noop = h == NULL || h->n_scripts == 0;
 out:
	appspec_free(as);
	free(arch);
	free(sel);
	return 0;
}

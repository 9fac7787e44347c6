/*
 * daemon.c: the control-plane daemon; see daemon.h.
 *
 * Threads: the main thread polls; each command gets a worker thread with
 * its own HTTP client (a libcurl handle is not shared between threads).
 * The agent struct is shared and guarded by one mutex.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "cli.h"
#include "config.h"
#include "cp.h"
#include "creds.h"
#include "daemon.h"
#include "deployspec.h"
#include "err.h"
#include "executor.h"
#include "http.h"
#include "log.h"
#include "pkcs7.h"
#include "platform.h"
#include "sigv4.h"
#include "util.h"
#include "version.h"
#include "banned.h"

/*
 * The stop flag (the one global the house style allows), and the reload
 * request that rides along with it. Set from signal handlers only.
 */
static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t reload_flag;

static void
on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void
on_hup(int sig)
{
	(void)sig;
	reload_flag = 1;
}

struct job;

/* Who this host is to the control plane, and where that is. */
struct identity {
	struct onprem op;		/* on-premises config, when have_op */
	int have_op;
	char *host_id, *region, *endpoint;	/* owned */
};

struct agent {
	struct config conf;		/* cfg points here */
	const char *config_path;
	struct identity id;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_attr_t thread_attr;	/* workers: an 8 MiB stack */
	struct job *jobs;		/* in flight, guarded by mu */
	int running;
	struct strv busy_groups;	/* groups with a command running */
	int completed;			/* commands completed (for --once) */
	char last_poll[64], last_result[ERR_MSG_MAX + 64];
};

struct job {
	struct agent *ag;
	struct cp_command *cmd;
	pthread_t th;
	char deployment_id[256];	/* once known */
	char group_id[256];
	int done;			/* the thread has finished */
	int reporting;			/* the worker is completing it */
	int abandoned;			/* the main thread reported it */
	struct job *next;
};

/* A worker's own connection to the control plane. */
struct client {
	struct http *http;
	struct creds_provider *creds;
	struct cp *cp;
};

static void
client_release(struct client *cl)
{
	cp_free(cl->cp);
	creds_provider_free(cl->creds);
	http_free(cl->http);
	memset(cl, 0, sizeof(*cl));
}

/*
 * abortable: the stop flag cuts this client's transfers short. Only the
 * poller's client is: a command that may finish during a graceful stop
 * must still be able to download and to report.
 */
static int
client_init(struct agent *ag, struct client *cl, int abortable,
    struct err *e)
{
	struct http_opts ho;
	struct cp_opts co;
	unsigned flags = CREDS_IMDS;
	int r;

	memset(cl, 0, sizeof(*cl));
	http_opts_from_config(&ho, &ag->conf);
	if (abortable)
		ho.abort_flag = (const volatile int *)&stop_flag;
	if (ag->conf.disable_imds_v1)
		flags |= CREDS_NO_IMDS_V1;
	if ((r = http_new(&cl->http, &ho, e)) != 0 ||
	    (r = creds_provider_new(&cl->creds, ag->id.have_op ? &ag->id.op : NULL,
	    flags, cl->http, e)) != 0)
		goto fail;
	memset(&co, 0, sizeof(co));
	co.endpoint = ag->id.endpoint;
	co.region = ag->id.region;
	co.secure = ag->conf.enable_auth_policy;
	co.read_timeout_s = ag->conf.http_read_timeout;
	co.http = cl->http;
	co.creds = cl->creds;
	if ((r = cp_new(&cl->cp, &co, e)) != 0)
		goto fail;
	return 0;
 fail:
	client_release(cl);
	return r;
}

static void
iso_now(char *out, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static char *
state_path(const struct agent *ag, const char *rel)
{
	struct buf b = BUF_INIT(8192);

	if (buf_addf(&b, "%s/.cdagent/%s", ag->conf.root_dir, rel) != 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b);
}

static char *
tracking_path(const struct agent *ag, const char *deployment_id)
{
	struct buf b = BUF_INIT(8192);

	if (buf_addf(&b, "%s/%s%s%s", ag->conf.root_dir,
	    ag->conf.ongoing_deployment_tracking, deployment_id ? "/" : "",
	    deployment_id ? deployment_id : "") != 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b);
}

/* Write .cdagent/status.json for `cdagent status`; mu held. */
static void
write_status(struct agent *ag)
{
	json_t *o, *fl;
	struct err e = ERR_INIT;
	struct job *j;
	char *s = NULL, *path = NULL;

	o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s}", "version",
	    CDAGENT_VERSION, "pid", (json_int_t)getpid(), "host_identifier",
	    ag->id.host_id, "endpoint", ag->id.endpoint, "last_poll", ag->last_poll,
	    "last_poll_result", ag->last_result);
	fl = json_array();
	for (j = ag->jobs; j != NULL; j = j->next) {
		if (j->done || j->abandoned)
			continue;
		json_array_append_new(fl, json_pack("{s:s, s:s, s:s}",
		    "command", j->cmd->name ? j->cmd->name : "",
		    "deployment_id", j->deployment_id, "group_id",
		    j->group_id));
	}
	json_object_set_new(o, "in_flight", fl);
	if ((s = json_dumps(o, JSON_INDENT(2))) != NULL &&
	    (path = state_path(ag, "status.json")) != NULL)
		plat_fs_write_atomic(path, s, strlen(s), 0644, &e);
	free(s);
	free(path);
	json_decref(o);
}

/* ---- completions: bounded retries, then a journal -------------------------- */

static int
journal_write(struct agent *ag, const char *hcid, const char *status,
    const char *payload, struct err *e)
{
	char name[80], *dir = NULL, *path = NULL, *s = NULL;
	json_t *o = NULL;
	int r = AG_ENOMEM;

	/* a file name from the identifier's hash: it is opaque text */
	sigv4_sha256_hex(hcid, strlen(hcid), name);
	snprintf(name + 32, sizeof(name) - 32, ".json");
	if ((dir = state_path(ag, "journal")) == NULL ||
	    (path = util_path_join(dir, name)) == NULL ||
	    (o = json_pack("{s:s, s:s, s:s}", "HostCommandIdentifier", hcid,
	    "CommandStatus", status, "Payload", payload)) == NULL ||
	    (s = json_dumps(o, JSON_COMPACT)) == NULL) {
		err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = plat_fs_mkdir_p(dir, 0700, e)) != 0 ||
	    (r = plat_fs_write_atomic(path, s, strlen(s), 0600, e)) != 0)
		goto out;
	log_warn("completion of %s journaled in %s; it is sent after the next "
	    "start", hcid, path);
 out:
	json_decref(o);
	free(s);
	free(path);
	free(dir);
	return r;
}

/*
 * 1 when name in dir is the temporary file of an atomic write that a crash
 * cut short (plat_fs_write_atomic's "<file>.tmp.XXXXXX"), now removed: the
 * real file, if any, decides.
 */
static int
drop_torn(const char *dir, const char *name)
{
	char *path;

	if (strstr(name, ".tmp.") == NULL)
		return 0;
	if ((path = util_path_join(dir, name)) != NULL)
		unlink(path);
	free(path);
	return 1;
}

/*
 * PutHostCommandComplete, retried with backoff on network, throttling and
 * server errors for up to five minutes (shortened once stopping), then
 * journaled.
 */
static void
complete_reliably(struct agent *ag, struct client *cl, const char *hcid,
    const char *status, const char *payload)
{
	int64_t deadline = plat_clock_ms() + 300000, delay = 1000;
	struct err e = ERR_INIT;
	enum cp_error_kind k;
	int r;

	for (;;) {
		r = cp_complete(cl->cp, hcid, status, payload, &e);
		if (r == 0) {
			log_info("PutHostCommandComplete %s: %s", status, hcid);
			return;
		}
		k = cp_error_kind(r, &e);
		log_warn("PutHostCommandComplete failed: %s", e.msg);
		if (k == CP_ERR_CLIENT || k == CP_ERR_AUTH)
			break;	/* retrying will not change the answer */
		if (plat_clock_ms() + delay > deadline || stop_flag)
			break;
		plat_sleep_until(plat_clock_ms() + delay, NULL);
		delay = delay * 2 > 30000 ? 30000 : delay * 2;
	}
	if (k != CP_ERR_CLIENT && journal_write(ag, hcid, status, payload,
	    &e) != 0)
		log_error_e(&e, "cannot journal the completion of %s", hcid);
}

static void
complete_result(struct agent *ag, struct client *cl, const char *hcid,
    int code, const char *script, const char *message, const char *tail)
{
	struct buf payload = BUF_INIT(65536);
	char msg[2100];

	if (code == 0)
		snprintf(msg, sizeof(msg), "Succeeded: %s", message);
	else
		snprintf(msg, sizeof(msg), "%s", message);
	if (cp_diagnostics(code, script, msg, tail, &payload) != 0) {
		buf_release(&payload);
		log_error("cannot build the diagnostics of %s", hcid);
		return;
	}
	complete_reliably(ag, cl, hcid, code == 0 ? "Succeeded" : "Failed",
	    buf_cstr(&payload));
	buf_release(&payload);
}

/* Send what a previous run could not deliver. */
static void
flush_journal(struct agent *ag, struct client *cl)
{
	char *dir = state_path(ag, "journal"), *path;
	struct buf text = BUF_INIT(65536);
	struct err e = ERR_INIT;
	struct dirent *de;
	json_t *o;
	DIR *d;

	if (dir == NULL || (d = opendir(dir)) == NULL) {
		free(dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		int r = AG_EPROTO;

		if (drop_torn(dir, de->d_name) ||
		    !util_endswith(de->d_name, ".json"))
			continue;
		if ((path = util_path_join(dir, de->d_name)) == NULL)
			break;
		buf_reset(&text);
		o = NULL;
		if (buf_read_file(&text, path, &e) == 0 &&
		    (o = json_loads(buf_cstr(&text), 0, NULL)) != NULL)
			r = cp_complete(cl->cp, json_string_value(
			    json_object_get(o, "HostCommandIdentifier")) ?: "",
			    json_string_value(json_object_get(o,
			    "CommandStatus")) ?: "Failed", json_string_value(
			    json_object_get(o, "Payload")) ?: "{}", &e);
		if (r == 0) {
			log_info("sent the journaled completion %s", path);
			unlink(path);
		} else if (o == NULL || cp_error_kind(r, &e) == CP_ERR_CLIENT) {
			/* the service refused it: retrying cannot help */
			log_warn("dropping journal entry %s: %s", path,
			    o == NULL ? "unreadable" : e.msg);
			unlink(path);
		} else {
			log_warn_e(&e, "journaled completion %s not sent yet",
			    path);
		}
		json_decref(o);
		free(path);
	}
	closedir(d);
	buf_release(&text);
	free(dir);
}

/* ---- crash recovery (§3.7, made exact) ------------------------------------- */

static void
recover(struct agent *ag, struct client *cl)
{
	char *dir = tracking_path(ag, NULL), *path;
	struct buf text = BUF_INIT(65536);
	struct err e = ERR_INIT;
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (dir == NULL || (d = opendir(dir)) == NULL) {
		free(dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char *nl, *line, *hcid;
		long long pgid = 0;
		const char *cg = NULL;
		char boot[64];
		int same_boot = 0;

		if (de->d_name[0] == '.')
			continue;
		if (drop_torn(dir, de->d_name))
			continue;
		if ((path = util_path_join(dir, de->d_name)) == NULL)
			break;
		buf_reset(&text);
		if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
		    buf_read_file(&text, path, &e) != 0) {
			free(path);
			continue;
		}
		hcid = text.ptr;
		if (hcid == NULL || (nl = strchr(hcid, '\n')) == NULL) {
			log_warn("ignoring torn tracking file %s", path);
			unlink(path);
			free(path);
			continue;
		}
		*nl = '\0';
		for (line = nl + 1; *line != '\0'; line = nl + 1) {
			if ((nl = strchr(line, '\n')) == NULL)
				break;
			*nl = '\0';
			if (strncmp(line, "boot ", 5) == 0)
				same_boot = plat_boot_id(boot, sizeof(boot)) == 0 &&
				    strcmp(boot, line + 5) == 0;
			else if (strncmp(line, "pgid ", 5) == 0)
				util_parse_ll(line + 5, 1, 1 << 30, &pgid);
			else if (strncmp(line, "cgroup ", 7) == 0)
				cg = line + 7;
		}
		if (time(NULL) - st.st_mtime > 86400) {
			log_warn("dropping stale tracking file %s", path);
		} else {
			log_warn("command %s of deployment %s was in progress "
			    "when the agent stopped: failing it", hcid,
			    de->d_name);
			/* a process group id from another boot is a stranger */
			if (!same_boot)
				pgid = 0;
			if ((pgid > 0 || cg != NULL) &&
			    plat_proc_kill_recorded((long)pgid, cg, &e) != 0)
				log_warn_e(&e, "killing the leftover hook tree");
			complete_result(ag, cl, hcid, 7, "", "Failed: Failing "
			    "in-progress lifecycle event after an agent "
			    "restart.", "");
		}
		unlink(path);
		free(path);
	}
	closedir(d);
	buf_release(&text);
	free(dir);
}

/* ---- one command (§3.2) ---------------------------------------------------- */

/* Append "pgid N\ncgroup P\n" to the tracking file when a hook starts. */
struct spawn_rec {
	char *tracking;
};

static void
on_spawn(void *ctx, long pgid, const char *cgroup)
{
	struct spawn_rec *sr = ctx;
	struct buf b = BUF_INIT(65536);
	struct err e = ERR_INIT;
	char boot[64];

	if (sr->tracking == NULL || buf_read_file(&b, sr->tracking, &e) != 0)
		goto out;
	/* keep the identifier line only: one hook runs at a time */
	if (strchr(buf_cstr(&b), '\n') != NULL)
		buf_truncate(&b, (size_t)(strchr(b.ptr, '\n') - b.ptr) + 1);
	if (plat_boot_id(boot, sizeof(boot)) == 0 &&
	    buf_addf(&b, "boot %s\n", boot) != 0)
		goto out;
	if (buf_addf(&b, "pgid %ld\n", pgid) != 0 ||
	    (cgroup != NULL && buf_addf(&b, "cgroup %s\n", cgroup) != 0))
		goto out;
	if (plat_fs_write_atomic(sr->tracking, b.ptr, b.len, 0644, &e) != 0)
		log_warn_e(&e, "recording the hook process");
 out:
	buf_release(&b);
}

/* The spec JSON of an envelope: PKCS7/JSON verified, TEXT/JSON if allowed. */
static int
open_envelope(const struct agent *ag, const char *format, const char *payload,
    char **json, size_t *len, struct err *e)
{
	char *subject = NULL;
	int r;

	*json = NULL;
	if (strcmp(format, "PKCS7/JSON") == 0) {
		r = pkcs7_verify(payload, strlen(payload),
		    ag->conf.deployment_spec_signer_ca, json, len, &subject, e);
		if (r == 0)
			log_debug("deployment specification signed by %s",
			    subject ? subject : "?");
		free(subject);
		return r;
	}
	if ((strcmp(format, "TEXT/JSON") == 0 ||
	    strcmp(format, "JSON") == 0) && ag->conf.allow_text_json_spec) {
		if ((*json = strdup(payload)) == NULL)
			return err_set(e, AG_ENOMEM, "out of memory");
		*len = strlen(payload);
		return 0;
	}
	return err_set(e, AG_EINVAL, "Unsupported DeploymentSpecification "
	    "format: %s", format);
}

static int
fetch_spec(struct agent *ag, struct client *cl, const struct cp_command *cmd,
    struct deployspec **out, struct err *e)
{
	char *format = NULL, *payload = NULL, *json = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = cp_get_spec(cl->cp, cmd->execution_id, ag->id.host_id, &format,
	    &payload, e)) == 0 &&
	    (r = open_envelope(ag, format, payload, &json, &len, e)) == 0)
		r = deployspec_parse(out, json, len, e);
	free(format);
	free(payload);
	if (json != NULL)
		util_wipe(json, len);	/* may hold a GitHub token */
	free(json);
	return r;
}

/* Wait until no other command of group runs, then mark it busy. */
static void
group_enter(struct agent *ag, const char *group)
{
	pthread_mutex_lock(&ag->mu);
	while (strv_contains(&ag->busy_groups, group))
		pthread_cond_wait(&ag->cv, &ag->mu);
	strv_push(&ag->busy_groups, group);
	pthread_mutex_unlock(&ag->mu);
}

static void
group_leave(struct agent *ag, const char *group)
{
	size_t i;

	pthread_mutex_lock(&ag->mu);
	for (i = 0; i < ag->busy_groups.n; i++) {
		if (strcmp(ag->busy_groups.v[i], group) == 0) {
			free(ag->busy_groups.v[i]);
			memmove(&ag->busy_groups.v[i],
			    &ag->busy_groups.v[i + 1],
			    (ag->busy_groups.n - i) * sizeof(char *));
			ag->busy_groups.n--;
			break;
		}
	}
	pthread_cond_broadcast(&ag->cv);
	pthread_mutex_unlock(&ag->mu);
}

/*
 * The worker's right to report j: refused once the main thread reported
 * it at shutdown; once granted, the main thread leaves it to the worker.
 * Exactly one PutHostCommandComplete per command either way.
 */
static int
job_claim_report(struct job *j)
{
	int ok;

	pthread_mutex_lock(&j->ag->mu);
	ok = !j->abandoned;
	if (ok)
		j->reporting = 1;
	pthread_mutex_unlock(&j->ag->mu);
	return ok;
}

static void
process(struct job *j, struct client *cl)
{
	struct agent *ag = j->ag;
	const struct cp_command *cmd = j->cmd;
	struct deployspec *ds = NULL;
	struct spawn_rec sr = { NULL };
	struct exec_result res;
	struct exec_ctx x;
	struct err e = ERR_INIT;
	char ack[16], *tdir = NULL, *group = NULL;
	int noop = 0, r;

	if ((r = fetch_spec(ag, cl, cmd, &ds, &e)) != 0)
		goto failed;
	pthread_mutex_lock(&ag->mu);
	snprintf(j->deployment_id, sizeof(j->deployment_id), "%s",
	    ds->deployment_id);
	snprintf(j->group_id, sizeof(j->group_id), "%s", ds->group_id);
	pthread_mutex_unlock(&ag->mu);
	if ((group = strdup(ds->group_id)) == NULL) {
		r = err_set(&e, AG_ENOMEM, "out of memory");
		goto failed;
	}
	group_enter(ag, group);

	memset(&x, 0, sizeof(x));
	x.cfg = &ag->conf;
	x.http = cl->http;
	x.creds = cl->creds;
	x.region = ag->id.region;
	x.on_spawn = on_spawn;
	x.ctx = &sr;
	executor_is_noop(&x, ds, cmd->name, &noop);
	if ((r = cp_ack(cl->cp, cmd->host_command_id, noop, ack, &e)) != 0)
		goto failed;
	log_info("%s of deployment %s acknowledged (noop %s, status '%s')",
	    cmd->name, ds->deployment_id, noop ? "true" : "false", ack);
	if (strcmp(ack, "Succeeded") == 0)
		goto out;
	if (strcmp(ack, "Failed") == 0) {
		/* the service gave up on it: complete a no-op to unblock */
		deployspec_free(ds);
		ds = NULL;
		if (fetch_spec(ag, cl, cmd, &ds, &e) == 0 &&
		    executor_is_noop(&x, ds, cmd->name, &noop) == 0 && noop &&
		    job_claim_report(j))
			complete_result(ag, cl, cmd->host_command_id, 0,
			    "", "CompletedNoopCommand", "");
		goto out;
	}

	/* the tracking file: written before, removed after execution */
	if ((tdir = tracking_path(ag, NULL)) == NULL ||
	    (sr.tracking = tracking_path(ag, ds->deployment_id)) == NULL) {
		r = err_set(&e, AG_ENOMEM, "out of memory");
		goto failed;
	}
	if ((r = plat_fs_mkdir_p(tdir, 0755, &e)) != 0)
		goto failed;
	{
		struct buf t = BUF_INIT(8192);

		if (buf_addf(&t, "%s\n", cmd->host_command_id) != 0 ||
		    (r = plat_fs_write_atomic(sr.tracking, t.ptr, t.len, 0644,
		    &e)) != 0) {
			buf_release(&t);
			if (r == 0)
				r = err_set(&e, AG_ENOMEM, "out of memory");
			goto failed;
		}
		buf_release(&t);
	}
	r = executor_run(&x, ds, cmd->name, &res);
	if (!job_claim_report(j))
		goto out;	/* reported by the main thread at shutdown */
	log_info("%s of deployment %s: %s", cmd->name, ds->deployment_id,
	    r == 0 ? "Succeeded" : res.message);
	complete_result(ag, cl, cmd->host_command_id, r == 0 ? 0 :
	    res.error_code, res.script_name, r == 0 ? "" : res.message,
	    res.log);
	unlink(sr.tracking);
	goto out;
 failed:
	log_error("%s: %s", cmd->name, e.msg);
	if (job_claim_report(j))
		complete_result(ag, cl, cmd->host_command_id, 5, "", e.msg,
		    "");
	if (sr.tracking != NULL)
		unlink(sr.tracking);
 out:
	if (group != NULL)
		group_leave(ag, group);
	free(group);
	deployspec_free(ds);
	free(sr.tracking);
	free(tdir);
}

static void *
job_main(void *arg)
{
	struct job *j = arg;
	struct agent *ag = j->ag;
	struct client cl;
	struct err e = ERR_INIT;

	if (client_init(ag, &cl, 0, &e) != 0)
		log_error_e(&e, "%s: cannot reach the control plane",
		    j->cmd->name);
	else
		process(j, &cl);
	client_release(&cl);
	pthread_mutex_lock(&ag->mu);
	j->done = 1;
	ag->running--;
	ag->completed++;
	pthread_cond_broadcast(&ag->cv);
	pthread_mutex_unlock(&ag->mu);
	return NULL;
}

/* Join and free finished jobs; mu held. */
static void
reap_jobs(struct agent *ag)
{
	struct job **pp = &ag->jobs, *j;

	while ((j = *pp) != NULL) {
		if (j->done) {
			*pp = j->next;
			pthread_mutex_unlock(&ag->mu);
			pthread_join(j->th, NULL);
			pthread_mutex_lock(&ag->mu);
			cp_command_free(j->cmd);
			free(j);
		} else {
			pp = &j->next;
		}
	}
}

static int
dispatch(struct agent *ag, struct cp_command *cmd, struct err *e)
{
	struct job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		cp_command_free(cmd);
		return err_set(e, AG_ENOMEM, "out of memory");
	}
	j->ag = ag;
	j->cmd = cmd;
	pthread_mutex_lock(&ag->mu);
	j->next = ag->jobs;
	ag->jobs = j;
	ag->running++;
	if (pthread_create(&j->th, &ag->thread_attr, job_main, j) != 0) {
		ag->jobs = j->next;
		ag->running--;
		pthread_mutex_unlock(&ag->mu);
		cp_command_free(cmd);
		free(j);
		return err_set(e, AG_ENOMEM, "cannot start a worker thread");
	}
	pthread_mutex_unlock(&ag->mu);
	return 0;
}

/* ---- identity and setup ---------------------------------------------------- */

static void
identity_release(struct identity *id)
{
	if (id->have_op)
		onprem_release(&id->op);
	free(id->host_id);
	free(id->region);
	free(id->endpoint);
	memset(id, 0, sizeof(*id));
}

/*
 * §8.3 on EC2: arn:<partition>:ec2:<region>:<account>:instance/<id> from
 * the instance identity document and services/partition, and the region
 * when nothing else named one.
 */
static int
ec2_identity(const struct config *c, struct identity *id, struct err *e)
{
	struct buf doc = BUF_INIT(65536), part = BUF_INIT(256);
	struct buf arn = BUF_INIT(1024);
	struct creds_provider *cp = NULL;
	struct http *h = NULL;
	struct http_opts ho;
	const char *region, *account, *instance;
	json_error_t je;
	json_t *j = NULL;
	int r;

	http_opts_from_config(&ho, c);
	if ((r = http_new(&h, &ho, e)) != 0 ||
	    (r = creds_provider_new(&cp, NULL, CREDS_IMDS |
	    (c->disable_imds_v1 ? CREDS_NO_IMDS_V1 : 0), h, e)) != 0)
		goto out;
	if ((r = creds_imds_get(cp, "/latest/dynamic/instance-identity/document",
	    &doc, e)) != 0) {
		err_prefix(e, "not on-premises (no %s) and no EC2 identity",
		    c->on_premises_config_file);
		goto out;
	}
	j = json_loadb(buf_cstr(&doc), doc.len, 0, &je);
	if (j == NULL || json_unpack_ex(j, &je, 0, "{s:s, s:s, s:s}",
	    "region", &region, "accountId", &account, "instanceId",
	    &instance) != 0) {
		r = err_set(e, AG_EPROTO, "instance identity document: %s",
		    je.text);
		goto out;
	}
	/* the partition is "aws" where the service does not say */
	if (creds_imds_get(cp, "/latest/meta-data/services/partition", &part,
	    e) != 0 || part.len == 0 || part.len > 32)
		buf_setstr(&part, "aws");
	if (buf_addf(&arn, "arn:%s:ec2:%s:%s:instance/%s", buf_cstr(&part),
	    region, account, instance) != 0 ||
	    (id->host_id = buf_detach(&arn)) == NULL ||
	    (id->region == NULL && (id->region = strdup(region)) == NULL)) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	r = 0;
 out:
	json_decref(j);
	creds_provider_free(cp);
	http_free(h);
	buf_release(&doc);
	buf_release(&part);
	buf_release(&arn);
	return r;
}

/*
 * Who we are (§8.3) and where the control plane is (§2.3), for config c,
 * into *out only on success: a failed reload keeps the running identity.
 */
static int
identity_load(struct identity *out, const struct config *c, struct err *e)
{
	const char *env_id = getenv("AWS_HOST_IDENTIFIER");
	const char *env_region = getenv("AWS_REGION");
	struct buf ep = BUF_INIT(4096);
	struct identity id;
	int r;

	memset(&id, 0, sizeof(id));
	r = onprem_load(&id.op, c->on_premises_config_file, e);
	if (r == 0) {
		id.have_op = 1;
	} else if (r == AG_EIO) {
		onprem_release(&id.op);
		log_info("On Premises config file does not exist or not "
		    "readable: %s", c->on_premises_config_file);
	} else {
		onprem_release(&id.op);
		return r;
	}
	if (env_id != NULL && *env_id != '\0')
		id.host_id = strdup(env_id);
	else if (id.have_op && id.op.iam_user_arn != NULL)
		id.host_id = strdup(id.op.iam_user_arn);
	else if (id.have_op && id.op.iam_session_arn != NULL)
		id.host_id = strdup(id.op.iam_session_arn);
	if (id.have_op && id.op.region != NULL)
		id.region = strdup(id.op.region);
	else if (env_region != NULL && *env_region != '\0')
		id.region = strdup(env_region);
	if (id.host_id == NULL && !id.have_op &&
	    (r = ec2_identity(c, &id, e)) != 0) {
		char why[ERR_MSG_MAX];

		snprintf(why, sizeof(why), "%s", e->msg);
		r = err_set(e, r, "this host has no identity: register it "
		    "(cdagent register) so that %s exists, or set "
		    "AWS_HOST_IDENTIFIER (%s)", c->on_premises_config_file,
		    why);
		goto fail;
	}
	if (id.host_id == NULL) {
		r = err_set(e, AG_EINVAL, "%s names no iam_user_arn or "
		    "iam_session_arn", c->on_premises_config_file);
		goto fail;
	}
	if (id.region == NULL) {
		r = err_set(e, AG_EINVAL, "no region: set region in %s or "
		    "AWS_REGION", c->on_premises_config_file);
		goto fail;
	}
	if ((r = cp_endpoint(c, id.region, &ep, e)) != 0)
		goto fail;
	if ((id.endpoint = buf_detach(&ep)) == NULL) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto fail;
	}
	log_info("CodeDeploy endpoint: %s", id.endpoint);
	log_info("host identifier: %s, region %s", id.host_id, id.region);
	*out = id;
	return 0;
 fail:
	buf_release(&ep);
	identity_release(&id);
	return r;
}

static int
load_config(struct config *c, const char *path, struct err *e)
{
	int r;

	if ((r = config_init(c, e)) != 0)
		return r;
	if ((r = config_load(c, path, e)) != 0) {
		config_release(c);
		return r;
	}
	return 0;
}

static void
open_logs(struct agent *ag)
{
	struct err e = ERR_INIT;
	struct buf p = BUF_INIT(8192);

	log_setup(ag->conf.program_name, ag->conf.verbose ? LOG_DEBUG :
	    LOG_INFO, 1);
	if (ag->conf.log_dir == NULL ||
	    plat_fs_mkdir_p(ag->conf.log_dir, 0755, &e) != 0 ||
	    buf_addf(&p, "%s/%s.log", ag->conf.log_dir,
	    ag->conf.program_name) != 0 ||
	    log_open_file(buf_cstr(&p), ag->conf.log_max_bytes,
	    ag->conf.log_keep, &e) != 0)
		log_warn("logging to stderr only (%s)", e.msg[0] ? e.msg :
		    "no log_dir");
	buf_release(&p);
}

/*
 * One agent per configuration: <pid_dir>/<program_name>.pid.lock held for
 * the life of the process (as the Ruby master does; image-prep checks it),
 * and <program_name>.pid beside it.
 */
static int
take_pid_lock(const struct agent *ag, int *fd, char **pidfile, struct err *e)
{
	struct buf p = BUF_INIT(8192);
	char pid[32];
	int r;

	*pidfile = NULL;
	if ((r = plat_fs_mkdir_p(ag->conf.pid_dir, 0755, e)) != 0)
		goto out;
	if (buf_addf(&p, "%s/%s.pid.lock", ag->conf.pid_dir,
	    ag->conf.program_name) != 0) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = plat_fs_lock(buf_cstr(&p), fd, e)) != 0)
		goto out;
	buf_truncate(&p, p.len - strlen(".lock"));
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if ((r = plat_fs_write_atomic(buf_cstr(&p), pid, strlen(pid), 0644,
	    e)) != 0)
		goto out;
	*pidfile = buf_detach(&p);
 out:
	buf_release(&p);
	return r;
}

/*
 * Cloned-host detection: registration records /etc/machine-id in the
 * on-premises config; an image made from a registered host carries that
 * identity to every clone, whose machine-id differs.
 */
static int
check_machine_id(const struct agent *ag, struct err *e)
{
	const char *path = getenv("CDAGENT_MACHINE_ID_FILE");
	struct buf id = BUF_INIT(256);
	int r = 0;

	if (!ag->id.have_op || ag->id.op.machine_id == NULL)
		return 0;
	if (path == NULL || *path == '\0')
		path = "/etc/machine-id";
	if (buf_read_file(&id, path, e) != 0) {
		buf_release(&id);
		return 0;	/* nothing to compare with */
	}
	while (id.len > 0 && (id.ptr[id.len - 1] == '\n' ||
	    id.ptr[id.len - 1] == ' '))
		buf_truncate(&id, id.len - 1);
	if (strcmp(buf_cstr(&id), ag->id.op.machine_id) != 0)
		r = err_set(e, AG_EINVAL, "this host's machine id (%s, %s) is "
		    "not the one recorded when %s was registered (%s): the "
		    "host was cloned from a registered image. Refusing to poll "
		    "as %s. Run 'cdagent image-prep' on the image, then "
		    "register this host with 'cdagent register'",
		    buf_cstr(&id), path, ag->id.host_id, ag->id.op.machine_id,
		    ag->id.host_id);
	buf_release(&id);
	return r;
}

/*
 * First boot of a golden image: when register.env sits beside the
 * on-premises config and that config does not exist yet, register the host
 * with it first (`cdagent register --from-env`, which deletes the file on
 * success).
 */
static int
first_boot_register(const struct agent *ag, struct err *e)
{
	const char *onp = ag->conf.on_premises_config_file;
	struct buf env = BUF_INIT(8192);
	const char *slash = strrchr(onp, '/');
	char *argv[6];
	int rc, r = 0;

	if (access(onp, F_OK) == 0)
		return 0;
	if (buf_addf(&env, "%.*s/register.env", slash ? (int)(slash - onp) :
	    1, slash ? onp : ".") != 0) {
		buf_release(&env);
		return err_set(e, AG_ENOMEM, "out of memory");
	}
	if (access(buf_cstr(&env), F_OK) != 0)
		goto out;
	log_info("first boot: registering this host from %s", buf_cstr(&env));
	argv[0] = (char *)"register";
	argv[1] = (char *)"--from-env";
	argv[2] = env.ptr;
	argv[3] = (char *)"-c";
	argv[4] = (char *)ag->config_path;
	argv[5] = NULL;
	if ((rc = cmd_register(5, argv)) != 0)
		r = err_set(e, AG_EINVAL, "first-boot registration from %s "
		    "failed (exit %d): see the messages above; the file is "
		    "kept", buf_cstr(&env), rc);
 out:
	buf_release(&env);
	return r;
}

/* §3.1: 10, 13, 17, 21, 27, 34, 44, 56, 71, 90 s for n = 1..10. */
static int64_t
backoff_ms(int n)
{
	static const int table[10] = { 10, 13, 17, 21, 27, 34, 44, 56, 71,
	    90 };

	if (n < 1)
		return 0;
	return (int64_t)table[(n > 10 ? 10 : n) - 1] * 1000;
}

/* Wait on ag->cv for up to ms; mu held. */
static void
cv_wait_ms(struct agent *ag, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&ag->cv, &ag->mu, &ts);
}

/* SIGHUP: new config and identity, swapped in only when both load. */
static int
reload(struct agent *ag, struct client *cl, struct err *e)
{
	struct config fresh;
	struct identity id;
	int r;

	log_info("SIGHUP: reloading %s", ag->config_path);
	if ((r = load_config(&fresh, ag->config_path, e)) != 0)
		return r;
	if ((r = identity_load(&id, &fresh, e)) != 0) {
		config_release(&fresh);
		return r;
	}
	client_release(cl);
	cfg = NULL;
	config_release(&ag->conf);
	ag->conf = fresh;
	cfg = &ag->conf;
	identity_release(&ag->id);
	ag->id = id;
	open_logs(ag);
	return client_init(ag, cl, 1, e);
}

/* Longest sleep the config can ask for, so ms arithmetic cannot overflow. */
#define DAEMON_MAX_WAIT_S 86400L

static long
clamp_s(long v)
{
	return v < 0 ? 0 : v > DAEMON_MAX_WAIT_S ? DAEMON_MAX_WAIT_S : v;
}

int
daemon_run(const struct daemon_opts *o)
{
	struct agent *ag;
	struct client cl, rcl;
	struct sigaction sa;
	struct err e = ERR_INIT;
	struct cp_command *cmd = NULL;
	int64_t wd_ms, wd_next = 0, t0, deadline;
	int rc = 1, n_err = 0, r, polls = 0, left;
	struct job *j;
	char *pidfile = NULL;
	int lockfd = -1;

	/*
	 * On the heap, not this frame: workers abandoned at shutdown may
	 * still read it while the process exits.
	 */
	if ((ag = calloc(1, sizeof(*ag))) == NULL) {
		fprintf(stderr, "cdagent: out of memory\n");
		return 1;
	}
	memset(&cl, 0, sizeof(cl));
	memset(&rcl, 0, sizeof(rcl));
	pthread_mutex_init(&ag->mu, NULL);
	pthread_cond_init(&ag->cv, NULL);
	/* musl's default thread stack is 128 KiB; hooks, unpack, install
	   and libcurl all run on a worker's */
	pthread_attr_init(&ag->thread_attr);
	pthread_attr_setstacksize(&ag->thread_attr, (size_t)8 << 20);
	ag->config_path = o->config_path;
	if (load_config(&ag->conf, ag->config_path, &e) != 0) {
		fprintf(stderr, "cdagent: %s\n", e.msg);
		free(ag);
		return 1;
	}
	cfg = &ag->conf;
	open_logs(ag);
	/* §8.3: credentials in the environment are not the agent's */
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_CREDENTIAL_FILE");

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	if ((r = take_pid_lock(ag, &lockfd, &pidfile, &e)) != 0 ||
	    (r = first_boot_register(ag, &e)) != 0 ||
	    (r = identity_load(&ag->id, &ag->conf, &e)) != 0 ||
	    (r = client_init(ag, &cl, 1, &e)) != 0) {
		log_error("cannot start: %s", e.msg);
		goto out;
	}
	if (check_machine_id(ag, &e) != 0) {
		log_error("%s", e.msg);
		rc = DAEMON_EXIT_CLONED;
		goto out;
	}
	log_info("cdagent %s starting (git %s)", CDAGENT_VERSION,
	    version_gitrev());
	recover(ag, &cl);
	flush_journal(ag, &cl);
	plat_service_notify("READY=1");
	wd_ms = plat_service_watchdog_ms();
	rc = 0;

	while (!stop_flag) {
		if (wd_ms > 0 && plat_clock_ms() >= wd_next) {
			plat_service_notify("WATCHDOG=1");
			wd_next = plat_clock_ms() + wd_ms / 2;
		}
		pthread_mutex_lock(&ag->mu);
		reap_jobs(ag);
		if (reload_flag && ag->running == 0) {
			reload_flag = 0;
			pthread_mutex_unlock(&ag->mu);
			if (reload(ag, &cl, &e) != 0) {
				if (cl.cp == NULL) {
					log_error_e(&e, "reload");
					rc = 1;
					break;
				}
				log_error_e(&e, "reload failed, keeping the "
				    "previous settings");
			}
			pthread_mutex_lock(&ag->mu);
		}
		/* take no command we could not start */
		while (!stop_flag &&
		    ag->running >= ag->conf.max_parallel_commands)
			cv_wait_ms(ag, 1000);
		pthread_mutex_unlock(&ag->mu);
		if (stop_flag)
			break;

		t0 = plat_clock_ms();
		r = cp_poll(cl.cp, ag->id.host_id, &cmd, &e);
		polls++;
		pthread_mutex_lock(&ag->mu);
		iso_now(ag->last_poll, sizeof(ag->last_poll));
		snprintf(ag->last_result, sizeof(ag->last_result), "%s",
		    r != 0 ? e.msg : cmd != NULL ? cmd->name : "no command");
		write_status(ag);
		pthread_mutex_unlock(&ag->mu);
		if (r == 0 && cmd != NULL && (cmd->name == NULL ||
		    cmd->name[0] == '\0')) {
			r = err_set(&e, AG_EPROTO, "Command Name missing");
		} else if (r == 0 && cmd != NULL && (cmd->host_id == NULL ||
		    strstr(ag->id.host_id, cmd->host_id) == NULL)) {
			r = err_set(&e, AG_EPROTO, "Host Identifier mismatch: "
			    "%s != %s", ag->id.host_id, cmd->host_id ?
			    cmd->host_id : "");
		}
		if (r != 0) {
			cp_command_free(cmd);
			cmd = NULL;
			if (stop_flag)
				break;
			n_err += cp_error_kind(r, &e) == CP_ERR_THROTTLE ?
			    2 : 1;
			if (n_err > 10)
				n_err = 10;
			log_error("poll failed (%d in a row, backing off %lld "
			    "s): %s", n_err, (long long)backoff_ms(n_err) /
			    1000, e.msg);
			plat_sleep_until(t0 + backoff_ms(n_err),
			    (volatile const int *)&stop_flag);
			continue;
		}
		n_err = 0;
		if (cmd == NULL) {
			if (o->once)
				break;
		} else {
			log_info("received command %s (%s)", cmd->name,
			    cmd->host_command_id);
			if (dispatch(ag, cmd, &e) != 0)
				log_error_e(&e, "dispatching %s", "command");
			cmd = NULL;	/* transferred */
			if (o->once) {
				pthread_mutex_lock(&ag->mu);
				while (ag->running > 0)
					pthread_cond_wait(&ag->cv, &ag->mu);
				pthread_mutex_unlock(&ag->mu);
				break;
			}
		}
		plat_sleep_until(plat_clock_ms() +
		    clamp_s(ag->conf.wait_between_runs) * 1000,
		    (volatile const int *)&stop_flag);
	}

	/* graceful stop: let running commands finish, within bounds */
	plat_service_notify("STOPPING=1");
	deadline = plat_clock_ms() +
	    clamp_s(ag->conf.kill_agent_max_wait_time_seconds) * 1000;
	pthread_mutex_lock(&ag->mu);
	if (ag->running > 0)
		log_info("stopping: waiting up to %ld s for %d running "
		    "command(s)", ag->conf.kill_agent_max_wait_time_seconds,
		    ag->running);
	while (ag->running > 0 && plat_clock_ms() < deadline)
		cv_wait_ms(ag, 200);
	reap_jobs(ag);
	/* what is still running and not reporting is cut off: we report */
	for (j = ag->jobs; j != NULL; j = j->next)
		if (!j->reporting)
			j->abandoned = 1;
	pthread_mutex_unlock(&ag->mu);
	for (j = ag->jobs; j != NULL; j = j->next) {
		char *tp;

		if (!j->abandoned)
			continue;
		/* the poller's client aborts on the stop flag: use another */
		if (rcl.cp == NULL && client_init(ag, &rcl, 0, &e) != 0) {
			log_error_e(&e, "cannot report the commands cut off");
			break;
		}
		tp = j->deployment_id[0] ? tracking_path(ag,
		    j->deployment_id) : NULL;
		log_warn("%s (%s) was still running at shutdown: reporting "
		    "it failed", j->cmd->name, j->cmd->host_command_id);
		complete_result(ag, &rcl, j->cmd->host_command_id, 5, "",
		    "cdagent was stopped before this command finished "
		    "(kill_agent_max_wait_time_seconds)", "");
		if (tp != NULL)
			unlink(tp);
		free(tp);
	}
	/* workers already reporting finish that (bounded by its retries) */
	pthread_mutex_lock(&ag->mu);
	deadline = plat_clock_ms() + 30000;
	for (;;) {
		left = 0;
		for (j = ag->jobs; j != NULL; j = j->next)
			left += j->reporting && !j->done;
		if (left == 0 || plat_clock_ms() >= deadline)
			break;
		cv_wait_ms(ag, 200);
	}
	reap_jobs(ag);
	pthread_mutex_unlock(&ag->mu);
	client_release(&rcl);
	log_info("cdagent stopped after %d polls", polls);
 out:
	pthread_mutex_lock(&ag->mu);
	write_status(ag);
	pthread_mutex_unlock(&ag->mu);
	if (pidfile != NULL)
		unlink(pidfile);
	free(pidfile);
	plat_fs_unlock(lockfd);
	if (ag->jobs != NULL) {
		/*
		 * Abandoned workers still run: the agent, its config and
		 * their clients stay allocated until the process exits.
		 */
		log_close();
		return rc;
	}
	client_release(&cl);
	strv_release(&ag->busy_groups);
	identity_release(&ag->id);
	cfg = NULL;
	config_release(&ag->conf);
	pthread_mutex_destroy(&ag->mu);
	pthread_cond_destroy(&ag->cv);
	pthread_attr_destroy(&ag->thread_attr);
	free(ag);
	log_close();
	return rc;
}

/* ---- cdagent status ---------------------------------------------------------- */

int
daemon_status(const char *config_path)
{
	struct config c;
	struct buf text = BUF_INIT(1 << 20);
	struct err e = ERR_INIT;
	struct dirent *de;
	json_t *st = NULL, *v;
	char *p = NULL;
	DIR *d;
	size_t i;
	int rc = 1;

	if (config_init(&c, &e) != 0 || (access(config_path, F_OK) == 0 &&
	    config_load(&c, config_path, &e) != 0)) {
		fprintf(stderr, "cdagent: %s\n", e.msg);
		goto out;
	}
	if ((p = util_path_join(c.root_dir, ".cdagent/status.json")) != NULL &&
	    buf_read_file(&text, p, &e) == 0 &&
	    (st = json_loads(buf_cstr(&text), 0, NULL)) != NULL) {
		json_int_t pid = json_integer_value(json_object_get(st, "pid"));

		printf("agent pid:        %lld%s\n", (long long)pid,
		    pid > 0 && kill((pid_t)pid, 0) == 0 ? " (running)" :
		    " (not running)");
		printf("host identifier:  %s\n", json_string_value(
		    json_object_get(st, "host_identifier")) ?: "");
		printf("endpoint:         %s\n", json_string_value(
		    json_object_get(st, "endpoint")) ?: "");
		printf("last poll:        %s: %s\n", json_string_value(
		    json_object_get(st, "last_poll")) ?: "never",
		    json_string_value(json_object_get(st,
		    "last_poll_result")) ?: "");
		printf("in flight:\n");
		json_array_foreach(json_object_get(st, "in_flight"), i, v)
			printf("  %s of %s (group %s)\n", json_string_value(
			    json_object_get(v, "command")) ?: "",
			    json_string_value(json_object_get(v,
			    "deployment_id")) ?: "", json_string_value(
			    json_object_get(v, "group_id")) ?: "");
	} else {
		printf("the daemon has not run with root_dir %s\n", c.root_dir);
	}
	free(p);
	p = util_path_join(c.root_dir, "deployment-instructions");
	printf("deployment groups:\n");
	if (p != NULL && (d = opendir(p)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			const char *suf = "_last_successful_install";
			size_t n = strlen(de->d_name), sl = strlen(suf);
			char *q, *r2;

			if (n <= sl || strcmp(de->d_name + n - sl, suf) != 0)
				continue;
			q = util_path_join(p, de->d_name);
			buf_reset(&text);
			printf("  %.*s\n    last successful: %s\n",
			    (int)(n - sl), de->d_name, q && buf_read_file(&text,
			    q, &e) == 0 ? buf_cstr(&text) : "?");
			free(q);
			q = NULL;
			if (buf_setstr(&text, de->d_name) == 0) {
				buf_truncate(&text, n - sl);
				buf_addstr(&text, "_most_recent_install");
				q = util_path_join(p, buf_cstr(&text));
			}
			buf_reset(&text);
			r2 = q;
			printf("    most recent:     %s\n", r2 &&
			    buf_read_file(&text, r2, &e) == 0 ?
			    buf_cstr(&text) : "?");
			free(q);
		}
		closedir(d);
	}
	rc = 0;
 out:
	free(p);
	json_decref(st);
	buf_release(&text);
	config_release(&c);
	return rc;
}

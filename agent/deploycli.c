/*
 * deploycli.c: `cdagent deploy` (the codedeploy-local of the Ruby agent,
 * reference §13) and `cdagent validate`.
 *
 * deploy builds a TEXT/JSON deployment specification and runs each event
 * through executor_run(), the code path the daemon uses for the service's
 * commands.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "appspec.h"
#include "buf.h"
#include "cli.h"
#include "config.h"
#include "creds.h"
#include "deployspec.h"
#include "err.h"
#include "executor.h"
#include "http.h"
#include "log.h"
#include "platform.h"
#include "unpack.h"
#include "util.h"
#include "banned.h"

/* A GitHub access token for private repositories (no flag: argv is public). */
#define GH_TOKEN_ENV "CDAGENT_GITHUB_TOKEN"

static const char deploy_usage[] =
"usage: cdagent deploy [-c CONFIG] [-l LOCATION] [-t TYPE] [-b BEHAVIOR]\n"
"                      [-g GROUP_ID] [-d GROUP_NAME] [-a APPLICATION]\n"
"                      [-e EVENTS] [-A APPSPEC] [-q]\n"
"\n"
"Deploy a revision on this host with no control plane, as codedeploy-local\n"
"does: the events run in order through the same executor the daemon uses.\n"
"\n"
"  -l, --bundle-location LOC   directory, .tar/.tgz/.zip file, s3://b/k\n"
"                              [?versionId=V&etag=E] or a GitHub URL\n"
"                              (default: the current directory)\n"
"  -t, --type TYPE             tgz, tar, zip or directory (default directory)\n"
"  -b, --file-exists-behavior  DISALLOW, OVERWRITE or RETAIN (default\n"
"                              DISALLOW; the AppSpec's setting wins)\n"
"  -g, --deployment-group ID   deployment group id (default\n"
"                              default-local-deployment-group)\n"
"  -d, --deployment-group-name NAME   (default LocalFleet)\n"
"  -a, --application-name NAME (default: the bundle location)\n"
"  -e, --events LIST           comma-separated events to run, in order\n"
"                              (default: the 11 default events)\n"
"  -c, --agent-configuration-file FILE\n"
"                              (default " CLI_DEFAULT_CONFIG ";\n"
"                              built-in defaults when that file is absent)\n"
"  -A, --appspec-filename NAME (default appspec.yml, then appspec.yaml)\n"
"  -q, --quiet                 no progress, only the result\n"
"\n"
"A GitHub location may be a private repository: put the access token in\n"
"the environment variable " GH_TOKEN_ENV ".\n"
"\n"
"Exit status: 0 deployed, 1 the deployment failed, 2 bad usage.\n";

struct deploy_ui {
	int tty;		/* progress lines rewritten in place */
	int quiet;
	const char *event;
	int64_t last_ms;	/* last progress redraw */
	int dirty;		/* a \r line is on screen */
	const char *what;	/* last progress of this event, or NULL */
	uint64_t bytes, files;
};

static void
ui_clear(struct deploy_ui *ui)
{
	if (ui->dirty) {
		fputs("\r\033[K", stderr);
		ui->dirty = 0;
	}
}

static void
ui_bytes(void *ctx, const char *what, uint64_t bytes, uint64_t files)
{
	struct deploy_ui *ui = ctx;
	int64_t now = plat_clock_ms();

	ui->what = what;	/* the totals, for ui_summary() */
	ui->bytes = bytes;
	ui->files = files;
	if (ui->quiet || !ui->tty || now - ui->last_ms < 100)
		return;
	ui->last_ms = now;
	fprintf(stderr, "\r\033[K  %s: %llu files, %.1f MiB", what,
	    (unsigned long long)files, (double)bytes / (1024.0 * 1024.0));
	ui->dirty = 1;
}

/* After an event: the final unpack/install figures, on one line. */
static void
ui_summary(struct deploy_ui *ui)
{
	ui_clear(ui);
	if (!ui->quiet && ui->what != NULL)
		fprintf(stderr, "  %s: %llu files, %.1f MiB\n", ui->what,
		    (unsigned long long)ui->files,
		    (double)ui->bytes / (1024.0 * 1024.0));
	ui->what = NULL;
}

static void
ui_script(void *ctx, const char *location, int64_t elapsed_ms, int done)
{
	struct deploy_ui *ui = ctx;

	if (ui->quiet)
		return;
	if (ui->tty) {
		ui_clear(ui);
		if (done)
			fprintf(stderr, "  %s (%.1f s)\n", location,
			    (double)elapsed_ms / 1000.0);
		else {
			fprintf(stderr, "  %s ...", location);
			ui->dirty = 1;
		}
	} else if (done) {
		fprintf(stderr, "  script %s finished after %.1f s\n",
		    location, (double)elapsed_ms / 1000.0);
	} else {
		fprintf(stderr, "  script %s started\n", location);
	}
}

/*
 * What a remote revision needs: an HTTP client, and for S3 credentials and
 * a region. The developer tool takes those from the on-premises config
 * when readable, else the standard environment variables, else instance
 * metadata. A GitHub revision needs the HTTP client only, so it works on
 * a host with no AWS identity at all.
 */
struct remote {
	struct http *http;
	struct creds_provider *creds;
	struct onprem op;
	int have_op;
	struct buf region;
};

static void
remote_release(struct remote *rm)
{
	creds_provider_free(rm->creds);
	http_free(rm->http);
	if (rm->have_op)
		onprem_release(&rm->op);
	buf_release(&rm->region);
}

static int
remote_init(const struct config *c, int need_aws, struct remote *rm,
    struct err *e)
{
	struct http_opts ho;
	int r;

	http_opts_from_config(&ho, c);
	if (!need_aws)
		return http_new(&rm->http, &ho, e);
	if (onprem_load(&rm->op, c->on_premises_config_file, e) == 0)
		rm->have_op = 1;
	else
		onprem_release(&rm->op);
	if ((r = http_new(&rm->http, &ho, e)) != 0 ||
	    (r = creds_provider_new(&rm->creds, rm->have_op ? &rm->op : NULL,
	    CREDS_ENV | CREDS_IMDS | (c->disable_imds_v1 ? CREDS_NO_IMDS_V1 :
	    0), rm->http, e)) != 0 ||
	    (r = creds_region(rm->creds, &rm->region, e)) != 0)
		return r;
	return 0;
}

/* Load -c CONFIG; the default path may be absent (built-in defaults). */
static int
load_config(struct config *c, const char *path, int explicit_path)
{
	struct err e = ERR_INIT;

	if (config_init(c, &e) != 0) {
		cli_errorf("%s", e.msg);
		return -1;
	}
	if (!explicit_path && access(path, F_OK) != 0)
		return 0;
	if (config_load(c, path, &e) != 0) {
		cli_errorf("%s", e.msg);
		return -1;
	}
	return 0;
}

static int
is_event_list_valid(const struct strv *ev, char *why, size_t whylen)
{
	static const char *const before_dl[] = { "BeforeBlockTraffic",
	    "AfterBlockTraffic", "ApplicationStop" };
	size_t i, j;
	int seen_dl = -1, seen_in = -1, ok;

	for (i = 0; i < ev->n; i++) {
		if (strcmp(ev->v[i], "DownloadBundle") == 0)
			seen_dl = (int)i;
		if (strcmp(ev->v[i], "Install") == 0)
			seen_in = (int)i;
	}
	for (i = 0; seen_dl >= 0 && i < (size_t)seen_dl; i++) {
		for (ok = 0, j = 0; j < 3; j++)
			ok |= strcmp(ev->v[i], before_dl[j]) == 0;
		if (!ok) {
			snprintf(why, whylen, "%s cannot come before "
			    "DownloadBundle", ev->v[i]);
			return 0;
		}
	}
	for (i = 0; seen_in >= 0 && i < (size_t)seen_in; i++) {
		for (ok = 0, j = 0; j < 3; j++)
			ok |= strcmp(ev->v[i], before_dl[j]) == 0;
		ok |= strcmp(ev->v[i], "DownloadBundle") == 0 ||
		    strcmp(ev->v[i], "BeforeInstall") == 0;
		if (!ok) {
			snprintf(why, whylen, "%s cannot come before Install",
			    ev->v[i]);
			return 0;
		}
	}
	return 1;
}

/*
 * The ordered event list (§13 step 5): --events or the defaults, with
 * DownloadBundle and Install put in front when missing, in that order.
 */
static int
build_events(const char *arg, struct strv *out)
{
	struct strv given = STRV_INIT;
	const char *p, *q;
	int dl = 0, in = 0, r = 0;
	size_t i;

	if (arg == NULL) {
		for (i = 0; i < 11; i++)
			if (strv_push(out, executor_default_events[i]))
				return AG_ENOMEM;
		return 0;
	}
	for (p = arg; *p != '\0'; p = *q ? q + 1 : q) {
		q = strchr(p, ',');
		if (q == NULL)
			q = p + strlen(p);
		if (q > p && strv_pushf(&given, "%.*s", (int)(q - p), p)) {
			r = AG_ENOMEM;
			goto out;
		}
	}
	dl = strv_contains(&given, "DownloadBundle");
	in = strv_contains(&given, "Install");
	if ((!dl && strv_push(out, "DownloadBundle")) ||
	    (!in && strv_push(out, "Install"))) {
		r = AG_ENOMEM;
		goto out;
	}
	for (i = 0; i < given.n; i++)
		if (strv_push(out, given.v[i])) {
			r = AG_ENOMEM;
			goto out;
		}
	/* Install before DownloadBundle: swap the two */
	{
		size_t a = out->n, b = out->n;

		for (i = 0; i < out->n; i++) {
			if (strcmp(out->v[i], "DownloadBundle") == 0)
				a = i;
			if (strcmp(out->v[i], "Install") == 0)
				b = i;
		}
		if (a < out->n && b < a) {
			char *t = out->v[a];

			out->v[a] = out->v[b];
			out->v[b] = t;
		}
	}
 out:
	strv_release(&given);
	return r;
}

static void
random_id(char *out, size_t n)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char rnd[9];
	FILE *f = fopen("/dev/urandom", "rb");
	size_t i;

	if (f == NULL || fread(rnd, 1, sizeof(rnd), f) != sizeof(rnd)) {
		uint64_t t = (uint64_t)plat_time_ms() ^ (uint64_t)getpid();

		for (i = 0; i < sizeof(rnd); i++, t >>= 5)
			rnd[i] = (unsigned char)(t * 2654435761u >> 7);
	}
	if (f != NULL)
		fclose(f);
	snprintf(out, n, "d-");
	for (i = 0; i < 9 && 2 + i + 1 < n; i++)
		out[2 + i] = al[rnd[i] % 36];
	out[2 + (i < 9 ? i : 9)] = '\0';
	snprintf(out + strlen(out), n - strlen(out), "-local");
}

/* Query parameter name of s3://b/k?versionId=..&etag=.. into a new string. */
static char *
query_param(const char *query, const char *name)
{
	size_t nl = strlen(name);
	const char *p = query, *end;

	while (p != NULL && *p != '\0') {
		end = strchr(p, '&');
		if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
			p += nl + 1;
			return end ? strndup(p, (size_t)(end - p)) : strdup(p);
		}
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

/*
 * Turn the location into a Revision object (§13 step 4). Returns NULL with
 * a message in e on a bad location.
 */
static json_t *
make_revision(const char *loc, const char *type, struct err *e)
{
	json_t *rev = NULL;
	char abs[4096];

	if (strncmp(loc, "s3://", 5) == 0) {
		const char *b = loc + 5, *slash = strchr(b, '/'), *q;
		char *bucket, *key, *ver, *etag;

		if (slash == NULL || slash == b || slash[1] == '\0') {
			err_set(e, AG_EINVAL, "bundle location %s: expected "
			    "s3://bucket/key", loc);
			return NULL;
		}
		q = strchr(slash, '?');
		bucket = strndup(b, (size_t)(slash - b));
		key = q ? strndup(slash + 1, (size_t)(q - slash - 1)) :
		    strdup(slash + 1);
		ver = q ? query_param(q + 1, "versionId") : NULL;
		etag = q ? query_param(q + 1, "etag") : NULL;
		rev = json_pack("{s:s, s:{s:s?, s:s?, s:s, s:s?, s:s?}}",
		    "RevisionType", "S3", "S3Revision", "Bucket", bucket,
		    "Key", key, "BundleType", type, "Version", ver,
		    "ETag", etag);
		free(bucket);
		free(key);
		free(ver);
		free(etag);
		return rev;
	}
	if (strncmp(loc, "https://", 8) == 0) {
		char acct[256], repo[256], kind[16], commit[256];
		const char *bt = strcmp(type, "tar") == 0 ? "tar" : "zip";

		acct[0] = repo[0] = commit[0] = '\0';
		if (sscanf(loc, "https://api.github.com/repos/%255[^/]/%255[^/]"
		    "/%15[^/]/%255s", acct, repo, kind, commit) == 4) {
			bt = strcmp(kind, "tarball") == 0 ? "tar" : "zip";
		} else if (sscanf(loc, "https://github.com/%255[^/]/%255[^/?#]",
		    acct, repo) == 2) {
			snprintf(commit, sizeof(commit), "HEAD");
		} else {
			err_set(e, AG_EINVAL, "bundle location %s: only GitHub "
			    "https locations are supported", loc);
			return NULL;
		}
		return json_pack("{s:s, s:{s:s, s:s, s:s, s:s}}",
		    "RevisionType", "GitHub", "GitHubRevision", "Account", acct,
		    "Repository", repo, "CommitId", commit, "BundleType", bt);
	}
	if (strncmp(loc, "http://", 7) == 0) {
		err_set(e, AG_EINVAL, "bundle location %s: http is not "
		    "allowed, only encrypted (https) locations", loc);
		return NULL;
	}
	if (strncmp(loc, "file://", 7) == 0)
		loc += 7;
	if (realpath(loc, abs) == NULL) {
		err_set(e, AG_EINVAL, "bundle location %s does not exist", loc);
		return NULL;
	}
	return json_pack("{s:s, s:{s:s, s:s}}", "RevisionType",
	    strcmp(type, "directory") == 0 ? "Local Directory" : "Local File",
	    "LocalRevision", "Location", abs, "BundleType", type);
}

static int
check_local_location(const char *loc, const char *type, const char *appspec)
{
	struct stat st;
	char *p;
	int found;

	if (strncmp(loc, "s3://", 5) == 0 || strncmp(loc, "https://", 8) == 0)
		return 0;
	if (strncmp(loc, "file://", 7) == 0)
		loc += 7;
	if (stat(loc, &st) != 0) {
		cli_errorf("bundle location %s does not exist", loc);
		return -1;
	}
	if (strcmp(type, "directory") == 0) {
		if (!S_ISDIR(st.st_mode)) {
			cli_errorf("bundle location %s is not a directory "
			    "(use -t tgz, tar or zip for an archive)", loc);
			return -1;
		}
		p = appspec_find(loc, appspec);
		found = p != NULL;
		free(p);
		if (!found) {
			cli_errorf("expecting appspec file at location %s/%s "
			    "but it is not found there", loc, appspec);
			return -1;
		}
	} else if (!S_ISREG(st.st_mode)) {
		cli_errorf("bundle location %s is not a file (type %s)", loc,
		    type);
		return -1;
	}
	return 0;
}

int
cmd_deploy(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bundle-location", required_argument, NULL, 'l' },
		{ "type", required_argument, NULL, 't' },
		{ "file-exists-behavior", required_argument, NULL, 'b' },
		{ "deployment-group", required_argument, NULL, 'g' },
		{ "deployment-group-name", required_argument, NULL, 'd' },
		{ "application-name", required_argument, NULL, 'a' },
		{ "events", required_argument, NULL, 'e' },
		{ "agent-configuration-file", required_argument, NULL, 'c' },
		{ "appspec-filename", required_argument, NULL, 'A' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *loc = ".", *type = "directory", *feb = "DISALLOW";
	const char *group = "default-local-deployment-group";
	const char *gname = "LocalFleet", *app = NULL, *events = NULL;
	const char *cpath = CLI_DEFAULT_CONFIG, *appspec = "appspec.yml";
	struct config conf;
	struct deploy_ui ui = { 0, 0, NULL, 0, 0, NULL, 0, 0 };
	struct strv evl = STRV_INIT;
	struct deployspec *ds = NULL;
	struct exec_result res;
	struct exec_ctx x;
	struct remote rem = { NULL, NULL, { 0 }, 0, BUF_INIT(256) };
	struct err e = ERR_INIT;
	json_t *spec = NULL, *rev = NULL, *all = NULL;
	char id[32], why[256], *json = NULL, *ddir = NULL, *logp;
	const char *gh_token;
	int c, explicit_cfg = 0, rc = CLI_EXIT_USAGE, conf_ok = 0;
	size_t i;

	optind = 1;
	while ((c = getopt_long(argc, argv, "l:t:b:g:d:a:e:c:A:qh", opts,
	    NULL)) != -1) {
		switch (c) {
		case 'l': loc = optarg; break;
		case 't': type = optarg; break;
		case 'b': feb = optarg; break;
		case 'g': group = optarg; break;
		case 'd': gname = optarg; break;
		case 'a': app = optarg; break;
		case 'e': events = optarg; break;
		case 'c': cpath = optarg; explicit_cfg = 1; break;
		case 'A': appspec = optarg; break;
		case 'q': ui.quiet = 1; break;
		case 'h': fputs(deploy_usage, stdout); return CLI_EXIT_OK;
		default:
			cli_errorf("deploy: bad option (see 'cdagent deploy "
			    "--help')");
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		cli_errorf("deploy: unexpected argument '%s'", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(type, "tgz") != 0 && strcmp(type, "tar") != 0 &&
	    strcmp(type, "zip") != 0 && strcmp(type, "directory") != 0) {
		cli_errorf("deploy: type %s is not tgz, tar, zip or directory",
		    type);
		return CLI_EXIT_USAGE;
	}
	if (appspec_feb_parse(feb) == FEB_UNSET) {
		cli_errorf("deploy: file-exists-behavior %s is not DISALLOW, "
		    "OVERWRITE or RETAIN", feb);
		return CLI_EXIT_USAGE;
	}
	if (group[0] == '\0' || strchr(group, '/') != NULL ||
	    strcmp(group, ".") == 0 || strcmp(group, "..") == 0) {
		cli_errorf("deploy: deployment group '%s' cannot name a "
		    "directory", group);
		return CLI_EXIT_USAGE;
	}
	if (build_events(events, &evl) != 0) {
		cli_errorf("out of memory");
		goto out;
	}
	if (!is_event_list_valid(&evl, why, sizeof(why))) {
		cli_errorf("deploy: --events: %s", why);
		goto out;
	}
	if (check_local_location(loc, type, appspec) != 0)
		goto out;
	if (load_config(&conf, cpath, explicit_cfg) != 0) {
		config_release(&conf);
		goto out;
	}
	conf_ok = 1;
	cfg = &conf;
	log_setup("codedeploy-local", conf.verbose ? LOG_DEBUG : LOG_INFO,
	    conf.verbose);
	if ((logp = util_path_join(conf.log_dir, "codedeploy-local.log")) !=
	    NULL) {
		if (plat_fs_mkdir_p(conf.log_dir, 0755, &e) == 0)
			log_open_file(logp, conf.log_max_bytes, conf.log_keep,
			    &e);
		free(logp);
	}
	ui.tty = plat_isatty(2);

	rc = CLI_EXIT_FAIL;
	random_id(id, sizeof(id));
	if ((rev = make_revision(loc, type, &e)) == NULL) {
		cli_errorf("%s", e.msg[0] ? e.msg : "out of memory");
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	all = json_array();
	for (i = 0; i < 11; i++)
		json_array_append_new(all,
		    json_string(executor_default_events[i]));
	for (i = 0; i < evl.n; i++) {
		size_t j, dup = 0;

		for (j = 0; j < json_array_size(all); j++)
			dup |= strcmp(json_string_value(json_array_get(all,
			    j)), evl.v[i]) == 0;
		if (!dup)
			json_array_append_new(all, json_string(evl.v[i]));
	}
	spec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:{s:s}}, s:O, "
	    "s:O}", "ApplicationId", loc, "ApplicationName", app ? app : loc,
	    "AppSpecFilename", appspec, "DeploymentGroupId", group,
	    "DeploymentGroupName", gname, "DeploymentId", id,
	    "AgentActionOverrides", "AgentOverrides", "FileExistsBehavior",
	    feb, "Revision", rev, "AllPossibleLifecycleEvents", all);
	if (spec == NULL || (json = json_dumps(spec, JSON_COMPACT)) == NULL) {
		cli_errorf("out of memory");
		goto out;
	}
	if (deployspec_parse(&ds, json, strlen(json), &e) != 0) {
		cli_errorf("%s", e.msg);
		goto out;
	}
	ddir = executor_deployment_dir(&conf, ds);
	log_info("local deployment %s of %s (%s) into %s", id, loc, type,
	    ddir ? ddir : "?");
	if (!ui.quiet)
		fprintf(stderr, "Deploying %s (%s) as %s, group %s\n", loc,
		    type, id, group);

	memset(&x, 0, sizeof(x));
	if (ds->rev == REV_S3 || ds->rev == REV_GITHUB) {
		if (remote_init(&conf, ds->rev == REV_S3, &rem, &e) != 0) {
			cli_errorf("%s", e.msg);
			goto out;
		}
		x.http = rem.http;
		x.creds = rem.creds;
		x.region = rem.creds != NULL ? buf_cstr(&rem.region) : NULL;
	}
	if (ds->rev == REV_GITHUB && (gh_token = getenv(GH_TOKEN_ENV)) != NULL &&
	    *gh_token != '\0') {
		/* the spec's GitHubAccessToken; kept out of the hooks' env */
		util_free_secret(ds->gh_token);
		if ((ds->gh_token = strdup(gh_token)) == NULL) {
			cli_errorf("out of memory");
			goto out;
		}
		unsetenv(GH_TOKEN_ENV);
	}
	x.cfg = &conf;
	x.local = 1;
	x.on_bytes = ui_bytes;
	x.on_script = ui_script;
	x.ctx = &ui;
	rc = CLI_EXIT_OK;
	for (i = 0; i < evl.n; i++) {
		int64_t t0 = plat_clock_ms();

		ui.event = evl.v[i];
		if (!ui.quiet)
			fprintf(stderr, "%s\n", evl.v[i]);
		if (executor_run(&x, ds, evl.v[i], &res) != 0) {
			ui_clear(&ui);
			fprintf(stderr, "\nYour local deployment failed in %s",
			    evl.v[i]);
			if (res.script_name[0] != '\0')
				fprintf(stderr, " while trying to execute "
				    "your script at %s/deployment-archive/%s",
				    ddir, res.script_name);
			fprintf(stderr, "\nerror_code: %d\nmessage: %s\n",
			    res.error_code, res.message);
			if (res.log[0] != '\0')
				fprintf(stderr, "output tail:\n%s%s",
				    res.log, util_endswith(res.log, "\n") ?
				    "" : "\n");
			log_error("%s failed: %s", evl.v[i], res.message);
			rc = CLI_EXIT_FAIL;
			break;
		}
		ui_summary(&ui);
		log_info("%s succeeded in %lld ms", evl.v[i],
		    (long long)(plat_clock_ms() - t0));
	}
	fprintf(stderr, "See the deployment log at %s/logs/scripts.log for "
	    "more details\n", ddir ? ddir : "?");
	if (rc == CLI_EXIT_OK)
		printf("AppSpec file valid. Local deployment successful\n");
 out:
	remote_release(&rem);
	deployspec_free(ds);
	json_decref(spec);
	json_decref(rev);
	json_decref(all);
	free(json);
	free(ddir);
	strv_release(&evl);
	if (conf_ok) {
		cfg = NULL;
		config_release(&conf);
	}
	log_close();
	return rc;
}

/* ---- validate -------------------------------------------------------------- */

static const char validate_usage[] =
"usage: cdagent validate [-c CONFIG] [-A APPSPEC] BUNDLE_DIR_OR_ARCHIVE\n"
"\n"
"Parse and check the AppSpec of a bundle (a directory or a .tar/.tgz/.zip\n"
"file): every files source and hook location exists, modes, ACLs and\n"
"SELinux contexts parse, and runas users, owners and groups exist on this\n"
"host. Prints every problem found, not just the first.\n"
"\n"
"Exit status: 0 valid, 1 problems found, 2 bad usage.\n";

static void
check_bundle(const struct appspec *as, const char *root, struct strv *pr)
{
	struct err e = ERR_INIT;
	struct plat_user u;
	uint32_t gid;
	size_t i, j;
	char *p;

	for (i = 0; i < as->n_files; i++) {
		p = util_path_join(root, as->files[i].source);
		if (p != NULL && !util_exists(p))
			strv_pushf(pr, "%s:%d: files: source %s does not exist "
			    "in the bundle", as->path, as->files[i].line,
			    as->files[i].source);
		free(p);
	}
	for (i = 0; i < as->n_hooks; i++) {
		for (j = 0; j < as->hooks[i].n_scripts; j++) {
			const struct appspec_script *s =
			    &as->hooks[i].scripts[j];

			p = util_path_join(root, s->location);
			if (p != NULL && !util_exists(p))
				strv_pushf(pr, "%s:%d: hooks: %s: script %s "
				    "does not exist in the bundle", as->path,
				    s->line, as->hooks[i].event, s->location);
			free(p);
			if (s->runas != NULL &&
			    plat_user_lookup(s->runas, &u, &e) != 0)
				strv_pushf(pr, "%s:%d: hooks: %s: runas: %s",
				    as->path, s->line, as->hooks[i].event,
				    e.msg);
		}
	}
	for (i = 0; i < as->n_perms; i++) {
		const struct appspec_perm *pm = &as->perms[i];

		if (pm->owner != NULL &&
		    plat_user_lookup(pm->owner, &u, &e) != 0)
			strv_pushf(pr, "%s:%d: permissions: owner: %s",
			    as->path, pm->line, e.msg);
		if (pm->group != NULL &&
		    plat_group_lookup(pm->group, &gid, &e) != 0)
			strv_pushf(pr, "%s:%d: permissions: group: %s",
			    as->path, pm->line, e.msg);
	}
}

int
cmd_validate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "appspec-filename", required_argument, NULL, 'A' },
		{ "agent-configuration-file", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *appspec = "appspec.yml", *bundle;
	struct strv problems = STRV_INIT;
	struct appspec *as = NULL;
	struct unpack_opts uo;
	struct unpack_stats us;
	struct err e = ERR_INIT;
	struct stat st;
	char tmp[4096] = "", root[4200];
	int c, rc = CLI_EXIT_USAGE;
	size_t i;

	optind = 1;
	while ((c = getopt_long(argc, argv, "A:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'A': appspec = optarg; break;
		case 'c': break;	/* accepted for symmetry */
		case 'h': fputs(validate_usage, stdout); return CLI_EXIT_OK;
		default:
			cli_errorf("validate: bad option (see 'cdagent "
			    "validate --help')");
			return CLI_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		cli_errorf("validate: expected one bundle directory or archive");
		return CLI_EXIT_USAGE;
	}
	bundle = argv[optind];
	if (stat(bundle, &st) != 0) {
		cli_errorf("validate: %s: %s", bundle, strerror(errno));
		return CLI_EXIT_USAGE;
	}
	rc = CLI_EXIT_FAIL;
	if (S_ISDIR(st.st_mode)) {
		snprintf(root, sizeof(root), "%s", bundle);
	} else {
		const char *td = getenv("TMPDIR");

		snprintf(tmp, sizeof(tmp), "%s/cdagent-validate.XXXXXX",
		    td && *td ? td : "/tmp");
		if (mkdtemp(tmp) == NULL) {
			cli_errorf("validate: mkdtemp %s: %s", tmp,
			    strerror(errno));
			tmp[0] = '\0';
			goto out;
		}
		snprintf(root, sizeof(root), "%s/bundle", tmp);
		memset(&uo, 0, sizeof(uo));
		uo.max_total_size = (uint64_t)10 << 30;
		if (unpack_bundle(bundle, root, &uo, &us, &e) != 0) {
			printf("%s: %s\n", bundle, e.msg);
			goto out;
		}
	}
	if (appspec_load(&as, root, appspec, plat_os_name(), &problems,
	    &e) != 0 && problems.n == 0)
		strv_push(&problems, e.msg);
	if (as != NULL)
		check_bundle(as, root, &problems);
	for (i = 0; i < problems.n; i++)
		printf("%s\n", problems.v[i]);
	if (problems.n == 0) {
		printf("%s: valid\n", as ? as->path : bundle);
		rc = CLI_EXIT_OK;
	} else {
		printf("%zu problem%s found\n", problems.n,
		    problems.n == 1 ? "" : "s");
	}
 out:
	if (tmp[0] != '\0')
		plat_fs_rm_rf(tmp, &e);
	appspec_free(as);
	strv_release(&problems);
	return rc;
}

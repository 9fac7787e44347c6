/*
 * config.c: see config.h.
 *
 * One table maps each key onto a field of struct config with its type and
 * bounds, so adding a setting is one line here and one in the header.
 * Values are typed strictly (YAML 1.1 via ydoc): `verbose: "false"` is an
 * error rather than Ruby's silent truthy string.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "err.h"
#include "log.h"
#include "util.h"
#include "ydoc.h"
#include "banned.h"

const struct config *cfg = NULL;

#define CONFIG_MAX_BYTES ((size_t)1 << 20)
#define SHOW_MAX 100

enum ktype {
	K_STR,		/* string, NULL allowed */
	K_PATH,		/* string, required non-empty */
	K_BOOL,
	K_INT,		/* int or long field, see size */
	K_SIZE,		/* uint64_t bytes */
	K_HOOKOPEN,	/* fail | ignore */
	K_ONE,		/* Ruby's `children`: accepted only as 1 */
	K_IGNORE,	/* Ruby keys we accept and do not use */
};

struct key {
	const char *name;
	enum ktype type;
	size_t off, size;
	long long min, max;
};

#define FLD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define STR(f) { #f, K_STR, FLD(f), 0, 0 }
#define PATH(f) { #f, K_PATH, FLD(f), 0, 0 }
#define BOOL(f) { #f, K_BOOL, FLD(f), 0, 1 }
#define INT(f, lo, hi) { #f, K_INT, FLD(f), lo, hi }
#define SIZE(f) { #f, K_SIZE, FLD(f), 0, LLONG_MAX }
#define IGN(n) { n, K_IGNORE, 0, 0, 0, 0 }

static const struct key keys[] = {
	PATH(root_dir),
	PATH(log_dir),
	PATH(pid_dir),
	PATH(program_name),
	PATH(on_premises_config_file),
	PATH(ongoing_deployment_tracking),
	BOOL(verbose),
	INT(max_revisions, 1, INT_MAX),
	BOOL(enable_deployments_log),
	INT(wait_between_runs, 0, LONG_MAX),
	INT(http_read_timeout, 1, LONG_MAX),
	INT(kill_agent_max_wait_time_seconds, 0, LONG_MAX),
	SIZE(log_max_bytes),
	INT(log_keep, 0, 1000),
	INT(hook_kill_grace_seconds, 0, LONG_MAX),
	{ "hook_outputs_left_open", K_HOOKOPEN,
	    FLD(hook_outputs_left_open_fail), 0, 1 },
	INT(hook_output_drain_ms, 0, LONG_MAX),
	SIZE(archive_max_extraction_size),
	BOOL(allow_setuid_in_bundle),
	BOOL(preserve_symlinks),
	SIZE(disk_reserve_bytes),
	INT(disk_expansion_factor, 1, 1000),
	STR(deploy_control_endpoint),
	BOOL(enable_auth_policy),
	BOOL(use_fips_mode),
	BOOL(disable_imds_v1),
	STR(proxy_uri),
	STR(control_plane_proxy_uri),
	STR(storage_proxy_uri),
	STR(ca_bundle),
	STR(s3_endpoint_override),
	BOOL(s3_force_path_style),
	INT(max_parallel_commands, 1, 1024),
	STR(deployment_spec_signer_ca),
	BOOL(allow_text_json_spec),
	STR(codedeploy_endpoint),
	STR(iam_endpoint),
	{ "children", K_ONE, 0, 0, 1, 1 },
	IGN("wait_between_spawning_children"),
	IGN("wait_after_throttle_error"),
	IGN("wait_after_connection_problem"),
	IGN("wait_after_error"),
	IGN("max_runs_per_worker"),
	IGN("user"),
	IGN("group"),
	IGN("codedeploy_test_profile"),
	IGN("use_mock_command_service"),
	IGN("plugins"),
	IGN("instance_service_region"),
	IGN("instance_service_endpoint"),
	IGN("instance_service_port"),
	IGN("shared_dir"),
	IGN("log_aws_wire"),
};

static const struct key *
key_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* Ruby symbol style `:key:` and plain `key:` name the same setting. */
static const char *
key_name(const struct ydoc_node *k)
{
	return k->text[0] == ':' ? k->text + 1 : k->text;
}

/* A value as quoted in an error message, clipped. */
static const char *
show(const struct ydoc_node *v, char *tmp, size_t sz)
{
	if (v->kind == YDOC_SEQ)
		return "[...]";
	if (v->kind == YDOC_MAP)
		return "{...}";
	snprintf(tmp, sz, "%s", v->text);
	if (v->len >= sz && sz > 4)
		memcpy(tmp + sz - 4, "...", 4);
	return tmp;
}

static int
set_str(char **dst, const char *s)
{
	char *p = NULL;

	if (s != NULL && (p = strdup(s)) == NULL)
		return AG_ENOMEM;
	free(*dst);
	*dst = p;
	return 0;
}

int
config_init(struct config *c, struct err *e)
{
	memset(c, 0, sizeof(*c));
	if (set_str(&c->root_dir, "/opt/codedeploy-agent/deployment-root") ||
	    set_str(&c->log_dir, "/var/log/aws/codedeploy-agent") ||
	    set_str(&c->pid_dir, "/opt/codedeploy-agent/state/.pid") ||
	    set_str(&c->program_name, "codedeploy-agent") ||
	    set_str(&c->on_premises_config_file, CONFIG_DEFAULT_ONPREM) ||
	    set_str(&c->ongoing_deployment_tracking, "ongoing-deployment")) {
		config_release(c);
		return err_set(e, AG_ENOMEM, "out of memory");
	}
	c->verbose = 0;
	c->max_revisions = 5;
	c->enable_deployments_log = 1;
	c->wait_between_runs = 1;	/* the shipped value (§15 row 15) */
	c->http_read_timeout = 80;
	c->kill_agent_max_wait_time_seconds = 7200;
	c->log_max_bytes = (uint64_t)64 << 20;
	c->log_keep = 8;
	c->hook_kill_grace_seconds = 10;
	c->hook_outputs_left_open_fail = 0;
	c->hook_output_drain_ms = 2000;
	c->archive_max_extraction_size = (uint64_t)10 << 30;
	c->allow_setuid_in_bundle = 0;
	c->preserve_symlinks = 1;
	c->disk_reserve_bytes = (uint64_t)100 << 20;
	c->disk_expansion_factor = 3;
	c->max_parallel_commands = 4;
	return 0;
}

void
config_release(struct config *c)
{
	size_t i;

	if (c == NULL)
		return;
	free(c->path);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (keys[i].type == K_STR || keys[i].type == K_PATH)
			free(*(char **)(void *)((char *)c + keys[i].off));
	}
	memset(c, 0, sizeof(*c));
}

/* Store one value; messages are "<file>:<line>: <key>: ...". */
static int
apply(struct config *c, const struct key *k, const struct ydoc_node *v,
    const char *path, struct err *e)
{
	char *field = (char *)c + k->off, tmp[SHOW_MAX], range[64];
	const char *must = NULL;
	long long n = 0;
	int b = 0;

	switch (k->type) {
	case K_IGNORE:
		return 0;
	case K_STR:
	case K_PATH:
		if (v->kind != YDOC_SCALAR)
			must = "must be a string";
		else if (ydoc_is_null(v) && k->type == K_STR)
			return set_str((char **)(void *)field, NULL) ?
			    err_set(e, AG_ENOMEM, "out of memory") : 0;
		else if (ydoc_is_null(v) || v->text[0] == '\0')
			must = "must be a non-empty string";
		else if (set_str((char **)(void *)field, v->text) != 0)
			return err_set(e, AG_ENOMEM, "out of memory");
		break;
	case K_BOOL:
		if (ydoc_bool(v, &b) != 0)
			must = "must be true or false";
		else
			*(int *)(void *)field = b;
		break;
	case K_HOOKOPEN:
		if (ydoc_type(v) == YDOC_T_STR && strcmp(v->text, "fail") == 0)
			*(int *)(void *)field = 1;
		else if (ydoc_type(v) == YDOC_T_STR &&
		    strcmp(v->text, "ignore") == 0)
			*(int *)(void *)field = 0;
		else
			must = "must be fail or ignore";
		break;
	case K_ONE:
		if (ydoc_int(v, &n) != 0 || n != 1)
			must = "must be 1";
		break;
	case K_INT:
	case K_SIZE:
		if (ydoc_int(v, &n) != 0 || n < k->min || n > k->max) {
			if (k->type == K_SIZE)
				must = "must be a size in bytes >= 0";
			else if (k->max == INT_MAX || k->max == LONG_MAX)
				snprintf(range, sizeof(range), "must be an "
				    "integer >= %lld", k->min);
			else
				snprintf(range, sizeof(range), "must be an "
				    "integer from %lld to %lld", k->min,
				    k->max);
			if (must == NULL)
				must = range;
		} else if (k->type == K_SIZE)
			*(uint64_t *)(void *)field = (uint64_t)n;
		else if (k->size == sizeof(int))
			*(int *)(void *)field = (int)n;
		else
			*(long *)(void *)field = (long)n;
		break;
	}
	if (must != NULL)
		return err_set(e, AG_EINVAL, "%s:%d: %s: invalid value '%s' "
		    "(%s)", path, v->line, k->name, show(v, tmp, sizeof(tmp)),
		    must);
	return 0;
}

/* Parse text as a YAML mapping (or nothing at all); shared by both loaders. */
static int
parse_map(struct ydoc **out, const struct buf *text, const char *path,
    struct err *e)
{
	const struct ydoc_node *root;
	struct ydoc *d = NULL;
	int r;

	*out = NULL;
	if ((r = ydoc_parse(&d, buf_cstr(text), text->len, path, e)) != 0)
		return r == AG_ENOMEM ? r : (e->code = AG_EINVAL);
	root = ydoc_root(d);
	if (root != NULL && !ydoc_is_null(root) && root->kind != YDOC_MAP) {
		r = err_set(e, AG_EINVAL, "%s:%d: expected a mapping of keys "
		    "to values, found %s", path, root->line,
		    ydoc_type_name(ydoc_type(root)));
		ydoc_free(d);
		return r;
	}
	*out = d;
	return 0;
}

/* One warning per unknown key, however often it repeats. */
static int
warn_unknown(struct strv *seen, const char *path, const char *name)
{
	if (strv_contains(seen, name))
		return 0;
	log_warn("%s: unknown key '%s' ignored", path, name);
	return strv_push(seen, name);
}

static void
strip_slashes(char *p)
{
	size_t n;

	if (p == NULL)
		return;
	n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
}

int
config_load(struct config *c, const char *path, struct err *e)
{
	struct buf text = BUF_INIT(CONFIG_MAX_BYTES);
	struct strv seen = STRV_INIT;
	const struct ydoc_node *root, *kn, *v;
	const struct key *k;
	struct err ie = ERR_INIT;
	struct ydoc *d = NULL;
	size_t i;
	int r;

	if (buf_read_file(&text, path, &ie) != 0) {
		r = err_set(e, AG_EIO, "the config file %s does not exist or "
		    "is not readable (%s)", path, ie.msg);
		goto out;
	}
	if ((r = parse_map(&d, &text, path, e)) != 0)
		goto out;
	if ((r = set_str(&c->path, path)) != 0) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	root = ydoc_root(d);
	for (i = 0; root != NULL && i + 1 < root->n; i += 2) {
		kn = root->items[i];
		v = root->items[i + 1];
		if (kn->kind != YDOC_SCALAR) {
			r = err_set(e, AG_EINVAL, "%s:%d: keys must be plain "
			    "names", path, kn->line);
			goto out;
		}
		if ((k = key_find(key_name(kn))) == NULL) {
			if (warn_unknown(&seen, path, key_name(kn)) != 0) {
				r = err_set(e, AG_ENOMEM, "out of memory");
				goto out;
			}
			continue;
		}
		/* `key:` with nothing after it keeps the default. */
		if (ydoc_is_null(v) && k->type != K_STR)
			continue;
		if ((r = apply(c, k, v, path, e)) != 0)
			goto out;
	}
	/*
	 * "/opt/x/" and "/opt/x" are one directory: paths built from these
	 * are compared (retention keeps the current and last-successful
	 * deployments by name), so keep one spelling.
	 */
	strip_slashes(c->root_dir);
	strip_slashes(c->log_dir);
	strip_slashes(c->pid_dir);
 out:
	strv_release(&seen);
	ydoc_free(d);
	buf_release(&text);
	return r;
}

/* ---- on-premises ------------------------------------------------------- */

#define ONPREM_BAD "The deployment failed because the format of the " \
	"following on-premises configuration file is invalid: %s (%s)"

int
onprem_load(struct onprem *o, const char *path, struct err *e)
{
	static const struct {
		const char *name;
		size_t off;
	} okeys[] = {
		{ "iam_user_arn", offsetof(struct onprem, iam_user_arn) },
		{ "iam_session_arn", offsetof(struct onprem, iam_session_arn) },
		{ "aws_access_key_id",
		    offsetof(struct onprem, aws_access_key_id) },
		{ "aws_secret_access_key",
		    offsetof(struct onprem, aws_secret_access_key) },
		{ "aws_credentials_file",
		    offsetof(struct onprem, aws_credentials_file) },
		{ "region", offsetof(struct onprem, region) },
		{ "machine_id", offsetof(struct onprem, machine_id) },
		{ "instance_name", offsetof(struct onprem, instance_name) },
	};
	struct buf text = BUF_INIT(CONFIG_MAX_BYTES);
	struct strv seen = STRV_INIT;
	const struct ydoc_node *root, *kn, *v;
	struct err ye = ERR_INIT;
	struct ydoc *d = NULL;
	const char *name, *need = NULL;
	char **field;
	size_t i, j;
	int r;

	memset(o, 0, sizeof(*o));
	if (buf_read_file(&text, path, &ye) != 0) {
		r = err_set(e, AG_EIO, "on premises config file %s does not "
		    "exist or not readable (%s)", path, ye.msg);
		goto out;
	}
	if ((r = parse_map(&d, &text, path, &ye)) != 0) {
		if (r == AG_ENOMEM)
			err_set(e, r, "out of memory");
		else
			err_set(e, r, ONPREM_BAD, path, ye.msg);
		goto out;
	}
	root = ydoc_root(d);
	for (i = 0; root != NULL && i + 1 < root->n; i += 2) {
		kn = root->items[i];
		v = root->items[i + 1];
		if (kn->kind != YDOC_SCALAR || v->kind != YDOC_SCALAR) {
			r = err_set(e, AG_EINVAL, ONPREM_BAD, path,
			    "keys and values must be single values");
			goto out;
		}
		name = key_name(kn);
		for (j = 0; j < sizeof(okeys) / sizeof(okeys[0]); j++)
			if (strcmp(okeys[j].name, name) == 0)
				break;
		if (j == sizeof(okeys) / sizeof(okeys[0])) {
			if ((r = warn_unknown(&seen, path, name)) != 0) {
				r = err_set(e, AG_ENOMEM, "out of memory");
				goto out;
			}
			continue;
		}
		field = (char **)(void *)((char *)o + okeys[j].off);
		util_free_secret(*field);
		*field = NULL;
		/* Ruby's `unless file_config[field]`; "" is unset too. */
		if (ydoc_is_null(v) || v->text[0] == '\0')
			continue;
		if ((*field = strdup(v->text)) == NULL) {
			r = err_set(e, AG_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (o->iam_user_arn != NULL && o->iam_session_arn != NULL) {
		r = err_set(e, AG_EINVAL, "%s: on premises config cannot "
		    "contain both 'iam_user_arn' and 'iam_session_arn' keys",
		    path);
		goto out;
	}
	if (o->iam_user_arn != NULL) {
		if (o->region == NULL)
			need = "region";
		else if (o->aws_access_key_id == NULL)
			need = "aws_access_key_id";
		else if (o->aws_secret_access_key == NULL)
			need = "aws_secret_access_key";
		if (need != NULL) {
			r = err_set(e, AG_EINVAL, "%s: '%s' key is required "
			    "when 'iam_user_arn' is provided", path, need);
			goto out;
		}
	} else if (o->iam_session_arn != NULL) {
		if (o->region == NULL)
			need = "region";
		else if (o->aws_credentials_file == NULL)
			need = "aws_credentials_file";
		if (need != NULL) {
			r = err_set(e, AG_EINVAL, "%s: '%s' key is required "
			    "when 'iam_session_arn' is provided", path, need);
			goto out;
		}
	}
 out:
	if (r != 0)
		onprem_release(o);
	strv_release(&seen);
	ydoc_free_secret(d);
	buf_release_secret(&text);
	return r;
}

void
onprem_release(struct onprem *o)
{
	if (o == NULL)
		return;
	free(o->iam_user_arn);
	free(o->iam_session_arn);
	util_free_secret(o->aws_access_key_id);
	util_free_secret(o->aws_secret_access_key);
	free(o->aws_credentials_file);
	free(o->region);
	free(o->machine_id);
	free(o->instance_name);
	memset(o, 0, sizeof(*o));
}

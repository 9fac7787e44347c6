/*
 * register.c: `cdagent register` / `cdagent deregister`; see register.h.
 *
 * Validation is pure and runs first, so a typo never leaves half a
 * registration behind. What the network part creates is recorded in a
 * struct reg_done as it happens; rollback() walks it backwards.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "awsreq.h"
#include "buf.h"
#include "cli.h"
#include "config.h"
#include "creds.h"
#include "err.h"
#include "http.h"
#include "iamxml.h"
#include "log.h"
#include "platform.h"
#include "register.h"
#include "sigv4.h"
#include "util.h"
#include "version.h"
#include "ydoc.h"
#include "banned.h"

#define REG_BODY_MAX ((size_t)1 << 20)
#define REG_FILE_MAX ((size_t)64 * 1024)
#define CD_TARGET "CodeDeploy_20141006."
#define IAM_VERSION "2010-05-08"

static const char policy_document[] =
    "{\n"
    "    \"Version\": \"2012-10-17\",\n"
    "    \"Statement\": [\n"
    "        {\n"
    "            \"Action\": [ \"s3:Get*\", \"s3:List*\" ],\n"
    "            \"Effect\": \"Allow\",\n"
    "            \"Resource\": \"*\"\n"
    "        }\n"
    "    ]\n"
    "}";

/* ---- validation ---------------------------------------------------------- */

/* 1 when every byte of s[0..n) is alnum or in extra. */
static int
all_in(const char *s, size_t n, const char *extra)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || (c != '\0' &&
		    strchr(extra, c) != NULL)))
			return 0;
	}
	return 1;
}

static int
all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

int
reg_check_instance_name(const char *s, struct err *e)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0)
		return err_set(e, AG_EINVAL, "an instance name is required "
		    "(--instance-name)");
	if (n > REG_INSTANCE_NAME_MAX)
		return err_set(e, AG_EINVAL, "instance name '%.40s...' is "
		    "longer than %d characters", s, REG_INSTANCE_NAME_MAX);
	if (!all_in(s, n, "+=,.@_-"))
		return err_set(e, AG_EINVAL, "instance name '%s' may only "
		    "contain letters, digits and + = , . @ _ -", s);
	if (strncmp(s, "i-", 2) == 0)
		return err_set(e, AG_EINVAL, "instance name '%s' must not "
		    "start with 'i-' (reserved for EC2 instance ids)", s);
	return 0;
}

/* "arn:<partition>:<svc>::<12 digits>:" and the rest after it in *rest. */
static int
arn_prefix(const char *s, const char *svc, const char **rest)
{
	static const char *const parts[] = { "aws", "aws-cn", "aws-us-gov" };
	const char *p;
	size_t i, n;

	if (strncmp(s, "arn:", 4) != 0)
		return 0;
	p = s + 4;
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		n = strlen(parts[i]);
		if (strncmp(p, parts[i], n) == 0 && p[n] == ':')
			break;
	}
	if (i == sizeof(parts) / sizeof(parts[0]))
		return 0;
	p += n + 1;
	n = strlen(svc);
	if (strncmp(p, svc, n) != 0 || strncmp(p + n, "::", 2) != 0)
		return 0;
	p += n + 2;
	if (strlen(p) < 13 || !all_digits(p, 12) || p[12] != ':')
		return 0;
	*rest = p + 13;
	return 1;
}

int
reg_check_user_arn(const char *s, struct err *e)
{
	const char *rest;

	if (s == NULL || !arn_prefix(s, "iam", &rest) ||
	    strncmp(rest, "user/", 5) != 0 || rest[5] == '\0' ||
	    !all_in(rest + 5, strlen(rest + 5), "/+=,.@_-"))
		return err_set(e, AG_EINVAL, "'%s' is not an IAM user ARN "
		    "(arn:aws:iam::<12-digit account>:user/<name>)",
		    s ? s : "");
	return 0;
}

int
reg_check_session_arn(const char *s, struct err *e)
{
	const char *rest, *slash;
	size_t rn, sn;

	if (s == NULL || !arn_prefix(s, "sts", &rest) ||
	    strncmp(rest, "assumed-role/", 13) != 0)
		goto bad;
	rest += 13;
	if ((slash = strchr(rest, '/')) == NULL)
		goto bad;
	rn = (size_t)(slash - rest);
	sn = strlen(slash + 1);
	if (rn < 1 || rn > 64 || sn < 2 || sn > 64 ||
	    !all_in(rest, rn, "+=,.@_-") || !all_in(slash + 1, sn, "+=,.@_-"))
		goto bad;
	return 0;
 bad:
	return err_set(e, AG_EINVAL, "'%s' is not an IAM session ARN "
	    "(arn:aws:sts::<12-digit account>:assumed-role/<role>/<session>)",
	    s ? s : "");
}

int
reg_check_region(const char *s, struct err *e)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0)
		return err_set(e, AG_EINVAL, "a region is required (--region)");
	if (n > 64 || !all_in(s, n, "-") || strpbrk(s, "ABCDEFGHIJKLMNOPQRS"
	    "TUVWXYZ") != NULL)
		return err_set(e, AG_EINVAL, "'%s' is not a region name", s);
	return 0;
}

int
reg_check_access_key_id(const char *s, struct err *e)
{
	size_t n = s ? strlen(s) : 0;

	/* the value is not echoed: it is half a credential */
	if (n < 16 || n > 128 || !all_in(s, n, ""))
		return err_set(e, AG_EINVAL, "the access key id must be 16 to "
		    "128 letters and digits");
	return 0;
}

int
reg_parse_tag(const char *s, char **key, char **value, struct err *e)
{
	const char *comma, *v;
	size_t kn;

	*key = *value = NULL;
	if (strncmp(s, "Key=", 4) != 0 || (comma = strchr(s, ',')) == NULL ||
	    strncmp(comma + 1, "Value=", 6) != 0)
		return err_set(e, AG_EINVAL, "tag '%s' is not Key=K,Value=V", s);
	kn = (size_t)(comma - (s + 4));
	v = comma + 7;
	if (kn == 0 || kn > REG_TAG_KEY_MAX)
		return err_set(e, AG_EINVAL, "tag '%s': the key must be 1 to %d "
		    "characters", s, REG_TAG_KEY_MAX);
	if (strchr(v, ',') != NULL)
		return err_set(e, AG_EINVAL, "tag '%s': a value cannot contain "
		    "','", s);
	if (strlen(v) > REG_TAG_VALUE_MAX)
		return err_set(e, AG_EINVAL, "tag '%.60s...': the value is "
		    "longer than %d characters", s, REG_TAG_VALUE_MAX);
	if ((*key = strndup(s + 4, kn)) == NULL ||
	    (*value = strdup(v)) == NULL) {
		free(*key);
		*key = NULL;
		return err_set(e, AG_ENOMEM, "out of memory");
	}
	return 0;
}

/* ---- encodings ----------------------------------------------------------- */

int
reg_form_add(struct buf *b, const char *name, const char *value)
{
	int r;

	if (b->len > 0 && (r = buf_addch(b, '&')) != 0)
		return r;
	if ((r = sigv4_uri_encode(b, name, strlen(name), 0)) != 0 ||
	    (r = buf_addch(b, '=')) != 0)
		return r;
	return sigv4_uri_encode(b, value, strlen(value), 0);
}

int
reg_codedeploy_endpoint(const char *region, const char *override,
    struct buf *out, struct err *e)
{
	int r;

	buf_reset(out);
	if (override != NULL && *override != '\0')
		r = buf_addstr(out, override);
	else
		r = buf_addf(out, "https://codedeploy.%s.amazonaws.com%s",
		    region, strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
	return r != 0 ? err_set(e, AG_ENOMEM, "out of memory") : 0;
}

int
reg_iam_endpoint(const char *region, const char *override,
    struct buf *out, const char **sign_region, struct err *e)
{
	const char *url = "https://iam.amazonaws.com/";

	*sign_region = "us-east-1";
	if (strncmp(region, "cn-", 3) == 0) {
		url = "https://iam.cn-north-1.amazonaws.com.cn/";
		*sign_region = "cn-north-1";
	} else if (strncmp(region, "us-gov-", 7) == 0) {
		url = "https://iam.us-gov.amazonaws.com/";
		*sign_region = "us-gov-west-1";
	}
	if (override != NULL && *override != '\0')
		url = override;
	buf_reset(out);
	return buf_addstr(out, url) != 0 ?
	    err_set(e, AG_ENOMEM, "out of memory") : 0;
}

/* key: 'value' with YAML single-quote escaping. */
static int
yaml_kv(struct buf *b, const char *key, const char *v, struct err *e)
{
	const char *p;

	if (v == NULL)
		return 0;
	for (p = v; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return err_set(e, AG_EINVAL, "%s: control character in "
			    "the value", key);
	if (buf_addf(b, "%s: '", key) != 0)
		goto nomem;
	for (p = v; *p != '\0'; p++)
		if ((*p == '\'' && buf_addch(b, '\'') != 0) ||
		    buf_addch(b, *p) != 0)
			goto nomem;
	if (buf_addstr(b, "'\n") != 0)
		goto nomem;
	return 0;
 nomem:
	return err_set(e, AG_ENOMEM, "out of memory");
}

int
reg_onprem_format(struct buf *out, const struct reg_onprem *o,
    struct err *e)
{
	int r;

	buf_reset(out);
	if (buf_addstr(out, "---\n# Written by cdagent register. Holds this "
	    "host's identity; keep it mode 0600.\n") != 0)
		return err_set(e, AG_ENOMEM, "out of memory");
	if ((o->iam_user_arn == NULL) == (o->iam_session_arn == NULL))
		return err_set(e, AG_EINVAL, "exactly one of the IAM user and "
		    "session ARNs is needed");
	if ((r = yaml_kv(out, "aws_access_key_id", o->aws_access_key_id,
	    e)) != 0 ||
	    (r = yaml_kv(out, "aws_secret_access_key",
	    o->aws_secret_access_key, e)) != 0 ||
	    (r = yaml_kv(out, "iam_user_arn", o->iam_user_arn, e)) != 0 ||
	    (r = yaml_kv(out, "iam_session_arn", o->iam_session_arn, e)) != 0 ||
	    (r = yaml_kv(out, "aws_credentials_file", o->aws_credentials_file,
	    e)) != 0 ||
	    (r = yaml_kv(out, "region", o->region, e)) != 0 ||
	    (r = yaml_kv(out, "instance_name", o->instance_name, e)) != 0 ||
	    (r = yaml_kv(out, "machine_id", o->machine_id, e)) != 0)
		return r;
	return 0;
}

/* ---- options ------------------------------------------------------------- */

static void
free_secret_field(char **p)
{
	util_free_secret(*p);
	*p = NULL;
}

void
reg_opts_release(struct reg_opts *o)
{
	size_t i;

	free(o->instance_name);
	free(o->region);
	free(o->iam_user_arn);
	free_secret_field(&o->access_key_id);
	free_secret_field(&o->secret_access_key);
	free(o->secret_access_key_file);
	free(o->iam_session_arn);
	free(o->credentials_file);
	free(o->profile);
	free_secret_field(&o->op_access_key_id);
	free_secret_field(&o->op_secret_access_key);
	free_secret_field(&o->op_session_token);
	for (i = 0; i < o->ntags; i++) {
		free(o->tag_keys[i]);
		free(o->tag_values[i]);
	}
	free(o->tag_keys);
	free(o->tag_values);
	memset(o, 0, sizeof(*o));
}

static int
add_tag(struct reg_opts *o, const char *s, struct err *e)
{
	char **k, **v;
	int r;

	if (o->ntags == REG_MAX_TAGS)
		return err_set(e, AG_EINVAL, "at most %d tags", REG_MAX_TAGS);
	if ((k = realloc(o->tag_keys, (o->ntags + 1) * sizeof(*k))) == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	o->tag_keys = k;
	if ((v = realloc(o->tag_values, (o->ntags + 1) * sizeof(*v))) == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	o->tag_values = v;
	if ((r = reg_parse_tag(s, &k[o->ntags], &v[o->ntags], e)) != 0)
		return r;
	o->ntags++;
	return 0;
}

/* Set *field to a copy of v unless it is set already (command line wins). */
static int
set_once(char **field, const char *v, struct err *e)
{
	if (*field != NULL)
		return 0;
	if ((*field = strdup(v)) == NULL)
		return err_set(e, AG_ENOMEM, "out of memory");
	return 0;
}

static int
parse_bool(const char *v, int *out)
{
	static const char *const t[] = { "1", "true", "yes", "on" };
	static const char *const f[] = { "0", "false", "no", "off", "" };
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcasecmp(v, t[i]) == 0)
			return *out = 1, 0;
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (strcasecmp(v, f[i]) == 0)
			return *out = 0, 0;
	return AG_EINVAL;
}

/* One KEY=value of --from-env; value is already unquoted. */
static int
env_key(struct reg_opts *o, const char *k, char *v, int cli_tags,
    struct err *e)
{
	static const struct {
		const char *name;
		size_t off;
	} strs[] = {
		{ "INSTANCE_NAME", offsetof(struct reg_opts, instance_name) },
		{ "REGION", offsetof(struct reg_opts, region) },
		{ "IAM_USER_ARN", offsetof(struct reg_opts, iam_user_arn) },
		{ "ACCESS_KEY_ID", offsetof(struct reg_opts, access_key_id) },
		{ "SECRET_ACCESS_KEY",
		    offsetof(struct reg_opts, secret_access_key) },
		{ "SECRET_ACCESS_KEY_FILE",
		    offsetof(struct reg_opts, secret_access_key_file) },
		{ "IAM_SESSION_ARN",
		    offsetof(struct reg_opts, iam_session_arn) },
		{ "CREDENTIALS_FILE",
		    offsetof(struct reg_opts, credentials_file) },
		{ "PROFILE", offsetof(struct reg_opts, profile) },
		{ "AWS_ACCESS_KEY_ID",
		    offsetof(struct reg_opts, op_access_key_id) },
		{ "AWS_SECRET_ACCESS_KEY",
		    offsetof(struct reg_opts, op_secret_access_key) },
		{ "AWS_SESSION_TOKEN",
		    offsetof(struct reg_opts, op_session_token) },
	};
	size_t i;
	char *p, *semi;
	int r, b;

	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (strcmp(k, strs[i].name) == 0)
			return set_once((char **)(void *)((char *)o +
			    strs[i].off), v, e);
	if (strcmp(k, "CREATE_IAM_USER") == 0) {
		if (parse_bool(v, &b) != 0)
			return err_set(e, AG_EINVAL, "CREATE_IAM_USER: '%s' is "
			    "not true or false", v);
		o->create_iam_user |= b;
		return 0;
	}
	if (strcmp(k, "TAGS") == 0) {
		if (cli_tags)	/* --tags on the command line replace these */
			return 0;
		for (p = v; p != NULL && *p != '\0'; p = semi) {
			if ((semi = strchr(p, ';')) != NULL)
				*semi++ = '\0';
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p == '\0')
				continue;
			if ((r = add_tag(o, p, e)) != 0)
				return r;
		}
		return 0;
	}
	return err_set(e, AG_EINVAL, "unknown key '%s'", k);
}

int
reg_parse_env(struct reg_opts *o, const char *text, const char *path,
    struct err *e)
{
	const char *p = text;
	char *line = NULL, *k, *v, *eq;
	size_t n, vn;
	int lineno = 0, r = 0, cli_tags = o->ntags > 0;

	while (*p != '\0') {
		n = strcspn(p, "\n");
		lineno++;
		util_free_secret(line);
		if ((line = strndup(p, n)) == NULL) {
			r = err_set(e, AG_ENOMEM, "out of memory");
			goto out;
		}
		p += n;
		if (*p == '\n')
			p++;
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		k = line;
		while (*k == ' ' || *k == '\t')
			k++;
		if (*k == '\0' || *k == '#')
			continue;
		if (strncmp(k, "export ", 7) == 0)
			k += 7;
		if ((eq = strchr(k, '=')) == NULL) {
			r = err_set(e, AG_EINVAL, "%s:%d: expected KEY=value",
			    path, lineno);
			goto out;
		}
		*eq = '\0';
		for (n = strlen(k); n > 0 && (k[n - 1] == ' ' ||
		    k[n - 1] == '\t'); n--)
			k[n - 1] = '\0';
		v = eq + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		vn = strlen(v);
		while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
			v[--vn] = '\0';
		if (vn >= 2 && (v[0] == '"' || v[0] == '\'') &&
		    v[vn - 1] == v[0]) {
			v[vn - 1] = '\0';
			v++;
		}
		if ((r = env_key(o, k, v, cli_tags, e)) != 0) {
			err_prefix(e, "%s:%d", path, lineno);
			goto out;
		}
	}
 out:
	util_free_secret(line);
	return r;
}

int
reg_check_opts(const struct reg_opts *o, struct err *e)
{
	int modes = (o->iam_user_arn != NULL) + (o->iam_session_arn != NULL) +
	    (o->create_iam_user != 0);
	int r;

	if ((r = reg_check_instance_name(o->instance_name, e)) != 0 ||
	    (r = reg_check_region(o->region, e)) != 0)
		return r;
	if (modes != 1)
		return err_set(e, AG_EINVAL, "give exactly one of "
		    "--iam-user-arn, --iam-session-arn and --create-iam-user");
	if (o->iam_user_arn != NULL) {
		if ((r = reg_check_user_arn(o->iam_user_arn, e)) != 0)
			return r;
		if (o->access_key_id == NULL || (o->secret_access_key == NULL &&
		    o->secret_access_key_file == NULL))
			return err_set(e, AG_EINVAL, "--iam-user-arn needs "
			    "--access-key-id and --secret-access-key-file");
		if ((r = reg_check_access_key_id(o->access_key_id, e)) != 0)
			return r;
	} else if (o->access_key_id != NULL || o->secret_access_key != NULL ||
	    o->secret_access_key_file != NULL) {
		return err_set(e, AG_EINVAL, "--access-key-id and "
		    "--secret-access-key-file go with --iam-user-arn only");
	}
	if (o->iam_session_arn != NULL) {
		if ((r = reg_check_session_arn(o->iam_session_arn, e)) != 0)
			return r;
		if (o->credentials_file == NULL)
			return err_set(e, AG_EINVAL, "--iam-session-arn needs "
			    "--credentials-file");
		if (o->credentials_file[0] != '/')
			return err_set(e, AG_EINVAL, "--credentials-file '%s' "
			    "must be an absolute path (the agent reads it)",
			    o->credentials_file);
	} else if (o->credentials_file != NULL) {
		return err_set(e, AG_EINVAL, "--credentials-file goes with "
		    "--iam-session-arn only");
	}
	if (o->create_iam_user && strlen(o->instance_name) > 64)
		return err_set(e, AG_EINVAL, "with --create-iam-user the "
		    "instance name is the IAM user name: at most 64 "
		    "characters");
	return 0;
}

/* ---- files --------------------------------------------------------------- */

/* The first line of path, trimmed, as a heap secret. */
static int
read_secret_line(const char *path, char **out, struct err *e)
{
	struct buf b = BUF_INIT(REG_FILE_MAX);
	size_t n, i;
	int r;

	*out = NULL;
	if ((r = buf_read_file(&b, path, e)) != 0)
		goto out;
	n = strcspn(buf_cstr(&b), "\r\n");
	while (n > 0 && (b.ptr[n - 1] == ' ' || b.ptr[n - 1] == '\t'))
		n--;
	for (i = 0; i < n; i++)
		if ((unsigned char)b.ptr[i] <= 0x20 || b.ptr[i] == 0x7f)
			break;
	if (n == 0 || i < n) {
		r = err_set(e, AG_EINVAL, "%s: expected the secret access key "
		    "alone on the first line", path);
		goto out;
	}
	if ((*out = strndup(b.ptr, n)) == NULL)
		r = err_set(e, AG_ENOMEM, "out of memory");
 out:
	buf_release_secret(&b);
	return r;
}

/* /etc/machine-id (or $CDAGENT_MACHINE_ID_FILE), or NULL when absent. */
static char *
machine_id(void)
{
	const char *path = getenv("CDAGENT_MACHINE_ID_FILE");
	struct buf b = BUF_INIT(4096);
	struct err e = ERR_INIT;
	char *id = NULL;
	size_t n;

	if (path == NULL || *path == '\0')
		path = REG_MACHINE_ID_FILE;
	if (buf_read_file(&b, path, &e) != 0) {
		log_warn("no machine id recorded: %s", e.msg);
		goto out;
	}
	n = strcspn(buf_cstr(&b), " \t\r\n");
	if (n == 0 || n > 128 || !all_in(b.ptr, n, "-")) {
		log_warn("no machine id recorded: %s does not hold one", path);
		goto out;
	}
	id = strndup(b.ptr, n);
 out:
	buf_release(&b);
	return id;
}

/* The operator's credentials: --from-env, environment, shared file. */
static int
operator_creds(const struct reg_opts *o, struct creds *out, struct err *e)
{
	const char *ak = getenv("AWS_ACCESS_KEY_ID");
	const char *sk = getenv("AWS_SECRET_ACCESS_KEY");
	const char *tok = getenv("AWS_SESSION_TOKEN");
	const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE");
	const char *home = getenv("HOME"), *profile = o->profile;
	struct buf path = BUF_INIT(4096), text = BUF_INIT(REG_FILE_MAX);
	int r;

	memset(out, 0, sizeof(*out));
	if (o->op_access_key_id != NULL || o->op_secret_access_key != NULL) {
		ak = o->op_access_key_id;
		sk = o->op_secret_access_key;
		tok = o->op_session_token;
		if (ak == NULL || sk == NULL || *ak == '\0' || *sk == '\0')
			return err_set(e, AG_EINVAL, "--from-env file: "
			    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go "
			    "together");
	} else if (profile != NULL || ak == NULL || *ak == '\0' ||
	    sk == NULL || *sk == '\0') {
		/* botocore's order: an explicit profile beats the env */
		ak = sk = tok = NULL;
	}
	if (ak != NULL) {
		out->source = "env";
		if ((out->access_key_id = strdup(ak)) == NULL ||
		    (out->secret_access_key = strdup(sk)) == NULL ||
		    (tok != NULL && *tok != '\0' &&
		    (out->session_token = strdup(tok)) == NULL)) {
			creds_release(out);
			return err_set(e, AG_ENOMEM, "out of memory");
		}
		return 0;
	}
	if (profile == NULL && (profile = getenv("AWS_PROFILE")) == NULL)
		profile = "default";
	if (file != NULL && *file != '\0')
		r = buf_addstr(&path, file);
	else if (home != NULL && *home != '\0')
		r = buf_addf(&path, "%s/.aws/credentials", home);
	else
		r = 0;
	if (r != 0) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	if (path.len == 0 || !util_exists(buf_cstr(&path))) {
		r = err_set(e, AG_EINVAL, "no AWS credentials to register "
		    "with: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
		    "or give a shared credentials file (%s) and --profile",
		    path.len ? buf_cstr(&path) : "~/.aws/credentials");
		goto out;
	}
	if ((r = buf_read_file(&text, buf_cstr(&path), e)) != 0)
		goto out;
	if ((r = creds_parse_shared(buf_cstr(&text), profile, out, e)) != 0) {
		err_prefix(e, "%s, profile %s", buf_cstr(&path), profile);
		r = e->code = AG_EINVAL;
		goto out;
	}
	out->source = "file";
 out:
	buf_release_secret(&text);
	buf_release(&path);
	return r;
}

/* ---- API calls ----------------------------------------------------------- */

struct reg_ctx {
	struct http *http;
	struct creds op;		/* the operator's, never the host's */
	struct awsreq_endpoint cd, iam;
	const char *what;		/* "register" / "deregister" */
};

/* Sign and POST body; the reply (any status) in *status and reply. */
static int
api_post(struct reg_ctx *c, const struct awsreq_endpoint *ep,
    const char *ctype, const char *target, const char *body,
    struct buf *reply, long *status, struct err *e)
{
	struct http_resp resp;
	struct awsreq rq;
	char ua[128];
	int r;

	http_resp_init(&resp, REG_BODY_MAX);
	snprintf(ua, sizeof(ua), "User-Agent: %s", version_agent_string());
	memset(&rq, 0, sizeof(rq));
	rq.content_type = ctype;
	rq.target = target;
	rq.extra_header = ua;
	rq.body = body;
	rq.body_len = strlen(body);
	rq.timeout_ms = 60 * 1000;
	rq.dest = HTTP_DEST_CONTROL;
	if ((r = awsreq_post(c->http, ep, &c->op, &rq, &resp, e)) != 0)
		goto out;
	*status = resp.status;
	buf_reset(reply);
	if (buf_add(reply, buf_cstr(&resp.body), resp.body.len) != 0)
		r = err_set(e, AG_EPROTO, "reply too large");
 out:
	/* IAM replies can carry a new secret key */
	util_wipe(resp.body.ptr, resp.body.cap);
	http_resp_release(&resp);
	return r;
}

/*
 * CodeDeploy JSON 1.1 call; *out (may be NULL) gets the reply object.
 * A service error becomes AG_EPROTO "Op: Type: message".
 */
static int
cd_call(struct reg_ctx *c, const char *op, json_t *req, json_t **out,
    struct err *e)
{
	struct buf reply = BUF_INIT(REG_BODY_MAX), target = BUF_INIT(256);
	json_t *js = NULL;
	json_error_t je;
	const char *type = NULL, *msg = NULL, *hash;
	char *body = NULL;
	long status = 0;
	int r;

	if (out != NULL)
		*out = NULL;
	if (req == NULL || (body = json_dumps(req, JSON_COMPACT)) == NULL ||
	    buf_addf(&target, CD_TARGET "%s", op) != 0) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = api_post(c, &c->cd, "application/x-amz-json-1.1",
	    buf_cstr(&target), body, &reply, &status, e)) != 0) {
		err_prefix(e, "%s", op);
		goto out;
	}
	js = json_loadb(buf_cstr(&reply), reply.len, 0, &je);
	if (status / 100 != 2) {
		if (json_is_object(js)) {
			type = json_string_value(json_object_get(js, "__type"));
			msg = json_string_value(json_object_get(js, "message"));
			if (msg == NULL)
				msg = json_string_value(json_object_get(js,
				    "Message"));
		}
		if (type != NULL && (hash = strrchr(type, '#')) != NULL)
			type = hash + 1;
		r = err_set(e, AG_EPROTO, "%s: %s%s%s (HTTP %ld)", op,
		    type ? type : "error", msg ? ": " : "", msg ? msg : "",
		    status);
		goto out;
	}
	if (out != NULL) {
		if (!json_is_object(js)) {
			r = err_set(e, AG_EPROTO, "%s: reply is not a JSON "
			    "object", op);
			goto out;
		}
		*out = js;
		js = NULL;	/* transferred */
	}
 out:
	json_decref(js);
	json_decref(req);
	free(body);
	buf_release(&reply);
	buf_release(&target);
	return r;
}

/*
 * IAM Query call: Action, Version and the name/value pairs in params
 * (NULL-ended). *out (may be NULL) gets the parsed reply; an error reply
 * becomes AG_EPROTO "Action: Code: Message"; *code (may be NULL) the
 * error code then, "" otherwise.
 */
static int
iam_call(struct reg_ctx *c, const char *action, const char *const *params,
    struct iamxml **out, char code[64], struct err *e)
{
	struct buf body = BUF_INIT(REG_BODY_MAX), reply = BUF_INIT(REG_BODY_MAX);
	struct iamxml *x = NULL;
	struct err xe = ERR_INIT;
	const char *ec = NULL, *em = NULL;
	long status = 0;
	size_t i;
	int r;

	if (out != NULL)
		*out = NULL;
	if (code != NULL)
		code[0] = '\0';
	if (reg_form_add(&body, "Action", action) != 0 ||
	    reg_form_add(&body, "Version", IAM_VERSION) != 0) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; params[i] != NULL; i += 2)
		if (reg_form_add(&body, params[i], params[i + 1]) != 0) {
			r = err_set(e, AG_ENOMEM, "out of memory");
			goto out;
		}
	if ((r = api_post(c, &c->iam,
	    "application/x-www-form-urlencoded; charset=utf-8", NULL,
	    buf_cstr(&body), &reply, &status, e)) != 0) {
		err_prefix(e, "IAM %s", action);
		goto out;
	}
	r = iamxml_parse(&x, buf_cstr(&reply), reply.len, &xe);
	if (status / 100 != 2) {
		if (x != NULL) {
			ec = iamxml_get(x, "ErrorResponse/Error/Code");
			em = iamxml_get(x, "ErrorResponse/Error/Message");
		}
		if (code != NULL)
			snprintf(code, 64, "%s", ec ? ec : "");
		r = err_set(e, AG_EPROTO, "IAM %s: %s%s%s (HTTP %ld)", action,
		    ec ? ec : "error", em ? ": " : "", em ? em : "", status);
		goto out;
	}
	if (r != 0) {
		r = err_set(e, AG_EPROTO, "IAM %s: %s", action, xe.msg);
		goto out;
	}
	if (out != NULL) {
		*out = x;
		x = NULL;	/* transferred */
	}
 out:
	iamxml_free(x);
	buf_release(&body);
	buf_release_secret(&reply);
	return r;
}

static int
ctx_init(struct reg_ctx *c, const struct config *conf, const char *region,
    const struct reg_opts *o, const char *what, struct err *e)
{
	struct http_opts ho;
	struct buf url = BUF_INIT(4096);
	const char *iam_region;
	int r;

	memset(c, 0, sizeof(*c));
	c->what = what;
	if ((r = operator_creds(o, &c->op, e)) != 0)
		goto out;
	if ((r = reg_codedeploy_endpoint(region, conf->codedeploy_endpoint,
	    &url, e)) != 0 ||
	    (r = awsreq_endpoint_set(&c->cd, buf_cstr(&url), region,
	    "codedeploy", e)) != 0)
		goto out;
	if ((r = reg_iam_endpoint(region, conf->iam_endpoint, &url,
	    &iam_region, e)) != 0 ||
	    (r = awsreq_endpoint_set(&c->iam, buf_cstr(&url), iam_region,
	    "iam", e)) != 0)
		goto out;
	http_opts_from_config(&ho, conf);
	ho.max_attempts = 3;
	if ((r = http_new(&c->http, &ho, e)) != 0)
		goto out;
 out:
	buf_release(&url);
	return r;
}

static void
ctx_release(struct reg_ctx *c)
{
	http_free(c->http);
	creds_release(&c->op);
	awsreq_endpoint_release(&c->cd);
	awsreq_endpoint_release(&c->iam);
}

/* ---- register ------------------------------------------------------------ */

/* What this run created, for rollback. */
struct reg_done {
	int user, policy, registered;
	char *key_id;			/* owned: the access key made */
	char *secret;			/* owned secret */
	char *user_arn;			/* owned */
};

static void
say(const char *what, const char *fmt, ...) AG_PRINTF(2, 3);

static void
say(const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cdagent: %s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Undo what d records, newest first, saying what happened to each. */
static void
rollback(struct reg_ctx *c, const struct reg_opts *o, struct reg_done *d)
{
	const char *name = o->instance_name;
	struct err e = ERR_INIT;

	if (d->registered) {
		if (cd_call(c, "DeregisterOnPremisesInstance",
		    json_pack("{s:s}", "instanceName", name), NULL, &e) == 0)
			say(c->what, "rolled back: deregistered instance %s",
			    name);
		else
			say(c->what, "rollback: could not deregister instance "
			    "%s: %s", name, e.msg);
	}
	if (d->policy) {
		const char *const p[] = { "UserName", name, "PolicyName",
		    REG_POLICY_NAME, NULL };

		if (iam_call(c, "DeleteUserPolicy", p, NULL, NULL, &e) == 0)
			say(c->what, "rolled back: deleted policy %s of IAM "
			    "user %s", REG_POLICY_NAME, name);
		else
			say(c->what, "rollback: %s", e.msg);
	}
	if (d->key_id != NULL) {
		const char *const p[] = { "UserName", name, "AccessKeyId",
		    d->key_id, NULL };

		if (iam_call(c, "DeleteAccessKey", p, NULL, NULL, &e) == 0)
			say(c->what, "rolled back: deleted access key %s of "
			    "IAM user %s", d->key_id, name);
		else
			say(c->what, "rollback: %s", e.msg);
	}
	if (d->user) {
		const char *const p[] = { "UserName", name, NULL };

		if (iam_call(c, "DeleteUser", p, NULL, NULL, &e) == 0)
			say(c->what, "rolled back: deleted IAM user %s", name);
		else
			say(c->what, "rollback: %s; delete IAM user %s by "
			    "hand", e.msg, name);
	}
}

/* CreateUser, CreateAccessKey, PutUserPolicy, recording each in d. */
static int
create_user(struct reg_ctx *c, const struct reg_opts *o, struct reg_done *d,
    struct err *e)
{
	const char *name = o->instance_name;
	const char *const cu[] = { "Path", REG_IAM_PATH, "UserName", name,
	    NULL };
	const char *const ck[] = { "UserName", name, NULL };
	const char *const pp[] = { "UserName", name, "PolicyName",
	    REG_POLICY_NAME, "PolicyDocument", policy_document, NULL };
	struct iamxml *x = NULL;
	const char *v, *s;
	int r;

	if ((r = iam_call(c, "CreateUser", cu, &x, NULL, e)) != 0)
		goto out;
	d->user = 1;
	v = iamxml_get(x, "CreateUserResponse/CreateUserResult/User/Arn");
	if (v == NULL || reg_check_user_arn(v, NULL) != 0) {
		r = err_set(e, AG_EPROTO, "IAM CreateUser: no user ARN in the "
		    "reply");
		goto out;
	}
	if ((d->user_arn = strdup(v)) == NULL) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	say(c->what, "created IAM user %s", d->user_arn);
	iamxml_free(x);
	x = NULL;

	if ((r = iam_call(c, "CreateAccessKey", ck, &x, NULL, e)) != 0)
		goto out;
	v = iamxml_get(x, "CreateAccessKeyResponse/CreateAccessKeyResult/"
	    "AccessKey/AccessKeyId");
	s = iamxml_get(x, "CreateAccessKeyResponse/CreateAccessKeyResult/"
	    "AccessKey/SecretAccessKey");
	if (v != NULL && (d->key_id = strdup(v)) == NULL) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	if (v == NULL || s == NULL || *s == '\0' ||
	    reg_check_access_key_id(v, NULL) != 0) {
		r = err_set(e, AG_EPROTO, "IAM CreateAccessKey: no access key "
		    "in the reply");
		goto out;
	}
	if ((d->secret = strdup(s)) == NULL) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	say(c->what, "created access key %s", d->key_id);
	iamxml_free(x);
	x = NULL;

	if ((r = iam_call(c, "PutUserPolicy", pp, NULL, NULL, e)) != 0)
		goto out;
	d->policy = 1;
	say(c->what, "attached policy %s (s3:Get*, s3:List*)",
	    REG_POLICY_NAME);
 out:
	iamxml_free(x);
	return r;
}

static int
tags_json(const struct reg_opts *o, json_t **out)
{
	json_t *a;
	size_t i;

	*out = NULL;
	if ((a = json_array()) == NULL)
		return AG_ENOMEM;
	for (i = 0; i < o->ntags; i++)
		if (json_array_append_new(a, json_pack("{s:s,s:s}", "Key",
		    o->tag_keys[i], "Value", o->tag_values[i])) != 0) {
			json_decref(a);
			return AG_ENOMEM;
		}
	*out = a;
	return 0;
}

static int
do_register(struct reg_ctx *c, const struct reg_opts *o, const char *path,
    const char *secret, struct err *e)
{
	struct reg_done d;
	struct reg_onprem op;
	struct buf text = BUF_INIT(REG_FILE_MAX);
	const char *arn;
	char *mid = NULL;
	json_t *tags = NULL;
	int r;

	memset(&d, 0, sizeof(d));
	if (o->create_iam_user && (r = create_user(c, o, &d, e)) != 0)
		goto out;
	arn = o->create_iam_user ? d.user_arn : o->iam_user_arn;
	if ((r = cd_call(c, "RegisterOnPremisesInstance", arn != NULL ?
	    json_pack("{s:s,s:s}", "instanceName", o->instance_name,
	    "iamUserArn", arn) : json_pack("{s:s,s:s}", "instanceName",
	    o->instance_name, "iamSessionArn", o->iam_session_arn), NULL,
	    e)) != 0)
		goto out;
	d.registered = 1;
	say(c->what, "registered instance %s in %s", o->instance_name,
	    o->region);
	if (o->ntags > 0) {
		if (tags_json(o, &tags) != 0) {
			r = err_set(e, AG_ENOMEM, "out of memory");
			goto out;
		}
		if ((r = cd_call(c, "AddTagsToOnPremisesInstances",
		    json_pack("{s:o,s:[s]}", "tags", tags, "instanceNames",
		    o->instance_name), NULL, e)) != 0)
			goto out;
		say(c->what, "tagged instance %s (%zu tag%s)",
		    o->instance_name, o->ntags, o->ntags == 1 ? "" : "s");
	}

	memset(&op, 0, sizeof(op));
	op.instance_name = o->instance_name;
	op.region = o->region;
	op.iam_user_arn = arn;
	op.aws_access_key_id = o->create_iam_user ? d.key_id :
	    o->access_key_id;
	op.aws_secret_access_key = o->create_iam_user ? d.secret : secret;
	op.iam_session_arn = o->iam_session_arn;
	op.aws_credentials_file = o->credentials_file;
	op.machine_id = mid = machine_id();
	if ((r = reg_onprem_format(&text, &op, e)) != 0)
		goto out;
	if (!o->force && util_exists(path)) {
		r = err_set(e, AG_EIO, "%s appeared while registering; not "
		    "overwritten", path);
		goto out;
	}
	if ((r = plat_fs_write_atomic(path, text.ptr, text.len, 0600,
	    e)) != 0)
		goto out;
	say(c->what, "wrote %s", path);
 out:
	if (r != 0 && (d.user || d.registered)) {
		say(c->what, "failed: %s; rolling back", e->msg);
		rollback(c, o, &d);
	}
	buf_release_secret(&text);
	free(mid);
	free(d.key_id);
	free(d.user_arn);
	util_free_secret(d.secret);
	return r;
}

/* ---- command line -------------------------------------------------------- */

static const char register_usage[] =
"usage: cdagent register [-c CONFIG] --instance-name NAME --region REGION\n"
"           [--tags Key=K,Value=V ...] [--force] [--profile PROFILE]\n"
"           (--iam-user-arn ARN --access-key-id ID\n"
"                --secret-access-key-file FILE\n"
"            | --iam-session-arn ARN --credentials-file FILE\n"
"            | --create-iam-user)\n"
"       cdagent register [-c CONFIG] --from-env FILE [--force]\n"
"\n"
"Register this host with CodeDeploy as an on-premises instance and write\n"
"the on-premises config (the agent config's :on_premises_config_file:,\n"
"default " CONFIG_DEFAULT_ONPREM ") with mode 0600.\n"
"\n"
"The API calls are signed with YOUR credentials: AWS_ACCESS_KEY_ID,\n"
"AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, or a shared credentials file\n"
"(AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials; profile --profile,\n"
"AWS_PROFILE or default). The host's own keys only go into the config.\n"
"\n"
"  -c, --config FILE            agent config (default " CLI_DEFAULT_CONFIG ");\n"
"                               :codedeploy_endpoint: and :iam_endpoint:\n"
"                               override the API URLs\n"
"  --instance-name NAME         letters, digits, + = , . @ _ -; at most 100;\n"
"                               not starting with i-\n"
"  --region REGION              e.g. us-west-2\n"
"  --tags Key=K,Value=V ...     up to 10 tags (key <= 128, value <= 256)\n"
"  --iam-user-arn ARN           an existing IAM user for the host, with\n"
"  --access-key-id ID           its access key id and\n"
"  --secret-access-key-file F   a file holding its secret access key\n"
"  --iam-session-arn ARN        an assumed-role session ARN, with\n"
"  --credentials-file F         the shared-credentials file your tooling\n"
"                               keeps refreshed for the agent\n"
"  --create-iam-user            create the IAM user /AWS/CodeDeploy/NAME, an\n"
"                               access key and the policy codedeploy-agent\n"
"                               (s3:Get*, s3:List*)\n"
"  --profile PROFILE            profile of the shared credentials file\n"
"  --force                      overwrite an existing on-premises config\n"
"  --from-env FILE              read the options from KEY=value lines:\n"
"                               INSTANCE_NAME, REGION, TAGS (\"Key=a,Value=b;\n"
"                               Key=c,Value=d\"), IAM_USER_ARN, ACCESS_KEY_ID,\n"
"                               SECRET_ACCESS_KEY or SECRET_ACCESS_KEY_FILE,\n"
"                               IAM_SESSION_ARN, CREDENTIALS_FILE,\n"
"                               CREATE_IAM_USER=true, PROFILE, and your\n"
"                               AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,\n"
"                               AWS_SESSION_TOKEN; FILE is deleted after a\n"
"                               successful registration\n"
"\n"
"Everything is checked before any network call. If a step fails, what this\n"
"run created (registration, IAM policy, access key, user) is removed again.\n"
"Exit status: 0 registered, 1 failed, 2 bad usage or invalid values.\n";

static const char deregister_usage[] =
"usage: cdagent deregister [-c CONFIG] [--instance-name NAME]\n"
"           [--region REGION] [--delete-iam-user] [--profile PROFILE]\n"
"\n"
"Deregister this host: remove its tags, DeregisterOnPremisesInstance, with\n"
"--delete-iam-user delete the IAM user that `cdagent register\n"
"--create-iam-user` made (its policies and access keys first; only users\n"
"under /AWS/CodeDeploy/), then delete the on-premises config. On any\n"
"failure the config is kept.\n"
"\n"
"The instance name, region and IAM user come from the on-premises config;\n"
"--instance-name and --region override it (or stand in when it is gone).\n"
"Credentials as for `cdagent register --help`.\n"
"\n"
"  -c, --config FILE     agent config (default " CLI_DEFAULT_CONFIG ")\n"
"  --instance-name NAME  the registered instance name\n"
"  --region REGION       its region\n"
"  --delete-iam-user     also delete the host's IAM user\n"
"  --profile PROFILE     profile of the shared credentials file\n"
"\n"
"Exit status: 0 deregistered, 1 failed, 2 bad usage or invalid values.\n";

/* "--name value" or "--name=value" at argv[*i]; NULL when not this option. */
static const char *
opt_value(int argc, char **argv, int *i, const char *name, int *missing)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = 1;
		return NULL;
	}
	return argv[++*i];
}

/* A string option of reg_opts: --name VALUE or --name=VALUE. */
struct field_opt {
	const char *name;
	size_t off;		/* offsetof(struct reg_opts, field) */
};

/*
 * Store argv[*i] (and its value) in the field of o the table names.
 * Returns 1 when taken, 0 when argv[*i] is none of them, or an AG_* code
 * with e set (no value, given twice).
 */
static int
take_field(struct reg_opts *o, const struct field_opt *tab, size_t n,
    int argc, char **argv, int *i, struct err *e)
{
	const char *v;
	char **field;
	size_t k;
	int missing = 0;

	for (k = 0; k < n; k++) {
		if ((v = opt_value(argc, argv, i, tab[k].name,
		    &missing)) == NULL) {
			if (missing)
				return err_set(e, AG_EINVAL, "%s needs a value",
				    tab[k].name);
			continue;
		}
		field = (char **)(void *)((char *)o + tab[k].off);
		if (*field != NULL)
			return err_set(e, AG_EINVAL, "%s given twice",
			    tab[k].name);
		if ((*field = strdup(v)) == NULL)
			return err_set(e, AG_ENOMEM, "out of memory");
		return 1;
	}
	return 0;
}

/* Load the agent config: -c FILE, or the default file when present. */
static int
load_config(struct config *c, const char *path, struct err *e)
{
	int r;

	if ((r = config_init(c, e)) != 0)
		return r;
	if (path == NULL && util_exists(CLI_DEFAULT_CONFIG))
		path = CLI_DEFAULT_CONFIG;
	if (path != NULL && (r = config_load(c, path, e)) != 0) {
		config_release(c);
		return r;
	}
	return 0;
}

static int
exit_for(int r)
{
	return r == AG_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
}

static const struct field_opt register_fields[] = {
	{ "--instance-name", offsetof(struct reg_opts, instance_name) },
	{ "--region", offsetof(struct reg_opts, region) },
	{ "--iam-user-arn", offsetof(struct reg_opts, iam_user_arn) },
	{ "--access-key-id", offsetof(struct reg_opts, access_key_id) },
	{ "--secret-access-key-file",
	    offsetof(struct reg_opts, secret_access_key_file) },
	{ "--iam-session-arn", offsetof(struct reg_opts, iam_session_arn) },
	{ "--credentials-file", offsetof(struct reg_opts, credentials_file) },
	{ "--profile", offsetof(struct reg_opts, profile) },
};

static const struct field_opt deregister_fields[] = {
	{ "--instance-name", offsetof(struct reg_opts, instance_name) },
	{ "--region", offsetof(struct reg_opts, region) },
	{ "--profile", offsetof(struct reg_opts, profile) },
};

int
cmd_register(int argc, char **argv)
{
	struct reg_opts o;
	struct config conf;
	struct reg_ctx ctx;
	struct err e = ERR_INIT;
	struct buf text = BUF_INIT(REG_FILE_MAX);
	const char *cpath = NULL, *from_env = NULL, *v, *onprem;
	char *secret = NULL;
	int i, r, missing = 0, have_conf = 0, have_ctx = 0, status;
	struct stat st;

	memset(&o, 0, sizeof(o));
	log_setup("cdagent", LOG_WARN, 1);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(register_usage, stdout);
			reg_opts_release(&o);
			return CLI_EXIT_OK;
		}
		if (strcmp(a, "--create-iam-user") == 0) {
			o.create_iam_user = 1;
			continue;
		}
		if (strcmp(a, "--force") == 0) {
			o.force = 1;
			continue;
		}
		if (strcmp(a, "--secret-access-key") == 0 ||
		    strncmp(a, "--secret-access-key=", 20) == 0) {
			r = err_set(&e, AG_EINVAL, "--secret-access-key is not "
			    "accepted (it would show in ps): use "
			    "--secret-access-key-file");
			goto out;
		}
		if ((v = opt_value(argc, argv, &i, "-c", &missing)) != NULL ||
		    (v = opt_value(argc, argv, &i, "--config", &missing)) !=
		    NULL) {
			cpath = v;
			continue;
		}
		if ((v = opt_value(argc, argv, &i, "--from-env", &missing)) !=
		    NULL) {
			from_env = v;
			continue;
		}
		if ((v = opt_value(argc, argv, &i, "--tags", &missing)) !=
		    NULL) {
			/* AWS CLI style: --tags T1 T2 ..., or repeated */
			if ((r = add_tag(&o, v, &e)) != 0)
				goto out;
			while (i + 1 < argc && strncmp(argv[i + 1], "Key=", 4)
			    == 0)
				if ((r = add_tag(&o, argv[++i], &e)) != 0)
					goto out;
			continue;
		}
		if ((r = take_field(&o, register_fields, sizeof(register_fields)
		    / sizeof(register_fields[0]), argc, argv, &i, &e)) < 0)
			goto out;
		if (r == 0) {
			r = err_set(&e, AG_EINVAL, missing ? "%s needs a value" :
			    "unexpected argument '%s' (see 'cdagent register "
			    "--help')", a);
			goto out;
		}
	}
	if (from_env != NULL) {
		if ((r = buf_read_file(&text, from_env, &e)) != 0)
			goto out;
		if (stat(from_env, &st) == 0 && (st.st_mode & 077) != 0)
			log_warn("%s is readable by group or others; it may "
			    "hold secrets", from_env);
		if ((r = reg_parse_env(&o, buf_cstr(&text), from_env, &e)) != 0)
			goto out;
	}
	if ((r = reg_check_opts(&o, &e)) != 0)
		goto out;
	if (o.secret_access_key_file != NULL && o.secret_access_key == NULL) {
		if ((r = read_secret_line(o.secret_access_key_file, &secret,
		    &e)) != 0)
			goto out;
	} else if (o.secret_access_key != NULL &&
	    (secret = strdup(o.secret_access_key)) == NULL) {
		r = err_set(&e, AG_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = load_config(&conf, cpath, &e)) != 0)
		goto out;
	have_conf = 1;
	onprem = conf.on_premises_config_file;
	if (onprem == NULL || onprem[0] != '/') {
		r = err_set(&e, AG_EINVAL, "on_premises_config_file must be an "
		    "absolute path");
		goto out;
	}
	if (!o.force && util_exists(onprem)) {
		r = err_set(&e, AG_EINVAL, "%s exists: this host looks "
		    "registered already (deregister first, or --force to "
		    "overwrite it)", onprem);
		goto out;
	}
	have_ctx = 1;	/* ctx_init leaves ctx releasable on failure */
	if ((r = ctx_init(&ctx, &conf, o.region, &o, "register", &e)) != 0)
		goto out;
	if ((r = do_register(&ctx, &o, onprem, secret, &e)) != 0) {
		if (r == AG_EINVAL)
			r = AG_EPROTO;	/* after the network: a failure */
		goto out;
	}
	if (from_env != NULL) {
		if (unlink(from_env) != 0)
			log_warn("could not delete %s: %s", from_env,
			    strerror(errno));
		else
			say("register", "deleted %s", from_env);
	}
 out:
	status = r == 0 ? CLI_EXIT_OK : exit_for(r);
	if (r != 0)
		say("register", "%s", e.msg);
	if (have_ctx)
		ctx_release(&ctx);
	if (have_conf)
		config_release(&conf);
	util_free_secret(secret);
	buf_release_secret(&text);
	reg_opts_release(&o);
	return status;
}

/* ---- deregister ---------------------------------------------------------- */

/* The on-premises config's values deregister needs (no warnings). */
struct dereg_conf {
	char *instance_name, *region, *iam_user_arn;	/* owned */
};

static int
read_onprem(const char *path, struct dereg_conf *out, struct err *e)
{
	struct buf text = BUF_INIT(REG_FILE_MAX);
	struct ydoc *d = NULL;
	const struct ydoc_node *root, *v;
	static const char *const keys[] = { "instance_name", "region",
	    "iam_user_arn" };
	char **fields[3], colon[32];
	size_t i;
	int r;

	fields[0] = &out->instance_name;
	fields[1] = &out->region;
	fields[2] = &out->iam_user_arn;
	if ((r = buf_read_file(&text, path, e)) != 0)
		goto out;
	if ((r = ydoc_parse(&d, buf_cstr(&text), text.len, path, e)) != 0)
		goto out;
	root = ydoc_root(d);
	for (i = 0; i < 3; i++) {
		/* the Ruby spelling ":key:" is accepted, as config.c does */
		snprintf(colon, sizeof(colon), ":%s", keys[i]);
		if ((v = ydoc_map_get(root, keys[i])) == NULL)
			v = ydoc_map_get(root, colon);
		if (v != NULL && v->kind == YDOC_SCALAR && v->len > 0 &&
		    (*fields[i] = strdup(v->text)) == NULL) {
			r = err_set(e, AG_ENOMEM, "out of memory");
			goto out;
		}
	}
 out:
	ydoc_free_secret(d);
	buf_release_secret(&text);
	return r;
}

/* Delete an IAM user made by register: policies, keys, then the user. */
static int
delete_user(struct reg_ctx *c, const char *arn, struct err *e)
{
	const char *name = strrchr(arn, '/') + 1;
	const char *const pu[] = { "UserName", name, NULL };
	struct strv pols = STRV_INIT, keys = STRV_INIT;
	struct iamxml *x = NULL;
	size_t i;
	int r;

	if ((r = iam_call(c, "ListUserPolicies", pu, &x, NULL, e)) != 0 ||
	    (r = iamxml_get_all(x, "ListUserPoliciesResponse/"
	    "ListUserPoliciesResult/PolicyNames/member", &pols)) != 0)
		goto out;
	iamxml_free(x);
	x = NULL;
	for (i = 0; i < pols.n; i++) {
		const char *const p[] = { "UserName", name, "PolicyName",
		    pols.v[i], NULL };

		if ((r = iam_call(c, "DeleteUserPolicy", p, NULL, NULL, e))
		    != 0)
			goto out;
		say(c->what, "deleted policy %s of IAM user %s", pols.v[i],
		    name);
	}
	if ((r = iam_call(c, "ListAccessKeys", pu, &x, NULL, e)) != 0 ||
	    (r = iamxml_get_all(x, "ListAccessKeysResponse/"
	    "ListAccessKeysResult/AccessKeyMetadata/member/AccessKeyId",
	    &keys)) != 0)
		goto out;
	for (i = 0; i < keys.n; i++) {
		const char *const p[] = { "UserName", name, "AccessKeyId",
		    keys.v[i], NULL };

		if ((r = iam_call(c, "DeleteAccessKey", p, NULL, NULL, e))
		    != 0)
			goto out;
		say(c->what, "deleted access key %s of IAM user %s", keys.v[i],
		    name);
	}
	if ((r = iam_call(c, "DeleteUser", pu, NULL, NULL, e)) != 0)
		goto out;
	say(c->what, "deleted IAM user %s", arn);
 out:
	if (r == AG_ENOMEM)
		err_set(e, r, "out of memory");
	iamxml_free(x);
	strv_release(&pols);
	strv_release(&keys);
	return r;
}

static int
do_deregister(struct reg_ctx *c, const char *name, const char *conf_arn,
    int delete_iam_user, struct err *e)
{
	json_t *info = NULL, *ii, *tags;
	const char *arn = conf_arn, *svc_arn;
	int r;

	if ((r = cd_call(c, "GetOnPremisesInstance", json_pack("{s:s}",
	    "instanceName", name), &info, e)) != 0)
		goto out;
	ii = json_object_get(info, "instanceInfo");
	svc_arn = json_string_value(json_object_get(ii, "iamUserArn"));
	if (svc_arn != NULL)
		arn = svc_arn;
	/* refuse before changing anything */
	if (delete_iam_user) {
		if (arn == NULL || reg_check_user_arn(arn, NULL) != 0) {
			r = err_set(e, AG_EINVAL, "instance %s has no IAM user "
			    "to delete (drop --delete-iam-user)", name);
			goto out;
		}
		if (strstr(arn, ":user" REG_IAM_PATH) == NULL) {
			r = err_set(e, AG_EINVAL, "IAM user %s was not made by "
			    "register (not under %s); drop --delete-iam-user",
			    arn, REG_IAM_PATH);
			goto out;
		}
	}
	tags = json_object_get(ii, "tags");
	if (json_is_array(tags) && json_array_size(tags) > 0) {
		if ((r = cd_call(c, "RemoveTagsFromOnPremisesInstances",
		    json_pack("{s:O,s:[s]}", "tags", tags, "instanceNames",
		    name), NULL, e)) != 0)
			goto out;
		say(c->what, "removed %zu tag%s from instance %s",
		    json_array_size(tags),
		    json_array_size(tags) == 1 ? "" : "s", name);
	}
	if ((r = cd_call(c, "DeregisterOnPremisesInstance", json_pack("{s:s}",
	    "instanceName", name), NULL, e)) != 0)
		goto out;
	say(c->what, "deregistered instance %s", name);
	if (delete_iam_user)
		r = delete_user(c, arn, e);
 out:
	json_decref(info);
	return r;
}

int
cmd_deregister(int argc, char **argv)
{
	struct reg_opts o;
	struct config conf;
	struct reg_ctx ctx;
	struct dereg_conf dc;
	struct err e = ERR_INIT;
	const char *cpath = NULL, *v, *onprem = NULL, *arn;
	int i, r, missing = 0, have_conf = 0, have_ctx = 0, del_user = 0;
	int have_file = 0, status;

	memset(&o, 0, sizeof(o));
	memset(&dc, 0, sizeof(dc));
	log_setup("cdagent", LOG_WARN, 1);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(deregister_usage, stdout);
			return CLI_EXIT_OK;
		}
		if (strcmp(a, "--delete-iam-user") == 0) {
			del_user = 1;
			continue;
		}
		if ((v = opt_value(argc, argv, &i, "-c", &missing)) != NULL ||
		    (v = opt_value(argc, argv, &i, "--config", &missing)) !=
		    NULL) {
			cpath = v;
			continue;
		}
		if ((r = take_field(&o, deregister_fields,
		    sizeof(deregister_fields) / sizeof(deregister_fields[0]),
		    argc, argv, &i, &e)) < 0)
			goto out;
		if (r == 0) {
			r = err_set(&e, AG_EINVAL, missing ? "%s needs a value" :
			    "unexpected argument '%s' (see 'cdagent deregister "
			    "--help')", a);
			goto out;
		}
	}
	if ((r = load_config(&conf, cpath, &e)) != 0)
		goto out;
	have_conf = 1;
	onprem = conf.on_premises_config_file;
	if (onprem != NULL && util_exists(onprem)) {
		if ((r = read_onprem(onprem, &dc, &e)) != 0)
			goto out;
		have_file = 1;
	}
	if (o.instance_name == NULL && (o.instance_name =
	    util_strdup(dc.instance_name)) == NULL && dc.instance_name) {
		r = err_set(&e, AG_ENOMEM, "out of memory");
		goto out;
	}
	if (o.region == NULL && (o.region = util_strdup(dc.region)) == NULL &&
	    dc.region) {
		r = err_set(&e, AG_ENOMEM, "out of memory");
		goto out;
	}
	if (o.instance_name == NULL) {
		r = err_set(&e, AG_EINVAL, "no instance name: %s %s; give "
		    "--instance-name", onprem ? onprem : "the on-premises "
		    "config", have_file ? "has none" : "does not exist");
		goto out;
	}
	if ((r = reg_check_instance_name(o.instance_name, &e)) != 0 ||
	    (r = reg_check_region(o.region, &e)) != 0)
		goto out;
	arn = dc.iam_user_arn;
	have_ctx = 1;	/* ctx_init leaves ctx releasable on failure */
	if ((r = ctx_init(&ctx, &conf, o.region, &o, "deregister", &e)) != 0)
		goto out;
	if ((r = do_deregister(&ctx, o.instance_name, arn, del_user,
	    &e)) != 0) {
		if (r == AG_EINVAL)
			r = AG_EPROTO;
		if (have_file)
			say("deregister", "kept %s", onprem);
		goto out;
	}
	if (have_file) {
		if (unlink(onprem) != 0) {
			r = err_set(&e, AG_EIO, "delete %s: %s", onprem,
			    strerror(errno));
			goto out;
		}
		say("deregister", "deleted %s", onprem);
	}
 out:
	status = r == 0 ? CLI_EXIT_OK : exit_for(r);
	if (r != 0)
		say("deregister", "%s", e.msg);
	if (have_ctx)
		ctx_release(&ctx);
	if (have_conf)
		config_release(&conf);
	free(dc.instance_name);
	free(dc.region);
	free(dc.iam_user_arn);
	reg_opts_release(&o);
	return status;
}

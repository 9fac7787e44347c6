/*
 * deployspec.c: parse the deployment specification JSON (reference §4.2)
 * with jansson; see deployspec.h.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "deployspec.h"
#include "err.h"
#include "util.h"
#include "banned.h"

/* The string at key if set (present, a string, non-empty), else NULL. */
static const char *
get_str(json_t *obj, const char *key)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
	const char *s;

	if (!json_is_string(v))
		return NULL;
	s = json_string_value(v);
	return *s != '\0' ? s : NULL;
}

/* Copy an optional string field; 0 or AG_ENOMEM. */
static int
dup_opt(char **dst, json_t *obj, const char *key)
{
	const char *s = get_str(obj, key);

	*dst = NULL;
	if (s != NULL && (*dst = strdup(s)) == NULL)
		return AG_ENOMEM;
	return 0;
}

/* Copy a field with a default value. */
static int
dup_def(char **dst, json_t *obj, const char *key, const char *def)
{
	const char *s = get_str(obj, key);

	*dst = strdup(s != NULL ? s : def);
	return *dst != NULL ? 0 : AG_ENOMEM;
}

/*
 * "arn:aws:codedeploy:us-east-1:123412341234:deployment/d-X" -> "d-X": the
 * text after the first '/' of the sixth ':'-field. Anything else is kept.
 */
static char *
short_deployment_id(const char *id)
{
	const char *p = id, *slash;
	int colons = 0;

	if (strncmp(id, "arn:", 4) != 0)
		return strdup(id);
	while (*p != '\0' && colons < 5)
		if (*p++ == ':')
			colons++;
	if (colons < 5 || (slash = strchr(p, '/')) == NULL)
		return strdup(id);
	return strdup(slash + 1);
}

static int
check_bundle_type(const char *t, int allow_dir)
{
	return strcmp(t, "tar") == 0 || strcmp(t, "tgz") == 0 ||
	    strcmp(t, "zip") == 0 || (allow_dir && strcmp(t, "directory") == 0);
}

static int
parse_revision(struct deployspec *s, json_t *root, struct err *e)
{
	json_t *rev = json_object_get(root, "Revision"), *sub;
	const char *rt;

	if (!json_is_object(rev))
		return err_set(e, AG_EINVAL, "Must specify a revison");
	rt = get_str(rev, "RevisionType");
	if (rt != NULL && strcmp(rt, "S3") == 0) {
		sub = json_object_get(rev, "S3Revision");
		s->rev = REV_S3;
		if (get_str(sub, "Bucket") == NULL ||
		    get_str(sub, "Key") == NULL ||
		    get_str(sub, "BundleType") == NULL)
			return err_set(e, AG_EINVAL, "S3Revision in Deployment "
			    "Spec must specify Bucket, Key and BundleType");
		if (!check_bundle_type(get_str(sub, "BundleType"), 0))
			return err_set(e, AG_EINVAL, "BundleType in S3Revision "
			    "must be tar, tgz or zip");
		if (dup_opt(&s->s3_bucket, sub, "Bucket") ||
		    dup_opt(&s->s3_key, sub, "Key") ||
		    dup_opt(&s->bundle_type, sub, "BundleType") ||
		    dup_opt(&s->s3_version, sub, "Version") ||
		    dup_opt(&s->s3_etag, sub, "ETag"))
			return err_set(e, AG_ENOMEM, "out of memory");
		return 0;
	}
	if (rt != NULL && strcmp(rt, "GitHub") == 0) {
		json_t *anon;

		sub = json_object_get(rev, "GitHubRevision");
		s->rev = REV_GITHUB;
		if (get_str(sub, "Account") == NULL ||
		    get_str(sub, "Repository") == NULL ||
		    get_str(sub, "CommitId") == NULL)
			return err_set(e, AG_EINVAL, "GitHubRevision in "
			    "Deployment Spec must specify Account, Repository "
			    "and CommitId");
		anon = json_object_get(sub, "Anonymous");
		if (json_is_false(anon) &&
		    json_object_get(sub, "OAuthToken") == NULL)
			return err_set(e, AG_EINVAL, "GitHubRevision needs "
			    "OAuthToken when Anonymous is false");
		if (dup_opt(&s->gh_account, sub, "Account") ||
		    dup_opt(&s->gh_repo, sub, "Repository") ||
		    dup_opt(&s->gh_commit, sub, "CommitId") ||
		    dup_opt(&s->bundle_type, sub, "BundleType") ||
		    dup_opt(&s->gh_token, root, "GitHubAccessToken"))
			return err_set(e, AG_ENOMEM, "out of memory");
		if (s->bundle_type != NULL &&
		    strcmp(s->bundle_type, "tar") != 0 &&
		    strcmp(s->bundle_type, "zip") != 0)
			return err_set(e, AG_EINVAL, "GitHub revision specified "
			    "with bundle_type other than zip or tar");
		if (s->bundle_type == NULL &&
		    (s->bundle_type = strdup("tar")) == NULL)
			return err_set(e, AG_ENOMEM, "out of memory");
		return 0;
	}
	if (rt != NULL && (strcmp(rt, "Local File") == 0 ||
	    strcmp(rt, "Local Directory") == 0)) {
		sub = json_object_get(rev, "LocalRevision");
		s->rev = rt[6] == 'F' ? REV_LOCAL_FILE : REV_LOCAL_DIR;
		if (get_str(sub, "Location") == NULL ||
		    get_str(sub, "BundleType") == NULL)
			return err_set(e, AG_EINVAL, "LocalRevision in "
			    "Deployment Spec must specify Location and "
			    "BundleType");
		if (!check_bundle_type(get_str(sub, "BundleType"), 1))
			return err_set(e, AG_EINVAL, "BundleType in "
			    "LocalRevision must be tar, tgz, zip or directory");
		if (dup_opt(&s->local_location, sub, "Location") ||
		    dup_opt(&s->bundle_type, sub, "BundleType"))
			return err_set(e, AG_ENOMEM, "out of memory");
		return 0;
	}
	return err_set(e, AG_EINVAL, "Exactly one of S3Revision, "
	    "GitHubRevision, or LocalRevision must be specified");
}

/*
 * Ids name directories under root_dir: one path component, and none of
 * the agent's own folders there (retention would prune them).
 */
static int
name_ok(const char *id)
{
	static const char *const reserved[] = { "deployment-instructions",
	    "deployment-logs", "ongoing-deployment", ".cdagent" };
	size_t i;

	if (*id == '\0' || strchr(id, '/') != NULL || strcmp(id, ".") == 0 ||
	    strcmp(id, "..") == 0 || strlen(id) > 255)
		return 0;
	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcmp(id, reserved[i]) == 0)
			return 0;
	return 1;
}

int
deployspec_parse(struct deployspec **out, const char *json, size_t len,
    struct err *e)
{
	struct deployspec *s = NULL;
	json_t *root = NULL, *ov, *evs, *v;
	json_error_t jerr;
	const char *id;
	char *p;
	size_t i;
	int r = AG_ENOMEM;

	*out = NULL;
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		r = err_set(e, AG_EPROTO, "deployment specification is not a "
		    "JSON object (line %d column %d: %s)", jerr.line,
		    jerr.column, root ? "not an object" : jerr.text);
		goto out;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto oom;
	if ((id = get_str(root, "DeploymentId")) == NULL) {
		r = err_set(e, AG_EINVAL, "deployment specification has no "
		    "DeploymentId");
		goto out;
	}
	if ((s->deployment_id = short_deployment_id(id)) == NULL)
		goto oom;
	if (!name_ok(s->deployment_id)) {
		r = err_set(e, AG_EINVAL, "DeploymentId '%s' cannot name a "
		    "directory", s->deployment_id);
		goto out;
	}
	if (dup_opt(&s->group_id, root, "DeploymentGroupId") ||
	    dup_opt(&s->group_name, root, "DeploymentGroupName") ||
	    dup_opt(&s->app_name, root, "ApplicationName") ||
	    dup_def(&s->creator, root, "DeploymentCreator", "user") ||
	    dup_def(&s->type, root, "DeploymentType", "IN_PLACE") ||
	    dup_def(&s->appspec_filename, root, "AppSpecFilename",
	    "appspec.yml"))
		goto oom;
	if (s->group_id == NULL || s->group_name == NULL ||
	    s->app_name == NULL) {
		r = err_set(e, AG_EINVAL, "deployment specification must set "
		    "DeploymentGroupId, DeploymentGroupName and "
		    "ApplicationName");
		goto out;
	}
	if (!name_ok(s->group_id)) {
		r = err_set(e, AG_EINVAL, "DeploymentGroupId '%s' cannot name "
		    "a directory", s->group_id);
		goto out;
	}
	ov = json_object_get(json_object_get(root, "AgentActionOverrides"),
	    "AgentOverrides");
	if (dup_opt(&s->feb, ov, "FileExistsBehavior"))
		goto oom;
	for (p = s->feb; p != NULL && *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	evs = json_object_get(root, "AllPossibleLifecycleEvents");
	if (json_is_array(evs)) {
		s->has_all_events = 1;
		json_array_foreach(evs, i, v) {
			if (json_is_string(v) &&
			    strv_push(&s->all_events, json_string_value(v)))
				goto oom;
		}
	}
	if ((r = parse_revision(s, root, e)) != 0)
		goto out;
	*out = s;
	s = NULL;	/* transferred */
	r = 0;
	goto out;
 oom:
	r = err_set(e, AG_ENOMEM, "out of memory");
 out:
	deployspec_free(s);
	json_decref(root);
	return r;
}

int
deployspec_is_bg_rollback(const struct deployspec *s)
{
	return strcmp(s->creator, "codeDeployRollback") == 0 &&
	    strcmp(s->type, "BLUE_GREEN") == 0;
}

void
deployspec_free(struct deployspec *s)
{
	if (s == NULL)
		return;
	free(s->deployment_id);
	free(s->group_id);
	free(s->group_name);
	free(s->app_name);
	free(s->creator);
	free(s->type);
	free(s->appspec_filename);
	free(s->feb);
	strv_release(&s->all_events);
	free(s->bundle_type);
	free(s->s3_bucket);
	free(s->s3_key);
	free(s->s3_version);
	free(s->s3_etag);
	free(s->gh_account);
	free(s->gh_repo);
	free(s->gh_commit);
	util_free_secret(s->gh_token);
	free(s->local_location);
	free(s);
}

/*
 * deployspec.h: the deployment specification of one deployment (reference
 * §4): which revision to fetch, which group and application it belongs to,
 * and the agent overrides.
 *
 * The JSON form is what the service signs inside a PKCS7/JSON envelope and
 * what `cdagent deploy` builds as TEXT/JSON; both go through
 * deployspec_parse(), so a local deployment and a service deployment take
 * one code path.
 *
 * A field counts as set only if the key exists, is not null and is not
 * empty (§4.2). Errors use the Ruby texts ("Must specify a revison" sic).
 */
#ifndef CDAGENT_DEPLOYSPEC_H
#define CDAGENT_DEPLOYSPEC_H

#include <stddef.h>

#include "util.h"

struct err;

enum deployspec_rev {
	REV_S3,
	REV_GITHUB,
	REV_LOCAL_FILE,
	REV_LOCAL_DIR,
};

struct deployspec {
	char *deployment_id;	/* owned: short form, "d-XXXX" */
	char *group_id;		/* owned: names <root>/<group_id> */
	char *group_name;	/* owned */
	char *app_name;		/* owned */
	char *creator;		/* owned: "user" by default */
	char *type;		/* owned: "IN_PLACE" by default */
	char *appspec_filename;	/* owned: "appspec.yml" by default */
	char *feb;		/* owned: FileExistsBehavior, upper-cased;
				   NULL when unset (DISALLOW) */
	struct strv all_events;	/* AllPossibleLifecycleEvents, may be empty */
	int has_all_events;

	enum deployspec_rev rev;
	char *bundle_type;	/* owned: tar, tgz, zip or directory */
	char *s3_bucket, *s3_key, *s3_version, *s3_etag;	/* owned */
	char *gh_account, *gh_repo, *gh_commit;			/* owned */
	char *gh_token;		/* owned secret: GitHubAccessToken or NULL */
	char *local_location;	/* owned: Local File / Local Directory */
};

/* Parse the JSON text of a deployment specification. */
int deployspec_parse(struct deployspec **out, const char *json, size_t len,
    struct err *e);

/*
 * 1 for a blue/green rollback (DeploymentCreator codeDeployRollback and
 * DeploymentType BLUE_GREEN), which changes which revision some hooks use.
 */
int deployspec_is_bg_rollback(const struct deployspec *s);

void deployspec_free(struct deployspec *s);	/* NULL-safe; wipes the token */

#endif

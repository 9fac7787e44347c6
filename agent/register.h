/*
 * register.h: `cdagent register` and `cdagent deregister`, enrolling an
 * on-premises host with CodeDeploy (reference §8.2, §10), without the AWS
 * CLI.
 *
 * register:
 *  1. validate everything (instance name, tags, ARNs, files, that the
 *     on-premises config does not exist yet) before any network call;
 *  2. with --create-iam-user: IAM CreateUser (path /AWS/CodeDeploy/, name
 *     = instance name), CreateAccessKey, PutUserPolicy "codedeploy-agent"
 *     (s3:Get*, s3:List* on *), over the IAM Query API (form-encoded POST,
 *     XML replies read by iamxml.c);
 *  3. CodeDeploy RegisterOnPremisesInstance, then
 *     AddTagsToOnPremisesInstances when tags were given (JSON 1.1);
 *  4. write the on-premises config atomically, mode 0600.
 * Every call is signed with the operator's credentials (environment or
 * shared credentials file), never with the keys that go into the config.
 * A failure after step 2 or 3 began undoes, in reverse order, what this
 * run created (instance registration, policy, access key, user) and says
 * so on stderr.
 *
 * deregister: GetOnPremisesInstance, RemoveTagsFromOnPremisesInstances
 * (its tags), DeregisterOnPremisesInstance, with --delete-iam-user the IAM
 * user (only one under /AWS/CodeDeploy/, i.e. made by register), then the
 * local config; any failure keeps the config.
 *
 * The helpers below are exposed for the unit tests.
 */
#ifndef CDAGENT_REGISTER_H
#define CDAGENT_REGISTER_H

#include <stddef.h>

struct buf;
struct err;

#define REG_MAX_TAGS 10
#define REG_TAG_KEY_MAX 128
#define REG_TAG_VALUE_MAX 256
#define REG_INSTANCE_NAME_MAX 100
#define REG_IAM_PATH "/AWS/CodeDeploy/"
#define REG_POLICY_NAME "codedeploy-agent"
#define REG_MACHINE_ID_FILE "/etc/machine-id"

/*
 * Validators: 0, or AG_EINVAL with a message naming the value and the
 * rule it breaks.
 *  - instance name: ^[A-Za-z0-9+=,.@_-]+$, at most 100 characters, not
 *    starting with "i-" (EC2 instance ids);
 *  - IAM user ARN: ^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:user/
 *    [A-Za-z0-9/+=,.@_-]+$ (§10 names the aws partition; the other two are
 *    the same shape);
 *  - IAM session ARN: ^arn:aws(-cn|-us-gov)?:sts::[0-9]{12}:assumed-role/
 *    ROLE/SESSION$, ROLE 1-64 and SESSION 2-64 of [A-Za-z0-9+=,.@_-];
 *  - region: 1-64 of [a-z0-9-];
 *  - access key id: 16-128 of [A-Za-z0-9].
 */
int reg_check_instance_name(const char *s, struct err *e);
int reg_check_user_arn(const char *s, struct err *e);
int reg_check_session_arn(const char *s, struct err *e);
int reg_check_region(const char *s, struct err *e);
int reg_check_access_key_id(const char *s, struct err *e);

/*
 * One tag in the AWS CLI shorthand "Key=K,Value=V" (Value may be empty,
 * and may contain '='; neither may contain ','). Keys 1-128 characters,
 * values at most 256. *key and *value are new heap strings.
 */
int reg_parse_tag(const char *s, char **key, char **value, struct err *e);

/*
 * Append "&name=value" ("name=value" into an empty b) form-encoded for
 * the Query API: unreserved characters bare, every other byte %XX.
 */
int reg_form_add(struct buf *b, const char *name, const char *value);

/*
 * The API endpoints for region, from the config override (a URL) or the
 * AWS defaults: https://codedeploy.<region>.amazonaws.com (".com.cn" for
 * cn- regions); IAM's global endpoint https://iam.amazonaws.com/ signed
 * for us-east-1 (China: iam.cn-north-1.amazonaws.com.cn / cn-north-1;
 * GovCloud: iam.us-gov.amazonaws.com / us-gov-west-1). *sign_region is a
 * static string.
 */
int reg_codedeploy_endpoint(const char *region, const char *override,
    struct buf *out, struct err *e);
int reg_iam_endpoint(const char *region, const char *override,
    struct buf *out, const char **sign_region, struct err *e);

/* What goes into codedeploy.onpremises.yml. */
struct reg_onprem {
	const char *instance_name;
	const char *region;
	const char *iam_user_arn;		/* IAM-user mode, or NULL */
	const char *aws_access_key_id;		/* with iam_user_arn */
	const char *aws_secret_access_key;	/* with iam_user_arn */
	const char *iam_session_arn;		/* session mode, or NULL */
	const char *aws_credentials_file;	/* with iam_session_arn */
	const char *machine_id;			/* or NULL: not recorded */
};

/*
 * The YAML text of the on-premises config into out (a secret: release
 * with buf_release_secret). Values are single-quoted; a value with a
 * control character is refused (AG_EINVAL).
 */
int reg_onprem_format(struct buf *out, const struct reg_onprem *o,
    struct err *e);

/* Options of `register`, from the command line and/or --from-env. */
struct reg_opts {
	char *instance_name;		/* owned, each field below too */
	char *region;
	char *iam_user_arn;
	char *access_key_id;		/* secret */
	char *secret_access_key;	/* secret: from a file, never argv */
	char *secret_access_key_file;
	char *iam_session_arn;
	char *credentials_file;
	char *profile;			/* operator's shared-file profile */
	char *op_access_key_id;		/* operator, from --from-env: secret */
	char *op_secret_access_key;	/* secret */
	char *op_session_token;		/* secret */
	char **tag_keys, **tag_values;	/* ntags each */
	size_t ntags;
	int create_iam_user;
	int force;
};

void reg_opts_release(struct reg_opts *o);	/* wipes the secrets */

/*
 * Read `--from-env` text: KEY=value lines, blank lines and '#' comments
 * ignored, a value optionally in "double" or 'single' quotes. Keys:
 * INSTANCE_NAME, REGION, TAGS ("Key=a,Value=b;Key=c,Value=d", may
 * repeat), IAM_USER_ARN, ACCESS_KEY_ID, SECRET_ACCESS_KEY,
 * SECRET_ACCESS_KEY_FILE, IAM_SESSION_ARN, CREDENTIALS_FILE,
 * CREATE_IAM_USER (true/false/1/0/yes/no), PROFILE, and the operator's
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN. Fields
 * already set in o (from the command line) are kept. An unknown key or a
 * malformed line is AG_EINVAL naming the line.
 */
int reg_parse_env(struct reg_opts *o, const char *text, const char *path,
    struct err *e);

/*
 * Check the options together: exactly one identity mode, required
 * values present and valid. AG_EINVAL.
 */
int reg_check_opts(const struct reg_opts *o, struct err *e);

#endif

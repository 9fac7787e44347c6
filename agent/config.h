/*
 * config.h: the agent configuration file (codedeployagent.yml) and the
 * on-premises configuration (codedeploy.onpremises.yml).
 *
 * Both are YAML in the Ruby agent's format: keys written `:key:` or `key:`.
 * Defaults are the Ruby agent's shipped values (reference §8.1). An unknown
 * key gives one warning; a bad value is an error naming key, value and file.
 *
 * The loaded config is the only global of the program (`cfg`, set once in
 * main and read everywhere else; OpenSSH `options`).
 */
#ifndef CDAGENT_CONFIG_H
#define CDAGENT_CONFIG_H

#include <stdint.h>

struct err;

#define CONFIG_DEFAULT_PATH "/etc/codedeploy-agent/conf/codedeployagent.yml"
#define CONFIG_DEFAULT_ONPREM \
	"/etc/codedeploy-agent/conf/codedeploy.onpremises.yml"

struct config {
	char *path;			/* owned: file loaded, NULL for defaults */

	/* paths and names */
	char *root_dir;			/* /opt/codedeploy-agent/deployment-root */
	char *log_dir;			/* /var/log/aws/codedeploy-agent */
	char *pid_dir;			/* /opt/codedeploy-agent/state/.pid */
	char *program_name;		/* codedeploy-agent */
	char *on_premises_config_file;	/* CONFIG_DEFAULT_ONPREM */
	char *ongoing_deployment_tracking;	/* ongoing-deployment */

	/* behaviour */
	int verbose;			/* 0 */
	int max_revisions;		/* 5, at least 1 */
	int enable_deployments_log;	/* 1 */
	long wait_between_runs;		/* 1 s */
	long http_read_timeout;		/* 80 s */
	long kill_agent_max_wait_time_seconds;	/* 7200 */
	uint64_t log_max_bytes;		/* agent log rotation size, 64 MiB */
	int log_keep;			/* rotated agent logs kept, 8 */

	/* hooks (cdagent additions) */
	long hook_kill_grace_seconds;	/* SIGTERM -> SIGKILL grace, 10 */
	int hook_outputs_left_open_fail;	/* `:hook_outputs_left_open: fail` */
	long hook_output_drain_ms;	/* read after exit before giving up, 2000 */

	/* bundles (cdagent additions) */
	uint64_t archive_max_extraction_size;	/* bytes, 0 = no cap; 10 GiB */
	int allow_setuid_in_bundle;	/* 0: setuid/setgid entries refused */
	int preserve_symlinks;		/* 1: install symlinks as symlinks */
	uint64_t disk_reserve_bytes;	/* kept free in root_dir, 100 MiB */
	int disk_expansion_factor;	/* unpack size estimate, 3 */

	/* control plane and network */
	char *deploy_control_endpoint;	/* full URL override, or NULL */
	int enable_auth_policy;		/* the -secure service */
	int use_fips_mode;
	int disable_imds_v1;
	char *proxy_uri;		/* all destinations */
	char *control_plane_proxy_uri;	/* overrides proxy_uri for the API */
	char *storage_proxy_uri;	/* overrides proxy_uri for S3/GitHub */
	char *ca_bundle;		/* PEM file, after AWS_SSL_CA_BUNDLE etc. */
	char *s3_endpoint_override;	/* URL, or NULL */
	int s3_force_path_style;
	int max_parallel_commands;	/* 4 */
	char *deployment_spec_signer_ca;	/* pin PKCS7 signers, or NULL */
	int allow_text_json_spec;	/* accept TEXT/JSON from the service */
	char *codedeploy_endpoint;	/* registration: CodeDeploy API URL */
	char *iam_endpoint;		/* registration: IAM API URL */
};

/* Fill c with the defaults (no file read). */
int config_init(struct config *c, struct err *e);

/*
 * Read path over the defaults already in c. A missing file is an error
 * ("the config file X does not exist or is not readable").
 */
int config_load(struct config *c, const char *path, struct err *e);

void config_release(struct config *c);

/* On-premises identity (reference §8.2); secrets are wiped on release. */
struct onprem {
	char *iam_user_arn;		/* owned, or NULL */
	char *iam_session_arn;		/* owned, or NULL */
	char *aws_access_key_id;	/* owned secret, or NULL */
	char *aws_secret_access_key;	/* owned secret, or NULL */
	char *aws_credentials_file;	/* owned, session mode */
	char *region;			/* owned */
	char *machine_id;		/* owned: /etc/machine-id when written */
	char *instance_name;		/* owned: as registered, or NULL */
};

/*
 * Load the on-premises config. Returns 0 and fills o; AG_EIO (message
 * "does not exist or not readable") when the file is missing; AG_EINVAL
 * for invalid YAML or both ARNs set.
 */
int onprem_load(struct onprem *o, const char *path, struct err *e);
void onprem_release(struct onprem *o);	/* wipes the secrets */

extern const struct config *cfg;

#endif

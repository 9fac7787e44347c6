/*
 * executor.h: runs one host command of a deployment — DownloadBundle,
 * Install, or a lifecycle event's hook scripts — against the deployment
 * root (reference §3.4, §6, §7, §9, §12). `cdagent deploy` and the daemon
 * both call executor_run(), so a local deployment exercises exactly the
 * code the control plane drives.
 *
 * On-disk layout (§9.1), under cfg->root_dir:
 *	<group>/<deployment>/bundle.tar, deployment-archive/, logs/scripts.log
 *	deployment-instructions/<group>_last_successful_install, ...
 *	deployment-logs/<program_name>-deployments.log
 * Every state file is written atomically.
 */
#ifndef CDAGENT_EXECUTOR_H
#define CDAGENT_EXECUTOR_H

#include <stdint.h>

struct config;
struct creds_provider;
struct deployspec;
struct http;

/* The 11 default lifecycle events in deployment order (§13). */
extern const char *const executor_default_events[11];

/* 1 for DownloadBundle and Install, the agent's own events. */
int executor_is_agent_event(const char *event);

struct exec_ctx {
	const struct config *cfg;
	int local;		/* codedeploy-local mode: any event name that
				   is not an agent event runs as a hook */
	const char *const *base_env;	/* hooks inherit this (NULL: environ),
					   minus credential variables */
	/* for S3 and GitHub revisions; may be NULL for local ones */
	struct http *http;
	struct creds_provider *creds;
	const char *region;		/* S3 signing region */
	/* progress, each may be NULL */
	void (*on_bytes)(void *ctx, const char *what, uint64_t bytes,
	    uint64_t files);
	void (*on_script)(void *ctx, const char *location, int64_t elapsed_ms,
	    int done);
	void (*on_spawn)(void *ctx, long pgid, const char *cgroup);
	void *ctx;
};

/* What a command reports back (the §3.5 diagnostics). */
struct exec_result {
	int error_code;		/* 0 success, 1-4 and 6 hook, 5 anything else */
	char script_name[1024];	/* failing script's AppSpec location, or "" */
	char message[2048];
	char log[2048];		/* output tail for hook failures */
};

/*
 * Run command for the deployment ds. Returns 0 on success, or non-zero
 * with res describing the failure in the words the control plane is told.
 */
int executor_run(const struct exec_ctx *x, const struct deployspec *ds,
    const char *command, struct exec_result *res);

/*
 * The no-op rule of §3.3: *noop is 1 when command would do nothing (a hook
 * event with no AppSpec selectable, no entry, or an empty list; any name
 * the agent does not handle). DownloadBundle and Install are never no-ops.
 */
int executor_is_noop(const struct exec_ctx *x, const struct deployspec *ds,
    const char *command, int *noop);

/* <root>/<group>/<deployment> as a heap string (NULL on ENOMEM). */
char *executor_deployment_dir(const struct config *c,
    const struct deployspec *ds);

#endif

/*
 * daemon.h: `cdagent run`, the control-plane daemon (reference §1, §3).
 *
 * One poll loop (PollHostCommand as a long poll, backoff per §3.1) hands
 * each command to a worker thread, which fetches and verifies the
 * deployment specification, applies the no-op rules, acknowledges, runs
 * the command through executor_run() — the code `cdagent deploy` uses —
 * and reports exactly one PutHostCommandComplete. Commands of different
 * deployment groups run in parallel (up to :max_parallel_commands:);
 * commands of one group run one after another.
 *
 * State on disk, under root_dir:
 *	ongoing-deployment/<deployment-id>	HostCommandIdentifier, then
 *						"pgid N" / "cgroup PATH" lines
 *	.cdagent/journal/<hash>.json		completions not yet delivered
 *	.cdagent/status.json			for `cdagent status`
 * At start the daemon kills the hook trees recorded in ongoing-deployment
 * and reports those commands Failed with code 7, once.
 *
 * SIGTERM/SIGINT stop polling at once, let running commands finish for up
 * to :kill_agent_max_wait_time_seconds:, then report what was cut off.
 * SIGHUP re-reads the configuration files.
 */
#ifndef CDAGENT_DAEMON_H
#define CDAGENT_DAEMON_H

struct daemon_opts {
	const char *config_path;	/* agent config (must exist) */
	int once;		/* exit after one completed command or one
				   empty poll */
};

/*
 * Exit status when the host identity belongs to another machine (a clone
 * of a registered image): the service unit does not restart on it.
 */
#define DAEMON_EXIT_CLONED 78

/* Run until stopped; returns the process exit status. */
int daemon_run(const struct daemon_opts *o);

/* `cdagent status`: print the state the daemon left on disk. */
int daemon_status(const char *config_path);

#endif

/*
 * main.c: argv dispatch to the subcommands (see cli.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <getopt.h>

#include "cli.h"
#include "daemon.h"
#include "version.h"
#include "banned.h"

struct command {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
};

static int cmd_run(int, char **);
static int cmd_status(int, char **);

static const struct command commands[] = {
	{ "run", cmd_run, "poll the control plane and run deployments" },
	{ "deploy", cmd_deploy, "deploy a bundle locally, with no control "
	    "plane (like codedeploy-local)" },
	{ "validate", cmd_validate, "check an AppSpec and its bundle" },
	{ "register", cmd_register, "register this host with the control "
	    "plane" },
	{ "deregister", cmd_deregister, "deregister this host" },
	{ "status", cmd_status, "show the agent's state from disk" },
	{ "doctor", cmd_doctor, "check proxies, DNS, TLS and credentials" },
	{ "image-prep", cmd_image_prep, "remove host identity before "
	    "capturing a golden image" },
	{ "version", cmd_version, "print versions" },
};

void
cli_errorf(const char *fmt, ...)
{
	va_list ap;

	fputs("cdagent: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cli_not_built(const char *name, const char *what)
{
	cli_errorf("'%s' is not built into this release yet (%s)", name,
	    what);
	return CLI_EXIT_USAGE;
}

static const char run_usage[] =
"usage: cdagent run [-c CONFIG] [--once]\n"
"\n"
"Poll the control plane for host commands and run them (the daemon). Runs in\n"
"the foreground and logs to stderr and <log_dir>/<program_name>.log.\n"
"\n"
"  -c, --config FILE  agent config (default " CLI_DEFAULT_CONFIG ")\n"
"      --once         exit after one completed command or one empty poll\n"
"\n"
"Signals: TERM/INT stop (running commands may finish first), HUP reloads\n"
"the configuration.\n";

static int
cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "once", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_opts o = { CLI_DEFAULT_CONFIG, 0 };
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': o.config_path = optarg; break;
		case 'o': o.once = 1; break;
		case 'h': fputs(run_usage, stdout); return CLI_EXIT_OK;
		default:
			cli_errorf("run: bad option (see 'cdagent run --help')");
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		cli_errorf("run: unexpected argument '%s'", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	return daemon_run(&o);
}

static const char status_usage[] =
"usage: cdagent status [-c CONFIG]\n"
"\n"
"Print, from the state the daemon keeps on disk: the last poll and its\n"
"result, the commands in flight, and for each deployment group the last\n"
"successful and the most recent deployment.\n";

static int
cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = CLI_DEFAULT_CONFIG;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'h': fputs(status_usage, stdout); return CLI_EXIT_OK;
		default:
			cli_errorf("status: bad option (see 'cdagent status "
			    "--help')");
			return CLI_EXIT_USAGE;
		}
	}
	return daemon_status(path) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: cdagent <command> [-c CONFIG] [options]\n\n"
	    "cdagent %s: a CodeDeploy-compatible host agent.\n\n"
	    "Commands:\n", CDAGENT_VERSION);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-11s %s\n", commands[i].name,
		    commands[i].summary);
	fprintf(f, "\nRun 'cdagent <command> --help' for a command's "
	    "options.\n");
}

int
main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(1, argv + 1);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	cli_errorf("unknown command '%s' (see 'cdagent --help')", argv[1]);
	return CLI_EXIT_USAGE;
}

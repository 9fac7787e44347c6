/*
 * deploycli.c: `cdagent deploy` and `cdagent validate`.
 * (Placeholder until the deployment engine lands: says so and exits 2.)
 */
#include <string.h>
#include <stdio.h>

#include "cli.h"
#include "banned.h"

int
cmd_deploy(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		printf("usage: cdagent deploy [-c CONFIG] -l LOCATION ...\n");
		return CLI_EXIT_OK;
	}
	return cli_not_built("deploy", "the deployment engine");
}

int
cmd_validate(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		printf("usage: cdagent validate [-A FILE] BUNDLE\n");
		return CLI_EXIT_OK;
	}
	return cli_not_built("validate", "the deployment engine");
}

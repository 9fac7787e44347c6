/*
 * cli.h: the subcommands of the cdagent binary.
 *
 * Each cmd_*() gets argv with argv[0] the subcommand name, parses its own
 * options (every one accepts -c CONFIG and --help), and returns the process
 * exit status: 0 success, 1 the operation failed, 2 bad usage or not
 * available in this build.
 */
#ifndef CDAGENT_CLI_H
#define CDAGENT_CLI_H

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

/* Default agent config path, as the Ruby agent's. */
#define CLI_DEFAULT_CONFIG "/etc/codedeploy-agent/conf/codedeployagent.yml"

int cmd_version(int argc, char **argv);
int cmd_deploy(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_image_prep(int argc, char **argv);
int cmd_register(int argc, char **argv);	/* register.c */
int cmd_deregister(int argc, char **argv);	/* register.c */
int cmd_doctor(int argc, char **argv);		/* doctor.c */

/* Print "cdagent: <msg>" on stderr, one line. */
void cli_errorf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/*
 * Reject a subcommand that a later release fills in: one line on stderr,
 * exit status 2. Never pretends to work.
 */
int cli_not_built(const char *name, const char *what);

#endif

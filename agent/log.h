/*
 * log.h: the agent log.
 *
 * One line per call, in the Ruby agent's layout (§14 of the reference):
 *	2026-11-26T03:31:22 INFO  [codedeploy-agent(2084)]: <message>
 * written to stderr and, once log_open_file() succeeded, to a file that is
 * rotated by size. The sink is chosen once in main(); the functions are safe
 * to call from several threads.
 *
 * Never log credentials, Authorization headers or presigned URLs.
 */
#ifndef CDAGENT_LOG_H
#define CDAGENT_LOG_H

#include <stdint.h>

#include "err.h"

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Program name used in the line prefix, level threshold, stderr on/off. */
void log_setup(const char *program_name, enum log_level level, int to_stderr);

/*
 * Also write to path, rotating to path.1 .. path.<keep> when it would grow
 * past max_bytes (0: never rotate).
 */
int log_open_file(const char *path, uint64_t max_bytes, int keep,
    struct err *e);
void log_close(void);

void log_msg(enum log_level lvl, const char *func, const char *fmt, ...)
    AG_PRINTF(3, 4);

#define log_error(...) log_msg(LOG_ERROR, __func__, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __func__, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __func__, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __func__, __VA_ARGS__)

/* log_error with ": <e->msg>" appended (OpenSSH error_r). */
#define log_error_e(e, fmt, ...) \
	log_msg(LOG_ERROR, __func__, fmt ": %s", ##__VA_ARGS__, (e)->msg)
#define log_warn_e(e, fmt, ...) \
	log_msg(LOG_WARN, __func__, fmt ": %s", ##__VA_ARGS__, (e)->msg)

#endif

/*
 * platform.h: everything cdagent needs from the operating system, and the
 * only place OS differences live. Implemented once per directory below
 * platform/ (linux/, windows/); the Makefile picks one with PLATFORM=.
 * Any #ifdef inside platform/ tests a feature, never an OS. Strings are
 * UTF-8; only platform/windows converts to UTF-16.
 *
 * Conventions as in agent/: 0 or a negative AG_* code, details in the
 * caller's struct err; every descriptor opened here is close-on-exec.
 */
#ifndef CDAGENT_PLATFORM_H
#define CDAGENT_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct err;

/* ---- identity ---------------------------------------------------------- */

/* "linux" or "windows": the AppSpec `os` value this build accepts. */
const char *plat_os_name(void);

/* ---- clocks ------------------------------------------------------------ */

int64_t plat_clock_ms(void);	/* monotonic milliseconds, for deadlines */
int64_t plat_time_ms(void);	/* wall-clock milliseconds since the epoch */

/* Sleep until the monotonic deadline or until *stop becomes non-zero. */
void plat_sleep_until(int64_t deadline_ms, volatile const int *stop);

/* ---- files --------------------------------------------------------------- */

/*
 * Write data to path atomically: a temporary file in the same directory,
 * fsync, rename over path, fsync of the directory. A crash leaves either
 * the old file or the new one, never a torn one.
 */
int plat_fs_write_atomic(const char *path, const void *data, size_t len,
    unsigned mode, struct err *e);

/* mkdir -p; existing directories are fine, anything else in the way isn't. */
int plat_fs_mkdir_p(const char *path, unsigned mode, struct err *e);

/*
 * rm -rf without a shell and without following symbolic links: a link is
 * removed, never what it points to. Refuses "" and "/". A missing path is
 * not an error.
 */
int plat_fs_rm_rf(const char *path, struct err *e);

/* Bytes available to an unprivileged user on the file system of path. */
int plat_fs_free_space(const char *path, uint64_t *out, struct err *e);

/* 1 when fd is a terminal. */
int plat_isatty(int fd);

/* ---- users ------------------------------------------------------------- */

struct plat_user {
	uint32_t uid, gid;
	char name[256];
	char home[1024];
	char shell[256];
};

/* Look up a user by name; AG_EINVAL with "unknown user X" when absent. */
int plat_user_lookup(const char *name, struct plat_user *out, struct err *e);

/* Look up a group by name; AG_EINVAL with "unknown group X" when absent. */
int plat_group_lookup(const char *name, uint32_t *gid, struct err *e);

/* 1 when the agent runs with full privileges (root / Administrator). */
int plat_is_privileged(void);

/* ---- processes ----------------------------------------------------------- */
/* (hook processes: see the plat_proc_* section, filled in by proc.c) */

#endif

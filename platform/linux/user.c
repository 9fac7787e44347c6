/* linux/user.c: user and group lookups; see platform.h. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "platform.h"
#include "banned.h"

int
plat_user_lookup(const char *name, struct plat_user *out, struct err *e)
{
	struct passwd pw, *res = NULL;
	char sbuf[16384];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = getpwnam_r(name, &pw, sbuf, sizeof(sbuf), &res);
	if (rc != 0 && rc != ENOENT && rc != ESRCH)
		return err_set(e, AG_EIO, "look up user %s: %s", name,
		    strerror(rc));
	if (res == NULL)
		return err_set(e, AG_EINVAL, "unknown user %s", name);
	out->uid = pw.pw_uid;
	out->gid = pw.pw_gid;
	snprintf(out->name, sizeof(out->name), "%s", pw.pw_name);
	snprintf(out->home, sizeof(out->home), "%s",
	    pw.pw_dir ? pw.pw_dir : "/");
	snprintf(out->shell, sizeof(out->shell), "%s",
	    pw.pw_shell && *pw.pw_shell ? pw.pw_shell : "/bin/sh");
	return 0;
}

int
plat_group_lookup(const char *name, uint32_t *gid, struct err *e)
{
	struct group gr, *res = NULL;
	char sbuf[16384];
	int rc;

	rc = getgrnam_r(name, &gr, sbuf, sizeof(sbuf), &res);
	if (rc != 0 && rc != ENOENT && rc != ESRCH)
		return err_set(e, AG_EIO, "look up group %s: %s", name,
		    strerror(rc));
	if (res == NULL)
		return err_set(e, AG_EINVAL, "unknown group %s", name);
	*gid = gr.gr_gid;
	return 0;
}

int
plat_is_privileged(void)
{
	return geteuid() == 0;
}

/*
 * install.h: the Install lifecycle step (reference §6): copy the unpacked
 * revision to its destinations, then apply the AppSpec `permissions`.
 *
 *	struct install_opts o = {
 *		.spec = as, .archive_dir = ".../deployment-archive",
 *		.instructions_dir = root "/deployment-instructions",
 *		.group_id = gid, .feb = FEB_DISALLOW, .preserve_symlinks = 1,
 *	};
 *	struct install_stats st;
 *	if (install_run(&o, &st, &e) != 0)
 *		fail(e.msg);		// Install failed, code 5
 *	else
 *		write <group>_last_successful_install	// the caller's job
 *
 * install_run() performs §6.1 steps 1 and 3-6, in this order:
 *
 *  1. mkdir -p instructions_dir.
 *  2. Undo the previous install of the group from <group>-cleanup: the
 *     lines in reverse order, an unterminated last line dropped (a torn
 *     write); a symlink or file is unlinked, a directory rmdir'ed ("not
 *     empty" ignored), a missing path ignored; a "semanage\0<path>" line
 *     runs `semanage fcontext -d <path>` (its failure is only logged). Then
 *     the cleanup file is deleted. Nothing is followed: each line's
 *     parent is opened from "/" one component at a time with O_NOFOLLOW,
 *     and the entry removed relative to it; a line with a symlink among
 *     its parents (an installed directory replaced by a link since) is
 *     skipped with a warning.
 *  3. Plan (§6.2, §6.3, §6.5) against the file system as it is now. All
 *     conflicts are found here, before anything is written: two sources for
 *     one destination, mkdir over a planned copy and the reverse, an
 *     existing file under DISALLOW, a permission target named twice, a
 *     `pattern`/`except`/default ACL on a file object, unknown owner, group
 *     or ACL user/group names (looked up once per permission entry).
 *  4. Write <group>-install.json atomically (§6.6; informational only).
 *  5. Execute, appending to a fresh <group>-cleanup: every copy and mkdir in
 *     plan order, then the permission commands in permission-list order.
 *
 * Differences from the Ruby agent, all deliberate:
 *  - Directory entries are planned in strcmp order, not readdir order, so
 *    the plan (and the first error reported) is reproducible.
 *  - A source path is normalised inside the archive: "../x" cannot leave
 *    it. A missing source, or one that is not a regular file, directory or
 *    symlink (a FIFO, a device) fails planning instead of the copy.
 *  - A destination containing a newline is refused: it would split its
 *    cleanup line into two and the next cleanup could remove a path the
 *    bundle never installed.
 *  - "Exists" for §6.3 is tested with lstat: a dangling symlink at a
 *    destination counts as an existing file. OVERWRITE replaces a file or a
 *    symlink (never following it: the link's old target is untouched) by
 *    renaming a temporary file from the same directory over it; it refuses
 *    to replace a directory with a file. New files are created with
 *    O_CREAT|O_EXCL|O_NOFOLLOW, so nothing planted meanwhile is followed.
 *  - The AppSpec `destination` is trusted as the admin wrote it: it may
 *    be, or lie below, a symlink (e.g. /var/www -> /srv/www), which is
 *    followed, and an existing directory there is reused as in Ruby.
 *    Below it nothing is followed: every directory is opened from the
 *    destination one component at a time with O_NOFOLLOW (openat2
 *    RESOLVE_NO_SYMLINKS where the kernel has it), a new directory is
 *    made with mkdirat in its parent and used through that descriptor,
 *    and a symlink where a directory is planned below the destination
 *    fails the plan (or the execution, if planted meanwhile), naming it.
 *  - A symlink from the bundle must not point out of the entry's
 *    destination: a relative target may climb (lexically, "..") at most
 *    as many levels as the link lies below the destination, else the
 *    plan fails. This matters when a `files` source is a subdirectory,
 *    which re-roots the links under it. An absolute target is still
 *    installed as is, as the Ruby agent does (and the bundle could as
 *    well install a file there).
 *  - Copies are data-only moves through copy_file_range(2) (then
 *    sendfile(2), then read/write) in constant memory; mode, atime/mtime
 *    and owner/group are kept (a failed chown clears setuid/setgid).
 *  - preserve_symlinks: see the field. The symlink loop that materialising
 *    can create is detected and fails planning.
 *  - Permissions are applied without following symlinks: the target is
 *    opened O_PATH|O_NOFOLLOW in its parent, itself walked from the
 *    destination as above, and chmod, the ACL xattrs and chown all go
 *    through that descriptor (/proc/self/fd/N, AT_EMPTY_PATH). It must
 *    be the very object the install made (same st_dev/st_ino as recorded
 *    when it was created), else "<path> changed during the deployment (a
 *    symbolic link was planted?): permissions not applied". A target
 *    that the plan installed as a symlink gets only owner/group (lchown
 *    semantics), mode/ACL/context are skipped with a warning: a link has
 *    no mode of its own. A target planned as a file or directory that is a
 *    symlink now (something replaced it) fails the step. /proc must be
 *    mounted.
 *  - When mode has setuid/setgid and owner/group is also set, the mode is
 *    applied again after the chown (which clears those bits).
 *  - ACLs are written directly as the system.posix_acl_access/_default
 *    xattrs, with the base entries the Ruby agent adds for setfacl; no
 *    setfacl, no shell. semanage/restorecon run from an argv, never a
 *    shell (§15 rows 12, 17), with a missing range simply left out.
 *
 * Cleanup-file durability: each path is written with write(2) right after
 * the object it describes is created (the O_EXCL create, the symlink, the
 * mkdir) and before any data is written into it, so a crash of the agent
 * never loses an entry and a create that fails (e.g. a file planted
 * meanwhile) leaves none; the file is fdatasync'ed once at the end, so a
 * power loss may lose the tail of it along with the unsynced copies. A
 * crash during an OVERWRITE can leave a ".cdagent-*" temporary next to the
 * destination. The destination part of each path is written resolved
 * (realpath), so the next cleanup, which follows no symlink, still finds
 * what was installed through /var/www -> /srv/www.
 *
 * Errors: AG_EINVAL for the AppSpec and plan conflicts (Ruby texts where
 * the reference gives them), AG_ENOTSUP when the host lacks what a
 * permission needs (no ACL support on the file system, semanage or
 * restorecon not installed), AG_ENOMEM, AG_EIO otherwise. Messages name the
 * path. Whatever was installed before a failure is already in the cleanup
 * file, so the next Install of the group removes it.
 */
#ifndef CDAGENT_INSTALL_H
#define CDAGENT_INSTALL_H

#include <stdint.h>

#include "appspec.h"		/* enum appspec_feb, by value */

struct err;

struct install_opts {
	/* Parsed AppSpec of the revision being installed; borrowed. */
	const struct appspec *spec;
	/* <root>/<group>/<deployment>/deployment-archive; relative is fine. */
	const char *archive_dir;
	/* <root>/deployment-instructions; created when missing. */
	const char *instructions_dir;
	/* Names <group>-cleanup and <group>-install.json; no '/' allowed. */
	const char *group_id;
	/*
	 * Effective file_exists_behavior, resolved by the caller (AppSpec,
	 * else the deployment spec, else DISALLOW). FEB_UNSET is DISALLOW.
	 */
	enum appspec_feb feb;
	/*
	 * 1: a symlink in the bundle is installed as a symlink with the same
	 * target text, directory symlinks too (they are not recursed into),
	 * and so is a `files` source that is a symlink. 0: the Ruby 1.8
	 * behaviour: a symlink to a directory is followed and materialised as
	 * a real directory; other symlinks are still copied as symlinks.
	 */
	int preserve_symlinks;
	/*
	 * Called after each installed file with the running totals; may be
	 * NULL. Must not call back into install.
	 */
	void (*progress)(void *ctx, uint64_t bytes, uint64_t files);
	void *ctx;
};

struct install_stats {
	uint64_t files;		/* files and symlinks installed */
	uint64_t dirs;		/* directories created */
	uint64_t bytes;		/* file content bytes copied */
	uint64_t skipped;	/* existing files kept under RETAIN */
};

/*
 * Run the Install step as described above. st (may be NULL) is zeroed
 * first and filled in even when the step fails part-way.
 */
int install_run(const struct install_opts *o, struct install_stats *st,
    struct err *e);

#endif

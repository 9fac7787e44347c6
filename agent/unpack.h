/*
 * unpack.h: a downloaded bundle -> <deployment>/deployment-archive
 * (reference §12.4), without tar(1) or unzip(1) and without trusting the
 * bundle.
 *
 *	struct unpack_opts o = { .max_total_size = 4ULL << 30,
 *	    .keep_owner = plat_is_privileged() };
 *	struct unpack_stats st;
 *	if ((r = unpack_bundle(bundle, archive_dir, &o, &st, &e)) != 0)
 *		goto out;	// archive_dir is gone, e.msg names the entry
 *
 * Formats. tar (ustar, pax, GNU) and zip, raw or compressed with gzip,
 * bzip2, xz or zstd; the format is detected from the content, never from
 * the file name (the bundle is always called bundle.tar, §9.1). Nothing
 * else is registered with libarchive.
 *
 * Streaming. Entry data goes from libarchive to the file in 64 KiB blocks;
 * memory does not grow with the size of the bundle or of an entry. The one
 * list that grows is the deferred directory modes and times (one small
 * record per directory entry, capped at 64 MiB: a bundle past that is
 * refused).
 *
 * Refused, with AG_EINVAL and "bundle entry '<name>': <why>":
 *  - absolute paths and paths with a ".." component;
 *  - paths longer than PATH_MAX or going through a symbolic link (every
 *    directory is opened with O_NOFOLLOW, so an entry planted earlier can
 *    never redirect a later write, even to a place inside the root);
 *  - symbolic links whose target is empty, absolute, has ".." after a
 *    name ("a/../b": the name may itself be a link, which makes a lexical
 *    check meaningless), or climbs above the archive root from the link's
 *    directory; links that only stay inside because of the top directory
 *    that the strip rule removes ("top/l -> ../top/x") are refused when
 *    the rule applies;
 *  - hard links whose target is not a regular file already unpacked from
 *    this bundle (so never a file outside the root, never a symlink);
 *  - character and block devices, FIFOs, sockets and unknown types;
 *  - regular files with the setuid or setgid bit, unless allow_setuid
 *    (on directories the two bits are dropped instead: a setgid directory
 *    is common and harmless, and refusing it would break real bundles);
 *  - a sum of entry sizes past max_total_size. Bytes are counted as they
 *    are written, so a header that lies about its size cannot get past the
 *    cap; a header that admits to it is refused before any data is read;
 *  - a regular file, link or directory replacing a non-empty directory;
 *  - a truncated or corrupt archive, or one that is not tar or zip.
 *
 * Preserved. Permission bits (07777, see setuid above), modification
 * times (files, directories and links), symbolic links as links, hard
 * links as links, and with keep_owner the numeric uid/gid of each entry
 * (tar -p as root). Without keep_owner, everything belongs to the agent.
 * Directories are created 0700 and get their own mode and time once all
 * entries are in, so a read-only directory can still be filled.
 *
 * An entry that appears twice replaces the earlier one (the old name is
 * unlinked first, so a file that was hard-linked elsewhere is not
 * modified through the link). Entries "." and "./" are skipped.
 */
#ifndef CDAGENT_UNPACK_H
#define CDAGENT_UNPACK_H

#include <stdint.h>

struct err;

struct unpack_opts {
	uint64_t max_total_size;	/* sum of entry sizes, 0 = no cap */
	int allow_setuid;		/* 0: setuid/setgid files refused */
	int keep_owner;			/* 1: keep archive uid/gid (root) */
	/*
	 * Called with the bytes and regular files written so far, at most
	 * about ten times a second plus once at the end; may be NULL. It
	 * cannot cancel the unpack.
	 */
	void (*progress)(void *ctx, uint64_t bytes, uint64_t files);
	void *ctx;			/* borrowed, passed to progress */
};

struct unpack_stats {
	uint64_t bytes;		/* data bytes written to regular files */
	uint64_t files;		/* regular files written */
	uint64_t dirs;		/* directory entries (implicit ones not) */
	uint64_t links;		/* symbolic plus hard links */
};

/*
 * Unpack the bundle file into archive_dir, then apply the strip rule of
 * §12.4: when archive_dir holds exactly one entry, that entry is a real
 * directory (not a link to one), and one of its entries has "appspec" in
 * its name (any case), its contents become archive_dir, by way of
 * "<archive_dir>-temp" (removed first if a crash left it behind).
 *
 * archive_dir is created with its parents (0755); it may exist only as an
 * empty real directory. If it is anything else, AG_EINVAL is returned and
 * it is left alone. Otherwise, on any error archive_dir (and the -temp
 * directory) is removed, and nothing outside it was ever written.
 *
 * o may be NULL (all defaults: no cap, no setuid, no owners, no progress);
 * st may be NULL, and is filled in on success only.
 *
 * Returns 0; AG_EINVAL for a hostile, corrupt or unsupported bundle;
 * AG_EIO for a local file system error ("<op> <path>: <strerror>", or
 * "The disk is (or was) full during extraction." for ENOSPC and EDQUOT,
 * as the Ruby agent says); AG_ENOTSUP when this libarchive lacks one of
 * the filters (it would fork an external program: refused); AG_ENOMEM.
 */
int unpack_bundle(const char *bundle, const char *archive_dir,
    const struct unpack_opts *o, struct unpack_stats *st, struct err *e);

#endif

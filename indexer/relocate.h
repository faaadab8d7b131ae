/* SPDX-License-Identifier: MIT */
/*
 * Prefix relocation, as conda does it at install time.  Pure functions on
 * memory buffers: no I/O, no global state.  See CONDA-FORMATS.md.
 */
#ifndef CFS_RELOCATE_H
#define CFS_RELOCATE_H

#include "cfs-util.h"
#include "buf.h"

/* Longest shebang line (including "#!") the kernel accepts in practice. */
#define CFS_SHEBANG_MAX 127

/*
 * Text mode: replaces every occurrence of placeholder in data with prefix,
 * appending the result to out.  Then applies conda's shebang rule: if the
 * file starts with "#!" and the rewritten first line is longer than
 * CFS_SHEBANG_MAX bytes, or the first line contains the new prefix and the
 * prefix contains a space, the first line becomes
 * "#!/usr/bin/env <basename of program><args>" (as conda's
 * replace_long_shebang does).
 * Sets *changed to whether any byte differs from data.
 * Returns 0, or -EFBIG if out would exceed its limit.
 */
errint_t cfs_relocate_text(const char *data, size_t len,
			   const char *placeholder, const char *prefix,
			   struct cfs_buf *out, bool *changed);

/*
 * Binary mode, in place, as conda's binary_replace: for every NUL-terminated
 * C string in data[0..len) that contains placeholder, replaces every
 * occurrence from the first one to the string's NUL with prefix and pads the
 * string's end with NUL bytes so its length (up to and including its
 * terminating NUL) is unchanged.  A string with no NUL before the end of the
 * buffer is left alone.  The buffer's size never changes.
 * Returns 0; -ENAMETOOLONG if prefix is longer than placeholder and a
 * replacement is due (nothing is modified then).  *changed says whether any
 * byte changed; a placeholder that does not occur is a no-op, whatever the
 * prefix's length.
 */
errint_t cfs_relocate_binary(char *data, size_t len, const char *placeholder,
			     const char *prefix, bool *changed);

/*
 * Path checks for archive member names and paths.json "_path" values.
 * Returns true if path is relative, non-empty, has no "." or ".." component,
 * no empty component (no "//", no leading or trailing "/"), no NUL, and is
 * shorter than CFS_MAX_PATH_BYTES.
 */
bool cfs_path_is_safe(const char *path);

/*
 * Checks a symlink target found at link_path (both relative to the prefix):
 * returns true if the target is relative and, resolved lexically from the
 * link's directory, never climbs above the prefix.  Absolute targets return
 * false (the caller decides whether to keep them).
 */
bool cfs_symlink_target_is_contained(const char *link_path, const char *target);

#endif

/* SPDX-License-Identifier: MIT */
#ifndef CFS_ARCHIVE_API_H
#define CFS_ARCHIVE_API_H
/*
 * libarchive, loaded with dlopen() when a package or an export first needs
 * it.  Linked, it would load libxml2, ICU and libstdc++ into every process,
 * some 28 ms of a cold `condafs mount`, which never reads an archive.
 * Modules call it through the sym_ pointers below (as common/curl-api.h
 * does for libcurl), after cfs_archive_load().  Include this header, not
 * <archive.h>.
 */
#include <archive.h>
#include <archive_entry.h>

#include "cfs-util.h"

#define CFS_ARCHIVE_SYMS(X) \
	X(archive_entry_clear) \
	X(archive_entry_copy_pathname) \
	X(archive_entry_copy_symlink) \
	X(archive_entry_filetype) \
	X(archive_entry_free) \
	X(archive_entry_hardlink) \
	X(archive_entry_mtime) \
	X(archive_entry_mtime_nsec) \
	X(archive_entry_new) \
	X(archive_entry_pathname) \
	X(archive_entry_perm) \
	X(archive_entry_set_gid) \
	X(archive_entry_set_mode) \
	X(archive_entry_set_mtime) \
	X(archive_entry_set_size) \
	X(archive_entry_set_uid) \
	X(archive_entry_size) \
	X(archive_entry_size_is_set) \
	X(archive_entry_symlink) \
	X(archive_errno) \
	X(archive_error_string) \
	X(archive_read_data) \
	X(archive_read_data_block) \
	X(archive_read_free) \
	X(archive_read_new) \
	X(archive_read_next_header) \
	X(archive_read_open) \
	X(archive_read_open_filename) \
	X(archive_read_support_filter_bzip2) \
	X(archive_read_support_filter_none) \
	X(archive_read_support_filter_zstd) \
	X(archive_read_support_format_tar) \
	X(archive_read_support_format_zip_seekable) \
	X(archive_set_error) \
	X(archive_write_close) \
	X(archive_write_data) \
	X(archive_write_free) \
	X(archive_write_header) \
	X(archive_write_new) \
	X(archive_write_open) \
	X(archive_write_set_bytes_per_block) \
	X(archive_write_set_format_pax_restricted)

#define CFS_ARCHIVE_DECLARE(name) extern typeof(name) *sym_##name;
CFS_ARCHIVE_SYMS(CFS_ARCHIVE_DECLARE)
#undef CFS_ARCHIVE_DECLARE

/*
 * Loads libarchive.so.13 and resolves every sym_ pointer, once per process.
 * Thread-safe; later calls return the first call's result, e.g.
 * "libarchive.so.13: cannot load it (needed to read packages and write
 * tar layers): ...".
 */
errint_t cfs_archive_load(struct cfs_err *err);

struct cfs_buf;
/*
 * Reads the current entry's data into b.  Returns 0; -EFBIG past b's
 * limit; -EBADMSG for corrupt or sparse data, with *why saying which.
 */
errint_t cfs_archive_read_all(struct archive *a, struct cfs_buf *b, const char **why);

#endif

/* SPDX-License-Identifier: MIT */
/* File system helpers: directories, whole reads and writes, atomic publish. */
#ifndef CFS_FSUTIL_H
#define CFS_FSUTIL_H

#include <sys/types.h>

#include "cfs-util.h"

/* Creates path and its missing parents (like mkdir -p). */
errint_t cfs_mkdir_p(const char *path, mode_t mode);
errint_t cfs_write_all(int fd, const void *buf, size_t len);
/* pwrite(2) of all len bytes at off, through EINTR and short writes. */
errint_t cfs_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
/* Reads up to len bytes at offset; returns bytes read or -errno. */
ssize_t cfs_pread_all(int fd, void *buf, size_t len, off_t off);

/*
 * A file being written under a temporary name in the directory of its
 * final name, published with cfs_tmpfile_commit() (fsync optional, then
 * rename) or removed with cfs_tmpfile_abort().  Both release the struct's
 * contents; abort is a no-op after commit, so cleanup paths may call it
 * unconditionally.
 */
struct cfs_tmpfile {
	int fd;
	char *path; /* the temporary name */
};

/* Creates dir/.<base>.tmp-XXXXXX (mode 0644 after umask).  dir must exist. */
errint_t cfs_tmpfile_open(struct cfs_tmpfile *t, const char *dir, const char *base);
errint_t cfs_tmpfile_commit(struct cfs_tmpfile *t, const char *final_path, bool do_fsync);
void cfs_tmpfile_abort(struct cfs_tmpfile *t);

/* Writes data to path atomically (temporary file, fsync, rename). */
errint_t cfs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* fsyncs the directory containing path. */
errint_t cfs_fsync_parent(const char *path);

/* Removes path and, for a directory, everything below it (read-only
 * directories made writable first); best effort. */
void cfs_rmtree(const char *path);

/* "12.3 MiB" style, into out (at least 16 bytes). */
void cfs_format_size(uint64_t bytes, char *out, size_t outlen);

/* Parses "512M", "2G", "100k", "1048576" (binary units); -EINVAL if bad. */
errint_t cfs_parse_size(const char *s, uint64_t *out);

#endif

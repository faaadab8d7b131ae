/* SPDX-License-Identifier: MIT */
/*
 * Installing one package archive the way conda would, into the store: the
 * result is the list of entries the package contributes to the prefix.
 */
#ifndef CFS_PACKAGE_H
#define CFS_PACKAGE_H

#include <jansson.h>

#include "cfs-util.h"
#include "hash.h"
#include "lock.h"
#include "store.h"

struct cfs_entry {
	char *path;       /* relative to the prefix, final location */
	uint32_t mode;    /* st_mode: S_IFREG, S_IFLNK or S_IFDIR plus permissions */
	uint64_t size;
	int64_t mtime;
	uint32_t mtime_nsec;
	uint8_t digest[CFS_SHA256_LEN]; /* regular files */
	uint64_t csize;   /* compressed size in the store (regular files) */
	char *target;     /* symlinks */
};

struct cfs_package {
	const struct cfs_lock_pkg *lock;
	char *name, *version, *build, *build_number, *subdir, *noarch;
	struct cfs_entry *entries;
	size_t n_entries, alloc_entries;
	char **link_scripts; /* paths of post-link / pre-unlink scripts */
	size_t n_link_scripts;
	uint8_t sha256[CFS_SHA256_LEN]; /* of the archive */
	uint8_t md5[CFS_MD5_LEN];
	bool has_md5;
	uint64_t archive_size;
	uint64_t bytes; /* sum of regular file sizes */
};

struct cfs_install_opts {
	const char *prefix;    /* e.g. "/env" */
	const char *python_xy; /* "3.11", or NULL if the lock has no python */
	const char *platform;  /* the lock's, e.g. "linux-64" (wheel tags) */
	struct cfs_store *store;
};

/*
 * Installs the archive at archive_path (a verified .conda or .tar.bz2) for
 * lock entry lp.  Regular files go into the store; out receives the
 * package's entries (sorted by path) including conda-meta/<dist>.json.
 * archive_sha256 and archive_size describe the verified archive (they go
 * into conda-meta).  Errors name the package and path: "zlib-1.2.13-h1_0.conda: lib/x: ...".
 * Caller releases out with cfs_package_release().
 */
errint_t cfs_package_install(const struct cfs_install_opts *opts,
			     const char *archive_path,
			     const struct cfs_lock_pkg *lp,
			     const uint8_t archive_sha256[CFS_SHA256_LEN],
			     uint64_t archive_size,
			     struct cfs_package *out, struct cfs_err *err);

void cfs_package_release(struct cfs_package *p);

/*
 * Lists bytecode compiled for p (paths relative to the prefix, already
 * among p's entries) in its conda-meta record, as conda does: in "files",
 * and in "paths_data" with path_type pyc_file.  Sorts p's entries again.
 */
errint_t cfs_package_list_pycs(struct cfs_package *p, const char *const *paths, size_t n,
			       struct cfs_store *store, struct cfs_err *err);

/*
 * Installs the wheel at wheel_path (verified) for lock entry lp as pip
 * would: site-packages, .data/ schemes, console and GUI scripts, RECORD
 * rewritten for the installed paths, INSTALLER.  Refuses a wheel whose tags
 * do not fit opts->python_xy and opts->platform, and a member whose bytes
 * do not match RECORD.  Same contract as cfs_package_install().
 */
errint_t cfs_wheel_install(const struct cfs_install_opts *opts, const char *wheel_path,
			   const struct cfs_lock_pkg *lp,
			   const uint8_t wheel_sha256[CFS_SHA256_LEN], uint64_t wheel_size,
			   struct cfs_package *out, struct cfs_err *err);

/* cfs_package_list_pycs() for a wheel: the bytecode goes into its RECORD. */
errint_t cfs_wheel_list_pycs(struct cfs_package *p, const char *const *paths, size_t n,
			     struct cfs_store *store, struct cfs_err *err);

/* "#!PREFIX/bin/pythonX.Y" and a newline, or a /bin/sh trampoline when too long. */
char *cfs_python_shebang(const char *prefix, const char *python_xy);

/* The script of entry point "cmd = module:func": conda's template, or pip's. */
char *cfs_entry_point_script(const char *prefix, const char *python_xy, const char *module,
			     const char *func, bool pip);

/* Whether s is a dotted Python name (module or attribute path). */
bool cfs_valid_dotted(const char *s);

/* Adds an entry (path and target are copied). */
struct cfs_entry *cfs_package_add_entry(struct cfs_package *p, const char *path,
					uint32_t mode);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Working sets: the paths of an environment that an application really
 * uses, learned from traces of profiling runs (docs/profiling.md).  A working
 * set is a JSON file:
 *
 *   {"condafs_workset": 1,
 *    "prefix": "/env",
 *    "keep": ["lib/python3.11/encodings"],      user --keep globs
 *    "entries": [
 *      {"path": "lib/python3.11/os.py", "type": "file",
 *       "package": {"name": "python", "version": "3.11.7", "build": "h1_0",
 *                   "sha256": "<archive sha256>"}},
 *      {"path": "lib", "type": "dir", "package": null}, ...]}
 *
 * Entries are sorted by path and carry the package they come from, so a
 * working set made against one lock still applies, package by package, to
 * the index of an updated lock.
 */
#ifndef CFS_WORKSET_H
#define CFS_WORKSET_H

#include "cfs-util.h"

#define CFS_WORKSET_VERSION 1

struct cfs_ws_package {
	char *name, *version, *build, *sha256;
};

struct cfs_ws_entry {
	char *path;                   /* relative to the prefix */
	char type;                    /* 'f' file, 'd' directory, 'l' symlink */
	struct cfs_ws_package *pkg;   /* NULL: no package (directories, conda-meta/history) */
};

struct cfs_workset {
	char *prefix;
	char **keep;                  /* globs, policy syntax */
	size_t n_keep;
	struct cfs_ws_entry *entries; /* sorted by path, unique */
	size_t n_entries, alloc_entries;
	struct cfs_ws_package **pkgs; /* distinct packages the entries point to */
	size_t n_pkgs;
};

/* An empty working set for prefix.  Caller frees with cfs_workset_free(). */
struct cfs_workset *cfs_workset_new(const char *prefix);
void cfs_workset_free(struct cfs_workset *ws);

/*
 * Reads a working set file.  Errors: "<path>: not a condafs working set",
 * "<path>: working set version N is not supported", "<path>:LINE: invalid
 * JSON: ...", "<path>: entry N: ...".  Caller frees *out.
 */
errint_t cfs_workset_load(const char *path, struct cfs_workset **out, struct cfs_err *err);

/*
 * Writes a working set's JSON document to path atomically, as every
 * working set file is written (one-space indent, members in order); takes
 * root's reference.
 */
struct json_t;
errint_t cfs_workset_write_json(struct json_t *root, const char *path, struct cfs_err *err);

/* Writes ws to path atomically (entries sorted, stable output). */
errint_t cfs_workset_save(const struct cfs_workset *ws, const char *path, struct cfs_err *err);

/*
 * Adds an entry (copied) unless its path is already there.  pkg may be
 * NULL; equal packages are shared.  Entries are kept sorted lazily: call
 * cfs_workset_sort() before lookups.
 */
void cfs_workset_add(struct cfs_workset *ws, const char *path, char type,
		     const char *name, const char *version, const char *build,
		     const char *sha256);
void cfs_workset_add_keep(struct cfs_workset *ws, const char *glob);
void cfs_workset_sort(struct cfs_workset *ws);

/* The entry for path, or NULL (binary search; ws must be sorted). */
const struct cfs_ws_entry *cfs_workset_find(const struct cfs_workset *ws, const char *path);

/* Adds all of src's entries and keep globs to dst. */
void cfs_workset_merge(struct cfs_workset *dst, const struct cfs_workset *src);

#endif

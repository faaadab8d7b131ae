/* SPDX-License-Identifier: MIT */
/*
 * Building and applying working sets (docs/profiling.md).
 *
 * A struct cfs_ws_tree is an index's whole tree in memory: every node with
 * its path relative to the prefix, and the packages the nodes belong to.
 * Working sets are computed on it as marks, one byte per node:
 *
 *   cfs_ws_tree_load()       the tree of an index
 *   cfs_ws_mark_path()       a path plus its closure: every parent directory,
 *                            every symlink on the way (parents included) and
 *                            the final symlink's target
 *   cfs_ws_read_trace()      every path of a trace file (all operations count)
 *   cfs_ws_mark_keep()       the paths that --keep globs match
 *   cfs_workset_apply()      a working set, made from this index or from the
 *                            index of an older lock (the rebase rules below)
 *   cfs_ws_tree_to_workset() marks back to a working set, with the index's
 *                            package of every entry
 *   cfs_ws_coverage()        files and bytes of the environment vs the marks
 *
 * Pruned nodes (tombstones) are never marked: they are not served.
 */
#ifndef CFS_WORKSET_BUILD_H
#define CFS_WORKSET_BUILD_H

#include "db.h"
#include "workset.h"

/* Bounds on trace input, which is written by a daemon but read from anywhere. */
#define CFS_TRACE_MAX_LINE (64u << 10)
#define CFS_WS_MAX_SYMLINKS 40

struct cfs_ws_pkg {
	char *name, *version, *build, *sha256;
};

struct cfs_ws_tree {
	char *index_path, *prefix, *platform, *lock_sha256, *created;
	struct cfs_node *nodes; /* by inode: nodes[ino - 1] */
	char **paths;           /* paths[i]: relative to the prefix, "" for the root */
	size_t n;
	size_t *order;          /* node positions sorted by path (strcmp) */
	struct cfs_ws_pkg *pkgs;/* by package id: pkgs[id - 1] */
	size_t n_pkgs;
};

/* Reads every node of db.  Caller frees *out with cfs_ws_tree_free(). */
errint_t cfs_ws_tree_load(struct cfs_db *db, struct cfs_ws_tree **out, struct cfs_err *err);
void cfs_ws_tree_free(struct cfs_ws_tree *t);
/* Position of path (relative, no leading '/'), or -1.  Pruned nodes are found. */
ssize_t cfs_ws_tree_find(const struct cfs_ws_tree *t, const char *path);
/* The package of node i, or NULL. */
const struct cfs_ws_pkg *cfs_ws_tree_pkg(const struct cfs_ws_tree *t, size_t i);
/* A zeroed mark array for t (caller frees). */
uint8_t *cfs_ws_marks_new(const struct cfs_ws_tree *t);

/*
 * Marks path and its closure.  Symlinks met as parent components are
 * resolved inside the environment (relative targets, or absolute targets
 * under the prefix); a final symlink is followed to its target.  Returns 0,
 * -ENOENT if path (or a symlink's target) does not exist or is pruned
 * (what exists on the way is still marked), -ELOOP, or -EXDEV for a symlink
 * that leads outside the environment (the symlink itself is marked).
 */
errint_t cfs_ws_mark_path(const struct cfs_ws_tree *t, uint8_t *marks, const char *path);

struct cfs_ws_trace_stats {
	size_t runs;     /* header lines */
	size_t events;   /* event lines */
	size_t paths;    /* distinct paths marked */
	size_t missing;  /* event paths not in the index (or pruned) */
	char *index;     /* the first header's "index" (caller frees) */
};

/*
 * Marks every path of the trace file at path (JSON lines, docs/profiling.md).
 * A header whose prefix differs from t's is an error; a different lock is a
 * warning.  A last line cut short (no newline, invalid) is a warning.
 * Errors: "<trace>:<line>: ...".  st is filled; on success the caller frees
 * st->index (on failure it is NULL).
 */
errint_t cfs_ws_read_trace(const struct cfs_ws_tree *t, uint8_t *marks, const char *path,
			   struct cfs_ws_trace_stats *st, struct cfs_err *err);

/*
 * Marks the served nodes that the keep globs (policy pattern syntax, see
 * docs/policy.md) match, with their closure.  Returns the number of nodes
 * matched, or -EINVAL with "--keep: ..." for a bad glob.
 */
ssize_t cfs_ws_mark_keep(const struct cfs_ws_tree *t, uint8_t *marks, char *const *globs,
			 size_t n, struct cfs_err *err);

/* One package whose working-set entries met a different package in the index. */
struct cfs_ws_change {
	char *name;
	char *old_version, *old_build;  /* from the working set */
	char *new_version, *new_build;  /* NULL: the package left the lock */
	size_t kept, gone;
	char **gone_paths;              /* gone of them, sorted */
};

struct cfs_ws_apply_report {
	size_t entries;       /* entries of the working set */
	size_t kept;          /* of them marked */
	size_t missing;       /* entries of unchanged packages (or none) not in the index */
	size_t pruned;        /* entries whose node is a tombstone */
	char *first_missing, *first_pruned;
	struct cfs_ws_change *changes;
	size_t n_changes;
};
void cfs_ws_apply_report_release(struct cfs_ws_apply_report *r);

/*
 * Marks the entries of ws (and their closure) that apply to t's index:
 *
 *   - an entry of a package that the index has with the same name, version,
 *     build and archive sha256, or of no package, is marked if its path is
 *     served;
 *   - an entry of a package that changed (same name, anything else differs)
 *     is marked if its path still exists in the index and belongs to a
 *     package of the same name; otherwise it is gone;
 *   - an entry of a package that left the lock is gone.
 *
 * Logs one warning per changed package ("numpy 1.26.0-py311h1 → 1.26.4-py311h2:
 * 120 working-set paths kept where they still exist, 3 gone"), and one for
 * missing and pruned entries; gone paths are logged at info level.  ws's
 * keep globs are not evaluated here (cfs_ws_mark_keep).  ws->prefix must be
 * t's (checked by the caller, who knows the file name).
 */
errint_t cfs_workset_apply(const struct cfs_ws_tree *t, uint8_t *marks,
			   const struct cfs_workset *ws, struct cfs_ws_apply_report *report);

/* A working set of the marked nodes of t, with keep globs.  Caller frees. */
struct cfs_workset *cfs_ws_tree_to_workset(const struct cfs_ws_tree *t, const uint8_t *marks,
					   char *const *keep, size_t n_keep);

struct cfs_ws_cov_row {
	const char *name;         /* package name (owned by the tree), NULL: no package */
	const char *version, *build;
	uint64_t env_files, env_bytes, ws_files, ws_bytes;
};

/* Files (regular files and symlinks) and bytes, served vs marked. */
struct cfs_ws_coverage {
	struct cfs_ws_cov_row total;
	struct cfs_ws_cov_row *rows;  /* per package, largest environment bytes first */
	size_t n_rows;
	uint64_t ws_dirs;
};
/* Caller releases with cfs_ws_coverage_release(). */
void cfs_ws_coverage(const struct cfs_ws_tree *t, const uint8_t *marks, struct cfs_ws_coverage *c);
void cfs_ws_coverage_release(struct cfs_ws_coverage *c);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Merges the entries of installed packages (in install order) into one
 * environment tree and writes it as nodes of an index.
 */
#ifndef CFS_TREE_H
#define CFS_TREE_H

#include "db.h"
#include "package.h"

struct cfs_tree;

/* Caller frees with cfs_tree_free(). */
struct cfs_tree *cfs_tree_new(void);
void cfs_tree_free(struct cfs_tree *t);

/*
 * Adds package pkg_id's entries.  A path shipped by an earlier package is
 * replaced (the later package wins) and a warning names both; a directory
 * replaced by a non-directory, or the reverse, is an error.
 * label names the package in messages and must outlive the tree.
 */
errint_t cfs_tree_add_package(struct cfs_tree *t, int64_t pkg_id, const char *label,
			      const struct cfs_package *p, struct cfs_err *err);

/* Adds a regular file that belongs to no package (conda-meta/history). */
errint_t cfs_tree_add_file(struct cfs_tree *t, const char *path, uint32_t perm,
			   int64_t mtime, const uint8_t digest[CFS_SHA256_LEN],
			   uint64_t size, uint64_t csize, struct cfs_err *err);

/*
 * Decides whether path (owned by package pkg, 0 for none) is pruned: returns
 * the id of the deciding rule (0: no rule) and sets *prune.
 */
typedef int64_t (*cfs_prune_fn)(void *ctx, const char *path, int64_t pkg, bool *prune);
void cfs_tree_set_prune(struct cfs_tree *t, cfs_prune_fn fn, void *ctx);

/*
 * Creates missing parent directories, checks that every parent is a
 * directory, assigns inode numbers (root = 1, then sorted by path) and
 * writes nodes and objects to db.  With a prune function, each node records
 * its deciding rule; a directory is a tombstone only if its own rule prunes
 * it and nothing below it is kept.
 */
errint_t cfs_tree_write(struct cfs_tree *t, struct cfs_db *db, struct cfs_err *err);

/*
 * After cfs_tree_write(): true if path is a served (not pruned) regular
 * file that package pkg installed (0: no package); *digest then points at
 * its digest (valid while t lives) and *csize is its compressed size.
 */
bool cfs_tree_served_file(struct cfs_tree *t, const char *path, int64_t pkg,
			  const uint8_t **digest, uint64_t *csize);

/* After cfs_tree_write(): calls fn for each served regular file that no
 * package installed (conda-meta/history), in path order. */
typedef errint_t (*cfs_tree_file_fn)(void *ctx, const uint8_t *digest, uint64_t csize);
errint_t cfs_tree_foreach_unowned(struct cfs_tree *t, cfs_tree_file_fn fn, void *ctx);

#endif

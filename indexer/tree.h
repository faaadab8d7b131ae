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
 * Creates missing parent directories, checks that every parent is a
 * directory, assigns inode numbers (root = 1, then sorted by path) and
 * writes nodes and objects to db.
 */
errint_t cfs_tree_write(struct cfs_tree *t, struct cfs_db *db, struct cfs_err *err);

#endif

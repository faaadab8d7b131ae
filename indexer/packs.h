/* SPDX-License-Identifier: MIT */
/*
 * The packs an index lists (common/pack.h): one per installed package,
 * holding the objects of the package's served regular files in its install
 * order, each distinct object once in the environment (in the first
 * package that has it), and a last one for served files of no package
 * (conda-meta/history) that no package pack holds.
 */
#ifndef CFS_INDEX_PACKS_H
#define CFS_INDEX_PACKS_H

#include "db.h"
#include "package.h"
#include "store.h"
#include "tree.h"

struct cfs_index_packs {
	size_t packs;   /* listed in the index */
	size_t written; /* of them, new in the store (the others were there) */
	uint64_t bytes; /* sum of their sizes */
};

/*
 * After cfs_tree_write(tree, db): writes the packs into store and records
 * them in db (packs table, objects.pack and objects.pack_offset).
 */
errint_t cfs_index_write_packs(struct cfs_db *db, struct cfs_store *store, struct cfs_tree *tree,
			       const struct cfs_package *pkgs, size_t n_pkgs,
			       struct cfs_index_packs *res, struct cfs_err *err);

#endif

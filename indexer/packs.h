/* SPDX-License-Identifier: MIT */
/*
 * The packs an index lists (common/pack.h): one per installed package,
 * holding the objects of the package's served regular files, each distinct
 * object once in the environment (in the first package that has it), and a
 * last one for served files of no package (conda-meta/history) that no
 * package pack holds.
 *
 * A package's objects go in by heat (cfs_pack_heat), then in install
 * order: what a program loads when it starts first, so that the neighbours
 * a miss fetches, and a pack streamed from its start, bring what the
 * program opens next; what it almost never reads last.
 */
#ifndef CFS_INDEX_PACKS_H
#define CFS_INDEX_PACKS_H

#include "db.h"
#include "package.h"
#include "store.h"
#include "tree.h"

enum cfs_pack_heat {
	CFS_HEAT_HOT,  /* bytecode (not -O), programs in bin/, shared libraries, .pth */
	CFS_HEAT_WARM, /* the rest */
	CFS_HEAT_COLD, /* Python sources of a package with bytecode, -O bytecode, headers, static
			* libraries, tests, documentation, conda-meta */
};

/*
 * The heat of a file at path (relative to the prefix), in a package that
 * has bytecode (any __pycache__/ file) or not: without bytecode, Python
 * reads the sources.
 */
enum cfs_pack_heat cfs_pack_heat(const char *path, bool bytecode);

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

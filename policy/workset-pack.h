/* SPDX-License-Identifier: MIT */
/*
 * A working set's pack (common/pack.h): the objects of the regular files a
 * working set lists, in the order a profiled application first opened
 * them, in one file of the store, so that a mount fetches them with one
 * request.  The working set records it as its "pack" member:
 *
 *   "pack": {"name": "packs/<hex>.pack", "size": N, "lock_sha256": "<hex>",
 *            "objects": [["<64 hex digest>", <offset>, <csize>], ...]}
 *
 * lock_sha256 is the index's: the pack fits the environment of that lock.
 */
#ifndef CFS_WORKSET_PACK_H
#define CFS_WORKSET_PACK_H

#include "db.h"
#include "pack.h"

struct cfs_ws_pack_opts {
	const char *workset;        /* rewritten atomically with its "pack" member */
	char *const *traces;        /* their "open" lines give the order */
	size_t n_traces;
	const char *store;          /* a store directory; NULL: the index's meta store */
};

struct cfs_ws_pack_result {
	size_t objects;
	uint64_t bytes;
	bool written;               /* false: the store had the pack already */
	char name[CFS_PACK_RELPATH_LEN];
};

/*
 * Packs the objects of the files the working set lists that db serves
 * (each once): first those the traces' "open" lines name, in the order of
 * their first line (traces in the order given), then the others in the
 * working set's entry order.  Writes the pack into the store, makes it
 * durable, then records it in the working set.
 */
errint_t cfs_workset_pack(struct cfs_db *db, const struct cfs_ws_pack_opts *o,
			  struct cfs_ws_pack_result *res, struct cfs_err *err);

#endif

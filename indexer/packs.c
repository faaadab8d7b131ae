/* SPDX-License-Identifier: MIT */
#include "packs.h"

#include <string.h>
#include <sys/stat.h>

#include "pack.h"

struct packer {
	struct cfs_db *db;
	struct cfs_store *store;
	struct cfs_digest_set seen;
	struct cfs_pack pack;
	struct cfs_index_packs *res;
	struct cfs_err *err;
};

static errint_t add(void *ctx, const uint8_t *digest, uint64_t csize)
{
	struct packer *k = ctx;

	if (cfs_digest_set_add(&k->seen, digest))
		cfs_pack_add(&k->pack, digest, csize);
	return 0;
}

/* Writes and records the pack being built (if it has entries) for package pkg. */
static errint_t flush(struct packer *k, int64_t pkg)
{
	struct cfs_pack *p = &k->pack;
	int64_t id = (int64_t)k->res->packs + 1;
	bool written;
	int r = 0;

	if (!p->n)
		return 0;
	cfs_pack_finish(p);
	r = cfs_store_write_pack(k->store, p, &written, k->err);
	if (r < 0) {
		cfs_pack_release(p);
		return r;
	}
	r = cfs_db_add_pack(k->db, id, p->name, p->size, pkg);
	for (size_t i = 0; i < p->n && r == 0; i++)
		r = cfs_db_set_object_pack(k->db, p->entries[i].digest, id, p->entries[i].offset);
	if (r < 0) {
		cfs_err_set(k->err, -r, "%s: cannot write index", cfs_db_path(k->db));
	} else {
		k->res->packs++;
		k->res->written += written;
		k->res->bytes += p->size;
	}
	cfs_pack_release(p);
	return r;
}

/* Ends with suffix. */
static bool ends(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

enum cfs_pack_heat cfs_pack_heat(const char *path, bool bytecode)
{
	size_t len = strlen(path);
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	/* Bytecode: what Python reads instead of the sources beside it. */
	if (strstr(path, "__pycache__/") && ends(path, len, ".pyc"))
		return strstr(base, ".opt-") ? CFS_HEAT_COLD : CFS_HEAT_HOT;
	if (strncmp(path, "bin/", 4) == 0 || ends(path, len, ".so") || strstr(base, ".so.") ||
	    ends(path, len, ".pth"))
		return CFS_HEAT_HOT;
	if ((bytecode && ends(path, len, ".py")) || ends(path, len, ".pyi") || ends(path, len, ".a") ||
	    ends(path, len, ".la") || ends(path, len, ".h") || ends(path, len, ".hpp") ||
	    strncmp(path, "include/", 8) == 0 || strncmp(path, "conda-meta/", 11) == 0 ||
	    strncmp(path, "share/doc/", 10) == 0 || strncmp(path, "share/man/", 10) == 0 ||
	    strncmp(path, "share/info/", 11) == 0 || strstr(path, "/tests/") ||
	    strstr(path, "/test/"))
		return CFS_HEAT_COLD;
	return CFS_HEAT_WARM;
}

errint_t cfs_index_write_packs(struct cfs_db *db, struct cfs_store *store, struct cfs_tree *tree,
			       const struct cfs_package *pkgs, size_t n_pkgs,
			       struct cfs_index_packs *res, struct cfs_err *err)
{
	struct packer k = { .db = db, .store = store, .res = res, .err = err };
	int r = 0;

	memset(res, 0, sizeof(*res));
	for (size_t i = 0; i < n_pkgs && r == 0; i++) {
		const struct cfs_package *p = &pkgs[i];
		bool bytecode = false;

		for (size_t e = 0; e < p->n_entries && !bytecode; e++)
			bytecode = strstr(p->entries[e].path, "__pycache__/") != NULL;
		for (int heat = CFS_HEAT_HOT; heat <= CFS_HEAT_COLD; heat++)
			for (size_t e = 0; e < p->n_entries; e++) {
				const uint8_t *digest;
				uint64_t csize;

				if (S_ISREG(p->entries[e].mode) &&
				    cfs_pack_heat(p->entries[e].path, bytecode) == (enum cfs_pack_heat)heat &&
				    cfs_tree_served_file(tree, p->entries[e].path, (int64_t)i + 1,
							 &digest, &csize))
					add(&k, digest, csize);
			}
		r = flush(&k, (int64_t)i + 1);
	}
	if (r == 0)
		r = cfs_tree_foreach_unowned(tree, add, &k);
	if (r == 0)
		r = flush(&k, 0);
	cfs_pack_release(&k.pack);
	cfs_digest_set_release(&k.seen);
	return r;
}

/* SPDX-License-Identifier: MIT */
/*
 * Where objects sit in packs (docs/store.md): the index's packs, one per
 * package with its objects in install order (index format 3), and a
 * working set's pack, its objects in first-access order (`condafs pack`).
 * A pack is the plain concatenation of the objects' compressed files, so
 * a byte range of it is a run of whole objects, each verified on its own.
 *
 * Entries are kept sorted by (pack, offset): an object's neighbours in its
 * pack are the next array elements.  A hash of the digests finds the index
 * pack's entry of an object; a working set's pack is only streamed in
 * order (prefetch.c), never looked up.
 */
#include <jansson.h>
#include <sqlite3.h>
#include <string.h>

#include "db.h"
#include "fs-internal.h"
#include "log.h"
#include "pack.h"

static void stmt_finalizep(sqlite3_stmt **st)
{
	sqlite3_finalize(*st);
}
#define cleanup_stmt __attribute__((cleanup(stmt_finalizep)))

static uint32_t pack_add(struct cfs_packmap *m, const char *name, uint64_t size)
{
	cfs_grow(&m->packs, m->n_packs, &m->alloc_packs, sizeof(*m->packs), 16);
	m->packs[m->n_packs].name = cfs_xstrdup(name);
	m->packs[m->n_packs].size = size;
	atomic_init(&m->packs[m->n_packs].missing, false);
	atomic_init(&m->packs[m->n_packs].streamed, false);
	atomic_init(&m->packs[m->n_packs].fd, -1);
	m->packs[m->n_packs].package = 0;
	return (uint32_t)m->n_packs++;
}

/* By (pack, offset). */
static int cmp_place(const void *a, const void *b)
{
	const struct cfs_packmap_entry *x = a, *y = b;

	if (x->pack != y->pack)
		return x->pack < y->pack ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static struct cfs_packmap_entry *entry_add(struct cfs_packmap *m)
{
	cfs_grow(&m->entries, m->n_entries, &m->alloc_entries, sizeof(*m->entries), 1024);
	return memset(&m->entries[m->n_entries++], 0, sizeof(*m->entries));
}

static uint32_t digest_hash(const uint8_t *digest)
{
	uint32_t h;

	memcpy(&h, digest, sizeof(h));
	return h;
}

/* Hashes the index packs' entries [0, n) by digest. */
static void build_hash(struct cfs_packmap *m, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n)
		cap *= 2;
	m->hash = cfs_xcalloc(cap, sizeof(*m->hash));
	m->hash_mask = cap - 1;
	for (size_t i = 0; i < n; i++) {
		size_t slot = digest_hash(m->entries[i].digest) & m->hash_mask;

		while (m->hash[slot])
			slot = (slot + 1) & m->hash_mask;
		m->hash[slot] = (uint32_t)i + 1;
	}
}

/*
 * The depends table, as the packs of each package's dependencies (indexes
 * written before it have none: nothing is fetched ahead by it).
 */
static errint_t load_depends(struct cfs_packmap *m, sqlite3 *h, const char *index,
			     struct cfs_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	uint32_t *pack_of_pkg;
	size_t n = 0, alloc = 0, max_pkg = 0;
	int rc;

	for (size_t i = 1; i < m->n_packs; i++)
		if (m->packs[i].package > max_pkg)
			max_pkg = m->packs[i].package;
	if (!max_pkg || max_pkg > 10000000 ||
	    sqlite3_prepare_v2(h, "SELECT package, on_package FROM depends"
					   " ORDER BY package", -1, &st, NULL) != SQLITE_OK)
		return 0;
	pack_of_pkg = cfs_xcalloc(max_pkg + 1, sizeof(*pack_of_pkg));
	for (size_t i = 1; i < m->n_packs; i++)
		if (m->packs[i].package)
			pack_of_pkg[m->packs[i].package] = (uint32_t)i;
	m->n_pkgs = max_pkg + 1;
	m->dep_start = cfs_xcalloc(m->n_pkgs + 1, sizeof(*m->dep_start));
	m->touched = cfs_xcalloc(m->n_pkgs, sizeof(*m->touched));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_int64 pkg = sqlite3_column_int64(st, 0), on = sqlite3_column_int64(st, 1);

		if (pkg < 1 || (size_t)pkg > max_pkg || on < 1 || (size_t)on > max_pkg ||
		    !pack_of_pkg[on])
			continue; /* a package without files, or not installed */
		cfs_grow(&m->dep_at, n, &alloc, sizeof(*m->dep_at), 64);
		m->dep_at[n++] = pack_of_pkg[on];
		m->dep_start[pkg + 1]++;
	}
	free(pack_of_pkg);
	if (rc != SQLITE_DONE)
		return cfs_err_set(err, EIO, "%s: %s", index, sqlite3_errmsg(h));
	for (size_t i = 0; i < m->n_pkgs; i++)
		m->dep_start[i + 1] += m->dep_start[i];
	return 0;
}

errint_t cfs_packmap_load(struct cfs_packmap *m, const char *index, bool ordered,
			  struct cfs_err *err)
{
	cleanup_db struct cfs_db *db = NULL;
	cleanup_stmt sqlite3_stmt *pk = NULL;
	cleanup_stmt sqlite3_stmt *ob = NULL;
	uint32_t *pack_of_id = NULL;
	sqlite3_int64 max_id = 0;
	sqlite3 *h;
	int r, rc;

	memset(m, 0, sizeof(*m));
	if ((r = cfs_db_open(index, &db, err)) < 0)
		return r;
	h = cfs_db_handle(db);
	/* Index format 2 has no packs: every object is fetched alone. */
	if (sqlite3_prepare_v2(h, "SELECT id, name, size, (SELECT max(id) FROM packs), package"
			       " FROM packs ORDER BY id", -1, &pk, NULL) != SQLITE_OK)
		return 0;
	while ((rc = sqlite3_step(pk)) == SQLITE_ROW) {
		sqlite3_int64 id = sqlite3_column_int64(pk, 0);
		const char *name = (const char *)sqlite3_column_text(pk, 1);

		if (!pack_of_id) {
			max_id = sqlite3_column_int64(pk, 3);
			if (max_id < 1 || max_id > 10000000)
				return cfs_err_set(err, EINVAL, "%s: corrupt index: pack ids up to %lld",
						   index, (long long)max_id);
			pack_of_id = cfs_xcalloc((size_t)max_id + 1, sizeof(*pack_of_id));
			pack_add(m, "", 0); /* 0: no pack */
		}
		if (id < 1 || id > max_id || !name || !cfs_pack_name_valid(name))
			return cfs_err_set(err, EINVAL, "%s: corrupt index: pack %lld: bad name",
					   index, (long long)id);
		pack_of_id[id] = pack_add(m, name, (uint64_t)sqlite3_column_int64(pk, 2));
		if (sqlite3_column_int64(pk, 4) > 0 && sqlite3_column_int64(pk, 4) < UINT32_MAX)
			m->packs[pack_of_id[id]].package = (uint32_t)sqlite3_column_int64(pk, 4);
	}
	if (rc != SQLITE_DONE) {
		free(pack_of_id);
		return cfs_err_set(err, EIO, "%s: %s", index, sqlite3_errmsg(h));
	}
	if (!pack_of_id)
		return 0;
	/* In table order, sorted here: sqlite's sort took most of a mount's time. */
	if (sqlite3_prepare_v2(h, "SELECT digest, size, csize, pack, pack_offset FROM objects"
			       " WHERE pack IS NOT NULL",
			       -1, &ob, NULL) != SQLITE_OK) {
		free(pack_of_id);
		return cfs_err_set(err, EIO, "%s: %s", index, sqlite3_errmsg(h));
	}
	while ((rc = sqlite3_step(ob)) == SQLITE_ROW) {
		sqlite3_int64 pack = sqlite3_column_int64(ob, 3);
		sqlite3_int64 off = sqlite3_column_int64(ob, 4);
		sqlite3_int64 csize = sqlite3_column_int64(ob, 2);
		struct cfs_packmap_entry *e;

		if (sqlite3_column_bytes(ob, 0) != CFS_SHA256_LEN || pack < 1 || pack > max_id ||
		    !pack_of_id[pack] || off < 0 || csize <= 0 ||
		    (uint64_t)off + (uint64_t)csize > m->packs[pack_of_id[pack]].size) {
			free(pack_of_id);
			return cfs_err_set(err, EINVAL, "%s: corrupt index: an object's place in "
					   "pack %lld is out of bounds", index, (long long)pack);
		}
		e = entry_add(m);
		memcpy(e->digest, sqlite3_column_blob(ob, 0), CFS_SHA256_LEN);
		e->size = (uint64_t)sqlite3_column_int64(ob, 1);
		e->csize = (uint64_t)csize;
		e->offset = (uint64_t)off;
		e->pack = pack_of_id[pack];
	}
	free(pack_of_id);
	if (rc != SQLITE_DONE)
		return cfs_err_set(err, EIO, "%s: %s", index, sqlite3_errmsg(h));
	if (ordered)
		qsort(m->entries, m->n_entries, sizeof(*m->entries), cmp_place);
	m->ordered = ordered;
	m->n_index_entries = m->n_entries;
	build_hash(m, m->n_entries);
	return ordered ? load_depends(m, h, index, err) : 0;
}

size_t cfs_packmap_pack_first(const struct cfs_packmap *m, uint32_t pack)
{
	size_t lo = 0, hi = m->n_index_entries;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->entries[mid].pack < pack)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* "pack": {"name", "size", "objects": [[hex, offset, csize], ...]} of a working set. */
errint_t cfs_packmap_add_workset(struct cfs_packmap *m, const struct cfs_tree *tree,
				 const char *file, size_t *first, size_t *count,
				 struct cfs_err *err)
{
	json_error_t jerr;
	json_t *root = json_load_file(file, 0, &jerr), *pack, *objs, *item;
	const char *name;
	uint64_t size, end = 0;
	uint32_t id;
	size_t i;
	int r = 0;

	*first = *count = 0;
	if (!root)
		return cfs_err_set(err, EINVAL, "%s: %s", file, jerr.text);
	pack = json_object_get(root, "pack");
	if (!pack) {
		json_decref(root);
		return 0;
	}
	name = json_string_value(json_object_get(pack, "name"));
	size = (uint64_t)json_integer_value(json_object_get(pack, "size"));
	objs = json_object_get(pack, "objects");
	if (!name || !cfs_pack_name_valid(name) || !json_is_array(objs)) {
		json_decref(root);
		return cfs_err_set(err, EINVAL, "%s: \"pack\" needs a name packs/<sha256>.pack "
				   "and an objects array", file);
	}
	{
		const char *ws_lock = json_string_value(json_object_get(pack, "lock_sha256"));
		if (ws_lock && tree->lock_sha256 && *tree->lock_sha256 &&
		    strcmp(ws_lock, tree->lock_sha256) != 0)
			cfs_warn("%s: its pack was made for another lock (%.12s, the index's is "
				 "%.12s); objects the index does not use are skipped", file, ws_lock,
				 tree->lock_sha256);
	}
	if (!m->n_packs)
		pack_add(m, "", 0);
	id = pack_add(m, name, size);
	*first = m->n_entries;
	json_array_foreach(objs, i, item) {
		const char *hex = json_string_value(json_array_get(item, 0));
		json_int_t off = json_integer_value(json_array_get(item, 1));
		json_int_t csize = json_integer_value(json_array_get(item, 2));
		struct cfs_packmap_entry e = { .pack = id };

		if (!hex || strlen(hex) != 2 * CFS_SHA256_LEN ||
		    cfs_unhex(hex, e.digest, CFS_SHA256_LEN) < 0 || off < 0 || csize <= 0 ||
		    (uint64_t)off < end || (uint64_t)off + (uint64_t)csize > size) {
			r = cfs_err_set(err, EINVAL, "%s: \"pack\" object %zu: bad digest, offset "
					"or size", file, i);
			break;
		}
		e.offset = (uint64_t)off;
		e.csize = (uint64_t)csize;
		end = e.offset + e.csize;
		*entry_add(m) = e;
	}
	json_decref(root);
	if (r < 0) {
		m->n_entries = *first;
		return r;
	}
	*count = m->n_entries - *first;
	return 0;
}

const struct cfs_packmap_entry *cfs_packmap_find(const struct cfs_packmap *m,
					      const uint8_t digest[CFS_SHA256_LEN])
{
	size_t slot;

	if (!m->hash)
		return NULL;
	for (slot = digest_hash(digest) & m->hash_mask; m->hash[slot];
	     slot = (slot + 1) & m->hash_mask) {
		const struct cfs_packmap_entry *e = &m->entries[m->hash[slot] - 1];
		if (memcmp(e->digest, digest, CFS_SHA256_LEN) == 0)
			return e;
	}
	return NULL;
}

void cfs_packmap_release(struct cfs_packmap *m)
{
	for (size_t i = 0; i < m->n_packs; i++) {
		int fd = atomic_load(&m->packs[i].fd);
		if (fd >= 0)
			close(fd);
		free(m->packs[i].name);
	}
	free(m->packs);
	free(m->entries);
	free(m->hash);
	free(m->dep_start);
	free(m->dep_at);
	free(m->touched);
	memset(m, 0, sizeof(*m));
}

/* SPDX-License-Identifier: MIT */
/*
 * The index's nodes in compact arrays: one struct cfs_inode per ino, the
 * children of every directory in one array sorted by name, and all names
 * and symlink targets in one string pool.  About 52 bytes per node plus
 * its name, so 50,000 files take a few megabytes.  Pruned nodes
 * (tombstones) are loaded too, flagged: whether they are served is the
 * mount's choice (access.c).
 */
#include <sqlite3.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "fs-internal.h"

_Static_assert(sizeof(struct cfs_inode) == 48, "struct cfs_inode grew");

static void stmt_finalizep(sqlite3_stmt **st)
{
	sqlite3_finalize(*st);
}
#define cleanup_stmt __attribute__((cleanup(stmt_finalizep)))

/* Appends s and its NUL to the pool; returns its offset. */
static errint_t pool_add(struct cfs_buf *pool, const char *s, uint32_t *off)
{
	if (pool->len > UINT32_MAX - strlen(s) - 1)
		return -EFBIG;
	*off = (uint32_t)pool->len;
	return cfs_buf_add(pool, s, strlen(s) + 1);
}

static errint_t corrupt(const char *path, struct cfs_err *err, const char *what, uint64_t ino)
{
	return cfs_err_set(err, EINVAL, "%s: corrupt index: node %llu: %s", path,
			   (unsigned long long)ino, what);
}

static int cmp_kid(const void *a, const void *b, void *ctx)
{
	const struct cfs_tree *t = ctx;

	return strcmp(cfs_tree_str(t, t->nodes[*(const uint32_t *)a].name),
		      cfs_tree_str(t, t->nodes[*(const uint32_t *)b].name));
}

/*
 * Each directory's children into t->kids, sorted by name as
 * cfs_tree_lookup wants them (strcmp, which is SQLite's BINARY order).
 */
static errint_t link_kids(struct cfs_tree *t, const char *path, struct cfs_err *err)
{
	uint32_t n_kids = 0;

	for (uint32_t i = CFS_ROOT_INO + 1; i < t->n_nodes; i++)
		if (t->nodes[i].mode)
			t->nodes[t->nodes[i].parent].count++;
	for (uint32_t i = CFS_ROOT_INO; i < t->n_nodes; i++) {
		struct cfs_inode *n = &t->nodes[i];

		if (!n->count)
			continue;
		if (!S_ISDIR(n->mode))
			return corrupt(path, err, "has children but is not a directory", i);
		n->data = n_kids;
		n_kids += n->count;
		n->count = 0;
	}
	for (uint32_t i = CFS_ROOT_INO + 1; i < t->n_nodes; i++) {
		struct cfs_inode *dir = &t->nodes[t->nodes[i].parent];

		if (t->nodes[i].mode)
			t->kids[dir->data + dir->count++] = i;
	}
	for (uint32_t i = CFS_ROOT_INO; i < t->n_nodes; i++) {
		const struct cfs_inode *n = &t->nodes[i];
		uint32_t *kids = t->kids + n->data;

		if (n->count < 2)
			continue;
		qsort_r(kids, n->count, sizeof(*kids), cmp_kid, t);
		for (uint32_t k = 1; k < n->count; k++)
			if (cmp_kid(&kids[k - 1], &kids[k], t) == 0)
				return corrupt(path, err, "a second entry of that name", kids[k]);
	}
	return 0;
}

/*
 * Every node, in ino order: the table's own order, so that a cold index is
 * read front to back (through the (parent, name) index it would be read in
 * random order, page by page).  Children are linked afterwards.
 */
static errint_t load_rows(struct cfs_tree *t, sqlite3 *h, const char *path,
			  struct cfs_buf *pool, struct cfs_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	size_t n_digests = 0, digests_alloc = 0;
	int rc;

	if (sqlite3_prepare_v2(h, "SELECT ino, parent, name, mode, size, mtime, mtime_nsec,"
			       " digest, target, package, rule, pruned FROM nodes"
			       " ORDER BY ino", -1, &st, NULL))
		return cfs_err_set(err, EIO, "%s: %s", path, sqlite3_errmsg(h));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_int64 ino = sqlite3_column_int64(st, 0);
		sqlite3_int64 parent = sqlite3_column_int64(st, 1);
		const char *name = (const char *)sqlite3_column_text(st, 2);
		const void *digest = sqlite3_column_blob(st, 7);
		const char *target = (const char *)sqlite3_column_text(st, 8);
		sqlite3_int64 package = sqlite3_column_int64(st, 9);
		sqlite3_int64 rule = sqlite3_column_int64(st, 10);
		struct cfs_inode *n;

		if (ino < CFS_ROOT_INO || ino >= t->n_nodes || parent < 0 || parent >= t->n_nodes)
			return corrupt(path, err, "ino out of range", (uint64_t)ino);
		n = &t->nodes[ino];
		n->mode = (uint32_t)sqlite3_column_int64(st, 3);
		n->size = (uint64_t)sqlite3_column_int64(st, 4);
		n->mtime = sqlite3_column_int64(st, 5);
		n->mtime_nsec = (uint32_t)sqlite3_column_int64(st, 6) % 1000000000u;
		n->parent = (uint32_t)parent;
		n->rule = rule > 0 && rule <= UINT16_MAX ? (uint16_t)rule : 0;
		if (sqlite3_column_int64(st, 11))
			n->flags |= CFS_INODE_PRUNED;
		t->package[ino] = package > 0 && package < t->n_pkgs ? (uint32_t)package : 0;
		if (!name || pool_add(pool, name, &n->name) < 0)
			return corrupt(path, err, "bad name", (uint64_t)ino);
		if ((parent == 0) != (ino == CFS_ROOT_INO) || (parent && (!*name || strchr(name, '/'))))
			return corrupt(path, err, "bad name or parent", (uint64_t)ino);
		if (S_ISREG(n->mode)) {
			n->data = CFS_NO_DIGEST;
			if (digest && sqlite3_column_bytes(st, 7) == CFS_SHA256_LEN) {
				if (n_digests == digests_alloc) {
					digests_alloc = digests_alloc ? 2 * digests_alloc : 1024;
					t->digests = cfs_xrealloc(t->digests,
								  digests_alloc * CFS_SHA256_LEN);
				}
				memcpy(t->digests[n_digests], digest, CFS_SHA256_LEN);
				n->data = (uint32_t)n_digests++;
			} else if (n->size) {
				return corrupt(path, err, "file without digest", (uint64_t)ino);
			}
		} else if (S_ISLNK(n->mode)) {
			if (!target || pool_add(pool, target, &n->data) < 0)
				return corrupt(path, err, "symlink without target", (uint64_t)ino);
			n->size = strlen(target);
		} else if (!S_ISDIR(n->mode)) {
			return corrupt(path, err, "unsupported file type", (uint64_t)ino);
		}
	}
	if (rc != SQLITE_DONE)
		return cfs_err_set(err, EIO, "%s: %s", path, sqlite3_errmsg(h));
	t->digests = cfs_xrealloc(t->digests, (n_digests ? n_digests : 1) * CFS_SHA256_LEN);
	if (!S_ISDIR(t->nodes[CFS_ROOT_INO].mode))
		return corrupt(path, err, "root is not a directory", CFS_ROOT_INO);
	t->nodes[CFS_ROOT_INO].flags &= (uint8_t)~CFS_INODE_PRUNED; /* never pruned */
	return 0;
}

/*
 * Package names by packages.id and rules by rules.id, into the pool.  Ids
 * are small and dense (install order, rule order); others are ignored.
 */
static errint_t load_names(struct cfs_tree *t, sqlite3 *h, const char *path,
			   struct cfs_buf *pool, struct cfs_err *err)
{
	cleanup_stmt sqlite3_stmt *pk = NULL;
	cleanup_stmt sqlite3_stmt *ru = NULL;
	sqlite3_int64 max_pkg = 0, max_rule = 0;
	int rc;

	if (sqlite3_prepare_v2(h, "SELECT id, name, (SELECT max(id) FROM packages)"
			       " FROM packages ORDER BY id", -1, &pk, NULL) ||
	    sqlite3_prepare_v2(h, "SELECT id, origin, text, (SELECT max(id) FROM rules)"
			       " FROM rules ORDER BY id", -1, &ru, NULL))
		return cfs_err_set(err, EIO, "%s: %s", path, sqlite3_errmsg(h));
	while ((rc = sqlite3_step(pk)) == SQLITE_ROW) {
		sqlite3_int64 id = sqlite3_column_int64(pk, 0);
		const char *name = (const char *)sqlite3_column_text(pk, 1);

		if (!t->pkg_name) {
			max_pkg = sqlite3_column_int64(pk, 2);
			if (max_pkg < 0 || max_pkg > 1000000)
				max_pkg = 0;
			t->n_pkgs = (uint32_t)max_pkg + 1;
			t->pkg_name = cfs_xcalloc(t->n_pkgs, sizeof(*t->pkg_name));
		}
		if (id > 0 && id < t->n_pkgs && name && pool_add(pool, name, &t->pkg_name[id]) < 0)
			return -EFBIG;
	}
	if (rc != SQLITE_DONE)
		return cfs_err_set(err, EIO, "%s: %s", path, sqlite3_errmsg(h));
	while ((rc = sqlite3_step(ru)) == SQLITE_ROW) {
		sqlite3_int64 id = sqlite3_column_int64(ru, 0);
		const char *origin = (const char *)sqlite3_column_text(ru, 1);
		const char *text = (const char *)sqlite3_column_text(ru, 2);

		if (!t->rules) {
			max_rule = sqlite3_column_int64(ru, 3);
			if (max_rule < 0 || max_rule > UINT16_MAX)
				max_rule = UINT16_MAX;
			t->n_rules = (uint32_t)max_rule + 1;
			t->rules = cfs_xcalloc(t->n_rules, sizeof(*t->rules));
		}
		if (id > 0 && id < t->n_rules && origin && text &&
		    (pool_add(pool, origin, &t->rules[id].origin) < 0 ||
		     pool_add(pool, text, &t->rules[id].text) < 0))
			return -EFBIG;
	}
	if (rc != SQLITE_DONE)
		return cfs_err_set(err, EIO, "%s: %s", path, sqlite3_errmsg(h));
	return 0;
}

static char *meta_or_empty(struct cfs_db *db, const char *key)
{
	char *v = NULL;

	if (cfs_db_get_meta(db, key, &v) < 0)
		return cfs_xstrdup("");
	return v;
}

errint_t cfs_tree_load(struct cfs_tree *t, const char *path, struct cfs_err *err)
{
	cleanup_db struct cfs_db *db = NULL;
	cleanup_stmt sqlite3_stmt *st = NULL;
	struct cfs_buf pool;
	sqlite3_int64 max_ino, count;
	sqlite3 *h;
	int r;

	memset(t, 0, sizeof(*t));
	r = cfs_db_open(path, &db, err);
	if (r < 0)
		return r;
	h = cfs_db_handle(db);
	if (sqlite3_prepare_v2(h, "SELECT max(ino), count(*) FROM nodes", -1, &st, NULL) ||
	    sqlite3_step(st) != SQLITE_ROW)
		return cfs_err_set(err, EIO, "%s: %s", path, sqlite3_errmsg(h));
	max_ino = sqlite3_column_int64(st, 0);
	count = sqlite3_column_int64(st, 1);
	/* inos are dense from 1; allow small holes, not a sparse numbering. */
	if (count < 1 || max_ino < count || max_ino > 2 * count + 64 || max_ino >= UINT32_MAX)
		return cfs_err_set(err, EINVAL, "%s: corrupt index: %lld nodes numbered up to %lld",
				   path, (long long)count, (long long)max_ino);
	t->n_nodes = (uint32_t)max_ino + 1;
	t->nodes = cfs_xcalloc(t->n_nodes, sizeof(*t->nodes));
	t->kids = cfs_xcalloc((size_t)count, sizeof(*t->kids));
	cfs_buf_init(&pool, UINT32_MAX);
	cfs_buf_add(&pool, "", 1); /* offset 0: the empty name */
	t->package = cfs_xcalloc(t->n_nodes, sizeof(*t->package));
	r = load_names(t, h, path, &pool, err);
	if (r == -EFBIG)
		r = cfs_err_set(err, EFBIG, "%s: too many names", path);
	if (r == 0)
		r = load_rows(t, h, path, &pool, err);
	t->pool = cfs_buf_steal(&pool, NULL);
	if (r == 0 && (r = link_kids(t, path, err)) == 0)
		cfs_tree_recount(t);
	if (r == 0 && cfs_db_get_meta(db, "store", &t->store) < 0)
		t->store = NULL;
	if (r == 0) {
		t->prefix = meta_or_empty(db, "prefix");
		t->lock_sha256 = meta_or_empty(db, "lock_sha256");
	}
	if (r < 0)
		cfs_tree_release(t);
	return r;
}

void cfs_tree_release(struct cfs_tree *t)
{
	free(t->nodes);
	free(t->kids);
	free(t->pool);
	free(t->digests);
	free(t->package);
	free(t->pkg_name);
	free(t->rules);
	free(t->store);
	free(t->prefix);
	free(t->lock_sha256);
	memset(t, 0, sizeof(*t));
}

const struct cfs_inode *cfs_tree_get(const struct cfs_tree *t, uint64_t ino)
{
	if (ino < CFS_ROOT_INO || ino >= t->n_nodes || t->nodes[ino].mode == 0)
		return NULL;
	return &t->nodes[ino];
}

uint32_t cfs_tree_lookup(const struct cfs_tree *t, const struct cfs_inode *dir,
			 const char *name)
{
	const uint32_t *kids = t->kids + dir->data;
	size_t lo = 0, hi = dir->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, cfs_tree_str(t, t->nodes[kids[mid]].name));
		if (c == 0)
			return kids[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

void cfs_tree_path(const struct cfs_tree *t, uint32_t ino, char *buf, size_t len)
{
	const char *parts[256];
	size_t n = 0, pos = 0;

	while (ino > CFS_ROOT_INO && ino < t->n_nodes && n < CFS_ARRAY_SIZE(parts)) {
		parts[n++] = cfs_tree_str(t, t->nodes[ino].name);
		ino = t->nodes[ino].parent;
	}
	buf[0] = '\0';
	while (n-- > 0 && pos < len) {
		int w = snprintf(buf + pos, len - pos, "%s%s", pos ? "/" : "", parts[n]);
		if (w < 0)
			break;
		pos += (size_t)w;
	}
}

uint32_t cfs_tree_resolve(const struct cfs_tree *t, const char *path)
{
	char name[256];
	uint32_t ino = CFS_ROOT_INO;

	while (*path) {
		const char *end = strchrnul(path, '/');
		size_t len = (size_t)(end - path);

		if (len >= sizeof(name) || !S_ISDIR(t->nodes[ino].mode))
			return 0;
		memcpy(name, path, len);
		name[len] = '\0';
		path = *end ? end + 1 : end;
		if (len == 0 || (len == 1 && name[0] == '.'))
			continue;
		if (!(ino = cfs_tree_lookup(t, &t->nodes[ino], name)))
			return 0;
	}
	return ino;
}

void cfs_tree_recount(struct cfs_tree *t)
{
	t->files = t->bytes = 0;
	t->inodes = 1; /* the root */
	for (uint32_t i = CFS_ROOT_INO; i < t->n_nodes; i++) {
		struct cfs_inode *n = &t->nodes[i];

		if (S_ISDIR(n->mode))
			n->subdirs = 0;
	}
	for (uint32_t i = CFS_ROOT_INO + 1; i < t->n_nodes; i++) {
		const struct cfs_inode *n = &t->nodes[i];

		if (!n->mode || (n->flags & CFS_INODE_HIDDEN))
			continue;
		t->inodes++;
		if (S_ISDIR(n->mode))
			t->nodes[n->parent].subdirs++;
		if (S_ISREG(n->mode)) {
			t->files++;
			t->bytes += n->size;
		}
	}
}

const struct cfs_tree_rule *cfs_tree_rule(const struct cfs_tree *t, uint32_t id)
{
	return id && id < t->n_rules && t->rules[id].origin ? &t->rules[id] : NULL;
}

const char *cfs_tree_package(const struct cfs_tree *t, uint32_t ino)
{
	uint32_t id = ino < t->n_nodes ? t->package[ino] : 0;

	return id && id < t->n_pkgs && t->pkg_name[id] ? cfs_tree_str(t, t->pkg_name[id]) : NULL;
}

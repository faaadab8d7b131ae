/* SPDX-License-Identifier: MIT */
#include "db.h"

#include <sqlite3.h>
#include <string.h>

#include "buf.h"

struct cfs_db {
	sqlite3 *h;
	char *path;
	bool writing;
	int version;
	sqlite3_stmt *ins_meta, *ins_pkg, *ins_node, *ins_obj, *ins_rule, *ins_pack, *set_pack;
	sqlite3_stmt *ins_dep;
	sqlite3_stmt *get_node, *lookup;
};

static const char schema_sql[] =
	"CREATE TABLE meta (\n"
	"  key TEXT PRIMARY KEY,\n"
	"  value TEXT NOT NULL\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE packages (\n"
	"  id INTEGER PRIMARY KEY,\n" /* install order, from 1 */
	"  name TEXT NOT NULL,\n"
	"  version TEXT NOT NULL,\n"
	"  build TEXT NOT NULL,\n"
	"  build_number TEXT,\n"
	"  subdir TEXT,\n"
	"  noarch TEXT,\n"
	"  channel TEXT,\n"
	"  url TEXT NOT NULL,\n"
	"  fn TEXT NOT NULL,\n"
	"  sha256 TEXT,\n"
	"  md5 TEXT,\n"
	"  size INTEGER NOT NULL DEFAULT 0,\n"
	"  manager TEXT NOT NULL,\n"
	"  status TEXT NOT NULL,\n" /* installed | skipped */
	"  file_count INTEGER NOT NULL DEFAULT 0,\n"
	"  bytes INTEGER NOT NULL DEFAULT 0,\n"
	"  link_scripts TEXT\n"
	");\n"
	"CREATE TABLE nodes (\n"
	"  ino INTEGER PRIMARY KEY,\n"
	"  parent INTEGER NOT NULL,\n"
	"  name TEXT NOT NULL,\n"
	"  mode INTEGER NOT NULL,\n"
	"  size INTEGER NOT NULL,\n"
	"  mtime INTEGER NOT NULL,\n"
	"  mtime_nsec INTEGER NOT NULL,\n"
	"  digest BLOB,\n"
	"  target TEXT,\n"
	"  package INTEGER,\n"
	"  rule INTEGER,\n" /* rules.id of the deciding prune rule */
	"  pruned INTEGER NOT NULL DEFAULT 0\n"
	");\n"
	"CREATE TABLE rules (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  origin TEXT NOT NULL,\n"
	"  text TEXT NOT NULL,\n"
	"  keep INTEGER NOT NULL\n"
	");\n"
	"CREATE TABLE packs (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  name TEXT NOT NULL,\n"      /* packs/<hex>.pack in the store */
	"  size INTEGER NOT NULL,\n"
	"  package INTEGER\n"          /* packages.id whose files it holds */
	");\n"
	"CREATE TABLE objects (\n"
	"  digest BLOB PRIMARY KEY,\n"
	"  size INTEGER NOT NULL,\n"
	"  csize INTEGER NOT NULL,\n"
	"  pack INTEGER,\n"            /* packs.id, or NULL */
	"  pack_offset INTEGER\n"      /* of the csize stored bytes in the pack */
	") WITHOUT ROWID;\n"
	"CREATE TABLE depends (\n"      /* indexes written before it lack it */
	"  package INTEGER NOT NULL,\n"  /* packages.id */
	"  on_package INTEGER NOT NULL,\n" /* packages.id of an installed dependency */
	"  PRIMARY KEY (package, on_package)\n"
	") WITHOUT ROWID;\n";

void cfs_node_release(struct cfs_node *n)
{
	free(n->name);
	free(n->target);
	n->name = n->target = NULL;
}

static errint_t db_err(struct cfs_db *db, struct cfs_err *err, const char *what)
{
	return cfs_err_set(err, EIO, "%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
}

static errint_t prepare(struct cfs_db *db, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK
		       ? 0 : -EIO;
}

static errint_t step_done(struct cfs_db *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "condafs: %s: %s\n", db->path, sqlite3_errmsg(db->h));
		return -EIO;
	}
	return 0;
}

errint_t cfs_db_create(const char *path, struct cfs_db **out, struct cfs_err *err)
{
	struct cfs_db *db = cfs_xcalloc(1, sizeof(*db));
	char version[16];

	db->path = cfs_xstrdup(path);
	db->writing = true;
	db->version = CFS_INDEX_VERSION;
	if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_EXCLUSIVE, NULL) != SQLITE_OK)
		goto fail;
	if (sqlite3_exec(db->h,
			 "PRAGMA page_size=4096; PRAGMA journal_mode=OFF;"
			 "PRAGMA synchronous=OFF; PRAGMA locking_mode=EXCLUSIVE;",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db->h, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db->h, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (prepare(db, "INSERT OR REPLACE INTO meta VALUES (?, ?)", &db->ins_meta) ||
	    prepare(db, "INSERT INTO packages VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
		    &db->ins_pkg) ||
	    prepare(db, "INSERT INTO nodes VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", &db->ins_node) ||
	    prepare(db, "INSERT INTO rules VALUES (?,?,?,?)", &db->ins_rule) ||
	    prepare(db, "INSERT OR IGNORE INTO objects (digest, size, csize) VALUES (?,?,?)",
		    &db->ins_obj) ||
	    prepare(db, "INSERT INTO packs VALUES (?,?,?,?)", &db->ins_pack) ||
	    prepare(db, "UPDATE objects SET pack = ?, pack_offset = ? WHERE digest = ?",
		    &db->set_pack) ||
	    prepare(db, "INSERT OR IGNORE INTO depends VALUES (?, ?)", &db->ins_dep))
		goto fail;
	snprintf(version, sizeof(version), "%d", CFS_INDEX_VERSION);
	if (cfs_db_set_meta(db, "format", "condafs-index") ||
	    cfs_db_set_meta(db, "format_version", version))
		goto fail;
	*out = db;
	return 0;
fail:;
	int r = db_err(db, err, "cannot create index");
	cfs_db_close(db);
	return r;
}

errint_t cfs_db_set_meta(struct cfs_db *db, const char *key, const char *value)
{
	sqlite3_bind_text(db->ins_meta, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(db->ins_meta, 2, value, -1, SQLITE_STATIC);
	return step_done(db, db->ins_meta);
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

errint_t cfs_db_add_package(struct cfs_db *db, const struct cfs_db_package *p)
{
	sqlite3_stmt *st = db->ins_pkg;
	const char *texts[] = { p->name, p->version, p->build, p->build_number, p->subdir,
				p->noarch, p->channel, p->url, p->fn, p->sha256, p->md5 };

	sqlite3_bind_int64(st, 1, p->id);
	for (size_t i = 0; i < CFS_ARRAY_SIZE(texts); i++)
		bind_text_or_null(st, (int)i + 2, texts[i]);
	sqlite3_bind_int64(st, 13, p->size);
	bind_text_or_null(st, 14, p->manager);
	bind_text_or_null(st, 15, p->status);
	sqlite3_bind_int64(st, 16, p->file_count);
	sqlite3_bind_int64(st, 17, p->bytes);
	bind_text_or_null(st, 18, p->link_scripts);
	return step_done(db, st);
}

errint_t cfs_db_add_node(struct cfs_db *db, const struct cfs_node *n)
{
	sqlite3_stmt *st = db->ins_node;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)n->ino);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)n->parent);
	sqlite3_bind_text(st, 3, n->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, n->mode);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)n->size);
	sqlite3_bind_int64(st, 6, n->mtime);
	sqlite3_bind_int64(st, 7, n->mtime_nsec);
	if (n->has_digest)
		sqlite3_bind_blob(st, 8, n->digest, CFS_SHA256_LEN, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 8);
	bind_text_or_null(st, 9, n->target);
	if (n->package)
		sqlite3_bind_int64(st, 10, n->package);
	else
		sqlite3_bind_null(st, 10);
	if (n->rule)
		sqlite3_bind_int64(st, 11, n->rule);
	else
		sqlite3_bind_null(st, 11);
	sqlite3_bind_int(st, 12, n->pruned);
	return step_done(db, st);
}

errint_t cfs_db_add_rule(struct cfs_db *db, int64_t id, const char *origin, const char *text,
			 bool keep)
{
	sqlite3_stmt *st = db->ins_rule;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, origin, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, keep);
	return step_done(db, st);
}

errint_t cfs_db_add_object(struct cfs_db *db, const uint8_t digest[CFS_SHA256_LEN],
			   uint64_t size, uint64_t csize)
{
	sqlite3_stmt *st = db->ins_obj;
	sqlite3_bind_blob(st, 1, digest, CFS_SHA256_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)csize);
	return step_done(db, st);
}

errint_t cfs_db_add_pack(struct cfs_db *db, int64_t id, const char *name, uint64_t size,
			 int64_t package)
{
	sqlite3_stmt *st = db->ins_pack;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)size);
	if (package)
		sqlite3_bind_int64(st, 4, package);
	else
		sqlite3_bind_null(st, 4);
	return step_done(db, st);
}

errint_t cfs_db_add_depends(struct cfs_db *db, int64_t package, int64_t on_package)
{
	sqlite3_bind_int64(db->ins_dep, 1, package);
	sqlite3_bind_int64(db->ins_dep, 2, on_package);
	return step_done(db, db->ins_dep);
}

errint_t cfs_db_set_object_pack(struct cfs_db *db, const uint8_t digest[CFS_SHA256_LEN],
				int64_t pack, uint64_t offset)
{
	sqlite3_stmt *st = db->set_pack;
	sqlite3_bind_int64(st, 1, pack);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)offset);
	sqlite3_bind_blob(st, 3, digest, CFS_SHA256_LEN, SQLITE_STATIC);
	return step_done(db, st);
}

errint_t cfs_db_finish(struct cfs_db *db, struct cfs_err *err)
{
	if (sqlite3_exec(db->h,
			 "CREATE UNIQUE INDEX nodes_by_parent ON nodes (parent, name);"
			 "CREATE INDEX nodes_by_package ON nodes (package);"
			 "COMMIT; ANALYZE;",
			 NULL, NULL, NULL) != SQLITE_OK)
		return db_err(db, err, "cannot write index");
	return 0;
}

static char *uri_for(const char *path)
{
	struct cfs_buf b;
	cfs_buf_init(&b, SIZE_MAX);
	cfs_buf_addstr(&b, "file:");
	for (const char *p = path; *p; p++) {
		if (*p == '%' || *p == '?' || *p == '#')
			cfs_buf_printf(&b, "%%%02X", (unsigned char)*p);
		else
			cfs_buf_add(&b, p, 1);
	}
	cfs_buf_addstr(&b, "?immutable=1");
	return cfs_buf_steal(&b, NULL);
}

errint_t cfs_db_open(const char *path, struct cfs_db **out, struct cfs_err *err)
{
	struct cfs_db *db = cfs_xcalloc(1, sizeof(*db));
	cleanup_free char *uri = uri_for(path);
	cleanup_free char *fmt = NULL, *ver = NULL;
	int r;

	db->path = cfs_xstrdup(path);
	if (access(path, R_OK) < 0) {
		r = -errno;
		cfs_db_close(db);
		return cfs_err_set(err, -r, "%s: %s", path, strerror(-r));
	}
	if (sqlite3_open_v2(uri, &db->h, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		r = db_err(db, err, "cannot open index");
		cfs_db_close(db);
		return r;
	}
	if (cfs_db_get_meta(db, "format", &fmt) < 0 || strcmp(fmt, "condafs-index") != 0) {
		cfs_db_close(db);
		return cfs_err_set(err, EINVAL, "%s: not a condafs index", path);
	}
	if (cfs_db_get_meta(db, "format_version", &ver) < 0 || atoi(ver) < CFS_INDEX_MIN_VERSION ||
	    atoi(ver) > CFS_INDEX_VERSION) {
		cfs_db_close(db);
		return cfs_err_set(err, EINVAL,
				   "%s: index format version %s is not supported (condafs reads "
				   "versions %d to %d)", path, ver ? ver : "?",
				   CFS_INDEX_MIN_VERSION, CFS_INDEX_VERSION);
	}
	db->version = atoi(ver);
	if (prepare(db, "SELECT " CFS_DB_NODE_COLUMNS " FROM nodes WHERE ino = ?", &db->get_node) ||
	    prepare(db, "SELECT " CFS_DB_NODE_COLUMNS " FROM nodes WHERE parent = ? AND name = ?",
		    &db->lookup)) {
		r = db_err(db, err, "not a condafs index");
		cfs_db_close(db);
		return r;
	}
	*out = db;
	return 0;
}

void cfs_db_close(struct cfs_db *db)
{
	if (!db)
		return;
	sqlite3_stmt *stmts[] = { db->ins_meta, db->ins_pkg, db->ins_node, db->ins_obj,
				  db->ins_rule, db->ins_pack, db->set_pack, db->ins_dep, db->get_node,
				  db->lookup };
	for (size_t i = 0; i < CFS_ARRAY_SIZE(stmts); i++)
		sqlite3_finalize(stmts[i]);
	sqlite3_close(db->h);
	free(db->path);
	free(db);
}

const char *cfs_db_path(const struct cfs_db *db)
{
	return db->path;
}

int cfs_db_version(const struct cfs_db *db)
{
	return db->version;
}

struct sqlite3 *cfs_db_handle(struct cfs_db *db)
{
	return db->h;
}

errint_t cfs_db_get_meta(struct cfs_db *db, const char *key, char **value)
{
	sqlite3_stmt *st;
	int r = -ENOENT;

	if (sqlite3_prepare_v2(db->h, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL))
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*value = cfs_xstrdup((const char *)sqlite3_column_text(st, 0));
		r = 0;
	}
	sqlite3_finalize(st);
	return r;
}

void cfs_db_row_to_node(sqlite3_stmt *st, struct cfs_node *n)
{
	const void *digest;

	memset(n, 0, sizeof(*n));
	n->ino = (uint64_t)sqlite3_column_int64(st, 0);
	n->parent = (uint64_t)sqlite3_column_int64(st, 1);
	n->name = cfs_xstrdup((const char *)sqlite3_column_text(st, 2));
	n->mode = (uint32_t)sqlite3_column_int64(st, 3);
	n->size = (uint64_t)sqlite3_column_int64(st, 4);
	n->mtime = sqlite3_column_int64(st, 5);
	n->mtime_nsec = (uint32_t)sqlite3_column_int64(st, 6);
	digest = sqlite3_column_blob(st, 7);
	if (digest && sqlite3_column_bytes(st, 7) == CFS_SHA256_LEN) {
		n->has_digest = true;
		memcpy(n->digest, digest, CFS_SHA256_LEN);
	}
	if (sqlite3_column_type(st, 8) != SQLITE_NULL)
		n->target = cfs_xstrdup((const char *)sqlite3_column_text(st, 8));
	n->package = sqlite3_column_int64(st, 9);
	n->rule = sqlite3_column_int64(st, 10);
	n->pruned = sqlite3_column_int(st, 11) != 0;
}

static errint_t one_row(sqlite3_stmt *st, struct cfs_node *n)
{
	int rc = sqlite3_step(st);
	int r = 0;

	if (rc == SQLITE_ROW)
		cfs_db_row_to_node(st, n);
	else
		r = rc == SQLITE_DONE ? -ENOENT : -EIO;
	sqlite3_reset(st);
	return r;
}

errint_t cfs_db_get_node(struct cfs_db *db, uint64_t ino, struct cfs_node *n)
{
	sqlite3_bind_int64(db->get_node, 1, (sqlite3_int64)ino);
	return one_row(db->get_node, n);
}

errint_t cfs_db_lookup(struct cfs_db *db, uint64_t parent, const char *name,
		       struct cfs_node *n)
{
	sqlite3_bind_int64(db->lookup, 1, (sqlite3_int64)parent);
	sqlite3_bind_text(db->lookup, 2, name, -1, SQLITE_TRANSIENT);
	return one_row(db->lookup, n);
}

errint_t cfs_db_resolve(struct cfs_db *db, const char *path, struct cfs_node *n)
{
	cleanup_free char *copy = cfs_xstrdup(path);
	char *save = NULL;
	int r = cfs_db_get_node(db, CFS_ROOT_INO, n);

	for (char *c = strtok_r(copy, "/", &save); r == 0 && c; c = strtok_r(NULL, "/", &save)) {
		uint64_t dir = n->ino;
		if (strcmp(c, ".") == 0)
			continue;
		if (!S_ISDIR(n->mode)) {
			cfs_node_release(n);
			return -ENOTDIR;
		}
		cfs_node_release(n);
		r = cfs_db_lookup(db, dir, c, n);
	}
	return r;
}

errint_t cfs_db_foreach_child(struct cfs_db *db, uint64_t dir, cfs_node_fn fn, void *ctx)
{
	/* Rows are collected first so that fn may recurse into the db. */
	sqlite3_stmt *st;
	struct cfs_node *rows = NULL;
	size_t n = 0, alloc = 0;
	int rc, r = 0;

	if (sqlite3_prepare_v2(db->h,
			       "SELECT " CFS_DB_NODE_COLUMNS " FROM nodes WHERE parent = ? ORDER BY name",
			       -1, &st, NULL))
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)dir);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		cfs_grow(&rows, n, &alloc, sizeof(*rows), 32);
		cfs_db_row_to_node(st, &rows[n++]);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		r = -EIO;
	for (size_t i = 0; i < n; i++) {
		if (r == 0)
			r = fn(ctx, &rows[i]);
		cfs_node_release(&rows[i]);
	}
	free(rows);
	return r;
}

errint_t cfs_db_foreach_package(struct cfs_db *db, cfs_package_fn fn, void *ctx)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	if (sqlite3_prepare_v2(db->h,
			       "SELECT id, name, version, build, build_number, subdir, noarch,"
			       " channel, url, fn, sha256, md5, size, manager, status, file_count,"
			       " bytes, link_scripts FROM packages ORDER BY id",
			       -1, &st, NULL))
		return -EIO;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cfs_db_package p = {
			.id = sqlite3_column_int64(st, 0),
			.name = (const char *)sqlite3_column_text(st, 1),
			.version = (const char *)sqlite3_column_text(st, 2),
			.build = (const char *)sqlite3_column_text(st, 3),
			.build_number = (const char *)sqlite3_column_text(st, 4),
			.subdir = (const char *)sqlite3_column_text(st, 5),
			.noarch = (const char *)sqlite3_column_text(st, 6),
			.channel = (const char *)sqlite3_column_text(st, 7),
			.url = (const char *)sqlite3_column_text(st, 8),
			.fn = (const char *)sqlite3_column_text(st, 9),
			.sha256 = (const char *)sqlite3_column_text(st, 10),
			.md5 = (const char *)sqlite3_column_text(st, 11),
			.size = sqlite3_column_int64(st, 12),
			.manager = (const char *)sqlite3_column_text(st, 13),
			.status = (const char *)sqlite3_column_text(st, 14),
			.file_count = sqlite3_column_int64(st, 15),
			.bytes = sqlite3_column_int64(st, 16),
			.link_scripts = (const char *)sqlite3_column_text(st, 17),
		};
		r = fn(ctx, &p);
	}
	sqlite3_finalize(st);
	return r;
}

errint_t cfs_db_get_rule(struct cfs_db *db, int64_t id, char **origin, char **text, bool *keep)
{
	sqlite3_stmt *st;
	int r = -ENOENT;

	if (sqlite3_prepare_v2(db->h, "SELECT origin, text, keep FROM rules WHERE id = ?", -1, &st,
			       NULL))
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*origin = cfs_xstrdup((const char *)sqlite3_column_text(st, 0));
		*text = cfs_xstrdup((const char *)sqlite3_column_text(st, 1));
		*keep = sqlite3_column_int(st, 2) != 0;
		r = 0;
	}
	sqlite3_finalize(st);
	return r;
}

char *cfs_db_package_name(struct cfs_db *db, int64_t id)
{
	sqlite3_stmt *st;
	char *name = NULL;

	if (sqlite3_prepare_v2(db->h, "SELECT name FROM packages WHERE id = ?", -1, &st, NULL))
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		name = cfs_xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return name;
}

static uint64_t scalar(struct cfs_db *db, const char *sql)
{
	sqlite3_stmt *st;
	uint64_t v = 0;

	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL))
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

errint_t cfs_db_stats(struct cfs_db *db, struct cfs_db_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->packages = scalar(db, "SELECT count(*) FROM packages WHERE status = 'installed'");
	st->skipped_packages = scalar(db, "SELECT count(*) FROM packages WHERE status != 'installed'");
	st->files = scalar(db, "SELECT count(*) FROM nodes WHERE (mode & 61440) = 32768 AND NOT pruned");
	st->dirs = scalar(db, "SELECT count(*) FROM nodes WHERE (mode & 61440) = 16384 AND NOT pruned");
	st->symlinks = scalar(db, "SELECT count(*) FROM nodes WHERE (mode & 61440) = 40960 AND NOT pruned");
	st->bytes = scalar(db, "SELECT total(size) FROM nodes WHERE (mode & 61440) = 32768 AND NOT pruned");
	st->pruned_files = scalar(db, "SELECT count(*) FROM nodes WHERE (mode & 61440) != 16384 AND pruned");
	st->pruned_bytes = scalar(db, "SELECT total(size) FROM nodes WHERE (mode & 61440) = 32768 AND pruned");
	st->objects = scalar(db, "SELECT count(*) FROM objects");
	st->object_bytes = scalar(db, "SELECT total(size) FROM objects");
	st->stored_bytes = scalar(db, "SELECT total(csize) FROM objects");
	if (db->version >= 3) {
		st->packs = scalar(db, "SELECT count(*) FROM packs");
		st->pack_bytes = scalar(db, "SELECT total(size) FROM packs");
		st->packed_objects = scalar(db, "SELECT count(*) FROM objects WHERE pack IS NOT NULL");
	}
	return 0;
}

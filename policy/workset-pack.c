/* SPDX-License-Identifier: MIT */
#include "workset-pack.h"

#include <jansson.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "store.h"
#include "workset-build.h"
#include "workset.h"

struct ws_packer {
	struct cfs_db *db;
	const struct cfs_workset *ws;
	sqlite3_stmt *csize;
	struct cfs_digest_set seen;
	struct cfs_pack pack;
};

/* Adds the object of path if the working set lists it as a file and the
 * index serves it (once).  Returns 0 or -EIO. */
static errint_t add_path(struct ws_packer *k, const char *path)
{
	const struct cfs_ws_entry *e = cfs_workset_find(k->ws, path);
	struct cfs_node n;
	int r;

	if (!e || e->type != 'f')
		return 0;
	r = cfs_db_resolve(k->db, path, &n);
	if (r == -ENOENT || r == -ENOTDIR)
		return 0;
	if (r < 0)
		return r;
	if (S_ISREG(n.mode) && !n.pruned && n.has_digest && cfs_digest_set_add(&k->seen, n.digest)) {
		sqlite3_bind_blob(k->csize, 1, n.digest, CFS_SHA256_LEN, SQLITE_STATIC);
		if (sqlite3_step(k->csize) == SQLITE_ROW)
			cfs_pack_add(&k->pack, n.digest, (uint64_t)sqlite3_column_int64(k->csize, 0));
		else
			r = -EIO;
		sqlite3_reset(k->csize);
	}
	cfs_node_release(&n);
	return r;
}

/* Adds the files of a trace's "open" lines, in order. */
static errint_t add_trace(struct ws_packer *k, const char *path, struct cfs_err *err)
{
	cleanup_file FILE *f = fopen(path, "re");
	cleanup_free char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	int r = 0;

	if (!f)
		return cfs_err_set(err, errno, "%s: %s", path, strerror(errno));
	while (r == 0 && (len = getline(&line, &cap, f)) >= 0) {
		json_t *o;
		const char *op, *p;

		lineno++;
		if ((size_t)len > CFS_TRACE_MAX_LINE)
			return cfs_err_set(err, EFBIG, "%s:%zu: line longer than %u bytes", path,
					   lineno, CFS_TRACE_MAX_LINE);
		o = json_loadb(line, (size_t)len, 0, NULL);
		if (!json_is_object(o)) {
			json_decref(o);
			/* A last line cut short by a crash is not an error. */
			if (len > 0 && line[len - 1] != '\n')
				break;
			if (len <= 1)
				continue;
			return cfs_err_set(err, EINVAL, "%s:%zu: not a condafs trace line", path,
					   lineno);
		}
		op = json_string_value(json_object_get(o, "op"));
		p = json_string_value(json_object_get(o, "path"));
		if (op && p && strcmp(op, "open") == 0) {
			while (*p == '/')
				p++;
			r = add_path(k, p);
		}
		json_decref(o);
	}
	if (r < 0)
		return cfs_err_set(err, -r, "%s: %s", cfs_db_path(k->db), strerror(-r));
	if (ferror(f))
		return cfs_err_set(err, EIO, "%s: %s", path, strerror(errno));
	return 0;
}

/* The store directory to write to (caller frees). */
static errint_t store_dir(struct cfs_db *db, const char *store, char **out, struct cfs_err *err)
{
	char *dir = NULL;

	if (store)
		dir = cfs_xstrdup(store);
	else if (cfs_db_get_meta(db, "store", &dir) < 0 || !*dir) {
		free(dir);
		return cfs_err_set(err, EINVAL, "%s names no store; pass --store DIR",
				   cfs_db_path(db));
	}
	if (strstr(dir, "://")) {
		cfs_err_set(err, ENOTSUP, "%s: packs are written into a store directory; pack into "
			    "a directory with --store DIR and condafs push it", dir);
		free(dir);
		return -ENOTSUP;
	}
	*out = dir;
	return 0;
}

/* Sets the "pack" member of the working set file and replaces it atomically. */
static errint_t record(const char *path, const struct cfs_pack *p, const char *lock_sha256,
		       struct cfs_err *err)
{
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je), *objs;
	char hex[2 * CFS_SHA256_LEN + 1];

	if (!json_is_object(root)) {
		json_decref(root);
		return cfs_err_set(err, EINVAL, "%s:%d: invalid JSON: %s", path, je.line, je.text);
	}
	objs = json_array();
	for (size_t i = 0; i < p->n; i++) {
		cfs_hex(p->entries[i].digest, CFS_SHA256_LEN, hex);
		json_array_append_new(objs, json_pack("[s,I,I]", hex,
						      (json_int_t)p->entries[i].offset,
						      (json_int_t)p->entries[i].csize));
	}
	json_object_set_new(root, "pack", json_pack("{s:s,s:I,s:s,s:o}", "name", p->name,
						    "size", (json_int_t)p->size, "lock_sha256",
						    lock_sha256, "objects", objs));
	return cfs_workset_write_json(root, path, err);
}

static errint_t write_pack(struct cfs_db *db, const struct cfs_ws_pack_opts *o,
			   struct ws_packer *k, struct cfs_ws_pack_result *res, struct cfs_err *err)
{
	cleanup_free char *dir = NULL, *lock = NULL;
	struct cfs_store *store = NULL;
	int r;

	if (!k->pack.n)
		return cfs_err_set(err, ENOENT, "%s: %s serves none of its files; nothing to pack",
				   o->workset, cfs_db_path(db));
	if (cfs_db_get_meta(db, "lock_sha256", &lock) < 0)
		lock = cfs_xstrdup("");
	cfs_pack_finish(&k->pack);
	r = store_dir(db, o->store, &dir, err);
	if (r == 0)
		r = cfs_store_open(dir, false, &store, err);
	if (r == 0)
		r = cfs_store_write_pack(store, &k->pack, &res->written, err);
	/* The pack is durable before the working set names it. */
	if (r == 0 && (r = cfs_store_sync(store)) < 0)
		cfs_err_set(err, -r, "%s: sync failed: %s", dir, strerror(-r));
	cfs_store_free(store);
	if (r == 0)
		r = record(o->workset, &k->pack, lock, err);
	if (r == 0) {
		res->objects = k->pack.n;
		res->bytes = k->pack.size;
		memcpy(res->name, k->pack.name, sizeof(res->name));
	}
	return r;
}

errint_t cfs_workset_pack(struct cfs_db *db, const struct cfs_ws_pack_opts *o,
			  struct cfs_ws_pack_result *res, struct cfs_err *err)
{
	struct ws_packer k = { .db = db };
	struct cfs_workset *ws = NULL;
	cleanup_free char *prefix = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	r = cfs_workset_load(o->workset, &ws, err);
	if (r < 0)
		return r;
	k.ws = ws;
	if (cfs_db_get_meta(db, "prefix", &prefix) < 0 || strcmp(prefix, ws->prefix) != 0)
		r = cfs_err_set(err, EINVAL, "%s: working set for prefix %s, but %s is for %s",
				o->workset, ws->prefix, cfs_db_path(db), prefix ? prefix : "?");
	if (r == 0 && sqlite3_prepare_v2(cfs_db_handle(db), "SELECT csize FROM objects WHERE digest = ?", -1,
			       &k.csize, NULL) != SQLITE_OK)
		r = cfs_err_set(err, EIO, "%s: %s", cfs_db_path(db),
				sqlite3_errmsg(cfs_db_handle(db)));
	for (size_t i = 0; r == 0 && i < o->n_traces; i++)
		r = add_trace(&k, o->traces[i], err);
	for (size_t i = 0; r == 0 && i < ws->n_entries; i++)
		if ((r = add_path(&k, ws->entries[i].path)) < 0)
			cfs_err_set(err, -r, "%s: %s", cfs_db_path(db), strerror(-r));
	if (r == 0)
		r = write_pack(db, o, &k, res, err);
	sqlite3_finalize(k.csize);
	cfs_pack_release(&k.pack);
	cfs_digest_set_release(&k.seen);
	cfs_workset_free(ws);
	return r;
}

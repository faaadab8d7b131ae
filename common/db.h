/* SPDX-License-Identifier: MIT */
/*
 * The SQLite index that describes one environment tree.  Schema and its
 * version history: docs/index-format.md.
 */
#ifndef CFS_DB_H
#define CFS_DB_H

#include <sys/stat.h>

#include "cfs-util.h"
#include "hash.h"

/*
 * Index format version history:
 *   1 - meta, packages, nodes, objects tables.
 *   2 - prune policies: rules table, nodes.rule and nodes.pruned (tombstones).
 *   3 - packs: packs table, objects.pack and objects.pack_offset.
 * Readers accept CFS_INDEX_MIN_VERSION to CFS_INDEX_VERSION.
 */
#define CFS_INDEX_VERSION 3
#define CFS_INDEX_MIN_VERSION 2
#define CFS_ROOT_INO 1

struct cfs_db;

struct cfs_node {
	uint64_t ino;
	uint64_t parent;  /* 0 for the root */
	char *name;       /* "" for the root */
	uint32_t mode;    /* st_mode: type and permission bits */
	uint64_t size;    /* bytes; symlinks: length of target */
	int64_t mtime;
	uint32_t mtime_nsec;
	bool has_digest;  /* regular files with content */
	uint8_t digest[CFS_SHA256_LEN];
	char *target;     /* symlinks */
	int64_t package;  /* packages.id, 0 if none (implicit directories) */
	int64_t rule;     /* rules.id of the prune rule that decided it, 0 if none */
	bool pruned;      /* a tombstone: not part of the served environment */
};

/* Frees name and target. */
void cfs_node_release(struct cfs_node *n);

struct cfs_db_package {
	int64_t id; /* install order, from 1 */
	const char *name, *version, *build, *build_number, *subdir, *noarch;
	const char *channel, *url, *fn, *sha256, *md5, *manager, *status;
	int64_t size, file_count, bytes;
	const char *link_scripts; /* JSON array of paths, or NULL */
};

/* Writing.  cfs_db_create() makes a new database at path (which must not
 * exist); callers write to a temporary name and rename after
 * cfs_db_finish().  Caller frees with cfs_db_close(). */
errint_t cfs_db_create(const char *path, struct cfs_db **out, struct cfs_err *err);
errint_t cfs_db_set_meta(struct cfs_db *db, const char *key, const char *value);
errint_t cfs_db_add_package(struct cfs_db *db, const struct cfs_db_package *p);
/* n->ino must be set by the caller; inos are dense from CFS_ROOT_INO. */
errint_t cfs_db_add_node(struct cfs_db *db, const struct cfs_node *n);
/* A prune rule that nodes refer to by id (from 1); keep: a keep rule. */
errint_t cfs_db_add_rule(struct cfs_db *db, int64_t id, const char *origin, const char *text,
			 bool keep);
errint_t cfs_db_add_object(struct cfs_db *db, const uint8_t digest[CFS_SHA256_LEN],
			   uint64_t size, uint64_t csize);
/* A pack (packs/<hex>.pack in the store) of size bytes holding package's
 * objects (0: no package); id from 1. */
errint_t cfs_db_add_pack(struct cfs_db *db, int64_t id, const char *name, uint64_t size,
			 int64_t package);
/* Package id depends on installed package on_package (ids from 1). */
errint_t cfs_db_add_depends(struct cfs_db *db, int64_t package, int64_t on_package);
/* Records that an object added before is at offset in pack id. */
errint_t cfs_db_set_object_pack(struct cfs_db *db, const uint8_t digest[CFS_SHA256_LEN],
				int64_t pack, uint64_t offset);
/* Commits, builds indexes and checkpoints; the file is then complete. */
errint_t cfs_db_finish(struct cfs_db *db, struct cfs_err *err);

/* Reading.  Opens read-only and checks the format version. */
errint_t cfs_db_open(const char *path, struct cfs_db **out, struct cfs_err *err);
void cfs_db_close(struct cfs_db *db);
static inline void cfs_db_closep(struct cfs_db **db)
{
	cfs_db_close(*db);
}
#define cleanup_db __attribute__((cleanup(cfs_db_closep)))
const char *cfs_db_path(const struct cfs_db *db);
/* The index's format version (CFS_INDEX_MIN_VERSION to CFS_INDEX_VERSION). */
int cfs_db_version(const struct cfs_db *db);

/* Caller frees *value.  -ENOENT if the key is absent. */
errint_t cfs_db_get_meta(struct cfs_db *db, const char *key, char **value);
/* Fills *n (caller releases).  -ENOENT if absent. */
errint_t cfs_db_get_node(struct cfs_db *db, uint64_t ino, struct cfs_node *n);
errint_t cfs_db_lookup(struct cfs_db *db, uint64_t parent, const char *name,
		       struct cfs_node *n);
/* Resolves a path relative to the root ("" or "/" is the root) without
 * following symlinks.  -ENOENT, or -ENOTDIR through a non-directory. */
errint_t cfs_db_resolve(struct cfs_db *db, const char *path, struct cfs_node *n);

/* Calls fn for each child of dir in name order; stops at fn's non-zero return. */
typedef int (*cfs_node_fn)(void *ctx, const struct cfs_node *n);
errint_t cfs_db_foreach_child(struct cfs_db *db, uint64_t dir, cfs_node_fn fn, void *ctx);

typedef int (*cfs_package_fn)(void *ctx, const struct cfs_db_package *p);
errint_t cfs_db_foreach_package(struct cfs_db *db, cfs_package_fn fn, void *ctx);
/* Origin ("my.policy:3", "preset:devel:2") and text of rule id (caller frees both). */
errint_t cfs_db_get_rule(struct cfs_db *db, int64_t id, char **origin, char **text, bool *keep);
/* Name of package id (caller frees), or NULL. */
char *cfs_db_package_name(struct cfs_db *db, int64_t id);

struct cfs_db_stats {
	uint64_t packages, skipped_packages;
	uint64_t files, dirs, symlinks; /* served: not pruned */
	uint64_t bytes;         /* sum of served regular file sizes */
	uint64_t pruned_files;  /* tombstones: files and symlinks */
	uint64_t pruned_bytes;
	uint64_t objects;       /* distinct contents */
	uint64_t object_bytes;  /* their uncompressed sizes */
	uint64_t stored_bytes;  /* their compressed sizes */
	uint64_t packs;         /* packs the index lists (0 before version 3) */
	uint64_t pack_bytes;    /* their sizes */
	uint64_t packed_objects; /* objects in a pack */
};
errint_t cfs_db_stats(struct cfs_db *db, struct cfs_db_stats *st);

/* The raw handle, for modules that run their own queries. */
struct sqlite3 *cfs_db_handle(struct cfs_db *db);

/* The nodes columns that cfs_db_row_to_node() reads, in its order, for such
 * a query: "SELECT " CFS_DB_NODE_COLUMNS " FROM nodes ...". */
#define CFS_DB_NODE_COLUMNS \
	"ino, parent, name, mode, size, mtime, mtime_nsec, digest, target, package, rule, pruned"
struct sqlite3_stmt;
/* Fills *n from the current row of st, whose first columns are
 * CFS_DB_NODE_COLUMNS.  Caller releases *n with cfs_node_release(). */
void cfs_db_row_to_node(struct sqlite3_stmt *st, struct cfs_node *n);

#endif

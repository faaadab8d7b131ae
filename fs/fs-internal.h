/* SPDX-License-Identifier: MIT */
/* Internals of the FUSE daemon, shared by the files of fs/ only. */
#ifndef CFS_FS_INTERNAL_H
#define CFS_FS_INTERNAL_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "fs.h"
#include "hash.h"

/* ---- tree.c: the index, loaded into memory once at mount. */

#define CFS_NO_DIGEST UINT32_MAX

/* One inode; the array index is the index's ino (= the FUSE ino). */
struct cfs_inode {
	uint64_t size;
	int64_t mtime;
	uint32_t mtime_nsec;
	uint32_t mode;    /* 0 for a hole in the ino numbering */
	uint32_t parent;
	uint32_t name;    /* offset of the name in the pool */
	uint32_t data;    /* dir: first child in kids; file: digest index or
			   * CFS_NO_DIGEST; symlink: pool offset of the target */
	uint32_t count;   /* dir: number of children */
	uint32_t subdirs; /* dir: number of child directories */
};

struct cfs_tree {
	struct cfs_inode *nodes;
	uint32_t n_nodes;   /* largest ino + 1 */
	uint32_t *kids;     /* children of each directory, sorted by name */
	char *pool;         /* NUL-terminated names and symlink targets */
	uint8_t (*digests)[CFS_SHA256_LEN];
	uint64_t files, bytes;
	char *store;        /* the index's meta "store", or NULL */
};

/* Loads the nodes of the index at path.  Release with cfs_tree_release(). */
errint_t cfs_tree_load(struct cfs_tree *t, const char *path, struct cfs_err *err);
void cfs_tree_release(struct cfs_tree *t);
/* The inode ino, or NULL if there is none. */
const struct cfs_inode *cfs_tree_get(const struct cfs_tree *t, uint64_t ino);
/* The child of dir called name (binary search), or 0. */
uint32_t cfs_tree_lookup(const struct cfs_tree *t, const struct cfs_inode *dir,
			 const char *name);
static inline const char *cfs_tree_str(const struct cfs_tree *t, uint32_t off)
{
	return t->pool + off;
}
/* Writes ino's path relative to the root ("lib/libz.so") into buf. */
void cfs_tree_path(const struct cfs_tree *t, uint32_t ino, char *buf, size_t len);

/* ---- stats.c: counters, readable with getxattr. */

#define CFS_LAT_BUCKETS 40 /* bucket i: latencies below 2^i microseconds */

struct cfs_stats {
	atomic_uint_fast64_t opens, cache_hits, cache_misses, fetches, fetch_errors;
	atomic_uint_fast64_t bytes_fetched; /* compressed bytes read from the store */
	atomic_uint_fast64_t bytes_cached;  /* decompressed bytes written to the cache */
	atomic_uint_fast64_t bytes_served;  /* bytes returned by read */
	atomic_uint_fast64_t evictions, evicted_bytes;
	atomic_uint_fast64_t lat[CFS_LAT_BUCKETS];
};

void cfs_stats_latency(struct cfs_stats *s, uint64_t usec);
/* Latency below which a fraction q of fetches finished, in microseconds. */
uint64_t cfs_stats_quantile(struct cfs_stats *s, double q);

/* ---- cache.c: verified, uncompressed objects shared by all daemons. */

struct cfs_cache;

/* Bytes of objects the daemon holds open whose names are gone. */
typedef uint64_t (*cfs_held_fn)(void *ctx);

/* Creates dir/objects and dir/tmp as needed.  Caller frees with _free. */
errint_t cfs_cache_open(const char *dir, uint64_t max_bytes, struct cfs_stats *stats,
			cfs_held_fn held, void *held_ctx, struct cfs_cache **out,
			struct cfs_err *err);
void cfs_cache_free(struct cfs_cache *c);
const char *cfs_cache_dir(const struct cfs_cache *c);
uint64_t cfs_cache_usage(struct cfs_cache *c);

/*
 * Opens the cached object if present with the expected size: returns 0
 * and an fd holding a shared flock (so no evictor removes it), or -ENOENT.
 */
errint_t cfs_cache_get(struct cfs_cache *c, const uint8_t digest[CFS_SHA256_LEN],
		       uint64_t size, int *fd);

/* A new object being written under tmp/, holding a shared flock. */
struct cfs_cache_tmp {
	int fd;
	uint64_t size;
	char path[PATH_MAX];
};
/* Makes room for size bytes (evicting), then creates the temporary file. */
errint_t cfs_cache_tmp_open(struct cfs_cache *c, const uint8_t digest[CFS_SHA256_LEN],
			    uint64_t size, struct cfs_cache_tmp *t);
/* Renames the verified file to its object name; *fd takes over t->fd. */
errint_t cfs_cache_tmp_publish(struct cfs_cache *c, struct cfs_cache_tmp *t,
			       const uint8_t digest[CFS_SHA256_LEN], int *fd);
void cfs_cache_tmp_abort(struct cfs_cache *c, struct cfs_cache_tmp *t);

/* ---- remote.c: reading objects from the store. */

struct cfs_remote;

/* store: a directory, file:// or http(s):// URL.  Caller frees with _free. */
errint_t cfs_remote_new(const char *store, unsigned timeout_s, unsigned retries,
			struct cfs_remote **out, struct cfs_err *err);
void cfs_remote_free(struct cfs_remote *r);
/*
 * Fetches, decompresses and verifies object digest (size bytes) into fd
 * (from offset 0), retrying transient failures within the time bound.
 * err: "<url>: <cause>".  *wire receives the compressed bytes read.
 */
errint_t cfs_remote_fetch(struct cfs_remote *r, const uint8_t digest[CFS_SHA256_LEN],
			  uint64_t size, int fd, uint64_t *wire, struct cfs_err *err);

/* ---- objects.c: open objects, shared by every open file of one content. */

struct cfs_obj {
	struct cfs_obj *next; /* hash chain */
	uint8_t digest[CFS_SHA256_LEN];
	uint64_t size;
	int fd;
	int refs;
	enum { CFS_OBJ_LOADING, CFS_OBJ_READY, CFS_OBJ_FAILED } state;
	errint_t err;
};

#define CFS_OBJ_BUCKETS 4096

struct cfs_objtab {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* broadcast when a load finishes */
	struct cfs_obj *buckets[CFS_OBJ_BUCKETS];
	uint64_t n_open;
};

/* ---- the daemon's state (ops.c, daemon.c). */

struct cfs_fs {
	struct cfs_tree tree;
	struct cfs_cache *cache;
	struct cfs_remote *remote;
	struct cfs_objtab objs;
	struct cfs_stats stats;
	char *store_url;
	uid_t uid;
	gid_t gid;
	time_t started;
};

void cfs_objtab_init(struct cfs_objtab *t);
void cfs_objtab_release(struct cfs_objtab *t);
/* cfs_held_fn for the cache: bytes of open objects that were unlinked. */
uint64_t cfs_objtab_held_unlinked(void *fs);
/*
 * Returns the open object for file ino: from the table, from the cache, or
 * fetched from the store (once, however many threads ask).  Caller drops
 * it with cfs_obj_put().  -EIO if the fetch failed (logged).
 */
errint_t cfs_obj_get(struct cfs_fs *fs, uint32_t ino, struct cfs_obj **out);
void cfs_obj_put(struct cfs_fs *fs, struct cfs_obj *o);

/* The stats as a JSON object text.  Caller frees. */
char *cfs_stats_json(struct cfs_fs *fs);

extern const struct fuse_lowlevel_ops cfs_fs_ops;

#endif

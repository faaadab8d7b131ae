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

enum cfs_inode_flags {
	CFS_INODE_PRUNED = 1 << 0,  /* a tombstone in the index */
	CFS_INODE_HIDDEN = 1 << 1,  /* not served: lookups fail, listings skip it */
	CFS_INODE_REFUSED = 1 << 2, /* outside the working set (--strict): listed,
				     * but lookups fail */
	CFS_INODE_WANTED = 1 << 3,  /* in the working set (set up only) */
};
#define CFS_INODE_UNSERVED (CFS_INODE_HIDDEN | CFS_INODE_REFUSED)

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
	uint32_t subdirs; /* dir: number of listed child directories */
	uint8_t flags;    /* enum cfs_inode_flags */
	uint8_t unused;
	uint16_t rule;    /* rules.id that decided it, 0 if none (or too large) */
};

/* A prune rule of the index: pool offsets of its origin and text. */
struct cfs_tree_rule {
	uint32_t origin, text;
};

struct cfs_tree {
	struct cfs_inode *nodes;
	uint32_t n_nodes;   /* largest ino + 1 */
	uint32_t *kids;     /* children of each directory, sorted by name */
	char *pool;         /* NUL-terminated names and symlink targets */
	uint8_t (*digests)[CFS_SHA256_LEN];
	uint32_t *package;  /* by ino: packages.id, 0 if none */
	uint32_t *pkg_name; /* by packages.id: pool offset of its name (0: none) */
	uint32_t n_pkgs;    /* largest packages.id + 1 */
	struct cfs_tree_rule *rules; /* by rules.id */
	uint32_t n_rules;   /* largest rules.id + 1 */
	uint64_t files, bytes; /* served regular files */
	uint64_t inodes;       /* served nodes */
	char *store;        /* the index's meta "store", or NULL */
	char *prefix;       /* meta "prefix" ("" if missing) */
	char *lock_sha256;  /* meta "lock_sha256" ("" if missing) */
};

/*
 * Loads the nodes of the index at path, pruned ones too (flagged), with the
 * rules and package names.  Release with cfs_tree_release().
 */
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
/* The node at path relative to the root ("" is the root), or 0. */
uint32_t cfs_tree_resolve(const struct cfs_tree *t, const char *path);
/*
 * Recounts subdirectories and served files after flags changed: hidden
 * nodes are neither listed nor counted.
 */
void cfs_tree_recount(struct cfs_tree *t);
/* The origin and text of rule id, or NULL. */
const struct cfs_tree_rule *cfs_tree_rule(const struct cfs_tree *t, uint32_t id);
/* The name of ino's package, or NULL. */
const char *cfs_tree_package(const struct cfs_tree *t, uint32_t ino);

/* ---- stats.c: counters, readable with getxattr. */

#define CFS_LAT_BUCKETS 40 /* bucket i: latencies below 2^i microseconds */

struct cfs_stats {
	atomic_uint_fast64_t opens, cache_hits, cache_misses, fetches, fetch_errors;
	atomic_uint_fast64_t passthrough_opens; /* opens the kernel reads without the daemon */
	atomic_uint_fast64_t stored;  /* files stored in the kernel's page cache ahead of reads */
	atomic_uint_fast64_t waits, wait_us; /* opens that waited for a fetch, and how long */
	atomic_uint_fast64_t bytes_fetched; /* compressed bytes read from the store */
	atomic_uint_fast64_t bytes_cached;  /* decompressed bytes written to the cache */
	atomic_uint_fast64_t bytes_served;  /* bytes returned by read */
	atomic_uint_fast64_t evictions, evicted_bytes;
	atomic_uint_fast64_t pruned_accesses; /* pruned paths accessed (each once) */
	atomic_uint_fast64_t strict_refused;  /* paths refused by --strict (each once) */
	atomic_uint_fast64_t trace_lines;     /* event lines written to the trace */
	atomic_uint_fast64_t prefetch_done;   /* objects the prefetch went through */
	atomic_uint_fast64_t prefetched;      /* of them fetched from the store */
	atomic_uint_fast64_t prefetch_errors; /* of them failed */
	atomic_uint_fast64_t requests;        /* HTTP requests made by the fetch engine */
	atomic_uint_fast64_t range_requests;  /* of them ranges of packs */
	atomic_uint_fast64_t http2_requests;  /* of them answered over HTTP/2 */
	atomic_uint_fast64_t pack_objects;    /* objects fetched in ranges of packs */
	atomic_uint_fast64_t speculated;      /* objects fetched as neighbours of an open */
	atomic_uint_fast64_t fallbacks;       /* objects fetched alone after a pack failed */
	atomic_uint_fast64_t streamed_packs;  /* packs queued whole after a miss */
	atomic_uint_fast64_t dependency_heads; /* heads of dependencies' packs queued */
	atomic_uint_fast64_t link_rate;       /* bytes/s the store's answers came at (estimate) */
	atomic_uint_fast64_t stream_min_rate; /* lowest link_rate a pack was streamed at (0: none) */
	atomic_uint_fast64_t link_wait_us;    /* wait for an answer's first byte (estimate) */
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
/* Starts the cache's background work (making a new cache's directories);
 * call once the daemon has forked. */
void cfs_cache_start(struct cfs_cache *c);
const char *cfs_cache_dir(const struct cfs_cache *c);
uint64_t cfs_cache_usage(struct cfs_cache *c);
/* Whether size more bytes fit below the level eviction brings the cache
 * down to (90% of its bound), on a file system with room: no eviction. */
bool cfs_cache_has_room(struct cfs_cache *c, uint64_t size);

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
/*
 * Renames the verified file to its object name; *fd takes over t->fd.  If
 * a good file has that name already, *fd is that file, opened and locked
 * as cfs_cache_get() does, and t's is dropped.
 */
errint_t cfs_cache_tmp_publish(struct cfs_cache *c, struct cfs_cache_tmp *t,
			       const uint8_t digest[CFS_SHA256_LEN], int *fd);
void cfs_cache_tmp_abort(struct cfs_cache *c, struct cfs_cache_tmp *t);

/* ---- remote.c: reading objects from the store. */

struct cfs_remote;

/*
 * store: a directory, file://, http(s):// or s3:// URL (s3: the AWS settings
 * come from the environment, common/s3.h).  Caller frees with _free.
 */
errint_t cfs_remote_new(const char *store, unsigned timeout_s, unsigned retries,
			struct cfs_remote **out, struct cfs_err *err);
void cfs_remote_free(struct cfs_remote *r);
/* Whether store names a network store (http(s):// or s3://). */
bool cfs_remote_is_url(const char *store);
/*
 * Reads, decompresses and verifies object digest (size bytes) of a local
 * store into fd, a new, empty file, within the fetch time bound (waiting
 * for one of a few slots).  err: "<path>: <cause>".  *wire receives the
 * compressed bytes read.  Network stores go through the fetch engine.
 */
errint_t cfs_remote_fetch(struct cfs_remote *r, const uint8_t digest[CFS_SHA256_LEN],
			  uint64_t size, int fd, uint64_t *wire, struct cfs_err *err);
struct cfs_packmap_pack;
/*
 * The same from a local store's pack p, at offset, csize bytes: one read
 * of a file the kernel reads ahead, where an object file costs a lookup
 * and an inode of its own.  -ENOENT when p is not in the store (it is
 * then marked missing); any failure leaves the caller to fetch the object
 * alone, which gives the verdict.
 */
errint_t cfs_remote_fetch_packed(struct cfs_remote *r, struct cfs_packmap_pack *p,
				 uint64_t offset, uint64_t csize,
				 const uint8_t digest[CFS_SHA256_LEN], uint64_t size, int fd,
				 uint64_t *wire, struct cfs_err *err);
/* For the fetch engine: the store's URL (no trailing slash) if it is
 * http(s) or s3, else NULL; s3 settings or NULL; the fetch bounds. */
const char *cfs_remote_url(const struct cfs_remote *r);
const struct cfs_s3 *cfs_remote_s3(const struct cfs_remote *r);
unsigned cfs_remote_timeout(const struct cfs_remote *r);
unsigned cfs_remote_retries(const struct cfs_remote *r);
/*
 * Finishes decoding an object after the decoder or its sink returned r
 * (0 if all went well) and checks its size; for every failure, err says
 * what was wrong with the object ("corrupt object (...)") or the cache.
 */
struct cfs_objdec;
errint_t cfs_objdec_verdict(struct cfs_objdec *d, errint_t r, uint64_t want,
			    struct cfs_err *err);

/* ---- packs.c: where objects sit in packs (docs/store.md). */

struct cfs_packmap_pack {
	char *name;            /* "packs/<sha256>.pack", relative to the store */
	uint64_t size;
	atomic_bool missing;   /* the server lacks it: fetch its objects alone */
	atomic_bool streamed;  /* --stream-packs queued all of it */
	atomic_int fd;         /* a local store's pack, open; -1 not yet, -2 unreadable */
	uint32_t package;      /* packages.id whose files it holds, or 0 */
};

struct cfs_packmap_entry {
	uint8_t digest[CFS_SHA256_LEN];
	uint32_t pack;         /* index into packs; 0 is no pack */
	uint64_t offset, csize; /* the object's compressed bytes in the pack */
	uint64_t size;         /* uncompressed (0 in a working set's pack until known) */
};

struct cfs_packmap {
	struct cfs_packmap_pack *packs;       /* [0] is a placeholder */
	size_t n_packs, alloc_packs;
	struct cfs_packmap_entry *entries; /* the index's, sorted by (pack, offset)
					 * if loaded ordered, then working sets'
					 * packs in their order */
	size_t n_entries, alloc_entries, n_index_entries;
	uint32_t *hash;               /* entry index + 1 by digest; 0 is empty */
	size_t hash_mask;
	/* By packages.id (< n_pkgs): its dependencies' packs, dep_at[dep_start[id]
	 * .. dep_start[id + 1]) (indexes with a depends table; ordered loads),
	 * and whether a file of it was opened. */
	size_t n_pkgs;
	uint32_t *dep_start, *dep_at;
	atomic_bool *touched;
	bool ordered;
};

/* Neighbours larger than this (compressed) are not speculated on. */
#define CFS_SPECULATE_OBJECT_MAX (512ull << 10)

/*
 * Loads the index's packs (none for index format 2).  ordered: entries
 * sorted by (pack, offset), for neighbours (speculation, streaming); else
 * only found by digest, which saves a sort.
 */
errint_t cfs_packmap_load(struct cfs_packmap *m, const char *index, bool ordered,
			  struct cfs_err *err);
/*
 * Adds the pack that `condafs pack` recorded in working set file, if any:
 * its entries are m->entries[*first, *first + *count), in pack order.
 */
errint_t cfs_packmap_add_workset(struct cfs_packmap *m, const struct cfs_tree *tree,
				 const char *file, size_t *first, size_t *count,
				 struct cfs_err *err);
/* The index pack's entry of an object, or NULL. */
const struct cfs_packmap_entry *cfs_packmap_find(const struct cfs_packmap *m,
					      const uint8_t digest[CFS_SHA256_LEN]);
void cfs_packmap_release(struct cfs_packmap *m);
/* The index of pack's first entry, or n_index_entries (ordered loads). */
size_t cfs_packmap_pack_first(const struct cfs_packmap *m, uint32_t pack);

/* ---- fetch.c: the HTTP fetch engine (http, https and s3 stores). */

struct cfs_fetcher;
struct cfs_fs;

enum cfs_fetch_prio {
	CFS_FETCH_OPEN,     /* a process waits for it */
	CFS_FETCH_PREFETCH, /* --prefetch */
	CFS_FETCH_SPECULATE, /* neighbours of an opened file, dependencies' heads */
	CFS_FETCH_STREAM,   /* the rest of a pack (--stream-packs) */
	CFS_FETCH_NPRIO,
};

struct cfs_fetcher_opts {
	bool packs;           /* ranges of packs and speculation (else objects alone) */
	uint64_t speculate;   /* bytes of neighbours fetched with an opened object */
	enum cfs_fs_stream stream_packs; /* and the rest of its pack in the background */
	long http_version;    /* CURL_HTTP_VERSION_* */
	const char *cacert;   /* CA bundle for https, or NULL */
};

/* One object to prefetch, with its place in a pack (pack 0: fetched alone). */
struct cfs_fetch_item {
	const uint8_t *digest;
	uint64_t size;
	uint32_t pack;
	uint64_t offset, csize;
};

errint_t cfs_fetcher_new(struct cfs_fs *fs, const struct cfs_fetcher_opts *o,
			 struct cfs_fetcher **out, struct cfs_err *err);
/* Stops the engine thread (transfers in flight are dropped) and frees f. */
void cfs_fetcher_free(struct cfs_fetcher *f);
/*
 * Brings an object into the cache, verified, waiting until deadline
 * (cfs_now_ms()).  Concurrent callers and queued prefetches of the same
 * object share one fetch.  err: "<url>: <cause>".
 */
errint_t cfs_fetcher_get(struct cfs_fetcher *f, const uint8_t digest[CFS_SHA256_LEN],
			 uint64_t size, int64_t deadline, struct cfs_err *err);
/*
 * Queues objects for prefetch, in order, without waiting: runs of
 * neighbours in one pack go in one range request.  Objects cached or
 * already wanted are skipped.  Counted in the stats' prefetch_*.
 */
void cfs_fetcher_prefetch(struct cfs_fetcher *f, const struct cfs_fetch_item *items, size_t n);
/*
 * A file of package pkg (packages.id) is being opened: the first time, on
 * a link where misses stream (--stream-packs), the heads of its
 * dependencies' packs (o.speculate bytes each, where the index puts their
 * hot files) are queued at speculation priority: the program imports them
 * next.
 */
void cfs_fetcher_touch(struct cfs_fetcher *f, uint32_t pkg);

/* ---- objects.c: open objects, shared by every open file of one content. */

struct cfs_obj {
	struct cfs_obj *next; /* hash chain */
	uint8_t digest[CFS_SHA256_LEN];
	uint64_t size;
	int fd;
	int refs;
	int backing_id;      /* the kernel's handle on fd for passthrough, or 0 */
	unsigned pt_opens;   /* open files the kernel reads through backing_id */
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
	struct cfs_packmap packs;
	struct cfs_fetcher *fetcher; /* http(s) and s3 stores, else NULL */
	struct cfs_objtab objs;
	struct cfs_stats stats;
	char *store_url;
	uid_t uid;
	gid_t gid;
	time_t started;
	enum cfs_fs_pruned pruned;
	bool strict;
	char *workset;            /* the working set's file name (--strict) */
	_Atomic uint8_t *seen;    /* by ino: enum cfs_seen bits */
	struct cfs_trace *trace;  /* or NULL */
	struct cfs_prefetch *prefetch; /* or NULL */
	struct cfs_speculator *speculator; /* a local store's, or NULL */
	_Atomic bool passthrough; /* hand cached files to the kernel (see ops.c) */
	bool no_opendir;          /* the kernel opens directories without asking */
	bool want_no_open;        /* --no-open */
	bool no_open;             /* the kernel opens files without asking */
	bool single_thread;       /* -s: one thread serves every request */
	_Atomic bool store_ahead; /* isatty() stores the file in the page cache (ops.c) */
	atomic_int storing;       /* stores under way */
	struct fuse_session *se;  /* for notifications (ops.c) */
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
/*
 * FUSE passthrough: registers o's cache file with the kernel as the
 * backing file of an open (once per object, however many files of that
 * content are open) and returns its backing id, or 0 when passthrough is
 * off.  The first refusal turns it off for the rest of the mount, with one
 * log line.  Each open that got an id gives it back with
 * cfs_obj_passthrough_release(), which unregisters it after the last.
 * While registered, o holds its fd and with it the shared lock that keeps
 * eviction away from the file.
 */
int cfs_obj_passthrough_open(struct cfs_fs *fs, fuse_req_t req, struct cfs_obj *o);
void cfs_obj_passthrough_release(struct cfs_fs *fs, fuse_req_t req, struct cfs_obj *o);
/*
 * Brings file ino's object into the cache without keeping it open: 1 if it
 * was fetched, 0 if it was cached, open or being loaded already (opens of
 * it meanwhile wait for this load, not a second one), -EIO if the fetch
 * failed (logged).
 */
int cfs_obj_prefetch(struct cfs_fs *fs, uint32_t ino);
/*
 * Loads an object by digest (size bytes) that no open asked for into the
 * cache, outside the table of open objects: an open never waits for it
 * (an open of the same object meanwhile loads it too; both publish the
 * same verified bytes), and it never evicts (nothing when the cache is
 * 90% full).  1 if it was loaded, 0 if it was open, loading, cached or
 * there was no room, or an error, which is logged at debug level only: an
 * open of it tries again and says what fails.
 */
int cfs_obj_speculate(struct cfs_fs *fs, const uint8_t digest[CFS_SHA256_LEN], uint64_t size);

/*
 * Speculation for a local store (speculate.c): after a miss, the objects
 * that follow it in its pack, up to bytes (compressed), are loaded into
 * the cache by a thread that runs when a CPU is idle.  NULL when bytes is
 * 0 or fs->packs is not ordered.  _start runs the thread (after the
 * daemon forks); _miss is called for every miss an open waited for.
 */
struct cfs_speculator;
struct cfs_speculator *cfs_speculator_new(struct cfs_fs *fs, uint64_t bytes);
void cfs_speculator_start(struct cfs_speculator *s);
void cfs_speculator_miss(struct cfs_speculator *s, const uint8_t digest[CFS_SHA256_LEN]);
void cfs_speculator_free(struct cfs_speculator *s);

/* ---- access.c: pruned paths, the working set (--strict), who asked. */

/*
 * Flags the tree for o->pruned and o->strict: loads the working set
 * (o->workset) and marks what it serves.  Logs how much it covers.
 */
errint_t cfs_access_setup(struct cfs_fs *fs, const struct cfs_fs_opts *o, struct cfs_err *err);
/*
 * Logs the first access of a pruned or refused node (once per node), with
 * the process that asked and why: the rule that pruned it, or its package
 * for --strict.  Counted in the stats.
 */
void cfs_access_note(struct cfs_fs *fs, fuse_req_t req, uint32_t ino);
/* The process's name from /proc/PID/comm, or "?" if it is gone. */
void cfs_proc_comm(pid_t pid, char *buf, size_t len);

/* ---- trace.c: the first access of each (path, operation), as JSON lines. */

/* Bits of struct cfs_fs.seen: the operations traced for a node, and more. */
enum cfs_seen {
	CFS_TRACE_LOOKUP = 1 << 0,
	CFS_TRACE_GETATTR = 1 << 1,
	CFS_TRACE_OPEN = 1 << 2,
	CFS_TRACE_READLINK = 1 << 3,
	CFS_TRACE_READDIR = 1 << 4,
	CFS_SEEN_STORED = 1 << 6, /* its bytes were stored in the kernel's page cache */
	CFS_SEEN_LOGGED = 1 << 7, /* cfs_access_note() logged it */
};

struct cfs_trace;

/* Opens (appending, creating) the trace file.  Caller frees with cfs_trace_free(). */
errint_t cfs_trace_open(const char *path, struct cfs_trace **out, struct cfs_err *err);
/* Writes the run's header line, once the mount is ready. */
errint_t cfs_trace_header(struct cfs_trace *t, const struct cfs_tree *tree, const char *index,
			  struct cfs_err *err);
void cfs_trace_free(struct cfs_trace *t);
/* Writes the line for ino's first op (one write(2)), unless it was written. */
void cfs_trace_record(struct cfs_fs *fs, fuse_req_t req, uint32_t ino, enum cfs_seen op);

/* ---- prefetch.c: the working set's objects, fetched in the background. */

struct cfs_prefetch;

/*
 * Reads the objects to prefetch, in first-access order: those of file (a
 * trace: its opened files in line order; or a working set: its files in
 * entry order), then those of the working set ws not listed yet.  Either
 * may be NULL.  Caller frees with cfs_prefetch_free().
 */
errint_t cfs_prefetch_load(struct cfs_fs *fs, const char *file, const char *ws,
			   struct cfs_prefetch **out, struct cfs_err *err);
/* Starts jobs threads, once the mount is ready. */
void cfs_prefetch_start(struct cfs_fs *fs, struct cfs_prefetch *p, unsigned jobs);
/* Number of objects to prefetch. */
size_t cfs_prefetch_total(const struct cfs_prefetch *p);
/* Stops after the objects being fetched, joins the threads, frees p. */
void cfs_prefetch_free(struct cfs_prefetch *p);

/* The stats as a JSON object text.  Caller frees. */
char *cfs_stats_json(struct cfs_fs *fs);

extern const struct fuse_lowlevel_ops cfs_fs_ops;

/* Records ino's first op in the trace: one atomic load when already seen. */
static inline void cfs_trace_op(struct cfs_fs *fs, fuse_req_t req, uint32_t ino,
				enum cfs_seen op)
{
	if (fs->trace && !(atomic_load_explicit(&fs->seen[ino], memory_order_relaxed) & op))
		cfs_trace_record(fs, req, ino, op);
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The condafs FUSE daemon: serves an index read-only, fetching each file's
 * object from the store on first open into a shared, size-bounded cache.
 * Design and cache layout: docs/mount.md.
 */
#ifndef CFS_FS_H
#define CFS_FS_H

#include "cfs-util.h"

/* getxattr(2) on the mount root under this name returns the counters as JSON. */
#define CFS_FS_STATS_XATTR "user.condafs.stats"
/* statfs f_type of every FUSE mount (linux/magic.h has no name for it). */
#define CFS_FUSE_SUPER_MAGIC 0x65735546

#define CFS_FS_DEFAULT_CACHE_SIZE (10ull << 30)
#define CFS_FS_DEFAULT_FETCH_TIMEOUT 30 /* seconds for one open, all attempts */
#define CFS_FS_DEFAULT_FETCH_RETRIES 2  /* extra attempts after the first */
#define CFS_FS_DEFAULT_PREFETCH_JOBS 4  /* concurrent prefetches */
#define CFS_FS_DEFAULT_SPECULATE (256ull << 10) /* bytes of neighbours per open */

/*
 * When the first miss in a package's pack also queues the rest of that
 * pack, in the background: never, once the link has shown itself fast
 * (the default), or always.
 */
enum cfs_fs_stream {
	CFS_FS_STREAM_NEVER,
	CFS_FS_STREAM_FAST,
	CFS_FS_STREAM_ALWAYS,
};

/* What a pruned path (a tombstone of the index) does when accessed. */
enum cfs_fs_pruned {
	CFS_FS_PRUNED_ENOENT, /* absent: lookups fail, listings hide it */
	CFS_FS_PRUNED_FETCH,  /* served like any other file */
};

struct cfs_fs_opts {
	const char *index;      /* ENV.cfs */
	const char *mountpoint;
	const char *store;      /* directory, file:// or http(s):// URL; NULL: the index's */
	const char *cache_dir;  /* NULL: cfs_fs_default_cache_dir() */
	uint64_t cache_size;    /* bytes */
	unsigned fetch_timeout; /* seconds */
	unsigned fetch_retries;
	bool foreground;        /* don't fork; log to stderr */
	bool single_thread;     /* serve requests in one thread */
	bool debug;             /* libfuse's request trace */
	const char *fuse_opts;  /* extra comma-separated FUSE options, or NULL */
	const char *log_file;   /* daemon: append the log here instead of syslog */
	enum cfs_fs_pruned pruned;
	const char *trace;      /* append first accesses here (docs/profiling.md), or NULL */
	const char *workset;    /* a working set file (policy/workset.h), or NULL */
	bool strict;            /* serve only the working set's paths */
	bool no_passthrough;    /* serve every read itself, never through a backing file */
	bool no_open;           /* the kernel opens files without asking (see ops.c) */
	const char *prefetch;   /* a working set or trace whose objects to prefetch */
	unsigned prefetch_jobs; /* concurrent prefetches */
	/* HTTP(S) and S3 stores (docs/mount.md, "Fetching over a network"): */
	bool no_packs;          /* fetch every object alone: no pack ranges, no speculation */
	uint64_t speculate;     /* bytes of an opened object's pack neighbours fetched with it */
	enum cfs_fs_stream stream_packs; /* when a miss queues the rest of its pack */
	long http_version;      /* 0 (libcurl's choice: HTTP/2 over https), 11 or 2 */
	const char *cacert;     /* CA certificates for https, or NULL for the system's */
	/* For condafs run, which mounts in a private mount namespace: */
	bool log_stderr;        /* the daemon keeps stderr for its log (no syslog) */
	bool die_with_parent;   /* the daemon unmounts and exits when its parent dies */
	bool overmount;         /* mount over whatever is mounted at mountpoint */
};

/* Sets the defaults above; the caller fills index and mountpoint. */
void cfs_fs_opts_init(struct cfs_fs_opts *o);

/*
 * Sets one option by name, as written after -o or as a long option:
 * "cache_size", "cache-size" and "--cache-size" are the same.  Names:
 * store, cache, cache_size, fetch_timeout, fetch_retries, pruned, trace,
 * workset, strict (no value), prefetch, prefetch_jobs, no_packs (no value),
 * speculate, stream_packs, http_version, cacert, no_passthrough, no_open (no value).  o keeps pointers
 * to value.  Returns -ENOENT for a name that is not condafs's (a FUSE
 * option), or -EINVAL with "--cache-size wants a size like 512M or 2G, not
 * 'x'" (the name as given).
 */
errint_t cfs_fs_opts_set(struct cfs_fs_opts *o, const char *name, const char *value,
			 struct cfs_err *err);

/* Checks that the options go together: "--workset needs --strict or --prefetch". */
errint_t cfs_fs_opts_check(const struct cfs_fs_opts *o, struct cfs_err *err);

/*
 * /var/cache/condafs for root, else $XDG_CACHE_HOME/condafs or
 * ~/.cache/condafs.  Caller frees.
 */
char *cfs_fs_default_cache_dir(void);

/*
 * Mounts o->index at o->mountpoint and serves it until unmounted.
 * Unless o->foreground, forks first: the parent returns 0 as soon as the
 * child's mount is ready, or the child's one-line error; the child serves
 * and returns 0 once unmounted (the caller then just exits).  Errors before
 * the mount (unreadable index, bad store or cache) are returned in err.
 */
errint_t cfs_fs_mount(const struct cfs_fs_opts *o, struct cfs_err *err);

/*
 * Like cfs_fs_mount() in the background, but the daemon child never
 * returns (it exits 0 once unmounted, 1 on errors): the caller gets the
 * daemon's pid once the mount is ready, and should waitpid() it.
 */
errint_t cfs_fs_spawn(const struct cfs_fs_opts *o, pid_t *pid, struct cfs_err *err);

/* Unmounts a condafs mount: umount2() as root, else fusermount3 -u. */
errint_t cfs_fs_umount(const char *mountpoint, bool lazy, struct cfs_err *err);

/* Reads a live mount's counters as JSON.  Caller frees *json. */
errint_t cfs_fs_read_stats(const char *mountpoint, char **json, struct cfs_err *err);

/*
 * path made absolute against the working directory, "." and ".." resolved by
 * name, as the mount table writes it; touches nothing.  Caller frees.
 */
char *cfs_fs_absolute_path(const char *path);
/*
 * The type of the file system mounted on top at the absolute path mp
 * ("fuse.condafs") into fstype; -ENOENT if nothing is mounted there.
 */
errint_t cfs_fs_top_mount(const char *mp, char *fstype, size_t size);
/*
 * Runs fn(path, out) in a child process and copies its size bytes of out
 * back, for calls that may block in a hung FUSE daemon.  Returns 0,
 * -ETIMEDOUT after timeout_ms (the child is killed), or -EIO if the child
 * died without an answer.
 */
errint_t cfs_fs_probe(void (*fn)(const char *path, void *out), const char *path,
		      unsigned timeout_ms, void *out, size_t size);

#endif

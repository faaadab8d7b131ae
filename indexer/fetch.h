/* SPDX-License-Identifier: MIT */
/*
 * Package fetching with libcurl: http(s)://, file:// and plain paths,
 * several transfers at once, retries with backoff, verification against
 * the lock's sha256 (or md5), and a download cache that only ever holds
 * verified files.
 */
#ifndef CFS_FETCH_H
#define CFS_FETCH_H

#include "cfs-util.h"
#include "hash.h"

struct cfs_mirror {
	const char *from; /* URL prefix to replace */
	const char *to;   /* replacement */
};

struct cfs_fetch_opts {
	const char *cache_dir;   /* verified downloads live in <cache_dir>/pkgs/ */
	int jobs;                /* transfers at once, >= 1 */
	const struct cfs_mirror *mirrors;
	size_t n_mirrors;        /* the first matching (longest listed first) applies */
	int retries;             /* extra attempts on transient failures (default 3) */
	long connect_timeout_ms; /* 0: 30 s */
	long low_speed_secs;     /* abort a transfer slower than 1 byte/s for this long; 0: 60 */
	bool allow_unverified;   /* accept items with neither hash */
	bool progress;           /* draw a progress line on stderr */
};

struct cfs_fetch_item {
	/* in */
	const char *url;   /* URL or local path, before mirror rewriting */
	const char *label; /* for messages, e.g. the package file name */
	bool has_sha256, has_md5;
	uint8_t sha256[CFS_SHA256_LEN];
	uint8_t md5[CFS_MD5_LEN];
	/* out */
	char *path;      /* a verified local file to read (caller frees); for a
			  * local source with a hash this may be the source
			  * itself, otherwise a file in the cache */
	uint8_t got_sha256[CFS_SHA256_LEN]; /* computed from the bytes */
	uint64_t size;
	bool from_cache; /* true if no transfer was needed */
};

/*
 * Fetches every item, at most opts->jobs at once.  Stops at the first item
 * that fails for good (after retries), returning -EIO (or -errno) with
 * err = "<label>: <url>: <what was wrong>", e.g. "HTTP 500",
 * "sha256 mismatch: expected X, got Y", "could not connect".
 * Transient failures (connection errors, timeouts, HTTP 5xx and 429,
 * truncated bodies) are retried with exponential backoff; 4xx and hash
 * mismatches are not.  Files appear in the cache only after verification
 * (written to a temporary name in the cache, then renamed).
 * Items without any hash are an error unless opts->allow_unverified.
 */
errint_t cfs_fetch_all(const struct cfs_fetch_opts *opts,
		       struct cfs_fetch_item *items, size_t n,
		       struct cfs_err *err);

/* Frees item->path. */
void cfs_fetch_item_release(struct cfs_fetch_item *item);

/*
 * Applies the first matching mirror rule to url.  Caller frees the result.
 */
char *cfs_fetch_rewrite_url(const struct cfs_mirror *mirrors, size_t n,
			    const char *url);

#endif

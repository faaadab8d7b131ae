/* SPDX-License-Identifier: MIT */
/*
 * condafs index: lock file → verified packages → store objects + SQLite
 * index.  This is the module's public entry point; lock.h, fetch.h,
 * package.h, relocate.h and tree.h are its parts.
 */
#ifndef CFS_INDEXER_H
#define CFS_INDEXER_H

#include "compile.h"
#include "fetch.h"
#include "lock.h"

struct cfs_index_opts {
	const char *lock_path;
	const char *out_path;   /* the index file to write (atomically) */
	const char *store_dir;
	const char *prefix;     /* default CFS_DEFAULT_PREFIX */
	const char *platform;   /* default: the host's */
	const char *environment; /* pixi.lock environment; NULL: "default" */
	const char *cache_dir;  /* default: $XDG_CACHE_HOME/condafs or ~/.cache/condafs */
	int jobs;               /* downloads and installs at once */
	const struct cfs_mirror *mirrors;
	size_t n_mirrors;
	bool skip_unbuildable;  /* skip (with a warning) lock entries condafs cannot
				 * install: source distributions, git, local
				 * directories; otherwise they are an error */
	bool allow_unverified;  /* packages without any hash are accepted */
	bool progress;          /* progress lines on stderr */
	bool no_packs;          /* write no packs (docs/store.md) */
	bool no_compile;        /* no bytecode for noarch: python packages */
	/* Runs a command with a provisional index mounted at the prefix, for
	 * compiling bytecode (compile.h); NULL: no bytecode. */
	cfs_run_in_index_fn run_in_index;
	const char *cmdline;    /* recorded in conda-meta/history */
	/* Prune policy: in this order, later rules win.  Each item is a
	 * policy file path, or "preset:NAME[,NAME...]". */
	const char *const *policy;
	size_t n_policy;
};

struct cfs_index_result {
	size_t packages, wheels, skipped;
	size_t rules;
	size_t packs, new_packs; /* listed in the index; of them, written now */
	uint64_t pack_bytes;
	size_t pyc_sources, pyc_compiled, pyc_reused, pyc_failed;
};

/*
 * Builds the index.  On success the index file exists at opts->out_path and
 * every object it names is durable in the store; on failure no index file
 * is left behind and err says what was wrong.
 */
errint_t cfs_index_build(const struct cfs_index_opts *opts, struct cfs_index_result *res,
			 struct cfs_err *err);

/* The default package cache directory (caller frees). */
char *cfs_index_default_cache(void);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Bytecode at index time: the .py files of noarch: python packages compiled
 * by the environment's own interpreter, as conda compiles them at install,
 * into __pycache__/NAME.<cache_tag>.pyc objects owned by their packages.
 */
#ifndef CFS_COMPILE_H
#define CFS_COMPILE_H

#include "cfs-util.h"
#include "lock.h"
#include "package.h"
#include "store.h"

/*
 * Runs argv with the index at index_path mounted at prefix (objects from
 * store_dir) and returns its exit status (0-255, or 128 + a signal), or a
 * negative errno with err set when it could not be started.  The indexer
 * library cannot mount; the program supplies this (condafs run).
 */
typedef int (*cfs_run_in_index_fn)(const char *index_path, const char *store_dir,
				   const char *prefix, const char *const *argv,
				   struct cfs_err *err);

/* Writes a provisional index of pkgs (no packs, no pruning) at path. */
typedef errint_t (*cfs_write_tmp_index_fn)(void *ctx, const char *path, struct cfs_err *err);

struct cfs_compile_opts {
	const char *prefix;
	const char *python_xy;          /* "3.11"; NULL: the lock has no python */
	const char *store_dir;
	struct cfs_store *store;
	const char *cache_dir;          /* compiled objects are remembered under pyc/ */
	const char *lock_platform;
	int jobs;
	bool progress;
	cfs_run_in_index_fn run;
	cfs_write_tmp_index_fn write_tmp_index;
	void *write_ctx;
};

struct cfs_compile_result {
	size_t sources;  /* .py files that conda would compile */
	size_t compiled; /* pyc files now in the index */
	size_t reused;   /* of them, found in the cache, not compiled again */
	size_t failed;   /* sources Python refused (a syntax error), left without bytecode */
	bool skipped;    /* nothing compiled, for the reason already warned about */
};

/*
 * Compiles what conda would compile for pkgs and adds the pyc files to their
 * packages (entries and conda-meta, path_type pyc_file).  Returns an error
 * only for what breaks the index (the store, the cache); an interpreter that
 * cannot run here is one warning, and res->skipped.
 */
errint_t cfs_compile_packages(const struct cfs_compile_opts *o, const struct cfs_lock *lock,
			      struct cfs_package *pkgs, struct cfs_compile_result *res,
			      struct cfs_err *err);

#endif

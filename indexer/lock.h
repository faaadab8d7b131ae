/* SPDX-License-Identifier: MIT */
/*
 * Lock file readers: conda-lock's unified conda-lock.yml (version 1) and
 * explicit "@EXPLICIT" files.  See ../shared CONDA-FORMATS.md, CEP 23 and
 * CEP 37.
 */
#ifndef CFS_LOCK_H
#define CFS_LOCK_H

#include "cfs-util.h"
#include "hash.h"

enum cfs_lock_kind {
	CFS_LOCK_EXPLICIT,
	CFS_LOCK_CONDA_LOCK_V1,
};

enum cfs_lock_manager {
	CFS_MGR_CONDA,
	CFS_MGR_PIP,
};

struct cfs_lock_pkg {
	char *name;     /* from the lock, or parsed from the file name */
	char *version;  /* idem */
	char *build;    /* parsed from the file name (lock entries have none) */
	char *url;      /* as written in the lock (a URL or a local path) */
	char *fn;       /* the URL's last component, e.g. zlib-1.2.13-h1_0.conda */
	char *channel;  /* URL up to the subdir, e.g. https://conda.anaconda.org/conda-forge; may be "" */
	char *subdir;   /* e.g. linux-64 or noarch; may be "" */
	char *category; /* conda-lock category ("main"), NULL for explicit */
	bool has_sha256;
	bool has_md5;
	uint8_t sha256[CFS_SHA256_LEN];
	uint8_t md5[CFS_MD5_LEN];
	enum cfs_lock_manager manager;
	char **depends; /* dependency package names (conda-lock.yml), may be NULL */
	size_t n_depends;
	int line; /* 1-based line in the lock file where the entry starts */
};

struct cfs_lock {
	enum cfs_lock_kind kind;
	char *path;     /* the lock file as given */
	char *platform; /* the platform these packages are for */
	uint8_t sha256[CFS_SHA256_LEN]; /* of the lock file's bytes */
	/* conda packages in install order (dependencies first). */
	struct cfs_lock_pkg *pkgs;
	size_t n_pkgs;
	/* Entries condafs does not install (manager: pip, "# pip" lines). */
	struct cfs_lock_pkg *skipped;
	size_t n_skipped;
};

/*
 * Reads the lock file at path, selecting the packages for platform (which
 * must not be NULL; the CLI passes the host's platform by default).
 * Detects the format from the content: "@EXPLICIT" → explicit, a YAML
 * mapping with "version" → conda-lock.yml.
 *
 * conda-lock.yml: refuses any version other than 1; keeps only entries whose
 * platform matches; a package listed under several categories with the same
 * URL is installed once; the same name with different URLs is an error.
 * Orders packages so that dependencies come first (stable: ties keep lock
 * order; dependencies outside the lock are ignored; a cycle is broken in
 * lock order).
 *
 * Explicit: "# platform: X" names the platform; if it differs from platform
 * that is an error.  Lines before @EXPLICIT that are not comments are an
 * error.  Fragments: 32 hex = md5, "sha256:" + 64 hex or bare 64 hex =
 * sha256.  "# pip name @ url#sha256=..." comments become skipped entries.
 *
 * On error returns -EINVAL (or -errno for I/O) and fills err with one line
 * "<path>:<line>: <what was wrong>".
 * On success *out is owned by the caller: free with cfs_lock_free().
 */
errint_t cfs_lock_load(const char *path, const char *platform,
		       struct cfs_lock **out, struct cfs_err *err);

/* Same, from a buffer; path is used only in messages. */
errint_t cfs_lock_parse(const char *path, const char *data, size_t len,
			const char *platform, struct cfs_lock **out,
			struct cfs_err *err);

void cfs_lock_free(struct cfs_lock *lock);

/*
 * Splits a package file name "name-version-build.conda" or ".tar.bz2" into
 * its parts (caller frees each).  Returns -EINVAL if fn is not of that form.
 */
errint_t cfs_lock_split_fn(const char *fn, char **name, char **version,
			   char **build);

/* The platform of the running machine, e.g. "linux-64", "linux-aarch64". */
const char *cfs_lock_host_platform(void);

#endif

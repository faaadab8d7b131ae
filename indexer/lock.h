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

/*
 * One package.  All strings belong to the struct cfs_lock that holds it.
 * A conda-lock.yml entry may lack any key: then name and version are NULL
 * unless the URL's file name supplies them, and url and fn are NULL (the
 * indexer reports a missing URL).  Conda packages of an explicit file
 * always have name, version, build, url and fn; its "# pip" entries have a
 * name, url and fn but no version.
 */
struct cfs_lock_pkg {
	char *name;     /* from the lock, or parsed from the file name; may be NULL */
	char *version;  /* idem */
	char *build;    /* parsed from the file name (lock entries have none);
			 * NULL for pip entries and without a URL */
	char *url;      /* as written in the lock (a URL or a local path); may be NULL */
	char *fn;       /* the URL's last component, e.g. zlib-1.2.13-h1_0.conda;
			 * NULL exactly when url is */
	char *channel;  /* URL up to the subdir, e.g. https://conda.anaconda.org/conda-forge;
			 * never NULL, may be "" (always "" for pip entries) */
	char *subdir;   /* e.g. linux-64 or noarch; never NULL, may be "" (idem) */
	char *category; /* conda-lock category ("main"); NULL for explicit or when absent */
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
 * "<path>:<line>: <what was wrong>".  Also -EFBIG for a lock larger than
 * CFS_MAX_LOCK_BYTES and -ENOMEM if libyaml runs out of memory; for those
 * and for I/O errors the message is "<path>: <what>" without a line.
 * On success *out is owned by the caller: free with cfs_lock_free().
 */
errint_t cfs_lock_load(const char *path, const char *platform,
		       struct cfs_lock **out, struct cfs_err *err);

/*
 * Same, from a buffer (which need not be NUL-terminated; a NUL byte in it
 * is an error); path is used only in messages and may be NULL.
 */
errint_t cfs_lock_parse(const char *path, const char *data, size_t len,
			const char *platform, struct cfs_lock **out,
			struct cfs_err *err);

/* Frees lock and everything it holds; NULL is allowed. */
void cfs_lock_free(struct cfs_lock *lock);

/*
 * Splits a package file name "name-version-build.conda" or ".tar.bz2" into
 * its parts (caller frees each).  Any of name, version and build may be NULL
 * to skip that part.  Returns -EINVAL if fn is not of that form; then
 * nothing is allocated or written.
 */
errint_t cfs_lock_split_fn(const char *fn, char **name, char **version,
			   char **build);

/*
 * The platform of the running machine, e.g. "linux-64", "linux-aarch64": a
 * static string, not to be freed.  NULL for a machine condafs does not know
 * (and on systems other than Linux).
 */
const char *cfs_lock_host_platform(void);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Lock file readers: conda-lock's unified conda-lock.yml (version 1),
 * explicit "@EXPLICIT" files (CEP 23, CEP 37) and pixi.lock (rattler's lock
 * format, versions 4 to 7).
 */
#ifndef CFS_LOCK_H
#define CFS_LOCK_H

#include "cfs-util.h"
#include "hash.h"

enum cfs_lock_kind {
	CFS_LOCK_EXPLICIT,
	CFS_LOCK_CONDA_LOCK_V1,
	CFS_LOCK_PIXI,
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
	char **depends; /* dependency package names, may be NULL */
	size_t n_depends;
	/*
	 * Why condafs cannot install this entry (a static string, e.g. "a source
	 * distribution"); NULL for conda packages and wheels.  Such entries are
	 * in cfs_lock.skipped.
	 */
	const char *unbuildable;
	int line; /* 1-based line in the lock file where the entry starts */
};

struct cfs_lock {
	enum cfs_lock_kind kind;
	int version;       /* the format's version: 1 for conda-lock.yml, 4-7 for
			    * pixi.lock, 0 for explicit files */
	char *path;        /* the lock file as given */
	char *platform;    /* the platform these packages are for */
	char *environment; /* pixi.lock: the environment read; NULL otherwise */
	uint8_t sha256[CFS_SHA256_LEN]; /* of the lock file's bytes */
	/*
	 * Packages to install: the conda packages in install order
	 * (dependencies first), then the wheels (manager CFS_MGR_PIP, url ends
	 * in .whl) in lock order.
	 */
	struct cfs_lock_pkg *pkgs;
	size_t n_pkgs;
	size_t n_wheels; /* the last n_wheels of pkgs */
	/*
	 * Entries condafs cannot install (source distributions, git and local
	 * directory entries, conda source packages), each with its reason.
	 */
	struct cfs_lock_pkg *skipped;
	size_t n_skipped;
};

/*
 * Reads the lock file at path, selecting the packages for platform (which
 * must not be NULL; the CLI passes the host's platform by default).
 * Detects the format from the content: "@EXPLICIT" → explicit, a YAML
 * mapping with "environments" and a "packages" list → pixi.lock, another
 * mapping with "version" → conda-lock.yml.
 *
 * pixi.lock (versions 4 to 7): reads the environment's packages for
 * platform, each found in the top-level packages list by its location (and
 * for versions 6 and 7 by the selector's name and build fields).  Every
 * built conda package must carry a sha256 or md5 (a wheel may not: pixi
 * records none for a direct URL).  Wheels are installed; source
 * distributions, git, directory and editable pypi entries and conda source
 * packages are listed in skipped.
 *
 * pip entries of every format (manager: pip, "# pip" lines, pypi entries):
 * a .whl URL is a package to install, anything else is skipped.
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
 * Same, for a named environment of a pixi.lock (NULL: "default").  Other
 * formats have one environment: naming one other than "default" is an
 * error.
 */
errint_t cfs_lock_load_env(const char *path, const char *platform, const char *environment,
			   struct cfs_lock **out, struct cfs_err *err);

/*
 * Same, from a buffer (which need not be NUL-terminated; a NUL byte in it
 * is an error); path is used only in messages and may be NULL.
 */
errint_t cfs_lock_parse(const char *path, const char *data, size_t len,
			const char *platform, struct cfs_lock **out,
			struct cfs_err *err);
errint_t cfs_lock_parse_env(const char *path, const char *data, size_t len,
			    const char *platform, const char *environment,
			    struct cfs_lock **out, struct cfs_err *err);

/*
 * Where to fetch url from: a relative path (no scheme, not starting with
 * '/') is taken relative to the directory of the lock file at lock_path;
 * pixi's "direct+https://..." loses its "direct+"; anything else is
 * returned as is.  Caller frees.
 */
char *cfs_lock_resolve_url(const char *lock_path, const char *url);

/*
 * The package name a match spec names ("python >=3.9" -> python,
 * "conda-forge::numpy 1.26.*" -> numpy), or NULL if it names none.
 * Caller frees.
 */
char *cfs_lock_spec_name(const char *spec);

/* Whether fn (a file name) ends in .whl. */
bool cfs_lock_is_wheel(const char *fn);

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

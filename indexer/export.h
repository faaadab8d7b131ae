/* SPDX-License-Identifier: MIT */
/*
 * Export: the files of working sets (or of the whole served environment)
 * as a directory tree, a tar archive or an OCI image layout, reproducibly
 * (docs/profiling.md, "Export").
 *
 * Paths go under the environment's prefix without its leading slash
 * ("env/lib/..."), sorted, with explicit parent directories, uid/gid 0,
 * the index's modes and mtimes (whole seconds in tar), symlinks as symlinks
 * and file contents from the store, decompressed and verified while they are
 * streamed.  Pruned nodes are never exported.  The output is published
 * atomically: a temporary file or directory renamed at the end.
 */
#ifndef CFS_EXPORT_H
#define CFS_EXPORT_H

#include "cfs-util.h"

enum cfs_export_format {
	CFS_EXPORT_DIR,
	CFS_EXPORT_TAR,
	CFS_EXPORT_TAR_GZ,
	CFS_EXPORT_TAR_ZST,
	CFS_EXPORT_OCI,
};

enum cfs_export_comp {
	CFS_COMP_NONE,
	CFS_COMP_GZIP,  /* zlib level 6, no name or mtime in the header */
	CFS_COMP_ZSTD,  /* level 3, single-threaded, with a checksum */
};

struct cfs_export_opts {
	const char *index;                /* ENV.cfs */
	const char *output;               /* file (tar formats) or directory (dir, oci) */
	enum cfs_export_format format;
	const char *store;                /* NULL: the store the index names */
	const char *cache;                /* a mount's object cache to read first, or NULL */
	bool verify_cache;                /* hash files read from the cache, as store objects are */
	char *const *worksets;            /* working set files, merged */
	size_t n_worksets;
	bool all;                         /* the whole served environment */
	bool with_conda_meta;             /* conda-meta records of exported packages + history */
	/* oci only */
	const char *base;                 /* a tar (plain or gzip) added as the lower layer */
	char *const *entrypoint;          /* config.Entrypoint, n_entrypoint words */
	size_t n_entrypoint;
	const char *name;                 /* image reference; NULL: condafs/<index name>:latest */
	enum cfs_export_comp compression; /* layers: CFS_COMP_GZIP or CFS_COMP_ZSTD */
};

struct cfs_export_result {
	uint64_t dirs, files, symlinks, bytes; /* exported */
	uint64_t env_files, env_bytes;         /* the served environment: files+symlinks, bytes */
	uint64_t out_bytes;                    /* the tar or layer as written */
	uint64_t from_cache;                   /* files read from the cache, not decoded */
	char *name;                            /* oci: the image reference */
	char layer_digest[72];                 /* oci: "sha256:<hex>" of the environment layer */
	char manifest_digest[72];              /* oci */
};

/* Parses "dir", "tar", "tar.gz", "tar.zst" or "oci"; -EINVAL otherwise. */
errint_t cfs_export_parse_format(const char *s, enum cfs_export_format *out);
/* The format implied by an output name (".tar", ".tar.gz", ".tgz", ".tar.zst"), or -EINVAL. */
errint_t cfs_export_format_from_name(const char *output, enum cfs_export_format *out);

/*
 * Exports.  Errors are one line naming the file or path: "<ws>: working set
 * for prefix /opt, but env.cfs is for /env", "<store>/objects/..: corrupt
 * object ...", "<out>: Permission denied".  Warnings (changed packages,
 * pruned or missing working-set paths) are logged.  Caller releases res
 * with cfs_export_result_release().
 */
errint_t cfs_export(const struct cfs_export_opts *o, struct cfs_export_result *res,
		    struct cfs_err *err);
void cfs_export_result_release(struct cfs_export_result *res);

/*
 * What cfs_export() would write for o's working sets (or o->all, and
 * o->with_conda_meta) to a plain tar, without reading any content: the same
 * selection (working sets applied to the index, their keep globs, parents,
 * symlinks and their targets) and the same tar writer.  t is the index's
 * tree (cfs_ws_tree_load(); the caller keeps it); nodes already set in marks
 * (say, from traces) are exported too, and marks ends up holding every node
 * the export writes.  res gets the counts, and out_bytes the size of the
 * tar (--format tar).  o->index, output, format, store and cache are unused.
 * Errors name the working set file.  Caller releases res.
 */
struct cfs_ws_tree;
errint_t cfs_export_measure(struct cfs_ws_tree *t, const struct cfs_export_opts *o,
			    uint8_t *marks, struct cfs_export_result *res, struct cfs_err *err);

#endif

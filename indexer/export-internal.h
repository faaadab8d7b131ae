/* SPDX-License-Identifier: MIT */
/* Shared by export.c, export-stream.c, export-tar.c, export-dir.c and export-oci.c. */
#ifndef CFS_EXPORT_INTERNAL_H
#define CFS_EXPORT_INTERNAL_H

#include "export.h"
#include "hash.h"
#include "store.h"
#include "workset-build.h"

struct cfs_node;

/* What to write, in order: synthesized ancestors of the prefix, then nodes. */
struct export_item {
	char *name;        /* "env/lib/os.py" (no trailing slash) */
	ssize_t node;      /* position in the tree, or -1 for an ancestor of the prefix */
};

struct export_ctx {
	const struct cfs_export_opts *o;
	struct cfs_export_result *res;
	struct cfs_err *err;
	const char *out_name;     /* the output, for messages: "standard output" for -o - */
	struct cfs_ws_tree *tree;
	bool borrowed_tree;       /* cfs_export_measure(): the caller's tree */
	bool measure;             /* only the tar's size: contents are not read */
	struct export_item *items;
	size_t n_items;
	char *store_dir;
	int store_fd;
	const char *cache_dir;
	int cache_fd;             /* the cache's directory, or -1 */
	/* oci */
	char *ref, *tag;          /* "localhost/app:v1", "v1" */
	const char *arch, *variant, *os;
	char chunk[1 << 17];  /* compressed object reads */
};

/*
 * The contents of the regular files among x's items, decoded ahead by a
 * second thread (export-pipe.c).  Call export_pipe_read() once per regular
 * file, in item order, with its node position i; it passes the content to
 * sink, verifies its sha256 and size, and returns 0 or the error (message
 * in x->err).  export_pipe_stop() cancels and frees.
 */
struct export_pipe;
errint_t export_pipe_start(struct export_ctx *x, struct export_pipe **out);
errint_t export_pipe_read(struct export_pipe *p, size_t i, cfs_sink_fn sink, void *ctx);
void export_pipe_stop(struct export_pipe *p);

/* Mode and mtime of an item (ancestors of the prefix: 0755 and the root's mtime). */
uint32_t export_item_mode(const struct export_ctx *x, const struct export_item *it);
const struct cfs_node *export_item_node(const struct export_ctx *x, const struct export_item *it);

/*
 * An output byte stream: optional compression, optional sha256 of the bytes
 * before (diff_id) and after compression (blob digest), buffered writes.
 */
struct export_stream;
/* Caller frees with export_stream_free().  fd -1: bytes are only counted. */
struct export_stream *export_stream_new(int fd, enum cfs_export_comp comp, bool digests);
errint_t export_stream_write(struct export_stream *s, const void *data, size_t len);
/* Flushes the compressor and the buffer; the digests are valid after it. */
errint_t export_stream_finish(struct export_stream *s);
void export_stream_free(struct export_stream *s);
uint64_t export_stream_raw_size(const struct export_stream *s);
uint64_t export_stream_out_size(const struct export_stream *s);
/* sha256 of the uncompressed and of the written bytes (digests must be on). */
void export_stream_digests(const struct export_stream *s, uint8_t raw[CFS_SHA256_LEN],
			   uint8_t out[CFS_SHA256_LEN]);
/* The sink for cfs_objdec / export_read_object: ctx is a struct export_stream. */
errint_t export_stream_sink(void *ctx, const void *data, size_t len);

/*
 * Writes the items as a pax (restricted) tar into s; s is not finished.
 * With x->measure, file contents are neither read nor written: libarchive
 * pads each entry with zeros, so the size is exactly the tar's.
 */
errint_t export_write_tar(struct export_ctx *x, struct export_stream *s);
/* Writes the items below the existing, empty directory dirfd (named dir in messages). */
errint_t export_write_dir(struct export_ctx *x, int dirfd, const char *dir);
/* Checks and fills the oci fields of x (name, platform) before anything is written. */
errint_t export_oci_prepare(struct export_ctx *x);
/* Writes an OCI image layout (with a docker-archive manifest.json) into dir. */
errint_t export_write_oci(struct export_ctx *x, int dirfd, const char *dir);

/* Removes a directory tree (no symlinks followed); best effort. */

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The content-addressed store: one zstd-compressed object per distinct file
 * content, named by the sha256 of the uncompressed content.  Layout (see
 * docs/store.md):
 *
 *   <store>/condafs-store.json          {"format":"condafs-store","version":1}
 *   <store>/objects/ab/ab12...ef.zst    one zstd frame; sha256(content) = name
 *   <store>/tmp/                        temporary files (not part of the store)
 *
 * Objects are immutable and published atomically (temporary file, rename),
 * so any HTTP server or S3 bucket can serve the tree as-is.
 */
#ifndef CFS_STORE_H
#define CFS_STORE_H

#include "cfs-util.h"
#include "hash.h"

/* Version history: 1 - initial layout. */
#define CFS_STORE_VERSION 1
/* "objects/ab/<64 hex>.zst" plus NUL. */
#define CFS_OBJECT_RELPATH_LEN (8 + 3 + 64 + 4 + 1)

struct cfs_store;

/*
 * Opens the store in directory dir, creating it (and its marker file) if
 * create is set.  Caller frees with cfs_store_free().
 */
errint_t cfs_store_open(const char *dir, bool create, struct cfs_store **out,
			struct cfs_err *err);
void cfs_store_free(struct cfs_store *s);
const char *cfs_store_dir(const struct cfs_store *s);

/* The file that marks a directory as a store, and its content. */
#define CFS_STORE_MARKER "condafs-store.json"
extern const char cfs_store_marker_json[];

/* Writes "objects/ab/<hex>.zst" into out (CFS_OBJECT_RELPATH_LEN bytes). */
void cfs_object_relpath(const uint8_t digest[CFS_SHA256_LEN], char *out);
/* The same without ".zst": a decompressed object in a mount's cache. */
void cfs_cached_object_relpath(const uint8_t digest[CFS_SHA256_LEN], char *out);

/* True if the object is present (a stat; not verified). */
bool cfs_store_has(struct cfs_store *s, const uint8_t digest[CFS_SHA256_LEN]);
/* Compressed size of a present object, or -errno. */
errint_t cfs_store_object_size(struct cfs_store *s,
			       const uint8_t digest[CFS_SHA256_LEN],
			       uint64_t *csize);

/*
 * Copies an object that is already compressed and verified (another
 * store's file, read from fd's position) in as the object digest, unless it
 * is there.  Durable after cfs_store_sync(), like every object.
 */
errint_t cfs_store_put_compressed(struct cfs_store *s, int fd,
				  const uint8_t digest[CFS_SHA256_LEN]);
/*
 * Stores len bytes, computing their digest.  If the object already exists
 * nothing is written.  csize_out (optional) receives the compressed size.
 */
errint_t cfs_store_put(struct cfs_store *s, const void *data, size_t len,
		       uint8_t digest_out[CFS_SHA256_LEN], uint64_t *csize_out);

/* Streaming writer for contents too large to hold in memory. */
struct cfs_store_writer;
#define CFS_STORE_SIZE_UNKNOWN UINT64_MAX
/*
 * size: the content's exact length if known (it goes into the frame header;
 * writing more or less then fails with -EINVAL), else CFS_STORE_SIZE_UNKNOWN.
 * Caller ends it with exactly one of _commit or _abort.
 */
errint_t cfs_store_writer_begin(struct cfs_store *s, uint64_t size,
				struct cfs_store_writer **out);
errint_t cfs_store_writer_write(struct cfs_store_writer *w, const void *data,
				size_t len);
/* Publishes the object (unless present) and frees w. */
errint_t cfs_store_writer_commit(struct cfs_store_writer *w,
				 uint8_t digest_out[CFS_SHA256_LEN],
				 uint64_t *size_out, uint64_t *csize_out);
void cfs_store_writer_abort(struct cfs_store_writer *w);

/*
 * Makes every object published so far durable (syncfs on the store's file
 * system).  The indexer calls it before publishing an index that refers to
 * the objects.
 */
errint_t cfs_store_sync(struct cfs_store *s);

/*
 * Object decoder: decompresses one object from any byte source, passing
 * content to sink, and verifies sha256 and size at the end.  Used by `cat`
 * for local stores and by the daemon for remote ones.
 */
typedef errint_t (*cfs_sink_fn)(void *ctx, const void *data, size_t len);
struct cfs_objdec;
/* max_size bounds the decompressed size.  Caller frees with _free. */
struct cfs_objdec *cfs_objdec_new(const uint8_t digest[CFS_SHA256_LEN],
				  uint64_t max_size, cfs_sink_fn sink, void *ctx);
/* Returns 0, -EBADMSG for corrupt data, -EFBIG past max_size, or sink's error. */
errint_t cfs_objdec_feed(struct cfs_objdec *d, const void *data, size_t len);
/* Returns 0 if the content was complete and its sha256 matched, else -EBADMSG. */
errint_t cfs_objdec_finish(struct cfs_objdec *d, uint64_t *size_out);
void cfs_objdec_free(struct cfs_objdec *d);

/* Decompresses and verifies a local object into fd. */
errint_t cfs_store_read_to_fd(struct cfs_store *s,
			      const uint8_t digest[CFS_SHA256_LEN], int fd,
			      struct cfs_err *err);

/* Decompresses and verifies a local object into memory (caller frees *out). */
errint_t cfs_store_read_all(struct cfs_store *s,
			    const uint8_t digest[CFS_SHA256_LEN], uint64_t max_size,
			    char **out, size_t *len_out, struct cfs_err *err);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Packs: many store objects in one file, so that a lazy mount fetches them
 * with one HTTP range request.  A pack is
 *
 *   <store>/packs/<64 hex>.pack
 *
 * the plain concatenation of its objects' stored bytes (each entry exactly
 * the bytes of objects/ab/<hex>.zst), without header or padding.  Its name
 * is the sha256 of its entry list text: for each entry in order, the line
 * "<64 hex object digest> <compressed size in decimal>\n".  Objects in a
 * store never change, so within one store that list determines the bytes,
 * and an existing pack of the right size is not written again.  Packs are
 * optional: every object stays individually addressable (docs/store.md).
 */
#ifndef CFS_PACK_H
#define CFS_PACK_H

#include "cfs-util.h"
#include "hash.h"

struct cfs_store;

/* "packs/<64 hex>.pack" plus NUL. */
#define CFS_PACK_RELPATH_LEN (6 + 64 + 5 + 1)

struct cfs_pack_entry {
	uint8_t digest[CFS_SHA256_LEN];
	uint64_t offset; /* of the object's stored bytes in the pack */
	uint64_t csize;  /* their length: the object file's size */
};

struct cfs_pack {
	struct cfs_pack_entry *entries;
	size_t n, alloc;
	uint64_t size;                   /* sum of the entries' csize */
	char name[CFS_PACK_RELPATH_LEN]; /* set by cfs_pack_finish() */
};

/* Appends an entry at offset p->size.  The caller keeps entries distinct. */
void cfs_pack_add(struct cfs_pack *p, const uint8_t digest[CFS_SHA256_LEN], uint64_t csize);
/* Computes p->name from the entry list. */
void cfs_pack_finish(struct cfs_pack *p);
/* Frees the entries; the struct may be reused after cfs_pack_init(). */
void cfs_pack_release(struct cfs_pack *p);
static inline void cfs_pack_init(struct cfs_pack *p)
{
	*p = (struct cfs_pack){ 0 };
}

/*
 * Publishes finished pack p in store s (temporary file in tmp/, rename into
 * packs/), copying each entry from the store's object file, whose size must
 * be the entry's csize.  A pack already there with p->size bytes is left as
 * it is (*written = false).  Durable after cfs_store_sync(), like objects.
 */
errint_t cfs_store_write_pack(struct cfs_store *s, const struct cfs_pack *p, bool *written,
			      struct cfs_err *err);

/* True if name is "packs/<64 lowercase hex>.pack". */
bool cfs_pack_name_valid(const char *name);

/*
 * Copies a pack of size bytes, read from fd's position, into store s as
 * name (cfs_pack_name_valid), unless a file of that size is there
 * (*written = false).  Durable after cfs_store_sync().
 */
errint_t cfs_store_put_pack(struct cfs_store *s, int fd, const char *name, uint64_t size,
			    bool *written);

/* A set of object digests (open addressing).  Release with _release. */
struct cfs_digest_set {
	uint8_t (*slots)[CFS_SHA256_LEN + 1]; /* last byte: slot used */
	size_t n, nslots;
};
/* Adds digest; returns true if it was not there yet. */
bool cfs_digest_set_add(struct cfs_digest_set *set, const uint8_t digest[CFS_SHA256_LEN]);
void cfs_digest_set_release(struct cfs_digest_set *set);

#endif

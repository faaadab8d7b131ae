/* SPDX-License-Identifier: MIT */
/* sha256 and md5 through OpenSSL's libcrypto. */
#ifndef CFS_HASH_H
#define CFS_HASH_H

#include "cfs-util.h"

#define CFS_SHA256_LEN 32
#define CFS_MD5_LEN 16

enum cfs_hash_kind { CFS_HASH_SHA256, CFS_HASH_MD5 };

struct cfs_hash; /* opaque */

/* Caller frees with cfs_hash_free(). Never returns NULL. */
struct cfs_hash *cfs_hash_new(enum cfs_hash_kind kind);
void cfs_hash_update(struct cfs_hash *h, const void *data, size_t len);
/* Writes 32 (sha256) or 16 (md5) bytes; the context may be reused after. */
void cfs_hash_final(struct cfs_hash *h, uint8_t *out);
void cfs_hash_free(struct cfs_hash *h);

static inline void cfs_hash_freep(struct cfs_hash **h)
{
	if (*h)
		cfs_hash_free(*h);
}
#define cleanup_hash __attribute__((cleanup(cfs_hash_freep)))

void cfs_sha256(const void *data, size_t len, uint8_t out[CFS_SHA256_LEN]);
/* sha256 (and md5 if md5_out is non-NULL) of a whole file by fd. */
errint_t cfs_hash_fd(int fd, uint8_t sha256_out[CFS_SHA256_LEN],
		     uint8_t *md5_out, uint64_t *size_out);

#endif

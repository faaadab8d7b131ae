/* SPDX-License-Identifier: MIT */
#include "hash.h"

#include <openssl/evp.h>

struct cfs_hash {
	EVP_MD_CTX *ctx;
	const EVP_MD *md;
};

struct cfs_hash *cfs_hash_new(enum cfs_hash_kind kind)
{
	struct cfs_hash *h = cfs_xcalloc(1, sizeof(*h));
	h->md = kind == CFS_HASH_SHA256 ? EVP_sha256() : EVP_md5();
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || !EVP_DigestInit_ex(h->ctx, h->md, NULL))
		abort();
	return h;
}

void cfs_hash_update(struct cfs_hash *h, const void *data, size_t len)
{
	EVP_DigestUpdate(h->ctx, data, len);
}

void cfs_hash_final(struct cfs_hash *h, uint8_t *out)
{
	unsigned int n;
	EVP_DigestFinal_ex(h->ctx, out, &n);
	EVP_DigestInit_ex(h->ctx, h->md, NULL);
}

void cfs_hash_free(struct cfs_hash *h)
{
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void cfs_sha256(const void *data, size_t len, uint8_t out[CFS_SHA256_LEN])
{
	unsigned int n;
	EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

errint_t cfs_hash_fd(int fd, uint8_t sha256_out[CFS_SHA256_LEN],
		     uint8_t *md5_out, uint64_t *size_out)
{
	cleanup_hash struct cfs_hash *s = cfs_hash_new(CFS_HASH_SHA256);
	cleanup_hash struct cfs_hash *m = md5_out ? cfs_hash_new(CFS_HASH_MD5) : NULL;
	static __thread char chunk[1 << 17];
	uint64_t total = 0;

	for (;;) {
		ssize_t n = cfs_read_retry(fd, chunk, sizeof(chunk));
		if (n <= 0) {
			if (n < 0)
				return (int)n;
			break;
		}
		cfs_hash_update(s, chunk, (size_t)n);
		if (m)
			cfs_hash_update(m, chunk, (size_t)n);
		total += (uint64_t)n;
	}
	cfs_hash_final(s, sha256_out);
	if (m)
		cfs_hash_final(m, md5_out);
	if (size_out)
		*size_out = total;
	return 0;
}

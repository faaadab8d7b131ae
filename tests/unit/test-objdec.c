/* SPDX-License-Identifier: MIT */
/*
 * The object decoder (common/store.h): what a mount, `cat` and `push` read
 * through.  Objects over a few MiB are hashed and written on a second
 * thread while the rest decompresses; these tests hold that path to the
 * same verdicts as the single-threaded one, for any way the compressed
 * bytes arrive: content, corrupt data, a wrong sha256, too many bytes, a
 * sink that fails, and a decoder dropped half-way.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <zstd.h>

#include "check.h"
#include "hash.h"
#include "store.h"

struct sink {
	char *buf;
	size_t len, cap;
	size_t fail_after; /* fail with -ENOSPC once this many bytes arrived; 0: never */
	bool failed;
	unsigned after_failure; /* calls after the first failure */
	pthread_t caller;
	unsigned calls, other_thread;
};

static errint_t sink_fn(void *ctx, const void *data, size_t len)
{
	struct sink *s = ctx;

	s->calls++;
	if (!pthread_equal(pthread_self(), s->caller))
		s->other_thread++;
	if (s->failed)
		s->after_failure++;
	if (s->fail_after && s->len + len > s->fail_after && !s->failed) {
		s->failed = true;
		return -ENOSPC;
	}
	if (s->len + len > s->cap)
		return -EFBIG;
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	return 0;
}

/* size bytes that compress about 3:1, like a library: words with noise. */
static char *make_content(size_t size)
{
	static const char *words[] = { "PyObject", "_Py_Dealloc", "\x7f" "ELF", "\0\0\0\0",
				       "lib/python3.11/", "__pycache__", "GLIBC_2.34" };
	char *p = malloc(size);
	uint32_t x = 2463534242u;

	for (size_t i = 0; i < size;) {
		const char *w;
		size_t n;

		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		if (x % 4 == 0) {
			p[i++] = (char)(x >> 8);
			continue;
		}
		w = words[(x >> 8) % (sizeof(words) / sizeof(*words))];
		n = (x >> 8) % 7 == 3 ? 4 : strlen(w);
		for (size_t k = 0; k < n && i < size; k++)
			p[i++] = w[k];
	}
	return p;
}

/* Feeds z (zlen bytes) in pieces of step bytes; returns feed's or finish's verdict. */
static errint_t decode(const uint8_t digest[CFS_SHA256_LEN], uint64_t max_size,
		       const char *z, size_t zlen, size_t step, struct sink *s, uint64_t *got)
{
	struct cfs_objdec *d = cfs_objdec_new(digest, max_size, sink_fn, s);
	errint_t r = 0;

	s->caller = pthread_self();
	for (size_t off = 0; off < zlen && r == 0; off += step)
		r = cfs_objdec_feed(d, z + off, zlen - off < step ? zlen - off : step);
	if (r == 0)
		r = cfs_objdec_finish(d, got);
	cfs_objdec_free(d);
	return r;
}

int main(void)
{
	const size_t sizes[] = { 1000, 3u << 20, 12u << 20 };

	for (size_t k = 0; k < sizeof(sizes) / sizeof(*sizes); k++) {
		size_t size = sizes[k], zcap = ZSTD_compressBound(size), zlen;
		char *content = make_content(size), *z = malloc(zcap);
		struct sink s = { .buf = malloc(size + 1), .cap = size + 1 };
		uint8_t digest[CFS_SHA256_LEN], wrong[CFS_SHA256_LEN];
		const size_t steps[] = { 7 * 1024, 1u << 20, SIZE_MAX };
		struct cfs_hash *h = cfs_hash_new(CFS_HASH_SHA256);
		uint64_t got = 0;
		errint_t r;

		cfs_hash_update(h, content, size);
		cfs_hash_final(h, digest);
		cfs_hash_free(h);
		memcpy(wrong, digest, sizeof(wrong));
		wrong[7] ^= 1;
		zlen = ZSTD_compress(z, zcap, content, size, 3);
		CHECK(!ZSTD_isError(zlen));

		/* The content, whole, however the compressed bytes arrive. */
		for (size_t i = 0; i < sizeof(steps) / sizeof(*steps); i++) {
			s.len = 0;
			s.calls = s.other_thread = 0;
			CHECK(decode(digest, size, z, zlen, steps[i], &s, &got) == 0);
			CHECK(got == size);
			CHECK_MEM(s.buf, s.len, content, size);
			/* Past 4 MiB the rest goes through the second thread. */
			CHECK(size < (8u << 20) ? s.other_thread == 0
						: s.other_thread > 0 && s.other_thread < s.calls);
		}

		/* Content of another sha256. */
		s.len = 0;
		CHECK(decode(wrong, size, z, zlen, 1u << 16, &s, &got) == -EBADMSG);

		/* More bytes than the index says. */
		s.len = 0;
		CHECK(decode(digest, size - 1, z, zlen, 1u << 16, &s, &got) == -EFBIG);

		/* Cut short: no end of frame. */
		s.len = 0;
		CHECK(decode(digest, size, z, zlen - 5, 1u << 16, &s, &got) == -EBADMSG);

		/* A corrupt block in the middle. */
		z[zlen / 2] ^= 0x5a;
		z[zlen / 2 + 1] ^= 0xa5;
		s.len = 0;
		r = decode(digest, size, z, zlen, 1u << 16, &s, &got);
		CHECK(r == -EBADMSG || r == -EFBIG);
		z[zlen / 2] ^= 0x5a;
		z[zlen / 2 + 1] ^= 0xa5;

		/* The sink fails once (a full disk) before the end: its error, no
		 * hang, and the sink is not called again. */
		s.len = 0;
		s.fail_after = size - size / 3;
		s.failed = false;
		s.after_failure = 0;
		CHECK(decode(digest, size, z, zlen, 1u << 16, &s, &got) == -ENOSPC);
		CHECK(s.failed && s.after_failure == 0);
		s.fail_after = 0;
		s.failed = false;

		/* Dropped half-way (an unmount, a transfer cut off): nothing waits. */
		{
			struct cfs_objdec *d = cfs_objdec_new(digest, size, sink_fn, &s);
			s.len = 0;
			s.caller = pthread_self();
			CHECK(cfs_objdec_feed(d, z, zlen / 2) == 0);
			cfs_objdec_free(d);
			CHECK(s.len < size && (size < (1u << 20) || s.len > 0));
		}

		free(content);
		free(z);
		free(s.buf);
	}
	return check_summary();
}

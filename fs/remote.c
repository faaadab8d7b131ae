/* SPDX-License-Identifier: MIT */
/*
 * The store: a local directory (or file:// URL), read here in the thread
 * that serves the open; or an HTTP(S) server or S3 bucket (SigV4 signing,
 * common/s3.h), whose objects the fetch engine (fetch.c) brings in and for
 * which libcurl is loaded (curl-api.h).  Every object is decompressed and
 * verified with cfs_objdec on the way into the cache file.
 */
#include <fcntl.h>
#include <string.h>
#include <time.h>

#include "fs-internal.h"
#include "fsutil.h"
#include "s3.h"
#include "store.h"

/*
 * Local fetches at once, per daemon.  Each holds a zstd window (2 MiB at
 * the store's level) and buffers, so this bounds the daemon's memory; an
 * open waiting for a slot still respects its --fetch-timeout.
 */
#define MAX_FETCHES 8

struct cfs_remote {
	char *base;   /* directory, or URL without a trailing slash */
	int dirfd;    /* for a directory, else -1 */
	struct cfs_s3 *s3; /* for an s3:// store, else NULL */
	unsigned timeout_s, retries;
	pthread_mutex_t lock;
	pthread_cond_t slot_free;
	unsigned active; /* fetches running */
};

static bool is_http(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

bool cfs_remote_is_url(const char *store)
{
	return cfs_s3_is_url(store) || is_http(store);
}

/* "file:///a%20b" -> "/a b"; NULL if not a local file URL. */
static char *file_url_path(const char *url)
{
	const char *p = url + 7;
	char *out, *o;

	if (strncmp(p, "localhost/", 10) == 0)
		p += 9;
	if (*p != '/')
		return NULL;
	out = o = cfs_xmalloc(strlen(p) + 1);
	for (; *p; p++) {
		uint8_t byte;
		if (*p == '%' && cfs_unhex(p + 1, &byte, 1) == 0) {
			*o++ = (char)byte;
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

errint_t cfs_remote_new(const char *store, unsigned timeout_s, unsigned retries,
			struct cfs_remote **out, struct cfs_err *err)
{
	struct cfs_remote *r = cfs_xcalloc(1, sizeof(*r));
	size_t len;
	int rc;

	r->dirfd = -1;
	r->timeout_s = timeout_s ? timeout_s : 1;
	r->retries = retries;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->slot_free, &ca);
	pthread_condattr_destroy(&ca);
	if (cfs_s3_is_url(store)) {
		r->s3 = cfs_xcalloc(1, sizeof(*r->s3));
		if ((rc = cfs_s3_parse(store, r->s3, err)) < 0) {
			cfs_remote_free(r);
			return rc;
		}
		r->base = cfs_xstrdup(r->s3->base);
	} else if (is_http(store)) {
		r->base = cfs_xstrdup(store);
	} else if (strncmp(store, "file://", 7) == 0) {
		if (!(r->base = file_url_path(store))) {
			cfs_remote_free(r);
			return cfs_err_set(err, EINVAL, "%s: not a local file URL", store);
		}
	} else if (strstr(store, "://")) {
		cfs_remote_free(r);
		return cfs_err_set(err, EINVAL, "%s: unsupported store URL (use a directory, "
				   "file://, http://, https:// or s3://)", store);
	} else {
		r->base = cfs_xstrdup(store);
	}
	len = strlen(r->base);
	while (len > 1 && r->base[len - 1] == '/')
		r->base[--len] = '\0';
	if (is_http(r->base)) {
		if ((rc = cfs_curl_load(err)) < 0) {
			cfs_err_prefix(err, "store %s", store);
			cfs_remote_free(r);
			return rc;
		}
	} else {
		r->dirfd = open(r->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (r->dirfd < 0) {
			int e = errno;
			cfs_err_set(err, e, "store %s: %s", r->base, strerror(e));
			cfs_remote_free(r);
			return -e;
		}
	}
	*out = r;
	return 0;
}

void cfs_remote_free(struct cfs_remote *r)
{
	if (!r)
		return;
	if (r->dirfd >= 0)
		close(r->dirfd);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->slot_free);
	if (r->s3)
		cfs_s3_release(r->s3);
	free(r->s3);
	free(r->base);
	free(r);
}

/* Decoding into the cache file. */
struct sink {
	struct cfs_objdec *dec;
	int fd;
	uint64_t off, wire;
	errint_t r; /* the decoder's or sink's error, if any */
};

static errint_t sink_write(void *ctx, const void *data, size_t len)
{
	struct sink *s = ctx;
	errint_t r = cfs_pwrite_all(s->fd, data, len, s->off);

	if (r == 0)
		s->off += len;
	return r;
}

static errint_t sink_feed(struct sink *s, const void *data, size_t len)
{
	s->wire += len;
	if (s->r == 0)
		s->r = cfs_objdec_feed(s->dec, data, len);
	return s->r;
}

errint_t cfs_objdec_verdict(struct cfs_objdec *d, errint_t r, uint64_t want, struct cfs_err *err)
{
	uint64_t got = 0;

	if (r == 0)
		r = cfs_objdec_finish(d, &got);
	if (r == 0 && got != want)
		return cfs_err_set(err, EBADMSG, "corrupt object (%llu bytes, the index says %llu)",
				   (unsigned long long)got, (unsigned long long)want);
	if (r == -EBADMSG)
		return cfs_err_set(err, EBADMSG, "corrupt object (not zstd data of that sha256)");
	if (r == -EFBIG)
		return cfs_err_set(err, EFBIG, "corrupt object (larger than the %llu bytes the index says)",
				   (unsigned long long)want);
	if (r < 0)
		return cfs_err_set(err, -r, "writing the cache: %s", strerror(-r));
	return 0;
}

/*
 * Feeds len bytes of src from off (to its end if len is UINT64_MAX) to the
 * sink's decoder and gives its verdict.
 */
static errint_t decode_from(int src, uint64_t off, uint64_t len, struct sink *s, uint64_t want,
			    struct cfs_err *err)
{
	char buf[1 << 16];

	for (uint64_t done = 0; done < len;) {
		size_t n_want = len - done < sizeof(buf) ? (size_t)(len - done) : sizeof(buf);
		ssize_t n = pread(src, buf, n_want, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cfs_err_set(err, errno, "%s", strerror(errno));
		if (n == 0 && len != UINT64_MAX)
			return cfs_err_set(err, EBADMSG, "shorter than the index says");
		if (n == 0 || sink_feed(s, buf, (size_t)n) < 0)
			break;
		done += (uint64_t)n;
	}
	return cfs_objdec_verdict(s->dec, s->r, want, err);
}

/* Waits for one of the MAX_FETCHES slots until deadline (CLOCK_MONOTONIC ms). */
static errint_t slot_get(struct cfs_remote *rm, int64_t deadline)
{
	struct timespec ts = { deadline / 1000, (deadline % 1000) * 1000000 };
	int r = 0;

	pthread_mutex_lock(&rm->lock);
	while (rm->active >= MAX_FETCHES && r == 0)
		r = pthread_cond_timedwait(&rm->slot_free, &rm->lock, &ts);
	if (rm->active < MAX_FETCHES) {
		rm->active++;
		r = 0;
	}
	pthread_mutex_unlock(&rm->lock);
	return -r;
}

static void slot_put(struct cfs_remote *rm)
{
	pthread_mutex_lock(&rm->lock);
	rm->active--;
	pthread_cond_signal(&rm->slot_free);
	pthread_mutex_unlock(&rm->lock);
}

/* decode_from in one of the fetch slots, into fd. */
static errint_t fetch_slot(struct cfs_remote *rm, int src, uint64_t off, uint64_t len,
			   const uint8_t digest[CFS_SHA256_LEN], uint64_t size, int fd,
			   uint64_t *wire, struct cfs_err *err)
{
	int64_t deadline = cfs_now_ms() + (int64_t)rm->timeout_s * 1000;
	struct sink sk = { .fd = fd };
	int r;

	*wire = 0;
	if (slot_get(rm, deadline) < 0)
		return cfs_err_set(err, ETIMEDOUT, "gave up after %u s waiting for other fetches",
				   rm->timeout_s);
	sk.dec = cfs_objdec_new(digest, size, sink_write, &sk);
	r = decode_from(src, off, len, &sk, size, err);
	cfs_objdec_free(sk.dec);
	*wire = sk.wire;
	slot_put(rm);
	return r;
}

errint_t cfs_remote_fetch(struct cfs_remote *rm, const uint8_t digest[CFS_SHA256_LEN],
			  uint64_t size, int fd, uint64_t *wire, struct cfs_err *err)
{
	char rel[CFS_OBJECT_RELPATH_LEN];
	cleanup_fd int src = -1;
	int r;

	cfs_object_relpath(digest, rel);
	*wire = 0;
	src = openat(rm->dirfd, rel, O_RDONLY | O_CLOEXEC);
	r = src < 0 ? cfs_err_set(err, errno, "%s", strerror(errno))
		    : fetch_slot(rm, src, 0, UINT64_MAX, digest, size, fd, wire, err);
	if (r < 0)
		cfs_err_prefix(err, "%s/%s", rm->base, rel);
	return r;
}

/* The pack's descriptor, opened on first use; -ENOENT if the store lacks it. */
static int pack_fd(struct cfs_remote *rm, struct cfs_packmap_pack *p)
{
	int fd = atomic_load(&p->fd), expected = -1;

	if (fd >= 0 || fd == -2)
		return fd >= 0 ? fd : -ENOENT;
	fd = openat(rm->dirfd, p->name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		atomic_store(&p->missing, true);
		atomic_store(&p->fd, -2);
		return -ENOENT;
	}
	if (!atomic_compare_exchange_strong(&p->fd, &expected, fd)) {
		close(fd); /* another thread opened it first */
		fd = expected;
	}
	return fd;
}

errint_t cfs_remote_fetch_packed(struct cfs_remote *rm, struct cfs_packmap_pack *p,
				 uint64_t offset, uint64_t csize,
				 const uint8_t digest[CFS_SHA256_LEN], uint64_t size, int fd,
				 uint64_t *wire, struct cfs_err *err)
{
	int pfd, r;

	*wire = 0;
	if (rm->dirfd < 0 || (pfd = pack_fd(rm, p)) < 0)
		return cfs_err_set(err, ENOENT, "%s/%s: not in the store", rm->base, p->name);
	r = fetch_slot(rm, pfd, offset, csize, digest, size, fd, wire, err);
	if (r < 0 && r != -ETIMEDOUT)
		cfs_err_prefix(err, "%s/%s at %llu", rm->base, p->name, (unsigned long long)offset);
	return r;
}

const char *cfs_remote_url(const struct cfs_remote *r)
{
	return r->dirfd < 0 ? r->base : NULL;
}

const struct cfs_s3 *cfs_remote_s3(const struct cfs_remote *r)
{
	return r->s3;
}

unsigned cfs_remote_timeout(const struct cfs_remote *r)
{
	return r->timeout_s;
}

unsigned cfs_remote_retries(const struct cfs_remote *r)
{
	return r->retries;
}

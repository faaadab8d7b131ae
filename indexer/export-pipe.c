/* SPDX-License-Identifier: MIT */
/*
 * Decoding ahead.  A second thread reads and decompresses the store objects
 * of the regular files to export, in item order, straight into a bounded
 * ring of chunks (PIPE_SLOTS x 128 KiB); the writer (tar or directory)
 * hashes each chunk as it consumes it and checks the sha256 and size at the
 * end of each file, before anything is published.  Decompression and
 * hashing + writing then run on two cores, which is why this does not use
 * the single-threaded cfs_objdec.  Memory stays bounded whatever the file
 * sizes: a file larger than the ring streams through it.
 *
 * With a cache (a mount's, which holds decompressed objects named by their
 * sha256), a file found there with the right size is copied instead of
 * decoded.  The cache's contract is that a daemon names a file only after
 * verifying it, which is why a mount serves cached files on their size
 * alone; export trusts them the same way unless asked to verify.  Then,
 * with nothing to decompress, this thread hashes what it copies and
 * reports the verdict with the file's end, and the writer only writes: the
 * work stays split over two cores.  (Mapping cached files instead of
 * copying them was measured slower: mmap and munmap contend with the
 * writer's page faults for the address space lock.)
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "db.h"
#include "export-internal.h"

#define PIPE_SLOTS 32
#define SLOT_BYTES ((size_t)1 << 17)

struct slot {
	size_t len;
	bool end;   /* the end of one file: status is the decoder's result */
	bool cached; /* the file came from the cache, not the store */
	int status;
	char data[SLOT_BYTES];
};

struct export_pipe {
	struct export_ctx *x;
	pthread_t thread;
	/* A single-producer, single-consumer ring: slots [head, tail) are
	 * filled.  Each side spins briefly, then sleeps on a condition
	 * variable that the other side signals only when it knows of a
	 * sleeper: most hand-offs cost no system call. */
	_Atomic size_t head, tail;
	_Atomic bool cancel, consumer_asleep, producer_asleep;
	pthread_mutex_t lock;
	pthread_cond_t more, room;
	struct cfs_err err;        /* the decoder's message for a status < 0 */
	ZSTD_DCtx *dctx;
	struct cfs_hash *hash;     /* the consumer's */
	struct cfs_hash *cached_hash; /* the decoder's, for files copied from the cache */
	char in[1 << 17];          /* compressed reads */
	struct slot slots[PIPE_SLOTS];
};

#define SPINS 20000

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Waits until ready(p) or cancel: spins, then sleeps on cond with *asleep set. */
static void wait_for(struct export_pipe *p, bool (*ready)(struct export_pipe *),
		     pthread_cond_t *cond, _Atomic bool *asleep)
{
	for (int i = 0; i < SPINS; i++) {
		if (ready(p) || atomic_load(&p->cancel))
			return;
		cpu_relax();
	}
	pthread_mutex_lock(&p->lock);
	atomic_store(asleep, true);
	while (!ready(p) && !atomic_load(&p->cancel))
		pthread_cond_wait(cond, &p->lock);
	atomic_store(asleep, false);
	pthread_mutex_unlock(&p->lock);
}

static void wake(struct export_pipe *p, pthread_cond_t *cond, _Atomic bool *asleep)
{
	if (!atomic_load(asleep))
		return;
	pthread_mutex_lock(&p->lock);
	pthread_cond_signal(cond);
	pthread_mutex_unlock(&p->lock);
}

static bool has_room(struct export_pipe *p)
{
	return atomic_load(&p->tail) - atomic_load(&p->head) < PIPE_SLOTS;
}

static bool has_data(struct export_pipe *p)
{
	return atomic_load(&p->tail) != atomic_load(&p->head);
}

/* The next free slot, not yet visible to the reader; NULL when cancelled. */
static struct slot *slot_claim(struct export_pipe *p)
{
	if (!has_room(p))
		wait_for(p, has_room, &p->room, &p->producer_asleep);
	if (atomic_load(&p->cancel))
		return NULL;
	return &p->slots[atomic_load(&p->tail) % PIPE_SLOTS];
}

static void slot_publish(struct export_pipe *p)
{
	atomic_fetch_add(&p->tail, 1);
	wake(p, &p->more, &p->consumer_asleep);
}

/*
 * The common case, a small file whose whole frame came in one read: one
 * call decompresses it into one slot.  -EAGAIN: not that case.
 */
static errint_t decode_small(struct export_pipe *p, const struct cfs_node *n, size_t got,
			     bool *ended)
{
	unsigned long long content = ZSTD_getFrameContentSize(p->in, got);
	struct slot *s;
	size_t r;

	if (content != n->size || ZSTD_findFrameCompressedSize(p->in, got) != got)
		return -EAGAIN;
	if (!(s = slot_claim(p)))
		return -ECANCELED;
	r = ZSTD_decompressDCtx(p->dctx, s->data, SLOT_BYTES, p->in, got);
	if (ZSTD_isError(r) || r != n->size)
		return -EBADMSG;
	s->len = r;
	s->end = true;
	s->cached = false;
	s->status = 0;
	slot_publish(p);
	*ended = true;
	return 0;
}

/*
 * Copies file i from the cache into slots, if the cache has it with the
 * right size; -EAGAIN if not.  Returns 0, -ECANCELED or an error (p->err).
 */
static errint_t copy_cached(struct export_pipe *p, size_t i, bool *ended)
{
	struct export_ctx *x = p->x;
	const struct cfs_node *n = &x->tree->nodes[i];
	char rel[CFS_OBJECT_RELPATH_LEN];
	cleanup_fd int fd = -1;
	uint64_t total = 0;
	struct stat st;

	if (x->cache_fd < 0 || n->size == 0)
		return -EAGAIN;
	cfs_cached_object_relpath(n->digest, rel);
	fd = openat(x->cache_fd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != n->size)
		return -EAGAIN;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	while (total < n->size) {
		struct slot *s = slot_claim(p);
		uint64_t left = n->size - total;
		uint8_t digest[CFS_SHA256_LEN];
		ssize_t got;

		if (!s)
			return -ECANCELED;
		got = cfs_read_retry(fd, s->data, left < SLOT_BYTES ? (size_t)left : SLOT_BYTES);
		if (got <= 0) {
			cfs_hash_final(p->cached_hash, digest); /* starts afresh */
			return cfs_err_set(&p->err, got < 0 ? (int)-got : EIO, "%s/%s: %s (content of %s)",
					   x->cache_dir, rel, got < 0 ? strerror((int)-got)
					   : "shorter than its size", x->tree->paths[i]);
		}
		total += (uint64_t)got;
		if (x->o->verify_cache)
			cfs_hash_update(p->cached_hash, s->data, (size_t)got);
		s->len = (size_t)got;
		s->end = total == n->size;
		s->cached = true;
		s->status = 0;
		if (s->end && x->o->verify_cache) {
			cfs_hash_final(p->cached_hash, digest);
			if (memcmp(digest, n->digest, CFS_SHA256_LEN) != 0)
				s->status = -EBADMSG;
		}
		slot_publish(p);
	}
	*ended = true;
	x->res->from_cache++;
	return 0;
}

/*
 * Decompresses one object into slots; returns 0, -ECANCELED or an error
 * (p->err).  *ended: the last data slot carried the end of the file.
 */
static errint_t decode(struct export_pipe *p, size_t i, bool *ended)
{
	struct export_ctx *x = p->x;
	const struct cfs_node *n = &x->tree->nodes[i];
	char rel[CFS_OBJECT_RELPATH_LEN];
	cleanup_fd int fd = -1;
	uint64_t total = 0;
	bool done = false;
	ssize_t got;

	cfs_object_relpath(n->digest, rel);
	fd = openat(x->store_fd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cfs_err_set(&p->err, errno, "%s/%s: %s (content of %s)", x->store_dir, rel,
				   strerror(errno), x->tree->paths[i]);
	ZSTD_DCtx_reset(p->dctx, ZSTD_reset_session_only);
	while (!done && (got = cfs_read_retry(fd, p->in, sizeof(p->in))) > 0) {
		ZSTD_inBuffer in = { p->in, (size_t)got, 0 };

		if (total == 0 && n->size && n->size <= SLOT_BYTES)
			switch (decode_small(p, n, (size_t)got, ended)) {
			case 0: return 0;
			case -ECANCELED: return -ECANCELED;
			case -EBADMSG: return -EBADMSG;
			default: break; /* not one whole frame in this read: stream it */
			}

		for (;;) {
			struct slot *s = slot_claim(p);
			ZSTD_outBuffer out;
			size_t ret;

			if (!s)
				return -ECANCELED;
			out = (ZSTD_outBuffer){ s->data, SLOT_BYTES, 0 };
			ret = ZSTD_decompressStream(p->dctx, &out, &in);
			if (ZSTD_isError(ret) || (ret == 0 && in.pos < in.size))
				return -EBADMSG;
			total += out.pos;
			if (total > n->size)
				return -EBADMSG;
			if (ret == 0 && total != n->size)
				return -EBADMSG;
			if (out.pos) {
				/* The last chunk of a file also carries its end. */
				s->len = out.pos;
				s->end = ret == 0;
				s->cached = false;
				s->status = 0;
				slot_publish(p);
			}
			if (ret == 0) {
				*ended = out.pos != 0;
				done = true;
				break;
			}
			if (in.pos == in.size && out.pos < out.size)
				break;
		}
	}
	if (got < 0)
		return cfs_err_set(&p->err, (int)-got, "%s/%s: %s", x->store_dir, rel,
				   strerror((int)-got));
	return done ? 0 : -EBADMSG;
}

static void *decoder(void *arg)
{
	struct export_pipe *p = arg;
	struct export_ctx *x = p->x;

	for (size_t k = 0; k < x->n_items; k++) {
		const struct export_item *it = &x->items[k];
		bool ended = false;
		struct slot *s;
		int r;

		if (it->node < 0 || !S_ISREG(x->tree->nodes[it->node].mode))
			continue;
		r = copy_cached(p, (size_t)it->node, &ended);
		if (r == -EAGAIN)
			r = decode(p, (size_t)it->node, &ended);
		if (r == 0 && ended)
			continue;
		if (r == -ECANCELED || !(s = slot_claim(p)))
			return NULL;
		s->len = 0;
		s->end = true;
		s->cached = false;
		s->status = r;
		slot_publish(p);
		if (r < 0)
			return NULL;
	}
	return NULL;
}

errint_t export_pipe_start(struct export_ctx *x, struct export_pipe **out)
{
	struct export_pipe *p = cfs_xcalloc(1, sizeof(*p));
	int r;

	p->x = x;
	p->dctx = ZSTD_createDCtx();
	if (!p->dctx)
		abort();
	p->hash = cfs_hash_new(CFS_HASH_SHA256);
	p->cached_hash = cfs_hash_new(CFS_HASH_SHA256);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->more, NULL);
	pthread_cond_init(&p->room, NULL);
	r = pthread_create(&p->thread, NULL, decoder, p);
	if (r) {
		ZSTD_freeDCtx(p->dctx);
		cfs_hash_free(p->hash);
		cfs_hash_free(p->cached_hash);
		free(p);
		return cfs_err_set(x->err, r, "export: cannot start a thread: %s", strerror(r));
	}
	*out = p;
	return 0;
}

/*
 * The end of file i: the decoder's status, then the size and the digest
 * (this thread's; for a cached file, the decoder's verdict in status if it
 * verified the file).
 */
static errint_t finish_file(struct export_pipe *p, size_t i, int status, bool cached,
			    uint64_t size)
{
	struct export_ctx *x = p->x;
	const struct cfs_node *n = &x->tree->nodes[i];
	char rel[CFS_OBJECT_RELPATH_LEN], hex[2 * CFS_SHA256_LEN + 1];
	uint8_t got[CFS_SHA256_LEN];

	cfs_hash_final(p->hash, got);
	if (status < 0 && status != -EBADMSG) {
		memcpy(x->err, &p->err, sizeof(p->err));
		return status;
	}
	if (status == 0 && size == n->size &&
	    (cached || memcmp(got, n->digest, CFS_SHA256_LEN) == 0))
		return 0;
	cfs_hex(n->digest, CFS_SHA256_LEN, hex);
	(cached ? cfs_cached_object_relpath : cfs_object_relpath)(n->digest, rel);
	return cfs_err_set(x->err, EBADMSG, "%s/%s: corrupt %s (content does not match "
			   "sha256 %s and size %llu of %s)", cached ? x->cache_dir : x->store_dir,
			   rel, cached ? "cached file" : "object", hex,
			   (unsigned long long)n->size, x->tree->paths[i]);
}

errint_t export_pipe_read(struct export_pipe *p, size_t i, cfs_sink_fn sink, void *ctx)
{
	uint64_t size = 0;

	for (;;) {
		struct slot *s;
		bool end;
		int r = 0;

		if (!has_data(p))
			wait_for(p, has_data, &p->more, &p->consumer_asleep);
		/* The slot is ours until head moves past it. */
		s = &p->slots[atomic_load(&p->head) % PIPE_SLOTS];
		end = s->end;
		if (s->len) {
			if (!s->cached)
				cfs_hash_update(p->hash, s->data, s->len);
			size += s->len;
			if ((r = sink(ctx, s->data, s->len)) < 0)
				cfs_err_set(p->x->err, -r, "%s: %s", p->x->out_name, strerror(-r));
		}
		if (r == 0 && end)
			r = finish_file(p, i, s->status, s->cached, size);
		atomic_fetch_add(&p->head, 1);
		wake(p, &p->room, &p->producer_asleep);
		if (r < 0 || end)
			return r;
	}
}

void export_pipe_stop(struct export_pipe *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	atomic_store(&p->cancel, true);
	pthread_cond_broadcast(&p->room);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->more);
	pthread_cond_destroy(&p->room);
	ZSTD_freeDCtx(p->dctx);
	cfs_hash_free(p->hash);
	cfs_hash_free(p->cached_hash);
	free(p);
}

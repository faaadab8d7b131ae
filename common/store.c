/* SPDX-License-Identifier: MIT */
#include "store.h"

#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "buf.h"
#include "fsutil.h"

#define STORE_LEVEL 3

struct cfs_store {
	char *dir;
	char *tmpdir;
	int dirfd;
};

/* One compression context per thread, freed when the thread ends. */
static pthread_key_t cctx_key;
static pthread_once_t cctx_once = PTHREAD_ONCE_INIT;

static void free_cctx(void *p)
{
	ZSTD_freeCCtx(p);
}

static void make_cctx_key(void)
{
	pthread_key_create(&cctx_key, free_cctx);
}

static ZSTD_CCtx *get_cctx(void)
{
	ZSTD_CCtx *cctx;

	pthread_once(&cctx_once, make_cctx_key);
	cctx = pthread_getspecific(cctx_key);
	if (!cctx) {
		cctx = ZSTD_createCCtx();
		if (!cctx)
			abort();
		pthread_setspecific(cctx_key, cctx);
	}
	ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, STORE_LEVEL);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0);
	return cctx;
}

/* The main thread's context is not freed by a key destructor. */
static void release_thread_cctx(void)
{
	pthread_once(&cctx_once, make_cctx_key);
	free_cctx(pthread_getspecific(cctx_key));
	pthread_setspecific(cctx_key, NULL);
}

const char cfs_store_marker_json[] =
	"{\"format\": \"condafs-store\", \"version\": 1, \"compression\": \"zstd\"}\n";

errint_t cfs_store_open(const char *dir, bool create, struct cfs_store **out,
			struct cfs_err *err)
{
	struct cfs_store *s;
	cleanup_free char *marker = cfs_xasprintf("%s/" CFS_STORE_MARKER, dir);
	cleanup_free char *tmpdir = cfs_xasprintf("%s/tmp", dir);
	cleanup_free char *objdir = cfs_xasprintf("%s/objects", dir);
	struct stat st;
	int r;

	if (create) {
		r = cfs_mkdir_p(objdir, 0755);
		if (r == 0)
			r = cfs_mkdir_p(tmpdir, 0755);
		if (r < 0)
			return cfs_err_set(err, -r, "%s: cannot create store: %s", dir, strerror(-r));
		if (stat(marker, &st) < 0) {
			r = cfs_write_file_atomic(marker, cfs_store_marker_json,
						  strlen(cfs_store_marker_json), 0644);
			if (r < 0)
				return cfs_err_set(err, -r, "%s: %s", marker, strerror(-r));
		}
	} else if (stat(objdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		return cfs_err_set(err, ENOENT, "%s: not a condafs store (no objects/ directory)", dir);
	}

	s = cfs_xcalloc(1, sizeof(*s));
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		r = -errno;
		free(s);
		return cfs_err_set(err, -r, "%s: %s", dir, strerror(-r));
	}
	s->dir = cfs_xstrdup(dir);
	s->tmpdir = steal_pointer(&tmpdir);
	*out = s;
	return 0;
}

void cfs_store_free(struct cfs_store *s)
{
	if (!s)
		return;
	release_thread_cctx();
	close(s->dirfd);
	free(s->dir);
	free(s->tmpdir);
	free(s);
}

const char *cfs_store_dir(const struct cfs_store *s)
{
	return s->dir;
}

void cfs_object_relpath(const uint8_t digest[CFS_SHA256_LEN], char *out)
{
	char hex[2 * CFS_SHA256_LEN + 1];
	cfs_hex(digest, CFS_SHA256_LEN, hex);
	snprintf(out, CFS_OBJECT_RELPATH_LEN, "objects/%.2s/%s.zst", hex, hex);
}

void cfs_cached_object_relpath(const uint8_t digest[CFS_SHA256_LEN], char *out)
{
	char hex[2 * CFS_SHA256_LEN + 1];
	cfs_hex(digest, CFS_SHA256_LEN, hex);
	snprintf(out, CFS_OBJECT_RELPATH_LEN, "objects/%.2s/%s", hex, hex);
}

bool cfs_store_has(struct cfs_store *s, const uint8_t digest[CFS_SHA256_LEN])
{
	uint64_t csize;
	return cfs_store_object_size(s, digest, &csize) == 0;
}

errint_t cfs_store_object_size(struct cfs_store *s,
			       const uint8_t digest[CFS_SHA256_LEN], uint64_t *csize)
{
	char rel[CFS_OBJECT_RELPATH_LEN];
	struct stat st;

	cfs_object_relpath(digest, rel);
	if (fstatat(s->dirfd, rel, &st, 0) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size == 0)
		return -EBADMSG;
	*csize = (uint64_t)st.st_size;
	return 0;
}

/* Moves a finished temporary file to its object name. */
static errint_t publish(struct cfs_store *s, struct cfs_tmpfile *t,
			const uint8_t digest[CFS_SHA256_LEN], uint64_t *csize_out)
{
	char rel[CFS_OBJECT_RELPATH_LEN];
	cleanup_free char *final = NULL;
	struct stat st;
	int r;

	if (cfs_store_object_size(s, digest, csize_out ? csize_out : &(uint64_t){ 0 }) == 0) {
		cfs_tmpfile_abort(t);
		return 0;
	}
	if (fstat(t->fd, &st) == 0 && csize_out)
		*csize_out = (uint64_t)st.st_size;
	cfs_object_relpath(digest, rel);
	final = cfs_xasprintf("%s/%s", s->dir, rel);
	rel[10] = '\0'; /* "objects/ab" */
	if (mkdirat(s->dirfd, rel, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		cfs_tmpfile_abort(t);
		return r;
	}
	/* Durability comes from cfs_store_sync() before an index refers to it. */
	return cfs_tmpfile_commit(t, final, false);
}

errint_t cfs_store_put_compressed(struct cfs_store *s, int fd,
				  const uint8_t digest[CFS_SHA256_LEN])
{
	struct cfs_tmpfile t = { .fd = -1 };
	char buf[1 << 16];
	ssize_t n;
	int r = cfs_tmpfile_open(&t, s->tmpdir, "obj");

	if (r < 0)
		return r;
	while ((n = cfs_read_retry(fd, buf, sizeof(buf))) > 0)
		if ((r = cfs_write_all(t.fd, buf, (size_t)n)) < 0)
			break;
	if (n < 0)
		r = (int)n;
	if (r < 0) {
		cfs_tmpfile_abort(&t);
		return r;
	}
	return publish(s, &t, digest, NULL);
}

errint_t cfs_store_put(struct cfs_store *s, const void *data, size_t len,
		       uint8_t digest_out[CFS_SHA256_LEN], uint64_t *csize_out)
{
	struct cfs_tmpfile t = { .fd = -1 };
	cleanup_free void *cbuf = NULL;
	size_t bound, clen;
	int r;

	cfs_sha256(data, len, digest_out);
	if (cfs_store_object_size(s, digest_out, csize_out ? csize_out : &(uint64_t){ 0 }) == 0)
		return 0;

	bound = ZSTD_compressBound(len);
	cbuf = cfs_xmalloc(bound);
	clen = ZSTD_compress2(get_cctx(), cbuf, bound, data, len);
	if (ZSTD_isError(clen))
		return -EIO;
	r = cfs_tmpfile_open(&t, s->tmpdir, "obj");
	if (r < 0)
		return r;
	r = cfs_write_all(t.fd, cbuf, clen);
	if (r < 0) {
		cfs_tmpfile_abort(&t);
		return r;
	}
	return publish(s, &t, digest_out, csize_out);
}

struct cfs_store_writer {
	struct cfs_store *store;
	struct cfs_tmpfile tmp;
	struct cfs_hash *hash;
	ZSTD_CCtx *cctx;
	uint64_t size, pledged;
	char out[1 << 17];
};

errint_t cfs_store_writer_begin(struct cfs_store *s, uint64_t size,
				struct cfs_store_writer **out)
{
	struct cfs_store_writer *w = cfs_xcalloc(1, sizeof(*w));
	int r;

	w->store = s;
	w->tmp.fd = -1;
	r = cfs_tmpfile_open(&w->tmp, s->tmpdir, "obj");
	if (r < 0) {
		free(w);
		return r;
	}
	w->hash = cfs_hash_new(CFS_HASH_SHA256);
	w->cctx = get_cctx();
	w->pledged = size;
	/*
	 * A known size goes into the frame header, and zstd then sizes the
	 * window to the content: decoding a small file needs a small buffer.
	 */
	if (size != CFS_STORE_SIZE_UNKNOWN)
		ZSTD_CCtx_setPledgedSrcSize(w->cctx, size);
	*out = w;
	return 0;
}

static errint_t writer_pump(struct cfs_store_writer *w, const void *data,
			    size_t len, ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = { data, len, 0 };
	size_t remaining;
	int r;

	do {
		ZSTD_outBuffer o = { w->out, sizeof(w->out), 0 };
		remaining = ZSTD_compressStream2(w->cctx, &o, &in, mode);
		if (ZSTD_isError(remaining))
			return -EIO;
		r = cfs_write_all(w->tmp.fd, w->out, o.pos);
		if (r < 0)
			return r;
	} while (mode == ZSTD_e_end ? remaining != 0 : in.pos < in.size);
	return 0;
}

errint_t cfs_store_writer_write(struct cfs_store_writer *w, const void *data, size_t len)
{
	if (w->pledged != CFS_STORE_SIZE_UNKNOWN && len > w->pledged - w->size)
		return -EINVAL;
	cfs_hash_update(w->hash, data, len);
	w->size += len;
	return writer_pump(w, data, len, ZSTD_e_continue);
}

errint_t cfs_store_writer_commit(struct cfs_store_writer *w,
				 uint8_t digest_out[CFS_SHA256_LEN],
				 uint64_t *size_out, uint64_t *csize_out)
{
	int r = w->pledged != CFS_STORE_SIZE_UNKNOWN && w->size != w->pledged
			? -EINVAL : writer_pump(w, NULL, 0, ZSTD_e_end);

	cfs_hash_final(w->hash, digest_out);
	if (size_out)
		*size_out = w->size;
	if (r == 0)
		r = publish(w->store, &w->tmp, digest_out, csize_out);
	else
		cfs_tmpfile_abort(&w->tmp);
	cfs_hash_free(w->hash);
	free(w);
	return r;
}

void cfs_store_writer_abort(struct cfs_store_writer *w)
{
	if (!w)
		return;
	cfs_tmpfile_abort(&w->tmp);
	cfs_hash_free(w->hash);
	free(w);
}

errint_t cfs_store_sync(struct cfs_store *s)
{
	return syncfs(s->dirfd) < 0 ? -errno : 0;
}

/*
 * Idle decompression contexts, reused: a context keeps its window buffer,
 * so a fetch does not map and unmap megabytes.  Bounded, so the memory
 * they hold is too.
 */
#define DCTX_POOL_MAX 4
static pthread_mutex_t dctx_lock = PTHREAD_MUTEX_INITIALIZER;
static ZSTD_DCtx *dctx_pool[DCTX_POOL_MAX];
static size_t n_dctx;

static ZSTD_DCtx *dctx_get(void)
{
	ZSTD_DCtx *d = NULL;

	pthread_mutex_lock(&dctx_lock);
	if (n_dctx > 0)
		d = dctx_pool[--n_dctx];
	pthread_mutex_unlock(&dctx_lock);
	if (!d && !(d = ZSTD_createDCtx()))
		abort();
	return d;
}

static void dctx_put(ZSTD_DCtx *d)
{
	if (!d)
		return;
	ZSTD_DCtx_reset(d, ZSTD_reset_session_and_parameters);
	pthread_mutex_lock(&dctx_lock);
	if (n_dctx < DCTX_POOL_MAX) {
		dctx_pool[n_dctx++] = d;
		d = NULL;
	}
	pthread_mutex_unlock(&dctx_lock);
	ZSTD_freeDCtx(d);
}

/*
 * An object that turns out big is hashed and written on a second thread
 * while the next chunks decompress: for a 22 MiB library, hashing and
 * writing take as long as half its decompression, and the reader waits
 * for all three.  Chunks pass through a ring of CHUNK-sized slots.
 */
#define CHUNK (1 << 17)
#define BEHIND_AFTER (4u << 20) /* bytes decompressed before the second thread starts */
#define BEHIND_SLOTS 8

struct behind {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct cfs_objdec *d;
	char *slots; /* BEHIND_SLOTS * CHUNK */
	size_t len[BEHIND_SLOTS];
	uint64_t made, taken; /* chunks decompressed; hashed and written */
	bool closing;
	errint_t r; /* the sink's first error */
};

struct cfs_objdec {
	ZSTD_DCtx *dctx;
	struct cfs_hash *hash;
	uint8_t want[CFS_SHA256_LEN];
	uint64_t size, max_size;
	cfs_sink_fn sink;
	void *ctx;
	bool frame_done;
	errint_t sink_r;
	struct behind *behind; /* NULL: all on the caller's thread */
	bool alone;            /* the second thread could not start: stay on one */
	char out[CHUNK];
};

static errint_t hash_and_sink(struct cfs_objdec *d, const char *data, size_t len)
{
	cfs_hash_update(d->hash, data, len);
	if (d->sink_r == 0 && d->sink)
		d->sink_r = d->sink(d->ctx, data, len);
	return d->sink_r;
}

static void *behind_run(void *arg)
{
	struct behind *b = arg;

	pthread_mutex_lock(&b->lock);
	for (;;) {
		size_t i;

		while (b->taken == b->made && !b->closing)
			pthread_cond_wait(&b->cond, &b->lock);
		if (b->taken == b->made)
			break;
		i = b->taken % BEHIND_SLOTS;
		pthread_mutex_unlock(&b->lock);
		hash_and_sink(b->d, b->slots + i * CHUNK, b->len[i]);
		pthread_mutex_lock(&b->lock);
		b->r = b->d->sink_r;
		b->taken++;
		pthread_cond_broadcast(&b->cond);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

/* Starts the second thread; stays on one if it cannot start. */
static void behind_start(struct cfs_objdec *d)
{
	struct behind *b = cfs_xcalloc(1, sizeof(*b));

	b->d = d;
	b->slots = cfs_xmalloc((size_t)BEHIND_SLOTS * CHUNK);
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	if (cfs_thread_start(&b->thread, behind_run, b) != 0) {
		pthread_cond_destroy(&b->cond);
		pthread_mutex_destroy(&b->lock);
		free(b->slots);
		free(b);
		d->alone = true;
		return;
	}
	d->behind = b;
}

/* A free slot to decompress into, or the sink's error. */
static errint_t behind_slot(struct behind *b, void **slot)
{
	errint_t r;

	pthread_mutex_lock(&b->lock);
	while (b->made - b->taken == BEHIND_SLOTS && b->r == 0)
		pthread_cond_wait(&b->cond, &b->lock);
	*slot = b->slots + (b->made % BEHIND_SLOTS) * CHUNK;
	r = b->r;
	pthread_mutex_unlock(&b->lock);
	return r;
}

static void behind_push(struct behind *b, size_t len)
{
	pthread_mutex_lock(&b->lock);
	b->len[b->made % BEHIND_SLOTS] = len;
	b->made++;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* Waits for the second thread to hash and write every chunk, and ends it. */
static void behind_stop(struct cfs_objdec *d)
{
	struct behind *b = d->behind;

	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->closing = true;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->thread, NULL);
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	free(b->slots);
	free(b);
	d->behind = NULL;
}

struct cfs_objdec *cfs_objdec_new(const uint8_t digest[CFS_SHA256_LEN],
				  uint64_t max_size, cfs_sink_fn sink, void *ctx)
{
	struct cfs_objdec *d = cfs_xcalloc(1, sizeof(*d));
	d->dctx = dctx_get();
	d->hash = cfs_hash_new(CFS_HASH_SHA256);
	memcpy(d->want, digest, CFS_SHA256_LEN);
	d->max_size = max_size;
	d->sink = sink;
	d->ctx = ctx;
	return d;
}

errint_t cfs_objdec_feed(struct cfs_objdec *d, const void *data, size_t len)
{
	ZSTD_inBuffer in = { data, len, 0 };

	for (;;) {
		ZSTD_outBuffer o = { d->out, CHUNK, 0 };
		size_t ret;
		errint_t r;

		if (d->frame_done)
			return in.pos < in.size ? -EBADMSG : 0; /* trailing bytes */
		if (!d->behind && !d->alone && d->size >= BEHIND_AFTER)
			behind_start(d);
		if (d->behind && (r = behind_slot(d->behind, &o.dst)) < 0)
			return r;
		ret = ZSTD_decompressStream(d->dctx, &o, &in);
		if (ZSTD_isError(ret))
			return -EBADMSG;
		if (ret == 0)
			d->frame_done = true;
		d->size += o.pos;
		if (d->size > d->max_size)
			return -EFBIG;
		if (o.pos && d->behind)
			behind_push(d->behind, o.pos);
		else if (o.pos && hash_and_sink(d, d->out, o.pos) < 0)
			return d->sink_r;
		/* Done with this input once it is consumed and nothing is pending. */
		if (in.pos == in.size && o.pos < o.size)
			return 0;
	}
}

errint_t cfs_objdec_finish(struct cfs_objdec *d, uint64_t *size_out)
{
	uint8_t got[CFS_SHA256_LEN];

	behind_stop(d);
	if (d->sink_r < 0)
		return d->sink_r;
	if (!d->frame_done)
		return -EBADMSG;
	cfs_hash_final(d->hash, got);
	if (memcmp(got, d->want, CFS_SHA256_LEN) != 0)
		return -EBADMSG;
	if (size_out)
		*size_out = d->size;
	return 0;
}

void cfs_objdec_free(struct cfs_objdec *d)
{
	if (!d)
		return;
	behind_stop(d);
	dctx_put(d->dctx);
	cfs_hash_free(d->hash);
	free(d);
}

static errint_t decode_local(struct cfs_store *s, const uint8_t digest[CFS_SHA256_LEN],
			     uint64_t max_size, cfs_sink_fn sink, void *ctx,
			     struct cfs_err *err)
{
	char rel[CFS_OBJECT_RELPATH_LEN];
	char hex[2 * CFS_SHA256_LEN + 1];
	static __thread char chunk[1 << 17];
	struct cfs_objdec *d;
	cleanup_fd int fd = -1;
	int r = 0;

	cfs_object_relpath(digest, rel);
	cfs_hex(digest, CFS_SHA256_LEN, hex);
	fd = openat(s->dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		return cfs_err_set(err, -r, "%s/%s: %s", s->dir, rel, strerror(-r));
	}
	d = cfs_objdec_new(digest, max_size, sink, ctx);
	for (;;) {
		ssize_t n = cfs_read_retry(fd, chunk, sizeof(chunk));
		if (n <= 0) {
			r = (int)n;
			break;
		}
		r = cfs_objdec_feed(d, chunk, (size_t)n);
		if (r < 0)
			break;
	}
	if (r == 0)
		r = cfs_objdec_finish(d, NULL);
	cfs_objdec_free(d);
	if (r == -EBADMSG)
		return cfs_err_set(err, EBADMSG, "%s/%s: corrupt object (content does not match sha256 %s)",
				   s->dir, rel, hex);
	if (r < 0)
		return cfs_err_set(err, -r, "%s/%s: %s", s->dir, rel, strerror(-r));
	return 0;
}

static errint_t sink_fd(void *ctx, const void *data, size_t len)
{
	return cfs_write_all(*(int *)ctx, data, len);
}

errint_t cfs_store_read_to_fd(struct cfs_store *s, const uint8_t digest[CFS_SHA256_LEN],
			      int fd, struct cfs_err *err)
{
	return decode_local(s, digest, CFS_MAX_FILE_BYTES, sink_fd, &fd, err);
}

static errint_t sink_buf(void *ctx, const void *data, size_t len)
{
	return cfs_buf_add(ctx, data, len);
}

errint_t cfs_store_read_all(struct cfs_store *s, const uint8_t digest[CFS_SHA256_LEN],
			    uint64_t max_size, char **out, size_t *len_out,
			    struct cfs_err *err)
{
	cleanup_buf struct cfs_buf b;
	int r;

	cfs_buf_init(&b, max_size);
	cfs_buf_add(&b, "", 0);
	r = decode_local(s, digest, max_size, sink_buf, &b, err);
	if (r < 0)
		return r;
	*out = cfs_buf_steal(&b, len_out);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * The fetch engine for http(s) and s3 stores: one thread drives one
 * libcurl multi handle, so many transfers are in flight on reused
 * connections (multiplexed over HTTP/2 where the server offers it) and no
 * FUSE thread waits on the network for anything but its own object.
 *
 * Work comes in as wanted objects (struct want, one per digest while it is
 * pending), carried by transfers (struct xfer): one object alone
 * (objects/ab/<hex>.zst), or a byte range of a pack (docs/store.md) that
 * holds a run of objects.  Transfers wait in four queues, by priority:
 * opens a process waits on, then --prefetch, then speculation, then the
 * rest of streamed packs.  Streams leave slots free for speculation,
 * whose few small objects are wanted sooner than a stream's tail.  An open
 * whose object is not cached fetches it in a range together with the small
 * objects that follow it in its package's pack (its neighbours in install
 * order: the rest of a directory, a module's bytecode), so the next opens
 * of the program find them cached.
 *
 * Each object of a range is decoded and verified on its own as its bytes
 * stream in, and published to the cache the moment it is complete: an
 * open waits for its own object only, never for the rest of the range.  An
 * object that fails verification in a range, and every object of a pack
 * the server lacks, is fetched again alone; only when that fails does the
 * open fail with EIO.  A server that ignores Range (200 with the whole
 * pack) is read up to the range and cut off there.
 *
 * Locking: f->lock guards the wants, the queues and the counters; the
 * engine thread decodes and writes cache files without it.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "fs-internal.h"
#include "buf.h"
#include "fsutil.h"
#include "http.h"
#include "log.h"
#include "s3.h"
#include "store.h"

/* Transfers at once: one connection each over HTTP/1.1, streams over HTTP/2. */
#define MAX_INFLIGHT_H1 8
#define MAX_INFLIGHT_H2 32
/* Of them, kept free of prefetch and speculation for opens. */
#define RESERVED_FOR_OPENS 2
/* And of the rest, kept free of streams for speculation. */
#define RESERVED_FOR_SPECULATION 2
/* Bytes of one prefetch range. */
#define RANGE_MAX (4ull << 20)
/* Bytes of unwanted objects (cached, or wanted elsewhere) a range may cross. */
#define SKIP_MAX (64ull << 10)
/* An open whose object lies farther than this into a range fetches it alone. */
#define TAKEOVER_BYTES (256ull << 10)
#define CONNECT_TIMEOUT_MS 10000L
#define LOW_SPEED_SECS 10L
#define BACKOFF_MS 200
#define ERROR_BODY_MAX 4096
#define WANT_BUCKETS 4096
/*
 * --stream-packs fast: a link whose answers come at this many bytes a
 * second or more (200 Mbit/s), after a wait for their first byte of at
 * least STREAM_MIN_WAIT_US, streams whole packs after a miss.  On a slower
 * link their bytes would delay the opens; on a link without latency a miss
 * costs little, and decoding whole packs would take the CPU from the
 * program.  Rates are measured on answers of at least
 * RATE_MIN_BYTES are measured, from their first byte to their last:
 * smaller ones fit in a shaper's burst and the sockets' buffers, and
 * would make a 100 Mbit/s link look fast.
 */
#define STREAM_MIN_RATE (25ull << 20)
#define RATE_MIN_BYTES (1ull << 20)
#define STREAM_MIN_WAIT_US 2000
/* An open waits this much past its deadline for the transfer's own error. */
#define WAIT_GRACE_MS 1000
/*
 * Bytes of background transfers decoded in one turn of the engine loop.
 * libcurl reads a socket for as long as it has data, so without a limit
 * one call could decode a stream's megabytes while an open waits to start.
 */
#define BACKGROUND_SLICE (128ull << 10)

enum want_state { W_PENDING, W_DONE, W_FAILED };

struct xfer;

struct want {
	struct want *hnext;
	uint8_t digest[CFS_SHA256_LEN];
	uint64_t size;
	struct xfer *owner;    /* the transfer that delivers it (while pending) */
	enum want_state state;
	int refs;              /* the table's while pending, spans', waiters' */
	enum cfs_fetch_prio why; /* what first wanted it, for the stats */
	bool prefetch;         /* counted in the prefetch stats */
	bool waited;           /* an open waited for it */
	bool alone;            /* a range failed it: fetch it alone */
	unsigned attempts;     /* failed attempts alone */
	int64_t deadline;      /* the first waiting open gives up then (cfs_now_ms()), or 0 */
	char *error;           /* W_FAILED: "<url>: <cause>" */
};

/* An object in a transfer's body: bytes [off, off + csize) of the range. */
struct span {
	struct want *w;
	uint64_t off, csize;   /* csize UINT64_MAX: an object alone, to the end */
};

struct xfer {
	struct xfer *next;     /* queue link */
	enum cfs_fetch_prio prio;
	uint32_t pack;         /* 0: one object alone */
	uint64_t start, len;   /* the range of the pack */
	struct span *spans;
	size_t n_spans, alloc_spans;
	int64_t not_before;    /* backoff, cfs_now_ms() */
	bool running;
	uint64_t urgent_end;   /* an open waits for a span of it ending here (f->lock) */
	uint64_t at;           /* offset of the span being read (under f->lock) */
	/* Engine thread only, while running: */
	struct cfs_fetcher *f;
	CURL *h;
	struct curl_slist *headers;
	char *url;
	char errbuf[CURL_ERROR_SIZE];
	long code;
	bool answered;         /* the status line has been seen */
	uint64_t t_start, t_answer; /* cfs_now_us(): started, first byte (for -vv) */
	bool background;       /* no open waits for it (slices_begin) */
	bool yielded;          /* paused itself at the end of the slice */
	uint64_t yielded_at, held_us; /* cfs_now_us() then; time paused in all */
	uint64_t skip;         /* bytes before the range (a 200 answer to a range) */
	uint64_t pos;          /* bytes of the range read */
	size_t cur;            /* span being read */
	bool decoding, complete;
	struct want *dec_w;    /* the object being decoded */
	struct cfs_objdec *dec;
	struct cfs_cache_tmp tmp;
	uint64_t dec_off;
	errint_t dec_err;
	struct cfs_buf error_body;
};

struct queue {
	struct xfer *head, *tail;
};

struct cfs_fetcher {
	struct cfs_fs *fs;
	struct cfs_fetcher_opts o;
	const char *base;
	const struct cfs_s3 *s3;
	unsigned timeout_s, retries;
	int cache_dirfd;

	pthread_mutex_t lock;
	pthread_cond_t changed; /* broadcast when a want finishes */
	struct want *wants[WANT_BUCKETS];
	struct queue q[CFS_FETCH_NPRIO];
	unsigned inflight, inflight_bg;
	bool h2;               /* the server answered over HTTP/2 */
	uint64_t rate;         /* bytes/s of recent answers (moving average), 0: unknown */
	uint64_t wait_us;      /* the round trip: see measure_link; 0: unknown */
	uint64_t waits[3];     /* the three shortest waits for a first byte, ascending */
	uint64_t slice_left;   /* engine thread: BACKGROUND_SLICE, less what it decoded */
	size_t prefetch_total, prefetch_left;

	CURLM *multi;
	pthread_t thread;
	bool started, stop;
	struct xfer **running; /* engine thread: transfers in flight */
	size_t n_running, alloc_running;
};

/* ---- wants */

static struct want **want_bucket(struct cfs_fetcher *f, const uint8_t *digest)
{
	uint32_t h;

	memcpy(&h, digest, sizeof(h));
	return &f->wants[h % WANT_BUCKETS];
}

static struct want *want_find(struct cfs_fetcher *f, const uint8_t *digest)
{
	struct want *w;

	for (w = *want_bucket(f, digest); w; w = w->hnext)
		if (memcmp(w->digest, digest, CFS_SHA256_LEN) == 0)
			break;
	return w;
}

static struct want *want_new(struct cfs_fetcher *f, const uint8_t *digest, uint64_t size,
			     enum cfs_fetch_prio why)
{
	struct want *w = cfs_xcalloc(1, sizeof(*w));

	memcpy(w->digest, digest, CFS_SHA256_LEN);
	w->size = size;
	w->why = why;
	w->refs = 1;
	w->hnext = *want_bucket(f, digest);
	*want_bucket(f, digest) = w;
	return w;
}

static void want_unref(struct want *w)
{
	if (--w->refs > 0)
		return;
	free(w->error);
	free(w);
}

static void want_unlink(struct cfs_fetcher *f, struct want *w)
{
	for (struct want **p = want_bucket(f, w->digest); *p; p = &(*p)->hnext)
		if (*p == w) {
			*p = w->hnext;
			return;
		}
}

static void prefetch_count(struct cfs_fetcher *f, bool fetched, bool failed)
{
	struct cfs_stats *s = &f->fs->stats;

	if (fetched)
		atomic_fetch_add(&s->prefetched, 1);
	if (failed)
		atomic_fetch_add(&s->prefetch_errors, 1);
	atomic_fetch_add(&s->prefetch_done, 1);
	if (f->prefetch_left && --f->prefetch_left == 0)
		cfs_info("prefetch done: %zu objects, %llu fetched, %llu failed", f->prefetch_total,
			 (unsigned long long)atomic_load(&s->prefetched),
			 (unsigned long long)atomic_load(&s->prefetch_errors));
}

/* Ends a pending want; f->lock held.  error: NULL for success. */
static void want_finish(struct cfs_fetcher *f, struct want *w, bool from_pack, const char *error)
{
	struct cfs_stats *s = &f->fs->stats;

	if (w->state != W_PENDING)
		return;
	w->owner = NULL;
	want_unlink(f, w);
	if (!error) {
		w->state = W_DONE;
		atomic_fetch_add(&s->fetches, 1);
		atomic_fetch_add(&s->bytes_cached, w->size);
		if (from_pack)
			atomic_fetch_add(&s->pack_objects, 1);
		if (w->why >= CFS_FETCH_SPECULATE)
			atomic_fetch_add(&s->speculated, 1);
	} else {
		w->state = W_FAILED;
		w->error = cfs_xstrdup(error);
		atomic_fetch_add(&s->fetch_errors, 1);
		/* Nobody waits for a prefetch or a speculation: say it here. */
		if (!w->waited && w->why != CFS_FETCH_OPEN) {
			char hex[2 * CFS_SHA256_LEN + 1];
			cfs_hex(w->digest, CFS_SHA256_LEN, hex);
			cfs_warn("%s %.16s…: %s", w->why == CFS_FETCH_PREFETCH ? "prefetch" :
				 "speculative fetch", hex, error);
		}
	}
	if (w->prefetch)
		prefetch_count(f, !error, error != NULL);
	pthread_cond_broadcast(&f->changed);
	want_unref(w); /* the table's */
}

/* True if the object is in the cache (a stat: a hint, not a check). */
static bool cached(struct cfs_fetcher *f, const uint8_t *digest)
{
	char rel[CFS_OBJECT_RELPATH_LEN];
	struct stat st;

	cfs_cached_object_relpath(digest, rel);
	return fstatat(f->cache_dirfd, rel, &st, 0) == 0;
}

/* ---- transfers and queues; f->lock held */

static struct xfer *xfer_new(enum cfs_fetch_prio prio, uint32_t pack)
{
	struct xfer *x = cfs_xcalloc(1, sizeof(*x));

	x->prio = prio;
	x->pack = pack;
	return x;
}

static void xfer_add(struct xfer *x, struct want *w, uint64_t off, uint64_t csize)
{
	cfs_grow(&x->spans, x->n_spans, &x->alloc_spans, sizeof(*x->spans), 4);
	x->spans[x->n_spans++] = (struct span){ .w = w, .off = off, .csize = csize };
	w->refs++;
	w->owner = x;
}

static void xfer_free(struct xfer *x)
{
	for (size_t i = 0; i < x->n_spans; i++)
		want_unref(x->spans[i].w);
	free(x->spans);
	free(x->url);
	free(x);
}

static void enqueue(struct cfs_fetcher *f, struct xfer *x)
{
	struct queue *q = &f->q[x->prio];

	x->next = NULL;
	if (q->tail)
		q->tail->next = x;
	else
		q->head = x;
	q->tail = x;
}

static void dequeue(struct cfs_fetcher *f, struct xfer *x)
{
	struct queue *q = &f->q[x->prio];
	struct xfer *prev = NULL;

	for (struct xfer *y = q->head; y; prev = y, y = y->next)
		if (y == x) {
			if (prev)
				prev->next = x->next;
			else
				q->head = x->next;
			if (q->tail == x)
				q->tail = prev;
			x->next = NULL;
			return;
		}
}

static void wake(struct cfs_fetcher *f);
static void stream_pack(struct cfs_fetcher *f, const struct cfs_packmap_entry *e);

/* Queues w alone at prio (a retry after delay_ms, or a fallback). */
static void queue_alone(struct cfs_fetcher *f, struct want *w, enum cfs_fetch_prio prio,
			int64_t delay_ms)
{
	struct xfer *x = xfer_new(prio, 0);

	xfer_add(x, w, 0, UINT64_MAX);
	x->not_before = delay_ms ? cfs_now_ms() + delay_ms : 0;
	enqueue(f, x);
}

/*
 * Queues the transfer for an open of w: a range of w's pack from w on,
 * with the small neighbours that follow it up to o.speculate bytes, or w
 * alone.
 */
static void queue_open(struct cfs_fetcher *f, struct want *w)
{
	const struct cfs_packmap *m = &f->fs->packs;
	const struct cfs_packmap_entry *e = f->o.packs ? cfs_packmap_find(m, w->digest) : NULL;
	struct xfer *x;
	uint64_t end, skipped = 0;

	if (!e || w->alone || atomic_load(&m->packs[e->pack].missing) || !f->o.speculate) {
		queue_alone(f, w, CFS_FETCH_OPEN, 0);
		return;
	}
	x = xfer_new(CFS_FETCH_OPEN, e->pack);
	x->start = e->offset;
	xfer_add(x, w, 0, e->csize);
	end = e->offset + e->csize;
	for (const struct cfs_packmap_entry *n = e + 1;
	     n < m->entries + m->n_index_entries && n->pack == e->pack; n++) {
		if (n->offset + n->csize - e->offset > f->o.speculate ||
		    n->csize > CFS_SPECULATE_OBJECT_MAX)
			break;
		/* Empty files are never fetched. */
		if (!n->size || want_find(f, n->digest) || cached(f, n->digest)) {
			if ((skipped += n->csize) > SKIP_MAX)
				break;
			continue;
		}
		struct want *nw = want_new(f, n->digest, n->size, CFS_FETCH_SPECULATE);
		xfer_add(x, nw, n->offset - x->start, n->csize);
		end = n->offset + n->csize;
	}
	x->len = end - x->start;
	enqueue(f, x);
}

/*
 * An open wants the object of span i of transfer x, which is far from
 * its start: a new transfer for the open takes that span and those after
 * it up to o.speculate bytes; x reads past them.  f->lock held.
 */
static void take_over(struct cfs_fetcher *f, struct xfer *x, size_t i)
{
	struct xfer *y = xfer_new(CFS_FETCH_OPEN, x->pack);
	uint64_t base = x->spans[i].off;

	y->start = x->start + base;
	for (size_t k = i; k < x->n_spans; k++) {
		struct span *s = &x->spans[k];

		if (k > i && s->off + s->csize - base > f->o.speculate)
			break;
		if (s->w->owner != x || s->w->state != W_PENDING)
			continue;
		xfer_add(y, s->w, s->off - base, s->csize);
		y->len = s->off + s->csize - base;
	}
	enqueue(f, y);
}

/*
 * An open wants w, which a transfer already carries: moves a queued
 * transfer to the front when w is near its start, waits for a running one
 * about to reach it, else takes w and its neighbours over.
 */
static void bump(struct cfs_fetcher *f, struct want *w)
{
	struct xfer *x = w->owner;
	uint64_t off = 0;
	size_t i = 0;

	if (!x || x->prio == CFS_FETCH_OPEN)
		return;
	for (size_t k = 0; k < x->n_spans; k++)
		if (x->spans[k].w == w) {
			off = x->spans[k].off;
			i = k;
		}
	if (!x->running && off <= TAKEOVER_BYTES) {
		dequeue(f, x);
		x->prio = CFS_FETCH_OPEN;
		x->not_before = 0;
		enqueue(f, x);
	} else if (x->running && off <= x->at + TAKEOVER_BYTES) {
		/* It streams in soon: a background transfer no more, up to w. */
		if (off + x->spans[i].csize > x->urgent_end)
			x->urgent_end = off + x->spans[i].csize;
	} else if (x->pack && f->o.speculate) {
		take_over(f, x, i);
	} else {
		queue_alone(f, w, CFS_FETCH_OPEN, 0);
	}
	wake(f);
}

/* ---- the engine thread: decoding */

static errint_t sink_write(void *ctx, const void *data, size_t len)
{
	struct xfer *x = ctx;
	errint_t r = cfs_pwrite_all(x->tmp.fd, data, len, x->dec_off);

	if (r == 0)
		x->dec_off += len;
	return r;
}

/* Starts decoding span x->cur if its object is still wanted from x. */
static void decode_begin(struct xfer *x)
{
	struct cfs_fetcher *f = x->f;
	struct span *s = &x->spans[x->cur];
	bool mine;
	int r;

	pthread_mutex_lock(&f->lock);
	mine = s->w->owner == x && s->w->state == W_PENDING;
	x->at = s->off;
	pthread_mutex_unlock(&f->lock);
	x->decoding = true;
	x->dec_w = NULL;
	x->dec_err = 0;
	x->tmp.fd = -1;
	if (!mine)
		return; /* read past it */
	r = cfs_cache_tmp_open(f->fs->cache, s->w->digest, s->w->size, &x->tmp);
	if (r < 0) {
		x->dec_err = r;
	} else {
		x->dec = cfs_objdec_new(s->w->digest, s->w->size, sink_write, x);
		x->dec_off = 0;
	}
	x->dec_w = s->w;
}

static void decode_feed(struct xfer *x, const char *data, size_t len)
{
	if (x->dec_w && x->dec && x->dec_err == 0)
		x->dec_err = cfs_objdec_feed(x->dec, data, len);
}

/*
 * Ends the span being decoded: publishes its object, or describes what
 * went wrong in err (NULL if nothing was decoded, or on success).
 */
static errint_t decode_end(struct xfer *x, struct cfs_err *err)
{
	struct cfs_fetcher *f = x->f;
	struct want *w = x->dec_w;
	int r = x->dec_err, fd = -1;

	x->decoding = false;
	x->dec_w = NULL;
	if (!w)
		return 0;
	if (!x->dec) /* no cache file to decode into */
		cfs_err_set(err, -r, "cache %s: %s", cfs_cache_dir(f->fs->cache), strerror(-r));
	else
		r = cfs_objdec_verdict(x->dec, r, w->size, err);
	cfs_objdec_free(x->dec);
	x->dec = NULL;
	if (r == 0) {
		r = cfs_cache_tmp_publish(f->fs->cache, &x->tmp, w->digest, &fd);
		if (r < 0)
			cfs_err_set(err, -r, "cache %s: %s", cfs_cache_dir(f->fs->cache),
				    strerror(-r));
		else
			close(fd);
	} else if (x->tmp.fd >= 0) {
		cfs_cache_tmp_abort(f->fs->cache, &x->tmp);
	}
	x->tmp.fd = -1;
	return r;
}

/* Hands the result of span i's object to its waiters, or fetches it alone. */
static void span_done(struct xfer *x, struct want *w, errint_t r, const struct cfs_err *err)
{
	struct cfs_fetcher *f = x->f;

	pthread_mutex_lock(&f->lock);
	if (r == 0) {
		want_finish(f, w, x->pack != 0, NULL);
	} else if (w->state == W_PENDING && w->owner == x) {
		if (x->pack && r != -ENOSPC && r != -EIO) {
			/* A corrupt range: this object alone, at once. */
			cfs_debug("%s: %s at %llu: %s; fetching that object alone", x->url,
				  f->fs->packs.packs[x->pack].name, (unsigned long long)x->pos,
				  err->msg);
			atomic_fetch_add(&f->fs->stats.fallbacks, 1);
			w->alone = true;
			queue_alone(f, w, w->waited ? CFS_FETCH_OPEN : x->prio, 0);
		} else {
			char *msg = cfs_xasprintf("%s: %s", x->url, err->msg);
			want_finish(f, w, false, msg);
			free(msg);
		}
	}
	pthread_mutex_unlock(&f->lock);
}

/* Body bytes of a pack range: each object is decoded as it streams by. */
static void read_range(struct xfer *x, const char *data, size_t len)
{
	while (len && !x->complete) {
		struct span *s;
		uint64_t n;

		if (x->cur >= x->n_spans || x->pos >= x->len) {
			x->complete = true;
			break;
		}
		s = &x->spans[x->cur];
		if (x->pos < s->off) { /* bytes of an object not wanted from here */
			n = s->off - x->pos < len ? s->off - x->pos : len;
		} else {
			if (!x->decoding)
				decode_begin(x);
			n = s->off + s->csize - x->pos < len ? s->off + s->csize - x->pos : len;
			decode_feed(x, data, (size_t)n);
		}
		data += n;
		len -= (size_t)n;
		x->pos += n;
		if (x->decoding && x->pos == s->off + s->csize) {
			struct cfs_err err = { "" };
			struct want *w = x->dec_w;
			errint_t r = decode_end(x, &err);

			if (w)
				span_done(x, w, r, &err);
			x->cur++;
		}
	}
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct xfer *x = ctx;
	size_t len = size * nmemb;

	if (!x->answered) {
		x->answered = true;
		x->t_answer = cfs_now_us();
		sym_curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->code);
		/* A server that ignores Range sends the whole pack. */
		if (x->pack && x->code == 200)
			x->skip = x->start;
	}
	if (x->background && x->code >= 200 && x->code < 300) {
		if (!x->f->slice_left) {
			x->yielded = true; /* libcurl hands these bytes over again on resuming */
			x->yielded_at = cfs_now_us();
			return CURL_WRITEFUNC_PAUSE;
		}
		x->f->slice_left -= len < x->f->slice_left ? len : x->f->slice_left;
	}
	atomic_fetch_add(&x->f->fs->stats.bytes_fetched, len);
	if (x->code < 200 || x->code >= 300) {
		size_t room = ERROR_BODY_MAX - x->error_body.len;
		cfs_buf_add(&x->error_body, data, len < room ? len : room);
		return len;
	}
	if (!x->pack) {
		if (!x->decoding)
			decode_begin(x);
		decode_feed(x, data, len);
		return len;
	}
	if (x->skip) {
		uint64_t n = x->skip < len ? x->skip : len;
		x->skip -= n;
		data += n;
		len -= (size_t)n;
	}
	read_range(x, data, len);
	/* Everything wanted is in: stop reading the rest of a whole pack. */
	return x->complete ? 0 : size * nmemb;
}

/* ---- the engine thread: starting and finishing transfers */

/*
 * The transfer ends when the first open waiting for one of its objects
 * gives up, so that the open reports why (a stalled server, say).
 */
static long xfer_timeout_ms(struct cfs_fetcher *f, const struct xfer *x)
{
	int64_t now = cfs_now_ms(), left = (int64_t)f->timeout_s * 1000;

	for (size_t i = 0; i < x->n_spans; i++)
		if (x->spans[i].w->deadline && x->spans[i].w->deadline - now < left)
			left = x->spans[i].w->deadline - now;
	return left > 1 ? (long)left : 1L;
}

static errint_t xfer_start(struct cfs_fetcher *f, struct xfer *x)
{
	char rel[CFS_OBJECT_RELPATH_LEN];
	CURL *h = sym_curl_easy_init();

	if (!h)
		return -ENOMEM;
	x->f = f;
	x->h = h;
	x->tmp.fd = -1;
	cfs_buf_init(&x->error_body, ERROR_BODY_MAX);
	if (x->pack) {
		char range[64];

		x->url = cfs_xasprintf("%s/%s", f->base, f->fs->packs.packs[x->pack].name);
		snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)x->start,
			 (unsigned long long)(x->start + x->len - 1));
		sym_curl_easy_setopt(h, CURLOPT_RANGE, range);
	} else {
		cfs_object_relpath(x->spans[0].w->digest, rel);
		x->url = cfs_xasprintf("%s/%s", f->base, rel);
	}
	sym_curl_easy_setopt(h, CURLOPT_URL, x->url);
	sym_curl_easy_setopt(h, CURLOPT_PRIVATE, x);
	sym_curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	sym_curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	sym_curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
	cfs_http_defaults(h, CONNECT_TIMEOUT_MS, LOW_SPEED_SECS);
	/* Not for S3: a request signed for one host fails at any other. */
	sym_curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, f->s3 ? 0L : 1L);
	sym_curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	sym_curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, xfer_timeout_ms(f, x));
	sym_curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
	if (f->o.http_version)
		sym_curl_easy_setopt(h, CURLOPT_HTTP_VERSION, f->o.http_version);
	if (f->o.cacert)
		sym_curl_easy_setopt(h, CURLOPT_CAINFO, f->o.cacert);
	if (f->s3)
		cfs_s3_setup_handle(h, f->s3, &x->headers);
	if (sym_curl_multi_add_handle(f->multi, h) != CURLM_OK)
		return -EIO;
	x->t_start = cfs_now_us();
	atomic_fetch_add(&f->fs->stats.requests, 1);
	if (x->pack)
		atomic_fetch_add(&f->fs->stats.range_requests, 1);
	cfs_grow(&f->running, f->n_running, &f->alloc_running, sizeof(*f->running), 16);
	f->running[f->n_running++] = x;
	return 0;
}

/* Drops the spans nobody wants from x any more; f->lock held. */
static void xfer_trim(struct xfer *x)
{
	size_t out = 0;

	for (size_t i = 0; i < x->n_spans; i++) {
		struct span *s = &x->spans[i];
		if (s->w->owner == x && s->w->state == W_PENDING)
			x->spans[out++] = *s;
		else
			want_unref(s->w);
	}
	x->n_spans = out;
	if (x->pack && out) {
		uint64_t first = x->spans[0].off, end = x->spans[out - 1].off + x->spans[out - 1].csize;
		for (size_t i = 0; i < out; i++)
			x->spans[i].off -= first;
		x->start += first;
		x->len = end - first;
	}
}

/* Starts queued transfers while there is room; f->lock held.  *wake_ms: next backoff. */
static void start_queued(struct cfs_fetcher *f, int64_t *wake_ms)
{
	unsigned cap = f->h2 ? MAX_INFLIGHT_H2 : MAX_INFLIGHT_H1;
	int64_t now = cfs_now_ms();

	for (int p = 0; p < CFS_FETCH_NPRIO; p++) {
		struct xfer *x = f->q[p].head, *next;

		for (; x; x = next) {
			next = x->next;
			if (f->inflight >= cap ||
			    (p != CFS_FETCH_OPEN && f->inflight_bg >= cap - RESERVED_FOR_OPENS))
				return;
			if (p == CFS_FETCH_STREAM &&
			    f->inflight_bg >= cap - RESERVED_FOR_OPENS - RESERVED_FOR_SPECULATION)
				return;
			if (x->not_before > now) {
				if (x->not_before - now < *wake_ms)
					*wake_ms = x->not_before - now;
				continue;
			}
			dequeue(f, x);
			xfer_trim(x);
			if (!x->n_spans) {
				xfer_free(x);
				continue;
			}
			x->running = true;
			if (xfer_start(f, x) < 0) {
				/* Out of memory in libcurl: fail what it carries. */
				x->running = false;
				for (size_t i = 0; i < x->n_spans; i++)
					want_finish(f, x->spans[i].w, false, "cannot start a transfer");
				xfer_free(x);
				continue;
			}
			f->inflight++;
			if (x->prio != CFS_FETCH_OPEN)
				f->inflight_bg++;
		}
	}
}

/* Marks the running transfers that no open waits for (slices_begin). */
static void mark_background(struct cfs_fetcher *f)
{
	for (size_t i = 0; i < f->n_running; i++) {
		struct xfer *x = f->running[i];
		x->background = x->prio != CFS_FETCH_OPEN && x->at >= x->urgent_end;
	}
}

/* Frees a finished transfer's libcurl state (engine thread, no lock). */
static void xfer_stop(struct cfs_fetcher *f, struct xfer *x)
{
	sym_curl_multi_remove_handle(f->multi, x->h);
	sym_curl_easy_cleanup(x->h);
	sym_curl_slist_free_all(x->headers);
	x->h = NULL;
	x->headers = NULL;
	if (x->dec) {
		cfs_objdec_free(x->dec);
		x->dec = NULL;
	}
	if (x->tmp.fd >= 0) {
		cfs_cache_tmp_abort(f->fs->cache, &x->tmp);
		x->tmp.fd = -1;
	}
	cfs_buf_release(&x->error_body);
	for (size_t i = 0; i < f->n_running; i++)
		if (f->running[i] == x) {
			f->running[i] = f->running[--f->n_running];
			break;
		}
}

/* What went wrong with a transfer, into err; *transient if worth retrying. */
static void describe(struct xfer *x, CURLcode rc, bool *transient, struct cfs_err *err)
{
	char s3code[64];

	if (rc == CURLE_OK && (x->code < 200 || x->code >= 300)) {
		*transient = cfs_http_status_transient(x->code);
		cfs_s3_error_code(x->error_body.data, x->error_body.len, s3code, sizeof(s3code));
		if (*s3code)
			cfs_err_set(err, EIO, "HTTP %ld (%s)", x->code, s3code);
		else
			cfs_err_set(err, EIO, "HTTP %ld", x->code);
	} else if (rc != CURLE_OK) {
		*transient = cfs_http_curl_transient(rc);
		cfs_err_set(err, EIO, "%s", *x->errbuf ? x->errbuf : sym_curl_easy_strerror(rc));
	} else {
		*transient = true;
		cfs_err_set(err, EIO, "the answer ended early (%llu of %llu bytes)",
			    (unsigned long long)x->pos, (unsigned long long)x->len);
	}
}

/* Moving average: the new sample weighs a quarter. */
static uint64_t average(uint64_t avg, uint64_t sample)
{
	return avg ? (3 * avg + sample) / 4 : sample;
}

/*
 * Folds an answer's wait for its first byte into f->wait_us, and, for a
 * large answer, its rate into f->rate (engine thread).  Queueing behind
 * other answers only ever adds to a wait, so the shortest is the round
 * trip; but libcurl stamps the request's start after sending it, and a
 * thread preempted in between measures less than the round trip.  So the
 * third shortest wait counts (the longest of fewer, at first).
 */
static void measure_link(struct cfs_fetcher *f, struct xfer *x)
{
	curl_off_t bytes = 0, total = 0, first = 0, sent = 0;
	uint64_t wait;

	if (sym_curl_easy_getinfo(x->h, CURLINFO_SIZE_DOWNLOAD_T, &bytes) != CURLE_OK ||
	    sym_curl_easy_getinfo(x->h, CURLINFO_TOTAL_TIME_T, &total) != CURLE_OK ||
	    sym_curl_easy_getinfo(x->h, CURLINFO_STARTTRANSFER_TIME_T, &first) != CURLE_OK ||
	    sym_curl_easy_getinfo(x->h, CURLINFO_PRETRANSFER_TIME_T, &sent) != CURLE_OK)
		return;
	pthread_mutex_lock(&f->lock);
	wait = first > sent ? (uint64_t)(first - sent) : 1;
	for (size_t i = 0; i < CFS_ARRAY_SIZE(f->waits); i++) {
		if (!f->waits[i] || wait < f->waits[i]) {
			memmove(&f->waits[i + 1], &f->waits[i],
				(CFS_ARRAY_SIZE(f->waits) - i - 1) * sizeof(f->waits[0]));
			f->waits[i] = wait;
			break;
		}
	}
	for (size_t i = 0; i < CFS_ARRAY_SIZE(f->waits) && f->waits[i]; i++)
		f->wait_us = f->waits[i];
	atomic_store(&f->fs->stats.link_wait_us, f->wait_us);
	/* The time it spent paused for others' turns is not the link's. */
	total = total - first > (curl_off_t)x->held_us ? total - (curl_off_t)x->held_us : first;
	if ((uint64_t)bytes >= RATE_MIN_BYTES) {
		/* Under 100 us from first to last byte: as fast as this can tell. */
		f->rate = average(f->rate, total - first > 100
				  ? (uint64_t)bytes * 1000000 / (uint64_t)(total - first)
				  : (uint64_t)bytes * 10000);
		atomic_store(&f->fs->stats.link_rate, f->rate);
	}
	pthread_mutex_unlock(&f->lock);
}

/* 200 ms before the second attempt, then doubling. */
static int64_t backoff(unsigned attempts)
{
	return (int64_t)BACKOFF_MS << (attempts < 10 ? attempts - 1 : 9);
}

static void xfer_finish(struct cfs_fetcher *f, struct xfer *x, CURLcode rc)
{
	struct cfs_err err = { "" };
	bool ok, transient = false;
	long version = 0;

	if (rc == CURLE_WRITE_ERROR && x->complete)
		rc = CURLE_OK;
	if (!x->answered)
		sym_curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->code);
	if (sym_curl_easy_getinfo(x->h, CURLINFO_HTTP_VERSION, &version) == CURLE_OK &&
	    version == CURL_HTTP_VERSION_2_0) {
		atomic_fetch_add(&f->fs->stats.http2_requests, 1);
		f->h2 = true;
	}
	ok = rc == CURLE_OK && x->code >= 200 && x->code < 300;
	if (ok)
		measure_link(f, x);
	if (!x->pack && ok) {
		/* One object: its body ended, so did the object. */
		struct want *w;
		errint_t r;

		if (!x->decoding)
			decode_begin(x); /* an empty body */
		w = x->dec_w;
		r = decode_end(x, &err);
		if (w && (r == -EBADMSG || r == -EFBIG)) {
			ok = false; /* retried below, like a cut transfer */
			transient = true;
		} else {
			if (w)
				span_done(x, w, r, &err);
			x->cur = 1;
		}
	} else if (x->decoding) {
		struct cfs_err ignored;
		decode_end(x, &ignored); /* cut short */
	}
	if (!ok && !*err.msg)
		describe(x, rc, &transient, &err);
	else if (ok && x->pack && x->cur < x->n_spans)
		describe(x, CURLE_OK, &transient, &err);
	if (cfs_log_get_level() >= CFS_LOG_DEBUG) {
		static const char *const prio[] = { "open", "prefetch", "speculation", "stream" };
		cfs_debug("fetch (%s) at %llu ms: %s, bytes %llu+%llu, %zu objects: first byte "
			  "after %llu us, done after %llu us",
			  prio[x->prio], (unsigned long long)(x->t_start / 1000), x->url,
			  (unsigned long long)x->start, (unsigned long long)(x->pack ? x->len : x->pos),
			  x->n_spans,
			  (unsigned long long)(x->answered ? x->t_answer - x->t_start : 0),
			  (unsigned long long)(cfs_now_us() - x->t_start));
	}
	xfer_stop(f, x);

	pthread_mutex_lock(&f->lock);
	f->inflight--;
	if (x->prio != CFS_FETCH_OPEN)
		f->inflight_bg--;
	if (x->pack && (x->code == 404 || x->code == 403 || x->code == 410 || x->code == 416)) {
		struct cfs_packmap_pack *p = &f->fs->packs.packs[x->pack];
		if (!atomic_exchange(&p->missing, true))
			cfs_warn("%s: HTTP %ld; fetching the objects of %s one by one", x->url, x->code,
				 p->name);
	}
	/* What x did not deliver: alone (after a pack's trouble), again, or failed. */
	for (size_t i = x->cur; i < x->n_spans; i++) {
		struct want *w = x->spans[i].w;
		enum cfs_fetch_prio prio = w->waited ? CFS_FETCH_OPEN : x->prio;

		if (w->state != W_PENDING || w->owner != x)
			continue;
		if (x->pack) {
			atomic_fetch_add(&f->fs->stats.fallbacks, 1);
			w->alone = true;
			queue_alone(f, w, prio, 0);
		} else if (transient && ++w->attempts <= f->retries &&
			   (!w->deadline || cfs_now_ms() + backoff(w->attempts) < w->deadline)) {
			int64_t pause = backoff(w->attempts);
			cfs_info("%s: %s; retrying in %lld ms (%u of %u)", x->url, err.msg,
				 (long long)pause, w->attempts, f->retries);
			queue_alone(f, w, prio, pause);
		} else {
			char *msg = w->attempts > 1 ? cfs_xasprintf("%s: %s (after %u attempts)", x->url,
							       err.msg, w->attempts)
						    : cfs_xasprintf("%s: %s", x->url, err.msg);
			want_finish(f, w, false, msg);
			free(msg);
		}
	}
	xfer_free(x);
	pthread_mutex_unlock(&f->lock);
}

static void wake(struct cfs_fetcher *f)
{
	if (f->multi)
		sym_curl_multi_wakeup(f->multi);
}

/*
 * Opens first: background transfers (prefetch and speculation that no open
 * waits for) share BACKGROUND_SLICE bytes a turn of the engine loop, then
 * pause themselves in on_body, so that a queued open starts within a turn
 * and their decoding does not hold up an open's bytes.  A new turn resumes
 * them (libcurl hands the held bytes to on_body at once, so without
 * f->lock).  Engine thread; start_queued marked them.
 */
static void slices_begin(struct cfs_fetcher *f)
{
	f->slice_left = BACKGROUND_SLICE;
	for (size_t i = 0; i < f->n_running; i++) {
		struct xfer *x = f->running[i];

		if (x->yielded) {
			x->yielded = false;
			x->held_us += cfs_now_us() - x->yielded_at;
			sym_curl_easy_pause(x->h, CURLPAUSE_CONT);
		}
	}
}

static void *engine(void *arg)
{
	struct cfs_fetcher *f = arg;

	pthread_mutex_lock(&f->lock);
	while (!f->stop) {
		int64_t wake_ms = 1000;
		struct CURLMsg *msg;
		int running, left;
		bool finished = false;

		start_queued(f, &wake_ms);
		mark_background(f);
		pthread_mutex_unlock(&f->lock);
		slices_begin(f);
		/* The first object of a transfer gets its cache file at once,
		 * like a fetch in progress should look (a crash leaves it to the
		 * next mount to clean). */
		for (size_t i = 0; i < f->n_running; i++) {
			struct xfer *x = f->running[i];
			if (!x->decoding && !x->answered && x->pos == 0 && x->cur == 0)
				decode_begin(x);
		}
		sym_curl_multi_perform(f->multi, &running);
		for (size_t i = 0; i < f->n_running; i++)
			if (f->running[i]->yielded)
				wake_ms = 0; /* its next slice comes at once */
		while ((msg = sym_curl_multi_info_read(f->multi, &left))) {
			struct xfer *x = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			sym_curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			xfer_finish(f, x, msg->data.result);
			finished = true;
		}
		/* After a transfer ended, queued ones start at once. */
		if (finished)
			wake_ms = 0;
		sym_curl_multi_poll(f->multi, NULL, 0, (int)(wake_ms > 0 ? wake_ms : 0), NULL);
		pthread_mutex_lock(&f->lock);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* Starts the engine on first use: after the daemon forked. f->lock held. */
static errint_t ensure_started(struct cfs_fetcher *f)
{
	int r;

	if (f->started)
		return 0;
	f->multi = sym_curl_multi_init();
	if (!f->multi)
		return -ENOMEM;
	sym_curl_multi_setopt(f->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)MAX_INFLIGHT_H1);
	sym_curl_multi_setopt(f->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	r = cfs_thread_start(&f->thread, engine, f);
	if (r != 0) {
		sym_curl_multi_cleanup(f->multi);
		f->multi = NULL;
		return -r;
	}
	f->started = true;
	return 0;
}

/* ---- the API */

errint_t cfs_fetcher_new(struct cfs_fs *fs, const struct cfs_fetcher_opts *o,
			 struct cfs_fetcher **out, struct cfs_err *err)
{
	struct cfs_fetcher *f = cfs_xcalloc(1, sizeof(*f));
	pthread_condattr_t ca;

	f->fs = fs;
	f->o = *o;
	f->base = cfs_remote_url(fs->remote);
	f->s3 = cfs_remote_s3(fs->remote);
	f->timeout_s = cfs_remote_timeout(fs->remote);
	f->retries = cfs_remote_retries(fs->remote);
	f->cache_dirfd = open(cfs_cache_dir(fs->cache), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->cache_dirfd < 0) {
		int e = errno;
		free(f);
		return cfs_err_set(err, e, "cache %s: %s", cfs_cache_dir(fs->cache), strerror(e));
	}
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->changed, &ca);
	pthread_condattr_destroy(&ca);
	*out = f;
	return 0;
}

void cfs_fetcher_free(struct cfs_fetcher *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	wake(f);
	pthread_mutex_unlock(&f->lock);
	if (f->started)
		pthread_join(f->thread, NULL);
	while (f->n_running) {
		struct xfer *x = f->running[0];
		if (x->decoding) {
			struct cfs_err ignored;
			decode_end(x, &ignored);
		}
		xfer_stop(f, x);
		xfer_free(x);
	}
	for (int p = 0; p < CFS_FETCH_NPRIO; p++)
		while (f->q[p].head) {
			struct xfer *x = f->q[p].head;
			f->q[p].head = x->next;
			xfer_free(x);
		}
	for (size_t i = 0; i < WANT_BUCKETS; i++)
		while (f->wants[i]) {
			struct want *w = f->wants[i];
			f->wants[i] = w->hnext;
			want_unref(w);
		}
	if (f->multi)
		sym_curl_multi_cleanup(f->multi);
	free(f->running);
	close(f->cache_dirfd);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->changed);
	free(f);
}

/* Whether misses stream their packs and fetch ahead (--stream-packs); f->lock held. */
static bool streaming(const struct cfs_fetcher *f)
{
	return f->o.packs && (f->o.stream_packs == CFS_FS_STREAM_ALWAYS ||
			      (f->o.stream_packs == CFS_FS_STREAM_FAST &&
			       f->rate >= STREAM_MIN_RATE && f->wait_us >= STREAM_MIN_WAIT_US));
}

errint_t cfs_fetcher_get(struct cfs_fetcher *f, const uint8_t digest[CFS_SHA256_LEN],
			 uint64_t size, int64_t deadline, struct cfs_err *err)
{
	/* The transfer ends at the deadline and says why; then give up anyway. */
	int64_t until = deadline + WAIT_GRACE_MS;
	struct timespec ts = { until / 1000, (until % 1000) * 1000000 };
	uint64_t t0 = cfs_now_us();
	struct want *w;
	int r = 0;

	pthread_mutex_lock(&f->lock);
	if ((r = ensure_started(f)) < 0) {
		pthread_mutex_unlock(&f->lock);
		return cfs_err_set(err, -r, "cannot start the fetch engine: %s", strerror(-r));
	}
	w = want_find(f, digest);
	if (!w) {
		w = want_new(f, digest, size, CFS_FETCH_OPEN);
		w->waited = true;
		w->deadline = deadline;
		queue_open(f, w);
		if (streaming(f)) {
			const struct cfs_packmap_entry *e = cfs_packmap_find(&f->fs->packs, digest);
			if (e && !atomic_load(&f->fs->packs.packs[e->pack].missing))
				stream_pack(f, e);
		}
		wake(f);
	} else {
		w->waited = true;
		if (!w->deadline || deadline < w->deadline)
			w->deadline = deadline;
		bump(f, w);
	}
	w->refs++;
	while (w->state == W_PENDING && r == 0)
		r = pthread_cond_timedwait(&f->changed, &f->lock, &ts);
	if (w->state == W_DONE) {
		r = 0;
		cfs_stats_latency(&f->fs->stats, cfs_now_us() - t0);
	} else if (w->state == W_FAILED) {
		r = cfs_err_set(err, EIO, "%s", w->error);
	} else {
		r = cfs_err_set(err, ETIMEDOUT, "gave up after %u s (the fetch goes on)",
				f->timeout_s);
	}
	want_unref(w);
	pthread_mutex_unlock(&f->lock);
	return r;
}

/*
 * Queues items at prio (prefetch or speculation), in order, merging runs
 * of neighbours in one pack into ranges; f->lock held.
 */
static void queue_items(struct cfs_fetcher *f, const struct cfs_fetch_item *items, size_t n,
			enum cfs_fetch_prio prio)
{
	const struct cfs_packmap *m = &f->fs->packs;
	bool prefetch = prio == CFS_FETCH_PREFETCH;
	struct xfer *x = NULL;
	uint64_t end = 0;

	for (size_t i = 0; i < n; i++) {
		const struct cfs_fetch_item *it = &items[i];
		bool packed = f->o.packs && it->pack && !atomic_load(&m->packs[it->pack].missing);
		struct want *w;

		if (!it->size || want_find(f, it->digest) || cached(f, it->digest)) {
			if (prefetch)
				prefetch_count(f, false, false);
			continue;
		}
		w = want_new(f, it->digest, it->size, prio);
		w->prefetch = prefetch;
		/* Next in the same pack, not far on, and the range not too long: join. */
		if (x && packed && x->pack == it->pack && it->offset >= end &&
		    it->offset - end <= SKIP_MAX && it->offset + it->csize - x->start <= RANGE_MAX) {
			xfer_add(x, w, it->offset - x->start, it->csize);
			end = it->offset + it->csize;
			x->len = end - x->start;
			continue;
		}
		if (x)
			enqueue(f, x);
		if (packed) {
			x = xfer_new(prio, it->pack);
			x->start = it->offset;
			xfer_add(x, w, 0, it->csize);
			end = it->offset + it->csize;
			x->len = it->csize;
		} else {
			x = xfer_new(prio, 0);
			xfer_add(x, w, 0, UINT64_MAX);
			enqueue(f, x);
			x = NULL;
		}
	}
	if (x)
		enqueue(f, x);
}

/*
 * --stream-packs: the first open that misses in a package's pack queues
 * the rest of that pack at stream priority, from the pack's start,
 * where the index puts what programs load first (indexer/packs.h); f->lock
 * held.
 */
static void stream_pack(struct cfs_fetcher *f, const struct cfs_packmap_entry *e)
{
	struct cfs_packmap *m = &f->fs->packs;
	const struct cfs_packmap_entry *first = e, *last = e;
	struct cfs_fetch_item *items;
	size_t n = 0;

	if (atomic_exchange(&m->packs[e->pack].streamed, true))
		return;
	atomic_fetch_add(&f->fs->stats.streamed_packs, 1);
	/* What the decision saw, for condafs stats (the rate moves on). */
	if (!atomic_load(&f->fs->stats.stream_min_rate) ||
	    f->rate < atomic_load(&f->fs->stats.stream_min_rate))
		atomic_store(&f->fs->stats.stream_min_rate, f->rate);
	while (first > m->entries && first[-1].pack == e->pack)
		first--;
	while (last + 1 < m->entries + m->n_index_entries && last[1].pack == e->pack)
		last++;
	items = cfs_xcalloc((size_t)(last - first) + 1, sizeof(*items));
	for (const struct cfs_packmap_entry *p = first; p <= last; p++)
		if (p != e)
			items[n++] = (struct cfs_fetch_item){ .digest = p->digest, .size = p->size,
							      .pack = p->pack, .offset = p->offset,
							      .csize = p->csize };
	queue_items(f, items, n, CFS_FETCH_STREAM);
	free(items);
}

void cfs_fetcher_touch(struct cfs_fetcher *f, uint32_t pkg)
{
	struct cfs_packmap *m = &f->fs->packs;
	struct cfs_fetch_item *items = NULL;
	size_t n = 0, alloc = 0;

	/* Every open comes here: a load first, to keep the line shared. */
	if (pkg >= m->n_pkgs || m->dep_start[pkg] == m->dep_start[pkg + 1] ||
	    atomic_load_explicit(&m->touched[pkg], memory_order_relaxed) ||
	    atomic_exchange(&m->touched[pkg], true))
		return;
	pthread_mutex_lock(&f->lock);
	if (!f->started || !streaming(f)) {
		pthread_mutex_unlock(&f->lock);
		return;
	}
	for (uint32_t k = m->dep_start[pkg]; k < m->dep_start[pkg + 1]; k++) {
		uint32_t pack = m->dep_at[k];
		size_t i = cfs_packmap_pack_first(m, pack);
		bool queued = false;

		if (atomic_load(&m->packs[pack].missing) || atomic_load(&m->packs[pack].streamed))
			continue;
		for (; i < m->n_index_entries && m->entries[i].pack == pack; i++) {
			const struct cfs_packmap_entry *e = &m->entries[i];

			if (e->offset + e->csize > f->o.speculate || e->csize > CFS_SPECULATE_OBJECT_MAX)
				break;
			if (!e->size || want_find(f, e->digest) || cached(f, e->digest))
				continue;
			cfs_grow(&items, n, &alloc, sizeof(*items), 64);
			items[n++] = (struct cfs_fetch_item){ .digest = e->digest, .size = e->size,
							      .pack = pack, .offset = e->offset,
							      .csize = e->csize };
			queued = true;
		}
		if (queued)
			atomic_fetch_add(&f->fs->stats.dependency_heads, 1);
	}
	queue_items(f, items, n, CFS_FETCH_SPECULATE);
	free(items);
	wake(f);
	pthread_mutex_unlock(&f->lock);
}

void cfs_fetcher_prefetch(struct cfs_fetcher *f, const struct cfs_fetch_item *items, size_t n)
{
	pthread_mutex_lock(&f->lock);
	if (ensure_started(f) < 0) {
		pthread_mutex_unlock(&f->lock);
		cfs_warn("prefetch: cannot start the fetch engine");
		return;
	}
	f->prefetch_total += n;
	f->prefetch_left += n;
	queue_items(f, items, n, CFS_FETCH_PREFETCH);
	if (f->prefetch_left == 0 && n)
		cfs_info("prefetch done: %zu objects, all cached already", n);
	wake(f);
	pthread_mutex_unlock(&f->lock);
}

/* SPDX-License-Identifier: MIT */
/*
 * Prefetch (--prefetch FILE): once the mount is ready, a few threads bring
 * the objects an application is known to open into the cache, in the order
 * it first opened them, so that its start-up finds them there.  FILE is a
 * trace (its opened files, in line order) or a working set (its files, in
 * entry order: sorted by path).  Each object goes through the open-object
 * table like an open, so a foreground open of an object being prefetched
 * waits for that fetch instead of starting another, and at most `jobs`
 * prefetches run at a time, whatever the foreground does.
 */
#include <jansson.h>
#include <string.h>

#include "fs-internal.h"
#include "log.h"
#include "workset.h"

#define MAX_TRACE_LINE (64u << 10)
/* Prefetch order is kept across windows of this many objects (start_engine). */
#define PREFETCH_WINDOW 64

struct cfs_prefetch {
	struct cfs_fs *fs;
	char *worksets[2]; /* the working sets among the files given, or NULL */
	uint32_t *inos; /* files, one per distinct object, in order */
	size_t n, alloc;
	atomic_size_t next;
	atomic_bool stop;
	pthread_t *threads;
	unsigned n_threads;
};

/* Queues file ino unless it has nothing to fetch or is not served. */
static void add(struct cfs_prefetch *p, uint32_t ino)
{
	const struct cfs_inode *n;

	if (!ino)
		return;
	n = &p->fs->tree.nodes[ino];
	if (!S_ISREG(n->mode) || !n->size || n->data == CFS_NO_DIGEST ||
	    (n->flags & CFS_INODE_UNSERVED))
		return;
	if (p->n == p->alloc) {
		p->alloc = p->alloc ? 2 * p->alloc : 1024;
		p->inos = cfs_xrealloc(p->inos, p->alloc * sizeof(*p->inos));
	}
	p->inos[p->n++] = ino;
}

static errint_t add_workset(struct cfs_prefetch *p, const char *file, struct cfs_err *err)
{
	struct cfs_workset *ws = NULL;
	int r = cfs_workset_load(file, &ws, err);

	if (r < 0)
		return r;
	for (size_t i = 0; i < ws->n_entries; i++)
		if (ws->entries[i].type == 'f')
			add(p, cfs_tree_resolve(&p->fs->tree, ws->entries[i].path));
	cfs_workset_free(ws);
	return 0;
}

/* One line of a trace; *header is set for a header line. */
static errint_t trace_line(struct cfs_prefetch *p, const char *line, size_t len, bool *header)
{
	json_t *o = json_loadb(line, len, 0, NULL);
	const char *op, *path;

	if (!json_is_object(o)) {
		json_decref(o);
		return -EINVAL;
	}
	*header = json_object_get(o, "condafs_trace") != NULL;
	op = json_string_value(json_object_get(o, "op"));
	path = json_string_value(json_object_get(o, "path"));
	if (!*header && op && path && strcmp(op, "open") == 0)
		add(p, cfs_tree_resolve(&p->fs->tree, path));
	json_decref(o);
	return 0;
}

/* Adds the opened files of a trace; -ENOTSUP if file is not a trace. */
static errint_t add_trace(struct cfs_prefetch *p, const char *file, struct cfs_err *err)
{
	cleanup_file FILE *f = fopen(file, "re");
	cleanup_free char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;

	if (!f)
		return cfs_err_set(err, errno, "%s: %s", file, strerror(errno));
	while ((len = getline(&line, &cap, f)) >= 0) {
		bool complete = len > 0 && line[len - 1] == '\n', header = false;

		lineno++;
		if ((size_t)len > MAX_TRACE_LINE)
			return lineno == 1 ? -ENOTSUP
			       : cfs_err_set(err, EFBIG, "%s:%zu: line longer than %u bytes", file,
					     lineno, MAX_TRACE_LINE);
		if (trace_line(p, line, (size_t)len, &header) < 0) {
			if (lineno == 1)
				return -ENOTSUP;
			if (!complete)
				break; /* a last line cut short */
			return cfs_err_set(err, EINVAL, "%s:%zu: not a JSON object", file, lineno);
		}
		if (lineno == 1 && !header)
			return -ENOTSUP;
	}
	return lineno ? 0 : -ENOTSUP;
}

static int cmp_digest(const void *a, const void *b, void *ctx)
{
	const struct cfs_tree *t = ctx;
	const uint32_t *x = a, *y = b;
	int c = memcmp(t->digests[t->nodes[x[0]].data], t->digests[t->nodes[y[0]].data],
		       CFS_SHA256_LEN);

	return c ? c : (x[1] > y[1]) - (x[1] < y[1]);
}

/* Keeps the first file of each content, in order. */
static void dedupe(struct cfs_prefetch *p)
{
	const struct cfs_tree *t = &p->fs->tree;
	uint32_t (*pairs)[2] = cfs_xcalloc(p->n ? p->n : 1, sizeof(*pairs));
	uint8_t *drop = cfs_xcalloc(p->n ? p->n : 1, 1);
	size_t out = 0;

	for (size_t i = 0; i < p->n; i++) {
		pairs[i][0] = p->inos[i];
		pairs[i][1] = (uint32_t)i;
	}
	qsort_r(pairs, p->n, sizeof(*pairs), cmp_digest, (void *)t);
	for (size_t i = 1; i < p->n; i++)
		if (memcmp(t->digests[t->nodes[pairs[i][0]].data],
			   t->digests[t->nodes[pairs[i - 1][0]].data], CFS_SHA256_LEN) == 0)
			drop[pairs[i][1]] = 1;
	for (size_t i = 0; i < p->n; i++)
		if (!drop[i])
			p->inos[out++] = p->inos[i];
	p->n = out;
	free(pairs);
	free(drop);
}

errint_t cfs_prefetch_load(struct cfs_fs *fs, const char *file, const char *ws,
			   struct cfs_prefetch **out, struct cfs_err *err)
{
	struct cfs_prefetch *p = cfs_xcalloc(1, sizeof(*p));
	int r = 0;

	p->fs = fs;
	if (file) {
		r = add_trace(p, file, err);
		if (r == -ENOTSUP) {
			p->worksets[0] = cfs_xstrdup(file);
			r = add_workset(p, file, err);
			if (r == -EINVAL && strstr(err->msg, "not a condafs working set"))
				r = cfs_err_set(err, EINVAL, "%s: not a condafs working set or trace",
						file);
		}
	}
	if (r == 0 && ws)
		r = add_workset(p, ws, err);
	if (r < 0) {
		cfs_err_prefix(err, "--prefetch");
		cfs_prefetch_free(p);
		return r;
	}
	dedupe(p);
	p->worksets[1] = ws ? cfs_xstrdup(ws) : NULL;
	*out = p;
	return 0;
}

size_t cfs_prefetch_total(const struct cfs_prefetch *p)
{
	return p ? p->n : 0;
}

static void *worker(void *arg)
{
	struct cfs_prefetch *p = arg;
	struct cfs_stats *s = &p->fs->stats;
	size_t i;

	while (!atomic_load(&p->stop) && (i = atomic_fetch_add(&p->next, 1)) < p->n) {
		int r = cfs_obj_prefetch(p->fs, p->inos[i]);

		if (r > 0)
			atomic_fetch_add(&s->prefetched, 1);
		else if (r < 0)
			atomic_fetch_add(&s->prefetch_errors, 1);
		if (atomic_fetch_add(&s->prefetch_done, 1) + 1 == p->n)
			cfs_info("prefetch done: %zu objects, %llu fetched, %llu failed", p->n,
				 (unsigned long long)atomic_load(&s->prefetched),
				 (unsigned long long)atomic_load(&s->prefetch_errors));
	}
	return NULL;
}

/* Order of items within a window: by place in the packs. */
static int cmp_place(const void *a, const void *b)
{
	const struct cfs_fetch_item *x = a, *y = b;

	if (x->pack != y->pack)
		return x->pack < y->pack ? -1 : 1;
	return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Items for the objects of p->inos not marked done, with their index packs. */
static size_t index_items(struct cfs_prefetch *p, const uint8_t *done, struct cfs_fetch_item *items)
{
	const struct cfs_tree *t = &p->fs->tree;
	size_t n = 0, window = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct cfs_inode *node = &t->nodes[p->inos[i]];
		const struct cfs_packmap_entry *e;
		struct cfs_fetch_item *it;

		if (done && done[i])
			continue;
		it = &items[n++];
		*it = (struct cfs_fetch_item){ .digest = t->digests[node->data], .size = node->size };
		if ((e = cfs_packmap_find(&p->fs->packs, it->digest))) {
			it->pack = e->pack;
			it->offset = e->offset;
			it->csize = e->csize;
		}
		/* First-access order in the large, pack order within 64 objects:
		 * neighbours a program opens close together go in one range. */
		if (n - window == PREFETCH_WINDOW) {
			qsort(items + window, n - window, sizeof(*items), cmp_place);
			window = n;
		}
	}
	qsort(items + window, n - window, sizeof(*items), cmp_place);
	return n;
}

/* Indices into p->inos, by digest (qsort_r context: the prefetch). */
static int cmp_by_digest(const void *a, const void *b, void *ctx)
{
	const struct cfs_prefetch *p = ctx;
	const struct cfs_tree *t = &p->fs->tree;
	const uint32_t *x = a, *y = b;

	return memcmp(t->digests[t->nodes[p->inos[*x]].data],
		      t->digests[t->nodes[p->inos[*y]].data], CFS_SHA256_LEN);
}

/* The index in p->inos of the file with digest, by binary search of by, or -1. */
static ssize_t find_digest(const struct cfs_prefetch *p, const uint32_t *by, const uint8_t *digest)
{
	const struct cfs_tree *t = &p->fs->tree;
	size_t lo = 0, hi = p->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (memcmp(t->digests[t->nodes[p->inos[by[mid]]].data], digest, CFS_SHA256_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == p->n ||
	    memcmp(t->digests[t->nodes[p->inos[by[lo]]].data], digest, CFS_SHA256_LEN) != 0)
		return -1;
	return by[lo];
}

/*
 * Hands the objects to the fetch engine: first the working set's own pack
 * (`condafs pack`), streamed in its order, then what it lacks, by index
 * pack.  Pack entries that are not files of this prefetch are left out.
 */
static void start_engine(struct cfs_fs *fs, struct cfs_prefetch *p)
{
	const struct cfs_tree *t = &fs->tree;
	size_t alloc = p->n ? p->n : 1, first = 0, count = 0, n = 0;
	struct cfs_fetch_item *items = cfs_xcalloc(alloc, sizeof(*items));
	uint8_t *done = cfs_xcalloc(alloc, 1);
	uint32_t *by = cfs_xcalloc(alloc, sizeof(*by));
	struct cfs_err err;

	for (int i = 0; i < 2 && !count; i++)
		if (p->worksets[i] && cfs_packmap_add_workset(&fs->packs, t, p->worksets[i], &first,
							      &count, &err) < 0) {
			cfs_warn("--prefetch: %s; prefetching without its pack", err.msg);
			count = 0;
		}
	for (size_t i = 0; i < p->n; i++)
		by[i] = (uint32_t)i;
	qsort_r(by, p->n, sizeof(*by), cmp_by_digest, p);
	for (size_t k = 0; k < count; k++) {
		const struct cfs_packmap_entry *e = &fs->packs.entries[first + k];
		ssize_t i = find_digest(p, by, e->digest);
		const struct cfs_inode *node;

		if (i < 0 || done[i])
			continue;
		node = &t->nodes[p->inos[i]];
		done[i] = 1;
		items[n++] = (struct cfs_fetch_item){
			.digest = t->digests[node->data], .size = node->size,
			.pack = e->pack, .offset = e->offset, .csize = e->csize,
		};
	}
	if (count)
		cfs_info("prefetch: %zu objects from the working set's pack, %zu by index pack",
			 n, p->n - n);
	n += index_items(p, done, items + n);
	cfs_fetcher_prefetch(fs->fetcher, items, n);
	free(by);
	free(done);
	free(items);
}

void cfs_prefetch_start(struct cfs_fs *fs, struct cfs_prefetch *p, unsigned jobs)
{
	if (!p || !p->n || p->threads)
		return;
	if (fs->fetcher) {
		start_engine(fs, p);
		return;
	}
	if (jobs > p->n)
		jobs = (unsigned)p->n;
	p->threads = cfs_xcalloc(jobs ? jobs : 1, sizeof(*p->threads));
	for (unsigned i = 0; i < jobs; i++) {
		int r = cfs_thread_start(&p->threads[p->n_threads], worker, p);
		if (r != 0) {
			cfs_warn("prefetch: cannot start a thread: %s", strerror(r));
			break;
		}
		p->n_threads++;
	}
	cfs_info("prefetching %zu objects with %u threads", p->n, p->n_threads);
}

void cfs_prefetch_free(struct cfs_prefetch *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, true);
	for (unsigned i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	free(p->inos);
	free(p->worksets[0]);
	free(p->worksets[1]);
	free(p);
}

/* SPDX-License-Identifier: MIT */
/*
 * conda-lock.yml entries: deduplicated across categories, then put in
 * dependency order.
 */
#include "lock-internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct name_ref {
	const char *name;
	size_t idx;
};

static int name_ref_cmp(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r ? r : (x->idx > y->idx) - (x->idx < y->idx);
}

/* The named packages of l sorted by (name, lock order); caller frees. */
static struct name_ref *name_refs(const struct pkg_list *l, size_t *n)
{
	struct name_ref *refs = cfs_xcalloc(l->n, sizeof(*refs));

	*n = 0;
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].name)
			refs[(*n)++] = (struct name_ref){ l->v[i].name, i };
	qsort(refs, *n, sizeof(*refs), name_ref_cmp);
	return refs;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/*
 * Keeps the first of the entries sharing a name and URL (one per category).
 * With strict, the same name with another URL is an error.
 */
errint_t lock_dedup(struct lock_ctx *c, struct pkg_list *l, bool strict)
{
	cleanup_free bool *drop = cfs_xcalloc(l->n, sizeof(bool));
	size_t n, head = 0, k = 0;
	cleanup_free struct name_ref *refs = name_refs(l, &n);

	for (size_t i = 1; i < n; i++) {
		struct cfs_lock_pkg *p = &l->v[refs[i].idx], *q = &l->v[refs[head].idx];
		if (strcmp(q->name, p->name) != 0)
			head = i;
		else if (same_str(p->url, q->url))
			drop[refs[i].idx] = true;
		else if (strict)
			return lock_err(c, p->line,
				    "package '%s': url %.200s differs from %.200s at line %d",
				    p->name, p->url ? p->url : "(none)",
				    q->url ? q->url : "(none)", q->line);
	}
	for (size_t i = 0; i < l->n; i++) {
		if (drop[i])
			lock_pkg_release(&l->v[i]);
		else
			l->v[k++] = l->v[i];
	}
	l->n = k;
	return 0;
}

static int name_key_cmp(const void *key, const void *ref)
{
	return strcmp(key, ((const struct name_ref *)ref)->name);
}

static bool python_pip(const struct cfs_lock_pkg *p, const struct cfs_lock_pkg *dep)
{
	return p->name && strcmp(p->name, "python") == 0 && strcmp(dep->name, "pip") == 0;
}

/* Adjacency in compressed rows: the edges of i are at[start[i]..start[i+1]). */
struct graph {
	size_t *start, *at;
};

static void graph_release(struct graph *g)
{
	free(g->start);
	free(g->at);
}

/*
 * dep: i → the packages of l that i depends on (names are unique after
 * dedup; names outside the lock and i itself are left out).  rev: i → the
 * packages that depend on i.  Like conda (PrefixGraph), python's dependency
 * on pip is dropped so that python comes before pip.
 */
static void build_graph(const struct pkg_list *l, struct graph *dep,
			struct graph *rev)
{
	size_t n = l->n, nrefs, e = 0;
	cleanup_free struct name_ref *refs = name_refs(l, &nrefs);

	for (size_t i = 0; i < n; i++)
		e += l->v[i].n_depends;
	dep->start = cfs_xcalloc(n + 1, sizeof(size_t));
	dep->at = cfs_xcalloc(e, sizeof(size_t));
	rev->start = cfs_xcalloc(n + 2, sizeof(size_t));
	rev->at = cfs_xcalloc(e, sizeof(size_t));
	e = 0;
	for (size_t i = 0; i < n; i++) {
		dep->start[i] = e;
		for (size_t k = 0; k < l->v[i].n_depends; k++) {
			const struct name_ref *r = bsearch(l->v[i].depends[k], refs, nrefs,
							   sizeof(*refs), name_key_cmp);
			if (r && r->idx != i && !python_pip(&l->v[i], &l->v[r->idx])) {
				dep->at[e++] = r->idx;
				rev->start[r->idx + 2]++;
			}
		}
	}
	dep->start[n] = e;
	/* Counting sort: rev->start[j + 1] is j's fill position until done. */
	for (size_t i = 0; i < n; i++)
		rev->start[i + 2] += rev->start[i + 1];
	for (size_t i = 0; i < n; i++)
		for (e = dep->start[i]; e < dep->start[i + 1]; e++)
			rev->at[rev->start[dep->at[e] + 1]++] = i;
}

/* A min-heap of package indices: the ready package first in the lock wins. */
struct heap {
	size_t *v, n;
};

static void heap_push(struct heap *h, size_t x)
{
	size_t i = h->n++;

	for (; i && h->v[(i - 1) / 2] > x; i = (i - 1) / 2)
		h->v[i] = h->v[(i - 1) / 2];
	h->v[i] = x;
}

static size_t heap_pop(struct heap *h)
{
	size_t top = h->v[0], x = h->v[--h->n], i = 0, k;

	while ((k = 2 * i + 1) < h->n) {
		if (k + 1 < h->n && h->v[k + 1] < h->v[k])
			k++;
		if (x <= h->v[k])
			break;
		h->v[i] = h->v[k];
		i = k;
	}
	h->v[i] = x;
	return top;
}

/* The pending dependency of i that comes first in the lock. */
static size_t first_pending_dep(const struct graph *dep, const bool *done,
				size_t i)
{
	size_t best = SIZE_MAX;

	for (size_t e = dep->start[i]; e < dep->start[i + 1]; e++)
		if (!done[dep->at[e]] && dep->at[e] < best)
			best = dep->at[e];
	return best;
}

/*
 * Nothing is ready: every pending package waits on another.  Walk from the
 * earliest pending package along first pending dependencies until the walk
 * closes a cycle, and break that cycle at its member that comes first in the
 * lock.  The walk (path, with on_path[i] = position + 1) is kept between
 * calls: its prefix up to the first package since done is still valid.
 */
static size_t cycle_victim(const struct graph *dep, const bool *done,
			   size_t *path, size_t *plen, size_t *on_path, size_t first)
{
	size_t k = 0, next, best;

	while (k < *plen && !done[path[k]])
		k++;
	for (size_t j = k; j < *plen; j++)
		on_path[path[j]] = 0;
	*plen = k;
	next = k ? first_pending_dep(dep, done, path[k - 1]) : first;
	while (!on_path[next]) {
		path[*plen] = next;
		on_path[next] = ++*plen;
		next = first_pending_dep(dep, done, next);
	}
	best = next;
	for (k = on_path[next]; k < *plen; k++)
		best = path[k] < best ? path[k] : best;
	return best;
}

/* Puts l in the given order (a permutation of its indices). */
static void permute(struct pkg_list *l, const size_t *order)
{
	struct cfs_lock_pkg *v = cfs_xcalloc(l->n, sizeof(*v));

	for (size_t i = 0; i < l->n; i++)
		v[i] = l->v[order[i]];
	free(l->v);
	l->v = v;
	l->alloc = l->n;
}

/* Stable topological sort of l: dependencies first, ties in lock order. */
void lock_sort_by_deps(struct pkg_list *l)
{
	size_t n = l->n, k = 0, first = 0, plen = 0;
	struct graph dep = { 0 }, rev = { 0 };
	cleanup_free size_t *pending = cfs_xcalloc(n, sizeof(size_t));
	cleanup_free size_t *path = cfs_xcalloc(n, sizeof(size_t));
	cleanup_free size_t *on_path = cfs_xcalloc(n, sizeof(size_t));
	cleanup_free size_t *order = cfs_xcalloc(n, sizeof(size_t));
	cleanup_free bool *done = cfs_xcalloc(n, sizeof(bool));
	cleanup_free size_t *heap_v = cfs_xcalloc(n, sizeof(size_t));
	struct heap h = { heap_v, 0 };

	build_graph(l, &dep, &rev);
	for (size_t i = 0; i < n; i++) {
		pending[i] = dep.start[i + 1] - dep.start[i];
		if (!pending[i])
			heap_push(&h, i);
	}
	while (k < n) {
		size_t v;
		if (h.n) {
			v = heap_pop(&h);
		} else {
			while (done[first])
				first++;
			v = cycle_victim(&dep, done, path, &plen, on_path, first);
		}
		done[v] = true;
		order[k++] = v;
		for (size_t e = rev.start[v]; e < rev.start[v + 1]; e++)
			if (--pending[rev.at[e]] == 0 && !done[rev.at[e]])
				heap_push(&h, rev.at[e]);
	}
	graph_release(&dep);
	graph_release(&rev);
	permute(l, order);
}

/* SPDX-License-Identifier: MIT */
/*
 * Shared by the lock readers only: lock.c (entry points, file names and
 * URLs, explicit files), lock-yaml.c (conda-lock.yml) and lock-order.c
 * (categories and install order).
 */
#ifndef CFS_LOCK_INTERNAL_H
#define CFS_LOCK_INTERNAL_H

#include "lock.h"

/* A growable array of packages; the lock takes the array over at the end. */
struct pkg_list {
	struct cfs_lock_pkg *v;
	size_t n, alloc;
};

struct lock_ctx {
	const char *path;
	const char *platform;
	struct cfs_err *err;
	struct pkg_list pkgs;    /* conda packages, lock order */
	struct pkg_list skipped; /* pip packages */
};

/* ---- lock.c: packages, errors, URLs ---- */

/* Frees what p holds and zeroes it (p itself is not freed). */
void lock_pkg_release(struct cfs_lock_pkg *p);

/* Appends a zeroed package to l; the pointer is valid until the next push. */
struct cfs_lock_pkg *lock_pkg_list_push(struct pkg_list *l);

/* Sets "<path>:<line>: <msg>" in c->err and returns -EINVAL. */
__attribute__((format(printf, 3, 4)))
int lock_err(struct lock_ctx *c, int line, const char *fmt, ...);

/* The 1-based line of data[off]. */
int lock_line_at(const char *data, size_t off);

/*
 * Fills p->fn (only if p->url is set), p->channel and p->subdir (never
 * NULL, "" without a URL or with only_fn) from p->url.
 */
void lock_pkg_split_url(struct cfs_lock_pkg *p, bool only_fn);

/* Completes a conda package: URL parts, then name/version/build from fn. */
errint_t lock_pkg_finish_conda(struct lock_ctx *c, struct cfs_lock_pkg *p);

/* ---- lock-yaml.c ---- */

/*
 * Appends the packages of a conda-lock.yml (version 1) for c->platform to
 * c->pkgs (conda) and c->skipped (pip), in lock order.  Returns 0, or
 * -EINVAL (-ENOMEM if libyaml runs out of memory) with c->err set.
 */
errint_t lock_parse_yaml(struct lock_ctx *c, const char *data, size_t len);

/* ---- lock-order.c ---- */

/*
 * Keeps the first of the entries sharing a name and URL (one per category).
 * With strict, the same name with another URL is an error.
 */
errint_t lock_dedup(struct lock_ctx *c, struct pkg_list *l, bool strict);

/* Stable topological sort of l: dependencies first, ties in lock order. */
void lock_sort_by_deps(struct pkg_list *l);

#endif

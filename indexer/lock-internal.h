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
	const char *environment; /* NULL: "default" */
	struct cfs_err *err;
	int version;             /* the format's version, once read */
	struct pkg_list pkgs;    /* conda packages, lock order */
	struct pkg_list wheels;  /* wheels, lock order */
	struct pkg_list skipped; /* entries condafs cannot install */
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

/* The length of fn's (len bytes) ".conda" or ".tar.bz2" suffix, 0 without one. */
size_t lock_pkg_ext_len(const char *fn, size_t len);

/* Completes a conda package: URL parts, then name/version/build from fn. */
errint_t lock_pkg_finish_conda(struct lock_ctx *c, struct cfs_lock_pkg *p);

/*
 * Completes the pip entry last pushed onto c->wheels (name, url as written,
 * hashes, line): fills fn, and moves an entry that is not a wheel to
 * c->skipped with the reason.  editable marks a pypi entry that pixi
 * installs in development mode.
 */
void lock_finish_pip(struct lock_ctx *c, bool editable);

/* ---- lock-yaml.c ---- */

#include <yaml.h>

int yline(const yaml_node_t *n);
/* The scalar's text, NULL for other nodes. */
const char *yscalar(const yaml_node_t *n);
/* A plain "", "~" or "null" (YAML's core schema). */
bool yis_null(const yaml_node_t *n);
yaml_node_t *ymap_get(yaml_document_t *d, yaml_node_t *map, const char *key);
/* *out = a copy of the string at map[key], NULL if absent or null. */
errint_t yfield(struct lock_ctx *c, yaml_document_t *d, yaml_node_t *map,
		const char *key, char **out);
/* Loads the first document of data into doc (no aliases, bounded depth). */
errint_t lock_yaml_load(struct lock_ctx *c, const char *data, size_t len,
			yaml_document_t *doc);

/*
 * Appends the packages of a conda-lock.yml (version 1) for c->platform to
 * c->pkgs (conda) and c->skipped (pip), in lock order.  Returns 0, or
 * -EINVAL (-ENOMEM if libyaml runs out of memory) with c->err set.
 */
errint_t lock_parse_yaml(struct lock_ctx *c, const char *data, size_t len);

/* ---- lock-pixi.c ---- */

/* Whether root is a pixi.lock: "environments" and a "packages" list. */
bool lock_is_pixi(yaml_document_t *d, yaml_node_t *root);

/*
 * Appends the packages of c->environment for c->platform: conda packages to
 * c->pkgs, wheels to c->wheels, the rest to c->skipped.  Returns 0, or
 * -EINVAL with c->err set.
 */
errint_t lock_parse_pixi(struct lock_ctx *c, yaml_document_t *d, yaml_node_t *root);

/* ---- lock-order.c ---- */

/*
 * Keeps the first of the entries sharing a name and URL (one per category).
 * With strict, the same name with another URL is an error.
 */
errint_t lock_dedup(struct lock_ctx *c, struct pkg_list *l, bool strict);

/* Stable topological sort of l: dependencies first, ties in lock order. */
void lock_sort_by_deps(struct pkg_list *l);

#endif

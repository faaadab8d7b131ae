/* SPDX-License-Identifier: MIT */
/*
 * pixi.lock, rattler's lock format, versions 4 to 7.
 *
 *   version: 6
 *   environments:
 *     default:                       # --environment
 *       channels: [...]
 *       packages:
 *         linux-64:                  # --platform
 *           - conda: https://.../linux-64/zlib-1.3.1-hb9d3cd8_2.conda
 *           - pypi: https://.../flask-3.0.3-py3-none-any.whl
 *   packages:                        # every environment's, every platform's
 *     - conda: https://.../linux-64/zlib-1.3.1-hb9d3cd8_2.conda
 *       sha256: ...
 *       md5: ...
 *       depends: [libgcc >=13]
 *     - pypi: https://.../flask-3.0.3-py3-none-any.whl
 *       name: flask
 *       version: 3.0.3
 *       sha256: ...
 *
 * Versions 4 and 5 tag each package with "kind: conda" or "kind: pypi" and
 * give its location as "url" (or "path").  Version 6 locates packages by
 * "conda:" or "pypi:" and may leave name, version and build to the file
 * name; a selector can add name, version, build and subdir to tell apart
 * entries sharing a location.  Version 7 adds conda source packages told
 * apart by name and variants, and a top-level "platforms" list.  A binary
 * entry is picked for the platform by its subdir (or noarch).
 */
#include "lock-internal.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#define PIXI_MIN_VERSION 4
#define PIXI_MAX_VERSION 7

struct pixi {
	struct lock_ctx *c;
	yaml_document_t *d;
	yaml_node_t *packages; /* the top-level list, or NULL */
	const char *env;
};

bool lock_is_pixi(yaml_document_t *d, yaml_node_t *root)
{
	yaml_node_t *pkgs = ymap_get(d, root, "packages");

	return ymap_get(d, root, "environments") && !ymap_get(d, root, "package") &&
	       (!pkgs || pkgs->type == YAML_SEQUENCE_NODE || yis_null(pkgs));
}

/* "a, b, c" of the keys of a mapping (at most 10); caller frees. */
static char *key_list(yaml_document_t *d, yaml_node_t *map)
{
	struct cfs_buf b;
	size_t n = 0;

	cfs_buf_init(&b, 1 << 16);
	if (map && map->type == YAML_MAPPING_NODE)
		for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
		     pair < map->data.mapping.pairs.top; pair++, n++) {
			const char *k = yscalar(yaml_document_get_node(d, pair->key));
			if (n == 10) {
				cfs_buf_printf(&b, ", ...");
				break;
			}
			cfs_buf_printf(&b, "%s%.64s", n ? ", " : "", k ? k : "?");
		}
	if (!n)
		cfs_buf_printf(&b, "none");
	return cfs_buf_steal(&b, NULL);
}

/* The location of a package entry: "conda"/"pypi" (v6+) or "url"/"path" (v4, v5). */
static const char *entry_location(struct pixi *x, yaml_node_t *e, bool *pypi)
{
	const char *loc, *kind;

	if (x->c->version >= 6) {
		if ((loc = yscalar(ymap_get(x->d, e, "conda")))) {
			*pypi = false;
			return loc;
		}
		*pypi = true;
		return yscalar(ymap_get(x->d, e, "pypi"));
	}
	kind = yscalar(ymap_get(x->d, e, "kind"));
	*pypi = kind && strcmp(kind, "pypi") == 0;
	if (!kind || (!*pypi && strcmp(kind, "conda") != 0))
		return NULL;
	loc = yscalar(ymap_get(x->d, e, "url"));
	return loc ? loc : yscalar(ymap_get(x->d, e, "path"));
}

/* The last path component of a location (without query or fragment). */
static char *loc_fn(const char *loc)
{
	size_t n = strcspn(loc, "?#");
	const char *slash = memrchr(loc, '/', n);

	return slash ? cfs_xstrndup(slash + 1, n - (size_t)(slash + 1 - loc))
		     : cfs_xstrndup(loc, n);
}

/* The subdir before the file name in a location, or NULL; caller frees. */
static char *loc_subdir(const char *loc)
{
	size_t n = strcspn(loc, "?#");
	const char *slash = memrchr(loc, '/', n), *prev;

	if (!slash || slash == loc)
		return NULL;
	prev = memrchr(loc, '/', (size_t)(slash - loc));
	prev = prev ? prev + 1 : loc;
	return cfs_xstrndup(prev, (size_t)(slash - prev));
}

/*
 * Whether the entry's field (or, without one, the part derived from the
 * location's file name) equals want.  part: 0 name, 1 version, 2 build.
 */
static bool field_is(struct pixi *x, yaml_node_t *e, const char *key, const char *loc,
		     int part, const char *want)
{
	const char *v = yscalar(ymap_get(x->d, e, key));
	cleanup_free char *fn = NULL, *name = NULL, *version = NULL, *build = NULL;

	if (v)
		return strcmp(v, want) == 0;
	fn = loc_fn(loc);
	if (cfs_lock_split_fn(fn, &name, &version, &build) < 0)
		return false;
	return strcmp(part == 0 ? name : part == 1 ? version : build, want) == 0;
}

static bool subdir_fits(struct pixi *x, yaml_node_t *e, const char *loc)
{
	const char *v = yscalar(ymap_get(x->d, e, "subdir"));
	cleanup_free char *derived = v ? NULL : loc_subdir(loc);

	if (!v)
		v = derived;
	return !v || strcmp(v, x->c->platform) == 0 || strcmp(v, "noarch") == 0;
}

/* Whether entry e is the one selector sel (at location loc) names. */
static bool selects(struct pixi *x, yaml_node_t *sel, yaml_node_t *e, const char *loc)
{
	static const char *const keys[] = { "name", "version", "build" };
	const char *want;

	for (int i = 0; i < 3 && x->c->version >= 6; i++) {
		if (i > 0 && x->c->version >= 7)
			break; /* v7 selectors name packages by name (and variants) only */
		want = yscalar(ymap_get(x->d, sel, keys[i]));
		if (want && !field_is(x, e, keys[i], loc, i, want))
			return false;
	}
	want = x->c->version == 6 ? yscalar(ymap_get(x->d, sel, "subdir")) : NULL;
	if (want) {
		const char *v = yscalar(ymap_get(x->d, e, "subdir"));
		cleanup_free char *derived = v ? NULL : loc_subdir(loc);
		if (!v)
			v = derived;
		if (!v || strcmp(v, want) != 0)
			return false;
	}
	return true;
}

/*
 * The entry of the packages list that selector sel names: same kind and
 * location, fitting the selector, preferring one whose subdir is the
 * platform's (or noarch).
 */
static yaml_node_t *find_entry(struct pixi *x, yaml_node_t *sel, bool pypi, const char *loc)
{
	yaml_node_t *fallback = NULL;

	if (!x->packages || x->packages->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (yaml_node_item_t *i = x->packages->data.sequence.items.start;
	     i < x->packages->data.sequence.items.top; i++) {
		yaml_node_t *e = yaml_document_get_node(x->d, *i);
		const char *l;
		bool is_pypi;

		if (!e || e->type != YAML_MAPPING_NODE)
			continue;
		l = entry_location(x, e, &is_pypi);
		if (!l || is_pypi != pypi || strcmp(l, loc) != 0 || !selects(x, sel, e, loc))
			continue;
		if (pypi || subdir_fits(x, e, loc))
			return e;
		if (!fallback)
			fallback = e;
	}
	return fallback;
}

/* sha256 and md5 at the top of entry e ("hash:" in old pixi locks). */
static errint_t entry_hashes(struct pixi *x, yaml_node_t *e, struct cfs_lock_pkg *p)
{
	yaml_node_t *h = ymap_get(x->d, e, "hash");
	const char *md5 = yscalar(ymap_get(x->d, e, "md5"));
	const char *sha256 = yscalar(ymap_get(x->d, e, "sha256"));

	if (h && h->type == YAML_MAPPING_NODE) {
		md5 = md5 ? md5 : yscalar(ymap_get(x->d, h, "md5"));
		sha256 = sha256 ? sha256 : yscalar(ymap_get(x->d, h, "sha256"));
	}
	p->has_md5 = md5 && cfs_unhex(md5, p->md5, CFS_MD5_LEN) == 0;
	p->has_sha256 = sha256 && cfs_unhex(sha256, p->sha256, CFS_SHA256_LEN) == 0;
	if (md5 && !p->has_md5)
		return lock_err(x->c, p->line, "package '%.120s': md5 '%.80s' is not 32 hex digits",
				p->name ? p->name : "?", md5);
	if (sha256 && !p->has_sha256)
		return lock_err(x->c, p->line, "package '%.120s': sha256 '%.80s' is not 64 hex "
				"digits", p->name ? p->name : "?", sha256);
	return 0;
}

/* The names of "depends" match specs ("python >=3.9" → python). */
static errint_t entry_depends(struct pixi *x, yaml_node_t *e, struct cfs_lock_pkg *p)
{
	yaml_node_t *deps = ymap_get(x->d, e, "depends");

	if (!deps || yis_null(deps))
		return 0;
	if (deps->type != YAML_SEQUENCE_NODE)
		return lock_err(x->c, yline(deps), "'depends' is not a list");
	p->depends = cfs_xcalloc((size_t)(deps->data.sequence.items.top -
					  deps->data.sequence.items.start) + 1,
				 sizeof(char *));
	for (yaml_node_item_t *i = deps->data.sequence.items.start;
	     i < deps->data.sequence.items.top; i++) {
		const char *spec = yscalar(yaml_document_get_node(x->d, *i));
		char *name;

		if (!spec)
			return lock_err(x->c, yline(deps), "'depends' holds a non-string");
		if ((name = cfs_lock_spec_name(spec)))
			p->depends[p->n_depends++] = name;
	}
	return 0;
}

static errint_t need_hash(struct pixi *x, const struct cfs_lock_pkg *p, const char *loc)
{
	if (p->has_sha256 || p->has_md5)
		return 0;
	return lock_err(x->c, p->line, "package '%.120s' (%.200s) has no sha256 or md5; "
			"a pixi.lock records one for every built conda package",
			p->name ? p->name : "?", loc);
}

static bool is_conda_archive(const char *loc)
{
	return lock_pkg_ext_len(loc, strcspn(loc, "?#")) > 0;
}

static errint_t add_conda(struct pixi *x, yaml_node_t *e, const char *loc)
{
	struct lock_ctx *c = x->c;
	struct cfs_lock_pkg *p;
	int r;

	if (!is_conda_archive(loc)) {
		p = lock_pkg_list_push(&c->skipped);
		p->line = yline(e);
		p->manager = CFS_MGR_CONDA;
		p->url = cfs_xstrdup(loc);
		p->unbuildable = "a conda package pixi builds from source";
		lock_pkg_split_url(p, true);
		return yfield(c, x->d, e, "name", &p->name);
	}
	p = lock_pkg_list_push(&c->pkgs);
	p->line = yline(e);
	p->manager = CFS_MGR_CONDA;
	p->url = cfs_xstrdup(loc);
	if ((r = yfield(c, x->d, e, "name", &p->name)) < 0 ||
	    (r = yfield(c, x->d, e, "version", &p->version)) < 0 ||
	    (r = entry_depends(x, e, p)) < 0 ||
	    (r = lock_pkg_finish_conda(c, p)) < 0 ||
	    (r = entry_hashes(x, e, p)) < 0)
		return r;
	return need_hash(x, p, loc);
}

static errint_t add_pypi(struct pixi *x, yaml_node_t *e, const char *loc)
{
	struct lock_ctx *c = x->c;
	const char *editable = yscalar(ymap_get(x->d, e, "editable"));
	struct cfs_lock_pkg *p = lock_pkg_list_push(&c->wheels);
	int r;

	p->line = yline(e);
	p->url = cfs_xstrdup(loc);
	if ((r = yfield(c, x->d, e, "name", &p->name)) < 0 ||
	    (r = yfield(c, x->d, e, "version", &p->version)) < 0 ||
	    (r = entry_hashes(x, e, p)) < 0)
		return r;
	/*
	 * No hash check here: pixi records none for a direct URL ("direct+https:
	 * ..."), and fetching refuses an unverifiable wheel unless told not to.
	 */
	lock_finish_pip(c, editable && strcmp(editable, "true") == 0);
	return 0;
}

/*
 * Version 7's "source: NAME[HASH] @ LOCATION": a conda package pixi builds
 * from source, which condafs cannot install.
 */
static void add_source(struct pixi *x, yaml_node_t *sel, const char *spec)
{
	struct cfs_lock_pkg *p = lock_pkg_list_push(&x->c->skipped);
	const char *at = strstr(spec, " @ ");

	p->line = yline(sel);
	p->manager = CFS_MGR_CONDA;
	p->name = cfs_xstrndup(spec, strcspn(spec, "[ @"));
	p->url = cfs_xstrdup(at ? at + 3 : spec);
	p->unbuildable = "a conda package pixi builds from source";
	lock_pkg_split_url(p, true);
}

static errint_t add_selected(struct pixi *x, yaml_node_t *sel)
{
	const char *conda = yscalar(ymap_get(x->d, sel, "conda"));
	const char *pypi = yscalar(ymap_get(x->d, sel, "pypi"));
	const char *source = yscalar(ymap_get(x->d, sel, "source"));
	const char *loc = conda ? conda : pypi;
	yaml_node_t *e;

	if (sel->type == YAML_MAPPING_NODE && !loc && source) {
		add_source(x, sel, source);
		return 0;
	}
	if (sel->type != YAML_MAPPING_NODE || !loc)
		return lock_err(x->c, yline(sel), "environment '%.64s', platform %s: an entry "
				"is neither 'conda: LOCATION', 'pypi: LOCATION' nor 'source: ...'",
				x->env, x->c->platform);
	e = find_entry(x, sel, !conda, loc);
	if (!e)
		return lock_err(x->c, yline(sel), "environment '%.64s', platform %s: %s package "
				"%.200s is not in the lock's packages list", x->env,
				x->c->platform, conda ? "conda" : "pypi", loc);
	return conda ? add_conda(x, e, loc) : add_pypi(x, e, loc);
}

/*
 * Version 7 may name a platform ("linux-64-cuda" with "subdir: linux-64" in
 * the top-level platforms list): the packages of the one platform whose
 * subdir is c->platform, or NULL.
 */
static yaml_node_t *named_platform(struct pixi *x, yaml_node_t *root, yaml_node_t *plats)
{
	yaml_node_t *decl = ymap_get(x->d, root, "platforms"), *found = NULL;

	if (!decl || decl->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (yaml_node_item_t *i = decl->data.sequence.items.start;
	     i < decl->data.sequence.items.top; i++) {
		yaml_node_t *p = yaml_document_get_node(x->d, *i);
		const char *name = yscalar(ymap_get(x->d, p, "name"));
		const char *subdir = yscalar(ymap_get(x->d, p, "subdir"));
		yaml_node_t *list = name ? ymap_get(x->d, plats, name) : NULL;

		if (!subdir || strcmp(subdir, x->c->platform) != 0 || !list)
			continue;
		if (found)
			return NULL; /* two: the user must name one */
		found = list;
	}
	return found;
}

static errint_t pixi_version(struct lock_ctx *c, yaml_document_t *d, yaml_node_t *root)
{
	yaml_node_t *v = ymap_get(d, root, "version");
	const char *s = yscalar(v);
	char *end;
	long n;

	if (!v)
		return lock_err(c, yline(root), "pixi.lock without a 'version' key");
	n = s ? strtol(s, &end, 10) : 0;
	if (!s || !*s || *end || n < PIXI_MIN_VERSION || n > PIXI_MAX_VERSION)
		return lock_err(c, yline(v), "pixi.lock version %.32s is not supported "
				"(condafs reads %d to %d)", s ? s : "(not a scalar)",
				PIXI_MIN_VERSION, PIXI_MAX_VERSION);
	c->version = (int)n;
	return 0;
}

errint_t lock_parse_pixi(struct lock_ctx *c, yaml_document_t *d, yaml_node_t *root)
{
	struct pixi x = { .c = c, .d = d, .env = c->environment ? c->environment : "default" };
	yaml_node_t *envs, *env, *plats, *list;
	cleanup_free char *have = NULL;
	int r;

	r = pixi_version(c, d, root);
	if (r < 0)
		return r;
	envs = ymap_get(d, root, "environments");
	if (envs->type != YAML_MAPPING_NODE)
		return lock_err(c, yline(envs), "'environments' is not a mapping");
	x.packages = ymap_get(d, root, "packages");
	env = ymap_get(d, envs, x.env);
	if (!env) {
		have = key_list(d, envs);
		return lock_err(c, yline(envs), "no environment '%.64s' in the lock (it has: %s)",
				x.env, have);
	}
	plats = ymap_get(d, env, "packages");
	list = ymap_get(d, plats, c->platform);
	if (!list)
		list = named_platform(&x, root, plats);
	if (!list) {
		have = key_list(d, plats);
		return lock_err(c, yline(env), "environment '%.64s' has no packages for platform "
				"%s (it has: %s)", x.env, c->platform, have);
	}
	if (yis_null(list))
		return 0;
	if (list->type != YAML_SEQUENCE_NODE)
		return lock_err(c, yline(list), "environment '%.64s', platform %s: not a list",
				x.env, c->platform);
	for (yaml_node_item_t *i = list->data.sequence.items.start;
	     i < list->data.sequence.items.top; i++) {
		r = add_selected(&x, yaml_document_get_node(d, *i));
		if (r < 0)
			return r;
	}
	return 0;
}

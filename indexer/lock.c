/* SPDX-License-Identifier: MIT */
/*
 * Lock file readers: explicit "@EXPLICIT" lists (CEP 23) and conda-lock's
 * unified conda-lock.yml, version 1 (CEP 37), read with libyaml's document
 * API.  Both end in the same list of packages; conda-lock.yml entries are
 * then deduplicated across categories and put in dependency order.
 */
#include "lock.h"
#include "buf.h"

#include <stdarg.h>
#include <string.h>
#include <sys/utsname.h>
#include <yaml.h>

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

static const char *const pkg_exts[] = { ".conda", ".tar.bz2" };

static void pkg_release(struct cfs_lock_pkg *p)
{
	free(p->name);
	free(p->version);
	free(p->build);
	free(p->url);
	free(p->fn);
	free(p->channel);
	free(p->subdir);
	free(p->category);
	for (size_t i = 0; i < p->n_depends; i++)
		free(p->depends[i]);
	free(p->depends);
	memset(p, 0, sizeof(*p));
}

static struct cfs_lock_pkg *pkg_list_push(struct pkg_list *l)
{
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? 2 * l->alloc : 16;
		l->v = cfs_xrealloc(l->v, l->alloc * sizeof(*l->v));
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	return &l->v[l->n++];
}

static void pkg_list_release(struct pkg_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		pkg_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void lock_ctx_release(struct lock_ctx *c)
{
	pkg_list_release(&c->pkgs);
	pkg_list_release(&c->skipped);
}

void cfs_lock_free(struct cfs_lock *lock)
{
	struct pkg_list pkgs, skipped;

	if (!lock)
		return;
	pkgs = (struct pkg_list){ lock->pkgs, lock->n_pkgs, 0 };
	skipped = (struct pkg_list){ lock->skipped, lock->n_skipped, 0 };
	pkg_list_release(&pkgs);
	pkg_list_release(&skipped);
	free(lock->path);
	free(lock->platform);
	free(lock);
}

/* Sets "<path>:<line>: <msg>" and returns -EINVAL. */
__attribute__((format(printf, 3, 4)))
static int lerr(struct lock_ctx *c, int line, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cfs_err_set(c->err, EINVAL, "%s:%d: %s", c->path, line, msg);
}

/* The 1-based line of data[off]. */
static int line_at(const char *data, size_t off)
{
	int line = 1;

	for (size_t i = 0; i < off; i++)
		line += data[i] == '\n';
	return line;
}

/* ---- file names and URLs ---- */

static size_t pkg_ext_len(const char *fn, size_t len)
{
	for (size_t i = 0; i < CFS_ARRAY_SIZE(pkg_exts); i++) {
		size_t n = strlen(pkg_exts[i]);
		if (len > n && memcmp(fn + len - n, pkg_exts[i], n) == 0)
			return n;
	}
	return 0;
}

errint_t cfs_lock_split_fn(const char *fn, char **name, char **version,
			   char **build)
{
	size_t len = strlen(fn), base = len - pkg_ext_len(fn, len);
	const char *b, *v;

	if (base == len || memchr(fn, '/', len))
		return -EINVAL;
	b = memrchr(fn, '-', base);
	if (!b || b + 1 == fn + base)
		return -EINVAL;
	v = memrchr(fn, '-', (size_t)(b - fn));
	if (!v || v == fn || v + 1 == b)
		return -EINVAL;
	if (name)
		*name = cfs_xstrndup(fn, (size_t)(v - fn));
	if (version)
		*version = cfs_xstrndup(v + 1, (size_t)(b - v - 1));
	if (build)
		*build = cfs_xstrndup(b + 1, (size_t)(fn + base - b - 1));
	return 0;
}

/* Offset where the path of "scheme://host/path" starts; 0 without a scheme. */
static size_t url_root_len(const char *u, size_t len)
{
	const char *s = memmem(u, len, "://", 3), *slash;

	if (!s || memchr(u, '/', (size_t)(s - u)))
		return 0;
	slash = memchr(s + 3, '/', len - (size_t)(s + 3 - u));
	return slash ? (size_t)(slash - u) : len;
}

/*
 * Fills fn, channel and subdir from url: fn is the last path component
 * (without query or fragment), subdir the one before it and channel what
 * precedes the subdir.  Without a URL, or with only_fn, those are "".
 */
static void pkg_split_url(struct cfs_lock_pkg *p, bool only_fn)
{
	const char *u = p->url ? p->url : "", *sep, *sub;
	size_t len = strcspn(u, "?#"), root = url_root_len(u, len);
	size_t fn_at = root, ch_len = root, sub_at = 0, sub_len = 0;

	sep = memrchr(u + root, '/', len - root);
	sub = sep ? memrchr(u + root, '/', (size_t)(sep - u) - root) : NULL;
	if (sep)
		fn_at = (size_t)(sep + 1 - u);
	if (sub) {
		sub_at = (size_t)(sub + 1 - u);
		sub_len = (size_t)(sep - sub - 1);
		ch_len = (size_t)(sub - u);
	} else if (sep && !root) { /* "linux-64/x.conda" */
		sub_len = (size_t)(sep - u);
		ch_len = 0;
	} else if (sep) { /* "https://host/x.conda" */
		ch_len = (size_t)(sep - u);
	}
	if (p->url)
		p->fn = cfs_xstrndup(u + fn_at, len - fn_at);
	p->channel = cfs_xstrndup(u, only_fn ? 0 : ch_len);
	p->subdir = cfs_xstrndup(u + sub_at, only_fn ? 0 : sub_len);
}

/* Completes a conda package: URL parts, then name/version/build from fn. */
static errint_t pkg_finish_conda(struct lock_ctx *c, struct cfs_lock_pkg *p)
{
	cleanup_free char *name = NULL, *version = NULL;
	char who[160] = "";

	pkg_split_url(p, false);
	if (!p->url) /* the indexer reports it */
		return 0;
	if (p->name)
		snprintf(who, sizeof(who), "package '%.120s': ", p->name);
	if (!pkg_ext_len(p->fn, strlen(p->fn)))
		return lerr(c, p->line,
			    "%s'%.200s' does not name a .conda or .tar.bz2 file",
			    who, p->url);
	if (cfs_lock_split_fn(p->fn, &name, &version, &p->build) < 0)
		return lerr(c, p->line,
			    "%sfile name '%.200s' is not name-version-build.conda or .tar.bz2",
			    who, p->fn);
	if (!p->name)
		p->name = steal_pointer(&name);
	if (!p->version)
		p->version = steal_pointer(&version);
	return 0;
}

/* ---- explicit files ---- */

/*
 * Returns the next line of [*s, end) with surrounding blanks (and '\r')
 * trimmed as [*a, *b), and advances *s; false at the end.
 */
static bool next_line(const char **s, const char *end, const char **a,
		      const char **b)
{
	const char *nl;

	if (*s >= end)
		return false;
	nl = memchr(*s, '\n', (size_t)(end - *s));
	*a = *s;
	*b = nl ? nl : end;
	*s = nl ? nl + 1 : end;
	while (*a < *b && (**a == ' ' || **a == '\t'))
		(*a)++;
	while (*b > *a && ((*b)[-1] == ' ' || (*b)[-1] == '\t' || (*b)[-1] == '\r'))
		(*b)--;
	return true;
}

/* A line that can only be a package: no blanks, ends in .conda/.tar.bz2. */
static bool looks_like_pkg(const char *a, size_t n)
{
	const char *hash = memchr(a, '#', n), *query;

	if (hash)
		n = (size_t)(hash - a);
	query = memchr(a, '?', n);
	return !memchr(a, ' ', n) && !memchr(a, '\t', n) &&
	       pkg_ext_len(a, query ? (size_t)(query - a) : n);
}

enum lock_format { FMT_EMPTY, FMT_EXPLICIT, FMT_YAML };

static enum lock_format detect_format(const char *data, size_t len)
{
	const char *s = data, *end = s + len, *a, *b;
	int first = -1; /* whether the first significant line is a package */

	while (next_line(&s, end, &a, &b)) {
		if (a == b || *a == '#')
			continue;
		if (b - a == 9 && memcmp(a, "@EXPLICIT", 9) == 0)
			return FMT_EXPLICIT;
		if (first < 0)
			first = looks_like_pkg(a, (size_t)(b - a));
	}
	if (first < 0)
		return FMT_EMPTY;
	return first ? FMT_EXPLICIT : FMT_YAML;
}

/* "url[#fragment]": 32 hex is md5; "sha256:" + 64 hex or 64 hex is sha256. */
static errint_t explicit_package(struct lock_ctx *c, int line, const char *text)
{
	struct cfs_lock_pkg *p = pkg_list_push(&c->pkgs);
	const char *frag = strchr(text, '#'), *sha;

	p->line = line;
	p->manager = CFS_MGR_CONDA;
	p->url = cfs_xstrndup(text, frag ? (size_t)(frag - text) : strlen(text));
	if (frag) {
		frag++;
		sha = strncmp(frag, "sha256:", 7) == 0 ? frag + 7 : frag;
		p->has_md5 = cfs_unhex(frag, p->md5, CFS_MD5_LEN) == 0;
		p->has_sha256 = cfs_unhex(sha, p->sha256, CFS_SHA256_LEN) == 0;
		if (!p->has_md5 && !p->has_sha256)
			return lerr(c, line,
				    "bad hash fragment '#%.80s' (expected <32 hex> for md5, sha256:<64 hex> or <64 hex>)",
				    frag);
	}
	return pkg_finish_conda(c, p);
}

/* "# pip name @ url#sha256=<hex>", as conda-lock writes pip packages. */
static void explicit_pip(struct lock_ctx *c, int line, const char *rest)
{
	const char *at = strstr(rest, " @ "), *url, *hash;
	struct cfs_lock_pkg *p;

	if (!at || at == rest)
		return; /* an ordinary comment */
	p = pkg_list_push(&c->skipped);
	p->line = line;
	p->manager = CFS_MGR_PIP;
	p->name = cfs_xstrndup(rest, (size_t)(at - rest));
	url = at + 3 + strspn(at + 3, " \t");
	hash = strchr(url, '#');
	p->url = cfs_xstrndup(url, hash ? (size_t)(hash - url) : strlen(url));
	if (hash && strncmp(hash, "#sha256=", 8) == 0 &&
	    cfs_unhex(hash + 8, p->sha256, CFS_SHA256_LEN) == 0)
		p->has_sha256 = true;
	pkg_split_url(p, true);
}

static errint_t explicit_comment(struct lock_ctx *c, int line, const char *text)
{
	text += strspn(text, "# \t");
	if (strncmp(text, "platform:", 9) == 0) {
		text += 9 + strspn(text + 9, " \t");
		if (strcmp(text, c->platform) != 0)
			return lerr(c, line, "lock is for platform %.64s, not %s",
				    text, c->platform);
	} else if (strncmp(text, "pip ", 4) == 0) {
		explicit_pip(c, line, text + 4 + strspn(text + 4, " \t"));
	}
	return 0;
}

static errint_t parse_explicit(struct lock_ctx *c, const char *data, size_t len)
{
	const char *s = data, *end = s + len, *a, *b;
	bool marker = false;
	int line = 0, r = 0;

	while (r == 0 && next_line(&s, end, &a, &b)) {
		cleanup_free char *text = cfs_xstrndup(a, (size_t)(b - a));

		line++;
		if (!*text)
			continue;
		if (*text == '#')
			r = explicit_comment(c, line, text);
		else if (strcmp(text, "@EXPLICIT") == 0)
			marker = true;
		else if (!marker)
			r = lerr(c, line,
				 "'%.200s' before @EXPLICIT (only comments may come first)",
				 text);
		else if (!looks_like_pkg(text, strlen(text)))
			r = lerr(c, line,
				 "'%.200s' is not a package URL or path ending in .conda or .tar.bz2",
				 text);
		else
			r = explicit_package(c, line, text);
	}
	return r;
}

/* ---- conda-lock.yml ---- */

#define LOCK_MAX_DEPTH 64 /* conda-lock.yml needs 4 */

static void ydoc_cleanup(yaml_document_t *doc)
{
	yaml_document_delete(doc);
}
#define cleanup_ydoc __attribute__((cleanup(ydoc_cleanup)))

static int yline(const yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

static const char *yscalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A plain "", "~" or "null" (YAML's core schema). */
static bool yis_null(const yaml_node_t *n)
{
	const char *v = yscalar(n);

	return v && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*v || !strcmp(v, "~") || !strcmp(v, "null") ||
		!strcmp(v, "Null") || !strcmp(v, "NULL"));
}

static yaml_node_t *ymap_get(yaml_document_t *d, yaml_node_t *map,
			     const char *key)
{
	yaml_node_pair_t *pair;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		const char *k = yscalar(yaml_document_get_node(d, pair->key));
		if (k && strcmp(k, key) == 0)
			return yaml_document_get_node(d, pair->value);
	}
	return NULL;
}

/* *out = a copy of the string at map[key], NULL if absent or null. */
static errint_t yfield(struct lock_ctx *c, yaml_document_t *d, yaml_node_t *map,
		       const char *key, char **out)
{
	yaml_node_t *n = ymap_get(d, map, key);

	*out = NULL;
	if (!n || yis_null(n))
		return 0;
	if (n->type != YAML_SCALAR_NODE)
		return lerr(c, yline(n), "'%s' is not a string", key);
	*out = cfs_xstrdup(yscalar(n));
	return 0;
}

static int yaml_error(struct lock_ctx *c, const yaml_parser_t *p,
		      const char *data, size_t len)
{
	int line = (int)p->problem_mark.line + 1;

	if (p->error == YAML_MEMORY_ERROR)
		return cfs_err_set(c->err, ENOMEM, "%s: out of memory", c->path);
	if (p->error == YAML_READER_ERROR)
		line = line_at(data, p->problem_offset < len ? p->problem_offset : len);
	return lerr(c, line, "invalid YAML: %s%s%s", p->problem ? p->problem : "error",
		    p->context ? ", " : "", p->context ? p->context : "");
}

/*
 * Walks the events before building the document: libyaml's scanner slows
 * down quadratically with nesting, and aliases would let a small file
 * expand into any number of package entries.  conda-lock writes neither.
 */
static errint_t yaml_precheck(struct lock_ctx *c, yaml_parser_t *parser,
			      const char *data, size_t len)
{
	yaml_event_type_t type;
	yaml_event_t ev;
	int depth = 0, r = 0;

	do {
		if (!yaml_parser_parse(parser, &ev))
			return yaml_error(c, parser, data, len);
		type = ev.type;
		if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT)
			depth++;
		else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT)
			depth--;
		if (depth > LOCK_MAX_DEPTH)
			r = lerr(c, (int)ev.start_mark.line + 1,
				 "YAML nested deeper than %d levels", LOCK_MAX_DEPTH);
		else if (type == YAML_ALIAS_EVENT)
			r = lerr(c, (int)ev.start_mark.line + 1,
				 "YAML aliases are not supported in lock files");
		yaml_event_delete(&ev);
	} while (r == 0 && type != YAML_STREAM_END_EVENT);
	return r;
}

/* Loads the first document of data into doc, after yaml_precheck. */
static errint_t yaml_load(struct lock_ctx *c, const char *data, size_t len,
			  yaml_document_t *doc)
{
	yaml_parser_t parser;
	int r;

	for (int pass = 0; pass < 2; pass++) {
		if (!yaml_parser_initialize(&parser))
			return cfs_err_set(c->err, ENOMEM, "%s: out of memory", c->path);
		yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
		if (pass == 0)
			r = yaml_precheck(c, &parser, data, len);
		else
			r = yaml_parser_load(&parser, doc) ? 0 : yaml_error(c, &parser, data, len);
		yaml_parser_delete(&parser);
		if (r < 0)
			return r;
	}
	return 0;
}

static errint_t yaml_hash(struct lock_ctx *c, yaml_document_t *d,
			  yaml_node_t *entry, struct cfs_lock_pkg *p)
{
	yaml_node_t *h = ymap_get(d, entry, "hash");
	const char *md5, *sha256;

	if (!h || yis_null(h))
		return 0;
	if (h->type != YAML_MAPPING_NODE)
		return lerr(c, yline(h), "'hash' is not a mapping");
	/* A malformed hash is left for the indexer to report. */
	md5 = yscalar(ymap_get(d, h, "md5"));
	sha256 = yscalar(ymap_get(d, h, "sha256"));
	p->has_md5 = md5 && cfs_unhex(md5, p->md5, CFS_MD5_LEN) == 0;
	p->has_sha256 = sha256 && cfs_unhex(sha256, p->sha256, CFS_SHA256_LEN) == 0;
	return 0;
}

static errint_t yaml_depends(struct lock_ctx *c, yaml_document_t *d,
			     yaml_node_t *entry, struct cfs_lock_pkg *p)
{
	yaml_node_t *deps = ymap_get(d, entry, "dependencies");
	yaml_node_pair_t *pair;

	if (!deps || yis_null(deps))
		return 0;
	if (deps->type != YAML_MAPPING_NODE)
		return lerr(c, yline(deps), "'dependencies' is not a mapping");
	p->depends = cfs_xcalloc((size_t)(deps->data.mapping.pairs.top -
					  deps->data.mapping.pairs.start),
				 sizeof(char *));
	for (pair = deps->data.mapping.pairs.start;
	     pair < deps->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(d, pair->key);
		if (!yscalar(k))
			return lerr(c, k ? yline(k) : p->line,
				    "dependency name is not a string");
		p->depends[p->n_depends++] = cfs_xstrdup(yscalar(k));
	}
	return 0;
}

static errint_t yaml_entry(struct lock_ctx *c, yaml_document_t *d,
			   yaml_node_t *e)
{
	cleanup_free char *platform = NULL, *manager = NULL;
	struct cfs_lock_pkg *p;
	bool pip;
	int r;

	if (e->type != YAML_MAPPING_NODE)
		return lerr(c, yline(e), "package entry is not a mapping");
	r = yfield(c, d, e, "platform", &platform);
	if (r < 0 || !platform || strcmp(platform, c->platform) != 0)
		return r;
	r = yfield(c, d, e, "manager", &manager);
	if (r < 0)
		return r;
	pip = manager && strcmp(manager, "pip") == 0;
	if (manager && !pip && strcmp(manager, "conda") != 0)
		return lerr(c, yline(e), "manager '%.64s' is neither conda nor pip",
			    manager);

	p = pkg_list_push(pip ? &c->skipped : &c->pkgs);
	p->line = yline(e);
	p->manager = pip ? CFS_MGR_PIP : CFS_MGR_CONDA;
	if ((r = yfield(c, d, e, "name", &p->name)) < 0 ||
	    (r = yfield(c, d, e, "version", &p->version)) < 0 ||
	    (r = yfield(c, d, e, "url", &p->url)) < 0 ||
	    (r = yfield(c, d, e, "category", &p->category)) < 0 ||
	    (r = yaml_hash(c, d, e, p)) < 0 ||
	    (r = yaml_depends(c, d, e, p)) < 0)
		return r;
	if (pip) {
		pkg_split_url(p, true);
		return 0;
	}
	return pkg_finish_conda(c, p);
}

static errint_t yaml_check_header(struct lock_ctx *c, yaml_document_t *d,
				  yaml_node_t *root)
{
	yaml_node_t *v = ymap_get(d, root, "version");
	yaml_node_t *plats = ymap_get(d, ymap_get(d, root, "metadata"), "platforms");
	const char *s;

	if (!v)
		return lerr(c, yline(root),
			    "no 'version' key: not a conda-lock.yml nor an @EXPLICIT lock");
	s = yscalar(v);
	if (!s || strcmp(s, "1") != 0)
		return lerr(c, yline(v),
			    "unsupported conda-lock version %.32s (condafs reads version 1)",
			    s ? s : "(not a scalar)");
	/* A lock for other platforms would otherwise give an empty env. */
	if (!plats || plats->type != YAML_SEQUENCE_NODE)
		return 0;
	for (yaml_node_item_t *i = plats->data.sequence.items.start;
	     i < plats->data.sequence.items.top; i++) {
		s = yscalar(yaml_document_get_node(d, *i));
		if (s && strcmp(s, c->platform) == 0)
			return 0;
	}
	return lerr(c, yline(plats), "lock has no packages for platform %s",
		    c->platform);
}

static errint_t parse_yaml(struct lock_ctx *c, const char *data, size_t len)
{
	cleanup_ydoc yaml_document_t doc = { 0 };
	yaml_node_t *root, *list;
	int r;

	r = yaml_load(c, data, len, &doc);
	if (r < 0)
		return r;
	root = yaml_document_get_root_node(&doc);
	if (!root || yis_null(root))
		return lerr(c, 1, "empty lock file");
	if (root->type != YAML_MAPPING_NODE)
		return lerr(c, yline(root),
			    "not a conda-lock.yml (no top-level mapping) nor an @EXPLICIT lock");
	r = yaml_check_header(c, &doc, root);
	if (r < 0)
		return r;
	list = ymap_get(&doc, root, "package");
	if (!list)
		return lerr(c, yline(root), "no 'package' list");
	if (yis_null(list))
		return 0;
	if (list->type != YAML_SEQUENCE_NODE)
		return lerr(c, yline(list), "'package' is not a list");
	for (yaml_node_item_t *i = list->data.sequence.items.start;
	     i < list->data.sequence.items.top; i++) {
		r = yaml_entry(c, &doc, yaml_document_get_node(&doc, *i));
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- categories and install order ---- */

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
static errint_t dedup(struct lock_ctx *c, struct pkg_list *l, bool strict)
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
			return lerr(c, p->line,
				    "package '%s': url %.200s differs from %.200s at line %d",
				    p->name, p->url ? p->url : "(none)",
				    q->url ? q->url : "(none)", q->line);
	}
	for (size_t i = 0; i < l->n; i++) {
		if (drop[i])
			pkg_release(&l->v[i]);
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
static void sort_by_deps(struct pkg_list *l)
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

/* ---- entry points ---- */

static errint_t parse_any(struct lock_ctx *c, const char *data, size_t len,
			  enum cfs_lock_kind *kind)
{
	const char *nul = memchr(data, '\0', len);
	int r;

	if (nul)
		return lerr(c, line_at(data, (size_t)(nul - data)), "NUL byte in lock file");
	switch (detect_format(data, len)) {
	case FMT_EMPTY:
		return lerr(c, 1, "empty lock file (expected conda-lock.yml or @EXPLICIT)");
	case FMT_EXPLICIT:
		*kind = CFS_LOCK_EXPLICIT;
		return parse_explicit(c, data, len);
	case FMT_YAML:
		break;
	}
	*kind = CFS_LOCK_CONDA_LOCK_V1;
	r = parse_yaml(c, data, len);
	if (r == 0)
		r = dedup(c, &c->pkgs, true);
	if (r == 0)
		r = dedup(c, &c->skipped, false);
	if (r == 0)
		sort_by_deps(&c->pkgs);
	return r;
}

errint_t cfs_lock_parse(const char *path, const char *data, size_t len,
			const char *platform, struct cfs_lock **out,
			struct cfs_err *err)
{
	__attribute__((cleanup(lock_ctx_release))) struct lock_ctx c = {
		.path = path ? path : "(lock)",
		.platform = platform,
		.err = err,
	};
	enum cfs_lock_kind kind = CFS_LOCK_EXPLICIT;
	struct cfs_lock *lock;
	int r;

	*out = NULL;
	if (!platform || !*platform)
		return cfs_err_set(err, EINVAL, "%s: no platform given", c.path);
	if (len > CFS_MAX_LOCK_BYTES)
		return cfs_err_set(err, EFBIG, "%s: lock file is larger than %u MiB",
				   c.path, CFS_MAX_LOCK_BYTES >> 20);
	r = parse_any(&c, data, len, &kind);
	if (r < 0)
		return r;

	lock = cfs_xcalloc(1, sizeof(*lock));
	lock->kind = kind;
	lock->path = cfs_xstrdup(c.path);
	lock->platform = cfs_xstrdup(platform);
	cfs_sha256(data, len, lock->sha256);
	lock->n_pkgs = c.pkgs.n;
	lock->pkgs = steal_pointer(&c.pkgs.v);
	lock->n_skipped = c.skipped.n;
	lock->skipped = steal_pointer(&c.skipped.v);
	c.pkgs.n = c.skipped.n = 0;
	*out = lock;
	return 0;
}

errint_t cfs_lock_load(const char *path, const char *platform,
		       struct cfs_lock **out, struct cfs_err *err)
{
	cleanup_buf struct cfs_buf buf = { .limit = CFS_MAX_LOCK_BYTES };
	int r;

	*out = NULL;
	r = cfs_buf_read_file(&buf, path);
	if (r == -EFBIG)
		return cfs_err_set(err, EFBIG, "%s: lock file is larger than %u MiB",
				   path, CFS_MAX_LOCK_BYTES >> 20);
	if (r < 0)
		return cfs_err_set(err, -r, "%s: cannot read: %s", path, strerror(-r));
	return cfs_lock_parse(path, buf.data, buf.len, platform, out, err);
}

const char *cfs_lock_host_platform(void)
{
#ifdef __linux__
	static const struct {
		const char *machine, *platform;
	} map[] = {
		{ "x86_64", "linux-64" },	   { "aarch64", "linux-aarch64" },
		{ "ppc64le", "linux-ppc64le" }, { "s390x", "linux-s390x" },
		{ "i686", "linux-32" },	   { "i586", "linux-32" },
		{ "i386", "linux-32" },	   { "armv7l", "linux-armv7l" },
		{ "riscv64", "linux-riscv64" },
	};
	struct utsname u;

	if (uname(&u) == 0)
		for (size_t i = 0; i < CFS_ARRAY_SIZE(map); i++)
			if (strcmp(u.machine, map[i].machine) == 0)
				return map[i].platform;
#endif
	return NULL;
}

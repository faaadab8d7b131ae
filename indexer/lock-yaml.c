/* SPDX-License-Identifier: MIT */
/*
 * conda-lock's unified conda-lock.yml, version 1 (CEP 37), read with
 * libyaml's document API.
 */
#include "lock-internal.h"

#include <string.h>

#define LOCK_MAX_DEPTH 64 /* conda-lock.yml needs 4 */

static void ydoc_cleanup(yaml_document_t *doc)
{
	yaml_document_delete(doc);
}
#define cleanup_ydoc __attribute__((cleanup(ydoc_cleanup)))

int yline(const yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

const char *yscalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

bool yis_null(const yaml_node_t *n)
{
	const char *v = yscalar(n);

	return v && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*v || !strcmp(v, "~") || !strcmp(v, "null") ||
		!strcmp(v, "Null") || !strcmp(v, "NULL"));
}

yaml_node_t *ymap_get(yaml_document_t *d, yaml_node_t *map,
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

errint_t yfield(struct lock_ctx *c, yaml_document_t *d, yaml_node_t *map,
		       const char *key, char **out)
{
	yaml_node_t *n = ymap_get(d, map, key);

	*out = NULL;
	if (!n || yis_null(n))
		return 0;
	if (n->type != YAML_SCALAR_NODE)
		return lock_err(c, yline(n), "'%s' is not a string", key);
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
		line = lock_line_at(data, p->problem_offset < len ? p->problem_offset : len);
	return lock_err(c, line, "invalid YAML: %s%s%s", p->problem ? p->problem : "error",
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
			r = lock_err(c, (int)ev.start_mark.line + 1,
				 "YAML nested deeper than %d levels", LOCK_MAX_DEPTH);
		else if (type == YAML_ALIAS_EVENT)
			r = lock_err(c, (int)ev.start_mark.line + 1,
				 "YAML aliases are not supported in lock files");
		yaml_event_delete(&ev);
	} while (r == 0 && type != YAML_STREAM_END_EVENT);
	return r;
}

/* Loads the first document of data into doc, after yaml_precheck. */
errint_t lock_yaml_load(struct lock_ctx *c, const char *data, size_t len,
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
		return lock_err(c, yline(h), "'hash' is not a mapping");
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
		return lock_err(c, yline(deps), "'dependencies' is not a mapping");
	p->depends = cfs_xcalloc((size_t)(deps->data.mapping.pairs.top -
					  deps->data.mapping.pairs.start),
				 sizeof(char *));
	for (pair = deps->data.mapping.pairs.start;
	     pair < deps->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(d, pair->key);
		if (!yscalar(k))
			return lock_err(c, k ? yline(k) : p->line,
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
		return lock_err(c, yline(e), "package entry is not a mapping");
	r = yfield(c, d, e, "platform", &platform);
	if (r < 0 || !platform || strcmp(platform, c->platform) != 0)
		return r;
	r = yfield(c, d, e, "manager", &manager);
	if (r < 0)
		return r;
	pip = manager && strcmp(manager, "pip") == 0;
	if (manager && !pip && strcmp(manager, "conda") != 0)
		return lock_err(c, yline(e), "manager '%.64s' is neither conda nor pip",
			    manager);

	p = lock_pkg_list_push(pip ? &c->wheels : &c->pkgs);
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
		lock_finish_pip(c, false);
		return 0;
	}
	return lock_pkg_finish_conda(c, p);
}

static errint_t yaml_check_header(struct lock_ctx *c, yaml_document_t *d,
				  yaml_node_t *root)
{
	yaml_node_t *v = ymap_get(d, root, "version");
	yaml_node_t *plats = ymap_get(d, ymap_get(d, root, "metadata"), "platforms");
	const char *s;

	if (!v)
		return lock_err(c, yline(root),
			    "no 'version' key: not a conda-lock.yml nor an @EXPLICIT lock");
	s = yscalar(v);
	if (!s || strcmp(s, "1") != 0)
		return lock_err(c, yline(v),
			    "conda-lock.yml version %.32s is not supported (condafs reads version 1)",
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
	return lock_err(c, yline(plats), "lock has no packages for platform %s",
		    c->platform);
}

errint_t lock_parse_yaml(struct lock_ctx *c, const char *data, size_t len)
{
	cleanup_ydoc yaml_document_t doc = { 0 };
	yaml_node_t *root, *list;
	int r;

	r = lock_yaml_load(c, data, len, &doc);
	if (r < 0)
		return r;
	root = yaml_document_get_root_node(&doc);
	if (!root || yis_null(root))
		return lock_err(c, 1, "empty lock file");
	if (root->type != YAML_MAPPING_NODE)
		return lock_err(c, yline(root),
			    "not a conda-lock.yml (no top-level mapping) nor an @EXPLICIT lock");
	if (lock_is_pixi(&doc, root))
		return lock_parse_pixi(c, &doc, root);
	if (c->environment && strcmp(c->environment, "default") != 0)
		return lock_err(c, yline(root), "a conda-lock.yml has one environment; "
			    "--environment %.64s is for pixi.lock files", c->environment);
	c->version = 1;
	r = yaml_check_header(c, &doc, root);
	if (r < 0)
		return r;
	list = ymap_get(&doc, root, "package");
	if (!list)
		return lock_err(c, yline(root), "no 'package' list");
	if (yis_null(list))
		return 0;
	if (list->type != YAML_SEQUENCE_NODE)
		return lock_err(c, yline(list), "'package' is not a list");
	for (yaml_node_item_t *i = list->data.sequence.items.start;
	     i < list->data.sequence.items.top; i++) {
		r = yaml_entry(c, &doc, yaml_document_get_node(&doc, *i));
		if (r < 0)
			return r;
	}
	return 0;
}

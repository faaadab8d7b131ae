/* SPDX-License-Identifier: MIT */
#include "workset.h"

#include <jansson.h>
#include <string.h>

#include "fsutil.h"

struct cfs_workset *cfs_workset_new(const char *prefix)
{
	struct cfs_workset *ws = cfs_xcalloc(1, sizeof(*ws));
	ws->prefix = cfs_xstrdup(prefix ? prefix : "");
	return ws;
}

void cfs_workset_free(struct cfs_workset *ws)
{
	if (!ws)
		return;
	for (size_t i = 0; i < ws->n_entries; i++)
		free(ws->entries[i].path);
	free(ws->entries);
	for (size_t i = 0; i < ws->n_pkgs; i++) {
		free(ws->pkgs[i]->name);
		free(ws->pkgs[i]->version);
		free(ws->pkgs[i]->build);
		free(ws->pkgs[i]->sha256);
		free(ws->pkgs[i]);
	}
	free(ws->pkgs);
	for (size_t i = 0; i < ws->n_keep; i++)
		free(ws->keep[i]);
	free(ws->keep);
	free(ws->prefix);
	free(ws);
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static struct cfs_ws_package *intern_pkg(struct cfs_workset *ws, const char *name,
					 const char *version, const char *build,
					 const char *sha256)
{
	struct cfs_ws_package *p;

	if (!name)
		return NULL;
	for (size_t i = 0; i < ws->n_pkgs; i++) {
		p = ws->pkgs[i];
		if (same(p->name, name) && same(p->version, version) && same(p->build, build) &&
		    same(p->sha256, sha256))
			return p;
	}
	p = cfs_xcalloc(1, sizeof(*p));
	p->name = cfs_xstrdup(name);
	p->version = version ? cfs_xstrdup(version) : NULL;
	p->build = build ? cfs_xstrdup(build) : NULL;
	p->sha256 = sha256 ? cfs_xstrdup(sha256) : NULL;
	ws->pkgs = cfs_xrealloc(ws->pkgs, (ws->n_pkgs + 1) * sizeof(*ws->pkgs));
	ws->pkgs[ws->n_pkgs++] = p;
	return p;
}

void cfs_workset_add(struct cfs_workset *ws, const char *path, char type, const char *name,
		     const char *version, const char *build, const char *sha256)
{
	struct cfs_ws_entry *e;

	cfs_grow(&ws->entries, ws->n_entries, &ws->alloc_entries, sizeof(*e), 256);
	e = &ws->entries[ws->n_entries++];
	e->path = cfs_xstrdup(path);
	e->type = type;
	e->pkg = intern_pkg(ws, name, version, build, sha256);
}

void cfs_workset_add_keep(struct cfs_workset *ws, const char *glob)
{
	for (size_t i = 0; i < ws->n_keep; i++)
		if (strcmp(ws->keep[i], glob) == 0)
			return;
	ws->keep = cfs_xrealloc(ws->keep, (ws->n_keep + 1) * sizeof(char *));
	ws->keep[ws->n_keep++] = cfs_xstrdup(glob);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct cfs_ws_entry *)a)->path, ((const struct cfs_ws_entry *)b)->path);
}

void cfs_workset_sort(struct cfs_workset *ws)
{
	size_t out = 0;

	qsort(ws->entries, ws->n_entries, sizeof(*ws->entries), cmp_entry);
	for (size_t i = 0; i < ws->n_entries; i++) {
		if (out && strcmp(ws->entries[out - 1].path, ws->entries[i].path) == 0) {
			free(ws->entries[i].path);
			continue;
		}
		ws->entries[out++] = ws->entries[i];
	}
	ws->n_entries = out;
}

const struct cfs_ws_entry *cfs_workset_find(const struct cfs_workset *ws, const char *path)
{
	struct cfs_ws_entry key = { .path = (char *)path };
	return bsearch(&key, ws->entries, ws->n_entries, sizeof(key), cmp_entry);
}

void cfs_workset_merge(struct cfs_workset *dst, const struct cfs_workset *src)
{
	for (size_t i = 0; i < src->n_entries; i++) {
		const struct cfs_ws_entry *e = &src->entries[i];
		cfs_workset_add(dst, e->path, e->type, e->pkg ? e->pkg->name : NULL,
				e->pkg ? e->pkg->version : NULL, e->pkg ? e->pkg->build : NULL,
				e->pkg ? e->pkg->sha256 : NULL);
	}
	for (size_t i = 0; i < src->n_keep; i++)
		cfs_workset_add_keep(dst, src->keep[i]);
	cfs_workset_sort(dst);
}

static const char *str_or_null(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

errint_t cfs_workset_load(const char *path, struct cfs_workset **out, struct cfs_err *err)
{
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je), *v, *entries;
	struct cfs_workset *ws;
	size_t i;

	if (!root) {
		if (je.line < 1)
			return cfs_err_set(err, ENOENT, "%s: %s", path, je.text);
		return cfs_err_set(err, EINVAL, "%s:%d: invalid JSON: %s", path, je.line, je.text);
	}
	v = json_object_get(root, "condafs_workset");
	if (!json_is_integer(v)) {
		json_decref(root);
		return cfs_err_set(err, EINVAL, "%s: not a condafs working set", path);
	}
	if (json_integer_value(v) != CFS_WORKSET_VERSION) {
		json_decref(root);
		return cfs_err_set(err, EINVAL, "%s: working set version %lld is not supported "
				   "(condafs reads version %d)", path,
				   (long long)json_integer_value(v), CFS_WORKSET_VERSION);
	}
	ws = cfs_workset_new(str_or_null(root, "prefix"));
	json_array_foreach(json_object_get(root, "keep"), i, v) {
		if (json_is_string(v))
			cfs_workset_add_keep(ws, json_string_value(v));
	}
	entries = json_object_get(root, "entries");
	json_array_foreach(entries, i, v) {
		const char *p = str_or_null(v, "path"), *t = str_or_null(v, "type");
		json_t *pkg = json_object_get(v, "package");
		char type = t && strcmp(t, "dir") == 0 ? 'd' : t && strcmp(t, "symlink") == 0 ? 'l'
			  : t && strcmp(t, "file") == 0 ? 'f' : 0;

		if (!p || !*p || p[0] == '/' || !type) {
			cfs_workset_free(ws);
			json_decref(root);
			return cfs_err_set(err, EINVAL, "%s: entry %zu: want a relative \"path\" and a "
					   "\"type\" of file, dir or symlink", path, i);
		}
		cfs_workset_add(ws, p, type, str_or_null(pkg, "name"), str_or_null(pkg, "version"),
				str_or_null(pkg, "build"), str_or_null(pkg, "sha256"));
	}
	json_decref(root);
	cfs_workset_sort(ws);
	*out = ws;
	return 0;
}

errint_t cfs_workset_write_json(json_t *root, const char *path, struct cfs_err *err)
{
	cleanup_free char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	int r;

	json_decref(root);
	r = cfs_write_file_atomic(path, text, strlen(text), 0644);
	if (r < 0)
		return cfs_err_set(err, -r, "%s: %s", path, strerror(-r));
	return 0;
}

errint_t cfs_workset_save(const struct cfs_workset *ws, const char *path, struct cfs_err *err)
{
	json_t *root = json_object(), *entries = json_array(), *keep = json_array();

	for (size_t i = 0; i < ws->n_keep; i++)
		json_array_append_new(keep, json_string(ws->keep[i]));
	for (size_t i = 0; i < ws->n_entries; i++) {
		const struct cfs_ws_entry *e = &ws->entries[i];
		json_t *o = json_object();
		json_object_set_new(o, "path", json_string(e->path));
		json_object_set_new(o, "type", json_string(e->type == 'd' ? "dir" :
							    e->type == 'l' ? "symlink" : "file"));
		if (e->pkg)
			json_object_set_new(o, "package", json_pack("{s:s,s:s?,s:s?,s:s?}", "name",
						e->pkg->name, "version", e->pkg->version,
						"build", e->pkg->build, "sha256", e->pkg->sha256));
		else
			json_object_set_new(o, "package", json_null());
		json_array_append_new(entries, o);
	}
	json_object_set_new(root, "condafs_workset", json_integer(CFS_WORKSET_VERSION));
	json_object_set_new(root, "prefix", json_string(ws->prefix));
	json_object_set_new(root, "keep", keep);
	json_object_set_new(root, "entries", entries);
	return cfs_workset_write_json(root, path, err);
}

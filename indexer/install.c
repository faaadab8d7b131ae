/* SPDX-License-Identifier: MIT */
/*
 * The last steps of installing one package: hardlinks, late relocation,
 * noarch python layout, entry points, link scripts and conda-meta.
 */
#include <fnmatch.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "package-internal.h"
#include "relocate.h"

/* Final location of a package path (noarch: python moves two trees). */
static char *final_path(struct pkg_ctx *c, const char *path)
{
	bool py = c->out->noarch && strcmp(c->out->noarch, "python") == 0;

	if (py && strncmp(path, "site-packages/", 14) == 0)
		return cfs_xasprintf("lib/python%s/site-packages/%s", c->opts->python_xy, path + 14);
	if (py && strncmp(path, "python-scripts/", 15) == 0)
		return cfs_xasprintf("bin/%s", path + 15);
	return cfs_xstrdup(path);
}

/* Reads a shipped object back from the store, verifies it and relocates it. */
static errint_t late_relocate(struct pkg_ctx *c, struct pkg_path *pp, const struct seen *src)
{
	cleanup_free char *data = NULL;
	size_t len = 0;
	int r;

	r = cfs_store_read_all(c->opts->store, src->digest, CFS_MAX_RELOC_BYTES, &data, &len, c->err);
	if (r < 0) {
		cfs_err_prefix(c->err, "%s: %s", c->label, pp->path);
		return r;
	}
	return pkg_relocate_and_store(c, pp, data, len);
}

/*
 * Gives pp its final content when the archive stored it as a hardlink: to
 * another path of the package (in either .conda component), or to a member
 * info/ does not list, which conda's extraction leaves on disk all the same.
 */
static errint_t resolve_hardlink(struct pkg_ctx *c, struct pkg_path *pp)
{
	struct pkg_path *src = pkg_find_path(c, pp->seen.link);
	const struct seen *s = src ? &src->seen : pkg_find_unlisted(c, pp->seen.link);
	int r;

	if (!s || s->kind != SEEN_FILE)
		return cfs_err_set(c->err, EBADMSG, "%s: %s: hardlink to '%s', which is not a "
				   "regular file of this package", c->label, pp->path, pp->seen.link);
	r = pkg_check_shipped(c, pp, s->digest, s->size);
	if (r < 0)
		return r;
	memcpy(pp->seen.digest, s->digest, CFS_SHA256_LEN);
	pp->seen.size = s->size;
	pp->seen.csize = s->csize;
	pp->seen.stored = s->stored;
	if (!pp->placeholder && s->stored)
		return 0;
	if (pp->placeholder && src && src->relocated && src->placeholder &&
	    strcmp(pp->placeholder, src->placeholder) == 0 && pp->binary == src->binary) {
		memcpy(pp->final_digest, src->final_digest, CFS_SHA256_LEN);
		pp->final_size = src->final_size;
		pp->final_csize = src->final_csize;
		pp->relocated = true;
		return 0;
	}
	if (pp->placeholder && s->stored)
		return late_relocate(c, pp, s);
	return cfs_err_set(c->err, EBADMSG, "%s: %s: hardlink to '%s' with a different prefix "
			   "placeholder is not supported", c->label, pp->path, pp->seen.link);
}

static errint_t file_content(struct pkg_ctx *c, struct pkg_path *pp)
{
	int r;

	if (pp->seen.kind == SEEN_HARDLINK)
		return resolve_hardlink(c, pp);
	if (pp->seen.kind != SEEN_FILE)
		return cfs_err_set(c->err, EBADMSG, "%s: %s: info/ lists a regular file but the "
				   "archive holds a %s", c->label, pp->path,
				   pp->seen.kind == SEEN_SYMLINK ? "symlink" : "different type");
	if (pp->relocated)
		return 0;
	/* Met before the path list: verify now, relocate from the store. */
	r = pkg_check_shipped(c, pp, pp->seen.digest, pp->seen.size);
	if (r < 0)
		return r;
	if (pp->placeholder)
		return late_relocate(c, pp, &pp->seen);
	return 0;
}

static void add_file(struct pkg_ctx *c, const char *path, uint32_t perm, int64_t mtime,
		     uint32_t nsec, const uint8_t *digest, uint64_t size, uint64_t csize)
{
	struct cfs_entry *e = cfs_package_add_entry(c->out, path, S_IFREG | (perm & 07777));
	e->mtime = mtime;
	e->mtime_nsec = nsec;
	memcpy(e->digest, digest, CFS_SHA256_LEN);
	e->size = size;
	e->csize = csize;
	c->out->bytes += size;
}

static errint_t add_payload(struct pkg_ctx *c)
{
	int r;

	for (size_t i = 0; i < c->n_paths; i++) {
		struct pkg_path *pp = &c->paths[i];
		cleanup_free char *dest = final_path(c, pp->path);
		struct cfs_entry *e;

		if (pp->type == PT_DIR) {
			e = cfs_package_add_entry(c->out, dest, S_IFDIR | 0755);
			e->mtime = pp->seen.mtime;
			continue;
		}
		if (pp->seen.kind == SEEN_NONE && c->pkg_member)
			return cfs_err_set(c->err, EBADMSG, "%s: %s: listed in info/ but missing from "
					   "%s and %s (payload stripped?)", c->label, pp->path,
					   c->pkg_member, c->info_member);
		if (pp->seen.kind == SEEN_NONE)
			return cfs_err_set(c->err, EBADMSG, "%s: %s: listed in info/ but missing from "
					   "the archive (payload stripped?)", c->label, pp->path);
		if (pp->type == PT_SOFTLINK && pp->seen.kind != SEEN_SYMLINK)
			return cfs_err_set(c->err, EBADMSG, "%s: %s: paths.json lists a softlink "
					   "but the archive holds a regular file", c->label, pp->path);
		/* Old packages list symlinks in info/files like files. */
		if (pp->type == PT_SOFTLINK || (pp->seen.kind == SEEN_SYMLINK && !c->seen_paths)) {
			if (!pp->seen.link || !*pp->seen.link)
				return cfs_err_set(c->err, EBADMSG, "%s: %s: symlink with an empty target",
						   c->label, pp->path);
			e = cfs_package_add_entry(c->out, dest, S_IFLNK | 0777);
			e->target = cfs_xstrdup(pp->seen.link);
			e->size = strlen(e->target);
			e->mtime = pp->seen.mtime;
			e->mtime_nsec = pp->seen.mtime_nsec;
			continue;
		}
		r = file_content(c, pp);
		if (r < 0)
			return r;
		if (pp->relocated)
			add_file(c, dest, pp->seen.perm, pp->seen.mtime, pp->seen.mtime_nsec,
				 pp->final_digest, pp->final_size, pp->final_csize);
		else
			add_file(c, dest, pp->seen.perm, pp->seen.mtime, pp->seen.mtime_nsec,
				 pp->seen.digest, pp->seen.size, pp->seen.csize);
	}
	return 0;
}

static errint_t store_generated(struct pkg_ctx *c, const char *path, uint32_t perm,
				int64_t mtime, const char *data, size_t len)
{
	uint8_t digest[CFS_SHA256_LEN];
	uint64_t csize = 0;
	int r = cfs_store_put(c->opts->store, data, len, digest, &csize);

	if (r < 0)
		return cfs_err_set(c->err, -r, "%s: %s: cannot store: %s", c->label, path, strerror(-r));
	add_file(c, path, perm, mtime, 0, digest, len, csize);
	return 0;
}

static int64_t package_mtime(struct pkg_ctx *c)
{
	json_t *root = json_loadb(c->index_json.data, c->index_json.len, 0, NULL);
	json_int_t ts = json_integer_value(json_object_get(root, "timestamp"));
	json_decref(root);
	/* conda timestamps are in milliseconds (very old ones in seconds). */
	return ts > 100000000000LL ? ts / 1000 : ts;
}

char *cfs_python_shebang(const char *prefix, const char *python_xy)
{
	cleanup_free char *python = cfs_xasprintf("%s/bin/python%s", prefix, python_xy);
	char *shebang = cfs_xasprintf("#!%s\n", python);

	/*
	 * conda's generate_shebang_for_entry_point: a line the kernel would cut
	 * (over 127 bytes with its newline) or a path with a space becomes a
	 * /bin/sh trampoline that execs the exact interpreter.
	 */
	if (strlen(shebang) > CFS_SHEBANG_MAX || strchr(python, ' ')) {
		free(shebang);
		shebang = cfs_xasprintf("#!/bin/sh\n'''exec' \"%s\" \"$0\" \"$@\" #'''\n", python);
	}
	return shebang;
}

/*
 * The script of entry point "cmd = pkg.mod:obj.attr", which imports obj and
 * calls obj.attr().  conda's template (conda/core/portability.py,
 * python_entry_point_template) or, with pip, pip's (distlib's ScriptMaker):
 * no blank lines, and only "-script.pyw" and ".exe" cut from argv[0].
 */
char *cfs_entry_point_script(const char *prefix, const char *python_xy, const char *module,
			     const char *func, bool pip)
{
	cleanup_free char *first = cfs_xstrndup(func, strcspn(func, "."));
	cleanup_free char *shebang = cfs_python_shebang(prefix, python_xy);
	const char *gap = pip ? "" : "\n";

	return cfs_xasprintf("%s"
			     "# -*- coding: utf-8 -*-\n"
			     "import re\n"
			     "import sys\n"
			     "%s"
			     "from %s import %s\n"
			     "%s"
			     "if __name__ == '__main__':\n"
			     "    sys.argv[0] = re.sub(r'(-script\\.pyw%s|\\.exe)?$', '', sys.argv[0])\n"
			     "    sys.exit(%s())\n",
			     shebang, gap, module, first, gap, pip ? "" : "?", func);
}

static char *trim_dup(const char *s, size_t len)
{
	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	return cfs_xstrndup(s, len);
}

bool cfs_valid_dotted(const char *s)
{
	if (!*s || *s == '.')
		return false;
	for (const char *p = s; *p; p++)
		if (!(*p == '_' || *p == '.' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z') || (unsigned char)*p >= 0x80))
			return false;
	return s[strlen(s) - 1] != '.';
}

static errint_t add_entry_points(struct pkg_ctx *c, int64_t mtime)
{
	json_t *root, *eps, *ep;
	json_error_t je;
	size_t i;
	int r = 0;

	if (!c->seen_link || !c->out->noarch || strcmp(c->out->noarch, "python") != 0)
		return 0;
	root = json_loadb(c->link_json.data, c->link_json.len, 0, &je);
	if (!root)
		return cfs_err_set(c->err, EBADMSG, "%s: info/link.json:%d: invalid JSON: %s",
				   c->label, je.line, je.text);
	eps = json_object_get(json_object_get(root, "noarch"), "entry_points");
	json_array_foreach(eps, i, ep) {
		const char *spec = json_string_value(ep);
		const char *eq = spec ? strchr(spec, '=') : NULL;
		const char *colon = eq ? strchr(eq, ':') : NULL;
		cleanup_free char *cmd = NULL, *module = NULL, *func = NULL, *path = NULL;
		cleanup_free char *body = NULL;

		if (!colon) {
			r = cfs_err_set(c->err, EBADMSG, "%s: info/link.json: bad entry point '%s' "
					"(want 'cmd = module:func')", c->label, spec ? spec : "?");
			break;
		}
		cmd = trim_dup(spec, (size_t)(eq - spec));
		module = trim_dup(eq + 1, (size_t)(colon - eq - 1));
		func = trim_dup(colon + 1, strlen(colon + 1));
		path = cfs_xasprintf("bin/%s", cmd);
		if (!cfs_path_is_safe(path) || strchr(cmd, '/') || !cfs_valid_dotted(module) ||
		    !cfs_valid_dotted(func)) {
			r = cfs_err_set(c->err, EBADMSG, "%s: info/link.json: bad entry point '%s'",
					c->label, spec);
			break;
		}
		if (!c->opts->python_xy) {
			r = cfs_err_set(c->err, EINVAL, "%s: entry point '%s' needs python, but the "
					"lock has no python package", c->label, cmd);
			break;
		}
		body = cfs_entry_point_script(c->opts->prefix, c->opts->python_xy, module, func,
					      false);
		r = store_generated(c, path, 0755, mtime, body, strlen(body));
		if (r < 0)
			break;
	}
	json_decref(root);
	return r;
}

static void find_link_scripts(struct pkg_ctx *c)
{
	for (size_t i = 0; i < c->out->n_entries; i++) {
		const char *p = c->out->entries[i].path;
		if (fnmatch("bin/.*-post-link.*", p, FNM_PATHNAME) == 0 ||
		    fnmatch("bin/.*-pre-unlink.*", p, FNM_PATHNAME) == 0 ||
		    fnmatch("bin/.*-pre-link.*", p, FNM_PATHNAME) == 0 ||
		    fnmatch("Scripts/.*-post-link.*", p, FNM_PATHNAME) == 0 ||
		    fnmatch("Scripts/.*-pre-unlink.*", p, FNM_PATHNAME) == 0) {
			c->out->link_scripts = cfs_xrealloc(c->out->link_scripts,
							    (c->out->n_link_scripts + 1) * sizeof(char *));
			c->out->link_scripts[c->out->n_link_scripts++] = cfs_xstrdup(p);
		}
	}
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct cfs_entry *)a)->path, ((const struct cfs_entry *)b)->path);
}

static const char *entry_type_name(uint32_t mode)
{
	return S_ISLNK(mode) ? "softlink" : S_ISDIR(mode) ? "directory" : "hardlink";
}

/* conda-meta/<name>-<version>-<build>.json, as conda writes it (CEP 32). */
static errint_t add_conda_meta(struct pkg_ctx *c, int64_t mtime)
{
	struct cfs_package *p = c->out;
	const struct cfs_lock_pkg *lp = c->lp;
	json_t *rec = json_loadb(c->index_json.data, c->index_json.len, 0, NULL);
	json_t *files = json_array(), *plist = json_array(), *pdata = json_object();
	cleanup_free char *path = NULL, *text = NULL;
	char hex[65], md5[33];
	int r;

	for (size_t i = 0; i < p->n_entries; i++) {
		const struct cfs_entry *e = &p->entries[i];
		json_t *pe = json_object();
		json_array_append_new(files, json_string(e->path));
		json_object_set_new(pe, "_path", json_string(e->path));
		json_object_set_new(pe, "path_type", json_string(entry_type_name(e->mode)));
		if (S_ISREG(e->mode)) {
			cfs_hex(e->digest, CFS_SHA256_LEN, hex);
			json_object_set_new(pe, "sha256", json_string(hex));
			json_object_set_new(pe, "size_in_bytes", json_integer((json_int_t)e->size));
		}
		json_array_append_new(plist, pe);
	}
	json_object_set_new(pdata, "paths_version", json_integer(1));
	json_object_set_new(pdata, "paths", plist);
	cfs_hex(p->sha256, CFS_SHA256_LEN, hex);
	if (p->has_md5)
		cfs_hex(p->md5, CFS_MD5_LEN, md5);
	else
		md5[0] = '\0';
	json_object_set_new(rec, "url", json_string(lp->url));
	json_object_set_new(rec, "channel", json_string(lp->channel ? lp->channel : ""));
	json_object_set_new(rec, "fn", json_string(lp->fn));
	json_object_set_new(rec, "md5", json_string(md5));
	json_object_set_new(rec, "sha256", json_string(hex));
	json_object_set_new(rec, "size", json_integer((json_int_t)p->archive_size));
	json_object_set_new(rec, "files", files);
	json_object_set_new(rec, "paths_data", pdata);
	json_object_set_new(rec, "requested_spec", json_string(""));
	json_object_set_new(rec, "link", json_pack("{s:s,s:i}", "source", "", "type", 1));
	text = json_dumps(rec, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(rec);
	path = cfs_xasprintf("conda-meta/%s-%s-%s.json", p->name, p->version, p->build);
	r = store_generated(c, path, 0644, mtime, text, strlen(text));
	return r;
}

errint_t pkg_finish(struct pkg_ctx *c)
{
	int64_t mtime = package_mtime(c);
	int r;

	if (c->out->noarch && strcmp(c->out->noarch, "python") == 0 && !c->opts->python_xy)
		return cfs_err_set(c->err, EINVAL, "%s: noarch: python package, but the lock has no "
				   "python package", c->label);
	r = add_payload(c);
	if (r == 0)
		r = add_entry_points(c, mtime);
	if (r < 0)
		return r;
	/* A package may have no path at all (_libgcc_mutex): entries is NULL then. */
	if (c->out->n_entries)
		qsort(c->out->entries, c->out->n_entries, sizeof(struct cfs_entry), cmp_entry);
	find_link_scripts(c);
	r = add_conda_meta(c, mtime);
	if (r < 0)
		return r;
	qsort(c->out->entries, c->out->n_entries, sizeof(struct cfs_entry), cmp_entry);
	return 0;
}

errint_t cfs_package_list_pycs(struct cfs_package *p, const char *const *paths, size_t n,
			       struct cfs_store *store, struct cfs_err *err)
{
	cleanup_free char *meta = cfs_xasprintf("conda-meta/%s-%s-%s.json", p->name, p->version,
						p->build);
	cleanup_free char *old = NULL, *text = NULL;
	struct cfs_entry *e = NULL;
	size_t len = 0;
	json_t *rec, *files, *plist;
	int r;

	if (p->lock->manager == CFS_MGR_PIP)
		return cfs_wheel_list_pycs(p, paths, n, store, err);
	for (size_t i = 0; i < p->n_entries && !e; i++)
		if (strcmp(p->entries[i].path, meta) == 0)
			e = &p->entries[i];
	if (!e)
		return cfs_err_set(err, ENOENT, "%s: no %s to list bytecode in", p->lock->fn, meta);
	if ((r = cfs_store_read_all(store, e->digest, 64u << 20, &old, &len, err)) < 0)
		return r;
	rec = json_loadb(old, len, 0, NULL);
	files = json_object_get(rec, "files");
	plist = json_object_get(json_object_get(rec, "paths_data"), "paths");
	if (!json_is_array(files) || !json_is_array(plist)) {
		json_decref(rec);
		return cfs_err_set(err, EINVAL, "%s: %s: unexpected form", p->lock->fn, meta);
	}
	/* As conda records what it compiled: a path and its type, nothing else. */
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(files, json_string(paths[i]));
		json_array_append_new(plist, json_pack("{s:s,s:s}", "_path", paths[i],
						       "path_type", "pyc_file"));
	}
	text = json_dumps(rec, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(rec);
	if ((r = cfs_store_put(store, text, strlen(text), e->digest, &e->csize)) < 0)
		return cfs_err_set(err, -r, "%s: %s: cannot store: %s", p->lock->fn, meta,
				   strerror(-r));
	p->bytes += strlen(text) - e->size;
	e->size = strlen(text);
	qsort(p->entries, p->n_entries, sizeof(struct cfs_entry), cmp_entry);
	return 0;
}

/* SPDX-License-Identifier: MIT */
#include "manifest.h"

#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "log.h"

/* conda-meta records the URL, so it is part of the key with the archive and prefix. */
static char *manifest_path(const char *cache_dir, const struct cfs_install_opts *opts,
			   const struct cfs_lock_pkg *lp,
			   const uint8_t archive_sha256[CFS_SHA256_LEN])
{
	char hex[65], key[65];
	uint8_t digest[CFS_SHA256_LEN];
	cleanup_free char *material = NULL;

	cfs_hex(archive_sha256, CFS_SHA256_LEN, hex);
	material = cfs_xasprintf("%s\n%s\n%s\n%s\n%d\n%s", hex, opts->prefix,
				 opts->python_xy ? opts->python_xy : "", lp->url, CFS_MANIFEST_VERSION,
				 lp->manager == CFS_MGR_PIP ? opts->platform : "");
	cfs_sha256(material, strlen(material), digest);
	cfs_hex(digest, CFS_SHA256_LEN, key);
	return cfs_xasprintf("%s/manifests/%s.json", cache_dir, key);
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

void cfs_manifest_save(const char *cache_dir, const struct cfs_install_opts *opts,
		       const struct cfs_package *p)
{
	cleanup_free char *path = manifest_path(cache_dir, opts, p->lock, p->sha256);
	cleanup_free char *dir = cfs_xasprintf("%s/manifests", cache_dir);
	cleanup_free char *text = NULL;
	json_t *root = json_object(), *entries = json_array(), *scripts = json_array();
	char hex[65];
	int r;

	for (size_t i = 0; i < p->n_entries; i++) {
		const struct cfs_entry *e = &p->entries[i];
		json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:I}", "path", e->path,
				      "mode", (json_int_t)e->mode, "size", (json_int_t)e->size,
				      "mtime", (json_int_t)e->mtime,
				      "mtime_nsec", (json_int_t)e->mtime_nsec);
		if (S_ISREG(e->mode)) {
			cfs_hex(e->digest, CFS_SHA256_LEN, hex);
			json_object_set_new(o, "digest", json_string(hex));
			json_object_set_new(o, "csize", json_integer((json_int_t)e->csize));
		}
		if (e->target)
			json_object_set_new(o, "target", json_string(e->target));
		json_array_append_new(entries, o);
	}
	for (size_t i = 0; i < p->n_link_scripts; i++)
		json_array_append_new(scripts, json_string(p->link_scripts[i]));
	json_object_set_new(root, "version", json_integer(CFS_MANIFEST_VERSION));
	json_object_set_new(root, "name", str_or_null(p->name));
	json_object_set_new(root, "version_string", str_or_null(p->version));
	json_object_set_new(root, "build", str_or_null(p->build));
	json_object_set_new(root, "build_number", str_or_null(p->build_number));
	json_object_set_new(root, "subdir", str_or_null(p->subdir));
	json_object_set_new(root, "noarch", str_or_null(p->noarch));
	json_object_set_new(root, "bytes", json_integer((json_int_t)p->bytes));
	json_object_set_new(root, "entries", entries);
	json_object_set_new(root, "link_scripts", scripts);
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	r = cfs_mkdir_p(dir, 0755);
	if (r == 0)
		r = cfs_write_file_atomic(path, text, strlen(text), 0644);
	if (r < 0)
		cfs_debug("%s: cannot save install manifest: %s", path, strerror(-r));
}

static char *dup_or_null(json_t *v)
{
	return json_is_string(v) ? cfs_xstrdup(json_string_value(v)) : NULL;
}

errint_t cfs_manifest_load(const char *cache_dir, const struct cfs_install_opts *opts,
			   const struct cfs_lock_pkg *lp,
			   const uint8_t archive_sha256[CFS_SHA256_LEN], uint64_t archive_size,
			   struct cfs_package *out)
{
	cleanup_free char *path = manifest_path(cache_dir, opts, lp, archive_sha256);
	json_t *root = json_load_file(path, 0, NULL), *entries, *e, *s;
	size_t i;
	int r = 0;

	if (!root)
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	out->lock = lp;
	memcpy(out->sha256, archive_sha256, CFS_SHA256_LEN);
	out->has_md5 = lp->has_md5;
	memcpy(out->md5, lp->md5, CFS_MD5_LEN);
	out->archive_size = archive_size;
	out->name = dup_or_null(json_object_get(root, "name"));
	out->version = dup_or_null(json_object_get(root, "version_string"));
	out->build = dup_or_null(json_object_get(root, "build"));
	out->build_number = dup_or_null(json_object_get(root, "build_number"));
	out->subdir = dup_or_null(json_object_get(root, "subdir"));
	out->noarch = dup_or_null(json_object_get(root, "noarch"));
	out->bytes = (uint64_t)json_integer_value(json_object_get(root, "bytes"));
	if (json_integer_value(json_object_get(root, "version")) != CFS_MANIFEST_VERSION ||
	    !out->name || !out->version || !out->build)
		r = -ENOENT;
	entries = json_object_get(root, "entries");
	json_array_foreach(entries, i, e) {
		const char *p = json_string_value(json_object_get(e, "path"));
		const char *d = json_string_value(json_object_get(e, "digest"));
		const char *t = json_string_value(json_object_get(e, "target"));
		struct cfs_entry *ce;

		if (r < 0 || !p) {
			r = -ENOENT;
			break;
		}
		ce = cfs_package_add_entry(out, p, (uint32_t)json_integer_value(json_object_get(e, "mode")));
		ce->size = (uint64_t)json_integer_value(json_object_get(e, "size"));
		ce->mtime = json_integer_value(json_object_get(e, "mtime"));
		ce->mtime_nsec = (uint32_t)json_integer_value(json_object_get(e, "mtime_nsec"));
		ce->target = t ? cfs_xstrdup(t) : NULL;
		/* The compressed size is the store's file's (a pack copies exactly
		 * that many bytes), whatever store the manifest was made with. */
		if (S_ISREG(ce->mode) &&
		    (!d || cfs_unhex(d, ce->digest, CFS_SHA256_LEN) < 0 ||
		     cfs_store_object_size(opts->store, ce->digest, &ce->csize) < 0))
			r = -ENOENT;
	}
	s = json_object_get(root, "link_scripts");
	json_array_foreach(s, i, e) {
		if (!json_is_string(e))
			continue;
		out->link_scripts = cfs_xrealloc(out->link_scripts, (i + 1) * sizeof(char *));
		out->link_scripts[out->n_link_scripts++] = cfs_xstrdup(json_string_value(e));
	}
	json_decref(root);
	if (r < 0)
		cfs_package_release(out);
	return r;
}

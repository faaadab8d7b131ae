/* SPDX-License-Identifier: MIT */
/*
 * info/ metadata of a package: the path list (paths.json, or the old
 * info/files + info/has_prefix), index.json, link.json; and the last steps
 * of an install: hardlinks, late relocation, noarch python, entry points,
 * conda-meta.
 */
#include "archive-api.h"
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "package-internal.h"
#include "relocate.h"

#define OLD_PLACEHOLDER "/opt/anaconda1anaconda2anaconda3"

static struct cfs_buf *info_slot(struct pkg_ctx *c, const char *name, bool **seen)
{
	static const struct {
		const char *name;
		size_t buf_off, seen_off;
	} slots[] = {
		{ "info/index.json", offsetof(struct pkg_ctx, index_json), offsetof(struct pkg_ctx, seen_index) },
		{ "info/paths.json", offsetof(struct pkg_ctx, paths_json), offsetof(struct pkg_ctx, seen_paths) },
		{ "info/link.json", offsetof(struct pkg_ctx, link_json), offsetof(struct pkg_ctx, seen_link) },
		{ "info/files", offsetof(struct pkg_ctx, files_txt), offsetof(struct pkg_ctx, seen_files) },
		{ "info/has_prefix", offsetof(struct pkg_ctx, has_prefix_txt), offsetof(struct pkg_ctx, seen_has_prefix) },
	};
	for (size_t i = 0; i < CFS_ARRAY_SIZE(slots); i++) {
		if (strcmp(name, slots[i].name) == 0) {
			*seen = (bool *)((char *)c + slots[i].seen_off);
			return (struct cfs_buf *)((char *)c + slots[i].buf_off);
		}
	}
	return NULL;
}

static errint_t paths_from_json(struct pkg_ctx *c);
static errint_t match_early(struct pkg_ctx *c);

errint_t pkg_info_entry(struct pkg_ctx *c, struct archive *a, struct archive_entry *ae,
			const char *name)
{
	bool *seen;
	struct cfs_buf *b = info_slot(c, name, &seen);
	char chunk[1 << 16];
	la_ssize_t n;

	if (!b || sym_archive_entry_filetype(ae) != AE_IFREG)
		return 0;
	if (*seen)
		return cfs_err_set(c->err, EBADMSG, "%s: %s: appears twice in the archive",
				   c->label, name);
	cfs_buf_init(b, CFS_MAX_JSON_BYTES);
	cfs_buf_add(b, "", 0);
	while ((n = sym_archive_read_data(a, chunk, sizeof(chunk))) > 0) {
		if (cfs_buf_add(b, chunk, (size_t)n) < 0)
			return cfs_err_set(c->err, EFBIG, "%s: %s: larger than %u bytes", c->label,
					   name, CFS_MAX_JSON_BYTES);
	}
	if (n < 0)
		return cfs_err_set(c->err, EBADMSG, "%s: %s: corrupt archive: %s", c->label, name,
				   sym_archive_error_string(a));
	*seen = true;
	/* In a .tar.bz2 the payload may follow: learn placeholders now. */
	if (b == &c->paths_json && !c->have_paths) {
		int r = paths_from_json(c);
		if (r == 0)
			r = match_early(c);
		return r;
	}
	return 0;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const struct pkg_path *)a)->path, ((const struct pkg_path *)b)->path);
}

struct pkg_path *pkg_find_path(struct pkg_ctx *c, const char *path)
{
	struct pkg_path key = { .path = (char *)path };
	/* A package may list no path at all (_libgcc_mutex): paths is NULL then. */
	if (!c->n_paths)
		return NULL;
	return bsearch(&key, c->paths, c->n_paths, sizeof(key), cmp_path);
}

static struct pkg_path *add_path(struct pkg_ctx *c, const char *path, size_t *alloc)
{
	struct pkg_path *pp;
	cfs_grow(&c->paths, c->n_paths, alloc, sizeof(*pp), 64);
	pp = &c->paths[c->n_paths++];
	memset(pp, 0, sizeof(*pp));
	pp->path = cfs_xstrdup(path);
	return pp;
}

static errint_t check_path(struct pkg_ctx *c, const char *member, const char *path)
{
	if (!cfs_path_is_safe(path))
		return cfs_err_set(c->err, EPERM, "%s: %s: path '%s' is absolute or escapes the prefix",
				   c->label, member, path);
	return 0;
}

/* Sorts paths[] and refuses duplicates. */
static errint_t finish_paths(struct pkg_ctx *c, const char *member)
{
	if (c->n_paths)
		qsort(c->paths, c->n_paths, sizeof(*c->paths), cmp_path);
	for (size_t i = 1; i < c->n_paths; i++)
		if (strcmp(c->paths[i - 1].path, c->paths[i].path) == 0)
			return cfs_err_set(c->err, EBADMSG, "%s: %s: path '%s' is listed twice",
					   c->label, member, c->paths[i].path);
	c->have_paths = true;
	return 0;
}

static errint_t parse_json(struct pkg_ctx *c, struct cfs_buf *b, const char *member, json_t **out)
{
	json_error_t je;
	*out = json_loadb(b->data ? b->data : "", b->len, JSON_REJECT_DUPLICATES, &je);
	if (!*out)
		return cfs_err_set(c->err, EBADMSG, "%s: %s:%d: invalid JSON: %s", c->label, member,
				   je.line, je.text);
	return 0;
}

static errint_t paths_from_json(struct pkg_ctx *c)
{
	static const char member[] = "info/paths.json";
	json_t *root, *list, *item;
	size_t alloc = 0, i;
	int r;

	r = parse_json(c, &c->paths_json, member, &root);
	if (r < 0)
		return r;
	list = json_object_get(root, "paths");
	if (!json_is_object(root) || !json_is_array(list)) {
		json_decref(root);
		return cfs_err_set(c->err, EBADMSG, "%s: %s: no \"paths\" list", c->label, member);
	}
	json_array_foreach(list, i, item) {
		const char *p = json_string_value(json_object_get(item, "_path"));
		const char *type = json_string_value(json_object_get(item, "path_type"));
		const char *ph = json_string_value(json_object_get(item, "prefix_placeholder"));
		const char *mode = json_string_value(json_object_get(item, "file_mode"));
		const char *sha = json_string_value(json_object_get(item, "sha256"));
		json_t *size = json_object_get(item, "size_in_bytes");
		struct pkg_path *pp;

		if (!p) {
			r = cfs_err_set(c->err, EBADMSG, "%s: %s: entry %zu has no _path", c->label,
					member, i);
			break;
		}
		if ((r = check_path(c, member, p)) < 0)
			break;
		pp = add_path(c, p, &alloc);
		if (!type || strcmp(type, "hardlink") == 0) {
			pp->type = PT_FILE;
		} else if (strcmp(type, "softlink") == 0) {
			pp->type = PT_SOFTLINK;
		} else if (strcmp(type, "directory") == 0) {
			pp->type = PT_DIR;
		} else {
			r = cfs_err_set(c->err, EBADMSG, "%s: %s: %s: unknown path_type '%s'",
					c->label, member, p, type);
			break;
		}
		/* conda ignores placeholders declared on softlinks. */
		if (ph && *ph && pp->type == PT_FILE) {
			pp->placeholder = cfs_xstrdup(ph);
			pp->binary = mode && strcmp(mode, "binary") == 0;
			if (mode && strcmp(mode, "binary") && strcmp(mode, "text")) {
				r = cfs_err_set(c->err, EBADMSG, "%s: %s: %s: unknown file_mode '%s'",
						c->label, member, p, mode);
				break;
			}
		}
		if (sha && pp->type == PT_FILE) {
			if (cfs_unhex(sha, pp->sha256, CFS_SHA256_LEN) < 0) {
				r = cfs_err_set(c->err, EBADMSG, "%s: %s: %s: bad sha256 '%s'", c->label,
						member, p, sha);
				break;
			}
			pp->has_sha256 = true;
		}
		if (json_is_integer(size) && pp->type == PT_FILE) {
			json_int_t v = json_integer_value(size);
			if (v < 0 || (uint64_t)v > CFS_MAX_FILE_BYTES) {
				r = cfs_err_set(c->err, EFBIG, "%s: %s: %s: absurd size_in_bytes %lld",
						c->label, member, p, (long long)v);
				break;
			}
			pp->size = (uint64_t)v;
			pp->has_size = true;
		}
	}
	json_decref(root);
	if (r < 0)
		return r;
	return finish_paths(c, member);
}

/* Splits a has_prefix line like conda: shlex (posix=False), quotes stripped. */
static int split_fields(char *line, char **fields, int max)
{
	int n = 0;
	char *p = line;

	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (n == max)
			return max + 1;
		if (*p == '"' || *p == '\'') {
			char q = *p++;
			fields[n++] = p;
			while (*p && *p != q)
				p++;
		} else {
			fields[n++] = p;
			while (*p && *p != ' ' && *p != '\t')
				p++;
		}
		if (*p)
			*p++ = '\0';
	}
	return n;
}

/*
 * conda's yield_lines: each line stripped of surrounding whitespace; empty
 * lines and lines starting with '#' skipped.  Returns NULL to skip.
 */
static char *info_line(char *l)
{
	size_t len;

	while (*l == ' ' || *l == '\t' || *l == '\r' || *l == '\v' || *l == '\f')
		l++;
	len = strlen(l);
	while (len && (l[len - 1] == ' ' || l[len - 1] == '\t' || l[len - 1] == '\r' ||
		       l[len - 1] == '\v' || l[len - 1] == '\f'))
		l[--len] = '\0';
	return len && l[0] != '#' ? l : NULL;
}

static errint_t paths_from_files(struct pkg_ctx *c)
{
	size_t alloc = 0;
	char *save = NULL;
	int r, lineno = 0;

	for (char *l = strtok_r(c->files_txt.data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (!(l = info_line(l)))
			continue;
		if ((r = check_path(c, "info/files", l)) < 0)
			return r;
		add_path(c, l, &alloc)->type = PT_FILE;
	}
	r = finish_paths(c, "info/files");
	if (r < 0 || !c->seen_has_prefix)
		return r;

	save = NULL;
	for (char *l = strtok_r(c->has_prefix_txt.data, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		char *f[3];
		int n;
		struct pkg_path *pp;

		lineno++;
		if (!(l = info_line(l)))
			continue;
		n = split_fields(l, f, 3);
		if (n == 0)
			continue;
		if (n != 1 && n != 3)
			return cfs_err_set(c->err, EBADMSG, "%s: info/has_prefix:%d: expected "
					   "'<placeholder> <text|binary> <path>' or '<path>'",
					   c->label, lineno);
		if (n == 3 && strcmp(f[1], "text") && strcmp(f[1], "binary"))
			return cfs_err_set(c->err, EBADMSG, "%s: info/has_prefix:%d: unknown mode '%s'",
					   c->label, lineno, f[1]);
		pp = pkg_find_path(c, n == 1 ? f[0] : f[2]);
		/* conda looks placeholders up by the paths of info/files: others do nothing. */
		if (!pp) {
			cfs_debug("%s: info/has_prefix:%d: '%s' is not listed in info/files, ignored",
				  c->label, lineno, n == 1 ? f[0] : f[2]);
			continue;
		}
		free(pp->placeholder);
		pp->placeholder = cfs_xstrdup(n == 1 ? OLD_PLACEHOLDER : f[0]);
		pp->binary = n == 3 && strcmp(f[1], "binary") == 0;
	}
	return 0;
}

/* Moves what the archive held before the path list was known onto it. */
static errint_t match_early(struct pkg_ctx *c)
{
	for (size_t i = 0; i < c->n_early; i++) {
		struct early_file *ef = &c->early[i];
		struct pkg_path *pp = pkg_find_path(c, ef->path);

		if (!pp) {
			free(ef->seen.link);
		} else {
			free(pp->seen.link);
			pp->seen = ef->seen;
		}
		free(ef->path);
	}
	free(c->early);
	c->early = NULL;
	c->n_early = c->alloc_early = 0;
	return 0;
}

static char *json_str_or_num(json_t *v)
{
	if (json_is_string(v))
		return cfs_xstrdup(json_string_value(v));
	if (json_is_integer(v))
		return cfs_xasprintf("%lld", (long long)json_integer_value(v));
	return NULL;
}

static errint_t parse_index(struct pkg_ctx *c)
{
	struct cfs_package *p = c->out;
	json_t *root, *noarch;
	int r;

	if (!c->seen_index)
		return cfs_err_set(c->err, EBADMSG, "%s: no info/index.json", c->label);
	r = parse_json(c, &c->index_json, "info/index.json", &root);
	if (r < 0)
		return r;
	if (!json_is_object(root)) {
		json_decref(root);
		return cfs_err_set(c->err, EBADMSG, "%s: info/index.json: not an object", c->label);
	}
	p->name = json_str_or_num(json_object_get(root, "name"));
	p->version = json_str_or_num(json_object_get(root, "version"));
	p->build = json_str_or_num(json_object_get(root, "build"));
	p->build_number = json_str_or_num(json_object_get(root, "build_number"));
	p->subdir = json_str_or_num(json_object_get(root, "subdir"));
	noarch = json_object_get(root, "noarch");
	if (json_is_object(noarch))
		noarch = json_object_get(noarch, "type");
	if (json_is_string(noarch))
		p->noarch = cfs_xstrdup(json_string_value(noarch));
	else if (json_is_true(json_object_get(root, "noarch_python")))
		p->noarch = cfs_xstrdup("python");
	json_decref(root);
	if (!p->name || !p->version || !p->build)
		return cfs_err_set(c->err, EBADMSG, "%s: info/index.json: missing name, version or build",
				   c->label);
	return 0;
}

errint_t pkg_info_parse(struct pkg_ctx *c)
{
	int r = parse_index(c);

	if (r < 0 || c->have_paths)
		return r;
	if (c->seen_paths)
		r = paths_from_json(c);
	else if (c->seen_files)
		r = paths_from_files(c);
	else
		return cfs_err_set(c->err, EBADMSG, "%s: neither info/paths.json nor info/files",
				   c->label);
	if (r == 0)
		r = match_early(c);
	return r;
}

void pkg_ctx_release(struct pkg_ctx *c)
{
	struct cfs_buf *bufs[] = { &c->index_json, &c->paths_json, &c->link_json, &c->files_txt,
				   &c->has_prefix_txt };
	for (size_t i = 0; i < CFS_ARRAY_SIZE(bufs); i++)
		cfs_buf_release(bufs[i]);
	for (size_t i = 0; i < c->n_paths; i++) {
		free(c->paths[i].path);
		free(c->paths[i].placeholder);
		free(c->paths[i].seen.link);
	}
	free(c->paths);
	for (size_t i = 0; i < c->n_early; i++) {
		free(c->early[i].path);
		free(c->early[i].seen.link);
	}
	free(c->early);
	for (size_t i = 0; i < c->n_unlisted; i++) {
		free(c->unlisted[i].path);
		free(c->unlisted[i].seen.link);
	}
	free(c->unlisted);
	free(c->info_member);
	free(c->pkg_member);
}

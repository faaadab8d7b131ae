/* SPDX-License-Identifier: MIT */
/*
 * condafs export: which nodes to write (working sets applied to the index,
 * keep globs, conda-meta records), reading their contents from the store,
 * and publishing the output atomically.  The writers are export-tar.c,
 * export-dir.c and export-oci.c.
 */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "db.h"
#include "export-internal.h"
#include "fsutil.h"
#include "log.h"

static const struct {
	const char *name;
	enum cfs_export_format format;
} formats[] = {
	{ "dir", CFS_EXPORT_DIR },
	{ "tar", CFS_EXPORT_TAR },
	{ "tar.gz", CFS_EXPORT_TAR_GZ },
	{ "tar.zst", CFS_EXPORT_TAR_ZST },
	{ "oci", CFS_EXPORT_OCI },
};

errint_t cfs_export_parse_format(const char *s, enum cfs_export_format *out)
{
	for (size_t i = 0; i < CFS_ARRAY_SIZE(formats); i++)
		if (strcmp(s, formats[i].name) == 0) {
			*out = formats[i].format;
			return 0;
		}
	return -EINVAL;
}

errint_t cfs_export_format_from_name(const char *output, enum cfs_export_format *out)
{
	if (cfs_ends_with(output, ".tar"))
		*out = CFS_EXPORT_TAR;
	else if (cfs_ends_with(output, ".tar.gz") || cfs_ends_with(output, ".tgz"))
		*out = CFS_EXPORT_TAR_GZ;
	else if (cfs_ends_with(output, ".tar.zst") || cfs_ends_with(output, ".tzst"))
		*out = CFS_EXPORT_TAR_ZST;
	else
		return -EINVAL;
	return 0;
}

void cfs_export_result_release(struct cfs_export_result *res)
{
	free(res->name);
	res->name = NULL;
}

const struct cfs_node *export_item_node(const struct export_ctx *x, const struct export_item *it)
{
	return it->node >= 0 ? &x->tree->nodes[it->node] : NULL;
}

uint32_t export_item_mode(const struct export_ctx *x, const struct export_item *it)
{
	return it->node >= 0 ? x->tree->nodes[it->node].mode : (S_IFDIR | 0755);
}

static errint_t load_worksets(struct export_ctx *x, struct cfs_workset **out)
{
	const struct cfs_ws_tree *t = x->tree;
	struct cfs_workset *merged = cfs_workset_new(t->prefix);

	for (size_t i = 0; i < x->o->n_worksets; i++) {
		const char *path = x->o->worksets[i];
		struct cfs_workset *ws;
		int r = cfs_workset_load(path, &ws, x->err);

		if (r < 0) {
			cfs_workset_free(merged);
			return r;
		}
		if (strcmp(ws->prefix, t->prefix) != 0) {
			r = cfs_err_set(x->err, EINVAL, "%s: working set for prefix %s, but %s is "
					"for %s", path, ws->prefix, t->index_path, t->prefix);
			cfs_workset_free(ws);
			cfs_workset_free(merged);
			return r;
		}
		cfs_workset_merge(merged, ws);
		cfs_workset_free(ws);
	}
	*out = merged;
	return 0;
}

/* conda-meta/<name>-<version>-<build>.json of every package with an exported path. */
static void mark_conda_meta(const struct cfs_ws_tree *t, uint8_t *marks)
{
	bool *used = cfs_xcalloc(t->n_pkgs + 1, sizeof(bool));

	for (size_t i = 0; i < t->n; i++)
		if (marks[i] && !S_ISDIR(t->nodes[i].mode) && cfs_ws_tree_pkg(t, i))
			used[t->nodes[i].package - 1] = true;
	for (size_t k = 0; k < t->n_pkgs; k++) {
		const struct cfs_ws_pkg *p = &t->pkgs[k];
		cleanup_free char *path = NULL;

		if (!used[k])
			continue;
		path = cfs_xasprintf("conda-meta/%s-%s-%s.json", p->name, p->version ? p->version : "",
				     p->build ? p->build : "");
		if (cfs_ws_mark_path(t, marks, path) < 0)
			cfs_warn("%s: %s is not in the index or pruned (--with-conda-meta)",
				 t->index_path, path);
	}
	if (cfs_ws_mark_path(t, marks, "conda-meta/history") < 0)
		cfs_warn("%s: conda-meta/history is not in the index or pruned (--with-conda-meta)",
			 t->index_path);
	free(used);
}

static errint_t select_nodes(struct export_ctx *x, uint8_t *marks)
{
	const struct cfs_ws_tree *t = x->tree;
	struct cfs_workset *ws = NULL;
	int r;

	marks[0] = 1;
	if (x->o->all)
		for (size_t i = 0; i < t->n; i++)
			marks[i] |= !t->nodes[i].pruned;
	if (x->o->n_worksets) {
		struct cfs_ws_apply_report rep;
		ssize_t m;

		r = load_worksets(x, &ws);
		if (r < 0)
			return r;
		cfs_workset_apply(t, marks, ws, &rep);
		cfs_ws_apply_report_release(&rep);
		m = cfs_ws_mark_keep(t, marks, ws->keep, ws->n_keep, x->err);
		cfs_workset_free(ws);
		if (m < 0)
			return (int)m;
	}
	if (x->o->with_conda_meta)
		mark_conda_meta(t, marks);
	return 0;
}

/* The items in tar order: ancestors of the prefix, then the marked nodes by path. */
static void build_items(struct export_ctx *x, const uint8_t *marks)
{
	const struct cfs_ws_tree *t = x->tree;
	const char *p = t->prefix;
	cleanup_free char *top = NULL;
	size_t alloc, len;

	while (*p == '/')
		p++;
	top = cfs_xstrdup(p);
	len = strlen(top);
	while (len && top[len - 1] == '/')
		top[--len] = '\0';
	alloc = t->n + 64;
	x->items = cfs_xcalloc(alloc, sizeof(*x->items));
	for (char *s = top; *s && x->n_items < 63; s++)
		if (*s == '/' && s[1] != '/') {
			x->items[x->n_items].name = cfs_xstrndup(top, (size_t)(s - top));
			x->items[x->n_items++].node = -1;
		}
	for (size_t k = 0; k < t->n; k++) {
		size_t i = t->order[k];
		const char *path = t->paths[i];

		if (!marks[i] || t->nodes[i].pruned || (i == 0 && !*top))
			continue;
		x->items[x->n_items].node = (ssize_t)i;
		x->items[x->n_items++].name = !*top ? cfs_xstrdup(path)
					    : !*path ? cfs_xstrdup(top)
					    : cfs_xasprintf("%s/%s", top, path);
	}
}

static void count(struct export_ctx *x)
{
	const struct cfs_ws_tree *t = x->tree;
	struct cfs_export_result *res = x->res;

	for (size_t i = 0; i < t->n; i++) {
		const struct cfs_node *n = &t->nodes[i];
		if (n->pruned || S_ISDIR(n->mode))
			continue;
		res->env_files++;
		res->env_bytes += S_ISREG(n->mode) ? n->size : 0;
	}
	for (size_t k = 0; k < x->n_items; k++) {
		const struct cfs_node *n = export_item_node(x, &x->items[k]);
		uint32_t mode = export_item_mode(x, &x->items[k]);

		if (S_ISDIR(mode))
			res->dirs++;
		else if (S_ISLNK(mode))
			res->symlinks++;
		else {
			res->files++;
			res->bytes += n->size;
		}
	}
}

/* A directory that an earlier export wrote (and that may be replaced). */
static bool is_previous_export(const struct export_ctx *x, const char *dir)
{
	cleanup_free char *marker = cfs_xasprintf("%s/oci-layout", dir);
	const char *top = x->n_items ? x->items[0].name : "";
	size_t toplen = strcspn(top, "/");
	struct dirent *de;
	bool ok = true;
	DIR *d;

	if (x->o->format == CFS_EXPORT_OCI)
		return access(marker, F_OK) == 0;
	d = opendir(dir);
	if (!d)
		return false;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    (strlen(de->d_name) != toplen || strncmp(de->d_name, top, toplen) != 0))
			ok = false;
	closedir(d);
	return ok;
}

static errint_t publish_dir(struct export_ctx *x, const char *tmp)
{
	const char *out = x->o->output;

	if (rename(tmp, out) == 0)
		return 0;
	if (errno != EEXIST && errno != ENOTEMPTY)
		return cfs_err_set(x->err, errno, "%s: %s", out, strerror(errno));
	if (!is_previous_export(x, out))
		return cfs_err_set(x->err, EEXIST, "%s: exists and is not a condafs export of this "
				   "format; remove it first", out);
	/* Swap the new tree in atomically; tmp then holds the old one. */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, out, RENAME_EXCHANGE) < 0)
		return cfs_err_set(x->err, errno, "%s: %s", out, strerror(errno));
	cfs_rmtree(tmp);
	return 0;
}

static errint_t export_to_dir(struct export_ctx *x, const char *parent, const char *base)
{
	cleanup_free char *tmp = cfs_xasprintf("%s/.%s.tmp-XXXXXX", parent, base);
	cleanup_fd int fd = -1;
	int r;

	if (!mkdtemp(tmp))
		return cfs_err_set(x->err, errno, "%s: %s", x->o->output, strerror(errno));
	fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		r = cfs_err_set(x->err, errno, "%s: %s", tmp, strerror(errno));
	else if (x->o->format == CFS_EXPORT_OCI)
		r = export_write_oci(x, fd, tmp);
	else
		r = export_write_dir(x, fd, tmp);
	if (r == 0 && fchmod(fd, 0755) < 0)
		r = cfs_err_set(x->err, errno, "%s: %s", tmp, strerror(errno));
	if (r == 0 && syncfs(fd) < 0)
		r = cfs_err_set(x->err, errno, "%s: %s", tmp, strerror(errno));
	if (r == 0)
		r = publish_dir(x, tmp);
	if (r < 0)
		cfs_rmtree(tmp);
	return r;
}

/* The tar formats: the archive, compressed as the format says, to fd. */
static errint_t write_tar_to(struct export_ctx *x, int fd)
{
	enum cfs_export_format f = x->o->format;
	enum cfs_export_comp comp = f == CFS_EXPORT_TAR_GZ ? CFS_COMP_GZIP
				  : f == CFS_EXPORT_TAR_ZST ? CFS_COMP_ZSTD : CFS_COMP_NONE;
	struct export_stream *s = export_stream_new(fd, comp, false);
	int r = export_write_tar(x, s);

	if (r == 0 && (r = export_stream_finish(s)) < 0)
		cfs_err_set(x->err, -r, "%s: %s", x->out_name, strerror(-r));
	x->res->out_bytes = export_stream_out_size(s);
	export_stream_free(s);
	return r;
}

/* -o -: the tar streams to standard output, for a pipe (podman load, ssh). */
static errint_t export_to_stdout(struct export_ctx *x)
{
	if (isatty(STDOUT_FILENO))
		return cfs_err_set(x->err, EINVAL, "standard output is a terminal: not writing "
				   "a tar archive to it (redirect it, or give -o FILE)");
	return write_tar_to(x, STDOUT_FILENO);
}

static errint_t export_to_file(struct export_ctx *x, const char *parent, const char *base)
{
	struct cfs_tmpfile tmp = { .fd = -1 };
	struct stat st;
	int r;

	/* rename() would replace a device node or a symlink, not write through it. */
	if (lstat(x->o->output, &st) == 0 && !S_ISREG(st.st_mode))
		return cfs_err_set(x->err, EEXIST, "%s: exists and is not a regular file",
				   x->o->output);
	r = cfs_tmpfile_open(&tmp, parent, base);
	if (r < 0)
		return cfs_err_set(x->err, -r, "%s: %s", x->o->output, strerror(-r));
	r = write_tar_to(x, tmp.fd);
	if (r == 0 && (r = cfs_tmpfile_commit(&tmp, x->o->output, true)) < 0)
		cfs_err_set(x->err, -r, "%s: %s", x->o->output, strerror(-r));
	cfs_tmpfile_abort(&tmp);
	return r;
}

static errint_t open_store(struct export_ctx *x, struct cfs_db *db)
{
	struct cfs_store *store = NULL;
	int r;

	if (x->o->store)
		x->store_dir = cfs_xstrdup(x->o->store);
	else if (cfs_db_get_meta(db, "store", &x->store_dir) < 0 || !x->store_dir ||
		 !*x->store_dir)
		return cfs_err_set(x->err, EINVAL, "%s: the index names no store; pass --store DIR",
				   x->o->index);
	r = cfs_store_open(x->store_dir, false, &store, x->err);
	cfs_store_free(store);
	if (r < 0)
		return r;
	x->store_fd = open(x->store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (x->store_fd < 0)
		return cfs_err_set(x->err, errno, "%s: %s", x->store_dir, strerror(errno));
	/* A cache that is missing or unreadable only means decoding everything. */
	if (x->o->cache) {
		x->cache_dir = x->o->cache;
		x->cache_fd = open(x->cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	return 0;
}

static errint_t run(struct export_ctx *x)
{
	cleanup_free char *c1 = cfs_xstrdup(x->o->output), *c2 = cfs_xstrdup(x->o->output);
	cleanup_free uint8_t *marks = NULL;
	struct cfs_db *db = NULL;
	const char *parent, *base;
	size_t len = strlen(c2);
	int r;

	r = cfs_db_open(x->o->index, &db, x->err);
	if (r < 0)
		return r;
	r = cfs_ws_tree_load(db, &x->tree, x->err);
	if (r == 0)
		r = open_store(x, db);
	cfs_db_close(db);
	if (r == 0 && x->o->format == CFS_EXPORT_OCI)
		r = export_oci_prepare(x);
	if (r < 0)
		return r;
	marks = cfs_ws_marks_new(x->tree);
	r = select_nodes(x, marks);
	if (r < 0)
		return r;
	build_items(x, marks);
	count(x);
	while (len > 1 && c1[len - 1] == '/')
		c1[len - 1] = c2[len - 1] = '\0', len--;
	parent = dirname(c1);
	base = basename(c2);
	if (x->o->format == CFS_EXPORT_DIR || x->o->format == CFS_EXPORT_OCI)
		return export_to_dir(x, parent, base);
	if (strcmp(x->o->output, "-") == 0)
		return export_to_stdout(x);
	return export_to_file(x, parent, base);
}

static struct export_ctx *ctx_new(const struct cfs_export_opts *o, struct cfs_export_result *res,
				  struct cfs_err *err)
{
	struct export_ctx *x = cfs_xcalloc(1, sizeof(*x));

	memset(res, 0, sizeof(*res));
	x->o = o;
	x->res = res;
	x->err = err;
	x->store_fd = -1;
	x->cache_fd = -1;
	return x;
}

static void ctx_free(struct export_ctx *x)
{
	for (size_t i = 0; i < x->n_items; i++)
		free(x->items[i].name);
	free(x->items);
	if (!x->borrowed_tree)
		cfs_ws_tree_free(x->tree);
	if (x->store_fd >= 0)
		close(x->store_fd);
	if (x->cache_fd >= 0)
		close(x->cache_fd);
	free(x->store_dir);
	free(x->ref);
	free(x->tag);
	free(x);
}

errint_t cfs_export(const struct cfs_export_opts *o, struct cfs_export_result *res,
		    struct cfs_err *err)
{
	struct export_ctx *x = ctx_new(o, res, err);
	int r;

	x->out_name = strcmp(o->output, "-") == 0 ? "standard output" : o->output;
	r = run(x);
	ctx_free(x);
	return r;
}

errint_t cfs_export_measure(struct cfs_ws_tree *t, const struct cfs_export_opts *o,
			    uint8_t *marks, struct cfs_export_result *res, struct cfs_err *err)
{
	struct export_ctx *x = ctx_new(o, res, err);
	struct export_stream *s;
	int r;

	x->out_name = "the tar's size";
	x->tree = t;
	x->borrowed_tree = true;
	x->measure = true;
	r = select_nodes(x, marks);
	if (r == 0) {
		build_items(x, marks);
		count(x);
		s = export_stream_new(-1, CFS_COMP_NONE, false);
		r = export_write_tar(x, s);
		if (r == 0 && (r = export_stream_finish(s)) < 0)
			cfs_err_set(err, -r, "measuring the tar: %s", strerror(-r));
		res->out_bytes = export_stream_out_size(s);
		export_stream_free(s);
	}
	ctx_free(x);
	return r;
}

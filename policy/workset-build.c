/* SPDX-License-Identifier: MIT */
/* Working sets from traces and globs, applied to an index (workset-build.h). */
#include "workset-build.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "log.h"
#include "policy.h"

static void stmt_finalizep(sqlite3_stmt **st)
{
	sqlite3_finalize(*st);
}
#define cleanup_stmt __attribute__((cleanup(stmt_finalizep)))

static char *xstrdup_or_null(const unsigned char *s)
{
	return s ? cfs_xstrdup((const char *)s) : NULL;
}

static char *meta_or_empty(struct cfs_db *db, const char *key)
{
	char *v = NULL;

	if (cfs_db_get_meta(db, key, &v) < 0 || !v)
		return cfs_xstrdup("");
	return v;
}

void cfs_ws_tree_free(struct cfs_ws_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		cfs_node_release(&t->nodes[i]);
		free(t->paths[i]);
	}
	for (size_t i = 0; i < t->n_pkgs; i++) {
		free(t->pkgs[i].name);
		free(t->pkgs[i].version);
		free(t->pkgs[i].build);
		free(t->pkgs[i].sha256);
	}
	free(t->nodes);
	free(t->paths);
	free(t->order);
	free(t->pkgs);
	free(t->index_path);
	free(t->prefix);
	free(t->platform);
	free(t->lock_sha256);
	free(t->created);
	free(t);
}

static int cmp_order(const void *a, const void *b, void *ctx)
{
	char **paths = ctx;
	return strcmp(paths[*(const size_t *)a], paths[*(const size_t *)b]);
}

/* Builds paths[i] from the parents; depth-bounded against cycles in a bad index. */
static errint_t build_path(struct cfs_ws_tree *t, size_t i, int depth)
{
	const struct cfs_node *n = &t->nodes[i];
	size_t p;

	if (t->paths[i])
		return 0;
	if (n->ino == CFS_ROOT_INO) {
		t->paths[i] = cfs_xstrdup("");
		return 0;
	}
	if (depth > CFS_MAX_PATH_BYTES / 2 || n->parent < CFS_ROOT_INO || n->parent > t->n)
		return -EINVAL;
	p = n->parent - 1;
	if (build_path(t, p, depth + 1) < 0)
		return -EINVAL;
	t->paths[i] = t->paths[p][0] ? cfs_xasprintf("%s/%s", t->paths[p], n->name)
				     : cfs_xstrdup(n->name);
	return 0;
}

static errint_t load_nodes(struct cfs_db *db, struct cfs_ws_tree *t, struct cfs_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	sqlite3 *h = cfs_db_handle(db);
	size_t i = 0;
	int rc;

	if (sqlite3_prepare_v2(h, "SELECT " CFS_DB_NODE_COLUMNS ", (SELECT count(*) FROM nodes)"
			       " FROM nodes ORDER BY ino", -1, &st, NULL) != SQLITE_OK)
		return cfs_err_set(err, EIO, "%s: %s", t->index_path, sqlite3_errmsg(h));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cfs_node *n;

		if (!t->nodes) {
			t->n = (size_t)sqlite3_column_int64(st, 12);
			t->nodes = cfs_xcalloc(t->n, sizeof(*t->nodes));
			t->paths = cfs_xcalloc(t->n, sizeof(*t->paths));
		}
		if (i >= t->n || (uint64_t)sqlite3_column_int64(st, 0) != i + 1)
			return cfs_err_set(err, EINVAL, "%s: node inodes are not dense from 1",
					   t->index_path);
		n = &t->nodes[i++];
		cfs_db_row_to_node(st, n);
		if (S_ISLNK(n->mode) && !n->target)
			return cfs_err_set(err, EINVAL, "%s: symlink node %zu has no target",
					   t->index_path, i);
		if (S_ISREG(n->mode) && !n->has_digest)
			return cfs_err_set(err, EINVAL, "%s: file node %zu has no digest",
					   t->index_path, i);
	}
	if (rc != SQLITE_DONE)
		return cfs_err_set(err, EIO, "%s: %s", t->index_path, sqlite3_errmsg(h));
	if (i == 0 || i != t->n || !S_ISDIR(t->nodes[0].mode))
		return cfs_err_set(err, EINVAL, "%s: the index has no root directory", t->index_path);
	for (i = 0; i < t->n; i++)
		if (build_path(t, i, 0) < 0)
			return cfs_err_set(err, EINVAL, "%s: node %zu has a bad parent", t->index_path,
					   i + 1);
	t->order = cfs_xmalloc(t->n * sizeof(*t->order));
	for (i = 0; i < t->n; i++)
		t->order[i] = i;
	qsort_r(t->order, t->n, sizeof(*t->order), cmp_order, t->paths);
	return 0;
}

static errint_t load_packages(struct cfs_db *db, struct cfs_ws_tree *t, struct cfs_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	sqlite3 *h = cfs_db_handle(db);
	int rc;

	if (sqlite3_prepare_v2(h, "SELECT id, name, version, build, sha256,"
			       " (SELECT max(id) FROM packages) FROM packages ORDER BY id", -1, &st,
			       NULL) != SQLITE_OK)
		return cfs_err_set(err, EIO, "%s: %s", t->index_path, sqlite3_errmsg(h));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		struct cfs_ws_pkg *p;

		if (!t->pkgs) {
			int64_t max = sqlite3_column_int64(st, 5);
			if (max < 1 || max > 10000000)
				break;
			t->n_pkgs = (size_t)max;
			t->pkgs = cfs_xcalloc(t->n_pkgs, sizeof(*t->pkgs));
		}
		if (id < 1 || (size_t)id > t->n_pkgs)
			continue;
		p = &t->pkgs[id - 1];
		p->name = xstrdup_or_null(sqlite3_column_text(st, 1));
		p->version = xstrdup_or_null(sqlite3_column_text(st, 2));
		p->build = xstrdup_or_null(sqlite3_column_text(st, 3));
		p->sha256 = xstrdup_or_null(sqlite3_column_text(st, 4));
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return cfs_err_set(err, EIO, "%s: %s", t->index_path, sqlite3_errmsg(h));
	return 0;
}

errint_t cfs_ws_tree_load(struct cfs_db *db, struct cfs_ws_tree **out, struct cfs_err *err)
{
	struct cfs_ws_tree *t = cfs_xcalloc(1, sizeof(*t));
	int r;

	t->index_path = cfs_xstrdup(cfs_db_path(db));
	t->prefix = meta_or_empty(db, "prefix");
	t->platform = meta_or_empty(db, "platform");
	t->lock_sha256 = meta_or_empty(db, "lock_sha256");
	t->created = meta_or_empty(db, "created");
	r = load_nodes(db, t, err);
	if (r == 0)
		r = load_packages(db, t, err);
	if (r < 0) {
		cfs_ws_tree_free(t);
		return r;
	}
	*out = t;
	return 0;
}

ssize_t cfs_ws_tree_find(const struct cfs_ws_tree *t, const char *path)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->paths[t->order[mid]], path);
		if (c == 0)
			return (ssize_t)t->order[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

const struct cfs_ws_pkg *cfs_ws_tree_pkg(const struct cfs_ws_tree *t, size_t i)
{
	int64_t id = t->nodes[i].package;

	if (id < 1 || (size_t)id > t->n_pkgs || !t->pkgs[id - 1].name)
		return NULL;
	return &t->pkgs[id - 1];
}

uint8_t *cfs_ws_marks_new(const struct cfs_ws_tree *t)
{
	return cfs_xcalloc(t->n ? t->n : 1, 1);
}

/* Resolves path from the root, marking what it passes; *out: the node reached. */
static errint_t walk(const struct cfs_ws_tree *t, uint8_t *marks, const char *path,
		     bool follow_last, int *hops, size_t *out)
{
	cleanup_free char *copy = cfs_xstrdup(path);
	char *save = NULL, *c, *next;
	size_t pos = 0; /* the root */
	int r;

	marks[0] = 1;
	c = strtok_r(copy, "/", &save);
	for (; c; c = next) {
		const struct cfs_node *n;
		cleanup_free char *child = NULL;
		ssize_t ci;

		next = strtok_r(NULL, "/", &save);
		if (strcmp(c, ".") == 0)
			continue;
		if (!S_ISDIR(t->nodes[pos].mode))
			return -ENOTDIR;
		if (strcmp(c, "..") == 0) {
			if (pos == 0)
				return -EXDEV;
			pos = t->nodes[pos].parent - 1;
			continue;
		}
		child = t->paths[pos][0] ? cfs_xasprintf("%s/%s", t->paths[pos], c) : cfs_xstrdup(c);
		ci = cfs_ws_tree_find(t, child);
		if (ci < 0 || t->nodes[ci].pruned)
			return -ENOENT;
		marks[ci] = 1;
		n = &t->nodes[ci];
		if (S_ISLNK(n->mode) && (next || follow_last)) {
			cleanup_free char *target = NULL;
			size_t plen = strlen(t->prefix);

			if (++*hops > CFS_WS_MAX_SYMLINKS)
				return -ELOOP;
			if (n->target[0] == '/') {
				if (strcmp(t->prefix, "/") == 0)
					plen = 0;
				else if (strncmp(n->target, t->prefix, plen) != 0 ||
					 (n->target[plen] != '/' && n->target[plen] != '\0'))
					return -EXDEV;
				target = cfs_xstrdup(n->target + plen);
			} else {
				target = cfs_xasprintf("%s/%s", t->paths[pos], n->target);
			}
			r = walk(t, marks, target, true, hops, &pos);
			if (r < 0)
				return r;
		} else {
			pos = (size_t)ci;
		}
	}
	*out = pos;
	return 0;
}

errint_t cfs_ws_mark_path(const struct cfs_ws_tree *t, uint8_t *marks, const char *path)
{
	int hops = 0;
	size_t pos;

	return walk(t, marks, path, true, &hops, &pos);
}

static size_t count_marks(const struct cfs_ws_tree *t, const uint8_t *marks)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n; i++)
		n += marks[i] != 0;
	return n;
}

/* Checks one header line against the index. */
static errint_t trace_header(const struct cfs_ws_tree *t, json_t *o, const char *file,
			     size_t line, bool *lock_warned, struct cfs_ws_trace_stats *st,
			     struct cfs_err *err)
{
	json_t *v = json_object_get(o, "condafs_trace");
	const char *prefix = json_string_value(json_object_get(o, "prefix"));
	const char *lock = json_string_value(json_object_get(o, "lock_sha256"));
	const char *index = json_string_value(json_object_get(o, "index"));

	if (!json_is_integer(v) || json_integer_value(v) != 1)
		return cfs_err_set(err, EINVAL, "%s:%zu: trace version %s is not supported "
				   "(condafs reads version 1)", file, line,
				   json_is_integer(v) ? "other than 1" : "missing");
	if (!prefix)
		return cfs_err_set(err, EINVAL, "%s:%zu: trace header has no \"prefix\"", file, line);
	if (strcmp(prefix, t->prefix) != 0)
		return cfs_err_set(err, EINVAL, "%s:%zu: traced prefix %s, but %s is for %s", file,
				   line, prefix, t->index_path, t->prefix);
	if (lock && strcmp(lock, t->lock_sha256) != 0 && !*lock_warned) {
		cfs_warn("%s:%zu: traced with lock sha256 %.12s, but %s was made from lock %.12s: "
			 "paths are matched by name", file, line, lock, t->index_path,
			 t->lock_sha256);
		*lock_warned = true;
	}
	if (index && !st->index)
		st->index = cfs_xstrdup(index);
	st->runs++;
	return 0;
}

static errint_t read_trace(const struct cfs_ws_tree *t, uint8_t *marks, const char *path,
			   struct cfs_ws_trace_stats *st, struct cfs_err *err)
{
	cleanup_file FILE *f = fopen(path, "re");
	cleanup_free char *line = NULL;
	size_t cap = 0, lineno = 0, before;
	bool lock_warned = false;
	ssize_t len;
	int r = 0;

	memset(st, 0, sizeof(*st));
	if (!f)
		return cfs_err_set(err, errno, "%s: %s", path, strerror(errno));
	before = count_marks(t, marks);
	while ((len = getline(&line, &cap, f)) >= 0) {
		bool complete = len > 0 && line[len - 1] == '\n';
		json_error_t je;
		json_t *o;
		const char *p;

		lineno++;
		if ((size_t)len > CFS_TRACE_MAX_LINE)
			return cfs_err_set(err, EFBIG, "%s:%zu: line longer than %u bytes", path,
					   lineno, CFS_TRACE_MAX_LINE);
		if (len == 0 || (len == 1 && complete))
			continue;
		o = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &je);
		if (!o || !json_is_object(o)) {
			json_decref(o);
			if (!complete && st->runs) {
				cfs_warn("%s:%zu: ignoring a last line cut short", path, lineno);
				break;
			}
			if (!st->runs)
				return cfs_err_set(err, EINVAL, "%s:%zu: not a condafs trace (the first "
						   "line must be a header)", path, lineno);
			return cfs_err_set(err, EINVAL, "%s:%zu: not a JSON object%s%s", path, lineno,
					   o ? "" : ": ", o ? "" : je.text);
		}
		if (json_object_get(o, "condafs_trace")) {
			r = trace_header(t, o, path, lineno, &lock_warned, st, err);
			json_decref(o);
			if (r < 0)
				return r;
			continue;
		}
		if (!st->runs) {
			json_decref(o);
			return cfs_err_set(err, EINVAL, "%s:%zu: not a condafs trace (the first line "
					   "must be a header)", path, lineno);
		}
		p = json_string_value(json_object_get(o, "path"));
		if (!p || !json_is_string(json_object_get(o, "op"))) {
			json_decref(o);
			return cfs_err_set(err, EINVAL, "%s:%zu: event without \"op\" and \"path\"",
					   path, lineno);
		}
		while (*p == '/')
			p++;
		st->events++;
		if (cfs_ws_mark_path(t, marks, p) == -ENOENT)
			st->missing++;
		json_decref(o);
	}
	if (ferror(f))
		return cfs_err_set(err, EIO, "%s: %s", path, strerror(errno));
	if (!st->runs)
		return cfs_err_set(err, EINVAL, "%s: not a condafs trace (no header line)", path);
	st->paths = count_marks(t, marks) - before;
	return 0;
}

errint_t cfs_ws_read_trace(const struct cfs_ws_tree *t, uint8_t *marks, const char *path,
			   struct cfs_ws_trace_stats *st, struct cfs_err *err)
{
	int r = read_trace(t, marks, path, st, err);

	if (r < 0) {
		/* A header read before the error leaves nothing for the caller to free. */
		free(st->index);
		st->index = NULL;
	}
	return r;
}

/* "keep <glob>" as policy text: quoted so that spaces and '#' stay in the glob. */
static char *keep_rule(const char *glob)
{
	struct cfs_buf b;

	cfs_buf_init(&b, SIZE_MAX);
	cfs_buf_addstr(&b, "keep \"");
	for (const char *s = glob; *s; s++) {
		if (*s == '"')
			cfs_buf_addstr(&b, "\\");
		cfs_buf_add(&b, s, 1);
	}
	cfs_buf_addstr(&b, "\"\n");
	return cfs_buf_steal(&b, NULL);
}

ssize_t cfs_ws_mark_keep(const struct cfs_ws_tree *t, uint8_t *marks, char *const *globs,
			 size_t n, struct cfs_err *err)
{
	struct cfs_policy *p;
	ssize_t matched = 0;

	if (!n)
		return 0;
	p = cfs_policy_new();
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *text = keep_rule(globs[i]);
		int r = cfs_policy_add_text(p, "--keep", text, strlen(text), err);
		if (r < 0) {
			/* "--keep:1: bad pattern ..." names a line the user never wrote. */
			if (err && strncmp(err->msg, "--keep:1: ", 10) == 0)
				memmove(err->msg + 6, err->msg + 8, strlen(err->msg + 8) + 1);
			cfs_policy_free(p);
			return r;
		}
	}
	for (size_t i = 1; i < t->n; i++) {
		const struct cfs_ws_pkg *pkg = cfs_ws_tree_pkg(t, i);

		if (t->nodes[i].pruned || !cfs_policy_match(p, t->paths[i], pkg ? pkg->name : NULL))
			continue;
		matched++;
		cfs_ws_mark_path(t, marks, t->paths[i]);
	}
	cfs_policy_free(p);
	return matched;
}

void cfs_ws_apply_report_release(struct cfs_ws_apply_report *r)
{
	for (size_t i = 0; i < r->n_changes; i++) {
		struct cfs_ws_change *c = &r->changes[i];
		for (size_t j = 0; j < c->gone; j++)
			free(c->gone_paths[j]);
		free(c->gone_paths);
		free(c->name);
		free(c->old_version);
		free(c->old_build);
		free(c->new_version);
		free(c->new_build);
	}
	free(r->changes);
	free(r->first_missing);
	free(r->first_pruned);
	memset(r, 0, sizeof(*r));
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* What became of one package of the working set in the index. */
struct pkg_fate {
	const struct cfs_ws_pkg *now; /* the index's package of that name, or NULL */
	bool unchanged;
	struct cfs_ws_change *change;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t ws_pkg_pos(const struct cfs_workset *ws, const struct cfs_ws_package *p)
{
	for (size_t i = 0; i < ws->n_pkgs; i++)
		if (ws->pkgs[i] == p)
			return i;
	return 0;
}

static void note_missing(char **first, size_t *count, const char *path)
{
	if (!*first)
		*first = cfs_xstrdup(path);
	(*count)++;
}

errint_t cfs_workset_apply(const struct cfs_ws_tree *t, uint8_t *marks,
			   const struct cfs_workset *ws, struct cfs_ws_apply_report *rep)
{
	struct pkg_fate *fate = cfs_xcalloc(ws->n_pkgs + 1, sizeof(*fate));
	const struct cfs_ws_package *last = NULL;
	size_t last_pos = 0;

	memset(rep, 0, sizeof(*rep));
	rep->entries = ws->n_entries;
	rep->changes = cfs_xcalloc(ws->n_pkgs + 1, sizeof(*rep->changes));
	for (size_t i = 0; i < ws->n_pkgs; i++) {
		const struct cfs_ws_package *wp = ws->pkgs[i];
		for (size_t k = 0; k < t->n_pkgs; k++)
			if (t->pkgs[k].name && strcmp(t->pkgs[k].name, wp->name) == 0)
				fate[i].now = &t->pkgs[k];
		fate[i].unchanged = fate[i].now && same(fate[i].now->version, wp->version) &&
				    same(fate[i].now->build, wp->build) &&
				    same(fate[i].now->sha256, wp->sha256);
	}
	for (size_t i = 0; i < ws->n_entries; i++) {
		const struct cfs_ws_entry *e = &ws->entries[i];
		ssize_t ni = cfs_ws_tree_find(t, e->path);
		struct pkg_fate *f;

		if (e->pkg && e->pkg != last) {
			last = e->pkg;
			last_pos = ws_pkg_pos(ws, e->pkg);
		}
		f = e->pkg ? &fate[last_pos] : NULL;
		if (f && !f->unchanged) {
			const struct cfs_ws_pkg *np = ni >= 0 ? cfs_ws_tree_pkg(t, (size_t)ni) : NULL;
			struct cfs_ws_change *c = f->change;

			if (!c) {
				c = f->change = &rep->changes[rep->n_changes++];
				c->name = cfs_xstrdup(e->pkg->name);
				c->old_version = cfs_xstrdup(e->pkg->version ? e->pkg->version : "?");
				c->old_build = cfs_xstrdup(e->pkg->build ? e->pkg->build : "?");
				if (f->now) {
					c->new_version = cfs_xstrdup(f->now->version ? f->now->version : "?");
					c->new_build = cfs_xstrdup(f->now->build ? f->now->build : "?");
				}
			}
			if (f->now && ni >= 0 && !t->nodes[ni].pruned && np &&
			    strcmp(np->name, e->pkg->name) == 0) {
				c->kept++;
				rep->kept++;
				cfs_ws_mark_path(t, marks, e->path);
			} else {
				c->gone_paths = cfs_xrealloc(c->gone_paths, (c->gone + 1) * sizeof(char *));
				c->gone_paths[c->gone++] = cfs_xstrdup(e->path);
			}
			continue;
		}
		if (ni < 0) {
			note_missing(&rep->first_missing, &rep->missing, e->path);
		} else if (t->nodes[ni].pruned) {
			note_missing(&rep->first_pruned, &rep->pruned, e->path);
		} else {
			rep->kept++;
			cfs_ws_mark_path(t, marks, e->path);
		}
	}
	for (size_t i = 0; i < rep->n_changes; i++) {
		struct cfs_ws_change *c = &rep->changes[i];

		qsort(c->gone_paths, c->gone, sizeof(char *), cmp_str);
		if (c->new_version)
			cfs_warn("%s %s-%s → %s-%s: %zu working-set paths kept where they still "
				 "exist, %zu gone", c->name, c->old_version, c->old_build,
				 c->new_version, c->new_build, c->kept, c->gone);
		else
			cfs_warn("%s %s-%s is not in the lock of %s: its %zu working-set paths are "
				 "gone", c->name, c->old_version, c->old_build, t->index_path, c->gone);
		for (size_t j = 0; j < c->gone; j++)
			cfs_info("%s: gone: %s", c->name, c->gone_paths[j]);
	}
	if (rep->missing)
		cfs_warn("%s: %zu working-set paths are not in this index (%s%s)", t->index_path,
			 rep->missing, rep->first_missing, rep->missing > 1 ? ", ..." : "");
	if (rep->pruned)
		cfs_warn("%s: %zu working-set paths are pruned in this index and not exported "
			 "(%s%s)", t->index_path, rep->pruned, rep->first_pruned,
			 rep->pruned > 1 ? ", ..." : "");
	free(fate);
	return 0;
}

struct cfs_workset *cfs_ws_tree_to_workset(const struct cfs_ws_tree *t, const uint8_t *marks,
					   char *const *keep, size_t n_keep)
{
	struct cfs_workset *ws = cfs_workset_new(t->prefix);

	for (size_t k = 0; k < t->n; k++) {
		size_t i = t->order[k];
		const struct cfs_node *n = &t->nodes[i];
		const struct cfs_ws_pkg *p;
		char type;

		if (!marks[i] || i == 0 || n->pruned)
			continue;
		p = cfs_ws_tree_pkg(t, i);
		type = S_ISDIR(n->mode) ? 'd' : S_ISLNK(n->mode) ? 'l' : 'f';
		cfs_workset_add(ws, t->paths[i], type, p ? p->name : NULL, p ? p->version : NULL,
				p ? p->build : NULL, p ? p->sha256 : NULL);
	}
	for (size_t i = 0; i < n_keep; i++)
		cfs_workset_add_keep(ws, keep[i]);
	cfs_workset_sort(ws);
	return ws;
}

static int cmp_row(const void *a, const void *b)
{
	const struct cfs_ws_cov_row *x = a, *y = b;

	if (x->env_bytes != y->env_bytes)
		return x->env_bytes > y->env_bytes ? -1 : 1;
	if (!x->name || !y->name)
		return !x->name - !y->name;
	return strcmp(x->name, y->name);
}

void cfs_ws_coverage(const struct cfs_ws_tree *t, const uint8_t *marks, struct cfs_ws_coverage *c)
{
	/* Row 0: no package; row id: package id. */
	struct cfs_ws_cov_row *rows = cfs_xcalloc(t->n_pkgs + 1, sizeof(*rows));
	size_t out = 0;

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < t->n; i++) {
		const struct cfs_node *n = &t->nodes[i];
		const struct cfs_ws_pkg *p = cfs_ws_tree_pkg(t, i);
		struct cfs_ws_cov_row *r = &rows[p ? (size_t)n->package : 0];
		uint64_t bytes = S_ISREG(n->mode) ? n->size : 0;

		if (n->pruned)
			continue;
		if (S_ISDIR(n->mode)) {
			c->ws_dirs += marks[i] != 0;
			continue;
		}
		r->env_files++;
		r->env_bytes += bytes;
		if (marks[i]) {
			r->ws_files++;
			r->ws_bytes += bytes;
		}
	}
	for (size_t k = 0; k <= t->n_pkgs; k++) {
		struct cfs_ws_cov_row *r = &rows[k];

		if (k) {
			r->name = t->pkgs[k - 1].name;
			r->version = t->pkgs[k - 1].version;
			r->build = t->pkgs[k - 1].build;
		}
		c->total.env_files += r->env_files;
		c->total.env_bytes += r->env_bytes;
		c->total.ws_files += r->ws_files;
		c->total.ws_bytes += r->ws_bytes;
		if (r->env_files || r->ws_files)
			rows[out++] = *r;
	}
	qsort(rows, out, sizeof(*rows), cmp_row);
	c->rows = rows;
	c->n_rows = out;
}

void cfs_ws_coverage_release(struct cfs_ws_coverage *c)
{
	free(c->rows);
	memset(c, 0, sizeof(*c));
}

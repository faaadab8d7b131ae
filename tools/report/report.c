/* SPDX-License-Identifier: MIT */
/*
 * condafs report: the data of the page (report.h).  The working set is what
 * condafs export would write for the working sets and traces given: the
 * traces are read as condafs workset reads them (cfs_ws_read_trace), then
 * export's own selection and tar writer measure the rest
 * (cfs_export_measure), so the page's figures are export's.
 */
#include <jansson.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

#include "db.h"
#include "export.h"
#include "log.h"
#include "report-internal.h"
#include "workset-build.h"

/* Per group (package, rule, total): files and bytes, all, pruned and in the working set. */
struct sums {
	uint64_t files, bytes, pruned_files, pruned_bytes, ws_files, ws_bytes;
};

struct rule {
	char *origin, *text;
	bool keep;
};

struct report {
	const struct cfs_report_opts *o;
	struct cfs_err *err;
	struct cfs_ws_tree *t;
	uint8_t *marks;           /* what export writes */
	bool has_ws;              /* worksets or traces were given */
	struct rule *rules;       /* by id: rules[id - 1] */
	size_t n_rules;
	struct cfs_export_result exp;
	int64_t *dir_of;          /* node position -> dirs index, -1 for other nodes */
};

static void add_sums(struct sums *s, const struct cfs_node *n, bool ws)
{
	uint64_t bytes = S_ISREG(n->mode) ? n->size : 0;

	s->files++;
	s->bytes += bytes;
	if (n->pruned) {
		s->pruned_files++;
		s->pruned_bytes += bytes;
	} else if (ws) {
		s->ws_files++;
		s->ws_bytes += bytes;
	}
}

static void set_sums(json_t *o, const struct sums *s, bool ws)
{
	json_object_set_new(o, "files", json_integer((json_int_t)s->files));
	json_object_set_new(o, "bytes", json_integer((json_int_t)s->bytes));
	json_object_set_new(o, "kept_files", json_integer((json_int_t)(s->files - s->pruned_files)));
	json_object_set_new(o, "kept_bytes", json_integer((json_int_t)(s->bytes - s->pruned_bytes)));
	json_object_set_new(o, "pruned_files", json_integer((json_int_t)s->pruned_files));
	json_object_set_new(o, "pruned_bytes", json_integer((json_int_t)s->pruned_bytes));
	if (ws) {
		json_object_set_new(o, "ws_files", json_integer((json_int_t)s->ws_files));
		json_object_set_new(o, "ws_bytes", json_integer((json_int_t)s->ws_bytes));
	}
}

/* Length of the valid UTF-8 sequence at u (NUL-terminated), or 0. */
static size_t utf8_len(const unsigned char *u)
{
	uint32_t c;
	size_t len;

	if (u[0] < 0x80)
		return 1;
	if (u[0] >= 0xc2 && u[0] <= 0xdf)
		len = 2, c = u[0] & 0x1f;
	else if ((u[0] & 0xf0) == 0xe0)
		len = 3, c = u[0] & 0x0f;
	else if (u[0] >= 0xf0 && u[0] <= 0xf4)
		len = 4, c = u[0] & 0x07;
	else
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((u[k] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (u[k] & 0x3f);
	}
	if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return len;
}

/*
 * A JSON string of s (null for NULL); bytes that are not UTF-8 (never in
 * conda packages, but an index is input) become U+FFFD, so that the page
 * stays valid.
 */
static json_t *str(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	cleanup_free char *clean = NULL;
	size_t n = 0;
	json_t *j;

	if (!s)
		return json_null();
	if ((j = json_string(s)))
		return j;
	clean = cfs_xmalloc(strlen(s) * 3 + 1);
	while (*u) {
		size_t len = utf8_len(u);

		if (len) {
			memcpy(clean + n, u, len);
			u += len;
		} else {
			memcpy(clean + n, "\xef\xbf\xbd", 3);
			len = 3;
			u++;
		}
		n += len;
	}
	j = json_stringn(clean, n);
	if (!j)
		abort();
	return j;
}

/*
 * A column of names, front-coded: each name is written as the number of
 * UTF-16 code units (what JavaScript's String.slice counts) it shares with
 * the name before it, and the rest.  Names in a directory come sorted, so
 * "os.cpython-311.opt-2.pyc" after "os.cpython-311.opt-1.pyc" costs the
 * number 22 and "2.pyc".
 */
struct names {
	json_t *rest, *shared;
	json_t *prev;
};

static void names_init(struct names *n)
{
	n->rest = json_array();
	n->shared = json_array();
	n->prev = NULL;
}

static void names_add(struct names *n, const char *name)
{
	json_t *s = str(name);
	const char *a = json_string_value(s), *b = n->prev ? json_string_value(n->prev) : "";
	size_t k = 0, units = 0;

	while (a[k] && a[k] == b[k])
		k++;
	while (k && ((unsigned char)a[k] & 0xc0) == 0x80)
		k--; /* not inside a character */
	for (size_t i = 0; i < k; i++)
		units += ((unsigned char)a[i] & 0xc0) != 0x80 ? 1 + ((unsigned char)a[i] >= 0xf0) : 0;
	json_array_append_new(n->rest, json_string(a + k));
	json_array_append_new(n->shared, json_integer((json_int_t)units));
	json_decref(n->prev);
	n->prev = s;
}

/* Sets "name" and "name_shared" of o; releases n. */
static void names_finish(struct names *n, json_t *o)
{
	json_object_set_new(o, "name", n->rest);
	json_object_set_new(o, "name_shared", n->shared);
	json_decref(n->prev);
}

static errint_t load_rules(struct report *rp, struct cfs_db *db)
{
	sqlite3 *h = cfs_db_handle(db);
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(h, "SELECT id, origin, text, keep FROM rules ORDER BY id", -1, &st,
			       NULL) != SQLITE_OK)
		return cfs_err_set(rp->err, EIO, "%s: %s", rp->o->index, sqlite3_errmsg(h));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		const char *origin = (const char *)sqlite3_column_text(st, 1);
		const char *text = (const char *)sqlite3_column_text(st, 2);

		/* Ids are dense from 1 (cfs_db_add_rule); a gap would be a bad index. */
		if (id != (int64_t)rp->n_rules + 1) {
			sqlite3_finalize(st);
			return cfs_err_set(rp->err, EINVAL, "%s: prune rule ids are not dense from 1",
					   rp->o->index);
		}
		rp->rules = cfs_xrealloc(rp->rules, (rp->n_rules + 1) * sizeof(*rp->rules));
		rp->rules[rp->n_rules++] = (struct rule){
			cfs_xstrdup(origin ? origin : ""), cfs_xstrdup(text ? text : ""),
			sqlite3_column_int(st, 3) != 0,
		};
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return cfs_err_set(rp->err, EIO, "%s: %s", rp->o->index, sqlite3_errmsg(h));
	return 0;
}

/* The traces' paths into marks, as condafs workset reads them. */
static errint_t read_traces(struct report *rp)
{
	for (size_t i = 0; i < rp->o->n_traces; i++) {
		const char *path = rp->o->traces[i];
		struct cfs_ws_trace_stats st;
		int r = cfs_ws_read_trace(rp->t, rp->marks, path, &st, rp->err);

		if (r < 0)
			return r;
		if (st.missing)
			cfs_warn("%s: %zu traced paths are not in %s (or pruned there)", path,
				 st.missing, rp->o->index);
		cfs_info("%s: %zu runs, %zu events, %zu new paths", path, st.runs, st.events,
			 st.paths);
		free(st.index);
	}
	return 0;
}

static uint64_t rule_id(const struct report *rp, const struct cfs_node *n)
{
	return n->rule > 0 && (size_t)n->rule <= rp->n_rules ? (uint64_t)n->rule : 0;
}

static uint64_t pkg_id(const struct report *rp, size_t i)
{
	return cfs_ws_tree_pkg(rp->t, i) ? (uint64_t)rp->t->nodes[i].package : 0;
}

static json_t *column(void)
{
	return json_array();
}

static void push_int(json_t *col, uint64_t v)
{
	json_array_append_new(col, json_integer((json_int_t)v));
}

/* dirs, files and links; fills the sums per package (0: none), per rule and in total. */
static json_t *tree_tables(struct report *rp, struct sums *pkgs, struct sums *rules,
			   struct sums *total, json_t **files_out, json_t **links_out)
{
	const struct cfs_ws_tree *t = rp->t;
	json_t *dp = column(), *fd = column(), *fs = column(), *fp = column(), *fr = column(),
	       *fst = column(), *links = column(), *files, *dirs;
	struct names dn, fn;
	size_t n_dirs = 0, n_files = 0;

	names_init(&dn);
	names_init(&fn);

	rp->dir_of = cfs_xmalloc(t->n * sizeof(*rp->dir_of));
	/* Nodes are in path order, parents first: a parent's dirs index exists. */
	for (size_t i = 0; i < t->n; i++) {
		const struct cfs_node *n = &t->nodes[i];
		int64_t parent = n->parent >= CFS_ROOT_INO && n->parent - 1 < i
				 ? rp->dir_of[n->parent - 1] : -1;
		bool ws = rp->has_ws && rp->marks[i];
		uint64_t pkg = pkg_id(rp, i), rule = rule_id(rp, n);

		rp->dir_of[i] = -1;
		if (S_ISDIR(n->mode)) {
			rp->dir_of[i] = (int64_t)n_dirs++;
			json_array_append_new(dp, json_integer(i ? (json_int_t)parent : -1));
			names_add(&dn, n->name);
			continue;
		}
		if (parent < 0)
			continue; /* below a non-directory: a bad index, nothing to draw */
		add_sums(&pkgs[pkg], n, ws);
		add_sums(&rules[rule], n, ws);
		add_sums(total, n, ws);
		if (S_ISLNK(n->mode))
			push_int(links, n_files);
		push_int(fd, (uint64_t)parent);
		names_add(&fn, n->name);
		push_int(fs, S_ISREG(n->mode) ? n->size : 0);
		push_int(fp, pkg);
		push_int(fr, rule);
		push_int(fst, n->pruned ? 2 : ws ? 0 : 1);
		n_files++;
	}
	dirs = json_pack("{s:o}", "parent", dp);
	names_finish(&dn, dirs);
	files = json_pack("{s:o}", "dir", fd);
	names_finish(&fn, files);
	json_object_set_new(files, "size", fs);
	json_object_set_new(files, "pkg", fp);
	json_object_set_new(files, "rule", fr);
	json_object_set_new(files, "state", fst);
	*files_out = files;
	*links_out = links;
	return dirs;
}

static json_t *packages_json(const struct report *rp, const struct sums *sums)
{
	const struct cfs_ws_tree *t = rp->t;
	json_t *v = json_array();

	for (size_t k = 0; k <= t->n_pkgs; k++) {
		/* Package 0, files of no package, last; only if it has any. */
		size_t id = k < t->n_pkgs ? k + 1 : 0;
		const struct cfs_ws_pkg *p = id ? &t->pkgs[id - 1] : NULL;
		json_t *o;

		if (!id && !sums[0].files)
			continue;
		o = json_pack("{s:I,s:o,s:o,s:o}", "id", (json_int_t)id, "name", str(p ? p->name : NULL),
			      "version", str(p ? p->version : NULL), "build", str(p ? p->build : NULL));
		set_sums(o, &sums[id], rp->has_ws);
		json_array_append_new(v, o);
	}
	return v;
}

static json_t *rules_json(const struct report *rp, const struct sums *sums)
{
	json_t *v = json_array();

	for (size_t k = 0; k < rp->n_rules; k++) {
		json_t *o = json_pack("{s:I,s:o,s:o,s:b}", "id", (json_int_t)(k + 1), "origin",
				      str(rp->rules[k].origin), "text", str(rp->rules[k].text),
				      "keep", rp->rules[k].keep);
		set_sums(o, &sums[k + 1], false);
		json_array_append_new(v, o);
	}
	return v;
}

static json_t *strings(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, str(v[i]));
	return a;
}

static json_t *data_json(struct report *rp, struct cfs_report_result *res)
{
	const struct cfs_ws_tree *t = rp->t;
	struct sums *pkgs = cfs_xcalloc(t->n_pkgs + 1, sizeof(*pkgs));
	struct sums *rules = cfs_xcalloc(rp->n_rules + 1, sizeof(*rules));
	struct sums total = { 0 };
	json_t *files, *links, *dirs, *root, *tot;

	dirs = tree_tables(rp, pkgs, rules, &total, &files, &links);
	tot = json_object();
	set_sums(tot, &total, rp->has_ws);
	root = json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:b,s:o}",
		"condafs_report", (json_int_t)CFS_REPORT_VERSION,
		"index", str(rp->o->index), "prefix", str(t->prefix), "platform", str(t->platform),
		"lock_sha256", str(t->lock_sha256),
		"worksets", strings(rp->o->worksets, rp->o->n_worksets),
		"traces", strings(rp->o->traces, rp->o->n_traces), "has_workset", rp->has_ws,
		"totals", tot);
	json_object_set_new(root, "export", json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}",
		"of", rp->has_ws ? "workset" : "all", "files", (json_int_t)rp->exp.files,
		"symlinks", (json_int_t)rp->exp.symlinks, "dirs", (json_int_t)rp->exp.dirs,
		"bytes", (json_int_t)rp->exp.bytes, "tar_bytes", (json_int_t)rp->exp.out_bytes));
	json_object_set_new(root, "packages", packages_json(rp, pkgs));
	json_object_set_new(root, "rules", rules_json(rp, rules));
	json_object_set_new(root, "dirs", dirs);
	json_object_set_new(root, "files", files);
	json_object_set_new(root, "links", links);

	res->files = total.files;
	res->bytes = total.bytes;
	res->pruned_files = total.pruned_files;
	res->pruned_bytes = total.pruned_bytes;
	res->ws_files = total.ws_files;
	res->ws_bytes = total.ws_bytes;
	res->tar_bytes = rp->exp.out_bytes;
	free(pkgs);
	free(rules);
	return root;
}

/* The document, compact, with every '<' escaped so that it cannot end its <script>. */
static char *dump(json_t *root, size_t *len)
{
	char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	size_t n = 0, lt = 0;
	char *out, *w;

	if (!s)
		abort();
	for (const char *p = s; *p; p++, n++)
		lt += *p == '<';
	out = w = cfs_xmalloc(n + lt * 5 + 1);
	for (const char *p = s; *p; p++)
		if (*p == '<')
			w = memcpy(w, "\\u003c", 6) + 6;
		else
			*w++ = *p;
	*w = '\0';
	*len = (size_t)(w - out);
	free(s);
	return out;
}

static errint_t run(struct report *rp, struct cfs_report_result *res)
{
	const struct cfs_report_opts *o = rp->o;
	struct cfs_export_opts eo = {
		.index = o->index, .worksets = o->worksets, .n_worksets = o->n_worksets,
		.all = !rp->has_ws,
	};
	struct cfs_db *db = NULL;
	cleanup_free char *json = NULL;
	size_t len;
	json_t *root;
	int r;

	r = cfs_db_open(o->index, &db, rp->err);
	if (r < 0)
		return r;
	r = cfs_ws_tree_load(db, &rp->t, rp->err);
	if (r == 0)
		r = load_rules(rp, db);
	cfs_db_close(db);
	if (r < 0)
		return r;
	rp->marks = cfs_ws_marks_new(rp->t);
	r = read_traces(rp);
	if (r == 0)
		r = cfs_export_measure(rp->t, &eo, rp->marks, &rp->exp, rp->err);
	if (r < 0)
		return r;
	root = data_json(rp, res);
	json = dump(root, &len);
	json_decref(root);
	return report_write_page(o->output, json, len, &res->page_bytes, rp->err);
}

errint_t cfs_report(const struct cfs_report_opts *o, struct cfs_report_result *res,
		    struct cfs_err *err)
{
	struct report rp = { .o = o, .err = err, .has_ws = o->n_worksets || o->n_traces };
	int r;

	memset(res, 0, sizeof(*res));
	r = run(&rp, res);
	cfs_export_result_release(&rp.exp);
	for (size_t i = 0; i < rp.n_rules; i++) {
		free(rp.rules[i].origin);
		free(rp.rules[i].text);
	}
	free(rp.rules);
	free(rp.marks);
	free(rp.dir_of);
	cfs_ws_tree_free(rp.t);
	return r;
}

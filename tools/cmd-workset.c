/* SPDX-License-Identifier: MIT */
/* condafs workset: traces (and older working sets) into a working set. */
#include <getopt.h>
#include <jansson.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "fsutil.h"
#include "log.h"
#include "workset-build.h"
#include "workset-pack.h"

static const char workset_help[] =
	"usage: condafs workset [TRACE...] -o WS [--index ENV.cfs] [--keep GLOB]... [--merge WS]...\n"
	"                       [--pack [--store DIR]]\n"
	"\n"
	"Makes a working set, the paths an application uses, from traces of profiling\n"
	"runs (condafs run --trace, condafs mount --trace). Every traced path counts\n"
	"(lookups and stats too: Python stats a .py next to its .pyc), with its parent\n"
	"directories, the symlinks on the way and the targets of symlinks. Entries\n"
	"record their package, so the working set still applies after a lock update\n"
	"to the packages that did not change. Prints how much of the environment the\n"
	"working set covers, in total and per package.\n"
	"\n"
	"Options:\n"
	"  -o, --output WS      the working set to write (replaced atomically)\n"
	"  -i, --index ENV.cfs  the index the traces were made on (default: the one the\n"
	"                       first trace names)\n"
	"  -k, --keep GLOB      also keep what GLOB matches (policy glob syntax, e.g.\n"
	"                       'lib/python3.*/encodings/**'); evaluated now and again at\n"
	"                       export time; repeatable\n"
	"  -m, --merge WS       add a working set, rebased on ENV.cfs: entries of packages\n"
	"                       that changed are kept where their paths still exist;\n"
	"                       repeatable (--index NEW.cfs --merge OLD.ws -o NEW.ws rebases)\n"
	"  -p, --pack           then write the working set's pack, in the order the\n"
	"                       traces opened files, and record it in WS (condafs pack)\n"
	"  -s, --store DIR      the store directory for --pack (default: the index's)\n"
	"      --json           print the coverage as JSON\n"
	"  -q, --quiet          only errors\n"
	"  -v, --verbose        more detail (paths a changed package lost)\n"
	"  -h, --help           show this help\n";

struct ws_args {
	const char *output, *index, *store;
	char **keep, **merge;
	size_t n_keep, n_merge;
	bool json, pack;
};

static void push(char ***v, size_t *n, char *s)
{
	*v = cfs_xrealloc(*v, (*n + 1) * sizeof(char *));
	(*v)[(*n)++] = s;
}

/* The "index" of a trace's first line, for a missing --index (caller frees). */
static char *trace_index(const char *path, struct cfs_err *err)
{
	cleanup_file FILE *f = fopen(path, "re");
	cleanup_free char *line = NULL;
	size_t cap = 0;
	json_t *o;
	char *index = NULL;

	if (!f) {
		cfs_err_set(err, errno, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (getline(&line, &cap, f) < 0 || !(o = json_loads(line, 0, NULL))) {
		cfs_err_set(err, EINVAL, "%s: not a condafs trace (no header line)", path);
		return NULL;
	}
	if (json_string_value(json_object_get(o, "index")))
		index = cfs_xstrdup(json_string_value(json_object_get(o, "index")));
	else
		cfs_err_set(err, EINVAL, "%s: the trace names no index; pass --index ENV.cfs", path);
	json_decref(o);
	return index;
}

static json_t *row_json(const struct cfs_ws_cov_row *r)
{
	return json_pack("{s:s?,s:s?,s:s?,s:I,s:I,s:I,s:I}", "name", r->name, "version", r->version,
			 "build", r->build, "env_files", (json_int_t)r->env_files, "env_bytes",
			 (json_int_t)r->env_bytes, "ws_files", (json_int_t)r->ws_files, "ws_bytes",
			 (json_int_t)r->ws_bytes);
}

static double pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * (double)a / (double)b : 0.0;
}

static void print_row(const struct cfs_ws_cov_row *r, int w[3])
{
	char es[32], ws[32];

	cfs_format_size(r->env_bytes, es, sizeof(es));
	cfs_format_size(r->ws_bytes, ws, sizeof(ws));
	printf("%-*s %-*s %-*s %7llu %10s %7llu %10s %6.1f%%\n", w[0],
	       r->name ? r->name : "(no package)", w[1], r->version ? r->version : "", w[2],
	       r->build ? r->build : "", (unsigned long long)r->env_files, es,
	       (unsigned long long)r->ws_files, ws, pct(r->ws_bytes, r->env_bytes));
}

static void print_coverage(const struct ws_args *a, const struct cfs_ws_coverage *c,
			   size_t entries)
{
	int w[3] = { 7, 7, 5 };
	char es[32], ws[32];

	cfs_format_size(c->total.env_bytes, es, sizeof(es));
	cfs_format_size(c->total.ws_bytes, ws, sizeof(ws));
	printf("%s: %zu entries: %llu of %llu files and symlinks (%.1f%%), %s of %s (%.1f%%), "
	       "%llu directories\n\n", a->output, entries, (unsigned long long)c->total.ws_files,
	       (unsigned long long)c->total.env_files, pct(c->total.ws_files, c->total.env_files),
	       ws, es, pct(c->total.ws_bytes, c->total.env_bytes),
	       (unsigned long long)c->ws_dirs);
	for (size_t i = 0; i < c->n_rows; i++) {
		const struct cfs_ws_cov_row *r = &c->rows[i];
		const char *f[3] = { r->name ? r->name : "(no package)", r->version, r->build };
		for (int k = 0; k < 3; k++)
			if (f[k] && (int)strlen(f[k]) > w[k])
				w[k] = (int)strlen(f[k]);
	}
	printf("%-*s %-*s %-*s %7s %10s %7s %10s %7s\n", w[0], "PACKAGE", w[1], "VERSION", w[2],
	       "BUILD", "FILES", "SIZE", "WS", "WS SIZE", "WS %");
	for (size_t i = 0; i < c->n_rows; i++)
		print_row(&c->rows[i], w);
	printf("%-*s %-*s %-*s %7llu %10s %7llu %10s %6.1f%%\n", w[0], "total", w[1], "", w[2], "",
	       (unsigned long long)c->total.env_files, es, (unsigned long long)c->total.ws_files,
	       ws, pct(c->total.ws_bytes, c->total.env_bytes));
}

static void print_json(const struct ws_args *a, const struct cfs_ws_tree *t,
		       const struct cfs_ws_coverage *c, size_t entries, json_t *traces,
		       json_t *changes)
{
	json_t *rows = json_array(), *o;

	for (size_t i = 0; i < c->n_rows; i++)
		json_array_append_new(rows, row_json(&c->rows[i]));
	o = json_pack("{s:s,s:s,s:I,s:I,s:o,s:o,s:o,s:o}", "workset", a->output, "index",
		      t->index_path, "entries", (json_int_t)entries, "dirs",
		      (json_int_t)c->ws_dirs, "total", row_json(&c->total), "packages", rows,
		      "traces", traces, "changed", changes);
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(o);
}

static json_t *changes_json(const struct cfs_ws_apply_report *rep)
{
	json_t *v = json_array();

	for (size_t i = 0; i < rep->n_changes; i++) {
		const struct cfs_ws_change *ch = &rep->changes[i];
		json_t *gone = json_array();
		for (size_t j = 0; j < ch->gone; j++)
			json_array_append_new(gone, json_string(ch->gone_paths[j]));
		json_array_append_new(v, json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:I,s:I,s:o}", "name",
			ch->name, "old_version", ch->old_version, "old_build", ch->old_build,
			"new_version", ch->new_version, "new_build", ch->new_build, "kept",
			(json_int_t)ch->kept, "gone", (json_int_t)ch->gone, "gone_paths", gone));
	}
	return v;
}

/* Rebases the --merge working sets on t; adds their keep globs to a->keep. */
static errint_t merge_worksets(struct ws_args *a, const struct cfs_ws_tree *t, uint8_t *marks,
			       json_t *changes, struct cfs_err *err)
{
	for (size_t i = 0; i < a->n_merge; i++) {
		struct cfs_ws_apply_report rep;
		struct cfs_workset *ws;
		int r = cfs_workset_load(a->merge[i], &ws, err);

		if (r < 0)
			return r;
		if (strcmp(ws->prefix, t->prefix) != 0) {
			r = cfs_err_set(err, EINVAL, "%s: working set for prefix %s, but %s is for %s",
					a->merge[i], ws->prefix, t->index_path, t->prefix);
			cfs_workset_free(ws);
			return r;
		}
		cfs_workset_apply(t, marks, ws, &rep);
		json_t *ch = changes_json(&rep);
		json_array_extend(changes, ch);
		json_decref(ch);
		cfs_ws_apply_report_release(&rep);
		for (size_t k = 0; k < ws->n_keep; k++)
			push(&a->keep, &a->n_keep, cfs_xstrdup(ws->keep[k]));
		cfs_workset_free(ws);
	}
	return 0;
}

static errint_t build(struct ws_args *a, char **traces, size_t n_traces, size_t n_cli_keep,
		      struct cfs_err *err)
{
	struct cfs_ws_tree *t = NULL;
	struct cfs_ws_coverage cov;
	struct cfs_workset *ws;
	struct cfs_db *db;
	json_t *jt = json_array(), *jc = json_array();
	uint8_t *marks = NULL;
	int r = cfs_db_open(a->index, &db, err);

	if (r == 0) {
		r = cfs_ws_tree_load(db, &t, err);
		cfs_db_close(db);
	}
	if (r == 0) {
		marks = cfs_ws_marks_new(t);
		r = merge_worksets(a, t, marks, jc, err);
	}
	for (size_t i = 0; r == 0 && i < n_traces; i++) {
		struct cfs_ws_trace_stats st;

		r = cfs_ws_read_trace(t, marks, traces[i], &st, err);
		if (r < 0)
			break;
		if (st.missing)
			cfs_warn("%s: %zu traced paths are not in %s (or pruned there)", traces[i],
				 st.missing, t->index_path);
		cfs_info("%s: %zu runs, %zu events, %zu new paths", traces[i], st.runs, st.events,
			 st.paths);
		json_array_append_new(jt, json_pack("{s:s,s:I,s:I,s:I,s:I}", "path", traces[i],
			"runs", (json_int_t)st.runs, "events", (json_int_t)st.events, "paths",
			(json_int_t)st.paths, "missing", (json_int_t)st.missing));
		free(st.index);
	}
	for (size_t i = 0; r == 0 && i < a->n_keep; i++) {
		ssize_t m = cfs_ws_mark_keep(t, marks, &a->keep[i], 1, err);
		if (m < 0)
			r = (int)m;
		else if (m == 0 && i < n_cli_keep)
			cfs_warn("--keep '%s' matches nothing in %s", a->keep[i], t->index_path);
	}
	if (r == 0) {
		ws = cfs_ws_tree_to_workset(t, marks, a->keep, a->n_keep);
		r = cfs_workset_save(ws, a->output, err);
		if (r == 0) {
			cfs_ws_coverage(t, marks, &cov);
			if (a->json)
				print_json(a, t, &cov, ws->n_entries, json_incref(jt), json_incref(jc));
			else if (cfs_log_get_level() > CFS_LOG_ERROR)
				print_coverage(a, &cov, ws->n_entries);
			cfs_ws_coverage_release(&cov);
		}
		cfs_workset_free(ws);
	}
	json_decref(jt);
	json_decref(jc);
	free(marks);
	cfs_ws_tree_free(t);
	return r;
}

/* --pack: the working set just written, packed in the traces' order. */
static errint_t pack(const struct ws_args *a, char **traces, size_t n_traces,
		     struct cfs_err *err)
{
	struct cfs_ws_pack_opts o = {
		.workset = a->output, .traces = traces, .n_traces = n_traces, .store = a->store,
	};
	struct cfs_ws_pack_result res;
	struct cfs_db *db;
	int r = cfs_db_open(a->index, &db, err);

	if (r == 0) {
		r = cfs_workset_pack(db, &o, &res, err);
		cfs_db_close(db);
	}
	if (r == 0 && !a->json && cfs_log_get_level() > CFS_LOG_ERROR)
		cli_print_pack(a->output, &res);
	return r;
}

int cmd_workset(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "index", required_argument, NULL, 'i' },
		{ "keep", required_argument, NULL, 'k' },
		{ "merge", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'J' },
		{ "pack", no_argument, NULL, 'p' },
		{ "store", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ws_args a = { 0 };
	cleanup_free char *index = NULL;
	int verbose = 0, quiet = 0, c, status = 0;
	size_t n_cli_keep;
	struct cfs_err err;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:i:k:m:ps:qvh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': a.output = optarg; break;
		case 'i': a.index = optarg; break;
		case 'k': push(&a.keep, &a.n_keep, cfs_xstrdup(optarg)); break;
		case 'm': push(&a.merge, &a.n_merge, optarg); break;
		case 'J': a.json = true; break;
		case 'p': a.pack = true; break;
		case 's': a.store = optarg; break;
		case 'q': quiet++; break;
		case 'v': verbose++; break;
		case 'h': fputs(workset_help, stdout); goto out;
		default: status = cli_bad_option("workset", argv, "o:i:k:m:ps:qvh"); goto out;
		}
	}
	cli_set_verbosity(verbose, quiet);
	n_cli_keep = a.n_keep;
	if (!a.output) {
		status = cli_usage("workset", "-o WS is required");
	} else if (optind == argc && !a.n_merge && !a.n_keep) {
		status = cli_usage("workset", "expected traces, --merge WS or --keep GLOB");
	} else if (!a.index && optind == argc) {
		status = cli_usage("workset", "--index ENV.cfs is required without traces");
	} else if (a.store && !a.pack) {
		status = cli_usage("workset", "--store DIR goes with --pack");
	} else {
		if (!a.index && !(a.index = index = trace_index(argv[optind], &err)))
			status = cli_fail(&err);
		else if (build(&a, argv + optind, (size_t)(argc - optind), n_cli_keep, &err) < 0)
			status = cli_fail(&err);
		else if (a.pack && pack(&a, argv + optind, (size_t)(argc - optind), &err) < 0)
			status = cli_fail(&err);
	}
out:
	for (size_t i = 0; i < a.n_keep; i++)
		free(a.keep[i]);
	free(a.keep);
	free(a.merge);
	return status;
}

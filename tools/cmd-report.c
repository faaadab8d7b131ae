/* SPDX-License-Identifier: MIT */
/* condafs report: one self-contained HTML page of an environment and its working set. */
#include <getopt.h>
#include <string.h>

#include "cli.h"
#include "fsutil.h"
#include "report.h"

static const char report_help[] =
	"usage: condafs report ENV.cfs [--workset WS]... [--trace TRACE]... -o REPORT.html\n"
	"\n"
	"Writes one HTML page, self-contained (it loads nothing), of what the\n"
	"environment holds and what an application uses: a summary (the\n"
	"environment, what prune rules removed, the working set and their shares),\n"
	"a zoomable treemap of packages, directories and files by bytes, each file\n"
	"coloured by its state (in the working set, kept but unused, or pruned by\n"
	"which rule), a sortable table of packages, the prune rules and what each\n"
	"saved, and the size of the tar condafs export would write. Without a\n"
	"working set the page sets what is kept against what was pruned. The same\n"
	"inputs always give the same bytes. Only the index is read, not the store.\n"
	"\n"
	"Options:\n"
	"  -o, --output FILE    the page to write (replaced atomically)\n"
	"  -w, --workset WS     a working set (condafs workset), applied to ENV.cfs as\n"
	"                       condafs export applies it; repeatable\n"
	"  -t, --trace TRACE    a trace (condafs run --trace, condafs mount --trace): its\n"
	"                       paths count as condafs workset would count them; repeatable\n"
	"  -q, --quiet          only errors\n"
	"  -v, --verbose        more detail\n"
	"  -h, --help           show this help\n";

static void print_result(const char *out, const struct cfs_report_result *r)
{
	char page[32], env[32], ws[32], tar[32];

	cfs_format_size(r->page_bytes, page, sizeof(page));
	cfs_format_size(r->bytes, env, sizeof(env));
	cfs_format_size(r->ws_bytes, ws, sizeof(ws));
	cfs_format_size(r->tar_bytes, tar, sizeof(tar));
	printf("%s: %s; the environment: %llu files, %s, %llu pruned (%.1f%% of the bytes)",
	       out, page, (unsigned long long)r->files, env, (unsigned long long)r->pruned_files,
	       r->bytes ? 100.0 * (double)r->pruned_bytes / (double)r->bytes : 0.0);
	if (r->ws_files)
		printf("; working set: %llu files, %s (%.1f%%)", (unsigned long long)r->ws_files, ws,
		       r->bytes ? 100.0 * (double)r->ws_bytes / (double)r->bytes : 0.0);
	printf("; export: a tar of %s\n", tar);
}

static void push(char ***v, size_t *n, char *s)
{
	*v = cfs_xrealloc(*v, (*n + 1) * sizeof(char *));
	(*v)[(*n)++] = s;
}

int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "workset", required_argument, NULL, 'w' },
		{ "trace", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cfs_report_opts o = { 0 };
	struct cfs_report_result res;
	cleanup_free char **worksets = NULL, **traces = NULL;
	int verbose = 0, quiet = 0, c;
	struct cfs_err err;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:w:t:qvh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': o.output = optarg; break;
		case 'w': push(&worksets, &o.n_worksets, optarg); break;
		case 't': push(&traces, &o.n_traces, optarg); break;
		case 'q': quiet++; break;
		case 'v': verbose++; break;
		case 'h': fputs(report_help, stdout); return 0;
		default: return cli_bad_option("report", argv, "o:w:t:qvh");
		}
	}
	cli_set_verbosity(verbose, quiet);
	if (optind + 1 != argc)
		return cli_usage("report", "expected one index file");
	if (!o.output || !*o.output)
		return cli_usage("report", "-o REPORT.html is required");
	o.index = argv[optind];
	o.worksets = worksets;
	o.traces = traces;
	if (cfs_report(&o, &res, &err) < 0)
		return cli_fail(&err);
	if (!quiet)
		print_result(o.output, &res);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* condafs pack: a working set's objects in one pack, in first-access order. */
#include <getopt.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "fsutil.h"
#include "workset-pack.h"

static const char pack_help[] =
	"usage: condafs pack ENV.cfs --workset WS [--trace TRACE]... [--store DIR]\n"
	"\n"
	"Writes the store objects of the files working set WS lists (those ENV.cfs\n"
	"serves, each once) into one pack, packs/<sha256>.pack in the store, so that a\n"
	"mount fetches them with one request, and records the pack in WS (its \"pack\"\n"
	"member, replaced atomically).  Objects come in first-access order: the order\n"
	"of the traces' \"open\" lines (traces in the order given), then the working\n"
	"set's other files in its entry order.  Prints the objects, bytes and name.\n"
	"\n"
	"Options:\n"
	"  -w, --workset WS    the working set to pack (condafs workset -o WS)\n"
	"  -t, --trace TRACE   a trace of profiling runs giving the order (repeatable)\n"
	"  -s, --store DIR     the store directory to write to (default: the index's);\n"
	"                      for an S3 or HTTP store, pack into a directory and\n"
	"                      condafs push it\n"
	"  -q, --quiet         only errors\n"
	"  -h, --help          show this help\n";

/* Prints "WS: packed N objects (SIZE) into packs/<hex>.pack". */
void cli_print_pack(const char *workset, const struct cfs_ws_pack_result *res)
{
	char b[32];

	cfs_format_size(res->bytes, b, sizeof(b));
	printf("%s: packed %zu objects (%s, %llu bytes) into %s%s\n", workset, res->objects, b,
	       (unsigned long long)res->bytes, res->name, res->written ? "" : " (already there)");
}

int cmd_pack(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "workset", required_argument, NULL, 'w' },
		{ "trace", required_argument, NULL, 't' },
		{ "store", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cfs_ws_pack_opts o = { 0 };
	struct cfs_ws_pack_result res;
	cleanup_free char **traces = NULL;
	cleanup_db struct cfs_db *db = NULL;
	struct cfs_err err;
	bool quiet = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "w:t:s:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'w': o.workset = optarg; break;
		case 't':
			traces = cfs_xrealloc(traces, (o.n_traces + 1) * sizeof(*traces));
			traces[o.n_traces++] = optarg;
			break;
		case 's': o.store = optarg; break;
		case 'q': quiet = true; break;
		case 'h': fputs(pack_help, stdout); return 0;
		default: return cli_bad_option("pack", argv, "w:t:s:qh");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("pack", "expected one index file");
	if (!o.workset)
		return cli_usage("pack", "--workset WS is required");
	o.traces = traces;
	if (cfs_db_open(argv[optind], &db, &err) < 0 || cfs_workset_pack(db, &o, &res, &err) < 0)
		return cli_fail(&err);
	if (!quiet)
		cli_print_pack(o.workset, &res);
	return 0;
}

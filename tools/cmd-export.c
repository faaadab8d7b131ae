/* SPDX-License-Identifier: MIT */
/* condafs export: working sets as a directory, a tar or an OCI image. */
#include <getopt.h>
#include <string.h>

#include "cli.h"
#include "export.h"
#include "fs.h"
#include "fsutil.h"

static const char export_help[] =
	"usage: condafs export ENV.cfs (--workset WS... | --all) -o OUT [--format F] [options]\n"
	"\n"
	"Writes the files of one or more working sets (their union) of an index, or\n"
	"of the whole served environment, under the environment's prefix (/env gives\n"
	"env/... in a tar): a directory tree, a tar archive, or an OCI image layout.\n"
	"Contents come from the object cache of the profiling mounts when it has\n"
	"them (files the daemons verified before naming them, checked for size, as a\n"
	"mount serves them), else from the store, decompressed and verified against\n"
	"the index's sha256. The same inputs always give the same bytes.\n"
	"Pruned paths are never exported.\n"
	"\n"
	"Options:\n"
	"  -w, --workset FILE       a working set (condafs workset); repeatable\n"
	"      --all                the whole served environment instead\n"
	"  -o, --output OUT         the file (tar formats) or directory (dir, oci) to write;\n"
	"                           replaced atomically; - writes a tar to standard output\n"
	"  -f, --format F           dir, tar, tar.gz, tar.zst or oci (default: from the name\n"
	"                           of OUT: .tar, .tar.gz/.tgz, .tar.zst)\n"
	"  -s, --store DIR          the store to read (default: the one the index names)\n"
	"      --cache DIR          a mount's object cache to read first (default: the\n"
	"                           mounts' default, /var/cache/condafs for root)\n"
	"      --no-cache           decode every file from the store\n"
	"      --verify             also hash the files read from the cache\n"
	"      --with-conda-meta    also conda-meta/<package>.json of every exported package\n"
	"                           and conda-meta/history\n"
	"\n"
	"OCI images (--format oci):\n"
	"      --name REF           image reference (default condafs/<index name>:latest)\n"
	"      --entrypoint CMD[,ARG...]\n"
	"                           the image's entry point\n"
	"      --base TARBALL       a tar (plain or gzip) to add as the lower layer, e.g.\n"
	"                           the C library the environment's programs need\n"
	"      --compression C      layer compression: gzip (default) or zstd\n"
	"\n"
	"  -q, --quiet              only errors\n"
	"  -v, --verbose            more detail (paths a changed package lost)\n"
	"  -h, --help               show this help\n"
	"\n"
	"Load an OCI export with: tar -C OUT -cf image.tar . && podman load -i image.tar\n";

static char **split_commas(const char *s, size_t *n)
{
	cleanup_free char *copy = cfs_xstrdup(s);
	char **v = NULL, *save = NULL;

	*n = 0;
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		v = cfs_xrealloc(v, (*n + 1) * sizeof(char *));
		v[(*n)++] = cfs_xstrdup(w);
	}
	return v;
}

static void print_result(const struct cfs_export_opts *o, const struct cfs_export_result *res)
{
	/* With -o -, stdout carries the archive. */
	FILE *f = strcmp(o->output, "-") == 0 ? stderr : stdout;
	char sz[32], env[32], out[32];

	cfs_format_size(res->bytes, sz, sizeof(sz));
	cfs_format_size(res->env_bytes, env, sizeof(env));
	cfs_format_size(res->out_bytes, out, sizeof(out));
	fprintf(f, "%s: %llu files, %llu symlinks, %llu directories, %s: %.1f%% of the "
		"environment's %s, %.1f%% of its %llu files and symlinks\n",
		strcmp(o->output, "-") == 0 ? "standard output" : o->output,
	       (unsigned long long)res->files, (unsigned long long)res->symlinks,
	       (unsigned long long)res->dirs, sz,
	       res->env_bytes ? 100.0 * (double)res->bytes / (double)res->env_bytes : 0.0, env,
	       res->env_files ? 100.0 * (double)(res->files + res->symlinks) / (double)res->env_files
			      : 0.0, (unsigned long long)res->env_files);
	if (o->format == CFS_EXPORT_OCI)
		fprintf(f, "image %s, manifest %s, layer %s (%s)\n", res->name, res->manifest_digest,
			res->layer_digest, out);
	else if (o->format != CFS_EXPORT_DIR)
		fprintf(f, "archive: %s\n", out);
	if (res->files && o->cache)
		fprintf(f, "%llu of %llu files from the cache %s, the others decoded from the store\n",
			(unsigned long long)res->from_cache, (unsigned long long)res->files, o->cache);
}

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "workset", required_argument, NULL, 'w' },
		{ "all", no_argument, NULL, 'A' },
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "store", required_argument, NULL, 's' },
		{ "cache", required_argument, NULL, 'c' },
		{ "no-cache", no_argument, NULL, 'n' },
		{ "verify", no_argument, NULL, 'V' },
		{ "with-conda-meta", no_argument, NULL, 'M' },
		{ "name", required_argument, NULL, 'N' },
		{ "entrypoint", required_argument, NULL, 'E' },
		{ "base", required_argument, NULL, 'B' },
		{ "compression", required_argument, NULL, 'C' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cfs_export_opts o = { .compression = CFS_COMP_GZIP };
	struct cfs_export_result res;
	const char *format = NULL, *comp = NULL, *entrypoint = NULL;
	char **worksets = NULL, **ep = NULL;
	cleanup_free char *default_cache = NULL;
	size_t n_ws = 0, n_ep = 0;
	int verbose = 0, quiet = 0, c, status = 0;
	bool no_cache = false;
	struct cfs_err err;

	optind = 1;
	while ((c = getopt_long(argc, argv, "w:o:f:s:qvh", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			worksets = cfs_xrealloc(worksets, (n_ws + 1) * sizeof(char *));
			worksets[n_ws++] = optarg;
			break;
		case 'A': o.all = true; break;
		case 'o': o.output = optarg; break;
		case 'f': format = optarg; break;
		case 's': o.store = optarg; break;
		case 'c': o.cache = optarg; break;
		case 'n': no_cache = true; break;
		case 'V': o.verify_cache = true; break;
		case 'M': o.with_conda_meta = true; break;
		case 'N': o.name = optarg; break;
		case 'E': entrypoint = optarg; break;
		case 'B': o.base = optarg; break;
		case 'C': comp = optarg; break;
		case 'q': quiet++; break;
		case 'v': verbose++; break;
		case 'h': fputs(export_help, stdout); return 0;
		default: free(worksets); return cli_bad_option("export", argv, "w:o:f:s:qvh");
		}
	}
	cli_set_verbosity(verbose, quiet);
	o.worksets = worksets;
	o.n_worksets = n_ws;
	if (optind + 1 != argc)
		status = cli_usage("export", "expected one index file");
	else if (!o.output)
		status = cli_usage("export", "-o OUT is required");
	else if (!n_ws && !o.all)
		status = cli_usage("export", "give --workset FILE (repeatable) or --all");
	else if (!format && strcmp(o.output, "-") == 0)
		o.format = CFS_EXPORT_TAR;
	else if (format && cfs_export_parse_format(format, &o.format) < 0)
		status = cli_usage("export", "unknown format '%s' (dir, tar, tar.gz, tar.zst or oci)",
				   format);
	else if (!format && cfs_export_format_from_name(o.output, &o.format) < 0)
		status = cli_usage("export", "--format is needed: '%s' does not end in .tar, "
				   ".tar.gz or .tar.zst", o.output);
	else if (comp && strcmp(comp, "gzip") != 0 && strcmp(comp, "zstd") != 0)
		status = cli_usage("export", "--compression wants gzip or zstd, not '%s'", comp);
	else if (strcmp(o.output, "-") == 0 &&
		 (o.format == CFS_EXPORT_DIR || o.format == CFS_EXPORT_OCI))
		status = cli_usage("export", "-o - (standard output) is for tar formats, not %s",
				   o.format == CFS_EXPORT_DIR ? "dir" : "oci");
	else if (o.format != CFS_EXPORT_OCI && (o.base || entrypoint || o.name || comp))
		status = cli_usage("export", "--base, --entrypoint, --name and --compression are "
				   "for --format oci");
	if (status) {
		free(worksets);
		return status;
	}
	o.index = argv[optind];
	if (no_cache)
		o.cache = NULL;
	else if (!o.cache)
		o.cache = default_cache = cfs_fs_default_cache_dir();
	if (comp && strcmp(comp, "zstd") == 0)
		o.compression = CFS_COMP_ZSTD;
	if (entrypoint) {
		ep = split_commas(entrypoint, &n_ep);
		o.entrypoint = ep;
		o.n_entrypoint = n_ep;
	}
	if (cfs_export(&o, &res, &err) < 0)
		status = cli_fail(&err);
	else if (!quiet)
		print_result(&o, &res);
	cfs_export_result_release(&res);
	for (size_t i = 0; i < n_ep; i++)
		free(ep[i]);
	free(ep);
	free(worksets);
	return status;
}

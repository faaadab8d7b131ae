/* SPDX-License-Identifier: MIT */
/* condafs mount, umount and stats: the FUSE daemon's command line. */
#include <getopt.h>
#include <jansson.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "fs.h"
#include "fsutil.h"
#include "log.h"
#include "mount-opts.h"

static const char mount_help[] =
	"usage: condafs mount ENV.cfs MOUNTPOINT [options]\n"
	"\n"
	"Serves the environment described by ENV.cfs read-only at MOUNTPOINT.\n"
	"Nothing is fetched at mount time: each file's content is fetched from the\n"
	"store on its first open, verified, and kept in a cache shared by all\n"
	"mounts.  Returns once the mount is ready; the daemon then runs in the\n"
	"background, logging to syslog, until 'condafs umount MOUNTPOINT'.\n"
	"\n"
	"Options:\n"
	"      --store URL|DIR        where objects come from: a directory, or a file://,\n"
	"                             http://, https:// or s3://bucket/prefix URL\n"
	"                             (default: the index's store)\n"
	"      --cache DIR            object cache (default: %s)\n"
	"      --cache-size SIZE      bound on the cache, e.g. 512M, 2G (default 10G)\n"
	"      --fetch-timeout SECS   give up on one file's fetch after SECS, all\n"
	"                             attempts together (default %d); the open fails with EIO\n"
	"      --fetch-retries N      extra attempts after a transient failure (default %d)\n"
	"      --pruned=enoent|fetch  paths the index pruned are absent (default), or\n"
	"                             served; either way the first access of each is\n"
	"                             logged with the process and the rule that pruned it\n"
	"      --trace FILE           append the first lookup, getattr, open, readlink\n"
	"                             and readdir of each path to FILE (JSON lines)\n"
	"      --workset WS --strict  serve only the paths of working set WS; others are\n"
	"                             ENOENT and their first access is logged\n"
	"      --prefetch FILE        once mounted, fetch the objects of a working set or\n"
	"                             trace into the cache, in first-access order\n"
	"      --prefetch-jobs N      concurrent prefetches from a local store (default %d)\n"
	"      --no-packs             fetch every object alone (http, s3): no pack ranges\n"
	"      --speculate SIZE       bytes of a missed file's pack neighbours brought\n"
	"                             into the cache with it (default 256K; 0: none)\n"
	"      --stream-packs WHEN    after a miss, fetch the rest of its package's pack in\n"
	"                             the background, and the heads of its dependencies':\n"
	"                             never, fast (default: once the link has shown\n"
	"                             200 Mbit/s and 2 ms round trips) or always\n"
	"      --http-version V       1.1, 2 or auto (default: HTTP/2 where https offers it)\n"
	"      --cacert FILE          CA certificates for an https store\n"
	"      --no-passthrough       serve every read from the daemon; by default a\n"
	"                             cached file is handed to the kernel, which reads\n"
	"                             it without the daemon (libfuse >= 3.16, root)\n"
	"      --no-open              the kernel opens files without asking the daemon\n"
	"                             and keeps their pages across opens: fastest for\n"
	"                             programs started again and again on one mount;\n"
	"                             reads the page cache lacks go through the daemon\n"
	"                             (no passthrough; ignored with --trace)\n"
	"  -f, --foreground           stay in the foreground and log to stderr\n"
	"      --log-file FILE        in the background, append the log to FILE, not syslog\n"
	"  -s, --single-thread        serve one request at a time (for comparison)\n"
	"  -o OPTS                    FUSE mount options (allow_other, ...), and\n"
	"                             store=, cache=, cache_size=, fetch_timeout=,\n"
	"                             fetch_retries=, pruned=, trace=, workset=, strict,\n"
	"                             prefetch=, prefetch_jobs=, no_packs, speculate=,\n"
	"                             http_version=, cacert=, no_passthrough, no_open as for\n"
	"                             mount -t fuse.condafs\n"
	"  -d, --debug                trace every FUSE request (implies -f)\n"
	"  -q, --quiet                only errors\n"
	"  -v, --verbose              more detail (twice for debug output)\n"
	"  -h, --help                 show this help\n";

enum { OPT_LOG_FILE = CLI_MOUNT_OPT + 1 };

/* Takes condafs's own settings out of a -o list; the rest goes to FUSE. */
/*
 * Parses a copy of list: argv stays as given, for ps(1) to show (mount(8)
 * starts the daemon this way), and the options point into the copy, which
 * lives as long as the process.
 */
static int parse_o(const char *arg, struct cfs_fs_opts *o, struct cfs_buf *fuse_opts)
{
	static char **copies;
	static size_t n_copies;
	char *save = NULL, *list = cfs_xstrdup(arg);
	struct cfs_err err;

	copies = cfs_xrealloc(copies, (n_copies + 1) * sizeof(*copies));
	copies[n_copies++] = list;

	for (char *opt = strtok_r(list, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		char *val = strchr(opt, '=');
		int r;

		if (val)
			*val++ = '\0';
		r = cfs_fs_opts_set(o, opt, val, &err);
		if (r == -EINVAL)
			return cli_usage("mount", "-o %s", err.msg);
		if (r == 0 || !*opt)
			continue;
		if (fuse_opts->len)
			cfs_buf_addstr(fuse_opts, ",");
		cfs_buf_addstr(fuse_opts, opt);
		if (val) {
			cfs_buf_addstr(fuse_opts, "=");
			cfs_buf_addstr(fuse_opts, val);
		}
	}
	return -1;
}

int cmd_mount(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_MOUNT_LONG_OPTS,
		{ "foreground", no_argument, NULL, 'f' },
		{ "log-file", required_argument, NULL, OPT_LOG_FILE },
		{ "single-thread", no_argument, NULL, 's' },
		{ "debug", no_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cfs_fs_opts o;
	cleanup_buf struct cfs_buf fuse_opts;
	cleanup_free char *default_cache = cfs_fs_default_cache_dir();
	struct cfs_err err;
	int c, idx, verbose = 0, quiet = 0, r;

	cfs_fs_opts_init(&o);
	cfs_buf_init(&fuse_opts, 1 << 16);
	optind = 1;
	while ((c = getopt_long(argc, argv, "so:fdqvh", opts, &idx)) != -1) {
		switch (c) {
		case CLI_MOUNT_OPT:
			if ((r = cli_mount_opt_set(&o, "mount", &opts[idx], optarg)) != 0)
				return r;
			break;
		case 'f': o.foreground = true; break;
		case OPT_LOG_FILE: o.log_file = optarg; break;
		case 's': o.single_thread = true; break;
		case 'd': o.debug = o.foreground = true; break;
		case 'q': quiet++; break;
		case 'v': verbose++; break;
		case 'o':
			if ((r = parse_o(optarg, &o, &fuse_opts)) >= 0)
				return r;
			break;
		case 'h':
			printf(mount_help, default_cache, CFS_FS_DEFAULT_FETCH_TIMEOUT,
			       CFS_FS_DEFAULT_FETCH_RETRIES, CFS_FS_DEFAULT_PREFETCH_JOBS);
			return 0;
		default: return cli_bad_option("mount", argv, "so:fdqvh");
		}
	}
	if (optind + 2 != argc)
		return cli_usage("mount", "expected ENV.cfs MOUNTPOINT");
	if (cfs_fs_opts_check(&o, &err) < 0)
		return cli_usage("mount", "%s", err.msg);
	cli_set_verbosity(o.debug ? 2 : verbose, quiet);
	o.index = argv[optind];
	o.mountpoint = argv[optind + 1];
	o.fuse_opts = fuse_opts.data;
	if (cfs_fs_mount(&o, &err) < 0)
		return cli_fail(&err);
	return 0;
}

static const char umount_help[] =
	"usage: condafs umount MOUNTPOINT [-z]\n"
	"\n"
	"Unmounts a condafs mount; its daemon then exits.  Files that processes\n"
	"still have open keep the mount busy unless -z is given.\n"
	"\n"
	"Options:\n"
	"  -z, --lazy    detach now, finish when the last file is closed\n"
	"  -h, --help    show this help\n";

int cmd_umount(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lazy", no_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cfs_err err;
	bool lazy = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "zh", opts, NULL)) != -1) {
		switch (c) {
		case 'z': lazy = true; break;
		case 'h': fputs(umount_help, stdout); return 0;
		default: return cli_bad_option("umount", argv, "zh");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("umount", "expected MOUNTPOINT");
	if (cfs_fs_umount(argv[optind], lazy, &err) < 0)
		return cli_fail(&err);
	return 0;
}

static const char stats_help[] =
	"usage: condafs stats MOUNTPOINT [--json]\n"
	"\n"
	"Shows a live mount's counters: opens, cache hits and misses, objects and\n"
	"bytes fetched from the store, bytes served, fetch errors, evictions,\n"
	"fetch latency, pruned paths accessed, paths refused by --strict, trace\n"
	"lines and prefetch progress.  They are read from the extended attribute\n"
	"user.condafs.stats of the mount's root, which holds the same JSON.\n"
	"\n"
	"Options:\n"
	"      --json    the raw JSON object\n"
	"  -h, --help    show this help\n";

static void row_count(json_t *o, const char *label, const char *key)
{
	printf("%-18s %llu\n", label, (unsigned long long)json_integer_value(json_object_get(o, key)));
}

static void row_bytes(json_t *o, const char *label, const char *key)
{
	char b[32];
	uint64_t v = (uint64_t)json_integer_value(json_object_get(o, key));

	cfs_format_size(v, b, sizeof(b));
	printf("%-18s %s\n", label, b);
}

int cmd_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	cleanup_free char *text = NULL;
	struct cfs_err err;
	bool as_json = false;
	json_t *o;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'J': as_json = true; break;
		case 'h': fputs(stats_help, stdout); return 0;
		default: return cli_bad_option("stats", argv, "h");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("stats", "expected MOUNTPOINT");
	if (cfs_fs_read_stats(argv[optind], &text, &err) < 0)
		return cli_fail(&err);
	o = json_loads(text, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		fprintf(stderr, "condafs: %s: malformed stats\n", argv[optind]);
		return 1;
	}
	if (as_json) {
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	} else {
		printf("%-18s %s\n", "store", json_string_value(json_object_get(o, "store")));
		printf("%-18s %s\n", "cache", json_string_value(json_object_get(o, "cache")));
		row_count(o, "daemon pid", "pid");
		row_count(o, "uptime (s)", "uptime");
		row_count(o, "files", "files");
		row_count(o, "opens", "opens");
		row_count(o, "cache hits", "cache_hits");
		row_count(o, "cache misses", "cache_misses");
		row_count(o, "objects fetched", "objects_fetched");
		row_count(o, "fetch errors", "fetch_errors");
		row_bytes(o, "bytes fetched", "bytes_fetched");
		row_bytes(o, "bytes cached", "bytes_cached");
		row_bytes(o, "bytes served", "bytes_served");
		printf("%-18s %s, %lld opens\n", "passthrough",
		       json_is_true(json_object_get(o, "passthrough")) ? "on" : "off",
		       json_integer_value(json_object_get(o, "passthrough_opens")));
		if (json_integer_value(json_object_get(o, "stored_ahead")))
			row_count(o, "stored ahead", "stored_ahead");
		row_count(o, "open objects", "open_objects");
		row_count(o, "evictions", "evictions");
		row_bytes(o, "evicted", "evicted_bytes");
		row_bytes(o, "cache size", "cache_bytes");
		printf("%-18s %s\n", "pruned paths", json_string_value(json_object_get(o, "pruned")));
		row_count(o, "pruned accesses", "pruned_accesses");
		if (json_is_true(json_object_get(o, "strict")))
			row_count(o, "strict refused", "strict_refused");
		if (json_integer_value(json_object_get(o, "trace_lines")))
			row_count(o, "trace lines", "trace_lines");
		if (json_integer_value(json_object_get(o, "prefetch_objects"))) {
			printf("%-18s %lld of %lld (%lld fetched, %lld failed)\n", "prefetch",
			       json_integer_value(json_object_get(o, "prefetch_done")),
			       json_integer_value(json_object_get(o, "prefetch_objects")),
			       json_integer_value(json_object_get(o, "prefetched")),
			       json_integer_value(json_object_get(o, "prefetch_errors")));
		}
		if (json_integer_value(json_object_get(o, "http_requests"))) {
			row_count(o, "HTTP requests", "http_requests");
			row_count(o, "  pack ranges", "range_requests");
			row_count(o, "  over HTTP/2", "http2_requests");
			row_count(o, "objects in ranges", "pack_objects");
			row_count(o, "speculated", "speculated");
			row_count(o, "fetched alone", "fallbacks");
			row_count(o, "packs streamed", "streamed_packs");
			row_count(o, "dependencies ahead", "dependency_heads");
			printf("%-18s %.0f Mbit/s\n", "link rate",
			       json_integer_value(json_object_get(o, "link_rate")) * 8 / 1e6);
			printf("%-18s %.1f ms\n", "first byte after",
			       json_integer_value(json_object_get(o, "link_wait_us")) / 1000.0);
		} else if (json_integer_value(json_object_get(o, "pack_objects")) ||
			   json_integer_value(json_object_get(o, "fallbacks"))) {
			/* A local store. */
			row_count(o, "objects from packs", "pack_objects");
			row_count(o, "speculated", "speculated");
			row_count(o, "fetched alone", "fallbacks");
		}
		printf("%-18s %lld, %lld ms in all\n", "opens that waited",
		       json_integer_value(json_object_get(o, "fetch_waits")),
		       json_integer_value(json_object_get(o, "fetch_wait_ms")));
		printf("%-18s %.1f ms\n", "fetch p50", json_integer_value(json_object_get(o, "fetch_p50_us")) / 1000.0);
		printf("%-18s %.1f ms\n", "fetch p99", json_integer_value(json_object_get(o, "fetch_p99_us")) / 1000.0);
	}
	json_decref(o);
	return fflush(stdout) == 0 ? 0 : 1;
}

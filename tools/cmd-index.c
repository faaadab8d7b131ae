/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "config.h"
#include "db.h"
#include "fsutil.h"
#include "indexer.h"
#include "log.h"

static const char index_help[] =
	"usage: condafs index LOCK -o ENV.cfs --store DIR [options]\n"
	"\n"
	"Reads a conda-lock.yml (version 1), a pixi.lock (versions 4 to 7) or an\n"
	"@EXPLICIT lock file, fetches and verifies every package, installs the conda\n"
	"packages as conda would and the wheels as pip would for PREFIX, stores each\n"
	"distinct file content in the store and writes the index ENV.cfs.  Relative\n"
	"paths in the lock are relative to the lock file.\n"
	"\n"
	"Options:\n"
	"  -o, --output FILE        index to write (replaced atomically)\n"
	"  -s, --store DIR          content-addressed store directory (created if needed)\n"
	"      --prefix PATH        where the environment will live (default " CFS_DEFAULT_PREFIX ")\n"
	"      --platform P         platform to install (default: this machine's, %s)\n"
	"  -e, --environment NAME   pixi.lock environment to install (default: default)\n"
	"      --cache DIR          package download cache (default: %s)\n"
	"  -j, --jobs N             downloads, installs and bytecode compiles at once\n"
	"                           (default 4)\n"
	"      --mirror FROM=TO     rewrite package URLs starting with FROM (repeatable)\n"
	"      --policy FILE        prune policy file (repeatable; see condafs policy)\n"
	"      --preset NAME[,NAME] built-in prune presets (see condafs policy list)\n"
	"      --skip-unbuildable   skip, with a warning, lock entries condafs cannot\n"
	"                           install (source distributions, git and local\n"
	"                           directory entries); by default they are an error\n"
	"      --allow-unverified   accept packages that have no hash in the lock\n"
	"      --no-packs           write no packs (one file of a package's objects, for\n"
	"                           mounts that fetch them with one request; docs/store.md)\n"
	"      --no-compile         no bytecode: by default the .py files of noarch:\n"
	"                           python packages are compiled, as conda does, by the\n"
	"                           environment's python run from the index (condafs run;\n"
	"                           docs/bytecode.md)\n"
	"  -q, --quiet              only errors\n"
	"  -v, --verbose            more detail (twice for debug output)\n"
	"  -h, --help               show this help\n";

/*
 * The compiler's way in (compile.h): `condafs run INDEX --mountpoint PREFIX
 * -- ARGV`, with a cache beside the provisional index, which the indexer
 * removes with it.
 */
static int run_in_index(const char *index, const char *store, const char *prefix,
			const char *const *argv, struct cfs_err *err)
{
	cleanup_free char *dir = cfs_xstrdup(index);
	cleanup_free char *cache = NULL;
	const char *args[64] = { "condafs", "run", index, "--mountpoint", prefix, "--store",
				 store, "--cache", NULL, "-q", "--" };
	size_t n = 11;
	int status;
	pid_t pid;

	cache = cfs_xasprintf("%s/cache", dirname(dir));
	args[8] = cache;
	for (size_t i = 0; argv[i]; i++) {
		if (n + 2 > CFS_ARRAY_SIZE(args))
			return cfs_err_set(err, E2BIG, "too many arguments");
		args[n++] = argv[i];
	}
	args[n] = NULL;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return cfs_err_set(err, errno, "fork: %s", strerror(errno));
	if (pid == 0) {
		execv("/proc/self/exe", (char *const *)args);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return cfs_err_set(err, errno, "waitpid: %s", strerror(errno));
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int cmd_index(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "store", required_argument, NULL, 's' },
		{ "prefix", required_argument, NULL, 'P' },
		{ "platform", required_argument, NULL, 'p' },
		{ "cache", required_argument, NULL, 'c' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "mirror", required_argument, NULL, 'm' },
		{ "environment", required_argument, NULL, 'e' },
		{ "skip-unbuildable", no_argument, NULL, 'K' },
		{ "policy", required_argument, NULL, 'L' },
		{ "preset", required_argument, NULL, 'R' },
		{ "allow-unverified", no_argument, NULL, 'U' },
		{ "no-packs", no_argument, NULL, 'N' },
		{ "no-compile", no_argument, NULL, 'B' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cfs_index_opts o = {
		.prefix = CFS_DEFAULT_PREFIX,
		.platform = cfs_lock_host_platform(),
		.jobs = 4,
		.run_in_index = run_in_index,
	};
	struct cfs_mirror mirrors[32];
	size_t n_mirrors = 0;
	/* Policy files and presets in command-line order: later ones win. */
	const char *policy[64];
	char *preset_args[64];
	size_t n_policy = 0, n_presets = 0;
	int c, verbose = 0, quiet = 0, r;
	struct cfs_err err;
	struct cfs_index_result res;
	cleanup_free char *cache = cfs_index_default_cache();
	struct cfs_buf cmdline;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:s:j:e:qvh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': o.out_path = optarg; break;
		case 's': o.store_dir = optarg; break;
		case 'P': o.prefix = optarg; break;
		case 'p': o.platform = optarg; break;
		case 'c': o.cache_dir = optarg; break;
		case 'j': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 64)
				return cli_usage("index", "-j wants a number from 1 to 64, not '%s'", optarg);
			o.jobs = (int)v;
			break;
		}
		case 'm': {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg || !eq[1])
				return cli_usage("index", "--mirror wants FROM=TO, not '%s'", optarg);
			if (n_mirrors == CFS_ARRAY_SIZE(mirrors))
				return cli_usage("index", "at most %zu --mirror rules", CFS_ARRAY_SIZE(mirrors));
			*eq = '\0';
			mirrors[n_mirrors].from = optarg;
			mirrors[n_mirrors++].to = eq + 1;
			break;
		}
		case 'L':
		case 'R':
			if (n_policy == CFS_ARRAY_SIZE(policy))
				return cli_usage("index", "at most %zu --policy and --preset options",
						 CFS_ARRAY_SIZE(policy));
			if (c == 'L') {
				policy[n_policy++] = optarg;
			} else {
				preset_args[n_presets] = cfs_xasprintf("preset:%s", optarg);
				policy[n_policy++] = preset_args[n_presets++];
			}
			break;
		case 'e': o.environment = optarg; break;
		case 'K': o.skip_unbuildable = true; break;
		case 'U': o.allow_unverified = true; break;
		case 'N': o.no_packs = true; break;
		case 'B': o.no_compile = true; break;
		case 'q': quiet++; break;
		case 'v': verbose++; break;
		case 'h':
			printf(index_help, cfs_lock_host_platform() ? cfs_lock_host_platform() : "unknown", cache);
			return 0;
		default:
			return cli_bad_option("index", argv, "o:s:j:e:qvh");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("index", "expected one lock file");
	o.lock_path = argv[optind];
	if (!o.out_path)
		return cli_usage("index", "missing -o ENV.cfs");
	if (!o.store_dir)
		return cli_usage("index", "missing --store DIR");
	if (!o.platform)
		return cli_usage("index", "cannot tell this machine's conda platform; pass --platform");
	o.mirrors = mirrors;
	o.n_mirrors = n_mirrors;
	o.policy = policy;
	o.n_policy = n_policy;
	o.progress = !quiet && isatty(STDERR_FILENO);
	cli_set_verbosity(verbose, quiet);

	cfs_buf_init(&cmdline, 1 << 16);
	cfs_buf_addstr(&cmdline, "condafs");
	for (int i = 0; i < argc; i++)
		cfs_buf_printf(&cmdline, " %s", argv[i]);
	o.cmdline = cmdline.data;
	r = cfs_index_build(&o, &res, &err);
	cfs_buf_release(&cmdline);
	for (size_t i = 0; i < n_presets; i++)
		free(preset_args[i]);
	if (r < 0)
		return cli_fail(&err);

	if (!quiet) {
		struct cfs_db *db;
		struct cfs_db_stats st;
		char bytes[32], stored[32];
		if (cfs_db_open(o.out_path, &db, &err) == 0) {
			cfs_db_stats(db, &st);
			cfs_format_size(st.bytes, bytes, sizeof(bytes));
			cfs_format_size(st.stored_bytes, stored, sizeof(stored));
			fprintf(stderr, "condafs: indexed %zu packages and %zu wheel%s (%zu skipped), "
				"%llu files, %s (%llu objects, %s compressed) into %s\n",
				res.packages, res.wheels, res.wheels == 1 ? "" : "s", res.skipped,
				(unsigned long long)st.files, bytes,
				(unsigned long long)st.objects, stored, o.out_path);
			if (res.pyc_compiled || res.pyc_failed)
				fprintf(stderr, "condafs: bytecode for %zu of %zu noarch and wheel Python files "
					"(%zu compiled now, %zu remembered)\n", res.pyc_compiled,
					res.pyc_sources, res.pyc_compiled - res.pyc_reused,
					res.pyc_reused);
			if (res.packs) {
				cfs_format_size(res.pack_bytes, bytes, sizeof(bytes));
				fprintf(stderr, "condafs: %zu packs (%s), %zu new\n", res.packs, bytes,
					res.new_packs);
			}
			if (res.rules) {
				cfs_format_size(st.pruned_bytes, bytes, sizeof(bytes));
				fprintf(stderr, "condafs: %zu prune rules removed %llu files and "
					"symlinks (%s); see condafs du %s --by rule\n", res.rules,
					(unsigned long long)st.pruned_files, bytes, o.out_path);
			}
			cfs_db_close(db);
		}
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * condafs: index conda environments into a content-addressed store, serve
 * them lazily with FUSE, and export what applications use.
 */
#include <ctype.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "log.h"

static const struct cfs_command commands[] = {
	{ "index", cmd_index, "install a lock file's packages into a store and write an index" },
	{ "lock", cmd_lock, "list what a lock file resolves to for a platform, without fetching" },
	{ "info", cmd_info, "show an index's packages, files and sizes" },
	{ "ls", cmd_ls, "list files inside an index, like ls -l" },
	{ "cat", cmd_cat, "write a file of an index to standard output" },
	{ "du", cmd_du, "show kept and pruned files and bytes by package, rule or directory" },
	{ "policy", cmd_policy, "list prune presets, explain which rule pruned a path" },
	{ "mount", cmd_mount, "serve an index read-only with FUSE, fetching files on first open" },
	{ "umount", cmd_umount, "unmount a condafs mount" },
	{ "stats", cmd_stats, "show a live mount's counters" },
	{ "ready", cmd_ready, "exit 0 once a live condafs mount is at a mount point" },
	{ "run", cmd_run, "run a command with an index mounted at /env in a private mount namespace" },
	{ "workset", cmd_workset, "make a working set from traces of profiling runs" },
	{ "pack", cmd_pack, "write a working set's objects into one pack, in first-access order" },
	{ "export", cmd_export, "write working sets as a directory, a tar or an OCI image" },
	{ "report", cmd_report, "write one HTML page of what an environment holds and an app uses" },
	{ "push", cmd_push, "copy the store objects an index needs to a directory or an S3 bucket" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: condafs <command> [options] [args]\n\n"
		   "condafs indexes a locked conda environment into a content-addressed store\n"
		   "and a small SQLite index, from which it can be listed, read and served.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < CFS_ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "  %-8s %s\n", "help", "show this help, or a command's (condafs help index)");
	fprintf(f, "\nRun 'condafs <command> --help' for a command's options.\n"
		   "condafs --version prints the version.\n");
}

int cli_fail(const struct cfs_err *err)
{
	fprintf(stderr, "condafs: %s\n", err->msg);
	return 1;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "condafs %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'condafs %s --help')\n", cmd);
	return 2;
}

int cli_bad_option(const char *cmd, char **argv, const char *shortopts)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	int len;

	if (strncmp(arg, "--", 2) == 0 && arg[2]) {
		/* A long option: unknown (optopt 0), or given without its value. */
		len = (int)strcspn(arg, "=");
		return cli_usage(cmd, !optopt ? "unknown option '%.*s'"
				 : arg[len] ? "option '%.*s' takes no value"
				 : "option '%.*s' needs a value", len, arg);
	}
	if (optopt > 0 && optopt < 256 && isgraph(optopt) && optopt != ':' &&
	    strchr(shortopts, optopt))
		return cli_usage(cmd, "option '-%c' needs a value", optopt);
	if (optopt > 0 && optopt < 256 && isgraph(optopt))
		return cli_usage(cmd, "unknown option '-%c'", optopt);
	return cli_usage(cmd, "unknown option '%s'", arg);
}

void cli_set_verbosity(int verbose, int quiet)
{
	if (quiet)
		cfs_log_set_level(CFS_LOG_ERROR);
	else if (verbose > 1)
		cfs_log_set_level(CFS_LOG_DEBUG);
	else if (verbose)
		cfs_log_set_level(CFS_LOG_INFO);
	else
		cfs_log_set_level(CFS_LOG_WARNING);
}

int main(int argc, char **argv)
{
	const char *cmd;

	/* Hash seeds must be set before any thread creates JSON objects. */
	json_object_seed(0);
	/* Commands name a bad option themselves, in one line (cli_bad_option). */
	opterr = 0;
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("condafs %s\nlibfuse %s (%s)\n", CFS_VERSION, CFS_FUSE_VERSION,
		       CFS_FUSE_PASSTHROUGH ? "passthrough" : "no passthrough");
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		if (argc > 2 && strcmp(cmd, "help") == 0) {
			for (size_t i = 0; i < CFS_ARRAY_SIZE(commands); i++)
				if (strcmp(commands[i].name, argv[2]) == 0) {
					char *args[] = { argv[2], (char *)"--help", NULL };
					return commands[i].run(2, args);
				}
			fprintf(stderr, "condafs: unknown command '%s'\n", argv[2]);
			return 2;
		}
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < CFS_ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, cmd) == 0)
			return commands[i].run(argc - 1, argv + 1);
	/* mount -t fuse.condafs: mount.fuse3 runs "condafs ENV.cfs MOUNTPOINT -o OPTS". */
	if (argc >= 3 && cmd[0] != '-' && access(cmd, F_OK) == 0)
		return cmd_mount(argc, argv);
	fprintf(stderr, "condafs: unknown command '%s' (see 'condafs help')\n", cmd);
	return 2;
}

/* SPDX-License-Identifier: MIT */
/* The condafs command line: one function per subcommand. */
#ifndef CFS_CLI_H
#define CFS_CLI_H

#include "cfs-util.h"

struct cfs_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

int cmd_index(int argc, char **argv);
int cmd_lock(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_du(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_umount(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_ready(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_workset(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_report(int argc, char **argv);

struct cfs_ws_pack_result;
/* Prints pack's one-line summary for working set workset to stdout. */
void cli_print_pack(const char *workset, const struct cfs_ws_pack_result *res);

/* Prints "condafs: <msg>" for err and returns exit status 1. */
int cli_fail(const struct cfs_err *err);
/* Prints a usage error ("condafs CMD: msg; see condafs CMD --help") and returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * After getopt_long() returned '?': names the option that was unknown or
 * lacked its value ("condafs index: unknown option '--bogus'", "...: option
 * '--store' needs a value") and returns 2.  shortopts: getopt's string.
 */
int cli_bad_option(const char *cmd, char **argv, const char *shortopts);
/* Sets the log level from -q / -v counts. */
void cli_set_verbosity(int verbose, int quiet);

#endif

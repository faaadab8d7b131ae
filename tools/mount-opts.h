/* SPDX-License-Identifier: MIT */
/*
 * The options that condafs mount and condafs run share: the daemon's
 * settings (struct cfs_fs_opts) given as long options.  Each command keeps
 * its own help text and its own options.
 */
#ifndef CFS_MOUNT_OPTS_H
#define CFS_MOUNT_OPTS_H

#include <getopt.h>

#include "fs.h"

/* What getopt_long() returns for each of CLI_MOUNT_LONG_OPTS; a command's
 * own option values start at CLI_MOUNT_OPT + 1. */
#define CLI_MOUNT_OPT 256

/* The first entries of a command's struct option table. */
#define CLI_MOUNT_LONG_OPTS \
	{ "store", required_argument, NULL, CLI_MOUNT_OPT }, \
	{ "cache", required_argument, NULL, CLI_MOUNT_OPT }, \
	{ "cache-size", required_argument, NULL, CLI_MOUNT_OPT }, \
	{ "fetch-timeout", required_argument, NULL, CLI_MOUNT_OPT }, \
	{ "fetch-retries", required_argument, NULL, CLI_MOUNT_OPT }, \
	{ "pruned", required_argument, NULL, CLI_MOUNT_OPT }, \
	{ "trace", required_argument, NULL, CLI_MOUNT_OPT }, \
	{ "workset", required_argument, NULL, CLI_MOUNT_OPT }, \
	{ "strict", no_argument, NULL, CLI_MOUNT_OPT }, \
	{ "prefetch", required_argument, NULL, CLI_MOUNT_OPT }, \
	{ "prefetch-jobs", required_argument, NULL, CLI_MOUNT_OPT }, \
	{ "no-packs", no_argument, NULL, CLI_MOUNT_OPT }, \
	{ "no-passthrough", no_argument, NULL, CLI_MOUNT_OPT }, \
	{ "no-open", no_argument, NULL, CLI_MOUNT_OPT }, \
	{ "speculate", required_argument, NULL, CLI_MOUNT_OPT }, \
	{ "stream-packs", required_argument, NULL, CLI_MOUNT_OPT }, \
	{ "http-version", required_argument, NULL, CLI_MOUNT_OPT }, \
	{ "cacert", required_argument, NULL, CLI_MOUNT_OPT }

/*
 * Sets the long option opt (one of CLI_MOUNT_LONG_OPTS) to arg in o, which
 * keeps the pointer arg.  Returns 0, or for a bad value prints the usage
 * error of command cmd ("condafs run: --cache-size wants ...") and returns
 * the exit status.
 */
int cli_mount_opt_set(struct cfs_fs_opts *o, const char *cmd, const struct option *opt,
		      const char *arg);

#endif

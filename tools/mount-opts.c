/* SPDX-License-Identifier: MIT */
/* The daemon settings shared by condafs mount and condafs run (mount-opts.h). */
#include "mount-opts.h"

#include <stdio.h>

#include "cli.h"

int cli_mount_opt_set(struct cfs_fs_opts *o, const char *cmd, const struct option *opt,
		      const char *arg)
{
	struct cfs_err err;
	char name[40];

	snprintf(name, sizeof(name), "--%s", opt->name);
	if (cfs_fs_opts_set(o, name, arg, &err) < 0)
		return cli_usage(cmd, "%s", err.msg);
	return 0;
}

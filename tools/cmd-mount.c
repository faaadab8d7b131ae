/* SPDX-License-Identifier: MIT */
/* Placeholder until fs/ lands: the mount commands report that they are missing. */
#include <stdio.h>

#include "cli.h"

int cmd_mount(int argc, char **argv)
{
	fputs("condafs: mount is not built yet\n", stderr);
	return 1;
}

int cmd_umount(int argc, char **argv)
{
	return cmd_mount(argc, argv);
}

int cmd_stats(int argc, char **argv)
{
	return cmd_mount(argc, argv);
}

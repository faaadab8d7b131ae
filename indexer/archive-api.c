/* SPDX-License-Identifier: MIT */
#include "archive-api.h"

#include <pthread.h>

#include "dlsym.h"

/* libarchive's soname since 3.0. */
#define LIBARCHIVE "libarchive.so.13"

#define DEFINE(name) typeof(name) *sym_##name;
CFS_ARCHIVE_SYMS(DEFINE)
#undef DEFINE

#define ENTRY(name) { #name, (void **)&sym_##name },
static const struct cfs_dlsym syms[] = { CFS_ARCHIVE_SYMS(ENTRY) };
#undef ENTRY

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static errint_t load_r;
static struct cfs_err load_err;

static void load(void)
{
	load_r = cfs_dl_load(LIBARCHIVE, "to read packages and write tar layers", syms,
			     CFS_ARRAY_SIZE(syms), &load_err);
}

errint_t cfs_archive_load(struct cfs_err *err)
{
	pthread_once(&load_once, load);
	if (load_r < 0 && err)
		*err = load_err;
	return load_r;
}

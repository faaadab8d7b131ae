/* SPDX-License-Identifier: MIT */
#include "archive-api.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

/* libarchive's soname since 3.0. */
#define LIBARCHIVE "libarchive.so.13"
#define CANNOT_LOAD LIBARCHIVE ": cannot load it (needed to read packages and write tar layers)"

#define DEFINE(name) typeof(name) *sym_##name;
CFS_ARCHIVE_SYMS(DEFINE)
#undef DEFINE

#define ENTRY(name) { #name, (void **)&sym_##name },
static const struct {
	const char *name;
	void **ptr;
} syms[] = { CFS_ARCHIVE_SYMS(ENTRY) };
#undef ENTRY

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static errint_t load_r;
static struct cfs_err load_err;

static void load(void)
{
	void *dl = dlopen(LIBARCHIVE, RTLD_NOW | RTLD_LOCAL);

	if (!dl) {
		load_r = cfs_err_set(&load_err, ENOENT, CANNOT_LOAD ": %s", dlerror());
		return;
	}
	for (size_t i = 0; i < CFS_ARRAY_SIZE(syms); i++) {
		*syms[i].ptr = dlsym(dl, syms[i].name);
		if (!*syms[i].ptr) {
			load_r = cfs_err_set(&load_err, EIO, CANNOT_LOAD ": %s", dlerror());
			return;
		}
	}
}

errint_t cfs_archive_load(struct cfs_err *err)
{
	pthread_once(&load_once, load);
	if (load_r < 0 && err)
		*err = load_err;
	return load_r;
}

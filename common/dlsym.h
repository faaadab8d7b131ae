/* SPDX-License-Identifier: MIT */
/*
 * Optional libraries loaded with dlopen() when first needed (libcurl for
 * URLs, libarchive for packages and tar layers), so that commands that do
 * not need them, the daemon above all, neither load them nor what they bring.
 */
#ifndef CFS_DLSYM_H
#define CFS_DLSYM_H

#include "cfs-util.h"

struct cfs_dlsym {
	const char *name;
	void **ptr;
};

/*
 * Loads soname (never unloaded) and resolves every symbol into its pointer.
 * On failure returns a negative errno with err set to "SONAME: cannot load
 * it (needed WHY): <dlerror()>".
 */
errint_t cfs_dl_load(const char *soname, const char *why, const struct cfs_dlsym *syms,
		     size_t n, struct cfs_err *err);

#endif

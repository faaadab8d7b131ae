/* SPDX-License-Identifier: MIT */
#include "dlsym.h"

#include <dlfcn.h>
#include <errno.h>

errint_t cfs_dl_load(const char *soname, const char *why, const struct cfs_dlsym *syms,
		     size_t n, struct cfs_err *err)
{
	void *dl = dlopen(soname, RTLD_NOW | RTLD_LOCAL);

	if (!dl)
		return cfs_err_set(err, ENOENT, "%s: cannot load it (needed %s): %s", soname, why,
				   dlerror());
	for (size_t i = 0; i < n; i++) {
		*syms[i].ptr = dlsym(dl, syms[i].name);
		if (!*syms[i].ptr)
			return cfs_err_set(err, EIO, "%s: cannot load it (needed %s): %s", soname,
					   why, dlerror());
	}
	return 0;
}

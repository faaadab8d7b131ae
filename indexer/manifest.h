/* SPDX-License-Identifier: MIT */
/*
 * Install manifests: the result of installing one package archive for one
 * prefix (its entries and metadata), kept in the package cache so that a
 * later index run with the same archive, prefix and python can skip
 * decompressing and hashing the package, as long as the store still holds
 * every object the manifest names.
 *
 *   <cache>/manifests/<sha256(archive sha256, prefix, python, version)>.json
 */
#ifndef CFS_MANIFEST_H
#define CFS_MANIFEST_H

#include "package.h"

/*
 * Version history: 1 - initial format; 2 - wheels installed (pip entries
 * now have manifests, keyed by platform too).  Bump it whenever an install
 * would come out differently, so that no cache hands back an old one.
 */
#define CFS_MANIFEST_VERSION 2

/* Writes p's manifest atomically; failures are logged and ignored (a cache). */
void cfs_manifest_save(const char *cache_dir, const struct cfs_install_opts *opts,
		       const struct cfs_package *p);

/*
 * Loads the manifest for the archive with digest archive_sha256 into out
 * (caller releases with cfs_package_release()) and returns 0, or returns
 * -ENOENT if there is none, it is unreadable, or the store lacks an object.
 */
errint_t cfs_manifest_load(const char *cache_dir, const struct cfs_install_opts *opts,
			   const struct cfs_lock_pkg *lp,
			   const uint8_t archive_sha256[CFS_SHA256_LEN], uint64_t archive_size,
			   struct cfs_package *out);

#endif

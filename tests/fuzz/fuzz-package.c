/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for installing a package archive (indexer/package.c,
 * package-info.c, install.c): the input is written to a file and given to
 * cfs_package_install() as x-1.0-0.conda if it starts with 'P' (a zip's
 * "PK"), else as x-1.0-0.tar.bz2, so the seed corpus can hold real
 * packages.  A malformed archive must give an error, never a crash or a
 * leak.
 *
 * One temporary directory per process holds the archive and a store; the
 * store's objects are removed after each input so that every run starts
 * from the same state (a crash then reproduces from its input alone).
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"
#include "log.h"
#include "package.h"
#include "store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char tmpdir[] = "/tmp/cfs-fuzz-package-XXXXXX";
static char *store_dir, *objects_dir;
static struct cfs_store *store;
static bool verbose; /* FUZZ_VERBOSE=1: print each result, to check seeds */

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	/* Keep the directory nftw started from (objects/ stays in place). */
	if (ftw->level == 0 && strcmp(path, tmpdir) != 0)
		return 0;
	remove(path);
	return 0;
}

static void remove_tree(const char *path)
{
	nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void cleanup(void)
{
	cfs_store_free(store);
	store = NULL;
	remove_tree(tmpdir);
	free(store_dir);
	free(objects_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct cfs_err err = { "" };

	/* Warnings about odd packages are expected; errors still show. */
	cfs_log_set_level(CFS_LOG_ERROR);
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	if (!mkdtemp(tmpdir)) {
		perror("fuzz-package: mkdtemp");
		abort();
	}
	store_dir = cfs_xasprintf("%s/store", tmpdir);
	objects_dir = cfs_xasprintf("%s/objects", store_dir);
	if (cfs_store_open(store_dir, true, &store, &err) < 0) {
		fprintf(stderr, "fuzz-package: %s\n", err.msg);
		abort();
	}
	atexit(cleanup);
	/* OpenSSL sets itself up on first use; keep that out of the first run. */
	cfs_sha256("", 0, (uint8_t[CFS_SHA256_LEN]){ 0 });
	return 0;
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size || close(fd) < 0) {
		perror(path);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool conda = size > 0 && data[0] == 'P';
	char fn[32], url[128];
	struct cfs_lock_pkg lp = {
		.name = "x",
		.version = "1.0",
		.build = "0",
		.url = url,
		.fn = fn,
		.channel = "https://conda.anaconda.org/conda-forge",
		.subdir = "linux-64",
		.category = "main",
		.manager = CFS_MGR_CONDA,
		.line = 1,
	};
	struct cfs_install_opts opts = {
		.prefix = "/env",
		.python_xy = "3.11",
		.store = store,
	};
	struct cfs_package pkg;
	struct cfs_err err = { "" };
	uint8_t sha256[CFS_SHA256_LEN];
	cleanup_free char *path = NULL;
	int r;

	snprintf(fn, sizeof(fn), "x-1.0-0.%s", conda ? "conda" : "tar.bz2");
	snprintf(url, sizeof(url), "%s/%s/%s", lp.channel, lp.subdir, fn);
	path = cfs_xasprintf("%s/%s", tmpdir, fn);
	write_file(path, data, size);
	cfs_sha256(data, size, sha256);

	r = cfs_package_install(&opts, path, &lp, sha256, size, &pkg, &err);
	if (r < 0 && !err.msg[0]) {
		fprintf(stderr, "fuzz-package: error %d without a message\n", r);
		abort();
	}
	if (verbose)
		fprintf(stderr, "fuzz-package: %s: %s (%zu entries)\n", fn,
			r < 0 ? err.msg : "installed", pkg.n_entries);
	cfs_package_release(&pkg); /* install released it on error: a no-op */

	unlink(path);
	remove_tree(objects_dir);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the lock readers (indexer/lock*.c): the input is
 * parsed as it is (its content picks @EXPLICIT, conda-lock.yml or pixi.lock), then
 * again behind an "@EXPLICIT" line so the explicit reader sees every input
 * too.  Besides crashes and leaks, it checks what lock.h promises about the
 * result, and aborts if a promise is broken.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "fuzz-lock: check failed: %s\n", #cond); \
			abort(); \
		} \
	} while (0)

static void check_pkg(const struct cfs_lock *lock, const struct cfs_lock_pkg *p)
{
	CHECK(p->channel && p->subdir);
	CHECK(!p->fn == !p->url);
	CHECK(p->line >= 1);
	CHECK(!p->n_depends || p->depends);
	for (size_t i = 0; i < p->n_depends; i++)
		CHECK(p->depends[i]);
	if (p->manager == CFS_MGR_PIP) {
		CHECK(!p->build);
		CHECK(!*p->channel && !*p->subdir);
	}
	if (lock->kind == CFS_LOCK_EXPLICIT) {
		CHECK(!p->category && !p->n_depends);
		if (p->manager == CFS_MGR_CONDA)
			CHECK(p->name && p->version && p->build && p->url);
		else
			CHECK(p->name && p->url);
	}
}

static void parse(const char *data, size_t len)
{
	struct cfs_err err = { "" };
	struct cfs_lock *lock = (struct cfs_lock *)&err; /* must be reset */
	int r = cfs_lock_parse("fuzz.lock", data, len, "linux-64", &lock, &err);
	size_t n_conda;

	if (r < 0) {
		CHECK(!lock);
		CHECK(r == -EINVAL || r == -EFBIG || r == -ENOMEM);
		CHECK(err.msg[0]);
		return;
	}
	CHECK(r == 0 && lock);
	CHECK(strcmp(lock->platform, "linux-64") == 0);
	CHECK(lock->n_wheels <= lock->n_pkgs);
	n_conda = lock->n_pkgs - lock->n_wheels;
	/* Conda packages first, then the wheels, each a .whl and installable. */
	for (size_t i = 0; i < lock->n_pkgs; i++) {
		const struct cfs_lock_pkg *p = &lock->pkgs[i];
		CHECK(p->manager == (i < n_conda ? CFS_MGR_CONDA : CFS_MGR_PIP));
		CHECK(!p->unbuildable);
		CHECK(i < n_conda || cfs_lock_is_wheel(p->fn));
		check_pkg(lock, p);
	}
	/* conda-lock.yml: one conda entry per name after deduplication. */
	for (size_t i = 0; lock->kind == CFS_LOCK_CONDA_LOCK_V1 && i < n_conda; i++)
		for (size_t k = i + 1; k < n_conda; k++)
			CHECK(!lock->pkgs[i].name || !lock->pkgs[k].name ||
			      strcmp(lock->pkgs[i].name, lock->pkgs[k].name) != 0);
	/* What cannot be installed says why: pip entries, and pixi's conda source packages. */
	for (size_t i = 0; i < lock->n_skipped; i++) {
		CHECK(lock->skipped[i].unbuildable);
		CHECK(lock->skipped[i].manager == CFS_MGR_PIP || lock->kind == CFS_LOCK_PIXI);
		check_pkg(lock, &lock->skipped[i]);
	}
	CHECK(lock->kind != CFS_LOCK_PIXI || (lock->version >= 4 && lock->version <= 7 &&
					      lock->environment));
	cfs_lock_free(lock);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char marker[] = "@EXPLICIT\n";
	char *explicit;

	/* libFuzzer's buffer is exactly size bytes: ASan sees reads past it. */
	parse((const char *)data, size);

	explicit = malloc(sizeof(marker) - 1 + size);
	memcpy(explicit, marker, sizeof(marker) - 1);
	memcpy(explicit + sizeof(marker) - 1, data, size);
	parse(explicit, sizeof(marker) - 1 + size);
	free(explicit);
	return 0;
}

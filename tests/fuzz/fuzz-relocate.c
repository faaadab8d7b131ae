/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for prefix relocation and the path checks
 * (indexer/relocate.c).  The input is "<placeholder>\0<prefix>\0<data>":
 * data (which may hold NULs) is relocated in text mode and, on a copy, in
 * binary mode; the placeholder, prefix and the data up to its first NUL go
 * through cfs_path_is_safe() and cfs_symlink_target_is_contained().  Besides
 * crashes and leaks it checks what relocate.h promises.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relocate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "fuzz-relocate: check failed: %s\n", #cond); \
			abort(); \
		} \
	} while (0)

/* Small enough that -EFBIG is reached from short inputs. */
#define OUT_LIMIT 4096

static void text(const char *data, size_t len, const char *ph, const char *prefix)
{
	struct cfs_buf out;
	bool changed = true;
	int r;

	cfs_buf_init(&out, OUT_LIMIT);
	/* Something already in out must be kept, with the result after it. */
	CHECK(cfs_buf_add(&out, "kept", 4) == 0);
	r = cfs_relocate_text(data, len, ph, prefix, &out, &changed);
	CHECK(r == 0 || r == -EFBIG);
	CHECK(out.data && memcmp(out.data, "kept", 4) == 0);
	CHECK(out.len <= OUT_LIMIT && out.data[out.len] == '\0');
	if (r < 0) {
		CHECK(out.len == 4 && !changed);
	} else {
		CHECK(changed == (out.len - 4 != len ||
				  memcmp(out.data + 4, data, len) != 0));
		/* Without a shebang, an absent placeholder changes nothing. */
		if (!memmem(data, len, ph, strlen(ph)) &&
		    !(len >= 2 && data[0] == '#' && data[1] == '!'))
			CHECK(!changed);
	}
	cfs_buf_release(&out);
}

static void binary(const char *data, size_t len, const char *ph, const char *prefix)
{
	char *copy = malloc(len ? len : 1);
	bool changed = true;
	int r;

	/* conda replaces only where a NUL follows a placeholder. */
	const char *first = *ph ? memmem(data, len, ph, strlen(ph)) : NULL;
	bool due = first && memchr(first, '\0', len - (size_t)(first - data));

	memcpy(copy, data, len);
	r = cfs_relocate_binary(copy, len, ph, prefix, &changed);
	if (strlen(prefix) > strlen(ph) && due) {
		CHECK(r == -ENAMETOOLONG);
		CHECK(!changed);
	} else {
		CHECK(r == 0);
	}
	if (!due)
		CHECK(!changed);
	/* changed says exactly whether a byte differs. */
	CHECK(changed == (len && memcmp(copy, data, len) != 0));
	free(copy);
}

static void paths(const char *a, const char *b)
{
	bool safe = cfs_path_is_safe(a);

	if (cfs_symlink_target_is_contained(a, b)) {
		CHECK(safe);
		CHECK(*b && *b != '/');
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *end = in + size;
	const char *nul1 = memchr(in, '\0', size), *nul2;
	char *ph, *prefix, *head;

	if (!nul1)
		return 0;
	nul2 = memchr(nul1 + 1, '\0', (size_t)(end - nul1 - 1));
	if (!nul2)
		return 0;
	ph = strndup(in, (size_t)(nul1 - in));
	prefix = strndup(nul1 + 1, (size_t)(nul2 - nul1 - 1));
	/* The data ends where libFuzzer's buffer does: ASan sees reads past it. */
	in = nul2 + 1;
	size = (size_t)(end - in);
	head = strndup(in, size);

	text(in, size, ph, prefix);
	binary(in, size, ph, prefix);
	paths(ph, prefix);
	paths(prefix, ph);
	paths(head, ph);
	paths(prefix, head);

	free(ph);
	free(prefix);
	free(head);
	return 0;
}

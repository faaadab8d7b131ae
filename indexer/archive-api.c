/* SPDX-License-Identifier: MIT */
#include "archive-api.h"

#include <errno.h>
#include <pthread.h>

#include "buf.h"
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

errint_t cfs_archive_read_all(struct archive *a, struct cfs_buf *b, const char **why)
{
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int rc = sym_archive_read_data_block(a, &buf, &len, &off);

		if (rc == ARCHIVE_EOF)
			return 0;
		if (rc < ARCHIVE_WARN) {
			*why = sym_archive_error_string(a);
			if (!*why)
				*why = "unreadable data";
			return -EBADMSG;
		}
		if ((uint64_t)off != b->len) {
			*why = "sparse or out-of-order member data";
			return -EBADMSG;
		}
		if (cfs_buf_add(b, buf, len) < 0)
			return -EFBIG;
	}
}

/* SPDX-License-Identifier: MIT */
/*
 * A growable byte buffer with a hard size limit (curl's dynbuf), used for
 * everything read from untrusted input.
 */
#ifndef CFS_BUF_H
#define CFS_BUF_H

#include "cfs-util.h"

struct cfs_buf {
	char *data; /* always NUL-terminated when non-NULL */
	size_t len;
	size_t alloc;
	size_t limit; /* cfs_buf_add fails with -EFBIG past this */
};

void cfs_buf_init(struct cfs_buf *b, size_t limit);
/* Frees the contents; the struct may be reused after cfs_buf_init. */
void cfs_buf_release(struct cfs_buf *b);
void cfs_buf_reset(struct cfs_buf *b);
errint_t cfs_buf_add(struct cfs_buf *b, const void *data, size_t len);
errint_t cfs_buf_addstr(struct cfs_buf *b, const char *s);
errint_t cfs_buf_printf(struct cfs_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Hands the data to the caller (who frees it) and resets the buffer. */
char *cfs_buf_steal(struct cfs_buf *b, size_t *len);
/* Reads a whole file (at most b->limit bytes) into b. */
errint_t cfs_buf_read_file(struct cfs_buf *b, const char *path);

static inline void cfs_buf_releasep(struct cfs_buf *b)
{
	cfs_buf_release(b);
}
#define cleanup_buf __attribute__((cleanup(cfs_buf_releasep)))

#endif

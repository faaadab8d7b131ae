/* SPDX-License-Identifier: MIT */
#include "buf.h"

#include <fcntl.h>
#include <stdarg.h>
#include <string.h>

void cfs_buf_init(struct cfs_buf *b, size_t limit)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->limit = limit;
}

void cfs_buf_release(struct cfs_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->alloc = 0;
}

void cfs_buf_reset(struct cfs_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

errint_t cfs_buf_add(struct cfs_buf *b, const void *data, size_t len)
{
	if (len > b->limit || b->len > b->limit - len)
		return -EFBIG;
	if (b->len + len + 1 > b->alloc) {
		size_t n = b->alloc ? b->alloc : 256;
		while (n < b->len + len + 1)
			n *= 2;
		b->data = cfs_xrealloc(b->data, n);
		b->alloc = n;
	}
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

errint_t cfs_buf_addstr(struct cfs_buf *b, const char *s)
{
	return cfs_buf_add(b, s, strlen(s));
}

errint_t cfs_buf_printf(struct cfs_buf *b, const char *fmt, ...)
{
	cleanup_free char *s = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	return cfs_buf_add(b, s, (size_t)n);
}

char *cfs_buf_steal(struct cfs_buf *b, size_t *len)
{
	char *d = b->data ? b->data : cfs_xstrdup("");
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->alloc = 0;
	return d;
}

errint_t cfs_buf_read_file(struct cfs_buf *b, const char *path)
{
	cleanup_fd int fd = open(path, O_RDONLY | O_CLOEXEC);
	char chunk[65536];

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = cfs_read_retry(fd, chunk, sizeof(chunk));
		if (n <= 0) {
			if (n < 0)
				return (int)n;
			break;
		}
		int r = cfs_buf_add(b, chunk, (size_t)n);
		if (r < 0)
			return r;
	}
	if (!b->data)
		cfs_buf_add(b, "", 0);
	return 0;
}

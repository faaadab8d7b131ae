/* SPDX-License-Identifier: MIT */
/*
 * The export as a directory tree: what the tar holds, extracted.  Files are
 * written with the index's modes and mtimes (nanoseconds too); directories
 * are created writable and get their own mode and mtime at the end, deepest
 * first, so that read-only directories can still be filled.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "db.h"
#include "export-internal.h"
#include "fsutil.h"

static errint_t sink_fd(void *ctx, const void *data, size_t len)
{
	return cfs_write_all(*(int *)ctx, data, len);
}

static struct timespec item_time(const struct export_ctx *x, const struct export_item *it)
{
	const struct cfs_node *n = export_item_node(x, it);

	if (!n)
		n = &x->tree->nodes[0];
	return (struct timespec){ .tv_sec = n->mtime, .tv_nsec = n->mtime_nsec };
}

static errint_t write_file(struct export_ctx *x, struct export_pipe *p, int dirfd,
			   const char *dir, const struct export_item *it, uint32_t mode)
{
	struct timespec ts[2] = { item_time(x, it), item_time(x, it) };
	cleanup_fd int fd = openat(dirfd, it->name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int r;

	if (fd < 0)
		return cfs_err_set(x->err, errno, "%s/%s: %s", dir, it->name, strerror(errno));
	r = export_pipe_read(p, (size_t)it->node, sink_fd, &fd);
	if (r < 0)
		return r;
	if (fchmod(fd, mode & 07777) < 0 || futimens(fd, ts) < 0)
		return cfs_err_set(x->err, errno, "%s/%s: %s", dir, it->name, strerror(errno));
	if (close(cfs_steal_fd(&fd)) < 0)
		return cfs_err_set(x->err, errno, "%s/%s: %s", dir, it->name, strerror(errno));
	return 0;
}

static errint_t write_tree(struct export_ctx *x, struct export_pipe *p, int dirfd,
			   const char *dir)
{
	for (size_t k = 0; k < x->n_items; k++) {
		const struct export_item *it = &x->items[k];
		const struct cfs_node *n = export_item_node(x, it);
		uint32_t mode = export_item_mode(x, it);
		int r = 0;

		if (S_ISDIR(mode)) {
			if (mkdirat(dirfd, it->name, 0700) < 0)
				r = -errno;
		} else if (S_ISLNK(mode)) {
			struct timespec ts[2] = { item_time(x, it), item_time(x, it) };
			if (symlinkat(n->target, dirfd, it->name) < 0 ||
			    utimensat(dirfd, it->name, ts, AT_SYMLINK_NOFOLLOW) < 0)
				r = -errno;
		} else {
			r = write_file(x, p, dirfd, dir, it, mode);
			if (r < 0)
				return r;
		}
		if (r < 0)
			return cfs_err_set(x->err, -r, "%s/%s: %s", dir, it->name, strerror(-r));
	}
	for (size_t k = x->n_items; k-- > 0;) {
		const struct export_item *it = &x->items[k];
		uint32_t mode = export_item_mode(x, it);
		struct timespec ts[2] = { item_time(x, it), item_time(x, it) };

		if (!S_ISDIR(mode))
			continue;
		if (fchmodat(dirfd, it->name, mode & 07777, 0) < 0 ||
		    utimensat(dirfd, it->name, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return cfs_err_set(x->err, errno, "%s/%s: %s", dir, it->name, strerror(errno));
	}
	return 0;
}

errint_t export_write_dir(struct export_ctx *x, int dirfd, const char *dir)
{
	struct export_pipe *p = NULL;
	int r = export_pipe_start(x, &p);

	if (r == 0)
		r = write_tree(x, p, dirfd, dir);
	export_pipe_stop(p);
	return r;
}

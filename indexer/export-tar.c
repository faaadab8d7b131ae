/* SPDX-License-Identifier: MIT */
/*
 * The export tar: libarchive's restricted pax format (plain ustar headers,
 * a pax extended header only where ustar cannot say it: long names and link
 * targets), written through an export_stream.  Nothing in it depends on the
 * time, the user or the machine: uid/gid 0, no user or group names, mtimes
 * from the index in whole seconds.
 */
#include "archive-api.h"
#include <string.h>
#include <sys/stat.h>

#include "db.h"
#include "export-internal.h"

#define TAR_RECORD 10240

static la_ssize_t tar_out(struct archive *a, void *ctx, const void *buf, size_t len)
{
	int r = export_stream_write(ctx, buf, len);

	if (r < 0) {
		sym_archive_set_error(a, -r, "%s", strerror(-r));
		return -1;
	}
	return (la_ssize_t)len;
}

static errint_t tar_data(void *ctx, const void *data, size_t len)
{
	struct archive *a = ctx;
	la_ssize_t n = sym_archive_write_data(a, data, len);

	if (n < 0 || (size_t)n != len)
		return sym_archive_errno(a) > 0 ? -sym_archive_errno(a) : -EIO;
	return 0;
}

static errint_t tar_fail(struct export_ctx *x, struct archive *a, const char *name)
{
	int code = sym_archive_errno(a) > 0 ? sym_archive_errno(a) : EIO;

	return cfs_err_set(x->err, code, "%s: %s: %s", x->out_name, name,
			   sym_archive_error_string(a) ? sym_archive_error_string(a) : strerror(code));
}

static errint_t write_items(struct export_ctx *x, struct export_pipe *p, struct archive *a,
			    struct archive_entry *e)
{
	for (size_t k = 0; k < x->n_items; k++) {
		const struct export_item *it = &x->items[k];
		const struct cfs_node *n = export_item_node(x, it);
		uint32_t mode = export_item_mode(x, it);
		cleanup_free char *name = NULL;
		int r;

		sym_archive_entry_clear(e);
		name = S_ISDIR(mode) ? cfs_xasprintf("%s/", it->name) : cfs_xstrdup(it->name);
		sym_archive_entry_copy_pathname(e, name);
		sym_archive_entry_set_mode(e, mode);
		sym_archive_entry_set_uid(e, 0);
		sym_archive_entry_set_gid(e, 0);
		/* Whole seconds: a .pyc records its source's mtime in seconds, and
		 * sub-second times would cost a pax header per entry. */
		sym_archive_entry_set_mtime(e, n ? n->mtime : x->tree->nodes[0].mtime, 0);
		if (S_ISREG(mode))
			sym_archive_entry_set_size(e, (la_int64_t)n->size);
		else
			sym_archive_entry_set_size(e, 0);
		if (S_ISLNK(mode))
			sym_archive_entry_copy_symlink(e, n->target);
		if (sym_archive_write_header(a, e) < ARCHIVE_WARN)
			return tar_fail(x, a, name);
		if (S_ISREG(mode) && p) {
			r = export_pipe_read(p, (size_t)it->node, tar_data, a);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Zeros up to a multiple of the 10240-byte record, as tar and libarchive write. */
static errint_t pad_record(struct export_ctx *x, struct export_stream *s)
{
	static const char zeros[TAR_RECORD];
	uint64_t rest = export_stream_raw_size(s) % TAR_RECORD;
	int r = rest ? export_stream_write(s, zeros, TAR_RECORD - rest) : 0;

	if (r < 0)
		return cfs_err_set(x->err, -r, "%s: %s", x->out_name, strerror(-r));
	return 0;
}

errint_t export_write_tar(struct export_ctx *x, struct export_stream *s)
{
	struct archive *a;
	struct archive_entry *e;
	struct export_pipe *p = NULL;
	int r;

	if ((r = cfs_archive_load(x->err)) < 0)
		return r;
	a = sym_archive_write_new();
	e = sym_archive_entry_new();
	if (!a || !e)
		abort();
	/* Unblocked: libarchive hands data straight to the stream instead of
	 * copying it into 10 KiB records; the last record is padded below. */
	if (sym_archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    sym_archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
	    sym_archive_write_open(a, s, NULL, tar_out, NULL) != ARCHIVE_OK) {
		r = tar_fail(x, a, "tar");
		goto out;
	}
	r = x->measure ? 0 : export_pipe_start(x, &p);
	if (r == 0)
		r = write_items(x, p, a, e);
	if (r == 0 && sym_archive_write_close(a) != ARCHIVE_OK)
		r = tar_fail(x, a, "end of archive");
	if (r == 0)
		r = pad_record(x, s);
	export_pipe_stop(p);
out:
	sym_archive_entry_free(e);
	sym_archive_write_free(a);
	return r;
}

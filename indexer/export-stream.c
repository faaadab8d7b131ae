/* SPDX-License-Identifier: MIT */
/*
 * The byte stream export writes tars and layers through: compression
 * (gzip or zstd, both deterministic), the sha256 of the bytes before and
 * after it, and large buffered writes.
 */
#include <fcntl.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "export-internal.h"
#include "fsutil.h"

#define GZIP_LEVEL 6
#define ZSTD_LEVEL 3
/* Writeback of a regular output file is started every WRITEBACK bytes, so
 * that the fsync before publication has little left to wait for. */
#define WRITEBACK (8u << 20)

struct export_stream {
	int fd;
	enum cfs_export_comp comp;
	bool digests;
	struct cfs_hash *raw_hash, *out_hash;
	z_stream z;
	ZSTD_CCtx *zc;
	uint64_t raw_size, out_size, synced;
	size_t len;
	unsigned char buf[1 << 18];
};

struct export_stream *export_stream_new(int fd, enum cfs_export_comp comp, bool digests)
{
	struct export_stream *s = cfs_xcalloc(1, sizeof(*s));

	s->fd = fd;
	s->comp = comp;
	s->digests = digests;
	if (digests) {
		s->raw_hash = cfs_hash_new(CFS_HASH_SHA256);
		s->out_hash = cfs_hash_new(CFS_HASH_SHA256);
	}
	if (comp == CFS_COMP_GZIP) {
		/* windowBits 15 + 16: a gzip wrapper whose header has no name and mtime 0. */
		if (deflateInit2(&s->z, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			abort();
	} else if (comp == CFS_COMP_ZSTD) {
		s->zc = ZSTD_createCCtx();
		if (!s->zc)
			abort();
		ZSTD_CCtx_setParameter(s->zc, ZSTD_c_compressionLevel, ZSTD_LEVEL);
		ZSTD_CCtx_setParameter(s->zc, ZSTD_c_checksumFlag, 1);
	}
	return s;
}

void export_stream_free(struct export_stream *s)
{
	if (!s)
		return;
	if (s->comp == CFS_COMP_GZIP)
		deflateEnd(&s->z);
	ZSTD_freeCCtx(s->zc);
	if (s->raw_hash)
		cfs_hash_free(s->raw_hash);
	if (s->out_hash)
		cfs_hash_free(s->out_hash);
	free(s);
}

static errint_t out_write(struct export_stream *s, const void *data, size_t len)
{
	int r;

	if (s->digests && s->comp != CFS_COMP_NONE)
		cfs_hash_update(s->out_hash, data, len);
	r = s->fd >= 0 ? cfs_write_all(s->fd, data, len) : 0;
	s->out_size += len;
	if (r == 0 && s->fd >= 0 && s->out_size - s->synced >= WRITEBACK) {
		/* Best effort: fails harmlessly on pipes and some file systems. */
		sync_file_range(s->fd, (off_t)s->synced, (off_t)(s->out_size - s->synced),
				SYNC_FILE_RANGE_WRITE);
		s->synced = s->out_size;
	}
	return r;
}

static errint_t flush_buf(struct export_stream *s)
{
	int r = 0;

	if (s->len)
		r = out_write(s, s->buf, s->len);
	s->len = 0;
	return r;
}

static errint_t gzip_pump(struct export_stream *s, const void *data, size_t len, int flush)
{
	s->z.next_in = (Bytef *)data;
	s->z.avail_in = (uInt)len;
	for (;;) {
		int zr, r;

		s->z.next_out = s->buf + s->len;
		s->z.avail_out = (uInt)(sizeof(s->buf) - s->len);
		zr = deflate(&s->z, flush);
		if (zr == Z_STREAM_ERROR)
			return -EIO;
		s->len = sizeof(s->buf) - s->z.avail_out;
		if (s->len == sizeof(s->buf) && (r = flush_buf(s)) < 0)
			return r;
		if (flush == Z_FINISH ? zr == Z_STREAM_END : s->z.avail_in == 0 && s->z.avail_out)
			return 0;
	}
}

static errint_t zstd_pump(struct export_stream *s, const void *data, size_t len,
			  ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = { data, len, 0 };

	for (;;) {
		ZSTD_outBuffer o = { s->buf, sizeof(s->buf), s->len };
		size_t left = ZSTD_compressStream2(s->zc, &o, &in, mode);
		int r;

		if (ZSTD_isError(left))
			return -EIO;
		s->len = o.pos;
		if (s->len == sizeof(s->buf) && (r = flush_buf(s)) < 0)
			return r;
		if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
			return 0;
	}
}

errint_t export_stream_write(struct export_stream *s, const void *data, size_t len)
{
	int r;

	s->raw_size += len;
	if (s->digests)
		cfs_hash_update(s->raw_hash, data, len);
	if (s->comp == CFS_COMP_GZIP)
		return gzip_pump(s, data, len, Z_NO_FLUSH);
	if (s->comp == CFS_COMP_ZSTD)
		return zstd_pump(s, data, len, ZSTD_e_continue);
	/* Large writes go straight out, small ones (headers, ends of files) are
	 * gathered. */
	if (s->len + len > sizeof(s->buf) || len >= sizeof(s->buf) / 2) {
		if ((r = flush_buf(s)) < 0)
			return r;
		if (len >= sizeof(s->buf) / 2)
			return out_write(s, data, len);
	}
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	return 0;
}

errint_t export_stream_sink(void *ctx, const void *data, size_t len)
{
	return export_stream_write(ctx, data, len);
}

errint_t export_stream_finish(struct export_stream *s)
{
	int r = 0;

	if (s->comp == CFS_COMP_GZIP)
		r = gzip_pump(s, NULL, 0, Z_FINISH);
	else if (s->comp == CFS_COMP_ZSTD)
		r = zstd_pump(s, NULL, 0, ZSTD_e_end);
	if (r == 0)
		r = flush_buf(s);
	return r;
}

uint64_t export_stream_raw_size(const struct export_stream *s)
{
	return s->raw_size;
}

uint64_t export_stream_out_size(const struct export_stream *s)
{
	return s->out_size;
}

void export_stream_digests(const struct export_stream *s, uint8_t raw[CFS_SHA256_LEN],
			   uint8_t out[CFS_SHA256_LEN])
{
	cfs_hash_final(s->raw_hash, raw);
	if (s->comp == CFS_COMP_NONE)
		memcpy(out, raw, CFS_SHA256_LEN);
	else
		cfs_hash_final(s->out_hash, out);
}

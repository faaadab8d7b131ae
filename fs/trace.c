/* SPDX-License-Identifier: MIT */
/*
 * The trace (--trace FILE, format in docs/profiling.md): one JSON line for
 * the first time each path meets each operation, with the process that
 * asked.  Each node has a byte of "seen" bits, so a repeat costs the
 * caller one relaxed atomic load (cfs_trace_op()); the first time, an
 * atomic or decides which thread writes the line.  Lines are written with
 * one write(2) each to a file opened with O_APPEND, so lines from many
 * threads never interleave and a killed daemon leaves only whole lines.
 * Most repeats never reach the daemon anyway: the kernel caches entries,
 * attributes, listings and symlinks.
 */
#include <fcntl.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "fs-internal.h"
#include "fsutil.h"
#include "log.h"

#define TRACE_VERSION 1
#define MAX_LINE (32u << 10) /* paths are at most 4096 bytes, escaped at most 6x */

struct cfs_trace {
	int fd;
	char *path;
	atomic_bool failed; /* a write failed: logged once, tracing stops */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 && s[0] >= 0xc2 ? 2
		 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 && s[0] <= 0xf4 ? 4 : 0;

	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if (n == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0)))
		return 0; /* overlong, or a surrogate */
	if (n == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90)))
		return 0;
	return n;
}

/*
 * s as a JSON string.  Bytes that are not UTF-8 (never in conda packages)
 * become \u00XX, i.e. are read back as Latin-1.
 */
static void add_json_string(struct cfs_buf *b, const char *s)
{
	cfs_buf_add(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = utf8_len(p);

		if (*p == '"' || *p == '\\') {
			cfs_buf_add(b, "\\", 1);
			cfs_buf_add(b, p++, 1);
		} else if (*p < 0x20 || n == 0) {
			cfs_buf_printf(b, "\\u%04x", *p++);
		} else {
			cfs_buf_add(b, p, n);
			p += n;
		}
	}
	cfs_buf_add(b, "\"", 1);
}

static errint_t write_line(struct cfs_trace *t, const struct cfs_buf *b)
{
	if (!b->len || b->data[b->len - 1] != '\n') /* cut short by the bound */
		return -EFBIG;
	return cfs_write_all(t->fd, b->data, b->len);
}

errint_t cfs_trace_open(const char *path, struct cfs_trace **out, struct cfs_err *err)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	struct cfs_trace *t;

	if (fd < 0)
		return cfs_err_set(err, errno, "trace %s: %s", path, strerror(errno));
	t = cfs_xcalloc(1, sizeof(*t));
	t->fd = fd;
	t->path = cfs_xstrdup(path);
	*out = t;
	return 0;
}

errint_t cfs_trace_header(struct cfs_trace *t, const struct cfs_tree *tree, const char *index,
			  struct cfs_err *err)
{
	cleanup_free char *abs = realpath(index, NULL);
	cleanup_buf struct cfs_buf b;
	int r;

	cfs_buf_init(&b, MAX_LINE);
	cfs_buf_printf(&b, "{\"condafs_trace\": %d, \"index\": ", TRACE_VERSION);
	add_json_string(&b, abs ? abs : index);
	cfs_buf_addstr(&b, ", \"prefix\": ");
	add_json_string(&b, tree->prefix);
	cfs_buf_addstr(&b, ", \"lock_sha256\": ");
	add_json_string(&b, tree->lock_sha256);
	cfs_buf_printf(&b, ", \"started\": %.3f}\n", now());
	if ((r = write_line(t, &b)) < 0)
		return cfs_err_set(err, -r, "trace %s: %s", t->path, strerror(-r));
	return 0;
}

void cfs_trace_free(struct cfs_trace *t)
{
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd);
	free(t->path);
	free(t);
}

static const char *op_name(enum cfs_seen op)
{
	switch (op) {
	case CFS_TRACE_LOOKUP: return "lookup";
	case CFS_TRACE_GETATTR: return "getattr";
	case CFS_TRACE_OPEN: return "open";
	case CFS_TRACE_READLINK: return "readlink";
	case CFS_TRACE_READDIR: return "readdir";
	default: return "?";
	}
}

void cfs_trace_record(struct cfs_fs *fs, fuse_req_t req, uint32_t ino, enum cfs_seen op)
{
	struct cfs_trace *t = fs->trace;
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	uint32_t mode = fs->tree.nodes[ino].mode;
	char path[CFS_MAX_PATH_BYTES], comm[64];
	cleanup_buf struct cfs_buf b;
	int r;

	if (atomic_fetch_or(&fs->seen[ino], op) & op)
		return; /* another thread was first */
	if (atomic_load(&t->failed))
		return;
	cfs_tree_path(&fs->tree, ino, path, sizeof(path));
	cfs_proc_comm(ctx->pid, comm, sizeof(comm));
	cfs_buf_init(&b, MAX_LINE);
	cfs_buf_printf(&b, "{\"t\": %.6f, \"op\": \"%s\", \"path\": ", now(), op_name(op));
	add_json_string(&b, path);
	cfs_buf_printf(&b, ", \"type\": \"%s\", \"pid\": %d, \"comm\": ",
		       S_ISDIR(mode) ? "dir" : S_ISLNK(mode) ? "symlink" : "file", (int)ctx->pid);
	add_json_string(&b, comm);
	cfs_buf_addstr(&b, "}\n");
	r = write_line(t, &b);
	if (r == 0) {
		atomic_fetch_add(&fs->stats.trace_lines, 1);
	} else if (!atomic_exchange(&t->failed, true)) {
		cfs_error("trace %s: %s; tracing stops", t->path, strerror(-r));
	}
}

/* SPDX-License-Identifier: MIT */
#include "fsutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>

errint_t cfs_mkdir_p(const char *path, mode_t mode)
{
	cleanup_free char *p = cfs_xstrdup(path);
	size_t len = strlen(p);

	while (len > 1 && p[len - 1] == '/')
		p[--len] = '\0';
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

errint_t cfs_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

errint_t cfs_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

ssize_t cfs_pread_all(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

errint_t cfs_tmpfile_open(struct cfs_tmpfile *t, const char *dir, const char *base)
{
	t->path = cfs_xasprintf("%s/.%s.tmp-XXXXXX", dir, base);
	t->fd = mkostemp(t->path, O_CLOEXEC);
	if (t->fd < 0) {
		int r = -errno;
		free(t->path);
		t->path = NULL;
		return r;
	}
	/* mkstemp creates 0600; published files are world-readable. */
	mode_t um = umask(0);
	umask(um);
	fchmod(t->fd, 0644 & ~um);
	return 0;
}

errint_t cfs_tmpfile_commit(struct cfs_tmpfile *t, const char *final_path, bool do_fsync)
{
	int r = 0;

	if (do_fsync && fsync(t->fd) < 0)
		r = -errno;
	if (close(t->fd) < 0 && !r)
		r = -errno;
	t->fd = -1;
	if (!r && rename(t->path, final_path) < 0)
		r = -errno;
	if (r)
		unlink(t->path);
	free(t->path);
	t->path = NULL;
	if (!r && do_fsync)
		r = cfs_fsync_parent(final_path);
	return r;
}

void cfs_tmpfile_abort(struct cfs_tmpfile *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	if (t->path)
		unlink(t->path);
	free(t->path);
	t->path = NULL;
}

errint_t cfs_fsync_parent(const char *path)
{
	cleanup_free char *copy = cfs_xstrdup(path);
	cleanup_fd int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

errint_t cfs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	cleanup_free char *copy = cfs_xstrdup(path);
	cleanup_free char *copy2 = cfs_xstrdup(path);
	struct cfs_tmpfile t = { .fd = -1 };
	int r;

	r = cfs_tmpfile_open(&t, dirname(copy), basename(copy2));
	if (r < 0)
		return r;
	r = cfs_write_all(t.fd, data, len);
	if (!r && fchmod(t.fd, mode) < 0)
		r = -errno;
	if (r) {
		cfs_tmpfile_abort(&t);
		return r;
	}
	return cfs_tmpfile_commit(&t, path, true);
}

void cfs_format_size(uint64_t bytes, char *out, size_t outlen)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < CFS_ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, outlen, "%llu B", (unsigned long long)bytes);
	else
		snprintf(out, outlen, "%.1f %s", v, units[u]);
}

errint_t cfs_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	case 't': case 'T': mul = 1ull << 40; end++; break;
	default: return -EINVAL;
	}
	if (*end == 'i' && end[-1] != '\0')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

static int make_writable(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_D)
		chmod(path, (st->st_mode & 07777) | S_IRWXU);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void cfs_rmtree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	/* Read-only directories (an export's) must become writable to be emptied. */
	nftw(path, make_writable, 64, FTW_PHYS);
	nftw(path, rm_one, 64, FTW_DEPTH | FTW_PHYS);
}

/* SPDX-License-Identifier: MIT */
/*
 * The mount's cache (fs/cache.c): publishing a verified object.  Two
 * loaders of one object (an open and speculation, or two daemons sharing
 * a cache) may both finish it.  The file published first stays under its
 * name, since an open may hold it: a later publisher gets that file,
 * locked, and its own copy is dropped.  A file under the name that is not
 * what the name promises (a wrong size) is replaced.  Nothing is left in
 * tmp/ either way.  On a file system without RENAME_NOREPLACE (here made
 * by answering renameat2() with EINVAL) publishing still works, replacing.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "check.h"
#include "fs-internal.h"
#include "fsutil.h"
#include "store.h"

/* When set, renameat2() fails as on a file system without its flags. */
static bool no_renameat2_flags;

/* Replaces libc's for the cache code linked into this test. */
int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
	      unsigned int flags)
{
	if (no_renameat2_flags && flags) {
		errno = EINVAL;
		return -1;
	}
	return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

static const char content[] = "verified bytes of one object\n";
#define SIZE (sizeof(content) - 1)

/* Loads the object digest into the cache as a loader does; its fd, or -1. */
static int load(struct cfs_cache *c, const uint8_t *digest)
{
	struct cfs_cache_tmp t;
	int fd = -1;

	if (cfs_cache_tmp_open(c, digest, SIZE, &t) < 0)
		return -1;
	if (write(t.fd, content, SIZE) != (ssize_t)SIZE) {
		cfs_cache_tmp_abort(c, &t);
		return -1;
	}
	return cfs_cache_tmp_publish(c, &t, digest, &fd) == 0 ? fd : -1;
}

static ino_t ino_of_fd(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

static ino_t ino_of_name(const char *dir, const uint8_t *digest, off_t *size)
{
	char rel[CFS_OBJECT_RELPATH_LEN], *path;
	struct stat st;
	int r;

	cfs_cached_object_relpath(digest, rel);
	path = cfs_xasprintf("%s/%s", dir, rel);
	r = stat(path, &st);
	free(path);
	if (r < 0)
		return 0;
	*size = st.st_size;
	return st.st_ino;
}

static int tmp_files(const char *dir)
{
	char *path = cfs_xasprintf("%s/tmp", dir);
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	free(path);
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

int main(void)
{
	char dir[] = "/tmp/condafs-test-cache.XXXXXX";
	struct cfs_stats stats = { 0 };
	struct cfs_cache *c = NULL;
	struct cfs_err err = { 0 };
	uint8_t digest[CFS_SHA256_LEN], other[CFS_SHA256_LEN];
	off_t size = 0;
	int first, second, bad, fixed;

	memset(digest, 0xab, sizeof(digest));
	memset(other, 0xcd, sizeof(other));
	CHECK(mkdtemp(dir) != NULL);
	CHECK(cfs_cache_open(dir, 1 << 20, &stats, NULL, NULL, &c, &err) == 0);
	if (!c)
		return check_summary();

	/* The first publisher's file gets the name (its subdirectory made on the way). */
	first = load(c, digest);
	CHECK(first >= 0);
	CHECK(ino_of_name(dir, digest, &size) == ino_of_fd(first));
	CHECK(size == (off_t)SIZE);

	/* A second loader of the same object gets that same file, not its own. */
	second = load(c, digest);
	CHECK(second >= 0);
	CHECK(ino_of_fd(second) == ino_of_fd(first));
	CHECK(ino_of_name(dir, digest, &size) == ino_of_fd(first));
	/* ... holding its shared lock, as cfs_cache_get's callers do. */
	CHECK(flock(first, LOCK_EX | LOCK_NB) < 0);
	close(second);
	CHECK(tmp_files(dir) == 0);
	close(first);

	/* A wrong-size file under a name, held by someone, is replaced. */
	{
		char rel[CFS_OBJECT_RELPATH_LEN], *path;

		cfs_cached_object_relpath(other, rel);
		path = cfs_xasprintf("%s/%.10s", dir, rel); /* objects/cd */
		CHECK(cfs_mkdir_p(path, 0755) == 0);
		free(path);
		path = cfs_xasprintf("%s/%s", dir, rel);
		bad = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		CHECK(bad >= 0 && write(bad, "short", 5) == 5);
		CHECK(flock(bad, LOCK_SH) == 0);
		free(path);
	}
	fixed = load(c, other);
	CHECK(fixed >= 0);
	CHECK(ino_of_name(dir, other, &size) == ino_of_fd(fixed));
	CHECK(ino_of_fd(fixed) != ino_of_fd(bad));
	CHECK(size == (off_t)SIZE);
	CHECK(tmp_files(dir) == 0);
	close(fixed);
	close(bad);

	/* Without RENAME_NOREPLACE: the first publish makes its subdirectory
	 * and gets the name, and a later one replaces it. */
	no_renameat2_flags = true;
	memset(other, 0x5e, sizeof(other));
	first = load(c, other);
	CHECK(first >= 0);
	CHECK(ino_of_name(dir, other, &size) == ino_of_fd(first));
	second = load(c, other);
	CHECK(second >= 0);
	CHECK(ino_of_name(dir, other, &size) == ino_of_fd(second));
	CHECK(size == (off_t)SIZE);
	CHECK(tmp_files(dir) == 0);
	close(first);
	close(second);

	cfs_cache_free(c);
	cfs_rmtree(dir);
	return check_summary();
}

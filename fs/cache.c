/* SPDX-License-Identifier: MIT */
/*
 * The object cache, shared by any number of daemons:
 *
 *   <cache>/objects/ab/<64 hex>   verified, uncompressed content
 *   <cache>/tmp/<hex>.XXXXXX      objects being written
 *   <cache>/.evict.lock           held (flock) by the one daemon evicting
 *
 * A file gets its object name only after its content was verified, so a
 * name is trusted (only its size is checked).  Every daemon holds a shared
 * flock on each cache file it has open, including files it is writing; the
 * evictor removes a file only after taking LOCK_EX|LOCK_NB on it, so no
 * daemon ever loses a file it serves.  Recency is the file's mtime, which
 * cfs_cache_get() bumps; eviction removes the least recently used objects
 * until the cache is below 90% of its bound and the file system has its
 * reserve free.
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <time.h>

#include "fs-internal.h"
#include "fsutil.h"
#include "log.h"
#include "store.h"

#define TOUCH_AFTER_SECS 5     /* bump an object's mtime at most this often */
#define STALE_TMP_SECS 60      /* unlocked temporary files older than this are debris */
#define RESERVE_MAX (1ull << 30)

struct cfs_cache {
	char *dir;
	int dirfd;
	int lockfd; /* .evict.lock */
	uint64_t max;
	struct cfs_stats *stats;
	cfs_held_fn held;
	void *held_ctx;
	pthread_mutex_t lock;
	uint64_t usage; /* last scan plus what this daemon added since */
	bool new_cache;     /* objects/ff missing at open: make the subdirectories */
	bool maker_started;
	atomic_bool stopping; /* cfs_cache_free: the maker stops early */
	pthread_t maker;
};

struct entry {
	int64_t mtime_ns;
	uint64_t size;
	uint8_t digest[CFS_SHA256_LEN];
};

static bool flock_nb(int fd, int op)
{
	return flock(fd, op | LOCK_NB) == 0;
}

static errint_t flock_wait(int fd, int op)
{
	while (flock(fd, op) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* Removes temporary files that no daemon is writing (left by a crash). */
static uint64_t scan_tmp(struct cfs_cache *c)
{
	DIR *d;
	struct dirent *de;
	uint64_t total = 0;
	int fd = openat(c->dirfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		struct stat st;
		if (de->d_name[0] == '.' || fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode) && time(NULL) - st.st_mtime > STALE_TMP_SECS) {
			cleanup_fd int f = openat(fd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (f >= 0 && flock_nb(f, LOCK_EX) && unlinkat(fd, de->d_name, 0) == 0) {
				cfs_info("cache: removed stale temporary file tmp/%s", de->d_name);
				continue;
			}
		}
		total += (uint64_t)st.st_size;
	}
	closedir(d);
	return total;
}

/*
 * Sums the sizes of all objects, temporary files and held unlinked files.
 * With out, also returns every object (caller frees *out).
 */
static uint64_t scan(struct cfs_cache *c, struct entry **out, size_t *n_out)
{
	struct entry *v = NULL;
	size_t n = 0, alloc = 0;
	uint64_t total = scan_tmp(c);

	for (int i = 0; i < 256; i++) {
		char sub[16];
		DIR *d;
		struct dirent *de;
		int fd;

		snprintf(sub, sizeof(sub), "objects/%02x", i);
		fd = openat(c->dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (!(d = fdopendir(fd))) {
			close(fd);
			continue;
		}
		while ((de = readdir(d))) {
			struct stat st;
			uint8_t digest[CFS_SHA256_LEN];
			if (strlen(de->d_name) != 2 * CFS_SHA256_LEN ||
			    cfs_unhex(de->d_name, digest, CFS_SHA256_LEN) < 0 ||
			    fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
				continue;
			total += (uint64_t)st.st_size;
			if (!out)
				continue;
			if (n == alloc) {
				alloc = alloc ? 2 * alloc : 1024;
				v = cfs_xrealloc(v, alloc * sizeof(*v));
			}
			v[n].mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
			v[n].size = (uint64_t)st.st_size;
			memcpy(v[n].digest, digest, CFS_SHA256_LEN);
			n++;
		}
		closedir(d);
	}
	if (c->held)
		total += c->held(c->held_ctx);
	if (out) {
		*out = v;
		*n_out = n;
	}
	return total;
}

static bool space_low(struct cfs_cache *c, uint64_t need)
{
	struct statvfs sv;
	uint64_t avail, reserve;

	if (fstatvfs(c->dirfd, &sv) < 0)
		return false;
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	reserve = (uint64_t)sv.f_blocks * sv.f_frsize / 20;
	if (reserve > RESERVE_MAX)
		reserve = RESERVE_MAX;
	return avail < need + reserve;
}

static bool over(struct cfs_cache *c, uint64_t need, uint64_t limit)
{
	return c->usage + need > limit || space_low(c, need);
}

static int by_mtime(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	return x->mtime_ns < y->mtime_ns ? -1 : x->mtime_ns > y->mtime_ns;
}

/* Removes one object unless some process holds it.  True if removed. */
static bool evict_one(struct cfs_cache *c, const struct entry *e)
{
	char rel[CFS_OBJECT_RELPATH_LEN];
	struct stat st1, st2;
	cleanup_fd int fd = -1;

	cfs_cached_object_relpath(e->digest, rel);
	fd = openat(c->dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !flock_nb(fd, LOCK_EX))
		return false;
	/* Still the file under that name (not one published since)? */
	if (fstat(fd, &st1) < 0 || fstatat(c->dirfd, rel, &st2, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st1.st_ino != st2.st_ino || st1.st_dev != st2.st_dev)
		return false;
	if (unlinkat(c->dirfd, rel, 0) < 0)
		return false;
	atomic_fetch_add(&c->stats->evictions, 1);
	atomic_fetch_add(&c->stats->evicted_bytes, (uint64_t)st1.st_size);
	cfs_debug("cache: evicted %s (%llu bytes)", rel, (unsigned long long)st1.st_size);
	return true;
}

/* Called with c->lock held: makes room for need more bytes. */
static void make_room(struct cfs_cache *c, uint64_t need)
{
	struct entry *v = NULL;
	size_t n = 0;
	uint64_t low = c->max / 10 * 9;

	if (!over(c, need, c->max))
		return;
	/* One evictor at a time across daemons; the others wait, then rescan. */
	if (flock_wait(c->lockfd, LOCK_EX) < 0)
		return;
	c->usage = scan(c, &v, &n);
	if (over(c, need, c->max)) {
		qsort(v, n, sizeof(*v), by_mtime);
		for (size_t i = 0; i < n && over(c, need, low); i++)
			if (evict_one(c, &v[i]))
				c->usage -= v[i].size < c->usage ? v[i].size : c->usage;
	}
	flock(c->lockfd, LOCK_UN);
	free(v);
}

/*
 * objects/00 to objects/ff, made once when the cache is new, so that the
 * first objects do not each pay for a failed rename and a mkdir.  Making
 * 256 directories costs a fresh cache some 30 ms of file system work, so
 * it runs on a thread of its own once the file system is mounted, beside
 * the first processes; cfs_cache_tmp_publish makes any directory that is
 * still missing when it needs it.
 */
static void *make_subdirs(void *arg)
{
	struct cfs_cache *c = arg;
	char sub[16];

	for (unsigned i = 0; i < 256 && !atomic_load(&c->stopping); i++) {
		snprintf(sub, sizeof(sub), "objects/%02x", i);
		mkdirat(c->dirfd, sub, 0755);
	}
	return NULL;
}

void cfs_cache_start(struct cfs_cache *c)
{
	if (c->new_cache && !c->maker_started)
		c->maker_started = pthread_create(&c->maker, NULL, make_subdirs, c) == 0;
}

errint_t cfs_cache_open(const char *dir, uint64_t max_bytes, struct cfs_stats *stats,
			cfs_held_fn held, void *held_ctx, struct cfs_cache **out,
			struct cfs_err *err)
{
	struct cfs_cache *c;
	cleanup_free char *objects = cfs_xasprintf("%s/objects", dir);
	cleanup_free char *tmp = cfs_xasprintf("%s/tmp", dir);
	struct stat st;
	int r;

	if ((r = cfs_mkdir_p(objects, 0755)) < 0 || (r = cfs_mkdir_p(tmp, 0755)) < 0)
		return cfs_err_set(err, -r, "cache %s: %s", dir, strerror(-r));
	c = cfs_xcalloc(1, sizeof(*c));
	c->dir = realpath(dir, NULL);
	c->dirfd = c->dir ? open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (c->dirfd < 0) {
		r = -errno;
		free(c->dir);
		free(c);
		return cfs_err_set(err, -r, "cache %s: %s", dir, strerror(-r));
	}
	c->lockfd = openat(c->dirfd, ".evict.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (c->lockfd < 0) {
		r = -errno;
		cfs_cache_free(c);
		return cfs_err_set(err, -r, "cache %s/.evict.lock: %s", dir, strerror(-r));
	}
	c->new_cache = fstatat(c->dirfd, "objects/ff", &st, 0) < 0;
	c->max = max_bytes;
	c->stats = stats;
	c->held = held;
	c->held_ctx = held_ctx;
	pthread_mutex_init(&c->lock, NULL);
	/* Warm start: account for what earlier daemons left. */
	c->usage = scan(c, NULL, NULL);
	*out = c;
	return 0;
}

void cfs_cache_free(struct cfs_cache *c)
{
	if (!c)
		return;
	if (c->maker_started) {
		atomic_store(&c->stopping, true);
		pthread_join(c->maker, NULL);
	}
	if (c->lockfd >= 0)
		close(c->lockfd);
	close(c->dirfd);
	pthread_mutex_destroy(&c->lock);
	free(c->dir);
	free(c);
}

const char *cfs_cache_dir(const struct cfs_cache *c)
{
	return c->dir;
}

uint64_t cfs_cache_usage(struct cfs_cache *c)
{
	uint64_t u;

	pthread_mutex_lock(&c->lock);
	u = c->usage;
	pthread_mutex_unlock(&c->lock);
	return u;
}

bool cfs_cache_has_room(struct cfs_cache *c, uint64_t size)
{
	uint64_t usage;

	pthread_mutex_lock(&c->lock);
	usage = c->usage;
	pthread_mutex_unlock(&c->lock);
	return usage + size <= c->max / 10 * 9 && !space_low(c, size);
}

errint_t cfs_cache_get(struct cfs_cache *c, const uint8_t digest[CFS_SHA256_LEN],
		       uint64_t size, int *out)
{
	char rel[CFS_OBJECT_RELPATH_LEN];

	cfs_cached_object_relpath(digest, rel);
	for (int attempt = 0; attempt < 3; attempt++) {
		cleanup_fd int fd = openat(c->dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		int r;

		if (fd < 0)
			return errno == ENOENT ? -ENOENT : -errno;
		if ((r = flock_wait(fd, LOCK_SH)) < 0)
			return r;
		if (fstat(fd, &st) < 0)
			return -errno;
		if (st.st_nlink == 0)
			continue; /* evicted between our open and our lock */
		if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size) {
			/* Not what its name promises: drop it unless someone holds it. */
			cfs_warn("cache: %s/%s has %lld bytes, expected %llu; fetching again", c->dir,
				 rel, (long long)st.st_size, (unsigned long long)size);
			if (flock_nb(fd, LOCK_EX))
				unlinkat(c->dirfd, rel, 0);
			return -ENOENT;
		}
		if (time(NULL) - st.st_mtime >= TOUCH_AFTER_SECS)
			futimens(fd, NULL);
		*out = cfs_steal_fd(&fd);
		return 0;
	}
	return -ENOENT;
}

errint_t cfs_cache_tmp_open(struct cfs_cache *c, const uint8_t digest[CFS_SHA256_LEN],
			    uint64_t size, struct cfs_cache_tmp *t)
{
	char hex[2 * CFS_SHA256_LEN + 1];
	int r;

	cfs_hex(digest, CFS_SHA256_LEN, hex);
	snprintf(t->path, sizeof(t->path), "%s/tmp/%s.XXXXXX", c->dir, hex);
	t->size = size;
	pthread_mutex_lock(&c->lock);
	make_room(c, size);
	c->usage += size;
	pthread_mutex_unlock(&c->lock);
	t->fd = mkostemp(t->path, O_CLOEXEC);
	if (t->fd < 0) {
		r = -errno;
		t->path[0] = '\0';
		cfs_cache_tmp_abort(c, t);
		return r;
	}
	/* Shared lock from the start: no one cleans up a file being written. */
	if ((r = flock_wait(t->fd, LOCK_SH)) < 0 || (fchmod(t->fd, 0644) < 0 && (r = -errno))) {
		cfs_cache_tmp_abort(c, t);
		return r;
	}
	return 0;
}

/*
 * Renames t to rel, making rel's subdirectory if it is missing; with
 * noreplace, fails with -EEXIST rather than replace a file there (where
 * the file system cannot tell, it replaces).
 */
static errint_t rename_to(struct cfs_cache *c, struct cfs_cache_tmp *t, const char *rel,
			  bool noreplace)
{
	char sub[16];

	for (int attempt = 0;; attempt++) {
		int r = noreplace ? renameat2(AT_FDCWD, t->path, c->dirfd, rel, RENAME_NOREPLACE)
				  : renameat(AT_FDCWD, t->path, c->dirfd, rel);

		if (r < 0 && errno == EINVAL && noreplace) {
			noreplace = false;
			r = renameat(AT_FDCWD, t->path, c->dirfd, rel);
		}
		if (r == 0)
			return 0;
		if (errno != ENOENT || attempt)
			return -errno;
		snprintf(sub, sizeof(sub), "%.10s", rel); /* objects/ab */
		if (mkdirat(c->dirfd, sub, 0755) < 0 && errno != EEXIST)
			return -errno;
	}
}

errint_t cfs_cache_tmp_publish(struct cfs_cache *c, struct cfs_cache_tmp *t,
			       const uint8_t digest[CFS_SHA256_LEN], int *fd)
{
	char rel[CFS_OBJECT_RELPATH_LEN];
	int r;

	cfs_cached_object_relpath(digest, rel);
	/*
	 * Another thread or daemon may have published the same object first,
	 * and an open may hold that file: replacing it would leave the open
	 * holding a file without a name and the name on one nobody holds,
	 * which eviction may then remove.  So the first file stays, and this
	 * one is dropped for it; only a file that is not what its name
	 * promises (cfs_cache_get refuses it) is replaced.
	 */
	r = rename_to(c, t, rel, true);
	if (r == -EEXIST) {
		if (cfs_cache_get(c, digest, t->size, fd) == 0) {
			cfs_cache_tmp_abort(c, t);
			return 0;
		}
		r = rename_to(c, t, rel, false);
	}
	if (r < 0) {
		cfs_cache_tmp_abort(c, t);
		return r;
	}
	*fd = cfs_steal_fd(&t->fd);
	t->path[0] = '\0';
	return 0;
}

void cfs_cache_tmp_abort(struct cfs_cache *c, struct cfs_cache_tmp *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	if (t->path[0])
		unlink(t->path);
	t->path[0] = '\0';
	pthread_mutex_lock(&c->lock);
	c->usage -= t->size < c->usage ? t->size : c->usage;
	pthread_mutex_unlock(&c->lock);
	t->size = 0;
}

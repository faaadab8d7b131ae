/* SPDX-License-Identifier: MIT */
/*
 * Open objects.  Every open file of one content shares one struct cfs_obj:
 * one fd on the cache file (holding the shared flock) and a reference
 * count.  The first open of a content loads it (from the cache, or fetched
 * from the store); concurrent opens wait for that load instead of fetching
 * again.  A failed load leaves the table, so the next open tries again.
 */
#include <string.h>

#include "fs-internal.h"
#include "log.h"

static struct cfs_obj **bucket(struct cfs_objtab *t, const uint8_t *digest)
{
	uint32_t h;

	memcpy(&h, digest, sizeof(h));
	return &t->buckets[h % CFS_OBJ_BUCKETS];
}

void cfs_objtab_init(struct cfs_objtab *t)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
}

void cfs_objtab_release(struct cfs_objtab *t)
{
	for (size_t i = 0; i < CFS_OBJ_BUCKETS; i++) {
		struct cfs_obj *o, *next;
		for (o = t->buckets[i]; o; o = next) {
			next = o->next;
			if (o->fd >= 0)
				close(o->fd);
			free(o);
		}
	}
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
}

uint64_t cfs_objtab_held_unlinked(void *ctx)
{
	struct cfs_fs *fs = ctx;
	struct cfs_objtab *t = &fs->objs;
	uint64_t total = 0;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < CFS_OBJ_BUCKETS; i++)
		for (struct cfs_obj *o = t->buckets[i]; o; o = o->next) {
			struct stat st;
			if (o->state == CFS_OBJ_READY && fstat(o->fd, &st) == 0 && st.st_nlink == 0)
				total += (uint64_t)st.st_size;
		}
	pthread_mutex_unlock(&t->lock);
	return total;
}

static void unlink_from_table(struct cfs_objtab *t, struct cfs_obj *o)
{
	for (struct cfs_obj **p = bucket(t, o->digest); *p; p = &(*p)->next)
		if (*p == o) {
			*p = o->next;
			o->next = NULL;
			return;
		}
}

/* Drops a reference; called with t->lock held. */
static void unref_locked(struct cfs_objtab *t, struct cfs_obj *o)
{
	if (--o->refs > 0)
		return;
	if (o->state != CFS_OBJ_FAILED)
		unlink_from_table(t, o);
	if (o->fd >= 0)
		close(o->fd);
	t->n_open--;
	free(o);
}

/*
 * The fetch engine brings the object into the cache (fetch.c counts it);
 * then it is opened there.  An eviction in between fetches it again.
 */
static errint_t fetch_engine(struct cfs_fs *fs, struct cfs_obj *o, struct cfs_err *err)
{
	int64_t deadline = cfs_now_ms() + (int64_t)cfs_remote_timeout(fs->remote) * 1000;
	int r;

	for (int tries = 0; tries < 3; tries++) {
		r = cfs_fetcher_get(fs->fetcher, o->digest, o->size, deadline, err);
		if (r < 0)
			return r;
		r = cfs_cache_get(fs->cache, o->digest, o->size, &o->fd);
		if (r != -ENOENT)
			break;
	}
	if (r < 0)
		cfs_err_set(err, -r, "cache %s: %s", cfs_cache_dir(fs->cache), strerror(-r));
	return r;
}

/* What to call o in a message: file ino's path, or o's sha256 when no open asked for it (ino 0). */
static void obj_name(struct cfs_fs *fs, uint32_t ino, const struct cfs_obj *o, char *buf,
		     size_t len)
{
	char hex[2 * CFS_SHA256_LEN + 1];

	if (ino) {
		cfs_tree_path(&fs->tree, ino, buf, len);
		return;
	}
	cfs_hex(o->digest, CFS_SHA256_LEN, hex);
	snprintf(buf, len, "object %s", hex);
}

/*
 * From a local store into fd: from the object's pack, else (no pack, or a
 * pack missing or corrupt) the object alone.
 */
static errint_t fetch_local(struct cfs_fs *fs, uint32_t ino, struct cfs_obj *o, int fd,
			    struct cfs_err *err)
{
	const struct cfs_packmap_entry *e =
		fs->packs.n_packs ? cfs_packmap_find(&fs->packs, o->digest) : NULL;
	char path[CFS_MAX_PATH_BYTES];
	uint64_t wire = 0;
	int r;

	if (e && !atomic_load(&fs->packs.packs[e->pack].missing)) {
		r = cfs_remote_fetch_packed(fs->remote, &fs->packs.packs[e->pack], e->offset,
					    e->csize, o->digest, o->size, fd, &wire, err);
		atomic_fetch_add(&fs->stats.bytes_fetched, wire);
		if (r == 0)
			atomic_fetch_add(&fs->stats.pack_objects, 1);
		if (r == 0 || r == -ETIMEDOUT)
			return r;
		if (r != -ENOENT) {
			obj_name(fs, ino, o, path, sizeof(path));
			cfs_warn("%s: %s; reading its object alone", path, err->msg);
			atomic_fetch_add(&fs->stats.fallbacks, 1);
		}
		if (ftruncate(fd, 0) < 0)
			return cfs_err_set(err, errno, "cache %s: %s", cfs_cache_dir(fs->cache),
					   strerror(errno));
		*err->msg = '\0';
	}
	r = cfs_remote_fetch(fs->remote, o->digest, o->size, fd, &wire, err);
	atomic_fetch_add(&fs->stats.bytes_fetched, wire);
	return r;
}

/*
 * Loads o's content: the cache, else the store.  Logs failures (at debug
 * level for speculation: ino 0).
 */
static errint_t load(struct cfs_fs *fs, uint32_t ino, struct cfs_obj *o, bool *hit)
{
	struct cfs_cache_tmp tmp = { .fd = -1 };
	struct cfs_err err = { "" };
	char path[CFS_MAX_PATH_BYTES];
	uint64_t t0 = cfs_now_us();
	int r;

	r = cfs_cache_get(fs->cache, o->digest, o->size, &o->fd);
	*hit = r == 0;
	if (r != -ENOENT) {
		if (r < 0)
			cfs_err_set(&err, -r, "cache %s: %s", cfs_cache_dir(fs->cache), strerror(-r));
		goto done;
	}
	if (fs->fetcher) {
		r = fetch_engine(fs, o, &err);
		if (r == 0 && cfs_log_get_level() >= CFS_LOG_DEBUG) {
			obj_name(fs, ino, o, path, sizeof(path));
			cfs_debug("%s: waited from %llu ms for %llu us for its object", path,
				  (unsigned long long)(t0 / 1000),
				  (unsigned long long)(cfs_now_us() - t0));
		}
		goto done;
	}
	r = cfs_cache_tmp_open(fs->cache, o->digest, o->size, &tmp);
	if (r < 0) {
		cfs_err_set(&err, -r, "cache %s: %s", cfs_cache_dir(fs->cache), strerror(-r));
		goto done;
	}
	r = fetch_local(fs, ino, o, tmp.fd, &err);
	if (r == 0) {
		r = cfs_cache_tmp_publish(fs->cache, &tmp, o->digest, &o->fd);
		if (r < 0)
			cfs_err_set(&err, -r, "cache %s: %s", cfs_cache_dir(fs->cache), strerror(-r));
	} else {
		cfs_cache_tmp_abort(fs->cache, &tmp);
	}
	if (r == 0) {
		atomic_fetch_add(&fs->stats.fetches, 1);
		atomic_fetch_add(&fs->stats.bytes_cached, o->size);
	} else {
		atomic_fetch_add(&fs->stats.fetch_errors, 1);
	}
done:
	if (r < 0) {
		obj_name(fs, ino, o, path, sizeof(path));
		cfs_log(ino ? CFS_LOG_ERROR : CFS_LOG_DEBUG, "%s: %s", path, err.msg);
		return -EIO;
	}
	return r;
}

/* The table's object for digest, open or loading, or NULL; t->lock is held. */
static struct cfs_obj *find_locked(struct cfs_objtab *t, const uint8_t *digest)
{
	struct cfs_obj *o;

	for (o = *bucket(t, digest); o; o = o->next)
		if (memcmp(o->digest, digest, CFS_SHA256_LEN) == 0)
			break;
	return o;
}

/* A new entry in the loading state, holding one reference; t->lock held. */
static struct cfs_obj *new_loading(struct cfs_objtab *t, const uint8_t *digest, uint64_t size)
{
	struct cfs_obj *o = cfs_xcalloc(1, sizeof(*o));

	memcpy(o->digest, digest, CFS_SHA256_LEN);
	o->size = size;
	o->fd = -1;
	o->refs = 1;
	o->state = CFS_OBJ_LOADING;
	o->next = *bucket(t, digest);
	*bucket(t, digest) = o;
	t->n_open++;
	return o;
}

/* Publishes the result of a load to the threads waiting for it. */
static void finish_load(struct cfs_objtab *t, struct cfs_obj *o, errint_t r)
{
	pthread_mutex_lock(&t->lock);
	if (r == 0) {
		o->state = CFS_OBJ_READY;
	} else {
		/* Waiters see the error; later opens start afresh. */
		o->state = CFS_OBJ_FAILED;
		o->err = r;
		unlink_from_table(t, o);
		unref_locked(t, o);
	}
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

errint_t cfs_obj_get(struct cfs_fs *fs, uint32_t ino, struct cfs_obj **out)
{
	const struct cfs_inode *n = &fs->tree.nodes[ino];
	const uint8_t *digest = fs->tree.digests[n->data];
	struct cfs_objtab *t = &fs->objs;
	struct cfs_obj *o;
	bool waited = false, hit = false;
	uint64_t t0 = cfs_now_us();
	int r;

	if (fs->fetcher)
		cfs_fetcher_touch(fs->fetcher, fs->tree.package[ino]);
	pthread_mutex_lock(&t->lock);
	o = find_locked(t, digest);
	if (o) {
		o->refs++;
		while (o->state == CFS_OBJ_LOADING) {
			waited = true;
			pthread_cond_wait(&t->cond, &t->lock);
		}
		r = o->state == CFS_OBJ_READY ? 0 : o->err;
		if (r < 0)
			unref_locked(t, o);
		pthread_mutex_unlock(&t->lock);
		atomic_fetch_add(waited ? &fs->stats.cache_misses : &fs->stats.cache_hits, 1);
		/* Joined a load: another open's or a prefetch's. */
		if (waited && r == 0)
			cfs_stats_latency(&fs->stats, cfs_now_us() - t0);
		if (r == 0)
			*out = o;
		return r;
	}
	o = new_loading(t, digest, n->size);
	pthread_mutex_unlock(&t->lock);

	r = load(fs, ino, o, &hit);
	atomic_fetch_add(hit ? &fs->stats.cache_hits : &fs->stats.cache_misses, 1);
	/* The fetch engine counts the waits of its own opens. */
	if (r == 0 && !hit && !fs->fetcher)
		cfs_stats_latency(&fs->stats, cfs_now_us() - t0);
	finish_load(t, o, r);
	if (r == 0 && !hit && fs->speculator)
		cfs_speculator_miss(fs->speculator, digest);
	if (r == 0)
		*out = o;
	return r;
}

void cfs_obj_put(struct cfs_fs *fs, struct cfs_obj *o)
{
	pthread_mutex_lock(&fs->objs.lock);
	unref_locked(&fs->objs, o);
	pthread_mutex_unlock(&fs->objs.lock);
}

int cfs_obj_prefetch(struct cfs_fs *fs, uint32_t ino)
{
	const struct cfs_inode *n = &fs->tree.nodes[ino];
	const uint8_t *digest = fs->tree.digests[n->data];
	struct cfs_objtab *t = &fs->objs;
	struct cfs_obj *o;
	bool hit = false;
	int r;

	pthread_mutex_lock(&t->lock);
	o = find_locked(t, digest);
	if (o) {
		/* Open, or being loaded by an open: nothing to do. */
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	o = new_loading(t, digest, n->size);
	pthread_mutex_unlock(&t->lock);

	r = load(fs, ino, o, &hit);
	finish_load(t, o, r);
	if (r == 0)
		cfs_obj_put(fs, o); /* opens that joined keep it */
	return r < 0 ? r : !hit;
}

int cfs_obj_speculate(struct cfs_fs *fs, const uint8_t digest[CFS_SHA256_LEN], uint64_t size)
{
	struct cfs_objtab *t = &fs->objs;
	struct cfs_obj o = { .size = size, .fd = -1 };
	bool in_table, hit = false;
	int r;

	memcpy(o.digest, digest, CFS_SHA256_LEN);
	pthread_mutex_lock(&t->lock);
	in_table = find_locked(t, digest) != NULL;
	pthread_mutex_unlock(&t->lock);
	if (in_table || !cfs_cache_has_room(fs->cache, size))
		return 0;
	r = load(fs, 0, &o, &hit);
	if (o.fd >= 0)
		close(o.fd);
	return r < 0 ? r : !hit;
}

#ifdef FUSE_CAP_PASSTHROUGH
int cfs_obj_passthrough_open(struct cfs_fs *fs, fuse_req_t req, struct cfs_obj *o)
{
	struct cfs_objtab *t = &fs->objs;
	int id = 0;

	if (!atomic_load(&fs->passthrough))
		return 0;
	pthread_mutex_lock(&t->lock);
	if (!o->backing_id && atomic_load(&fs->passthrough)) {
		int r = fuse_passthrough_open(req, o->fd), e = errno;

		if (r > 0)
			o->backing_id = r;
		else if (atomic_exchange(&fs->passthrough, false))
			cfs_info("passthrough: the kernel refused a backing file in %s (%s); "
				 "the daemon serves reads from now on", cfs_cache_dir(fs->cache),
				 strerror(e));
	}
	if (o->backing_id) {
		o->pt_opens++;
		id = o->backing_id;
	}
	pthread_mutex_unlock(&t->lock);
	if (id)
		atomic_fetch_add(&fs->stats.passthrough_opens, 1);
	return id;
}

void cfs_obj_passthrough_release(struct cfs_fs *fs, fuse_req_t req, struct cfs_obj *o)
{
	struct cfs_objtab *t = &fs->objs;

	pthread_mutex_lock(&t->lock);
	if (o->pt_opens && --o->pt_opens == 0) {
		fuse_passthrough_close(req, o->backing_id);
		o->backing_id = 0;
	}
	pthread_mutex_unlock(&t->lock);
}
#else
int cfs_obj_passthrough_open(struct cfs_fs *fs, fuse_req_t req, struct cfs_obj *o)
{
	return 0;
}

void cfs_obj_passthrough_release(struct cfs_fs *fs, fuse_req_t req, struct cfs_obj *o)
{
}
#endif

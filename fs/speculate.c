/* SPDX-License-Identifier: MIT */
/*
 * Speculation for a local store.  A miss means the program has reached a
 * part of the environment it had not read yet; what it reads next is most
 * often what follows in the same pack (a package's hot files, in install
 * order: the other modules of the package it imports).  So after a miss,
 * one thread decodes the small objects that follow it in the pack, up to
 * --speculate compressed bytes, into the cache, where the next open finds
 * them.
 *
 * The thread runs at SCHED_IDLE: it uses the CPU the program leaves idle
 * while it waits for its own opens and never takes it from the daemon's
 * other threads or the program.  So nothing may wait for it: its loads
 * stay out of the table of open objects (an open of an object it is
 * decoding decodes it too), and it never evicts (cfs_obj_speculate).  A
 * newer miss replaces what is still queued: the program has moved on.
 * Network stores speculate in the fetch engine instead (fetch.c), which
 * fetches neighbours in the same range request.
 */
#include <sched.h>
#include <string.h>

#include "fs-internal.h"
#include "log.h"

#define QUEUE_MAX 64

struct item {
	uint8_t digest[CFS_SHA256_LEN];
	uint64_t size;
};

struct cfs_speculator {
	struct cfs_fs *fs;
	uint64_t bytes;
	pthread_t thread;
	bool running, stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct item queue[QUEUE_MAX];
	size_t head, n; /* queue[head..head+n) */
};

struct cfs_speculator *cfs_speculator_new(struct cfs_fs *fs, uint64_t bytes)
{
	struct cfs_speculator *s;

	if (!bytes || !fs->packs.n_index_entries || !fs->packs.ordered)
		return NULL;
	s = cfs_xcalloc(1, sizeof(*s));
	s->fs = fs;
	s->bytes = bytes;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	return s;
}

static void *run(void *arg)
{
	struct cfs_speculator *s = arg;
	struct sched_param idle = { 0 };

	/* Only what would otherwise be idle time. */
	if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle) != 0)
		cfs_debug("speculation: cannot run at SCHED_IDLE; running at normal priority");
	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct item it;
		int r;

		while (!s->n && !s->stop)
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->stop)
			break;
		it = s->queue[s->head];
		s->head = (s->head + 1) % QUEUE_MAX;
		s->n--;
		pthread_mutex_unlock(&s->lock);
		r = cfs_obj_speculate(s->fs, it.digest, it.size);
		if (r > 0)
			atomic_fetch_add(&s->fs->stats.speculated, 1);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

void cfs_speculator_start(struct cfs_speculator *s)
{
	int r;

	if (!s || s->running)
		return;
	r = cfs_thread_start(&s->thread, run, s);
	if (r != 0)
		cfs_warn("speculation: cannot start a thread: %s; none", strerror(r));
	s->running = r == 0;
}

void cfs_speculator_miss(struct cfs_speculator *s, const uint8_t digest[CFS_SHA256_LEN])
{
	const struct cfs_packmap *m = &s->fs->packs;
	const struct cfs_packmap_entry *e, *end = m->entries + m->n_index_entries;

	if (!s->running || !(e = cfs_packmap_find(m, digest)) || e >= end)
		return;
	pthread_mutex_lock(&s->lock);
	s->head = s->n = 0;
	for (const struct cfs_packmap_entry *nb = e + 1; nb < end && nb->pack == e->pack; nb++) {
		if (nb->offset + nb->csize - e->offset > s->bytes ||
		    nb->csize > CFS_SPECULATE_OBJECT_MAX || s->n == QUEUE_MAX)
			break;
		if (!nb->size) /* empty files are never fetched */
			continue;
		memcpy(s->queue[s->n].digest, nb->digest, CFS_SHA256_LEN);
		s->queue[s->n++].size = nb->size;
	}
	if (s->n)
		pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

void cfs_speculator_free(struct cfs_speculator *s)
{
	if (!s)
		return;
	if (s->running) {
		pthread_mutex_lock(&s->lock);
		s->stop = true;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL);
	}
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

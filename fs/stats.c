/* SPDX-License-Identifier: MIT */
/*
 * Counters and the fetch latency histogram, served as JSON by getxattr
 * on the mount root (CFS_FS_STATS_XATTR) and printed by `condafs stats`.
 */
#include <jansson.h>
#include <time.h>
#include <unistd.h>

#include "fs-internal.h"

void cfs_stats_latency(struct cfs_stats *s, uint64_t usec)
{
	unsigned b = 0;

	while (b + 1 < CFS_LAT_BUCKETS && (1ull << b) <= usec)
		b++;
	atomic_fetch_add(&s->lat[b], 1);
	atomic_fetch_add(&s->waits, 1);
	atomic_fetch_add(&s->wait_us, usec);
}

uint64_t cfs_stats_quantile(struct cfs_stats *s, double q)
{
	uint64_t counts[CFS_LAT_BUCKETS], total = 0, seen = 0;

	for (unsigned i = 0; i < CFS_LAT_BUCKETS; i++)
		total += counts[i] = atomic_load(&s->lat[i]);
	if (total == 0)
		return 0;
	for (unsigned i = 0; i < CFS_LAT_BUCKETS; i++) {
		seen += counts[i];
		if ((double)seen >= q * (double)total)
			return 1ull << i; /* the bucket's upper bound */
	}
	return 1ull << (CFS_LAT_BUCKETS - 1);
}

#define U(x) json_integer((json_int_t)atomic_load(&(x)))

char *cfs_stats_json(struct cfs_fs *fs)
{
	struct cfs_stats *s = &fs->stats;
	json_t *o = json_object();
	uint64_t n_open;
	char *text;

	pthread_mutex_lock(&fs->objs.lock);
	n_open = fs->objs.n_open;
	pthread_mutex_unlock(&fs->objs.lock);
	json_object_set_new(o, "pid", json_integer(getpid()));
	json_object_set_new(o, "uptime", json_integer(time(NULL) - fs->started));
	json_object_set_new(o, "store", json_string(fs->store_url));
	json_object_set_new(o, "cache", json_string(cfs_cache_dir(fs->cache)));
	json_object_set_new(o, "files", json_integer((json_int_t)fs->tree.files));
	json_object_set_new(o, "opens", U(s->opens));
	json_object_set_new(o, "cache_hits", U(s->cache_hits));
	json_object_set_new(o, "cache_misses", U(s->cache_misses));
	json_object_set_new(o, "objects_fetched", U(s->fetches));
	json_object_set_new(o, "fetch_errors", U(s->fetch_errors));
	json_object_set_new(o, "fetch_waits", U(s->waits));
	json_object_set_new(o, "fetch_wait_ms", json_integer((json_int_t)(atomic_load(&s->wait_us) / 1000)));
	json_object_set_new(o, "bytes_fetched", U(s->bytes_fetched));
	json_object_set_new(o, "bytes_cached", U(s->bytes_cached));
	json_object_set_new(o, "bytes_served", U(s->bytes_served));
	json_object_set_new(o, "passthrough", json_boolean(atomic_load(&fs->passthrough)));
	json_object_set_new(o, "passthrough_opens", U(s->passthrough_opens));
	json_object_set_new(o, "stored_ahead", U(s->stored));
	json_object_set_new(o, "evictions", U(s->evictions));
	json_object_set_new(o, "evicted_bytes", U(s->evicted_bytes));
	json_object_set_new(o, "open_objects", json_integer((json_int_t)n_open));
	json_object_set_new(o, "cache_bytes", json_integer((json_int_t)cfs_cache_usage(fs->cache)));
	json_object_set_new(o, "pruned", json_string(fs->pruned == CFS_FS_PRUNED_FETCH ? "fetch"
								: "enoent"));
	json_object_set_new(o, "pruned_accesses", U(s->pruned_accesses));
	json_object_set_new(o, "strict", json_boolean(fs->strict));
	json_object_set_new(o, "strict_refused", U(s->strict_refused));
	json_object_set_new(o, "trace_lines", U(s->trace_lines));
	json_object_set_new(o, "prefetch_objects",
			    json_integer((json_int_t)cfs_prefetch_total(fs->prefetch)));
	json_object_set_new(o, "prefetch_done", U(s->prefetch_done));
	json_object_set_new(o, "prefetched", U(s->prefetched));
	json_object_set_new(o, "prefetch_errors", U(s->prefetch_errors));
	json_object_set_new(o, "http_requests", U(s->requests));
	json_object_set_new(o, "range_requests", U(s->range_requests));
	json_object_set_new(o, "http2_requests", U(s->http2_requests));
	json_object_set_new(o, "pack_objects", U(s->pack_objects));
	json_object_set_new(o, "speculated", U(s->speculated));
	json_object_set_new(o, "fallbacks", U(s->fallbacks));
	json_object_set_new(o, "streamed_packs", U(s->streamed_packs));
	json_object_set_new(o, "dependency_heads", U(s->dependency_heads));
	json_object_set_new(o, "link_rate", U(s->link_rate));
	json_object_set_new(o, "stream_min_rate", U(s->stream_min_rate));
	json_object_set_new(o, "link_wait_us", U(s->link_wait_us));
	json_object_set_new(o, "packs", json_integer((json_int_t)(fs->packs.n_packs ?
								 fs->packs.n_packs - 1 : 0)));
	json_object_set_new(o, "fetch_p50_us", json_integer((json_int_t)cfs_stats_quantile(s, 0.50)));
	json_object_set_new(o, "fetch_p99_us", json_integer((json_int_t)cfs_stats_quantile(s, 0.99)));
	text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return text;
}

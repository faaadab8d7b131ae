/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by every condafs module: scoped cleanup, bounds,
 * error codes.  Style follows composefs's lcfs-utils.h.
 */
#ifndef CFS_UTIL_H
#define CFS_UTIL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Internal functions return 0 or a negative errno. */
typedef int errint_t;

#define CFS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void cfs_freep(void *p)
{
	free(*(void **)p);
}

static inline void cfs_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void cfs_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define cleanup_free __attribute__((cleanup(cfs_freep)))
#define cleanup_fd __attribute__((cleanup(cfs_closep)))
#define cleanup_file __attribute__((cleanup(cfs_fclosep)))

static inline void *cfs_steal_ptr(void *pp)
{
	void **p = pp;
	void *v = *p;
	*p = NULL;
	return v;
}
#define steal_pointer(pp) cfs_steal_ptr(pp)

static inline int cfs_steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

/* Allocation that never returns NULL: condafs aborts on OOM. */
/*
 * Makes room for one more element in the array *p of *n used and *alloc
 * allocated elements of size bytes each, doubling from first.
 */
void cfs_grow(void *p, size_t n, size_t *alloc, size_t size, size_t first);
void *cfs_xmalloc(size_t n);
void *cfs_xcalloc(size_t n, size_t size);
void *cfs_xrealloc(void *p, size_t n);
char *cfs_xstrdup(const char *s);
char *cfs_xstrndup(const char *s, size_t n);
/* Caller frees the result. */
char *cfs_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A one-line, human-readable error description.  Functions that can fail
 * for a reason that has no errno (a malformed lock file, a hash mismatch)
 * fill one of these; the CLI prints it once as "condafs: <msg>".
 * Messages name the file, package or path and what was wrong, e.g.
 * "conda-lock.yml:42: package 'numpy': missing hash.sha256".
 */
struct cfs_err {
	char msg[1024];
};

/* Sets err->msg (if err is non-NULL) and returns -code (code > 0). */
int cfs_err_set(struct cfs_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefixes err->msg with "<prefix>: ". */
void cfs_err_prefix(struct cfs_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Bounds on sizes that come from untrusted input. */
#define CFS_MAX_LOCK_BYTES (256u << 20)     /* a lock file */
#define CFS_MAX_JSON_BYTES (256u << 20)     /* one info/ JSON member */
#define CFS_MAX_RELOC_BYTES (1024ull << 20) /* a file needing relocation */
#define CFS_MAX_FILE_BYTES (64ull << 30)    /* any single file */
#define CFS_MAX_PATH_BYTES 4096

/* read() that retries on EINTR; returns bytes read (0 at EOF) or -errno. */
ssize_t cfs_read_retry(int fd, void *buf, size_t len);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void cfs_hex(const uint8_t *in, size_t n, char *out);
/* Parses exactly 2n hex digits (any case); returns 0 or -EINVAL. */
int cfs_unhex(const char *in, uint8_t *out, size_t n);
/* True if s is exactly n hex digits. */
bool cfs_is_hex(const char *s, size_t n);
/* Whether s ends with suffix. */
bool cfs_ends_with(const char *s, const char *suffix);

/* CLOCK_MONOTONIC in milliseconds and microseconds. */
int64_t cfs_now_ms(void);
uint64_t cfs_now_us(void);
/* Sleeps ms milliseconds, resuming after signals. */
void cfs_sleep_ms(int64_t ms);

/*
 * pthread_create with every signal blocked in the new thread: signals
 * belong to the threads that handle them (the daemon's session loop, the
 * main thread of a command).  Returns pthread_create's error number.
 */
int cfs_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

#endif

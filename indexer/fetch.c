/* SPDX-License-Identifier: MIT */
/*
 * Package fetching.  Local sources (plain paths and file:// URLs) are
 * verified where they are.  Remote ones (http, https) run through one
 * libcurl multi handle, at most opts->jobs at once, sharing its connection
 * cache; libcurl is loaded only when something has to be downloaded.
 * Every attempt gets a new easy handle: the connections stay in the multi
 * handle, and no attempt inherits a failed one's state (libcurl 7.88
 * refuses CURLOPT_BUFFERSIZE on a handle whose name resolution failed).
 * Each download streams into <cache>/pkgs/.tmp-XXXXXX while being hashed,
 * and is renamed to its cache name only once verified and fsync'd, so the
 * cache never holds a partial or unverified file.
 */
#include "fetch.h"
#include "http.h"
#include "log.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#define FETCH_MAX_REDIRS 5
#define FETCH_BACKOFF_FIRST_MS 200
#define FETCH_BACKOFF_MAX_MS 5000
#define FETCH_PROGRESS_EVERY_MS 100
#define FETCH_FN_MAX 180 /* keeps "<64 hex>-<fn>" under NAME_MAX */

/* A remote item that has to be downloaded. */
struct fetch_job {
	struct cfs_fetch_item *item;
	const char *label;
	char *url; /* after mirror rewriting */
	char *fn;  /* file name part of the cache name */
};

enum xfer_state { XFER_IDLE, XFER_RUNNING, XFER_BACKOFF };

/* One of opts->jobs transfer slots. */
struct xfer {
	struct fetcher *f;
	CURL *easy; /* this attempt's, or NULL; connections live in the multi handle */
	enum xfer_state state;
	struct fetch_job *job;
	int attempt;        /* attempts started for this job */
	int64_t not_before; /* XFER_BACKOFF: monotonic ms */
	char *tmp_path;
	int fd;
	struct cfs_hash *sha256, *md5;
	uint64_t got;
	int write_err;
	char errbuf[CURL_ERROR_SIZE];
};

struct fetcher {
	const struct cfs_fetch_opts *opts;
	struct cfs_err *err;
	size_t n_items;
	char *pkgs_dir;
	CURLM *multi;
	struct xfer *slots;
	int n_slots;
	struct fetch_job *jobs;
	size_t n_jobs, next_job;
	unsigned int seed;
	/* progress */
	size_t done;
	uint64_t bytes;
	int64_t t_start, t_drawn;
	int drawn_len;
};

char *cfs_fetch_rewrite_url(const struct cfs_mirror *mirrors, size_t n,
			    const char *url)
{
	for (size_t i = 0; i < n; i++) {
		const char *from = mirrors[i].from;
		size_t len = from ? strlen(from) : 0;

		/* An empty prefix would swallow every URL: ignore it. */
		if (len > 0 && strncmp(url, from, len) == 0)
			return cfs_xasprintf("%s%s", mirrors[i].to ? mirrors[i].to : "",
					     url + len);
	}
	return cfs_xstrdup(url);
}

void cfs_fetch_item_release(struct cfs_fetch_item *item)
{
	free(item->path);
	item->path = NULL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes %XX escapes in s[0..len); NULL if that would produce a NUL. */
static char *percent_decode(const char *s, size_t len)
{
	char *out = cfs_xmalloc(len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < len &&
		    (hi = hexval(s[i + 1])) >= 0 && (lo = hexval(s[i + 2])) >= 0) {
			if (hi == 0 && lo == 0) {
				free(out);
				return NULL;
			}
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

/* Length of a "scheme://" prefix at the start of url (without "://"), or 0. */
static size_t scheme_len(const char *url)
{
	size_t i = 0;

	if (!((url[0] | 0x20) >= 'a' && (url[0] | 0x20) <= 'z'))
		return 0;
	while (url[i] && (strchr("+-.", url[i]) || (url[i] >= '0' && url[i] <= '9') ||
			  ((url[i] | 0x20) >= 'a' && (url[i] | 0x20) <= 'z')))
		i++;
	return strncmp(url + i, "://", 3) == 0 ? i : 0;
}

/*
 * Returns 1 for an http(s) URL, 0 for a local source (with *path set to the
 * file to read; caller frees), or a negative errno with err set.
 */
static errint_t classify_url(const char *label, const char *url, char **path,
			     struct cfs_err *err)
{
	size_t slen = scheme_len(url);
	const char *rest = url + slen + 3;

	if (slen == 0) {
		if (!*url)
			return cfs_err_set(err, EINVAL, "%s: empty URL", label);
		*path = cfs_xstrdup(url);
		return 0;
	}
	if ((slen == 4 && strncasecmp(url, "http", 4) == 0) ||
	    (slen == 5 && strncasecmp(url, "https", 5) == 0))
		return 1;
	if (slen != 4 || strncasecmp(url, "file", 4) != 0)
		return cfs_err_set(err, EINVAL, "%s: %s: unsupported URL scheme", label, url);
	if (strncasecmp(rest, "localhost/", 10) == 0)
		rest += 9;
	if (*rest != '/')
		return cfs_err_set(err, EINVAL,
				   "%s: %s: file:// URLs must name a local absolute path",
				   label, url);
	*path = percent_decode(rest, strcspn(rest, "?#"));
	if (!*path)
		return cfs_err_set(err, EINVAL, "%s: %s: %%00 in file:// URL", label, url);
	return 0;
}

/* The name part of a cache file: the label, or the URL's last component. */
static char *job_fn(const char *label, const char *url)
{
	cleanup_free char *dec = NULL;
	const char *src = label;
	char *fn;

	if (!src || !*src) {
		size_t end = strcspn(url, "?#");
		const char *slash = memrchr(url, '/', end);
		const char *start = slash ? slash + 1 : url;
		src = dec = percent_decode(start, (size_t)(url + end - start));
	}
	fn = cfs_xstrndup(src ? src : "", FETCH_FN_MAX);
	for (char *c = fn; *c; c++)
		if (*c == '/' || (unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '_';
	if (!*fn) {
		free(fn);
		fn = cfs_xstrdup("download");
	}
	return fn;
}

/*
 * Checks item->got_sha256 (and got_md5 when only an md5 is known) against
 * the expected hash; on a mismatch describes it in what.
 */
static bool hashes_match(const struct cfs_fetch_item *it, const uint8_t *got_md5,
			 char *what, size_t len)
{
	char want[2 * CFS_SHA256_LEN + 1], got[2 * CFS_SHA256_LEN + 1];

	if (it->has_sha256) {
		if (memcmp(it->sha256, it->got_sha256, CFS_SHA256_LEN) == 0)
			return true;
		cfs_hex(it->sha256, CFS_SHA256_LEN, want);
		cfs_hex(it->got_sha256, CFS_SHA256_LEN, got);
		snprintf(what, len, "sha256 mismatch: expected %s, got %s", want, got);
		return false;
	}
	if (it->has_md5) {
		if (memcmp(it->md5, got_md5, CFS_MD5_LEN) == 0)
			return true;
		cfs_hex(it->md5, CFS_MD5_LEN, want);
		cfs_hex(got_md5, CFS_MD5_LEN, got);
		snprintf(what, len, "md5 mismatch: expected %s, got %s", want, got);
		return false;
	}
	return true; /* allow_unverified was checked up front */
}

/* Hashes the regular file at path into item->got_sha256 (and md5_out). */
static errint_t hash_file(const char *path, struct cfs_fetch_item *it,
			  uint8_t *md5_out)
{
	/* O_NONBLOCK: a FIFO must not hang us; it is refused below. */
	cleanup_fd int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	return cfs_hash_fd(fd, it->got_sha256, md5_out, &it->size);
}

/* A plain path or file:// source: verified in place, never copied. */
static errint_t fetch_local(struct cfs_fetch_item *it, const char *label,
			    const char *url, char *path, struct cfs_err *err)
{
	uint8_t md5[CFS_MD5_LEN];
	char what[256];
	errint_t r;

	r = hash_file(path, it, !it->has_sha256 && it->has_md5 ? md5 : NULL);
	if (r < 0)
		return cfs_err_set(err, -r, "%s: %s: %s", label, url,
				   r == -EINVAL ? "not a regular file" : strerror(-r));
	if (!hashes_match(it, md5, what, sizeof(what)))
		return cfs_err_set(err, EIO, "%s: %s: %s", label, url, what);
	it->path = path;
	it->from_cache = true;
	return 0;
}

static errint_t mkdir_p(char *path, mode_t mode)
{
	struct stat st;

	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, mode) < 0 && errno != EEXIST) {
			int e = errno;
			*p = '/';
			return -e;
		}
		*p = '/';
	}
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return -errno;
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/*
 * Looks for a verified copy of job in the cache.  A "<sha256>-<fn>" name is
 * trusted (it was verified when written); an md5 name is re-checked, as it
 * says nothing about the sha256 we report.
 */
static bool cache_lookup(struct fetcher *f, struct fetch_job *job)
{
	struct cfs_fetch_item *it = job->item;
	char hex[2 * CFS_SHA256_LEN + 1], what[256];
	uint8_t md5[CFS_MD5_LEN];
	cleanup_free char *path = NULL;
	struct stat st;

	if (it->has_sha256) {
		cfs_hex(it->sha256, CFS_SHA256_LEN, hex);
		path = cfs_xasprintf("%s/%s-%s", f->pkgs_dir, hex, job->fn);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0)
			return false;
		memcpy(it->got_sha256, it->sha256, CFS_SHA256_LEN);
		it->size = (uint64_t)st.st_size;
	} else if (it->has_md5) {
		cfs_hex(it->md5, CFS_MD5_LEN, hex);
		path = cfs_xasprintf("%s/md5-%s-%s", f->pkgs_dir, hex, job->fn);
		if (hash_file(path, it, md5) < 0 || it->size == 0)
			return false;
		if (!hashes_match(it, md5, what, sizeof(what))) {
			cfs_warn("%s: %s; removing it", path, what);
			unlink(path);
			return false;
		}
	} else {
		return false;
	}
	it->path = steal_pointer(&path);
	it->from_cache = true;
	return true;
}

static void human_bytes(double n, char *out, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	size_t u = 0;

	while (n >= 1024 && u + 1 < CFS_ARRAY_SIZE(units)) {
		n /= 1024;
		u++;
	}
	snprintf(out, len, u ? "%.1f %s" : "%.0f %s", n, units[u]);
}

static void progress_draw(struct fetcher *f, bool final)
{
	char line[128], bytes[32], rate[32];
	int64_t now;
	double secs;
	int len;

	if (!f->opts->progress || f->n_items == 0)
		return;
	now = cfs_now_ms();
	if (!final && now - f->t_drawn < FETCH_PROGRESS_EVERY_MS)
		return;
	f->t_drawn = now;
	secs = (double)(now - f->t_start) / 1000.0;
	human_bytes((double)f->bytes, bytes, sizeof(bytes));
	human_bytes(secs > 0.05 ? (double)f->bytes / secs : 0, rate, sizeof(rate));
	len = snprintf(line, sizeof(line), "\r[%zu/%zu] %s %s/s", f->done,
		       f->n_items, bytes, rate);
	/* Blank out what is left of a longer previous line. */
	fprintf(stderr, "%s%*s%s", line, f->drawn_len > len ? f->drawn_len - len : 0,
		"", final ? "\n" : "");
	f->drawn_len = len;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t len = size * nmemb, off = 0;

	if (x->got + len > CFS_MAX_FILE_BYTES) {
		x->write_err = EFBIG;
		return 0;
	}
	while (off < len) {
		ssize_t w = write(x->fd, data + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			x->write_err = errno;
			return 0;
		}
		off += (size_t)w;
	}
	cfs_hash_update(x->sha256, data, len);
	if (x->md5)
		cfs_hash_update(x->md5, data, len);
	x->got += len;
	x->f->bytes += len;
	return len;
}

/* Frees the current attempt's easy handle (after its last curl_easy_getinfo). */
static void xfer_drop_handle(struct xfer *x)
{
	if (!x->easy)
		return;
	if (x->state == XFER_RUNNING)
		sym_curl_multi_remove_handle(x->f->multi, x->easy);
	sym_curl_easy_cleanup(x->easy);
	x->easy = NULL;
}

/* Throws away the current attempt's temporary file and hashes. */
static void xfer_discard(struct xfer *x)
{
	if (x->fd >= 0) {
		close(x->fd);
		x->fd = -1;
	}
	if (x->tmp_path) {
		unlink(x->tmp_path);
		free(x->tmp_path);
		x->tmp_path = NULL;
	}
	if (x->sha256)
		cfs_hash_free(x->sha256);
	if (x->md5)
		cfs_hash_free(x->md5);
	x->sha256 = x->md5 = NULL;
	x->f->bytes -= x->got;
	x->got = 0;
}

static CURLcode xfer_setopts(struct xfer *x)
{
	const struct cfs_fetch_opts *o = x->f->opts;
	CURL *e = x->easy;
	CURLcode rc = CURLE_OK;

#define SET(opt, val)                                              \
	do {                                                       \
		if (rc == CURLE_OK)                                \
			rc = sym_curl_easy_setopt(e, opt, val);    \
	} while (0)
	SET(CURLOPT_URL, x->job->url);
	SET(CURLOPT_PRIVATE, x);
	SET(CURLOPT_WRITEFUNCTION, on_write);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, (long)FETCH_MAX_REDIRS);
	SET(CURLOPT_FAILONERROR, 1L);
	SET(CURLOPT_BUFFERSIZE, 128L * 1024);
#undef SET
	if (rc == CURLE_OK)
		rc = cfs_http_defaults(e, o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 30000L,
				       o->low_speed_secs > 0 ? o->low_speed_secs : 60L);
	return rc;
}

static errint_t xfer_start(struct xfer *x)
{
	struct fetcher *f = x->f;
	struct fetch_job *job = x->job;
	CURLMcode mc;
	CURLcode rc;
	errint_t r;

	x->tmp_path = cfs_xasprintf("%s/.tmp-XXXXXX", f->pkgs_dir);
	x->fd = mkostemp(x->tmp_path, O_CLOEXEC);
	if (x->fd < 0) {
		r = -errno;
		free(steal_pointer(&x->tmp_path));
		return cfs_err_set(f->err, -r, "%s: %s: cannot create a temporary file: %s",
				   job->label, f->pkgs_dir, strerror(-r));
	}
	/* Cache files are shared read-only data, like the store. */
	if (fchmod(x->fd, 0644) < 0)
		cfs_debug("%s: fchmod: %s", x->tmp_path, strerror(errno));
	x->sha256 = cfs_hash_new(CFS_HASH_SHA256);
	x->md5 = !job->item->has_sha256 && job->item->has_md5 ? cfs_hash_new(CFS_HASH_MD5) : NULL;
	x->got = 0;
	x->write_err = 0;
	x->errbuf[0] = '\0';
	x->attempt++;
	xfer_drop_handle(x);
	x->easy = sym_curl_easy_init();
	if (!x->easy) {
		xfer_discard(x);
		return cfs_err_set(f->err, ENOMEM, "%s: %s: curl_easy_init failed", job->label,
				   job->url);
	}
	rc = xfer_setopts(x);
	if (rc != CURLE_OK) {
		xfer_discard(x);
		return cfs_err_set(f->err, EIO, "%s: %s: %s", job->label, job->url,
				   sym_curl_easy_strerror(rc));
	}
	mc = sym_curl_multi_add_handle(f->multi, x->easy);
	if (mc != CURLM_OK) {
		xfer_discard(x);
		return cfs_err_set(f->err, EIO, "%s: %s: %s", job->label, job->url,
				   sym_curl_multi_strerror(mc));
	}
	x->state = XFER_RUNNING;
	return 0;
}

/* The first retry waits ~200 ms, doubling up to 5 s, with +-25% jitter. */
static long backoff_ms(struct fetcher *f, int failures)
{
	long d = FETCH_BACKOFF_FIRST_MS;

	for (int i = 1; i < failures && d < FETCH_BACKOFF_MAX_MS; i++)
		d *= 2;
	if (d > FETCH_BACKOFF_MAX_MS)
		d = FETCH_BACKOFF_MAX_MS;
	d = d * 3 / 4 + (long)(rand_r(&f->seed) % (unsigned int)(d / 2 + 1));
	return d > FETCH_BACKOFF_MAX_MS ? FETCH_BACKOFF_MAX_MS : d;
}

/* Verifies, syncs and publishes a complete download. */
static errint_t xfer_publish(struct xfer *x, char *what, size_t len)
{
	struct fetcher *f = x->f;
	struct cfs_fetch_item *it = x->job->item;
	char hex[2 * CFS_SHA256_LEN + 1];
	uint8_t md5[CFS_MD5_LEN];
	cleanup_free char *path = NULL;
	int fd = x->fd;

	cfs_hash_final(x->sha256, it->got_sha256);
	if (x->md5)
		cfs_hash_final(x->md5, md5);
	if (!hashes_match(it, md5, what, len))
		return -EIO;
	if (it->has_sha256 || !it->has_md5) {
		cfs_hex(it->got_sha256, CFS_SHA256_LEN, hex);
		path = cfs_xasprintf("%s/%s-%s", f->pkgs_dir, hex, x->job->fn);
	} else {
		cfs_hex(it->md5, CFS_MD5_LEN, hex);
		path = cfs_xasprintf("%s/md5-%s-%s", f->pkgs_dir, hex, x->job->fn);
	}
	x->fd = -1;
	if (fsync(fd) < 0) {
		int e = errno;
		close(fd);
		snprintf(what, len, "%s: fsync: %s", x->tmp_path, strerror(e));
		return -e;
	}
	if (close(fd) < 0 || rename(x->tmp_path, path) < 0) {
		int e = errno;
		snprintf(what, len, "%s: %s", x->tmp_path, strerror(e));
		return -e;
	}
	free(steal_pointer(&x->tmp_path));
	it->path = steal_pointer(&path);
	it->size = x->got;
	it->from_cache = false;
	x->got = 0; /* the bytes stay counted */
	return 0;
}

/*
 * "<curl_easy_strerror> (<error buffer>: <OS error>)", e.g. "Couldn't connect
 * to server (Failed to connect to 127.0.0.1 port 1 after 0 ms: Connection
 * refused)", without curl's own repetition of the first part.
 */
static void describe_curl_error(struct xfer *x, CURLcode rc, char *what, size_t len)
{
	const char *text = sym_curl_easy_strerror(rc);
	size_t tl = strlen(text), el = strlen(x->errbuf);
	const char *os = NULL;
	long os_errno = 0;

	if (sym_curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK &&
	    os_errno > 0)
		os = strerror((int)os_errno);
	while (el > 0 && x->errbuf[el - 1] == '\n')
		x->errbuf[--el] = '\0';
	if (el >= tl + 2 && strcmp(x->errbuf + el - tl, text) == 0 &&
	    strncmp(x->errbuf + el - tl - 2, ": ", 2) == 0)
		x->errbuf[el -= tl + 2] = '\0';
	if (el == 0 || strcmp(x->errbuf, text) == 0)
		snprintf(what, len, os ? "%s (%s)" : "%s", text, os);
	else if (os)
		snprintf(what, len, "%s (%s: %s)", text, x->errbuf, os);
	else
		snprintf(what, len, "%s (%s)", text, x->errbuf);
}

/*
 * Handles a finished transfer: 0 if the job is done, 1 if a retry is
 * scheduled, or a negative errno with f->err set if the job failed for good.
 */
static errint_t xfer_done(struct xfer *x, CURLcode rc)
{
	struct fetcher *f = x->f;
	struct fetch_job *job = x->job;
	int retries = f->opts->retries > 0 ? f->opts->retries : 0;
	curl_off_t clen = -1;
	bool transient = false;
	errint_t r = -EIO;
	char what[768];
	long code = 0;

	sym_curl_multi_remove_handle(f->multi, x->easy);
	x->state = XFER_IDLE;
	/* From here on x->easy is only read (getinfo), then dropped. */
	switch (rc) {
	case CURLE_OK:
		r = xfer_publish(x, what, sizeof(what));
		break;
	case CURLE_HTTP_RETURNED_ERROR:
		sym_curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
		snprintf(what, sizeof(what), "HTTP %ld", code);
		transient = cfs_http_status_transient(code);
		break;
	case CURLE_PARTIAL_FILE:
		sym_curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
		if (clen >= 0)
			snprintf(what, sizeof(what), "truncated (got %llu of %lld bytes)",
				 (unsigned long long)x->got, (long long)clen);
		else
			snprintf(what, sizeof(what), "truncated (got %llu bytes)",
				 (unsigned long long)x->got);
		transient = true;
		break;
	default:
		if (rc == CURLE_WRITE_ERROR && x->write_err) {
			snprintf(what, sizeof(what), "%s: %s", x->tmp_path,
				 strerror(x->write_err));
			r = -x->write_err;
			break;
		}
		describe_curl_error(x, rc, what, sizeof(what));
		transient = cfs_http_curl_transient(rc);
		break;
	}
	xfer_drop_handle(x);
	if (rc == CURLE_OK && r == 0) {
		xfer_discard(x);
		x->job = NULL;
		f->done++;
		return 0;
	}
	xfer_discard(x);
	if (transient && x->attempt <= retries) {
		long delay = backoff_ms(f, x->attempt);

		cfs_info("%s: %s: %s; retrying in %ld ms (%d of %d)", job->label, job->url,
			 what, delay, x->attempt, retries);
		x->state = XFER_BACKOFF;
		x->not_before = cfs_now_ms() + delay;
		return 1;
	}
	if (x->attempt > 1)
		return cfs_err_set(f->err, -r, "%s: %s: %s (after %d attempts)", job->label,
				   job->url, what, x->attempt);
	return cfs_err_set(f->err, -r, "%s: %s: %s", job->label, job->url, what);
}

/* Runs the download queue until it is empty or a job fails for good. */
static errint_t run_queue(struct fetcher *f)
{
	for (;;) {
		int64_t now = cfs_now_ms(), wake = 1000;
		bool busy = false, finished = false;
		struct CURLMsg *msg;
		int running, left;
		CURLMcode mc;
		errint_t r;

		for (int i = 0; i < f->n_slots; i++) {
			struct xfer *x = &f->slots[i];

			if (x->state == XFER_IDLE && f->next_job < f->n_jobs) {
				x->job = &f->jobs[f->next_job++];
				x->attempt = 0;
				r = xfer_start(x);
				if (r < 0)
					return r;
			} else if (x->state == XFER_BACKOFF && x->not_before <= now) {
				r = xfer_start(x);
				if (r < 0)
					return r;
			}
			if (x->state == XFER_BACKOFF && x->not_before - now < wake)
				wake = x->not_before - now;
			busy |= x->state != XFER_IDLE;
		}
		if (!busy)
			return 0;

		mc = sym_curl_multi_perform(f->multi, &running);
		if (mc != CURLM_OK)
			return cfs_err_set(f->err, EIO, "curl: %s", sym_curl_multi_strerror(mc));
		while ((msg = sym_curl_multi_info_read(f->multi, &left))) {
			struct xfer *x = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			sym_curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			r = xfer_done(x, msg->data.result);
			if (r < 0)
				return r;
			finished = true;
		}
		progress_draw(f, false);
		if (finished)
			continue; /* start the next job right away */

		if (f->opts->progress && wake > FETCH_PROGRESS_EVERY_MS)
			wake = FETCH_PROGRESS_EVERY_MS;
		mc = sym_curl_multi_poll(f->multi, NULL, 0, (int)(wake > 0 ? wake : 0), NULL);
		if (mc != CURLM_OK)
			return cfs_err_set(f->err, EIO, "curl: %s", sym_curl_multi_strerror(mc));
	}
}

static errint_t fetch_remote(struct fetcher *f)
{
	int jobs = f->opts->jobs > 0 ? f->opts->jobs : 1;
	errint_t r;

	r = cfs_curl_load(f->err);
	if (r < 0) {
		cfs_err_prefix(f->err, "%s: %s", f->jobs[0].label, f->jobs[0].url);
		return r;
	}
	f->multi = sym_curl_multi_init();
	if (!f->multi)
		return cfs_err_set(f->err, ENOMEM, "curl_multi_init failed");
	f->n_slots = (size_t)jobs < f->n_jobs ? jobs : (int)f->n_jobs;
	f->slots = cfs_xcalloc((size_t)f->n_slots, sizeof(*f->slots));
	for (int i = 0; i < f->n_slots; i++) {
		f->slots[i].f = f;
		f->slots[i].fd = -1;
	}
	return run_queue(f);
}

/*
 * Checks every item, verifies local ones in place, answers what it can
 * from the cache and queues the rest as jobs.
 */
/* For messages: the item's label, or its URL's last component. */
static const char *item_label(const struct cfs_fetch_item *it)
{
	const char *slash;

	if (it->label && *it->label)
		return it->label;
	slash = strrchr(it->url, '/');
	return slash && slash[1] ? slash + 1 : it->url;
}

static errint_t fetch_prepare(struct fetcher *f, struct cfs_fetch_item *items, size_t n)
{
	const struct cfs_fetch_opts *o = f->opts;
	errint_t r;

	for (size_t i = 0; i < n; i++) {
		struct cfs_fetch_item *it = &items[i];
		const char *label;

		if (!it->url)
			return cfs_err_set(f->err, EINVAL, "item %zu: no URL", i);
		label = item_label(it);
		if (!it->has_sha256 && !it->has_md5 && !o->allow_unverified)
			return cfs_err_set(f->err, EINVAL, "%s: %s: no sha256 or md5 to verify against "
					   "(--allow-unverified accepts it)", label, it->url);
	}
	f->jobs = cfs_xcalloc(n, sizeof(*f->jobs));
	for (size_t i = 0; i < n; i++) {
		struct cfs_fetch_item *it = &items[i];
		const char *label = item_label(it);
		cleanup_free char *url = cfs_fetch_rewrite_url(o->mirrors, o->n_mirrors, it->url);
		struct fetch_job *job;
		char *path = NULL;

		it->from_cache = false;
		it->size = 0;
		r = classify_url(label, url, &path, f->err);
		if (r < 0)
			return r;
		if (r == 0) {
			r = fetch_local(it, label, url, path, f->err);
			if (r < 0) {
				free(path);
				return r;
			}
			f->done++;
			continue;
		}
		if (!f->pkgs_dir) {
			if (!o->cache_dir || !*o->cache_dir)
				return cfs_err_set(f->err, EINVAL, "%s: %s: no cache directory for downloads",
						   label, url);
			f->pkgs_dir = cfs_xasprintf("%s/pkgs", o->cache_dir);
			r = mkdir_p(f->pkgs_dir, 0755);
			if (r < 0)
				return cfs_err_set(f->err, -r, "%s: cannot create directory: %s",
						   f->pkgs_dir, strerror(-r));
		}
		job = &f->jobs[f->n_jobs++];
		job->item = it;
		job->label = label;
		job->url = steal_pointer(&url);
		job->fn = job_fn(it->label, job->url);
		if (cache_lookup(f, job)) {
			f->done++;
			free(job->url);
			free(job->fn);
			f->n_jobs--;
		}
	}
	return 0;
}

static void fetcher_release(struct fetcher *f)
{
	for (int i = 0; i < f->n_slots; i++) {
		struct xfer *x = &f->slots[i];

		xfer_drop_handle(x);
		xfer_discard(x);
	}
	free(f->slots);
	if (f->multi)
		sym_curl_multi_cleanup(f->multi);
	for (size_t i = 0; i < f->n_jobs; i++) {
		free(f->jobs[i].url);
		free(f->jobs[i].fn);
	}
	free(f->jobs);
	free(f->pkgs_dir);
}

errint_t cfs_fetch_all(const struct cfs_fetch_opts *opts,
		       struct cfs_fetch_item *items, size_t n,
		       struct cfs_err *err)
{
	struct fetcher f = { .opts = opts, .err = err, .n_items = n };
	errint_t r;

	f.t_start = cfs_now_ms();
	f.t_drawn = f.t_start - FETCH_PROGRESS_EVERY_MS;
	f.seed = (unsigned int)f.t_start ^ (unsigned int)getpid();
	progress_draw(&f, false);
	r = fetch_prepare(&f, items, n);
	if (r == 0 && f.n_jobs > 0)
		r = fetch_remote(&f);
	/* Make the renames into the cache durable too. */
	if (f.pkgs_dir) {
		cleanup_fd int dfd = open(f.pkgs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0)
			fsync(dfd);
	}
	progress_draw(&f, true);
	fetcher_release(&f);
	return r;
}

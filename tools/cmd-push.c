/* SPDX-License-Identifier: MIT */
/*
 * condafs push: copies the objects an index refers to, and only those the
 * destination lacks, from a local store to a store directory or an S3
 * bucket.  Each object to copy is verified first (decompressed, its sha256
 * compared with its name), so a corrupt local store never spreads.  Then
 * the same for the packs the index lists (and a working set's pack): a
 * pack's size is checked against the index; its entries are the objects'
 * bytes, verified as objects.
 *
 * Jobs threads each take the next object: is it there (a stat, or an S3
 * HEAD), and if not, verify and copy it (into the store as
 * every object is written, one syncfs at the end; or a signed PUT).  A HEAD per object rather than ListObjectsV2: a listing
 * needs a query string with "prefix=PRE%2Fobjects%2F", which libcurl
 * before 8.1 signs as sent while some S3-compatible servers (moto) check it
 * decoded, so the signature would not match there; a HEAD has no query.
 */
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "cli.h"
#include "db.h"
#include "fsutil.h"
#include "http.h"
#include "pack.h"
#include "s3.h"
#include "store.h"

#define DEFAULT_JOBS 8
#define MAX_JOBS 64
#define ATTEMPTS 6          /* per S3 request, for transient failures */
#define BACKOFF_MS 200      /* doubling: 0.2 s to 3.2 s, about 6 s in all */
#define THROTTLED_MAX_MS 20000 /* a 503 SlowDown or 429 waits up to this (Retry-After) */
#define ERROR_BODY_MAX 4096
#define CONNECT_TIMEOUT_MS 10000L
#define LOW_SPEED_SECS 30L

static const char push_help[] =
	"usage: condafs push ENV.cfs --store DEST [--from SRC] [--workset WS]... [-j N]\n"
	"\n"
	"Copies to DEST the store objects and packs ENV.cfs refers to that DEST does\n"
	"not have yet, from the local store SRC.  Each object copied is verified first\n"
	"(decompressed and its sha256 compared with its name).  DEST is a store\n"
	"directory (objects are published atomically) or s3://BUCKET/PREFIX, with\n"
	"credentials and settings from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,\n"
	"AWS_SESSION_TOKEN, AWS_REGION and AWS_ENDPOINT_URL (see condafs-push(1)).\n"
	"\n"
	"Options:\n"
	"  -s, --store DEST   where to copy: a directory or s3://BUCKET/PREFIX\n"
	"      --from SRC     the local store to copy from (default: the index's store)\n"
	"  -w, --workset WS   also copy the pack WS records (condafs pack); repeatable\n"
	"  -j, --jobs N       objects checked and copied at once (default %d, at most %d)\n"
	"  -q, --quiet        no progress or summary, only errors\n"
	"  -h, --help         show this help\n";

struct object {
	uint8_t digest[CFS_SHA256_LEN];
	uint64_t size;  /* uncompressed; a pack's: its bytes */
	char *pack;     /* a pack's name ("packs/<hex>.pack"), NULL for an object */
};

struct push {
	struct object *objs;  /* the objects, then the packs */
	size_t n, n_objs, alloc;
	struct cfs_store *src;
	struct cfs_store *dest_dir; /* a directory destination, or NULL */
	struct cfs_s3 s3;           /* an s3:// destination when s3.base is set */
	pthread_mutex_t lock;
	pthread_cond_t changed;
	/* Under lock: */
	size_t next, checked, missing, uploaded;
	size_t pack_missing, pack_uploaded;
	unsigned running;
	uint64_t bytes, pack_bytes;
	bool failed;
	struct cfs_err err; /* the first failure */
};

static errint_t load_objects(struct cfs_db *db, struct push *p, struct cfs_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(cfs_db_handle(db), "SELECT digest, size FROM objects ORDER BY digest",
			       -1, &st, NULL) != SQLITE_OK)
		return cfs_err_set(err, EIO, "%s: %s", cfs_db_path(db),
				   sqlite3_errmsg(cfs_db_handle(db)));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != CFS_SHA256_LEN) {
			sqlite3_finalize(st);
			return cfs_err_set(err, EBADMSG, "%s: objects table: a digest is not %d bytes",
					   cfs_db_path(db), CFS_SHA256_LEN);
		}
		cfs_grow(&p->objs, p->n, &p->alloc, sizeof(*p->objs), 1024);
		memset(&p->objs[p->n], 0, sizeof(*p->objs));
		memcpy(p->objs[p->n].digest, sqlite3_column_blob(st, 0), CFS_SHA256_LEN);
		p->objs[p->n].size = (uint64_t)sqlite3_column_int64(st, 1);
		p->n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return cfs_err_set(err, EIO, "%s: %s", cfs_db_path(db),
				   sqlite3_errmsg(cfs_db_handle(db)));
	p->n_objs = p->n;
	return 0;
}

/* Adds pack name of size bytes (from where, for messages) unless listed. */
static errint_t add_pack(struct push *p, const char *where, const char *name, uint64_t size,
			 struct cfs_err *err)
{
	if (!name || !cfs_pack_name_valid(name))
		return cfs_err_set(err, EBADMSG, "%s: pack name '%s' is not packs/<64 hex>.pack",
				   where, name ? name : "");
	for (size_t i = p->n_objs; i < p->n; i++)
		if (strcmp(p->objs[i].pack, name) == 0)
			return 0;
	cfs_grow(&p->objs, p->n, &p->alloc, sizeof(*p->objs), 1024);
	memset(&p->objs[p->n], 0, sizeof(*p->objs));
	p->objs[p->n].pack = cfs_xstrdup(name);
	p->objs[p->n].size = size;
	p->n++;
	return 0;
}

/* The packs table (index format 3). */
static errint_t load_packs(struct cfs_db *db, struct push *p, struct cfs_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	if (cfs_db_version(db) < 3)
		return 0;
	if (sqlite3_prepare_v2(cfs_db_handle(db), "SELECT name, size FROM packs ORDER BY id", -1,
			       &st, NULL) != SQLITE_OK)
		return cfs_err_set(err, EIO, "%s: %s", cfs_db_path(db),
				   sqlite3_errmsg(cfs_db_handle(db)));
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		r = add_pack(p, cfs_db_path(db), (const char *)sqlite3_column_text(st, 0),
			     (uint64_t)sqlite3_column_int64(st, 1), err);
	sqlite3_finalize(st);
	if (r == 0 && rc != SQLITE_DONE)
		r = cfs_err_set(err, EIO, "%s: %s", cfs_db_path(db),
				sqlite3_errmsg(cfs_db_handle(db)));
	return r;
}

/* The pack a working set records (condafs pack). */
static errint_t load_workset_pack(struct push *p, const char *path, struct cfs_err *err)
{
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je), *pack;
	json_int_t size;
	int r;

	if (!root)
		return cfs_err_set(err, EINVAL, "%s:%d: %s", path, je.line, je.text);
	pack = json_object_get(root, "pack");
	size = json_integer_value(json_object_get(pack, "size"));
	if (!json_is_object(pack) || size <= 0)
		r = cfs_err_set(err, EINVAL, "%s: no pack recorded (see condafs pack)", path);
	else
		r = add_pack(p, path, json_string_value(json_object_get(pack, "name")),
			     (uint64_t)size, err);
	json_decref(root);
	return r;
}

/* ---- the source: verifying an object before it is copied */

/* Decompresses the object at fd (path) and compares sha256 and size. */
static errint_t verify_source(int fd, const char *path, const struct object *o,
			      struct cfs_err *err)
{
	static __thread char chunk[1 << 17];
	struct cfs_objdec *d = cfs_objdec_new(o->digest, o->size, NULL, NULL);
	uint64_t got = 0;
	ssize_t n;
	int r = 0;

	while ((n = cfs_read_retry(fd, chunk, sizeof(chunk))) > 0)
		if ((r = cfs_objdec_feed(d, chunk, (size_t)n)) < 0)
			break;
	if (n < 0)
		r = (int)n;
	if (r == 0)
		r = cfs_objdec_finish(d, &got);
	cfs_objdec_free(d);
	if (r == -EBADMSG || r == -EFBIG || (r == 0 && got != o->size))
		return cfs_err_set(err, EBADMSG, "%s: corrupt object (content does not match its "
				   "sha256 and size); not pushed", path);
	if (r < 0)
		return cfs_err_set(err, -r, "%s: %s", path, strerror(-r));
	if (lseek(fd, 0, SEEK_SET) < 0)
		return cfs_err_set(err, errno, "%s: %s", path, strerror(errno));
	return 0;
}

/* ---- a directory destination */

/* ---- an S3 destination */

enum s3_method { S3_HEAD, S3_GET, S3_PUT };

struct s3_io {
	int fd;               /* the body of a PUT */
	struct cfs_buf body;  /* the answer's body, up to ERROR_BODY_MAX */
};

static void s3_io_release(struct s3_io *io)
{
	cfs_buf_release(&io->body);
}
#define cleanup_s3_io __attribute__((cleanup(s3_io_release)))

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ctx)
{
	ssize_t n = cfs_read_retry(((struct s3_io *)ctx)->fd, buf, size * nmemb);

	return n < 0 ? CURL_READFUNC_ABORT : (size_t)n;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct cfs_buf *b = &((struct s3_io *)ctx)->body;
	size_t room = ERROR_BODY_MAX - b->len;

	cfs_buf_add(b, data, size * nmemb < room ? size * nmemb : room);
	return size * nmemb;
}

/*
 * The pause before another attempt: doubling from BACKOFF_MS with +-25%
 * jitter (jobs throttled together do not come back together); S3 asking to
 * slow down (503, 429) waits four times as long, or as its Retry-After says,
 * up to THROTTLED_MAX_MS.
 */
static int64_t backoff_ms(CURL *h, long code, unsigned attempt)
{
	int64_t d = (int64_t)BACKOFF_MS << attempt;
	curl_off_t after = 0;

	if (code == 503 || code == 429) {
		d *= 4;
		if (sym_curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &after) == CURLE_OK &&
		    after > 0)
			d = after * 1000 > d ? after * 1000 : d;
		if (d > THROTTLED_MAX_MS)
			d = THROTTLED_MAX_MS;
	}
	return d * 3 / 4 + (int64_t)((uint64_t)random() % (uint64_t)(d / 2 + 1));
}

/*
 * One signed request, retried (with backoff) after connection failures and
 * timeouts, 5xx, 408 and 429.  Returns 0 with *code once a final answer came, else
 * -EIO with err "URL: cause".  io->body holds the last answer's body.
 */
static errint_t s3_request(struct push *p, CURL *h, const char *url, enum s3_method m,
			   struct s3_io *io, uint64_t len, long *code, struct cfs_err *err)
{
	char errbuf[CURL_ERROR_SIZE];
	CURLcode rc = CURLE_OK;

	for (unsigned attempt = 0;; attempt++) {
		struct curl_slist *headers = NULL;

		*errbuf = '\0';
		*code = 0;
		cfs_buf_reset(&io->body);
		if (m == S3_PUT && lseek(io->fd, 0, SEEK_SET) < 0)
			return cfs_err_set(err, errno, "%s: %s", url, strerror(errno));
		sym_curl_easy_reset(h);
		sym_curl_easy_setopt(h, CURLOPT_URL, url);
		sym_curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		cfs_http_defaults(h, CONNECT_TIMEOUT_MS, LOW_SPEED_SECS);
		sym_curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
		sym_curl_easy_setopt(h, CURLOPT_WRITEDATA, io);
		if (m == S3_HEAD) {
			sym_curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
		} else if (m == S3_GET) {
			sym_curl_easy_setopt(h, CURLOPT_RANGE, "0-0");
		} else {
			/* Objects never change: caches may keep them for good. */
			headers = sym_curl_slist_append(NULL, "Cache-Control: public, "
							"max-age=31536000, immutable");
			sym_curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
			sym_curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
			sym_curl_easy_setopt(h, CURLOPT_READDATA, io);
			sym_curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
		}
		cfs_s3_setup_handle(h, &p->s3, &headers);
		rc = sym_curl_easy_perform(h);
		sym_curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
		sym_curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
		sym_curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
		sym_curl_slist_free_all(headers);
		bool transient = rc != CURLE_OK ? cfs_http_curl_transient(rc)
						: cfs_http_status_transient(*code);
		if (!transient || attempt + 1 >= ATTEMPTS)
			break;
		cfs_sleep_ms(backoff_ms(h, *code, attempt));
	}
	if (rc != CURLE_OK)
		return cfs_err_set(err, EIO, "%s: %s", url,
				   *errbuf ? errbuf : sym_curl_easy_strerror(rc));
	return 0;
}

/* err: "URL: HTTP 403 (SignatureDoesNotMatch)", the <Code> if the body has one. */
static errint_t s3_status_error(const char *url, long code, const struct cfs_buf *body,
				struct cfs_err *err)
{
	char s3code[64];

	cfs_s3_error_code(body->data, body->len, s3code, sizeof(s3code));
	if (strcmp(s3code, "AccessDenied") == 0)
		return cfs_err_set(err, EACCES, "%s: HTTP %ld (AccessDenied): push needs "
				   "s3:GetObject, s3:PutObject and s3:ListBucket on the prefix",
				   url, code);
	if (*s3code)
		return cfs_err_set(err, EIO, "%s: HTTP %ld (%s)", url, code, s3code);
	return cfs_err_set(err, EIO, "%s: HTTP %ld", url, code);
}

/* *present: the key exists (HEAD 200), or not (404); anything else fails. */
static errint_t s3_exists(struct push *p, CURL *h, const char *url, bool *present,
			  struct cfs_err *err)
{
	cleanup_s3_io struct s3_io io = { .fd = -1 };
	struct cfs_err ignored;
	long code, again;
	int r;

	cfs_buf_init(&io.body, ERROR_BODY_MAX);
	if ((r = s3_request(p, h, url, S3_HEAD, &io, 0, &code, err)) < 0)
		return r;
	if (code == 200 || code == 404) {
		*present = code == 200;
		return 0;
	}
	/* A HEAD answer has no body: ask again with a GET for the error's <Code>. */
	if (code >= 400 && s3_request(p, h, url, S3_GET, &io, 0, &again, &ignored) == 0 &&
	    again == code)
		return s3_status_error(url, code, &io.body, err);
	return cfs_err_set(err, EIO, "%s: HTTP %ld", url, code);
}

static errint_t s3_put(struct push *p, CURL *h, const char *url, int fd, uint64_t len,
		       struct cfs_err *err)
{
	cleanup_s3_io struct s3_io io = { .fd = fd };
	long code;
	int r;

	cfs_buf_init(&io.body, ERROR_BODY_MAX);
	if ((r = s3_request(p, h, url, S3_PUT, &io, len, &code, err)) < 0)
		return r;
	if (code != 200)
		return s3_status_error(url, code, &io.body, err);
	return 0;
}

/* Uploads the store marker (the same text every store has) if the bucket has none. */
static errint_t s3_marker(struct push *p, struct cfs_err *err)
{
	cleanup_free char *url = cfs_s3_object_url(&p->s3, CFS_STORE_MARKER);
	size_t len = strlen(cfs_store_marker_json);
	cleanup_fd int fd = -1;
	CURL *h = sym_curl_easy_init();
	bool present = false;
	int r;

	if (!h)
		abort();
	r = s3_exists(p, h, url, &present, err);
	if (r == 0 && !present) {
		fd = memfd_create("condafs-marker", MFD_CLOEXEC);
		if (fd < 0 || (r = cfs_write_all(fd, cfs_store_marker_json, len)) < 0 ||
		    lseek(fd, 0, SEEK_SET) < 0)
			r = cfs_err_set(err, r < 0 ? -r : errno, "%s: %s", url,
					strerror(r < 0 ? -r : errno));
		else
			r = s3_put(p, h, url, fd, len, err);
	}
	sym_curl_easy_cleanup(h);
	return r;
}

/* ---- the workers */

/* Copies pack o unless the destination has it (of its size, in a directory). */
static errint_t push_pack(struct push *p, CURL *h, const struct object *o, bool *missing,
			  uint64_t *sent, struct cfs_err *err)
{
	cleanup_free char *url = NULL;
	cleanup_free char *src = cfs_xasprintf("%s/%s", cfs_store_dir(p->src), o->pack);
	cleanup_fd int fd = -1;
	struct stat st;
	bool present = false, written = false;
	int r;

	if (p->dest_dir) {
		cleanup_free char *dest = cfs_xasprintf("%s/%s", cfs_store_dir(p->dest_dir),
							 o->pack);
		present = stat(dest, &st) == 0 && (uint64_t)st.st_size == o->size;
	} else {
		url = cfs_s3_object_url(&p->s3, o->pack);
		if ((r = s3_exists(p, h, url, &present, err)) < 0)
			return r;
	}
	if (present)
		return 0;
	*missing = true;
	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return cfs_err_set(err, errno, "%s: %s", src, strerror(errno));
	if ((uint64_t)st.st_size != o->size)
		return cfs_err_set(err, EBADMSG, "%s: %llu bytes, but the index says %llu; not "
				   "pushed", src, (unsigned long long)st.st_size,
				   (unsigned long long)o->size);
	if (p->dest_dir) {
		if ((r = cfs_store_put_pack(p->dest_dir, fd, o->pack, o->size, &written)) < 0)
			cfs_err_set(err, -r, "%s/%s: %s", cfs_store_dir(p->dest_dir), o->pack,
				    strerror(-r));
	} else {
		r = s3_put(p, h, url, fd, o->size, err);
	}
	if (r == 0)
		*sent = o->size;
	return r;
}

/* Copies object o unless the destination has it; *sent: compressed bytes copied. */
static errint_t push_one(struct push *p, CURL *h, const struct object *o, bool *missing,
			 uint64_t *sent, struct cfs_err *err)
{
	char rel[CFS_OBJECT_RELPATH_LEN];
	cleanup_free char *url = NULL;
	cleanup_free char *src = NULL;
	cleanup_fd int fd = -1;
	struct stat st;
	bool present = false;
	int r;

	if (o->pack)
		return push_pack(p, h, o, missing, sent, err);
	cfs_object_relpath(o->digest, rel);
	if (p->dest_dir) {
		present = cfs_store_has(p->dest_dir, o->digest);
	} else {
		url = cfs_s3_object_url(&p->s3, rel);
		if ((r = s3_exists(p, h, url, &present, err)) < 0)
			return r;
	}
	if (present)
		return 0;
	*missing = true;
	src = cfs_xasprintf("%s/%s", cfs_store_dir(p->src), rel);
	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return cfs_err_set(err, errno, "%s: %s", src, strerror(errno));
	if ((r = verify_source(fd, src, o, err)) < 0)
		return r;
	if (p->dest_dir) {
		if ((r = cfs_store_put_compressed(p->dest_dir, fd, o->digest)) < 0)
			cfs_err_set(err, -r, "%s/%s: %s", cfs_store_dir(p->dest_dir), rel,
				    strerror(-r));
	} else {
		r = s3_put(p, h, url, fd, (uint64_t)st.st_size, err);
	}
	if (r == 0)
		*sent = (uint64_t)st.st_size;
	return r;
}

static void *worker(void *arg)
{
	struct push *p = arg;
	CURL *h = NULL;

	if (p->s3.base && !(h = sym_curl_easy_init()))
		abort();
	for (;;) {
		struct cfs_err err;
		bool missing = false;
		uint64_t sent = 0;
		size_t i;
		int r;

		pthread_mutex_lock(&p->lock);
		i = p->failed ? p->n : p->next++;
		pthread_mutex_unlock(&p->lock);
		if (i >= p->n)
			break;
		r = push_one(p, h, &p->objs[i], &missing, &sent, &err);
		pthread_mutex_lock(&p->lock);
		p->checked++;
		if (p->objs[i].pack) {
			p->pack_missing += missing;
			p->pack_uploaded += r == 0 && missing;
			p->pack_bytes += r == 0 && missing ? sent : 0;
		} else {
			p->missing += missing;
			if (r == 0 && missing) {
				p->uploaded++;
				p->bytes += sent;
			}
		}
		if (r < 0 && !p->failed) {
			p->failed = true;
			p->err = err;
		}
		pthread_mutex_unlock(&p->lock);
	}
	if (h)
		sym_curl_easy_cleanup(h);
	pthread_mutex_lock(&p->lock);
	p->running--;
	pthread_cond_signal(&p->changed);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Runs jobs workers; on a tty, shows progress until they are done. */
static void run_workers(struct push *p, unsigned jobs, bool progress)
{
	pthread_t tids[MAX_JOBS];
	unsigned started = 0;
	int64_t next_line = 0;

	p->running = jobs;
	for (; started < jobs; started++)
		if (pthread_create(&tids[started], NULL, worker, p) != 0)
			break;
	pthread_mutex_lock(&p->lock);
	p->running -= jobs - started;
	if (started == 0) {
		p->failed = true;
		cfs_err_set(&p->err, EAGAIN, "push: cannot start a thread");
	}
	while (p->running) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->changed, &p->lock, &ts);
		if (progress && cfs_now_ms() >= next_line) {
			char b[32];
			cfs_format_size(p->bytes, b, sizeof(b));
			fprintf(stderr, "\rpush: %zu of %zu checked, %zu missing, uploaded %zu (%s)\033[K",
				p->checked, p->n, p->missing, p->uploaded, b);
			next_line = cfs_now_ms() + 200;
		}
	}
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	if (progress)
		fputs("\r\033[K", stderr);
}

/* ---- the command */

static errint_t open_dest(struct push *p, const char *dest, struct cfs_err *err)
{
	if (cfs_s3_is_url(dest))
		return cfs_s3_parse(dest, &p->s3, err);
	if (strncmp(dest, "http://", 7) == 0 || strncmp(dest, "https://", 8) == 0)
		return cfs_err_set(err, ENOTSUP, "%s: push to http(s):// stores is not supported; "
				   "push to a directory or s3://BUCKET/PREFIX and serve that",
				   dest);
	if (strstr(dest, "://"))
		return cfs_err_set(err, EINVAL, "%s: unsupported store URL (use a directory or "
				   "s3://BUCKET/PREFIX)", dest);
	return cfs_store_open(dest, true, &p->dest_dir, err);
}

static int push_run(struct push *p, const char *index, const char *dest, const char *from,
		    char **worksets, size_t n_worksets, unsigned jobs, bool quiet)
{
	cleanup_db struct cfs_db *db = NULL;
	cleanup_free char *src_dir = NULL;
	struct cfs_err err;
	char b[32];
	int r;

	if (cfs_db_open(index, &db, &err) < 0)
		return cli_fail(&err);
	if (from)
		src_dir = cfs_xstrdup(from);
	else if (cfs_db_get_meta(db, "store", &src_dir) < 0 || !src_dir || !*src_dir)
		return cli_usage("push", "%s names no store; pass --from SRC", index);
	if (strstr(src_dir, "://"))
		return cli_usage("push", "--from %s: the source must be a local store directory",
				 src_dir);
	if (cfs_store_open(src_dir, false, &p->src, &err) < 0)
		return cli_fail(&err);
	if (open_dest(p, dest, &err) < 0 || load_objects(db, p, &err) < 0 ||
	    load_packs(db, p, &err) < 0)
		return cli_fail(&err);
	for (size_t i = 0; i < n_worksets; i++)
		if (load_workset_pack(p, worksets[i], &err) < 0)
			return cli_fail(&err);
	if (p->s3.base) {
		if (cfs_curl_load(&err) < 0) {
			cfs_err_prefix(&err, "%s", dest);
			return cli_fail(&err);
		}
		if (s3_marker(p, &err) < 0)
			return cli_fail(&err);
	}
	if (jobs > p->n)
		jobs = p->n ? (unsigned)p->n : 1;
	run_workers(p, jobs, !quiet && isatty(STDERR_FILENO));
	if (p->failed)
		return cli_fail(&p->err);
	/* The renames are durable once the file system is synced. */
	if (p->dest_dir && (r = cfs_store_sync(p->dest_dir)) < 0) {
		cfs_err_set(&err, -r, "%s: %s", cfs_store_dir(p->dest_dir), strerror(-r));
		return cli_fail(&err);
	}
	cfs_format_size(p->bytes, b, sizeof(b));
	if (!quiet)
		fprintf(stderr, "push: %zu of %zu objects missing, uploaded %zu (%s), %zu already "
			"there\n", p->missing, p->n_objs, p->uploaded, b, p->n_objs - p->missing);
	cfs_format_size(p->pack_bytes, b, sizeof(b));
	if (!quiet && p->n > p->n_objs)
		fprintf(stderr, "push: %zu of %zu packs missing, uploaded %zu (%s), %zu already "
			"there\n", p->pack_missing, p->n - p->n_objs, p->pack_uploaded, b,
			p->n - p->n_objs - p->pack_missing);
	return 0;
}

int cmd_push(int argc, char **argv)
{
	enum { OPT_FROM = 256 };
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "workset", required_argument, NULL, 'w' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dest = NULL, *from = NULL;
	cleanup_free char **worksets = NULL;
	size_t n_worksets = 0;
	struct push p;
	unsigned jobs = DEFAULT_JOBS;
	bool quiet = false;
	char *end;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:w:j:qh", opts, NULL)) != -1) {
		switch (c) {
		case 's': dest = optarg; break;
		case 'w':
			worksets = cfs_xrealloc(worksets, (n_worksets + 1) * sizeof(*worksets));
			worksets[n_worksets++] = optarg;
			break;
		case OPT_FROM: from = optarg; break;
		case 'j': {
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || *end || v < 1 || v > MAX_JOBS)
				return cli_usage("push", "-j %s: expected 1 to %d", optarg, MAX_JOBS);
			jobs = (unsigned)v;
			break;
		}
		case 'q': quiet = true; break;
		case 'h': printf(push_help, DEFAULT_JOBS, MAX_JOBS); return 0;
		default: return cli_bad_option("push", argv, "s:w:j:qh");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("push", "expected ENV.cfs");
	if (!dest)
		return cli_usage("push", "--store DEST is required");
	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.changed, NULL);
	r = push_run(&p, argv[optind], dest, from, worksets, n_worksets, jobs, quiet);
	pthread_mutex_destroy(&p.lock);
	pthread_cond_destroy(&p.changed);
	cfs_s3_release(&p.s3);
	cfs_store_free(p.dest_dir);
	cfs_store_free(p.src);
	for (size_t i = 0; i < p.n; i++)
		free(p.objs[i].pack);
	free(p.objs);
	return r;
}

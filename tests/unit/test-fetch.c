/* SPDX-License-Identifier: MIT */
/*
 * Tests for indexer/fetch.c.
 *
 * With no arguments: checks that need no server (mirror rewriting, local
 * paths and file:// URLs, cache hits, argument errors).
 *
 * "test-fetch fetch [options] ITEM..." runs cfs_fetch_all once, for
 * tests/cli/fetch-http.sh.  ITEM is URL[|sha256=HEX][|md5=HEX][|label=NAME].
 * Options: --cache DIR, --jobs N, --retries N, --mirror FROM=TO (repeatable),
 * --allow-unverified, --progress, --connect-timeout MS, --low-speed SECS,
 * --expect-error SUBSTRING, --expect-cached, --expect-downloaded.
 * Prints "<path> <from_cache> <size> <sha256>" per item on success and
 * "error: <message>" on stderr on failure, and always checks that the
 * cache holds no temporary file.
 */
#include "fetch.h"
#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>

static char *xjoin(const char *a, const char *b)
{
	return cfs_xasprintf("%s/%s", a, b);
}

static void write_file(const char *path, const char *data)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(data, f) < 0 || fclose(f) != 0) {
		perror(path);
		abort();
	}
}

static void md5_of(const char *s, uint8_t out[CFS_MD5_LEN])
{
	struct cfs_hash *h = cfs_hash_new(CFS_HASH_MD5);
	cfs_hash_update(h, s, strlen(s));
	cfs_hash_final(h, out);
	cfs_hash_free(h);
}

/* Names in dir that are neither "." nor ".." and start with prefix. */
static int count_entries(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

/* Recomputes the sha256 of path and compares it with what fetch reported. */
static bool file_has_sha256(const char *path, const uint8_t *want, uint64_t size)
{
	cleanup_fd int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t got[CFS_SHA256_LEN];
	uint64_t got_size;

	return fd >= 0 && cfs_hash_fd(fd, got, NULL, &got_size) == 0 &&
	       memcmp(got, want, CFS_SHA256_LEN) == 0 && got_size == size;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void test_rewrite(void)
{
	const struct cfs_mirror m[] = {
		{ "https://conda.anaconda.org/conda-forge/", "http://127.0.0.1:8080/cf/" },
		{ "", "http://never/" },
		{ "https://conda.anaconda.org/", "http://mirror/" },
		{ "https://conda.anaconda.org/conda-forge/linux-64/", "http://later/" },
	};
	char *s;

	s = cfs_fetch_rewrite_url(m, CFS_ARRAY_SIZE(m),
				  "https://conda.anaconda.org/conda-forge/linux-64/a.conda");
	CHECK_STR(s, "http://127.0.0.1:8080/cf/linux-64/a.conda"); /* first rule wins */
	free(s);
	s = cfs_fetch_rewrite_url(m, CFS_ARRAY_SIZE(m),
				  "https://conda.anaconda.org/bioconda/noarch/b.tar.bz2");
	CHECK_STR(s, "http://mirror/bioconda/noarch/b.tar.bz2");
	free(s);
	s = cfs_fetch_rewrite_url(m, CFS_ARRAY_SIZE(m), "https://repo.anaconda.com/x.conda");
	CHECK_STR(s, "https://repo.anaconda.com/x.conda");
	free(s);
	s = cfs_fetch_rewrite_url(NULL, 0, "/local/c.conda");
	CHECK_STR(s, "/local/c.conda");
	free(s);
}

static void test_local(const char *tmp)
{
	struct cfs_fetch_opts opts = { .jobs = 2 };
	cleanup_free char *good = xjoin(tmp, "good pkg.conda");
	cleanup_free char *missing = xjoin(tmp, "missing.conda");
	cleanup_free char *url = NULL;
	const char *content = "hello condafs\n";
	uint8_t sha[CFS_SHA256_LEN], md5[CFS_MD5_LEN];
	struct cfs_err err = { "" };
	struct cfs_fetch_item it[2];
	errint_t r;

	write_file(good, content);
	cfs_sha256(content, strlen(content), sha);
	md5_of(content, md5);

	/* A plain path with a sha256: verified where it is. */
	memset(it, 0, sizeof(it));
	it[0] = (struct cfs_fetch_item){ .url = good, .label = "good", .has_sha256 = true };
	memcpy(it[0].sha256, sha, sizeof(sha));
	r = cfs_fetch_all(&opts, it, 1, &err);
	CHECK(r == 0);
	CHECK_STR(it[0].path, good);
	CHECK(it[0].from_cache);
	CHECK(it[0].size == strlen(content));
	CHECK_MEM(it[0].got_sha256, CFS_SHA256_LEN, sha, CFS_SHA256_LEN);
	cfs_fetch_item_release(&it[0]);
	CHECK(it[0].path == NULL);

	/* file:// with an escaped space and a "localhost" host; md5 only. */
	url = cfs_xasprintf("file://localhost%s/good%%20pkg.conda", tmp);
	it[0] = (struct cfs_fetch_item){ .url = url, .label = "good", .has_md5 = true };
	memcpy(it[0].md5, md5, sizeof(md5));
	/* ... and one that a mirror rule turns into a local path. */
	it[1] = (struct cfs_fetch_item){ .url = "https://example.invalid/ch/good%20pkg.conda",
					 .has_sha256 = true };
	memcpy(it[1].sha256, sha, sizeof(sha));
	{
		cleanup_free char *to = cfs_xasprintf("file://%s/", tmp);
		struct cfs_mirror m = { "https://example.invalid/ch/", to };
		opts.mirrors = &m;
		opts.n_mirrors = 1;
		r = cfs_fetch_all(&opts, it, 2, &err);
		opts.mirrors = NULL;
		opts.n_mirrors = 0;
	}
	CHECK(r == 0);
	CHECK_STR(it[0].path, good);
	CHECK_STR(it[1].path, good);
	CHECK_MEM(it[0].got_sha256, CFS_SHA256_LEN, sha, CFS_SHA256_LEN);
	cfs_fetch_item_release(&it[0]);
	cfs_fetch_item_release(&it[1]);

	/* Hash mismatch. */
	it[0] = (struct cfs_fetch_item){ .url = good, .label = "bad", .has_sha256 = true };
	memset(it[0].sha256, 0xab, CFS_SHA256_LEN);
	r = cfs_fetch_all(&opts, it, 1, &err);
	CHECK(r == -EIO);
	CHECK(it[0].path == NULL);
	CHECK(strncmp(err.msg, "bad: ", 5) == 0);
	CHECK(strstr(err.msg, "sha256 mismatch: expected abababab") != NULL);
	{
		char hex[2 * CFS_SHA256_LEN + 1];
		cfs_hex(sha, CFS_SHA256_LEN, hex);
		CHECK(strstr(err.msg, hex) != NULL);
	}

	/* Missing file. */
	it[0] = (struct cfs_fetch_item){ .url = missing, .label = "missing", .has_sha256 = true };
	r = cfs_fetch_all(&opts, it, 1, &err);
	CHECK(r == -ENOENT);
	CHECK(strstr(err.msg, missing) != NULL);
	CHECK(strstr(err.msg, "No such file or directory") != NULL);

	/* A directory is not a package, and a FIFO must not hang us. */
	it[0] = (struct cfs_fetch_item){ .url = tmp, .label = "dir", .has_sha256 = true };
	r = cfs_fetch_all(&opts, it, 1, &err);
	CHECK(r == -EISDIR);
	{
		cleanup_free char *fifo = xjoin(tmp, "fifo");
		CHECK(mkfifo(fifo, 0600) == 0);
		it[0] = (struct cfs_fetch_item){ .url = fifo, .label = "fifo", .has_sha256 = true };
		r = cfs_fetch_all(&opts, it, 1, &err);
		CHECK(r < 0 && strstr(err.msg, "not a regular file"));
	}

	/* No hash at all: refused, unless allowed. */
	it[0] = (struct cfs_fetch_item){ .url = good, .label = "nohash" };
	r = cfs_fetch_all(&opts, it, 1, &err);
	CHECK(r == -EINVAL);
	CHECK(strstr(err.msg, "nohash: ") == err.msg && strstr(err.msg, "no sha256 or md5"));
	opts.allow_unverified = true;
	r = cfs_fetch_all(&opts, it, 1, &err);
	opts.allow_unverified = false;
	CHECK(r == 0);
	CHECK_STR(it[0].path, good);
	CHECK_MEM(it[0].got_sha256, CFS_SHA256_LEN, sha, CFS_SHA256_LEN);
	cfs_fetch_item_release(&it[0]);

	/* URLs that cannot be fetched. */
	it[0] = (struct cfs_fetch_item){ .url = "ftp://h/x.conda", .label = "ftp", .has_sha256 = true };
	r = cfs_fetch_all(&opts, it, 1, &err);
	CHECK(r == -EINVAL && strstr(err.msg, "unsupported URL scheme"));
	it[0] = (struct cfs_fetch_item){ .url = "file://host/x.conda", .label = "fh", .has_sha256 = true };
	r = cfs_fetch_all(&opts, it, 1, &err);
	CHECK(r == -EINVAL);
	it[0] = (struct cfs_fetch_item){ .url = "http://127.0.0.1:1/x.conda", .label = "nocache",
					 .has_sha256 = true };
	r = cfs_fetch_all(&opts, it, 1, &err);
	CHECK(r == -EINVAL && strstr(err.msg, "no cache directory"));

	CHECK(cfs_fetch_all(&opts, NULL, 0, &err) == 0);
}

/* Cache hits need no server: the URLs point at a closed loopback port. */
static void test_cache(const char *tmp)
{
	cleanup_free char *cache = xjoin(tmp, "cache");
	cleanup_free char *pkgs = xjoin(cache, "pkgs");
	cleanup_free char *hit = NULL, *md5hit = NULL;
	struct cfs_fetch_opts opts = { .cache_dir = cache, .jobs = 4, .retries = 0,
				       .connect_timeout_ms = 2000 };
	const char *content = "cached package bytes\n";
	char hex[2 * CFS_SHA256_LEN + 1], md5hex[2 * CFS_MD5_LEN + 1];
	uint8_t sha[CFS_SHA256_LEN], md5[CFS_MD5_LEN];
	struct cfs_err err = { "" };
	struct cfs_fetch_item it[2];
	errint_t r;

	cfs_sha256(content, strlen(content), sha);
	md5_of(content, md5);
	cfs_hex(sha, CFS_SHA256_LEN, hex);
	cfs_hex(md5, CFS_MD5_LEN, md5hex);

	/* Not there yet: the download is attempted and fails cleanly. */
	memset(it, 0, sizeof(it));
	it[0] = (struct cfs_fetch_item){ .url = "http://127.0.0.1:1/ch/a-1-0.conda",
					 .has_sha256 = true };
	memcpy(it[0].sha256, sha, sizeof(sha));
	r = cfs_fetch_all(&opts, it, 1, &err);
	CHECK(r == -EIO);
	CHECK(strstr(err.msg, "http://127.0.0.1:1/ch/a-1-0.conda: ") != NULL);
	CHECK(count_entries(pkgs, "") == 0);

	hit = cfs_xasprintf("%s/%s-a-1-0.conda", pkgs, hex);
	write_file(hit, content);
	md5hit = cfs_xasprintf("%s/md5-%s-b.conda", pkgs, md5hex);
	write_file(md5hit, content);
	/* The label, not the URL, names the md5 item's cache file. */
	it[1] = (struct cfs_fetch_item){ .url = "http://127.0.0.1:1/x?y", .label = "b.conda",
					 .has_md5 = true };
	memcpy(it[1].md5, md5, sizeof(md5));
	r = cfs_fetch_all(&opts, it, 2, &err);
	CHECK(r == 0);
	CHECK_STR(it[0].path, hit);
	CHECK_STR(it[1].path, md5hit);
	CHECK(it[0].from_cache && it[1].from_cache);
	CHECK(it[0].size == strlen(content) && it[1].size == strlen(content));
	CHECK_MEM(it[1].got_sha256, CFS_SHA256_LEN, sha, CFS_SHA256_LEN);
	cfs_fetch_item_release(&it[0]);
	cfs_fetch_item_release(&it[1]);

	/* A corrupt md5-named file is dropped, not trusted. */
	write_file(md5hit, "corrupt");
	r = cfs_fetch_all(&opts, &it[1], 1, &err);
	CHECK(r == -EIO);
	CHECK(it[1].path == NULL);
	CHECK(access(md5hit, F_OK) < 0);
	CHECK(count_entries(pkgs, ".tmp-") == 0);

	/* An empty sha256-named file is not a hit. */
	write_file(hit, "");
	r = cfs_fetch_all(&opts, it, 1, &err);
	CHECK(r == -EIO);
	CHECK(it[0].path == NULL);
}

static int run_serverless(void)
{
	char tmpl[] = "/tmp/test-fetch-XXXXXX";
	const char *tmp = mkdtemp(tmpl);

	if (!tmp) {
		perror("mkdtemp");
		return 1;
	}
	test_rewrite();
	test_local(tmp);
	test_cache(tmp);
	nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return check_summary();
}

static int parse_item(char *arg, struct cfs_fetch_item *it)
{
	char *save = NULL, *part = strtok_r(arg, "|", &save);

	memset(it, 0, sizeof(*it));
	it->url = part;
	while ((part = strtok_r(NULL, "|", &save))) {
		if (strncmp(part, "sha256=", 7) == 0) {
			if (cfs_unhex(part + 7, it->sha256, CFS_SHA256_LEN) < 0)
				return -1;
			it->has_sha256 = true;
		} else if (strncmp(part, "md5=", 4) == 0) {
			if (cfs_unhex(part + 4, it->md5, CFS_MD5_LEN) < 0)
				return -1;
			it->has_md5 = true;
		} else if (strncmp(part, "label=", 6) == 0) {
			it->label = part + 6;
		} else {
			return -1;
		}
	}
	return it->url ? 0 : -1;
}

static int run_fetch(int argc, char **argv)
{
	struct cfs_fetch_opts opts = { .jobs = 1, .retries = 3 };
	struct cfs_mirror mirrors[16];
	const char *expect_error = NULL;
	int expect_cached = -1;
	struct cfs_fetch_item *items;
	struct cfs_err err = { "" };
	size_t n = 0;
	errint_t r;
	int i;

	for (i = 2; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--allow-unverified")) {
			opts.allow_unverified = true;
		} else if (!strcmp(a, "--progress")) {
			opts.progress = true;
		} else if (!strcmp(a, "--expect-cached")) {
			expect_cached = 1;
		} else if (!strcmp(a, "--expect-downloaded")) {
			expect_cached = 0;
		} else if (!v) {
			fprintf(stderr, "%s needs a value\n", a);
			return 2;
		} else {
			i++;
			if (!strcmp(a, "--cache"))
				opts.cache_dir = v;
			else if (!strcmp(a, "--jobs"))
				opts.jobs = atoi(v);
			else if (!strcmp(a, "--retries"))
				opts.retries = atoi(v);
			else if (!strcmp(a, "--connect-timeout"))
				opts.connect_timeout_ms = atol(v);
			else if (!strcmp(a, "--low-speed"))
				opts.low_speed_secs = atol(v);
			else if (!strcmp(a, "--expect-error"))
				expect_error = v;
			else if (!strcmp(a, "--mirror") && strchr(v, '=') &&
				 opts.n_mirrors < CFS_ARRAY_SIZE(mirrors)) {
				char *eq = strchr(argv[i], '=');
				*eq = '\0';
				mirrors[opts.n_mirrors++] = (struct cfs_mirror){ argv[i], eq + 1 };
				opts.mirrors = mirrors;
			} else {
				fprintf(stderr, "bad option %s %s\n", a, v);
				return 2;
			}
		}
	}
	items = cfs_xcalloc((size_t)(argc - i), sizeof(*items));
	for (; i < argc; i++) {
		if (parse_item(argv[i], &items[n++]) < 0) {
			fprintf(stderr, "bad item %s\n", argv[i]);
			free(items);
			return 2;
		}
	}

	r = cfs_fetch_all(&opts, items, n, &err);
	if (r < 0)
		fprintf(stderr, "error: %s\n", err.msg);
	if (expect_error) {
		CHECK(r < 0);
		CHECK(strstr(err.msg, expect_error) != NULL);
	} else {
		CHECK(r == 0);
	}
	for (size_t k = 0; r == 0 && k < n; k++) {
		struct cfs_fetch_item *it = &items[k];
		char hex[2 * CFS_SHA256_LEN + 1];

		CHECK(it->path != NULL);
		if (!it->path)
			continue;
		CHECK(file_has_sha256(it->path, it->got_sha256, it->size));
		if (it->has_sha256)
			CHECK_MEM(it->got_sha256, CFS_SHA256_LEN, it->sha256, CFS_SHA256_LEN);
		if (expect_cached >= 0)
			CHECK(it->from_cache == (expect_cached == 1));
		cfs_hex(it->got_sha256, CFS_SHA256_LEN, hex);
		printf("%s %d %llu %s\n", it->path, it->from_cache, (unsigned long long)it->size, hex);
	}
	if (opts.cache_dir) {
		cleanup_free char *pkgs = xjoin(opts.cache_dir, "pkgs");
		CHECK(count_entries(pkgs, ".tmp-") == 0);
	}
	for (size_t k = 0; k < n; k++)
		cfs_fetch_item_release(&items[k]);
	free(items);
	return check_summary();
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "fetch"))
		return run_fetch(argc, argv);
	if (argc > 1) {
		fprintf(stderr, "usage: %s [fetch [options] URL[|sha256=HEX][|md5=HEX][|label=NAME]...]\n",
			argv[0]);
		return 2;
	}
	return run_serverless();
}

/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for indexer/lock.c: both lock formats from inline strings,
 * the bad/ and good/ corpora under tests/data/locks (bad: each file must
 * fail with the message in <file>.expect; good: the parse must match
 * <file>.golden, regenerated with CFS_UPDATE_GOLDEN=1), and the real locks
 * in ../shared/corpus/locks when that folder exists.
 */
#include "lock.h"
#include "buf.h"
#include "check.h"

#include <ctype.h>
#include <dirent.h>
#include <string.h>
#include <sys/utsname.h>

#define LOCKS CFS_TEST_DATA "/locks"
#define CORPUS CFS_TEST_DATA "/../../../shared/corpus/locks"

#define MD5_A "d7c89558ba9fa0495403155b64376d81"
#define SHA_A "fe51de6107f9edc7aa4f786a70f4a883943bc9d39b3bb7307c04c41410990726"
#define CF "https://conda.anaconda.org/conda-forge"

static struct cfs_lock *parse(const char *path, const char *text,
			      const char *platform)
{
	struct cfs_lock *lock = NULL;
	struct cfs_err err = { "" };
	int r = cfs_lock_parse(path, text, strlen(text), platform, &lock, &err);

	if (r < 0)
		fprintf(stderr, "unexpected failure: %s\n", err.msg);
	CHECK(r == 0 && lock);
	return lock;
}

/* Asserts that text fails to parse with a message containing want. */
static void parse_fails(const char *path, const char *text,
			const char *platform, const char *want)
{
	struct cfs_lock *lock = NULL;
	struct cfs_err err = { "" };
	int r = cfs_lock_parse(path, text, strlen(text), platform, &lock, &err);

	CHECK(r == -EINVAL);
	CHECK(lock == NULL);
	if (!strstr(err.msg, want)) {
		fprintf(stderr, "message \"%s\" lacks \"%s\"\n", err.msg, want);
		CHECK(!"message as expected");
	}
	cfs_lock_free(lock);
}

static const struct cfs_lock_pkg *find(const struct cfs_lock *lock,
				       const char *name)
{
	for (size_t i = 0; i < lock->n_pkgs; i++)
		if (lock->pkgs[i].name && strcmp(lock->pkgs[i].name, name) == 0)
			return &lock->pkgs[i];
	return NULL;
}

static ssize_t pos(const struct cfs_lock *lock, const char *name)
{
	const struct cfs_lock_pkg *p = find(lock, name);
	return p ? p - lock->pkgs : -1;
}

/* Dependencies placed after their dependent (python → pip is exempt). */
static int order_violations(const struct cfs_lock *lock)
{
	int bad = 0;

	for (size_t i = 0; i < lock->n_pkgs; i++) {
		const struct cfs_lock_pkg *p = &lock->pkgs[i];
		for (size_t k = 0; k < p->n_depends; k++) {
			ssize_t j = pos(lock, p->depends[k]);
			if (j > (ssize_t)i && !(strcmp(p->name, "python") == 0 &&
						strcmp(p->depends[k], "pip") == 0))
				bad++;
		}
	}
	return bad;
}

/* ---- explicit ---- */

static void test_explicit_fragments(void)
{
	const char *text =
		"# This file may be used to create an environment using:\n"
		"# platform: linux-64\n"
		"@EXPLICIT\n"
		CF "/linux-64/_libgcc_mutex-0.1-conda_forge.tar.bz2#" MD5_A "\n"
		"\n"
		CF "/noarch/tzdata-2024a-h0c530f3_0.conda#sha256:" SHA_A "\n"
		"# a comment\n"
		CF "/linux-64/ld_impl_linux-64-2.40-h41732ed_0.conda#" SHA_A "\n"
		CF "/linux-64/zlib-1.2.13-hd590300_5.conda\n";
	struct cfs_lock *lock = parse("env.txt", text, "linux-64");
	const struct cfs_lock_pkg *p;
	char buf[65];
	uint8_t want[CFS_SHA256_LEN];

	if (!lock)
		return;
	CHECK(lock->kind == CFS_LOCK_EXPLICIT);
	CHECK_STR(lock->platform, "linux-64");
	CHECK_STR(lock->path, "env.txt");
	cfs_sha256(text, strlen(text), want);
	CHECK_MEM(lock->sha256, sizeof(lock->sha256), want, sizeof(want));
	CHECK(lock->n_pkgs == 4 && lock->n_skipped == 0);

	p = &lock->pkgs[0];
	CHECK_STR(p->name, "_libgcc_mutex");
	CHECK_STR(p->version, "0.1");
	CHECK_STR(p->build, "conda_forge");
	CHECK_STR(p->fn, "_libgcc_mutex-0.1-conda_forge.tar.bz2");
	CHECK_STR(p->url, CF "/linux-64/_libgcc_mutex-0.1-conda_forge.tar.bz2");
	CHECK_STR(p->channel, CF);
	CHECK_STR(p->subdir, "linux-64");
	CHECK(p->category == NULL && p->depends == NULL);
	CHECK(p->has_md5 && !p->has_sha256);
	cfs_hex(p->md5, CFS_MD5_LEN, buf);
	CHECK_STR(buf, MD5_A);
	CHECK(p->line == 4);
	CHECK(p->manager == CFS_MGR_CONDA);

	p = &lock->pkgs[1];
	CHECK_STR(p->subdir, "noarch");
	CHECK(p->has_sha256 && !p->has_md5);
	cfs_hex(p->sha256, CFS_SHA256_LEN, buf);
	CHECK_STR(buf, SHA_A);
	CHECK(p->line == 6);

	p = &lock->pkgs[2]; /* a name with dashes, bare 64 hex */
	CHECK_STR(p->name, "ld_impl_linux-64");
	CHECK_STR(p->version, "2.40");
	CHECK_STR(p->build, "h41732ed_0");
	CHECK(p->has_sha256 && !p->has_md5);

	p = &lock->pkgs[3]; /* no fragment */
	CHECK_STR(p->name, "zlib");
	CHECK(!p->has_md5 && !p->has_sha256);
	CHECK(p->line == 9);
	cfs_lock_free(lock);
}

static void test_explicit_no_platform(void)
{
	struct cfs_lock *lock = parse("e.txt",
				      "@EXPLICIT\n"
				      "https://h/c/osx-arm64/a-1-0.conda?token=x#" MD5_A "\n",
				      "osx-arm64");
	if (!lock)
		return;
	CHECK_STR(lock->platform, "osx-arm64");
	CHECK(lock->n_pkgs == 1);
	CHECK_STR(lock->pkgs[0].fn, "a-1-0.conda");
	CHECK_STR(lock->pkgs[0].url, "https://h/c/osx-arm64/a-1-0.conda?token=x");
	CHECK_STR(lock->pkgs[0].channel, "https://h/c");
	CHECK(lock->pkgs[0].has_md5);
	cfs_lock_free(lock);
}

static void test_explicit_errors(void)
{
	const char *pkg = CF "/linux-64/zlib-1.2.13-hd590300_5.conda";
	char text[1024];

	snprintf(text, sizeof(text), "# platform: osx-64\n@EXPLICIT\n%s\n", pkg);
	parse_fails("e.txt", text, "linux-64",
		    "e.txt:1: lock is for platform osx-64, not linux-64");
	snprintf(text, sizeof(text), "# hi\n%s\n@EXPLICIT\n", pkg);
	parse_fails("e.txt", text, "linux-64", "e.txt:2: '");
	parse_fails("e.txt", text, "linux-64", "before @EXPLICIT");
	snprintf(text, sizeof(text), "%s\n", pkg); /* no marker at all */
	parse_fails("e.txt", text, "linux-64", "e.txt:1: ");

	static const char *const bad_frags[] = {
		"#xyz", "#" MD5_A "0", "#d7c89558ba9fa0495403155b64376d8",
		"#md5:" MD5_A, "#sha256:" MD5_A, "#sha256=" SHA_A, "#", "##" MD5_A,
	};
	for (size_t i = 0; i < CFS_ARRAY_SIZE(bad_frags); i++) {
		snprintf(text, sizeof(text), "@EXPLICIT\n\n%s%s\n", pkg, bad_frags[i]);
		parse_fails("e.txt", text, "linux-64", "e.txt:3: bad hash fragment");
	}
	parse_fails("e.txt", "@EXPLICIT\nhttps://h/linux-64/a-1-0.zip\n", "linux-64",
		    "e.txt:2: 'https://h/linux-64/a-1-0.zip' is not a package URL");
	parse_fails("e.txt", "@EXPLICIT\nhttps://h/linux-64/a-1.conda\n", "linux-64",
		    "e.txt:2: file name 'a-1.conda' is not name-version-build");
	parse_fails("e.txt", "@EXPLICIT\nnumpy 1.26 py312_0\n", "linux-64",
		    "e.txt:2: 'numpy 1.26 py312_0' is not a package URL");
	parse_fails("e.txt", "", "linux-64", "e.txt:1: empty lock file");
	parse_fails("e.txt", "\n# only\n  \n", "linux-64", "e.txt:1: empty lock file");
}

static void test_explicit_pip(void)
{
	struct cfs_lock *lock = parse(
		"p.lock",
		"# platform: linux-64\n@EXPLICIT\n"
		CF "/noarch/pip-24.0-pyhd8ed1ab_0.conda#" MD5_A "\n"
		"# pip easy-cache @ https://files.example/easy_cache-1.1.0-py3-none-any.whl#sha256=" SHA_A "\n"
		"# pip is great @ but this is prose\n"
		"# pip nohash @ https://files.example/nohash-2.0.tar.gz\n",
		"linux-64");
	const struct cfs_lock_pkg *p;

	if (!lock)
		return;
	/* The wheel is installed after the conda packages; the prose is a comment. */
	CHECK(lock->n_pkgs == 2 && lock->n_wheels == 1 && lock->n_skipped == 1);
	p = &lock->pkgs[1];
	CHECK(p->manager == CFS_MGR_PIP && !p->unbuildable);
	CHECK_STR(p->name, "easy-cache");
	CHECK_STR(p->url, "https://files.example/easy_cache-1.1.0-py3-none-any.whl");
	CHECK_STR(p->fn, "easy_cache-1.1.0-py3-none-any.whl");
	CHECK(p->has_sha256 && !p->has_md5 && p->line == 4);
	CHECK_STR(lock->skipped[0].name, "nohash");
	CHECK_STR(lock->skipped[0].unbuildable, "a source distribution");
	CHECK(!lock->skipped[0].has_sha256);
	cfs_lock_free(lock);
}

/* ---- conda-lock.yml ---- */

#define ENTRY(name, ver, plat, cat, url, deps)                              \
	"- name: " name "\n  version: '" ver "'\n  manager: conda\n"          \
	"  platform: " plat "\n  category: " cat "\n  optional: false\n"       \
	"  dependencies: " deps "\n  url: " url "\n  hash:\n    md5: " MD5_A "\n"

static void test_yaml_basic(void)
{
	/* version first here; keys of the entries in another order. */
	const char *text =
		"version: 1\n"
		"package:\n"
		"- url: " CF "/linux-64/zlib-1.2.13-hd590300_5.conda?download=1#frag\n"
		"  hash: {sha256: " SHA_A ", md5: " MD5_A "}\n"
		"  name: zlib\n"
		"  version: 1.2.13\n"
		"  dependencies: {libzlib: 1.2.13 hd590300_5}\n"
		"  manager: conda\n"
		"  platform: linux-64\n"
		"  category: main\n"
		ENTRY("zlib", "1.2.13", "osx-64", "main",
		      CF "/osx-64/zlib-1.2.13-h1_5.conda", "{}")
		ENTRY("libzlib", "1.2.13", "linux-64", "main",
		      CF "/linux-64/libzlib-1.2.13-hd590300_5.conda", "{}")
		"- name: six\n  version: 1.16.0\n  manager: pip\n  platform: linux-64\n"
		"  url: https://files.example/six-1.16.0-py2.py3-none-any.whl\n"
		"  hash:\n    sha256: " SHA_A "\n  dependencies: {}\n  category: main\n"
		"metadata:\n  platforms: [linux-64, osx-64]\n";
	struct cfs_lock *lock = parse("conda-lock.yml", text, "linux-64");
	const struct cfs_lock_pkg *p;

	if (!lock)
		return;
	CHECK(lock->kind == CFS_LOCK_CONDA_LOCK_V1 && lock->version == 1);
	/* six is a wheel: installed, after the conda packages */
	CHECK(lock->n_pkgs == 3 && lock->n_wheels == 1 && lock->n_skipped == 0);
	CHECK_STR(lock->pkgs[2].name, "six");
	CHECK_STR(lock->pkgs[0].name, "libzlib"); /* dependencies first */
	p = &lock->pkgs[1];
	CHECK_STR(p->name, "zlib");
	CHECK_STR(p->fn, "zlib-1.2.13-hd590300_5.conda");
	CHECK_STR(p->build, "hd590300_5");
	CHECK_STR(p->channel, CF);
	CHECK_STR(p->subdir, "linux-64");
	CHECK_STR(p->category, "main");
	CHECK(p->has_md5 && p->has_sha256 && p->line == 3);
	CHECK(p->n_depends == 1);
	CHECK_STR(p->depends[0], "libzlib");
	p = &lock->pkgs[2];
	CHECK(p->manager == CFS_MGR_PIP && p->has_sha256);
	CHECK_STR(p->name, "six");
	CHECK_STR(p->version, "1.16.0");
	cfs_lock_free(lock);

	lock = parse("conda-lock.yml", text, "osx-64");
	if (!lock)
		return;
	CHECK(lock->n_pkgs == 1 && lock->n_skipped == 0);
	CHECK_STR(lock->pkgs[0].build, "h1_5");
	CHECK_STR(lock->pkgs[0].subdir, "osx-64");
	cfs_lock_free(lock);
	parse_fails("conda-lock.yml", text, "linux-aarch64",
		    "conda-lock.yml:41: lock has no packages for platform linux-aarch64");
}

static void test_yaml_categories(void)
{
	struct cfs_lock *lock = parse(
		"c.yml",
		"version: 1\npackage:\n"
		ENTRY("a", "1", "linux-64", "main", CF "/linux-64/a-1-0.conda", "{}")
		ENTRY("b", "1", "linux-64", "dev", CF "/noarch/b-1-0.conda", "{}")
		ENTRY("a", "1", "linux-64", "dev", CF "/linux-64/a-1-0.conda", "{}")
		ENTRY("a", "1", "linux-64", "test", CF "/linux-64/a-1-0.conda", "{}"),
		"linux-64");

	if (!lock)
		return;
	CHECK(lock->n_pkgs == 2);
	CHECK_STR(lock->pkgs[0].name, "a");
	CHECK_STR(lock->pkgs[0].category, "main");
	CHECK(lock->pkgs[0].line == 3);
	CHECK_STR(lock->pkgs[1].name, "b");
	cfs_lock_free(lock);

	parse_fails("c.yml",
		    "version: 1\npackage:\n"
		    ENTRY("a", "1", "linux-64", "main", CF "/linux-64/a-1-0.conda", "{}")
		    ENTRY("a", "2", "linux-64", "dev", CF "/linux-64/a-2-0.conda", "{}"),
		    "linux-64",
		    "c.yml:13: package 'a': url " CF "/linux-64/a-2-0.conda differs from "
		    CF "/linux-64/a-1-0.conda at line 3");
}

static void test_yaml_order(void)
{
	/* d → c → b; e has no deps; cycle x ↔ y with w depending on it. */
	struct cfs_lock *lock = parse(
		"o.yml",
		"version: 1\npackage:\n"
		ENTRY("d", "1", "linux-64", "main", CF "/linux-64/d-1-0.conda",
		      "{c: '', __glibc: '>=2.17', d: ''}")
		ENTRY("w", "1", "linux-64", "main", CF "/linux-64/w-1-0.conda", "{y: ''}")
		ENTRY("c", "1", "linux-64", "main", CF "/linux-64/c-1-0.conda", "{b: ''}")
		ENTRY("y", "1", "linux-64", "main", CF "/linux-64/y-1-0.conda", "{x: ''}")
		ENTRY("e", "1", "linux-64", "main", CF "/linux-64/e-1-0.conda", "{}")
		ENTRY("x", "1", "linux-64", "main", CF "/linux-64/x-1-0.conda", "{y: ''}")
		ENTRY("b", "1", "linux-64", "main", CF "/linux-64/b-1-0.conda", "{}"),
		"linux-64");
	static const char *const want[] = { "e", "b", "c", "d", "y", "w", "x" };

	if (!lock)
		return;
	CHECK(lock->n_pkgs == CFS_ARRAY_SIZE(want));
	for (size_t i = 0; i < lock->n_pkgs && i < CFS_ARRAY_SIZE(want); i++)
		CHECK_STR(lock->pkgs[i].name, want[i]);
	cfs_lock_free(lock);

	/* Already in order: kept as is. */
	lock = parse("o.yml",
		     "version: 1\npackage:\n"
		     ENTRY("b", "1", "linux-64", "main", CF "/linux-64/b-1-0.conda", "{}")
		     ENTRY("a", "1", "linux-64", "main", CF "/linux-64/a-1-0.conda", "{b: ''}")
		     ENTRY("c", "1", "linux-64", "main", CF "/linux-64/c-1-0.conda", "{}"),
		     "linux-64");
	if (!lock)
		return;
	CHECK_STR(lock->pkgs[0].name, "b");
	CHECK_STR(lock->pkgs[1].name, "a");
	CHECK_STR(lock->pkgs[2].name, "c");
	cfs_lock_free(lock);
}

static void test_yaml_lenient(void)
{
	/* Missing url/name and malformed hashes are the indexer's business. */
	struct cfs_lock *lock = parse(
		"l.yml",
		"version: 1\npackage:\n"
		"- {manager: conda, platform: linux-64, name: nourl, version: '1',"
		" hash: {md5: xyz, sha256: " MD5_A "}}\n"
		"- {platform: linux-64, url: " CF "/noarch/noname-2-py_0.tar.bz2,"
		" hash: {md5: " SHA_A "}, dependencies: null}\n",
		"linux-64");

	if (!lock)
		return;
	CHECK(lock->n_pkgs == 2);
	CHECK_STR(lock->pkgs[0].name, "nourl");
	CHECK(lock->pkgs[0].url == NULL && lock->pkgs[0].fn == NULL);
	CHECK_STR(lock->pkgs[0].channel, "");
	CHECK(!lock->pkgs[0].has_md5 && !lock->pkgs[0].has_sha256);
	CHECK_STR(lock->pkgs[1].name, "noname");
	CHECK_STR(lock->pkgs[1].version, "2");
	CHECK_STR(lock->pkgs[1].build, "py_0");
	CHECK(!lock->pkgs[1].has_md5);
	CHECK(lock->pkgs[1].manager == CFS_MGR_CONDA);
	cfs_lock_free(lock);
}

static void test_yaml_errors(void)
{
	parse_fails("v.yml", "package: []\nmetadata: {}\nversion: 2\n", "linux-64",
		    "v.yml:3: conda-lock.yml version 2 is not supported (condafs reads version 1)");
	parse_fails("pixi.lock", "version: 3\nenvironments: {}\npackages: []\n", "linux-64",
		    "pixi.lock:1: pixi.lock version 3 is not supported (condafs reads 4 to 7)");
	parse_fails("pixi.lock", "version: 7\nenvironments: {}\npackages: []\n", "linux-64",
		    "pixi.lock:2: no environment 'default' in the lock (it has: none)");
	parse_fails("pixi.lock", "version: 6\nenvironments: {default: {packages: {linux-64: "
		    "[{pypi: ./x}]}}}\npackages: []\n", "linux-64",
		    "pixi.lock:2: environment 'default', platform linux-64: pypi package ./x "
		    "is not in the lock's packages list");
	parse_fails("v.yml", "package: []\nmetadata: {}\n", "linux-64",
		    "v.yml:1: no 'version' key");
	parse_fails("v.yml", "version: 1\npackage:\n- name: a\n   version: 1\n",
		    "linux-64", "v.yml:4: invalid YAML: ");
	parse_fails("v.yml", "version: 1\npackage: [a, b\n", "linux-64",
		    "v.yml:3: invalid YAML: did not find expected ',' or ']'");
	parse_fails("v.yml", "just a string\n", "linux-64", "v.yml:1: not a conda-lock.yml");
	parse_fails("v.yml", "version: 1\n", "linux-64", "v.yml:1: no 'package' list");
	parse_fails("v.yml",
		    "version: 1\npackage:\n"
		    ENTRY("a", "1", "linux-64", "main",
			  "https://files.example/a-1-py3-none-any.whl", "{}"),
		    "linux-64", "v.yml:3: package 'a': 'https://files.example/a-1-py3-none-any.whl' does not name");
	parse_fails("v.yml", "version: 1\npackage: []\n", NULL, "no platform");
}

/* ---- helpers ---- */

static void test_split_fn(void)
{
	static const struct {
		const char *fn, *name, *version, *build;
	} good[] = {
		{ "zlib-1.2.13-hd590300_5.conda", "zlib", "1.2.13", "hd590300_5" },
		{ "ld_impl_linux-64-2.40-h41732ed_0.tar.bz2", "ld_impl_linux-64", "2.40", "h41732ed_0" },
		{ "python-dateutil-2.9.0-pyhd8ed1ab_0.conda", "python-dateutil", "2.9.0", "pyhd8ed1ab_0" },
		{ "a-b-c.conda", "a", "b", "c" },
	};
	static const char *const bad[] = {
		"zlib.conda", "zlib-1.2.conda", "-1-0.conda", "a--0.conda", "a-1-.conda",
		"a-1-0.zip", "a-1-0.tar.gz", "a-1-0", ".conda", "", "dir/a-1-0.conda",
		"a-1-0.conda.part",
	};

	for (size_t i = 0; i < CFS_ARRAY_SIZE(good); i++) {
		char *n = NULL, *v = NULL, *b = NULL;
		CHECK(cfs_lock_split_fn(good[i].fn, &n, &v, &b) == 0);
		CHECK_STR(n, good[i].name);
		CHECK_STR(v, good[i].version);
		CHECK_STR(b, good[i].build);
		free(n);
		free(v);
		free(b);
	}
	for (size_t i = 0; i < CFS_ARRAY_SIZE(bad); i++) {
		char *n = NULL, *v = NULL, *b = NULL;
		if (cfs_lock_split_fn(bad[i], &n, &v, &b) != -EINVAL) {
			fprintf(stderr, "split_fn accepted '%s'\n", bad[i]);
			CHECK(!"split_fn refuses");
		}
		CHECK(!n && !v && !b);
	}
}

static void test_host_platform(void)
{
	struct utsname u;
	const char *p = cfs_lock_host_platform();

	CHECK(uname(&u) == 0);
	if (strcmp(u.machine, "x86_64") == 0)
		CHECK_STR(p, "linux-64");
	else if (strcmp(u.machine, "aarch64") == 0)
		CHECK_STR(p, "linux-aarch64");
	else
		printf("host platform for %s: %s\n", u.machine, p ? p : "(unknown)");
}

static void test_load_errors(void)
{
	struct cfs_lock *lock = NULL;
	struct cfs_err err = { "" };

	CHECK(cfs_lock_load(LOCKS "/does-not-exist.yml", "linux-64", &lock, &err) == -ENOENT);
	CHECK(strstr(err.msg, "does-not-exist.yml") != NULL);
	CHECK(lock == NULL);
	/* The size bound is checked before the data is looked at. */
	CHECK(cfs_lock_parse("huge.yml", "", (size_t)CFS_MAX_LOCK_BYTES + 1, "linux-64",
			     &lock, &err) == -EFBIG);
	CHECK(strstr(err.msg, "huge.yml: lock file is larger than 256 MiB") != NULL);
}

/* ---- corpora ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir that do not end in skip_ext; caller frees. */
static char **list_dir(const char *dir, const char *skip_ext, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;

	*n = 0;
	CHECK(d != NULL);
	while (d && (e = readdir(d))) {
		size_t len = strlen(e->d_name), el = strlen(skip_ext);
		if (e->d_name[0] == '.' ||
		    (len > el && strcmp(e->d_name + len - el, skip_ext) == 0))
			continue;
		v = cfs_xrealloc(v, (*n + 1) * sizeof(*v));
		v[(*n)++] = cfs_xstrdup(e->d_name);
	}
	if (d)
		closedir(d);
	qsort(v, *n, sizeof(*v), cmp_str);
	return v;
}

static char *read_text(const char *path)
{
	struct cfs_buf b;

	cfs_buf_init(&b, 1 << 20);
	if (cfs_buf_read_file(&b, path) < 0) {
		cfs_buf_release(&b);
		return NULL;
	}
	while (b.len && b.data[b.len - 1] == '\n')
		b.data[--b.len] = '\0';
	return cfs_buf_steal(&b, NULL);
}

/* "<name>:<digits>:" occurs in msg. */
static bool names_file_and_line(const char *msg, const char *name)
{
	for (const char *s = strstr(msg, name); s; s = strstr(s + 1, name)) {
		const char *d = s + strlen(name);
		if (*d++ != ':' || !isdigit((unsigned char)*d))
			continue;
		while (isdigit((unsigned char)*d))
			d++;
		if (*d == ':')
			return true;
	}
	return false;
}

static void test_bad_corpus(void)
{
	size_t n;
	char **names = list_dir(LOCKS "/bad", ".expect", &n);

	CHECK(n >= 20);
	for (size_t i = 0; i < n; i++) {
		char *path = cfs_xasprintf("%s/bad/%s", LOCKS, names[i]);
		char *epath = cfs_xasprintf("%s.expect", path);
		char *want = read_text(epath);
		struct cfs_lock *lock = NULL;
		struct cfs_err err = { "" };
		int r = cfs_lock_load(path, "linux-64", &lock, &err);

		if (r != -EINVAL || !want || !strstr(err.msg, want) ||
		    !names_file_and_line(err.msg, names[i])) {
			fprintf(stderr, "bad/%s: r=%d msg \"%s\", want \"%s\"\n",
				names[i], r, err.msg, want ? want : "(no .expect file)");
			CHECK(!"bad lock fails as expected");
		} else {
			CHECK(lock == NULL);
		}
		cfs_lock_free(lock);
		free(want);
		free(epath);
		free(path);
		free(names[i]);
	}
	free(names);
}

static void dump_pkg(FILE *f, const struct cfs_lock_pkg *p)
{
	char md5[2 * CFS_MD5_LEN + 1] = "-", sha[2 * CFS_SHA256_LEN + 1] = "-";

#define S(x) ((x) ? (x) : "(null)")
	if (p->has_md5)
		cfs_hex(p->md5, CFS_MD5_LEN, md5);
	if (p->has_sha256)
		cfs_hex(p->sha256, CFS_SHA256_LEN, sha);
	fprintf(f, "%s line %d: %s %s %s\n", p->manager == CFS_MGR_PIP ? "pip" : "conda",
		p->line, S(p->name), S(p->version), S(p->build));
	fprintf(f, "  url %s\n  fn %s\n  channel %s\n  subdir %s\n  category %s\n",
		S(p->url), S(p->fn), S(p->channel), S(p->subdir), S(p->category));
	fprintf(f, "  md5 %s\n  sha256 %s\n  depends", md5, sha);
	for (size_t i = 0; i < p->n_depends; i++)
		fprintf(f, " %s", p->depends[i]);
	fprintf(f, "\n");
	if (p->unbuildable)
		fprintf(f, "  unbuildable %s\n", p->unbuildable);
#undef S
}

static char *dump_lock(const struct cfs_lock *lock)
{
	char *s = NULL, sha[2 * CFS_SHA256_LEN + 1];
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	cfs_hex(lock->sha256, CFS_SHA256_LEN, sha);
	fprintf(f, "kind %s\nversion %d\nplatform %s\nenvironment %s\nsha256 %s\n"
		"packages %zu\nwheels %zu\nskipped %zu\n",
		lock->kind == CFS_LOCK_EXPLICIT ? "explicit" :
		lock->kind == CFS_LOCK_PIXI ? "pixi" : "conda-lock-v1",
		lock->version, lock->platform, lock->environment ? lock->environment : "-", sha,
		lock->n_pkgs, lock->n_wheels, lock->n_skipped);
	for (size_t i = 0; i < lock->n_pkgs; i++)
		dump_pkg(f, &lock->pkgs[i]);
	for (size_t i = 0; i < lock->n_skipped; i++)
		dump_pkg(f, &lock->skipped[i]);
	fclose(f);
	return s;
}

/*
 * Loads path for platform and environment env and compares what it resolves
 * to with the golden file gpath (rewritten instead with CFS_UPDATE_GOLDEN).
 */
static void check_golden(const char *path, const char *platform, const char *env,
			 const char *gpath, const char *label)
{
	struct cfs_lock *lock = NULL;
	struct cfs_err err = { "" };
	char *got, *want;

	if (cfs_lock_load_env(path, platform, env, &lock, &err) < 0) {
		fprintf(stderr, "%s: %s\n", label, err.msg);
		CHECK(!"good lock parses");
		return;
	}
	got = dump_lock(lock);
	for (size_t k = strlen(got); k && got[k - 1] == '\n';)
		got[--k] = '\0';
	if (getenv("CFS_UPDATE_GOLDEN")) {
		FILE *f = fopen(gpath, "w");
		CHECK(f && fprintf(f, "%s\n", got) > 0 && fclose(f) == 0);
	}
	want = read_text(gpath);
	if (!want || strcmp(got, want) != 0)
		fprintf(stderr, "%s differs from its .golden; got:\n%s\n", label, got);
	CHECK(want && strcmp(got, want) == 0);
	cfs_lock_free(lock);
	free(got);
	free(want);
}

static void test_good_corpus(void)
{
	size_t n;
	char **names = list_dir(LOCKS "/good", ".golden", &n);

	CHECK(n >= 5);
	for (size_t i = 0; i < n; i++) {
		char *path = cfs_xasprintf("%s/good/%s", LOCKS, names[i]);
		char *gpath = cfs_xasprintf("%s.golden", path);
		char *label = cfs_xasprintf("good/%s", names[i]);

		check_golden(path, "linux-64", NULL, gpath, label);
		free(label);
		free(gpath);
		free(path);
		free(names[i]);
	}
	free(names);
}

/*
 * tests/data/locks/pixi: each NAME.yml@ENV@PLATFORM.golden is what NAME.yml
 * resolves to for that environment and platform.
 */
static void test_pixi_corpus(void)
{
	DIR *d = opendir(LOCKS "/pixi");
	struct dirent *e;
	size_t n = 0;

	CHECK(d != NULL);
	while (d && (e = readdir(d))) {
		char *name = cfs_xstrdup(e->d_name), *env, *plat, *dot;
		char *path, *gpath, *label;

		env = strchr(name, '@');
		plat = env ? strchr(env + 1, '@') : NULL;
		dot = plat ? strstr(plat, ".golden") : NULL;
		if (!dot || dot[7]) {
			free(name);
			continue;
		}
		*env++ = *plat++ = *dot = '\0';
		n++;
		path = cfs_xasprintf("%s/pixi/%s", LOCKS, name);
		gpath = cfs_xasprintf("%s/pixi/%s", LOCKS, e->d_name);
		label = cfs_xasprintf("pixi/%s (%s, %s)", name, env, plat);
		check_golden(path, plat, env, gpath, label);
		free(label);
		free(gpath);
		free(path);
		free(name);
	}
	if (d)
		closedir(d);
	CHECK(n >= 6);
}

static struct cfs_lock *load_corpus(const char *name, const char *platform)
{
	char *path = cfs_xasprintf("%s/%s", CORPUS, name);
	struct cfs_lock *lock = NULL;
	struct cfs_err err = { "" };

	if (cfs_lock_load(path, platform, &lock, &err) < 0)
		fprintf(stderr, "%s (%s): %s\n", name, platform, err.msg);
	CHECK(lock != NULL);
	free(path);
	return lock;
}

static void check_corpus_sha(const struct cfs_lock *lock, const char *want)
{
	char got[2 * CFS_SHA256_LEN + 1];

	cfs_hex(lock->sha256, CFS_SHA256_LEN, got);
	CHECK_STR(got, want);
}

static void test_corpus_conda_lock(void)
{
	static const struct {
		const char *platform;
		size_t n;
	} plats[] = { { "linux-64", 144 }, { "osx-64", 139 }, { "osx-arm64", 138 } };
	size_t entries = 0;

	for (size_t i = 0; i < CFS_ARRAY_SIZE(plats); i++) {
		struct cfs_lock *lock = load_corpus("conda-lock_test-lockfile.yml",
						    plats[i].platform);
		if (!lock)
			continue;
		CHECK(lock->kind == CFS_LOCK_CONDA_LOCK_V1);
		/* pip: two wheels (installed last) and an sdist (skipped) */
		CHECK(lock->n_pkgs == plats[i].n + 2 && lock->n_wheels == 2);
		CHECK(lock->n_skipped == 1);
		entries += lock->n_pkgs + lock->n_skipped;
		CHECK(order_violations(lock) == 0);
		for (size_t k = 0; k < lock->n_pkgs - lock->n_wheels; k++) {
			const struct cfs_lock_pkg *p = &lock->pkgs[k];
			CHECK(p->has_md5 && !p->has_sha256 && p->build);
			CHECK_STR(p->channel, CF);
			CHECK(strcmp(p->subdir, "noarch") == 0 ||
			      strcmp(p->subdir, plats[i].platform) == 0);
		}
		for (size_t k = lock->n_pkgs - lock->n_wheels; k < lock->n_pkgs; k++)
			CHECK(lock->pkgs[k].manager == CFS_MGR_PIP && lock->pkgs[k].has_sha256);
		CHECK(lock->skipped[0].manager == CFS_MGR_PIP && lock->skipped[0].has_sha256);
		/* python before pip (conda drops python's dependency on pip) */
		CHECK(pos(lock, "python") >= 0 && pos(lock, "python") < pos(lock, "pip"));
		check_corpus_sha(lock, "9adeb0e8929c298b3febbc05f9a66088a19257e6062ffc8fad41c82093236bff");
		if (i == 0) {
			const struct cfs_lock_pkg *p = find(lock, "python");
			CHECK_STR(lock->pkgs[0].name, "_libgcc_mutex");
			CHECK_STR(lock->pkgs[0].build, "conda_forge");
			CHECK(lock->pkgs[0].line == 30);
			CHECK(p && p->line == 4327);
			CHECK_STR(p ? p->build : NULL, "hf930737_3_cpython");
			CHECK_STR(p ? p->version : NULL, "3.9.7");
			CHECK_STR(lock->pkgs[lock->n_pkgs - 2].name, "easy-cache");
			CHECK_STR(lock->pkgs[lock->n_pkgs - 1].name, "pytest-pinned");
			CHECK_STR(lock->skipped[0].name, "pydashi");
			CHECK_STR(lock->skipped[0].unbuildable, "a source distribution");
		}
		cfs_lock_free(lock);
	}
	CHECK(entries == 430);
}

static void test_corpus_categories(void)
{
	struct cfs_lock *lock = load_corpus("conda-lock_multiple-categories.yml",
					    "linux-64");

	if (!lock)
		return;
	/* 115 entries; 14 packages are listed under two categories. */
	CHECK(lock->n_pkgs == 101 && lock->n_skipped == 0);
	CHECK(order_violations(lock) == 0);
	CHECK_STR(lock->pkgs[0].name, "_libgcc_mutex");
	CHECK(lock->pkgs[0].line == 31 && lock->pkgs[0].has_md5 && lock->pkgs[0].has_sha256);
	CHECK_STR(lock->pkgs[0].category, "main");
	cfs_lock_free(lock);
}

static void test_corpus_explicit(void)
{
	struct cfs_lock *lock = load_corpus("conda-lock_zlib_conda-linux-64.lock", "linux-64");
	const struct cfs_lock_pkg *p;
	struct cfs_err err = { "" };
	struct cfs_lock *none = NULL;

	if (lock) {
		CHECK(lock->kind == CFS_LOCK_EXPLICIT && lock->n_pkgs == 6);
		CHECK_STR(lock->pkgs[0].name, "_libgcc_mutex");
		CHECK_STR(lock->pkgs[5].name, "zlib");
		CHECK_STR(lock->pkgs[5].build, "h36c2ea0_1013");
		CHECK(lock->pkgs[5].has_md5 && lock->pkgs[5].line == 10);
		cfs_lock_free(lock);
	}
	CHECK(cfs_lock_load(CORPUS "/conda-lock_zlib_conda-linux-64.lock", "osx-64",
			    &none, &err) == -EINVAL);
	CHECK(strstr(err.msg, "conda-lock_zlib_conda-linux-64.lock:2: lock is for platform linux-64, not osx-64"));

	lock = load_corpus("mamba_explicit_env_linux.txt", "linux-64");
	if (lock) {
		CHECK(lock->n_pkgs == 15);
		p = find(lock, "tzdata");
		CHECK(p && strcmp(p->subdir, "noarch") == 0 && strcmp(p->version, "2020f") == 0);
		CHECK_STR(lock->pkgs[14].name, "python");
		CHECK_STR(lock->pkgs[14].channel, "https://repo.anaconda.com/pkgs/main");
		check_corpus_sha(lock, "553ea05e2598e8616e9de73dab58d1c2e7d9445376040819b7743204140034ba");
		cfs_lock_free(lock);
	}
	lock = load_corpus("conda_explicit_no_hashes.txt", "osx-arm64");
	if (lock) {
		CHECK(lock->n_pkgs == 2);
		CHECK_STR(lock->platform, "osx-arm64");
		CHECK(!lock->pkgs[0].has_md5 && !lock->pkgs[0].has_sha256);
		CHECK_STR(lock->pkgs[1].name, "ca-certificates");
		cfs_lock_free(lock);
	}
}

int main(void)
{
	test_explicit_fragments();
	test_explicit_no_platform();
	test_explicit_errors();
	test_explicit_pip();
	test_pixi_corpus();
	test_yaml_basic();
	test_yaml_categories();
	test_yaml_order();
	test_yaml_lenient();
	test_yaml_errors();
	test_split_fn();
	test_host_platform();
	test_load_errors();
	test_bad_corpus();
	test_good_corpus();
	if (access(CORPUS, R_OK) == 0) {
		test_corpus_conda_lock();
		test_corpus_categories();
		test_corpus_explicit();
	} else {
		printf("skipped the real-lock checks: %s not found\n", CORPUS);
	}
	return check_summary();
}

/* SPDX-License-Identifier: MIT */
/*
 * Lock file readers: explicit "@EXPLICIT" lists (CEP 23), conda-lock's
 * unified conda-lock.yml, version 1 (CEP 37), and pixi.lock.  All end in
 * the same list of packages.  This file holds the entry points, the package
 * helpers, file names and URLs, and explicit files; conda-lock.yml is read
 * in lock-yaml.c, pixi.lock in lock-pixi.c, and their entries deduplicated
 * and put in dependency order in lock-order.c.
 */
#include "lock-internal.h"
#include "buf.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

static const char *const pkg_exts[] = { ".conda", ".tar.bz2" };

void lock_pkg_release(struct cfs_lock_pkg *p)
{
	free(p->name);
	free(p->version);
	free(p->build);
	free(p->url);
	free(p->fn);
	free(p->channel);
	free(p->subdir);
	free(p->category);
	for (size_t i = 0; i < p->n_depends; i++)
		free(p->depends[i]);
	free(p->depends);
	memset(p, 0, sizeof(*p));
}

struct cfs_lock_pkg *lock_pkg_list_push(struct pkg_list *l)
{
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? 2 * l->alloc : 16;
		l->v = cfs_xrealloc(l->v, l->alloc * sizeof(*l->v));
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	return &l->v[l->n++];
}

static void pkg_list_release(struct pkg_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		lock_pkg_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void lock_ctx_release(struct lock_ctx *c)
{
	pkg_list_release(&c->pkgs);
	pkg_list_release(&c->wheels);
	pkg_list_release(&c->skipped);
}

void cfs_lock_free(struct cfs_lock *lock)
{
	struct pkg_list pkgs, skipped;

	if (!lock)
		return;
	pkgs = (struct pkg_list){ lock->pkgs, lock->n_pkgs, 0 };
	skipped = (struct pkg_list){ lock->skipped, lock->n_skipped, 0 };
	pkg_list_release(&pkgs);
	pkg_list_release(&skipped);
	free(lock->path);
	free(lock->platform);
	free(lock->environment);
	free(lock);
}

/* Sets "<path>:<line>: <msg>" and returns -EINVAL. */
__attribute__((format(printf, 3, 4)))
int lock_err(struct lock_ctx *c, int line, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cfs_err_set(c->err, EINVAL, "%s:%d: %s", c->path, line, msg);
}

/* The 1-based line of data[off]. */
int lock_line_at(const char *data, size_t off)
{
	int line = 1;

	for (size_t i = 0; i < off; i++)
		line += data[i] == '\n';
	return line;
}

/* ---- file names and URLs ---- */

char *cfs_lock_spec_name(const char *spec)
{
	const char *colons = strstr(spec, "::");
	size_t n;

	if (colons)
		spec = colons + 2;
	n = strcspn(spec, " =<>!~[;,");
	return n ? cfs_xstrndup(spec, n) : NULL;
}

size_t lock_pkg_ext_len(const char *fn, size_t len)
{
	for (size_t i = 0; i < CFS_ARRAY_SIZE(pkg_exts); i++) {
		size_t n = strlen(pkg_exts[i]);
		if (len > n && memcmp(fn + len - n, pkg_exts[i], n) == 0)
			return n;
	}
	return 0;
}

errint_t cfs_lock_split_fn(const char *fn, char **name, char **version,
			   char **build)
{
	size_t len = strlen(fn), base = len - lock_pkg_ext_len(fn, len);
	const char *b, *v;

	if (base == len || memchr(fn, '/', len))
		return -EINVAL;
	b = memrchr(fn, '-', base);
	if (!b || b + 1 == fn + base)
		return -EINVAL;
	v = memrchr(fn, '-', (size_t)(b - fn));
	if (!v || v == fn || v + 1 == b)
		return -EINVAL;
	if (name)
		*name = cfs_xstrndup(fn, (size_t)(v - fn));
	if (version)
		*version = cfs_xstrndup(v + 1, (size_t)(b - v - 1));
	if (build)
		*build = cfs_xstrndup(b + 1, (size_t)(fn + base - b - 1));
	return 0;
}

/* Offset where the path of "scheme://host/path" starts; 0 without a scheme. */
static size_t url_root_len(const char *u, size_t len)
{
	const char *s = memmem(u, len, "://", 3), *slash;

	if (!s || memchr(u, '/', (size_t)(s - u)))
		return 0;
	slash = memchr(s + 3, '/', len - (size_t)(s + 3 - u));
	return slash ? (size_t)(slash - u) : len;
}

/*
 * Fills fn, channel and subdir from url: fn is the last path component
 * (without query or fragment), subdir the one before it and channel what
 * precedes the subdir.  Without a URL, or with only_fn, those are "".
 */
void lock_pkg_split_url(struct cfs_lock_pkg *p, bool only_fn)
{
	const char *u = p->url ? p->url : "", *sep, *sub;
	size_t len = strcspn(u, "?#"), root = url_root_len(u, len);
	size_t fn_at = root, ch_len = root, sub_at = 0, sub_len = 0;

	sep = memrchr(u + root, '/', len - root);
	sub = sep ? memrchr(u + root, '/', (size_t)(sep - u) - root) : NULL;
	if (sep)
		fn_at = (size_t)(sep + 1 - u);
	if (sub) {
		sub_at = (size_t)(sub + 1 - u);
		sub_len = (size_t)(sep - sub - 1);
		ch_len = (size_t)(sub - u);
	} else if (sep && !root) { /* "linux-64/x.conda" */
		sub_len = (size_t)(sep - u);
		ch_len = 0;
	} else if (sep) { /* "https://host/x.conda" */
		ch_len = (size_t)(sep - u);
	}
	if (p->url)
		p->fn = cfs_xstrndup(u + fn_at, len - fn_at);
	p->channel = cfs_xstrndup(u, only_fn ? 0 : ch_len);
	p->subdir = cfs_xstrndup(u + sub_at, only_fn ? 0 : sub_len);
}

/* Completes a conda package: URL parts, then name/version/build from fn. */
errint_t lock_pkg_finish_conda(struct lock_ctx *c, struct cfs_lock_pkg *p)
{
	cleanup_free char *name = NULL, *version = NULL;
	char who[160] = "";

	lock_pkg_split_url(p, false);
	if (!p->url) /* the indexer reports it */
		return 0;
	if (p->name)
		snprintf(who, sizeof(who), "package '%.120s': ", p->name);
	if (!lock_pkg_ext_len(p->fn, strlen(p->fn)))
		return lock_err(c, p->line,
			    "%s'%.200s' does not name a .conda or .tar.bz2 file",
			    who, p->url);
	if (cfs_lock_split_fn(p->fn, &name, &version, &p->build) < 0)
		return lock_err(c, p->line,
			    "%sfile name '%.200s' is not name-version-build.conda or .tar.bz2",
			    who, p->fn);
	if (!p->name)
		p->name = steal_pointer(&name);
	if (!p->version)
		p->version = steal_pointer(&version);
	return 0;
}

bool cfs_lock_is_wheel(const char *fn)
{
	size_t n = fn ? strlen(fn) : 0;

	return n > 4 && strcmp(fn + n - 4, ".whl") == 0;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Why a pip entry that is not a wheel cannot be installed. */
static const char *pip_unbuildable(const struct cfs_lock_pkg *p, bool editable)
{
	static const char *const sdist[] = { ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz",
					     ".tar" };
	const char *u = p->url ? p->url : "";
	size_t n = strcspn(u, "?#");

	if (editable)
		return "an editable install of a local project";
	if (strncmp(u, "git+", 4) == 0 || ends_with(u, n, ".git"))
		return "a git checkout";
	if (cfs_lock_is_wheel(p->fn))
		return NULL;
	for (size_t i = 0; i < CFS_ARRAY_SIZE(sdist); i++)
		if (ends_with(u, n, sdist[i]))
			return "a source distribution";
	if (!p->url)
		return "an entry without a URL";
	if (!strstr(u, "://") || strncmp(u, "file://", 7) == 0)
		return "a local directory";
	return "not a wheel";
}

void lock_finish_pip(struct lock_ctx *c, bool editable)
{
	struct cfs_lock_pkg *p = &c->wheels.v[c->wheels.n - 1], *q;

	p->manager = CFS_MGR_PIP;
	lock_pkg_split_url(p, true);
	p->unbuildable = pip_unbuildable(p, editable);
	if (!p->unbuildable)
		return;
	q = lock_pkg_list_push(&c->skipped);
	*q = c->wheels.v[--c->wheels.n];
}

char *cfs_lock_resolve_url(const char *lock_path, const char *url)
{
	cleanup_free char *dir = NULL, *abs = NULL;
	const char *slash;

	/* pixi marks a wheel's direct URL (not from an index) "direct+". */
	if (url && strncmp(url, "direct+", 7) == 0 && url_root_len(url + 7, strlen(url + 7)))
		url += 7;
	if (!url || !*url || *url == '/' || url_root_len(url, strlen(url)) ||
	    strncmp(url, "file:", 5) == 0)
		return cfs_xstrdup(url ? url : "");
	slash = lock_path ? strrchr(lock_path, '/') : NULL;
	dir = slash ? cfs_xstrndup(lock_path, (size_t)(slash - lock_path)) : cfs_xstrdup(".");
	if (!*dir) {
		free(dir);
		dir = cfs_xstrdup("/");
	}
	abs = realpath(dir, NULL);
	while (url[0] == '.' && url[1] == '/')
		url += 2 + strspn(url + 2, "/");
	return cfs_xasprintf("%s/%s", abs ? abs : dir, url);
}

/* ---- explicit files ---- */

/*
 * Returns the next line of [*s, end) with surrounding blanks (and '\r')
 * trimmed as [*a, *b), and advances *s; false at the end.
 */
static bool next_line(const char **s, const char *end, const char **a,
		      const char **b)
{
	const char *nl;

	if (*s >= end)
		return false;
	nl = memchr(*s, '\n', (size_t)(end - *s));
	*a = *s;
	*b = nl ? nl : end;
	*s = nl ? nl + 1 : end;
	while (*a < *b && (**a == ' ' || **a == '\t'))
		(*a)++;
	while (*b > *a && ((*b)[-1] == ' ' || (*b)[-1] == '\t' || (*b)[-1] == '\r'))
		(*b)--;
	return true;
}

/* A line that can only be a package: no blanks, ends in .conda/.tar.bz2. */
static bool looks_like_pkg(const char *a, size_t n)
{
	const char *hash = memchr(a, '#', n), *query;

	if (hash)
		n = (size_t)(hash - a);
	query = memchr(a, '?', n);
	return !memchr(a, ' ', n) && !memchr(a, '\t', n) &&
	       lock_pkg_ext_len(a, query ? (size_t)(query - a) : n);
}

enum lock_format { FMT_EMPTY, FMT_EXPLICIT, FMT_YAML };

static enum lock_format detect_format(const char *data, size_t len)
{
	const char *s = data, *end = s + len, *a, *b;
	int first = -1; /* whether the first significant line is a package */

	while (next_line(&s, end, &a, &b)) {
		if (a == b || *a == '#')
			continue;
		if (b - a == 9 && memcmp(a, "@EXPLICIT", 9) == 0)
			return FMT_EXPLICIT;
		if (first < 0)
			first = looks_like_pkg(a, (size_t)(b - a));
	}
	if (first < 0)
		return FMT_EMPTY;
	return first ? FMT_EXPLICIT : FMT_YAML;
}

/* "url[#fragment]": 32 hex is md5; "sha256:" + 64 hex or 64 hex is sha256. */
static errint_t explicit_package(struct lock_ctx *c, int line, const char *text)
{
	struct cfs_lock_pkg *p = lock_pkg_list_push(&c->pkgs);
	const char *frag = strchr(text, '#'), *sha;

	p->line = line;
	p->manager = CFS_MGR_CONDA;
	p->url = cfs_xstrndup(text, frag ? (size_t)(frag - text) : strlen(text));
	if (frag) {
		frag++;
		sha = strncmp(frag, "sha256:", 7) == 0 ? frag + 7 : frag;
		p->has_md5 = cfs_unhex(frag, p->md5, CFS_MD5_LEN) == 0;
		p->has_sha256 = cfs_unhex(sha, p->sha256, CFS_SHA256_LEN) == 0;
		if (!p->has_md5 && !p->has_sha256)
			return lock_err(c, line,
				    "bad hash fragment '#%.80s' (expected <32 hex> for md5, sha256:<64 hex> or <64 hex>)",
				    frag);
	}
	return lock_pkg_finish_conda(c, p);
}

/* "# pip name @ url#sha256=<hex>", as conda-lock writes pip packages. */
static void explicit_pip(struct lock_ctx *c, int line, const char *rest)
{
	const char *at = strstr(rest, " @ "), *url, *hash;
	struct cfs_lock_pkg *p;

	if (!at || at == rest || memchr(rest, ' ', (size_t)(at - rest)) ||
	    strpbrk(at + 3 + strspn(at + 3, " \t"), " \t"))
		return; /* an ordinary comment: "name @ url" holds no other blanks */
	p = lock_pkg_list_push(&c->wheels);
	p->line = line;
	p->name = cfs_xstrndup(rest, (size_t)(at - rest));
	url = at + 3 + strspn(at + 3, " \t");
	hash = strchr(url, '#');
	p->url = cfs_xstrndup(url, hash ? (size_t)(hash - url) : strlen(url));
	if (hash && strncmp(hash, "#sha256=", 8) == 0 &&
	    cfs_unhex(hash + 8, p->sha256, CFS_SHA256_LEN) == 0)
		p->has_sha256 = true;
	lock_finish_pip(c, false);
}

static errint_t explicit_comment(struct lock_ctx *c, int line, const char *text)
{
	text += strspn(text, "# \t");
	if (strncmp(text, "platform:", 9) == 0) {
		text += 9 + strspn(text + 9, " \t");
		if (strcmp(text, c->platform) != 0)
			return lock_err(c, line, "lock is for platform %.64s, not %s",
				    text, c->platform);
	} else if (strncmp(text, "pip ", 4) == 0) {
		explicit_pip(c, line, text + 4 + strspn(text + 4, " \t"));
	}
	return 0;
}

static errint_t parse_explicit(struct lock_ctx *c, const char *data, size_t len)
{
	const char *s = data, *end = s + len, *a, *b;
	bool marker = false;
	int line = 0, r = 0;

	while (r == 0 && next_line(&s, end, &a, &b)) {
		cleanup_free char *text = cfs_xstrndup(a, (size_t)(b - a));

		line++;
		if (!*text)
			continue;
		if (*text == '#')
			r = explicit_comment(c, line, text);
		else if (strcmp(text, "@EXPLICIT") == 0)
			marker = true;
		else if (!marker)
			r = lock_err(c, line,
				 "'%.200s' before @EXPLICIT (only comments may come first)",
				 text);
		else if (!looks_like_pkg(text, strlen(text)))
			r = lock_err(c, line,
				 "'%.200s' is not a package URL or path ending in .conda or .tar.bz2",
				 text);
		else
			r = explicit_package(c, line, text);
	}
	return r;
}

/* ---- entry points ---- */

static errint_t parse_any(struct lock_ctx *c, const char *data, size_t len,
			  enum cfs_lock_kind *kind)
{
	const char *nul = memchr(data, '\0', len);
	bool other_env = c->environment && strcmp(c->environment, "default") != 0;
	int r;

	if (nul)
		return lock_err(c, lock_line_at(data, (size_t)(nul - data)), "NUL byte in lock file");
	switch (detect_format(data, len)) {
	case FMT_EMPTY:
		return lock_err(c, 1, "empty lock file (expected conda-lock.yml, pixi.lock or @EXPLICIT)");
	case FMT_EXPLICIT:
		*kind = CFS_LOCK_EXPLICIT;
		if (other_env)
			return lock_err(c, 1, "an @EXPLICIT lock has one environment; "
				    "--environment %.64s is for pixi.lock files", c->environment);
		r = parse_explicit(c, data, len);
		break;
	case FMT_YAML:
	default:
		r = lock_parse_yaml(c, data, len);
		*kind = c->version >= 4 ? CFS_LOCK_PIXI : CFS_LOCK_CONDA_LOCK_V1;
		if (r == 0)
			r = lock_dedup(c, &c->pkgs, true);
		if (r == 0)
			lock_sort_by_deps(&c->pkgs);
		break;
	}
	if (r == 0)
		r = lock_dedup(c, &c->wheels, false);
	if (r == 0)
		r = lock_dedup(c, &c->skipped, false);
	return r;
}

errint_t cfs_lock_parse_env(const char *path, const char *data, size_t len,
			    const char *platform, const char *environment,
			    struct cfs_lock **out, struct cfs_err *err)
{
	__attribute__((cleanup(lock_ctx_release))) struct lock_ctx c = {
		.path = path ? path : "(lock)",
		.platform = platform,
		.environment = environment,
		.err = err,
	};
	enum cfs_lock_kind kind = CFS_LOCK_EXPLICIT;
	struct cfs_lock *lock;
	int r;

	*out = NULL;
	if (!platform || !*platform)
		return cfs_err_set(err, EINVAL, "%s: no platform given", c.path);
	if (len > CFS_MAX_LOCK_BYTES)
		return cfs_err_set(err, EFBIG, "%s: lock file is larger than %u MiB",
				   c.path, CFS_MAX_LOCK_BYTES >> 20);
	r = parse_any(&c, data, len, &kind);
	if (r < 0)
		return r;

	lock = cfs_xcalloc(1, sizeof(*lock));
	lock->kind = kind;
	lock->version = c.version;
	lock->path = cfs_xstrdup(c.path);
	lock->platform = cfs_xstrdup(platform);
	if (kind == CFS_LOCK_PIXI)
		lock->environment = cfs_xstrdup(environment ? environment : "default");
	cfs_sha256(data, len, lock->sha256);
	/* The wheels follow the conda packages: they need python installed. */
	lock->n_pkgs = c.pkgs.n + c.wheels.n;
	lock->n_wheels = c.wheels.n;
	lock->pkgs = cfs_xcalloc(lock->n_pkgs ? lock->n_pkgs : 1, sizeof(*lock->pkgs));
	if (c.pkgs.n)
		memcpy(lock->pkgs, c.pkgs.v, c.pkgs.n * sizeof(*lock->pkgs));
	if (c.wheels.n)
		memcpy(lock->pkgs + c.pkgs.n, c.wheels.v, c.wheels.n * sizeof(*lock->pkgs));
	lock->n_skipped = c.skipped.n;
	lock->skipped = steal_pointer(&c.skipped.v);
	c.pkgs.n = c.wheels.n = c.skipped.n = 0;
	*out = lock;
	return 0;
}

errint_t cfs_lock_parse(const char *path, const char *data, size_t len,
			const char *platform, struct cfs_lock **out,
			struct cfs_err *err)
{
	return cfs_lock_parse_env(path, data, len, platform, NULL, out, err);
}

errint_t cfs_lock_load_env(const char *path, const char *platform, const char *environment,
			   struct cfs_lock **out, struct cfs_err *err)
{
	cleanup_buf struct cfs_buf buf = { .limit = CFS_MAX_LOCK_BYTES };
	int r;

	*out = NULL;
	r = cfs_buf_read_file(&buf, path);
	if (r == -EFBIG)
		return cfs_err_set(err, EFBIG, "%s: lock file is larger than %u MiB",
				   path, CFS_MAX_LOCK_BYTES >> 20);
	if (r < 0)
		return cfs_err_set(err, -r, "%s: cannot read: %s", path, strerror(-r));
	return cfs_lock_parse_env(path, buf.data, buf.len, platform, environment, out, err);
}

errint_t cfs_lock_load(const char *path, const char *platform,
		       struct cfs_lock **out, struct cfs_err *err)
{
	return cfs_lock_load_env(path, platform, NULL, out, err);
}

const char *cfs_lock_host_platform(void)
{
#ifdef __linux__
	static const struct {
		const char *machine, *platform;
	} map[] = {
		{ "x86_64", "linux-64" },	   { "aarch64", "linux-aarch64" },
		{ "ppc64le", "linux-ppc64le" }, { "s390x", "linux-s390x" },
		{ "i686", "linux-32" },	   { "i586", "linux-32" },
		{ "i386", "linux-32" },	   { "armv7l", "linux-armv7l" },
		{ "riscv64", "linux-riscv64" },
	};
	struct utsname u;

	if (uname(&u) == 0)
		for (size_t i = 0; i < CFS_ARRAY_SIZE(map); i++)
			if (strcmp(u.machine, map[i].machine) == 0)
				return map[i].platform;
#endif
	return NULL;
}

/* SPDX-License-Identifier: MIT */
/*
 * Installing a wheel the way pip does (the binary distribution format and
 * the recording-installed-projects specifications, PyPA), into the store.
 *
 *   NAME-VER.dist-info/...          → site-packages (RECORD rewritten,
 *   pkg/..., top.py                    INSTALLER added)
 *   NAME-VER.data/purelib|platlib/X → site-packages/X
 *   NAME-VER.data/scripts/X         → bin/X ("#!python" → the env's python)
 *   NAME-VER.data/headers/X         → include/pythonX.Y/NAME/X
 *   NAME-VER.data/data/X            → X
 *   entry_points.txt console_scripts and gui_scripts → bin/<name>
 *
 * In a conda environment purelib and platlib are the same directory, so
 * Root-Is-Purelib changes nothing.  Every member is checked against the
 * wheel's RECORD before anything is kept.
 */
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>

#include "archive-api.h"
#include "buf.h"
#include "log.h"
#include "package.h"
#include "relocate.h"

#define WHEEL_MEMBER_MAX ((size_t)2 << 30)
#define WHEEL_META_MAX ((size_t)16 << 20) /* RECORD, WHEEL, entry_points.txt */

struct whl_file {
	char *src;  /* member name in the wheel */
	char *dest; /* path in the prefix */
	uint32_t perm;
	int64_t mtime;
	char record_hash[64]; /* "sha256=<urlsafe base64>" of the shipped bytes */
	uint64_t shipped_size;
	uint8_t digest[CFS_SHA256_LEN]; /* of the stored (final) bytes */
	uint64_t size, csize;
};

struct whl_ctx {
	const struct cfs_install_opts *opts;
	const struct cfs_lock_pkg *lp;
	struct cfs_package *out;
	struct cfs_err *err;
	const char *label;
	char *dist_info; /* "flask-3.0.3.dist-info" */
	char *data_dir;  /* "flask-3.0.3.data" */
	char *dist_name; /* "flask" (for headers) */
	char *sp;        /* "lib/python3.11/site-packages" */
	struct whl_file *files;
	size_t n_files, alloc_files;
	struct cfs_buf record, wheel, entry_points;
	int64_t mtime; /* of the dist-info's WHEEL file: for generated files */
};

static void archive_freep(struct archive **a)
{
	if (*a)
		sym_archive_read_free(*a);
}
#define cleanup_archive __attribute__((cleanup(archive_freep)))

static void whl_ctx_release(struct whl_ctx *c)
{
	for (size_t i = 0; i < c->n_files; i++) {
		free(c->files[i].src);
		free(c->files[i].dest);
	}
	free(c->files);
	free(c->dist_info);
	free(c->data_dir);
	free(c->dist_name);
	free(c->sp);
	cfs_buf_release(&c->record);
	cfs_buf_release(&c->wheel);
	cfs_buf_release(&c->entry_points);
}

/* ---- tags ---------------------------------------------------------------- */

/* Wheel platform tags a conda platform runs, as a glob-free prefix/suffix pair. */
static bool platform_fits(const char *tag, const char *platform)
{
	static const struct {
		const char *conda, *arch;
	} linux_arch[] = {
		{ "linux-64", "x86_64" },       { "linux-aarch64", "aarch64" },
		{ "linux-ppc64le", "ppc64le" }, { "linux-s390x", "s390x" },
		{ "linux-32", "i686" },         { "linux-armv7l", "armv7l" },
		{ "linux-riscv64", "riscv64" },
	};
	size_t tl = strlen(tag);

	if (strcmp(tag, "any") == 0)
		return true;
	for (size_t i = 0; i < CFS_ARRAY_SIZE(linux_arch); i++) {
		size_t al = strlen(linux_arch[i].arch);
		if (strcmp(platform, linux_arch[i].conda) != 0)
			continue;
		if (tl <= al + 1 || strcmp(tag + tl - al, linux_arch[i].arch) != 0 ||
		    tag[tl - al - 1] != '_')
			return false;
		/* linux_*, manylinux1/2010/2014_*, manylinux_X_Y_* (glibc); not musllinux */
		return strncmp(tag, "linux_", 6) == 0 || strncmp(tag, "manylinux", 9) == 0;
	}
	if (strcmp(platform, "win-64") == 0)
		return strcmp(tag, "win_amd64") == 0;
	if (strcmp(platform, "osx-64") == 0 || strcmp(platform, "osx-arm64") == 0) {
		const char *arch = platform[4] == 'a' ? "_arm64" : "_x86_64";
		return strncmp(tag, "macosx_", 7) == 0 &&
		       (cfs_ends_with(tag, arch) || cfs_ends_with(tag, "_universal2") ||
			(platform[4] == '6' && (cfs_ends_with(tag, "_intel") ||
						cfs_ends_with(tag, "_universal"))));
	}
	return false;
}

/* "cp311" or "py311" style: the minor version after "3", or -1. */
static int tag_minor(const char *tag, const char *kind)
{
	char *end;
	long n;

	if (strncmp(tag, kind, 2) != 0 || tag[2] != '3' || !tag[3])
		return -1;
	n = strtol(tag + 3, &end, 10);
	return *end || n < 0 || n > 99 ? -1 : (int)n;
}

/* Whether one python-abi pair runs on python 3.minor (pip's compatibility order). */
static bool pair_fits(const char *py, const char *abi, int minor)
{
	char cp_abi[16];
	int n;

	snprintf(cp_abi, sizeof(cp_abi), "cp3%d", minor);
	if (strcmp(abi, "none") == 0) {
		if (strcmp(py, "py3") == 0)
			return true;
		n = tag_minor(py, "py");
		if (n < 0)
			n = tag_minor(py, "cp");
		return n >= 0 && (n == minor || (py[0] == 'p' && n <= minor));
	}
	if (strcmp(abi, "abi3") == 0)
		return (n = tag_minor(py, "cp")) >= 0 && n <= minor;
	return strcmp(abi, cp_abi) == 0 && strcmp(py, cp_abi) == 0;
}

/* Whether any tag triple of the compressed set "py-abi-plat" fits. */
static bool tags_fit(char *py, char *abi, char *plat, int minor, const char *platform)
{
	char *s1, *s2, *s3;

	for (char *p = strtok_r(py, ".", &s1); p; p = strtok_r(NULL, ".", &s1)) {
		cleanup_free char *abis = cfs_xstrdup(abi);
		for (char *a = strtok_r(abis, ".", &s2); a; a = strtok_r(NULL, ".", &s2)) {
			cleanup_free char *plats = cfs_xstrdup(plat);
			if (!pair_fits(p, a, minor))
				continue;
			for (char *q = strtok_r(plats, ".", &s3); q; q = strtok_r(NULL, ".", &s3))
				if (platform_fits(q, platform))
					return true;
		}
	}
	return false;
}

/*
 * Splits "name-ver(-build)?-py-abi-plat.whl" and checks its tags against
 * the environment.  Sets c->dist_name.
 */
static errint_t check_file_name(struct whl_ctx *c)
{
	cleanup_free char *stem = cfs_xstrndup(c->lp->fn, strlen(c->lp->fn) - 4);
	cleanup_free char *tags = NULL;
	char *part[7], *save;
	const char *dot;
	int n = 0, minor;

	for (char *p = strtok_r(stem, "-", &save); p && n < 7; p = strtok_r(NULL, "-", &save))
		part[n++] = p;
	if (n != 5 && n != 6)
		return cfs_err_set(c->err, EINVAL, "%s: not a wheel file name "
				   "(name-version[-build]-python-abi-platform.whl)", c->label);
	c->dist_name = cfs_xstrdup(part[0]);
	dot = strchr(c->opts->python_xy, '.');
	minor = dot && c->opts->python_xy[0] == '3' ? atoi(dot + 1) : -1;
	tags = cfs_xasprintf("%s-%s-%s", part[n - 3], part[n - 2], part[n - 1]);
	if (minor < 0 || !tags_fit(part[n - 3], part[n - 2], part[n - 1], minor,
				   c->opts->platform))
		return cfs_err_set(c->err, EINVAL, "%s: wheel tags %s do not fit python %s on %s",
				   c->label, tags, c->opts->python_xy, c->opts->platform);
	return 0;
}

/* ---- members ------------------------------------------------------------- */

/* "sha256=" and the unpadded urlsafe base64 of digest, as RECORD writes it. */
static void record_hash(const uint8_t digest[CFS_SHA256_LEN], char out[64])
{
	unsigned char b64[48];
	int n = EVP_EncodeBlock(b64, digest, CFS_SHA256_LEN);

	while (n > 0 && b64[n - 1] == '=')
		n--;
	for (int i = 0; i < n; i++)
		b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	snprintf(out, 64, "sha256=%.*s", n, (const char *)b64);
}

static struct whl_file *add_file(struct whl_ctx *c, const char *src, char *dest)
{
	struct whl_file *f;

	cfs_grow(&c->files, c->n_files, &c->alloc_files, sizeof(*f), 64);
	f = &c->files[c->n_files++];
	memset(f, 0, sizeof(*f));
	f->src = cfs_xstrdup(src);
	f->dest = dest;
	return f;
}

/* The top-level directory of name if it ends in suffix ("x.dist-info"), else NULL. */
static char *top_dir_with(const char *name, const char *suffix)
{
	const char *slash = strchr(name, '/');
	cleanup_free char *top = slash ? cfs_xstrndup(name, (size_t)(slash - name)) : NULL;

	return top && cfs_ends_with(top, suffix) ? steal_pointer(&top) : NULL;
}

/* Where member name goes in the prefix; NULL (err set) for a bad path. */
static char *dest_of(struct whl_ctx *c, const char *name, bool *script)
{
	cleanup_free char *data = top_dir_with(name, ".data");
	const char *rest, *slash;
	char *dest;

	*script = false;
	if (!data) {
		dest = cfs_xasprintf("%s/%s", c->sp, name);
	} else {
		if (!c->data_dir)
			c->data_dir = cfs_xstrdup(data);
		else if (strcmp(c->data_dir, data) != 0)
			goto bad;
		rest = name + strlen(data) + 1;
		slash = strchr(rest, '/');
		if (!slash || !slash[1])
			goto bad;
		if (!strncmp(rest, "purelib/", 8) || !strncmp(rest, "platlib/", 8)) {
			dest = cfs_xasprintf("%s/%s", c->sp, slash + 1);
		} else if (!strncmp(rest, "scripts/", 8)) {
			dest = cfs_xasprintf("bin/%s", slash + 1);
			*script = true;
		} else if (!strncmp(rest, "headers/", 8)) {
			dest = cfs_xasprintf("include/python%s/%s/%s", c->opts->python_xy,
					     c->dist_name, slash + 1);
		} else if (!strncmp(rest, "data/", 5)) {
			dest = cfs_xstrdup(slash + 1);
		} else {
			cfs_err_set(c->err, EINVAL, "%s: %s: unknown .data scheme '%.*s' (want "
				    "purelib, platlib, scripts, headers or data)", c->label, name,
				    (int)(slash - rest), rest);
			return NULL;
		}
	}
	if (cfs_path_is_safe(dest) && !strstr(dest, "/../") && strncmp(dest, "../", 3) != 0)
		return dest;
	free(dest);
bad:
	cfs_err_set(c->err, EINVAL, "%s: %s: unsafe or malformed member path", c->label, name);
	return NULL;
}

/* "#!python..." first line → the environment's interpreter (pip's rule). */
static void rewrite_shebang(struct whl_ctx *c, struct cfs_buf *b)
{
	const char *nl;
	cleanup_free char *shebang = NULL;
	struct cfs_buf out;

	if (b->len < 8 || memcmp(b->data, "#!python", 8) != 0)
		return;
	nl = memchr(b->data, '\n', b->len);
	shebang = cfs_python_shebang(c->opts->prefix, c->opts->python_xy);
	cfs_buf_init(&out, SIZE_MAX);
	cfs_buf_add(&out, shebang, strlen(shebang));
	if (nl)
		cfs_buf_add(&out, nl + 1, b->len - (size_t)(nl + 1 - b->data));
	cfs_buf_release(b);
	*b = out;
}

static errint_t read_member(struct whl_ctx *c, struct archive *a, const char *name,
			    struct cfs_buf *b)
{
	const char *why = NULL;
	int r = cfs_archive_read_all(a, b, &why);

	if (r == -EFBIG)
		return cfs_err_set(c->err, EFBIG, "%s: %s: member too large (over %zu bytes)",
				   c->label, name, b->limit);
	if (r < 0)
		return cfs_err_set(c->err, EBADMSG, "%s: %s: corrupt wheel: %s", c->label, name,
				   why);
	return 0;
}

static errint_t store(struct whl_ctx *c, struct whl_file *f, const void *data, size_t len)
{
	int r = cfs_store_put(c->opts->store, data, len, f->digest, &f->csize);

	if (r < 0)
		return cfs_err_set(c->err, -r, "%s: %s: cannot store: %s", c->label, f->dest,
				   strerror(-r));
	f->size = len;
	return 0;
}

static errint_t member(struct whl_ctx *c, struct archive *a, struct archive_entry *ae)
{
	const char *name = sym_archive_entry_pathname(ae);
	cleanup_free char *info = NULL;
	cleanup_buf struct cfs_buf b = { .limit = WHEEL_MEMBER_MAX };
	struct cfs_buf *keep = NULL;
	uint8_t digest[CFS_SHA256_LEN];
	struct whl_file *f;
	bool script;
	char *dest;
	int r;

	if (!name || !*name)
		return cfs_err_set(c->err, EBADMSG, "%s: a member without a name", c->label);
	if (sym_archive_entry_filetype(ae) == AE_IFDIR || cfs_ends_with(name, "/"))
		return 0;
	if (sym_archive_entry_filetype(ae) != AE_IFREG)
		return cfs_err_set(c->err, EBADMSG, "%s: %s: not a regular file (wheels hold "
				   "files only)", c->label, name);
	info = top_dir_with(name, ".dist-info");
	if (info && strchr(name + strlen(info) + 1, '/') == NULL) {
		const char *base = name + strlen(info) + 1;
		if (!c->dist_info)
			c->dist_info = cfs_xstrdup(info);
		else if (strcmp(c->dist_info, info) != 0)
			return cfs_err_set(c->err, EBADMSG, "%s: two .dist-info directories (%s, %s)",
					   c->label, c->dist_info, info);
		if (strcmp(base, "RECORD") == 0) {
			cfs_buf_init(&c->record, WHEEL_META_MAX);
			return read_member(c, a, name, &c->record);
		}
		/* Rewritten or dropped, as pip does. */
		if (strcmp(base, "INSTALLER") == 0 || strcmp(base, "RECORD.jws") == 0 ||
		    strcmp(base, "RECORD.p7s") == 0)
			return 0;
		if (strcmp(base, "WHEEL") == 0) {
			keep = &c->wheel;
			c->mtime = sym_archive_entry_mtime(ae);
		} else if (strcmp(base, "entry_points.txt") == 0) {
			keep = &c->entry_points;
		}
	}
	dest = dest_of(c, name, &script);
	if (!dest)
		return -EINVAL;
	f = add_file(c, name, dest);
	f->perm = (sym_archive_entry_perm(ae) & 0111) || script ? 0755 : 0644;
	f->mtime = sym_archive_entry_mtime(ae);
	r = read_member(c, a, name, &b);
	if (r < 0)
		return r;
	cfs_sha256(b.data, b.len, digest);
	record_hash(digest, f->record_hash);
	f->shipped_size = b.len;
	if (keep) {
		cfs_buf_init(keep, WHEEL_META_MAX);
		if (b.len > WHEEL_META_MAX || cfs_buf_add(keep, b.data, b.len) < 0)
			return cfs_err_set(c->err, EFBIG, "%s: %s: too large", c->label, name);
	}
	if (script)
		rewrite_shebang(c, &b);
	return store(c, f, b.data, b.len);
}

/* ---- RECORD -------------------------------------------------------------- */

/* Next CSV field of *s (quotes per RFC 4180); NULL at the end of the line. */
static char *csv_field(const char **s, bool *eol)
{
	struct cfs_buf b;
	const char *p = *s;

	cfs_buf_init(&b, SIZE_MAX);
	if (*p == '"') {
		for (p++; *p; p++) {
			if (*p == '"' && p[1] == '"')
				cfs_buf_add(&b, p++, 1);
			else if (*p == '"')
				break;
			else
				cfs_buf_add(&b, p, 1);
		}
		if (*p == '"')
			p++;
	} else {
		size_t n = strcspn(p, ",\r\n");
		cfs_buf_add(&b, p, n);
		p += n;
	}
	*eol = *p != ',';
	if (*p == ',')
		p++;
	*s = p;
	cfs_buf_add(&b, "", 1);
	return cfs_buf_steal(&b, NULL);
}

static int cmp_src(const void *a, const void *b)
{
	return strcmp(((const struct whl_file *)a)->src, ((const struct whl_file *)b)->src);
}

static struct whl_file *find_src(struct whl_ctx *c, const char *src)
{
	struct whl_file key = { .src = (char *)src };

	return bsearch(&key, c->files, c->n_files, sizeof(*c->files), cmp_src);
}

/*
 * Checks every member against the wheel's RECORD: each must be listed, and
 * a listed hash and size must match the shipped bytes.
 */
static errint_t check_record(struct whl_ctx *c)
{
	const char *s, *line_end;
	int line = 0;
	bool *listed;

	if (!c->dist_info || !c->wheel.data)
		return cfs_err_set(c->err, EBADMSG, "%s: no .dist-info/WHEEL (not a wheel)", c->label);
	if (!c->record.data)
		return cfs_err_set(c->err, EBADMSG, "%s: %s/RECORD is missing", c->label,
				   c->dist_info);
	qsort(c->files, c->n_files, sizeof(*c->files), cmp_src);
	if (cfs_buf_add(&c->record, "", 1) < 0)
		return cfs_err_set(c->err, EFBIG, "%s: %s/RECORD is too large", c->label,
				   c->dist_info);
	listed = cfs_xcalloc(c->n_files + 1, sizeof(bool));
	for (s = c->record.data; *s; s = *line_end ? line_end + 1 : line_end) {
		cleanup_free char *path = NULL, *hash = NULL, *size = NULL;
		struct whl_file *f;
		bool eol = false;

		line++;
		line_end = s + strcspn(s, "\n");
		if (line_end == s || (line_end == s + 1 && *s == '\r'))
			continue;
		path = csv_field(&s, &eol);
		hash = eol ? cfs_xstrdup("") : csv_field(&s, &eol);
		size = eol ? cfs_xstrdup("") : csv_field(&s, &eol);
		f = find_src(c, path);
		if (!f)
			continue; /* RECORD itself, signatures, or a member not shipped */
		listed[f - c->files] = true;
		if (*hash && strcmp(hash, f->record_hash) != 0) {
			free(listed);
			return cfs_err_set(c->err, EBADMSG, "%s: %s: hash does not match RECORD "
					   "line %d (%s, RECORD says %.80s)", c->label, path, line,
					   f->record_hash, hash);
		}
		if (*size && strtoull(size, NULL, 10) != f->shipped_size) {
			free(listed);
			return cfs_err_set(c->err, EBADMSG, "%s: %s: %llu bytes, RECORD line %d "
					   "says %s", c->label, path,
					   (unsigned long long)f->shipped_size, line, size);
		}
	}
	for (size_t i = 0; i < c->n_files; i++)
		if (!listed[i]) {
			const char *src = c->files[i].src;
			free(listed);
			return cfs_err_set(c->err, EBADMSG, "%s: %s is not listed in RECORD",
					   c->label, src);
		}
	free(listed);
	return 0;
}

static errint_t check_wheel_version(struct whl_ctx *c)
{
	const char *v = NULL;

	if (cfs_buf_add(&c->wheel, "", 1) < 0)
		return cfs_err_set(c->err, EFBIG, "%s: %s/WHEEL is too large", c->label,
				   c->dist_info);
	for (const char *s = c->wheel.data; *s && !v;) {
		const char *key = "Wheel-Version:";
		size_t k = 0;

		while (key[k] && s[k] == key[k])
			k++;
		if (!key[k]) {
			v = s + k;
			while (*v == ' ' || *v == '\t')
				v++;
		}
		s += strcspn(s, "\n");
		s += *s == '\n';
	}
	if (!v)
		return cfs_err_set(c->err, EBADMSG, "%s: %s/WHEEL has no Wheel-Version", c->label,
				   c->dist_info);
	if (atoi(v) != 1)
		return cfs_err_set(c->err, ENOTSUP, "%s: Wheel-Version %.*s is not supported "
				   "(condafs reads 1.x)", c->label, (int)strcspn(v, "\r\n"), v);
	return 0;
}

/* ---- generated files ----------------------------------------------------- */

static errint_t add_generated(struct whl_ctx *c, const char *dest, uint32_t perm,
			      const char *data, size_t len)
{
	struct whl_file *f = add_file(c, "", cfs_xstrdup(dest));

	f->perm = perm;
	f->mtime = c->mtime;
	return store(c, f, data, len);
}

static char *trim(const char *s, size_t n)
{
	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	return cfs_xstrndup(s, n);
}

/* console_scripts and gui_scripts of entry_points.txt, as pip writes them. */
static errint_t add_entry_points(struct whl_ctx *c)
{
	bool in_scripts = false;
	int line = 0;

	if (!c->entry_points.data)
		return 0;
	if (cfs_buf_add(&c->entry_points, "", 1) < 0)
		return cfs_err_set(c->err, EFBIG, "%s: %s/entry_points.txt is too large", c->label,
				   c->dist_info);
	for (const char *s = c->entry_points.data; *s;) {
		size_t n = strcspn(s, "\n");
		cleanup_free char *text = trim(s, n);
		cleanup_free char *cmd = NULL, *module = NULL, *func = NULL, *path = NULL;
		cleanup_free char *body = NULL;
		char *eq, *colon, *extras;
		int r;

		s += n + (s[n] == '\n');
		line++;
		if (!*text || *text == '#' || *text == ';')
			continue;
		if (*text == '[') {
			in_scripts = !strcmp(text, "[console_scripts]") || !strcmp(text, "[gui_scripts]");
			continue;
		}
		if (!in_scripts)
			continue;
		eq = strchr(text, '=');
		colon = eq ? strchr(eq, ':') : NULL;
		if (!colon)
			return cfs_err_set(c->err, EBADMSG, "%s: %s/entry_points.txt:%d: bad entry "
					   "point '%s' (want 'name = module:func')", c->label,
					   c->dist_info, line, text);
		extras = strchr(colon, '[');
		cmd = trim(text, (size_t)(eq - text));
		module = trim(eq + 1, (size_t)(colon - eq - 1));
		func = trim(colon + 1, extras ? (size_t)(extras - colon - 1) : strlen(colon + 1));
		path = cfs_xasprintf("bin/%s", cmd);
		if (!*cmd || strchr(cmd, '/') || !cfs_path_is_safe(path) ||
		    !cfs_valid_dotted(module) || !cfs_valid_dotted(func))
			return cfs_err_set(c->err, EBADMSG, "%s: %s/entry_points.txt:%d: bad entry "
					   "point '%s'", c->label, c->dist_info, line, text);
		body = cfs_entry_point_script(c->opts->prefix, c->opts->python_xy, module, func, true);
		r = add_generated(c, path, 0755, body, strlen(body));
		if (r < 0)
			return r;
	}
	return 0;
}

static int cmp_dest(const void *a, const void *b)
{
	return strcmp(((const struct whl_file *)a)->dest, ((const struct whl_file *)b)->dest);
}

/* A RECORD field, quoted when it holds a comma, quote or line break. */
static void csv_put(struct cfs_buf *b, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		cfs_buf_add(b, s, strlen(s));
		return;
	}
	cfs_buf_add(b, "\"", 1);
	for (; *s; s++) {
		if (*s == '"')
			cfs_buf_add(b, "\"", 1);
		cfs_buf_add(b, s, 1);
	}
	cfs_buf_add(b, "\"", 1);
}

/* INSTALLER, then RECORD listing every installed file relative to site-packages. */
static errint_t add_record(struct whl_ctx *c)
{
	static const char installer[] = "condafs\n";
	cleanup_free char *inst_path = cfs_xasprintf("%s/%s/INSTALLER", c->sp, c->dist_info);
	cleanup_free char *rec_path = cfs_xasprintf("%s/%s/RECORD", c->sp, c->dist_info);
	size_t sp_len = strlen(c->sp), depth = 1;
	struct cfs_buf b;
	int r;

	for (const char *p = c->sp; *p; p++)
		depth += *p == '/';
	r = add_generated(c, inst_path, 0644, installer, sizeof(installer) - 1);
	if (r < 0)
		return r;
	qsort(c->files, c->n_files, sizeof(*c->files), cmp_dest);
	cfs_buf_init(&b, SIZE_MAX);
	for (size_t i = 0; i < c->n_files; i++) {
		const struct whl_file *f = &c->files[i];
		cleanup_free char *rel = NULL;
		char hash[64];

		if (strncmp(f->dest, c->sp, sp_len) == 0 && f->dest[sp_len] == '/') {
			rel = cfs_xstrdup(f->dest + sp_len + 1);
		} else {
			struct cfs_buf up;
			cfs_buf_init(&up, SIZE_MAX);
			for (size_t k = 0; k < depth; k++)
				cfs_buf_add(&up, "../", 3);
			cfs_buf_add(&up, f->dest, strlen(f->dest) + 1);
			rel = cfs_buf_steal(&up, NULL);
		}
		record_hash(f->digest, hash);
		csv_put(&b, rel);
		cfs_buf_printf(&b, ",%s,%llu\n", hash, (unsigned long long)f->size);
	}
	cfs_buf_printf(&b, "%s/RECORD,,\n", c->dist_info);
	r = add_generated(c, rec_path, 0644, b.data, b.len);
	cfs_buf_release(&b);
	return r;
}

/* ---- entry point ------------------------------------------------------- */

static errint_t walk(struct whl_ctx *c, const char *wheel_path)
{
	cleanup_archive struct archive *a = sym_archive_read_new();
	struct archive_entry *ae;
	int rc, r = 0;

	if (!a)
		return cfs_err_set(c->err, ENOMEM, "%s: out of memory", c->label);
	sym_archive_read_support_format_zip_seekable(a);
	if (sym_archive_read_open_filename(a, wheel_path, 1 << 16) != ARCHIVE_OK)
		return cfs_err_set(c->err, EBADMSG, "%s: not a zip archive: %s", c->label,
				   sym_archive_error_string(a));
	while (r == 0 && (rc = sym_archive_read_next_header(a, &ae)) != ARCHIVE_EOF) {
		if (rc < ARCHIVE_WARN)
			return cfs_err_set(c->err, EBADMSG, "%s: corrupt wheel: %s", c->label,
					   sym_archive_error_string(a));
		r = member(c, a, ae);
	}
	return r;
}

errint_t cfs_wheel_install(const struct cfs_install_opts *opts, const char *wheel_path,
			   const struct cfs_lock_pkg *lp,
			   const uint8_t wheel_sha256[CFS_SHA256_LEN], uint64_t wheel_size,
			   struct cfs_package *out, struct cfs_err *err)
{
	__attribute__((cleanup(whl_ctx_release))) struct whl_ctx c = {
		.opts = opts, .lp = lp, .out = out, .err = err, .label = lp->fn,
	};
	int r;

	memset(out, 0, sizeof(*out));
	if (!opts->python_xy)
		return cfs_err_set(err, EINVAL, "%s: a wheel needs python, but the lock has no "
				   "python package", c.label);
	if ((r = cfs_archive_load(err)) < 0 || (r = check_file_name(&c)) < 0)
		return r;
	c.sp = cfs_xasprintf("lib/python%s/site-packages", opts->python_xy);
	if ((r = walk(&c, wheel_path)) < 0 || (r = check_record(&c)) < 0 ||
	    (r = check_wheel_version(&c)) < 0 || (r = add_entry_points(&c)) < 0 ||
	    (r = add_record(&c)) < 0)
		return r;

	out->lock = lp;
	memcpy(out->sha256, wheel_sha256, CFS_SHA256_LEN);
	out->archive_size = wheel_size;
	out->name = cfs_xstrdup(lp->name ? lp->name : c.dist_name);
	out->version = cfs_xstrdup(lp->version ? lp->version : "");
	out->build = cfs_xstrdup("pypi_0");
	out->build_number = cfs_xstrdup("0");
	out->subdir = cfs_xstrdup("");
	qsort(c.files, c.n_files, sizeof(*c.files), cmp_dest);
	for (size_t i = 0; i < c.n_files; i++) {
		const struct whl_file *f = &c.files[i];
		struct cfs_entry *e;

		if (i && strcmp(f->dest, c.files[i - 1].dest) == 0) {
			cfs_package_release(out);
			return cfs_err_set(err, EBADMSG, "%s: %s is installed twice (from %s and %s)",
					   c.label, f->dest, c.files[i - 1].src, f->src);
		}
		e = cfs_package_add_entry(out, f->dest, S_IFREG | f->perm);
		e->mtime = f->mtime;
		memcpy(e->digest, f->digest, CFS_SHA256_LEN);
		e->size = f->size;
		e->csize = f->csize;
		out->bytes += f->size;
	}
	return 0;
}

/*
 * pip lists the bytecode it compiles in RECORD (hash and size, like any
 * installed file): the lines go before RECORD's own.
 */
errint_t cfs_wheel_list_pycs(struct cfs_package *p, const char *const *paths, size_t n,
			     struct cfs_store *store, struct cfs_err *err)
{
	cleanup_free char *old = NULL;
	struct cfs_entry *rec = NULL;
	const char *own, *sp_end;
	size_t len = 0, sp_len;
	struct cfs_buf b;
	int r;

	for (size_t i = 0; i < p->n_entries && !rec; i++) {
		const char *path = p->entries[i].path;
		if (cfs_ends_with(path, ".dist-info/RECORD") && strstr(path, "/site-packages/"))
			rec = &p->entries[i];
	}
	if (!rec)
		return cfs_err_set(err, ENOENT, "%s: no .dist-info/RECORD to list bytecode in",
				   p->lock->fn);
	sp_end = strstr(rec->path, "/site-packages/") + strlen("/site-packages/");
	sp_len = (size_t)(sp_end - rec->path);
	if ((r = cfs_store_read_all(store, rec->digest, 64u << 20, &old, &len, err)) < 0)
		return r;
	/* RECORD's own line is its last. */
	own = len ? memrchr(old, '\n', len - 1) : NULL;
	own = own ? own + 1 : old;
	cfs_buf_init(&b, SIZE_MAX);
	cfs_buf_add(&b, old, (size_t)(own - old));
	for (size_t i = 0; i < n; i++) {
		const struct cfs_entry *e = NULL;
		char hash[64];

		for (size_t k = 0; k < p->n_entries && !e; k++)
			if (strcmp(p->entries[k].path, paths[i]) == 0)
				e = &p->entries[k];
		if (!e || strncmp(paths[i], rec->path, sp_len) != 0)
			continue;
		record_hash(e->digest, hash);
		csv_put(&b, paths[i] + sp_len);
		cfs_buf_printf(&b, ",%s,%llu\n", hash, (unsigned long long)e->size);
	}
	cfs_buf_add(&b, own, len - (size_t)(own - old));
	r = cfs_store_put(store, b.data, b.len, rec->digest, &rec->csize);
	if (r < 0) {
		cfs_buf_release(&b);
		return cfs_err_set(err, -r, "%s: %s: cannot store: %s", p->lock->fn, rec->path,
				   strerror(-r));
	}
	p->bytes += b.len - rec->size;
	rec->size = b.len;
	cfs_buf_release(&b);
	return 0;
}

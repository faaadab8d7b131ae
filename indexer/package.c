/* SPDX-License-Identifier: MIT */
/*
 * One package archive → store objects + entries, as conda would install it.
 *
 * Reading order.  For .conda the info member is read first (the zip is
 * seekable), so placeholders are usually known before the payload streams
 * by.  For .tar.bz2 the info/ entries may come anywhere; payload files met
 * before info/paths.json are stored as shipped and relocated afterwards
 * from the store ("late relocation").  Each archive is decompressed once,
 * unless a hardlink names a member that info/ does not list: then a second
 * pass stores that member's content.
 */
#include "package.h"

#include "archive-api.h"
#include <fnmatch.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "log.h"
#include "package-internal.h"
#include "relocate.h"

static void archive_freep(struct archive **a)
{
	if (*a)
		sym_archive_read_free(*a);
}
#define cleanup_archive __attribute__((cleanup(archive_freep)))

struct cfs_entry *cfs_package_add_entry(struct cfs_package *p, const char *path,
					uint32_t mode)
{
	struct cfs_entry *e;

	cfs_grow(&p->entries, p->n_entries, &p->alloc_entries, sizeof(*e), 64);
	e = &p->entries[p->n_entries++];
	memset(e, 0, sizeof(*e));
	e->path = cfs_xstrdup(path);
	e->mode = mode;
	return e;
}

void cfs_package_release(struct cfs_package *p)
{
	for (size_t i = 0; i < p->n_entries; i++) {
		free(p->entries[i].path);
		free(p->entries[i].target);
	}
	free(p->entries);
	for (size_t i = 0; i < p->n_link_scripts; i++)
		free(p->link_scripts[i]);
	free(p->link_scripts);
	free(p->name);
	free(p->version);
	free(p->build);
	free(p->build_number);
	free(p->subdir);
	free(p->noarch);
	memset(p, 0, sizeof(*p));
}

/* ---- the payload ------------------------------------------------------- */

static errint_t store_buffer(struct pkg_ctx *c, struct pkg_path *pp, const char *data,
			     size_t len)
{
	int r = cfs_store_put(c->opts->store, data, len, pp->final_digest, &pp->final_csize);

	if (r < 0)
		return cfs_err_set(c->err, -r, "%s: %s: cannot store: %s", c->label, pp->path,
				   strerror(-r));
	pp->final_size = len;
	pp->relocated = true;
	return 0;
}

errint_t pkg_relocate_and_store(struct pkg_ctx *c, struct pkg_path *pp, char *data, size_t len)
{
	bool changed = false;
	int r;

	if (pp->binary) {
		r = cfs_relocate_binary(data, len, pp->placeholder, c->opts->prefix, &changed);
		if (r == -ENAMETOOLONG)
			return cfs_err_set(c->err, ENAMETOOLONG,
					   "%s: %s: prefix '%s' (%zu bytes) is longer than the binary "
					   "placeholder '%s' (%zu bytes)",
					   c->label, pp->path, c->opts->prefix, strlen(c->opts->prefix),
					   pp->placeholder, strlen(pp->placeholder));
		if (r < 0)
			return cfs_err_set(c->err, -r, "%s: %s: %s", c->label, pp->path, strerror(-r));
		return store_buffer(c, pp, data, len);
	}

	cleanup_buf struct cfs_buf out;
	cfs_buf_init(&out, CFS_MAX_RELOC_BYTES);
	r = cfs_relocate_text(data, len, pp->placeholder, c->opts->prefix, &out, &changed);
	if (r < 0)
		return cfs_err_set(c->err, -r, "%s: %s: relocated file too large", c->label, pp->path);
	return store_buffer(c, pp, out.data ? out.data : "", out.len);
}

errint_t pkg_check_shipped(struct pkg_ctx *c, const struct pkg_path *pp,
			   const uint8_t digest[CFS_SHA256_LEN], uint64_t size)
{
	char want[65], got[65];

	if (pp->has_size && pp->size != size)
		return cfs_err_set(c->err, EBADMSG,
				   "%s: %s: size %llu does not match paths.json size_in_bytes %llu",
				   c->label, pp->path, (unsigned long long)size,
				   (unsigned long long)pp->size);
	if (pp->has_sha256 && memcmp(pp->sha256, digest, CFS_SHA256_LEN) != 0) {
		cfs_hex(pp->sha256, CFS_SHA256_LEN, want);
		cfs_hex(digest, CFS_SHA256_LEN, got);
		return cfs_err_set(c->err, EBADMSG,
				   "%s: %s: content sha256 %s does not match paths.json %s",
				   c->label, pp->path, got, want);
	}
	return 0;
}

/* Reads the current entry's data fully into b. */
static errint_t read_entry_data(struct pkg_ctx *c, struct archive *a, const char *path,
				struct cfs_buf *b)
{
	const char *why = NULL;
	int r = cfs_archive_read_all(a, b, &why);

	if (r == -EFBIG)
		return cfs_err_set(c->err, EFBIG, "%s: %s: file too large (over %zu bytes)",
				   c->label, path, b->limit);
	if (r < 0)
		return cfs_err_set(c->err, EBADMSG, "%s: %s: corrupt archive: %s", c->label, path,
				   why);
	return 0;
}

/*
 * Streams the current entry into the store as shipped, filling s.  When the
 * expected digest is already in the store the data is only hashed.  size is
 * the member's length from its header, or CFS_STORE_SIZE_UNKNOWN.
 */
static errint_t stream_entry(struct pkg_ctx *c, struct archive *a, const char *path,
			     const struct pkg_path *pp, struct seen *s, uint64_t size)
{
	struct cfs_store_writer *w = NULL;
	struct cfs_hash *h = NULL;
	uint64_t total = 0;
	int r = 0;

	if (pp && pp->has_sha256 && cfs_store_has(c->opts->store, pp->sha256))
		h = cfs_hash_new(CFS_HASH_SHA256);
	else if ((r = cfs_store_writer_begin(c->opts->store, size, &w)) < 0)
		return cfs_err_set(c->err, -r, "%s: cannot write to the store: %s", c->label,
				   strerror(-r));
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int rc = sym_archive_read_data_block(a, &buf, &len, &off);
		if (rc == ARCHIVE_EOF)
			break;
		if (rc < ARCHIVE_WARN) {
			r = cfs_err_set(c->err, EBADMSG, "%s: %s: corrupt archive: %s", c->label,
					path, sym_archive_error_string(a));
			break;
		}
		if ((uint64_t)off != total) {
			r = cfs_err_set(c->err, EBADMSG, "%s: %s: sparse archive members are not "
					"supported", c->label, path);
			break;
		}
		total += len;
		if (size != CFS_STORE_SIZE_UNKNOWN && total > size)
			break;
		if (h) {
			cfs_hash_update(h, buf, len);
		} else if ((r = cfs_store_writer_write(w, buf, len)) < 0) {
			r = cfs_err_set(c->err, -r, "%s: cannot write to the store: %s", c->label,
					strerror(-r));
			break;
		}
	}
	if (r == 0 && size != CFS_STORE_SIZE_UNKNOWN && total != size)
		r = cfs_err_set(c->err, EBADMSG, "%s: %s: corrupt archive: the member's header "
				"says %llu bytes, it holds %s%llu", c->label, path,
				(unsigned long long)size, total > size ? "more than " : "",
				(unsigned long long)total);
	if (h) {
		cfs_hash_final(h, s->digest);
		cfs_hash_free(h);
		s->size = total;
		s->stored = r == 0 && cfs_store_object_size(c->opts->store, s->digest, &s->csize) == 0;
		return r;
	}
	if (r < 0) {
		cfs_store_writer_abort(w);
		return r;
	}
	r = cfs_store_writer_commit(w, s->digest, &s->size, &s->csize);
	if (r < 0)
		return cfs_err_set(c->err, -r, "%s: cannot write to the store: %s", c->label,
				   strerror(-r));
	s->stored = true;
	return 0;
}

/* A regular file whose path entry is known. */
static errint_t known_file(struct pkg_ctx *c, struct archive *a, struct pkg_path *pp,
			   uint64_t size)
{
	int r;

	if (pp->placeholder) {
		cleanup_buf struct cfs_buf b;

		cfs_buf_init(&b, CFS_MAX_RELOC_BYTES);
		r = read_entry_data(c, a, pp->path, &b);
		if (r < 0)
			return r;
		cfs_sha256(b.data ? b.data : "", b.len, pp->seen.digest);
		pp->seen.size = b.len;
		r = pkg_check_shipped(c, pp, pp->seen.digest, b.len);
		if (r < 0)
			return r;
		return pkg_relocate_and_store(c, pp, b.data ? b.data : "", b.len);
	}
	r = stream_entry(c, a, pp->path, pp, &pp->seen, size);
	if (r < 0)
		return r;
	return pkg_check_shipped(c, pp, pp->seen.digest, pp->seen.size);
}

static void seen_meta(struct seen *s, enum seen_kind kind, struct archive_entry *ae,
		      const char *link)
{
	s->kind = kind;
	s->perm = sym_archive_entry_perm(ae) & 07777;
	s->mtime = sym_archive_entry_mtime(ae);
	s->mtime_nsec = (uint32_t)sym_archive_entry_mtime_nsec(ae);
	free(s->link);
	s->link = link ? cfs_xstrdup(link) : NULL;
}

static struct early_file *early_add(struct pkg_ctx *c, const char *path)
{
	struct early_file *ef;

	cfs_grow(&c->early, c->n_early, &c->alloc_early, sizeof(*ef), 64);
	ef = &c->early[c->n_early++];
	memset(ef, 0, sizeof(*ef));
	ef->path = cfs_xstrdup(path);
	return ef;
}

static const char *strip_dot_slash(const char *s)
{
	while (s[0] == '.' && s[1] == '/')
		s += 2;
	return s;
}

/* The member's name without leading "./" and trailing "/"; caller frees. */
static char *member_path(struct archive_entry *ae)
{
	const char *raw = sym_archive_entry_pathname(ae);
	char *path;
	size_t len;

	if (!raw)
		return NULL;
	path = cfs_xstrdup(strip_dot_slash(raw));
	len = strlen(path);
	while (len && path[len - 1] == '/')
		path[--len] = '\0';
	return path;
}

errint_t pkg_payload_entry(struct pkg_ctx *c, struct archive *a, struct archive_entry *ae)
{
	const char *hardlink = sym_archive_entry_hardlink(ae);
	cleanup_free char *path = member_path(ae);
	enum seen_kind kind;
	struct seen *s;
	struct pkg_path *pp = NULL;
	uint64_t size;

	if (!path)
		return cfs_err_set(c->err, EBADMSG, "%s: archive member without a name", c->label);
	if (!*path || sym_archive_entry_filetype(ae) == AE_IFDIR)
		return 0;
	if (!cfs_path_is_safe(path))
		return cfs_err_set(c->err, EPERM,
				   "%s: archive member '%s' is absolute or escapes the prefix",
				   c->label, path);
	if (sym_archive_entry_size_is_set(ae) &&
	    (uint64_t)sym_archive_entry_size(ae) > CFS_MAX_FILE_BYTES)
		return cfs_err_set(c->err, EFBIG, "%s: %s: absurd size %lld bytes", c->label,
				   path, (long long)sym_archive_entry_size(ae));

	if (hardlink)
		kind = SEEN_HARDLINK;
	else if (sym_archive_entry_filetype(ae) == AE_IFREG)
		kind = SEEN_FILE;
	else if (sym_archive_entry_filetype(ae) == AE_IFLNK)
		kind = SEEN_SYMLINK;
	else
		return cfs_err_set(c->err, EBADMSG, "%s: %s: unsupported archive member type",
				   c->label, path);

	if (c->have_paths) {
		pp = pkg_find_path(c, path);
		if (!pp) {
			cfs_debug("%s: %s is not listed in info/, not installed", c->label, path);
			return 0;
		}
		/* Met again (in the other .conda component): the later member wins. */
		pp->relocated = false;
		s = &pp->seen;
	} else {
		s = &early_add(c, path)->seen;
	}
	seen_meta(s, kind, ae, kind == SEEN_HARDLINK ? strip_dot_slash(hardlink)
			       : kind == SEEN_SYMLINK ? (sym_archive_entry_symlink(ae) ?
							 sym_archive_entry_symlink(ae) : "")
			       : NULL);
	if (kind != SEEN_FILE)
		return 0;
	size = sym_archive_entry_size_is_set(ae) ? (uint64_t)sym_archive_entry_size(ae)
					      : CFS_STORE_SIZE_UNKNOWN;
	return pp ? known_file(c, a, pp, size) : stream_entry(c, a, path, NULL, s, size);
}

/* ---- reading archives --------------------------------------------------- */

struct nested {
	struct archive *outer;
	char buf[1 << 16];
};

static la_ssize_t nested_read(struct archive *a, void *ud, const void **out)
{
	struct nested *n = ud;
	la_ssize_t len = sym_archive_read_data(n->outer, n->buf, sizeof(n->buf));
	if (len < 0)
		sym_archive_set_error(a, EIO, "%s", sym_archive_error_string(n->outer));
	*out = n->buf;
	return len;
}

typedef errint_t (*entry_fn)(struct pkg_ctx *c, struct archive *a, struct archive_entry *ae);

/* Iterates a tar (compressed by any filter libarchive knows) from open handle a. */
static errint_t walk_tar(struct pkg_ctx *c, struct archive *a, const char *what, entry_fn fn)
{
	struct archive_entry *ae;
	int rc, r;

	while ((rc = sym_archive_read_next_header(a, &ae)) == ARCHIVE_OK || rc == ARCHIVE_WARN) {
		r = fn(c, a, ae);
		if (r < 0)
			return r;
	}
	if (rc != ARCHIVE_EOF)
		return cfs_err_set(c->err, EBADMSG, "%s: %s: corrupt or truncated archive: %s",
				   c->label, what, sym_archive_error_string(a));
	return 0;
}

static struct archive *new_tar_reader(void)
{
	struct archive *a = sym_archive_read_new();
	sym_archive_read_support_filter_zstd(a);
	sym_archive_read_support_filter_bzip2(a);
	sym_archive_read_support_filter_none(a);
	sym_archive_read_support_format_tar(a);
	return a;
}

/* info/ members are metadata, everything else is payload, whichever component holds it. */
static errint_t dispatch_entry(struct pkg_ctx *c, struct archive *a, struct archive_entry *ae)
{
	const char *name = sym_archive_entry_pathname(ae);
	if (name)
		name = strip_dot_slash(name);
	if (name && strncmp(name, "info/", 5) == 0)
		return pkg_info_entry(c, a, ae, name);
	return pkg_payload_entry(c, a, ae);
}

/*
 * Finds the zip member matching glob and walks it as a tar.zst; *found
 * gets the member's name.
 */
static errint_t walk_conda_member(struct pkg_ctx *c, const char *archive_path,
				  const char *glob, entry_fn fn, char **found)
{
	cleanup_archive struct archive *zip = sym_archive_read_new();
	struct archive_entry *ae;
	int rc;

	sym_archive_read_support_format_zip_seekable(zip);
	if (sym_archive_read_open_filename(zip, archive_path, 1 << 16) != ARCHIVE_OK)
		return cfs_err_set(c->err, EBADMSG, "%s: not a .conda archive: %s", c->label,
				   sym_archive_error_string(zip));
	while ((rc = sym_archive_read_next_header(zip, &ae)) == ARCHIVE_OK || rc == ARCHIVE_WARN) {
		const char *name = sym_archive_entry_pathname(ae);
		if (!name || fnmatch(glob, name, FNM_PATHNAME) != 0)
			continue;
		struct nested *n = cfs_xmalloc(sizeof(*n));
		cleanup_archive struct archive *tar = new_tar_reader();
		n->outer = zip;
		int r;
		free(*found);
		*found = cfs_xstrdup(name);
		if (sym_archive_read_open(tar, n, NULL, nested_read, NULL) != ARCHIVE_OK)
			r = cfs_err_set(c->err, EBADMSG, "%s: %s: corrupt member: %s", c->label, name,
					sym_archive_error_string(tar));
		else
			r = walk_tar(c, tar, name, fn);
		free(n);
		return r;
	}
	if (rc != ARCHIVE_EOF)
		return cfs_err_set(c->err, EBADMSG, "%s: corrupt .conda archive: %s", c->label,
				   sym_archive_error_string(zip));
	return cfs_err_set(c->err, EBADMSG, "%s: .conda archive has no %s member", c->label, glob);
}

/*
 * Walks every member of the package with fn.  A .conda is read the way
 * conda extracts it, the info component and then the pkg component into one
 * tree: either may hold members of the other kind.  Real packages do: the
 * conda-package-handling of 2019-2020 put symlinks to directories (ncurses'
 * lib/terminfo) and *.la files in the info component, and info/licenses/ in
 * the pkg component.
 */
static errint_t walk_package(struct pkg_ctx *c, const char *archive_path, bool conda,
			     entry_fn fn)
{
	cleanup_archive struct archive *a = NULL;
	int r;

	if (conda) {
		r = walk_conda_member(c, archive_path, "info-*.tar.zst", fn, &c->info_member);
		if (r == 0)
			r = walk_conda_member(c, archive_path, "pkg-*.tar.zst", fn, &c->pkg_member);
		return r;
	}
	a = new_tar_reader();
	if (sym_archive_read_open_filename(a, archive_path, 1 << 16) != ARCHIVE_OK)
		return cfs_err_set(c->err, EBADMSG, "%s: not a .tar.bz2 archive: %s", c->label,
				   sym_archive_error_string(a));
	return walk_tar(c, a, "payload", fn);
}

/* ---- hardlinks to members info/ does not list ------------------------------ */

const struct seen *pkg_find_unlisted(struct pkg_ctx *c, const char *path)
{
	for (size_t i = 0; i < c->n_unlisted; i++)
		if (strcmp(c->unlisted[i].path, path) == 0)
			return c->unlisted[i].seen.kind == SEEN_FILE ? &c->unlisted[i].seen : NULL;
	return NULL;
}

/*
 * Lists the targets of hardlinks that are not paths of the package (an
 * info/ file, a member info/ leaves out).  conda extracts every member, so
 * such a link still gets its content; the first pass kept none of it.
 */
static size_t find_unlisted_targets(struct pkg_ctx *c)
{
	for (size_t i = 0; i < c->n_paths; i++) {
		const struct pkg_path *pp = &c->paths[i];
		const char *target = pp->seen.link;
		struct early_file *u;

		if (pp->type != PT_FILE || pp->seen.kind != SEEN_HARDLINK ||
		    !cfs_path_is_safe(target) || pkg_find_path(c, target))
			continue;
		bool known = false;
		for (size_t j = 0; j < c->n_unlisted && !known; j++)
			known = strcmp(c->unlisted[j].path, target) == 0;
		if (known)
			continue;
		cfs_grow(&c->unlisted, c->n_unlisted, &c->alloc_unlisted, sizeof(*u), 4);
		u = &c->unlisted[c->n_unlisted++];
		memset(u, 0, sizeof(*u));
		u->path = cfs_xstrdup(target);
	}
	return c->n_unlisted;
}

/* Second pass: stores the unlisted regular files that hardlinks name. */
static errint_t unlisted_entry(struct pkg_ctx *c, struct archive *a, struct archive_entry *ae)
{
	cleanup_free char *path = member_path(ae);

	if (!path || sym_archive_entry_hardlink(ae) || sym_archive_entry_filetype(ae) != AE_IFREG)
		return 0;
	for (size_t i = 0; i < c->n_unlisted; i++) {
		struct seen *s = &c->unlisted[i].seen;
		uint64_t size = CFS_STORE_SIZE_UNKNOWN;

		if (strcmp(c->unlisted[i].path, path) != 0)
			continue;
		if (sym_archive_entry_size_is_set(ae)) {
			size = (uint64_t)sym_archive_entry_size(ae);
			if (size > CFS_MAX_FILE_BYTES)
				return cfs_err_set(c->err, EFBIG, "%s: %s: absurd size %llu bytes",
						   c->label, path, (unsigned long long)size);
		}
		seen_meta(s, SEEN_FILE, ae, NULL);
		return stream_entry(c, a, path, NULL, s, size);
	}
	return 0;
}

errint_t cfs_package_install(const struct cfs_install_opts *opts, const char *archive_path,
			     const struct cfs_lock_pkg *lp,
			     const uint8_t archive_sha256[CFS_SHA256_LEN], uint64_t archive_size,
			     struct cfs_package *out, struct cfs_err *err)
{
	struct pkg_ctx c = {
		.opts = opts,
		.lp = lp,
		.out = out,
		.err = err,
		.label = lp->fn,
	};
	bool conda = cfs_ends_with(lp->fn, ".conda");
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = cfs_archive_load(err)) < 0)
		return r;
	out->lock = lp;
	memcpy(out->sha256, archive_sha256, CFS_SHA256_LEN);
	if (lp->has_md5)
		memcpy(out->md5, lp->md5, CFS_MD5_LEN);
	out->has_md5 = lp->has_md5;
	out->archive_size = archive_size;
	if (!conda && !cfs_ends_with(lp->fn, ".tar.bz2"))
		r = cfs_err_set(err, EINVAL, "%s: unknown package format (want .conda or .tar.bz2)",
				c.label);
	else
		r = walk_package(&c, archive_path, conda, dispatch_entry);
	if (r == 0)
		r = pkg_info_parse(&c);
	if (r == 0 && find_unlisted_targets(&c) > 0)
		r = walk_package(&c, archive_path, conda, unlisted_entry);
	if (r == 0)
		r = pkg_finish(&c);
	pkg_ctx_release(&c);
	if (r < 0)
		cfs_package_release(out);
	return r;
}

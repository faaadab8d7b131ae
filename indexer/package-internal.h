/* SPDX-License-Identifier: MIT */
/* Shared between package.c (archives, payload) and package-info.c (info/). */
#ifndef CFS_PACKAGE_INTERNAL_H
#define CFS_PACKAGE_INTERNAL_H

#include "archive-api.h"
#include <jansson.h>

#include "buf.h"
#include "package.h"

enum seen_kind { SEEN_NONE, SEEN_FILE, SEEN_SYMLINK, SEEN_HARDLINK };
enum path_type { PT_FILE, PT_SOFTLINK, PT_DIR };

/* What the archive held under one name. */
struct seen {
	enum seen_kind kind;
	uint32_t perm;
	int64_t mtime;
	uint32_t mtime_nsec;
	char *link;   /* symlink target, or hardlink source */
	bool stored;  /* digest names a store object with the shipped content */
	uint8_t digest[CFS_SHA256_LEN]; /* of the shipped content (files) */
	uint64_t size, csize;
};

/* One path from info/paths.json (or info/files + info/has_prefix). */
struct pkg_path {
	char *path;
	enum path_type type;
	char *placeholder; /* NULL: no relocation */
	bool binary;
	bool has_sha256, has_size;
	uint8_t sha256[CFS_SHA256_LEN];
	uint64_t size;
	struct seen seen;
	bool relocated; /* final_* hold the relocated content */
	uint8_t final_digest[CFS_SHA256_LEN];
	uint64_t final_size, final_csize;
};

/* A payload member met before the path list was known. */
struct early_file {
	char *path;
	struct seen seen;
};

struct pkg_ctx {
	const struct cfs_install_opts *opts;
	const struct cfs_lock_pkg *lp;
	struct cfs_package *out;
	struct cfs_err *err;
	const char *label;

	/* raw info/ members */
	struct cfs_buf index_json, paths_json, link_json, files_txt, has_prefix_txt;
	bool seen_index, seen_paths, seen_link, seen_files, seen_has_prefix;

	bool have_paths; /* paths[] is known (sorted by path) */
	struct pkg_path *paths;
	size_t n_paths;

	struct early_file *early;
	size_t n_early, alloc_early;

	/* Members a hardlink names that info/ does not list (read in a second pass). */
	struct early_file *unlisted;
	size_t n_unlisted, alloc_unlisted;

	/* The .conda members read, for messages; NULL for a .tar.bz2. */
	char *info_member, *pkg_member;
};

errint_t pkg_payload_entry(struct pkg_ctx *c, struct archive *a, struct archive_entry *ae);
errint_t pkg_info_entry(struct pkg_ctx *c, struct archive *a, struct archive_entry *ae,
			const char *name);
/* Builds paths[] from whatever info/ members were read; then matches early files. */
errint_t pkg_info_parse(struct pkg_ctx *c);
struct pkg_path *pkg_find_path(struct pkg_ctx *c, const char *path);
/* The content of an unlisted member a hardlink names, or NULL. */
const struct seen *pkg_find_unlisted(struct pkg_ctx *c, const char *path);
/* Resolves hardlinks, relocates late files, builds the package's entries. */
errint_t pkg_finish(struct pkg_ctx *c);
void pkg_ctx_release(struct pkg_ctx *c);

/* Stores data as the final content of pp (relocating first if pp has a placeholder). */
errint_t pkg_relocate_and_store(struct pkg_ctx *c, struct pkg_path *pp, char *data,
				size_t len);
errint_t pkg_check_shipped(struct pkg_ctx *c, const struct pkg_path *pp,
			   const uint8_t digest[CFS_SHA256_LEN], uint64_t size);

#endif

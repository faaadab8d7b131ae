/* SPDX-License-Identifier: MIT */
/*
 * Which nodes the mount serves, and the log line for each path it does not
 * serve (or serves although the index pruned it):
 *
 *   --pruned=enoent  tombstones are hidden: lookups fail, listings skip them
 *   --pruned=fetch   tombstones are served like any other node
 *   --strict         only the working set's paths (and keep globs, and the
 *                    directories above them) are served; the rest is still
 *                    listed, so that programs which list a directory before
 *                    they look a name up (Python's import system) still ask
 *                    for it, and the refusal is logged
 *
 * Either way the first lookup of such a path is logged once, naming the
 * process that asked and the rule that pruned it (or the package the path
 * belongs to, for --strict), so that a user sees which rule or which
 * missing working-set path broke an application.
 */
#include <fcntl.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "fs-internal.h"
#include "log.h"
#include "policy.h"
#include "workset.h"

void cfs_proc_comm(pid_t pid, char *buf, size_t len)
{
	char path[32];
	cleanup_fd int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = pid > 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	n = fd >= 0 ? cfs_read_retry(fd, buf, len - 1) : -1;
	if (n <= 0) {
		snprintf(buf, len, "?");
		return;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/* Marks ino and the directories above it as served. */
static void want_with_parents(struct cfs_tree *t, uint32_t ino)
{
	while (ino >= CFS_ROOT_INO && !(t->nodes[ino].flags & CFS_INODE_WANTED)) {
		t->nodes[ino].flags |= CFS_INODE_WANTED;
		ino = t->nodes[ino].parent;
	}
}

/* "keep <glob>" for each keep glob: quoted, so that spaces and '#' stay. */
static errint_t keep_policy(const struct cfs_workset *ws, struct cfs_policy **out,
			    struct cfs_err *err)
{
	struct cfs_policy *p = cfs_policy_new();

	for (size_t i = 0; i < ws->n_keep; i++) {
		cleanup_buf struct cfs_buf text;
		int r;

		cfs_buf_init(&text, CFS_POLICY_MAX_LINE);
		cfs_buf_addstr(&text, "keep \"");
		for (const char *s = ws->keep[i]; *s; s++) {
			if (*s == '"')
				cfs_buf_addstr(&text, "\\");
			cfs_buf_add(&text, s, 1);
		}
		r = cfs_buf_addstr(&text, "\"\n");
		if (r == 0)
			r = cfs_policy_add_text(p, "keep", text.data, text.len, err);
		if (r < 0) {
			cfs_policy_free(p);
			return r;
		}
	}
	*out = p;
	return 0;
}

/* Depth-first walk that builds each node's path once, for the keep globs. */
static size_t want_matching(struct cfs_tree *t, const struct cfs_policy *p, uint32_t dir,
			    char *path, size_t len)
{
	const struct cfs_inode *d = &t->nodes[dir];
	size_t matched = 0;

	for (uint32_t i = 0; i < d->count; i++) {
		uint32_t kid = t->kids[d->data + i];
		const struct cfs_inode *n = &t->nodes[kid];
		const char *name = cfs_tree_str(t, n->name);
		size_t nlen = strlen(name), l = len;

		if (n->flags & CFS_INODE_HIDDEN)
			continue;
		if (l + !!l + nlen >= CFS_MAX_PATH_BYTES)
			continue;
		if (l)
			path[l++] = '/';
		memcpy(path + l, name, nlen + 1);
		l += nlen;
		if (cfs_policy_match(p, path, cfs_tree_package(t, kid))) {
			want_with_parents(t, kid);
			matched++;
		}
		if (S_ISDIR(n->mode))
			matched += want_matching(t, p, kid, path, l);
		path[len] = '\0';
	}
	return matched;
}

static errint_t setup_strict(struct cfs_fs *fs, const char *file, struct cfs_err *err)
{
	struct cfs_tree *t = &fs->tree;
	struct cfs_workset *ws = NULL;
	size_t found = 0, missing = 0, kept = 0;
	const char *first_missing = NULL;
	int r;

	if ((r = cfs_workset_load(file, &ws, err)) < 0)
		return r;
	if (*ws->prefix && *t->prefix && strcmp(ws->prefix, t->prefix) != 0) {
		r = cfs_err_set(err, EINVAL, "%s: a working set for prefix %s, but the index is for %s",
				file, ws->prefix, t->prefix);
		goto out;
	}
	for (size_t i = 0; i < ws->n_entries; i++) {
		uint32_t ino = cfs_tree_resolve(t, ws->entries[i].path);

		if (ino && !(t->nodes[ino].flags & CFS_INODE_HIDDEN)) {
			want_with_parents(t, ino);
			found++;
		} else if (missing++ == 0) {
			first_missing = ws->entries[i].path;
		}
	}
	if (ws->n_keep) {
		struct cfs_policy *p = NULL;
		char path[CFS_MAX_PATH_BYTES] = "";

		if ((r = keep_policy(ws, &p, err)) < 0) {
			cfs_err_prefix(err, "%s", file);
			goto out;
		}
		kept = want_matching(t, p, CFS_ROOT_INO, path, 0);
		cfs_policy_free(p);
	}
	want_with_parents(t, CFS_ROOT_INO);
	for (uint32_t i = CFS_ROOT_INO; i < t->n_nodes; i++) {
		struct cfs_inode *n = &t->nodes[i];

		if (n->mode && !(n->flags & CFS_INODE_WANTED))
			n->flags |= CFS_INODE_REFUSED;
		n->flags &= (uint8_t)~CFS_INODE_WANTED;
	}
	cfs_info("%s: serving %zu working-set paths and %zu matching keep globs", file, found, kept);
	if (missing)
		cfs_warn("%s: %zu paths are not served by this index (the first: %s)", file, missing,
			 first_missing);
	fs->workset = cfs_xstrdup(file);
out:
	cfs_workset_free(ws);
	return r;
}

errint_t cfs_access_setup(struct cfs_fs *fs, const struct cfs_fs_opts *o, struct cfs_err *err)
{
	struct cfs_tree *t = &fs->tree;
	int r;

	fs->pruned = o->pruned;
	fs->strict = o->strict;
	fs->seen = cfs_xcalloc(t->n_nodes, sizeof(*fs->seen));
	if (o->pruned == CFS_FS_PRUNED_ENOENT)
		for (uint32_t i = CFS_ROOT_INO; i < t->n_nodes; i++)
			if (t->nodes[i].flags & CFS_INODE_PRUNED)
				t->nodes[i].flags |= CFS_INODE_HIDDEN;
	if (o->strict && (r = setup_strict(fs, o->workset, err)) < 0)
		return r;
	cfs_tree_recount(t);
	return 0;
}

/* The package of ino, or for a directory no package lists, of the first
 * node below it that has one. */
static const char *package_of(const struct cfs_tree *t, uint32_t ino, unsigned depth)
{
	const struct cfs_inode *n = &t->nodes[ino];
	const char *pkg = cfs_tree_package(t, ino);

	for (uint32_t i = 0; !pkg && S_ISDIR(n->mode) && depth < 64 && i < n->count; i++)
		pkg = package_of(t, t->kids[n->data + i], depth + 1);
	return pkg;
}

void cfs_access_note(struct cfs_fs *fs, fuse_req_t req, uint32_t ino)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	const struct cfs_inode *n = &fs->tree.nodes[ino];
	const struct cfs_tree_rule *rule;
	char path[CFS_MAX_PATH_BYTES], comm[64];
	const char *pkg;

	if (atomic_fetch_or(&fs->seen[ino], CFS_SEEN_LOGGED) & CFS_SEEN_LOGGED)
		return;
	cfs_tree_path(&fs->tree, ino, path, sizeof(path));
	cfs_proc_comm(ctx->pid, comm, sizeof(comm));
	if (n->flags & CFS_INODE_REFUSED) {
		atomic_fetch_add(&fs->stats.strict_refused, 1);
		pkg = package_of(&fs->tree, ino, 0);
		cfs_warn("path %s outside the working set accessed by %s[%d] (%s%s); refused "
			 "(ENOENT, --strict)", path, comm, (int)ctx->pid, pkg ? "package " : "no package",
			 pkg ? pkg : "");
		return;
	}
	atomic_fetch_add(&fs->stats.pruned_accesses, 1);
	rule = cfs_tree_rule(&fs->tree, n->rule);
	cfs_warn("pruned path %s accessed by %s[%d] (pruned by %s%s%s); %s", path, comm,
		 (int)ctx->pid, rule ? cfs_tree_str(&fs->tree, rule->origin) : "an unknown rule",
		 rule ? ": " : "", rule ? cfs_tree_str(&fs->tree, rule->text) : "",
		 n->flags & CFS_INODE_HIDDEN ? "refused (ENOENT)" : "served anyway (--pruned=fetch)");
}

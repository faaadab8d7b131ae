/* SPDX-License-Identifier: MIT */
#include "tree.h"

#include <string.h>
#include <sys/stat.h>

#include "log.h"

struct tnode {
	char *path;      /* relative to the prefix; "" for the root */
	uint32_t mode;
	uint64_t size, csize;
	int64_t mtime;
	uint32_t mtime_nsec;
	uint8_t digest[CFS_SHA256_LEN];
	char *target;
	int64_t pkg;     /* 0: none */
	const char *pkg_label;
	bool implicit;   /* a directory no package listed */
	uint64_t ino;
	int64_t rule;
	bool pruned;
	bool has_kept_child;
};

struct cfs_tree {
	struct tnode *nodes;
	size_t n, alloc;
	/* open addressing: path → index + 1 */
	uint32_t *slots;
	size_t nslots;
	cfs_prune_fn prune;
	void *prune_ctx;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static void rehash(struct cfs_tree *t)
{
	size_t n = t->nslots ? t->nslots * 2 : 1024;
	free(t->slots);
	t->slots = cfs_xcalloc(n, sizeof(*t->slots));
	t->nslots = n;
	for (size_t i = 0; i < t->n; i++) {
		size_t h = hash_str(t->nodes[i].path) & (n - 1);
		while (t->slots[h])
			h = (h + 1) & (n - 1);
		t->slots[h] = (uint32_t)i + 1;
	}
}

static struct tnode *find(struct cfs_tree *t, const char *path)
{
	if (!t->nslots)
		return NULL;
	size_t h = hash_str(path) & (t->nslots - 1);
	while (t->slots[h]) {
		struct tnode *n = &t->nodes[t->slots[h] - 1];
		if (strcmp(n->path, path) == 0)
			return n;
		h = (h + 1) & (t->nslots - 1);
	}
	return NULL;
}

static struct tnode *insert(struct cfs_tree *t, const char *path)
{
	struct tnode *n;

	if ((t->n + 1) * 2 > t->nslots)
		rehash(t);
	cfs_grow(&t->nodes, t->n, &t->alloc, sizeof(*n), 1024);
	n = &t->nodes[t->n];
	memset(n, 0, sizeof(*n));
	n->path = cfs_xstrdup(path);
	size_t h = hash_str(path) & (t->nslots - 1);
	while (t->slots[h])
		h = (h + 1) & (t->nslots - 1);
	t->slots[h] = (uint32_t)++t->n;
	return n;
}

static char *parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? cfs_xstrndup(path, (size_t)(slash - path)) : cfs_xstrdup("");
}

void cfs_tree_set_prune(struct cfs_tree *t, cfs_prune_fn fn, void *ctx)
{
	t->prune = fn;
	t->prune_ctx = ctx;
}

/* Decides every node; directories bottom-up (children sort after parents). */
static void apply_prune(struct cfs_tree *t)
{
	for (size_t i = 1; i < t->n; i++) {
		struct tnode *n = &t->nodes[i];
		n->rule = t->prune(t->prune_ctx, n->path, n->pkg, &n->pruned);
	}
	for (size_t i = t->n; i-- > 1;) {
		struct tnode *n = &t->nodes[i];
		cleanup_free char *parent = parent_of(n->path);
		struct tnode *pn = find(t, parent);

		if (S_ISDIR(n->mode) && n->has_kept_child)
			n->pruned = false;
		if (!n->pruned)
			pn->has_kept_child = true;
	}
}

struct cfs_tree *cfs_tree_new(void)
{
	struct cfs_tree *t = cfs_xcalloc(1, sizeof(*t));
	struct tnode *root = insert(t, "");
	root->mode = S_IFDIR | 0755;
	root->implicit = true;
	return t;
}

void cfs_tree_free(struct cfs_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->nodes[i].path);
		free(t->nodes[i].target);
	}
	free(t->nodes);
	free(t->slots);
	free(t);
}

static void set_from_entry(struct tnode *n, const struct cfs_entry *e, int64_t pkg,
			   const char *label)
{
	free(n->target);
	n->mode = e->mode;
	n->size = e->size;
	n->csize = e->csize;
	n->mtime = e->mtime;
	n->mtime_nsec = e->mtime_nsec;
	memcpy(n->digest, e->digest, CFS_SHA256_LEN);
	n->target = e->target ? cfs_xstrdup(e->target) : NULL;
	n->pkg = pkg;
	n->pkg_label = label;
	n->implicit = false;
}

static const char *kind(uint32_t mode)
{
	return S_ISDIR(mode) ? "directory" : S_ISLNK(mode) ? "symlink" : "file";
}

errint_t cfs_tree_add_package(struct cfs_tree *t, int64_t pkg_id, const char *label,
			      const struct cfs_package *p, struct cfs_err *err)
{
	for (size_t i = 0; i < p->n_entries; i++) {
		const struct cfs_entry *e = &p->entries[i];
		struct tnode *n = find(t, e->path);

		if (!n) {
			set_from_entry(insert(t, e->path), e, pkg_id, label);
			continue;
		}
		if (S_ISDIR(n->mode) && S_ISDIR(e->mode))
			continue;
		if (S_ISDIR(n->mode) != S_ISDIR(e->mode))
			return cfs_err_set(err, EEXIST, "%s: %s: a %s here conflicts with the %s "
					   "from %s", label, e->path, kind(e->mode), kind(n->mode),
					   n->pkg_label ? n->pkg_label : "another package");
		cfs_warn("%s: %s replaces the %s from %s (the later package wins)", label,
			 e->path, kind(n->mode), n->pkg_label ? n->pkg_label : "an earlier package");
		set_from_entry(n, e, pkg_id, label);
	}
	return 0;
}

errint_t cfs_tree_add_file(struct cfs_tree *t, const char *path, uint32_t perm, int64_t mtime,
			   const uint8_t digest[CFS_SHA256_LEN], uint64_t size, uint64_t csize,
			   struct cfs_err *err)
{
	struct cfs_entry e = {
		.path = (char *)path,
		.mode = S_IFREG | perm,
		.size = size,
		.csize = csize,
		.mtime = mtime,
	};
	struct tnode *n = find(t, path);

	memcpy(e.digest, digest, CFS_SHA256_LEN);
	if (n && S_ISDIR(n->mode))
		return cfs_err_set(err, EEXIST, "%s: a package ships a directory here", path);
	set_from_entry(n ? n : insert(t, path), &e, 0, NULL);
	return 0;
}

/* Path order with '/' sorting first, so a parent precedes its children. */
static int cmp_tree_path(const void *a, const void *b)
{
	const unsigned char *x = (const unsigned char *)((const struct tnode *)a)->path;
	const unsigned char *y = (const unsigned char *)((const struct tnode *)b)->path;

	for (;; x++, y++) {
		unsigned cx = *x == '/' ? 1 : *x, cy = *y == '/' ? 1 : *y;
		if (cx != cy || !cx)
			return (int)cx - (int)cy;
	}
}

errint_t cfs_tree_write(struct cfs_tree *t, struct cfs_db *db, struct cfs_err *err)
{
	int r;

	/* Implicit parents (the loop also visits the ones it adds). */
	for (size_t i = 0; i < t->n; i++) {
		if (!*t->nodes[i].path)
			continue;
		cleanup_free char *parent = parent_of(t->nodes[i].path);
		struct tnode *pn = find(t, parent);
		if (!pn) {
			pn = insert(t, parent);
			pn->mode = S_IFDIR | 0755;
			pn->implicit = true;
		} else if (!S_ISDIR(pn->mode)) {
			return cfs_err_set(err, ENOTDIR, "%s: %s ships '%s' inside it, but %s ships "
					   "'%s' as a %s", t->nodes[i].path,
					   t->nodes[i].pkg_label ? t->nodes[i].pkg_label : "condafs",
					   t->nodes[i].path,
					   pn->pkg_label ? pn->pkg_label : "another package", parent,
					   kind(pn->mode));
		}
	}

	qsort(t->nodes, t->n, sizeof(*t->nodes), cmp_tree_path);
	for (size_t i = 0; i < t->n; i++)
		t->nodes[i].ino = CFS_ROOT_INO + i;
	/* Slots point at old positions; rebuild before lookups. */
	t->nslots /= 2;
	rehash(t);

	if (t->prune)
		apply_prune(t);

	/* Directories without an mtime of their own take their newest child's. */
	for (size_t i = t->n; i-- > 1;) {
		struct tnode *n = &t->nodes[i];
		cleanup_free char *parent = parent_of(n->path);
		struct tnode *pn = find(t, parent);
		if (pn->implicit && n->mtime > pn->mtime)
			pn->mtime = n->mtime;
	}

	for (size_t i = 0; i < t->n; i++) {
		struct tnode *n = &t->nodes[i];
		const char *slash = strrchr(n->path, '/');
		struct cfs_node dn = {
			.ino = n->ino,
			.name = (char *)(slash ? slash + 1 : n->path),
			.mode = n->mode,
			.size = S_ISDIR(n->mode) ? 0 : n->size,
			.mtime = n->mtime,
			.mtime_nsec = n->mtime_nsec,
			.has_digest = S_ISREG(n->mode),
			.target = n->target,
			.package = n->pkg,
			.rule = n->rule,
			.pruned = n->pruned,
		};
		if (i > 0) {
			cleanup_free char *parent = parent_of(n->path);
			dn.parent = find(t, parent)->ino;
		}
		memcpy(dn.digest, n->digest, CFS_SHA256_LEN);
		r = cfs_db_add_node(db, &dn);
		if (r == 0 && S_ISREG(n->mode))
			r = cfs_db_add_object(db, n->digest, n->size, n->csize);
		if (r < 0)
			return cfs_err_set(err, -r, "%s: cannot write index", cfs_db_path(db));
	}
	return 0;
}

bool cfs_tree_served_file(struct cfs_tree *t, const char *path, int64_t pkg,
			  const uint8_t **digest, uint64_t *csize)
{
	struct tnode *n = find(t, path);

	if (!n || !S_ISREG(n->mode) || n->pruned || n->pkg != pkg)
		return false;
	*digest = n->digest;
	*csize = n->csize;
	return true;
}

errint_t cfs_tree_foreach_unowned(struct cfs_tree *t, cfs_tree_file_fn fn, void *ctx)
{
	int r = 0;

	for (size_t i = 0; i < t->n && r == 0; i++) {
		const struct tnode *n = &t->nodes[i];
		if (S_ISREG(n->mode) && !n->pruned && !n->pkg)
			r = fn(ctx, n->digest, n->csize);
	}
	return r;
}

/* SPDX-License-Identifier: MIT */
#include "indexer.h"

#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "db.h"
#include "fsutil.h"
#include "log.h"
#include "compile.h"
#include "manifest.h"
#include "package.h"
#include "packs.h"
#include "policy.h"
#include "store.h"
#include "tree.h"

char *cfs_index_default_cache(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");

	if (xdg && *xdg)
		return cfs_xasprintf("%s/condafs", xdg);
	if (home && *home)
		return cfs_xasprintf("%s/.cache/condafs", home);
	return cfs_xstrdup("/var/cache/condafs");
}

static errint_t check_prefix(const char *prefix, struct cfs_err *err)
{
	if (prefix[0] != '/' || strlen(prefix) < 2 || prefix[strlen(prefix) - 1] == '/')
		return cfs_err_set(err, EINVAL, "prefix '%s' must be an absolute path like /env "
				   "(not / and without a trailing slash)", prefix);
	if (strlen(prefix) >= 1024 || strpbrk(prefix, "\n\r"))
		return cfs_err_set(err, EINVAL, "prefix '%s' is not usable", prefix);
	return 0;
}

/* X.Y of the lock's python package, or NULL (caller frees). */
static char *python_xy(const struct cfs_lock *lock)
{
	for (size_t i = 0; i < lock->n_pkgs - lock->n_wheels; i++) {
		const char *v = lock->pkgs[i].version;
		if (strcmp(lock->pkgs[i].name, "python") != 0 || !v)
			continue;
		const char *dot = strchr(v, '.');
		if (!dot)
			return NULL;
		return cfs_xstrndup(v, strcspn(dot + 1, ".") + (size_t)(dot - v) + 1);
	}
	return NULL;
}

struct install_job {
	const struct cfs_install_opts *iopts;
	const char *cache_dir;
	struct cfs_lock *lock;
	struct cfs_fetch_item *items;
	struct cfs_package *pkgs;
	atomic_size_t next;
	atomic_size_t done;
	atomic_bool failed;
	pthread_mutex_t lock_err;
	size_t err_index;
	struct cfs_err err;
	bool progress;
};

static void *install_worker(void *arg)
{
	struct install_job *j = arg;

	for (;;) {
		size_t i = atomic_fetch_add(&j->next, 1);
		struct cfs_err err;
		int r;

		if (i >= j->lock->n_pkgs || atomic_load(&j->failed))
			break;
		r = cfs_manifest_load(j->cache_dir, j->iopts, &j->lock->pkgs[i],
				      j->items[i].got_sha256, j->items[i].size, &j->pkgs[i]);
		if (r < 0) {
			r = (j->lock->pkgs[i].manager == CFS_MGR_PIP ? cfs_wheel_install
								     : cfs_package_install)(
				j->iopts, j->items[i].path, &j->lock->pkgs[i],
				j->items[i].got_sha256, j->items[i].size, &j->pkgs[i], &err);
			if (r == 0)
				cfs_manifest_save(j->cache_dir, j->iopts, &j->pkgs[i]);
		}
		if (r < 0) {
			pthread_mutex_lock(&j->lock_err);
			/* Report the first failing package in install order. */
			if (!atomic_load(&j->failed) || i < j->err_index) {
				j->err = err;
				j->err_index = i;
			}
			atomic_store(&j->failed, true);
			pthread_mutex_unlock(&j->lock_err);
			break;
		}
		size_t done = atomic_fetch_add(&j->done, 1) + 1;
		if (j->progress)
			fprintf(stderr, "\r\033[Kinstalling [%zu/%zu] %s", done, j->lock->n_pkgs,
				j->lock->pkgs[i].fn);
	}
	return NULL;
}

static errint_t install_all(struct install_job *j, int jobs, struct cfs_err *err)
{
	pthread_t th[64];
	int n = jobs < 1 ? 1 : jobs > 64 ? 64 : jobs;
	int started = 0;

	pthread_mutex_init(&j->lock_err, NULL);
	for (int i = 0; i < n && (size_t)i < j->lock->n_pkgs; i++)
		if (pthread_create(&th[started], NULL, install_worker, j) == 0)
			started++;
	if (!started)
		install_worker(j);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&j->lock_err);
	if (j->progress)
		fputs("\r\033[K", stderr);
	if (atomic_load(&j->failed)) {
		*err = j->err;
		return -EIO;
	}
	return 0;
}

/*
 * Lock entries condafs cannot install: an error naming the first, unless
 * skip_unbuildable, then one warning naming them all.
 */
static errint_t check_skipped(const struct cfs_lock *lock, bool skip_unbuildable,
			      struct cfs_err *err)
{
	const struct cfs_lock_pkg *first = lock->n_skipped ? &lock->skipped[0] : NULL;
	struct cfs_buf b;

	if (!first)
		return 0;
	if (!skip_unbuildable)
		return cfs_err_set(err, ENOTSUP, "%s:%d: %s (%s) is %s, which condafs cannot "
				   "install (it installs conda packages and wheels); "
				   "--skip-unbuildable skips such entries", lock->path,
				   first->line, first->name ? first->name : "?",
				   first->url ? first->url : "no URL", first->unbuildable);
	cfs_buf_init(&b, 1 << 20);
	for (size_t i = 0; i < lock->n_skipped; i++)
		cfs_buf_printf(&b, "%s%s (%s)", i ? ", " : "",
			       lock->skipped[i].name ? lock->skipped[i].name : "?",
			       lock->skipped[i].unbuildable);
	cfs_warn("%s: skipping %zu entr%s condafs cannot install: %s", lock->path,
		 lock->n_skipped, lock->n_skipped == 1 ? "y" : "ies", b.data);
	cfs_buf_release(&b);
	return 0;
}

static void warn_link_scripts(const struct cfs_package *pkgs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < pkgs[i].n_link_scripts; k++)
			cfs_warn("%s: link script %s is not run (a lazily served environment "
				 "cannot run install-time scripts)", pkgs[i].lock->fn,
				 pkgs[i].link_scripts[k]);
}

static char *history_text(const struct cfs_index_opts *o, const struct cfs_lock *lock,
			  int64_t when)
{
	struct cfs_buf b;
	char date[32];
	time_t t = (time_t)when;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	cfs_buf_init(&b, SIZE_MAX);
	cfs_buf_printf(&b, "==> %s <==\n# cmd: %s\n# condafs version: %s\n", date,
		       o->cmdline ? o->cmdline : "condafs index", CFS_VERSION);
	for (size_t i = 0; i < lock->n_pkgs - lock->n_wheels; i++) {
		const struct cfs_lock_pkg *p = &lock->pkgs[i];
		cfs_buf_printf(&b, "+%s%s%s-%s-%s\n", p->channel && *p->channel ? p->channel : "",
			       p->channel && *p->channel ? "::" : "", p->name, p->version, p->build);
	}
	return cfs_buf_steal(&b, NULL);
}

static int64_t build_time(void)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	if (sde && *sde)
		return strtoll(sde, NULL, 10);
	return (int64_t)time(NULL);
}

/* ---- prune policy ---- */

struct prune_ctx {
	const struct cfs_policy *policy;
	const struct cfs_package *pkgs;
	const struct cfs_policy_rule **sorted; /* rule pointers, sorted, for ids */
	size_t n_rules;
};

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (const void *const *)a, y = (uintptr_t) * (const void *const *)b;
	return x < y ? -1 : x > y;
}

/* rules.id of rule: its position in the policy, from 1. */
static int64_t rule_id(const struct prune_ctx *pc, const struct cfs_policy_rule *rule)
{
	const struct cfs_policy_rule **hit = bsearch(&rule, pc->sorted, pc->n_rules,
						      sizeof(*pc->sorted), cmp_ptr);
	/* sorted[] holds positions in its second half. */
	return hit ? (int64_t)(uintptr_t)pc->sorted[pc->n_rules + (size_t)(hit - pc->sorted)] : 0;
}

static int64_t prune_path(void *ctx, const char *path, int64_t pkg, bool *prune)
{
	const struct prune_ctx *pc = ctx;
	const struct cfs_policy_rule *rule =
		cfs_policy_match(pc->policy, path, pkg > 0 ? pc->pkgs[pkg - 1].name : NULL);

	*prune = rule && !rule->keep;
	return rule ? rule_id(pc, rule) : 0;
}

static void prune_ctx_init(struct prune_ctx *pc, const struct cfs_policy *policy,
			   const struct cfs_package *pkgs)
{
	size_t n = cfs_policy_n_rules(policy);
	struct {
		const struct cfs_policy_rule *rule;
		size_t pos;
	} *pairs = cfs_xcalloc(n, sizeof(*pairs));

	pc->policy = policy;
	pc->pkgs = pkgs;
	pc->n_rules = n;
	for (size_t i = 0; i < n; i++) {
		pairs[i].rule = cfs_policy_rule_at(policy, i);
		pairs[i].pos = i + 1;
	}
	qsort(pairs, n, sizeof(*pairs), cmp_ptr);
	pc->sorted = cfs_xcalloc(2 * n, sizeof(*pc->sorted));
	for (size_t i = 0; i < n; i++) {
		pc->sorted[i] = pairs[i].rule;
		pc->sorted[n + i] = (const void *)(uintptr_t)pairs[i].pos;
	}
	free(pairs);
}

static errint_t load_policy(const struct cfs_index_opts *o, const struct cfs_lock *lock,
			    struct cfs_policy **out, struct cfs_err *err)
{
	struct cfs_policy *p = cfs_policy_new();
	const char **names;
	int r = 0;

	for (size_t i = 0; i < o->n_policy && r == 0; i++) {
		if (strncmp(o->policy[i], "preset:", 7) == 0)
			r = cfs_policy_add_presets(p, o->policy[i] + 7, err);
		else
			r = cfs_policy_add_file(p, o->policy[i], err);
	}
	if (r < 0) {
		cfs_policy_free(p);
		return r;
	}
	names = cfs_xcalloc(lock->n_pkgs + 1, sizeof(*names));
	for (size_t i = 0; i < lock->n_pkgs; i++)
		names[i] = lock->pkgs[i].name;
	cfs_policy_check_packages(p, names, lock->n_pkgs, NULL, NULL);
	free(names);
	*out = p;
	return 0;
}

static errint_t write_rules(struct cfs_db *db, const struct cfs_policy *policy)
{
	int r = 0;
	for (size_t i = 0; i < cfs_policy_n_rules(policy) && r == 0; i++) {
		const struct cfs_policy_rule *rule = cfs_policy_rule_at(policy, i);
		r = cfs_db_add_rule(db, (int64_t)i + 1, rule->origin, rule->text, rule->keep);
	}
	return r;
}

static errint_t write_meta(struct cfs_db *db, const struct cfs_index_opts *o,
			   const struct cfs_lock *lock, int64_t now)
{
	cleanup_free char *abs_store = realpath(o->store_dir, NULL);
	cleanup_free char *xy = python_xy(lock);
	char hex[65], created[32];
	int r = 0;

	cfs_hex(lock->sha256, CFS_SHA256_LEN, hex);
	snprintf(created, sizeof(created), "%lld", (long long)now);
	const char *meta[][2] = {
		{ "prefix", o->prefix },
		{ "platform", lock->platform },
		{ "lock_file", o->lock_path },
		{ "lock_sha256", hex },
		{ "tool", "condafs " CFS_VERSION },
		{ "created", created },
		{ "store", abs_store ? abs_store : o->store_dir },
		{ "python_version", xy ? xy : "" },
	};
	for (size_t i = 0; i < CFS_ARRAY_SIZE(meta) && r == 0; i++)
		r = cfs_db_set_meta(db, meta[i][0], meta[i][1]);
	return r;
}

static errint_t write_packages(struct cfs_db *db, const struct cfs_lock *lock,
			       const struct cfs_package *pkgs)
{
	int r = 0;

	for (size_t i = 0; i < lock->n_pkgs && r == 0; i++) {
		const struct cfs_lock_pkg *lp = &lock->pkgs[i];
		const struct cfs_package *p = &pkgs[i];
		char sha[65], md5[33];
		cleanup_free char *scripts = NULL;
		uint64_t files = 0;

		for (size_t k = 0; k < p->n_entries; k++)
			files += S_ISDIR(p->entries[k].mode) ? 0 : 1;
		if (p->n_link_scripts) {
			json_t *a = json_array();
			for (size_t k = 0; k < p->n_link_scripts; k++)
				json_array_append_new(a, json_string(p->link_scripts[k]));
			scripts = json_dumps(a, JSON_COMPACT);
			json_decref(a);
		}
		cfs_hex(p->sha256, CFS_SHA256_LEN, sha);
		if (p->has_md5)
			cfs_hex(p->md5, CFS_MD5_LEN, md5);
		struct cfs_db_package dp = {
			.id = (int64_t)i + 1,
			.name = p->name, .version = p->version, .build = p->build,
			.build_number = p->build_number, .subdir = p->subdir, .noarch = p->noarch,
			.channel = lp->channel, .url = lp->url, .fn = lp->fn,
			.sha256 = sha, .md5 = p->has_md5 ? md5 : NULL,
			.size = (int64_t)p->archive_size,
			.manager = lp->manager == CFS_MGR_PIP ? "pip" : "conda", .status = "installed",
			.file_count = (int64_t)files, .bytes = (int64_t)p->bytes,
			.link_scripts = scripts,
		};
		r = cfs_db_add_package(db, &dp);
	}
	for (size_t i = 0; i < lock->n_skipped && r == 0; i++) {
		const struct cfs_lock_pkg *lp = &lock->skipped[i];
		char sha[65];
		if (lp->has_sha256)
			cfs_hex(lp->sha256, CFS_SHA256_LEN, sha);
		struct cfs_db_package dp = {
			.id = (int64_t)(lock->n_pkgs + i + 1),
			.name = lp->name, .version = lp->version ? lp->version : "",
			.build = lp->build ? lp->build : "", .url = lp->url ? lp->url : "",
			.fn = lp->fn ? lp->fn : "", .sha256 = lp->has_sha256 ? sha : NULL,
			.manager = lp->manager == CFS_MGR_PIP ? "pip" : "conda", .status = "skipped",
		};
		r = cfs_db_add_package(db, &dp);
	}
	return r;
}

/* The "depends" of conda package p's conda-meta record, as names (NULL if none). */
static json_t *meta_depends(const struct cfs_package *p, struct cfs_store *store)
{
	cleanup_free char *text = NULL;
	struct cfs_err ignored;
	json_t *rec, *deps = NULL;
	size_t len;

	for (size_t k = 0; k < p->n_entries; k++) {
		const char *path = p->entries[k].path;

		if (strncmp(path, "conda-meta/", 11) != 0 || strchr(path + 11, '/') ||
		    !S_ISREG(p->entries[k].mode) ||
		    cfs_store_read_all(store, p->entries[k].digest, 64u << 20, &text, &len,
				       &ignored) < 0)
			continue;
		rec = json_loadb(text, len, 0, NULL);
		deps = json_incref(json_object_get(rec, "depends"));
		json_decref(rec);
		break;
	}
	return deps;
}

/*
 * Which installed package depends on which (the depends table): from the
 * lock where it says, else from the package's conda-meta record.  The
 * daemon fetches ahead by it (docs/mount.md).
 */
static errint_t write_depends(struct cfs_db *db, const struct cfs_lock *lock,
			      const struct cfs_package *pkgs, struct cfs_store *store)
{
	int r = 0;

	for (size_t i = 0; i < lock->n_pkgs && r == 0; i++) {
		const struct cfs_lock_pkg *lp = &lock->pkgs[i];
		json_t *deps = NULL;
		size_t n = lp->n_depends, k;

		if (lp->manager == CFS_MGR_PIP)
			continue;
		if (!n && (deps = meta_depends(&pkgs[i], store)))
			n = json_array_size(deps);
		for (k = 0; k < n && r == 0; k++) {
			cleanup_free char *parsed = NULL;
			const char *spec = deps ? json_string_value(json_array_get(deps, k)) : NULL;
			/* The lock's are names already; a record's are match specs. */
			const char *name = !deps ? lp->depends[k]
					 : spec ? (parsed = cfs_lock_spec_name(spec)) : NULL;

			for (size_t j = 0; name && j < lock->n_pkgs && r == 0; j++)
				if (j != i && lock->pkgs[j].manager != CFS_MGR_PIP &&
				    strcmp(pkgs[j].name, name) == 0)
					r = cfs_db_add_depends(db, (int64_t)i + 1, (int64_t)j + 1);
		}
		json_decref(deps);
	}
	return r;
}

/* Merges the packages into one tree, with conda-meta/history. */
static errint_t build_tree(const struct cfs_index_opts *o, const struct cfs_lock *lock,
			   const struct cfs_package *pkgs, struct cfs_store *store, int64_t now,
			   struct cfs_tree *tree, struct cfs_err *err)
{
	cleanup_free char *hist = NULL;
	uint8_t digest[CFS_SHA256_LEN];
	uint64_t csize = 0;
	int r;

	for (size_t i = 0; i < lock->n_pkgs; i++) {
		r = cfs_tree_add_package(tree, (int64_t)i + 1, lock->pkgs[i].fn, &pkgs[i], err);
		if (r < 0)
			return r;
	}
	hist = history_text(o, lock, now);
	r = cfs_store_put(store, hist, strlen(hist), digest, &csize);
	if (r < 0)
		return cfs_err_set(err, -r, "%s: cannot write to the store: %s", o->store_dir,
				   strerror(-r));
	return cfs_tree_add_file(tree, "conda-meta/history", 0644, now, digest, strlen(hist),
				 csize, err);
}

static errint_t write_index(const struct cfs_index_opts *o, struct cfs_lock *lock,
			    struct cfs_package *pkgs, struct cfs_store *store,
			    const struct cfs_policy *policy, const char *tmp_path,
			    struct cfs_index_packs *packs, struct cfs_err *err)
{
	struct cfs_tree *tree = cfs_tree_new();
	struct cfs_db *db = NULL;
	struct prune_ctx pc;
	int64_t now = build_time();
	int r;

	prune_ctx_init(&pc, policy, pkgs);
	if (cfs_policy_n_rules(policy))
		cfs_tree_set_prune(tree, prune_path, &pc);
	r = build_tree(o, lock, pkgs, store, now, tree, err);
	if (r == 0)
		r = cfs_db_create(tmp_path, &db, err);
	if (r == 0) {
		r = write_meta(db, o, lock, now);
		if (r == 0)
			r = write_packages(db, lock, pkgs);
		if (r == 0)
			r = write_depends(db, lock, pkgs, store);
		if (r == 0)
			r = write_rules(db, policy);
		if (r < 0)
			cfs_err_set(err, -r, "%s: cannot write index", tmp_path);
	}
	if (r == 0)
		r = cfs_tree_write(tree, db, err);
	if (r == 0 && !o->no_packs)
		r = cfs_index_write_packs(db, store, tree, pkgs, lock->n_pkgs, packs, err);
	if (r == 0)
		r = cfs_db_finish(db, err);
	cfs_db_close(db);
	cfs_tree_free(tree);
	free(pc.sorted);
	return r;
}

/* fsync a finished file by name. */
static errint_t fsync_path(const char *path)
{
	cleanup_fd int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		return -errno;
	return 0;
}

static errint_t fetch_packages(const struct cfs_index_opts *o, const char *cache,
			       const struct cfs_lock *lock, struct cfs_fetch_item *items,
			       struct cfs_err *err)
{
	char **urls = cfs_xcalloc(lock->n_pkgs + 1, sizeof(char *));
	int r;

	for (size_t i = 0; i < lock->n_pkgs; i++) {
		const struct cfs_lock_pkg *p = &lock->pkgs[i];
		/* Relative locations are relative to the lock file. */
		urls[i] = p->url ? cfs_lock_resolve_url(lock->path, p->url) : NULL;
		items[i].url = urls[i];
		items[i].label = p->fn;
		items[i].has_sha256 = p->has_sha256;
		items[i].has_md5 = p->has_md5;
		memcpy(items[i].sha256, p->sha256, CFS_SHA256_LEN);
		memcpy(items[i].md5, p->md5, CFS_MD5_LEN);
	}
	struct cfs_fetch_opts fo = {
		.cache_dir = cache,
		.jobs = o->jobs > 0 ? o->jobs : 4,
		.mirrors = o->mirrors,
		.n_mirrors = o->n_mirrors,
		.retries = 3,
		.allow_unverified = o->allow_unverified,
		.progress = o->progress,
	};
	r = cfs_fetch_all(&fo, items, lock->n_pkgs, err);
	for (size_t i = 0; i < lock->n_pkgs; i++) {
		items[i].url = NULL;
		free(urls[i]);
	}
	free(urls);
	return r;
}

/* The provisional index the compiler runs from: every path, no packs. */
struct tmp_index_ctx {
	const struct cfs_index_opts *o;
	struct cfs_lock *lock;
	struct cfs_package *pkgs;
	struct cfs_store *store;
};

static errint_t write_tmp_index(void *ctx, const char *path, struct cfs_err *err)
{
	struct tmp_index_ctx *c = ctx;
	struct cfs_index_opts o = *c->o;
	struct cfs_policy *none = cfs_policy_new();
	struct cfs_index_packs packs = { 0 };
	int r;

	o.no_packs = true;
	r = write_index(&o, c->lock, c->pkgs, c->store, none, path, &packs, err);
	cfs_policy_free(none);
	return r;
}

static errint_t compile_bytecode(const struct cfs_index_opts *o, struct cfs_lock *lock,
				 struct cfs_package *pkgs, struct cfs_store *store,
				 const char *cache, const char *xy, struct cfs_index_result *res,
				 struct cfs_err *err)
{
	struct tmp_index_ctx tc = { o, lock, pkgs, store };
	struct cfs_compile_opts co = {
		.prefix = o->prefix,
		.python_xy = xy,
		.store_dir = o->store_dir,
		.store = store,
		.cache_dir = cache,
		.jobs = o->jobs > 0 ? o->jobs : 1,
		.progress = o->progress,
		.run = o->run_in_index,
		.write_tmp_index = write_tmp_index,
		.write_ctx = &tc,
	};
	struct cfs_compile_result cr;
	int r = cfs_compile_packages(&co, lock, pkgs, &cr, err);

	if (r == 0) {
		res->pyc_sources = cr.sources;
		res->pyc_compiled = cr.compiled;
		res->pyc_reused = cr.reused;
		res->pyc_failed = cr.failed;
	}
	return r;
}

/* Writes the index under a temporary name, makes it and its objects durable, renames. */
static errint_t publish_index(const struct cfs_index_opts *o, struct cfs_lock *lock,
			      struct cfs_package *pkgs, struct cfs_store *store,
			      const struct cfs_policy *policy, struct cfs_index_packs *packs,
			      struct cfs_err *err)
{
	cleanup_free char *dir_copy = cfs_xstrdup(o->out_path);
	cleanup_free char *base_copy = cfs_xstrdup(o->out_path);
	cleanup_free char *tmp_path = cfs_xasprintf("%s/.%s.tmp-%d", dirname(dir_copy),
						      basename(base_copy), (int)getpid());
	int r;

	unlink(tmp_path);
	r = write_index(o, lock, pkgs, store, policy, tmp_path, packs, err);
	if (r == 0 && (r = cfs_store_sync(store)) < 0)
		cfs_err_set(err, -r, "%s: sync failed: %s", o->store_dir, strerror(-r));
	if (r == 0 && (r = fsync_path(tmp_path)) < 0)
		cfs_err_set(err, -r, "%s: %s", tmp_path, strerror(-r));
	if (r == 0 && rename(tmp_path, o->out_path) < 0) {
		r = -errno;
		cfs_err_set(err, -r, "%s: %s", o->out_path, strerror(-r));
	}
	if (r == 0)
		cfs_fsync_parent(o->out_path);
	else
		unlink(tmp_path);
	return r;
}

errint_t cfs_index_build(const struct cfs_index_opts *o, struct cfs_index_result *res,
			 struct cfs_err *err)
{
	struct cfs_lock *lock = NULL;
	struct cfs_store *store = NULL;
	struct cfs_fetch_item *items = NULL;
	struct cfs_package *pkgs = NULL;
	struct cfs_policy *policy = NULL;
	cleanup_free char *xy = NULL;
	cleanup_free char *cache = o->cache_dir ? cfs_xstrdup(o->cache_dir)
						: cfs_index_default_cache();
	struct cfs_install_opts io = { .prefix = o->prefix };
	struct install_job job = { .iopts = &io, .progress = o->progress, .cache_dir = cache };
	struct cfs_index_packs packs = { 0 };
	int r;

	memset(res, 0, sizeof(*res));
	r = check_prefix(o->prefix, err);
	if (r < 0)
		return r;
	r = cfs_lock_load_env(o->lock_path, o->platform, o->environment, &lock, err);
	if (r < 0)
		return r;
	r = check_skipped(lock, o->skip_unbuildable, err);
	if (r == 0 && lock->n_pkgs == lock->n_wheels)
		r = cfs_err_set(err, EINVAL, "%s: no conda packages for platform %s%s%s",
				o->lock_path, lock->platform,
				lock->environment ? " in environment " : "",
				lock->environment ? lock->environment : "");
	/* A bad policy is reported before any download. */
	if (r == 0)
		r = load_policy(o, lock, &policy, err);
	if (r == 0)
		r = cfs_store_open(o->store_dir, true, &store, err);
	if (r < 0)
		goto out;

	items = cfs_xcalloc(lock->n_pkgs, sizeof(*items));
	r = fetch_packages(o, cache, lock, items, err);
	if (r < 0)
		goto out;

	xy = python_xy(lock);
	io.python_xy = xy;
	io.platform = lock->platform;
	io.store = store;
	pkgs = cfs_xcalloc(lock->n_pkgs, sizeof(*pkgs));
	job.lock = lock;
	job.items = items;
	job.pkgs = pkgs;
	r = install_all(&job, o->jobs > 0 ? o->jobs : 1, err);
	if (r < 0)
		goto out;
	warn_link_scripts(pkgs, lock->n_pkgs);
	if (!o->no_compile && (r = compile_bytecode(o, lock, pkgs, store, cache, xy, res, err)) < 0)
		goto out;
	r = publish_index(o, lock, pkgs, store, policy, &packs, err);
	if (r == 0) {
		res->packs = packs.packs;
		res->new_packs = packs.written;
		res->pack_bytes = packs.bytes;
		res->packages = lock->n_pkgs - lock->n_wheels;
		res->wheels = lock->n_wheels;
		res->skipped = lock->n_skipped;
		res->rules = cfs_policy_n_rules(policy);
	}
out:
	if (pkgs)
		for (size_t i = 0; i < lock->n_pkgs; i++)
			cfs_package_release(&pkgs[i]);
	free(pkgs);
	if (items)
		for (size_t i = 0; i < lock->n_pkgs; i++)
			cfs_fetch_item_release(&items[i]);
	free(items);
	cfs_store_free(store);
	cfs_policy_free(policy);
	cfs_lock_free(lock);
	return r;
}

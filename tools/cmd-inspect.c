/* SPDX-License-Identifier: MIT */
/* condafs info, ls and cat: read-only views of an index. */
#include <getopt.h>
#include <jansson.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "cli.h"
#include "db.h"
#include "fsutil.h"
#include "store.h"

/* Parses "-h/--help" and "--json" style flags shared by the inspect commands. */
struct inspect_args {
	bool json, recursive, all;
	const char *store;
	int first; /* index of the first positional argument */
};

static int parse_inspect(const char *cmd, const char *help, int argc, char **argv,
			 struct inspect_args *a)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "recursive", no_argument, NULL, 'R' },
		{ "all", no_argument, NULL, 'a' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	optind = 1;
	while ((c = getopt_long(argc, argv, "aRs:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': a->all = true; break;
		case 'J': a->json = true; break;
		case 'R': a->recursive = true; break;
		case 's': a->store = optarg; break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_bad_option(cmd, argv, "aRs:h");
		}
	}
	a->first = optind;
	return -1;
}

static const char info_help[] =
	"usage: condafs info ENV.cfs [--json]\n"
	"\n"
	"Shows what an index holds: its prefix and platform, the lock it came from,\n"
	"its packages, the files and bytes of the environment and of the store, and\n"
	"the packs that hold its objects.\n"
	"\n"
	"Options:\n"
	"      --json    machine-readable output\n"
	"  -h, --help    show this help\n";

struct pkg_rows {
	json_t *list;
	bool json;
};

static int print_pkg(void *ctx, const struct cfs_db_package *p)
{
	struct pkg_rows *rows = ctx;
	char size[32];

	if (rows->json) {
		json_array_append_new(rows->list, json_pack(
			"{s:s,s:s,s:s,s:s,s:s,s:s?,s:I,s:I,s:s}", "name", p->name,
			"version", p->version, "build", p->build, "manager", p->manager,
			"status", p->status, "sha256", p->sha256, "files", (json_int_t)p->file_count,
			"bytes", (json_int_t)p->bytes, "url", p->url));
		return 0;
	}
	cfs_format_size((uint64_t)p->bytes, size, sizeof(size));
	printf("  %-28s %-14s %-20s %7lld %10s%s\n", p->name, p->version, p->build,
	       (long long)p->file_count, size,
	       strcmp(p->status, "installed") ? "  (skipped: pip)" : "");
	return 0;
}

int cmd_info(int argc, char **argv)
{
	struct inspect_args a;
	cleanup_db struct cfs_db *db = NULL;
	struct cfs_db_stats st;
	struct cfs_err err;
	char b1[32], b2[32], b3[32];
	int r = parse_inspect("info", info_help, argc, argv, &a);

	if (r >= 0)
		return r;
	if (a.first + 1 != argc)
		return cli_usage("info", "expected one index file");
	if (cfs_db_open(argv[a.first], &db, &err) < 0)
		return cli_fail(&err);
	cfs_db_stats(db, &st);

	const char *keys[] = { "prefix", "platform", "lock_file", "lock_sha256", "tool",
			       "created", "store", "python_version" };
	char *vals[CFS_ARRAY_SIZE(keys)];
	for (size_t i = 0; i < CFS_ARRAY_SIZE(keys); i++)
		if (cfs_db_get_meta(db, keys[i], &vals[i]) < 0)
			vals[i] = cfs_xstrdup("");

	struct pkg_rows rows = { .list = json_array(), .json = a.json };
	if (a.json) {
		json_t *o = json_object();
		for (size_t i = 0; i < CFS_ARRAY_SIZE(keys); i++)
			json_object_set_new(o, keys[i], json_string(vals[i]));
		json_object_set_new(o, "packages", json_integer((json_int_t)st.packages));
		json_object_set_new(o, "skipped_packages", json_integer((json_int_t)st.skipped_packages));
		json_object_set_new(o, "files", json_integer((json_int_t)st.files));
		json_object_set_new(o, "directories", json_integer((json_int_t)st.dirs));
		json_object_set_new(o, "symlinks", json_integer((json_int_t)st.symlinks));
		json_object_set_new(o, "bytes", json_integer((json_int_t)st.bytes));
		json_object_set_new(o, "pruned_files", json_integer((json_int_t)st.pruned_files));
		json_object_set_new(o, "pruned_bytes", json_integer((json_int_t)st.pruned_bytes));
		json_object_set_new(o, "objects", json_integer((json_int_t)st.objects));
		json_object_set_new(o, "object_bytes", json_integer((json_int_t)st.object_bytes));
		json_object_set_new(o, "stored_bytes", json_integer((json_int_t)st.stored_bytes));
		json_object_set_new(o, "packs", json_integer((json_int_t)st.packs));
		json_object_set_new(o, "pack_bytes", json_integer((json_int_t)st.pack_bytes));
		json_object_set_new(o, "packed_objects", json_integer((json_int_t)st.packed_objects));
		json_object_set_new(o, "format_version", json_integer(cfs_db_version(db)));
		cfs_db_foreach_package(db, print_pkg, &rows);
		json_object_set(o, "package_list", rows.list);
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else {
		time_t created = (time_t)strtoll(vals[5], NULL, 10);
		char date[64] = "";
		struct tm tm;
		if (gmtime_r(&created, &tm))
			strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm);
		printf("index:     %s\n", argv[a.first]);
		printf("prefix:    %s\n", vals[0]);
		printf("platform:  %s\n", vals[1]);
		printf("lock:      %s (sha256 %s)\n", vals[2], vals[3]);
		printf("created:   %s by %s\n", date, vals[4]);
		printf("store:     %s\n", vals[6]);
		printf("packages:  %llu installed, %llu skipped\n", (unsigned long long)st.packages,
		       (unsigned long long)st.skipped_packages);
		cfs_format_size(st.bytes, b1, sizeof(b1));
		printf("files:     %llu files (%s), %llu directories, %llu symlinks\n",
		       (unsigned long long)st.files, b1, (unsigned long long)st.dirs,
		       (unsigned long long)st.symlinks);
		if (st.pruned_files) {
			cfs_format_size(st.pruned_bytes, b1, sizeof(b1));
			printf("pruned:    %llu files and symlinks (%s), see condafs du --by rule\n",
			       (unsigned long long)st.pruned_files, b1);
		}
		cfs_format_size(st.object_bytes, b2, sizeof(b2));
		cfs_format_size(st.stored_bytes, b3, sizeof(b3));
		printf("objects:   %llu distinct contents, %s, %s in the store (zstd)\n",
		       (unsigned long long)st.objects, b2, b3);
		cfs_format_size(st.pack_bytes, b1, sizeof(b1));
		if (cfs_db_version(db) < 3)
			printf("packs:     none (index format version %d)\n", cfs_db_version(db));
		else
			printf("packs:     %llu packs, %s, holding %llu objects\n",
			       (unsigned long long)st.packs, b1,
			       (unsigned long long)st.packed_objects);
		printf("\n  %-28s %-14s %-20s %7s %10s\n", "PACKAGE", "VERSION", "BUILD", "FILES", "SIZE");
		cfs_db_foreach_package(db, print_pkg, &rows);
	}
	json_decref(rows.list);
	for (size_t i = 0; i < CFS_ARRAY_SIZE(keys); i++)
		free(vals[i]);
	return 0;
}

static const char ls_help[] =
	"usage: condafs ls ENV.cfs [PATH] [-R] [-a] [--json]\n"
	"\n"
	"Lists a directory of the environment (default: its root) like ls -l:\n"
	"mode, size, modification time, name, and symlink targets.  PATH is\n"
	"relative to the prefix (a leading prefix or / is accepted).  A PATH that a\n"
	"prune rule removed is an error (exit 1) that names the rule, unless -a.\n"
	"\n"
	"Options:\n"
	"  -R, --recursive   list everything below PATH, as paths relative to the prefix\n"
	"  -a, --all         also list paths removed by prune rules (marked 'pruned')\n"
	"      --json        one JSON object per line: path, type, mode, size, mtime,\n"
	"                    mtime_nsec, digest, target, package, pruned\n"
	"  -h, --help        show this help\n";

struct ls_ctx {
	struct cfs_db *db;
	bool json, recursive, all;
	char *base; /* path of the directory being listed, "" for the root */
	char **pkg_names;
	size_t n_pkg_names;
};

static const char *pkg_name(struct ls_ctx *c, int64_t id)
{
	if (id <= 0)
		return NULL;
	if ((size_t)id >= c->n_pkg_names) {
		size_t n = (size_t)id + 1;
		c->pkg_names = cfs_xrealloc(c->pkg_names, n * sizeof(char *));
		memset(c->pkg_names + c->n_pkg_names, 0, (n - c->n_pkg_names) * sizeof(char *));
		c->n_pkg_names = n;
	}
	if (!c->pkg_names[id])
		c->pkg_names[id] = cfs_db_package_name(c->db, id);
	return c->pkg_names[id];
}

static void mode_string(uint32_t mode, char out[11])
{
	static const char rwx[] = "rwxrwxrwx";
	out[0] = S_ISDIR(mode) ? 'd' : S_ISLNK(mode) ? 'l' : '-';
	for (int i = 0; i < 9; i++)
		out[i + 1] = (mode & (1u << (8 - i))) ? rwx[i] : '-';
	out[10] = '\0';
}

static void print_node(struct ls_ctx *c, const struct cfs_node *n, const char *path)
{
	if (c->json) {
		char hex[65];
		json_t *o = json_object();
		if (n->has_digest)
			cfs_hex(n->digest, CFS_SHA256_LEN, hex);
		json_object_set_new(o, "path", json_string(path));
		json_object_set_new(o, "type", json_string(S_ISDIR(n->mode) ? "dir" :
							    S_ISLNK(n->mode) ? "symlink" : "file"));
		json_object_set_new(o, "mode", json_integer(n->mode & 07777));
		json_object_set_new(o, "size", json_integer((json_int_t)n->size));
		json_object_set_new(o, "mtime", json_integer(n->mtime));
		json_object_set_new(o, "mtime_nsec", json_integer(n->mtime_nsec));
		json_object_set_new(o, "digest", n->has_digest ? json_string(hex) : json_null());
		json_object_set_new(o, "target", n->target ? json_string(n->target) : json_null());
		const char *pkg = pkg_name(c, n->package);
		json_object_set_new(o, "package", pkg ? json_string(pkg) : json_null());
		json_object_set_new(o, "pruned", json_boolean(n->pruned));
		json_dumpf(o, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
		putchar('\n');
		json_decref(o);
		return;
	}
	char m[11], date[32] = "";
	time_t t = (time_t)n->mtime;
	struct tm tm;
	mode_string(n->mode, m);
	if (gmtime_r(&t, &tm))
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M", &tm);
	printf("%s %10llu %s %s%s%s%s\n", m, (unsigned long long)n->size, date, path,
	       n->target ? " -> " : "", n->target ? n->target : "", n->pruned ? "  (pruned)" : "");
}

static int ls_child(void *ctx, const struct cfs_node *n)
{
	struct ls_ctx *c = ctx;
	cleanup_free char *path = NULL;

	if (n->pruned && !c->all)
		return 0;
	path = *c->base ? cfs_xasprintf("%s/%s", c->base, n->name) : cfs_xstrdup(n->name);

	print_node(c, n, c->recursive ? path : n->name);
	if (c->recursive && S_ISDIR(n->mode)) {
		char *saved = c->base;
		c->base = path;
		int r = cfs_db_foreach_child(c->db, n->ino, ls_child, c);
		c->base = saved;
		return r;
	}
	return 0;
}

/* Strips the environment prefix or a leading "/" from a user's path. */
static const char *env_relative(struct cfs_db *db, const char *path)
{
	cleanup_free char *prefix = NULL;

	if (cfs_db_get_meta(db, "prefix", &prefix) == 0) {
		size_t n = strlen(prefix);
		if (strncmp(path, prefix, n) == 0 && (path[n] == '/' || path[n] == '\0'))
			path += n;
	}
	while (*path == '/')
		path++;
	return path;
}

int cmd_ls(int argc, char **argv)
{
	struct inspect_args a;
	cleanup_db struct cfs_db *db = NULL;
	struct cfs_node n;
	struct cfs_err err;
	int r = parse_inspect("ls", ls_help, argc, argv, &a);

	if (r >= 0)
		return r;
	if (a.first + 1 != argc && a.first + 2 != argc)
		return cli_usage("ls", "expected ENV.cfs [PATH]");
	if (cfs_db_open(argv[a.first], &db, &err) < 0)
		return cli_fail(&err);
	const char *path = a.first + 2 == argc ? env_relative(db, argv[a.first + 1]) : "";
	r = cfs_db_resolve(db, path, &n);
	if (r < 0) {
		fprintf(stderr, "condafs: %s: %s: %s\n", argv[a.first], path, strerror(-r));
		return 1;
	}
	if (n.pruned && !a.all) {
		/* Not in the served environment: say why rather than list it. */
		cleanup_free char *origin = NULL, *text = NULL;
		bool keep;

		if (n.rule && cfs_db_get_rule(db, n.rule, &origin, &text, &keep) == 0)
			fprintf(stderr, "condafs: %s: %s: pruned by %s: %s (condafs ls -a lists it)\n",
				argv[a.first], path, origin, text);
		else
			fprintf(stderr, "condafs: %s: %s: pruned (condafs ls -a lists it)\n",
				argv[a.first], path);
		cfs_node_release(&n);
		return 1;
	}
	struct ls_ctx c = { .db = db, .json = a.json, .recursive = a.recursive, .all = a.all };
	cleanup_free char *base = cfs_xstrdup(path);
	size_t len = strlen(base);
	while (len && base[len - 1] == '/')
		base[--len] = '\0';
	c.base = base;
	if (S_ISDIR(n.mode))
		r = cfs_db_foreach_child(db, n.ino, ls_child, &c);
	else
		print_node(&c, &n, path);
	cfs_node_release(&n);
	for (size_t i = 0; i < c.n_pkg_names; i++)
		free(c.pkg_names[i]);
	free(c.pkg_names);
	if (fflush(stdout) != 0 || r < 0) {
		fprintf(stderr, "condafs: ls: %s\n", strerror(r < 0 ? -r : errno));
		return 1;
	}
	return 0;
}

static const char cat_help[] =
	"usage: condafs cat ENV.cfs PATH [--store DIR]\n"
	"\n"
	"Writes the content of PATH (relative to the prefix; symlinks inside the\n"
	"environment are followed) to standard output, decompressed from the store\n"
	"and verified against its sha256.\n"
	"\n"
	"Options:\n"
	"  -s, --store DIR   the store to read (default: the one the index was made with)\n"
	"  -h, --help        show this help\n";

/* Resolves path, following symlinks that stay inside the environment. */
static errint_t resolve_follow(struct cfs_db *db, const char *path, struct cfs_node *out,
			       struct cfs_err *err)
{
	cleanup_free char *cur = cfs_xstrdup(path);

	for (int hops = 0; hops < 40; hops++) {
		int r = cfs_db_resolve(db, cur, out);
		if (r < 0) {
			/* A symlink in a parent: resolve the longest existing prefix. */
			return cfs_err_set(err, -r, "%s: %s: %s", cfs_db_path(db), cur, strerror(-r));
		}
		if (!S_ISLNK(out->mode))
			return 0;
		char *next;
		if (out->target[0] == '/') {
			cleanup_free char *prefix = NULL;
			size_t plen;
			cfs_db_get_meta(db, "prefix", &prefix);
			plen = prefix ? strlen(prefix) : 0;
			if (!prefix || strncmp(out->target, prefix, plen) != 0 ||
			    (out->target[plen] != '/' && out->target[plen] != '\0')) {
				int rr = cfs_err_set(err, EXDEV, "%s: %s is a symlink to %s, outside the "
						     "environment", cfs_db_path(db), cur, out->target);
				cfs_node_release(out);
				return rr;
			}
			next = cfs_xstrdup(out->target + plen);
		} else {
			char *slash = strrchr(cur, '/');
			next = slash ? cfs_xasprintf("%.*s/%s", (int)(slash - cur), cur, out->target)
				     : cfs_xstrdup(out->target);
		}
		cfs_node_release(out);
		/* Fold "dir/../x" lexically: the index has no ".." entries. */
		struct cfs_buf b;
		cfs_buf_init(&b, SIZE_MAX);
		char *save = NULL;
		char *parts[512];
		int np = 0;
		for (char *p = strtok_r(next, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
			if (strcmp(p, ".") == 0)
				continue;
			if (strcmp(p, "..") == 0) {
				if (np == 0) {
					free(next);
					return cfs_err_set(err, EXDEV, "%s: %s: symlink leads outside the "
							   "environment", cfs_db_path(db), path);
				}
				np--;
				continue;
			}
			if (np < 512)
				parts[np++] = p;
		}
		for (int i = 0; i < np; i++)
			cfs_buf_printf(&b, "%s%s", i ? "/" : "", parts[i]);
		free(next);
		free(cur);
		cur = cfs_buf_steal(&b, NULL);
	}
	return cfs_err_set(err, ELOOP, "%s: %s: too many levels of symbolic links", cfs_db_path(db),
			   path);
}

/* Decodes into an anonymous file first: nothing unverified reaches stdout. */
static errint_t cat_verified(struct cfs_store *store, const uint8_t digest[CFS_SHA256_LEN],
			     struct cfs_err *err)
{
	cleanup_fd int fd = memfd_create("condafs-cat", MFD_CLOEXEC);
	char buf[1 << 16];
	ssize_t n;
	int r;

	if (fd < 0)
		return cfs_err_set(err, errno, "cat: %s", strerror(errno));
	r = cfs_store_read_to_fd(store, digest, fd, err);
	if (r < 0)
		return r;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return cfs_err_set(err, errno, "cat: %s", strerror(errno));
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		r = cfs_write_all(STDOUT_FILENO, buf, (size_t)n);
		if (r < 0)
			return cfs_err_set(err, -r, "cat: standard output: %s", strerror(-r));
	}
	if (n < 0)
		return cfs_err_set(err, errno, "cat: %s", strerror(errno));
	return 0;
}

int cmd_cat(int argc, char **argv)
{
	struct inspect_args a;
	cleanup_db struct cfs_db *db = NULL;
	cleanup_free char *store_dir = NULL;
	struct cfs_store *store = NULL;
	struct cfs_node n;
	struct cfs_err err;
	int r = parse_inspect("cat", cat_help, argc, argv, &a);

	if (r >= 0)
		return r;
	if (a.first + 2 != argc)
		return cli_usage("cat", "expected ENV.cfs PATH");
	if (cfs_db_open(argv[a.first], &db, &err) < 0)
		return cli_fail(&err);
	if (resolve_follow(db, env_relative(db, argv[a.first + 1]), &n, &err) < 0)
		return cli_fail(&err);
	if (!S_ISREG(n.mode)) {
		fprintf(stderr, "condafs: %s: %s: is a directory\n", argv[a.first], argv[a.first + 1]);
		cfs_node_release(&n);
		return 1;
	}
	if (a.store)
		store_dir = cfs_xstrdup(a.store);
	else if (cfs_db_get_meta(db, "store", &store_dir) < 0) {
		cfs_node_release(&n);
		return cli_usage("cat", "the index names no store; pass --store DIR");
	}
	r = cfs_store_open(store_dir, false, &store, &err);
	if (r == 0)
		r = cat_verified(store, n.digest, &err);
	cfs_node_release(&n);
	cfs_store_free(store);
	if (r < 0)
		return cli_fail(&err);
	return 0;
}

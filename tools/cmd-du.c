/* SPDX-License-Identifier: MIT */
/* condafs du: kept and pruned files and bytes, by package, rule, directory or kind. */
#include <getopt.h>
#include <jansson.h>
#include <sqlite3.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "fsutil.h"

static const char du_help[] =
	"usage: condafs du ENV.cfs [--by package|rule|dir|kind] [--depth N] [--pruned] [--json]\n"
	"\n"
	"Shows how the files and bytes of an environment split between what is kept\n"
	"(served) and what prune rules removed, largest first.  Files count regular\n"
	"files and symlinks; bytes are regular file sizes.  Kept plus pruned always\n"
	"equals the environment before pruning.\n"
	"\n"
	"Options:\n"
	"      --by KEY     group by package (default), rule, dir, or kind: Python\n"
	"                   bytecode (.pyc, .pyo), Python sources (.py), shared\n"
	"                   libraries, static libraries, symlinks, other files\n"
	"      --depth N    with --by dir: directories N levels below the prefix (default 2)\n"
	"      --pruned     only groups with pruned files, sorted by pruned bytes\n"
	"      --json       machine-readable output\n"
	"  -h, --help       show this help\n";

/* Kept/pruned sums per group key; the key column comes first in each query. */
#define SUMS \
	" sum(NOT n.pruned) AS kf," \
	" sum(CASE WHEN NOT n.pruned THEN n.size * ((n.mode & 61440) = 32768) END) AS kb," \
	" sum(n.pruned) AS pf, sum(CASE WHEN n.pruned THEN n.size * ((n.mode & 61440) = 32768) END) AS pb"

static const char by_package_sql[] =
	"SELECT coalesce(p.name, '(no package)'), NULL,"
	SUMS
	" FROM nodes n LEFT JOIN packages p ON p.id = n.package"
	" WHERE (n.mode & 61440) != 16384 GROUP BY n.package";

static const char by_rule_sql[] =
	"SELECT coalesce(r.origin, '(no rule)'), r.text,"
	SUMS
	" FROM nodes n LEFT JOIN rules r ON r.id = n.rule"
	" WHERE (n.mode & 61440) != 16384 GROUP BY n.rule";

static const char by_kind_sql[] =
	"SELECT CASE"
	"  WHEN (n.mode & 61440) = 40960 THEN 'symlinks'"
	"  WHEN n.name GLOB '*.pyc' OR n.name GLOB '*.pyo' THEN 'Python bytecode'"
	"  WHEN n.name GLOB '*.py' THEN 'Python sources'"
	"  WHEN n.name GLOB '*.so' OR n.name GLOB '*.so.*' THEN 'shared libraries'"
	"  WHEN n.name GLOB '*.a' THEN 'static libraries'"
	"  ELSE 'other files' END AS kind, NULL,"
	SUMS
	" FROM nodes n WHERE (n.mode & 61440) != 16384 GROUP BY kind";

static const char by_dir_sql[] =
	"WITH RECURSIVE t(ino, path, depth, key) AS ("
	"  SELECT ino, name, 1, name FROM nodes WHERE parent = 1"
	"  UNION ALL"
	"  SELECT n.ino, t.path || '/' || n.name, t.depth + 1,"
	"   CASE WHEN t.depth < ?1 THEN t.path || '/' || n.name ELSE t.key END"
	"  FROM nodes n JOIN t ON n.parent = t.ino)"
	" SELECT t.key, NULL,"
	SUMS
	" FROM t JOIN nodes n ON n.ino = t.ino"
	" WHERE (n.mode & 61440) != 16384 GROUP BY t.key";

int cmd_du(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "by", required_argument, NULL, 'b' },
		{ "depth", required_argument, NULL, 'd' },
		{ "pruned", no_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *by = "package";
	bool pruned_only = false, json = false;
	long depth = 2;
	struct cfs_db *db = NULL;
	struct cfs_err err;
	cleanup_free char *sql = NULL;
	sqlite3_stmt *st;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'b': by = optarg; break;
		case 'd': {
			char *end;
			depth = strtol(optarg, &end, 10);
			if (*end || depth < 1 || depth > 64)
				return cli_usage("du", "--depth wants a number from 1 to 64");
			break;
		}
		case 'p': pruned_only = true; break;
		case 'J': json = true; break;
		case 'h': fputs(du_help, stdout); return 0;
		default: return cli_bad_option("du", argv, "h");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("du", "expected one index file");
	const char *base = strcmp(by, "package") == 0 ? by_package_sql
			 : strcmp(by, "rule") == 0 ? by_rule_sql
			 : strcmp(by, "dir") == 0 ? by_dir_sql
			 : strcmp(by, "kind") == 0 ? by_kind_sql : NULL;
	if (!base)
		return cli_usage("du", "--by wants package, rule, dir or kind, not '%s'", by);
	if (cfs_db_open(argv[optind], &db, &err) < 0)
		return cli_fail(&err);
	sql = cfs_xasprintf("%s%s ORDER BY %s DESC, 1", base,
			    pruned_only ? " HAVING sum(n.pruned) > 0" : "",
			    pruned_only ? "coalesce(pb, 0)" : "coalesce(kb, 0) + coalesce(pb, 0)");
	if (sqlite3_prepare_v2(cfs_db_handle(db), sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "condafs: %s: %s\n", argv[optind], sqlite3_errmsg(cfs_db_handle(db)));
		cfs_db_close(db);
		return 1;
	}
	if (base == by_dir_sql)
		sqlite3_bind_int64(st, 1, depth);

	json_t *rows = json_array();
	int64_t tot[4] = { 0 };
	if (!json)
		printf("%-44s %10s %11s %10s %11s\n", by[0] == 'p' ? "PACKAGE" : by[0] == 'r' ? "RULE" : by[0] == 'k' ? "KIND" : "DIRECTORY",
		       "KEPT FILES", "KEPT SIZE", "PRUNED", "PRUNED SIZE");
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		const char *text = (const char *)sqlite3_column_text(st, 1);
		int64_t v[4];
		char ks[32], ps[32];

		for (int i = 0; i < 4; i++) {
			v[i] = sqlite3_column_int64(st, i + 2);
			tot[i] += v[i];
		}
		if (json) {
			json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:I}", "key", key, "kept_files",
					      (json_int_t)v[0], "kept_bytes", (json_int_t)v[1],
					      "pruned_files", (json_int_t)v[2], "pruned_bytes",
					      (json_int_t)v[3]);
			if (text)
				json_object_set_new(o, "rule", json_string(text));
			json_array_append_new(rows, o);
			continue;
		}
		cfs_format_size((uint64_t)v[1], ks, sizeof(ks));
		cfs_format_size((uint64_t)v[3], ps, sizeof(ps));
		printf("%-44s %10lld %11s %10lld %11s\n", key, (long long)v[0], ks, (long long)v[2], ps);
		if (text)
			printf("    %s\n", text);
	}
	sqlite3_finalize(st);
	cfs_db_close(db);
	if (json) {
		json_t *o = json_pack("{s:s,s:o,s:{s:I,s:I,s:I,s:I}}", "by", by, "groups", rows,
				      "total", "kept_files", (json_int_t)tot[0], "kept_bytes",
				      (json_int_t)tot[1], "pruned_files", (json_int_t)tot[2],
				      "pruned_bytes", (json_int_t)tot[3]);
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else {
		char ks[32], ps[32];
		json_decref(rows);
		cfs_format_size((uint64_t)tot[1], ks, sizeof(ks));
		cfs_format_size((uint64_t)tot[3], ps, sizeof(ps));
		printf("%-44s %10lld %11s %10lld %11s\n", "TOTAL", (long long)tot[0], ks,
		       (long long)tot[2], ps);
	}
	return 0;
}

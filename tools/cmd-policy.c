/* SPDX-License-Identifier: MIT */
/* condafs policy list | explain: the built-in presets, and why a path was pruned. */
#include <getopt.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "db.h"
#include "policy.h"

static const char policy_help[] =
	"usage: condafs policy list [NAME...]\n"
	"       condafs policy explain ENV.cfs PATH... [--json]\n"
	"\n"
	"list     shows the built-in prune presets with their rules (all, or the named ones)\n"
	"explain  says, for each PATH of an index, whether it is kept or pruned and\n"
	"         which rule decided it (the last matching rule wins)\n"
	"\n"
	"Policy files and presets are applied by condafs index --policy FILE and\n"
	"--preset NAME[,NAME]; see condafs-policy(1) and docs/policy.md.\n";

static int policy_list(int argc, char **argv)
{
	size_t n = cfs_policy_n_presets();
	int shown = 0;

	for (size_t i = 0; i < n; i++) {
		const char *name = cfs_policy_preset_name(i);
		bool want = argc == 0;
		for (int k = 0; k < argc; k++)
			want |= strcmp(argv[k], name) == 0;
		if (!want)
			continue;
		printf("%s%s: %s\n", shown++ ? "\n" : "", name, cfs_policy_preset_summary(i));
		const char *t = cfs_policy_preset_text(i);
		while (*t) {
			size_t len = strcspn(t, "\n");
			printf("    %.*s\n", (int)len, t);
			t += len + (t[len] == '\n');
		}
	}
	for (int k = 0; k < argc; k++) {
		bool known = false;
		for (size_t i = 0; i < n; i++)
			known |= strcmp(argv[k], cfs_policy_preset_name(i)) == 0;
		if (!known) {
			fprintf(stderr, "condafs: unknown preset '%s' (see condafs policy list)\n", argv[k]);
			return 1;
		}
	}
	return 0;
}

static const char *strip_prefix(const char *path, const char *prefix)
{
	size_t n = prefix ? strlen(prefix) : 0;
	if (n && strncmp(path, prefix, n) == 0 && (path[n] == '/' || path[n] == '\0'))
		path += n;
	while (*path == '/')
		path++;
	return path;
}

static int policy_explain(int argc, char **argv, bool json)
{
	struct cfs_db *db = NULL;
	struct cfs_err err;
	cleanup_free char *prefix = NULL;
	int status = 0;

	if (argc < 2)
		return cli_usage("policy", "explain wants ENV.cfs PATH...");
	if (cfs_db_open(argv[0], &db, &err) < 0)
		return cli_fail(&err);
	cfs_db_get_meta(db, "prefix", &prefix);
	for (int i = 1; i < argc; i++) {
		const char *path = strip_prefix(argv[i], prefix);
		cleanup_free char *origin = NULL, *text = NULL, *pkg = NULL;
		struct cfs_node n;
		bool keep = false;
		const char *verdict;
		int r = cfs_db_resolve(db, path, &n);

		if (r < 0) {
			fprintf(stderr, "condafs: %s: %s: not in the environment\n", argv[0], path);
			status = 1;
			continue;
		}
		if (n.rule)
			cfs_db_get_rule(db, n.rule, &origin, &text, &keep);
		pkg = n.package ? cfs_db_package_name(db, n.package) : NULL;
		if (n.pruned)
			verdict = "pruned";
		else if (!n.rule)
			verdict = "kept (no rule matches)";
		else if (keep)
			verdict = "kept";
		else
			verdict = "kept (an exclude rule matches, but the directory holds kept paths)";
		if (json) {
			json_t *o = json_pack("{s:s,s:b,s:s?,s:s?,s:s?}", "path", path, "pruned",
					      n.pruned, "package", pkg, "rule", text, "origin", origin);
			json_dumpf(o, stdout, JSON_COMPACT);
			putchar('\n');
			json_decref(o);
		} else if (origin) {
			printf("%s: %s by %s: %s%s%s%s\n", path, verdict, origin, text,
			       pkg ? " (package " : "", pkg ? pkg : "", pkg ? ")" : "");
		} else {
			printf("%s: %s%s%s%s\n", path, verdict, pkg ? " (package " : "", pkg ? pkg : "",
			       pkg ? ")" : "");
		}
		cfs_node_release(&n);
	}
	cfs_db_close(db);
	return status;
}

int cmd_policy(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool json = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'J': json = true; break;
		case 'h': fputs(policy_help, stdout); return 0;
		default: return cli_bad_option("policy", argv, "h");
		}
	}
	if (optind >= argc)
		return cli_usage("policy", "expected list or explain");
	if (strcmp(argv[optind], "list") == 0)
		return policy_list(argc - optind - 1, argv + optind + 1);
	if (strcmp(argv[optind], "explain") == 0)
		return policy_explain(argc - optind - 1, argv + optind + 1, json);
	return cli_usage("policy", "unknown subcommand '%s' (list or explain)", argv[optind]);
}

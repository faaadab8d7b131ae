/* SPDX-License-Identifier: MIT */
/*
 * condafs lock: what a lock file resolves to for one platform, read and
 * checked exactly as condafs index reads it, without fetching anything.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <string.h>

#include "cli.h"
#include "lock.h"

static const char lock_help[] =
	"usage: condafs lock LOCK [--platform P] [--environment E] [--json]\n"
	"\n"
	"Lists what LOCK (a conda-lock.yml version 1, a pixi.lock version 4 to 7 or\n"
	"an @EXPLICIT list) resolves to for platform P, as condafs index would read\n"
	"it, without fetching: the conda packages in install order, then the wheels,\n"
	"then the entries condafs cannot install, each with the reason.  One line\n"
	"per package: kind (conda or pypi), name, version, build and URL.\n"
	"\n"
	"Options:\n"
	"  -p, --platform P   platform to resolve (default: this machine's, %s)\n"
	"  -e, --environment E  pixi.lock environment (default: default)\n"
	"      --json         one JSON object per line: kind, name, version, build,\n"
	"                     url, sha256, md5 (null where the lock has none), and\n"
	"                     for entries condafs cannot install, unbuildable\n"
	"  -h, --help         show this help\n";

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *hex_or_null(bool has, const uint8_t *bytes, size_t len)
{
	char hex[2 * CFS_SHA256_LEN + 1];

	if (!has)
		return json_null();
	cfs_hex(bytes, len, hex);
	return json_string(hex);
}

static void print_pkg(const struct cfs_lock_pkg *p, bool json)
{
	const char *kind = p->manager == CFS_MGR_PIP ? "pypi" : "conda";

	if (json) {
		json_t *o = json_object();
		char *line;

		json_object_set_new(o, "kind", json_string(kind));
		json_object_set_new(o, "name", str_or_null(p->name));
		json_object_set_new(o, "version", str_or_null(p->version));
		json_object_set_new(o, "build", str_or_null(p->build));
		json_object_set_new(o, "url", str_or_null(p->url));
		json_object_set_new(o, "sha256", hex_or_null(p->has_sha256, p->sha256, CFS_SHA256_LEN));
		json_object_set_new(o, "md5", hex_or_null(p->has_md5, p->md5, CFS_MD5_LEN));
		if (p->unbuildable)
			json_object_set_new(o, "unbuildable", json_string(p->unbuildable));
		line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		puts(line);
		free(line);
		json_decref(o);
		return;
	}
	printf("%-5s  %-32s %-16s %-24s %s%s%s\n", kind, p->name ? p->name : "?",
	       p->version ? p->version : "?", p->build ? p->build : "-", p->url ? p->url : "-",
	       p->unbuildable ? "  # not installable: " : "", p->unbuildable ? p->unbuildable : "");
}

int cmd_lock(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "platform", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'J' },
		{ "environment", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *platform = cfs_lock_host_platform(), *environment = NULL;
	struct cfs_lock *lock = NULL;
	struct cfs_err err;
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "p:e:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': platform = optarg; break;
		case 'J': json = true; break;
		case 'e': environment = optarg; break;
		case 'h':
			printf(lock_help, cfs_lock_host_platform() ? cfs_lock_host_platform() : "unknown");
			return 0;
		default: return cli_bad_option("lock", argv, "p:e:h");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("lock", "expected one LOCK");
	if (!platform)
		return cli_usage("lock", "cannot tell this machine's conda platform; pass --platform");
	if (cfs_lock_load_env(argv[optind], platform, environment, &lock, &err) < 0)
		return cli_fail(&err);
	for (size_t i = 0; i < lock->n_pkgs; i++)
		print_pkg(&lock->pkgs[i], json);
	for (size_t i = 0; i < lock->n_skipped; i++)
		print_pkg(&lock->skipped[i], json);
	cfs_lock_free(lock);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "condafs: lock: standard output: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

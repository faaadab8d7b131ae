/* SPDX-License-Identifier: MIT */
/*
 * The daemon's settings by name, shared by every way of giving them:
 * long options (condafs mount, condafs run) and -o lists (mount -t
 * fuse.condafs, /etc/fstab).
 */
#include <pwd.h>
#include <string.h>

#include "fs-internal.h"
#include "fsutil.h"

void cfs_fs_opts_init(struct cfs_fs_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->cache_size = CFS_FS_DEFAULT_CACHE_SIZE;
	o->fetch_timeout = CFS_FS_DEFAULT_FETCH_TIMEOUT;
	o->fetch_retries = CFS_FS_DEFAULT_FETCH_RETRIES;
	o->pruned = CFS_FS_PRUNED_ENOENT;
	o->prefetch_jobs = CFS_FS_DEFAULT_PREFETCH_JOBS;
	o->speculate = CFS_FS_DEFAULT_SPECULATE;
	o->stream_packs = CFS_FS_STREAM_FAST;
}

char *cfs_fs_default_cache_dir(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	struct passwd *pw;

	if (geteuid() == 0)
		return cfs_xstrdup("/var/cache/condafs");
	if (xdg && *xdg == '/')
		return cfs_xasprintf("%s/condafs", xdg);
	if ((!home || *home != '/') && (pw = getpwuid(geteuid())))
		home = pw->pw_dir;
	return cfs_xasprintf("%s/.cache/condafs", home ? home : "/tmp");
}

static bool parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end || errno || v < min || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

/* "--cache-size", "cache-size" and "cache_size" all give "cache_size". */
static void canonical(const char *name, char *out, size_t len)
{
	size_t i = 0;

	while (*name == '-')
		name++;
	for (; *name && i + 1 < len; name++)
		out[i++] = *name == '-' ? '_' : *name;
	out[i] = '\0';
}

errint_t cfs_fs_opts_set(struct cfs_fs_opts *o, const char *name, const char *value,
			 struct cfs_err *err)
{
	char key[32];

	canonical(name, key, sizeof(key));
#define KEY(k) (strcmp(key, k) == 0)
	if (KEY("strict") || KEY("no_packs") || KEY("no_passthrough") || KEY("no_open")) {
		if (value)
			return cfs_err_set(err, EINVAL, "%s takes no value", name);
		if (KEY("strict"))
			o->strict = true;
		else if (KEY("no_packs"))
			o->no_packs = true;
		else if (KEY("no_open"))
			o->no_open = true;
		else
			o->no_passthrough = true;
		return 0;
	}
	if (!KEY("store") && !KEY("cache") && !KEY("cache_size") && !KEY("fetch_timeout") &&
	    !KEY("fetch_retries") && !KEY("pruned") && !KEY("trace") && !KEY("workset") &&
	    !KEY("prefetch") && !KEY("prefetch_jobs") && !KEY("speculate") && !KEY("stream_packs") &&
	    !KEY("http_version") && !KEY("cacert"))
		return -ENOENT;
	if (!value || !*value)
		return cfs_err_set(err, EINVAL, "%s wants a value", name);
	if (KEY("store")) {
		o->store = value;
	} else if (KEY("cache")) {
		o->cache_dir = value;
	} else if (KEY("cache_size")) {
		if (cfs_parse_size(value, &o->cache_size) < 0)
			return cfs_err_set(err, EINVAL, "%s wants a size like 512M or 2G, not '%s'",
					   name, value);
	} else if (KEY("fetch_timeout")) {
		if (!parse_uint(value, 1, 86400, &o->fetch_timeout))
			return cfs_err_set(err, EINVAL, "%s wants seconds, not '%s'", name, value);
	} else if (KEY("fetch_retries")) {
		if (!parse_uint(value, 0, 100, &o->fetch_retries))
			return cfs_err_set(err, EINVAL, "%s wants a number from 0 to 100, not '%s'",
					   name, value);
	} else if (KEY("pruned")) {
		if (strcmp(value, "enoent") == 0)
			o->pruned = CFS_FS_PRUNED_ENOENT;
		else if (strcmp(value, "fetch") == 0)
			o->pruned = CFS_FS_PRUNED_FETCH;
		else
			return cfs_err_set(err, EINVAL, "%s wants enoent or fetch, not '%s'", name,
					   value);
	} else if (KEY("trace")) {
		o->trace = value;
	} else if (KEY("workset")) {
		o->workset = value;
	} else if (KEY("prefetch")) {
		o->prefetch = value;
	} else if (KEY("speculate")) {
		if (cfs_parse_size(value, &o->speculate) < 0 || o->speculate > (64ull << 20))
			return cfs_err_set(err, EINVAL, "%s wants a size from 0 to 64M like 256K, "
					   "not '%s'", name, value);
	} else if (KEY("stream_packs")) {
		if (strcmp(value, "never") == 0)
			o->stream_packs = CFS_FS_STREAM_NEVER;
		else if (strcmp(value, "fast") == 0)
			o->stream_packs = CFS_FS_STREAM_FAST;
		else if (strcmp(value, "always") == 0)
			o->stream_packs = CFS_FS_STREAM_ALWAYS;
		else
			return cfs_err_set(err, EINVAL, "%s wants never, fast or always, not '%s'",
					   name, value);
	} else if (KEY("http_version")) {
		if (strcmp(value, "1.1") == 0)
			o->http_version = 11;
		else if (strcmp(value, "2") == 0)
			o->http_version = 2;
		else if (strcmp(value, "auto") == 0)
			o->http_version = 0;
		else
			return cfs_err_set(err, EINVAL, "%s wants 1.1, 2 or auto, not '%s'", name,
					   value);
	} else if (KEY("cacert")) {
		o->cacert = value;
	} else if (KEY("prefetch_jobs")) {
		if (!parse_uint(value, 1, 64, &o->prefetch_jobs))
			return cfs_err_set(err, EINVAL, "%s wants a number from 1 to 64, not '%s'",
					   name, value);
	}
#undef KEY
	return 0;
}

errint_t cfs_fs_opts_check(const struct cfs_fs_opts *o, struct cfs_err *err)
{
	if (o->strict && !o->workset)
		return cfs_err_set(err, EINVAL, "--strict needs --workset WS");
	if (o->workset && !o->strict && !o->prefetch)
		return cfs_err_set(err, EINVAL, "--workset needs --strict or --prefetch");
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * condafs ready: is a live condafs mount at MOUNTPOINT?  For startup probes
 * (a Kubernetes sidecar's) and for scripts that wait for a mount made by
 * another process, possibly in another mount namespace.
 *
 *   1. the mount table (/proc/self/mountinfo) has fuse.condafs on top at
 *      exactly that path (not a parent's mount, not a mount under it);
 *   2. the daemon answers statfs and the stats getxattr on the root.
 *
 * Step 2, and resolving a path the table does not list (a symlink), touch
 * the mount: they run in a child process with a time bound.  A dead daemon
 * answers ENOTCONN at once, but a hung one never answers; a process waiting
 * in a FUSE request can still be killed, so the child is, once time is up.
 */
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/statfs.h>

#include "cli.h"
#include "fs.h"
#include "fsutil.h"

#define DEFAULT_TIMEOUT 5 /* seconds for one probe */
#define POLL_INTERVAL_MS 100

static const char ready_help[] =
	"usage: condafs ready MOUNTPOINT [--wait SECS] [--timeout SECS]\n"
	"\n"
	"Exits 0 if a live condafs mount is at MOUNTPOINT: the mount table says\n"
	"fuse.condafs at exactly that path and the daemon answers (statfs and its\n"
	"stats on the root) within the timeout.  Otherwise prints one line saying\n"
	"why (not a mount point, another file system, the daemon is gone or does\n"
	"not answer) and exits 1.  Nothing is printed when the mount is ready.\n"
	"For startup probes and for scripts that wait for a mount made by another\n"
	"process or in another mount namespace (a sidecar).\n"
	"\n"
	"Options:\n"
	"  -w, --wait SECS      try again every 0.1 s until ready, for up to SECS\n"
	"  -t, --timeout SECS   give up on a daemon that does not answer after SECS\n"
	"                       (default %d)\n"
	"  -h, --help           show this help\n";

/* What a probe child reports. */
struct probe {
	int err;             /* 0 or an errno */
	const char *what;    /* the call that failed: a literal, valid in the parent too */
	char path[PATH_MAX]; /* PROBE_REALPATH: the result */
};

enum probe_kind { PROBE_REALPATH, PROBE_DAEMON };

static void probe_daemon(const char *path, void *out)
{
	struct probe *p = out;
	cleanup_free char *text = NULL;
	struct cfs_err err;
	struct statfs sfs;
	json_t *o;
	int r;

	if (statfs(path, &sfs) < 0) {
		p->err = errno;
		p->what = "statfs";
		return;
	}
	p->what = "getxattr " CFS_FS_STATS_XATTR;
	if (sfs.f_type != CFS_FUSE_SUPER_MAGIC) {
		p->err = EMEDIUMTYPE;
	} else if ((r = cfs_fs_read_stats(path, &text, &err)) < 0) {
		p->err = -r;
	} else {
		o = json_loads(text, 0, NULL);
		if (!json_is_integer(json_object_get(o, "pid")))
			p->err = EBADMSG;
		json_decref(o);
	}
}

static void probe_realpath(const char *path, void *out)
{
	struct probe *p = out;

	if (!realpath(path, p->path)) {
		p->err = errno;
		p->what = "realpath";
	}
}

static errint_t run_probe(enum probe_kind kind, const char *path, unsigned timeout_ms,
			  struct probe *p)
{
	memset(p, 0, sizeof(*p));
	return cfs_fs_probe(kind == PROBE_REALPATH ? probe_realpath : probe_daemon, path,
			    timeout_ms, p, sizeof(*p));
}

/* One look at path (as given, for messages): 0 if ready, else an error in err. */
static errint_t check_ready(const char *path, unsigned timeout_ms, struct cfs_err *err)
{
	cleanup_free char *abs = cfs_fs_absolute_path(path);
	char fstype[64];
	struct probe p;
	int r = cfs_fs_top_mount(abs, fstype, sizeof(fstype));

	if (r == -ENOENT) {
		/* Not listed under that name: a symlink, or missing. */
		r = run_probe(PROBE_REALPATH, path, timeout_ms, &p);
		if (r == -ETIMEDOUT)
			return cfs_err_set(err, ETIMEDOUT, "%s: no answer within %u s resolving the "
					   "path (a hung file system on the way?)", path,
					   timeout_ms / 1000);
		if (r < 0)
			return cfs_err_set(err, -r, "%s: %s", path, strerror(-r));
		if (p.err)
			return cfs_err_set(err, p.err, "%s: %s", path, strerror(p.err));
		r = strcmp(p.path, abs) == 0 ? -ENOENT : cfs_fs_top_mount(p.path, fstype, sizeof(fstype));
		if (r == -ENOENT)
			return cfs_err_set(err, ENOENT, "%s: not a mount point", path);
	}
	if (r < 0)
		return cfs_err_set(err, -r, "/proc/self/mountinfo: %s", strerror(-r));
	if (strcmp(fstype, "fuse.condafs") != 0)
		return cfs_err_set(err, EMEDIUMTYPE, "%s: %s, not condafs", path, fstype);

	r = run_probe(PROBE_DAEMON, path, timeout_ms, &p);
	if (r == -ETIMEDOUT)
		return cfs_err_set(err, ETIMEDOUT, "%s: the condafs daemon did not answer within %u s",
				   path, timeout_ms / 1000);
	if (r < 0)
		return cfs_err_set(err, -r, "%s: cannot probe the daemon: %s", path, strerror(-r));
	if (p.err == ENOTCONN)
		return cfs_err_set(err, ENOTCONN, "%s: the condafs daemon is gone (ENOTCONN); "
				   "'condafs umount -z %s' removes the dead mount", path, path);
	if (p.err)
		return cfs_err_set(err, p.err, "%s: the condafs daemon failed %s: %s", path, p.what,
				   strerror(p.err));
	return 0;
}

static bool parse_secs(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > 86400)
		return false;
	*out = (unsigned)v;
	return true;
}

int cmd_ready(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "wait", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	unsigned wait = 0, timeout = DEFAULT_TIMEOUT;
	struct cfs_err err;
	uint64_t deadline;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "w:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			if (!parse_secs(optarg, &wait))
				return cli_usage("ready", "--wait wants whole seconds, not '%s'", optarg);
			break;
		case 't':
			if (!parse_secs(optarg, &timeout) || timeout == 0)
				return cli_usage("ready", "--timeout wants whole seconds (1 or more), "
						 "not '%s'", optarg);
			break;
		case 'h': printf(ready_help, DEFAULT_TIMEOUT); return 0;
		default: return cli_bad_option("ready", argv, "w:t:h");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("ready", "expected MOUNTPOINT");
	deadline = cfs_now_ms() + (uint64_t)wait * 1000;
	while (check_ready(argv[optind], timeout * 1000, &err) < 0) {
		uint64_t t = cfs_now_ms();
		if (t >= deadline)
			return cli_fail(&err);
		poll(NULL, 0, (int)(deadline - t < POLL_INTERVAL_MS ? deadline - t : POLL_INTERVAL_MS));
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * condafs run: a command with an index mounted at /env, in a private mount
 * namespace, so nothing outside the command ever sees the mount.
 *
 *   1. unshare(CLONE_NEWNS) (with a user namespace when not root) and make
 *      every mount private, so the mount never propagates back;
 *   2. make the mount point: if it is missing (it is never created on the
 *      host), a tmpfs over its parent holding binds of what was there plus
 *      the new directory (for a parent of /: a new root, entered with chroot);
 *   3. start the daemon (cfs_fs_spawn; it dies with us if we are killed),
 *      run the command, forward SIGINT, SIGTERM, SIGHUP and SIGQUIT sent
 *      to us (those from the terminal reach the command by themselves);
 *   4. unmount, wait for the daemon, exit with the command's status.
 */
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "cli.h"
#include "fs.h"
#include "fsutil.h"
#include "log.h"
#include "mount-opts.h"

static const char run_help[] =
	"usage: condafs run ENV.cfs [options] -- CMD [ARGS...]\n"
	"\n"
	"Runs CMD with the environment of ENV.cfs mounted at /env (or --mountpoint)\n"
	"in a private mount namespace: only CMD and its children see the mount,\n"
	"which goes away when CMD exits.  CMD inherits standard input and output,\n"
	"the environment (PATH is left alone: run /env/bin/python3, or set PATH)\n"
	"and the working directory.  Exits with CMD's status, or 128 + the signal\n"
	"that killed it.  SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to condafs run\n"
	"are passed on to CMD.  The daemon's log (pruned and refused paths) goes\n"
	"to standard error.  Needs root, or unprivileged user namespaces.\n"
	"\n"
	"Options:\n"
	"      --mountpoint DIR       where to mount (default /env; if missing,\n"
	"                             made inside the namespace only)\n"
	"      --store URL|DIR        where objects come from: a directory, or a file://,\n"
	"                             http://, https:// or s3://bucket/prefix URL\n"
	"                             (default: the index's store)\n"
	"      --cache DIR            object cache (default: %s)\n"
	"      --cache-size SIZE      bound on the cache, e.g. 512M, 2G (default 10G)\n"
	"      --fetch-timeout SECS   give up on one file's fetch after SECS (default %d)\n"
	"      --fetch-retries N      extra attempts after a transient failure (default %d)\n"
	"      --pruned=enoent|fetch  pruned paths are absent (default), or served;\n"
	"                             either way their first access is logged\n"
	"      --trace FILE           append the first access of each path to FILE\n"
	"      --workset WS --strict  serve only the working set's paths\n"
	"      --prefetch FILE        fetch the objects of a working set or trace in\n"
	"                             the background, in first-access order\n"
	"      --prefetch-jobs N      concurrent prefetches from a local store (default %d)\n"
	"      --no-packs, --speculate SIZE, --stream-packs WHEN, --http-version V,\n"
	"      --cacert FILE          network fetching, as for condafs mount\n"
	"      --no-passthrough       serve every read from the daemon, as for condafs mount\n"
	"      --no-open              no open requests, pages kept, as for condafs mount\n"
	"      --log-file FILE        append the daemon's log to FILE, not stderr\n"
	"  -q, --quiet                only errors\n"
	"  -v, --verbose              more detail (twice for debug output)\n"
	"  -h, --help                 show this help\n";

enum { OPT_MOUNTPOINT = CLI_MOUNT_OPT + 1, OPT_LOG_FILE };

static volatile sig_atomic_t child_pid;
static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

/* Passes on signals sent to us; those from the terminal (SI_KERNEL) have
 * reached the command's process group already. */
static void forward(int sig, siginfo_t *si, void *uc)
{
	if (child_pid > 0 && si->si_code != SI_KERNEL)
		kill(child_pid, sig);
}

static errint_t write_file(const char *path, const char *text)
{
	cleanup_fd int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return cfs_write_all(fd, text, strlen(text));
}

/* As a user: a user namespace mapping our ids to themselves. */
static errint_t user_namespace(void)
{
	char map[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int r;

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return -errno;
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	if ((r = write_file("/proc/self/uid_map", map)) < 0)
		return r;
	if ((r = write_file("/proc/self/setgroups", "deny")) < 0 && r != -ENOENT)
		return r;
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	return write_file("/proc/self/gid_map", map);
}

/* Every mount we can see becomes private, when / itself is not a mount. */
static void make_all_private(void)
{
	cleanup_file FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192];

	while (f && fgets(line, sizeof(line), f)) {
		char mp[4096];

		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1)
			mount(NULL, mp, NULL, MS_PRIVATE, NULL); /* escapes (\040) just fail */
	}
}

static errint_t private_namespace(struct cfs_err *err)
{
	int r = 0;

	if (unshare(CLONE_NEWNS) < 0) {
		r = -errno;
		if (geteuid() != 0 && r == -EPERM)
			r = user_namespace();
		if (r < 0)
			return cfs_err_set(err, -r, "cannot make a private mount namespace: %s "
					   "(condafs run needs root, CAP_SYS_ADMIN or unprivileged "
					   "user namespaces)", strerror(-r));
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		if (errno != EINVAL)
			return cfs_err_set(err, errno, "cannot make / private: %s", strerror(errno));
		make_all_private(); /* in a chroot whose root is not a mount */
	}
	return 0;
}

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x4
#endif

/* A detached copy of the mount tree at name in dfd (open_tree(2), Linux 5.2). */
static int clone_tree(int dfd, const char *name)
{
	return (int)syscall(SYS_open_tree, dfd, name,
			    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
}

static errint_t attach_tree(int tree, const char *dst)
{
	return syscall(SYS_move_mount, tree, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0
	       ? -errno : 0;
}

/* Binds name in directory dfd at dst, with what is mounted below it. */
static errint_t bind_at(int dfd, const char *name, const char *dst)
{
	cleanup_free char *src = NULL;
	cleanup_fd int tree = clone_tree(dfd, name);

	if (tree >= 0)
		return attach_tree(tree, dst);
	if (errno != ENOSYS)
		return -errno;
	src = cfs_xasprintf("/proc/self/fd/%d/%s", dfd, name);
	return mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0 ? -errno : 0;
}

/*
 * Fills dir (a fresh tmpfs) with binds of what the original directory
 * (srcfd) holds, and gives it the original's mode and owner.  The entry
 * called skip is the tree skiptree instead: the tmpfs covers it.
 */
static errint_t populate(int srcfd, const char *dir, const char *skip, int skiptree,
			 struct cfs_err *err)
{
	DIR *d = fdopendir(fcntl(srcfd, F_DUPFD_CLOEXEC, 3));
	struct dirent *de;
	struct stat st;
	int r = 0;

	if (!d)
		return cfs_err_set(err, errno, "%s: %s", dir, strerror(errno));
	while (r == 0 && (de = readdir(d))) {
		cleanup_free char *dst = NULL;
		char target[4096];
		ssize_t n;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    fstatat(srcfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		dst = cfs_xasprintf("%s/%s", dir, de->d_name);
		if (S_ISLNK(st.st_mode)) {
			n = readlinkat(srcfd, de->d_name, target, sizeof(target) - 1);
			if (n >= 0) {
				target[n] = '\0';
				if (symlink(target, dst) < 0)
					r = -errno;
			}
			continue;
		}
		if (S_ISDIR(st.st_mode) ? mkdir(dst, 0755) : mknod(dst, S_IFREG | 0644, 0))
			r = -errno;
		else if (skip && strcmp(de->d_name, skip) == 0)
			r = attach_tree(skiptree, dst);
		else
			r = bind_at(srcfd, de->d_name, dst);
		if (r < 0)
			cfs_err_set(err, -r, "cannot bind %s: %s", dst, strerror(-r));
	}
	closedir(d);
	if (r == 0 && fstat(srcfd, &st) == 0 &&
	    (chmod(dir, st.st_mode & 07777) < 0 || lchown(dir, st.st_uid, st.st_gid) < 0))
		cfs_warn("%s: %s", dir, strerror(errno));
	return r;
}

/*
 * The parent of the mount point cannot take a new directory (a read-only
 * file system): cover it with a tmpfs that holds binds of its entries plus
 * the new directory.  A parent of / cannot be covered: then a new root is
 * built in a tmpfs and entered with chroot (cwd kept).
 */
static errint_t tmpfs_over_parent(const char *parent, const char *name, struct cfs_err *err)
{
	const char *scratch = NULL, *base = parent;
	cleanup_fd int srcfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_fd int scratchtree = -1;
	cleanup_free char *cwd = getcwd(NULL, 0), *mp = NULL;
	int r;

	if (srcfd < 0)
		return cfs_err_set(err, errno, "%s: %s", parent, strerror(errno));
	if (strcmp(parent, "/") == 0) {
		/* Any directory will do to hold the new root, e.g. /tmp, whose
		 * mounts are copied first: the new root gets that copy. */
		static const char *const places[] = { "/tmp", "/mnt", "/run", "/var/tmp", "/dev" };
		for (size_t i = 0; i < CFS_ARRAY_SIZE(places) && scratchtree < 0; i++) {
			struct stat st;
			scratch = places[i];
			if (stat(scratch, &st) == 0 && S_ISDIR(st.st_mode))
				scratchtree = clone_tree(AT_FDCWD, scratch);
		}
		if (scratchtree < 0)
			return cfs_err_set(err, errno, "cannot build a new root: %s",
					   errno == ENOSYS ? "Linux 5.2 or later is needed" :
					   strerror(errno));
		base = scratch;
	}
	if (mount("condafs-run", base, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
		return cfs_err_set(err, errno, "cannot mount a tmpfs over %s: %s", base,
				   strerror(errno));
	if ((r = populate(srcfd, base, scratch ? scratch + 1 : NULL, scratchtree, err)) < 0)
		return r;
	mp = cfs_xasprintf("%s/%s", base, name);
	if (mkdir(mp, 0755) < 0)
		return cfs_err_set(err, errno, "%s: %s", mp, strerror(errno));
	if (!scratch)
		return 0;
	if (chroot(base) < 0)
		return cfs_err_set(err, errno, "cannot enter the new root: %s", strerror(errno));
	/* The same path, through the binds. */
	if ((!cwd || chdir(cwd) < 0) && chdir("/") < 0)
		return cfs_err_set(err, errno, "cannot enter the new root: %s", strerror(errno));
	return 0;
}

/* Makes sure mp is a directory, in this namespace only if it is missing. */
static errint_t prepare_mountpoint(const char *mp, struct cfs_err *err)
{
	cleanup_free char *parent = NULL;
	struct stat st;
	const char *slash;
	int r;

	if (stat(mp, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : cfs_err_set(err, ENOTDIR, "mount point %s: %s", mp,
							     strerror(ENOTDIR));
	if (errno == ENOTCONN) /* a dead FUSE mount: the daemon detaches it */
		return 0;
	if (errno != ENOENT)
		return cfs_err_set(err, errno, "mount point %s: %s", mp, strerror(errno));
	/*
	 * Never create the mount point on the host's file system: in this
	 * private namespace, a tmpfs over its parent (holding binds of what
	 * was there) makes it exist for the command only.
	 */
	r = -ENOENT;
	slash = strrchr(mp, '/');
	if (*mp != '/' || !slash || !slash[1])
		return cfs_err_set(err, -r, "cannot create mount point %s: %s", mp, strerror(-r));
	parent = slash == mp ? cfs_xstrdup("/") : cfs_xstrndup(mp, (size_t)(slash - mp));
	if (stat(parent, &st) < 0 || !S_ISDIR(st.st_mode))
		return cfs_err_set(err, -r, "cannot create mount point %s: %s", mp, strerror(-r));
	cfs_info("%s does not exist: putting a private tmpfs over %s", mp, parent);
	if (tmpfs_over_parent(parent, slash + 1, err) < 0) {
		cfs_err_prefix(err, "cannot create mount point %s (%s)", mp, strerror(-r));
		return -EIO;
	}
	return 0;
}

static int wait_status(pid_t pid, int *status, int flags)
{
	pid_t r;

	while ((r = waitpid(pid, status, flags)) < 0 && errno == EINTR)
		;
	return r;
}

/* Unmounts and waits (bounded) for the daemon to leave. */
static void stop_daemon(const char *mp, pid_t daemon, unsigned grace)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int status;

	if (umount2(mp, 0) < 0) {
		if (errno == EBUSY)
			cfs_warn("%s is still in use (by processes CMD left behind): detaching it",
				 mp);
		else if (errno != EINVAL && errno != ENOENT)
			cfs_warn("umount %s: %s", mp, strerror(errno));
		umount2(mp, MNT_DETACH);
		kill(daemon, SIGTERM);
	}
	for (unsigned i = 0; i < grace * 100; i++) {
		if (wait_status(daemon, &status, WNOHANG) != 0)
			return;
		nanosleep(&tick, NULL);
	}
	cfs_warn("the mount daemon (pid %d) did not exit: killing it", (int)daemon);
	kill(daemon, SIGKILL);
	wait_status(daemon, &status, 0);
}

static pid_t start_command(char **cmd, const sigset_t *mask)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	/* Dispositions are still those we were started with. */
	sigprocmask(SIG_SETMASK, mask, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM); /* its /env goes with us anyway */
	execvp(cmd[0], cmd);
	fprintf(stderr, "condafs run: %s: %s\n", cmd[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

static const struct option run_opts[] = {
	CLI_MOUNT_LONG_OPTS,
	{ "mountpoint", required_argument, NULL, OPT_MOUNTPOINT },
	{ "log-file", required_argument, NULL, OPT_LOG_FILE },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

int cmd_run(int argc, char **argv)
{
	struct cfs_fs_opts o;
	cleanup_free char *default_cache = cfs_fs_default_cache_dir();
	struct sigaction sa = { 0 };
	sigset_t block, old;
	struct cfs_err err;
	pid_t daemon, child;
	int c, idx, verbose = 0, quiet = 0, status = 0, r;

	cfs_fs_opts_init(&o);
	o.mountpoint = "/env";
	o.log_stderr = o.die_with_parent = o.overmount = true;
	optind = 1;
	/* "+": the command's own options are not ours; ENV.cfs may come first. */
	for (;;) {
		c = getopt_long(argc, argv, "+qvh", run_opts, &idx);
		if (c == -1) {
			if (!o.index && optind < argc && strcmp(argv[optind - 1], "--") != 0) {
				o.index = argv[optind++];
				continue;
			}
			break;
		}
		switch (c) {
		case CLI_MOUNT_OPT:
			if ((r = cli_mount_opt_set(&o, "run", &run_opts[idx], optarg)) != 0)
				return r;
			break;
		case OPT_MOUNTPOINT: o.mountpoint = optarg; break;
		case OPT_LOG_FILE: o.log_file = optarg; break;
		case 'q': quiet++; break;
		case 'v': verbose++; break;
		case 'h':
			printf(run_help, default_cache, CFS_FS_DEFAULT_FETCH_TIMEOUT,
			       CFS_FS_DEFAULT_FETCH_RETRIES, CFS_FS_DEFAULT_PREFETCH_JOBS);
			return 0;
		default: return cli_bad_option("run", argv, "+qvh");
		}
	}
	if (!o.index || optind >= argc)
		return cli_usage("run", "expected ENV.cfs -- CMD [ARGS...]");
	if (*o.mountpoint != '/')
		return cli_usage("run", "--mountpoint wants an absolute path, not '%s'",
				 o.mountpoint);
	if (cfs_fs_opts_check(&o, &err) < 0)
		return cli_usage("run", "%s", err.msg);
	cli_set_verbosity(verbose, quiet);

	if (private_namespace(&err) < 0 || prepare_mountpoint(o.mountpoint, &err) < 0)
		return cli_fail(&err);
	/* Signals wait until the command runs; then they are passed on. */
	sigemptyset(&block);
	for (size_t i = 0; i < CFS_ARRAY_SIZE(forwarded); i++)
		sigaddset(&block, forwarded[i]);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (cfs_fs_spawn(&o, &daemon, &err) < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return cli_fail(&err);
	}
	child = start_command(argv + optind, &old);
	if (child < 0) {
		cfs_error("cannot start %s: %s", argv[optind], strerror(errno));
	} else {
		child_pid = child;
		sa.sa_sigaction = forward;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		for (size_t i = 0; i < CFS_ARRAY_SIZE(forwarded); i++) {
			struct sigaction cur;
			/* A signal we were started ignoring stays ignored. */
			if (sigaction(forwarded[i], NULL, &cur) == 0 && cur.sa_handler != SIG_IGN)
				sigaction(forwarded[i], &sa, NULL);
		}
		sigprocmask(SIG_SETMASK, &old, NULL);
		wait_status(child, &status, 0);
	}
	if (wait_status(daemon, &c, WNOHANG) == daemon) {
		cfs_warn("the mount daemon exited early (%s %d)", WIFSIGNALED(c) ? "signal" : "status",
			 WIFSIGNALED(c) ? WTERMSIG(c) : WEXITSTATUS(c));
		umount2(o.mountpoint, MNT_DETACH); /* a dead mount */
	} else {
		stop_daemon(o.mountpoint, daemon, o.fetch_timeout + 10);
	}
	if (child < 0)
		return 1;
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

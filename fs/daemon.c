/* SPDX-License-Identifier: MIT */
/*
 * Mounting and serving: loads the index, opens the cache and the store,
 * mounts with libfuse and runs the session loop.  In the background the
 * process forks first; the child mounts and reports readiness (or its
 * one-line error) through a pipe, so `condafs mount` returns only once the
 * mount can be used.
 */
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>

#include "buf.h"
#include "fs-internal.h"
#include "curl-api.h"
#include "fsutil.h"
#include "log.h"

#define MAX_THREADS 64
#define PROBE_MS 5000 /* bound on asking a FUSE daemon already at the mount point */

extern char **environ;

/* ---- logging: libfuse's messages go through cfs_log; before the mount is
 * ready, errors are kept for the parent instead. */

static char startup_error[512];
static bool capture_errors;

/* libfuse sometimes logs one line in several calls: gather it per thread. */
static __thread char partial[1024];
static __thread size_t partial_len;
static __thread enum fuse_log_level partial_level;

static void fuse_log_fn(enum fuse_log_level level, const char *fmt, va_list ap)
{
	const char *line;
	int n;

	if (partial_len == 0)
		partial_level = level;
	n = vsnprintf(partial + partial_len, sizeof(partial) - partial_len, fmt, ap);
	if (n > 0)
		partial_len += (size_t)n < sizeof(partial) - partial_len ? (size_t)n
					 : sizeof(partial) - partial_len - 1;
	if (partial_len + 1 < sizeof(partial) && (partial_len == 0 || partial[partial_len - 1] != '\n'))
		return; /* wait for the rest of the line */
	while (partial_len && partial[partial_len - 1] == '\n')
		partial[--partial_len] = '\0';
	partial_len = 0;
	level = partial_level;
	line = strncmp(partial, "fuse: ", 6) == 0 ? partial + 6 : partial;
	/* A refused backing file: objects.c says it once, with what follows. */
	if (strncmp(line, "passthrough_open: ", 18) == 0)
		level = FUSE_LOG_DEBUG;
	if (capture_errors && level <= FUSE_LOG_ERR) {
		if (!startup_error[0])
			snprintf(startup_error, sizeof(startup_error), "%s", line);
		return;
	}
	cfs_log(level <= FUSE_LOG_ERR ? CFS_LOG_ERROR : level == FUSE_LOG_WARNING ? CFS_LOG_WARNING
		: level == FUSE_LOG_DEBUG ? CFS_LOG_DEBUG : CFS_LOG_INFO, "%s", line);
}

/* ---- setup */

static void fs_release(struct cfs_fs *fs)
{
	cfs_prefetch_free(fs->prefetch); /* first: its threads use the rest */
	cfs_speculator_free(fs->speculator);
	cfs_fetcher_free(fs->fetcher);
	cfs_packmap_release(&fs->packs);
	cfs_trace_free(fs->trace);
	free(fs->seen);
	free(fs->workset);
	cfs_remote_free(fs->remote);
	cfs_cache_free(fs->cache);
	cfs_objtab_release(&fs->objs);
	cfs_tree_release(&fs->tree);
	free(fs->store_url);
}

/*
 * The pack map loads on a thread of its own while the tree loads: each
 * takes a core for a few tens of milliseconds of a mount with a big index.
 * Sorted by place (and with the dependencies), since speculation and
 * streams fetch neighbours, unless a local store is given with
 * --speculate 0: then objects are only found by digest.
 */
struct packmap_job {
	struct cfs_packmap *m;
	const char *index;
	bool ordered;
	bool running;
	pthread_t thread;
	errint_t r;
	struct cfs_err err;
};

static void *packmap_job_run(void *arg)
{
	struct packmap_job *j = arg;

	j->r = cfs_packmap_load(j->m, j->index, j->ordered, &j->err);
	return NULL;
}

static void packmap_job_start(struct packmap_job *j)
{
	j->running = cfs_thread_start(&j->thread, packmap_job_run, j) == 0;
	if (!j->running)
		packmap_job_run(j);
}

static errint_t packmap_job_join(struct packmap_job *j, struct cfs_err *err)
{
	if (j->running)
		pthread_join(j->thread, NULL);
	j->running = false;
	if (j->r < 0)
		*err = j->err;
	return j->r;
}

static errint_t fs_setup_rest(struct cfs_fs *fs, const struct cfs_fs_opts *o, struct cfs_err *err);

static errint_t fs_setup(struct cfs_fs *fs, const struct cfs_fs_opts *o, struct cfs_err *err)
{
	struct packmap_job pj = {
		.m = &fs->packs,
		.index = o->index,
		.ordered = o->speculate || !o->store || cfs_remote_is_url(o->store),
	};
	struct cfs_err later;
	struct cfs_fetcher_opts fo;
	errint_t r;

	memset(fs, 0, sizeof(*fs));
	if (!o->no_packs)
		packmap_job_start(&pj);
	r = fs_setup_rest(fs, o, err);
	/* The first error is the one to tell. */
	if (!o->no_packs && packmap_job_join(&pj, &later) < 0 && r == 0) {
		*err = later;
		r = pj.r;
	}
	if (r < 0)
		return r;
	if (!cfs_remote_url(fs->remote)) {
		if (!o->no_packs)
			fs->speculator = cfs_speculator_new(fs, o->speculate);
		return 0;
	}
	fo = (struct cfs_fetcher_opts){
		.packs = !o->no_packs,
		.speculate = o->speculate,
		.stream_packs = o->stream_packs,
		/* HTTP/2 over http:// is prior knowledge: nothing to negotiate. */
		.http_version = o->http_version == 11 ? CURL_HTTP_VERSION_1_1
				: o->http_version != 2 ? 0
				: strncmp(fs->store_url, "http://", 7) == 0
				? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE : CURL_HTTP_VERSION_2TLS,
		.cacert = o->cacert,
	};
	return cfs_fetcher_new(fs, &fo, &fs->fetcher, err);
}

/* Everything but the pack map and the fetch engine. */
static errint_t fs_setup_rest(struct cfs_fs *fs, const struct cfs_fs_opts *o, struct cfs_err *err)
{
	cleanup_free char *cache_dir = o->cache_dir ? cfs_xstrdup(o->cache_dir)
						    : cfs_fs_default_cache_dir();
	int r;

	cfs_objtab_init(&fs->objs);
	fs->uid = getuid();
	fs->gid = getgid();
	fs->started = time(NULL);
	atomic_store(&fs->passthrough, !o->no_passthrough);
	fs->want_no_open = o->no_open;
	fs->single_thread = o->single_thread;
	if ((r = cfs_tree_load(&fs->tree, o->index, err)) < 0)
		return r;
	if ((r = cfs_access_setup(fs, o, err)) < 0)
		return r;
	if (o->trace && (r = cfs_trace_open(o->trace, &fs->trace, err)) < 0)
		return r;
	if ((o->prefetch || (o->workset && !o->strict)) &&
	    (r = cfs_prefetch_load(fs, o->prefetch, o->workset, &fs->prefetch, err)) < 0)
		return r;
	if (o->store)
		fs->store_url = cfs_xstrdup(o->store);
	else if (fs->tree.store)
		fs->store_url = cfs_xstrdup(fs->tree.store);
	else
		return cfs_err_set(err, EINVAL, "%s: the index names no store; pass --store",
				   o->index);
	if ((r = cfs_remote_new(fs->store_url, o->fetch_timeout, o->fetch_retries, &fs->remote,
				err)) < 0)
		return r;
	return cfs_cache_open(cache_dir, o->cache_size, &fs->stats, cfs_objtab_held_unlinked, fs,
			      &fs->cache, err);
}

/*
 * A dead condafs mount at mp (its daemon was killed) is detached: a
 * restarted sidecar then mounts again where the old one died.  Dead mounts
 * of other file systems are left to their owners.
 */
static bool detach_dead_condafs(const char *mp)
{
	cleanup_free char *abs = cfs_fs_absolute_path(mp);
	struct cfs_err ignored;
	char fstype[64];

	/* cfs_fs_umount: umount2, or fusermount3 -u -z for a user's mount. */
	if (cfs_fs_top_mount(abs, fstype, sizeof(fstype)) < 0 ||
	    strcmp(fstype, "fuse.condafs") != 0 || cfs_fs_umount(mp, true, &ignored) < 0)
		return false;
	cfs_warn("%s: detached the dead condafs mount that was there", mp);
	return true;
}

struct statfs_answer {
	int err;
	struct statfs sfs;
};

static void statfs_child(const char *path, void *out)
{
	struct statfs_answer *a = out;

	a->err = statfs(path, &a->sfs) < 0 ? errno : 0;
}

/*
 * statfs(mp), which always asks the file system (stat may answer from
 * cached attributes); in a child with a time bound when a FUSE file system
 * is mounted there, since a hung daemon never answers.
 */
static errint_t statfs_bounded(const char *mp, struct statfs *sfs)
{
	cleanup_free char *abs = cfs_fs_absolute_path(mp);
	struct statfs_answer a = { 0 };
	char fstype[64];
	int r;

	if (cfs_fs_top_mount(abs, fstype, sizeof(fstype)) < 0 || strncmp(fstype, "fuse", 4) != 0)
		return statfs(mp, sfs) < 0 ? -errno : 0;
	if ((r = cfs_fs_probe(statfs_child, mp, PROBE_MS, &a, sizeof(a))) < 0)
		return r;
	*sfs = a.sfs;
	return -a.err;
}

/*
 * Refuses a missing mount point, a stale FUSE mount, or a live FUSE mount;
 * a dead condafs mount is detached; with overmount (a private mount
 * namespace), any stale mount is detached and a live one mounted over.
 */
static errint_t check_mountpoint(const char *mp, bool overmount, struct cfs_err *err)
{
	cleanup_free char *parent = cfs_xasprintf("%s/..", mp);
	struct stat st, pst;
	struct statfs sfs;
	int r = statfs_bounded(mp, &sfs);

	if (r == -ENOTCONN &&
	    ((overmount && umount2(mp, MNT_DETACH) == 0) || detach_dead_condafs(mp)))
		r = statfs_bounded(mp, &sfs);
	if (r == 0 && stat(mp, &st) < 0)
		r = -errno;
	if (r == -ENOTCONN)
		return cfs_err_set(err, EBUSY, "%s: a dead FUSE mount is still there; "
				   "run 'condafs umount -z %s' first", mp, mp);
	if (r == -ETIMEDOUT)
		return cfs_err_set(err, EBUSY, "%s: the FUSE daemon mounted there does not answer "
				   "within %d s; 'condafs umount -z %s' detaches it", mp,
				   PROBE_MS / 1000, mp);
	if (r < 0)
		return cfs_err_set(err, -r, "mount point %s: %s", mp, strerror(-r));
	if (!S_ISDIR(st.st_mode))
		return cfs_err_set(err, ENOTDIR, "mount point %s: %s", mp, strerror(ENOTDIR));
	if (!overmount && stat(parent, &pst) == 0 &&
	    (pst.st_dev != st.st_dev || pst.st_ino == st.st_ino) &&
	    sfs.f_type == CFS_FUSE_SUPER_MAGIC)
		return cfs_err_set(err, EBUSY, "mount point %s: already a FUSE mount", mp);
	return 0;
}

/* "a,b" -> "a\,b": a value inside a FUSE -o list. */
static void add_escaped(struct cfs_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == ',' || *s == '\\')
			cfs_buf_add(b, "\\", 1);
		cfs_buf_add(b, s, 1);
	}
}

static struct fuse_session *new_session(struct cfs_fs *fs, const struct cfs_fs_opts *o,
					struct cfs_err *err)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se;
	cleanup_free char *index = realpath(o->index, NULL);
	cleanup_buf struct cfs_buf opts;

	cfs_buf_init(&opts, 1 << 16);
	fuse_opt_add_arg(&args, "condafs");
	if (o->fuse_opts && *o->fuse_opts) {
		fuse_opt_add_arg(&args, "-o");
		fuse_opt_add_arg(&args, o->fuse_opts);
	}
	/* Ours come last so that a stray "rw" cannot win. */
	cfs_buf_addstr(&opts, "ro,default_permissions,subtype=condafs,fsname=");
	add_escaped(&opts, index ? index : o->index);
	if (geteuid() == 0)
		cfs_buf_addstr(&opts, ",allow_other");
	fuse_opt_add_arg(&args, "-o");
	fuse_opt_add_arg(&args, opts.data);
	if (o->debug)
		fuse_opt_add_arg(&args, "-d");
	se = fuse_session_new(&args, &cfs_fs_ops, sizeof(cfs_fs_ops), fs);
	fuse_opt_free_args(&args);
	if (!se)
		cfs_err_set(err, EINVAL, "%s", startup_error[0] ? startup_error
					       : "cannot create the FUSE session");
	return se;
}

static errint_t serve(struct fuse_session *se, const struct cfs_fs_opts *o)
{
	struct fuse_loop_config *cfg;
	int r;

	if (o->single_thread)
		return fuse_session_loop(se) < 0 ? -EIO : 0;
	cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_max_threads(cfg, MAX_THREADS);
	fuse_loop_cfg_set_idle_threads(cfg, 8);
	r = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return r < 0 ? -EIO : 0;
}

/* Waits for the child's "OK" or its error line. */
static errint_t wait_child(pid_t pid, int fd, struct cfs_err *err)
{
	char msg[600];
	size_t len = 0;
	int status;

	for (;;) {
		ssize_t n = read(fd, msg + len, sizeof(msg) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(msg) - 1)
			break;
	}
	msg[len] = '\0';
	if (strcmp(msg, "OK") == 0)
		return 0;
	if (len)
		return cfs_err_set(err, EIO, "%s", msg);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return cfs_err_set(err, EIO, "the mount daemon exited before the mount was ready (%s %d)",
			   WIFSIGNALED(status) ? "signal" : "status",
			   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/* Detaches a ready daemon from the terminal: syslog (or the log file, or
 * stderr kept as it is), no other stdio, cwd /. */
static void detach(const char *log_file, bool log_stderr)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	int logfd = log_file ? open(log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;

	if (logfd < 0 && log_stderr && !log_file)
		logfd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (logfd < 0) {
		if (log_file)
			cfs_warn("%s: %s; logging to syslog", log_file, strerror(errno));
		cfs_log_set_syslog(1);
	}
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(logfd >= 0 ? logfd : fd, STDERR_FILENO);
		close(fd);
	}
	if (logfd >= 0)
		close(logfd);
	if (chdir("/") < 0)
		cfs_warn("chdir /: %s", strerror(errno));
}

/*
 * Sets up, forks unless in the foreground, mounts and serves.  In the
 * parent, returns once the child is ready, with its pid in *pid.  The
 * child returns 0 once unmounted, or exits if exit_child.
 */
static errint_t mount_and_serve(const struct cfs_fs_opts *o, bool exit_child, pid_t *pid,
				struct cfs_err *err)
{
	struct cfs_fs *fs = cfs_xcalloc(1, sizeof(*fs));
	struct fuse_session *se = NULL;
	cleanup_free char *mp = NULL;
	int pipefd[2] = { -1, -1 };
	pid_t parent = getpid();
	sigset_t mask;
	int r;

	fuse_set_log_func(fuse_log_fn);
	/*
	 * Many threads each briefly holding megabytes (zstd windows): a few
	 * arenas, and big blocks always mmapped so they go back on free.  Without
	 * this, glibc's growing mmap threshold keeps them in per-thread arenas.
	 */
	mallopt(M_ARENA_MAX, 4);
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	r = cfs_fs_opts_check(o, err);
	if (r == 0)
		r = check_mountpoint(o->mountpoint, o->overmount, err);
	if (r == 0)
		r = fs_setup(fs, o, err);
	if (r < 0)
		goto out;
	mp = realpath(o->mountpoint, NULL);
	if (!o->foreground) {
		if (pipe2(pipefd, O_CLOEXEC) < 0 || (*pid = fork()) < 0) {
			r = cfs_err_set(err, errno, "cannot start the daemon: %s", strerror(errno));
			goto out;
		}
		if (*pid > 0) {
			close(pipefd[1]);
			r = wait_child(*pid, pipefd[0], err);
			close(pipefd[0]);
			goto out;
		}
		close(pipefd[0]);
		setsid();
		sigemptyset(&mask); /* whatever the caller blocked: SIGTERM must stop us */
		sigprocmask(SIG_SETMASK, &mask, NULL);
		/* condafs run: never outlive it, whatever kills it. */
		if (o->die_with_parent &&
		    (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent))
			_exit(1);
	}
	capture_errors = true; /* libfuse's errors become our one line */
	se = fs->se = new_session(fs, o, err);
	if (!se) {
		r = -EINVAL;
		goto fail_child;
	}
	if (fuse_set_signal_handlers(se) < 0) {
		r = cfs_err_set(err, EIO, "cannot set signal handlers");
		goto fail_session;
	}
	if (fuse_session_mount(se, mp ? mp : o->mountpoint) != 0) {
		r = cfs_err_set(err, EIO, "cannot mount %s: %s", o->mountpoint,
				startup_error[0] ? startup_error : "mount failed");
		goto fail_signals;
	}
	capture_errors = false;
	if (fs->trace && (r = cfs_trace_header(fs->trace, &fs->tree, o->index, err)) < 0)
		goto fail_mount;
	cfs_info("serving %s at %s (store %s, cache %s)", o->index, mp ? mp : o->mountpoint,
		 fs->store_url, cfs_cache_dir(fs->cache));
	if (pipefd[1] >= 0) {
		cfs_write_all(pipefd[1], "OK", 2);
		close(pipefd[1]);
		pipefd[1] = -1;
		detach(o->log_file, o->log_stderr);
	}
	cfs_cache_start(fs->cache);
	cfs_speculator_start(fs->speculator);
	cfs_prefetch_start(fs, fs->prefetch, o->prefetch_jobs);
	r = serve(se, o);
fail_mount:
	fuse_session_unmount(se);
fail_signals:
	fuse_remove_signal_handlers(se);
fail_session:
	fuse_session_destroy(se);
fail_child:
	if (pipefd[1] >= 0) {
		/* A child that never got ready: the parent prints the error, as
		 * fuse_daemonize() does, the child leaves without unwinding. */
		cfs_write_all(pipefd[1], err->msg, strlen(err->msg));
		_exit(1);
	}
	if (exit_child && !o->foreground) {
		fs_release(fs);
		free(fs);
		exit(r < 0 ? 1 : 0);
	}
out:
	fs_release(fs);
	free(fs);
	return r;
}

errint_t cfs_fs_mount(const struct cfs_fs_opts *o, struct cfs_err *err)
{
	pid_t pid;

	return mount_and_serve(o, false, &pid, err);
}

errint_t cfs_fs_spawn(const struct cfs_fs_opts *o, pid_t *pid, struct cfs_err *err)
{
	struct cfs_fs_opts bg = *o;

	bg.foreground = false;
	return mount_and_serve(&bg, true, pid, err);
}

errint_t cfs_fs_umount(const char *mountpoint, bool lazy, struct cfs_err *err)
{
	char *argv[] = { (char *)"fusermount3", (char *)"-u", (char *)"-z", NULL, NULL };
	pid_t pid;
	int status, r;

	if (geteuid() == 0) {
		if (umount2(mountpoint, lazy ? MNT_DETACH : 0) < 0)
			return cfs_err_set(err, errno, "umount %s: %s", mountpoint, strerror(errno));
		return 0;
	}
	if (lazy)
		argv[3] = (char *)mountpoint;
	else
		argv[2] = (char *)mountpoint;
	r = posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ);
	if (r != 0)
		return cfs_err_set(err, r, "fusermount3: %s", strerror(r));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return cfs_err_set(err, errno, "fusermount3: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return cfs_err_set(err, EIO, "fusermount3 -u %s failed", mountpoint);
	return 0;
}

errint_t cfs_fs_read_stats(const char *mountpoint, char **json, struct cfs_err *err)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		ssize_t size = getxattr(mountpoint, CFS_FS_STATS_XATTR, NULL, 0);
		char *buf;
		ssize_t n;

		if (size < 0)
			break;
		buf = cfs_xmalloc((size_t)size + 1);
		n = getxattr(mountpoint, CFS_FS_STATS_XATTR, buf, (size_t)size);
		if (n >= 0) {
			buf[n] = '\0';
			*json = buf;
			return 0;
		}
		free(buf);
		if (errno != ERANGE)
			break;
	}
	if (errno == ENODATA || errno == ENOTSUP)
		return cfs_err_set(err, errno, "%s: not the root of a condafs mount", mountpoint);
	return cfs_err_set(err, errno, "%s: %s", mountpoint, strerror(errno));
}

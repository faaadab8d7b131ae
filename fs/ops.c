/* SPDX-License-Identifier: MIT */
/*
 * The FUSE low-level operations: a read-only view of the in-memory tree.
 * Errors are 0/-errno internally and become fuse_reply_err(req, -r) here,
 * at the edge.  The environment never changes while mounted, so entries,
 * attributes, negative lookups, directory listings and file pages are all
 * cached by the kernel for as long as it likes.  Nodes the mount does not
 * serve (pruned ones with --pruned=enoent, those outside the working set
 * with --strict) look absent, and their first lookup is logged; the
 * first lookup, getattr, open, readlink and readdir of each served node
 * go to the trace (--trace).
 */
#include <string.h>
#include <sys/ioctl.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include "db.h"
#include "fs-internal.h"
#include "log.h"

#define TTL (86400.0 * 365)

static struct cfs_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void fill_attr(const struct cfs_fs *fs, fuse_ino_t ino, const struct cfs_inode *n,
		      struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = n->mode;
	st->st_nlink = S_ISDIR(n->mode) ? 2 + n->subdirs : 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = (off_t)n->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
	st->st_mtim.tv_sec = n->mtime;
	st->st_mtim.tv_nsec = n->mtime_nsec;
	st->st_atim = st->st_ctim = st->st_mtim;
}

static void fill_entry(const struct cfs_fs *fs, fuse_ino_t ino, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->attr_timeout = e->entry_timeout = TTL;
	if (ino)
		fill_attr(fs, ino, &fs->tree.nodes[ino], &e->attr);
}

/* The served node ino, or NULL. */
static const struct cfs_inode *get_node(struct cfs_fs *fs, fuse_ino_t ino)
{
	const struct cfs_inode *n = cfs_tree_get(&fs->tree, ino);

	return n && !(n->flags & CFS_INODE_UNSERVED) ? n : NULL;
}

/* The directory ino, or NULL with *r set. */
static const struct cfs_inode *get_dir(struct cfs_fs *fs, fuse_ino_t ino, int *r)
{
	const struct cfs_inode *n = get_node(fs, ino);

	*r = !n ? -ENOENT : !S_ISDIR(n->mode) ? -ENOTDIR : 0;
	return *r ? NULL : n;
}

/*
 * An open file's fh: its object, with the low bit set when the kernel
 * reads it through the object's backing file (passthrough).
 */
#define FH_PASSTHROUGH ((uintptr_t)1)

static struct cfs_obj *fh_obj(const struct fuse_file_info *fi)
{
	return (struct cfs_obj *)(uintptr_t)(fi->fh & ~FH_PASSTHROUGH);
}

/*
 * Passthrough, when both libfuse (>= 3.16) and the kernel (>= 6.9) have
 * it and --no-passthrough is not given: opens of cached files hand the
 * cache file to the kernel, which then serves read() and mmap() from it
 * without a round trip to the daemon.  It needs CAP_SYS_ADMIN; the first
 * refusal turns it off (objects.c).  Passthrough is a speed-up, never
 * needed for correct answers: each reason to go without it is one line at
 * info level (-v, or the daemon's log), not a warning on every mount.
 */
static void want_passthrough(struct cfs_fs *fs, struct fuse_conn_info *conn)
{
#ifdef FUSE_CAP_PASSTHROUGH
	if (!atomic_load(&fs->passthrough)) {
		cfs_info("passthrough: off (--no-passthrough): the daemon serves every read");
	} else if (!(conn->capable & FUSE_CAP_PASSTHROUGH)) {
		atomic_store(&fs->passthrough, false);
		cfs_info("passthrough: this kernel does not offer it; the daemon serves every read");
	} else {
		conn->want |= FUSE_CAP_PASSTHROUGH;
		cfs_info("passthrough: on: the kernel reads cached files without the daemon");
	}
#else
	if (atomic_exchange(&fs->passthrough, false))
		cfs_info("passthrough: off: condafs was built against libfuse %d.%d, which has none "
			 "(3.16 or later has); the daemon serves every read", FUSE_MAJOR_VERSION,
			 FUSE_MINOR_VERSION);
#endif
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct cfs_fs *fs = userdata;

	want_passthrough(fs, conn);
	/*
	 * Directories need no open: answering the first OPENDIR with ENOSYS
	 * makes the kernel stop sending OPENDIR and RELEASEDIR (two requests
	 * per directory listed, one of them waited on), and it then caches
	 * every listing as FOPEN_CACHE_DIR would.
	 */
	if (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) {
		conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
		fs->no_opendir = true;
	}
	/*
	 * --no-open: the first OPEN is answered with ENOSYS, and the kernel
	 * then opens files without asking and keeps their pages across opens:
	 * no OPEN and RELEASE per file (two of the three requests of a cached
	 * file with passthrough), but every read the page cache lacks comes to
	 * the daemon (op_read fetches the object then), as passthrough needs
	 * an open.  Profiling records opens, so a trace keeps them.
	 */
	if (fs->want_no_open && fs->trace)
		cfs_info("no-open: off: --trace records every open");
	else if (fs->want_no_open && !(conn->capable & FUSE_CAP_NO_OPEN_SUPPORT))
		cfs_info("no-open: this kernel does not offer it; files are opened as usual");
	else if (fs->want_no_open) {
		conn->want |= FUSE_CAP_NO_OPEN_SUPPORT;
		fs->no_open = true;
		atomic_store(&fs->store_ahead, !fs->single_thread); /* see op_ioctl */
		atomic_store(&fs->passthrough, false);
		cfs_info("no-open: on: the kernel opens files without the daemon (no passthrough)");
	}
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	/* Nothing ever changes: no need to revalidate pages on attribute changes. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cfs_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	const struct cfs_inode *dir;
	uint32_t child;
	int r;

	if (!(dir = get_dir(fs, parent, &r))) {
		fuse_reply_err(req, -r);
		return;
	}
	if (strlen(name) > 255) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	child = cfs_tree_lookup(&fs->tree, dir, name);
	if (child && (fs->tree.nodes[child].flags & (CFS_INODE_PRUNED | CFS_INODE_UNSERVED))) {
		/* Logged before the kernel caches the answer, negative or not. */
		cfs_access_note(fs, req, child);
		if (fs->tree.nodes[child].flags & CFS_INODE_UNSERVED)
			child = 0;
	}
	if (child)
		cfs_trace_op(fs, req, child, CFS_TRACE_LOOKUP);
	/* ino 0 with a timeout: a negative entry the kernel caches. */
	fill_entry(fs, child, &e);
	fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fuse_reply_none(req); /* inodes live as long as the mount */
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cfs_fs *fs = fs_of(req);
	const struct cfs_inode *n = get_node(fs, ino);
	struct stat st;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	cfs_trace_op(fs, req, (uint32_t)ino, CFS_TRACE_GETATTR);
	fill_attr(fs, ino, n, &st);
	fuse_reply_attr(req, &st, TTL);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct cfs_fs *fs = fs_of(req);
	const struct cfs_inode *n = get_node(fs, ino);

	if (!n || !S_ISLNK(n->mode)) {
		fuse_reply_err(req, n ? EINVAL : ENOENT);
		return;
	}
	cfs_trace_op(fs, req, (uint32_t)ino, CFS_TRACE_READLINK);
	fuse_reply_readlink(req, cfs_tree_str(&fs->tree, n->data));
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cfs_fs *fs = fs_of(req);
	const struct cfs_inode *n = get_node(fs, ino);
	struct cfs_obj *o = NULL;
	int r;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	cfs_trace_op(fs, req, (uint32_t)ino, CFS_TRACE_OPEN);
	if (S_ISDIR(n->mode) || !S_ISREG(n->mode)) {
		fuse_reply_err(req, S_ISDIR(n->mode) ? EISDIR : EINVAL);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (fs->no_open) {
		/* The kernel takes it as success, and asks no more. */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	atomic_fetch_add(&fs->stats.opens, 1);
	if (n->size > 0) {
		r = cfs_obj_get(fs, (uint32_t)ino, &o);
		if (r < 0) {
			fuse_reply_err(req, -r);
			return;
		}
	}
	fi->fh = (uintptr_t)o;
	fi->keep_cache = 1;
	fi->noflush = 1;
#ifdef FUSE_CAP_PASSTHROUGH
	if (o && (fi->backing_id = cfs_obj_passthrough_open(fs, req, o))) {
		fi->fh |= FH_PASSTHROUGH;
		/* The kernel caches the backing file's pages, not this file's. */
		fi->keep_cache = 0;
	}
#endif
	if (fuse_reply_open(req, fi) < 0 && o) {
		/* Interrupted: no release will come. */
		if (fi->fh & FH_PASSTHROUGH)
			cfs_obj_passthrough_release(fs, req, o);
		cfs_obj_put(fs, o);
	}
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct cfs_fs *fs = fs_of(req);
	struct cfs_obj *o = fh_obj(fi), *held = NULL;
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(0);
	const struct cfs_inode *n;
	int r;

	/* Without opens (--no-open) the read brings the object in. */
	if (!o && fs->no_open && (n = get_node(fs, ino)) && S_ISREG(n->mode) && n->size > 0) {
		if ((r = cfs_obj_get(fs, (uint32_t)ino, &held)) < 0) {
			fuse_reply_err(req, -r);
			return;
		}
		o = held;
	}
	if (!o || off < 0 || (uint64_t)off >= o->size) {
		fuse_reply_buf(req, NULL, 0);
		if (held)
			cfs_obj_put(fs, held);
		return;
	}
	if (size > o->size - (uint64_t)off)
		size = (size_t)(o->size - (uint64_t)off);
	buf.buf[0].size = size;
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = o->fd;
	buf.buf[0].pos = off;
	atomic_fetch_add(&fs->stats.bytes_served, size);
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
	if (held)
		cfs_obj_put(fs, held);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cfs_obj *o = fh_obj(fi);

	if (fi->fh & FH_PASSTHROUGH)
		cfs_obj_passthrough_release(fs_of(req), req, o);
	if (o)
		cfs_obj_put(fs_of(req), o);
	fuse_reply_err(req, 0);
}

/* Largest file stored ahead of its reads (see op_ioctl). */
#define STORE_AHEAD_MAX (1u << 20)
/*
 * Stores under way at once.  Each may wait for a READ that another of the
 * daemon's threads (64 at most) must answer, so they never take them all.
 */
#define STORES_MAX 8

/*
 * Stores file ino's bytes in the kernel's page cache for it
 * (FUSE_NOTIFY_STORE), once per mount: the reads that follow are then
 * served by the kernel.  A failure costs nothing but those reads, which
 * come to op_read as before; the next isatty() tries again.
 */
static void store_ahead(struct cfs_fs *fs, fuse_ino_t ino)
{
	const struct cfs_inode *n = get_node(fs, ino);
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(0);
	struct cfs_obj *o;
	int r = -EBUSY;

	if (!n || !S_ISREG(n->mode) || n->size == 0 || n->size > STORE_AHEAD_MAX ||
	    atomic_fetch_or(&fs->seen[ino], CFS_SEEN_STORED) & CFS_SEEN_STORED)
		return;
	if (atomic_fetch_add(&fs->storing, 1) < STORES_MAX &&
	    (r = cfs_obj_get(fs, (uint32_t)ino, &o)) == 0) { /* a failure is logged */
		buf.buf[0].size = o->size;
		buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		buf.buf[0].fd = o->fd;
		r = fuse_lowlevel_notify_store(fs->se, ino, 0, &buf, 0);
		cfs_obj_put(fs, o);
		if (r == -ENOSYS && atomic_exchange(&fs->store_ahead, false))
			cfs_info("no-open: this kernel cannot be sent file contents; "
				 "reads fetch them instead");
		else if (r < 0) {
			char path[PATH_MAX];

			cfs_tree_path(&fs->tree, (uint32_t)ino, path, sizeof(path));
			cfs_debug("%s: not stored in the page cache: %s", path, strerror(-r));
		}
	}
	atomic_fetch_sub(&fs->storing, 1);
	if (r == 0)
		atomic_fetch_add(&fs->stats.stored, 1);
	else
		atomic_fetch_and(&fs->seen[ino], (uint8_t)~CFS_SEEN_STORED);
}

/*
 * Python (up to 3.13) calls isatty() on every file it opens, and the kernel
 * sends every ioctl on a FUSE file to the daemon, however it was answered
 * before.  No file here is a terminal, or has any other ioctl.  Without
 * opens (--no-open) isatty()'s TCGETS is the daemon's only sign that a
 * file was opened, so it first stores the file's bytes in the page cache
 * (op_init turns this on): a module is then imported with a LOOKUP and this
 * one request.  A store waits for any page of the file that a READ holds
 * locked, so it needs another thread free to answer that READ: never with
 * one thread (-s), nor on an io_uring queue, which has one thread.
 */
static void op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		     struct fuse_file_info *fi, unsigned flags, const void *in_buf,
		     size_t in_bufsz, size_t out_bufsz)
{
	struct cfs_fs *fs = fs_of(req);
	bool store = cmd == TCGETS && !(flags & FUSE_IOCTL_DIR) && atomic_load(&fs->store_ahead);

#ifdef FUSE_CAP_OVER_IO_URING
	store = store && !fuse_req_is_uring(req);
#endif
	if (store)
		store_ahead(fs, ino);
	fuse_reply_err(req, ENOTTY);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int r;

	if (fs_of(req)->no_opendir) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if (!get_dir(fs_of(req), ino, &r)) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

/* Whether readdirplus may hand the kernel an entry for ino. */
static bool want_entry(struct cfs_fs *fs, uint32_t ino)
{
	if (fs->tree.nodes[ino].flags & (CFS_INODE_PRUNED | CFS_INODE_UNSERVED))
		return false;
	return !fs->trace ||
	       (atomic_load_explicit(&fs->seen[ino], memory_order_relaxed) & CFS_TRACE_LOOKUP);
}

/* Offsets: 0 is ".", 1 is "..", 2 + i is the i-th child in name order;
 * hidden children are skipped, so some offsets never appear. */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct cfs_fs *fs = fs_of(req);
	const struct cfs_inode *dir;
	cleanup_free char *buf = NULL;
	size_t pos = 0;
	int r;

	if (!(dir = get_dir(fs, ino, &r))) {
		fuse_reply_err(req, -r);
		return;
	}
	cfs_trace_op(fs, req, (uint32_t)ino, CFS_TRACE_READDIR);
	if (size > 1 << 20)
		size = 1 << 20;
	buf = cfs_xmalloc(size ? size : 1);
	for (uint64_t i = off < 0 ? 0 : (uint64_t)off; i < 2ull + dir->count; i++) {
		fuse_ino_t child;
		const char *name;
		struct fuse_entry_param e;
		size_t len;

		if (i < 2) {
			child = i == 0 ? ino : dir->parent ? dir->parent : ino;
			name = i == 0 ? "." : "..";
		} else {
			child = fs->tree.kids[dir->data + i - 2];
			if (fs->tree.nodes[child].flags & CFS_INODE_HIDDEN)
				continue;
			name = cfs_tree_str(&fs->tree, fs->tree.nodes[child].name);
		}
		fill_entry(fs, child, &e);
		if (plus) {
			/* No lookup count for "." and ".."; and no entry for a node
			 * whose first lookup must be logged or traced: the kernel
			 * then looks it up when it is used. */
			if (i < 2 || !want_entry(fs, (uint32_t)child))
				e.ino = 0;
			len = fuse_add_direntry_plus(req, buf + pos, size - pos, name, &e,
						     (off_t)(i + 1));
		} else {
			len = fuse_add_direntry(req, buf + pos, size - pos, name, &e.attr,
						(off_t)(i + 1));
		}
		if (len > size - pos)
			break;
		pos += len;
	}
	fuse_reply_buf(req, buf, pos);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, true);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct cfs_fs *fs = fs_of(req);
	struct statvfs sv;

	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = 4096;
	sv.f_blocks = (fs->tree.bytes + 4095) / 4096;
	sv.f_files = fs->tree.inodes;
	sv.f_namemax = 255;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct cfs_fs *fs = fs_of(req);
	cleanup_free char *json = NULL;
	size_t len;

	if (!get_node(fs, ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (ino != CFS_ROOT_INO || strcmp(name, CFS_FS_STATS_XATTR) != 0) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	json = cfs_stats_json(fs);
	len = strlen(json);
	if (size == 0)
		fuse_reply_xattr(req, len + 256); /* room for counters that grow meanwhile */
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, json, len);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	/* The stats attribute is deliberately not listed: cp -a and tar skip it. */
	if (size == 0)
		fuse_reply_xattr(req, 0);
	else
		fuse_reply_buf(req, NULL, 0);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	if (!get_node(fs_of(req), ino))
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_err(req, (mask & W_OK) ? EROFS : 0);
}

/* Everything that would change the tree. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	fuse_reply_err(req, EROFS);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	fuse_reply_err(req, EROFS);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	fuse_reply_err(req, EROFS);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	fuse_reply_err(req, EROFS);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	fuse_reply_err(req, EROFS);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, EROFS);
}

const struct fuse_lowlevel_ops cfs_fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.ioctl = op_ioctl,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.access = op_access,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_unlink,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.write = op_write,
	.create = op_create,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
};

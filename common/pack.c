/* SPDX-License-Identifier: MIT */
#include "pack.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "store.h"

void cfs_pack_add(struct cfs_pack *p, const uint8_t digest[CFS_SHA256_LEN], uint64_t csize)
{
	struct cfs_pack_entry *e;

	cfs_grow(&p->entries, p->n, &p->alloc, sizeof(*e), 64);
	e = &p->entries[p->n++];
	memcpy(e->digest, digest, CFS_SHA256_LEN);
	e->offset = p->size;
	e->csize = csize;
	p->size += csize;
}

void cfs_pack_finish(struct cfs_pack *p)
{
	cleanup_hash struct cfs_hash *h = cfs_hash_new(CFS_HASH_SHA256);
	uint8_t name[CFS_SHA256_LEN];
	char hex[2 * CFS_SHA256_LEN + 1], line[2 * CFS_SHA256_LEN + 32];

	for (size_t i = 0; i < p->n; i++) {
		cfs_hex(p->entries[i].digest, CFS_SHA256_LEN, hex);
		int len = snprintf(line, sizeof(line), "%s %llu\n", hex,
				   (unsigned long long)p->entries[i].csize);
		cfs_hash_update(h, line, (size_t)len);
	}
	cfs_hash_final(h, name);
	cfs_hex(name, CFS_SHA256_LEN, hex);
	snprintf(p->name, sizeof(p->name), "packs/%s.pack", hex);
}

void cfs_pack_release(struct cfs_pack *p)
{
	free(p->entries);
	cfs_pack_init(p);
}

/* Appends len bytes of in to out: copy_file_range (a reflink where the file
 * system can), else read and write. */
static errint_t copy_fd(int in, int out, uint64_t len)
{
	static __thread char buf[1 << 17];
	bool plain = false;

	while (len > 0) {
		ssize_t n;

		if (!plain) {
			n = copy_file_range(in, NULL, out, NULL, len, 0);
			if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
				      errno == EOPNOTSUPP)) {
				plain = true;
				continue;
			}
		} else {
			n = cfs_read_retry(in, buf, len < sizeof(buf) ? len : sizeof(buf));
			if (n > 0) {
				int r = cfs_write_all(out, buf, (size_t)n);
				if (r < 0)
					return r;
			}
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EBADMSG; /* the object shrank */
		len -= (uint64_t)n;
	}
	return 0;
}

static errint_t append_object(const char *dir, int out, const struct cfs_pack_entry *e,
			      struct cfs_err *err)
{
	char rel[CFS_OBJECT_RELPATH_LEN];
	cleanup_free char *path = NULL;
	cleanup_fd int fd = -1;
	struct stat st;
	int r;

	cfs_object_relpath(e->digest, rel);
	path = cfs_xasprintf("%s/%s", dir, rel);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return cfs_err_set(err, errno, "%s: %s", path, strerror(errno));
	if ((uint64_t)st.st_size != e->csize)
		return cfs_err_set(err, EBADMSG, "%s: %llu bytes, but the index says %llu",
				   path, (unsigned long long)st.st_size,
				   (unsigned long long)e->csize);
	r = copy_fd(fd, out, e->csize);
	if (r < 0)
		return cfs_err_set(err, -r, "%s: cannot copy into a pack: %s", path, strerror(-r));
	return 0;
}

bool cfs_pack_name_valid(const char *name)
{
	if (strlen(name) != CFS_PACK_RELPATH_LEN - 1 || strncmp(name, "packs/", 6) != 0 ||
	    strcmp(name + 6 + 64, ".pack") != 0)
		return false;
	for (size_t i = 6; i < 6 + 64; i++)
		if (!strchr("0123456789abcdef", name[i]) || !name[i])
			return false;
	return true;
}

/* 1 if the store has pack name with size bytes, else 0 with t open, or -errno. */
static errint_t pack_begin(struct cfs_store *s, const char *name, uint64_t size,
			   struct cfs_tmpfile *t, char **final)
{
	const char *dir = cfs_store_dir(s);
	cleanup_free char *packs = cfs_xasprintf("%s/packs", dir);
	cleanup_free char *tmpdir = cfs_xasprintf("%s/tmp", dir);
	struct stat st;
	int r;

	*final = cfs_xasprintf("%s/%s", dir, name);
	if (stat(*final, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == size)
		return 1;
	if ((r = cfs_mkdir_p(packs, 0755)) < 0 || (r = cfs_mkdir_p(tmpdir, 0755)) < 0 ||
	    (r = cfs_tmpfile_open(t, tmpdir, "pack")) < 0)
		return r;
	return 0;
}

errint_t cfs_store_write_pack(struct cfs_store *s, const struct cfs_pack *p, bool *written,
			      struct cfs_err *err)
{
	const char *dir = cfs_store_dir(s);
	cleanup_free char *final = NULL;
	struct cfs_tmpfile t = { .fd = -1 };
	int r;

	*written = false;
	r = pack_begin(s, p->name, p->size, &t, &final);
	if (r > 0)
		return 0;
	if (r < 0)
		return cfs_err_set(err, -r, "%s: cannot write a pack: %s", dir, strerror(-r));
	for (size_t i = 0; i < p->n; i++) {
		r = append_object(dir, t.fd, &p->entries[i], err);
		if (r < 0) {
			cfs_tmpfile_abort(&t);
			return r;
		}
	}
	/* Durability comes from cfs_store_sync() before anything refers to it. */
	r = cfs_tmpfile_commit(&t, final, false);
	if (r < 0)
		return cfs_err_set(err, -r, "%s: %s", final, strerror(-r));
	*written = true;
	return 0;
}

errint_t cfs_store_put_pack(struct cfs_store *s, int fd, const char *name, uint64_t size,
			    bool *written)
{
	cleanup_free char *final = NULL;
	struct cfs_tmpfile t = { .fd = -1 };
	int r;

	*written = false;
	if (!cfs_pack_name_valid(name))
		return -EINVAL;
	r = pack_begin(s, name, size, &t, &final);
	if (r > 0)
		return 0;
	if (r == 0)
		r = copy_fd(fd, t.fd, size);
	if (r < 0) {
		cfs_tmpfile_abort(&t);
		return r;
	}
	r = cfs_tmpfile_commit(&t, final, false);
	*written = r == 0;
	return r;
}

/* ---- digest sets */

static size_t slot_of(const uint8_t *digest, size_t nslots)
{
	uint64_t h;
	memcpy(&h, digest, sizeof(h)); /* digests are uniformly distributed */
	return (size_t)h & (nslots - 1);
}

static void set_insert(struct cfs_digest_set *set, const uint8_t *digest)
{
	size_t i = slot_of(digest, set->nslots);

	while (set->slots[i][CFS_SHA256_LEN])
		i = (i + 1) & (set->nslots - 1);
	memcpy(set->slots[i], digest, CFS_SHA256_LEN);
	set->slots[i][CFS_SHA256_LEN] = 1;
}

bool cfs_digest_set_add(struct cfs_digest_set *set, const uint8_t digest[CFS_SHA256_LEN])
{
	if ((set->n + 1) * 2 > set->nslots) {
		uint8_t(*old)[CFS_SHA256_LEN + 1] = set->slots;
		size_t n_old = set->nslots;

		set->nslots = n_old ? n_old * 2 : 1024;
		set->slots = cfs_xcalloc(set->nslots, sizeof(*set->slots));
		for (size_t i = 0; i < n_old; i++)
			if (old[i][CFS_SHA256_LEN])
				set_insert(set, old[i]);
		free(old);
	}
	for (size_t i = slot_of(digest, set->nslots); set->slots[i][CFS_SHA256_LEN];
	     i = (i + 1) & (set->nslots - 1))
		if (memcmp(set->slots[i], digest, CFS_SHA256_LEN) == 0)
			return false;
	set_insert(set, digest);
	set->n++;
	return true;
}

void cfs_digest_set_release(struct cfs_digest_set *set)
{
	free(set->slots);
	*set = (struct cfs_digest_set){ 0 };
}

/* SPDX-License-Identifier: MIT */
/*
 * The export as an OCI image layout (image-spec 1.0): oci-layout,
 * index.json, blobs/sha256/ with the layers, the image config and the
 * manifest, plus a docker-archive manifest.json at the top so that
 * `docker load` and `podman load` accept the directory once tarred.
 * Every byte is a function of the inputs: the config's times are the
 * index's "created" (or SOURCE_DATE_EPOCH), never the current time.
 */
#include <ctype.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include "db.h"
#include "export-internal.h"
#include "fsutil.h"

#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_LAYER "application/vnd.oci.image.layer.v1.tar"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct layer {
	char digest[72], diff_id[72];
	uint64_t size;
};

static const struct {
	const char *platform, *arch, *variant;
} platforms[] = {
	{ "linux-64", "amd64", NULL },
	{ "linux-aarch64", "arm64", "v8" },
	{ "linux-ppc64le", "ppc64le", NULL },
	{ "linux-s390x", "s390x", NULL },
	{ "linux-armv7l", "arm", "v7" },
	{ "linux-32", "386", NULL },
};

static bool ref_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '-' || c == '/' || c == ':';
}

/* condafs/<index file name without .cfs, lowercased, other characters as '-'>. */
static char *default_repo(const char *index)
{
	const char *b = strrchr(index, '/');
	char *repo, *s;
	size_t len;

	b = b ? b + 1 : index;
	len = strlen(b);
	if (len > 4 && strcmp(b + len - 4, ".cfs") == 0)
		len -= 4;
	repo = cfs_xasprintf("condafs/%.*s", (int)len, b);
	for (s = repo + 8; *s; s++) {
		*s = (char)tolower((unsigned char)*s);
		if (!ref_char(*s) || *s == '/' || *s == ':')
			*s = '-';
	}
	if (!repo[8] || !isalnum((unsigned char)repo[8]))
		repo[8] = repo[8] ? 'x' : '\0';
	if (!repo[8]) {
		free(repo);
		repo = cfs_xstrdup("condafs/env");
	}
	return repo;
}

errint_t export_oci_prepare(struct export_ctx *x)
{
	const char *name = x->o->name;
	cleanup_free char *repo = NULL;
	const char *colon, *slash;

	for (size_t i = 0; i < CFS_ARRAY_SIZE(platforms); i++)
		if (strcmp(x->tree->platform, platforms[i].platform) == 0) {
			x->arch = platforms[i].arch;
			x->variant = platforms[i].variant;
			x->os = "linux";
		}
	if (!x->arch)
		return cfs_err_set(x->err, EINVAL, "%s: platform '%s' has no OCI equivalent "
				   "(linux-64, linux-aarch64, ...)", x->o->index, x->tree->platform);
	if (!name) {
		repo = default_repo(x->o->index);
		x->ref = cfs_xasprintf("%s:latest", repo);
		x->tag = cfs_xstrdup("latest");
		return 0;
	}
	colon = strrchr(name, ':');
	slash = strrchr(name, '/');
	if (colon && (!slash || colon > slash)) {
		repo = cfs_xstrndup(name, (size_t)(colon - name));
		x->tag = cfs_xstrdup(colon + 1);
	} else {
		repo = cfs_xstrdup(name);
		x->tag = cfs_xstrdup("latest");
	}
	for (const char *s = repo; *s; s++)
		if (!ref_char(*s) || (*s == '/' && (s == repo || s[1] == '/' || !s[1])))
			return cfs_err_set(x->err, EINVAL, "--name: '%s' is not an image reference "
					   "(lowercase [registry/]path[:tag])", name);
	if (!*repo || !*x->tag || strlen(x->tag) > 128 || x->tag[0] == '.' || x->tag[0] == '-')
		return cfs_err_set(x->err, EINVAL, "--name: '%s' is not an image reference "
				   "(lowercase [registry/]path[:tag])", name);
	for (const char *s = x->tag; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
			return cfs_err_set(x->err, EINVAL, "--name: bad tag '%s'", x->tag);
	x->ref = cfs_xasprintf("%s:%s", repo, x->tag);
	return 0;
}

static void digest_str(const uint8_t d[CFS_SHA256_LEN], char out[72])
{
	char hex[2 * CFS_SHA256_LEN + 1];

	cfs_hex(d, CFS_SHA256_LEN, hex);
	snprintf(out, 72, "sha256:%s", hex);
}

static errint_t write_at(struct export_ctx *x, int dirfd, const char *dir, const char *name,
			 const void *data, size_t len)
{
	cleanup_fd int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int r;

	if (fd < 0)
		return cfs_err_set(x->err, errno, "%s/%s: %s", dir, name, strerror(errno));
	r = cfs_write_all(fd, data, len);
	if (r == 0 && close(cfs_steal_fd(&fd)) < 0)
		r = -errno;
	if (r < 0)
		return cfs_err_set(x->err, -r, "%s/%s: %s", dir, name, strerror(-r));
	return 0;
}

/* Writes j compactly as a blob; fills digest ("sha256:...") and size. */
static errint_t write_json_blob(struct export_ctx *x, int dirfd, const char *dir, json_t *j,
				char digest[72], uint64_t *size)
{
	cleanup_free char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	cleanup_free char *name = NULL;
	uint8_t d[CFS_SHA256_LEN];

	json_decref(j);
	cfs_sha256(text, strlen(text), d);
	digest_str(d, digest);
	*size = strlen(text);
	name = cfs_xasprintf("blobs/sha256/%s", digest + 7);
	return write_at(x, dirfd, dir, name, text, strlen(text));
}

static errint_t write_json_file(struct export_ctx *x, int dirfd, const char *dir,
				const char *name, json_t *j)
{
	cleanup_free char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(j);
	return write_at(x, dirfd, dir, name, text, strlen(text));
}

/* A layer is streamed into a temporary blob and renamed to its digest. */
static errint_t layer_open(struct export_ctx *x, int dirfd, const char *dir, int *fd)
{
	*fd = openat(dirfd, "blobs/sha256/.layer.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		     0644);
	if (*fd < 0)
		return cfs_err_set(x->err, errno, "%s/blobs/sha256: %s", dir, strerror(errno));
	return 0;
}

static errint_t layer_close(struct export_ctx *x, int dirfd, const char *dir, int fd,
			    struct export_stream *s, struct layer *l)
{
	uint8_t raw[CFS_SHA256_LEN], out[CFS_SHA256_LEN];
	cleanup_free char *name = NULL;
	int r = export_stream_finish(s);

	if (r == 0 && close(fd) < 0)
		r = -errno;
	if (r < 0)
		return cfs_err_set(x->err, -r, "%s/blobs/sha256: %s", dir, strerror(-r));
	export_stream_digests(s, raw, out);
	digest_str(raw, l->diff_id);
	digest_str(out, l->digest);
	l->size = export_stream_out_size(s);
	name = cfs_xasprintf("blobs/sha256/%s", l->digest + 7);
	if (renameat(dirfd, "blobs/sha256/.layer.tmp", dirfd, name) < 0)
		return cfs_err_set(x->err, errno, "%s/%s: %s", dir, name, strerror(errno));
	return 0;
}

/* Sink for the base tarball: checks that it starts with a tar header. */
struct base_sink {
	struct export_stream *s;
	unsigned char hdr[512];
	size_t hlen;
};

static errint_t base_write(struct base_sink *b, const void *data, size_t len)
{
	size_t take = len < sizeof(b->hdr) - b->hlen ? len : sizeof(b->hdr) - b->hlen;

	memcpy(b->hdr + b->hlen, data, take);
	b->hlen += take;
	return export_stream_write(b->s, data, len);
}

static bool tar_header_ok(const unsigned char h[512])
{
	unsigned long sum = 0, want;
	char field[9];
	char *end;

	for (int i = 0; i < 512; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	memcpy(field, h + 148, 8);
	field[8] = '\0';
	want = strtoul(field, &end, 8);
	return h[0] && want == sum;
}

static errint_t base_copy(struct export_ctx *x, int in, struct base_sink *b)
{
	static __thread unsigned char out[1 << 17];
	const char *path = x->o->base;
	z_stream z = { 0 };
	bool gz = false, first = true, ended = false;
	ssize_t n;
	int r = 0;

	while ((n = cfs_read_retry(in, x->chunk, sizeof(x->chunk))) > 0) {
		if (first) {
			gz = n >= 2 && (unsigned char)x->chunk[0] == 0x1f &&
			     (unsigned char)x->chunk[1] == 0x8b;
			if (gz && inflateInit2(&z, 15 + 16) != Z_OK)
				abort();
			first = false;
		}
		if (!gz) {
			if ((r = base_write(b, x->chunk, (size_t)n)) < 0)
				break;
			continue;
		}
		z.next_in = (Bytef *)x->chunk;
		z.avail_in = (uInt)n;
		while (z.avail_in && r == 0) {
			int zr;

			if (ended) { /* another gzip member follows */
				inflateReset(&z);
				ended = false;
			}
			z.next_out = out;
			z.avail_out = sizeof(out);
			zr = inflate(&z, Z_NO_FLUSH);
			if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
				r = -EBADMSG;
				break;
			}
			ended = zr == Z_STREAM_END;
			r = base_write(b, out, sizeof(out) - z.avail_out);
		}
		if (r < 0)
			break;
	}
	if (n < 0)
		r = (int)n;
	if (gz) {
		if (r == 0 && !ended)
			r = -EBADMSG;
		inflateEnd(&z);
	}
	if (r == -EBADMSG || (r == 0 && (b->hlen < 512 || !tar_header_ok(b->hdr))))
		return cfs_err_set(x->err, EINVAL, "%s: not a tar archive (plain or gzip)", path);
	if (r < 0)
		return cfs_err_set(x->err, -r, "%s: %s", path, strerror(-r));
	return 0;
}

static errint_t write_base(struct export_ctx *x, int dirfd, const char *dir, struct layer *l)
{
	cleanup_fd int in = open(x->o->base, O_RDONLY | O_CLOEXEC);
	struct base_sink b = { 0 };
	int fd, r;

	if (in < 0)
		return cfs_err_set(x->err, errno, "%s: %s", x->o->base, strerror(errno));
	if ((r = layer_open(x, dirfd, dir, &fd)) < 0)
		return r;
	b.s = export_stream_new(fd, x->o->compression, true);
	r = base_copy(x, in, &b);
	if (r == 0)
		r = layer_close(x, dirfd, dir, fd, b.s, l);
	else
		close(fd);
	export_stream_free(b.s);
	return r;
}

static errint_t write_env_layer(struct export_ctx *x, int dirfd, const char *dir, struct layer *l)
{
	struct export_stream *s;
	int fd, r;

	if ((r = layer_open(x, dirfd, dir, &fd)) < 0)
		return r;
	s = export_stream_new(fd, x->o->compression, true);
	r = export_write_tar(x, s);
	if (r == 0)
		r = layer_close(x, dirfd, dir, fd, s, l);
	else
		close(fd);
	x->res->out_bytes = export_stream_out_size(s);
	export_stream_free(s);
	return r;
}

static char *created_time(const struct export_ctx *x)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	const char *src = sde && *sde ? sde : x->tree->created;
	char *end, buf[32];
	long long t = strtoll(src, &end, 10);
	time_t tt;
	struct tm tm;

	if (end == src || *end || t < 0)
		t = 0;
	tt = (time_t)t;
	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return cfs_xstrdup(buf);
}

/* A JSON string from s, which it frees. */
static json_t *json_string_take(char *s)
{
	json_t *j = json_string(s);

	free(s);
	return j;
}

static json_t *image_config(struct export_ctx *x, const struct layer *layers, size_t n)
{
	cleanup_free char *created = created_time(x);
	json_t *cfg = json_object(), *c = json_object(), *env = json_array();
	json_t *diff = json_array(), *hist = json_array(), *labels = json_object();
	const struct cfs_export_result *res = x->res;
	const char *prefix = strcmp(x->tree->prefix, "/") == 0 ? "" : x->tree->prefix;

	json_array_append_new(env, json_string_take(
		cfs_xasprintf("PATH=%s/bin:" DEFAULT_PATH, prefix)));
	json_object_set_new(c, "Env", env);
	if (x->o->n_entrypoint) {
		json_t *ep = json_array();
		for (size_t i = 0; i < x->o->n_entrypoint; i++)
			json_array_append_new(ep, json_string(x->o->entrypoint[i]));
		json_object_set_new(c, "Entrypoint", ep);
	}
	json_object_set_new(labels, "io.condafs.prefix", json_string(x->tree->prefix));
	json_object_set_new(labels, "io.condafs.lock-sha256", json_string(x->tree->lock_sha256));
	json_object_set_new(c, "Labels", labels);
	for (size_t i = 0; i < n; i++) {
		bool env_layer = i == n - 1;
		json_t *h = json_pack("{s:s,s:s}", "created", created, "created_by",
				      env_layer ? "condafs export" : "condafs export --base");
		json_object_set_new(h, "comment", !env_layer ? json_string("base layer") :
			json_string_take(cfs_xasprintf("%s of %s: %llu files, %llu symlinks, "
				"%llu directories", x->o->all ? "the environment" : "working set",
				x->tree->prefix, (unsigned long long)res->files,
				(unsigned long long)res->symlinks, (unsigned long long)res->dirs)));
		json_array_append_new(diff, json_string(layers[i].diff_id));
		json_array_append_new(hist, h);
	}
	json_object_set_new(cfg, "created", json_string(created));
	json_object_set_new(cfg, "architecture", json_string(x->arch));
	if (x->variant)
		json_object_set_new(cfg, "variant", json_string(x->variant));
	json_object_set_new(cfg, "os", json_string(x->os));
	json_object_set_new(cfg, "config", c);
	json_object_set_new(cfg, "rootfs", json_pack("{s:s,s:o}", "type", "layers", "diff_ids", diff));
	json_object_set_new(cfg, "history", hist);
	return cfg;
}

static errint_t write_layout(struct export_ctx *x, int dirfd, const char *dir,
			     const struct layer *layers, size_t n)
{
	const char *layer_mt = x->o->compression == CFS_COMP_ZSTD ? MT_LAYER "+zstd"
									: MT_LAYER "+gzip";
	json_t *mf = json_object(), *ls = json_array(), *dl = json_array(), *plat;
	char cfg_digest[72], mf_digest[72];
	uint64_t cfg_size, mf_size;
	cleanup_free char *cfg_path = NULL;
	int r;

	r = write_json_blob(x, dirfd, dir, image_config(x, layers, n), cfg_digest, &cfg_size);
	if (r < 0) {
		json_decref(mf);
		json_decref(ls);
		json_decref(dl);
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(ls, json_pack("{s:s,s:s,s:I}", "mediaType", layer_mt,
						    "digest", layers[i].digest, "size",
						    (json_int_t)layers[i].size));
		json_array_append_new(dl, json_string_take(
			cfs_xasprintf("blobs/sha256/%s", layers[i].digest + 7)));
	}
	json_object_set_new(mf, "schemaVersion", json_integer(2));
	json_object_set_new(mf, "mediaType", json_string(MT_MANIFEST));
	json_object_set_new(mf, "config", json_pack("{s:s,s:s,s:I}", "mediaType", MT_CONFIG,
						    "digest", cfg_digest, "size",
						    (json_int_t)cfg_size));
	json_object_set_new(mf, "layers", ls);
	r = write_json_blob(x, dirfd, dir, mf, mf_digest, &mf_size);
	if (r < 0) {
		json_decref(dl);
		return r;
	}
	snprintf(x->res->manifest_digest, sizeof(x->res->manifest_digest), "%s", mf_digest);
	plat = json_pack("{s:s,s:s}", "architecture", x->arch, "os", x->os);
	if (x->variant)
		json_object_set_new(plat, "variant", json_string(x->variant));
	r = write_json_file(x, dirfd, dir, "index.json", json_pack(
		"{s:i,s:s,s:[{s:s,s:s,s:I,s:o,s:{s:s,s:s}}]}", "schemaVersion", 2, "mediaType",
		MT_INDEX, "manifests", "mediaType", MT_MANIFEST, "digest", mf_digest, "size",
		(json_int_t)mf_size, "platform", plat, "annotations", "io.containerd.image.name",
		x->ref, "org.opencontainers.image.ref.name", x->tag));
	if (r == 0)
		r = write_json_file(x, dirfd, dir, "oci-layout",
				    json_pack("{s:s}", "imageLayoutVersion", "1.0.0"));
	cfg_path = cfs_xasprintf("blobs/sha256/%s", cfg_digest + 7);
	if (r == 0)
		r = write_json_file(x, dirfd, dir, "manifest.json", json_pack(
			"[{s:s,s:[s],s:o}]", "Config", cfg_path, "RepoTags", x->ref, "Layers", dl));
	else
		json_decref(dl);
	return r;
}

errint_t export_write_oci(struct export_ctx *x, int dirfd, const char *dir)
{
	struct layer layers[2];
	size_t n = 0;
	int r;

	if (mkdirat(dirfd, "blobs", 0755) < 0 || mkdirat(dirfd, "blobs/sha256", 0755) < 0)
		return cfs_err_set(x->err, errno, "%s/blobs/sha256: %s", dir, strerror(errno));
	if (x->o->base && (r = write_base(x, dirfd, dir, &layers[n++])) < 0)
		return r;
	if ((r = write_env_layer(x, dirfd, dir, &layers[n++])) < 0)
		return r;
	snprintf(x->res->layer_digest, sizeof(x->res->layer_digest), "%s", layers[n - 1].digest);
	x->res->name = cfs_xstrdup(x->ref);
	return write_layout(x, dirfd, dir, layers, n);
}

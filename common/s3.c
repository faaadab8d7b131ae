/* SPDX-License-Identifier: MIT */
#include "s3.h"

#include <string.h>

#include "buf.h"

#define DEFAULT_REGION "us-east-1"

bool cfs_s3_is_url(const char *s)
{
	return strncmp(s, "s3://", 5) == 0;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static bool unreserved(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

/*
 * Percent-encodes a key the way SigV4's canonical URI has it (every byte
 * but unreserved ones and '/'), so the path libcurl signs as it is sent is
 * also the canonical one.
 */
static void add_key(struct cfs_buf *b, const char *key)
{
	for (const char *p = key; *p; p++) {
		if (unreserved(*p) || *p == '/')
			cfs_buf_add(b, p, 1);
		else
			cfs_buf_printf(b, "%%%02X", (unsigned)(unsigned char)*p);
	}
}

/* S3 bucket names: 3-63 of [a-z0-9.-]; S3-compatible servers also allow
 * upper case and '_'. */
static bool bucket_ok(const char *b, size_t len)
{
	if (len < 3 || len > 63)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!unreserved(b[i]) || b[i] == '~')
			return false;
	return true;
}

/*
 * No empty, "." or ".." segments: S3 keys are literal, but libcurl would
 * collapse dot segments and so reach (and sign) another key.
 */
static bool prefix_ok(const char *p, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n = strcspn(p + i, "/");

		if (n > len - i)
			n = len - i;
		if (n == 0 || (n == 1 && p[i] == '.') || (n == 2 && p[i] == '.' && p[i + 1] == '.'))
			return false;
		i += n + 1;
	}
	return true;
}

static bool region_ok(const char *r)
{
	if (!*r || strlen(r) > 64)
		return false;
	for (; *r; r++)
		if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') || *r == '-'))
			return false;
	return true;
}

errint_t cfs_s3_parse(const char *url, struct cfs_s3 *s3, struct cfs_err *err)
{
	const char *p = url + 5, *slash, *endpoint, *region, *key_id, *secret, *token;
	cleanup_buf struct cfs_buf b = { 0 };
	size_t len;

	memset(s3, 0, sizeof(*s3));
	if (!cfs_s3_is_url(url))
		return cfs_err_set(err, EINVAL, "%s: not an s3:// URL", url);
	if (strpbrk(url, "?#"))
		return cfs_err_set(err, EINVAL, "%s: an s3:// store URL has no query or fragment",
				   url);
	slash = strchr(p, '/');
	len = slash ? (size_t)(slash - p) : strlen(p);
	if (!bucket_ok(p, len))
		return cfs_err_set(err, EINVAL, "%s: bad bucket name '%.*s' (expected "
				   "s3://BUCKET/PREFIX, 3 to 63 of a-z, 0-9, '.', '-')",
				   url, (int)len, p);
	s3->bucket = cfs_xstrndup(p, len);
	p = slash ? slash + 1 : p + len;
	while (*p == '/')
		p++;
	len = strlen(p);
	while (len && p[len - 1] == '/')
		len--;
	if (!prefix_ok(p, len))
		return cfs_err_set(err, EINVAL, "%s: the prefix '%.*s' has an empty, '.' or '..' "
				   "segment", url, (int)len, p);
	s3->prefix = cfs_xstrndup(p, len);

	region = env("AWS_REGION");
	if (!region)
		region = env("AWS_DEFAULT_REGION");
	if (!region)
		region = DEFAULT_REGION;
	if (!region_ok(region))
		return cfs_err_set(err, EINVAL, "%s: bad AWS region '%s' (from AWS_REGION or "
				   "AWS_DEFAULT_REGION)", url, region);
	s3->region = cfs_xstrdup(region);
	s3->sigv4 = cfs_xasprintf("aws:amz:%s:s3", region);

	endpoint = env("AWS_ENDPOINT_URL_S3");
	if (!endpoint)
		endpoint = env("AWS_ENDPOINT_URL");
	if (endpoint) {
		if (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0)
			return cfs_err_set(err, EINVAL, "%s: AWS endpoint '%s' is not an http:// or "
					   "https:// URL", url, endpoint);
		if (strpbrk(endpoint, "?#"))
			return cfs_err_set(err, EINVAL, "%s: AWS endpoint '%s' has a query or "
					   "fragment", url, endpoint);
		len = strlen(endpoint);
		while (len && endpoint[len - 1] == '/')
			len--;
		s3->endpoint = cfs_xstrndup(endpoint, len);
	}

	key_id = env("AWS_ACCESS_KEY_ID");
	secret = env("AWS_SECRET_ACCESS_KEY");
	if (!key_id || !secret)
		return cfs_err_set(err, EACCES, "%s: no AWS credentials: set AWS_ACCESS_KEY_ID and "
				   "AWS_SECRET_ACCESS_KEY", url);
	s3->key_id = cfs_xstrdup(key_id);
	s3->secret = cfs_xstrdup(secret);
	token = env("AWS_SESSION_TOKEN");
	if (token) {
		if (strpbrk(token, "\r\n"))
			return cfs_err_set(err, EINVAL, "%s: AWS_SESSION_TOKEN has a line break", url);
		s3->token_header = cfs_xasprintf("x-amz-security-token: %s", token);
	}

	cfs_buf_init(&b, 1 << 16);
	if (s3->endpoint)
		cfs_buf_printf(&b, "%s/%s", s3->endpoint, s3->bucket);
	else if (strchr(s3->bucket, '.'))
		cfs_buf_printf(&b, "https://s3.%s.amazonaws.com/%s", region, s3->bucket);
	else
		cfs_buf_printf(&b, "https://%s.s3.%s.amazonaws.com", s3->bucket, region);
	if (*s3->prefix) {
		cfs_buf_addstr(&b, "/");
		add_key(&b, s3->prefix);
	}
	s3->base = cfs_buf_steal(&b, NULL);
	return 0;
}

void cfs_s3_release(struct cfs_s3 *s3)
{
	free(s3->bucket);
	free(s3->prefix);
	free(s3->region);
	free(s3->endpoint);
	free(s3->base);
	free(s3->sigv4);
	free(s3->key_id);
	if (s3->secret) {
		explicit_bzero(s3->secret, strlen(s3->secret));
		free(s3->secret);
	}
	free(s3->token_header);
	memset(s3, 0, sizeof(*s3));
}

char *cfs_s3_object_url(const struct cfs_s3 *s3, const char *rel)
{
	cleanup_buf struct cfs_buf b;

	cfs_buf_init(&b, 1 << 16);
	cfs_buf_addstr(&b, s3->base);
	cfs_buf_addstr(&b, "/");
	add_key(&b, rel);
	return cfs_buf_steal(&b, NULL);
}

void cfs_s3_setup_handle(CURL *h, const struct cfs_s3 *s3, struct curl_slist **headers)
{
	struct curl_slist *l = *headers, *n;

	n = sym_curl_slist_append(l, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	if (n && s3->token_header)
		n = sym_curl_slist_append(n, s3->token_header);
	if (!n)
		abort();
	*headers = n;
	sym_curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s3->sigv4);
	sym_curl_easy_setopt(h, CURLOPT_USERNAME, s3->key_id);
	sym_curl_easy_setopt(h, CURLOPT_PASSWORD, s3->secret);
	sym_curl_easy_setopt(h, CURLOPT_HTTPHEADER, *headers);
}

void cfs_s3_error_code(const char *body, size_t len, char *out, size_t outlen)
{
	const char *p = body ? memmem(body, len, "<Code>", 6) : NULL;
	size_t n = 0;

	if (outlen)
		out[0] = '\0';
	if (!p || !outlen)
		return;
	p += 6;
	while (p < body + len && *p != '<' && n + 1 < outlen) {
		if (unreserved(*p) && *p != '~' && *p != '-' && *p != '_')
			out[n++] = *p;
		p++;
	}
	/* Only a complete element counts. */
	if (p + 7 > body + len || memcmp(p, "</Code>", 7) != 0)
		n = 0;
	out[n] = '\0';
}

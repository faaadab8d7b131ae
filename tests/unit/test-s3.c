/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for common/s3.c: s3:// URL parsing, the settings read from the
 * AWS environment variables (precedence, defaults, missing credentials),
 * the request URLs (virtual-host, path-style with an endpoint or a dotted
 * bucket, percent-encoded keys) and S3 error bodies.
 */
#include "s3.h"
#include "check.h"

#include <string.h>

static const char *const vars[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
	"AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
};

static void env_reset(void)
{
	for (size_t i = 0; i < CFS_ARRAY_SIZE(vars); i++)
		unsetenv(vars[i]);
	setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
}

/* Parses url, which must succeed; the caller releases s3. */
static void parse_ok(const char *url, struct cfs_s3 *s3)
{
	struct cfs_err err = { "" };
	int r = cfs_s3_parse(url, s3, &err);

	if (r < 0)
		fprintf(stderr, "%s: unexpected failure: %s\n", url, err.msg);
	CHECK(r == 0);
}

/* Asserts that url fails with a message containing want. */
static void parse_fails(const char *url, const char *want)
{
	struct cfs_s3 s3;
	struct cfs_err err = { "" };
	int r = cfs_s3_parse(url, &s3, &err);

	CHECK(r < 0);
	if (!strstr(err.msg, want)) {
		fprintf(stderr, "%s: message \"%s\" lacks \"%s\"\n", url, err.msg, want);
		CHECK(!"message as expected");
	}
	cfs_s3_release(&s3);
}

static void test_virtual_host(void)
{
	struct cfs_s3 s3;
	cleanup_free char *obj = NULL;

	env_reset();
	parse_ok("s3://my-bucket/condafs/store", &s3);
	CHECK_STR(s3.bucket, "my-bucket");
	CHECK_STR(s3.prefix, "condafs/store");
	CHECK_STR(s3.region, "us-east-1");
	CHECK_STR(s3.sigv4, "aws:amz:us-east-1:s3");
	CHECK(s3.endpoint == NULL);
	CHECK(s3.token_header == NULL);
	CHECK_STR(s3.key_id, "AKIDEXAMPLE");
	CHECK_STR(s3.base, "https://my-bucket.s3.us-east-1.amazonaws.com/condafs/store");
	obj = cfs_s3_object_url(&s3, "objects/ab/ab12.zst");
	CHECK_STR(obj, "https://my-bucket.s3.us-east-1.amazonaws.com/condafs/store/objects/ab/ab12.zst");
	cfs_s3_release(&s3);
	CHECK(s3.base == NULL);
}

static void test_prefixes(void)
{
	struct cfs_s3 s3;
	cleanup_free char *obj = NULL;

	env_reset();
	/* No prefix, with or without slashes. */
	static const char *const bare[] = { "s3://bkt", "s3://bkt/", "s3://bkt//" };
	for (size_t i = 0; i < CFS_ARRAY_SIZE(bare); i++) {
		parse_ok(bare[i], &s3);
		CHECK_STR(s3.bucket, "bkt");
		CHECK_STR(s3.prefix, "");
		CHECK_STR(s3.base, "https://bkt.s3.us-east-1.amazonaws.com");
		cfs_s3_release(&s3);
	}
	/* Leading and trailing slashes of the prefix are dropped. */
	parse_ok("s3://bkt//a/b//", &s3);
	CHECK_STR(s3.prefix, "a/b");
	cfs_s3_release(&s3);
	/* Keys are percent-encoded as SigV4's canonical URI has them. */
	parse_ok("s3://bkt/my env/x+y~z", &s3);
	CHECK_STR(s3.prefix, "my env/x+y~z");
	CHECK_STR(s3.base, "https://bkt.s3.us-east-1.amazonaws.com/my%20env/x%2By~z");
	obj = cfs_s3_object_url(&s3, "objects/00/00ff.zst");
	CHECK_STR(obj, "https://bkt.s3.us-east-1.amazonaws.com/my%20env/x%2By~z/objects/00/00ff.zst");
	cfs_s3_release(&s3);
}

static void test_region_and_endpoint(void)
{
	struct cfs_s3 s3;

	env_reset();
	setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
	parse_ok("s3://bkt/p", &s3);
	CHECK_STR(s3.region, "eu-west-1");
	CHECK_STR(s3.base, "https://bkt.s3.eu-west-1.amazonaws.com/p");
	cfs_s3_release(&s3);
	/* AWS_REGION wins over AWS_DEFAULT_REGION. */
	setenv("AWS_REGION", "ap-south-2", 1);
	parse_ok("s3://bkt/p", &s3);
	CHECK_STR(s3.sigv4, "aws:amz:ap-south-2:s3");
	cfs_s3_release(&s3);
	/* A dotted bucket is addressed path-style (TLS names of virtual hosts). */
	parse_ok("s3://my.dotted.bucket/p", &s3);
	CHECK_STR(s3.base, "https://s3.ap-south-2.amazonaws.com/my.dotted.bucket/p");
	cfs_s3_release(&s3);
	/* A custom endpoint: path-style, trailing slash dropped. */
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/", 1);
	parse_ok("s3://bkt/pre", &s3);
	CHECK_STR(s3.endpoint, "http://127.0.0.1:9000");
	CHECK_STR(s3.base, "http://127.0.0.1:9000/bkt/pre");
	cfs_s3_release(&s3);
	/* The S3-specific variable wins. */
	setenv("AWS_ENDPOINT_URL_S3", "https://minio.example:9443", 1);
	parse_ok("s3://bkt", &s3);
	CHECK_STR(s3.base, "https://minio.example:9443/bkt");
	cfs_s3_release(&s3);
	/* Empty variables count as unset. */
	setenv("AWS_ENDPOINT_URL_S3", "", 1);
	setenv("AWS_ENDPOINT_URL", "", 1);
	setenv("AWS_REGION", "", 1);
	unsetenv("AWS_DEFAULT_REGION");
	parse_ok("s3://bkt", &s3);
	CHECK(s3.endpoint == NULL);
	CHECK_STR(s3.region, "us-east-1");
	cfs_s3_release(&s3);
	/* A session token becomes a header. */
	setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzE//token=", 1);
	parse_ok("s3://bkt", &s3);
	CHECK_STR(s3.token_header, "x-amz-security-token: FwoGZXIvYXdzE//token=");
	cfs_s3_release(&s3);
}

static void test_errors(void)
{
	env_reset();
	parse_fails("http://bkt/p", "not an s3:// URL");
	parse_fails("s3://", "bad bucket name ''");
	parse_fails("s3:///prefix", "bad bucket name ''");
	parse_fails("s3://ab/p", "bad bucket name 'ab'");
	parse_fails("s3://bad~bucket/p", "bad bucket name");
	parse_fails("s3://bkt/a/../b", "segment");
	parse_fails("s3://bkt/./a", "segment");
	parse_fails("s3://bkt/a//b", "segment");
	parse_fails("s3://bkt/a/..", "segment");
	parse_fails("s3://bkt/p?x=1", "no query or fragment");
	parse_fails("s3://bkt/p#frag", "no query or fragment");
	setenv("AWS_REGION", "us-east-1:evil", 1);
	parse_fails("s3://bkt/p", "bad AWS region 'us-east-1:evil'");
	unsetenv("AWS_REGION");
	setenv("AWS_ENDPOINT_URL", "ftp://host", 1);
	parse_fails("s3://bkt/p", "AWS endpoint 'ftp://host' is not an http:// or https:// URL");
	unsetenv("AWS_ENDPOINT_URL");
	setenv("AWS_SESSION_TOKEN", "a\r\nX-Evil: 1", 1);
	parse_fails("s3://bkt/p", "AWS_SESSION_TOKEN has a line break");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	parse_fails("s3://bkt/p", "s3://bkt/p: no AWS credentials: set AWS_ACCESS_KEY_ID and "
		    "AWS_SECRET_ACCESS_KEY");
	env_reset();
	unsetenv("AWS_ACCESS_KEY_ID");
	parse_fails("s3://bkt/p", "no AWS credentials");
	setenv("AWS_ACCESS_KEY_ID", "", 1);
	parse_fails("s3://bkt/p", "no AWS credentials");
}

static void test_error_code(void)
{
	static const char body[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch"
		"</Code><Message>The request signature we calculated does not match</Message></Error>";
	char code[64];

	cfs_s3_error_code(body, strlen(body), code, sizeof(code));
	CHECK_STR(code, "SignatureDoesNotMatch");
	cfs_s3_error_code(body, 60, code, sizeof(code)); /* cut before </Code> */
	CHECK_STR(code, "");
	cfs_s3_error_code("<html>404 Not Found</html>", 26, code, sizeof(code));
	CHECK_STR(code, "");
	cfs_s3_error_code(NULL, 0, code, sizeof(code));
	CHECK_STR(code, "");
	cfs_s3_error_code("<Code>NoSuchKey</Code>", 22, code, 4); /* too long for out */
	CHECK_STR(code, "");
	cfs_s3_error_code("<Code>Bad\nCode<x></Code>", 24, code, sizeof(code));
	CHECK_STR(code, "");
}

int main(void)
{
	test_virtual_host();
	test_prefixes();
	test_region_and_endpoint();
	test_errors();
	test_error_code();
	return check_summary();
}

/* SPDX-License-Identifier: MIT */
/*
 * S3 stores: s3://BUCKET[/PREFIX] URLs, the AWS settings from the
 * environment, and libcurl's SigV4 signing for a request.  The daemon
 * (fs/remote.c) reads objects with it and `condafs push` writes them.
 *
 * Settings, as the AWS tools read them:
 *   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   required
 *   AWS_SESSION_TOKEN                          sent as x-amz-security-token
 *   AWS_REGION, else AWS_DEFAULT_REGION        default us-east-1
 *   AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL an S3-compatible server:
 *                                              path-style ENDPOINT/BUCKET/PREFIX
 * Without an endpoint the URL is virtual-host style,
 * https://BUCKET.s3.REGION.amazonaws.com/PREFIX (path-style on
 * s3.REGION.amazonaws.com for bucket names with dots, which TLS
 * certificates of the virtual hosts do not cover).
 */
#ifndef CFS_S3_H
#define CFS_S3_H

#include "cfs-util.h"
#include "curl-api.h"

struct cfs_s3 {
	char *bucket;
	char *prefix;   /* key prefix without leading or trailing '/'; "" for none */
	char *region;
	char *endpoint; /* AWS_ENDPOINT_URL(_S3) without trailing '/', or NULL */
	char *base;     /* URL of the prefix ("http://h:9000/bucket/pre"), no trailing '/' */
	char *sigv4;    /* CURLOPT_AWS_SIGV4: "aws:amz:<region>:s3" */
	char *key_id;
	char *secret;
	char *token_header; /* "x-amz-security-token: ..." or NULL */
};

/* True if s starts with "s3://". */
bool cfs_s3_is_url(const char *s);

/*
 * Parses url (s3://BUCKET[/PREFIX][/]) and reads the settings above from
 * the environment.  Missing credentials are an error naming the variables.
 * Release s3 with cfs_s3_release(), also after a failure.
 */
errint_t cfs_s3_parse(const char *url, struct cfs_s3 *s3, struct cfs_err *err);
void cfs_s3_release(struct cfs_s3 *s3);

/* The URL of rel ("objects/ab/<hex>.zst") in the store.  Caller frees. */
char *cfs_s3_object_url(const struct cfs_s3 *s3, const char *rel);

/*
 * Makes h sign its next request: SigV4 for service s3, the credentials,
 * x-amz-content-sha256: UNSIGNED-PAYLOAD (S3 requires the header, and
 * libcurl 7.x does not add it: it signs with the value given) and the
 * session token.  Appends those headers to *headers, which the caller may
 * have started, sets CURLOPT_HTTPHEADER to it, and frees it with
 * sym_curl_slist_free_all() after the request.
 */
void cfs_s3_setup_handle(CURL *h, const struct cfs_s3 *s3, struct curl_slist **headers);

/*
 * The <Code> of an S3 XML error body ("SignatureDoesNotMatch") into out,
 * or "" if there is none.  Only [A-Za-z0-9.] are kept.
 */
void cfs_s3_error_code(const char *body, size_t len, char *out, size_t outlen);

#endif

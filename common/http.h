/* SPDX-License-Identifier: MIT */
/* What every condafs HTTP request shares: libcurl options and retry rules. */
#ifndef CFS_HTTP_H
#define CFS_HTTP_H

#include <stdbool.h>

#include "curl-api.h"

/*
 * http and https only (redirects too), no signals, condafs's user agent,
 * TCP keepalive, a connect timeout and a floor of 1 byte/s over
 * low_speed_secs.  Returns the first option libcurl refused, or CURLE_OK.
 */
CURLcode cfs_http_defaults(CURL *h, long connect_timeout_ms, long low_speed_secs);
/* An HTTP status worth retrying: 5xx, 408 Request Timeout, 429 Too Many Requests. */
bool cfs_http_status_transient(long code);
/* A transfer failure worth retrying: resolving, connecting, timeouts, cut transfers. */
bool cfs_http_curl_transient(CURLcode rc);

#endif

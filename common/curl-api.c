/* SPDX-License-Identifier: MIT */
#include "curl-api.h"

#include <pthread.h>

#include "dlsym.h"

/* libcurl's soname since 7.16, whichever TLS library it was built with. */
#define LIBCURL "libcurl.so.4"

typeof(curl_global_init) *sym_curl_global_init;
typeof(curl_easy_init) *sym_curl_easy_init;
typeof(curl_easy_reset) *sym_curl_easy_reset;
typeof(curl_easy_cleanup) *sym_curl_easy_cleanup;
typeof(curl_easy_setopt) *sym_curl_easy_setopt;
typeof(curl_easy_getinfo) *sym_curl_easy_getinfo;
typeof(curl_easy_pause) *sym_curl_easy_pause;
typeof(curl_easy_perform) *sym_curl_easy_perform;
typeof(curl_easy_strerror) *sym_curl_easy_strerror;
typeof(curl_slist_append) *sym_curl_slist_append;
typeof(curl_slist_free_all) *sym_curl_slist_free_all;
typeof(curl_multi_init) *sym_curl_multi_init;
typeof(curl_multi_cleanup) *sym_curl_multi_cleanup;
typeof(curl_multi_add_handle) *sym_curl_multi_add_handle;
typeof(curl_multi_remove_handle) *sym_curl_multi_remove_handle;
typeof(curl_multi_perform) *sym_curl_multi_perform;
typeof(curl_multi_poll) *sym_curl_multi_poll;
typeof(curl_multi_info_read) *sym_curl_multi_info_read;
typeof(curl_multi_strerror) *sym_curl_multi_strerror;
typeof(curl_multi_setopt) *sym_curl_multi_setopt;
typeof(curl_multi_wakeup) *sym_curl_multi_wakeup;

#define SYM(name) { #name, (void **)&sym_##name }
static const struct cfs_dlsym syms[] = {
	SYM(curl_global_init),
	SYM(curl_easy_init),
	SYM(curl_easy_reset),
	SYM(curl_easy_cleanup),
	SYM(curl_easy_setopt),
	SYM(curl_easy_getinfo),
	SYM(curl_easy_pause),
	SYM(curl_easy_perform),
	SYM(curl_easy_strerror),
	SYM(curl_slist_append),
	SYM(curl_slist_free_all),
	SYM(curl_multi_init),
	SYM(curl_multi_cleanup),
	SYM(curl_multi_add_handle),
	SYM(curl_multi_remove_handle),
	SYM(curl_multi_perform),
	SYM(curl_multi_poll),
	SYM(curl_multi_info_read),
	SYM(curl_multi_strerror),
	SYM(curl_multi_setopt),
	SYM(curl_multi_wakeup),
};
#undef SYM

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static errint_t load_r;
static struct cfs_err load_err;

static void load(void)
{
	CURLcode rc;

	load_r = cfs_dl_load(LIBCURL, "for http://, https:// and s3:// URLs", syms,
			     CFS_ARRAY_SIZE(syms), &load_err);
	if (load_r < 0)
		return;
	rc = sym_curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK)
		load_r = cfs_err_set(&load_err, EIO, "curl_global_init: %s",
				     sym_curl_easy_strerror(rc));
}

errint_t cfs_curl_load(struct cfs_err *err)
{
	pthread_once(&load_once, load);
	if (load_r < 0 && err)
		*err = load_err;
	return load_r;
}

/* SPDX-License-Identifier: MIT */
/*
 * libcurl, loaded with dlopen() when a URL first needs it: most commands
 * (export, ls, cat, du, mount from a local store) never do, and linking it
 * would make every start pay for loading its ~27 libraries (TLS, Kerberos,
 * LDAP, SSH, ...).  Modules call libcurl through the sym_ pointers below
 * (the way systemd loads its optional libraries), after cfs_curl_load().
 * Include this header, not <curl/curl.h>.
 */
#ifndef CFS_CURL_API_H
#define CFS_CURL_API_H

/* Plain prototypes: gcc's type-checking macros would wrap the names. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include "cfs-util.h"

extern typeof(curl_global_init) *sym_curl_global_init;
extern typeof(curl_easy_init) *sym_curl_easy_init;
extern typeof(curl_easy_reset) *sym_curl_easy_reset;
extern typeof(curl_easy_cleanup) *sym_curl_easy_cleanup;
extern typeof(curl_easy_setopt) *sym_curl_easy_setopt;
extern typeof(curl_easy_getinfo) *sym_curl_easy_getinfo;
extern typeof(curl_easy_pause) *sym_curl_easy_pause;
extern typeof(curl_easy_perform) *sym_curl_easy_perform;
extern typeof(curl_easy_strerror) *sym_curl_easy_strerror;
extern typeof(curl_slist_append) *sym_curl_slist_append;
extern typeof(curl_slist_free_all) *sym_curl_slist_free_all;
extern typeof(curl_multi_init) *sym_curl_multi_init;
extern typeof(curl_multi_cleanup) *sym_curl_multi_cleanup;
extern typeof(curl_multi_add_handle) *sym_curl_multi_add_handle;
extern typeof(curl_multi_remove_handle) *sym_curl_multi_remove_handle;
extern typeof(curl_multi_perform) *sym_curl_multi_perform;
extern typeof(curl_multi_poll) *sym_curl_multi_poll;
extern typeof(curl_multi_info_read) *sym_curl_multi_info_read;
extern typeof(curl_multi_strerror) *sym_curl_multi_strerror;
extern typeof(curl_multi_setopt) *sym_curl_multi_setopt;
extern typeof(curl_multi_wakeup) *sym_curl_multi_wakeup;

/*
 * Loads libcurl.so.4, resolves every sym_ pointer and runs
 * curl_global_init(CURL_GLOBAL_DEFAULT), once per process (the library is
 * never unloaded, nor curl_global_cleanup() called).  Thread-safe; later
 * calls return the first call's result.  On failure, err is one line,
 * e.g. "libcurl.so.4: cannot load it (needed for http, https and s3
 * stores): <dlerror>", for the caller to prefix with what needed it, and
 * the sym_ pointers must not be used.
 */
errint_t cfs_curl_load(struct cfs_err *err);

#endif

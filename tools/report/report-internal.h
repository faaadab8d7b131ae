/* SPDX-License-Identifier: MIT */
/* Shared by report.c (the data) and report-html.c (the page). */
#ifndef CFS_REPORT_INTERNAL_H
#define CFS_REPORT_INTERNAL_H

#include "report.h"

/* The page around the data, generated from page.html, page.css and page.js
 * by embed.py at build time (page-assets.c). */
extern const char cfs_report_page_head[];
extern const char cfs_report_page_tail[];

/*
 * Writes the page with the JSON document json (len bytes, any '<' already
 * escaped) to output atomically: a temporary file in its directory, fsync,
 * rename.  *written: the page's bytes.
 */
errint_t report_write_page(const char *output, const char *json, size_t len, uint64_t *written,
			   struct cfs_err *err);

#endif

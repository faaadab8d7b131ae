/* SPDX-License-Identifier: MIT */
/* condafs report: the page, published atomically. */
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "report-internal.h"

errint_t report_write_page(const char *output, const char *json, size_t len, uint64_t *written,
			   struct cfs_err *err)
{
	cleanup_free char *c1 = cfs_xstrdup(output), *c2 = cfs_xstrdup(output);
	const char *parts[] = { cfs_report_page_head, json, cfs_report_page_tail };
	size_t lens[] = { strlen(cfs_report_page_head), len, strlen(cfs_report_page_tail) };
	struct cfs_tmpfile tmp = { .fd = -1 };
	struct stat st;
	int r = 0;

	/* rename() would replace a directory's entry, a device or a symlink, not write to it. */
	if (lstat(output, &st) == 0 && !S_ISREG(st.st_mode))
		return cfs_err_set(err, EEXIST, "%s: exists and is not a regular file", output);
	r = cfs_tmpfile_open(&tmp, dirname(c1), basename(c2));
	if (r < 0)
		return cfs_err_set(err, -r, "%s: %s", output, strerror(-r));
	*written = 0;
	for (size_t i = 0; r == 0 && i < CFS_ARRAY_SIZE(parts); i++) {
		r = cfs_write_all(tmp.fd, parts[i], lens[i]);
		*written += lens[i];
	}
	if (r == 0)
		r = cfs_tmpfile_commit(&tmp, output, true);
	cfs_tmpfile_abort(&tmp);
	if (r < 0)
		return cfs_err_set(err, -r, "%s: %s", output, strerror(-r));
	return 0;
}

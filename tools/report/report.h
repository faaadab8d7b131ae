/* SPDX-License-Identifier: MIT */
/*
 * condafs report: one self-contained HTML page of what an environment holds
 * and what an application uses (docs/report.md).  The page carries its data
 * as JSON in <script type="application/json" id="condafs-data">:
 *
 *   totals    files (regular files and symlinks) and bytes (regular file
 *             sizes) of the environment before pruning, kept, pruned and in
 *             the working set, as condafs du and condafs workset count them
 *   export    what condafs export would write for the working sets (or
 *             --all without them): counts and the size of the tar
 *   packages  one row per package of the index, in install order
 *   rules     the prune rules, with what each decided
 *   dirs      directories as columns: parent (dirs index, -1 for the root)
 *             and name
 *   files     regular files and symlinks as columns: dir (dirs index), name,
 *             size, pkg (package id, 0: none), rule (rule id, 0: none) and
 *             state (0: in the working set, 1: kept, not in it, 2: pruned)
 *   links     the files that are symlinks (files index)
 *
 * Names are front-coded: name[i] is the first name_shared[i] UTF-16 code
 * units of name[i - 1] (decoded), then the string name[i].  Rows are in the
 * index's node order (path order, parents first).
 *
 * The same inputs give the same bytes: nothing depends on the clock, and
 * every list is in index order.
 */
#ifndef CFS_REPORT_H
#define CFS_REPORT_H

#include "cfs-util.h"

#define CFS_REPORT_VERSION 1

struct cfs_report_opts {
	const char *index;        /* ENV.cfs */
	const char *output;       /* the HTML file, replaced atomically */
	char *const *worksets;    /* working set files, merged as condafs export merges them */
	size_t n_worksets;
	char *const *traces;      /* trace files, read as condafs workset reads them */
	size_t n_traces;
};

struct cfs_report_result {
	uint64_t files, bytes;               /* the environment before pruning */
	uint64_t pruned_files, pruned_bytes;
	uint64_t ws_files, ws_bytes;         /* the working set; 0 without worksets or traces */
	uint64_t tar_bytes;                  /* the tar condafs export would write */
	uint64_t page_bytes;                 /* the HTML written */
};

/*
 * Writes the report of o->index to o->output.  Errors are one line naming
 * the file: "<ws>: not a condafs working set", "<trace>:3: ...",
 * "<out>: Permission denied".  Warnings (traces of another lock, changed
 * packages) are logged.
 */
errint_t cfs_report(const struct cfs_report_opts *o, struct cfs_report_result *res,
		    struct cfs_err *err);

#endif

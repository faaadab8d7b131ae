/* SPDX-License-Identifier: MIT */
/*
 * One logging module for all of condafs.  Library code never prints to
 * stdout; it logs here.  The CLI and the daemon choose the sink and level.
 */
#ifndef CFS_LOG_H
#define CFS_LOG_H

enum cfs_log_level {
	CFS_LOG_ERROR = 0,
	CFS_LOG_WARNING = 1,
	CFS_LOG_INFO = 2,
	CFS_LOG_DEBUG = 3,
};

void cfs_log_set_level(enum cfs_log_level level);
enum cfs_log_level cfs_log_get_level(void);
/* Where messages go; default: stderr with a "condafs: " prefix. */
void cfs_log_set_syslog(int enable);

void cfs_log(enum cfs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define cfs_error(...) cfs_log(CFS_LOG_ERROR, __VA_ARGS__)
#define cfs_warn(...) cfs_log(CFS_LOG_WARNING, __VA_ARGS__)
#define cfs_info(...) cfs_log(CFS_LOG_INFO, __VA_ARGS__)
#define cfs_debug(...) cfs_log(CFS_LOG_DEBUG, __VA_ARGS__)

#endif

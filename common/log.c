/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

static enum cfs_log_level cur_level = CFS_LOG_WARNING;
static int use_syslog;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void cfs_log_set_level(enum cfs_log_level level)
{
	cur_level = level;
}

enum cfs_log_level cfs_log_get_level(void)
{
	return cur_level;
}

void cfs_log_set_syslog(int enable)
{
	use_syslog = enable;
	if (enable)
		openlog("condafs", LOG_PID, LOG_DAEMON);
}

void cfs_log(enum cfs_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error: ", "warning: ", "", "debug: " };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[2048];
	va_list ap;

	if (level > cur_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (use_syslog) {
		syslog(prio[level], "%s", line);
		return;
	}
	/* One write per line so that threads never interleave. */
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "condafs: %s%s\n", names[level], line);
	pthread_mutex_unlock(&log_lock);
}

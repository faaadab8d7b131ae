/* SPDX-License-Identifier: MIT */
/* The mount table: which file system is on top at a path. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs.h"
#include "fsutil.h"

/*
 * path made absolute against the working directory, with "." and ".."
 * resolved by name and repeated and trailing slashes dropped, as the mount
 * table writes it.  Touches nothing.  Caller frees.
 */
char *cfs_fs_absolute_path(const char *path)
{
	cleanup_free char *cwd = *path == '/' ? NULL : getcwd(NULL, 0);
	cleanup_free char *in = cfs_xasprintf("%s/%s", cwd ? cwd : "", path);
	char *out = cfs_xmalloc(strlen(in) + 2), *save = NULL;
	size_t len = 0;

	for (char *c = strtok_r(in, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0) {
			while (len > 0 && out[--len] != '/')
				;
			continue;
		}
		out[len++] = '/';
		memcpy(out + len, c, strlen(c));
		len += strlen(c);
	}
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	return out;
}

/* Undoes the mount table's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

struct mount_entry {
	long id, parent;
	char fstype[64];
};

/*
 * The file system type of the mount on top at mp ("fuse.condafs"), into
 * fstype.  Mounts stacked at one path each have the one below as parent:
 * the top one is nobody's parent.  Returns -ENOENT if nothing is mounted
 * at mp.
 */
errint_t cfs_fs_top_mount(const char *mp, char *fstype, size_t size)
{
	cleanup_file FILE *f = fopen("/proc/self/mountinfo", "re");
	cleanup_free char *line = NULL;
	cleanup_free struct mount_entry *at = NULL;
	size_t n = 0, alloc = 0, cap = 0;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *fields[5], *fs;
		int i;

		for (i = 0; i < 5; i++)
			if (!(fields[i] = strtok_r(i ? NULL : line, " \n", &save)))
				break;
		fs = strstr(save ? save : "", " - ");
		if (i < 5 || !fs)
			continue;
		unescape(fields[4]);
		if (strcmp(fields[4], mp) != 0)
			continue;
		cfs_grow(&at, n, &alloc, sizeof(*at), 4);
		at[n].id = strtol(fields[0], NULL, 10);
		at[n].parent = strtol(fields[1], NULL, 10);
		fs += 3;
		snprintf(at[n].fstype, sizeof(at[n].fstype), "%.*s", (int)strcspn(fs, " \n"), fs);
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		bool below = false;
		for (size_t j = 0; j < n && !below; j++)
			below = at[j].parent == at[i].id && j != i;
		if (!below) {
			snprintf(fstype, size, "%s", at[i].fstype);
			return 0;
		}
	}
	return -ENOENT;
}

errint_t cfs_fs_probe(void (*fn)(const char *path, void *out), const char *path,
		      unsigned timeout_ms, void *out, size_t size)
{
	struct pollfd pfd = { .events = POLLIN };
	int fds[2], status, n = 0;
	ssize_t got = -ETIMEDOUT;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	if ((pid = fork()) < 0) {
		int r = -errno;
		close(fds[0]);
		close(fds[1]);
		return r;
	}
	if (pid == 0) {
		close(fds[0]);
		fn(path, out);
		_exit(cfs_write_all(fds[1], out, size) < 0);
	}
	close(fds[1]);
	pfd.fd = fds[0];
	for (int64_t end = cfs_now_ms() + timeout_ms, t; n <= 0 && (t = cfs_now_ms()) < end;)
		if ((n = poll(&pfd, 1, (int)(end - t))) < 0 && errno != EINTR)
			break;
	if (n > 0) {
		/* The child writes once and exits: read until its end. */
		ssize_t k;
		for (got = 0; got < (ssize_t)size; got += k)
			if ((k = cfs_read_retry(fds[0], (char *)out + got, size - (size_t)got)) <= 0)
				break;
	}
	close(fds[0]);
	if (got != (ssize_t)size)
		kill(pid, SIGKILL);
	/* A killed child leaves its FUSE request at once; still, never wait long. */
	for (int i = 0; i < 100 && waitpid(pid, &status, WNOHANG) == 0; i++)
		poll(NULL, 0, 10);
	if (got == (ssize_t)size)
		return 0;
	return got == -ETIMEDOUT ? -ETIMEDOUT : -EIO;
}

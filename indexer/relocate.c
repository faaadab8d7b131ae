/* SPDX-License-Identifier: MIT */
/*
 * Prefix relocation as conda does it (conda/core/portability.py:
 * replace_prefix, binary_replace, replace_long_shebang).  Everything here
 * is linear in the size of the input: memmem/memchr scans, each byte copied
 * or moved a bounded number of times.
 */
#include "relocate.h"

#include <string.h>

#define ENV_SHEBANG "#!/usr/bin/env "

/* Appends data[0..len) to out with every placeholder replaced by prefix. */
static errint_t replace_all(struct cfs_buf *out, const char *data, size_t len,
			    const char *ph, size_t phl, const char *prefix,
			    size_t pl)
{
	const char *p = data, *end = data + len;
	const char *q;
	errint_t r;

	if (phl == 0)
		return cfs_buf_add(out, data, len);
	while ((size_t)(end - p) >= phl &&
	       (q = memmem(p, (size_t)(end - p), ph, phl)) != NULL) {
		r = cfs_buf_add(out, p, (size_t)(q - p));
		if (r < 0)
			return r;
		r = cfs_buf_add(out, prefix, pl);
		if (r < 0)
			return r;
		p = q + phl;
	}
	return cfs_buf_add(out, p, (size_t)(end - p));
}

/* Replaces b->data[off..off+old_len) with s[0..n); s must not point into b. */
static errint_t buf_splice(struct cfs_buf *b, size_t off, size_t old_len,
			   const char *s, size_t n)
{
	size_t tail = b->len - off - old_len;
	errint_t r;

	if (n > old_len) {
		/* Grow first (this enforces the limit), then open the gap. */
		r = cfs_buf_add(b, s, n - old_len);
		if (r < 0)
			return r;
		memmove(b->data + off + n, b->data + off + old_len, tail);
	} else {
		memmove(b->data + off + n, b->data + off + old_len, tail);
		b->len -= old_len - n;
		b->data[b->len] = '\0';
	}
	memcpy(b->data + off, s, n);
	return 0;
}

/*
 * conda's replace_long_shebang, applied to the first line of the relocated
 * output at out->data[start..].  conda parses the line with
 *
 *   ^(#!(?:[ ]*)(/(?:\\ |[^ \n\r\t])*)(.*))$
 *
 * (whole line, executable, options) and rewrites it to
 * "#!/usr/bin/env <basename(executable)><options>" when the whole line is
 * longer than 127 bytes or the executable's directory contains "\ ".
 * Before that, when the new prefix contains a space, conda's replace_prefix
 * substitutes "#!<placeholder>" with "#!<prefix with ' ' escaped as '\ '>",
 * so a space in the prefix counts as escaped and triggers the rewrite.
 * We build that escaped view only to parse it; if no rewrite happens the
 * output keeps the plain (unescaped) prefix.
 */
static errint_t fix_shebang(struct cfs_buf *out, size_t start,
			    const char *data, size_t len, const char *ph,
			    size_t phl, const char *prefix, size_t pl)
{
	cleanup_buf struct cfs_buf view = { 0 };
	cleanup_buf struct cfs_buf line = { 0 };
	const char *l = out->data + start, *v, *nl, *slash;
	size_t total = out->len - start, line_len, vlen, i, exec, exec_end;
	bool esc;
	errint_t r;

	if (total < 2 || l[0] != '#' || l[1] != '!')
		return 0;
	nl = memchr(l, '\n', total);
	line_len = nl ? (size_t)(nl - l) : total;

	esc = phl > 0 && memchr(prefix, ' ', pl) != NULL && len >= 2 + phl &&
	      memcmp(data, "#!", 2) == 0 && memcmp(data + 2, ph, phl) == 0 &&
	      line_len >= 2 + pl;
	if (esc) {
		cfs_buf_init(&view, SIZE_MAX / 2);
		r = cfs_buf_add(&view, "#!", 2);
		for (i = 0; r == 0 && i < pl; i++) {
			if (prefix[i] == ' ')
				r = cfs_buf_add(&view, "\\ ", 2);
			else
				r = cfs_buf_add(&view, &prefix[i], 1);
		}
		if (r == 0)
			r = cfs_buf_add(&view, l + 2 + pl, line_len - 2 - pl);
		if (r < 0)
			return r;
		v = view.data;
		vlen = view.len;
	} else {
		v = l;
		vlen = line_len;
	}

	i = 2;
	while (i < vlen && v[i] == ' ')
		i++;
	if (i >= vlen || v[i] != '/')
		return 0;
	exec = i;
	while (i < vlen) {
		if (v[i] == '\\' && i + 1 < vlen && v[i + 1] == ' ') {
			i += 2;
			continue;
		}
		if (v[i] == ' ' || v[i] == '\t' || v[i] == '\r')
			break;
		i++;
	}
	exec_end = i;
	slash = memrchr(v + exec, '/', exec_end - exec); /* v[exec] is '/' */

	if (vlen <= CFS_SHEBANG_MAX &&
	    !memmem(v + exec, (size_t)(slash - (v + exec)), "\\ ", 2))
		return 0;

	cfs_buf_init(&line, SIZE_MAX / 2);
	r = cfs_buf_add(&line, ENV_SHEBANG, strlen(ENV_SHEBANG));
	if (r == 0)
		r = cfs_buf_add(&line, slash + 1,
				 (size_t)(v + exec_end - slash - 1));
	if (r == 0)
		r = cfs_buf_add(&line, v + exec_end, vlen - exec_end);
	if (r < 0)
		return r;
	return buf_splice(out, start, line_len, line.data, line.len);
}

errint_t cfs_relocate_text(const char *data, size_t len,
			   const char *placeholder, const char *prefix,
			   struct cfs_buf *out, bool *changed)
{
	size_t start = out->len;
	size_t phl = strlen(placeholder), pl = strlen(prefix);
	errint_t r;

	*changed = false;
	/* Makes sure out->data is allocated even for empty input. */
	r = cfs_buf_add(out, "", 0);
	if (r == 0)
		r = replace_all(out, data, len, placeholder, phl, prefix, pl);
	if (r == 0)
		r = fix_shebang(out, start, data, len, placeholder, phl, prefix,
				pl);
	if (r < 0) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		return r;
	}
	*changed = out->len - start != len ||
		   (len > 0 && memcmp(out->data + start, data, len) != 0);
	return 0;
}

errint_t cfs_relocate_binary(char *data, size_t len, const char *placeholder,
			     const char *prefix, bool *changed)
{
	size_t phl = strlen(placeholder), pl = strlen(prefix);
	bool differs;
	char *p = data, *end = data + len;

	*changed = false;
	if (phl == 0)
		return 0;
	/*
	 * With pl < phl every relocated string gains at least one NUL (and
	 * with pl > phl nothing is relocated).
	 */
	differs = pl != phl || memcmp(prefix, placeholder, pl) != 0;

	while ((size_t)(end - p) >= phl) {
		char *q = memmem(p, (size_t)(end - p), placeholder, phl);
		char *str_end, *w, *rd;

		if (!q)
			break;
		/*
		 * conda's pattern is placeholder, anything but NUL, NUL: a
		 * string that runs to the end of the file is left alone.
		 */
		str_end = memchr(q, '\0', (size_t)(end - q));
		if (!str_end)
			break;
		/* Only a replacement that happens can be too long (nothing is written yet). */
		if (pl > phl)
			return -ENAMETOOLONG;
		/* Compact q..str_end in place; pl <= phl keeps w <= rd. */
		w = rd = q;
		while ((size_t)(str_end - rd) >= phl &&
		       (q = memmem(rd, (size_t)(str_end - rd), placeholder,
				   phl)) != NULL) {
			memmove(w, rd, (size_t)(q - rd));
			w += q - rd;
			memcpy(w, prefix, pl);
			w += pl;
			rd = q + phl;
		}
		memmove(w, rd, (size_t)(str_end - rd));
		w += str_end - rd;
		memset(w, 0, (size_t)(str_end - w));
		*changed = *changed || differs;
		p = str_end;
	}
	return 0;
}

bool cfs_path_is_safe(const char *path)
{
	const char *p, *slash;
	size_t n;

	if (!path || !*path || path[0] == '/')
		return false;
	if (strnlen(path, CFS_MAX_PATH_BYTES) >= CFS_MAX_PATH_BYTES)
		return false;
	for (p = path;; p = slash + 1) {
		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0)
			return false; /* "//" or a trailing "/" */
		if ((n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!slash)
			return true;
	}
}

bool cfs_symlink_target_is_contained(const char *link_path, const char *target)
{
	const char *p, *slash;
	size_t depth = 0, n;

	if (!cfs_path_is_safe(link_path) || !target || !*target ||
	    target[0] == '/')
		return false;
	/* Depth of the link's directory below the prefix. */
	for (p = link_path; (slash = strchr(p, '/')) != NULL; p = slash + 1)
		depth++;
	for (p = target; *p; p = slash ? slash + 1 : p + n) {
		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.'))
			continue;
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (depth == 0)
				return false;
			depth--;
		} else {
			depth++;
		}
	}
	return true;
}

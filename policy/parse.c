/* SPDX-License-Identifier: MIT */
/*
 * The policy file parser: one directive per line, words separated by
 * spaces or tabs, '#' starting a comment where a word would start.  See
 * docs/policy.md for the grammar.
 */
#include "policy-internal.h"
#include "buf.h"

#include <stdarg.h>
#include <string.h>

/* Presets may include presets ("expert" includes the others). */
#define MAX_PRESET_DEPTH 4

struct parser {
	struct cfs_policy *p;
	const char *origin;
	bool from_preset;
	int depth;
	unsigned line;
	struct cfs_err *err;
};

/* Sets "<origin>:<line>: <msg>" and returns -EINVAL. */
__attribute__((format(printf, 2, 3)))
static errint_t fail(struct parser *ps, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ps->line == 0) /* not in a file: cfs_policy_add_presets() */
		return cfs_err_set(ps->err, EINVAL, "%s: %s", ps->origin, msg);
	return cfs_err_set(ps->err, EINVAL, "%s:%u: %s", ps->origin, ps->line, msg);
}

/* ---- words ---- */

struct word {
	const char *s; /* the word, without its quotes */
	size_t n;
	bool quoted;
	const char *end; /* just past it in the line (past the closing quote) */
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

static bool word_is(const struct word *w, const char *lit)
{
	return !w->quoted && w->n == strlen(lit) && memcmp(w->s, lit, w->n) == 0;
}

/*
 * The next word at *pos: 1 and *w, 0 at the end of the line or at a
 * comment, or -EINVAL with *why.  A backslash keeps the next character in
 * the word (it is left in place for the glob); "..." quotes a word.
 */
static int next_word(const char **pos, const char *end, struct word *w,
		     const char **why)
{
	const char *q = *pos;

	while (q < end && is_space(*q))
		q++;
	if (q == end || *q == '#') {
		*pos = end;
		return 0;
	}
	if (*q == '"') {
		w->s = ++q;
		while (q < end && *q != '"')
			q += (*q == '\\' && q + 1 < end) ? 2 : 1;
		if (q >= end) {
			*why = "unterminated '\"'";
			return -EINVAL;
		}
		w->n = (size_t)(q - w->s);
		w->quoted = true;
		q++;
		if (q < end && !is_space(*q)) {
			*why = "unexpected character after a closing '\"'";
			return -EINVAL;
		}
	} else {
		w->s = q;
		while (q < end && !is_space(*q)) {
			if (*q == '"') {
				*why = "'\"' inside an unquoted word (quote the whole "
				       "pattern, or write \\\")";
				return -EINVAL;
			}
			q += (*q == '\\' && q + 1 < end) ? 2 : 1;
		}
		w->n = (size_t)(q - w->s);
		w->quoted = false;
	}
	w->end = q;
	*pos = q;
	return 1;
}

struct slice {
	const char *s;
	size_t n;
};

/*
 * A comma-separated list filling the rest of the line: "a,b", "a, b" and
 * "a ,b" are all two items.  what names an item in messages; missing is
 * the message when there is none.  *last_end: past the last word.
 */
static errint_t parse_list(struct parser *ps, const char **pos, const char *end,
			   const char *what, const char *missing,
			   struct slice *items, size_t max, size_t *n_items,
			   const char **last_end)
{
	bool need = true;
	char q[160];

	*n_items = 0;
	for (;;) {
		const char *why;
		struct word w;
		int r = next_word(pos, end, &w, &why);

		if (r < 0)
			return fail(ps, "%s", why);
		if (r == 0)
			break;
		if (w.quoted)
			return fail(ps, "a %s cannot be quoted", what);
		*last_end = w.end;
		for (size_t i = 0; i <= w.n;) {
			size_t j = i;
			while (j < w.n && w.s[j] != ',')
				j += (w.s[j] == '\\' && j + 1 < w.n) ? 2 : 1;
			if (j > i) {
				if (!need) {
					pol_quote(q, sizeof(q), w.s + i, j - i);
					return fail(ps, "expected ',' between %ss, got %s", what, q);
				}
				if (*n_items == max)
					return fail(ps, "more than %zu %ss", max, what);
				items[(*n_items)++] = (struct slice){ w.s + i, j - i };
				need = false;
			}
			if (j < w.n) {
				if (need)
					return fail(ps, "empty %s (a ',' with nothing before it)", what);
				need = true;
			}
			i = j + 1;
		}
	}
	if (need)
		return *n_items ? fail(ps, "empty %s after the last ','", what)
				: fail(ps, "%s", missing);
	return 0;
}

/* ---- directives ---- */

static errint_t include_preset(struct parser *ps, const char *name, size_t len)
{
	char origin[64];
	int idx = pol_preset_find(name, len), r;

	if (idx < 0) {
		cleanup_free char *word = cfs_xstrndup(name, len);
		const char *names[64], *hint;
		size_t n = cfs_policy_n_presets();
		char q[160], known[512];

		for (size_t i = 0; i < n && i < CFS_ARRAY_SIZE(names); i++)
			names[i] = cfs_policy_preset_name(i);
		hint = pol_suggest(word, names, n < CFS_ARRAY_SIZE(names) ? n : CFS_ARRAY_SIZE(names));
		pol_quote(q, sizeof(q), name, len);
		pol_preset_names(known, sizeof(known));
		if (hint)
			return fail(ps, "unknown preset %s (did you mean '%s'? known: %s)",
				    q, hint, known);
		return fail(ps, "unknown preset %s (known: %s)", q, known);
	}
	if (ps->depth >= MAX_PRESET_DEPTH)
		return fail(ps, "presets nested too deeply");
	snprintf(origin, sizeof(origin), "preset:%s", cfs_policy_preset_name((size_t)idx));
	r = pol_parse(ps->p, origin, true, cfs_policy_preset_text((size_t)idx),
		      strlen(cfs_policy_preset_text((size_t)idx)), ps->depth + 1, ps->err);
	if (r < 0 && ps->line)
		cfs_err_prefix(ps->err, "%s:%u", ps->origin, ps->line);
	else if (r < 0)
		cfs_err_prefix(ps->err, "%s", ps->origin);
	return r;
}

static errint_t parse_preset(struct parser *ps, const char **pos, const char *end)
{
	struct slice names[64];
	const char *last;
	size_t n;
	int r = parse_list(ps, pos, end, "preset name", "'preset' needs a preset name",
			   names, CFS_ARRAY_SIZE(names), &n, &last);

	for (size_t i = 0; i < n && r == 0; i++)
		r = include_preset(ps, names[i].s, names[i].n);
	return r;
}

static errint_t add_rule(struct parser *ps, bool keep, const char *start,
			 const char *end, const struct word *pat,
			 struct pol_glob *path, struct slice *pkgs, size_t n_pkgs)
{
	struct pol_rule *r = cfs_xcalloc(1, sizeof(*r));
	const char *why;

	r->path = *path;
	memset(path, 0, sizeof(*path));
	r->pub.keep = keep;
	r->pub.from_preset = ps->from_preset;
	r->pub.origin = cfs_xasprintf("%s:%u", ps->origin, ps->line);
	r->pub.text = cfs_xstrndup(start, (size_t)(end - start));
	r->pub.pattern = cfs_xstrndup(pat->s, pat->n);
	if (n_pkgs) {
		r->pkgs = cfs_xcalloc(n_pkgs, sizeof(*r->pkgs));
		r->pkg_text = cfs_xcalloc(n_pkgs, sizeof(*r->pkg_text));
	}
	for (size_t i = 0; i < n_pkgs; i++) {
		int e = pol_glob_compile(&r->pkgs[i], pkgs[i].s, pkgs[i].n, false, &why);
		if (e < 0) {
			char q[160];
			pol_quote(q, sizeof(q), pkgs[i].s, pkgs[i].n);
			pol_rule_free(r);
			return fail(ps, "bad package glob %s: %s", q, why);
		}
		r->pkg_text[i] = cfs_xstrndup(pkgs[i].s, pkgs[i].n);
		r->pub.n_packages = i + 1;
	}
	if (pol_add_rule(ps->p, r) < 0)
		return fail(ps, "more than %d rules", CFS_POLICY_MAX_RULES);
	return 0;
}

static errint_t parse_rule(struct parser *ps, bool keep, const struct word *dir,
			   const char **pos, const char *end)
{
	struct slice pkgs[CFS_POLICY_MAX_PKGS];
	struct pol_glob glob = { 0 };
	const char *why, *last;
	struct word pat, w;
	size_t n_pkgs = 0;
	char q[160];
	int r;

	r = next_word(pos, end, &pat, &why);
	if (r < 0)
		return fail(ps, "%s", why);
	if (r == 0)
		return fail(ps, "'%s' needs a pattern", keep ? "keep" : "exclude");
	if (pat.n == 0)
		return fail(ps, "empty pattern");
	if (pol_glob_compile(&glob, pat.s, pat.n, true, &why) < 0) {
		pol_quote(q, sizeof(q), pat.s, pat.n);
		return fail(ps, "bad pattern %s: %s", q, why);
	}
	last = pat.end;
	r = next_word(pos, end, &w, &why);
	if (r < 0) {
		r = fail(ps, "%s", why);
	} else if (r > 0 && !word_is(&w, "in")) {
		pol_quote(q, sizeof(q), w.s, w.n);
		r = fail(ps, "unexpected %s after the pattern (quote a pattern that "
			 "contains spaces; scope a rule with 'in PACKAGE')", q);
	} else if (r > 0) {
		r = parse_list(ps, pos, end, "package glob", "'in' needs a package name or glob",
			       pkgs, CFS_ARRAY_SIZE(pkgs), &n_pkgs, &last);
	}
	if (r >= 0)
		r = add_rule(ps, keep, dir->s, last, &pat, &glob, pkgs, n_pkgs);
	pol_glob_release(&glob);
	return r;
}

static errint_t parse_line(struct parser *ps, const char *line, size_t len)
{
	static const char *const directives[] = { "exclude", "keep", "preset" };
	const char *pos = line, *end = line + len, *why, *hint;
	cleanup_free char *word = NULL;
	struct word dir;
	char q[160];
	int r = next_word(&pos, end, &dir, &why);

	if (r <= 0)
		return r < 0 ? fail(ps, "%s", why) : 0;
	if (word_is(&dir, "exclude") || word_is(&dir, "keep"))
		return parse_rule(ps, word_is(&dir, "keep"), &dir, &pos, end);
	if (word_is(&dir, "preset"))
		return parse_preset(ps, &pos, end);
	pol_quote(q, sizeof(q), dir.s, dir.n);
	word = cfs_xstrndup(dir.s, dir.n);
	hint = pol_suggest(word, directives, CFS_ARRAY_SIZE(directives));
	if (hint)
		return fail(ps, "unknown directive %s (did you mean '%s'?)", q, hint);
	return fail(ps, "unknown directive %s (expected exclude, keep or preset)", q);
}

errint_t pol_parse(struct cfs_policy *p, const char *origin, bool from_preset,
		   const char *text, size_t len, int depth, struct cfs_err *err)
{
	struct parser ps = {
		.p = p, .origin = origin, .from_preset = from_preset,
		.depth = depth, .err = err,
	};
	const char *s = text, *end = text + len;

	if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3; /* a UTF-8 byte order mark */
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = (size_t)((nl ? nl : end) - s);
		int r;

		ps.line++;
		if (n && s[n - 1] == '\r')
			n--;
		if (n > CFS_POLICY_MAX_LINE)
			return fail(&ps, "line longer than %d bytes", CFS_POLICY_MAX_LINE);
		if (memchr(s, '\0', n))
			return fail(&ps, "NUL byte in line");
		r = parse_line(&ps, s, n);
		if (r < 0)
			return r;
		s = nl ? nl + 1 : end;
	}
	return 0;
}

/* ---- entry points ---- */

errint_t cfs_policy_add_text(struct cfs_policy *p, const char *origin,
			     const char *text, size_t len, struct cfs_err *err)
{
	size_t n0 = p->n_rules;
	int r;

	if (!origin)
		origin = "(policy)";
	if (len > CFS_POLICY_MAX_BYTES)
		return cfs_err_set(err, EFBIG, "%s: policy larger than %u KiB", origin,
				   CFS_POLICY_MAX_BYTES >> 10);
	r = pol_parse(p, origin, false, text, len, 0, err);
	if (r < 0)
		pol_truncate(p, n0);
	return r;
}

errint_t cfs_policy_add_file(struct cfs_policy *p, const char *path,
			     struct cfs_err *err)
{
	cleanup_buf struct cfs_buf b;
	int r;

	cfs_buf_init(&b, CFS_POLICY_MAX_BYTES);
	r = cfs_buf_read_file(&b, path);
	if (r == -EFBIG)
		return cfs_err_set(err, EFBIG, "%s: policy file larger than %u KiB", path,
				   CFS_POLICY_MAX_BYTES >> 10);
	if (r < 0)
		return cfs_err_set(err, -r, "%s: cannot read: %s", path, strerror(-r));
	return cfs_policy_add_text(p, path, b.data, b.len, err);
}

errint_t cfs_policy_add_presets(struct cfs_policy *p, const char *names,
				struct cfs_err *err)
{
	struct parser ps = { .p = p, .origin = "--preset", .err = err };
	size_t n0 = p->n_rules;
	const char *s = names;

	for (;;) {
		const char *comma = strchr(s, ',');
		const char *e = comma ? comma : s + strlen(s);
		int r;

		while (s < e && is_space(*s))
			s++;
		while (e > s && is_space(e[-1]))
			e--;
		if (s == e)
			r = cfs_err_set(err, EINVAL, "--preset: empty preset name");
		else
			r = include_preset(&ps, s, (size_t)(e - s));
		if (r < 0) {
			pol_truncate(p, n0);
			return r;
		}
		if (!comma)
			return 0;
		s = comma + 1;
	}
}

/* SPDX-License-Identifier: MIT */
/*
 * Globs for prune rules: compiled once into components and tokens, then
 * matched without recursion.  Both levels use the two-pointer wildcard
 * algorithm (remember the last star, retry from one step further on a
 * mismatch), so matching costs at most O(pattern x subject) and a pattern
 * with many '**' components cannot blow up.
 *
 * Characters are UTF-8 code points; a byte that does not start a valid
 * sequence is one character of its own, as 0xDC00 + byte (the same trick
 * as Python's surrogateescape), so '?' and classes work on any name.
 */
#include "policy-internal.h"

#include <string.h>

#define NONE SIZE_MAX

/* Decodes one character of s[0..n), n > 0; returns its length in bytes. */
static size_t u8_next(const char *str, size_t n, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned c = s[0];
	uint32_t v, min;
	size_t len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		v = c & 0x1F;
		min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		v = c & 0x0F;
		min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		v = c & 0x07;
		min = 0x10000;
	} else {
		goto stray;
	}
	if (len > n)
		goto stray;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			goto stray;
		v = v << 6 | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		goto stray;
	*cp = v;
	return len;
stray:
	*cp = 0xDC00 + c;
	return 1;
}

/* ---- compiling ---- */

/* A component under construction. */
struct comp_builder {
	struct pol_comp c;
	size_t alloc_lit, alloc_toks, alloc_ranges;
	bool had_glob; /* a token other than LIT */
};

static void add_lit(struct comp_builder *b, const char *s, size_t n)
{
	struct pol_comp *c = &b->c;
	struct pol_tok *last = c->n_toks ? &c->toks[c->n_toks - 1] : NULL;

	if (c->lit_len + n + 1 > b->alloc_lit) {
		b->alloc_lit = (c->lit_len + n + 1) * 2;
		c->lit = cfs_xrealloc(c->lit, b->alloc_lit);
	}
	memcpy(c->lit + c->lit_len, s, n);
	if (last && last->kind == POL_TOK_LIT && last->off + last->len == c->lit_len) {
		last->len += (uint32_t)n;
	} else {
		if (c->n_toks == b->alloc_toks) {
			b->alloc_toks = b->alloc_toks ? 2 * b->alloc_toks : 4;
			c->toks = cfs_xrealloc(c->toks, b->alloc_toks * sizeof(*c->toks));
		}
		c->toks[c->n_toks++] = (struct pol_tok){
			.kind = POL_TOK_LIT, .off = (uint32_t)c->lit_len, .len = (uint32_t)n,
		};
	}
	c->lit_len += n;
	c->lit[c->lit_len] = '\0';
}

static struct pol_tok *add_tok(struct comp_builder *b, enum pol_tok_kind kind)
{
	struct pol_comp *c = &b->c;

	/* "**" inside a name is the same as '*' */
	if (kind == POL_TOK_STAR && c->n_toks && c->toks[c->n_toks - 1].kind == POL_TOK_STAR)
		return &c->toks[c->n_toks - 1];
	if (c->n_toks == b->alloc_toks) {
		b->alloc_toks = b->alloc_toks ? 2 * b->alloc_toks : 4;
		c->toks = cfs_xrealloc(c->toks, b->alloc_toks * sizeof(*c->toks));
	}
	b->had_glob = true;
	c->toks[c->n_toks] = (struct pol_tok){ .kind = kind };
	return &c->toks[c->n_toks++];
}

static void add_range(struct comp_builder *b, uint32_t lo, uint32_t hi)
{
	struct pol_comp *c = &b->c;

	if (c->n_ranges == b->alloc_ranges) {
		b->alloc_ranges = b->alloc_ranges ? 2 * b->alloc_ranges : 4;
		c->ranges = cfs_xrealloc(c->ranges, b->alloc_ranges * sizeof(*c->ranges));
	}
	c->ranges[c->n_ranges++] = (struct pol_range){ lo, hi };
}

static void comp_release(struct pol_comp *c)
{
	free(c->lit);
	free(c->toks);
	free(c->ranges);
	memset(c, 0, sizeof(*c));
}

/* One class member at s[*i]: an optionally escaped character. */
static errint_t class_char(const char *s, size_t end, size_t *i, bool path,
			   uint32_t *cp, const char **why)
{
	if (s[*i] == '\\')
		(*i)++;
	if (*i >= end) {
		*why = "unterminated character class";
		return -EINVAL;
	}
	if (s[*i] == '/' && path) {
		*why = "'/' inside a character class (a class matches one character of a name)";
		return -EINVAL;
	}
	*i += u8_next(s + *i, end - *i, cp);
	return 0;
}

/* Parses the class that starts at s[*i] == '['. */
static errint_t parse_class(struct comp_builder *b, const char *s, size_t end,
			    size_t *i, bool path, const char **why)
{
	size_t first_range = b->c.n_ranges;
	bool negate = false, first = true;
	struct pol_tok *t;

	(*i)++;
	if (*i < end && (s[*i] == '!' || s[*i] == '^')) {
		negate = true;
		(*i)++;
	}
	for (;;) {
		uint32_t lo, hi;
		int r;

		if (*i >= end) {
			*why = "unterminated character class";
			return -EINVAL;
		}
		if (s[*i] == ']' && !first)
			break;
		if (s[*i] == '[' && *i + 1 < end && strchr(":=.", s[*i + 1])) {
			*why = "POSIX classes like [:alpha:] are not supported (escape the '[')";
			return -EINVAL;
		}
		first = false;
		r = class_char(s, end, i, path, &lo, why);
		if (r < 0)
			return r;
		hi = lo;
		if (*i + 1 < end && s[*i] == '-' && s[*i + 1] != ']') {
			(*i)++;
			r = class_char(s, end, i, path, &hi, why);
			if (r < 0)
				return r;
			if (hi < lo) {
				*why = "reversed range in character class";
				return -EINVAL;
			}
		}
		add_range(b, lo, hi);
	}
	(*i)++; /* the ']' */
	t = add_tok(b, POL_TOK_CLASS);
	t->negate = negate;
	t->off = (uint32_t)first_range;
	t->len = (uint32_t)(b->c.n_ranges - first_range);
	return 0;
}

/*
 * Compiles the component at s[*i] up to an unescaped '/' (path patterns)
 * or the end, leaving *i there.  *dstar: the component is exactly "**".
 */
static errint_t compile_comp(struct comp_builder *b, const char *s, size_t end,
			     size_t *i, bool path, bool *dstar, const char **why)
{
	size_t start = *i;
	int r;

	*dstar = false;
	while (*i < end && !(path && s[*i] == '/')) {
		char c = s[*i];

		if (c == '*') {
			if (path && *i + 1 < end && s[*i + 1] == '*') {
				size_t j = *i + 2;
				if (*i != start || (j < end && s[j] != '/')) {
					*why = "'**' must be a whole path component "
					       "(use '*' within a name)";
					return -EINVAL;
				}
				*dstar = true;
				*i = j;
				return 0;
			}
			add_tok(b, POL_TOK_STAR);
			(*i)++;
		} else if (c == '?') {
			add_tok(b, POL_TOK_ANY);
			(*i)++;
		} else if (c == '[') {
			r = parse_class(b, s, end, i, path, why);
			if (r < 0)
				return r;
		} else if (c == '\\') {
			if (*i + 1 >= end) {
				*why = "pattern ends with a lone '\\'";
				return -EINVAL;
			}
			if (s[*i + 1] == '/' && path) {
				*why = "'/' cannot be escaped (it always separates components)";
				return -EINVAL;
			}
			add_lit(b, s + *i + 1, 1);
			*i += 2;
		} else if (c == '/') {
			*why = "'/' in a package glob";
			return -EINVAL;
		} else if (c == '{') {
			*why = "braces do not expand (write one rule per alternative, "
			       "or escape the '{')";
			return -EINVAL;
		} else {
			size_t j = *i + 1;
			while (j < end && !memchr("*?[\\/{", s[j], 6))
				j++;
			add_lit(b, s + *i, j - *i);
			*i = j;
		}
	}
	if (*i == start) {
		*why = *i == end ? "trailing '/' (write 'dir/**' for a directory and "
				   "everything below it)"
				 : "empty path component ('//')";
		return -EINVAL;
	}
	if (path && !b->had_glob &&
	    (strcmp(b->c.lit, ".") == 0 || strcmp(b->c.lit, "..") == 0)) {
		*why = "'.' and '..' components are not allowed (paths are relative "
		       "to the prefix)";
		return -EINVAL;
	}
	b->c.kind = b->had_glob ? POL_COMP_GLOB : POL_COMP_LIT;
	if (!b->had_glob) {
		free(b->c.toks);
		b->c.toks = NULL;
		b->c.n_toks = 0;
	}
	return 0;
}

static void push_comp(struct pol_glob *g, size_t *alloc, const struct pol_comp *c)
{
	if (g->n_comps == *alloc) {
		*alloc = *alloc ? 2 * *alloc : 8;
		g->comps = cfs_xrealloc(g->comps, *alloc * sizeof(*g->comps));
	}
	g->comps[g->n_comps++] = *c;
}

/* Picks the longest literal run as the quick-reject string. */
static void choose_must(struct pol_glob *g)
{
	const char *best = NULL;
	size_t best_len = 0;

	if (g->n_comps && g->comps[0].kind == POL_COMP_LIT)
		return; /* the first component rejects faster */
	for (size_t i = 0; i < g->n_comps; i++) {
		const struct pol_comp *c = &g->comps[i];
		if (c->kind == POL_COMP_LIT && c->lit_len > best_len) {
			best = c->lit;
			best_len = c->lit_len;
		} else if (c->kind == POL_COMP_GLOB) {
			for (size_t k = 0; k < c->n_toks; k++) {
				const struct pol_tok *t = &c->toks[k];
				if (t->kind == POL_TOK_LIT && t->len > best_len) {
					best = c->lit + t->off;
					best_len = t->len;
				}
			}
		}
	}
	if (best_len) {
		g->must = cfs_xstrndup(best, best_len);
		g->must_len = best_len;
	}
}

errint_t pol_glob_compile(struct pol_glob *g, const char *s, size_t len,
			  bool path, const char **why)
{
	size_t i = 0, alloc = 0;

	memset(g, 0, sizeof(*g));
	if (path && len && s[0] == '/')
		i = 1; /* patterns are anchored anyway; "/lib" is "lib" */
	if (i == len) {
		*why = "empty pattern";
		return -EINVAL;
	}
	while (i < len) {
		struct comp_builder b = { 0 };
		bool dstar;
		int r;

		if (g->n_comps)
			i++; /* the '/' */
		r = compile_comp(&b, s, len, &i, path, &dstar, why);
		if (r < 0) {
			comp_release(&b.c);
			pol_glob_release(g);
			return r;
		}
		if (dstar) {
			comp_release(&b.c);
			if (g->n_comps && g->comps[g->n_comps - 1].kind == POL_COMP_DSTAR)
				continue; /* two "**" in a row are one */
			b.c.kind = POL_COMP_DSTAR;
		}
		push_comp(g, &alloc, &b.c);
	}
	if (path && g->comps[g->n_comps - 1].kind != POL_COMP_DSTAR) {
		struct pol_comp c = { .kind = POL_COMP_DSTAR };
		push_comp(g, &alloc, &c);
	}
	if (path)
		choose_must(g);
	return 0;
}

void pol_glob_release(struct pol_glob *g)
{
	for (size_t i = 0; i < g->n_comps; i++)
		comp_release(&g->comps[i]);
	free(g->comps);
	free(g->must);
	memset(g, 0, sizeof(*g));
}

bool pol_glob_is_literal(const struct pol_glob *g)
{
	for (size_t i = 0; i < g->n_comps; i++)
		if (g->comps[i].kind != POL_COMP_LIT)
			return false;
	return true;
}

/* ---- matching ---- */

static bool class_has(const struct pol_comp *c, const struct pol_tok *t, uint32_t cp)
{
	for (uint32_t k = 0; k < t->len; k++) {
		const struct pol_range *r = &c->ranges[t->off + k];
		if (cp >= r->lo && cp <= r->hi)
			return !t->negate;
	}
	return t->negate;
}

/* Matches one non-star token at s[0..n), n > 0; sets *adv on success. */
static bool tok_match(const struct pol_comp *c, const struct pol_tok *t,
		      const char *s, size_t n, size_t *adv)
{
	uint32_t cp;

	switch (t->kind) {
	case POL_TOK_LIT:
		if (t->len > n || memcmp(s, c->lit + t->off, t->len) != 0)
			return false;
		*adv = t->len;
		return true;
	case POL_TOK_ANY:
		*adv = u8_next(s, n, &cp);
		return true;
	case POL_TOK_CLASS:
		*adv = u8_next(s, n, &cp);
		return class_has(c, t, cp);
	case POL_TOK_STAR:
		break;
	}
	return false;
}

static bool comp_match(const struct pol_comp *c, const char *s, size_t n)
{
	size_t ti = 0, si = 0, star_ti = NONE, star_si = 0;

	if (c->kind == POL_COMP_LIT)
		return n == c->lit_len && memcmp(s, c->lit, n) == 0;
	while (si < n || ti < c->n_toks) {
		if (ti < c->n_toks) {
			const struct pol_tok *t = &c->toks[ti];
			size_t adv;

			if (t->kind == POL_TOK_STAR) {
				star_ti = ti++;
				star_si = si;
				continue;
			}
			if (si < n && tok_match(c, t, s + si, n - si, &adv)) {
				si += adv;
				ti++;
				continue;
			}
		}
		if (star_ti == NONE || star_si >= n)
			return false;
		uint32_t cp;
		star_si += u8_next(s + star_si, n - star_si, &cp);
		si = star_si;
		ti = star_ti + 1;
	}
	return true;
}

bool pol_glob_match_path(const struct pol_glob *g, const struct pol_span *p, size_t n)
{
	size_t pi = 0, si = 0, star_pi = NONE, star_si = 0;

	while (si < n) {
		if (pi < g->n_comps) {
			const struct pol_comp *c = &g->comps[pi];
			if (c->kind == POL_COMP_DSTAR) {
				star_pi = pi++;
				star_si = si;
				continue;
			}
			if (comp_match(c, p[si].s, p[si].n)) {
				pi++;
				si++;
				continue;
			}
		}
		if (star_pi == NONE)
			return false;
		pi = star_pi + 1;
		si = ++star_si;
	}
	while (pi < g->n_comps && g->comps[pi].kind == POL_COMP_DSTAR)
		pi++;
	return pi == g->n_comps;
}

bool pol_glob_match_name(const struct pol_glob *g, const char *s, size_t n)
{
	return g->n_comps == 1 && comp_match(&g->comps[0], s, n);
}

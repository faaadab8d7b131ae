/* SPDX-License-Identifier: MIT */
/*
 * Internals of the policy module: compiled globs (glob.c), rule storage
 * (policy.c), the parser (parse.c) and the preset table (presets.c).
 */
#ifndef CFS_POLICY_INTERNAL_H
#define CFS_POLICY_INTERNAL_H

#include "policy.h"

/* ---- glob.c ---- */

/* One step of a glob within a path component. */
enum pol_tok_kind {
	POL_TOK_LIT,   /* bytes lit[off, off+len) */
	POL_TOK_ANY,   /* '?': one character */
	POL_TOK_STAR,  /* '*': any run of characters */
	POL_TOK_CLASS, /* '[...]': ranges[off, off+len), negated or not */
};

struct pol_tok {
	enum pol_tok_kind kind;
	bool negate;
	uint32_t off, len;
};

/* An inclusive range of code points (or of 0xDC80+byte for a stray byte). */
struct pol_range {
	uint32_t lo, hi;
};

enum pol_comp_kind {
	POL_COMP_LIT,   /* the component equals lit exactly */
	POL_COMP_GLOB,  /* toks */
	POL_COMP_DSTAR, /* '**': zero or more whole components */
};

struct pol_comp {
	enum pol_comp_kind kind;
	char *lit; /* LIT: the unescaped name; GLOB: bytes of the LIT tokens */
	size_t lit_len;
	struct pol_tok *toks;
	size_t n_toks;
	struct pol_range *ranges;
	size_t n_ranges;
};

/*
 * A compiled path pattern.  It always ends with a DSTAR component (one is
 * appended if the pattern has none), which is how a pattern that matches a
 * directory matches everything below it.
 */
struct pol_glob {
	struct pol_comp *comps;
	size_t n_comps;
	/* Bytes every matching path contains, for a quick reject; only set
	 * when the pattern does not start with a literal component. */
	char *must;
	size_t must_len;
};

/* A path split into components (pointers into the caller's string). */
struct pol_span {
	const char *s;
	size_t n;
};

/*
 * Compiles pattern (len bytes, escapes still in it).  path: a path pattern
 * ('/' separates components, '**' allowed as a whole component); otherwise
 * a pattern for one name (a package glob, where '/' is an error).  On error
 * returns -EINVAL and sets *why to a static description.
 */
errint_t pol_glob_compile(struct pol_glob *g, const char *pattern, size_t len,
			  bool path, const char **why);
void pol_glob_release(struct pol_glob *g);
/* Whether a path glob matches the path comps[0..n) or one of its ancestors. */
bool pol_glob_match_path(const struct pol_glob *g, const struct pol_span *comps,
			 size_t n);
/* Whether a single-name glob (path == false) matches s[0..n). */
bool pol_glob_match_name(const struct pol_glob *g, const char *s, size_t n);
/* Whether the pattern has no glob characters once unescaped. */
bool pol_glob_is_literal(const struct pol_glob *g);

/* ---- policy.c ---- */

struct pol_rule {
	struct cfs_policy_rule pub; /* first: a public rule pointer is a pol_rule */
	struct pol_glob path;
	struct pol_glob *pkgs;      /* n = pub.n_packages */
	char **pkg_text;
};

struct cfs_policy {
	struct pol_rule **rules;
	size_t n_rules, alloc;
};

/* Takes the rule (fully built) and appends it; -E2BIG past the limit. */
errint_t pol_add_rule(struct cfs_policy *p, struct pol_rule *r);
void pol_rule_free(struct pol_rule *r);
/* Frees the rules from index n on (undoing a failed add). */
void pol_truncate(struct cfs_policy *p, size_t n);
/* The candidate closest to word (edit distance at most 2), or NULL. */
const char *pol_suggest(const char *word, const char *const *cands, size_t n);
/* Appends s[0..n) to out for a message: quoted, control bytes as \xNN,
 * cut after about 120 bytes. */
void pol_quote(char *out, size_t outlen, const char *s, size_t n);

/* ---- presets.c ---- */

/* Index of preset name[0..len), or -1. */
int pol_preset_find(const char *name, size_t len);
/* Writes "conda-meta, devel, ..." (for messages) into buf. */
void pol_preset_names(char *buf, size_t len);

/* ---- parse.c ---- */

/* Parses text as policy lines; origin as in cfs_policy_add_text().  depth
 * counts nested presets. */
errint_t pol_parse(struct cfs_policy *p, const char *origin, bool from_preset,
		   const char *text, size_t len, int depth, struct cfs_err *err);

#endif

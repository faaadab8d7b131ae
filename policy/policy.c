/* SPDX-License-Identifier: MIT */
/* Rule storage, matching, and the package check. */
#include "policy-internal.h"
#include "log.h"

#include <string.h>

/* Path components kept on the stack; deeper paths use the heap. */
#define STACK_COMPS 128

struct cfs_policy *cfs_policy_new(void)
{
	return cfs_xcalloc(1, sizeof(struct cfs_policy));
}

void pol_rule_free(struct pol_rule *r)
{
	if (!r)
		return;
	pol_glob_release(&r->path);
	for (size_t i = 0; i < r->pub.n_packages; i++) {
		pol_glob_release(&r->pkgs[i]);
		free(r->pkg_text[i]);
	}
	free(r->pkgs);
	free(r->pkg_text);
	free((char *)r->pub.origin);
	free((char *)r->pub.text);
	free((char *)r->pub.pattern);
	free(r);
}

void pol_truncate(struct cfs_policy *p, size_t n)
{
	while (p->n_rules > n)
		pol_rule_free(p->rules[--p->n_rules]);
}

void cfs_policy_free(struct cfs_policy *p)
{
	if (!p)
		return;
	pol_truncate(p, 0);
	free(p->rules);
	free(p);
}

errint_t pol_add_rule(struct cfs_policy *p, struct pol_rule *r)
{
	if (p->n_rules >= CFS_POLICY_MAX_RULES) {
		pol_rule_free(r);
		return -E2BIG;
	}
	if (p->n_rules == p->alloc) {
		p->alloc = p->alloc ? 2 * p->alloc : 64;
		p->rules = cfs_xrealloc(p->rules, p->alloc * sizeof(*p->rules));
	}
	r->pub.packages = (const char *const *)r->pkg_text;
	p->rules[p->n_rules++] = r;
	return 0;
}

size_t cfs_policy_n_rules(const struct cfs_policy *p)
{
	return p->n_rules;
}

const struct cfs_policy_rule *cfs_policy_rule_at(const struct cfs_policy *p, size_t i)
{
	return i < p->n_rules ? &p->rules[i]->pub : NULL;
}

/* ---- matching ---- */

/* The path and its package, prepared once for all rules. */
struct subject {
	const char *path;
	size_t len;
	const struct pol_span *comps;
	size_t n;
	const char *pkg;
	size_t pkg_len;
};

static bool rule_hit(const struct pol_rule *r, const struct subject *s)
{
	if (r->path.must && !memmem(s->path, s->len, r->path.must, r->path.must_len))
		return false;
	if (r->pub.n_packages) {
		bool any = false;
		if (!s->pkg)
			return false;
		for (size_t i = 0; i < r->pub.n_packages && !any; i++)
			any = pol_glob_match_name(&r->pkgs[i], s->pkg, s->pkg_len);
		if (!any)
			return false;
	}
	return pol_glob_match_path(&r->path, s->comps, s->n);
}

/* Splits path into comps (stack, or *heap when there are more); returns n. */
static size_t split(const char *path, size_t len, struct pol_span *stack,
		    struct pol_span **heap)
{
	struct pol_span *c = stack;
	size_t n = 0, slashes = 0;

	for (const char *q = path; (q = memchr(q, '/', len - (size_t)(q - path))); q++)
		slashes++;
	if (slashes + 1 > STACK_COMPS)
		c = *heap = cfs_xmalloc((slashes + 1) * sizeof(*c));
	for (size_t i = 0; i < len;) {
		const char *e = memchr(path + i, '/', len - i);
		size_t j = e ? (size_t)(e - path) : len;
		if (j > i)
			c[n++] = (struct pol_span){ path + i, j - i };
		i = j + 1;
	}
	return n;
}

/*
 * Walks the rules from last to first and returns the first hit: with the
 * last match deciding, no other rule can change the answer.
 */
const struct cfs_policy_rule *cfs_policy_match(const struct cfs_policy *p,
					       const char *path,
					       const char *package)
{
	struct pol_span stack[STACK_COMPS];
	cleanup_free struct pol_span *heap = NULL;
	struct subject s = { .path = path, .len = strlen(path), .pkg = package };

	s.n = split(path, s.len, stack, &heap);
	s.comps = heap ? heap : stack;
	s.pkg_len = package ? strlen(package) : 0;
	if (s.n == 0)
		return NULL; /* the prefix itself */
	for (size_t i = p->n_rules; i-- > 0;)
		if (rule_hit(p->rules[i], &s))
			return &p->rules[i]->pub;
	return NULL;
}

bool cfs_policy_prunes(const struct cfs_policy *p, const char *path,
		       const char *package)
{
	const struct cfs_policy_rule *r = cfs_policy_match(p, path, package);
	return r && !r->keep;
}

bool cfs_policy_rule_matches(const struct cfs_policy_rule *rule,
			     const char *path, const char *package)
{
	const struct pol_rule *r = (const struct pol_rule *)rule;
	struct pol_span stack[STACK_COMPS];
	cleanup_free struct pol_span *heap = NULL;
	struct subject s = { .path = path, .len = strlen(path), .pkg = package };

	s.n = split(path, s.len, stack, &heap);
	s.comps = heap ? heap : stack;
	s.pkg_len = package ? strlen(package) : 0;
	return s.n > 0 && rule_hit(r, &s);
}

/* ---- messages ---- */

void pol_quote(char *out, size_t outlen, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i, cut = n > 120 ? 120 : n;

	if (outlen < 8)
		return;
	out[o++] = '\'';
	for (i = 0; i < cut && o + 8 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	if (i < n) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '\'';
	out[o] = '\0';
}

/* Levenshtein distance, or a large number for long words. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[65];

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

const char *pol_suggest(const char *word, const char *const *cands, size_t n)
{
	const char *best = NULL;
	size_t best_d = 3, wl = strlen(word);

	for (size_t i = 0; i < n; i++) {
		size_t d;
		if (!cands[i])
			continue;
		d = distance(word, cands[i]);
		if (d < best_d && d < wl) {
			best = cands[i];
			best_d = d;
		}
	}
	return best;
}

/* ---- the package check ---- */

static void emit(cfs_policy_warn_fn warn, void *data, const char *msg)
{
	if (warn)
		warn(data, msg);
	else
		cfs_warn("%s", msg);
}

size_t cfs_policy_check_packages(const struct cfs_policy *p,
				 const char *const *names, size_t n,
				 cfs_policy_warn_fn warn, void *data)
{
	size_t count = 0;

	for (size_t i = 0; i < p->n_rules; i++) {
		const struct pol_rule *r = p->rules[i];

		if (r->pub.from_preset)
			continue;
		for (size_t k = 0; k < r->pub.n_packages; k++) {
			const char *text = r->pkg_text[k], *hint;
			char q[160], msg[512], dym[160] = "";
			bool hit = false;

			for (size_t j = 0; j < n && !hit; j++)
				hit = names[j] &&
				      pol_glob_match_name(&r->pkgs[k], names[j], strlen(names[j]));
			if (hit)
				continue;
			pol_quote(q, sizeof(q), text, strlen(text));
			if (pol_glob_is_literal(&r->pkgs[k])) {
				hint = pol_suggest(text, names, n);
				if (hint)
					snprintf(dym, sizeof(dym), " (did you mean '%.100s'?)", hint);
				snprintf(msg, sizeof(msg),
					 "%s: rule scoped to package %s, which is not in the lock%s",
					 r->pub.origin, q, dym);
			} else {
				snprintf(msg, sizeof(msg),
					 "%s: package glob %s matches no package in the lock",
					 r->pub.origin, q);
			}
			emit(warn, data, msg);
			count++;
		}
	}
	return count;
}

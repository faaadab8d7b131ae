/* SPDX-License-Identifier: MIT */
/*
 * Prune policies: which paths of an environment are not needed.
 *
 * A policy is an ordered list of rules read from policy files, policy text
 * and built-in presets ("exclude include", "keep share/doc/zlib in
 * zlib", "preset devel").  The last rule that matches a path decides it; a
 * path no rule matches is kept.  A rule whose pattern matches a directory
 * also matches everything below it.  The language is specified in
 * docs/policy.md.
 *
 * A policy is built once (not thread-safe) and then only read: any number
 * of threads may call cfs_policy_match() on it at the same time.
 */
#ifndef CFS_POLICY_H
#define CFS_POLICY_H

#include "cfs-util.h"

/* Bounds on policy input, which may come from an untrusted file. */
#define CFS_POLICY_MAX_BYTES (1u << 20)  /* one policy file or text */
#define CFS_POLICY_MAX_LINE 4096         /* bytes in one line */
#define CFS_POLICY_MAX_RULES 10000       /* rules in one policy, presets included */
#define CFS_POLICY_MAX_PKGS 256          /* package globs after one 'in' */

struct cfs_policy;

/*
 * One rule.  All strings belong to the policy and live until
 * cfs_policy_free().
 */
struct cfs_policy_rule {
	const char *origin;   /* where it was written: "my.policy:7", "preset:devel:3" */
	const char *text;     /* the rule as written, without comment:
			       * "exclude include in numpy,scipy" */
	const char *pattern;  /* the path pattern, quotes removed, escapes kept */
	bool keep;            /* true: a keep rule; false: an exclude rule */
	bool from_preset;     /* written in a built-in preset */
	size_t n_packages;    /* 0: the rule applies to paths of any package */
	const char *const *packages; /* the package globs after 'in' */
};

/* An empty policy (it keeps everything).  Caller frees with cfs_policy_free(). */
struct cfs_policy *cfs_policy_new(void);
/* Frees p and all its rules; NULL is allowed. */
void cfs_policy_free(struct cfs_policy *p);

/*
 * Appends the rules of the policy file at path.  Rules added by earlier
 * calls stay before them (and so lose to them).  All or nothing: on error
 * no rule of the file is added.
 *
 * Returns -EINVAL for a malformed file, with err set to one line
 * "<path>:<line>: <problem>", e.g. "my.policy:7: unknown directive
 * 'exlude' (expected exclude, keep or preset)"; -EFBIG for a file larger
 * than CFS_POLICY_MAX_BYTES and -errno when it cannot be read, with
 * "<path>: <problem>".
 */
errint_t cfs_policy_add_file(struct cfs_policy *p, const char *path,
			     struct cfs_err *err);

/*
 * The same for policy text in memory: text need not be NUL-terminated (a
 * NUL byte in it is an error).  origin names the text in rule origins and
 * messages ("my.policy" gives "my.policy:7"); the policy copies it.
 */
errint_t cfs_policy_add_text(struct cfs_policy *p, const char *origin,
			     const char *text, size_t len, struct cfs_err *err);

/*
 * Appends built-in presets, as if the lines "preset NAME" were written in
 * that order: names is a comma-separated list such as "devel,tests"
 * (spaces around commas are allowed).  Returns -EINVAL with
 * "--preset: unknown preset 'devle' (did you mean 'devel'? known: ...)" or
 * "--preset: empty preset name"; then no rule is added.
 */
errint_t cfs_policy_add_presets(struct cfs_policy *p, const char *names,
				struct cfs_err *err);

/* Number of rules, presets expanded, in order. */
size_t cfs_policy_n_rules(const struct cfs_policy *p);
/* Rule i (i < cfs_policy_n_rules(p)); owned by p. */
const struct cfs_policy_rule *cfs_policy_rule_at(const struct cfs_policy *p, size_t i);

/*
 * Decides path, a path relative to the environment's prefix without a
 * leading '/' ("lib/python3.11/os.py"; empty components are ignored),
 * owned by package (a conda package name, or NULL for a path no package
 * owns: such paths match only rules without 'in').
 *
 * Returns the deciding rule, the last rule that matches path or one of
 * its ancestor directories, or NULL if none does.  The caller prunes path
 * if the result is non-NULL and !rule->keep.  The rule is owned by p.
 *
 * Each path is decided on its own, so a caller walking a tree must ask
 * about every path: a later rule can keep a file below a directory an
 * earlier rule excludes ("exclude share/doc" then "keep
 * share/doc/zlib/LICENSE").  Such a directory stays as long as it holds
 * a kept path.
 */
const struct cfs_policy_rule *cfs_policy_match(const struct cfs_policy *p,
					       const char *path,
					       const char *package);

/* True if path would be pruned: cfs_policy_match() says exclude. */
bool cfs_policy_prunes(const struct cfs_policy *p, const char *path,
		       const char *package);

/*
 * True if rule (one of a policy's) matches path, owned by package, on its
 * own, whatever other rules say: for a tool that lists every rule that
 * matches a path, not only the deciding one.
 */
bool cfs_policy_rule_matches(const struct cfs_policy_rule *rule,
			     const char *path, const char *package);

/* Receives one warning line; data is the caller's. */
typedef void (*cfs_policy_warn_fn)(void *data, const char *msg);

/*
 * Warns about each package glob after 'in' that matches none of the n
 * package names (the packages of the lock), e.g. "my.policy:4: rule
 * scoped to package 'numpyy', which is not in the lock (did you mean
 * 'numpy'?)".  Rules of built-in presets are not checked.  warn NULL logs
 * through cfs_warn().  Returns the number of warnings.
 */
size_t cfs_policy_check_packages(const struct cfs_policy *p,
				 const char *const *names, size_t n,
				 cfs_policy_warn_fn warn, void *data);

/*
 * The built-in presets, in the order "condafs policy list" shows them.
 * Names, summaries and texts are static strings, not to be freed; an
 * index i >= cfs_policy_n_presets() gives NULL.
 */
size_t cfs_policy_n_presets(void);
const char *cfs_policy_preset_name(size_t i);
/* One line: what the preset removes. */
const char *cfs_policy_preset_summary(size_t i);
/* The preset as policy text, comments included. */
const char *cfs_policy_preset_text(size_t i);

#endif

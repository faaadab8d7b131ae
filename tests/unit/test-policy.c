/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for policy/: glob semantics, precedence, package scoping,
 * tricky paths, every preset against the representative paths in
 * presets.cases, the bad/ and good/ corpora under tests/data/policies (bad: each file must fail with
 * the message in <file>.expect; good: the rules and the decisions for
 * paths.txt must match <file>.golden, regenerated with
 * CFS_UPDATE_GOLDEN=1), the package warning, and 50,000 synthetic paths
 * checked against a naive reference matcher built on fnmatch(3).
 */
#include "policy.h"
#include "buf.h"
#include "check.h"

#include <dirent.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#define POLICIES CFS_TEST_DATA "/policies"

static struct cfs_policy *parse(const char *text)
{
	struct cfs_policy *p = cfs_policy_new();
	struct cfs_err err = { "" };
	int r = cfs_policy_add_text(p, "t.policy", text, strlen(text), &err);

	if (r < 0)
		fprintf(stderr, "unexpected failure: %s\n", err.msg);
	CHECK(r == 0);
	return p;
}

/* Asserts that text fails with a message containing want. */
static void parse_fails(const char *text, size_t len, const char *want)
{
	struct cfs_policy *p = cfs_policy_new();
	struct cfs_err err = { "" };
	int r = cfs_policy_add_text(p, "t.policy", text, len, &err);

	CHECK(r < 0);
	CHECK(cfs_policy_n_rules(p) == 0);
	if (!strstr(err.msg, want)) {
		fprintf(stderr, "message \"%s\" lacks \"%s\"\n", err.msg, want);
		CHECK(!"message as expected");
	}
	cfs_policy_free(p);
}
#define FAILS(text, want) parse_fails(text, strlen(text), want)

/* Whether "exclude PATTERN" prunes path. */
static bool m(const char *pattern, const char *path)
{
	cleanup_free char *text = cfs_xasprintf("exclude %s\n", pattern);
	struct cfs_policy *p = parse(text);
	bool r = cfs_policy_prunes(p, path, NULL);

	cfs_policy_free(p);
	return r;
}

/* "x": pruned, "k": kept by a keep rule, "-": no rule. */
static const char *decide(const struct cfs_policy *p, const char *path, const char *pkg)
{
	const struct cfs_policy_rule *r = cfs_policy_match(p, path, pkg);
	return !r ? "-" : r->keep ? "k" : "x";
}

static void test_glob(void)
{
	/* '*' stays within a component; patterns are anchored at the prefix */
	CHECK(m("lib/*.so", "lib/libz.so"));
	CHECK(!m("lib/*.so", "lib/x/libz.so"));
	CHECK(!m("*.so", "lib/libz.so"));
	CHECK(m("*", "anything/below"));
	CHECK(!m("li", "lib"));
	CHECK(!m("lib", "libx"));
	CHECK(m("lib", "lib"));
	CHECK(m("lib", "lib/x/y")); /* a directory rule covers its contents */
	CHECK(m("/lib", "lib/x"));  /* a leading '/' changes nothing */
	CHECK(m("*a*b*c*", "xxaxxbxxcxx"));
	CHECK(!m("*a*b*c*", "xxaxxcxxbxx"));
	CHECK(m("lib*", "lib"));
	/* '**' */
	CHECK(m("**/*.pyc", "a.pyc"));
	CHECK(m("**/*.pyc", "a/b/c.pyc"));
	CHECK(!m("**/*.pyc", "a/b/c.py"));
	CHECK(m("lib/**/tests/**", "lib/tests"));
	CHECK(m("lib/**/tests/**", "lib/a/b/tests/x.py"));
	CHECK(!m("lib/**/tests/**", "lib/a/btests/x"));
	CHECK(!m("lib/**/tests/**", "tests/x"));
	CHECK(m("a/**", "a"));
	CHECK(m("a/**", "a/b/c"));
	CHECK(!m("a/**", "ab"));
	CHECK(m("a/**/b", "a/b"));
	CHECK(m("a/**/b", "a/x/y/b"));
	CHECK(m("a/**/b", "a/x/y/b/c")); /* b is a directory */
	CHECK(!m("a/**/b", "a/x/y/bc"));
	CHECK(m("**", "x"));
	CHECK(m("**/**/x", "x"));
	CHECK(m("**/a/**/b/**/c", "q/a/r/a/b/s/b/c"));
	CHECK(!m("**/a/**/b/**/c", "q/a/r/c/b"));
	/* '?' is one character, not a byte */
	CHECK(m("lib/?.so", "lib/a.so"));
	CHECK(!m("lib/?.so", "lib/ab.so"));
	CHECK(!m("lib/?.so", "lib/.so"));
	CHECK(m("lib/?.so", "lib/\xc3\xa9.so"));
	CHECK(!m("lib/??.so", "lib/\xc3\xa9.so"));
	CHECK(m("lib/?", "lib/\xff")); /* a stray byte is a character too */
	/* classes */
	CHECK(m("lib/[abc].so", "lib/b.so"));
	CHECK(!m("lib/[abc].so", "lib/d.so"));
	CHECK(m("lib/[a-c]x", "lib/bx"));
	CHECK(m("lib/[!a-c]x", "lib/dx"));
	CHECK(!m("lib/[!a-c]x", "lib/ax"));
	CHECK(m("lib/[^a]x", "lib/bx"));
	CHECK(!m("lib/[^a]x", "lib/ax"));
	CHECK(m("lib/[]]x", "lib/]x"));
	CHECK(m("lib/[!]]x", "lib/ax"));
	CHECK(m("lib/[a-]x", "lib/-x"));
	CHECK(m("lib/[\\]]x", "lib/]x"));
	CHECK(m("[\xc3\xa0-\xc3\xbf]", "\xc3\xa9"));
	CHECK(!m("[!\xc3\xa9]", "\xc3\xa9"));
	CHECK(!m("*[!\xc3\xa9]", "\xc3\xa9")); /* '*' does not split a character */
	CHECK(m("*[!\xc3\xa9]", "a\xc3\xa9x"));
	/* escapes */
	CHECK(m("lib/\\*.so", "lib/*.so"));
	CHECK(!m("lib/\\*.so", "lib/a.so"));
	CHECK(m("lib/\\[weird\\]/x", "lib/[weird]/x"));
	CHECK(!m("lib/[weird]/x", "lib/[weird]/x"));
	CHECK(m("a\\?b", "a?b"));
	CHECK(!m("a\\?b", "axb"));
	CHECK(m("a\\\\b", "a\\b"));
	CHECK(m("a\\ b", "a b"));
	CHECK(m("\\#x", "#x"));
	CHECK(m("a\\{b}", "a{b}"));
	CHECK(m("a}", "a}"));
	CHECK(m("[\\[:]x", ":x"));
	CHECK(m("x#y", "x#y")); /* '#' starts a comment only where a word would */
	/* dots are ordinary characters */
	CHECK(m("*", ".hidden"));
	CHECK(m("**/.*", "a/.hidden"));
	CHECK(m("lib/..foo", "lib/..foo"));
	CHECK(m("lib/.*", "lib/..foo"));
	/* pathological patterns finish */
	CHECK(!m("*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	{
		struct cfs_buf b;
		cfs_buf_init(&b, 1 << 20);
		for (int i = 0; i < 300; i++)
			cfs_buf_addstr(&b, "a/");
		cfs_buf_addstr(&b, "c");
		CHECK(!m("**/a/**/a/**/a/**/a/**/a/**/b", b.data));
		CHECK(m("**/a/**/a/**/a/**/a/**/a/**/c", b.data));
		cfs_buf_release(&b);
	}
}

static void test_precedence(void)
{
	struct cfs_policy *p = parse("# docs go, licenses stay\n"
				     "exclude share/doc/**   # all of it\n"
				     "\n"
				     "keep share/doc/*/LICENSE\n"
				     "keep include/foo.h\n"
				     "exclude include/**\n"
				     "exclude lib/**\n"
				     "keep lib/python3.11/**\n"
				     "\texclude  lib/python3.11/test\n");
	const struct cfs_policy_rule *r;

	CHECK(cfs_policy_n_rules(p) == 7);
	CHECK_STR(decide(p, "share/doc/zlib/LICENSE", NULL), "k");
	CHECK_STR(decide(p, "share/doc/zlib/README", NULL), "x");
	CHECK_STR(decide(p, "share/doc/zlib", NULL), "x");
	CHECK_STR(decide(p, "include/foo.h", NULL), "x"); /* the later exclude wins */
	CHECK_STR(decide(p, "lib/libz.so", NULL), "x");
	CHECK_STR(decide(p, "lib/python3.11/os.py", NULL), "k");
	CHECK_STR(decide(p, "lib/python3.11/test/test_os.py", NULL), "x");
	CHECK_STR(decide(p, "bin/python", NULL), "-");
	CHECK_STR(decide(p, "", NULL), "-"); /* the prefix itself */
	CHECK(cfs_policy_match(p, "bin/python", NULL) == NULL);

	r = cfs_policy_match(p, "share/doc/zlib/LICENSE", NULL);
	CHECK(r && r->keep && !r->from_preset);
	CHECK_STR(r ? r->origin : NULL, "t.policy:4");
	CHECK_STR(r ? r->text : NULL, "keep share/doc/*/LICENSE");
	CHECK_STR(r ? r->pattern : NULL, "share/doc/*/LICENSE");
	r = cfs_policy_rule_at(p, 0);
	CHECK_STR(r ? r->text : NULL, "exclude share/doc/**");
	CHECK_STR(r ? r->origin : NULL, "t.policy:2");
	r = cfs_policy_rule_at(p, 6);
	CHECK_STR(r ? r->text : NULL, "exclude  lib/python3.11/test");
	CHECK(cfs_policy_rule_at(p, 7) == NULL);
	/* explain: every rule that matches, on its own */
	CHECK(cfs_policy_rule_matches(cfs_policy_rule_at(p, 0), "share/doc/z/LICENSE", NULL));
	CHECK(cfs_policy_rule_matches(cfs_policy_rule_at(p, 1), "share/doc/z/LICENSE", NULL));
	CHECK(!cfs_policy_rule_matches(cfs_policy_rule_at(p, 2), "share/doc/z/LICENSE", NULL));
	/* sloppy paths: a leading '/' and empty components are ignored */
	CHECK_STR(decide(p, "/lib//python3.11/os.py", NULL), "k");
	cfs_policy_free(p);

	/* rules added later come after, and so win */
	p = parse("exclude include/**\n");
	{
		struct cfs_err err = { "" };
		const char *more = "keep include/python3.11/**\n";
		CHECK(cfs_policy_add_text(p, "more.policy", more, strlen(more), &err) == 0);
	}
	CHECK_STR(decide(p, "include/python3.11/Python.h", NULL), "k");
	CHECK_STR(decide(p, "include/zlib.h", NULL), "x");
	CHECK(cfs_policy_prunes(p, "include/zlib.h", NULL));
	CHECK(!cfs_policy_prunes(p, "include/python3.11/Python.h", NULL));
	CHECK_STR(cfs_policy_match(p, "include/python3.11/x.h", NULL)->origin, "more.policy:1");
	cfs_policy_free(p);
}

static void test_packages(void)
{
	struct cfs_policy *p = parse("exclude **/tests/** in numpy,scipy*\n"
				     "exclude include/**\n"
				     "keep include/** in numpy , pybind11\n"
				     "exclude lib/python3.11/site-packages/x in a\\,b\n");
	const struct cfs_policy_rule *r = cfs_policy_rule_at(p, 0);

	CHECK(r && r->n_packages == 2);
	CHECK_STR(r ? r->packages[0] : NULL, "numpy");
	CHECK_STR(r ? r->packages[1] : NULL, "scipy*");
	CHECK_STR(r ? r->text : NULL, "exclude **/tests/** in numpy,scipy*");
	CHECK_STR(cfs_policy_rule_at(p, 2)->text, "keep include/** in numpy , pybind11");
	CHECK_STR(decide(p, "lib/numpy/tests/t.py", "numpy"), "x");
	CHECK_STR(decide(p, "lib/scipy/tests/t.py", "scipy-base"), "x");
	CHECK_STR(decide(p, "lib/pandas/tests/t.py", "pandas"), "-");
	CHECK_STR(decide(p, "lib/numpy/tests/t.py", NULL), "-"); /* no owner */
	CHECK_STR(decide(p, "include/numpy/x.h", "numpy"), "k");
	CHECK_STR(decide(p, "include/pybind11/x.h", "pybind11"), "k");
	CHECK_STR(decide(p, "include/zlib.h", "zlib"), "x");
	CHECK_STR(decide(p, "include/zlib.h", NULL), "x");
	CHECK(cfs_policy_rule_at(p, 3)->n_packages == 1);
	CHECK_STR(cfs_policy_rule_at(p, 3)->packages[0], "a\\,b");
	CHECK_STR(decide(p, "lib/python3.11/site-packages/x", "a,b"), "x");
	CHECK(cfs_policy_rule_matches(cfs_policy_rule_at(p, 0), "a/tests", "numpy"));
	CHECK(!cfs_policy_rule_matches(cfs_policy_rule_at(p, 0), "a/tests", "pandas"));
	cfs_policy_free(p);

	FAILS("exclude x in numpy scipy\n", "t.policy:1: expected ',' between package globs, got 'scipy'");
	FAILS("exclude x in\n", "t.policy:1: 'in' needs a package name or glob");
	FAILS("exclude x in # nothing\n", "t.policy:1: 'in' needs a package name or glob");
	FAILS("exclude x in numpy,\n", "t.policy:1: empty package glob after the last ','");
	FAILS("exclude x in ,numpy\n", "t.policy:1: empty package glob (a ',' with nothing before it)");
	FAILS("exclude x in a,,b\n", "empty package glob");
	FAILS("exclude x in a/b\n", "t.policy:1: bad package glob 'a/b': '/' in a package glob");
	FAILS("exclude x in [ab\n", "t.policy:1: bad package glob '[ab': unterminated character class");
	FAILS("exclude x in \"numpy\"\n", "a package glob cannot be quoted");
}

static void warn_collect(void *data, const char *msg)
{
	struct cfs_buf *b = data;
	cfs_buf_addstr(b, msg);
	cfs_buf_addstr(b, "\n");
}

static void test_package_warning(void)
{
	struct cfs_policy *p = parse("exclude **/tests/** in numpyy\n"
				     "keep x in scipy*,pandas\n"
				     "exclude y in pandas\n"
				     "preset devel\n");
	static const char *const names[] = { "numpy", "pandas", "python" };
	struct cfs_buf b;
	size_t n;

	cfs_buf_init(&b, 1 << 20);
	n = cfs_policy_check_packages(p, names, 3, warn_collect, &b);
	CHECK(n == 2);
	CHECK_STR(b.data,
		  "t.policy:1: rule scoped to package 'numpyy', which is not in the lock"
		  " (did you mean 'numpy'?)\n"
		  "t.policy:2: package glob 'scipy*' matches no package in the lock\n");
	cfs_buf_reset(&b);
	CHECK(cfs_policy_check_packages(p, NULL, 0, warn_collect, &b) == 4);
	CHECK(strstr(b.data, "t.policy:3: rule scoped to package 'pandas', which is not in the lock\n"));
	cfs_buf_release(&b);
	cfs_policy_free(p);
}

static void test_errors(void)
{
	struct cfs_policy *p;
	struct cfs_err err = { "" };
	struct cfs_buf b;
	int r;

	FAILS("exclude x\nexlude y\n", "t.policy:2: unknown directive 'exlude' (did you mean 'exclude'?)");
	FAILS("remove y\n", "t.policy:1: unknown directive 'remove' (expected exclude, keep or preset)");
	FAILS("\"exclude\" y\n", "t.policy:1: unknown directive 'exclude'");
	FAILS("exclude\n", "t.policy:1: 'exclude' needs a pattern");
	FAILS("keep   # what?\n", "t.policy:1: 'keep' needs a pattern");
	FAILS("exclude \"\"\n", "t.policy:1: empty pattern");
	FAILS("exclude /\n", "t.policy:1: bad pattern '/': empty pattern");
	FAILS("exclude lib/python3.11 test\n",
	      "t.policy:1: unexpected 'test' after the pattern (quote a pattern that contains spaces");
	FAILS("exclude \"a b\"c\n", "t.policy:1: unexpected character after a closing '\"'");
	FAILS("exclude \"a b\n", "t.policy:1: unterminated '\"'");
	FAILS("exclude a\"b\n", "'\"' inside an unquoted word");
	FAILS("\n\nexclude lib/[abc\n", "t.policy:3: bad pattern 'lib/[abc': unterminated character class");
	FAILS("exclude lib/[a\\\n", "unterminated character class");
	FAILS("exclude lib/[a/b]\n", "'/' inside a character class");
	FAILS("exclude lib/[z-a]\n", "t.policy:1: bad pattern 'lib/[z-a]': reversed range in character class");
	FAILS("exclude lib**\n", "'**' must be a whole path component");
	FAILS("exclude **.pyc\n", "'**' must be a whole path component");
	FAILS("exclude a/***\n", "'**' must be a whole path component");
	FAILS("exclude lib/\n", "t.policy:1: bad pattern 'lib/': trailing '/'");
	FAILS("exclude lib//x\n", "empty path component ('//')");
	FAILS("exclude lib/../x\n", "'.' and '..' components are not allowed");
	FAILS("exclude ./x\n", "'.' and '..' components are not allowed");
	FAILS("exclude lib\\\n", "pattern ends with a lone '\\'");
	FAILS("exclude **/*.{pyc,pyo}\n", "t.policy:1: bad pattern '**/*.{pyc,pyo}': braces do not expand");
	FAILS("exclude x in py{2,3}\n", "bad package glob 'py{2': braces do not expand");
	FAILS("exclude lib/[[:alpha:]]\n", "POSIX classes like [:alpha:] are not supported");
	FAILS("exclude lib\\/x\n", "'/' cannot be escaped");
	FAILS("preset\n", "t.policy:1: 'preset' needs a preset name");
	FAILS("preset devle\n", "t.policy:1: unknown preset 'devle' (did you mean 'devel'? known: conda-meta, devel, tests, docs, bytecode, sources, pip, stdlib-extras, sanitizers, tools, terminfo, expert)");
	FAILS("preset nothing-like-it\n", "unknown preset 'nothing-like-it' (known: conda-meta, devel,");
	FAILS("preset devel tests\n", "expected ',' between preset names, got 'tests'");
	FAILS("exclude \x1b[31m\n", "bad pattern '\\x1b[31m': unterminated character class");
	parse_fails("exclude a\0b\n", 12, "t.policy:1: NUL byte in line");

	/* limits */
	cfs_buf_init(&b, 4 << 20);
	cfs_buf_addstr(&b, "exclude a\nexclude ");
	for (int i = 0; i < CFS_POLICY_MAX_LINE; i++)
		cfs_buf_addstr(&b, "x");
	parse_fails(b.data, b.len, "t.policy:2: line longer than 4096 bytes");
	cfs_buf_reset(&b);
	for (int i = 0; i <= CFS_POLICY_MAX_RULES; i++)
		cfs_buf_printf(&b, "exclude f%d\n", i);
	parse_fails(b.data, b.len, "t.policy:10001: more than 10000 rules");
	cfs_buf_reset(&b);
	while (b.len <= CFS_POLICY_MAX_BYTES)
		cfs_buf_addstr(&b, "# padding padding padding padding padding padding\n");
	p = cfs_policy_new();
	r = cfs_policy_add_text(p, "big.policy", b.data, b.len, &err);
	CHECK(r == -EFBIG);
	CHECK_STR(err.msg, "big.policy: policy larger than 1024 KiB");
	cfs_buf_release(&b);

	/* all or nothing */
	CHECK(cfs_policy_add_text(p, "a.policy", "exclude a\nexclude b\n", 20, &err) == 0);
	{
		const char *bad = "exclude c\npreset devel\nexclude [\n";
		r = cfs_policy_add_text(p, "b.policy", bad, strlen(bad), &err);
	}
	CHECK(r == -EINVAL);
	CHECK_STR(err.msg, "b.policy:3: bad pattern '[': unterminated character class");
	CHECK(cfs_policy_n_rules(p) == 2);
	r = cfs_policy_add_file(p, POLICIES "/no-such.policy", &err);
	CHECK(r == -ENOENT);
	CHECK(strstr(err.msg, "no-such.policy: cannot read: No such file or directory"));
	CHECK(cfs_policy_n_rules(p) == 2);

	/* presets from the command line */
	CHECK(cfs_policy_add_presets(p, "devel, tests", &err) == 0);
	CHECK(cfs_policy_n_rules(p) > 2);
	CHECK(cfs_policy_add_presets(p, "devle", &err) == -EINVAL);
	CHECK_STR(err.msg, "--preset: unknown preset 'devle' (did you mean 'devel'? known: conda-meta, devel, tests, docs, bytecode, sources, pip, stdlib-extras, sanitizers, tools, terminfo, expert)");
	r = (int)cfs_policy_n_rules(p);
	CHECK(cfs_policy_add_presets(p, "docs,", &err) == -EINVAL);
	CHECK_STR(err.msg, "--preset: empty preset name");
	CHECK(cfs_policy_add_presets(p, "", &err) == -EINVAL);
	CHECK((int)cfs_policy_n_rules(p) == r);
	cfs_policy_free(p);

	/* CRLF line ends, a byte order mark, tabs */
	p = parse("\xEF\xBB\xBF# policy\r\nexclude\ta/**\t# c\r\n\r\nkeep a/b\r\n");
	CHECK(cfs_policy_n_rules(p) == 2);
	CHECK_STR(decide(p, "a/b", NULL), "k");
	CHECK_STR(decide(p, "a/c", NULL), "x");
	CHECK_STR(cfs_policy_rule_at(p, 0)->text, "exclude\ta/**");
	cfs_policy_free(p);
}

static void test_tricky_paths(void)
{
	struct cfs_policy *p = parse("exclude \"share/my docs/**\"\n"
				     "exclude share/other\\ docs\n"
				     "exclude lib/\\[weird\\]/**\n"
				     "exclude share/doc/caf\xc3\xa9/*.txt\n"
				     "exclude share/??\xc3\xb1o\n"
				     "exclude **/.hidden\n"
				     "exclude deep/**/leaf\n"
				     "exclude long/**/*.bin\n");
	struct cfs_buf b;

	CHECK_STR(cfs_policy_rule_at(p, 0)->pattern, "share/my docs/**");
	CHECK_STR(decide(p, "share/my docs/a", NULL), "x");
	CHECK_STR(decide(p, "share/my docs", NULL), "x");
	CHECK_STR(decide(p, "share/my", NULL), "-");
	CHECK_STR(decide(p, "share/other docs/x", NULL), "x");
	CHECK_STR(decide(p, "lib/[weird]/x", NULL), "x");
	CHECK_STR(decide(p, "lib/w/x", NULL), "-");
	CHECK_STR(decide(p, "share/doc/caf\xc3\xa9/r\xc3\xa9sum\xc3\xa9.txt", NULL), "x");
	CHECK_STR(decide(p, "share/doc/cafe/x.txt", NULL), "-");
	CHECK_STR(decide(p, "share/\xc3\xa9\xc3\xa9\xc3\xb1o", NULL), "x");
	CHECK_STR(decide(p, "share/ab\xc3\xb1o", NULL), "x");
	CHECK_STR(decide(p, "share/abc\xc3\xb1o", NULL), "-");
	CHECK_STR(decide(p, "a/b/.hidden", NULL), "x");
	CHECK_STR(decide(p, "a/b/..hidden", NULL), "-");
	CHECK_STR(decide(p, "a/\xff\xfe/.hidden", NULL), "x");

	/* deep nesting: 1000 components, past the matcher's stack array */
	cfs_buf_init(&b, 1 << 20);
	cfs_buf_addstr(&b, "deep");
	for (int i = 0; i < 1000; i++)
		cfs_buf_printf(&b, "/d%d", i % 7);
	cfs_buf_addstr(&b, "/leaf");
	CHECK_STR(decide(p, b.data, NULL), "x");
	cfs_buf_addstr(&b, "x");
	CHECK_STR(decide(p, b.data, NULL), "-");
	/* a path of about 4000 bytes */
	cfs_buf_reset(&b);
	cfs_buf_addstr(&b, "long");
	while (b.len < 3990)
		cfs_buf_addstr(&b, "/abcdefghijklmnopqrstuvwxyz0123456789");
	cfs_buf_addstr(&b, "/f.bin");
	CHECK(b.len > 3990);
	CHECK_STR(decide(p, b.data, NULL), "x");
	b.data[b.len - 1] = 'x';
	CHECK_STR(decide(p, b.data, NULL), "-");
	cfs_buf_release(&b);
	cfs_policy_free(p);
}

/* ---- presets ---- */

static void test_presets(void)
{
	size_t n = cfs_policy_n_presets();
	struct cfs_buf names;

	CHECK(n == 12);
	CHECK(cfs_policy_preset_name(n) == NULL);
	CHECK(cfs_policy_preset_summary(n) == NULL);
	CHECK(cfs_policy_preset_text(n) == NULL);
	cfs_buf_init(&names, 4096);
	for (size_t i = 0; i < n; i++) {
		const char *name = cfs_policy_preset_name(i);
		struct cfs_policy *p = cfs_policy_new();
		struct cfs_err err = { "" };
		cleanup_free char *own = cfs_xasprintf("preset:%s:", name);
		int r = cfs_policy_add_presets(p, name, &err);

		if (r < 0)
			fprintf(stderr, "preset %s: %s\n", name, err.msg);
		CHECK(r == 0);
		CHECK(cfs_policy_n_rules(p) > 0);
		CHECK(strlen(cfs_policy_preset_summary(i)) > 10);
		CHECK(strchr(cfs_policy_preset_summary(i), '\n') == NULL);
		for (size_t k = 0; k < cfs_policy_n_rules(p); k++) {
			const struct cfs_policy_rule *rule = cfs_policy_rule_at(p, k);
			CHECK(rule->from_preset);
			CHECK(rule->n_packages == 0);
			CHECK(strncmp(rule->origin, "preset:", 7) == 0);
			if (strcmp(name, "expert") != 0 && strncmp(rule->origin, own, strlen(own)) != 0) {
				fprintf(stderr, "preset %s: rule from %s\n", name, rule->origin);
				CHECK(!"rule from its own preset");
			}
		}
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(cfs_policy_preset_name(j), name) != 0);
		cfs_buf_printf(&names, "%s%s", i ? ", " : "", name);
		/* a preset used twice is harmless */
		CHECK(cfs_policy_add_presets(p, name, &err) == 0);
		cfs_policy_free(p);
	}
	/* the "known:" list in messages is the table */
	{
		struct cfs_policy *p = cfs_policy_new();
		struct cfs_err err = { "" };
		cleanup_free char *want = cfs_xasprintf("--preset: unknown preset 'zzzzzzzzz' (known: %s)",
							 names.data);
		cfs_policy_add_presets(p, "zzzzzzzzz", &err);
		CHECK_STR(err.msg, want);
		cfs_policy_free(p);
	}
	cfs_buf_release(&names);

	/* origins name the preset and the line of its text */
	{
		struct cfs_policy *p = parse("preset expert\nkeep include/python3.11/**\n");
		const struct cfs_policy_rule *r = cfs_policy_match(p, "include/zlib.h", NULL);
		CHECK_STR(r ? r->origin : NULL, "preset:devel:2");
		CHECK_STR(r ? r->text : NULL, "exclude include/**");
		CHECK_STR(decide(p, "include/python3.11/Python.h", NULL), "k");
		r = cfs_policy_match(p, "lib/python3.11/__pycache__/os.cpython-311.opt-1.pyc", NULL);
		CHECK_STR(r ? r->origin : NULL, "preset:bytecode:4"); /* after three comment lines */
		CHECK_STR(decide(p, "lib/python3.11/__pycache__/os.cpython-311.pyc", NULL), "-");
		cfs_policy_free(p);
	}
}

/* ---- corpora ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir ending with suffix; caller frees each and the array. */
static char **list_dir(const char *dir, const char *suffix, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;

	*n = 0;
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name), sl = strlen(suffix);
		if (l > sl && strcmp(de->d_name + l - sl, suffix) == 0) {
			v = cfs_xrealloc(v, (*n + 1) * sizeof(*v));
			v[(*n)++] = cfs_xstrdup(de->d_name);
		}
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_str);
	return v;
}

static char *slurp(const char *path)
{
	struct cfs_buf b;
	cfs_buf_init(&b, 16 << 20);
	if (cfs_buf_read_file(&b, path) < 0) {
		cfs_buf_release(&b);
		return NULL;
	}
	return cfs_buf_steal(&b, NULL);
}

/* Each "PRESET<tab>DECISION<tab>PATH" line of presets.cases. */
static void test_preset_cases(void)
{
	cleanup_free char *cases = slurp(POLICIES "/presets.cases");
	size_t n = 0;

	CHECK(cases != NULL);
	for (char *line = cases ? strtok(cases, "\n") : NULL; line; line = strtok(NULL, "\n")) {
		char *dec = strchr(line, '\t'), *path = dec ? strchr(dec + 1, '\t') : NULL;
		struct cfs_policy *p;
		struct cfs_err err = { "" };
		const char *got;

		if (*line == '#')
			continue;
		CHECK(path != NULL);
		if (!path)
			continue;
		*dec++ = '\0';
		*path++ = '\0';
		p = cfs_policy_new();
		CHECK(cfs_policy_add_presets(p, line, &err) == 0);
		got = decide(p, path, "somepkg");
		if (strcmp(got, dec) != 0) {
			const struct cfs_policy_rule *r = cfs_policy_match(p, path, "somepkg");
			fprintf(stderr, "preset %s, %s: got %s (%s), want %s\n", line, path, got,
				r ? r->origin : "no rule", dec);
			CHECK(!"preset decision");
		}
		cfs_policy_free(p);
		n++;
	}
	CHECK(n > 100);
}

static void test_bad_corpus(void)
{
	size_t n;
	char **names = list_dir(POLICIES "/bad", ".policy", &n);

	CHECK(n >= 8);
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *path = cfs_xasprintf(POLICIES "/bad/%s", names[i]);
		cleanup_free char *xpath = cfs_xasprintf("%s.expect", path);
		cleanup_free char *want = slurp(xpath);
		struct cfs_policy *p = cfs_policy_new();
		struct cfs_err err = { "" };
		int r = cfs_policy_add_file(p, path, &err);

		CHECK(want != NULL);
		if (want) {
			want[strcspn(want, "\n")] = '\0';
			if (r >= 0 || !strstr(err.msg, want)) {
				fprintf(stderr, "%s: got %d \"%s\", want \"%s\"\n", names[i], r,
					err.msg, want);
				CHECK(!"bad policy fails as expected");
			}
		}
		CHECK(cfs_policy_n_rules(p) == 0);
		cfs_policy_free(p);
		free(names[i]);
	}
	free(names);
}

/* Rules, then the decision for each "PATH[<tab>PACKAGE]" line of paths.txt. */
static char *dump(const struct cfs_policy *p, const char *paths)
{
	struct cfs_buf b;

	cfs_buf_init(&b, 16 << 20);
	for (size_t i = 0; i < cfs_policy_n_rules(p); i++) {
		const struct cfs_policy_rule *r = cfs_policy_rule_at(p, i);
		cfs_buf_printf(&b, "rule %s\t%s\t%s", r->origin, r->keep ? "keep" : "exclude",
			       r->pattern);
		for (size_t k = 0; k < r->n_packages; k++)
			cfs_buf_printf(&b, "%s%s", k ? "," : "\tin ", r->packages[k]);
		cfs_buf_addstr(&b, "\n");
	}
	for (const char *s = paths; *s;) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		cleanup_free char *line = cfs_xstrndup(s, len);
		char *sp = strchr(line, '\t');
		const struct cfs_policy_rule *r;

		s += len + (nl != NULL);
		if (!*line || *line == '#')
			continue;
		if (sp)
			*sp++ = '\0';
		r = cfs_policy_match(p, line, sp);
		cfs_buf_printf(&b, "%s\t%s\t%s\n", r ? (r->keep ? "keep" : "PRUNE") : "keep",
			       line, r ? r->origin : "-");
	}
	return cfs_buf_steal(&b, NULL);
}

static void test_good_corpus(void)
{
	size_t n;
	char **names = list_dir(POLICIES "/good", ".policy", &n);
	cleanup_free char *paths = slurp(POLICIES "/paths.txt");
	bool update = getenv("CFS_UPDATE_GOLDEN") != NULL;

	CHECK(n >= 2);
	CHECK(paths != NULL);
	for (size_t i = 0; i < n && paths; i++) {
		cleanup_free char *path = cfs_xasprintf(POLICIES "/good/%s", names[i]);
		cleanup_free char *gpath = cfs_xasprintf("%.*s.golden", (int)(strlen(path) - 7), path);
		cleanup_free char *text = slurp(path);
		cleanup_free char *want = slurp(gpath);
		cleanup_free char *got = NULL;
		struct cfs_policy *p = cfs_policy_new();
		struct cfs_err err = { "" };
		int r = text ? cfs_policy_add_text(p, names[i], text, strlen(text), &err) : -EIO;

		if (r < 0)
			fprintf(stderr, "%s: %s\n", names[i], err.msg);
		CHECK(r == 0);
		got = dump(p, paths);
		if (update) {
			FILE *f = fopen(gpath, "w");
			CHECK(f != NULL);
			if (f) {
				fputs(got, f);
				fclose(f);
			}
		} else if (!want || strcmp(got, want) != 0) {
			fprintf(stderr, "%s: differs from %s (CFS_UPDATE_GOLDEN=1 rewrites it)\n%s",
				names[i], gpath, got);
			CHECK(!"golden output");
		}
		cfs_policy_free(p);
		free(names[i]);
	}
	free(names);
}

/* ---- 50,000 synthetic paths against a reference ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

/* The reference: pattern components against path components, recursively,
 * with fnmatch(3) for each name. */
static bool ref_comps(char **pc, size_t np, char **sc, size_t ns)
{
	if (np == 0)
		return ns == 0;
	if (strcmp(pc[0], "**") == 0) {
		for (size_t k = 0; k <= ns; k++)
			if (ref_comps(pc + 1, np - 1, sc + k, ns - k))
				return true;
		return false;
	}
	return ns > 0 && fnmatch(pc[0], sc[0], 0) == 0 && ref_comps(pc + 1, np - 1, sc + 1, ns - 1);
}

static size_t split_ref(char *s, char **out)
{
	size_t n = 0;
	for (char *tok = strtok(s, "/"); tok; tok = strtok(NULL, "/"))
		out[n++] = tok;
	return n;
}

/* Whether pattern matches path or one of its ancestors, by the reference. */
static bool ref_match(const char *pattern, const char *path)
{
	cleanup_free char *pcopy = cfs_xstrdup(pattern), *scopy = cfs_xstrdup(path);
	char *pc[64], *sc[64];
	size_t np = split_ref(pcopy, pc), ns = split_ref(scopy, sc);

	for (size_t k = 1; k <= ns; k++)
		if (ref_comps(pc, np, sc, k))
			return true;
	return false;
}

static const struct cfs_policy_rule *ref_decide(const struct cfs_policy *p, const char *path,
						const char *pkg)
{
	for (size_t i = cfs_policy_n_rules(p); i-- > 0;) {
		const struct cfs_policy_rule *r = cfs_policy_rule_at(p, i);
		bool pkg_ok = r->n_packages == 0;
		for (size_t k = 0; k < r->n_packages && pkg && !pkg_ok; k++)
			pkg_ok = fnmatch(r->packages[k], pkg, 0) == 0;
		if (pkg_ok && ref_match(r->pattern, path))
			return r;
	}
	return NULL;
}

static const char *const dirs[] = {
	"lib", "python3.11", "site-packages", "numpy", "core", "tests", "test", "__pycache__",
	"include", "share", "doc", "man", "man1", "bin", "pkgconfig", "cmake", "scipy",
	"astropy", "idlelib", "terminfo", "x", "conda-meta", "data", "[weird]", ".hidden",
	"pip", "Cython", "Includes", "lib-dynload", "ssl", "zoneinfo", "encodings", "locale",
};
static const char *const files[] = {
	"os.py", "os.cpython-311.pyc", "libz.a", "libz.so.1", "Python.h", "zlib.pc", "LICENSE",
	"README.md", "test_x.py", "conftest.py", "x.pyx", "stdio.pxd", "sqlite3", "pip3",
	"xterm-256color", "history", "cacert.pem", "runner.py", "libasan.so.8", "curl-config",
	"a b.txt", "caf\xc3\xa9.txt",
};
static const char *const pkgs[] = { "python", "numpy", "scipy", "zlib", "pip", "astropy", NULL };

static const char *const user_patterns[] = {
	"lib/python3.*/site-packages/numpy/**", "**/data/**", "share/**/x", "bin/*",
	"lib/*/site-packages/*/tests/**", "**/[wx]*", "**/*.md", "include/**/*.h",
	"lib/python3.11/lib-dynload/**", "**/__pycache__", "share/doc/**/LICENSE",
	"**/core/**/test*", "lib/python3.11/site-packages/scipy/**", "ssl/**", "**/?.py",
	"**/[!a-m]*.so*", "lib/**/cmake/**", "**/locale/**", "conda-meta/*.json", "x/**/x/**/x",
	"**/\\[weird\\]/**", "**/.hidden/**", "lib/python3.11/**/caf*", "**/a\\ b.txt",
	"share/terminfo/**/x*",
};

static void test_synthetic(void)
{
	enum { N = 50000, STRIDE = 10 };
	struct cfs_policy *p = cfs_policy_new();
	struct cfs_err err = { "" };
	struct cfs_buf text, path;
	char **paths = cfs_xcalloc(N, sizeof(*paths));
	const char **owners = cfs_xcalloc(N, sizeof(*owners));
	size_t pruned = 0, kept_by_rule = 0, no_rule = 0, mismatches = 0, checked = 0;
	struct timespec t0, t1;
	double secs;

	/* the expert preset plus 50 user rules */
	cfs_buf_init(&text, 1 << 20);
	cfs_buf_addstr(&text, "preset expert\n");
	for (int i = 0; i < 50; i++) {
		const char *pat = user_patterns[rnd(CFS_ARRAY_SIZE(user_patterns))];
		cfs_buf_printf(&text, "%s \"%s\"", rnd(2) ? "keep" : "exclude", pat);
		if (rnd(4) == 0)
			cfs_buf_printf(&text, " in %s,%s*", pkgs[rnd(6)], pkgs[rnd(6)]);
		cfs_buf_addstr(&text, "\n");
	}
	CHECK(cfs_policy_add_text(p, "synthetic.policy", text.data, text.len, &err) == 0);
	CHECK(cfs_policy_n_rules(p) > 140);
	cfs_buf_release(&text);

	cfs_buf_init(&path, 1 << 16);
	for (size_t i = 0; i < N; i++) {
		uint32_t depth = 1 + rnd(7);
		cfs_buf_reset(&path);
		if (rnd(3) == 0) {
			cfs_buf_addstr(&path, "lib/python3.11/site-packages");
			depth = rnd(4);
		} else {
			cfs_buf_addstr(&path, dirs[rnd(CFS_ARRAY_SIZE(dirs))]);
		}
		for (uint32_t d = 0; d < depth; d++)
			cfs_buf_printf(&path, "/%s", dirs[rnd(CFS_ARRAY_SIZE(dirs))]);
		if (rnd(4))
			cfs_buf_printf(&path, "/%s", files[rnd(CFS_ARRAY_SIZE(files))]);
		paths[i] = cfs_xstrdup(path.data);
		owners[i] = pkgs[rnd(CFS_ARRAY_SIZE(pkgs))];
	}
	cfs_buf_release(&path);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < N; i++) {
		const struct cfs_policy_rule *r = cfs_policy_match(p, paths[i], owners[i]);
		if (!r)
			no_rule++;
		else if (r->keep)
			kept_by_rule++;
		else
			pruned++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("synthetic: %d paths x %zu rules: %zu pruned, %zu kept by a rule, %zu by no rule; "
	       "%.3f s (%.2f us/path)\n", N, cfs_policy_n_rules(p), pruned, kept_by_rule, no_rule,
	       secs, secs * 1e6 / N);
	CHECK(pruned > N / 20 && kept_by_rule > N / 20 && no_rule > N / 20);

	/* every STRIDE-th path against the reference (which is slow) */
	for (size_t i = 0; i < N; i += STRIDE) {
		const struct cfs_policy_rule *got = cfs_policy_match(p, paths[i], owners[i]);
		const struct cfs_policy_rule *want = ref_decide(p, paths[i], owners[i]);
		checked++;
		if (got != want && mismatches++ < 10)
			fprintf(stderr, "%s (%s): got %s, reference %s\n", paths[i],
				owners[i] ? owners[i] : "no package", got ? got->origin : "no rule",
				want ? want->origin : "no rule");
	}
	CHECK(checked == N / STRIDE);
	CHECK(mismatches == 0);

	for (size_t i = 0; i < N; i++)
		free(paths[i]);
	free(paths);
	free(owners);
	cfs_policy_free(p);
}

int main(void)
{
	test_glob();
	test_precedence();
	test_packages();
	test_package_warning();
	test_errors();
	test_tricky_paths();
	test_presets();
	test_preset_cases();
	test_bad_corpus();
	test_good_corpus();
	test_synthetic();
	return check_summary();
}

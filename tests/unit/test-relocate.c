/* SPDX-License-Identifier: MIT */
#include "relocate.h"

#include <string.h>

#include "check.h"

#define PH "/opt/anaconda1anaconda2anaconda3"

/* Runs text relocation of s into a fresh buffer; caller releases out. */
static errint_t text(const char *s, const char *ph, const char *prefix,
		     struct cfs_buf *out, bool *changed)
{
	cfs_buf_init(out, CFS_MAX_RELOC_BYTES);
	return cfs_relocate_text(s, strlen(s), ph, prefix, out, changed);
}

/* Builds "#!" + prefix-ish path padded so the line is exactly n bytes. */
static char *shebang_of_len(const char *dir, const char *rest, size_t n)
{
	size_t fixed = 2 + strlen(dir) + strlen(rest);
	char *s = cfs_xmalloc(n + 64);
	size_t pad = n - fixed;

	strcpy(s, "#!");
	strcat(s, dir);
	memset(s + strlen(s), 'd', pad);
	s[2 + strlen(dir) + pad] = '\0';
	strcat(s, rest);
	return s;
}

static void test_text_basic(void)
{
	cleanup_buf struct cfs_buf out = { 0 };
	bool changed;

	CHECK(text("a " PH "/lib b " PH "/bin\n" PH, PH, "/env", &out,
		   &changed) == 0);
	CHECK_STR(out.data, "a /env/lib b /env/bin\n/env");
	CHECK(changed);
	cfs_buf_release(&out);

	CHECK(text(PH "x", PH, "/e", &out, &changed) == 0);
	CHECK_STR(out.data, "/ex");
	cfs_buf_release(&out);

	CHECK(text("x" PH, PH, "/e", &out, &changed) == 0);
	CHECK_STR(out.data, "x/e");
	cfs_buf_release(&out);

	CHECK(text(PH, PH, "/a/much/longer/prefix/than/the/placeholder/is",
		   &out, &changed) == 0);
	CHECK_STR(out.data, "/a/much/longer/prefix/than/the/placeholder/is");
	cfs_buf_release(&out);

	CHECK(text("nothing to see\n", PH, "/e", &out, &changed) == 0);
	CHECK_STR(out.data, "nothing to see\n");
	CHECK(!changed);
	cfs_buf_release(&out);

	/* Prefix equal to the placeholder: no change reported. */
	CHECK(text("x " PH " y", PH, PH, &out, &changed) == 0);
	CHECK_STR(out.data, "x " PH " y");
	CHECK(!changed);
	cfs_buf_release(&out);

	CHECK(text("", PH, "/e", &out, &changed) == 0);
	CHECK(out.data != NULL && out.len == 0);
	CHECK(!changed);
	cfs_buf_release(&out);

	/* Appends after existing content; NUL bytes pass through. */
	cfs_buf_init(&out, 1024);
	CHECK(cfs_buf_addstr(&out, "keep:") == 0);
	CHECK(cfs_relocate_text("a\0" PH "\0b", 4 + strlen(PH), PH, "/e", &out,
				&changed) == 0);
	CHECK_MEM(out.data, out.len, "keep:a\0/e\0b", 11);
	CHECK(changed);
}

static void test_text_limit(void)
{
	cleanup_buf struct cfs_buf out = { 0 };
	bool changed = true;

	cfs_buf_init(&out, 16);
	CHECK(cfs_buf_addstr(&out, "pre") == 0);
	CHECK(cfs_relocate_text(PH PH, 2 * strlen(PH), PH, "/a/b/c/d/e", &out,
				&changed) == -EFBIG);
	CHECK(!changed);
	CHECK_STR(out.data, "pre"); /* appended part rolled back */

	cfs_buf_reset(&out);
	CHECK(cfs_relocate_text(PH, strlen(PH), PH, "/abcdefghijklmno", &out,
				&changed) == 0);
	CHECK_STR(out.data, "/abcdefghijklmno");
}

static void test_shebang(void)
{
	cleanup_buf struct cfs_buf out = { 0 };
	cleanup_free char *in = NULL, *want = NULL;
	char longp[200];
	bool changed;

	/* Short shebang: plain replacement. */
	CHECK(text("#!" PH "/bin/python3 -u\nprint(1)\n", PH, "/env", &out,
		   &changed) == 0);
	CHECK_STR(out.data, "#!/env/bin/python3 -u\nprint(1)\n");
	cfs_buf_release(&out);

	/* Long prefix: /usr/bin/env form, args kept, rest untouched. */
	memset(longp, 'p', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	in = cfs_xasprintf("#!" PH "/bin/perl -w -T\r\n# " PH "\n#!" PH
			   "/bin/perl -w -T\r\n");
	want = cfs_xasprintf("#!/usr/bin/env perl -w -T\r\n# %s\n#!%s"
			     "/bin/perl -w -T\r\n", longp, longp);
	CHECK(text(in, PH, longp, &out, &changed) == 0);
	CHECK_STR(out.data, want);
	CHECK(changed);
	cfs_buf_release(&out);
	free(steal_pointer(&in));
	free(steal_pointer(&want));

	/* Spaces after "#!", no trailing newline. */
	in = cfs_xasprintf("#!  " PH "/bin/python");
	CHECK(text(in, PH, longp, &out, &changed) == 0);
	CHECK_STR(out.data, "#!/usr/bin/env python");
	cfs_buf_release(&out);
	free(steal_pointer(&in));

	/* Exactly 127 bytes kept, 128 rewritten. */
	in = shebang_of_len("/e/", "/bin/python -E", 127);
	CHECK(strlen(in) == 127);
	CHECK(text(in, PH, "/e", &out, &changed) == 0);
	CHECK_STR(out.data, in);
	CHECK(!changed);
	cfs_buf_release(&out);
	free(steal_pointer(&in));

	in = shebang_of_len("/e/", "/bin/python -E\nx\n", 128 + 3);
	CHECK(text(in, PH, "/e", &out, &changed) == 0);
	CHECK_STR(out.data, "#!/usr/bin/env python -E\nx\n");
	CHECK(changed);
	cfs_buf_release(&out);
	free(steal_pointer(&in));

	/* 127 after replacement (placeholder is longer than the prefix). */
	in = shebang_of_len(PH "/", "/bin/sh", 127 + strlen(PH) - 2);
	CHECK(text(in, PH, "/e", &out, &changed) == 0);
	CHECK(out.len == 127 && strncmp(out.data, "#!/e/", 5) == 0);
	cfs_buf_release(&out);
	free(steal_pointer(&in));

	/* Prefix with a space: /usr/bin/env even when short. */
	CHECK(text("#!" PH "/bin/python3.11 -s\nimport os  # " PH "\n", PH,
		   "/home/me/my env", &out, &changed) == 0);
	CHECK_STR(out.data,
		  "#!/usr/bin/env python3.11 -s\n"
		  "import os  # /home/me/my env\n");
	cfs_buf_release(&out);

	/* ... but not when the interpreter is not under the prefix. */
	CHECK(text("#!/bin/sh\necho " PH "\n", PH, "/my env", &out,
		   &changed) == 0);
	CHECK_STR(out.data, "#!/bin/sh\necho /my env\n");
	cfs_buf_release(&out);

	/* Shebang without the placeholder: kept when short ... */
	CHECK(text("#!/usr/bin/python\n", PH, "/my env", &out, &changed) == 0);
	CHECK_STR(out.data, "#!/usr/bin/python\n");
	CHECK(!changed);
	cfs_buf_release(&out);

	/* ... and conda shortens it when long, placeholder or not. */
	in = shebang_of_len("/usr/", "/bin/tclsh -f\n", 200);
	CHECK(text(in, PH, "/e", &out, &changed) == 0);
	CHECK_STR(out.data, "#!/usr/bin/env tclsh -f\n");
	cfs_buf_release(&out);
	free(steal_pointer(&in));

	/* Not a path shebang (no leading "/"): left alone. */
	in = shebang_of_len("", " x\n", 200);
	CHECK(text(in, PH, "/e", &out, &changed) == 0);
	CHECK_STR(out.data, in);
	cfs_buf_release(&out);
	free(steal_pointer(&in));

	/* "#!" not at the start of the file: no shebang. */
	in = cfs_xasprintf(" #!" PH "/bin/python\n");
	CHECK(text(in, PH, longp, &out, &changed) == 0);
	CHECK(strncmp(out.data, " #!/ppp", 7) == 0);
	cfs_buf_release(&out);
	free(steal_pointer(&in));
}

static void test_binary(void)
{
	/*
	 * Three C strings; the last one runs to the end without a NUL and is
	 * left alone, as conda's pattern (placeholder, non-NULs, NUL) does.
	 */
	char buf[] = "\x7f" "ELF\0" "RPATH=" PH "/lib:" PH "/lib64\0"
		     "x" PH "\0" PH "/etc";
	char want[sizeof(buf)];
	size_t len = sizeof(buf) - 1, pad = strlen(PH) - 2;
	bool changed;
	char *w = want;

	memset(want, 0, sizeof(want));
	memcpy(w, "\x7f" "ELF\0", 5);
	w += 5;
	memcpy(w, "RPATH=/e/lib:/e/lib64", 21);
	w += 21 + 2 * pad + 1;
	memcpy(w, "x/e", 3);
	w += 3 + pad + 1;
	memcpy(w, PH "/etc", strlen(PH) + 4);
	CHECK(cfs_relocate_binary(buf, len, PH, "/e", &changed) == 0);
	CHECK(changed);
	CHECK_MEM(buf, len, want, len);
	CHECK(buf[len] == '\0');
}

/* Byte for byte what conda 4.9's binary_replace gives (computed with it). */
static void test_binary_conda(void)
{
	/* Text before the placeholder in the same string is kept. */
	char a[] = "ab" PH "c" PH "d\0" "z";
	char want_a[sizeof(a)] = "ab/envc/envd"; /* then 57 NULs, then "z" */
	/* Only the unterminated string: unchanged, even for a longer prefix. */
	char b[] = "\0" PH "/share";
	char b0[sizeof(b)];
	bool changed;

	want_a[sizeof(a) - 2] = 'z';
	CHECK(cfs_relocate_binary(a, sizeof(a) - 1, PH, "/env", &changed) == 0);
	CHECK(changed);
	CHECK_MEM(a, sizeof(a), want_a, sizeof(want_a));

	memcpy(b0, b, sizeof(b));
	CHECK(cfs_relocate_binary(b, sizeof(b) - 1, PH, "/env", &changed) == 0);
	CHECK(!changed);
	CHECK_MEM(b, sizeof(b), b0, sizeof(b0));
	CHECK(cfs_relocate_binary(b, sizeof(b) - 1, PH, PH "/longer", &changed) == 0);
	CHECK(!changed);
	CHECK_MEM(b, sizeof(b), b0, sizeof(b0));
}

static void test_binary_edges(void)
{
	char a[] = "abc" PH "def\0" PH;
	char b[sizeof(a)];
	const char *same = "/opt/ANACONDA1anaconda2anaconda3";
	bool changed = true;

	/*
	 * Prefix equal in length: straight substitution, no padding; the
	 * last string has no NUL within the buffer and stays.
	 */
	memcpy(b, a, sizeof(a));
	CHECK(cfs_relocate_binary(b, sizeof(a) - 1, PH, same, &changed) == 0);
	CHECK(changed);
	CHECK_MEM(b, sizeof(a), "abc/opt/ANACONDA1anaconda2anaconda3def\0" PH, sizeof(a));
	memcpy(b, a, sizeof(a));
	CHECK(cfs_relocate_binary(b, sizeof(a), PH, same, &changed) == 0);
	CHECK_MEM(b, sizeof(a), "abc/opt/ANACONDA1anaconda2anaconda3def\0"
		  "/opt/ANACONDA1anaconda2anaconda3", sizeof(a));

	memcpy(b, a, sizeof(a));
	CHECK(cfs_relocate_binary(b, sizeof(a) - 1, PH, PH, &changed) == 0);
	CHECK(!changed);
	CHECK_MEM(b, sizeof(a), a, sizeof(a));

	/* Prefix longer: error, nothing touched. */
	memcpy(b, a, sizeof(a));
	CHECK(cfs_relocate_binary(b, sizeof(a) - 1, PH, PH "/x", &changed) ==
	      -ENAMETOOLONG);
	CHECK(!changed);
	CHECK_MEM(b, sizeof(a), a, sizeof(a));

	/* Absent placeholder: no-op, and no error for a longer prefix. */
	memcpy(b, a, sizeof(a));
	CHECK(cfs_relocate_binary(b, sizeof(a) - 1, "/not/there", "/e",
				  &changed) == 0);
	CHECK(!changed);
	CHECK_MEM(b, sizeof(a), a, sizeof(a));
	CHECK(cfs_relocate_binary(b, sizeof(a) - 1, "/not", "/much/longer",
				  &changed) == 0);
	CHECK(!changed);
	CHECK_MEM(b, sizeof(a), a, sizeof(a));

	/* Placeholder cut off by the end of the buffer, and empty input. */
	CHECK(cfs_relocate_binary(b, 10, "abc" PH "d", "/e", &changed) == 0);
	CHECK(!changed);
	CHECK(cfs_relocate_binary(b, 0, PH, "/e", &changed) == 0);
	CHECK(!changed);
}

/* Big buffers with many strings and occurrences, to catch O(n^2) code. */
#if defined(__SANITIZE_ADDRESS__)
/* ASan's memmem interceptor checks the whole haystack on every call. */
#define LARGE_BYTES (1u << 20)
#else
#define LARGE_BYTES (32u << 20)
#endif

static void test_large(void)
{
	const size_t big = LARGE_BYTES;
	const char rec[] = "lib:" PH "/lib:" PH "\0";
	const size_t rl = sizeof(rec) - 1, n = big / rl;
	cleanup_free char *data = cfs_xmalloc(n * rl);
	cleanup_free char *wantrec = cfs_xcalloc(1, rl);
	cleanup_buf struct cfs_buf out = { 0 };
	size_t i, bad = 0, pl = strlen("/env");
	bool changed;

	for (i = 0; i < n; i++)
		memcpy(data + i * rl, rec, rl);
	memcpy(wantrec, "lib:/env/lib:/env", 17);
	CHECK(cfs_relocate_binary(data, n * rl, PH, "/env", &changed) == 0);
	CHECK(changed);
	for (i = 0; i < n; i++)
		bad += memcmp(data + i * rl, wantrec, rl) != 0;
	CHECK(bad == 0);

	/* One huge C string with 1 MiB occurrences, ending in the last byte. */
	for (i = 0; i < n; i++)
		memcpy(data + i * rl, rec, rl);
	for (i = 0; i + 1 < n; i++)
		data[i * rl + rl - 1] = ':';
	CHECK(cfs_relocate_binary(data, n * rl, PH, "/env", &changed) == 0);
	CHECK(memcmp(data, "lib:/env/lib:/env:lib:/env", 26) == 0);
	CHECK(data[n * rl - 1] == '\0');
	CHECK(data[n * (rl - 2 * (strlen(PH) - pl)) - 1] == '\0');
	CHECK(data[n * (rl - 2 * (strlen(PH) - pl)) - 2] == 'v');
	CHECK(data[n * (rl - 2 * (strlen(PH) - pl)) - 19] == ':');

	/* Text mode over a big file; a newline-free first line too. */
	for (i = 0; i < n; i++)
		memcpy(data + i * rl, rec, rl);
	cfs_buf_init(&out, CFS_MAX_RELOC_BYTES);
	CHECK(cfs_relocate_text(data, n * rl, PH, "/env", &out, &changed) ==
	      0);
	CHECK(out.len == n * (rl - 2 * (strlen(PH) - pl)));
	CHECK(memcmp(out.data, "lib:/env/lib:/env\0lib:", 22) == 0);
	cfs_buf_release(&out);

	memset(data, 'x', n * rl);
	memcpy(data, "#!" PH "/bin/sh ", 2 + strlen(PH) + 8);
	cfs_buf_init(&out, CFS_MAX_RELOC_BYTES);
	CHECK(cfs_relocate_text(data, n * rl, PH, "/env", &out, &changed) ==
	      0);
	CHECK(out.len == n * rl - strlen("#!" PH "/bin/sh") +
			  strlen("#!/usr/bin/env sh"));
	CHECK(memcmp(out.data, "#!/usr/bin/env sh xxx", 21) == 0);
}

static void test_path_is_safe(void)
{
	char longpath[CFS_MAX_PATH_BYTES + 8];

	CHECK(cfs_path_is_safe("a"));
	CHECK(cfs_path_is_safe("a/b"));
	CHECK(cfs_path_is_safe("lib/python3.11/site-packages/x.py"));
	CHECK(cfs_path_is_safe("share/doc/caf\xc3\xa9 "
			       "na\xc3\xafve/read me.txt"));
	CHECK(cfs_path_is_safe("..a/b..c/.d/..."));
	CHECK(cfs_path_is_safe("a b/ c "));

	CHECK(!cfs_path_is_safe(NULL));
	CHECK(!cfs_path_is_safe(""));
	CHECK(!cfs_path_is_safe("/"));
	CHECK(!cfs_path_is_safe("/a"));
	CHECK(!cfs_path_is_safe("a/../b"));
	CHECK(!cfs_path_is_safe(".."));
	CHECK(!cfs_path_is_safe("../a"));
	CHECK(!cfs_path_is_safe("a/.."));
	CHECK(!cfs_path_is_safe("."));
	CHECK(!cfs_path_is_safe("./a"));
	CHECK(!cfs_path_is_safe("a/./b"));
	CHECK(!cfs_path_is_safe("a//b"));
	CHECK(!cfs_path_is_safe("a/"));

	memset(longpath, 'a', sizeof(longpath));
	longpath[CFS_MAX_PATH_BYTES - 1] = '\0';
	CHECK(cfs_path_is_safe(longpath)); /* 4095 bytes */
	longpath[CFS_MAX_PATH_BYTES - 1] = 'a';
	longpath[CFS_MAX_PATH_BYTES] = '\0';
	CHECK(!cfs_path_is_safe(longpath)); /* 4096 bytes */
	longpath[CFS_MAX_PATH_BYTES] = 'a';
	longpath[sizeof(longpath) - 1] = '\0';
	CHECK(!cfs_path_is_safe(longpath));
}

static void test_symlink_contained(void)
{
	CHECK(cfs_symlink_target_is_contained("lib/x", "../bin/y"));
	CHECK(cfs_symlink_target_is_contained("a/b/c", "../../d"));
	CHECK(cfs_symlink_target_is_contained("lib/libz.so", "libz.so.1"));
	CHECK(cfs_symlink_target_is_contained("lib/x", ".."));
	CHECK(cfs_symlink_target_is_contained("lib/x", "././/y/"));
	CHECK(cfs_symlink_target_is_contained("bin/x", "../lib/../bin/y"));

	CHECK(!cfs_symlink_target_is_contained("lib/x", "../../etc"));
	CHECK(!cfs_symlink_target_is_contained("x", "/abs"));
	CHECK(!cfs_symlink_target_is_contained("x", ".."));
	CHECK(!cfs_symlink_target_is_contained("a", "b/../../c"));
	CHECK(!cfs_symlink_target_is_contained("a/b", "../x/../../y"));
	CHECK(!cfs_symlink_target_is_contained("a", ""));
	CHECK(!cfs_symlink_target_is_contained("/a", "b"));
	CHECK(!cfs_symlink_target_is_contained("a/../b", "c"));
}

int main(void)
{
	test_text_basic();
	test_text_limit();
	test_shebang();
	test_binary();
	test_binary_edges();
	test_binary_conda();
	test_large();
	test_path_is_safe();
	test_symlink_contained();
	return check_summary();
}

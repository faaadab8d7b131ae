/* SPDX-License-Identifier: MIT */
/*
 * A minimal check harness for condafs unit tests: CHECK() records a failure
 * with file and line and carries on; each test program ends with
 * check_summary(), which prints "N passed, N failed" and returns the exit
 * status.
 */
#ifndef CFS_CHECK_H
#define CFS_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                         \
	do {                                                                \
		if (cond) {                                                 \
			check_passed++;                                     \
		} else {                                                    \
			check_failed++;                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n",        \
				__FILE__, __LINE__, #cond);                 \
		}                                                           \
	} while (0)

#define CHECK_STR(a, b)                                                     \
	do {                                                                \
		const char *check_a_ = (a), *check_b_ = (b);                \
		if (check_a_ && check_b_ && strcmp(check_a_, check_b_) == 0) { \
			check_passed++;                                     \
		} else {                                                    \
			check_failed++;                                     \
			fprintf(stderr, "%s:%d: %s == %s: got \"%s\", want \"%s\"\n", \
				__FILE__, __LINE__, #a, #b,                 \
				check_a_ ? check_a_ : "(null)",             \
				check_b_ ? check_b_ : "(null)");            \
		}                                                           \
	} while (0)

#define CHECK_MEM(a, alen, b, blen)                                         \
	do {                                                                \
		size_t check_al_ = (alen), check_bl_ = (blen);              \
		if (check_al_ == check_bl_ && memcmp((a), (b), check_al_) == 0) { \
			check_passed++;                                     \
		} else {                                                    \
			check_failed++;                                     \
			fprintf(stderr, "%s:%d: %s differs from %s (%zu vs %zu bytes)\n", \
				__FILE__, __LINE__, #a, #b, check_al_, check_bl_); \
		}                                                           \
	} while (0)

static inline int check_summary(void)
{
	printf("%d passed, %d failed\n", check_passed, check_failed);
	return check_failed ? 1 : 0;
}

#endif

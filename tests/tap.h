/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Minimal TAP output for the C tests.  (kselftest_harness.h ships only in
 * the kernel source tree; this is the little of it the tests need.)
 */
#ifndef QSNAP_TESTS_TAP_H
#define QSNAP_TESTS_TAP_H

#include <stdio.h>

static int tap_tests, tap_failures;
/* Prefixed to every test name, e.g. "unit: ". */
static const char *tap_prefix = "";

static void check(int cond, const char *name, const char *detail)
{
	tap_tests++;
	if (cond) {
		printf("ok %d - %s%s\n", tap_tests, tap_prefix, name);
	} else {
		tap_failures++;
		printf("not ok %d - %s%s # %s\n", tap_tests, tap_prefix, name,
		       detail);
	}
	fflush(stdout);
}

/* Print the plan; the exit status for main(). */
static int tap_finish(void)
{
	printf("1..%d\n", tap_tests);
	return tap_failures ? 1 : 0;
}

#endif /* QSNAP_TESTS_TAP_H */

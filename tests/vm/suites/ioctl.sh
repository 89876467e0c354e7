#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The ioctl ABI, from C (tests/selftests/qsnap_ioctl_test.c).
suite_ioctl() {
	section "ioctl ABI"
	run_ioctl_test
}

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Allocation failures: every slab allocation of an attach failed in turn
# (fail-nth; needs CONFIG_FAULT_INJECTION, the sanitizer kernel).
suite_failnth() {
	section "allocation failures (fail-nth)"
	lifecycle_failnth
}

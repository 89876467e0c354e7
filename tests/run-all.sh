#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make check: install what is missing, then run the userspace unit tests,
# the lint checks and a minute of fuzzing on the host, and the VM tier on
# both kernels.  Ends with one summary line
# "N passed, N failed".
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"

bash tests/vm/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

out=$(mktemp)
trap 'rm -f "$out"' EXIT
{
	echo "# unit tests (host)"
	make -s -C tests/unit run 2>&1
	echo "# qsnapctl diff against QEMU's exports (host)"
	bash tests/unit/diff-test.sh 2>&1
	echo "# lint: checkpatch and sparse"
	bash tests/lint.sh 2>&1
	echo "# fuzz: the qcow2 format code, briefly (make fuzz for longer)"
	bash tests/fuzz/run.sh 60 2>&1
	echo "# VM tests"
	bash tests/vm/run-tests.sh
} 2>&1 | tee "$out"

passed=$(grep -cE '^ok ' "$out")
failed=$(grep -cE '^not ok ' "$out")
# A runner that died before printing its plan is a failure too.
plans=$(grep -cE '^1\.\.[0-9]+' "$out")
if [ "$plans" -lt 5 ]; then
	echo "# a test runner did not finish"
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]

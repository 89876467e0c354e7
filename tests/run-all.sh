#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make check: install what is missing, then run the userspace unit tests,
# the lint checks and a minute of fuzzing on the host, and the VM tier on
# both kernels.  Ends with one summary line
# "N passed, N failed".
#
#   run-all.sh          everything, after installing what is missing (make check)
#   run-all.sh --host   the host tiers only (make check-host)
#   run-all.sh --vm     the VM tier only (make check-vm; QSNAP_KERNELS picks
#                       kernels, see tests/vm/run-tests.sh)
# --host and --vm install nothing: they say "run make deps" if something
# is missing.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"

mode=${1:-all}
case $mode in
all)	bash tests/vm/deps.sh || { echo "0 passed, 1 failed"; exit 1; } ;;
--host|--vm)
	bash tests/vm/deps.sh --check || { echo "0 passed, 1 failed"; exit 1; } ;;
*)	echo "usage: $0 [--host|--vm]" >&2; exit 2 ;;
esac

out=$(mktemp)
trap 'rm -f "$out"' EXIT
# tier NAME COMMAND...: a "# NAME" heading, the tier, and its time.  A
# tier that ends without a TAP plan (a runner that died half-way) fails.
tier() {
	local name=$1 start=$SECONDS t
	shift
	echo "# $name"
	t=$(mktemp)
	"$@" 2>&1 | tee "$t"
	grep -qE '^1\.\.[0-9]+' "$t" ||
		echo "not ok - $name: the runner ended without its plan"
	rm -f "$t"
	echo "# time: $name: $((SECONDS - start)) s"
}
{
	start=$SECONDS
	if [ "$mode" != --vm ]; then
		tier "unit tests (host)" make -s -C tests/unit run
		tier "qsnapctl diff against QEMU's exports (host)" \
			bash tests/unit/diff-test.sh
		tier "lint: checkpatch, sparse and the i386 build" bash tests/lint.sh
		tier "fuzz: the qcow2 format code, briefly (make fuzz for longer)" \
			bash tests/fuzz/run.sh 60
	fi
	[ "$mode" = --host ] || tier "VM tests" bash tests/vm/run-tests.sh
	echo "# time: all tiers: $((SECONDS - start)) s"
} 2>&1 | tee "$out"

passed=$(grep -cE '^ok ' "$out")
failed=$(grep -cE '^not ok ' "$out")
# What the counts are made of: each host tier, then each kind of VM test
# (summed over the kernels).
awk '/^# (unit tests|qsnapctl diff|lint|fuzz|VM tests)/ {
	tier = substr($0, 3); if (!(tier in seen)) { seen[tier] = 1; order[++n] = tier }
}
/^ok / && tier != "VM tests" { ok[tier]++ }
/^not ok / && tier != "VM tests" { bad[tier]++ }
END {
	for (i = 1; i <= n; i++)
		if (order[i] != "VM tests")
			printf "# %s: %d passed, %d failed\n", order[i], ok[order[i]], bad[order[i]]
}' "$out"
grep '^# kind: ' "$out" | sed 's/^# kind: /# VM, /'
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Build the libFuzzer harness (clang, ASan + UBSan), replay the kept
# regression inputs, and fuzz for SECONDS from a QEMU-made seed corpus.
# Prints TAP; a crash, leak, timeout or sanitizer report fails, and the
# input is left in build/fuzz/artifacts/ (copy it to tests/fuzz/regressions/
# once fixed).
#
#   run.sh SECONDS
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${QSNAP_BUILD:-$TOP/build}/fuzz
SECONDS_TO_RUN=${1:-60}
mkdir -p "$BUILD/corpus" "$BUILD/artifacts"

. "$TOP/tests/tap.sh"
TAP_PREFIX="fuzz: "
# A failure's detail is its output's end (a sanitizer report ends there).
emit() {	# RC NAME [OUTPUT]
	tap_emit "$1" "$2" "$(printf '%s\n' "${3:-}" | tail -n 30)"
}

out=$(clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-I"$TOP/qcow2" -I"$TOP/include/uapi" -D_GNU_SOURCE \
	-o "$BUILD/fuzz_qcow2" "$TOP/tests/fuzz/fuzz_qcow2.c" \
	"$TOP/qcow2/qcow2.c" "$TOP/qcow2/qcow2_snapshot.c" "$TOP/qcow2/qcow2_crypto.c" 2>&1)
emit $? "harness builds (clang, ASan, UBSan)" "$out"
if [ ! -x "$BUILD/fuzz_qcow2" ]; then
	tap_end
	exit 1
fi

regs=$(ls "$TOP"/tests/fuzz/regressions/* 2>/dev/null)
if [ -n "$regs" ]; then
	# shellcheck disable=SC2086
	out=$("$BUILD/fuzz_qcow2" $regs 2>&1)
	emit $? "$(echo "$regs" | wc -l) regression inputs replay cleanly" "$out"
fi

out=$(bash "$TOP/tests/fuzz/make-seeds.sh" "$BUILD/seeds" 2>&1)
emit $? "seed corpus made by qemu-img ($(ls "$BUILD/seeds" | wc -l) images)" "$out"

log=$BUILD/fuzz.log
(cd "$BUILD/artifacts" && "$BUILD/fuzz_qcow2" -max_total_time="$SECONDS_TO_RUN" \
	-max_len=262144 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$BUILD/artifacts/" "$BUILD/corpus" "$BUILD/seeds" \
	> "$log" 2>&1)
rc=$?
runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$')
emit $rc "${SECONDS_TO_RUN} s, ${runs:-0} inputs, no crash, leak or sanitizer report" \
	"$(grep -E 'ERROR|SUMMARY|==[0-9]+==|artifact' "$log")"
tap_end

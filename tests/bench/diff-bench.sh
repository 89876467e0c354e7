#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# qsnapctl diff on a 100 GiB sparse image (64 KiB clusters): snapshot "a"
# after 1024 scattered 64 KiB writes, snapshot "b" after 1024 more, then
# the time of `qsnapctl diff` between them and against the current state
# (median of 5, page cache warm: the tables are what diff reads).  Host
# side, no VM: diff reads the image file only.  Prints one line.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-$TOP/build/bench}
mkdir -p "$B"
f=$B/diff-100g.qcow2
make -s -C "$TOP/tools" OUT="$B/qsnapctl" >&2
if [ ! -f "$B/.diff-made-v1" ]; then
	rm -f "$f"
	qemu-img create -q -f qcow2 "$f" 100G
	cmds=()
	for i in $(seq 0 1023); do
		cmds+=(-c "write -P $((i % 250 + 1)) $((i * 100))M 64k")
	done
	qemu-io -f qcow2 "${cmds[@]}" "$f" > /dev/null
	qemu-img snapshot -c a "$f"
	cmds=()
	for i in $(seq 0 2 1023); do
		cmds+=(-c "write -P 7 $((i * 100 + 50))M 64k" -c "write -P 9 $((i * 100))M 4k")
	done
	qemu-io -f qcow2 "${cmds[@]}" "$f" > /dev/null
	qemu-img snapshot -c b "$f"
	touch "$B/.diff-made-v1"
fi
ms() {	# median ms of 5 runs of qsnapctl diff "$@"
	local i s e
	for i in 1 2 3 4 5; do
		s=$(date +%s%N)
		"$B/qsnapctl" diff "$@" > "$B/diff.out"
		e=$(date +%s%N)
		echo $(( (e - s) / 1000000 ))
	done | sort -n | sed -n 3p
}
ab=$(ms "$f" a b)
n=$(wc -l < "$B/diff.out")
acur=$(ms "$f" a)
echo "qsnapctl diff, 100 GiB image, 64 KiB clusters: a..b $ab ms ($n extents), a..current $acur ms"

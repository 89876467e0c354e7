#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# qsnapctl diff on the host, against QEMU: for every case of
# tests/images/make-diff-images.sh, every byte that differs between QEMU's
# exports of the two sides must lie in a listed extent
# (tests/selftests/qsnap_diffcheck.c).  --exact needs the module: the VM
# tests check it.  TAP on stdout.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

n=0
failed=0
t() {	# OK(0/1) TEXT
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi
}

make -s -C "$TOP/tools" OUT="$W/qsnapctl" >&2
gcc -O2 -Wall -Wextra -o "$W/diffcheck" "$TOP/tests/selftests/qsnap_diffcheck.c"
bash "$TOP/tests/images/make-diff-images.sh" "$W/img" >&2
while read -r image from to; do
	side() { [ "$1" = - ] && echo cur || echo "$1"; }
	name=${image%.qcow2}
	out=$("$W/qsnapctl" diff "$W/img/$image" "$from" "$to" > "$W/ext" 2>&1 &&
	      "$W/diffcheck" "$W/img/$name@$(side "$from").raw" \
		"$W/img/$name@$(side "$to").raw" "$W/ext")
	t $? "diff $image $from $to: every differing byte is listed ($(tail -n 1 <<< "$out"))"
done < "$W/img/cases"

# The JSON form lists the same extents.
"$W/qsnapctl" diff "$W/img/plain.qcow2" s1 s2 > "$W/text"
"$W/qsnapctl" diff --json "$W/img/plain.qcow2" s1 s2 |
	jq -r '.extents[] | "\(.offset) \(.length)"' > "$W/json"
cmp -s "$W/text" "$W/json" && [ -s "$W/text" ]
t $? "diff --json lists the same extents as the text form"
"$W/qsnapctl" diff "$W/img/plain.qcow2" s1 nope 2> "$W/err"
[ $? = 1 ] && grep -q "no snapshot with id or name 'nope'" "$W/err"
t $? "diff with an unknown snapshot: exit 1, says which"
echo "1..$n"
exit $failed

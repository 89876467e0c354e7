#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# qsnapctl as users and scripts meet it: --json (checked with jq), info,
# detach --all, exit codes and messages, per-command help, and the sysfs
# attributes behind them.  Needs guest-lib.sh, D and TAB; jq in the guest.

# manifest_size IMAGE SNAPSHOT: the size QEMU exports
manifest_size() {
	awk -F"$TAB" -v i="$1" -v s="$2" \
		'$1 == "same" && $3 == i && $4 == s { print $6; exit }' $D/manifest
}

cli_json() {
	img=$D/img/v3-64k.qcow2
	if ! qsnapctl attach "$img" --snapshot two --json > /tmp/a.json 2>/tmp/err; then
		fail "attach --json" "$(cat /tmp/err)"
		return
	fi
	dev=$(jq -r .name /tmp/a.json)
	k=${dev#/dev/}
	check "attach --json describes the new device" "$(cat /tmp/a.json)" \
		jq -e --arg img "$img" --argjson size "$(manifest_size v3-64k.qcow2 two)" \
		'(.name | test("^/dev/qsnap[0-9]+$")) and .image == $img and
		 .snapshot.id == "2" and .snapshot.name == "two" and
		 .size == $size and .cluster_size == 65536 and
		 .qcow2_version == 3 and .backing == [] and .mounts == [] and
		 .dirty == false and .corrupt == false' /tmp/a.json
	qsnapctl info "$dev" --json > /tmp/i.json
	check "info --json says what attach --json said" "$(cat /tmp/i.json)" \
		sh -c "jq -e .name /tmp/i.json > /dev/null &&
		       [ \"\$(jq -S . /tmp/a.json)\" = \"\$(jq -S . /tmp/i.json)\" ]"
	check "info names the snapshot" "$(qsnapctl info "$dev")" \
		sh -c "qsnapctl info $dev | grep -q \"^  snapshot: *2 'two', taken \""
	qsnapctl snapshots --json "$img" > /tmp/s.json
	check "snapshots --json lists the table" "$(cat /tmp/s.json)" \
		jq -e '[.snapshots[].name] == ["one", "two", "three"] and
		       .virtual_size == 67108864 and .backing_file == null' /tmp/s.json
	check "sysfs: image, snapshot_id, snapshot_name, snapshot_date" \
		"$(cat /sys/block/$k/qsnap/snapshot_date) vs $(jq .snapshot.date /tmp/a.json)" \
		sh -c "[ \"\$(cat /sys/block/$k/qsnap/image)\" = '$img' ] &&
		       [ \"\$(cat /sys/block/$k/qsnap/snapshot_id)\" = 2 ] &&
		       [ \"\$(cat /sys/block/$k/qsnap/snapshot_name)\" = two ] &&
		       [ \"\$(cat /sys/block/$k/qsnap/snapshot_date)\" = \"\$(jq '.snapshots[1].date' /tmp/s.json)\" ]"

	cur=$(qsnapctl attach "$img")
	check "the current state: snapshot null in JSON, empty sysfs date" \
		"$(qsnapctl info "$cur" --json)" \
		sh -c "qsnapctl info $cur --json | jq -e '.snapshot == null' >/dev/null &&
		       [ -z \"\$(cat /sys/block/${cur#/dev/}/qsnap/snapshot_date)\" ]"
	check "list --json lists both devices" "$(qsnapctl list --json)" \
		sh -c "qsnapctl list --json | jq -e '[.qsnapdevices[].name] == [\"$dev\", \"$cur\"]' >/dev/null"
	qsnapctl detach "$dev" "$cur"
}

cli_odd_names() {
	img=$D/img/odd-names.qcow2
	for id in 1 2 3; do
		qsnapctl attach "$img" --snapshot $id > /dev/null || {
			fail "odd snapshot names: attach $id" "attach failed"; return; }
	done
	qsnapctl list --json > /tmp/l.json
	# jq refuses invalid JSON; U+FFFD stands for the bytes that are not UTF-8.
	check "list --json: quotes, backslashes, tabs and bytes that are not UTF-8 stay valid JSON" \
		"$(cat /tmp/l.json)" \
		jq -e '[.qsnapdevices[].snapshot.name] ==
		       ["quote\" back\\slash", "not utf-8 \ufffd\ufffd tab\tend", "a/b"]' /tmp/l.json
	check "list prints odd names too" "" sh -c "qsnapctl list > /dev/null"
	# Text output escapes what is not printable UTF-8: one row a device.
	qsnapctl list > /tmp/l.txt
	dev2=$(awk '/not utf-8/ { print $1 }' /tmp/l.txt)
	check "list and info escape a tab and bytes that are not UTF-8" \
		"$(cat -v /tmp/l.txt)" sh -c \
		"[ \$(grep -c '^/dev/qsnap' /tmp/l.txt) = 3 ] &&
		 grep -qF 'not utf-8 \\xff\\xfe tab\\tend' /tmp/l.txt &&
		 grep -qF 'back\\\\slash' /tmp/l.txt &&
		 qsnapctl info $dev2 | grep -qF \"'not utf-8 \\xff\\xfe tab\\tend'\""
	qsnapctl detach --all
}

cli_detach_all() {
	a=$(qs_attach $D/img/ext4.qcow2 fs1)
	qs_attach $D/img/v3-64k.qcow2 one > /dev/null
	qs_attach $D/img/names.qcow2 "before upgrade" > /dev/null
	mkdir -p /mnt/fs
	mount -t ext4 -o ro "$a" /mnt/fs
	qsnapctl detach --all 2>/tmp/err
	rc=$?
	left=$(qsnapctl list --json | jq -r '.qsnapdevices[].name')
	check "detach --all: the mounted device stays (exit 1, says where it is mounted)" \
		"rc $rc, left: $left, $(cat /tmp/err)" \
		sh -c "[ $rc = 1 ] && [ '$left' = '$a' ] &&
		       grep -q 'device busy: $a is mounted on /mnt/fs' /tmp/err"
	umount /mnt/fs
	check "detach --all: then every device goes (exit 0)" "" \
		sh -c "qsnapctl detach --all &&
		       [ \"\$(qsnapctl list --json | jq -c .qsnapdevices)\" = '[]' ]"
}

cli_errors() {
	expect_exit 2 "attach takes exactly one IMAGE" qsnapctl attach
	expect_exit 2 "unrecognized option '--bogus'" qsnapctl list --bogus
	expect_exit 2 "unknown command 'frobnicate'" qsnapctl frobnicate
	expect_exit 2 "detach --all takes no DEVICE" qsnapctl detach --all /dev/qsnap0
	expect_exit 1 "/dev/qsnap999: no such qsnap device" qsnapctl detach /dev/qsnap999
	expect_exit 1 "/dev/vda: not a qsnap device" qsnapctl detach /dev/vda
	expect_exit 1 "/dev/qsnap999: No such device" qsnapctl info /dev/qsnap999
	expect_exit 1 "/nonexistent.qcow2: No such file or directory" \
		qsnapctl attach /nonexistent.qcow2
	expect_exit 1 "is encrypted (LUKS aes-xts-plain64): give its passphrase with --key-file FILE" \
		qsnapctl attach $D/img/luks.qcow2
	expect_exit 1 "snapshot 'nope' not found in $D/img/names.qcow2; available: 1 'before upgrade', 2 'Überprüfung ñ 日本', 3 '1'" \
		qsnapctl attach $D/img/names.qcow2 --snapshot nope
	for c in attach detach list info snapshots features; do
		check "qsnapctl $c --help" "$(qsnapctl $c --help 2>&1 | head -n 3)" \
			sh -c "qsnapctl $c --help > /tmp/h && head -n 2 /tmp/h | grep -q '^  qsnapctl $c'"
	done
	check "qsnapctl --version" "$(qsnapctl --version)" \
		sh -c "qsnapctl --version | grep -qE '^qsnapctl from qsnap [0-9]+\.[0-9]+'"
}

# diff --exact: for every case of make-diff-images.sh, the kernel reads
# both sides and only sectors that differ remain; checked against QEMU's
# exports both ways (qsnap_diffcheck --exact: every differing byte listed,
# every listed sector differing).
cli_diff_exact() {
	dd=$D/img/diff
	while read -r image from to; do
		name=${image%.qcow2}
		fs=$from ts=$to
		[ "$fs" = - ] && fs=cur
		[ "$ts" = - ] && ts=cur
		if ! qsnapctl diff --exact "$dd/$image" "$from" "$to" > /tmp/exact 2>/tmp/err; then
			fail "diff --exact $image $from $to" "$(cat /tmp/err)"
			continue
		fi
		out=$(qsnap_diffcheck "$dd/$name@$fs.raw" "$dd/$name@$ts.raw" /tmp/exact --exact)
		check "diff --exact $image $from $to: exactly the differing sectors ($out)" \
			"$(head -c 300 /tmp/exact)" sh -c "echo '$out' | grep -q '^ok: '"
	done < $dd/cases
	check "diff --exact detached what it attached" "$(qsnapctl list)" \
		[ -z "$(ls -d /sys/block/qsnap* 2>/dev/null)" ]
	# The compressed case rewrites 4M..4M+64k with its own bytes after s2.
	qsnapctl diff $dd/compressed.qcow2 s2 > /tmp/maybe
	qsnapctl diff --exact $dd/compressed.qcow2 s2 > /tmp/exact
	check "diff --exact drops a cluster rewritten with the same bytes" \
		"tables: $(cat /tmp/maybe | tr '\n' ' '); exact: $(cat /tmp/exact | tr '\n' ' ')" \
		sh -c "grep -q '^4194304 65536$' /tmp/maybe && ! grep -q '^4194304 ' /tmp/exact"
}

# attach's per-device settings: what the options ask for is what sysfs
# and info --json show, and what the device does.
cli_settings() {
	d=$(qsnapctl attach $D/img/v3-512.qcow2 --snapshot one --l2-cache-kb 1 \
	    --recheck-ms 0 --direct-io=off) || { fail "attach settings" ""; return; }
	want=$(awk -F"$TAB" '$1 == "same" && $3 == "v3-512.qcow2" && $4 == "one" { print $5; exit }' $D/manifest)
	got=$(sha_of "$d")
	set -- $(cat /sys/block/${d#/dev/}/qsnap/l2_cache_stat)
	check "--l2-cache-kb 1: 4 L2 tables at most, and the device reads right" \
		"l2_cache_stat $*; $got vs $want" [ "$4" = 4 -a "$got" = "$want" ]
	check "--recheck-ms 0 --direct-io=off: info --json shows them" \
		"$(qsnapctl info "$d" --json | jq -c .settings)" sh -c \
		"qsnapctl info $d --json | jq -e '.settings.recheck_ms == 0 and
		 .settings.direct_io == false and .settings.l2_cache_kb == 1 and
		 .settings.share_images == true and .settings.partscan == true' > /dev/null &&
		 [ \$(cat /sys/block/${d#/dev/}/qsnap/direct_io) = 0 ]"
	qsnapctl detach "$d"
	d=$(qsnapctl attach $D/img/parts-mbr.qcow2 --snapshot parts --no-partscan)
	e=$(qsnapctl attach $D/img/parts-mbr.qcow2 --snapshot parts)
	check "--no-partscan: no partitions; without it: p1 and p2" \
		"$(ls /dev/qsnap*)" sh -c "[ ! -e ${d}p1 ] && [ -e ${e}p1 ] && [ -e ${e}p2 ] &&
		 [ \$(cat /sys/block/${d#/dev/}/qsnap/partscan) = 0 ]"
	qsnapctl detach "$d" "$e"
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
	d=$(qsnapctl attach $D/img/shared/s4k.qcow2 --snapshot s1)
	e=$(qsnapctl attach $D/img/shared/s4k.qcow2 --snapshot s2 --no-share)
	check "--no-share: a second snapshot of one image gets its own image object" \
		"$(cat /sys/kernel/debug/qsnap/memory)" \
		grep -q '^images 2$' /sys/kernel/debug/qsnap/memory
	qsnapctl detach "$e"
	e=$(qsnapctl attach $D/img/shared/s4k.qcow2 --snapshot s2)
	check "... and without it, shares the first one's" \
		"$(cat /sys/kernel/debug/qsnap/memory)" \
		grep -q '^images 1$' /sys/kernel/debug/qsnap/memory
	qsnapctl detach "$d" "$e"
	expect_exit 2 "--direct-io takes on or off" \
		qsnapctl attach $D/img/v3-64k.qcow2 --direct-io=maybe
}

# A /dev/qsnap-control that leads to another device (as a node made at
# boot for the fixed minor would, had the module fallen back to a dynamic
# one): refused, not sent qsnap's ioctls.
cli_foreign_control() {
	_real=$(cat /sys/class/misc/qsnap-control/dev)
	rm -f /dev/qsnap-control
	mknod /dev/qsnap-control c 1 3
	expect_exit 1 "/dev/qsnap-control is not the qsnap module's control device" \
		qsnapctl list
	rm -f /dev/qsnap-control
	mknod -m 600 /dev/qsnap-control c "${_real%:*}" "${_real#*:}"
	check "... and the node made again with sysfs's numbers works" \
		"$(qsnapctl list 2>&1)" qsnapctl list
}

run_cli_tests() {
	command -v jq > /dev/null || { fail "qsnapctl --json tests" "no jq in the guest"; return; }
	cli_json
	cli_odd_names
	cli_detach_all
	cli_errors
	cli_diff_exact
	cli_settings
	cli_foreign_control
}

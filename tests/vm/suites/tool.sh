#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The tool, sysfs and other reads: chains as the tool reports them, the
# caller's permissions, several devices at once, every qsnapctl command
# (guest-cli.sh), a 1 TiB image, the caches' counters, and the buffered
# data path (direct_io=0) against the oracle.  Leaves the module loaded
# with its defaults.
suite_tool() {
	section "tool, sysfs and other reads"
	# --- the backing chain: printed at attach, in sysfs and in qsnapctl list ---
	if dev=$(qs_attach $D/img/chain/top3.qcow2 s1 2>/tmp/err); then
		check "attach prints the chain it followed" "$(cat /tmp/err)" \
			grep -q "top3.qcow2: backing file $D/img/chain/mid3.qcow2 (qcow2)" /tmp/err
		b=/sys/block/${dev#/dev/}/qsnap/backing
		check "sysfs backing lists the chain top-down" "$(cat "$b")" \
			[ "$(cat "$b" | tr '\n' ' ')" = "$D/img/chain/mid3.qcow2 $D/img/chain/base3.qcow2 " ]
		check "qsnapctl list shows the chain" "$(qsnapctl list)" \
			sh -c "qsnapctl list | grep -q '<- $D/img/chain/base3.qcow2'"
		qsnapctl detach "$dev"
	else
		fail "backing chain: attach" "$(cat /tmp/err)"
	fi

	# --- qsnapctl opens the chain with the caller's permissions ---
	# nobody with CAP_SYS_ADMIN only (the control node made world-openable for
	# this: attach itself still needs the capability).
	chmod 666 /dev/qsnap-control
	if dev=$(as_nobody qsnapctl attach $D/img/chain/top3.qcow2 2>/tmp/err); then
		pass "nobody with CAP_SYS_ADMIN attaches a chain it can read"
		qsnapctl detach "$dev"
	else
		fail "nobody with CAP_SYS_ADMIN attaches a chain it can read" "$(cat /tmp/err)"
	fi
	mark=$(qsnap_log_mark)
	if dev=$(as_nobody qsnapctl attach $D/img/chain/peek.qcow2 2>/tmp/err); then
		fail "a backing file nobody cannot read is refused" "attached as $dev"
		qsnapctl detach "$dev"
	else
		check "a backing file nobody cannot read is refused" "$(cat /tmp/err)" \
			grep -q "private/secret.qcow2 (named by $D/img/chain/peek.qcow2): Permission denied" /tmp/err
		check "... before the kernel is asked" "$(qsnap_log_since "$mark")" \
			[ -z "$(qsnap_log_since "$mark")" ]
	fi
	check "root reads it (the refusal was the permission)" "" \
		sh -c "dev=\$(qsnapctl attach $D/img/chain/peek.qcow2 2>/dev/null) && qsnapctl detach \$dev"
	chmod 600 /dev/qsnap-control

	# --- several snapshots of one image and several images at once ---
	devs=""
	ok=1
	for spec in "v3-64k.qcow2${TAB}one" "v3-64k.qcow2${TAB}two" \
		    "v3-64k.qcow2${TAB}-" "names.qcow2${TAB}before upgrade" \
		    "many.qcow2${TAB}m4"; do
		image=${spec%%"$TAB"*}
		snap=${spec#*"$TAB"}
		dev=$(qs_attach "$D/img/$image" "$snap") || { ok=0; continue; }
		devs="$devs $dev"
		want=$(awk -F"$TAB" -v i="$image" -v s="$snap" \
			'$1 == "same" && $3 == i && $4 == s { print $5; exit }' $D/manifest)
		echo "$dev $want" >> /tmp/multi
	done
	[ "$(qsnapctl list | grep -c '^/dev/qsnap')" = 5 ] || ok=0
	while read -r dev want; do
		[ "$(sha_of "$dev")" = "$want" ] || ok=0
	done < /tmp/multi
	check "five devices from two images at once read correctly and are listed" \
		"$(qsnapctl list)" [ $ok = 1 ]
	# shellcheck disable=SC2086
	qsnapctl detach $devs

	# --- qsnapctl: JSON, info, detach --all, exit codes, help; sysfs ---
	run_cli_tests
	check "detach of several devices at once" "$(qsnapctl list)" \
		[ -z "$(qsnapctl list)" ]

	# --- a 1 TiB sparse image: size and spot reads ---
	if dev=$(qs_attach $D/img/sparse-1t.qcow2 big); then
		check "1 TiB snapshot: size" "$(blockdev --getsize64 "$dev")" \
			[ "$(blockdev --getsize64 "$dev")" = 1099511627776 ]
		spot() { dd if="$dev" bs=65536 skip="$1" count=1 2>/dev/null | sha256sum | cut -d' ' -f1; }
		check "1 TiB snapshot: data at 0" "" [ "$(spot 0)" = "$(pattern_sha 253)" ]
		check "1 TiB snapshot: data at 512 GiB" "" [ "$(spot 8388608)" = "$(pattern_sha 315)" ]
		check "1 TiB snapshot: data in the last 64 KiB" "" [ "$(spot 16777215)" = "$(pattern_sha 357)" ]
		check "1 TiB snapshot: unallocated reads zeros" "" [ "$(spot 1638400)" = "$(pattern_sha 000)" ]
		qsnapctl detach "$dev"
	else
		fail "1 TiB snapshot: attach" "attach failed"
	fi
	if dev=$(qs_attach $D/img/sparse-1t.qcow2 -); then
		check "1 TiB current state: data overwritten after the snapshot" "" \
			[ "$(dd if="$dev" bs=65536 skip=8388608 count=1 2>/dev/null | sha256sum | cut -d' ' -f1)" = "$(pattern_sha 001)" ]
		qsnapctl detach "$dev"
	fi

	# --- a compressed cluster read in 4 KiB pieces is decompressed once ---
	stat_of() { cat "/sys/block/${1#/dev/}/qsnap/compressed_stat"; }
	if dev=$(qs_attach $D/img/zlib-64k.qcow2 packed); then
		before=$(stat_of "$dev")
		dd if="$dev" of=/dev/null bs=4096 skip=16 count=16 iflag=direct 2>/dev/null
		after=$(stat_of "$dev")
		set -- $before $after
		check "compressed cluster read in 16 pieces: decompressed once, 15 cache hits" \
			"compressed_stat before '$before' after '$after'" \
			[ $(($4 - $1)) = 1 -a $(($5 - $2)) = 15 -a $(($6 - $3)) = 0 ]
		qsnapctl detach "$dev"
	else
		fail "compressed image: attach" "attach failed"
	fi
	check "qsnapctl features: deflate, zstd, extended L2, backing, data files" \
		"$(qsnapctl features)" sh -c "qsnapctl features | grep -c ': yes' | grep -qx 7"

	# --- unknown snapshot: the tool lists what exists ---
	qsnapctl attach $D/img/names.qcow2 --snapshot nope 2>/tmp/err
	check "unknown snapshot: the error lists the snapshots" "$(cat /tmp/err)" \
		grep -q "available: 1 'before upgrade'" /tmp/err

	# --- the L2 cache: tables kept for the next pass, bounded by l2_cache_kb ---
	# 512-byte clusters: a 64 MiB image has hundreds of 512-byte L2 tables.
	l2stat() { cat "/sys/block/${1#/dev/}/qsnap/l2_cache_stat"; }
	direct_sha() { dd if="$1" bs=1M iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1; }
	want=$(awk -F"$TAB" '$1 == "same" && $3 == "v3-512.qcow2" && $4 == "one" { print $5; exit }' $D/manifest)
	for kb in default 1; do
		if [ $kb = 1 ]; then
			rmmod qsnap &&
				insmod /lib/modules/qsnap.ko l2_cache_kb=1 direct_io=0
		fi
		dev=$(qs_attach $D/img/v3-512.qcow2 one) || { fail "L2 cache ($kb): attach" ""; continue; }
		dio=$(cat "/sys/block/${dev#/dev/}/qsnap/direct_io")
		sha1=$(direct_sha "$dev")
		s1=$(l2stat "$dev")
		sha2=$(direct_sha "$dev")
		s2=$(l2stat "$dev")
		qsnapctl detach "$dev"
		# hits misses tables max, after one pass and after two
		set -- $s1 $s2
		if [ $kb = default ]; then
			check "L2 cache, default size: the second pass reads no table ($s1 / $s2)" "" \
				[ "$sha1" = "$want" -a "$sha2" = "$want" -a $2 -gt 4 -a $6 = $2 -a $3 -le $(($2 + 1)) ]
			check "data is read with O_DIRECT by default (ext4)" "direct_io=$dio" [ "$dio" = 1 ]
		else
			# The second pass must read tables again: more than fit.
			check "L2 cache, l2_cache_kb=1: 4 tables, reused, both passes right ($s1 / $s2)" "" \
				[ "$sha1" = "$want" -a "$sha2" = "$want" -a $7 = 4 -a $8 = 4 -a $(($6 - $2)) -gt $8 ]
			check "direct_io=0: data is read through the page cache" "direct_io=$dio" [ "$dio" = 0 ]
		fi
	done
	# The buffered data path (direct_io=0) against the oracle: chains, a raw
	# base, compressed and extended-L2 layers, data files.
	run_manifest '^same	[^	]*	(chain/|zlib-64k|extl2-16k|datafile)' |
		sed -E 's/^(not )?ok - /&direct_io=0: /'
	rmmod qsnap && insmod /lib/modules/qsnap.ko
}

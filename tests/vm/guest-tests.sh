#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The in-guest test suite: run by /init with qsnap.ko loaded and the data
# disk (images + manifest made by tests/images/make-images.sh) at /dev/vda.
. /bin/guest-lib.sh
. /bin/guest-manifest.sh
. /bin/guest-lifecycle.sh
. /bin/guest-cli.sh
. /bin/guest-trust.sh

TAB=$(printf '\t')
D=/data
mount -o ro /dev/vda $D || { echo "Bail out! cannot mount the data disk"; exit 1; }
insmod /lib/modules/qsnap.ko || { echo "Bail out! insmod qsnap.ko failed"; exit 1; }

# --- every case of the manifest (see tests/images/make-images.sh) ---
run_manifest .


# --- the ioctl ABI ---
section "ioctl ABI"
run_ioctl_test

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

# --- ext4 mounted from a snapshot, and detach/rmmod while mounted ---
section "lifecycle races"
mkdir -p /mnt/fs1 /mnt/fs2
dev1=$(qs_attach $D/img/ext4.qcow2 fs1)
dev2=$(qs_attach $D/img/ext4.qcow2 -)
if mount -t ext4 -o ro "$dev1" /mnt/fs1 && mount -t ext4 -o ro "$dev2" /mnt/fs2; then
	check "ext4 in snapshot fs1: every file matches" "" \
		sh -c "cd /mnt/fs1 && sha256sum -c -s $D/img/fs1.sums"
	check "ext4 in the current state: every file matches" "" \
		sh -c "cd /mnt/fs2 && sha256sum -c -s $D/img/fs2.sums"
	check "ext4 snapshot differs from the current state" "" \
		[ "$(cat /mnt/fs1/etc/motd)" = "snapshot tree 1" ]
	if qsnapctl detach "$dev1" 2>/tmp/err; then
		fail "detach while mounted: EBUSY" "detach succeeded"
	else
		check "detach while mounted: EBUSY, says where" "$(cat /tmp/err)" \
			grep -q "is mounted on /mnt/fs1" /tmp/err
	fi
	check "rmmod while mounted is refused" "" sh -c '! rmmod qsnap 2>/dev/null'
	check "mount read-write is refused" "" \
		sh -c "! mount -o remount,rw /mnt/fs1 2>/dev/null"
	umount /mnt/fs1 /mnt/fs2
	check "detach after umount" "" qsnapctl detach "$dev1" "$dev2"
else
	fail "ext4 mount from /dev/qsnapN" "mount failed"
	qsnapctl detach "$dev1" "$dev2"
fi

# --- the corrupt bit: attach with one warning ---
section "hostile images"
mark=$(qsnap_log_mark)
if dev=$(qs_attach $D/img/corrupt-bit.qcow2 two); then
	qsnap_log_since "$mark" > /tmp/log
	check "corrupt bit: attach warns once" "$(cat /tmp/log)" \
		[ "$(grep -c 'marked corrupt' /tmp/log)" = 1 ]
	qsnapctl detach "$dev"
fi

# --- a compressed cluster read in 4 KiB pieces is decompressed once ---
section "tool, sysfs and other reads"
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

# --- a reserved bit in an L2 entry: that read fails, the rest reads ---
section "hostile images"
if dev=$(qs_attach $D/img/l2-reserved.qcow2 -); then
	mark=$(qsnap_log_mark)
	check "corrupt L2 entry: read fails with EIO" "" \
		sh -c "! dd if=$dev of=/dev/null bs=65536 skip=320 count=1 iflag=direct 2>/dev/null"
	check "corrupt L2 entry: one line names it" "$(qsnap_log_since "$mark")" \
		[ "$(qsnap_log_since "$mark" | grep -c 'reserved bits set')" = 1 ]
	check "corrupt L2 entry: other data still reads" "" \
		[ "$(dd if="$dev" bs=65536 skip=16 count=1 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)" = "$(pattern_sha 101)" ]
	qsnapctl detach "$dev"
else
	fail "corrupt L2 entry: attach" "attach failed"
fi

# --- lifecycle races ---
section "lifecycle races"
lifecycle_detach_under_io
lifecycle_image_changes
lifecycle_readers 32 200
lifecycle_readers_small_cache 32 100
lifecycle_readers 4 200 cut-data-40000.qcow2 - cut-data-40000.raw \
	"readers of a data cluster cut by the end of the file"
lifecycle_parallel 20
lifecycle_cycles 1000 memcheck
lifecycle_live_image
lifecycle_shared_image

section "trust: fresh attaches, re-created snapshots, killed openers, races"
trust_fresh_attach
trust_recreated_snapshot
trust_killed_openers
trust_confined_opener
trust_escaped_names
trust_attach_detach_race 5
trust_random 8

section "tool, sysfs and other reads"
# --- unknown snapshot: the tool lists what exists ---
qsnapctl attach $D/img/names.qcow2 --snapshot nope 2>/tmp/err
check "unknown snapshot: the error lists the snapshots" "$(cat /tmp/err)" \
	grep -q "available: 1 'before upgrade'" /tmp/err

# --- rmmod with idle devices attached, then load again ---
section "lifecycle races"
qs_attach $D/img/v3-64k.qcow2 one > /dev/null
qs_attach $D/img/v3-64k.qcow2 - > /dev/null
check "rmmod with idle devices attached" "" rmmod qsnap
check "devices are gone after rmmod" "" sh -c '! ls /dev/qsnap[0-9]* 2>/dev/null'
check "module loads again" "" insmod /lib/modules/qsnap.ko
if dev=$(qs_attach $D/img/v3-64k.qcow2 two); then
	want=$(awk -F"$TAB" '$1 == "same" && $3 == "v3-64k.qcow2" && $4 == "two" { print $5; exit }' $D/manifest)
	check "attach after reload reads correctly" "" [ "$(sha_of "$dev")" = "$want" ]
	qsnapctl detach "$dev"
fi
# --- the L2 cache: tables kept for the next pass, bounded by l2_cache_kb ---
section "tool, sysfs and other reads"
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
check "rmmod at the end" "" rmmod qsnap

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Lifecycle races, as in-guest tests: detach against readers in flight,
# rmmod while busy, the image changed underneath an attached device, and
# attach/detach cycles.  Needs guest-lib.sh and D (the data disk mount).

# Detach while 4 processes read: refused (EBUSY) until they are done; the
# reads complete and return what they should.
lifecycle_detach_under_io() {
	dev=$(qs_attach $D/img/chain/top3.qcow2 s2) || {
		fail "detach under I/O: attach" "attach failed"; return; }
	want=$(sha_of "$dev")
	for i in 1 2 3 4; do
		(dd if="$dev" bs=65536 iflag=direct 2>/dev/null | sha256sum |
		 cut -d' ' -f1 > /tmp/reader$i) &
	done
	sleep 1
	early=0
	for i in $(seq 1 20); do
		if qsnapctl detach "$dev" 2>/dev/null; then
			early=1
			break
		fi
	done
	check "detach while 4 processes read: refused while they run" "" [ $early = 0 ]
	wait
	ok=1
	for i in 1 2 3 4; do
		[ "$(cat /tmp/reader$i)" = "$want" ] || ok=0
	done
	check "the 4 readers read the whole device correctly" "" [ $ok = 1 ]
	check "rmmod while a device is open is refused" "" \
		sh -c "exec 3< $dev; ! rmmod qsnap 2>/dev/null"
	if [ $early = 0 ]; then
		check "detach once the readers are done" "" qsnapctl detach "$dev"
	fi
}

# The image truncated, then overwritten, under an attached device: every
# read returns data or EIO, detach works.
lifecycle_image_changes() {
	cp $D/img/chain/top3.qcow2 /tmp/changing.qcow2
	cp $D/img/chain/mid3.qcow2 $D/img/chain/base3.qcow2 /tmp/
	for how in truncate overwrite; do
		dev=$(qs_attach /tmp/changing.qcow2 s1) || {
			fail "image changed underneath ($how): attach" "attach failed"
			continue; }
		if [ $how = truncate ]; then
			dd if=/dev/null of=/tmp/changing.qcow2 bs=1 seek=300000 2>/dev/null
		else
			dd if=/dev/urandom of=/tmp/changing.qcow2 bs=65536 count=40 \
			   conv=notrunc 2>/dev/null
		fi
		if why=$(read_data_or_eio "$dev"); then
			pass "image ${how}d under an attached device: data or EIO"
		else
			fail "image ${how}d under an attached device" "$why"
		fi
		check "detach after the image was ${how}d" "" qsnapctl detach "$dev"
		cp $D/img/chain/top3.qcow2 /tmp/changing.qcow2
	done
	rm -f /tmp/changing.qcow2 /tmp/mid3.qcow2 /tmp/base3.qcow2
}

# N attach / read / detach cycles over a chain with compressed and
# extended-L2 layers (every allocation path of an attach).
lifecycle_cycles() {
	n=$1
	ok=0
	# Two log lines a cycle on a serial console would dominate the time.
	echo 1 > /proc/sys/kernel/printk
	for i in $(seq 1 "$n"); do
		dev=$(qsnapctl attach $D/img/chain/sub-over-packed.qcow2 \
		      --snapshot s1 2>/dev/null) || break
		dd if="$dev" of=/dev/null bs=65536 count=4 iflag=direct 2>/dev/null
		qsnapctl detach "$dev" || break
		ok=$((ok + 1))
	done
	echo 7 > /proc/sys/kernel/printk
	check "$n attach/read/detach cycles" "$ok done" [ "$ok" = "$n" ]
}

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Images where users keep them: qcow2 written onto block devices (a
# device-mapper linear device, LVM logical volumes, a 3-deep chain whose
# backing files are LVs named by path and relatively), an LV removed under
# a device; the watch on shared storage that another host writes; images
# a running QEMU holds open for writing; qsnapctl list --image.
# Needs guest-lib.sh, D, TAB; lvm, dmsetup, qemu-img and qemu-io in the guest.

VG=qsnapimg

# places_want IMAGE SNAPSHOT: the manifest's sha256 of that "same" case
places_want() {
	awk -F"$TAB" -v i="$1" -v s="$2" '$1 == "same" && $3 == i && $4 == s { print $5; exit }' \
		$D/manifest
}

# places_oracle IMAGE SNAPSHOT BACKING: QEMU's bytes of IMAGE (a file or
# a block device) at SNAPSHOT ("-": the current state): a copy, its
# backing file named BACKING by path (the copy is elsewhere), reverted
# with qemu-img snapshot -a, converted to raw.  Prints the sha256.
places_oracle() {
	rm -f /tmp/oracle.qcow2 /tmp/oracle.raw
	dd if="$1" of=/tmp/oracle.qcow2 bs=1M status=none &&
	qemu-img rebase -u -F qcow2 -b "$3" /tmp/oracle.qcow2 || return 1
	if [ "$2" != - ]; then
		qemu-img snapshot -a "$2" /tmp/oracle.qcow2 || return 1
	fi
	qemu-img convert -O raw /tmp/oracle.qcow2 /tmp/oracle.raw || return 1
	sha256sum < /tmp/oracle.raw | cut -d' ' -f1
	rm -f /tmp/oracle.qcow2 /tmp/oracle.raw
}

# places_same NAME IMAGE SNAPSHOT WANT: attach, compare, detach
places_same() {
	if dev=$(qs_attach "$2" "$3" 2>/tmp/err); then
		got=$(sha_of "$dev")
		check "$1" "$got vs $4" sh -c '[ -n "$1" ] && [ "$1" = "$2" ]' sh "$4" "$got"
		qsnapctl detach "$dev"
	else
		fail "$1" "$(cat /tmp/err)"
	fi
}

# A volume group on a loop device, with no udev (LVM makes its nodes).
places_vg() {
	mkdir -p /etc/lvm
	printf 'activation {\n\tudev_sync = 0\n\tudev_rules = 0\n}\n' > /etc/lvm/lvm.conf
	rm -f /tmp/places-pv.raw
	truncate -s 192M /tmp/places-pv.raw
	pv=$(losetup -f) && losetup "$pv" /tmp/places-pv.raw &&
	lvm pvcreate -q "$pv" > /dev/null && lvm vgcreate -q $VG "$pv" > /dev/null
}

places_vg_remove() {
	lvm vgremove -q -f $VG > /dev/null 2>&1
	losetup -d "$pv" 2>/dev/null
	rm -f /tmp/places-pv.raw
}

# A QEMU-made image copied onto a device-mapper linear device and an LV,
# each larger than the image: every snapshot and the current state.
places_copies() {
	src=zstd-64k.qcow2
	lvm lvcreate -q -n copy -L 40M $VG > /dev/null &&
	dd if=$D/img/$src of=/dev/$VG/copy bs=1M conv=fsync status=none || {
		fail "block devices: an image copied onto an LV" "lvcreate or dd failed"
		return
	}
	rm -f /tmp/lin.raw
	truncate -s 40M /tmp/lin.raw
	lin=$(losetup -f) && losetup "$lin" /tmp/lin.raw &&
	dmsetup create qsnap-lin --table "0 $((40 * 2048)) linear $lin 0" &&
	dd if=$D/img/$src of=/dev/mapper/qsnap-lin bs=1M conv=fsync status=none || {
		fail "block devices: an image copied onto a linear device" "dmsetup or dd failed"
		return
	}
	for s in packed patched -; do
		want=$(places_want $src "$s")
		places_same "an LV holding $src, snapshot $s, equals QEMU's" \
			/dev/$VG/copy "$s" "$want"
		places_same "a dm linear device holding $src, snapshot $s, equals QEMU's" \
			/dev/mapper/qsnap-lin "$s" "$want"
	done
	check "snapshots on an LV" "$(qsnapctl snapshots /dev/$VG/copy 2>&1)" \
		sh -c "qsnapctl snapshots /dev/$VG/copy --json |
		       jq -e '[.snapshots[].name] == [\"packed\", \"patched\"]' > /dev/null"
	qsnapctl diff /dev/$VG/copy packed patched > /tmp/diff.out 2>/tmp/err
	rc=$?
	check "diff on an LV" "exit $rc: $(cat /tmp/err)" \
		sh -c "[ $rc -le 1 ] && [ -s /tmp/diff.out ]"
	dmsetup remove qsnap-lin
	losetup -d "$lin"
	rm -f /tmp/lin.raw
}

# A chain made by qemu-img straight onto LVs: base <- mid (naming its
# base by path) <- top (naming mid relatively, resolved in /dev/VG as
# QEMU does), with compressed clusters and a snapshot in every layer.
places_chain() {
	for lv in base mid top; do
		lvm lvcreate -q -n $lv -L 24M $VG > /dev/null || return 1
	done
	qemu-img create -q -f qcow2 -o cluster_size=64k /dev/$VG/base 16M &&
	qemu-io -f qcow2 -c 'write -P 0x51 0 4M' -c 'write -c -P 0x52 8M 1M' \
		/dev/$VG/base > /dev/null &&
	qemu-img snapshot -c b1 /dev/$VG/base &&
	qemu-img create -q -f qcow2 -o cluster_size=64k -b /dev/$VG/base -F qcow2 \
		/dev/$VG/mid &&
	qemu-io -f qcow2 -c 'write -P 0x61 1M 2M' -c 'write -z 8M 64k' \
		/dev/$VG/mid > /dev/null &&
	qemu-img create -q -f qcow2 -o cluster_size=4k -b mid -F qcow2 /dev/$VG/top &&
	qemu-io -f qcow2 -c 'write -P 0x71 2M 1M' -c 'write -c -P 0x72 12M 256k' \
		/dev/$VG/top > /dev/null &&
	qemu-img snapshot -c s1 /dev/$VG/top &&
	qemu-io -f qcow2 -c 'write -P 0x73 0 512k' -c 'discard 12M 64k' \
		/dev/$VG/top > /dev/null
}

places_chains() {
	if ! places_chain 2>/tmp/err; then
		fail "block devices: a 3-deep chain made by qemu-img on LVs" "$(cat /tmp/err)"
		return
	fi
	for s in s1 -; do
		places_same "a 3-deep chain of LVs, snapshot $s, equals QEMU's" \
			/dev/$VG/top "$s" "$(places_oracle /dev/$VG/top "$s" /dev/$VG/mid)"
	done
	if dev=$(qsnapctl attach /dev/$VG/top --snapshot s1 2>/tmp/err); then
		check "... the chain resolved to the LVs" "$(cat /tmp/err)" \
			sh -c "grep -q 'backing file /dev/$VG/mid (qcow2)' /tmp/err &&
			       grep -q 'backing file /dev/$VG/base (qcow2)' /tmp/err"
		# list --image: a backing LV by another of its nodes (LVM made
		# /dev/mapper's; the kernel's devtmpfs has /dev/dm-N)
		node=/dev/dm-$(dmsetup info -c --noheadings -o minor $VG-base | tr -d " ")
		check "list --image: the device reading a backing LV, by its node $node" \
			"$(qsnapctl list --image $node 2>&1)" \
			sh -c "qsnapctl list --image $node | grep -q '^$dev '"
		qsnapctl detach "$dev"
	else
		fail "... the chain resolved to the LVs" "$(cat /tmp/err)"
	fi
}

# An LV taken away under an attached device: LVM refuses while it is
# open; removed by force (device-mapper's error table), reads fail with
# EIO and detach works.
places_lv_removed() {
	if ! dev=$(qsnapctl attach /dev/$VG/copy 2>/tmp/err); then
		fail "LV removed under a device: attach" "$(cat /tmp/err)"
		return
	fi
	dio=$(cat /sys/block/${dev#/dev/}/qsnap/direct_io)
	check "an LV read with direct I/O (direct_io 1)" "direct_io $dio" [ "$dio" = 1 ]
	check "lvchange -an of an LV a device reads is refused" "" \
		sh -c "! lvm lvchange -q -an $VG/copy > /dev/null 2>&1"
	# Nothing of the LV in the page cache: the module must read it.
	sync
	echo 3 > /proc/sys/vm/drop_caches
	# With the LV open, --force leaves it with a table that fails all I/O
	# (and says the removal itself failed).
	dmsetup remove --force $VG-copy > /dev/null 2>&1
	check "... removed by force: its table fails all I/O" "$(dmsetup table $VG-copy 2>&1)" \
		sh -c "dmsetup table $VG-copy | grep -q error"
	# 20 MiB in: a compressed cluster never read since attach
	dd if="$dev" of=/dev/null bs=64k skip=320 count=16 iflag=direct 2>/tmp/err
	rc=$?
	check "... reads fail with EIO" "exit $rc: $(cat /tmp/err)" \
		sh -c "[ $rc != 0 ] && grep -q 'Input/output error' /tmp/err"
	check "... and the device detaches" "" qsnapctl detach "$dev"
	dmsetup remove $VG-copy > /dev/null 2>&1
}

# An LV of shared storage that another host writes: here an image on a
# dm linear device over a loop device, its snapshot deleted through the
# loop device, whose page cache is not the dm device's (as another
# host's is not ours).  The watch must read past the dm device's cached
# pages and fail the reads.
places_watch_shared() {
	rm -f /tmp/shared.raw
	truncate -s 40M /tmp/shared.raw
	back=$(losetup -f) && losetup "$back" /tmp/shared.raw &&
	dd if=$D/img/zstd-64k.qcow2 of="$back" bs=1M conv=fsync status=none &&
	dmsetup create qsnap-shared --table "0 $((40 * 2048)) linear $back 0" || {
		fail "shared storage: an image on a dm device over a loop device" \
			"losetup, dd or dmsetup failed"
		return
	}
	# the kernel's own node: without udev, /dev/mapper's may not be made
	node=/dev/dm-$(dmsetup info -c --noheadings -o minor qsnap-shared | tr -d " ")
	if dev=$(qsnapctl attach "$node" --snapshot packed \
		 --recheck-ms 100 2>/tmp/err); then
		want=$(places_want zstd-64k.qcow2 packed)
		got=$(sha_of "$dev")
		check "shared storage: the snapshot read before, equals QEMU's" \
			"$got vs $want" [ "$got" = "$want" ]
		dio=$(cat /sys/block/${dev#/dev/}/qsnap/direct_io)
		check "... a block device read with direct I/O (direct_io 1)" \
			"direct_io $dio" [ "$dio" = 1 ]
		# The other host: the same disk through another device.
		qemu-img snapshot -d packed "$back"
		sleep 1
		dd if="$dev" of=/dev/null bs=64k count=1 iflag=direct 2>/tmp/err
		rc=$?
		check "... deleted through another device: reads fail with EIO" \
			"exit $rc: $(cat /tmp/err)" \
			sh -c "[ $rc != 0 ] && grep -q 'Input/output error' /tmp/err"
		check "... and the kernel says why" "$(dmesg | tail -n 5)" \
			sh -c "dmesg | grep -q '${dev#/dev/}: .*snapshot .*packed.* was deleted'"
		qsnapctl detach "$dev"
	else
		fail "shared storage: attach" "$(cat /tmp/err)"
	fi
	dmsetup remove qsnap-shared
	losetup -d "$back"
	rm -f /tmp/shared.raw
}

# wait_ofd_locks: until some process holds an OFD lock (qemu-io opened
# its image), 10 s at most
wait_ofd_locks() {
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		grep -q OFDLCK /proc/locks && return 0
		sleep 1
	done
	return 1
}

# An image a QEMU process holds open: qemu-io (read-write, then
# read-only) sleeping with the image open and locked as QEMU locks it.
places_in_use() {
	img=/tmp/inuse.qcow2
	cp $D/img/zstd-64k.qcow2 $img
	ln -sf $img /tmp/inuse-link.qcow2
	qemu-io -f qcow2 -c 'sleep 60000' $img > /dev/null 2>&1 &
	qio=$!
	if ! wait_ofd_locks; then
		fail "images in use: qemu-io holds the image" "no OFD lock in /proc/locks"
		kill $qio
		return
	fi
	if dev=$(qsnapctl attach $img 2>/tmp/err); then
		check "attach of the current state of an image QEMU writes warns" "$(cat /tmp/err)" \
			grep -q "warning: $img is open for writing by another process (QEMU's lock): the current state of a running VM changes under you; attach a snapshot" /tmp/err
		check "... info says so" "$(qsnapctl info "$dev")" \
			sh -c "qsnapctl info $dev | grep -q '^  in use: .*open for writing by another process'"
		check "... and the JSON" "$(qsnapctl info "$dev" --json)" \
			sh -c "qsnapctl info $dev --json | jq -e '.image_written == true' > /dev/null"
		check "list --image: the device, by another path to the image" \
			"$(qsnapctl list --image /tmp/inuse-link.qcow2 2>&1)" \
			sh -c "qsnapctl list --image /tmp/inuse-link.qcow2 | grep -q '^$dev '"
		check "list --image --json: only that device" \
			"$(qsnapctl list --image $img --json 2>&1)" \
			sh -c "qsnapctl list --image $img --json |
			       jq -e '[.qsnapdevices[].name] == [\"$dev\"]' > /dev/null"
		qsnapctl detach "$dev"
	else
		fail "attach of the current state of an image QEMU writes warns" "$(cat /tmp/err)"
	fi
	if dev=$(qsnapctl attach $img --snapshot packed 2>/tmp/err); then
		check "... a snapshot of it attaches without a word" "$(cat /tmp/err)" \
			[ ! -s /tmp/err ]
		qsnapctl detach "$dev"
	else
		fail "... a snapshot of it attaches without a word" "$(cat /tmp/err)"
	fi
	kill $qio
	wait $qio 2>/dev/null
	qemu-io -r -f qcow2 -c 'sleep 60000' $img > /dev/null 2>&1 &
	qio=$!
	wait_ofd_locks
	if dev=$(qsnapctl attach $img 2>/tmp/err); then
		check "a QEMU that only reads the image: no warning" "$(cat /tmp/err)" \
			[ ! -s /tmp/err ]
		check "... and the JSON says it is not written" "$(qsnapctl info "$dev" --json)" \
			sh -c "qsnapctl info $dev --json | jq -e '.image_written == false' > /dev/null"
		qsnapctl detach "$dev"
	else
		fail "a QEMU that only reads the image: no warning" "$(cat /tmp/err)"
	fi
	kill $qio
	wait $qio 2>/dev/null
	check "list --image of an image no device reads: nothing" \
		"$(qsnapctl list --image $img 2>&1)" \
		[ -z "$(qsnapctl list --image $img)" ]
	expect_exit 1 "/tmp/nonexistent.qcow2: No such file or directory" \
		qsnapctl list --image /tmp/nonexistent.qcow2
	rm -f $img /tmp/inuse-link.qcow2
}

suite_places() {
	section "images on block devices, images in use"
	places_in_use
	if ! places_vg 2>/tmp/err; then
		fail "block devices: a volume group on a loop device" "$(cat /tmp/err)"
		return
	fi
	places_copies
	places_chains
	places_lv_removed
	places_vg_remove
	places_watch_shared
	check "... nothing of them is left" "$(qsnapctl list; dmsetup ls)" \
		sh -c "[ -z \"\$(qsnapctl list | tail -n +2)\" ] &&
		       ! dmsetup ls | grep -q '$VG\|qsnap-lin\|qsnap-shared'"
}

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Lifecycle races (guest-lifecycle.sh): detach and rmmod while mounted,
# open or read, the image changed under a device, parallel readers and
# attach/detach, attach/detach cycles with the memory check, devices that
# detach themselves (autoclear, detach --lazy), images in use and shared,
# rmmod with idle devices and a reload.
suite_lifecycle() {
	section "lifecycle races"
	# --- ext4 mounted from a snapshot, and detach/rmmod while mounted ---
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
	# Fewer rounds under KASAN and on the compact kernels.
	if [ "$QSNAP_PROFILE" != full ]; then
		lifecycle_detach_under_io
		lifecycle_image_changes
		lifecycle_readers 32 50
		lifecycle_readers_small_cache 16 30
		lifecycle_readers 4 50 cut-data-40000.qcow2 - cut-data-40000.raw \
			"readers of a data cluster cut by the end of the file"
		lifecycle_parallel 20
		# KASAN's quarantine holds freed objects back: kmemleak checks
		# leaks there, not the memory counters.
		lifecycle_cycles 300
	else
		lifecycle_detach_under_io
		lifecycle_image_changes
		lifecycle_readers 32 200
		lifecycle_readers_small_cache 32 100
		lifecycle_readers 4 200 cut-data-40000.qcow2 - cut-data-40000.raw \
			"readers of a data cluster cut by the end of the file"
		lifecycle_parallel 20
		lifecycle_cycles 1000 memcheck
	fi
	lifecycle_autoclear
	# Each full read spans dozens of writes (more under KASAN).
	if [ "$QSNAP_PROFILE" != full ]; then
		lifecycle_live_image 2
	else
		lifecycle_live_image 3
	fi
	lifecycle_shared_image
	# --- rmmod with idle devices attached, then load again ---
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
}

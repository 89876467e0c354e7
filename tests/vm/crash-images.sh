#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# crash-images.sh KREL DIR: crash-ext4.qcow2 and crash-xfs.qcow2 in DIR,
# each with snapshot "crash" taken of a disk its VM was crashed on
# (tests/vm/crash-guest.sh) and a current state overwritten at its start:
# what the mount suite replays the journals of.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
krel=$1 dir=$2
mkdir -p "$dir" "$BUILD/crash"
rm -f "$dir"/crash-{ext4,xfs}.qcow2
# mkfs.xfs wants 300 MB at least (the images grow by what is written).
qemu-img create -q -f qcow2 "$dir/crash-ext4.qcow2" 64M
qemu-img create -q -f qcow2 "$dir/crash-xfs.qcow2" 320M
truncate -s 1M "$BUILD/crash/empty.raw"
VM_EXTRA_MODULES="libcrc32c xfs" VM_EXTRA_BINS="mkfs.ext4 mkfs.xfs" \
	vm_initramfs "$krel" "" "$TOP/tests/vm/crash-guest.sh" "$BUILD/crash/initrd.gz"
for try in 1 2; do
	VM_EXTRA_DRIVES="-drive file=$dir/crash-ext4.qcow2,format=qcow2,if=virtio
			 -drive file=$dir/crash-xfs.qcow2,format=qcow2,if=virtio" \
	VM_DEBUG_APPEND= \
		vm_run "$krel" "$BUILD/crash/initrd.gz" "$BUILD/crash/empty.raw" \
		"$BUILD/crash/console.log" 300 || true
	grep -aq '^crash-guest: crashing' "$BUILD/crash/console.log" && break
	cp "$BUILD/crash/console.log" "$BUILD/crash/console.log.try$try"
	# A boot that never reached /init: once more (tests/vm/lib.sh)
	vm_log "crash guest: no crash on try $try (console: $BUILD/crash/console.log.try$try)"
done
log=$BUILD/crash/console.log
said=$(grep -a '^crash-guest: ' "$log" | grep -v 'crashing$' || true)
complaints=$(vm_console_complaints "$log" || true)
if ! grep -aq '^crash-guest: crashing' "$log" || [ -n "$said$complaints" ]; then
	echo "crash guest (console: $log): ${said:-no crash}" >&2
	[ -z "$complaints" ] || echo "$complaints" | head -n 40 >&2
	exit 1
fi
for fs in ext4 xfs; do
	qemu-img snapshot -c crash "$dir/crash-$fs.qcow2"
	qemu-io -c 'write -P 0x55 0 1M' "$dir/crash-$fs.qcow2" > /dev/null
done

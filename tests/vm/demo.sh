#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make demo: build qsnap, boot the newest test kernel in QEMU, and show two
# snapshots of one qcow2 image mounted side by side from /dev/qsnapN.
. "$(dirname "$0")/lib.sh"

bash "$TOP/tests/vm/deps.sh"
D=$BUILD/demo
rm -rf "$D"
mkdir -p "$D/disk" "$D/work"

echo "== making vm.qcow2: a GPT disk, ext4 in partition 1, two snapshots (qemu-img) =="
tree() {	# DIR VERSION MOTD
	mkdir -p "$1/etc" "$1/srv/app"
	echo "$3" > "$1/etc/motd"
	echo "app version $2" > "$1/srv/app/VERSION"
	echo "config for $2" > "$1/srv/app/app.conf"
}
tree "$D/work/v1" 1.0 "Welcome (before the upgrade)"
tree "$D/work/v2" 2.0 "Welcome (after the upgrade)"
echo "added in 2.0" > "$D/work/v2/srv/app/CHANGES"
# A GPT disk as a VM would have: ext4 in partition 1.
for v in v1 v2; do
	truncate -s 48M "$D/work/$v.raw"
	echo 'label: gpt
start=1MiB, size=40MiB, type=L, name=root' | sfdisk -q "$D/work/$v.raw" > /dev/null
	mke2fs -q -F -t ext4 -L demo -E offset=$((1 << 20)) -d "$D/work/$v" \
		"$D/work/$v.raw" 40M
done
qemu-img convert -f raw -O qcow2 "$D/work/v1.raw" "$D/disk/vm.qcow2"
qemu-img snapshot -c before-upgrade "$D/disk/vm.qcow2"
qemu-img convert -n -f raw -O qcow2 "$D/work/v2.raw" "$D/disk/vm.qcow2"
qemu-img snapshot -c after-upgrade "$D/disk/vm.qcow2"
qemu-img snapshot -l "$D/disk/vm.qcow2"
vm_data_disk "$D/disk" "$D/data.ext4"

krel=$(vm_kernels | tail -n 1)
echo "== building qsnap.ko for $krel and qsnapctl =="
ko=$(vm_build_module "$krel")
vm_build_guest_tools > /dev/null
vm_initramfs "$krel" "$ko" "$TOP/tests/vm/demo-guest.sh" "$D/initrd.gz"

echo "== booting Linux $krel under QEMU =="
vm_run "$krel" "$D/initrd.gz" "$D/data.ext4" "$D/console.log" 600 || true
# Show what the guest printed, without the kernel's boot chatter.
sed -n '/^demo: start/,/^demo: end/p' "$D/console.log" | grep -v '^\[' |
	sed -e 's/^demo: start$//' -e 's/^demo: end$//'
if ! grep -q '^demo: end' "$D/console.log" ||
   vm_console_complaints "$D/console.log"; then
	echo "demo failed; console: $D/console.log" >&2
	exit 1
fi

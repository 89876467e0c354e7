#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The install guest: what "make install" and DKMS put on a system, used as
# an admin would, then a boot from a snapshot.  /init has laid the
# "make install" tree over / (module in /lib/modules/$(uname -r)/extra,
# /usr/local/sbin/qsnapctl, the udev rule) and put the DKMS-built module at
# /lib/modules/qsnap.ko.
#   1. modprobe finds the installed module; its version is the package's.
#   2. udev (systemd-udevd) with the installed rule makes the
#      /dev/disk/by-qsnap/ links for disks and partitions, and removes them;
#      util-linux's mount runs the installed mount.qsnap for mount -t qsnap
#      and an fstab line; the module loads when its control node is opened.
#   3. The DKMS module attaches the "golden" snapshot of a root file system
#      image, which is mounted at /newroot, writable: read-only under a
#      tmpfs overlay (6.1), or through attach --overlay (6.12); /init then
#      switch_roots into it, and its /sbin/init reports "qsnap-boot: ..."
#      lines that the host checks.
. /bin/guest-lib.sh
section "install and boot"

Q=/usr/local/sbin/qsnapctl
D=/data
export PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin
mount -o ro /dev/vda $D || { echo "Bail out! cannot mount the data disk"; exit 1; }

# --- 1. the installed module ---
krel=$(uname -r)
check "make install: modprobe qsnap loads lib/modules/$krel/extra/qsnap.ko" \
	"$(modprobe qsnap 2>&1)" sh -c "modprobe qsnap && [ -e /dev/qsnap-control ]"
check "make install: the module's version is dkms.conf's" \
	"$(cat /sys/module/qsnap/version 2>&1) vs $(cat /etc/qsnap-version)" \
	[ "$(cat /sys/module/qsnap/version)" = "$(cat /etc/qsnap-version)" ]
check "make install: man page and bash completion installed" "" \
	sh -c "[ -s /usr/local/share/man/man8/qsnapctl.8 ] &&
	       [ -s /usr/local/share/bash-completion/completions/qsnapctl ]"

# --- 2. udev and the by-qsnap links ---
# device-mapper's and LVM's rules run their tools from /sbin.
ln -sf "$(command -v dmsetup)" /sbin/dmsetup
ln -sf "$(command -v lvm)" /sbin/lvm
# A disk holding volume group snapvg, made before udev runs: LVM's rule
# has never seen it.
truncate -s 16M /tmp/vg.raw
l=$(losetup -f) && losetup "$l" /tmp/vg.raw
nosync='activation { udev_sync = 0 udev_rules = 0 }'
lvm pvcreate -q --config "$nosync" "$l" > /dev/null 2>&1 &&
	lvm vgcreate -q --config "$nosync" snapvg "$l" > /dev/null 2>&1 &&
	lvm lvcreate -q --config "$nosync" -n lv -L 4M snapvg > /dev/null 2>&1 &&
	lvm vgchange -q --config "$nosync" -an snapvg > /dev/null 2>&1 ||
	echo "# lvm: snapvg not made"
losetup -d "$l"
qemu-img convert -f raw -O qcow2 /tmp/vg.raw /tmp/vg.qcow2
rm -f /tmp/vg.raw /run/lvm/pvs_online/* /run/lvm/vgs_online/* 2>/dev/null
mkdir -p /run/udev
systemd-udevd --daemon --resolve-names=never 2>/tmp/udevd.err
udevadm settle -t 30

# link NAME: where /dev/disk/by-qsnap/NAME points, "" if it does not exist
link() { readlink -f "/dev/disk/by-qsnap/$1" 2>/dev/null || true; }

if p=$($Q attach $D/img/parts-mbr.qcow2 --snapshot parts) &&
   n=$($Q attach $D/img/names.qcow2 --snapshot "before upgrade") &&
   c=$($Q attach $D/img/v3-64k.qcow2); then
	udevadm settle -t 30
	check "udev: <image>@<snapshot> links to the disk" \
		"$(ls -l /dev/disk/by-qsnap/ 2>&1)" \
		[ "$(link parts-mbr.qcow2@parts)" = "$p" ]
	check "udev: <image>@<snapshot>-partN links to its partitions" \
		"$(ls -l /dev/disk/by-qsnap/ 2>&1)" \
		sh -c "[ '$(link parts-mbr.qcow2@parts-part1)' = '${p}p1' ] &&
		       [ '$(link parts-mbr.qcow2@parts-part2)' = '${p}p2' ]"
	check "udev: a blank in a snapshot name is encoded as udev encodes labels (\\x20)" \
		"$(ls -l /dev/disk/by-qsnap/ 2>&1)" \
		[ "$(link 'names.qcow2@before\x20upgrade')" = "$n" ]
	check "udev: the current state is <image> alone" \
		"$(ls -l /dev/disk/by-qsnap/ 2>&1)" [ "$(link v3-64k.qcow2)" = "$c" ]
	$Q detach --all
	udevadm settle -t 30
	check "udev: detach removes the links" "$(ls -l /dev/disk/by-qsnap/ 2>&1)" \
		[ -z "$(ls /dev/disk/by-qsnap/ 2>/dev/null)" ]
	# A snapshot's file system UUID is a real disk's too (here a loop
	# device holding a copy): by-uuid must stay with the real one, also
	# when a qsnap device with it comes later.  systemd's rules probe no
	# qsnap device, other rule sets may: these are systemd's with qsnap
	# devices added to the kernel names they probe.
	mkdir -p /run/udev/rules.d
	sed 's/^KERNEL!="loop\*|/KERNEL!="qsnap*|loop*|/' \
		/lib/udev/rules.d/60-persistent-storage.rules \
		> /run/udev/rules.d/60-persistent-storage.rules
	udevadm control --reload
	a=$($Q attach $D/img/ext4.qcow2 --snapshot fs1)
	dd if="$a" of=/tmp/same.raw bs=1M 2>/dev/null
	l=$(losetup -f) && losetup "$l" /tmp/same.raw
	b=$($Q attach $D/img/ext4.qcow2 --snapshot fs1)
	udevadm settle -t 30
	uuid=$(udevadm info -q property "$l" | sed -n 's/^ID_FS_UUID=//p')
	check "udev: with rules that probe qsnap devices, they claim the by-uuid link too" \
		"$(udevadm info -q symlink "$a")" \
		sh -c "udevadm info -q symlink '$a' | grep -qw 'disk/by-uuid/$uuid' &&
		       udevadm info -q symlink '$b' | grep -qw 'disk/by-uuid/$uuid'"
	check "udev: by-uuid stays with a real disk when snapshots have its UUID" \
		"uuid $uuid -> $(readlink -f /dev/disk/by-uuid/$uuid 2>&1); loop $l, qsnap $a $b" \
		sh -c "[ -n '$uuid' ] && [ \"\$(readlink -f /dev/disk/by-uuid/$uuid)\" = '$l' ]"
	# ... and when an overlay over one has it
	if o=$($Q attach $D/img/ext4.qcow2 --snapshot fs1 --overlay 2>/tmp/err); then
		udevadm settle -t 30
		check "udev: by-uuid stays with a real disk when an overlay (attach --overlay) has its UUID" \
			"uuid $uuid -> $(readlink -f /dev/disk/by-uuid/$uuid 2>&1); loop $l, overlay $o" \
			sh -c "[ -n '$uuid' ] && [ \"\$(readlink -f /dev/disk/by-uuid/$uuid)\" = '$l' ]"
		$Q detach "$o"
	else
		fail "udev: attach --overlay" "$(cat /tmp/err)"
	fi
	losetup -d "$l"
	rm -f /tmp/same.raw /run/udev/rules.d/60-persistent-storage.rules
	udevadm control --reload
	$Q detach "$a" "$b"
	udevadm settle -t 30
	# LVM's rule activates the volume groups it finds on a new disk
	# (device-mapper's rules probe each new dm device): not on the
	# overlay over a snapshot, which it would then hold for good, and
	# under the guest's names.
	if o=$($Q attach /tmp/vg.qcow2 --overlay 2>/tmp/err); then
		# (an activation would add devices: their events too)
		udevadm settle -t 30 && sleep 1 && udevadm settle -t 30
		check "udev: LVM's rule does not activate a volume group found on an overlay" \
			"$(dmsetup ls 2>&1)" sh -c "! dmsetup ls | grep -q snapvg"
		check "... and the overlay and its snapshot detach" "$(cat /tmp/err)" \
			sh -c "$Q detach '$o' 2>/tmp/err"
		dmsetup remove snapvg-lv 2>/dev/null && $Q detach "$o" 2>/dev/null
	else
		fail "udev: attach --overlay of an image with volume group snapvg" "$(cat /tmp/err)"
	fi
	udevadm settle -t 30
else
	fail "udev: attach" "attach failed"
fi
udevadm control --exit 2>/dev/null || killall systemd-udevd 2>/dev/null
# Gone for good: a socket left behind would make dmsetup wait for udev.
rm -rf /run/udev
[ -s /tmp/udevd.err ] && echo "# systemd-udevd: $(head -c 600 /tmp/udevd.err)"
# --- mount -t qsnap and an fstab line: util-linux's mount runs the
# installed /sbin/mount.qsnap ---
# settled: true once no qsnap device is left (umount detaches it)
settled() {
	for _i in $(seq 1 100); do
		[ -z "$($Q list | tail -n +2)" ] && return 0
		sleep 0.1
	done
	return 1
}
mkdir -p /mnt/h
if mount -t qsnap -o snapshot=fs1 $D/img/ext4.qcow2 /mnt/h 2>/tmp/err; then
	check "mount -t qsnap -o snapshot=fs1 (mount.qsnap): every file is the snapshot's" \
		"" sh -c "cd /mnt/h && sha256sum -c -s $D/img/fs1.sums"
	check "... mounted nosuid,nodev" "$(grep ' /mnt/h ' /proc/mounts)" \
		sh -c "grep ' /mnt/h ext4 ' /proc/mounts | grep -q ',nosuid,nodev,'"
	umount /mnt/h
	check "... umount leaves no device" "$($Q list)" settled
else
	fail "mount -t qsnap -o snapshot=fs1 (mount.qsnap)" "$(cat /tmp/err)"
fi
echo "$D/img/ext4.qcow2 /mnt/h qsnap snapshot=fs1,no-overlay,noauto 0 0" >> /etc/fstab
if mount /mnt/h 2>/tmp/err; then
	check "an fstab line (qsnap snapshot=fs1,no-overlay): mount DIR mounts it" \
		"" sh -c "cd /mnt/h && sha256sum -c -s $D/img/fs1.sums"
	check "... mounted nosuid,nodev" "$(grep ' /mnt/h ' /proc/mounts)" \
		sh -c "grep ' /mnt/h ext4 ' /proc/mounts | grep -q ',nosuid,nodev,'"
	umount /mnt/h
	check "... umount leaves no device" "$($Q list)" settled
else
	fail "an fstab line (qsnap snapshot=fs1,no-overlay): mount DIR mounts it" "$(cat /tmp/err)"
fi
check "make install: rmmod qsnap" "" rmmod qsnap

# At boot kmod's static-nodes makes a node for each modules.devname line
# (systemd's kmod-static-nodes.service); the first open loads the module.
check "make install: modules.devname has /dev/qsnap-control (c10:248)" \
	"$(cat /lib/modules/$krel/modules.devname 2>&1)" \
	grep -qx 'qsnap qsnap-control c10:248' /lib/modules/$krel/modules.devname
rm -f /dev/qsnap-control
mknod /dev/qsnap-control c 10 248
# The kernel runs /sbin/modprobe: kmod's, copied to /usr/local/bin.
[ -e /sbin/modprobe ] || ln -s /usr/local/bin/modprobe /sbin/modprobe
check "make install: opening /dev/qsnap-control loads the module (qsnapctl list)" \
	"$($Q list 2>&1)" sh -c "$Q list > /dev/null && [ -d /sys/module/qsnap ]"
check "make install: ... and it is the control device's minor" \
	"$(cat /sys/class/misc/qsnap-control/dev 2>&1)" \
	[ "$(cat /sys/class/misc/qsnap-control/dev 2>&1)" = 10:248 ]
rmmod qsnap 2>/dev/null

# --- 3. the DKMS module, and a boot from a snapshot ---
check "dkms: the module it built loads" "" insmod /lib/modules/qsnap.ko
check "dkms: the module's version is dkms.conf's" "$(cat /sys/module/qsnap/version)" \
	[ "$(cat /sys/module/qsnap/version)" = "$(cat /etc/qsnap-version)" ]
# Two ways to take the writes of a booted snapshot: 6.1 boots through an
# overlayfs over the read-only device, 6.12 through the writable device
# of attach --overlay (device-mapper's snapshot target, in memory).
case $(uname -r) in
6.1.*) ;;
*) boot_via=dm ;;
esac
if [ "${boot_via:-}" = dm ]; then
	if dev=$($Q attach $D/img/boot/root.qcow2 --snapshot golden --overlay 2>/tmp/err); then
		mkdir -p /newroot
		mount -t ext4 "$dev" /newroot &&
		mkdir -p /newroot/run/image-disk &&
		mount --move $D /newroot/run/image-disk &&
		mount --move /dev /newroot/dev
		check "boot: the snapshot's writable overlay is mounted read-write at /newroot" \
			"$dev: $(cat /proc/mounts)" \
			sh -c "[ -x /newroot/sbin/init ] && grep -q ' /newroot ext4 rw' /proc/mounts"
		umount /sys /tmp 2>/dev/null
		umount /proc
	else
		fail "boot: attach --overlay of the root snapshot" "$(cat /tmp/err)"
	fi
elif dev=$($Q attach $D/img/boot/root.qcow2 --snapshot golden); then
	mkdir -p /run/lower /run/rw /newroot
	mount -t ext4 -o ro "$dev" /run/lower &&
	mount -t tmpfs -o mode=755 rw /run/rw &&
	mkdir -p /run/rw/upper /run/rw/work &&
	mount -t overlay -o lowerdir=/run/lower,upperdir=/run/rw/upper,workdir=/run/rw/work \
		root /newroot &&
	mkdir -p /newroot/run/lower /newroot/run/image-disk &&
	mount --move /run/lower /newroot/run/lower &&
	mount --move $D /newroot/run/image-disk &&
	mount --move /dev /newroot/dev
	check "boot: the snapshot is mounted read-only under an overlay at /newroot" \
		"$(cat /proc/mounts)" [ -x /newroot/sbin/init ]
	umount /sys /tmp 2>/dev/null
	umount /proc
else
	fail "boot: attach the root snapshot" "attach failed"
fi

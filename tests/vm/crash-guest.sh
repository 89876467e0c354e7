#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The crash guest (tests/vm/crash-images.sh): an ext4 on /dev/vdb and an
# XFS on /dev/vdc, both qcow2 disks, mounted and written to (some of it
# synced, some not), then the machine crashed with sysrq b, as a power
# cut would leave it.  A snapshot the host takes of those images after
# that is crash-consistent: the journals need replay.
export PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin
fail() { echo "crash-guest: $*"; }
mkdir -p /mnt/ext4 /mnt/xfs
# -F/-f: a second try finds the first one's file systems there.
mkfs.ext4 -q -F -L crash /dev/vdb || fail "mkfs.ext4"
mkfs.xfs -q -f -L crash /dev/vdc || fail "mkfs.xfs"
mount -t ext4 /dev/vdb /mnt/ext4 || fail "mount ext4"
mount -t xfs /dev/vdc /mnt/xfs || fail "mount xfs"
for m in /mnt/ext4 /mnt/xfs; do
	mkdir -p $m/etc $m/var
	echo "before the snapshot" > $m/etc/app.conf
	head -c 300000 /dev/urandom > $m/var/synced.bin
done
sync
for m in /mnt/ext4 /mnt/xfs; do
	echo "written after the sync" > $m/etc/late.conf
	head -c 100000 /dev/urandom > $m/var/late.bin
done
echo "crash-guest: crashing"
echo b > /proc/sysrq-trigger

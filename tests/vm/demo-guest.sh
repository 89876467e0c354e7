#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The guest half of make demo.
echo 4 > /proc/sys/kernel/printk
mount -o ro /dev/vda /data
insmod /lib/modules/qsnap.ko
echo "demo: start"
run() { echo "# $*"; "$@"; }
run qsnapctl snapshots /data/vm.qcow2
echo
a=$(qsnapctl attach /data/vm.qcow2 --snapshot before-upgrade)
echo "# qsnapctl attach /data/vm.qcow2 --snapshot before-upgrade"
echo "$a"
b=$(qsnapctl attach /data/vm.qcow2 --snapshot after-upgrade)
echo "# qsnapctl attach /data/vm.qcow2 --snapshot after-upgrade"
echo "$b"
run qsnapctl list
mkdir -p /mnt/before /mnt/after
run mount -o ro "$a" /mnt/before
run mount -o ro "$b" /mnt/after
echo
run cat /mnt/before/etc/motd /mnt/after/etc/motd
run cat /mnt/before/srv/app/VERSION /mnt/after/srv/app/VERSION
echo "# diff -r /mnt/before /mnt/after"
diff -r /mnt/before /mnt/after
echo
echo "# qsnapctl detach $a   (while mounted: refused)"
qsnapctl detach "$a" 2>&1
run umount /mnt/before /mnt/after
run qsnapctl detach "$a" "$b"
run qsnapctl list
echo "demo: end"

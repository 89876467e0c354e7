#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The guest half of make demo: two snapshots of one VM disk attached,
# their root partitions mounted side by side, the differences shown.
echo 4 > /proc/sys/kernel/printk
mount -o ro /dev/vda /data
insmod /lib/modules/qsnap.ko
echo "demo: start"
run() { echo "# $*"; "$@"; }
say() { echo; echo "== $* =="; }

say "the snapshots in the image"
run qsnapctl snapshots /data/vm.qcow2

say "attach two of them: each becomes a read-only disk, partitions included"
echo "# qsnapctl attach /data/vm.qcow2 --snapshot before-upgrade"
a=$(qsnapctl attach /data/vm.qcow2 --snapshot before-upgrade) && echo "$a"
echo "# qsnapctl attach /data/vm.qcow2 --snapshot after-upgrade"
b=$(qsnapctl attach /data/vm.qcow2 --snapshot after-upgrade) && echo "$b"
run qsnapctl list
mkdir -p /mnt/before /mnt/after
run mount -o ro "${a}p1" /mnt/before
run mount -o ro "${b}p1" /mnt/after
run qsnapctl info "$a"

say "what changed between the two snapshots"
echo "# diff -rq /mnt/before /mnt/after"
diff -rq /mnt/before /mnt/after
run cat /mnt/before/etc/motd /mnt/after/etc/motd
echo "# diff -u /mnt/before/srv/app/VERSION /mnt/after/srv/app/VERSION"
diff -u /mnt/before/srv/app/VERSION /mnt/after/srv/app/VERSION

say "a mounted device is not detached"
echo "# qsnapctl detach $a"
qsnapctl detach "$a" 2>&1
echo "(exit status $?)"

say "clean up"
run umount /mnt/before /mnt/after
run qsnapctl detach --all
run qsnapctl list
echo "demo: end"

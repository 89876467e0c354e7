#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The sanitizer tier's guest suite (KASAN, kmemleak, lockdep, UBSAN kernel),
# the suites of tests/vm/suites/ with the sanitizer profile (fewer rounds):
# the hostile images, damaged clusters and refusals, one snapshot of every
# image of the differential suite, the ioctl ABI, every allocation of an
# attach failed in turn, the lifecycle races, parallel readers and
# attach/detach, 300 attach/detach cycles, the trust tests, shared image
# objects and a snapshot of an image in use being deleted, qsnapctl mount's
# overlay and volume group lifecycle; then kmemleak must find nothing of
# qsnap's.
# Any sanitizer report on the console fails the run (host side).
. /bin/guest-lib.sh
. /bin/guest-manifest.sh
. /bin/guest-lifecycle.sh
. /bin/guest-trust.sh
. /bin/guest-cli.sh

TAB=$(printf '\t')
D=/data
QSNAP_PROFILE=sanitizer
KML=/sys/kernel/debug/kmemleak
mount -o ro /dev/vda $D || { echo "Bail out! cannot mount the data disk"; exit 1; }
mount -t debugfs debugfs /sys/kernel/debug
insmod /lib/modules/qsnap.ko || { echo "Bail out! insmod qsnap.ko failed"; exit 1; }
# Forget what boot left behind: only what follows counts.
echo clear > $KML

run_suites hostile differential ioctl failnth lifecycle trust mount

# kmemleak reports objects unreferenced for two scans and older than ~5 s.
sleep 6
echo scan > $KML
sleep 6
echo scan > $KML
cat $KML > /tmp/leaks
total=$(grep -c 'unreferenced object' /tmp/leaks)
ours=$(awk '/unreferenced object/ { if (hit) n++; hit = 0 }
	    /qsnap|qcow2|zstd|zlib/ { hit = 1 }
	    END { if (hit) n++; print n + 0 }' /tmp/leaks)
check "kmemleak: nothing of qsnap's leaked ($total unrelated reports)" \
	"$(cat /tmp/leaks)" [ "$ours" = 0 ]
check "rmmod at the end" "" rmmod qsnap

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The sanitizer tier's guest suite (KASAN, kmemleak, lockdep, UBSAN kernel):
# the hostile images, damaged clusters and refusals, the differential cases
# over every read path and one snapshot of every other image, the ioctl ABI, every allocation of an attach failed
# in turn, the lifecycle races, parallel readers and attach/detach, 1000
# attach/detach cycles, shared image objects and a snapshot of an image in
# use being deleted; then kmemleak must find nothing of qsnap's.
# Any sanitizer report on the console fails the run (host side).
. /bin/guest-lib.sh
. /bin/guest-manifest.sh
. /bin/guest-lifecycle.sh

TAB=$(printf '\t')
D=/data
KML=/sys/kernel/debug/kmemleak
mount -o ro /dev/vda $D || { echo "Bail out! cannot mount the data disk"; exit 1; }
mount -t debugfs debugfs /sys/kernel/debug
insmod /lib/modules/qsnap.ko || { echo "Bail out! insmod qsnap.ko failed"; exit 1; }
# Forget what boot left behind: only what follows counts.
echo clear > $KML

# Every hostile, damaged and refused case, the differential cases over
# every read path (chains, compression, extended L2, data files), and one
# snapshot of every other image of the differential suite (each cluster
# size, v2, resized, odd sizes, data cut by EOF, names, many snapshots,
# header bits, compressed and extended-L2 cluster sizes).  The ~70 other
# snapshots of those images take the same paths again, at about 3 s each
# under KASAN, and CI has 90 minutes for everything.
run_manifest '^(hostile|eio|refuse|toolrefuse)'
run_manifest '^same	[^	]*	(chain/|readers/|zlib-64k|zstd-64k|extl2-(16|128)k|datafile)'
run_manifest '^same	[^	]*	(v3-64k\.qcow2	one|v2-64k\.qcow2	two|v3-512\.qcow2	-|v3-2m\.qcow2	two|v2-4k\.qcow2	two|resized\.qcow2	(small|-)|odd(-unaligned)?\.qcow2	-|cut-data-[0-9]+\.qcow2	-|names\.qcow2	1|many\.qcow2	m4|(corrupt|dirty)-bit\.qcow2	[a-z]+|(zlib|zstd)-(4k|2048k)\.qcow2	patched|extl2-(32|2048)k\.qcow2	s2)	'
run_manifest '^(fs|parts)	'
run_ioctl_test
lifecycle_failnth

lifecycle_detach_under_io
lifecycle_image_changes
lifecycle_readers 32 50
lifecycle_readers 4 50 cut-data-40000.qcow2 - cut-data-40000.raw \
	"readers of a data cluster cut by the end of the file"
lifecycle_parallel 20
lifecycle_cycles 1000
lifecycle_shared_image
lifecycle_live_image

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

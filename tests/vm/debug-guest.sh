#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The sanitizer tier's guest suite (KASAN, kmemleak, lockdep, UBSAN kernel):
# the hostile images, damaged clusters and refusals, one snapshot of every
# image of the differential suite, the ioctl ABI, every allocation of an
# attach failed in turn, the lifecycle races, parallel readers and
# attach/detach, 300 attach/detach cycles, the trust tests, shared image
# objects and a snapshot of an image in use being deleted; then kmemleak
# must find nothing of qsnap's.
# Any sanitizer report on the console fails the run (host side).
. /bin/guest-lib.sh
. /bin/guest-manifest.sh
. /bin/guest-lifecycle.sh
. /bin/guest-trust.sh

TAB=$(printf '\t')
D=/data
KML=/sys/kernel/debug/kmemleak
mount -o ro /dev/vda $D || { echo "Bail out! cannot mount the data disk"; exit 1; }
mount -t debugfs debugfs /sys/kernel/debug
insmod /lib/modules/qsnap.ko || { echo "Bail out! insmod qsnap.ko failed"; exit 1; }
# Forget what boot left behind: only what follows counts.
echo clear > $KML

# Every hostile, damaged and refused case, and of the differential suite
# one snapshot of every image (every image format and feature, every
# read path; the 6.1 and 6.12 guests read every snapshot).
run_manifest '^(hostile|eio|refuse|toolrefuse)'
run_manifest_one_per_image
run_manifest '^(fs|parts)	'
section "ioctl ABI"
run_ioctl_test
section "allocation failures (fail-nth)"
lifecycle_failnth

section "lifecycle races"
lifecycle_detach_under_io
lifecycle_image_changes
lifecycle_readers 32 50
lifecycle_readers_small_cache 16 30
lifecycle_readers 4 50 cut-data-40000.qcow2 - cut-data-40000.raw \
	"readers of a data cluster cut by the end of the file"
lifecycle_parallel 20
lifecycle_cycles 300
lifecycle_shared_image
lifecycle_live_image

section "trust: fresh attaches, re-created snapshots, killed openers, races"
trust_fresh_attach
trust_recreated_snapshot
trust_killed_openers
trust_table_read_error
trust_escaped_names
trust_attach_detach_race 10
trust_random 4

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

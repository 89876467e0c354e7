#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The in-guest test suite of the Debian kernels' guests: run by /init with
# qsnap.ko loaded and the data disk (images + manifest made by
# tests/images/make-images.sh) at /dev/vda.  One kind of test per file in
# tests/vm/suites/, each run by its suite_KIND function; make check-vm
# SUITES=... picks some of them (/etc/qsnap-suites).
. /bin/guest-lib.sh
. /bin/guest-manifest.sh
. /bin/guest-lifecycle.sh
. /bin/guest-cli.sh
. /bin/guest-trust.sh

TAB=$(printf '\t')
D=/data
# full, or compact (one snapshot per image, fewer lifecycle rounds) for
# the kernels between the oldest and the newest (tests/kernels.conf).
QSNAP_PROFILE=$(cat /etc/qsnap-profile 2>/dev/null || echo full)
mount -o ro /dev/vda $D || { echo "Bail out! cannot mount the data disk"; exit 1; }
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
insmod /lib/modules/qsnap.ko || { echo "Bail out! insmod qsnap.ko failed"; exit 1; }

run_suites differential hostile ioctl crypt lifecycle trust tool mount places nfs
check "rmmod at the end" "" rmmod qsnap

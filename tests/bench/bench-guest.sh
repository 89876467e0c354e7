#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The benchmark, in the guest (tests/bench/run.sh boots it): REPS rounds,
# each reading every device with fio (page cache dropped before each run);
# the median of each measurement is printed as one "bench:" line per
# device for the host to turn into the table, every run as "run:" lines.
# qsnap.ko, loop and nbd are loaded by /init.
. /bin/guest-lib.sh
# The host's fio, qemu-nbd and util-linux losetup (--direct-io), which
# busybox's applet of that name would shadow.
X=/usr/local/bin
D=/data/bench
REPS=${REPS:-5}
RUNTIME=${RUNTIME:-8}	# seconds of each fio run
mount -o ro /dev/vda /data || { echo "Bail out! cannot mount the data disk"; exit 1; }
insmod /lib/modules/qsnap.ko || { echo "Bail out! insmod qsnap.ko failed"; exit 1; }

mkdir -p /var/lock	# qemu-nbd's socket

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# One fio run of MODE on DEVICE: MiB/s for seq, IOPS for the others.
fio_once() {	# DEVICE MODE
	drop_caches
	set -- "$1" "$2" --thread --name=bench --filename="$1" --readonly \
		--direct=1 --output-format=terse --terse-version=3
	case $2 in
	seq)	shift 2
		# Time-based like the random runs: one pass of the 1 GiB device
		# takes under 2 s, too short to measure steadily.
		$X/fio "$@" --rw=read --bs=1M --ioengine=psync \
			--time_based --runtime=$RUNTIME |
			awk -F';' '{ printf "%.0f\n", $7 / 1024 }' ;;
	qd1|qd32)
		depth=${2#qd}
		shift 2
		$X/fio "$@" --rw=randread --bs=4k --ioengine=libaio \
			--iodepth="$depth" --time_based --runtime=$RUNTIME \
			--randrepeat=1 | awk -F';' '{ print $8 }' ;;
	esac
}

# One round: every mode of DEVICE once, each value appended to
# /tmp/runs/LABEL.MODE.
measure() {	# LABEL DEVICE
	for mode in seq qd1 qd32; do
		fio_once "$2" $mode >> "/tmp/runs/$1.$mode"
	done
}

nbd_attach() {	# IMAGE SNAPSHOT
	$X/qemu-nbd --fork -r -f qcow2 -l "$2" -c /dev/nbd0 "$1" &&
		sleep 1 && [ "$(blockdev --getsize64 /dev/nbd0)" -gt 0 ]
}
nbd_detach() { $X/qemu-nbd -d /dev/nbd0 > /dev/null; sleep 1; }

echo "guest: memory $(awk '/MemTotal/ { print $2 }' /proc/meminfo) KiB, $(nproc) CPUs"

# The data disk is a file on the host: its first read comes from the
# host's disk, every later one from the host's page cache.  Read each
# file once first, so that no device pays for going first.
for f in bench.qcow2 s1.raw deflate.qcow2 zstd.qcow2; do
	dd if=$D/$f of=/dev/null bs=1M iflag=direct 2> /dev/null
done

# REPS rounds, each measuring every device once: under TCG on a shared
# host the speed of the whole VM drifts (by up to 2x for minutes, seen
# here), and interleaving puts each device's runs at the same times as
# the others' (measuring one device REPS times, then the next, turned
# drift into ratios).
rm -rf /tmp/runs
mkdir -p /tmp/runs
LABELS="qsnap-snapshot qsnap-current loop loop-dio qemu-nbd"
LABELS="$LABELS qsnap-deflate qemu-nbd-deflate qsnap-zstd qemu-nbd-zstd"
for r in $(seq 1 "$REPS"); do
	echo "guest: round $r of $REPS"
	# --- uncompressed: qsnap, loop on the raw export, qemu-nbd ---
	dev=$(qsnapctl attach $D/bench.qcow2 --snapshot s1)
	measure qsnap-snapshot "$dev"
	qsnapctl detach "$dev"
	dev=$(qsnapctl attach $D/bench.qcow2)
	measure qsnap-current "$dev"
	qsnapctl detach "$dev"
	dev=$($X/losetup -r -f --show $D/s1.raw)
	measure loop "$dev"
	$X/losetup -d "$dev"
	dev=$($X/losetup -r --direct-io=on -f --show $D/s1.raw)
	measure loop-dio "$dev"
	$X/losetup -d "$dev"
	if nbd_attach $D/bench.qcow2 s1; then
		measure qemu-nbd /dev/nbd0
		nbd_detach
	fi

	# --- compressed: qsnap and qemu-nbd ---
	for c in deflate zstd; do
		dev=$(qsnapctl attach $D/$c.qcow2 --snapshot s1)
		measure qsnap-$c "$dev"
		qsnapctl detach "$dev"
		if nbd_attach $D/$c.qcow2 s1; then
			measure qemu-nbd-$c /dev/nbd0
			nbd_detach
		fi
	done
done

# bench: LABEL seq-MiB/s qd1-IOPS qd32-IOPS (medians of REPS runs)
# run: LABEL MODE every run's value, in order (for the spread)
for label in $LABELS; do
	line="bench: $label"
	for mode in seq qd1 qd32; do
		v=$(median < "/tmp/runs/$label.$mode" 2> /dev/null)
		line="$line ${v:-0}"
		echo "run: $label $mode $(tr '\n' ' ' < "/tmp/runs/$label.$mode" 2> /dev/null)"
	done
	echo "$line"
done

# --- attach of a 1 TiB image with many snapshots, memory per device ---
# Ten devices of the last snapshot: attach time and memory are averages.
# The same for the 1 GiB image with one snapshot, for comparison.
uptime_cs() { awk '{ split($1, t, "."); print t[1] * 100 + t[2] }' /proc/uptime; }
t0=$(uptime_cs)
devs=""
for i in 1 2 3 4 5 6 7 8 9 10; do
	devs="$devs $(qsnapctl attach $D/bench.qcow2 --snapshot s1)"
done
t1=$(uptime_cs)
# shellcheck disable=SC2086
qsnapctl detach $devs
echo "bench-attach-one: $((t1 - t0))"
count=$(qsnapctl snapshots $D/many.qcow2 | tail -n +2 | wc -l)
last=$(qsnapctl snapshots $D/many.qcow2 | tail -n 1 | awk '{ print $1 }')
echo 1 > /proc/sys/kernel/printk
drop_caches
free0=$(awk '/MemFree/ { print $2 }' /proc/meminfo)
t0=$(uptime_cs)
devs=""
for i in 1 2 3 4 5 6 7 8 9 10; do
	devs="$devs $(qsnapctl attach $D/many.qcow2 --snapshot "$last")"
done
t1=$(uptime_cs)
drop_caches
free1=$(awk '/MemFree/ { print $2 }' /proc/meminfo)
t1d=$(uptime_cs)
# shellcheck disable=SC2086
qsnapctl detach $devs
t2=$(uptime_cs)
echo 7 > /proc/sys/kernel/printk
# centiseconds for ten devices = milliseconds for one
echo "bench-attach: $count $((t1 - t0)) $((t2 - t1d)) $(( (free0 - free1) / 10 ))"

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The benchmark, in the guest (tests/bench/run.sh boots it): REPS rounds,
# each reading every device with fio (page cache dropped before each run);
# every run is printed as "run:" lines (in round order, for the host to
# pair runs of one round) and the median of each measurement as one
# "bench:" line per device.
# qsnap.ko, loop and nbd are loaded by /init.
. /bin/guest-lib.sh
# The host's fio, qemu-nbd and util-linux losetup (--direct-io), which
# busybox's applet of that name would shadow.
X=/usr/local/bin
D=/data/bench
REPS=${REPS:-10}
RUNTIME=${RUNTIME:-4}	# seconds of each fio run
mount -o ro /dev/vda /data || { echo "Bail out! cannot mount the data disk"; exit 1; }
insmod /lib/modules/qsnap.ko || { echo "Bail out! insmod qsnap.ko failed"; exit 1; }

mkdir -p /var/lock	# qemu-nbd's socket

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
median() { grep -vx 0 | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# One fio run of MODE on DEVICE: MiB/s for seq, IOPS for the others; 0
# if fio failed (one value per run keeps the rounds in step).
fio_once() {	# DEVICE MODE
	v=$(fio_run "$@")
	echo "${v:-0}"
}
fio_run() {	# DEVICE MODE
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

nbd_attach() {	# NBD-DEVICE IMAGE SNAPSHOT
	$X/qemu-nbd --fork -r -f qcow2 -l "$3" -c "$1" "$2" &&
		sleep 1 && [ "$(blockdev --getsize64 "$1")" -gt 0 ]
}

echo "guest: memory $(awk '/MemTotal/ { print $2 }' /proc/meminfo) KiB, $(nproc) CPUs"

# The data disk is a file on the host: its first read comes from the
# host's disk, every later one from the host's page cache.  Read each
# file once first, so that no device pays for going first.
for f in bench.qcow2 s1.raw deflate.qcow2 zstd.qcow2 luks.qcow2; do
	dd if=$D/$f of=/dev/null bs=1M iflag=direct 2> /dev/null
done

# Every device is set up once, for the whole run: "LABEL DEVICE" lines,
# each device next to the one it is compared with.  A
# qemu-nbd that fails to start leaves its device out (no line).
: > /tmp/devices
add() { [ -n "$2" ] && echo "$1 $2" >> /tmp/devices; }
add qsnap-snapshot "$(qsnapctl attach $D/bench.qcow2 --snapshot s1)"
add loop-dio "$($X/losetup -r --direct-io=on -f --show $D/s1.raw)"
add qsnap-current "$(qsnapctl attach $D/bench.qcow2)"
add loop "$($X/losetup -r -f --show $D/s1.raw)"
nbd_attach /dev/nbd0 $D/bench.qcow2 s1 && add qemu-nbd /dev/nbd0
n=1
for c in deflate zstd; do
	add qsnap-$c "$(qsnapctl attach $D/$c.qcow2 --snapshot s1)"
	nbd_attach /dev/nbd$n $D/$c.qcow2 s1 && add qemu-nbd-$c /dev/nbd$n
	n=$((n + 1))
done
add qsnap-luks "$(qsnapctl attach $D/luks.qcow2 --snapshot s1 --key-file $D/luks.pw)"
$X/qemu-nbd --fork -r --object "secret,id=s,file=$D/luks.pw" --image-opts -l s1 \
	-c /dev/nbd$n "driver=qcow2,file.filename=$D/luks.qcow2,encrypt.key-secret=s" &&
	sleep 1 && [ "$(blockdev --getsize64 /dev/nbd$n)" -gt 0 ] &&
	add qemu-nbd-luks /dev/nbd$n
# The 1 GiB image on NFS: the guest's own kernel server exports /data
# over loopback (the nfs suite's set-up), qsnap and qemu-nbd read it
# through the NFS client.
n=$((n + 1))
if (. /bin/suites/nfs.sh && nfs_setup) > /tmp/nfs-err 2>&1; then
	add qsnap-nfs "$(qsnapctl attach /mnt/nfs-data/bench/bench.qcow2 --snapshot s1)"
	nbd_attach /dev/nbd$n /mnt/nfs-data/bench/bench.qcow2 s1 &&
		add qemu-nbd-nfs /dev/nbd$n
else
	echo "guest: no NFS rows, the NFS set-up failed: $(cat /tmp/nfs-err)"
fi

# REPS rounds; in each, every mode is measured on every device back to
# back, every other round in reverse order.  Under TCG on a shared host
# the speed of the whole VM drifts (by up to 2x within a minute, seen
# here): runs of two devices a few seconds apart see the same drift, so
# the host divides each round's pair of runs and shows the median of
# those ratios.  The order matters too: with qsnap always run before
# loop-dio, 40 rounds gave 0.92x; with qsnap first in half of 30 rounds
# and last in the others (qsnap, loop, loop, qsnap), 1.00x.
rm -rf /tmp/runs
mkdir -p /tmp/runs
for r in $(seq 1 "$REPS"); do
	echo "guest: round $r of $REPS"
	if [ $((r % 2)) = 1 ]; then
		cp /tmp/devices /tmp/order
	else
		awk '{ l[NR] = $0 } END { for (i = NR; i > 0; i--) print l[i] }' \
			/tmp/devices > /tmp/order
	fi
	for mode in seq qd1 qd32; do
		while read -r label dev; do
			fio_once "$dev" $mode < /dev/null >> "/tmp/runs/$label.$mode"
		done < /tmp/order
	done
done
while read -r label dev; do
	case $label in
	qsnap-*) qsnapctl detach "$dev" ;;
	loop*) $X/losetup -d "$dev" ;;
	qemu-nbd*) $X/qemu-nbd -d "$dev" > /dev/null ;;
	esac
done < /tmp/devices
LABELS=$(awk '{ print $1 }' /tmp/devices)

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

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make bench: qsnap against loop (on QEMU's raw export of the same
# snapshot) and against qemu-nbd + nbd, in one boot of the 6.12 cloud
# kernel under QEMU (TCG), all devices reading files on the same virtio
# disk and ext4 file system.  Prints the table (and keeps it in
# build/bench/table.txt).  Not part of make check: no timing is asserted.
#
#   BENCH_SNAPSHOTS   snapshots in the 1 TiB attach-time image (10000)
#   BENCH_REPS        rounds, each measuring every device once; the
#                     median of each measurement is shown (5)
#   BENCH_RUNTIME     seconds of each fio run (8)
. "$(dirname "$0")/../vm/lib.sh"

bash "$TOP/tests/vm/deps.sh" fio
B=$BUILD/bench
mkdir -p "$B"
bash "$TOP/tests/bench/make-bench-images.sh" "$B/disk" "${BENCH_SNAPSHOTS:-10000}"
if [ ! -f "$B/data.ext4" ] || [ "$B/disk/bench" -nt "$B/data.ext4" ]; then
	vm_log "making the data disk"
	vm_data_disk "$B/disk" "$B/data.ext4.tmp"
	mv "$B/data.ext4.tmp" "$B/data.ext4"
fi
vm_build_guest_tools > /dev/null

krel=$(vm_kernels | grep '^6\.12\.' | head -n 1)
ko=$(vm_build_module "$krel")
{
	echo "REPS=${BENCH_REPS:-5} RUNTIME=${BENCH_RUNTIME:-8}"
	cat "$TOP/tests/bench/bench-guest.sh"
} > "$B/bench-guest.sh"
VM_EXTRA_MODULES="loop nbd" VM_EXTRA_BINS="fio qemu-nbd losetup" \
	vm_initramfs "$krel" "$ko" "$B/bench-guest.sh" "$B/initrd.gz"
# The data disk is served from host memory (tmpfs) where it fits: hosts
# that reclaim cold page cache proactively (DAMON pageout, on the machines
# this was written on) otherwise send reads of an image file untouched for
# a minute to the host's disk, at random for one device or another.
disk=$B/data.ext4 shm=
need=$(( $(du -k "$B/data.ext4" | cut -f1) + 3 * 1024 * 1024 ))
if [ "$(df -k --output=avail /dev/shm 2> /dev/null | tail -n 1)" -gt "$need" ] &&
   [ "$(awk '/MemAvailable/ { print $2 }' /proc/meminfo)" -gt "$need" ]; then
	shm=$(mktemp -d /dev/shm/qsnap-bench.XXXXXX)
	trap 'rm -rf "$shm"' EXIT
	cp --sparse=always "$B/data.ext4" "$shm/data.ext4"
	disk=$shm/data.ext4
	vm_log "data disk in host memory ($shm)"
else
	vm_log "not enough memory to hold the data disk in tmpfs: reading it from $B"
fi
vm_log "benchmark VM running (about 30 minutes; console: $B/console.log)"
# No SLUB debugging or KFENCE sampling: they slow every allocation.
VM_DEBUG_APPEND="" vm_run "$krel" "$B/initrd.gz" "$disk" "$B/console.log" 3600 || true
[ -z "$shm" ] || rm -rf "$shm"
grep -q '^guest: done' "$B/console.log" || { vm_log "the guest did not finish"; exit 1; }
if vm_console_complaints "$B/console.log"; then
	vm_log "kernel complaints on the console"
	exit 1
fi

# bench: LABEL SEQ-MiB/s QD1-IOPS QD32-IOPS
awk -v krel="$krel" -v date="$(date -u +%Y-%m-%d)" -v reps="${BENCH_REPS:-5}" '
$1 == "bench:" { seq[$2] = $3; qd1[$2] = $4; qd32[$2] = $5; order[++n] = $2 }
$1 == "bench-attach:" { snaps = $2; att = $3; det = $4; mem = $5 }
$1 == "bench-attach-one:" { att1 = $2 }
function r(a, b) { return b > 0 ? sprintf("%.2fx", a / b) : "-" }
END {
	printf "qsnap benchmark, %s, kernel %s (no SLUB debug), QEMU TCG (2 vCPUs, 2 GiB), median of %d interleaved rounds\n", date, krel, reps
	printf "\n%-16s %12s %14s %14s\n", "device", "seq 1M MiB/s", "rand 4k QD1", "rand 4k QD32"
	for (i = 1; i <= n; i++)
		printf "%-16s %12d %14d %14d\n", order[i], seq[order[i]], qd1[order[i]], qd32[order[i]]
	printf "\n%-28s %10s %10s %10s\n", "ratio", "seq", "QD1", "QD32"
	split("loop loop-dio qemu-nbd", base, " ")
	for (j = 1; j <= 3; j++) {
		b = base[j]
		printf "%-28s %10s %10s %10s\n", "qsnap-snapshot / " b,
			r(seq["qsnap-snapshot"], seq[b]), r(qd1["qsnap-snapshot"], qd1[b]),
			r(qd32["qsnap-snapshot"], qd32[b])
	}
	split("deflate zstd", comp, " ")
	for (j = 1; j <= 2; j++) {
		c = comp[j]
		printf "%-28s %10s %10s %10s\n", "qsnap-" c " / qemu-nbd-" c,
			r(seq["qsnap-" c], seq["qemu-nbd-" c]), r(qd1["qsnap-" c], qd1["qemu-nbd-" c]),
			r(qd32["qsnap-" c], qd32["qemu-nbd-" c])
	}
	printf "\n1 TiB image, %d snapshots: attach %d ms, detach %d ms, %d KiB per device (mean of 10 devices of the last snapshot)\n", snaps, att, det, mem
	printf "1 GiB image, 1 snapshot: attach %d ms (mean of 10)\n", att1
}
$1 == "run:" { runs = runs sprintf("\n  %-16s %-4s %s", $2, $3, substr($0, index($0, $4))) }
END { printf "\nevery run, in order (MiB/s for seq, IOPS for the others):%s\n", runs }' "$B/console.log" | tee "$B/table.txt"
bash "$TOP/tests/bench/diff-bench.sh" "$B" | tee -a "$B/table.txt"

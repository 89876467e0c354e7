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
#                     medians of runs and of each round's ratios are
#                     shown (10)
#   BENCH_RUNTIME     seconds of each fio run (4)
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

krel=$(kernel_field 6.12 release)	# the pinned kernel the figures are for
ko=$(vm_build_module "$krel")
{
	echo "REPS=${BENCH_REPS:-10} RUNTIME=${BENCH_RUNTIME:-4}"
	cat "$TOP/tests/bench/bench-guest.sh"
} > "$B/bench-guest.sh"
NFS_UTILS=$CACHE/nfs-utils	# tests/vm/deps.sh unpacks it
VM_EXTRA_MODULES="loop nbd xts gf128mul cryptd crypto_simd aesni-intel
		  sunrpc grace auth_rpcgss nfs_acl lockd netfs fscache
		  dns_resolver nfs nfsv4 nfsd" \
VM_EXTRA_BINS="fio qemu-nbd losetup $NFS_UTILS/usr/sbin/rpc.nfsd
	       $NFS_UTILS/usr/sbin/rpc.mountd $NFS_UTILS/usr/sbin/exportfs
	       $NFS_UTILS/sbin/mount.nfs" \
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

# bench: LABEL SEQ-MiB/s QD1-IOPS QD32-IOPS (medians)
# run: LABEL MODE VALUE... (one per round, in round order; 0: fio failed)
# A ratio is the median of the rounds' ratios (the two runs of a round ran
# one after the other, so under the same drift, each first in half the
# rounds), with the middle half of them (25th-75th percentile) beside it.
awk -v krel="$krel" -v date="$(date -u +%Y-%m-%d)" -v reps="${BENCH_REPS:-10}" \
    -v runtime="${BENCH_RUNTIME:-4}" '
$1 == "bench:" { seq[$2] = $3; qd1[$2] = $4; qd32[$2] = $5; order[++n] = $2 }
$1 == "run:" {
	runs = runs sprintf("\n  %-16s %-4s %s", $2, $3, substr($0, index($0, $4)))
	for (i = 4; i <= NF; i++) val[$2, $3, i - 3] = $i
	if (NF - 3 > rounds) rounds = NF - 3
}
$1 == "bench-attach:" { snaps = $2; att = $3; det = $4; mem = $5 }
$1 == "bench-attach-one:" { att1 = $2 }
# The q-th quantile (0 < q < 1) of v[1..k], sorted in place.
function quant(v, k, q,    i, j, t) {
	for (i = 2; i <= k; i++)
		for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
			t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
		}
	return v[int(q * (k - 1) + 1.5)]
}
# "median (p25-p75)" of the per-round ratios of label a to label b.
function r(a, b, mode,    i, k, v, x, y) {
	k = 0
	for (i = 1; i <= rounds; i++) {
		x = val[a, mode, i]; y = val[b, mode, i]
		if (x > 0 && y > 0)
			v[++k] = x / y
	}
	if (!k)
		return "-"
	return sprintf("%.2fx (%.2f-%.2f)", quant(v, k, 0.5), quant(v, k, 0.25), quant(v, k, 0.75))
}
function row(a, b) {
	printf "%-34s %20s %20s %20s\n", a " / " b, r(a, b, "seq"), r(a, b, "qd1"), r(a, b, "qd32")
}
END {
	printf "qsnap benchmark, %s, kernel %s (no SLUB debug), QEMU TCG (2 vCPUs, 2 GiB), %d rounds of %d s runs\n", date, krel, reps, runtime
	printf "\n%-16s %12s %14s %14s   (medians)\n", "device", "seq 1M MiB/s", "rand 4k QD1", "rand 4k QD32"
	for (i = 1; i <= n; i++)
		printf "%-16s %12d %14d %14d\n", order[i], seq[order[i]], qd1[order[i]], qd32[order[i]]
	printf "\n%-34s %20s %20s %20s\n", "ratio: median of rounds (p25-p75)", "seq", "QD1", "QD32"
	row("qsnap-snapshot", "loop")
	row("qsnap-snapshot", "loop-dio")
	row("qsnap-snapshot", "qemu-nbd")
	row("qsnap-current", "loop-dio")
	row("qsnap-deflate", "qemu-nbd-deflate")
	row("qsnap-zstd", "qemu-nbd-zstd")
	row("qsnap-luks", "qemu-nbd-luks")
	row("qsnap-luks", "qsnap-snapshot")
	row("qsnap-nfs", "qemu-nbd-nfs")
	row("qsnap-nfs", "qsnap-snapshot")
	# MemFree moves by more than ten devices sharing one image take.
	memtxt = mem > 0 ? sprintf("%d KiB per device", mem) : "MemFree per device below its noise"
	printf "\n1 TiB image, %d snapshots: attach %d ms, detach %d ms, %s (mean of 10 devices of the last snapshot)\n", snaps, att, det, memtxt
	printf "1 GiB image, 1 snapshot: attach %d ms (mean of 10)\n", att1
	printf "\nevery run, by round (MiB/s for seq, IOPS for the others):%s\n", runs
}' "$B/console.log" | tee "$B/table.txt"
bash "$TOP/tests/bench/diff-bench.sh" "$B" | tee -a "$B/table.txt"

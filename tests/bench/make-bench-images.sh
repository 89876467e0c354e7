#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The benchmark's images, made with QEMU's tools (kept between runs: the
# many-snapshot image takes minutes).
#
#   make-bench-images.sh DISKDIR [SNAPSHOTS]
#
# DISKDIR/bench/bench.qcow2   1 GiB of random (incompressible) data, 64 KiB
#                            clusters, snapshot s1, then 64 MiB rewritten
# DISKDIR/bench/s1.raw        QEMU's raw export of s1 (what loop reads)
# DISKDIR/bench/{deflate,zstd}.qcow2
#                            256 MiB of text, qemu-img convert -c, snapshot s1
# DISKDIR/bench/luks.qcow2    s1.raw LUKS-encrypted (aes-256-xts-plain64, 64 KiB
#                            clusters), snapshot s1; its passphrase in luks.pw
# DISKDIR/bench/many.qcow2    1 TiB, a few MiB written, SNAPSHOTS (10000)
#                            internal snapshots (see below)
set -euo pipefail

OUT=$1/bench
N=${2:-10000}
WORK=$1/../work
STAMP=$OUT/.made-v3-$N
[ -f "$STAMP" ] && exit 0
rm -rf "$OUT" "$WORK"
mkdir -p "$OUT" "$WORK"
log() { echo "bench: $*" >&2; }
qio() { qemu-io -f qcow2 "$@" > /dev/null; }

log "1 GiB image with a snapshot"
head -c 1G /dev/urandom > "$WORK/data.raw"
qemu-img convert -f raw -O qcow2 -o cluster_size=64k "$WORK/data.raw" \
	"$OUT/bench.qcow2"
qemu-img snapshot -c s1 "$OUT/bench.qcow2"
# The current state: every 16th MiB rewritten (new clusters at the end).
args=()
for i in $(seq 0 63); do
	args+=(-c "write -P 0x5a $((i * 16 + 3))M 1M")
done
qio "${args[@]}" "$OUT/bench.qcow2"
cp "$OUT/bench.qcow2" "$WORK/copy.qcow2"
qemu-img snapshot -a s1 "$WORK/copy.qcow2"
qemu-img convert -f qcow2 -O raw "$WORK/copy.qcow2" "$OUT/s1.raw"
cmp "$OUT/s1.raw" "$WORK/data.raw"

log "the same data LUKS-encrypted"
printf %s 'bench passphrase' > "$OUT/luks.pw"
sec=(--object "secret,id=s,file=$OUT/luks.pw")
# QEMU gives up timing PBKDF2 now and then ("Unable to get accurate CPU
# usage"): again.
for _ in $(seq 1 30); do
	qemu-img convert "${sec[@]}" -f raw -O qcow2 \
		-o cluster_size=64k,encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=10 \
		"$OUT/s1.raw" "$OUT/luks.qcow2" 2> /dev/null && break
done
qemu-img snapshot "${sec[@]}" --image-opts -c s1 \
	"driver=qcow2,file.filename=$OUT/luks.qcow2,encrypt.key-secret=s"

log "compressed images (deflate, zstd)"
(seq 1 99999999 || true) | head -c 256M > "$WORK/text.raw"
for c in deflate zstd; do
	qemu-img convert -c -f raw -O qcow2 \
		-o "compression_type=${c/deflate/zlib},cluster_size=64k" \
		"$WORK/text.raw" "$OUT/$c.qcow2"
	qemu-img snapshot -c s1 "$OUT/$c.qcow2"
done

# QEMU rewrites the whole snapshot table, four writes an entry, at every
# snapshot it takes: 10,000 would be ~2 x 10^8 writes (hours).  So QEMU
# takes one, clone_snapshots.c copies its entry N times, and qemu-img
# check -r all rebuilds the refcounts; QEMU must then list all N and
# find the image clean.
log "1 TiB image with $N snapshots"
qemu-img create -q -f qcow2 "$OUT/many.qcow2" 1T
qio -c 'write -P 0x11 0 4M' -c 'write -P 0x22 512G 4M' \
    -c 'write -P 0x33 1023G 4M' "$OUT/many.qcow2"
qemu-img snapshot -c first "$OUT/many.qcow2"
gcc -O2 -Wall -o "$WORK/clone_snapshots" "$(dirname "$0")/clone_snapshots.c"
"$WORK/clone_snapshots" "$OUT/many.qcow2" "$N" >&2
qemu-img check -q -r all "$OUT/many.qcow2" > /dev/null 2>&1 || true
qemu-img check -q "$OUT/many.qcow2"
[ "$(qemu-img snapshot -l "$OUT/many.qcow2" | tail -n +3 | wc -l)" = "$N" ] ||
	{ log "QEMU does not list $N snapshots"; exit 1; }

rm -rf "$WORK"
touch "$STAMP"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Images for `qsnapctl diff`, made by qemu-img/qemu-io, and QEMU's raw
# export of every side compared:
#
#   make-diff-images.sh DIR
#
# DIR/NAME.qcow2             the images (DIR/base.qcow2: a backing file)
# DIR/NAME@STATE.raw         QEMU's export of snapshot STATE ("cur": the
#                            current state)
# DIR/cases                  "IMAGE FROM TO" lines (TO "-": current state)
#
# Each image has snapshots s1 and s2 and a current state, with between them:
# overwrites, the same data written again (a false positive for the tables,
# which --exact must drop), zeroed and discarded ranges, compressed clusters
# rewritten, subclusters, a resize, and ranges that fall through to a
# backing file.
set -euo pipefail

DIR=$1
rm -rf "$DIR"
mkdir -p "$DIR"
qio() { qemu-io -f qcow2 "$@" > /dev/null; }
: > "$DIR/cases"

export_state() {	# NAME STATE
	local copy=$DIR/.copy.qcow2
	cp --sparse=always "$DIR/$1.qcow2" "$copy"
	[ "$2" = cur ] || qemu-img snapshot -a "$2" "$copy"
	(cd "$DIR" && qemu-img convert -f qcow2 -O raw "$copy" "$1@$2.raw")
	rm -f "$copy"
}

finish() {	# NAME: exports and the three pairs
	local s
	for s in s1 s2 cur; do export_state "$1" "$s"; done
	printf '%s.qcow2 s1 s2\n%s.qcow2 s1 -\n%s.qcow2 s2 -\n' "$1" "$1" "$1" >> "$DIR/cases"
}

# 64 KiB clusters: overwrite, rewrite with the same bytes, zero, discard,
# partial-cluster writes, and a resize after s2.
f=$DIR/plain.qcow2
qemu-img create -q -f qcow2 "$f" 8M
qio -c 'write -P 0x11 0 3M' -c 'write -P 0x12 5M 1M' "$f"
qemu-img snapshot -c s1 "$f"
qio -c 'write -P 0x21 64k 64k' -c 'write -P 0x12 5M 128k' \
    -c 'write -z 1M 192k' -c 'write -P 0x22 7M 4k' -c 'write -P 0x23 2100k 3k' "$f"
qemu-img snapshot -c s2 "$f"
qio -c 'discard 0 64k' -c 'write -P 0x31 6M 64k' "$f"
qemu-img resize -q "$f" 10M
qio -c 'write -P 0x32 9M 64k' "$f"
finish plain

# 512-byte clusters (the smallest L2 granularity).
f=$DIR/c512.qcow2
qemu-img create -q -f qcow2 -o cluster_size=512 "$f" 2M
qio -c 'write -P 0x41 0 1M' "$f"
qemu-img snapshot -c s1 "$f"
qio -c 'write -P 0x42 1000 1000' -c 'write -z 4096 512' -c 'write -P 0x41 8192 512' "$f"
qemu-img snapshot -c s2 "$f"
qio -c 'write -P 0x43 1536k 1' "$f"
finish c512

# Compressed clusters rewritten uncompressed (with other and with the same
# bytes) and zeroed; new compressed clusters.
f=$DIR/compressed.qcow2
qemu-img create -q -f raw "$DIR/.src.raw" 8M
qemu-io -f raw -c 'write -P 0x51 0 6M' "$DIR/.src.raw" > /dev/null
qemu-img convert -c -f raw -O qcow2 -o compression_type=zstd "$DIR/.src.raw" "$f"
rm -f "$DIR/.src.raw"
qemu-img snapshot -c s1 "$f"
# (QEMU writes compressed clusters only where nothing is allocated.)
qio -c 'write -c -P 0x52 6M 64k' -c 'write -P 0x53 2M 64k' -c 'write -z 3M 64k' "$f"
qemu-img snapshot -c s2 "$f"
qio -c 'write -P 0x51 4M 64k' -c 'write -c -P 0x54 7M 64k' "$f"
finish compressed

# Extended L2: 4 KiB writes and zeroed subclusters in 128 KiB clusters.
f=$DIR/extl2.qcow2
qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=128k "$f" 8M
qio -c 'write -P 0x61 0 2M' "$f"
qemu-img snapshot -c s1 "$f"
qio -c 'write -P 0x62 4k 4k' -c 'write -z 64k 8k' -c 'write -P 0x63 3M 4k' "$f"
qemu-img snapshot -c s2 "$f"
qio -c 'write -P 0x64 1M 12k' -c 'discard 1536k 4k' "$f"
finish extl2

# An overlay: unallocated ranges read the backing file on both sides; a
# discard after s1 makes the current state fall through to it.
qemu-img create -q -f qcow2 "$DIR/base.qcow2" 8M
qio -c 'write -P 0x71 0 8M' "$DIR/base.qcow2"
f=$DIR/overlay.qcow2
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$f"
qio -c 'write -P 0x72 1M 1M' "$f"
qemu-img snapshot -c s1 "$f"
qio -c 'write -P 0x73 1M 64k' -c 'write -z 4M 64k' "$f"
qemu-img snapshot -c s2 "$f"
qio -c 'discard 1536k 64k' -c 'write -P 0x71 6M 64k' "$f"
finish overlay

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Build the test images with QEMU's own tools and compute, with QEMU as the
# oracle, what each attached device must read as.
#
#   make-images.sh OUTDIR
#
# OUTDIR/img/       the qcow2 images (put on the guest's data disk)
# OUTDIR/manifest   one case a line, TAB-separated:
#   same  NAME IMAGE SNAPSHOT SHA256 SIZE   device must equal the export
#   refuse NAME IMAGE SNAPSHOT ERRNO-TEXT DMESG-TEXT
# (SNAPSHOT "-" is the current state.)  The oracle for "same" is
# `qemu-img snapshot -a` on a copy + `qemu-img convert -O raw`.
set -euo pipefail

OUT=$1
IMG=$OUT/img
WORK=$OUT/work
rm -rf "$IMG" "$WORK"
mkdir -p "$IMG" "$WORK"
: > "$OUT/manifest"

TAB=$'\t'
qio() { qemu-io -f qcow2 "$@" > /dev/null; }

# Expected sha256 and size of IMAGE at SNAPSHOT, computed by QEMU.
oracle() {
	local image=$1 snap=$2 copy=$WORK/oracle.qcow2 raw=$WORK/oracle.raw
	cp --sparse=always "$image" "$copy"
	if [ "$snap" != "-" ]; then
		qemu-img snapshot -a "$snap" "$copy"
	fi
	qemu-img convert -f qcow2 -O raw "$copy" "$raw"
	echo "$(sha256sum < "$raw" | cut -d' ' -f1)$TAB$(stat -c %s "$raw")"
	rm -f "$copy" "$raw"
}

same() {	# NAME IMAGE SNAPSHOT
	echo "same$TAB$1$TAB$2$TAB$3$TAB$(oracle "$IMG/$2" "$3")" >> "$OUT/manifest"
}

refuse() {	# NAME IMAGE SNAPSHOT ERRNO-TEXT DMESG-TEXT
	echo "refuse$TAB$1$TAB$2$TAB$3$TAB$4$TAB$5" >> "$OUT/manifest"
}

# Big-endian writes into a file, for corrupting copies of good images.
poke() {	# FILE OFFSET BYTES(hex string, e.g. 0000ffff)
	local hex=$3 esc=""
	while [ -n "$hex" ]; do
		esc+="\\x${hex:0:2}"
		hex=${hex:2}
	done
	printf "$esc" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
be32() { printf '%08x' "$1"; }
be64() { printf '%016x' "$1"; }
peek_be64() { od -An -tx1 -j "$2" -N8 "$1" | tr -d ' \n'; }

# A qcow2 image with three snapshots and overlapping writes, zero
# clusters and data past the first L2 table.
history_image() {	# FILE CREATE-OPTIONS SIZE
	local f=$IMG/$1
	qemu-img create -q -f qcow2 -o "$2" "$f" "$3"
	qio -c 'write -P 0x11 0 1M' -c 'write -P 0x12 3M 100k' \
	    -c 'write -P 0x13 20M 8k' "$f"
	qemu-img snapshot -c one "$f"
	qio -c 'write -P 0x21 512k 1M' -c 'write -z 3M 64k' \
	    -c 'write -P 0x22 40M 4k' "$f"
	qemu-img snapshot -c "two" "$f"
	qio -c 'write -P 0x31 0 4k' -c 'write -z 0 256k' \
	    -c 'write -P 0x32 63M 1M' -c 'write -P 0x33 777k 3k' "$f"
	qemu-img snapshot -c three "$f"
	qio -c 'write -P 0x41 1M 2M' -c 'write -z 40M 64k' "$f"
}

# --- images that must read exactly as QEMU reads them -----------------

history_image v3-64k.qcow2 compat=1.1,cluster_size=65536 64M
for s in 1 2 3 one two three -; do same "v3 64k clusters, snapshot $s" v3-64k.qcow2 "$s"; done

history_image v2-64k.qcow2 compat=0.10,cluster_size=65536 64M
for s in one two three -; do same "v2 64k clusters, snapshot $s" v2-64k.qcow2 "$s"; done

history_image v3-512.qcow2 compat=1.1,cluster_size=512 64M
for s in one three -; do same "v3 512-byte clusters, snapshot $s" v3-512.qcow2 "$s"; done

history_image v3-2m.qcow2 compat=1.1,cluster_size=2M 64M
for s in one two -; do same "v3 2M clusters, snapshot $s" v3-2m.qcow2 "$s"; done

history_image v2-4k.qcow2 compat=0.10,cluster_size=4096 64M
same "v2 4k clusters, snapshot two" v2-4k.qcow2 two

# A snapshot taken before the disk grew (and one before it shrank).
f=$IMG/resized.qcow2
qemu-img create -q -f qcow2 "$f" 32M
qio -c 'write -P 0x51 0 32M' "$f"
qemu-img snapshot -c small "$f"
qemu-img resize -q "$f" 96M
qio -c 'write -P 0x52 40M 8M' "$f"
qemu-img snapshot -c big "$f"
same "snapshot taken before resize (smaller disk)" resized.qcow2 small
same "snapshot after resize" resized.qcow2 big
same "current state after resize" resized.qcow2 -

# Odd virtual sizes: qemu-img makes whole sectors; a size that is not a
# multiple of 512 takes a header patch (size is at byte 24).  QEMU's export
# of it says how a partial last sector is exposed.
f=$IMG/odd.qcow2
qemu-img create -q -f qcow2 "$f" 1000448
qio -c 'write -P 0x61 0 1000448' "$f"
same "virtual size 1000448 bytes" odd.qcow2 -
cp "$f" "$IMG/odd-unaligned.qcow2"
poke "$IMG/odd-unaligned.qcow2" 24 "$(be64 1000300)"
same "virtual size 1000300 bytes (not whole sectors)" odd-unaligned.qcow2 -

# Names with spaces and non-ASCII letters; selection by id vs name.
f=$IMG/names.qcow2
qemu-img create -q -f qcow2 "$f" 16M
qio -c 'write -P 0x71 0 1M' "$f"
qemu-img snapshot -c "before upgrade" "$f"
qio -c 'write -P 0x72 0 1M' "$f"
qemu-img snapshot -c "Überprüfung ñ 日本" "$f"
qio -c 'write -P 0x73 0 1M' "$f"
# A snapshot whose *name* is "1": the id "1" must win, as in qemu-img.
qemu-img snapshot -c "1" "$f"
qio -c 'write -P 0x74 0 1M' "$f"
same "snapshot name with spaces" names.qcow2 "before upgrade"
same "snapshot name with non-ASCII letters" names.qcow2 "Überprüfung ñ 日本"
same "id is matched before name" names.qcow2 1
same "select by id 3" names.qcow2 3

# Many snapshots of one image (attached at once by the guest).
f=$IMG/many.qcow2
qemu-img create -q -f qcow2 "$f" 8M
for i in $(seq 1 8); do
	qio -c "write -P $((0x80 + i)) $(( (i - 1) * 512 ))k 1M" "$f"
	qemu-img snapshot -c "m$i" "$f"
done
for i in 1 4 8; do same "many snapshots: m$i" many.qcow2 "m$i"; done

# A 1 TiB sparse image: its size and spot reads (checked by the guest).
f=$IMG/sparse-1t.qcow2
qemu-img create -q -f qcow2 "$f" 1T
qio -c 'write -P 0xab 0 64k' -c 'write -P 0xcd 549755813888 64k' \
    -c 'write -P 0xef 1099511562240 64k' "$f"
qemu-img snapshot -c big "$f"
qio -c 'write -P 0x01 549755813888 64k' "$f"

# An image whose only snapshot has the corrupt bit's image: attach works.
f=$IMG/corrupt-bit.qcow2
history_image corrupt-bit.qcow2 compat=1.1 64M
same "image with the corrupt bit (read-only attach)" corrupt-bit.qcow2 two
# incompatible_features is at 72; set bit 1 after computing the oracle
# (QEMU will not open a corrupt image read-write for snapshot -a).
poke "$f" 72 "$(be64 2)"
# A dirty image (lazy refcounts) is fine for a reader.
f=$IMG/dirty-bit.qcow2
cp "$IMG/v3-64k.qcow2" "$f"
same "image with the dirty bit" dirty-bit.qcow2 three
poke "$f" 72 "$(be64 1)"

# A compressed cluster: reading it fails with EIO, the rest reads fine.
f=$IMG/compressed.qcow2
qemu-img create -q -f qcow2 "$f" 4M
qio -c 'write -c -P 0x91 0 64k' -c 'write -P 0x92 1M 64k' "$f"

# An ext4 file system in a snapshot, and a different one in the current
# state: the guest mounts both from /dev/qsnapN and checks every file.
mkfs_tree() {	# DIR SEED
	mkdir -p "$1/etc" "$1/var/lib/data"
	echo "snapshot tree $2" > "$1/etc/motd"
	printf 'name with spaces %s\n' "$2" > "$1/etc/a file with spaces"
	head -c $((3 * 1024 * 1024 + 123)) /dev/urandom > "$1/var/lib/data/blob-$2"
	seq 1 $((20000 * $2)) > "$1/var/lib/data/numbers"
	(cd "$1" && find . -type f | sort | while read -r p; do
		sha256sum "$p"; done) > "$IMG/fs$2.sums"
}
mkfs_tree "$WORK/fs1" 1
mkfs_tree "$WORK/fs2" 2
mke2fs -q -F -t ext4 -d "$WORK/fs1" "$WORK/fs1.raw" 32M
mke2fs -q -F -t ext4 -d "$WORK/fs2" "$WORK/fs2.raw" 32M
qemu-img convert -f raw -O qcow2 "$WORK/fs1.raw" "$IMG/ext4.qcow2"
qemu-img snapshot -c fs1 "$IMG/ext4.qcow2"
# -n writes into the existing image, keeping its snapshot.
qemu-img convert -n -f raw -O qcow2 "$WORK/fs2.raw" "$IMG/ext4.qcow2"
same "ext4 image, snapshot fs1" ext4.qcow2 fs1
same "ext4 image, current state" ext4.qcow2 -

# --- images that must be refused -------------------------------------

base=$IMG/v3-64k.qcow2
corrupt() {	# NAME FILE OFFSET HEX ERRNO DMESG
	cp "$base" "$IMG/$2"
	poke "$IMG/$2" "$3" "$4"
	refuse "$1" "$2" - "$5" "$6"
}
refuse "no such snapshot" v3-64k.qcow2 nosuch "No such file or directory" "no snapshot with id or name"
corrupt "bad magic" bad-magic.qcow2 0 "$(be32 0x12345678)" "Invalid argument" "not a qcow2 image"
corrupt "version 4" version4.qcow2 4 "$(be32 4)" "Operation not supported" "unsupported qcow2 version 4"
corrupt "cluster_bits 8" cbits8.qcow2 20 "$(be32 8)" "Invalid argument" "cluster_bits 8"
corrupt "cluster_bits 22" cbits22.qcow2 20 "$(be32 22)" "Invalid argument" "cluster_bits 22"
corrupt "header_length 100" hlen100.qcow2 100 "$(be32 100)" "Invalid argument" "header_length 100"
corrupt "header_length past the cluster" hlenbig.qcow2 100 "$(be32 65537)" "Invalid argument" "exceeds the cluster size"
corrupt "unknown incompatible bit 5" incompat5.qcow2 72 "$(be64 32)" "Operation not supported" "unknown incompatible feature bits 0x20"
corrupt "crypt_method 1" crypt.qcow2 32 "$(be32 1)" "Operation not supported" "encrypted"
corrupt "too many snapshots" nbsnap.qcow2 60 "$(be32 65537)" "Invalid argument" "too many snapshots"
corrupt "refcount_order 7" rorder.qcow2 96 "$(be32 7)" "Invalid argument" "refcount_order 7"
corrupt "L1 table offset unaligned" l1unaligned.qcow2 40 "$(be64 $((0x30200)))" "Invalid argument" "active L1 table offset"
corrupt "L1 table past the end of the file" l1eof.qcow2 40 "$(be64 $((1 << 40)))" "Invalid argument" "extends past the end of the file"
corrupt "L1 table too large" l1huge.qcow2 36 "$(be32 $((1 << 30)))" "File too large" "active L1 table too large"
corrupt "L1 table too small for the disk" l1small.qcow2 36 "$(be32 0)" "Invalid argument" "active L1 table too small"
corrupt "snapshot table past the end of the file" snapeof.qcow2 64 "$(be64 $((1 << 40)))" "Invalid argument" "snapshot table"
corrupt "backing file name" backing-bad.qcow2 8 "$(be64 $((1 << 20)))" "Invalid argument" "invalid backing file name"

# The snapshot table lives at snapshots_offset (header byte 64).
snaptab=$((16#$(peek_be64 "$base" 64)))
cp "$base" "$IMG/extra1025.qcow2"
poke "$IMG/extra1025.qcow2" $((snaptab + 36)) "$(be32 1025)"
refuse "snapshot extra_data_size 1025" extra1025.qcow2 one "File too large" "extra_data_size 1025"
cp "$base" "$IMG/snapl1.qcow2"
poke "$IMG/snapl1.qcow2" "$snaptab" "$(be64 $((0x10100)))"
refuse "snapshot L1 table unaligned" snapl1.qcow2 one "Invalid argument" "snapshot L1 table offset"
cp "$base" "$IMG/snapl1big.qcow2"
poke "$IMG/snapl1big.qcow2" $((snaptab + 8)) "$(be32 $((1 << 23)))"
refuse "snapshot L1 table too large" snapl1big.qcow2 one "File too large" "snapshot L1 table too large"

# Corruption found while reading, not at attach: a reserved bit in the L2
# entry of guest offset 20 MiB (current state; entry 320 of the first L2
# table, away from what a partition scan reads).  That read fails, the
# rest of the device reads.
cp "$base" "$IMG/l2-reserved.qcow2"
l1=$((16#$(peek_be64 "$base" 40)))
l2=$(( 16#$(peek_be64 "$base" "$l1") & 0x00fffffffffffe00 ))
e=$((l2 + 320 * 8))
poke "$IMG/l2-reserved.qcow2" "$e" "$(be64 $(( 16#$(peek_be64 "$base" "$e") | 2 )))"

head -c 50 "$base" > "$IMG/truncated.qcow2"
refuse "file shorter than a header" truncated.qcow2 - "Invalid argument" "file too small"

# Images QEMU makes with features that are later issues.
qemu-img create -q -f qcow2 "$IMG/backing-base.qcow2" 16M
qemu-img create -q -f qcow2 -b backing-base.qcow2 -F qcow2 "$IMG/overlay.qcow2"
refuse "backing file (not yet supported)" overlay.qcow2 - "Operation not supported" "backing chains are not supported"
qemu-img create -q -f qcow2 -o extended_l2=on "$IMG/extl2.qcow2" 16M
refuse "extended L2 (not yet supported)" extl2.qcow2 - "Operation not supported" "extended L2"
qemu-img create -q -f qcow2 -o data_file=extdata.raw "$IMG/datafile.qcow2" 16M
refuse "external data file (not yet supported)" datafile.qcow2 - "Operation not supported" "external data file"
qemu-img create -q -f qcow2 --object secret,id=sec0,data=123456 \
	-o encrypt.format=luks,encrypt.key-secret=sec0 "$IMG/luks.qcow2" 16M
refuse "LUKS-encrypted image" luks.qcow2 - "Operation not supported" "encrypted"

rm -rf "$WORK"

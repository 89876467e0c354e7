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
#   same  NAME IMAGE SNAPSHOT SHA256 SIZE [OPTIONS]
#         the device (attached with qsnapctl OPTIONS) equals the export
#   refuse NAME IMAGE SNAPSHOT ERRNO-TEXT DMESG-TEXT
#   eio   NAME IMAGE SNAPSHOT OFFSET LENGTH SHA256 SIZE DMESG-TEXT
#         reading LENGTH bytes at OFFSET fails with EIO and logs one line
#         with DMESG-TEXT; the whole device, with that range read as
#         zeros, has SHA256 (QEMU's export of the image before it was
#         damaged, with the range zeroed)
#   fs    NAME IMAGE SNAPSHOT SUMS   mounts as ext4; files match SUMS
#   hostile NAME IMAGE SNAPSHOT   a damaged image: refused (one qsnap: line
#         if the kernel was asked), or every read succeeds or fails with EIO
#         (tests/images/hostile.sh)
#   toolrefuse NAME IMAGE SNAPSHOT MESSAGE
#         qsnapctl refuses before calling the kernel (no qsnap: line),
#         saying MESSAGE
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
# QEMU times PBKDF2 to pick iteration counts, and gives up ("Unable to get
# accurate CPU usage") when a round took no measurable CPU time, which
# on a fast CPU with tick-based accounting is a third of the time: again.
retry() {
	local i
	for i in $(seq 1 30); do
		"$@" 2> "$WORK/retry.err" && return 0
	done
	cat "$WORK/retry.err" >&2
	return 1
}

# Expected sha256 and size of IMAGE at SNAPSHOT, computed by QEMU.
oracle() {
	# The copy sits next to the image: relative backing and data file
	# names resolve from there.
	local image=$1 snap=$2 copy=${1%/*}/.oracle-copy.qcow2 raw=$WORK/oracle.raw
	cp --sparse=always "$image" "$copy"
	if [ "$snap" != "-" ]; then
		qemu-img snapshot -a "$snap" "$copy"
	fi
	# QEMU opens a relative data file name from its working directory.
	(cd "${image%/*}" && qemu-img convert -f qcow2 -O raw "$copy" "$raw")
	echo "$(sha256sum < "$raw" | cut -d' ' -f1)$TAB$(stat -c %s "$raw")"
	rm -f "$copy" "$raw"
}

same() {	# NAME IMAGE SNAPSHOT
	echo "same$TAB$1$TAB$2$TAB$3$TAB$(oracle "$IMG/$2" "$3")" >> "$OUT/manifest"
}

toolrefuse() {	# NAME IMAGE SNAPSHOT MESSAGE
	echo "toolrefuse$TAB$1$TAB$2$TAB$3$TAB$4" >> "$OUT/manifest"
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
peek_be32() { od -An -tx1 -j "$2" -N4 "$1" | tr -d ' \n'; }

# The raw L2 entry mapping guest offset GUEST in FILE's current state
# (standard 64-bit L2 entries), as a bash integer.
l2_entry() {	# FILE GUEST
	local f=$1 g=$2 cb l2bits l1 l2
	cb=$((16#$(peek_be32 "$f" 20)))
	l2bits=$((cb - 3))
	l1=$((16#$(peek_be64 "$f" 40)))
	l2=$(( 16#$(peek_be64 "$f" $((l1 + (g >> (cb + l2bits)) * 8))) & 0x00fffffffffffe00 ))
	echo $(( 16#$(peek_be64 "$f" $((l2 + ((g >> cb) & ((1 << l2bits) - 1)) * 8))) ))
}

# Where the compressed cluster at GUEST lies in FILE: "OFFSET LENGTH",
# decoded as docs/interop/qcow2.txt says (x = 62 - (cluster_bits - 8)).
compressed_stream() {	# FILE GUEST
	local f=$1 cb e x off n
	cb=$((16#$(peek_be32 "$f" 20)))
	e=$(l2_entry "$f" "$2")
	if (( !(e & (1 << 62)) )); then
		echo "make-images: $f: guest offset $2 is not compressed" >&2
		return 1
	fi
	x=$((62 - (cb - 8)))
	off=$(( e & ((1 << x) - 1) ))
	n=$(( ((e >> x) & ((1 << (cb - 8)) - 1)) + 1 ))
	echo "$off $(( n * 512 - (off & 511) ))"
}

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

# The last data cluster cut short by the end of the file, at a sector
# boundary and inside a sector: QEMU reads zeros past the end, and so must
# qsnap (its asynchronous direct read comes back short and is redone by
# the synchronous path).
for cut in 40960 40000; do
	f=$IMG/cut-data-$cut.qcow2
	qemu-img create -q -f qcow2 "$f" 4M
	qio -c 'write -P 0x5a 1M 64k' -c 'write -P 0x5b 3M 64k' "$f"
	truncate -s $(($(stat -c %s "$f") - cut)) "$f"
	same "last data cluster cut $cut bytes short by the end of the file" \
		"cut-data-$cut.qcow2" -
	qemu-img convert -f qcow2 -O raw "$f" "$IMG/cut-data-$cut.raw"
done

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

# Names qsnapctl must quote: JSON escapes, bytes that are not UTF-8, a
# slash (the udev link encodes it), a tab.  QEMU stores names as given.
f=$IMG/odd-names.qcow2
qemu-img create -q -f qcow2 "$f" 4M
qemu-img snapshot -c 'quote" back\slash' "$f"
qemu-img snapshot -c "$(printf 'not utf-8 \377\376 tab\tend')" "$f"
qemu-img snapshot -c 'a/b' "$f"

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

# --- compressed clusters (deflate and zstd) and extended L2 entries ---

# SIZE bytes of decimal numbers from FIRST on (seq ends on SIGPIPE).
text() { (seq "$1" 99999999 || true) | head -c "$2"; }

# 16 MiB of mixed data: text (compresses well), random bytes (QEMU stores
# those clusters uncompressed), a hole, and a repeated random block.
mixed=$WORK/mixed.raw
{
	text 1 4M
	head -c 1M /dev/urandom
	head -c 3M /dev/zero
	head -c 4096 /dev/urandom > "$WORK/block"
	for _ in $(seq 1 1024); do cat "$WORK/block"; done
	text 5000000 4M
} > "$mixed"

# qemu-img convert -c (grown to 24 MiB, so that there is room for new
# compressed clusters: QEMU writes them to unallocated clusters only), a
# snapshot, then compressed clusters partly overwritten (QEMU copies them
# into normal clusters), zeroed, and new compressed clusters written next
# to normal ones.
compressed_image() {	# FILE COMPRESSION CLUSTER-SIZE(bytes)
	local f=$IMG/$1 cs=$3 m=$((1024 * 1024))
	qemu-img convert -q -c -f raw -O qcow2 \
		-o "compression_type=$2,cluster_size=$cs" "$mixed" "$f"
	qemu-img resize -q "$f" 24M
	qemu-img snapshot -c packed "$f"
	qio -c "write -P 0xa1 $((m + 512)) 3k" -c "write -z $((2 * cs)) $cs" \
	    -c "write -c -P 0xa2 $((16 * m)) $cs" \
	    -c "write -P 0xa3 $((16 * m + cs)) 4k" \
	    -c "write -P 0xa4 $((12 * m)) 64k" "$f"
	qemu-img snapshot -c patched "$f"
	qio -c "write -c -P 0xa5 $((20 * m)) $cs" \
	    -c "write -P 0xa6 $((22 * m)) 4k" -c "write -P 0xa7 100k 8k" "$f"
}
for comp in zlib zstd; do
	for cs in 4096 65536 2097152; do
		name=$comp-$((cs / 1024))k.qcow2
		compressed_image "$name" $comp $cs
		for s in packed patched -; do
			same "$comp compressed, $((cs / 1024)) KiB clusters, snapshot $s" "$name" "$s"
		done
	done
done

# Extended L2 entries at every cluster size QEMU allows for them (16 KiB
# to 2 MiB): writes smaller than a cluster, zeroed subclusters inside and
# outside allocated clusters, compressed clusters, snapshots between.
# Half the sizes use zstd.
subcluster_image() {	# FILE CLUSTER-SIZE(bytes) COMPRESSION
	local f=$IMG/$1 cs=$2 sc=$(($2 / 32))
	qemu-img create -q -f qcow2 \
		-o "extended_l2=on,cluster_size=$cs,compression_type=$3" "$f" 16M
	qio -c "write -P 0x11 $sc $sc" -c "write -P 0x12 $((300 * 1024)) 12k" \
	    -c "write -P 0x13 3M 1M" -c "write -P 0x14 $((cs + 5 * sc)) $((3 * sc))" "$f"
	qemu-img snapshot -c s1 "$f"
	qio -c "write -z $((2 * sc)) $sc" -c "write -z 5M $((2 * sc))" \
	    -c "write -P 0x21 $((sc + 512)) 1k" \
	    -c "write -c -P 0x22 8M $cs" -c "write -z $((3 * 1024 * 1024 + sc)) $((4 * sc))" "$f"
	qemu-img snapshot -c s2 "$f"
	qio -c "write -P 0x31 0 2k" -c "write -z $((300 * 1024)) 4k" \
	    -c "write -P 0x32 $((8 * 1024 * 1024 + sc)) 4k" "$f"
}
for kib in 16 32 64 128 256 512 1024 2048; do
	case $kib in 32|128|512|2048) comp=zstd ;; *) comp=zlib ;; esac
	name=extl2-${kib}k.qcow2
	subcluster_image "$name" $((kib * 1024)) $comp
	for s in s1 s2 -; do
		same "extended L2, $kib KiB clusters ($comp), snapshot $s" "$name" "$s"
	done
done

# Damaged compressed clusters: the read of that cluster fails, the rest of
# the device reads as QEMU reads the undamaged image.  Every cluster of
# this 4 MiB text image is compressed; clusters are 64 KiB.
text 1 4M > "$WORK/text.raw"
eio() {	# NAME IMAGE OFFSET LENGTH DMESG-TEXT  (ORACLE: the undamaged copy)
	local raw=$WORK/eio.raw
	qemu-img convert -f qcow2 -O raw "$ORACLE" "$raw"
	dd if=/dev/zero of="$raw" bs="$4" seek=$(($3 / $4)) count=1 \
	   conv=notrunc status=none
	echo "eio$TAB$1$TAB$2$TAB-$TAB$3$TAB$4$TAB$(sha256sum < "$raw" | cut -d' ' -f1)$TAB$(stat -c %s "$raw")$TAB$5" >> "$OUT/manifest"
	rm -f "$raw"
}
for comp in zlib zstd; do
	ORACLE=$WORK/text-$comp.qcow2
	qemu-img convert -q -c -f raw -O qcow2 \
		-o "compression_type=$comp,cluster_size=64k" "$WORK/text.raw" "$ORACLE"
	read -r at len < <(compressed_stream "$ORACLE" $((1024 * 1024)))
	# Another image's clusters, for streams of the wrong size.
	for kib in 32 128; do
		qemu-img create -q -f qcow2 \
			-o "compression_type=$comp,cluster_size=${kib}k" "$WORK/c$kib.qcow2" 1M
		qio -c "write -c -P 0x5a 0 ${kib}k" "$WORK/c$kib.qcow2"
		read -r o l < <(compressed_stream "$WORK/c$kib.qcow2" 0)
		dd if="$WORK/c$kib.qcow2" of="$WORK/stream$kib" bs=1 skip="$o" \
		   count="$l" status=none
	done

	f=$IMG/$comp-garbage.qcow2
	cp "$ORACLE" "$f"
	poke "$f" "$at" ffffffffffffffffffffffffffffffff
	eio "$comp: a compressed stream of garbage" "${f##*/}" $((1024 * 1024)) 65536 "compressed cluster at guest offset 1048576"

	f=$IMG/$comp-bomb.qcow2
	cp "$ORACLE" "$f"
	dd if="$WORK/stream128" of="$f" bs=1 seek="$at" conv=notrunc status=none
	eio "$comp: a stream that inflates to two clusters" "${f##*/}" $((1024 * 1024)) 65536 "compressed cluster at guest offset 1048576"

	f=$IMG/$comp-short.qcow2
	cp "$ORACLE" "$f"
	dd if="$WORK/stream32" of="$f" bs=1 seek="$at" conv=notrunc status=none
	eio "$comp: a stream that ends after half a cluster" "${f##*/}" $((1024 * 1024)) 65536 "ends before a full cluster"

	# The last cluster's stream ends the file: cut the file inside it.
	last=$((4 * 1024 * 1024 - 65536))
	read -r o l < <(compressed_stream "$ORACLE" $last)
	f=$IMG/$comp-truncated.qcow2
	cp "$ORACLE" "$f"
	truncate -s $((o + l / 2)) "$f"
	eio "$comp: a stream cut by the end of the file" "${f##*/}" $last 65536 "cut by the end of the file"
done

# An extended L2 entry whose bitmap marks subclusters both allocated and
# zero (guest offset 3 MiB, entry 48 of the first 16-byte-entry table).
ORACLE=$IMG/extl2-64k.qcow2
f=$IMG/extl2-bad-bitmap.qcow2
cp "$ORACLE" "$f"
l1=$((16#$(peek_be64 "$f" 40)))
l2=$(( 16#$(peek_be64 "$f" "$l1") & 0x00fffffffffffe00 ))
poke "$f" $((l2 + 48 * 16 + 8)) ffffffffffffffff
eio "extended L2: subclusters both allocated and zero" "${f##*/}" $((3 * 1024 * 1024)) 65536 "both allocated and zero"

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
# The same trees in a compressed image (zstd, as cloud images ship).
qemu-img convert -q -c -f raw -O qcow2 -o compression_type=zstd \
	"$WORK/fs1.raw" "$IMG/ext4-zstd.qcow2"
qemu-img snapshot -c fs1 "$IMG/ext4-zstd.qcow2"
qemu-img convert -n -f raw -O qcow2 "$WORK/fs2.raw" "$IMG/ext4-zstd.qcow2"
same "compressed ext4 image, snapshot fs1" ext4-zstd.qcow2 fs1
echo "fs${TAB}ext4 in a zstd-compressed snapshot: every file matches${TAB}ext4-zstd.qcow2${TAB}fs1${TAB}fs1.sums" >> "$OUT/manifest"
echo "fs${TAB}ext4 over a compressed snapshot: every file matches${TAB}ext4-zstd.qcow2${TAB}-${TAB}fs2.sums" >> "$OUT/manifest"
qemu-img convert -q -c -f raw -O qcow2 "$WORK/fs1.raw" "$IMG/ext4-deflate.qcow2"
echo "fs${TAB}ext4 in a deflate-compressed image: every file matches${TAB}ext4-deflate.qcow2${TAB}-${TAB}fs1.sums" >> "$OUT/manifest"

# --- partitioned disks (sfdisk): MBR and GPT, ext4 in the first partition ---
# The snapshot holds the partition table; the current state has its first
# sector overwritten, so it must show no partitions.
part_image() {	# FILE LABEL
	local raw=$WORK/part-$2.raw
	rm -f "$raw"
	truncate -s 64M "$raw"
	sfdisk -q "$raw" > /dev/null <<PARTS
label: $2
start=1MiB, size=40MiB, type=L
start=42MiB, size=16MiB, type=L
PARTS
	mke2fs -q -F -t ext4 -E offset=$((1 << 20)) -d "$WORK/fs1" "$raw" 40M
	qemu-io -f raw -c "write -P 0x5a $((42 << 20)) 16M" "$raw" > /dev/null
	qemu-img convert -f raw -O qcow2 "$raw" "$IMG/$1"
	qemu-img snapshot -c parts "$IMG/$1"
	qio -c 'write -P 0x77 0 512' "$IMG/$1"
	same "partitioned disk ($2), snapshot" "$1" parts
	same "partitioned disk ($2), current state (table overwritten)" "$1" -
	echo "parts${TAB}$2 partitions: p1 holds ext4, every file matches; p2 is 16 MiB${TAB}$1${TAB}parts${TAB}2${TAB}fs1.sums" >> "$OUT/manifest"
	echo "parts${TAB}$2 table overwritten in the current state: no partitions${TAB}$1${TAB}-${TAB}0${TAB}-" >> "$OUT/manifest"
}
part_image parts-mbr.qcow2 dos
part_image parts-gpt.qcow2 gpt

# --- a root file system to boot from (tests/vm/boot-guest.sh) ---
# busybox, an /sbin/init that says which tree it is, in an ext4 image whose
# snapshot "golden" differs from its current state only in that marker.
boot_tree() {	# DIR MARKER
	mkdir -p "$1"/{bin,sbin,etc,proc,sys,dev,tmp,run,mnt}
	cp /bin/busybox "$1/bin/busybox"
	ln -s busybox "$1/bin/sh"
	echo "$2" > "$1/etc/qsnap-marker"
	cat > "$1/sbin/init" <<'INIT'
#!/bin/sh
/bin/busybox mount -t proc proc /proc
echo "qsnap-boot: init from $(/bin/busybox cat /etc/qsnap-marker)"
echo "qsnap-boot: root $(/bin/busybox awk '$2 == "/" { print $1, $3 }' /proc/mounts)"
if echo written > /etc/written && [ "$(/bin/busybox cat /etc/written)" = written ]; then
	echo "qsnap-boot: root is writable (overlay)"
fi
echo "qsnap-boot: lower $(/bin/busybox awk '$2 == "/run/lower" { print $1, $3, substr($4, 1, 2) }' /proc/mounts)"
/bin/busybox sync
/bin/busybox reboot -f
INIT
	chmod 755 "$1/sbin/init"
}
mkdir -p "$IMG/boot"
boot_mark=golden-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
boot_tree "$WORK/root-golden" "$boot_mark"
boot_tree "$WORK/root-later" "after the upgrade"
mke2fs -q -F -t ext4 -d "$WORK/root-golden" "$WORK/root-golden.raw" 16M
mke2fs -q -F -t ext4 -d "$WORK/root-later" "$WORK/root-later.raw" 16M
qemu-img convert -f raw -O qcow2 "$WORK/root-golden.raw" "$IMG/boot/root.qcow2"
qemu-img snapshot -c golden "$IMG/boot/root.qcow2"
qemu-img convert -n -f raw -O qcow2 "$WORK/root-later.raw" "$IMG/boot/root.qcow2"
echo "$boot_mark" > "$OUT/boot-marker"

# --- backing chains and external data files ---
# Backing names are relative (QEMU resolves them from the directory of the
# image that names them); the guest sees the same tree under /data/img.
B=$IMG/chain
mkdir -p "$B/base" "$B/sub"
qcr() { qemu-img create -q -f qcow2 "$@"; }

# qcow2 <- qcow2 <- qcow2, writes at every level, snapshots in the top.
qcr "$B/base3.qcow2" 64M
qio -c 'write -P 0x01 0 4M' -c 'write -P 0x02 10M 1M' -c 'write -P 0x03 60M 4M' "$B/base3.qcow2"
qcr -b base3.qcow2 -F qcow2 "$B/mid3.qcow2"
qio -c 'write -P 0x04 1M 1M' -c 'write -z 10M 64k' -c 'write -P 0x05 30M 64k' "$B/mid3.qcow2"
qcr -b mid3.qcow2 -F qcow2 "$B/top3.qcow2"
qio -c 'write -P 0x06 2M 64k' -c 'write -P 0x07 3M 4k' "$B/top3.qcow2"
qemu-img snapshot -c s1 "$B/top3.qcow2"
qio -c 'write -P 0x08 0 64k' -c 'write -z 2M 64k' -c 'write -P 0x09 10M 128k' "$B/top3.qcow2"
qemu-img snapshot -c s2 "$B/top3.qcow2"
qio -c 'write -P 0x0a 62M 8k' "$B/top3.qcow2"
for s in s1 s2 -; do same "backing chain of depth 3, snapshot $s" chain/top3.qcow2 "$s"; done
same "backing chain: the middle image's current state" chain/mid3.qcow2 -

# A raw base.
qemu-img create -q -f raw "$B/base.raw" 16M
qemu-io -f raw -c 'write -P 0x11 0 8M' -c 'write -P 0x12 12M 1M' "$B/base.raw" > /dev/null
qcr -b base.raw -F raw "$B/over-raw.qcow2"
qio -c 'write -P 0x13 1M 64k' "$B/over-raw.qcow2"
qemu-img snapshot -c s1 "$B/over-raw.qcow2"
qio -c 'write -P 0x14 0 2M' -c 'write -z 12M 64k' "$B/over-raw.qcow2"
for s in s1 -; do same "raw base, snapshot $s" chain/over-raw.qcow2 "$s"; done

# A base smaller than the overlay: past its end reads zeros.  (An odd
# base size: the last cluster of the base is partly past its end.)
qcr "$B/small.qcow2" 5000k
qio -c 'write -P 0x21 0 5000k' "$B/small.qcow2"
qcr -b small.qcow2 -F qcow2 "$B/big.qcow2" 16M
qio -c 'write -P 0x22 12M 64k' "$B/big.qcow2"
qemu-img snapshot -c s1 "$B/big.qcow2"
same "base smaller than the overlay" chain/big.qcow2 s1

# Relative names into another directory: sub/top -> ../base/b.
qcr "$B/base/b.qcow2" 16M
qio -c 'write -P 0x31 0 16M' "$B/base/b.qcow2"
qcr -b ../base/b.qcow2 -F qcow2 "$B/sub/top.qcow2"
qio -c 'write -P 0x32 4M 4M' "$B/sub/top.qcow2"
qemu-img snapshot -c s1 "$B/sub/top.qcow2"
same "backing file in another directory (../base/b.qcow2)" chain/sub/top.qcow2 s1

# Extended L2 (4 KiB writes in 64 KiB clusters) over a compressed base:
# unallocated subclusters read the compressed clusters below.
qemu-img convert -q -c -f raw -O qcow2 -o compression_type=zstd \
	"$WORK/text.raw" "$B/packed.qcow2"
qcr -o extended_l2=on -b packed.qcow2 -F qcow2 "$B/sub-over-packed.qcow2"
qio -c 'write -P 0x41 4k 4k' -c 'write -z 100k 8k' -c 'write -P 0x42 1M 2k' "$B/sub-over-packed.qcow2"
qemu-img snapshot -c s1 "$B/sub-over-packed.qcow2"
qio -c 'write -P 0x43 0 64k' "$B/sub-over-packed.qcow2"
for s in s1 -; do same "extended L2 over a zstd-compressed base, snapshot $s" chain/sub-over-packed.qcow2 "$s"; done

# Backing files that are themselves special: a qcow2 over a raw base as
# the middle of a chain, and an extended-L2 image as a base.
qcr -b over-raw.qcow2 -F qcow2 "$B/over-over-raw.qcow2"
qio -c 'write -P 0x45 3M 64k' "$B/over-over-raw.qcow2"
qemu-img snapshot -c s1 "$B/over-over-raw.qcow2"
same "qcow2 over qcow2 over raw, snapshot s1" chain/over-over-raw.qcow2 s1
qcr -b ../extl2-128k.qcow2 -F qcow2 "$B/over-extl2.qcow2"
qio -c 'write -P 0x46 8k 4k' -c 'write -P 0x47 3M 64k' "$B/over-extl2.qcow2"
same "over an extended-L2 base (zstd, 128 KiB clusters)" chain/over-extl2.qcow2 -

# Backing files a user cannot read: qsnapctl opens them with the
# caller's permissions (the guest runs it as nobody with CAP_SYS_ADMIN).
mkdir -p "$B/private"
qcr "$B/private/secret.qcow2" 4M
qio -c 'write -P 0x48 0 4M' "$B/private/secret.qcow2"
chmod 600 "$B/private/secret.qcow2"
qcr -b private/secret.qcow2 -F qcow2 "$B/peek.qcow2"

# No backing format recorded: the format is probed (qcow2 magic).  QEMU
# made the image with one; the oracle is computed before it is hidden
# (its extension magic is overwritten, so it is skipped as unknown).
qcr -b base3.qcow2 -F qcow2 "$B/probed.qcow2"
qio -c 'write -P 0x51 5M 64k' "$B/probed.qcow2"
same "backing format probed" chain/probed.qcow2 -
hl=$((16#$(peek_be32 "$B/probed.qcow2" 100)))
[ "$(peek_be32 "$B/probed.qcow2" "$hl")" = e2792aca ] ||
	{ echo "make-images: no backing format extension at $hl" >&2; exit 1; }
poke "$B/probed.qcow2" "$hl" "$(be32 0x12345678)"

# --no-backing: unallocated clusters read zeros; QEMU's export of the top
# layer alone (rebased onto nothing, on a copy) is the oracle.
cp "$B/top3.qcow2" "$B/.flat.qcow2"
qemu-img rebase -q -u -b "" "$B/.flat.qcow2"
echo "same${TAB}--no-backing: the top image alone, snapshot s2${TAB}chain/top3.qcow2${TAB}s2${TAB}$(oracle "$B/.flat.qcow2" s2)${TAB}--no-backing" >> "$OUT/manifest"
rm -f "$B/.flat.qcow2"

# The deepest chain qsnap follows (16 backing files), and one more.
qcr "$B/d0.qcow2" 4M
qio -c 'write -P 0x60 0 4M' "$B/d0.qcow2"
for i in $(seq 1 17); do
	qcr -b "d$((i - 1)).qcow2" -F qcow2 "$B/d$i.qcow2"
	qio -c "write -P $((0x60 + i)) $((i * 128))k 64k" "$B/d$i.qcow2"
done
same "16 backing files" chain/d16.qcow2 -
toolrefuse "17 backing files" chain/d17.qcow2 - "backing chain deeper than 16 files"

# Refused by qsnapctl before the kernel is asked.
qcr "$B/loop-a.qcow2" 4M
qcr -b loop-a.qcow2 -F qcow2 "$B/loop-b.qcow2"
qemu-img rebase -q -u -b loop-b.qcow2 -F qcow2 "$B/loop-a.qcow2"
toolrefuse "backing loop a -> b -> a" chain/loop-a.qcow2 - "backing chain loop"
qcr "$B/gone.qcow2" 4M
qcr -b gone.qcow2 -F qcow2 "$B/orphan.qcow2"
rm "$B/gone.qcow2"
toolrefuse "missing backing file" chain/orphan.qcow2 - "gone.qcow2 (named by /data/img/chain/orphan.qcow2): No such file or directory"
qcr -u -b base.raw -F vmdk "$B/vmdk-backing.qcow2" 16M
toolrefuse "backing format vmdk" chain/vmdk-backing.qcow2 - 'backing file format "vmdk" is not supported'

# External data files (QEMU refuses snapshots of such images).  QEMU
# opens a relative data file name from its working directory; qsnapctl
# resolves it from the image's directory, like a backing file name.
(cd "$IMG" &&
 qcr -o data_file=extdata.raw datafile.qcow2 16M &&
 qcr -o data_file=extdata-raw.raw,data_file_raw=on datafile-raw.qcow2 16M &&
 for f in datafile datafile-raw; do
	qio -c 'write -P 0x71 0 1M' -c 'write -P 0x72 5M 64k' -c 'write -z 5M 4k' "$f.qcow2"
 done)
same "external data file" datafile.qcow2 -
same "external data file (data_file_raw)" datafile-raw.qcow2 -

# --- every read path in one device, for the parallel readers ---
# deflate-compressed base <- extended-L2 zstd layer with compressed
# clusters, subcluster writes and zeroed subclusters <- 64 KiB top with a
# snapshot.  The data differs at every offset (text, random bytes), so a
# read served from the wrong place cannot match.  QEMU's raw export stays
# on the data disk: the guest compares reads at random offsets with it.
R=$IMG/readers
mkdir -p "$R"
qemu-img convert -q -c -f raw -O qcow2 "$mixed" "$R/base.qcow2"
qemu-img resize -q "$R/base.qcow2" 24M
head -c 1M /dev/urandom > "$WORK/rand1m"
text 7000000 1M > "$WORK/text1m"
qcr -o extended_l2=on,compression_type=zstd -b base.qcow2 -F qcow2 "$R/mid.qcow2"
qio -c "write -c -s $WORK/text1m 17M 1M" -c "write -s $WORK/rand1m 4100k 12k" \
    -c 'write -z 5M 16k' -c "write -s $WORK/text1m 9000k 1M" \
    -c 'write -z 20M 64k' -c "write -s $WORK/rand1m 22M 6k" "$R/mid.qcow2"
qcr -b mid.qcow2 -F qcow2 "$R/top.qcow2"
qio -c "write -s $WORK/rand1m 1M 128k" -c 'write -z 17M 64k' "$R/top.qcow2"
qemu-img snapshot -c s1 "$R/top.qcow2"
qio -c 'write -P 0x77 0 24M' "$R/top.qcow2"
same "parallel readers image (compressed, extended L2, 3 layers), snapshot s1" readers/top.qcow2 s1
cp --sparse=always "$R/top.qcow2" "$R/.copy.qcow2"
qemu-img snapshot -a s1 "$R/.copy.qcow2"
qemu-img convert -f qcow2 -O raw "$R/.copy.qcow2" "$R/s1.raw"
rm -f "$R/.copy.qcow2"

# --- images that must be refused -------------------------------------

base=$IMG/v3-64k.qcow2
corrupt() {	# NAME FILE OFFSET HEX ERRNO DMESG
	cp "$base" "$IMG/$2"
	poke "$IMG/$2" "$3" "$4"
	refuse "$1" "$2" - "$5" "$6"
}
# qsnapctl turns ENOENT into the snapshots there are.
refuse "no such snapshot" v3-64k.qcow2 nosuch "snapshot 'nosuch' not found in /data/img/v3-64k.qcow2; available: 1 'one', 2 'two', 3 'three'" "no snapshot with id or name"
corrupt "bad magic" bad-magic.qcow2 0 "$(be32 0x12345678)" "Invalid argument" "not a qcow2 image"
corrupt "version 4" version4.qcow2 4 "$(be32 4)" "Operation not supported" "unsupported qcow2 version 4"
corrupt "cluster_bits 8" cbits8.qcow2 20 "$(be32 8)" "Invalid argument" "cluster_bits 8"
corrupt "cluster_bits 22" cbits22.qcow2 20 "$(be32 22)" "Invalid argument" "cluster_bits 22"
corrupt "header_length 100" hlen100.qcow2 100 "$(be32 100)" "Invalid argument" "header_length 100"
corrupt "header_length past the cluster" hlenbig.qcow2 100 "$(be32 65537)" "Invalid argument" "exceeds the cluster size"
corrupt "unknown incompatible bit 5" incompat5.qcow2 72 "$(be64 32)" "Operation not supported" "unknown incompatible feature bits 0x20"
# crypt_method 1 is legacy AES: qsnapctl wants its passphrase.
cp "$base" "$IMG/crypt.qcow2"
poke "$IMG/crypt.qcow2" 32 "$(be32 1)"
toolrefuse "crypt_method 1 (legacy AES) without a passphrase" crypt.qcow2 - \
	"is encrypted (legacy AES aes-cbc-plain64): give its passphrase"
corrupt "crypt_method 3" crypt3.qcow2 32 "$(be32 3)" "Operation not supported" "unknown encryption method"
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
# Snapshot disk sizes (extra data field disk_size) over QEMU's
# BDRV_MAX_LENGTH (2^63 - 2^30): a block device could not hold them.
snapsize_n=0
for sz in "2^63:$((1 << 63))" "2^64 - 512:-512" "BDRV_MAX_LENGTH + 1:$(( (1 << 63) - (1 << 30) + 1 ))"; do
	f=snapsize$((++snapsize_n)).qcow2
	cp "$base" "$IMG/$f"
	poke "$IMG/$f" $((snaptab + 48)) "$(be64 "${sz#*:}")"
	refuse "snapshot disk size ${sz%%:*}" "$f" one "File too large" "disk size"
done

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

# An image with a backing file, for the ioctl test's fd-array refusals.
qemu-img create -q -f qcow2 "$IMG/backing-base.qcow2" 16M
qemu-img create -q -f qcow2 -b backing-base.qcow2 -F qcow2 "$IMG/overlay.qcow2"
cp "$IMG/extl2-64k.qcow2" "$IMG/extl2-8k.qcow2"
poke "$IMG/extl2-8k.qcow2" 20 "$(be32 13)"
refuse "extended L2 with 8 KiB clusters" extl2-8k.qcow2 - "Invalid argument" "extended L2 entries need clusters of at least 16384 bytes"
retry qemu-img create -q -f qcow2 --object secret,id=sec0,data=123456 \
	-o encrypt.format=luks,encrypt.key-secret=sec0 "$IMG/luks.qcow2" 16M
toolrefuse "LUKS-encrypted image without a passphrase" luks.qcow2 - \
	"is encrypted (LUKS aes-xts-plain64): give its passphrase"

# --- ten snapshots of one image attached at once share one image object ---
# 4 KiB clusters: an L2 table maps 2 MiB, so each snapshot's small write
# copies one table and the other 31 stay shared with the other snapshots.
mkdir -p "$IMG/shared"
f=$IMG/shared/s4k.qcow2
qemu-img create -q -f qcow2 -o cluster_size=4096 "$f" 64M
qio -c 'write -P 0x41 0 64M' "$f"
for i in $(seq 1 10); do
	qemu-img snapshot -c "s$i" "$f"
	qio -c "write -P $((0x50 + i)) $(( i * 4 ))M 64k" "$f"
done
for i in $(seq 1 10); do same "ten snapshots of one image: s$i" shared/s4k.qcow2 "s$i"; done

# --- a snapshot of an image in use (tests/vm/guest-lifecycle.sh) ---
# The guest copies it to tmpfs, keeps writing to it with qemu-io while it
# reads s1, then deletes s1 (and replaces s2: its id is reused).
mkdir -p "$IMG/live"
f=$IMG/live/live.qcow2
qemu-img create -q -f qcow2 "$f" 32M
qio -c 'write -P 0x61 0 24M' -c 'write -P 0x62 28M 1M' "$f"
qemu-img snapshot -c s1 "$f"
qio -c 'write -P 0x63 1M 2M' "$f"
qemu-img snapshot -c s2 "$f"
same "image in use: snapshot s1 before the writer starts" live/live.qcow2 s1
same "image in use: snapshot s2 before the writer starts" live/live.qcow2 s2

# --- qsnapctl diff: images and QEMU's exports of both sides ---
bash "$(dirname "$0")/make-diff-images.sh" "$IMG/diff"

# --- encrypted images ---
. "$(dirname "$0")/crypt.sh"

# --- the hostile-image suite ---
. "$(dirname "$0")/hostile.sh"

rm -rf "$WORK"

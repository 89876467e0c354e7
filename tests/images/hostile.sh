# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
#
# The hostile-image suite: damaged copies of one small QEMU-made image,
# each a "hostile" manifest case.  The guest attaches each one and, if the
# attach is not refused (errno + exactly one qsnap: line), reads the whole
# device: every read must succeed or fail with EIO, within a time bound, and
# the console must stay free of kernel complaints.
#
# Sourced by make-images.sh (uses IMG, WORK, OUT, TAB, qio, poke, be32,
# be64, peek_be64, l2_entry, compressed_stream).

H=$IMG/hostile
mkdir -p "$H"
hb=$WORK/hostile-base.qcow2
qemu-img create -q -f qcow2 "$hb" 4M
qio -c 'write -P 0x11 0 1M' -c 'write -c -P 0x12 1M 64k' -c 'write -z 2M 64k' "$hb"
qemu-img snapshot -c s1 "$hb"
qio -c 'write -P 0x13 512k 128k' -c 'write -P 0x14 3M 64k' "$hb"

hb_l1=$((16#$(peek_be64 "$hb" 40)))
hb_rt=$((16#$(peek_be64 "$hb" 48)))
hb_st=$((16#$(peek_be64 "$hb" 64)))
hb_l2=$(( 16#$(peek_be64 "$hb" "$hb_l1") & 0x00fffffffffffe00 ))
hb_size=$(stat -c %s "$hb")
read -r hb_c hb_clen < <(compressed_stream "$hb" $((1024 * 1024)))

hostile() {	# NAME FILE SNAPSHOT
	echo "hostile$TAB$1$TAB${2#"$IMG"/}$TAB$3" >> "$OUT/manifest"
}

# hcase NAME OFFSET HEX [SNAPSHOT]: a copy with HEX written at OFFSET.
hn=0
hcase() {
	local f
	hn=$((hn + 1))
	f=$H/h$hn.qcow2
	cp "$hb" "$f"
	poke "$f" "$2" "$3"
	hostile "hostile: $1" "$f" "${4:--}"
	[ "${4:--}" = - ] && hostile "hostile: $1 (snapshot)" "$f" s1
	return 0
}

# Every header field as 0 and as all-ones.
for field in magic:0:4 version:4:4 backing_file_offset:8:8 \
	     backing_file_size:16:4 cluster_bits:20:4 size:24:8 \
	     crypt_method:32:4 l1_size:36:4 l1_table_offset:40:8 \
	     refcount_table_offset:48:8 refcount_table_clusters:56:4 \
	     nb_snapshots:60:4 snapshots_offset:64:8 \
	     incompatible_features:72:8 compatible_features:80:8 \
	     autoclear_features:88:8 refcount_order:96:4 header_length:100:4 \
	     compression_type:104:1; do
	IFS=: read -r name off len <<< "$field"
	hcase "$name = 0" "$off" "$(printf '%0*d' $((len * 2)) 0)"
	hcase "$name = all ones" "$off" "$(printf 'f%.0s' $(seq 1 $((len * 2))))"
done

# Just past QEMU's limits, and values that overflow.
hcase "cluster_bits 8" 20 "$(be32 8)"
hcase "cluster_bits 22" 20 "$(be32 22)"
hcase "header_length 103" 100 "$(be32 103)"
hcase "header_length cluster + 1" 100 "$(be32 65537)"
hcase "l1_size 32 MiB / 8 + 1" 36 "$(be32 $(( (32 << 20) / 8 + 1 )))"
hcase "l1_size too small for size" 24 "$(be64 $((1 << 40)))"
hcase "size 2^63 - 512" 24 "$(be64 $(( (1 << 63) - 512 )))"
hcase "nb_snapshots 65537" 60 "$(be32 65537)"
hcase "nb_snapshots 65536, table truncated" 60 "$(be32 65536)"
hcase "refcount_table_clusters 129 (8 MiB + 1 cluster)" 56 "$(be32 129)"
hcase "refcount_order 7" 96 "$(be32 7)"
hcase "backing_file_size 1024" 8 "$(be64 512)$(be32 1024)"
hcase "backing name past the cluster" 8 "$(be64 65500)$(be32 100)"
hcase "header extension length wraps" 112 "$(be32 0x12345678)$(be32 0xfffffff8)"
hcase "header extension length past the cluster" 112 "$(be32 0x12345678)$(be32 65536)"
hcase "backing format extension too long" 112 "$(be32 0xe2792aca)$(be32 4000)"

# Tables unaligned, past EOF, overlapping the header or each other.
hcase "L1 table unaligned" 40 "$(be64 $((hb_l1 + 8)))"
hcase "L1 table past EOF" 40 "$(be64 $((hb_size + 65536)))"
hcase "L1 table at the header" 40 "$(be64 0)"
hcase "L1 table is the refcount table" 40 "$(be64 "$hb_rt")"
hcase "L1 table is the snapshot table" 40 "$(be64 "$hb_st")"
hcase "refcount table unaligned" 48 "$(be64 $((hb_rt + 512)))"
hcase "refcount table past EOF" 48 "$(be64 $((hb_size + 65536)))"
hcase "snapshot table unaligned" 64 "$(be64 $((hb_st + 4)))"
hcase "snapshot table past EOF" 64 "$(be64 $((hb_size + 65536)))"
hcase "snapshot table at the header" 64 "$(be64 0)"
hcase "snapshot table is the L1 table" 64 "$(be64 "$hb_l1")"

# Snapshot table entries.
hcase "snapshot L1 past EOF" "$hb_st" "$(be64 $((hb_size + 65536)))" s1
hcase "snapshot L1 at the header" "$hb_st" "$(be64 0)" s1
hcase "snapshot L1 size huge" $((hb_st + 8)) "$(be32 0xffffffff)" s1
hcase "snapshot id length past the table" $((hb_st + 12)) "$(be32 0xffff0000)" s1
hcase "snapshot name length past the table" $((hb_st + 14)) ffff s1
hcase "snapshot extra_data_size huge" $((hb_st + 36)) "$(be32 0xffffffff)" s1
hcase "snapshot extra_data_size 1025" $((hb_st + 36)) "$(be32 1025)" s1
hcase "snapshot disk size huge" $((hb_st + 48)) "$(be64 $(( (1 << 62) )))" s1

# L1 and L2 entries.
hcase "L1 entry past EOF" "$hb_l1" "$(be64 $((hb_size + 65536)))"
hcase "L1 entry at the header" "$hb_l1" "$(be64 $(( (1 << 63) )))"
hcase "L1 entry is the L1 table" "$hb_l1" "$(be64 "$hb_l1")"
hcase "L1 entry unaligned" "$hb_l1" "$(be64 $((hb_l2 + 512)))"
hcase "L1 entry reserved bits" "$hb_l1" "$(be64 $((hb_l2 | 0x7f00000000000000)))"
hcase "L2 entry past EOF" "$hb_l2" "$(be64 $(( (1 << 63) | (1 << 50) )))"
hcase "L2 entry at offset 0 (copied bit)" "$hb_l2" "$(be64 $(( 1 << 63 )))"
hcase "L2 entry is the L2 table" "$hb_l2" "$(be64 $(( (1 << 63) | hb_l2 )))"
hcase "L2 entry all ones" "$hb_l2" ffffffffffffffff
hcase "compressed descriptor past EOF" $((hb_l2 + 16 * 8)) "$(be64 $(( (1 << 62) | (1 << 53) )))"
hcase "compressed descriptor at the header, 255 sectors" $((hb_l2 + 16 * 8)) "$(be64 $(( (1 << 62) | (255 << 54) )))"
hcase "compressed stream zeroed" "$hb_c" "$(printf '0%.0s' $(seq 1 64))"

# The image cut at every metadata boundary (and one byte past it).
for cut in 0 1 71 72 103 104 111 112 $((hb_rt)) $((hb_rt + 1)) \
	   $((hb_l1)) $((hb_l1 + 4)) $((hb_l2)) $((hb_l2 + 8 * 17)) \
	   $((hb_c + 10)) $((hb_st)) $((hb_st + 40)) $((hb_size - 1)); do
	hn=$((hn + 1))
	f=$H/h$hn.qcow2
	head -c "$cut" "$hb" > "$f"
	hostile "hostile: truncated to $cut bytes" "$f" -
	hostile "hostile: truncated to $cut bytes (snapshot)" "$f" s1
done

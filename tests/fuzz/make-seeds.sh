#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Seed corpus for the qcow2 fuzzer, made by QEMU: small images (512-byte to
# 16 KiB clusters) covering v2/v3, snapshots, zero and compressed clusters
# (deflate, zstd), extended L2 entries, backing file names and formats, and
# an external data file name, legacy AES encryption.  (A LUKS image is
# not among them: QEMU reserves key material for 8 slots, more than
# -max_len; tests/unit covers the LUKS header's checks.)
#
#   make-seeds.sh OUTDIR
set -euo pipefail
OUT=$1
rm -rf "$OUT"
mkdir -p "$OUT"
cd "$OUT"
qio() { qemu-io -f qcow2 "$@" > /dev/null; }
mk() {	# NAME OPTIONS SIZE
	qemu-img create -q -f qcow2 -o "$2" "$1" "$3"
}

mk v3.qcow2 cluster_size=512 64k
qio -c 'write -P 0x11 0 4k' -c 'write -z 8k 1k' v3.qcow2
qemu-img snapshot -c one v3.qcow2
qio -c 'write -P 0x12 2k 4k' v3.qcow2
qemu-img snapshot -c two v3.qcow2

mk v2.qcow2 compat=0.10,cluster_size=512 64k
qio -c 'write -P 0x21 0 2k' v2.qcow2
qemu-img snapshot -c 1 v2.qcow2

for comp in zlib zstd; do
	mk "c-$comp.qcow2" "cluster_size=4k,compression_type=$comp" 64k
	qio -c 'write -c -P 0x31 0 4k' -c 'write -c -P 0x32 8k 4k' \
	    -c 'write -P 0x33 16k 1k' "c-$comp.qcow2"
	qemu-img snapshot -c s "c-$comp.qcow2"
done

mk extl2.qcow2 extended_l2=on,cluster_size=16k,compression_type=zstd 128k
qio -c 'write -P 0x41 512 1k' -c 'write -z 4k 1k' -c 'write -c -P 0x42 32k 16k' extl2.qcow2
qemu-img snapshot -c s extl2.qcow2

mk base.qcow2 cluster_size=512 64k
mk overlay.qcow2 cluster_size=512,backing_file=base.qcow2,backing_fmt=qcow2 64k
qio -c 'write -P 0x51 1k 1k' overlay.qcow2
mk datafile.qcow2 cluster_size=512,data_file=seed-data.raw 64k
qio -c 'write -P 0x61 0 2k' datafile.qcow2
rm -f seed-data.raw

printf %s seed-pass > seed-pass
qemu-img create -q -f qcow2 --object secret,id=s,file=seed-pass \
	-o cluster_size=512,encrypt.format=aes,encrypt.key-secret=s aes.qcow2 64k 2> /dev/null
qemu-io --object secret,id=s,file=seed-pass --image-opts \
	-c 'write -P 0x71 0 2k' "driver=qcow2,file.filename=aes.qcow2,encrypt.key-secret=s" > /dev/null
rm -f seed-pass

# SPDX-License-Identifier: GPL-2.0-only
# Encrypted images, sourced by make-images.sh: LUKS (QEMU's default
# aes-256-xts-plain64 at three cluster sizes, CBC with ESSIV, plain64 and
# plain IVs, serpent, twofish, two key slots, extended L2, an external
# data file) and legacy AES, alone and in chains with plain and other
# encrypted layers.  The oracle is QEMU's export with the passphrase
# given as a secret object; the device is attached with qsnapctl
# --key-file.  The passphrases are files on the data disk.
C=$IMG/crypt
GC=/data/img/crypt	# the same directory in the guests
mkdir -p "$C"
printf %s 'correct horse' > "$C/pw1"
printf %s 'battery staple' > "$C/pw2"
printf %s 'wrong' > "$C/pw-wrong"
SECRETS=(--object "secret,id=s1,file=$C/pw1" --object "secret,id=s2,file=$C/pw2")
# A short iteration time: the images are made and opened many times.
LUKS="encrypt.format=luks,encrypt.key-secret=s1,encrypt.iter-time=10"

# ccreate FILE SIZE [OPTIONS] [qemu-img create args...]: a LUKS image
ccreate() {
	local f=$1 size=$2 opts=${3:+,$3}
	shift 3 || shift $#
	retry qemu-img create -q -f qcow2 "${SECRETS[@]}" -o "$LUKS$opts" "$@" "$f" "$size"
}
# cio FILE KEYS COMMAND...: qemu-io on FILE, KEYS the image options that
# name each layer's secret ("encrypt.key-secret=s1,backing.encrypt...")
cio() {
	local f=$1 keys=$2
	shift 2
	qemu-io "${SECRETS[@]}" --image-opts "$@" "driver=qcow2,file.filename=$f,$keys" > /dev/null
}
csnap() {	# FILE KEYS NAME
	qemu-img snapshot "${SECRETS[@]}" --image-opts -c "$3" \
		"driver=qcow2,file.filename=$1,$2"
}

# csame NAME IMAGE SNAPSHOT KEYS QSNAPCTL-OPTIONS: a "same" case whose
# oracle is QEMU's decrypted export
csame() {
	local image=$IMG/$2 snap=$3 keys=$4 copy raw=$WORK/oracle.raw
	copy=${image%/*}/.oracle-copy.qcow2
	cp --sparse=always "$image" "$copy"
	if [ "$snap" != - ]; then
		qemu-img snapshot "${SECRETS[@]}" --image-opts -a "$snap" \
			"driver=qcow2,file.filename=$copy,$keys"
	fi
	(cd "${image%/*}" && qemu-img convert "${SECRETS[@]}" --image-opts \
		"driver=qcow2,file.filename=$copy,$keys" -O raw "$raw")
	echo "same$TAB$1$TAB$2$TAB$3$TAB$(sha256sum < "$raw" | cut -d' ' -f1)$TAB$(stat -c %s "$raw")$TAB$5" \
		>> "$OUT/manifest"
	rm -f "$copy" "$raw"
}

K1="encrypt.key-secret=s1"
PW1="--key-file $GC/pw1"

# The history every image gets: two snapshots, overlapping writes,
# zeroed and discarded ranges.
chistory() {	# FILE KEYS
	cio "$1" "$2" -c 'write -P 0x11 0 3M' -c 'write -P 0x12 5M 100k'
	csnap "$1" "$2" s1
	cio "$1" "$2" -c 'write -P 0x21 1M 2M' -c 'write -z 5M 64k' \
		-c 'write -P 0x22 7M 4k' -c 'discard 2M 512k'
	csnap "$1" "$2" s2
	cio "$1" "$2" -c 'write -P 0x31 512k 1M' -c 'write -z 0 64k'
}
for cs in 4k 64k 2M; do
	ccreate "$C/xts-$cs.qcow2" 12M "cluster_size=$cs"
	chistory "$C/xts-$cs.qcow2" "$K1"
	for s in s1 s2 -; do
		csame "LUKS aes-256-xts-plain64, $cs clusters, snapshot $s" \
			"crypt/xts-$cs.qcow2" "$s" "$K1" "$PW1"
	done
done

for spec in "cbc-essiv:encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256" \
	    "cbc-plain64:encrypt.cipher-mode=cbc,encrypt.ivgen-alg=plain64" \
	    "cbc-plain:encrypt.cipher-mode=cbc,encrypt.ivgen-alg=plain" \
	    "aes128-xts:encrypt.cipher-alg=aes-128" \
	    "serpent-xts:encrypt.cipher-alg=serpent-256" \
	    "twofish-xts:encrypt.cipher-alg=twofish-256" \
	    "cast5-cbc:encrypt.cipher-alg=cast5-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=plain64"; do
	name=${spec%%:*}
	ccreate "$C/$name.qcow2" 8M "${spec#*:}"
	chistory "$C/$name.qcow2" "$K1"
	csame "LUKS $name, snapshot s1" "crypt/$name.qcow2" s1 "$K1" "$PW1"
	csame "LUKS $name, current state" "crypt/$name.qcow2" - "$K1" "$PW1"
done

# A second key slot: either passphrase unlocks it; several --key-file are
# tried in turn.
ccreate "$C/two-slots.qcow2" 8M
chistory "$C/two-slots.qcow2" "$K1"
retry qemu-img amend "${SECRETS[@]}" --image-opts \
	-o encrypt.state=active,encrypt.new-secret=s2,encrypt.iter-time=10 \
	"driver=qcow2,file.filename=$C/two-slots.qcow2,$K1"
csame "LUKS, second key slot's passphrase" crypt/two-slots.qcow2 s2 "$K1" "--key-file $GC/pw2"
csame "LUKS, a wrong passphrase, then the right one" crypt/two-slots.qcow2 s1 "$K1" \
	"--key-file $GC/pw-wrong --key-file $GC/pw1"

# Extended L2 entries (subclusters) and an external data file.
ccreate "$C/extl2.qcow2" 8M "extended_l2=on,cluster_size=64k"
cio "$C/extl2.qcow2" "$K1" -c 'write -P 0x41 3k 5k' -c 'write -P 0x42 100k 1k'
csnap "$C/extl2.qcow2" "$K1" s1
cio "$C/extl2.qcow2" "$K1" -c 'write -P 0x43 2k 2k' -c 'write -z 102k 1k'
csame "LUKS, extended L2, snapshot s1" crypt/extl2.qcow2 s1 "$K1" "$PW1"
csame "LUKS, extended L2, current state" crypt/extl2.qcow2 - "$K1" "$PW1"
# (QEMU opens a relative data file name from its working directory.)
(cd "$C" && ccreate datafile.qcow2 8M "data_file=datafile.raw" &&
	cio datafile.qcow2 "$K1" -c 'write -P 0x51 0 2M' -c 'write -P 0x52 6M 100k')
csame "LUKS with an external data file (IVs count its offsets)" crypt/datafile.qcow2 - "$K1" "$PW1"

# Legacy AES (crypt_method 1): AES-128-CBC, IVs from guest offsets, and
# no key check.  qemu-img still writes it.
qemu-img create -q -f qcow2 "${SECRETS[@]}" -o encrypt.format=aes,encrypt.key-secret=s1 \
	"$C/aes.qcow2" 8M
chistory "$C/aes.qcow2" "$K1"
csame "legacy AES, snapshot s1" crypt/aes.qcow2 s1 "$K1" "$PW1"
csame "legacy AES, current state" crypt/aes.qcow2 - "$K1" "$PW1"

# Chains: an encrypted overlay on a plain base, a plain overlay on an
# encrypted base, two encrypted layers with different passphrases.
qemu-img create -q -f qcow2 "$C/plain-base.qcow2" 8M
qio -c 'write -P 0x61 0 8M' "$C/plain-base.qcow2"
ccreate "$C/enc-on-plain.qcow2" 8M "" -b plain-base.qcow2 -F qcow2
cio "$C/enc-on-plain.qcow2" "$K1" -c 'write -P 0x62 1M 1M'
csame "chain: LUKS overlay on a plain base" crypt/enc-on-plain.qcow2 - "$K1" "$PW1"
cp "$C/xts-64k.qcow2" "$C/enc-base.qcow2"
qemu-img create -q -f qcow2 -b enc-base.qcow2 -F qcow2 "$C/plain-on-enc.qcow2" 12M
cio "$C/plain-on-enc.qcow2" "backing.$K1" -c 'write -P 0x63 2M 1M'
csame "chain: plain overlay on a LUKS base" crypt/plain-on-enc.qcow2 - \
	"backing.$K1" "$PW1"
retry qemu-img create -q -f qcow2 "${SECRETS[@]}" \
	-o encrypt.format=luks,encrypt.key-secret=s2,encrypt.iter-time=10 \
	-b enc-base.qcow2 -F qcow2 "$C/enc-on-enc.qcow2" 12M
cio "$C/enc-on-enc.qcow2" "encrypt.key-secret=s2,backing.$K1" -c 'write -P 0x64 3M 1M'
csame "chain: two LUKS layers with different passphrases" crypt/enc-on-enc.qcow2 - \
	"encrypt.key-secret=s2,backing.$K1" "--key-file $GC/pw1 --key-file $GC/pw2"

# The volume key in hex, for the check that it shows nowhere: cryptsetup
# dumps it from a copy of the LUKS header.
luks_offset() {	# FILE: where the crypto header extension puts the header
	local f=$1 off magic len
	off=$((16#$(peek_be32 "$f" 100)))
	for _ in $(seq 1 16); do
		magic=$(peek_be32 "$f" "$off")
		len=$((16#$(peek_be32 "$f" $((off + 4)))))
		if [ "$magic" = 0537be77 ]; then
			echo $((16#$(peek_be64 "$f" $((off + 8)))))
			return 0
		fi
		[ "$magic" = 00000000 ] && break
		off=$((off + 8 + (len + 7) / 8 * 8))
	done
	return 1
}
dd if="$C/xts-64k.qcow2" of="$WORK/luks-header" bs=4096 \
	skip=$(($(luks_offset "$C/xts-64k.qcow2") / 4096)) count=640 status=none
cryptsetup luksDump --dump-volume-key --batch-mode --key-file "$C/pw1" "$WORK/luks-header" |
	awk '/^MK dump:/ { f = 1; sub(/^MK dump:/, "") } f' | tr -d ' \t\n' > "$C/xts-64k.key"
[ "$(wc -c < "$C/xts-64k.key")" = 128 ] || {
	echo "make-images: cannot dump the volume key of xts-64k.qcow2" >&2
	exit 1
}
# ... in binary, for logon keys (keyctl padd), and a key that is not it
perl -e 'local $/; print pack("H*", <STDIN>)' < "$C/xts-64k.key" > "$C/xts-64k.vk"
head -c 64 /dev/urandom > "$C/wrong.vk"
rm -f "$WORK/luks-header"

# Damaged LUKS headers: the image does not parse, so qsnapctl asks the
# kernel without a key, and it refuses as QEMU does, in one line.
L=$(luks_offset "$C/xts-64k.qcow2")
E=$((16#$(peek_be32 "$C/xts-64k.qcow2" 100)))	# the crypto header extension
lcorrupt() {	# NAME FILE OFFSET HEX ERRNO DMESG
	cp "$C/xts-64k.qcow2" "$C/$2"
	poke "$C/$2" "$3" "$4"
	refuse "$1" "crypt/$2" s1 "$5" "$6"
}
lcorrupt "LUKS: damaged magic" bad-magic.qcow2 "$L" 58585858 "Invalid argument" "no LUKS header at offset"
lcorrupt "LUKS: version 2" luks2.qcow2 $((L + 6)) 0002 "Operation not supported" "LUKS version 2"
lcorrupt "LUKS: a key size of 2^32 - 1 bytes" huge-key.qcow2 $((L + 108)) ffffffff \
	"Invalid argument" "LUKS key size 4294967295"
lcorrupt "LUKS: a key slot's material past the header" slot-past.qcow2 \
	$((L + 208 + 7 * 48 + 40)) "$(be32 $((1 << 24)))" "Invalid argument" "LUKS key slot 7"
lcorrupt "LUKS: 3999 stripes" stripes.qcow2 $((L + 208 + 44)) "$(be32 3999)" \
	"Invalid argument" "LUKS key slot 0: 3999 stripes"
lcorrupt "LUKS: a volume key digest of zero iterations" mk-iter0.qcow2 $((L + 164)) 00000000 \
	"Invalid argument" "LUKS volume key digest iteration count is zero"
lcorrupt "LUKS: a volume key digest of 2^31 iterations" mk-iter31.qcow2 $((L + 164)) 80000000 \
	"Invalid argument" "LUKS volume key digest: 2147483648 PBKDF2 iterations (at most 67108864)"
lcorrupt "LUKS: a key slot of 2^31 iterations" slot-iter31.qcow2 $((L + 208 + 4)) 80000000 \
	"Invalid argument" "LUKS key slot 0: 2147483648 PBKDF2 iterations (at most 67108864)"
lcorrupt "LUKS: a cipher name with template syntax" template.qcow2 $((L + 8)) 6165732900 \
	"Invalid argument" "LUKS cipher name is not a cipher name"
lcorrupt "LUKS: header offset not cluster-aligned" unaligned.qcow2 $((E + 8)) \
	"$(be64 $((L + 512)))" "Invalid argument" "is not a multiple of the cluster size"
lcorrupt "LUKS: header past the end of the file" header-eof.qcow2 $((E + 16)) \
	"$(be64 $((1 << 40)))" "Invalid argument" "runs past the end of the file"
# A cipher the kernel has not got (anubis is in none of the guests): the
# ioctl test attaches it with its volume key.
cp "$C/xts-64k.qcow2" "$C/no-cipher.qcow2"
poke "$C/no-cipher.qcow2" $((L + 8)) 616e7562697300

# What qsnapctl refuses before asking the kernel.
toolrefuse "LUKS image without a passphrase" crypt/xts-64k.qcow2 s1 \
	"is encrypted (LUKS aes-xts-plain64): give its passphrase with --key-file"

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# qsnapctl mount: crash-consistent snapshots of ext4 and XFS (made by
# crashing a VM, tests/vm/crash-images.sh), against the oracle: the
# files a read-write mount of QEMU's export shows after its journal
# replay.  Two copies of one XFS and of one btrfs side by side, ext4,
# XFS, vfat, btrfs and NTFS on one GPT disk, the partition chosen or
# listed, a volume group inside a snapshot beside the guest's own of the
# same name, and the failures: a partition past the end, no file system,
# a mount point in use, an overlay too small.
# umount must leave nothing: no qsnap device, no device-mapper device,
# no loop device.

# manifest DIR: every file under DIR with its sha256, sorted
manifest() {
	(cd "$1" && find . -type f | sort | while read -r f; do
		echo "$(sha256sum < "$f" | cut -d' ' -f1) $f"; done)
}

# shows DIR WANT [DEV PATTERN]: DIR holds exactly the files of manifest
# WANT (not empty), and DEV matches PATTERN
shows() {
	[ -n "$2" ] && [ "$(manifest "$1")" = "$2" ] || return 1
	[ $# -lt 4 ] && return 0
	case $3 in $4) ;; *) return 1;; esac
}

# leftovers: what a qsnapctl mount may leave behind, "" if nothing
leftovers() {
	[ -e /dev/qsnap-control ] && qsnapctl list | tail -n +2
	dmsetup ls 2>/dev/null | grep -v '^No devices found' | grep qsnap
	grep -l memfd:qsnap-overlay /sys/block/loop*/loop/backing_file 2>/dev/null
}

# settled: true once nothing is left (detaches run after the last close)
settled() {
	_i=0
	while [ -n "$(leftovers)" ]; do
		[ $_i -ge 100 ] && return 1
		sleep 0.1
		_i=$((_i + 1))
	done
}

# oracle IMAGE: the manifest of snapshot "crash" of IMAGE after a
# read-write mount (journal replay) of QEMU's export of it
oracle() {
	cp "$1" /tmp/oracle.qcow2
	qemu-img snapshot -a crash /tmp/oracle.qcow2 &&
	qemu-img convert -f qcow2 -O raw /tmp/oracle.qcow2 /tmp/oracle.raw || return 1
	rm -f /tmp/oracle.qcow2
	_loop=$(losetup -f) && losetup "$_loop" /tmp/oracle.raw || return 1
	mkdir -p /mnt/oracle
	mount "$_loop" /mnt/oracle || { losetup -d "$_loop"; return 1; }
	manifest /mnt/oracle
	umount /mnt/oracle
	losetup -d "$_loop"
	rm -f /tmp/oracle.raw
}

# mount_crash FSTYPE: the crash-consistent snapshot (a VM crashed with
# sysrq b, tests/vm/crash-images.sh) mounted, as the guest would see it
# after a reboot; --no-overlay too.
mount_crash() {
	_fs=$1 img=/tmp/crash-$1.qcow2
	cp $D/img/crash-$_fs.qcow2 "$img"
	want=$(oracle "$img")
	check "$_fs: the crashed VM's synced files are in the oracle's replayed copy" \
		"$want" sh -c "echo '$want' | grep -q ' ./etc/app.conf\$' &&
			       echo '$want' | grep -q ' ./var/synced.bin\$'"
	before=$(sha_of "$img")
	dev=$(qs_attach "$img" crash)
	mkdir -p /mnt/snap /mnt/snap2
	if mount -t "$_fs" -o ro "$dev" /mnt/snap 2>/tmp/err; then
		fail "$_fs: plain mount -o ro of the snapshot is refused (the journal needs replay)" \
			"it mounted"
		umount /mnt/snap
	else
		pass "$_fs: plain mount -o ro of the snapshot is refused (the journal needs replay)"
	fi
	qsnapctl detach "$dev"
	if out=$(qsnapctl mount "$img" --snapshot crash /mnt/snap 2>/tmp/err); then
		got=$(manifest /mnt/snap)
		check "$_fs: qsnapctl mount shows exactly the files a replayed read-write mount of a raw copy shows" \
			"got: $got; want: $want" sh -c "[ -n '$want' ] && [ '$got' = '$want' ]"
		check "$_fs: ... printed the overlay device, mounted read-only" \
			"$out; $(grep ' /mnt/snap ' /proc/mounts)" \
			sh -c "case '$out' in /dev/mapper/qsnap*-overlay) ;; *) exit 1;; esac &&
			       grep -q ' /mnt/snap $_fs ro,' /proc/mounts"
		if [ "$_fs" = xfs ]; then
			if qsnapctl mount "$img" --snapshot crash /mnt/snap2 > /dev/null 2>/tmp/err2; then
				check "xfs: a second copy of the same file system mounts beside it (nouuid)" \
					"" shows /mnt/snap2 "$got"
				umount /mnt/snap2
			else
				fail "xfs: a second copy of the same file system mounts beside it (nouuid)" \
					"$(cat /tmp/err2)"
			fi
		fi
		umount /mnt/snap
		check "$_fs: umount leaves no qsnap, device-mapper or loop device" \
			"$(leftovers)" settled
	else
		fail "$_fs: qsnapctl mount" "$(cat /tmp/err)"
		qsnapctl detach --all
	fi
	if qsnapctl mount "$img" --snapshot crash --no-overlay /mnt/snap > /dev/null 2>/tmp/err; then
		check "$_fs: --no-overlay mounts the read-only device and says recent writes may be missing" \
			"$(cat /tmp/err)" grep -q 'may be missing' /tmp/err
		umount /mnt/snap
		check "$_fs: ... and umount leaves nothing" "$(leftovers)" settled
	else
		fail "$_fs: --no-overlay mounts" "$(cat /tmp/err)"
		qsnapctl detach --all
	fi
	# An overlay too small for the journal replay: the mount fails, and
	# nothing is left.
	qsnapctl mount "$img" --snapshot crash --overlay-size 4K /mnt/snap > /dev/null 2>/tmp/err
	rc=$?
	grep -q ' /mnt/snap ' /proc/mounts && umount /mnt/snap
	settled
	left=$?
	check "$_fs: an overlay too small for the replay (4 KiB): exit 1, nothing left" \
		"exit $rc: $(cat /tmp/err); left: $(leftovers)" [ "$rc$left" = 10 ]
	check "$_fs: the image is unchanged" "" [ "$(sha_of "$img")" = "$before" ]
	rm -f "$img"
}

# Two ext4 partitions: without --partition the choice is listed.
mount_partitions() {
	img=/tmp/two.qcow2
	rm -f /tmp/two.raw "$img"
	truncate -s 64M /tmp/two.raw
	printf 'label: dos\n,24M,L\n,24M,L\n' | sfdisk -q /tmp/two.raw > /dev/null
	_loop=$(losetup -f)
	losetup -P "$_loop" /tmp/two.raw
	mkfs.ext4 -q -L first "${_loop}p1" && mkfs.ext4 -q -L second "${_loop}p2"
	mkdir -p /mnt/cc
	mount "${_loop}p2" /mnt/cc && echo second > /mnt/cc/marker && umount /mnt/cc
	losetup -d "$_loop"
	qemu-img convert -f raw -O qcow2 /tmp/two.raw "$img"
	rm -f /tmp/two.raw
	qsnapctl mount "$img" /mnt/snap > /dev/null 2>/tmp/err
	rc=$?
	check "two file systems, no --partition: exit 1, both listed with their labels" \
		"exit $rc: $(cat /tmp/err)" \
		sh -c "[ $rc = 1 ] && grep -q 'choose one with --partition' /tmp/err &&
		       grep -q 'p1 .*ext4 .*first' /tmp/err && grep -q 'p2 .*ext4 .*second' /tmp/err"
	check "... and nothing is left attached" "$(leftovers)" [ -z "$(leftovers)" ]
	if qsnapctl mount "$img" --partition 2 /mnt/snap > /dev/null 2>/tmp/err; then
		check "--partition 2 mounts the second" "$(ls /mnt/snap)" \
			sh -c "[ \"\$(cat /mnt/snap/marker)\" = second ]"
		umount /mnt/snap
		settled
	else
		fail "--partition 2 mounts the second" "$(cat /tmp/err)"
	fi
	expect_exit 1 "no partition 9" qsnapctl mount "$img" --partition 9 /mnt/snap
	check "... and nothing is left attached" "$(leftovers)" [ -z "$(leftovers)" ]
	rm -f "$img"
}

# lvm_image RAW: a disk whose partition 1 is ext4 ("boot") and whose
# partition 2 is the physical volume of volume group vg0, with logical
# volumes root and data (ext4) and swap; the manifest of each file
# system in /tmp/want-LV.
lvm_image() {
	truncate -s 96M "$1"
	printf 'label: dos\n,16M,L\n,,8e\n' | sfdisk -q "$1" > /dev/null
	_loop=$(losetup -f) && losetup -P "$_loop" "$1" || return 1
	mkfs.ext4 -q -L boot "${_loop}p1" &&
	lvm pvcreate -q "${_loop}p2" > /dev/null 2>>/tmp/lvm.err &&
	lvm vgcreate -q vg0 "${_loop}p2" > /dev/null 2>>/tmp/lvm.err &&
	lvm lvcreate -q -n root -L 32M vg0 > /dev/null 2>>/tmp/lvm.err &&
	lvm lvcreate -q -n data -L 24M vg0 > /dev/null 2>>/tmp/lvm.err &&
	lvm lvcreate -q -n swap -L 8M vg0 > /dev/null 2>>/tmp/lvm.err &&
	mkswap /dev/mapper/vg0-swap > /dev/null || return 1
	for _lv in root data; do
		mkfs.ext4 -q -L $_lv /dev/mapper/vg0-$_lv &&
		mount /dev/mapper/vg0-$_lv /mnt/cc || return 1
		echo "the snapshot's $_lv" > /mnt/cc/marker
		head -c 200000 /dev/urandom > /mnt/cc/$_lv.bin
		manifest /mnt/cc > /tmp/want-$_lv
		umount /mnt/cc
	done
	lvm vgchange -q -an vg0 > /dev/null 2>>/tmp/lvm.err && losetup -d "$_loop"
}

# A volume group inside a snapshot while the guest has an active volume
# group of the same name: the snapshot's is renamed in the overlay, the
# guest's is not touched, umount leaves nothing.
mount_lvm() {
	img=/tmp/lvm.qcow2
	# No udev here: LVM makes its device nodes itself, as in an initramfs.
	mkdir -p /mnt/cc /etc/lvm
	printf 'activation {\n\tudev_sync = 0\n\tudev_rules = 0\n}\n' > /etc/lvm/lvm.conf
	rm -f /tmp/lvm.raw /tmp/vg0.raw /tmp/lvm.err "$img"
	if ! lvm_image /tmp/lvm.raw 2>/tmp/err; then
		fail "lvm: image with volume group vg0 made" "$(cat /tmp/err /tmp/lvm.err)"
		return
	fi
	want_root=$(cat /tmp/want-root)
	want_data=$(cat /tmp/want-data)
	qemu-img convert -f raw -O qcow2 /tmp/lvm.raw "$img" &&
	qemu-img snapshot -c lvm "$img" &&
	qemu-io -c 'write -P 0x55 0 2M' "$img" > /dev/null
	rm -f /tmp/lvm.raw
	before=$(sha_of "$img")
	# The guest's own vg0, active and mounted.
	truncate -s 32M /tmp/vg0.raw
	gloop=$(losetup -f) && losetup "$gloop" /tmp/vg0.raw
	lvm pvcreate -q "$gloop" > /dev/null 2>>/tmp/lvm.err && lvm vgcreate -q vg0 "$gloop" > /dev/null 2>>/tmp/lvm.err &&
	lvm lvcreate -q -n root -L 16M vg0 > /dev/null 2>>/tmp/lvm.err &&
	mkfs.ext4 -q -L guest /dev/mapper/vg0-root && mkdir -p /mnt/guest &&
	mount /dev/mapper/vg0-root /mnt/guest && echo "the guest's root" > /mnt/guest/marker
	guest_table=$(dmsetup table vg0-root)
	guest_uuid=$(dmsetup info -c --noheadings -o uuid vg0-root)

	qsnapctl mount "$img" --snapshot lvm /mnt/snap > /dev/null 2>/tmp/err
	rc=$?
	check "lvm: no --partition on a disk with a file system and a physical volume: exit 1, both listed" \
		"exit $rc: $(cat /tmp/err)" \
		sh -c "[ $rc = 1 ] && grep -q 'VG/LV for a logical volume' /tmp/err &&
		       grep -q 'p1 .*ext4 .*boot' /tmp/err && grep -q 'p2 .*LVM2_member' /tmp/err"
	qsnapctl mount "$img" --snapshot lvm --partition 2 /mnt/snap > /dev/null 2>/tmp/err
	rc=$?
	check "lvm: --partition 2, two logical volumes with a file system: exit 1, listed as VG/LV" \
		"exit $rc: $(cat /tmp/err)" \
		sh -c "[ $rc = 1 ] && grep -q 'choose one with --partition VG/LV' /tmp/err &&
		       grep -q 'vg0/root .*ext4 .*root' /tmp/err && grep -q 'vg0/data .*ext4 .*data' /tmp/err &&
		       grep -q 'vg0/swap .*swap' /tmp/err"
	check "... and nothing is left: no qsnap device, overlay or logical volume" \
		"$(leftovers)" settled
	if out=$(qsnapctl mount "$img" --snapshot lvm --partition vg0/root /mnt/snap 2>/tmp/err); then
		check "lvm: --partition vg0/root mounts the snapshot's root, renamed (qsnapN_vg0)" \
			"$out: $(cat /tmp/err); got $(manifest /mnt/snap); want $want_root" \
			shows /mnt/snap "$want_root" "$out" "/dev/mapper/qsnap*_vg0-root"
		if qsnapctl mount "$img" --snapshot lvm --partition vg0/data /mnt/snap2 > /dev/null 2>/tmp/err; then
			check "lvm: ... and vg0/data beside it, from a second copy" \
				"got $(manifest /mnt/snap2); want $want_data" \
				shows /mnt/snap2 "$want_data"
			umount /mnt/snap2
		else
			fail "lvm: ... and vg0/data beside it, from a second copy" "$(cat /tmp/err)"
		fi
		check "lvm: the guest's own vg0 is untouched while they are mounted" \
			"$(dmsetup table vg0-root); $(cat /mnt/guest/marker)" \
			sh -c "[ \"\$(dmsetup table vg0-root)\" = '$guest_table' ] &&
			       [ \"\$(dmsetup info -c --noheadings -o uuid vg0-root)\" = '$guest_uuid' ] &&
			       grep -q \"the guest's root\" /mnt/guest/marker"
		umount /mnt/snap
		check "lvm: umount leaves no qsnap device, overlay or logical volume of the snapshot" \
			"$(leftovers)" settled
	else
		fail "lvm: --partition vg0/root mounts the snapshot's root" "$(cat /tmp/err)"
		qsnapctl detach --all
	fi
	expect_exit 1 "cannot be mounted with --no-overlay" \
		qsnapctl mount "$img" --snapshot lvm --partition vg0/root --no-overlay /mnt/snap
	expect_exit 1 "no volume group nope" \
		qsnapctl mount "$img" --snapshot lvm --partition nope/root /mnt/snap
	expect_exit 1 "no file system qsnapctl can mount on vg0/swap" \
		qsnapctl mount "$img" --snapshot lvm --partition vg0/swap /mnt/snap
	expect_exit 1 "no logical volume vg0/nope" \
		qsnapctl mount "$img" --snapshot lvm --partition vg0/nope /mnt/snap
	check "lvm: ... and the failures leave nothing" "$(leftovers)" settled
	check "lvm: the guest's vg0 is still active and mounted, only it" \
		"$(dmsetup ls)" \
		sh -c "[ \"\$(dmsetup table vg0-root)\" = '$guest_table' ] &&
		       grep -q ' /mnt/guest ' /proc/mounts"
	check "lvm: the image is unchanged" "" [ "$(sha_of "$img")" = "$before" ]
	umount /mnt/guest
	lvm vgchange -q -an vg0 > /dev/null 2>>/tmp/lvm.err
	losetup -d "$gloop"
	rm -f "$img" /tmp/vg0.raw /tmp/want-root /tmp/want-data
}

# gpt_image RAW: a GPT disk with ext4, XFS, vfat, btrfs and NTFS
# partitions (1 to 5), labelled g<type>, each with a few files; their
# manifests in /tmp/want-pN.
gpt_image() {
	truncate -s 500M "$1"
	printf 'label: gpt\n,16M,L\n,320M,L\n,16M,L\n,128M,L\n,,L\n' |
		sfdisk -q "$1" > /dev/null || return 1
	_loop=$(losetup -f) && losetup -P "$_loop" "$1" || return 1
	mkfs.ext4 -q -L gext4 "${_loop}p1" && mkfs.xfs -q -L gxfs "${_loop}p2" &&
	mkfs.fat -n GVFAT "${_loop}p3" > /dev/null &&
	mkfs.btrfs -q -L gbtrfs "${_loop}p4" > /dev/null &&
	mkntfs -q -Q -L gntfs "${_loop}p5" > /dev/null || return 1
	echo "partition 5" > /tmp/marker
	head -c 150000 /dev/urandom > /tmp/data.bin
	# NTFS written with ntfs-3g's ntfscp: no driver needed to make it.
	ntfscp -q "${_loop}p5" /tmp/marker marker && ntfscp -q "${_loop}p5" /tmp/data.bin data.bin || return 1
	(cd /tmp && printf '%s ./data.bin\n%s ./marker\n' \
		"$(sha256sum < data.bin | cut -d' ' -f1)" "$(sha256sum < marker | cut -d' ' -f1)") > /tmp/want-p5
	mv /tmp/marker /tmp/want-marker5
	rm -f /tmp/data.bin
	for _p in 1 2 3 4; do
		mount "${_loop}p$_p" /mnt/cc || return 1
		echo "partition $_p" > /mnt/cc/marker
		mkdir /mnt/cc/sub && head -c 150000 /dev/urandom > /mnt/cc/sub/data.bin
		manifest /mnt/cc > /tmp/want-p$_p
		umount /mnt/cc
	done
	losetup -d "$_loop"
}

# ntfs_snapshot RAW IMAGE NAME: how Windows leaves an NTFS it hibernated
# (NAME hibernated: hiberfil.sys starting "hibr") or that chkdsk is to
# check (NAME dirty: ntfsfix sets the dirty flag, as Windows does after a
# crash) made of RAW's NTFS (partition 5), that partition copied into
# IMAGE's current state, and snapshot NAME taken.
ntfs_snapshot() {
	_loop=$(losetup -f) && losetup -P "$_loop" "$1" || return 1
	_p=/sys/block/${_loop#/dev/}/${_loop#/dev/}p5
	case $3 in
	hibernated)
		{ printf HIBR; head -c 4092 /dev/zero; } > /tmp/hiberfil.sys
		# -f: ntfscp refuses a volume marked dirty otherwise.  Its
		# "WARNING: Dirty volume mount was forced" would read as a
		# kernel complaint on the console.
		ntfscp -q -f "${_loop}p5" /tmp/hiberfil.sys hiberfil.sys > /tmp/ntfscp.err 2>&1
		_rc=$?
		[ $_rc = 0 ] || cat /tmp/ntfscp.err >&2
		rm -f /tmp/hiberfil.sys ;;
	dirty)
		ntfsfix "${_loop}p5" > /dev/null &&
			ntfsinfo -f -m "${_loop}p5" 2>/dev/null | grep -q 'Volume Flags: .*DIRTY'
		_rc=$? ;;
	esac
	[ $_rc = 0 ] && dd if="${_loop}p5" of=/tmp/p5.raw bs=1M 2>/dev/null
	_rc=$?
	_start=$(($(cat $_p/start) * 512)) _size=$(($(cat $_p/size) * 512))
	losetup -d "$_loop"
	[ $_rc = 0 ] && qemu-io -c "write -s /tmp/p5.raw $_start $_size" "$2" > /dev/null &&
		qemu-img snapshot -c "$3" "$2"
	_rc=$?
	rm -f /tmp/p5.raw
	return $_rc
}

# One file system of each kind on a GPT disk: listed, then each mounted
# by --partition; two copies of the btrfs side by side where the kernel
# mounts them (6.7 and later), a clear refusal before.
mount_gpt() {
	img=/tmp/gpt.qcow2
	mkdir -p /mnt/cc
	# Where the kernel has no ntfs3 (Debian's 6.1 cloud kernel),
	# libmount runs ntfs-3g as the mount helper.
	ln -sf "$(command -v ntfs-3g)" /sbin/mount.ntfs-3g
	rm -f /tmp/gpt.raw "$img"
	if ! gpt_image /tmp/gpt.raw 2>/tmp/err; then
		fail "gpt: disk with ext4, XFS, vfat, btrfs and NTFS made" "$(cat /tmp/err)"
		return
	fi
	qemu-img convert -f raw -O qcow2 /tmp/gpt.raw "$img" &&
	qemu-img snapshot -c gpt "$img" &&
	ntfs_snapshot /tmp/gpt.raw "$img" dirty &&
	ntfs_snapshot /tmp/gpt.raw "$img" hibernated &&
	qemu-io -c 'write -P 0x55 0 2M' "$img" > /dev/null ||
		fail "gpt: snapshots gpt, dirty and hibernated made" ""
	rm -f /tmp/gpt.raw
	before=$(sha_of "$img")
	qsnapctl mount "$img" --snapshot gpt /mnt/snap > /dev/null 2>/tmp/err
	rc=$?
	check "gpt: five file systems, no --partition: exit 1, each listed with type and label" \
		"exit $rc: $(cat /tmp/err)" \
		sh -c "[ $rc = 1 ] && grep -q 'p1 .*ext4 .*gext4' /tmp/err && grep -q 'p2 .*xfs .*gxfs' /tmp/err &&
		       grep -q 'p3 .*vfat .*GVFAT' /tmp/err && grep -q 'p4 .*btrfs .*gbtrfs' /tmp/err &&
		       grep -q 'p5 .*ntfs .*gntfs' /tmp/err"
	for p in 1 2 3 4 5; do
		t=$(echo "ext4 xfs vfat btrfs ntfs" | cut -d' ' -f$p)
		if qsnapctl mount "$img" --snapshot gpt --partition $p /mnt/snap > /dev/null 2>/tmp/err; then
			check "gpt: --partition $p mounts the $t file system read-only, every file as written" \
				"$(cat /tmp/err); got $(manifest /mnt/snap); want $(cat /tmp/want-p$p)" \
				shows /mnt/snap "$(cat /tmp/want-p$p)"
			check "gpt: ... read-only" "$(grep ' /mnt/snap ' /proc/mounts)" \
				grep -q ' /mnt/snap [^ ]* ro,' /proc/mounts
			if [ $t = ntfs ]; then
				check "gpt: ... with a note that NTFS's journal is not replayed" \
					"$(cat /tmp/err)" grep -q "journal is not replayed" /tmp/err
				check "gpt: ... and no word of hibernation or of a dirty volume" \
					"$(cat /tmp/err)" \
					sh -c "! grep -qE 'Windows was hibernated|marked dirty' /tmp/err"
				# The kernel's ntfs3 where it has one, else ntfs-3g.
				drv=fuseblk
				grep -qw ntfs3 /proc/filesystems && drv=ntfs3
				check "gpt: ... by $drv" "$(grep ' /mnt/snap ' /proc/mounts)" \
					grep -q " /mnt/snap $drv ro," /proc/mounts
			fi
			umount /mnt/snap
			check "gpt: ... umount leaves nothing" "$(leftovers)" settled
		else
			fail "gpt: --partition $p mounts the $t file system" "$(cat /tmp/err)"
			qsnapctl detach --all
		fi
	done
	# Windows hibernated in the snapshot, or its volume marked dirty:
	# read-only, with a note.  (The hibernated one is marked dirty too:
	# ntfsfix refuses a hibernated volume, so dirty is made first.)
	for s in dirty hibernated; do
		case $s in
		dirty)	note="marked dirty" what="an NTFS marked dirty" ;;
		*)	note="Windows was hibernated" what="a hibernated Windows" ;;
		esac
		if qsnapctl mount "$img" --snapshot $s --partition 5 /mnt/snap > /dev/null 2>/tmp/err; then
			check "ntfs: $what mounts read-only, saying so" \
				"$(cat /tmp/err); $(grep ' /mnt/snap ' /proc/mounts)" \
				sh -c "grep -q '$note' /tmp/err &&
				       grep -q ' /mnt/snap [^ ]* ro,' /proc/mounts &&
				       cmp -s /mnt/snap/marker /tmp/want-marker5"
			umount /mnt/snap
		else
			fail "ntfs: $what mounts read-only" "$(cat /tmp/err)"
		fi
	done
	# Two copies of one btrfs: a temporary fsid for the second on 6.7+.
	qsnapctl mount "$img" --snapshot gpt --partition 4 /mnt/snap > /dev/null 2>&1
	qsnapctl mount "$img" --snapshot gpt --partition 4 /mnt/snap2 > /dev/null 2>/tmp/err
	rc=$?
	case $(uname -r) in
	[0-5].* | 6.[0-6].*)
		check "btrfs: a second copy is refused before 6.7, naming the clash" \
			"exit $rc: $(cat /tmp/err)" \
			sh -c "[ $rc = 1 ] && grep -q 'same UUID .* is mounted on /mnt/snap' /tmp/err" ;;
	*)
		check "btrfs: a second copy mounts beside the first (temporary fsid, 6.7+)" \
			"exit $rc: $(cat /tmp/err)" \
			shows /mnt/snap2 "$(cat /tmp/want-p4)" ;;
	esac
	grep -q ' /mnt/snap2 ' /proc/mounts && umount /mnt/snap2
	umount /mnt/snap
	if qsnapctl mount "$img" --snapshot gpt --partition 4 --no-overlay /mnt/snap > /dev/null 2>/tmp/err; then
		check "btrfs: --no-overlay mounts with rescue=nologreplay" \
			"$(grep ' /mnt/snap ' /proc/mounts)" \
			sh -c "grep ' /mnt/snap ' /proc/mounts | grep -q nologreplay"
		umount /mnt/snap
	else
		fail "btrfs: --no-overlay mounts" "$(cat /tmp/err)"
	fi
	check "gpt: ... and nothing is left" "$(leftovers)" settled
	check "gpt: the image is unchanged" "" [ "$(sha_of "$img")" = "$before" ]
	rm -f "$img" /tmp/want-p[1-5] /tmp/want-marker5
}

# attach --overlay: a writable device whose writes stay in memory; detach
# of it frees the qsnap device too.  Too many writes fail, the image
# untouched.
mount_attach_overlay() {
	cp $D/img/v3-64k.qcow2 /tmp/ov.qcow2
	before=$(sha_of /tmp/ov.qcow2)
	if ! dev=$(qsnapctl attach /tmp/ov.qcow2 --snapshot one --overlay=16M 2>/tmp/err); then
		fail "attach --overlay" "$(cat /tmp/err)"
		return
	fi
	head -c 4194304 /dev/urandom > /tmp/w
	ro=$(qs_attach /tmp/ov.qcow2 one)
	want=$( (cat /tmp/w; dd if="$ro" bs=1M skip=4 2>/dev/null) | sha256sum | cut -d' ' -f1)
	qsnapctl detach "$ro"
	dd if=/tmp/w of="$dev" bs=1M conv=fsync 2>/tmp/err
	check "attach --overlay: a writable /dev/mapper/qsnapN-overlay; reads what was written, the snapshot elsewhere" \
		"$dev: $(cat /tmp/err)" sh -c "case '$dev' in /dev/mapper/qsnap*-overlay) ;; *) exit 1;; esac &&
		[ \"\$(sha256sum < $dev | cut -d' ' -f1)\" = '$want' ]"
	qsnapctl detach "$dev"
	check "... detach of it leaves no qsnap, device-mapper or loop device" "$(leftovers)" settled
	if dev=$(qsnapctl attach /tmp/ov.qcow2 --snapshot one --overlay=1M 2>/tmp/err); then
		dd if=/dev/zero of="$dev" bs=1M count=8 conv=fsync 2>/tmp/err
		rc=$?
		check "attach --overlay=1M: 8 MiB of writes fail" "exit $rc: $(cat /tmp/err)" [ $rc != 0 ]
		qsnapctl detach "$dev"
		check "... and detach leaves nothing" "$(leftovers)" settled
	else
		fail "attach --overlay=1M" "$(cat /tmp/err)"
	fi
	check "attach --overlay: the image is unchanged" "" [ "$(sha_of /tmp/ov.qcow2)" = "$before" ]
	rm -f /tmp/ov.qcow2 /tmp/w
}

# qsnapctl mount while the module is not loaded: exit 1 saying so, and
# nothing mounted or left behind.
mount_no_module() {
	if ! rmmod qsnap; then
		fail "mount without the module: rmmod qsnap" "$(qsnapctl list)"
		return
	fi
	expect_exit 1 "is the qsnap module loaded?" \
		qsnapctl mount $D/img/ext4.qcow2 --snapshot fs1 /mnt/snap
	check "... nothing is mounted on /mnt/snap" "" \
		sh -c "! grep -q ' /mnt/snap ' /proc/mounts"
	check "... no device-mapper or loop device is left" "$(leftovers)" \
		[ -z "$(leftovers)" ]
	insmod /lib/modules/qsnap.ko
}

# mount_untrusted: an image's setuid programs and device nodes gain an
# unprivileged host user nothing (qsnapctl mounts nosuid,nodev, and -o
# cannot undo it); a file system type outside the list is refused unless
# named with -t; nothing is left behind by a refusal.
mount_untrusted() {
	rm -rf /tmp/evil
	mkdir -p /tmp/evil/tree
	cp /bin/print_euid /tmp/evil/tree/euid
	chmod 4755 /tmp/evil/tree/euid
	mknod -m 666 /tmp/evil/tree/blk b 7 7	# /dev/loop7
	mknod -m 666 /tmp/evil/tree/chr c 1 3	# /dev/null
	mkfs.ext4 -q -F -d /tmp/evil/tree /tmp/evil/fs.raw 16M > /dev/null 2>&1
	qemu-img convert -f raw -O qcow2 /tmp/evil/fs.raw /tmp/evil/evil.qcow2
	qemu-img snapshot -c s /tmp/evil/evil.qcow2
	if qsnapctl mount /tmp/evil/evil.qcow2 --snapshot s /mnt/snap > /dev/null 2>/tmp/err; then
		check "hostile image: mounted nosuid,nodev" "$(grep ' /mnt/snap ' /proc/mounts)" \
			sh -c "grep ' /mnt/snap ext4 ' /proc/mounts | grep -q ',nosuid,nodev,'"
		got=$(as_nobody --plain /mnt/snap/euid 2>&1)
		check "hostile image: its setuid-root program runs as nobody, not root" \
			"euid $got" [ "$got" = 65534 ]
		for node in blk:block chr:character; do
			check "hostile image: its 0666 ${node#*:} device node cannot be opened by nobody" "" \
				as_nobody --plain sh -c "! (exec 3< /mnt/snap/${node%%:*}) 2>/dev/null &&
					! (exec 3<> /mnt/snap/${node%%:*}) 2>/dev/null"
		done
		umount /mnt/snap
		check "... umount leaves nothing" "$(leftovers)" settled
	else
		fail "hostile image: qsnapctl mount" "$(cat /tmp/err)"
	fi
	for o in suid dev ro,suid; do
		expect_exit 1 "-o ${o#ro,}: qsnapctl mounts a snapshot nosuid,nodev" \
			qsnapctl mount /tmp/evil/evil.qcow2 --snapshot s -o $o /mnt/snap
	done
	check "... refused before anything is attached" "$(leftovers)" settled
	# A file system libblkid knows that is not on the list: a cramfs
	# superblock's magic is all it takes to be probed as one.
	dd if=/dev/zero of=/tmp/evil/cramfs.raw bs=1M count=4 2>/dev/null
	printf '\105\075\315\050' | dd of=/tmp/evil/cramfs.raw conv=notrunc 2>/dev/null
	qemu-img convert -f raw -O qcow2 /tmp/evil/cramfs.raw /tmp/evil/cramfs.qcow2
	expect_exit 1 "file system type cramfs is not one qsnapctl mounts from an image by itself" \
		qsnapctl mount /tmp/evil/cramfs.qcow2 /mnt/snap
	check "... nothing left behind" "$(leftovers)" settled
	qsnapctl mount -t cramfs /tmp/evil/cramfs.qcow2 /mnt/snap > /dev/null 2>/tmp/err
	check "... -t cramfs lets it through to the kernel (which then refuses the fake)" \
		"$(cat /tmp/err)" sh -c "! grep -q 'is not one qsnapctl mounts' /tmp/err &&
					 grep -q 'mount /dev/' /tmp/err"
	umount /mnt/snap 2>/dev/null
	check "... nothing left behind" "$(leftovers)" settled
	expect_exit 1 "the file system is cramfs, not xfs" \
		qsnapctl mount -t xfs /tmp/evil/cramfs.qcow2 /mnt/snap
	rm -rf /tmp/evil
}

# mount_interrupted: SIGINT or SIGTERM at any moment of a mount: it
# either completes (and umount undoes it) or leaves nothing behind, and an
# interrupted qsnapctl ends by the signal.
mount_interrupted() {
	_killed=0 _done=0 _bad=
	for _us in 0 20000 50000 100000 200000 300000 500000 800000 1200000; do
		for _sig in INT TERM; do
			qsnapctl mount $D/img/ext4.qcow2 --snapshot fs1 /mnt/snap \
				> /dev/null 2>/tmp/int.err &
			_p=$!
			usleep $_us
			kill -$_sig $_p 2> /dev/null
			wait $_p
			_rc=$?
			case $_rc in 130|143) _killed=$((_killed + 1)) ;; esac
			if grep -q ' /mnt/snap ' /proc/mounts; then
				_done=$((_done + 1))
				umount /mnt/snap
			fi
			settled || _bad="$_bad SIG$_sig after ${_us}us (exit $_rc): $(leftovers | tr '\n' ' ');"
			settled || { qsnapctl detach --all > /dev/null 2>&1
				     dmsetup remove_all > /dev/null 2>&1; }
		done
	done
	echo "# interrupted mounts: $_killed ended by the signal, $_done completed first"
	check "a mount interrupted at any step (SIGINT, SIGTERM; 18 moments) leaves nothing behind" \
		"$_bad" [ -z "$_bad" ]
	check "... and some of them were interrupted half-way (ended by the signal)" \
		"$_killed of 18" [ "$_killed" -gt 0 ]
}

suite_mount() {
	section "qsnapctl mount"
	mkdir -p /mnt/snap /mnt/snap2
	mount_crash ext4
	mount_lvm
	# The sanitizer kernel has device-mapper, loop and ext4 only: the
	# overlay's and the volume group's lifecycle is what it is here for.
	if [ "$QSNAP_PROFILE" = sanitizer ]; then
		check "failed mounts leave nothing attached" "$(leftovers)" settled
		return
	fi
	mount_untrusted
	mount_interrupted
	mount_attach_overlay
	mount_crash xfs
	mount_partitions
	mount_gpt
	# The only partition holding a file system is found by itself.
	if qsnapctl mount $D/img/parts-gpt.qcow2 --snapshot parts /mnt/snap > /dev/null 2>/tmp/err; then
		check "gpt, one ext4 partition of two: found without --partition, every file matches" \
			"" sh -c "cd /mnt/snap && sha256sum -c -s $D/img/fs1.sums"
		umount /mnt/snap
		settled
	else
		fail "gpt, one ext4 partition of two: found without --partition" "$(cat /tmp/err)"
	fi
	expect_exit 1 "no file system found" \
		qsnapctl mount $D/img/v3-64k.qcow2 --snapshot one /mnt/snap
	mkdir -p /mnt/busy
	mount -t tmpfs tmpfs /mnt/busy
	expect_exit 1 "/mnt/busy is a mount point already" \
		qsnapctl mount $D/img/ext4.qcow2 --snapshot fs1 /mnt/busy
	umount /mnt/busy
	check "failed mounts leave nothing attached" "$(leftovers)" settled
	mount_no_module
}

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The VM tier: for each pinned Debian cloud kernel (tests/kernels.conf),
# build qsnap.ko against its headers, boot it under QEMU with the test
# images on a virtio disk, run tests/vm/guest-tests.sh, and turn the
# console into TAP lines "ok N - [kernel] test".  A console with
# BUG:/WARNING:/Oops/Call Trace fails that kernel's "no kernel complaints"
# test.  The same for a sanitizer kernel built here (debug-guest.sh).
#
# Writes its TAP lines on stdout; exits 1 if any failed.
. "$(dirname "$0")/lib.sh"

# QSNAP_KERNELS (make check-vm KERNELS=...): the guests to run, by their
# names in tests/kernels.conf ("7.3", "6.1 debug"); all of them and the
# sanitizer kernel (debug) when empty.  A "full" kernel runs every suite
# and its install guest; a "compact" one the suites of COMPACT_SUITES,
# shorter (guest-tests.sh); of a "build" one the module and the test
# modules are built, and no guest boots.  QSNAP_SUITES (make check-vm SUITES=...): the
# kinds of tests the guests run, the names of tests/vm/suites/*.sh
# ("hostile,differential"); all when empty.
COMPACT_SUITES="differential ioctl lifecycle mount"
want_kernel() {
	[ -z "${QSNAP_KERNELS:-}" ] && return 0
	case " ${QSNAP_KERNELS//,/ } " in
	*" $1 "*) return 0 ;;
	esac
	return 1
}

# kernel_suites TIER: the suites a kernel of TIER runs, as VM_SUITES
# takes them ("" is every suite); "none" when SUITES leaves it nothing.
kernel_suites() {
	local want=${QSNAP_SUITES:-} s out=
	want=${want//,/ }
	if [ "$1" = full ]; then
		echo "$want"
		return
	fi
	[ "$1" = build ] && { echo build; return; }
	for s in $COMPACT_SUITES; do
		case " $want " in
		"  "|*" $s "*) out+="$s " ;;
		esac
	done
	echo "${out:-none}"
}

mkdir -p "$BUILD"
vm_log "making test images"
bash "$TOP/tests/images/make-images.sh" "$BUILD/images"
vm_build_guest_tools > /dev/null

. "$TOP/tests/tap.sh"
# Results per kind of test (the guests' "section:" lines; builds, guest
# runs and console checks are "builds and consoles"), summed over kernels.
declare -A kind_ok kind_failed
kinds=()
kind="builds and consoles"
emit() {	# OK(0/1) TEXT
	if [ -z "${kind_ok[$kind]+set}" ]; then
		kinds+=("$kind")
		kind_ok[$kind]=0
		kind_failed[$kind]=0
	fi
	tap_emit "$1" "$2"
	if [ "$1" = 0 ]; then
		kind_ok[$kind]=$((kind_ok[$kind] + 1))
	else
		kind_failed[$kind]=$((kind_failed[$kind] + 1))
	fi
}

# The crash-consistent images of the mount suite: file systems written
# to in a VM that is then crashed (sysrq b), made with the newest kernel.
vm_log "making crash-consistent images (a VM crashed with sysrq b)"
# (set -e: a failure is counted, not the end of the tier)
rc=0
bash "$TOP/tests/vm/crash-images.sh" "$(vm_kernels | tail -n 1)" "$BUILD/images/img" \
	2> "$BUILD/crash-images.log" || rc=$?
emit $rc "crash-consistent ext4 and XFS images made by crashing a VM"
[ -s "$BUILD/crash-images.log" ] && sed 's/^/# /' "$BUILD/crash-images.log"
vm_data_disk "$BUILD/images" "$BUILD/data.ext4"

# The sanitizer kernel takes six minutes of both cores to build (when not
# cached): it builds while the modules are built and the first guests run,
# and its guest waits for it (debug_job).  Not beside the image making
# and the crash VM, whose QEMU timings (PBKDF2, the crash guest's bound)
# a loaded machine can upset.
DEBUG=$BUILD/debug
if want_kernel debug; then
	mkdir -p "$DEBUG"
	rm -f "$DEBUG"/*.rc
	(
		kstart=$SECONDS
		rc=0
		bash "$TOP/tests/vm/debug-kernel.sh" > "$DEBUG/kernel.tree" \
			2> "$DEBUG/kernel.log" || rc=$?
		echo $((SECONDS - kstart)) > "$DEBUG/kernel.seconds"
		echo $rc > "$DEBUG/kernel.rc"
	) &
fi

# The guests boot two at a time (run_queue): a guest keeps about one of
# the two cores busy, so two side by side take little longer than one.
# guest_queue makes a guest's initramfs and queues its boot; after the
# queue has run, guest_report turns its console into TAP lines, in the
# order the guests were queued.
QUEUE=()

# guest_queue LABEL KREL KO SCRIPT [TAG]: TAG names its initramfs and
# console log apart from another guest's of KREL.  The VM_* settings of
# vm_run in force now are the boot's.  VM_TIMEOUT bounds the guest
# (seconds; the sanitizer kernel's takes ~36 minutes here).
VM_BOOT_VARS="VM_KERNEL VM_APPEND VM_DEBUG_APPEND VM_TIMEOUT VM_MEM"
guest_queue() {
	local label=$1 krel=$2 ko=$3 script=$4 tag=${5:-} v
	vm_initramfs "$krel" "$ko" "$script" "$BUILD/$krel/initrd$tag.gz"
	for v in $VM_BOOT_VARS; do
		[ -z "${!v+set}" ] || declare -p "$v"
	done > "$BUILD/$krel/boot$tag.env"
	QUEUE+=("guest_boot '$label' '$krel' '$tag'")
}

# guest_boot LABEL KREL TAG: boot a queued guest (once more if it never
# reached /init); its console, its seconds and a note on a second boot.
# The data disk is read-only to QEMU, so that two guests share it.
guest_boot() {
	local label=$1 krel=$2 tag=$3 log=$BUILD/$2/console$3.log start v
	for v in $VM_BOOT_VARS; do
		unset "$v"
	done
	. "$BUILD/$krel/boot$tag.env"
	rm -f "$log.note"
	vm_log "$label: booting (console: $log)"
	start=$(date +%s)
	if ! VM_DISK_OPTS=readonly=on vm_run "$krel" "$BUILD/$krel/initrd$tag.gz" \
		    "$BUILD/data.ext4" "$log" "${VM_TIMEOUT:-2400}"; then
		# Before /init, no qsnap code has run: boot once more, and
		# keep the failed boot's console for a look.
		mv "$log" "$log.noboot"
		echo "# $label: the kernel did not reach /init (console: $log.noboot); booting it again" \
			> "$log.note"
		VM_DISK_OPTS=readonly=on vm_run "$krel" "$BUILD/$krel/initrd$tag.gz" \
			"$BUILD/data.ext4" "$log" "${VM_TIMEOUT:-2400}" || true
	fi
	echo $(( $(date +%s) - start )) > "$log.seconds"
	vm_log "$label: guest ran $(cat "$log.seconds") s"
}

# run_queue: the queued jobs, two at a time, each job once, in order.
run_queue() {
	local taken=$BUILD/queue-taken
	rm -rf "$taken"
	mkdir -p "$taken"
	worker() {
		local i
		for i in "${!QUEUE[@]}"; do
			mkdir "$taken/$i" 2> /dev/null || continue
			eval "${QUEUE[$i]}" || true
		done
	}
	worker &
	worker &
	wait
}

# guest_report LABEL KREL [TAG]: a booted guest's console as TAP lines.
guest_report() {
	local label=$1 krel=$2 tag=${3:-} log line complaints suite t0 t1 rc
	log=$BUILD/$krel/console$tag.log
	[ -f "$log.note" ] && cat "$log.note"
	echo "# time: [$label] guest: $(cat "$log.seconds" 2> /dev/null || echo '?') s"

	local outer=$kind
	kind="other guest tests"
	while IFS= read -r line; do
		case $line in
		"ok "*)
			emit 0 "[$label] ${line#ok*- }" ;;
		"not ok "*)
			emit 1 "[$label] ${line#not ok*- }" ;;
		"section: "*)
			kind=${line#section: } ;;
		"time: "*)
			read -r _ suite t0 t1 <<< "$line"
			echo "# time: [$label] suite $suite: $((t1 - t0)) s" ;;
		esac
	done < <(grep -aE '^((not )?ok( [0-9]+)? - |section: |time: [a-z]+ [0-9]+ [0-9]+$)' "$log" 2> /dev/null)
	kind=$outer

	rc=0
	grep -aq '^guest: done' "$log" 2> /dev/null || rc=1
	emit $rc "[$label] the guest ran to the end"
	if complaints=$(vm_console_complaints "$log"); then
		echo "$complaints" | head -n 20 | sed 's/^/# /'
		# The first report whole, so that a CI log alone shows where
		# the kernel was (the console stays in the build tree).
		echo "# the first report, from console line ${complaints%%:*}:"
		sed -n "${complaints%%:*},+40p" "$log" | sed 's/^/#   /'
		emit 1 "[$label] no kernel complaints on the console"
	else
		emit 0 "[$label] no kernel complaints on the console"
	fi
}

# The install guest: make install and DKMS into private trees (for a
# kernel that builds in a root, DKMS runs there), then tests/vm/boot-guest.sh
# uses what they installed and boots from a snapshot; the booted root's
# "qsnap-boot:" lines are checked by install_report.
install_queue() {	# SHORT KREL
	local short=$1 krel=$2 dest=$BUILD/$2/destdir ko
	kind="install and boot"
	if ! ko=$(vm_install "$krel" "$dest" 2> "$BUILD/$krel/install.log"); then
		tail -n 20 "$BUILD/$krel/install.log" | sed 's/^/# /'
		emit 1 "[$short install] make install, dkms add/build/install"
		kind="builds and consoles"
		return
	fi
	emit 0 "[$short install] make install, dkms add/build/install"
	local params described rc=0
	params=$(cat "$TOP"/driver/*.c | grep -c '^module_param(')
	described=$(modinfo -F parm "$ko" | grep -cE '^[a-z0-9_]+:[A-Z].* \((uint|int|bool)\)$')
	[ "$params" -gt 0 ] && [ "$params" = "$described" ] || rc=1
	emit $rc "[$short install] modinfo describes every module parameter ($described of $params)"
	mkdir -p "$dest/etc" "$dest/lib/udev/rules.d"
	sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$TOP/dkms.conf" > "$dest/etc/qsnap-version"
	# The by-uuid links, which qsnap's rule must leave to real disks,
	# device-mapper's rules, and LVM's, which activate the volume groups
	# they find.
	local r
	for r in 60-persistent-storage 55-dm 60-persistent-storage-dm 56-lvm \
		 69-lvm 95-dm-notify; do
		cp "/lib/udev/rules.d/$r.rules" "$dest/lib/udev/rules.d/"
	done
	VM_EXTRA_TREE=$dest \
	VM_EXTRA_MODULES="overlay loop dm-mod dm-bufio dm-snapshot" \
	VM_EXTRA_BINS="/lib/systemd/systemd-udevd /bin/udevadm /bin/mount dmsetup modprobe lvm qemu-img" \
		guest_queue "$short install" "$krel" "$ko" \
			"$TOP/tests/vm/boot-guest.sh" -install
	kind="builds and consoles"
}

# check() of the install guest's boot from a snapshot: the "qsnap-boot:"
# lines of its console.
install_report() {	# SHORT KREL
	local short=$1 krel=$2 log=$BUILD/$2/console-install.log marker rc
	[ -f "$BUILD/$krel/boot-install.env" ] || return 0	# not queued
	kind="install and boot"
	guest_report "$short install" "$krel" -install
	marker=$(cat "$BUILD/images/boot-marker")
	rc=0
	grep -aq "^qsnap-boot: init from $marker\$" "$log" || rc=1
	emit $rc "[$short boot] booted into the snapshot's root (its marker, not the current state's)"
	case $short in
	6.1.*)	# boot-guest.sh: overlayfs on 6.1
		rc=0
		grep -aqE '^qsnap-boot: lower /dev/qsnap[0-9]+ ext4 ro$' "$log" || rc=1
		emit $rc "[$short boot] the root's lower layer is /dev/qsnapN, ext4, read-only"
		rc=0
		grep -aq '^qsnap-boot: root root overlay$' "$log" &&
			grep -aq '^qsnap-boot: root is writable (overlay)$' "$log" || rc=1
		emit $rc "[$short boot] / is an overlay and takes writes" ;;
	*)	# ... attach --overlay elsewhere
		rc=0
		grep -aqE '^qsnap-boot: root /dev/mapper/qsnap[0-9]+-overlay ext4$' "$log" &&
			grep -aq '^qsnap-boot: root is writable (overlay)$' "$log" || rc=1
		emit $rc "[$short boot] / is the writable device of attach --overlay and takes writes" ;;
	esac
	kind="builds and consoles"
}

NFS_UTILS=$CACHE/nfs-utils	# tests/vm/deps.sh unpacks it

# The sanitizer tier: a KASAN/kmemleak/lockdep/UBSAN 6.12 kernel built
# here (tests/vm/debug-kernel.sh), the hostile-image suite, the lifecycle
# races, the trust tests and 300 attach/detach cycles, then two kmemleak
# scans.  debug_job waits for the kernel built in the background since
# the start, builds the module and boots it, as the first job of the
# queue; debug_report says how it went.
debug_job() {
	local tree ko kmods
	while [ ! -f "$DEBUG/kernel.rc" ]; do
		sleep 2
	done
	[ "$(cat "$DEBUG/kernel.rc")" = 0 ] || return 0
	tree=$(cat "$DEBUG/kernel.tree")
	if ! ko=$(vm_build_module debug "$tree"); then
		echo 1 > "$DEBUG/module.rc"
		return
	fi
	echo 0 > "$DEBUG/module.rc"
	if kmods=$(vm_build_test_modules debug "$tree"); then
		echo 0 > "$DEBUG/kmod.rc"
	else
		echo 1 > "$DEBUG/kmod.rc"
	fi
	# KASAN finds what slub_debug=FZPU's red zones and poisoning find,
	# with the allocation and free stacks: both on every allocation only
	# cost time here (KFENCE keeps its default sampling).
	VM_SUITES=${QSNAP_SUITES:-} VM_PROFILE=sanitizer \
	VM_KERNEL=$tree/arch/x86/boot/bzImage VM_DEBUG_APPEND= \
	VM_APPEND="pci=noacpi kasan_multi_shot" VM_TIMEOUT=3000 \
	VM_EXTRA_BINS="jq qemu-io qemu-img sha256sum dmsetup sfdisk mkfs.ext4 lvm" \
	VM_TEST_MODULES=$kmods \
		guest_queue debug debug "$ko" "$TOP/tests/vm/debug-guest.sh"
	guest_boot debug debug ""
}

debug_report() {
	local rc
	rc=$(cat "$DEBUG/kernel.rc" 2> /dev/null || echo 1)
	[ "$rc" = 0 ] || tail -n 20 "$DEBUG/kernel.log" | sed 's/^/# /'
	[ "$rc" = 0 ] && echo "# time: [debug] sanitizer kernel (built or cached): $(cat "$DEBUG/kernel.seconds") s"
	emit "$rc" "[debug] sanitizer kernel builds (KASAN, kmemleak, lockdep, UBSAN)"
	[ "$rc" = 0 ] || return 0
	rc=$(cat "$DEBUG/module.rc" 2> /dev/null || echo 1)
	emit "$rc" "[debug] module builds without warnings"
	[ "$rc" = 0 ] || return 0
	emit "$(cat "$DEBUG/kmod.rc")" "[debug] test modules build without warnings"
	guest_report debug debug
}

# Build every kernel's module and queue its guests: the sanitizer kernel
# first (the longest), then the full kernels, then the compact ones.
want_kernel debug && QUEUE+=(debug_job)
queued=()
for tier_pass in full compact build; do
for name in $(kernels_names); do
	krel=$(kernel_field "$name" release)
	short=${krel%%-*}
	tier=$(kernel_field "$name" tier)
	[ "$tier" = "$tier_pass" ] || continue
	want_kernel "$name" || continue
	VM_SUITES=$(kernel_suites "$tier")
	[ "$VM_SUITES" = none ] && continue
	VM_PROFILE=$tier
	if ! ko=$(vm_build_module "$krel"); then
		emit 1 "[$short] module builds without warnings"
		continue
	fi
	emit 0 "[$short] module builds without warnings"
	rc=0
	kmods=$(vm_build_test_modules "$krel") || rc=1
	emit $rc "[$short] test modules build without warnings"
	[ "$tier" = build ] && continue
	# The mount suite makes file systems and volume groups on loop and
	# device-mapper devices, and qsnapctl mount puts its overlay on them.
	# (ntfs3 is not in Debian's 6.1 cloud kernel: ntfs-3g over fuse there)
	# The ciphers of encrypted images are modules too, and libcryptsetup
	# unlocks key slots of those OpenSSL lacks through AF_ALG.  The NFS
	# suite runs the kernel's NFS server and client over loopback.
	VM_EXTRA_MODULES="loop dm-mod dm-bufio dm-snapshot libcrc32c xfs
			  xor raid6_pq zstd_compress btrfs fat vfat nls_cp437
			  nls_ascii nls_utf8 nls_iso8859-1 ntfs3 fuse
			  authenc essiv xts gf128mul cryptd crypto_simd aesni-intel
			  af_alg algif_skcipher
			  cast_common cast5_generic serpent_generic twofish_common
			  twofish_generic
			  sunrpc grace auth_rpcgss nfs_acl lockd netfs fscache
			  dns_resolver nfs nfsv4 nfsd" \
	VM_TEST_MODULES=$kmods \
	VM_EXTRA_BINS="jq qemu-io qemu-img apparmor_parser sha256sum dmsetup sfdisk
		       mkfs.ext4 mkfs.xfs lvm mkfs.fat mkfs.btrfs mkntfs ntfscp ntfsfix ntfsinfo ntfs-3g
		       keyctl $NFS_UTILS/usr/sbin/rpc.nfsd $NFS_UTILS/usr/sbin/rpc.mountd
		       $NFS_UTILS/usr/sbin/exportfs $NFS_UTILS/sbin/mount.nfs" \
		guest_queue "$short" "$krel" "$ko" "$TOP/tests/vm/guest-tests.sh"
	rm -f "$BUILD/$krel/boot-install.env"
	if [ "$tier" = full ]; then
		install_queue "$short" "$krel"
	fi
	queued+=("$short $krel")
done
done

vm_log "booting ${#QUEUE[@]} guests, two at a time"
qstart=$SECONDS
run_queue
echo "# time: all guests, two at a time: $((SECONDS - qstart)) s"

for q in "${queued[@]}"; do
	read -r short krel <<< "$q"
	guest_report "$short" "$krel"
	install_report "$short" "$krel"
done
want_kernel debug && debug_report
for k in "${kinds[@]}"; do
	echo "# kind: $k: ${kind_ok[$k]} passed, ${kind_failed[$k]} failed"
done
tap_end

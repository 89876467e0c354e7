#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Helpers to build qsnap for a Debian cloud kernel and boot that kernel
# under QEMU (TCG) with a busybox initramfs.  Sourced by run-tests.sh and
# demo.sh.  Facts behind the flags: ../../../shared/vm-notes.md.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${QSNAP_CACHE:-/var/cache/qsnap}
BUILD=${QSNAP_BUILD:-$TOP/build}
. "$TOP/tests/module-tree.sh"
. "$TOP/tests/kernels.sh"
export QSNAP_CACHE=$CACHE

# Virtio modules in load order; those built into a kernel are skipped.
VIRTIO_MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk"

vm_log() { echo "vm: $*" >&2; }

# The pinned kernels' releases (tests/kernels.conf), oldest first.
vm_kernels() {
	local name
	for name in $(kernels_names); do
		kernel_field "$name" release
	done
}

# vm_make KREL [KDIR] MAKE-ARGS...: make for kernel KREL: against KDIR
# when it is given (a tree built here), else against KREL's headers, on
# the host or in its build root (tests/kernels.sh).
vm_make() {
	local krel=$1 kdir=$2
	shift 2
	if [ -n "$kdir" ]; then
		make -C "$kdir" "$@"
	else
		kernel_make "$(kernel_name "$krel")" -C "/lib/modules/$krel/build" "$@"
	fi
}

# Build qsnap.ko for kernel $1 (against KDIR $2, default its headers) in a
# private copy of the tree (kbuild writes next to the sources, and two
# kernels must not share objects).  Prints the path of the module.
vm_build_module() {
	local krel=$1 kdir=${2:-} dir=$BUILD/$1/src
	rm -rf "$dir"
	mkdir -p "$dir"
	copy_module_tree "$dir"
	vm_make "$krel" "$kdir" -s -j"$(nproc)" M="$dir" CONFIG_BLK_DEV_QSNAP=m \
		W=1 modules >&2 2> "$BUILD/$krel/build.log" || {
		cat "$BUILD/$krel/build.log" >&2
		return 1
	}
	if grep -E 'warning:|error:' "$BUILD/$krel/build.log" >&2; then
		vm_log "$krel: module build has warnings"
		return 1
	fi
	echo "$dir/driver/qsnap.ko"
}

# vm_build_test_modules KREL [KDIR]: tests/selftests/kmod/ built against
# KREL's headers (or KDIR); prints the modules' paths.
vm_build_test_modules() {
	local krel=$1 kdir=${2:-} dir=$BUILD/$1/kmod
	rm -rf "$dir"
	cp -r "$TOP/tests/selftests/kmod" "$dir"
	if ! vm_make "$krel" "$kdir" -s M="$dir" W=1 modules > "$BUILD/$krel/kmod.log" 2>&1 ||
	   grep -E 'warning:|error:' "$BUILD/$krel/kmod.log" >&2; then
		cat "$BUILD/$krel/kmod.log" >&2
		return 1
	fi
	ls "$dir"/*.ko
}

# Guest binaries: qsnapctl (with libmount and libblkid, which Debian ships
# as shared libraries only: vm_initramfs copies them), and the static
# tests: the ioctl test, the fault injection test, the parallel readers,
# as_nobody, print_euid, the diff checker.
vm_build_guest_tools() {
	local out=$BUILD/guest-bin
	mkdir -p "$out"
	make -s -C "$TOP/tools" OUT="$out/qsnapctl" >&2
	gcc -static -O2 -Wall -Wextra -I"$TOP/include/uapi" \
		-o "$out/qsnap_ioctl_test" "$TOP/tests/selftests/qsnap_ioctl_test.c"
	gcc -static -O2 -Wall -Wextra -I"$TOP/include/uapi" \
		-o "$out/qsnap_failnth" "$TOP/tests/selftests/qsnap_failnth.c"
	gcc -static -O2 -Wall -Wextra -pthread -o "$out/qsnap_readers" \
		"$TOP/tests/selftests/qsnap_readers.c"
	gcc -static -O2 -Wall -Wextra -o "$out/as_nobody" \
		"$TOP/tests/selftests/as_nobody.c"
	gcc -static -O2 -Wall -Wextra -o "$out/print_euid" \
		"$TOP/tests/selftests/print_euid.c"
	gcc -static -O2 -Wall -Wextra -o "$out/qsnap_diffcheck" \
		"$TOP/tests/selftests/qsnap_diffcheck.c"
	gcc -static -O2 -Wall -Wextra -o "$out/qsnap_killopen" \
		"$TOP/tests/selftests/qsnap_killopen.c"
	gcc -static -O2 -Wall -Wextra -I"$TOP/include/uapi" \
		-o "$out/qsnap_race" "$TOP/tests/selftests/qsnap_race.c"
	gcc -static -O2 -Wall -Wextra -I"$TOP/include/uapi" \
		-o "$out/qsnap_cycles" "$TOP/tests/selftests/qsnap_cycles.c"
	echo "$out"
}

# Copy the shared libraries binary $2 needs into root $1, at their paths.
vm_copy_libs() {
	local root=$1 lib
	for lib in $(ldd "$2" | awk '/=> \// { print $3 } /^\t\// { print $1 }'); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}

# Copy host binary $2 with the shared libraries it needs into root $1
# (at /usr/local/bin, libraries at their own paths).
vm_copy_binary() {
	local root=$1 bin
	bin=$(command -v "$2")
	mkdir -p "$root/usr/local/bin"
	cp "$bin" "$root/usr/local/bin/"
	vm_copy_libs "$root" "$bin"
}

# vm_install KREL DESTDIR: what an admin gets on kernel KREL, into DESTDIR
# (nothing of the host touched but DKMS's signing key, see docs/usage.md;
# for a kernel that builds in a root, DKMS runs there):
# "make install" from a copy of the tree (module in lib/modules/KREL/extra,
# qsnapctl in usr/local/sbin, man page, udev rule), then "dkms add, build,
# install" of the same tree in private DKMS trees.  Prints the path of the
# DKMS-built module (uncompressed).
vm_install() {
	local krel=$1 dest=$2 src=$BUILD/$1/install-src dk=$BUILD/$1/dkms ver
	local name
	name=$(kernel_name "$krel")
	rm -rf "$src" "$dest" "$dk"
	mkdir -p "$src" "$dest" "$dk/tree" "$dk/src" "$dk/inst/$krel"
	copy_module_tree "$src" Makefile tools
	# The module where the kernel's headers build (its suite's root for
	# 7.x), the tools on the host: the guests run the host's binaries.
	kernel_make "$name" -s -C "$src" install-module DESTDIR="$dest" \
		KVER="$krel" >&2 &&
	make -s -C "$src" install-tools DESTDIR="$dest" KVER="$krel" >&2 ||
		return 1
	depmod -b "$dest" "$krel"
	ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$TOP/dkms.conf")
	kernel_make "$name" -s -C "$src" clean-module \
		KDIR="/lib/modules/$krel/build" >&2
	# (DKMS 3.1 looks for the headers in the install tree unless told)
	local opts=(--dkmstree "$dk/tree" --sourcetree "$dk/src"
		    --installtree "$dk/inst"
		    --kernelsourcedir "/lib/modules/$krel/build")
	kernel_run "$name" dkms add "${opts[@]}" "$src" >&2 &&
	kernel_run "$name" dkms build "${opts[@]}" -m qsnap -v "$ver" -k "$krel" >&2 &&
	kernel_run "$name" dkms install "${opts[@]}" --no-depmod -m qsnap \
		-v "$ver" -k "$krel" >&2 ||
		return 1
	# DKMS compresses the module as the kernel's config asks (6.12: xz).
	local ko
	ko=$(find "$dk/inst/$krel" -name 'qsnap.ko*' | head -n 1)
	case $ko in
	*.ko.xz) xz -dc "$ko" > "$dk/qsnap.ko" ;;
	*.ko) cp "$ko" "$dk/qsnap.ko" ;;
	*) echo "vm_install: dkms installed no qsnap.ko" >&2; return 1 ;;
	esac
	echo "$dk/qsnap.ko"
}

# vm_add_module ROOT NAME: module NAME of the kernel (ROOT/.modules lists
# its files) into ROOT's /lib/modules, after the modules it depends on
# (modinfo's depends: they change between kernels, e.g. btrfs needs
# libblake2b since 7.0), each once, in ROOT/lib/modules/order.  A module
# the kernel does not have is built in, or not needed there.
vm_add_module() {
	local root=$1 m=$2 f d
	grep -qx "$m" "$root/lib/modules/order" 2> /dev/null && return 0
	f=$(grep -E "/(${m}|${m//_/-})\.ko(\.xz)?\$" "$root/.modules" | head -n 1 || true)
	[ -n "$f" ] || return 0
	for d in $(modinfo -F depends "$f" | tr ',' ' '); do
		vm_add_module "$root" "$d"
	done
	case "$f" in
	*.xz) xz -dc "$f" > "$root/lib/modules/$m.ko" ;;
	*) cp "$f" "$root/lib/modules/$m.ko" ;;
	esac
	echo "$m" >> "$root/lib/modules/order"
}

# vm_initramfs KREL QSNAP_KO GUEST_SCRIPT OUT
# A busybox initramfs: /init runs GUEST_SCRIPT after loading the virtio
# modules (qsnap.ko, at /lib/modules/qsnap.ko unless QSNAP_KO is "", is
# the script's to load), then powers off with reboot -f.  VM_EXTRA_MODULES
# names more modules of the kernel to load first (e.g. "loop nbd"),
# VM_EXTRA_BINS host programs to copy with their libraries (e.g. fio),
# VM_SUITES the kinds of tests the guest runs (tests/vm/suites/: "hostile
# differential", commas or blanks; all when empty), VM_PROFILE how much of
# each (full, or compact: guest-tests.sh).
# VM_EXTRA_TREE a directory to copy over the root.  If GUEST_SCRIPT mounts
# a root at /newroot, /init switches to it instead of powering off.
vm_initramfs() {
	local krel=$1 ko=$2 script=$3 out=$4 root m f
	local kdir=$CACHE/kernels/$krel/modules/kernel
	root=$(mktemp -d)
	chmod 755 "$root"	# mktemp's 0700 would lock non-root users out of /
	mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,mnt,data,lib/modules,etc}
	cp /bin/busybox "$root/bin/busybox"
	for m in $(/bin/busybox --list); do
		[ -e "$root/bin/$m" ] || ln -s busybox "$root/bin/$m"
	done
	if [ -d "$kdir" ]; then		# else a kernel with virtio built in
		find "$kdir" -name '*.ko' -o -name '*.ko.xz' > "$root/.modules"
		for m in $VIRTIO_MODULES ${VM_EXTRA_MODULES:-}; do
			vm_add_module "$root" "$m"
		done
		rm -f "$root/.modules"
	fi
	for f in ${VM_EXTRA_BINS:-}; do
		vm_copy_binary "$root" "$f"
	done
	for f in ${VM_TEST_MODULES:-}; do	# loaded by the tests themselves
		cp "$f" "$root/lib/modules/"
	done
	if [ -n "${VM_EXTRA_TREE:-}" ]; then	# a DESTDIR to lay over /
		cp -a "$VM_EXTRA_TREE/." "$root/"
		find "$VM_EXTRA_TREE" -type f -perm -u+x | while read -r f; do
			vm_copy_libs "$root" "$f"
		done
	fi
	[ -z "$ko" ] || cp "$ko" "$root/lib/modules/qsnap.ko"
	cp "$BUILD"/guest-bin/* "$root/bin/"
	vm_copy_libs "$root" "$BUILD/guest-bin/qsnapctl"	# libmount, libblkid
	cp "$TOP/tests/vm/guest-lib.sh" "$TOP/tests/vm/guest-manifest.sh" \
	   "$TOP/tests/vm/guest-lifecycle.sh" "$TOP/tests/vm/guest-cli.sh" \
	   "$TOP/tests/vm/guest-trust.sh" "$root/bin/"
	mkdir -p "$root/bin/suites"
	cp "$TOP"/tests/vm/suites/*.sh "$root/bin/suites/"
	# The kinds of tests to run, one per line; an empty file: all.
	local suites=${VM_SUITES:-}
	echo "${VM_PROFILE:-full}" > "$root/etc/qsnap-profile"
	: > "$root/etc/qsnap-suites"
	[ -z "$suites" ] || printf '%s\n' ${suites//,/ } > "$root/etc/qsnap-suites"
	cp "$script" "$root/bin/guest-main.sh"
	cat > "$root/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
echo 7 > /proc/sys/kernel/printk
for m in $(cat /lib/modules/order 2>/dev/null); do
	insmod /lib/modules/$m.ko || echo "guest: insmod $m failed"
done
echo "guest: kernel $(uname -r)"
sh /bin/guest-main.sh
echo "guest: done"
sync
if [ -x /newroot/sbin/init ]; then
	echo "guest: switch_root to /newroot"
	exec switch_root /newroot /sbin/init
fi
reboot -f
INIT
	chmod +x "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out"
	rm -rf "$root"
}

# vm_data_disk DIR OUT: an ext4 image holding DIR (no mount needed).
vm_data_disk() {
	local dir=$1 out=$2 kib
	kib=$(( $(du -sk --apparent-size "$dir" | cut -f1) * 2 + 65536 ))
	rm -f "$out"
	mke2fs -q -F -t ext4 -E root_owner=0:0 -d "$dir" "$out" "${kib}k"
}

# vm_run KREL INITRD DISK CONSOLE-LOG [TIMEOUT]: boot, wait for power-off.
# VM_KERNEL overrides the kernel image, VM_APPEND adds to its command line,
# VM_DEBUG_APPEND replaces the SLUB debug/KFENCE options, VM_MEM sets the
# memory (MiB, 2048), VM_EXTRA_DRIVES adds QEMU -drive options,
# VM_DISK_OPTS replaces DISK's cache=unsafe (readonly=on: guests share it).
vm_run() {
	local krel=$1 initrd=$2 disk=$3 log=$4 timeout=${5:-1200}
	local kernel=${VM_KERNEL:-$CACHE/kernels/$krel/vmlinuz}
	local append="console=ttyS0 panic=-1 loglevel=7"
	# Under TCG on a loaded 2-core host a vCPU thread can go unscheduled
	# for longer than RCU's 21 s stall limit: seen as a "self-detected
	# stall" in qemu-io clearing pages while two guests ran.  120 s keeps
	# a real stall reported, with the hung-task detector and the tests'
	# own time bounds behind it.
	append+=" rcupdate.rcu_cpu_stall_timeout=120"
	# The soft-lockup detector has the same blind spot: a vCPU thread
	# the host does not run for 22 s was reported as "soft lockup - CPU#0
	# stuck for 22s! [cp]" (cp copying a 4 MiB file in tmpfs).  60 (its
	# maximum) reports a CPU stuck for 120 s.
	append+=" watchdog_thresh=60"
	# SLUB debug and KFENCE are compiled into the 6.12 cloud kernel.  The
	# benchmark sets VM_DEBUG_APPEND to "" (they slow every allocation).
	append+=" ${VM_DEBUG_APPEND-slub_debug=FZPU kfence.sample_interval=1}"
	append+=" ${VM_APPEND:-}"
	local boot=${VM_BOOT_TIMEOUT:-300} waited=0 pid booted=yes
	timeout --foreground -k 10 "$timeout" \
	qemu-system-x86_64 -accel tcg,thread=multi -cpu max,-cx16 -smp 2 \
		-m "${VM_MEM:-2048}" -nographic -no-reboot -nodefaults -serial stdio \
		-kernel "$kernel" -initrd "$initrd" \
		-append "$append" \
		-drive "file=$disk,format=raw,if=virtio,${VM_DISK_OPTS:-cache=unsafe}" \
		${VM_EXTRA_DRIVES:-} \
		< /dev/null > "$log" 2>&1 &
	pid=$!
	# A kernel that never reaches /init is stopped after VM_BOOT_TIMEOUT
	# seconds, not after the whole run's bound (seen once: the sanitizer
	# kernel caught in KASAN reports from an interrupt 0.006 s into its
	# boot, long before any module, spinning until the timeout).
	# A kernel that reports a bug before /init will not get there either
	# (that sanitizer boot spun for the whole VM_BOOT_TIMEOUT): stopped at
	# once.
	while kill -0 "$pid" 2> /dev/null; do
		sleep 2
		waited=$((waited + 2))
		[ "$booted" = yes ] || continue
		grep -aq '^guest: kernel' "$log" && continue
		if [ "$waited" -ge "$boot" ] ||
		   grep -aqE 'BUG: |Kernel panic' "$log"; then
			booted=no
			kill "$pid" 2> /dev/null || true
		fi
	done
	wait "$pid" || true
	# The serial console's line ends, for grep.
	tr -d '\r' < "$log" > "$log.tmp" && mv "$log.tmp" "$log"
	[ "$booted" = yes ]
}

# Kernel complaints in a console log; prints them, true if any.
vm_console_complaints() {
	grep -nE 'BUG:|WARNING:|Oops|Call Trace|Kernel panic|general protection|KFENCE:|UBSAN:|KASAN:|INFO: task .* blocked' "$1"
}

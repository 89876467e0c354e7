#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Install what building and testing qsnap needs on a Debian 12 host, and
# the pinned kernels of tests/kernels.conf: their images unpacked into a
# private cache, their headers installed on the host (bookworm,
# bookworm-backports) or in a debootstrapped build root of their suite
# (trixie's gcc-14, sid's gcc-16).  Idempotent: a second run only checks.  Prints nothing on success but progress lines on stderr.
# Arguments: more packages to install (make bench adds fio).
# deps.sh --check installs nothing: it exits 1, naming what is missing and
# saying "run make deps", if a package or a kernel is not there.
#
# Outputs (under $QSNAP_CACHE, default /var/cache/qsnap):
#   kernels/<release>/vmlinuz          the guest kernel
#   kernels/<release>/modules/...      its /lib/modules/<release> tree
#   nfs-utils/...                      nfs-kernel-server and nfs-common
#                                      unpacked (not installed: no NFS
#                                      service on the host), for the guests
#   roots/<suite>/                     a build root (tests/kernels.sh)
# and /lib/modules/<release>/build is each kernel's KDIR, on the host or
# in its root.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${QSNAP_CACHE:-/var/cache/qsnap}
. "$TOP/tests/kernels.sh"
HOST_PKGS=(qemu-system-x86 qemu-utils busybox-static sparse make gcc libc6-dev
	   cpio xz-utils e2fsprogs kmod util-linux coreutils perl clang
	   flex bison bc libelf-dev libssl-dev dkms fdisk jq udev
	   apparmor	# apparmor_parser: a confined opener in the guests
	   pkg-config libblkid-dev libmount-dev	# qsnapctl mount
	   dmsetup xfsprogs	# the overlay, and XFS made in the guests
	   lvm2			# volume groups inside snapshots
	   btrfs-progs dosfstools ntfs-3g	# more file systems made in the guests
	   libcryptsetup-dev cryptsetup-bin keyutils	# encrypted images
	   debootstrap wget	# build roots for kernels newer than Debian 12's
	   libwrap0)		# rpc.mountd's library, for the guests' NFS server
BPO_LIST=/etc/apt/sources.list.d/qsnap-bookworm-backports.sources

log() { echo "deps: $*" >&2; }

as_root() {
	if [ "$(id -u)" -ne 0 ]; then
		log "needs root to install packages (run make check as root)"
		exit 1
	fi
}

have_backports() {
	grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/
}

apt_updated=
apt_update() {
	[ -n "$apt_updated" ] && return 0
	as_root
	if ! have_backports; then
		log "enabling bookworm-backports (for the 6.12 kernel) in $BPO_LIST"
		cat > "$BPO_LIST" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	fi
	log "apt-get update"
	apt-get update -qq >&2
	apt_updated=1
}

missing_pkgs() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q '^install ok installed$' || echo "$p"
	done
}

apt_install() {
	local -a miss
	mapfile -t miss < <(missing_pkgs "$@")
	[ ${#miss[@]} -eq 0 ] && return 0
	apt_update
	log "installing ${miss[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${miss[@]}" >&2
}

# unpack_kernel_tree ROOT RELEASE: the kernel and its modules from the
# unpacked packages in ROOT into $CACHE/kernels/RELEASE.
unpack_kernel_tree() {
	local root=$1 rel=$2 dir=$CACHE/kernels/$2
	local mods=$root/lib/modules/$rel
	# Since trixie the packages ship /usr/lib/modules (merged /usr), and
	# since 7.0 the kernel image lives there too.
	[ -d "$root/usr/lib/modules/$rel" ] && mods=$root/usr/lib/modules/$rel
	rm -rf "$dir"
	mkdir -p "$dir"
	if [ -f "$mods/vmlinuz" ]; then
		mv "$mods/vmlinuz" "$dir/vmlinuz"
	else
		cp "$root/boot/vmlinuz-$rel" "$dir/vmlinuz"
	fi
	mv "$mods" "$dir/modules"
}

have_kernel() {
	[ -f "$CACHE/kernels/$1/vmlinuz" ] && [ -d "$CACHE/kernels/$1/modules" ]
}

# A pinned kernel that builds on the host (bookworm, bookworm-backports):
# its headers installed system-wide, its image unpacked into the cache.
host_kernel() {
	local name=$1 rel ver tmp
	rel=$(kernel_field "$name" release)
	ver=$(kernel_field "$name" version)
	apt_install_exact "linux-headers-$rel" "$ver"
	fetch_kernel "$rel" "$ver"
}

# get_deb DIR PACKAGE VERSION [SUITE]: download a package into DIR with
# the host's apt, or with the apt of SUITE's build root (DIR inside it),
# or from the pool.
get_deb() {
	local dir=$1 pkg=$2 ver=$3 suite=${4:-}
	if [ -z "$suite" ]; then
		(cd "$dir" && apt-get download -qq "$pkg=$ver" >&2)
	else
		in_root "$suite" sh -c "cd '${dir#"$CACHE/roots/$suite"}' &&
			apt-get download -qq '$pkg=$ver'" >&2
	fi || pool_download "$dir" "$pkg" "$ver"
}

# fetch_kernel REL VER [SUITE]: kernel REL's image and modules into the
# cache.  Up to 6.x one linux-image package holds both; since 7.0 it
# depends on linux-binary (vmlinuz) and linux-modules.
fetch_kernel() {
	local rel=$1 ver=$2 suite=${3:-} tmp deb
	have_kernel "$rel" && return 0
	if [ -n "$suite" ]; then
		tmp=$(mktemp -d -p "$CACHE/roots/$suite/tmp")
	else
		apt_update
		tmp=$(mktemp -d)
	fi
	log "downloading linux-image-$rel $ver"
	case $rel in
	[1-6].*)	get_deb "$tmp" "linux-image-$rel" "$ver" "$suite" ;;
	*)		get_deb "$tmp" "linux-binary-$rel" "$ver" "$suite" &&
			get_deb "$tmp" "linux-modules-$rel" "$ver" "$suite" ;;
	esac || { log "linux-image-$rel $ver is in no Debian archive; move the pin (make kernels-newer)"; exit 1; }
	mkdir -p "$tmp/root"
	for deb in "$tmp"/*.deb; do
		dpkg-deb -x "$deb" "$tmp/root"
	done
	unpack_kernel_tree "$tmp/root" "$rel"
	rm -rf "$tmp"
}

# apt_install_exact PACKAGE VERSION: on the host.
apt_install_exact() {
	dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null |
		grep -qx "install ok installed $2" && return 0
	apt_update
	log "installing $1 $2"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "$1=$2" >&2
}

# pool_download DIR PACKAGE VERSION: a package Debian's index no longer
# lists (a pinned kernel after its suite moved on) straight from the pool,
# where it stays while any suite still has it.
pool_download() {
	local dir=$1 pkg=$2 ver=$3 arch=amd64 src=linux url
	case $pkg in
	linux-image-*|linux-binary-*)	src=linux-signed-amd64 ;;
	*-common)	arch=all ;;
	esac
	for url in "http://deb.debian.org/debian/pool/main/l/$src" \
		   "http://deb.debian.org/debian-security/pool/updates/main/l/$src"; do
		if wget -q -P "$dir" "$url/${pkg}_${ver}_$arch.deb"; then
			log "$pkg $ver: taken from $url"
			return 0
		fi
	done
	return 1
}

# in_root SUITE COMMAND...: run COMMAND in the build root of SUITE.
in_root() {
	local root=$CACHE/roots/$1
	shift
	chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# root_sources SUITE: the suites of every pinned kernel that builds in the
# root of SUITE in its apt sources (trixie's root: trixie-backports too).
root_sources() {
	local root=$CACHE/roots/$1 s
	for s in $(awk -v r="$1" '!/^[[:space:]]*(#|$)/ && $6 == r { print $4 }' \
		   "$KERNELS_CONF" | sort -u); do
		grep -qs "^deb http://deb.debian.org/debian $s main\$" \
			"$root/etc/apt/sources.list" ||
			echo "deb http://deb.debian.org/debian $s main" \
				>> "$root/etc/apt/sources.list"
	done
}

# make_root SUITE: a build root of SUITE (debootstrap --variant=buildd),
# with the apt sources of every pinned kernel that builds in it.  About a
# minute; made once and kept in the cache.
make_root() {
	local suite=$1 root=$CACHE/roots/$1 s
	if [ -x "$root/usr/bin/make" ] && [ -f "$root/etc/qsnap-root" ]; then
		root_sources "$suite"
		root_packages "$suite"
		return 0
	fi
	as_root
	rm -rf "$root.tmp"
	mkdir -p "$CACHE/roots"
	log "debootstrap $suite into $root"
	debootstrap --variant=buildd "$suite" "$root.tmp" \
		http://deb.debian.org/debian >&2 ||
		{ log "debootstrap $suite failed"; exit 1; }
	# sid's Release file may be past its Valid-Until by this clock.
	echo 'Acquire::Check-Valid-Until "false";' \
		> "$root.tmp/etc/apt/apt.conf.d/99qsnap-valid-until"
	rm -rf "$root"
	mv "$root.tmp" "$root"
	root_sources "$suite"
	in_root "$suite" apt-get update -qq >&2
	echo "$suite" > "$root/etc/qsnap-root"
	root_packages "$suite"
}

# What a build root needs besides the headers: the module's build and
# sparse, an i386 kernel tree's preparation, qsnapctl and its unit tests
# with that suite's compiler (make lint), and DKMS.
ROOT_PKGS=(libelf-dev sparse kmod bc flex bison libssl-dev cpio xz-utils wget
	   pkg-config libblkid-dev libmount-dev libcryptsetup-dev ntfs-3g
	   dkms)	# the install guest's DKMS build
root_packages() {
	local suite=$1 p miss=()
	for p in "${ROOT_PKGS[@]}"; do
		in_root "$suite" dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q '^install ok installed$' || miss+=("$p")
	done
	[ ${#miss[@]} -eq 0 ] && return 0
	log "$suite root: installing ${miss[*]}"
	in_root "$suite" apt-get install -y -qq --no-install-recommends \
		"${miss[@]}" >&2
}

# The newest pinned kernel's source, in its build root (or on the host):
# make lint's checkpatch and its i386 build.
newest_source() {
	local name rel ver pkg root
	name=$(kernels_names | tail -n 1)
	ver=$(kernel_field "$name" version)
	rel=$(kernel_field "$name" release)
	pkg=linux-source-$(echo "$rel" | cut -d. -f1,2)
	root=$(kernel_field "$name" root)
	if [ "$root" = host ]; then
		apt_install_exact "$pkg" "$ver"
	elif ! in_root "$root" dpkg-query -W -f='${Status} ${Version}\n' "$pkg" \
		2>/dev/null | grep -qx "install ok installed $ver"; then
		log "$root root: installing $pkg $ver"
		in_root "$root" apt-get install -y -qq --no-install-recommends \
			"$pkg=$ver" >&2
	fi
}

# A pinned kernel that builds in a root: its headers installed there,
# its image unpacked into the cache.
root_kernel() {
	local name=$1 suite rel ver abi tmp p
	suite=$(kernel_field "$name" root)
	rel=$(kernel_field "$name" release)
	ver=$(kernel_field "$name" version)
	make_root "$suite"
	if ! in_root "$suite" dpkg-query -W -f='${Status} ${Version}\n' \
	     "linux-headers-$rel" 2>/dev/null | grep -qx "install ok installed $ver"; then
		log "$suite root: installing linux-headers-$rel $ver"
		in_root "$suite" apt-get update -qq >&2
		if ! in_root "$suite" apt-get install -y -qq --no-install-recommends \
		     "linux-headers-$rel=$ver" >&2; then
			# Gone from the index: the headers, their common part
			# and kbuild from the pool, the rest from the index.
			abi=${rel%-cloud-amd64}
			tmp=$CACHE/roots/$suite/tmp/qsnap-debs
			rm -rf "$tmp"
			mkdir -p "$tmp"
			for p in "linux-headers-$rel" "linux-headers-$abi-common" \
				 "linux-kbuild-$abi" "linux-base-$rel"; do
				pool_download "$tmp" "$p" "$ver" || true
			done
			in_root "$suite" sh -c 'apt-get install -y -qq \
				--no-install-recommends /tmp/qsnap-debs/*.deb' >&2 ||
				{ log "linux-headers-$rel $ver is in no Debian archive; move the pin (make kernels-newer)"; exit 1; }
			rm -rf "$tmp"
		fi
	fi
	fetch_kernel "$rel" "$ver" "$suite"
}

# The NFS server and client programs the guests run, unpacked from their
# packages into $CACHE/nfs-utils; installing them would start NFS services
# (and load nfsd) on the host.
unpack_nfs_utils() {
	local dir=$CACHE/nfs-utils tmp
	[ -x "$dir/usr/sbin/rpc.mountd" ] && [ -x "$dir/sbin/mount.nfs" ] &&
		return 0
	apt_update
	tmp=$(mktemp -d)
	log "downloading nfs-kernel-server nfs-common"
	(cd "$tmp" && apt-get download -qq nfs-kernel-server nfs-common >&2)
	rm -rf "$dir"
	mkdir -p "$dir"
	for deb in "$tmp"/*.deb; do
		dpkg-deb -x "$deb" "$dir"
	done
	rm -rf "$tmp"
}

main() {
	mkdir -p "$CACHE/kernels"
	apt_install "${HOST_PKGS[@]}" "$@"
	# apt needs the backports lists to find the pinned 6.12 packages.
	have_backports && apt-cache madison linux-image-cloud-amd64 |
		grep -q bpo || apt_update

	local name rels=()
	for name in $(kernels_names); do
		if [ "$(kernel_field "$name" root)" = host ]; then
			host_kernel "$name"
		else
			root_kernel "$name"
		fi
		rels+=("$(kernel_field "$name" release)")
	done
	printf '%s\n' "${rels[@]}" > "$CACHE/kernels/list"
	newest_source
	unpack_nfs_utils
	log "kernels: ${rels[*]}"
}

# What is missing, on stderr; exit 1 if anything is.
check() {
	local -a miss
	mapfile -t miss < <(missing_pkgs "${HOST_PKGS[@]}")
	if [ ${#miss[@]} -gt 0 ]; then
		log "missing packages: ${miss[*]}; run make deps (as root)"
		exit 1
	fi
	if [ ! -x "$CACHE/nfs-utils/usr/sbin/rpc.mountd" ]; then
		log "no NFS programs in $CACHE/nfs-utils; run make deps (as root)"
		exit 1
	fi
	local name rel root
	for name in $(kernels_names); do
		rel=$(kernel_field "$name" release)
		root=$(kernel_root "$name")
		if ! have_kernel "$rel" || [ ! -d "$root/lib/modules/$rel/build/" ]; then
			log "kernel $name ($rel) or its headers missing; run make deps (as root)"
			exit 1
		fi
	done
}

if [ "${1:-}" = --check ]; then
	check
else
	main "$@"
fi

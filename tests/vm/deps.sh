#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Install what building and testing qsnap needs on a Debian 12 host, and
# unpack the two guest kernels (6.1 from bookworm, 6.12 from
# bookworm-backports) into a private cache.  Idempotent: a second run only
# checks.  Prints nothing on success but progress lines on stderr.
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
# and the headers are installed system-wide, so
#   /lib/modules/<release>/build       is a KDIR for each kernel.
set -euo pipefail

CACHE=${QSNAP_CACHE:-/var/cache/qsnap}
HOST_PKGS=(qemu-system-x86 qemu-utils busybox-static sparse make gcc libc6-dev
	   cpio xz-utils e2fsprogs kmod util-linux coreutils perl clang
	   flex bison bc libelf-dev libssl-dev dkms fdisk jq udev
	   apparmor	# apparmor_parser: a confined opener in the guests
	   pkg-config libblkid-dev libmount-dev	# qsnapctl mount
	   dmsetup xfsprogs	# the overlay, and XFS made in the guests
	   lvm2			# volume groups inside snapshots
	   btrfs-progs dosfstools ntfs-3g	# more file systems made in the guests
	   libcryptsetup-dev cryptsetup-bin keyutils	# encrypted images
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

# The versioned image package behind linux-image-cloud-amd64 in one suite:
# "bpo" picks the backports (6.12) one, "main" the bookworm (6.1) one.
kernel_pkg() {
	local which=$1 ver
	ver=$(apt-cache madison linux-image-cloud-amd64 |
		awk -F'|' -v w="$which" '{gsub(/ /, "", $2)}
			w == "bpo" && $2 ~ /bpo/ {print $2; exit}
			w == "main" && $2 !~ /bpo/ {print $2; exit}')
	[ -n "$ver" ] || { log "no linux-image-cloud-amd64 ($which) found"; exit 1; }
	apt-cache depends "linux-image-cloud-amd64=$ver" |
		awk '/Depends: linux-image-/ {print $2; exit}'
}

unpack_kernel() {
	local pkg=$1 rel dir tmp
	rel=${pkg#linux-image-}
	dir=$CACHE/kernels/$rel
	if [ -f "$dir/vmlinuz" ] && [ -d "$dir/modules" ]; then
		echo "$rel"
		return 0
	fi
	apt_update
	tmp=$(mktemp -d)
	log "downloading $pkg"
	(cd "$tmp" && apt-get download -qq "$pkg" >&2)
	dpkg-deb -x "$tmp"/*.deb "$tmp/root"
	mkdir -p "$dir"
	cp "$tmp/root/boot/vmlinuz-$rel" "$dir/vmlinuz"
	rm -rf "$dir/modules"
	mv "$tmp/root/lib/modules/$rel" "$dir/modules"
	rm -rf "$tmp"
	echo "$rel"
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
	# apt-cache needs the backports lists to resolve the 6.12 package.
	have_backports && apt-cache madison linux-image-cloud-amd64 |
		grep -q bpo || apt_update

	local rels=() pkg rel
	for which in main bpo; do
		pkg=$(kernel_pkg "$which")
		rel=$(unpack_kernel "$pkg")
		apt_install "linux-headers-$rel"
		rels+=("$rel")
	done
	printf '%s\n' "${rels[@]}" > "$CACHE/kernels/list"
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
	if [ ! -s "$CACHE/kernels/list" ]; then
		log "no guest kernels in $CACHE/kernels; run make deps (as root)"
		exit 1
	fi
}

if [ "${1:-}" = --check ]; then
	check
else
	main "$@"
fi

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make lint: checkpatch (from Debian's linux-source-6.1) over the driver and
# the uapi header, sparse (make C=2) over the driver for every test kernel,
# and a 32-bit (i386) build against the same 6.1 source.  Prints TAP lines;
# exits 1 if anything is not clean.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${QSNAP_BUILD:-$TOP/build}
CACHE=${QSNAP_CACHE:-/var/cache/qsnap}
CP=$BUILD/checkpatch
. "$TOP/tests/module-tree.sh"

. "$TOP/tests/tap.sh"
TAP_PREFIX="lint: "

# checkpatch.pl and the data files it reads, from the kernel source package.
get_checkpatch() {
	[ -x "$CP/scripts/checkpatch.pl" ] && return 0
	if ! ls /usr/src/linux-source-6.1.tar.* > /dev/null 2>&1; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends linux-source-6.1 >&2 || return 1
	fi
	mkdir -p "$CP"
	tar -xf /usr/src/linux-source-6.1.tar.* -C "$CP" --strip-components=1 \
		--wildcards '*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
		'*/scripts/const_structs.checkpatch' >&2
}

# A 6.1 tree configured for i386 (defconfig) and prepared for external
# modules, kept in the cache: about a minute to make, once.
get_i386_tree() {
	local tree=$CACHE/i386-6.1 tmp
	[ -x "$tree/scripts/mod/modpost" ] && { echo "$tree"; return 0; }
	ls /usr/src/linux-source-6.1.tar.* > /dev/null 2>&1 || return 1
	tmp=$tree.tmp
	rm -rf "$tmp"
	mkdir -p "$tmp"
	tar -xf /usr/src/linux-source-6.1.tar.* -C "$tmp" --strip-components=1 &&
		make -s -C "$tmp" ARCH=i386 defconfig >&2 &&
		make -s -C "$tmp" ARCH=i386 -j"$(nproc)" modules_prepare >&2 &&
		mv "$tmp" "$tree" && echo "$tree"
}

# qcow2/qcow2_user.h is userspace C that stands in for kernel headers
# (its own __printf, min(), ...): not kernel code.
if get_checkpatch; then
	out=$(cd "$TOP" && "$CP/scripts/checkpatch.pl" --no-tree --strict \
		--terse --show-types -f $(ls driver/*.[ch] qcow2/*.[ch] | grep -vE '\.mod\.c$|qcow2_user\.h$') \
		include/uapi/linux/qsnap.h 2>&1)
	# --terse prints one line per finding and a total line per file.
	# Without a tree checkpatch cannot tell the kernel's own zlib API
	# (zlib_inflateInit2, zlib_inflateReset) from new CamelCase.
	bad=$(printf '%s\n' "$out" | grep -E ': (ERROR|WARNING|CHECK):' |
	      grep -vE 'CAMELCASE: Avoid CamelCase: <zlib_inflate[A-Za-z0-9]*>$')
	tap_emit $([ -z "$bad" ]; echo $?) "checkpatch --strict clean" "$bad"
else
	tap_emit 1 "checkpatch --strict clean" "cannot install linux-source-6.1"
fi

for krel in $(cat "$CACHE/kernels/list" 2>/dev/null); do
	dir=$BUILD/lint-$krel
	rm -rf "$dir"
	mkdir -p "$dir"
	copy_module_tree "$dir"
	out=$(make -C "/lib/modules/$krel/build" M="$dir" C=2 \
		CONFIG_BLK_DEV_QSNAP=m modules 2>&1)
	rc=$?
	bad=$(printf '%s\n' "$out" | grep -E 'warning:|error:')
	tap_emit $([ $rc = 0 ] && [ -z "$bad" ]; echo $?) \
		"sparse clean on ${krel%%-*}" "$bad"
	rm -rf "$dir"
done
# On 32-bit kernels a u64 division with / compiles to a call of libgcc's
# __udivdi3 (or __divdi3, __umoddi3, __moddi3), which the kernel does not
# export: the module would not load.  Build only; nothing boots it.
if tree=$(get_i386_tree); then
	dir=$BUILD/lint-i386
	rm -rf "$dir"
	mkdir -p "$dir"
	copy_module_tree "$dir"
	out=$(make -C "$tree" ARCH=i386 M="$dir" W=1 CONFIG_BLK_DEV_QSNAP=m \
		modules 2>&1)
	rc=$?
	bad=$(printf '%s\n' "$out" | grep -E 'warning:|error:'
	      nm -u "$dir/driver/qsnap.ko" 2>/dev/null |
		grep -E '__(u?div|u?mod)di3' | sed 's/$/ (u64 division: div_u64)/')
	tap_emit $([ $rc = 0 ] && [ -z "$bad" ]; echo $?) \
		"32-bit (i386, 6.1) build clean, no libgcc divisions" "$bad"
	rm -rf "$dir"
else
	tap_emit 1 "32-bit (i386, 6.1) build clean, no libgcc divisions" \
		"cannot prepare an i386 6.1 tree from linux-source-6.1"
fi
tap_end

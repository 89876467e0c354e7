#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make lint: checkpatch (from the newest pinned kernel's source, Debian's
# linux-source-X.Y) over the driver and the uapi header, sparse (make C=2)
# over the driver for every pinned kernel (tests/kernels.conf), and 32-bit
# (i386) builds against the oldest (6.1) and the newest kernel's source.
# Prints TAP lines; exits 1 if anything is not clean.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${QSNAP_BUILD:-$TOP/build}
CACHE=${QSNAP_CACHE:-/var/cache/qsnap}
CP=$BUILD/checkpatch
. "$TOP/tests/module-tree.sh"
. "$TOP/tests/kernels.sh"
NEWEST=$(kernels_names | tail -n 1)
NEWEST_ROOT=$(kernel_root "$NEWEST")
NEWEST_XY=$(kernel_field "$NEWEST" release | cut -d. -f1,2)

. "$TOP/tests/tap.sh"
TAP_PREFIX="lint: "

# checkpatch.pl and the data files it reads, from the newest pinned
# kernel's source package (make deps installs it).
get_checkpatch() {
	local src=$NEWEST_ROOT/usr/src/linux-source-$NEWEST_XY.tar.xz
	[ -x "$CP/scripts/checkpatch.pl" ] &&
		[ "$(cat "$CP/.source" 2>/dev/null)" = "$src" ] && return 0
	[ -f "$src" ] || return 1
	rm -rf "$CP"
	mkdir -p "$CP"
	tar -xf "$src" -C "$CP" --strip-components=1 \
		--wildcards '*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
		'*/scripts/const_structs.checkpatch' >&2 &&
		echo "$src" > "$CP/.source"
}

# get_i386_tree NAME: the source of pinned kernel NAME configured for i386
# (defconfig) and prepared for external modules, kept in the cache (in
# its build root, where it builds): about a minute to make, once.  The
# oldest kernel's source is Debian 12's linux-source-6.1.
get_i386_tree() {
	local name=$1 root xy src tree tmp
	root=$(kernel_root "$name")
	xy=$(kernel_field "$name" release | cut -d. -f1,2)
	tree=$root/usr/src/qsnap-i386-$xy
	[ -n "$root" ] || tree=$CACHE/i386-$xy
	[ -x "$tree/scripts/mod/modpost" ] && { echo "$tree"; return 0; }
	src=$(ls "$root"/usr/src/linux-source-"$xy".tar.* 2> /dev/null | head -n 1)
	if [ -z "$src" ] && [ -z "$root" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends "linux-source-$xy" >&2 || return 1
		src=$(ls /usr/src/linux-source-"$xy".tar.* | head -n 1)
	fi
	[ -n "$src" ] || return 1
	tmp=$tree.tmp
	rm -rf "$tmp"
	mkdir -p "$tmp"
	tar -xf "$src" -C "$tmp" --strip-components=1 &&
		kernel_make "$name" -s -C "${tmp#"$root"}" ARCH=i386 defconfig >&2 &&
		kernel_make "$name" -s -C "${tmp#"$root"}" ARCH=i386 \
			-j"$(nproc)" modules_prepare >&2 &&
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
	# Two suggestions of the newest checkpatch stay unheeded: kzalloc_obj()
	# exists only since 7.0, and the module builds for 6.1 (a shim for a
	# spelling is not worth its line); and the device index stays an IDR
	# as in loop.c.
	bad=$(printf '%s\n' "$out" | grep -E ': (ERROR|WARNING|CHECK):' |
	      grep -vE 'CAMELCASE: Avoid CamelCase: <zlib_inflate[A-Za-z0-9]*>$' |
	      grep -vE 'ALLOC_WITH_SIZEOF: Prefer kzalloc_obj over kzalloc with sizeof$' |
	      grep -vE "DEPRECATED_API: Deprecated use of 'DEFINE_IDR', prefer 'DEFINE_XARRAY' instead$")
	tap_emit $([ -z "$bad" ]; echo $?) "checkpatch --strict clean" "$bad"
else
	tap_emit 1 "checkpatch --strict clean" "no linux-source-$NEWEST_XY; run make deps"
fi

for name in $(kernels_names); do
	krel=$(kernel_field "$name" release)
	dir=$BUILD/lint-$krel
	rm -rf "$dir"
	mkdir -p "$dir"
	copy_module_tree "$dir"
	out=$(kernel_make "$name" -C "/lib/modules/$krel/build" M="$dir" C=2 \
		CONFIG_BLK_DEV_QSNAP=m modules 2>&1)
	rc=$?
	bad=$(printf '%s\n' "$out" | grep -E 'warning:|error:')
	tap_emit $([ $rc = 0 ] && [ -z "$bad" ]; echo $?) \
		"sparse clean on $name (${krel%%-*})" "$bad"
	rm -rf "$dir"
done
# On 32-bit kernels a u64 division with / compiles to a call of libgcc's
# __udivdi3 (or __divdi3, __umoddi3, __moddi3), which the kernel does not
# export: the module would not load.  Build only; nothing boots it.
for name in $(kernels_names | head -n 1) "$NEWEST"; do
	xy=$(kernel_field "$name" release | cut -d. -f1,2)
	what="32-bit (i386, $xy) build clean, no libgcc divisions"
	if ! tree=$(get_i386_tree "$name"); then
		tap_emit 1 "$what" "cannot prepare an i386 $xy tree from linux-source-$xy"
		continue
	fi
	root=$(kernel_root "$name")
	dir=$BUILD/lint-i386
	rm -rf "$dir"
	mkdir -p "$dir"
	copy_module_tree "$dir"
	# The tree has no Module.symvers (vmlinux is not built): since 6.x
	# modpost fails on every symbol it cannot find unless told to warn.
	out=$(kernel_make "$name" -C "${tree#"$root"}" ARCH=i386 M="$dir" W=1 \
		KBUILD_MODPOST_WARN=1 CONFIG_BLK_DEV_QSNAP=m modules 2>&1)
	rc=$?
	bad=$(printf '%s\n' "$out" | grep -E 'warning:|error:'
	      nm -u "$dir/driver/qsnap.ko" 2>/dev/null |
		grep -E '__(u?div|u?mod)di3' | sed 's/$/ (u64 division: div_u64)/')
	tap_emit $([ $rc = 0 ] && [ -z "$bad" ]; echo $?) "$what" "$bad"
	rm -rf "$dir"
done
# The README's table of tested kernels is the pinned list's.
table=$(kernels_table)
grep -qF -- "$table" "$TOP/README.md"
tap_emit $? "README.md's kernel table is tests/kernels.conf's" \
	"$(printf 'want:\n%s' "$table")"

# qsnapctl and the format code's unit tests with each build root's
# compiler (trixie's gcc-14, sid's gcc-16), as a user of that suite builds
# them: the project's flags, no warning; the unit tests (ASan, UBSan) pass.
for suite in $(kernels_roots); do
	name=$(awk -v r="$suite" '!/^[[:space:]]*(#|$)/ && $6 == r { n = $1 } END { print n }' \
		"$KERNELS_CONF")
	cc=$(kernel_field "$name" compiler)
	dir=$BUILD/lint-tools-$suite
	rm -rf "$dir"
	mkdir -p "$dir/tests"
	copy_module_tree "$dir" tools
	cp -r "$TOP/tests/unit" "$TOP/tests/tap.h" "$dir/tests/"
	out=$(kernel_make "$name" -C "$dir/tools" CC="$cc" 2>&1)
	rc=$?
	bad=$(printf '%s\n' "$out" | grep -E 'warning:|error:')
	tap_emit $([ $rc = 0 ] && [ -z "$bad" ]; echo $?) \
		"qsnapctl builds with $suite's $cc, no warning" "$bad"
	out=$(kernel_make "$name" -s -C "$dir/tests/unit" CC="$cc" run 2>&1)
	rc=$?
	bad=$(printf '%s\n' "$out" | grep -E '^not ok|warning:|error:|ERROR')
	tap_emit $([ $rc = 0 ] && [ -z "$bad" ] &&
		   printf '%s\n' "$out" | grep -q '^ok '; echo $?) \
		"unit tests pass built with $suite's $cc" "$bad"
	rm -rf "$dir"
done
tap_end

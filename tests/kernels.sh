# SPDX-License-Identifier: GPL-2.0-only
# Sourced by the build and test scripts (needs TOP; CACHE defaults to
# /var/cache/qsnap): the pinned kernels of tests/kernels.conf, and how to
# build for each of them.  Kernels whose headers need a newer compiler than
# Debian 12's build in a debootstrapped root of their own suite
# ($CACHE/roots/SUITE, made by make deps), entered with chroot in a private
# mount namespace: nothing is mounted on the host, and nothing is left
# mounted when the build ends.

KERNELS_CONF=$TOP/tests/kernels.conf
: "${CACHE:=${QSNAP_CACHE:-/var/cache/qsnap}}"

# The pinned kernels' names, oldest first.
kernels_names() {
	awk '!/^[[:space:]]*(#|$)/ { print $1 }' "$KERNELS_CONF"
}

# kernel_field NAME FIELD: one column of NAME's line (release, version,
# suite, compiler, root, tier); fails for an unknown name.
kernel_field() {
	awk -v n="$1" -v f="$2" '
	BEGIN { col["release"] = 2; col["version"] = 3; col["suite"] = 4
		col["compiler"] = 5; col["root"] = 6; col["tier"] = 7 }
	!/^[[:space:]]*(#|$)/ && $1 == n { print $col[f]; found = 1; exit }
	END { exit !found }' "$KERNELS_CONF"
}

# kernel_name RELEASE: the name of the pinned kernel with that release.
kernel_name() {
	awk -v r="$1" '!/^[[:space:]]*(#|$)/ && $2 == r { print $1; found = 1; exit }
	END { exit !found }' "$KERNELS_CONF"
}

# kernel_root NAME: the build root NAME's headers live in, or nothing for
# a kernel that builds on the host.
kernel_root() {
	local r
	r=$(kernel_field "$1" root) || return 1
	[ "$r" = host ] || echo "$CACHE/roots/$r"
}

# The suites whose build roots some pinned kernel needs.
kernels_roots() {
	awk '!/^[[:space:]]*(#|$)/ && $6 != "host" { print $6 }' "$KERNELS_CONF" |
		sort -u
}

# kernel_kdir NAME: the KDIR of NAME's headers, as a build sees it.
kernel_kdir() {
	echo "/lib/modules/$(kernel_field "$1" release)/build"
}

# kernel_run NAME COMMAND...: COMMAND where NAME's headers build: on the
# host, or inside its build root with the tree ($TOP), the build directory
# ($BUILD) and the current directory at their own paths, so that every
# path means the same inside and out.
kernel_run() {
	local name=$1 root
	shift
	root=$(kernel_root "$name") || {
		echo "kernel_run: no kernel $name in $KERNELS_CONF" >&2
		return 1
	}
	if [ -z "$root" ]; then
		"$@"
		return
	fi
	if [ ! -x "$root/usr/bin/make" ]; then
		echo "kernel_run: no build root $root for $name; run make deps" >&2
		return 1
	fi
	TOP=$TOP BUILD=${BUILD:-} \
	unshare --mount --propagation private -- bash -euc '
		root=$1 cwd=$2
		shift 2
		mount -t proc proc "$root/proc"
		for d in "$TOP" "${BUILD:-}" "$cwd"; do
			[ -n "$d" ] && [ -d "$d" ] || continue
			mkdir -p "$root$d"
			mount --bind "$d" "$root$d"
		done
		exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
			PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			sh -c "cd \"\$0\" && exec \"\$@\"" "$cwd" "$@"
	' kernel_run "$root" "$PWD" "$@"
}

# kernel_make NAME MAKE-ARGS...: make, where NAME's headers build.
kernel_make() {
	local name=$1
	shift
	kernel_run "$name" make "$@"
}

# The README's table of tested kernels, in Markdown (make lint checks
# that README.md holds it as printed here).
kernels_table() {
	echo "| kernel | Debian package | suite | compiler | tested |"
	echo "|---|---|---|---|---|"
	awk '!/^[[:space:]]*(#|$)/ {
		t = $7 == "full" ? ", every suite" : $7 == "compact" ? ", compact suites" : ""
		printf "| %s | linux-image-%s %s | %s | %s | build, sparse%s |\n",
			$1, $2, $3, $4, $5, t }' "$KERNELS_CONF"
}

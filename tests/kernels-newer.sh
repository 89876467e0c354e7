#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make kernels-newer: ask Debian, for the suite of every pinned kernel
# (tests/kernels.conf), which cloud kernel it ships now, and say where
# that is newer than the pin.  Changes nothing: moving a pin is a commit
# to tests/kernels.conf (then make deps fetches it).
# Exits 0 when every pin is current, 1 when some suite has a newer kernel,
# 2 when Debian could not be asked.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/tests/kernels.sh"

# The apt of a pinned kernel's build place, with fresh lists.
declare -A updated
kernel_apt() {	# NAME COMMAND ARGS...
	local root
	root=$(kernel_root "$1")
	shift
	if [ -z "$root" ]; then
		"$@"
	else
		chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
	fi
}

newer=0
for name in $(kernels_names); do
	suite=$(kernel_field "$name" suite)
	pinned=$(kernel_field "$name" version)
	key=$(kernel_field "$name" root)
	if [ -z "${updated[$key]:-}" ]; then
		kernel_apt "$name" apt-get update -qq > /dev/null 2>&1 ||
			{ echo "$name: cannot update the apt lists of $key" >&2; exit 2; }
		updated[$key]=1
	fi
	# The suite's own lines, and its security and point-release updates
	# (bookworm's kernel comes from bookworm-security): the newest.
	ver=$(kernel_apt "$name" apt-cache madison linux-image-cloud-amd64 |
		awk -F'|' -v s="$suite" '{ split($3, w, " "); sub("/.*", "", w[2]) }
			w[2] == s || w[2] == s "-security" || w[2] == s "-updates" {
				gsub(/ /, "", $2); print $2 }' |
		sort -V | tail -n 1)
	if [ -z "$ver" ]; then
		echo "$name: $suite lists no linux-image-cloud-amd64" >&2
		exit 2
	fi
	pkg=$(kernel_apt "$name" apt-cache depends "linux-image-cloud-amd64=$ver" |
		awk '/Depends: linux-image-/ { print $2; exit }')
	if dpkg --compare-versions "$ver" gt "$pinned"; then
		echo "$name: $suite has ${pkg#linux-image-} ($ver), pinned $(kernel_field "$name" release) ($pinned)"
		newer=1
	else
		echo "$name: current ($suite: $ver)"
	fi
done
exit $newer

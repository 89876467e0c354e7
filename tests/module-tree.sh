# SPDX-License-Identifier: GPL-2.0-only
# Sourced by the test scripts (needs TOP): the one list of what a build of
# the module needs.  Builds run in private copies of the tree, because
# kbuild writes its objects next to the sources and two kernels must not
# share them.

QSNAP_MODULE_FILES="Kbuild dkms.conf driver qcow2 include"

# copy_module_tree DEST [MORE...]: the module's files, and MORE of the
# tree's top-level files and folders, into DEST.
copy_module_tree() {
	local dest=$1 f
	shift
	mkdir -p "$dest"
	for f in $QSNAP_MODULE_FILES "$@"; do
		cp -r "$TOP/$f" "$dest/" || return 1
	done
}

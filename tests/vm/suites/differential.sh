#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Differential: every device byte for byte against QEMU's export of the
# same snapshot (tests/images/make-images.sh writes the manifest), file
# systems with every file checked, partition tables.  The sanitizer
# kernel and the compact kernels read one snapshot of every image (every
# format, feature and read path); the others every snapshot.
suite_differential() {
	if [ "$QSNAP_PROFILE" != full ]; then
		run_manifest_one_per_image
		run_manifest '^(fs|parts)	'
	else
		run_manifest '^(same|fs|parts)	'
	fi
}

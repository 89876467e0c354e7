#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Trust (guest-trust.sh): fresh attaches after in-place changes,
# re-created snapshots, killed and confined openers, a table unreadable
# for a while (sanitizer kernel: fault injection), escaped names, attach
# racing detach, and rounds of random changes against QEMU's exports.
suite_trust() {
	section "trust: fresh attaches, re-created snapshots, killed openers, races"
	trust_fresh_attach
	trust_recreated_snapshot
	trust_bdev_other_path
	trust_killed_openers
	trust_confined_opener
	trust_table_read_error
	trust_escaped_names
	if [ "$QSNAP_PROFILE" = sanitizer ]; then
		trust_attach_detach_race 10
		trust_random 4
	else
		trust_attach_detach_race 5
		trust_random 8
	fi
}

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Hostile images: every refusal with its errno and one qsnap: line, every
# damaged image read to the end with data or EIO, damaged clusters failing
# alone, the corrupt bit, a reserved bit in an L2 entry.
suite_hostile() {
	run_manifest '^(hostile|eio|refuse|toolrefuse)	'
	section "hostile images"
	# --- the corrupt bit: attach with one warning ---
	mark=$(qsnap_log_mark)
	if dev=$(qs_attach $D/img/corrupt-bit.qcow2 two); then
		qsnap_log_since "$mark" > /tmp/log
		check "corrupt bit: attach warns once" "$(cat /tmp/log)" \
			[ "$(grep -c 'marked corrupt' /tmp/log)" = 1 ]
		qsnapctl detach "$dev"
	fi

	# --- a reserved bit in an L2 entry: that read fails, the rest reads ---
	if dev=$(qs_attach $D/img/l2-reserved.qcow2 -); then
		mark=$(qsnap_log_mark)
		check "corrupt L2 entry: read fails with EIO" "" \
			sh -c "! dd if=$dev of=/dev/null bs=65536 skip=320 count=1 iflag=direct 2>/dev/null"
		check "corrupt L2 entry: one line names it" "$(qsnap_log_since "$mark")" \
			[ "$(qsnap_log_since "$mark" | grep -c 'reserved bits set')" = 1 ]
		check "corrupt L2 entry: other data still reads" "" \
			[ "$(dd if="$dev" bs=65536 skip=16 count=1 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)" = "$(pattern_sha 101)" ]
		qsnapctl detach "$dev"
	else
		fail "corrupt L2 entry: attach" "attach failed"
	fi
}

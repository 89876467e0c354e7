# SPDX-License-Identifier: GPL-2.0-only
# TAP for the shell test drivers (tests/tap.h is the C side).  Source it:
#   tap_emit RC NAME [DETAIL]  "ok N - NAME" if RC is 0, else "not ok N -
#                              NAME" and DETAIL's first 40 lines as comments
#   tap_end                    "1..N"; fails if any test failed
# TAP_PREFIX, when set, goes before every NAME ("lint: ").
tap_n=0
tap_failed=0

tap_emit() {	# RC NAME [DETAIL]
	tap_n=$((tap_n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $tap_n - ${TAP_PREFIX:-}$2"
	else
		echo "not ok $tap_n - ${TAP_PREFIX:-}$2"
		[ -n "${3:-}" ] && printf '%s\n' "$3" | head -n 40 | sed 's/^/# /'
		tap_failed=$((tap_failed + 1))
	fi
	return 0
}

tap_end() {
	echo "1..$tap_n"
	[ "$tap_failed" = 0 ]
}

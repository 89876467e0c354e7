#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Helpers for the in-guest tests (busybox sh).  Results are TAP lines
# without numbers; the host numbers them.

# Host programs copied in by VM_EXTRA_BINS live in /usr/local/bin.
PATH=$PATH:/usr/local/bin
export PATH
# The console is a terminal: nothing may wait there for a passphrase.
exec < /dev/null

pass() { echo "ok - $1"; }

# run_suites KIND...: source /bin/suites/KIND.sh and run suite_KIND, for
# each KIND in order that /etc/qsnap-suites names (one per line; every
# KIND when the file is empty: make check-vm SUITES=...).  Each suite's
# "time: KIND START END" line (uptime, seconds) goes into make check's
# timing lines.
run_suites() {
	for _suite in "$@"; do
		if [ -s /etc/qsnap-suites ] &&
		   ! grep -qx "$_suite" /etc/qsnap-suites; then
			continue
		fi
		. "/bin/suites/$_suite.sh"
		read -r _suite_t0 _ < /proc/uptime
		"suite_$_suite"
		read -r _suite_t1 _ < /proc/uptime
		echo "time: $_suite ${_suite_t0%.*} ${_suite_t1%.*}"
	done
}
# section NAME: the tests that follow are counted under NAME in the
# summary (hostile images, lifecycle races, ...; see tests/vm/run-tests.sh).
section() { echo "section: $1"; }
fail() { echo "not ok - $1 # $2"; }
check() {	# NAME DETAIL COMMAND...
	_check_name=$1 _check_detail=$2
	shift 2
	if "$@"; then
		pass "$_check_name"
	else
		fail "$_check_name" "$_check_detail"
	fi
}

# qsnap_log_mark: put a numbered mark in the kernel log and print its
# number; qsnap_log_since MARK: the qsnap: lines logged after it.  (A long
# run wraps the log buffer, so counting lines would not do.)
qsnap_log_mark() {
	_m=$(($(cat /tmp/.kmsg-mark 2>/dev/null || echo 0) + 1))
	echo $_m > /tmp/.kmsg-mark
	echo "<7>qsnap-test-mark $_m" > /dev/kmsg
	echo $_m
}
qsnap_log_since() {
	dmesg | sed -n "/qsnap-test-mark $1\$/,\$p" | grep '] qsnap: '
}

# expect_exit CODE TEXT COMMAND...: exits CODE and says TEXT on stderr
expect_exit() {
	_want=$1 _text=$2
	shift 2
	"$@" > /dev/null 2>/tmp/err
	_rc=$?
	check "'$*' exits $_want: $_text" "exit $_rc: $(cat /tmp/err)" \
		sh -c "[ $_rc = $_want ] && grep -qF -- \"\$1\" /tmp/err" sh "$_text"
}

# attach IMAGE SNAPSHOT [OPTION...] ("-" = current state); prints the device
qs_attach() {
	img=$1 snap=$2
	shift 2
	if [ "$snap" = "-" ]; then
		qsnapctl attach "$img" "$@"
	else
		qsnapctl attach "$img" --snapshot "$snap" "$@"
	fi
}

# coreutils' sha256sum when the host put it in (VM_EXTRA_BINS): a quarter
# faster than busybox's under TCG, and hashing is most of a device read.
SHA256SUM=sha256sum
[ -x /usr/local/bin/sha256sum ] && SHA256SUM=/usr/local/bin/sha256sum
sha_of() { $SHA256SUM < "$1" | cut -d' ' -f1; }

# a 64 KiB run of byte $1 (octal), and its sha256
pattern_sha() { head -c 65536 /dev/zero | tr '\000' "\\$1" | sha256sum | cut -d' ' -f1; }

# Read all of device $1 within a time bound, carrying on past errors: true
# if the read finished and every failed read was EIO; else prints why.
read_data_or_eio() {
	timeout 120 dd if="$1" of=/dev/null bs=65536 iflag=direct conv=noerror \
		2>/tmp/dd
	if ! grep -q "records in" /tmp/dd; then
		echo "reading the device did not finish: $(cat /tmp/dd)"
		return 1
	fi
	if grep '^dd:' /tmp/dd | grep -qv 'Input/output error'; then
		echo "a read failed with another error: $(cat /tmp/dd)"
		return 1
	fi
}

# run_c_test NAME CMD...: run a C TAP test.  Its ok/not ok lines pass
# through, and one more test says whether it reached its plan: a "Bail out!"
# or a crash must not pass for an empty success.
run_c_test() {
	n=$1
	shift
	"$@" > /tmp/ctest.out 2>&1
	grep -E '^(not )?ok' /tmp/ctest.out
	check "$n ran to the end" "$(grep -v '^ok' /tmp/ctest.out | tail -n 3)" \
		grep -q '^1\.\.[1-9]' /tmp/ctest.out
}

# The ioctl ABI test needs a writable copy of its image (it checks that
# read-write fds are refused); the data disk is mounted read-only.
run_ioctl_test() {
	cp "$D/img/v3-64k.qcow2" /tmp/v3-64k.qcow2
	run_c_test "ioctl ABI test" qsnap_ioctl_test /tmp/v3-64k.qcow2 \
		"$D/img/overlay.qcow2" "$D/img/backing-base.qcow2" \
		"$D/img/crypt/xts-64k.qcow2" "$D/img/crypt/xts-64k.key" \
		"$D/img/crypt/no-cipher.qcow2"
	rm -f /tmp/v3-64k.qcow2
}

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The ioctl ABI, from C (tests/selftests/qsnap_ioctl_test.c), and the
# control node when another driver holds its misc minor.
suite_ioctl() {
	section "ioctl ABI"
	run_ioctl_test
	ioctl_minor_taken
}

# Another local driver holding qsnap's fixed misc minor (248; the test
# module qsnap_misc_squatter): qsnap loads with a dynamic one and says so
# in one line.  The node devtmpfs makes for it works; a node with the
# fixed number, as kmod's static-nodes makes at boot, leads to the other
# driver, and qsnapctl refuses it without sending that driver an ioctl.
ioctl_minor_taken() {
	sq=/lib/modules/qsnap_misc_squatter.ko
	sqn=/sys/module/qsnap_misc_squatter/parameters/ioctls
	ctl=/sys/class/misc/qsnap-control/dev
	[ -e $sq ] || { fail "misc minor taken: the test module" "$sq is missing"; return; }
	qsnapctl detach --all
	check "misc minor taken: rmmod qsnap" "" rmmod qsnap
	mark=$(qsnap_log_mark)
	if ! insmod $sq || ! insmod /lib/modules/qsnap.ko; then
		fail "misc minor taken: insmod the test module, then qsnap" ""
		rmmod qsnap_misc_squatter 2>/dev/null
		insmod /lib/modules/qsnap.ko
		return
	fi
	num=$(cat $ctl)
	check "misc minor taken: qsnap's control node gets another ($num), said in one line" \
		"$(qsnap_log_since $mark)" \
		sh -c "[ '$num' != 10:248 ] && [ \"\$(cat /sys/class/misc/qsnap-test-squatter/dev)\" = 10:248 ] &&
		       [ \"\$(dmesg | sed -n '/qsnap-test-mark $mark\$/,\$p' | grep -c '] qsnap: misc minor 248 is taken')\" = 1 ]"
	if dev=$(qsnapctl attach $D/img/v3-64k.qcow2 --snapshot 1 2>/tmp/err); then
		check "misc minor taken: the node devtmpfs made attaches and detaches" \
			"" qsnapctl detach "$dev"
	else
		fail "misc minor taken: the node devtmpfs made attaches" "$(cat /tmp/err)"
	fi
	rm -f /dev/qsnap-control
	mknod /dev/qsnap-control c 10 248
	qsnapctl list > /dev/null 2>/tmp/err
	rc=$?
	check "misc minor taken: a node with the fixed number is refused (exit 1), the other driver gets no ioctl" \
		"exit $rc, $(cat $sqn) ioctls: $(cat /tmp/err)" \
		sh -c "[ $rc = 1 ] && grep -q 'is not the qsnap module.s control device' /tmp/err &&
		       [ \"\$(cat $sqn)\" = 0 ]"
	rm -f /dev/qsnap-control
	rmmod qsnap && rmmod qsnap_misc_squatter && insmod /lib/modules/qsnap.ko
	check "misc minor free again: qsnap has 10:248, its node is there" \
		"$(cat $ctl 2>&1); $(ls -l /dev/qsnap-control 2>&1)" \
		sh -c "[ \"\$(cat $ctl)\" = 10:248 ] && [ -c /dev/qsnap-control ]"
}

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Encrypted images beyond the differential cases (tests/images/crypt.sh):
# the ways to give a passphrase (key files, standard input, the kernel
# keyring: a user key's passphrase or a logon key's volume key), a wrong
# one, what info, list and JSON say, the tables read without a key, and
# that the volume key shows nowhere: not in the kernel log, sysfs or
# debugfs.
# Needs guest-lib.sh, D, TAB; jq and keyctl in the guest.

# A logon key holding the volume key (as dm-crypt takes one): the module
# reads it and checks it against the LUKS header; a passphrase that fits
# no key slot falls back to it.
crypt_logon_keys() {
	if ! keyctl padd logon qsnap:vk @u < $C/xts-64k.vk > /dev/null 2>/tmp/err ||
	   ! keyctl padd logon qsnap:wrong @u < $C/wrong.vk > /dev/null 2>>/tmp/err; then
		fail "--key-desc: logon keys in the keyring" "$(cat /tmp/err)"
		return
	fi
	if dev=$(qsnapctl attach "$img" --snapshot s1 --key-desc qsnap:vk 2>/tmp/err); then
		check "--key-desc: a logon key holding the volume key" \
			"$(sha_of "$dev") vs $want" [ "$(sha_of "$dev")" = "$want" ]
		qsnapctl detach "$dev"
	else
		fail "--key-desc: a logon key holding the volume key" "$(cat /tmp/err)"
	fi
	if dev=$(qsnapctl attach "$img" --snapshot s1 --key-file $C/pw-wrong \
		 --key-desc qsnap:vk 2>/tmp/err); then
		check "... after a passphrase that fits no key slot" \
			"$(sha_of "$dev") vs $want" [ "$(sha_of "$dev")" = "$want" ]
		qsnapctl detach "$dev"
	else
		fail "... after a passphrase that fits no key slot" "$(cat /tmp/err)"
	fi
	dmesg -c > /dev/null
	expect_exit 1 "attach failed: the key is not the image's volume key" \
		qsnapctl attach "$img" --snapshot s1 --key-desc qsnap:wrong
	check "... and the kernel says why, in one line" "$(dmesg)" \
		sh -c "[ \"\$(dmesg | grep -c 'qsnap: ')\" = 1 ] &&
		       dmesg | grep -q \"the key does not match the LUKS header's digest\""
	check "... and no device is left" "$(qsnapctl list)" \
		[ -z "$(qsnapctl list | tail -n +2)" ]
	keyctl purge -s logon qsnap:vk > /dev/null 2>&1
	keyctl purge -s logon qsnap:wrong > /dev/null 2>&1
}

# crypt_want NAME: the sha256 of "same" case NAME
crypt_want() {
	awk -F"$TAB" -v n="$1" '$1 == "same" && $2 == n { print $5; exit }' $D/manifest
}

suite_crypt() {
	section "encrypted images"
	C=$D/img/crypt
	img=$C/xts-64k.qcow2
	want=$(crypt_want "LUKS aes-256-xts-plain64, 64k clusters, snapshot s1")

	expect_exit 1 "no key slot of $img matches the passphrase" \
		qsnapctl attach "$img" --snapshot s1 --key-file $C/pw-wrong
	check "... and no device is left" "$(qsnapctl list)" \
		[ -z "$(qsnapctl list | tail -n +2)" ]
	expect_exit 1 "$C/nonexistent: No such file or directory" \
		qsnapctl attach "$img" --snapshot s1 --key-file $C/nonexistent

	if dev=$(qsnapctl attach "$img" --snapshot s1 --key-file - < $C/pw1 2>/tmp/err); then
		check "--key-file -: the passphrase from standard input" \
			"$(sha_of "$dev") vs $want" [ "$(sha_of "$dev")" = "$want" ]
		check "info: encrypted, with the cipher" "$(qsnapctl info "$dev")" \
			sh -c "qsnapctl info $dev | grep -q '^  encrypted: *aes-xts-plain64'"
		check "info --json: .encryption" "$(qsnapctl info "$dev" --json)" \
			sh -c "qsnapctl info $dev --json | jq -e '.encryption == \"aes-xts-plain64\"' > /dev/null"
		check "list: (encrypted)" "$(qsnapctl list)" \
			sh -c "qsnapctl list | grep -q '$dev .*(encrypted)'"
		# The volume key in hex (tests/images/crypt.sh dumped it with
		# cryptsetup): nowhere the kernel shows things.
		key=$(cat $C/xts-64k.key)
		k=${dev#/dev/}
		check "the volume key is not in the kernel log" "" \
			sh -c "! dmesg | tr -d ' :' | grep -qi '$key'"
		check "... nor in sysfs or debugfs" "" \
			sh -c "! cat /sys/block/$k/qsnap/* /sys/kernel/debug/qsnap/* 2>/dev/null |
			       tr -d ' :' | grep -qi '$key'"
		qsnapctl detach "$dev"
	else
		fail "--key-file -: the passphrase from standard input" "$(cat /tmp/err)"
	fi

	if command -v keyctl > /dev/null &&
	   keyctl add user qsnap-test "$(cat $C/pw1)" @u > /dev/null 2>/tmp/err; then
		if dev=$(qsnapctl attach "$img" --snapshot s1 --key-desc qsnap-test 2>/tmp/err); then
			check "--key-desc: the passphrase from the kernel keyring" \
				"$(sha_of "$dev") vs $want" [ "$(sha_of "$dev")" = "$want" ]
			qsnapctl detach "$dev"
		else
			fail "--key-desc: the passphrase from the kernel keyring" "$(cat /tmp/err)"
		fi
		keyctl purge -s user qsnap-test > /dev/null 2>&1
	else
		fail "--key-desc: a user key in the keyring" "$(cat /tmp/err)"
	fi
	expect_exit 1 "key 'qsnap-nokey': Required key not available (neither a user key" \
		qsnapctl attach "$img" --snapshot s1 --key-desc qsnap-nokey
	crypt_logon_keys

	check "snapshots without a key" "$(qsnapctl snapshots "$img" 2>&1)" \
		sh -c "qsnapctl snapshots $img --json | jq -e '[.snapshots[].name] == [\"s1\", \"s2\"] and .encryption == \"luks\"' > /dev/null"
	qsnapctl diff "$img" s1 s2 > /tmp/diff.out 2>/tmp/err
	rc=$?
	check "diff without a key" "exit $rc: $(cat /tmp/err)" \
		sh -c "[ $rc -le 1 ] && [ -s /tmp/diff.out ]"
}

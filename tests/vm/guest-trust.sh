#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A device never serves wrong bytes: fresh attaches after in-place changes,
# re-created snapshots, killed openers, unreadable snapshot tables,
# attach racing detach, hostile names.  Images are made here with
# qemu-img/qemu-io in /tmp and compared with QEMU's own exports.  Needs
# guest-lib.sh and D (the data disk mount).

# export_sha IMAGE [SNAPSHOT]: sha256 of QEMU's raw export (a copy is
# reverted to SNAPSHOT first, as `qemu-img snapshot -a` does).
export_sha() {
	_src=$1
	if [ -n "${2:-}" ]; then
		cp "$1" /tmp/.export.qcow2
		qemu-img snapshot -a "$2" /tmp/.export.qcow2
		_src=/tmp/.export.qcow2
	fi
	qemu-img convert -O raw "$_src" /tmp/.export.raw
	sha_of /tmp/.export.raw
	rm -f /tmp/.export.raw /tmp/.export.qcow2
}

# The current state rewritten in place (a cluster zeroed and unmapped, its
# host cluster reused for a later write) while a device holds the image:
# a new attach must read what QEMU reads now, not the first device's
# cached tables.  The same for a base image under an overlay, and for an
# image whose data lives in an external data file.
trust_fresh_attach() {
	cd /tmp || return
	rm -f ip.qcow2 ipb.qcow2 ipo.qcow2 ipd.qcow2 ipd.raw
	qemu-img create -q -f qcow2 ip.qcow2 4M
	qemu-io -c 'write -P 0xaa 0 64k' -c 'write -P 0xab 2M 64k' ip.qcow2 > /dev/null
	qemu-img create -q -f qcow2 ipb.qcow2 4M
	qemu-io -c 'write -P 0xba 0 64k' ipb.qcow2 > /dev/null
	qemu-img create -q -f qcow2 -b ipb.qcow2 -F qcow2 ipo.qcow2
	qemu-io -c 'write -P 0xca 3M 64k' ipo.qcow2 > /dev/null
	qemu-img create -q -f qcow2 -o data_file=ipd.raw ipd.qcow2 4M
	qemu-io -c 'write -P 0xda 0 64k' ipd.qcow2 > /dev/null
	for what in image base datafile; do
		case $what in
		image) img=ip.qcow2 change=ip.qcow2 ;;
		base) img=ipo.qcow2 change=ipb.qcow2 ;;
		datafile) img=ipd.qcow2 change=ipd.qcow2 ;;
		esac
		a=$(qsnapctl attach /tmp/$img 2>/tmp/err) || {
			fail "fresh attach after an in-place change ($what): attach" "$(cat /tmp/err)"
			continue; }
		sha_of "$a" > /dev/null		# fill its caches
		qemu-io -c 'write -z -u 0 64k' -c 'write -P 0xcd 1M 64k' \
			/tmp/$change > /dev/null
		want=$(export_sha /tmp/$img)
		b=$(qsnapctl attach /tmp/$img 2>/tmp/err)
		got=$(sha_of "$b")
		check "current state changed in place ($what), another device holding it: a new attach reads QEMU's export" \
			"got $got, QEMU $want" [ "$got" = "$want" ]
		qsnapctl detach "$a" "$b"
	done
	rm -f ip.qcow2 ipb.qcow2 ipo.qcow2 ipd.qcow2 ipd.raw
	cd / || return
}

# The L1 table offset of IMAGE's first snapshot, in hex.
snap_l1() {
	_st=$(od -An -tx1 -j64 -N8 "$1" | tr -d ' \n')
	od -An -tx1 -j$((0x$_st)) -N8 "$1" | tr -d ' \n'
}

# A snapshot deleted and created again under the same name: QEMU gives it
# the same id and often the same L1 table offset.  A device of the old one
# must fail its reads (idle, and while a reader runs through the change),
# and a new attach must read the new one.
trust_recreated_snapshot() {
	img=/tmp/re.qcow2
	rm -f $img
	qemu-img create -q -f qcow2 $img 4M
	qemu-io -c 'write -P 0x11 0 1M' $img > /dev/null
	qemu-img snapshot -c l $img
	old=$(export_sha $img l)
	idle=$(qsnapctl attach $img --snapshot l 2>/tmp/err) || {
		fail "re-created snapshot: attach" "$(cat /tmp/err)"; return; }
	busy=$(qsnapctl attach $img --snapshot l)
	check "re-created snapshot: both devices read the snapshot" "" \
		[ "$(sha_of "$idle")" = "$old" -a "$(sha_of "$busy")" = "$old" ]
	l1_before=$(snap_l1 $img)
	# A reader that keeps reading the busy device through the change.
	touch /tmp/re.run
	(while [ -e /tmp/re.run ]; do
		dd if="$busy" of=/dev/null bs=65536 count=16 iflag=direct 2>/dev/null
	 done) &
	rpid=$!
	qemu-img snapshot -d l $img
	qemu-io -c 'write -P 0x22 0 64k' $img > /dev/null
	qemu-img snapshot -c l $img
	l1_after=$(snap_l1 $img)
	echo "# re-created snapshot: id $(qsnapctl snapshots $img --json | jq -r '.snapshots[0].id'), L1 table at $l1_before before, $l1_after after"
	new=$(export_sha $img l)
	usleep 1500000
	rm -f /tmp/re.run
	wait $rpid
	dd if="$idle" of=/dev/null bs=65536 count=16 iflag=direct 2>/tmp/err
	check "re-created snapshot (same id and name): the idle device's reads fail with EIO" \
		"$(cat /tmp/err)" grep -q 'Input/output error' /tmp/err
	dd if="$busy" of=/dev/null bs=65536 count=16 iflag=direct 2>/tmp/err
	check "re-created snapshot: the device read through the change fails with EIO" \
		"$(cat /tmp/err)" grep -q 'Input/output error' /tmp/err
	fresh=$(qsnapctl attach $img --snapshot l)
	got=$(sha_of "$fresh")
	check "re-created snapshot: a new attach reads the new snapshot" \
		"got $got, QEMU $new (old $old)" [ "$got" = "$new" -a "$new" != "$old" ]
	qsnapctl detach "$idle" "$busy" "$fresh"
	rm -f $img
}

# An image on a block device changed through another path to the same
# storage (here the loop device's backing file; on shared storage another
# host, or the LV under another name): the snapshot deleted and taken
# again over new data while a device holds the block device and its page
# cache holds the old tables.  A new attach must read the image as the
# device holds it now (qsnapctl and the module drop the clean cached
# pages), not the cached header, L1 and L2 tables.
trust_bdev_other_path() {
	img=/tmp/bdev.qcow2 loop=/dev/loop5
	rm -f $img
	qemu-img create -q -f qcow2 $img 4M
	qemu-io -c 'write -P 0x31 0 2M' $img > /dev/null
	qemu-img snapshot -c s $img
	qemu-io -c 'write -P 0x32 1M 2M' $img > /dev/null
	if ! losetup $loop $img; then
		fail "block device, changed through another path: losetup" ""
		return
	fi
	holder=$(qsnapctl attach $loop 2>/tmp/err) || {
		fail "block device, changed through another path: attach" "$(cat /tmp/err)"
		losetup -d $loop; return; }
	old=$(export_sha $img s)
	first=$(qsnapctl attach $loop --snapshot s)
	check "block device image: the snapshot reads as QEMU's export" "" \
		[ "$(sha_of "$first")" = "$old" ]
	sha_of "$holder" > /dev/null
	qsnapctl detach "$first"
	qemu-img snapshot -d s $img
	qemu-io -c 'write -P 0x33 0 3M' $img > /dev/null
	qemu-img snapshot -c s $img
	new=$(export_sha $img s)
	fresh=$(qsnapctl attach $loop --snapshot s 2>/tmp/err)
	got=$([ -n "$fresh" ] && sha_of "$fresh")
	check "block device image changed through another path while a device holds it: a new attach reads the new snapshot" \
		"got $got, QEMU $new (old $old): $(cat /tmp/err)" [ "$got" = "$new" -a "$new" != "$old" ]
	qsnapctl detach $fresh "$holder"
	losetup -d $loop
	rm -f $img
}

# 1000 openers killed around their open(): the device still reads, as
# before, and is not marked gone.  The image is on the ext4 data disk,
# whose page-cache reads fail with EINTR once a fatal signal is pending
# (tmpfs reads do not look).
trust_killed_openers() {
	dev=$(qsnapctl attach $D/img/many.qcow2 --snapshot m4) || {
		fail "killed openers: attach" ""; return; }
	mark=$(qsnap_log_mark)
	run_c_test "killed openers" qsnap_killopen "$dev" 1000
	check "... the device is not marked gone" "$(qsnap_log_since "$mark")" \
		sh -c "! qsnapctl info $dev | grep -q GONE && [ -z \"\$(qsnap_log_since $mark 2>/dev/null)\" ]"
	qsnapctl detach "$dev"
}

# The snapshot table unreadable for a while (every request to the data
# disk fails, fault injection): reads fail meanwhile, but the snapshot is
# not declared gone; once the disk reads again, so does the device.
# Needs CONFIG_FAIL_MAKE_REQUEST (the sanitizer kernel).
trust_table_read_error() {
	f=/sys/kernel/debug/fail_make_request
	[ -d $f ] || { echo "# table read error: needs fail_make_request (the sanitizer kernel)"; return 0; }
	want=$(awk -F"$TAB" '$1 == "same" && $3 == "many.qcow2" && $4 == "m4" { print $5; exit }' $D/manifest)
	dev=$(qsnapctl attach $D/img/many.qcow2 --snapshot m4) || {
		fail "table read error: attach" ""; return; }
	sha_of "$dev" > /dev/null
	mark=$(qsnap_log_mark)
	echo 3 > /proc/sys/vm/drop_caches
	echo 0 > $f/verbose
	echo 100 > $f/probability
	echo -1 > $f/times
	echo 1 > /sys/block/vda/make-it-fail
	dd if="$dev" of=/dev/null bs=65536 count=4 iflag=direct 2>/tmp/err
	echo 0 > /sys/block/vda/make-it-fail
	echo 0 > $f/probability
	logs=$(qsnap_log_since "$mark")
	check "snapshot table unreadable: said once, not declared gone" "$logs" \
		sh -c "echo '$logs' | grep -q 'cannot re-read the snapshot table' &&
		       ! echo '$logs' | grep -q 'reads fail from now on'"
	usleep 1200000
	got=$(sha_of "$dev")
	check "... once the disk reads again, the device reads the snapshot" \
		"got $got, QEMU $want" [ "$got" = "$want" ]
	qsnapctl detach "$dev"
}

# Attach and detach of one index from several processes at once.
trust_attach_detach_race() {
	run_c_test "attach racing detach" qsnap_race $D/img/v3-64k.qcow2 5 2 2 "$1"
}

# Names from the image reach the kernel log escaped: a snapshot name with
# a newline and an escape sequence cannot forge or colour a log line.
trust_escaped_names() {
	img=/tmp/names.qcow2
	qemu-img create -q -f qcow2 $img 1M
	qemu-img snapshot -c "$(printf 'x\nqsnap: forged\033[31m')" $img
	mark=$(qsnap_log_mark)
	if dev=$(qsnapctl attach $img --snapshot 1 2>/tmp/err); then
		qsnap_log_since "$mark" > /tmp/log
		check "a snapshot name with a newline and ESC is escaped in the kernel log" \
			"$(cat -v /tmp/log)" sh -c "! grep -q '^[^ ]* qsnap: forged' /tmp/log &&
			! grep -q \"\$(printf '\\033')\" /tmp/log &&
			grep -q 'x\\\\nqsnap: forged\\\\e\\[31m' /tmp/log"
		qsnapctl detach "$dev"
	else
		fail "escaped names: attach" "$(cat /tmp/err)"
	fi
	rm -f $img
}

# trust_random ROUNDS: qemu-io changes the current state at random,
# snapshots come and go; every round attaches the current state and every
# snapshot afresh (each must equal QEMU's export at that moment, while the
# previous round's device of the current state is still attached), and
# every device attached in an earlier round reads its snapshot as it was
# taken or, once that snapshot is deleted, fails with EIO.
trust_random() {
	img=/tmp/rand.qcow2
	rm -f $img
	: > /tmp/rand.devs
	qemu-img create -q -f qcow2 $img 4M
	bad=0 checked=0 eio=0 prev_cur=
	seed=7
	# rnd N: R = a pseudo-random number below N (no subshell: the seed
	# must advance).
	rnd() { seed=$(( (seed * 1103515245 + 12345) % 2147483648 )); R=$(( seed % $1 )); }
	for round in $(seq 1 "$1"); do
		ops=""
		for k in 1 2 3 4 5; do
			rnd 64
			off=$((R * 65536))
			rnd 4
			case $R in
			0) ops="$ops -c 'write -z -u $off 64k'" ;;
			1) ops="$ops -c 'discard $off 64k'" ;;
			*) rnd 250
			   ops="$ops -c 'write -P $((R + 1)) $off 64k'" ;;
			esac
		done
		eval qemu-io "$ops" $img > /dev/null
		# A snapshot taken, one deleted, or (3 and 4) neither: the
		# header and the snapshot table stay as they were.
		rnd 5
		case $R in
		0 | 1) qemu-img snapshot -c "r$round" $img ;;
		2) victim=$(qemu-img snapshot -l $img | awk 'NR > 2 { print $2 }' | head -n 1)
		   [ -n "$victim" ] && qemu-img snapshot -d "$victim" $img ;;
		esac
		# Devices of earlier rounds: their snapshot as taken, or EIO.
		while read -r dev snap want; do
			[ "$snap" = - ] && continue
			if got=$(dd if="$dev" bs=1M iflag=direct 2>/tmp/err | sha256sum | cut -d' ' -f1) &&
			   ! grep -q '^dd:' /tmp/err; then
				if [ "$got" != "$want" ]; then
					bad=$((bad + 1))
					echo "# round $round: $dev ($snap) read $got, want $want or EIO"
				fi
			elif grep -q 'Input/output error' /tmp/err; then
				eio=$((eio + 1))
			else
				bad=$((bad + 1))
				echo "# round $round: $dev ($snap): $(cat /tmp/err)"
			fi
			checked=$((checked + 1))
		done < /tmp/rand.devs
		# Fresh attaches of the current state and of every snapshot.
		for snap in - $(qemu-img snapshot -l $img | awk 'NR > 2 { print $2 }'); do
			if [ "$snap" = - ]; then
				want=$(export_sha $img)
				dev=$(qsnapctl attach $img 2>/tmp/err)
			else
				want=$(export_sha $img "$snap")
				dev=$(qsnapctl attach $img --snapshot "$snap" 2>/tmp/err)
			fi
			[ -n "$dev" ] || { bad=$((bad + 1)); echo "# round $round: attach $snap: $(cat /tmp/err)"; continue; }
			got=$(sha_of "$dev")
			checked=$((checked + 1))
			if [ "$got" != "$want" ]; then
				bad=$((bad + 1))
				echo "# round $round: fresh attach of $snap read $got, QEMU $want"
			fi
			# Keep one device of each snapshot for the later rounds,
			# and this round's device of the current state until the
			# next round has attached its own.
			if [ "$snap" = - ]; then
				[ -n "$prev_cur" ] && qsnapctl detach "$prev_cur"
				prev_cur=$dev
			elif ! grep -q " $snap " /tmp/rand.devs; then
				echo "$dev $snap $want" >> /tmp/rand.devs
			else
				qsnapctl detach "$dev"
			fi
		done
	done
	check "$1 rounds of random in-place changes and snapshots: $checked reads of fresh and older devices, every one QEMU's bytes or (deleted: $eio) EIO" \
		"$bad wrong" [ "$bad" = 0 -a "$checked" -gt "$1" -a "$eio" -gt 0 ]
	qsnapctl detach --all
	rm -f $img /tmp/rand.devs
}

# aa_exec PROFILE CMD...: run CMD confined by AppArmor profile PROFILE
# (as aa-exec -p does).
aa_exec() {
	a=/proc/self/attr/apparmor/exec
	[ -e $a ] || a=/proc/self/attr/exec
	p=$1
	shift
	sh -c "echo 'exec $p' > $a && exec \"\$@\"" sh "$@"
}

# A confined opener: a process under an AppArmor profile that may open the
# device but not read the image (a backup agent confined to /dev, say),
# the device attached by a process under another profile that may read
# the image.  AppArmor lets a confined task use a file opened by an
# unconfined one, but re-checks a file opened under another profile:
# a re-read of the snapshot table in the opener's context is denied.
# Each open asks for a re-check (recheck_ms 0); it runs in the device's
# worker with the kernel's credentials, so the denial meant for the opener
# can neither fail the check nor mark the device gone.  Kernels without
# AppArmor (the sanitizer kernel) skip it.
trust_confined_opener() {
	[ -d /sys/module/apparmor ] || { echo "# confined opener: no AppArmor in this kernel"; return 0; }
	mountpoint -q /sys/kernel/security ||
		mount -t securityfs securityfs /sys/kernel/security
	printf '%s\n' 'profile qsnap_attacher {' '	file,' '	capability,' '}' \
		'profile qsnap_confined {' '	file,' '	capability,' \
		'	deny /data/** rwlkmx,' '}' > /tmp/confined.profile
	check "confined opener: AppArmor loads the profiles" "$(cat /tmp/err)" \
		apparmor_parser --skip-cache -r /tmp/confined.profile 2> /tmp/err
	denied=yes
	aa_exec qsnap_confined cat $D/img/many.qcow2 > /dev/null 2>&1 && denied=no
	check "... the opener's may not read the image" "it read it" [ $denied = yes ]
	want=$(awk -F"$TAB" '$1 == "same" && $3 == "many.qcow2" && $4 == "m4" { print $5; exit }' $D/manifest)
	dev=$(aa_exec qsnap_attacher qsnapctl attach $D/img/many.qcow2 \
		--snapshot m4 --recheck-ms 0) || {
		fail "confined opener: attach under the attacher's profile" ""; return; }
	mark=$(qsnap_log_mark)
	n=0
	for i in $(seq 1 20); do
		aa_exec qsnap_confined dd if="$dev" of=/dev/null bs=65536 \
			count=1 iflag=direct 2> /dev/null && n=$((n + 1))
	done
	check "... 20 confined openers read the device" "$n read" [ $n = 20 ]
	got=$(sha_of "$dev")
	logs=$(qsnap_log_since "$mark")
	gone=no
	qsnapctl info "$dev" | grep -q GONE && gone=yes
	check "... and it is not gone: no line, QEMU's bytes" \
		"got $got, QEMU $want, gone $gone; $logs" \
		[ "$got" = "$want" -a -z "$logs" -a $gone = no ]
	qsnapctl detach "$dev"
}

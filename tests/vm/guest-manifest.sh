#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The manifest cases (tests/images/make-images.sh) as in-guest tests:
# run_manifest PATTERN runs the manifest lines matching the grep -E PATTERN;
# run_manifest_one_per_image runs the first "same" case of every image.
# Needs guest-lib.sh, D (the data disk mount) and TAB.

run_manifest() {
	grep -E "$1" $D/manifest > /tmp/manifest.sel
	run_manifest_sel
}

run_manifest_one_per_image() {
	awk -F"$TAB" '$1 == "same" && !seen[$3]++' $D/manifest > /tmp/manifest.sel
	run_manifest_sel
}

# run_same FILE ID [DIR PREFIX]: the "same" cases of FILE (a=sha b=size
# c=qsnapctl options): each device's size and SHA-256 equal QEMU's
# export's.  ID names the scratch file, so that two can run at once.  The
# images are read from DIR ($D/img), the cases named PREFIX NAME.
run_same() {
	_dir=${3:-$D/img} _prefix=${4:-}
	while IFS="$TAB" read -r kind name image snap a b c rest; do
		name="$_prefix$name"
		# libcryptsetup unlocks serpent and twofish key slots through
		# AF_ALG, which fails for XTS in the 6.1 guest (EIO; 6.12 and
		# the sanitizer kernel pass): a known gap, said as a skip.
		# On Debian's 7.x kernels AF_ALG offers no cbc(cast5) at all
		# ("cryptsetup benchmark --cipher cast5-cbc-plain64": not
		# available; serpent-xts is), so no cast5 key slot unlocks there.
		case "$(uname -r) $name" in
		6.1.*serpent-xts* | 6.1.*twofish-xts*)
			pass "$name # SKIP libcryptsetup cannot unlock it through AF_ALG on 6.1"
			continue ;;
		7.*cast5-cbc*)
			pass "$name # SKIP AF_ALG of Debian's 7.x kernels has no cbc(cast5) for libcryptsetup"
			continue ;;
		esac
		# shellcheck disable=SC2086
		if ! dev=$(qs_attach "$_dir/$image" "$snap" $c 2>/tmp/err.$2); then
			fail "$name" "attach failed: $(cat /tmp/err.$2)"
			continue
		fi
		sha=$(sha_of "$dev")
		size=$(blockdev --getsize64 "$dev")
		if [ "$sha" = "$a" ] && [ "$size" = "$b" ]; then
			pass "$name"
		else
			fail "$name" "got size $size sha $sha, QEMU: size $b sha $a"
		fi
		qsnapctl detach "$dev" || fail "$name: detach" "detach failed"
	done < "$1"
}

# The cases in /tmp/manifest.sel.  Hashing a whole device keeps one CPU
# busy, so the "same" cases run two at a time (the guests have two
# vCPUs; devices of one image then also share its image object at the
# same time).  The other cases count kernel log lines, and run alone.
run_manifest_sel() {
	grep "^same$TAB" /tmp/manifest.sel > /tmp/same.sel
	if [ -s /tmp/same.sel ]; then
		section "differential (QEMU's exports)"
		awk 'NR % 2 == 1' /tmp/same.sel > /tmp/same.0
		awk 'NR % 2 == 0' /tmp/same.sel > /tmp/same.1
		run_same /tmp/same.0 0 > /tmp/same.out.0 &
		run_same /tmp/same.1 1 > /tmp/same.out.1
		wait
		cat /tmp/same.out.0 /tmp/same.out.1
	fi
	grep -v "^same$TAB" /tmp/manifest.sel > /tmp/manifest.rest
	_sec=
	while IFS="$TAB" read -r kind name image snap a b c d e; do
		case $kind in
		same|fs|parts) _want="differential (QEMU's exports)" ;;
		*) _want="hostile images" ;;
		esac
		[ "$_want" = "$_sec" ] || { _sec=$_want; section "$_sec"; }
		case $kind in
		refuse)
			mark=$(qsnap_log_mark)
			if dev=$(qs_attach "$D/img/$image" "$snap" 2>/tmp/err); then
				fail "$name" "attached as $dev"
				qsnapctl detach "$dev"
				continue
			fi
			logs=$(qsnap_log_since "$mark")
			nlogs=$(echo "$logs" | grep -c 'qsnap: ')
			if ! grep -qF "$a" /tmp/err; then
				fail "$name" "want errno '$a', got: $(cat /tmp/err)"
			elif [ "$nlogs" != 1 ] || ! echo "$logs" | grep -qF "$b"; then
				fail "$name" "want one 'qsnap:' line with '$b', got $nlogs: $logs"
			else
				pass "$name"
			fi
			;;
		eio)	# a=offset b=length c=sha d=size e=dmesg text
			if ! dev=$(qs_attach "$D/img/$image" "$snap" 2>/tmp/err); then
				fail "$name" "attach failed: $(cat /tmp/err)"
				continue
			fi
			mark=$(qsnap_log_mark)
			if dd if="$dev" of=/dev/null bs="$b" skip=$((a / b)) count=1 \
			      iflag=direct 2>/tmp/err; then
				fail "$name" "reading $b bytes at $a succeeded"
			elif ! grep -q "Input/output error" /tmp/err; then
				fail "$name" "want EIO, got: $(cat /tmp/err)"
			else
				logs=$(qsnap_log_since "$mark")
				nlogs=$(echo "$logs" | grep -c 'qsnap: ')
				# With noerror,sync dd reads the bad block as zeros.
				sha=$(dd if="$dev" bs="$b" iflag=direct conv=noerror,sync \
				      2>/dev/null | sha256sum | cut -d' ' -f1)
				if [ "$nlogs" != 1 ] || ! echo "$logs" | grep -qF "$e"; then
					fail "$name" "want one 'qsnap:' line with '$e', got $nlogs: $logs"
				elif [ "$sha" != "$c" ]; then
					fail "$name" "the rest of the device: sha $sha, QEMU: $c"
				else
					pass "$name"
				fi
			fi
			qsnapctl detach "$dev" || fail "$name: detach" "detach failed"
			;;
		fs)	# a=the sums file
			if ! dev=$(qs_attach "$D/img/$image" "$snap" 2>/tmp/err); then
				fail "$name" "attach failed: $(cat /tmp/err)"
				continue
			fi
			mkdir -p /mnt/fs
			if mount -t ext4 -o ro "$dev" /mnt/fs; then
				check "$name" "" sh -c "cd /mnt/fs && sha256sum -c -s $D/img/$a"
				umount /mnt/fs
			else
				fail "$name" "mount failed"
			fi
			qsnapctl detach "$dev" || fail "$name: detach" "detach failed"
			;;
		parts)	# a=partitions expected b=sums of p1's files ("-": none)
			if ! dev=$(qs_attach "$D/img/$image" "$snap" 2>/tmp/err); then
				fail "$name" "attach failed: $(cat /tmp/err)"
				continue
			fi
			k=${dev#/dev/}
			mkdir -p /mnt/fs
			got=$(ls -d /sys/block/"$k"/"$k"p* 2>/dev/null | wc -l)
			if [ "$got" != "$a" ]; then
				fail "$name" "want $a partitions, /sys/block/$k has $got"
			elif [ "$a" = 0 ]; then
				pass "$name"
			elif [ "$(blockdev --getsize64 "${dev}p2")" != 16777216 ]; then
				fail "$name" "${dev}p2: $(blockdev --getsize64 "${dev}p2") bytes"
			elif ! mount -t ext4 -o ro "${dev}p1" /mnt/fs 2>/tmp/err; then
				fail "$name" "mount ${dev}p1: $(cat /tmp/err)"
			else
				check "$name" "" sh -c "cd /mnt/fs && sha256sum -c -s $D/img/$b"
				check "$name: qsnapctl info lists the partitions and the mount" \
					"$(qsnapctl info "$dev")" sh -c \
					"qsnapctl info $dev | grep -q '${dev}p2' &&
					 qsnapctl info $dev | grep -q 'mounted: *${dev}p1 on /mnt/fs'"
				qsnapctl detach "$dev" 2>/tmp/err
				check "$name: detach names the mounted partition" \
					"$(cat /tmp/err)" \
					grep -q "device busy: ${dev}p1 is mounted on /mnt/fs" /tmp/err
				umount /mnt/fs
			fi
			qsnapctl detach "$dev" || fail "$name: detach" "detach failed"
			;;
		hostile)
			mark=$(qsnap_log_mark)
			if dev=$(qs_attach "$D/img/$image" "$snap" 2>/tmp/err); then
				if why=$(read_data_or_eio "$dev"); then
					pass "$name (attached; reads give data or EIO)"
				else
					fail "$name" "$why"
				fi
				qsnapctl detach "$dev" || fail "$name: detach" "detach failed"
			else
				# One line if the kernel refused it, none if
				# qsnapctl did (it parses the chain first).
				nlogs=$(qsnap_log_since "$mark" | grep -c 'qsnap: ')
				want=0
				grep -qE 'attach failed|snapshot .* not found in' \
					/tmp/err && want=1
				if [ "$nlogs" = "$want" ]; then
					pass "$name (refused: $(head -c 100 /tmp/err))"
				else
					fail "$name" "want $want qsnap: lines, got $nlogs: $(qsnap_log_since "$mark") / $(cat /tmp/err)"
				fi
			fi
			;;
		toolrefuse)	# a=message
			mark=$(qsnap_log_mark)
			if dev=$(qs_attach "$D/img/$image" "$snap" 2>/tmp/err); then
				fail "$name" "attached as $dev"
				qsnapctl detach "$dev"
			elif ! grep -qF "$a" /tmp/err; then
				fail "$name" "want '$a', got: $(cat /tmp/err)"
			elif [ -n "$(qsnap_log_since "$mark")" ]; then
				fail "$name" "the kernel was asked: $(qsnap_log_since "$mark")"
			else
				pass "$name"
			fi
			;;
		esac
	done < /tmp/manifest.rest
}

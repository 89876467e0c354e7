#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Lifecycle races, as in-guest tests: detach against readers in flight,
# rmmod while busy, the image changed underneath an attached device, and
# attach/detach cycles.  Needs guest-lib.sh and D (the data disk mount).

# Detach while 4 processes read: refused (EBUSY) until they are done; the
# reads complete and return what they should.  Each reader is held in the
# middle of the device, blocked on a full pipe, until the detach attempts
# are over: how fast the kernel reads must not decide what is tested.
lifecycle_detach_under_io() {
	dev=$(qs_attach $D/img/chain/top3.qcow2 s2) || {
		fail "detach under I/O: attach" "attach failed"; return; }
	want=$(sha_of "$dev")
	rm -f /tmp/readers-go
	for i in 1 2 3 4; do
		(dd if="$dev" bs=65536 iflag=direct 2>/dev/null |
		 { until [ -e /tmp/readers-go ]; do sleep 0.1; done; sha256sum; } |
		 cut -d' ' -f1 > /tmp/reader$i) &
	done
	held=$(openers_of "$dev" 4)
	check "4 readers hold the device open mid-read" "$held of 4" [ "$held" = 4 ]
	early=0
	for i in $(seq 1 20); do
		if qsnapctl detach "$dev" 2>/dev/null; then
			early=1
			break
		fi
	done
	check "detach while 4 processes read: refused while they run" "" [ $early = 0 ]
	check "rmmod while a device is open is refused" "" \
		sh -c "! rmmod qsnap 2>/dev/null"
	touch /tmp/readers-go
	wait
	ok=1
	for i in 1 2 3 4; do
		[ "$(cat /tmp/reader$i)" = "$want" ] || ok=0
	done
	check "the 4 readers read the whole device correctly" "" [ $ok = 1 ]
	if [ $early = 0 ]; then
		check "detach once the readers are done" "" qsnapctl detach "$dev"
	fi
	rm -f /tmp/readers-go
}

# How many processes have block device $1 open, waiting up to 10 s for
# $2 of them.
openers_of() {
	n=0
	for t in $(seq 1 100); do
		n=$(ls -l /proc/[0-9]*/fd/ 2>/dev/null | grep -c " -> $1\$")
		[ "$n" -ge "$2" ] && break
		sleep 0.1
	done
	echo "$n"
}

# The image truncated, then overwritten, under an attached device: every
# read returns data or EIO, detach works.
lifecycle_image_changes() {
	cp $D/img/chain/top3.qcow2 /tmp/changing.qcow2
	cp $D/img/chain/mid3.qcow2 $D/img/chain/base3.qcow2 /tmp/
	for how in truncate overwrite; do
		dev=$(qs_attach /tmp/changing.qcow2 s1) || {
			fail "image changed underneath ($how): attach" "attach failed"
			continue; }
		if [ $how = truncate ]; then
			dd if=/dev/null of=/tmp/changing.qcow2 bs=1 seek=300000 2>/dev/null
		else
			dd if=/dev/urandom of=/tmp/changing.qcow2 bs=65536 count=40 \
			   conv=notrunc 2>/dev/null
		fi
		if why=$(read_data_or_eio "$dev"); then
			pass "image ${how}d under an attached device: data or EIO"
		else
			fail "image ${how}d under an attached device" "$why"
		fi
		check "detach after the image was ${how}d" "" qsnapctl detach "$dev"
		cp $D/img/chain/top3.qcow2 /tmp/changing.qcow2
	done
	rm -f /tmp/changing.qcow2 /tmp/mid3.qcow2 /tmp/base3.qcow2
}

# A value from /proc/meminfo, in KiB.
meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }

# The slab caches that grew most between slabinfo snapshots $1 and $2
# (KiB of active objects), for the failure detail.
slab_growth() {
	awk 'FNR <= 2 { next }
	     FNR == NR { was[$1] = $2 * $4; next }
	     { d = ($2 * $4 - was[$1]) / 1024; if (d > 0) printf "%s +%d KiB\n", $1, d }' \
		"$1" "$2" | sort -t+ -k2 -rn | head -n 5 | tr '\n' ' '
}

# Page cache and free slab objects dropped, free pages parked on per-CPU
# lists given back (compaction drains them), so that MemFree means what
# is allocated.
settle_memory() {
	sync
	echo 3 > /proc/sys/vm/drop_caches
	echo 1 > /proc/sys/vm/compact_memory 2>/dev/null
	sleep 1
}

# Free memory in KiB: MemFree plus the free pages parked on per-CPU lists
# (/proc/zoneinfo "count:"), which MemFree leaves out and which swing by
# megabytes from one moment to the next.
free_kib() {
	awk '$1 == "count:" { pcp += $2 } END { print pcp * 4 }' /proc/zoneinfo > /tmp/pcp
	echo $(( $(meminfo MemFree) + $(cat /tmp/pcp) ))
}

# The /proc/meminfo lines that changed between snapshots $1 and $2.
meminfo_change() {
	awk 'FNR == NR { was[$1] = $2; next }
	     $2 != was[$1] { printf "%s %+d ", $1, $2 - was[$1] }' "$1" "$2"
}

# N attach/read/detach cycles of one snapshot of a chain with compressed
# and extended-L2 layers (every allocation path of an attach), straight
# through the ioctls (qsnap_cycles); prints how many completed.
attach_cycles() {
	qsnap_cycles "$1" $D/img/chain/sub-over-packed.qcow2 s1 \
		$D/img/chain/packed.qcow2
}

# lifecycle_cycles N [memcheck]: N cycles; with memcheck, unreclaimable
# slab and free memory (settled before and after, after 20 warm-up
# cycles) must be back within a stated tolerance: 512 KiB of slab over
# 1000 cycles catches a leak of half a KiB of slab a cycle; 8 MiB of free
# memory (counting pages on the per-CPU lists), two pages a cycle (an L2
# table is 16 pages).  Measured drift: slab -60..-260 KiB; MemFree alone
# -17..+21 MiB, with the per-CPU lists counted +0.2 MiB.  Smaller leaks are kmemleak's job (the sanitizer tier).
# Not on a KASAN kernel: its quarantine holds freed objects back on purpose.
lifecycle_cycles() {
	n=$1
	# Two log lines a cycle on a serial console would dominate the time.
	echo 1 > /proc/sys/kernel/printk
	attach_cycles 20 > /dev/null
	settle_memory
	cp /proc/slabinfo /tmp/slab0
	cp /proc/meminfo /tmp/meminfo0
	slab0=$(meminfo SUnreclaim)
	free0=$(free_kib)
	ok=$(attach_cycles "$n" 2> /tmp/cycles.err)
	settle_memory
	slab1=$(meminfo SUnreclaim)
	free1=$(free_kib)
	cp /proc/slabinfo /tmp/slab1
	cp /proc/meminfo /tmp/meminfo1
	echo 7 > /proc/sys/kernel/printk
	check "$n attach/read/detach cycles" "$ok done: $(cat /tmp/cycles.err)" \
		[ "$ok" = "$n" ]
	[ "${2:-}" = memcheck ] || return 0
	echo "# /proc/meminfo change over $n cycles (KiB): $(meminfo_change /tmp/meminfo0 /tmp/meminfo1)"
	grew=$(slab_growth /tmp/slab0 /tmp/slab1)
	check "after $n cycles: unreclaimable slab within 512 KiB of its start ($((slab1 - slab0)) KiB)" \
		"grew most: $grew" [ $((slab1 - slab0)) -le 512 ]
	check "after $n cycles: free memory within 8 MiB of its start ($((free1 - free0)) KiB)" \
		"$(meminfo_change /tmp/meminfo0 /tmp/meminfo1)" \
		[ $((free0 - free1)) -le 8192 ]
}

# The worker of lifecycle_parallel, /tmp/pworker.sh ID END IMAGE SNAPSHOT
# SHA256: attach, read it all, detach, until time END; then writes
# "cycles failures" to /tmp/pw.ID.
write_parallel_worker() {
	cat > /tmp/pworker.sh <<'WORKER'
. /bin/guest-lib.sh
id=$1 end=$2 img=$3 snap=$4 want=$5 n=0 bad=0
while [ "$(date +%s)" -lt "$end" ]; do
	n=$((n + 1))
	if ! dev=$(qs_attach "$img" "$snap" 2>> /tmp/pw.$id.log); then
		bad=$((bad + 1))
		continue
	fi
	got=$(sha_of "$dev" 2>> /tmp/pw.$id.log)
	[ "$got" = "$want" ] || { bad=$((bad + 1)); echo "$dev read as $got" >> /tmp/pw.$id.log; }
	qsnapctl detach "$dev" 2>> /tmp/pw.$id.log || bad=$((bad + 1))
done
echo "$n $bad" > /tmp/pw.$id
WORKER
}

# Parallel attach/detach from 5 processes for SECONDS: two on the same
# snapshot, one on another snapshot of that image, two on other images.
# Alone, every cycle must succeed and read what QEMU reads.  Then again
# with a sixth process detaching every device it sees: cycles may fail
# (the device went away under its owner), but nothing may hang (every
# worker is bounded) and nothing may be left behind.
lifecycle_parallel() {
	secs=$1
	sha() { awk -F"$TAB" -v i="$1" -v s="$2" \
		'$1 == "same" && $3 == i && $4 == s { print $5; exit }' $D/manifest; }
	set -- "many.qcow2${TAB}m4" "many.qcow2${TAB}m4" "many.qcow2${TAB}m1" \
	       "odd.qcow2${TAB}-" "odd-unaligned.qcow2${TAB}-"
	write_parallel_worker
	for raid in no yes; do
		rm -f /tmp/pw.*
		end=$(( $(date +%s) + secs ))
		id=0
		for spec in "$@"; do
			id=$((id + 1))
			img=${spec%%"$TAB"*} snap=${spec#*"$TAB"}
			timeout 300 sh /tmp/pworker.sh $id $end "$D/img/$img" "$snap" \
				"$(sha "$img" "$snap")" &
		done
		if [ $raid = yes ]; then
			while [ "$(date +%s)" -lt "$end" ]; do
				for d in /dev/qsnap[0-9]*; do
					qsnapctl detach "$d" 2>/dev/null
				done
			done
		fi
		wait
		total=0 bad=0 finished=0
		for i in $(seq 1 $id); do
			[ -f /tmp/pw.$i ] || continue
			finished=$((finished + 1))
			read -r c b < /tmp/pw.$i
			total=$((total + c)) bad=$((bad + b))
		done
		log=$(cat /tmp/pw.*.log 2>/dev/null | head -n 5)
		if [ $raid = no ]; then
			check "5 processes attach/read/detach in parallel for $secs s: $total cycles, all correct" \
				"$finished finished, $bad failed: $log" \
				[ $finished = $id -a $bad = 0 -a $total -ge $id ]
		else
			check "... with a 6th detaching every device: $total cycles ($bad cut short), none hung" \
				"$finished of $id finished: $log" [ $finished = $id ]
		fi
		for d in $(qsnapctl list | awk '/^\/dev\// { print $1 }'); do
			qsnapctl detach "$d"
		done
		check "... nothing left attached" "$(qsnapctl list)" [ -z "$(qsnapctl list)" ]
	done
	rm -f /tmp/pw.* /tmp/pworker.sh
}

# THREADS readers x READS random reads of IMAGE at SNAPSHOT (the mixed
# image by default) against RAW, QEMU's export of it.
lifecycle_readers() {	# THREADS READS [IMAGE SNAPSHOT RAW LABEL]
	img=${3:-readers/top.qcow2} snap=${4:-s1} raw=${5:-readers/s1.raw}
	label=${6:-parallel readers}
	if dev=$(qs_attach "$D/img/$img" "$snap"); then
		run_c_test "$label" qsnap_readers "$dev" "$D/img/$raw" "$1" "$2"
		qsnapctl detach "$dev"
	else
		fail "$label: attach" "attach failed"
	fi
}

# The same readers with 4 L2 tables per image (--l2-cache-kb 1): most
# lookups read a table, many at once, with the mapping lock dropped.
lifecycle_readers_small_cache() {	# THREADS READS
	if dev=$(qsnapctl attach $D/img/readers/top.qcow2 --snapshot s1 \
		 --l2-cache-kb 1); then
		run_c_test "parallel readers, 4 L2 tables per image" \
			qsnap_readers "$dev" "$D/img/readers/s1.raw" "$1" "$2"
		qsnapctl detach "$dev"
	else
		fail "parallel readers, 4 L2 tables per image: attach" "attach failed"
	fi
}

# Every slab allocation of an attach fails once, in turn (fail-nth; the
# sanitizer kernel has fault injection).  The failed allocations' own
# warnings are expected: they are kept off the console, and the kernel
# log of the run is searched for real reports instead.
lifecycle_failnth() {
	dmesg -c > /dev/null
	echo 1 > /proc/sys/kernel/printk
	run_c_test "attach with each allocation failing in turn" qsnap_failnth \
		$D/img/chain/sub-over-packed.qcow2 s1 $D/img/chain/packed.qcow2
	run_c_test "encrypted attach with each allocation failing in turn" qsnap_failnth \
		$D/img/crypt/xts-64k.qcow2 s1 --key=$D/img/crypt/xts-64k.key
	echo 7 > /proc/sys/kernel/printk
	dmesg | grep -E 'BUG:|WARNING:|KASAN|UBSAN|KFENCE|Oops|general protection|circular locking|INFO: ' > /tmp/reports
	check "... no kernel reports among them" "$(head -n 3 /tmp/reports)" \
		[ ! -s /tmp/reports ]
	want=$(awk -F"$TAB" '$1 == "same" && $3 == "chain/sub-over-packed.qcow2" && $4 == "s1" { print $5; exit }' $D/manifest)
	if dev=$(qs_attach $D/img/chain/sub-over-packed.qcow2 s1); then
		check "... and an attach afterwards reads correctly" "" \
			[ "$(sha_of "$dev")" = "$want" ]
		qsnapctl detach "$dev"
	else
		fail "... and an attach afterwards" "attach failed"
	fi
}

# A snapshot of an image a VM is writing: qemu-io holds the image open
# read-write (with QEMU's locks) and keeps writing to its current state
# while s1 is read again and again; every read equals QEMU's export of s1
# taken before.  Then s2 is replaced (deleted, its id reused by a new
# snapshot): the device's next read fails with EIO and one line says why.
# Then s1 is deleted: the same, through an fd opened before (checked every
# recheck_ms) and through a new open (checked at open).
lifecycle_live_image() {	# READS: full reads of s1 during the writes
	reads=$1 img=/tmp/live.qcow2
	want1=$(awk -F"$TAB" '$1 == "same" && $3 == "live/live.qcow2" && $4 == "s1" { print $5; exit }' $D/manifest)
	cp $D/img/live/live.qcow2 $img
	rm -f /tmp/live.fifo
	mkfifo /tmp/live.fifo
	qemu-io -f qcow2 $img < /tmp/live.fifo > /tmp/live.log 2>&1 &
	qpid=$!
	exec 7> /tmp/live.fifo
	# The writer: 64 KiB writes and discards all over the current state.
	touch /tmp/live.run
	(i=0
	 while [ -e /tmp/live.run ]; do
		echo "write -P $((i % 200 + 1)) $(( (i * 37 % 500) * 65536 )) 64k"
		[ $((i % 7)) = 0 ] && echo "discard $(( (i * 53 % 500) * 65536 )) 64k"
		i=$((i + 1))
		usleep 20000
	 done) >&7 &
	wpid=$!
	usleep 300000
	if ! dev=$(qsnapctl attach $img --snapshot s1 2>/tmp/err); then
		fail "image in use: attach while qemu-io holds it open and locked" "$(cat /tmp/err)"
		rm -f /tmp/live.run
		wait $wpid
		exec 7>&-
		wait $qpid
		return
	fi
	pass "image in use: attach while qemu-io holds it open and locked"
	ok=1
	for r in $(seq 1 "$reads"); do
		got=$(dd if="$dev" bs=1M iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
		[ "$got" = "$want1" ] || { ok=0; echo "# read $r: $got, QEMU: $want1"; }
	done
	rm -f /tmp/live.run
	wait $wpid
	echo quit >&7
	exec 7>&-
	wait $qpid
	writes=$(grep -c 'wrote 65536/65536' /tmp/live.log)
	check "image in use: $reads reads of s1 during $writes writes equal QEMU's export" \
		"$(grep -v 'wrote\|^64 KiB\|discarded\|^qemu-io> $' /tmp/live.log | head -n 3)" \
		sh -c "[ $ok = 1 ] && [ $writes -gt 20 ]"
	check "image in use: qemu-img check finds the image clean after the writes" \
		"$(qemu-img check $img 2>&1 | tail -n 2)" qemu-img check -q $img

	# Replaced: s2 deleted, and a new snapshot takes its id "2" (QEMU
	# gives a new snapshot the highest id + 1, and s1 is still there).
	if dev2=$(qsnapctl attach $img --snapshot s2 2>/tmp/err); then
		mark=$(qsnap_log_mark)
		qemu-img snapshot -d s2 $img
		qemu-io -f qcow2 -c 'write -P 0x77 0 4M' $img > /dev/null
		qemu-img snapshot -c s3 $img
		dd if="$dev2" bs=1M count=4 iflag=direct of=/dev/null 2>/tmp/err
		check "snapshot replaced (id reused): reads fail with EIO" \
			"$(qemu-img snapshot -l $img; cat /tmp/err)" \
			sh -c "qemu-img snapshot -l $img | grep -q '^2 *s3' &&
			       grep -q 'Input/output error' /tmp/err"
		logs=$(qsnap_log_since "$mark")
		check "snapshot replaced: one qsnap: line says so" "$logs" sh -c \
			"[ \$(echo '$logs' | grep -c 'qsnap: ') = 1 ] &&
			 echo '$logs' | grep -q 'snapshot 2 \"s2\" was replaced'"
		qsnapctl detach "$dev2"
	else
		fail "snapshot replaced: attach" "$(cat /tmp/err)"
	fi

	# Deleted: an fd opened before sees EIO within recheck_ms; so does a
	# new open, at once.
	exec 8< "$dev"
	dd bs=4096 count=1 skip=0 <&8 > /dev/null 2>&1
	mark=$(qsnap_log_mark)
	qemu-img snapshot -d s1 $img
	usleep 1500000
	dd bs=4096 count=1 skip=2048 <&8 > /dev/null 2>/tmp/err
	check "snapshot deleted: a read through an fd opened before fails with EIO" \
		"$(cat /tmp/err)" grep -q 'Input/output error' /tmp/err
	exec 8<&-
	dd if="$dev" bs=4096 count=1 skip=4096 iflag=direct of=/dev/null 2>/tmp/err
	check "snapshot deleted: a read after a new open fails with EIO" \
		"$(cat /tmp/err)" grep -q 'Input/output error' /tmp/err
	logs=$(qsnap_log_since "$mark")
	check "snapshot deleted: one qsnap: line says so" "$logs" sh -c \
		"[ \$(echo '$logs' | grep -c 'qsnap: ') = 1 ] &&
		 echo '$logs' | grep -q 'snapshot 1 \"s1\" was deleted; reads fail from now on'"
	check "snapshot deleted: qsnapctl info says the snapshot is gone" \
		"$(qsnapctl info "$dev" --json)" sh -c \
		"qsnapctl info $dev --json | jq -e '.snapshot_gone == true' > /dev/null &&
		 qsnapctl info $dev | grep -q 'GONE: deleted or replaced'"
	qsnapctl detach "$dev"
	rm -f $img /tmp/live.fifo
}

# Ten snapshots of one image attached at once share one image object (one
# header and snapshot table, one L2 cache, one decompressed-cluster cache):
# with share_images on, qsnap's own memory (debugfs qsnap/memory) for ten
# devices stays close to one device's; with it off it grows tenfold.  Every
# device reads as QEMU's export either way.
lifecycle_shared_image() {
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
	m=/sys/kernel/debug/qsnap/memory
	[ -r $m ] || { fail "shared image: debugfs qsnap/memory" "not readable"; return; }
	for share in Y N; do
		echo $share > /sys/module/qsnap/parameters/share_images
		ok=1
		: > /tmp/shared.devs
		for i in 1 2 3 4 5 6 7 8 9 10; do
			dev=$(qs_attach $D/img/shared/s4k.qcow2 s$i) || { ok=0; break; }
			want=$(awk -F"$TAB" -v s=s$i '$1 == "same" && $3 == "shared/s4k.qcow2" && $4 == s { print $5; exit }' $D/manifest)
			if [ $i = 1 ]; then
				[ "$(sha_of "$dev")" = "$want" ] || { ok=0; echo "# $dev (s$i) reads wrong"; }
				one=$(awk '$1 == "image_bytes" { print $2 }' $m)
			else
				echo "$dev s$i $want" >> /tmp/shared.devs
			fi
		done
		# The other nine read in full two at a time (one per vCPU:
		# hashing is most of the time), then the memory is measured.
		shared_check() {
			while read -r dev snap want; do
				[ "$(sha_of "$dev")" = "$want" ] || echo "# $dev ($snap) reads wrong"
			done
		}
		awk 'NR % 2 == 1' /tmp/shared.devs | shared_check > /tmp/shared.0 &
		awk 'NR % 2 == 0' /tmp/shared.devs | shared_check > /tmp/shared.1
		wait
		cat /tmp/shared.0 /tmp/shared.1
		grep -q 'reads wrong' /tmp/shared.0 /tmp/shared.1 && ok=0
		[ "$(wc -l < /tmp/shared.devs)" = 9 ] || ok=0
		ten=$(awk '$1 == "image_bytes" { print $2 }' $m)
		images=$(awk '$1 == "images" { print $2 }' $m)
		echo "# share_images=$share: image memory $((one / 1024)) KiB with one device, $((ten / 1024)) KiB with ten ($images image objects)"
		eval "one_$share=$one ten_$share=$ten images_$share=$images ok_$share=$ok"
		qsnapctl detach --all
	done
	echo Y > /sys/module/qsnap/parameters/share_images
	check "ten snapshots of one image read as QEMU's exports, shared and not" "" \
		[ "$ok_Y$ok_N" = 11 ]
	check "shared: one image object, memory under 1.5x one device's ($((ten_Y / 1024)) vs $((one_Y / 1024)) KiB)" \
		"$(cat $m)" sh -c "[ $images_Y = 1 ] && [ $((ten_Y * 2)) -lt $((one_Y * 3)) ]"
	check "not shared: ten image objects, memory over 5x ($((ten_N / 1024)) vs $((one_N / 1024)) KiB)" \
		"" sh -c "[ $images_N = 10 ] && [ $ten_N -gt $((one_N * 5)) ]"
	check "after detach, no image object is left" "$(cat $m)" \
		grep -q '^images 0$' $m
}

# gone_within S DISK: true once /sys/block/DISK is gone, within S seconds
# (an autoclear detach runs in a work item after the last close).
gone_within() {
	_i=0
	while [ -e "/sys/block/$2" ]; do
		[ $_i -ge $(($1 * 10)) ] && return 1
		sleep 0.1
		_i=$((_i + 1))
	done
}

# Autoclear: a device attached with --autoclear outlives opens that claim
# nothing (dd, as udev's probe right after an attach), and detaches itself
# when the file system mounted from it, whole or a partition, is
# unmounted; detach --lazy does the same for a device attached without
# it; rmmod right after such a detach finds the module idle.
lifecycle_autoclear() {
	mkdir -p /mnt/ac
	if dev=$(qsnapctl attach --autoclear $D/img/ext4.qcow2 --snapshot fs1 2>/tmp/err); then
		k=${dev#/dev/}
		dd if="$dev" of=/dev/null bs=4k count=1 2>/dev/null
		check "autoclear: a read that claims nothing (as udev's probe) leaves it attached" \
			"$(qsnapctl list)" [ -e /sys/block/$k ]
		check "autoclear: sysfs, info --json and list say so" "$(qsnapctl list)" \
			sh -c "[ \"\$(cat /sys/block/$k/qsnap/autoclear)\" = 1 ] &&
			       qsnapctl info $dev --json | jq -e '.autoclear == true' > /dev/null &&
			       qsnapctl list | grep -q '(autoclear)'"
		if mount -t ext4 -o ro "$dev" /mnt/ac; then
			check "autoclear: mounted, every file is the snapshot's" "" \
				sh -c "cd /mnt/ac && sha256sum -c -s $D/img/fs1.sums"
			umount /mnt/ac
			check "autoclear: umount detaches it" "$(qsnapctl list)" gone_within 10 $k
			check "... and it is not listed" "$(qsnapctl list)" \
				sh -c "! qsnapctl list | grep -q '^$dev '"
		else
			fail "autoclear: mount" "mount failed"
			qsnapctl detach "$dev"
		fi
	else
		fail "autoclear: attach" "$(cat /tmp/err)"
	fi

	# A partition claimed by a mount arms it too.
	if dev=$(qsnapctl attach --autoclear $D/img/parts-mbr.qcow2 --snapshot parts 2>/tmp/err); then
		k=${dev#/dev/}
		if mount -t ext4 -o ro "${dev}p1" /mnt/ac; then
			check "autoclear: a partition mounted: every file is the snapshot's" "" \
				sh -c "cd /mnt/ac && sha256sum -c -s $D/img/fs1.sums"
			umount /mnt/ac
			check "autoclear: umount of the partition detaches the device" \
				"$(qsnapctl list)" gone_within 10 $k
		else
			fail "autoclear: mount of p1" "mount failed"
			qsnapctl detach "$dev"
		fi
	else
		fail "autoclear: attach parts-mbr" "$(cat /tmp/err)"
	fi

	# Never claimed: it stays, and a plain detach removes it.
	if dev=$(qsnapctl attach --autoclear $D/img/v3-64k.qcow2 --snapshot one 2>/tmp/err); then
		k=${dev#/dev/}
		sha_of "$dev" > /dev/null
		check "autoclear: read in full by a process that claims nothing, it stays" \
			"" [ -e /sys/block/$k ]
		check "... and detach removes it" "" \
			sh -c "qsnapctl detach $dev && [ ! -e /sys/block/$k ]"
	fi

	# detach --lazy: busy is not refused; the device goes at umount.
	if dev=$(qs_attach $D/img/ext4.qcow2 fs1) && mount -t ext4 -o ro "$dev" /mnt/ac; then
		k=${dev#/dev/}
		expect_exit 1 "device busy: $dev is mounted on /mnt/ac" qsnapctl detach "$dev"
		qsnapctl detach --lazy "$dev" 2>/tmp/err
		rc=$?
		check "detach --lazy of a mounted device: exit 0, says when it goes" \
			"exit $rc: $(cat /tmp/err)" \
			sh -c "[ $rc = 0 ] && grep -q 'in use: it detaches when its last user closes it' /tmp/err"
		check "... it is still there, marked autoclear" "$(qsnapctl list)" \
			sh -c "[ -e /sys/block/$k ] && [ \"\$(cat /sys/block/$k/qsnap/autoclear)\" = 1 ]"
		umount /mnt/ac
		check "... and umount detaches it" "$(qsnapctl list)" gone_within 10 $k
	else
		fail "detach --lazy: attach and mount" "failed"
	fi
	if dev=$(qs_attach $D/img/v3-64k.qcow2 one); then
		k=${dev#/dev/}
		qsnapctl detach --lazy "$dev" 2>/tmp/err
		check "detach --lazy of an unused device removes it at once, silently" \
			"$(cat /tmp/err)" sh -c "[ ! -e /sys/block/$k ] && [ ! -s /tmp/err ]"
	fi

	# The last close and rmmod at once: the module waits for the detach.
	if dev=$(qsnapctl attach --autoclear $D/img/ext4.qcow2 --snapshot fs1) &&
	   mount -t ext4 -o ro "$dev" /mnt/ac; then
		umount /mnt/ac
		rmmod qsnap 2>/tmp/err
		rc=$?
		check "autoclear: rmmod right after the last close" "exit $rc: $(cat /tmp/err)" \
			sh -c "[ $rc = 0 ] && [ ! -e /sys/module/qsnap ]"
		[ -e /sys/module/qsnap ] || insmod /lib/modules/qsnap.ko
	else
		fail "autoclear then rmmod: attach and mount" "failed"
	fi
}

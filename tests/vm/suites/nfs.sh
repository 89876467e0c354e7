#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Images on NFS: the guest's own kernel NFS server (NFSv4.2 over
# loopback) exports the test images and a scratch directory; devices
# read them through the NFS client, with direct I/O and buffered, and
# against the manifest; the watch sees a snapshot deleted on the server
# behind the client's caches; the server stopped under a reading device
# with a soft mount (EIO, detach) and a hard one (reads wait, then go on).
# Needs guest-lib.sh, D, TAB; rpc.nfsd, rpc.mountd, exportfs, mount.nfs
# and the nfsd/nfsv4 modules in the guest.

NFS_SCRATCH=/tmp/nfs-export

# nfs_server_start: nfsd threads on port 2049, NFSv4 only, no grace
# period to wait out (nothing to reclaim: the tests' clients say so)
nfs_server_start() {
	rpc.nfsd -p 2049 -N 3 -U 4 || return 1
	echo Y > /proc/fs/nfsd/v4_end_grace 2>/dev/null
	return 0
}
nfs_server_stop() { rpc.nfsd 0; }

nfs_setup() {
	ip link set lo up || return 1
	mkdir -p /var/lib/nfs/v4recovery $NFS_SCRATCH /mnt/nfs-data \
		 /mnt/nfs-soft /mnt/nfs-hard /sbin
	ln -sf "$(command -v mount.nfs)" /sbin/mount.nfs4
	grep -q ' /proc/fs/nfsd ' /proc/mounts ||
		mount -t nfsd nfsd /proc/fs/nfsd || return 1
	# A short lease: a restarted server's clients are back within it.
	echo 10 > /proc/fs/nfsd/nfsv4leasetime
	echo 10 > /proc/fs/nfsd/nfsv4gracetime
	cat > /etc/exports <<EXPORTS
/data 127.0.0.1(ro,fsid=1,no_root_squash,no_subtree_check,insecure)
$NFS_SCRATCH 127.0.0.1(rw,fsid=2,no_root_squash,no_subtree_check,insecure)
EXPORTS
	: > /var/lib/nfs/etab
	exportfs -ra && rpc.mountd -N 3 && nfs_server_start || return 1
	# The scratch export twice, soft and hard (nosharecache: two
	# superblocks); a long attribute cache, so that only the watch's own
	# revalidation sees the server's changes.
	/sbin/mount.nfs4 -n 127.0.0.1:/data /mnt/nfs-data -o ro,retry=0 &&
	/sbin/mount.nfs4 -n 127.0.0.1:$NFS_SCRATCH /mnt/nfs-soft \
		-o soft,timeo=10,retrans=2,actimeo=3600,nosharecache,retry=0 &&
	/sbin/mount.nfs4 -n 127.0.0.1:$NFS_SCRATCH /mnt/nfs-hard \
		-o hard,timeo=10,nosharecache,retry=0
}

nfs_teardown() {
	for m in /mnt/nfs-data /mnt/nfs-soft /mnt/nfs-hard; do
		umount -f $m 2>/dev/null || umount -l $m 2>/dev/null
	done
	nfs_server_stop 2>/dev/null
	exportfs -ua 2>/dev/null
	killall rpc.mountd 2>/dev/null
	rm -rf $NFS_SCRATCH
}

# nfs_dio IMAGE SNAPSHOT [OPTION...]: the direct_io of a device of it
nfs_dio() {
	img=$1 snap=$2
	shift 2
	dev=$(qs_attach "$img" "$snap" "$@" 2>/tmp/err) || { cat /tmp/err; return; }
	cat "/sys/block/${dev#/dev/}/qsnap/direct_io"
	qsnapctl detach "$dev"
}

# The differential suite's images read from NFS, the first case of each
# image (with its options: keys of encrypted images), two at a time as
# run_same does; direct I/O, and one device buffered.
nfs_differential() {
	awk -F"$TAB" '$1 == "same" && !seen[$3]++' $D/manifest > /tmp/nfs-cases
	awk 'NR % 2 == 1' /tmp/nfs-cases > /tmp/nfs-cases.0
	awk 'NR % 2 == 0' /tmp/nfs-cases > /tmp/nfs-cases.1
	run_same /tmp/nfs-cases.0 0 /mnt/nfs-data/img "NFS: " > /tmp/nfs-out.0 &
	run_same /tmp/nfs-cases.1 1 /mnt/nfs-data/img "NFS: " > /tmp/nfs-out.1
	wait
	cat /tmp/nfs-out.0 /tmp/nfs-out.1
	img=/mnt/nfs-data/img/v3-64k.qcow2
	dio=$(nfs_dio $img -)
	check "NFS: data read with direct I/O (direct_io 1)" "direct_io $dio" \
		[ "$dio" = 1 ]
	IFS="$TAB" read -r _ name image snap want _ opts < /tmp/nfs-cases
	# shellcheck disable=SC2086 # the manifest's options are words
	if dev=$(qs_attach /mnt/nfs-data/img/$image "$snap" --direct-io=off $opts \
		 2>/tmp/err); then
		got=$(sha_of "$dev")
		dio=$(cat "/sys/block/${dev#/dev/}/qsnap/direct_io")
		check "NFS, buffered (--direct-io=off): $name" "$got vs $want" \
			[ "$got" = "$want" ]
		check "... direct_io 0" "direct_io $dio" [ "$dio" = 0 ]
		qsnapctl detach "$dev"
	else
		fail "NFS, buffered (--direct-io=off): $name" "$(cat /tmp/err)"
	fi
}

# A snapshot deleted on the server, behind the client's attribute and
# page caches (actimeo=3600): the watch must see it.
nfs_watch() {
	cp $D/img/zstd-64k.qcow2 $NFS_SCRATCH/w.qcow2
	if ! dev=$(qsnapctl attach /mnt/nfs-soft/w.qcow2 --snapshot packed \
		   --recheck-ms 100 2>/tmp/err); then
		fail "NFS watch: attach" "$(cat /tmp/err)"
		return
	fi
	want=$(awk -F"$TAB" '$1 == "same" && $3 == "zstd-64k.qcow2" && $4 == "packed" { print $5; exit }' $D/manifest)
	got=$(sha_of "$dev")
	check "NFS watch: the snapshot read before, equals QEMU's" "$got vs $want" \
		[ "$got" = "$want" ]
	qemu-img snapshot -d packed $NFS_SCRATCH/w.qcow2
	sleep 1
	dd if="$dev" of=/dev/null bs=64k count=1 iflag=direct 2>/tmp/err
	rc=$?
	check "NFS watch: the snapshot deleted on the server: reads fail with EIO" \
		"exit $rc: $(cat /tmp/err)" \
		sh -c "[ $rc != 0 ] && grep -q 'Input/output error' /tmp/err"
	check "... and the kernel says why" "$(dmesg | tail -n 5)" \
		sh -c "dmesg | grep -q '${dev#/dev/}: .*w.qcow2: snapshot .*packed.* was deleted'"
	qsnapctl detach "$dev"
}

# The server stopped under devices: soft mount (reads fail within the
# mount's timeouts, the device detaches), hard mount (a read waits and
# ends with the right bytes once the server is back).
nfs_server_gone() {
	cp $D/img/zstd-64k.qcow2 $NFS_SCRATCH/s.qcow2
	rm -f /tmp/nfs-idle
	want=$(awk -F"$TAB" '$1 == "same" && $3 == "zstd-64k.qcow2" && $4 == "patched" { print $5; exit }' $D/manifest)
	soft=$(qsnapctl attach /mnt/nfs-soft/s.qcow2 --snapshot patched 2>/tmp/err) &&
	hard=$(qsnapctl attach /mnt/nfs-hard/s.qcow2 --snapshot patched 2>/tmp/err) &&
	idle=$(qsnapctl attach /mnt/nfs-hard/s.qcow2 --snapshot packed --no-share 2>/tmp/err) || {
		fail "NFS server gone: attach on soft and hard mounts" "$(cat /tmp/err)"
		[ -z "${soft:-}" ] || qsnapctl detach "$soft"
		[ -z "${hard:-}" ] || qsnapctl detach "$hard"
		return
	}
	nfs_server_stop
	start=$(date +%s)
	timeout 120 dd if="$soft" of=/dev/null bs=1M iflag=direct 2>/tmp/err
	rc=$?
	took=$(($(date +%s) - start))
	check "NFS server gone, soft mount: reads fail with EIO (in $took s)" \
		"exit $rc: $(cat /tmp/err)" \
		sh -c "[ $rc != 0 ] && [ $rc != 124 ] && grep -q 'Input/output error' /tmp/err"
	check "... the device detaches" "" qsnapctl detach "$soft"
	(sha_of "$hard" > /tmp/nfs-hard.sha) &
	reader=$!
	sleep 8
	check "NFS server gone, hard mount: a read waits" "" kill -0 $reader
	# A device nothing reads: detach closes its files, no wait on the
	# server (a read-only NFS file has nothing to flush).
	(qsnapctl detach "$idle" && echo done > /tmp/nfs-idle) 2>/tmp/err &
	waited=0
	while [ ! -s /tmp/nfs-idle ] && [ $waited -lt 30 ]; do
		sleep 1
		waited=$((waited + 1))
	done
	check "... meanwhile an idle device on the hard mount detaches (in $waited s)" \
		"$(cat /tmp/err)" [ -s /tmp/nfs-idle ]
	nfs_server_start
	waited=0
	while kill -0 $reader 2>/dev/null && [ $waited -lt 120 ]; do
		sleep 1
		waited=$((waited + 1))
	done
	got=$(cat /tmp/nfs-hard.sha 2>/dev/null)
	check "... the server back: the read ends (after $waited s), QEMU's bytes" \
		"$got vs $want" [ "$got" = "$want" ]
	kill $reader 2>/dev/null
	check "... the device detaches" "" qsnapctl detach "$hard"
}

suite_nfs() {
	section "images on NFS"
	if ! nfs_setup > /tmp/nfs-err 2>&1; then
		fail "NFS: the guest's NFS server exports, the client mounts" "$(cat /tmp/nfs-err)"
		nfs_teardown
		return
	fi
	nfs_differential
	nfs_watch
	nfs_server_gone
	nfs_teardown
	check "... no qsnap device left" "$(qsnapctl list)" \
		sh -c "[ -z \"\$(qsnapctl list | tail -n +2)\" ]"
}

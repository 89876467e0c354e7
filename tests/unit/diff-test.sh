#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# qsnapctl diff on the host, against QEMU: for every case of
# tests/images/make-diff-images.sh, every byte that differs between QEMU's
# exports of the two sides must lie in a listed extent
# (tests/selftests/qsnap_diffcheck.c).  --exact needs the module: the VM
# tests check it.  TAP on stdout.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

. "$TOP/tests/tap.sh"

make -s -C "$TOP/tools" OUT="$W/qsnapctl" >&2
gcc -O2 -Wall -Wextra -o "$W/diffcheck" "$TOP/tests/selftests/qsnap_diffcheck.c"
bash "$TOP/tests/images/make-diff-images.sh" "$W/img" >&2
while read -r image from to; do
	side() { [ "$1" = - ] && echo cur || echo "$1"; }
	name=${image%.qcow2}
	out=$("$W/qsnapctl" diff "$W/img/$image" "$from" "$to" > "$W/ext" 2>&1 &&
	      "$W/diffcheck" "$W/img/$name@$(side "$from").raw" \
		"$W/img/$name@$(side "$to").raw" "$W/ext")
	tap_emit $? "diff $image $from $to: every differing byte is listed ($(tail -n 1 <<< "$out"))"
done < "$W/img/cases"

# The JSON form lists the same extents.
"$W/qsnapctl" diff "$W/img/plain.qcow2" s1 s2 > "$W/text"
"$W/qsnapctl" diff --json "$W/img/plain.qcow2" s1 s2 |
	jq -r '.extents[] | "\(.offset) \(.length)"' > "$W/json"
cmp -s "$W/text" "$W/json" && [ -s "$W/text" ]
tap_emit $? "diff --json lists the same extents as the text form"
"$W/qsnapctl" diff "$W/img/plain.qcow2" s1 nope 2> "$W/err"
[ $? = 1 ] && grep -q "snapshot 'nope' not found in .*plain.qcow2; available: 1 's1', 2 's2'$" "$W/err"
tap_emit $? "diff with an unknown snapshot: exit 1, says which and lists those there are"
qemu-img create -q -f qcow2 "$W/many.qcow2" 1M
for i in $(seq 1 12); do qemu-img snapshot -c "m$i" "$W/many.qcow2"; done
"$W/qsnapctl" diff "$W/many.qcow2" nope 2> "$W/err"
[ $? = 1 ] && grep -q "10 'm10', and 2 more (qsnapctl snapshots .*many.qcow2)$" "$W/err" &&
	! grep -q "m11" "$W/err"
tap_emit $? "... a long list is cut after 10, with how many more there are"
# Damaged images: diff parses untrusted tables too.  An ASan/UBSan build
# over 100 copies of the images with 4 runs of 8 bytes overwritten (from
# a seeded RANDOM, so a failure repeats) must exit 0 or 1, never crash or
# hang.
make -s -C "$TOP/tools" OUT="$W/qsnapctl-asan" \
	CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all" >&2
RANDOM=7
bad=0
for k in $(seq 1 100); do
	src=$(ls "$W"/img/*.qcow2 | sed -n "$((k % 6 + 1))p")
	cp "$src" "$W/damaged.qcow2"
	size=$(stat -c %s "$W/damaged.qcow2")
	for j in 1 2 3 4; do
		# Half the hits in the first 256 KiB, where the metadata is.
		if [ $((j % 2)) = 0 ] && [ "$size" -gt 262144 ]; then
			off=$(( (RANDOM * 32768 + RANDOM) % 262144 ))
		else
			off=$(( (RANDOM * 32768 + RANDOM) % size ))
		fi
		bytes=
		for b in 1 2 3 4 5 6 7 8; do bytes+=$(printf '\\x%02x' $((RANDOM % 256))); done
		printf "$bytes" | dd of="$W/damaged.qcow2" bs=1 seek="$off" \
			conv=notrunc status=none
	done
	for pair in "s1 s2" "s1 -" "2 1"; do
		# shellcheck disable=SC2086
		timeout 20 "$W/qsnapctl-asan" diff "$W/damaged.qcow2" $pair \
			> /dev/null 2> "$W/err"
		rc=$?
		if [ $rc -gt 1 ]; then
			bad=$((bad + 1))
			echo "# $src damaged, diff $pair: exit $rc: $(head -c 300 "$W/err")"
		fi
	done
done
[ $bad = 0 ]
tap_emit $? "diff on 100 randomly damaged images: exit 0 or 1, no sanitizer report, no hang"

# Output that does not reach its file fails the command (a script must not
# take an empty list for "nothing changed").
for cmd in "diff $W/img/plain.qcow2 s1 s2" "diff --json $W/img/plain.qcow2 s1 s2" \
	   "snapshots $W/img/plain.qcow2" "snapshots --json $W/img/plain.qcow2" \
	   "--help"; do
	# shellcheck disable=SC2086
	"$W/qsnapctl" $cmd > /dev/full 2> "$W/err"
	rc=$?
	[ $rc = 1 ] && grep -qx 'qsnapctl: write error: No space left on device' "$W/err"
	ok=$?
	[ $ok = 0 ] || echo "# exit $rc: $(head -c 200 "$W/err")"
	tap_emit $ok "qsnapctl ${cmd//"$W/img/"/} > /dev/full: exit 1, 'write error: No space left on device'"
done

# Sizes of 1000 to 1023 of a unit are whole numbers, not 1e+03.
qemu-img create -q -f qcow2 "$W/1000m.qcow2" 1000M
qemu-img snapshot -c s "$W/1000m.qcow2"
"$W/qsnapctl" snapshots "$W/1000m.qcow2" > "$W/out"
grep -q ' 1000 MiB$' "$W/out" && ! grep -q 'e+' "$W/out"
ok=$?
[ $ok = 0 ] || echo "# $(tail -n 1 "$W/out" | tr -s ' ')"
tap_emit $ok "a 1000 MiB snapshot is listed as 1000 MiB, not 1e+03 MiB"
# Names from the image are escaped on the terminal: an ESC sequence, a
# newline that would fake a row, a C1 byte, a right-to-left override and a
# byte that is not UTF-8 are shown as C escapes; UTF-8 letters stay.
qemu-img create -q -f qcow2 "$W/esc.qcow2" 1M
qemu-img snapshot -c "$(printf 'red\033[31m\nfake row\302\233\\\303\251\342\200\256ok\377')" "$W/esc.qcow2"
qemu-img snapshot -c plain "$W/esc.qcow2"
"$W/qsnapctl" snapshots "$W/esc.qcow2" > "$W/out"
[ "$(wc -l < "$W/out")" = 3 ] && ! grep -q "$(printf '\033')" "$W/out" &&
	grep -qF 'red\x1b[31m\nfake row\xc2\x9b\\'"$(printf '\303\251')"'\xe2\x80\xaeok\xff ' "$W/out"
ok=$?
[ $ok = 0 ] || echo "# $(cat -v "$W/out" | tr '\n' '|')"
tap_emit $ok "snapshot names with control bytes are escaped in text output, UTF-8 letters kept"
# A refusal says why once, and what to do: a missing backing file names
# --no-backing (attach refuses it before it needs the module).
qemu-img create -q -f qcow2 -u -b "$W/gone.qcow2" -F qcow2 "$W/orphan.qcow2" 1M
"$W/qsnapctl" attach "$W/orphan.qcow2" 2> "$W/err"
rc=$?
[ $rc = 1 ] && [ "$(grep -o 'No such file or directory' "$W/err" | wc -l)" = 1 ] &&
	grep -q 'named by .*orphan.qcow2): No such file or directory; --no-backing attaches the image without it$' "$W/err"
ok=$?
[ $ok = 0 ] || echo "# exit $rc: $(cat "$W/err")"
tap_emit $ok "attach with a missing backing file: the reason once, and --no-backing as the remedy"
"$W/qsnapctl" attach "$W/nonexistent.qcow2" 2> "$W/err"
rc=$?
[ $rc = 1 ] && [ "$(grep -o 'No such file or directory' "$W/err" | wc -l)" = 1 ]
ok=$?
[ $ok = 0 ] || echo "# exit $rc: $(cat "$W/err")"
tap_emit $ok "attach of a missing image says 'No such file or directory' once"
# A FIFO or a directory as IMAGE: refused at once, saying what it is
# (a FIFO used to hang the open).
mkfifo "$W/fifo"
mkdir "$W/dir.qcow2"
for f in fifo:FIFO dir.qcow2:directory; do
	for cmd in attach snapshots "diff" ; do
		# shellcheck disable=SC2086
		timeout 10 "$W/qsnapctl" $cmd "$W/${f%%:*}" $([ "$cmd" = diff ] && echo 1 2) 2> "$W/err"
		rc=$?
		[ $rc = 1 ] && grep -q "${f%%:*}: an\? ${f#*:}, not an image" "$W/err"
		ok=$?
		[ $ok = 0 ] || echo "# exit $rc: $(cat "$W/err")"
		tap_emit $ok "$cmd of a ${f#*:}: refused at once, saying it is a ${f#*:}"
	done
done
# Files an image names are never opened before they are known to be
# regular files or block devices: a FIFO named as the backing file is
# refused without being opened (a writer waiting on it stays waiting),
# and so is a character device.
mkfifo "$W/backing-fifo"
(: > "$W/backing-fifo"; touch "$W/fifo-writer-released") &
writer=$!
qemu-img create -q -f qcow2 -u -b "$W/backing-fifo" -F raw "$W/fifo-backed.qcow2" 1M
timeout 10 "$W/qsnapctl" attach "$W/fifo-backed.qcow2" 2> "$W/err"
rc=$?
sleep 0.5
[ $rc = 1 ] && grep -q "backing-fifo, named by .*fifo-backed.qcow2: a FIFO, not an image" "$W/err" &&
	[ ! -e "$W/fifo-writer-released" ]
ok=$?
[ $ok = 0 ] || echo "# exit $rc: $(cat "$W/err"); writer released: $([ -e "$W/fifo-writer-released" ] && echo yes || echo no)"
tap_emit $ok "a FIFO named as backing file: refused as a FIFO, never opened (its writer still waits)"
kill "$writer" 2> /dev/null
exec 9<> "$W/backing-fifo"	# let the writer's open finish, if it still waits
wait "$writer" 2> /dev/null
exec 9>&-
qemu-img create -q -f qcow2 -u -b /dev/null -F raw "$W/chr-backed.qcow2" 1M
timeout 10 "$W/qsnapctl" attach "$W/chr-backed.qcow2" 2> "$W/err"
[ $? = 1 ] && grep -q "/dev/null, named by .*chr-backed.qcow2: a character device, not an image" "$W/err"
tap_emit $? "a character device named as backing file: refused, saying what it is"

# An image exposes at most what its owner can read: root attaching an
# image that nobody (65534) owns opens the files it names as nobody.  A
# root-only file named as backing or data file is refused (exit 1, the
# reason, before the module is asked); the same image owned by root may
# name it.  (The world-searchable directory keeps the path walk itself
# allowed, so the refusal is the file's own permission.)
T=$(mktemp -d)
chmod 755 "$T"
head -c 1M /dev/urandom > "$T/secret"
chmod 600 "$T/secret"
qemu-img create -q -f qcow2 -u -b "$T/secret" -F raw "$T/names-secret.qcow2" 1M
qemu-img create -q -f qcow2 -o data_file="$T/secret-data",data_file_raw=on \
	"$T/data-secret.qcow2" 1M
cp "$T/secret" "$T/secret-data"
chmod 600 "$T/secret-data"
chown 65534:65534 "$T/names-secret.qcow2" "$T/data-secret.qcow2"
for img in names-secret:backing data-secret:data; do
	timeout 10 "$W/qsnapctl" attach "$T/${img%%:*}.qcow2" 2> "$W/err"
	rc=$?
	[ $rc = 1 ] && [ "$(wc -l < "$W/err")" = 1 ] &&
		grep -q "${img#*:} file $T/secret.* Permission denied: the image's owner (uid 65534) cannot read it" "$W/err"
	ok=$?
	[ $ok = 0 ] || echo "# exit $rc: $(cat "$W/err")"
	tap_emit $ok "root attaching nobody's image that names a root-only ${img#*:} file: refused, the owner cannot read it"
	chown 0:0 "$T/${img%%:*}.qcow2"
	timeout 10 "$W/qsnapctl" attach "$T/${img%%:*}.qcow2" 2> "$W/err"
	! grep -q 'Permission denied\|cannot read' "$W/err"
	ok=$?
	[ $ok = 0 ] || echo "# $(cat "$W/err")"
	tap_emit $ok "... the same image owned by root: its ${img#*:} file is opened"
	chown 65534:65534 "$T/${img%%:*}.qcow2"
done
# A file the owner may read through a group: the owner's groups count.
chgrp 65534 "$T/secret"
chmod 640 "$T/secret"
timeout 10 "$W/qsnapctl" attach "$T/names-secret.qcow2" 2> "$W/err"
! grep -q 'Permission denied\|cannot read' "$W/err"
tap_emit $? "... a backing file the owner's group may read is opened" "$(cat "$W/err")"
rm -rf "$T"

# Usage errors say what is wrong; every command has --help.
"$W/qsnapctl" --bogus 2> "$W/err"
[ $? = 2 ] && grep -q "unknown option '--bogus'" "$W/err"
tap_emit $? "qsnapctl --bogus: exit 2, an unknown option (not an unknown command)"
"$W/qsnapctl" help bogus > "$W/out" 2> "$W/err"
[ $? = 2 ] && grep -q "unknown command 'bogus'" "$W/err" && [ ! -s "$W/out" ]
tap_emit $? "qsnapctl help bogus: exit 2, an unknown command"
for c in attach detach mount list info snapshots diff features udev-env; do
	"$W/qsnapctl" "$c" --help > "$W/out" 2> "$W/err"
	[ $? = 0 ] && grep -q "^  qsnapctl $c" "$W/out" && [ ! -s "$W/err" ] || echo "# $c --help: $(cat "$W/err")"
done > "$W/help"
cat "$W/help"
[ ! -s "$W/help" ]
tap_emit $? "every command's --help exits 0 and shows its usage"
# mount's usage errors, and mount.qsnap's (the same binary by another name).
ln -sf qsnapctl "$W/mount.qsnap"
for c in "mount:mount takes an IMAGE and a DIR" \
	 "mount --partition 0 i d:--partition takes a partition number from 1 up" \
	 "mount --overlay-size lots i d:--overlay-size takes a size such as 512M" \
	 "attach --overlay=lots i:--overlay takes a size such as 512M" \
	 "attach --overlay --json i:--overlay prints its own device"; do
	# shellcheck disable=SC2086
	"$W/qsnapctl" ${c%%:*} > /dev/null 2> "$W/err"
	[ $? = 2 ] && grep -qF -- "${c#*:}" "$W/err" || echo "# ${c%%:*}: $(cat "$W/err")"
done > "$W/usage"
"$W/mount.qsnap" img dir -o partition=x > /dev/null 2> "$W/err"
[ $? = 2 ] && grep -q "^mount.qsnap: invalid option 'partition=x'" "$W/err" ||
	echo "# mount.qsnap -o partition=x: $(cat "$W/err")" >> "$W/usage"
"$W/mount.qsnap" img dir -f -o snapshot=s,ro,noexec > /dev/null 2> "$W/err" ||
	echo "# mount.qsnap -f: $(cat "$W/err")" >> "$W/usage"
cat "$W/usage"
[ ! -s "$W/usage" ]
tap_emit $? "mount and mount.qsnap: usage errors exit 2 and say what is wrong; -f does nothing"
# A damaged entry (reserved bits in the current state's first L2 entry):
# its cluster is listed as differing, and the exit status and the JSON
# say the image is damaged.
peek64() { od -An -tx1 -j "$2" -N8 "$1" | tr -d ' \n'; }
cp "$W/img/plain.qcow2" "$W/l2bad.qcow2"
l1=$((16#$(peek64 "$W/l2bad.qcow2" 40)))
l2=$(( 16#$(peek64 "$W/l2bad.qcow2" "$l1") & 0x00fffffffffffe00 ))
entry=$(( 16#$(peek64 "$W/l2bad.qcow2" "$l2") | 2 ))
printf "$(printf '%016x' "$entry" | sed 's/../\\x&/g')" |
	dd of="$W/l2bad.qcow2" bs=1 seek="$l2" conv=notrunc status=none
"$W/qsnapctl" diff --json "$W/l2bad.qcow2" s1 > "$W/out" 2> "$W/err"
rc=$?
[ $rc = 1 ] && grep -q 'entries did not decode' "$W/err" &&
	jq -e '.damaged_entries > 0 and .extents[0].offset == 0' "$W/out" > /dev/null
ok=$?
[ $ok = 0 ] || echo "# exit $rc: $(cat "$W/err") $(head -c 300 "$W/out")"
tap_emit $ok "diff of an image with a damaged L2 entry: exit 1, damaged_entries in the JSON, the cluster listed"
printf '\x03' | dd of="$W/l2bad.qcow2" bs=1 seek=79 conv=notrunc status=none
"$W/qsnapctl" snapshots --json "$W/l2bad.qcow2" > "$W/out" 2> "$W/err"
[ $? = 0 ] && grep -q 'marked the image corrupt' "$W/err" && grep -q 'image is dirty' "$W/err" &&
	jq -e '.dirty and .corrupt' "$W/out" > /dev/null
tap_emit $? "snapshots of a dirty, corrupt-marked image: says both, and the JSON too"

# An encrypted image's tables are not encrypted: snapshots and diff read
# them without a key (only guest data would need one).
sec=(--object secret,id=k,data=pass)
encopts=driver=qcow2,file.filename=$W/luks.qcow2,encrypt.key-secret=k
# (QEMU gives up timing PBKDF2 now and then: "Unable to get accurate CPU
# usage"; again.)
for _ in $(seq 1 30); do
	qemu-img create -q "${sec[@]}" -f qcow2 -o encrypt.format=luks,encrypt.key-secret=k \
		"$W/luks.qcow2" 4M 2> /dev/null && break
done
qemu-io "${sec[@]}" --image-opts "$encopts" -c 'write -P 0x11 0 64k' > /dev/null
qemu-img snapshot "${sec[@]}" --image-opts "$encopts" -c s1
qemu-io "${sec[@]}" --image-opts "$encopts" -c 'write -P 0x22 1M 64k' > /dev/null
"$W/qsnapctl" snapshots --json "$W/luks.qcow2" > "$W/out" 2> "$W/err" &&
	jq -e '.encryption == "luks" and .snapshots[0].name == "s1"' "$W/out" > /dev/null
tap_emit $? "snapshots of a LUKS-encrypted image without a key: listed, encryption luks"
"$W/qsnapctl" diff "$W/luks.qcow2" s1 > "$W/out" 2> "$W/err"
[ $? = 0 ] && [ "$(cat "$W/out")" = "1048576 65536" ]
ok=$?
[ $ok = 0 ] || echo "# $(cat "$W/out" "$W/err" | tr '\n' ' ')"
tap_emit $ok "diff of a LUKS-encrypted image without a key: the changed cluster"

# No key option on a terminal: qsnapctl asks, without echo; a wrong
# passphrase is refused before the kernel is asked.
pty_attach() {	# PASSPHRASE: the terminal's transcript, then "exit N"
	timeout 120 python3 - "$W/qsnapctl" "$W/luks.qcow2" "$1" <<'PY'
import os, pty, sys, time
tool, image, passphrase = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.execv(tool, [tool, "attach", image, "--snapshot", "s1"])
out = b""
def read_until(want, timeout=20):
    global out
    end = time.time() + timeout
    while want not in out and time.time() < end:
        try:
            out += os.read(fd, 4096)
        except OSError:
            break
read_until(b"Passphrase for ")
os.write(fd, passphrase.encode() + b"\n")
read_until(b"\0")	# to the end
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace") + "\nexit %d\n" % os.waitstatus_to_exitcode(status))
PY
}
out=$(pty_attach wrong-pw-123)
grep -q "^Passphrase for $W/luks.qcow2: " <<< "$out" &&
	grep -q "no key slot of $W/luks.qcow2 matches the passphrase" <<< "$out" &&
	! grep -q wrong-pw-123 <<< "$out" && [ "$(tail -n 1 <<< "$out")" = "exit 1" ]
ok=$?
[ $ok = 0 ] || echo "# $(tr '\r\n' '  ' <<< "$out")"
tap_emit $ok "attach on a terminal without a key: asks without echo; a wrong passphrase: exit 1, no key slot matches"

# Ctrl-C at the prompt: the terminal gets its echo back, and qsnapctl dies
# of SIGINT; while it waits there the passphrase buffer is locked in
# memory (VmLck) and the process is not dumpable (its /proc files belong
# to root, not to the user; checked as the Dumpable flag cannot be read).
out=$(timeout 120 python3 - "$W/qsnapctl" "$W/luks.qcow2" <<'PY'
import os, pty, sys, termios, time
tool, image = sys.argv[1:3]
pid, fd = pty.fork()
if pid == 0:
    os.execv(tool, [tool, "attach", image, "--snapshot", "s1"])
out = b""
end = time.time() + 20
while b"Passphrase for " not in out and time.time() < end:
    out += os.read(fd, 4096)
time.sleep(0.3)
lck = [l for l in open("/proc/%d/status" % pid) if l.startswith("VmLck:")]
echo_off = not termios.tcgetattr(fd)[3] & termios.ECHO
os.write(fd, b"\x03")
_, status = os.waitpid(pid, 0)
echo_back = bool(termios.tcgetattr(fd)[3] & termios.ECHO)
print("prompted %s echo_off %s %s sigint %s echo_back %s" % (
    b"Passphrase for " in out, echo_off, lck[0].split()[1] if lck else "?",
    os.WIFSIGNALED(status) and os.WTERMSIG(status) == 2, echo_back))
PY
)
read -r _ prompted _ echo_off lck _ sigint _ echo_back <<< "$out"
[ "$prompted" = True ] && [ "$echo_off" = True ] && [ "$sigint" = True ] &&
	[ "$echo_back" = True ]
tap_emit $? "Ctrl-C at the passphrase prompt: qsnapctl dies of SIGINT, the terminal echoes again" "$out"
[ "${lck:-0}" -ge 4 ] 2> /dev/null
tap_emit $? "... while it asks, the passphrase buffer is locked in memory (VmLck ${lck:-?} kB)" "$out"

# An image picks the PBKDF2 iteration counts its key slots and volume key
# digest cost: 2^31 (an hour of hashing per attach) is refused before any
# hashing, with the count, in the tool (the module parses the same way).
luks_at=$(LC_ALL=C grep -obUaP 'LUKS\xba\xbe' "$W/luks.qcow2" | head -n 1 | cut -d: -f1)
for f in "key slot 0:$((luks_at + 208 + 4))" "volume key digest:$((luks_at + 164))"; do
	cp "$W/luks.qcow2" "$W/luks-iter.qcow2"
	printf '\200\000\000\000' | dd of="$W/luks-iter.qcow2" bs=1 seek="${f#*:}" \
		conv=notrunc 2> /dev/null
	timeout 20 "$W/qsnapctl" snapshots "$W/luks-iter.qcow2" > /dev/null 2> "$W/err"
	rc=$?
	[ $rc = 1 ] && grep -q "LUKS ${f%%:*}: 2147483648 PBKDF2 iterations (at most 67108864)" "$W/err"
	ok=$?
	[ $ok = 0 ] || echo "# exit $rc: $(cat "$W/err")"
	tap_emit $ok "a LUKS ${f%%:*} asking 2^31 PBKDF2 iterations: refused at once, saying so"
done

# Bash completion offers the snapshots of the IMAGE on the line, also
# when an option comes before it.
got=$(PATH=$W:$PATH bash -c '
	source "$1/tools/qsnapctl.bash-completion"
	comp() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _qsnapctl; echo "${COMPREPLY[*]}"; }
	comp qsnapctl diff --json "$2" ""
	comp qsnapctl diff "$2" ""
	comp qsnapctl attach --index 3 "$2" --snapshot ""' sh "$TOP" "$W/img/plain.qcow2")
[ "$got" = "$(printf '1 2\n1 2\n1 2')" ]
ok=$?
[ $ok = 0 ] || echo "# $(echo "$got" | tr '\n' '|')"
tap_emit $ok "bash completion: the snapshots of the image, also after an option"

# Without the module (never loaded on the host), attach of what the tool
# can already tell is unusable says why, not "is the module loaded?".
if [ ! -e /dev/qsnap-control ]; then
	head -c 1048576 /dev/zero > "$W/raw.img"
	: > "$W/empty.img"
	qemu-img create -q -f vmdk "$W/disk.vmdk" 1M
	qemu-img create -q -f qcow2 "$W/one.qcow2" 1M
	qemu-img snapshot -c s "$W/one.qcow2"
	for c in "raw.img:not a qcow2 image" "empty.img:file too small for a qcow2 header" \
		 "disk.vmdk:not a qcow2 image" "one.qcow2 --snapshot nope:available: 1 's'"; do
		# shellcheck disable=SC2086
		"$W/qsnapctl" attach "$W/"${c%%:*} 2> "$W/err"
		rc=$?
		[ $rc = 1 ] && grep -qF "${c#*:}" "$W/err" && ! grep -q 'module' "$W/err"
		ok=$?
		[ $ok = 0 ] || echo "# exit $rc: $(cat "$W/err")"
		tap_emit $ok "attach ${c%%:*} without the module: says '${c#*:}', does not blame the module"
	done
fi
tap_end

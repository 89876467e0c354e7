#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Build, once, the sanitizer test kernel: Debian's linux-source-6.12 with
# KASAN, kmemleak, lockdep, UBSAN, KFENCE and fault injection, configured
# from tinyconfig as ../../../shared/debug-kernel.md describes (about six
# minutes on two cores).  The built tree is cached and is the KDIR the
# module is built against; prints its path.
set -euo pipefail
CACHE=${QSNAP_CACHE:-/var/cache/qsnap}
TREE=$CACHE/debug-kernel
log() { echo "debug-kernel: $*" >&2; }

ENABLE=(64BIT SMP ACPI SLUB CC_OPTIMIZE_FOR_PERFORMANCE KERNEL_GZIP UNWINDER_ORC
	DEBUG_INFO_NONE PRINTK PRINTK_TIME TTY SERIAL_8250 SERIAL_8250_CONSOLE
	BLK_DEV_INITRD RD_GZIP BINFMT_ELF BINFMT_SCRIPT PROC_FS SYSFS DEVTMPFS
	DEVTMPFS_MOUNT TMPFS SHMEM MULTIUSER FUTEX EPOLL SIGNALFD TIMERFD EVENTFD
	FILE_LOCKING POSIX_TIMERS AIO IO_URING IKCONFIG IKCONFIG_PROC MODULES MODULE_UNLOAD
	MODULE_FORCE_UNLOAD BLOCK BLK_DEV BLK_DEV_LOOP PCI VIRTIO VIRTIO_PCI
	VIRTIO_BLK EXT4_FS BLK_DEBUG_FS CRYPTO_DEFLATE CRYPTO_ZSTD
	FAULT_INJECTION FAILSLAB FAIL_PAGE_ALLOC FAIL_MAKE_REQUEST
	FAULT_INJECTION_DEBUG_FS DEBUG_FS KASAN KASAN_GENERIC KASAN_INLINE
	KASAN_VMALLOC DEBUG_KMEMLEAK DEBUG_KMEMLEAK_AUTO_SCAN PROVE_LOCKING
	DEBUG_ATOMIC_SLEEP DEBUG_LIST UBSAN UBSAN_BOUNDS SLUB_DEBUG KFENCE
	DETECT_HUNG_TASK ZLIB_INFLATE ZSTD_DECOMPRESS
	MD BLK_DEV_DM DM_SNAPSHOT	# the overlay of qsnapctl mount
	CRYPTO_AES CRYPTO_AES_NI_INTEL CRYPTO_XTS CRYPTO_CBC CRYPTO_ECB	# encrypted
	CRYPTO_CTR CRYPTO_ESSIV CRYPTO_SHA256 CRYPTO_SERPENT CRYPTO_TWOFISH	# images
	CRYPTO_CAST5 CRYPTO_USER_API_SKCIPHER	# (libcryptsetup: AF_ALG)
	KEYS CRYPTO_HMAC CRYPTO_SHA1 CRYPTO_SHA512)	# LUKS key checks, logon keys
DISABLE=(SLUB_TINY CC_OPTIMIZE_FOR_SIZE MODULE_SIG MODVERSIONS PANIC_ON_OOPS
	 KERNEL_XZ KERNEL_LZMA KERNEL_BZIP2 KERNEL_LZO KERNEL_LZ4 KERNEL_ZSTD)

# The recipe's fingerprint: a changed option list rebuilds the tree.
stamp=$(echo "${ENABLE[*]} / ${DISABLE[*]}" | sha256sum | cut -c1-16)
if [ -f "$TREE/.qsnap-built-$stamp" ]; then
	echo "$TREE"
	exit 0
fi

tarball=$(ls /usr/src/linux-source-6.12.tar.* 2>/dev/null | head -n 1 || true)
if [ -z "$tarball" ]; then
	log "installing linux-source-6.12"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends linux-source-6.12 >&2
	tarball=$(ls /usr/src/linux-source-6.12.tar.* | head -n 1)
fi
rm -rf "$TREE"
mkdir -p "$TREE"
log "unpacking $tarball"
tar -xf "$tarball" -C "$TREE" --strip-components=1
cd "$TREE"
log "configuring"
make -s tinyconfig >&2
make -s kvm_guest.config >&2
args=()
for o in "${ENABLE[@]}"; do args+=(--enable "$o"); done
for o in "${DISABLE[@]}"; do args+=(--disable "$o"); done
scripts/config "${args[@]}" --set-val NR_CPUS 8 --set-val FRAME_WARN 2048
make -s olddefconfig >&2
# tinyconfig silently drops options whose dependencies are missing.
missing=""
for o in "${ENABLE[@]}"; do
	grep -q "^CONFIG_$o=y" .config || missing+=" $o"
done
if [ -n "$missing" ]; then
	log "options that did not stick:$missing"
	exit 1
fi
log "building (about six minutes on two cores)"
start=$(date +%s)
make -s -j"$(nproc)" bzImage modules >&2
log "built in $(( $(date +%s) - start )) s"
touch ".qsnap-built-$stamp"
echo "$TREE"

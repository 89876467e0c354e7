/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * qsnap: expose an internal snapshot of a qcow2 image as a read-only block
 * device.  Userspace ABI of the control device /dev/qsnap-control.
 *
 * Every struct here has a fixed size and layout on all architectures (only
 * fixed-width types, natural alignment, explicit padding), so no compat_ioctl
 * translation is needed.  Reserved fields and unknown flag bits must be zero:
 * the kernel refuses anything else with EINVAL, which keeps them usable for
 * later extensions.
 */
#ifndef _UAPI_LINUX_QSNAP_H
#define _UAPI_LINUX_QSNAP_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define QSNAP_CONTROL_NAME	"qsnap-control"

/*
 * Snapshot ids and names, NUL-terminated.  QEMU limits names to 255 bytes
 * and ids to 127; longer strings in an image are reported truncated and
 * cannot be selected.
 */
#define QSNAP_NAME_MAX		256
/* Image path as reported back by QSNAP_IOC_GET_INFO (d_path of the file). */
#define QSNAP_PATH_MAX		1024

/* Let the kernel pick the first free device index. */
#define QSNAP_INDEX_ANY		(~0U)

/* struct qsnap_attach.flags */
/* snapshot[] names the snapshot (id first, then name); else the current state. */
#define QSNAP_ATTACH_F_SNAPSHOT		(1U << 0)
/* data_fd is the image's external data file (required iff it has one). */
#define QSNAP_ATTACH_F_DATA_FILE	(1U << 1)
/*
 * Ignore the image's backing file: what it does not allocate reads as
 * zeros (for untrusted images).  backing must then be empty.
 */
#define QSNAP_ATTACH_F_NO_BACKING	(1U << 2)
/*
 * Do not scan the device for a partition table: the kernel's partition
 * parsers (MBR, GPT and the others the kernel is built with) then never
 * see the image's first sectors.  For untrusted images.
 */
#define QSNAP_ATTACH_F_NO_PARTSCAN	(1U << 3)
/*
 * Detach the device by itself when its last opener closes it, once it has
 * been claimed: opened exclusively (O_EXCL), as a mount and device-mapper
 * do, whole or a partition.  Opens that claim nothing (udev's probe after
 * the attach, dd) neither arm it nor, while they last, let it go.  As
 * loop's LO_FLAGS_AUTOCLEAR, but without its race with udev.
 */
#define QSNAP_ATTACH_F_AUTOCLEAR	(1U << 4)
#define QSNAP_ATTACH_SETTABLE_FLAGS	(QSNAP_ATTACH_F_SNAPSHOT | \
					 QSNAP_ATTACH_F_DATA_FILE | \
					 QSNAP_ATTACH_F_NO_BACKING | \
					 QSNAP_ATTACH_F_NO_PARTSCAN | \
					 QSNAP_ATTACH_F_AUTOCLEAR)

/*
 * struct qsnap_attach.set: the per-device settings the caller gives; each
 * one not given takes the module parameter of the same name (read at
 * attach), and its field must be zero.
 */
#define QSNAP_SET_DIRECT_IO		(1U << 0) /* direct_io: 0 or 1 */
#define QSNAP_SET_SHARE_IMAGES		(1U << 1) /* share_images: 0 or 1 */
#define QSNAP_SET_L2_CACHE_KB		(1U << 2) /* l2_cache_kb: at least 1 */
#define QSNAP_SET_RECHECK_MS		(1U << 3) /* recheck_ms: 0 = every read */
#define QSNAP_SETTABLE			(QSNAP_SET_DIRECT_IO | \
					 QSNAP_SET_SHARE_IMAGES | \
					 QSNAP_SET_L2_CACHE_KB | \
					 QSNAP_SET_RECHECK_MS)

/* Bytes of a volume key, at most (LUKS1 with a 512-bit XTS key) */
#define QSNAP_KEY_MAX			64

/* struct qsnap_key.flags */
#define QSNAP_KEY_F_KEYRING		(1U << 0) /* @key names a logon key (0.8) */

/**
 * struct qsnap_key - the key of one encrypted image of the chain, as
 *	passed to QSNAP_IOC_ATTACH
 * @layer:	0 for the image, i for backing file i (@backing[i - 1]).
 * @size:	bytes of @key: the LUKS header's key size, or 16 for legacy AES;
 *		with QSNAP_KEY_F_KEYRING the length of the description.
 * @key:	LUKS: the volume key, which the caller unlocked from a key
 *		slot; legacy AES: the passphrase's first 16 bytes, zero-padded.
 *		With QSNAP_KEY_F_KEYRING: the description of a "logon" key of
 *		the caller's keyrings whose payload is that key, as dm-crypt
 *		takes ":SIZE:logon:DESC" (no terminating NUL counted in @size).
 *		The kernel keeps the key only in the cipher's state, for as
 *		long as the device lives, and never shows it.  A LUKS key is
 *		checked against the header's digest of the volume key (a wrong
 *		one is refused with EKEYREJECTED); a legacy AES key cannot be
 *		checked, and a wrong one reads as garbage.
 * @flags:	QSNAP_KEY_F_*.
 * @__pad:	must be zero.
 * @__reserved:	must be zero.
 */
struct qsnap_key {
	__u32 layer;
	__u32 size;
	__u8 key[QSNAP_KEY_MAX];
	__u32 flags;
	__u32 __pad;
	__u64 __reserved;
};

/* Formats of backing files */
#define QSNAP_FORMAT_QCOW2		1
#define QSNAP_FORMAT_RAW		2

/* Backing files below the image, at most */
#define QSNAP_MAX_BACKING		16

/* struct qsnap_backing.flags */
#define QSNAP_BACKING_F_DATA_FILE	(1U << 0)	/* data_fd is valid */

/**
 * struct qsnap_backing - one backing file, as passed to QSNAP_IOC_ATTACH
 * @fd:		an fd of the backing file, opened for reading only.
 * @data_fd:	with QSNAP_BACKING_F_DATA_FILE: its external data file.
 * @format:	QSNAP_FORMAT_*: what the file is.  Must agree with the
 *		format its child names in its header, if it names one;
 *		else QSNAP_FORMAT_RAW is refused for a file with the qcow2
 *		magic (format probing would have made it qcow2).
 * @flags:	QSNAP_BACKING_F_*.
 * @__reserved:	must be zero.
 */
struct qsnap_backing {
	__s32 fd;
	__s32 data_fd;
	__u32 format;
	__u32 flags;
	__u64 __reserved[2];
};

/**
 * struct qsnap_attach - argument of QSNAP_IOC_ATTACH
 * @image_fd:	in: an fd of the qcow2 image, opened for reading only.  The
 *		caller's own permissions decide what can be attached; the
 *		kernel takes its own reference to the file.
 * @flags:	in: QSNAP_ATTACH_F_*.
 * @index:	in: the wanted device index, or QSNAP_INDEX_ANY;
 *		out: the index of the new /dev/qsnapN.
 * @__pad:	must be zero.
 * @size:	out: the device size in bytes (must be zero on input).
 * @snapshot:	in: snapshot id or name, NUL-terminated, with
 *		QSNAP_ATTACH_F_SNAPSHOT; else must be all zero.
 * @backing:	in: a pointer to @nr_backing struct qsnap_backing: the
 *		image's backing chain, top-down, exactly as the headers
 *		declare it (the kernel never opens a path named in an image;
 *		the caller resolves the chain and passes fds).
 * @nr_backing:	in: at most QSNAP_MAX_BACKING; 0 with
 *		QSNAP_ATTACH_F_NO_BACKING or for an image without backing file.
 * @data_fd:	in: with QSNAP_ATTACH_F_DATA_FILE: the image's external data
 *		file, opened for reading only (a negative fd is EBADF).
 * @set:	in: QSNAP_SET_*: which of the settings below are given.
 * @recheck_ms:	in: with QSNAP_SET_RECHECK_MS: re-read the snapshot table at
 *		most this often while reading (see the module parameter).
 * @l2_cache_kb: in: with QSNAP_SET_L2_CACHE_KB: L2 tables cached per image
 *		of the chain, in KiB.
 * @direct_io:	in: with QSNAP_SET_DIRECT_IO: read data clusters with
 *		O_DIRECT where the file system allows (1) or buffered (0).
 * @share_images: in: with QSNAP_SET_SHARE_IMAGES: share parsed images and
 *		their caches with other devices showing snapshots of the
 *		same image (1) or not (0).
 * @__pad2:	must be zero.
 * @keys:	in: a pointer to @nr_keys struct qsnap_key: one for each
 *		encrypted image of the chain, none for the others (an
 *		encrypted image without one is ENOKEY).
 * @nr_keys:	in: at most 1 + QSNAP_MAX_BACKING.
 * @__pad3:	must be zero.
 * @__reserved:	must be zero.
 */
struct qsnap_attach {
	__s32 image_fd;
	__u32 flags;
	__u32 index;
	__u32 __pad;
	__u64 size;
	char snapshot[QSNAP_NAME_MAX];
	__u64 backing;
	__u32 nr_backing;
	__s32 data_fd;
	__u32 set;
	__u32 recheck_ms;
	__u32 l2_cache_kb;
	__u8 direct_io;
	__u8 share_images;
	__u16 __pad2;
	__u64 keys;
	__u32 nr_keys;
	__u32 __pad3;
	__u64 __reserved[2];
};

/*
 * struct qsnap_detach.flags: a device that is open is not refused (EBUSY)
 * but detached when its last opener closes it (as loop's LOOP_CLR_FD on a
 * busy device); one that is not is detached at once.
 */
#define QSNAP_DETACH_F_LAZY		(1U << 0)

/**
 * struct qsnap_detach - argument of QSNAP_IOC_DETACH
 * @index:	in: the index of the device to remove.
 * @flags:	in: QSNAP_DETACH_F_*.
 * @__reserved:	must be zero.
 */
struct qsnap_detach {
	__u32 index;
	__u32 flags;
	__u64 __reserved[3];
};

/* struct qsnap_info.flags */
#define QSNAP_INFO_F_SNAPSHOT	(1U << 0) /* a snapshot, not the current state */
#define QSNAP_INFO_F_CORRUPT	(1U << 1) /* the image has the corrupt bit set */
#define QSNAP_INFO_F_DIRTY	(1U << 2) /* the image has the dirty bit set */
/* The snapshot was deleted or replaced since attach: reads fail with EIO. */
#define QSNAP_INFO_F_GONE	(1U << 3)
/* it detaches itself at its last close (QSNAP_ATTACH_F_AUTOCLEAR, or lazy) */
#define QSNAP_INFO_F_AUTOCLEAR	(1U << 4)
/* an image of the chain is encrypted: @cipher says how (the top one's) */
#define QSNAP_INFO_F_ENCRYPTED	(1U << 5)

/**
 * struct qsnap_info - argument of QSNAP_IOC_GET_INFO
 * @index:	in: the device index.
 * @flags:	out: QSNAP_INFO_F_*.
 * @size:	out: device size in bytes.
 * @cluster_size: out: the image's cluster size in bytes.
 * @qcow2_version: out: 2 or 3.
 * @date_sec:	out: snapshot creation time (seconds since the epoch).
 * @date_nsec:	out: and its nanoseconds.
 * @__pad:	zero.
 * @vm_clock_nsec: out: guest run time at the snapshot.
 * @image:	out: path of the image file, NUL-terminated (may be truncated).
 * @snapshot_id: out: snapshot id, empty for the current state.
 * @snapshot_name: out: snapshot name, empty for the current state.
 * @cipher:	out: with QSNAP_INFO_F_ENCRYPTED, the cipher of the first
 *		encrypted image of the chain, as LUKS names it
 *		("aes-xts-plain64"), NUL-terminated (empty before version 0.7).
 * @__reserved: zero.
 */
struct qsnap_info {
	__u32 index;
	__u32 flags;
	__u64 size;
	__u32 cluster_size;
	__u32 qcow2_version;
	__u32 date_sec;
	__u32 date_nsec;
	__u64 vm_clock_nsec;
	char image[QSNAP_PATH_MAX];
	char snapshot_id[QSNAP_NAME_MAX];
	char snapshot_name[QSNAP_NAME_MAX];
	char cipher[32];
	__u64 __reserved[4];
};

/* QSNAP_IOC_GET_FEATURES: what this module supports */
#define QSNAP_FEATURE_QCOW2_V2		(1ULL << 0)
#define QSNAP_FEATURE_QCOW2_V3		(1ULL << 1)
#define QSNAP_FEATURE_DEFLATE		(1ULL << 2) /* deflate-compressed clusters */
#define QSNAP_FEATURE_ZSTD		(1ULL << 3) /* zstd-compressed clusters */
#define QSNAP_FEATURE_EXTENDED_L2	(1ULL << 4) /* subclusters */
#define QSNAP_FEATURE_BACKING		(1ULL << 5) /* backing chains */
#define QSNAP_FEATURE_DATA_FILE		(1ULL << 6) /* external data files */
#define QSNAP_FEATURE_LUKS		(1ULL << 7) /* LUKS-encrypted images (0.7) */
#define QSNAP_FEATURE_AES		(1ULL << 8) /* legacy AES-encrypted images */
#define QSNAP_FEATURE_KEYRING		(1ULL << 9) /* QSNAP_KEY_F_KEYRING (0.8) */

/**
 * struct qsnap_features - argument of QSNAP_IOC_GET_FEATURES
 * @features:	out: QSNAP_FEATURE_*.
 * @attach_flags: out: the QSNAP_ATTACH_F_* bits this module accepts.
 * @attach_set:	out: the QSNAP_SET_* bits this module accepts (0 before
 *		version 0.5).
 * @detach_flags: out: the QSNAP_DETACH_F_* bits this module accepts (0
 *		before version 0.6).
 * @__pad:	zero.
 * @__reserved:	zero.
 */
struct qsnap_features {
	__u64 features;
	__u32 attach_flags;
	__u32 attach_set;
	__u32 detach_flags;
	__u32 __pad;
	__u64 __reserved[5];
};

#define QSNAP_IOC_MAGIC		0xa7

/*
 * QSNAP_IOC_ATTACH returns the index of the new device (as LOOP_CTL_ADD
 * does) and also writes it to @index; a buffer it cannot write to is
 * EFAULT before any device is made.  Modules before 0.5 return 0.
 */
#define QSNAP_IOC_ATTACH	_IOWR(QSNAP_IOC_MAGIC, 0x00, struct qsnap_attach)
#define QSNAP_IOC_DETACH	_IOW(QSNAP_IOC_MAGIC, 0x01, struct qsnap_detach)
#define QSNAP_IOC_GET_INFO	_IOWR(QSNAP_IOC_MAGIC, 0x02, struct qsnap_info)
#define QSNAP_IOC_GET_FEATURES	_IOR(QSNAP_IOC_MAGIC, 0x03, struct qsnap_features)

#endif /* _UAPI_LINUX_QSNAP_H */

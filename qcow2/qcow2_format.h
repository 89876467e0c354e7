/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * qcow2 on-disk layout, as specified by QEMU's docs/interop/qcow2.txt.
 * All on-disk integers are big-endian.
 */
#ifndef QSNAP_QCOW2_FORMAT_H
#define QSNAP_QCOW2_FORMAT_H

#include "qcow2_port.h"

#define QCOW2_MAGIC		0x514649fbU	/* "QFI\xfb" */

#define QCOW2_MIN_CLUSTER_BITS	9
#define QCOW2_MAX_CLUSTER_BITS	21

/* Limits QEMU enforces when it opens an image (block/qcow2.h). */
#define QCOW2_MAX_L1_SIZE		(32U << 20)	/* bytes */
#define QCOW2_MAX_REFTABLE_SIZE		(8U << 20)	/* bytes */
#define QCOW2_MAX_SNAPSHOTS		65536U
#define QCOW2_MAX_SNAPSHOTS_SIZE	(1024ULL * QCOW2_MAX_SNAPSHOTS)
#define QCOW2_MAX_SNAPSHOT_EXTRA_DATA	1024U
#define QCOW2_MAX_BACKING_FILE_NAME	1023U

/* Incompatible feature bits */
#define QCOW2_INCOMPAT_DIRTY		BIT_ULL(0)
#define QCOW2_INCOMPAT_CORRUPT		BIT_ULL(1)
#define QCOW2_INCOMPAT_DATA_FILE	BIT_ULL(2)
#define QCOW2_INCOMPAT_COMPRESSION	BIT_ULL(3)
#define QCOW2_INCOMPAT_EXTL2		BIT_ULL(4)

#define QCOW2_COMPRESSION_ZLIB		0
#define QCOW2_COMPRESSION_ZSTD		1

/* QEMU keeps the backing format name in a 16-byte buffer. */
#define QCOW2_MAX_BACKING_FORMAT	15U
#define QCOW2_MAX_DATA_FILE_NAME	1023U

#define QCOW2_CRYPT_NONE		0
#define QCOW2_CRYPT_AES			1	/* legacy AES-CBC */
#define QCOW2_CRYPT_LUKS		2

/* Header extension magics */
#define QCOW2_EXT_END			0x00000000U
#define QCOW2_EXT_BACKING_FORMAT	0xe2792acaU
#define QCOW2_EXT_FEATURE_TABLE		0x6803f857U
#define QCOW2_EXT_CRYPTO		0x0537be77U
#define QCOW2_EXT_BITMAPS		0x23852875U
#define QCOW2_EXT_DATA_FILE		0x44415441U

/* L1 entries: bits 9-55 the L2 table offset, bit 63 "copied". */
#define QCOW2_L1E_OFFSET_MASK		0x00fffffffffffe00ULL
#define QCOW2_L1E_RESERVED_MASK		0x7f000000000001ffULL

/* L2 entries (standard, 64-bit) */
#define QCOW2_OFLAG_COPIED		BIT_ULL(63)
#define QCOW2_OFLAG_COMPRESSED		BIT_ULL(62)
#define QCOW2_OFLAG_ZERO		BIT_ULL(0)
#define QCOW2_L2E_OFFSET_MASK		0x00fffffffffffe00ULL
#define QCOW2_L2E_RESERVED_MASK		0x3f000000000001feULL

/*
 * Compressed cluster descriptor, for x = 62 - (cluster_bits - 8): bits
 * 0..x-1 the host offset of the stream (any byte), bits x..61 the number
 * of 512-byte sectors it occupies after the one holding its first byte.
 */
#define QCOW2_COMPRESSED_SECTOR_SIZE	512U

/*
 * Extended L2 entries (incompatible bit 4): 128 bits, the standard entry
 * then a bitmap.  Bits 0-31: subcluster allocated; bits 32-63: subcluster
 * reads as zeros.  Bit 0 of the standard entry is reserved there.
 */
#define QCOW2_EXTL2_SUBCLUSTERS		32U
#define QCOW2_EXTL2_SUBCLUSTER_BITS	5
#define QCOW2_EXTL2_MIN_CLUSTER_BITS	14	/* subclusters of >= 512 bytes */

/* The fields every version has: the whole version 2 header. */
struct qcow2_header_v2 {
	__be32 magic;
	__be32 version;
	__be64 backing_file_offset;
	__be32 backing_file_size;
	__be32 cluster_bits;
	__be64 size;
	__be32 crypt_method;
	__be32 l1_size;
	__be64 l1_table_offset;
	__be64 refcount_table_offset;
	__be32 refcount_table_clusters;
	__be32 nb_snapshots;
	__be64 snapshots_offset;
};

/* Version 3: header_length >= 104 guarantees these. */
struct qcow2_header_v3 {
	struct qcow2_header_v2 v2;
	__be64 incompatible_features;
	__be64 compatible_features;
	__be64 autoclear_features;
	__be32 refcount_order;
	__be32 header_length;
};

/* Optional field, present when header_length > 104. */
#define QCOW2_COMPRESSION_TYPE_OFFSET	104

struct qcow2_ext_header {
	__be32 magic;
	__be32 len;
};

/* One snapshot table entry; extra data, id and name follow it. */
struct qcow2_snapshot_header {
	__be64 l1_table_offset;
	__be32 l1_size;
	__be16 id_str_size;
	__be16 name_size;
	__be32 date_sec;
	__be32 date_nsec;
	__be64 vm_clock_nsec;
	__be32 vm_state_size;
	__be32 extra_data_size;
};

/* The extra data fields QEMU defines; an entry may have fewer or more. */
struct qcow2_snapshot_extra {
	__be64 vm_state_size_large;
	__be64 disk_size;
	__be64 icount;
};

/* The crypto header extension: where LUKS's header is (method 2). */
struct qcow2_crypto_ext {
	__be64 offset;		/* a multiple of the cluster size */
	__be64 length;
};

/*
 * LUKS version 1 (cryptsetup's docs/on-disk-format.pdf), as QEMU embeds it
 * at the crypto extension's offset: key material offsets count in 512-byte
 * sectors from the start of this header, and must lie inside the
 * extension's length.
 */
#define LUKS1_MAGIC		"LUKS\xba\xbe"
#define LUKS1_MAGIC_LEN		6
#define LUKS1_NAME_LEN		32	/* cipher name, mode and hash spec */
#define LUKS1_DIGEST_LEN	20
#define LUKS1_SALT_LEN		32
#define LUKS1_UUID_LEN		40
#define LUKS1_KEY_SLOTS		8
#define LUKS1_STRIPES		4000
#define LUKS1_SLOT_ENABLED	0x00ac71f3U
#define LUKS1_SLOT_DISABLED	0x0000deadU
#define LUKS1_SECTOR_SIZE	512U

struct luks1_key_slot {
	__be32 active;
	__be32 iterations;
	u8 salt[LUKS1_SALT_LEN];
	__be32 key_offset;	/* sectors from the header's start */
	__be32 stripes;
};

struct luks1_header {
	char magic[LUKS1_MAGIC_LEN];
	__be16 version;
	char cipher_name[LUKS1_NAME_LEN];
	char cipher_mode[LUKS1_NAME_LEN];
	char hash_spec[LUKS1_NAME_LEN];
	__be32 payload_offset;	/* sectors */
	__be32 key_bytes;
	u8 mk_digest[LUKS1_DIGEST_LEN];
	u8 mk_digest_salt[LUKS1_SALT_LEN];
	__be32 mk_digest_iterations;
	char uuid[LUKS1_UUID_LEN];
	struct luks1_key_slot key_slots[LUKS1_KEY_SLOTS];
};

static_assert(sizeof(struct qcow2_header_v2) == 72, "qcow2 v2 header layout");
static_assert(sizeof(struct qcow2_header_v3) == 104, "qcow2 v3 header layout");
static_assert(sizeof(struct qcow2_ext_header) == 8, "qcow2 extension layout");
static_assert(sizeof(struct qcow2_snapshot_header) == 40,
	      "qcow2 snapshot header layout");
static_assert(sizeof(struct qcow2_snapshot_extra) == 24,
	      "qcow2 snapshot extra data layout");
static_assert(sizeof(struct qcow2_crypto_ext) == 16,
	      "qcow2 crypto extension layout");
static_assert(sizeof(struct luks1_key_slot) == 48, "LUKS1 key slot layout");
static_assert(sizeof(struct luks1_header) == 592, "LUKS1 header layout");

#endif /* QSNAP_QCOW2_FORMAT_H */

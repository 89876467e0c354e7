/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * qcow2 image parsing and validation: the decoded header, the snapshot
 * table, the choice of a snapshot, and the decoding of L1/L2 entries.
 *
 * Nothing here trusts the file: every offset, length and count read from
 * the image is checked against the limits QEMU enforces and against the
 * size of the file before it is used.  All functions return 0 or a negative
 * errno and, on error, leave one human-readable line in img->err.
 */
#ifndef QSNAP_QCOW2_H
#define QSNAP_QCOW2_H

#include "qcow2_format.h"

#define QCOW2_ERR_MAX		192

/**
 * struct qcow2_io - how the format code reads the image file
 * @pread:	read exactly @len bytes at @off into @buf; 0 or -errno.
 *		Only called for ranges inside @file_size.
 * @opaque:	passed to @pread.
 * @file_size:	size of the image file in bytes.
 * @tables_only: the caller reads the header and tables, never guest data
 *		(qsnapctl snapshots, diff): an encrypted image is accepted,
 *		as its tables are not encrypted.
 */
struct qcow2_io {
	int (*pread)(void *opaque, void *buf, size_t len, u64 off);
	void *opaque;
	u64 file_size;
	bool tables_only;
};

/*
 * QEMU's BDRV_MAX_LENGTH: the largest disk QEMU opens or exports,
 * INT64_MAX rounded down to BDRV_MAX_ALIGNMENT (1 GiB).  A block device
 * holds it too (i_size is a loff_t).
 */
#define QCOW2_MAX_DISK_SIZE	(0x7fffffffffffffffULL & ~((1ULL << 30) - 1))

/**
 * struct qcow2_snapshot - one decoded snapshot table entry
 * @l1_table_offset: file offset of the snapshot's L1 table.
 * @l1_size:	its number of entries.
 * @date_sec:	creation time, seconds since the epoch.
 * @date_nsec:	and its nanoseconds.
 * @extra_data_size: bytes of extra data after the fixed part.
 * @vm_state_size_hdr: the entry's 32-bit VM state size.
 * @vm_clock_nsec: guest clock at creation.
 * @vm_state_size: the VM state size: the extra data's 64-bit field when
 *		recorded, which overrides @vm_state_size_hdr.
 * @disk_size:	the snapshot's own virtual disk size when its extra data
 *		records one, else the image's size (what QEMU assumes).
 * @icount:	instruction count from the extra data, -1 when not recorded.
 * @id_str:	the id, NUL-terminated.
 * @name:	the name, NUL-terminated.
 * @extra_tail:	extra data past the fields QEMU defines, NULL when none.
 * @entry_offset: file offset the entry was read from.
 *
 * Mirrors QEMU's QCowSnapshot plus the raw fields, so that together they
 * say everything the entry's bytes say (qcow2_snapshot_same()).
 */
struct qcow2_snapshot {
	u64 l1_table_offset;
	u32 l1_size;
	u32 date_sec;
	u32 date_nsec;
	u32 extra_data_size;
	u32 vm_state_size_hdr;
	u64 vm_clock_nsec;
	u64 vm_state_size;
	u64 disk_size;
	u64 icount;
	char *id_str;
	char *name;
	u8 *extra_tail;
	u64 entry_offset;
};

/* Bytes of a volume key, at most: LUKS1 with a 512-bit XTS key. */
#define QCOW2_KEY_MAX		64
/*
 * The most PBKDF2 iterations a LUKS header may ask (a key slot's, or the
 * volume key digest's).  QEMU and cryptsetup time theirs to 2 s and 125 ms
 * of the machine that made the image, some millions on today's CPUs; an
 * image asking 2^31 would keep an attach hashing for an hour.
 */
#define QCOW2_LUKS_ITER_MAX	0x4000000U	/* 2^26 */

/* How the IV of a 512-byte sector is made from its number. */
enum qcow2_ivgen {
	QCOW2_IV_NONE,		/* ecb: no IV */
	QCOW2_IV_PLAIN,		/* the low 32 bits, little-endian */
	QCOW2_IV_PLAIN64,	/* all 64 bits, little-endian */
	QCOW2_IV_ESSIV,		/* plain64, encrypted with a hash of the key */
};

/**
 * struct qcow2_crypto - how an encrypted image's data clusters are
 *	encrypted (crypt_method 1 or 2), decoded from its header and, for
 *	LUKS, from the LUKS1 header it embeds
 * @header_offset: LUKS: file offset of the LUKS header (the crypto
 *		header extension's), cluster-aligned
 * @header_length: LUKS: bytes the extension reserves for it
 * @cipher:	the block cipher, as the kernel and LUKS name it ("aes")
 * @mode:	"xts", "cbc", "ecb" or "ctr"
 * @ivgen:	how sector numbers become IVs
 * @ivhash:	QCOW2_IV_ESSIV: the hash of the key ("sha256")
 * @hash:	LUKS: the PBKDF2 hash of the key slots and of the digest
 * @key_bytes:	bytes of the volume key
 * @guest_iv:	IVs count guest sectors (legacy AES); else host sectors
 *		of the file holding the data (LUKS)
 * @mk_digest:	LUKS: PBKDF2-@hash of the volume key, which checks a key
 * @mk_digest_salt: its salt
 * @mk_digest_iterations: its iteration count (not zero)
 */
struct qcow2_crypto {
	u64 header_offset;
	u64 header_length;
	char cipher[LUKS1_NAME_LEN];
	char mode[LUKS1_NAME_LEN];
	enum qcow2_ivgen ivgen;
	char ivhash[LUKS1_NAME_LEN];
	char hash[LUKS1_NAME_LEN];
	u32 key_bytes;
	bool guest_iv;
	u8 mk_digest[LUKS1_DIGEST_LEN];
	u8 mk_digest_salt[LUKS1_SALT_LEN];
	u32 mk_digest_iterations;
};

/**
 * struct qcow2_image - a decoded, validated qcow2 header
 * @version:	2 or 3.
 * @cluster_bits: log2 of @cluster_size (9..21).
 * @cluster_size: bytes per cluster.
 * @size:	current virtual disk size in bytes.
 * @file_size:	size of the image file when it was opened.
 * @l1_table_offset: file offset of the current state's L1 table.
 * @l1_size:	its number of entries.
 * @header_length: bytes of the header (72 for version 2).
 * @refcount_order: log2 of the refcount width in bits.
 * @crypt_method: QCOW2_CRYPT_* (0: not encrypted).
 * @crypto:	with @crypt_method: how the data is encrypted.
 * @compression_type: QCOW2_COMPRESSION_ZLIB (deflate) or _ZSTD.
 * @extended_l2: L2 entries have subcluster bitmaps (incompatible bit 4).
 * @subcluster_bits: log2 of the subcluster size: @cluster_bits - 5 with
 *		extended L2, else @cluster_bits.
 * @csize_shift: bit position of the sector count in a compressed
 *		cluster descriptor (62 - (@cluster_bits - 8)).
 * @incompatible_features: the header's feature bitmaps.
 * @compatible_features: likewise.
 * @autoclear_features: likewise.
 * @backing_file_offset: file offset of the backing file name, 0 if none.
 * @backing_file_size: its length in bytes.
 * @backing_file: the backing file name, NUL-terminated; "" when none.
 * @backing_format: the backing format extension, NUL-terminated; "" when none.
 * @data_file:	the external data file name extension, NUL-terminated.
 * @has_data_file: incompatible bit 2: data clusters are in a data file.
 * @data_file_size: where data clusters must lie: the data file's size,
 *		else @file_size.
 * @nb_snapshots: entries in the snapshot table.
 * @snapshots_offset: file offset of the snapshot table.
 * @snapshots:	@nb_snapshots decoded entries, after qcow2_read_snapshots().
 * @err:	the line the last failing function left.
 */
struct qcow2_image {
	u32 version;
	u32 cluster_bits;
	u64 cluster_size;
	u64 size;
	u64 file_size;
	u64 l1_table_offset;
	u32 l1_size;
	u32 header_length;
	u32 refcount_order;
	u32 crypt_method;
	struct qcow2_crypto crypto;
	u32 compression_type;
	bool extended_l2;
	u32 subcluster_bits;
	u32 csize_shift;
	u64 incompatible_features;
	u64 compatible_features;
	u64 autoclear_features;
	u64 backing_file_offset;
	u32 backing_file_size;
	char backing_file[QCOW2_MAX_BACKING_FILE_NAME + 1];
	char backing_format[QCOW2_MAX_BACKING_FORMAT + 1];
	char data_file[QCOW2_MAX_DATA_FILE_NAME + 1];
	bool has_data_file;
	u64 data_file_size;
	u32 nb_snapshots;
	u64 snapshots_offset;
	struct qcow2_snapshot *snapshots;
	char err[QCOW2_ERR_MAX];
};

/**
 * struct qcow2_view - the disk one attach exposes: a snapshot or the
 * current state, reduced to what the read path needs.
 * @l1_table_offset: file offset of the L1 table (validated).
 * @l1_size:	its number of entries.
 * @l1_used: how many L1 entries can map guest data below @disk_size:
 *	     min(@l1_size, entries needed for @disk_size).
 * @disk_size: the exposed size in bytes.
 * @snapshot: the snapshot, or NULL for the current state.
 */
struct qcow2_view {
	u64 l1_table_offset;
	u32 l1_size;
	u32 l1_used;
	u64 disk_size;
	const struct qcow2_snapshot *snapshot;
};

/* How a guest range maps onto the image file. */
enum qcow2_map_type {
	QCOW2_MAP_UNALLOCATED,	/* not in this image: the backing file's data */
	QCOW2_MAP_ZERO,		/* reads as zeros */
	QCOW2_MAP_DATA,		/* stored uncompressed at host_offset */
	QCOW2_MAP_COMPRESSED,	/* a compressed cluster */
};

/**
 * struct qcow2_mapping - what one L2 entry says about a guest offset
 * @type:	how the bytes read
 * @len:	bytes from the guest offset on that map the same way, up to
 *		the end of the (sub)cluster run inside this cluster
 * @host_offset: QCOW2_MAP_DATA: file offset of the guest offset's byte;
 *		QCOW2_MAP_COMPRESSED: file offset of the compressed stream
 * @compressed_len: QCOW2_MAP_COMPRESSED: bytes the stream may occupy from
 *		@host_offset (at most two clusters; may run past the end of
 *		the file, where it reads as zeros)
 */
struct qcow2_mapping {
	enum qcow2_map_type type;
	u64 len;
	u64 host_offset;
	u32 compressed_len;
};

int qcow2_open(struct qcow2_image *img, const struct qcow2_io *io);
void qcow2_close(struct qcow2_image *img);

int qcow2_read_snapshots(struct qcow2_image *img, const struct qcow2_io *io);
int qcow2_find_snapshot(const struct qcow2_image *img, const char *id_or_name);
int qcow2_find_snapshot_id(const struct qcow2_image *img, const char *id);
bool qcow2_snapshot_same(const struct qcow2_snapshot *a,
			 const struct qcow2_snapshot *b);
int qcow2_snapshot_copy(struct qcow2_snapshot *dst,
			const struct qcow2_snapshot *src);
void qcow2_snapshot_free(struct qcow2_snapshot *sn);
int qcow2_read_table_location(const struct qcow2_io *io, u64 *offset,
			      u32 *count, u64 *disk_size);
int qcow2_reread_snapshot(const struct qcow2_io *io, u64 table, u64 offset,
			  u64 disk_size, struct qcow2_snapshot *sn);
int qcow2_select(struct qcow2_image *img, int snapshot_index,
		 struct qcow2_view *view);

int qcow2_crypto_open(struct qcow2_image *img, const struct qcow2_io *io);
void qcow2_crypto_name(const struct qcow2_crypto *c, char *buf, size_t size);

int qcow2_decode_l1_entry(struct qcow2_image *img, u64 l1_entry,
			  u32 l1_index, u64 *l2_offset);
int qcow2_map_l2_entry(struct qcow2_image *img, const __be64 *l2,
		       u32 l2_index, u64 guest_offset,
		       struct qcow2_mapping *map);
void qcow2_decode_compressed(const struct qcow2_image *img, u64 l2_entry,
			     u64 *host_offset, u32 *len);

__printf(3, 4)
int qcow2_error(struct qcow2_image *img, int err, const char *fmt, ...);

/* log2 of the entries in one L2 table: 8-byte entries, or 16 extended. */
static inline u32 qcow2_l2_bits(const struct qcow2_image *img)
{
	return img->cluster_bits - (img->extended_l2 ? 4 : 3);
}

static inline u64 qcow2_offset_into_cluster(const struct qcow2_image *img,
					    u64 offset)
{
	return offset & (img->cluster_size - 1);
}

/* Index into the L1 table of the entry that maps guest @offset. */
static inline u64 qcow2_offset_to_l1_index(const struct qcow2_image *img,
					   u64 offset)
{
	return offset >> (img->cluster_bits + qcow2_l2_bits(img));
}

/* Index into an L2 table of the entry that maps guest @offset. */
static inline u32 qcow2_offset_to_l2_index(const struct qcow2_image *img,
					   u64 offset)
{
	return (offset >> img->cluster_bits) &
	       ((1U << qcow2_l2_bits(img)) - 1);
}

/* Number of L1 entries needed to map @size bytes (QEMU's size_to_l1()). */
static inline u64 qcow2_size_to_l1(const struct qcow2_image *img, u64 size)
{
	u32 shift = img->cluster_bits + qcow2_l2_bits(img);

	return (size >> shift) + !!(size & ((1ULL << shift) - 1));
}

#endif /* QSNAP_QCOW2_H */

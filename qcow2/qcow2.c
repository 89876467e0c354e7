// SPDX-License-Identifier: GPL-2.0-only
/*
 * qcow2 header decoding and validation, and L1/L2 entry decoding.
 *
 * The checks follow QEMU's qcow2_do_open() (block/qcow2.c), which defines
 * what a valid image is, with one deliberate difference: QEMU lets metadata
 * lie past the end of the file (reads there return zeros), qsnap refuses it,
 * because no image QEMU writes has it and a kernel reader should not have to
 * reason about tables that are half outside their container.
 */
#include "qcow2.h"

int qcow2_error(struct qcow2_image *img, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(img->err, sizeof(img->err), fmt, ap);
	va_end(ap);
	return -err;
}

/* Read @len bytes at @off, refusing ranges outside the file. */
static int qcow2_pread(struct qcow2_image *img, const struct qcow2_io *io,
		       void *buf, size_t len, u64 off, const char *what)
{
	int ret;

	if (off > io->file_size || len > io->file_size - off)
		return qcow2_error(img, EINVAL,
				   "%s at offset %llu runs past the end of the file (%llu bytes)",
				   what, (unsigned long long)off,
				   (unsigned long long)io->file_size);
	ret = io->pread(io->opaque, buf, len, off);
	if (ret < 0)
		return qcow2_error(img, -ret, "cannot read %s at offset %llu",
				   what, (unsigned long long)off);
	return 0;
}

/* A name stored in the file: @len bytes at @offset, NUL-terminated in @buf. */
static int qcow2_read_name(struct qcow2_image *img, const struct qcow2_io *io,
			   u64 offset, u32 len, char *buf, size_t size,
			   const char *what)
{
	int ret;

	if (len >= size)
		return qcow2_error(img, EINVAL, "%s too long (%u bytes)", what,
				   len);
	ret = qcow2_pread(img, io, buf, len, offset, what);
	if (ret)
		return ret;
	buf[len] = '\0';
	return 0;
}

/*
 * A table of @entries entries of @entry_len bytes at @offset: not larger
 * than @max_bytes, cluster-aligned, and inside the file (QEMU's
 * qcow2_validate_table() plus the end-of-file bound).
 */
static int qcow2_validate_table(struct qcow2_image *img, u64 offset,
				u64 entries, u32 entry_len, u32 max_bytes,
				const char *name)
{
	u64 size;

	if (entries > max_bytes / entry_len)
		return qcow2_error(img, EFBIG,
				   "%s too large: %llu entries (at most %u)",
				   name, (unsigned long long)entries,
				   max_bytes / entry_len);
	size = entries * entry_len;
	if (qcow2_offset_into_cluster(img, offset))
		return qcow2_error(img, EINVAL,
				   "%s offset %#llx is not cluster-aligned",
				   name, (unsigned long long)offset);
	if (offset > img->file_size || size > img->file_size - offset)
		return qcow2_error(img, EINVAL,
				   "%s (offset %#llx, %llu bytes) extends past the end of the file (%llu bytes)",
				   name, (unsigned long long)offset,
				   (unsigned long long)size,
				   (unsigned long long)img->file_size);
	return 0;
}

static int qcow2_decode_header(struct qcow2_image *img,
			       const struct qcow2_io *io)
{
	struct qcow2_header_v3 h;
	u32 magic;
	int ret;

	if (io->file_size < sizeof(h.v2))
		return qcow2_error(img, EINVAL,
				   "file too small for a qcow2 header (%llu bytes)",
				   (unsigned long long)io->file_size);
	memset(&h, 0, sizeof(h));
	ret = qcow2_pread(img, io, &h.v2, sizeof(h.v2), 0, "header");
	if (ret)
		return ret;

	magic = be32_to_cpu(h.v2.magic);
	if (magic != QCOW2_MAGIC)
		return qcow2_error(img, EINVAL,
				   "not a qcow2 image (magic %#010x)", magic);
	img->version = be32_to_cpu(h.v2.version);
	if (img->version != 2 && img->version != 3)
		return qcow2_error(img, EOPNOTSUPP,
				   "unsupported qcow2 version %u", img->version);
	img->cluster_bits = be32_to_cpu(h.v2.cluster_bits);
	if (img->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
	    img->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return qcow2_error(img, EINVAL,
				   "unsupported cluster size: cluster_bits %u (must be %u to %u)",
				   img->cluster_bits, QCOW2_MIN_CLUSTER_BITS,
				   QCOW2_MAX_CLUSTER_BITS);
	img->cluster_size = 1ULL << img->cluster_bits;

	if (img->version == 2) {
		img->header_length = sizeof(h.v2);
		img->refcount_order = 4;
	} else {
		if (io->file_size < sizeof(h))
			return qcow2_error(img, EINVAL,
					   "file too small for a qcow2 v3 header (%llu bytes)",
					   (unsigned long long)io->file_size);
		ret = qcow2_pread(img, io, &h, sizeof(h), 0, "header");
		if (ret)
			return ret;
		img->incompatible_features = be64_to_cpu(h.incompatible_features);
		img->compatible_features = be64_to_cpu(h.compatible_features);
		img->autoclear_features = be64_to_cpu(h.autoclear_features);
		img->refcount_order = be32_to_cpu(h.refcount_order);
		img->header_length = be32_to_cpu(h.header_length);
		if (img->header_length < sizeof(h))
			return qcow2_error(img, EINVAL,
					   "header_length %u is shorter than the v3 header (%zu bytes)",
					   img->header_length, sizeof(h));
		if (img->header_length > img->cluster_size)
			return qcow2_error(img, EINVAL,
					   "header_length %u exceeds the cluster size (%llu)",
					   img->header_length,
					   (unsigned long long)img->cluster_size);
		if (img->header_length > QCOW2_COMPRESSION_TYPE_OFFSET) {
			u8 type;

			ret = qcow2_pread(img, io, &type, 1,
					  QCOW2_COMPRESSION_TYPE_OFFSET,
					  "compression type");
			if (ret)
				return ret;
			img->compression_type = type;
		}
	}

	img->backing_file_offset = be64_to_cpu(h.v2.backing_file_offset);
	img->backing_file_size = be32_to_cpu(h.v2.backing_file_size);
	img->size = be64_to_cpu(h.v2.size);
	img->crypt_method = be32_to_cpu(h.v2.crypt_method);
	img->l1_size = be32_to_cpu(h.v2.l1_size);
	img->l1_table_offset = be64_to_cpu(h.v2.l1_table_offset);
	img->nb_snapshots = be32_to_cpu(h.v2.nb_snapshots);
	img->snapshots_offset = be64_to_cpu(h.v2.snapshots_offset);

	ret = qcow2_validate_table(img, be64_to_cpu(h.v2.refcount_table_offset),
				   be32_to_cpu(h.v2.refcount_table_clusters),
				   img->cluster_size, QCOW2_MAX_REFTABLE_SIZE,
				   "refcount table");
	if (ret)
		return ret;
	if (!h.v2.refcount_table_clusters)
		return qcow2_error(img, EINVAL,
				   "image has no refcount table (refcount_table_clusters 0)");
	return 0;
}

static int qcow2_check_features(struct qcow2_image *img,
				const struct qcow2_io *io)
{
	const u64 known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT |
			  QCOW2_INCOMPAT_DATA_FILE |
			  QCOW2_INCOMPAT_COMPRESSION | QCOW2_INCOMPAT_EXTL2;
	u64 unknown = img->incompatible_features & ~known;
	bool has_bit, is_zlib;

	if (unknown)
		return qcow2_error(img, EOPNOTSUPP,
				   "unknown incompatible feature bits %#llx, please upgrade qsnap",
				   (unsigned long long)unknown);
	img->has_data_file = img->incompatible_features &
			     QCOW2_INCOMPAT_DATA_FILE;
	if (img->incompatible_features & QCOW2_INCOMPAT_EXTL2) {
		/* QEMU: "Unsupported subcluster size" below 512 bytes. */
		if (img->cluster_bits < QCOW2_EXTL2_MIN_CLUSTER_BITS)
			return qcow2_error(img, EINVAL,
					   "extended L2 entries need clusters of at least %u bytes (cluster_bits %u)",
					   1U << QCOW2_EXTL2_MIN_CLUSTER_BITS,
					   img->cluster_bits);
		img->extended_l2 = true;
		img->subcluster_bits = img->cluster_bits -
				       QCOW2_EXTL2_SUBCLUSTER_BITS;
	} else {
		img->subcluster_bits = img->cluster_bits;
	}
	img->csize_shift = 62 - (img->cluster_bits - 8);

	/* QEMU's validate_compression_type() */
	if (img->compression_type != QCOW2_COMPRESSION_ZLIB &&
	    img->compression_type != QCOW2_COMPRESSION_ZSTD)
		return qcow2_error(img, EOPNOTSUPP,
				   "unknown compression type %u",
				   img->compression_type);
	has_bit = img->incompatible_features & QCOW2_INCOMPAT_COMPRESSION;
	is_zlib = img->compression_type == QCOW2_COMPRESSION_ZLIB;
	if (has_bit == is_zlib)
		return qcow2_error(img, EINVAL,
				   "compression type %u does not match incompatible bit 3",
				   img->compression_type);

	if (img->refcount_order > 6)
		return qcow2_error(img, EINVAL,
				   "refcount_order %u too large (at most 6)",
				   img->refcount_order);
	if (img->crypt_method > QCOW2_CRYPT_LUKS)
		return qcow2_error(img, EOPNOTSUPP,
				   "unknown encryption method (crypt_method %u)",
				   img->crypt_method);

	if (img->backing_file_offset > img->cluster_size ||
	    img->backing_file_size > QCOW2_MAX_BACKING_FILE_NAME ||
	    img->backing_file_size >
	    img->cluster_size - img->backing_file_offset)
		return qcow2_error(img, EINVAL,
				   "invalid backing file name (offset %llu, %u bytes)",
				   (unsigned long long)img->backing_file_offset,
				   img->backing_file_size);
	return 0;
}

/* The backing file name, capped at 1023 bytes like QEMU's. */
static int qcow2_read_backing_name(struct qcow2_image *img,
				   const struct qcow2_io *io)
{
	int ret;

	if (!img->backing_file_offset || !img->backing_file_size)
		return 0;
	ret = qcow2_read_name(img, io, img->backing_file_offset,
			      img->backing_file_size, img->backing_file,
			      sizeof(img->backing_file), "backing file name");
	if (ret)
		return ret;
	if (!img->backing_file[0])
		return qcow2_error(img, EINVAL, "empty backing file name");
	return 0;
}

/*
 * Where the LUKS header is (QEMU's checks in qcow2_read_extensions()):
 * the extension is 16 bytes and the header starts on a cluster boundary.
 */
static int qcow2_read_crypto_ext(struct qcow2_image *img,
				 const struct qcow2_io *io, u64 offset, u32 len)
{
	struct qcow2_crypto_ext ext;
	int ret;

	if (img->crypt_method != QCOW2_CRYPT_LUKS)
		return qcow2_error(img, EINVAL,
				   "crypto header extension in an image not encrypted with LUKS");
	if (len != sizeof(ext))
		return qcow2_error(img, EINVAL,
				   "crypto header extension of %u bytes (not %zu)",
				   len, sizeof(ext));
	ret = qcow2_pread(img, io, &ext, sizeof(ext), offset,
			  "crypto header extension");
	if (ret)
		return ret;
	img->crypto.header_offset = be64_to_cpu(ext.offset);
	img->crypto.header_length = be64_to_cpu(ext.length);
	if (qcow2_offset_into_cluster(img, img->crypto.header_offset))
		return qcow2_error(img, EINVAL,
				   "LUKS header offset %llu is not a multiple of the cluster size",
				   (unsigned long long)img->crypto.header_offset);
	return 0;
}

/*
 * Walk the header extensions between the header and the backing file name
 * (or the end of the first cluster): the backing format, the data file and
 * the LUKS header's place are read; the others change nothing in how qsnap
 * reads an image, but a malformed one means a malformed image.
 */
static int qcow2_walk_extensions(struct qcow2_image *img,
				 const struct qcow2_io *io)
{
	u64 end = img->backing_file_offset ? img->backing_file_offset :
					     img->cluster_size;
	u64 offset = img->header_length;
	struct qcow2_ext_header ext;
	int ret;

	if (end > io->file_size)
		end = io->file_size;
	while (offset + sizeof(ext) <= end) {
		u32 magic, len;

		ret = qcow2_pread(img, io, &ext, sizeof(ext), offset,
				  "header extension");
		if (ret)
			return ret;
		magic = be32_to_cpu(ext.magic);
		len = be32_to_cpu(ext.len);
		offset += sizeof(ext);
		if (magic == QCOW2_EXT_END)
			return 0;
		if (len > end - offset)
			return qcow2_error(img, EINVAL,
					   "header extension %#010x: length %u runs past the header cluster",
					   magic, len);
		ret = 0;
		if (magic == QCOW2_EXT_CRYPTO)
			ret = qcow2_read_crypto_ext(img, io, offset, len);
		else if (magic == QCOW2_EXT_BACKING_FORMAT)
			ret = qcow2_read_name(img, io, offset, len,
					      img->backing_format,
					      sizeof(img->backing_format),
					      "backing format name");
		else if (magic == QCOW2_EXT_DATA_FILE)
			ret = qcow2_read_name(img, io, offset, len,
					      img->data_file,
					      sizeof(img->data_file),
					      "data file name");
		if (ret)
			return ret;
		offset += ALIGN((u64)len, 8);
	}
	return 0;
}

/**
 * qcow2_open() - decode and validate the header of a qcow2 image
 * @img: filled in; release with qcow2_close() even on error
 * @io: how to read the file
 *
 * Return: 0, or -errno with img->err saying which field is wrong: -EINVAL
 * for a malformed image, -EOPNOTSUPP for a valid one using a feature qsnap
 * does not read, -EFBIG for tables over QEMU's limits.
 */
int qcow2_open(struct qcow2_image *img, const struct qcow2_io *io)
{
	u64 l1_needed;
	int ret;

	memset(img, 0, sizeof(*img));
	img->file_size = io->file_size;

	ret = qcow2_decode_header(img, io);
	if (ret)
		return ret;
	ret = qcow2_check_features(img, io);
	if (ret)
		return ret;
	ret = qcow2_walk_extensions(img, io);
	if (ret)
		return ret;
	ret = qcow2_read_backing_name(img, io);
	if (ret)
		return ret;
	if (img->crypt_method != QCOW2_CRYPT_NONE) {
		ret = qcow2_crypto_open(img, io);
		if (ret)
			return ret;
	}
	if (img->has_data_file && !img->data_file[0])
		return qcow2_error(img, EINVAL,
				   "image needs an external data file but names none");
	/* Until the caller says otherwise, data clusters are in the image. */
	img->data_file_size = img->file_size;

	if (img->size > QCOW2_MAX_DISK_SIZE)
		return qcow2_error(img, EFBIG,
				   "image too big: virtual size %llu (at most %llu)",
				   (unsigned long long)img->size,
				   QCOW2_MAX_DISK_SIZE);
	/* QEMU refuses images whose L1 index would not fit in an int. */
	l1_needed = qcow2_size_to_l1(img, img->size);
	if (l1_needed > 0x7fffffff)
		return qcow2_error(img, EFBIG, "image too big: virtual size %llu",
				   (unsigned long long)img->size);
	ret = qcow2_validate_table(img, img->l1_table_offset, img->l1_size,
				   sizeof(__be64), QCOW2_MAX_L1_SIZE,
				   "active L1 table");
	if (ret)
		return ret;
	if (img->l1_size < l1_needed)
		return qcow2_error(img, EINVAL,
				   "active L1 table too small: %u entries for a %llu-byte disk (needs %llu)",
				   img->l1_size, (unsigned long long)img->size,
				   (unsigned long long)l1_needed);

	if (img->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
		return qcow2_error(img, EINVAL,
				   "too many snapshots: %u (at most %u)",
				   img->nb_snapshots, QCOW2_MAX_SNAPSHOTS);
	ret = qcow2_validate_table(img, img->snapshots_offset, img->nb_snapshots,
				   sizeof(struct qcow2_snapshot_header),
				   sizeof(struct qcow2_snapshot_header) *
				   QCOW2_MAX_SNAPSHOTS,
				   "snapshot table");
	if (ret)
		return ret;
	return qcow2_read_snapshots(img, io);
}

/**
 * qcow2_close() - free what qcow2_open() allocated
 * @img: the image
 */
void qcow2_close(struct qcow2_image *img)
{
	u32 i;

	if (img->snapshots) {
		for (i = 0; i < img->nb_snapshots; i++)
			qcow2_snapshot_free(&img->snapshots[i]);
		qcow2_free(img->snapshots);
		img->snapshots = NULL;
	}
}

/**
 * qcow2_select() - choose what an attach exposes
 * @img: an opened image
 * @snapshot_index: index into img->snapshots, or -1 for the current state
 * @view: filled in
 *
 * The device size is the snapshot's own virtual disk size, which is what
 * `qemu-img snapshot -a` restores.
 *
 * Return: 0 or -errno (img->err set).
 */
int qcow2_select(struct qcow2_image *img, int snapshot_index,
		 struct qcow2_view *view)
{
	const struct qcow2_snapshot *sn = NULL;
	u64 needed;
	int ret;

	memset(view, 0, sizeof(*view));
	if (snapshot_index < 0) {
		view->l1_table_offset = img->l1_table_offset;
		view->l1_size = img->l1_size;
		view->disk_size = img->size;
	} else {
		if ((u32)snapshot_index >= img->nb_snapshots)
			return qcow2_error(img, ENOENT, "no snapshot #%d",
					   snapshot_index);
		/*
		 * Data file clusters are not reference-counted: later writes
		 * go to the same place, so a snapshot would not read as it
		 * was taken.  QEMU refuses to create such snapshots.
		 */
		if (img->has_data_file)
			return qcow2_error(img, EOPNOTSUPP,
					   "snapshots of an image with an external data file do not keep their data");
		sn = &img->snapshots[snapshot_index];
		ret = qcow2_validate_table(img, sn->l1_table_offset,
					   sn->l1_size, sizeof(__be64),
					   QCOW2_MAX_L1_SIZE,
					   "snapshot L1 table");
		if (ret)
			return ret;
		/* What `qemu-img snapshot -a` would have to resize to. */
		if (sn->disk_size > QCOW2_MAX_DISK_SIZE)
			return qcow2_error(img, EFBIG,
					   "snapshot %s: disk size %llu too big (at most %llu)",
					   sn->id_str,
					   (unsigned long long)sn->disk_size,
					   QCOW2_MAX_DISK_SIZE);
		view->l1_table_offset = sn->l1_table_offset;
		view->l1_size = sn->l1_size;
		view->disk_size = sn->disk_size;
	}
	needed = qcow2_size_to_l1(img, view->disk_size);
	if (needed > 0x7fffffff)
		return qcow2_error(img, EFBIG, "disk size %llu too big",
				   (unsigned long long)view->disk_size);
	/* Guest offsets past the L1 table read as zeros. */
	view->l1_used = needed < view->l1_size ? (u32)needed : view->l1_size;
	view->snapshot = sn;
	return 0;
}

/**
 * qcow2_decode_l1_entry() - the L2 table offset an L1 entry points to
 * @img: the image
 * @l1_entry: the entry, CPU byte order
 * @l1_index: its index, for the error message
 * @l2_offset: out: the L2 table offset, 0 if none is allocated
 *
 * Return: 0, or -EUCLEAN for an entry no valid image has.
 */
int qcow2_decode_l1_entry(struct qcow2_image *img, u64 l1_entry,
			  u32 l1_index, u64 *l2_offset)
{
	u64 off = l1_entry & QCOW2_L1E_OFFSET_MASK;

	*l2_offset = 0;
	if (l1_entry & QCOW2_L1E_RESERVED_MASK)
		return qcow2_error(img, EUCLEAN,
				   "L1 entry %u has reserved bits set (%#llx)",
				   l1_index, (unsigned long long)l1_entry);
	if (!off)
		return 0;
	if (qcow2_offset_into_cluster(img, off))
		return qcow2_error(img, EUCLEAN,
				   "L2 table offset %#llx unaligned (L1 index %u)",
				   (unsigned long long)off, l1_index);
	if (off > img->file_size || img->file_size - off < img->cluster_size)
		return qcow2_error(img, EUCLEAN,
				   "L2 table at %#llx (L1 index %u) is past the end of the file",
				   (unsigned long long)off, l1_index);
	*l2_offset = off;
	return 0;
}

/**
 * qcow2_decode_compressed() - where a compressed cluster's stream lies
 * @img: the image
 * @l2_entry: a compressed L2 entry, CPU byte order
 * @host_offset: out: file offset of the first byte of the stream
 * @len: out: bytes from there to the end of its last sector
 *
 * The stream need not fill its last sector, and QEMU stops reading it once
 * it has produced a cluster, so @len is an upper bound (QEMU's
 * qcow2_parse_compressed_l2_entry()).
 */
void qcow2_decode_compressed(const struct qcow2_image *img, u64 l2_entry,
			     u64 *host_offset, u32 *len)
{
	u64 offset_mask = (1ULL << img->csize_shift) - 1;
	u64 sectors_mask = (1ULL << (img->cluster_bits - 8)) - 1;
	u64 sectors = ((l2_entry >> img->csize_shift) & sectors_mask) + 1;

	*host_offset = l2_entry & offset_mask;
	*len = sectors * QCOW2_COMPRESSED_SECTOR_SIZE -
	       (*host_offset & (QCOW2_COMPRESSED_SECTOR_SIZE - 1));
}

static int qcow2_map_compressed(struct qcow2_image *img, u64 entry,
				u64 bitmap, u64 guest_offset,
				struct qcow2_mapping *map)
{
	u64 host;
	u32 len;

	/* Compressed clusters have no subclusters: the bitmap is reserved. */
	if (bitmap)
		return qcow2_error(img, EUCLEAN,
				   "compressed cluster for guest offset %#llx has a subcluster bitmap (%#llx)",
				   (unsigned long long)guest_offset,
				   (unsigned long long)bitmap);
	if (img->has_data_file)
		return qcow2_error(img, EUCLEAN,
				   "compressed cluster for guest offset %#llx in an image with an external data file",
				   (unsigned long long)guest_offset);
	qcow2_decode_compressed(img, entry, &host, &len);
	if (host >= img->file_size)
		return qcow2_error(img, EUCLEAN,
				   "compressed cluster at %#llx (guest offset %#llx) is past the end of the file",
				   (unsigned long long)host,
				   (unsigned long long)guest_offset);
	map->type = QCOW2_MAP_COMPRESSED;
	map->host_offset = host;
	map->compressed_len = len;
	map->len = img->cluster_size -
		   qcow2_offset_into_cluster(img, guest_offset);
	return 0;
}

/* How subcluster @sc of a standard extended L2 entry reads. */
static enum qcow2_map_type qcow2_subcluster_type(u64 bitmap, unsigned int sc)
{
	if (bitmap & (1ULL << (32 + sc)))
		return QCOW2_MAP_ZERO;
	if (bitmap & (1ULL << sc))
		return QCOW2_MAP_DATA;
	return QCOW2_MAP_UNALLOCATED;
}

/**
 * qcow2_map_l2_entry() - what an L2 entry maps a guest offset to
 * @img: the image
 * @l2: the L2 table (one cluster, as on disk)
 * @l2_index: the entry for @guest_offset's cluster
 * @guest_offset: the guest offset, for the in-cluster position and for
 *		  error messages
 * @map: out: the mapping of @guest_offset and of the bytes after it that
 *	 map the same way inside this cluster
 *
 * The rules are QEMU's qcow2_get_cluster_type() and
 * qcow2_get_subcluster_type(), with entries QEMU only flags in
 * `qemu-img check` (reserved bits, a bitmap on a compressed cluster)
 * treated as corruption too.
 *
 * Return: 0, or -EUCLEAN for an entry no valid image has.
 */
int qcow2_map_l2_entry(struct qcow2_image *img, const __be64 *l2,
		       u32 l2_index, u64 guest_offset,
		       struct qcow2_mapping *map)
{
	u64 in_cluster = qcow2_offset_into_cluster(img, guest_offset);
	u64 reserved = QCOW2_L2E_RESERVED_MASK;
	u64 entry, bitmap = 0, off;
	unsigned int sc, end;
	bool allocated;

	memset(map, 0, sizeof(*map));
	map->type = QCOW2_MAP_UNALLOCATED;
	if (img->extended_l2) {
		entry = be64_to_cpu(l2[2 * (size_t)l2_index]);
		bitmap = be64_to_cpu(l2[2 * (size_t)l2_index + 1]);
		reserved |= QCOW2_OFLAG_ZERO;
	} else {
		entry = be64_to_cpu(l2[l2_index]);
	}

	if (entry & QCOW2_OFLAG_COMPRESSED)
		return qcow2_map_compressed(img, entry, bitmap, guest_offset,
					    map);
	if (entry & reserved)
		return qcow2_error(img, EUCLEAN,
				   "L2 entry for guest offset %#llx has reserved bits set (%#llx)",
				   (unsigned long long)guest_offset,
				   (unsigned long long)entry);
	off = entry & QCOW2_L2E_OFFSET_MASK;
	/*
	 * Offset 0 means unallocated, except in an external data file, where
	 * it is a valid offset; QEMU tells them apart by the copied bit
	 * (data file clusters always have refcount 1).
	 */
	allocated = off || (img->has_data_file && (entry & QCOW2_OFLAG_COPIED));
	if (off && qcow2_offset_into_cluster(img, off))
		return qcow2_error(img, EUCLEAN,
				   "data cluster offset %#llx unaligned (guest offset %#llx)",
				   (unsigned long long)off,
				   (unsigned long long)guest_offset);

	if (!img->extended_l2) {
		map->len = img->cluster_size - in_cluster;
		if (entry & QCOW2_OFLAG_ZERO) {
			if (img->version < 3)
				return qcow2_error(img, EUCLEAN,
						   "zero cluster in a version 2 image (guest offset %#llx)",
						   (unsigned long long)guest_offset);
			map->type = QCOW2_MAP_ZERO;
			return 0;
		}
		if (!allocated)
			return 0;
		map->type = QCOW2_MAP_DATA;
	} else {
		u32 alloc = (u32)bitmap, zero = (u32)(bitmap >> 32);

		if (alloc & zero)
			return qcow2_error(img, EUCLEAN,
					   "L2 entry for guest offset %#llx has subclusters both allocated and zero (bitmap %#llx)",
					   (unsigned long long)guest_offset,
					   (unsigned long long)bitmap);
		if (!allocated && alloc)
			return qcow2_error(img, EUCLEAN,
					   "L2 entry for guest offset %#llx has allocated subclusters but no cluster (bitmap %#llx)",
					   (unsigned long long)guest_offset,
					   (unsigned long long)bitmap);
		sc = in_cluster >> img->subcluster_bits;
		map->type = qcow2_subcluster_type(bitmap, sc);
		for (end = sc + 1; end < QCOW2_EXTL2_SUBCLUSTERS; end++)
			if (qcow2_subcluster_type(bitmap, end) != map->type)
				break;
		map->len = ((u64)end << img->subcluster_bits) - in_cluster;
		if (map->type != QCOW2_MAP_DATA)
			return 0;
	}

	if (off >= img->data_file_size)
		return qcow2_error(img, EUCLEAN,
				   "data cluster at %#llx (guest offset %#llx) is past the end of the %s",
				   (unsigned long long)off,
				   (unsigned long long)guest_offset,
				   img->has_data_file ? "data file" : "file");
	map->host_offset = off + in_cluster;
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of the qcow2 format code on in-memory images: header
 * validation, the snapshot table, snapshot lookup, L1/L2 decoding, the
 * compressed cluster descriptor, extended L2 entries and the LUKS header
 * of encrypted images.
 * Prints TAP.
 */
#include "qcow2.h"
#include "../tap.h"

#define CLUSTER		65536ULL
#define FILE_SIZE	(5 * CLUSTER)

/* Most tests see FILE_SIZE bytes; the big snapshot table needs more. */
static unsigned char file[24 * CLUSTER];

static int mem_pread(void *opaque, void *buf, size_t len, u64 off)
{
	if (off > sizeof(file) || len > sizeof(file) - off)
		return -EIO;
	memcpy(buf, file + off, len);
	return 0;
}

static const struct qcow2_io io = { .pread = mem_pread, .file_size = FILE_SIZE };

static void put32(u64 off, u32 v) { v = htobe32(v); memcpy(file + off, &v, 4); }
static void put64(u64 off, u64 v) { v = htobe64(v); memcpy(file + off, &v, 8); }
static void put16(u64 off, u16 v) { v = htobe16(v); memcpy(file + off, &v, 2); }

/* One snapshot entry at @off; returns the offset after it (unaligned). */
static u64 put_snapshot(u64 off, u64 l1_off, u32 l1_size, const char *id,
			const char *name, u64 disk_size)
{
	put64(off, l1_off);
	put32(off + 8, l1_size);
	put16(off + 12, strlen(id));
	put16(off + 14, strlen(name));
	put32(off + 16, 1700000000);
	put32(off + 36, 24);			/* extra_data_size */
	put64(off + 40, 0);			/* vm_state_size_large */
	put64(off + 48, disk_size);
	put64(off + 56, 42);			/* icount */
	memcpy(file + off + 64, id, strlen(id));
	memcpy(file + off + 64 + strlen(id), name, strlen(name));
	return off + 64 + strlen(id) + strlen(name);
}

/*
 * A small valid v3 image: header | refcount table | L1 | snapshot table |
 * one L2 table.  1 GiB virtual size (2 L1 entries with 64 KiB clusters).
 */
static void make_image(void)
{
	u64 off;

	memset(file, 0, sizeof(file));
	put32(0, QCOW2_MAGIC);
	put32(4, 3);
	put32(20, 16);				/* cluster_bits */
	put64(24, 1ULL << 30);			/* size */
	put32(36, 2);				/* l1_size */
	put64(40, 2 * CLUSTER);			/* l1_table_offset */
	put64(48, CLUSTER);			/* refcount_table_offset */
	put32(56, 1);				/* refcount_table_clusters */
	put32(60, 2);				/* nb_snapshots */
	put64(64, 3 * CLUSTER);			/* snapshots_offset */
	put32(96, 4);				/* refcount_order */
	put32(100, 104);			/* header_length */
	put64(2 * CLUSTER, 4 * CLUSTER);	/* L1[0] -> L2 at cluster 4 */
	/* Snapshot "1" is named "2" and snapshot "2" is named "1". */
	off = put_snapshot(3 * CLUSTER, 2 * CLUSTER, 2, "1", "2", 1ULL << 29);
	put_snapshot((off + 7) & ~7ULL, 2 * CLUSTER, 1, "2", "1", 1ULL << 30);
}

static int open_err(void)
{
	struct qcow2_image img;
	int ret = qcow2_open(&img, &io);

	qcow2_close(&img);
	return ret;
}

static void test_header(void)
{
	struct qcow2_image img;
	int ret;

	make_image();
	ret = qcow2_open(&img, &io);
	check(ret == 0 && img.nb_snapshots == 2 && img.cluster_size == CLUSTER,
	      "a valid v3 image opens", img.err);
	check(!strcmp(img.snapshots[0].id_str, "1") &&
	      !strcmp(img.snapshots[0].name, "2") &&
	      img.snapshots[0].disk_size == 1ULL << 29 &&
	      img.snapshots[0].icount == 42 &&
	      img.snapshots[0].date_sec == 1700000000,
	      "snapshot entry fields and extra data decode", "");
	check(qcow2_find_snapshot(&img, "2") == 1,
	      "lookup matches the id before the name", "");
	check(qcow2_find_snapshot(&img, "x") == -ENOENT,
	      "lookup of a missing snapshot is ENOENT", "");
	qcow2_close(&img);

#define CASE(desc, setup, want)				\
	do {						\
		make_image();				\
		setup;					\
		ret = open_err();			\
		check(ret == (want), desc, "wrong errno");	\
	} while (0)

	CASE("bad magic: EINVAL", put32(0, 0xdeadbeef), -EINVAL);
	CASE("version 1: EOPNOTSUPP", put32(4, 1), -EOPNOTSUPP);
	CASE("cluster_bits 8: EINVAL", put32(20, 8), -EINVAL);
	CASE("cluster_bits 22: EINVAL", put32(20, 22), -EINVAL);
	CASE("cluster_bits 0xffffffff: EINVAL", put32(20, ~0U), -EINVAL);
	CASE("header_length 103: EINVAL", put32(100, 103), -EINVAL);
	CASE("header_length > cluster: EINVAL", put32(100, CLUSTER + 8), -EINVAL);
	CASE("unknown incompatible bit: EOPNOTSUPP", put64(72, 1ULL << 40),
	     -EOPNOTSUPP);
	CASE("dirty bit is accepted", put64(72, 1), 0);
	CASE("corrupt bit is accepted (read-only)", put64(72, 2), 0);
	CASE("zstd without its feature bit: EINVAL",
	     (put32(100, 112), file[104] = 1), -EINVAL);
	CASE("zstd with its feature bit is accepted",
	     (put32(100, 112), file[104] = 1, put64(72, 8)), 0);
	CASE("unknown compression type: EOPNOTSUPP",
	     (put32(100, 112), file[104] = 2, put64(72, 8)), -EOPNOTSUPP);
	CASE("extended L2 with 64 KiB clusters is accepted",
	     (put64(72, QCOW2_INCOMPAT_EXTL2), put64(24, 1ULL << 29)), 0);
	CASE("extended L2: the L1 table covers half as much",
	     put64(72, QCOW2_INCOMPAT_EXTL2), -EINVAL);
	CASE("crypt_method 2 without a crypto header extension: EINVAL",
	     put32(32, 2), -EINVAL);
	CASE("crypt_method 1 (legacy AES) is accepted", put32(32, 1), 0);
	CASE("crypt_method 3: EOPNOTSUPP", put32(32, 3), -EOPNOTSUPP);
	CASE("refcount_order 7: EINVAL", put32(96, 7), -EINVAL);
	CASE("no refcount table: EINVAL", put32(56, 0), -EINVAL);
	CASE("refcount table past EOF: EINVAL", put32(56, 100), -EINVAL);
	CASE("L1 unaligned: EINVAL", put64(40, 2 * CLUSTER + 512), -EINVAL);
	CASE("L1 past EOF: EINVAL", put64(40, 1ULL << 50), -EINVAL);
	CASE("L1 offset near 2^64: EINVAL", put64(40, ~0ULL << 16), -EINVAL);
	CASE("L1 too large: EFBIG", put32(36, 1U << 23), -EFBIG);
	CASE("L1 too small for the size: EINVAL", put64(24, 1ULL << 40), -EINVAL);
	CASE("size near 2^64: EFBIG", put64(24, ~0ULL), -EFBIG);
	CASE("65537 snapshots: EINVAL", put32(60, 65537), -EINVAL);
	CASE("snapshot table past EOF: EINVAL", put32(60, 65536), -EINVAL);
	CASE("snapshot extra_data_size 1025: EFBIG", put32(3 * CLUSTER + 36, 1025),
	     -EFBIG);
	CASE("snapshot name past EOF: EINVAL",
	     (put64(64, 4 * CLUSTER), put32(60, 1),
	      put16(4 * CLUSTER + 14, 65535)), -EINVAL);
	CASE("extension longer than the header cluster: EINVAL",
	     (put32(104, 0x12345678), put32(108, CLUSTER)), -EINVAL);
	CASE("unknown extension is skipped",
	     (put32(104, 0x12345678), put32(108, 5), put32(120, 0)), 0);
	CASE("backing file name is read",
	     (put64(8, 512), put32(16, 4), memcpy(file + 512, "base", 4)), 0);
	CASE("backing format name longer than 15 bytes: EINVAL",
	     (put32(104, QCOW2_EXT_BACKING_FORMAT), put32(108, 16)), -EINVAL);
	CASE("data file bit without a data file name: EINVAL",
	     put64(72, QCOW2_INCOMPAT_DATA_FILE), -EINVAL);
	CASE("backing file name past the cluster: EINVAL",
	     (put64(8, CLUSTER - 2), put32(16, 4)), -EINVAL);
	CASE("file shorter than the header: EINVAL", memset(file, 0, 4), -EINVAL);
#undef CASE

	make_image();
	put64(8, 512);
	put32(16, 9);
	memcpy(file + 512, "../b.qcow", 9);
	put32(104, QCOW2_EXT_BACKING_FORMAT);
	put32(108, 5);
	memcpy(file + 112, "qcow2", 5);
	ret = qcow2_open(&img, &io);
	check(ret == 0 && !strcmp(img.backing_file, "../b.qcow") &&
	      !strcmp(img.backing_format, "qcow2"),
	      "backing file name and format decode", img.err);
	qcow2_close(&img);

	make_image();
	put64(72, QCOW2_INCOMPAT_DATA_FILE);
	put32(104, QCOW2_EXT_DATA_FILE);
	put32(108, 8);
	memcpy(file + 112, "data.raw", 8);
	ret = qcow2_open(&img, &io);
	check(ret == 0 && img.has_data_file && !strcmp(img.data_file, "data.raw"),
	      "external data file name decodes", img.err);
	img.data_file_size = 1ULL << 30;
	{
		__be64 l2[1] = { htobe64(1ULL << 63) };
		struct qcow2_mapping m;

		check(qcow2_map_l2_entry(&img, l2, 0, 5, &m) == 0 &&
		      m.type == QCOW2_MAP_DATA && m.host_offset == 5,
		      "data file: offset 0 with the copied bit is data", img.err);
		l2[0] = htobe64(64ULL << 20);
		check(qcow2_map_l2_entry(&img, l2, 0, 0, &m) == 0 &&
		      m.type == QCOW2_MAP_DATA && m.host_offset == 64ULL << 20,
		      "data file: clusters may lie past the end of the image file",
		      img.err);
		l2[0] = htobe64(1ULL << 62);
		check(qcow2_map_l2_entry(&img, l2, 0, 0, &m) == -EUCLEAN,
		      "data file: a compressed cluster is corruption", "");
	}
	{
		struct qcow2_view view;

		check(qcow2_select(&img, 0, &view) == -EOPNOTSUPP &&
		      qcow2_select(&img, -1, &view) == 0,
		      "data file: snapshots refused, the current state allowed",
		      img.err);
	}
	qcow2_close(&img);

	make_image();
	put64(72, QCOW2_INCOMPAT_EXTL2);
	put32(20, 13);
	ret = qcow2_open(&img, &io);
	check(ret == -EINVAL && strstr(img.err, "extended L2"),
	      "extended L2 with 8 KiB clusters (256-byte subclusters): EINVAL",
	      img.err);
	qcow2_close(&img);
}

/* Map @guest through a one-entry L2 table holding @entry (and @bitmap). */
static int map1(struct qcow2_image *img, u64 entry, u64 bitmap, u64 guest,
		struct qcow2_mapping *m)
{
	__be64 l2[2] = { htobe64(entry), htobe64(bitmap) };

	return qcow2_map_l2_entry(img, l2, 0, guest, m);
}

static void test_compressed_descriptor(void)
{
	struct qcow2_image img = { 0 };
	u64 off;
	u32 len;

	/* 64 KiB clusters: offset in bits 0-53, sector count in 54-61. */
	img.cluster_bits = 16;
	img.csize_shift = 62 - (16 - 8);
	qcow2_decode_compressed(&img, (1ULL << 62) | (3ULL << 54) | 12345,
				&off, &len);
	check(off == 12345 && len == 4 * 512 - 57,
	      "compressed, 64 KiB clusters: offset and length", "");
	qcow2_decode_compressed(&img, (1ULL << 62) | (255ULL << 54) | 512,
				&off, &len);
	check(off == 512 && len == 2 * CLUSTER,
	      "compressed, 64 KiB clusters: at most two clusters", "");
	qcow2_decode_compressed(&img, (1ULL << 63) | (1ULL << 62) | 7, &off, &len);
	check(off == 7 && len == 512 - 7,
	      "compressed: the copied bit is not part of the offset", "");

	/* 512-byte clusters: one sector-count bit (61), offset in 0-60. */
	img.cluster_bits = 9;
	img.csize_shift = 62 - (9 - 8);
	qcow2_decode_compressed(&img, (1ULL << 62) | (1ULL << 61) | 1000,
				&off, &len);
	check(off == 1000 && len == 1024 - 488,
	      "compressed, 512-byte clusters: offset and length", "");
	qcow2_decode_compressed(&img, (1ULL << 62) | (1ULL << 60), &off, &len);
	check(off == 1ULL << 60 && len == 512,
	      "compressed, 512-byte clusters: offset bit 60 is an offset bit", "");

	/* 2 MiB clusters: offset in bits 0-48, 13 sector-count bits. */
	img.cluster_bits = 21;
	img.csize_shift = 62 - (21 - 8);
	qcow2_decode_compressed(&img, (1ULL << 62) | (8191ULL << 49) |
				(1ULL << 48) | 100, &off, &len);
	check(off == (1ULL << 48) + 100 && len == 8192 * 512 - 100,
	      "compressed, 2 MiB clusters: offset and length", "");
}

static void test_select_and_decode(void)
{
	struct qcow2_image img;
	struct qcow2_view view;
	struct qcow2_mapping m;
	u64 off;

	make_image();
	qcow2_open(&img, &io);
	check(qcow2_select(&img, 0, &view) == 0 && view.disk_size == 1ULL << 29 &&
	      view.l1_used == 1, "snapshot view: its own size, L1 entries used",
	      img.err);
	check(qcow2_select(&img, -1, &view) == 0 && view.disk_size == 1ULL << 30 &&
	      view.l1_used == 2 && !view.snapshot, "current-state view", img.err);
	check(qcow2_select(&img, 1, &view) == 0 && view.l1_used == 1,
	      "an L1 table shorter than the disk: the rest reads zeros", img.err);
	img.snapshots[1].l1_table_offset = 12345;
	check(qcow2_select(&img, 1, &view) == -EINVAL,
	      "snapshot L1 unaligned: EINVAL", "");
	img.snapshots[1].l1_size = 1U << 23;
	check(qcow2_select(&img, 1, &view) == -EFBIG,
	      "snapshot L1 too large: EFBIG", "");

	check(qcow2_size_to_l1(&img, 0) == 0 && qcow2_size_to_l1(&img, 1) == 1 &&
	      qcow2_size_to_l1(&img, 1ULL << 29) == 1 &&
	      qcow2_size_to_l1(&img, (1ULL << 29) + 1) == 2,
	      "size_to_l1 rounds up", "");
	check(qcow2_offset_to_l1_index(&img, (1ULL << 29) + 5) == 1 &&
	      qcow2_offset_to_l2_index(&img, (1ULL << 29) + 3 * CLUSTER) == 3 &&
	      qcow2_offset_into_cluster(&img, CLUSTER + 7) == 7,
	      "offset helpers", "");

	check(qcow2_decode_l1_entry(&img, 0, 0, &off) == 0 && off == 0,
	      "L1: unallocated", "");
	check(qcow2_decode_l1_entry(&img, (1ULL << 63) | 4 * CLUSTER, 0, &off) == 0 &&
	      off == 4 * CLUSTER, "L1: allocated, copied flag ignored", "");
	check(qcow2_decode_l1_entry(&img, 4 * CLUSTER | 1, 0, &off) == -EUCLEAN,
	      "L1: reserved bit: EUCLEAN", "");
	check(qcow2_decode_l1_entry(&img, 4 * CLUSTER + 512, 0, &off) == -EUCLEAN,
	      "L1: unaligned: EUCLEAN", "");
	check(qcow2_decode_l1_entry(&img, 5 * CLUSTER, 0, &off) == -EUCLEAN,
	      "L1: L2 table past EOF: EUCLEAN", "");

	check(map1(&img, 0, 0, 100, &m) == 0 && m.type == QCOW2_MAP_UNALLOCATED &&
	      m.len == CLUSTER - 100, "L2: unallocated, to the cluster end", "");
	check(map1(&img, 1, 0, 0, &m) == 0 && m.type == QCOW2_MAP_ZERO,
	      "L2: zero flag (v3)", "");
	check(map1(&img, 3 * CLUSTER | 1, 0, 0, &m) == 0 && m.type == QCOW2_MAP_ZERO,
	      "L2: allocated zero cluster reads zeros", "");
	check(map1(&img, (1ULL << 63) | 3 * CLUSTER, 0, CLUSTER + 7, &m) == 0 &&
	      m.type == QCOW2_MAP_DATA && m.host_offset == 3 * CLUSTER + 7 &&
	      m.len == CLUSTER - 7, "L2: data cluster", "");
	check(map1(&img, (1ULL << 62) | (3ULL << 54) | 12345, 0, 5, &m) == 0 &&
	      m.type == QCOW2_MAP_COMPRESSED && m.host_offset == 12345 &&
	      m.compressed_len == 4 * 512 - 57 && m.len == CLUSTER - 5,
	      "L2: compressed cluster", "");
	check(map1(&img, (1ULL << 62) | FILE_SIZE, 0, 0, &m) == -EUCLEAN,
	      "L2: compressed stream past EOF: EUCLEAN", "");
	check(map1(&img, 3 * CLUSTER | 2, 0, 0, &m) == -EUCLEAN,
	      "L2: reserved bit: EUCLEAN", "");
	check(map1(&img, (1ULL << 57) | 3 * CLUSTER, 0, 0, &m) == -EUCLEAN,
	      "L2: high reserved bit: EUCLEAN", "");
	check(map1(&img, 3 * CLUSTER + 512, 0, 0, &m) == -EUCLEAN,
	      "L2: unaligned data cluster: EUCLEAN", "");
	check(map1(&img, 9 * CLUSTER, 0, 0, &m) == -EUCLEAN,
	      "L2: data past EOF: EUCLEAN", "");
	img.version = 2;
	check(map1(&img, 1, 0, 0, &m) == -EUCLEAN,
	      "L2: zero flag in a v2 image: EUCLEAN", "");
	qcow2_close(&img);
}

/* Extended L2 entries: 32 subclusters of 2 KiB in a 64 KiB cluster. */
static void test_extended_l2(void)
{
	struct qcow2_image img;
	struct qcow2_mapping m;
	const u64 sc = CLUSTER / 32, data = 3 * CLUSTER;

	make_image();
	put64(72, QCOW2_INCOMPAT_EXTL2);
	put64(24, 1ULL << 29);
	check(qcow2_open(&img, &io) == 0 && img.extended_l2 &&
	      img.subcluster_bits == 11 && qcow2_l2_bits(&img) == 12,
	      "extended L2: 4096 entries of 16 bytes per table", img.err);
	check(qcow2_offset_to_l2_index(&img, 5 * CLUSTER) == 5 &&
	      qcow2_offset_to_l1_index(&img, 1ULL << 28) == 1,
	      "extended L2: an L1 entry maps 256 MiB", "");

	check(map1(&img, data, 0xf, 0, &m) == 0 && m.type == QCOW2_MAP_DATA &&
	      m.host_offset == data && m.len == 4 * sc,
	      "extended L2: a run of allocated subclusters", img.err);
	check(map1(&img, data, 0xf, 3 * sc + 100, &m) == 0 &&
	      m.host_offset == data + 3 * sc + 100 && m.len == sc - 100,
	      "extended L2: mid-subcluster offset", "");
	check(map1(&img, data, 0xf, 4 * sc + 1, &m) == 0 &&
	      m.type == QCOW2_MAP_UNALLOCATED && m.len == 28 * sc - 1,
	      "extended L2: unallocated subclusters after them", "");
	check(map1(&img, data, (0xf0ULL << 32) | 0xf, 4 * sc, &m) == 0 &&
	      m.type == QCOW2_MAP_ZERO && m.len == 4 * sc,
	      "extended L2: zero subclusters in an allocated cluster", "");
	check(map1(&img, 0, 0xffffffffULL << 32, 31 * sc, &m) == 0 &&
	      m.type == QCOW2_MAP_ZERO && m.len == sc,
	      "extended L2: zero subclusters without a cluster", "");
	check(map1(&img, data, 1ULL << 31, 31 * sc, &m) == 0 &&
	      m.type == QCOW2_MAP_DATA && m.host_offset == data + 31 * sc &&
	      m.len == sc, "extended L2: the last subcluster", "");
	check(map1(&img, data, (1ULL << 32) | 1, 5 * sc, &m) == -EUCLEAN,
	      "extended L2: a subcluster allocated and zero: EUCLEAN", "");
	check(map1(&img, 0, 4, 0, &m) == -EUCLEAN,
	      "extended L2: allocated subclusters without a cluster: EUCLEAN", "");
	check(map1(&img, data | 1, 1, 0, &m) == -EUCLEAN,
	      "extended L2: bit 0 of the entry is reserved: EUCLEAN", "");
	check(map1(&img, (1ULL << 62) | 12345, 0, 0, &m) == 0 &&
	      m.type == QCOW2_MAP_COMPRESSED && m.len == CLUSTER,
	      "extended L2: compressed clusters have no subclusters", "");
	check(map1(&img, (1ULL << 62) | 12345, 1, 0, &m) == -EUCLEAN,
	      "extended L2: a bitmap on a compressed cluster: EUCLEAN", "");
	check(map1(&img, 9 * CLUSTER, 1, 0, &m) == -EUCLEAN,
	      "extended L2: allocated subcluster past EOF: EUCLEAN", "");
	check(map1(&img, 9 * CLUSTER, 0, 0, &m) == 0 &&
	      m.type == QCOW2_MAP_UNALLOCATED,
	      "extended L2: a preallocated cluster is not read", "");
	qcow2_close(&img);
}

/*
 * 2,000 snapshots: a table of three clusters, read through the 64 KiB
 * window, with entries of varying length straddling its edges.
 */
static void test_big_snapshot_table(void)
{
	const struct qcow2_io big_io = { .pread = mem_pread,
					 .file_size = sizeof(file) };
	struct qcow2_image img;
	char id[16], name[32];
	u32 i, n = 2000, bad = 0;
	u64 off = 5 * CLUSTER;
	int ret;

	make_image();
	put32(60, n);
	put64(64, off);
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "%u", i + 1);
		snprintf(name, sizeof(name), "snapshot number %u%.*s", i + 1,
			 (int)(i % 7), "xxxxxxx");
		off = (put_snapshot(off, 2 * CLUSTER, 2, id, name,
				    (i + 1) * CLUSTER) + 7) & ~7ULL;
	}
	check(off > 7 * CLUSTER, "2000 snapshots take three clusters", "");
	ret = qcow2_open(&img, &big_io);
	check(ret == 0 && img.nb_snapshots == n, "a 2000-entry table opens",
	      img.err);
	for (i = 0; !ret && i < n; i++) {
		snprintf(id, sizeof(id), "%u", i + 1);
		snprintf(name, sizeof(name), "snapshot number %u%.*s", i + 1,
			 (int)(i % 7), "xxxxxxx");
		bad += strcmp(img.snapshots[i].id_str, id) ||
		       strcmp(img.snapshots[i].name, name) ||
		       img.snapshots[i].disk_size != (i + 1) * CLUSTER;
	}
	check(!ret && !bad, "every entry decodes across the window's edges", "");
	check(!ret && qcow2_find_snapshot(&img, "snapshot number 2000xxxx") == 1999,
	      "the last entry is found by name", "");
	qcow2_close(&img);
}

/*
 * A snapshot is known by its whole entry: each field changed alone makes
 * another snapshot, a copy is the same, extra data QEMU does not define
 * is read and compared, and disk sizes over QEMU's limit are refused.
 */
static void test_snapshot_identity(void)
{
	struct qcow2_snapshot copy;
	struct qcow2_image img, img2;
	struct qcow2_view view;
	u64 sn0 = 3 * CLUSTER;
	int ret, same;

	make_image();
	ret = qcow2_open(&img, &io);
	check(!ret && !qcow2_snapshot_copy(&copy, &img.snapshots[0]) &&
	      qcow2_snapshot_same(&copy, &img.snapshots[0]) &&
	      !qcow2_snapshot_same(&copy, &img.snapshots[1]),
	      "a copy of an entry is the same entry, another one is not",
	      img.err);

#define CHANGED(desc, poke)							do {										make_image();								poke;									ret = qcow2_open(&img2, &io);						same = !ret && qcow2_snapshot_same(&copy,								   &img2.snapshots[0]);			check(!ret && !same, desc, ret ? img2.err : "same");			qcow2_close(&img2);						} while (0)

	CHANGED("re-created: only date_nsec differs", put32(sn0 + 20, 1));
	CHANGED("re-created: only date_sec differs", put32(sn0 + 16, 1700000001));
	CHANGED("only vm_clock_nsec differs", put64(sn0 + 24, 5));
	CHANGED("only the 32-bit vm_state_size differs", put32(sn0 + 32, 7));
	CHANGED("only icount differs", put64(sn0 + 56, 43));
	CHANGED("only the L1 size differs", put32(sn0 + 8, 1));
	CHANGED("only the disk size differs", put64(sn0 + 48, 1ULL << 28));
	qcow2_snapshot_free(&copy);
	qcow2_close(&img);

	/* Extra data past the fields QEMU defines: 8 more bytes. */
	make_image();
	put32(60, 1);
	put32(sn0 + 36, 32);
	memmove(file + sn0 + 72, file + sn0 + 64, 2);	/* id, name */
	put64(sn0 + 64, 0x1122334455667788ULL);
	ret = qcow2_open(&img, &io);
	check(!ret && img.snapshots[0].extra_data_size == 32 &&
	      !strcmp(img.snapshots[0].id_str, "1") &&
	      !strcmp(img.snapshots[0].name, "2"),
	      "extra data longer than QEMU's fields is read past", img.err);
	ret = ret ? ret : qcow2_snapshot_copy(&copy, &img.snapshots[0]);
	put64(sn0 + 64, 0x1122334455667789ULL);
	ret = ret ? ret : qcow2_open(&img2, &io);
	check(!ret && qcow2_snapshot_same(&copy, &img.snapshots[0]) &&
	      !qcow2_snapshot_same(&copy, &img2.snapshots[0]),
	      "... and a change in it makes another snapshot", img2.err);
	qcow2_snapshot_free(&copy);
	qcow2_close(&img);
	qcow2_close(&img2);

	/* Disk sizes: QEMU's BDRV_MAX_LENGTH is the largest a device takes. */
	make_image();
	put64(sn0 + 48, QCOW2_MAX_DISK_SIZE + 1);
	ret = qcow2_open(&img, &io);
	check(!ret && qcow2_select(&img, 0, &view) == -EFBIG,
	      "snapshot disk size BDRV_MAX_LENGTH + 1: EFBIG", img.err);
	qcow2_close(&img);
	make_image();
	put64(sn0 + 48, ~511ULL);
	ret = qcow2_open(&img, &io);
	check(!ret && qcow2_select(&img, 0, &view) == -EFBIG,
	      "snapshot disk size 2^64 - 512: EFBIG", img.err);
	qcow2_close(&img);
	make_image();
	put64(24, 1ULL << 63);
	check(open_err() == -EFBIG, "virtual size 2^63: EFBIG", "");
}

/*
 * LUKS as QEMU lays it out in a qcow2: the crypto header extension after
 * the header points at cluster 5, which holds the LUKS1 header, then eight
 * key slots of 16-byte keys (125 sectors each) 128 sectors apart.
 */
#define LUKS_AT		(5 * CLUSTER)
#define LUKS_SLOT(i)	(LUKS_AT + 208 + (i) * 48)
#define LUKS_LEN	((8 + 8 * 128) * 512ULL)

static void put_str(u64 off, const char *s) { memcpy(file + off, s, strlen(s) + 1); }

static void make_luks(void)
{
	int i;

	make_image();
	put32(32, QCOW2_CRYPT_LUKS);
	put32(104, QCOW2_EXT_CRYPTO);
	put32(108, 16);
	put64(112, LUKS_AT);
	put64(120, LUKS_LEN);
	memcpy(file + LUKS_AT, "LUKS\xba\xbe", 6);
	put16(LUKS_AT + 6, 1);
	put_str(LUKS_AT + 8, "aes");
	put_str(LUKS_AT + 40, "xts-plain64");
	put_str(LUKS_AT + 72, "sha256");
	put32(LUKS_AT + 104, LUKS_LEN / 512);	/* payload offset */
	put32(LUKS_AT + 108, 16);		/* key bytes */
	memset(file + LUKS_AT + 112, 0xd1, 20);	/* the volume key's digest */
	memset(file + LUKS_AT + 132, 0x5a, 32);	/* ... its salt */
	put32(LUKS_AT + 164, 1000);		/* ... its iterations */
	for (i = 0; i < 8; i++) {
		put32(LUKS_SLOT(i), i ? LUKS1_SLOT_DISABLED : LUKS1_SLOT_ENABLED);
		put32(LUKS_SLOT(i) + 4, 1000);
		put32(LUKS_SLOT(i) + 40, 8 + i * 128);
		put32(LUKS_SLOT(i) + 44, LUKS1_STRIPES);
	}
}

static void test_luks(void)
{
	const struct qcow2_io luks_io = { .pread = mem_pread,
					  .file_size = sizeof(file) };
	struct qcow2_image img;
	char name[96];
	int ret;

	make_luks();
	ret = qcow2_open(&img, &luks_io);
	qcow2_crypto_name(&img.crypto, name, sizeof(name));
	check(ret == 0 && img.crypto.header_offset == LUKS_AT &&
	      img.crypto.key_bytes == 16 && !img.crypto.guest_iv &&
	      img.crypto.ivgen == QCOW2_IV_PLAIN64 && !strcmp(name, "aes-xts-plain64") &&
	      !strcmp(img.crypto.hash, "sha256") &&
	      img.crypto.mk_digest_iterations == 1000 &&
	      img.crypto.mk_digest[19] == 0xd1 && img.crypto.mk_digest_salt[31] == 0x5a,
	      "LUKS: a valid header decodes (aes-xts-plain64, 16-byte key, the key's digest)",
	      img.err);
	qcow2_close(&img);

	make_luks();
	put_str(LUKS_AT + 40, "cbc-essiv:sha256");
	ret = qcow2_open(&img, &luks_io);
	qcow2_crypto_name(&img.crypto, name, sizeof(name));
	check(ret == 0 && img.crypto.ivgen == QCOW2_IV_ESSIV &&
	      !strcmp(img.crypto.ivhash, "sha256") && !strcmp(name, "aes-cbc-essiv:sha256"),
	      "LUKS: cbc-essiv:sha256 decodes", img.err);
	qcow2_close(&img);

	make_image();
	put32(32, QCOW2_CRYPT_AES);
	ret = qcow2_open(&img, &io);
	qcow2_crypto_name(&img.crypto, name, sizeof(name));
	check(ret == 0 && img.crypto.guest_iv && img.crypto.key_bytes == 16 &&
	      !strcmp(name, "aes-cbc-plain64"),
	      "legacy AES: AES-128-CBC, plain64 IVs of guest sectors", img.err);
	qcow2_close(&img);

#define LUKS_CASE(desc, setup, want)				\
	do {							\
		make_luks();					\
		setup;						\
		ret = qcow2_open(&img, &luks_io);		\
		check(ret == (want), "LUKS: " desc, img.err);	\
		qcow2_close(&img);				\
	} while (0)

	LUKS_CASE("bad magic: EINVAL", file[LUKS_AT] = 'X', -EINVAL);
	LUKS_CASE("version 2: EOPNOTSUPP", put16(LUKS_AT + 6, 2), -EOPNOTSUPP);
	LUKS_CASE("key size 0: EINVAL", put32(LUKS_AT + 108, 0), -EINVAL);
	LUKS_CASE("a volume key digest of 0 iterations: EINVAL",
		  put32(LUKS_AT + 164, 0), -EINVAL);
	LUKS_CASE("key size 65: EINVAL", put32(LUKS_AT + 108, 65), -EINVAL);
	LUKS_CASE("key size 2^32 - 1: EINVAL", put32(LUKS_AT + 108, ~0U), -EINVAL);
	LUKS_CASE("64-byte keys make the slots overlap: EINVAL",
		  put32(LUKS_AT + 108, 64), -EINVAL);
	LUKS_CASE("a cipher name with template syntax: EINVAL",
		  put_str(LUKS_AT + 8, "aes),ecb(aes"), -EINVAL);
	LUKS_CASE("an unterminated cipher name: EINVAL",
		  memset(file + LUKS_AT + 8, 'a', 32), -EINVAL);
	LUKS_CASE("an empty cipher name: EINVAL", file[LUKS_AT + 8] = 0, -EINVAL);
	LUKS_CASE("a hash spec with a space: EINVAL",
		  put_str(LUKS_AT + 72, "sha 256"), -EINVAL);
	LUKS_CASE("mode without an IV generator: EINVAL",
		  put_str(LUKS_AT + 40, "xts"), -EINVAL);
	LUKS_CASE("mode gcm: EOPNOTSUPP", put_str(LUKS_AT + 40, "gcm-plain64"),
		  -EOPNOTSUPP);
	LUKS_CASE("IV generator benbi: EOPNOTSUPP",
		  put_str(LUKS_AT + 40, "cbc-benbi"), -EOPNOTSUPP);
	LUKS_CASE("essiv without a hash: EINVAL", put_str(LUKS_AT + 40, "cbc-essiv"),
		  -EINVAL);
	LUKS_CASE("an IV hash with template syntax: EINVAL",
		  put_str(LUKS_AT + 40, "cbc-essiv:sha256)"), -EINVAL);
	LUKS_CASE("an unterminated cipher mode: EINVAL",
		  memset(file + LUKS_AT + 40, 'a', 32), -EINVAL);
	LUKS_CASE("3999 stripes: EINVAL", put32(LUKS_SLOT(3) + 44, 3999), -EINVAL);
	LUKS_CASE("a slot neither enabled nor disabled: EINVAL",
		  put32(LUKS_SLOT(2), 1), -EINVAL);
	LUKS_CASE("an enabled slot with 0 iterations: EINVAL",
		  put32(LUKS_SLOT(0) + 4, 0), -EINVAL);
	LUKS_CASE("an enabled slot asking 2^31 PBKDF2 iterations: EINVAL",
		  put32(LUKS_SLOT(0) + 4, 1U << 31), -EINVAL);
	LUKS_CASE("an enabled slot at the iteration bound: decodes",
		  put32(LUKS_SLOT(0) + 4, QCOW2_LUKS_ITER_MAX), 0);
	LUKS_CASE("a disabled slot's iteration count is not looked at",
		  put32(LUKS_SLOT(3) + 4, ~0U), 0);
	LUKS_CASE("a volume key digest of 2^31 iterations: EINVAL",
		  put32(LUKS_AT + 164, 1U << 31), -EINVAL);
	LUKS_CASE("a volume key digest at the iteration bound: decodes",
		  put32(LUKS_AT + 164, QCOW2_LUKS_ITER_MAX), 0);
	LUKS_CASE("no enabled slot: EINVAL",
		  put32(LUKS_SLOT(0), LUKS1_SLOT_DISABLED), -EINVAL);
	LUKS_CASE("key material over the LUKS header: EINVAL",
		  put32(LUKS_SLOT(0) + 40, 0), -EINVAL);
	LUKS_CASE("two slots' key material overlapping: EINVAL",
		  put32(LUKS_SLOT(5) + 40, 8 + 4 * 128 + 100), -EINVAL);
	LUKS_CASE("key material past the extension: EINVAL",
		  put64(120, (8 + 7 * 128 + 124) * 512ULL), -EINVAL);
	LUKS_CASE("key material over the payload: EINVAL",
		  put32(LUKS_AT + 104, 100), -EINVAL);
	LUKS_CASE("key material offset near 2^32: EINVAL",
		  put32(LUKS_SLOT(7) + 40, ~0U - 10), -EINVAL);
	LUKS_CASE("extension of 8 bytes: EINVAL", put32(108, 8), -EINVAL);
	LUKS_CASE("header offset not cluster-aligned: EINVAL",
		  put64(112, LUKS_AT + 512), -EINVAL);
	LUKS_CASE("extension too short for a LUKS header: EINVAL",
		  put64(120, 512), -EINVAL);
	LUKS_CASE("header past the end of the file: EINVAL",
		  put64(112, 64 * CLUSTER), -EINVAL);
	LUKS_CASE("length near 2^64: EINVAL", put64(120, ~0ULL - 4096), -EINVAL);
	LUKS_CASE("the extension in a legacy AES image: EINVAL",
		  put32(32, QCOW2_CRYPT_AES), -EINVAL);
}

int main(void)
{
	tap_prefix = "unit: ";
	test_header();
	test_big_snapshot_table();
	test_select_and_decode();
	test_compressed_descriptor();
	test_extended_l2();
	test_snapshot_identity();
	test_luks();
	return tap_finish();
}

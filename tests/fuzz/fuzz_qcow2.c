// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer harness for the qcow2 format code (qcow2/qcow2*.c), fed
 * through the entry points the module uses, in the order it uses them:
 * qcow2_open(), qcow2_find_snapshot(), qcow2_select() for the current state
 * and each snapshot, qcow2_decode_l1_entry() for every L1 entry the view
 * uses, and qcow2_map_l2_entry() for every entry of every L2 table found
 * (with qcow2_decode_compressed() behind compressed ones).  The input is
 * the whole image file.
 */
#include "qcow2.h"

#define MAX_SNAPSHOTS_WALKED	8
#define MAX_L1_WALKED		64

struct mem_file {
	const uint8_t *data;
	size_t size;
};

static int mem_pread(void *opaque, void *buf, size_t len, u64 off)
{
	const struct mem_file *f = opaque;

	/* The format code promises to stay inside file_size. */
	if (off > f->size || len > f->size - off)
		__builtin_trap();
	memcpy(buf, f->data + off, len);
	return 0;
}

/* Map every guest cluster of one L2 table, as the read path would. */
static void walk_l2(struct qcow2_image *img, const struct mem_file *f,
		    u64 l2_offset, u64 guest_base, __be64 *table)
{
	u32 entries = 1U << qcow2_l2_bits(img), i;
	struct qcow2_mapping m;

	memcpy(table, f->data + l2_offset, img->cluster_size);
	for (i = 0; i < entries; i++) {
		u64 guest = guest_base + ((u64)i << img->cluster_bits);

		if (qcow2_map_l2_entry(img, table, i, guest, &m))
			continue;
		if (m.len == 0 || m.len > img->cluster_size)
			__builtin_trap();
		if (m.type == QCOW2_MAP_COMPRESSED &&
		    (m.host_offset >= img->file_size ||
		     m.compressed_len > 2 * img->cluster_size))
			__builtin_trap();
		if (m.type == QCOW2_MAP_DATA &&
		    m.host_offset >= img->data_file_size)
			__builtin_trap();
		/* A run inside the cluster, then the rest of it. */
		if (m.len < img->cluster_size)
			qcow2_map_l2_entry(img, table, i, guest + m.len, &m);
	}
}

static void walk_view(struct qcow2_image *img, const struct mem_file *f,
		      const struct qcow2_view *view, __be64 *table)
{
	u32 i, n = view->l1_used < MAX_L1_WALKED ? view->l1_used : MAX_L1_WALKED;
	u64 span = 1ULL << (img->cluster_bits + qcow2_l2_bits(img));

	for (i = 0; i < n; i++) {
		__be64 raw;
		u64 l2;

		memcpy(&raw, f->data + view->l1_table_offset + 8ULL * i, 8);
		if (qcow2_decode_l1_entry(img, be64_to_cpu(raw), i, &l2) || !l2)
			continue;
		if (l2 > f->size || f->size - l2 < img->cluster_size)
			__builtin_trap();
		walk_l2(img, f, l2, (u64)i * span, table);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem_file f = { data, size };
	struct qcow2_io io = { .pread = mem_pread, .opaque = &f,
			       .file_size = size };
	struct qcow2_image img;
	struct qcow2_view view;
	__be64 *table;
	u32 i;

	if (qcow2_open(&img, &io) == 0) {
		table = malloc(img.cluster_size);
		qcow2_find_snapshot(&img, "1");
		qcow2_find_snapshot(&img, "snap");
		if (qcow2_select(&img, -1, &view) == 0)
			walk_view(&img, &f, &view, table);
		for (i = 0; i < img.nb_snapshots && i < MAX_SNAPSHOTS_WALKED; i++)
			if (qcow2_select(&img, i, &view) == 0)
				walk_view(&img, &f, &view, table);
		free(table);
	}
	qcow2_close(&img);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * qcow2 internal snapshot table: parse it (after QEMU's
 * qcow2_do_read_snapshots() in block/qcow2-snapshot.c) and find an entry by
 * id or name.
 */
#include "qcow2.h"

/* A NUL-terminated copy of @len bytes read from the file at @off. */
static int qcow2_read_string(struct qcow2_image *img, const struct qcow2_io *io,
			     u64 off, u32 len, char **out, const char *what)
{
	char *s = qcow2_calloc(1, (size_t)len + 1);
	int ret;

	if (!s)
		return -ENOMEM;
	ret = len ? io->pread(io->opaque, s, len, off) : 0;
	if (ret < 0) {
		qcow2_free(s);
		return qcow2_error(img, -ret, "cannot read snapshot %s at %llu",
				   what, (unsigned long long)off);
	}
	*out = s;
	return 0;
}

static int qcow2_read_one_snapshot(struct qcow2_image *img,
				   const struct qcow2_io *io, u32 i,
				   u64 *offset, struct qcow2_snapshot *sn)
{
	struct qcow2_snapshot_extra extra;
	struct qcow2_snapshot_header h;
	u32 id_len, name_len, extra_len;
	u64 off = ALIGN(*offset, 8);
	u64 entry_len;
	int ret;

	if (off > io->file_size || io->file_size - off < sizeof(h))
		return qcow2_error(img, EINVAL,
				   "snapshot table entry %u at %llu runs past the end of the file",
				   i, (unsigned long long)off);
	ret = io->pread(io->opaque, &h, sizeof(h), off);
	if (ret < 0)
		return qcow2_error(img, -ret, "cannot read snapshot table entry %u",
				   i);
	sn->entry_offset = off;

	extra_len = be32_to_cpu(h.extra_data_size);
	id_len = be16_to_cpu(h.id_str_size);
	name_len = be16_to_cpu(h.name_size);
	if (extra_len > QCOW2_MAX_SNAPSHOT_EXTRA_DATA)
		return qcow2_error(img, EFBIG,
				   "snapshot table entry %u: extra_data_size %u too large (at most %u)",
				   i, extra_len, QCOW2_MAX_SNAPSHOT_EXTRA_DATA);
	/* All three are bounded, so this cannot overflow. */
	entry_len = sizeof(h) + (u64)extra_len + id_len + name_len;
	if (io->file_size - off < entry_len)
		return qcow2_error(img, EINVAL,
				   "snapshot table entry %u at %llu runs past the end of the file",
				   i, (unsigned long long)off);
	if (off + entry_len - img->snapshots_offset > QCOW2_MAX_SNAPSHOTS_SIZE)
		return qcow2_error(img, EFBIG,
				   "snapshot table too big (more than %llu bytes)",
				   (unsigned long long)QCOW2_MAX_SNAPSHOTS_SIZE);

	sn->l1_table_offset = be64_to_cpu(h.l1_table_offset);
	sn->l1_size = be32_to_cpu(h.l1_size);
	sn->date_sec = be32_to_cpu(h.date_sec);
	sn->date_nsec = be32_to_cpu(h.date_nsec);
	sn->vm_clock_nsec = be64_to_cpu(h.vm_clock_nsec);
	sn->vm_state_size_hdr = be32_to_cpu(h.vm_state_size);
	sn->vm_state_size = sn->vm_state_size_hdr;
	sn->extra_data_size = extra_len;
	off += sizeof(h);

	memset(&extra, 0, sizeof(extra));
	if (extra_len) {
		size_t n = extra_len < sizeof(extra) ? extra_len : sizeof(extra);

		ret = io->pread(io->opaque, &extra, n, off);
		if (ret < 0)
			return qcow2_error(img, -ret,
					   "cannot read snapshot %u extra data", i);
	}
	/* Fields QEMU does not define yet: kept, to know the entry whole. */
	if (extra_len > sizeof(extra)) {
		sn->extra_tail = qcow2_calloc(1, extra_len - sizeof(extra));
		if (!sn->extra_tail)
			return -ENOMEM;
		ret = io->pread(io->opaque, sn->extra_tail,
				extra_len - sizeof(extra), off + sizeof(extra));
		if (ret < 0)
			return qcow2_error(img, -ret,
					   "cannot read snapshot %u extra data", i);
	}
	if (extra_len >= 8)
		sn->vm_state_size = be64_to_cpu(extra.vm_state_size_large);
	sn->disk_size = extra_len >= 16 ? be64_to_cpu(extra.disk_size) :
					  img->size;
	sn->icount = extra_len >= 24 ? be64_to_cpu(extra.icount) : ~0ULL;
	off += extra_len;

	ret = qcow2_read_string(img, io, off, id_len, &sn->id_str, "id");
	if (ret)
		return ret;
	off += id_len;
	ret = qcow2_read_string(img, io, off, name_len, &sn->name, "name");
	if (ret)
		return ret;
	*offset = off + name_len;
	return 0;
}

/*
 * The table is read through a window of the file: an entry is four small
 * reads (header, extra data, id, name), and a table of 10,000 entries read
 * one pread at a time took most of an attach.
 */
#define QCOW2_WINDOW_SIZE	65536

struct qcow2_window {
	const struct qcow2_io *io;
	unsigned char *buf;	/* NULL: read straight from io */
	u64 start;
	u64 len;
};

/* qcow2_io.pread through the window; ranges are inside the file. */
static int qcow2_window_pread(void *opaque, void *buf, size_t len, u64 off)
{
	struct qcow2_window *w = opaque;
	const struct qcow2_io *io = w->io;
	u64 n;
	int ret;

	if (!w->buf || len > QCOW2_WINDOW_SIZE)
		return io->pread(io->opaque, buf, len, off);
	if (off < w->start || off - w->start > w->len ||
	    len > w->len - (off - w->start)) {
		n = io->file_size - off;
		if (n > QCOW2_WINDOW_SIZE)
			n = QCOW2_WINDOW_SIZE;
		w->len = 0;
		ret = io->pread(io->opaque, w->buf, n, off);
		if (ret)
			return ret;
		w->start = off;
		w->len = n;
	}
	memcpy(buf, w->buf + (off - w->start), len);
	return 0;
}

/**
 * qcow2_read_snapshots() - parse the snapshot table into img->snapshots
 * @img: an image whose header qcow2_open() has validated
 * @io: how to read the file
 *
 * Return: 0 or -errno (img->err set).
 */
int qcow2_read_snapshots(struct qcow2_image *img, const struct qcow2_io *io)
{
	struct qcow2_window w = { .io = io };
	struct qcow2_io wio = {
		.pread = qcow2_window_pread,
		.opaque = &w,
		.file_size = io->file_size,
	};
	u64 offset = img->snapshots_offset;
	int ret = 0;
	u32 i;

	if (!img->nb_snapshots)
		return 0;
	img->snapshots = qcow2_calloc(img->nb_snapshots,
				      sizeof(*img->snapshots));
	if (!img->snapshots)
		return -ENOMEM;
	/* Without the window it is only slower. */
	w.buf = qcow2_calloc(1, QCOW2_WINDOW_SIZE);
	for (i = 0; i < img->nb_snapshots; i++) {
		ret = qcow2_read_one_snapshot(img, &wio, i, &offset,
					      &img->snapshots[i]);
		if (ret)
			break;
	}
	qcow2_free(w.buf);
	return ret;
}

/**
 * qcow2_find_snapshot() - look a snapshot up the way `qemu-img snapshot -a`
 * does: by id first, then by name
 * @img: the image
 * @id_or_name: what the user typed
 *
 * Return: the index into img->snapshots, or -ENOENT.
 */
int qcow2_find_snapshot(const struct qcow2_image *img, const char *id_or_name)
{
	u32 i;

	for (i = 0; i < img->nb_snapshots; i++)
		if (!strcmp(img->snapshots[i].id_str, id_or_name))
			return i;
	for (i = 0; i < img->nb_snapshots; i++)
		if (!strcmp(img->snapshots[i].name, id_or_name))
			return i;
	return -ENOENT;
}

/**
 * qcow2_find_snapshot_id() - look a snapshot up by its id only
 * @img: the image
 * @id: the id
 *
 * Return: the index into img->snapshots, or -ENOENT.
 */
int qcow2_find_snapshot_id(const struct qcow2_image *img, const char *id)
{
	u32 i;

	for (i = 0; i < img->nb_snapshots; i++)
		if (!strcmp(img->snapshots[i].id_str, id))
			return i;
	return -ENOENT;
}

/**
 * qcow2_snapshot_same() - do two decoded entries say the same thing?
 * @a: one entry
 * @b: the other
 *
 * Every field of the on-disk entry is compared, the dates to the
 * nanosecond and the extra data QEMU does not define included: QEMU gives
 * a snapshot created after a deletion the deleted one's id when that was
 * the highest, and often puts its L1 table where the old one was, so id,
 * name and L1 table alone do not tell a re-created snapshot from the
 * original.  The disk size is compared as stored: without the extra data
 * field it is the image's, which is no part of the entry.
 *
 * Return: true if they are the same entry.
 */
bool qcow2_snapshot_same(const struct qcow2_snapshot *a,
			 const struct qcow2_snapshot *b)
{
	u32 tail = a->extra_data_size > sizeof(struct qcow2_snapshot_extra) ?
		   a->extra_data_size - sizeof(struct qcow2_snapshot_extra) : 0;

	if (a->l1_table_offset != b->l1_table_offset ||
	    a->l1_size != b->l1_size || a->date_sec != b->date_sec ||
	    a->date_nsec != b->date_nsec ||
	    a->vm_clock_nsec != b->vm_clock_nsec ||
	    a->vm_state_size_hdr != b->vm_state_size_hdr ||
	    a->extra_data_size != b->extra_data_size ||
	    strcmp(a->id_str, b->id_str) || strcmp(a->name, b->name))
		return false;
	if (a->extra_data_size >= 8 && a->vm_state_size != b->vm_state_size)
		return false;
	if (a->extra_data_size >= 16 && a->disk_size != b->disk_size)
		return false;
	if (a->extra_data_size >= 24 && a->icount != b->icount)
		return false;
	return !tail || !memcmp(a->extra_tail, b->extra_tail, tail);
}

/* A string the caller frees with qcow2_free(). */
static char *qcow2_strdup(const char *s)
{
	size_t len = strlen(s) + 1;
	char *d = qcow2_calloc(1, len);

	if (d)
		memcpy(d, s, len);
	return d;
}

/**
 * qcow2_snapshot_copy() - a deep copy of an entry, to keep past its table
 * @dst: filled in; release with qcow2_snapshot_free(), also on error
 * @src: the entry
 *
 * Return: 0 or -ENOMEM.
 */
int qcow2_snapshot_copy(struct qcow2_snapshot *dst,
			const struct qcow2_snapshot *src)
{
	u32 tail = src->extra_data_size > sizeof(struct qcow2_snapshot_extra) ?
		   src->extra_data_size - sizeof(struct qcow2_snapshot_extra) : 0;

	*dst = *src;
	dst->id_str = qcow2_strdup(src->id_str);
	dst->name = qcow2_strdup(src->name);
	dst->extra_tail = tail ? qcow2_calloc(1, tail) : NULL;
	if (!dst->id_str || !dst->name || (tail && !dst->extra_tail))
		return -ENOMEM;
	if (tail)
		memcpy(dst->extra_tail, src->extra_tail, tail);
	return 0;
}

/**
 * qcow2_snapshot_free() - free what an entry holds (not the entry)
 * @sn: the entry
 */
void qcow2_snapshot_free(struct qcow2_snapshot *sn)
{
	qcow2_free(sn->id_str);
	qcow2_free(sn->name);
	qcow2_free(sn->extra_tail);
	sn->id_str = NULL;
	sn->name = NULL;
	sn->extra_tail = NULL;
}

/**
 * qcow2_read_table_location() - where the header says the snapshot table is
 * @io: how to read the file
 * @offset: out: snapshots_offset
 * @count: out: nb_snapshots
 * @disk_size: out: the virtual size
 *
 * The raw fields, not validated: for comparing with a header validated
 * before.
 *
 * Return: 0, or -errno (-EINVAL if the file is no qcow2 image).
 */
int qcow2_read_table_location(const struct qcow2_io *io, u64 *offset,
			      u32 *count, u64 *disk_size)
{
	struct qcow2_header_v2 h;
	int ret;

	if (io->file_size < sizeof(h))
		return -EINVAL;
	ret = io->pread(io->opaque, &h, sizeof(h), 0);
	if (ret < 0)
		return ret;
	if (be32_to_cpu(h.magic) != QCOW2_MAGIC)
		return -EINVAL;
	*offset = be64_to_cpu(h.snapshots_offset);
	*count = be32_to_cpu(h.nb_snapshots);
	*disk_size = be64_to_cpu(h.size);
	return 0;
}

/**
 * qcow2_reread_snapshot() - read one table entry again, where it was
 * @io: how to read the file
 * @table: the table's offset (bounds the entry as a whole table would)
 * @offset: the entry's offset (qcow2_snapshot.entry_offset)
 * @disk_size: the image's virtual size (an entry without one has it)
 * @sn: filled in; release with qcow2_snapshot_free(), also on error
 *
 * Return: 0, or -errno if no entry reads there.
 */
int qcow2_reread_snapshot(const struct qcow2_io *io, u64 table, u64 offset,
			  u64 disk_size, struct qcow2_snapshot *sn)
{
	struct qcow2_image *img = qcow2_calloc(1, sizeof(*img));
	int ret;

	memset(sn, 0, sizeof(*sn));
	if (!img)
		return -ENOMEM;
	img->snapshots_offset = table;
	img->size = disk_size;
	ret = offset < table ? -EINVAL :
	      qcow2_read_one_snapshot(img, io, 0, &offset, sn);
	qcow2_free(img);
	return ret;
}

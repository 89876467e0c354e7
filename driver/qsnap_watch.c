// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnap: is the attached snapshot still in its image?
 *
 * Reading a snapshot of an image that a VM is writing is safe: QEMU never
 * rewrites a cluster whose refcount is above one, so the snapshot's
 * clusters stay as they were - until the snapshot is deleted.  Then QEMU
 * frees them and reuses them for new data, and a device still mapping
 * through the old L1/L2 tables would serve someone else's data as ours.
 * So a device showing a snapshot re-reads the image's snapshot table
 * before the first read after each open and, while it serves reads, at
 * most every recheck_ms (the device's setting).  Once a table read in full shows its entry gone
 * or different (deleted, or deleted and a new snapshot given its id), it
 * fails every read with EIO and says so once.  Between two checks the
 * window is recheck_ms.
 *
 * A check compares the entry's bytes where they were when the header
 * still points where it did, and reads the whole table only when not.
 * It runs in the device's own workers, before the request that found it
 * due, never in an opener's context: there a pending signal
 * (a killed opener), the opener's LSM label or its credentials would make
 * the table unreadable for reasons that say nothing about the image.  A
 * check that cannot read or parse the table says nothing either: the
 * device goes on serving, says so once, and tries again later.
 */
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/pagemap.h>
#include <linux/slab.h>

#include "qsnap.h"

/**
 * qsnap_watch_init() - remember what the attached snapshot is
 * @qs: the device, its top layer's snapshot chosen
 *
 * Return: 0 or -ENOMEM.
 */
int qsnap_watch_init(struct qsnap_device *qs)
{
	const struct qcow2_snapshot *sn = qsnap_top(qs)->view.snapshot;
	struct qsnap_watch *w = &qs->watch;

	mutex_init(&w->lock);
	if (!sn)
		return 0;	/* the current state is not watched */
	w->watched = true;
	w->next = jiffies + msecs_to_jiffies(qs->set.recheck_ms);
	w->table_offset = qsnap_top(qs)->im->qcow2.snapshots_offset;
	w->table_count = qsnap_top(qs)->im->qcow2.nb_snapshots;
	return qcow2_snapshot_copy(&w->sn, sn);
}

void qsnap_watch_exit(struct qsnap_device *qs)
{
	qcow2_snapshot_free(&qs->watch.sn);
}

/*
 * qcow2_io.pread of the watch on a block device: the pages it reads are
 * dropped from the device's page cache first.  An LV of shared storage
 * (a cluster's volume group) is written by other hosts, which no local
 * page cache follows.  Dirty pages (a local writer's) are kept, and are
 * what the disk will hold.
 */
static int qsnap_watch_pread_bdev(void *opaque, void *buf, size_t len, u64 off)
{
	struct file *file = opaque;

	if (len)
		invalidate_inode_pages2_range(file->f_mapping,
					      off >> PAGE_SHIFT,
					      (off + len - 1) >> PAGE_SHIFT);
	return qsnap_file_pread(file, buf, len, off);
}

/*
 * How the watch reads the image: through the page cache, as QEMU wrote
 * it, made to see other hosts' writes.  A file's attributes are asked
 * of its file system's server (AT_STATX_FORCE_SYNC; a local file system
 * has them already): NFS then drops the cached pages of a file another
 * client changed, and the size is the server's.  A block device's pages
 * are read from the device (qsnap_watch_pread_bdev()).
 */
static void qsnap_watch_io(struct qsnap_device *qs, struct qcow2_io *io)
{
	struct file *file = qsnap_top(qs)->im->file;
	bool bdev = S_ISBLK(file_inode(file)->i_mode);
	struct kstat st;

	/* A failure leaves the cached size; the reads then say what is wrong. */
	if (!bdev)
		vfs_getattr(&file->f_path, &st, STATX_SIZE, AT_STATX_FORCE_SYNC);
	*io = (struct qcow2_io) {
		.pread = bdev ? qsnap_watch_pread_bdev : qsnap_file_pread,
		.opaque = file,
		.file_size = qsnap_file_size(file),
	};
}

/*
 * The cheap check: the header still puts the table where it was, with as
 * many entries, and the bytes at the entry's place are the entry, dates
 * to the nanosecond.  That is the entry, in the table: QEMU writes a
 * changed table into newly allocated clusters before it points the
 * header at it, and what stands at an entry's place in a table that
 * moved back is another entry, with other dates.  Return: true if so;
 * false sends the check to the full read of the table.
 */
static bool qsnap_watch_quick(struct qsnap_device *qs)
{
	struct qsnap_watch *w = &qs->watch;
	struct qcow2_snapshot sn;
	struct qcow2_io io;
	u64 offset, size;
	u32 count;
	bool same;

	qsnap_watch_io(qs, &io);
	if (qcow2_read_table_location(&io, &offset, &count, &size) ||
	    offset != w->table_offset || count != w->table_count)
		return false;
	same = !qcow2_reread_snapshot(&io, offset, w->sn.entry_offset, size,
				      &sn) &&
	       qcow2_snapshot_same(&sn, &w->sn);
	qcow2_snapshot_free(&sn);
	return same;
}

/*
 * Read the image's header and snapshot table again.  Return: 0 if the
 * snapshot's entry is there as it was, -ESTALE if the table was read and
 * it is not (@why says how), another -errno if the table could not be
 * read or parsed (@img->err says why, unless -ENOMEM).
 */
static int qsnap_watch_lookup(struct qsnap_device *qs, struct qcow2_image *img,
			      const char **why)
{
	struct qsnap_watch *w = &qs->watch;
	struct qcow2_io io;
	int i, ret;

	qsnap_watch_io(qs, &io);
	ret = qcow2_open(img, &io);
	if (ret)
		return ret;
	i = qcow2_find_snapshot_id(img, w->sn.id_str);
	if (i < 0) {
		*why = "was deleted";
		return -ESTALE;
	}
	if (!qcow2_snapshot_same(&img->snapshots[i], &w->sn)) {
		*why = "was replaced (its id now names another snapshot)";
		return -ESTALE;
	}
	/* Where the next cheap check looks. */
	w->sn.entry_offset = img->snapshots[i].entry_offset;
	w->table_offset = img->snapshots_offset;
	w->table_count = img->nb_snapshots;
	return 0;
}

/* One check, under w->lock. */
static void qsnap_watch_recheck(struct qsnap_device *qs)
{
	struct qsnap_watch *w = &qs->watch;
	struct qcow2_image *img = NULL;
	const char *why = NULL;
	int ret = 0, tries = 0;

	if (!qsnap_watch_quick(qs)) {
		img = kzalloc(sizeof(*img), GFP_KERNEL);
		if (!img)
			return;		/* unknown: serve, and try again */
		/*
		 * A table caught while QEMU replaces it (new table, header,
		 * old one freed) must not condemn us: gone only if two reads
		 * in a row say so.
		 */
		do {
			qcow2_close(img);
			ret = qsnap_watch_lookup(qs, img, &why);
		} while (ret == -ESTALE && ++tries < 2);
	}

	if (ret == -ESTALE) {
		pr_err("%s: %s: snapshot %*pE \"%*pE\" %s; reads fail from now on\n",
		       qs->disk->disk_name, qsnap_top(qs)->im->log_path,
		       (int)strlen(w->sn.id_str), w->sn.id_str,
		       (int)strlen(w->sn.name), w->sn.name, why);
		WRITE_ONCE(w->gone, true);
	} else if (ret && !w->unknown) {
		w->unknown = true;
		pr_warn("%s: %s: cannot re-read the snapshot table (error %d%s%*pE); reads go on, checked again in %u ms\n",
			qs->disk->disk_name, qsnap_top(qs)->im->log_path, ret,
			img->err[0] ? ": " : "", (int)strlen(img->err),
			img->err, qs->set.recheck_ms);
	} else if (!ret && w->unknown) {
		w->unknown = false;
		pr_info("%s: %s: snapshot table read again; snapshot %*pE is there\n",
			qs->disk->disk_name, qsnap_top(qs)->im->log_path,
			(int)strlen(w->sn.id_str), w->sn.id_str);
	}
	if (img) {
		qcow2_close(img);
		kfree(img);
	}
}

/**
 * qsnap_watch_due() - would qsnap_watch_check() read the image now?
 * @qs: the device
 *
 * Return: true if a check is due (it reads the image: it may wait).
 */
bool qsnap_watch_due(struct qsnap_device *qs)
{
	struct qsnap_watch *w = &qs->watch;

	return w->watched && !READ_ONCE(w->gone) &&
	       !time_before(jiffies, READ_ONCE(w->next));
}

/**
 * qsnap_watch_kick() - make a check due before the next read (at open)
 * @qs: the device
 *
 * Cheap, and reads nothing: called in the opener's context.
 */
void qsnap_watch_kick(struct qsnap_device *qs)
{
	struct qsnap_watch *w = &qs->watch;

	if (!w->watched)
		return;
	WRITE_ONCE(w->kicked, true);
	smp_mb();	/* pairs with qsnap_watch_check(): no kick is lost */
	WRITE_ONCE(w->next, jiffies);
}

/**
 * qsnap_watch_check() - fail reads once the snapshot is gone
 * @qs: the device
 *
 * Called before a request is served, from the device's workers.  Reads
 * the snapshot table when a check is due, and waits for one that another
 * worker is running.
 *
 * Return: 0 to serve reads, -EIO if the snapshot has gone.
 */
int qsnap_watch_check(struct qsnap_device *qs)
{
	struct qsnap_watch *w = &qs->watch;
	int ret;

	if (!w->watched)
		return 0;
	if (READ_ONCE(w->gone))
		return -EIO;
	if (!qsnap_watch_due(qs))
		return 0;
	mutex_lock(&w->lock);
	if (qsnap_watch_due(qs)) {
		WRITE_ONCE(w->kicked, false);
		qsnap_watch_recheck(qs);
		WRITE_ONCE(w->next,
			   jiffies + msecs_to_jiffies(qs->set.recheck_ms));
		smp_mb();	/* pairs with qsnap_watch_kick() */
		if (READ_ONCE(w->kicked))
			WRITE_ONCE(w->next, jiffies);
	}
	ret = READ_ONCE(w->gone) ? -EIO : 0;
	mutex_unlock(&w->lock);
	return ret;
}

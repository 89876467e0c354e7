// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnap images: one object per image file that attached devices read,
 * shared between devices (see struct qsnap_image).
 *
 * Every attach parses its files afresh (the image may have changed since
 * another device attached it).  Only a layer read at a snapshot may take
 * an image in use, and only one that was set up for snapshots too, when
 * the fresh parse says exactly what the one in use says - same file, same
 * data file, same header and the same snapshot table entry by entry, each
 * entry whole (qcow2_snapshot_same()).  Then the fresh one is dropped.
 *
 * Why that is sound: the shared caches are keyed by host offset and hold
 * only what was read through the L1 tables of snapshots of the image, and
 * QEMU never rewrites or frees a snapshot's tables or clusters while the
 * snapshot exists.  Every snapshot whose tables filled the caches is in
 * the fresh parse, entry for entry (a deleted snapshot, or one deleted and
 * created again, does not match: QEMU stamps each new one with its
 * creation time), so it existed all along and what was cached is still
 * what the file holds.  The current state is not like that: QEMU rewrites
 * its L2 tables in place and reuses its freed clusters without changing the
 * header or the snapshot table, so a layer read at its current state (the
 * current state attached, every backing file, raw files) gets an image of
 * its own, filled from the file as it is at this attach.
 */
#include <linux/blkdev.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "qsnap.h"
#include "qsnap_compat.h"

/* Every image set up for reading (also those not shared: debugfs). */
static LIST_HEAD(qsnap_images);
static DEFINE_MUTEX(qsnap_images_mutex);

/**
 * qsnap_image_alloc() - a new, empty image with one reference
 *
 * Return: the image, or NULL.
 */
struct qsnap_image *qsnap_image_alloc(void)
{
	struct qsnap_image *im = kzalloc(sizeof(*im), GFP_KERNEL);

	if (!im)
		return NULL;
	INIT_LIST_HEAD(&im->node);
	kref_init(&im->ref);
	mutex_init(&im->map_lock);
	mutex_init(&im->zcache_lock);
	return im;
}

/*
 * What O_DIRECT reads of @file need, for file offsets and lengths and for
 * memory: a block device's logical block size and DMA alignment; nothing
 * on NFS, whose direct reads take any offset, length and buffer
 * (fs/nfs/direct.c), so a sector; on a local disk's file system, what it
 * says.  Return: false where direct reads are not known to work (no
 * block device under the file system, or it says none).
 */
static bool qsnap_image_dio_align(struct file *file, unsigned int *offset_align,
				  unsigned int *mem_align)
{
	struct inode *inode = file_inode(file);
	struct block_device *bdev;

	if (S_ISBLK(inode->i_mode)) {
		bdev = I_BDEV(file->f_mapping->host);
		*offset_align = bdev_logical_block_size(bdev);
		*mem_align = bdev_dma_alignment(bdev) + 1;
		return true;
	}
	if (inode->i_sb->s_magic == NFS_SUPER_MAGIC) {
		*offset_align = SECTOR_SIZE;
		*mem_align = SECTOR_SIZE;
		return true;
	}
	if (!inode->i_sb->s_bdev)
		return false;
	return qsnap_compat_dio_align(file, offset_align, mem_align);
}

/*
 * A second open of the file that data clusters are read from, with
 * O_DIRECT and the credentials of whoever opened the first: a request
 * then reads straight from the disk (the block device, the NFS server)
 * into its own pages, as loop does with direct I/O.  Metadata and
 * compressed clusters still go through the page cache.  Left NULL where
 * the file system cannot do it, and data is read buffered.
 */
static void qsnap_image_open_direct(struct qsnap_image *im)
{
	struct file *file = im->data_file ?: im->file;
	struct file *direct;

	if (!im->set.direct_io)
		return;
	direct = dentry_open(&file->f_path, O_RDONLY | O_LARGEFILE | O_DIRECT,
			     file->f_cred);
	if (IS_ERR(direct))
		return;
	if (!qsnap_image_dio_align(direct, &im->direct_align,
				   &im->direct_mem_align)) {
		fput(direct);
		return;
	}
	im->direct = direct;
}

/**
 * qsnap_image_setup() - prepare a parsed image for reading
 * @im: an image whose files are open, whose metadata is validated and
 *	whose settings (direct I/O, L2 cache size) are set
 *
 * Return: 0 or -ENOMEM.
 */
int qsnap_image_setup(struct qsnap_image *im)
{
	qsnap_image_open_direct(im);
	if (im->format != QSNAP_FORMAT_QCOW2)
		return 0;
	return qsnap_l2c_init(&im->l2, im->qcow2.cluster_size,
			      im->set.l2_cache_kb);
}

/* Called with qsnap_images_mutex held, which it drops. */
static void qsnap_image_release(struct kref *ref)
{
	struct qsnap_image *im = container_of(ref, struct qsnap_image, ref);

	list_del(&im->node);
	mutex_unlock(&qsnap_images_mutex);

	qsnap_compress_exit(im);
	qsnap_crypt_exit(im);
	qsnap_l2c_exit(&im->l2);
	qcow2_close(&im->qcow2);
	if (im->direct)
		fput(im->direct);
	if (im->data_file)
		fput(im->data_file);
	if (im->file)
		fput(im->file);
	kfree(im->path);
	kfree(im->log_path);
	kfree(im);
}

/**
 * qsnap_image_put() - drop a reference; the last one frees the image
 * @im: the image, or NULL
 */
void qsnap_image_put(struct qsnap_image *im)
{
	if (im)
		kref_put_mutex(&im->ref, qsnap_image_release,
			       &qsnap_images_mutex);
}

static bool qsnap_same_file(struct file *a, struct file *b)
{
	if (!a || !b)
		return a == b;
	return file_inode(a) == file_inode(b);
}

/* Does @b's parse say exactly what @a's says? */
static bool qsnap_image_same(const struct qsnap_image *a,
			     const struct qsnap_image *b)
{
	const struct qcow2_image *x = &a->qcow2, *y = &b->qcow2;
	u32 i;

	if (!a->shareable ||
	    a->set.direct_io != b->set.direct_io ||
	    a->set.l2_cache_kb != b->set.l2_cache_kb ||
	    !qsnap_same_file(a->file, b->file) ||
	    !qsnap_same_file(a->data_file, b->data_file) ||
	    a->format != b->format ||
	    a->raw_has_qcow2_magic != b->raw_has_qcow2_magic)
		return false;
	if (a->format != QSNAP_FORMAT_QCOW2)
		return true;
	if (x->version != y->version || x->cluster_bits != y->cluster_bits ||
	    x->size != y->size || x->l1_table_offset != y->l1_table_offset ||
	    x->l1_size != y->l1_size || x->extended_l2 != y->extended_l2 ||
	    x->compression_type != y->compression_type ||
	    x->incompatible_features != y->incompatible_features ||
	    x->has_data_file != y->has_data_file ||
	    x->data_file_size != y->data_file_size ||
	    x->nb_snapshots != y->nb_snapshots ||
	    x->snapshots_offset != y->snapshots_offset ||
	    strcmp(x->backing_file, y->backing_file) ||
	    strcmp(x->backing_format, y->backing_format) ||
	    strcmp(x->data_file, y->data_file))
		return false;
	/* A table rewritten into freed clusters may land where it was. */
	for (i = 0; i < x->nb_snapshots; i++)
		if (!qcow2_snapshot_same(&x->snapshots[i], &y->snapshots[i]))
			return false;
	return true;
}

/**
 * qsnap_image_find() - an image in use that is the same as a fresh parse
 * @fresh: an image just parsed and validated, not yet set up, for a layer
 *	   read at a snapshot (see the top of this file)
 *
 * Return: the image in use, with a new reference, or NULL if there is
 * none.
 */
struct qsnap_image *qsnap_image_find(const struct qsnap_image *fresh)
{
	struct qsnap_image *im, *found = NULL;

	mutex_lock(&qsnap_images_mutex);
	list_for_each_entry(im, &qsnap_images, node) {
		if (qsnap_image_same(im, fresh) &&
		    kref_get_unless_zero(&im->ref)) {
			found = im;
			break;
		}
	}
	mutex_unlock(&qsnap_images_mutex);
	return found;
}

/**
 * qsnap_image_publish() - list a set-up image (debugfs), and let later
 *	attaches of snapshots find it
 * @im: the image
 * @shareable: its caches are filled through snapshots' tables only
 */
void qsnap_image_publish(struct qsnap_image *im, bool shareable)
{
	im->shareable = shareable;
	mutex_lock(&qsnap_images_mutex);
	list_add_tail(&im->node, &qsnap_images);
	mutex_unlock(&qsnap_images_mutex);
}

/* What an image holds in memory, roughly but in full. */
static size_t qsnap_image_bytes(struct qsnap_image *im)
{
	size_t bytes = sizeof(*im) + 2 * (strlen(im->path) + 1);
	u32 i;

	bytes += (size_t)im->qcow2.nb_snapshots * sizeof(*im->qcow2.snapshots);
	for (i = 0; i < im->qcow2.nb_snapshots; i++)
		bytes += strlen(im->qcow2.snapshots[i].id_str) + 1 +
			 strlen(im->qcow2.snapshots[i].name) + 1;
	mutex_lock(&im->map_lock);
	bytes += (size_t)im->l2.nr * im->l2.table_size +
		 (sizeof(struct hlist_head) << im->l2.hash_bits);
	mutex_unlock(&im->map_lock);
	mutex_lock(&im->zcache_lock);
	bytes += qsnap_compress_bytes(im);
	mutex_unlock(&im->zcache_lock);
	return bytes;
}

/**
 * qsnap_images_memory() - what the images set up for reading hold
 * @images: out: how many there are
 * @bytes: out: their bytes (header, snapshot table, caches)
 */
void qsnap_images_memory(unsigned int *images, size_t *bytes)
{
	struct qsnap_image *im;

	*images = 0;
	*bytes = 0;
	mutex_lock(&qsnap_images_mutex);
	list_for_each_entry(im, &qsnap_images, node) {
		(*images)++;
		*bytes += qsnap_image_bytes(im);
	}
	mutex_unlock(&qsnap_images_mutex);
}

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Every difference between the kernel APIs qsnap builds for (6.1, the
 * Debian 12 kernel, through 6.12 and later) lives here and nowhere else.
 * The QSNAP_HAVE_* macros come from the header probes in Kbuild; each shim
 * names the upstream change it covers, so it can go once the oldest
 * supported kernel has the new API.
 */
#ifndef QSNAP_COMPAT_H
#define QSNAP_COMPAT_H

#include <linux/blkdev.h>
#include <linux/blk-mq.h>

/*
 * v6.9 ("block: pass a queue_limits argument to blk_mq_alloc_disk") moved
 * queue limits into the allocation; before it they were set one by one on
 * the new queue.  Until v6.11 ("block: move the nonrot flag to
 * queue_limits") a queue was rotational unless told otherwise.
 *
 * qsnap maps no request for DMA itself: its pages reach the file below
 * through iov_iters, and the layers below split them to their own
 * limits.  So segments need no limits here (as for stacking drivers), and
 * a large direct read is one request, not one per 128 pages.
 */
static inline struct gendisk *
qsnap_compat_alloc_disk(struct blk_mq_tag_set *set, void *queuedata,
			unsigned int max_hw_sectors)
{
	struct gendisk *disk;
#ifdef QSNAP_HAVE_ALLOC_DISK_LIMITS
	struct queue_limits lim = {
		.logical_block_size	= SECTOR_SIZE,
		.max_hw_sectors		= max_hw_sectors,
		.max_segments		= USHRT_MAX,
		.max_segment_size	= UINT_MAX,
	};

	disk = blk_mq_alloc_disk(set, &lim, queuedata);
#else
	disk = blk_mq_alloc_disk(set, queuedata);
	if (!IS_ERR(disk)) {
		blk_queue_logical_block_size(disk->queue, SECTOR_SIZE);
		blk_queue_max_hw_sectors(disk->queue, max_hw_sectors);
		blk_queue_max_segments(disk->queue, USHRT_MAX);
		blk_queue_max_segment_size(disk->queue, UINT_MAX);
	}
#endif
#ifndef QSNAP_HAVE_BLK_FEAT
	if (!IS_ERR(disk))
		blk_queue_flag_set(QUEUE_FLAG_NONROT, disk->queue);
#endif
	return disk;
}

/*
 * v6.14 removed BLK_MQ_F_SHOULD_MERGE: merging became the default.
 * Before it, a driver that did not ask got no bio merging at all.
 */
#ifdef QSNAP_HAVE_SHOULD_MERGE
#define QSNAP_MQ_F_MERGE	BLK_MQ_F_SHOULD_MERGE
#else
#define QSNAP_MQ_F_MERGE	0
#endif

/*
 * v6.5 ("block: pass a gendisk to ->open" and "block: replace fmode_t with
 * a block-specific type for block open flags") changed ->open to take the
 * gendisk and a blk_mode_t.  qsnap_open() is the version-independent
 * implementation, in qsnap_main.c.
 */
static int qsnap_open(struct gendisk *disk, bool write);

#ifdef QSNAP_HAVE_OPEN_GENDISK
static int qsnap_bdev_open(struct gendisk *disk, blk_mode_t mode)
{
	return qsnap_open(disk, mode & BLK_OPEN_WRITE);
}
#else
static int qsnap_bdev_open(struct block_device *bdev, fmode_t mode)
{
	return qsnap_open(bdev->bd_disk, mode & FMODE_WRITE);
}
#endif

#endif /* QSNAP_COMPAT_H */

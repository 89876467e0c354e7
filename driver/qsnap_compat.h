/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Every difference between the kernel versions qsnap builds for (6.1, the
 * Debian 12 kernel, through 6.12 and later) lives here and nowhere else.
 * Each shim says which change it covers, so it can go once the oldest
 * supported kernel has the new API.
 */
#ifndef QSNAP_COMPAT_H
#define QSNAP_COMPAT_H

#include <linux/version.h>
#include <linux/blkdev.h>
#include <linux/blk-mq.h>

/*
 * v6.9 ("block: pass a queue_limits argument to blk_mq_alloc_disk")
 * moved queue limits into the allocation; before it
 * they were set one by one on the new queue, and a queue was rotational
 * unless told otherwise (v6.11 made non-rotational the default).
 */
static inline struct gendisk *
qsnap_compat_alloc_disk(struct blk_mq_tag_set *set, void *queuedata,
			unsigned int max_hw_sectors)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	struct queue_limits lim = {
		.logical_block_size	= SECTOR_SIZE,
		.max_hw_sectors		= max_hw_sectors,
	};

	return blk_mq_alloc_disk(set, &lim, queuedata);
#else
	struct gendisk *disk = blk_mq_alloc_disk(set, queuedata);

	if (IS_ERR(disk))
		return disk;
	blk_queue_logical_block_size(disk->queue, SECTOR_SIZE);
	blk_queue_max_hw_sectors(disk->queue, max_hw_sectors);
	blk_queue_flag_set(QUEUE_FLAG_NONROT, disk->queue);
	return disk;
#endif
}

/*
 * v6.14 removed BLK_MQ_F_SHOULD_MERGE (merging became the default).
 * Before it, a driver that did not ask got no bio merging at all.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 14, 0)
#define QSNAP_MQ_F_MERGE	0
#else
#define QSNAP_MQ_F_MERGE	BLK_MQ_F_SHOULD_MERGE
#endif

/*
 * v6.5 ("block: pass a gendisk to ->open" and "block: replace fmode_t
 * with a block-specific type for block open flags") changed ->open to take
 * the gendisk and a blk_mode_t.
 * QSNAP_DEFINE_BDEV_OPEN(name, fn) defines @name with the signature the
 * kernel wants, calling int fn(struct gendisk *disk, bool write).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#define QSNAP_DEFINE_BDEV_OPEN(name, fn)				\
static int name(struct gendisk *disk, blk_mode_t mode)		\
{									\
	return fn(disk, mode & BLK_OPEN_WRITE);				\
}
#else
#define QSNAP_DEFINE_BDEV_OPEN(name, fn)				\
static int name(struct block_device *bdev, fmode_t mode)		\
{									\
	return fn(bdev->bd_disk, mode & FMODE_WRITE);			\
}
#endif

#endif /* QSNAP_COMPAT_H */

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
 * v6.9 ("block: pass a queue_limits argument to blk_mq_alloc_disk") and
 * v6.11 ("block: move the nonrot flag to queue_limits"): qsnap_compat.c.
 */
struct gendisk *qsnap_compat_alloc_disk(struct blk_mq_tag_set *set,
					void *queuedata,
					unsigned int max_hw_sectors);

/*
 * v6.14 removed BLK_MQ_F_SHOULD_MERGE: merging became the default.
 * Before it, a driver that did not ask got no bio merging at all.
 */
#ifdef QSNAP_HAVE_SHOULD_MERGE
#define QSNAP_MQ_F_MERGE	BLK_MQ_F_SHOULD_MERGE
#else
#define QSNAP_MQ_F_MERGE	0
#endif

/* v6.1: STATX_DIOALIGN (qsnap_compat.c) */
bool qsnap_compat_dio_align(struct file *file, unsigned int *offset_align,
			    unsigned int *mem_align);

/*
 * v6.5 ("block: pass a gendisk to ->open"): ->open takes the gendisk and
 * a blk_mode_t.  QSNAP_DEFINE_BDEV_OPEN(fn) defines fn##_bdev(), the
 * block_device_operations entry for either signature, calling the
 * version-independent int fn(struct gendisk *disk, bool write, bool
 * exclusive).
 */
#ifdef QSNAP_HAVE_OPEN_GENDISK
#define QSNAP_DEFINE_BDEV_OPEN(fn)					\
static int fn##_bdev(struct gendisk *disk, blk_mode_t mode)		\
{									\
	return fn(disk, mode & BLK_OPEN_WRITE, mode & BLK_OPEN_EXCL);	\
}
#else
#define QSNAP_DEFINE_BDEV_OPEN(fn)					\
static int fn##_bdev(struct block_device *bdev, fmode_t mode)		\
{									\
	return fn(bdev->bd_disk, mode & FMODE_WRITE, mode & FMODE_EXCL); \
}
#endif

/*
 * v6.5 ("block: remove the unused mode argument to ->release"):
 * QSNAP_DEFINE_BDEV_RELEASE(fn) defines fn##_bdev() for either signature,
 * calling void fn(struct gendisk *disk).
 */
#ifdef QSNAP_HAVE_RELEASE_GENDISK_ONLY
#define QSNAP_DEFINE_BDEV_RELEASE(fn)					\
static void fn##_bdev(struct gendisk *disk)				\
{									\
	fn(disk);							\
}
#else
#define QSNAP_DEFINE_BDEV_RELEASE(fn)					\
static void fn##_bdev(struct gendisk *disk, fmode_t mode)		\
{									\
	fn(disk);							\
}
#endif

#endif /* QSNAP_COMPAT_H */

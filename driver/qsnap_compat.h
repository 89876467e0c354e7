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
 * v6.5 changed ->open (qsnap_compat.c): qsnap_bdev_open() is the
 * block_device_operations entry, qsnap_open() (qsnap_main.c) the
 * version-independent implementation.
 */
#ifdef QSNAP_HAVE_OPEN_GENDISK
int qsnap_bdev_open(struct gendisk *disk, blk_mode_t mode);
#else
int qsnap_bdev_open(struct block_device *bdev, fmode_t mode);
#endif

#endif /* QSNAP_COMPAT_H */

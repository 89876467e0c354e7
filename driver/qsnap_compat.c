// SPDX-License-Identifier: GPL-2.0-only
/*
 * The code behind qsnap_compat.h: one implementation for each kernel API
 * the QSNAP_HAVE_* probes (Kbuild) tell apart.
 */
#include <linux/blkdev.h>
#include <linux/blk-mq.h>
#include <linux/fs.h>
#include <linux/stat.h>

#include "qsnap.h"
#include "qsnap_compat.h"

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
struct gendisk *qsnap_compat_alloc_disk(struct blk_mq_tag_set *set,
					void *queuedata,
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
 * v6.1 ("statx: add direct I/O alignment information"): the file system
 * says what O_DIRECT on a file needs (ext4, xfs, f2fs, btrfs, ...), for
 * file offsets and lengths and for memory.  Without it, or where the file
 * system says nothing, the disk's logical block size for both.  Return:
 * false if the file system says the file takes no O_DIRECT.
 */
bool qsnap_compat_dio_align(struct file *file, unsigned int *offset_align,
			    unsigned int *mem_align)
{
	struct block_device *bdev = file_inode(file)->i_sb->s_bdev;
#ifdef STATX_DIOALIGN
	struct kstat st;
#endif

	*offset_align = bdev_logical_block_size(bdev);
	*mem_align = *offset_align;
#ifdef STATX_DIOALIGN
	if (vfs_getattr(&file->f_path, &st, STATX_DIOALIGN,
			AT_STATX_SYNC_AS_STAT) ||
	    !(st.result_mask & STATX_DIOALIGN))
		return true;
	if (!st.dio_offset_align || !st.dio_mem_align)
		return false;
	*offset_align = st.dio_offset_align;
	*mem_align = st.dio_mem_align;
#endif
	return true;
}

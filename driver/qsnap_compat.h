/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Every difference between the kernel APIs qsnap builds for (6.1, the
 * Debian 12 kernel, through 7.3) lives here and nowhere else.
 * The QSNAP_HAVE_* macros come from the header probes in Kbuild; each shim
 * names the upstream change it covers, so it can go once the oldest
 * supported kernel has the new API.
 */
#ifndef QSNAP_COMPAT_H
#define QSNAP_COMPAT_H

#include <linux/blkdev.h>
#include <linux/blk-mq.h>
#include <linux/mm.h>
#include <linux/uio.h>

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

/*
 * v6.18 removed iov_iter_is_aligned(): the block layer checks the
 * alignment of direct I/O itself while it splits bios, and fails a
 * misaligned one with -EINVAL.  Without the helper qsnap lets the file
 * check: qsnap_read_data_sync() answers -EINVAL from the O_DIRECT file
 * with a buffered read of the same range.
 */
#ifdef QSNAP_HAVE_IOV_ITER_IS_ALIGNED
static inline bool qsnap_iter_dio_aligned(const struct iov_iter *iter,
					  unsigned int addr_mask,
					  unsigned int len_mask)
{
	return iov_iter_is_aligned(iter, addr_mask, len_mask);
}
#else
static inline bool qsnap_iter_dio_aligned(const struct iov_iter *iter,
					  unsigned int addr_mask,
					  unsigned int len_mask)
{
	return true;
}
#endif

/*
 * v6.18 removed nth_page(): the pages of one bio_vec are contiguous in
 * the memory map on every configuration, so page + n is the n-th page.
 * Before it, SPARSEMEM without VMEMMAP needed the pfn.
 */
#ifdef QSNAP_HAVE_NTH_PAGE
#define qsnap_nth_page(page, n)	nth_page(page, n)
#else
#define qsnap_nth_page(page, n)	((page) + (n))
#endif

/*
 * v7.2: blk_mq_ops->init_request() takes the NUMA node as an int
 * (NUMA_NO_NODE is -1).  QSNAP_DEFINE_INIT_REQUEST(fn) defines fn##_mq(),
 * the blk_mq_ops entry for either signature, calling the
 * version-independent int fn(struct request *rq).
 */
#ifdef QSNAP_HAVE_INIT_REQUEST_INT_NODE
#define QSNAP_DEFINE_INIT_REQUEST(fn)					\
static int fn##_mq(struct blk_mq_tag_set *set, struct request *rq,	\
		   unsigned int hctx_idx, int numa_node)		\
{									\
	return fn(rq);							\
}
#else
#define QSNAP_DEFINE_INIT_REQUEST(fn)					\
static int fn##_mq(struct blk_mq_tag_set *set, struct request *rq,	\
		   unsigned int hctx_idx, unsigned int numa_node)	\
{									\
	return fn(rq);							\
}
#endif

/*
 * v7.3: struct bvec_iter's bi_bvec_done ("bytes done in the current
 * bio_vec") is called bi_offset.
 */
#ifdef QSNAP_HAVE_BVEC_ITER_OFFSET
#define qsnap_bvec_iter_done(iter)	((iter).bi_offset)
#else
#define qsnap_bvec_iter_done(iter)	((iter).bi_bvec_done)
#endif

#endif /* QSNAP_COMPAT_H */

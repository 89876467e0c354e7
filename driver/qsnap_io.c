// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnap request path: map each guest range through the L1/L2 tables of the
 * image and, where it has no data, of its backing files, and read the files
 * straight into the request's pages.
 *
 * Requests are mapped by the device's worker, because reading metadata
 * goes through the VFS and may sleep.  Each bio of a request is walked with
 * an iov_iter over its own bio_vecs: a run of guest sectors that maps to
 * one contiguous host range becomes one read into those pages - with
 * O_DIRECT by default (disk to request pages, no page cache) and then
 * asynchronously (qsnap_aio.c), else with vfs_iter_read() - and a zero or
 * unallocated run is zero-filled, so no bounce buffer is needed.
 */
#define pr_fmt(fmt) "qsnap: " fmt

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/moduleparam.h>
#include <linux/sched/mm.h>
#include <linux/uio.h>

#include "qsnap.h"

/* qcow2_io.pread: read exactly @len bytes, or fail. */
int qsnap_file_pread(void *opaque, void *buf, size_t len, u64 off)
{
	struct file *file = opaque;
	loff_t pos = off;
	ssize_t n;

	while (len) {
		n = kernel_read(file, buf, len, &pos);
		if (n < 0)
			return n;
		if (!n)
			return -EIO;	/* the file shrank under us */
		buf += n;
		len -= n;
	}
	return 0;
}

/**
 * qsnap_io_err() - log an error found while serving a request
 * @qs: the device
 * @layer: the image it concerns
 * @fmt: printf format of the message
 *
 * Corrupt metadata or data and read errors: one line naming the device and
 * the image, rate-limited per device, so that one damaged image cannot
 * silence the messages of another.
 */
void qsnap_io_err(struct qsnap_device *qs, const struct qsnap_layer *layer,
		  const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	if (!__ratelimit(&qs->io_ratelimit))
		return;
	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	pr_err("%s: %s: %pV", qs->disk->disk_name, layer->im->path, &vaf);
	va_end(args);
}

/*
 * Set up a layer's image (or take one in use that is the same, and drop
 * its own), then load the layer's L1 table.
 */
static int qsnap_layer_init(struct qsnap_layer *layer)
{
	size_t l1_bytes = (size_t)layer->view.l1_used * sizeof(__be64);
	struct qsnap_image *im = layer->im, *shared;
	int ret;

	shared = qsnap_image_find(im);
	if (!shared) {
		ret = qsnap_image_setup(im);
		if (ret)
			return ret;
		qsnap_image_publish(im);
	} else {
		/* Same table entry by entry: the same index in the shared one. */
		if (layer->view.snapshot) {
			ptrdiff_t sn = layer->view.snapshot - im->img.snapshots;

			layer->view.snapshot = &shared->img.snapshots[sn];
		}
		layer->im = shared;
		qsnap_image_put(im);
		im = shared;
	}
	if (im->format != QSNAP_FORMAT_QCOW2 || !l1_bytes)
		return 0;
	layer->l1 = kvmalloc(l1_bytes, GFP_KERNEL);
	if (!layer->l1)
		return -ENOMEM;
	ret = qsnap_file_pread(im->file, layer->l1, l1_bytes,
			       layer->view.l1_table_offset);
	if (ret)
		pr_err("%s: cannot read the L1 table (error %d)\n", im->path,
		       ret);
	return ret;
}

static void qsnap_layer_exit(struct qsnap_layer *layer)
{
	kvfree(layer->l1);
	layer->l1 = NULL;
}

/**
 * qsnap_io_init() - load the L1 tables and set up the caches of every layer
 * @qs: a device whose layers are opened and validated
 *
 * Return: 0 or -errno (a failed L1 read is logged).
 */
int qsnap_io_init(struct qsnap_device *qs)
{
	unsigned int i;
	int ret;

	ratelimit_state_init(&qs->io_ratelimit, DEFAULT_RATELIMIT_INTERVAL,
			     DEFAULT_RATELIMIT_BURST);
	ret = qsnap_watch_init(qs);
	if (ret)
		return ret;
	for (i = 0; i < qs->nr_layers; i++) {
		ret = qsnap_layer_init(&qs->layers[i]);
		if (ret)
			return ret;
	}
	return 0;
}

/**
 * qsnap_io_exit() - free what qsnap_io_init() allocated (also after a
 * partial failure)
 * @qs: the device
 */
void qsnap_io_exit(struct qsnap_device *qs)
{
	unsigned int i;

	for (i = 0; i < qs->nr_layers; i++)
		qsnap_layer_exit(&qs->layers[i]);
	qsnap_watch_exit(qs);
}

/*
 * Map the guest range [@pos, @pos + @len) of a qcow2 layer as far as it
 * maps one way: a run of zeros, of unallocated clusters, of data
 * contiguous in the file, or one compressed cluster, within one L2 table.
 * map_lock held.
 */
static int qsnap_map_locked(struct qsnap_layer *layer, u64 pos, u64 len,
			    struct qcow2_mapping *ext)
{
	struct qcow2_image *img = &layer->im->img;
	u64 l2_span = 1ULL << (img->cluster_bits + qcow2_l2_bits(img));
	u64 l1_index = qcow2_offset_to_l1_index(img, pos);
	u32 l2_index = qcow2_offset_to_l2_index(img, pos);
	struct qcow2_mapping next;
	u64 avail, l2_offset, next_pos;
	__be64 *l2;
	int ret;

	memset(ext, 0, sizeof(*ext));
	ext->type = QCOW2_MAP_UNALLOCATED;
	if (l1_index >= layer->view.l1_used) {
		/* Past the L1 table: nothing allocated to the end. */
		ext->len = len;
		return 0;
	}
	avail = min(len, l2_span - (pos & (l2_span - 1)));

	ret = qcow2_decode_l1_entry(img, be64_to_cpu(layer->l1[l1_index]),
				    l1_index, &l2_offset);
	if (ret)
		return ret;
	if (!l2_offset) {
		ext->len = avail;
		return 0;
	}
	l2 = qsnap_l2c_get(&layer->im->l2, layer->im->file, l2_offset);
	if (IS_ERR(l2)) {
		qcow2_error(img, -PTR_ERR(l2), "cannot read L2 table at %#llx",
			    l2_offset);
		return PTR_ERR(l2);
	}

	ret = qcow2_map_l2_entry(img, l2, l2_index, pos, ext);
	if (ret)
		return ret;
	ext->len = min(ext->len, avail);
	if (ext->type == QCOW2_MAP_COMPRESSED)
		return 0;

	/*
	 * Extend the run over following clusters that map the same way, as
	 * long as each piece reached the end of its cluster.
	 */
	for (;;) {
		next_pos = pos + ext->len;
		if (ext->len >= avail ||
		    qcow2_offset_into_cluster(img, next_pos))
			break;
		if (qcow2_map_l2_entry(img, l2, ++l2_index, next_pos, &next))
			break;	/* reported when that cluster is read */
		if (next.type != ext->type ||
		    (next.type == QCOW2_MAP_DATA &&
		     next.host_offset != ext->host_offset + ext->len))
			break;
		ext->len += min(avail - ext->len, next.len);
	}
	return 0;
}

static int qsnap_map(struct qsnap_device *qs, struct qsnap_layer *layer,
		     u64 pos, u64 len, struct qcow2_mapping *ext)
{
	int ret;

	mutex_lock(&layer->im->map_lock);
	ret = qsnap_map_locked(layer, pos, len, ext);
	if (ret && ret != -ENOMEM)
		qsnap_io_err(qs, layer, "%s\n", layer->im->img.err);
	mutex_unlock(&layer->im->map_lock);
	return ret;
}

/*
 * O_DIRECT where the layer has it and the range and pages are aligned for
 * it; otherwise through the page cache.
 */
static struct file *qsnap_data_file(const struct qsnap_image *im,
				    const struct iov_iter *iter, u64 pos,
				    u64 len)
{
	struct iov_iter sub = *iter;

	iov_iter_truncate(&sub, len);
	if (im->direct &&
	    !((pos | len | iov_iter_alignment(&sub)) &
	      (im->direct_align - 1)))
		return im->direct;
	return im->data_file ?: im->file;
}

/**
 * qsnap_read_data_sync() - read data of a layer synchronously
 * @qs: the device
 * @layer: the layer
 * @iter: where the bytes go; advanced by @len
 * @pos: offset in the layer's data (its data file or the image itself)
 * @len: bytes to read
 *
 * Zeros past the end of the file, as QEMU reads them.
 *
 * Return: 0 or -errno (logged).
 */
int qsnap_read_data_sync(struct qsnap_device *qs, struct qsnap_layer *layer,
			 struct iov_iter *iter, u64 pos, u64 len)
{
	struct qsnap_image *im = layer->im;
	struct file *buffered = im->data_file ?: im->file;
	struct file *file = qsnap_data_file(im, iter, pos, len);
	struct iov_iter sub = *iter;
	loff_t fpos = pos;
	ssize_t n;

	iov_iter_truncate(&sub, len);
	while (iov_iter_count(&sub)) {
		n = vfs_iter_read(file, &sub, &fpos, 0);
		if (n == -EINVAL && file != buffered) {
			/* The file system wants more alignment: read buffered. */
			file = buffered;
			sub = *iter;
			iov_iter_truncate(&sub, len);
			fpos = pos;
			continue;
		}
		if (n < 0) {
			qsnap_io_err(qs, layer, "read error %zd at offset %llu%s\n",
				     n, pos, im->data_file ?
				     " of the data file" : "");
			return n;
		}
		if (!n) {
			/* A data cluster may end past EOF; QEMU reads zeros. */
			iov_iter_zero(iov_iter_count(&sub), &sub);
			break;
		}
	}
	iov_iter_advance(iter, len);
	return 0;
}

/*
 * Read @len bytes of a layer's data at @pos into @iter: asynchronously
 * where the read can be direct and the request has a free slot.
 */
static int qsnap_read_data(struct qsnap_device *qs, struct qsnap_cmd *cmd,
			   struct qsnap_layer *layer, struct iov_iter *iter,
			   u64 pos, u64 len)
{
	struct file *file;

	if (!len)
		return 0;
	file = qsnap_data_file(layer->im, iter, pos, len);
	if (file == layer->im->direct &&
	    qsnap_aio_read(cmd, layer, file, iter, pos, len)) {
		iov_iter_advance(iter, len);
		return 0;
	}
	return qsnap_read_data_sync(qs, layer, iter, pos, len);
}

static int qsnap_zero(struct iov_iter *iter, u64 len)
{
	return iov_iter_zero(len, iter) == len ? 0 : -EIO;
}

/*
 * Read guest bytes [@pos, @pos + @len) as layer @li shows them into @iter.
 * What the layer does not allocate comes from the layer below (at the same
 * guest offset), or is zeros below the last layer and past a layer's size.
 * Recursion is bounded by the chain length (QSNAP_MAX_BACKING + 1).
 */
static int qsnap_read_layer(struct qsnap_device *qs, struct qsnap_cmd *cmd,
			    unsigned int li, struct iov_iter *iter, u64 pos,
			    u64 len)
{
	struct qsnap_layer *layer = &qs->layers[li];
	struct qcow2_mapping ext;
	u64 avail, tail;
	int ret;

	avail = pos < layer->size ? min(len, layer->size - pos) : 0;
	tail = len - avail;

	if (layer->im->format == QSNAP_FORMAT_RAW) {
		ret = qsnap_read_data(qs, cmd, layer, iter, pos, avail);
		if (ret)
			return ret;
		avail = 0;
	}
	while (avail) {
		ret = qsnap_map(qs, layer, pos, avail, &ext);
		if (ret)
			return ret;
		switch (ext.type) {
		case QCOW2_MAP_UNALLOCATED:
			if (li + 1 < qs->nr_layers)
				ret = qsnap_read_layer(qs, cmd, li + 1, iter,
						       pos, ext.len);
			else
				ret = qsnap_zero(iter, ext.len);
			break;
		case QCOW2_MAP_ZERO:
			ret = qsnap_zero(iter, ext.len);
			break;
		case QCOW2_MAP_DATA:
			ret = qsnap_read_data(qs, cmd, layer, iter,
					      ext.host_offset, ext.len);
			break;
		case QCOW2_MAP_COMPRESSED:
			ret = qsnap_read_compressed(qs, layer, iter, pos, &ext);
			break;
		}
		if (ret)
			return ret;
		pos += ext.len;
		avail -= ext.len;
	}
	return tail ? qsnap_zero(iter, tail) : 0;
}

static int qsnap_read_bio(struct qsnap_device *qs, struct qsnap_cmd *cmd,
			  struct bio *bio)
{
	u64 pos = (u64)bio->bi_iter.bi_sector << SECTOR_SHIFT;
	u64 len = bio->bi_iter.bi_size;
	struct bvec_iter bi;
	struct bio_vec bv;
	struct iov_iter iter;
	unsigned int nr = 0;

	/* As loop does: an iov_iter over the bio's own bio_vecs. */
	bio_for_each_bvec(bv, bio, bi)
		nr++;
	iov_iter_bvec(&iter, ITER_DEST,
		      __bvec_iter_bvec(bio->bi_io_vec, bio->bi_iter), nr, len);
	iter.iov_offset = bio->bi_iter.bi_bvec_done;

	return qsnap_read_layer(qs, cmd, 0, &iter, pos, len);
}

static void qsnap_cmd_work(struct work_struct *work)
{
	struct qsnap_cmd *cmd = container_of(work, struct qsnap_cmd, work);
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct qsnap_device *qs = rq->q->queuedata;
	unsigned int noio;
	struct bio *bio;
	int ret;

	/* Reclaim must not recurse into block I/O from here (as in loop). */
	noio = memalloc_noio_save();
	switch (cmd->phase) {
	case QSNAP_CMD_WALK:
		ret = qsnap_watch_check(qs, false);
		__rq_for_each_bio(bio, rq) {
			if (ret)
				break;
			ret = qsnap_read_bio(qs, cmd, bio);
		}
		cmd->error = ret;
		memalloc_noio_restore(noio);
		qsnap_cmd_put(cmd);
		break;
	case QSNAP_CMD_RETRY:
		/* Every asynchronous read is back; some came back short. */
		cmd->retry = false;
		cmd->error = qsnap_aio_retry(qs, cmd);
		memalloc_noio_restore(noio);
		blk_mq_complete_request(rq);
		break;
	}
}

static blk_status_t qsnap_queue_rq(struct blk_mq_hw_ctx *hctx,
				   const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct qsnap_cmd *cmd = blk_mq_rq_to_pdu(rq);
	struct qsnap_device *qs = hctx->queue->queuedata;

	blk_mq_start_request(rq);
	/* A read-only device: the block layer lets writes through to us. */
	if (req_op(rq) != REQ_OP_READ)
		return BLK_STS_IOERR;
	atomic_set(&cmd->ref, 1);
	cmd->phase = QSNAP_CMD_WALK;
	cmd->error = 0;
	cmd->retry = false;
	cmd->nr_aio = 0;
	queue_work(qs->wq, &cmd->work);
	return BLK_STS_OK;
}

static void qsnap_complete_rq(struct request *rq)
{
	struct qsnap_cmd *cmd = blk_mq_rq_to_pdu(rq);

	blk_mq_end_request(rq, errno_to_blk_status(cmd->error));
}

static int qsnap_init_request(struct blk_mq_tag_set *set, struct request *rq,
			      unsigned int hctx_idx, unsigned int numa_node)
{
	struct qsnap_cmd *cmd = blk_mq_rq_to_pdu(rq);

	INIT_WORK(&cmd->work, qsnap_cmd_work);
	return 0;
}

const struct blk_mq_ops qsnap_mq_ops = {
	.queue_rq	= qsnap_queue_rq,
	.complete	= qsnap_complete_rq,
	.init_request	= qsnap_init_request,
};

// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnap request path: map each guest range through the L1/L2 tables of the
 * image and, where it has no data, of its backing files, and read the files
 * straight into the request's pages.
 *
 * Requests are served by workers, because reading the image goes through
 * the VFS and may sleep.  One worker per device walks the queued requests
 * as far as they go without waiting (qsnap_queue_work()); what needs an
 * L2 table read, decompression or a buffered read goes on in other work
 * items of the same workqueue.  Each bio of a request is walked with an
 * iov_iter over its own bio_vecs: a run of guest sectors that maps to one
 * contiguous host range becomes one read into those pages - with O_DIRECT
 * by default (disk to request pages, no page cache) and then
 * asynchronously (qsnap_aio.c), else with vfs_iter_read() - and a zero or
 * unallocated run is zero-filled, so no bounce buffer is needed.
 *
 * A request's life, and the function that moves it on (read top-down, as
 * loop.c's lo_rw_aio -> lo_rw_aio_do_completion -> lo_complete_rq):
 *
 *   queued   qsnap_queue_rq(): one reference, on @qs->queue
 *   walked   qsnap_queue_work(): qsnap_walk_request() without waiting, as far as
 *            cached tables, zeros and asynchronous reads go
 *     -> in flight   qsnap_aio_read(): a reference per read; each
 *                    completion drops one (qsnap_aio_complete())
 *     -> WALK        qsnap_hand_over(): the rest needs an L2 table read, a
 *                    buffered read or a snapshot check: qsnap_cmd_work()
 *     -> slices      qsnap_hand_over(): compressed clusters, up to
 *                    QSNAP_CMD_SLICES walks at once: qsnap_slice_work()
 *     -> RETRY       qsnap_cmd_done(): an asynchronous read came back
 *                    short; qsnap_cmd_work() redoes it synchronously
 *   done     qsnap_cmd_put() of the last reference ->
 *            blk_mq_complete_request() -> qsnap_complete_rq()
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/moduleparam.h>
#include <linux/sched/mm.h>
#include <linux/uio.h>

#include "qsnap.h"
#include "qsnap_compat.h"

/*
 * One walk over a request, or over a part of it: how it may read, and how
 * far it got.
 */
struct qsnap_walk {
	struct qsnap_cmd *cmd;
	u64 pos;		/* the next guest byte to read */
	u64 end;		/* and the one to stop before */
	bool nowait;		/* stop (-EAGAIN) at what would wait */
	bool aio;		/* data may be read asynchronously */
	bool compressed;	/* a nowait walk stopped at a compressed cluster */
};

/*
 * Map the guest range [@pos, @pos + @len) of a qcow2 layer as far as it
 * maps one way: a run of zeros, of unallocated clusters, of data
 * contiguous in the file, or one compressed cluster, within one L2 table.
 * map_lock held (dropped and retaken while an L2 table is read).
 */
static int qsnap_map_locked(struct qsnap_layer *layer, u64 pos, u64 len,
			    bool nowait, struct qcow2_mapping *ext)
{
	struct qcow2_image *img = &layer->im->qcow2;
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
	l2 = qsnap_l2c_get(&layer->im->l2, &layer->im->map_lock,
			   layer->im->file, l2_offset, nowait);
	if (l2 == ERR_PTR(-EAGAIN))
		return -EAGAIN;
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

static int qsnap_map(struct qsnap_device *qs, struct qsnap_walk *w,
		     struct qsnap_layer *layer, u64 pos, u64 len,
		     struct qcow2_mapping *ext)
{
	int ret;

	if (!w->nowait)
		mutex_lock(&layer->im->map_lock);
	else if (!mutex_trylock(&layer->im->map_lock))
		return -EAGAIN;
	ret = qsnap_map_locked(layer, pos, len, w->nowait, ext);
	if (ret && ret != -ENOMEM && ret != -EAGAIN)
		qsnap_io_err(qs, layer, "%*pE\n",
			     (int)strlen(layer->im->qcow2.err), layer->im->qcow2.err);
	mutex_unlock(&layer->im->map_lock);
	return ret;
}

/*
 * Read @len bytes of a layer's data at @pos into @iter: asynchronously
 * where the read can be direct and the request has a free slot; else
 * synchronously, or -EAGAIN in a walk that must not wait.
 */
static int qsnap_read_data(struct qsnap_device *qs, struct qsnap_walk *w,
			   struct qsnap_layer *layer, struct iov_iter *iter,
			   u64 pos, u64 len)
{
	struct file *file;

	if (!len)
		return 0;
	file = qsnap_data_file(layer->im, iter, pos, len);
	if (file == layer->im->direct &&
	    w->aio && qsnap_aio_read(w->cmd, layer, file, iter, pos, len)) {
		iov_iter_advance(iter, len);
		return 0;
	}
	if (w->nowait)
		return -EAGAIN;
	return qsnap_read_data_sync(qs, layer, iter, pos, len);
}

/*
 * Read and decrypt a data run of an encrypted layer: synchronously, as the
 * pages are decrypted once the read is done, in the worker (process
 * context) that read them.  @guest and @host are where the run starts in
 * the disk and in the file that holds the data.
 */
static int qsnap_read_encrypted(struct qsnap_device *qs, struct qsnap_walk *w,
				struct qsnap_layer *layer, struct iov_iter *iter,
				u64 guest, u64 host, u64 len)
{
	struct iov_iter pages = *iter;
	u64 sector;
	int ret;

	if (w->nowait)
		return -EAGAIN;
	/* Data clusters are cluster-aligned and requests whole sectors. */
	if ((guest | host | len) & (SECTOR_SIZE - 1))
		return -EIO;
	ret = qsnap_read_data_sync(qs, layer, iter, host, len);
	if (ret)
		return ret;
	sector = (layer->im->qcow2.crypto.guest_iv ? guest : host) >> SECTOR_SHIFT;
	ret = qsnap_crypt_decrypt(layer->im, &pages, len, sector);
	if (ret)
		qsnap_io_err(qs, layer, "cannot decrypt %llu bytes at offset %llu (error %d)\n",
			     len, host, ret);
	return ret;
}

static int qsnap_zero(struct iov_iter *iter, u64 len)
{
	return iov_iter_zero(len, iter) == len ? 0 : -EIO;
}

/*
 * Read guest bytes [@pos, @pos + @len) of the device into @iter.  Each
 * extent comes from the first layer, top-down, that allocates it: a layer
 * passes down what it leaves unallocated (at the same guest offset); past
 * a layer's size, and below the last layer, the bytes are zeros.  Hence a
 * loop over the layers per extent, not a call per layer: the stack does
 * not grow with the chain.  @hole[li] is where the unallocated run of
 * layer li found last ends, so that a long hole in the upper layers is
 * mapped once, not again for every extent read from below it.
 */
static int qsnap_read_range(struct qsnap_device *qs, struct qsnap_walk *w,
			    struct iov_iter *iter, u64 pos, u64 len)
{
	u64 hole[QSNAP_MAX_BACKING + 1] = { 0 };
	struct qsnap_layer *layer;
	struct qcow2_mapping ext;
	unsigned int li;
	u64 n;
	int ret;

	while (len) {
		n = len;
		for (li = 0; li < qs->nr_layers; li++) {
			layer = &qs->layers[li];
			if (pos >= layer->size)
				break;
			n = min(n, layer->size - pos);
			if (pos < hole[li]) {
				n = min(n, hole[li] - pos);
				continue;
			}
			if (layer->im->format == QSNAP_FORMAT_RAW)
				break;
			ret = qsnap_map(qs, w, layer, pos, n, &ext);
			if (ret)
				return ret;
			n = ext.len;
			if (ext.type != QCOW2_MAP_UNALLOCATED)
				break;
			hole[li] = pos + n;
		}

		if (li == qs->nr_layers || pos >= layer->size) {
			ret = qsnap_zero(iter, n);
		} else if (layer->im->format == QSNAP_FORMAT_RAW) {
			ret = qsnap_read_data(qs, w, layer, iter, pos, n);
		} else {
			switch (ext.type) {
			case QCOW2_MAP_ZERO:
				ret = qsnap_zero(iter, n);
				break;
			case QCOW2_MAP_DATA:
				if (layer->im->tfm)
					ret = qsnap_read_encrypted(qs, w, layer, iter, pos,
								   ext.host_offset, n);
				else
					ret = qsnap_read_data(qs, w, layer, iter,
							      ext.host_offset, n);
				break;
			case QCOW2_MAP_COMPRESSED:
				if (w->nowait) {
					w->compressed = true;
					return -EAGAIN;
				}
				ret = qsnap_read_compressed(qs, layer, iter,
							    pos, &ext);
				break;
			default:
				ret = -EIO;	/* UNALLOCATED: went on below */
				break;
			}
		}
		if (ret)
			return ret;
		pos += n;
		len -= n;
	}
	return 0;
}

/* Read the part of @bio in [@w->pos, @w->end), and move @w->pos on. */
static int qsnap_read_bio(struct qsnap_device *qs, struct qsnap_walk *w,
			  struct bio *bio)
{
	u64 pos = (u64)bio->bi_iter.bi_sector << SECTOR_SHIFT;
	u64 len = bio->bi_iter.bi_size, skip = 0, todo;
	struct bvec_iter bi;
	struct bio_vec bv;
	struct iov_iter iter;
	unsigned int nr = 0;
	int ret;

	/* A request's bios are contiguous and in order. */
	if (w->pos >= pos + len || w->end <= pos)
		return 0;
	if (w->pos > pos)
		skip = w->pos - pos;
	todo = min(pos + len, w->end) - (pos + skip);

	/* As loop does: an iov_iter over the bio's own bio_vecs. */
	bio_for_each_bvec(bv, bio, bi)
		nr++;
	iov_iter_bvec(&iter, ITER_DEST,
		      __bvec_iter_bvec(bio->bi_io_vec, bio->bi_iter), nr, len);
	iter.iov_offset = qsnap_bvec_iter_done(bio->bi_iter);
	iov_iter_advance(&iter, skip);
	iov_iter_truncate(&iter, todo);

	ret = qsnap_read_range(qs, w, &iter, pos + skip, todo);
	w->pos = pos + skip + todo - iov_iter_count(&iter);
	return ret;
}

/* Map and read [@w->pos, @w->end) of the request. */
static int qsnap_walk_request(struct qsnap_device *qs, struct qsnap_walk *w)
{
	struct request *rq = blk_mq_rq_from_pdu(w->cmd);
	struct bio *bio;
	int ret;

	if (w->nowait && qsnap_watch_due(qs))
		return -EAGAIN;
	ret = qsnap_watch_check(qs);
	__rq_for_each_bio(bio, rq) {
		if (ret || w->pos >= w->end)
			break;
		ret = qsnap_read_bio(qs, w, bio);
	}
	return ret;
}

/* The first error of a request is the one it ends with. */
static void qsnap_cmd_fail(struct qsnap_cmd *cmd, int error)
{
	if (error)
		cmpxchg(&cmd->error, 0, error);
}

static u64 qsnap_rq_end(struct request *rq)
{
	return ((u64)blk_rq_pos(rq) << SECTOR_SHIFT) + blk_rq_bytes(rq);
}

static void qsnap_cmd_work(struct work_struct *work)
{
	struct qsnap_cmd *cmd = container_of(work, struct qsnap_cmd, work);
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct qsnap_device *qs = rq->q->queuedata;
	struct qsnap_walk w = {
		.cmd = cmd, .pos = cmd->resume, .end = qsnap_rq_end(rq),
		.aio = true,
	};
	unsigned int noio;

	/* Reclaim must not recurse into block I/O from here (as in loop). */
	noio = memalloc_noio_save();
	switch (cmd->phase) {
	case QSNAP_CMD_WALK:
		qsnap_cmd_fail(cmd, qsnap_walk_request(qs, &w));
		memalloc_noio_restore(noio);
		qsnap_cmd_put(cmd);
		break;
	case QSNAP_CMD_RETRY:
		/* Every asynchronous read is back; some came back short. */
		cmd->retry = false;
		qsnap_cmd_fail(cmd, qsnap_aio_retry(qs, cmd));
		memalloc_noio_restore(noio);
		blk_mq_complete_request(rq);
		break;
	}
}

/*
 * One of the slices a request with compressed clusters is cut into: slices
 * decompress in parallel.  They read synchronously (the request's
 * asynchronous reads are the queue worker's alone).
 */
static void qsnap_slice_work(struct work_struct *work)
{
	struct qsnap_slice *slice = container_of(work, struct qsnap_slice, work);
	struct qsnap_cmd *cmd = slice->cmd;
	struct qsnap_device *qs = blk_mq_rq_from_pdu(cmd)->q->queuedata;
	struct qsnap_walk w = {
		.cmd = cmd, .pos = slice->start, .end = slice->end,
	};
	unsigned int noio;

	noio = memalloc_noio_save();
	qsnap_cmd_fail(cmd, qsnap_walk_request(qs, &w));
	memalloc_noio_restore(noio);
	qsnap_cmd_put(cmd);
}

/*
 * Hand the rest of a request, from @cmd->resume, to workers: one, or - if
 * the walk stopped at a compressed cluster and more than one cluster is
 * left - up to QSNAP_CMD_SLICES, cut at cluster boundaries, so that a large
 * read of a compressed image decompresses on several CPUs.  The walk's
 * reference goes with them.
 */
static void qsnap_hand_over(struct qsnap_device *qs, struct qsnap_cmd *cmd,
			    bool compressed)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct qsnap_image *im = qsnap_top(qs)->im;
	u64 cs = im->format == QSNAP_FORMAT_QCOW2 ? im->qcow2.cluster_size : SZ_64K;
	u64 start = cmd->resume, end = qsnap_rq_end(rq);
	u64 first = round_down(start, cs);
	u64 clusters = div64_u64(end - first + cs - 1, cs);
	unsigned int i, n = min_t(u64, clusters, QSNAP_CMD_SLICES);

	if (!compressed || n < 2) {
		cmd->phase = QSNAP_CMD_WALK;
		queue_work(qs->wq, &cmd->work);
		return;
	}
	atomic_add(n - 1, &cmd->ref);
	for (i = 0; i < n; i++) {
		struct qsnap_slice *slice = &cmd->slices[i];

		slice->cmd = cmd;
		slice->start = max(start, first + div_u64(clusters * i, n) * cs);
		slice->end = min(end, first + div_u64(clusters * (i + 1), n) * cs);
		queue_work(qs->wq, &slice->work);
	}
}

/**
 * qsnap_queue_work() - walk the device's queued requests
 * @work: the device's queue_work
 *
 * One worker walks every request as far as it goes without waiting:
 * cached L2 tables, zeros, and data read with asynchronous direct reads -
 * all a warm uncompressed image needs - so random reads cost one context
 * switch per batch, as in loop, not one per request.  A request that
 * needs an L2 table read, a compressed cluster, a buffered read or a
 * snapshot check goes on in other work items, beside the others.
 */
void qsnap_queue_work(struct work_struct *work)
{
	struct qsnap_device *qs = container_of(work, struct qsnap_device,
					       queue_work);
	struct qsnap_walk w;
	struct qsnap_cmd *cmd;
	unsigned int noio;
	int ret;

	noio = memalloc_noio_save();
	for (;;) {
		spin_lock_irq(&qs->queue_lock);
		cmd = list_first_entry_or_null(&qs->queue, struct qsnap_cmd,
					       node);
		if (cmd)
			list_del(&cmd->node);
		spin_unlock_irq(&qs->queue_lock);
		if (!cmd)
			break;

		w = (struct qsnap_walk) {
			.cmd = cmd, .pos = cmd->resume,
			.end = qsnap_rq_end(blk_mq_rq_from_pdu(cmd)),
			.nowait = true, .aio = true,
		};
		ret = qsnap_walk_request(qs, &w);
		if (ret == -EAGAIN) {
			cmd->resume = w.pos;
			qsnap_hand_over(qs, cmd, w.compressed);
		} else {
			qsnap_cmd_fail(cmd, ret);
			qsnap_cmd_put(cmd);
		}
		cond_resched();
	}
	memalloc_noio_restore(noio);
}

static blk_status_t qsnap_queue_rq(struct blk_mq_hw_ctx *hctx,
				   const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct qsnap_cmd *cmd = blk_mq_rq_to_pdu(rq);
	struct qsnap_device *qs = hctx->queue->queuedata;
	unsigned long flags;

	blk_mq_start_request(rq);
	/* A read-only device: the block layer lets writes through to us. */
	if (req_op(rq) != REQ_OP_READ)
		return BLK_STS_IOERR;
	atomic_set(&cmd->ref, 1);
	cmd->error = 0;
	cmd->retry = false;
	cmd->nr_aio = 0;
	cmd->resume = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;

	spin_lock_irqsave(&qs->queue_lock, flags);
	list_add_tail(&cmd->node, &qs->queue);
	spin_unlock_irqrestore(&qs->queue_lock, flags);
	queue_work(qs->wq, &qs->queue_work);
	return BLK_STS_OK;
}

static void qsnap_complete_rq(struct request *rq)
{
	struct qsnap_cmd *cmd = blk_mq_rq_to_pdu(rq);

	blk_mq_end_request(rq, errno_to_blk_status(cmd->error));
}

static int qsnap_init_request(struct request *rq)
{
	struct qsnap_cmd *cmd = blk_mq_rq_to_pdu(rq);
	unsigned int i;

	INIT_WORK(&cmd->work, qsnap_cmd_work);
	for (i = 0; i < QSNAP_CMD_SLICES; i++)
		INIT_WORK(&cmd->slices[i].work, qsnap_slice_work);
	return 0;
}

QSNAP_DEFINE_INIT_REQUEST(qsnap_init_request)

const struct blk_mq_ops qsnap_mq_ops = {
	.queue_rq	= qsnap_queue_rq,
	.complete	= qsnap_complete_rq,
	.init_request	= qsnap_init_request_mq,
};

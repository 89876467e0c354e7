// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnap asynchronous data reads: a request's runs of data clusters are
 * read from the O_DIRECT file with an asynchronous kiocb, as loop's
 * lo_rw_aio() does, so that the worker that mapped the request is free
 * for the next one and a queue of random reads reaches the disk as a
 * queue, not one read per worker thread.
 *
 * A request holds one reference for the worker walking it and one per
 * read in flight; the last one completes it.  A read that does not return
 * all its bytes (a short read at the end of the file, a file system that
 * wants more alignment than the device, an error) is done again, whole,
 * by the synchronous path from the workqueue: it knows how to read zeros
 * past EOF, fall back to buffered reads and log errors, and that path is
 * the one the tests prove.
 */
#include <linux/blk-mq.h>
#include <linux/fs.h>
#include <linux/uio.h>

#include "qsnap.h"

/* Called with the request's last reference: finish it, or retry. */
static void qsnap_cmd_done(struct qsnap_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct qsnap_device *qs = rq->q->queuedata;

	if (READ_ONCE(cmd->retry) && !cmd->error) {
		cmd->phase = QSNAP_CMD_RETRY;
		queue_work(qs->wq, &cmd->work);
		return;
	}
	blk_mq_complete_request(rq);
}

/**
 * qsnap_cmd_put() - drop one reference of a request
 * @cmd: the request's PDU
 */
void qsnap_cmd_put(struct qsnap_cmd *cmd)
{
	if (atomic_dec_and_test(&cmd->ref))
		qsnap_cmd_done(cmd);
}

/* ->ki_complete: may run in interrupt context. */
static void qsnap_aio_complete(struct kiocb *iocb, long ret)
{
	struct qsnap_aio *aio = container_of(iocb, struct qsnap_aio, iocb);

	aio->ret = ret;
	if (ret != (long)aio->len)
		WRITE_ONCE(aio->cmd->retry, true);
	qsnap_cmd_put(aio->cmd);
}

/**
 * qsnap_aio_read() - start an asynchronous O_DIRECT read, if one is free
 * @cmd: the request the read is for
 * @layer: the layer whose data file is read
 * @file: the O_DIRECT file to read
 * @iter: where the bytes go; not advanced
 * @pos: the file offset
 * @len: bytes to read, aligned for @file, as are @pos and @iter's pages
 *
 * Return: true if the read was started (it completes the request's
 * reference it took), false if the request has no free slot: read
 * synchronously.
 */
bool qsnap_aio_read(struct qsnap_cmd *cmd, struct qsnap_layer *layer,
		    struct file *file, const struct iov_iter *iter, u64 pos,
		    size_t len)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct qsnap_aio *aio;
	struct iov_iter sub;
	ssize_t ret;

	if (cmd->nr_aio == QSNAP_CMD_AIOS)
		return false;
	aio = &cmd->aio[cmd->nr_aio++];
	aio->cmd = cmd;
	aio->layer = layer;
	aio->pos = pos;
	aio->len = len;
	aio->iter = *iter;
	iov_iter_truncate(&aio->iter, len);

	init_sync_kiocb(&aio->iocb, file);
	aio->iocb.ki_pos = pos;
	aio->iocb.ki_ioprio = req_get_ioprio(rq);
	aio->iocb.ki_complete = qsnap_aio_complete;

	atomic_inc(&cmd->ref);
	/* read_iter consumes a copy: the saved one is for a retry. */
	sub = aio->iter;
	ret = file->f_op->read_iter(&aio->iocb, &sub);
	if (ret != -EIOCBQUEUED)
		qsnap_aio_complete(&aio->iocb, ret);
	return true;
}

/**
 * qsnap_aio_retry() - read again, synchronously, what asynchronous reads
 * of a request did not return in full
 * @qs: the device
 * @cmd: the request, whose reads have all completed
 *
 * Return: 0 or -errno of the first failed read.
 */
int qsnap_aio_retry(struct qsnap_device *qs, struct qsnap_cmd *cmd)
{
	unsigned int i;
	int ret;

	for (i = 0; i < cmd->nr_aio; i++) {
		struct qsnap_aio *aio = &cmd->aio[i];
		struct iov_iter iter = aio->iter;

		if (aio->ret == (long)aio->len)
			continue;
		ret = qsnap_read_data_sync(qs, aio->layer, &iter, aio->pos,
					   aio->len);
		if (ret)
			return ret;
	}
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnap compressed clusters: read the stream, inflate it (deflate or zstd,
 * as the image header says) into exactly one cluster, and keep the last few
 * decompressed clusters, so that a sequential read of a compressed cluster
 * in small pieces decompresses it once.
 *
 * Everything here is per image (shared by the devices that read it, see
 * struct qsnap_image) and allocated on the first compressed cluster met
 * (images without any pay nothing): a small LRU of decompressed clusters,
 * and decompression contexts - an input buffer of two clusters (the most
 * a descriptor can span), an output cluster and the decoder's workspace -
 * made as concurrent requests need them, up to two per CPU (at most
 * QSNAP_ZCTX_MAX).  The LRU and the list of idle contexts are under
 * zcache_lock; reading and decompressing a stream is not, so requests for
 * different compressed clusters decompress in parallel.  A finished
 * cluster's buffer is swapped into the LRU, not copied.
 *
 * The stream is untrusted.  Its output must be exactly one cluster: a
 * stream that ends early, runs on past the cluster (a decompression bomb is
 * stopped at the output buffer's end), is truncated or is not a valid
 * stream fails the read with -EIO and one rate-limited line naming the
 * guest offset.  The zstd decoder refuses frames whose window exceeds a
 * cluster, which bounds its memory whatever the frame header claims.
 */
#include <linux/cpumask.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/wait.h>
#include <linux/zlib.h>
#include <linux/zstd.h>

#include "qsnap.h"

/* Decompressed clusters kept per image: about this many bytes, 2 to 16. */
#define QSNAP_ZCACHE_BYTES	SZ_1M
/*
 * Decompressions of one image in flight at once: one per slow worker
 * (two per CPU: a context is held while its stream is read, so one per
 * CPU leaves the CPU idle during reads), at most QSNAP_ZCTX_MAX, and
 * only as many as fit in QSNAP_ZCTX_BYTES of buffers (a context holds
 * three clusters) - but always one.
 */
#define QSNAP_ZCTX_MAX		4
#define QSNAP_ZCTX_BYTES	SZ_4M

struct qsnap_zslot {
	u64 host_offset;	/* stream offset of the cached cluster */
	u32 stream_len;		/* and its descriptor's length */
	bool valid;
	u64 last_use;		/* LRU clock value */
	void *data;		/* one decompressed cluster */
};

/* One decompression: its buffers and decoder state. */
struct qsnap_zctx {
	struct list_head node;	/* on qsnap_zcache.idle while unused */
	void *in;		/* compressed input: up to two clusters */
	void *out;		/* the decompressed cluster */
	struct z_stream_s zlib;	/* deflate images */
	zstd_dstream *zstd;	/* zstd images */
	void *zstd_workspace;
};

struct qsnap_zcache {
	struct qsnap_zslot *slots;
	unsigned int nr_slots;
	u64 clock;
	struct list_head idle;	/* contexts not in use */
	unsigned int nr_ctx;	/* contexts made */
	unsigned int max_ctx;
	wait_queue_head_t ctx_wait;	/* for an idle context */
};

static void qsnap_zctx_free(struct qsnap_zctx *ctx)
{
	kvfree(ctx->zlib.workspace);
	kvfree(ctx->zstd_workspace);
	kvfree(ctx->out);
	kvfree(ctx->in);
	kfree(ctx);
}

static void qsnap_zcache_free(struct qsnap_zcache *zc)
{
	struct qsnap_zctx *ctx, *next;
	unsigned int i;

	/* No request runs any more: every context is idle. */
	list_for_each_entry_safe(ctx, next, &zc->idle, node)
		qsnap_zctx_free(ctx);
	if (zc->slots) {
		for (i = 0; i < zc->nr_slots; i++)
			kvfree(zc->slots[i].data);
		kfree(zc->slots);
	}
	kfree(zc);
}

static int qsnap_zctx_init_decompressor(struct qsnap_zctx *ctx,
					const struct qcow2_image *img)
{
	size_t window, size;

	if (img->compression_type == QCOW2_COMPRESSION_ZLIB) {
		ctx->zlib.workspace = kvmalloc(zlib_inflate_workspacesize(),
					       GFP_KERNEL);
		if (!ctx->zlib.workspace)
			return -ENOMEM;
		/* Raw deflate, no zlib header; any window up to 32 KiB. */
		if (zlib_inflateInit2(&ctx->zlib, -MAX_WBITS) != Z_OK)
			return -EINVAL;
		return 0;
	}

	/* A frame needs no window larger than the cluster it encodes. */
	window = max_t(size_t, img->cluster_size, SZ_1K);
	size = zstd_dstream_workspace_bound(window);
	ctx->zstd_workspace = kvmalloc(size, GFP_KERNEL);
	if (!ctx->zstd_workspace)
		return -ENOMEM;
	ctx->zstd = zstd_init_dstream(window, ctx->zstd_workspace, size);
	if (!ctx->zstd)
		return -EINVAL;
	return 0;
}

static struct qsnap_zctx *qsnap_zctx_create(const struct qcow2_image *img)
{
	struct qsnap_zctx *ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	int ret = -ENOMEM;

	if (!ctx)
		return ERR_PTR(-ENOMEM);
	ctx->in = kvmalloc(2 * img->cluster_size, GFP_KERNEL);
	ctx->out = kvmalloc(img->cluster_size, GFP_KERNEL);
	if (ctx->in && ctx->out)
		ret = qsnap_zctx_init_decompressor(ctx, img);
	if (ret) {
		qsnap_zctx_free(ctx);
		return ERR_PTR(ret);
	}
	return ctx;
}

static int qsnap_zcache_create(struct qsnap_image *im)
{
	u32 cluster_size = im->qcow2.cluster_size;	/* at most 2 MiB */
	struct qsnap_zcache *zc;
	unsigned int i;

	zc = kzalloc(sizeof(*zc), GFP_KERNEL);
	if (!zc)
		return -ENOMEM;
	INIT_LIST_HEAD(&zc->idle);
	init_waitqueue_head(&zc->ctx_wait);
	zc->max_ctx = min_t(u32, min_t(unsigned int, num_online_cpus() *
				       QSNAP_SLOW_WORKERS_PER_CPU,
				       QSNAP_ZCTX_MAX),
			    QSNAP_ZCTX_BYTES / (3 * cluster_size));
	zc->max_ctx = max(zc->max_ctx, 1U);
	zc->nr_slots = clamp_t(u32, QSNAP_ZCACHE_BYTES / cluster_size, 2, 16);
	zc->slots = kcalloc(zc->nr_slots, sizeof(*zc->slots), GFP_KERNEL);
	if (!zc->slots)
		goto fail;
	for (i = 0; i < zc->nr_slots; i++) {
		zc->slots[i].data = kvmalloc(cluster_size, GFP_KERNEL);
		if (!zc->slots[i].data)
			goto fail;
	}
	im->zcache = zc;
	return 0;
fail:
	qsnap_zcache_free(zc);
	return -ENOMEM;
}

/* Returns NULL, or why the stream is not one cluster of data. */
static const char *qsnap_inflate(struct qsnap_zctx *ctx, u32 in_len,
				 void *out, u32 out_len)
{
	struct z_stream_s *zs = &ctx->zlib;
	int ret;

	if (zlib_inflateReset(zs) != Z_OK)
		return "cannot reset the deflate decoder";
	zs->next_in = ctx->in;
	zs->avail_in = in_len;
	zs->next_out = out;
	zs->avail_out = out_len;
	ret = zlib_inflate(zs, Z_FINISH);
	if (ret == Z_STREAM_END)
		return zs->avail_out ? "deflate stream ends before a full cluster" :
				       NULL;
	if (ret != Z_OK && ret != Z_BUF_ERROR)
		return "corrupt deflate stream";
	if (!zs->avail_out)
		return "deflate stream inflates past one cluster";
	return "deflate stream is truncated";
}

static const char *qsnap_unzstd(struct qsnap_zctx *ctx, u32 in_len,
				void *out, u32 out_len)
{
	zstd_in_buffer in = { .src = ctx->in, .size = in_len };
	zstd_out_buffer ob = { .dst = out, .size = out_len };
	size_t ret, last_in, last_out;

	ret = zstd_reset_dstream(ctx->zstd);
	if (zstd_is_error(ret))
		return zstd_get_error_name(ret);
	/* As QEMU's qcow2_zstd_decompress(): fill the cluster, then stop. */
	while (ob.pos < ob.size) {
		last_in = in.pos;
		last_out = ob.pos;
		ret = zstd_decompress_stream(ctx->zstd, &ob, &in);
		if (zstd_is_error(ret))
			return zstd_get_error_name(ret);
		if (!ret && ob.pos < ob.size)
			return "zstd frame ends before a full cluster";
		if (in.pos == last_in && ob.pos == last_out)
			return "zstd stream is truncated";
	}
	if (ret)
		return "zstd frame decompresses past one cluster";
	return NULL;
}

/* Decompress the cluster @map describes into ctx->out (no lock held). */
static int qsnap_decompress_cluster(struct qsnap_device *qs,
				    struct qsnap_layer *layer, u64 guest_pos,
				    const struct qcow2_mapping *map,
				    struct qsnap_zctx *ctx)
{
	u64 cluster_size = layer->im->qcow2.cluster_size;
	const char *why;
	ssize_t got;

	got = qsnap_file_read_padded(layer->im->file, ctx->in,
				     map->compressed_len, map->host_offset);
	if (got < 0) {
		qsnap_io_err(qs, layer, "read error %zd at offset %llu (compressed cluster)\n",
			     got, map->host_offset);
		return got;
	}
	if (layer->im->qcow2.compression_type == QCOW2_COMPRESSION_ZLIB)
		why = qsnap_inflate(ctx, map->compressed_len, ctx->out,
				    cluster_size);
	else
		why = qsnap_unzstd(ctx, map->compressed_len, ctx->out,
				   cluster_size);
	if (why) {
		qsnap_io_err(qs, layer, "compressed cluster at guest offset %llu (stream at %#llx, up to %u bytes%s): %s\n",
			     guest_pos & ~(cluster_size - 1),
			     map->host_offset, map->compressed_len,
			     got < map->compressed_len ?
			     ", cut by the end of the file" : "", why);
		return -EIO;
	}
	return 0;
}

/* The cached cluster @map names, or NULL.  zcache_lock held. */
static struct qsnap_zslot *qsnap_zcache_find(struct qsnap_zcache *zc,
					     const struct qcow2_mapping *map)
{
	struct qsnap_zslot *slot;
	unsigned int i;

	for (i = 0; i < zc->nr_slots; i++) {
		slot = &zc->slots[i];
		if (slot->valid && slot->host_offset == map->host_offset &&
		    slot->stream_len == map->compressed_len) {
			slot->last_use = ++zc->clock;
			return slot;
		}
	}
	return NULL;
}

/*
 * An idle context, made if fewer than max_ctx exist, else NULL (wait for
 * one).  zcache_lock held; making one sleeps under it, which only delays
 * the others.
 */
static struct qsnap_zctx *qsnap_zctx_get(struct qsnap_image *im)
{
	struct qsnap_zcache *zc = im->zcache;
	struct qsnap_zctx *ctx;

	ctx = list_first_entry_or_null(&zc->idle, struct qsnap_zctx, node);
	if (ctx) {
		list_del(&ctx->node);
		return ctx;
	}
	if (zc->nr_ctx >= zc->max_ctx)
		return NULL;
	ctx = qsnap_zctx_create(&im->qcow2);
	if (!IS_ERR(ctx)) {
		WRITE_ONCE(zc->nr_ctx, zc->nr_ctx + 1);
	} else if (zc->nr_ctx) {
		/* Out of memory for another: make do with those there are. */
		WRITE_ONCE(zc->max_ctx, zc->nr_ctx);
		ctx = NULL;
	}
	return ctx;
}

/* A peek without the lock (a wait condition must not sleep); rechecked. */
static bool qsnap_zctx_idle(struct qsnap_zcache *zc)
{
	return !list_empty_careful(&zc->idle) ||
	       READ_ONCE(zc->nr_ctx) < READ_ONCE(zc->max_ctx);
}

/* Put @ctx's cluster in the LRU (swapping buffers).  zcache_lock held. */
static struct qsnap_zslot *qsnap_zcache_insert(struct qsnap_zcache *zc,
					       struct qsnap_zctx *ctx,
					       const struct qcow2_mapping *map)
{
	struct qsnap_zslot *slot, *victim = &zc->slots[0];
	unsigned int i;
	void *data;

	for (i = 0; i < zc->nr_slots; i++) {
		slot = &zc->slots[i];
		if (!slot->valid) {
			victim = slot;
			break;
		}
		if (slot->last_use < victim->last_use)
			victim = slot;
	}
	data = victim->data;
	victim->data = ctx->out;
	ctx->out = data;
	victim->host_offset = map->host_offset;
	victim->stream_len = map->compressed_len;
	victim->valid = true;
	victim->last_use = ++zc->clock;
	return victim;
}

/**
 * qsnap_read_compressed() - copy part of a compressed cluster to a request
 * @qs: the device
 * @layer: the layer whose L2 entry @map comes from
 * @iter: the request's pages, advanced by @map->len
 * @guest_pos: the guest offset of the first byte to copy
 * @map: the compressed cluster's mapping; @map->len bytes are copied
 *
 * Return: 0, or -EIO for a corrupt stream or a read error, -ENOMEM.
 */
int qsnap_read_compressed(struct qsnap_device *qs, struct qsnap_layer *layer,
			  struct iov_iter *iter, u64 guest_pos,
			  const struct qcow2_mapping *map)
{
	struct qsnap_image *im = layer->im;
	u64 in_cluster = qcow2_offset_into_cluster(&im->qcow2, guest_pos);
	struct qsnap_zslot *slot;
	struct qsnap_zctx *ctx;
	int ret = 0;

	mutex_lock(&im->zcache_lock);
	if (!im->zcache) {
		ret = qsnap_zcache_create(im);
		if (ret) {
			qsnap_io_err(qs, layer, "cannot set up decompression: %d\n",
				     ret);
			goto out_unlock;
		}
	}
	for (;;) {
		slot = qsnap_zcache_find(im->zcache, map);
		if (slot) {
			im->zstat.hits++;
			goto copy;
		}
		ctx = qsnap_zctx_get(im);
		if (ctx)
			break;
		/* Every context is busy: wait, then look again (it may be ours). */
		mutex_unlock(&im->zcache_lock);
		wait_event(im->zcache->ctx_wait, qsnap_zctx_idle(im->zcache));
		mutex_lock(&im->zcache_lock);
	}
	if (IS_ERR(ctx)) {
		ret = PTR_ERR(ctx);
		qsnap_io_err(qs, layer, "cannot set up decompression: %d\n", ret);
		goto out_unlock;
	}
	mutex_unlock(&im->zcache_lock);

	ret = qsnap_decompress_cluster(qs, layer, guest_pos, map, ctx);

	mutex_lock(&im->zcache_lock);
	if (ret) {
		im->zstat.errors++;
	} else {
		im->zstat.decompressed++;
		/* Another request may have put it there meanwhile. */
		slot = qsnap_zcache_find(im->zcache, map);
		if (!slot)
			slot = qsnap_zcache_insert(im->zcache, ctx, map);
	}
	list_add(&ctx->node, &im->zcache->idle);
	wake_up(&im->zcache->ctx_wait);
	if (ret)
		goto out_unlock;
copy:
	if (copy_to_iter(slot->data + in_cluster, map->len, iter) != map->len)
		ret = -EIO;
out_unlock:
	mutex_unlock(&im->zcache_lock);
	return ret;
}

/**
 * qsnap_compress_exit() - free the decompression state of an image
 * @im: an image no longer serving requests
 */
void qsnap_compress_exit(struct qsnap_image *im)
{
	if (im->zcache) {
		qsnap_zcache_free(im->zcache);
		im->zcache = NULL;
	}
}

/**
 * qsnap_compress_bytes() - memory held for decompression
 * @im: the image; zcache_lock held
 *
 * Return: bytes (0 until the first compressed cluster).
 */
size_t qsnap_compress_bytes(const struct qsnap_image *im)
{
	const struct qsnap_zcache *zc = im->zcache;
	size_t cluster_size = im->qcow2.cluster_size, bytes, ctx;

	if (!zc)
		return 0;
	bytes = sizeof(*zc) + zc->nr_slots * (sizeof(*zc->slots) + cluster_size);
	ctx = sizeof(struct qsnap_zctx) + 3 * cluster_size;
	if (im->qcow2.compression_type == QCOW2_COMPRESSION_ZLIB)
		ctx += zlib_inflate_workspacesize();
	else
		ctx += zstd_dstream_workspace_bound(max_t(size_t, cluster_size,
							  SZ_1K));
	return bytes + zc->nr_ctx * ctx;
}

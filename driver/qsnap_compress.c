// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnap compressed clusters: read the stream, inflate it (deflate or zstd,
 * as the image header says) into exactly one cluster, and keep the last few
 * decompressed clusters, so that a sequential read of a compressed cluster
 * in small pieces decompresses it once.
 *
 * Everything here is per image (shared by the devices that read it, see
 * struct qsnap_image) and allocated on the first compressed cluster met
 * (images without any pay nothing): one input
 * buffer of two clusters (the most a descriptor can span), the
 * decompressor's workspace, and a small LRU of decompressed clusters.  One
 * mutex serialises it all; a request that needs a compressed cluster waits
 * for the one in front of it.
 *
 * The stream is untrusted.  Its output must be exactly one cluster: a
 * stream that ends early, runs on past the cluster (a decompression bomb is
 * stopped at the output buffer's end), is truncated or is not a valid
 * stream fails the read with -EIO and one rate-limited line naming the
 * guest offset.  The zstd decoder refuses frames whose window exceeds a
 * cluster, which bounds its memory whatever the frame header claims.
 */
#define pr_fmt(fmt) "qsnap: " fmt

#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/zlib.h>
#include <linux/zstd.h>

#include "qsnap.h"

/* Decompressed clusters kept per image: about this many bytes, 2 to 16. */
#define QSNAP_ZCACHE_BYTES	SZ_1M

struct qsnap_zslot {
	u64 host_offset;	/* stream offset of the cached cluster */
	u32 stream_len;		/* and its descriptor's length */
	bool valid;
	u64 last_use;		/* LRU clock value */
	void *data;		/* one decompressed cluster */
};

struct qsnap_zcache {
	void *in;		/* compressed input: up to two clusters */
	struct z_stream_s zlib;	/* deflate images */
	zstd_dstream *zstd;	/* zstd images */
	void *zstd_workspace;
	struct qsnap_zslot *slots;
	unsigned int nr_slots;
	u64 clock;
};

static void qsnap_zcache_free(struct qsnap_zcache *zc)
{
	unsigned int i;

	if (zc->slots) {
		for (i = 0; i < zc->nr_slots; i++)
			kvfree(zc->slots[i].data);
		kfree(zc->slots);
	}
	kvfree(zc->zlib.workspace);
	kvfree(zc->zstd_workspace);
	kvfree(zc->in);
	kfree(zc);
}

static int qsnap_zcache_init_decompressor(struct qsnap_zcache *zc,
					  const struct qcow2_image *img)
{
	size_t window, size;

	if (img->compression_type == QCOW2_COMPRESSION_ZLIB) {
		zc->zlib.workspace = kvmalloc(zlib_inflate_workspacesize(),
					      GFP_KERNEL);
		if (!zc->zlib.workspace)
			return -ENOMEM;
		/* Raw deflate, no zlib header; any window up to 32 KiB. */
		if (zlib_inflateInit2(&zc->zlib, -MAX_WBITS) != Z_OK)
			return -EINVAL;
		return 0;
	}

	/* A frame needs no window larger than the cluster it encodes. */
	window = max_t(size_t, img->cluster_size, SZ_1K);
	size = zstd_dstream_workspace_bound(window);
	zc->zstd_workspace = kvmalloc(size, GFP_KERNEL);
	if (!zc->zstd_workspace)
		return -ENOMEM;
	zc->zstd = zstd_init_dstream(window, zc->zstd_workspace, size);
	if (!zc->zstd)
		return -EINVAL;
	return 0;
}

static int qsnap_zcache_create(struct qsnap_image *im)
{
	u64 cluster_size = im->img.cluster_size;
	struct qsnap_zcache *zc;
	unsigned int i;
	int ret = -ENOMEM;

	zc = kzalloc(sizeof(*zc), GFP_KERNEL);
	if (!zc)
		return -ENOMEM;
	zc->in = kvmalloc(2 * cluster_size, GFP_KERNEL);
	if (!zc->in)
		goto fail;
	zc->nr_slots = clamp_t(u64, QSNAP_ZCACHE_BYTES / cluster_size, 2, 16);
	zc->slots = kcalloc(zc->nr_slots, sizeof(*zc->slots), GFP_KERNEL);
	if (!zc->slots)
		goto fail;
	for (i = 0; i < zc->nr_slots; i++) {
		zc->slots[i].data = kvmalloc(cluster_size, GFP_KERNEL);
		if (!zc->slots[i].data)
			goto fail;
	}
	ret = qsnap_zcache_init_decompressor(zc, &im->img);
	if (ret)
		goto fail;
	im->zcache = zc;
	return 0;
fail:
	qsnap_zcache_free(zc);
	return ret;
}

/*
 * Read @len bytes at @off; the part past the end of the file reads as zeros
 * (a stream may end in the file's last, partial sector).  Returns the bytes
 * that came from the file, or -errno.
 */
static ssize_t qsnap_file_read_padded(struct file *file, void *buf,
				      size_t len, u64 off)
{
	loff_t pos = off;
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = kernel_read(file, buf + done, len - done, &pos);
		if (n < 0)
			return n;
		if (!n) {
			memset(buf + done, 0, len - done);
			break;
		}
		done += n;
	}
	return done;
}

/* Returns NULL, or why the stream is not one cluster of data. */
static const char *qsnap_inflate(struct qsnap_zcache *zc, u32 in_len,
				 void *out, u32 out_len)
{
	struct z_stream_s *zs = &zc->zlib;
	int ret;

	if (zlib_inflateReset(zs) != Z_OK)
		return "cannot reset the deflate decoder";
	zs->next_in = zc->in;
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

static const char *qsnap_unzstd(struct qsnap_zcache *zc, u32 in_len,
				void *out, u32 out_len)
{
	zstd_in_buffer in = { .src = zc->in, .size = in_len };
	zstd_out_buffer ob = { .dst = out, .size = out_len };
	size_t ret, last_in, last_out;

	ret = zstd_reset_dstream(zc->zstd);
	if (zstd_is_error(ret))
		return zstd_get_error_name(ret);
	/* As QEMU's qcow2_zstd_decompress(): fill the cluster, then stop. */
	while (ob.pos < ob.size) {
		last_in = in.pos;
		last_out = ob.pos;
		ret = zstd_decompress_stream(zc->zstd, &ob, &in);
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

/* Fill @out with the cluster @map describes.  zcache_lock held. */
static int qsnap_decompress_cluster(struct qsnap_device *qs,
				    struct qsnap_layer *layer, u64 guest_pos,
				    const struct qcow2_mapping *map, void *out)
{
	struct qsnap_zcache *zc = layer->im->zcache;
	u64 cluster_size = layer->im->img.cluster_size;
	const char *why;
	ssize_t got;

	got = qsnap_file_read_padded(layer->im->file, zc->in, map->compressed_len,
				     map->host_offset);
	if (got < 0) {
		qsnap_io_err(qs, layer, "read error %zd at offset %llu (compressed cluster)\n",
			     got, map->host_offset);
		return got;
	}
	if (layer->im->img.compression_type == QCOW2_COMPRESSION_ZLIB)
		why = qsnap_inflate(zc, map->compressed_len, out, cluster_size);
	else
		why = qsnap_unzstd(zc, map->compressed_len, out, cluster_size);
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

static struct qsnap_zslot *qsnap_zcache_get(struct qsnap_device *qs,
					    struct qsnap_layer *layer,
					    u64 guest_pos,
					    const struct qcow2_mapping *map)
{
	struct qsnap_zcache *zc = layer->im->zcache;
	struct qsnap_zslot *slot, *victim = &zc->slots[0];
	unsigned int i;
	int ret;

	for (i = 0; i < zc->nr_slots; i++) {
		slot = &zc->slots[i];
		if (slot->valid && slot->host_offset == map->host_offset &&
		    slot->stream_len == map->compressed_len) {
			layer->im->zstat.hits++;
			slot->last_use = ++zc->clock;
			return slot;
		}
		if (slot->last_use < victim->last_use)
			victim = slot;
	}

	victim->valid = false;
	ret = qsnap_decompress_cluster(qs, layer, guest_pos, map, victim->data);
	if (ret) {
		layer->im->zstat.errors++;
		return ERR_PTR(ret);
	}
	layer->im->zstat.decompressed++;
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
	u64 in_cluster = qcow2_offset_into_cluster(&layer->im->img, guest_pos);
	struct qsnap_zslot *slot;
	int ret = 0;

	mutex_lock(&layer->im->zcache_lock);
	if (!layer->im->zcache) {
		ret = qsnap_zcache_create(layer->im);
		if (ret) {
			qsnap_io_err(qs, layer, "cannot set up decompression: %d\n",
				     ret);
			goto out;
		}
	}
	slot = qsnap_zcache_get(qs, layer, guest_pos, map);
	if (IS_ERR(slot)) {
		ret = PTR_ERR(slot);
		goto out;
	}
	if (copy_to_iter(slot->data + in_cluster, map->len, iter) != map->len)
		ret = -EIO;
out:
	mutex_unlock(&layer->im->zcache_lock);
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
	size_t cluster_size = im->img.cluster_size, bytes;

	if (!zc)
		return 0;
	bytes = sizeof(*zc) + 2 * cluster_size +
		zc->nr_slots * (sizeof(*zc->slots) + cluster_size);
	if (im->img.compression_type == QCOW2_COMPRESSION_ZLIB)
		bytes += zlib_inflate_workspacesize();
	else
		bytes += zstd_dstream_workspace_bound(max_t(size_t, cluster_size,
							    SZ_1K));
	return bytes;
}

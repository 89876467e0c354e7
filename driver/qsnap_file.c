// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnap file reads, at the bottom of everything: exact reads of metadata
 * for the format code, synchronous reads of data clusters into a
 * request's pages (the asynchronous ones are qsnap_aio.c's), and the log
 * line of an error found while serving a request.  Nothing here calls
 * back into the request path.
 */
#include <linux/fs.h>
#include <linux/ratelimit.h>
#include <linux/uio.h>

#include "qsnap.h"
#include "qsnap_compat.h"

/*
 * Read @len bytes at @off; the part past the end of the file reads as zeros
 * (a stream may end in the file's last, partial sector).  Returns the bytes
 * that came from the file, or -errno.
 */
ssize_t qsnap_file_read_padded(struct file *file, void *buf, size_t len,
			       u64 off)
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

/* qcow2_io.pread: read exactly @len bytes, or fail. */
int qsnap_file_pread(void *opaque, void *buf, size_t len, u64 off)
{
	ssize_t n = qsnap_file_read_padded(opaque, buf, len, off);

	if (n < 0)
		return n;
	return (size_t)n == len ? 0 : -EIO;	/* the file shrank under us */
}

/* f_mapping->host: for a block device, the bdev's inode */
u64 qsnap_file_size(struct file *file)
{
	return i_size_read(file->f_mapping->host);
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
	pr_err("%s: %s: %pV", qs->disk->disk_name, layer->im->log_path, &vaf);
	va_end(args);
}

/*
 * O_DIRECT where the layer has it and the range and pages are aligned for
 * it; otherwise through the page cache.
 */
struct file *qsnap_data_file(const struct qsnap_image *im,
			     const struct iov_iter *iter, u64 pos, u64 len)
{
	struct iov_iter sub = *iter;

	iov_iter_truncate(&sub, len);
	/* As the block layer checks it: addresses, then segment lengths. */
	if (im->direct && !((pos | len) & (im->direct_align - 1)) &&
	    qsnap_iter_dio_aligned(&sub, im->direct_mem_align - 1,
				   im->direct_align - 1))
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

// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnap layer set-up, at attach: open each file the caller passed, parse
 * and validate it (the format code), choose the snapshot, check that the
 * files are the chain the headers declare, take a shared image for a
 * snapshot view, and load the L1 tables.  The request path then only
 * reads what this prepared.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/pagemap.h>
#include <linux/slab.h>

#include "qsnap.h"

/* The image path for messages; never fails (falls back to a placeholder). */
static char *qsnap_file_path(struct file *file)
{
	char *buf = kmalloc(PATH_MAX, GFP_KERNEL);
	char *path, *ret;

	if (!buf)
		return kstrdup("(image)", GFP_KERNEL);
	path = file_path(file, buf, PATH_MAX);
	ret = kstrdup(IS_ERR(path) ? "(image)" : path, GFP_KERNEL);
	kfree(buf);
	return ret;
}

/*
 * @s with its non-printable bytes escaped as printk's %pE does, for
 * messages: a file name (or a name from an image) must not be able to
 * forge or colour log lines.
 */
static char *qsnap_escape_dup(const char *s)
{
	return kasprintf(GFP_KERNEL, "%*pE", (int)strlen(s), s);
}

/*
 * The caller's fd, if it is one qsnap may read from: a regular file or a
 * block device, open for reading and not for writing.
 */
static struct file *qsnap_layer_get_file(int fd)
{
	struct file *file = fget(fd);
	umode_t mode;
	int ret = -EINVAL;

	if (!file)
		return ERR_PTR(-EBADF);
	mode = file_inode(file)->i_mode;
	if (!S_ISREG(mode) && !S_ISBLK(mode))
		goto out_put;
	if (!(file->f_mode & FMODE_READ)) {
		ret = -EBADF;
		goto out_put;
	}
	/*
	 * Read-only means read-only from the start: refuse an fd that could
	 * write, rather than silently ignore that it can.  O_DIRECT fds are
	 * refused too: the metadata reads use unaligned kernel buffers.
	 */
	if ((file->f_mode & FMODE_WRITE) || (file->f_flags & O_DIRECT) ||
	    !file->f_op->read_iter)
		goto out_put;
	return file;

out_put:
	fput(file);
	return ERR_PTR(ret);
}

/*
 * Open one layer from the caller's fds: the image (and its external data
 * file, @data_fd >= 0), parsed as @format.  qcow2 layers are read at their
 * current state; the caller chooses layer 0's snapshot afterwards.  Every
 * refusal logs exactly one line.
 */
int qsnap_layer_open(struct qsnap_layer *layer, int fd, u32 format, int data_fd)
{
	struct qcow2_io io = { .pread = qsnap_file_pread };
	struct qsnap_image *im;
	struct file *file;
	__be32 magic = 0;
	int ret;

	im = qsnap_image_alloc();
	if (!im)
		return -ENOMEM;
	layer->im = im;
	file = qsnap_layer_get_file(fd);
	if (IS_ERR(file))
		return PTR_ERR(file);
	im->file = file;
	im->format = format;
	/*
	 * A block device's page cache follows no other host, nor another
	 * path to the same storage (an LV under another name, a multipath
	 * member): drop its clean pages, so that the header, the snapshot
	 * table and the L1/L2 tables are read as the device holds them now.
	 * A local writer's dirty pages stay: they are what the disk will hold.
	 */
	if (S_ISBLK(file_inode(file)->i_mode))
		invalidate_inode_pages2(file->f_mapping);
	im->path = qsnap_file_path(file);
	if (!im->path)
		return -ENOMEM;
	im->log_path = qsnap_escape_dup(im->path);
	if (!im->log_path)
		return -ENOMEM;

	if (format == QSNAP_FORMAT_RAW) {
		if (data_fd >= 0) {
			pr_err("%s: a raw backing file has no data file\n",
			       im->log_path);
			return -EINVAL;
		}
		layer->size = qsnap_file_size(file);
		/* Would format probing have called it qcow2? */
		if (layer->size >= sizeof(magic) &&
		    !qsnap_file_pread(file, &magic, sizeof(magic), 0) &&
		    be32_to_cpu(magic) == QCOW2_MAGIC)
			im->raw_has_qcow2_magic = true;
		return 0;
	}

	io.opaque = file;
	io.file_size = qsnap_file_size(file);
	ret = qcow2_open(&im->qcow2, &io);
	if (ret)
		goto out_err;
	if (data_fd >= 0 && !im->qcow2.has_data_file) {
		pr_err("%s: a data file was passed, but the image has none\n",
		       im->log_path);
		return -EINVAL;
	}
	if (data_fd < 0 && im->qcow2.has_data_file) {
		pr_err("%s: the image keeps its data in \"%*pE\", which was not passed\n",
		       im->log_path, (int)strlen(im->qcow2.data_file),
		       im->qcow2.data_file);
		return -EINVAL;
	}
	if (data_fd >= 0) {
		file = qsnap_layer_get_file(data_fd);
		if (IS_ERR(file)) {
			pr_err("%s: unusable data file fd (error %ld)\n",
			       im->log_path, PTR_ERR(file));
			return PTR_ERR(file);
		}
		im->data_file = file;
		im->qcow2.data_file_size = qsnap_file_size(file);
	}
	ret = qcow2_select(&im->qcow2, -1, &layer->view);
	if (ret)
		goto out_err;
	layer->size = layer->view.disk_size;
	return 0;

out_err:
	if (ret != -ENOMEM)
		pr_err("%s: %*pE\n", im->log_path, (int)strlen(im->qcow2.err),
		       im->qcow2.err);
	return ret;
}

/**
 * qsnap_layer_select() - make the attached image's layer show a snapshot
 * @top: layer 0, opened (it shows the current state until then)
 * @snapshot: the snapshot's id or, failing that, its name
 *
 * Return: 0 or -errno (logged).
 */
int qsnap_layer_select(struct qsnap_layer *top, const char *snapshot)
{
	struct qsnap_image *im = top->im;
	int sn, ret;

	sn = qcow2_find_snapshot(&im->qcow2, snapshot);
	if (sn < 0) {
		pr_err("%s: no snapshot with id or name \"%*pE\"\n",
		       im->log_path, (int)strlen(snapshot), snapshot);
		return sn;
	}
	ret = qcow2_select(&im->qcow2, sn, &top->view);
	if (ret) {
		if (ret != -ENOMEM)
			pr_err("%s: %*pE\n", im->log_path,
			       (int)strlen(im->qcow2.err), im->qcow2.err);
		return ret;
	}
	top->size = top->view.disk_size;
	return 0;
}

static const char *qsnap_format_name(u32 format)
{
	return format == QSNAP_FORMAT_RAW ? "raw" : "qcow2";
}

/*
 * The fds must be the chain the headers declare: each qcow2 layer that
 * names a backing file has the next layer below it, in the format it
 * names (or, when it names none, the format probing would find), the last
 * layer names none, and no file appears twice.
 */
int qsnap_layers_check_chain(struct qsnap_device *qs, bool no_backing)
{
	struct qsnap_image *im, *below;
	const char *fmt;
	unsigned int i, j;

	for (i = 0; i < qs->nr_layers; i++) {
		im = qs->layers[i].im;
		below = i + 1 < qs->nr_layers ? qs->layers[i + 1].im : NULL;
		for (j = 0; j < i; j++)
			if (file_inode(qs->layers[j].im->file) ==
			    file_inode(im->file)) {
				pr_err("%s: backing chain loop: the file appears twice\n",
				       im->log_path);
				return -ELOOP;
			}
		if (i == 0 && no_backing)
			continue;
		if (im->format == QSNAP_FORMAT_RAW ||
		    !im->qcow2.backing_file[0]) {
			if (!below)
				continue;
			pr_err("%s: it has no backing file, but %s was passed as one\n",
			       im->log_path, below->log_path);
			return -EINVAL;
		}
		if (!below) {
			pr_err("%s: backing file \"%*pE\" was not passed\n",
			       im->log_path,
			       (int)strlen(im->qcow2.backing_file),
			       im->qcow2.backing_file);
			return -EINVAL;
		}
		fmt = im->qcow2.backing_format;
		if (fmt[0] && strcmp(fmt, "qcow2") && strcmp(fmt, "raw")) {
			pr_err("%s: backing file format \"%*pE\" is not supported (qcow2 and raw are)\n",
			       im->log_path, (int)strlen(fmt), fmt);
			return -EOPNOTSUPP;
		}
		if (fmt[0] && strcmp(fmt, qsnap_format_name(below->format))) {
			pr_err("%s: backing file %s was passed as %s, but the image says %s\n",
			       im->log_path, below->log_path,
			       qsnap_format_name(below->format), fmt);
			return -EINVAL;
		}
		if (!fmt[0] && below->raw_has_qcow2_magic) {
			pr_err("%s: backing file %s was passed as raw, but it is a qcow2 image\n",
			       im->log_path, below->log_path);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Set up a layer's image (or, for a snapshot, take one in use that is the
 * same, and drop its own), then load the layer's L1 table.
 */
static int qsnap_layer_init(struct qsnap_layer *layer,
			    const struct qsnap_settings *set)
{
	size_t l1_bytes = (size_t)layer->view.l1_used * sizeof(__be64);
	struct qsnap_image *im = layer->im, *shared = NULL;
	bool share = layer->view.snapshot && set->share_images && !im->tfm;
	int ret;

	im->set = *set;
	if (share)
		shared = qsnap_image_find(im);
	if (!shared) {
		ret = qsnap_image_setup(im);
		if (ret)
			return ret;
		qsnap_image_publish(im, share);
	} else {
		/* Same table entry by entry: the same index in the shared one. */
		if (layer->view.snapshot) {
			ptrdiff_t sn = layer->view.snapshot - im->qcow2.snapshots;

			layer->view.snapshot = &shared->qcow2.snapshots[sn];
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
		pr_err("%s: cannot read the L1 table (error %d)\n", im->log_path,
		       ret);
	return ret;
}

static void qsnap_layer_exit(struct qsnap_layer *layer)
{
	kvfree(layer->l1);
	layer->l1 = NULL;
}

/**
 * qsnap_layers_setup() - load the L1 tables and set up the caches of every layer
 * @qs: a device whose layers are opened and validated
 *
 * Return: 0 or -errno (a failed L1 read is logged).
 */
int qsnap_layers_setup(struct qsnap_device *qs)
{
	unsigned int i;
	int ret;

	ratelimit_state_init(&qs->io_ratelimit, DEFAULT_RATELIMIT_INTERVAL,
			     DEFAULT_RATELIMIT_BURST);
	ret = qsnap_watch_init(qs);
	if (ret)
		return ret;
	for (i = 0; i < qs->nr_layers; i++) {
		ret = qsnap_layer_init(&qs->layers[i], &qs->set);
		if (ret)
			return ret;
	}
	return 0;
}

/**
 * qsnap_layers_free() - free the layers and what qsnap_layers_setup()
 * allocated (also after a partial failure of either)
 * @qs: the device
 */
void qsnap_layers_free(struct qsnap_device *qs)
{
	unsigned int i;

	if (!qs->layers)
		return;
	for (i = 0; i < qs->nr_layers; i++) {
		qsnap_layer_exit(&qs->layers[i]);
		qsnap_image_put(qs->layers[i].im);
	}
	qsnap_watch_exit(qs);
	kfree(qs->layers);
	qs->layers = NULL;
}

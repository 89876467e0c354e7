// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnap control device, /dev/qsnap-control: attach, detach and query.
 *
 * Attach is one atomic call (in the spirit of LOOP_CONFIGURE): it takes an
 * fd of the image that the caller opened read-only, so the caller's own
 * permissions decide what can be read, parses and validates the image,
 * and creates /dev/qsnapN in one go.
 */
#define pr_fmt(fmt) "qsnap: " fmt

#include <linux/capability.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <uapi/linux/qsnap.h>

#include "qsnap.h"

/* The uapi layout is frozen: these sizes are part of the ABI. */
static_assert(sizeof(struct qsnap_attach) == 344);
static_assert(sizeof(struct qsnap_detach) == 32);
static_assert(sizeof(struct qsnap_info) == 1640);
static_assert(sizeof(struct qsnap_features) == 64);
static_assert(sizeof(struct qsnap_backing) == 32);

static bool qsnap_all_zero(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

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

static struct file *qsnap_ctl_get_image(int fd)
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

/* f_mapping->host: for a block device, the bdev's inode */
static u64 qsnap_file_size(struct file *file)
{
	return i_size_read(file->f_mapping->host);
}

/*
 * Open one layer from the caller's fds: the image (and its external data
 * file, @data_fd >= 0), parsed as @format.  qcow2 layers are read at their
 * current state; the caller chooses layer 0's snapshot afterwards.  Every
 * refusal logs exactly one line.
 */
static int qsnap_layer_open(struct qsnap_layer *layer, int fd, u32 format,
			    int data_fd)
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
	file = qsnap_ctl_get_image(fd);
	if (IS_ERR(file))
		return PTR_ERR(file);
	im->file = file;
	im->format = format;
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
	ret = qcow2_open(&im->img, &io);
	if (ret)
		goto out_err;
	if (data_fd >= 0 && !im->img.has_data_file) {
		pr_err("%s: a data file was passed, but the image has none\n",
		       im->log_path);
		return -EINVAL;
	}
	if (data_fd < 0 && im->img.has_data_file) {
		pr_err("%s: the image keeps its data in \"%*pE\", which was not passed\n",
		       im->log_path, (int)strlen(im->img.data_file),
		       im->img.data_file);
		return -EINVAL;
	}
	if (data_fd >= 0) {
		file = qsnap_ctl_get_image(data_fd);
		if (IS_ERR(file)) {
			pr_err("%s: unusable data file fd (error %ld)\n",
			       im->log_path, PTR_ERR(file));
			return PTR_ERR(file);
		}
		im->data_file = file;
		im->img.data_file_size = qsnap_file_size(file);
	}
	ret = qcow2_select(&im->img, -1, &layer->view);
	if (ret)
		goto out_err;
	layer->size = layer->view.disk_size;
	return 0;

out_err:
	if (ret != -ENOMEM)
		pr_err("%s: %*pE\n", im->log_path, (int)strlen(im->img.err),
		       im->img.err);
	return ret;
}

/* Choose what layer 0 shows: a snapshot, or the current state. */
static int qsnap_select_snapshot(struct qsnap_layer *top,
				 const struct qsnap_attach *arg)
{
	struct qsnap_image *im = top->im;
	int sn, ret;

	if (!(arg->flags & QSNAP_ATTACH_F_SNAPSHOT))
		return 0;
	sn = qcow2_find_snapshot(&im->img, arg->snapshot);
	if (sn < 0) {
		pr_err("%s: no snapshot with id or name \"%*pE\"\n",
		       im->log_path, (int)strlen(arg->snapshot), arg->snapshot);
		return sn;
	}
	ret = qcow2_select(&im->img, sn, &top->view);
	if (ret) {
		if (ret != -ENOMEM)
			pr_err("%s: %*pE\n", im->log_path,
			       (int)strlen(im->img.err), im->img.err);
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
static int qsnap_check_chain(struct qsnap_device *qs, bool no_backing)
{
	struct qsnap_image *layer, *below;
	const char *fmt;
	unsigned int i, j;

	for (i = 0; i < qs->nr_layers; i++) {
		layer = qs->layers[i].im;
		below = i + 1 < qs->nr_layers ? qs->layers[i + 1].im : NULL;
		for (j = 0; j < i; j++)
			if (file_inode(qs->layers[j].im->file) ==
			    file_inode(layer->file)) {
				pr_err("%s: backing chain loop: the file appears twice\n",
				       layer->log_path);
				return -ELOOP;
			}
		if (i == 0 && no_backing)
			continue;
		if (layer->format == QSNAP_FORMAT_RAW ||
		    !layer->img.backing_file[0]) {
			if (!below)
				continue;
			pr_err("%s: it has no backing file, but %s was passed as one\n",
			       layer->log_path, below->log_path);
			return -EINVAL;
		}
		if (!below) {
			pr_err("%s: backing file \"%*pE\" was not passed\n",
			       layer->log_path,
			       (int)strlen(layer->img.backing_file),
			       layer->img.backing_file);
			return -EINVAL;
		}
		fmt = layer->img.backing_format;
		if (fmt[0] && strcmp(fmt, "qcow2") && strcmp(fmt, "raw")) {
			pr_err("%s: backing file format \"%*pE\" is not supported (qcow2 and raw are)\n",
			       layer->log_path, (int)strlen(fmt), fmt);
			return -EOPNOTSUPP;
		}
		if (fmt[0] && strcmp(fmt, qsnap_format_name(below->format))) {
			pr_err("%s: backing file %s was passed as %s, but the image says %s\n",
			       layer->log_path, below->log_path,
			       qsnap_format_name(below->format), fmt);
			return -EINVAL;
		}
		if (!fmt[0] && below->raw_has_qcow2_magic) {
			pr_err("%s: backing file %s was passed as raw, but it is a qcow2 image\n",
			       layer->log_path, below->log_path);
			return -EINVAL;
		}
	}
	return 0;
}

/* Open the backing files the caller passed, below layer 0. */
static int qsnap_open_backing(struct qsnap_device *qs,
			      const struct qsnap_attach *arg)
{
	struct qsnap_backing *backing;
	unsigned int i;
	int ret = 0;

	if (!arg->nr_backing)
		return 0;
	backing = memdup_user(u64_to_user_ptr(arg->backing),
			      arg->nr_backing * sizeof(*backing));
	if (IS_ERR(backing))
		return PTR_ERR(backing);
	for (i = 0; i < arg->nr_backing; i++) {
		const struct qsnap_backing *b = &backing[i];

		if ((b->flags & ~QSNAP_BACKING_F_DATA_FILE) ||
		    (b->format != QSNAP_FORMAT_QCOW2 &&
		     b->format != QSNAP_FORMAT_RAW) ||
		    !qsnap_all_zero(b->__reserved, sizeof(b->__reserved)) ||
		    (!(b->flags & QSNAP_BACKING_F_DATA_FILE) && b->data_fd)) {
			ret = -EINVAL;
			break;
		}
		/* A flag that says "this is an fd" gets an fd. */
		if ((b->flags & QSNAP_BACKING_F_DATA_FILE) && b->data_fd < 0) {
			ret = -EBADF;
			break;
		}
		ret = qsnap_layer_open(&qs->layers[i + 1], b->fd, b->format,
				       b->flags & QSNAP_BACKING_F_DATA_FILE ?
				       b->data_fd : -1);
		if (ret)
			break;
	}
	kfree(backing);
	return ret;
}

static int qsnap_ctl_attach(void __user *argp)
{
	struct qsnap_settings set;
	struct qsnap_attach arg;
	struct qsnap_device *qs;
	struct qsnap_layer *top;
	int ret;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if ((arg.flags & ~QSNAP_ATTACH_SETTABLE_FLAGS) || arg.__pad ||
	    arg.size || !qsnap_all_zero(arg.__reserved, sizeof(arg.__reserved)))
		return -EINVAL;
	if (strnlen(arg.snapshot, sizeof(arg.snapshot)) == sizeof(arg.snapshot))
		return -EINVAL;
	if (!(arg.flags & QSNAP_ATTACH_F_SNAPSHOT) &&
	    !qsnap_all_zero(arg.snapshot, sizeof(arg.snapshot)))
		return -EINVAL;
	if (!(arg.flags & QSNAP_ATTACH_F_DATA_FILE) && arg.data_fd)
		return -EINVAL;
	if ((arg.flags & QSNAP_ATTACH_F_DATA_FILE) && arg.data_fd < 0)
		return -EBADF;
	if (arg.nr_backing > QSNAP_MAX_BACKING ||
	    (!arg.nr_backing && arg.backing) ||
	    ((arg.flags & QSNAP_ATTACH_F_NO_BACKING) && arg.nr_backing))
		return -EINVAL;
	ret = qsnap_settings_get(&arg, &set);
	if (ret)
		return ret;
	/*
	 * The answer goes back into @argp: find out now whether it can, so
	 * that no device is made for a caller who cannot learn its index.
	 */
	if (copy_to_user(argp, &arg, sizeof(arg)))
		return -EFAULT;

	qs = kzalloc(sizeof(*qs), GFP_KERNEL);
	if (!qs)
		return -ENOMEM;
	qs->set = set;
	qs->no_partscan = arg.flags & QSNAP_ATTACH_F_NO_PARTSCAN;
	qs->nr_layers = 1 + arg.nr_backing;
	qs->layers = kcalloc(qs->nr_layers, sizeof(*qs->layers), GFP_KERNEL);
	if (!qs->layers) {
		kfree(qs);
		return -ENOMEM;
	}
	top = qsnap_top(qs);

	ret = qsnap_layer_open(top, arg.image_fd, QSNAP_FORMAT_QCOW2,
			       arg.flags & QSNAP_ATTACH_F_DATA_FILE ?
			       arg.data_fd : -1);
	if (ret)
		goto out_free;
	ret = qsnap_select_snapshot(top, &arg);
	if (ret)
		goto out_free;
	ret = qsnap_open_backing(qs, &arg);
	if (ret)
		goto out_free;
	ret = qsnap_check_chain(qs, arg.flags & QSNAP_ATTACH_F_NO_BACKING);
	if (ret)
		goto out_free;
	if (top->im->img.incompatible_features & QCOW2_INCOMPAT_CORRUPT)
		pr_warn("%s: image is marked corrupt; reading it anyway (read-only)\n",
			top->im->log_path);
	ret = qsnap_io_init(qs);
	if (ret)
		goto out_free;
	arg.size = top->size & ~(u64)(SECTOR_SIZE - 1);
	/*
	 * From here on @qs is the gendisk's and may be detached and freed
	 * by another caller at any time: only @arg is ours.
	 */
	ret = qsnap_add(qs, arg.index);
	if (ret < 0)
		goto out_free;
	arg.index = ret;
	/*
	 * The device exists now, and the index is also the return value (as
	 * LOOP_CTL_ADD's): a copy-out that fails after the check above
	 * (the caller unmapped the buffer meanwhile) does not undo it.
	 */
	if (copy_to_user(argp, &arg, sizeof(arg)))
		pr_warn("qsnap%d: attached, but the caller's buffer went away\n",
			ret);
	return ret;

out_free:
	qsnap_free(qs);
	return ret;
}

static int qsnap_ctl_detach(void __user *argp)
{
	struct qsnap_detach arg;
	struct qsnap_device *qs;
	int ret = 0;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.flags || !qsnap_all_zero(arg.__reserved, sizeof(arg.__reserved)))
		return -EINVAL;

	mutex_lock(&qsnap_ctl_mutex);
	qs = idr_find(&qsnap_index_idr, arg.index);
	if (!qs) {
		ret = -ENODEV;
		goto out_unlock;
	}
	/* Its attach is still registering it (qsnap_add()). */
	if (!qs->added) {
		ret = -EBUSY;
		goto out_unlock;
	}
	/*
	 * Under open_mutex no open can slip in between the check and the
	 * state change; ->open refuses once the state is QSNAP_STATE_DELETING.
	 */
	mutex_lock(&qs->disk->open_mutex);
	if (disk_openers(qs->disk))
		ret = -EBUSY;
	else
		qs->state = QSNAP_STATE_DELETING;
	mutex_unlock(&qs->disk->open_mutex);
	/*
	 * Hide the device from lookups but keep its index taken until
	 * qsnap_remove() has deleted the gendisk: an attach that reused the
	 * index earlier would register a second "qsnapN" in sysfs.
	 */
	if (!ret)
		idr_replace(&qsnap_index_idr, NULL, arg.index);
out_unlock:
	mutex_unlock(&qsnap_ctl_mutex);
	if (!ret)
		qsnap_remove(qs);
	return ret;
}

static void qsnap_copy_str(char *dst, size_t size, const char *src)
{
	strscpy(dst, src ? src : "", size);
}

static int qsnap_ctl_get_info(void __user *argp)
{
	const struct qcow2_snapshot *sn;
	struct qsnap_device *qs;
	struct qsnap_layer *top;
	struct qsnap_info *info;
	u32 index;
	int ret = 0;

	if (get_user(index, (u32 __user *)argp))
		return -EFAULT;
	/* Output only: every byte is filled in, so nothing of ours leaks. */
	info = kzalloc(sizeof(*info), GFP_KERNEL);
	if (!info)
		return -ENOMEM;

	mutex_lock(&qsnap_ctl_mutex);
	qs = idr_find(&qsnap_index_idr, index);
	if (!qs) {
		ret = -ENODEV;
		goto out_unlock;
	}
	top = qsnap_top(qs);
	sn = top->view.snapshot;
	info->index = index;
	info->size = top->size & ~(u64)(SECTOR_SIZE - 1);
	info->cluster_size = top->im->img.cluster_size;
	info->qcow2_version = top->im->img.version;
	if (sn) {
		info->flags |= QSNAP_INFO_F_SNAPSHOT;
		info->date_sec = sn->date_sec;
		info->date_nsec = sn->date_nsec;
		info->vm_clock_nsec = sn->vm_clock_nsec;
		qsnap_copy_str(info->snapshot_id, sizeof(info->snapshot_id),
			       sn->id_str);
		qsnap_copy_str(info->snapshot_name,
			       sizeof(info->snapshot_name), sn->name);
	}
	if (top->im->img.incompatible_features & QCOW2_INCOMPAT_CORRUPT)
		info->flags |= QSNAP_INFO_F_CORRUPT;
	if (top->im->img.incompatible_features & QCOW2_INCOMPAT_DIRTY)
		info->flags |= QSNAP_INFO_F_DIRTY;
	if (READ_ONCE(qs->watch.gone))
		info->flags |= QSNAP_INFO_F_GONE;
	qsnap_copy_str(info->image, sizeof(info->image), top->im->path);
out_unlock:
	mutex_unlock(&qsnap_ctl_mutex);
	if (!ret && copy_to_user(argp, info, sizeof(*info)))
		ret = -EFAULT;
	kfree(info);
	return ret;
}

static int qsnap_ctl_get_features(void __user *argp)
{
	struct qsnap_features f = {
		.features	= QSNAP_FEATURE_QCOW2_V2 | QSNAP_FEATURE_QCOW2_V3 |
				  QSNAP_FEATURE_DEFLATE | QSNAP_FEATURE_ZSTD |
				  QSNAP_FEATURE_EXTENDED_L2 |
				  QSNAP_FEATURE_BACKING |
				  QSNAP_FEATURE_DATA_FILE,
		.attach_flags	= QSNAP_ATTACH_SETTABLE_FLAGS,
		.attach_set	= QSNAP_SETTABLE,
	};

	return copy_to_user(argp, &f, sizeof(f)) ? -EFAULT : 0;
}

static long qsnap_ctl_ioctl(struct file *file, unsigned int cmd,
			    unsigned long parm)
{
	void __user *argp = (void __user *)parm;

	/*
	 * Attaching parses an untrusted file in the kernel and creates a
	 * block device; detaching removes one that others may rely on.  Both
	 * are for the administrator only (cf. zram CVE-2020-10781).  What is
	 * not a command of ours is ENOTTY for everyone.
	 */
	switch (cmd) {
	case QSNAP_IOC_GET_FEATURES:
		return qsnap_ctl_get_features(argp);
	case QSNAP_IOC_GET_INFO:
		return qsnap_ctl_get_info(argp);
	case QSNAP_IOC_ATTACH:
		if (!capable(CAP_SYS_ADMIN))
			return -EPERM;
		return qsnap_ctl_attach(argp);
	case QSNAP_IOC_DETACH:
		if (!capable(CAP_SYS_ADMIN))
			return -EPERM;
		return qsnap_ctl_detach(argp);
	}
	return -ENOTTY;
}

static const struct file_operations qsnap_ctl_fops = {
	.owner		= THIS_MODULE,
	.open		= nonseekable_open,
	.unlocked_ioctl	= qsnap_ctl_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice qsnap_misc = {
	.minor		= MISC_DYNAMIC_MINOR,
	.name		= QSNAP_CONTROL_NAME,
	.fops		= &qsnap_ctl_fops,
};

int qsnap_ctl_init(void)
{
	return misc_register(&qsnap_misc);
}

void qsnap_ctl_exit(void)
{
	misc_deregister(&qsnap_misc);
}

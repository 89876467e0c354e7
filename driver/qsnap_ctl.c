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
 * Parse the image behind qs->file and choose the snapshot.  Every refusal
 * logs exactly one line naming the image and the reason.
 */
static int qsnap_ctl_open_image(struct qsnap_device *qs,
				const struct qsnap_attach *arg)
{
	struct qcow2_io io = {
		.pread		= qsnap_file_pread,
		.opaque		= qs->file,
		/* f_mapping->host: for a block device, the bdev's inode */
		.file_size	= i_size_read(qs->file->f_mapping->host),
	};
	int sn = -1;
	int ret;

	ret = qcow2_open(&qs->img, &io);
	if (ret)
		goto out_err;
	if (arg->flags & QSNAP_ATTACH_F_SNAPSHOT) {
		sn = qcow2_find_snapshot(&qs->img, arg->snapshot);
		if (sn < 0) {
			pr_err("%s: no snapshot with id or name \"%s\"\n",
			       qs->image_path, arg->snapshot);
			return sn;
		}
	}
	ret = qcow2_select(&qs->img, sn, &qs->view);
	if (ret)
		goto out_err;
	if (qs->img.incompatible_features & QCOW2_INCOMPAT_CORRUPT)
		pr_warn("%s: image is marked corrupt; reading it anyway (read-only)\n",
			qs->image_path);
	return 0;

out_err:
	if (ret != -ENOMEM)
		pr_err("%s: %s\n", qs->image_path, qs->img.err);
	return ret;
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

static int qsnap_ctl_attach(void __user *argp)
{
	struct qsnap_attach arg;
	struct qsnap_device *qs;
	struct file *file;
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

	file = qsnap_ctl_get_image(arg.image_fd);
	if (IS_ERR(file))
		return PTR_ERR(file);
	qs = kzalloc(sizeof(*qs), GFP_KERNEL);
	if (!qs) {
		fput(file);
		return -ENOMEM;
	}
	qs->file = file;
	qs->image_path = qsnap_file_path(file);
	if (!qs->image_path) {
		ret = -ENOMEM;
		goto out_free;
	}

	ret = qsnap_ctl_open_image(qs, &arg);
	if (ret)
		goto out_free;
	ret = qsnap_io_init(qs);
	if (ret) {
		if (ret != -ENOMEM)
			pr_err("%s: cannot read the L1 table (error %d)\n",
			       qs->image_path, ret);
		goto out_free;
	}
	ret = qsnap_add(qs, arg.index);
	if (ret < 0)
		goto out_free;

	pr_info("%s: attached %s, snapshot %s%s%s, %llu bytes\n",
		qs->disk->disk_name, qs->image_path,
		qs->view.snapshot ? qs->view.snapshot->id_str : "(current state)",
		qs->view.snapshot ? " " : "",
		qs->view.snapshot ? qs->view.snapshot->name : "",
		qs->view.disk_size);
	/* The device exists now; a failed copy-out must not undo it. */
	arg.index = ret;
	arg.size = qs->view.disk_size & ~(u64)(SECTOR_SIZE - 1);
	if (copy_to_user(argp, &arg, sizeof(arg)))
		return -EFAULT;
	return 0;

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
	if (!ret)
		idr_remove(&qsnap_index_idr, arg.index);
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
	sn = qs->view.snapshot;
	info->index = index;
	info->size = qs->view.disk_size & ~(u64)(SECTOR_SIZE - 1);
	info->cluster_size = qs->img.cluster_size;
	info->qcow2_version = qs->img.version;
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
	if (qs->img.incompatible_features & QCOW2_INCOMPAT_CORRUPT)
		info->flags |= QSNAP_INFO_F_CORRUPT;
	if (qs->img.incompatible_features & QCOW2_INCOMPAT_DIRTY)
		info->flags |= QSNAP_INFO_F_DIRTY;
	qsnap_copy_str(info->image, sizeof(info->image), qs->image_path);
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
				  QSNAP_FEATURE_EXTENDED_L2,
		.attach_flags	= QSNAP_ATTACH_SETTABLE_FLAGS,
	};

	return copy_to_user(argp, &f, sizeof(f)) ? -EFAULT : 0;
}

static long qsnap_ctl_ioctl(struct file *file, unsigned int cmd,
			    unsigned long parm)
{
	void __user *argp = (void __user *)parm;

	switch (cmd) {
	case QSNAP_IOC_GET_FEATURES:
		return qsnap_ctl_get_features(argp);
	case QSNAP_IOC_GET_INFO:
		return qsnap_ctl_get_info(argp);
	}

	/*
	 * Attaching parses an untrusted file in the kernel and creates a
	 * block device; detaching removes one that others may rely on.  Both
	 * are for the administrator only (cf. zram CVE-2020-10781).
	 */
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	switch (cmd) {
	case QSNAP_IOC_ATTACH:
		return qsnap_ctl_attach(argp);
	case QSNAP_IOC_DETACH:
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

// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnap control device, /dev/qsnap-control: attach, detach and query.
 *
 * Attach is one atomic call (in the spirit of LOOP_CONFIGURE): it takes an
 * fd of the image that the caller opened read-only, so the caller's own
 * permissions decide what can be read, parses and validates the image,
 * and creates /dev/qsnapN in one go.  Each command first validates what
 * the caller passed, then applies it: the layers (qsnap_layer.c), the
 * disk and its index (qsnap_disk.c).
 */
#include <linux/capability.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
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
static_assert(sizeof(struct qsnap_key) == 88);

static bool qsnap_all_zero(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

/* One entry of the backing array: flags, format, reserved fields, fds. */
static int qsnap_ctl_validate_backing(const struct qsnap_backing *b)
{
	if ((b->flags & ~QSNAP_BACKING_F_DATA_FILE) ||
	    (b->format != QSNAP_FORMAT_QCOW2 && b->format != QSNAP_FORMAT_RAW) ||
	    !qsnap_all_zero(b->__reserved, sizeof(b->__reserved)) ||
	    (!(b->flags & QSNAP_BACKING_F_DATA_FILE) && b->data_fd))
		return -EINVAL;
	/* A flag that says "this is an fd" gets an fd. */
	if ((b->flags & QSNAP_BACKING_F_DATA_FILE) && b->data_fd < 0)
		return -EBADF;
	return 0;
}

/*
 * The keys: each for a layer of the chain, no layer twice, of a size a
 * key can have, with nothing past that size and no unknown flags or
 * reserved bits set; a logon key's description has no NUL inside and
 * room for the one after it.
 */
static int qsnap_ctl_validate_keys(const struct qsnap_attach *arg,
				   const struct qsnap_key *keys)
{
	unsigned int i, j;

	for (i = 0; i < arg->nr_keys; i++) {
		const struct qsnap_key *k = &keys[i];

		if (k->layer > arg->nr_backing || !k->size ||
		    k->size > QSNAP_KEY_MAX ||
		    !qsnap_all_zero(k->key + k->size, QSNAP_KEY_MAX - k->size) ||
		    (k->flags & ~QSNAP_KEY_F_KEYRING) || k->__pad ||
		    k->__reserved)
			return -EINVAL;
		if ((k->flags & QSNAP_KEY_F_KEYRING) &&
		    (k->size == QSNAP_KEY_MAX || memchr(k->key, 0, k->size)))
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (keys[j].layer == k->layer)
				return -EINVAL;
	}
	return 0;
}

/* A copy of the caller's keys, or NULL when there are none. */
static struct qsnap_key *qsnap_ctl_copy_keys(const struct qsnap_attach *arg)
{
	size_t bytes = arg->nr_keys * sizeof(struct qsnap_key);
	struct qsnap_key *keys;

	if (!arg->nr_keys)
		return NULL;
	keys = kmalloc(bytes, GFP_KERNEL);
	if (!keys)
		return ERR_PTR(-ENOMEM);
	if (copy_from_user(keys, u64_to_user_ptr(arg->keys), bytes)) {
		kfree_sensitive(keys);
		return ERR_PTR(-EFAULT);
	}
	return keys;
}

/*
 * Check everything the caller passed that can be checked without opening
 * a file (as ublk_validate_params() does before ublk_apply_params()):
 * flags, reserved fields, the snapshot string, the settings and every
 * entry of the backing and key arrays, of which *@backing and *@keys get
 * copies (NULL when there are none; the caller frees them, the keys with
 * kfree_sensitive()).  Nothing is opened or allocated for the device
 * before this succeeds.
 */
static int qsnap_ctl_validate_attach(void __user *argp,
				     struct qsnap_attach *arg,
				     struct qsnap_settings *set,
				     struct qsnap_backing **backing,
				     struct qsnap_key **keys)
{
	unsigned int i;
	int ret;

	*backing = NULL;
	*keys = NULL;
	if (copy_from_user(arg, argp, sizeof(*arg)))
		return -EFAULT;
	if ((arg->flags & ~QSNAP_ATTACH_SETTABLE_FLAGS) || arg->__pad ||
	    arg->__pad3 || arg->size ||
	    !qsnap_all_zero(arg->__reserved, sizeof(arg->__reserved)))
		return -EINVAL;
	if (arg->nr_keys > 1 + QSNAP_MAX_BACKING ||
	    (!arg->nr_keys && arg->keys))
		return -EINVAL;
	if (strnlen(arg->snapshot, sizeof(arg->snapshot)) == sizeof(arg->snapshot))
		return -EINVAL;
	if (!(arg->flags & QSNAP_ATTACH_F_SNAPSHOT) &&
	    !qsnap_all_zero(arg->snapshot, sizeof(arg->snapshot)))
		return -EINVAL;
	if (!(arg->flags & QSNAP_ATTACH_F_DATA_FILE) && arg->data_fd)
		return -EINVAL;
	if ((arg->flags & QSNAP_ATTACH_F_DATA_FILE) && arg->data_fd < 0)
		return -EBADF;
	if (arg->nr_backing > QSNAP_MAX_BACKING ||
	    (!arg->nr_backing && arg->backing) ||
	    ((arg->flags & QSNAP_ATTACH_F_NO_BACKING) && arg->nr_backing))
		return -EINVAL;
	ret = qsnap_settings_get(arg, set);
	if (ret)
		return ret;
	/*
	 * The answer goes back into @argp: find out now whether it can, so
	 * that no device is made for a caller who cannot learn its index.
	 */
	if (copy_to_user(argp, arg, sizeof(*arg)))
		return -EFAULT;
	*keys = qsnap_ctl_copy_keys(arg);
	if (IS_ERR(*keys)) {
		ret = PTR_ERR(*keys);
		*keys = NULL;
		return ret;
	}
	ret = qsnap_ctl_validate_keys(arg, *keys);
	if (ret)
		return ret;
	if (!arg->nr_backing)
		return 0;
	*backing = memdup_user(u64_to_user_ptr(arg->backing),
			       arg->nr_backing * sizeof(**backing));
	if (IS_ERR(*backing)) {
		ret = PTR_ERR(*backing);
		*backing = NULL;
		return ret;
	}
	for (i = 0; i < arg->nr_backing; i++) {
		ret = qsnap_ctl_validate_backing(&(*backing)[i]);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Key each encrypted layer with the key passed for it (qsnap_crypt.c):
 * every encrypted layer needs one, and a key for a layer that is not
 * encrypted is a mistake of the caller's.
 */
static int qsnap_ctl_apply_keys(struct qsnap_device *qs,
				const struct qsnap_key *keys, u32 nr_keys)
{
	const struct qsnap_key *key;
	struct qsnap_image *im;
	char name[LUKS1_NAME_LEN * 3];
	unsigned int i, k;
	bool encrypted;
	int ret;

	for (i = 0; i < qs->nr_layers; i++) {
		im = qs->layers[i].im;
		encrypted = im->format == QSNAP_FORMAT_QCOW2 &&
			    im->qcow2.crypt_method != QCOW2_CRYPT_NONE;
		key = NULL;
		for (k = 0; k < nr_keys; k++)
			if (keys[k].layer == i)
				key = &keys[k];
		if (!encrypted && key) {
			pr_err("%s: a key was passed, but the image is not encrypted\n",
			       im->log_path);
			return -EINVAL;
		}
		if (!encrypted)
			continue;
		qcow2_crypto_name(&im->qcow2.crypto, name, sizeof(name));
		if (!key) {
			pr_err("%s: the image is encrypted (%s %s): its key is needed\n",
			       im->log_path,
			       im->qcow2.crypt_method == QCOW2_CRYPT_LUKS ?
			       "LUKS" : "legacy AES", name);
			return -ENOKEY;
		}
		ret = qsnap_crypt_init(im, key);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Build the device the validated arguments describe: open and check its
 * layers (qsnap_layer.c), key the encrypted ones, then set up their
 * caches.  Every refusal of a file logs one line.
 */
static struct qsnap_device *qsnap_ctl_build(const struct qsnap_attach *arg,
					    const struct qsnap_settings *set,
					    const struct qsnap_backing *backing,
					    const struct qsnap_key *keys)
{
	struct qsnap_device *qs;
	struct qsnap_layer *top;
	unsigned int i;
	int ret;

	qs = kzalloc(sizeof(*qs), GFP_KERNEL);
	if (!qs)
		return ERR_PTR(-ENOMEM);
	qs->set = *set;
	qs->no_partscan = arg->flags & QSNAP_ATTACH_F_NO_PARTSCAN;
	qs->autoclear = arg->flags & QSNAP_ATTACH_F_AUTOCLEAR;
	qs->nr_layers = 1 + arg->nr_backing;
	qs->layers = kcalloc(qs->nr_layers, sizeof(*qs->layers), GFP_KERNEL);
	if (!qs->layers) {
		ret = -ENOMEM;
		goto out_free;
	}
	top = qsnap_top(qs);

	ret = qsnap_layer_open(top, arg->image_fd, QSNAP_FORMAT_QCOW2,
			       arg->flags & QSNAP_ATTACH_F_DATA_FILE ?
			       arg->data_fd : -1);
	if (ret)
		goto out_free;
	if (arg->flags & QSNAP_ATTACH_F_SNAPSHOT) {
		ret = qsnap_layer_select(top, arg->snapshot);
		if (ret)
			goto out_free;
	}
	for (i = 0; i < arg->nr_backing; i++) {
		const struct qsnap_backing *b = &backing[i];

		ret = qsnap_layer_open(&qs->layers[i + 1], b->fd, b->format,
				       b->flags & QSNAP_BACKING_F_DATA_FILE ?
				       b->data_fd : -1);
		if (ret)
			goto out_free;
	}
	ret = qsnap_layers_check_chain(qs, arg->flags & QSNAP_ATTACH_F_NO_BACKING);
	if (ret)
		goto out_free;
	ret = qsnap_ctl_apply_keys(qs, keys, arg->nr_keys);
	if (ret)
		goto out_free;
	if (top->im->qcow2.incompatible_features & QCOW2_INCOMPAT_CORRUPT)
		pr_warn("%s: image is marked corrupt; reading it anyway (read-only)\n",
			top->im->log_path);
	ret = qsnap_layers_setup(qs);
	if (ret)
		goto out_free;
	return qs;

out_free:
	qsnap_free(qs);
	return ERR_PTR(ret);
}

static int qsnap_ctl_attach(void __user *argp)
{
	struct qsnap_backing *backing;
	struct qsnap_settings set;
	struct qsnap_attach arg;
	struct qsnap_device *qs;
	struct qsnap_key *keys;
	int ret;

	ret = qsnap_ctl_validate_attach(argp, &arg, &set, &backing, &keys);
	if (!ret) {
		qs = qsnap_ctl_build(&arg, &set, backing, keys);
		ret = PTR_ERR_OR_ZERO(qs);
	}
	kfree(backing);
	/* The keys live on in the ciphers' state only. */
	kfree_sensitive(keys);
	if (ret)
		return ret;

	arg.size = qsnap_disk_bytes(qs);
	/*
	 * From here on @qs is the gendisk's and may be detached and freed
	 * by another caller at any time: only @arg is ours.
	 */
	ret = qsnap_add(qs, arg.index);
	if (ret < 0) {
		qsnap_free(qs);
		return ret;
	}
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
}

static int qsnap_ctl_detach(void __user *argp)
{
	struct qsnap_detach arg;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if ((arg.flags & ~QSNAP_DETACH_F_LAZY) ||
	    !qsnap_all_zero(arg.__reserved, sizeof(arg.__reserved)))
		return -EINVAL;
	return qsnap_detach(arg.index, arg.flags & QSNAP_DETACH_F_LAZY);
}

static int qsnap_ctl_get_info(void __user *argp)
{
	struct qsnap_info *info;
	u32 index;
	int ret;

	if (get_user(index, (u32 __user *)argp))
		return -EFAULT;
	/* Output only: every byte is filled in, so nothing of ours leaks. */
	info = kzalloc(sizeof(*info), GFP_KERNEL);
	if (!info)
		return -ENOMEM;
	ret = qsnap_get_info(index, info);
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
				  QSNAP_FEATURE_DATA_FILE |
				  QSNAP_FEATURE_LUKS | QSNAP_FEATURE_AES |
				  QSNAP_FEATURE_KEYRING,
		.attach_flags	= QSNAP_ATTACH_SETTABLE_FLAGS,
		.attach_set	= QSNAP_SETTABLE,
		.detach_flags	= QSNAP_DETACH_F_LAZY,
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

/*
 * The control node's misc minor, from devices.txt's "243-254 Reserved for
 * local use" until one is assigned (loop has LOOP_CTRL_MINOR).  A fixed
 * minor lets kmod's static-nodes make /dev/qsnap-control at boot and its
 * first open load the module (the aliases below).  Should another local
 * driver hold it, the node comes up with a dynamic minor: only the
 * autoload is lost, and qsnapctl checks that the node it opens is ours.
 */
#define QSNAP_CTRL_MINOR	248
MODULE_ALIAS_MISCDEV(QSNAP_CTRL_MINOR);
MODULE_ALIAS("devname:" QSNAP_CONTROL_NAME);

static struct miscdevice qsnap_misc = {
	.minor		= QSNAP_CTRL_MINOR,
	.name		= QSNAP_CONTROL_NAME,
	.fops		= &qsnap_ctl_fops,
};

int qsnap_ctl_init(void)
{
	int ret = misc_register(&qsnap_misc);

	if (ret != -EBUSY)
		return ret;
	pr_info("misc minor %d is taken: /dev/%s gets a dynamic one, and opening it no longer loads the module\n",
		QSNAP_CTRL_MINOR, QSNAP_CONTROL_NAME);
	qsnap_misc.minor = MISC_DYNAMIC_MINOR;
	return misc_register(&qsnap_misc);
}

void qsnap_ctl_exit(void)
{
	misc_deregister(&qsnap_misc);
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * A test module that holds the misc minor qsnap's control node asks for,
 * as another local driver of devices.txt's "243-254 Reserved for local
 * use" might.  It counts the ioctls it gets, so that a test can tell that
 * qsnapctl sent none to a node with that number which is not qsnap's.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>

static int minor = 248;
module_param(minor, int, 0444);
MODULE_PARM_DESC(minor, "The misc minor to hold (qsnap's control node's by default)");

static int ioctls;
module_param(ioctls, int, 0444);
MODULE_PARM_DESC(ioctls, "How many ioctls the node has had (read-only)");

static long squatter_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg)
{
	WRITE_ONCE(ioctls, READ_ONCE(ioctls) + 1);
	return -ENOTTY;
}

static const struct file_operations squatter_fops = {
	.owner		= THIS_MODULE,
	.open		= nonseekable_open,
	.unlocked_ioctl	= squatter_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice squatter_misc = {
	.name		= "qsnap-test-squatter",
	.fops		= &squatter_fops,
};

static int __init squatter_init(void)
{
	squatter_misc.minor = minor;
	return misc_register(&squatter_misc);
}

static void __exit squatter_exit(void)
{
	misc_deregister(&squatter_misc);
}

module_init(squatter_init);
module_exit(squatter_exit);
MODULE_DESCRIPTION("qsnap test: hold a misc minor");
MODULE_LICENSE("GPL");

// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnap: an internal snapshot (or the current state) of a qcow2 image as a
 * read-only block device.  The module's entry points: the block major
 * (qsnap_disk.c), the debugfs counters (qsnap_debugfs.c) and the control
 * device (qsnap_ctl.c).
 */
#include <linux/module.h>

#include "qsnap.h"

static int __init qsnap_init(void)
{
	int ret;

	ret = qsnap_disk_init();
	if (ret)
		return ret;
	qsnap_debugfs_init();
	ret = qsnap_ctl_init();
	if (ret) {
		qsnap_debugfs_exit();
		qsnap_disk_exit();
		return ret;
	}
	return 0;
}

static void __exit qsnap_exit(void)
{
	/* No new attaches; no device can be open (each open pins us). */
	qsnap_ctl_exit();
	qsnap_debugfs_exit();
	qsnap_disk_exit();
}

module_init(qsnap_init);
module_exit(qsnap_exit);

MODULE_DESCRIPTION("Read-only block devices from qcow2 image snapshots");
MODULE_LICENSE("GPL");
MODULE_VERSION(QSNAP_VERSION);

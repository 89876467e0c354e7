// SPDX-License-Identifier: GPL-2.0-only
/*
 * /sys/kernel/debug/qsnap/memory: what qsnap itself holds for the images
 * (qsnap_image.c) and the devices (qsnap_disk.c), for the memory tests:
 *   images N, image_bytes B, devices N, device_bytes B
 * Without debugfs the module works all the same: nothing is checked.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "qsnap.h"

static struct dentry *qsnap_debugfs_dir;

static int qsnap_memory_show(struct seq_file *m, void *unused)
{
	unsigned int images, devices;
	size_t image_bytes, device_bytes;

	qsnap_images_memory(&images, &image_bytes);
	qsnap_devices_memory(&devices, &device_bytes);
	seq_printf(m, "images %u\nimage_bytes %zu\ndevices %u\ndevice_bytes %zu\n",
		   images, image_bytes, devices, device_bytes);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(qsnap_memory);

void qsnap_debugfs_init(void)
{
	qsnap_debugfs_dir = debugfs_create_dir("qsnap", NULL);
	debugfs_create_file("memory", 0444, qsnap_debugfs_dir, NULL,
			    &qsnap_memory_fops);
}

void qsnap_debugfs_exit(void)
{
	debugfs_remove_recursive(qsnap_debugfs_dir);
}

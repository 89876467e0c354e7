// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnap per-device settings: what an attach asks for in struct
 * qsnap_attach (QSNAP_SET_*), the module parameters for what it does not.
 * The parameters are read once, at attach; a device keeps its settings
 * for life (sysfs shows them).
 */
#include <linux/moduleparam.h>

#include "qsnap.h"

static bool direct_io = true;
module_param(direct_io, bool, 0644);
MODULE_PARM_DESC(direct_io,
		 "Read data clusters with O_DIRECT, as loop --direct-io=on does: no second copy in the page cache, no copy through it (default Y; the default of the attach setting; where the file system cannot, data is read through the page cache)");

static bool share_images = true;
module_param(share_images, bool, 0644);
MODULE_PARM_DESC(share_images,
		 "Devices showing snapshots of the same image file with the same metadata share one parsed header, snapshot table, L2 cache and decompressed-cluster cache (default Y; the default of the attach setting)");

static unsigned int l2_cache_kb = QSNAP_L2_CACHE_DEFAULT_KB;
module_param(l2_cache_kb, uint, 0644);
MODULE_PARM_DESC(l2_cache_kb,
		 "L2 tables cached per image of an attached device, in KiB (default 1024: 8 GiB of guest space with 64 KiB clusters; the default of the attach setting; at least 4 tables)");

static unsigned int recheck_ms = 1000;
module_param(recheck_ms, uint, 0644);
MODULE_PARM_DESC(recheck_ms,
		 "A device showing a snapshot re-reads the image's snapshot table before the first read after an open and, while it serves reads, at most every recheck_ms milliseconds (default 1000; 0: before every request; the default of the attach setting); once its snapshot is deleted or replaced, reads fail with EIO");

/**
 * qsnap_settings_get() - a device's settings from its attach argument
 * @arg: the attach argument (copied in)
 * @set: filled in
 *
 * Validates before anything is applied: unknown QSNAP_SET_* bits, values
 * out of range and nonzero fields of settings not given are -EINVAL.
 *
 * Return: 0 or -EINVAL.
 */
int qsnap_settings_get(const struct qsnap_attach *arg,
		       struct qsnap_settings *set)
{
	u32 given = arg->set;

	if ((given & ~QSNAP_SETTABLE) || arg->__pad2 ||
	    arg->direct_io > 1 || arg->share_images > 1 ||
	    (!(given & QSNAP_SET_DIRECT_IO) && arg->direct_io) ||
	    (!(given & QSNAP_SET_SHARE_IMAGES) && arg->share_images) ||
	    (!(given & QSNAP_SET_L2_CACHE_KB) && arg->l2_cache_kb) ||
	    (!(given & QSNAP_SET_RECHECK_MS) && arg->recheck_ms) ||
	    ((given & QSNAP_SET_L2_CACHE_KB) && !arg->l2_cache_kb))
		return -EINVAL;

	set->direct_io = given & QSNAP_SET_DIRECT_IO ? arg->direct_io :
						       READ_ONCE(direct_io);
	set->share_images = given & QSNAP_SET_SHARE_IMAGES ?
			    arg->share_images : READ_ONCE(share_images);
	set->l2_cache_kb = given & QSNAP_SET_L2_CACHE_KB ? arg->l2_cache_kb :
							   READ_ONCE(l2_cache_kb);
	set->recheck_ms = given & QSNAP_SET_RECHECK_MS ? arg->recheck_ms :
							 READ_ONCE(recheck_ms);
	return 0;
}

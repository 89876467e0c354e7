/* SPDX-License-Identifier: GPL-2.0-only */
/* qsnapctl mount: the file systems on a qsnap device (probe.c). */
#ifndef QSNAPCTL_PROBE_H
#define QSNAPCTL_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * struct fs_candidate - a place a file system may be
 * @dev:	/dev/qsnapN, /dev/qsnapNpK, or a logical volume's device
 * @partno:	K, or 0 for the whole device
 * @lv:		"VG/LV" as the snapshot names it, for a logical volume
 * @type:	what libblkid found there ("" for nothing it knows)
 * @usage:	libblkid's word for what it is: "filesystem", "raid" (an LVM
 *		physical volume too), "crypto", "other" (swap)
 * @label:	its label, or ""
 * @uuid:	its UUID, or ""
 * @size:	bytes
 */
struct fs_candidate {
	char dev[256];
	int partno;
	char lv[256];
	char type[32];
	char usage[16];
	char label[128];
	char uuid[64];
	uint64_t size;
};

int probe_filesystem(const char *dev, struct fs_candidate *c);
int probe_candidates(uint32_t index, struct fs_candidate **out);
bool uuid_mounted(const char *type, const char *uuid, char *where,
		  size_t len);

#endif /* QSNAPCTL_PROBE_H */

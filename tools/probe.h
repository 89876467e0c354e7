/* SPDX-License-Identifier: GPL-2.0-only */
/* qsnapctl mount: the file systems on a qsnap device (probe.c). */
#ifndef QSNAPCTL_PROBE_H
#define QSNAPCTL_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * struct fs_candidate - a place a file system may be
 * @dev:	/dev/qsnapN or /dev/qsnapNpK
 * @partno:	K, or 0 for the whole device
 * @type:	what libblkid found there ("" for nothing it knows)
 * @label:	its label, or ""
 * @uuid:	its UUID, or ""
 * @size:	bytes
 */
struct fs_candidate {
	char dev[64];
	int partno;
	char type[32];
	char label[128];
	char uuid[64];
	uint64_t size;
};

int probe_filesystem(const char *dev, struct fs_candidate *c);
int probe_candidates(uint32_t index, struct fs_candidate **out);
bool uuid_mounted(const char *type, const char *uuid, char *where,
		  size_t len);

#endif /* QSNAPCTL_PROBE_H */

/* SPDX-License-Identifier: GPL-2.0-only */
/* qsnapctl mount: the throw-away writable layer (overlay.c). */
#ifndef QSNAPCTL_OVERLAY_H
#define QSNAPCTL_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The overlay's copy-on-write store unless --overlay-size says otherwise. */
#define OVERLAY_DEFAULT_BYTES	(1ULL << 30)

/**
 * struct overlay - a device-mapper snapshot over a read-only device
 * @name:	its device-mapper name
 * @dev:	its path, /dev/mapper/@name
 * @loop_fd:	the copy-on-write loop device, while being set up
 * @created:	the device-mapper device exists
 */
struct overlay {
	char name[64];
	char dev[96];
	int loop_fd;
	bool created;
};

/*
 * Make a writable @name over @src whose writes go to @cow_bytes of memory.
 * 0, or -1 after saying why (nothing left behind).
 */
int overlay_create(const char *src, const char *name, uint64_t cow_bytes,
		   struct overlay *ov);
/*
 * Remove it: at once (a failed mount), or @deferred until its last user
 * closes it (a mounted one: umount then frees everything).
 */
void overlay_release(struct overlay *ov, bool deferred);
/*
 * The device-mapper name of @dev if it is an overlay qsnapctl made
 * ("qsnap...-overlay"); 0, or -1 if it is not one.
 */
int overlay_name_of(const char *dev, char *name, size_t len);
/* dmsetup remove @name (@deferred: when its last user closes it); 0 or -1. */
int dm_remove(const char *name, bool deferred);

#endif /* QSNAPCTL_OVERLAY_H */

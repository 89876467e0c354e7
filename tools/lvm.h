/* SPDX-License-Identifier: GPL-2.0-only */
/* qsnapctl mount: an LVM volume group inside a snapshot (lvm.c). */
#ifndef QSNAPCTL_LVM_H
#define QSNAPCTL_LVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probe.h"

/* Physical volumes of one volume group that qsnapctl mount takes. */
#define LVM_MAX_PVS	16
/* LVM's limit on a volume group's name, with its NUL */
#define LVM_NAME_LEN	128

/**
 * struct lvm_vg - a snapshot's volume group, active under a name of its own
 * @name:	its name in the snapshot
 * @active_name: what it is called while active: qsnapN_@name
 * @uuid:	its UUID after the rename, without hyphens (as device-mapper
 *		UUIDs of its logical volumes carry it)
 * @pvs:	its physical volumes (overlays: the rename is written there)
 * @npv:	how many
 * @active:	it is active
 */
struct lvm_vg {
	char name[LVM_NAME_LEN];
	char active_name[LVM_NAME_LEN];
	char uuid[64];
	const char *pvs[LVM_MAX_PVS];
	int npv;
	bool active;
};

/*
 * The name of the volume group physical volume @pv belongs to, in @vg
 * ("" for none).  0, or -1 after saying why.
 */
int lvm_vg_of(const char *pv, char *vg, size_t len);
/*
 * Give volume group @name on the writable @pvs a new name and new UUIDs
 * (vgimportclone: nothing of it clashes with a volume group of the host
 * that has the same origin) and activate it.  0, or -1 after saying why
 * (nothing left active).
 */
int lvm_activate(uint32_t index, const char *name, const char *const pvs[],
		 int npv, struct lvm_vg *vg);
/*
 * Its active logical volumes and what is on them; how many, with *@out to
 * free, or -1 after saying why.
 */
int lvm_volumes(const struct lvm_vg *vg, struct fs_candidate **out);
/*
 * Deactivate it: at once, or each of its device-mapper devices removed
 * @deferred, when its last user (a mount) closes it.
 */
void lvm_release(struct lvm_vg *vg, bool deferred);

#endif /* QSNAPCTL_LVM_H */

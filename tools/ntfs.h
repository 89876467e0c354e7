/* SPDX-License-Identifier: GPL-2.0-only */
/* qsnapctl mount: how Windows left an NTFS volume (ntfs.c). */
#ifndef QSNAPCTL_NTFS_H
#define QSNAPCTL_NTFS_H

#include <stdbool.h>
#include <stdint.h>

/* $Volume's VOLUME_INFORMATION flags: chkdsk is due (a crash, an error). */
#define NTFS_VOLUME_IS_DIRTY	0x0001

/**
 * ntfs_volume_flags() - the flags of the NTFS volume on @fd
 * @fd:		the device (or a file) holding it, from byte 0
 * @flags:	VOLUME_INFORMATION's flags (NTFS_VOLUME_IS_DIRTY, ...)
 *
 * Return: 0; -EINVAL if the boot sector or $Volume's record is not one
 * ntfs3 would take, -ENOENT if the record has no VOLUME_INFORMATION,
 * -EIO if reading failed.
 */
int ntfs_volume_flags(int fd, uint16_t *flags);

/*
 * Whether @dir (a mounted NTFS) holds a hiberfil.sys, a regular file and
 * not a symlink, that starts "hibr".
 */
bool ntfs_hibernated(const char *dir);

#endif /* QSNAPCTL_NTFS_H */

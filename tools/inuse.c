// SPDX-License-Identifier: GPL-2.0-only
/*
 * Whether a running QEMU writes an image: QEMU's file-posix driver marks
 * the permissions it holds with shared OFD locks on byte 100 + bit and
 * the ones it does not let others have on byte 200 + bit (BLK_PERM_WRITE
 * is bit 1: bytes 101 and 201).  A lock on byte 101 is a writer; one on
 * 201 only a reader that wants no writers (qemu-img convert's source),
 * so that byte is not asked.  F_OFD_GETLK asks without taking a lock, so
 * qemu-img and QEMU never see qsnapctl.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "qsnapctl.h"

#define QEMU_LOCK_PERM_BASE	100
#define QEMU_PERM_WRITE_BIT	1

/* Whether some other open file holds a lock on byte @byte of @fd. */
static int byte_locked(int fd, off_t byte)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;	/* conflicts with any lock of another */
	fl.l_whence = SEEK_SET;
	fl.l_start = byte;
	fl.l_len = 1;
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	return fl.l_type != F_UNLCK;
}

/**
 * image_written_by_qemu() - whether a QEMU process holds @fd's image with
 *	write permission
 * @fd: the image, open for reading
 *
 * Return: 1 (written), 0 (not, or by a writer that takes no locks, such
 * as QEMU with locking=off), or -errno when the file system cannot say.
 */
int image_written_by_qemu(int fd)
{
	return byte_locked(fd, QEMU_LOCK_PERM_BASE + QEMU_PERM_WRITE_BIT);
}

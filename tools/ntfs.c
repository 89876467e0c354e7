// SPDX-License-Identifier: GPL-2.0-only
/*
 * What an NTFS volume in a snapshot says of how Windows left it: marked
 * dirty ($Volume's VOLUME_INFORMATION flags), or hibernated (hiberfil.sys).
 * Neither NTFS driver on Linux replays the journal, so qsnapctl mount says
 * so.  The on-disk layout is the one ntfs-3g's layout.h and the kernel's
 * fs/ntfs3/ntfs.h describe; everything read from the device is untrusted
 * and bounded before use.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ntfs.h"

#define NTFS_BLOCK_SIZE		512	/* the update sequence stride */
#define NTFS_MFT_VOLUME		3	/* $Volume's MFT record number */
#define NTFS_AT_VOLUME_INFO	0x70
#define NTFS_AT_END		0xffffffffu
#define NTFS_MAX_RECORD		4096	/* what ntfs3 and ntfs-3g accept */

static uint16_t get16(const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static bool power_of_2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/*
 * The boot sector's geometry: where $Volume's MFT record is and how big
 * records are.  -EINVAL for anything ntfs3 would not mount either.
 */
static int ntfs_volume_record_at(const unsigned char *boot, uint64_t *pos,
				 uint32_t *record_size)
{
	uint32_t sector = get16(boot + 0x0b);
	uint64_t spc = boot[0x0d], cluster;
	int8_t per_record = (int8_t)boot[0x40];
	uint64_t mft_lcn = get64(boot + 0x30);

	if (memcmp(boot + 3, "NTFS    ", 8) || get16(boot + 0x1fe) != 0xaa55)
		return -EINVAL;
	if (!power_of_2(sector) || sector < 256 || sector > 4096)
		return -EINVAL;
	/* 0xf4..0xff: 2^(256 - spc) sectors, for clusters over 64 KiB */
	if (spc > 0x80) {
		if (256 - spc > 20)
			return -EINVAL;
		spc = 1ull << (256 - spc);
	}
	if (!power_of_2(spc))
		return -EINVAL;
	cluster = sector * spc;
	if (cluster > (2u << 20))	/* 2 MiB, what ntfs3 takes */
		return -EINVAL;
	if (per_record < 0) {
		if (-per_record < 8 || -per_record > 12)
			return -EINVAL;
		*record_size = 1u << -per_record;
	} else {
		if (per_record == 0 || per_record * cluster > NTFS_MAX_RECORD)
			return -EINVAL;
		*record_size = per_record * cluster;
	}
	if (*record_size < NTFS_BLOCK_SIZE || !power_of_2(*record_size))
		return -EINVAL;
	if (mft_lcn > (UINT64_MAX - NTFS_MFT_VOLUME * NTFS_MAX_RECORD) / cluster)
		return -EINVAL;
	*pos = mft_lcn * cluster + (uint64_t)NTFS_MFT_VOLUME * *record_size;
	return 0;
}

/*
 * Undo the update sequence: the last two bytes of every 512-byte block
 * of a record hold the sequence number (checked: a torn write shows
 * there), their real contents are in the array.
 */
static int ntfs_apply_fixups(unsigned char *rec, uint32_t size)
{
	uint16_t usa_ofs = get16(rec + 4), usa_count = get16(rec + 6);
	uint16_t usn;
	unsigned int i;

	if (memcmp(rec, "FILE", 4))
		return -EINVAL;
	if (usa_count != size / NTFS_BLOCK_SIZE + 1 || usa_ofs & 1 ||
	    usa_ofs + 2u * usa_count > NTFS_BLOCK_SIZE - 2)
		return -EINVAL;
	usn = get16(rec + usa_ofs);
	for (i = 1; i < usa_count; i++) {
		unsigned char *tail = rec + i * NTFS_BLOCK_SIZE - 2;

		if (get16(tail) != usn)
			return -EINVAL;
		memcpy(tail, rec + usa_ofs + 2 * i, 2);
	}
	return 0;
}

/* The flags of the (resident) VOLUME_INFORMATION attribute of @rec. */
static int ntfs_record_volume_flags(const unsigned char *rec, uint32_t size,
				    uint16_t *flags)
{
	uint32_t off = get16(rec + 0x14), used = get32(rec + 0x18);

	if (used > size || used < 0x20)
		return -EINVAL;
	while (off <= used - 8 && off >= 0x18 && !(off & 7)) {
		const unsigned char *a = rec + off;
		uint32_t type = get32(a), len = get32(a + 4);
		uint32_t vlen, voff;

		if (type == NTFS_AT_END)
			break;
		if (len < 0x18 || len & 7 || len > used - off)
			return -EINVAL;
		if (type == NTFS_AT_VOLUME_INFO) {
			if (a[8])		/* never non-resident */
				return -EINVAL;
			vlen = get32(a + 0x10);
			voff = get16(a + 0x14);
			if (vlen < 12 || voff > len || vlen > len - voff)
				return -EINVAL;
			*flags = get16(a + voff + 10);
			return 0;
		}
		off += len;
	}
	return -ENOENT;
}

int ntfs_volume_flags(int fd, uint16_t *flags)
{
	unsigned char boot[512], rec[NTFS_MAX_RECORD];
	uint32_t size;
	uint64_t pos;
	int ret;

	if (pread(fd, boot, sizeof(boot), 0) != sizeof(boot))
		return -EIO;
	ret = ntfs_volume_record_at(boot, &pos, &size);
	if (ret)
		return ret;
	if (pos > (uint64_t)LLONG_MAX - size)
		return -EINVAL;
	if (pread(fd, rec, size, (off_t)pos) != (ssize_t)size)
		return -EIO;
	ret = ntfs_apply_fixups(rec, size);
	return ret ? ret : ntfs_record_volume_flags(rec, size, flags);
}

bool ntfs_hibernated(const char *dir)
{
	char path[PATH_MAX], self[64], sig[4];
	struct stat st;
	ssize_t n;
	int pfd, fd;

	if (snprintf(path, sizeof(path), "%s/hiberfil.sys", dir) >= (int)sizeof(path))
		return false;
	/*
	 * The file is the image author's: a symlink is not followed, and
	 * only a regular file is opened (O_PATH opens no FIFO or device).
	 */
	pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return false;
	if (fstat(pfd, &st) || !S_ISREG(st.st_mode)) {
		close(pfd);
		return false;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	fd = open(self, O_RDONLY | O_CLOEXEC);
	close(pfd);
	if (fd < 0)
		return false;
	n = pread(fd, sig, sizeof(sig), 0);
	close(fd);
	return n == sizeof(sig) && !strncasecmp(sig, "hibr", sizeof(sig));
}

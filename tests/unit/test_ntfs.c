// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of tools/ntfs.c, qsnapctl mount's reading of an NTFS
 * volume's flags.  The volumes are made by ntfs-3g's mkntfs (clean) and
 * ntfsfix (which marks a volume dirty to have chkdsk run); the oracle is
 * ntfs-3g's own ntfsinfo.  Then damaged copies: a clear error, never a
 * read out of bounds (AddressSanitizer).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tap.h"
#include "ntfs.h"

static char dir[] = "/tmp/qsnap-ntfs-XXXXXX";

static int run(const char *fmt, const char *arg)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), fmt, arg, arg);
	return system(cmd);
}

/* What ntfsinfo says of the volume's flags: 1 dirty, 0 not, -1 unknown. */
static int ntfsinfo_dirty(const char *img)
{
	char cmd[512], line[256];
	int dirty = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ntfsinfo -f -m %s 2>/dev/null", img);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p)) {
		unsigned int flags;
		char *f = strstr(line, "Volume Flags: ");

		if (f && sscanf(f + 14, "%x", &flags) == 1)
			dirty = flags & NTFS_VOLUME_IS_DIRTY;
	}
	pclose(p);
	return dirty;
}

static int flags_of(const char *img, uint16_t *flags)
{
	int fd = open(img, O_RDONLY), ret;

	if (fd < 0)
		return -errno;
	ret = ntfs_volume_flags(fd, flags);
	close(fd);
	return ret;
}

/* mkntfs a 64 MiB volume with @opts into @img; 0 if it worked. */
static int make_volume(const char *img, const char *opts)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
		 "rm -f %s && truncate -s 64M %s && mkntfs -q -Q -F %s %s >/dev/null 2>&1",
		 img, img, opts, img);
	return system(cmd);
}

static void test_geometry(const char *opts, const char *what)
{
	char img[64], name[160];
	uint16_t flags = 0xffff;
	int ret;

	snprintf(img, sizeof(img), "%s/v.img", dir);
	if (make_volume(img, opts)) {
		check(0, what, "mkntfs failed");
		return;
	}
	ret = flags_of(img, &flags);
	snprintf(name, sizeof(name), "%s: clean, as ntfsinfo says", what);
	check(ret == 0 && !(flags & NTFS_VOLUME_IS_DIRTY) && ntfsinfo_dirty(img) == 0,
	      name, strerror(-ret));
	run("ntfsfix %s >/dev/null 2>&1", img);
	ret = flags_of(img, &flags);
	snprintf(name, sizeof(name), "%s: marked dirty by ntfsfix, as ntfsinfo says", what);
	check(ret == 0 && (flags & NTFS_VOLUME_IS_DIRTY) && ntfsinfo_dirty(img) == 1,
	      name, strerror(-ret));
}

/* Where $Volume's record is, computed here as the boot sector gives it. */
static long volume_record(int fd, unsigned int *size)
{
	unsigned char b[512];
	unsigned int cluster;
	int8_t per;
	uint64_t lcn;

	if (pread(fd, b, sizeof(b), 0) != sizeof(b))
		return -1;
	cluster = (b[0x0b] | b[0x0c] << 8) * b[0x0d];
	memcpy(&lcn, b + 0x30, sizeof(lcn));
	per = (int8_t)b[0x40];
	*size = per < 0 ? 1u << -per : per * cluster;
	return (long)(lcn * cluster + 3 * *size);
}

static void poke(int fd, long off, const void *p, size_t n)
{
	if (pwrite(fd, p, n, off) != (ssize_t)n)
		perror("pwrite");
}

/* A copy of a clean volume with @damage applied; what is read from it. */
static int damaged(const char *what, void (*damage)(int fd, long rec, unsigned int size),
		   int want)
{
	char img[64], name[160];
	uint16_t flags;
	unsigned int size;
	long rec;
	int fd, ret;

	snprintf(img, sizeof(img), "%s/d.img", dir);
	if (make_volume(img, "")) {
		check(0, what, "mkntfs failed");
		return 0;
	}
	fd = open(img, O_RDWR);
	rec = volume_record(fd, &size);
	damage(fd, rec, size);
	close(fd);
	ret = flags_of(img, &flags);
	snprintf(name, sizeof(name), "damaged: %s: %s", what, strerror(-want));
	check(ret == want, name, strerror(-ret));
	return ret;
}

static void no_oem(int fd, long rec, unsigned int size)
{
	poke(fd, 3, "NTFX", 4);
}

static void huge_clusters(int fd, long rec, unsigned int size)
{
	poke(fd, 0x0d, "\xe0", 1);	/* 2^32 sectors per cluster */
}

static void cluster_wraps(int fd, long rec, unsigned int size)
{
	poke(fd, 0x0b, "\x00\x10", 2);	/* 4 KiB sectors, ... */
	poke(fd, 0x0d, "\xec", 1);	/* ... 2^20 of them a cluster: 2^32 bytes */
}

static void mft_past_end(int fd, long rec, unsigned int size)
{
	poke(fd, 0x30, "\x00\x00\x00\x10\x00\x00\x00\x00", 8);	/* 1 TiB in */
}

static void torn_write(int fd, long rec, unsigned int size)
{
	poke(fd, rec + 510, "\xee\xee", 2);	/* the first block's sequence number */
}

static void usa_past_block(int fd, long rec, unsigned int size)
{
	poke(fd, rec + 4, "\xfc\x01", 2);	/* over the block's tail */
}

/* Write @len over the length field of $Volume's record's first attribute. */
static void first_attr_length(int fd, long rec, const char *len)
{
	unsigned char h[2];

	if (pread(fd, h, 2, rec + 0x14) != 2)
		return;
	poke(fd, rec + (h[0] | h[1] << 8) + 4, len, 4);
}

static void attrs_loop(int fd, long rec, unsigned int size)
{
	first_attr_length(fd, rec, "\0\0\0\0");	/* an attribute of length 0 */
}

static void attr_too_long(int fd, long rec, unsigned int size)
{
	first_attr_length(fd, rec, "\x00\x10\x00\x00");	/* 4096 bytes */
}

static void no_volume_info(int fd, long rec, unsigned int size)
{
	unsigned char r[4096];
	unsigned int off, i;

	if (size > sizeof(r) || pread(fd, r, size, rec) != (ssize_t)size)
		return;
	off = r[0x14] | r[0x15] << 8;
	while (off + 8 <= size) {
		uint32_t type, len;

		memcpy(&type, r + off, 4);
		memcpy(&len, r + off + 4, 4);
		if (type == 0xffffffff || len < 0x18)
			break;
		if (type == 0x70)
			for (i = 0; i < 4; i++)
				r[off + i] = "\x60\0\0\0"[i];	/* now VOLUME_NAME */
		off += len;
	}
	poke(fd, rec, r, size);
}

static void truncated(int fd, long rec, unsigned int size)
{
	if (ftruncate(fd, rec + size / 2))
		perror("ftruncate");
}

/*
 * hiberfil.sys is the image author's: only a regular file is read.  A
 * FIFO is not opened (a writer waiting on it stays waiting), a symlink to
 * a file starting "hibr" is not followed, a directory is not a hibernation.
 */
static void test_hibernated(void)
{
	char d[sizeof(dir) + 16], path[sizeof(d) + 32], flag[sizeof(d) + 32];
	char cmd[4 * sizeof(path) + 128];
	FILE *f;

	snprintf(d, sizeof(d), "%s/hib", dir);
	snprintf(path, sizeof(path), "%s/hiberfil.sys", d);
	snprintf(flag, sizeof(flag), "%s/writer-released", d);
	mkdir(d, 0755);
	f = fopen(path, "w");
	if (f) {
		fputs("HIBR and more", f);
		fclose(f);
	}
	check(ntfs_hibernated(d), "hiberfil.sys: a regular file starting HIBR: hibernated", "");
	unlink(path);
	snprintf(cmd, sizeof(cmd), "printf hibr > %s/target && ln -s target %s", d, path);
	check(!system(cmd) && !ntfs_hibernated(d),
	      "hiberfil.sys: a symlink to a file starting hibr is not followed", "");
	unlink(path);
	mkdir(path, 0755);
	check(!ntfs_hibernated(d), "hiberfil.sys: a directory is no hibernation", "");
	rmdir(path);
	snprintf(cmd, sizeof(cmd),
		 "mkfifo %s && { (: > %s; touch %s) & } && sleep 0.2", path, path, flag);
	if (system(cmd)) {
		check(0, "hiberfil.sys: a FIFO is not opened", "mkfifo failed");
		return;
	}
	check(!ntfs_hibernated(d) && !usleep(200000) && access(flag, F_OK),
	      "hiberfil.sys: a FIFO is not opened (its waiting writer still waits)", "");
	/* Release the writer: open the FIFO for reading ourselves. */
	close(open(path, O_RDONLY | O_NONBLOCK));
}

int main(void)
{
	char cmd[128];

	tap_prefix = "ntfs: ";
	if (system("command -v mkntfs ntfsfix ntfsinfo >/dev/null")) {
		check(0, "mkntfs, ntfsfix and ntfsinfo (ntfs-3g) are installed", "run make deps");
		return tap_finish();
	}
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_geometry("", "4 KiB clusters, 1 KiB records");
	test_geometry("-c 512", "512-byte clusters");
	test_geometry("-c 65536", "64 KiB clusters");
	test_geometry("-s 4096 -c 4096", "4 KiB sectors (4 KiB records)");
	damaged("no NTFS signature", no_oem, -EINVAL);
	damaged("2^32 sectors a cluster", huge_clusters, -EINVAL);
	damaged("a cluster of 2^32 bytes (4 KiB sectors)", cluster_wraps, -EINVAL);
	damaged("the MFT past the end of the device", mft_past_end, -EIO);
	damaged("a torn write of $Volume's record", torn_write, -EINVAL);
	damaged("the update sequence array over a block's tail", usa_past_block, -EINVAL);
	damaged("an attribute of length 0", attrs_loop, -EINVAL);
	damaged("an attribute past the record's end", attr_too_long, -EINVAL);
	damaged("no VOLUME_INFORMATION", no_volume_info, -ENOENT);
	damaged("cut short in $Volume's record", truncated, -EIO);
	test_hibernated();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		perror("rm");
	return tap_finish();
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * The throw-away writable layer of qsnapctl mount: device-mapper's snapshot
 * target over the read-only qsnap device, its copy-on-write store a loop
 * device over a memfd (memory, swappable, never a file anyone can see).
 * Writes (a journal replayed at mount) land in memory; the image is never
 * written.  Everything goes by itself when its user lets go: the dm device
 * is removed with --deferred, the loop device has LO_FLAGS_AUTOCLEAR and
 * holds the only reference to the memfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "overlay.h"
#include "qsnapctl.h"

/* Run dmsetup with @argv (NULL-terminated, argv[0] "dmsetup"); its status. */
static int run_dmsetup(char *const argv[])
{
	int rc = run_program(argv, NULL, 0);

	if (rc < 0) {
		warnx("dmsetup: %s%s", strerror(-rc), rc == -ENOENT ?
		      " (the overlay needs it: install dmsetup, or use --no-overlay)" : "");
		return -1;
	}
	return rc;
}

static int dev_numbers(int fd, char *buf, size_t len)
{
	struct stat st;

	if (fstat(fd, &st) || !S_ISBLK(st.st_mode))
		return -1;
	snprintf(buf, len, "%u:%u", major(st.st_rdev), minor(st.st_rdev));
	return 0;
}

/* A loop device over a new memfd of @bytes; its fd, or -1 after saying why. */
static int memory_loop(uint64_t bytes, const char *what)
{
	struct loop_config cfg;
	char path[32];
	int mfd, ctl, fd = -1, n, tries;

	mfd = memfd_create("qsnap-overlay", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, bytes)) {
		warnx("overlay: memfd of %" PRIu64 " bytes: %s", bytes,
		      strerror(errno));
		if (mfd >= 0)
			close(mfd);
		return -1;
	}
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		warnx("overlay: /dev/loop-control: %s (the overlay needs the loop module)",
		      strerror(errno));
		close(mfd);
		return -1;
	}
	/* Another loop user may take the free device first: ask again. */
	for (tries = 0; tries < 16 && fd < 0; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			break;
		snprintf(path, sizeof(path), "/dev/loop%d", n);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		memset(&cfg, 0, sizeof(cfg));
		cfg.fd = mfd;
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		snprintf((char *)cfg.info.lo_file_name,
			 sizeof(cfg.info.lo_file_name),
			 "qsnap overlay of %s", what);
		if (ioctl(fd, LOOP_CONFIGURE, &cfg)) {
			close(fd);
			fd = -1;
			if (errno != EBUSY)
				break;
		}
	}
	if (fd < 0)
		warnx("overlay: no loop device: %s", strerror(errno));
	close(ctl);
	close(mfd);	/* the loop device holds it now */
	return fd;
}

int overlay_create(const char *src, const char *name, uint64_t cow_bytes,
		   struct overlay *ov)
{
	char table[160], srcnum[32], cownum[32];
	uint64_t bytes;
	int sfd, rc;

	memset(ov, 0, sizeof(*ov));
	ov->loop_fd = -1;
	snprintf(ov->name, sizeof(ov->name), "%s", name);
	snprintf(ov->dev, sizeof(ov->dev), "/dev/mapper/%s", name);
	sfd = open(src, O_RDONLY | O_CLOEXEC);
	if (sfd < 0 || ioctl(sfd, BLKGETSIZE64, &bytes) ||
	    dev_numbers(sfd, srcnum, sizeof(srcnum))) {
		warnx("%s: %s", src, strerror(errno));
		if (sfd >= 0)
			close(sfd);
		return -1;
	}
	close(sfd);
	ov->loop_fd = memory_loop(cow_bytes, src);
	if (ov->loop_fd < 0)
		return -1;
	dev_numbers(ov->loop_fd, cownum, sizeof(cownum));
	/* Non-persistent exceptions ("N"), 4 KiB chunks (8 sectors). */
	snprintf(table, sizeof(table), "0 %" PRIu64 " snapshot %s %s N 8",
		 bytes / 512, srcnum, cownum);
	rc = run_dmsetup((char *const[]){ "dmsetup", "create", ov->name,
					  "--table", table, NULL });
	if (rc) {
		if (rc > 0)
			warnx("overlay: dmsetup create %s failed", ov->name);
		close(ov->loop_fd);	/* autoclear frees the loop device */
		ov->loop_fd = -1;
		return -1;
	}
	/* The snapshot target holds the loop device now. */
	close(ov->loop_fd);
	ov->loop_fd = -1;
	ov->created = true;
	/*
	 * Without udev (an initramfs, a container) nothing makes
	 * /dev/mapper/NAME; where udev made it, this does nothing.
	 */
	if (run_dmsetup((char *const[]){ "dmsetup", "mknodes", ov->name,
					 NULL })) {
		warnx("overlay: dmsetup mknodes %s failed", ov->name);
		overlay_release(ov, false);
		return -1;
	}
	return 0;
}

void overlay_release(struct overlay *ov, bool deferred)
{
	if (!ov->created)
		return;
	if (dm_remove(ov->name, deferred))
		warnx("overlay: dmsetup remove %s failed: remove it by hand",
		      ov->name);
	ov->created = false;
}

int overlay_name_of(const char *dev, char *name, size_t len)
{
	char path[64];
	struct stat st;
	size_t n;
	FILE *f;

	if (stat(dev, &st) || !S_ISBLK(st.st_mode))
		return -1;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/dm/name",
		 major(st.st_rdev), minor(st.st_rdev));
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (!fgets(name, len, f))
		name[0] = '\0';
	fclose(f);
	name[strcspn(name, "\n")] = '\0';
	n = strlen(name);
	if (strncmp(name, "qsnap", 5) || n < 8 ||
	    strcmp(name + n - 8, "-overlay"))
		return -1;
	return 0;
}

int dm_remove(const char *name, bool deferred)
{
	return run_dmsetup((char *const[]){ "dmsetup", "remove",
					    deferred ? "--deferred" : "--retry",
					    (char *)name, NULL }) ? -1 : 0;
}

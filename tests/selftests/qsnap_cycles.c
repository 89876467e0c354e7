// SPDX-License-Identifier: GPL-2.0-only
/*
 * Attach, read and detach one snapshot N times through the ioctls, the
 * way the memory check of the lifecycle tests wants it: every cycle sets
 * up and tears down a whole device (image objects, caches, worker, disk,
 * partition scan), and nothing but the kernel's work is in the loop.
 * Forking qsnapctl and dd three times a cycle cost ~170 ms a cycle under
 * TCG; the attach path of the tool is tested on its own elsewhere.
 *
 *   qsnap_cycles N IMAGE SNAPSHOT [BACKING...]
 *
 * BACKING: the image's backing chain, top-down, qcow2 files.  Every cycle
 * reads the device's first 256 KiB with O_DIRECT and compares them with
 * what the first cycle read.  Prints the number of cycles done and, on
 * standard error, why the loop stopped early.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/qsnap.h>

#define READ_BYTES	(256 * 1024)

static struct qsnap_backing backing[QSNAP_MAX_BACKING];

/* One cycle; 0 or -1 with the reason on stderr.  @first: NULL or what to compare. */
static int cycle(int ctl, int fd, const char *snapshot, unsigned int nr_backing,
		 unsigned char *buf, const unsigned char *first)
{
	struct qsnap_attach a;
	struct qsnap_detach d;
	char path[32];
	int index, dev, ret = 0;
	ssize_t n;

	memset(&a, 0, sizeof(a));
	a.image_fd = fd;
	a.flags = QSNAP_ATTACH_F_SNAPSHOT;
	a.index = QSNAP_INDEX_ANY;
	strncpy(a.snapshot, snapshot, sizeof(a.snapshot) - 1);
	a.backing = (unsigned long)backing;
	a.nr_backing = nr_backing;
	index = ioctl(ctl, QSNAP_IOC_ATTACH, &a);
	if (index < 0) {
		fprintf(stderr, "attach: %s\n", strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "/dev/qsnap%d", index);
	dev = open(path, O_RDONLY | O_DIRECT);
	if (dev < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		ret = -1;
	} else {
		n = pread(dev, buf, READ_BYTES, 0);
		if (n != READ_BYTES) {
			fprintf(stderr, "%s: read %zd: %s\n", path, n,
				strerror(errno));
			ret = -1;
		} else if (first && memcmp(buf, first, READ_BYTES)) {
			fprintf(stderr, "%s: read other bytes than the first cycle\n",
				path);
			ret = -1;
		}
		close(dev);
	}
	memset(&d, 0, sizeof(d));
	d.index = index;
	if (ioctl(ctl, QSNAP_IOC_DETACH, &d) < 0) {
		fprintf(stderr, "detach %s: %s\n", path, strerror(errno));
		ret = -1;
	}
	return ret;
}

int main(int argc, char **argv)
{
	unsigned char *buf, *first;
	unsigned int nr_backing, i;
	long n, done = 0;
	int ctl, fd;

	if (argc < 4 || argc - 4 > QSNAP_MAX_BACKING) {
		fprintf(stderr, "usage: %s N IMAGE SNAPSHOT [BACKING...]\n", argv[0]);
		return 2;
	}
	n = atol(argv[1]);
	nr_backing = argc - 4;
	ctl = open("/dev/" QSNAP_CONTROL_NAME, O_RDWR);
	fd = open(argv[2], O_RDONLY);
	if (ctl < 0 || fd < 0) {
		perror("open");
		return 1;
	}
	for (i = 0; i < nr_backing; i++) {
		backing[i].fd = open(argv[4 + i], O_RDONLY);
		backing[i].format = QSNAP_FORMAT_QCOW2;
		if (backing[i].fd < 0) {
			perror(argv[4 + i]);
			return 1;
		}
	}
	if (posix_memalign((void **)&buf, 4096, READ_BYTES) ||
	    posix_memalign((void **)&first, 4096, READ_BYTES))
		return 1;
	while (done < n &&
	       !cycle(ctl, fd, argv[3], nr_backing, done ? buf : first,
		      done ? first : NULL))
		done++;
	printf("%ld\n", done);
	return 0;
}

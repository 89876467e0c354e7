// SPDX-License-Identifier: GPL-2.0-only
/*
 * Attach racing detach of the same index: ATTACHERS processes attach
 * IMAGE at index INDEX and DETACHERS processes detach that index, as fast
 * as the ioctls go, for SECONDS.  Every attach succeeds or finds the
 * index taken (EEXIST); every detach succeeds, finds no device (ENODEV)
 * or one in use or still being set up (EBUSY).  The kernel must not
 * complain (the host reads the console), and the index must be free at
 * the end.
 *
 *   qsnap_race IMAGE INDEX ATTACHERS DETACHERS SECONDS
 *
 * Prints TAP.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/qsnap.h>

#include "../tap.h"

/* Exit status of a worker: 0, or 1 after an unexpected errno. */
static int worker(int ctl, int fd, unsigned int index, int attach,
		  time_t end, int report)
{
	struct qsnap_attach a;
	struct qsnap_detach d;
	long ok = 0, other = 0;
	int ret;

	while (time(NULL) < end) {
		if (attach) {
			memset(&a, 0, sizeof(a));
			a.image_fd = fd;
			a.index = index;
			ret = ioctl(ctl, QSNAP_IOC_ATTACH, &a);
			if (ret >= 0 && (unsigned int)ret != index) {
				printf("# attach returned index %d\n", ret);
				return 1;
			}
			if (ret < 0 && errno != EEXIST) {
				printf("# attach: %s\n", strerror(errno));
				return 1;
			}
		} else {
			memset(&d, 0, sizeof(d));
			d.index = index;
			ret = ioctl(ctl, QSNAP_IOC_DETACH, &d);
			if (ret < 0 && errno != ENODEV && errno != EBUSY) {
				printf("# detach: %s\n", strerror(errno));
				return 1;
			}
		}
		if (ret >= 0)
			ok++;
		else
			other++;
	}
	if (report)
		printf("# %s: %ld succeeded, %ld refused\n",
		       attach ? "an attacher" : "a detacher", ok, other);
	return 0;
}

int main(int argc, char **argv)
{
	int ctl, fd, attachers, detachers, i, status, bad = 0, n;
	struct qsnap_detach d;
	struct qsnap_info info;
	unsigned int index;
	time_t end;
	pid_t pid;

	if (argc != 6) {
		fprintf(stderr, "usage: %s IMAGE INDEX ATTACHERS DETACHERS SECONDS\n",
			argv[0]);
		return 2;
	}
	index = atoi(argv[2]);
	attachers = atoi(argv[3]);
	detachers = atoi(argv[4]);
	end = time(NULL) + atoi(argv[5]);
	ctl = open("/dev/" QSNAP_CONTROL_NAME, O_RDWR);
	fd = open(argv[1], O_RDONLY);
	if (ctl < 0 || fd < 0) {
		printf("Bail out! %s\n", strerror(errno));
		return 1;
	}
	n = attachers + detachers;
	for (i = 0; i < n; i++) {
		pid = fork();
		if (pid == 0)
			_exit(worker(ctl, fd, index, i < attachers, end,
				     i == 0 || i == attachers));
	}
	for (i = 0; i < n; i++)
		if (wait(&status) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			bad++;
	check(!bad, "attach and detach of one index raced: every answer expected",
	      "a worker saw an unexpected errno");
	memset(&d, 0, sizeof(d));
	d.index = index;
	ioctl(ctl, QSNAP_IOC_DETACH, &d);
	memset(&info, 0, sizeof(info));
	info.index = index;
	check(ioctl(ctl, QSNAP_IOC_GET_INFO, &info) < 0 && errno == ENODEV,
	      "... and the index is free afterwards", "a device is left");
	return tap_finish();
}

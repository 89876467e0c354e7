// SPDX-License-Identifier: GPL-2.0-only
/*
 * Every slab allocation an attach makes fails once: for n = 1, 2, ... the
 * n-th fault-injection point the attaching task reaches fails (fail-nth,
 * with failslab set to fail sleeping allocations too), until an attach
 * reaches fewer than n points.  That covers qsnap's own allocations and
 * those of the block layer, sysfs and the page cache on its behalf (page
 * allocations are left alone: their failures warn with a stack dump by
 * design).  Each attach must fail cleanly (an errno, no device left
 * behind) or succeed and detach; KASAN and kmemleak, in the sanitizer
 * kernel that runs this, judge the rest.
 *
 *   qsnap_failnth IMAGE SNAPSHOT [BASE]   (BASE: IMAGE's qcow2 backing file)
 *   qsnap_failnth IMAGE SNAPSHOT --key=FILE  (IMAGE encrypted: its volume
 *                                             key in hex in FILE)
 *
 * Prints TAP.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/qsnap.h>

#include "../tap.h"
#include "hexkey.h"

#define MAX_POINTS	20000

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* Skip the kernel log records so far. */
static void skip_kmsg(int kfd)
{
	lseek(kfd, 0, SEEK_END);
}

/*
 * Read the kernel log records since skip_kmsg(): true if one contains
 * @needle; the last one goes to @out for the failure detail.
 */
static int read_kmsg(int kfd, const char *needle, char *out, size_t size)
{
	char rec[1024];
	int found = 0;
	ssize_t n;

	out[0] = '\0';
	/* EPIPE: records were overwritten; the read goes on after them. */
	while ((n = read(kfd, rec, sizeof(rec) - 1)) > 0 ||
	       (n < 0 && errno == EPIPE)) {
		char *text;

		if (n <= 0)
			continue;
		rec[n] = '\0';
		text = strchr(rec, ';');
		text = text ? text + 1 : rec;
		text[strcspn(text, "\n")] = '\0';
		found |= strstr(text, needle) != NULL;
		n = strlen(text) < size ? (ssize_t)strlen(text) : (ssize_t)size - 1;
		memcpy(out, text, n);
		out[n] = '\0';
	}
	return found;
}

int main(int argc, char **argv)
{
	struct qsnap_backing b;
	struct qsnap_key key;
	struct qsnap_attach a;
	struct qsnap_detach d;
	int ctl, img, base = -1, fnth, n, failed = 0, succeeded = 0;
	int odd = 0, leftover = 0, kfd, key_size = 0;
	__u8 key_bytes[QSNAP_KEY_MAX] = { 0 };
	char buf[32], detail[400] = "", log[256];

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s IMAGE SNAPSHOT [BASE | --key=FILE]\n", argv[0]);
		return 2;
	}
	ctl = open("/dev/" QSNAP_CONTROL_NAME, O_RDWR);
	img = open(argv[1], O_RDONLY);
	if (argc == 4 && !strncmp(argv[3], "--key=", 6))
		key_size = read_hex_key(argv[3] + 6, key_bytes);
	else if (argc == 4)
		base = open(argv[3], O_RDONLY);
	/* Let the injected faults hit sleeping allocations too. */
	if (ctl < 0 || img < 0 || key_size < 0 ||
	    (argc == 4 && base < 0 && !key_size) ||
	    write_str("/sys/kernel/debug/failslab/ignore-gfp-wait", "N")) {
		printf("Bail out! setup: %s\n", strerror(errno));
		return 1;
	}
	write_str("/sys/kernel/debug/failslab/verbose", "0");
	if (key_size)
		tap_prefix = "encrypted: ";
	kfd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	for (n = 1; n < MAX_POINTS; n++) {
		int ret, err;

		memset(&a, 0, sizeof(a));
		a.image_fd = img;
		a.index = QSNAP_INDEX_ANY;
		a.flags = QSNAP_ATTACH_F_SNAPSHOT;
		snprintf(a.snapshot, sizeof(a.snapshot), "%s", argv[2]);
		if (base >= 0) {
			memset(&b, 0, sizeof(b));
			b.fd = base;
			b.format = QSNAP_FORMAT_QCOW2;
			a.backing = (unsigned long)&b;
			a.nr_backing = 1;
		}
		if (key_size) {
			memset(&key, 0, sizeof(key));
			key.size = key_size;
			memcpy(key.key, key_bytes, key_size);
			a.keys = (unsigned long)&key;
			a.nr_keys = 1;
		}
		fnth = open("/proc/thread-self/fail-nth", O_RDWR);
		if (fnth < 0) {
			printf("Bail out! fail-nth: %s\n", strerror(errno));
			return 1;
		}
		snprintf(buf, sizeof(buf), "%d", n);
		if (write(fnth, buf, strlen(buf)) < 0) {
			printf("Bail out! fail-nth: %s\n", strerror(errno));
			return 1;
		}
		skip_kmsg(kfd);
		ret = ioctl(ctl, QSNAP_IOC_ATTACH, &a);
		err = errno;
		/* What is left of the count: 0 once the fault was injected. */
		memset(buf, 0, sizeof(buf));
		if (pread(fnth, buf, sizeof(buf) - 1, 0) < 0)
			buf[0] = '?';
		if (write(fnth, "0", 1) < 0)
			buf[0] = '?';
		close(fnth);

		if (ret >= 0) {
			succeeded++;
			memset(&d, 0, sizeof(d));
			d.index = a.index;
			if (ioctl(ctl, QSNAP_IOC_DETACH, &d) < 0)
				leftover++;
		} else {
			failed++;
			/*
			 * add_disk() turns a failed allocation of the disk's
			 * name into EINVAL; qsnap says so in its log line.
			 */
			if (err != ENOMEM && err != EIO &&
			    !(err == EINVAL &&
			      read_kmsg(kfd, "cannot register the block device",
					log, sizeof(log))) &&
			    !odd++) {
				read_kmsg(kfd, "", log, sizeof(log));
				snprintf(detail, sizeof(detail),
					 "fault %d: unexpected %s (log: %s)", n,
					 strerror(err), log);
			}
		}
		if (atoi(buf) != 0 || buf[0] == '?')
			break;	/* the attach reached fewer than n points */
	}
	check(n > 1 && n < MAX_POINTS, "every fault point of an attach reached",
	      "ran out of tries");
	printf("# %d fault points; attach failed %d times, survived %d\n",
	       n - 1, failed, succeeded);
	check(!odd, "each failed attach returned ENOMEM or EIO (or EINVAL from add_disk)",
	      detail);
	check(!leftover, "no device left behind", "a detach failed");
	return tap_finish();
}

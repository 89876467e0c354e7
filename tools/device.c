// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnapctl device access, as util-linux's lib/loopdev.c is losetup's: the
 * control node, device names and indexes, the devices in /sys/block.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "qsnapctl.h"

#define CONTROL_SYSFS	"/sys/class/misc/" QSNAP_CONTROL_NAME

/*
 * Whether the node opened at CONTROL_PATH is qsnap's: when another local
 * driver holds qsnap's fixed misc minor the module takes a dynamic one
 * (driver/qsnap_ctl.c), and a node made at boot for the fixed minor leads
 * to that driver.  Without sysfs there is nothing to compare with.
 */
static bool control_is_qsnaps(int fd)
{
	unsigned int major, minor;
	struct stat st;
	bool same;
	FILE *f;

	if (access("/sys/class/misc", F_OK))
		return true;
	f = fopen(CONTROL_SYSFS "/dev", "re");
	same = f && fscanf(f, "%u:%u", &major, &minor) == 2 &&
	       !fstat(fd, &st) && S_ISCHR(st.st_mode) &&
	       major(st.st_rdev) == major && minor(st.st_rdev) == minor;
	if (!f)
		warnx("%s is not the qsnap module's control device (%s: %s)",
		      CONTROL_PATH, CONTROL_SYSFS, strerror(errno));
	else if (!same)
		warnx("%s is not the qsnap module's control device, whose number is in %s/dev: make the node again with that number",
		      CONTROL_PATH, CONTROL_SYSFS);
	if (f)
		fclose(f);
	return same;
}

/*
 * The control node; opening it loads the module where kmod's static-nodes
 * made it at boot (devname: alias).  A node left without its driver (a
 * static node whose module did not load, or was removed) is ENODEV.
 */
int open_control(void)
{
	int fd = open(CONTROL_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		warnx("%s: %s%s", CONTROL_PATH, strerror(errno),
		      errno == ENOENT || errno == ENODEV || errno == ENXIO ?
		      " (is the qsnap module loaded?)" :
		      errno == EACCES ? " (qsnapctl needs root)" : "");
		return fd;
	}
	if (!control_is_qsnaps(fd)) {
		close(fd);
		errno = ENODEV;
		return -1;
	}
	return fd;
}

int parse_index(const char *s, uint32_t *index)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v >= QSNAP_INDEX_ANY)
		return -1;
	*index = v;
	return 0;
}

int device_index(const char *dev, uint32_t *index)
{
	const char *p = dev;

	if (!strncmp(p, "/dev/", 5))
		p += 5;
	if (!strncmp(p, "qsnap", 5))
		p += 5;
	return parse_index(p, index);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int list_indexes(uint32_t **indexes)
{
	uint32_t *v = NULL, *nv, index;
	struct dirent *de;
	int n = 0;
	DIR *d;

	d = opendir("/sys/block");
	if (!d) {
		warnx("/sys/block: %s", strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "qsnap", 5) ||
		    device_index(de->d_name, &index))
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			warnx("%s", strerror(ENOMEM));
			free(v);
			closedir(d);
			return -1;
		}
		v = nv;
		v[n++] = index;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_u32);
	*indexes = v;
	return n;
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnapctl mount: which file systems a qsnap device holds, whole or in the
 * partitions the kernel found on it, as libblkid sees them.
 */
#include <blkid.h>
#include <dirent.h>
#include <errno.h>
#include <libmount.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"
#include "qsnapctl.h"

static void copy_value(blkid_probe pr, const char *name, char *buf,
		       size_t len)
{
	const char *v;

	buf[0] = '\0';
	if (!blkid_probe_lookup_value(pr, name, &v, NULL))
		snprintf(buf, len, "%s", v);
}

/* The file system on @dev (type "" if none is recognised). */
int probe_filesystem(const char *dev, struct fs_candidate *c)
{
	blkid_probe pr = blkid_new_probe_from_filename(dev);
	int ret;

	snprintf(c->dev, sizeof(c->dev), "%s", dev);
	c->lv[0] = c->type[0] = c->usage[0] = c->label[0] = c->uuid[0] = '\0';
	if (!pr)
		return -errno ? -errno : -EIO;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE |
					  BLKID_SUBLKS_USAGE |
					  BLKID_SUBLKS_LABEL |
					  BLKID_SUBLKS_UUID);
	c->size = blkid_probe_get_size(pr);
	ret = blkid_do_safeprobe(pr);
	if (ret == 0) {
		copy_value(pr, "TYPE", c->type, sizeof(c->type));
		copy_value(pr, "USAGE", c->usage, sizeof(c->usage));
		copy_value(pr, "LABEL", c->label, sizeof(c->label));
		copy_value(pr, "UUID", c->uuid, sizeof(c->uuid));
	} else if (ret == -2) {
		snprintf(c->type, sizeof(c->type), "(ambivalent)");
	}
	blkid_free_probe(pr);
	return ret == -1 ? -EIO : 0;
}

static int partno_of(const char *disk, const char *part)
{
	char path[600];
	FILE *f;
	int n = -1;

	snprintf(path, sizeof(path), "/sys/block/%s/%s/partition", disk, part);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &n) != 1)
		n = -1;
	fclose(f);
	return n;
}

static int by_partno(const void *a, const void *b)
{
	return ((const struct fs_candidate *)a)->partno -
	       ((const struct fs_candidate *)b)->partno;
}

/*
 * The candidates of qsnap device @index: its partitions in order, or the
 * whole device when the kernel found no partition table.  Returns how
 * many (at least 1) with *@out to free, or -errno.
 */
int probe_candidates(uint32_t index, struct fs_candidate **out)
{
	char disk[32], dev[64], dir[64];
	struct fs_candidate *v = NULL, *nv;
	struct dirent *de;
	int n = 0, no, ret = 0;
	DIR *d;

	snprintf(disk, sizeof(disk), QSNAP_DISK_FMT, index);
	snprintf(dir, sizeof(dir), QSNAP_SYSFS_FMT, index);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, disk, strlen(disk)) ||
		    strlen(de->d_name) >= sizeof(v->dev) - 5)
			continue;
		no = partno_of(disk, de->d_name);
		if (no < 1)
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			ret = -ENOMEM;
			break;
		}
		v = nv;
		snprintf(dev, sizeof(dev), "/dev/%.58s", de->d_name);
		ret = probe_filesystem(dev, &v[n]);
		if (ret)
			break;
		v[n++].partno = no;
	}
	closedir(d);
	if (!ret && !n) {
		v = calloc(1, sizeof(*v));
		if (!v)
			return -ENOMEM;
		snprintf(dev, sizeof(dev), "/dev/%s", disk);
		ret = probe_filesystem(dev, v);
		n = 1;
	}
	if (ret) {
		free(v);
		return ret;
	}
	qsort(v, n, sizeof(*v), by_partno);
	*out = v;
	return n;
}

/*
 * Whether a mounted file system of @type has the UUID @uuid (an XFS or a
 * btrfs that a second copy of would clash with); its mount point in
 * @where.
 */
bool uuid_mounted(const char *type, const char *uuid, char *where,
		  size_t len)
{
	struct libmnt_table *tb = mnt_new_table_from_file("/proc/self/mountinfo");
	struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
	struct libmnt_fs *fs;
	bool found = false;
	char *u;

	if (!tb || !it || !*uuid)
		goto out;
	while (!found && mnt_table_next_fs(tb, it, &fs) == 0) {
		const char *src = mnt_fs_get_srcpath(fs);

		if (!src || strcmp(mnt_fs_get_fstype(fs) ?: "", type))
			continue;
		u = blkid_get_tag_value(NULL, "UUID", src);
		if (u && !strcmp(u, uuid)) {
			snprintf(where, len, "%s", mnt_fs_get_target(fs));
			found = true;
		}
		free(u);
	}
out:
	mnt_free_iter(it);
	mnt_unref_table(tb);
	return found;
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnapctl list, info and udev-env: what an attached device is, from
 * QSNAP_IOC_GET_INFO and /sys/block/qsnapN (backing chain, partitions),
 * plus where it is mounted, as text or JSON.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "json.h"
#include "qsnapctl.h"

struct strlist {
	char **v;
	int n;
};

/* A device's settings, from sysfs (-1: not shown, an older module). */
struct device_settings {
	long long direct_io, share_images, l2_cache_kb, recheck_ms, partscan;
};

/*
 * A file by file system and inode, as stat(2) and sysfs's inodes give it;
 * @rdev: a block device's number, else 0.
 */
struct file_id {
	dev_t dev;
	ino_t ino;
	dev_t rdev;
};

struct device_desc {
	struct qsnap_info info;
	struct device_settings set;
	/* The image is open for writing by a QEMU: 1, 0, -1 unknown. */
	int written;
	struct strlist backing;		/* top-down, below the image */
	struct strlist partitions;	/* "/dev/qsnapNpM" */
	struct strlist mount_dev;	/* what is mounted ... */
	struct strlist mount_dir;	/* ... where */
};

static int strlist_add(struct strlist *l, const char *s)
{
	char **nv = realloc(l->v, (l->n + 1) * sizeof(*l->v));

	if (!nv)
		return -ENOMEM;
	l->v = nv;
	l->v[l->n] = strdup(s);
	if (!l->v[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

static void strlist_free(struct strlist *l)
{
	while (l->n)
		free(l->v[--l->n]);
	free(l->v);
	l->v = NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strverscmp(*(char *const *)a, *(char *const *)b);
}

static int read_backing(uint32_t index, struct strlist *l)
{
	char path[64], line[PATH_MAX + 2];
	FILE *f;
	int ret = 0;

	snprintf(path, sizeof(path), QSNAP_SYSFS_FMT "/qsnap/backing",
		 index);
	f = fopen(path, "re");
	if (!f)
		return 0;	/* detached meanwhile: GET_INFO says so */
	while (!ret && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		ret = strlist_add(l, line);
	}
	fclose(f);
	return ret;
}

/* /sys/block/qsnapN/qsnap/NAME as a number, or -1. */
static long long read_number_attr(uint32_t index, const char *name)
{
	char path[96];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), QSNAP_SYSFS_FMT "/qsnap/%s",
		 index, name);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * The files device @index reads (sysfs's inodes: the image first) into
 * @ids, at most @max.  Return: how many, or -1 when the module does not
 * show them (older than 0.8) or the device is gone.
 */
static int read_inodes(uint32_t index, struct file_id *ids, int max)
{
	unsigned int maj, min, rmaj, rmin;
	char path[64], line[128];
	unsigned long ino;
	FILE *f;
	int n = 0, got;

	snprintf(path, sizeof(path), QSNAP_SYSFS_FMT "/qsnap/inodes", index);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (n < max && fgets(line, sizeof(line), f)) {
		got = sscanf(line, "%u:%u %lu %u:%u", &maj, &min, &ino, &rmaj, &rmin);
		if (got < 3)
			continue;
		ids[n].dev = makedev(maj, min);
		ids[n].ino = ino;
		ids[n].rdev = got == 5 ? makedev(rmaj, rmin) : 0;
		n++;
	}
	fclose(f);
	return n;
}

/*
 * Whether a QEMU writes the device's image: opened by the path the kernel
 * shows, and only believed if that is still the file the device reads.
 */
static int read_written(const struct device_desc *d)
{
	struct file_id id;
	struct stat st;
	int fd, ret = -1;

	if (read_inodes(d->info.index, &id, 1) != 1)
		return -1;
	fd = open(d->info.image, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (!fstat(fd, &st) && st.st_dev == id.dev && st.st_ino == id.ino)
		ret = image_written_by_qemu(fd);
	close(fd);
	return ret < 0 ? -1 : ret;
}

static void read_settings(uint32_t index, struct device_settings *s)
{
	s->direct_io = read_number_attr(index, "direct_io");
	s->share_images = read_number_attr(index, "share_images");
	s->l2_cache_kb = read_number_attr(index, "l2_cache_kb");
	s->recheck_ms = read_number_attr(index, "recheck_ms");
	s->partscan = read_number_attr(index, "partscan");
}

static int read_partitions(uint32_t index, struct strlist *l)
{
	char path[64], want[32], dev[300];
	struct dirent *de;
	size_t wl;
	DIR *d;
	int ret = 0;

	snprintf(path, sizeof(path), QSNAP_SYSFS_FMT, index);
	wl = snprintf(want, sizeof(want), QSNAP_DISK_FMT "p", index);
	d = opendir(path);
	if (!d)
		return 0;
	while (!ret && (de = readdir(d))) {
		if (strncmp(de->d_name, want, wl))
			continue;
		snprintf(dev, sizeof(dev), "/dev/%s", de->d_name);
		ret = strlist_add(l, dev);
	}
	closedir(d);
	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), cmp_str);
	return ret;
}

/* /proc/self/mounts escapes blanks and backslashes as octal. */
static void unescape_mount_field(char *s)
{
	char *o = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0');
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = 0;
}

static int read_mounts(uint32_t index, struct device_desc *d)
{
	char want[32], line[8192], *src, *dst, *save;
	FILE *f = fopen("/proc/self/mounts", "re");
	size_t wl;
	int ret = 0;

	if (!f)
		return 0;
	wl = snprintf(want, sizeof(want), QSNAP_DEV_FMT, index);
	while (!ret && fgets(line, sizeof(line), f)) {
		src = strtok_r(line, " ", &save);
		dst = strtok_r(NULL, " ", &save);
		if (!src || !dst || strncmp(src, want, wl) ||
		    (src[wl] && src[wl] != 'p'))
			continue;
		unescape_mount_field(dst);
		ret = strlist_add(&d->mount_dev, src);
		if (!ret)
			ret = strlist_add(&d->mount_dir, dst);
	}
	fclose(f);
	return ret;
}

static void free_desc(struct device_desc *d)
{
	strlist_free(&d->backing);
	strlist_free(&d->partitions);
	strlist_free(&d->mount_dev);
	strlist_free(&d->mount_dir);
}

/* EBUSY from detach: say where the device is mounted, if it is. */
void explain_busy(const char *dev, uint32_t index)
{
	struct device_desc d;
	int i;

	memset(&d, 0, sizeof(d));
	read_mounts(index, &d);
	for (i = 0; i < d.mount_dev.n; i++)
		warnx("%s: device busy: %s is mounted on %s", dev,
		      d.mount_dev.v[i], d.mount_dir.v[i]);
	if (!d.mount_dev.n)
		warnx("%s: device busy: it is open (in use by a program or a holder)",
		      dev);
	free_desc(&d);
}

/* 0, -ENODEV if there is no such device, or another -errno. */
static int get_desc(int ctl, uint32_t index, struct device_desc *d)
{
	int ret;

	memset(d, 0, sizeof(*d));
	d->info.index = index;
	if (ioctl(ctl, QSNAP_IOC_GET_INFO, &d->info) < 0)
		return -errno;
	read_settings(index, &d->set);
	d->written = read_written(d);
	ret = read_backing(index, &d->backing);
	if (!ret)
		ret = read_partitions(index, &d->partitions);
	if (!ret)
		ret = read_mounts(index, d);
	if (ret)
		free_desc(d);
	return ret;
}

static bool is_snapshot(const struct device_desc *d)
{
	return d->info.flags & QSNAP_INFO_F_SNAPSHOT;
}

static void json_strlist(struct json *j, const char *key,
			 const struct strlist *l)
{
	int i;

	json_open_array(j, key);
	for (i = 0; i < l->n; i++)
		json_string(j, NULL, l->v[i]);
	json_close_array(j);
}

static void json_desc(struct json *j, const struct device_desc *d)
{
	const struct qsnap_info *in = &d->info;
	char name[32];
	int i;

	snprintf(name, sizeof(name), QSNAP_DEV_FMT, in->index);
	json_open_object(j, NULL);
	json_string(j, "name", name);
	json_u64(j, "index", in->index);
	json_string(j, "image", in->image);
	if (is_snapshot(d)) {
		json_open_object(j, "snapshot");
		json_string(j, "id", in->snapshot_id);
		json_string(j, "name", in->snapshot_name);
		json_u64(j, "date", in->date_sec);
		json_u64(j, "date_nsec", in->date_nsec);
		json_u64(j, "vm_clock_nsec", in->vm_clock_nsec);
		json_close_object(j);
	} else {
		json_null(j, "snapshot");
	}
	json_u64(j, "size", in->size);
	json_u64(j, "cluster_size", in->cluster_size);
	json_u64(j, "qcow2_version", in->qcow2_version);
	json_bool(j, "dirty", in->flags & QSNAP_INFO_F_DIRTY);
	json_bool(j, "corrupt", in->flags & QSNAP_INFO_F_CORRUPT);
	json_bool(j, "snapshot_gone", in->flags & QSNAP_INFO_F_GONE);
	json_bool(j, "autoclear", in->flags & QSNAP_INFO_F_AUTOCLEAR);
	if (in->flags & QSNAP_INFO_F_ENCRYPTED)
		json_string(j, "encryption", in->cipher);
	else
		json_null(j, "encryption");
	if (d->written >= 0)
		json_bool(j, "image_written", d->written);
	else
		json_null(j, "image_written");
	if (d->set.recheck_ms >= 0) {
		json_open_object(j, "settings");
		json_bool(j, "direct_io", d->set.direct_io > 0);
		json_bool(j, "share_images", d->set.share_images > 0);
		json_u64(j, "l2_cache_kb", d->set.l2_cache_kb);
		json_u64(j, "recheck_ms", d->set.recheck_ms);
		json_bool(j, "partscan", d->set.partscan > 0);
		json_close_object(j);
	} else {
		json_null(j, "settings");
	}
	json_strlist(j, "backing", &d->backing);
	json_strlist(j, "partitions", &d->partitions);
	json_open_array(j, "mounts");
	for (i = 0; i < d->mount_dev.n; i++) {
		json_open_object(j, NULL);
		json_string(j, "device", d->mount_dev.v[i]);
		json_string(j, "target", d->mount_dir.v[i]);
		json_close_object(j);
	}
	json_close_array(j);
	json_close_object(j);
}

static void text_info(const struct device_desc *d)
{
	const struct qsnap_info *in = &d->info;
	char size[32], date[32], clk[32];
	int i;

	format_size(size, sizeof(size), in->size);
	printf(QSNAP_DEV_FMT "\n", in->index);
	printf("  image:         %s\n", shown(in->image));
	if (is_snapshot(d)) {
		format_date(date, sizeof(date), in->date_sec);
		format_clock(clk, sizeof(clk), in->vm_clock_nsec);
		printf("  snapshot:      %s '%s', taken %s (VM clock %s)%s\n",
		       shown(in->snapshot_id), shown(in->snapshot_name), date,
		       clk,
		       in->flags & QSNAP_INFO_F_GONE ?
		       "\n                 GONE: deleted or replaced in the image; reads fail" : "");
	} else {
		printf("  snapshot:      none (the current state)\n");
	}
	printf("  size:          %s (%" PRIu64 " bytes)\n", size,
	       (uint64_t)in->size);
	printf("  format:        qcow2 v%" PRIu32 ", %" PRIu32 "-byte clusters%s%s\n",
	       in->qcow2_version, in->cluster_size,
	       in->flags & QSNAP_INFO_F_DIRTY ? ", dirty" : "",
	       in->flags & QSNAP_INFO_F_CORRUPT ? ", marked corrupt" : "");
	if (d->set.recheck_ms >= 0)
		printf("  settings:      direct I/O %s, %s, L2 cache %lld KiB, snapshot re-checked every %lld ms, partitions %s\n",
		       d->set.direct_io > 0 ? "on" : "off",
		       d->set.share_images > 0 ? "shared" : "not shared",
		       d->set.l2_cache_kb, d->set.recheck_ms,
		       d->set.partscan > 0 ? "scanned" : "not scanned");
	if (in->flags & QSNAP_INFO_F_ENCRYPTED)
		printf("  encrypted:     %s, decrypted by the module\n",
		       shown(in->cipher));
	if (d->written > 0)
		printf("  in use:        the image is open for writing by another process (QEMU's lock)%s\n",
		       is_snapshot(d) ? "; the snapshot is stable" :
		       ": the current state changes under the device");
	if (in->flags & QSNAP_INFO_F_AUTOCLEAR)
		printf("  autoclear:     detaches by itself when its last user closes it\n");
	for (i = 0; i < d->backing.n; i++)
		printf("  %-14s %s\n", i ? "" : "backing:",
		       shown(d->backing.v[i]));
	for (i = 0; i < d->partitions.n; i++)
		printf("  %-14s %s\n", i ? "" : "partitions:",
		       d->partitions.v[i]);
	for (i = 0; i < d->mount_dev.n; i++)
		printf("  %-14s %s on %s\n", i ? "" : "mounted:",
		       d->mount_dev.v[i], d->mount_dir.v[i]);
}

/*
 * The columns of `qsnapctl list`, for its header, each device and each
 * backing file under it; the last column is the two strings together.
 */
static void list_columns(const char *name, const char *size, const char *id,
			 const char *snapshot, const char *date,
			 const char *last, const char *last_more)
{
	printf("%-12s %10s %-8s %-20s %-19s %s%s\n", name, size, id, snapshot,
	       date, last, last_more);
}

static void text_list_row(const struct device_desc *d)
{
	const struct qsnap_info *in = &d->info;
	char name[32], size[32], date[32];
	int i;

	snprintf(name, sizeof(name), QSNAP_DEV_FMT, in->index);
	format_size(size, sizeof(size), in->size);
	if (is_snapshot(d))
		format_date(date, sizeof(date), in->date_sec);
	else
		snprintf(date, sizeof(date), "-");
	list_columns(name, size,
		     is_snapshot(d) ? shown(in->snapshot_id) : "-",
		     is_snapshot(d) ? shown(in->snapshot_name) : "(current)",
		     date, shown(in->image), in->flags & QSNAP_INFO_F_GONE ?
		     " (snapshot gone: reads fail)" :
		     in->flags & QSNAP_INFO_F_AUTOCLEAR ? " (autoclear)" :
		     in->flags & QSNAP_INFO_F_ENCRYPTED ? " (encrypted)" : "");
	for (i = 0; i < d->backing.n; i++)
		list_columns("", "", "", "", "", "<- ", shown(d->backing.v[i]));
}

int show_device(uint32_t index, bool json)
{
	struct device_desc d;
	struct json j;
	int ctl, ret;

	ctl = open_control();
	if (ctl < 0)
		return 1;
	ret = get_desc(ctl, index, &d);
	close(ctl);
	if (ret) {
		warnx(QSNAP_DEV_FMT ": %s", index, strerror(-ret));
		return 1;
	}
	if (json) {
		json_init(&j, stdout);
		json_desc(&j, &d);
	} else {
		text_info(&d);
	}
	free_desc(&d);
	return 0;
}

int parse_json_opt(const char *cmd, int argc, char **argv,
			  bool *json)
{
	static const struct option opts[] = {
		{ "json",	no_argument,	NULL, 'J' },
		{ "help",	no_argument,	NULL, 'h' },
		{ }
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "Jh", opts, NULL)) != -1) {
		switch (c) {
		case 'J':
			*json = true;
			break;
		case 'h':
			cmd_help(cmd, stdout);
			return 0;
		default:
			return usage_error(cmd, NULL);
		}
	}
	return -1;
}

/*
 * Whether device @index reads the file @st (anywhere in its chain); -1
 * after saying so when the module does not tell.
 */
static int device_reads(uint32_t index, const struct stat *st)
{
	struct file_id ids[2 * (1 + QSNAP_MAX_BACKING)];
	int n, i;

	n = read_inodes(index, ids, sizeof(ids) / sizeof(ids[0]));
	if (n < 0) {
		warnx(QSNAP_DEV_FMT ": the loaded qsnap module does not show the files a device reads: it is older than 0.8",
		      index);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (ids[i].dev == st->st_dev && ids[i].ino == st->st_ino)
			return 1;
		/* A block device by any of its nodes. */
		if (S_ISBLK(st->st_mode) && ids[i].rdev == st->st_rdev)
			return 1;
	}
	return 0;
}

int cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json",	no_argument,		NULL, 'J' },
		{ "image",	required_argument,	NULL, 'j' },
		{ "associated",	required_argument,	NULL, 'j' },	/* losetup's */
		{ "help",	no_argument,		NULL, 'h' },
		{ }
	};
	const char *image = NULL;
	struct device_desc d;
	struct stat st;
	uint32_t *idx;
	bool json = false;
	struct json j;
	int ctl, n, i, c, ret, rows = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "Jj:h", opts, NULL)) != -1) {
		switch (c) {
		case 'J':
			json = true;
			break;
		case 'j':
			image = optarg;
			break;
		case 'h':
			cmd_help("list", stdout);
			return 0;
		default:
			return usage_error("list", NULL);
		}
	}
	if (optind != argc)
		return usage_error("list", "list takes no arguments");
	if (image && stat(image, &st)) {
		warnx("%s: %s", shown(image), strerror(errno));
		return 1;
	}
	ctl = open_control();
	if (ctl < 0)
		return 1;
	n = list_indexes(&idx);
	if (n < 0) {
		close(ctl);
		return 1;
	}
	if (json) {
		json_init(&j, stdout);
		json_open_object(&j, NULL);
		json_open_array(&j, "qsnapdevices");
	}
	for (i = 0; i < n; i++) {
		if (image) {
			ret = device_reads(idx[i], &st);
			if (ret < 0)
				break;
			if (!ret)
				continue;
		}
		ret = get_desc(ctl, idx[i], &d);
		if (ret == -ENODEV)
			continue;	/* detached meanwhile */
		if (ret) {
			warnx(QSNAP_DEV_FMT ": %s", idx[i], strerror(-ret));
			continue;
		}
		if (json) {
			json_desc(&j, &d);
		} else {
			if (!rows)
				list_columns("NAME", "SIZE", "SNAP-ID",
					     "SNAP-NAME", "DATE", "IMAGE", "");
			text_list_row(&d);
		}
		rows++;
		free_desc(&d);
	}
	if (json) {
		json_close_array(&j);
		json_close_object(&j);
	}
	free(idx);
	close(ctl);
	return i < n ? 1 : 0;
}

int cmd_info(int argc, char **argv)
{
	uint32_t index;
	bool json = false;
	int ret;

	ret = parse_json_opt("info", argc, argv, &json);
	if (ret >= 0)
		return ret;
	if (optind != argc - 1)
		return usage_error("info", "info takes one DEVICE");
	if (device_index(argv[optind], &index)) {
		warnx("%s: not a qsnap device", argv[optind]);
		return 1;
	}
	return show_device(index, json);
}

/*
 * udev's encoding of names in /dev/disk/by-* links (as ID_FS_LABEL_ENC):
 * safe ASCII and valid UTF-8 are kept, every other byte is \xNN.
 */
static void udev_encode(FILE *out, const char *str)
{
	static const char safe[] = "#+-.:=@_";
	const unsigned char *s = (const unsigned char *)str;
	int n, i;

	while (*s) {
		n = 1;
		if (*s >= 0xc0) {
			n = (*s & 0xe0) == 0xc0 ? 2 : (*s & 0xf0) == 0xe0 ? 3 :
			    (*s & 0xf8) == 0xf0 ? 4 : 0;
			for (i = 1; i < n; i++)
				if ((s[i] & 0xc0) != 0x80)
					n = 0;
		}
		if (n > 1) {
			fwrite(s, 1, n, out);
			s += n;
			continue;
		}
		if ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= 'A' && *s <= 'Z') || (*s && strchr(safe, *s)))
			fputc(*s, out);
		else
			fprintf(out, "\\x%02x", *s);
		s++;
	}
}

/* One line of /sys/block/qsnapN/qsnap/ATTR, without its newline. */
static int read_attr(const char *disk, const char *attr, char *buf, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/block/%s/qsnap/%s", disk, attr);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (!fgets(buf, len, f))
		buf[0] = 0;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/*
 * For the udev rule: QSNAP_LINK=<image basename>[@<snapshot name or id>],
 * the /dev/disk/by-qsnap/ name of the disk qsnapN.  Reads sysfs only.
 */
int cmd_udev_env(int argc, char **argv)
{
	char image[PATH_MAX + 2], id[QSNAP_NAME_MAX + 2];
	char name[QSNAP_NAME_MAX + 2];
	const char *base, *disk;
	uint32_t index;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		cmd_help("udev-env", stdout);
		return 0;
	}
	if (argc != 2)
		return usage_error("udev-env", "udev-env takes one qsnapN");
	disk = argv[1];
	if (!strncmp(disk, "/dev/", 5))
		disk += 5;
	if (device_index(disk, &index) || strchr(disk, '/') ||
	    read_attr(disk, "image", image, sizeof(image)) ||
	    read_attr(disk, "snapshot_id", id, sizeof(id)) ||
	    read_attr(disk, "snapshot_name", name, sizeof(name))) {
		warnx("%s: not a qsnap disk", argv[1]);
		return 1;
	}
	base = strrchr(image, '/');
	base = base ? base + 1 : image;
	printf("QSNAP_INDEX=%" PRIu32 "\nQSNAP_LINK=", index);
	udev_encode(stdout, base);
	if (id[0]) {
		putchar('@');
		udev_encode(stdout, name[0] ? name : id);
	}
	putchar('\n');
	return 0;
}

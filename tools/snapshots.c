// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnapctl snapshots: an image's snapshot table, read with the module's own
 * format code (no module needed), as text or JSON; and the loading of an
 * image and the messages about it that the other commands share.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "json.h"
#include "qcow2.h"
#include "qsnapctl.h"

/* The snapshots listed in a "not found" message, at most. */
#define AVAILABLE_MAX	10

int load_image(const char *path, struct qcow2_image *img, int *fdp)
{
	/* Tables only: snapshots and diff read no guest data. */
	struct qcow2_io io = {
		.pread = fd_pread, .opaque = fdp, .tables_only = true,
	};
	struct stat st;
	int ret;

	*fdp = open_image_file(path, &st);
	if (*fdp == -EINVAL) {
		warnx("%s: %s, not an image (a regular file or block device)",
		      shown(path), file_kind(st.st_mode));
		return -EINVAL;
	}
	if (*fdp < 0) {
		ret = *fdp;
		warnx("%s: %s", shown(path), strerror(-ret));
		return ret;
	}
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(*fdp, 0, SEEK_END);

		io.file_size = end < 0 ? 0 : end;
	} else {
		io.file_size = st.st_size;
	}
	ret = qcow2_open(img, &io);
	if (ret) {
		warnx("%s: %s", shown(path),
		      img->err[0] ? shown(img->err) : strerror(-ret));
		qcow2_close(img);
	}
	return ret;
}

/*
 * The columns of `qsnapctl snapshots` (those of qemu-img snapshot -l), for
 * the header and each row.
 */
static void snapshot_columns(const char *id, const char *tag,
			     const char *vm_size, const char *date,
			     const char *vm_clock, const char *icount,
			     const char *disk_size)
{
	printf("%-10s %-20s %10s %19s %15s %10s %10s\n", id, tag, vm_size,
	       date, vm_clock, icount, disk_size);
}

static void text_snapshots(const struct qcow2_image *img)
{
	char vm[32], date[32], clk[32], disk[32], icount[24];
	uint32_t i;

	snapshot_columns("ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT",
			 "DISK SIZE");
	for (i = 0; i < img->nb_snapshots; i++) {
		const struct qcow2_snapshot *sn = &img->snapshots[i];

		format_size(vm, sizeof(vm), sn->vm_state_size);
		format_date(date, sizeof(date), sn->date_sec);
		format_clock(clk, sizeof(clk), sn->vm_clock_nsec);
		format_size(disk, sizeof(disk), sn->disk_size);
		if (sn->icount == ~0ULL)
			snprintf(icount, sizeof(icount), "--");
		else
			snprintf(icount, sizeof(icount), "%" PRIu64, sn->icount);
		snapshot_columns(shown(sn->id_str), shown(sn->name), vm, date,
				 clk, icount, disk);
	}
}

/* What the header's dirty and corrupt bits mean for what is shown. */
void image_warnings(const struct qcow2_image *img, const char *path)
{
	if (img->incompatible_features & QCOW2_INCOMPAT_CORRUPT)
		warnx("%s: QEMU has marked the image corrupt: its tables may be wrong ('qemu-img check' says where)",
		      shown(path));
	if (img->incompatible_features & QCOW2_INCOMPAT_DIRTY)
		warnx("%s: the image is dirty (open in QEMU with lazy refcounts, or not closed cleanly); its tables are read as they are",
		      shown(path));
}

static void json_snapshots(const char *path, const struct qcow2_image *img)
{
	struct json j;
	uint32_t i;

	json_init(&j, stdout);
	json_open_object(&j, NULL);
	json_string(&j, "image", path);
	json_u64(&j, "virtual_size", img->size);
	json_u64(&j, "cluster_size", img->cluster_size);
	json_u64(&j, "qcow2_version", img->version);
	json_string(&j, "backing_file",
		    img->backing_file[0] ? img->backing_file : NULL);
	json_bool(&j, "dirty", img->incompatible_features & QCOW2_INCOMPAT_DIRTY);
	json_bool(&j, "corrupt",
		  img->incompatible_features & QCOW2_INCOMPAT_CORRUPT);
	json_string(&j, "encryption",
		    img->crypt_method == QCOW2_CRYPT_LUKS ? "luks" :
		    img->crypt_method == QCOW2_CRYPT_AES ? "aes" : NULL);
	json_open_array(&j, "snapshots");
	for (i = 0; i < img->nb_snapshots; i++) {
		const struct qcow2_snapshot *sn = &img->snapshots[i];

		json_open_object(&j, NULL);
		json_string(&j, "id", sn->id_str);
		json_string(&j, "name", sn->name);
		json_u64(&j, "vm_state_size", sn->vm_state_size);
		json_u64(&j, "date", sn->date_sec);
		json_u64(&j, "date_nsec", sn->date_nsec);
		json_u64(&j, "vm_clock_nsec", sn->vm_clock_nsec);
		if (sn->icount == ~0ULL)
			json_null(&j, "icount");
		else
			json_u64(&j, "icount", sn->icount);
		json_u64(&j, "disk_size", sn->disk_size);
		json_close_object(&j);
	}
	json_close_array(&j);
	json_close_object(&j);
}

int cmd_snapshots(int argc, char **argv)
{
	struct qcow2_image img;
	bool json = false;
	int fd, ret;

	ret = parse_json_opt("snapshots", argc, argv, &json);
	if (ret >= 0)
		return ret;
	if (optind != argc - 1)
		return usage_error("snapshots", "snapshots takes one IMAGE");
	ret = load_image(argv[optind], &img, &fd);
	if (!ret) {
		image_warnings(&img, argv[optind]);
		if (json)
			json_snapshots(argv[optind], &img);
		else if (img.nb_snapshots)
			text_snapshots(&img);
		else
			printf("%s has no snapshots\n", shown(argv[optind]));
		qcow2_close(&img);
	}
	if (fd >= 0)
		close(fd);
	return ret ? 1 : 0;
}

/*
 * "qsnapctl: snapshot 'X' not found in IMAGE; available: 1 'a', 2 'b'",
 * the list cut after AVAILABLE_MAX with how many more there are.
 */
void snapshot_not_found(const struct qcow2_image *img, const char *image,
			const char *snapshot)
{
	uint32_t i, n = img->nb_snapshots;

	fprintf(stderr, "%s: snapshot '%s' not found in %s; available:", prog,
		shown(snapshot), shown(image));
	for (i = 0; i < n && i < AVAILABLE_MAX; i++)
		fprintf(stderr, " %s '%s'%s", shown(img->snapshots[i].id_str),
			shown(img->snapshots[i].name),
			i + 1 < n ? "," : "");
	if (n > AVAILABLE_MAX)
		fprintf(stderr, " and %u more (qsnapctl snapshots %s)",
			n - AVAILABLE_MAX, shown(image));
	fprintf(stderr, "%s\n", n ? "" : " none");
}

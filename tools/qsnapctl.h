/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * qsnapctl: what the command files share (messages, parsing, formatting,
 * the control device).
 */
#ifndef QSNAPCTL_H
#define QSNAPCTL_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <linux/qsnap.h>

#define CONTROL_PATH	"/dev/" QSNAP_CONTROL_NAME

/* Exit status, as losetup's: 0 success, 1 failure, 2 usage error. */
#define EXIT_USAGE	2

extern const char *prog;

void warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Prints "qsnapctl: <message>" (unless @fmt is NULL: getopt said it) and
 * where help is; returns EXIT_USAGE.
 */
int usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int open_control(void);

/* printf formats of a device's names, for its uint32_t index */
#define QSNAP_DEV_FMT		"/dev/qsnap%" PRIu32	/* the block device */
#define QSNAP_DISK_FMT		"qsnap%" PRIu32		/* its kernel name */
#define QSNAP_SYSFS_FMT		"/sys/block/" QSNAP_DISK_FMT

int parse_index(const char *s, uint32_t *index);
/* "/dev/qsnapN", "qsnapN" or "N" */
int device_index(const char *dev, uint32_t *index);
/* Indexes of the qsnap devices in /sys/block, ascending; -1 on error. */
int list_indexes(uint32_t **indexes);

/* escape.c: an image's or a file's name, made safe for a terminal */
const char *shown(const char *s);

void format_size(char *buf, size_t len, uint64_t bytes);
int parse_size(const char *s, uint64_t *bytes);
void format_date(char *buf, size_t len, uint32_t sec);
void format_clock(char *buf, size_t len, uint64_t nsec);
int run_program(char *const argv[], char *out, size_t len);

struct qcow2_image;

/* qsnapctl.c: "Usage:" and the help of one command */
void cmd_help(const char *cmd, FILE *out);

/* snapshots.c */
int cmd_snapshots(int argc, char **argv);
/* Open and parse @path into @img; 0, or -errno after printing why. */
int load_image(const char *path, struct qcow2_image *img, int *fdp);
void snapshot_not_found(const struct qcow2_image *img, const char *image,
			const char *snapshot);
void image_warnings(const struct qcow2_image *img, const char *path);

/* attach.c */
int cmd_attach(int argc, char **argv);
int cmd_detach(int argc, char **argv);
int cmd_features(int argc, char **argv);
int attach_image(const char *image, struct qsnap_attach *arg,
		 bool no_backing, bool verbose);
/* Detach device @index (@lazy: when its last user closes it); -errno. */
int detach_device(uint32_t index, bool lazy);

/* mount.c */
int cmd_mount(int argc, char **argv);
int cmd_mount_helper(int argc, char **argv);	/* as mount.qsnap */

/* diff.c */
int cmd_diff(int argc, char **argv);

/*
 * Parse "[--json] [--help]" for @cmd: -1 to go on with the operands in
 * argv[optind..], else the exit status.
 */
int parse_json_opt(const char *cmd, int argc, char **argv, bool *json);

/* show.c: attached devices */
int show_device(uint32_t index, bool json);	/* attach --json */
int cmd_list(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_udev_env(int argc, char **argv);
void explain_busy(const char *dev, uint32_t index);

/* inuse.c: images a running QEMU writes */
int image_written_by_qemu(int fd);

#endif /* QSNAPCTL_H */

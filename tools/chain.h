/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Backing chain resolution for qsnapctl: the module never opens a path
 * named inside an image, so the tool follows the chain with the same format
 * code, opens every file read-only (the files the image names with the
 * rights of the image's owner), and passes the fds.
 */
#ifndef QSNAPCTL_CHAIN_H
#define QSNAPCTL_CHAIN_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <linux/qsnap.h>

#include "qcow2.h"

struct chain_layer {
	char *path;		/* as resolved (what was opened) */
	int fd;
	char *data_path;	/* external data file, or NULL */
	int data_fd;		/* -1 without one */
	__u32 format;		/* QSNAP_FORMAT_* */
	dev_t dev;
	ino_t ino;
	bool has_img;
	struct qcow2_image img;	/* qcow2 layers */
};

/* The image and, unless ignored, its backing files, top-down. */
struct chain {
	struct chain_layer layers[1 + QSNAP_MAX_BACKING];
	unsigned int n;
	char err[2048];		/* why chain_open() failed */
	/*
	 * The image itself did not parse: it is passed alone, and the kernel
	 * (which validates it again) gives the errno; this says why.
	 */
	char top_err[QCOW2_ERR_MAX];
	/* Files the image names are opened as its owner (chain.c). */
	bool as_owner;
	uid_t owner_uid;
	gid_t owner_gid;
	gid_t *owner_groups;
	int owner_ngroups;
	gid_t *root_groups;	/* the caller's, restored after */
	int root_ngroups;
};

int fd_pread(void *opaque, void *buf, size_t len, u64 off);
int open_image_file(const char *path, struct stat *st);
const char *file_kind(mode_t mode);
int chain_open(struct chain *c, const char *image, bool no_backing);
void chain_close(struct chain *c);

#endif /* QSNAPCTL_CHAIN_H */

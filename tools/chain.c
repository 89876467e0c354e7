// SPDX-License-Identifier: GPL-2.0-only
/*
 * Backing chain resolution for qsnapctl (see chain.h).
 *
 * The rules are QEMU's: a relative backing (or data file) name is relative
 * to the directory of the image that names it; the format is the one the
 * image names in its backing format extension, else probed (the qcow2
 * magic, else raw).  Unlike QEMU, protocol names (nbd:, json:, ...) are
 * refused: qsnap reads local files only.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"

/* Images are larger than 2 GiB: 32-bit builds need large-file support. */
_Static_assert(sizeof(off_t) == 8, "build with -D_FILE_OFFSET_BITS=64");

/* qcow2_io.pread over the file descriptor *@opaque. */
int fd_pread(void *opaque, void *buf, size_t len, u64 off)
{
	int fd = *(int *)opaque;

	while (len) {
		ssize_t n = pread(fd, buf, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!n)
			return -EIO;
		buf = (char *)buf + n;
		len -= n;
		off += n;
	}
	return 0;
}

/* What a file that is no image is, for the message that refuses it. */
const char *file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISSOCK(mode))
		return "a socket";
	return "not a regular file";
}

/*
 * Open an image (or a data file) read-only.  The path is first opened
 * O_PATH, which opens nothing (no device driver's open, no FIFO's), and
 * anything but a regular file or a block device is refused there (-EINVAL,
 * *st says what it is): a name in an image cannot make qsnapctl open a
 * watchdog, a tape or a terminal, or wait on a FIFO.  Then that same
 * inode is opened for reading through /proc/self/fd, with the permission
 * checks of a plain open.  Return: the fd, or -errno.
 */
int open_image_file(const char *path, struct stat *st)
{
	int pfd = open(path, O_PATH | O_CLOEXEC), fd, err;
	char self[64];

	if (pfd < 0)
		return -errno;
	if (fstat(pfd, st) < 0) {
		err = errno;
		close(pfd);
		return -err;
	}
	if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode)) {
		close(pfd);
		return -EINVAL;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	fd = open(self, O_RDONLY | O_CLOEXEC);
	err = errno;
	close(pfd);
	if (fd < 0)
		return access("/proc/self/fd", F_OK) ? -ENOSYS : -err;
	/*
	 * A block device's clean cached pages may predate another host's
	 * writes (shared storage, another path to the same LV): read the
	 * image as the device holds it now, as the module does at attach.
	 */
	if (S_ISBLK(st->st_mode))
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	return fd;
}

static int __attribute__((format(printf, 3, 4)))
chain_fail(struct chain *c, int err, const char *fmt, ...);

/*
 * An image can expose at most what its owner could read.  When root
 * follows the chain of an image that someone else owns, the backing and
 * data files it names are opened with that owner's file system uid, gid
 * and groups, so that the kernel's own permission checks decide, as they
 * would for the owner (fsuid 0 -> non-zero also drops root's
 * CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH for those opens).  An image
 * owned by root may name what root can read; a caller that is not root
 * opens everything with its own rights anyway.
 */
static int owner_setup(struct chain *c, const struct stat *top)
{
	struct passwd *pw;
	int n = 0;

	if (geteuid() != 0 || top->st_uid == 0)
		return 0;
	c->owner_uid = top->st_uid;
	c->owner_gid = top->st_gid;
	pw = getpwuid(top->st_uid);
	if (pw) {
		c->owner_gid = pw->pw_gid;
		getgrouplist(pw->pw_name, pw->pw_gid, NULL, &n);
		c->owner_groups = calloc(n ? n : 1, sizeof(gid_t));
		if (!c->owner_groups ||
		    getgrouplist(pw->pw_name, pw->pw_gid, c->owner_groups, &n) < 0)
			return chain_fail(c, ENOMEM, "out of memory");
		c->owner_ngroups = n;
	}
	c->as_owner = true;
	return 0;
}

/* Become the image's owner for the file system (see owner_setup()). */
static int owner_enter(const struct chain *c)
{
	if (!c->as_owner)
		return 0;
	if (setgroups(c->owner_ngroups, c->owner_groups))
		return -errno;
	setfsgid(c->owner_gid);
	setfsuid(c->owner_uid);
	if ((uid_t)setfsuid(-1) != c->owner_uid ||
	    (gid_t)setfsgid(-1) != c->owner_gid)
		return -EPERM;
	return 0;
}

static void owner_leave(const struct chain *c)
{
	gid_t none;

	if (!c->as_owner)
		return;
	setfsuid(geteuid());
	setfsgid(getegid());
	/* root's own groups: those it had (qsnapctl runs with none added) */
	if (setgroups(c->root_ngroups, c->root_ngroups ? c->root_groups : &none))
		err(1, "setgroups");
}

/* open_image_file() of a file named by an image, as its owner. */
static int open_named_file(const struct chain *c, const char *path,
			   struct stat *st)
{
	int fd = owner_enter(c);

	if (!fd)
		fd = open_image_file(path, st);
	owner_leave(c);
	return fd;
}

/* Why a file an image names could not be opened: strerror, or more. */
static const char *named_error(const struct chain *c, int err, char *buf,
			       size_t len)
{
	if (c->as_owner && (err == EACCES || err == EPERM)) {
		snprintf(buf, len, "%s: the image's owner (uid %u) cannot read it, and an image may name only what its owner can read",
			 strerror(err), (unsigned int)c->owner_uid);
		return buf;
	}
	if (err == ENOSYS)
		return "cannot reopen it: /proc is not mounted";
	return strerror(err);
}

static int __attribute__((format(printf, 3, 4)))
chain_fail(struct chain *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return -err;
}

/* QEMU's path_has_protocol(): "proto:..." before any slash. */
static bool has_protocol(const char *name)
{
	return name[strcspn(name, ":/")] == ':';
}

/* QEMU's path_combine(): @name relative to the directory of @base. */
static char *path_combine(const char *base, const char *name)
{
	const char *slash = strrchr(base, '/');
	char *out;

	if (name[0] == '/' || !slash)
		return strdup(name);
	if (asprintf(&out, "%.*s/%s", (int)(slash - base), base, name) < 0)
		return NULL;
	return out;
}

static off_t fd_size(int fd, const struct stat *st)
{
	off_t end;

	if (!S_ISBLK(st->st_mode))
		return st->st_size;
	end = lseek(fd, 0, SEEK_END);
	return end < 0 ? 0 : end;
}

/* Open @path read-only as layer @i; the caller checked i is in range. */
static int open_layer(struct chain *c, unsigned int i, char *path,
		      const char *named_by)
{
	struct chain_layer *l = &c->layers[i];
	struct stat st;
	unsigned int j;

	l->path = path;
	l->fd = named_by ? open_named_file(c, path, &st) :
			   open_image_file(path, &st);
	if (l->fd == -EINVAL)
		return chain_fail(c, EINVAL, "%s%s%s: %s, not an image (a regular file or block device)",
				  path, named_by ? ", named by " : "",
				  named_by ? named_by : "", file_kind(st.st_mode));
	if (l->fd < 0) {
		int err = -l->fd;
		char why[256];

		if (named_by)
			return chain_fail(c, err, "backing file %s (named by %s): %s; --no-backing attaches the image without it",
					  path, named_by,
					  named_error(c, err, why, sizeof(why)));
		return chain_fail(c, err, "%s: %s", path,
				  err == ENOSYS ? named_error(c, err, why, sizeof(why)) :
				  strerror(err));
	}
	if (!named_by) {
		int ret = owner_setup(c, &st);

		if (ret)
			return ret;
	}
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	for (j = 0; j < i; j++)
		if (c->layers[j].dev == l->dev && c->layers[j].ino == l->ino)
			return chain_fail(c, ELOOP, "backing chain loop: %s (named by %s) is %s again",
					  path, named_by, c->layers[j].path);
	return 0;
}

static int load_qcow2(struct chain *c, struct chain_layer *l)
{
	struct qcow2_io io = { .pread = fd_pread, .opaque = &l->fd };
	struct stat st;
	int ret;

	if (fstat(l->fd, &st) < 0)
		return chain_fail(c, errno, "%s: %s", l->path, strerror(errno));
	io.file_size = fd_size(l->fd, &st);
	ret = qcow2_open(&l->img, &io);
	l->has_img = true;
	if (ret)
		return chain_fail(c, -ret, "%s: %s", l->path,
				  l->img.err[0] ? l->img.err : strerror(-ret));
	if (!l->img.has_data_file)
		return 0;
	if (has_protocol(l->img.data_file))
		return chain_fail(c, EOPNOTSUPP, "%s: data file \"%s\" is not a local file",
				  l->path, l->img.data_file);
	l->data_path = path_combine(l->path, l->img.data_file);
	if (!l->data_path)
		return chain_fail(c, ENOMEM, "out of memory");
	l->data_fd = open_named_file(c, l->data_path, &st);
	if (l->data_fd == -EINVAL)
		return chain_fail(c, EINVAL, "data file %s (named by %s): %s, not a regular file or block device",
				  l->data_path, l->path, file_kind(st.st_mode));
	if (l->data_fd < 0) {
		char why[256];

		return chain_fail(c, -l->data_fd, "data file %s (named by %s): %s",
				  l->data_path, l->path,
				  named_error(c, -l->data_fd, why, sizeof(why)));
	}
	return 0;
}

/* What format is the file behind @l, as its child declares or QEMU probes? */
static int backing_format(struct chain *c, struct chain_layer *l,
			  const struct chain_layer *child)
{
	const char *fmt = child->img.backing_format;
	__be32 magic = 0;

	if (!strcmp(fmt, "qcow2")) {
		l->format = QSNAP_FORMAT_QCOW2;
	} else if (!strcmp(fmt, "raw")) {
		l->format = QSNAP_FORMAT_RAW;
	} else if (fmt[0]) {
		return chain_fail(c, EOPNOTSUPP, "%s: backing file format \"%s\" is not supported (qcow2 and raw are)",
				  child->path, fmt);
	} else {
		l->format = QSNAP_FORMAT_RAW;
		if (pread(l->fd, &magic, sizeof(magic), 0) == sizeof(magic) &&
		    be32toh(magic) == QCOW2_MAGIC)
			l->format = QSNAP_FORMAT_QCOW2;
	}
	return 0;
}

/**
 * chain_open() - open an image and its backing chain, read-only
 * @c: filled in; release with chain_close() even on error
 * @image: the image path
 * @no_backing: ignore the image's backing file
 *
 * Return: 0, or -errno with c->err saying why: -ENOENT (and the like) for
 * a file that cannot be opened, -ELOOP for a loop or a chain deeper than
 * QSNAP_MAX_BACKING, -EOPNOTSUPP for formats and protocols qsnap does not
 * read, -EINVAL for a malformed image.
 */
int chain_open(struct chain *c, const char *image, bool no_backing)
{
	struct chain_layer *l, *child;
	char *path;
	int ret;

	memset(c, 0, sizeof(*c));
	for (unsigned int i = 0; i < 1 + QSNAP_MAX_BACKING; i++)
		c->layers[i].fd = c->layers[i].data_fd = -1;
	c->root_ngroups = getgroups(0, NULL);
	if (c->root_ngroups > 0) {
		c->root_groups = calloc(c->root_ngroups, sizeof(gid_t));
		if (!c->root_groups)
			return chain_fail(c, ENOMEM, "out of memory");
		c->root_ngroups = getgroups(c->root_ngroups, c->root_groups);
	}
	if (c->root_ngroups < 0)
		c->root_ngroups = 0;
	path = strdup(image);
	if (!path)
		return chain_fail(c, ENOMEM, "out of memory");
	c->n = 1;
	ret = open_layer(c, 0, path, NULL);
	if (ret)
		return ret;
	c->layers[0].format = QSNAP_FORMAT_QCOW2;
	ret = load_qcow2(c, &c->layers[0]);
	if (ret && !c->layers[0].data_path && c->layers[0].img.err[0]) {
		/* Malformed or unsupported: the kernel refuses it itself. */
		snprintf(c->top_err, sizeof(c->top_err), "%s",
			 c->layers[0].img.err);
		return 0;
	}
	if (ret || no_backing)
		return ret;

	for (;;) {
		child = &c->layers[c->n - 1];
		if (child->format != QSNAP_FORMAT_QCOW2 ||
		    !child->img.backing_file[0])
			return 0;
		if (c->n == 1 + QSNAP_MAX_BACKING)
			return chain_fail(c, ELOOP, "%s: backing chain deeper than %u files",
					  image, QSNAP_MAX_BACKING);
		if (has_protocol(child->img.backing_file))
			return chain_fail(c, EOPNOTSUPP, "%s: backing file \"%s\" is not a local file",
					  child->path, child->img.backing_file);
		path = path_combine(child->path, child->img.backing_file);
		if (!path)
			return chain_fail(c, ENOMEM, "out of memory");
		l = &c->layers[c->n++];
		ret = open_layer(c, c->n - 1, path, child->path);
		if (ret)
			return ret;
		ret = backing_format(c, l, child);
		if (ret)
			return ret;
		if (l->format == QSNAP_FORMAT_QCOW2) {
			ret = load_qcow2(c, l);
			if (ret)
				return ret;
		}
	}
}

void chain_close(struct chain *c)
{
	unsigned int i;

	for (i = 0; i < c->n; i++) {
		struct chain_layer *l = &c->layers[i];

		if (l->has_img)
			qcow2_close(&l->img);
		if (l->fd >= 0)
			close(l->fd);
		if (l->data_fd >= 0)
			close(l->data_fd);
		free(l->path);
		free(l->data_path);
	}
	c->n = 0;
	free(c->owner_groups);
	free(c->root_groups);
	c->owner_groups = c->root_groups = NULL;
}

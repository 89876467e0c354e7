// SPDX-License-Identifier: GPL-2.0-only
/*
 * The /dev/qsnap-control ABI: every refusal the kernel promises, and the
 * attach/info/detach round trip.  Runs as root inside the test VM.
 *
 *   qsnap_ioctl_test IMAGE OVERLAY BASE LUKS LUKSKEY NOCIPHER
 *
 * IMAGE: a valid qcow2 without backing file, with a snapshot "one";
 * OVERLAY: a qcow2 whose backing file is BASE (format qcow2, named);
 * LUKS: an aes-256-xts-plain64 image with a snapshot "s1", LUKSKEY its
 * volume key in hex; NOCIPHER: one encrypted with a cipher the kernel has
 * not got.
 *
 * Prints TAP.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/keyctl.h>
#include <linux/qsnap.h>

#include "../tap.h"
#include "hexkey.h"

static int ctl;
static const char *image;

/* ioctl that must fail with @want */
static void expect_errno(unsigned long cmd, void *arg, int want,
			 const char *name)
{
	char detail[128];
	int ret = ioctl(ctl, cmd, arg);
	int err = ret < 0 ? errno : 0;

	snprintf(detail, sizeof(detail), "got %s, want %s",
		 ret < 0 ? strerror(err) : "success", strerror(want));
	check(ret < 0 && err == want, name, detail);
}

static void init_attach(struct qsnap_attach *a, int fd)
{
	memset(a, 0, sizeof(*a));
	a->image_fd = fd;
	a->index = QSNAP_INDEX_ANY;
	a->flags = QSNAP_ATTACH_F_SNAPSHOT;
	strcpy(a->snapshot, "one");
}

/*
 * An attach the kernel refuses because of what the files say: @want, and
 * exactly one new "qsnap: " line in the kernel log, containing @line.
 */
static void expect_refusal(struct qsnap_attach *a, int want, const char *line,
			   const char *name)
{
	char rec[2048], last[2048] = "", detail[2300];
	int kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	int ret, err, lines = 0;
	ssize_t n;

	if (kmsg < 0 || lseek(kmsg, 0, SEEK_END) < 0) {
		check(0, name, "cannot read /dev/kmsg");
		return;
	}
	ret = ioctl(ctl, QSNAP_IOC_ATTACH, a);
	err = ret < 0 ? errno : 0;
	for (;;) {
		n = read(kmsg, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* records overwritten meanwhile */
		if (n <= 0)
			break;
		rec[n] = '\0';
		if (strstr(rec, ";qsnap: ")) {
			lines++;
			snprintf(last, sizeof(last), "%s", strchr(rec, ';') + 1);
		}
	}
	close(kmsg);
	snprintf(detail, sizeof(detail), "got %s and %d qsnap: lines (%s), want %s and one with '%s'",
		 ret < 0 ? strerror(err) : "success", lines, last,
		 strerror(want), line);
	check(ret < 0 && err == want && lines == 1 && strstr(last, line),
	      name, detail);
}

/* Attach must succeed; the device is detached again. */
static void expect_attach(struct qsnap_attach *a, const char *name)
{
	struct qsnap_detach d;

	if (ioctl(ctl, QSNAP_IOC_ATTACH, a) < 0) {
		check(0, name, strerror(errno));
		return;
	}
	memset(&d, 0, sizeof(d));
	d.index = a->index;
	check(ioctl(ctl, QSNAP_IOC_DETACH, &d) == 0, name, strerror(errno));
}

/* A "logon" key @desc in the user keyring holding @len bytes of @data. */
static long add_logon_key(const char *desc, const void *data, size_t len)
{
	return syscall(SYS_add_key, "logon", desc, data, len,
		       KEY_SPEC_USER_KEYRING);
}

/* Name logon key @desc in key @k. */
static void set_keyring_key(struct qsnap_key *k, const char *desc)
{
	memset(k, 0, sizeof(*k));
	k->flags = QSNAP_KEY_F_KEYRING;
	k->size = strlen(desc);
	memcpy(k->key, desc, k->size);
}

/*
 * Volume keys from the caller's keyrings (QSNAP_KEY_F_KEYRING): a logon
 * key holding the image's key attaches, a missing, short or wrong one is
 * refused.  @a is set up for the LUKS image.
 */
static void test_keyring_keys(struct qsnap_attach *a, const __u8 *vk, int vk_size)
{
	__u8 zeros[QSNAP_KEY_MAX] = { 0 };
	struct qsnap_key k;
	long id[3];
	int i;

	a->keys = (unsigned long)&k;
	a->nr_keys = 1;
	set_keyring_key(&k, "qsnap:absent");
	expect_refusal(a, ENOKEY, "no logon key 'qsnap:absent' can be read",
		       "keyring: a logon key that is not there: ENOKEY");
	id[0] = add_logon_key("qsnap:short", vk, 32);
	id[1] = add_logon_key("qsnap:zeros", zeros, vk_size);
	id[2] = add_logon_key("qsnap:right", vk, vk_size);
	if (id[0] < 0 || id[1] < 0 || id[2] < 0) {
		check(0, "keyring: logon keys can be added", strerror(errno));
		return;
	}
	set_keyring_key(&k, "qsnap:short");
	expect_refusal(a, EINVAL, "logon key 'qsnap:short' holds 32 bytes; the image's key has 64",
		       "keyring: a logon key of the wrong size");
	set_keyring_key(&k, "qsnap:zeros");
	expect_refusal(a, EKEYREJECTED, "the key does not match the LUKS header's digest",
		       "keyring: a logon key that is not the image's: EKEYREJECTED");
	set_keyring_key(&k, "qsnap:right");
	expect_attach(a, "keyring: the image attaches with the logon key holding its key");
	a->index = QSNAP_INDEX_ANY;
	a->size = 0;
	for (i = 0; i < 3; i++)
		syscall(SYS_keyctl, KEYCTL_UNLINK, id[i], KEY_SPEC_USER_KEYRING);
	expect_refusal(a, ENOKEY, "no logon key 'qsnap:right' can be read",
		       "keyring: ... and is refused once the key is gone");
}

/*
 * The key array: validated as a whole before anything is opened, then
 * matched with the chain: a key for each encrypted image, none for the
 * others, and a LUKS key checked against the header's digest.
 * @luks_path is an aes-256-xts-plain64 image with volume key @vk,
 * @nocipher_path one whose cipher is anubis, which the test kernels do
 * not have.  Then 1,000 attach/detach cycles of the encrypted image, for
 * kmemleak.
 */
static void test_keys(int plain, const char *luks_path, const __u8 *vk,
		      int vk_size, const char *nocipher_path)
{
	struct qsnap_key k[2];
	struct qsnap_attach a;
	struct qsnap_detach d;
	int luks, nocipher, i, failed = 0;

	memset(k, 0, sizeof(k));
	k[0].size = 64;
#define KEY_CASE(setup, want, name)				\
	do {							\
		init_attach(&a, plain);				\
		a.keys = (unsigned long)k;			\
		a.nr_keys = 1;					\
		setup;						\
		expect_errno(QSNAP_IOC_ATTACH, &a, want, name);	\
		memset(k, 0, sizeof(k));			\
		k[0].size = 64;					\
	} while (0)
	KEY_CASE(a.__pad3 = 1, EINVAL, "keys: nonzero padding");
	KEY_CASE(a.nr_keys = 2 + QSNAP_MAX_BACKING, EINVAL, "keys: too many");
	KEY_CASE(a.nr_keys = 0, EINVAL, "keys: a pointer and no count");
	KEY_CASE(a.keys = 1, EFAULT, "keys: a bad pointer: EFAULT");
	KEY_CASE(k[0].layer = 1, EINVAL, "keys: a layer past the chain");
	KEY_CASE(k[0].size = 0, EINVAL, "keys: size 0");
	KEY_CASE(k[0].size = QSNAP_KEY_MAX + 1, EINVAL, "keys: a size over QSNAP_KEY_MAX");
	KEY_CASE((k[0].size = 32, k[0].key[40] = 1), EINVAL,
		 "keys: a byte set past the key's size");
	KEY_CASE(k[0].flags = 1U << 1, EINVAL, "keys: an unknown flag");
	KEY_CASE(k[0].__pad = 1, EINVAL, "keys: nonzero key padding");
	KEY_CASE(k[0].__reserved = 1, EINVAL, "keys: nonzero reserved");
	KEY_CASE((k[0].flags = QSNAP_KEY_F_KEYRING, memset(k[0].key, 'a', 64)),
		 EINVAL, "keys: a key description with no room for its NUL");
	KEY_CASE((k[0].flags = QSNAP_KEY_F_KEYRING, k[0].size = 4,
		  memcpy(k[0].key, "a\0bc", 4)),
		 EINVAL, "keys: a key description with a NUL inside");
	KEY_CASE((a.nr_keys = 2, k[1].size = 64), EINVAL, "keys: one layer twice");

	init_attach(&a, plain);
	a.keys = (unsigned long)k;
	a.nr_keys = 1;
	expect_refusal(&a, EINVAL, "a key was passed, but the image is not encrypted",
		       "keys: a key for an image that is not encrypted");

	luks = open(luks_path, O_RDONLY);
	if (luks < 0 || vk_size != 64) {
		check(0, "keys: the LUKS image opens and its key is read", strerror(errno));
		return;
	}
	init_attach(&a, luks);
	strcpy(a.snapshot, "s1");
	expect_refusal(&a, ENOKEY, "the image is encrypted (LUKS aes-xts-plain64): its key is needed",
		       "keys: an encrypted image without its key: ENOKEY");
	a.keys = (unsigned long)k;
	a.nr_keys = 1;
	k[0].size = 32;
	expect_refusal(&a, EINVAL, "a key of 32 bytes was passed; the image's is 64",
		       "keys: a key of the wrong size");
	k[0].size = 64;
	expect_refusal(&a, EKEYREJECTED, "the key does not match the LUKS header's digest",
		       "keys: a key that is not the image's: EKEYREJECTED");
	memcpy(k[0].key, vk, 64);
	k[0].key[63] ^= 1;
	expect_refusal(&a, EKEYREJECTED, "the key does not match the LUKS header's digest",
		       "keys: the image's key with one bit flipped: EKEYREJECTED");
	k[0].key[63] ^= 1;
	expect_attach(&a, "keys: the encrypted image attaches with its key");
	/*
	 * Each cycle allocates and frees a tfm and the key's copies; the
	 * sanitizer kernel's kmemleak scan at the end of its run finds any of
	 * them left behind, and KASAN a use after free.  (lifecycle's 1000
	 * cycles measure slab drift; these only need to repeat.)
	 */
	for (i = 0; i < 100 && !failed; i++) {
		a.index = QSNAP_INDEX_ANY;
		a.size = 0;	/* an output of the last attach */
		memset(&d, 0, sizeof(d));
		failed = ioctl(ctl, QSNAP_IOC_ATTACH, &a) < 0;
		d.index = a.index;
		failed |= !failed && ioctl(ctl, QSNAP_IOC_DETACH, &d) < 0;
	}
	check(!failed, "keys: 100 attach/detach cycles of an encrypted image",
	      strerror(errno));
	a.index = QSNAP_INDEX_ANY;
	a.size = 0;
	test_keyring_keys(&a, vk, vk_size);
	close(luks);

	nocipher = open(nocipher_path, O_RDONLY);
	if (nocipher < 0) {
		check(0, "keys: the image with a missing cipher opens", strerror(errno));
		return;
	}
	init_attach(&a, nocipher);
	a.keys = (unsigned long)k;
	a.nr_keys = 1;
	strcpy(a.snapshot, "s1");
	expect_refusal(&a, EOPNOTSUPP, "the kernel has no xts(anubis) cipher",
		       "keys: a cipher the kernel does not have: EOPNOTSUPP");
	close(nocipher);
}

static void init_overlay(struct qsnap_attach *a, int fd,
			 struct qsnap_backing *b, unsigned int n)
{
	memset(a, 0, sizeof(*a));
	a->image_fd = fd;
	a->index = QSNAP_INDEX_ANY;
	a->backing = (unsigned long)b;
	a->nr_backing = n;
}

/* The fd array must be exactly the chain the headers declare. */
static void test_backing_fds(int plain, const char *overlay_path,
			     const char *base_path, int wo, int dir)
{
	struct qsnap_backing b[QSNAP_MAX_BACKING + 1];
	int overlay = open(overlay_path, O_RDONLY);
	int base = open(base_path, O_RDONLY);
	struct qsnap_attach a;
	unsigned int i;

	if (overlay < 0 || base < 0) {
		check(0, "open the overlay and its base", strerror(errno));
		return;
	}
	memset(b, 0, sizeof(b));
	for (i = 0; i <= QSNAP_MAX_BACKING; i++) {
		b[i].fd = base;
		b[i].format = QSNAP_FORMAT_QCOW2;
	}

	init_overlay(&a, overlay, b, 1);
	expect_attach(&a, "overlay with its base attaches");
	init_overlay(&a, overlay, NULL, 0);
	a.flags = QSNAP_ATTACH_F_NO_BACKING;
	expect_attach(&a, "overlay with QSNAP_ATTACH_F_NO_BACKING attaches");

	init_overlay(&a, overlay, NULL, 0);
	expect_refusal(&a, EINVAL, "was not passed", "overlay without its base fd");
	init_overlay(&a, overlay, b, 2);
	expect_refusal(&a, EINVAL, "has no backing file, but",
		       "one backing fd more than the chain has");
	init_overlay(&a, plain, b, 1);
	expect_refusal(&a, EINVAL, "has no backing file, but",
		       "a backing fd for an image without backing file");
	init_overlay(&a, overlay, b, QSNAP_MAX_BACKING + 1);
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL, "more backing fds than the limit");
	init_overlay(&a, overlay, b, 1);
	a.flags = QSNAP_ATTACH_F_NO_BACKING;
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL,
		     "backing fds together with QSNAP_ATTACH_F_NO_BACKING");
	init_overlay(&a, overlay, NULL, 1);
	expect_errno(QSNAP_IOC_ATTACH, &a, EFAULT, "backing array at NULL");
	init_overlay(&a, overlay, b, 1);
	a.data_fd = base;
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL,
		     "data_fd without QSNAP_ATTACH_F_DATA_FILE");
	init_overlay(&a, overlay, b, 1);
	a.flags = QSNAP_ATTACH_F_DATA_FILE;
	a.data_fd = base;
	expect_refusal(&a, EINVAL, "a data file was passed",
		       "a data file for an image without one");
	init_overlay(&a, overlay, b, 1);
	a.flags = QSNAP_ATTACH_F_DATA_FILE;
	a.data_fd = -1;
	expect_errno(QSNAP_IOC_ATTACH, &a, EBADF,
		     "QSNAP_ATTACH_F_DATA_FILE with data_fd -1: EBADF");
	b[0].flags = QSNAP_BACKING_F_DATA_FILE;
	b[0].data_fd = -1;
	init_overlay(&a, overlay, b, 1);
	expect_errno(QSNAP_IOC_ATTACH, &a, EBADF,
		     "QSNAP_BACKING_F_DATA_FILE with data_fd -1: EBADF");
	b[0].flags = 0;
	b[0].data_fd = 0;

	b[0].format = QSNAP_FORMAT_RAW;
	init_overlay(&a, overlay, b, 1);
	expect_refusal(&a, EINVAL, "was passed as raw, but the image says qcow2",
		       "base passed as raw, but the overlay names qcow2");
	b[0].format = 3;
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL, "unknown backing format");
	b[0].format = QSNAP_FORMAT_QCOW2;
	b[0].flags = 1U << 5;
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL, "unknown backing flag");
	b[0].flags = 0;
	b[0].__reserved[1] = 1;
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL, "nonzero backing reserved");
	b[0].__reserved[1] = 0;
	b[0].fd = dir;
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL, "a directory as backing file");
	b[0].fd = wo;
	expect_errno(QSNAP_IOC_ATTACH, &a, EBADF, "a write-only backing fd");
	b[0].fd = overlay;
	expect_refusal(&a, ELOOP, "appears twice",
		       "the overlay as its own backing file: ELOOP");
	close(overlay);
	close(base);
}

/* /sys/block/qsnapN/qsnap/NAME, as a number (-1 if unreadable). */
static long sysfs_attr(unsigned int index, const char *name)
{
	char path[96];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/block/qsnap%u/qsnap/%s", index,
		 name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * Per-device settings: validated (unknown bits, values not given but set,
 * out of range), then applied and shown in sysfs; the defaults are the
 * module parameters'.
 */
static void test_settings(int fd)
{
	struct qsnap_attach a;
	struct qsnap_detach d;
	char detail[160];
	int ret;

	init_attach(&a, fd);
	a.set = 1U << 9;
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL, "settings: unknown bit");
	init_attach(&a, fd);
	a.recheck_ms = 5;
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL,
		     "settings: recheck_ms without QSNAP_SET_RECHECK_MS");
	init_attach(&a, fd);
	a.l2_cache_kb = 64;
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL,
		     "settings: l2_cache_kb without QSNAP_SET_L2_CACHE_KB");
	init_attach(&a, fd);
	a.set = QSNAP_SET_L2_CACHE_KB;
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL, "settings: l2_cache_kb 0");
	init_attach(&a, fd);
	a.set = QSNAP_SET_DIRECT_IO;
	a.direct_io = 2;
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL, "settings: direct_io 2");
	init_attach(&a, fd);
	a.share_images = 1;
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL,
		     "settings: share_images without QSNAP_SET_SHARE_IMAGES");
	init_attach(&a, fd);
	a.__pad2 = 1;
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL, "settings: nonzero __pad2");

	init_attach(&a, fd);
	a.index = 6;
	a.flags |= QSNAP_ATTACH_F_NO_PARTSCAN;
	a.set = QSNAP_SETTABLE;
	a.recheck_ms = 123;
	a.l2_cache_kb = 64;
	a.direct_io = 0;
	a.share_images = 0;
	ret = ioctl(ctl, QSNAP_IOC_ATTACH, &a);
	snprintf(detail, sizeof(detail),
		 "ret %d; sysfs recheck_ms %ld l2_cache_kb %ld direct_io %ld share_images %ld partscan %ld",
		 ret, sysfs_attr(6, "recheck_ms"), sysfs_attr(6, "l2_cache_kb"),
		 sysfs_attr(6, "direct_io"), sysfs_attr(6, "share_images"),
		 sysfs_attr(6, "partscan"));
	check(ret == 6 && sysfs_attr(6, "recheck_ms") == 123 &&
	      sysfs_attr(6, "l2_cache_kb") == 64 &&
	      sysfs_attr(6, "direct_io") == 0 &&
	      sysfs_attr(6, "share_images") == 0 &&
	      sysfs_attr(6, "partscan") == 0,
	      "settings given at attach are the device's (sysfs)", detail);
	memset(&d, 0, sizeof(d));
	d.index = 6;
	ioctl(ctl, QSNAP_IOC_DETACH, &d);

	init_attach(&a, fd);
	a.index = 6;
	ret = ioctl(ctl, QSNAP_IOC_ATTACH, &a);
	snprintf(detail, sizeof(detail),
		 "ret %d; sysfs recheck_ms %ld l2_cache_kb %ld share_images %ld partscan %ld",
		 ret, sysfs_attr(6, "recheck_ms"), sysfs_attr(6, "l2_cache_kb"),
		 sysfs_attr(6, "share_images"), sysfs_attr(6, "partscan"));
	check(ret == 6 && sysfs_attr(6, "recheck_ms") == 1000 &&
	      sysfs_attr(6, "l2_cache_kb") == 1024 &&
	      sysfs_attr(6, "share_images") == 1 &&
	      sysfs_attr(6, "partscan") == 1,
	      "settings not given are the module parameters' defaults", detail);
	ioctl(ctl, QSNAP_IOC_DETACH, &d);
}

/*
 * QSNAP_DETACH_F_LAZY: an open device is marked (0, GET_INFO says
 * autoclear) and goes at its last close; a closed one goes at once.
 */
static void test_lazy_detach(int fd)
{
	struct qsnap_detach d = { .index = 7, .flags = QSNAP_DETACH_F_LAZY };
	struct qsnap_info info;
	struct qsnap_attach a;
	int dev, i;

	init_attach(&a, fd);
	a.index = 7;
	if (ioctl(ctl, QSNAP_IOC_ATTACH, &a) < 0) {
		check(0, "lazy detach: attach", strerror(errno));
		return;
	}
	dev = open("/dev/qsnap7", O_RDONLY);
	check(dev >= 0 && ioctl(ctl, QSNAP_IOC_DETACH, &d) == 0,
	      "lazy detach of an open device: 0", strerror(errno));
	memset(&info, 0, sizeof(info));
	info.index = 7;
	check(ioctl(ctl, QSNAP_IOC_GET_INFO, &info) == 0 &&
	      (info.flags & QSNAP_INFO_F_AUTOCLEAR),
	      "... it stays, GET_INFO says autoclear", strerror(errno));
	close(dev);
	/* The detach runs in a work item after the last close. */
	for (i = 0; i < 100 && !access("/dev/qsnap7", F_OK); i++)
		usleep(100000);
	info.index = 7;
	check(access("/dev/qsnap7", F_OK) < 0 &&
	      ioctl(ctl, QSNAP_IOC_GET_INFO, &info) < 0 && errno == ENODEV,
	      "... and goes at its last close", "still there after 10 s");
	/*
	 * Any index: the one above is free again only once the removal has
	 * run to its end, a moment after GET_INFO stops finding it.
	 */
	init_attach(&a, fd);
	i = ioctl(ctl, QSNAP_IOC_ATTACH, &a);
	d.index = i;
	info.index = i;
	check(i >= 0 && ioctl(ctl, QSNAP_IOC_DETACH, &d) == 0 &&
	      ioctl(ctl, QSNAP_IOC_GET_INFO, &info) < 0 && errno == ENODEV,
	      "lazy detach of a closed device: gone at once", strerror(errno));
}

int main(int argc, char **argv)
{
	struct qsnap_features feat;
	struct qsnap_attach a, *ro;
	struct qsnap_detach d;
	struct qsnap_info info;
	int fd, rw, wo, dir, dev, status, vk_size;
	__u8 vk[QSNAP_KEY_MAX] = { 0 };
	pid_t pid;

	if (argc != 7) {
		fprintf(stderr, "usage: %s IMAGE OVERLAY BASE LUKS LUKSKEY NOCIPHER\n",
			argv[0]);
		return 2;
	}
	image = argv[1];
	ctl = open("/dev/" QSNAP_CONTROL_NAME, O_RDWR);
	fd = open(image, O_RDONLY);
	rw = open(image, O_RDWR);
	wo = open(image, O_WRONLY);
	dir = open("/", O_RDONLY | O_DIRECTORY);
	if (ctl < 0 || fd < 0 || rw < 0 || wo < 0 || dir < 0) {
		printf("Bail out! cannot open the control device or %s: %s\n",
		       image, strerror(errno));
		return 1;
	}

	check(sizeof(struct qsnap_attach) == 344 &&
	      sizeof(struct qsnap_detach) == 32 &&
	      sizeof(struct qsnap_info) == 1640 &&
	      sizeof(struct qsnap_features) == 64 &&
	      sizeof(struct qsnap_backing) == 32 &&
	      sizeof(struct qsnap_key) == 88,
	      "uapi struct sizes are the frozen ones", "size mismatch");

	memset(&feat, 0xff, sizeof(feat));
	check(ioctl(ctl, QSNAP_IOC_GET_FEATURES, &feat) == 0 &&
	      feat.attach_flags == QSNAP_ATTACH_SETTABLE_FLAGS &&
	      (feat.features & QSNAP_FEATURE_QCOW2_V3) &&
	      feat.attach_set == QSNAP_SETTABLE &&
	      feat.detach_flags == QSNAP_DETACH_F_LAZY &&
	      !feat.__pad && !feat.__reserved[0],
	      "GET_FEATURES reports v2/v3, the settable flags and settings, the detach flags",
	      strerror(errno));

	init_attach(&a, fd);
	a.flags |= 1U << 7;
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL, "attach: unknown flag bit");
	init_attach(&a, fd);
	a.__reserved[1] = 1;
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL, "attach: nonzero reserved");
	init_attach(&a, fd);
	a.__pad = 1;
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL, "attach: nonzero padding");
	init_attach(&a, fd);
	a.size = 4096;
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL, "attach: nonzero output field");
	init_attach(&a, fd);
	a.flags = 0;
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL,
		     "attach: snapshot name without the snapshot flag");
	init_attach(&a, fd);
	memset(a.snapshot, 'a', sizeof(a.snapshot));
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL,
		     "attach: snapshot name not NUL-terminated");
	init_attach(&a, -1);
	expect_errno(QSNAP_IOC_ATTACH, &a, EBADF, "attach: bad fd");
	init_attach(&a, wo);
	expect_errno(QSNAP_IOC_ATTACH, &a, EBADF, "attach: write-only fd");
	init_attach(&a, rw);
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL, "attach: read-write fd");
	init_attach(&a, dir);
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL, "attach: directory fd");
	init_attach(&a, ctl);
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL, "attach: character device fd");
	init_attach(&a, fd);
	a.index = 1U << 20;
	expect_errno(QSNAP_IOC_ATTACH, &a, EINVAL, "attach: index out of range");

	/* Without CAP_SYS_ADMIN (root dropped to nobody, fd inherited). */
	pid = fork();
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(3);
		init_attach(&a, fd);
		_exit(ioctl(ctl, QSNAP_IOC_ATTACH, &a) < 0 && errno == EPERM ?
		      0 : 1);
	}
	check(pid > 0 && waitpid(pid, &status, 0) == pid &&
	      WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "attach without CAP_SYS_ADMIN: EPERM", "not refused");
	/* What is no command is ENOTTY, also for the unprivileged. */
	pid = fork();
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(3);
		_exit(ioctl(ctl, _IO(QSNAP_IOC_MAGIC, 0x7f), NULL) < 0 &&
		      errno == ENOTTY ? 0 : 1);
	}
	check(pid > 0 && waitpid(pid, &status, 0) == pid &&
	      WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "unknown ioctl without CAP_SYS_ADMIN: ENOTTY", "not ENOTTY");

	/* An argument that cannot take the answer: EFAULT, and no device. */
	ro = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ro != MAP_FAILED) {
		init_attach(ro, fd);
		ro->index = 9;
		mprotect(ro, 4096, PROT_READ);
		expect_errno(QSNAP_IOC_ATTACH, ro, EFAULT,
			     "attach into a read-only buffer: EFAULT");
		memset(&info, 0, sizeof(info));
		info.index = 9;
		expect_errno(QSNAP_IOC_GET_INFO, &info, ENODEV,
			     "... and no device was made");
		munmap(ro, 4096);
	}

	init_attach(&a, fd);
	a.index = 7;
	check(ioctl(ctl, QSNAP_IOC_ATTACH, &a) == 7 && a.index == 7 &&
	      a.size == 64 << 20,
	      "attach at a requested index returns it, reports index and size",
	      strerror(errno));
	init_attach(&a, fd);
	a.index = 7;
	expect_errno(QSNAP_IOC_ATTACH, &a, EEXIST, "attach: index in use");

	memset(&info, 0xff, sizeof(info));
	info.index = 7;
	check(ioctl(ctl, QSNAP_IOC_GET_INFO, &info) == 0 && info.index == 7 &&
	      (info.flags & QSNAP_INFO_F_SNAPSHOT) &&
	      !strcmp(info.snapshot_name, "one") &&
	      !strcmp(info.snapshot_id, "1") && info.qcow2_version == 3 &&
	      info.cluster_size == 65536 && info.size == 64 << 20 &&
	      strstr(info.image, "v3-64k.qcow2") && !info.__reserved[0],
	      "GET_INFO describes the device", strerror(errno));
	memset(&info, 0, sizeof(info));
	info.index = 8;
	expect_errno(QSNAP_IOC_GET_INFO, &info, ENODEV, "GET_INFO: no device");

	memset(&d, 0, sizeof(d));
	d.index = 7;
	d.flags = 1U << 1;
	expect_errno(QSNAP_IOC_DETACH, &d, EINVAL, "detach: unknown flag");
	d.flags = 0;
	d.__reserved[2] = 1;
	expect_errno(QSNAP_IOC_DETACH, &d, EINVAL, "detach: nonzero reserved");
	d.__reserved[2] = 0;

	dev = open("/dev/qsnap7", O_RDONLY);
	check(dev >= 0, "open /dev/qsnap7", strerror(errno));
	check(open("/dev/qsnap7", O_RDWR) < 0 && errno == EROFS,
	      "open for writing: EROFS", "not refused");
	expect_errno(QSNAP_IOC_DETACH, &d, EBUSY, "detach while open: EBUSY");
	close(dev);
	check(ioctl(ctl, QSNAP_IOC_DETACH, &d) == 0, "detach after close",
	      strerror(errno));
	expect_errno(QSNAP_IOC_DETACH, &d, ENODEV, "detach twice: ENODEV");
	check(access("/dev/qsnap7", F_OK) < 0, "device node is gone",
	      "/dev/qsnap7 still exists");
	test_lazy_detach(fd);

	expect_errno(_IO(QSNAP_IOC_MAGIC, 0x7f), NULL, ENOTTY,
		     "unknown ioctl: ENOTTY");

	test_backing_fds(fd, argv[2], argv[3], wo, dir);
	test_settings(fd);
	vk_size = read_hex_key(argv[5], vk);
	test_keys(fd, argv[4], vk, vk_size, argv[6]);

	return tap_finish();
}

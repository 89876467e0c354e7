// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnapctl - attach qcow2 snapshots as read-only block devices
 *
 *   qsnapctl attach IMAGE [--snapshot ID|NAME] [--index N] [--no-backing]
 *   qsnapctl detach DEVICE...
 *   qsnapctl list
 *   qsnapctl snapshots IMAGE
 *   qsnapctl features
 *
 * Exit status: 0 on success, 1 on failure, 2 on a usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/qsnap.h>

#include "chain.h"
#include "qcow2.h"

#define CONTROL_PATH	"/dev/" QSNAP_CONTROL_NAME

static const char *prog = "qsnapctl";

static void usage(FILE *out)
{
	fprintf(out,
		"Usage:\n"
		"  %1$s attach IMAGE [--snapshot ID|NAME] [--index N] [--no-backing]\n"
		"      attach a snapshot (default: the current state) of a qcow2\n"
		"      image as a read-only /dev/qsnapN and print its path; the\n"
		"      backing chain it follows is printed on stderr\n"
		"  %1$s detach DEVICE...\n"
		"      remove /dev/qsnapN (also accepts N)\n"
		"  %1$s list\n"
		"      show attached devices\n"
		"  %1$s snapshots IMAGE\n"
		"      show the snapshot table of a qcow2 image\n"
		"  %1$s features\n"
		"      show what the loaded module supports\n"
		"\n"
		"Options:\n"
		"  -s, --snapshot ID|NAME  snapshot to attach: id first, then name\n"
		"      --index N           ask for /dev/qsnapN\n"
		"      --no-backing        do not read the backing file: what the\n"
		"                          image does not hold reads as zeros\n"
		"      --show              print the device path (always done)\n"
		"  -r, --read-only         accepted; devices are always read-only\n"
		"  -h, --help              this text\n"
		"\n"
		"Exit status: 0 success, 1 failure, 2 usage error.\n", prog);
}

static void __attribute__((format(printf, 1, 2))) warnx(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", prog);
	return 2;
}

static int open_control(void)
{
	int fd = open(CONTROL_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		warnx("%s: %s%s", CONTROL_PATH, strerror(errno),
		      errno == ENOENT ? " (is the qsnap module loaded?)" : "");
	return fd;
}

/* --- userspace view of an image, with the module's own format code --- */

/* Open and parse @path; 0, or -errno after printing why. */
static int load_image(const char *path, struct qcow2_image *img, int *fdp)
{
	struct qcow2_io io = { .pread = fd_pread, .opaque = fdp };
	struct stat st;
	int ret;

	*fdp = open(path, O_RDONLY | O_CLOEXEC);
	if (*fdp < 0) {
		ret = -errno;
		warnx("%s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(*fdp, &st) < 0) {
		ret = -errno;
		warnx("%s: %s", path, strerror(errno));
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
		warnx("%s: %s", path, img->err[0] ? img->err : strerror(-ret));
		qcow2_close(img);
	}
	return ret;
}

static void format_size(char *buf, size_t len, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB",
					     "PiB", "EiB" };
	double v = bytes;
	unsigned int u = 0;

	while (v >= 1024 && u < sizeof(units) / sizeof(units[0]) - 1) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, len, "%.3g %s", v, units[u]);
}

static void format_date(char *buf, size_t len, uint32_t sec)
{
	time_t t = sec;
	struct tm tm;

	if (localtime_r(&t, &tm))
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	else
		snprintf(buf, len, "%" PRIu32, sec);
}

static void format_clock(char *buf, size_t len, uint64_t nsec)
{
	uint64_t ms = nsec / 1000000, s = ms / 1000;

	snprintf(buf, len, "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 ".%03" PRIu64,
		 s / 3600, (s / 60) % 60, s % 60, ms % 1000);
}

static void list_snapshots(const struct qcow2_image *img, FILE *out)
{
	char vm[32], date[32], clk[32], disk[32], icount[24];
	uint32_t i;

	fprintf(out, "%-10s %-20s %10s %19s %15s %10s %10s\n", "ID", "TAG",
		"VM SIZE", "DATE", "VM CLOCK", "ICOUNT", "DISK SIZE");
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
		fprintf(out, "%-10s %-20s %10s %19s %15s %10s %10s\n",
			sn->id_str, sn->name, vm, date, clk, icount, disk);
	}
}

static int cmd_snapshots(int argc, char **argv)
{
	struct qcow2_image img;
	int fd, ret;

	if (argc != 2)
		return usage_error("%s: snapshots takes one IMAGE", "usage");
	ret = load_image(argv[1], &img, &fd);
	if (!ret) {
		if (img.nb_snapshots)
			list_snapshots(&img, stdout);
		else
			printf("%s has no snapshots\n", argv[1]);
		qcow2_close(&img);
	}
	if (fd >= 0)
		close(fd);
	return ret ? 1 : 0;
}

/* Explain an attach refusal in the user's terms. */
static void explain_attach_error(int err, const char *image,
				 const char *snapshot)
{
	struct qcow2_image img;
	uint32_t i;
	int fd;

	switch (snapshot ? err : 0) {
	case ENOENT:
		warnx("%s: no snapshot with id or name '%s' (%s)", image,
		      snapshot, strerror(err));
		if (!load_image(image, &img, &fd)) {
			fprintf(stderr, "available:");
			for (i = 0; i < img.nb_snapshots; i++)
				fprintf(stderr, " %s '%s'%s",
					img.snapshots[i].id_str,
					img.snapshots[i].name,
					i + 1 < img.nb_snapshots ? "," : "");
			fprintf(stderr, "%s\n", img.nb_snapshots ? "" : " none");
			qcow2_close(&img);
		}
		if (fd >= 0)
			close(fd);
		return;
	case EOPNOTSUPP:
		warnx("%s: attach failed: %s (the image uses a feature qsnap does not read; see dmesg)",
		      image, strerror(err));
		return;
	case EPERM:
		warnx("%s: attach failed: %s (needs CAP_SYS_ADMIN)", image,
		      strerror(err));
		return;
	case EEXIST:
		warnx("%s: attach failed: %s (that device index is in use)",
		      image, strerror(err));
		return;
	default:
		warnx("%s: attach failed: %s (see dmesg for details)", image,
		      strerror(err));
	}
}

static int parse_index(const char *s, uint32_t *index)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v >= QSNAP_INDEX_ANY)
		return -1;
	*index = v;
	return 0;
}

static int cmd_attach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "snapshot",	required_argument, NULL, 's' },
		{ "index",	required_argument, NULL, 'i' },
		{ "show",	no_argument,	   NULL, 'S' },
		{ "read-only",	no_argument,	   NULL, 'r' },
		{ "no-backing",	no_argument,	   NULL, 'B' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ }
	};
	struct qsnap_backing backing[QSNAP_MAX_BACKING];
	struct qsnap_attach arg;
	const char *snapshot = NULL, *image;
	uint32_t index = QSNAP_INDEX_ANY;
	bool no_backing = false;
	struct chain *chain;
	unsigned int i;
	int c, ctl, ret;

	while ((c = getopt_long(argc, argv, "s:rh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			snapshot = optarg;
			break;
		case 'i':
			if (parse_index(optarg, &index))
				return usage_error("invalid index '%s'", optarg);
			break;
		case 'S':
		case 'r':
			break;
		case 'B':
			no_backing = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return usage_error("%s", "invalid option");
		}
	}
	if (optind != argc - 1)
		return usage_error("%s", "attach takes exactly one IMAGE");
	image = argv[optind];

	memset(&arg, 0, sizeof(arg));
	arg.index = index;
	if (snapshot) {
		if (!*snapshot || strlen(snapshot) >= sizeof(arg.snapshot))
			return usage_error("invalid snapshot id or name '%s'",
					   snapshot);
		arg.flags |= QSNAP_ATTACH_F_SNAPSHOT;
		strcpy(arg.snapshot, snapshot);
	}

	chain = calloc(1, sizeof(*chain));
	if (!chain) {
		warnx("%s", strerror(ENOMEM));
		return 1;
	}
	ret = chain_open(chain, image, no_backing);
	if (ret) {
		warnx("%s (%s)", chain->err, strerror(-ret));
		chain_close(chain);
		free(chain);
		return 1;
	}
	arg.image_fd = chain->layers[0].fd;
	if (chain->layers[0].data_fd >= 0) {
		arg.flags |= QSNAP_ATTACH_F_DATA_FILE;
		arg.data_fd = chain->layers[0].data_fd;
	}
	if (no_backing)
		arg.flags |= QSNAP_ATTACH_F_NO_BACKING;
	memset(backing, 0, sizeof(backing));
	for (i = 1; i < chain->n; i++) {
		struct chain_layer *l = &chain->layers[i];

		backing[i - 1].fd = l->fd;
		backing[i - 1].format = l->format;
		if (l->data_fd >= 0) {
			backing[i - 1].flags = QSNAP_BACKING_F_DATA_FILE;
			backing[i - 1].data_fd = l->data_fd;
		}
		fprintf(stderr, "%s: %s: backing file %s (%s)%s%s\n", prog,
			chain->layers[i - 1].path, l->path,
			l->format == QSNAP_FORMAT_RAW ? "raw" : "qcow2",
			l->data_path ? ", data in " : "",
			l->data_path ? l->data_path : "");
	}
	arg.nr_backing = chain->n - 1;
	if (arg.nr_backing)
		arg.backing = (uintptr_t)backing;

	ctl = open_control();
	if (ctl < 0) {
		ret = -1;
	} else {
		ret = ioctl(ctl, QSNAP_IOC_ATTACH, &arg);
		if (ret < 0 && chain->top_err[0])
			warnx("%s: attach failed: %s: %s", image,
			      strerror(errno), chain->top_err);
		else if (ret < 0)
			explain_attach_error(errno, image, snapshot);
		else
			printf("/dev/qsnap%" PRIu32 "\n", arg.index);
		close(ctl);
	}
	chain_close(chain);
	free(chain);
	return ret < 0 ? 1 : 0;
}

/* "/dev/qsnapN", "qsnapN" or "N" */
static int device_index(const char *dev, uint32_t *index)
{
	const char *p = dev;

	if (!strncmp(p, "/dev/", 5))
		p += 5;
	if (!strncmp(p, "qsnap", 5))
		p += 5;
	return parse_index(p, index);
}

/* Where is /dev/qsnapN mounted, if anywhere?  For a friendlier EBUSY. */
static void explain_busy(const char *dev, uint32_t index)
{
	char want[32], line[4096], src[1024], dst[1024];
	FILE *f = fopen("/proc/self/mounts", "re");
	int mounted = 0;

	snprintf(want, sizeof(want), "/dev/qsnap%" PRIu32, index);
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%1023s %1023s", src, dst) == 2 &&
		    !strncmp(src, want, strlen(want)) &&
		    (!src[strlen(want)] || src[strlen(want)] == 'p')) {
			warnx("%s: device busy: %s is mounted on %s", dev, src,
			      dst);
			mounted = 1;
		}
	}
	if (f)
		fclose(f);
	if (!mounted)
		warnx("%s: device busy: it is open (mounted or in use)", dev);
}

static int cmd_detach(int argc, char **argv)
{
	struct qsnap_detach arg;
	int ctl, i, failed = 0;

	if (argc < 2)
		return usage_error("%s", "detach takes one or more DEVICEs");
	ctl = open_control();
	if (ctl < 0)
		return 1;
	for (i = 1; i < argc; i++) {
		memset(&arg, 0, sizeof(arg));
		if (device_index(argv[i], &arg.index)) {
			warnx("%s: not a qsnap device", argv[i]);
			failed = 1;
			continue;
		}
		if (ioctl(ctl, QSNAP_IOC_DETACH, &arg) == 0)
			continue;
		failed = 1;
		if (errno == EBUSY)
			explain_busy(argv[i], arg.index);
		else if (errno == ENODEV)
			warnx("%s: no such qsnap device", argv[i]);
		else
			warnx("%s: detach failed: %s", argv[i], strerror(errno));
	}
	close(ctl);
	return failed;
}

/* The backing chain of /dev/qsnapN, from sysfs, as "  <- path" lines. */
static void print_backing(uint32_t index)
{
	char path[64], line[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/block/qsnap%" PRIu32 "/qsnap/backing",
		 index);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		printf("%-12s %10s %-8s %-20s <- %s", "", "", "", "", line);
	fclose(f);
}

static int cmd_list(int argc, char **argv)
{
	struct qsnap_info info;
	struct dirent *de;
	char size[32];
	DIR *d;
	int ctl, header = 0;

	if (argc != 1)
		return usage_error("%s", "list takes no arguments");
	ctl = open_control();
	if (ctl < 0)
		return 1;
	d = opendir("/sys/block");
	if (!d) {
		warnx("/sys/block: %s", strerror(errno));
		close(ctl);
		return 1;
	}
	while ((de = readdir(d))) {
		uint32_t index;

		if (strncmp(de->d_name, "qsnap", 5) ||
		    device_index(de->d_name, &index))
			continue;
		memset(&info, 0, sizeof(info));
		info.index = index;
		if (ioctl(ctl, QSNAP_IOC_GET_INFO, &info) < 0)
			continue;	/* detached meanwhile */
		if (!header++)
			printf("%-12s %10s %-8s %-20s %s\n", "NAME", "SIZE",
			       "SNAP-ID", "SNAP-NAME", "IMAGE");
		format_size(size, sizeof(size), info.size);
		printf("/dev/qsnap%-2" PRIu32 " %10s %-8s %-20s %s\n",
		       info.index, size,
		       info.flags & QSNAP_INFO_F_SNAPSHOT ? info.snapshot_id : "-",
		       info.flags & QSNAP_INFO_F_SNAPSHOT ?
		       info.snapshot_name : "(current)", info.image);
		print_backing(info.index);
	}
	closedir(d);
	close(ctl);
	return 0;
}

static int cmd_features(int argc, char **argv)
{
	struct qsnap_features f;
	int ctl;

	ctl = open_control();
	if (ctl < 0)
		return 1;
	memset(&f, 0, sizeof(f));
	if (ioctl(ctl, QSNAP_IOC_GET_FEATURES, &f) < 0) {
		warnx("features: %s", strerror(errno));
		close(ctl);
		return 1;
	}
	printf("qcow2 v2: %s\nqcow2 v3: %s\n"
	       "deflate compression: %s\nzstd compression: %s\n"
	       "extended L2 entries: %s\nbacking files: %s\n"
	       "external data files: %s\nattach flags: %#" PRIx32 "\n",
	       f.features & QSNAP_FEATURE_QCOW2_V2 ? "yes" : "no",
	       f.features & QSNAP_FEATURE_QCOW2_V3 ? "yes" : "no",
	       f.features & QSNAP_FEATURE_DEFLATE ? "yes" : "no",
	       f.features & QSNAP_FEATURE_ZSTD ? "yes" : "no",
	       f.features & QSNAP_FEATURE_EXTENDED_L2 ? "yes" : "no",
	       f.features & QSNAP_FEATURE_BACKING ? "yes" : "no",
	       f.features & QSNAP_FEATURE_DATA_FILE ? "yes" : "no",
	       f.attach_flags);
	close(ctl);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
		{ "attach",	cmd_attach },
		{ "detach",	cmd_detach },
		{ "list",	cmd_list },
		{ "snapshots",	cmd_snapshots },
		{ "features",	cmd_features },
	};
	size_t i;

	if (argc < 2)
		return usage_error("%s", "no command given");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	return usage_error("unknown command '%s'", argv[1]);
}

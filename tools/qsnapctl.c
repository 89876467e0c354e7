// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnapctl - attach qcow2 snapshots as read-only block devices
 *
 * The commands and their options are listed in commands[] below and in
 * qsnapctl.8.  Exit status: 0 on success, 1 on failure, 2 on a usage error.
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

static int cmd_attach(int argc, char **argv);
static int cmd_detach(int argc, char **argv);
static int cmd_snapshots(int argc, char **argv);
static int cmd_features(int argc, char **argv);

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *synopsis;
	const char *summary;
	const char *options;
} commands[] = {
	{ "attach", cmd_attach,
	  "attach IMAGE [--snapshot ID|NAME] [--index N] [--no-backing]\n"
	  "         [--no-partscan] [--direct-io=on|off] [--no-share]\n"
	  "         [--l2-cache-kb KB] [--recheck-ms MS] [--json]",
	  "attach a snapshot (default: the current state) of a qcow2 image as\n"
	  "a read-only /dev/qsnapN and print its path; the backing chain it\n"
	  "follows is printed on stderr",
	  "  -s, --snapshot ID|NAME  the snapshot: an id first, then a name\n"
	  "      --index N           ask for /dev/qsnapN (default: the first free)\n"
	  "      --no-backing        do not open the backing file: what the image\n"
	  "                          does not hold reads as zeros (untrusted images)\n"
	  "      --no-partscan       do not read a partition table (untrusted images)\n"
	  "      --direct-io=on|off  data clusters with O_DIRECT or through the page\n"
	  "                          cache (default: the module's direct_io)\n"
	  "      --no-share          share no parsed image or cache with other devices\n"
	  "      --l2-cache-kb KB    L2 tables cached per image (default: l2_cache_kb)\n"
	  "      --recheck-ms MS     re-read the snapshot table at most every MS while\n"
	  "                          reading (default: recheck_ms; 0: every read)\n"
	  "  -J, --json              describe the new device in JSON (as info --json)\n"
	  "      --show              print the device path (always done; losetup's)\n"
	  "  -r, --read-only         accepted; qsnap devices are always read-only\n" },
	{ "detach", cmd_detach,
	  "detach DEVICE... | detach --all",
	  "remove /dev/qsnapN devices (DEVICE may also be qsnapN or N); a\n"
	  "device that is open or mounted is refused and left in place",
	  "  -a, --all               detach every qsnap device that is not in use\n" },
	{ "list", cmd_list,
	  "list [--json]",
	  "show the attached devices: size, snapshot, date, image, backing chain",
	  "  -J, --json              JSON: {\"qsnapdevices\": [ ... ]}\n" },
	{ "info", cmd_info,
	  "info DEVICE [--json]",
	  "show everything about one device: image, snapshot, size, format,\n"
	  "backing chain, partitions, mounts",
	  "  -J, --json              JSON\n" },
	{ "snapshots", cmd_snapshots,
	  "snapshots IMAGE [--json]",
	  "show the snapshot table of a qcow2 image (like qemu-img snapshot -l)",
	  "  -J, --json              JSON\n" },
	{ "diff", cmd_diff,
	  "diff IMAGE FROM [TO] [--exact] [--json]",
	  "list the guest byte ranges that may differ between two snapshots\n"
	  "(FROM, TO: id or name; TO left out or \"-\": the current state), as\n"
	  "\"OFFSET LENGTH\" lines in bytes, from the L1/L2 tables alone (no\n"
	  "data is read; the backing chain is the same for both sides)",
	  "  -e, --exact             attach both sides and keep only the 512-byte\n"
	  "                          sectors that really differ (needs the module)\n"
	  "  -J, --json              JSON: {\"extents\": [{\"offset\", \"length\"}], ...}\n" },
	{ "features", cmd_features,
	  "features",
	  "show what the loaded module supports",
	  "" },
	{ "udev-env", cmd_udev_env,
	  "udev-env qsnapN",
	  "for the udev rule: print QSNAP_LINK, the /dev/disk/by-qsnap/ name\n"
	  "(<image basename>@<snapshot name>) of a device",
	  "" },
};

#define NR_COMMANDS	(sizeof(commands) / sizeof(commands[0]))

static void indent(FILE *out, const char *text, int n)
{
	const char *p = text, *nl;

	while (*p) {
		nl = strchrnul(p, '\n');
		fprintf(out, "%*s%.*s\n", n, "", (int)(nl - p), p);
		p = *nl ? nl + 1 : nl;
	}
}

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "Usage:\n");
	for (i = 0; i < NR_COMMANDS; i++) {
		fprintf(out, "  %s %s\n", prog, commands[i].synopsis);
		indent(out, commands[i].summary, 6);
	}
	fprintf(out, "\n'%s COMMAND --help' shows the options of a command.\n"
		"Exit status: 0 success, 1 failure, 2 usage error.\n", prog);
}

void cmd_help(const char *cmd, FILE *out)
{
	size_t i;

	for (i = 0; i < NR_COMMANDS; i++) {
		if (strcmp(commands[i].name, cmd))
			continue;
		fprintf(out, "Usage:\n  %s %s\n\n", prog, commands[i].synopsis);
		indent(out, commands[i].summary, 0);
		if (commands[i].options[0])
			fprintf(out, "\nOptions:\n%s", commands[i].options);
		fprintf(out, "  -h, --help              this text\n");
		return;
	}
}

/* --- snapshots --- */

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

static void text_snapshots(const struct qcow2_image *img)
{
	char vm[32], date[32], clk[32], disk[32], icount[24];
	uint32_t i;

	printf("%-10s %-20s %10s %19s %15s %10s %10s\n", "ID", "TAG",
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
		printf("%-10s %-20s %10s %19s %15s %10s %10s\n",
		       shown(sn->id_str), shown(sn->name), vm, date, clk,
		       icount, disk);
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

static int cmd_snapshots(int argc, char **argv)
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

/* --- attach --- */

/* The snapshots listed in a "not found" message, at most. */
#define AVAILABLE_MAX	10

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

/* Explain an attach refusal in the user's terms. */
static void explain_attach_error(int err, const char *image,
				 const char *snapshot)
{
	struct qcow2_image img;
	int fd;

	switch (err) {
	case ENOENT:
		if (!snapshot)
			break;
		if (load_image(image, &img, &fd)) {
			warnx("snapshot '%s' not found in %s", shown(snapshot),
			      shown(image));
		} else {
			snapshot_not_found(&img, image, snapshot);
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
	case ENOSPC:
		warnx("%s: attach failed: %s (no free device index)", image,
		      strerror(err));
		return;
	}
	warnx("%s: attach failed: %s (see dmesg for details)", image,
	      strerror(err));
}

/* Settings the module does not know would be EINVAL: say what instead. */
static bool module_takes_settings(int ctl, uint32_t set)
{
	struct qsnap_features f;

	memset(&f, 0, sizeof(f));
	if (ioctl(ctl, QSNAP_IOC_GET_FEATURES, &f) < 0 ||
	    (set & ~f.attach_set)) {
		warnx("the loaded qsnap module takes no per-device settings (--direct-io, --no-share, --l2-cache-kb, --recheck-ms): it is older than 0.5");
		return false;
	}
	return true;
}

/*
 * Resolve @image's chain, open it and ask the kernel for a device as @arg
 * says (snapshot, index); @verbose prints the chain.  0 with arg->index
 * set, or -1 after saying why.
 */
int attach_image(const char *image, struct qsnap_attach *arg,
		 bool no_backing, bool verbose)
{
	struct qsnap_backing backing[QSNAP_MAX_BACKING];
	const char *snapshot = arg->flags & QSNAP_ATTACH_F_SNAPSHOT ?
			       arg->snapshot : NULL;
	struct chain *chain;
	unsigned int i;
	int ctl, ret;

	chain = calloc(1, sizeof(*chain));
	if (!chain) {
		warnx("%s", strerror(ENOMEM));
		return -1;
	}
	ret = chain_open(chain, image, no_backing);
	if (ret) {
		/* Every refusal of chain_open() says why in its own words. */
		warnx("%s", shown(chain->err));
		chain_close(chain);
		free(chain);
		return -1;
	}
	arg->image_fd = chain->layers[0].fd;
	if (chain->layers[0].data_fd >= 0) {
		arg->flags |= QSNAP_ATTACH_F_DATA_FILE;
		arg->data_fd = chain->layers[0].data_fd;
	}
	if (no_backing)
		arg->flags |= QSNAP_ATTACH_F_NO_BACKING;
	memset(backing, 0, sizeof(backing));
	for (i = 1; i < chain->n; i++) {
		struct chain_layer *l = &chain->layers[i];

		backing[i - 1].fd = l->fd;
		backing[i - 1].format = l->format;
		if (l->data_fd >= 0) {
			backing[i - 1].flags = QSNAP_BACKING_F_DATA_FILE;
			backing[i - 1].data_fd = l->data_fd;
		}
		if (!verbose)
			continue;
		fprintf(stderr, "%s: %s: backing file %s (%s)%s%s\n", prog,
			shown(chain->layers[i - 1].path), shown(l->path),
			l->format == QSNAP_FORMAT_RAW ? "raw" : "qcow2",
			l->data_path ? ", data in " : "",
			l->data_path ? shown(l->data_path) : "");
	}
	arg->nr_backing = chain->n - 1;
	if (arg->nr_backing)
		arg->backing = (uintptr_t)backing;

	if (access(CONTROL_PATH, F_OK) && errno == ENOENT &&
	    (chain->top_err[0] ||
	     (snapshot && chain->layers[0].has_img &&
	      qcow2_find_snapshot(&chain->layers[0].img, snapshot) < 0))) {
		/*
		 * No module to ask, and the tool knows the answer already:
		 * the image does not parse, or has no such snapshot.
		 */
		if (chain->top_err[0])
			warnx("%s: %s", shown(image), shown(chain->top_err));
		else
			explain_attach_error(ENOENT, image, snapshot);
		ret = -1;
	} else if ((ctl = open_control()) < 0) {
		ret = -1;
	} else if (arg->set && !module_takes_settings(ctl, arg->set)) {
		ret = -1;
		close(ctl);
	} else {
		ret = ioctl(ctl, QSNAP_IOC_ATTACH, arg);
		/*
		 * The index is also the return value (as LOOP_CTL_ADD's);
		 * modules before 0.5 return 0 and fill in only arg->index.
		 */
		if (ret > 0)
			arg->index = ret;
		if (ret < 0 && chain->top_err[0])
			warnx("%s: attach failed: %s: %s", shown(image),
			      strerror(errno), shown(chain->top_err));
		else if (ret < 0)
			explain_attach_error(errno, image, snapshot);
		close(ctl);
	}
	chain_close(chain);
	free(chain);
	return ret < 0 ? -1 : 0;
}

static int cmd_attach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "snapshot",	required_argument, NULL, 's' },
		{ "index",	required_argument, NULL, 'i' },
		{ "show",	no_argument,	   NULL, 'S' },
		{ "read-only",	no_argument,	   NULL, 'r' },
		{ "no-backing",	no_argument,	   NULL, 'B' },
		{ "no-partscan", no_argument,	   NULL, 'P' },
		{ "direct-io",	required_argument, NULL, 'D' },
		{ "no-share",	no_argument,	   NULL, 'N' },
		{ "l2-cache-kb", required_argument, NULL, 'L' },
		{ "recheck-ms",	required_argument, NULL, 'R' },
		{ "json",	no_argument,	   NULL, 'J' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ }
	};
	struct qsnap_attach arg;
	const char *snapshot = NULL, *image;
	uint32_t index = QSNAP_INDEX_ANY, v;
	bool no_backing = false, json = false;
	int c;

	memset(&arg, 0, sizeof(arg));

	while ((c = getopt_long(argc, argv, "s:rJh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			snapshot = optarg;
			break;
		case 'i':
			if (parse_index(optarg, &index))
				return usage_error("attach", "invalid index '%s'",
						   optarg);
			break;
		case 'S':
		case 'r':
			break;
		case 'B':
			no_backing = true;
			break;
		case 'P':
			arg.flags |= QSNAP_ATTACH_F_NO_PARTSCAN;
			break;
		case 'D':
			if (strcmp(optarg, "on") && strcmp(optarg, "off"))
				return usage_error("attach",
						   "--direct-io takes on or off, not '%s'",
						   optarg);
			arg.set |= QSNAP_SET_DIRECT_IO;
			arg.direct_io = !strcmp(optarg, "on");
			break;
		case 'N':
			arg.set |= QSNAP_SET_SHARE_IMAGES;
			arg.share_images = 0;
			break;
		case 'L':
			if (parse_index(optarg, &v) || !v)
				return usage_error("attach",
						   "--l2-cache-kb takes a number of KiB from 1 up, not '%s'",
						   optarg);
			arg.set |= QSNAP_SET_L2_CACHE_KB;
			arg.l2_cache_kb = v;
			break;
		case 'R':
			if (parse_index(optarg, &v))
				return usage_error("attach",
						   "--recheck-ms takes a number of milliseconds, not '%s'",
						   optarg);
			arg.set |= QSNAP_SET_RECHECK_MS;
			arg.recheck_ms = v;
			break;
		case 'J':
			json = true;
			break;
		case 'h':
			cmd_help("attach", stdout);
			return 0;
		default:
			return usage_error("attach", NULL);
		}
	}
	if (optind != argc - 1)
		return usage_error("attach", "attach takes exactly one IMAGE");
	image = argv[optind];

	arg.index = index;
	if (snapshot) {
		if (!*snapshot || strlen(snapshot) >= sizeof(arg.snapshot))
			return usage_error("attach",
					   "invalid snapshot id or name '%s'",
					   snapshot);
		arg.flags |= QSNAP_ATTACH_F_SNAPSHOT;
		strcpy(arg.snapshot, snapshot);
	}

	if (attach_image(image, &arg, no_backing, true))
		return 1;
	if (json)
		return show_device(arg.index, true);
	printf(QSNAP_DEV_FMT "\n", arg.index);
	return 0;
}

/* --- detach --- */

/* 0 or 1 (failed, said why); with @all, a device gone meanwhile is fine. */
static int detach_one(int ctl, const char *dev, uint32_t index, bool all)
{
	struct qsnap_detach arg;

	memset(&arg, 0, sizeof(arg));
	arg.index = index;
	if (ioctl(ctl, QSNAP_IOC_DETACH, &arg) == 0)
		return 0;
	if (errno == EBUSY)
		explain_busy(dev, index);
	else if (errno == ENODEV && all)
		return 0;
	else if (errno == ENODEV)
		warnx("%s: no such qsnap device", dev);
	else
		warnx("%s: detach failed: %s", dev, strerror(errno));
	return 1;
}

static int cmd_detach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all",	no_argument,	NULL, 'a' },
		{ "help",	no_argument,	NULL, 'h' },
		{ }
	};
	char name[32];
	uint32_t index, *idx;
	bool all = false;
	int c, ctl, i, n, failed = 0;

	while ((c = getopt_long(argc, argv, "ah", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'h':
			cmd_help("detach", stdout);
			return 0;
		default:
			return usage_error("detach", NULL);
		}
	}
	if (all ? optind != argc : optind == argc)
		return usage_error("detach", "%s", all ?
				   "detach --all takes no DEVICE" :
				   "detach takes one or more DEVICEs, or --all");
	ctl = open_control();
	if (ctl < 0)
		return 1;
	if (all) {
		n = list_indexes(&idx);
		failed = n < 0;
		for (i = 0; i < n; i++) {
			snprintf(name, sizeof(name), QSNAP_DEV_FMT, idx[i]);
			failed |= detach_one(ctl, name, idx[i], true);
		}
		if (n > 0)
			free(idx);
	}
	for (i = optind; !all && i < argc; i++) {
		if (device_index(argv[i], &index)) {
			warnx("%s: not a qsnap device", argv[i]);
			failed = 1;
			continue;
		}
		failed |= detach_one(ctl, argv[i], index, false);
	}
	close(ctl);
	return failed;
}

/* --- features --- */

static int cmd_features(int argc, char **argv)
{
	struct qsnap_features f;
	int ctl;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		cmd_help("features", stdout);
		return 0;
	}
	if (argc != 1)
		return usage_error("features", "features takes no arguments");
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

/*
 * What coreutils' close_stdout() does: output that did not reach its file
 * (a full disk, /dev/full, a closed pipe) fails the command, so that a
 * script never takes a cut-short list for the whole one.
 */
static int finish_stdout(int ret)
{
	bool failed = ferror(stdout);

	errno = 0;
	if (fclose(stdout))
		failed = true;
	if (!failed)
		return ret;
	if (errno)
		warnx("write error: %s", strerror(errno));
	else
		warnx("write error");
	return 1;
}

static int run(int argc, char **argv)
{
	size_t i;

	if (argc < 2)
		return usage_error(NULL, "no command given");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		if (argc > 2 && strcmp(argv[1], "help") == 0) {
			for (i = 0; i < NR_COMMANDS; i++)
				if (!strcmp(argv[2], commands[i].name)) {
					cmd_help(argv[2], stdout);
					return 0;
				}
			return usage_error(NULL, "unknown command '%s'",
					   shown(argv[2]));
		}
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("%s from qsnap %s\n", prog, QSNAP_VERSION);
		return 0;
	}
	for (i = 0; i < NR_COMMANDS; i++) {
		static char name[64];

		if (strcmp(argv[1], commands[i].name))
			continue;
		/* getopt's messages then start "qsnapctl attach: ". */
		snprintf(name, sizeof(name), "%s %s", prog, argv[1]);
		argv[1] = name;
		return commands[i].fn(argc - 1, argv + 1);
	}
	if (argv[1][0] == '-')
		return usage_error(NULL, "unknown option '%s'; the command comes first",
				   shown(argv[1]));
	return usage_error(NULL, "unknown command '%s'", shown(argv[1]));
}

int main(int argc, char **argv)
{
	return finish_stdout(run(argc, argv));
}

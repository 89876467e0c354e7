// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnapctl attach, detach and features: the commands that change or ask
 * the module, through /dev/qsnap-control (device.c).
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
#include "keys.h"
#include "qcow2.h"
#include "overlay.h"
#include "qsnapctl.h"

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
	case EKEYREJECTED:
		warnx("%s: attach failed: the key is not the image's volume key (see dmesg)",
		      image);
		return;
	}
	warnx("%s: attach failed: %s (see dmesg for details)", image,
	      strerror(err));
}

/* Whether the loaded module knows @arg's flags and settings; says if not. */
static bool module_takes(int ctl, const struct qsnap_attach *arg)
{
	const struct qsnap_key *keys = (const void *)(uintptr_t)arg->keys;
	struct qsnap_features f;
	unsigned int i;

	memset(&f, 0, sizeof(f));
	if (ioctl(ctl, QSNAP_IOC_GET_FEATURES, &f) < 0) {
		warnx("%s: features: %s", CONTROL_PATH, strerror(errno));
		return false;
	}
	if (arg->set & ~f.attach_set) {
		warnx("the loaded qsnap module takes no per-device settings (--direct-io, --no-share, --l2-cache-kb, --recheck-ms): it is older than 0.5");
		return false;
	}
	if (arg->flags & QSNAP_ATTACH_F_AUTOCLEAR & ~f.attach_flags) {
		warnx("the loaded qsnap module has no --autoclear: it is older than 0.6");
		return false;
	}
	if (arg->nr_keys && !(f.features & QSNAP_FEATURE_LUKS)) {
		warnx("the loaded qsnap module reads no encrypted images: it is older than 0.7");
		return false;
	}
	for (i = 0; i < arg->nr_keys; i++) {
		if ((keys[i].flags & QSNAP_KEY_F_KEYRING) &&
		    !(f.features & QSNAP_FEATURE_KEYRING)) {
			warnx("the loaded qsnap module reads no logon keys (--key-desc): it is older than 0.8");
			return false;
		}
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
	struct qsnap_key keys[1 + QSNAP_MAX_BACKING];
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
	/* A snapshot is stable; the current state of a running VM is not. */
	if (!snapshot && image_written_by_qemu(arg->image_fd) > 0)
		warnx("warning: %s is open for writing by another process (QEMU's lock): the current state of a running VM changes under you; attach a snapshot",
		      shown(image));
	if (keys_for_chain(chain, image, keys, &arg->nr_keys)) {
		explicit_bzero(keys, sizeof(keys));
		chain_close(chain);
		free(chain);
		return -1;
	}
	if (arg->nr_keys)
		arg->keys = (uintptr_t)keys;

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
	} else if ((arg->set || arg->flags & QSNAP_ATTACH_F_AUTOCLEAR ||
		    arg->nr_keys) && !module_takes(ctl, arg)) {
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
	explicit_bzero(keys, sizeof(keys));
	keys_forget();
	arg->keys = 0;
	arg->nr_keys = 0;
	chain_close(chain);
	free(chain);
	return ret < 0 ? -1 : 0;
}

/*
 * attach --overlay: a writable device-mapper snapshot of qsnap device
 * @index, its writes in @bytes of memory (overlay.c).  The qsnap device
 * is detached lazily: removing the overlay device (detach) frees both.
 */
static int attach_overlay(uint32_t index, uint64_t bytes)
{
	char dev[32], name[64];
	struct overlay ov;

	snprintf(dev, sizeof(dev), QSNAP_DEV_FMT, index);
	snprintf(name, sizeof(name), QSNAP_DISK_FMT "-overlay", index);
	if (overlay_create(dev, name, bytes, &ov)) {
		detach_device(index, true);	/* udev may still hold it */
		return 1;
	}
	if (detach_device(index, true))
		warnx("%s: could not mark it to detach itself: detach it after the overlay",
		      dev);
	printf("%s\n", ov.dev);
	return 0;
}

int cmd_attach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "snapshot",	required_argument, NULL, 's' },
		{ "index",	required_argument, NULL, 'i' },
		{ "show",	no_argument,	   NULL, 'S' },
		{ "read-only",	no_argument,	   NULL, 'r' },
		{ "no-backing",	no_argument,	   NULL, 'B' },
		{ "no-partscan", no_argument,	   NULL, 'P' },
		{ "autoclear",	no_argument,	   NULL, 'A' },
		{ "overlay",	optional_argument, NULL, 'O' },
		{ "direct-io",	required_argument, NULL, 'D' },
		{ "no-share",	no_argument,	   NULL, 'N' },
		{ "l2-cache-kb", required_argument, NULL, 'L' },
		{ "recheck-ms",	required_argument, NULL, 'R' },
		{ "json",	no_argument,	   NULL, 'J' },
		{ "key-file",	required_argument, NULL, 'k' },
		{ "key-desc",	required_argument, NULL, 'K' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ }
	};
	struct qsnap_attach arg;
	const char *snapshot = NULL, *image;
	uint32_t index = QSNAP_INDEX_ANY, v;
	bool no_backing = false, json = false, overlay = false;
	uint64_t overlay_bytes = OVERLAY_DEFAULT_BYTES;
	int c;

	memset(&arg, 0, sizeof(arg));

	while ((c = getopt_long(argc, argv, "s:rJh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			snapshot = optarg;
			break;
		case 'k':
			if (keys_add_file(optarg))
				return usage_error("attach", "too many --key-file");
			break;
		case 'K':
			keys_set_desc(optarg);
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
		case 'A':
			arg.flags |= QSNAP_ATTACH_F_AUTOCLEAR;
			break;
		case 'O':
			overlay = true;
			if (optarg && parse_size(optarg, &overlay_bytes))
				return usage_error("attach",
						   "--overlay takes a size such as 512M or 2G, not '%s'",
						   optarg);
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

	if (overlay && (json || (arg.flags & QSNAP_ATTACH_F_AUTOCLEAR)))
		return usage_error("attach", "--overlay prints its own device: no --json or --autoclear with it");
	if (attach_image(image, &arg, no_backing, true))
		return 1;
	if (overlay)
		return attach_overlay(arg.index, overlay_bytes);
	if (json)
		return show_device(arg.index, true);
	printf(QSNAP_DEV_FMT "\n", arg.index);
	return 0;
}

int detach_device(uint32_t index, bool lazy)
{
	struct qsnap_detach arg;
	int ctl = open_control(), ret = 0;

	if (ctl < 0)
		return -errno;
	memset(&arg, 0, sizeof(arg));
	arg.index = index;
	if (lazy)
		arg.flags |= QSNAP_DETACH_F_LAZY;
	if (ioctl(ctl, QSNAP_IOC_DETACH, &arg))
		ret = -errno;
	close(ctl);
	return ret;
}

/* 0 or 1 (failed, said why); with @all, a device gone meanwhile is fine. */
static int detach_one(int ctl, const char *dev, uint32_t index, bool all,
		      bool lazy)
{
	struct qsnap_detach arg;

	memset(&arg, 0, sizeof(arg));
	arg.index = index;
	if (lazy)
		arg.flags |= QSNAP_DETACH_F_LAZY;
	if (ioctl(ctl, QSNAP_IOC_DETACH, &arg) == 0) {
		struct qsnap_info info;

		memset(&info, 0, sizeof(info));
		info.index = index;
		if (lazy && !ioctl(ctl, QSNAP_IOC_GET_INFO, &info))
			warnx("%s: in use: it detaches when its last user closes it",
			      dev);
		return 0;
	}
	if (errno == EINVAL && lazy)
		warnx("%s: the loaded qsnap module has no lazy detach: it is older than 0.6",
		      dev);
	else if (errno == EBUSY)
		explain_busy(dev, index);
	else if (errno == ENODEV && all)
		return 0;
	else if (errno == ENODEV)
		warnx("%s: no such qsnap device", dev);
	else
		warnx("%s: detach failed: %s", dev, strerror(errno));
	return 1;
}

int cmd_detach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all",	no_argument,	NULL, 'a' },
		{ "lazy",	no_argument,	NULL, 'l' },
		{ "help",	no_argument,	NULL, 'h' },
		{ }
	};
	char name[32];
	uint32_t index, *idx;
	bool all = false, lazy = false;
	int c, ctl, i, n, failed = 0;

	while ((c = getopt_long(argc, argv, "alh", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'l':
			lazy = true;
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
			failed |= detach_one(ctl, name, idx[i], true, lazy);
		}
		if (n > 0)
			free(idx);
	}
	for (i = optind; !all && i < argc; i++) {
		char dm[64];

		/* attach --overlay's device: the qsnap one goes with it. */
		if (!overlay_name_of(argv[i], dm, sizeof(dm))) {
			if (dm_remove(dm, lazy))
				failed = 1;
			continue;
		}
		if (device_index(argv[i], &index)) {
			warnx("%s: not a qsnap device", argv[i]);
			failed = 1;
			continue;
		}
		failed |= detach_one(ctl, argv[i], index, false, lazy);
	}
	close(ctl);
	return failed;
}

int cmd_features(int argc, char **argv)
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

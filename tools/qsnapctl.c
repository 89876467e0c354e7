// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnapctl - attach qcow2 snapshots as read-only block devices
 *
 * The dispatcher: the commands and their options are listed in commands[]
 * below and in qsnapctl.8; each command lives in the file of its family
 * (snapshots.c, attach.c, show.c, diff.c), device access in device.c.
 * Exit status: 0 on success, 1 on failure, 2 on a usage error.
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

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *synopsis;
	const char *summary;
	const char *options;
} commands[] = {
	{ "attach", cmd_attach,
	  "attach IMAGE [--snapshot ID|NAME] [--index N] [--no-backing]\n"
	  "         [--no-partscan] [--autoclear] [--overlay[=SIZE]] [--direct-io=on|off]\n"
	  "         [--no-share] [--l2-cache-kb KB] [--recheck-ms MS] [--json]\n"
	  "         [--key-file FILE]... [--key-desc DESC]",
	  "attach a snapshot (default: the current state) of a qcow2 image as\n"
	  "a read-only /dev/qsnapN and print its path; the backing chain it\n"
	  "follows is printed on stderr",
	  "  -s, --snapshot ID|NAME  the snapshot: an id first, then a name\n"
	  "      --index N           ask for /dev/qsnapN (default: the first free)\n"
	  "      --no-backing        do not open the backing file: what the image\n"
	  "                          does not hold reads as zeros (untrusted images)\n"
	  "      --no-partscan       do not read a partition table (untrusted images)\n"
	  "      --autoclear         detach by itself when its last user closes it,\n"
	  "                          once something has claimed it (a mount,\n"
	  "                          device-mapper, an O_EXCL open)\n"
	  "      --overlay[=SIZE]    print a WRITABLE /dev/mapper/qsnapN-overlay whose\n"
	  "                          writes stay in SIZE of memory (1G); detach it\n"
	  "      --direct-io=on|off  data clusters with O_DIRECT or through the page\n"
	  "                          cache (default: the module's direct_io)\n"
	  "      --no-share          share no parsed image or cache with other devices\n"
	  "      --l2-cache-kb KB    L2 tables cached per image (default: l2_cache_kb)\n"
	  "      --recheck-ms MS     re-read the snapshot table at most every MS while\n"
	  "                          reading (default: recheck_ms; 0: every read)\n"
	  "  -J, --json              describe the new device in JSON (as info --json)\n"
	  "      --key-file FILE     an encrypted image's passphrase: FILE's bytes\n"
	  "                          (- for standard input); repeat it for several,\n"
	  "                          each is tried on every encrypted image of the\n"
	  "                          chain (default: asked on the terminal)\n"
	  "      --key-desc DESC     a key of the kernel keyring: the user key DESC\n"
	  "                          (a passphrase), else the logon key DESC (the\n"
	  "                          volume key, read and checked by the module)\n"
	  "      --show              print the device path (always done; losetup's)\n"
	  "  -r, --read-only         accepted; qsnap devices are always read-only\n" },
	{ "detach", cmd_detach,
	  "detach [--lazy] DEVICE... | detach [--lazy] --all",
	  "remove /dev/qsnapN devices (DEVICE may also be qsnapN or N, or the\n"
	  "overlay device attach --overlay printed); a device that is open or\n"
	  "mounted is refused and left in place",
	  "  -a, --all               detach every qsnap device that is not in use\n"
	  "  -l, --lazy              a device in use is detached when its last user\n"
	  "                          closes it (umount -l's idea), not refused\n" },
	{ "mount", cmd_mount,
	  "mount IMAGE [--snapshot ID|NAME] [--partition N|VG/LV] [--no-overlay] [--no-backing]\n"
	  "         [--overlay-size SIZE] [-o OPTIONS] [-t TYPE] [--key-file FILE]... DIR",
	  "mount the file system of a snapshot (default: the current state)\n"
	  "read-only on DIR and print the device mounted; a throw-away writable\n"
	  "layer in memory takes the journal replay of a crash-consistent\n"
	  "snapshot; always nosuid,nodev; umount DIR undoes everything",
	  "  -s, --snapshot ID|NAME  the snapshot: an id first, then a name\n"
	  "  -p, --partition N       the file system on partition N (needed when\n"
	  "                          there are several)\n"
	  "  -p, --partition VG/LV   the one on logical volume LV of the guest's\n"
	  "                          volume group VG (renamed: no clash with the\n"
	  "                          host's)\n"
	  "      --no-overlay        mount the read-only device itself, without\n"
	  "                          replaying the journal (ext4 noload, XFS\n"
	  "                          norecovery, btrfs rescue=nologreplay)\n"
	  "      --no-backing        read the image alone, not its backing files\n"
	  "      --overlay-size SIZE memory for the layer's writes (default 1G)\n"
	  "  -o, --options OPTIONS   more mount options (not suid, dev)\n"
	  "  -t, --type TYPE         mount a file system of TYPE, also one that\n"
	  "                          is not mounted from images by itself\n"
	  "      --key-file FILE     an encrypted image's passphrase (as attach's)\n"
	  "      --key-desc DESC     a key of the kernel keyring (as attach's)\n" },
	{ "list", cmd_list,
	  "list [--image FILE] [--json]",
	  "show the attached devices: size, snapshot, date, image, backing chain",
	  "  -j, --image FILE        only the devices that read FILE (the image, a\n"
	  "                          backing or data file), whatever path it was\n"
	  "                          attached by (losetup -j)\n"
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
	const char *base = strrchr(argv[0], '/');

	/* Installed as /sbin/mount.qsnap too, for mount -t qsnap. */
	if (!strcmp(base ? base + 1 : argv[0], "mount.qsnap")) {
		prog = "mount.qsnap";
		return finish_stdout(cmd_mount_helper(argc, argv));
	}
	return finish_stdout(run(argc, argv));
}

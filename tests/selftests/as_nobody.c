// SPDX-License-Identifier: GPL-2.0-only
/*
 * as_nobody CMD [ARG...]: run CMD as uid/gid 65534 (nobody) keeping only
 * CAP_SYS_ADMIN (as an ambient capability, so it survives exec).  Lets the
 * VM tests run qsnapctl as an unprivileged user allowed to attach, to show
 * that it opens images and backing files with that user's permissions.
 * as_nobody --plain CMD [ARG...]: as nobody with no capability at all, an
 * ordinary local user (what a mounted snapshot must not make root).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int set_caps(__u32 mask)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = data[0].inheritable = mask;
	return syscall(SYS_capset, &hdr, data);
}

int main(int argc, char **argv)
{
	const __u32 admin = 1U << CAP_SYS_ADMIN;
	int plain = argc > 1 && !strcmp(argv[1], "--plain");

	argv += plain;
	argc -= plain;
	if (argc < 2) {
		fprintf(stderr, "usage: as_nobody [--plain] CMD [ARG...]\n");
		return 2;
	}
	if (plain) {
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534)) {
			fprintf(stderr, "as_nobody: %s\n", strerror(errno));
			return 125;
		}
	} else if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || setgroups(0, NULL) ||
	    setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534) ||
	    set_caps(admin) ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0)) {
		fprintf(stderr, "as_nobody: %s\n", strerror(errno));
		return 125;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "as_nobody: %s: %s\n", argv[1], strerror(errno));
	return 127;
}

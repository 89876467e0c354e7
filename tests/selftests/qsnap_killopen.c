// SPDX-License-Identifier: GPL-2.0-only
/*
 * Killed openers: N times, a child opens DEVICE and is sent SIGKILL after
 * a delay that sweeps 0 .. 2 ms, so that some of the kills land while the
 * kernel is inside the open.  A signal pending in an opener says nothing
 * about the image: afterwards the device must still read, and as before.
 *
 *   qsnap_killopen DEVICE N
 *
 * Prints TAP: every child ended (none hung), and the whole device reads
 * as it did before the first kill.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../tap.h"

/* FNV-1a over the whole device; -1 on a read error. */
static long long device_hash(const char *path, int *err)
{
	static char buf[1 << 16];
	unsigned long long h = 1469598103934665603ULL;
	int fd = open(path, O_RDONLY);
	ssize_t n, i;

	*err = 0;
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (i = 0; i < n; i++)
			h = (h ^ (unsigned char)buf[i]) * 1099511628211ULL;
	if (n < 0)
		*err = errno;
	close(fd);
	return n < 0 ? -1 : (long long)(h >> 1);
}

int main(int argc, char **argv)
{
	struct timespec delay;
	long long before, after;
	int i, n, err, status, hung = 0;
	char detail[160];
	pid_t pid;

	if (argc != 3) {
		fprintf(stderr, "usage: %s DEVICE N\n", argv[0]);
		return 2;
	}
	n = atoi(argv[2]);
	before = device_hash(argv[1], &err);
	if (before < 0) {
		printf("Bail out! cannot read %s: %s\n", argv[1], strerror(err));
		return 1;
	}
	for (i = 0; i < n; i++) {
		pid = fork();
		if (pid < 0)
			break;
		if (pid == 0) {
			for (;;)
				close(open(argv[1], O_RDONLY));
		}
		delay.tv_sec = 0;
		delay.tv_nsec = (i % 200) * 10000L;	/* 0 .. 2 ms */
		nanosleep(&delay, NULL);
		kill(pid, SIGKILL);
		if (waitpid(pid, &status, 0) != pid)
			hung++;
	}
	snprintf(detail, sizeof(detail), "%d of %d children not reaped", hung,
		 n);
	check(i == n && !hung, "every killed opener ended", detail);
	after = device_hash(argv[1], &err);
	snprintf(detail, sizeof(detail), "%s",
		 after < 0 ? strerror(err) : "the bytes changed");
	check(after == before,
	      "after the killed openers the device reads as before", detail);
	return tap_finish();
}

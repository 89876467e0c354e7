// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnapctl helpers: messages in losetup's form ("qsnapctl: what: why"),
 * sizes and dates, and running the tools the mount layer builds on.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qsnapctl.h"

const char *prog = "qsnapctl";

void warnx(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	if (fmt) {	/* NULL: getopt has said what is wrong */
		fprintf(stderr, "%s: ", prog);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fprintf(stderr, "Try '%s %s%s--help' for more information.\n", prog,
		cmd ? cmd : "", cmd ? " " : "");
	return EXIT_USAGE;
}

void format_size(char *buf, size_t len, uint64_t bytes)
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
	else if (v >= 999.5)	/* %.3g would say 1e+03 */
		snprintf(buf, len, "%u %s", (unsigned int)v, units[u]);
	else
		snprintf(buf, len, "%.3g %s", v, units[u]);
}

void format_date(char *buf, size_t len, uint32_t sec)
{
	time_t t = sec;
	struct tm tm;

	if (localtime_r(&t, &tm))
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	else
		snprintf(buf, len, "%" PRIu32, sec);
}

void format_clock(char *buf, size_t len, uint64_t nsec)
{
	uint64_t ms = nsec / 1000000, s = ms / 1000;

	snprintf(buf, len, "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 ".%03" PRIu64,
		 s / 3600, (s / 60) % 60, s % 60, ms % 1000);
}

/* "512M", "2G", "4096", "64KiB": bytes (from 1); -1 if it is none of those. */
int parse_size(const char *s, uint64_t *bytes)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || !v)
		return -1;
	switch (*end) {
	case 'G': v <<= 10;	/* fall through */
	case 'M': v <<= 10;	/* fall through */
	case 'K': v <<= 10; end++; break;
	case '\0': break;
	default: return -1;
	}
	if (*end && strcmp(end, "iB"))
		return -1;
	*bytes = v;
	return 0;
}

extern char **environ;

/*
 * Run @argv (argv[0] found in PATH) and wait for it; its standard output
 * into @out (@len bytes, NUL-terminated, the rest read and dropped) when
 * @out is not NULL.  Its exit status (128 + the signal that killed it, as
 * a shell says), or -errno if it could not be started.
 */
int run_program(char *const argv[], char *out, size_t len)
{
	posix_spawn_file_actions_t fa;
	size_t used = 0;
	int pfd[2] = { -1, -1 }, st, err;
	char drop[512];
	ssize_t n;
	pid_t pid;

	if (out && pipe2(pfd, O_CLOEXEC))
		return -errno;
	posix_spawn_file_actions_init(&fa);
	if (out)
		posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (out) {
		close(pfd[1]);
		while (!err) {
			if (used + 1 < len)
				n = read(pfd[0], out + used, len - 1 - used);
			else
				n = read(pfd[0], drop, sizeof(drop));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			if (used + 1 < len)
				used += n;
		}
		close(pfd[0]);
		if (len)
			out[used] = '\0';
	}
	if (err)
		return -err;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

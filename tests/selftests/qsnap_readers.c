// SPDX-License-Identifier: GPL-2.0-only
/*
 * Parallel readers against an oracle: THREADS threads each read READS
 * random ranges of DEVICE (three in four with O_DIRECT at sector-aligned
 * offsets, so they reach the driver; the rest buffered at any byte offset)
 * and compare every byte with ORACLE, QEMU's raw export of the same
 * snapshot.  All threads start together, so requests from many readers
 * are in the driver at once.
 *
 *   qsnap_readers DEVICE ORACLE THREADS READS
 *
 * Prints TAP.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DIRECT_SECTORS 256		/* 128 KiB */
#define MAX_BUFFERED_LEN (192 * 1024)

static const char *dev_path;
static unsigned char *oracle;
static uint64_t size;
static long reads_per_thread;
static pthread_barrier_t start;

struct reader {
	pthread_t thread;
	unsigned int id;
	uint64_t rng;
	long done, direct, mismatches, errors;
	char first_problem[160];
};

static uint64_t next_random(uint64_t *s)
{
	/* xorshift64: cheap, and each thread has its own sequence */
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void note(struct reader *r, const char *fmt, uint64_t a, uint64_t b,
		 uint64_t c)
{
	if (!r->first_problem[0])
		snprintf(r->first_problem, sizeof(r->first_problem), fmt,
			 (unsigned long long)a, (unsigned long long)b,
			 (unsigned long long)c);
}

/* Read len bytes at off in full (a short read only happens at the end). */
static int read_full(int fd, void *buf, uint64_t len, uint64_t off)
{
	uint64_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, off + got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		got += n;
	}
	return 0;
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	int dfd = open(dev_path, O_RDONLY | O_DIRECT);
	int bfd = open(dev_path, O_RDONLY);
	unsigned char *buf;

	if (dfd < 0 || bfd < 0 ||
	    posix_memalign((void **)&buf, 4096, MAX_BUFFERED_LEN)) {
		note(r, "cannot open the device: errno %llu%.0llu%.0llu", errno, 0, 0);
		r->errors++;
		pthread_barrier_wait(&start);
		return NULL;
	}
	pthread_barrier_wait(&start);
	for (; r->done < reads_per_thread; r->done++) {
		uint64_t x = next_random(&r->rng), off, len;
		int direct = (x & 3) != 0, err;

		if (direct) {
			off = (x >> 8) % (size / 512) * 512;
			len = ((x >> 40) % MAX_DIRECT_SECTORS + 1) * 512;
		} else {
			off = (x >> 8) % size;
			len = (x >> 40) % MAX_BUFFERED_LEN + 1;
		}
		if (len > size - off)
			len = size - off;
		/* Bytes a read leaves alone must not pass for right ones. */
		memset(buf, 0xa5, len);
		err = read_full(direct ? dfd : bfd, buf, len, off);
		r->direct += direct;
		if (err) {
			r->errors++;
			note(r, "read of %llu bytes at %llu failed: errno %llu",
			     len, off, -err);
			continue;
		}
		if (memcmp(buf, oracle + off, len)) {
			uint64_t i = 0;

			while (buf[i] == oracle[off + i])
				i++;
			r->mismatches++;
			note(r, "read of %llu bytes at %llu differs from the export at %llu",
			     len, off, off + i);
		}
	}
	free(buf);
	close(dfd);
	close(bfd);
	return NULL;
}

int main(int argc, char **argv)
{
	long threads, i, done = 0, direct = 0, bad = 0;
	struct reader *readers;
	uint64_t dev_size = 0;
	struct stat st;
	int fd, ofd;

	if (argc != 5) {
		fprintf(stderr, "usage: %s DEVICE ORACLE THREADS READS\n", argv[0]);
		return 2;
	}
	dev_path = argv[1];
	threads = atol(argv[3]);
	reads_per_thread = atol(argv[4]);
	fd = open(dev_path, O_RDONLY);
	ofd = open(argv[2], O_RDONLY);
	if (fd < 0 || ofd < 0 || fstat(ofd, &st) || threads < 1 ||
	    ioctl(fd, BLKGETSIZE64, &dev_size)) {
		printf("Bail out! cannot open %s or %s: %s\n", argv[1], argv[2],
		       strerror(errno));
		return 1;
	}
	close(fd);
	size = st.st_size;
	printf("%s - device size %llu equals the export's %llu\n",
	       dev_size == size ? "ok" : "not ok",
	       (unsigned long long)dev_size, (unsigned long long)size);
	oracle = malloc(size);
	if (!oracle || size < 512 || read_full(ofd, oracle, size, 0)) {
		printf("Bail out! cannot load the export %s\n", argv[2]);
		return 1;
	}
	readers = calloc(threads, sizeof(*readers));
	pthread_barrier_init(&start, NULL, threads);
	for (i = 0; i < threads; i++) {
		readers[i].id = i;
		readers[i].rng = 0x9e3779b97f4a7c15ULL * (i + 1);
		if (pthread_create(&readers[i].thread, NULL, reader_main,
				   &readers[i])) {
			printf("Bail out! pthread_create failed\n");
			return 1;
		}
	}
	for (i = 0; i < threads; i++) {
		pthread_join(readers[i].thread, NULL);
		done += readers[i].done;
		direct += readers[i].direct;
		bad += readers[i].mismatches + readers[i].errors;
		if (readers[i].first_problem[0])
			printf("# reader %ld: %s\n", i, readers[i].first_problem);
	}
	printf("%s - %ld parallel readers: %ld random reads (%ld direct) equal QEMU's export (%ld wrong)\n",
	       bad || done != threads * reads_per_thread ? "not ok" : "ok",
	       threads, done, direct, bad);
	printf("1..2\n");
	return bad ? 1 : 0;
}

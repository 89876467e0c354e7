// SPDX-License-Identifier: GPL-2.0-only
/*
 * Grow the snapshot table of a qcow2 image from one QEMU-made snapshot to
 * N: every new entry is a copy of the first (same L1 table, same extra
 * data) with id "i" and name "snap-i".  The new table is appended at a
 * cluster boundary and the header pointed at it; `qemu-img check -r all`
 * must then rebuild the refcounts (the caller runs it).
 *
 * Why not QEMU: it rewrites the whole table, entry by entry with four
 * writes each, at every snapshot it takes, so 10,000 snapshots cost about
 * 2 x 10^8 writes (an hour and more here).
 *
 *   clone_snapshots IMAGE N
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "clone_snapshots: %s: %s\n", what,
		errno ? strerror(errno) : "bad image");
	exit(1);
}

static void read_at(int fd, void *buf, size_t len, uint64_t off)
{
	if (pread(fd, buf, len, off) != (ssize_t)len)
		die("read");
}

int main(int argc, char **argv)
{
	unsigned char hdr[104], entry[40], *extra, *table, *p;
	uint32_t nb, cluster_bits, extra_len, n, i;
	uint64_t table_off, new_off, size;
	uint16_t id_len, name_len;
	struct stat st;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: %s IMAGE N\n", argv[0]);
		return 2;
	}
	n = strtoul(argv[2], NULL, 10);
	fd = open(argv[1], O_RDWR);
	if (fd < 0 || fstat(fd, &st) || n < 1 || n > 65536)
		die(argv[1]);
	read_at(fd, hdr, sizeof(hdr), 0);
	memcpy(&cluster_bits, hdr + 20, 4);
	memcpy(&nb, hdr + 60, 4);
	memcpy(&table_off, hdr + 64, 8);
	cluster_bits = be32toh(cluster_bits);
	nb = be32toh(nb);
	table_off = be64toh(table_off);
	errno = 0;
	if (nb != 1 || cluster_bits < 9 || cluster_bits > 21)
		die("want an image with exactly one snapshot");

	read_at(fd, entry, sizeof(entry), table_off);
	memcpy(&id_len, entry + 12, 2);
	memcpy(&name_len, entry + 14, 2);
	memcpy(&extra_len, entry + 36, 4);
	extra_len = be32toh(extra_len);
	if (extra_len > 1024)
		die("extra data too large");
	extra = malloc(extra_len + 1);
	read_at(fd, extra, extra_len, table_off + sizeof(entry));

	/* 40 + extra + "65536" + "snap-65536", padded to 8 bytes */
	table = calloc(n, sizeof(entry) + extra_len + 24);
	if (!extra || !table)
		die("memory");
	p = table;
	for (i = 1; i <= n; i++) {
		char id[16], name[24];
		size_t len;

		id_len = snprintf(id, sizeof(id), "%u", i);
		name_len = snprintf(name, sizeof(name), "snap-%u", i);
		memcpy(p, entry, sizeof(entry));
		id_len = htobe16(id_len);
		name_len = htobe16(name_len);
		memcpy(p + 12, &id_len, 2);
		memcpy(p + 14, &name_len, 2);
		p += sizeof(entry);
		memcpy(p, extra, extra_len);
		p += extra_len;
		len = strlen(id);
		memcpy(p, id, len);
		p += len;
		len = strlen(name);
		memcpy(p, name, len);
		p += len;
		while ((p - table) % 8)
			*p++ = 0;
	}
	size = p - table;
	new_off = ((uint64_t)st.st_size + (1ULL << cluster_bits) - 1) &
		  ~((1ULL << cluster_bits) - 1);
	if (pwrite(fd, table, size, new_off) != (ssize_t)size)
		die("write the table");
	nb = htobe32(n);
	new_off = htobe64(new_off);
	if (pwrite(fd, &nb, 4, 60) != 4 || pwrite(fd, &new_off, 8, 64) != 8 ||
	    fsync(fd))
		die("write the header");
	printf("%u snapshots, table of %llu bytes\n", n,
	       (unsigned long long)size);
	return 0;
}

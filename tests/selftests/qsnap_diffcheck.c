// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnap_diffcheck FROM.raw TO.raw EXTENTS [--exact]
 *
 * Checks what `qsnapctl diff` printed (EXTENTS: "OFFSET LENGTH" lines)
 * against QEMU's raw exports of the two sides:
 *   - the extents are sorted, non-empty, and neither overlap nor touch
 *     (diff merges neighbours);
 *   - every byte that differs between the exports lies in an extent, and
 *     so does every byte past the shorter export;
 *   - with --exact, every 512-byte sector of every extent (within both
 *     exports) differs in at least one byte.
 * Prints one line saying what it found; exit 0 if all holds.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECTOR	512
#define CHUNK	(1 << 20)

struct extent {
	uint64_t off, len;
};

static int fail(const char *fmt, uint64_t a, uint64_t b)
{
	printf("FAIL: ");
	printf(fmt, a, b);
	printf("\n");
	return 1;
}

static uint64_t file_size(FILE *f)
{
	fseeko(f, 0, SEEK_END);
	return ftello(f);
}

static size_t read_at(FILE *f, unsigned char *buf, size_t len, uint64_t off)
{
	fseeko(f, off, SEEK_SET);
	return fread(buf, 1, len, f);
}

int main(int argc, char **argv)
{
	static unsigned char ba[CHUNK], bb[CHUNK];
	struct extent *e = NULL;
	uint64_t sa, sb, common, longer, off, n, p, total = 0, differing = 0;
	size_t ne = 0, cap = 0, k = 0, i;
	bool exact = argc == 5 && !strcmp(argv[4], "--exact");
	FILE *fa, *fb, *fe;
	unsigned long long o, l;

	if (argc != 4 && !exact) {
		fprintf(stderr, "usage: %s FROM.raw TO.raw EXTENTS [--exact]\n", argv[0]);
		return 2;
	}
	fa = fopen(argv[1], "rb");
	fb = fopen(argv[2], "rb");
	fe = strcmp(argv[3], "-") ? fopen(argv[3], "r") : stdin;
	if (!fa || !fb || !fe) {
		perror("open");
		return 2;
	}
	while (fscanf(fe, "%llu %llu", &o, &l) == 2) {
		if (ne == cap) {
			cap = cap ? 2 * cap : 64;
			e = realloc(e, cap * sizeof(*e));
			if (!e)
				return 2;
		}
		e[ne].off = o;
		e[ne].len = l;
		if (!l)
			return fail("empty extent at %" PRIu64 "%.0" PRIu64, o, 0);
		if (ne && e[ne - 1].off + e[ne - 1].len >= o)
			return fail("extents at %" PRIu64 " and %" PRIu64
				    " overlap, touch or are out of order",
				    e[ne - 1].off, o);
		total += l;
		ne++;
	}
	sa = file_size(fa);
	sb = file_size(fb);
	common = sa < sb ? sa : sb;
	longer = sa < sb ? sb : sa;
	if (ne && e[ne - 1].off + e[ne - 1].len > longer)
		return fail("extent at %" PRIu64 " runs past both exports (%" PRIu64 ")",
			    e[ne - 1].off, longer);

	/* Every differing byte is listed. */
	for (off = 0; off < common; off += n) {
		n = common - off < CHUNK ? common - off : CHUNK;
		if (read_at(fa, ba, n, off) != n || read_at(fb, bb, n, off) != n)
			return fail("short read at %" PRIu64 "%.0" PRIu64, off, 0);
		if (!memcmp(ba, bb, n))
			continue;
		for (p = 0; p < n; p++) {
			if (ba[p] == bb[p])
				continue;
			differing++;
			while (k < ne && e[k].off + e[k].len <= off + p)
				k++;
			if (k == ne || e[k].off > off + p)
				return fail("byte %" PRIu64 " differs (%" PRIu64
					    ") but is in no extent",
					    off + p, (uint64_t)ba[p] << 8 | bb[p]);
		}
	}
	/* Past the shorter export, everything is listed. */
	for (off = common; off < longer; ) {
		while (k < ne && e[k].off + e[k].len <= off)
			k++;
		if (k == ne || e[k].off > off)
			return fail("byte %" PRIu64 " exists on one side only (sizes differ: %" PRIu64 ") but is in no extent",
				    off, longer);
		off = e[k].off + e[k].len;
	}

	/* --exact: no listed sector is the same on both sides. */
	for (i = 0; exact && i < ne; i++) {
		for (off = e[i].off; off < e[i].off + e[i].len && off < common;
		     off += n) {
			n = SECTOR - off % SECTOR;
			if (n > e[i].off + e[i].len - off)
				n = e[i].off + e[i].len - off;
			if (n > common - off)
				n = common - off;
			if (read_at(fa, ba, n, off) != n || read_at(fb, bb, n, off) != n)
				return fail("short read at %" PRIu64 "%.0" PRIu64, off, 0);
			if (!memcmp(ba, bb, n))
				return fail("--exact lists %" PRIu64 " (+%" PRIu64
					    " bytes) but it is the same on both sides",
					    off, n);
		}
	}
	printf("ok: %zu extents, %" PRIu64 " bytes listed, %" PRIu64
	       " differing bytes all inside%s\n", ne, total, differing,
	       exact ? "; every listed sector differs" : "");
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnapctl diff: the guest byte ranges that may differ between two
 * snapshots of one image (or a snapshot and the current state), from the
 * L1/L2 tables alone.  Two snapshots share a cluster for as long as neither
 * rewrote it (QEMU copies on write), so where both tables map a guest
 * offset the same way (the same L2 table, the same host cluster, both zero,
 * both unallocated - then both read the same backing file) the bytes are
 * the same; everything else is listed.  Identical data written twice is a
 * false positive: --exact attaches both sides and compares only the listed
 * ranges, sector by sector, to drop those.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "chain.h"
#include "json.h"
#include "qcow2.h"
#include "qsnapctl.h"

#define SECTOR		512
#define EXACT_CHUNK	(1U << 20)

struct extent {
	uint64_t off, len;
};

struct extents {
	struct extent *v;
	size_t n, cap;
};

/* Append [off, off + len), merged with the last extent if they touch. */
static int extents_add(struct extents *e, uint64_t off, uint64_t len)
{
	struct extent *nv;

	if (!len)
		return 0;
	if (e->n && e->v[e->n - 1].off + e->v[e->n - 1].len == off) {
		e->v[e->n - 1].len += len;
		return 0;
	}
	if (e->n == e->cap) {
		nv = realloc(e->v, (e->cap ? 2 * e->cap : 64) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		e->v = nv;
		e->cap = e->cap ? 2 * e->cap : 64;
	}
	e->v[e->n].off = off;
	e->v[e->n].len = len;
	e->n++;
	return 0;
}

/* One side of the comparison: a snapshot or the current state. */
struct side {
	const char *spec;		/* as given; NULL: the current state */
	int snap;			/* index into the snapshot table, or -1 */
	struct qcow2_view view;
	__be64 *l1;			/* view.l1_used entries, as on disk */
	__be64 *l2;			/* the L2 table at l2_off (zeros if 0) */
	uint64_t l2_off;
	bool l2_loaded;
};

static int side_open(struct qcow2_image *img, int fd, struct side *s)
{
	int ret;

	s->snap = -1;
	if (s->spec) {
		s->snap = qcow2_find_snapshot(img, s->spec);
		if (s->snap < 0)
			return s->snap;
	}
	ret = qcow2_select(img, s->snap, &s->view);
	if (ret)
		return ret;
	s->l1 = calloc(s->view.l1_used ? s->view.l1_used : 1, sizeof(*s->l1));
	s->l2 = malloc(img->cluster_size);
	if (!s->l1 || !s->l2)
		return -ENOMEM;
	return fd_pread(&fd, s->l1, (size_t)s->view.l1_used * sizeof(*s->l1),
			s->view.l1_table_offset);
}

static void side_close(struct side *s)
{
	free(s->l1);
	free(s->l2);
}

/* Load the L2 table of L1 entry @i; *@l2_off says where it is (0: none). */
static int side_load_l2(struct qcow2_image *img, int fd, struct side *s,
			uint32_t i, uint64_t *l2_off)
{
	uint64_t entry = i < s->view.l1_used ? be64_to_cpu(s->l1[i]) : 0;
	int ret;

	ret = qcow2_decode_l1_entry(img, entry, i, l2_off);
	if (ret)
		return ret;
	if (s->l2_loaded && s->l2_off == *l2_off)
		return 0;
	s->l2_loaded = false;
	if (*l2_off) {
		ret = fd_pread(&fd, s->l2, img->cluster_size, *l2_off);
		if (ret)
			return ret;
	} else {
		memset(s->l2, 0, img->cluster_size);
	}
	s->l2_off = *l2_off;
	s->l2_loaded = true;
	return 0;
}

/* Do two mappings of one guest offset read the same bytes? */
static bool same_mapping(const struct qcow2_mapping *a,
			 const struct qcow2_mapping *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case QCOW2_MAP_DATA:
		return a->host_offset == b->host_offset;
	case QCOW2_MAP_COMPRESSED:
		return a->host_offset == b->host_offset &&
		       a->compressed_len == b->compressed_len;
	default:	/* both zero, or both from the same backing file */
		return true;
	}
}

/*
 * Compare the two sides' tables over [0, min size); @corrupt counts
 * clusters whose entries did not decode (listed as differing).
 */
static int diff_tables(struct qcow2_image *img, int fd, struct side *a,
		       struct side *b, struct extents *out, unsigned int *corrupt)
{
	uint64_t size = a->view.disk_size < b->view.disk_size ?
			a->view.disk_size : b->view.disk_size;
	uint32_t l2_bits = qcow2_l2_bits(img), l2_entries = 1U << l2_bits;
	uint64_t span = img->cluster_size << l2_bits;	/* of one L2 table */
	uint64_t base, guest, pos, la, lb, len;
	struct qcow2_mapping ma, mb;
	uint32_t i, ci;
	int ret;

	for (i = 0, base = 0; base < size; i++, base += span) {
		ret = side_load_l2(img, fd, a, i, &la);
		if (!ret)
			ret = side_load_l2(img, fd, b, i, &lb);
		if (ret == -EUCLEAN) {
			(*corrupt)++;
			ret = extents_add(out, base, size - base < span ?
					  size - base : span);
			if (ret)
				return ret;
			continue;
		}
		if (ret)
			return ret;
		/* The same table (or none on both sides): the same bytes. */
		if (la == lb)
			continue;
		for (ci = 0; ci < l2_entries; ci++) {
			guest = base + ((uint64_t)ci << img->cluster_bits);
			if (guest >= size)
				break;
			for (pos = 0; pos < img->cluster_size && guest + pos < size;
			     pos += len) {
				if (qcow2_map_l2_entry(img, a->l2, ci, guest + pos, &ma) ||
				    qcow2_map_l2_entry(img, b->l2, ci, guest + pos, &mb)) {
					(*corrupt)++;
					len = img->cluster_size - pos;
				} else {
					len = ma.len < mb.len ? ma.len : mb.len;
					if (same_mapping(&ma, &mb))
						continue;
				}
				if (len > size - (guest + pos))
					len = size - (guest + pos);
				ret = extents_add(out, guest + pos, len);
				if (ret)
					return ret;
			}
		}
	}
	/* A snapshot taken before a resize: the rest differs in size. */
	if (a->view.disk_size != b->view.disk_size)
		return extents_add(out, size, (a->view.disk_size > size ?
				   a->view.disk_size : b->view.disk_size) - size);
	return 0;
}

static int read_full(int fd, void *buf, size_t len, uint64_t off)
{
	return fd_pread(&fd, buf, len, off);
}

static int attach_side(const char *image, const struct side *s,
		       uint32_t *index)
{
	struct qsnap_attach arg;

	memset(&arg, 0, sizeof(arg));
	arg.index = QSNAP_INDEX_ANY;
	if (s->spec) {
		arg.flags = QSNAP_ATTACH_F_SNAPSHOT;
		snprintf(arg.snapshot, sizeof(arg.snapshot), "%s", s->spec);
	}
	if (attach_image(image, &arg, false, false))
		return -1;
	*index = arg.index;
	return 0;
}

static void detach_index(uint32_t index)
{
	struct qsnap_detach arg;
	int ctl = open_control();

	if (ctl < 0)
		return;
	memset(&arg, 0, sizeof(arg));
	arg.index = index;
	if (ioctl(ctl, QSNAP_IOC_DETACH, &arg) < 0)
		warnx(QSNAP_DEV_FMT ": detach failed: %s", index,
		      strerror(errno));
	close(ctl);
}

/*
 * --exact: attach both sides, read each listed range from both devices
 * and keep the sectors that differ.  Past the smaller size nothing is
 * compared: those bytes exist on one side only.
 */
static int refine_exact(const char *image, struct side *a, struct side *b,
			const struct extents *in, struct extents *out)
{
	uint64_t common = a->view.disk_size < b->view.disk_size ?
			  a->view.disk_size : b->view.disk_size;
	uint32_t ia = QSNAP_INDEX_ANY, ib = QSNAP_INDEX_ANY;
	char path[32];
	unsigned char *ba = NULL, *bb = NULL;
	uint64_t off, end, n, s;
	int fa = -1, fb = -1, ret = -1;
	size_t i;

	if (attach_side(image, a, &ia) || attach_side(image, b, &ib))
		goto out;
	snprintf(path, sizeof(path), QSNAP_DEV_FMT, ia);
	fa = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), QSNAP_DEV_FMT, ib);
	fb = open(path, O_RDONLY | O_CLOEXEC);
	ba = malloc(EXACT_CHUNK);
	bb = malloc(EXACT_CHUNK);
	if (fa < 0 || fb < 0 || !ba || !bb) {
		warnx("%s: %s", path, strerror(fa < 0 || fb < 0 ? errno : ENOMEM));
		goto out;
	}
	for (i = 0; i < in->n; i++) {
		end = in->v[i].off + in->v[i].len;
		for (off = in->v[i].off; off < end && off < common; off += n) {
			n = end - off < EXACT_CHUNK ? end - off : EXACT_CHUNK;
			if (n > common - off)
				n = common - off;
			ret = read_full(fa, ba, n, off);
			if (!ret)
				ret = read_full(fb, bb, n, off);
			if (ret) {
				warnx("reading the devices at %" PRIu64 ": %s",
				      off, strerror(-ret));
				ret = -1;
				goto out;
			}
			for (s = 0; s < n; s += SECTOR) {
				size_t l = n - s < SECTOR ? n - s : SECTOR;

				if (memcmp(ba + s, bb + s, l) &&
				    extents_add(out, off + s, l)) {
					warnx("%s", strerror(ENOMEM));
					ret = -1;
					goto out;
				}
			}
		}
		if (end > common && extents_add(out, off > common ? off : common,
						end - (off > common ? off : common))) {
			warnx("%s", strerror(ENOMEM));
			ret = -1;
			goto out;
		}
	}
	ret = 0;
out:
	free(ba);
	free(bb);
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	if (ia != QSNAP_INDEX_ANY)
		detach_index(ia);
	if (ib != QSNAP_INDEX_ANY)
		detach_index(ib);
	return ret;
}

static void json_side(struct json *j, const char *key,
		      const struct qcow2_image *img, const struct side *s)
{
	if (s->snap < 0) {
		json_null(j, key);
		return;
	}
	json_open_object(j, key);
	json_string(j, "id", img->snapshots[s->snap].id_str);
	json_string(j, "name", img->snapshots[s->snap].name);
	json_close_object(j);
}

static void print_diff(const char *image, const struct qcow2_image *img,
		       const struct side *a, const struct side *b,
		       const struct extents *e, bool exact, bool json,
		       unsigned int damaged)
{
	uint64_t total = 0;
	struct json j;
	size_t i;

	for (i = 0; i < e->n; i++)
		total += e->v[i].len;
	if (!json) {
		for (i = 0; i < e->n; i++)
			printf("%" PRIu64 " %" PRIu64 "\n", e->v[i].off,
			       e->v[i].len);
		return;
	}
	json_init(&j, stdout);
	json_open_object(&j, NULL);
	json_string(&j, "image", image);
	json_side(&j, "from", img, a);
	json_side(&j, "to", img, b);
	json_u64(&j, "from_size", a->view.disk_size);
	json_u64(&j, "to_size", b->view.disk_size);
	json_u64(&j, "cluster_size", img->cluster_size);
	json_bool(&j, "exact", exact);
	/* Entries that did not decode: their clusters are in the extents. */
	json_u64(&j, "damaged_entries", damaged);
	json_bool(&j, "dirty", img->incompatible_features & QCOW2_INCOMPAT_DIRTY);
	json_bool(&j, "corrupt",
		  img->incompatible_features & QCOW2_INCOMPAT_CORRUPT);
	json_u64(&j, "bytes", total);
	json_open_array(&j, "extents");
	for (i = 0; i < e->n; i++) {
		json_open_object(&j, NULL);
		json_u64(&j, "offset", e->v[i].off);
		json_u64(&j, "length", e->v[i].len);
		json_close_object(&j);
	}
	json_close_array(&j);
	json_close_object(&j);
}

int cmd_diff(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json",	no_argument,	NULL, 'J' },
		{ "exact",	no_argument,	NULL, 'e' },
		{ "help",	no_argument,	NULL, 'h' },
		{ }
	};
	struct side a = { 0 }, b = { 0 };
	struct extents maybe = { 0 }, exact_ext = { 0 };
	bool json = false, exact = false;
	struct qcow2_image img;
	unsigned int corrupt = 0;
	const char *image;
	int c, fd, ret, status = 1;

	while ((c = getopt_long(argc, argv, "Jeh", opts, NULL)) != -1) {
		switch (c) {
		case 'J':
			json = true;
			break;
		case 'e':
			exact = true;
			break;
		case 'h':
			cmd_help("diff", stdout);
			return 0;
		default:
			return usage_error("diff", NULL);
		}
	}
	if (argc - optind < 2 || argc - optind > 3)
		return usage_error("diff", "diff takes IMAGE FROM [TO]");
	image = argv[optind];
	a.spec = strcmp(argv[optind + 1], "-") ? argv[optind + 1] : NULL;
	if (argc - optind == 3 && strcmp(argv[optind + 2], "-"))
		b.spec = argv[optind + 2];

	if (load_image(image, &img, &fd)) {
		if (fd >= 0)
			close(fd);
		return 1;
	}
	ret = side_open(&img, fd, &a);
	if (!ret)
		ret = side_open(&img, fd, &b);
	if (ret == -ENOENT && img.err[0] == 0) {
		snapshot_not_found(&img, image,
				   a.snap < 0 && a.spec ? a.spec : b.spec);
		goto out;
	}
	if (!ret)
		ret = diff_tables(&img, fd, &a, &b, &maybe, &corrupt);
	if (ret) {
		warnx("%s: %s", shown(image),
		      img.err[0] ? shown(img.err) : strerror(-ret));
		goto out;
	}
	image_warnings(&img, image);
	if (corrupt)
		warnx("%s: %u entries did not decode (see 'qsnapctl attach' for why); their clusters are listed as differing, and diff exits 1",
		      shown(image), corrupt);
	if (exact && refine_exact(image, &a, &b, &maybe, &exact_ext))
		goto out;
	print_diff(image, &img, &a, &b, exact ? &exact_ext : &maybe, exact,
		   json, corrupt);
	/* A damaged image is a failure, even with every extent listed. */
	status = corrupt ? 1 : 0;
out:
	free(maybe.v);
	free(exact_ext.v);
	side_close(&a);
	side_close(&b);
	qcow2_close(&img);
	close(fd);
	return status;
}

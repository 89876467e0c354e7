// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnapctl mount: from a snapshot to its files in one command.  Attach,
 * find the file system (libblkid), put the throw-away writable layer
 * under it (overlay.c) so that a crash-consistent journal is replayed in
 * memory, mount it read-only (libmount), and leave nothing that umount
 * does not undo: the overlay is removed when its mount goes, the qsnap
 * device detaches itself when the overlay (or the mount) lets it go.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <libmount.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "keys.h"
#include "lvm.h"
#include "ntfs.h"
#include "overlay.h"
#include "probe.h"
#include "qsnapctl.h"

/**
 * struct mount_request - what qsnapctl mount (or mount.qsnap) was asked
 * @image:	the qcow2 image
 * @snapshot:	its snapshot (id or name), or NULL for the current state
 * @partition:	partition number, 0 to pick the only file system
 * @lv:		"VG/LV": a logical volume of a volume group in the snapshot
 * @no_backing:	read the image alone, not the backing files it names
 * @no_overlay:	mount the read-only device itself, without journal replay
 * @overlay_bytes: the overlay's copy-on-write store
 * @options:	more mount options (-o), or NULL
 * @fstype:	the file system type the admin named (-t, fstype=), or NULL
 * @dir:	the mount point
 * @quiet:	print nothing on success (mount.qsnap: mount(8) prints nothing)
 */
struct mount_request {
	const char *image;
	const char *snapshot;
	int partition;
	const char *lv;
	bool no_backing;
	bool no_overlay;
	uint64_t overlay_bytes;
	const char *options;
	const char *fstype;
	const char *dir;
	bool quiet;
};

/*
 * The file systems qsnapctl mounts by what probing finds (as systemd's
 * image dissection allows a list): the common ones of Linux and Windows
 * guests and of installation media.  Every kernel file system parser is
 * exposed to the image's author; another type is mounted only when the
 * admin names it (-t TYPE).
 */
static const char *const fs_allowed[] = {
	"ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "exfat", "ntfs",
	"iso9660", "udf", "squashfs", "erofs", "f2fs", NULL
};

/*
 * Options an image cannot have: its setuid binaries and device nodes are
 * the image author's (udisks2 mounts every removable medium the same way).
 * They go last, so that no option of the user's comes after them.
 */
#define MOUNT_FORCED_OPTIONS	"nosuid,nodev,ro"

/*
 * A signal (Ctrl-C, SIGTERM, a hang-up) during a mount must not leave a
 * device, an overlay or a volume group half set up: it is noted, each
 * step checks it (interrupted()) and undoes what the earlier ones did, and
 * qsnapctl then dies of the signal.  The programs it runs (lvm, dmsetup)
 * get their default handling back at exec, so a Ctrl-C from the terminal
 * ends them too, and their step fails and is undone.
 */
static const int mount_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define NR_MOUNT_SIGNALS	(sizeof(mount_signals) / sizeof(mount_signals[0]))
static volatile sig_atomic_t mount_signal;

static void note_signal(int sig)
{
	mount_signal = sig;
}

static void catch_signals(struct sigaction *saved)
{
	struct sigaction act = { .sa_handler = note_signal,
				 .sa_flags = SA_RESTART };
	size_t i;

	sigemptyset(&act.sa_mask);
	for (i = 0; i < NR_MOUNT_SIGNALS; i++)
		sigaction(mount_signals[i], &act, &saved[i]);
}

/* Put the handlers back; die of a signal that came, if @die. */
static void release_signals(const struct sigaction *saved, bool die)
{
	size_t i;

	for (i = 0; i < NR_MOUNT_SIGNALS; i++)
		sigaction(mount_signals[i], &saved[i], NULL);
	if (die && mount_signal) {
		signal(mount_signal, SIG_DFL);
		raise(mount_signal);
	}
}

/* Has a signal come?  Says so once: what was set up is undone next. */
static bool interrupted(void)
{
	static bool said;

	if (mount_signal && !said) {
		warnx("%s: undoing what was set up", strsignal(mount_signal));
		said = true;
	}
	return mount_signal;
}

static bool is_pv(const struct fs_candidate *c)
{
	return !strcmp(c->type, "LVM2_member");
}

/* What mount can take: a file system (not swap, not a container). */
static bool mountable(const struct fs_candidate *c)
{
	return !strcmp(c->usage, "filesystem");
}

static void list_candidates(const struct fs_candidate *c, int n)
{
	char size[32];
	int i;

	fprintf(stderr, "  %-20s %-12s %10s %s\n", "DEVICE", "TYPE", "SIZE",
		"LABEL");
	for (i = 0; i < n; i++) {
		format_size(size, sizeof(size), c[i].size);
		fprintf(stderr, "  %-20s %-12s %10s %s\n",
			c[i].lv[0] ? c[i].lv : c[i].dev,
			c[i].type[0] ? c[i].type : "-", size,
			shown(c[i].label));
	}
}

/*
 * The candidate to mount (a file system or an LVM physical volume), or
 * NULL after saying why (listing them).
 */
static const struct fs_candidate *pick(const struct mount_request *rq,
				       const struct fs_candidate *c, int n)
{
	const struct fs_candidate *found = NULL;
	int i, usable = 0, pvs = 0;

	for (i = 0; i < n; i++) {
		if (rq->partition && c[i].partno == rq->partition)
			found = &c[i];
		pvs += is_pv(&c[i]);
		if (!rq->partition && (mountable(&c[i]) || is_pv(&c[i]))) {
			usable++;
			if (!found)
				found = &c[i];
		}
	}
	if (rq->partition && !found) {
		warnx("%s: no partition %d; there is:", shown(rq->image),
		      rq->partition);
	} else if (rq->partition && !mountable(found) && !is_pv(found)) {
		warnx("%s: no file system qsnapctl can mount on partition %d:",
		      shown(rq->image), rq->partition);
		found = NULL;
	} else if (!rq->partition && !usable) {
		warnx("%s: no file system found:", shown(rq->image));
	} else if (!rq->partition && usable > 1) {
		warnx("%s: %d file systems: choose one with --partition N%s:",
		      shown(rq->image), usable,
		      pvs ? " (VG/LV for a logical volume)" : "");
		found = NULL;
	}
	if (!found)
		list_candidates(c, n);
	return found;
}

static bool kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return false;
	return ma > major || (ma == major && mi >= minor);
}

/* Append ",@opt" to the options in @buf (@len bytes); false if full. */
static bool add_option(char *buf, size_t len, const char *opt)
{
	size_t used = strlen(buf);
	int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "", opt);

	return n >= 0 && (size_t)n < len - used;
}

/*
 * The options for @c: read-only, what its file system needs to mount
 * without replaying a journal (--no-overlay) or next to a copy of itself,
 * then the user's, then MOUNT_FORCED_OPTIONS.  NULL after saying why it
 * cannot be mounted.
 */
static char *mount_options(const struct mount_request *rq,
			   const struct fs_candidate *c)
{
	char opts[4096] = "ro", where[4096];
	const char *t = c->type;
	bool fits = true;

	if (rq->no_overlay) {
		if (!strcmp(t, "ext4") || !strcmp(t, "ext3"))
			fits &= add_option(opts, sizeof(opts), "noload");
		else if (!strcmp(t, "xfs"))
			fits &= add_option(opts, sizeof(opts), "norecovery");
		else if (!strcmp(t, "btrfs"))
			fits &= add_option(opts, sizeof(opts), "rescue=nologreplay");
	}
	if (!strcmp(t, "xfs") && uuid_mounted(t, c->uuid, where, sizeof(where)))
		fits &= add_option(opts, sizeof(opts), "nouuid");
	if (!strcmp(t, "btrfs") && !kernel_at_least(6, 7) &&
	    uuid_mounted(t, c->uuid, where, sizeof(where))) {
		warnx("%s: a btrfs with the same UUID (%s) is mounted on %s: this kernel mounts no second copy (6.7 and later do)",
		      c->dev, c->uuid, shown(where));
		return NULL;
	}
	if (rq->options)
		fits &= add_option(opts, sizeof(opts), rq->options);
	fits &= add_option(opts, sizeof(opts), MOUNT_FORCED_OPTIONS);
	if (!fits) {
		warnx("mount options too long");
		return NULL;
	}
	return strdup(opts);
}

/*
 * Mount @src on @dir; 0, or -1 after saying why.  With @probing, a kernel
 * without @type (ENODEV) returns 1 and says nothing.
 */
static int do_mount(const char *src, const char *type, const char *opts,
		    const char *dir, bool probing)
{
	struct libmnt_context *cxt = mnt_new_context();
	char msg[512];
	int rc;

	if (!cxt) {
		warnx("%s", strerror(ENOMEM));
		return -1;
	}
	mnt_context_set_source(cxt, src);
	mnt_context_set_target(cxt, dir);
	mnt_context_set_fstype(cxt, type);
	mnt_context_set_options(cxt, opts);
	rc = mnt_context_mount(cxt);
	if (rc || mnt_context_get_status(cxt) != 1) {
		if (probing && mnt_context_syscall_called(cxt) &&
		    mnt_context_get_syscall_errno(cxt) == ENODEV) {
			rc = 1;
		} else {
			mnt_context_get_excode(cxt, rc, msg, sizeof(msg));
			warnx("mount %s on %s: %s", src, shown(dir),
			      msg[0] ? msg : "failed");
			rc = -1;
		}
	}
	mnt_free_context(cxt);
	return rc;
}

/*
 * NTFS (Windows guests): the kernel's ntfs3 where it is built (5.15 and
 * later; not every distribution's kernel has it), else ntfs-3g.
 */
static int mount_ntfs(const char *src, const char *opts, const char *dir)
{
	int rc = do_mount(src, "ntfs3", opts, dir, true);

	if (rc <= 0)
		return rc;
	rc = do_mount(src, "ntfs-3g", opts, dir, false);
	if (rc)
		warnx("%s: NTFS needs the kernel's ntfs3 or ntfs-3g (mount.ntfs-3g)",
		      src);
	return rc;
}

/* A mount point that is already one would hide what is there. */
static bool is_mount_point(const char *dir)
{
	struct libmnt_table *tb = mnt_new_table_from_file("/proc/self/mountinfo");
	char *real = realpath(dir, NULL);
	bool found;

	found = tb && real && mnt_table_find_target(tb, real, MNT_ITER_BACKWARD);
	free(real);
	mnt_unref_table(tb);
	return found;
}

/*
 * Neither NTFS driver replays the journal ($LogFile), overlay or not:
 * say so, and what the volume says of how Windows left it.
 */
static void ntfs_notes(const char *src, const char *dir)
{
	uint16_t flags = 0;
	int fd = open(src, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (ntfs_volume_flags(fd, &flags))
			flags = 0;	/* the driver took it: nothing more to say */
		close(fd);
	}
	if (ntfs_hibernated(dir))
		warnx("Windows was hibernated (or shut down with Fast Startup) when the snapshot was taken: the files are as they were before it hibernated, and what it wrote since is only in hiberfil.sys");
	else
		warnx("NTFS's journal is not replayed: if Windows was running or hibernated (Fast Startup) when the snapshot was taken, what it wrote last may be missing");
	if (flags & NTFS_VOLUME_IS_DIRTY)
		warnx("the NTFS volume is marked dirty (Windows crashed, or found an error and scheduled chkdsk): it is mounted read-only as it is, and some files may be inconsistent");
}

/*
 * May @c's file system be mounted?  One of fs_allowed[], or the type the
 * admin named.  false after saying why not.
 */
static bool fs_type_allowed(const struct mount_request *rq,
			    const struct fs_candidate *c)
{
	const char *const *t;

	if (rq->fstype) {
		if (!strcmp(rq->fstype, c->type))
			return true;
		warnx("%s: the file system is %s, not %s", c->dev,
		      c->type[0] ? shown(c->type) : "unknown", shown(rq->fstype));
		return false;
	}
	for (t = fs_allowed; *t; t++)
		if (!strcmp(*t, c->type))
			return true;
	warnx("%s: file system type %s is not one qsnapctl mounts from an image by itself (ext2/3/4, xfs, btrfs, vfat, exfat, ntfs, iso9660, udf, squashfs, erofs, f2fs): name it with -t %s (fstype=%s for mount.qsnap) to mount it anyway",
	      c->dev, shown(c->type), shown(c->type), shown(c->type));
	return false;
}

/* Mount @c as @rq asks (and say so); 0, or -1 after saying why. */
static int mount_candidate(const struct mount_request *rq,
			   const struct fs_candidate *c, const char *src)
{
	bool ntfs = !strcmp(c->type, "ntfs");
	char *opts;
	int ret;

	if (!fs_type_allowed(rq, c))
		return -1;
	opts = mount_options(rq, c);
	if (!opts)
		return -1;
	if (ntfs)
		ret = mount_ntfs(src, opts, rq->dir);
	else
		ret = do_mount(src, c->type, opts, rq->dir, false);
	free(opts);
	if (ret)
		return -1;
	if (ntfs)
		ntfs_notes(src, rq->dir);
	else if (rq->no_overlay && strcmp(c->type, "vfat"))
		warnx("mounted without replaying the %s journal: what the guest wrote just before the snapshot may be missing",
		      c->type);
	if (!rq->quiet)
		printf("%s\n", src);
	return 0;
}

/* The logical volume @rq names (VG/LV), or the only one to mount. */
static const struct fs_candidate *pick_volume(const struct mount_request *rq,
					      const struct fs_candidate *lv,
					      int n)
{
	const struct fs_candidate *found = NULL;
	int i, usable = 0;

	for (i = 0; i < n; i++) {
		if (rq->lv && !strcmp(lv[i].lv, rq->lv))
			found = &lv[i];
		if (!rq->lv && mountable(&lv[i]) && !usable++)
			found = &lv[i];
	}
	if (rq->lv && !found)
		warnx("%s: no logical volume %s; there is:", shown(rq->image),
		      shown(rq->lv));
	else if (rq->lv && !mountable(found))
		warnx("%s: no file system qsnapctl can mount on %s:",
		      shown(rq->image), shown(rq->lv));
	else if (!rq->lv && !usable)
		warnx("%s: no file system found in the logical volumes:",
		      shown(rq->image));
	else if (!rq->lv && usable > 1)
		warnx("%s: %d file systems: choose one with --partition VG/LV:",
		      shown(rq->image), usable);
	if (!found || !mountable(found) || (!rq->lv && usable > 1)) {
		list_candidates(lv, n);
		return NULL;
	}
	return found;
}

/*
 * The volume group @want (NULL: the only one) among the physical volumes
 * on the overlays @ov: the index of each of its PVs in @mine, how many.
 * 0 after saying why none is.
 */
static int pick_volume_group(const struct mount_request *rq, const char *want,
			     const struct overlay *ov, int n, char *name,
			     size_t len, int *mine)
{
	char vg[LVM_MAX_PVS][LVM_NAME_LEN];
	int i, m = 0;

	name[0] = '\0';
	for (i = 0; i < n; i++) {
		if (lvm_vg_of(ov[i].dev, vg[i], sizeof(vg[i])))
			return 0;
		if (!vg[i][0])
			continue;	/* a PV of no volume group */
		if (!want && name[0] && strcmp(name, vg[i])) {
			warnx("%s: volume groups %s and %s: choose a logical volume with --partition VG/LV",
			      shown(rq->image), shown(name), shown(vg[i]));
			return 0;
		}
		if (!want || !strcmp(want, vg[i])) {
			snprintf(name, len, "%.127s", vg[i]);
			mine[m++] = i;
		}
	}
	if (!m)
		warnx("%s: no volume group %s", shown(rq->image),
		      want ? shown(want) : "on its LVM physical volumes");
	return m;
}

/*
 * Mount a logical volume of the snapshot: every physical volume (@pv, or
 * all of @c when @pv is NULL) gets an overlay, the volume group is renamed
 * there and activated (lvm.c), and the logical volume is mounted.  After
 * the mount, everything is marked to go when it is unmounted.  0 or 1.
 */
static int mount_volume_group(const struct mount_request *rq,
			      uint32_t index, const struct fs_candidate *c,
			      int n, const struct fs_candidate *pv)
{
	struct overlay ov[LVM_MAX_PVS];
	const char *pvs[LVM_MAX_PVS];
	char want[LVM_NAME_LEN] = "", name[LVM_NAME_LEN], ovname[64];
	struct fs_candidate *lv = NULL;
	const struct fs_candidate *pick;
	struct lvm_vg vg = { .active = false };
	int mine[LVM_MAX_PVS], i, nov = 0, m, nlv, ret = 1;

	if (rq->no_overlay) {
		warnx("%s: a volume group in a snapshot is renamed in the overlay, so that it clashes with none of the host's: it cannot be mounted with --no-overlay",
		      shown(rq->image));
		return 1;
	}
	if (rq->lv)
		snprintf(want, sizeof(want), "%.*s",
			 (int)(strchr(rq->lv, '/') - rq->lv), rq->lv);
	for (i = 0; i < n; i++) {
		if (!is_pv(&c[i]) || (pv && &c[i] != pv))
			continue;
		if (nov == LVM_MAX_PVS) {
			warnx("%s: more than %d LVM physical volumes",
			      shown(rq->image), LVM_MAX_PVS);
			goto out;
		}
		snprintf(ovname, sizeof(ovname), "%.50s-overlay", c[i].dev + 5);
		if (overlay_create(c[i].dev, ovname, rq->overlay_bytes, &ov[nov]))
			goto out;
		nov++;
		if (interrupted())
			goto out;
	}
	if (!nov) {
		warnx("%s: no LVM physical volume", shown(rq->image));
		goto out;
	}
	m = pick_volume_group(rq, want[0] ? want : NULL, ov, nov, name,
			      sizeof(name), mine);
	if (!m)
		goto out;
	for (i = 0; i < m; i++)
		pvs[i] = ov[mine[i]].dev;
	if (interrupted() || lvm_activate(index, name, pvs, m, &vg))
		goto out;
	nlv = lvm_volumes(&vg, &lv);
	if (nlv < 0 || interrupted())
		goto out;
	pick = pick_volume(rq, lv, nlv);
	if (!pick || mount_candidate(rq, pick, pick->dev))
		goto out;
	ret = 0;
out:
	/* Mounted: from here on umount undoes it all. */
	lvm_release(&vg, !ret);
	for (i = 0; i < nov; i++)
		overlay_release(&ov[i], !ret);
	free(lv);
	return ret;
}

/* Attach, pick, overlay, mount; prints the device mounted.  0 or 1. */
static int mount_steps(const struct mount_request *rq)
{
	struct fs_candidate *cands = NULL;
	const struct fs_candidate *c = NULL;
	struct qsnap_attach arg;
	struct overlay ov = { .loop_fd = -1 };
	char name[64];
	const char *src;
	struct stat st;
	int n, ret = 1;

	if (stat(rq->dir, &st)) {
		warnx("%s: %s", shown(rq->dir), strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		warnx("%s: not a directory", shown(rq->dir));
		return 1;
	}
	if (is_mount_point(rq->dir)) {
		warnx("%s is a mount point already: unmount it or choose another directory",
		      shown(rq->dir));
		return 1;
	}
	memset(&arg, 0, sizeof(arg));
	arg.index = QSNAP_INDEX_ANY;
	if (rq->snapshot) {
		arg.flags |= QSNAP_ATTACH_F_SNAPSHOT;
		snprintf(arg.snapshot, sizeof(arg.snapshot), "%s", rq->snapshot);
	}
	/* The backing chain on stderr, as attach prints it. */
	if (attach_image(rq->image, &arg, rq->no_backing, !rq->quiet))
		return 1;
	if (interrupted())
		goto out_detach;

	n = probe_candidates(arg.index, &cands);
	if (n < 0) {
		warnx(QSNAP_DEV_FMT ": %s", arg.index, strerror(-n));
		goto out_detach;
	}
	if (!rq->lv) {
		c = pick(rq, cands, n);
		if (!c || interrupted())
			goto out_detach;
	}
	if (rq->lv || is_pv(c)) {
		if (mount_volume_group(rq, arg.index, cands, n, c))
			goto out_detach;
	} else {
		src = c->dev;
		if (!rq->no_overlay) {
			snprintf(name, sizeof(name), "%.50s-overlay", c->dev + 5);
			if (overlay_create(c->dev, name, rq->overlay_bytes, &ov))
				goto out_detach;
			src = ov.dev;
		}
		if (interrupted() || mount_candidate(rq, c, src)) {
			overlay_release(&ov, false);
			goto out_detach;
		}
		/* From here on umount undoes it all. */
		overlay_release(&ov, true);
	}
	if (detach_device(arg.index, true))
		warnx(QSNAP_DEV_FMT ": could not mark it to detach itself: detach it after umount",
		      arg.index);
	ret = 0;
	goto out;
out_detach:
	/* Lazily: udev may still be probing the new device. */
	detach_device(arg.index, true);
out:
	free(cands);
	return ret;
}

/*
 * A -o option that would take MOUNT_FORCED_OPTIONS away: 0 if there is
 * none in @opts, else -1 after naming it.
 */
static int check_user_options(const char *opts)
{
	static const char *const taken[] = { "suid", "dev", NULL };
	const char *const *t;
	const char *p = opts;
	size_t len;

	while (p && *p) {
		len = strcspn(p, ",");
		for (t = taken; *t; t++) {
			if (strlen(*t) == len && !strncmp(p, *t, len)) {
				warnx("-o %s: qsnapctl mounts a snapshot nosuid,nodev whatever the options: its setuid programs and device nodes are the image's",
				      *t);
				return -1;
			}
		}
		p += len + (p[len] == ',');
	}
	return 0;
}

/*
 * mount_steps() with signals held off until each step is done or undone:
 * an interrupted mount leaves nothing behind, then ends by the signal.
 */
static int mount_snapshot(const struct mount_request *rq)
{
	struct sigaction saved[NR_MOUNT_SIGNALS];
	int ret;

	catch_signals(saved);
	ret = mount_steps(rq);
	release_signals(saved, ret != 0);
	return ret;
}

/* "N" or "VG/LV" (--partition, partition=): 0, or -1 if it is neither. */
static int parse_partition(const char *s, struct mount_request *rq)
{
	const char *slash = strchr(s, '/');
	char *end;

	if (slash) {
		if (slash == s || !slash[1] || strchr(slash + 1, '/') ||
		    slash - s >= LVM_NAME_LEN)
			return -1;
		rq->lv = s;
		rq->partition = 0;
		return 0;
	}
	rq->partition = strtol(s, &end, 10);
	rq->lv = NULL;
	return *end || rq->partition < 1 ? -1 : 0;
}

int cmd_mount(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "snapshot",	required_argument, NULL, 's' },
		{ "partition",	required_argument, NULL, 'p' },
		{ "no-overlay",	no_argument,	   NULL, 'N' },
		{ "no-backing",	no_argument,	   NULL, 'B' },
		{ "overlay-size", required_argument, NULL, 'S' },
		{ "options",	required_argument, NULL, 'o' },
		{ "type",	required_argument, NULL, 't' },
		{ "key-file",	required_argument, NULL, 'k' },
		{ "key-desc",	required_argument, NULL, 'K' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ }
	};
	struct mount_request rq = { .overlay_bytes = OVERLAY_DEFAULT_BYTES };
	int c;

	while ((c = getopt_long(argc, argv, "s:p:o:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			rq.snapshot = optarg;
			break;
		case 'p':
			if (parse_partition(optarg, &rq))
				return usage_error("mount",
						   "--partition takes a partition number from 1 up or VG/LV, not '%s'",
						   optarg);
			break;
		case 'N':
			rq.no_overlay = true;
			break;
		case 'B':
			rq.no_backing = true;
			break;
		case 'S':
			if (parse_size(optarg, &rq.overlay_bytes))
				return usage_error("mount",
						   "--overlay-size takes a size such as 512M or 2G, not '%s'",
						   optarg);
			break;
		case 'o':
			rq.options = optarg;
			break;
		case 't':
			rq.fstype = optarg;
			break;
		case 'k':
			if (keys_add_file(optarg))
				return usage_error("mount", "too many --key-file");
			break;
		case 'K':
			keys_set_desc(optarg);
			break;
		case 'h':
			cmd_help("mount", stdout);
			return 0;
		default:
			return usage_error("mount", NULL);
		}
	}
	if (optind != argc - 2)
		return usage_error("mount", "mount takes an IMAGE and a DIR");
	if (rq.snapshot && (!*rq.snapshot ||
			    strlen(rq.snapshot) >= QSNAP_NAME_MAX))
		return usage_error("mount", "invalid snapshot id or name '%s'",
				   rq.snapshot);
	if (check_user_options(rq.options))
		return 1;
	rq.image = argv[optind];
	rq.dir = argv[optind + 1];
	return mount_snapshot(&rq);
}

/*
 * mount(8) turns a regular file given as the source into a loop device
 * before it runs a helper (libmount's loop set-up, with autoclear).  The
 * image is the loop device's file: its backing chain is found from there,
 * and the loop device goes when mount(8) lets go of it.
 */
static const char *helper_source(const char *src, char *buf, size_t len)
{
	unsigned long long offset = 1;
	char path[96];
	struct stat st;
	FILE *f;

	if (stat(src, &st) || !S_ISBLK(st.st_mode))
		return src;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/loop/offset",
		 major(st.st_rdev), minor(st.st_rdev));
	f = fopen(path, "re");
	if (!f)
		return src;
	if (fscanf(f, "%llu", &offset) != 1)
		offset = 1;
	fclose(f);
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/loop/backing_file",
		 major(st.st_rdev), minor(st.st_rdev));
	f = fopen(path, "re");
	if (!f)
		return src;
	if (!fgets(buf, len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	if (offset || buf[0] != '/' || strstr(buf, " (deleted)"))
		return src;
	return buf;
}

/* A -o option of mount.qsnap that is qsnap's: 1 (taken), 0 (not ours), -1. */
static int helper_option(struct mount_request *rq, char *opt)
{

	if (!strncmp(opt, "snapshot=", 9)) {
		rq->snapshot = opt + 9;
	} else if (!strncmp(opt, "partition=", 10)) {
		if (parse_partition(opt + 10, rq))
			return -1;
	} else if (!strcmp(opt, "no-overlay")) {
		rq->no_overlay = true;
	} else if (!strcmp(opt, "no-backing")) {
		rq->no_backing = true;
	} else if (!strncmp(opt, "overlay-size=", 13)) {
		if (parse_size(opt + 13, &rq->overlay_bytes))
			return -1;
	} else if (!strncmp(opt, "key-file=", 9)) {
		if (keys_add_file(opt + 9))
			return -1;
	} else if (!strncmp(opt, "key-desc=", 9)) {
		keys_set_desc(opt + 9);
	} else if (!strncmp(opt, "fstype=", 7) && opt[7]) {
		rq->fstype = opt + 7;
	} else if (!strcmp(opt, "ro") || !strcmp(opt, "rw") ||
		   !strcmp(opt, "defaults")) {
		/* always read-only (the overlay is what takes writes) */
	} else {
		return 0;
	}
	return 1;
}

/*
 * mount.qsnap SOURCE DIR [-sfnv] [-N NS] [-o OPTIONS] [-t TYPE]: the
 * helper mount(8) runs for "mount -t qsnap" and fstab lines (util-linux's
 * helper protocol).  Options of ours: snapshot=S, partition=N or VG/LV,
 * no-overlay, no-backing, overlay-size=SIZE, key-file=FILE, key-desc=DESC, fstype=TYPE;
 * the others go to the file system.
 */
int cmd_mount_helper(int argc, char **argv)
{
	struct mount_request rq = { .overlay_bytes = OVERLAY_DEFAULT_BYTES,
				    .quiet = true };
	char *opts = NULL, *rest, *opt, *save, source[4096];
	bool fake = false;
	size_t len;
	int c, ret;

	while ((c = getopt(argc, argv, "sfnvN:o:t:")) != -1) {
		switch (c) {
		case 'f':
			fake = true;
			break;
		case 'o':
			free(opts);
			opts = strdup(optarg);
			break;
		case 's': case 'n': case 'v': case 'N': case 't':
			break;
		default:
			free(opts);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 2) {
		warnx("usage: mount.qsnap IMAGE DIR [-o snapshot=S,partition=N|VG/LV,no-overlay,no-backing,overlay-size=SIZE,fstype=TYPE,key-file=FILE,...]");
		free(opts);
		return EXIT_USAGE;
	}
	len = opts ? strlen(opts) + 1 : 1;
	rest = calloc(1, len);
	if (!rest) {
		free(opts);
		return 1;
	}
	for (opt = opts ? strtok_r(opts, ",", &save) : NULL; opt;
	     opt = strtok_r(NULL, ",", &save)) {
		ret = helper_option(&rq, opt);
		if (ret < 0) {
			warnx("invalid option '%s'", opt);
			free(rest);
			free(opts);
			return EXIT_USAGE;
		}
		if (!ret)
			snprintf(rest + strlen(rest), len - strlen(rest),
				 "%s%s", *rest ? "," : "", opt);
	}
	rq.options = *rest ? rest : NULL;
	if (check_user_options(rq.options)) {
		free(rest);
		free(opts);
		return 1;
	}
	rq.image = helper_source(argv[optind], source, sizeof(source));
	rq.dir = argv[optind + 1];
	ret = fake ? 0 : mount_snapshot(&rq);
	free(rest);
	free(opts);
	return ret;
}

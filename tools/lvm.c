// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnapctl mount: a volume group inside a snapshot, through LVM's own
 * tools.  A snapshot of a guest's disk holds the guest's volume group,
 * and a host often has one of the same name (an installer's default) or
 * even the same UUIDs (a clone).  So the snapshot's copy is renamed and
 * given new UUIDs, as vgimportclone does for cloned disks, in the
 * throw-away overlay over each of its physical volumes, and LVM is told
 * to look at those overlays only (--devices): the host's volume groups
 * are never scanned, changed or activated.  umount takes the logical
 * volumes away (deferred removal), which lets the overlays and the qsnap
 * device go in turn.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lvm.h"
#include "overlay.h"
#include "qsnapctl.h"

/*
 * No metadata backups or archives in /etc/lvm for a volume group that
 * lives for one mount, and no dmeventd monitoring of it.
 */
#define LVM_CONFIG \
	"backup { backup = 0 archive = 0 } activation { monitoring = 0 }"

#define LVM_MAX_ARGS	(16 + 3 * LVM_MAX_PVS)	/* lvm CMD --config C, PVs twice, args */

/* How run_lvm() passes the physical volumes */
#define PVS_DEVICES	(1 << 0)	/* --devices PV: LVM sees only these */
#define PVS_OPERANDS	(1 << 1)	/* after @args, as the command's operands */

/*
 * Run "lvm @cmd --config ... [--devices PV...] @args... [PV...]"; its
 * standard output in @out, or dropped if @out is NULL.  Its exit status,
 * or -1 after saying why it could not run.
 */
static int run_lvm(const char *cmd, const char *const pvs[], int npv,
		   unsigned int how, const char *const args[], char *out,
		   size_t len)
{
	const char *argv[LVM_MAX_ARGS + 1];
	char said[512];	/* "... now active": not for qsnapctl's output */
	int n = 0, i, rc;

	if (npv > LVM_MAX_PVS)
		return -1;
	argv[n++] = "lvm";
	argv[n++] = cmd;
	argv[n++] = "--config";
	argv[n++] = LVM_CONFIG;
	for (i = 0; (how & PVS_DEVICES) && i < npv; i++) {
		argv[n++] = "--devices";
		argv[n++] = pvs[i];
	}
	for (i = 0; args[i] && n < LVM_MAX_ARGS - npv; i++)
		argv[n++] = args[i];
	for (i = 0; (how & PVS_OPERANDS) && i < npv; i++)
		argv[n++] = pvs[i];
	argv[n] = NULL;
	/* qsnapctl's own descriptors are close-on-exec; quiet lvm's check. */
	setenv("LVM_SUPPRESS_FD_WARNINGS", "1", 0);
	rc = run_program((char *const *)argv, out ? out : said,
			 out ? len : sizeof(said));
	if (rc < 0)
		warnx("lvm: %s%s", strerror(-rc), rc == -ENOENT ?
		      " (a volume group in a snapshot needs LVM's tools: install lvm2)" : "");
	return rc < 0 ? -1 : rc;
}

/* @s without leading and trailing blanks (in place). */
static char *trim(char *s)
{
	size_t n;

	s += strspn(s, " \t\n");
	n = strlen(s);
	while (n && strchr(" \t\n", s[n - 1]))
		s[--n] = '\0';
	return s;
}

int lvm_vg_of(const char *pv, char *vg, size_t len)
{
	static const char *const args[] = { "--noheadings", "-o", "vg_name",
					    NULL };
	char out[LVM_NAME_LEN + 16];

	if (run_lvm("pvs", &pv, 1, PVS_DEVICES | PVS_OPERANDS, args, out, sizeof(out))) {
		warnx("%s: lvm pvs failed", pv);
		return -1;
	}
	snprintf(vg, len, "%s", trim(out));
	return 0;
}

/* The name and UUID the volume group on @vg's first PV has now. */
static int read_identity(struct lvm_vg *vg)
{
	static const char *const args[] = { "--noheadings", "--separator", "|",
					    "-o", "vg_name,vg_uuid", NULL };
	char out[256], *line, *bar, *u, *d;

	if (run_lvm("pvs", vg->pvs, 1, PVS_DEVICES | PVS_OPERANDS, args, out, sizeof(out)))
		return -1;
	line = trim(out);
	bar = strchr(line, '|');
	if (!bar || bar - line >= LVM_NAME_LEN)
		return -1;
	*bar = '\0';
	snprintf(vg->active_name, sizeof(vg->active_name), "%s", line);
	for (u = bar + 1, d = vg->uuid; *u && d < vg->uuid + sizeof(vg->uuid) - 1; u++)
		if (*u != '-')
			*d++ = *u;
	*d = '\0';
	return vg->uuid[0] ? 0 : -1;
}

int lvm_activate(uint32_t index, const char *name, const char *const pvs[],
		 int npv, struct lvm_vg *vg)
{
	char base[LVM_NAME_LEN];
	const char *clone[] = { "--basevgname", base, NULL };
	const char *act[] = { "-ay", "--ignoreactivationskip", NULL, NULL };
	int i;

	memset(vg, 0, sizeof(*vg));
	if (npv < 1 || npv > LVM_MAX_PVS)
		return -1;
	snprintf(vg->name, sizeof(vg->name), "%s", name);
	for (i = 0; i < npv; i++)
		vg->pvs[i] = pvs[i];
	vg->npv = npv;
	/* vgimportclone adds a number if the name is taken already. */
	snprintf(base, sizeof(base), "qsnap%" PRIu32 "_%.100s", index, name);
	if (run_lvm("vgimportclone", pvs, npv, PVS_DEVICES | PVS_OPERANDS,
		    clone, NULL, 0) ||
	    read_identity(vg)) {
		warnx("%s: the volume group could not be renamed in the overlay",
		      name);
		return -1;
	}
	act[2] = vg->active_name;
	if (run_lvm("vgchange", pvs, npv, PVS_DEVICES, act, NULL, 0)) {
		warnx("%s (%s): the volume group could not be activated",
		      name, vg->active_name);
		vg->active = true;	/* some of it may be */
		lvm_release(vg, false);
		return -1;
	}
	vg->active = true;
	return 0;
}

int lvm_volumes(const struct lvm_vg *vg, struct fs_candidate **out)
{
	const char *args[] = { "--noheadings", "--separator", "|", "-o",
			       "lv_name,lv_dm_path,lv_active", vg->active_name,
			       NULL };
	char buf[16384], *line, *save, *f[3];
	struct fs_candidate *v = NULL, *nv;
	int n = 0, i;

	if (run_lvm("lvs", vg->pvs, vg->npv, PVS_DEVICES, args, buf, sizeof(buf))) {
		warnx("%s: lvm lvs failed", vg->active_name);
		return -1;
	}
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		line = trim(line);
		for (i = 0; i < 3; i++) {
			f[i] = line;
			line = strchr(line, '|');
			if (!line && i < 2)
				break;
			if (line)
				*line++ = '\0';
		}
		if (i < 3 || strcmp(f[2], "active"))
			continue;	/* not active: nothing to mount */
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			free(v);
			warnx("%s", strerror(ENOMEM));
			return -1;
		}
		v = nv;
		memset(&v[n], 0, sizeof(v[n]));
		/* Unreadable: listed with no type, never mounted. */
		probe_filesystem(f[1], &v[n]);
		v[n].partno = 0;
		snprintf(v[n].lv, sizeof(v[n].lv), "%.127s/%.127s", vg->name,
			 f[0]);
		n++;
	}
	*out = v;
	return n;
}

/*
 * Remove each device-mapper device of @vg, @deferred: its logical volumes
 * and the hidden ones under them, whose device-mapper UUIDs all begin with
 * "LVM-" and the volume group's UUID.
 */
static void remove_deferred(const struct lvm_vg *vg)
{
	char *const info[] = { "dmsetup", "info", "-c", "--noheadings",
			       "--separator", "|", "-o", "name,uuid", NULL };
	char buf[16384], prefix[80], *line, *save, *bar;

	snprintf(prefix, sizeof(prefix), "LVM-%s", vg->uuid);
	if (run_program(info, buf, sizeof(buf))) {
		warnx("%s: dmsetup info failed: remove its devices by hand",
		      vg->active_name);
		return;
	}
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		bar = strchr(line, '|');
		if (!bar || strncmp(bar + 1, prefix, strlen(prefix)))
			continue;
		*bar = '\0';
		if (dm_remove(line, true))
			warnx("%s: dmsetup remove --deferred failed: remove it by hand",
			      line);
	}
}

void lvm_release(struct lvm_vg *vg, bool deferred)
{
	const char *deact[] = { "-an", vg->active_name, NULL };

	if (!vg->active)
		return;
	if (deferred)
		remove_deferred(vg);
	else if (run_lvm("vgchange", vg->pvs, vg->npv, PVS_DEVICES, deact, NULL, 0))
		warnx("%s: could not deactivate it: vgchange -an it by hand",
		      vg->active_name);
	vg->active = false;
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnap: is the attached snapshot still in its image?
 *
 * Reading a snapshot of an image that a VM is writing is safe: QEMU never
 * rewrites a cluster whose refcount is above one, so the snapshot's
 * clusters stay as they were - until the snapshot is deleted.  Then QEMU
 * frees them and reuses them for new data, and a device still mapping
 * through the old L1/L2 tables would serve someone else's data as ours.
 * So a device showing a snapshot re-reads the image's snapshot table at
 * every open and, while it serves reads, at most every recheck_ms; once
 * its snapshot has gone (no entry with its id, or one with another L1
 * table: deleted and the id reused) it fails every read with EIO and says
 * so once.  Between two checks the window is recheck_ms.
 */
#define pr_fmt(fmt) "qsnap: " fmt

#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "qsnap.h"

static unsigned int recheck_ms = 1000;
module_param(recheck_ms, uint, 0644);
MODULE_PARM_DESC(recheck_ms,
		 "A device showing a snapshot re-reads the image's snapshot table at every open and, while it serves reads, at most every recheck_ms milliseconds (default 1000; 0: before every request); once its snapshot is deleted or replaced, reads fail with EIO");

/**
 * qsnap_watch_init() - remember what the attached snapshot is
 * @qs: the device, its top layer's snapshot chosen
 *
 * Return: 0 or -ENOMEM.
 */
int qsnap_watch_init(struct qsnap_device *qs)
{
	const struct qcow2_snapshot *sn = qsnap_top(qs)->view.snapshot;
	struct qsnap_watch *w = &qs->watch;

	mutex_init(&w->lock);
	if (!sn)
		return 0;	/* the current state is not watched */
	w->id = kstrdup(sn->id_str, GFP_KERNEL);
	if (!w->id)
		return -ENOMEM;
	w->l1_table_offset = sn->l1_table_offset;
	w->l1_size = sn->l1_size;
	w->next = jiffies + msecs_to_jiffies(READ_ONCE(recheck_ms));
	return 0;
}

void qsnap_watch_exit(struct qsnap_device *qs)
{
	kfree(qs->watch.id);
	qs->watch.id = NULL;
}

/*
 * Read the image's header and snapshot table again.  Return: 0 if the
 * snapshot is still there, -ESTALE if not (@why says how), another -errno
 * if it could not be told (memory).
 */
static int qsnap_watch_lookup(struct qsnap_device *qs, const char **why)
{
	struct qsnap_layer *top = qsnap_top(qs);
	struct qsnap_watch *w = &qs->watch;
	struct qcow2_io io = {
		.pread = qsnap_file_pread,
		.opaque = top->im->file,
		.file_size = i_size_read(top->im->file->f_mapping->host),
	};
	struct qcow2_image *img;
	u32 i;
	int ret;

	img = kzalloc(sizeof(*img), GFP_KERNEL);
	if (!img)
		return -ENOMEM;
	ret = qcow2_open(img, &io);
	if (ret == -ENOMEM)
		goto out;
	if (ret) {
		*why = "cannot be found: the image no longer reads as a valid qcow2 image";
		ret = -ESTALE;
		goto out;
	}
	for (i = 0; i < img->nb_snapshots; i++)
		if (!strcmp(img->snapshots[i].id_str, w->id))
			break;
	if (i == img->nb_snapshots) {
		*why = "was deleted";
		ret = -ESTALE;
	} else if (img->snapshots[i].l1_table_offset != w->l1_table_offset ||
		   img->snapshots[i].l1_size != w->l1_size) {
		*why = "was replaced (its id now names another snapshot)";
		ret = -ESTALE;
	}
out:
	qcow2_close(img);
	kfree(img);
	return ret;
}

/**
 * qsnap_watch_due() - would qsnap_watch_check() read the image now?
 * @qs: the device
 *
 * Return: true if a check is due (it reads the image: it may wait).
 */
bool qsnap_watch_due(struct qsnap_device *qs)
{
	struct qsnap_watch *w = &qs->watch;

	return w->id && !READ_ONCE(w->gone) &&
	       !time_before(jiffies, READ_ONCE(w->next));
}

/**
 * qsnap_watch_check() - fail reads once the snapshot is gone
 * @qs: the device
 * @now: check now (at open), not only when recheck_ms has passed, and wait
 *	 for a check another context is running
 *
 * Return: 0 to serve reads, -EIO if the snapshot has gone.
 */
int qsnap_watch_check(struct qsnap_device *qs, bool now)
{
	struct qsnap_watch *w = &qs->watch;
	const char *why = NULL;
	int ret;

	if (!w->id)
		return 0;
	if (READ_ONCE(w->gone))
		return -EIO;
	if (!now && time_before(jiffies, READ_ONCE(w->next)))
		return 0;
	if (now)
		mutex_lock(&w->lock);
	else if (!mutex_trylock(&w->lock))
		return 0;	/* being checked; the interval bounds the race */
	if (!w->gone) {
		ret = qsnap_watch_lookup(qs, &why);
		/* A table caught being rewritten must not condemn us: twice. */
		if (ret == -ESTALE)
			ret = qsnap_watch_lookup(qs, &why);
		if (ret == -ESTALE) {
			pr_err("%s: %s: snapshot %s \"%s\" %s; reads fail from now on\n",
			       qs->disk->disk_name, qsnap_top(qs)->im->path, w->id,
			       qsnap_top(qs)->view.snapshot->name, why);
			WRITE_ONCE(w->gone, true);
		}
		WRITE_ONCE(w->next,
			   jiffies + msecs_to_jiffies(READ_ONCE(recheck_ms)));
	}
	ret = w->gone ? -EIO : 0;
	mutex_unlock(&w->lock);
	return ret;
}

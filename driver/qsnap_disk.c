// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnap disks: the index of devices, creating and removing /dev/qsnapN,
 * its block_device_operations and its sysfs attributes, and what GET_INFO
 * says of a device.
 */
#include <linux/blkdev.h>
#include <linux/file.h>
#include <linux/idr.h>
#include <linux/module.h>
#include <linux/sysfs.h>

#include "qsnap.h"
#include "qsnap_compat.h"

static int qsnap_major;
static DEFINE_MUTEX(qsnap_index_mutex);	/* protects qsnap_index_idr */
static DEFINE_IDR(qsnap_index_idr);

/*
 * Devices that detach themselves (autoclear) are removed here, not in
 * ->release, which runs under the open_mutex that del_gendisk() takes.
 * Module exit drains it before it removes what is left.
 */
static struct workqueue_struct *qsnap_autoclear_wq;
static void qsnap_autoclear_fn(struct work_struct *work);

/* ->open, whatever the kernel's signature of it (QSNAP_DEFINE_BDEV_OPEN). */
static int qsnap_open(struct gendisk *disk, bool write, bool exclusive)
{
	struct qsnap_device *qs = disk->private_data;

	/* Called under disk->open_mutex, which also guards ->state. */
	if (qs->state != QSNAP_STATE_BOUND)
		return -ENXIO;
	if (write)
		return -EROFS;
	/*
	 * A claim (a mount, device-mapper, O_EXCL) arms autoclear; udev's
	 * probe right after the attach claims nothing.  Only the first open
	 * of a partition reaches here: a claim of a partition that was
	 * already open is not seen (QSNAP_DETACH_F_LAZY arms it then).
	 */
	if (exclusive)
		qs->claimed = true;
	/*
	 * Opens succeed; the first read after one checks that the snapshot
	 * is still there (in the device's worker, not here: qsnap_watch.c).
	 */
	qsnap_watch_kick(qs);
	return 0;
}

QSNAP_DEFINE_BDEV_OPEN(qsnap_open)

/* ->release: the last close of an armed autoclear device detaches it. */
static void qsnap_release(struct gendisk *disk)
{
	struct qsnap_device *qs = disk->private_data;

	/*
	 * Under disk->open_mutex, as ->open; the closer is counted out.  Not
	 * before qsnap_add() is done with the device: a claim and a close
	 * between add_disk() and then would free it under its attach (that
	 * device then simply stays, as DETACH refuses it until then too).
	 */
	if (disk_openers(disk) || !qs->autoclear || !qs->claimed ||
	    qs->state != QSNAP_STATE_BOUND || !READ_ONCE(qs->added))
		return;
	qs->state = QSNAP_STATE_DELETING;
	queue_work(qsnap_autoclear_wq, &qs->autoclear_work);
}

QSNAP_DEFINE_BDEV_RELEASE(qsnap_release)

/**
 * qsnap_free() - free a device that is not (or no longer) a gendisk's
 * @qs: the device
 */
void qsnap_free(struct qsnap_device *qs)
{
	qsnap_layers_free(qs);
	kfree(qs);
}

static void qsnap_free_disk(struct gendisk *disk)
{
	qsnap_free(disk->private_data);
}

static const struct block_device_operations qsnap_fops = {
	.owner		= THIS_MODULE,
	.open		= qsnap_open_bdev,
	.release	= qsnap_release_bdev,
	.free_disk	= qsnap_free_disk,
};

static struct qsnap_device *dev_to_qsnap(struct device *dev)
{
	return dev_to_disk(dev)->private_data;
}

static ssize_t image_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%s\n", qsnap_top(dev_to_qsnap(dev))->im->path);
}

/* The backing chain below the image, one path a line, top-down. */
static ssize_t backing_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	struct qsnap_device *qs = dev_to_qsnap(dev);
	unsigned int i;
	int len = 0;

	for (i = 1; i < qs->nr_layers; i++)
		len += sysfs_emit_at(buf, len, "%s\n", qs->layers[i].im->path);
	return len;
}

/*
 * "MAJ:MIN INODE" of @f, as stat(2) gives st_dev and st_ino, and for a
 * block device " MAJ:MIN" of the device itself (st_rdev): its nodes in
 * /dev and /dev/mapper are different inodes of one device.
 */
static int qsnap_emit_inode(char *buf, int len, const struct file *f)
{
	const struct inode *inode = file_inode(f);
	int n;

	/* i_ino is an unsigned long before v7.1, a u64 since. */
	n = sysfs_emit_at(buf, len, "%u:%u %llu", MAJOR(inode->i_sb->s_dev),
			  MINOR(inode->i_sb->s_dev), (u64)inode->i_ino);
	if (S_ISBLK(inode->i_mode))
		n += sysfs_emit_at(buf, len + n, " %u:%u", MAJOR(inode->i_rdev),
				   MINOR(inode->i_rdev));
	return n + sysfs_emit_at(buf, len + n, "\n");
}

/*
 * Every file the device reads, one a line: the image, its data file,
 * then each backing file and its data file, by file system and inode:
 * what qsnapctl list --image matches, as losetup -j matches loop's
 * lo_device and lo_inode, whatever path the file was opened by.
 */
static ssize_t inodes_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	struct qsnap_device *qs = dev_to_qsnap(dev);
	const struct qsnap_image *im;
	unsigned int i;
	int len = 0;

	for (i = 0; i < qs->nr_layers; i++) {
		im = qs->layers[i].im;
		len += qsnap_emit_inode(buf, len, im->file);
		if (im->data_file)
			len += qsnap_emit_inode(buf, len, im->data_file);
	}
	return len;
}

static ssize_t snapshot_id_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	const struct qcow2_snapshot *sn =
		qsnap_top(dev_to_qsnap(dev))->view.snapshot;

	return sysfs_emit(buf, "%s\n", sn ? sn->id_str : "");
}

static ssize_t snapshot_name_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	const struct qcow2_snapshot *sn =
		qsnap_top(dev_to_qsnap(dev))->view.snapshot;

	return sysfs_emit(buf, "%s\n", sn ? sn->name : "");
}

/* Creation time in seconds since the epoch; empty for the current state. */
static ssize_t snapshot_date_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	const struct qcow2_snapshot *sn =
		qsnap_top(dev_to_qsnap(dev))->view.snapshot;

	if (!sn)
		return sysfs_emit(buf, "\n");
	return sysfs_emit(buf, "%u\n", sn->date_sec);
}

static ssize_t cluster_size_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  qsnap_top(dev_to_qsnap(dev))->im->qcow2.cluster_size);
}

static ssize_t virtual_size_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", qsnap_top(dev_to_qsnap(dev))->size);
}

/*
 * Compressed clusters of all layers: decompressed, served from the
 * decompressed-cluster cache, failed (corrupt streams and read errors).
 */
static ssize_t compressed_stat_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	struct qsnap_device *qs = dev_to_qsnap(dev);
	u64 decompressed = 0, hits = 0, errors = 0;
	struct qsnap_image *im;
	unsigned int i;

	for (i = 0; i < qs->nr_layers; i++) {
		im = qs->layers[i].im;
		mutex_lock(&im->zcache_lock);
		decompressed += im->zstat.decompressed;
		hits += im->zstat.hits;
		errors += im->zstat.errors;
		mutex_unlock(&im->zcache_lock);
	}
	return sysfs_emit(buf, "%llu %llu %llu\n", decompressed, hits, errors);
}

/*
 * L2 tables of all layers: lookups served from the cache, lookups that
 * read the file, tables held, tables allowed.
 */
static ssize_t l2_cache_stat_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	struct qsnap_device *qs = dev_to_qsnap(dev);
	u64 hits = 0, misses = 0, nr = 0, max = 0;
	struct qsnap_image *im;
	unsigned int i;

	for (i = 0; i < qs->nr_layers; i++) {
		im = qs->layers[i].im;
		mutex_lock(&im->map_lock);
		hits += im->l2.hits;
		misses += im->l2.misses;
		nr += im->l2.nr;
		max += im->l2.max;
		mutex_unlock(&im->map_lock);
	}
	return sysfs_emit(buf, "%llu %llu %llu %llu\n", hits, misses, nr, max);
}

/* The device's settings (its attach's, or the module parameters then). */
static ssize_t recheck_ms_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", dev_to_qsnap(dev)->set.recheck_ms);
}

static ssize_t l2_cache_kb_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", dev_to_qsnap(dev)->set.l2_cache_kb);
}

static ssize_t share_images_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", dev_to_qsnap(dev)->set.share_images);
}

static ssize_t partscan_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", !dev_to_qsnap(dev)->no_partscan);
}

/* 1 if the device detaches itself at its last close (as loop's autoclear). */
static ssize_t autoclear_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", READ_ONCE(dev_to_qsnap(dev)->autoclear));
}

/*
 * 1 if data clusters of the attached image are read with O_DIRECT (the
 * direct_io setting, where the file system allows it).
 */
static ssize_t direct_io_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", !!qsnap_top(dev_to_qsnap(dev))->im->direct);
}

static DEVICE_ATTR_RO(image);
static DEVICE_ATTR_RO(backing);
static DEVICE_ATTR_RO(inodes);
static DEVICE_ATTR_RO(snapshot_id);
static DEVICE_ATTR_RO(snapshot_name);
static DEVICE_ATTR_RO(snapshot_date);
static DEVICE_ATTR_RO(cluster_size);
static DEVICE_ATTR_RO(virtual_size);
static DEVICE_ATTR_RO(compressed_stat);
static DEVICE_ATTR_RO(l2_cache_stat);
static DEVICE_ATTR_RO(direct_io);
static DEVICE_ATTR_RO(recheck_ms);
static DEVICE_ATTR_RO(l2_cache_kb);
static DEVICE_ATTR_RO(share_images);
static DEVICE_ATTR_RO(partscan);
static DEVICE_ATTR_RO(autoclear);

static struct attribute *qsnap_attrs[] = {
	&dev_attr_image.attr,
	&dev_attr_backing.attr,
	&dev_attr_inodes.attr,
	&dev_attr_snapshot_id.attr,
	&dev_attr_snapshot_name.attr,
	&dev_attr_snapshot_date.attr,
	&dev_attr_cluster_size.attr,
	&dev_attr_virtual_size.attr,
	&dev_attr_compressed_stat.attr,
	&dev_attr_l2_cache_stat.attr,
	&dev_attr_direct_io.attr,
	&dev_attr_recheck_ms.attr,
	&dev_attr_l2_cache_kb.attr,
	&dev_attr_share_images.attr,
	&dev_attr_partscan.attr,
	&dev_attr_autoclear.attr,
	NULL,
};

static const struct attribute_group qsnap_attr_group = {
	.name	= "qsnap",
	.attrs	= qsnap_attrs,
};

static const struct attribute_group *qsnap_attr_groups[] = {
	&qsnap_attr_group,
	NULL,
};

/* The one line an attach logs, once the device has its name. */
static void qsnap_log_attach(struct qsnap_device *qs)
{
	const struct qcow2_snapshot *sn = qsnap_top(qs)->view.snapshot;
	const char *id = sn ? sn->id_str : "(current state)";
	const char *name = sn ? sn->name : "";

	pr_info("%s: attached %s, snapshot %*pE%s%*pE, %llu bytes, %u backing file%s\n",
		qs->disk->disk_name, qsnap_top(qs)->im->log_path,
		(int)strlen(id), id, sn ? " " : "", (int)strlen(name), name,
		qsnap_top(qs)->size, qs->nr_layers - 1,
		qs->nr_layers == 2 ? "" : "s");
}

/**
 * qsnap_add() - register /dev/qsnapN for a parsed image
 * @qs: the device, its layers opened and validated, its I/O state set up
 * @index: the wanted index, or QSNAP_INDEX_ANY
 *
 * The index lookup finds @qs from the start, so that GET_INFO answers
 * for the uevents of the disk and its partitions; detach refuses it
 * (EBUSY) until it is registered.  On success the gendisk owns @qs (freed
 * by ->free_disk), and a detach may free it as soon as this returns: the
 * caller must not touch it.  On failure the caller still owns it.
 *
 * Return: the index, or -errno (-EEXIST if @index is taken).
 */
int qsnap_add(struct qsnap_device *qs, u32 index)
{
	struct gendisk *disk;
	int ret;

	mutex_lock(&qsnap_index_mutex);
	if (index == QSNAP_INDEX_ANY)
		ret = idr_alloc(&qsnap_index_idr, qs, 0, QSNAP_MAX_DEVICES,
				GFP_KERNEL);
	else if (index >= QSNAP_MAX_DEVICES)
		ret = -EINVAL;
	else
		ret = idr_alloc(&qsnap_index_idr, qs, index, index + 1,
				GFP_KERNEL);
	mutex_unlock(&qsnap_index_mutex);
	if (ret == -ENOSPC)
		ret = index == QSNAP_INDEX_ANY ? -ENOSPC : -EEXIST;
	if (ret < 0)
		return ret;
	qs->index = ret;

	qs->tag_set.ops = &qsnap_mq_ops;
	qs->tag_set.nr_hw_queues = 1;
	qs->tag_set.queue_depth = QSNAP_QUEUE_DEPTH;
	qs->tag_set.numa_node = NUMA_NO_NODE;
	qs->tag_set.cmd_size = sizeof(struct qsnap_cmd);
	qs->tag_set.flags = BLK_MQ_F_STACKING | BLK_MQ_F_NO_SCHED_BY_DEFAULT |
			    QSNAP_MQ_F_MERGE;
	qs->tag_set.driver_data = qs;
	ret = blk_mq_alloc_tag_set(&qs->tag_set);
	if (ret)
		goto out_free_index;

	disk = qsnap_compat_alloc_disk(&qs->tag_set, qs, QSNAP_MAX_HW_SECTORS);
	if (IS_ERR(disk)) {
		ret = PTR_ERR(disk);
		goto out_free_tags;
	}
	qs->disk = disk;

	/*
	 * WQ_MEM_RECLAIM: a rescuer thread, so that requests progress when
	 * new workers cannot be forked (a file system on the device may be
	 * what reclaim is waiting for).  One worker walks the queue
	 * (qsnap_queue_work()), and two per CPU, up to
	 * QSNAP_MAX_SLOW_WORKERS, finish requests that wait for metadata or
	 * decompress.
	 */
	qs->wq = alloc_workqueue("qsnap%d", WQ_UNBOUND | WQ_FREEZABLE |
				 WQ_MEM_RECLAIM,
				 1 + min_t(unsigned int, num_online_cpus() *
					   QSNAP_SLOW_WORKERS_PER_CPU,
					   QSNAP_MAX_SLOW_WORKERS), qs->index);
	if (!qs->wq) {
		ret = -ENOMEM;
		goto out_put_disk;
	}

	spin_lock_init(&qs->queue_lock);
	INIT_LIST_HEAD(&qs->queue);
	INIT_WORK(&qs->queue_work, qsnap_queue_work);
	INIT_WORK(&qs->autoclear_work, qsnap_autoclear_fn);

	disk->major = qsnap_major;
	disk->first_minor = qs->index << QSNAP_PART_SHIFT;
	disk->minors = 1 << QSNAP_PART_SHIFT;
	disk->fops = &qsnap_fops;
	disk->private_data = qs;
	snprintf(disk->disk_name, DISK_NAME_LEN, "qsnap%d", qs->index);
	/* QEMU exports the whole sectors of the size: round down. */
	set_capacity(disk, qsnap_disk_bytes(qs) >> SECTOR_SHIFT);
	set_disk_ro(disk, true);
	if (qs->no_partscan)
		disk->flags |= GENHD_FL_NO_PART;

	ret = device_add_disk(NULL, disk, qsnap_attr_groups);
	if (ret)
		goto out_destroy_wq;

	qsnap_log_attach(qs);
	ret = qs->index;
	mutex_lock(&qsnap_index_mutex);
	WRITE_ONCE(qs->added, true);
	mutex_unlock(&qsnap_index_mutex);
	/* Detach and an autoclear close may free @qs from here on. */
	return ret;

out_destroy_wq:
	destroy_workqueue(qs->wq);
out_put_disk:
	/* Not added, so ->free_disk is not called: @qs stays the caller's. */
	put_disk(disk);
	qs->disk = NULL;
out_free_tags:
	blk_mq_free_tag_set(&qs->tag_set);
out_free_index:
	mutex_lock(&qsnap_index_mutex);
	idr_remove(&qsnap_index_idr, qs->index);
	mutex_unlock(&qsnap_index_mutex);
	/*
	 * Not only -ENOMEM: add_disk() ignores a failed dev_set_name(), and
	 * device_add() then fails with -EINVAL.
	 */
	if (ret != -ENOMEM)
		pr_err("qsnap%u: cannot register the block device (error %d)\n",
		       qs->index, ret);
	return ret;
}

/**
 * qsnap_remove() - tear down a device and free its index
 * @qs: the device, no longer found by index lookups (its index entry is
 *	NULL); freed when the last reference to its gendisk goes
 */
static void qsnap_remove(struct qsnap_device *qs)
{
	struct gendisk *disk = qs->disk;

	del_gendisk(disk);		/* drains and fails further I/O */
	destroy_workqueue(qs->wq);
	blk_mq_free_tag_set(&qs->tag_set);
	pr_info("%s: detached\n", disk->disk_name);
	/* Only now may a new device take the name (as loop_remove does). */
	mutex_lock(&qsnap_index_mutex);
	idr_remove(&qsnap_index_idr, qs->index);
	mutex_unlock(&qsnap_index_mutex);
	put_disk(disk);
}

/* The detach an autoclear device's last close asked for. */
static void qsnap_autoclear_fn(struct work_struct *work)
{
	struct qsnap_device *qs = container_of(work, struct qsnap_device,
					       autoclear_work);

	pr_info("%s: closed by its last user: detaching (autoclear)\n",
		qs->disk->disk_name);
	mutex_lock(&qsnap_index_mutex);
	idr_replace(&qsnap_index_idr, NULL, qs->index);
	mutex_unlock(&qsnap_index_mutex);
	qsnap_remove(qs);
}

/**
 * qsnap_detach() - remove the device at an index, unless it is in use
 * @index: its index
 * @lazy: if it is in use, detach it when its last opener closes it
 *
 * Return: 0 (detached, or with @lazy marked to detach itself), -ENODEV (no
 * device there, or it is detaching itself), -EBUSY (open, or still being
 * attached).
 */
int qsnap_detach(u32 index, bool lazy)
{
	struct qsnap_device *qs;
	bool remove = false;
	int ret = 0;

	mutex_lock(&qsnap_index_mutex);
	qs = idr_find(&qsnap_index_idr, index);
	if (!qs) {
		ret = -ENODEV;
		goto out_unlock;
	}
	/* Its attach is still registering it (qsnap_add()). */
	if (!qs->added) {
		ret = -EBUSY;
		goto out_unlock;
	}
	/*
	 * Under open_mutex no open can slip in between the check and the
	 * state change; ->open refuses once the state is QSNAP_STATE_DELETING.
	 */
	mutex_lock(&qs->disk->open_mutex);
	if (qs->state != QSNAP_STATE_BOUND) {
		ret = -ENODEV;		/* its autoclear work removes it */
	} else if (!disk_openers(qs->disk)) {
		qs->state = QSNAP_STATE_DELETING;
		remove = true;
	} else if (lazy) {
		WRITE_ONCE(qs->autoclear, true); /* its users hold it: armed */
		qs->claimed = true;
		pr_info("%s: detaching when its last user closes it\n",
			qs->disk->disk_name);
	} else {
		ret = -EBUSY;
	}
	mutex_unlock(&qs->disk->open_mutex);
	/*
	 * Hide the device from lookups but keep its index taken until
	 * qsnap_remove() has deleted the gendisk: an attach that reused the
	 * index earlier would register a second "qsnapN" in sysfs.
	 */
	if (remove)
		idr_replace(&qsnap_index_idr, NULL, index);
out_unlock:
	mutex_unlock(&qsnap_index_mutex);
	if (remove)
		qsnap_remove(qs);
	return ret;
}

static void qsnap_copy_str(char *dst, size_t size, const char *src)
{
	strscpy(dst, src ? src : "", size);
}

/**
 * qsnap_get_info() - describe the device at an index
 * @index: its index
 * @info: zeroed; filled in
 *
 * Return: 0 or -ENODEV.
 */
int qsnap_get_info(u32 index, struct qsnap_info *info)
{
	const struct qcow2_snapshot *sn;
	struct qsnap_device *qs;
	struct qsnap_layer *top;
	unsigned int i;
	int ret = 0;

	mutex_lock(&qsnap_index_mutex);
	qs = idr_find(&qsnap_index_idr, index);
	if (!qs) {
		ret = -ENODEV;
		goto out_unlock;
	}
	top = qsnap_top(qs);
	sn = top->view.snapshot;
	info->index = index;
	info->size = qsnap_disk_bytes(qs);
	info->cluster_size = top->im->qcow2.cluster_size;
	info->qcow2_version = top->im->qcow2.version;
	if (sn) {
		info->flags |= QSNAP_INFO_F_SNAPSHOT;
		info->date_sec = sn->date_sec;
		info->date_nsec = sn->date_nsec;
		info->vm_clock_nsec = sn->vm_clock_nsec;
		qsnap_copy_str(info->snapshot_id, sizeof(info->snapshot_id),
			       sn->id_str);
		qsnap_copy_str(info->snapshot_name,
			       sizeof(info->snapshot_name), sn->name);
	}
	if (top->im->qcow2.incompatible_features & QCOW2_INCOMPAT_CORRUPT)
		info->flags |= QSNAP_INFO_F_CORRUPT;
	if (top->im->qcow2.incompatible_features & QCOW2_INCOMPAT_DIRTY)
		info->flags |= QSNAP_INFO_F_DIRTY;
	if (READ_ONCE(qs->watch.gone))
		info->flags |= QSNAP_INFO_F_GONE;
	if (READ_ONCE(qs->autoclear))
		info->flags |= QSNAP_INFO_F_AUTOCLEAR;
	for (i = 0; i < qs->nr_layers; i++) {
		if (!qs->layers[i].im->tfm)
			continue;
		info->flags |= QSNAP_INFO_F_ENCRYPTED;
		qcow2_crypto_name(&qs->layers[i].im->qcow2.crypto, info->cipher,
				  sizeof(info->cipher));
		break;
	}
	qsnap_copy_str(info->image, sizeof(info->image), top->im->path);
out_unlock:
	mutex_unlock(&qsnap_index_mutex);
	return ret;
}

/**
 * qsnap_devices_memory() - what qsnap holds for the devices themselves
 * @devices: out: how many there are
 * @bytes: out: their bytes (the device, its layers, their L1 tables; not
 *	   the block layer's own per-device memory, nor the images)
 */
void qsnap_devices_memory(unsigned int *devices, size_t *bytes)
{
	struct qsnap_device *qs;
	unsigned int i;
	int id;

	*devices = 0;
	*bytes = 0;
	mutex_lock(&qsnap_index_mutex);
	idr_for_each_entry(&qsnap_index_idr, qs, id) {
		(*devices)++;
		*bytes += sizeof(*qs) + qs->nr_layers * sizeof(*qs->layers);
		for (i = 0; i < qs->nr_layers; i++)
			*bytes += (size_t)qs->layers[i].view.l1_used *
				  sizeof(__be64);
	}
	mutex_unlock(&qsnap_index_mutex);
}

/* Register the block major; qsnap_disk_exit() undoes it. */
int qsnap_disk_init(void)
{
	/*
	 * Unbound: the work detaches a device from whatever CPU is free.
	 * Since v7.2 a workqueue that names neither WQ_UNBOUND nor
	 * WQ_PERCPU draws a WARNING at creation.
	 */
	qsnap_autoclear_wq = alloc_workqueue("qsnap_autoclear", WQ_UNBOUND, 0);
	if (!qsnap_autoclear_wq)
		return -ENOMEM;
	qsnap_major = register_blkdev(0, "qsnap");
	if (qsnap_major < 0) {
		destroy_workqueue(qsnap_autoclear_wq);
		return qsnap_major;
	}
	return 0;
}

/* Remove every device (none can be open: each open pins the module). */
void qsnap_disk_exit(void)
{
	struct qsnap_device *qs;
	int id;

	/* Autoclear detaches first: they take their devices out of the index. */
	destroy_workqueue(qsnap_autoclear_wq);
	idr_for_each_entry(&qsnap_index_idr, qs, id)
		qsnap_remove(qs);
	idr_destroy(&qsnap_index_idr);
	unregister_blkdev(qsnap_major, "qsnap");
}

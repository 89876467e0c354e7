/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * qsnap internal structures, shared by the control device, the gendisk
 * glue and the request path.
 */
#ifndef QSNAP_H
#define QSNAP_H

#include <linux/blk-mq.h>
#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/ratelimit.h>
#include <linux/sizes.h>
#include <linux/workqueue.h>

#include <uapi/linux/qsnap.h>

#include "qcow2.h"

#define QSNAP_PART_SHIFT	4	/* 16 minors: the disk and 15 partitions */
#define QSNAP_MAX_DEVICES	BIT(MINORBITS - QSNAP_PART_SHIFT)
#define QSNAP_QUEUE_DEPTH	128
#define QSNAP_MAX_HW_SECTORS	2048	/* 1 MiB requests */
/*
 * Requests waiting on metadata reads or decompressing at once: two per CPU
 * (one reads its stream while the other decompresses), at most this many.
 */
#define QSNAP_SLOW_WORKERS_PER_CPU	2
#define QSNAP_MAX_SLOW_WORKERS	4
/* L2 tables cached per layer: l2_cache_kb, within these bounds. */
#define QSNAP_L2_CACHE_DEFAULT_KB	1024
#define QSNAP_L2_CACHE_MIN_TABLES	4
#define QSNAP_L2_CACHE_MAX_TABLES	65536

/**
 * struct qsnap_settings - how a device reads, chosen at attach
 *	(qsnap_settings.c; the module parameters of the same names are the
 *	defaults)
 * @direct_io:	read data clusters with O_DIRECT where possible
 * @share_images: share image objects with other devices (snapshots only)
 * @l2_cache_kb: L2 tables cached per image of the chain, in KiB
 * @recheck_ms:	how often the snapshot table is re-read while reading
 */
struct qsnap_settings {
	bool direct_io;
	bool share_images;
	u32 l2_cache_kb;
	u32 recheck_ms;
};

enum qsnap_state {
	QSNAP_STATE_BOUND,	/* attached, openable */
	QSNAP_STATE_DELETING,	/* detach has begun: no new opens */
};

struct qsnap_zcache;
struct iov_iter;
struct crypto_skcipher;

/**
 * struct qsnap_l2cache - cached L2 tables of one layer (qsnap_l2cache.c)
 * @lru:	the tables not being read into, most recently used first
 * @hash:	the tables read or being read, by host offset
 * @loaded:	woken when a table has been read into
 * @loads_done:	tables read into so far (for waiters)
 * @hash_bits:	log2 of the buckets in @hash
 * @nr:		tables allocated
 * @max:	tables allowed
 * @table_size:	bytes of one table
 * @hits:	lookups found in the cache
 * @misses:	lookups that read the file
 */
struct qsnap_l2cache {
	struct list_head lru;
	struct hlist_head *hash;
	wait_queue_head_t loaded;
	unsigned int loads_done;
	unsigned int hash_bits;
	unsigned int nr;
	unsigned int max;
	size_t table_size;
	u64 hits;
	u64 misses;
};

/**
 * struct qsnap_image - one image file as devices read it: the file, its
 * parsed metadata and its caches (qsnap_image.c).  Shared by the devices
 * that show snapshots of the same file with the same metadata, so they
 * keep one header and snapshot table, one L2 cache and one cache of
 * decompressed clusters, all keyed by host offset (a cluster read through
 * one device is a hit for the others).  A layer read at its current state
 * has one of its own.
 * @node:	in the list of images, under its mutex
 * @ref:	the layers (of all devices) that use it
 * @file:	the image file; our own reference
 * @data_file:	its external data file (our reference), or NULL: data
 *		clusters are in @file
 * @direct:	an O_DIRECT open of the file data is read from (@data_file or
 *		@file), or NULL: data is read through the page cache
 * @direct_align: what file offsets and lengths of O_DIRECT reads of
 *		@direct must be aligned to (STATX_DIOALIGN, or the disk's
 *		logical block size)
 * @direct_mem_align: and the memory they read into
 * @path:	the path of @file when attached, for sysfs and GET_INFO
 * @log_path:	@path with its special characters escaped, for messages
 * @set:	the settings of the device that set it up (direct_io and
 *		l2_cache_kb apply; devices share it only with the same ones)
 * @format:	QSNAP_FORMAT_QCOW2 or QSNAP_FORMAT_RAW
 * @raw_has_qcow2_magic: raw: the file starts with the qcow2 magic
 * @shareable:	read through snapshots only: later attaches of snapshots of
 *		the same image may share it (qsnap_image.c says why)
 * @qcow2:	qcow2: the decoded header and snapshot table
 * @map_lock:	serialises @l2 and img.err
 * @l2:		qcow2: cached L2 tables
 * @zcache_lock: serialises @zcache and @zstat
 * @zcache:	decompression state, set up on the first compressed cluster
 * @zstat:	compressed clusters decompressed, served from @zcache, failed
 * @tfm:	an encrypted image: its cipher, keyed (qsnap_crypt.c); such an
 *		image is never shared, as its key is the attaching caller's
 */
struct qsnap_image {
	struct list_head node;
	struct kref ref;
	struct file *file;
	struct file *data_file;
	struct file *direct;
	unsigned int direct_align;
	unsigned int direct_mem_align;
	char *path;
	char *log_path;
	struct qsnap_settings set;
	u32 format;
	bool raw_has_qcow2_magic;
	bool shareable;
	struct qcow2_image qcow2;
	struct mutex map_lock;		/* l2 and img.err */
	struct qsnap_l2cache l2;
	struct mutex zcache_lock;	/* zcache and zstat */
	struct qsnap_zcache *zcache;
	struct {
		u64 decompressed;
		u64 hits;
		u64 errors;
	} zstat;
	struct crypto_skcipher *tfm;
};

/**
 * struct qsnap_layer - one image of a device's chain, as this device reads
 * it: the attached image (layer 0, read at the chosen snapshot) or one of
 * its backing files (read at their current state)
 * @im:		the image (shared)
 * @size:	guest bytes this layer covers; reads past it are zeros
 * @view:	qcow2: the L1 table this layer is read through
 * @l1:		qcow2: the first view.l1_used L1 entries, as on disk
 */
struct qsnap_layer {
	struct qsnap_image *im;
	u64 size;
	struct qcow2_view view;
	__be64 *l1;
};

/**
 * struct qsnap_watch - is the attached snapshot still in its image?
 *	(qsnap_watch.c)
 * @lock:	one check at a time; guards @unknown
 * @next:	jiffies after which a request triggers the next check
 * @kicked:	an open asked for a check before the next read
 * @watched:	a snapshot is attached (the current state is not watched)
 * @gone:	the snapshot was deleted or replaced: every read fails
 * @unknown:	the last check could not read the snapshot table (said once)
 * @sn:		the snapshot's table entry as at attach, all of it, and where
 *		it was last found (@sn.entry_offset)
 * @table_offset: where the snapshot table was when the entry was last found
 * @table_count: and how many entries it had
 */
struct qsnap_watch {
	struct mutex lock;		/* one check at a time */
	unsigned long next;
	bool kicked;
	bool watched;
	bool gone;
	bool unknown;
	struct qcow2_snapshot sn;
	u64 table_offset;
	u32 table_count;
};

/**
 * struct qsnap_device - one attached snapshot, /dev/qsnapN
 * @index:	N
 * @added:	registered: detach and autoclear may remove it (set under
 *		qsnap_index_mutex; until then the index lookup finds it for
 *		GET_INFO only)
 * @state:	under disk->open_mutex
 * @layers:	@nr_layers layers: [0] the attached image, then its backing
 *		chain, top-down
 * @nr_layers:	1 + the number of backing files
 * @set:	its settings
 * @no_partscan: QSNAP_ATTACH_F_NO_PARTSCAN: no partition table is read
 * @autoclear:	detach at the last close once @claimed (under open_mutex)
 * @claimed:	opened exclusively since attach (under open_mutex)
 * @autoclear_work: the detach that the last close asks for (qsnap_disk.c)
 * @io_ratelimit: limits the log lines of errors found serving requests
 * @watch:	whether the snapshot still exists
 * @wq:		runs requests in process context (the image is read via VFS)
 * @queue_lock:	guards @queue
 * @queue:	requests not yet walked, in order
 * @queue_work:	walks @queue (qsnap_io.c)
 * @tag_set:	blk-mq tag set
 * @disk:	the gendisk
 */
struct qsnap_device {
	int index;
	bool added;
	enum qsnap_state state;
	struct qsnap_layer *layers;
	unsigned int nr_layers;
	struct qsnap_settings set;
	bool no_partscan;
	bool autoclear;
	bool claimed;
	struct work_struct autoclear_work;
	struct ratelimit_state io_ratelimit;
	struct qsnap_watch watch;
	struct workqueue_struct *wq;
	spinlock_t queue_lock;		/* queue */
	struct list_head queue;
	struct work_struct queue_work;
	struct blk_mq_tag_set tag_set;
	struct gendisk *disk;
};

/* The attached image: its snapshot is what the device shows. */
static inline struct qsnap_layer *qsnap_top(struct qsnap_device *qs)
{
	return &qs->layers[0];
}

/* The device's size: the top layer's in whole sectors, as QEMU exports it. */
static inline u64 qsnap_disk_bytes(struct qsnap_device *qs)
{
	return round_down(qsnap_top(qs)->size, SECTOR_SIZE);
}

/* Asynchronous reads one request may have in flight (qsnap_aio.c). */
#define QSNAP_CMD_AIOS	4

/**
 * struct qsnap_aio - one asynchronous O_DIRECT read of a request
 * @iocb:	the read
 * @iter:	where its bytes go, as submitted (kept for a retry)
 * @cmd:	the request
 * @layer:	the layer whose data is read
 * @pos:	file offset
 * @len:	bytes asked for
 * @ret:	what the read returned
 */
struct qsnap_aio {
	struct kiocb iocb;
	struct iov_iter iter;
	struct qsnap_cmd *cmd;
	struct qsnap_layer *layer;
	u64 pos;
	size_t len;
	long ret;
};

/* Parts a request with compressed clusters is cut into (qsnap_io.c). */
#define QSNAP_CMD_SLICES	4

/**
 * struct qsnap_slice - a part of a request, read by its own work item
 * @work:	reads it
 * @cmd:	the request
 * @start:	its first guest byte
 * @end:	the guest byte after its last
 */
struct qsnap_slice {
	struct work_struct work;
	struct qsnap_cmd *cmd;
	u64 start;
	u64 end;
};

/* What a request's work item is queued to do. */
enum qsnap_cmd_phase {
	QSNAP_CMD_WALK,		/* map and read the request from @resume on */
	QSNAP_CMD_RETRY,	/* redo the asynchronous reads that came back short */
};

/**
 * struct qsnap_cmd - per-request data (the blk-mq PDU)
 * @node:	in the device's queue, until the queue work takes it
 * @work:	goes on where the queue work stopped, or retries short reads
 * @phase:	what @work is to do
 * @resume:	guest byte the walk goes on from; the bytes before it are
 *		read or being read
 * @ref:	1 per walk (or slice) going on, plus one per read in flight
 * @error:	-errno the request ends with (the first one)
 * @retry:	an asynchronous read came back short: redo it synchronously
 * @nr_aio:	entries of @aio used
 * @aio:	the request's asynchronous reads
 * @slices:	the request cut up to decompress on several CPUs
 */
struct qsnap_cmd {
	struct list_head node;
	struct work_struct work;
	enum qsnap_cmd_phase phase;
	u64 resume;
	atomic_t ref;
	int error;
	bool retry;
	unsigned int nr_aio;
	struct qsnap_aio aio[QSNAP_CMD_AIOS];
	struct qsnap_slice slices[QSNAP_CMD_SLICES];
};

/* qsnap_file.c */
ssize_t qsnap_file_read_padded(struct file *file, void *buf, size_t len,
			       u64 off);
int qsnap_file_pread(void *opaque, void *buf, size_t len, u64 off);
u64 qsnap_file_size(struct file *file);
__printf(3, 4)
void qsnap_io_err(struct qsnap_device *qs, const struct qsnap_layer *layer,
		  const char *fmt, ...);
struct file *qsnap_data_file(const struct qsnap_image *im,
			     const struct iov_iter *iter, u64 pos, u64 len);
int qsnap_read_data_sync(struct qsnap_device *qs, struct qsnap_layer *layer,
			 struct iov_iter *iter, u64 pos, u64 len);

/* qsnap_layer.c */
int qsnap_layer_open(struct qsnap_layer *layer, int fd, u32 format, int data_fd);
int qsnap_layer_select(struct qsnap_layer *top, const char *snapshot);
int qsnap_layers_check_chain(struct qsnap_device *qs, bool no_backing);
int qsnap_layers_setup(struct qsnap_device *qs);
void qsnap_layers_free(struct qsnap_device *qs);

/* qsnap_io.c: the request path */
extern const struct blk_mq_ops qsnap_mq_ops;
void qsnap_queue_work(struct work_struct *work);

/* qsnap_aio.c */
bool qsnap_aio_read(struct qsnap_cmd *cmd, struct qsnap_layer *layer,
		    struct file *file, const struct iov_iter *iter, u64 pos,
		    size_t len);
int qsnap_aio_retry(struct qsnap_device *qs, struct qsnap_cmd *cmd);
void qsnap_cmd_put(struct qsnap_cmd *cmd);

/* qsnap_compress.c */
int qsnap_read_compressed(struct qsnap_device *qs, struct qsnap_layer *layer,
			  struct iov_iter *iter, u64 guest_pos,
			  const struct qcow2_mapping *map);
void qsnap_compress_exit(struct qsnap_image *im);
size_t qsnap_compress_bytes(const struct qsnap_image *im);

/* qsnap_crypt.c */
int qsnap_crypt_init(struct qsnap_image *im, const struct qsnap_key *k);
void qsnap_crypt_exit(struct qsnap_image *im);
int qsnap_crypt_decrypt(struct qsnap_image *im, const struct iov_iter *iter,
			u64 len, u64 sector);

/* qsnap_image.c */
struct qsnap_image *qsnap_image_alloc(void);
int qsnap_image_setup(struct qsnap_image *im);
struct qsnap_image *qsnap_image_find(const struct qsnap_image *fresh);
void qsnap_image_publish(struct qsnap_image *im, bool shareable);
void qsnap_image_put(struct qsnap_image *im);
void qsnap_images_memory(unsigned int *images, size_t *bytes);

/* qsnap_watch.c */
int qsnap_watch_init(struct qsnap_device *qs);
void qsnap_watch_exit(struct qsnap_device *qs);
int qsnap_watch_check(struct qsnap_device *qs);
bool qsnap_watch_due(struct qsnap_device *qs);
void qsnap_watch_kick(struct qsnap_device *qs);

/* qsnap_l2cache.c */
int qsnap_l2c_init(struct qsnap_l2cache *c, size_t table_size, u32 kb);
void qsnap_l2c_exit(struct qsnap_l2cache *c);
__be64 *qsnap_l2c_get(struct qsnap_l2cache *c, struct mutex *lock,
		      struct file *file, u64 offset, bool nowait);

/* qsnap_disk.c */
int qsnap_add(struct qsnap_device *qs, u32 index);
void qsnap_free(struct qsnap_device *qs);
int qsnap_detach(u32 index, bool lazy);
int qsnap_get_info(u32 index, struct qsnap_info *info);
int qsnap_disk_init(void);
void qsnap_disk_exit(void);
void qsnap_devices_memory(unsigned int *devices, size_t *bytes);

/* qsnap_debugfs.c */
void qsnap_debugfs_init(void);
void qsnap_debugfs_exit(void);

/* qsnap_settings.c */
int qsnap_settings_get(const struct qsnap_attach *arg,
		       struct qsnap_settings *set);

/* qsnap_ctl.c */
int qsnap_ctl_init(void);
void qsnap_ctl_exit(void);

#endif /* QSNAP_H */

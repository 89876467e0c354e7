// SPDX-License-Identifier: GPL-2.0-only
/*
 * qsnap L2 table cache: one per qcow2 layer, keyed by the table's host
 * offset, least recently used table evicted.
 *
 * Tables are allocated as they are first needed, up to a limit set by the
 * device's l2_cache_kb setting when it is attached, so that a
 * device reading a small part of a large image costs little memory, and a
 * device reading all of it randomly can be given enough to never re-read a
 * table.  A hash over the offsets keeps lookups O(1) at any size.  The
 * caller serialises all calls (the image's map_lock), which
 * qsnap_l2c_get() drops while it reads a table.
 */
#include <linux/hash.h>
#include <linux/list.h>
#include <linux/log2.h>
#include <linux/math64.h>
#include <linux/slab.h>
#include <linux/wait.h>

#include "qsnap.h"

struct qsnap_l2_entry {
	struct hlist_node hash;
	struct list_head lru;		/* off the list while being read into */
	u64 offset;
	bool loading;			/* being read into, lock dropped */
	__be64 *table;
};

/* One more table, unindexed, at the tail of the LRU list. */
static int qsnap_l2c_grow(struct qsnap_l2cache *c, gfp_t gfp)
{
	struct qsnap_l2_entry *e = kzalloc(sizeof(*e), gfp);

	if (!e)
		return -ENOMEM;
	e->table = kvmalloc(c->table_size, gfp);
	if (!e->table) {
		kfree(e);
		return -ENOMEM;
	}
	INIT_HLIST_NODE(&e->hash);
	list_add_tail(&e->lru, &c->lru);
	c->nr++;
	return 0;
}

/**
 * qsnap_l2c_init() - set up an empty cache
 * @c: the cache
 * @table_size: bytes of one L2 table (the cluster size)
 * @kb: what the tables may take, in KiB (at least QSNAP_L2_CACHE_MIN_TABLES)
 *
 * Return: 0 or -ENOMEM (qsnap_l2c_exit() cleans up either way).
 */
int qsnap_l2c_init(struct qsnap_l2cache *c, size_t table_size, u32 kb)
{
	u64 limit = div_u64((u64)kb * SZ_1K, table_size);

	INIT_LIST_HEAD(&c->lru);
	init_waitqueue_head(&c->loaded);
	c->table_size = table_size;
	c->max = clamp_t(u64, limit, QSNAP_L2_CACHE_MIN_TABLES,
			 QSNAP_L2_CACHE_MAX_TABLES);
	c->hash_bits = ilog2(roundup_pow_of_two(c->max));
	c->hash = kvcalloc(1U << c->hash_bits, sizeof(*c->hash), GFP_KERNEL);
	if (!c->hash)
		return -ENOMEM;
	/*
	 * One table from the start: when no more can be allocated, lookups
	 * still have one to read into (the allocation of more may wait on
	 * memory; a failed one only keeps the cache smaller).
	 */
	return qsnap_l2c_grow(c, GFP_KERNEL);
}

/**
 * qsnap_l2c_exit() - free every table and the cache's index
 * @c: the cache (may be one whose init failed, or never ran: all zeros)
 */
void qsnap_l2c_exit(struct qsnap_l2cache *c)
{
	struct qsnap_l2_entry *e, *next;

	if (!c->hash)
		return;
	list_for_each_entry_safe(e, next, &c->lru, lru) {
		kvfree(e->table);
		kfree(e);
	}
	kvfree(c->hash);
	c->hash = NULL;
}

static struct hlist_head *qsnap_l2c_bucket(struct qsnap_l2cache *c, u64 offset)
{
	return &c->hash[hash_64(offset, c->hash_bits)];
}

/*
 * A table to fill: a new one while under the limit and memory allows
 * (else the cache just stays smaller), or the least recently used one not
 * being read into, taken out of the index.  When every table is being
 * read into, one more is allocated all the same (as many as there are
 * readers at once, which the workers bound); NULL if that fails too.
 */
static struct qsnap_l2_entry *qsnap_l2c_victim(struct qsnap_l2cache *c)
{
	struct qsnap_l2_entry *e;

	if (c->nr < c->max || list_empty(&c->lru))
		qsnap_l2c_grow(c, GFP_KERNEL | __GFP_NOWARN);
	if (list_empty(&c->lru))
		return NULL;
	e = list_last_entry(&c->lru, struct qsnap_l2_entry, lru);
	hlist_del_init(&e->hash);
	e->offset = 0;
	return e;
}

/* Drop @lock until @e is read (or, @e NULL, until some table is). */
static void qsnap_l2c_wait(struct qsnap_l2cache *c, struct mutex *lock,
			   struct qsnap_l2_entry *e)
{
	unsigned int gen = c->loads_done;

	mutex_unlock(lock);
	if (e)
		wait_event(c->loaded, !READ_ONCE(e->loading));
	else
		wait_event(c->loaded, READ_ONCE(c->loads_done) != gen);
	mutex_lock(lock);
}

/**
 * qsnap_l2c_get() - the L2 table at @offset of @file, cached
 * @c: the cache
 * @lock: the lock that serialises the cache (held; dropped while a table
 *	  is read from the file and retaken)
 * @file: the image file
 * @offset: host offset of the table (cluster-aligned, not 0)
 * @nowait: only look: a table not cached is -EAGAIN, not read
 *
 * A table is read with @lock dropped, so that lookups of cached tables
 * (of this device and of every other sharing the image) go on meanwhile;
 * a lookup of the table being read waits for that read.
 *
 * Return: the table (valid while @lock is held), or an ERR_PTR.
 */
__be64 *qsnap_l2c_get(struct qsnap_l2cache *c, struct mutex *lock,
		      struct file *file, u64 offset, bool nowait)
{
	struct hlist_head *bucket = qsnap_l2c_bucket(c, offset);
	struct qsnap_l2_entry *e;
	int ret;

again:
	hlist_for_each_entry(e, bucket, hash) {
		if (e->offset != offset)
			continue;
		if (e->loading) {
			if (nowait)
				return ERR_PTR(-EAGAIN);
			qsnap_l2c_wait(c, lock, e);
			goto again;
		}
		c->hits++;
		list_move(&e->lru, &c->lru);
		return e->table;
	}
	if (nowait)
		return ERR_PTR(-EAGAIN);

	e = qsnap_l2c_victim(c);
	if (!e) {
		qsnap_l2c_wait(c, lock, NULL);
		goto again;
	}
	c->misses++;
	/* Found by lookups of @offset, never chosen as a victim meanwhile. */
	e->offset = offset;
	WRITE_ONCE(e->loading, true);
	list_del_init(&e->lru);
	hlist_add_head(&e->hash, bucket);
	mutex_unlock(lock);
	ret = qsnap_file_pread(file, e->table, c->table_size, offset);
	mutex_lock(lock);
	WRITE_ONCE(e->loading, false);
	WRITE_ONCE(c->loads_done, c->loads_done + 1);
	wake_up_all(&c->loaded);
	if (ret) {
		/* Unindexed, so never found: reused first. */
		hlist_del_init(&e->hash);
		e->offset = 0;
		list_add_tail(&e->lru, &c->lru);
		return ERR_PTR(ret);
	}
	list_add(&e->lru, &c->lru);
	return e->table;
}

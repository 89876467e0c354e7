/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The qcow2 format code (qcow2*.c) is plain C: it builds in the module and,
 * unchanged, in userspace for qsnapctl, the unit tests and the fuzzer.  This
 * header is the only place that knows which of the two it is built for.
 */
#ifndef QSNAP_QCOW2_PORT_H
#define QSNAP_QCOW2_PORT_H

#ifdef __KERNEL__

#include <linux/types.h>
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/stdarg.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/build_bug.h>
#include <asm/byteorder.h>

/* Tables sized by the image (snapshot array, L1) can reach megabytes. */
#define qcow2_calloc(n, size)	kvcalloc(n, size, GFP_KERNEL)
#define qcow2_free(p)		kvfree(p)

#else /* userspace: qsnapctl, unit tests, fuzzer */

#include "qcow2_user.h"

#endif /* __KERNEL__ */

#endif /* QSNAP_QCOW2_PORT_H */

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
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/build_bug.h>
#include <asm/byteorder.h>

/* Tables sized by the image (snapshot array, L1) can reach megabytes. */
#define qcow2_calloc(n, size)	kvcalloc(n, size, GFP_KERNEL)
#define qcow2_free(p)		kvfree(p)

#else /* userspace */

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int64_t s64;
/* __be16/32/64 as the kernel's uapi headers define them. */
#include <linux/types.h>

#define be16_to_cpu(x)		be16toh(x)
#define be32_to_cpu(x)		be32toh(x)
#define be64_to_cpu(x)		be64toh(x)
#define cpu_to_be16(x)		htobe16(x)
#define cpu_to_be32(x)		htobe32(x)
#define cpu_to_be64(x)		htobe64(x)

#define qcow2_calloc(n, size)	calloc(n, size)
#define qcow2_free(p)		free(p)

#define check_mul_overflow(a, b, d)	__builtin_mul_overflow(a, b, d)
#define check_add_overflow(a, b, d)	__builtin_add_overflow(a, b, d)
#define __printf(a, b)		__attribute__((format(printf, a, b)))
#define ALIGN(x, a)		(((x) + ((a) - 1)) & ~((typeof(x))(a) - 1))
#define BIT_ULL(n)		(1ULL << (n))
#ifndef EUCLEAN
#define EUCLEAN			117
#endif

#endif /* __KERNEL__ */

#endif /* QSNAP_QCOW2_PORT_H */

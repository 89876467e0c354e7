/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the qcow2 format code (qcow2/qcow2*.c) needs from the kernel,
 * provided for the userspace builds of the same files: qsnapctl, the unit
 * tests and the fuzzer.  Included by qcow2_port.h only.
 */
#ifndef QSNAP_QCOW2_USER_H
#define QSNAP_QCOW2_USER_H

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

#define __printf(a, b)		__attribute__((format(printf, a, b)))
#define ALIGN(x, a)		(((x) + ((a) - 1)) & ~((typeof(x))(a) - 1))
#define BIT_ULL(n)		(1ULL << (n))
#ifndef EUCLEAN
#define EUCLEAN			117
#endif

#endif /* QSNAP_QCOW2_USER_H */

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A volume key from a file of hex digits (as tests/images/crypt.sh dumps
 * it with cryptsetup), for the C tests that attach encrypted images
 * through the ioctl: the kernel checks LUKS keys, so a made-up one is
 * refused.
 */
#ifndef QSNAP_TEST_HEXKEY_H
#define QSNAP_TEST_HEXKEY_H

#include <stdio.h>

#include <linux/qsnap.h>

/* Read @path's key into @key; return its bytes, or -1. */
static int read_hex_key(const char *path, __u8 key[QSNAP_KEY_MAX])
{
	FILE *f = fopen(path, "r");
	unsigned int byte;
	int n = 0;

	if (!f)
		return -1;
	while (n < QSNAP_KEY_MAX && fscanf(f, "%2x", &byte) == 1)
		key[n++] = byte;
	fclose(f);
	return n ? n : -1;
}

#endif /* QSNAP_TEST_HEXKEY_H */

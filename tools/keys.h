/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The keys of encrypted images (keys.c): passphrases from --key-file,
 * --key-desc or a prompt, unlocked into volume keys for the attach ioctl.
 */
#ifndef QSNAPCTL_KEYS_H
#define QSNAPCTL_KEYS_H

#include <linux/qsnap.h>

struct chain;

int keys_add_file(const char *path);
void keys_set_desc(const char *desc);
int keys_for_chain(const struct chain *c, const char *image,
		   struct qsnap_key *keys, unsigned int *n);
void keys_forget(void);

#endif /* QSNAPCTL_KEYS_H */

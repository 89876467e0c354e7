// SPDX-License-Identifier: GPL-2.0-only
/*
 * print_euid: print the effective uid.  The mount tests put a setuid-root
 * copy in a snapshot's file system and run it as nobody: mounted nosuid,
 * it prints 65534, not 0.
 */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	printf("%u\n", (unsigned int)geteuid());
	return 0;
}

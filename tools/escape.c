// SPDX-License-Identifier: GPL-2.0-only
/*
 * Strings from an image (snapshot ids and names, backing and data file
 * names) and file names, made safe for a terminal: an image must not be
 * able to recolour the screen, move the cursor or fake table rows.  As
 * ls -b and systemd do: printable UTF-8 stays as it is; control bytes,
 * C1 controls, bidirectional overrides, bytes that are not UTF-8 and the
 * backslash itself are written as C escapes (\n, \t, \r, \\, \xHH).
 * JSON output has its own escaping (json.c).
 */
#include <stdlib.h>
#include <string.h>

#include "qsnapctl.h"

/* Code points shown escaped although valid: C1 controls, bidi controls. */
static bool hidden_code_point(unsigned int cp)
{
	return (cp >= 0x80 && cp <= 0x9f) ||
	       (cp >= 0x200e && cp <= 0x200f) ||
	       (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069) ||
	       cp == 0x2028 || cp == 0x2029 || cp == 0xfeff;
}

/* Length of the printable UTF-8 sequence at @p, or 0. */
static size_t utf8_printable(const unsigned char *p)
{
	unsigned int cp, min;
	size_t n, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2, cp = p[0] & 0x1f, min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3, cp = p[0] & 0x0f, min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4, cp = p[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;	/* also stops at the NUL */
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    hidden_code_point(cp))
		return 0;
	return n;
}

/**
 * shown() - @s as it may be printed on a terminal
 * @s: the string
 *
 * Return: the escaped string, valid until eight more calls (so that one
 * message can show several), or "?" without memory.
 */
const char *shown(const char *s)
{
	static char *ring[8];
	static unsigned int next;
	const unsigned char *p = (const unsigned char *)s;
	char *out = malloc(4 * strlen(s) + 1), *o = out;
	size_t n;

	if (!out)
		return "?";
	while (*p) {
		if (*p == '\\') {
			*o++ = '\\';
			*o++ = '\\';
			p++;
		} else if (*p >= 0x20 && *p < 0x7f) {
			*o++ = *p++;
		} else if ((n = utf8_printable(p))) {
			memcpy(o, p, n);
			o += n;
			p += n;
		} else if (*p == '\n' || *p == '\t' || *p == '\r') {
			*o++ = '\\';
			*o++ = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
			p++;
		} else {
			o += sprintf(o, "\\x%02x", *p++);
		}
	}
	*o = '\0';
	free(ring[next]);
	ring[next] = out;
	next = (next + 1) % (sizeof(ring) / sizeof(ring[0]));
	return out;
}

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A small JSON writer for qsnapctl's --json output: nested objects and
 * arrays, strings escaped so that any bytes (snapshot names come from
 * untrusted images) still make valid JSON.
 */
#ifndef QSNAPCTL_JSON_H
#define QSNAPCTL_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH	8

struct json {
	FILE *out;
	int depth;
	bool has_items[JSON_MAX_DEPTH];
};

/* @key is the member name inside an object, NULL inside an array or at top. */
void json_init(struct json *j, FILE *out);
void json_open_object(struct json *j, const char *key);
void json_close_object(struct json *j);
void json_open_array(struct json *j, const char *key);
void json_close_array(struct json *j);
/* @val NULL writes null. */
void json_string(struct json *j, const char *key, const char *val);
void json_u64(struct json *j, const char *key, uint64_t val);
void json_bool(struct json *j, const char *key, bool val);
void json_null(struct json *j, const char *key);

#endif /* QSNAPCTL_JSON_H */

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One renderer for table and JSON (iproute2's print_*(PRINT_ANY, key, ...) idea): each field is
 * one call, which writes the JSON key, the table cell of the column with that key, or both. The
 * device listing is rendered by print_devices() from the model (struct vbus_device), in-process
 * and from what vbusd serves alike; other listings (parents, types, plans) are JSON arrays
 * printed through output_list().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>

#include "libvbus-internal.h"

struct column {
	const char *header;
	const char *key; /* the key of the printer's calls (or of each row object) it shows ... */
	/* ... unless FORMAT is set (output_list() only): returns a new string (NULL: "-"). */
	char *(*format)(struct json_object *row);
};

enum print_type {
	PRINT_ANY,   /* the JSON key and the table cell */
	PRINT_JSON,  /* the JSON key only */
	PRINT_TABLE, /* the table cell only */
};

struct printer;

/* JSON: pretty JSON as vbusctl -j prints it (two spaces, "[]" when empty, a final newline).
 * Else a table of COLS with a header line; a value goes to the cell of the column whose key
 * is its key, in the row of the object it is in (one row per object of the top array). */
int printer_new(bool json, const struct column *cols, size_t n_cols, struct printer **ret);
struct printer *printer_free(struct printer *p);
void print_open_array(struct printer *p, enum print_type type, const char *key);
void print_close_array(struct printer *p, enum print_type type);
void print_open_object(struct printer *p, enum print_type type, const char *key);
void print_close_object(struct printer *p, enum print_type type);
/* VALUE NULL: null in JSON, "-" in the table. Booleans read "yes"/"no" in the table. */
void print_string(struct printer *p, enum print_type type, const char *key, const char *value);
void print_bool(struct printer *p, enum print_type type, const char *key, bool value);
void print_int(struct printer *p, enum print_type type, const char *key, int64_t value);
/* A value given as JSON text (JSON only). */
void print_json_text(struct printer *p, const char *key, const char *json);
/* What was printed, whole, to F (-ENOMEM when something did not fit). */
int printer_write(struct printer *p, FILE *f);
/* The same as a new string (the caller frees). */
int printer_take(struct printer *p, char **ret, size_t *ret_len);

/* The device listing: the columns of "vbusctl list", and one device of the model printed. */
extern const struct column device_columns[];
extern const size_t n_device_columns;
void print_device(struct printer *p, const struct vbus_device *dev);
/* DEVS printed to stdout as JSON or as the table (with a footnote when a change is pending). */
int print_devices(struct vbus_device *const *devs, size_t n, bool json);
/* DEV as an element of the JSON array of a listing: indented by two spaces, without the
 * separator or a final newline (vbusd keeps one per device). The caller frees. */
int print_device_element(const struct vbus_device *dev, char **ret);

/* Prints ARRAY (of objects) as a table with a header line, or as JSON when JSON is set. */
int output_list(struct json_object *array, const struct column *cols, size_t n_cols, bool json);
/* Prints one JSON value, pretty, followed by a newline. */
void output_json(struct json_object *value);

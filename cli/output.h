/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One JSON model per listing, printed as a table or as JSON: the two never drift. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>

struct column {
	const char *header;
	const char *key; /* key of each row object, rendered as text ... */
	/* ... unless FORMAT is set: returns a new string (NULL: "-"). */
	char *(*format)(struct json_object *row);
};

/* Prints ARRAY (of objects) as a table with a header line, or as JSON when JSON is set. */
int output_list(struct json_object *array, const struct column *cols, size_t n_cols, bool json);
/* A table built row by row (rows may go away once added with COPY), then printed. */
struct cell {
	const char *s;
	size_t len;
	bool owned;
};
struct table {
	const struct column *cols;
	size_t n_cols;
	struct cell *cells; /* n_rows x n_cols, the header first */
	size_t n_rows, allocated;
	size_t *width;
};
int table_init(struct table *t, const struct column *cols, size_t n_cols);
int table_add(struct table *t, struct json_object *row, bool copy);
void table_print(const struct table *t, FILE *f);
/* The printed table as a new string. */
int table_format(const struct table *t, char **ret);
void table_done(struct table *t);

/* The table alone, to F: what output_list() prints without JSON. */
int output_table(FILE *f, struct json_object *array, const struct column *cols, size_t n_cols);
/* The columns of "vbusctl list" (vbusd renders the same table with them). */
extern const struct column device_columns[];
extern const size_t n_device_columns;
/* Prints one JSON value, pretty, followed by a newline. */
void output_json(struct json_object *value);

// SPDX-License-Identifier: LGPL-2.1-or-later
/* Table and JSON rendering of one JSON model (see output.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libvbus.h"
#include "output.h"

void output_json(struct json_object *value)
{
	char *s = NULL;

	if (vbus_json_format(value, &s) < 0) {
		/* Out of memory: still print something valid. */
		puts(json_object_to_json_string_ext(value, JSON_C_TO_STRING_PLAIN));
		return;
	}
	fputs(s, stdout);
	free(s);
}

/* The text of one cell: a string of ROW itself when the column is a plain string key (OWNED
 * false), else a new string; NULL: "-". */
static const char *cell(struct json_object *row, const struct column *col, bool *owned)
{
	struct json_object *v;

	*owned = false;
	if (col->format) {
		*owned = true;
		return col->format(row);
	}
	if (!json_object_object_get_ex(row, col->key, &v) || !v)
		return NULL;
	if (json_object_is_type(v, json_type_boolean))
		return json_object_get_boolean(v) ? "yes" : "no";
	if (json_object_is_type(v, json_type_array)) {
		/* Lists of strings read as "a,b". */
		size_t n = json_object_array_length(v), len = 0;
		char *s;

		if (n == 0)
			return NULL;
		for (size_t i = 0; i < n; i++)
			len += strlen(json_object_get_string(json_object_array_get_idx(v, i))) + 1;
		s = calloc(1, len + 1);
		if (!s)
			return NULL;
		for (size_t i = 0; i < n; i++) {
			if (i)
				strcat(s, ",");
			strcat(s, json_object_get_string(json_object_array_get_idx(v, i)));
		}
		*owned = true;
		return s;
	}
	return json_object_get_string(v);
}

struct cell {
	const char *s;
	size_t len;
	bool owned;
};

int output_list(struct json_object *array, const struct column *cols, size_t n_cols, bool json)
{
	static const char spaces[] = "                                ";
	size_t n_rows, n_cells, *width;
	struct cell *cells;
	int r = 0;

	if (json) {
		output_json(array);
		return 0;
	}
	n_rows = json_object_array_length(array);
	n_cells = (n_rows + 1) * n_cols;
	width = calloc(n_cols, sizeof(*width));
	cells = calloc(n_cells, sizeof(*cells));
	if (!width || !cells) {
		free(width);
		free(cells);
		return -ENOMEM;
	}
	for (size_t c = 0; c < n_cols; c++)
		cells[c].s = cols[c].header;
	for (size_t row = 0; row < n_rows; row++)
		for (size_t c = 0; c < n_cols; c++) {
			struct cell *x = &cells[(row + 1) * n_cols + c];

			x->s = cell(json_object_array_get_idx(array, row), &cols[c], &x->owned);
			if (!x->s) {
				x->s = "-";
				x->owned = false;
			}
		}
	for (size_t i = 0; i < n_cells; i++) {
		cells[i].len = strlen(cells[i].s);
		if (cells[i].len > width[i % n_cols])
			width[i % n_cols] = cells[i].len;
	}
	for (size_t i = 0; i < n_cells; i++) {
		size_t c = i % n_cols;

		fwrite(cells[i].s, 1, cells[i].len, stdout);
		if (c + 1 == n_cols) {
			putchar('\n');
			continue;
		}
		/* Padded to the column's width, then two spaces. */
		for (size_t pad = width[c] - cells[i].len + 2; pad > 0;) {
			size_t k = pad < sizeof(spaces) - 1 ? pad : sizeof(spaces) - 1;

			fwrite(spaces, 1, k, stdout);
			pad -= k;
		}
	}
	for (size_t i = 0; i < n_cells; i++)
		if (cells[i].owned)
			free((char *)cells[i].s);
	free(cells);
	free(width);
	return r;
}

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

static char *cell(struct json_object *row, const struct column *col)
{
	struct json_object *v;

	if (col->format)
		return col->format(row);
	if (!json_object_object_get_ex(row, col->key, &v) || !v)
		return NULL;
	if (json_object_is_type(v, json_type_boolean))
		return strdup(json_object_get_boolean(v) ? "yes" : "no");
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
		return s;
	}
	return strdup(json_object_get_string(v));
}

int output_list(struct json_object *array, const struct column *cols, size_t n_cols, bool json)
{
	size_t n_rows, *width;
	char **cells;

	if (json) {
		output_json(array);
		return 0;
	}
	n_rows = json_object_array_length(array);
	width = calloc(n_cols, sizeof(*width));
	cells = calloc((n_rows + 1) * n_cols, sizeof(*cells));
	if (!width || !cells) {
		free(width);
		free(cells);
		return -ENOMEM;
	}
	for (size_t c = 0; c < n_cols; c++) {
		cells[c] = strdup(cols[c].header);
		if (!cells[c])
			goto oom;
	}
	for (size_t r = 0; r < n_rows; r++)
		for (size_t c = 0; c < n_cols; c++) {
			char *s = cell(json_object_array_get_idx(array, r), &cols[c]);

			cells[(r + 1) * n_cols + c] = s ?: strdup("-");
			if (!cells[(r + 1) * n_cols + c])
				goto oom;
		}
	for (size_t i = 0; i < (n_rows + 1) * n_cols; i++) {
		size_t l = strlen(cells[i]);

		if (l > width[i % n_cols])
			width[i % n_cols] = l;
	}
	for (size_t r = 0; r <= n_rows; r++) {
		for (size_t c = 0; c < n_cols; c++) {
			const char *s = cells[r * n_cols + c];

			if (c + 1 < n_cols)
				printf("%-*s  ", (int)width[c], s);
			else
				printf("%s\n", s);
		}
	}
	for (size_t i = 0; i < (n_rows + 1) * n_cols; i++)
		free(cells[i]);
	free(cells);
	free(width);
	return 0;
oom:
	for (size_t i = 0; i < (n_rows + 1) * n_cols; i++)
		free(cells[i]);
	free(cells);
	free(width);
	return -ENOMEM;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* Table and JSON rendering of one JSON model (see output.h). */
#include <errno.h>
#include <inttypes.h>
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

static bool streq_(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static char *fmt_type_or_index(struct json_object *row)
{
	struct json_object *v;
	char *s;

	if (json_object_object_get_ex(row, "type", &v) && json_object_is_type(v, json_type_string))
		return strdup(json_object_get_string(v));
	if (json_object_object_get_ex(row, "index", &v) && json_object_is_type(v, json_type_int)) {
		int64_t index = json_object_get_int64(v);
		struct json_object *k, *a;

		/* A VF: its PCI address too, once it exists. */
		if (json_object_object_get_ex(row, "kind", &k) &&
		    streq_(json_object_get_string(k), "vf") &&
		    json_object_object_get_ex(row, "pci_address", &a) &&
		    json_object_is_type(a, json_type_string)) {
			if (asprintf(&s, "index %" PRId64 " %s", index, json_object_get_string(a)) < 0)
				return NULL;
			return s;
		}
		if (asprintf(&s, "index %" PRId64, index) < 0)
			return NULL;
		return s;
	}
	return NULL;
}

const struct column device_columns[] = {
	{ "NAME", "name", NULL },     { "KIND", "kind", NULL },
	{ "PARENT", "parent", NULL }, { "TYPE", NULL, fmt_type_or_index },
	{ "ACTIVE", "active", NULL }, { "DEFINED", "defined", NULL },
	{ "START", "start", NULL },   { "DRIVER", "bound_driver", NULL },
	{ "WANT", "wanted_driver", NULL },
};
const size_t n_device_columns = sizeof(device_columns) / sizeof(device_columns[0]);

int output_list(struct json_object *array, const struct column *cols, size_t n_cols, bool json)
{
	if (json) {
		output_json(array);
		return 0;
	}
	return output_table(stdout, array, cols, n_cols);
}

int table_init(struct table *t, const struct column *cols, size_t n_cols)
{
	*t = (struct table){ .cols = cols, .n_cols = n_cols };
	t->width = calloc(n_cols, sizeof(*t->width));
	t->cells = calloc(n_cols, sizeof(*t->cells));
	if (!t->width || !t->cells) {
		table_done(t);
		return -ENOMEM;
	}
	for (size_t c = 0; c < n_cols; c++) {
		t->cells[c] = (struct cell){ .s = cols[c].header, .len = strlen(cols[c].header) };
		t->width[c] = t->cells[c].len;
	}
	t->n_rows = 1;
	t->allocated = 1;
	return 0;
}

char *vbus_escape(const char *s); /* libvbus (internal) */

int table_add(struct table *t, struct json_object *row, bool copy)
{
	struct cell *x;

	if (t->n_rows == t->allocated) {
		size_t n = t->allocated * 2;
		struct cell *c = realloc(t->cells, n * t->n_cols * sizeof(*c));

		if (!c)
			return -ENOMEM;
		t->cells = c;
		t->allocated = n;
	}
	x = &t->cells[t->n_rows * t->n_cols];
	for (size_t c = 0; c < t->n_cols; c++, x++) {
		x->s = cell(row, &t->cols[c], &x->owned);
		if (!x->s) {
			x->s = "-";
			x->owned = false;
		} else if (copy && !x->owned) {
			/* ROW goes away before the table is printed. */
			x->s = strdup(x->s);
			if (!x->s) {
				for (struct cell *y = &t->cells[t->n_rows * t->n_cols]; y < x; y++)
					if (y->owned)
						free((char *)y->s);
				return -ENOMEM;
			}
			x->owned = true;
		}
		/* A name the kernel gave, a damaged file: control characters never reach the
		 * terminal raw (no forged rows, no escape sequences). */
		for (const char *p = x->s; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				char *e = vbus_escape(x->s);

				if (!e)
					return -ENOMEM;
				if (x->owned)
					free((char *)x->s);
				x->s = e;
				x->owned = true;
				break;
			}
		x->len = strlen(x->s);
		if (x->len > t->width[c])
			t->width[c] = x->len;
	}
	t->n_rows++;
	return 0;
}

void table_print(const struct table *t, FILE *f)
{
	static const char spaces[] = "                                ";

	for (size_t i = 0; i < t->n_rows * t->n_cols; i++) {
		size_t c = i % t->n_cols;

		fwrite(t->cells[i].s, 1, t->cells[i].len, f);
		if (c + 1 == t->n_cols) {
			putc('\n', f);
			continue;
		}
		/* Padded to the column's width, then two spaces. */
		for (size_t pad = t->width[c] - t->cells[i].len + 2; pad > 0;) {
			size_t k = pad < sizeof(spaces) - 1 ? pad : sizeof(spaces) - 1;

			fwrite(spaces, 1, k, f);
			pad -= k;
		}
	}
}

int table_format(const struct table *t, char **ret)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return -ENOMEM;
	table_print(t, f);
	if (fclose(f) != 0 || !text) {
		free(text);
		return -ENOMEM;
	}
	*ret = text;
	return 0;
}

void table_done(struct table *t)
{
	for (size_t i = 0; t->cells && i < t->n_rows * t->n_cols; i++)
		if (t->cells[i].owned)
			free((char *)t->cells[i].s);
	free(t->cells);
	free(t->width);
	*t = (struct table){};
}

int output_table(FILE *f, struct json_object *array, const struct column *cols, size_t n_cols)
{
	struct table t;
	size_t n = json_object_array_length(array);
	int r;

	r = table_init(&t, cols, n_cols);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++)
		r = table_add(&t, json_object_array_get_idx(array, i), false);
	if (r >= 0)
		table_print(&t, f);
	table_done(&t);
	return r;
}

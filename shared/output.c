// SPDX-License-Identifier: LGPL-2.1-or-later
/* The renderer: table and JSON from the same calls (see output.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "vbus-private.h"

/* ---- tables ------------------------------------------------------------------------------- */

/* A cell's text: LEN bytes at OFF in the table's TEXT, where every cell's text is copied (one
 * buffer for the whole table, no allocation per cell). */
struct cell {
	size_t off, len;
};

struct table {
	const struct column *cols;
	size_t n_cols;
	struct vbus_text text; /* "-" at 0, then the headers and the cells' texts */
	struct cell *cells;    /* n_rows x n_cols, the header first */
	size_t n_rows, allocated;
	size_t *width;
};

static void table_done(struct table *t)
{
	free(t->text.s);
	free(t->cells);
	free(t->width);
	*t = (struct table){};
}

/* S (LEN bytes) copied into T's text, as a cell's text. */
static struct cell table_put(struct table *t, const char *s, size_t len)
{
	struct cell x = { .off = t->text.len, .len = len };

	vbus_text_put(&t->text, s, len);
	return x;
}

static int table_init(struct table *t, const struct column *cols, size_t n_cols)
{
	*t = (struct table){ .cols = cols, .n_cols = n_cols };
	t->width = calloc(n_cols + 1, sizeof(*t->width));
	t->cells = calloc(n_cols + 1, sizeof(*t->cells));
	if (!t->width || !t->cells) {
		table_done(t);
		return -ENOMEM;
	}
	table_put(t, "-", 1);
	for (size_t c = 0; c < n_cols; c++) {
		t->cells[c] = table_put(t, cols[c].header, strlen(cols[c].header));
		t->width[c] = t->cells[c].len;
	}
	if (t->text.oom) {
		table_done(t);
		return -ENOMEM;
	}
	t->n_rows = 1;
	t->allocated = 1;
	return 0;
}

/* A new row of "-" cells; its cells are then set with table_set(). */
static struct cell *table_new_row(struct table *t)
{
	struct cell *x;

	if (t->n_rows == t->allocated) {
		size_t n = t->allocated * 2;
		struct cell *c = realloc(t->cells, n * t->n_cols * sizeof(*c));

		if (!c)
			return NULL;
		t->cells = c;
		t->allocated = n;
	}
	x = &t->cells[t->n_rows * t->n_cols];
	for (size_t c = 0; c < t->n_cols; c++)
		x[c] = (struct cell){ .off = 0, .len = 1 };
	t->n_rows++;
	return x;
}

/* Sets cell C of the last row to S (NULL: "-"), which is freed when OWNED. */
static int table_set(struct table *t, size_t c, const char *s, bool owned)
{
	struct cell *x = &t->cells[(t->n_rows - 1) * t->n_cols + c];
	const char *q;
	char *e;

	*x = (struct cell){ .off = 0, .len = 1 };
	if (!s)
		return 0;
	/* A name the kernel gave, a damaged file: control characters never reach the terminal
	 * raw (no forged rows, no escape sequences). */
	for (q = s; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			break;
	if (*q) {
		e = vbus_escape(s);
		if (owned)
			free((char *)s);
		if (!e)
			return -ENOMEM;
		s = e;
		owned = true;
		q = s + strlen(s);
	}
	*x = table_put(t, s, (size_t)(q - s));
	if (owned)
		free((char *)s);
	if (t->text.oom)
		return -ENOMEM;
	if (x->len > t->width[c])
		t->width[c] = x->len;
	return 0;
}

/* The table, each cell padded to its column's width and two spaces (the last one not), into one
 * buffer written with one call. */
static int table_print(const struct table *t, FILE *f)
{
	struct vbus_text out = {};

	for (size_t i = 0; i < t->n_rows * t->n_cols; i++) {
		size_t c = i % t->n_cols;

		vbus_text_put(&out, t->text.s + t->cells[i].off, t->cells[i].len);
		if (c + 1 == t->n_cols)
			vbus_text_put(&out, "\n", 1);
		else
			vbus_text_indent(&out, (int)(t->width[c] - t->cells[i].len + 2));
	}
	if (out.oom) {
		free(out.s);
		return -ENOMEM;
	}
	fwrite(out.s, 1, out.len, f);
	free(out.s);
	return 0;
}

/* ---- the printer -------------------------------------------------------------------------- */

#define PRINTER_MAX_DEPTH 16

struct printer {
	bool json;
	int oom;
	/* JSON: the text, and per open container its number of values and whether it is an
	 * object. */
	struct vbus_text text;
	int depth;
	size_t count[PRINTER_MAX_DEPTH];
	bool object[PRINTER_MAX_DEPTH];
	/* Table: a row per object of the top array. */
	struct table table;
	bool in_row;
};

int printer_new(bool json, const struct column *cols, size_t n_cols, struct printer **ret)
{
	struct printer *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->json = json;
	if (!json) {
		r = table_init(&p->table, cols, n_cols);
		if (r < 0) {
			free(p);
			return r;
		}
	}
	*ret = p;
	return 0;
}

struct printer *printer_free(struct printer *p)
{
	if (!p)
		return NULL;
	free(p->text.s);
	table_done(&p->table);
	free(p);
	return NULL;
}

static bool wants(const struct printer *p, enum print_type type)
{
	return type == PRINT_ANY || (type == PRINT_JSON) == p->json;
}

/* Before a JSON value: the separator, the indentation and the key in an object. */
static void json_begin(struct printer *p, const char *key)
{
	struct vbus_text *t = &p->text;

	if (p->depth > 0) {
		bool first = p->count[p->depth - 1]++ == 0;

		vbus_text_member(t, first, 2 * p->depth,
				 p->object[p->depth - 1] ? key ?: "" : NULL);
	}
}

/* The table cell of KEY in the current row (S taken when OWNED). */
static void cell(struct printer *p, const char *key, const char *s, bool owned)
{
	if (p->in_row && p->depth == 2 && key)
		for (size_t c = 0; c < p->table.n_cols; c++) {
			const char *k = p->table.cols[c].key;

			/* The first byte tells most columns apart without a call. */
			if (!k || k[0] != key[0] || strcmp(k, key) != 0)
				continue;
			if (table_set(&p->table, c, s, owned) < 0)
				p->oom = -ENOMEM;
			return;
		}
	if (owned)
		free((char *)s);
}

static void open_container(struct printer *p, enum print_type type, const char *key, bool object)
{
	if (!wants(p, type))
		return;
	if (p->json) {
		json_begin(p, key);
		vbus_text_put(&p->text, object ? "{" : "[", 1);
	} else if (object && p->depth == 1) {
		if (!table_new_row(&p->table))
			p->oom = -ENOMEM;
		p->in_row = true;
	}
	if (p->depth < PRINTER_MAX_DEPTH) {
		p->count[p->depth] = 0;
		p->object[p->depth] = object;
	}
	p->depth++;
}

static void close_container(struct printer *p, enum print_type type)
{
	if (!wants(p, type))
		return;
	p->depth--;
	if (p->json) {
		bool object = p->object[p->depth];

		if (p->count[p->depth]) {
			vbus_text_put(&p->text, "\n", 1);
			vbus_text_indent(&p->text, 2 * p->depth);
		}
		vbus_text_put(&p->text, object ? "}" : "]", 1);
	} else if (p->depth == 1)
		p->in_row = false;
}

void print_open_array(struct printer *p, enum print_type type, const char *key)
{
	open_container(p, type, key, false);
}

void print_close_array(struct printer *p, enum print_type type)
{
	close_container(p, type);
}

void print_open_object(struct printer *p, enum print_type type, const char *key)
{
	open_container(p, type, key, true);
}

void print_close_object(struct printer *p, enum print_type type)
{
	close_container(p, type);
}

void print_string(struct printer *p, enum print_type type, const char *key, const char *value)
{
	if (!wants(p, type))
		return;
	if (!p->json) {
		cell(p, key, value, false);
		return;
	}
	json_begin(p, key);
	if (value)
		vbus_text_string(&p->text, value, strlen(value));
	else
		vbus_text_put(&p->text, "null", 4);
}

void print_bool(struct printer *p, enum print_type type, const char *key, bool value)
{
	if (!wants(p, type))
		return;
	if (!p->json) {
		cell(p, key, value ? "yes" : "no", false);
		return;
	}
	json_begin(p, key);
	vbus_text_put(&p->text, value ? "true" : "false", value ? 4 : 5);
}

void print_int(struct printer *p, enum print_type type, const char *key, int64_t value)
{
	char num[24], *e = num + sizeof(num), *d = e;
	uint64_t u = value < 0 ? -(uint64_t)value : (uint64_t)value;

	if (!wants(p, type))
		return;
	/* Digits by hand: snprintf cost 600 instructions a number, two numbers a device. */
	*--d = '\0';
	do
		*--d = (char)('0' + u % 10);
	while (u /= 10);
	if (value < 0)
		*--d = '-';
	memmove(num, d, (size_t)(e - d));
	if (!p->json) {
		cell(p, key, num, false);
		return;
	}
	json_begin(p, key);
	vbus_text_put(&p->text, num, strlen(num));
}

void print_json_text(struct printer *p, const char *key, const char *json)
{
	struct json_object *v;

	if (!p->json)
		return;
	json_begin(p, key);
	v = json ? json_tokener_parse(json) : NULL;
	vbus_text_json(&p->text, v, 2 * p->depth);
	json_object_put(v);
}

int printer_write(struct printer *p, FILE *f)
{
	if (p->oom || p->text.oom)
		return -ENOMEM;
	if (!p->json)
		return table_print(&p->table, f);
	vbus_text_put(&p->text, "\n", 1);
	if (p->text.oom)
		return -ENOMEM;
	fwrite(p->text.s, 1, p->text.len, f);
	return 0;
}

int printer_take(struct printer *p, char **ret, size_t *ret_len)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int r;

	if (!f)
		return -ENOMEM;
	r = printer_write(p, f);
	if (fclose(f) != 0 || !text || r < 0) {
		free(text);
		return r < 0 ? r : -ENOMEM;
	}
	*ret = text;
	if (ret_len)
		*ret_len = len;
	return 0;
}

/* ---- the device listing ------------------------------------------------------------------- */

const struct column device_columns[] = {
	{ "NAME", "name", NULL },     { "KIND", "kind", NULL },
	{ "PARENT", "parent", NULL }, { "TYPE", "type", NULL },
	{ "ACTIVE", "active", NULL }, { "DEFINED", "defined", NULL },
	{ "START", "start", NULL },   { "DRIVER", "bound_driver", NULL },
	{ "WANT", "wanted_driver", NULL },
};
const size_t n_device_columns = sizeof(device_columns) / sizeof(device_columns[0]);

/* The TYPE column: the type, else the index (and a VF's PCI address, once it exists). */
static void print_type_cell(struct printer *p, const struct vbus_device *dev)
{
	int64_t index = vbus_device_get_index(dev);
	const char *pci = vbus_device_get_pci_address(dev);
	char *s = NULL;

	if (vbus_device_get_type(dev) || index < 0) {
		print_string(p, PRINT_TABLE, "type", vbus_device_get_type(dev));
		return;
	}
	if (vbus_device_get_kind(dev) == VBUS_KIND_VF && pci) {
		if (asprintf(&s, "index %" PRId64 " %s", index, pci) < 0)
			s = NULL;
	} else if (asprintf(&s, "index %" PRId64, index) < 0)
		s = NULL;
	if (!s) {
		p->oom = -ENOMEM;
		return;
	}
	cell(p, "type", s, true);
}

void print_device(struct printer *p, const struct vbus_device *dev)
{
	bool def = vbus_device_has_definition(dev);
	unsigned pending = vbus_device_get_pending(dev);
	const char *const *nodes = vbus_device_get_device_nodes(dev);
	const char *key, *value;

	print_open_object(p, PRINT_ANY, NULL);
	if (def)
		print_int(p, PRINT_JSON, "version", 1);
	print_string(p, PRINT_ANY, "name", vbus_device_get_name(dev));
	print_string(p, PRINT_ANY, "kind", vbus_kind_to_string(vbus_device_get_kind(dev)));
	print_string(p, PRINT_ANY, "parent", vbus_device_get_parent(dev));
	if (vbus_device_get_type(dev))
		print_string(p, PRINT_JSON, "type", vbus_device_get_type(dev));
	if (vbus_device_get_uuid(dev))
		print_string(p, PRINT_JSON, "uuid", vbus_device_get_uuid(dev));
	if (vbus_device_get_index(dev) >= 0)
		print_int(p, PRINT_JSON, "index", vbus_device_get_index(dev));
	print_type_cell(p, dev);
	if (def) {
		print_open_array(p, PRINT_JSON, "attrs");
		for (size_t i = 0; vbus_device_get_attr(dev, i, &key, &value) >= 0; i++) {
			print_open_object(p, PRINT_JSON, NULL);
			print_string(p, PRINT_JSON, key, value);
			print_close_object(p, PRINT_JSON);
		}
		print_close_array(p, PRINT_JSON);
		print_string(p, PRINT_JSON, "driver", vbus_device_get_driver(dev));
		print_string(p, PRINT_ANY, "start",
			     vbus_start_to_string(vbus_device_get_start(dev)) ?: "auto");
		print_open_array(p, PRINT_JSON, "tags");
		for (size_t i = 0; (value = vbus_device_get_tag(dev, i)); i++)
			print_string(p, PRINT_JSON, NULL, value);
		print_close_array(p, PRINT_JSON);
	}
	for (size_t i = 0; vbus_device_get_extra(dev, i, &key, &value) >= 0; i++)
		print_json_text(p, key, value);
	print_bool(p, PRINT_JSON, "active", vbus_device_is_active(dev));
	/* A device that runs with another definition than the stored one: "yes*". */
	print_string(p, PRINT_TABLE, "active",
		     vbus_device_is_active(dev) ? pending ? "yes*" : "yes" : "no");
	print_bool(p, PRINT_ANY, "defined", vbus_device_is_defined(dev));
	print_string(p, PRINT_ANY, "bound_driver", vbus_device_get_bound_driver(dev));
	print_string(p, PRINT_JSON, "sysfs_path", vbus_device_get_sysfs_path(dev));
	print_string(p, PRINT_ANY, "wanted_driver", vbus_device_get_wanted_driver(dev));
	print_string(p, PRINT_JSON, "pci_address", vbus_device_get_pci_address(dev));
	if (vbus_device_get_iommu_group(dev) >= 0)
		print_int(p, PRINT_JSON, "iommu_group", vbus_device_get_iommu_group(dev));
	else
		print_string(p, PRINT_JSON, "iommu_group", NULL);
	print_open_array(p, PRINT_JSON, "device_nodes");
	for (size_t i = 0; nodes && nodes[i]; i++)
		print_string(p, PRINT_JSON, NULL, nodes[i]);
	print_close_array(p, PRINT_JSON);
	print_string(p, PRINT_JSON, "netdev", vbus_device_get_netdev(dev));
	/* Only when there is one: the fields the stored definition changed since the start. */
	if (pending) {
		print_open_array(p, PRINT_JSON, "pending");
		for (unsigned bit = 1; bit < _VBUS_PENDING_MAX; bit <<= 1)
			if (pending & bit)
				print_string(p, PRINT_JSON, NULL, vbus_pending_to_string(bit));
		print_close_array(p, PRINT_JSON);
	}
	print_close_object(p, PRINT_ANY);
}

int print_devices(struct vbus_device *const *devs, size_t n, bool json)
{
	struct printer *p;
	bool pending = false;
	int r;

	r = printer_new(json, device_columns, n_device_columns, &p);
	if (r < 0)
		return r;
	print_open_array(p, PRINT_ANY, NULL);
	for (size_t i = 0; i < n; i++) {
		print_device(p, devs[i]);
		pending = pending || (vbus_device_is_active(devs[i]) &&
				      vbus_device_get_pending(devs[i]));
	}
	print_close_array(p, PRINT_ANY);
	r = printer_write(p, stdout);
	printer_free(p);
	if (r >= 0 && pending && !json)
		puts("* runs with an older definition: stop and start it (attrs: or modify --live)"
		     " to apply the change");
	return r;
}

int print_device_element(const struct vbus_device *dev, char **ret)
{
	struct printer *p;
	char *s;
	size_t len;
	int r;

	r = printer_new(true, NULL, 0, &p);
	if (r < 0)
		return r;
	/* Inside an array: "[\n" ELEMENT "\n]" */
	print_open_array(p, PRINT_JSON, NULL);
	print_device(p, dev);
	print_close_array(p, PRINT_JSON);
	r = printer_take(p, &s, &len);
	printer_free(p);
	if (r < 0)
		return r;
	/* "[\n" ELEMENT "\n]\n" */
	memmove(s, s + 2, len - 2);
	s[len - 2 - 3] = '\0';
	*ret = s;
	return 0;
}

/* ---- JSON models of other listings -------------------------------------------------------- */

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

/* The text of one cell: a string of ROW, or a new string; NULL: "-". */
static const char *row_cell(struct json_object *row, const struct column *col, bool *owned)
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

int output_list(struct json_object *array, const struct column *cols, size_t n_cols, bool json)
{
	struct table t;
	size_t n = json_object_array_length(array);
	int r;

	if (json) {
		output_json(array);
		return 0;
	}
	r = table_init(&t, cols, n_cols);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct json_object *row = json_object_array_get_idx(array, i);

		if (!table_new_row(&t)) {
			r = -ENOMEM;
			break;
		}
		for (size_t c = 0; c < n_cols && r >= 0; c++) {
			bool owned;
			const char *s = row_cell(row, &cols[c], &owned);

			r = table_set(&t, c, s, owned);
		}
	}
	if (r >= 0)
		r = table_print(&t, stdout);
	table_done(&t);
	return r;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* Definitions: the schema-v1 object of /etc/vbus/devices.d/NAME.json, to and from JSON. */
#include <stdio.h>

#include "vbus-private.h"

VBUS_EXPORT int vbus_def_new(struct vbus_def **ret)
{
	struct vbus_def *def;

	def = calloc(1, sizeof(*def));
	if (!def)
		return -ENOMEM;
	def->kind = _VBUS_KIND_INVALID;
	def->index = -1;
	def->start = VBUS_START_AUTO;
	*ret = def;
	return 0;
}

VBUS_EXPORT struct vbus_def *vbus_def_free(struct vbus_def *def)
{
	if (!def)
		return NULL;
	free(def->name);
	free(def->parent);
	free(def->type);
	free(def->uuid);
	free(def->driver);
	for (size_t i = 0; i < def->n_attrs; i++) {
		free(def->attrs[i].key);
		free(def->attrs[i].value);
	}
	free(def->attrs);
	for (size_t i = 0; i < def->n_tags; i++)
		free(def->tags[i]);
	free(def->tags);
	if (def->extra)
		json_object_put(def->extra);
	free(def);
	return NULL;
}

VBUS_EXPORT int vbus_def_add_attr(struct vbus_def *def, const char *key, const char *value)
{
	struct vbus_attr *a;
	char *k, *v;

	if (!key || !key[0] || !value)
		return -EINVAL;
	a = realloc(def->attrs, (def->n_attrs + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	def->attrs = a;
	k = strdup(key);
	v = strdup(value);
	if (!k || !v) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	a[def->n_attrs].key = k;
	a[def->n_attrs].value = v;
	def->n_attrs++;
	return 0;
}

VBUS_EXPORT int vbus_def_add_tag(struct vbus_def *def, const char *tag)
{
	char **t, *s;

	if (!tag || !tag[0])
		return -EINVAL;
	for (size_t i = 0; i < def->n_tags; i++)
		if (streq(def->tags[i], tag))
			return 0;
	t = realloc(def->tags, (def->n_tags + 1) * sizeof(*t));
	if (!t)
		return -ENOMEM;
	def->tags = t;
	s = strdup(tag);
	if (!s)
		return -ENOMEM;
	t[def->n_tags++] = s;
	return 0;
}

static int strdup_null(const char *s, char **ret)
{
	if (!s) {
		*ret = NULL;
		return 0;
	}
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

VBUS_EXPORT int vbus_def_dup(const struct vbus_def *def, struct vbus_def **ret)
{
	_cleanup_def_ struct vbus_def *d = NULL;
	int r;

	r = vbus_def_new(&d);
	if (r < 0)
		return r;
	d->kind = def->kind;
	d->index = def->index;
	d->start = def->start;
	if (strdup_null(def->name, &d->name) < 0 || strdup_null(def->parent, &d->parent) < 0 ||
	    strdup_null(def->type, &d->type) < 0 || strdup_null(def->uuid, &d->uuid) < 0 ||
	    strdup_null(def->driver, &d->driver) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < def->n_attrs; i++) {
		r = vbus_def_add_attr(d, def->attrs[i].key, def->attrs[i].value);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < def->n_tags; i++) {
		r = vbus_def_add_tag(d, def->tags[i]);
		if (r < 0)
			return r;
	}
	if (def->extra) {
		r = json_object_deep_copy(def->extra, &d->extra, NULL);
		if (r < 0)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(d);
	return 0;
}

static int get_string(struct vbus_ctx *ctx, struct json_object *v, const char *key, char **ret)
{
	char *s;

	if (!json_object_is_type(v, json_type_string))
		return vbus_error(ctx, -EINVAL, "key \"%s\" must be a string", key);
	s = strdup(json_object_get_string(v));
	if (!s)
		return -ENOMEM;
	free(*ret);
	*ret = s;
	return 0;
}

/* mdevctl writes attribute values as strings; numbers and booleans are taken as written. */
static int attr_value(struct json_object *v, const char **ret)
{
	switch (json_object_get_type(v)) {
	case json_type_string:
	case json_type_int:
	case json_type_boolean:
		*ret = json_object_get_string(v);
		return 0;
	default:
		return -EINVAL;
	}
}

/* Tags are kept unique by a linear search: a bound keeps a hostile file or D-Bus call from
 * costing quadratic time (200000 tags took minutes). */
#define DEF_MAX_LIST 256

static int parse_attrs(struct vbus_ctx *ctx, struct vbus_def *def, struct json_object *v)
{
	size_t n;
	int r;

	if (!json_object_is_type(v, json_type_array))
		return vbus_error(ctx, -EINVAL, "key \"attrs\" must be an array of objects");
	n = json_object_array_length(v);
	if (n > DEF_MAX_LIST)
		return vbus_error(ctx, -E2BIG, "key \"attrs\" holds %zu entries (at most %d)", n,
				  DEF_MAX_LIST);
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(v, i);
		int count = 0;

		if (!json_object_is_type(o, json_type_object))
			return vbus_error(ctx, -EINVAL,
					  "key \"attrs\" must be an array of objects");
		json_object_object_foreach (o, key, val) {
			const char *s;

			if (attr_value(val, &s) < 0)
				return vbus_error(ctx, -EINVAL, "attribute \"%s\" must be a string",
						  key);
			r = vbus_def_add_attr(def, key, s);
			if (r == -EINVAL)
				return vbus_error(ctx, r, "attribute with an empty name");
			if (r < 0)
				return r;
			count++;
		}
		if (count != 1)
			return vbus_error(ctx, -EINVAL,
					  "each element of \"attrs\" must hold exactly one key");
	}
	return 0;
}

static int parse_tags(struct vbus_ctx *ctx, struct vbus_def *def, struct json_object *v)
{
	size_t n;
	int r;

	if (!json_object_is_type(v, json_type_array))
		return vbus_error(ctx, -EINVAL, "key \"tags\" must be an array of strings");
	n = json_object_array_length(v);
	if (n > DEF_MAX_LIST)
		return vbus_error(ctx, -E2BIG, "key \"tags\" holds %zu entries (at most %d)", n,
				  DEF_MAX_LIST);
	for (size_t i = 0; i < n; i++) {
		struct json_object *t = json_object_array_get_idx(v, i);

		if (!json_object_is_type(t, json_type_string) || !json_object_get_string_len(t))
			return vbus_error(ctx, -EINVAL, "key \"tags\" must hold non-empty strings");
		r = vbus_def_add_tag(def, json_object_get_string(t));
		if (r < 0)
			return r;
	}
	return 0;
}

VBUS_EXPORT int vbus_def_from_json(struct vbus_ctx *ctx, struct json_object *obj,
				   struct vbus_def **ret)
{
	_cleanup_def_ struct vbus_def *def = NULL;
	_cleanup_free_ char *kind = NULL, *start = NULL;
	int r;

	if (!json_object_is_type(obj, json_type_object))
		return vbus_error(ctx, -EINVAL, "a definition must be a JSON object");
	r = vbus_def_new(&def);
	if (r < 0)
		return r;

	json_object_object_foreach (obj, key, v) {
		if (streq(key, "version")) {
			if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) != 1)
				return vbus_error(ctx, -EINVAL,
						  "unsupported version %s (this is version 1)",
						  json_object_to_json_string(v));
		} else if (streq(key, "name")) {
			r = get_string(ctx, v, key, &def->name);
		} else if (streq(key, "kind")) {
			r = get_string(ctx, v, key, &kind);
		} else if (streq(key, "parent")) {
			r = get_string(ctx, v, key, &def->parent);
		} else if (streq(key, "type")) {
			r = get_string(ctx, v, key, &def->type);
		} else if (streq(key, "uuid")) {
			r = get_string(ctx, v, key, &def->uuid);
		} else if (streq(key, "driver")) {
			r = get_string(ctx, v, key, &def->driver);
		} else if (streq(key, "start")) {
			r = get_string(ctx, v, key, &start);
		} else if (streq(key, "index")) {
			if (!json_object_is_type(v, json_type_int) ||
			    json_object_get_int64(v) < 0 || json_object_get_int64(v) > INT32_MAX)
				return vbus_error(ctx, -EINVAL,
						  "key \"index\" must be a non-negative integer");
			def->index = json_object_get_int64(v);
		} else if (streq(key, "attrs")) {
			r = parse_attrs(ctx, def, v);
		} else if (streq(key, "tags")) {
			r = parse_tags(ctx, def, v);
		} else if (streq(key, "active") || streq(key, "defined") ||
			   streq(key, "bound_driver") || streq(key, "sysfs_path")) {
			/* Runtime keys of "vbusctl list -j": what it prints can be fed back
			 * (define --jsonfile, apply) without them ending up in a file. */
			continue;
		} else {
			/* Unknown keys (a newer writer, an admin's note) survive a rewrite. */
			if (!def->extra) {
				def->extra = json_object_new_object();
				if (!def->extra)
					return -ENOMEM;
			}
			r = json_object_object_add(def->extra, key, json_object_get(v));
			if (r < 0)
				return -ENOMEM;
		}
		if (r < 0)
			return r;
	}

	if (!def->name)
		return vbus_error(ctx, -EINVAL, "key \"name\" is missing");
	if (!vbus_name_is_valid(def->name))
		return vbus_error(ctx, -EINVAL,
				  "invalid name \"%s\" (1-64 of A-Z a-z 0-9 _ . : -, starting with "
				  "a letter or digit)",
				  def->name);
	if (!kind)
		return vbus_error(ctx, -EINVAL, "key \"kind\" is missing");
	def->kind = vbus_kind_from_string(kind);
	if (def->kind < 0)
		return vbus_error(ctx, -EINVAL, "unknown kind \"%s\"", kind);
	if (!def->parent || !def->parent[0])
		return vbus_error(ctx, -EINVAL, "key \"parent\" is missing");
	if (start) {
		def->start = vbus_start_from_string(start);
		if (def->start < 0)
			return vbus_error(ctx, -EINVAL,
					  "key \"start\" must be \"auto\" or \"manual\"");
	}
	if (def->driver && !vbus_driver_is_valid(def->driver))
		return vbus_error(ctx, -EINVAL, "invalid driver \"%s\"", def->driver);
	if (def->uuid && !vbus_uuid_is_valid(def->uuid))
		return vbus_error(ctx, -EINVAL, "invalid uuid \"%s\"", def->uuid);

	*ret = TAKE_PTR(def);
	return 0;
}

static int add_string(struct json_object *o, const char *key, const char *s)
{
	struct json_object *v = json_object_new_string(s);

	if (!v || json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

VBUS_EXPORT int vbus_def_to_json(const struct vbus_def *def, struct json_object **ret)
{
	_cleanup_json_ struct json_object *o = NULL;
	struct json_object *a;
	int r;

	if (!def->name || !vbus_kind_to_string(def->kind) || !def->parent)
		return -EINVAL;
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	if (json_object_object_add(o, "version", json_object_new_int(1)) < 0)
		return -ENOMEM;
	r = add_string(o, "name", def->name);
	if (r >= 0)
		r = add_string(o, "kind", vbus_kind_to_string(def->kind));
	if (r >= 0)
		r = add_string(o, "parent", def->parent);
	if (r >= 0 && def->type)
		r = add_string(o, "type", def->type);
	if (r >= 0 && def->uuid)
		r = add_string(o, "uuid", def->uuid);
	if (r < 0)
		return r;
	if (def->index >= 0 &&
	    json_object_object_add(o, "index", json_object_new_int64(def->index)) < 0)
		return -ENOMEM;

	a = json_object_new_array();
	if (!a || json_object_object_add(o, "attrs", a) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < def->n_attrs; i++) {
		struct json_object *kv = json_object_new_object();

		if (!kv || json_object_array_add(a, kv) < 0) {
			json_object_put(kv);
			return -ENOMEM;
		}
		r = add_string(kv, def->attrs[i].key, def->attrs[i].value);
		if (r < 0)
			return r;
	}
	r = add_string(o, "driver", def->driver ?: VBUS_DRIVER_AUTO);
	if (r >= 0)
		r = add_string(o, "start", vbus_start_to_string(def->start) ?: "auto");
	if (r < 0)
		return r;
	a = json_object_new_array();
	if (!a || json_object_object_add(o, "tags", a) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < def->n_tags; i++) {
		struct json_object *t = json_object_new_string(def->tags[i]);

		if (!t || json_object_array_add(a, t) < 0) {
			json_object_put(t);
			return -ENOMEM;
		}
	}
	if (def->extra) {
		json_object_object_foreach (def->extra, key, v) {
			if (json_object_object_get_ex(o, key, NULL))
				continue;
			if (json_object_object_add(o, key, json_object_get(v)) < 0)
				return -ENOMEM;
		}
	}
	*ret = TAKE_PTR(o);
	return 0;
}

static void format_value(FILE *f, struct json_object *v, int indent)
{
	const int flags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
	size_t n, i = 0;

	switch (json_object_get_type(v)) {
	case json_type_object:
		n = json_object_object_length(v);
		if (n == 0) {
			fputs("{}", f);
			return;
		}
		fputs("{\n", f);
		json_object_object_foreach (v, key, val) {
			struct json_object *k = json_object_new_string(key);

			fprintf(f, "%*s%s: ", indent + 2, "",
				k ? json_object_to_json_string_ext(k, flags) : "\"\"");
			json_object_put(k);
			format_value(f, val, indent + 2);
			fputs(++i < n ? ",\n" : "\n", f);
		}
		fprintf(f, "%*s}", indent, "");
		return;
	case json_type_array:
		n = json_object_array_length(v);
		if (n == 0) {
			fputs("[]", f);
			return;
		}
		fputs("[\n", f);
		for (i = 0; i < n; i++) {
			fprintf(f, "%*s", indent + 2, "");
			format_value(f, json_object_array_get_idx(v, i), indent + 2);
			fputs(i + 1 < n ? ",\n" : "\n", f);
		}
		fprintf(f, "%*s]", indent, "");
		return;
	default:
		fputs(v ? json_object_to_json_string_ext(v, flags) : "null", f);
		return;
	}
}

/* Pretty JSON as people write it: two spaces, "[]" and "{}" when empty, a final newline. */
VBUS_EXPORT int vbus_json_format(struct json_object *value, char **ret)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f;

	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	format_value(f, value, 0);
	fputc('\n', f);
	if (fclose(f) != 0 || !buf) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

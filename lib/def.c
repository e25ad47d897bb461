// SPDX-License-Identifier: LGPL-2.1-or-later
/* Definitions: the schema-v1 object of /etc/vbus/devices.d/NAME.json, to and from JSON. */
#include <inttypes.h>
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

/* PURPOSE: the kind must be absent, policy fills it in (with the parent, driver and type). */
static int def_from_json(struct vbus_ctx *ctx, struct json_object *obj, const char *purpose,
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
	if (!kind && !purpose)
		return vbus_error(ctx, -EINVAL, "key \"kind\" is missing");
	if (kind && purpose)
		return vbus_error(ctx, -EINVAL,
				  "key \"kind\" and a purpose exclude each other (the purpose "
				  "picks the kind)");
	if (kind) {
		def->kind = vbus_kind_from_string(kind);
		if (def->kind < 0)
			return vbus_error(ctx, -EINVAL, "unknown kind \"%s\"", kind);
	}
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
	if (purpose) {
		r = vbus_policy_fill(ctx, def, purpose);
		if (r < 0)
			return r;
	}

	*ret = TAKE_PTR(def);
	return 0;
}

VBUS_EXPORT int vbus_def_from_json(struct vbus_ctx *ctx, struct json_object *obj,
				   struct vbus_def **ret)
{
	return def_from_json(ctx, obj, NULL, ret);
}

VBUS_EXPORT int vbus_def_from_json_for(struct vbus_ctx *ctx, struct json_object *obj,
				       const char *purpose, struct vbus_def **ret)
{
	return def_from_json(ctx, obj, purpose && *purpose ? purpose : NULL, ret);
}

static bool is_def_key(const char *key);

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

	/* Without a kind: a definition whose kind a purpose is to pick (vbus_policy_fill()). */
	if (!def->name || (def->kind != _VBUS_KIND_INVALID && !vbus_kind_to_string(def->kind)) ||
	    !def->parent)
		return -EINVAL;
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	if (json_object_object_add(o, "version", json_object_new_int(1)) < 0)
		return -ENOMEM;
	r = add_string(o, "name", def->name);
	if (r >= 0 && def->kind != _VBUS_KIND_INVALID)
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
			if (is_def_key(key))
				continue;
			if (json_object_object_add(o, key, json_object_get(v)) < 0)
				return -ENOMEM;
		}
	}
	*ret = TAKE_PTR(o);
	return 0;
}

/* The pretty printer writes into one growing buffer: no FILE, no json-c object per key. */
#define text vbus_text

void vbus_text_put(struct text *t, const char *s, size_t n)
{
	if (t->oom)
		return;
	if (t->len + n + 1 > t->size) {
		size_t size = t->size ? t->size : 256;
		char *b;

		while (t->len + n + 1 > size)
			size *= 2;
		b = realloc(t->s, size);
		if (!b) {
			t->oom = true;
			return;
		}
		t->s = b;
		t->size = size;
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = '\0';
}

#define put vbus_text_put

static void puts_(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

static void indent_(struct text *t, int n)
{
	static const char spaces[] = "                                                                ";

	for (; n > 0; n -= (int)sizeof(spaces) - 1)
		put(t, spaces, n < (int)sizeof(spaces) - 1 ? (size_t)n : sizeof(spaces) - 1);
}

/* A JSON string as json-c writes it without slash escapes: \" \\ \b \f \n \r \t, \u00XX for
 * the other control characters, every other byte as it is. */
static void put_string(struct text *t, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = 0;

	put(t, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		char esc[7];
		const char *e = NULL;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		switch (c) {
		case '"': e = "\\\""; break;
		case '\\': e = "\\\\"; break;
		case '\b': e = "\\b"; break;
		case '\f': e = "\\f"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		case '\t': e = "\\t"; break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			esc[6] = '\0';
			e = esc;
		}
		put(t, s + start, i - start);
		puts_(t, e);
		start = i + 1;
	}
	put(t, s + start, n - start);
	put(t, "\"", 1);
}

void vbus_text_json(struct text *t, struct json_object *v, int indent)
{
	const int flags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
	size_t n, i = 0;

	switch (json_object_get_type(v)) {
	case json_type_object:
		n = json_object_object_length(v);
		if (n == 0) {
			put(t, "{}", 2);
			return;
		}
		put(t, "{\n", 2);
		json_object_object_foreach (v, key, val) {
			indent_(t, indent + 2);
			put_string(t, key, strlen(key));
			put(t, ": ", 2);
			vbus_text_json(t, val, indent + 2);
			if (++i < n)
				put(t, ",\n", 2);
			else
				put(t, "\n", 1);
		}
		indent_(t, indent);
		put(t, "}", 1);
		return;
	case json_type_array:
		n = json_object_array_length(v);
		if (n == 0) {
			put(t, "[]", 2);
			return;
		}
		put(t, "[\n", 2);
		for (i = 0; i < n; i++) {
			indent_(t, indent + 2);
			vbus_text_json(t, json_object_array_get_idx(v, i), indent + 2);
			if (i + 1 < n)
				put(t, ",\n", 2);
			else
				put(t, "\n", 1);
		}
		indent_(t, indent);
		put(t, "]", 1);
		return;
	case json_type_string:
		put_string(t, json_object_get_string(v), json_object_get_string_len(v));
		return;
	case json_type_boolean:
		puts_(t, json_object_get_boolean(v) ? "true" : "false");
		return;
	case json_type_null:
		put(t, "null", 4);
		return;
	default:
		puts_(t, json_object_to_json_string_ext(v, flags));
		return;
	}
}

/* Pretty JSON as people write it: two spaces, "[]" and "{}" when empty, a final newline. */
VBUS_EXPORT int vbus_json_format(struct json_object *value, char **ret)
{
	struct text t = {};

	vbus_text_json(&t, value, 0);
	put(&t, "\n", 1);
	if (t.oom || !t.s) {
		free(t.s);
		return -ENOMEM;
	}
	*ret = t.s;
	return 0;
}

static void put_key(struct text *t, int indent, const char *key)
{
	put(t, ",\n", 2);
	indent_(t, indent + 2);
	put_string(t, key, strlen(key));
	put(t, ": ", 2);
}

static void put_key_str(struct text *t, int indent, const char *key, const char *value)
{
	put_key(t, indent, key);
	if (value)
		put_string(t, value, strlen(value));
	else
		put(t, "null", 4);
}

static const char *const def_keys[] = {
	"version", "name", "kind", "parent", "type", "uuid", "index", "attrs", "driver", "start",
	"tags", "active", "defined", "bound_driver", "sysfs_path",
};

/* A key of the schema (or a runtime key of listings): never taken from def->extra. */
static bool is_def_key(const char *key)
{
	for (size_t i = 0; i < ELEMENTSOF(def_keys); i++)
		if (streq(key, def_keys[i]))
			return true;
	return false;
}

/* What vbus_text_json() writes for vbus_def_to_json(DEF) with the runtime keys of a listing
 * added (RT), at INDENT, without building the object. */
int vbus_text_def(struct text *t, const struct vbus_def *def, int indent,
		  const struct vbus_runtime *rt)
{
	char num[32];

	if (!def->name || !vbus_kind_to_string(def->kind) || !def->parent)
		return -EINVAL;
	put(t, "{\n", 2);
	indent_(t, indent + 2);
	put(t, "\"version\": 1", 12);
	put_key_str(t, indent, "name", def->name);
	put_key_str(t, indent, "kind", vbus_kind_to_string(def->kind));
	put_key_str(t, indent, "parent", def->parent);
	if (def->type)
		put_key_str(t, indent, "type", def->type);
	if (def->uuid)
		put_key_str(t, indent, "uuid", def->uuid);
	if (def->index >= 0) {
		put_key(t, indent, "index");
		snprintf(num, sizeof(num), "%" PRId64, def->index);
		puts_(t, num);
	}
	put_key(t, indent, "attrs");
	if (def->n_attrs == 0)
		put(t, "[]", 2);
	else {
		put(t, "[\n", 2);
		for (size_t i = 0; i < def->n_attrs; i++) {
			indent_(t, indent + 4);
			put(t, "{\n", 2);
			indent_(t, indent + 6);
			put_string(t, def->attrs[i].key, strlen(def->attrs[i].key));
			put(t, ": ", 2);
			put_string(t, def->attrs[i].value, strlen(def->attrs[i].value));
			put(t, "\n", 1);
			indent_(t, indent + 4);
			put(t, i + 1 < def->n_attrs ? "},\n" : "}\n", i + 1 < def->n_attrs ? 3 : 2);
		}
		indent_(t, indent + 2);
		put(t, "]", 1);
	}
	put_key_str(t, indent, "driver", def->driver ?: VBUS_DRIVER_AUTO);
	put_key_str(t, indent, "start", vbus_start_to_string(def->start) ?: "auto");
	put_key(t, indent, "tags");
	if (def->n_tags == 0)
		put(t, "[]", 2);
	else {
		put(t, "[\n", 2);
		for (size_t i = 0; i < def->n_tags; i++) {
			indent_(t, indent + 4);
			put_string(t, def->tags[i], strlen(def->tags[i]));
			put(t, i + 1 < def->n_tags ? ",\n" : "\n", i + 1 < def->n_tags ? 2 : 1);
		}
		indent_(t, indent + 2);
		put(t, "]", 1);
	}
	if (def->extra) {
		json_object_object_foreach (def->extra, key, v) {
			if (is_def_key(key))
				continue;
			put_key(t, indent, key);
			vbus_text_json(t, v, indent + 2);
		}
	}
	if (rt) {
		put_key(t, indent, "active");
		puts_(t, rt->active ? "true" : "false");
		put_key(t, indent, "defined");
		puts_(t, rt->defined ? "true" : "false");
		put_key_str(t, indent, "bound_driver", rt->driver);
		put_key_str(t, indent, "sysfs_path", rt->sysfs_path);
	}
	put(t, "\n", 1);
	indent_(t, indent);
	put(t, "}", 1);
	return t->oom ? -ENOMEM : 0;
}

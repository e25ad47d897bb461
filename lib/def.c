// SPDX-License-Identifier: LGPL-2.1-or-later
/* Definitions: the schema-v1 object of /etc/vbus/devices.d/NAME.json, to and from JSON. */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
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

/* ---- what every input path accepts (D-Bus a{sv}, --jsonfile, apply, store, import) ------- */

/* 0 when S (LEN bytes) is valid UTF-8 text without control characters (C0, DEL, C1) or NUL
 * bytes; else a cause for "key X ...". */
const char *vbus_text_check(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned c, n, cp;

		/* Eight printable ASCII bytes at a time (no byte < 0x20, none 0x7f or >= 0x80):
		 * what nearly every name, type and path is. */
		while (end - p >= 8) {
			const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
			uint64_t w;

			memcpy(&w, p, sizeof(w));
			if (((w - 0x20 * ones) | (w + ones) | w) & high)
				break;
			p += 8;
		}
		/* Then printable ASCII a byte at a time (a short key, the end of a string). */
		while (p < end && *p >= 0x20 && *p < 0x7f)
			p++;
		if (p == end)
			break;
		c = *p;

		if (c == 0)
			return "holds a NUL byte";
		if (c < 0x20 || c == 0x7f)
			return "holds a control character";
		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return "is not valid UTF-8";
		if ((size_t)(end - p) <= n)
			return "is not valid UTF-8";
		for (unsigned i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return "is not valid UTF-8";
			cp = cp << 6 | (p[i] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond U+10FFFF. */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return "is not valid UTF-8";
		if (cp >= 0x80 && cp <= 0x9f)
			return "holds a control character";
		p += n + 1;
	}
	return NULL;
}

/* S with control characters, backslashes and bytes that are not UTF-8 as \xNN: safe to print
 * on a terminal or write into a log line. NULL when out of memory. */
char *vbus_escape(const char *s)
{
	size_t n = strlen(s), k = 0;
	char *out = malloc(n * 4 + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t step = 1;
		unsigned char c = s[i];

		if (c >= 0x80) {
			/* The longest valid sequence starting here, kept as it is. */
			for (step = 2; step <= 4 && i + step <= n; step++)
				if (!vbus_text_check(s + i, step))
					break;
			if (step > 4 || i + step > n)
				step = 0;
		} else if (c >= 0x20 && c != 0x7f && c != '\\')
			step = 1;
		else
			step = 0;
		if (step == 0) {
			k += sprintf(out + k, "\\x%02x", c);
			i++;
		} else {
			memcpy(out + k, s + i, step);
			k += step;
			i += step;
		}
	}
	out[k] = '\0';
	return out;
}

/* Bounds of a definition, the same for every input path: the store's file limit for the whole
 * (VBUS_DEF_MAX_SIZE, counted as the strings it holds plus two bytes per value; the text
 * vbus_store_save() writes is checked against it again), a string of a
 * schema key (name, parent, type, driver, attrs, tags) at most VBUS_STRING_MAX bytes, nesting
 * of unknown keys at most 32 deep. */
#define DEF_MAX_DEPTH 32

static int check_value(struct vbus_ctx *ctx, const char *key, struct json_object *v, int depth,
		       size_t *budget)
{
	const char *cause;
	size_t len;

	if (depth > DEF_MAX_DEPTH)
		return vbus_error(ctx, -E2BIG, "key \"%s\" is nested more than %d deep", key,
				  DEF_MAX_DEPTH);
	if (*budget < 2)
		return vbus_error(ctx, -EFBIG, "the definition is larger than %d bytes",
				  VBUS_DEF_MAX_SIZE);
	*budget -= 2;
	switch (json_object_get_type(v)) {
	case json_type_string:
		len = json_object_get_string_len(v);
		if (len > *budget)
			return vbus_error(ctx, -EFBIG, "the definition is larger than %d bytes",
					  VBUS_DEF_MAX_SIZE);
		*budget -= len;
		cause = vbus_text_check(json_object_get_string(v), len);
		if (cause)
			return vbus_error(ctx, -EINVAL, "key \"%s\" %s", key, cause);
		return 0;
	case json_type_double:
		if (!isfinite(json_object_get_double(v)))
			return vbus_error(ctx, -EINVAL, "key \"%s\" holds a number JSON cannot write",
					  key);
		return 0;
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			int r = check_value(ctx, key, json_object_array_get_idx(v, i), depth + 1,
					    budget);

			if (r < 0)
				return r;
		}
		return 0;
	case json_type_object: {
		/* A block: the macro declares variables, which may not follow a label. */
		json_object_object_foreach (v, k, val) {
			int r;

			len = strlen(k);
			if (len > *budget)
				return vbus_error(ctx, -EFBIG,
						  "the definition is larger than %d bytes",
						  VBUS_DEF_MAX_SIZE);
			*budget -= len;
			if (vbus_text_check(k, len))
				return vbus_error(ctx, -EINVAL, "key \"%s\" holds a key that %s", key,
						  vbus_text_check(k, len));
			r = check_value(ctx, key, val, depth + 1, budget);
			if (r < 0)
				return r;
		}
		return 0;
	}
	default:
		return 0;
	}
}

/* Every key and value of OBJ, before anything of it is used or echoed in a message. */
static int check_object(struct vbus_ctx *ctx, struct json_object *obj)
{
	size_t budget = VBUS_DEF_MAX_SIZE;

	json_object_object_foreach (obj, key, v) {
		const char *cause = vbus_text_check(key, strlen(key));
		int r;

		if (cause)
			return vbus_error(ctx, -EINVAL, "a key %s", cause);
		if (strlen(key) > VBUS_STRING_MAX)
			return vbus_error(ctx, -E2BIG, "a key is longer than %d bytes",
					  VBUS_STRING_MAX);
		r = check_value(ctx, key, v, 0, &budget);
		if (r < 0)
			return r;
	}
	return 0;
}

/* WHAT's string S: at most VBUS_STRING_MAX bytes and, unless TEXT_CHECKED, text
 * (vbus_text_check()). */
static int check_string(struct vbus_ctx *ctx, const char *what, const char *s, bool text_checked)
{
	const char *cause;
	size_t len;

	if (!s)
		return 0;
	len = strlen(s);
	if (len > VBUS_STRING_MAX)
		return vbus_error(ctx, -E2BIG, "%s is longer than %d bytes", what, VBUS_STRING_MAX);
	if (text_checked)
		return 0;
	cause = vbus_text_check(s, len);
	if (cause)
		return vbus_error(ctx, -EINVAL, "%s %s", what, cause);
	return 0;
}

/* The kernel names mdevs in lowercase: one spelling in the store and in sysfs paths. */
void vbus_uuid_lower(char *uuid)
{
	for (char *c = uuid; c && *c; c++)
		*c = tolower((unsigned char)*c);
}

/* The strings of DEF; TEXT_CHECKED: every one of them (and the extra keys) came from a JSON
 * object check_object() passed, only their lengths are left to check. */
static int check_strings(struct vbus_ctx *ctx, const struct vbus_def *def, bool text_checked)
{
	int r = 0;

	if (r >= 0)
		r = check_string(ctx, "the name", def->name, text_checked);
	if (r >= 0)
		r = check_string(ctx, "the parent", def->parent, text_checked);
	if (r >= 0)
		r = check_string(ctx, "the type", def->type, text_checked);
	if (r >= 0)
		r = check_string(ctx, "the uuid", def->uuid, text_checked);
	if (r >= 0)
		r = check_string(ctx, "the driver", def->driver, text_checked);
	for (size_t i = 0; r >= 0 && i < def->n_attrs; i++) {
		r = check_string(ctx, "an attribute name", def->attrs[i].key, text_checked);
		if (r >= 0)
			r = check_string(ctx, "an attribute value", def->attrs[i].value,
					 text_checked);
	}
	for (size_t i = 0; r >= 0 && i < def->n_tags; i++)
		r = check_string(ctx, "a tag", def->tags[i], text_checked);
	if (r >= 0 && def->extra && !text_checked) {
		size_t budget = VBUS_DEF_MAX_SIZE;

		json_object_object_foreach (def->extra, key, v) {
			if (vbus_text_check(key, strlen(key)))
				return vbus_error(ctx, -EINVAL, "a key %s",
						  vbus_text_check(key, strlen(key)));
			r = check_value(ctx, key, v, 0, &budget);
			if (r < 0)
				return r;
		}
	}
	return r;
}

/* The strings of DEF however it was built (a file, D-Bus, the command line, an import). */
int vbus_def_check_strings(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	return check_strings(ctx, def, false);
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

/* The string V of KEY, in V. */
static int get_cstring(struct vbus_ctx *ctx, struct json_object *v, const char *key,
		       const char **ret)
{
	if (!json_object_is_type(v, json_type_string))
		return vbus_error(ctx, -EINVAL, "key \"%s\" must be a string", key);
	*ret = json_object_get_string(v);
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

/* KEY is K: the first bytes compared inline, as most keys of a definition differ there. */
static inline bool key_is(const char *key, const char *k)
{
	return key[0] == k[0] && streq(key, k);
}

/* PURPOSE: the kind must be absent, policy fills it in (with the parent, driver and type). */
static int def_from_json(struct vbus_ctx *ctx, struct json_object *obj, const char *purpose,
			 struct vbus_def **ret)
{
	_cleanup_def_ struct vbus_def *def = NULL;
	const char *kind = NULL, *start = NULL; /* in OBJ */
	int r;

	if (!json_object_is_type(obj, json_type_object))
		return vbus_error(ctx, -EINVAL, "a definition must be a JSON object");
	r = check_object(ctx, obj);
	if (r < 0)
		return r;
	r = vbus_def_new(&def);
	if (r < 0)
		return r;

	json_object_object_foreach (obj, key, v) {
		if (key_is(key, "version")) {
			if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) != 1)
				return vbus_error(ctx, -EINVAL,
						  "unsupported version %s (this is version 1)",
						  json_object_to_json_string(v));
		} else if (key_is(key, "name")) {
			r = get_string(ctx, v, key, &def->name);
		} else if (key_is(key, "kind")) {
			r = get_cstring(ctx, v, key, &kind);
		} else if (key_is(key, "parent")) {
			r = get_string(ctx, v, key, &def->parent);
		} else if (key_is(key, "type")) {
			r = get_string(ctx, v, key, &def->type);
		} else if (key_is(key, "uuid")) {
			r = get_string(ctx, v, key, &def->uuid);
		} else if (key_is(key, "driver")) {
			r = get_string(ctx, v, key, &def->driver);
		} else if (key_is(key, "start")) {
			r = get_cstring(ctx, v, key, &start);
		} else if (key_is(key, "index")) {
			if (!json_object_is_type(v, json_type_int) ||
			    json_object_get_int64(v) < 0 || json_object_get_int64(v) > INT32_MAX)
				return vbus_error(ctx, -EINVAL,
						  "key \"index\" must be a non-negative integer");
			def->index = json_object_get_int64(v);
		} else if (key_is(key, "attrs")) {
			r = parse_attrs(ctx, def, v);
		} else if (key_is(key, "tags")) {
			r = parse_tags(ctx, def, v);
		} else if (key_is(key, "active") || key_is(key, "defined") ||
			   key_is(key, "bound_driver") || key_is(key, "sysfs_path")) {
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
	r = vbus_select_parse(ctx, def);
	if (r < 0)
		return r;
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
	/* check_object() checked the text of every key and string: the lengths are left. */
	r = check_strings(ctx, def, true);
	if (r < 0)
		return r;
	vbus_uuid_lower(def->uuid);
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
			if (vbus_def_key_is_reserved(key))
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

/* N more bytes at the end of T's text (kept NUL-terminated), to be filled by the caller; NULL
 * when out of memory (then T->oom). */
static char *text_extend(struct text *t, size_t n)
{
	char *p;

	if (t->oom)
		return NULL;
	if (t->len + n + 1 > t->size) {
		size_t size = t->size ? t->size : 256;
		char *b;

		while (t->len + n + 1 > size)
			size *= 2;
		b = realloc(t->s, size);
		if (!b) {
			t->oom = true;
			return NULL;
		}
		t->s = b;
		t->size = size;
	}
	p = t->s + t->len;
	t->len += n;
	t->s[t->len] = '\0';
	return p;
}

void vbus_text_put(struct text *t, const char *s, size_t n)
{
	char *p = text_extend(t, n);

	if (p)
		memcpy(p, s, n);
}

#define put vbus_text_put

static void puts_(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

void vbus_text_indent(struct text *t, int n)
{
	char *p = n > 0 ? text_extend(t, (size_t)n) : NULL;

	if (p)
		memset(p, ' ', (size_t)n);
}

/* Whether a byte of word W is a control character (below 0x20), '"' or '\\': exact, as a
 * byte's borrow only marks bytes above one that matched. */
static inline bool word_needs_escape(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');

	return ((w - ones * 0x20) | (q - ones) | (b - ones)) & ~w & high;
}

/* Whether one of the N bytes of S must be escaped in a JSON string. Eight bytes at a time: a
 * name, a type, a path has none. */
static bool text_needs_escape(const char *s, size_t n)
{
	uint64_t w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, sizeof(w));
		if (word_needs_escape(w))
			return true;
	}
	for (; i < n; i++) {
		unsigned char c = s[i];

		if (c < 0x20 || c == '"' || c == '\\')
			return true;
	}
	return false;
}

/* A JSON string as json-c writes it without slash escapes: \" \\ \b \f \n \r \t, \u00XX for
 * the other control characters, every other byte as it is. */
void vbus_text_string(struct text *t, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = 0;
	char *p;

	if (!text_needs_escape(s, n)) {
		p = text_extend(t, n + 2);
		if (p) {
			p[0] = '"';
			memcpy(p + 1, s, n);
			p[n + 1] = '"';
		}
		return;
	}
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

void vbus_text_member(struct text *t, bool first, int indent, const char *key)
{
	size_t sep = first ? 1 : 2, klen = key ? strlen(key) : 0;
	char *p;

	if (indent < 0)
		indent = 0;
	if (key && text_needs_escape(key, klen)) {
		put(t, first ? "\n" : ",\n", sep);
		vbus_text_indent(t, indent);
		vbus_text_string(t, key, klen);
		put(t, ": ", 2);
		return;
	}
	/* One piece: the separator, the indentation and the key. */
	p = text_extend(t, sep + (size_t)indent + (key ? klen + 4 : 0));
	if (!p)
		return;
	if (!first)
		*p++ = ',';
	*p++ = '\n';
	memset(p, ' ', (size_t)indent);
	p += indent;
	if (key) {
		*p++ = '"';
		memcpy(p, key, klen);
		p += klen;
		memcpy(p, "\": ", 3);
	}
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
			vbus_text_indent(t, indent + 2);
			vbus_text_string(t, key, strlen(key));
			put(t, ": ", 2);
			vbus_text_json(t, val, indent + 2);
			if (++i < n)
				put(t, ",\n", 2);
			else
				put(t, "\n", 1);
		}
		vbus_text_indent(t, indent);
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
			vbus_text_indent(t, indent + 2);
			vbus_text_json(t, json_object_array_get_idx(v, i), indent + 2);
			if (i + 1 < n)
				put(t, ",\n", 2);
			else
				put(t, "\n", 1);
		}
		vbus_text_indent(t, indent);
		put(t, "]", 1);
		return;
	case json_type_string:
		vbus_text_string(t, json_object_get_string(v), json_object_get_string_len(v));
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

static const char *const def_keys[] = {
	"version", "name", "kind", "parent", "type", "uuid", "index", "attrs", "driver", "start",
	"tags", "active", "defined", "bound_driver", "sysfs_path", "wanted_driver", "pci_address",
	"iommu_group", "device_nodes", "netdev", "pending",
};

/* A key of the schema (or a runtime key of listings): never taken from def->extra. */
bool vbus_def_key_is_reserved(const char *key)
{
	for (size_t i = 0; i < ELEMENTSOF(def_keys); i++)
		if (streq(key, def_keys[i]))
			return true;
	return false;
}

/* ---- accessors ----------------------------------------------------------------------------- */

VBUS_EXPORT const char *vbus_def_get_name(const struct vbus_def *def)
{
	return def->name;
}

VBUS_EXPORT enum vbus_kind vbus_def_get_kind(const struct vbus_def *def)
{
	return def->kind;
}

VBUS_EXPORT const char *vbus_def_get_parent(const struct vbus_def *def)
{
	return def->parent;
}

VBUS_EXPORT const char *vbus_def_get_type(const struct vbus_def *def)
{
	return def->type;
}

VBUS_EXPORT const char *vbus_def_get_uuid(const struct vbus_def *def)
{
	return def->uuid;
}

VBUS_EXPORT int64_t vbus_def_get_index(const struct vbus_def *def)
{
	return def->index;
}

VBUS_EXPORT const char *vbus_def_get_driver(const struct vbus_def *def)
{
	return def->driver ?: VBUS_DRIVER_AUTO;
}

VBUS_EXPORT enum vbus_start vbus_def_get_start(const struct vbus_def *def)
{
	return def->start;
}

VBUS_EXPORT size_t vbus_def_get_n_attrs(const struct vbus_def *def)
{
	return def->n_attrs;
}

VBUS_EXPORT int vbus_def_get_attr(const struct vbus_def *def, size_t i, const char **ret_key,
				  const char **ret_value)
{
	if (i >= def->n_attrs)
		return -ERANGE;
	if (ret_key)
		*ret_key = def->attrs[i].key;
	if (ret_value)
		*ret_value = def->attrs[i].value;
	return 0;
}

VBUS_EXPORT size_t vbus_def_get_n_tags(const struct vbus_def *def)
{
	return def->n_tags;
}

VBUS_EXPORT const char *vbus_def_get_tag(const struct vbus_def *def, size_t i)
{
	return i < def->n_tags ? def->tags[i] : NULL;
}

/* *FIELD = a copy of S (NULL: unset); FIELD unchanged on failure. */
static int set_string(char **field, const char *s)
{
	char *c = NULL;

	if (s && !(c = strdup(s)))
		return -ENOMEM;
	free(*field);
	*field = c;
	return 0;
}

VBUS_EXPORT int vbus_def_set_name(struct vbus_def *def, const char *name)
{
	return set_string(&def->name, name);
}

VBUS_EXPORT void vbus_def_set_kind(struct vbus_def *def, enum vbus_kind kind)
{
	def->kind = kind;
}

VBUS_EXPORT int vbus_def_set_parent(struct vbus_def *def, const char *parent)
{
	return set_string(&def->parent, parent);
}

VBUS_EXPORT int vbus_def_set_type(struct vbus_def *def, const char *type)
{
	return set_string(&def->type, type);
}

VBUS_EXPORT int vbus_def_set_uuid(struct vbus_def *def, const char *uuid)
{
	return set_string(&def->uuid, uuid);
}

VBUS_EXPORT void vbus_def_set_index(struct vbus_def *def, int64_t index)
{
	def->index = index < 0 ? -1 : index;
}

VBUS_EXPORT int vbus_def_set_driver(struct vbus_def *def, const char *driver)
{
	return set_string(&def->driver, driver);
}

VBUS_EXPORT void vbus_def_set_start(struct vbus_def *def, enum vbus_start start)
{
	def->start = start;
}

VBUS_EXPORT void vbus_def_clear_attrs(struct vbus_def *def)
{
	for (size_t i = 0; i < def->n_attrs; i++) {
		free(def->attrs[i].key);
		free(def->attrs[i].value);
	}
	free(def->attrs);
	def->attrs = NULL;
	def->n_attrs = 0;
}

VBUS_EXPORT void vbus_def_clear_tags(struct vbus_def *def)
{
	for (size_t i = 0; i < def->n_tags; i++)
		free(def->tags[i]);
	free(def->tags);
	def->tags = NULL;
	def->n_tags = 0;
}

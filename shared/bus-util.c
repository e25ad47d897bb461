// SPDX-License-Identifier: LGPL-2.1-or-later
/* The errno table of org.vbus1 and the JSON <-> D-Bus value mapping both ends use. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define streq(a, b) (strcmp((a), (b)) == 0)

#include "bus-util.h"
#include "sd-bus-dl.h"

const sd_bus_error_map vbus_bus_errors[] = {
	SD_BUS_ERROR_MAP("org.vbus1.Error.InvalidArgument", EINVAL),
	SD_BUS_ERROR_MAP("org.vbus1.Error.NoSuchDevice", ENOENT),
	SD_BUS_ERROR_MAP("org.vbus1.Error.NoSuchParent", ENODEV),
	SD_BUS_ERROR_MAP("org.vbus1.Error.AlreadyExists", EEXIST),
	SD_BUS_ERROR_MAP("org.vbus1.Error.NotSupported", EOPNOTSUPP),
	SD_BUS_ERROR_MAP("org.vbus1.Error.Busy", EBUSY),
	SD_BUS_ERROR_MAP("org.vbus1.Error.AccessDenied", EACCES),
	SD_BUS_ERROR_MAP("org.vbus1.Error.AccessDenied", EPERM),
	SD_BUS_ERROR_MAP("org.vbus1.Error.NoSpace", ENOSPC),
	SD_BUS_ERROR_MAP("org.vbus1.Error.Timeout", ETIMEDOUT),
	SD_BUS_ERROR_MAP("org.vbus1.Error.IOError", EIO),
	SD_BUS_ERROR_MAP("org.vbus1.Error.NotActive", ENXIO),
	SD_BUS_ERROR_MAP("org.vbus1.Error.OutOfRange", ERANGE),
	SD_BUS_ERROR_MAP("org.vbus1.Error.ReadOnly", EROFS),
	SD_BUS_ERROR_MAP("org.vbus1.Error.AlreadyInState", EALREADY),
	SD_BUS_ERROR_MAP("org.vbus1.Error.TooLarge", E2BIG),
	SD_BUS_ERROR_MAP("org.vbus1.Error.TooLarge", EFBIG),
	SD_BUS_ERROR_MAP("org.vbus1.Error.InvalidArgument", EISDIR),
	SD_BUS_ERROR_MAP("org.vbus1.Error.InvalidArgument", ELOOP),
	SD_BUS_ERROR_MAP_END,
};

const char *vbus_bus_error_name(int err)
{
	if (err < 0)
		err = -err;
	for (const sd_bus_error_map *e = vbus_bus_errors; e->name; e++)
		if (e->code == err)
			return e->name;
	return NULL;
}

/* ---- writing --------------------------------------------------------------------------------- */

static bool array_is_strings(struct json_object *a)
{
	for (size_t i = 0; i < json_object_array_length(a); i++)
		if (!json_object_is_type(json_object_array_get_idx(a, i), json_type_string))
			return false;
	return true;
}

static int append_value(sd_bus_message *m, struct json_object *v);

/*
 * Appends V as a variant. D-Bus has no null: a JSON null travels as an empty "av", which no
 * JSON value produces otherwise (an empty array is "as"), and reads back as null.
 */
static int append_variant(sd_bus_message *m, struct json_object *v)
{
	const char *sig;
	int r;

	switch (json_object_get_type(v)) {
	case json_type_null:
		return sd_bus_message_append(m, "v", "av", 0);
	case json_type_boolean:
		return sd_bus_message_append(m, "v", "b", (int)json_object_get_boolean(v));
	case json_type_int:
		return sd_bus_message_append(m, "v", "x", (int64_t)json_object_get_int64(v));
	case json_type_double:
		return sd_bus_message_append(m, "v", "d", json_object_get_double(v));
	case json_type_string:
		return sd_bus_message_append(m, "v", "s", json_object_get_string(v));
	case json_type_object:
		sig = "a{sv}";
		break;
	case json_type_array:
		sig = array_is_strings(v) ? "as" : "av";
		break;
	default:
		return -EINVAL;
	}
	r = sd_bus_message_open_container(m, 'v', sig);
	if (r < 0)
		return r;
	r = append_value(m, v);
	if (r < 0)
		return r;
	return sd_bus_message_close_container(m);
}

static int append_value(sd_bus_message *m, struct json_object *v)
{
	int r;

	if (json_object_is_type(v, json_type_object))
		return bus_append_json_object(m, v);
	if (!json_object_is_type(v, json_type_array))
		return -EINVAL;
	if (array_is_strings(v)) {
		r = sd_bus_message_open_container(m, 'a', "s");
		for (size_t i = 0; r >= 0 && i < json_object_array_length(v); i++)
			r = sd_bus_message_append_basic(
				m, 's', json_object_get_string(json_object_array_get_idx(v, i)));
	} else {
		r = sd_bus_message_open_container(m, 'a', "v");
		for (size_t i = 0; r >= 0 && i < json_object_array_length(v); i++) {
			struct json_object *e = json_object_array_get_idx(v, i);

			r = append_variant(m, e);
		}
	}
	if (r < 0)
		return r;
	return sd_bus_message_close_container(m);
}

int bus_append_json_object(sd_bus_message *m, struct json_object *obj)
{
	int r;

	if (!json_object_is_type(obj, json_type_object))
		return -EINVAL;
	r = sd_bus_message_open_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	json_object_object_foreach(obj, key, val) {
		r = sd_bus_message_open_container(m, 'e', "sv");
		if (r < 0)
			return r;
		r = sd_bus_message_append_basic(m, 's', key);
		if (r < 0)
			return r;
		r = append_variant(m, val);
		if (r < 0)
			return r;
		r = sd_bus_message_close_container(m);
		if (r < 0)
			return r;
	}
	return sd_bus_message_close_container(m);
}

int bus_append_json_object_array(sd_bus_message *m, struct json_object *array)
{
	int r;

	r = sd_bus_message_open_container(m, 'a', "a{sv}");
	if (r < 0)
		return r;
	for (size_t i = 0; array && i < json_object_array_length(array); i++) {
		r = bus_append_json_object(m, json_object_array_get_idx(array, i));
		if (r < 0)
			return r;
	}
	return sd_bus_message_close_container(m);
}

/* ---- reading --------------------------------------------------------------------------------- */

static int read_basic(sd_bus_message *m, char type, struct json_object **ret)
{
	union {
		uint8_t u8;
		int16_t s16;
		uint16_t u16;
		int32_t s32;
		uint32_t u32;
		int64_t s64;
		uint64_t u64;
		int b;
		double d;
		const char *s;
	} v;
	struct json_object *o;
	int r;

	r = sd_bus_message_read_basic(m, type, &v);
	if (r < 0)
		return r;
	switch (type) {
	case 'y':
		o = json_object_new_int64(v.u8);
		break;
	case 'n':
		o = json_object_new_int64(v.s16);
		break;
	case 'q':
		o = json_object_new_int64(v.u16);
		break;
	case 'i':
	case 'h':
		o = json_object_new_int64(v.s32);
		break;
	case 'u':
		o = json_object_new_int64(v.u32);
		break;
	case 'x':
		o = json_object_new_int64(v.s64);
		break;
	case 't':
		o = json_object_new_uint64(v.u64);
		break;
	case 'b':
		o = json_object_new_boolean(v.b);
		break;
	case 'd':
		o = json_object_new_double(v.d);
		break;
	case 's':
	case 'o':
	case 'g':
		o = json_object_new_string(v.s);
		break;
	default:
		return -EINVAL;
	}
	if (!o)
		return -ENOMEM;
	*ret = o;
	return 0;
}

static int read_dict(sd_bus_message *m, struct json_object **ret)
{
	struct json_object *obj = json_object_new_object();
	char type;
	const char *contents;
	int r;

	if (!obj)
		return -ENOMEM;
	while ((r = sd_bus_message_peek_type(m, &type, &contents)) > 0) {
		struct json_object *k = NULL, *v = NULL;

		r = sd_bus_message_enter_container(m, 'e', contents);
		if (r < 0)
			break;
		r = bus_read_json_value(m, &k);
		if (r >= 0)
			r = bus_read_json_value(m, &v);
		if (r >= 0)
			r = json_object_object_add(obj, json_object_get_string(k), v) < 0 ? -ENOMEM
											 : 0;
		if (r < 0)
			json_object_put(v);
		json_object_put(k);
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
		if (r < 0)
			break;
	}
	if (r < 0) {
		json_object_put(obj);
		return r;
	}
	*ret = obj;
	return 0;
}

static int read_list(sd_bus_message *m, struct json_object **ret)
{
	struct json_object *arr = json_object_new_array();
	int r;

	if (!arr)
		return -ENOMEM;
	while ((r = sd_bus_message_peek_type(m, NULL, NULL)) > 0) {
		struct json_object *v = NULL;

		r = bus_read_json_value(m, &v);
		if (r < 0)
			break;
		if (json_object_array_add(arr, v) < 0) {
			json_object_put(v);
			r = -ENOMEM;
			break;
		}
	}
	if (r < 0) {
		json_object_put(arr);
		return r;
	}
	*ret = arr;
	return 0;
}

int bus_read_json_value(sd_bus_message *m, struct json_object **ret)
{
	const char *contents;
	char type;
	int r;

	r = sd_bus_message_peek_type(m, &type, &contents);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENXIO;
	switch (type) {
	case 'v':
	case 'a':
	case 'r': {
		struct json_object *v = NULL;

		r = sd_bus_message_enter_container(m, type, contents);
		if (r < 0)
			return r;
		if (type == 'v') {
			r = bus_read_json_value(m, &v);
			/* An empty "av" is how a null travels. */
			if (r >= 0 && streq(contents, "av") && json_object_array_length(v) == 0)
				v = (json_object_put(v), NULL);
		} else if (type == 'a' && contents[0] == '{')
			r = read_dict(m, &v);
		else
			r = read_list(m, &v);
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(m);
		if (r < 0) {
			json_object_put(v);
			return r;
		}
		*ret = v;
		return 0;
	}
	default:
		return read_basic(m, type, ret);
	}
}

int bus_read_json_object(sd_bus_message *m, struct json_object **ret)
{
	struct json_object *v = NULL;
	int r;

	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	r = read_dict(m, &v);
	if (r < 0)
		return r;
	r = sd_bus_message_exit_container(m);
	if (r < 0) {
		json_object_put(v);
		return r;
	}
	*ret = v;
	return 0;
}

int bus_read_json_object_array(sd_bus_message *m, struct json_object **ret)
{
	struct json_object *v = NULL;
	int r;

	r = sd_bus_message_enter_container(m, 'a', "a{sv}");
	if (r < 0)
		return r;
	r = read_list(m, &v);
	if (r < 0)
		return r;
	r = sd_bus_message_exit_container(m);
	if (r < 0) {
		json_object_put(v);
		return r;
	}
	*ret = v;
	return 0;
}

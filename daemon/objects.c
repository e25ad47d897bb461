// SPDX-License-Identifier: LGPL-2.1-or-later
/* /org/vbus1/device/NAME and /org/vbus1/parent/NAME: typed views of the model, and its signals. */
#include "vbusd.h"

/* Device properties and the keys of the vbus_list_devices() objects they show. */
static const struct {
	const char *property;
	const char *key;
	char type; /* 's', 'x', 'b' or 'a' (as) */
} device_props[] = {
	{ "Name", "name", 's' },
	{ "Kind", "kind", 's' },
	{ "Parent", "parent", 's' },
	{ "Type", "type", 's' },
	{ "Uuid", "uuid", 's' },
	{ "Index", "index", 'x' },
	{ "Driver", "driver", 's' },
	{ "BoundDriver", "bound_driver", 's' },
	{ "Active", "active", 'b' },
	{ "Defined", "defined", 'b' },
	{ "SysfsPath", "sysfs_path", 's' },
	{ "Start", "start", 's' },
	{ "Tags", "tags", 'a' },
};

char *device_path(const char *name)
{
	char *p = NULL;

	if (sd_bus_path_encode(VBUS_DEVICE_PREFIX, name, &p) < 0)
		return NULL;
	return p;
}

static int append_prop(sd_bus_message *reply, struct json_object *v, char type)
{
	switch (type) {
	case 's':
		return sd_bus_message_append(reply, "s", v ? json_object_get_string(v) : "");
	case 'x':
		return sd_bus_message_append(reply, "x", v ? (int64_t)json_object_get_int64(v) : -1);
	case 'b':
		return sd_bus_message_append(reply, "b", v ? json_object_get_boolean(v) : 0);
	default: {
		int r = sd_bus_message_open_container(reply, 'a', "s");

		for (size_t i = 0; r >= 0 && json_object_is_type(v, json_type_array) &&
				   i < json_object_array_length(v);
		     i++)
			r = sd_bus_message_append(
				reply, "s", json_object_get_string(json_object_array_get_idx(v, i)));
		if (r < 0)
			return r;
		return sd_bus_message_close_container(reply);
	}
	}
}

static int device_property_get(sd_bus *bus, const char *path, const char *interface,
			       const char *property, sd_bus_message *reply, void *userdata,
			       sd_bus_error *error)
{
	struct json_object *dev = userdata;

	for (size_t i = 0; i < ELEMENTSOF(device_props); i++)
		if (streq(property, device_props[i].property))
			return append_prop(reply, json_object_object_get(dev, device_props[i].key),
					   device_props[i].type);
	return -ENOENT;
}

#define DEVICE_PROP(name, sig)                                                                     \
	SD_BUS_PROPERTY(name, sig, device_property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE)

static const sd_bus_vtable device_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Name", "s", device_property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	DEVICE_PROP("Kind", "s"),
	DEVICE_PROP("Parent", "s"),
	DEVICE_PROP("Type", "s"),
	DEVICE_PROP("Uuid", "s"),
	DEVICE_PROP("Index", "x"),
	DEVICE_PROP("Driver", "s"),
	DEVICE_PROP("BoundDriver", "s"),
	DEVICE_PROP("Active", "b"),
	DEVICE_PROP("Defined", "b"),
	DEVICE_PROP("SysfsPath", "s"),
	DEVICE_PROP("Start", "s"),
	DEVICE_PROP("Tags", "as"),
	SD_BUS_VTABLE_END,
};

static int device_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
		       void **ret_found, sd_bus_error *error)
{
	struct vbusd *d = userdata;
	_cleanup_free_ char *name = NULL;
	struct json_object *o;
	int r;

	r = sd_bus_path_decode(path, VBUS_DEVICE_PREFIX, &name);
	if (r <= 0)
		return r;
	if (!d->devices || !json_object_object_get_ex(d->devices, name, &o))
		return 0;
	*ret_found = o;
	return 1;
}

static int enumerate(struct json_object *map, const char *prefix, char ***ret_nodes)
{
	size_t n = 0;
	char **nodes;

	nodes = calloc((map ? json_object_object_length(map) : 0) + 1, sizeof(char *));
	if (!nodes)
		return -ENOMEM;
	if (map) {
		json_object_object_foreach(map, key, val) {
			(void)val;
			if (sd_bus_path_encode(prefix, key, &nodes[n]) < 0) {
				for (size_t i = 0; i < n; i++)
					free(nodes[i]);
				free(nodes);
				return -ENOMEM;
			}
			n++;
		}
	}
	*ret_nodes = nodes;
	return 0;
}

static int device_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***ret_nodes,
			    sd_bus_error *error)
{
	struct vbusd *d = userdata;

	return enumerate(d->devices, VBUS_DEVICE_PREFIX, ret_nodes);
}

/* ---- parents ------------------------------------------------------------------------------- */

static int parent_property_get(sd_bus *bus, const char *path, const char *interface,
			       const char *property, sd_bus_message *reply, void *userdata,
			       sd_bus_error *error)
{
	struct json_object *entries = userdata;
	int r;

	if (streq(property, "Name"))
		return sd_bus_message_append(
			reply, "s",
			json_object_get_string(json_object_object_get(
				json_object_array_get_idx(entries, 0), "parent")));
	if (streq(property, "Kinds")) {
		r = sd_bus_message_open_container(reply, 'a', "s");
		for (size_t i = 0; r >= 0 && i < json_object_array_length(entries); i++)
			r = sd_bus_message_append(
				reply, "s",
				json_object_get_string(json_object_object_get(
					json_object_array_get_idx(entries, i), "kind")));
		if (r < 0)
			return r;
		return sd_bus_message_close_container(reply);
	}
	/* Entries: what vbus_list_parents() says of it, one a{sv} per kind. */
	return bus_append_json_object_array(reply, entries);
}

static const sd_bus_vtable parent_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Name", "s", parent_property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Kinds", "as", parent_property_get, 0, 0),
	SD_BUS_PROPERTY("Entries", "aa{sv}", parent_property_get, 0, 0),
	SD_BUS_VTABLE_END,
};

static int parent_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
		       void **ret_found, sd_bus_error *error)
{
	struct vbusd *d = userdata;
	_cleanup_free_ char *name = NULL;
	struct json_object *o;
	int r;

	r = sd_bus_path_decode(path, VBUS_PARENT_PREFIX, &name);
	if (r <= 0)
		return r;
	if (!d->parents || !json_object_object_get_ex(d->parents, name, &o))
		return 0;
	*ret_found = o;
	return 1;
}

static int parent_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***ret_nodes,
			    sd_bus_error *error)
{
	struct vbusd *d = userdata;

	return enumerate(d->parents, VBUS_PARENT_PREFIX, ret_nodes);
}

int objects_register(struct vbusd *d)
{
	int r;

	r = sd_bus_add_object_manager(d->bus, NULL, VBUS_MANAGER_PATH);
	if (r < 0)
		return r;
	r = sd_bus_add_fallback_vtable(d->bus, NULL, VBUS_DEVICE_PREFIX, VBUS_DEVICE_IFACE,
				       device_vtable, device_find, d);
	if (r < 0)
		return r;
	r = sd_bus_add_node_enumerator(d->bus, NULL, VBUS_DEVICE_PREFIX, device_enumerate, d);
	if (r < 0)
		return r;
	r = sd_bus_add_fallback_vtable(d->bus, NULL, VBUS_PARENT_PREFIX, VBUS_PARENT_IFACE,
				       parent_vtable, parent_find, d);
	if (r < 0)
		return r;
	return sd_bus_add_node_enumerator(d->bus, NULL, VBUS_PARENT_PREFIX, parent_enumerate, d);
}

void objects_done(struct vbusd *d)
{
	json_object_putp(&d->devices);
	json_object_putp(&d->parents);
	d->devices = d->parents = NULL;
}

/* ---- refresh ------------------------------------------------------------------------------- */

static int load_devices(struct vbusd *d, struct json_object **ret)
{
	_cleanup_json_ struct json_object *arr = NULL, *map = NULL;
	int r;

	r = vbus_list_devices(d->ctx, VBUS_LIST_DEFINED | VBUS_LIST_ACTIVE, NULL, &arr);
	if (r < 0)
		return r;
	map = json_object_new_object();
	if (!map)
		return -ENOMEM;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		const char *name = json_object_get_string(json_object_object_get(o, "name"));

		if (!name || json_object_object_get(map, name))
			continue;
		if (json_object_object_add(map, name, json_object_get(o)) < 0)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(map);
	return 0;
}

static int load_parents(struct vbusd *d, struct json_object **ret)
{
	_cleanup_json_ struct json_object *arr = NULL, *map = NULL;
	int r;

	r = vbus_list_parents(d->ctx, NULL, &arr);
	if (r < 0)
		return r;
	map = json_object_new_object();
	if (!map)
		return -ENOMEM;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		const char *name = json_object_get_string(json_object_object_get(o, "parent"));
		struct json_object *entries;

		if (!name)
			continue;
		if (!json_object_object_get_ex(map, name, &entries)) {
			entries = json_object_new_array();
			if (!entries || json_object_object_add(map, name, entries) < 0) {
				json_object_put(entries);
				return -ENOMEM;
			}
		}
		if (json_object_array_add(entries, json_object_get(o)) < 0)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(map);
	return 0;
}

static struct json_object *get(struct json_object *o, const char *key)
{
	return o ? json_object_object_get(o, key) : NULL;
}

static void emit_added(struct vbusd *d, const char *name, struct json_object *dev)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	_cleanup_free_ char *path = device_path(name);
	const char *bound = json_object_get_string(get(dev, "bound_driver"));

	if (!path)
		return;
	(void)sd_bus_emit_object_added(d->bus, path);
	if (sd_bus_message_new_signal(d->bus, &m, VBUS_MANAGER_PATH, VBUS_MANAGER_IFACE,
				      "DeviceAdded") >= 0 &&
	    sd_bus_message_append(m, "so", name, path) >= 0 && bus_append_json_object(m, dev) >= 0)
		(void)sd_bus_send(d->bus, m, NULL);
	if (bound && bound[0])
		(void)sd_bus_emit_signal(d->bus, VBUS_MANAGER_PATH, VBUS_MANAGER_IFACE,
					 "DeviceBound", "sos", name, path, bound);
}

static void emit_removed(struct vbusd *d, const char *name)
{
	_cleanup_free_ char *path = device_path(name);

	if (!path)
		return;
	(void)sd_bus_emit_signal(d->bus, VBUS_MANAGER_PATH, VBUS_MANAGER_IFACE, "DeviceRemoved",
				 "so", name, path);
	(void)sd_bus_emit_object_removed(d->bus, path);
}

static void emit_changed(struct vbusd *d, const char *name, struct json_object *old,
			 struct json_object *new)
{
	_cleanup_free_ char *path = device_path(name);
	const char *changed[ELEMENTSOF(device_props) + 1];
	const char *ob = json_object_get_string(get(old, "bound_driver"));
	const char *nb = json_object_get_string(get(new, "bound_driver"));
	size_t n = 0;

	if (!path)
		return;
	for (size_t i = 0; i < ELEMENTSOF(device_props); i++)
		if (!json_object_equal(get(old, device_props[i].key), get(new, device_props[i].key)))
			changed[n++] = device_props[i].property;
	changed[n] = NULL;
	if (n)
		(void)sd_bus_emit_properties_changed_strv(d->bus, path, VBUS_DEVICE_IFACE,
							  (char **)changed);
	if (nb && nb[0] && !streq_ptr(ob, nb))
		(void)sd_bus_emit_signal(d->bus, VBUS_MANAGER_PATH, VBUS_MANAGER_IFACE,
					 "DeviceBound", "sos", name, path, nb);
}

int objects_refresh(struct vbusd *d)
{
	_cleanup_json_ struct json_object *devices = NULL, *parents = NULL, *old = NULL;
	int r;

	r = load_parents(d, &parents);
	if (r < 0)
		log_warning("Failed to list parents: %s",
			    vbus_ctx_last_error(d->ctx) ?: strerror(-r));
	else {
		json_object_put(d->parents);
		d->parents = TAKE_PTR(parents);
	}

	r = load_devices(d, &devices);
	if (r < 0) {
		log_warning("Failed to list devices: %s",
			    vbus_ctx_last_error(d->ctx) ?: strerror(-r));
		return r;
	}
	/* Removals are announced while the objects still exist (InterfacesRemoved reads them). */
	if (d->devices) {
		json_object_object_foreach(d->devices, name, dev) {
			(void)dev;
			if (!json_object_object_get(devices, name))
				emit_removed(d, name);
		}
	}
	old = d->devices;
	d->devices = TAKE_PTR(devices);
	json_object_object_foreach(d->devices, name, dev) {
		struct json_object *o = old ? json_object_object_get(old, name) : NULL;

		if (!o)
			emit_added(d, name, dev);
		else
			emit_changed(d, name, o, dev);
	}
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* /org/vbus1/device/NAME and /org/vbus1/parent/NAME: typed views of the model, and its signals. */
#include <dirent.h>
#include <malloc.h>
#include <sys/stat.h>

#include "output.h"
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
	{ "WantedDriver", "wanted_driver", 's' },
	{ "PciAddress", "pci_address", 's' },
	{ "IommuGroup", "iommu_group", 'x' },
	{ "DeviceNodes", "device_nodes", 'a' },
	{ "Netdev", "netdev", 's' },
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

struct json_object *device_object(const struct device *dev)
{
	return json_tokener_parse(dev->json);
}

/* The last device a property was read from, parsed: sd-bus reads the properties of one object
 * one by one (GetAll, PropertiesChanged with values, InterfacesAdded), each would parse it. */
static struct {
	const struct device *dev;
	const char *json;
	struct json_object *obj;
} parsed;

static void parsed_forget(const struct device *dev)
{
	if (dev && parsed.dev != dev)
		return;
	json_object_put(parsed.obj);
	parsed.obj = NULL;
	parsed.dev = NULL;
	parsed.json = NULL;
}

/* DEV's object, owned by the cache: valid until the next call or until DEV changes. */
static struct json_object *device_parsed(const struct device *dev)
{
	if (parsed.dev == dev && parsed.json == dev->json && parsed.obj)
		return parsed.obj;
	parsed_forget(NULL);
	parsed.obj = device_object(dev);
	if (parsed.obj) {
		parsed.dev = dev;
		parsed.json = dev->json;
	}
	return parsed.obj;
}

static int device_property_get(sd_bus *bus, const char *path, const char *interface,
			       const char *property, sd_bus_message *reply, void *userdata,
			       sd_bus_error *error)
{
	struct device *dev = userdata;
	struct json_object *o;

	if (streq(property, "Name"))
		return sd_bus_message_append(reply, "s", dev->name);
	o = device_parsed(dev);
	if (!o)
		return -ENOMEM;
	for (size_t i = 0; i < ELEMENTSOF(device_props); i++)
		if (streq(property, device_props[i].property))
			return append_prop(reply, json_object_object_get(o, device_props[i].key),
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
	DEVICE_PROP("WantedDriver", "s"),
	DEVICE_PROP("PciAddress", "s"),
	DEVICE_PROP("IommuGroup", "x"),
	DEVICE_PROP("DeviceNodes", "as"),
	DEVICE_PROP("Netdev", "s"),
	SD_BUS_VTABLE_END,
};

struct device *objects_get(struct vbusd *d, const char *name)
{
	void *v;

	if (!d->devices || !lh_table_lookup_ex(d->devices, name, &v))
		return NULL;
	return v;
}

static int device_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
		       void **ret_found, sd_bus_error *error)
{
	struct vbusd *d = userdata;
	_cleanup_free_ char *name = NULL;
	struct device *dev;
	int r;

	r = sd_bus_path_decode(path, VBUS_DEVICE_PREFIX, &name);
	if (r <= 0)
		return r;
	dev = objects_get(d, name);
	if (!dev)
		return 0;
	*ret_found = dev;
	return 1;
}

static int strv_add_path(char **nodes, size_t *n, const char *prefix, const char *name)
{
	if (sd_bus_path_encode(prefix, name, &nodes[*n]) < 0) {
		for (size_t i = 0; i < *n; i++)
			free(nodes[i]);
		free(nodes);
		return -ENOMEM;
	}
	(*n)++;
	return 0;
}

static int device_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***ret_nodes,
			    sd_bus_error *error)
{
	struct vbusd *d = userdata;
	struct lh_entry *e;
	size_t n = 0;
	char **nodes;

	nodes = calloc((d->devices ? d->devices->count : 0) + 1, sizeof(char *));
	if (!nodes)
		return -ENOMEM;
	if (d->devices)
		lh_foreach(d->devices, e) {
			if (strv_add_path(nodes, &n, VBUS_DEVICE_PREFIX, lh_entry_k(e)) < 0)
				return -ENOMEM;
		}
	*ret_nodes = nodes;
	return 0;
}

/* ---- parents ------------------------------------------------------------------------------- */

static int parent_property_get(sd_bus *bus, const char *path, const char *interface,
			       const char *property, sd_bus_message *reply, void *userdata,
			       sd_bus_error *error)
{
	struct vbusd *d = userdata;
	_cleanup_json_ struct json_object *live = NULL;
	_cleanup_free_ char *name = NULL;
	struct json_object *entries;
	int r;

	r = sd_bus_path_decode(path, VBUS_PARENT_PREFIX, &name);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	if (!d->parents || !json_object_object_get_ex(d->parents, name, &entries))
		return -ENOENT;
	if (streq(property, "Name"))
		return sd_bus_message_append(reply, "s", name);
	/* Read now: the model keeps the parents' names, not their free instances. */
	if (vbus_list_parents(d->ctx, name, &live) >= 0) {
		_cleanup_json_ struct json_object *mine = json_object_new_array();

		/* vbus_list_parents(NAME) matches NAME in the forms of each kind: keep ours. */
		for (size_t i = 0; mine && i < json_object_array_length(live); i++) {
			struct json_object *o = json_object_array_get_idx(live, i);

			if (streq_ptr(json_object_get_string(json_object_object_get(o, "parent")),
				      name))
				json_object_array_add(mine, json_object_get(o));
		}
		if (mine && json_object_array_length(mine)) {
			json_object_put(live);
			live = TAKE_PTR(mine);
			entries = live;
		}
	}
	vbus_error_clear(d->ctx);
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
	*ret_found = d;
	return 1;
}

static int parent_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***ret_nodes,
			    sd_bus_error *error)
{
	struct vbusd *d = userdata;
	size_t n = 0;
	char **nodes;

	nodes = calloc((d->parents ? json_object_object_length(d->parents) : 0) + 1,
		       sizeof(char *));
	if (!nodes)
		return -ENOMEM;
	if (d->parents) {
		json_object_object_foreach(d->parents, key, val) {
			(void)val;
			if (strv_add_path(nodes, &n, VBUS_PARENT_PREFIX, key) < 0)
				return -ENOMEM;
		}
	}
	*ret_nodes = nodes;
	return 0;
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

/* ---- the model ----------------------------------------------------------------------------- */

static void device_free(struct device *dev)
{
	if (!dev)
		return;
	parsed_forget(dev);
	free(dev->name);
	free(dev->json);
	free(dev->parent);
	free(dev->sysfs_path);
	free(dev->bound_driver);
	free(dev);
}

static void device_entry_free(struct lh_entry *e)
{
	device_free((struct device *)lh_entry_v(e));
}

static struct lh_table *model_new(void)
{
	return lh_kchar_table_new(64, device_entry_free);
}

static void model_changed(struct vbusd *d)
{
	for (size_t i = 0; i < ELEMENTSOF(d->list_json); i++) {
		free(d->list_json[i]);
		d->list_json[i] = NULL;
		d->list_json_len[i] = 0;
		free(d->list_table[i]);
		d->list_table[i] = NULL;
		d->list_table_len[i] = 0;
	}
}

void objects_done(struct vbusd *d)
{
	model_changed(d);
	json_object_put(d->warnings);
	d->warnings = NULL;
	json_object_put(d->broken);
	d->broken = NULL;
	free(d->list_error_cause);
	d->list_error_cause = NULL;
	if (d->devices)
		lh_table_free(d->devices);
	d->devices = NULL;
	json_object_putp(&d->parents);
	d->parents = NULL;
}

static int strdup_key(struct json_object *o, const char *key, char **ret)
{
	struct json_object *v;

	*ret = NULL;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return 0;
	*ret = strdup(json_object_get_string(v));
	return *ret ? 0 : -ENOMEM;
}

static bool bool_key(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

/* O, rendered as an element of vbusctl -j's array: vbus_json_format() indented by two. */
static int render_element(struct json_object *o, char **ret)
{
	_cleanup_free_ char *s = NULL;
	size_t len, lines = 0, j = 0;
	char *out;
	int r;

	r = vbus_json_format(o, &s);
	if (r < 0)
		return r;
	len = strlen(s);
	if (len && s[len - 1] == '\n')
		s[--len] = 0;
	for (size_t i = 0; i < len; i++)
		lines += s[i] == '\n';
	out = malloc(len + 2 * (lines + 1) + 1);
	if (!out)
		return -ENOMEM;
	out[j++] = ' ';
	out[j++] = ' ';
	for (size_t i = 0; i < len; i++) {
		out[j++] = s[i];
		if (s[i] == '\n') {
			out[j++] = ' ';
			out[j++] = ' ';
		}
	}
	out[j] = 0;
	*ret = out;
	return 0;
}

/* A device of the model from an object of vbus_list_devices(), and its text when known. */
static int device_new(struct json_object *o, const char *text, size_t text_len, bool definition,
		      struct device **ret)
{
	struct device *dev = calloc(1, sizeof(*dev));
	struct json_object *v;
	int r;

	if (!dev)
		return -ENOMEM;
	dev->definition = definition;
	dev->defined = bool_key(o, "defined");
	dev->active = bool_key(o, "active");
	dev->start_auto = json_object_object_get_ex(o, "start", &v) &&
			  streq_ptr(json_object_get_string(v), "auto");
	r = strdup_key(o, "name", &dev->name);
	if (r >= 0 && !dev->name)
		r = -EINVAL;
	if (r >= 0)
		r = strdup_key(o, "parent", &dev->parent);
	if (r >= 0)
		r = strdup_key(o, "sysfs_path", &dev->sysfs_path);
	if (r >= 0)
		r = strdup_key(o, "bound_driver", &dev->bound_driver);
	if (r >= 0 && text) {
		dev->json = strndup(text, text_len);
		if (!dev->json)
			r = -ENOMEM;
	} else if (r >= 0)
		r = render_element(o, &dev->json);
	if (r < 0) {
		device_free(dev);
		return r;
	}
	*ret = dev;
	return 0;
}

/* Replaces (or adds) the device of DEV->name; the old one is freed. */
static int model_put(struct lh_table *t, struct device *dev)
{
	struct lh_entry *e = lh_table_lookup_entry(t, dev->name);

	if (e)
		lh_table_delete_entry(t, e);
	if (lh_table_insert(t, dev->name, dev) < 0) {
		device_free(dev);
		return -ENOMEM;
	}
	return 0;
}

static void model_delete(struct vbusd *d, const char *name)
{
	struct lh_entry *e = lh_table_lookup_entry(d->devices, name);

	if (e) {
		struct device *dev = (struct device *)lh_entry_v(e);

		if (!dev->definition && d->n_undefined)
			d->n_undefined--;
		lh_table_delete_entry(d->devices, e);
	}
}

/* ---- signals ------------------------------------------------------------------------------- */

/*
 * Every change is announced from a diff of the model (the state before and after a method, an
 * inotify event on devices.d, a kernel event), so a change made by another process reads the
 * same as one made through vbusd. Per name, in this order: DeviceDefined or DeviceModified,
 * DeviceUnbound, DeviceStopped, DeviceStarted, DeviceBound, DeviceUndefined; DeviceAdded before
 * them when the object appears, DeviceRemoved after them when it goes.
 */

/* The definition in a listing row: the keys before "active" (libvbus writes the definition,
 * then the runtime keys, "active" first), so that a device coming and going is no
 * modification. */
static bool is_runtime_key(const char *key)
{
	return streq(key, "active");
}

/* The keys of listing row O before its runtime ones, as a new object (NULL: out of memory). */
static struct json_object *definition_part(struct json_object *o)
{
	struct json_object *def = json_object_new_object();

	if (!def)
		return NULL;
	json_object_object_foreach(o, key, v) {
		if (is_runtime_key(key))
			break;
		if (json_object_object_add(def, key, json_object_get(v)) < 0) {
			json_object_put(def);
			return NULL;
		}
	}
	return def;
}

/* Whatever order the keys came in (a whole listing and one definition are written apart). */
static bool definition_equal(const struct device *a, const struct device *b)
{
	_cleanup_json_ struct json_object *x = device_object(a), *y = device_object(b);
	_cleanup_json_ struct json_object *dx = NULL, *dy = NULL;

	if (!x || !y)
		return false;
	dx = definition_part(x);
	dy = definition_part(y);
	return dx && dy && json_object_equal(dx, dy);
}

static const char *driver_of(const struct device *dev)
{
	return dev && dev->bound_driver && dev->bound_driver[0] ? dev->bound_driver : NULL;
}

static void emit_with_row(struct vbusd *d, const char *member, const char *name, const char *path,
			  const struct device *dev)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	_cleanup_json_ struct json_object *o = device_object(dev);

	if (o && sd_bus_message_new_signal(d->bus, &m, VBUS_MANAGER_PATH, VBUS_MANAGER_IFACE,
					   member) >= 0 &&
	    sd_bus_message_append(m, "so", name, path) >= 0 && bus_append_json_object(m, o) >= 0)
		(void)sd_bus_send(d->bus, m, NULL);
}

/*
 * The events of NAME going from one state to another. The definition before is A_DEF, the device
 * before A_RT, and after B_DEF and B_RT (each may be NULL: none). The device may be listed under
 * another name on one side (its identity, before a definition took it over or after it was
 * undefined): then it did not stop or start, only its name changed.
 */
static void emit_transitions(struct vbusd *d, const char *name, const char *path,
			     const struct device *a_def, const struct device *a_rt,
			     const struct device *b_def, const struct device *b_rt)
{
	bool a_defined = a_def && a_def->defined, b_defined = b_def && b_def->defined;
	bool a_active = a_rt && a_rt->active, b_active = b_rt && b_rt->active;
	const char *a_drv = driver_of(a_rt), *b_drv = driver_of(b_rt);

	if (!a_defined && b_defined)
		emit_with_row(d, "DeviceDefined", name, path, b_def);
	else if (a_defined && b_defined && !streq(a_def->json, b_def->json) &&
		 !definition_equal(a_def, b_def))
		emit_with_row(d, "DeviceModified", name, path, b_def);
	if (a_drv && !streq_ptr(a_drv, b_drv))
		(void)sd_bus_emit_signal(d->bus, VBUS_MANAGER_PATH, VBUS_MANAGER_IFACE,
					 "DeviceUnbound", "sos", name, path, a_drv);
	if (a_active && !b_active)
		(void)sd_bus_emit_signal(d->bus, VBUS_MANAGER_PATH, VBUS_MANAGER_IFACE,
					 "DeviceStopped", "so", name, path);
	if (!a_active && b_active)
		(void)sd_bus_emit_signal(d->bus, VBUS_MANAGER_PATH, VBUS_MANAGER_IFACE,
					 "DeviceStarted", "sos", name, path, b_rt->sysfs_path ?: "");
	if (b_drv && !streq_ptr(a_drv, b_drv))
		(void)sd_bus_emit_signal(d->bus, VBUS_MANAGER_PATH, VBUS_MANAGER_IFACE,
					 "DeviceBound", "sos", name, path, b_drv);
	if (a_defined && !b_defined)
		(void)sd_bus_emit_signal(d->bus, VBUS_MANAGER_PATH, VBUS_MANAGER_IFACE,
					 "DeviceUndefined", "so", name, path);
}

/* DEV's object appeared; its device was FROM's (another name) before, or new. */
static void emit_added(struct vbusd *d, const struct device *dev, const struct device *from)
{
	_cleanup_free_ char *path = device_path(dev->name);

	if (!path)
		return;
	(void)sd_bus_emit_object_added(d->bus, path);
	emit_with_row(d, "DeviceAdded", dev->name, path, dev);
	emit_transitions(d, dev->name, path, NULL, from, dev, dev);
}

/* DEV's object goes; its device lives on as TO's (another name), or not. Announced while the
 * object still exists: InterfacesRemoved reads it. */
static void emit_removed(struct vbusd *d, const struct device *dev, const struct device *to)
{
	_cleanup_free_ char *path = device_path(dev->name);

	if (!path)
		return;
	emit_transitions(d, dev->name, path, dev, dev, NULL, to);
	(void)sd_bus_emit_signal(d->bus, VBUS_MANAGER_PATH, VBUS_MANAGER_IFACE, "DeviceRemoved",
				 "so", dev->name, path);
	(void)sd_bus_emit_object_removed(d->bus, path);
}

/* OLD became NEW (same name); the device was FROM's before when not OLD's. */
static void emit_changed(struct vbusd *d, const struct device *old, const struct device *new,
			 const struct device *from)
{
	_cleanup_json_ struct json_object *a = NULL;
	struct json_object *b;
	_cleanup_free_ char *path = NULL;
	const char *changed[ELEMENTSOF(device_props) + 1];
	size_t n = 0;

	if (streq(old->json, new->json) && !from)
		return;
	path = device_path(new->name);
	a = device_object(old);
	b = device_parsed(new); /* the values of PropertiesChanged are read from it next */
	if (!path || !a || !b)
		return;
	for (size_t i = 0; i < ELEMENTSOF(device_props); i++)
		if (!json_object_equal(json_object_object_get(a, device_props[i].key),
				       json_object_object_get(b, device_props[i].key)))
			changed[n++] = device_props[i].property;
	changed[n] = NULL;
	if (n)
		(void)sd_bus_emit_properties_changed_strv(d->bus, path, VBUS_DEVICE_IFACE,
							  (char **)changed);
	emit_transitions(d, new->name, path, old, from ?: old, new, new);
}

void objects_emit_failed(struct vbusd *d, const char *name, const char *action, int err,
			 const char *cause)
{
	_cleanup_free_ char *path = name ? device_path(name) : NULL;
	const char *ename = vbus_bus_error_name(err);
	char buf[64];

	if (!path || !d->bus)
		return;
	if (!ename && err) {
		snprintf(buf, sizeof(buf), "System.Error.%s",
			 strerrorname_np(err < 0 ? -err : err) ?: "EIO");
		ename = buf;
	}
	(void)sd_bus_emit_signal(d->bus, VBUS_MANAGER_PATH, VBUS_MANAGER_IFACE, "DeviceFailed",
				 "sosss", name, path, action ?: "", ename ?: "",
				 cause ?: strerror(err < 0 ? -err : err));
}

void objects_emit_gave_up(struct vbusd *d, const char *name, const char *action,
			  unsigned attempts, const char *cause)
{
	_cleanup_free_ char *path = name ? device_path(name) : NULL;

	if (!path || !d->bus)
		return;
	(void)sd_bus_emit_signal(d->bus, VBUS_MANAGER_PATH, VBUS_MANAGER_IFACE, "DeviceGaveUp",
				 "sosus", name, path, action ?: "", attempts, cause ?: "");
}

/* ---- refresh ------------------------------------------------------------------------------- */

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

/*
 * A device listed without a definition is still listed under its own name when vbus started
 * it (transient, or undefined while running): it has a run record (lib/ops.c's RUN_DIR).
 * Active devices nobody defined, named by their identity, have none.
 */
bool run_record_exists(struct vbusd *d, const char *name)
{
	_cleanup_free_ char *p = vbus_pathf(d->ctx, "/run/vbus/%s.json", name);

	return p && access(p, F_OK) >= 0;
}

/*
 * The next element of a listing as vbus_list_devices_json() writes it ("[\n" ELEMENT ",\n"
 * ELEMENT "\n]\n"): each object is indented by two, and only its closing brace starts a
 * line with "  }" (nested values are indented deeper; strings hold no raw newline).
 */
static bool startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static struct json_object *parse_n(json_tokener *tok, const char *s, size_t len)
{
	json_tokener_reset(tok);
	return json_tokener_parse_ex(tok, s, (int)len);
}

static const char *next_element(const char *p, size_t *ret_len)
{
	const char *end = strstr(p, "\n  }");

	if (!end || !startswith(p, "  {"))
		return NULL;
	*ret_len = end + 4 - p;
	return p;
}

/* ---- what the listing warned about, and whether it could be read ------------------------------ */

/*
 * The warnings libvbus gives while listing (a definition file it cannot read, a damaged run
 * record) are what vbusctl --direct prints with every listing: vbusd keeps those of its last
 * full listing (the Warnings property), and vbusctl prints them with its listing. They are
 * collected whatever the log level, and still go to the log.
 */
static void capture_log(void *userdata, int level, const char *file, int line, const char *fn,
			const char *format, va_list args)
{
	struct capture *c = userdata;

	if (level <= VBUS_LOG_WARNING && c->lines) {
		_cleanup_free_ char *s = NULL;
		va_list aq;

		va_copy(aq, args);
		if (vasprintf(&s, format, aq) >= 0)
			(void)json_object_array_add(c->lines, json_object_new_string(s));
		va_end(aq);
	}
	if (c->fn && level <= c->level)
		c->fn(c->data, level, file, line, fn, format, args);
}

void capture_begin(struct vbusd *d, struct capture *c)
{
	*c = (struct capture){ .fn = d->ctx->log_fn, .data = d->ctx->log_data,
			       .level = d->ctx->log_level, .lines = json_object_new_array() };
	d->ctx->log_fn = capture_log;
	d->ctx->log_data = c;
	if (d->ctx->log_level < VBUS_LOG_WARNING)
		d->ctx->log_level = VBUS_LOG_WARNING;
}

struct json_object *capture_end(struct vbusd *d, struct capture *c)
{
	d->ctx->log_fn = c->fn;
	d->ctx->log_data = c->data;
	d->ctx->log_level = c->level;
	return TAKE_PTR(c->lines);
}

/* The warnings of a full listing become Warnings. */
static void listing_warnings(struct vbusd *d, struct json_object *lines)
{
	if (!lines)
		return;
	if (!d->warnings || !json_object_equal(d->warnings, lines)) {
		json_object_put(d->warnings);
		d->warnings = json_object_get(lines);
		if (d->bus)
			(void)sd_bus_emit_properties_changed(d->bus, VBUS_MANAGER_PATH,
							     VBUS_MANAGER_IFACE, "Warnings", NULL);
	}
	json_object_put(lines);
}

/* The definitions the last full listing left out (a file it warned about): after a change to one
 * of them, the whole listing is read again (its warning may go). Only looked for when there are
 * warnings: the usual case costs nothing. */
static void note_broken(struct vbusd *d)
{
	_cleanup_free_ char *dir = NULL;
	struct dirent *de;
	DIR *dh;

	json_object_put(d->broken);
	d->broken = NULL;
	if (!d->warnings || !json_object_array_length(d->warnings))
		return;
	d->broken = json_object_new_object();
	dir = vbus_path(d->ctx, "/etc/vbus/devices.d");
	dh = d->broken && dir ? opendir(dir) : NULL;
	while (dh && (de = readdir(dh))) {
		size_t len = strlen(de->d_name);
		_cleanup_free_ char *name = NULL;
		struct device *dev;

		if (len <= 5 || de->d_name[0] == '.' || !streq(de->d_name + len - 5, ".json"))
			continue;
		name = strndup(de->d_name, len - 5);
		if (!name || !vbus_name_is_valid(name))
			continue;
		dev = objects_get(d, name);
		if (!dev || !dev->defined)
			(void)json_object_object_add(d->broken, name, NULL);
	}
	if (dh)
		closedir(dh);
}

struct json_object *objects_warnings(struct vbusd *d)
{
	return d->warnings;
}

/* devices.d as the model last read it: the same directory (the inotify watch is on it), or
 * one that was removed, replaced, or is no directory at all. */
static void store_identity(struct vbusd *d, struct store_id *ret)
{
	_cleanup_free_ char *dir = vbus_path(d->ctx, "/etc/vbus/devices.d");
	struct stat st;

	*ret = (struct store_id){ .known = true };
	if (!dir || stat(dir, &st) < 0)
		ret->err = dir ? errno : ENOMEM;
	else {
		ret->dev = st.st_dev;
		ret->ino = st.st_ino;
		ret->mode = st.st_mode & S_IFMT;
	}
}

/* Before answering a listing: a devices.d that is not the one the model read (whose changes
 * inotify no longer reports) is read again, as vbusctl --direct would read it. */
static void objects_sync(struct vbusd *d)
{
	struct store_id now;

	store_identity(d, &now);
	if (!d->store.known || now.dev != d->store.dev || now.ino != d->store.ino ||
	    now.mode != d->store.mode || now.err != d->store.err || d->list_error)
		(void)objects_refresh(d);
}

/* ---- refresh ------------------------------------------------------------------------------- */

/* The entries of T with a sysfs path, by it (the table does not own them). */
static struct lh_table *by_path(struct lh_table *t)
{
	struct lh_table *m = lh_kchar_table_new(64, NULL);
	struct lh_entry *e;

	if (!m)
		return NULL;
	lh_foreach(t, e) {
		struct device *dev = (struct device *)lh_entry_v(e);

		if (dev->sysfs_path && lh_table_insert(m, dev->sysfs_path, dev) < 0) {
			lh_table_free(m);
			return NULL;
		}
	}
	return m;
}

static struct device *lookup(struct lh_table *t, const char *key)
{
	void *v;

	return t && key && lh_table_lookup_ex(t, key, &v) ? v : NULL;
}

int objects_refresh(struct vbusd *d)
{
	_cleanup_json_ struct json_object *parents = NULL;
	_cleanup_free_ char *text = NULL;
	json_tokener *tok = NULL;
	struct lh_table *new, *old = d->devices, *old_paths = NULL, *new_paths = NULL;
	struct lh_entry *e;
	struct capture c;
	size_t n_undefined = 0, len;
	bool first = !old;
	const char *p;
	int r;

	r = load_parents(d, &parents);
	if (r < 0)
		log_warning("Failed to list parents: %s",
			    vbus_ctx_last_error(d->ctx) ?: strerror(-r));
	else {
		json_object_put(d->parents);
		d->parents = TAKE_PTR(parents);
	}

	/* The text, not the objects: one object at a time is parsed, the model keeps its text. */
	store_identity(d, &d->store);
	capture_begin(d, &c);
	r = vbus_list_devices_json(d->ctx, VBUS_LIST_DEFINED | VBUS_LIST_ACTIVE, NULL, &text);
	listing_warnings(d, capture_end(d, &c));
	if (r < 0) {
		const char *cause = vbus_ctx_last_error(d->ctx) ?: strerror(-r);

		log_warning("Failed to list devices: %s", cause);
		/* Listings fail as vbusctl --direct's would, until it can be read again. */
		d->list_error = r;
		free(d->list_error_cause);
		d->list_error_cause = strdup(cause);
		model_changed(d);
		return r;
	}
	if (d->list_error) {
		d->list_error = 0;
		free(d->list_error_cause);
		d->list_error_cause = NULL;
		model_changed(d);
	}
	new = model_new();
	tok = json_tokener_new();
	if (!new || !tok) {
		r = -ENOMEM;
		goto fail;
	}
	p = startswith(text, "[\n") ? text + 2 : "";
	for (const char *el; (el = next_element(p, &len)); p = el + len + (el[len] == ',' ? 2 : 0)) {
		_cleanup_json_ struct json_object *o = NULL;
		struct device *dev;
		const char *name;
		bool definition;

		o = parse_n(tok, el, len);
		name = o ? json_object_get_string(json_object_object_get(o, "name")) : NULL;
		if (!name || lh_table_lookup_entry(new, name))
			continue;
		definition = bool_key(o, "defined") || run_record_exists(d, name);
		r = device_new(o, el, len, definition, &dev);
		if (r < 0)
			goto fail;
		if (!definition) {
			dev->seq = d->seq++;
			n_undefined++;
		}
		if (old) {
			struct device *o_dev = objects_get(d, dev->name);

			if (o_dev)
				dev->policy_seen = o_dev->policy_seen;
		}
		r = model_put(new, dev);
		if (r < 0)
			goto fail;
		if (el[len] != ',')
			break;
	}

	/* A device whose name changed (a definition took it over, or it was undefined and is
	 * listed by its identity again) is paired across by its sysfs path: it did not stop. */
	if (!first) {
		old_paths = by_path(old);
		new_paths = by_path(new);
		if (!old_paths || !new_paths) {
			r = -ENOMEM;
			goto fail;
		}
	}
	if (old)
		lh_foreach(old, e) {
			struct device *dev = (struct device *)lh_entry_v(e);
			struct device *to;

			if (lh_table_lookup_entry(new, lh_entry_k(e)))
				continue;
			to = lookup(new_paths, dev->sysfs_path);
			emit_removed(d, dev, to && !streq(to->name, dev->name) ? to : NULL);
		}
	d->devices = new;
	d->n_undefined = n_undefined;
	model_changed(d);
	if (!first)
		lh_foreach(new, e) {
			struct device *dev = (struct device *)lh_entry_v(e);
			struct lh_entry *oe = lh_table_lookup_entry(old, lh_entry_k(e));
			struct device *prev = oe ? (struct device *)lh_entry_v(oe) : NULL;
			struct device *from = NULL;

			/* Taken over from an entry that is gone (listed under another name). */
			if (!(prev && prev->active)) {
				from = lookup(old_paths, dev->sysfs_path);
				if (from && lh_table_lookup_entry(new, from->name))
					from = NULL;
			}
			if (!prev)
				emit_added(d, dev, from);
			else
				emit_changed(d, prev, dev, from);
		}
	if (old_paths)
		lh_table_free(old_paths);
	if (new_paths)
		lh_table_free(new_paths);
	if (old)
		lh_table_free(old);
	json_tokener_free(tok);
	note_broken(d);
	/* The listing's text and the old model were freed in pieces: give the pages back. */
	malloc_trim(0);
	return 0;
fail:
	if (old_paths)
		lh_table_free(old_paths);
	if (new_paths)
		lh_table_free(new_paths);
	if (tok)
		json_tokener_free(tok);
	if (new)
		lh_table_free(new);
	d->devices = old;
	return r;
}

/* The active device nobody defined at SYSFS_PATH, or NULL. */
static struct device *undefined_at(struct vbusd *d, const char *sysfs_path)
{
	struct lh_entry *e;

	if (!d->n_undefined || !sysfs_path)
		return NULL;
	lh_foreach(d->devices, e) {
		struct device *dev = (struct device *)lh_entry_v(e);

		if (!dev->definition && streq_ptr(dev->sysfs_path, sysfs_path))
			return dev;
	}
	return NULL;
}

int objects_refresh_name(struct vbusd *d, const char *name)
{
	_cleanup_json_ struct json_object *o = NULL;
	struct device *old, *dev = NULL, *taken;
	int r;

	/* Not read yet, unreadable, or NAME's file could not be read (its warning must go when
	 * it is fixed): the whole listing decides. */
	if (!d->devices || d->list_error ||
	    (d->broken && json_object_object_get_ex(d->broken, name, NULL)))
		return objects_refresh(d);
	r = vbus_list_definition(d->ctx, name, &o);
	if (r == -ENOMEM)
		return r;
	old = objects_get(d, name);
	if (r < 0) {
		/* Neither defined nor started by vbus. */
		_cleanup_free_ char *path = NULL;

		vbus_error_clear(d->ctx);
		/* A file that cannot be read: the listing leaves it out, with a warning. */
		if (r != -ENOENT)
			return objects_refresh(d);
		if (!old || !old->definition)
			return 0;
		path = old->active && old->sysfs_path ? vbus_path(d->ctx, old->sysfs_path) : NULL;
		/* Its device lives on, now under its identity: only the whole listing names
		 * it (and pairs the two). */
		if (path && access(path, F_OK) >= 0)
			return objects_refresh(d);
		emit_removed(d, old, NULL);
		model_delete(d, name);
		model_changed(d);
		return 0;
	}
	r = device_new(o, NULL, 0, true, &dev);
	if (r < 0)
		return r;
	json_object_put(TAKE_PTR(o));
	/* The active device nobody defined that this definition now holds leaves the model: it
	 * is announced as a change of name, not as a stop and a start. */
	taken = dev->active ? undefined_at(d, dev->sysfs_path) : NULL;
	if (taken == old)
		taken = NULL;
	if (taken)
		emit_removed(d, taken, dev);
	if (old) {
		struct lh_entry *e = lh_table_lookup_entry(d->devices, name);

		if (!old->definition && d->n_undefined)
			d->n_undefined--;
		dev->policy_seen = old->policy_seen;
		/* The object keeps its path: the entry takes the new device in place (same name,
		 * same hash), then the change is announced, its values read from the new one. */
		e->k = dev->name;
		lh_entry_set_val(e, dev);
		emit_changed(d, old, dev, old->active ? NULL : taken);
		device_free(old);
		r = 0;
	} else {
		r = model_put(d->devices, dev);
		if (r >= 0)
			emit_added(d, dev, taken);
	}
	if (taken)
		model_delete(d, taken->name);
	if (r < 0)
		return r;
	model_changed(d);
	return 0;
}

/* ---- the rendered listing ------------------------------------------------------------------ */

static bool device_listed(const struct device *dev, unsigned flags)
{
	if (dev->definition)
		return (flags & VBUS_LIST_DEFINED) || dev->active;
	return flags & VBUS_LIST_ACTIVE;
}

/* vbus_list_devices()'s order: stored definitions by file name (NAME.json, byte order), then
 * transient ones the same way, then the active devices nobody defined as they were listed. */
static int file_order(const char *a, const char *b)
{
	static const char ext[] = ".json";
	size_t la = strlen(a), lb = strlen(b);

	for (size_t i = 0;; i++) {
		unsigned char ca = i < la ? a[i] : i - la < sizeof(ext) - 1 ? ext[i - la] : 0;
		unsigned char cb = i < lb ? b[i] : i - lb < sizeof(ext) - 1 ? ext[i - lb] : 0;

		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (!ca)
			return 0;
	}
}

static int group_of(const struct device *dev)
{
	return dev->defined ? 0 : dev->definition ? 1 : 2;
}

static int device_cmp(const void *x, const void *y)
{
	const struct device *a = *(const struct device *const *)x;
	const struct device *b = *(const struct device *const *)y;
	int ga = group_of(a), gb = group_of(b);

	if (ga != gb)
		return ga < gb ? -1 : 1;
	if (ga == 2)
		return a->seq < b->seq ? -1 : a->seq > b->seq;
	return file_order(a->name, b->name);
}

/* "[\n" ELEMENT ",\n" ELEMENT "\n]\n", or "[]\n": what vbus_json_format() prints. */
static int join(struct device **devs, size_t n, char **ret, size_t *ret_len)
{
	size_t len = 3, j = 0;
	char *s;

	for (size_t i = 0; i < n; i++)
		len += strlen(devs[i]->json) + 2;
	s = malloc(len + 4);
	if (!s)
		return -ENOMEM;
	if (!n) {
		memcpy(s, "[]\n", 4);
		*ret = s;
		*ret_len = 3;
		return 0;
	}
	memcpy(s, "[\n", 2);
	j = 2;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(devs[i]->json);

		memcpy(s + j, devs[i]->json, l);
		j += l;
		memcpy(s + j, i + 1 < n ? ",\n" : "\n", i + 1 < n ? 2 : 1);
		j += i + 1 < n ? 2 : 1;
	}
	memcpy(s + j, "]\n", 3);
	j += 2;
	*ret = s;
	*ret_len = j;
	return 0;
}

/* The devices of a listing, in its order (the caller frees the array, not the devices). */
static int collect(struct vbusd *d, unsigned flags, const char *name, struct device ***ret,
		   size_t *ret_n, char **ret_error)
{
	_cleanup_free_ struct device **devs = NULL;
	struct lh_entry *e;
	size_t n = 0;

	if (d->list_error) {
		if (d->list_error_cause && asprintf(ret_error, "%s", d->list_error_cause) < 0)
			*ret_error = NULL;
		return d->list_error;
	}
	devs = calloc((d->devices ? d->devices->count : 0) + 1, sizeof(*devs));
	if (!devs)
		return -ENOMEM;
	if (name) {
		struct device *dev = objects_get(d, name);

		if (dev && device_listed(dev, flags))
			devs[n++] = dev;
		if (!n) {
			if (asprintf(ret_error, "'%s' is not %s", name,
				     flags & VBUS_LIST_DEFINED ? "defined" : "active") < 0)
				*ret_error = NULL;
			return -ENOENT;
		}
	} else if (d->devices)
		lh_foreach(d->devices, e) {
			struct device *dev = (struct device *)lh_entry_v(e);

			if (device_listed(dev, flags))
				devs[n++] = dev;
		}
	qsort(devs, n, sizeof(*devs), device_cmp);
	*ret = TAKE_PTR(devs);
	*ret_n = n;
	return 0;
}

static unsigned list_flags(unsigned flags)
{
	return (flags ?: VBUS_LIST_ACTIVE) & (VBUS_LIST_DEFINED | VBUS_LIST_ACTIVE);
}

int objects_list_json(struct vbusd *d, unsigned flags, const char *name, const char **ret,
		      size_t *ret_len, char **ret_error)
{
	_cleanup_free_ struct device **devs = NULL;
	size_t n = 0;
	unsigned slot;
	int r;

	objects_sync(d);
	flags = list_flags(flags);
	/* Slot 0 holds the last listing of one name; 1..3 the whole listing per flags. */
	slot = name ? 0 : flags;
	if (!name && d->list_json[slot]) {
		*ret = d->list_json[slot];
		*ret_len = d->list_json_len[slot];
		return 0;
	}
	r = collect(d, flags, name, &devs, &n, ret_error);
	if (r < 0)
		return r;
	free(d->list_json[slot]);
	d->list_json[slot] = NULL;
	r = join(devs, n, &d->list_json[slot], &d->list_json_len[slot]);
	if (r < 0)
		return r;
	*ret = d->list_json[slot];
	*ret_len = d->list_json_len[slot];
	return 0;
}

int objects_list_append(struct vbusd *d, unsigned flags, const char *name, sd_bus_message *m,
			char **ret_error)
{
	_cleanup_free_ struct device **devs = NULL;
	size_t n = 0;
	int r;

	objects_sync(d);
	r = collect(d, list_flags(flags), name, &devs, &n, ret_error);
	if (r < 0)
		return r;
	r = sd_bus_message_open_container(m, 'a', "a{sv}");
	for (size_t i = 0; r >= 0 && i < n; i++) {
		/* One object at a time: a big listing never exists as objects all at once. */
		_cleanup_json_ struct json_object *o = device_object(devs[i]);

		r = o ? bus_append_json_object(m, o) : -ENOMEM;
	}
	if (r < 0)
		return r;
	return sd_bus_message_close_container(m);
}

int objects_list_table(struct vbusd *d, unsigned flags, const char *name, const char **ret,
		       size_t *ret_len, char **ret_error)
{
	_cleanup_free_ struct device **devs = NULL;
	json_tokener *tok = NULL;
	struct table t;
	char *text = NULL;
	size_t len, n = 0;
	unsigned slot = name ? 0 : list_flags(flags);
	int r;

	objects_sync(d);
	if (!name && d->list_table[slot]) {
		*ret = d->list_table[slot];
		*ret_len = d->list_table_len[slot];
		return 0;
	}
	r = collect(d, list_flags(flags), name, &devs, &n, ret_error);
	if (r < 0)
		return r;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	r = table_init(&t, device_columns, n_device_columns);
	if (r < 0) {
		json_tokener_free(tok);
		return r;
	}
	/* One device parsed at a time, its cells copied: the table of 10 000 devices costs
	 * their cells, not 10 000 JSON objects at once. Once per change of the model. */
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct json_object *o = parse_n(tok, devs[i]->json, strlen(devs[i]->json));

		r = o ? table_add(&t, o, true) : -ENOMEM;
		json_object_put(o);
		json_tokener_reset(tok);
	}
	if (r >= 0)
		r = table_format(&t, &text);
	table_done(&t);
	json_tokener_free(tok);
	if (r < 0) {
		free(text);
		return r;
	}
	len = strlen(text);
	free(d->list_table[slot]);
	d->list_table[slot] = text;
	d->list_table_len[slot] = len;
	*ret = text;
	*ret_len = len;
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* /org/vbus1/device/NAME and /org/vbus1/parent/NAME: typed views of the model, and its signals. */
#include <dirent.h>
#include <malloc.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "output.h"
#include "sysfs.h"
#include "vbusd.h"

/* Device properties, and the keys of the listing's objects that say the same (a change of
 * one is a change of the other). */
static const struct {
	const char *property;
	const char *key;
} device_props[] = {
	{ "Name", "name" },
	{ "Kind", "kind" },
	{ "Parent", "parent" },
	{ "Type", "type" },
	{ "Uuid", "uuid" },
	{ "Index", "index" },
	{ "Driver", "driver" },
	{ "BoundDriver", "bound_driver" },
	{ "Active", "active" },
	{ "Defined", "defined" },
	{ "SysfsPath", "sysfs_path" },
	{ "Start", "start" },
	{ "Tags", "tags" },
	{ "WantedDriver", "wanted_driver" },
	{ "PciAddress", "pci_address" },
	{ "IommuGroup", "iommu_group" },
	{ "DeviceNodes", "device_nodes" },
	{ "Netdev", "netdev" },
	{ "Pending", "pending" },
};

char *device_path(const char *name)
{
	char *p = NULL;

	if (sd_bus_path_encode(VBUS_DEVICE_PREFIX, name, &p) < 0)
		return NULL;
	return p;
}

struct json_object *device_object(const struct device *dev)
{
	return json_tokener_parse(dev->json);
}

static int append_strv(sd_bus_message *reply, const char *const *v, size_t n)
{
	int r = sd_bus_message_open_container(reply, 'a', "s");

	for (size_t i = 0; r >= 0 && v && (n == SIZE_MAX ? v[i] != NULL : i < n); i++)
		r = sd_bus_message_append(reply, "s", v[i]);
	if (r < 0)
		return r;
	return sd_bus_message_close_container(reply);
}

/* The value of PROPERTY of M when it is one of the string properties (NULL: served as ""),
 * else false. What a client reads, for device_property_get() and property_differs(). */
static bool device_string_property(const char *property, const struct vbus_device *m,
				   const char **ret)
{
	bool def = vbus_device_has_definition(m);

	if (streq(property, "Kind"))
		*ret = vbus_kind_to_string(vbus_device_get_kind(m));
	else if (streq(property, "Parent"))
		*ret = vbus_device_get_parent(m);
	else if (streq(property, "Type"))
		*ret = vbus_device_get_type(m);
	else if (streq(property, "Uuid"))
		*ret = vbus_device_get_uuid(m);
	else if (streq(property, "Driver"))
		*ret = def ? vbus_device_get_driver(m) : NULL;
	else if (streq(property, "BoundDriver"))
		*ret = vbus_device_get_bound_driver(m);
	else if (streq(property, "SysfsPath"))
		*ret = vbus_device_get_sysfs_path(m);
	else if (streq(property, "Start"))
		*ret = def ? vbus_start_to_string(vbus_device_get_start(m)) : NULL;
	else if (streq(property, "WantedDriver"))
		*ret = vbus_device_get_wanted_driver(m);
	else if (streq(property, "PciAddress"))
		*ret = vbus_device_get_pci_address(m);
	else if (streq(property, "Netdev"))
		*ret = vbus_device_get_netdev(m);
	else
		return false;
	return true;
}

/* The properties read the device of the model (libvbus's struct vbus_device). */
static int device_property_get(sd_bus *bus, const char *path, const char *interface,
			       const char *property, sd_bus_message *reply, void *userdata,
			       sd_bus_error *error)
{
	struct device *dev = userdata;
	const struct vbus_device *m = dev->model;
	const char *s = NULL;

	if (streq(property, "Name"))
		return sd_bus_message_append(reply, "s", dev->name);
	if (streq(property, "Index"))
		return sd_bus_message_append(reply, "x", (int64_t)vbus_device_get_index(m));
	if (streq(property, "IommuGroup"))
		return sd_bus_message_append(reply, "x", (int64_t)vbus_device_get_iommu_group(m));
	if (streq(property, "Active"))
		return sd_bus_message_append(reply, "b", vbus_device_is_active(m));
	if (streq(property, "Defined"))
		return sd_bus_message_append(reply, "b", vbus_device_is_defined(m));
	if (streq(property, "DeviceNodes"))
		return append_strv(reply, vbus_device_get_device_nodes(m), SIZE_MAX);
	if (streq(property, "Tags")) {
		int r = sd_bus_message_open_container(reply, 'a', "s");

		for (size_t i = 0; r >= 0 && (s = vbus_device_get_tag(m, i)); i++)
			r = sd_bus_message_append(reply, "s", s);
		if (r < 0)
			return r;
		return sd_bus_message_close_container(reply);
	}
	if (streq(property, "Pending")) {
		unsigned pending = vbus_device_get_pending(m);
		const char *names[8];
		size_t n = 0;

		for (unsigned bit = 1; bit < _VBUS_PENDING_MAX && n < ELEMENTSOF(names); bit <<= 1)
			if (pending & bit)
				names[n++] = vbus_pending_to_string(bit);
		return append_strv(reply, names, n);
	}
	if (!device_string_property(property, m, &s))
		return -ENOENT;
	return sd_bus_message_append(reply, "s", s ?: "");
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
	DEVICE_PROP("Pending", "as"),
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
	vbus_device_unref(dev->model);
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

void objects_done(struct vbusd *d)
{
	json_object_put(d->warnings);
	d->warnings = NULL;
	json_object_put(d->broken);
	d->broken = NULL;
	free(d->list_error_cause);
	d->list_error_cause = NULL;
	free(d->order);
	d->order = NULL;
	d->n_order = d->n_order_allocated = 0;
	if (d->devices)
		lh_table_free(d->devices);
	d->devices = NULL;
	if (d->stacked_on)
		lh_table_free(d->stacked_on);
	d->stacked_on = NULL;
	json_object_putp(&d->parents);
	d->parents = NULL;
}

/* A device of the model from a device of the listing, with its JSON text as the listing's
 * document holds it (the renderer's, shared/output.c). */
static int device_new(const struct vbus_device *vd, bool definition, struct device **ret)
{
	struct device *dev = calloc(1, sizeof(*dev));
	const char *s;
	int r = 0;

	if (!dev)
		return -ENOMEM;
	dev->definition = definition;
	dev->defined = vbus_device_is_defined(vd);
	dev->active = vbus_device_is_active(vd);
	dev->start_auto = vbus_device_has_definition(vd) &&
			  vbus_device_get_start(vd) == VBUS_START_AUTO;
	dev->name = strdup(vbus_device_get_name(vd));
	if (!dev->name)
		r = -ENOMEM;
	if (r >= 0 && (s = vbus_device_get_parent(vd)) && !(dev->parent = strdup(s)))
		r = -ENOMEM;
	if (r >= 0 && (s = vbus_device_get_sysfs_path(vd)) && !(dev->sysfs_path = strdup(s)))
		r = -ENOMEM;
	if (r >= 0 && (s = vbus_device_get_bound_driver(vd)) && !(dev->bound_driver = strdup(s)))
		r = -ENOMEM;
	if (r >= 0)
		r = print_device_element(vd, &dev->json);
	dev->model = vbus_device_ref((struct vbus_device *)vd);
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

/*
 * The model in the listing's order (d->order), as libvbus lists it: stored definitions by
 * file name (NAME.json, byte order), then transient ones the same way, then the active
 * devices nobody defined as they were listed. Kept from the whole listing; one entry that
 * changes is taken out and put back at its place (a binary search), nothing is sorted.
 */
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

static int order_add(struct device ***order, size_t *n, size_t *allocated, size_t at,
		     struct device *dev)
{
	if (*n == *allocated) {
		size_t k = *allocated ? *allocated * 2 : 64;
		struct device **v = realloc(*order, k * sizeof(*v));

		if (!v)
			return -ENOMEM;
		*order = v;
		*allocated = k;
	}
	memmove(*order + at + 1, *order + at, (*n - at) * sizeof(**order));
	(*order)[at] = dev;
	(*n)++;
	return 0;
}

static void order_remove(struct vbusd *d, const struct device *dev)
{
	for (size_t i = 0; i < d->n_order; i++)
		if (d->order[i] == dev) {
			memmove(d->order + i, d->order + i + 1,
				(d->n_order - i - 1) * sizeof(*d->order));
			d->n_order--;
			return;
		}
}

/* DEV at its place: after everything of a lower group or, in its group, of a lower name; a
 * device nobody defined last. */
static int order_insert(struct vbusd *d, struct device *dev)
{
	int g = group_of(dev);
	size_t lo = 0, hi = d->n_order;

	if (g == 2)
		lo = hi;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int gm = group_of(d->order[mid]);

		if (gm < g || (gm == g && file_order(d->order[mid]->name, dev->name) <= 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return order_add(&d->order, &d->n_order, &d->n_order_allocated, lo, dev);
}

/* ---- stacks: the names definitions stand on ------------------------------------------------- */

static void stacked_key_free(struct lh_entry *e)
{
	free(lh_entry_k(e));
}

/* DEV (a definition standing on another, "parent": "@NAME") joins (DELTA 1) or leaves (-1) the
 * count of NAME. An index that cannot be kept is dropped: in_stack() scans instead. */
static void stacked_count(struct vbusd *d, const struct device *dev, int delta)
{
	struct lh_entry *e;
	uintptr_t n;
	char *key;

	if (!dev || !dev->parent || dev->parent[0] != '@' || !d->stacked_on)
		return;
	e = lh_table_lookup_entry(d->stacked_on, dev->parent + 1);
	if (e) {
		n = (uintptr_t)lh_entry_v(e) + delta;
		if (n == 0)
			lh_table_delete_entry(d->stacked_on, e);
		else
			lh_entry_set_val(e, (void *)n);
		return;
	}
	if (delta < 0)
		return;
	key = strdup(dev->parent + 1);
	if (!key || lh_table_insert(d->stacked_on, key, (void *)(uintptr_t)1) < 0) {
		free(key);
		lh_table_free(d->stacked_on);
		d->stacked_on = NULL;
	}
}

/* The index read again from the whole model. */
static void stacked_rebuild(struct vbusd *d)
{
	struct lh_entry *e;

	if (d->stacked_on)
		lh_table_free(d->stacked_on);
	d->stacked_on = d->devices ? lh_kchar_table_new(16, stacked_key_free) : NULL;
	if (d->devices)
		lh_foreach(d->devices, e)
			stacked_count(d, (struct device *)lh_entry_v(e), 1);
}

static void model_delete(struct vbusd *d, const char *name)
{
	struct lh_entry *e = lh_table_lookup_entry(d->devices, name);

	if (e) {
		struct device *dev = (struct device *)lh_entry_v(e);

		if (!dev->definition && d->n_undefined)
			d->n_undefined--;
		stacked_count(d, dev, -1);
		order_remove(d, dev);
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

/* The definition part of a row's text: what comes before its top-level "active" key (the
 * renderer writes the definition first, then the runtime keys, "active" first; a nested key is
 * indented deeper and a string's newline is escaped, so this finds only the top-level one).
 * Its length, or SIZE_MAX when the text has no such key. */
static size_t definition_text_len(const char *json)
{
	const char *p = strstr(json, "\n    \"active\": ");

	return p ? (size_t)(p - json) : SIZE_MAX;
}

/* A and B have the same definition. Their texts say so when their definition parts are the
 * same bytes (a start changes only the runtime keys): nothing is parsed. Else, whatever order
 * the keys came in, their objects are compared (a modification: rare). */
static bool definition_equal(const struct device *a, const struct device *b)
{
	_cleanup_json_ struct json_object *x = NULL, *y = NULL, *dx = NULL, *dy = NULL;
	size_t la = definition_text_len(a->json), lb = definition_text_len(b->json);

	if (la != SIZE_MAX && la == lb && memcmp(a->json, b->json, la) == 0)
		return true;
	x = device_object(a);
	y = device_object(b);
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

static bool strv_equal(const char *const *a, const char *const *b)
{
	for (; a && *a && b && *b; a++, b++)
		if (!streq(*a, *b))
			return false;
	return !(a && *a) && !(b && *b);
}

static bool tags_equal(const struct vbus_device *a, const struct vbus_device *b)
{
	for (size_t i = 0;; i++) {
		const char *x = vbus_device_get_tag(a, i), *y = vbus_device_get_tag(b, i);

		if (!x || !y)
			return !x && !y;
		if (!streq(x, y))
			return false;
	}
}

/* Whether property I of device_props[] reads differently on A and B: the values
 * device_property_get() serves, compared where they come from (no row parsed). */
static bool property_differs(size_t i, const struct vbus_device *a, const struct vbus_device *b)
{
	const char *p = device_props[i].property, *x, *y;

	if (device_string_property(p, a, &x) && device_string_property(p, b, &y))
		return !streq(x ?: "", y ?: "");
	if (streq(p, "Name"))
		return !streq(vbus_device_get_name(a), vbus_device_get_name(b));
	if (streq(p, "Index"))
		return vbus_device_get_index(a) != vbus_device_get_index(b);
	if (streq(p, "IommuGroup"))
		return vbus_device_get_iommu_group(a) != vbus_device_get_iommu_group(b);
	if (streq(p, "Active"))
		return vbus_device_is_active(a) != vbus_device_is_active(b);
	if (streq(p, "Defined"))
		return vbus_device_is_defined(a) != vbus_device_is_defined(b);
	if (streq(p, "Tags"))
		return !tags_equal(a, b);
	if (streq(p, "DeviceNodes"))
		return !strv_equal(vbus_device_get_device_nodes(a),
				   vbus_device_get_device_nodes(b));
	if (streq(p, "Pending"))
		return vbus_device_get_pending(a) != vbus_device_get_pending(b);
	return false;
}

/* OLD became NEW (same name); the device was FROM's before when not OLD's. The properties that
 * changed are found from the two devices of the model, not by parsing both rows (a start
 * changes every device's row: parsing them was half of vbusd's autostart). */
static void emit_changed(struct vbusd *d, const struct device *old, const struct device *new,
			 const struct device *from)
{
	_cleanup_free_ char *path = NULL;
	const char *changed[ELEMENTSOF(device_props) + 1];
	size_t n = 0;

	if (streq(old->json, new->json) && !from)
		return;
	path = device_path(new->name);
	if (!path || !old->model || !new->model)
		return;
	for (size_t i = 0; i < ELEMENTSOF(device_props); i++)
		if (property_differs(i, old->model, new->model))
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

/*
 * The number of the kernel's last uevent, read before a device's state is: the kernel sends a
 * uevent after the change it announces, so a uevent up to this number changed nothing that
 * read did not see (provision.c then skips reading it again). 0 when not known (a fake tree).
 */
static uint64_t kernel_seqnum(struct vbusd *d)
{
	uint64_t n = 0;

	if (sysfs_read_u64(d->ctx, "/sys/kernel/uevent_seqnum", &n) < 0) {
		vbus_error_clear(d->ctx);
		return 0;
	}
	return n;
}

static struct device *lookup(struct lh_table *t, const char *key)
{
	void *v;

	return t && key && lh_table_lookup_ex(t, key, &v) ? v : NULL;
}

int objects_refresh(struct vbusd *d)
{
	_cleanup_json_ struct json_object *parents = NULL;
	struct vbus_device **list = NULL;
	struct device **order = NULL;
	size_t n_order = 0, n_order_allocated = 0;
	struct lh_table *new = NULL, *old = d->devices, *old_paths = NULL, *new_paths = NULL;
	struct lh_entry *e;
	struct capture c;
	size_t n_undefined = 0, n_list = 0;
	bool first = !old;
	uint64_t seqnum;
	int r;

	r = load_parents(d, &parents);
	if (r < 0)
		log_warning("Failed to list parents: %s",
			    vbus_ctx_last_error(d->ctx) ?: strerror(-r));
	else {
		json_object_put(d->parents);
		d->parents = TAKE_PTR(parents);
	}

	store_identity(d, &d->store);
	seqnum = kernel_seqnum(d);
	capture_begin(d, &c);
	r = vbus_list_devices(d->ctx, VBUS_LIST_DEFINED | VBUS_LIST_ACTIVE, NULL, &list, &n_list);
	listing_warnings(d, capture_end(d, &c));
	if (r < 0) {
		const char *cause = vbus_ctx_last_error(d->ctx) ?: strerror(-r);

		log_warning("Failed to list devices: %s", cause);
		/* Listings fail as vbusctl --direct's would, until it can be read again. */
		d->list_error = r;
		free(d->list_error_cause);
		d->list_error_cause = strdup(cause);
		return r;
	}
	if (d->list_error) {
		d->list_error = 0;
		free(d->list_error_cause);
		d->list_error_cause = NULL;
	}
	new = model_new();
	if (!new) {
		r = -ENOMEM;
		goto fail;
	}
	d->has_templates = false;
	for (size_t i = 0; i < n_list; i++) {
		const char *name = vbus_device_get_name(list[i]);
		struct device *dev;
		bool definition;

		for (size_t k = 0; k < vbus_device_get_n_extras(list[i]) && !d->has_templates; k++) {
			const char *key = NULL;

			d->has_templates = vbus_device_get_extra(list[i], k, &key, NULL) >= 0 &&
					   streq_ptr(key, "template");
		}

		if (lh_table_lookup_entry(new, name))
			continue;
		/* A device listed without a definition is still listed under its own name when
		 * vbus started it (transient, or undefined while running): it has a run record.
		 * Active devices nobody defined, named by their identity, have none. */
		definition = vbus_device_is_defined(list[i]) || vbus_run_exists(d->ctx, name);
		r = device_new(list[i], definition, &dev);
		if (r < 0)
			goto fail;
		dev->seqnum = seqnum;
		if (!definition)
			n_undefined++;
		if (old) {
			struct device *o_dev = objects_get(d, dev->name);

			if (o_dev)
				dev->policy_seen = o_dev->policy_seen;
		}
		r = model_put(new, dev);
		if (r < 0)
			goto fail;
		r = order_add(&order, &n_order, &n_order_allocated, n_order, dev);
		if (r < 0)
			goto fail;
	}
	vbus_device_list_free(TAKE_PTR(list), n_list);

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
	stacked_rebuild(d);
	free(d->order);
	d->order = TAKE_PTR(order);
	d->n_order = n_order;
	d->n_order_allocated = n_order_allocated;
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
	note_broken(d);
	/* The listing's text and the old model were freed in pieces: give the pages back. */
	malloc_trim(0);
	return 0;
fail:
	vbus_device_list_free(list, n_list);
	free(order);
	if (old_paths)
		lh_table_free(old_paths);
	if (new_paths)
		lh_table_free(new_paths);
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

/* NAME stands on a definition ("parent": "@...") or one stands on it. */
static bool in_stack(struct vbusd *d, const char *name)
{
	struct device *self = objects_get(d, name);
	struct lh_entry *e;

	if (self && self->parent && self->parent[0] == '@')
		return true;
	if (d->stacked_on)
		return lh_table_lookup_entry(d->stacked_on, name) != NULL;
	lh_foreach(d->devices, e) {
		struct device *dev = (struct device *)lh_entry_v(e);

		if (dev->parent && dev->parent[0] == '@' && streq(dev->parent + 1, name))
			return true;
	}
	return false;
}

/* NAME's entry read again; SAME_DEFINITION: its definition file is not (the model's is). */
static int refresh_name(struct vbusd *d, const char *name, bool same_definition)
{
	struct vbus_device *o = NULL;
	struct device *old, *dev = NULL, *taken;
	const struct vbus_def *stored;
	uint64_t seqnum;
	int r;

	/* Not read yet, unreadable, or NAME's file could not be read (its warning must go when
	 * it is fixed): the whole listing decides. */
	if (!d->devices || d->list_error || d->has_templates ||
	    (d->broken && json_object_object_get_ex(d->broken, name, NULL)))
		return objects_refresh(d);
	/* A stack changes together (starting an mdev on @vf-a starts vf-a, stopping vf-a stops
	 * what stands on it): the whole listing. */
	if (in_stack(d, name))
		return objects_refresh(d);
	old = objects_get(d, name);
	stored = same_definition && old ? vbus_device_stored_def(old->model) : NULL;
	seqnum = kernel_seqnum(d);
	r = stored ? vbus_list_stored_definition(d->ctx, stored, &o)
		   : vbus_list_definition(d->ctx, name, &o);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		/* Neither defined nor started by vbus. */
		_cleanup_free_ char *path = NULL;

		vbus_error_clear(d->ctx);
		/* A file that cannot be read: the listing leaves it out, with a warning. */
		if (r != -ENOENT)
			return objects_refresh(d);
		/* Not in the model: maybe a template (lib/select.c) whose devices are. */
		if (!old)
			return objects_refresh(d);
		if (!old->definition)
			return 0;
		path = old->active && old->sysfs_path ? vbus_path(d->ctx, old->sysfs_path) : NULL;
		/* Its device lives on, now under its identity: only the whole listing names
		 * it (and pairs the two). */
		if (path && access(path, F_OK) >= 0)
			return objects_refresh(d);
		emit_removed(d, old, NULL);
		model_delete(d, name);
		return 0;
	}
	r = device_new(o, true, &dev);
	vbus_device_unref(o);
	if (r < 0)
		return r;
	dev->seqnum = seqnum;
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
		stacked_count(d, old, -1);
		stacked_count(d, dev, 1);
		order_remove(d, old);
		r = order_insert(d, dev);
		emit_changed(d, old, dev, old->active ? NULL : taken);
		device_free(old);
	} else {
		r = model_put(d->devices, dev);
		if (r >= 0) {
			stacked_count(d, dev, 1);
			r = order_insert(d, dev);
		}
		if (r >= 0)
			emit_added(d, dev, taken);
	}
	if (taken)
		model_delete(d, taken->name);
	if (r < 0)
		return r;
	return 0;
}

int objects_refresh_name(struct vbusd *d, const char *name)
{
	return refresh_name(d, name, false);
}

int objects_refresh_runtime(struct vbusd *d, const char *name)
{
	return refresh_name(d, name, true);
}

/* ---- the rendered listing ------------------------------------------------------------------ */

static bool device_listed(const struct device *dev, unsigned flags)
{
	if (dev->definition)
		return (flags & VBUS_LIST_DEFINED) || dev->active;
	return flags & VBUS_LIST_ACTIVE;
}

/* The devices of a listing, in its order (the caller frees the array, not the devices). */
static int collect(struct vbusd *d, unsigned flags, const char *name, struct device ***ret,
		   size_t *ret_n, char **ret_error)
{
	_cleanup_free_ struct device **devs = NULL;
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
	} else
		for (size_t i = 0; i < d->n_order; i++)
			if (device_listed(d->order[i], flags))
				devs[n++] = d->order[i];
	*ret = TAKE_PTR(devs);
	*ret_n = n;
	return 0;
}

static unsigned list_flags(unsigned flags)
{
	return (flags ?: VBUS_LIST_ACTIVE) & (VBUS_LIST_DEFINED | VBUS_LIST_ACTIVE);
}

/* Writes the N buffers of IOV whole (a short write goes on where it stopped). */
static int writev_all(int fd, struct iovec *iov, size_t n)
{
	while (n > 0) {
		ssize_t k = writev(fd, iov, (int)n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		for (; n > 0 && (size_t)k >= iov->iov_len; iov++, n--)
			k -= (ssize_t)iov->iov_len;
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + k;
			iov->iov_len -= (size_t)k;
		}
	}
	return 0;
}

#define IOV_STR(s) ((struct iovec){.iov_base = (void *)(s), .iov_len = strlen(s)})

/*
 * The document, "[\n" ELEMENT ",\n" ELEMENT "\n]\n" or "[]\n" (what vbus_json_format()
 * prints), written from each device's own JSON straight into a sealed memfd: the whole
 * document never exists on vbusd's heap (at 10 000 devices it was 4 MiB kept per flags, and
 * copied into the memfd at each call).
 */
int objects_list_fd(struct vbusd *d, unsigned flags, const char *name, int *ret_fd,
		    char **ret_error)
{
	_cleanup_free_ struct device **devs = NULL;
	_cleanup_close_ int fd = -1;
	struct iovec iov[1024];
	size_t n = 0, k = 0;
	int r;

	objects_sync(d);
	r = collect(d, list_flags(flags), name, &devs, &n, ret_error);
	if (r < 0)
		return r;
	fd = memfd_create("vbus-list", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	iov[k++] = IOV_STR(n ? "[\n" : "[]\n");
	for (size_t i = 0; i < n; i++) {
		if (k + 3 > ELEMENTSOF(iov)) {
			r = writev_all(fd, iov, k);
			if (r < 0)
				return r;
			k = 0;
		}
		iov[k++] = IOV_STR(devs[i]->json);
		iov[k++] = IOV_STR(i + 1 < n ? ",\n" : "\n]\n");
	}
	r = writev_all(fd, iov, k);
	if (r < 0)
		return r;
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		return -errno;
	*ret_fd = fd;
	fd = -1;
	return 0;
}

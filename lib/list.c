// SPDX-License-Identifier: LGPL-2.1-or-later
/* Listings: parents and types (JSON arrays), and devices: the model, struct vbus_device. */
#include <stdio.h>

#include "vbus-private.h"

typedef int (*list_op)(struct vbus_ctx *ctx, const char *parent, struct json_object *out);

static int list_each(struct vbus_ctx *ctx, const char *parent, bool types, struct json_object **ret)
{
	_cleanup_json_ struct json_object *arr = json_object_new_array();
	int r;

	vbus_error_clear(ctx);
	if (!arr)
		return -ENOMEM;
	for (int k = 0; k < _VBUS_KIND_MAX; k++) {
		const struct vbus_backend *be = vbus_ctx_backend(ctx, k);
		list_op op;

		if (!be)
			continue;
		op = types ? be->list_types : be->list_parents;
		if (!op)
			continue;
		r = op(ctx, parent, arr);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			/* One kind that cannot be read must not hide the others. */
			warn(ctx, "Cannot list %s of kind %s: %s", types ? "types" : "parents",
			     vbus_kind_to_string(k), vbus_ctx_last_error(ctx) ?: strerror(-r));
			vbus_error_clear(ctx);
		}
	}
	if (parent && json_object_array_length(arr) == 0 && !types)
		return vbus_error(ctx, -ENODEV,
				  "parent %s is not present or cannot create sub-devices", parent);
	*ret = TAKE_PTR(arr);
	return 0;
}

VBUS_EXPORT int vbus_list_parents(struct vbus_ctx *ctx, const char *parent,
				  struct json_object **ret)
{
	return list_each(ctx, parent, false, ret);
}

VBUS_EXPORT int vbus_list_types(struct vbus_ctx *ctx, const char *parent, struct json_object **ret)
{
	_cleanup_json_ struct json_object *parents = NULL;
	int r;

	/* An unknown parent is an error, a parent without free types an empty list. */
	if (parent) {
		r = list_each(ctx, parent, false, &parents);
		if (r < 0)
			return r;
	}
	return list_each(ctx, parent, true, ret);
}

/* Whether the backend maps CHOICE to a driver name for DEF by reading only: for pci and sf,
 * virtbus and vf "host" means probing (it rebinds), which a listing must never do. */
static bool resolve_is_pure(const struct vbus_def *def, const char *choice)
{
	switch (def->kind) {
	case VBUS_KIND_MDEV:
	case VBUS_KIND_VDPA:
		return true;
	case VBUS_KIND_PCI:
	case VBUS_KIND_VF:
		return streq(choice, VBUS_DRIVER_VFIO);
	default:
		return false;
	}
}

/* The backend's resolution of CHOICE for DEF, remembered in MEMO (NULL: not) for a device that
 * is not ACTIVE: any inactive one of its kind, parent and type gets the same answer (its
 * kind's driver for that parent), which some kinds find only by reading every device of the
 * parent (mdev): one lookup per definition of a listing instead. */
static int resolve_memo(struct vbus_ctx *ctx, const struct vbus_backend *be,
			const struct vbus_def *def, const char *choice, bool active,
			struct json_object *memo, char **ret)
{
	_cleanup_free_ char *key = NULL;
	struct json_object *v;
	int r;

	if (memo && !active)
		key = vbus_strjoin(vbus_kind_to_string(def->kind) ?: "", "|", def->parent ?: "", "|",
				   def->type ?: "", "|", choice, NULL);
	if (key && json_object_object_get_ex(memo, key, &v)) {
		*ret = v ? strdup(json_object_get_string(v)) : NULL;
		return v && !*ret ? -ENOMEM : 0;
	}
	r = be->resolve_driver(ctx, def, choice, ret);
	if (r >= 0 && key)
		json_object_object_add(memo, key, *ret ? json_object_new_string(*ret) : NULL);
	return r;
}

static char *wanted_driver(struct vbus_ctx *ctx, const struct vbus_def *def, bool active,
			   struct json_object *memo)
{
	const struct vbus_backend *be = vbus_ctx_backend(ctx, def->kind);
	_cleanup_free_ char *choice = NULL, *driver = NULL;
	char *saved = vbus_error_take(ctx);
	int level = ctx->log_level, r = 0;

	/* Quietly: a broken policy file is named by the decisions that use it (start, vbusd),
	 * not by every listing (whose text must not depend on who lists). */
	if (level > VBUS_LOG_ERR)
		ctx->log_level = VBUS_LOG_ERR;
	if (!def->driver || streq(def->driver, VBUS_DRIVER_AUTO))
		r = vbus_policy_resolve_driver(ctx, def, &choice);
	else
		choice = strdup(def->driver);
	if (r >= 0 && choice && be && be->resolve_driver &&
	    (streq(choice, VBUS_DRIVER_VFIO) || streq(choice, VBUS_DRIVER_HOST)) &&
	    resolve_is_pure(def, choice)) {
		r = resolve_memo(ctx, be, def, choice, active, memo, &driver);
		if (r >= 0 && !driver)
			driver = strdup(VBUS_DRIVER_NONE);
	}
	/* Only for display: a failure here is no failure of the listing. */
	ctx->log_level = level;
	vbus_error_restore(ctx, saved);
	if (driver)
		return TAKE_PTR(driver);
	return choice ? TAKE_PTR(choice) : strdup(def->driver ?: VBUS_DRIVER_AUTO);
}

char *vbus_wanted_driver(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	return wanted_driver(ctx, def, true, NULL);
}

static const char *json_str(struct json_object *v)
{
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static const char *str_key(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The runtime keys of definition DEF. LISTED: the caller ran list_active() and SEEN is its
 * entry with DEF's identity, or NULL; when the kind's listing is complete that is the status,
 * otherwise status() asks the kernel. RT points into SEEN or ST (vbus_status_done() it). */
static void def_runtime(struct vbus_ctx *ctx, const struct vbus_def *def, bool defined,
			bool listed, struct json_object *seen, struct json_object *wants,
			struct vbus_status *st, struct vbus_access *acc, char **want,
			struct vbus_runtime *rt)
{
	const struct vbus_backend *be = vbus_ctx_backend(ctx, def->kind);
	const char *path = NULL;

	*st = (struct vbus_status){};
	*rt = (struct vbus_runtime){ .defined = defined, .access = acc };
	if (be && listed && be->status_in_list) {
		rt->active = seen && !streq_ptr(str_key(seen, "state"), "inactive");
		if (rt->active) {
			rt->driver = str_key(seen, "bound_driver");
			path = str_key(seen, "sysfs_path");
		}
	} else if (be && be->status) {
		if (be->status(ctx, def, st) < 0) {
			/* A broken parent must not hide the rest of the list. */
			dbg(ctx, "status of '%s': %s", def->name, vbus_ctx_last_error(ctx) ?: "");
			vbus_error_clear(ctx);
			vbus_status_done(st);
			*st = (struct vbus_status){};
		}
		rt->active = st->active;
		rt->driver = st->bound_driver;
		path = st->sysfs_path;
	}
	rt->sysfs_path = path ? vbus_path_display(ctx, path) : NULL;
	vbus_access_read(ctx, def->kind, rt->active ? rt->sysfs_path : NULL, rt->driver, acc);
	*want = wanted_driver(ctx, def, rt->active, wants);
	rt->wanted_driver = *want;
}

/* ---- the model ------------------------------------------------------------------------------ */

struct vbus_device {
	unsigned n_ref;
	/* The definition, or, for an active device nobody defined, its identity (name, kind,
	 * parent, type, uuid, index) in the same fields. */
	struct vbus_def *def;
	bool definition, active, defined;
	char *bound_driver, *sysfs_path, *wanted_driver;
	char **extra_keys, **extra_json; /* the other keys, their values as compact JSON */
	size_t n_extras;
	/* NULL when nothing is known (no address, group, netdev or node: every defined device
	 * that is not running); node_ptrs point into it. */
	struct vbus_access *access;
	unsigned pending;
};

static struct vbus_device *device_free(struct vbus_device *dev)
{
	vbus_def_free(dev->def);
	free(dev->bound_driver);
	free(dev->sysfs_path);
	free(dev->wanted_driver);
	free(dev->access);
	for (size_t i = 0; i < dev->n_extras; i++) {
		free(dev->extra_keys[i]);
		free(dev->extra_json[i]);
	}
	free(dev->extra_keys);
	free(dev->extra_json);
	free(dev);
	return NULL;
}

VBUS_EXPORT struct vbus_device *vbus_device_ref(struct vbus_device *dev)
{
	if (dev)
		dev->n_ref++;
	return dev;
}

VBUS_EXPORT struct vbus_device *vbus_device_unref(struct vbus_device *dev)
{
	if (!dev || --dev->n_ref > 0)
		return NULL;
	return device_free(dev);
}

VBUS_EXPORT void vbus_device_list_free(struct vbus_device **devices, size_t n)
{
	for (size_t i = 0; devices && i < n; i++)
		vbus_device_unref(devices[i]);
	free(devices);
}

static inline void vbus_device_unrefp(struct vbus_device **p)
{
	vbus_device_unref(*p);
}
#define _cleanup_device_ _cleanup_(vbus_device_unrefp)

static int device_alloc(struct vbus_def *def, struct vbus_device **ret)
{
	struct vbus_device *dev = calloc(1, sizeof(*dev));

	if (!dev)
		return -ENOMEM;
	dev->n_ref = 1;
	dev->def = def;
	*ret = dev;
	return 0;
}

static int strdup_opt(const char *s, char **ret)
{
	*ret = NULL;
	if (!s)
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

static int add_extra(struct vbus_device *dev, const char *key, struct json_object *v)
{
	const int flags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
	char **k = realloc(dev->extra_keys, (dev->n_extras + 1) * sizeof(*k));
	char **j;

	if (!k)
		return -ENOMEM;
	dev->extra_keys = k;
	j = realloc(dev->extra_json, (dev->n_extras + 1) * sizeof(*j));
	if (!j)
		return -ENOMEM;
	dev->extra_json = j;
	k[dev->n_extras] = strdup(key);
	j[dev->n_extras] = strdup(v ? json_object_to_json_string_ext(v, flags) : "null");
	if (!k[dev->n_extras] || !j[dev->n_extras]) {
		free(k[dev->n_extras]);
		free(j[dev->n_extras]);
		return -ENOMEM;
	}
	dev->n_extras++;
	return 0;
}

static bool access_is_empty(const struct vbus_access *a)
{
	return !a->pci_address[0] && a->iommu_group < 0 && !a->netdev[0] && a->n_nodes == 0 &&
	       !a->vfio && !a->vhost_vdpa;
}

/* The runtime part of DEV from RT. */
static int device_set_runtime(struct vbus_device *dev, const struct vbus_runtime *rt)
{
	int r;

	dev->active = rt->active;
	dev->defined = rt->defined;
	r = strdup_opt(rt->driver, &dev->bound_driver);
	if (r >= 0)
		r = strdup_opt(rt->sysfs_path, &dev->sysfs_path);
	if (r >= 0)
		r = strdup_opt(rt->wanted_driver, &dev->wanted_driver);
	if (r < 0)
		return r;
	if (rt->access && !access_is_empty(rt->access)) {
		struct vbus_access *a = malloc(sizeof(*a));

		if (!a)
			return -ENOMEM;
		*a = *rt->access;
		for (size_t i = 0; i < a->n_nodes; i++)
			a->node_ptrs[i] = a->nodes[i];
		a->node_ptrs[a->n_nodes] = NULL;
		dev->access = a;
	}
	return 0;
}

/* The fields a running device differs in from its stored definition. */
static unsigned pending_of(const struct vbus_def *stored, const struct vbus_def *running)
{
	unsigned p = 0;

	if (!running)
		return 0;
	if (!streq_ptr(stored->parent, running->parent))
		p |= VBUS_PENDING_PARENT;
	if (!streq_ptr(stored->type, running->type))
		p |= VBUS_PENDING_TYPE;
	if (running->uuid && !streq_ptr(stored->uuid, running->uuid))
		p |= VBUS_PENDING_UUID;
	if (!streq(stored->driver ?: VBUS_DRIVER_AUTO, running->driver ?: VBUS_DRIVER_AUTO))
		p |= VBUS_PENDING_DRIVER;
	if (stored->n_attrs != running->n_attrs)
		p |= VBUS_PENDING_ATTRS;
	else
		for (size_t i = 0; i < stored->n_attrs; i++)
			if (!streq(stored->attrs[i].key, running->attrs[i].key) ||
			    !streq(stored->attrs[i].value, running->attrs[i].value)) {
				p |= VBUS_PENDING_ATTRS;
				break;
			}
	return p;
}

/* A device of the model for definition DEF (taken) with RT; RUNNING: the definition its run
 * record says it was started with, or NULL. */
static int device_from_def(struct vbus_def *def, const struct vbus_runtime *rt,
			   const struct vbus_def *running, struct vbus_device **ret)
{
	_cleanup_device_ struct vbus_device *dev = NULL;
	int r;

	r = device_alloc(def, &dev);
	if (r < 0) {
		vbus_def_free(def);
		return r;
	}
	dev->definition = true;
	if (def->extra) {
		json_object_object_foreach (def->extra, key, v) {
			if (vbus_def_key_is_reserved(key))
				continue;
			r = add_extra(dev, key, v);
			if (r < 0)
				return r;
		}
	}
	r = device_set_runtime(dev, rt);
	if (r < 0)
		return r;
	if (rt->active && rt->defined)
		dev->pending = pending_of(def, running);
	*ret = TAKE_PTR(dev);
	return 0;
}

/* The keys a listing's object has of its own, sorted (strcmp): identity (name ... index), runtime
 * (active ... pending), and those of the definition schema (SCHEMA: only a definition's). */
enum listing_key {
	K_ACTIVE, K_ATTRS, K_BOUND_DRIVER, K_DEFINED, K_DEVICE_NODES, K_DRIVER, K_INDEX,
	K_IOMMU_GROUP, K_KIND, K_NAME, K_NETDEV, K_PARENT, K_PCI_ADDRESS, K_PENDING, K_START,
	K_SYSFS_PATH, K_TAGS, K_TYPE, K_UUID, K_VERSION, K_WANTED_DRIVER, _K_MAX
};

static const struct {
	const char *name;
	bool schema;
} listing_keys[_K_MAX] = {
	[K_ACTIVE] = { "active" },		[K_ATTRS] = { "attrs", true },
	[K_BOUND_DRIVER] = { "bound_driver" },	[K_DEFINED] = { "defined" },
	[K_DEVICE_NODES] = { "device_nodes" },	[K_DRIVER] = { "driver", true },
	[K_INDEX] = { "index" },		[K_IOMMU_GROUP] = { "iommu_group" },
	[K_KIND] = { "kind" },			[K_NAME] = { "name" },
	[K_NETDEV] = { "netdev" },		[K_PARENT] = { "parent" },
	[K_PCI_ADDRESS] = { "pci_address" },	[K_PENDING] = { "pending" },
	[K_START] = { "start", true },		[K_SYSFS_PATH] = { "sysfs_path" },
	[K_TAGS] = { "tags", true },		[K_TYPE] = { "type" },
	[K_UUID] = { "uuid" },			[K_VERSION] = { "version", true },
	[K_WANTED_DRIVER] = { "wanted_driver" },
};

/* KEY's entry in listing_keys, or -1. One binary search, the first byte deciding most steps
 * without a call: the document of 10 000 devices vbusctl reads back has 200 000 keys. */
static int listing_key(const char *key)
{
	int lo = 0, hi = _K_MAX - 1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		const char *name = listing_keys[mid].name;
		int c = (unsigned char)key[0] - (unsigned char)name[0];

		if (c == 0)
			c = strcmp(key, name);
		if (c == 0)
			return mid;
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return -1;
}

/*
 * The identity fields of an object of a listing (an active device of list_active(), or an
 * element of a listing's JSON), into DEV's definition-shaped copy, in one pass over its keys:
 * the listing's own keys (with DEV->definition, also the schema's) into VAL by listing_key(),
 * the others to DEV's extras in their order.
 */
static int device_identity(struct vbus_device *dev, struct json_object *o,
			   struct json_object *val[_K_MAX])
{
	struct vbus_def *def = dev->def;
	int r;

	json_object_object_foreach (o, key, value) {
		int k = listing_key(key);

		if (k >= 0 && (dev->definition || !listing_keys[k].schema)) {
			val[k] = value;
			continue;
		}
		r = add_extra(dev, key, value);
		if (r < 0)
			return r;
	}
	def->kind = vbus_kind_from_string(json_str(val[K_KIND]) ?: "");
	r = strdup_opt(json_str(val[K_NAME]), &def->name);
	if (r >= 0)
		r = strdup_opt(json_str(val[K_PARENT]), &def->parent);
	if (r >= 0)
		r = strdup_opt(json_str(val[K_TYPE]), &def->type);
	if (r >= 0)
		r = strdup_opt(json_str(val[K_UUID]), &def->uuid);
	if (r < 0)
		return r;
	if (json_object_is_type(val[K_INDEX], json_type_int))
		def->index = json_object_get_int64(val[K_INDEX]);
	return def->name ? 0 : -EINVAL;
}

/* An active device nobody defined, from object O of list_active(), with RT. */
static int device_from_active(struct json_object *o, const struct vbus_runtime *rt,
			      struct vbus_device **ret)
{
	_cleanup_device_ struct vbus_device *dev = NULL;
	struct json_object *val[_K_MAX] = {};
	struct vbus_def *def;
	int r;

	r = vbus_def_new(&def);
	if (r < 0)
		return r;
	r = device_alloc(def, &dev);
	if (r < 0) {
		vbus_def_free(def);
		return r;
	}
	r = device_identity(dev, o, val);
	if (r >= 0)
		r = device_set_runtime(dev, rt);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(dev);
	return 0;
}

static const char *const pending_names[] = { "parent", "type", "uuid", "attrs", "driver" };

VBUS_EXPORT const char *vbus_pending_to_string(unsigned bit)
{
	for (size_t i = 0; i < ELEMENTSOF(pending_names); i++)
		if (bit == 1u << i)
			return pending_names[i];
	return NULL;
}

/* S (NULL: "") into the buffer D of SIZE bytes, cut to fit (what snprintf("%s") does, at a
 * tenth of its cost: two of these a device of a listing). */
static void copy_cut(char *d, size_t size, const char *s)
{
	size_t n = s ? strnlen(s, size - 1) : 0;

	memcpy(d, s ?: "", n);
	d[n] = '\0';
}

/* An element of a listing's JSON (what vbusd serves) as a device of the model: one pass over
 * its keys (a lookup per key, the others kept as extras in their order). */
int vbus_device_from_json(struct json_object *o, struct vbus_device **ret)
{
	_cleanup_device_ struct vbus_device *dev = NULL;
	struct json_object *val[_K_MAX] = {}, *v;
	struct vbus_def *def;
	struct vbus_runtime rt = {};
	struct vbus_access acc = { .iommu_group = -1 };
	int r;

	if (!json_object_is_type(o, json_type_object))
		return -EINVAL;
	r = vbus_def_new(&def);
	if (r < 0)
		return r;
	r = device_alloc(def, &dev);
	if (r < 0) {
		vbus_def_free(def);
		return r;
	}
	dev->definition = json_object_object_get_ex(o, "version", NULL);
	r = device_identity(dev, o, val);
	if (r < 0)
		return r;
	if (dev->definition) {
		r = strdup_opt(json_str(val[K_DRIVER]), &def->driver);
		if (r < 0)
			return r;
		def->start = vbus_start_from_string(json_str(val[K_START]) ?: "auto");
		if ((v = val[K_ATTRS]))
			for (size_t i = 0; i < json_object_array_length(v); i++) {
				json_object_object_foreach (json_object_array_get_idx(v, i), akey,
							    aval) {
					r = vbus_def_add_attr(def, akey, json_str(aval) ?: "");
					if (r < 0)
						return r;
				}
			}
		if ((v = val[K_TAGS]))
			for (size_t i = 0; i < json_object_array_length(v); i++) {
				r = vbus_def_add_tag(def,
						     json_str(json_object_array_get_idx(v, i)) ?: "");
				if (r < 0)
					return r;
			}
	}
	rt.active = val[K_ACTIVE] && json_object_get_boolean(val[K_ACTIVE]);
	rt.defined = val[K_DEFINED] && json_object_get_boolean(val[K_DEFINED]);
	rt.driver = json_str(val[K_BOUND_DRIVER]);
	rt.sysfs_path = json_str(val[K_SYSFS_PATH]);
	rt.wanted_driver = json_str(val[K_WANTED_DRIVER]);
	copy_cut(acc.pci_address, sizeof(acc.pci_address), json_str(val[K_PCI_ADDRESS]));
	copy_cut(acc.netdev, sizeof(acc.netdev), json_str(val[K_NETDEV]));
	if (json_object_is_type(val[K_IOMMU_GROUP], json_type_int))
		acc.iommu_group = json_object_get_int(val[K_IOMMU_GROUP]);
	if ((v = val[K_DEVICE_NODES]))
		for (size_t i = 0;
		     i < json_object_array_length(v) && acc.n_nodes < VBUS_ACCESS_MAX_NODES; i++)
			copy_cut(acc.nodes[acc.n_nodes++], sizeof(acc.nodes[0]),
				 json_str(json_object_array_get_idx(v, i)));
	rt.access = &acc;
	r = device_set_runtime(dev, &rt);
	if (r < 0)
		return r;
	if ((v = val[K_PENDING]))
		for (size_t i = 0; i < json_object_array_length(v); i++)
			for (size_t j = 0; j < ELEMENTSOF(pending_names); j++)
				if (streq_ptr(json_str(json_object_array_get_idx(v, i)),
					      pending_names[j]))
					dev->pending |= 1u << j;
	*ret = TAKE_PTR(dev);
	return 0;
}

/* ---- accessors --------------------------------------------------------------------------- */

VBUS_EXPORT const char *vbus_device_get_name(const struct vbus_device *dev)
{
	return dev->def->name;
}

VBUS_EXPORT enum vbus_kind vbus_device_get_kind(const struct vbus_device *dev)
{
	return dev->def->kind;
}

VBUS_EXPORT const char *vbus_device_get_parent(const struct vbus_device *dev)
{
	return dev->def->parent;
}

VBUS_EXPORT const char *vbus_device_get_type(const struct vbus_device *dev)
{
	return dev->def->type;
}

VBUS_EXPORT const char *vbus_device_get_uuid(const struct vbus_device *dev)
{
	return dev->def->uuid;
}

VBUS_EXPORT int64_t vbus_device_get_index(const struct vbus_device *dev)
{
	return dev->def->index;
}

VBUS_EXPORT bool vbus_device_has_definition(const struct vbus_device *dev)
{
	return dev->definition;
}

const struct vbus_def *vbus_device_stored_def(const struct vbus_device *dev)
{
	return dev && dev->definition && dev->defined ? dev->def : NULL;
}

VBUS_EXPORT const char *vbus_device_get_driver(const struct vbus_device *dev)
{
	return dev->definition ? dev->def->driver ?: VBUS_DRIVER_AUTO : NULL;
}

VBUS_EXPORT enum vbus_start vbus_device_get_start(const struct vbus_device *dev)
{
	return dev->definition ? dev->def->start : _VBUS_START_INVALID;
}

VBUS_EXPORT size_t vbus_device_get_n_attrs(const struct vbus_device *dev)
{
	return dev->def->n_attrs;
}

VBUS_EXPORT int vbus_device_get_attr(const struct vbus_device *dev, size_t i, const char **ret_key,
				     const char **ret_value)
{
	if (i >= dev->def->n_attrs)
		return -ERANGE;
	if (ret_key)
		*ret_key = dev->def->attrs[i].key;
	if (ret_value)
		*ret_value = dev->def->attrs[i].value;
	return 0;
}

VBUS_EXPORT size_t vbus_device_get_n_tags(const struct vbus_device *dev)
{
	return dev->def->n_tags;
}

VBUS_EXPORT const char *vbus_device_get_tag(const struct vbus_device *dev, size_t i)
{
	return i < dev->def->n_tags ? dev->def->tags[i] : NULL;
}

VBUS_EXPORT size_t vbus_device_get_n_extras(const struct vbus_device *dev)
{
	return dev->n_extras;
}

VBUS_EXPORT int vbus_device_get_extra(const struct vbus_device *dev, size_t i, const char **ret_key,
				      const char **ret_json)
{
	if (i >= dev->n_extras)
		return -ERANGE;
	if (ret_key)
		*ret_key = dev->extra_keys[i];
	if (ret_json)
		*ret_json = dev->extra_json[i];
	return 0;
}

VBUS_EXPORT bool vbus_device_is_active(const struct vbus_device *dev)
{
	return dev->active;
}

VBUS_EXPORT bool vbus_device_is_defined(const struct vbus_device *dev)
{
	return dev->defined;
}

VBUS_EXPORT const char *vbus_device_get_bound_driver(const struct vbus_device *dev)
{
	return dev->bound_driver;
}

VBUS_EXPORT const char *vbus_device_get_sysfs_path(const struct vbus_device *dev)
{
	return dev->sysfs_path;
}

VBUS_EXPORT const char *vbus_device_get_wanted_driver(const struct vbus_device *dev)
{
	return dev->wanted_driver;
}

VBUS_EXPORT const char *vbus_device_get_pci_address(const struct vbus_device *dev)
{
	return dev->access && dev->access->pci_address[0] ? dev->access->pci_address : NULL;
}

VBUS_EXPORT int vbus_device_get_iommu_group(const struct vbus_device *dev)
{
	return dev->access ? dev->access->iommu_group : -1;
}

VBUS_EXPORT const char *const *vbus_device_get_device_nodes(const struct vbus_device *dev)
{
	static const char *const none[] = { NULL };

	return dev->access ? dev->access->node_ptrs : none;
}

VBUS_EXPORT const char *vbus_device_get_netdev(const struct vbus_device *dev)
{
	return dev->access && dev->access->netdev[0] ? dev->access->netdev : NULL;
}

VBUS_EXPORT unsigned vbus_device_get_pending(const struct vbus_device *dev)
{
	return dev->pending;
}

/* ---- listing ----------------------------------------------------------------------------- */

struct devices {
	struct vbus_device **v;
	size_t n, allocated;
};

static int devices_add(struct devices *l, struct vbus_device *dev)
{
	if (l->n == l->allocated) {
		size_t n = l->allocated ? l->allocated * 2 : 16;
		struct vbus_device **v = realloc(l->v, n * sizeof(*v));

		if (!v) {
			vbus_device_unref(dev);
			return -ENOMEM;
		}
		l->v = v;
		l->allocated = n;
	}
	l->v[l->n++] = dev;
	return 0;
}

static bool name_matches(struct json_object *o, const char *name)
{
	return !name || streq_ptr(str_key(o, "name"), name);
}

/*
 * A stacked definition ("@NAME") without a run record (not started by vbus, or killed before
 * its start wrote its record: the intent is still a line of the journal, folded by the next
 * call that takes the lock): where its parent runs now, as *RESOLVED, when it does; else DEF.
 */
static const struct vbus_def *stack_unrecorded(struct vbus_ctx *ctx, const struct vbus_def *def,
					       struct vbus_def **resolved)
{
	if (!vbus_stack_ref(def))
		return def;
	if (vbus_stack_resolve(ctx, def, resolved) >= 0)
		return *resolved;
	vbus_error_clear(ctx);
	return def;
}

static int list_devices(struct vbus_ctx *ctx, unsigned flags, const char *name,
			struct devices *out)
{
	_cleanup_json_ struct json_object *active = NULL;
	_cleanup_json_ struct json_object *by_identity = NULL, *stored_names = NULL, *run_names = NULL;
	_cleanup_json_ struct json_object *wants = json_object_new_object();
	struct vbus_def **defs = NULL;
	struct vbus_run *runs = NULL;
	size_t n_defs = 0, n_runs = 0, n_active = 0;
	bool *matched = NULL;
	int r;

	vbus_error_clear(ctx);
	if (!flags)
		flags = VBUS_LIST_ACTIVE;
	/* policy.d checked once, then the same policy for every entry. */
	vbus_policy_pin(ctx);

	r = vbus_store_load_all(ctx, false, &defs, &n_defs);
	if (r < 0)
		goto out;
	r = vbus_run_load_all(ctx, &runs, &n_runs);
	if (r < 0)
		goto out;

	active = json_object_new_array();
	if (!active) {
		r = -ENOMEM;
		goto out;
	}
	for (int kd = 0; kd < _VBUS_KIND_MAX; kd++) {
		const struct vbus_backend *be = vbus_ctx_backend(ctx, kd);

		if (!be || !be->list_active)
			continue;
		r = be->list_active(ctx, active);
		if (r == -ENOMEM)
			goto out;
		if (r < 0) {
			warn(ctx, "Cannot list active devices of kind %s: %s",
			     vbus_kind_to_string(kd), vbus_ctx_last_error(ctx) ?: strerror(-r));
			vbus_error_clear(ctx);
		}
	}
	n_active = json_object_array_length(active);
	matched = calloc(n_active + 1, sizeof(*matched));
	/* identity -> index in ACTIVE, the stored names, name -> run record: one lookup per
	 * definition, so a listing stays linear in definitions and devices. */
	by_identity = json_object_new_object();
	stored_names = json_object_new_object();
	run_names = json_object_new_object();
	if (!matched || !by_identity || !stored_names || !run_names) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t j = 0; j < n_active; j++) {
		_cleanup_free_ char *key = vbus_active_identity(json_object_array_get_idx(active, j));

		if (key && !json_object_object_get_ex(by_identity, key, NULL))
			json_object_object_add(by_identity, key, json_object_new_int64(j));
	}
	/* Only a run record's name is looked up in it. */
	for (size_t j = 0; n_runs > 0 && j < n_defs; j++)
		json_object_object_add(stored_names, defs[j]->name, NULL);
	for (size_t j = 0; j < n_runs; j++)
		if (runs[j].def)
			json_object_object_add(run_names, runs[j].def->name, json_object_new_int64(j));

	/* Definitions first (stored, then transient ones), by name. */
	for (size_t i = 0; i < n_defs + n_runs; i++) {
		_cleanup_def_ struct vbus_def *resolved = NULL;
		struct vbus_def *def, **slot;
		const struct vbus_def *running = NULL, *as;
		struct vbus_def probe, run_view;
		bool defined = i < n_defs;
		struct json_object *seen = NULL, *j;
		struct vbus_status st;
		struct vbus_access acc;
		struct vbus_runtime rt;
		struct vbus_device *dev;
		char *want;

		slot = defined ? &defs[i] : &runs[i - n_defs].def;
		def = *slot;
		if (!def)
			continue;
		as = def;
		/* Started by vbus and not (or no longer) defined: transient, or undefined while
		 * running. It keeps its name until it is stopped. */
		if (!defined && json_object_object_get_ex(stored_names, def->name, NULL))
			continue;
		if (defined && n_runs > 0 && json_object_object_get_ex(run_names, def->name, &j)) {
			const struct vbus_run *run = &runs[json_object_get_int64(j)];

			running = run->def;
			/* Stacked ("@NAME"): it runs on the device its parent definition made,
			 * where it is matched; its "@NAME" is no pending change. */
			if (vbus_stack_ref(def) &&
			    streq_ptr(run->stacked_on, vbus_stack_ref(def))) {
				probe = *def;
				probe.parent = running->parent;
				as = &probe;
				run_view = *running;
				run_view.parent = def->parent;
				running = &run_view;
			}
		}
		if (defined && !running && n_active > 0)
			as = stack_unrecorded(ctx, def, &resolved);
		if (n_active > 0) {
			_cleanup_free_ char *key = vbus_def_identity(as);

			if (key && json_object_object_get_ex(by_identity, key, &j)) {
				matched[json_object_get_int64(j)] = true;
				seen = json_object_array_get_idx(active, json_object_get_int64(j));
			}
		}
		if (name && !streq(def->name, name))
			continue;
		def_runtime(ctx, as, defined, true, seen, wants, &st, &acc, &want, &rt);
		r = 0;
		if (rt.active || (flags & VBUS_LIST_DEFINED)) {
			*slot = NULL;
			/* The wanted driver is handed over, not copied. */
			rt.wanted_driver = NULL;
			r = device_from_def(def, &rt, running, &dev);
			if (r >= 0) {
				dev->wanted_driver = TAKE_PTR(want);
				r = devices_add(out, dev);
			}
		}
		vbus_status_done(&st);
		free(want);
		if (r < 0)
			goto out;
	}

	/* Then what is active without a definition (made by hand, by mdevctl, ...). */
	if (flags & VBUS_LIST_ACTIVE) {
		for (size_t j = 0; j < n_active; j++) {
			struct json_object *o = json_object_array_get_idx(active, j);
			struct vbus_access acc;
			struct vbus_runtime rt = { .active = true, .access = &acc };
			struct vbus_device *dev;

			if (matched[j] || !name_matches(o, name))
				continue;
			rt.driver = str_key(o, "bound_driver");
			rt.sysfs_path = str_key(o, "sysfs_path");
			if (rt.sysfs_path)
				rt.sysfs_path = vbus_path_display(ctx, rt.sysfs_path);
			vbus_access_read(ctx, vbus_kind_from_string(str_key(o, "kind") ?: ""),
					 rt.sysfs_path, rt.driver, &acc);
			r = device_from_active(o, &rt, &dev);
			if (r >= 0)
				r = devices_add(out, dev);
			if (r < 0)
				goto out;
		}
	}

	if (name && out->n == 0) {
		r = vbus_error(ctx, -ENOENT, "'%s' is not %s", name,
			       flags & VBUS_LIST_DEFINED ? "defined" : "active");
		goto out;
	}
	r = 0;
out:
	vbus_policy_unpin(ctx);
	free(matched);
	vbus_defs_free(defs, n_defs);
	for (size_t i = 0; i < n_runs; i++)
		vbus_run_done(&runs[i]);
	free(runs);
	return r;
}

VBUS_EXPORT int vbus_list_devices(struct vbus_ctx *ctx, unsigned flags, const char *name,
				  struct vbus_device ***ret, size_t *ret_n)
{
	struct devices l = {};
	int r;

	r = list_devices(ctx, flags, name, &l);
	if (r < 0) {
		vbus_device_list_free(l.v, l.n);
		return r;
	}
	if (!l.v && !(l.v = calloc(1, sizeof(*l.v))))
		return -ENOMEM;
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

/* One definition (stored or transient) with its runtime fields, alone. */
static int def_device(struct vbus_ctx *ctx, struct vbus_def *def, bool defined,
		      const struct vbus_run *run, struct vbus_device **ret)
{
	_cleanup_def_ struct vbus_def *resolved = NULL;
	const struct vbus_def *running = run ? run->def : NULL, *as = def;
	struct vbus_def probe, run_view;
	struct vbus_status st;
	struct vbus_access acc;
	struct vbus_runtime rt;
	char *want;
	int r;

	/* Stacked: as in list_devices(). */
	if (running && vbus_stack_ref(def) && streq_ptr(run->stacked_on, vbus_stack_ref(def))) {
		probe = *def;
		probe.parent = running->parent;
		as = &probe;
		run_view = *running;
		run_view.parent = def->parent;
		running = &run_view;
	} else if (defined && !running) {
		as = stack_unrecorded(ctx, def, &resolved);
	}
	def_runtime(ctx, as, defined, false, NULL, NULL, &st, &acc, &want, &rt);
	r = device_from_def(def, &rt, running, ret);
	vbus_status_done(&st);
	free(want);
	return r;
}

/*
 * STORED's entry as vbus_list_definition() gives it, from STORED as a listing read it from the
 * store (its file is not read again): its run record and its status are. For a caller that knows
 * the definition did not change since (vbusd after its own starts, inotify telling it of any
 * write to the store).
 */
int vbus_list_stored_definition(struct vbus_ctx *ctx, const struct vbus_def *stored,
				struct vbus_device **ret)
{
	struct vbus_def *def = NULL;
	struct vbus_run run = {};
	int r, rr;

	vbus_error_clear(ctx);
	r = vbus_def_dup(stored, &def);
	if (r < 0)
		return r;
	rr = vbus_run_load(ctx, stored->name, &run);
	vbus_error_clear(ctx);
	r = def_device(ctx, def, true, rr >= 0 ? &run : NULL, ret);
	if (rr >= 0)
		vbus_run_done(&run);
	return r;
}

/*
 * NAME as vbus_list_devices(ctx, DEFINED | ACTIVE, NAME) shows it when it is a definition
 * (stored, else a device vbus started that is not defined), without listing anything else:
 * one file read and one status, whatever the number of definitions (vbusd refreshes one
 * entry of its model with it after a change). -ENOENT when NAME is neither: it may still be
 * an active device nobody defined, which only the whole listing tells.
 */
int vbus_list_definition(struct vbus_ctx *ctx, const char *name, struct vbus_device **ret)
{
	struct vbus_def *def = NULL;
	struct vbus_run run = {};
	int r, rr;

	vbus_error_clear(ctx);
	r = vbus_def_load(ctx, name, &def);
	if (r < 0 && r != -ENOENT)
		return r;
	/* A template (lib/select.c) is no device: the whole listing shows its devices. */
	if (r >= 0 && vbus_def_is_template(def)) {
		vbus_def_free(def);
		return vbus_error(ctx, -EISDIR, "'%s' stands for a device on each matching parent",
				  name);
	}
	vbus_error_clear(ctx);
	rr = vbus_run_load(ctx, name, &run);
	if (r >= 0) {
		vbus_error_clear(ctx);
		r = def_device(ctx, def, true, rr >= 0 ? &run : NULL, ret);
	} else if (rr < 0) {
		r = rr == -ENOENT ? vbus_error(ctx, -ENOENT, "'%s' is not defined", name) : rr;
	} else {
		r = def_device(ctx, TAKE_PTR(run.def), false, NULL, ret);
	}
	if (rr >= 0)
		vbus_run_done(&run);
	return r;
}

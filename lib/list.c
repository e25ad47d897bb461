// SPDX-License-Identifier: LGPL-2.1-or-later
/* Listings: parents, types and devices, each one JSON array (the model both renderers print). */
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

static struct json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static int set_runtime(struct json_object *o, const struct vbus_runtime *rt)
{
	const struct vbus_access *a = rt->access;
	struct json_object *nodes = json_object_new_array();

	for (size_t i = 0; nodes && a && i < a->n_nodes; i++)
		if (json_object_array_add(nodes, json_object_new_string(a->nodes[i])) < 0) {
			json_object_put(nodes);
			return -ENOMEM;
		}
	if (!nodes ||
	    json_object_object_add(o, "active", json_object_new_boolean(rt->active)) < 0 ||
	    json_object_object_add(o, "defined", json_object_new_boolean(rt->defined)) < 0 ||
	    json_object_object_add(o, "bound_driver", str_or_null(rt->driver)) < 0 ||
	    json_object_object_add(o, "sysfs_path", str_or_null(rt->sysfs_path)) < 0 ||
	    json_object_object_add(o, "wanted_driver", str_or_null(rt->wanted_driver)) < 0 ||
	    json_object_object_add(o, "pci_address",
				   str_or_null(a && a->pci_address[0] ? a->pci_address : NULL)) < 0 ||
	    json_object_object_add(o, "iommu_group",
				   a && a->iommu_group >= 0 ? json_object_new_int(a->iommu_group) :
							      NULL) < 0 ||
	    json_object_object_add(o, "device_nodes", nodes) < 0 ||
	    json_object_object_add(o, "netdev", str_or_null(a && a->netdev[0] ? a->netdev : NULL)) < 0)
		return -ENOMEM;
	return 0;
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

char *vbus_wanted_driver(struct vbus_ctx *ctx, const struct vbus_def *def)
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
		r = be->resolve_driver(ctx, def, choice, &driver);
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
			bool listed, struct json_object *seen, struct vbus_status *st,
			struct vbus_access *acc, char **want, struct vbus_runtime *rt)
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
	*want = vbus_wanted_driver(ctx, def);
	rt->wanted_driver = *want;
}

/* One definition (stored or transient) with its runtime fields, as a JSON object. */
static int def_entry(struct vbus_ctx *ctx, const struct vbus_def *def, bool defined, bool listed,
		     struct json_object *seen, struct json_object **ret)
{
	_cleanup_json_ struct json_object *o = NULL;
	struct vbus_status st;
	struct vbus_access acc;
	struct vbus_runtime rt;
	char *want;
	int r;

	r = vbus_def_to_json(def, &o);
	if (r < 0)
		return r;
	def_runtime(ctx, def, defined, listed, seen, &st, &acc, &want, &rt);
	r = set_runtime(o, &rt);
	vbus_status_done(&st);
	free(want);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

static bool name_matches(struct json_object *o, const char *name)
{
	struct json_object *v;

	return !name ||
	       (json_object_object_get_ex(o, "name", &v) && streq(json_object_get_string(v), name));
}

/* Where a listing goes: a JSON array, or the JSON text of that array, written as it goes. */
struct sink {
	struct json_object *arr;
	struct vbus_text *text;
	vbus_list_fn fn;
	void *userdata;
	size_t n;
};

static void entry_access(struct vbus_list_entry *e, const struct vbus_access *a)
{
	e->pci_address = a->pci_address[0] ? a->pci_address : NULL;
	e->iommu_group = a->iommu_group;
	e->device_nodes = a->node_ptrs;
	e->netdev = a->netdev[0] ? a->netdev : NULL;
}

static int sink_def(struct sink *k, const struct vbus_def *def, const struct vbus_runtime *rt)
{
	_cleanup_json_ struct json_object *o = NULL;
	int r;

	if (k->fn) {
		struct vbus_list_entry e = {
			.def = def,
			.active = rt->active,
			.defined = rt->defined,
			.bound_driver = rt->driver,
			.sysfs_path = rt->sysfs_path,
			.wanted_driver = rt->wanted_driver,
			.iommu_group = -1,
		};

		if (rt->access)
			entry_access(&e, rt->access);

		k->n++;
		return k->fn(k->userdata, &e);
	}
	if (k->text) {
		vbus_text_put(k->text, k->n++ ? ",\n  " : "[\n  ", 4);
		return vbus_text_def(k->text, def, 2, rt);
	}
	r = vbus_def_to_json(def, &o);
	if (r < 0)
		return r;
	r = set_runtime(o, rt);
	if (r < 0)
		return r;
	if (json_object_array_add(k->arr, o) < 0)
		return -ENOMEM;
	TAKE_PTR(o);
	return 0;
}

/* O: an entry of list_active(), its runtime keys already moved last; A: its access. */
static int sink_active(struct sink *k, struct json_object *o, const struct vbus_access *a)
{
	if (k->fn) {
		struct json_object *v;
		struct vbus_list_entry e = {
			.object = o,
			.active = true,
			.bound_driver = json_object_object_get_ex(o, "bound_driver", &v) ?
						json_object_get_string(v) :
						NULL,
			.sysfs_path = json_object_object_get_ex(o, "sysfs_path", &v) ?
					      json_object_get_string(v) :
					      NULL,
			.iommu_group = -1,
		};

		entry_access(&e, a);
		k->n++;
		return k->fn(k->userdata, &e);
	}
	if (k->text) {
		vbus_text_put(k->text, k->n++ ? ",\n  " : "[\n  ", 4);
		vbus_text_json(k->text, o, 2);
		return k->text->oom ? -ENOMEM : 0;
	}
	if (json_object_array_add(k->arr, json_object_get(o)) < 0) {
		json_object_put(o);
		return -ENOMEM;
	}
	return 0;
}

static int list_devices(struct vbus_ctx *ctx, unsigned flags, const char *name, struct sink *k)
{
	_cleanup_json_ struct json_object *active = NULL;
	_cleanup_json_ struct json_object *by_identity = NULL, *stored_names = NULL;
	struct vbus_def **defs = NULL;
	struct vbus_run *runs = NULL;
	size_t n_defs = 0, n_runs = 0, n_active = 0;
	bool *matched = NULL;
	int r;

	vbus_error_clear(ctx);
	if (!flags)
		flags = VBUS_LIST_ACTIVE;

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
	/* identity -> index in ACTIVE, and the stored names: one lookup per definition, so a
	 * listing stays linear in definitions and devices. */
	by_identity = json_object_new_object();
	stored_names = json_object_new_object();
	if (!matched || !by_identity || !stored_names) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t j = 0; j < n_active; j++) {
		_cleanup_free_ char *key = vbus_active_identity(json_object_array_get_idx(active, j));

		if (key && !json_object_object_get_ex(by_identity, key, NULL))
			json_object_object_add(by_identity, key, json_object_new_int64(j));
	}
	for (size_t j = 0; j < n_defs; j++)
		json_object_object_add(stored_names, defs[j]->name, NULL);

	/* Definitions first (stored, then transient ones), by name. */
	for (size_t i = 0; i < n_defs + n_runs; i++) {
		const struct vbus_def *def;
		bool defined = i < n_defs;
		struct json_object *seen = NULL;
		struct vbus_status st;
		struct vbus_access acc;
		struct vbus_runtime rt;
		char *want;

		if (defined) {
			def = defs[i];
		} else {
			/* Started by vbus and not (or no longer) defined: transient, or undefined
			 * while running. It keeps its name until it is stopped. */
			def = runs[i - n_defs].def;
			if (json_object_object_get_ex(stored_names, def->name, NULL))
				continue;
		}
		{
			_cleanup_free_ char *key = vbus_def_identity(def);
			struct json_object *j;

			if (key && json_object_object_get_ex(by_identity, key, &j)) {
				matched[json_object_get_int64(j)] = true;
				seen = json_object_array_get_idx(active, json_object_get_int64(j));
			}
		}
		if (name && !streq(def->name, name))
			continue;
		def_runtime(ctx, def, defined, true, seen, &st, &acc, &want, &rt);
		r = 0;
		if (rt.active || (flags & VBUS_LIST_DEFINED))
			r = sink_def(k, def, &rt);
		vbus_status_done(&st);
		free(want);
		if (r < 0)
			goto out;
	}

	/* Then what is active without a definition (made by hand, by mdevctl, ...). */
	if (flags & VBUS_LIST_ACTIVE) {
		for (size_t j = 0; j < n_active; j++) {
			struct json_object *o = json_object_array_get_idx(active, j), *v;
			_cleanup_free_ char *driver = NULL, *path = NULL;
			struct vbus_access acc;
			struct vbus_runtime rt = { .active = true, .access = &acc };

			if (matched[j] || !name_matches(o, name))
				continue;
			if (json_object_object_get_ex(o, "bound_driver", &v) &&
			    json_object_is_type(v, json_type_string) &&
			    !(driver = strdup(json_object_get_string(v)))) {
				r = -ENOMEM;
				goto out;
			}
			if (json_object_object_get_ex(o, "sysfs_path", &v) &&
			    json_object_is_type(v, json_type_string) &&
			    !(path = strdup(json_object_get_string(v)))) {
				r = -ENOMEM;
				goto out;
			}
			/* Runtime keys go last, in the same order as for definitions. */
			json_object_object_del(o, "bound_driver");
			json_object_object_del(o, "sysfs_path");
			json_object_object_del(o, "active");
			json_object_object_del(o, "defined");
			rt.driver = driver;
			rt.sysfs_path = path ? vbus_path_display(ctx, path) : NULL;
			vbus_access_read(ctx,
					 vbus_kind_from_string(str_key(o, "kind") ?: ""),
					 rt.sysfs_path, rt.driver, &acc);
			r = set_runtime(o, &rt);
			if (r < 0)
				goto out;
			r = sink_active(k, o, &acc);
			if (r < 0)
				goto out;
		}
	}

	if (name && k->n == 0 && (!k->arr || json_object_array_length(k->arr) == 0)) {
		r = vbus_error(ctx, -ENOENT, "'%s' is not %s", name,
			       flags & VBUS_LIST_DEFINED ? "defined" : "active");
		goto out;
	}
	r = 0;
out:
	free(matched);
	vbus_defs_free(defs, n_defs);
	for (size_t i = 0; i < n_runs; i++)
		vbus_run_done(&runs[i]);
	free(runs);
	return r;
}

VBUS_EXPORT int vbus_list_devices(struct vbus_ctx *ctx, unsigned flags, const char *name,
				  struct json_object **ret)
{
	_cleanup_json_ struct json_object *arr = json_object_new_array();
	struct sink k = { .arr = arr };
	int r;

	if (!arr)
		return -ENOMEM;
	r = list_devices(ctx, flags, name, &k);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(arr);
	return 0;
}

VBUS_EXPORT int vbus_list_devices_foreach(struct vbus_ctx *ctx, unsigned flags, const char *name,
					  vbus_list_fn fn, void *userdata)
{
	struct sink k = { .fn = fn, .userdata = userdata };

	if (!fn)
		return -EINVAL;
	return list_devices(ctx, flags, name, &k);
}

VBUS_EXPORT int vbus_list_devices_json(struct vbus_ctx *ctx, unsigned flags, const char *name,
				       char **ret)
{
	struct vbus_text t = {};
	struct sink k = { .text = &t };
	int r;

	r = list_devices(ctx, flags, name, &k);
	if (r >= 0)
		vbus_text_put(&t, k.n ? "\n]\n" : "[]\n", 3);
	if (r >= 0 && t.oom)
		r = -ENOMEM;
	if (r < 0) {
		free(t.s);
		return r;
	}
	*ret = t.s;
	return 0;
}

/*
 * NAME as vbus_list_devices(ctx, DEFINED | ACTIVE, NAME) shows it when it is a definition
 * (stored, else a device vbus started that is not defined), without listing anything else:
 * one file read and one status, whatever the number of definitions (vbusd refreshes one
 * entry of its model with it after a change). -ENOENT when NAME is neither: it may still be
 * an active device nobody defined, which only the whole listing tells.
 */
int vbus_list_definition(struct vbus_ctx *ctx, const char *name, struct json_object **ret)
{
	_cleanup_def_ struct vbus_def *def = NULL;
	struct vbus_run run = {};
	int r;

	vbus_error_clear(ctx);
	r = vbus_def_load(ctx, name, &def);
	if (r >= 0)
		return def_entry(ctx, def, true, false, NULL, ret);
	if (r != -ENOENT)
		return r;
	vbus_error_clear(ctx);
	r = vbus_run_load(ctx, name, &run);
	if (r < 0)
		return r == -ENOENT ? vbus_error(ctx, -ENOENT, "'%s' is not defined", name) : r;
	r = def_entry(ctx, run.def, false, false, NULL, ret);
	vbus_run_done(&run);
	return r;
}

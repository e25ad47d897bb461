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

static int set_runtime(struct json_object *o, bool active, bool defined, const char *driver,
		       const char *sysfs_path)
{
	if (json_object_object_add(o, "active", json_object_new_boolean(active)) < 0 ||
	    json_object_object_add(o, "defined", json_object_new_boolean(defined)) < 0 ||
	    json_object_object_add(o, "bound_driver",
				   driver ? json_object_new_string(driver) : NULL) < 0 ||
	    json_object_object_add(o, "sysfs_path",
				   sysfs_path ? json_object_new_string(sysfs_path) : NULL) < 0)
		return -ENOMEM;
	return 0;
}

/* One definition (stored or transient) with its runtime fields. */
static int def_entry(struct vbus_ctx *ctx, const struct vbus_def *def, bool defined,
		     struct json_object **ret)
{
	_cleanup_json_ struct json_object *o = NULL;
	const struct vbus_backend *be = vbus_ctx_backend(ctx, def->kind);
	struct vbus_status st = {};
	int r;

	r = vbus_def_to_json(def, &o);
	if (r < 0)
		return r;
	if (be && be->status) {
		r = be->status(ctx, def, &st);
		if (r < 0) {
			/* A broken parent must not hide the rest of the list. */
			dbg(ctx, "status of '%s': %s", def->name, vbus_ctx_last_error(ctx) ?: "");
			vbus_error_clear(ctx);
			st = (struct vbus_status){};
		}
	}
	r = set_runtime(o, st.active, defined, st.bound_driver,
			st.sysfs_path ? vbus_path_display(ctx, st.sysfs_path) : NULL);
	vbus_status_done(&st);
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

VBUS_EXPORT int vbus_list_devices(struct vbus_ctx *ctx, unsigned flags, const char *name,
				  struct json_object **ret)
{
	_cleanup_json_ struct json_object *arr = json_object_new_array(), *active = NULL;
	_cleanup_json_ struct json_object *by_identity = NULL, *stored_names = NULL;
	struct vbus_def **defs = NULL;
	struct vbus_run *runs = NULL;
	size_t n_defs = 0, n_runs = 0, n_active = 0;
	bool *matched = NULL;
	int r;

	vbus_error_clear(ctx);
	if (!arr)
		return -ENOMEM;
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
	for (int k = 0; k < _VBUS_KIND_MAX; k++) {
		const struct vbus_backend *be = vbus_ctx_backend(ctx, k);

		if (!be || !be->list_active)
			continue;
		r = be->list_active(ctx, active);
		if (r == -ENOMEM)
			goto out;
		if (r < 0) {
			warn(ctx, "Cannot list active devices of kind %s: %s",
			     vbus_kind_to_string(k), vbus_ctx_last_error(ctx) ?: strerror(-r));
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
		struct json_object *o = NULL, *v;

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

			if (key && json_object_object_get_ex(by_identity, key, &j))
				matched[json_object_get_int64(j)] = true;
		}
		if (name && !streq(def->name, name))
			continue;
		r = def_entry(ctx, def, defined, &o);
		if (r < 0)
			goto out;
		json_object_object_get_ex(o, "active", &v);
		if (!(flags & VBUS_LIST_DEFINED) && !json_object_get_boolean(v)) {
			json_object_put(o);
			continue;
		}
		if (json_object_array_add(arr, o) < 0) {
			json_object_put(o);
			r = -ENOMEM;
			goto out;
		}
	}

	/* Then what is active without a definition (made by hand, by mdevctl, ...). */
	if (flags & VBUS_LIST_ACTIVE) {
		for (size_t j = 0; j < n_active; j++) {
			struct json_object *o = json_object_array_get_idx(active, j), *v;
			_cleanup_free_ char *driver = NULL, *path = NULL;

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
			r = set_runtime(o, true, false, driver,
					path ? vbus_path_display(ctx, path) : NULL);
			if (r < 0)
				goto out;
			if (json_object_array_add(arr, json_object_get(o)) < 0) {
				json_object_put(o);
				r = -ENOMEM;
				goto out;
			}
		}
	}

	if (name && json_object_array_length(arr) == 0) {
		r = vbus_error(ctx, -ENOENT, "'%s' is not %s", name,
			       flags & VBUS_LIST_DEFINED ? "defined" : "active");
		goto out;
	}
	*ret = TAKE_PTR(arr);
	r = 0;
out:
	free(matched);
	vbus_defs_free(defs, n_defs);
	for (size_t i = 0; i < n_runs; i++)
		vbus_run_done(&runs[i]);
	free(runs);
	return r;
}

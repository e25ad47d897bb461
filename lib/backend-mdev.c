// SPDX-License-Identifier: LGPL-2.1-or-later
/* The mdev backend: mediated devices created through mdev_supported_types/TYPE/create. */
#include <stdio.h>

#include "callout.h"
#include "sysfs.h"

#define MDEV_BUS "/sys/class/mdev_bus"
#define MDEV_DEVICES "/sys/bus/mdev/devices"

static bool uuid_is_valid(const char *s)
{
	if (!s || strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!strchr("0123456789abcdefABCDEF", s[i])) {
			return false;
		}
	}
	return true;
}

static int type_to_json(struct vbus_ctx *ctx, const char *parent, const char *type,
			struct json_object **ret)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	_cleanup_free_ char *name = NULL, *desc = NULL, *api = NULL;
	uint64_t avail = 0;
	int r;

	if (!o)
		return -ENOMEM;
	/* name and description are optional (the kernel shows them when the driver has them). */
	(void)sysfs_readf(ctx, &name, MDEV_BUS "/%s/mdev_supported_types/%s/name", parent, type);
	(void)sysfs_readf(ctx, &desc, MDEV_BUS "/%s/mdev_supported_types/%s/description", parent,
			  type);
	(void)sysfs_readf(ctx, &api, MDEV_BUS "/%s/mdev_supported_types/%s/device_api", parent,
			  type);
	{
		_cleanup_free_ char *p = NULL;

		if (asprintf(&p, MDEV_BUS "/%s/mdev_supported_types/%s/available_instances", parent,
			     type) < 0)
			return -ENOMEM;
		r = sysfs_read_u64(ctx, p, &avail);
		if (r < 0)
			dbg(ctx, "%s: %s", p, strerror(-r));
	}
	if ((r = jadd_str(o, "parent", parent)) < 0 || (r = jadd_str(o, "kind", "mdev")) < 0 ||
	    (r = jadd_str(o, "type", type)) < 0 || (r = jadd_str(o, "name", name)) < 0 ||
	    (r = jadd_str(o, "description", desc)) < 0 ||
	    (r = jadd_int(o, "available_instances", (int64_t)avail)) < 0 ||
	    (r = jadd_str(o, "device_api", api)) < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

static int list_parent_types(struct vbus_ctx *ctx, const char *parent, struct json_object *types)
{
	_cleanup_strv_ char **l = NULL;
	_cleanup_free_ char *path = NULL;
	int r;

	if (asprintf(&path, MDEV_BUS "/%s/mdev_supported_types", parent) < 0)
		return -ENOMEM;
	r = sysfs_list_dir(ctx, path, &l, NULL);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	for (char **t = l; *t; t++) {
		struct json_object *o = NULL;

		r = type_to_json(ctx, parent, *t, &o);
		if (r < 0)
			return r;
		r = jarray_add(types, o);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool parent_exists(struct vbus_ctx *ctx, const char *parent)
{
	_cleanup_free_ char *p = NULL;

	if (!sysfs_name_is_valid(parent) || asprintf(&p, MDEV_BUS "/%s", parent) < 0)
		return false;
	return sysfs_exists(ctx, p);
}

static int mdev_list_parents(struct vbus_ctx *ctx, const char *parent, struct json_object *parents)
{
	_cleanup_strv_ char **l = NULL;
	int r;

	r = sysfs_list_entries(ctx, MDEV_BUS, &l);
	if (r < 0)
		return r;
	for (char **p = l; *p; p++) {
		_cleanup_json_ struct json_object *o = NULL, *types = NULL;

		if (parent && !streq(parent, *p))
			continue;
		o = json_object_new_object();
		types = json_object_new_array();
		if (!o || !types)
			return -ENOMEM;
		r = list_parent_types(ctx, *p, types);
		if (r < 0)
			return r;
		if ((r = jadd_str(o, "parent", *p)) < 0 || (r = jadd_str(o, "kind", "mdev")) < 0 ||
		    (r = jadd(o, "types", TAKE_PTR(types))) < 0)
			return r;
		r = jarray_add(parents, TAKE_PTR(o));
		if (r < 0)
			return r;
	}
	return 0;
}

static int mdev_list_types(struct vbus_ctx *ctx, const char *parent, struct json_object *types)
{
	_cleanup_strv_ char **l = NULL;
	int r;

	r = sysfs_list_entries(ctx, MDEV_BUS, &l);
	if (r < 0)
		return r;
	for (char **p = l; *p; p++) {
		if (parent && !streq(parent, *p))
			continue;
		r = list_parent_types(ctx, *p, types);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Parent and type of the active mdev UUID, from its place in the device tree. */
static int active_info(struct vbus_ctx *ctx, const char *uuid, char **ret_parent, char **ret_type,
		       char **ret_driver)
{
	_cleanup_free_ char *path = NULL, *type = NULL, *drv = NULL, *parent = NULL;
	int r;

	if (asprintf(&path, MDEV_DEVICES "/%s", uuid) < 0)
		return -ENOMEM;
	/* The mdev's directory is a child of its parent's: .../0000:00:02.0/UUID */
	r = sysfs_link_parent_name(ctx, path, &parent);
	if (r < 0)
		return r;
	free(path);
	if (asprintf(&path, MDEV_DEVICES "/%s/mdev_type", uuid) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	r = sysfs_link_basename(ctx, path, &type);
	/* No mdev_type: a bus link left pointing nowhere (the parent went away), not an mdev. */
	if (r == -ENOENT) {
		free(path);
		path = NULL;
		if (asprintf(&path, MDEV_DEVICES "/%s", uuid) < 0) {
			path = NULL;
			return -ENOMEM;
		}
		if (!sysfs_exists(ctx, path))
			return -ENODEV;
	} else if (r < 0)
		return r;
	free(path);
	if (asprintf(&path, MDEV_DEVICES "/%s/driver", uuid) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	r = sysfs_link_basename(ctx, path, &drv);
	if (r < 0 && r != -ENOENT)
		return r;
	if (ret_parent)
		*ret_parent = TAKE_PTR(parent);
	if (ret_type)
		*ret_type = TAKE_PTR(type);
	if (ret_driver)
		*ret_driver = TAKE_PTR(drv);
	return 0;
}

static int mdev_list_active(struct vbus_ctx *ctx, struct json_object *devices)
{
	_cleanup_strv_ char **l = NULL;
	int r;

	r = sysfs_list_entries(ctx, MDEV_DEVICES, &l);
	if (r < 0)
		return r;
	for (char **u = l; *u; u++) {
		_cleanup_free_ char *parent = NULL, *type = NULL, *drv = NULL, *path = NULL;
		_cleanup_json_ struct json_object *o = NULL;

		r = active_info(ctx, *u, &parent, &type, &drv);
		if (r < 0) {
			dbg(ctx, "mdev %s: %s, skipped", *u, strerror(-r));
			continue;
		}
		path = vbus_pathf(ctx, MDEV_DEVICES "/%s", *u);
		o = json_object_new_object();
		if (!path || !o)
			return -ENOMEM;
		if ((r = jadd_str(o, "name", *u)) < 0 || (r = jadd_str(o, "kind", "mdev")) < 0 ||
		    (r = jadd_str(o, "parent", parent)) < 0 ||
		    (r = jadd_str(o, "type", type)) < 0 || (r = jadd_str(o, "uuid", *u)) < 0 ||
		    (r = jadd_str(o, "bound_driver", drv)) < 0 ||
		    (r = jadd_str(o, "sysfs_path", path)) < 0)
			return r;
		r = jarray_add(devices, TAKE_PTR(o));
		if (r < 0)
			return r;
	}
	return 0;
}

static bool is_active(struct vbus_ctx *ctx, const char *uuid)
{
	_cleanup_free_ char *p = NULL;

	if (!uuid_is_valid(uuid) || asprintf(&p, MDEV_DEVICES "/%s", uuid) < 0)
		return false;
	return sysfs_exists(ctx, p);
}

static int mdev_check(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	_cleanup_free_ char *p = NULL;

	if (!def->parent || !sysfs_name_is_valid(def->parent))
		return vbus_error(ctx, -EINVAL, "%s: an mdev needs a parent device name",
				  def->name);
	if (!def->type || !sysfs_name_is_valid(def->type))
		return vbus_error(ctx, -EINVAL, "%s: an mdev needs a type", def->name);
	if (def->uuid && !uuid_is_valid(def->uuid))
		return vbus_error(ctx, -EINVAL, "%s: '%s' is not a UUID", def->name, def->uuid);
	if (def->index >= 0)
		return vbus_error(ctx, -EINVAL, "%s: an mdev has no index", def->name);
	for (size_t i = 0; i < def->n_attrs; i++)
		if (!sysfs_name_is_valid(def->attrs[i].key) || !def->attrs[i].value)
			return vbus_error(ctx, -EINVAL, "%s: invalid mdev attribute '%s'",
					  def->name, def->attrs[i].key ?: "");
	if (!parent_exists(ctx, def->parent))
		return vbus_error(ctx, -ENODEV, "%s: mdev parent %s is not present", def->name,
				  def->parent);
	if (asprintf(&p, MDEV_BUS "/%s/mdev_supported_types/%s", def->parent, def->type) < 0)
		return -ENOMEM;
	if (!sysfs_exists(ctx, p))
		return vbus_error(ctx, -EINVAL, "%s: parent %s does not offer type %s", def->name,
				  def->parent, def->type);
	return 0;
}

static int mdev_status(struct vbus_ctx *ctx, const struct vbus_def *def, struct vbus_status *st)
{
	_cleanup_free_ char *drv = NULL, *path = NULL;
	int r;

	*st = (struct vbus_status){};
	if (!is_active(ctx, def->uuid))
		return 0;
	r = active_info(ctx, def->uuid, NULL, NULL, &drv);
	if (r < 0)
		return vbus_error(ctx, r, "mdev %s: %s", def->uuid, strerror(-r));
	path = vbus_pathf(ctx, MDEV_DEVICES "/%s", def->uuid);
	if (!path)
		return -ENOMEM;
	st->active = true;
	st->sysfs_path = TAKE_PTR(path);
	st->bound_driver = TAKE_PTR(drv);
	return 0;
}

static int mdev_remove(struct vbus_ctx *ctx, const char *uuid)
{
	return sysfs_writef(ctx, "1", MDEV_DEVICES "/%s/remove", uuid);
}

static int create_now(struct vbus_ctx *ctx, const struct vbus_def *def);

static int mdev_create(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	_cleanup_free_ char *p = NULL;
	struct vbus_callout c;
	uint64_t avail;
	int r;

	r = mdev_check(ctx, def);
	if (r < 0)
		return r;
	if (!def->uuid)
		return vbus_error(ctx, -EINVAL, "%s: an mdev needs a UUID", def->name);
	if (is_active(ctx, def->uuid))
		return vbus_error(ctx, -EEXIST, "%s: mdev %s already exists", def->name, def->uuid);
	if (asprintf(&p, MDEV_BUS "/%s/mdev_supported_types/%s/available_instances", def->parent,
		     def->type) < 0)
		return -ENOMEM;
	if (sysfs_read_u64(ctx, p, &avail) >= 0 && avail == 0)
		return vbus_error(ctx, -ENOSPC, "%s: parent %s has no instance of type %s left",
				  def->name, def->parent, def->type);

	/* mdevctl's callouts see every start, whoever asked for it. */
	r = vbus_callout_pre(ctx, def, "start", &c);
	if (r < 0)
		return r;
	r = create_now(ctx, def);
	vbus_callout_post(ctx, def, "start", &c, r);
	return r;
}

/* Writes UUID to the type's create file, then the attributes. */
static int create_now(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	int r;

	r = sysfs_writef(ctx, def->uuid, MDEV_BUS "/%s/mdev_supported_types/%s/create", def->parent,
			 def->type);
	if (r < 0)
		return vbus_error(ctx, r, "%s: parent %s refused to create mdev %s of type %s: %s",
				  def->name, def->parent, def->uuid, def->type, strerror(-r));

	/* mdevctl's semantics: attributes go to the new device, in order, after create. */
	for (size_t i = 0; i < def->n_attrs; i++) {
		const struct vbus_attr *a = &def->attrs[i];
		int k;

		r = sysfs_writef(ctx, a->value, MDEV_DEVICES "/%s/%s", def->uuid, a->key);
		if (r >= 0)
			continue;
		vbus_error(ctx, r, "%s: mdev %s refused attribute %s=%s: %s", def->name, def->uuid,
			   a->key, a->value, strerror(-r));
		k = mdev_remove(ctx, def->uuid);
		if (k < 0)
			warn(ctx, "%s: cannot remove mdev %s again: %s", def->name, def->uuid,
			     strerror(-k));
		return r;
	}
	return 0;
}

static int mdev_destroy(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	int r;

	struct vbus_callout c;

	if (!is_active(ctx, def->uuid))
		return 0;
	r = vbus_callout_pre(ctx, def, "stop", &c);
	if (r < 0)
		return r;
	r = mdev_remove(ctx, def->uuid);
	if (r < 0)
		r = vbus_error(ctx, r, "%s: cannot remove mdev %s: %s", def->name, def->uuid,
			       strerror(-r));
	vbus_callout_post(ctx, def, "stop", &c, r);
	return r;
}

/* The mdev driver that known parent drivers register (the kernel binds it on create). */
static const struct {
	const char *parent_driver;
	const char *mdev_driver;
} known_drivers[] = {
    {"i915", "intel_vgpu_mdev"}, {"vfio_ap", "vfio_ap_mdev"}, {"mtty", "mtty"}, {"mdpy", "mdpy"},
    {"mbochs", "mbochs"},
};

static int parent_mdev_driver(struct vbus_ctx *ctx, const struct vbus_def *def, char **ret)
{
	_cleanup_strv_ char **l = NULL;
	_cleanup_free_ char *pdrv = NULL;
	char *s;
	int r;

	/* What the kernel bound this mdev to (it is there: vbus just made it or found it): its
	 * driver link alone, one readlink (a listing asks this of every running mdev)... */
	if (def->uuid && uuid_is_valid(def->uuid)) {
		_cleanup_free_ char *p = NULL, *drv = NULL;

		if (asprintf(&p, MDEV_DEVICES "/%s/driver", def->uuid) < 0)
			return -ENOMEM;
		if (sysfs_link_basename(ctx, p, &drv) >= 0 && drv) {
			*ret = TAKE_PTR(drv);
			return 0;
		}
	}
	/* ... or another mdev of the same parent: the list only when our own has no driver. */
	r = sysfs_list_dir(ctx, MDEV_DEVICES, &l, NULL);
	if (r < 0 && r != -ENOENT)
		return r;
	if (l) {
		for (char **u = l; *u; u++) {
			_cleanup_free_ char *parent = NULL, *drv = NULL;

			if (active_info(ctx, *u, &parent, NULL, &drv) >= 0 && drv &&
			    streq_ptr(parent, def->parent)) {
				*ret = TAKE_PTR(drv);
				return 0;
			}
		}
	}
	/* The parent's driver, or its name for a driver-less parent such as mtty. */
	{
		_cleanup_free_ char *p = NULL;

		if (asprintf(&p, MDEV_BUS "/%s/driver", def->parent) < 0)
			return -ENOMEM;
		r = sysfs_link_basename(ctx, p, &pdrv);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	for (size_t i = 0; i < ELEMENTSOF(known_drivers); i++)
		if (streq(known_drivers[i].parent_driver, pdrv ?: def->parent)) {
			s = strdup(known_drivers[i].mdev_driver);
			if (!s)
				return -ENOMEM;
			*ret = s;
			return 0;
		}
	return vbus_error(ctx, -ENOENT, "%s: cannot tell which mdev driver parent %s uses",
			  def->name, def->parent);
}

static int mdev_resolve_driver(struct vbus_ctx *ctx, const struct vbus_def *def, const char *choice,
			       char **ret)
{
	char *s;

	if (streq(choice, VBUS_DRIVER_NONE)) {
		*ret = NULL;
		return 0;
	}
	/* For an mdev, the VM path and the host path are the same: the parent's mdev driver. */
	if (streq(choice, VBUS_DRIVER_HOST) || streq(choice, VBUS_DRIVER_VFIO) ||
	    streq(choice, VBUS_DRIVER_AUTO))
		return parent_mdev_driver(ctx, def, ret);
	s = strdup(choice);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static int mdev_bind(struct vbus_ctx *ctx, const struct vbus_def *def, const char *driver)
{
	_cleanup_free_ char *cur = NULL, *now = NULL;
	int r;

	if (!is_active(ctx, def->uuid))
		return vbus_error(ctx, -ENODEV, "%s: mdev %s does not exist", def->name,
				  def->uuid ?: "(no uuid)");
	r = active_info(ctx, def->uuid, NULL, NULL, &cur);
	if (r < 0)
		return vbus_error(ctx, r, "mdev %s: %s", def->uuid, strerror(-r));
	if (!driver) {
		if (!cur)
			return 0;
		r = sysfs_writef(ctx, def->uuid, "/sys/bus/mdev/drivers/%s/unbind", cur);
		if (r < 0)
			return vbus_error(ctx, r, "%s: cannot unbind mdev %s from %s: %s",
					  def->name, def->uuid, cur, strerror(-r));
		return 0;
	}
	if (streq_ptr(cur, driver))
		return 0;
	if (cur)
		return vbus_error(
		    ctx, -EIO, "%s: mdev %s is bound to %s, not %s (its parent's driver binds it)",
		    def->name, def->uuid, cur, driver);
	r = sysfs_writef(ctx, def->uuid, "/sys/bus/mdev/drivers/%s/bind", driver);
	if (r == -ENOENT)
		return vbus_error(ctx, r, "%s: mdev driver %s is not loaded", def->name, driver);
	if (r == -ENODEV) {
		/*
		 * The kernel's mdev_match() refuses every driver (6.1 and later): an mdev is bound
		 * to its parent's driver when it is created, and an unbound one can only get it
		 * back by being created again. Nothing uses an unbound mdev, so remove it and
		 * create it again, same UUID, type and attributes.
		 */
		_cleanup_free_ char *expected = NULL;

		r = parent_mdev_driver(ctx, def, &expected);
		if (r < 0)
			return r;
		if (!streq(expected, driver))
			return vbus_error(ctx, -EIO,
					  "%s: only %s, the driver of parent %s, can take mdev %s",
					  def->name, expected, def->parent, def->uuid);
		dbg(ctx, "%s: re-creating mdev %s to bind it to %s", def->name, def->uuid, driver);
		r = mdev_remove(ctx, def->uuid);
		if (r < 0)
			return vbus_error(ctx, r,
					  "%s: cannot remove unbound mdev %s to re-create it: %s",
					  def->name, def->uuid, strerror(-r));
		r = mdev_create(ctx, def);
		if (r < 0)
			return r;
	} else if (r < 0) {
		return vbus_error(ctx, r, "%s: %s refused mdev %s: %s", def->name, driver,
				  def->uuid, strerror(-r));
	}
	r = active_info(ctx, def->uuid, NULL, NULL, &now);
	if (r < 0)
		return vbus_error(ctx, r, "mdev %s: %s", def->uuid, strerror(-r));
	if (!streq_ptr(now, driver))
		return vbus_error(ctx, -EIO, "%s: mdev %s is bound to %s, not %s", def->name,
				  def->uuid, now ?: "no driver", driver);
	return 0;
}

/* The kind's rules, applied by the core (lib/ops.c). */
static const struct vbus_kind_rules mdev_rules = {
	.a_kind = "an mdev",
	.identity = VBUS_IDENTITY_UUID,
	.type = VBUS_FIELD_REQUIRED,
	.index = VBUS_FIELD_REFUSED,
	.any_attr = true,
	.uuid = true,
	.live_attrs = true,
};

const struct vbus_backend vbus_backend_mdev = {
    .kind = VBUS_KIND_MDEV,
    .rules = &mdev_rules,
    .list_parents = mdev_list_parents,
    .list_types = mdev_list_types,
    .list_active = mdev_list_active,
    .check = mdev_check,
    .status = mdev_status,
    .status_in_list = true,
    .create = mdev_create,
    .destroy = mdev_destroy,
    .resolve_driver = mdev_resolve_driver,
    .bind = mdev_bind,
};

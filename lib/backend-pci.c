// SPDX-License-Identifier: LGPL-2.1-or-later
/* The pci backend: driver choice for an existing PCI function (driverctl's job, verified). */
#include <stdio.h>

#include "bind.h"
#include "sysfs.h"

#define PCI_DEVICES "/sys/bus/pci/devices"

static bool pci_exists(struct vbus_ctx *ctx, const char *bdf)
{
	_cleanup_free_ char *p = NULL;

	if (!sysfs_name_is_valid(bdf) || asprintf(&p, PCI_DEVICES "/%s", bdf) < 0)
		return false;
	return sysfs_exists(ctx, p);
}

static int get_override(struct vbus_ctx *ctx, const char *bdf, char **ret)
{
	_cleanup_free_ char *s = NULL;
	int r;

	r = sysfs_readf(ctx, &s, PCI_DEVICES "/%s/driver_override", bdf);
	if (r < 0 && r != -ENOENT)
		return r;
	*ret = (!s || !*s || streq(s, "(null)")) ? NULL : TAKE_PTR(s);
	return 0;
}

/* Active pci devices are those held through a driver_override, as driverctl lists them; VFs
 * belong to the vf kind. */
static int pci_list_active(struct vbus_ctx *ctx, struct json_object *devices)
{
	_cleanup_strv_ char **l = NULL;
	int r;

	r = sysfs_list_entries(ctx, PCI_DEVICES, &l);
	if (r < 0)
		return r;
	for (char **d = l; *d; d++) {
		_cleanup_free_ char *override = NULL, *drv = NULL, *path = NULL, *physfn = NULL;
		_cleanup_json_ struct json_object *o = NULL;

		if (get_override(ctx, *d, &override) < 0 || !override)
			continue;
		if (asprintf(&physfn, PCI_DEVICES "/%s/physfn", *d) < 0)
			return -ENOMEM;
		if (sysfs_exists(ctx, physfn))
			continue;
		r = vbus_bind_get_driver(ctx, "pci", *d, &drv);
		if (r < 0)
			continue;
		path = vbus_pathf(ctx, PCI_DEVICES "/%s", *d);
		o = json_object_new_object();
		if (!path || !o)
			return -ENOMEM;
		if ((r = jadd_str(o, "name", *d)) < 0 || (r = jadd_str(o, "kind", "pci")) < 0 ||
		    (r = jadd_str(o, "parent", *d)) < 0 ||
		    (r = jadd_str(o, "driver_override", override)) < 0 ||
		    (r = jadd_str(o, "bound_driver", drv)) < 0 ||
		    (r = jadd_str(o, "sysfs_path", path)) < 0)
			return r;
		r = jarray_add(devices, TAKE_PTR(o));
		if (r < 0)
			return r;
	}
	return 0;
}

static int pci_check(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	if (!def->parent || !sysfs_name_is_valid(def->parent))
		return vbus_error(ctx, -EINVAL, "%s: a pci device needs its PCI address as parent",
				  def->name);
	if (def->type)
		return vbus_error(ctx, -EINVAL, "%s: a pci device has no type", def->name);
	if (def->index >= 0)
		return vbus_error(ctx, -EINVAL, "%s: a pci device has no index", def->name);
	if (def->n_attrs > 0)
		return vbus_error(ctx, -EINVAL, "%s: a pci device has no attributes", def->name);
	if (!pci_exists(ctx, def->parent))
		return vbus_error(ctx, -ENODEV, "%s: PCI device %s is not present", def->name,
				  def->parent);
	return 0;
}

static int pci_status(struct vbus_ctx *ctx, const struct vbus_def *def, struct vbus_status *st)
{
	_cleanup_free_ char *drv = NULL, *path = NULL;
	int r;

	*st = (struct vbus_status){};
	if (!pci_exists(ctx, def->parent))
		return 0;
	r = vbus_bind_get_driver(ctx, "pci", def->parent, &drv);
	if (r < 0)
		return vbus_error(ctx, r, "%s: %s: %s", def->name, def->parent, strerror(-r));
	path = vbus_pathf(ctx, PCI_DEVICES "/%s", def->parent);
	if (!path)
		return -ENOMEM;
	st->active = true;
	st->sysfs_path = TAKE_PTR(path);
	st->bound_driver = TAKE_PTR(drv);
	return 0;
}

/* The function exists or not: there is nothing to create. */
static int pci_create(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	return pci_check(ctx, def);
}

/* Gives the function back to its host driver. */
static int pci_destroy(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	if (!pci_exists(ctx, def->parent))
		return 0;
	return vbus_bind_host(ctx, "pci", def->parent, NULL);
}

static int pci_resolve_driver(struct vbus_ctx *ctx, const struct vbus_def *def, const char *choice,
			      char **ret)
{
	if (streq(choice, VBUS_DRIVER_HOST) && !pci_exists(ctx, def->parent))
		return vbus_error(ctx, -ENODEV, "%s: PCI device %s is not present", def->name,
				  def->parent ?: "");
	return vbus_bind_resolve_pci(ctx, def->parent, choice, ret);
}

static int pci_bind(struct vbus_ctx *ctx, const struct vbus_def *def, const char *driver)
{
	if (!pci_exists(ctx, def->parent))
		return vbus_error(ctx, -ENODEV, "%s: PCI device %s is not present", def->name,
				  def->parent ?: "");
	return vbus_bind_driver(ctx, "pci", def->parent, driver);
}

/* The kind's rules, applied by the core (lib/ops.c). */
static const struct vbus_kind_rules pci_rules = {
	.a_kind = "a pci",
	.identity = VBUS_IDENTITY_PARENT,
	.type = VBUS_FIELD_REFUSED,
	.index = VBUS_FIELD_REFUSED,
	.fields_refused = "a pci definition names only its function (parent) and its driver",
	.host_owned = true,
};

const struct vbus_backend vbus_backend_pci = {
    .kind = VBUS_KIND_PCI,
    .rules = &pci_rules,
    .list_active = pci_list_active,
    .check = pci_check,
    .status = pci_status,
    .create = pci_create,
    .destroy = pci_destroy,
    .resolve_driver = pci_resolve_driver,
    .bind = pci_bind,
};

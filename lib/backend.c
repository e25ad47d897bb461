// SPDX-License-Identifier: LGPL-2.1-or-later
/* The backend table: one ops struct per kind, each from its own lib/backend-<kind>.c. */
#include "vbus-private.h"

/*
 * Weak references: a kind whose backend file is not built yet (sf, vdpa and virtbus come
 * with the netlink issue) resolves to NULL here, lists nothing and refuses changes. Adding a
 * backend is adding its file to lib/meson.build; this table does not change.
 */
#pragma weak vbus_backend_mdev
#pragma weak vbus_backend_vf
#pragma weak vbus_backend_sf
#pragma weak vbus_backend_vdpa
#pragma weak vbus_backend_virtbus
#pragma weak vbus_backend_pci

static const struct vbus_backend *const backends[_VBUS_KIND_MAX] = {
    [VBUS_KIND_MDEV] = &vbus_backend_mdev,	 [VBUS_KIND_VF] = &vbus_backend_vf,
    [VBUS_KIND_SF] = &vbus_backend_sf,		 [VBUS_KIND_VDPA] = &vbus_backend_vdpa,
    [VBUS_KIND_VIRTBUS] = &vbus_backend_virtbus, [VBUS_KIND_PCI] = &vbus_backend_pci,
};

const struct vbus_backend *vbus_backend_get(enum vbus_kind kind)
{
	if (kind < 0 || kind >= _VBUS_KIND_MAX)
		return NULL;
	return backends[kind];
}

const struct vbus_backend *vbus_ctx_backend(struct vbus_ctx *ctx, enum vbus_kind kind)
{
	if (kind < 0 || kind >= _VBUS_KIND_MAX)
		return NULL;
	if (ctx->backend_override[kind])
		return ctx->backend_override[kind];
	return backends[kind];
}

int vbus_backend_require(struct vbus_ctx *ctx, enum vbus_kind kind, const struct vbus_backend **ret)
{
	const struct vbus_backend *be;

	if (kind < 0 || kind >= _VBUS_KIND_MAX)
		return vbus_error(ctx, -EINVAL, "unknown kind");
	be = vbus_ctx_backend(ctx, kind);
	if (!be)
		return vbus_error(ctx, -EOPNOTSUPP, "kind %s is not supported yet",
				  vbus_kind_to_string(kind));
	*ret = be;
	return 0;
}

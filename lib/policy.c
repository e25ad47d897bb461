// SPDX-License-Identifier: LGPL-2.1-or-later
/* Policy: which driver a sub-device gets when its definition says "auto". */
#include "vbus-private.h"

static const char *const default_choice[_VBUS_KIND_MAX] = {
	[VBUS_KIND_MDEV] = VBUS_DRIVER_HOST,   [VBUS_KIND_VF] = VBUS_DRIVER_VFIO,
	[VBUS_KIND_SF] = VBUS_DRIVER_HOST,     [VBUS_KIND_VDPA] = VBUS_DRIVER_VFIO,
	[VBUS_KIND_VIRTBUS] = VBUS_DRIVER_HOST, [VBUS_KIND_PCI] = VBUS_DRIVER_VFIO,
};

int vbus_policy_resolve_driver(struct vbus_ctx *ctx, const struct vbus_def *def, char **ret)
{
	char *s;

	if (def->kind < 0 || def->kind >= _VBUS_KIND_MAX)
		return vbus_error(ctx, -EINVAL, "%s: unknown kind", def->name);
	/* Rules from policy.d come with the daemon issue; until then the built-in defaults. */
	s = strdup(default_choice[def->kind]);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What vbusctl's two command lines (its own and mdevctl's) share: exit codes and cleanup. */
#pragma once

#include <stdlib.h>

#include "libvbus-internal.h"
#include "macro.h"

#define EXIT_USAGE 2

static inline void json_putp(struct json_object **p)
{
	if (*p)
		json_object_put(*p);
}

static inline void def_freep(struct vbus_def **p)
{
	vbus_def_free(*p);
}

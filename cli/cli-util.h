/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What vbusctl's two command lines (its own and mdevctl's) share: exit codes and cleanup. */
#pragma once

#include <stdlib.h>

#include "libvbus-internal.h"

#define EXIT_USAGE 2

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void json_putp(struct json_object **p)
{
	if (*p)
		json_object_put(*p);
}

static inline void def_freep(struct vbus_def **p)
{
	vbus_def_free(*p);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Ownership helpers, as in systemd's basic/macro.h: header-only, for every program of the tree
 * (libvbus, vbusctl, vbusd, vbus-dra) without linking anything. */
#pragma once

#include <stdlib.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_ __attribute__((unused))
#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _p_ = (p);                                                           \
		(p) = NULL;                                                                        \
		_p_;                                                                               \
	})

static inline void freep(void *p)
{
	free(*(void **)p);
}

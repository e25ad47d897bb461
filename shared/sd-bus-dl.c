// SPDX-License-Identifier: LGPL-2.1-or-later
/* sd-bus loaded on first use (see sd-bus-dl.h). */
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>

#define SD_BUS_DL_NO_REDIRECT
#include "sd-bus-dl.h"

#define SD_BUS_DL_DEFINE(f) typeof(f) *sym_##f;
SD_BUS_DL_SYMS(SD_BUS_DL_DEFINE)

int dlopen_sd_bus(void)
{
	static void *dl;
	void *h;

	if (dl)
		return 0;
	h = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return -EOPNOTSUPP;
#define SD_BUS_DL_LOAD(f)                                                                          \
	if (!(sym_##f = dlsym(h, #f))) {                                                           \
		dlclose(h);                                                                        \
		return -EOPNOTSUPP;                                                                \
	}
	SD_BUS_DL_SYMS(SD_BUS_DL_LOAD)
	dl = h;
	return 0;
}

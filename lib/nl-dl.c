// SPDX-License-Identifier: LGPL-2.1-or-later
/* libnl-3 and libnl-genl-3 loaded on first use (see nl-dl.h). */
#include <dlfcn.h>

#define VBUS_NL_DL_NO_REDIRECT
#include "nl-dl.h"
#include "vbus-private.h"

#define NL_LIB "libnl-3.so.200"
#define GENL_LIB "libnl-genl-3.so.200"

#define VBUS_NL_DEFINE(f) typeof(f) *sym_##f;
VBUS_NL_CORE_SYMS(VBUS_NL_DEFINE)
VBUS_NL_GENL_SYMS(VBUS_NL_DEFINE)

static int load(struct vbus_ctx *ctx, const char *lib, void **ret)
{
	*ret = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!*ret)
		return vbus_error(ctx, -EOPNOTSUPP, "cannot load %s: %s", lib, dlerror());
	return 0;
}

int vbus_nl_dlopen(struct vbus_ctx *ctx)
{
	static bool loaded;
	void *nl, *genl;
	int r;

	if (loaded)
		return 0;
	r = load(ctx, NL_LIB, &nl);
	if (r < 0)
		return r;
	r = load(ctx, GENL_LIB, &genl);
	if (r < 0) {
		dlclose(nl);
		return r;
	}
#define VBUS_NL_LOAD(h, lib, f)                                                                    \
	if (!(sym_##f = dlsym(h, #f))) {                                                           \
		dlclose(genl);                                                                     \
		dlclose(nl);                                                                       \
		return vbus_error(ctx, -EOPNOTSUPP, "%s has no %s", lib, #f);                      \
	}
#define VBUS_NL_LOAD_CORE(f) VBUS_NL_LOAD(nl, NL_LIB, f)
#define VBUS_NL_LOAD_GENL(f) VBUS_NL_LOAD(genl, GENL_LIB, f)
	VBUS_NL_CORE_SYMS(VBUS_NL_LOAD_CORE)
	VBUS_NL_GENL_SYMS(VBUS_NL_LOAD_GENL)
	loaded = true;
	return 0;
}

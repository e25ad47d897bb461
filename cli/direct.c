// SPDX-License-Identifier: LGPL-2.1-or-later
/* vbusctl in-process: the transport ops are the libvbus calls on a context. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "transport.h"

#if VBUSCTL_FAKE_KERNEL
/* Test build only (tests/meson.build): tests/integration/fake-kernel.c plays the kernel's part
 * of mdev create/remove in a fake tree, so start and stop can be tested through vbusctl. */
void fake_kernel_install(struct vbus_ctx *ctx);
#endif

static void log_stderr(void *userdata, int level, const char *file, int line, const char *fn,
		       const char *format, va_list args)
{
	fputs("vbusctl: ", stderr);
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
}

static int d_list_parents(void *t, const char *parent, struct json_object **ret)
{
	return vbus_list_parents(t, parent, ret);
}

static int d_list_types(void *t, const char *parent, struct json_object **ret)
{
	return vbus_list_types(t, parent, ret);
}

static int d_list_devices(void *t, unsigned flags, const char *name, struct vbus_device ***ret,
			  size_t *ret_n)
{
	return vbus_list_devices(t, flags, name, ret, ret_n);
}

static int d_def_load(void *t, const char *name, struct vbus_def **ret)
{
	return vbus_def_load(t, name, ret);
}

static int d_define(void *t, struct vbus_def *def, unsigned flags)
{
	return vbus_define(t, def, flags);
}

static int d_undefine(void *t, const char *name)
{
	return vbus_undefine(t, name);
}

static int d_start(void *t, const char *name)
{
	return vbus_start(t, name);
}

static int d_start_flags(void *t, const char *name, unsigned flags)
{
	return vbus_start_with_flags(t, name, flags);
}

static int d_stop(void *t, const char *name)
{
	return vbus_stop(t, name);
}

static int d_create(void *t, struct vbus_def *def, unsigned flags)
{
	return vbus_create(t, def, flags);
}

static int d_remove(void *t, const char *name)
{
	return vbus_remove(t, name);
}

static int d_assign(void *t, const char *name, const char *driver)
{
	return vbus_assign(t, name, driver);
}

static int d_import(void *t, const char *source, const char *dir, struct json_object **ret)
{
	return vbus_import(t, source, dir, ret);
}

static int d_import_flags(void *t, const char *source, const char *dir, unsigned flags,
			  struct json_object **ret)
{
	return vbus_import_with_flags(t, source, dir, flags, ret);
}

static int d_apply(void *t, struct json_object *definitions, unsigned flags,
		   struct json_object **ret_plan)
{
	return vbus_apply(t, definitions, flags, ret_plan);
}

static int d_fill(void *t, struct vbus_def *def, const char *purpose)
{
	return vbus_policy_fill(t, def, purpose);
}

static const char *d_last_error(void *t)
{
	return vbus_ctx_last_error(t);
}

static void d_close(void *t)
{
	vbus_ctx_unref(t);
}

static int d_root(void *t, char **ret)
{
	char *s = strdup(vbus_ctx_get_root(t));

	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static int d_modify_live(void *t, const struct vbus_def *def)
{
	return vbus_modify_live(t, def);
}

static const struct transport_ops direct_ops = {
    .name = "direct",
    .list_parents = d_list_parents,
    .list_types = d_list_types,
    .list_devices = d_list_devices,
    .def_load = d_def_load,
    .define = d_define,
    .undefine = d_undefine,
    .start = d_start,
    .start_flags = d_start_flags,
    .import_flags = d_import_flags,
    .stop = d_stop,
    .create = d_create,
    .remove = d_remove,
    .assign = d_assign,
    .import = d_import,
    .last_error = d_last_error,
    .close = d_close,
    .apply = d_apply,
    .root = d_root,
    .fill = d_fill,
    .modify_live = d_modify_live,
};

int transport_direct_open(const char *root, struct transport *ret)
{
	struct vbus_ctx *ctx;
	int r;

	r = vbus_ctx_new(root, &ctx);
	if (r < 0)
		return r;
	vbus_ctx_set_log_fn(ctx, log_stderr, NULL);
#if VBUSCTL_FAKE_KERNEL
	fake_kernel_install(ctx);
#endif
	*ret = (struct transport){.ops = &direct_ops, .data = ctx};
	return 0;
}

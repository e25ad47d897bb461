// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * vf-netdev-apply DEVPATH INDEX [KEY=VALUE...]: the vf backend's per-VF settings (lib/vf-netdev.c,
 * the same functions a vf definition's start calls), validated and applied to VF INDEX through
 * the network interface of the device DEVPATH (e.g. /sys/bus/netdevsim/devices/netdevsim11). For
 * tests/vm/vf-netdev.sh: qemu has no emulated SR-IOV NIC, netdevsim has VFs without a PCI PF.
 * Exit 0 done, 1 refused (the cause on stderr), 2 usage.
 */
#include <stdio.h>

#include "vbus-private.h"
#include "vf-netdev.h"

static void log_stderr(void *userdata, int level, const char *file, int line, const char *fn,
		       const char *format, va_list args)
{
	fprintf(stderr, "vf-netdev-apply: ");
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
}

int main(int argc, char **argv)
{
	_cleanup_def_ struct vbus_def *def = NULL;
	struct vbus_vf_settings s;
	struct vbus_ctx *ctx = NULL;
	const char *base;
	char *end;
	long index;
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: vf-netdev-apply DEVPATH INDEX [KEY=VALUE...]\n");
		return 2;
	}
	index = strtol(argv[2], &end, 10);
	if (*end || index < 0) {
		fprintf(stderr, "vf-netdev-apply: bad index '%s'\n", argv[2]);
		return 2;
	}
	base = strrchr(argv[1], '/') ? strrchr(argv[1], '/') + 1 : argv[1];
	if (vbus_ctx_new("/", &ctx) < 0 || vbus_def_new(&def) < 0 ||
	    !(def->name = strdup("vfnet")) || !(def->parent = strdup(base)))
		return 1;
	vbus_ctx_set_log_fn(ctx, log_stderr, NULL);
	def->kind = VBUS_KIND_VF;
	def->index = index;
	for (int i = 3; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (!eq) {
			fprintf(stderr, "vf-netdev-apply: '%s' is not KEY=VALUE\n", argv[i]);
			return 2;
		}
		*eq = '\0';
		if (vbus_def_add_attr(def, argv[i], eq + 1) < 0)
			return 1;
	}
	r = vbus_vf_settings_parse(ctx, def, &s);
	if (r >= 0)
		r = vbus_vf_settings_apply(ctx, def->name, argv[1], (uint32_t)index, &s);
	if (r < 0)
		fprintf(stderr, "vf-netdev-apply: %s\n", vbus_ctx_last_error(ctx) ?: strerror(-r));
	vbus_ctx_unref(ctx);
	return r < 0 ? 1 : 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* vbus-udev: run by udev for an added PCI function, sets its definition's driver_override. */
#include <getopt.h>
#include <stdio.h>

#include "bind.h"
#include "libvbus-internal.h"
#include "sysfs.h"
#include "vbus-private.h"

/*
 * At boot the kernel finds PCI functions before any module is loaded; udev then loads each
 * function's driver module (80-drivers.rules). A pci or VF definition wants its function held
 * by another driver (vfio-pci) from the start, as driverctl keeps it: this program, called by
 * an earlier rule, writes that driver into driver_override, so the host driver's module finds
 * nothing to take and the wanted one binds when it is loaded (the rule loads it). It reads
 * /etc/vbus alone: no vbusd, no D-Bus, no lock (it only reads definitions), and it never
 * unbinds a driver (a function bound already is vbusd's to rebind).
 */

#define PCI_DEVICES "/sys/bus/pci/devices"

static void log_stderr(void *userdata, int level, const char *file, int line, const char *fn,
		       const char *format, va_list args)
{
	fputs("vbus-udev: ", stderr);
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
}

static void help(void)
{
	printf("Usage: vbus-udev [--root DIR] pci-override ADDRESS\n\n"
	       "Called by udev (05-vbus-override.rules) for an added PCI function: when a\n"
	       "start:auto pci definition names ADDRESS, or a vf definition's PF and index\n"
	       "resolve to it, and wants a driver other than the host's, writes that driver to\n"
	       "its driver_override (and probes it when that driver is loaded already), then\n"
	       "prints the driver's name for the rule to load. Exit 1, printing nothing, when no\n"
	       "definition asks for a driver.\n\n"
	       "  --root DIR   work on the tree below DIR (tests)\n"
	       "  -h, --help   this text\n");
}

/* Does DEF (start:auto) describe the PCI function BDF? */
static bool def_is(struct vbus_ctx *ctx, const struct vbus_def *def, const char *bdf)
{
	_cleanup_free_ char *link = NULL, *vf = NULL;

	if (def->start != VBUS_START_AUTO || !def->parent)
		return false;
	if (def->kind == VBUS_KIND_PCI)
		return streq(def->parent, bdf);
	if (def->kind != VBUS_KIND_VF || def->index < 0 || !sysfs_name_is_valid(def->parent))
		return false;
	/* The PF's virtfnN link, as libvbus finds a VF. */
	if (asprintf(&link, PCI_DEVICES "/%s/virtfn%lld", def->parent, (long long)def->index) < 0) {
		link = NULL;
		return false;
	}
	return sysfs_link_basename(ctx, link, &vf) >= 0 && streq(vf, bdf);
}

/* The driver name DEF wants its function held by; NULL (and 0) for the host's or none. */
static int wanted_driver(struct vbus_ctx *ctx, const struct vbus_def *def, char **ret)
{
	_cleanup_free_ char *choice = NULL;
	int r;

	if (!def->driver || streq(def->driver, VBUS_DRIVER_AUTO)) {
		r = vbus_policy_resolve_driver(ctx, def, &choice);
		if (r < 0)
			return r;
	} else if (!(choice = strdup(def->driver))) {
		return -ENOMEM;
	}
	if (streq(choice, VBUS_DRIVER_HOST) || streq(choice, VBUS_DRIVER_NONE)) {
		/* host: what the kernel picks anyway. none: vbus never pins a function to a
		 * driver that does not exist (see vbus_bind_driver()); vbusd unbinds it. */
		*ret = NULL;
		return 0;
	}
	if (streq(choice, VBUS_DRIVER_VFIO)) {
		*ret = strdup("vfio-pci");
		return *ret ? 0 : -ENOMEM;
	}
	if (!vbus_driver_is_valid(choice))
		return -EINVAL;
	*ret = TAKE_PTR(choice);
	return 0;
}

static int pci_override(struct vbus_ctx *ctx, const char *bdf)
{
	_cleanup_free_ char *driver = NULL, *cur = NULL, *bound = NULL, *drvdir = NULL;
	struct vbus_def **defs = NULL;
	const struct vbus_def *def = NULL;
	size_t n = 0;
	int r;

	r = vbus_store_load_all(ctx, true, &defs, &n);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	for (size_t i = 0; i < n && !def; i++)
		if (def_is(ctx, defs[i], bdf))
			def = defs[i];
	r = def ? wanted_driver(ctx, def, &driver) : 0;
	if (r < 0)
		fprintf(stderr, "vbus-udev: %s: cannot choose a driver for '%s': %s\n", bdf,
			def->name, vbus_ctx_last_error(ctx) ?: strerror(-r));
	if (r < 0 || !driver)
		goto out;

	r = sysfs_readf(ctx, &cur, PCI_DEVICES "/%s/driver_override", bdf);
	if (r < 0 || !streq(cur, driver)) {
		r = sysfs_writef(ctx, driver, PCI_DEVICES "/%s/driver_override", bdf);
		if (r < 0) {
			fprintf(stderr,
				"vbus-udev: %s: cannot set driver_override to %s for '%s': %s\n",
				bdf, driver, def->name, strerror(-r));
			goto out;
		}
	}
	/* Probed before the override was there: when its driver is loaded already, nothing else
	 * will probe it again. Bound already (hot-plug with the host driver loaded): vbusd. */
	if (vbus_bind_get_driver(ctx, "pci", bdf, &bound) >= 0 && !bound &&
	    asprintf(&drvdir, "/sys/bus/pci/drivers/%s", driver) >= 0 && sysfs_exists(ctx, drvdir))
		(void)sysfs_write(ctx, "/sys/bus/pci/drivers_probe", bdf);
	printf("%s\n", driver);
	r = 1;
out:
	vbus_defs_free(defs, n);
	return r;
}

int main(int argc, char *argv[])
{
	static const struct option options[] = {
	    {"root", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	const char *root = NULL;
	struct vbus_ctx *ctx;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case 'r':
			root = optarg;
			break;
		case 'h':
			help();
			return 0;
		default:
			return 2;
		}
	if (argc - optind != 2 || !streq(argv[optind], "pci-override") ||
	    !sysfs_name_is_valid(argv[optind + 1])) {
		fprintf(stderr, "Usage: vbus-udev [--root DIR] pci-override ADDRESS\n");
		return 2;
	}
	r = vbus_ctx_new(root, &ctx);
	if (r < 0) {
		fprintf(stderr, "vbus-udev: %s: %s\n", root ?: "/", strerror(-r));
		return 1;
	}
	vbus_ctx_set_log_fn(ctx, log_stderr, NULL);
	r = pci_override(ctx, argv[optind + 1]);
	vbus_ctx_unref(ctx);
	return r > 0 ? 0 : 1;
}

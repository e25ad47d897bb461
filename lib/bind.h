/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Driver binding of a device on a sysfs bus (driver_override + drivers_probe), shared by vf and
 * pci. */
#pragma once

#include "vbus-private.h"

/*
 * BUS is the bus name ("pci"), DEV the device's name on it ("0000:03:01.0"); the device is
 * /sys/bus/BUS/devices/DEV.
 */

/* The driver DEV is bound to, *ret NULL when unbound. -ENODEV when DEV does not exist. */
int vbus_bind_get_driver(struct vbus_ctx *ctx, const char *bus, const char *dev, char **ret);

/*
 * Binds DEV to DRIVER and verifies that DRIVER is what got bound (driverctl only checks that
 * some driver is bound). Steps: load the module when the driver is missing (modprobe, real root
 * only), write DRIVER to driver_override, unbind from the current driver, write DEV to
 * drivers_probe, read the driver link. Already bound to DRIVER: nothing is written. On failure
 * the previous override and driver are restored as far as the kernel lets us, and the error
 * names what got bound instead (-EIO).
 *
 * DRIVER NULL ("none"): clears driver_override and unbinds. The device then stays unbound until
 * something probes it again (a new uevent, drivers_probe, a reboot); vbus does not pin it to a
 * non-existent driver name, so the host driver can always get it back.
 */
int vbus_bind_driver(struct vbus_ctx *ctx, const char *bus, const char *dev, const char *driver);

/*
 * Gives DEV back to the driver the kernel itself picks (its "host" driver): clears
 * driver_override, unbinds, writes drivers_probe, and returns the driver that got bound in *ret
 * (NULL when none took it; ret may be NULL). When DEV is bound and has no override, it already
 * is with its host driver and nothing is written.
 */
int vbus_bind_host(struct vbus_ctx *ctx, const char *bus, const char *dev, char **ret);

/* Runs ARGV[0] (an absolute path) with ARGV, without a shell; 0 when it exits 0, -EIO when it
 * fails (its exit status logged at debug), negative errno when it cannot be started. */
int vbus_run(struct vbus_ctx *ctx, char *const argv[]);

/*
 * Maps a driver CHOICE for a PCI device to a driver name: "none" -> NULL, "vfio" -> "vfio-pci",
 * "host" -> the driver the kernel picks for DEV (vbus_bind_host(): this may rebind DEV when it
 * is held through an override or unbound; -ENOENT when no driver takes it), anything else is
 * taken literally.
 */
int vbus_bind_resolve_pci(struct vbus_ctx *ctx, const char *dev, const char *choice, char **ret);

/*
 * Whether DEF's driver can ever bind: "auto", "vfio", "host", "none" and no driver always can;
 * any other name must be a driver on the kind's bus (/sys/bus/BUS/drivers/NAME) or a module of
 * that name (- and _ alike) in modules.dep of the running kernel (under a fake root: of any
 * kernel in ROOT/lib/modules), as start loads it with modprobe. -ENOENT otherwise, with a
 * message naming the bus and the nearest known driver. On the real root a modules.dep that
 * cannot be read (vbusd's unit hides /lib/modules) refuses nothing.
 */
int vbus_driver_check(struct vbus_ctx *ctx, const struct vbus_def *def);

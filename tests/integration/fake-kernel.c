// SPDX-License-Identifier: LGPL-2.1-or-later
/* The kernel's part of mdev create/remove and PCI binding in a fake tree (vbusd-fake-kernel). */
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vbus-private.h"

/*
 * Built into a test copy of vbusd (VBUSD_FAKE_KERNEL): after libvbus writes an mdev type's
 * "create" or an mdev's "remove" in the tree, the device appears or goes as under Linux
 * (mdev dir under the parent, mdev_type link, type's devices/ link, bus link, bound to the
 * parent's mdev driver, available_instances counted). PCI functions are unbound, probed and
 * bound through driver_override as the driver core does it (a function goes back to the driver
 * it had without an override). An mdev is unbound from its driver as under Linux, and bind is
 * refused as 6.1's mdev_match() refuses every driver. Nothing else is simulated.
 */

static const char *base(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static int put(const char *path, const char *value)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -errno;
	fprintf(f, "%s\n", value);
	return fclose(f) < 0 ? -errno : 0;
}

/* The kernel's attribute never reads half-written: a vbusd-fake-kernel killed while counting
 * must leave the old value or the new one. */
static int put_atomic(const char *path, const char *value)
{
	char tmp[PATH_MAX + 16];
	int r;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	r = put(tmp, value);
	if (r < 0)
		return r;
	return rename(tmp, path) < 0 ? -errno : 0;
}

static long get_long(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = 0;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int add_instances(const char *typedir, long delta)
{
	char p[2 * PATH_MAX], v[32];
	long n;

	snprintf(p, sizeof(p), "%s/available_instances", typedir);
	n = get_long(p);
	if (n + delta < 0)
		return -ENOSPC;
	snprintf(v, sizeof(v), "%ld", n + delta);
	return put_atomic(p, v);
}

/* What a killed vbusd-fake-kernel left of a device it was making or removing: the kernel does
 * both atomically, so a half-made device must not exist for the next create either. */
static void remove_leftover(const char *devdir)
{
	const char *files[] = { "driver", "mdev_type", "remove" };
	char p[2 * PATH_MAX];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", devdir, files[i]);
		unlink(p);
	}
	rmdir(devdir);
}

static int mdev_create(const char *root, const char *typelink, const char *uuid)
{
	char typedir[PATH_MAX], parentdir[PATH_MAX], devdir[2 * PATH_MAX], p[3 * PATH_MAX];
	char drv[PATH_MAX], buslink[2 * PATH_MAX];
	const char *driver;
	int r;

	if (!realpath(typelink, typedir))
		return -ENOENT;
	snprintf(p, sizeof(p), "%s/../..", typedir);
	if (!realpath(p, parentdir))
		return -ENOENT;
	snprintf(devdir, sizeof(devdir), "%s/%s", parentdir, uuid);
	/* The device exists once it is on the bus: that link is made last and removed first. */
	snprintf(buslink, sizeof(buslink), "%s/sys/bus/mdev/devices/%s", root, uuid);
	if (access(buslink, F_OK) == 0)
		return -EEXIST;
	if (access(devdir, F_OK) == 0)
		remove_leftover(devdir);
	r = add_instances(typedir, -1);
	if (r < 0)
		return r;
	if (mkdir(devdir, 0755) < 0)
		return -errno;
	snprintf(p, sizeof(p), "%s/remove", devdir);
	put(p, "");
	snprintf(p, sizeof(p), "%s/mdev_type", devdir);
	(void)symlink(typedir, p);
	snprintf(p, sizeof(p), "%s/devices", typedir);
	(void)mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/devices/%s", typedir, uuid);
	(void)unlink(p);
	(void)symlink(devdir, p);
	/* The parent's mdev driver binds it on creation. */
	driver = streq(base(parentdir), "mtty") ? "mtty" : "intel_vgpu_mdev";
	snprintf(drv, sizeof(drv), "%s/sys/bus/mdev/drivers/nvidia-vgpu-vfio", root);
	if (!streq(driver, "mtty") && access(drv, F_OK) == 0)
		driver = "nvidia-vgpu-vfio"; /* tests/data/host-2gpu */
	snprintf(drv, sizeof(drv), "%s/sys/bus/mdev/drivers/%s", root, driver);
	if (access(drv, F_OK) == 0) {
		snprintf(p, sizeof(p), "%s/driver", devdir);
		(void)symlink(drv, p);
		snprintf(p, sizeof(p), "%s/%s", drv, uuid);
		(void)unlink(p);
		(void)symlink(devdir, p);
	}
	snprintf(p, sizeof(p), "%s/sys/bus/mdev/devices", root);
	(void)mkdir(p, 0755);
	(void)symlink(devdir, buslink);
	return 0;
}

static int mdev_remove(const char *root, const char *devlink)
{
	char devdir[PATH_MAX], typedir[PATH_MAX], target[PATH_MAX], p[3 * PATH_MAX];
	const char *uuid;
	ssize_t n;

	if (!realpath(devlink, devdir))
		return -ENODEV;
	uuid = base(devdir);
	/* Off the bus first: a remove killed half-way leaves a leftover, not a device. */
	snprintf(p, sizeof(p), "%s/sys/bus/mdev/devices/%s", root, uuid);
	unlink(p);
	snprintf(p, sizeof(p), "%s/driver", devdir);
	n = readlink(p, target, sizeof(target) - 1);
	if (n >= 0) {
		target[n] = 0;
		unlink(p);
		snprintf(p, sizeof(p), "%s/sys/bus/mdev/drivers/%s/%s", root, base(target), uuid);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/mdev_type", devdir);
	if (realpath(p, typedir)) {
		snprintf(p, sizeof(p), "%s/devices/%s", typedir, uuid);
		unlink(p);
		(void)add_instances(typedir, 1);
	}
	unlink(p);
	snprintf(p, sizeof(p), "%s/mdev_type", devdir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/remove", devdir);
	unlink(p);
	return rmdir(devdir) < 0 ? -errno : 0;
}

/* The device's directory and the driver it is bound to ("" when none). */
static int bus_dev(const char *root, const char *bus, const char *name, char *devdir, char *drv,
		   size_t size)
{
	char p[2 * PATH_MAX], t[PATH_MAX];
	ssize_t n;

	snprintf(p, sizeof(p), "%s/sys/bus/%s/devices/%s", root, bus, name);
	if (!realpath(p, devdir))
		return -ENODEV;
	snprintf(p, sizeof(p), "%s/driver", devdir);
	n = readlink(p, t, sizeof(t) - 1);
	t[n > 0 ? n : 0] = 0;
	snprintf(drv, size, "%s", base(t));
	return 0;
}

/* Unbinds NAME from DRIVER as the driver core does: the device's driver link and the
 * driver's link to it go; the device stays. */
static int bus_unbind(const char *root, const char *bus, const char *name, const char *driver)
{
	char devdir[PATH_MAX], drv[PATH_MAX], p[3 * PATH_MAX];

	if (bus_dev(root, bus, name, devdir, drv, sizeof(drv)) < 0 || !streq(drv, driver))
		return -ENODEV;
	snprintf(p, sizeof(p), "%s/driver", devdir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/sys/bus/%s/drivers/%s/%s", root, bus, driver, name);
	unlink(p);
	return 0;
}

/* ---- PCI binding: unbind, drivers_probe and bind as the driver core does them ---- */

/* Reads the first line of PATH into BUF (empty when it cannot). */
static void get_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");

	buf[0] = 0;
	if (!f)
		return;
	if (!fgets(buf, (int)size, f))
		buf[0] = 0;
	buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

static int pci_unbind(const char *root, const char *bdf)
{
	char devdir[PATH_MAX], drv[PATH_MAX], p[3 * PATH_MAX], o[256];

	if (bus_dev(root, "pci", bdf, devdir, drv, sizeof(drv)) < 0 || !drv[0])
		return -ENODEV;
	/* The driver the kernel matches by itself: the one bound while no override was set. */
	snprintf(p, sizeof(p), "%s/driver_override", devdir);
	get_line(p, o, sizeof(o));
	snprintf(p, sizeof(p), "%s/.fake-host-driver", devdir);
	if ((!o[0] || streq(o, "(null)")) && access(p, F_OK) < 0)
		put(p, drv);
	return bus_unbind(root, "pci", bdf, drv);
}

/* Binds BDF to DRIVER, or with DRIVER NULL to what the override or the host match picks. */
static int pci_probe(const char *root, const char *bdf, const char *driver)
{
	char devdir[PATH_MAX], drv[PATH_MAX], p[3 * PATH_MAX], want[256], ddir[2 * PATH_MAX];

	if (bus_dev(root, "pci", bdf, devdir, drv, sizeof(drv)) < 0)
		return -ENODEV;
	if (drv[0])
		return driver ? -EBUSY : 0;
	snprintf(p, sizeof(p), "%s/driver_override", devdir);
	get_line(p, want, sizeof(want));
	if (driver && want[0] && !streq(want, "(null)") && !streq(want, driver))
		return -EINVAL;
	if (driver) {
		snprintf(want, sizeof(want), "%s", driver);
	} else if (!want[0] || streq(want, "(null)")) {
		snprintf(p, sizeof(p), "%s/.fake-host-driver", devdir);
		get_line(p, want, sizeof(want));
	}
	snprintf(ddir, sizeof(ddir), "%s/sys/bus/pci/drivers/%s", root, want);
	if (!want[0] || access(ddir, F_OK) < 0)
		return 0; /* no driver takes it: it stays unbound, as probing allows */
	snprintf(p, sizeof(p), "%s/driver", devdir);
	if (symlink(ddir, p) < 0)
		return -errno;
	snprintf(p, sizeof(p), "%s/%s", ddir, bdf);
	(void)symlink(devdir, p);
	return 0;
}

static int hook(struct vbus_ctx *ctx, const char *path, const char *value, void *userdata)
{
	const char *root = vbus_ctx_get_root(ctx);
	char dir[PATH_MAX], v[256];

	snprintf(v, sizeof(v), "%s", value);
	v[strcspn(v, "\n")] = 0;
	snprintf(dir, sizeof(dir), "%s", path);
	dirname(dir);
	if (streq(base(path), "create") && strstr(path, "/mdev_supported_types/"))
		return mdev_create(root, dir, v);
	if (streq(base(path), "remove") && strstr(path, "/sys/bus/mdev/devices/"))
		return mdev_remove(root, dir);
	if (strstr(path, "/sys/bus/mdev/drivers/") && streq(base(path), "unbind"))
		return bus_unbind(root, "mdev", v, base(dir));
	if (strstr(path, "/sys/bus/mdev/drivers/") && streq(base(path), "bind"))
		return -ENODEV;
	if (strstr(path, "/sys/bus/pci/drivers/") && streq(base(path), "unbind"))
		return pci_unbind(root, v);
	if (strstr(path, "/sys/bus/pci/drivers/") && streq(base(path), "bind"))
		return pci_probe(root, v, base(dir));
	if (strstr(path, "/sys/bus/pci/drivers_probe"))
		return pci_probe(root, v, NULL);
	return 0;
}

/* VBUS_FAKE_KILL_AT=STEP: the process is SIGKILLed right after that step of a start
 * ("checked", "intent", "created", "bound", "recorded"), as a crash there would leave it. */
static void step_hook(struct vbus_ctx *ctx, const char *step, void *userdata)
{
	const char *at = getenv("VBUS_FAKE_KILL_AT");

	if (at && streq(at, step))
		raise(SIGKILL);
}

void fake_kernel_install(struct vbus_ctx *ctx);
void fake_kernel_install(struct vbus_ctx *ctx)
{
	ctx->sysfs_write_hook = hook;
	ctx->step_hook = step_hook;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* The kernel's part of mdev create/remove and PCI binding in a fake tree (vbusd-fake-kernel). */
/* Paths in a test tree are short; snprintf truncation cannot happen here. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#include <ftw.h>
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
 * refused as 6.1's mdev_match() refuses every driver. A PF's sriov_numvfs makes or removes its
 * VFs as the PCI core does (through 0 only); an NVIDIA GPU's VFs get the vGPU manager's nvidia/
 * directory, whose current_vgpu_type places a profile and whose creatable_vgpu_types shrink as
 * profiles are placed (see vgpu_update()). Nothing else is simulated.
 *
 * What a fake tree says to this kernel, in hidden files of a PF (tests/data/mktree.sh):
 *   .fake-vf-host-driver  the driver its VFs match by id
 *   .fake-vgpu-types      "ID SIZE NAME" a line: the vGPU profiles of the GPU, SIZE in GB of
 *                         framebuffer; .fake-vgpu-framebuffer the GPU's total
 *   .fake-vf-mdev-types   "TYPE AVAILABLE NAME" a line: the mdev types each VF offers (vGPU 16 and
 *                         older on SR-IOV GPUs: the mdev's parent is the VF); .fake-mdev-driver
 *                         the mdev driver that binds them
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

static void get_line(const char *path, char *buf, size_t size);

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
	snprintf(p, sizeof(p), "%s/.fake-mdev-driver", parentdir);
	get_line(p, drv, sizeof(drv));
	if (drv[0])
		driver = strdupa(drv);
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

/* ---- SR-IOV: a PF's VFs, and NVIDIA's vGPU profiles on them ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* The VF directory of virtfnI of PFDIR into VFDIR; -ENOENT when there is none. */
static int vf_dir(const char *pfdir, long i, char *vfdir)
{
	char p[2 * PATH_MAX];

	snprintf(p, sizeof(p), "%s/virtfn%ld", pfdir, i);
	return realpath(p, vfdir) ? 0 : -ENOENT;
}

static long count_vfs(const char *pfdir)
{
	char vfdir[PATH_MAX];
	long n = 0;

	while (vf_dir(pfdir, n, vfdir) == 0)
		n++;
	return n;
}

/*
 * The creatable_vgpu_types of every VF of PFDIR after a change: a VF with a profile lists none;
 * a free VF lists the profiles that fit in what is left of the framebuffer and, once one is
 * placed, only those of the placed size (time-sliced vGPUs of one GPU share one size unless
 * the GPU runs heterogeneous profiles, which this GPU does not).
 */
static void vgpu_update(const char *pfdir)
{
	char p[2 * PATH_MAX], vfdir[PATH_MAX], line[512];
	long n = count_vfs(pfdir), fb, used = 0, placed_size = 0;
	FILE *types;

	snprintf(p, sizeof(p), "%s/.fake-vgpu-framebuffer", pfdir);
	fb = get_long(p);
	snprintf(p, sizeof(p), "%s/.fake-vgpu-types", pfdir);
	/* The sizes of the placed profiles. */
	for (long i = 0; i < n; i++) {
		long cur, id, size;

		if (vf_dir(pfdir, i, vfdir) < 0)
			continue;
		snprintf(p, sizeof(p), "%s/nvidia/current_vgpu_type", vfdir);
		cur = get_long(p);
		if (cur <= 0)
			continue;
		snprintf(p, sizeof(p), "%s/.fake-vgpu-types", pfdir);
		types = fopen(p, "re");
		while (types && fgets(line, sizeof(line), types))
			if (sscanf(line, "%ld %ld", &id, &size) == 2 && id == cur) {
				used += size;
				placed_size = size;
			}
		if (types)
			fclose(types);
	}
	for (long i = 0; i < n; i++) {
		char list[4096] = "ID    : vGPU Name\n";
		size_t len = strlen(list);
		long cur, id, size;
		int off;

		if (vf_dir(pfdir, i, vfdir) < 0)
			continue;
		snprintf(p, sizeof(p), "%s/nvidia/current_vgpu_type", vfdir);
		cur = get_long(p);
		snprintf(p, sizeof(p), "%s/.fake-vgpu-types", pfdir);
		types = fopen(p, "re");
		while (cur == 0 && types && fgets(line, sizeof(line), types)) {
			line[strcspn(line, "\n")] = 0;
			if (sscanf(line, "%ld %ld %n", &id, &size, &off) < 2)
				continue;
			if (size > fb - used || (placed_size && size != placed_size))
				continue;
			len += snprintf(list + len, sizeof(list) - len, "%-5ld : %s\n", id, line + off);
			if (len >= sizeof(list))
				break;
		}
		if (types)
			fclose(types);
		list[len > 0 && len < sizeof(list) ? len - 1 : 0] = 0; /* put() adds the newline */
		snprintf(p, sizeof(p), "%s/nvidia/creatable_vgpu_types", vfdir);
		(void)put_atomic(p, list);
	}
}

/* Writing a profile id to a VF's nvidia/current_vgpu_type: placed when the VF lists it, 0
 * removes it (refused while the VF is bound to a driver, as the vGPU manager refuses a busy
 * VF). */
static int vgpu_set(const char *attr, const char *value)
{
	char vfdir[PATH_MAX], pfdir[PATH_MAX], p[2 * PATH_MAX], line[512], d[PATH_MAX];
	long want = strtol(value, NULL, 10), cur, id;
	bool found = false;
	FILE *f;

	snprintf(p, sizeof(p), "%s", attr);
	dirname(p);
	strcat(p, "/..");
	if (!realpath(p, vfdir))
		return -ENODEV;
	snprintf(p, sizeof(p), "%s/physfn", vfdir);
	if (!realpath(p, pfdir))
		return -ENODEV;
	/* The write is in the file already: what the kernel holds is in the VF's hidden copy,
	 * which a refusal puts back. */
	snprintf(p, sizeof(p), "%s/nvidia/.fake-current", vfdir);
	cur = get_long(p);
	cur = cur < 0 ? 0 : cur;
	snprintf(line, sizeof(line), "%ld", cur);
	(void)put_atomic(attr, line);
	snprintf(d, sizeof(d), "%s/driver", vfdir);
	if (want == 0) {
		if (cur != 0 && access(d, F_OK) == 0)
			return -EBUSY;
		(void)put_atomic(p, "0");
		(void)put_atomic(attr, "0");
		vgpu_update(pfdir);
		return 0;
	}
	if (cur != 0)
		return -EBUSY;
	snprintf(p, sizeof(p), "%s/nvidia/creatable_vgpu_types", vfdir);
	f = fopen(p, "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%ld :", &id) == 1 && id == want)
			found = true;
	if (f)
		fclose(f);
	if (!found)
		return -EINVAL;
	snprintf(p, sizeof(p), "%s/nvidia/.fake-current", vfdir);
	(void)put_atomic(p, value);
	(void)put_atomic(attr, value);
	vgpu_update(pfdir);
	return 0;
}

static int copy_attr(const char *from, const char *to)
{
	char v[256];

	get_line(from, v, sizeof(v));
	return put(to, v);
}

static int vfs_remove(const char *root, const char *pfdir)
{
	char vfdir[PATH_MAX], p[3 * PATH_MAX];
	long n = count_vfs(pfdir);

	for (long i = n - 1; i >= 0; i--) {
		if (vf_dir(pfdir, i, vfdir) < 0)
			continue;
		(void)pci_unbind(root, base(vfdir));
		snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/%s", root, base(vfdir));
		unlink(p);
		snprintf(p, sizeof(p), "%s/sys/class/mdev_bus/%s", root, base(vfdir));
		unlink(p);
		snprintf(p, sizeof(p), "%s/virtfn%ld", pfdir, i);
		unlink(p);
		(void)nftw(vfdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
	return 0;
}

static int vf_make(const char *root, const char *pfdir, long i, const char *bdf)
{
	char vfdir[PATH_MAX], p[3 * PATH_MAX], q[3 * PATH_MAX], v[256], line[512];
	static const char *const copied[] = { "vendor", "class", "subsystem_vendor",
					      "subsystem_device" };
	FILE *f;

	snprintf(vfdir, sizeof(vfdir), "%s/../%s", pfdir, bdf);
	if (mkdir(vfdir, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (!realpath(vfdir, p))
		return -EIO;
	snprintf(vfdir, sizeof(vfdir), "%s", p);
	for (size_t k = 0; k < sizeof(copied) / sizeof(copied[0]); k++) {
		snprintf(p, sizeof(p), "%s/%s", pfdir, copied[k]);
		snprintf(q, sizeof(q), "%s/%s", vfdir, copied[k]);
		(void)copy_attr(p, q);
	}
	snprintf(p, sizeof(p), "%s/sriov_vf_device", pfdir);
	snprintf(q, sizeof(q), "%s/device", vfdir);
	(void)copy_attr(p, q);
	snprintf(q, sizeof(q), "%s/driver_override", vfdir);
	put(q, "(null)");
	snprintf(q, sizeof(q), "%s/remove", vfdir);
	put(q, "");
	snprintf(q, sizeof(q), "%s/physfn", vfdir);
	(void)symlink(pfdir, q);
	snprintf(q, sizeof(q), "%s/virtfn%ld", pfdir, i);
	(void)symlink(vfdir, q);
	snprintf(q, sizeof(q), "%s/subsystem", vfdir);
	snprintf(p, sizeof(p), "%s/sys/bus/pci", root);
	(void)symlink(p, q);
	/* An IOMMU group of its own (ACS), numbered after the VF's address. */
	snprintf(p, sizeof(p), "%s/sys/kernel/iommu_groups/%lu", root,
		 1000 + (strtoul(bdf + 5, NULL, 16) << 5) + (unsigned long)i);
	(void)mkdir(p, 0755);
	snprintf(q, sizeof(q), "%s/iommu_group", vfdir);
	(void)symlink(p, q);
	snprintf(p, sizeof(p), "%s/.fake-vf-host-driver", pfdir);
	snprintf(q, sizeof(q), "%s/.fake-host-driver", vfdir);
	if (access(p, F_OK) == 0)
		(void)copy_attr(p, q);
	snprintf(p, sizeof(p), "%s/.fake-vgpu-types", pfdir);
	if (access(p, F_OK) == 0) {
		snprintf(q, sizeof(q), "%s/nvidia", vfdir);
		(void)mkdir(q, 0755);
		snprintf(q, sizeof(q), "%s/nvidia/current_vgpu_type", vfdir);
		put(q, "0");
		snprintf(q, sizeof(q), "%s/nvidia/.fake-current", vfdir);
		put(q, "0");
	}
	snprintf(p, sizeof(p), "%s/.fake-vf-mdev-types", pfdir);
	f = fopen(p, "re");
	while (f && fgets(line, sizeof(line), f)) {
		char type[128];
		long avail;
		int off;

		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "%127s %ld %n", type, &avail, &off) < 2)
			continue;
		snprintf(q, sizeof(q), "%s/mdev_supported_types/%s/devices", vfdir, type);
		snprintf(p, sizeof(p), "%s/mdev_supported_types", vfdir);
		(void)mkdir(p, 0755);
		snprintf(p, sizeof(p), "%s/mdev_supported_types/%s", vfdir, type);
		(void)mkdir(p, 0755);
		(void)mkdir(q, 0755);
		snprintf(q, sizeof(q), "%s/create", p);
		put(q, "");
		snprintf(q, sizeof(q), "%s/name", p);
		put(q, line + off);
		snprintf(q, sizeof(q), "%s/device_api", p);
		put(q, "vfio-pci");
		snprintf(q, sizeof(q), "%s/available_instances", p);
		snprintf(v, sizeof(v), "%ld", avail);
		put(q, v);
	}
	if (f) {
		fclose(f);
		snprintf(p, sizeof(p), "%s/.fake-mdev-driver", pfdir);
		snprintf(q, sizeof(q), "%s/.fake-mdev-driver", vfdir);
		(void)copy_attr(p, q);
		snprintf(q, sizeof(q), "%s/sys/class/mdev_bus", root);
		(void)mkdir(q, 0755); /* git keeps no empty directory */
		snprintf(q, sizeof(q), "%s/sys/class/mdev_bus/%s", root, bdf);
		(void)symlink(vfdir, q);
	}
	/* On the bus last: the VF exists once it is there. */
	snprintf(q, sizeof(q), "%s/sys/bus/pci/devices/%s", root, bdf);
	(void)symlink(vfdir, q);
	snprintf(p, sizeof(p), "%s/sriov_drivers_autoprobe", pfdir);
	get_line(p, v, sizeof(v));
	if (streq(v, "1"))
		(void)pci_probe(root, bdf, NULL);
	return 0;
}

/* A PF's sriov_numvfs, as sriov_numvfs_store() takes it: the count changes only from or to 0. */
static int sriov_numvfs(const char *root, const char *attr, const char *value)
{
	char pfdir[PATH_MAX], p[2 * PATH_MAX], v[64], drv[PATH_MAX];
	long n = strtol(value, NULL, 10), cur, total, offset, stride;
	unsigned dom, bus, dev, fn;

	snprintf(p, sizeof(p), "%s", attr);
	if (!realpath(dirname(p), pfdir))
		return -ENODEV;
	cur = count_vfs(pfdir);
	snprintf(p, sizeof(p), "%s/sriov_totalvfs", pfdir);
	total = get_long(p);
	snprintf(v, sizeof(v), "%ld", cur);
	(void)put_atomic(attr, v);
	if (n < 0 || n > total)
		return -ERANGE;
	if (n == cur)
		return 0;
	if (bus_dev(root, "pci", base(pfdir), p, drv, sizeof(drv)) < 0 || !drv[0])
		return -ENOENT;
	if (n == 0) {
		vfs_remove(root, pfdir);
		return put_atomic(attr, "0");
	}
	if (cur != 0)
		return -EBUSY;
	snprintf(p, sizeof(p), "%s/sriov_offset", pfdir);
	offset = get_long(p);
	snprintf(p, sizeof(p), "%s/sriov_stride", pfdir);
	stride = get_long(p);
	if (sscanf(base(pfdir), "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4)
		return -EINVAL;
	for (long i = 0; i < n; i++) {
		unsigned devfn = dev * 8 + fn + offset + stride * i;
		char bdf[32];
		int r;

		snprintf(bdf, sizeof(bdf), "%04x:%02x:%02x.%x", dom, bus + devfn / 256,
			 (devfn % 256) / 8, devfn % 8);
		r = vf_make(root, pfdir, i, bdf);
		if (r < 0)
			return r;
	}
	snprintf(p, sizeof(p), "%s/.fake-vgpu-types", pfdir);
	if (access(p, F_OK) == 0)
		vgpu_update(pfdir);
	snprintf(v, sizeof(v), "%ld", n);
	return put_atomic(attr, v);
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
	if (streq(base(path), "sriov_numvfs"))
		return sriov_numvfs(root, path, v);
	if (streq(base(path), "current_vgpu_type") && strstr(path, "/nvidia/"))
		return vgpu_set(path, v);
	return 0;
}

/* VBUS_FAKE_KILL_AT=STEP[@N]: the process is SIGKILLed right after that step of a start
 * ("checked", "intent", "created", "bound", "recorded"), as a crash there would leave it; with
 * @N at the Nth time the process reaches that step (a stack starts its lower definition first:
 * "intent@2" is the upper one's intent). */
static void step_hook(struct vbus_ctx *ctx, const char *step, void *userdata)
{
	static unsigned seen;
	const char *at = getenv("VBUS_FAKE_KILL_AT");
	const char *slow = getenv("VBUS_FAKE_CREATED_USEC");
	size_t len = strlen(step);
	unsigned nth = 1;

	/* VBUS_FAKE_CREATED_USEC=N: each create takes N µs more, as a slow probe would. */
	if (slow && streq(step, "created"))
		usleep((useconds_t)strtoul(slow, NULL, 10));

	if (!at || strncmp(at, step, len) != 0 || (at[len] != '\0' && at[len] != '@'))
		return;
	if (at[len] == '@')
		nth = (unsigned)strtoul(at + len + 1, NULL, 10);
	if (++seen == nth)
		raise(SIGKILL);
}

void fake_kernel_install(struct vbus_ctx *ctx);
void fake_kernel_install(struct vbus_ctx *ctx)
{
	ctx->sysfs_write_hook = hook;
	ctx->step_hook = step_hook;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* The mdev, vf and pci backends against copies of the fake host trees, with a hook playing the
 * kernel. */
/* Paths in a temporary directory are short; snprintf truncation cannot happen here. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bind.h"
#include "sysfs.h"
#include "test.h"
#include "vbus-private.h"

TEST_MAIN();

/* ---- the fake kernel --------------------------------------------------------------------- */

struct kernel {
	char root[PATH_MAX];
	/* Every write, as "PATH VALUE" with PATH under the root, in order. */
	char log[64][PATH_MAX + 64];
	int n_log;
	/* Failure injection: a write whose path contains fail_path (and whose value is
	 * fail_value, when set) is refused with fail_err, before anything happens. */
	const char *fail_path;
	const char *fail_value;
	int fail_err;
	/* drivers_probe binds this driver, whatever driver_override says. */
	const char *wrong_driver;
};

static struct kernel K;
static struct vbus_ctx *ctx;


static void put(const char *path, const char *value)
{
	FILE *f = fopen(path, "we");

	if (!f) {
		printf("# cannot write %s: %m\n", path);
		test_failed = 1;
		return;
	}
	fprintf(f, "%s\n", value);
	fclose(f);
}

static char *get(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	size_t n;

	buf[0] = '\0';
	if (!f)
		return buf;
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return buf;
}

static void link_to(const char *target, const char *fmt, ...) _printf_(2, 3);
static void link_to(const char *target, const char *fmt, ...)
{
	char p[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p, sizeof(p), fmt, ap);
	va_end(ap);
	unlink(p);
	if (symlink(target, p) < 0) {
		printf("# symlink %s -> %s: %m\n", p, target);
		test_failed = 1;
	}
}

static const char *base(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* Binds DEVDIR (real path) on BUS to DRIVER, as really_probe() would. */
static int k_bind(const char *bus, const char *devdir, const char *driver)
{
	char drvdir[PATH_MAX];

	snprintf(drvdir, sizeof(drvdir), "%s/sys/bus/%s/drivers/%s", K.root, bus, driver);
	if (access(drvdir, F_OK) < 0)
		return -ENODEV;
	link_to(drvdir, "%s/driver", devdir);
	link_to(devdir, "%s/%s", drvdir, base(devdir));
	return 0;
}

static void k_unbind(const char *bus, const char *devdir)
{
	char l[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(l, sizeof(l), "%s/driver", devdir);
	n = readlink(l, target, sizeof(target) - 1);
	if (n < 0)
		return;
	target[n] = '\0';
	unlink(l);
	snprintf(l, sizeof(l), "%s/sys/bus/%s/drivers/%s/%s", K.root, bus, base(target),
		 base(devdir));
	unlink(l);
}

static bool k_bound(const char *devdir)
{
	char l[PATH_MAX];

	snprintf(l, sizeof(l), "%s/driver", devdir);
	return access(l, F_OK) == 0;
}

/* The driver a PCI device matches by id, as modules.alias would say. */
static const char *host_driver(const char *devdir)
{
	static const struct {
		const char *id, *driver;
	} ids[] = {
	    {"0x8086:0x1889", "iavf"}, {"0x8086:0x1593", "ice"},  {"0x8086:0x10d3", "e1000e"},
	    {"0x144d:0xa808", "nvme"}, {"0x8086:0x3e92", "i915"},
	};
	char p[PATH_MAX], v[32], d[32], id[80];

	snprintf(p, sizeof(p), "%s/vendor", devdir);
	get(p, v, sizeof(v));
	snprintf(p, sizeof(p), "%s/device", devdir);
	get(p, d, sizeof(d));
	snprintf(id, sizeof(id), "%s:%s", v, d);
	for (size_t i = 0; i < ELEMENTSOF(ids); i++)
		if (streq(ids[i].id, id))
			return ids[i].driver;
	return NULL;
}

/* drivers_probe: driver_override first (only that driver may bind), else the id match. */
static int k_probe(const char *bus, const char *dev)
{
	char devdir[PATH_MAX], p[PATH_MAX], o[128];
	const char *drv;

	snprintf(p, sizeof(p), "%s/sys/bus/%s/devices/%s", K.root, bus, dev);
	if (!realpath(p, devdir))
		return -ENODEV;
	if (k_bound(devdir))
		return 0;
	snprintf(p, sizeof(p), "%s/driver_override", devdir);
	get(p, o, sizeof(o));
	drv = (*o && !streq(o, "(null)")) ? o : host_driver(devdir);
	if (K.wrong_driver)
		drv = K.wrong_driver;
	if (drv)
		(void)k_bind(bus, devdir, drv); /* no driver: stays unbound, not an error */
	return 0;
}

static int k_mdev_create(const char *typedir_link, const char *uuid)
{
	char typedir[PATH_MAX], parentdir[PATH_MAX], devdir[PATH_MAX], p[PATH_MAX], v[32];
	const char *drv;
	long avail;

	if (!realpath(typedir_link, typedir))
		return -ENOENT;
	snprintf(p, sizeof(p), "%s/../..", typedir);
	if (!realpath(p, parentdir))
		return -ENOENT;
	snprintf(devdir, sizeof(devdir), "%s/%s", parentdir, uuid);
	if (access(devdir, F_OK) == 0)
		return -EEXIST;
	snprintf(p, sizeof(p), "%s/available_instances", typedir);
	avail = atol(get(p, v, sizeof(v)));
	if (avail <= 0)
		return -ENOSPC;
	snprintf(v, sizeof(v), "%ld", avail - 1);
	put(p, v);

	mkdir(devdir, 0755);
	snprintf(p, sizeof(p), "%s/remove", devdir);
	put(p, "");
	link_to(typedir, "%s/mdev_type", devdir);
	snprintf(p, sizeof(p), "%s/devices", typedir);
	mkdir(p, 0755);
	link_to(devdir, "%s/devices/%s", typedir, uuid);
	snprintf(p, sizeof(p), "%s/sys/bus/mdev/devices", K.root);
	mkdir(p, 0755);
	link_to(devdir, "%s/sys/bus/mdev/devices/%s", K.root, uuid);
	/* Per parent: its mdev driver and the attributes that driver gives the device. */
	if (streq(base(parentdir), "matrix")) {
		static const char *const attrs[] = {"assign_adapter", "assign_domain",
						    "assign_control_domain", "matrix"};

		for (size_t i = 0; i < ELEMENTSOF(attrs); i++) {
			snprintf(p, sizeof(p), "%s/%s", devdir, attrs[i]);
			put(p, "");
		}
		drv = "vfio_ap_mdev";
	} else if (streq(base(parentdir), "mtty")) {
		drv = "mtty";
	} else {
		snprintf(p, sizeof(p), "%s/sys/bus/mdev/drivers/nvidia-vgpu-vfio", K.root);
		drv = access(p, F_OK) == 0 ? "nvidia-vgpu-vfio" : "intel_vgpu_mdev"; /* host-2gpu */
	}
	return k_bind("mdev", devdir, drv);
}

static int k_mdev_remove(const char *devdir_link)
{
	char devdir[PATH_MAX], typedir[PATH_MAX], p[PATH_MAX], v[32];
	const char *uuid;

	if (!realpath(devdir_link, devdir))
		return -ENODEV;
	uuid = base(devdir);
	k_unbind("mdev", devdir);
	snprintf(p, sizeof(p), "%s/mdev_type", devdir);
	if (realpath(p, typedir)) {
		snprintf(p, sizeof(p), "%s/devices/%s", typedir, uuid);
		unlink(p);
		snprintf(p, sizeof(p), "%s/available_instances", typedir);
		snprintf(v, sizeof(v), "%ld", atol(get(p, v, sizeof(v))) + 1);
		put(p, v);
	}
	snprintf(p, sizeof(p), "%s/sys/bus/mdev/devices/%s", K.root, uuid);
	unlink(p);
	test_sh("rm -rf '%s'", devdir);
	return 0;
}

static int count_vfs(const char *pfdir)
{
	char p[PATH_MAX];
	int n = 0;

	for (;; n++) {
		snprintf(p, sizeof(p), "%s/virtfn%d", pfdir, n);
		if (access(p, F_OK) < 0)
			return n;
	}
}

static void k_vf_remove_all(const char *pfdir)
{
	char p[PATH_MAX], vfdir[PATH_MAX];
	int n = count_vfs(pfdir);

	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/virtfn%d", pfdir, i);
		if (!realpath(p, vfdir))
			continue;
		k_unbind("pci", vfdir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/%s", K.root, base(vfdir));
		unlink(p);
		test_sh("rm -rf '%s'", vfdir);
	}
}

static int k_sriov_numvfs(const char *attr, const char *value)
{
	char pfdir[PATH_MAX], p[PATH_MAX], v[32], vfdir[PATH_MAX], bdf[32], vfdev[32];
	unsigned dom, bus, dev, fn;
	long n = strtol(value, NULL, 0), total, offset, stride, cur;

	if (!realpath(attr, p) || !realpath(dirname(p), pfdir))
		return -ENODEV;
	cur = count_vfs(pfdir);
	snprintf(p, sizeof(p), "%s/sriov_totalvfs", pfdir);
	total = atol(get(p, v, sizeof(v)));
	/* The attribute shows the kernel's count, not what was written. */
	snprintf(v, sizeof(v), "%ld", cur);
	put(attr, v);
	if (n > total)
		return -ERANGE;
	if (n == cur)
		return 0;
	if (!k_bound(pfdir))
		return -ENOENT;
	if (n == 0) {
		k_vf_remove_all(pfdir);
		put(attr, "0");
		return 0;
	}
	if (cur != 0)
		return -EBUSY; /* "%d VFs already enabled. Disable before enabling %d VFs" */

	snprintf(p, sizeof(p), "%s/sriov_offset", pfdir);
	offset = atol(get(p, v, sizeof(v)));
	snprintf(p, sizeof(p), "%s/sriov_stride", pfdir);
	stride = atol(get(p, v, sizeof(v)));
	snprintf(p, sizeof(p), "%s/sriov_vf_device", pfdir);
	get(p, vfdev, sizeof(vfdev));
	if (sscanf(base(pfdir), "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4)
		return -EINVAL;
	for (long i = 0; i < n; i++) {
		unsigned devfn = dev * 8 + fn + offset + stride * i;
		static const char *const files[][2] = {
		    {"vendor", "0x8086"},	    {"class", "0x020000"},
		    {"driver_override", "(null)"},  {"remove", ""},
		    {"subsystem_vendor", "0x8086"}, {"subsystem_device", "0x0000"},
		};

		snprintf(bdf, sizeof(bdf), "%04x:%02x:%02x.%x", dom, bus + devfn / 256,
			 (devfn % 256) / 8, devfn % 8);
		snprintf(vfdir, sizeof(vfdir), "%s/../%s", pfdir, bdf);
		mkdir(vfdir, 0755);
		if (!realpath(vfdir, p))
			return -EIO;
		strcpy(vfdir, p);
		for (size_t f = 0; f < ELEMENTSOF(files); f++) {
			snprintf(p, sizeof(p), "%s/%s", vfdir, files[f][0]);
			put(p, files[f][1]);
		}
		snprintf(p, sizeof(p), "%s/device", vfdir);
		put(p, vfdev);
		link_to(pfdir, "%s/physfn", vfdir);
		link_to(vfdir, "%s/virtfn%ld", pfdir, i);
		snprintf(p, sizeof(p), "%s/sys/kernel/iommu_groups/%ld", K.root, 100 + i);
		mkdir(p, 0755);
		link_to(p, "%s/iommu_group", vfdir);
		link_to(vfdir, "%s/sys/bus/pci/devices/%s", K.root, bdf);
		snprintf(p, sizeof(p), "%s/sriov_drivers_autoprobe", pfdir);
		if (streq(get(p, v, sizeof(v)), "1") && host_driver(vfdir))
			(void)k_bind("pci", vfdir, host_driver(vfdir));
	}
	snprintf(v, sizeof(v), "%ld", n);
	put(attr, v);
	return 0;
}

static int kernel_hook(struct vbus_ctx *c, const char *path, const char *value, void *userdata)
{
	const char *rel = path + strlen(K.root);
	char dir[PATH_MAX], v[256], p[PATH_MAX];
	const char *name = base(path);

	snprintf(v, sizeof(v), "%s", value);
	v[strcspn(v, "\n")] = '\0';
	if (K.n_log < (int)ELEMENTSOF(K.log))
		snprintf(K.log[K.n_log++], sizeof(K.log[0]), "%s %s", rel, value);
	if (K.fail_path && strstr(rel, K.fail_path) && (!K.fail_value || streq(K.fail_value, v)))
		return K.fail_err;

	snprintf(dir, sizeof(dir), "%s", path);
	dirname(dir);
	if (streq(name, "create") && strstr(rel, "/mdev_supported_types/"))
		return k_mdev_create(dir, v);
	if (streq(name, "remove") && strstr(rel, "/sys/bus/mdev/devices/"))
		return k_mdev_remove(dir);
	if (streq(name, "sriov_numvfs"))
		return k_sriov_numvfs(path, v);
	if (streq(name, "driver_override")) {
		put(path, *v ? v : "(null)");
		return 0;
	}
	if (streq(name, "drivers_probe")) {
		/* .../sys/bus/BUS/drivers_probe */
		return k_probe(base(dir), v);
	}
	if (streq(name, "unbind") || streq(name, "bind")) {
		/* .../sys/bus/BUS/drivers/DRV/(un)bind */
		char drv[PATH_MAX], bus[PATH_MAX], devdir[PATH_MAX];

		snprintf(drv, sizeof(drv), "%s", base(dir));
		snprintf(p, sizeof(p), "%s/../..", dir);
		if (!realpath(p, bus))
			return -ENODEV;
		snprintf(p, sizeof(p), "%s/devices/%s", bus, v);
		if (!realpath(p, devdir))
			return -ENODEV;
		if (streq(name, "unbind")) {
			char target[PATH_MAX];
			ssize_t n;

			snprintf(p, sizeof(p), "%s/driver", devdir);
			n = readlink(p, target, sizeof(target) - 1);
			if (n < 0)
				return -ENODEV;
			target[n] = '\0';
			if (!streq(base(target), drv))
				return -ENODEV;
			k_unbind(base(bus), devdir);
			return 0;
		}
		if (k_bound(devdir))
			return -EBUSY;
		/* mdev_match() refuses every driver: an mdev is bound only on creation. */
		if (streq(base(bus), "mdev"))
			return -ENODEV;
		return k_bind(base(bus), devdir, drv);
	}
	return 0;
}

/* ---- fixtures ---------------------------------------------------------------------------- */

static void setup(const char *tree)
{
	char tmpl[] = "/tmp/vbus-test-backends-XXXXXX";

	memset(&K, 0, sizeof(K));
	if (!mkdtemp(tmpl)) {
		printf("# mkdtemp: %m\n");
		exit(1);
	}
	snprintf(K.root, sizeof(K.root), "%s", tmpl);
	test_sh("cp -a '%s/%s/.' '%s/'", TEST_DATA_DIR, tree, K.root);
	check_int(vbus_ctx_new(K.root, &ctx), 0);
	ctx->sysfs_write_hook = kernel_hook;
	ctx->sysfs_write_hook_data = &K;
}

static void teardown(void)
{
	vbus_ctx_unref(ctx);
	ctx = NULL;
	test_sh("rm -rf '%s'", K.root);
}

static char *R(const char *fmt, ...) _printf_(1, 2);
static char *R(const char *fmt, ...)
{
	static char bufs[4][PATH_MAX];
	static int i;
	char rel[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	i = (i + 1) % 4;
	snprintf(bufs[i], sizeof(bufs[i]), "%s%s", K.root, rel);
	return bufs[i];
}

static bool exists(const char *rel)
{
	return access(R("%s", rel), F_OK) == 0;
}

static const char *driver_of(const char *rel_dev)
{
	static char buf[PATH_MAX];
	char *p = R("%s/driver", rel_dev);
	ssize_t n = readlink(p, buf, sizeof(buf) - 1);

	if (n < 0)
		return "(none)";
	buf[n] = '\0';
	return base(buf);
}

static const char *read_attr(const char *rel)
{
	static char buf[512];

	return get(R("%s", rel), buf, sizeof(buf));
}

/* The recorded writes, one "PATH VALUE" per line. */
static const char *writes(void)
{
	static char buf[sizeof(K.log)];
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < K.n_log; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? "\n" : "", K.log[i]);
	return buf;
}

static struct vbus_def *def_new(const char *name, enum vbus_kind kind, const char *parent)
{
	struct vbus_def *d = NULL;

	check_int(vbus_def_new(&d), 0);
	d->name = strdup(name);
	d->kind = kind;
	d->parent = strdup(parent);
	return d;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return "(missing)";
	if (json_object_is_type(v, json_type_null))
		return "(null)";
	return json_object_get_string(v);
}

static int64_t jint(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return -999;
	return json_object_get_int64(v);
}

#define GPU "0000:00:02.0"
#define GVT_UUID "4b6f1c2e-8a3d-4f5e-9c71-2d0e6a5b3f10"
#define NEW_UUID "0d6f59a4-9a43-4b9c-8f1e-5b2a7c3d1e01"
#define PF "0000:03:00.0"

/* ---- mdev -------------------------------------------------------------------------------- */

TEST(mdev_list_parents_gvt)
{
	_cleanup_json_ struct json_object *a = json_object_new_array();
	struct json_object *p, *types, *t;

	setup("host-gvt");
	check_int(vbus_backend_mdev.list_parents(ctx, NULL, a), 0);
	check_int(json_object_array_length(a), 1);
	p = json_object_array_get_idx(a, 0);
	check_str(jstr(p, "parent"), GPU);
	check_str(jstr(p, "kind"), "mdev");
	check(json_object_object_get_ex(p, "types", &types));
	check_int(json_object_array_length(types), 2);
	t = json_object_array_get_idx(types, 0);
	check_str(jstr(t, "type"), "i915-GVTg_V5_4");
	check_str(jstr(t, "name"), "GVTg_V5_4");
	check_int(jint(t, "available_instances"), 1);
	check_str(jstr(t, "device_api"), "vfio-pci");
	check(strncmp(jstr(t, "description"), "low_gm_size: 128MB\nhigh_gm_size: 512MB", 38) == 0);
	t = json_object_array_get_idx(types, 1);
	check_str(jstr(t, "type"), "i915-GVTg_V5_8");
	check_int(jint(t, "available_instances"), 2);

	/* Filter by parent. */
	json_object_put(a);
	a = json_object_new_array();
	check_int(vbus_backend_mdev.list_parents(ctx, "mtty", a), 0);
	check_int(json_object_array_length(a), 0);
	check_int(K.n_log, 0);
	teardown();
}

TEST(mdev_list_types_ap)
{
	_cleanup_json_ struct json_object *a = json_object_new_array();
	struct json_object *t;

	setup("host-ap");
	check_int(vbus_backend_mdev.list_types(ctx, NULL, a), 0);
	check_int(json_object_array_length(a), 1);
	t = json_object_array_get_idx(a, 0);
	check_str(jstr(t, "parent"), "matrix");
	check_str(jstr(t, "type"), "vfio_ap-passthrough");
	check_str(jstr(t, "name"), "VFIO AP Passthrough Device");
	check_str(jstr(t, "description"), "(null)");
	check_str(jstr(t, "device_api"), "vfio-ap");
	check_int(jint(t, "available_instances"), 255);
	teardown();
}

TEST(mdev_list_active_gvt)
{
	_cleanup_json_ struct json_object *a = json_object_new_array();
	struct json_object *d;

	setup("host-gvt");
	check_int(vbus_backend_mdev.list_active(ctx, a), 0);
	check_int(json_object_array_length(a), 1);
	d = json_object_array_get_idx(a, 0);
	check_str(jstr(d, "name"), GVT_UUID);
	check_str(jstr(d, "kind"), "mdev");
	check_str(jstr(d, "parent"), GPU);
	check_str(jstr(d, "type"), "i915-GVTg_V5_4");
	check_str(jstr(d, "uuid"), GVT_UUID);
	check_str(jstr(d, "bound_driver"), "intel_vgpu_mdev");
	check_str(jstr(d, "sysfs_path"), R("/sys/bus/mdev/devices/%s", GVT_UUID));
	teardown();
}

TEST(mdev_create_writes_attrs_in_order)
{
	_cleanup_def_ struct vbus_def *d = def_new("ap1", VBUS_KIND_MDEV, "matrix");
	struct vbus_status st = {};
	char *drv = NULL;

	setup("host-ap");
	d->type = strdup("vfio_ap-passthrough");
	d->uuid = strdup(NEW_UUID);
	vbus_def_add_attr(d, "assign_adapter", "5");
	vbus_def_add_attr(d, "assign_domain", "0x47");
	vbus_def_add_attr(d, "assign_control_domain", "0x47");
	check_int((vbus_backend_mdev.check)(ctx, d), 0);
	check_int(vbus_backend_mdev.create(ctx, d), 0);
	check_str(
	    writes(),
	    "/sys/class/mdev_bus/matrix/mdev_supported_types/vfio_ap-passthrough/create " NEW_UUID
	    "\n"
	    "/sys/bus/mdev/devices/" NEW_UUID "/assign_adapter 5\n"
	    "/sys/bus/mdev/devices/" NEW_UUID "/assign_domain 0x47\n"
	    "/sys/bus/mdev/devices/" NEW_UUID "/assign_control_domain 0x47");
	check_str(read_attr("/sys/bus/mdev/devices/" NEW_UUID "/assign_domain"), "0x47");
	check_int(vbus_backend_mdev.status(ctx, d, &st), 0);
	check(st.active);
	check_str(st.bound_driver, "vfio_ap_mdev");
	vbus_status_done(&st);

	/* vfio and host both mean the parent's mdev driver, which the kernel already bound. */
	check_int(vbus_backend_mdev.resolve_driver(ctx, d, "vfio", &drv), 0);
	check_str(drv, "vfio_ap_mdev");
	K.n_log = 0;
	check_int(vbus_backend_mdev.bind(ctx, d, drv), 0);
	check_int(K.n_log, 0);
	free(drv);
	/* Another driver cannot take an mdev: reported, nothing written. */
	check_int(vbus_backend_mdev.bind(ctx, d, "vfio-pci"), -EIO);
	check(strstr(vbus_ctx_last_error(ctx), "bound to vfio_ap_mdev, not vfio-pci") != NULL);
	check_int(K.n_log, 0);

	/* Twice: refused, the first one untouched. */
	check_int(vbus_backend_mdev.create(ctx, d), -EEXIST);
	check_int(K.n_log, 0);
	teardown();
}

TEST(mdev_create_rolls_back_on_refused_attr)
{
	_cleanup_def_ struct vbus_def *d = def_new("ap1", VBUS_KIND_MDEV, "matrix");
	struct vbus_status st = {};

	setup("host-ap");
	d->type = strdup("vfio_ap-passthrough");
	d->uuid = strdup(NEW_UUID);
	vbus_def_add_attr(d, "assign_adapter", "5");
	vbus_def_add_attr(d, "assign_domain", "0x47");
	vbus_def_add_attr(d, "assign_control_domain", "0x47");
	K.fail_path = "/assign_domain";
	K.fail_err = -EADDRINUSE; /* vfio_ap: the domain belongs to another mdev */
	check_int(vbus_backend_mdev.create(ctx, d), -EADDRINUSE);
	check_str(
	    writes(),
	    "/sys/class/mdev_bus/matrix/mdev_supported_types/vfio_ap-passthrough/create " NEW_UUID
	    "\n"
	    "/sys/bus/mdev/devices/" NEW_UUID "/assign_adapter 5\n"
	    "/sys/bus/mdev/devices/" NEW_UUID "/assign_domain 0x47\n"
	    "/sys/bus/mdev/devices/" NEW_UUID "/remove 1");
	check(strstr(vbus_ctx_last_error(ctx), "assign_domain=0x47") != NULL);
	check(!exists("/sys/bus/mdev/devices/" NEW_UUID));
	check_int(vbus_backend_mdev.status(ctx, d, &st), 0);
	check(!st.active);
	vbus_status_done(&st);
	check_str(read_attr("/sys/class/mdev_bus/matrix/mdev_supported_types/vfio_ap-passthrough/"
			    "available_instances"),
		  "255");
	teardown();
}

TEST(mdev_create_rolls_back_on_unknown_attr)
{
	_cleanup_def_ struct vbus_def *d = def_new("g1", VBUS_KIND_MDEV, GPU);

	setup("host-gvt");
	d->type = strdup("i915-GVTg_V5_8");
	d->uuid = strdup(NEW_UUID);
	vbus_def_add_attr(d, "weight", "4"); /* GVT-g mdevs have no such attribute */
	check_int(vbus_backend_mdev.create(ctx, d), -ENOENT);
	/* The attribute write never reached the kernel: create, then remove. */
	check_str(writes(), "/sys/class/mdev_bus/" GPU
			    "/mdev_supported_types/i915-GVTg_V5_8/create " NEW_UUID "\n"
			    "/sys/bus/mdev/devices/" NEW_UUID "/remove 1");
	check(!exists("/sys/bus/mdev/devices/" NEW_UUID));
	check(!exists("/sys/devices/pci0000:00/" GPU "/" NEW_UUID));
	check(!exists("/sys/devices/pci0000:00/" GPU "/" NEW_UUID "/weight"));
	teardown();
}

TEST(mdev_refuses_unknown_type_and_absent_parent)
{
	_cleanup_def_ struct vbus_def *d = def_new("g1", VBUS_KIND_MDEV, GPU);
	_cleanup_def_ struct vbus_def *e = def_new("g2", VBUS_KIND_MDEV, "0000:00:03.0");
	_cleanup_def_ struct vbus_def *f = def_new("g3", VBUS_KIND_MDEV, GPU);

	setup("host-gvt");
	d->type = strdup("i915-GVTg_V5_9");
	d->uuid = strdup(NEW_UUID);
	check_int((vbus_backend_mdev.check)(ctx, d), -EINVAL);
	check_str(vbus_ctx_last_error(ctx),
		  "g1: parent 0000:00:02.0 does not offer type i915-GVTg_V5_9");
	check_int(vbus_backend_mdev.create(ctx, d), -EINVAL);
	e->type = strdup("i915-GVTg_V5_4");
	check_int((vbus_backend_mdev.check)(ctx, e), -ENODEV);
	check_str(vbus_ctx_last_error(ctx), "g2: mdev parent 0000:00:03.0 is not present");
	/* No type, a type with a path in it, a VF index: refused before looking at sysfs. */
	check_int((vbus_backend_mdev.check)(ctx, f), -EINVAL);
	f->type = strdup("../../../../etc");
	check_int((vbus_backend_mdev.check)(ctx, f), -EINVAL);
	free(f->type);
	f->type = strdup("i915-GVTg_V5_8");
	f->index = 2;
	check_int((vbus_backend_mdev.check)(ctx, f), -EINVAL);
	check_int(K.n_log, 0);
	teardown();
}

TEST(mdev_no_instance_left)
{
	_cleanup_def_ struct vbus_def *d = def_new("g1", VBUS_KIND_MDEV, GPU);

	setup("host-gvt");
	d->type = strdup("i915-GVTg_V5_4");
	d->uuid = strdup(NEW_UUID);
	check_int(vbus_backend_mdev.create(ctx, d), 0);
	check_str(read_attr("/sys/class/mdev_bus/" GPU
			    "/mdev_supported_types/i915-GVTg_V5_4/available_instances"),
		  "0");
	free(d->uuid);
	d->uuid = strdup("0d6f59a4-9a43-4b9c-8f1e-5b2a7c3d1e02");
	K.n_log = 0;
	check_int(vbus_backend_mdev.create(ctx, d), -ENOSPC);
	check_int(K.n_log, 0);
	check(strstr(vbus_ctx_last_error(ctx), "no instance of type i915-GVTg_V5_4 left") != NULL);
	teardown();
}

TEST(mdev_destroy)
{
	_cleanup_def_ struct vbus_def *d = def_new("gpu-desktop", VBUS_KIND_MDEV, GPU);
	_cleanup_json_ struct json_object *a = json_object_new_array();

	setup("host-gvt");
	d->type = strdup("i915-GVTg_V5_4");
	d->uuid = strdup(GVT_UUID);
	check_int(vbus_backend_mdev.destroy(ctx, d), 0);
	check_str(writes(), "/sys/bus/mdev/devices/" GVT_UUID "/remove 1");
	check_int(vbus_backend_mdev.list_active(ctx, a), 0);
	check_int(json_object_array_length(a), 0);
	check_str(read_attr("/sys/class/mdev_bus/" GPU
			    "/mdev_supported_types/i915-GVTg_V5_4/available_instances"),
		  "2");
	/* Gone already: nothing to do. */
	K.n_log = 0;
	check_int(vbus_backend_mdev.destroy(ctx, d), 0);
	check_int(K.n_log, 0);
	teardown();
}

TEST(mdev_unbind_and_rebind)
{
	_cleanup_def_ struct vbus_def *d = def_new("gpu-desktop", VBUS_KIND_MDEV, GPU);
	char *drv = NULL;

	setup("host-gvt");
	d->type = strdup("i915-GVTg_V5_4");
	d->uuid = strdup(GVT_UUID);
	check_int(vbus_backend_mdev.bind(ctx, d, NULL), 0);
	check_str(writes(), "/sys/bus/mdev/drivers/intel_vgpu_mdev/unbind " GVT_UUID);
	check_str(driver_of("/sys/bus/mdev/devices/" GVT_UUID), "(none)");
	/* Unbound, "host" still knows the parent's driver (i915 registers intel_vgpu_mdev). */
	check_int(vbus_backend_mdev.resolve_driver(ctx, d, "host", &drv), 0);
	check_str(drv, "intel_vgpu_mdev");
	K.n_log = 0;
	/* The kernel refuses to bind an existing mdev: it is re-created, same UUID and type. */
	check_int(vbus_backend_mdev.bind(ctx, d, drv), 0);
	check_str(writes(), "/sys/bus/mdev/drivers/intel_vgpu_mdev/bind " GVT_UUID "\n"
			    "/sys/bus/mdev/devices/" GVT_UUID "/remove 1\n"
			    "/sys/class/mdev_bus/" GPU
			    "/mdev_supported_types/i915-GVTg_V5_4/create " GVT_UUID);
	check_str(driver_of("/sys/bus/mdev/devices/" GVT_UUID), "intel_vgpu_mdev");
	free(drv);
	/* Only the parent's driver can take it: refused before removing anything. */
	check_int(vbus_backend_mdev.bind(ctx, d, NULL), 0);
	K.n_log = 0;
	check_int(vbus_backend_mdev.bind(ctx, d, "vfio_ap_mdev"), -ENOENT);
	check_int(vbus_backend_mdev.bind(ctx, d, "mtty"), -ENOENT);
	test_sh("mkdir -p '%s/sys/bus/mdev/drivers/mtty' && touch '%s/sys/bus/mdev/drivers/mtty/bind'",
	   K.root, K.root);
	check_int(vbus_backend_mdev.bind(ctx, d, "mtty"), -EIO);
	check_str(vbus_ctx_last_error(ctx), "gpu-desktop: only intel_vgpu_mdev, the driver of "
					    "parent 0000:00:02.0, can take mdev " GVT_UUID);
	check_str(writes(), "/sys/bus/mdev/drivers/mtty/bind " GVT_UUID);
	check(exists("/sys/bus/mdev/devices/" GVT_UUID));
	check_int(vbus_backend_mdev.resolve_driver(ctx, d, "none", &drv), 0);
	check(drv == NULL);
	teardown();
}

/* ---- vf ---------------------------------------------------------------------------------- */

TEST(vf_list_parents_and_active)
{
	_cleanup_json_ struct json_object *a = json_object_new_array();
	_cleanup_json_ struct json_object *b = json_object_new_array();
	struct json_object *o;

	setup("host-sriov");
	check_int(vbus_backend_vf.list_parents(ctx, NULL, a), 0);
	/* Only the PF: the e1000e NIC, the NVMe and the bridges have no SR-IOV. */
	check_int(json_object_array_length(a), 1);
	o = json_object_array_get_idx(a, 0);
	check_str(jstr(o, "parent"), PF);
	check_str(jstr(o, "kind"), "vf");
	check_int(jint(o, "total_vfs"), 8);
	check_int(jint(o, "num_vfs"), 2);
	check_str(jstr(o, "driver"), "ice");

	check_int(vbus_backend_vf.list_active(ctx, b), 0);
	check_int(json_object_array_length(b), 2);
	o = json_object_array_get_idx(b, 0);
	check_str(jstr(o, "name"), PF "-vf0");
	check_int(jint(o, "index"), 0);
	check_str(jstr(o, "address"), "0000:03:01.0");
	check_str(jstr(o, "bound_driver"), "iavf");
	o = json_object_array_get_idx(b, 1);
	check_str(jstr(o, "name"), PF "-vf1");
	check_str(jstr(o, "address"), "0000:03:01.1");
	check_str(jstr(o, "bound_driver"), "(null)");
	check_int(K.n_log, 0);
	teardown();
}

TEST(vf_create_raises_count_through_zero)
{
	_cleanup_def_ struct vbus_def *d = def_new("vm-nic", VBUS_KIND_VF, PF);
	struct vbus_status st = {};
	char *drv = NULL;

	setup("host-sriov");
	/* VF 0 is bound to iavf and vbus did not make it: re-creating it needs --force. */
	ctx->force = true;
	d->index = 3;
	d->driver = strdup("vfio");
	vbus_def_add_attr(d, "mac", "52:54:00:12:34:56");
	check_int((vbus_backend_vf.check)(ctx, d), 0);
	check_int(vbus_backend_vf.create(ctx, d), 0);
	/* autoprobe off so VF 3 never meets iavf, 0 first, then 4; VF 0 gets iavf back. */
	check_str(writes(), "/sys/bus/pci/devices/" PF "/sriov_drivers_autoprobe 0\n"
			    "/sys/bus/pci/devices/" PF "/sriov_numvfs 0\n"
			    "/sys/bus/pci/devices/" PF "/sriov_numvfs 4\n"
			    "/sys/bus/pci/devices/" PF "/sriov_drivers_autoprobe 1\n"
			    "/sys/bus/pci/drivers_probe 0000:03:01.0");
	check_str(read_attr("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "4");
	check_str(read_attr("/sys/bus/pci/devices/" PF "/sriov_drivers_autoprobe"), "1");
	check_str(driver_of("/sys/bus/pci/devices/0000:03:01.0"), "iavf");
	check_str(read_attr("/sys/bus/pci/devices/0000:03:01.0/driver_override"), "(null)");
	check_str(driver_of("/sys/bus/pci/devices/0000:03:01.3"), "(none)");

	check_int(vbus_backend_vf.resolve_driver(ctx, d, "vfio", &drv), 0);
	check_str(drv, "vfio-pci");
	K.n_log = 0;
	check_int(vbus_backend_vf.bind(ctx, d, drv), 0);
	check_str(writes(), "/sys/bus/pci/devices/0000:03:01.3/driver_override vfio-pci\n"
			    "/sys/bus/pci/drivers_probe 0000:03:01.3");
	free(drv);
	check_int(vbus_backend_vf.status(ctx, d, &st), 0);
	check(st.active);
	check_str(st.bound_driver, "vfio-pci");
	check_str(st.sysfs_path, R("/sys/bus/pci/devices/0000:03:01.3"));
	vbus_status_done(&st);
	teardown();
}

TEST(vf_create_host_keeps_autoprobe)
{
	_cleanup_def_ struct vbus_def *d = def_new("host-nic", VBUS_KIND_VF, "0000:03:00.0");
	char *drv = NULL;

	setup("host-sriov");
	/* VF 0 is bound to iavf and vbus did not make it: re-creating it needs --force. */
	ctx->force = true;
	d->index = 2;
	d->driver = strdup("host");
	check_int(vbus_backend_vf.create(ctx, d), 0);
	check_str(writes(), "/sys/bus/pci/devices/" PF "/sriov_numvfs 0\n"
			    "/sys/bus/pci/devices/" PF "/sriov_numvfs 3");
	check_str(driver_of("/sys/bus/pci/devices/0000:03:01.2"), "iavf");
	/* The kernel matched it already: host resolves to that, without a write. */
	K.n_log = 0;
	check_int(vbus_backend_vf.resolve_driver(ctx, d, "host", &drv), 0);
	check_str(drv, "iavf");
	check_int(vbus_backend_vf.bind(ctx, d, drv), 0);
	check_int(K.n_log, 0);
	free(drv);
	teardown();
}

TEST(vf_existing_index_writes_nothing)
{
	_cleanup_def_ struct vbus_def *d = def_new("vf1", VBUS_KIND_VF, PF);

	setup("host-sriov");
	d->index = 1;
	check_int(vbus_backend_vf.create(ctx, d), 0);
	check_int(K.n_log, 0);
	teardown();
}

TEST(vf_refusals)
{
	_cleanup_def_ struct vbus_def *d = def_new("vfx", VBUS_KIND_VF, PF);

	setup("host-sriov");
	d->index = 8;
	check_int((vbus_backend_vf.check)(ctx, d), -EINVAL);
	check_str(vbus_ctx_last_error(ctx),
		  "vfx: VF index 8 is out of range, PF 0000:03:00.0 has 8 VFs (0-7)");
	check_int(vbus_backend_vf.create(ctx, d), -EINVAL);
	d->index = -1;
	check_int((vbus_backend_vf.check)(ctx, d), -EINVAL);
	d->index = 1;
	vbus_def_add_attr(d, "mac", "52:54:00:12:34");
	check_int((vbus_backend_vf.check)(ctx, d), -EINVAL);
	check_str(vbus_ctx_last_error(ctx),
		  "vfx: attribute mac: '52:54:00:12:34' is not a MAC address");
	free(d->attrs[0].key);
	d->attrs[0].key = strdup("mtu");
	check_int((vbus_backend_vf.check)(ctx, d), -EINVAL);
	d->n_attrs = 0;
	free(d->attrs[0].key);
	free(d->attrs[0].value);
	free(d->parent);
	d->parent = strdup("0000:04:00.0");
	check_int((vbus_backend_vf.check)(ctx, d), -EINVAL);
	check_str(vbus_ctx_last_error(ctx), "vfx: 0000:04:00.0 is not an SR-IOV PF");
	free(d->parent);
	d->parent = strdup("0000:0a:00.0");
	check_int((vbus_backend_vf.check)(ctx, d), -ENODEV);
	check_int(K.n_log, 0);
	teardown();
}

TEST(vf_wont_recreate_a_vf_in_use)
{
	_cleanup_def_ struct vbus_def *d = def_new("vf5", VBUS_KIND_VF, PF);

	setup("host-sriov");
	/* VF 0 is bound to iavf and vbus did not make it: re-creating it needs --force. */
	ctx->force = true;
	check_int(vbus_bind_driver(ctx, "pci", "0000:03:01.1", "vfio-pci"), 0);
	check_str(driver_of("/sys/bus/pci/devices/0000:03:01.1"), "vfio-pci");
	/* A VM (pid 4242) holds VF 1's group, /dev/vfio/21, open. */
	test_sh("mkdir -p '%s/proc/4242/fd' && ln -s /dev/vfio/21 '%s/proc/4242/fd/7' && "
	   "ln -s /dev/null '%s/proc/4242/fd/0' && mkdir -p '%s/proc/self'",
	   K.root, K.root, K.root, K.root);
	K.n_log = 0;
	d->index = 5;
	check_int(vbus_backend_vf.create(ctx, d), -EBUSY);
	check_str(vbus_ctx_last_error(ctx),
		  "vf5: making VF 5 re-creates 0000:03:00.0's 2 VFs, and VF 1 (0000:03:01.1) is in "
		  "use through vfio by process 4242");
	check_int(K.n_log, 0);
	check_str(read_attr("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "2");
	teardown();
}

TEST(vf_recreates_idle_vfio_vf_and_rebinds_it)
{
	_cleanup_def_ struct vbus_def *d = def_new("vf3", VBUS_KIND_VF, PF);

	setup("host-sriov");
	/* VF 0 is bound to iavf and vbus did not make it: re-creating it needs --force. */
	ctx->force = true;
	check_int(vbus_bind_driver(ctx, "pci", "0000:03:01.1", "vfio-pci"), 0);
	K.n_log = 0;
	d->index = 3;
	check_int(vbus_backend_vf.create(ctx, d), 0);
	check_str(read_attr("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "4");
	/* VF 0 back with iavf (matched, not pinned), VF 1 back with vfio-pci (pinned again). */
	check_str(driver_of("/sys/bus/pci/devices/0000:03:01.0"), "iavf");
	check_str(read_attr("/sys/bus/pci/devices/0000:03:01.0/driver_override"), "(null)");
	check_str(driver_of("/sys/bus/pci/devices/0000:03:01.1"), "vfio-pci");
	check_str(read_attr("/sys/bus/pci/devices/0000:03:01.1/driver_override"), "vfio-pci");
	check_str(driver_of("/sys/bus/pci/devices/0000:03:01.3"), "(none)");
	check_str(writes(), "/sys/bus/pci/devices/" PF "/sriov_drivers_autoprobe 0\n"
			    "/sys/bus/pci/devices/" PF "/sriov_numvfs 0\n"
			    "/sys/bus/pci/devices/" PF "/sriov_numvfs 4\n"
			    "/sys/bus/pci/devices/" PF "/sriov_drivers_autoprobe 1\n"
			    "/sys/bus/pci/drivers_probe 0000:03:01.0\n"
			    "/sys/bus/pci/devices/0000:03:01.1/driver_override vfio-pci\n"
			    "/sys/bus/pci/drivers_probe 0000:03:01.1");
	teardown();
}

/* Foreign VFs are never harmed: raising the count destroys every VF, so it is refused while one
 * vbus did not make is bound to a driver, naming it; nothing is written. */
TEST(vf_refuses_to_recreate_foreign_vfs)
{
	_cleanup_def_ struct vbus_def *d = def_new("v5", VBUS_KIND_VF, PF);

	setup("host-sriov");
	d->index = 5;
	check_int(vbus_backend_vf.create(ctx, d), -EBUSY);
	check_str(vbus_ctx_last_error(ctx),
		  "v5: VF 5 needs the VF count of 0000:03:00.0 raised from 2 to 6, and the kernel "
		  "changes a non-zero count only through 0, which destroys the VFs there; vbus did "
		  "not make VF 0 (0000:03:01.0, bound to iavf): refusing (--force re-creates them "
		  "and gives their drivers back; or define VFs below 2)");
	check_int(K.n_log, 0);
	check_str(read_attr("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "2");
	check_str(driver_of("/sys/bus/pci/devices/0000:03:01.0"), "iavf");
	/* an index that exists needs no count change: fine */
	d->index = 1;
	check_int(vbus_backend_vf.create(ctx, d), 0);
	check_int(K.n_log, 0);
	teardown();
}

/* A VF vbus made (its run record says so) is vbus's to re-create: no --force needed. */
TEST(vf_own_vfs_are_not_foreign)
{
	_cleanup_def_ struct vbus_def *d = def_new("v3", VBUS_KIND_VF, PF);

	setup("host-sriov");
	test_sh("mkdir -p '%s/run/vbus' && printf '%%s' '{\"version\":1,\"definition\":"
		"{\"version\":1,\"name\":\"v0\",\"kind\":\"vf\",\"parent\":\"" PF "\",\"index\":0},"
		"\"created\":true,\"transient\":false,\"state\":\"active\"}' > '%s/run/vbus/v0.json'",
		K.root, K.root);
	d->index = 3;
	check_int(vbus_backend_vf.create(ctx, d), 0);
	check_str(read_attr("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "4");
	check_str(driver_of("/sys/bus/pci/devices/0000:03:01.0"), "iavf");
	teardown();
}

/* Through the whole start (vbusctl start v5 --force): the count goes 2 -> 0 -> 6, the bind of
 * VF 5 fails, and the rollback puts the count back to 2 (0 -> 2), VF 0 with iavf again. */
TEST(vf_failed_start_restores_count)
{
	_cleanup_def_ struct vbus_def *d = def_new("v5", VBUS_KIND_VF, PF);
	int r;

	setup("host-sriov");
	d->index = 5;
	d->driver = strdup("vfio-pci");
	check_int(vbus_define(ctx, d, 0), 0);
	check_int(vbus_start(ctx, "v5"), -EBUSY);
	check_str(read_attr("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "2");
	K.n_log = 0;
	K.wrong_driver = "iavf"; /* the bind of VF 5 does not hold */
	r = vbus_start_with_flags(ctx, "v5", VBUS_START_FORCE);
	check_int(r, -EIO);
	check_str(read_attr("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "2");
	check_str(driver_of("/sys/bus/pci/devices/0000:03:01.0"), "iavf");
	check(!exists("/sys/bus/pci/devices/" PF "/virtfn5"));
	{
		/* the count writes, in order */
		char got[1024] = "";

		for (int i = 0; i < K.n_log; i++)
			if (strstr(K.log[i], "/sriov_numvfs "))
				snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s;",
					 strrchr(K.log[i], ' ') + 1);
		check_str(got, "0;6;0;2;");
	}
	check(!exists("/run/vbus/v5.json"));
	teardown();
}

TEST(vf_count_refused_is_rolled_back)
{
	_cleanup_def_ struct vbus_def *d = def_new("vf5", VBUS_KIND_VF, PF);

	setup("host-sriov");
	/* VF 0 is bound to iavf and vbus did not make it: re-creating it needs --force. */
	ctx->force = true;
	d->index = 5;
	K.fail_path = "/sriov_numvfs";
	K.fail_value = "6";
	K.fail_err = -ENOMEM; /* the PF driver could not allocate the VFs */
	check_int(vbus_backend_vf.create(ctx, d), -ENOMEM);
	check(strstr(vbus_ctx_last_error(ctx), "refused to create 6 VFs") != NULL);
	/* The two VFs are back, autoprobe is on again, VF 0 has iavf again. */
	check_str(read_attr("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "2");
	check_str(read_attr("/sys/bus/pci/devices/" PF "/sriov_drivers_autoprobe"), "1");
	check(exists("/sys/bus/pci/devices/" PF "/virtfn1"));
	check(!exists("/sys/bus/pci/devices/" PF "/virtfn2"));
	check_str(driver_of("/sys/bus/pci/devices/0000:03:01.0"), "iavf");
	check_str(writes(), "/sys/bus/pci/devices/" PF "/sriov_drivers_autoprobe 0\n"
			    "/sys/bus/pci/devices/" PF "/sriov_numvfs 0\n"
			    "/sys/bus/pci/devices/" PF "/sriov_numvfs 6\n"
			    "/sys/bus/pci/devices/" PF "/sriov_numvfs 2\n"
			    "/sys/bus/pci/devices/" PF "/sriov_drivers_autoprobe 1\n"
			    "/sys/bus/pci/drivers_probe 0000:03:01.0");
	teardown();
}

TEST(vf_kernel_refuses_direct_change)
{
	/* The hook plays the kernel's rule that the tests above rely on. */
	setup("host-sriov");
	check_int(sysfs_write(ctx, "/sys/bus/pci/devices/" PF "/sriov_numvfs", "4"), -EBUSY);
	check_str(read_attr("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "2");
	check_int(sysfs_write(ctx, "/sys/bus/pci/devices/" PF "/sriov_numvfs", "9"), -ERANGE);
	teardown();
}

TEST(vf_bind_wrong_driver_is_reported_and_undone)
{
	_cleanup_def_ struct vbus_def *d = def_new("vf1", VBUS_KIND_VF, PF);

	setup("host-sriov");
	d->index = 1;
	K.wrong_driver = "iavf";
	check_int(vbus_backend_vf.bind(ctx, d, "vfio-pci"), -EIO);
	check_str(vbus_ctx_last_error(ctx), "0000:03:01.1: iavf got bound instead of vfio-pci");
	/* Back as it was: no override, unbound. */
	check_str(read_attr("/sys/bus/pci/devices/0000:03:01.1/driver_override"), "(null)");
	check_str(driver_of("/sys/bus/pci/devices/0000:03:01.1"), "(none)");
	check_str(writes(), "/sys/bus/pci/devices/0000:03:01.1/driver_override vfio-pci\n"
			    "/sys/bus/pci/drivers_probe 0000:03:01.1\n"
			    "/sys/bus/pci/devices/0000:03:01.1/driver_override \n\n"
			    "/sys/bus/pci/drivers/iavf/unbind 0000:03:01.1");
	teardown();
}

TEST(vf_destroy)
{
	_cleanup_def_ struct vbus_def *d = def_new("vf1", VBUS_KIND_VF, PF);
	_cleanup_def_ struct vbus_def *e = def_new("vf0", VBUS_KIND_VF, PF);

	setup("host-sriov");
	d->index = 1;
	e->index = 0;
	check_int(vbus_backend_vf.bind(ctx, d, "vfio-pci"), 0);
	K.n_log = 0;
	/* VF 0 is still with iavf: VF 1 is only unbound, the count stays. */
	check_int(vbus_backend_vf.destroy(ctx, d), 0);
	check_str(writes(), "/sys/bus/pci/devices/0000:03:01.1/driver_override \n\n"
			    "/sys/bus/pci/drivers/vfio-pci/unbind 0000:03:01.1");
	check_str(read_attr("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "2");
	/* The last bound VF goes: the PF's VFs go with it. */
	K.n_log = 0;
	check_int(vbus_backend_vf.destroy(ctx, e), 0);
	check_str(writes(), "/sys/bus/pci/drivers/iavf/unbind 0000:03:01.0\n"
			    "/sys/bus/pci/devices/" PF "/sriov_numvfs 0");
	check_str(read_attr("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "0");
	check(!exists("/sys/bus/pci/devices/0000:03:01.0"));
	check(!exists("/sys/bus/pci/devices/" PF "/virtfn0"));
	K.n_log = 0;
	check_int(vbus_backend_vf.destroy(ctx, e), 0);
	check_int(K.n_log, 0);
	teardown();
}

/* ---- pci --------------------------------------------------------------------------------- */

TEST(pci_bind_vfio_and_give_back)
{
	_cleanup_def_ struct vbus_def *d = def_new("nic", VBUS_KIND_PCI, "0000:04:00.0");
	_cleanup_json_ struct json_object *a = json_object_new_array();
	char *drv = NULL;

	setup("host-sriov");
	check_int((vbus_backend_pci.check)(ctx, d), 0);
	check_int(vbus_backend_pci.create(ctx, d), 0);
	check_int(K.n_log, 0);
	check_int(vbus_backend_pci.resolve_driver(ctx, d, "vfio", &drv), 0);
	check_str(drv, "vfio-pci");
	check_int(vbus_backend_pci.bind(ctx, d, drv), 0);
	free(drv);
	check_str(writes(), "/sys/bus/pci/devices/0000:04:00.0/driver_override vfio-pci\n"
			    "/sys/bus/pci/drivers/e1000e/unbind 0000:04:00.0\n"
			    "/sys/bus/pci/drivers_probe 0000:04:00.0");
	check_str(driver_of("/sys/bus/pci/devices/0000:04:00.0"), "vfio-pci");
	check_int(vbus_backend_pci.list_active(ctx, a), 0);
	check_int(json_object_array_length(a), 1);
	check_str(jstr(json_object_array_get_idx(a, 0), "name"), "0000:04:00.0");
	check_str(jstr(json_object_array_get_idx(a, 0), "bound_driver"), "vfio-pci");

	K.n_log = 0;
	check_int(vbus_backend_pci.destroy(ctx, d), 0);
	check_str(writes(), "/sys/bus/pci/devices/0000:04:00.0/driver_override \n\n"
			    "/sys/bus/pci/drivers/vfio-pci/unbind 0000:04:00.0\n"
			    "/sys/bus/pci/drivers_probe 0000:04:00.0");
	check_str(driver_of("/sys/bus/pci/devices/0000:04:00.0"), "e1000e");
	teardown();
}

TEST(pci_resolve_host_from_override)
{
	_cleanup_def_ struct vbus_def *d = def_new("nic", VBUS_KIND_PCI, "0000:04:00.0");
	char *drv = NULL;

	/* host-mixed: driverctl left 0000:04:00.0 on vfio-pci. */
	setup("host-mixed");
	check_str(driver_of("/sys/bus/pci/devices/0000:04:00.0"), "vfio-pci");
	check_int(vbus_backend_pci.resolve_driver(ctx, d, "host", &drv), 0);
	check_str(drv, "e1000e");
	free(drv);
	check_str(driver_of("/sys/bus/pci/devices/0000:04:00.0"), "e1000e");
	check_str(read_attr("/sys/bus/pci/devices/0000:04:00.0/driver_override"), "(null)");
	teardown();
}

TEST(pci_refusals)
{
	_cleanup_def_ struct vbus_def *d = def_new("disk", VBUS_KIND_PCI, "0000:05:00.0");
	_cleanup_def_ struct vbus_def *e = def_new("gone", VBUS_KIND_PCI, "0000:0a:00.0");

	setup("host-sriov");
	/* A driver that is not there (and no modprobe on a fake root). */
	check_int(vbus_backend_pci.bind(ctx, d, "nouveau"), -ENOENT);
	check(strstr(vbus_ctx_last_error(ctx), "driver nouveau is not available") != NULL);
	/* No IOMMU group: vfio-pci would refuse it; we say why before touching anything. */
	check(unlink(R("/sys/bus/pci/devices/0000:05:00.0/iommu_group")) == 0);
	check_int(vbus_backend_pci.bind(ctx, d, "vfio-pci"), -ENODEV);
	check(strstr(vbus_ctx_last_error(ctx), "no IOMMU group") != NULL);
	check_int(K.n_log, 0);
	check_str(driver_of("/sys/bus/pci/devices/0000:05:00.0"), "nvme");
	check_int((vbus_backend_pci.check)(ctx, e), -ENODEV);
	check_int(vbus_backend_pci.bind(ctx, e, "vfio-pci"), -ENODEV);
	vbus_def_add_attr(d, "mac", "52:54:00:12:34:56");
	check_int((vbus_backend_pci.check)(ctx, d), -EINVAL);
	teardown();
}

TEST(pci_none_leaves_unbound)
{
	_cleanup_def_ struct vbus_def *d = def_new("disk", VBUS_KIND_PCI, "0000:05:00.0");
	char *drv = (char *)"x";

	setup("host-sriov");
	check_int(vbus_backend_pci.resolve_driver(ctx, d, "none", &drv), 0);
	check(drv == NULL);
	check_int(vbus_backend_pci.bind(ctx, d, NULL), 0);
	check_str(writes(), "/sys/bus/pci/drivers/nvme/unbind 0000:05:00.0");
	check_str(driver_of("/sys/bus/pci/devices/0000:05:00.0"), "(none)");
	teardown();
}

/* ---- the trees --------------------------------------------------------------------------- */

/* ---- vgpu -------------------------------------------------------------------------------- */

#define L40S_VF7 "/sys/devices/pci0000:40/0000:40:01.1/0000:41:01.3"

/* creatable_vgpu_types as a driver may print it: a header, blank lines, spacing, long names;
 * the type is the last word of the name, as NVIDIA's vgpu-device-manager takes it. */
TEST(vgpu_profiles_as_the_driver_prints_them)
{
	_cleanup_json_ struct json_object *a = json_object_new_array();
	int found = 0;

	setup("host-vgpu");
	/* Only VF 7 offers anything: the others hold a profile. */
	for (int i = 0; i < 7; i++) {
		char p[64];

		snprintf(p, sizeof(p), "/sys/bus/pci/devices/0000:41:0%d.%d/nvidia/current_vgpu_type",
			 (4 + i) / 8, (4 + i) % 8);
		put(R("%s", p), "1151");
		snprintf(p, sizeof(p),
			 "/sys/bus/pci/devices/0000:41:0%d.%d/nvidia/creatable_vgpu_types",
			 (4 + i) / 8, (4 + i) % 8);
		put(R("%s", p), "ID    : vGPU Name");
	}
	put(R(L40S_VF7 "/nvidia/creatable_vgpu_types"),
	    "ID    : vGPU Name\n\n  1157 :   NVIDIA L40S-1B  \nnot a profile\n"
	    "1158:NVIDIA RTX Virtual Workstation L40S-6Q\nID : 0\n0 : NVIDIA none\n");
	check_int(vbus_backend_vgpu.list_types(ctx, "0000:41:00.0", a), 0);
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *t = json_object_array_get_idx(a, i);

		if (streq(jstr(t, "type"), "L40S-1B")) {
			found++;
			check_int(jint(t, "id"), 1157);
			check_str(jstr(t, "name"), "NVIDIA L40S-1B");
		} else if (streq(jstr(t, "type"), "L40S-6Q")) {
			found++;
			check_int(jint(t, "id"), 1158);
			check_str(jstr(t, "name"), "NVIDIA RTX Virtual Workstation L40S-6Q");
		}
		check_int(jint(t, "available_instances"), 1);
	}
	check_int(json_object_array_length(a), 2);
	check_int(found, 2);
	/* The placed ones are listed as vgpus, with the name of their profile where a list still
	 * shows it, else its id; not as plain VFs. */
	json_object_put(a);
	a = json_object_new_array();
	check_int(vbus_backend_vgpu.list_active(ctx, a), 0);
	check_int(json_object_array_length(a), 7);
	check_str(jstr(json_object_array_get_idx(a, 0), "type"), "1151");
	check_int(jint(json_object_array_get_idx(a, 0), "vgpu_type_id"), 1151);
	json_object_put(a);
	a = json_object_new_array();
	check_int(vbus_backend_vf.list_active(ctx, a), 0);
	for (size_t i = 0; i < json_object_array_length(a); i++)
		check(!streq(jstr(json_object_array_get_idx(a, i), "parent"), "0000:41:00.0") ||
		      jint(json_object_array_get_idx(a, i), "index") == 7);
	teardown();
}

#define A100 "/sys/devices/pci0000:80/0000:80:01.1/0000:81:00.0"

static bool vgpu_parent_listed(const char *pf)
{
	_cleanup_json_ struct json_object *a = json_object_new_array();
	bool found = false;

	check_int(vbus_backend_vgpu.list_parents(ctx, NULL, a), 0);
	for (size_t i = 0; i < json_object_array_length(a); i++)
		found = found || streq(jstr(json_object_array_get_idx(a, i), "parent"), pf);
	return found;
}

/* A GPU whose VFs are mdev parents (vGPU 16: the A100) is no vgpu parent; one whose VFs carry
 * nvidia/creatable_vgpu_types is; one without VFs only on Linux 6.8 or newer. */
TEST(vgpu_parents_are_gpus_with_vgpu_vfs)
{
	struct vbus_def *d = NULL;

	setup("host-vgpu");
	check(vgpu_parent_listed("0000:41:00.0"));
	check(vgpu_parent_listed("0000:c1:00.0"));
	check(vgpu_parent_listed("0000:81:00.0")); /* no VFs yet: cannot be told apart */
	/* its VF 0 made, an mdev parent as under vGPU 16 */
	test_sh("mkdir -p '%s' && ln -s ../0000:81:00.4 '%s' && ln -s ../0000:81:00.0 '%s' && "
		"ln -s ../../../devices/pci0000:80/0000:80:01.1/0000:81:00.4 '%s'",
		R("/sys/devices/pci0000:80/0000:80:01.1/0000:81:00.4/mdev_supported_types/"
		  "nvidia-694"),
		R(A100 "/virtfn0"), R("/sys/devices/pci0000:80/0000:80:01.1/0000:81:00.4/physfn"),
		R("/sys/bus/pci/devices/0000:81:00.4"));
	check(!vgpu_parent_listed("0000:81:00.0"));
	check(vgpu_parent_listed("0000:41:00.0"));
	check_int(vbus_def_new_from_json(ctx, "{\"name\":\"g\",\"kind\":\"vgpu\",\"parent\":"
					      "\"0000:81:00.0\",\"type\":\"A100D-20C\",\"index\":1}",
					 NULL, &d),
		  0);
	check_int(vbus_define(ctx, d, 0), -EINVAL);
	check(strstr(vbus_ctx_last_error(ctx) ?: "", "mdev types on its VFs") != NULL);
	vbus_def_free(d);
	/* Linux 6.1: the GPU without VFs is none; the one with vGPU VFs still is */
	put(R("/proc/sys/kernel/osrelease"), "6.1.0-56-amd64");
	check(!vgpu_parent_listed("0000:c1:00.0"));
	check(vgpu_parent_listed("0000:41:00.0"));
	teardown();
}

/* ---- templates (lib/select.c): select and count ------------------------------------------ */

/* Defines the template JSON; the store then shows *ret_n definitions (freed by the caller). */
static struct vbus_def **define_template(const char *json, size_t *ret_n)
{
	struct vbus_def *t = NULL, **defs = NULL;

	check_int(vbus_def_new_from_json(ctx, json, NULL, &t), 0);
	check_int(vbus_define(ctx, t, 0), 0);
	vbus_def_free(t);
	check_int(vbus_store_load_all(ctx, false, &defs, ret_n), 0);
	return defs;
}

TEST(select_vf_fill_on_8_vfs)
{
	struct vbus_def **defs;
	size_t n = 0;

	setup("host-sriov");
	defs = define_template("{\"name\":\"vfs\",\"kind\":\"vf\",\"select\":{\"vendor\":"
			       "\"8086\",\"device\":\"1593\",\"driver\":\"ice\"},\"count\":"
			       "\"fill\",\"driver\":\"vfio\",\"start\":\"manual\"}",
			       &n);
	/* sriov_totalvfs is 8: one definition per VF, numbered as the VFs are. */
	check_int(n, 8);
	for (size_t i = 0; i < n && i < 8; i++) {
		char name[64];

		snprintf(name, sizeof(name), "vfs-" PF "-%zu", i);
		check_str(defs[i]->name, name);
		check_int(defs[i]->index, (int64_t)i);
		check_str(defs[i]->parent, PF);
		check_str(vbus_def_template(defs[i]), "vfs");
	}
	vbus_defs_free(defs, n);
	/* Its VF 5 starts like any VF definition: VFs made, VF 5 on vfio-pci. */
	/* VF 0 is bound to iavf and vbus did not make it: re-creating it needs --force. */
	check_int(vbus_start_with_flags(ctx, "vfs-" PF "-5", VBUS_START_FORCE), 0);
	check_str(read_attr("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "6");
	check_str(driver_of("/sys/bus/pci/devices/0000:03:01.5"), "vfio-pci");
	/* The other NIC (e1000e, no SR-IOV) and the NVMe are no parents of it. */
	check(!exists("/etc/vbus/devices.d/vfs-" PF "-5.json"));
	teardown();
}

TEST(select_mdev_fill_keeps_its_count_as_instances_go)
{
	const char *avail = "/sys/bus/pci/devices/0000:3b:00.0/mdev_supported_types/nvidia-230/"
			    "available_instances";
	struct vbus_def **defs;
	size_t n = 0;

	setup("host-2gpu");
	defs = define_template("{\"name\":\"t4\",\"kind\":\"mdev\",\"type\":\"nvidia-230\","
			       "\"select\":{\"vendor\":\"10de\",\"device\":\"1eb8\"},"
			       "\"count\":\"fill\"}",
			       &n);
	check_int(n, 4);
	/* RFC 4122 version 5 of "t4/0000:3b:00.0/0" in vbus's namespace
	 * 6f3c1b52-9a7e-4d21-8b0e-5c43a1d92764 (Python: uuid.uuid5(ns, "t4/0000:3b:00.0/0")). */
	check_str(defs[0]->name, "t4-0000:3b:00.0-0");
	check_str(defs[0]->uuid, "d8d263b1-742a-5d97-9ec0-6c0c77e32502");
	check_str(defs[3]->name, "t4-0000:af:00.0-1");
	vbus_defs_free(defs, n);

	check_str(read_attr(avail), "2");
	check_int(vbus_start(ctx, "t4-0000:3b:00.0-0"), 0);
	check_str(read_attr(avail), "1");
	check(exists("/sys/bus/mdev/devices/d8d263b1-742a-5d97-9ec0-6c0c77e32502"));
	check_int(vbus_start(ctx, "t4-0000:3b:00.0-1"), 0);
	check_str(read_attr(avail), "0");
	/* Nothing left on that GPU, and still two definitions there: what is ours counts. */
	check_int(vbus_store_load_all(ctx, false, &defs, &n), 0);
	check_int(n, 4);
	if (n == 4) {
		check_str(defs[0]->uuid, "d8d263b1-742a-5d97-9ec0-6c0c77e32502");
		check_str(defs[1]->name, "t4-0000:3b:00.0-1");
	}
	vbus_defs_free(defs, n);
	/* An mdev that is not ours takes the room of one: fill makes one on that GPU. */
	test_sh("echo 1 >'%s'", R("/sys/bus/pci/devices/0000:af:00.0/mdev_supported_types/"
				   "nvidia-230/available_instances"));
	check_int(vbus_store_load_all(ctx, false, &defs, &n), 0);
	check_int(n, 3);
	vbus_defs_free(defs, n);
	teardown();
}

TEST(select_refusals_write_nothing)
{
	static const char *const bad[] = {
		"{\"name\":\"x\",\"kind\":\"mdev\",\"type\":\"nvidia-230\",\"count\":3,"
		"\"select\":{\"vendor\":\"10de\"}}", /* 2 fit per GPU */
		"{\"name\":\"x\",\"kind\":\"vf\",\"select\":{\"vendor\":\"8086\",\"device\":"
		"\"1593\"},\"count\":9}", /* 8 VFs */
		"{\"name\":\"x\",\"kind\":\"mdev\",\"type\":\"nope\",\"parent\":\"0000:3b:*\"}",
		"{\"name\":\"x\",\"kind\":\"pci\",\"select\":{\"class\":\"03\"},\"count\":1}",
	};

	setup("host-2gpu");
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct vbus_def *t = NULL;
		int r = vbus_def_new_from_json(ctx, bad[i], NULL, &t);

		if (r >= 0)
			r = vbus_define(ctx, t, 0);
		vbus_def_free(t);
		check(r < 0);
		check(vbus_ctx_last_error(ctx) != NULL);
		check(!exists("/etc/vbus/devices.d/x.json"));
	}
	teardown();
}

/* The handle kinds have no kernel under a test root: their parents come from these. */
static int fake_sf_parents(struct vbus_ctx *c, const char *parent, struct json_object *a)
{
	static const char *const handles[] = { "pci/0000:03:00.0", "pci/0000:05:00.0" };

	for (size_t i = 0; i < ELEMENTSOF(handles); i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "parent", json_object_new_string(handles[i]));
		json_object_object_add(o, "kind", json_object_new_string("sf"));
		json_object_array_add(a, o);
	}
	return 0;
}

static int fake_vdpa_types(struct vbus_ctx *c, const char *parent, struct json_object *a)
{
	static const char *const pt[][2] = {
		{ "pci/0000:03:00.0", "block" }, { "pci/0000:03:00.0", "net" }, { "vdpasim_net", "net" }
	};

	for (size_t i = 0; i < ELEMENTSOF(pt); i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "parent", json_object_new_string(pt[i][0]));
		json_object_object_add(o, "kind", json_object_new_string("vdpa"));
		json_object_object_add(o, "type", json_object_new_string(pt[i][1]));
		json_object_array_add(a, o);
	}
	return 0;
}

static int fake_check(struct vbus_ctx *c, const struct vbus_def *def)
{
	return 0;
}

static const struct vbus_backend fake_sf = {
	.kind = VBUS_KIND_SF,
	.list_parents = fake_sf_parents,
	.check = fake_check,
};

static const struct vbus_backend fake_vdpa = {
	.kind = VBUS_KIND_VDPA,
	.list_types = fake_vdpa_types,
	.check = fake_check,
};

/* An sf template numbers each parent's SFs from its "index"; a selector reads the PCI device
 * of a "pci/BDF" handle. */
TEST(select_sf_count_numbers_sfnums_per_parent)
{
	struct vbus_def **defs;
	size_t n = 0;

	setup("host-sriov");
	ctx->backend_override[VBUS_KIND_SF] = &fake_sf;
	defs = define_template("{\"name\":\"s\",\"kind\":\"sf\",\"parent\":\"pci/*\",\"count\":2,"
			       "\"index\":10}",
			       &n);
	check_int(n, 4);
	if (n == 4) {
		check_str(defs[0]->name, "s-pci_0000:03:00.0-0");
		check_str(defs[0]->parent, "pci/0000:03:00.0");
		check_int(defs[0]->index, 10);
		check_int(defs[1]->index, 11);
		check_str(defs[3]->name, "s-pci_0000:05:00.0-1");
		check_int(defs[3]->index, 11);
		check_str(vbus_def_template(defs[3]), "s");
	}
	vbus_defs_free(defs, n);
	check_int(vbus_undefine(ctx, "s"), 0);
	/* the E810 only (8086:1593), sfnums from 0 */
	defs = define_template("{\"name\":\"e\",\"kind\":\"sf\",\"select\":{\"vendor\":\"8086\","
			       "\"device\":\"1593\"},\"count\":3}",
			       &n);
	check_int(n, 3);
	if (n == 3) {
		check_str(defs[2]->name, "e-pci_0000:03:00.0-2");
		check_int(defs[0]->index, 0);
		check_int(defs[2]->index, 2);
	}
	vbus_defs_free(defs, n);
	teardown();
}

TEST(select_vdpa_count_on_parents_of_the_type)
{
	struct vbus_def **defs;
	size_t n = 0;

	setup("host-sriov");
	ctx->backend_override[VBUS_KIND_VDPA] = &fake_vdpa;
	defs = define_template("{\"name\":\"v\",\"kind\":\"vdpa\",\"parent\":\"*\",\"type\":\"net\","
			       "\"count\":2}",
			       &n);
	check_int(n, 4);
	if (n == 4) {
		/* names a vdpa device can have: no '/' */
		check_str(defs[0]->name, "v-pci_0000:03:00.0-0");
		check_str(defs[0]->parent, "pci/0000:03:00.0");
		check_str(defs[3]->name, "v-vdpasim_net-1");
		check_str(defs[3]->type, "net");
	}
	vbus_defs_free(defs, n);
	defs = define_template("{\"name\":\"b\",\"kind\":\"vdpa\",\"parent\":\"*\",\"type\":\"block\","
			       "\"count\":1}",
			       &n);
	check_int(n, 5); /* v's four and b's one: only the NIC offers block */
	vbus_defs_free(defs, n);
	check(exists("/etc/vbus/devices.d/b.json"));
	teardown();
}

/* Virtbus names are the kernel's: [A-Za-z0-9_-], at most 31, the same at every expansion. */
TEST(select_virtbus_names_fit_the_kernel)
{
	const char *tmpl = "a.template:name-that-is-far-too-long-for-a-virtbus-device";
	struct vbus_def **defs, **again;
	size_t n = 0, n2 = 0;
	char json[256];

	setup("host-vbus");
	snprintf(json, sizeof(json),
		 "{\"name\":\"%s\",\"kind\":\"virtbus\",\"parent\":\"vbus_sim/*\",\"type\":\"net\","
		 "\"count\":2}",
		 tmpl);
	defs = define_template(json, &n);
	check_int(n, 4);
	for (size_t i = 0; i < n; i++) {
		check(strlen(defs[i]->name) <= 31);
		check_int(strspn(defs[i]->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
						"0123456789_-"),
			  strlen(defs[i]->name));
		for (size_t k = 0; k < i; k++)
			check(!streq(defs[i]->name, defs[k]->name));
	}
	check_int(vbus_store_load_all(ctx, false, &again, &n2), 0);
	check_int(n2, n);
	for (size_t i = 0; i < n && i < n2; i++)
		check_str(again[i]->name, defs[i]->name);
	vbus_defs_free(again, n2);
	vbus_defs_free(defs, n);
	teardown();
}

/* fill on virtbus: available_instances plus the template's own devices (the kernel's
 * MGMTDEV.NAME); another tool's device takes room. */
TEST(select_virtbus_fill_keeps_its_count)
{
	struct vbus_def **defs;
	size_t n = 0;

	setup("host-vbus");
	defs = define_template("{\"name\":\"b\",\"kind\":\"virtbus\",\"parent\":\"vbus_sim/*\","
			       "\"type\":\"blk\",\"count\":\"fill\"}",
			       &n);
	check_int(n, 4);
	vbus_defs_free(defs, n);
	test_sh("mkdir '%s' && echo 1 >'%s' && echo 1 >'%s'",
		R("/sys/bus/virtbus/devices/vbus_sim1.b-vbus_sim_vbus_sim1-1"),
		R("/sys/bus/virtbus/mgmtdevs/vbus_sim:vbus_sim1/types/blk/available_instances"),
		R("/sys/bus/virtbus/mgmtdevs/vbus_sim:vbus_sim2/types/blk/available_instances"));
	check_int(vbus_store_load_all(ctx, false, &defs, &n), 0);
	check_int(n, 3);
	if (n == 3) {
		check_str(defs[0]->name, "b-vbus_sim_vbus_sim1-0");
		check_str(defs[1]->name, "b-vbus_sim_vbus_sim1-1");
		check_str(defs[2]->name, "b-vbus_sim_vbus_sim2-0");
	}
	vbus_defs_free(defs, n);
	teardown();
}

/* vgpu: VFs 0..N-1 of each GPU, one profile; "fill" is refused. */
TEST(select_vgpu_count)
{
	struct vbus_def **defs, *t = NULL;
	size_t n = 0;

	setup("host-vgpu");
	defs = define_template("{\"name\":\"g\",\"kind\":\"vgpu\",\"type\":\"L40S-2Q\",\"select\":"
			       "{\"vendor\":\"10de\",\"device\":\"26b9\"},\"count\":2}",
			       &n);
	check_int(n, 4);
	if (n == 4) {
		check_str(defs[0]->name, "g-0000:41:00.0-0");
		check_int(defs[1]->index, 1);
		check_str(defs[3]->parent, "0000:c1:00.0");
		check_str(defs[3]->type, "L40S-2Q");
	}
	vbus_defs_free(defs, n);
	check_int(vbus_def_new_from_json(ctx, "{\"name\":\"f\",\"kind\":\"vgpu\",\"type\":\"L40S-2Q\","
					      "\"parent\":\"*\",\"count\":\"fill\"}",
					 NULL, &t),
		  0);
	check(vbus_define(ctx, t, 0) < 0);
	check(strstr(vbus_ctx_last_error(ctx) ?: "", "not for vgpu") != NULL);
	check(!exists("/etc/vbus/devices.d/f.json"));
	vbus_def_free(t);
	teardown();
}

TEST(trees_match_mktree)
{
	char tmpl[] = "/tmp/vbus-test-trees-XXXXXX";

	/* The checked-in trees are what mktree.sh makes (git drops empty directories, so
	 * compare files and links only). */
	check(mkdtemp(tmpl) != NULL);
	test_sh("sh '%s/mktree.sh' '%s' >/dev/null", TEST_DATA_DIR, tmpl);
	test_sh("set -e; l() { (cd \"$1\" && find host-* ! -type d -printf '%%p %%l\\n' | sort && "
	   "find host-* -type f -exec md5sum {} + | sort); }; "
	   "l '%s' >'%s.a'; l '%s' >'%s.b'; diff -u '%s.a' '%s.b' | head -20; "
	   "cmp -s '%s.a' '%s.b'",
	   TEST_DATA_DIR, tmpl, tmpl, tmpl, tmpl, tmpl, tmpl, tmpl);
	test_sh("rm -rf '%s' '%s.a' '%s.b'", tmpl, tmpl, tmpl);
}

TEST(run_helper)
{
	char *t[] = {(char *)"/bin/true", NULL};
	char *f[] = {(char *)"/bin/false", NULL};
	char *n[] = {(char *)"/nonexistent/modprobe", NULL};
	char *e[] = {(char *)"/bin/sh", (char *)"-c", (char *)"echo leaked", NULL};
	char out[] = "/tmp/vbus-test-run-XXXXXX", buf[64];
	int fd, saved;

	setup("host-gvt");
	check_int(vbus_run(ctx, t), 0);
	check_int(vbus_run(ctx, f), -EIO);
	check_int(vbus_run(ctx, n), -ENOENT);
	/* A helper's stdout never reaches ours (vbusctl -j prints JSON there). */
	fflush(stdout);
	fd = mkstemp(out);
	check(fd >= 0);
	saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	check_int(vbus_run(ctx, e), 0);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(fd);
	check_str(get(out, buf, sizeof(buf)), "");
	unlink(out);
	teardown();
}

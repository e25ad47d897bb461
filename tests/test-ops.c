// SPDX-License-Identifier: LGPL-2.1-or-later
/* Operations against a fake backend: ordering, rollback, run state, what stop may destroy. */
#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "test.h"
#include "vbus-private.h"

/* ---- a fake mdev-like backend: devices exist in a table, drivers are strings ---------------- */

#define MAX_DEV 8

struct fake {
	struct {
		char name[64]; /* the definition's uuid or parent */
		char driver[64];
		bool used;
		bool partial; /* half made or half removed: not active, in the way of a create */
	} dev[MAX_DEV];
	bool parent_absent;
	int fail_create, fail_bind, fail_destroy; /* negative errno to return */
	int fail_configure;
	bool bind_wrong;			  /* bind "succeeds" with another driver */
	bool create_invisible;			  /* create succeeds, device never appears */
	bool fail_list;
	bool die_half; /* the process dies inside create/destroy, between two kernel requests */
	int n_create, n_destroy, n_bind;
	char log[1024];
};
/* Shared with forked children (a test kills one half-way through a start). */
static struct fake *fkp;
#define fk (*fkp)

static const char *key(const struct vbus_def *def)
{
	return def->uuid ?: def->parent;
}

static int find(const struct vbus_def *def)
{
	for (int i = 0; i < MAX_DEV; i++)
		if (fk.dev[i].used && streq(fk.dev[i].name, key(def)))
			return i;
	return -1;
}

static int add_dev(const char *name, const char *driver)
{
	for (int i = 0; i < MAX_DEV; i++)
		if (!fk.dev[i].used) {
			fk.dev[i].used = true;
			fk.dev[i].partial = false;
			snprintf(fk.dev[i].name, sizeof(fk.dev[i].name), "%s", name);
			snprintf(fk.dev[i].driver, sizeof(fk.dev[i].driver), "%s", driver ?: "");
			return i;
		}
	return -1;
}

static void logf_(const char *fmt, ...)
{
	size_t n = strlen(fk.log);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fk.log + n, sizeof(fk.log) - n, fmt, ap);
	va_end(ap);
}

static int f_check(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	if (fk.parent_absent)
		return -ENODEV;
	if (def->type && streq(def->type, "nope"))
		return vbus_error(ctx, -EINVAL, "%s: parent %s does not offer type %s", def->name,
				  def->parent, def->type);
	return 0;
}

static int f_status(struct vbus_ctx *ctx, const struct vbus_def *def, struct vbus_status *st)
{
	int i = find(def);

	*st = (struct vbus_status){};
	if (i < 0)
		return 0;
	if (fk.dev[i].partial) {
		st->partial = true;
		return 0;
	}
	st->active = true;
	st->sysfs_path = vbus_pathf(ctx, "/sys/fake/%s", fk.dev[i].name);
	if (fk.dev[i].driver[0])
		st->bound_driver = strdup(fk.dev[i].driver);
	return 0;
}

static int f_create(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	fk.n_create++;
	logf_("create %s;", def->name);
	if (fk.fail_create)
		return vbus_error(ctx, fk.fail_create, "create failed for %s", def->name);
	if (find(def) >= 0)
		return vbus_error(ctx, -EEXIST, "%s is in use", key(def));
	if (fk.die_half) {
		fk.dev[add_dev(key(def), "")].partial = true;
		_exit(42);
	}
	if (!fk.create_invisible)
		add_dev(key(def), "host_drv");
	return 0;
}

static int f_destroy(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	int i = find(def);

	fk.n_destroy++;
	logf_("destroy %s;", def->name);
	if (fk.fail_destroy)
		return vbus_error(ctx, fk.fail_destroy, "destroy failed");
	if (i >= 0 && fk.die_half) {
		fk.dev[i].partial = true;
		_exit(42);
	}
	if (i >= 0)
		fk.dev[i].used = false;
	return 0;
}

static int f_resolve(struct vbus_ctx *ctx, const struct vbus_def *def, const char *choice,
		     char **ret)
{
	*ret = strdup(streq(choice, "vfio") ? "vfio_drv" : "host_drv");
	return *ret ? 0 : -ENOMEM;
}

static int f_bind(struct vbus_ctx *ctx, const struct vbus_def *def, const char *driver)
{
	int i = find(def);

	fk.n_bind++;
	logf_("bind %s %s;", def->name, driver ?: "(none)");
	if (fk.fail_bind)
		return vbus_error(ctx, fk.fail_bind, "%s: %s refused to bind", def->name,
				  driver ?: "(none)");
	if (i < 0)
		return vbus_error(ctx, -ENODEV, "no device");
	snprintf(fk.dev[i].driver, sizeof(fk.dev[i].driver), "%s",
		 fk.bind_wrong ? "other_drv" : driver ?: "");
	return 0;
}

static int f_list_active(struct vbus_ctx *ctx, struct json_object *devices)
{
	if (fk.fail_list)
		return vbus_error(ctx, -EIO, "sysfs is broken");
	for (int i = 0; i < MAX_DEV; i++) {
		struct json_object *o;

		if (!fk.dev[i].used || fk.dev[i].partial)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(fk.dev[i].name));
		json_object_object_add(o, "kind", json_object_new_string("mdev"));
		json_object_object_add(o, "parent", json_object_new_string("p0"));
		json_object_object_add(o, "uuid", json_object_new_string(fk.dev[i].name));
		json_object_array_add(devices, o);
	}
	return 0;
}

static const struct vbus_backend fake_mdev = {
    .kind = VBUS_KIND_MDEV,
    .check = f_check,
    .status = f_status,
    .create = f_create,
    .destroy = f_destroy,
    .resolve_driver = f_resolve,
    .bind = f_bind,
    .list_active = f_list_active,
};

/* The same for pci: never created, only bound. */
static const struct vbus_backend fake_pci = {
    .kind = VBUS_KIND_PCI,
    .check = f_check,
    .status = f_status,
    .resolve_driver = f_resolve,
    .bind = f_bind,
};

/* A vf backend with the configure step (the per-VF netdev settings of the real one). */
static int f_configure(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	logf_("configure %s;", def->name);
	if (fk.fail_configure)
		return vbus_error(ctx, fk.fail_configure,
				  "%s: cannot set vlan 5 qos 0 on VF 0 of eth0: %s", def->name,
				  strerror(-fk.fail_configure));
	return 0;
}

static const struct vbus_backend fake_vf = {
    .kind = VBUS_KIND_VF,
    .check = f_check,
    .status = f_status,
    .create = f_create,
    .destroy = f_destroy,
    .configure = f_configure,
    .resolve_driver = f_resolve,
    .bind = f_bind,
};

/* ---- helpers ------------------------------------------------------------------------------- */

static char root[256];
static char warnings[2048];

static void log_cb(void *userdata, int level, const char *file, int line, const char *fn,
		   const char *format, va_list args)
{
	size_t n = strlen(warnings);

	if (level <= VBUS_LOG_WARNING && n + 2 < sizeof(warnings)) {
		vsnprintf(warnings + n, sizeof(warnings) - n - 1, format, args);
		strcat(warnings, "\n");
	}
}

static struct vbus_ctx *setup(void)
{
	struct vbus_ctx *ctx = NULL;
	char cmd[300];

	if (!fkp) {
		fkp = mmap(NULL, sizeof(*fkp), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			   -1, 0);
		if (fkp == MAP_FAILED)
			abort();
	}
	memset(&fk, 0, sizeof(fk));
	warnings[0] = '\0';
	if (root[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		check_int(system(cmd), 0);
	}
	snprintf(root, sizeof(root), "/tmp/vbus-test-ops-XXXXXX");
	check(mkdtemp(root) != NULL);
	check_int(vbus_ctx_new(root, &ctx), 0);
	vbus_ctx_set_log_fn(ctx, log_cb, NULL);
	ctx->backend_override[VBUS_KIND_MDEV] = &fake_mdev;
	ctx->backend_override[VBUS_KIND_PCI] = &fake_pci;
	return ctx;
}

static void teardown(struct vbus_ctx *ctx)
{
	char cmd[300];

	vbus_ctx_unref(ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	check_int(system(cmd), 0);
	root[0] = '\0';
}

static bool exists(const char *rel)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s", root, rel);
	return stat(p, &st) == 0;
}

static struct vbus_def *mdev_def(const char *name, const char *uuid)
{
	struct vbus_def *def = NULL;

	check_int(vbus_def_new(&def), 0);
	def->name = strdup(name);
	def->kind = VBUS_KIND_MDEV;
	def->parent = strdup("p0");
	def->type = strdup("t1");
	def->uuid = uuid ? strdup(uuid) : NULL;
	return def;
}

static struct vbus_def *pci_def(const char *name, const char *bdf, const char *driver)
{
	struct vbus_def *def = NULL;

	check_int(vbus_def_new(&def), 0);
	def->name = strdup(name);
	def->kind = VBUS_KIND_PCI;
	def->parent = strdup(bdf);
	def->driver = driver ? strdup(driver) : NULL;
	return def;
}

#define U1 "11111111-2222-4333-8444-555555555555"
#define U2 "11111111-2222-4333-8444-666666666666"
#define U3 "11111111-2222-4333-8444-777777777777"
#define U4 "11111111-2222-4333-8444-888888888888"

/* ---- cases ----------------------------------------------------------------------------------- */

TEST(define_generates_uuid)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *def = mdev_def("g1", NULL), *loaded = NULL;

	check_int(vbus_define(ctx, def, 0), 0);
	check(def->uuid && vbus_uuid_is_valid(def->uuid));
	check_int(vbus_def_load(ctx, "g1", &loaded), 0);
	check_str(loaded->uuid, def->uuid);
	check(exists("/etc/vbus/devices.d/g1.json"));
	teardown(ctx);
}

TEST(define_absent_parent_warns)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *def = mdev_def("g1", U1);

	fk.parent_absent = true;
	check_int(vbus_define(ctx, def, 0), 1);
	check(exists("/etc/vbus/devices.d/g1.json"));
	teardown(ctx);
}

TEST(define_refusals_write_nothing)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *a = mdev_def("g1", U1), *b = mdev_def("g2", U1),
				      *c = mdev_def("g3", U2), *d = mdev_def("g1", U2),
				      *e = mdev_def("a/b", U2);

	check_int(vbus_define(ctx, a, 0), 0);
	check_int(vbus_define(ctx, b, 0), -EEXIST);
	check_str(vbus_ctx_last_error(ctx), "uuid " U1 " is already defined as 'g1'");
	check_int(vbus_define(ctx, d, 0), -EEXIST);
	check_str(vbus_ctx_last_error(ctx), "'g1' is already defined");
	check_int(vbus_define(ctx, e, 0), -EINVAL);
	free(c->type);
	c->type = strdup("nope");
	check_int(vbus_define(ctx, c, 0), -EINVAL);
	/* the backend's "g3: " prefix is dropped: callers name the device themselves */
	check_str(vbus_ctx_last_error(ctx), "parent p0 does not offer type nope");
	check(!exists("/etc/vbus/devices.d/g2.json"));
	check(!exists("/etc/vbus/devices.d/g3.json"));
	check(!exists("/etc/vbus/devices.d/a/b.json"));
	/* modify needs an existing definition */
	check_int(vbus_define(ctx, c, VBUS_DEFINE_REPLACE), -EINVAL);
	free(c->type);
	c->type = strdup("t1");
	check_int(vbus_define(ctx, c, VBUS_DEFINE_REPLACE), -ENOENT);
	teardown(ctx);
}

TEST(kind_without_backend)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *def = NULL;
	_cleanup_json_ struct json_object *arr = NULL;

	check_int(vbus_def_new(&def), 0);
	def->name = strdup("s1");
	def->kind = VBUS_KIND_SF;
	def->parent = strdup("pci/0000:06:00.0");
	/* A kind whose backend is not built: refused by name, nothing written. */
	if (!vbus_backend_get(VBUS_KIND_SF)) {
		check_int(vbus_define(ctx, def, 0), -EOPNOTSUPP);
		check_str(vbus_ctx_last_error(ctx), "kind sf is not supported yet");
		check(!exists("/etc/vbus/devices.d/s1.json"));
	}
	check_int(vbus_list_parents(ctx, NULL, &arr), 0);
	teardown(ctx);
}

/* A definition changed while its device runs is shown with the change pending (issue 16):
 * the fields in which the run record's definition differs; a restart clears it. */
TEST(pending_change)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *def = mdev_def("g1", U1);
	struct vbus_device **devs = NULL;
	size_t n_devs = 0;

	check_int(vbus_def_add_attr(def, "a", "1"), 0);
	check_int(vbus_define(ctx, def, 0), 0);
	check_int(vbus_list_devices(ctx, VBUS_LIST_DEFINED, "g1", &devs, &n_devs), 0);
	check_int(vbus_device_get_pending(devs[0]), 0); /* not running: nothing pending */
	vbus_device_list_free(devs, n_devs);
	check_int(vbus_start(ctx, "g1"), 0);
	check_int(vbus_list_devices(ctx, VBUS_LIST_DEFINED, "g1", &devs, &n_devs), 0);
	check(vbus_device_is_active(devs[0]));
	check_int(vbus_device_get_pending(devs[0]), 0);
	vbus_device_list_free(devs, n_devs);

	/* Another attribute value and another driver choice, stored while it runs. */
	vbus_def_clear_attrs(def);
	check_int(vbus_def_add_attr(def, "a", "2"), 0);
	check_int(vbus_def_set_driver(def, "vfio"), 0);
	check_int(vbus_define(ctx, def, VBUS_DEFINE_REPLACE), 0);
	check_int(vbus_list_devices(ctx, VBUS_LIST_DEFINED, "g1", &devs, &n_devs), 0);
	check_int(vbus_device_get_pending(devs[0]), VBUS_PENDING_ATTRS | VBUS_PENDING_DRIVER);
	check_str(vbus_pending_to_string(VBUS_PENDING_ATTRS), "attrs");
	check(vbus_pending_to_string(VBUS_PENDING_ATTRS | VBUS_PENDING_DRIVER) == NULL);
	/* The stored values are shown, not the running ones. */
	{
		const char *v = NULL;

		check_int(vbus_device_get_attr(devs[0], 0, NULL, &v), 0);
		check_str(v, "2");
	}
	vbus_device_list_free(devs, n_devs);

	/* A restart runs the stored definition: nothing pending. */
	check_int(vbus_stop(ctx, "g1"), 0);
	check_int(vbus_start(ctx, "g1"), 0);
	check_int(vbus_list_devices(ctx, VBUS_LIST_DEFINED, "g1", &devs, &n_devs), 0);
	check(vbus_device_is_active(devs[0]));
	check_int(vbus_device_get_pending(devs[0]), 0);
	vbus_device_list_free(devs, n_devs);
	teardown(ctx);
}

TEST(start_stop_created)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *def = mdev_def("g1", U1);
	struct vbus_device **devs = NULL;
	size_t n_devs = 0;

	check_int(vbus_define(ctx, def, 0), 0);
	check_int(vbus_start(ctx, "g1"), 0);
	/* auto -> policy default for mdev: host -> backend's host driver, already bound */
	check_str(fk.log, "create g1;");
	check(exists("/run/vbus/g1.json"));
	check_int(vbus_start(ctx, "g1"), -EALREADY);

	check_int(vbus_list_devices(ctx, VBUS_LIST_ACTIVE, NULL, &devs, &n_devs), 0);
	check_int(n_devs, 1);
	check_str(vbus_device_get_name(devs[0]), "g1");
	check_str(vbus_device_get_bound_driver(devs[0]), "host_drv");
	check_str(vbus_device_get_sysfs_path(devs[0]), "/sys/fake/" U1);
	vbus_device_list_free(devs, n_devs);

	check_int(vbus_stop(ctx, "g1"), 0);
	check_str(fk.log, "create g1;destroy g1;");
	check(!exists("/run/vbus/g1.json"));
	check_int(vbus_stop(ctx, "g1"), -EALREADY);
	teardown(ctx);
}

TEST(start_rollback_on_bind_failure)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *def = mdev_def("g1", U1);

	def->driver = strdup("vfio");
	check_int(vbus_define(ctx, def, 0), 0);
	fk.fail_bind = -EBUSY;
	check_int(vbus_start(ctx, "g1"), -EBUSY);
	/* what start created is destroyed again; the cause survives the rollback */
	check_str(fk.log, "create g1;bind g1 vfio_drv;destroy g1;");
	check_str(vbus_ctx_last_error(ctx), "vfio_drv refused to bind");
	check(!exists("/run/vbus/g1.json"));
	check_int(find(def), -1);
	teardown(ctx);
}

TEST(start_verifies_driver)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *def = mdev_def("g1", U1);

	def->driver = strdup("vfio");
	check_int(vbus_define(ctx, def, 0), 0);
	fk.bind_wrong = true;
	check_int(vbus_start(ctx, "g1"), -EIO);
	check_str(vbus_ctx_last_error(ctx), "'g1' is bound to other_drv instead of vfio_drv");
	check_int(find(def), -1);
	teardown(ctx);
}

TEST(start_device_that_never_appears)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *def = mdev_def("g1", U1);

	check_int(vbus_define(ctx, def, 0), 0);
	fk.create_invisible = true;
	check_int(vbus_start(ctx, "g1"), -ENODEV);
	check_str(fk.log, "create g1;destroy g1;");
	teardown(ctx);
}

TEST(create_rolls_back_definition)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *def = mdev_def("g1", U1), *t = mdev_def("t1", U2);
	struct vbus_device **devs = NULL;
	size_t n_devs = 0;

	fk.fail_create = -ENOSPC;
	check_int(vbus_create(ctx, def, 0), -ENOSPC);
	check_str(vbus_ctx_last_error(ctx), "create failed for g1");
	check(!exists("/etc/vbus/devices.d/g1.json"));
	fk.fail_create = 0;
	check_int(vbus_create(ctx, def, 0), 0);
	check(exists("/etc/vbus/devices.d/g1.json"));
	check(exists("/run/vbus/g1.json"));

	/* transient: no definition file, but listed and stoppable */
	check_int(vbus_create(ctx, t, VBUS_CREATE_TRANSIENT), 0);
	check(!exists("/etc/vbus/devices.d/t1.json"));
	check(exists("/run/vbus/t1.json"));
	check_int(vbus_list_devices(ctx, VBUS_LIST_ACTIVE, "t1", &devs, &n_devs), 0);
	check_int(n_devs, 1);
	check(!vbus_device_is_defined(devs[0]));
	vbus_device_list_free(devs, n_devs);
	check_int(vbus_create(ctx, t, VBUS_CREATE_TRANSIENT), -EEXIST);
	check_int(vbus_remove(ctx, "t1"), 0);
	check(!exists("/run/vbus/t1.json"));
	check_int(find(t), -1);

	/* parent absent: create refuses and keeps nothing */
	fk.parent_absent = true;
	{
		_cleanup_def_ struct vbus_def *x = mdev_def("x1", NULL);

		check_int(vbus_create(ctx, x, 0), -ENODEV);
		check(!exists("/etc/vbus/devices.d/x1.json"));
	}
	teardown(ctx);
}

TEST(stop_never_destroys_foreign)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *def = mdev_def("g1", U1);

	/* the mdev exists already (made by hand): start only records, stop only unbinds back */
	add_dev(U1, "host_drv");
	def->driver = strdup("vfio");
	check_int(vbus_define(ctx, def, 0), 0);
	check_int(vbus_start(ctx, "g1"), 0);
	check_int(fk.n_create, 0);
	check_str(fk.dev[0].driver, "vfio_drv");
	check_int(vbus_stop(ctx, "g1"), 0);
	check_int(fk.n_destroy, 0);
	check_str(fk.dev[0].driver, "host_drv");
	check(fk.dev[0].used);

	/* without a run record: refused, nothing touched */
	check_int(vbus_stop(ctx, "g1"), -EBUSY);
	check_int(fk.n_destroy, 0);
	teardown(ctx);
}

TEST(pci_gets_host_driver_back)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *def = pci_def("nic", "0000:04:00.0", "vfio");
	_cleanup_free_ char *p = NULL;

	add_dev("0000:04:00.0", "e1000e");
	check_int(vbus_create(ctx, def, 0), 0);
	check_str(fk.dev[0].driver, "vfio_drv");
	check_int(vbus_stop(ctx, "nic"), 0);
	check_str(fk.dev[0].driver, "e1000e");
	check(fk.dev[0].used);

	/* assign: rebinding now and persisting */
	check_int(vbus_start(ctx, "nic"), 0);
	check_int(vbus_assign(ctx, "nic", "host"), 0);
	check_str(fk.dev[0].driver, "host_drv");
	{
		_cleanup_def_ struct vbus_def *l = NULL;

		check_int(vbus_def_load(ctx, "nic", &l), 0);
		check_str(l->driver, "host");
	}
	fk.fail_bind = -EINVAL;
	check_int(vbus_assign(ctx, "nic", "vfio"), -EINVAL);
	fk.fail_bind = 0;
	check_str(fk.dev[0].driver, "host_drv");
	{
		_cleanup_def_ struct vbus_def *l = NULL;

		check_int(vbus_def_load(ctx, "nic", &l), 0);
		check_str(l->driver, "host");
	}
	/* remove = stop + undefine: the function stays, with its own driver */
	check_int(vbus_remove(ctx, "nic"), 0);
	check(fk.dev[0].used);
	check_str(fk.dev[0].driver, "e1000e");
	check(!exists("/etc/vbus/devices.d/nic.json"));
	check_int(vbus_remove(ctx, "nic"), -ENOENT);
	teardown(ctx);
}

/* A definition is a standing order: start puts back a driver someone changed, with or without
 * a run record (after a reboot /run/vbus is empty), and is a no-op (-EALREADY) once it holds. */
TEST(start_converges)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *def = pci_def("nic", "0000:04:00.0", "vfio");

	add_dev("0000:04:00.0", "e1000e");
	check_int(vbus_define(ctx, def, 0), 0);
	check_int(vbus_start(ctx, "nic"), 0);
	check_str(fk.dev[0].driver, "vfio_drv");
	check_int(vbus_start(ctx, "nic"), -EALREADY);
	check_str(vbus_ctx_last_error(ctx), "'nic' is already active");
	/* someone gives it back to its host driver: start binds it again */
	snprintf(fk.dev[0].driver, sizeof(fk.dev[0].driver), "e1000e");
	fk.log[0] = '\0';
	check_int(vbus_start(ctx, "nic"), 0);
	check_str(fk.log, "bind nic vfio_drv;");
	check_str(fk.dev[0].driver, "vfio_drv");
	/* the record still says what it had before vbus: stop gives that back */
	check_int(vbus_stop(ctx, "nic"), 0);
	check_str(fk.dev[0].driver, "e1000e");

	/* a reboot: no run record, the host driver again; the definition alone is enough */
	check_int(vbus_start(ctx, "nic"), 0);
	test_sh("rm -rf '%s/run/vbus'", root);
	snprintf(fk.dev[0].driver, sizeof(fk.dev[0].driver), "e1000e");
	check_int(vbus_start(ctx, "nic"), 0);
	check_str(fk.dev[0].driver, "vfio_drv");
	check(exists("/run/vbus/nic.json"));
	check_int(vbus_start(ctx, "nic"), -EALREADY);
	teardown(ctx);
}

/* The same for a device vbus created: unbound by someone else, it gets its driver back and
 * stays vbus's to destroy. */
TEST(start_converges_created)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *def = mdev_def("g1", U1);

	def->driver = strdup("vfio");
	check_int(vbus_define(ctx, def, 0), 0);
	check_int(vbus_start(ctx, "g1"), 0);
	fk.dev[0].driver[0] = '\0';
	check_int(vbus_start(ctx, "g1"), 0);
	check_str(fk.dev[0].driver, "vfio_drv");
	check_str(fk.log, "create g1;bind g1 vfio_drv;bind g1 vfio_drv;");
	/* a modify changed the wanted driver: start follows the definition */
	free(def->driver);
	def->driver = strdup("host");
	check_int(vbus_define(ctx, def, VBUS_DEFINE_REPLACE), 0);
	check_int(vbus_start(ctx, "g1"), 0);
	check_str(fk.dev[0].driver, "host_drv");
	check_int(vbus_stop(ctx, "g1"), 0);
	check_int(fk.n_destroy, 1);
	check_int(find(def), -1);
	teardown(ctx);
}

static const char *result_of(struct json_object *results, const char *name, const char *key)
{
	for (size_t i = 0; i < json_object_array_length(results); i++) {
		struct json_object *o = json_object_array_get_idx(results, i), *v;

		if (json_object_object_get_ex(o, "name", &v) &&
		    streq(json_object_get_string(v), name))
			return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v)
								    : NULL;
	}
	return NULL;
}

TEST(reconcile)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *g1 = mdev_def("g1", U1), *g2 = mdev_def("g2", U2),
				      *man = mdev_def("man", U3), *nic = NULL, *nvme = NULL;
	_cleanup_json_ struct json_object *res = NULL;

	nic = pci_def("nic", "0000:04:00.0", "vfio");
	nvme = pci_def("nvme", "0000:05:00.0", "vfio");
	add_dev("0000:04:00.0", "e1000e");
	add_dev("0000:05:00.0", "vfio_drv");
	man->start = VBUS_START_MANUAL;
	check_int(vbus_define(ctx, g1, 0), 0);
	check_int(vbus_define(ctx, g2, 0), 0);
	check_int(vbus_define(ctx, man, 0), 0);
	check_int(vbus_define(ctx, nic, 0), 0);
	check_int(vbus_define(ctx, nvme, 0), 0);
	/* the mdevs cannot be made: both are tried, named, and the pci functions bound all the
	 * same */
	fk.fail_create = -ENOSPC;
	check_int(vbus_reconcile(ctx, NULL, 0, &res), -ENOSPC);
	check_str(vbus_ctx_last_error(ctx),
		  "'g1' did not start: create failed for g1, and 1 more failed");
	check(res != NULL);
	check_int(json_object_array_length(res), 4);
	check_str(result_of(res, "g1", "result"), "failed");
	check_str(result_of(res, "g2", "error"), "create failed for g2");
	check_str(result_of(res, "nic", "result"), "started");
	check_str(result_of(res, "nvme", "result"), "started");
	check(result_of(res, "man", "result") == NULL);
	check_str(fk.dev[0].driver, "vfio_drv");
	json_object_put(TAKE_PTR(res));

	fk.fail_create = 0;
	fk.log[0] = '\0';
	check_int(vbus_reconcile(ctx, NULL, 0, &res), 2);
	check_str(fk.log, "create g1;create g2;");
	check_str(result_of(res, "nic", "result"), "unchanged");
	json_object_put(TAKE_PTR(res));
	/* one parent only */
	snprintf(fk.dev[0].driver, sizeof(fk.dev[0].driver), "e1000e");
	snprintf(fk.dev[1].driver, sizeof(fk.dev[1].driver), "nvme");
	check_int(vbus_reconcile(ctx, "pci/0000:05:00.0", 0, &res), 1);
	check_int(json_object_array_length(res), 1);
	check_str(fk.dev[0].driver, "e1000e");
	check_str(fk.dev[1].driver, "vfio_drv");
	json_object_put(TAKE_PTR(res));
	fk.parent_absent = true;
	check_int(vbus_reconcile(ctx, NULL, 0, &res), 0);
	check_str(result_of(res, "g1", "result"), "absent");
	teardown(ctx);
}

/* ---- write-ahead: a start killed after any of its steps leaves nothing vbus cannot own -- */

static const char *const steps[] = {"checked", "intent", "created", "bound", "recorded"};
static const char *kill_at;

static void kill_hook(struct vbus_ctx *ctx, const char *step, void *userdata)
{
	if (streq(step, kill_at))
		_exit(42);
}

/* The write-ahead journal of the starts (/run/vbus/.intents) has a line for NAME. */
static bool journal_names(const char *name)
{
	_cleanup_free_ char *p = NULL, *text = NULL, *key = NULL;
	FILE *f;
	size_t n = 0;

	if (asprintf(&p, "%s/run/vbus/.intents", root) < 0 ||
	    asprintf(&key, "\"name\":\"%s\"", name) < 0)
		return false;
	f = fopen(p, "re");
	if (!f)
		return false;
	if (getdelim(&text, &n, '\0', f) < 0) {
		fclose(f);
		return false;
	}
	fclose(f);
	return strstr(text, key) != NULL;
}

/* In a forked child: a context on the test tree with the fake mdev backend (exits if none). */
static struct vbus_ctx *child_ctx(void)
{
	struct vbus_ctx *c = NULL;

	if (vbus_ctx_new(root, &c) < 0)
		_exit(1);
	c->backend_override[VBUS_KIND_MDEV] = &fake_mdev;
	return c;
}

/* Runs a start (or a transient create with DEF) in a child that dies right after STEP. */
static void killed_at(const char *step, const char *name, struct vbus_def *def)
{
	int status = -1;
	pid_t pid;

	kill_at = step;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct vbus_ctx *c = child_ctx();

		c->step_hook = kill_hook;
		if (def)
			(void)vbus_create(c, def, VBUS_CREATE_TRANSIENT);
		else
			(void)vbus_start(c, name);
		_exit(1); /* the step never came */
	}
	check(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 42)
		printf("# the start of '%s' did not reach step %s\n", name, step);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 42);
}

TEST(write_ahead_start)
{
	for (size_t i = 0; i < ELEMENTSOF(steps); i++)
		for (int then = 0; then < 3; then++) {
			struct vbus_ctx *ctx = setup();
			_cleanup_def_ struct vbus_def *def = mdev_def("g1", U1);
			int r;

			printf("# killed after %s, then %s\n", steps[i],
			       then == 0 ? "stop" : then == 1 ? "start" : "remove");
			def->driver = strdup("vfio");
			check_int(vbus_define(ctx, def, 0), 0);
			killed_at(steps[i], "g1", NULL);
			/* from "intent" on, the record exists before the device does: a line of
			 * the journal of the start's hold of the lock, then its own file */
			check((exists("/run/vbus/g1.json") || journal_names("g1")) == (i > 0));
			check((find(def) >= 0) == (i > 1));
			if (then == 0) {
				/* stop destroys what vbus made, whatever step it had reached */
				r = vbus_stop(ctx, "g1");
				check(i > 1 ? r == 0 : r == -EALREADY);
			} else if (then == 1) {
				/* start completes it: the device, its driver, a complete record */
				check_int(vbus_start(ctx, "g1"), i == 4 ? -EALREADY : 0);
				check(find(def) >= 0 && streq(fk.dev[find(def)].driver, "vfio_drv"));
				check_int(fk.n_create, 1);
				check_int(vbus_stop(ctx, "g1"), 0);
			} else {
				check_int(vbus_remove(ctx, "g1"), 0);
				check(!exists("/etc/vbus/devices.d/g1.json"));
			}
			/* no orphan: no device, no record, no journal */
			check_int(find(def), -1);
			check(!exists("/run/vbus/g1.json"));
			check(!exists("/run/vbus/.intents"));
			teardown(ctx);
		}
}

TEST(write_ahead_transient)
{
	for (size_t i = 0; i < ELEMENTSOF(steps); i++)
		for (int then = 0; then < 2; then++) {
			struct vbus_ctx *ctx = setup();
			_cleanup_def_ struct vbus_def *def = mdev_def("t1", U1);
			_cleanup_json_ struct json_object *res = NULL;
			int r;

			printf("# create --transient killed after %s, then %s\n", steps[i],
			       then ? "reconcile" : "remove");
			def->driver = strdup("vfio");
			killed_at(steps[i], "t1", def);
			if (then == 0) {
				r = vbus_remove(ctx, "t1");
				/* a record of a start that never reached the kernel is dropped */
				check(i > 1 ? r == 0 : r == -ENOENT);
				check_int(find(def), -1);
			} else {
				/* reconcile sweeps what tells nothing and keeps what vbus made */
				check(vbus_reconcile(ctx, NULL, 0, &res) >= 0);
				check(exists("/run/vbus/t1.json") == (i > 1));
				check((find(def) >= 0) == (i > 1));
				check(vbus_stop(ctx, "t1") == (i > 1 ? 0 : -ENOENT));
			}
			check_int(find(def), -1);
			check(!exists("/run/vbus/t1.json"));
			/* and the name is free again */
			check_int(vbus_create(ctx, def, VBUS_CREATE_TRANSIENT), 0);
			check_int(vbus_remove(ctx, "t1"), 0);
			teardown(ctx);
		}
}

/* A start or stop (STOP) of g1 in a child that dies inside the backend's create or destroy. */
static void killed_half(bool stop)
{
	int status = -1;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct vbus_ctx *c = child_ctx();

		fk.die_half = true;
		(void)(stop ? vbus_stop(c, "g1") : vbus_start(c, "g1"));
		_exit(1);
	}
	check(waitpid(pid, &status, 0) == pid);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 42);
	fk.die_half = false;
}

/* Killed between two kernel requests of a create (an SF's PORT_NEW and its activation) or of a
 * destroy (deactivated, PORT_DEL not sent yet): the device is partly there, not active, and in
 * the way of the next create. It is vbus's by its record: stop removes it, start and the
 * reconcile remove it and make the device again; nothing is left that no record names. */
TEST(write_ahead_half_made)
{
	for (int half_stop = 0; half_stop < 2; half_stop++)
		for (int then = 0; then < 3; then++) {
			struct vbus_ctx *ctx = setup();
			_cleanup_def_ struct vbus_def *def = mdev_def("g1", U1);
			_cleanup_json_ struct json_object *res = NULL;
			int i;

			printf("# killed in the middle of its %s, then %s\n",
			       half_stop ? "stop" : "start",
			       then == 0   ? "stop"
			       : then == 1 ? "start"
					   : "reconcile");
			def->driver = strdup("vfio");
			def->start = VBUS_START_AUTO;
			check_int(vbus_define(ctx, def, 0), 0);
			if (half_stop)
				check_int(vbus_start(ctx, "g1"), 0);
			killed_half(half_stop);
			i = find(def);
			check(i >= 0 && fk.dev[i].partial);
			check(exists("/run/vbus/g1.json") || journal_names("g1"));
			fk.log[0] = '\0';
			if (then == 0) {
				check_int(vbus_stop(ctx, "g1"), 0);
				check_str(fk.log, "destroy g1;");
			} else {
				if (then == 1)
					check_int(vbus_start(ctx, "g1"), 0);
				else
					check_int(vbus_reconcile(ctx, NULL, 0, &res), 1);
				check_str(fk.log, "destroy g1;create g1;bind g1 vfio_drv;");
				i = find(def);
				check(i >= 0 && !fk.dev[i].partial &&
				      streq(fk.dev[i].driver, "vfio_drv"));
				check(exists("/run/vbus/g1.json"));
				check_int(vbus_stop(ctx, "g1"), 0);
			}
			check_int(find(def), -1);
			check(!exists("/run/vbus/g1.json"));
			check(!exists("/run/vbus/.intents"));
			teardown(ctx);
		}
}

/* Policy acts on a device vbus did not create only where a rule says "adopt": true. */
TEST(policy_adopts_only_when_told)
{
	struct vbus_ctx *ctx = setup();

	add_dev(U2, "host_drv"); /* made by another tool */
	test_sh("mkdir -p '%s/etc/vbus/policy.d' && echo '{ \"version\": 1, \"rules\": [ "
		"{ \"match\": { \"kind\": \"mdev\" }, \"driver\": \"vfio\" } ] }' "
		"> '%s/etc/vbus/policy.d/10-a.json'", root, root);
	check_int(vbus_apply_policy(ctx, U2), 0);
	check_str(fk.dev[0].driver, "host_drv");
	check_int(fk.n_bind, 0);
	/* the same rule for definitions still applies (auto -> vfio) */
	{
		_cleanup_def_ struct vbus_def *def = mdev_def("g1", U1);

		check_int(vbus_create(ctx, def, 0), 0);
		check_str(fk.dev[find(def)].driver, "vfio_drv");
	}
	test_sh("echo '{ \"version\": 1, \"rules\": [ { \"match\": { \"kind\": \"mdev\" }, "
		"\"driver\": \"vfio\", \"adopt\": true } ] }' > '%s/etc/vbus/policy.d/10-a.json'",
		root);
	check_int(vbus_apply_policy(ctx, U2), 1);
	check_str(fk.dev[0].driver, "vfio_drv");
	teardown(ctx);
}

/* import makes vbus the one owner: mdevctl's file goes to the backup directory (named in the
 * report), and the mdev that ran at import time is vbus's to stop (destroyed, as mdevctl stop
 * would) and start again. --keep-source leaves the files where they are. */
TEST(import_takes_ownership)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_json_ struct json_object *rep = NULL;
	struct json_object *v;
	const char *moved;
	char p[600];

	add_dev(U1, "host_drv"); /* running, started by mdevctl */
	test_sh("mkdir -p '%s/etc/mdevctl.d/p0' && echo '{\"mdev_type\": \"t1\", \"start\": "
		"\"auto\"}' > '%s/etc/mdevctl.d/p0/" U1 "' && echo '{\"mdev_type\": \"t1\", "
		"\"start\": \"manual\"}' > '%s/etc/mdevctl.d/p0/" U2 "'", root, root, root);
	check_int(vbus_import(ctx, "mdevctl", NULL, &rep), 0);
	check_int(json_object_array_length(rep), 2);
	v = json_object_object_get(json_object_array_get_idx(rep, 0), "moved_to");
	moved = json_object_get_string(v);
	check(moved && strncmp(moved, "/etc/vbus/import-backup/mdevctl-", 32) == 0);
	check(moved && strstr(moved, "/p0/" U1) != NULL);
	if (moved) {
		check(exists(moved));
	}
	check(!exists("/etc/mdevctl.d/p0/" U1));
	check(!exists("/etc/mdevctl.d/p0/" U2));
	check(exists("/etc/vbus/devices.d/" U1 ".json"));
	/* the running one is recorded as vbus's, the other one is not running */
	check(exists("/run/vbus/" U1 ".json"));
	check(!exists("/run/vbus/" U2 ".json"));
	check_int(vbus_stop(ctx, U1), 0);
	check_int(fk.n_destroy, 1);
	check_int(find(&(struct vbus_def){.uuid = (char *)U1}), -1);
	check_int(vbus_start(ctx, U1), 0);
	check_int(fk.n_create, 1);
	json_object_put(TAKE_PTR(rep));

	/* --keep-source: defined, recorded, the file stays */
	test_sh("mkdir -p '%s/etc/mdevctl.d/p1' && echo '{\"mdev_type\": \"t1\"}' > "
		"'%s/etc/mdevctl.d/p1/" U3 "'", root, root);
	check_int(vbus_import_with_flags(ctx, "mdevctl", NULL, VBUS_IMPORT_KEEP_SOURCE, &rep), 0);
	check(exists("/etc/mdevctl.d/p1/" U3));
	check(exists("/etc/vbus/devices.d/" U3 ".json"));
	snprintf(p, sizeof(p), "%s", json_object_to_json_string(rep));
	check(strstr(p, "\"moved_to\": null") != NULL);
	teardown(ctx);
}

TEST(list_matches_active)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *def = mdev_def("g1", U1);
	struct vbus_device **all = NULL, **defined = NULL;
	size_t n_all = 0, n_defined = 0;

	add_dev(U1, "host_drv");
	add_dev(U2, "host_drv");
	check_int(vbus_define(ctx, def, 0), 0);
	check_int(vbus_list_devices(ctx, VBUS_LIST_ACTIVE | VBUS_LIST_DEFINED, NULL, &all, &n_all),
		  0);
	/* g1 is the definition of U1 (one row), U2 is active without definition */
	check_int(n_all, 2);
	check_str(vbus_device_get_name(all[1]), U2);
	check(!vbus_device_is_defined(all[1]));
	check(!vbus_device_has_definition(all[1]));
	check_str(vbus_device_get_uuid(all[1]), U2);
	vbus_device_list_free(all, n_all);
	check_int(vbus_list_devices(ctx, VBUS_LIST_DEFINED, NULL, &defined, &n_defined), 0);
	check_int(n_defined, 1);
	vbus_device_list_free(defined, n_defined);
	teardown(ctx);
}

TEST(apply_all_or_nothing)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *g1 = mdev_def("g1", U1), *l = NULL;
	_cleanup_json_ struct json_object *plan = NULL, *list = NULL;
	char p[512];

	check_int(vbus_define(ctx, g1, 0), 0);
	/* x1.json cannot be written (a directory is in the way): g1's change is put back */
	snprintf(p, sizeof(p), "%s/etc/vbus/devices.d/x1.json", root);
	check_int(mkdir(p, 0755), 0);
	list =
	    json_tokener_parse("[{\"name\":\"g1\",\"kind\":\"mdev\",\"parent\":\"p0\","
			       "\"type\":\"t1\",\"driver\":\"vfio\"},"
			       "{\"name\":\"x1\",\"kind\":\"pci\",\"parent\":\"0000:01:00.0\"}]");
	check(list != NULL);
	check(vbus_apply(ctx, list, 0, &plan) < 0);
	check(plan == NULL);
	check_int(vbus_def_load(ctx, "g1", &l), 0);
	check_str(l->driver, "auto");
	check_str(l->uuid, U1);
	l = vbus_def_free(l);
	/* dry run: the plan, nothing written */
	check_int(rmdir(p), 0);
	check_int(vbus_apply(ctx, list, VBUS_APPLY_DRY_RUN, &plan), 0);
	check_int(json_object_array_length(plan), 2);
	check(!exists("/etc/vbus/devices.d/x1.json"));
	json_object_put(TAKE_PTR(plan));
	check_int(vbus_apply(ctx, list, 0, &plan), 0);
	check(exists("/etc/vbus/devices.d/x1.json"));
	check_int(vbus_def_load(ctx, "g1", &l), 0);
	check_str(l->driver, "vfio");
	check_str(l->uuid, U1); /* kept: the list names none */
	teardown(ctx);
}


/* The plan's actions as "action name;...", for comparing. */
static void plan_str(struct json_object *plan, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < json_object_array_length(plan); i++) {
		struct json_object *o = json_object_array_get_idx(plan, i), *a, *n;
		size_t len = strlen(buf);

		json_object_object_get_ex(o, "action", &a);
		json_object_object_get_ex(o, "name", &n);
		snprintf(buf + len, size - len, "%s %s;", json_object_get_string(a),
			 json_object_get_string(n));
	}
}

static struct json_object *plan_step(struct json_object *plan, const char *action,
				     const char *name)
{
	for (size_t i = 0; i < json_object_array_length(plan); i++) {
		struct json_object *o = json_object_array_get_idx(plan, i), *a, *n;

		if (json_object_object_get_ex(o, "action", &a) &&
		    json_object_object_get_ex(o, "name", &n) &&
		    streq(json_object_get_string(a), action) &&
		    streq(json_object_get_string(n), name))
			return o;
	}
	return NULL;
}

TEST(apply_now)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *old = mdev_def("old", U2);
	_cleanup_json_ struct json_object *plan = NULL, *list = NULL, *more = NULL;
	struct json_object *step, *v;
	char buf[512];

	/* old: defined and started by vbus; the list drops it */
	check_int(vbus_define(ctx, old, 0), 0);
	check_int(vbus_start(ctx, "old"), 0);
	/* U4 is active already (made by another tool): its definition gets no start */
	add_dev(U4, "host_drv");
	fk.log[0] = '\0';
	list = json_tokener_parse(
	    "[{\"name\":\"g1\",\"kind\":\"mdev\",\"parent\":\"p0\",\"type\":\"t1\",\"uuid\":\"" U1 "\"},"
	    "{\"name\":\"man\",\"kind\":\"mdev\",\"parent\":\"p0\",\"type\":\"t1\",\"uuid\":\"" U3 "\","
	    "\"start\":\"manual\"},"
	    "{\"name\":\"hand\",\"kind\":\"mdev\",\"parent\":\"p0\",\"type\":\"t1\",\"uuid\":\"" U4 "\"}]");
	check(list != NULL);

	/* dry run: the whole plan, nothing done */
	check_int(vbus_apply(ctx, list, VBUS_APPLY_DRY_RUN | VBUS_APPLY_NOW, &plan), 0);
	plan_str(plan, buf, sizeof(buf));
	check_str(buf, "undefine old;define g1;define man;define hand;stop old;start g1;");
	check_str(fk.log, "");
	check(exists("/etc/vbus/devices.d/old.json"));
	check(!exists("/etc/vbus/devices.d/g1.json"));
	json_object_put(TAKE_PTR(plan));

	/* without --now: definitions only, as before */
	check_int(vbus_apply(ctx, list, 0, &plan), 0);
	plan_str(plan, buf, sizeof(buf));
	check_str(buf, "undefine old;define g1;define man;define hand;");
	check_str(fk.log, "");
	check(exists("/run/vbus/old.json")); /* undefined, still running */
	json_object_put(TAKE_PTR(plan));

	/* --now over the same set: the devices follow */
	check_int(vbus_apply(ctx, list, VBUS_APPLY_NOW, &plan), 0);
	plan_str(plan, buf, sizeof(buf));
	check_str(buf, "keep g1;keep man;keep hand;start g1;");
	check_str(fk.log, "create g1;");
	json_object_put(TAKE_PTR(plan));
	/* old was already undefined: a definition that is gone has no step; stop it by name */
	check_int(vbus_stop(ctx, "old"), 0);

	/* the same again: nothing to start (g1 active, hand active, man manual) */
	fk.log[0] = '\0';
	check_int(vbus_apply(ctx, list, VBUS_APPLY_NOW, &plan), 0);
	plan_str(plan, buf, sizeof(buf));
	check_str(buf, "keep g1;keep man;keep hand;");
	check_str(fk.log, "");
	check(exists("/run/vbus/g1.json"));
	check(!exists("/run/vbus/hand.json"));
	json_object_put(TAKE_PTR(plan));

	/* the empty list: everything undefined, what vbus started stopped, the rest left alone */
	more = json_tokener_parse("[]");
	check_int(vbus_apply(ctx, more, VBUS_APPLY_NOW, &plan), 0);
	plan_str(plan, buf, sizeof(buf));
	check_str(buf, "undefine g1;undefine hand;undefine man;stop g1;");
	check_str(fk.log, "destroy g1;");
	check(!exists("/run/vbus/g1.json"));
	check_int(find(&(struct vbus_def){ .uuid = (char *)U4 }) >= 0, 1);
	step = plan_step(plan, "stop", "g1");
	check(step != NULL && json_object_object_get_ex(step, "parent_present", &v) && v == NULL);
	teardown(ctx);
}

TEST(apply_now_start_fails)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_json_ struct json_object *plan = NULL, *list = NULL;
	struct json_object *step, *v;

	list = json_tokener_parse(
	    "[{\"name\":\"g1\",\"kind\":\"mdev\",\"parent\":\"p0\",\"type\":\"t1\",\"uuid\":\"" U1 "\"},"
	    "{\"name\":\"g2\",\"kind\":\"mdev\",\"parent\":\"p0\",\"type\":\"t1\",\"uuid\":\"" U2 "\"}]");
	check(list != NULL);
	fk.fail_create = -ENOSPC;
	check_int(vbus_apply(ctx, list, VBUS_APPLY_NOW, &plan), -ENOSPC);
	/* both tried, both named; the definitions stay for a later start (vbusd retries) */
	check_str(fk.log, "create g1;create g2;");
	check(plan != NULL);
	check_str(vbus_ctx_last_error(ctx),
		  "'g1' did not start: create failed for g1, and 1 more failed");
	step = plan_step(plan, "start", "g2");
	check(step != NULL && json_object_object_get_ex(step, "error", &v) &&
	      streq(json_object_get_string(v), "create failed for g2"));
	check(exists("/etc/vbus/devices.d/g1.json"));
	check(exists("/etc/vbus/devices.d/g2.json"));
	check(!exists("/run/vbus/g1.json"));
	json_object_put(TAKE_PTR(plan));

	/* the parent gone: stored, nothing to start, success */
	fk.fail_create = 0;
	fk.parent_absent = true;
	fk.log[0] = '\0';
	check_int(vbus_apply(ctx, list, VBUS_APPLY_NOW, &plan), 0);
	check_int(json_object_array_length(plan), 2);
	check_str(fk.log, "");
	teardown(ctx);
}

TEST(apply_duplicates)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_json_ struct json_object *plan = NULL, *list = NULL;

	/* the same uuid in another case is the same device; the first clash is named */
	list = json_tokener_parse(
	    "[{\"name\":\"a\",\"kind\":\"mdev\",\"parent\":\"p0\",\"type\":\"t1\",\"uuid\":\"" U1 "\"},"
	    "{\"name\":\"b\",\"kind\":\"pci\",\"parent\":\"0000:01:00.0\"},"
	    "{\"name\":\"c\",\"kind\":\"mdev\",\"parent\":\"p0\",\"type\":\"t1\","
	    "\"uuid\":\"11111111-2222-4333-8444-555555555555\"},"
	    "{\"name\":\"a\",\"kind\":\"pci\",\"parent\":\"0000:02:00.0\"}]");
	check_int(vbus_apply(ctx, list, 0, &plan), -EEXIST);
	check_str(vbus_ctx_last_error(ctx), "'a' and 'c' are the same device");
	json_object_put(list);
	list = json_tokener_parse("[{\"name\":\"a\",\"kind\":\"pci\",\"parent\":\"0000:01:00.0\"},"
				  "{\"name\":\"a\",\"kind\":\"pci\",\"parent\":\"0000:02:00.0\"}]");
	check_int(vbus_apply(ctx, list, 0, &plan), -EEXIST);
	check_str(vbus_ctx_last_error(ctx), "'a' is listed twice");
	check(plan == NULL);
	check(!exists("/etc/vbus/devices.d/a.json"));
	teardown(ctx);
}

TEST(list_survives_a_failing_kind)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *def = mdev_def("g1", U1);
	struct vbus_device **devs = NULL;
	size_t n_devs = 0;

	check_int(vbus_define(ctx, def, 0), 0);
	fk.fail_list = true;
	check_int(vbus_list_devices(ctx, VBUS_LIST_ACTIVE | VBUS_LIST_DEFINED, NULL, &devs, &n_devs),
		  0);
	check_int(n_devs, 1);
	vbus_device_list_free(devs, n_devs);
	check_str(warnings, "Cannot list active devices of kind mdev: sysfs is broken\n");
	teardown(ctx);
}

TEST(changes_are_serialized)
{
	struct vbus_ctx *ctx = setup(), *other = NULL;
	struct timespec ts = {.tv_nsec = 300 * 1000 * 1000};
	int status = -1;
	pid_t pid;

	check_int(vbus_ctx_new(root, &other), 0);
	other->backend_override[VBUS_KIND_MDEV] = &fake_mdev;
	check_int(vbus_lock(ctx), 0);
	check_int(vbus_lock(ctx), 0); /* nests */
	vbus_unlock(ctx);
	pid = fork();
	if (pid == 0) {
		struct vbus_def *def = mdev_def("g1", U1);

		/* flock belongs to the open file, which fork shares: let go of the parent's */
		close(ctx->lock_fd);
		_exit(vbus_define(other, def, 0) == 0 ? 0 : 1);
	}
	check(pid > 0);
	nanosleep(&ts, NULL);
	/* the other process waits for the lock: nothing written yet */
	check_int(waitpid(pid, &status, WNOHANG), 0);
	check(!exists("/etc/vbus/devices.d/g1.json"));
	vbus_unlock(ctx);
	check_int(waitpid(pid, &status, 0), pid);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	check(exists("/etc/vbus/devices.d/g1.json"));
	vbus_ctx_unref(other);
	teardown(ctx);
}

/* The settings step runs at every start once the device exists, before it is bound: after a
 * create, on a device made by someone else, and its refusal undoes the start. */
TEST(start_configures_before_binding)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *def = NULL;

	ctx->backend_override[VBUS_KIND_VF] = &fake_vf;
	check_int(vbus_def_new(&def), 0);
	def->name = strdup("v1");
	def->kind = VBUS_KIND_VF;
	def->parent = strdup("pf0");
	def->index = 0;
	def->driver = strdup("vfio");
	check_int(vbus_def_add_attr(def, "vlan", "5"), 0);
	check_int(vbus_define(ctx, def, 0), 0);

	check_int(vbus_start(ctx, "v1"), 0);
	check_str(fk.log, "create v1;configure v1;bind v1 vfio_drv;");
	check_int(vbus_stop(ctx, "v1"), 0);

	/* A VF that exists already (another tool made it): configured again, not created. */
	fk.log[0] = '\0';
	add_dev("pf0", "host_drv");
	check_int(vbus_start(ctx, "v1"), 0);
	check_str(fk.log, "configure v1;bind v1 vfio_drv;");
	check_int(vbus_stop(ctx, "v1"), 0);
	check_str(fk.log, "configure v1;bind v1 vfio_drv;bind v1 host_drv;");

	/* Refused: what the start created goes again, the driver is never touched, the cause
	 * (naming the setting) is what the caller sees. */
	fk.dev[find(def)].used = false;
	fk.log[0] = '\0';
	fk.fail_configure = -EOPNOTSUPP;
	check_int(vbus_start(ctx, "v1"), -EOPNOTSUPP);
	check_str(fk.log, "create v1;configure v1;destroy v1;");
	check_str(vbus_ctx_last_error(ctx),
		  "cannot set vlan 5 qos 0 on VF 0 of eth0: Operation not supported");
	check(!exists("/run/vbus/v1.json"));
	check_int(find(def), -1);
	teardown(ctx);
}

TEST_MAIN()

/* ---- stacks: the name "@NAME" resolves to, per kind ------------------------------------------ */

/* An SF that runs as the auxiliary device mlx5_core.sf.2 (as mlx5 names them). */
static int sf_status(struct vbus_ctx *ctx, const struct vbus_def *def, struct vbus_status *st)
{
	*st = (struct vbus_status){ .active = true };
	st->sysfs_path = vbus_pathf(ctx, "/sys/bus/auxiliary/devices/mlx5_core.sf.2");
	return st->sysfs_path ? 0 : -ENOMEM;
}

static const struct vbus_backend fake_sf = {
    .kind = VBUS_KIND_SF,
    .status = sf_status,
};

TEST(stack_parent_names_per_kind)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *sf = NULL, *vdpa = NULL, *res = NULL, *self = NULL;

	ctx->backend_override[VBUS_KIND_SF] = &fake_sf;
	/* sysfs as Linux lays it out: the bus's devices/ links to the device, whose subsystem
	 * link names the bus. */
	test_sh("set -e; cd '%s'; mkdir -p sys/devices/pci0000:00/0000:06:00.0/mlx5_core.sf.2 "
		"sys/bus/auxiliary/devices etc/vbus/devices.d; "
		"ln -s ../../../devices/pci0000:00/0000:06:00.0/mlx5_core.sf.2 "
		"sys/bus/auxiliary/devices/mlx5_core.sf.2; "
		"ln -s ../../../../bus/auxiliary "
		"sys/devices/pci0000:00/0000:06:00.0/mlx5_core.sf.2/subsystem",
		root);
	check_int(vbus_def_new(&sf), 0);
	sf->name = strdup("sf-a");
	sf->kind = VBUS_KIND_SF;
	sf->parent = strdup("pci/0000:06:00.0");
	sf->index = 88;
	check_int(vbus_store_save(ctx, sf), 0);
	check_int(vbus_def_new(&vdpa), 0);
	vdpa->name = strdup("vnet-a");
	vdpa->kind = VBUS_KIND_VDPA;
	vdpa->parent = strdup("@sf-a");
	vdpa->type = strdup("net");
	/* A vDPA device on an SF: the management device mlx5_vdpa registers on the SF's own
	 * auxiliary device, "auxiliary/mlx5_core.sf.2" in vdpa mgmtdev show. */
	check_int(vbus_stack_resolve(ctx, vdpa, &res), 0);
	check_str(res ? res->parent : NULL, "auxiliary/mlx5_core.sf.2");
	vbus_def_free(res);
	/* An mdev on it would name the device by its sysfs name alone. */
	free(vdpa->parent);
	vdpa->parent = strdup("@sf-a");
	vdpa->kind = VBUS_KIND_MDEV;
	res = NULL;
	check_int(vbus_stack_resolve(ctx, vdpa, &res), 0);
	check_str(res ? res->parent : NULL, "mlx5_core.sf.2");
	/* Checks against the store and within a set. */
	check_int(vbus_stack_check_stored(ctx, vdpa), 0);
	free(vdpa->parent);
	vdpa->parent = strdup("@sf-b");
	check_int(vbus_stack_check_stored(ctx, vdpa), -ENOENT);
	check_str(vbus_ctx_last_error(ctx),
		  "'vnet-a' stands on @sf-b, and no definition 'sf-b' exists");
	check_int(vbus_def_dup(vdpa, &self), 0);
	free(self->parent);
	self->parent = strdup("@vnet-a");
	check_int(vbus_stack_check(ctx, self, NULL, 0), -EINVAL);
	teardown(ctx);
}

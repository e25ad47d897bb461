// SPDX-License-Identifier: LGPL-2.1-or-later
/* The vf backend: SR-IOV virtual functions, made to exist through the PF's sriov_numvfs. */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>

#include "bind.h"
#include "sysfs.h"
#include "vf-netdev.h"

#define PCI_DEVICES "/sys/bus/pci/devices"

static int pf_read_u64(struct vbus_ctx *ctx, const char *pf, const char *attr, uint64_t *ret)
{
	_cleanup_free_ char *p = NULL;

	if (asprintf(&p, PCI_DEVICES "/%s/%s", pf, attr) < 0)
		return -ENOMEM;
	return sysfs_read_u64(ctx, p, ret);
}

static bool pci_exists(struct vbus_ctx *ctx, const char *bdf)
{
	_cleanup_free_ char *p = NULL;

	if (!sysfs_name_is_valid(bdf) || asprintf(&p, PCI_DEVICES "/%s", bdf) < 0)
		return false;
	return sysfs_exists(ctx, p);
}

uint64_t vbus_pf_total_vfs(struct vbus_ctx *ctx, const char *pf)
{
	uint64_t n = 0;

	if (!sysfs_name_is_valid(pf) || pf_read_u64(ctx, pf, "sriov_totalvfs", &n) < 0)
		return 0;
	return n;
}

int vbus_sriov_pfs(struct vbus_ctx *ctx, const char *parent, char ***ret)
{
	_cleanup_strv_ char **l = NULL;
	size_t n = 0;
	int r;

	r = sysfs_list_entries(ctx, PCI_DEVICES, &l);
	if (r < 0)
		return r;
	/* In place: the PFs keep their order, the others are freed. */
	for (char **d = l; *d; d++) {
		if ((!parent || streq(parent, *d)) && vbus_pf_total_vfs(ctx, *d) > 0)
			l[n++] = *d;
		else
			free(*d);
	}
	l[n] = NULL;
	*ret = TAKE_PTR(l);
	return 0;
}

int vbus_vf_address(struct vbus_ctx *ctx, const char *pf, int64_t index, char **ret)
{
	_cleanup_free_ char *p = NULL;

	if (asprintf(&p, PCI_DEVICES "/%s/virtfn%" PRId64, pf, index) < 0)
		return -ENOMEM;
	return sysfs_link_basename(ctx, p, ret);
}

static int vf_list_parents(struct vbus_ctx *ctx, const char *parent, struct json_object *parents)
{
	_cleanup_strv_ char **l = NULL;
	int r;

	r = vbus_sriov_pfs(ctx, parent, &l);
	if (r < 0)
		return r;
	for (char **d = l; *d; d++) {
		_cleanup_json_ struct json_object *o = NULL;
		_cleanup_free_ char *drv = NULL;
		uint64_t total = vbus_pf_total_vfs(ctx, *d), num = 0;

		(void)pf_read_u64(ctx, *d, "sriov_numvfs", &num);
		r = vbus_bind_get_driver(ctx, "pci", *d, &drv);
		if (r < 0)
			return r;
		o = json_object_new_object();
		if (!o)
			return -ENOMEM;
		if ((r = jadd_str(o, "parent", *d)) < 0 || (r = jadd_str(o, "kind", "vf")) < 0 ||
		    (r = jadd_int(o, "total_vfs", (int64_t)total)) < 0 ||
		    (r = jadd_int(o, "num_vfs", (int64_t)num)) < 0 ||
		    (r = jadd_str(o, "driver", drv)) < 0)
			return r;
		r = jarray_add(parents, TAKE_PTR(o));
		if (r < 0)
			return r;
	}
	return 0;
}

static int vf_list_active(struct vbus_ctx *ctx, struct json_object *devices)
{
	_cleanup_strv_ char **l = NULL;
	int r;

	r = vbus_sriov_pfs(ctx, NULL, &l);
	if (r < 0)
		return r;
	for (char **d = l; *d; d++) {
		uint64_t total = vbus_pf_total_vfs(ctx, *d);

		for (uint64_t i = 0; i < total; i++) {
			_cleanup_free_ char *vf = NULL, *drv = NULL, *path = NULL, *name = NULL;
			_cleanup_json_ struct json_object *o = NULL;

			if (vbus_vf_address(ctx, *d, (int64_t)i, &vf) < 0)
				continue;
			/* A VF holding an NVIDIA vGPU profile is listed as the vgpu it is. */
			if (sysfs_readf(ctx, &drv, PCI_DEVICES "/%s/nvidia/current_vgpu_type", vf) >=
				0 &&
			    !streq(drv, "0"))
				continue;
			free(drv);
			drv = NULL;
			r = vbus_bind_get_driver(ctx, "pci", vf, &drv);
			if (r < 0)
				continue;
			path = vbus_pathf(ctx, PCI_DEVICES "/%s", vf);
			o = json_object_new_object();
			if (!path || !o || asprintf(&name, "%s-vf%" PRIu64, *d, i) < 0)
				return -ENOMEM;
			if ((r = jadd_str(o, "name", name)) < 0 ||
			    (r = jadd_str(o, "kind", "vf")) < 0 ||
			    (r = jadd_str(o, "parent", *d)) < 0 ||
			    (r = jadd_int(o, "index", (int64_t)i)) < 0 ||
			    (r = jadd_str(o, "address", vf)) < 0 ||
			    (r = jadd_str(o, "bound_driver", drv)) < 0 ||
			    (r = jadd_str(o, "sysfs_path", path)) < 0)
				return r;
			r = jarray_add(devices, TAKE_PTR(o));
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int vf_check(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	struct vbus_vf_settings settings;
	uint64_t total;
	int r;

	if (!def->parent || !sysfs_name_is_valid(def->parent))
		return vbus_error(ctx, -EINVAL, "%s: a VF needs its PF's PCI address as parent",
				  def->name);
	if (def->index < 0)
		return vbus_error(ctx, -EINVAL, "%s: a VF needs an index", def->name);
	if (def->type)
		return vbus_error(ctx, -EINVAL, "%s: a VF has no type", def->name);
	r = vbus_vf_settings_parse(ctx, def, &settings);
	if (r < 0)
		return r;
	if (!pci_exists(ctx, def->parent))
		return vbus_error(ctx, -ENODEV, "%s: PF %s is not present", def->name, def->parent);
	total = vbus_pf_total_vfs(ctx, def->parent);
	if (total == 0)
		return vbus_error(ctx, -EINVAL, "%s: %s is not an SR-IOV PF", def->name,
				  def->parent);
	if ((uint64_t)def->index >= total)
		return vbus_error(ctx, -EINVAL,
				  "%s: VF index %" PRId64 " is out of range, PF %s has %" PRIu64
				  " VFs (0-%" PRIu64 ")",
				  def->name, def->index, def->parent, total, total - 1);
	return 0;
}

static int vf_status(struct vbus_ctx *ctx, const struct vbus_def *def, struct vbus_status *st)
{
	_cleanup_free_ char *vf = NULL, *drv = NULL, *path = NULL;
	int r;

	*st = (struct vbus_status){};
	if (!def->parent || !sysfs_name_is_valid(def->parent) || def->index < 0)
		return 0;
	r = vbus_vf_address(ctx, def->parent, def->index, &vf);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return vbus_error(ctx, r, "%s: VF %" PRId64 " of %s: %s", def->name, def->index,
				  def->parent, strerror(-r));
	r = vbus_bind_get_driver(ctx, "pci", vf, &drv);
	if (r < 0)
		return vbus_error(ctx, r, "%s: VF %s: %s", def->name, vf, strerror(-r));
	path = vbus_pathf(ctx, PCI_DEVICES "/%s", vf);
	if (!path)
		return -ENOMEM;
	st->active = true;
	st->sysfs_path = TAKE_PTR(path);
	st->bound_driver = TAKE_PTR(drv);
	return 0;
}

/* What the first N VFs were bound to, to bring them back after the kernel re-created them. */
struct saved_vf {
	char *driver;  /* NULL: unbound */
	bool override; /* held through driver_override, else by the kernel's own match */
};

static void free_saved(struct saved_vf *s, uint64_t n)
{
	for (uint64_t i = 0; s && i < n; i++)
		free(s[i].driver);
	free(s);
}

static int save_drivers(struct vbus_ctx *ctx, const char *pf, uint64_t n, struct saved_vf **ret)
{
	struct saved_vf *s = calloc(n + 1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++) {
		_cleanup_free_ char *vf = NULL, *o = NULL;

		if (vbus_vf_address(ctx, pf, (int64_t)i, &vf) < 0)
			continue;
		if (vbus_bind_get_driver(ctx, "pci", vf, &s[i].driver) < 0)
			s[i].driver = NULL;
		if (sysfs_readf(ctx, &o, PCI_DEVICES "/%s/driver_override", vf) >= 0)
			s[i].override = *o && !streq(o, "(null)");
	}
	*ret = s;
	return 0;
}

static void restore_drivers(struct vbus_ctx *ctx, const char *pf, struct saved_vf *s, uint64_t n)
{
	for (uint64_t i = 0; s && i < n; i++) {
		_cleanup_free_ char *vf = NULL, *cur = NULL;
		int r;

		if (!s[i].driver || vbus_vf_address(ctx, pf, (int64_t)i, &vf) < 0)
			continue;
		if (vbus_bind_get_driver(ctx, "pci", vf, &cur) >= 0 && streq_ptr(cur, s[i].driver))
			continue;
		if (s[i].override) {
			r = vbus_bind_driver(ctx, "pci", vf, s[i].driver);
		} else {
			/* It had its host driver: let the kernel match it again, without pinning.
			 */
			free(cur);
			cur = NULL;
			r = vbus_bind_host(ctx, "pci", vf, &cur);
			if (r >= 0 && !streq_ptr(cur, s[i].driver))
				r = -EIO;
		}
		if (r < 0)
			warn(ctx, "VF %s of %s: cannot bind it back to %s: %s", vf, pf, s[i].driver,
			     ctx->last_error ?: strerror(-r));
	}
}

static int write_numvfs(struct vbus_ctx *ctx, const char *pf, uint64_t n)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, n);
	return sysfs_writef(ctx, buf, PCI_DEVICES "/%s/sriov_numvfs", pf);
}

/*
 * Sets the VF count of PF from OLD to N. The kernel refuses to change a non-zero count, so
 * with OLD > 0 it goes through 0, which re-creates VFs 0..OLD-1: their drivers are noted
 * before and restored after. With AUTOPROBE false, new VFs do not meet their host driver
 * (sriov_drivers_autoprobe is off during the change and restored after).
 */
static int set_numvfs(struct vbus_ctx *ctx, const char *name, const char *pf, uint64_t old,
		      uint64_t n, bool autoprobe)
{
	_cleanup_free_ char *old_autoprobe = NULL;
	struct saved_vf *drivers = NULL;
	int r, k;

	if (old > 0) {
		r = save_drivers(ctx, pf, old, &drivers);
		if (r < 0)
			return r;
	}
	if (!autoprobe) {
		k = sysfs_readf(ctx, &old_autoprobe, PCI_DEVICES "/%s/sriov_drivers_autoprobe", pf);
		if (k >= 0 && !streq(old_autoprobe, "0")) {
			k = sysfs_writef(ctx, "0", PCI_DEVICES "/%s/sriov_drivers_autoprobe", pf);
			if (k < 0) {
				r = vbus_error(
				    ctx, k, "%s: cannot turn off driver autoprobe of %s's VFs: %s",
				    name, pf, strerror(-k));
				goto out;
			}
		} else {
			free(old_autoprobe);
			old_autoprobe = NULL;
		}
	}
	if (old > 0) {
		r = write_numvfs(ctx, pf, 0);
		if (r < 0) {
			vbus_error(ctx, r, "%s: PF %s refused to remove its %" PRIu64 " VFs: %s",
				   name, pf, old, strerror(-r));
			goto restore_autoprobe;
		}
	}
	r = n > 0 ? write_numvfs(ctx, pf, n) : 0;
	if (r < 0) {
		vbus_error(ctx, r, "%s: PF %s refused to create %" PRIu64 " VFs: %s", name, pf, n,
			   strerror(-r));
		/* Bring the old VFs back, under the old rules. */
		if (old > 0 && write_numvfs(ctx, pf, old) < 0)
			warn(ctx, "%s: cannot restore %" PRIu64 " VFs on %s", name, old, pf);
	}
restore_autoprobe:
	if (old_autoprobe) {
		k = sysfs_writef(ctx, old_autoprobe, PCI_DEVICES "/%s/sriov_drivers_autoprobe", pf);
		if (k < 0)
			warn(ctx, "%s: cannot restore driver autoprobe of %s's VFs: %s", name, pf,
			     strerror(-k));
	}
	if (old > 0)
		restore_drivers(ctx, pf, drivers, old);
out:
	free_saved(drivers, old);
	return r;
}

/*
 * The process that holds VF open through vfio, 0 when none: its group (/dev/vfio/N) or its
 * device cdev (/dev/vfio/devices/vfioN) among the open files in /proc/PID/fd. Removing a VF that
 * a VM holds would block in the kernel until the VM lets go.
 */
static long vfio_holder(struct vbus_ctx *ctx, const char *vf)
{
	_cleanup_free_ char *group = NULL, *p = NULL, *gpath = NULL, *cpath = NULL;
	_cleanup_strv_ char **procs = NULL, **cdev = NULL;

	if (asprintf(&p, PCI_DEVICES "/%s/iommu_group", vf) < 0)
		return -ENOMEM;
	if (sysfs_link_basename(ctx, p, &group) >= 0 && asprintf(&gpath, "/dev/vfio/%s", group) < 0)
		return -ENOMEM;
	free(p);
	if (asprintf(&p, PCI_DEVICES "/%s/vfio-dev", vf) < 0) {
		p = NULL;
		return -ENOMEM;
	}
	if (sysfs_list_dir(ctx, p, &cdev, NULL) >= 0 && cdev[0] &&
	    asprintf(&cpath, "/dev/vfio/devices/%s", cdev[0]) < 0)
		return -ENOMEM;
	if (!gpath && !cpath)
		return 0;
	if (sysfs_list_dir(ctx, "/proc", &procs, NULL) < 0)
		return 0;
	for (char **pid = procs; *pid; pid++) {
		_cleanup_strv_ char **fds = NULL;
		_cleanup_free_ char *dir = NULL;

		if (strspn(*pid, "0123456789") != strlen(*pid))
			continue;
		if (asprintf(&dir, "/proc/%s/fd", *pid) < 0)
			return -ENOMEM;
		if (sysfs_list_dir(ctx, dir, &fds, NULL) < 0)
			continue; /* gone, or not ours to see */
		for (char **fd = fds; *fd; fd++) {
			_cleanup_free_ char *l = vbus_pathf(ctx, "%s/%s", dir, *fd);
			char target[PATH_MAX];
			ssize_t n;

			if (!l)
				return -ENOMEM;
			n = readlink(l, target, sizeof(target) - 1);
			if (n < 0)
				continue;
			target[n] = '\0';
			if (streq_ptr(target, gpath) || streq_ptr(target, cpath))
				return strtol(*pid, NULL, 10);
		}
	}
	return 0;
}

/* The last VF count raise of this context: a start that fails after it puts the old count
 * back (through destroy, within the same hold of the lock). */
struct vf_raise {
	char *pf;
	uint64_t old, new;
	unsigned gen;
};

static void vf_free_data(struct vbus_ctx *ctx, void *data)
{
	struct vf_raise *m = data;

	if (m)
		free(m->pf);
	free(m);
}

static void note_raise(struct vbus_ctx *ctx, const char *pf, uint64_t old, uint64_t n)
{
	struct vf_raise *m = ctx->backend_data[VBUS_KIND_VF];

	if (!m) {
		m = calloc(1, sizeof(*m));
		if (!m)
			return;
		ctx->backend_data[VBUS_KIND_VF] = m;
	}
	free(m->pf);
	*m = (struct vf_raise){.pf = strdup(pf), .old = old, .new = n, .gen = ctx->lock_gen};
}

/* The VFs among the first N of PF that are bound to a driver and that vbus did not make (no
 * run record of a start that created them), as "VF 0 (0000:03:01.0, iavf), ..."; NULL when
 * there are none. */
static int foreign_bound_vfs(struct vbus_ctx *ctx, const char *pf, uint64_t n, char **ret)
{
	_cleanup_free_ char *list = NULL;
	struct vbus_run *runs = NULL;
	size_t n_runs = 0;
	int r;

	r = vbus_run_load_all(ctx, &runs, &n_runs);
	if (r < 0)
		return r;
	for (uint64_t i = 0; i < n && r >= 0; i++) {
		_cleanup_free_ char *vf = NULL, *drv = NULL;
		bool ours = false;
		char *more;

		if (vbus_vf_address(ctx, pf, (int64_t)i, &vf) < 0 ||
		    vbus_bind_get_driver(ctx, "pci", vf, &drv) < 0 || !drv)
			continue;
		for (size_t j = 0; j < n_runs; j++)
			ours = ours || (runs[j].created && runs[j].def->kind == VBUS_KIND_VF &&
					streq_ptr(runs[j].def->parent, pf) &&
					runs[j].def->index == (int64_t)i);
		if (ours)
			continue;
		if (asprintf(&more, "%s%sVF %" PRIu64 " (%s, bound to %s)", list ?: "",
			     list ? ", " : "", i, vf, drv) < 0) {
			r = -ENOMEM;
			break;
		}
		free(list);
		list = more;
	}
	for (size_t j = 0; j < n_runs; j++)
		vbus_run_done(&runs[j]);
	free(runs);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(list);
	return 0;
}

static int vf_create(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	_cleanup_free_ char *choice = NULL, *pfdrv = NULL;
	uint64_t old = 0;
	int r;

	r = vf_check(ctx, def);
	if (r < 0)
		return r;
	r = pf_read_u64(ctx, def->parent, "sriov_numvfs", &old);
	if (r < 0)
		return vbus_error(ctx, r, "%s: cannot read the VF count of %s: %s", def->name,
				  def->parent, strerror(-r));

	if ((uint64_t)def->index >= old) {
		r = vbus_bind_get_driver(ctx, "pci", def->parent, &pfdrv);
		if (r < 0)
			return vbus_error(ctx, r, "%s: PF %s: %s", def->name, def->parent,
					  strerror(-r));
		if (!pfdrv)
			return vbus_error(ctx, -ENOENT,
					  "%s: PF %s has no driver bound, it cannot create VFs",
					  def->name, def->parent);
		/* Raising a non-zero count re-creates the existing VFs (their drivers are
		 * restored after): never those of someone else without --force, never one from
		 * under a VM. */
		if (old > 0 && !ctx->force) {
			_cleanup_free_ char *foreign = NULL;

			r = foreign_bound_vfs(ctx, def->parent, old, &foreign);
			if (r < 0)
				return r;
			if (foreign)
				return vbus_error(
				    ctx, -EBUSY,
				    "%s: VF %" PRId64 " needs the VF count of %s raised from %" PRIu64
				    " to %" PRId64 ", and the kernel changes a non-zero count only "
				    "through 0, which destroys the VFs there; vbus did not make %s: "
				    "refusing (--force re-creates them and gives their drivers back; "
				    "or define VFs below %" PRIu64 ")",
				    def->name, def->index, def->parent, old, def->index + 1, foreign,
				    old);
		}
		for (uint64_t i = 0; i < old; i++) {
			_cleanup_free_ char *vf = NULL, *drv = NULL;
			long pid;

			if (vbus_vf_address(ctx, def->parent, (int64_t)i, &vf) < 0)
				continue;
			if (vbus_bind_get_driver(ctx, "pci", vf, &drv) < 0 ||
			    !streq_ptr(drv, "vfio-pci"))
				continue;
			pid = vfio_holder(ctx, vf);
			if (pid < 0)
				return pid;
			if (pid > 0)
				return vbus_error(
				    ctx, -EBUSY,
				    "%s: making VF %" PRId64 " re-creates %s's %" PRIu64
				    " VFs, and VF %" PRIu64
				    " (%s) is in use through vfio by process %ld",
				    def->name, def->index, def->parent, old, i, vf, pid);
		}
		if (def->driver && !streq(def->driver, VBUS_DRIVER_AUTO))
			choice = strdup(def->driver);
		else
			r = vbus_policy_resolve_driver(ctx, def, &choice);
		if (r < 0)
			return r;
		if (!choice)
			return -ENOMEM;
		r = set_numvfs(ctx, def->name, def->parent, old, (uint64_t)def->index + 1,
			       streq(choice, VBUS_DRIVER_HOST));
		if (r < 0)
			return r;
		note_raise(ctx, def->parent, old, (uint64_t)def->index + 1);
	}
	return 0;
}

/*
 * destroy unbinds the VF (clears its override); the VF itself disappears only with the PF's
 * whole VF set: the count goes back to 0 when no VF of the PF is bound to a driver any more.
 * A VF in use keeps the others alive, and nothing is re-created to shrink the count.
 */
static int vf_destroy(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	struct vf_raise *raise;
	_cleanup_free_ char *vf = NULL;
	uint64_t num = 0;
	int r;

	r = vbus_vf_address(ctx, def->parent, def->index, &vf);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return vbus_error(ctx, r, "%s: VF %" PRId64 " of %s: %s", def->name, def->index,
				  def->parent, strerror(-r));
	r = vbus_bind_driver(ctx, "pci", vf, NULL);
	if (r < 0)
		return r;
	r = pf_read_u64(ctx, def->parent, "sriov_numvfs", &num);
	if (r < 0)
		return vbus_error(ctx, r, "%s: cannot read the VF count of %s: %s", def->name,
				  def->parent, strerror(-r));
	/* Undoing a start of this same call that raised the count: the count it had before. */
	raise = ctx->backend_data[VBUS_KIND_VF];
	if (raise && raise->gen == ctx->lock_gen && streq_ptr(raise->pf, def->parent) &&
	    raise->new == num && (uint64_t)def->index + 1 == num) {
		uint64_t old = raise->old;

		raise->gen = 0;
		dbg(ctx, "%s: putting the VF count of %s back to %" PRIu64, def->name, def->parent,
		    old);
		return set_numvfs(ctx, def->name, def->parent, num, old, true);
	}
	for (uint64_t i = 0; i < num; i++) {
		_cleanup_free_ char *other = NULL, *drv = NULL;

		if (vbus_vf_address(ctx, def->parent, (int64_t)i, &other) < 0)
			continue;
		if (vbus_bind_get_driver(ctx, "pci", other, &drv) >= 0 && drv) {
			dbg(ctx, "%s: VF %s is bound to %s, keeping %" PRIu64 " VFs on %s",
			    def->name, other, drv, num, def->parent);
			return 0;
		}
	}
	r = write_numvfs(ctx, def->parent, 0);
	if (r < 0)
		return vbus_error(ctx, r, "%s: PF %s refused to remove its VFs: %s", def->name,
				  def->parent, strerror(-r));
	return 0;
}

/* The per-VF settings of DEF's attrs, on the PF's netdev: at every start, the VF being there
 * and not yet (re)bound, as `ip link set PF vf N ...` is used before handing a VF to a VM. */
static int vf_configure(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	struct vbus_vf_settings s;
	_cleanup_free_ char *pf = NULL;
	int r;

	r = vbus_vf_settings_parse(ctx, def, &s);
	if (r < 0 || !s.set)
		return r;
	if (asprintf(&pf, PCI_DEVICES "/%s", def->parent) < 0)
		return -ENOMEM;
	return vbus_vf_settings_apply(ctx, def->name, pf, (uint32_t)def->index, &s);
}

static int vf_resolve_driver(struct vbus_ctx *ctx, const struct vbus_def *def, const char *choice,
			     char **ret)
{
	_cleanup_free_ char *vf = NULL;
	int r;

	if (!streq(choice, VBUS_DRIVER_HOST))
		return vbus_bind_resolve_pci(ctx, NULL, choice, ret);
	r = vbus_vf_of(ctx, def, &vf);
	if (r < 0)
		return r;
	return vbus_bind_resolve_pci(ctx, vf, choice, ret);
}

int vbus_vf_of(struct vbus_ctx *ctx, const struct vbus_def *def, char **ret)
{
	int r;

	r = vbus_vf_address(ctx, def->parent, def->index, ret);
	if (r < 0)
		return vbus_error(ctx, r == -ENOENT ? -ENODEV : r,
				  "%s: VF %" PRId64 " of %s does not exist", def->name, def->index,
				  def->parent);
	return 0;
}

int vbus_vf_bind_index(struct vbus_ctx *ctx, const struct vbus_def *def, const char *driver)
{
	_cleanup_free_ char *vf = NULL;
	int r;

	r = vbus_vf_of(ctx, def, &vf);
	if (r < 0)
		return r;
	return vbus_bind_driver(ctx, "pci", vf, driver);
}

/* The kind's rules, applied by the core (lib/ops.c). */
/* lib/vf-netdev.c checks their values. */
static const char *const vf_attrs[] = { "mac",	       "vlan",	      "qos",
					"trust",       "spoofchk",    "link_state",
					"min_tx_rate", "max_tx_rate", NULL };
static const struct vbus_kind_rules vf_rules = {
	.a_kind = "a vf",
	.identity = VBUS_IDENTITY_INDEX,
	.index_label = "VF",
	.type = VBUS_FIELD_REFUSED,
	.index = VBUS_FIELD_REQUIRED,
	.attrs = vf_attrs,
	.pick_index = true,
};

const struct vbus_backend vbus_backend_vf = {
    .kind = VBUS_KIND_VF,
    .rules = &vf_rules,
    .list_parents = vf_list_parents,
    .list_active = vf_list_active,
    .check = vf_check,
    .status = vf_status,
    .status_in_list = true,
    .create = vf_create,
    .destroy = vf_destroy,
    .configure = vf_configure,
    .resolve_driver = vf_resolve_driver,
    .bind = vbus_vf_bind_index,
    .free_data = vf_free_data,
};

// SPDX-License-Identifier: LGPL-2.1-or-later
/* The vgpu backend: NVIDIA vGPUs on the SR-IOV VFs of a GPU (vGPU 17+, the vendor VFIO way). */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>

#include "bind.h"
#include "sysfs.h"

/*
 * NVIDIA's vGPU manager on Ada/Hopper and newer (vGPU 17, kernels >= 6.8) has no mdev types: the
 * GPU is an SR-IOV PF bound to "nvidia", and a vGPU is one of its VFs given a profile by writing
 * the profile's numeric id to the VF's nvidia/current_vgpu_type (0 removes it; it reads 0 when
 * none is set). nvidia/creatable_vgpu_types lists what the VF can take now, one "ID : NAME" a
 * line after a header line; placed profiles take capacity, so the lists shrink as others are
 * placed. The VF then goes to the VM through NVIDIA's vfio-pci variant driver. A definition
 * names the PF as parent, the VF by its index and the profile as type: its short name (the last
 * word of NAME, "L40S-2Q", as NVIDIA's vgpu-device-manager names them), its full name or its id.
 *
 * The VFs are made through the vf backend (its rules: the count is raised only through 0, never
 * over VFs someone else uses). stop clears the profile and unbinds the VF but leaves the VFs:
 * they may be another tool's (sriov-manage), and vgpu-device-manager leaves them too.
 */

#define PCI_DEVICES "/sys/bus/pci/devices"
#define VGPU_VFIO_DRIVER "nvidia_vgpu_vfio"

struct profile {
	long id;
	char *name;  /* "NVIDIA L40S-2Q" */
	char *short_; /* "L40S-2Q" */
};

static void profiles_free(struct profile *p, size_t n)
{
	for (size_t i = 0; p && i < n; i++) {
		free(p[i].name);
		free(p[i].short_);
	}
	free(p);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* The profiles of TEXT (a creatable_vgpu_types file): lines "ID : NAME"; a line whose first field
 * is not a number (the header "ID : vGPU Name") or that has no name is skipped. */
static int parse_profiles(char *text, struct profile **ret, size_t *ret_n)
{
	struct profile *p = NULL;
	size_t n = 0;
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':'), *id, *name, *end, *last;
		struct profile *q;
		long v;

		if (!colon)
			continue;
		*colon = '\0';
		id = trim(line);
		name = trim(colon + 1);
		if (!*id || !*name || strspn(id, "0123456789") != strlen(id))
			continue;
		v = strtol(id, &end, 10);
		if (v <= 0)
			continue;
		last = strrchr(name, ' ');
		q = realloc(p, (n + 1) * sizeof(*p));
		if (!q) {
			profiles_free(p, n);
			return -ENOMEM;
		}
		p = q;
		p[n] = (struct profile){ .id = v, .name = strdup(name),
					 .short_ = strdup(last ? last + 1 : name) };
		if (!p[n].name || !p[n].short_) {
			profiles_free(p, n + 1);
			return -ENOMEM;
		}
		n++;
	}
	*ret = p;
	*ret_n = n;
	return 0;
}

static int vf_profiles(struct vbus_ctx *ctx, const char *vf, struct profile **ret, size_t *ret_n)
{
	_cleanup_free_ char *text = NULL;
	int r;

	r = sysfs_readf(ctx, &text, PCI_DEVICES "/%s/nvidia/creatable_vgpu_types", vf);
	if (r < 0)
		return r;
	return parse_profiles(text, ret, ret_n);
}

/* The profile id set on VF, 0 when none; -ENOENT when VF has no nvidia/ directory. */
static int vf_current(struct vbus_ctx *ctx, const char *vf, long *ret)
{
	_cleanup_free_ char *p = NULL;
	uint64_t v;
	int r;

	if (asprintf(&p, PCI_DEVICES "/%s/nvidia/current_vgpu_type", vf) < 0)
		return -ENOMEM;
	r = sysfs_read_u64(ctx, p, &v);
	if (r < 0)
		return r;
	*ret = (long)v;
	return 0;
}

/* Whether the running kernel (the root's /proc/sys/kernel/osrelease) is at least 6.8: NVIDIA's
 * vGPU on VFs (vGPU 17, the vendor VFIO variant driver) needs it. */
static bool kernel_takes_vgpu_vfs(struct vbus_ctx *ctx)
{
	_cleanup_free_ char *rel = NULL;
	unsigned major = 0, minor = 0;

	if (sysfs_read(ctx, "/proc/sys/kernel/osrelease", &rel) < 0 ||
	    sscanf(rel, "%u.%u", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 8);
}

/*
 * Why PF is no vgpu parent, NULL when it is one: an NVIDIA display controller with SR-IOV whose
 * VFs carry nvidia/creatable_vgpu_types. A GPU whose VFs are mdev parents instead does vGPU as
 * mdev types (vGPU 16 and older, an A100 with mdev_supported_types on its VFs): mdevs on its VFs
 * are its vGPUs. Before any VF exists nothing tells the two apart but the kernel: vGPU on VFs
 * needs 6.8.
 */
static const char *vgpu_pf_refusal(struct vbus_ctx *ctx, const char *pf)
{
	_cleanup_free_ char *vendor = NULL, *class = NULL;
	uint64_t total = vbus_pf_total_vfs(ctx, pf);
	bool any_vf = false;

	if (total == 0 || sysfs_readf(ctx, &vendor, PCI_DEVICES "/%s/vendor", pf) < 0 ||
	    sysfs_readf(ctx, &class, PCI_DEVICES "/%s/class", pf) < 0 ||
	    !streq(vendor, "0x10de") || strncmp(class, "0x03", 4) != 0)
		return "is not an NVIDIA GPU with SR-IOV (no vGPUs on its VFs)";
	for (uint64_t i = 0; i < total; i++) {
		_cleanup_free_ char *vf = NULL, *mdev = NULL, *nv = NULL;

		if (vbus_vf_address(ctx, pf, (int64_t)i, &vf) < 0)
			continue;
		any_vf = true;
		if (asprintf(&mdev, PCI_DEVICES "/%s/mdev_supported_types", vf) < 0 ||
		    asprintf(&nv, PCI_DEVICES "/%s/nvidia/creatable_vgpu_types", vf) < 0)
			return "cannot be looked at (out of memory)";
		if (sysfs_exists(ctx, mdev))
			return "does vGPU as mdev types on its VFs (vGPU 16 and older): its vGPUs "
			       "are mdev devices on the VFs (kind mdev, the VF as parent)";
		if (sysfs_exists(ctx, nv))
			return NULL;
	}
	if (any_vf)
		return "has VFs without nvidia/creatable_vgpu_types (is NVIDIA's vGPU 17 or newer "
		       "manager loaded?)";
	if (!kernel_takes_vgpu_vfs(ctx))
		return "has no VFs yet, and vGPUs on VFs need Linux 6.8 or newer (NVIDIA vGPU 17)";
	return NULL;
}

static bool is_vgpu_pf(struct vbus_ctx *ctx, const char *pf)
{
	return !vgpu_pf_refusal(ctx, pf);
}

/* The profile of the VF's list matching TYPE (short name, full name or id), NULL when none. */
static const struct profile *find_profile(const struct profile *p, size_t n, const char *type)
{
	for (size_t i = 0; i < n; i++) {
		char id[32];

		snprintf(id, sizeof(id), "%ld", p[i].id);
		if (streq(p[i].short_, type) || streq(p[i].name, type) || streq(id, type))
			return &p[i];
	}
	return NULL;
}

/* The name of profile ID among the lists of PF's VFs ("L40S-2Q"); its number when no list has
 * it any more (a placed profile leaves the lists once the GPU is full). Caller frees. */
static char *profile_name(struct vbus_ctx *ctx, const char *pf, long id)
{
	uint64_t total = vbus_pf_total_vfs(ctx, pf);
	char *s = NULL;

	for (uint64_t i = 0; i < total && !s; i++) {
		_cleanup_free_ char *vf = NULL;
		struct profile *p = NULL;
		size_t n = 0;

		if (vbus_vf_address(ctx, pf, (int64_t)i, &vf) < 0 || vf_profiles(ctx, vf, &p, &n) < 0)
			continue;
		for (size_t k = 0; k < n && !s; k++)
			if (p[k].id == id)
				s = strdup(p[k].short_);
		profiles_free(p, n);
	}
	if (!s && asprintf(&s, "%ld", id) < 0)
		s = NULL;
	return s;
}

static int vgpu_list_parents(struct vbus_ctx *ctx, const char *parent, struct json_object *parents)
{
	_cleanup_strv_ char **l = NULL;
	int r;

	r = vbus_sriov_pfs(ctx, parent, &l);
	if (r < 0)
		return r;
	for (char **d = l; *d; d++) {
		_cleanup_json_ struct json_object *o = NULL;
		_cleanup_free_ char *drv = NULL;
		uint64_t num = 0, used = 0, total;

		if (!is_vgpu_pf(ctx, *d))
			continue;
		total = vbus_pf_total_vfs(ctx, *d);
		for (uint64_t i = 0; i < total; i++) {
			_cleanup_free_ char *vf = NULL;
			long cur;

			if (vbus_vf_address(ctx, *d, (int64_t)i, &vf) < 0)
				continue;
			num++;
			if (vf_current(ctx, vf, &cur) >= 0 && cur != 0)
				used++;
		}
		r = vbus_bind_get_driver(ctx, "pci", *d, &drv);
		if (r < 0)
			return r;
		o = json_object_new_object();
		if (!o)
			return -ENOMEM;
		if ((r = jadd_str(o, "parent", *d)) < 0 || (r = jadd_str(o, "kind", "vgpu")) < 0 ||
		    (r = jadd_int(o, "total_vfs", (int64_t)total)) < 0 ||
		    (r = jadd_int(o, "num_vfs", (int64_t)num)) < 0 ||
		    (r = jadd_int(o, "vgpus", (int64_t)used)) < 0 ||
		    (r = jadd_str(o, "driver", drv)) < 0)
			return r;
		r = jarray_add(parents, TAKE_PTR(o));
		if (r < 0)
			return r;
	}
	return 0;
}

/* One entry per profile that some free VF of the PF can take, with how many free VFs can. */
static int vgpu_list_types(struct vbus_ctx *ctx, const char *parent, struct json_object *types)
{
	_cleanup_strv_ char **l = NULL;
	int r;

	r = vbus_sriov_pfs(ctx, parent, &l);
	if (r < 0)
		return r;
	for (char **d = l; *d; d++) {
		_cleanup_json_ struct json_object *seen = NULL;
		uint64_t total;

		if (!is_vgpu_pf(ctx, *d))
			continue;
		seen = json_object_new_object(); /* short name -> its entry in TYPES */
		if (!seen)
			return -ENOMEM;
		total = vbus_pf_total_vfs(ctx, *d);
		for (uint64_t i = 0; i < total; i++) {
			_cleanup_free_ char *vf = NULL;
			struct profile *p = NULL;
			size_t n = 0;
			long cur;

			if (vbus_vf_address(ctx, *d, (int64_t)i, &vf) < 0 ||
			    vf_current(ctx, vf, &cur) < 0 || cur != 0 ||
			    vf_profiles(ctx, vf, &p, &n) < 0)
				continue;
			for (size_t k = 0; k < n && r >= 0; k++) {
				struct json_object *o, *v;

				if (json_object_object_get_ex(seen, p[k].short_, &o)) {
					json_object_object_get_ex(o, "available_instances", &v);
					json_object_set_int64(v, json_object_get_int64(v) + 1);
					continue;
				}
				o = json_object_new_object();
				if (!o) {
					r = -ENOMEM;
					break;
				}
				if ((r = jadd_str(o, "parent", *d)) < 0 ||
				    (r = jadd_str(o, "kind", "vgpu")) < 0 ||
				    (r = jadd_str(o, "type", p[k].short_)) < 0 ||
				    (r = jadd_str(o, "name", p[k].name)) < 0 ||
				    (r = jadd_int(o, "id", p[k].id)) < 0 ||
				    (r = jadd_int(o, "available_instances", 1)) < 0 ||
				    (r = jadd_str(o, "device_api", "vfio-pci")) < 0) {
					json_object_put(o);
					break;
				}
				r = jarray_add(types, o);
				if (r >= 0)
					r = jadd(seen, p[k].short_, json_object_get(o));
			}
			profiles_free(p, n);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int vgpu_list_active(struct vbus_ctx *ctx, struct json_object *devices)
{
	_cleanup_strv_ char **l = NULL;
	int r;

	r = vbus_sriov_pfs(ctx, NULL, &l);
	if (r < 0)
		return r;
	for (char **d = l; *d; d++) {
		uint64_t total;

		if (!is_vgpu_pf(ctx, *d))
			continue;
		total = vbus_pf_total_vfs(ctx, *d);
		for (uint64_t i = 0; i < total; i++) {
			_cleanup_free_ char *vf = NULL, *drv = NULL, *path = NULL, *name = NULL,
					    *type = NULL;
			_cleanup_json_ struct json_object *o = NULL;
			long cur;

			if (vbus_vf_address(ctx, *d, (int64_t)i, &vf) < 0 ||
			    vf_current(ctx, vf, &cur) < 0 || cur == 0)
				continue;
			(void)vbus_bind_get_driver(ctx, "pci", vf, &drv);
			path = vbus_pathf(ctx, PCI_DEVICES "/%s", vf);
			type = profile_name(ctx, *d, cur);
			o = json_object_new_object();
			if (!path || !type || !o || asprintf(&name, "%s-vgpu%" PRIu64, *d, i) < 0)
				return -ENOMEM;
			if ((r = jadd_str(o, "name", name)) < 0 ||
			    (r = jadd_str(o, "kind", "vgpu")) < 0 ||
			    (r = jadd_str(o, "parent", *d)) < 0 ||
			    (r = jadd_str(o, "type", type)) < 0 ||
			    (r = jadd_int(o, "index", (int64_t)i)) < 0 ||
			    (r = jadd_int(o, "vgpu_type_id", cur)) < 0 ||
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

/* A vf definition for the vf backend, which makes the VFs: all of them at once, as NVIDIA's
 * sriov-manage does, so that the next vGPU finds its VF made and the count never has to be
 * raised through 0 under running vGPUs. */
static int vf_def(struct vbus_ctx *ctx, const struct vbus_def *def, struct vbus_def **ret)
{
	struct vbus_def *v = NULL;
	int r;

	r = vbus_def_new(&v);
	if (r < 0)
		return r;
	v->kind = VBUS_KIND_VF;
	v->index = (int64_t)vbus_pf_total_vfs(ctx, def->parent) - 1;
	v->name = strdup(def->name);
	v->parent = strdup(def->parent);
	/* The new VFs do not meet a host driver: the vGPU's driver binds them after. */
	v->driver = strdup(VBUS_DRIVER_NONE);
	if (!v->name || !v->parent || !v->driver) {
		vbus_def_free(v);
		return -ENOMEM;
	}
	*ret = v;
	return 0;
}

/* "a, b, c": the profiles of P, for messages. NULL when none (or out of memory). */
static char *profile_list(const struct profile *p, size_t n)
{
	char *list = NULL, *more;

	for (size_t i = 0; i < n; i++) {
		if (asprintf(&more, "%s%s%s", list ?: "", list ? ", " : "", p[i].short_) < 0) {
			free(list);
			return NULL;
		}
		free(list);
		list = more;
	}
	return list;
}

/* DEF's type is a profile of its GPU (some VF lists it or holds it), or the GPU's whole list
 * cannot be seen now: no VF exists yet, or a placed profile hides the others. */
static int known_profile(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	_cleanup_free_ char *all = NULL;
	uint64_t total = vbus_pf_total_vfs(ctx, def->parent), seen = 0;
	bool placed = false;

	for (uint64_t i = 0; i < total; i++) {
		_cleanup_free_ char *vf = NULL, *name = NULL;
		struct profile *p = NULL;
		size_t n = 0;
		long cur = 0;
		bool found;

		if (vbus_vf_address(ctx, def->parent, (int64_t)i, &vf) < 0)
			continue;
		seen++;
		if (vf_current(ctx, vf, &cur) >= 0 && cur != 0) {
			char id[32];

			placed = true;
			snprintf(id, sizeof(id), "%ld", cur);
			name = profile_name(ctx, def->parent, cur);
			if (name && (streq(name, def->type) || streq(id, def->type)))
				return 0;
		}
		if (vf_profiles(ctx, vf, &p, &n) < 0)
			continue;
		found = find_profile(p, n, def->type);
		if (!found && !all)
			all = profile_list(p, n);
		profiles_free(p, n);
		if (found)
			return 0;
	}
	if (seen == 0 || placed)
		return 0;
	return vbus_error(ctx, -EINVAL, "%s: GPU %s has no vGPU profile %s (its VFs offer: %s)",
			  def->name, def->parent, def->type, all ?: "none");
}

static int vgpu_check(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	_cleanup_free_ char *pcidir = NULL;
	uint64_t total;

	if (!def->parent || !sysfs_name_is_valid(def->parent))
		return vbus_error(ctx, -EINVAL, "%s: a vgpu needs its GPU's PCI address as parent",
				  def->name);
	if (!def->type)
		return vbus_error(ctx, -EINVAL, "%s: a vgpu needs a type (its vGPU profile)",
				  def->name);
	if (def->index < 0)
		return vbus_error(ctx, -EINVAL, "%s: a vgpu needs the index of its VF", def->name);
	pcidir = vbus_pathf(ctx, PCI_DEVICES "/%s", def->parent);
	if (!pcidir)
		return -ENOMEM;
	if (access(pcidir, F_OK) < 0)
		return vbus_error(ctx, -ENODEV, "%s: GPU %s is not present", def->name,
				  def->parent);
	total = vbus_pf_total_vfs(ctx, def->parent);
	if (vgpu_pf_refusal(ctx, def->parent))
		return vbus_error(ctx, -EINVAL, "%s: %s %s", def->name, def->parent,
				  vgpu_pf_refusal(ctx, def->parent));
	if ((uint64_t)def->index >= total)
		return vbus_error(ctx, -EINVAL,
				  "%s: VF index %" PRId64 " is out of range, GPU %s has %" PRIu64
				  " VFs (0-%" PRIu64 ")",
				  def->name, def->index, def->parent, total, total - 1);
	/* The profile must be one the GPU knows: listed by one of its VFs, or placed on one (a
	 * VF's list shrinks as others are placed; start checks what its own VF can take). Without
	 * VFs yet, nothing is known: start finds out. */
	return known_profile(ctx, def);
}

static int vgpu_status(struct vbus_ctx *ctx, const struct vbus_def *def, struct vbus_status *st)
{
	_cleanup_free_ char *vf = NULL, *drv = NULL, *path = NULL;
	long cur = 0;
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
	if (vf_current(ctx, vf, &cur) < 0 || cur == 0)
		return 0;
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

static int write_type(struct vbus_ctx *ctx, const char *vf, long id)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", id);
	return sysfs_writef(ctx, buf, PCI_DEVICES "/%s/nvidia/current_vgpu_type", vf);
}

static int vgpu_create(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	_cleanup_def_ struct vbus_def *v = NULL;
	_cleanup_free_ char *vf = NULL;
	const struct profile *want;
	struct profile *p = NULL;
	bool made_vf = false;
	size_t n = 0;
	long cur = -1;
	int r;

	r = vgpu_check(ctx, def);
	if (r < 0)
		return r;
	if (vbus_vf_address(ctx, def->parent, def->index, &vf) < 0) {
		r = vf_def(ctx, def, &v);
		if (r < 0)
			return r;
		r = vbus_backend_vf.create(ctx, v);
		if (r < 0)
			return r;
		made_vf = true;
		r = vbus_vf_address(ctx, def->parent, def->index, &vf);
		if (r < 0) {
			r = vbus_error(ctx, -ENODEV, "%s: VF %" PRId64 " of %s did not appear",
				       def->name, def->index, def->parent);
			goto fail;
		}
	}
	r = vf_profiles(ctx, vf, &p, &n);
	if (r < 0) {
		r = vbus_error(ctx, r == -ENOENT ? -EINVAL : r,
			       "%s: VF %s of %s has no nvidia/creatable_vgpu_types (is NVIDIA's "
			       "vGPU manager loaded?)",
			       def->name, vf, def->parent);
		goto fail;
	}
	want = find_profile(p, n, def->type);
	if (!want) {
		_cleanup_free_ char *list = profile_list(p, n);

		/* Not a profile of this GPU at all (its VFs made just now show the whole list)? */
		r = known_profile(ctx, def);
		if (r < 0)
			goto fail;
		r = vbus_error(ctx, -ENOSPC,
			       "%s: VF %s of %s cannot take vGPU profile %s now (what is placed on "
			       "the GPU leaves room for: %s)",
			       def->name, vf, def->parent, def->type, list ?: "none");
		goto fail;
	}
	r = write_type(ctx, vf, want->id);
	if (r < 0) {
		r = vbus_error(ctx, r, "%s: VF %s of %s refused vGPU profile %s (%ld): %s",
			       def->name, vf, def->parent, want->short_, want->id, strerror(-r));
		goto fail;
	}
	if (vf_current(ctx, vf, &cur) < 0 || cur != want->id) {
		r = vbus_error(ctx, -EIO, "%s: VF %s of %s shows vGPU profile %ld, not %ld",
			       def->name, vf, def->parent, cur, want->id);
		if (cur > 0)
			(void)write_type(ctx, vf, 0);
		goto fail;
	}
	profiles_free(p, n);
	return 0;

fail:
	profiles_free(p, n);
	if (made_vf) {
		char *saved = vbus_error_take(ctx);

		(void)vbus_backend_vf.destroy(ctx, v);
		vbus_error_restore(ctx, saved);
	}
	return r;
}

/* Unbinds the VF (out of the VM's reach), then clears its profile; the VF itself stays. */
static int vgpu_destroy(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	_cleanup_free_ char *vf = NULL;
	long cur = 0;
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
	if (vf_current(ctx, vf, &cur) < 0 || cur == 0)
		return 0;
	r = write_type(ctx, vf, 0);
	if (r < 0)
		return vbus_error(ctx, r, "%s: VF %s of %s refused to clear its vGPU profile: %s",
				  def->name, vf, def->parent, strerror(-r));
	return 0;
}

static int vgpu_resolve_driver(struct vbus_ctx *ctx, const struct vbus_def *def,
			       const char *choice, char **ret)
{
	_cleanup_free_ char *vf = NULL;
	char *s;
	int r;

	if (streq(choice, VBUS_DRIVER_VFIO)) {
		s = strdup(VGPU_VFIO_DRIVER);
		if (!s)
			return -ENOMEM;
		*ret = s;
		return 0;
	}
	r = vbus_vf_of(ctx, def, &vf);
	if (r < 0)
		return r;
	return vbus_bind_resolve_pci(ctx, vf, choice, ret);
}

static const struct vbus_kind_rules vgpu_rules = {
	.a_kind = "a vgpu",
	.identity = VBUS_IDENTITY_INDEX,
	.index_label = "VF",
	.type = VBUS_FIELD_REQUIRED,
	.index = VBUS_FIELD_REQUIRED,
	.pick_index = true,
};

const struct vbus_backend vbus_backend_vgpu = {
    .kind = VBUS_KIND_VGPU,
    .rules = &vgpu_rules,
    .list_parents = vgpu_list_parents,
    .list_types = vgpu_list_types,
    .list_active = vgpu_list_active,
    .check = vgpu_check,
    .status = vgpu_status,
    .status_in_list = true,
    .create = vgpu_create,
    .destroy = vgpu_destroy,
    .resolve_driver = vgpu_resolve_driver,
    .bind = vbus_vf_bind_index,
};

// SPDX-License-Identifier: LGPL-2.1-or-later
/* Selectors and counts: one definition that stands for a device on every matching parent. */
#include <ctype.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <uuid/uuid.h>

#include "sysfs.h"

/*
 * A definition with "select", "count" or a parent glob is a template: the store keeps it as
 * written, and every reader of the store (list, start, reconcile, the udev helper, CDI) sees
 * the devices it stands for instead, one definition each, made here from what sysfs shows now.
 * Their names and uuids come from the template's name, the parent and the number on that
 * parent, so a reboot or a parent that comes back gives the same ones (mdevctl users keep
 * their uuids; a VM's XML stays valid).
 *
 *   "select": { "vendor", "device", "subsystem_vendor", "subsystem_device": 4 hex digits;
 *               "class": 2, 4 or 6 hex digits (base class, subclass, prog-if: a prefix);
 *               "driver": the parent's driver; "numa_node": an integer }
 *   "count": N (1..VBUS_COUNT_MAX) or "fill" (mdev: available_instances; vf: sriov_totalvfs;
 *            virtbus: the type's available_instances under /sys/bus/virtbus/mgmtdevs)
 *
 * Kinds: pci (select only), vf, mdev, vgpu (VFs 0..N-1 of each GPU, one profile), and the kinds
 * whose parents are handles: virtbus (vbus management devices, read from sysfs), sf (devlink
 * instances; sfnums "index".."index"+N-1, "index" 0 when not given) and vdpa (management devices
 * offering the type). sf, vdpa and vgpu take no "fill": the kernel shows no count of the devices
 * their parents can hold (devlink none for SFs; vdpa's max_supported_vqs counts queues). A
 * selector reads the attributes of the parent's device, /sys/bus/BUS/devices/DEV for a handle
 * BUS/DEV (a vdpa_sim mgmtdev has none: it matches no selector).
 *
 * "parent": "@NAME" (a stack): the devices stand on what definition NAME makes, one set of them
 * (no select, no glob); they keep "@NAME" as their parent, so start, stop and boot order them as
 * any stacked definition, and are named NAME-of-template-NAME-I from the reference, not from
 * where it runs now. "fill" counts on the device NAME runs as now (none while it is not active).
 *
 * The template's own fields (type, driver, attrs, tags, start) go to every device; "select"
 * and "count" do not, "template" names where a device comes from. A virtbus device's name is
 * the kernel's (letters, digits, '_', '-', at most 31): a longer one keeps its start and ends
 * in a hash of template and parent, so it stays the same.
 */

#define VBUS_COUNT_MAX 1024
#define COUNT_FILL -1

/* The namespace of the name-based (version 5) uuids of generated mdevs. */
static const uuid_t vbus_uuid_ns = { 0x6f, 0x3c, 0x1b, 0x52, 0x9a, 0x7e, 0x4d, 0x21,
				     0x8b, 0x0e, 0x5c, 0x43, 0xa1, 0xd9, 0x27, 0x64 };

static const char *const select_keys[] = {
	"vendor", "device", "subsystem_vendor", "subsystem_device", "class", "driver", "numa_node",
};

static bool has_glob(const char *s)
{
	return s && strpbrk(s, "*?[");
}

static struct json_object *extra_get(const struct vbus_def *def, const char *key)
{
	struct json_object *v;

	if (!def->extra || !json_object_object_get_ex(def->extra, key, &v))
		return NULL;
	return v;
}

bool vbus_def_is_template(const struct vbus_def *def)
{
	return has_glob(def->parent) || extra_get(def, "select") || extra_get(def, "count");
}

const char *vbus_def_template(const struct vbus_def *def)
{
	struct json_object *v = extra_get(def, "template");

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* "10de", "0x10de": 1 and the value when S is 0x-less or 0x-prefixed hex of DIGITS digits
 * (DIGITS 0: 2, 4 or 6). */
static bool parse_hex(const char *s, unsigned digits, unsigned *ret_value, unsigned *ret_digits)
{
	size_t n;

	if (strncmp(s, "0x", 2) == 0 || strncmp(s, "0X", 2) == 0)
		s += 2;
	n = strlen(s);
	if (digits ? n != digits : n != 2 && n != 4 && n != 6)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	*ret_value = (unsigned)strtoul(s, NULL, 16);
	if (ret_digits)
		*ret_digits = n;
	return true;
}

static int parse_count(struct vbus_ctx *ctx, const struct vbus_def *def, int *ret)
{
	struct json_object *v = extra_get(def, "count");

	*ret = 0;
	if (!v)
		return 0;
	if (json_object_is_type(v, json_type_string) && streq(json_object_get_string(v), "fill")) {
		*ret = COUNT_FILL;
		return 0;
	}
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
	    json_object_get_int64(v) > VBUS_COUNT_MAX)
		return vbus_error(ctx, -EINVAL,
				  "key \"count\" must be an integer from 1 to %d or \"fill\"",
				  VBUS_COUNT_MAX);
	*ret = (int)json_object_get_int64(v);
	return 0;
}

/* The shape of "select" and "count" (what any kind would refuse); called by the parser. */
int vbus_select_parse(struct vbus_ctx *ctx, struct vbus_def *def)
{
	struct json_object *sel = extra_get(def, "select");
	int count, r;

	r = parse_count(ctx, def, &count);
	if (r < 0)
		return r;
	if (sel) {
		if (!json_object_is_type(sel, json_type_object) || !json_object_object_length(sel))
			return vbus_error(ctx, -EINVAL,
					  "key \"select\" must be an object with at least one "
					  "of vendor, device, subsystem_vendor, subsystem_device, "
					  "class, driver, numa_node");
		json_object_object_foreach (sel, key, v) {
			bool known = false;
			unsigned x;

			for (size_t i = 0; i < ELEMENTSOF(select_keys); i++)
				known = known || streq(key, select_keys[i]);
			if (!known)
				return vbus_error(ctx, -EINVAL,
						  "unknown selector \"select.%s\" (vendor, "
						  "device, subsystem_vendor, subsystem_device, class, "
						  "driver, numa_node)",
						  key);
			if (streq(key, "numa_node")) {
				if (!json_object_is_type(v, json_type_int) ||
				    json_object_get_int64(v) < -1 ||
				    json_object_get_int64(v) > 65535)
					return vbus_error(ctx, -EINVAL,
							  "selector \"select.numa_node\" must "
							  "be an integer (-1 for none)");
				continue;
			}
			if (!json_object_is_type(v, json_type_string))
				return vbus_error(ctx, -EINVAL,
						  "selector \"select.%s\" must be a string",
						  key);
			if (streq(key, "driver")) {
				if (!vbus_driver_is_valid(json_object_get_string(v)))
					return vbus_error(ctx, -EINVAL,
							  "selector \"select.driver\": invalid "
							  "driver \"%s\"",
							  json_object_get_string(v));
			} else if (streq(key, "class")) {
				if (!parse_hex(json_object_get_string(v), 0, &x, NULL))
					return vbus_error(ctx, -EINVAL,
							  "selector \"select.class\" must be 2, "
							  "4 or 6 hex digits (\"03\", \"0302\", "
							  "\"030200\"), not \"%s\"",
							  json_object_get_string(v));
			} else if (!parse_hex(json_object_get_string(v), 4, &x, NULL)) {
				return vbus_error(ctx, -EINVAL,
						  "selector \"select.%s\" must be 4 hex digits "
						  "(\"10de\"), not \"%s\"",
						  key, json_object_get_string(v));
			}
		}
		/* Without a parent: any parent of the kind, which the selector narrows. */
		if (!def->parent || !def->parent[0]) {
			free(def->parent);
			def->parent = strdup("*");
			if (!def->parent)
				return -ENOMEM;
		}
	}
	if (!vbus_def_is_template(def))
		return 0;
	if (def->uuid)
		return vbus_error(ctx, -EINVAL,
				  "key \"uuid\" cannot go with a selector or a count: each "
				  "device gets its own, derived from the name and the parent");
	if (def->parent && def->parent[0] == '@' && (sel || has_glob(def->parent)))
		return vbus_error(ctx, -EINVAL,
				  "parent \"%s\" names one definition: it cannot go with "
				  "\"select\" or a glob",
				  def->parent);
	return 0;
}

/* The kinds a template may be of, checked when it is defined or applied (a file of another
 * kind is ignored with a warning when the store is read). */
static int check_kind(struct vbus_ctx *ctx, const struct vbus_def *def, int count)
{
	const char *kind = vbus_kind_to_string(def->kind) ?: "?";

	if (def->kind != VBUS_KIND_PCI && def->kind != VBUS_KIND_VF &&
	    def->kind != VBUS_KIND_MDEV && def->kind != VBUS_KIND_VIRTBUS &&
	    def->kind != VBUS_KIND_SF && def->kind != VBUS_KIND_VDPA &&
	    def->kind != VBUS_KIND_VGPU)
		return vbus_error(ctx, -EINVAL,
				  "%s are for pci, vf, mdev, vgpu, virtbus, sf and vdpa "
				  "definitions, not %s",
				  extra_get(def, "select") ? "key \"select\" and parent globs"
				  : extra_get(def, "count") ? "key \"count\" and parent globs"
							    : "parent globs",
				  kind);
	if (!count && (def->kind == VBUS_KIND_VF || def->kind == VBUS_KIND_VGPU) &&
	    def->index < 0)
		return vbus_error(ctx, -EINVAL,
				  "a %s template needs \"count\" (N%s) or \"index\": which "
				  "VFs of each matching PF",
				  kind, def->kind == VBUS_KIND_VF ? " or \"fill\"" : "");
	if (count && def->kind == VBUS_KIND_PCI)
		return vbus_error(ctx, -EINVAL,
				  "key \"count\" is for mdev, vf, vgpu, virtbus, sf and vdpa "
				  "definitions: a pci definition binds each matching function once");
	if ((def->kind == VBUS_KIND_VIRTBUS || def->kind == VBUS_KIND_VDPA) && !def->type)
		return vbus_error(ctx, -EINVAL,
				  "a %s template needs \"type\": its parents are the management "
				  "devices that offer it",
				  kind);
	/* One address on many devices: the kernel refuses the second, or worse, takes it. */
	for (size_t i = 0; i < def->n_attrs; i++)
		if (streq(def->attrs[i].key, "mac") || streq(def->attrs[i].key, "hw_addr"))
			return vbus_error(ctx, -EINVAL,
					  "attribute %s cannot go in a template: each of its "
					  "devices would get the same address",
					  def->attrs[i].key);
	/* An sf's "index" is the first sfnum of each parent's devices. */
	if (count && def->index >= 0 && def->kind != VBUS_KIND_SF)
		return vbus_error(ctx, -EINVAL,
				  "key \"index\" cannot go with \"count\": the devices are "
				  "numbered 0 to count-1");
	if (count != COUNT_FILL)
		return 0;
	if (def->kind == VBUS_KIND_SF)
		return vbus_error(ctx, -EINVAL,
				  "\"count\": \"fill\" is not for sf definitions: devlink shows "
				  "no limit on the subfunctions of an instance to fill; give a "
				  "number");
	if (def->kind == VBUS_KIND_VDPA)
		return vbus_error(ctx, -EINVAL,
				  "\"count\": \"fill\" is not for vdpa definitions: a vdpa "
				  "management device shows no count of the devices it can hold "
				  "(max_supported_vqs counts queues); give a number");
	if (def->kind == VBUS_KIND_VGPU)
		return vbus_error(ctx, -EINVAL,
				  "\"count\": \"fill\" is not for vgpu definitions: how many "
				  "VFs take a profile depends on what the others hold; give a "
				  "number");
	return 0;
}

/* The sysfs directory of PARENT of KIND, whose attributes the selector reads: a handle
 * BUS/DEV is /sys/bus/BUS/devices/DEV ("pci/0000:06:00.0", "vbus_sim/vbus_sim1"). */
static char *parent_dir(enum vbus_kind kind, const char *parent)
{
	const char *slash = strchr(parent, '/');
	char *p = NULL;

	if (kind == VBUS_KIND_MDEV) {
		if (asprintf(&p, "/sys/class/mdev_bus/%s", parent) < 0)
			return NULL;
	} else if (vbus_kind_rules(kind)->parent_handle) {
		_cleanup_free_ char *bus = slash ? strndup(parent, slash - parent) : NULL;

		if (!bus || !sysfs_name_is_valid(bus) || !sysfs_name_is_valid(slash + 1) ||
		    asprintf(&p, "/sys/bus/%s/devices/%s", bus, slash + 1) < 0)
			return NULL;
	} else if (asprintf(&p, "/sys/bus/pci/devices/%s", parent) < 0) {
		return NULL;
	}
	return p;
}

static bool match_hex(struct vbus_ctx *ctx, const char *dir, const char *attr, const char *want)
{
	_cleanup_free_ char *s = NULL;
	unsigned w, have, digits;

	if (sysfs_readf(ctx, &s, "%s/%s", dir, attr) < 0)
		return false;
	if (streq(attr, "class")) {
		/* The kernel shows 0xCCSSPP; a selector of fewer digits is a prefix. */
		if (!parse_hex(want, 0, &w, &digits) || !parse_hex(s, 6, &have, NULL))
			return false;
		return have >> (4 * (6 - digits)) == w;
	}
	return parse_hex(want, 4, &w, NULL) && parse_hex(s, 4, &have, NULL) && have == w;
}

/* Whether PARENT's device matches every selector; a selector whose attribute the device does
 * not have (mtty has no vendor) does not match. DRIVER_HELD: the parent is a pci function vbus
 * holds for this template, whose driver is then the one vbus gave it, not the selected one. */
static bool parent_matches(struct vbus_ctx *ctx, const struct vbus_def *def, const char *parent,
			   bool driver_held)
{
	struct json_object *sel = extra_get(def, "select");
	_cleanup_free_ char *dir = NULL;

	if (has_glob(def->parent) ? fnmatch(def->parent, parent, 0) != 0
				  : !streq(def->parent, parent))
		return false;
	if (!sel)
		return true;
	dir = parent_dir(def->kind, parent);
	if (!dir)
		return false;
	json_object_object_foreach (sel, key, v) {
		if (streq(key, "numa_node")) {
			_cleanup_free_ char *s = NULL;

			if (sysfs_readf(ctx, &s, "%s/numa_node", dir) < 0 ||
			    strtoll(s, NULL, 10) != json_object_get_int64(v))
				return false;
		} else if (streq(key, "driver")) {
			_cleanup_free_ char *drv = NULL, *link = NULL;

			if (driver_held)
				continue;
			if (asprintf(&link, "%s/driver", dir) < 0 ||
			    sysfs_link_basename(ctx, link, &drv) < 0 ||
			    !streq(drv, json_object_get_string(v)))
				return false;
		} else if (!match_hex(ctx, dir, key, json_object_get_string(v))) {
			return false;
		}
	}
	return true;
}

/* The candidate parents of DEF's kind, each with how many devices "fill" makes there. */
struct candidate {
	char *parent;
	int64_t fill;
	int64_t max;  /* virtbus: the type's max_instances, how far to look for ours */
	char *where;  /* a stack's: the device its parent runs as now, NULL when it does not */
};

static void candidates_free(struct candidate *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].parent);
		free(c[i].where);
	}
	free(c);
}

static int candidates_add(struct candidate **c, size_t *n, const char *parent, int64_t fill)
{
	struct candidate *a = realloc(*c, (*n + 1) * sizeof(**c));

	if (!a)
		return -ENOMEM;
	*c = a;
	a[*n].parent = strdup(parent);
	if (!a[*n].parent)
		return -ENOMEM;
	a[*n].fill = fill;
	a[*n].max = 0;
	a[*n].where = NULL;
	(*n)++;
	return 0;
}

static int candidates_pci(struct vbus_ctx *ctx, struct candidate **c, size_t *n)
{
	_cleanup_strv_ char **l = NULL;
	int r;

	r = sysfs_list_entries(ctx, "/sys/bus/pci/devices", &l);
	if (r < 0)
		return r;
	for (char **d = l; *d; d++) {
		_cleanup_free_ char *physfn = NULL;

		/* VFs are the vf kind's (select their PF there). */
		if (asprintf(&physfn, "/sys/bus/pci/devices/%s/physfn", *d) < 0)
			return -ENOMEM;
		if (sysfs_exists(ctx, physfn))
			continue;
		r = candidates_add(c, n, *d, 1);
		if (r < 0)
			return r;
	}
	return 0;
}

#define VIRTBUS_MGMTDEVS "/sys/bus/virtbus/mgmtdevs"

/* vbus.ko's management devices as sysfs shows them (mgmtdevs/BUS:DEV/types/TYPE), each with the
 * available_instances of TYPE (-1 when it offers no TYPE: the backend's check names it). sysfs
 * rather than the netlink dump: the same numbers, and a fake tree can hold them. */
static int candidates_virtbus(struct vbus_ctx *ctx, const struct vbus_def *def,
			      struct candidate **c, size_t *n)
{
	_cleanup_strv_ char **l = NULL;
	int r;

	r = sysfs_list_entries(ctx, VIRTBUS_MGMTDEVS, &l);
	if (r < 0)
		return r;
	for (char **d = l; *d; d++) {
		_cleanup_free_ char *handle = strdup(*d), *s = NULL, *m = NULL;
		char *colon = handle ? strchr(handle, ':') : NULL;
		int64_t fill = -1, max = 0;

		if (!handle)
			return -ENOMEM;
		if (!colon)
			continue;
		*colon = '/';
		if (def->type && sysfs_name_is_valid(def->type) &&
		    sysfs_readf(ctx, &s, VIRTBUS_MGMTDEVS "/%s/types/%s/available_instances", *d,
				def->type) >= 0)
			fill = strtoll(s, NULL, 10);
		if (fill >= 0 &&
		    sysfs_readf(ctx, &m, VIRTBUS_MGMTDEVS "/%s/types/%s/max_instances", *d,
				def->type) >= 0)
			max = strtoll(m, NULL, 10);
		r = candidates_add(c, n, handle, fill);
		if (r < 0)
			return r;
		(*c)[*n - 1].max = max;
	}
	return 0;
}

/* The parents the backend lists (PARENTS: list_parents, else list_types), each with the
 * integer FILL_KEY of its entry; for types, only those of TYPE. */
static int candidates_listed(struct vbus_ctx *ctx, const struct vbus_def *def, bool types,
			     const char *fill_key, struct candidate **c, size_t *n)
{
	const struct vbus_backend *be = vbus_ctx_backend(ctx, def->kind);
	_cleanup_json_ struct json_object *a = json_object_new_array();
	int r;

	if (!a)
		return -ENOMEM;
	if (!be || !(types ? be->list_types : be->list_parents))
		return 0;
	r = types ? be->list_types(ctx, NULL, a) : be->list_parents(ctx, NULL, a);
	if (r < 0)
		return r;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *o = json_object_array_get_idx(a, i), *p, *t, *f;

		if (!json_object_object_get_ex(o, "parent", &p))
			continue;
		/* Every parent is a candidate, its fill that of TYPE (-1 when it has none: a
		 * count there is refused by the backend's check, naming the type). */
		if (types && *n > 0 && streq((*c)[*n - 1].parent, json_object_get_string(p))) {
			if (json_object_object_get_ex(o, "type", &t) &&
			    streq_ptr(json_object_get_string(t), def->type))
				(*c)[*n - 1].fill = json_object_object_get_ex(o, fill_key, &f)
							    ? json_object_get_int64(f)
							    : 0;
			continue;
		}
		if (types && (!json_object_object_get_ex(o, "type", &t) ||
			      !streq_ptr(json_object_get_string(t), def->type)))
			r = candidates_add(c, n, json_object_get_string(p), -1);
		else
			r = candidates_add(c, n, json_object_get_string(p),
					   json_object_object_get_ex(o, fill_key, &f)
					       ? json_object_get_int64(f)
					       : 0);
		if (r < 0)
			return r;
	}
	return 0;
}

static int generated_uuid(const char *tmpl, const char *parent, int64_t i, char **ret)
{
	_cleanup_free_ char *key = NULL;
	char s[UUID_STR_LEN];
	uuid_t u;

	if (asprintf(&key, "%s/%s/%" PRId64, tmpl, parent, i) < 0)
		return -ENOMEM;
	uuid_generate_sha1(u, vbus_uuid_ns, key, strlen(key));
	uuid_unparse_lower(u, s);
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

/* The kernel's limit on a virtbus device name (kmod/uapi/linux/vbus.h VBUS_DEV_NAME_MAX - 1). */
#define VIRTBUS_NAME_MAX 31

/* NAME-PARENT, NAME-PARENT-I with a count ("@" of a stacked parent dropped); a character a name
 * may not hold becomes '_'. A virtbus name is the kernel's: only letters, digits, '_' and '-',
 * and when longer than it takes, its first characters, '-', 8 hex digits of the name-based
 * uuid of template and parent, and the number: still derived, so still the same each time. */
static int generated_name(enum vbus_kind kind, const char *tmpl, const char *parent, int64_t i,
			  bool numbered, char **ret)
{
	const char *p = parent[0] == '@' ? parent + 1 : parent;
	bool virtbus = kind == VBUS_KIND_VIRTBUS;
	char *s, num[24] = "";
	int r;

	if (numbered)
		snprintf(num, sizeof(num), "-%" PRId64, i);
	r = asprintf(&s, "%s-%s%s", tmpl, p, num);
	if (r < 0)
		return -ENOMEM;
	for (char *c = virtbus ? s : s + strlen(tmpl); *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr(virtbus ? "_-" : "_.:-", *c))
			*c = '_';
	if (virtbus && strlen(s) > VIRTBUS_NAME_MAX) {
		_cleanup_free_ char *u = NULL;
		size_t keep = VIRTBUS_NAME_MAX - 1 - 8 - strlen(num);

		r = generated_uuid(tmpl, parent, -1, &u);
		if (r < 0) {
			free(s);
			return r;
		}
		/* The uuid's first 8 hex digits are hash bits (its version sits later). */
		snprintf(s + keep, strlen(s) + 1 - keep, "-%.8s%s", u, num);
	}
	*ret = s;
	return 0;
}

/* How many of TMPL's devices are active on PARENT among the first LIMIT numbers: "fill" is what
 * is left plus what is ours already, so it does not shrink as they are made. mdev: by uuid
 * among ACTIVE (the mdev backend's list_active()); virtbus: by name, the kernel's device
 * /sys/bus/virtbus/devices/DEV.NAME of management device BUS/DEV. */
static int64_t ours_active(struct vbus_ctx *ctx, const struct vbus_def *tmpl, const char *parent,
			   struct json_object *active, int64_t limit)
{
	const char *dev = strchr(parent, '/');
	int64_t ours = 0;

	for (int64_t i = 0; i < limit && i < VBUS_COUNT_MAX; i++) {
		_cleanup_free_ char *id = NULL;

		if (tmpl->kind == VBUS_KIND_VIRTBUS) {
			_cleanup_free_ char *path = NULL;

			if (!dev || generated_name(tmpl->kind, tmpl->name, parent, i, true, &id) < 0 ||
			    asprintf(&path, "/sys/bus/virtbus/devices/%s.%s", dev + 1, id) < 0)
				return ours;
			ours += sysfs_exists(ctx, path);
			continue;
		}
		if (!active || generated_uuid(tmpl->name, parent, i, &id) < 0)
			return ours;
		for (size_t k = 0; k < json_object_array_length(active); k++) {
			struct json_object *v;

			if (json_object_object_get_ex(json_object_array_get_idx(active, k), "uuid",
						      &v) &&
			    streq_ptr(json_object_get_string(v), id)) {
				ours++;
				break;
			}
		}
	}
	return ours;
}

/* How far to look for ours on PARENT, candidate C: mdev, AVAIL plus how many devices are on it
 * now (ACTIVE: list_active()), ours or not (ours are among those numbers, whichever of them
 * were made); virtbus, the type's max_instances. */
static int64_t on_parent(const struct vbus_def *tmpl, const struct candidate *c, const char *parent,
			 struct json_object *active, int64_t avail)
{
	int64_t n = 0;

	if (tmpl->kind == VBUS_KIND_VIRTBUS)
		return c->max > avail ? c->max : avail;
	if (!active)
		return avail;
	for (size_t k = 0; k < json_object_array_length(active); k++) {
		struct json_object *v;

		if (json_object_object_get_ex(json_object_array_get_idx(active, k), "parent", &v) &&
		    streq_ptr(json_object_get_string(v), parent))
			n++;
	}
	return avail + n;
}

static int make_device(struct vbus_ctx *ctx, const struct vbus_def *tmpl, const char *parent,
		       int64_t i, bool numbered, struct vbus_def **ret)
{
	_cleanup_def_ struct vbus_def *d = NULL;
	struct json_object *v;
	int r;

	r = vbus_def_dup(tmpl, &d);
	if (r < 0)
		return r;
	free(d->name);
	d->name = NULL;
	r = generated_name(tmpl->kind, tmpl->name, parent, i, numbered, &d->name);
	if (r < 0)
		return r;
	if (!vbus_name_is_valid(d->name))
		return vbus_error(ctx, -ENAMETOOLONG,
				  "the name of its device on %s, \"%s\", is longer than 64 "
				  "characters (use a shorter definition name)",
				  parent, d->name);
	free(d->parent);
	d->parent = strdup(parent);
	if (!d->parent)
		return -ENOMEM;
	if (d->kind == VBUS_KIND_MDEV) {
		r = generated_uuid(tmpl->name, parent, i, &d->uuid);
		if (r < 0)
			return r;
	}
	if (numbered && (d->kind == VBUS_KIND_VF || d->kind == VBUS_KIND_VGPU))
		d->index = i;
	/* sfnums from the template's "index" on: each parent numbers its SFs on its own. */
	if (d->kind == VBUS_KIND_SF)
		d->index = (tmpl->index >= 0 ? tmpl->index : 0) + i;
	if (!d->extra && !(d->extra = json_object_new_object()))
		return -ENOMEM;
	json_object_object_del(d->extra, "select");
	json_object_object_del(d->extra, "count");
	v = json_object_new_string(tmpl->name);
	if (!v || json_object_object_add(d->extra, "template", v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	*ret = TAKE_PTR(d);
	return 0;
}

static int defs_add(struct vbus_def ***defs, size_t *n, struct vbus_def *d)
{
	struct vbus_def **a = realloc(*defs, (*n + 2) * sizeof(**defs));

	if (!a) {
		vbus_def_free(d);
		return -ENOMEM;
	}
	*defs = a;
	a[(*n)++] = d;
	a[*n] = NULL;
	return 0;
}

static int candidates_of(struct vbus_ctx *ctx, const struct vbus_def *tmpl, struct candidate **c,
			 size_t *n)
{
	switch (tmpl->kind) {
	case VBUS_KIND_PCI:
		return candidates_pci(ctx, c, n);
	case VBUS_KIND_VF:
	case VBUS_KIND_VGPU:
		return candidates_listed(ctx, tmpl, false, "total_vfs", c, n);
	case VBUS_KIND_VIRTBUS:
		return candidates_virtbus(ctx, tmpl, c, n);
	case VBUS_KIND_SF:
		return candidates_listed(ctx, tmpl, false, "num_sfs", c, n);
	default: /* mdev, vdpa */
		return candidates_listed(ctx, tmpl, true, "available_instances", c, n);
	}
}

/* Set while a stacked template's parent is resolved: resolving may read the store, whose
 * templates are expanded again (the parent a device of a template, or standing on one); those
 * are then expanded without resolving theirs, which ends the recursion. */
static _Thread_local int resolving;

/* A stacked template ("parent": "@NAME"): one candidate, the reference itself, whose fill is
 * that of the device NAME runs as now (0 while it does not run). */
static int candidates_stacked(struct vbus_ctx *ctx, const struct vbus_def *tmpl,
			      struct candidate **c, size_t *n)
{
	_cleanup_def_ struct vbus_def *res = NULL;
	struct candidate *all = NULL;
	size_t n_all = 0;
	int64_t fill = 0;
	int r;

	if (resolving)
		return candidates_add(c, n, tmpl->parent, 0);
	resolving++;
	r = vbus_stack_resolve(ctx, tmpl, &res);
	resolving--;
	if (r == -ENODEV || r == -ENOENT) {
		vbus_error_clear(ctx);
	} else if (r < 0) {
		return r;
	} else {
		r = candidates_of(ctx, tmpl, &all, &n_all);
		for (size_t k = 0; r >= 0 && k < n_all; k++)
			if (streq(all[k].parent, res->parent))
				fill = all[k].fill;
		candidates_free(all, n_all);
		if (r < 0)
			return r;
	}
	r = candidates_add(c, n, tmpl->parent, fill);
	if (r >= 0 && res)
		(*c)[*n - 1].where = TAKE_PTR(res->parent);
	return r;
}

/* The devices TMPL stands for now, in parent order. STRICT (define, apply): a count that a
 * parent cannot hold (mdev, virtbus: what is available plus what is ours already) is refused. */
static int expand(struct vbus_ctx *ctx, const struct vbus_def *tmpl, bool strict,
		  struct vbus_def ***ret, size_t *ret_n)
{
	_cleanup_json_ struct json_object *active = NULL;
	const char *ref = vbus_stack_ref(tmpl);
	struct candidate *c = NULL;
	struct vbus_def **defs = NULL;
	const char *untyped = NULL; /* a parent that matched without the type */
	size_t n_c = 0, n = 0;
	bool typed = false;
	int count, r;

	r = parse_count(ctx, tmpl, &count);
	if (r >= 0)
		r = check_kind(ctx, tmpl, count);
	if (r < 0)
		return r;
	r = ref ? candidates_stacked(ctx, tmpl, &c, &n_c) : candidates_of(ctx, tmpl, &c, &n_c);
	if (r >= 0 && tmpl->kind == VBUS_KIND_MDEV && (count == COUNT_FILL || strict)) {
		const struct vbus_backend *be = vbus_ctx_backend(ctx, VBUS_KIND_MDEV);

		active = json_object_new_array();
		if (!active)
			r = -ENOMEM;
		else if (be && be->list_active && be->list_active(ctx, active) < 0)
			vbus_error_clear(ctx); /* none known active: fill is what is available */
	}
	for (size_t k = 0; k < n_c && r >= 0; k++) {
		/* What the stack's parent runs as decides the room, its reference the names. */
		const char *where = c[k].where ?: c[k].parent;
		int64_t avail = c[k].fill < 0 ? 0 : c[k].fill;
		int64_t m = count == COUNT_FILL ? avail : count ? count : 1;
		bool held = false, room = tmpl->kind == VBUS_KIND_MDEV ||
					  tmpl->kind == VBUS_KIND_VIRTBUS;

		if (ref && !c[k].where)
			room = false;
		if (tmpl->kind == VBUS_KIND_PCI) {
			_cleanup_free_ char *name = NULL;
			struct vbus_run run = {};

			/* A function vbus bound for this template stays its own. */
			r = generated_name(tmpl->kind, tmpl->name, c[k].parent, 0, false, &name);
			if (r < 0)
				break;
			held = vbus_run_load(ctx, name, &run) >= 0;
			if (held)
				vbus_run_done(&run);
			vbus_error_clear(ctx);
		}
		if (!ref && !parent_matches(ctx, tmpl, c[k].parent, held))
			continue;
		/* A management device without the type is no parent of it (but for a stack,
		 * whose parent the backend's check names). */
		if ((tmpl->kind == VBUS_KIND_VIRTBUS || tmpl->kind == VBUS_KIND_VDPA) && !ref &&
		    c[k].fill < 0) {
			untyped = untyped ?: c[k].parent;
			continue;
		}
		typed = true;
		if (room && count == COUNT_FILL) {
			m += ours_active(ctx, tmpl, c[k].parent, active,
					 on_parent(tmpl, &c[k], where, active, m));
		} else if (room && count > 0 && strict) {
			int64_t fits = avail + ours_active(ctx, tmpl, c[k].parent, active,
							  on_parent(tmpl, &c[k], where, active, avail));

			/* No type there at all: the backend's check names it. */
			if (fits < count && c[k].fill >= 0) {
				r = vbus_error(ctx, -ENOSPC,
					       "key \"count\": %d devices of type %s do not fit on "
					       "%s (room for %" PRId64 ")",
					       count, tmpl->type, where, fits);
				break;
			}
		}
		if (m > VBUS_COUNT_MAX)
			m = VBUS_COUNT_MAX;
		for (int64_t i = 0; i < m && r >= 0; i++) {
			struct vbus_def *d = NULL;

			r = make_device(ctx, tmpl, c[k].parent, i, count != 0, &d);
			if (r >= 0)
				r = defs_add(&defs, &n, d);
		}
	}
	/* sysfs (virtbus) and the listing (vdpa) are all there is to ask (vbusctl --root too). */
	if (r >= 0 && strict && untyped && !typed)
		r = vbus_error(ctx, -EINVAL, "%s %s does not offer type %s%s",
			       tmpl->kind == VBUS_KIND_VIRTBUS ? "vbus management device"
							       : "vdpa management device",
			       untyped, tmpl->type,
			       has_glob(tmpl->parent) || extra_get(tmpl, "select")
				       ? ", nor does any other that matches"
				       : "");
	candidates_free(c, n_c);
	if (r < 0) {
		vbus_defs_free(defs, n);
		return r;
	}
	*ret = defs;
	*ret_n = n;
	return 0;
}

int vbus_select_expand(struct vbus_ctx *ctx, const struct vbus_def *tmpl, struct vbus_def ***ret,
		       size_t *ret_n)
{
	return expand(ctx, tmpl, false, ret, ret_n);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp((*(struct vbus_def *const *)a)->name, (*(struct vbus_def *const *)b)->name);
}

/* The store as its readers see it: every template of *DEFS replaced by its devices (a
 * template that cannot be expanded is skipped with a warning unless QUIET), sorted by name. A
 * generated name that a file holds too is the file's. */
int vbus_select_expand_all(struct vbus_ctx *ctx, bool quiet, struct vbus_def ***defs, size_t *n)
{
	struct vbus_def **out = NULL;
	size_t n_out = 0;
	bool any = false;
	int r = 0;

	for (size_t i = 0; i < *n && !any; i++)
		any = vbus_def_is_template((*defs)[i]);
	if (!any)
		return 0;
	for (size_t i = 0; i < *n && r >= 0; i++) {
		struct vbus_def *d = (*defs)[i], **gen = NULL;
		size_t n_gen = 0;

		if (!vbus_def_is_template(d)) {
			r = defs_add(&out, &n_out, d);
			(*defs)[i] = NULL;
			continue;
		}
		r = vbus_select_expand(ctx, d, &gen, &n_gen);
		if (r == -ENOMEM)
			break;
		if (r < 0) {
			if (!quiet)
				warn(ctx, "Ignoring '%s': %s", d->name,
				     vbus_ctx_last_error(ctx) ?: strerror(-r));
			vbus_error_clear(ctx);
			r = 0;
			continue;
		}
		for (size_t k = 0; k < n_gen && r >= 0; k++) {
			bool taken = false;

			for (size_t j = 0; j < *n && !taken; j++)
				taken = (*defs)[j] && !vbus_def_is_template((*defs)[j]) &&
					streq((*defs)[j]->name, gen[k]->name);
			for (size_t j = 0; j < n_out && !taken; j++)
				taken = streq(out[j]->name, gen[k]->name);
			if (taken) {
				if (!quiet)
					warn(ctx, "'%s': device '%s' has the name of another "
						  "definition; skipped",
					     d->name, gen[k]->name);
				vbus_def_free(gen[k]);
			} else {
				r = defs_add(&out, &n_out, gen[k]);
			}
			gen[k] = NULL;
		}
		vbus_defs_free(gen, n_gen);
	}
	if (r < 0) {
		vbus_defs_free(out, n_out);
		return r;
	}
	if (n_out)
		qsort(out, n_out, sizeof(*out), cmp_name);
	vbus_defs_free(*defs, *n);
	*defs = out ?: calloc(1, sizeof(*out));
	*n = n_out;
	return *defs ? 0 : -ENOMEM;
}

/*
 * Define and apply: TMPL is checked as a whole (its kind, then each device it makes now as if
 * it were defined alone). *RET_DEVICES (may be NULL): the devices, as a plan lists them. 1 when
 * no parent matches now (stored all the same: the devices come with their parents).
 */
int vbus_select_prepare(struct vbus_ctx *ctx, struct vbus_def *tmpl,
			struct json_object **ret_devices)
{
	_cleanup_json_ struct json_object *list = json_object_new_array();
	const struct vbus_backend *be;
	struct vbus_def **gen = NULL;
	size_t n = 0;
	int r;

	if (!list)
		return -ENOMEM;
	/* Built by a program rather than parsed (vbusctl's options, a library caller): the
	 * same checks as a file gets. */
	r = vbus_select_parse(ctx, tmpl);
	if (r < 0)
		return r;
	r = vbus_backend_require(ctx, tmpl->kind, &be);
	if (r < 0)
		return r;
	r = expand(ctx, tmpl, true, &gen, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		_cleanup_def_ struct vbus_def *res = NULL;
		struct vbus_def *d = gen[i];
		struct json_object *o = json_object_new_object();

		r = vbus_def_validate(ctx, d);
		/* A stacked device is checked where its parent runs now, if it does. */
		if (r >= 0 && vbus_stack_ref(d)) {
			r = vbus_stack_resolve(ctx, d, &res);
			/* not running, or new in the same apply (which checks the reference) */
			if (r == -ENODEV || r == -ENOENT) {
				vbus_error_clear(ctx);
				r = 0;
			}
		}
		if (r >= 0 && be->check && (!vbus_stack_ref(d) || res)) {
			r = vbus_plain_cause(ctx, res ?: d, be->check(ctx, res ?: d));
			if (r == -ENODEV) {
				vbus_error_clear(ctx);
				r = 0;
			}
		}
		if (r < 0) {
			_cleanup_free_ char *cause = vbus_error_take(ctx);

			json_object_put(o);
			r = vbus_error(ctx, r, "device '%s': %s", d->name, cause ?: strerror(-r));
			break;
		}
		if (!o || jadd_str(o, "name", d->name) < 0 || jadd_str(o, "parent", d->parent) < 0 ||
		    (d->uuid && jadd_str(o, "uuid", d->uuid) < 0) ||
		    (d->index >= 0 && jadd_int(o, "index", d->index) < 0)) {
			json_object_put(o);
			r = -ENOMEM;
		} else {
			r = jarray_add(list, o);
		}
	}
	vbus_defs_free(gen, n);
	if (r < 0)
		return r;
	if (ret_devices)
		*ret_devices = TAKE_PTR(list);
	return n == 0;
}

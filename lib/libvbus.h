/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvbus: the one public header of the vbus core (object model, config store, operations). */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VBUS_EXPORT __attribute__((visibility("default")))

/*
 * Conventions (systemd's and kmod's): objects are opaque, reached through accessors; functions
 * return 0 (or a positive count) on success and a negative errno on failure; ret_* output
 * parameters are left untouched on failure (the few calls that also set them on failure say
 * so); _unref() and _free() accept NULL. JSON crosses this interface as text (the caller
 * frees what it gets), never as a JSON library's objects. On failure an operation also leaves
 * a human readable cause, naming the object, in vbus_ctx_last_error(), e.g. "parent
 * 0000:00:02.0 does not offer type i915-GVTg_V5_9".
 */

struct vbus_ctx;

enum vbus_log_level {
	VBUS_LOG_ERR = 3,
	VBUS_LOG_WARNING = 4,
	VBUS_LOG_NOTICE = 5,
	VBUS_LOG_INFO = 6,
	VBUS_LOG_DEBUG = 7,
};

typedef void (*vbus_log_fn)(void *userdata, int level, const char *file, int line,
			    const char *fn, const char *format, va_list args);

/*
 * A context resolves every sysfs, /etc and /run path below ROOT ("/" when NULL). With a ROOT
 * other than "/", the netlink kinds (sf, vdpa, virtbus) stay silent: they list nothing and
 * refuse changes with -EOPNOTSUPP, since a fake tree has no kernel behind it.
 * VBUS_LOG=debug|info|notice|warning|err in the environment sets the initial log level.
 * ROOT must be an existing directory (-ENOENT, -ENOTDIR): a mistyped root never gets a tree.
 */
VBUS_EXPORT int vbus_ctx_new(const char *root, struct vbus_ctx **ret);
VBUS_EXPORT struct vbus_ctx *vbus_ctx_ref(struct vbus_ctx *ctx);
VBUS_EXPORT struct vbus_ctx *vbus_ctx_unref(struct vbus_ctx *ctx);
VBUS_EXPORT const char *vbus_ctx_get_root(struct vbus_ctx *ctx);
VBUS_EXPORT void vbus_ctx_set_log_fn(struct vbus_ctx *ctx, vbus_log_fn fn, void *userdata);
VBUS_EXPORT void vbus_ctx_set_log_level(struct vbus_ctx *ctx, int level);
VBUS_EXPORT int vbus_ctx_get_log_level(struct vbus_ctx *ctx);
/* The cause of the last failure, or NULL. Valid until the next call on ctx. */
VBUS_EXPORT const char *vbus_ctx_last_error(struct vbus_ctx *ctx);

/* ------------------------------------------------------------------------------------------ */
/* Kinds and their string forms. */

enum vbus_kind {
	VBUS_KIND_MDEV,
	VBUS_KIND_VF,
	VBUS_KIND_SF,
	VBUS_KIND_VDPA,
	VBUS_KIND_VIRTBUS,
	VBUS_KIND_PCI,
	VBUS_KIND_VGPU,
	_VBUS_KIND_MAX,
	_VBUS_KIND_INVALID = -1,
};

enum vbus_start {
	VBUS_START_AUTO,
	VBUS_START_MANUAL,
	_VBUS_START_MAX,
	_VBUS_START_INVALID = -1,
};

VBUS_EXPORT const char *vbus_kind_to_string(enum vbus_kind kind);
VBUS_EXPORT enum vbus_kind vbus_kind_from_string(const char *s); /* exact match */
VBUS_EXPORT const char *vbus_start_to_string(enum vbus_start start);
VBUS_EXPORT enum vbus_start vbus_start_from_string(const char *s);

/* [A-Za-z0-9][A-Za-z0-9_.:-]{0,63} */
VBUS_EXPORT bool vbus_name_is_valid(const char *name);
/* The driver choices every kind understands; anything else must be a valid driver name. */
#define VBUS_DRIVER_AUTO "auto"
#define VBUS_DRIVER_VFIO "vfio"
#define VBUS_DRIVER_HOST "host"
#define VBUS_DRIVER_NONE "none"
VBUS_EXPORT bool vbus_driver_is_valid(const char *driver);

/* ------------------------------------------------------------------------------------------ */
/* Definitions: schema v1 of /etc/vbus/devices.d/NAME.json (vbus.json(5)). */

struct vbus_def;

VBUS_EXPORT int vbus_def_new(struct vbus_def **ret);
VBUS_EXPORT struct vbus_def *vbus_def_free(struct vbus_def *def);
VBUS_EXPORT int vbus_def_dup(const struct vbus_def *def, struct vbus_def **ret);

/* The fields. Strings are copied by the setters (NULL unsets TYPE, UUID, DRIVER); NAME and
 * PARENT are required by vbus_define(). INDEX: -1 when unset. DRIVER: "auto" when unset.
 * A setter that fails (-ENOMEM) leaves DEF as it was. */
VBUS_EXPORT const char *vbus_def_get_name(const struct vbus_def *def);
VBUS_EXPORT int vbus_def_set_name(struct vbus_def *def, const char *name);
VBUS_EXPORT enum vbus_kind vbus_def_get_kind(const struct vbus_def *def);
VBUS_EXPORT void vbus_def_set_kind(struct vbus_def *def, enum vbus_kind kind);
VBUS_EXPORT const char *vbus_def_get_parent(const struct vbus_def *def);
VBUS_EXPORT int vbus_def_set_parent(struct vbus_def *def, const char *parent);
VBUS_EXPORT const char *vbus_def_get_type(const struct vbus_def *def);
VBUS_EXPORT int vbus_def_set_type(struct vbus_def *def, const char *type);
VBUS_EXPORT const char *vbus_def_get_uuid(const struct vbus_def *def);
VBUS_EXPORT int vbus_def_set_uuid(struct vbus_def *def, const char *uuid);
VBUS_EXPORT int64_t vbus_def_get_index(const struct vbus_def *def);
VBUS_EXPORT void vbus_def_set_index(struct vbus_def *def, int64_t index);
VBUS_EXPORT const char *vbus_def_get_driver(const struct vbus_def *def);
VBUS_EXPORT int vbus_def_set_driver(struct vbus_def *def, const char *driver);
VBUS_EXPORT enum vbus_start vbus_def_get_start(const struct vbus_def *def);
VBUS_EXPORT void vbus_def_set_start(struct vbus_def *def, enum vbus_start start);
/* Attributes, written in this order; tags. -ERANGE when I is out of range (outputs
 * untouched). */
VBUS_EXPORT size_t vbus_def_get_n_attrs(const struct vbus_def *def);
VBUS_EXPORT int vbus_def_get_attr(const struct vbus_def *def, size_t i, const char **ret_key,
				  const char **ret_value);
VBUS_EXPORT int vbus_def_add_attr(struct vbus_def *def, const char *key, const char *value);
VBUS_EXPORT void vbus_def_clear_attrs(struct vbus_def *def);
VBUS_EXPORT size_t vbus_def_get_n_tags(const struct vbus_def *def);
VBUS_EXPORT const char *vbus_def_get_tag(const struct vbus_def *def, size_t i);
VBUS_EXPORT int vbus_def_add_tag(struct vbus_def *def, const char *tag);
VBUS_EXPORT void vbus_def_clear_tags(struct vbus_def *def);

/* A definition from its JSON text (a schema-v1 object, as the files hold it; unknown keys are
 * kept and written back); -EINVAL with the offending key in vbus_ctx_last_error(). With
 * PURPOSE (not NULL or ""), a definition without "kind" is completed by policy as
 * vbus_policy_fill() does. */
VBUS_EXPORT int vbus_def_new_from_json(struct vbus_ctx *ctx, const char *json, const char *purpose,
				       struct vbus_def **ret);
/* DEF as the files hold it (two-space indent, a final newline). The caller frees *ret. */
VBUS_EXPORT int vbus_def_format_json(const struct vbus_def *def, char **ret);

/* ------------------------------------------------------------------------------------------ */
/* Listings. Parents and types: a JSON array as text (the caller frees *ret), the objects of
 * vbusctl -j parents / -j types (vbusctl(8)). An absent PARENT: -ENODEV. */

VBUS_EXPORT int vbus_list_parents_json(struct vbus_ctx *ctx, const char *parent, char **ret);
VBUS_EXPORT int vbus_list_types_json(struct vbus_ctx *ctx, const char *parent, char **ret);

enum vbus_list_flags {
	VBUS_LIST_DEFINED = 1 << 0, /* definitions, active or not */
	VBUS_LIST_ACTIVE = 1 << 1,  /* active sub-devices, defined or not */
};

/*
 * A device of a listing: a definition (stored, or a device vbus started and nobody defined)
 * with what the kernel says of it, or an active sub-device nobody defined. Reference counted;
 * the strings are valid as long as the device is.
 */
struct vbus_device;

/* FLAGS 0 means VBUS_LIST_ACTIVE. Definitions come first (by name; then devices vbus started
 * that are not defined), then active devices nobody defined, named by their identity (mdev
 * uuid, "<pf>-vf<N>", ...). A definition file that cannot be read is named in a warning and
 * skipped. NAME may be NULL; -ENOENT when NAME matches nothing. *ret: an array of *ret_n
 * devices; vbus_device_list_free() frees it. */
VBUS_EXPORT int vbus_list_devices(struct vbus_ctx *ctx, unsigned flags, const char *name,
				  struct vbus_device ***ret, size_t *ret_n);
VBUS_EXPORT void vbus_device_list_free(struct vbus_device **devices, size_t n);
VBUS_EXPORT struct vbus_device *vbus_device_ref(struct vbus_device *dev);
VBUS_EXPORT struct vbus_device *vbus_device_unref(struct vbus_device *dev);

/* What it is. NAME, KIND and PARENT are always set (PARENT may be NULL for a device the kernel
 * names no parent of); TYPE, UUID: NULL when none; INDEX: -1 when none. */
VBUS_EXPORT const char *vbus_device_get_name(const struct vbus_device *dev);
VBUS_EXPORT enum vbus_kind vbus_device_get_kind(const struct vbus_device *dev);
VBUS_EXPORT const char *vbus_device_get_parent(const struct vbus_device *dev);
VBUS_EXPORT const char *vbus_device_get_type(const struct vbus_device *dev);
VBUS_EXPORT const char *vbus_device_get_uuid(const struct vbus_device *dev);
VBUS_EXPORT int64_t vbus_device_get_index(const struct vbus_device *dev);

/* Whether it has a definition (stored, or the one a transient device was started with): then
 * the definition's driver choice, start, attributes and tags below mean something. */
VBUS_EXPORT bool vbus_device_has_definition(const struct vbus_device *dev);
VBUS_EXPORT const char *vbus_device_get_driver(const struct vbus_device *dev); /* "auto" */
VBUS_EXPORT enum vbus_start vbus_device_get_start(const struct vbus_device *dev);
VBUS_EXPORT size_t vbus_device_get_n_attrs(const struct vbus_device *dev);
/* -ERANGE when I is out of range (*ret_key, *ret_value untouched). */
VBUS_EXPORT int vbus_device_get_attr(const struct vbus_device *dev, size_t i, const char **ret_key,
				     const char **ret_value);
VBUS_EXPORT size_t vbus_device_get_n_tags(const struct vbus_device *dev);
VBUS_EXPORT const char *vbus_device_get_tag(const struct vbus_device *dev, size_t i);
/* The other keys: those of a definition file vbus does not know (kept as they are), or what a
 * kind says of an active device nobody defined ("address", "hw_addr", ...), in their order;
 * *ret_json is the value as compact JSON text. -ERANGE when I is out of range. */
VBUS_EXPORT size_t vbus_device_get_n_extras(const struct vbus_device *dev);
VBUS_EXPORT int vbus_device_get_extra(const struct vbus_device *dev, size_t i, const char **ret_key,
				      const char **ret_json);

/* Its state. DEFINED: stored in /etc/vbus/devices.d. BOUND_DRIVER, SYSFS_PATH (as seen inside
 * the root): NULL when not active or unbound. WANTED_DRIVER: the definition's driver choice
 * resolved ("vfio-pci"); NULL for a device nobody defined. PCI_ADDRESS (pci, vf), NETDEV (a
 * host-bound VF, SF or vDPA device): NULL when none; IOMMU_GROUP: -1 when none; DEVICE_NODES:
 * the nodes that give access to it (/dev/vfio/G and /dev/vfio/vfio, /dev/vfio/devices/vfioN
 * and /dev/iommu, /dev/vhost-vdpa-N), NULL-terminated. */
VBUS_EXPORT bool vbus_device_is_active(const struct vbus_device *dev);
VBUS_EXPORT bool vbus_device_is_defined(const struct vbus_device *dev);
VBUS_EXPORT const char *vbus_device_get_bound_driver(const struct vbus_device *dev);
VBUS_EXPORT const char *vbus_device_get_sysfs_path(const struct vbus_device *dev);
VBUS_EXPORT const char *vbus_device_get_wanted_driver(const struct vbus_device *dev);
VBUS_EXPORT const char *vbus_device_get_pci_address(const struct vbus_device *dev);
VBUS_EXPORT int vbus_device_get_iommu_group(const struct vbus_device *dev);
VBUS_EXPORT const char *const *vbus_device_get_device_nodes(const struct vbus_device *dev);
VBUS_EXPORT const char *vbus_device_get_netdev(const struct vbus_device *dev);

/* A pending change: the device runs with a definition (its run record in /run/vbus) that
 * differs from the stored one in these fields; it takes effect at the next start (or through
 * vbus_modify_live() for attributes). 0 when none, or when not active. */
enum vbus_pending {
	VBUS_PENDING_PARENT = 1 << 0,
	VBUS_PENDING_TYPE = 1 << 1,
	VBUS_PENDING_UUID = 1 << 2,
	VBUS_PENDING_ATTRS = 1 << 3,
	VBUS_PENDING_DRIVER = 1 << 4,
	_VBUS_PENDING_MAX = 1 << 5,
};
VBUS_EXPORT unsigned vbus_device_get_pending(const struct vbus_device *dev);
/* The name of one VBUS_PENDING_* bit ("parent", "type", "uuid", "attrs", "driver"), else NULL. */
VBUS_EXPORT const char *vbus_pending_to_string(unsigned bit);

/* ------------------------------------------------------------------------------------------ */
/*
 * Operations. Each validates first, changes nothing on refusal and rolls back on failure.
 * Changes are serialized between processes by a lock on /etc/vbus/devices.d. What a start did
 * is recorded in /run/vbus/NAME.json (created or found, the driver it had before), so that
 * stop undoes exactly that: a sub-device vbus did not create is never destroyed, it only gets
 * its previous driver back (a pci definition: its host driver).
 */

enum vbus_define_flags {
	VBUS_DEFINE_REPLACE = 1 << 0, /* modify: the definition must exist */
};
/* Returns 0, or 1 when the definition was stored but its parent is not present (a warning).
 * An mdev definition without uuid gets one, a vf or sf definition without index the lowest
 * one no definition holds and no in-use device has (both written into DEF). Refused: an invalid name, a
 * kind without backend ("kind sf is not supported yet"), a type or index the present parent
 * does not offer, a name in use (-EEXIST; -ENOENT with REPLACE when absent) and a device
 * already defined under another name (same mdev uuid, same VF index of a PF, same PCI
 * function: -EEXIST). */
VBUS_EXPORT int vbus_define(struct vbus_ctx *ctx, struct vbus_def *def, unsigned flags);
VBUS_EXPORT int vbus_def_load(struct vbus_ctx *ctx, const char *name, struct vbus_def **ret);
VBUS_EXPORT int vbus_undefine(struct vbus_ctx *ctx, const char *name);
/* Changes the running sub-device of DEF's name in place so that it matches DEF (today: an
 * mdev's attributes, through the mdevctl callout script of its type that supports live
 * changes), without a stop; the stored definition is not touched (vbus_define() with
 * VBUS_DEFINE_REPLACE does that). -EALREADY when it is not running, -EINVAL when DEF changes
 * more than attributes, -EOPNOTSUPP when nothing can change it live. */
VBUS_EXPORT int vbus_modify_live(struct vbus_ctx *ctx, const struct vbus_def *def);
/* mdevctl's "get attributes" callout for the mdev DEF (parent, type and uuid set): the first
 * callout script of /usr/lib/mdevctl and /etc/mdevctl.d scripts.d/callouts that does not
 * answer 2 reports the running device's attributes, appended to DEF's. 1 when a script
 * answered, 0 when none claims the device, negative with the cause when the script failed
 * or its answer is not mdevctl's array of one-key objects. */
VBUS_EXPORT int vbus_callout_get_attrs(struct vbus_ctx *ctx, struct vbus_def *def);
/*
 * A definition is a standing order: start makes NAME's device present with its wanted driver,
 * whatever state it is in. Check, create (when absent), choose the driver (auto: policy;
 * vfio/host: the backend), bind, verify the bound driver, record the run. A device that is
 * present already (a pci function, an existing VF, an mdev made by another tool, one vbus
 * started before whose driver someone changed) is rebound to the wanted driver when it has
 * another one, and the run recorded. No run record is needed (/run/vbus is empty after a
 * reboot): the definition alone says what to do. Returns 0 when something was done, and
 * -EALREADY (changing nothing) when vbus started it already and it has its wanted driver.
 */
VBUS_EXPORT int vbus_start(struct vbus_ctx *ctx, const char *name);
enum vbus_start_flags {
	/* A VF start may raise its PF's VF count although VFs exist that vbus did not make and
	 * that are bound to a driver: the kernel changes a non-zero count only through 0, which
	 * destroys them (they are re-created and given their drivers back). Without it such a
	 * start is refused (-EBUSY), naming those VFs. */
	VBUS_START_FORCE = 1 << 0,
};
VBUS_EXPORT int vbus_start_with_flags(struct vbus_ctx *ctx, const char *name, unsigned flags);
/* -EALREADY when not active; -EBUSY for an active mdev/vf that vbus did not start. */
VBUS_EXPORT int vbus_stop(struct vbus_ctx *ctx, const char *name);

enum vbus_create_flags {
	VBUS_CREATE_TRANSIENT = 1 << 0, /* start without persisting */
	VBUS_CREATE_FORCE = 1 << 1,	/* as VBUS_START_FORCE */
};
VBUS_EXPORT int vbus_create(struct vbus_ctx *ctx, struct vbus_def *def, unsigned flags);
VBUS_EXPORT int vbus_remove(struct vbus_ctx *ctx, const char *name);
VBUS_EXPORT int vbus_assign(struct vbus_ctx *ctx, const char *name, const char *driver);
/* For an active sub-device that no definition describes (made by hand or by another tool):
 * binds it as the first matching rule of policy.d with "adopt": true says (vbus never rebinds
 * what it did not create unless a rule says so). 1 when it was rebound, 0 when no such rule
 * matches, it is defined (its definition decides) or it has that driver already. */
VBUS_EXPORT int vbus_apply_policy(struct vbus_ctx *ctx, const char *name);

enum vbus_apply_flags {
	VBUS_APPLY_DRY_RUN = 1 << 0, /* only compute the plan */
	VBUS_APPLY_NOW = 1 << 1,     /* also start and stop devices (below) */
};
/*
 * Makes the set of definitions equal to DEFINITIONS (the text of a JSON array of schema-v1
 * objects): the
 * ones not listed are undefined (their devices stay as they are, as with undefine), changed
 * ones rewritten, new ones defined; an mdev listed without uuid keeps the stored one. Every
 * entry is validated first (a refusal changes nothing); a failure while writing puts back what
 * was changed. *ret_plan: a JSON array of {"action": "undefine"|"modify"|"define"|"keep",
 * "name", "kind", "parent", "parent_present"} in the order carried out.
 *
 * With VBUS_APPLY_NOW, once the definitions are written: the devices vbus started for the
 * definitions it undefined are stopped ("stop" steps), then every start:auto definition of
 * DEFINITIONS whose parent is present and whose device is not active is started ("start"
 * steps), all in this one call (one netlink socket per kind). A stop or start that fails does
 * not stop the others and changes no definition back (as vbusd's reconcile, which retries
 * them): its step gets "error" (the cause, with the kernel's message), the first failure's
 * errno is returned with "'NAME' did not start: cause" (", and N more failed") as the last
 * error and, unlike other failures, *ret_plan is set, to say what was done. The caller frees
 * *ret_plan (JSON text).
 */
VBUS_EXPORT int vbus_apply_json(struct vbus_ctx *ctx, const char *definitions, unsigned flags,
				char **ret_plan);

/*
 * Reconcile (vbusd at its start and when a parent appears): vbus_start() for every start:auto
 * definition (of PARENT only, when not NULL: a parent as the kernel or the user names it,
 * "0000:03:00.0", "mtty", "pci/0000:06:00.0"), going on after a failure. FLAGS: those of
 * vbus_start_with_flags(). *ret_results:
 * a JSON array, one object per definition considered, in name order: {"name", "result":
 * "started" (something was done) | "unchanged" (present with its driver already) | "absent" (its
 * parent is not present) | "failed", "error": the cause or null, "errno": positive errno or 0}.
 * Returns the number of definitions started; when some failed, the first failure's errno with
 * "'NAME' did not start: cause" (", and N more failed") as the last error and, unlike other
 * failures, *ret_results set.
 */
VBUS_EXPORT int vbus_reconcile_json(struct vbus_ctx *ctx, const char *parent, unsigned flags,
				    char **ret_results);

/*
 * Imports mdevctl or driverctl definitions from DIR (NULL: the default under root). Returns a
 * JSON array of {"name", "source", "imported": bool, "reason", "moved_to"} in *ret_report.
 * vbus becomes the one owner of what it imported: each imported file is moved aside into
 * /etc/vbus/import-backup/SOURCE-YYYYmmddTHHMMSS/ (keeping its path below DIR; "moved_to"
 * names where, null when kept), so the other tool no longer starts it, and a device that is
 * running is recorded as vbus's (stop removes it as the other tool's stop would).
 */
enum vbus_import_flags {
	VBUS_IMPORT_KEEP_SOURCE = 1 << 0, /* leave the other tool's files where they are */
};
VBUS_EXPORT int vbus_import_json(struct vbus_ctx *ctx, const char *source, const char *dir,
				 unsigned flags, char **ret_report);

/* ------------------------------------------------------------------------------------------ */
/*
 * CDI (Container Device Interface) specs in /var/run/cdi below the root: vbus.dev-vfio.json
 * (kind vbus.dev/vfio: every definition whose device is bound to a vfio driver) and
 * vbus.dev-vhost-vdpa.json (kind vbus.dev/vhost-vdpa), each replaced atomically, removed when
 * it would hold no device. Every changing operation rewrites them before it releases the store
 * lock; vbus_cdi_update() does it on demand (vbusd at start and on kernel events).
 */
VBUS_EXPORT int vbus_cdi_update(struct vbus_ctx *ctx);
/* The specs as written: the text of a JSON array of the spec objects (none: "[]\n"). */
VBUS_EXPORT int vbus_cdi_read_json(struct vbus_ctx *ctx, char **ret);
/* The CDI device name of definition NAME (characters CDI forbids mapped, see vbus.json(5)), or
 * NULL when none can be made. Caller frees. */
VBUS_EXPORT char *vbus_cdi_name(const char *name);

/* ------------------------------------------------------------------------------------------ */
/* Policy (/etc/vbus/policy.d/ *.json, schema in lib/policy.c and vbus.json(5)). */

/*
 * What to create on PARENT for PURPOSE ("vm", "host" or a purpose a policy file defines):
 * the kind (the first of the profile's preferred kinds that PARENT offers), the parent's name
 * as that kind writes it ("0000:03:00.0" -> "pci/0000:03:00.0" for sf) and the driver choice
 * ("vfio", "host", "none", a driver name). -ENODEV when PARENT offers nothing that fits.
 */
VBUS_EXPORT int vbus_policy_pick(struct vbus_ctx *ctx, const char *parent, const char *purpose,
				 enum vbus_kind *ret_kind, char **ret_parent, char **ret_driver);

/*
 * Fills in what PURPOSE leaves to policy in DEF, whose parent is as the user wrote it and whose
 * kind is unset (_VBUS_KIND_INVALID): the kind and the parent's name for it (as
 * vbus_policy_pick()), the driver choice when DEF has none or "auto", and, when DEF has no type,
 * the type of an mdev or virtbus device (or of any kind whose profile entry names a "type"
 * glob): the one with the most available instances among those the entry's glob matches.
 * "vm" never picks an SF. DEF is unchanged on failure. The one place that decides this, for
 * vbusctl --direct and for vbusd alike.
 */
VBUS_EXPORT int vbus_policy_fill(struct vbus_ctx *ctx, struct vbus_def *def, const char *purpose);

#ifdef __cplusplus
}
#endif

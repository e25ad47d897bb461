/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvbus: the one public header of the vbus core (object model, config store, operations). */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VBUS_EXPORT __attribute__((visibility("default")))

/*
 * Conventions (systemd's): functions return 0 (or a positive count) on success and a negative
 * errno on failure; ret_* output parameters are left untouched on failure; _unref() and _free()
 * accept NULL. On failure an operation also leaves a human readable cause, naming the object,
 * in vbus_ctx_last_error(), e.g. "parent 0000:00:02.0 does not offer type i915-GVTg_V5_9".
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
/* Definitions: schema v1 of /etc/vbus/devices.d/NAME.json. */

struct vbus_attr {
	char *key;
	char *value;
};

struct vbus_def {
	char *name;
	enum vbus_kind kind;
	char *parent;
	char *type;	 /* mdev type, vdpa/virtbus device type; NULL when unset */
	char *uuid;	 /* mdev; generated on define when NULL */
	int64_t index;	 /* VF index or sfnum; -1 when unset */
	char *driver;	 /* "auto" when unset */
	enum vbus_start start;
	struct vbus_attr *attrs; /* written in this order */
	size_t n_attrs;
	char **tags;
	size_t n_tags;
	struct json_object *extra; /* unknown keys, preserved on rewrite; may be NULL */
};

VBUS_EXPORT int vbus_def_new(struct vbus_def **ret);
VBUS_EXPORT struct vbus_def *vbus_def_free(struct vbus_def *def);
VBUS_EXPORT int vbus_def_dup(const struct vbus_def *def, struct vbus_def **ret);
VBUS_EXPORT int vbus_def_add_attr(struct vbus_def *def, const char *key, const char *value);
VBUS_EXPORT int vbus_def_add_tag(struct vbus_def *def, const char *tag);
/* Parses a schema-v1 object; -EINVAL with the offending key in vbus_ctx_last_error(). */
VBUS_EXPORT int vbus_def_from_json(struct vbus_ctx *ctx, struct json_object *obj,
				   struct vbus_def **ret);
VBUS_EXPORT int vbus_def_to_json(const struct vbus_def *def, struct json_object **ret);
/* VALUE as the config files and vbusctl -j print it (two-space indent, "[]" when empty, a final
 * newline). The caller frees *ret. */
VBUS_EXPORT int vbus_json_format(struct json_object *value, char **ret);

/* ------------------------------------------------------------------------------------------ */
/* Listings: each returns a new JSON array (the one model both renderers print). */

VBUS_EXPORT int vbus_list_parents(struct vbus_ctx *ctx, const char *parent,
				  struct json_object **ret);
VBUS_EXPORT int vbus_list_types(struct vbus_ctx *ctx, const char *parent,
				struct json_object **ret);

enum vbus_list_flags {
	VBUS_LIST_DEFINED = 1 << 0, /* definitions, active or not */
	VBUS_LIST_ACTIVE = 1 << 1,  /* active sub-devices, defined or not */
};
/* Schema-v1 objects plus "active", "defined", "bound_driver", "sysfs_path" (as seen inside
 * the root), "wanted_driver" (the definition's driver choice resolved: "vfio-pci"; null for a
 * device nobody defined), "pci_address", "iommu_group" (null when none), "device_nodes" (the
 * nodes that give access: /dev/vfio/G and /dev/vfio/vfio, /dev/vfio/devices/vfioN and
 * /dev/iommu, /dev/vhost-vdpa-N) and "netdev" (of a host-bound VF, SF or vDPA device). FLAGS 0 means VBUS_LIST_ACTIVE. Definitions come first (by name; then devices vbus
 * started that are not defined), then active devices nobody defined, named by their identity
 * (mdev uuid, "<pf>-vf<N>", ...). A definition file that cannot be read is named in a warning
 * and skipped. NAME may be NULL; -ENOENT when NAME matches nothing. */
VBUS_EXPORT int vbus_list_devices(struct vbus_ctx *ctx, unsigned flags, const char *name,
				  struct json_object **ret);
/* The same listing, one entry at a time, without a JSON array or object per definition: FN
 * gets each entry in order; a negative return stops the walk and is returned. The pointers
 * are valid during the call only. */
struct vbus_list_entry {
	const struct vbus_def *def; /* the definition; NULL for an active device nobody defined */
	struct json_object *object; /* that device, as vbus_list_devices() shows it (def NULL) */
	bool active, defined;
	const char *bound_driver, *sysfs_path;
	/* What the definition asks for, resolved ("vfio-pci"); NULL without a definition. */
	const char *wanted_driver;
	/* How to reach the device (NULL or empty when not known): its PCI address (pci, vf), its
	 * IOMMU group (-1: none), the device nodes that give access to it (NULL-terminated), the
	 * netdev of a host-bound VF, SF or vDPA device. */
	const char *pci_address;
	int iommu_group;
	const char *const *device_nodes;
	const char *netdev;
};
typedef int (*vbus_list_fn)(void *userdata, const struct vbus_list_entry *entry);
VBUS_EXPORT int vbus_list_devices_foreach(struct vbus_ctx *ctx, unsigned flags, const char *name,
					  vbus_list_fn fn, void *userdata);
/* The same listing as the text vbus_json_format() makes of it, written as it is read (no JSON
 * object per device: what vbusctl -j prints, at a fraction of the cost). The caller frees. */
VBUS_EXPORT int vbus_list_devices_json(struct vbus_ctx *ctx, unsigned flags, const char *name,
				       char **ret);

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
 * Makes the set of definitions equal to DEFINITIONS (a JSON array of schema-v1 objects): the
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
 * error and, unlike other failures, *ret_plan is set, to say what was done.
 */
VBUS_EXPORT int vbus_apply(struct vbus_ctx *ctx, struct json_object *definitions, unsigned flags,
			   struct json_object **ret_plan);

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
VBUS_EXPORT int vbus_reconcile(struct vbus_ctx *ctx, const char *parent, unsigned flags,
			       struct json_object **ret_results);

/*
 * Imports mdevctl or driverctl definitions from DIR (NULL: the default under root). Returns a
 * JSON array of {"name", "source", "imported": bool, "reason", "moved_to"} in *ret_report.
 * vbus becomes the one owner of what it imported: each imported file is moved aside into
 * /etc/vbus/import-backup/SOURCE-YYYYmmddTHHMMSS/ (keeping its path below DIR; "moved_to"
 * names where, null when kept), so the other tool no longer starts it, and a device that is
 * running is recorded as vbus's (stop removes it as the other tool's stop would).
 */
VBUS_EXPORT int vbus_import(struct vbus_ctx *ctx, const char *source, const char *dir,
			    struct json_object **ret_report);
enum vbus_import_flags {
	VBUS_IMPORT_KEEP_SOURCE = 1 << 0, /* leave the other tool's files where they are */
};
VBUS_EXPORT int vbus_import_with_flags(struct vbus_ctx *ctx, const char *source,
				       const char *dir, unsigned flags,
				       struct json_object **ret_report);

/* ------------------------------------------------------------------------------------------ */
/*
 * CDI (Container Device Interface) specs in /var/run/cdi below the root: vbus.dev-vfio.json
 * (kind vbus.dev/vfio: every definition whose device is bound to a vfio driver) and
 * vbus.dev-vhost-vdpa.json (kind vbus.dev/vhost-vdpa), each replaced atomically, removed when
 * it would hold no device. Every changing operation rewrites them before it releases the store
 * lock; vbus_cdi_update() does it on demand (vbusd at start and on kernel events).
 */
VBUS_EXPORT int vbus_cdi_update(struct vbus_ctx *ctx);
/* The specs as written: a JSON array of the spec objects (none: empty). */
VBUS_EXPORT int vbus_cdi_read(struct vbus_ctx *ctx, struct json_object **ret);
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

/* vbus_def_from_json() for a definition without "kind" that PURPOSE completes through
 * vbus_policy_fill() (PURPOSE NULL or "": vbus_def_from_json() itself). */
VBUS_EXPORT int vbus_def_from_json_for(struct vbus_ctx *ctx, struct json_object *obj,
				       const char *purpose, struct vbus_def **ret);

#ifdef __cplusplus
}
#endif

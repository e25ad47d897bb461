/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal interfaces of libvbus: the context, logging, errors and the backend contract. */
#pragma once

/*
 * Changes since the first draft (for backend authors; all additive, nothing renamed):
 *  - struct vbus_backend gained an optional last member free_data(), called by
 *    vbus_ctx_unref() for ctx->backend_data[kind].
 *  - the core looks backends up with vbus_ctx_backend(ctx, kind), which honours
 *    ctx->backend_override[] (tests install fake backends there); vbus_backend_get() stays.
 *  - struct vbus_backend gained an optional configure() (settings applied at every start, after
 *    create and before bind; vf: the per-VF netdev settings of lib/vf-netdev.c).
 *  - helpers: vbus_path_display() (a path as seen inside the root, for messages),
 *    vbus_uuid_is_valid(), vbus_error_take()/vbus_error_restore().
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libvbus-internal.h"
#include "macro.h"

/* ---- ownership helpers, as in systemd ---------------------------------------------------- */

static inline void json_object_putp(struct json_object **p)
{
	if (*p)
		json_object_put(*p);
}

static inline void vbus_def_freep(struct vbus_def **p)
{
	vbus_def_free(*p);
}

static inline void closep(int *fd);

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_json_ _cleanup_(json_object_putp)
#define _cleanup_def_ _cleanup_(vbus_def_freep)
#define _cleanup_close_ _cleanup_(closep)

#include <unistd.h>
static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return streq(a, b);
}

/* ---- context ----------------------------------------------------------------------------- */

struct vbus_ctx {
	int n_ref;
	char *root;	/* "/" or an absolute path without trailing slash */
	bool real_root; /* root == "/": netlink kinds talk to the kernel */
	vbus_log_fn log_fn;
	void *log_data;
	int log_level;
	char *last_error;
	/* Backends keep private state here (netlink sockets, caches), keyed by kind. */
	void *backend_data[_VBUS_KIND_MAX];
	/* Tests only: called after every successful sysfs write, so a test can play the kernel
	 * (make the mdev appear after "create", the VFs after "sriov_numvfs", ...). */
	int (*sysfs_write_hook)(struct vbus_ctx *ctx, const char *path, const char *value,
				void *userdata);
	void *sysfs_write_hook_data;
	/* Tests only: called after each step of a start ("checked", "intent", "created", "bound",
	 * "recorded"), so a test can kill the process there and check what the next call makes
	 * of what is left. */
	void (*step_hook)(struct vbus_ctx *ctx, const char *step, void *userdata);
	void *step_hook_data;
	/* The start in progress may re-create VFs vbus did not make (--force, VBUS_START_FORCE). */
	bool force;
	/* vbus_lock(): the flock'ed store directory and how deep the calls that hold it are. */
	int lock_fd;
	unsigned lock_depth;
	bool store_swept; /* stale temporary files of killed writers removed already */
	/* apply's journal is open: file writes skip their fsyncs, one syncfs() before the
	 * commit makes them all durable at once. */
	bool store_defer_sync;
	unsigned lock_gen; /* counts the times the lock was taken (depth 0 -> 1) */
	/* /run/vbus/.intents of this hold of the lock (lib/ops.c): the write-ahead records of
	 * its starts, one line each, appended; -1 until the first. Removed at vbus_unlock(). */
	int run_journal_fd;
	/* lock_gen during which every run record was read and none stands on another, and none
	 * that does was written since (lib/ops.c stop_dependents(): a stop need not read them all
	 * again; apply --now of [] with 1 000 devices did, per stop). */
	unsigned run_unstacked_gen;
	/* lib/callout.c: the script directory pairs (callouts, notifiers: a bit each) found
	 * without scripts during lock_gen scripts_gen, not read again then. */
	unsigned scripts_gen, scripts_none;
	/* Tests only: a backend used instead of the built-in one of that kind. */
	const struct vbus_backend *backend_override[_VBUS_KIND_MAX];
	/* lib/policy.c: policy.d as last read, with what tells whether it changed since. */
	void *policy_cache;
	/* While > 0 (a listing), the policy read once is used as it is: a listing is one
	 * snapshot, and policy.d is not checked again for each of its definitions. */
	unsigned policy_pinned;
	/* lib/backend-sf.c: SF ports and auxiliary devices already found (checked before use). */
	struct json_object *sf_cache, *sf_aux_seen;
	/* lock_gen during which sf_cache was filled from a dump of all ports and kept up to date
	 * by this context's own changes: within that hold of the lock it knows every SF port. */
	unsigned sf_complete_gen;
	/* lib/netlink.c: every (parent, type) of a netlink kind, as walked during lock_gen
	 * parent_types_gen[kind] (vbus_nl_parent_offers()). */
	struct json_object *parent_types[_VBUS_KIND_MAX];
	unsigned parent_types_gen[_VBUS_KIND_MAX];
	/* lib/cdi.c: lock_gen whose specs are written already (vbus_unlock() skips them then). */
	unsigned cdi_synced_gen;
	/* lock_gen during which this context wrote a file or into sysfs: only then can the CDI
	 * specs be out of date at vbus_unlock() (a failed or no-op call does not re-read every
	 * definition for them: vbusd retrying thousands of starts did, once per start). */
	unsigned changed_gen;
	bool cdi_syncing;
};

/* Frees the policy kept in CTX (lib/policy.c). */
void vbus_policy_cache_free(struct vbus_ctx *ctx);
/* policy.d checked (read again when it changed), then used as it is until the matching
 * vbus_policy_unpin(): one refresh of many entries (vbusd after a round) is one snapshot, as a
 * listing is. */
void vbus_policy_pin(struct vbus_ctx *ctx);
void vbus_policy_unpin(struct vbus_ctx *ctx);

/* Path of P (absolute, e.g. "/sys/class/mdev_bus") under the context's root. Caller frees. */
char *vbus_path(struct vbus_ctx *ctx, const char *p);
/* The strings up to a NULL one end to end, in one allocation (systemd's strjoin): the hot
 * paths (a path under the root, a memo or identity key per definition) without printf. */
char *vbus_strjoin(const char *first, ...);
char *vbus_pathf(struct vbus_ctx *ctx, const char *fmt, ...) _printf_(2, 3);

/* Logging goes through the program's callback only. */
void vbus_log(struct vbus_ctx *ctx, int level, const char *file, int line, const char *fn,
	      const char *fmt, ...) _printf_(6, 7);
#define vbus_log_cond(ctx, lvl, ...)                                                               \
	do {                                                                                       \
		if ((ctx)->log_level >= (lvl))                                                     \
			vbus_log(ctx, lvl, __FILE__, __LINE__, __func__, __VA_ARGS__);            \
	} while (0)
#define dbg(ctx, ...) vbus_log_cond(ctx, VBUS_LOG_DEBUG, __VA_ARGS__)
#define info(ctx, ...) vbus_log_cond(ctx, VBUS_LOG_INFO, __VA_ARGS__)
#define warn(ctx, ...) vbus_log_cond(ctx, VBUS_LOG_WARNING, __VA_ARGS__)

/*
 * Records the cause of a failure for vbus_ctx_last_error() and returns ERR (negative errno),
 * so a failing path reads: return vbus_error(ctx, -EINVAL, "parent %s has no type %s", p, t);
 * The message names the object and the cause; the caller adds the verb ("Failed to start").
 */
int vbus_error(struct vbus_ctx *ctx, int err, const char *fmt, ...) _printf_(3, 4);
void vbus_error_clear(struct vbus_ctx *ctx);
/* Takes the current cause (caller frees), e.g. to keep it across a rollback; restore puts a
 * taken cause back (and frees the one in place). */
char *vbus_error_take(struct vbus_ctx *ctx);
void vbus_error_restore(struct vbus_ctx *ctx, char *saved);

/* PATH (made by vbus_path()) as the user knows it: without the root prefix. Points into PATH. */
const char *vbus_path_display(struct vbus_ctx *ctx, const char *path);

bool vbus_uuid_is_valid(const char *s);

/* ---- backends ---------------------------------------------------------------------------- */

/* What the core knows of an active sub-device, filled by a backend's status op. */
struct vbus_status {
	bool active;
	char *sysfs_path;   /* absolute path under root, e.g. ".../sys/bus/mdev/devices/UUID" */
	char *bound_driver; /* NULL when unbound */
	/* bound_driver is the one the kind's own matching gave the device (no override): what
	 * "host" resolves to for a kind that sets this, without asking the kernel again. */
	bool bound_by_match;
	/* Not active, yet something of it is left in the kernel that destroy() removes: a
	 * create or destroy stopped between its kernel requests (an SF port whose function is
	 * not active). The core removes it only where a run record says vbus made it. */
	bool partial;
};

void vbus_status_done(struct vbus_status *st);

/*
 * One per kind, one file each (lib/backend-<kind>.c), registered in lib/backend.c. A NULL op
 * means -EOPNOTSUPP. The core does the ordering: check, create, choose the driver (policy),
 * bind, verify, and on failure undo what it did; backends do one step each and report the
 * cause with vbus_error().
 */
/* The rules of a kind, which the core applies (lib/ops.c names no kind). */
enum vbus_field_rule {
	VBUS_FIELD_OPTIONAL,
	VBUS_FIELD_REQUIRED,
	VBUS_FIELD_REFUSED,
};
enum vbus_identity {
	VBUS_IDENTITY_NAME,   /* parent and name (vdpa, virtbus) */
	VBUS_IDENTITY_UUID,   /* its uuid (mdev) */
	VBUS_IDENTITY_INDEX,  /* parent and index (vf, sf) */
	VBUS_IDENTITY_PARENT, /* its parent alone: it is the function (pci) */
};
struct vbus_kind_rules {
	const char *a_kind;	 /* the kind with its article, for messages: "an mdev" */
	enum vbus_identity identity;
	const char *index_label; /* how messages name its index: "VF" */
	enum vbus_field_rule type, index;
	/* The refusal of a type or an index, when not "a type is not for K devices". */
	const char *fields_refused;
	bool any_attr;		   /* every attribute key is the kind's business ... */
	const char *const *attrs; /* ... else only these (NULL-terminated; NULL: none) */
	bool uuid;		   /* has a uuid: made at define when missing; a definition that
				    * names a running one by it alone takes its parent and type */
	bool pick_index;	   /* define takes the lowest free index when none is given */
	bool live_attrs;	   /* attributes change while it runs (vbus_modify_live()) */
	/* A device vbus did not create is the host's: stop gives it its host driver back (and
	 * is allowed although vbus did not start it). */
	bool host_owned;
	/* Names its parents by handle, "BUS/NAME" (devlink, vdpa, vbus management devices):
	 * how a stacked definition's "@NAME" becomes its parent (lib/stack.c). */
	bool parent_handle;
};
/* KIND's rules (never NULL: an unknown kind has none). */
const struct vbus_kind_rules *vbus_kind_rules(enum vbus_kind kind);

/* One kernel event of a kind's monitor (monitor_open(), vbus_monitor_open()). */
enum vbus_monitor_what {
	VBUS_MONITOR_DEVICE,	   /* a device came, went or changed (state, driver) */
	VBUS_MONITOR_PARENT_NEW,   /* a parent appeared, or can make devices now */
	VBUS_MONITOR_PARENT_GONE,  /* a parent went away, or can no longer make devices */
};
struct vbus_monitor_event {
	enum vbus_kind kind;
	enum vbus_monitor_what what;
	const char *parent; /* as the kind names parents ("vbus_sim/vbus_sim1"); NULL: not said */
	const char *name;   /* the device's name when the kind names devices (virtbus), or NULL */
	int64_t index;	    /* the device's index when the kind numbers them (sf: sfnum), or -1 */
};
typedef void (*vbus_monitor_fn)(const struct vbus_monitor_event *ev, void *userdata);

struct vbus_backend {
	enum vbus_kind kind;
	/* The kind's rules (what is allowed, how a device is named, ...). */
	const struct vbus_kind_rules *rules;

	/* Appends one object per capable parent to the JSON array PARENTS ("parent", "kind",
	 * plus kind-specific keys). PARENT, when not NULL, filters. */
	int (*list_parents)(struct vbus_ctx *ctx, const char *parent, struct json_object *parents);

	/* Appends one object per creatable type ("parent", "kind", "type", ...). */
	int (*list_types)(struct vbus_ctx *ctx, const char *parent, struct json_object *types);

	/* Appends one object per active sub-device of this kind, in the shape of a definition
	 * (kind, parent, type, uuid/index) plus "bound_driver" and "sysfs_path"; "name" is the
	 * identity (UUID for mdev, "<pf>-vf<N>" for vf, ...). The core matches them with
	 * definitions through match(). */
	int (*list_active)(struct vbus_ctx *ctx, struct json_object *devices);

	/* Validates DEF against the kind's rules (required keys, attrs allowed). With the parent
	 * present, also against what it offers (type exists, index in range). Returns -ENODEV
	 * when the parent is absent (the core stores it with a warning), -EINVAL when refused. */
	int (*check)(struct vbus_ctx *ctx, const struct vbus_def *def);

	/* Fills ST for DEF's sub-device; st->active false when it does not exist. */
	int (*status)(struct vbus_ctx *ctx, const struct vbus_def *def, struct vbus_status *st);
	/* list_active() shows every sub-device status() calls active (but an entry whose
	 * "state" is "inactive"), with its bound_driver and sysfs_path: a listing takes the
	 * status of every definition from one list_active() call instead of one status() each. */
	bool status_in_list;

	/* Makes DEF's sub-device exist (without binding it to a driver other than what the kind
	 * does on its own). Undoes its own partial steps on failure. */
	int (*create)(struct vbus_ctx *ctx, const struct vbus_def *def);
	/* Optional: create() that also fills ST with the device as the kernel's answer to the
	 * request describes it (virtbus: DEV_NEW with NLM_F_ECHO), so that the core needs no
	 * status() after it; st->active false when the answer did not come (status() is asked). */
	int (*create_status)(struct vbus_ctx *ctx, const struct vbus_def *def,
			     struct vbus_status *st);

	/* Removes DEF's sub-device. */
	int (*destroy)(struct vbus_ctx *ctx, const struct vbus_def *def);

	/* Applies DEF's settings to its sub-device once it exists and before it is bound: at
	 * every start, so a device made again (reboot, hot-plug, reconcile) gets them again
	 * (vf: mac, vlan, trust, ... on the PF's netdev). Optional. */
	int (*configure)(struct vbus_ctx *ctx, const struct vbus_def *def);

	/* Maps a driver choice ("vfio", "host") to a driver name for DEF; NULL for "none".
	 * "auto" never reaches here: the core resolves it through policy first. */
	int (*resolve_driver)(struct vbus_ctx *ctx, const struct vbus_def *def, const char *choice,
			      char **ret);

	/* Binds DEF's sub-device to DRIVER (NULL: unbind and leave unbound) and verifies that
	 * DRIVER is what got bound. */
	int (*bind)(struct vbus_ctx *ctx, const struct vbus_def *def, const char *driver);

	/* Frees ctx->backend_data[kind] (sockets, caches) when the context goes away. */
	void (*free_data)(struct vbus_ctx *ctx, void *data);

	/* Opens a non-blocking socket on which the kernel announces this kind's devices coming,
	 * going and being bound, and its parents coming and going (virtbus: vbus.ko's "monitor"
	 * group; sf: devlink's "config" group); *ret_fd to poll, then monitor_dispatch() calls FN
	 * once per event that concerns the kind. Optional (kinds udev reports fully need none). */
	int (*monitor_open)(struct vbus_ctx *ctx, vbus_monitor_fn fn, void *userdata,
			    void **ret_handle, int *ret_fd);
	int (*monitor_dispatch)(void *handle);
	void (*monitor_close)(void *handle);
};

/*
 * Kernel events of every kind whose kernel side announces them on its own socket
 * (monitor_open()), as one fd for an event loop (lib/backend.c): vbusd follows virtbus devices
 * and SF ports through it without naming a kind. FN is called once per event; the event says
 * what it concerns, and what changed is read from a listing. -EOPNOTSUPP when no kind can (or
 * under a root other than "/"). vbus_monitor_join() tries the kinds that could not be joined
 * before (their module was not loaded): 1 when one more is followed now, else 0.
 */
struct vbus_monitor;
int vbus_monitor_open(struct vbus_ctx *ctx, vbus_monitor_fn fn, void *userdata,
		      struct vbus_monitor **ret);
int vbus_monitor_join(struct vbus_ctx *ctx, struct vbus_monitor *m);
int vbus_monitor_fd(struct vbus_monitor *m);
int vbus_monitor_dispatch(struct vbus_monitor *m);
struct vbus_monitor *vbus_monitor_free(struct vbus_monitor *m);

extern const struct vbus_backend vbus_backend_mdev;
extern const struct vbus_backend vbus_backend_vf;
extern const struct vbus_backend vbus_backend_pci;

extern const struct vbus_backend vbus_backend_sf;
extern const struct vbus_backend vbus_backend_vdpa;
extern const struct vbus_backend vbus_backend_virtbus;
extern const struct vbus_backend vbus_backend_vgpu;

/* lib/backend-vf.c: the total VFs of the PCI function PF (sriov_totalvfs); 0 when it is not an
 * SR-IOV PF or does not exist (the vf and vgpu kinds). */
uint64_t vbus_pf_total_vfs(struct vbus_ctx *ctx, const char *pf);
/* lib/backend-vf.c: the SR-IOV PFs among the PCI functions (PARENT alone, when not NULL), in
 * sysfs order: what the vf and vgpu kinds walk to list parents, types and devices. Free with
 * sysfs_strv_free(). */
int vbus_sriov_pfs(struct vbus_ctx *ctx, const char *parent, char ***ret);
/* lib/backend-vf.c: the address of VF INDEX of PF, -ENOENT when that VF does not exist now
 * (the vf and vgpu kinds). */
int vbus_vf_address(struct vbus_ctx *ctx, const char *pf, int64_t index, char **ret);
/* lib/backend-vf.c: the address of DEF's VF (its parent's VF DEF->index); -ENODEV with a
 * message naming DEF when that VF does not exist. */
int vbus_vf_of(struct vbus_ctx *ctx, const struct vbus_def *def, char **ret);
/* lib/backend-vf.c: binds DEF's VF to DRIVER (NULL: none), as vbus_vf_of() finds it. */
int vbus_vf_bind_index(struct vbus_ctx *ctx, const struct vbus_def *def, const char *driver);

/* NULL for a kind without a backend yet. */
const struct vbus_backend *vbus_backend_get(enum vbus_kind kind);
/* The backend the core uses for KIND in CTX (a test override, else the table's). */
const struct vbus_backend *vbus_ctx_backend(struct vbus_ctx *ctx, enum vbus_kind kind);
/* The backend for KIND, or a vbus_error() saying the kind is not supported (yet). */
int vbus_backend_require(struct vbus_ctx *ctx, enum vbus_kind kind,
			 const struct vbus_backend **ret);

/* ---- policy (lib/policy.c) --------------------------------------------------------------- */

/*
 * Resolves driver "auto" for DEF: the first matching rule of /etc/vbus/policy.d/ (*.json), else the
 * kind's built-in default (mdev: host, vf: vfio, pci: vfio, sf: host, vdpa: vfio, virtbus:
 * host). *ret is "vfio", "host", "none" or a driver name; the caller frees it.
 */
int vbus_policy_resolve_driver(struct vbus_ctx *ctx, const struct vbus_def *def, char **ret);
/* The driver choice of the first policy.d rule matching DEF; *ret NULL when none matches (no
 * built-in default). */
int vbus_policy_rule_driver(struct vbus_ctx *ctx, const struct vbus_def *def, char **ret);
/* The same among the rules with "adopt": true: what vbus_apply_policy() uses for devices vbus
 * did not make, which only such a rule may touch. */
int vbus_policy_adopt_driver(struct vbus_ctx *ctx, const struct vbus_def *def, char **ret);
/* vbus_apply_policy() for DEV, an active device of a listing the caller has already (vbusd's
 * model): no listing of its own, so a hundred devices made by hand cost no hundred listings. */
int vbus_apply_policy_to(struct vbus_ctx *ctx, const struct vbus_device *dev);

/*
 * The kind and driver choice that PURPOSE's profile gives PARENT, among the kinds in OFFERED
 * (a mask of 1 << kind): vbus_policy_pick() without asking the backends, for tests.
 */
int vbus_policy_pick_kind_among(struct vbus_ctx *ctx, const char *parent, const char *purpose,
				unsigned offered, enum vbus_kind *ret_kind, char **ret_driver);

/* ---- core internals (store.c, ops.c) ----------------------------------------------------- */

#include <sys/types.h>

void vbus_defs_free(struct vbus_def **defs, size_t n);
/* For scandir(): byte order, so listings do not depend on the program's locale. */
struct dirent;
int vbus_dirent_cmp(const struct dirent **a, const struct dirent **b);
/*
 * Changes are serialized between processes (vbusd, vbusctl --direct, a second vbusctl) with
 * an exclusive flock on /etc/vbus/devices.d, held by the outermost changing call of a context
 * (nested calls, e.g. import -> define, only count).
 */
int vbus_lock(struct vbus_ctx *ctx);
void vbus_unlock(struct vbus_ctx *ctx);
int vbus_uuid_generate(char **ret);
int vbus_mkdir_p(const char *path, mode_t mode);
int vbus_write_file_atomic(struct vbus_ctx *ctx, const char *dir, const char *name,
			   const char *contents);
/* vbus_write_file_atomic() without fsync, for /run/vbus (lib/store.c says why). */
int vbus_write_runtime_file(struct vbus_ctx *ctx, const char *dir, const char *name,
			    const char *contents);
int vbus_unlink_sync(struct vbus_ctx *ctx, const char *dir, const char *name);
int vbus_read_json_file(struct vbus_ctx *ctx, const char *path, struct json_object **ret);
int vbus_read_json_file_at(struct vbus_ctx *ctx, int dirfd, const char *path, int oflags,
			   struct json_object **ret);
int vbus_read_line_at(struct vbus_ctx *ctx, int dirfd, const char *path, int oflags, char **ret);
void vbus_remove_stale_temporaries(int dirfd);
/* apply's journal (lib/store.c), under the lock: FILES are names in the store directory. */
int vbus_store_journal_begin(struct vbus_ctx *ctx, char *const *files, size_t n);
int vbus_store_journal_commit(struct vbus_ctx *ctx);
int vbus_store_journal_rollback(struct vbus_ctx *ctx, int dirfd);
char *vbus_store_dir(struct vbus_ctx *ctx);
char *vbus_store_file(struct vbus_ctx *ctx, const char *name);
int vbus_store_exists(struct vbus_ctx *ctx, const char *name);
/* QUIET: skip unusable files without the warning (it was given by whoever listed them). */
int vbus_store_load_all(struct vbus_ctx *ctx, bool quiet, struct vbus_def ***ret, size_t *ret_n);
/* The files as they are, templates unexpanded (apply compares them with its list). */
int vbus_store_load_files(struct vbus_ctx *ctx, bool quiet, struct vbus_def ***ret,
			  size_t *ret_n);
int vbus_store_save(struct vbus_ctx *ctx, const struct vbus_def *def);
int vbus_store_remove(struct vbus_ctx *ctx, const char *name);

/* /run/vbus/NAME.json: what a start did, so that stop undoes exactly that. */
struct vbus_run {
	struct vbus_def *def; /* the definition as started (transient ones live only here) */
	bool created;	      /* vbus made the sub-device exist (stop destroys it) */
	bool transient;
	char *previous_driver; /* bound before vbus bound it (stop gives it back); may be NULL */
	/* Write-ahead: written before the kernel is asked ("state": "creating" with created,
	 * "binding" without), so a crash never leaves a device vbus cannot recognise as its own;
	 * "active" once the start is complete. A pending record whose device exists is a run
	 * record like any other (vbus made it, or holds it); one whose device does not is dropped. */
	bool pending;
	/* The definition whose device this one stands on ("parent": "@NAME"); def->parent holds
	 * that device as resolved at the start. NULL when not stacked. */
	char *stacked_on;
};
void vbus_run_done(struct vbus_run *run);
/* The write-ahead journal of run records (lib/ops.c). vbus_lock(): one left by a holder that
 * died becomes a pending record per device it names that has no record of its own (the next
 * call then keeps or drops each as it does any pending record). vbus_unlock(): this hold's
 * journal goes, every start in it having written its outcome or been undone. */
int vbus_run_journal_fold(struct vbus_ctx *ctx);
void vbus_run_journal_close(struct vbus_ctx *ctx);
/* vbus_start() of DEF, already read (apply's list): the store is not read again for it.
 * ABSENT: the caller's dump of DEF's kind under its hold of the lock did not show the device,
 * so its status is not asked before it is created (a device that came meanwhile fails the
 * create, "exists", instead of being taken over). */
int vbus_start_def(struct vbus_ctx *ctx, const struct vbus_def *def, bool absent);
/* vbus_stop() of RUN's device, its record read already under the caller's lock (apply): it is
 * not read again (unless the device is stacked), and RUN is taken over (emptied). PRESENT:
 * the caller's dump of the kind under that hold showed the device, whose status is then only
 * asked if the stop fails (gone meanwhile: -EALREADY, as when it was gone before). */
int vbus_stop_run(struct vbus_ctx *ctx, struct vbus_run *run, bool present);
/* 0 and RET filled, -ENOENT when NAME has no run record. */
int vbus_run_load(struct vbus_ctx *ctx, const char *name, struct vbus_run *ret);
int vbus_run_load_all(struct vbus_ctx *ctx, struct vbus_run **ret, size_t *ret_n);
/* The same without the records of the names in SKIP (keys of an object), which are not read. */
int vbus_run_load_except(struct vbus_ctx *ctx, struct json_object *skip, struct vbus_run **ret,
			 size_t *ret_n);
/* False for the pending record of a start that never got to the kernel (no device): the
 * next start or stop drops it, and nothing runs to stop. */
bool vbus_run_is_live(struct vbus_ctx *ctx, const struct vbus_run *run);
/* Removes NAME's record when it is such a pending one (apply's undefine). */
void vbus_run_drop_stale(struct vbus_ctx *ctx, const char *name);
/* Many vbus_define()s under the caller's lock (import): the store is read once at begin,
 * duplicates are found through a map, and the files are synced once at end. add returns what
 * vbus_define() does; end must follow begin whatever happened in between. */
struct vbus_define_batch {
	struct json_object *ids; /* identity -> name of its definition */
	/* The store holds a template: a new name may be one of its devices (refuse_generated()
	 * reads the whole store for that; import of 10 000 did it per definition). */
	bool templates;
};
int vbus_define_batch_begin(struct vbus_ctx *ctx, struct vbus_define_batch *b);
int vbus_define_batch_add(struct vbus_ctx *ctx, struct vbus_define_batch *b, struct vbus_def *def);
int vbus_define_batch_end(struct vbus_ctx *ctx, struct vbus_define_batch *b);
/* Import: DEF's active device becomes vbus's (a run record as if vbus had created it). */
int vbus_run_take_over(struct vbus_ctx *ctx, const struct vbus_def *def);
/* NAME's run record is dropped when its device is gone (its parent's module unloaded, the
 * parent removed): 1 when dropped, 0 when kept (no record, or the device is there). Takes the
 * lock. */
int vbus_run_forget_gone(struct vbus_ctx *ctx, const char *name);
/* NAME has a run record: vbus started its device (or is starting it). */
bool vbus_run_exists(struct vbus_ctx *ctx, const char *name);
/* The names of the run records, in no order, NULL-terminated (an empty list when there is no
 * /run/vbus). Free with sysfs_strv_free(). */
int vbus_run_names(struct vbus_ctx *ctx, char ***ret);
/* Pretty JSON text (lib/def.c): what vbus_json_format() writes, into one growing buffer. */
struct vbus_text {
	char *s;
	size_t len, size;
	bool oom; /* an allocation failed: s holds what fitted */
};
/* How a consumer reaches an active device (lib/access.c), read from sysfs only. */
#define VBUS_ACCESS_MAX_NODES 4
struct vbus_access {
	char pci_address[16]; /* "" unless pci or vf */
	int iommu_group;      /* -1: none */
	char netdev[32];      /* "" unless bound to a host (network) driver */
	size_t n_nodes;
	char nodes[VBUS_ACCESS_MAX_NODES][64];
	const char *node_ptrs[VBUS_ACCESS_MAX_NODES + 1]; /* nodes[], NULL-terminated */
	bool vfio;	     /* the nodes are vfio's (group or cdev) */
	bool vhost_vdpa;     /* the node is /dev/vhost-vdpa-N */
};
/* Fills A for the device of KIND at SYSFS_PATH (as seen inside the root) bound to DRIVER. */
void vbus_access_read(struct vbus_ctx *ctx, enum vbus_kind kind, const char *sysfs_path,
		      const char *driver, struct vbus_access *a);
/* The driver DEF asks for, resolved as start would (policy, then the kind: "vfio-pci",
 * "vhost_vdpa", "none") where that only reads; else the choice itself ("host"). Caller frees. */
char *vbus_wanted_driver(struct vbus_ctx *ctx, const struct vbus_def *def);

/* ---- stacks (lib/stack.c): "parent": "@NAME" ------------------------------------------- */

/* NAME when DEF's parent is "@NAME", else NULL. */
const char *vbus_stack_ref(const struct vbus_def *def);
/* DEF's reference and the chain above it among DEFS (the set DEF is to live in; DEF stands for
 * its own name): -ENOENT naming a missing definition, -EINVAL for a reference to itself, -ELOOP
 * for a cycle (naming the chain). 0 for a definition that is not stacked. */
int vbus_stack_check(struct vbus_ctx *ctx, const struct vbus_def *def,
		     struct vbus_def *const *defs, size_t n);
/* The same against the stored definitions. */
int vbus_stack_check_stored(struct vbus_ctx *ctx, const struct vbus_def *def);
/* The stored definitions standing on NAME, as "'a', 'b'" (*ret NULL: none). */
int vbus_stack_dependents(struct vbus_ctx *ctx, const char *name, char **ret);
/* A copy of stacked DEF whose parent is the device its parent definition runs as, named as
 * DEF's kind names parents; -ENODEV when that definition is not active. */
int vbus_stack_resolve(struct vbus_ctx *ctx, const struct vbus_def *def, struct vbus_def **ret);
/* How many definitions DEF stands on (0: not stacked), among DEFS. */
int vbus_stack_depth(const struct vbus_def *def, struct vbus_def *const *defs, size_t n);

/* The runtime keys a listing adds to a definition. */
struct vbus_runtime {
	bool active, defined;
	const char *driver, *sysfs_path;
	const char *wanted_driver;	  /* NULL for a device nobody defined */
	const struct vbus_access *access; /* NULL: nothing known */
};

/* lib/cdi.c: rewrites the CDI specs of /var/run/cdi when they changed (the lock is held). */
int vbus_cdi_sync(struct vbus_ctx *ctx);
void vbus_text_put(struct vbus_text *t, const char *s, size_t n);
void vbus_text_json(struct vbus_text *t, struct json_object *v, int indent);
/* A JSON string of S (N bytes), as json-c writes it; N spaces. */
void vbus_text_string(struct vbus_text *t, const char *s, size_t n);
void vbus_text_indent(struct vbus_text *t, int n);
/* Before a value of a container: ",\n" ("\n" when FIRST), INDENT spaces and, in an object, KEY
 * as a JSON string and ": " (KEY NULL: in an array). */
void vbus_text_member(struct vbus_text *t, bool first, int indent, const char *key);
/* A key of the definition schema or of a listing's runtime keys (never an extra one). */
bool vbus_def_key_is_reserved(const char *key);
/* One entry of vbus_list_devices() for the definition or transient device NAME, read alone
 * (lib/list.c); -ENOENT when NAME is neither. */
int vbus_list_definition(struct vbus_ctx *ctx, const char *name, struct vbus_device **ret);
/* The stored definition a listed device was made from (as the listing read it from the store),
 * NULL when it has none (transient, or active and nobody defined it). */
const struct vbus_def *vbus_device_stored_def(const struct vbus_device *dev);
/* vbus_list_definition() of STORED, a definition as a listing read it: not read again. */
int vbus_list_stored_definition(struct vbus_ctx *ctx, const struct vbus_def *stored,
				struct vbus_device **ret);
/* An element of a listing's JSON (as vbusd serves it) as a device of the model. */
int vbus_device_from_json(struct json_object *o, struct vbus_device **ret);
/* R, with a cause "NAME: text" from a backend cut to "text" (callers name the device). */
int vbus_plain_cause(struct vbus_ctx *ctx, const struct vbus_def *def, int r);
/* Validates DEF for the generic schema rules of its kind (before the backend's check()). */
int vbus_def_validate(struct vbus_ctx *ctx, const struct vbus_def *def);

/* The limits every input path shares (lib/def.c): a definition (and any file vbus reads as
 * one) at most VBUS_DEF_MAX_SIZE bytes, a string of the schema at most VBUS_STRING_MAX. */
#define VBUS_DEF_MAX_SIZE (1 << 20)
#define VBUS_STRING_MAX 4096
const char *vbus_text_check(const char *s, size_t len);
char *vbus_escape(const char *s);
int vbus_def_check_strings(struct vbus_ctx *ctx, const struct vbus_def *def);
void vbus_uuid_lower(char *uuid);
/* The identity of a definition or of an active object from list_active(), as a string key:
 * equal keys, same sub-device (mdev uuid, vf/sf parent+index, pci parent, else parent+name).
 * NULL when it has none (or out of memory). */
char *vbus_def_identity(const struct vbus_def *def);
char *vbus_active_identity(struct json_object *active);

/* lib/select.c: selectors ("select", parent globs) and counts. A template stands for one
 * device per matching parent (and per count); vbus_store_load_all() shows those devices. */
/* The template a generated definition comes from, NULL for one of a file. */
const char *vbus_def_template(const struct vbus_def *def);
int vbus_select_parse(struct vbus_ctx *ctx, struct vbus_def *def);
int vbus_select_expand(struct vbus_ctx *ctx, const struct vbus_def *tmpl, struct vbus_def ***ret,
		       size_t *ret_n);
int vbus_select_expand_all(struct vbus_ctx *ctx, bool quiet, struct vbus_def ***defs, size_t *n);
int vbus_select_prepare(struct vbus_ctx *ctx, struct vbus_def *tmpl,
			struct json_object **ret_devices);

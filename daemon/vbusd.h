/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vbusd's state, shared by its parts: main loop, manager object, device objects, auth, udev. */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-util.h"
#include "vbus-private.h"

struct auth_query;
struct udev_monitor;
struct round;
struct fight;
struct vbus_monitor;
struct monitor_batch;

struct vbusd {
	sd_event *event;
	sd_bus *bus;
	struct vbus_ctx *ctx;
	const char *root;

	/*
	 * The model the objects show: name -> struct device (objects.c), one compact entry per
	 * device of vbus_list_devices(DEFINED | ACTIVE), read whole at start and when parents come
	 * or go, else one entry at a time after a change to it (each device keeps its JSON,
	 * which ListDevices writes out).
	 * parents: parent name -> array of its entries of vbus_list_parents().
	 */
	struct lh_table *devices;
	size_t n_undefined; /* devices in the model that are active without a definition */
	/* name -> how many definitions of the model stand on it ("parent": "@name"), or NULL
	 * when it could not be kept (objects.c's in_stack() then scans the model). */
	struct lh_table *stacked_on;
	struct device **order; /* the devices in the listing's order (objects.c) */
	size_t n_order, n_order_allocated;
	struct json_object *parents;
	/* What the last full listing warned about (strings, as vbusctl --direct prints them),
	 * and its error when it failed (listings then fail the same way). */
	struct json_object *warnings;
	struct json_object *broken; /* names whose file it could not read (a set), or NULL */
	int list_error;
	/* The last listing held devices of a template (lib/select.c): which devices those are
	 * depends on the kernel's state (parents, available instances), so every change
	 * refreshes the whole model. */
	bool has_templates;
	char *list_error_cause;
	/* devices.d when the model last read it whole (objects.c). */
	struct store_id {
		bool known;
		dev_t dev;
		ino_t ino;
		mode_t mode;
		int err;
	} store;

	struct auth_query *auth_queries;

	struct udev_monitor *monitor;
	sd_event_source *monitor_source;
	sd_event_source *inotify_source;
	sd_event_source *policy_inotify_source;
	/* provision.c: the starts to retry, name -> struct retry, and their rounds. */
	struct lh_table *retries;
	struct round *rounds;
	struct reconcile *reconciles; /* reconciles running in slices */
	sd_event_source *cdi_defer; /* the CDI specs' update after a burst of kernel events */
	struct fight *fights; /* devices unbound by someone else, bound again (provision.c) */
	/* Kernel events of the kinds that announce their own (lib: virtbus, sf), when loaded,
	 * and the batch of them waiting to be handled (provision.c). */
	struct vbus_monitor *vbus_monitor;
	sd_event_source *vbus_monitor_source;
	struct monitor_batch *monitor_batch;
	uint64_t monitor_not_before; /* the next batch's earliest time (CLOCK_MONOTONIC, usec) */
	bool no_polkit; /* tests and --no-polkit: root only */
};

/* Logging with journal priorities (LOG_ERR ...). */
void vbusd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) vbusd_log(3, __VA_ARGS__)
#define log_warning(...) vbusd_log(4, __VA_ARGS__)
#define log_notice(...) vbusd_log(5, __VA_ARGS__)
#define LOG_NOTICE_NORATE 105 /* a notice that is not rate-limited */
#define log_info(...) vbusd_log(6, __VA_ARGS__)
#define log_debug(...) vbusd_log(7, __VA_ARGS__)
extern int vbusd_log_level;
/* Lets library warnings already given be given again (the files they name changed). */
void lib_log_forget(void);

/* objects.c: /org/vbus1/device/ *, /org/vbus1/parent/ * and the change signals. */

/* One device of the model: what the lookups need, and the rest as rendered JSON text. */
struct device {
	char *name;
	/* The vbus_list_devices() object as vbusctl -j prints it inside its array: indented by
	 * two spaces, without the final newline. */
	char *json;
	struct vbus_device *model; /* what the properties show (a reference) */
	char *parent;
	char *sysfs_path;   /* NULL when not active */
	char *bound_driver; /* NULL when none */
	bool definition;    /* stored or transient (listed under its name), not only active */
	bool defined;
	bool active;
	bool start_auto;
	bool policy_seen; /* provision.c: active without definition, policy already considered */
	/* The kernel's uevent number (/sys/kernel/uevent_seqnum) read just before this entry's
	 * state was: the change a uevent up to it announced is in it already. 0: unknown. */
	uint64_t seqnum;
};

int objects_register(struct vbusd *d);
/* The device NAME of the model, or NULL. */
struct device *objects_get(struct vbusd *d, const char *name);
/* Re-reads the whole model and announces what changed: DeviceAdded, DeviceDefined,
 * DeviceModified, DeviceUnbound, DeviceStopped, DeviceStarted, DeviceBound, DeviceUndefined,
 * DeviceRemoved, PropertiesChanged and InterfacesAdded/Removed (none on the first read: nobody
 * can listen yet). Whoever changed it (a method, vbusctl --direct, an editor, the kernel). */
int objects_refresh(struct vbusd *d);
/* The same for the one definition NAME (and an active device it takes over or leaves behind):
 * after a change to NAME, without re-reading the others. */
int objects_refresh_name(struct vbusd *d, const char *name);
/* The same after a change of NAME's device alone (vbusd's own start): its definition is the one
 * the model holds (any write to the store comes as an inotify event, which reads it again). */
int objects_refresh_runtime(struct vbusd *d, const char *name);
/* FLAGS (VBUS_LIST_*) and NAME (or NULL) as vbus_list_devices() takes them: the listing as
 * the JSON document of the model (what vbusctl -j prints, shared/output.c's renderer), from
 * the model, in a sealed memfd of its own (*ret_fd, the caller closes it). -ENOENT (cause in
 * *ret_error) when NAME matches nothing. */
int objects_list_fd(struct vbusd *d, unsigned flags, const char *name, int *ret_fd,
		    char **ret_error);
/* An ACTION ("start", "stop", "create", "remove", "assign") on NAME failed with ERR (negative
 * errno; 0 when not known) because of CAUSE: DeviceFailed. No change of the model says so. */
void objects_emit_failed(struct vbusd *d, const char *name, const char *action, int err,
			 const char *cause);
/* vbusd stopped retrying ACTION on NAME after ATTEMPTS, the last one failing with CAUSE:
 * DeviceGaveUp. */
void objects_emit_gave_up(struct vbusd *d, const char *name, const char *action,
			  unsigned attempts, const char *cause);
/* The warnings libvbus gives between capture_begin() and capture_end() (whatever the log level;
 * they still go to the log): what vbusctl --direct would print for the same call. */
struct capture {
	vbus_log_fn fn;
	void *data;
	int level;
	struct json_object *lines;
};
void capture_begin(struct vbusd *d, struct capture *c);
/* The warnings, an array of strings (NULL when out of memory); the caller owns it. */
struct json_object *capture_end(struct vbusd *d, struct capture *c);
/* The warnings of the last full listing (an array of strings; NULL before it). */
struct json_object *objects_warnings(struct vbusd *d);
/* Parses the JSON of DEV (a new object). */
struct json_object *device_object(const struct device *dev);
void objects_done(struct vbusd *d);
char *device_path(const char *name);

/* manager.c: /org/vbus1, org.vbus1.Manager. */
int manager_register(struct vbusd *d);
/* Sets ERROR from a libvbus failure: the name from the errno table, the cause from the ctx. */
int bus_error_from_vbus(struct vbusd *d, sd_bus_error *error, int r, const char *verb,
			const char *name);

/*
 * auth.c: may the sender of M change things? 1: yes, go on. 0: asked polkit, M will be
 * dispatched again when it answers (the method handler returns 1 meanwhile). <0: refused or
 * failed, ERROR set.
 */
int auth_check(struct vbusd *d, sd_bus_message *m, sd_bus_error *error);
int auth_caller_is_root(sd_bus_message *m);
void auth_done(struct vbusd *d);

/* provision.c: reconcile at start, udev monitor, retries, rebinding what lost its driver. */
int provision_start(struct vbusd *d);
enum {
	RECONCILE_INACTIVE = 1 << 0, /* only definitions whose device is not there */
	RECONCILE_NOW = 1 << 1,	     /* all in this dispatch (at start, before READY=1) */
};
int provision_reconcile(struct vbusd *d, const char *parent, unsigned flags);
void provision_done(struct vbusd *d);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vbusd's state, shared by its parts: main loop, manager object, device objects, auth, udev. */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-util.h"
#include "vbus-private.h"

struct auth_query;
struct udev_monitor;
struct retry;
struct vbus_nl;

struct vbusd {
	sd_event *event;
	sd_bus *bus;
	struct vbus_ctx *ctx;
	const char *root;

	/* The model the objects show, refreshed after every change and every udev event:
	 * name -> device object of vbus_list_devices(), parent name -> array of its entries
	 * of vbus_list_parents(). */
	struct json_object *devices;
	struct json_object *parents;

	struct auth_query *auth_queries;

	struct udev_monitor *monitor;
	sd_event_source *monitor_source;
	sd_event_source *inotify_source;
	sd_event_source *policy_inotify_source;
	struct retry *retries;
	/* Active sub-devices without a definition already seen: policy binds only new ones. */
	struct json_object *policy_seen;
	/* The vbus genl family's "monitor" group, when vbus.ko is loaded. */
	struct vbus_nl *vbus_monitor;
	sd_event_source *vbus_monitor_source;
	bool no_polkit; /* tests and --no-polkit: root only */
};

/* Logging with journal priorities (LOG_ERR ...). */
void vbusd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) vbusd_log(3, __VA_ARGS__)
#define log_warning(...) vbusd_log(4, __VA_ARGS__)
#define log_notice(...) vbusd_log(5, __VA_ARGS__)
#define log_info(...) vbusd_log(6, __VA_ARGS__)
#define log_debug(...) vbusd_log(7, __VA_ARGS__)
extern int vbusd_log_level;
/* Lets library warnings already given be given again (the files they name changed). */
void lib_log_forget(void);

/* objects.c: /org/vbus1/device/ *, /org/vbus1/parent/ * and the change signals. */
int objects_register(struct vbusd *d);
/* Re-reads the model and emits DeviceAdded/DeviceRemoved/DeviceBound, PropertiesChanged and
 * InterfacesAdded/Removed for what changed. */
int objects_refresh(struct vbusd *d);
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
void auth_done(struct vbusd *d);

/* provision.c: reconcile at start, udev monitor, retries. */
int provision_start(struct vbusd *d);
int provision_reconcile(struct vbusd *d, const char *parent);
void provision_done(struct vbusd *d);

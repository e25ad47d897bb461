/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What vbusd and vbusctl's bus transport share: names, the errno table, JSON <-> D-Bus values. */
#pragma once

#include <json-c/json.h>
#include <systemd/sd-bus.h>

#define VBUS_BUS_NAME "org.vbus1"
#define VBUS_MANAGER_PATH "/org/vbus1"
#define VBUS_MANAGER_IFACE "org.vbus1.Manager"
#define VBUS_DEVICE_PREFIX "/org/vbus1/device"
#define VBUS_DEVICE_IFACE "org.vbus1.Device"
#define VBUS_PARENT_PREFIX "/org/vbus1/parent"
#define VBUS_PARENT_IFACE "org.vbus1.Parent"
#define VBUS_POLKIT_ACTION "org.vbus1.manage"

/* Manager.ListDevices flags: the VBUS_LIST_* values of libvbus.h. Create flags: 1 transient. */

/*
 * The one errno <-> org.vbus1.Error.* table. Registered with sd_bus_error_add_map() on both
 * sides, so sd_bus_error_set_errno() on the daemon names the error and
 * sd_bus_error_get_errno() in vbusctl gives back the errno (and so the same exit status).
 */
extern const sd_bus_error_map vbus_bus_errors[];

/* The error name for ERR (negative or positive errno); NULL when the table has none. */
const char *vbus_bus_error_name(int err);

/*
 * A JSON value as a D-Bus value and back, so the one JSON model of libvbus travels typed:
 * object -> a{sv}, string -> s, integer -> x, double -> d, boolean -> b, array of strings ->
 * as, any other array -> av, null -> an empty av (D-Bus has no null; no other value gives an
 * empty av, so it reads back as null). Reading accepts any D-Bus type
 * (unsigned and signed integers, structs as arrays, dicts with any basic key).
 */
int bus_append_json_object(sd_bus_message *m, struct json_object *obj);         /* a{sv} */
int bus_append_json_object_array(sd_bus_message *m, struct json_object *array); /* aa{sv} */
int bus_read_json_object(sd_bus_message *m, struct json_object **ret);           /* a{sv} */
int bus_read_json_object_array(sd_bus_message *m, struct json_object **ret);     /* aa{sv} */
/* Reads the next complete value of any type. */
int bus_read_json_value(sd_bus_message *m, struct json_object **ret);

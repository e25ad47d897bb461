/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How vbusctl reaches the core: in-process (--direct, --root) or through vbusd (D-Bus). */
#pragma once

#include "libvbus-internal.h"

/*
 * Every verb goes through one of these tables, so the CLI reads the same over both paths.
 * Each op returns what the libvbus call of the same name returns; last_error() gives the
 * cause of the last failure (the libvbus text, or the D-Bus error message).
 */
struct transport_ops {
	const char *name;
	int (*list_parents)(void *t, const char *parent, struct json_object **ret);
	int (*list_types)(void *t, const char *parent, struct json_object **ret);
	/* The device listing, the model (vbus_device_list_free() it). */
	int (*list_devices)(void *t, unsigned flags, const char *name, struct vbus_device ***ret,
			    size_t *ret_n);
	int (*def_load)(void *t, const char *name, struct vbus_def **ret);
	int (*define)(void *t, struct vbus_def *def, unsigned flags);
	int (*undefine)(void *t, const char *name);
	int (*start)(void *t, const char *name);
	/* start with VBUS_START_* flags (D-Bus: StartWithFlags) */
	int (*start_flags)(void *t, const char *name, unsigned flags);
	int (*stop)(void *t, const char *name);
	int (*create)(void *t, struct vbus_def *def, unsigned flags);
	int (*remove)(void *t, const char *name);
	int (*assign)(void *t, const char *name, const char *driver);
	int (*import)(void *t, const char *source, const char *dir, struct json_object **ret);
	/* import with VBUS_IMPORT_* flags (D-Bus: ImportWithFlags) */
	int (*import_flags)(void *t, const char *source, const char *dir, unsigned flags,
			    struct json_object **ret);
	const char *(*last_error)(void *t);
	void (*close)(void *t);
	/* Added later; NULL: the transport cannot do it (vbusctl says so). */
	int (*apply)(void *t, struct json_object *definitions, unsigned flags,
		     struct json_object **ret_plan);
	/* vbus_policy_fill(): what PURPOSE gives DEF (kind, parent name, driver, type). */
	int (*fill)(void *t, struct vbus_def *def, const char *purpose);
	/* The same listing as the JSON document vbusd serves (what vbusctl -j prints, made by
	 * the same renderer from the same model), written to OUT as it is (-EIO: the write fell
	 * short); NULL: not offered (render list_devices()). */
	int (*list_devices_document)(void *t, unsigned flags, const char *name, FILE *out);
	/* The root the core works on (vbusd's Root), so that files it keeps (the CDI specs) are
	 * read where it writes them. The caller frees. */
	int (*root)(void *t, char **ret);
	/* vbus_modify_live(); NULL: the transport cannot do it (vbusctl says so). */
	int (*modify_live)(void *t, const struct vbus_def *def);
};

/* What vbusctl says when no vbusd answers on the system bus (or there is no bus). */
#define VBUSD_NOT_RUNNING "vbusd is not running; start it (systemctl start vbusd) or use --direct"

struct transport {
	const struct transport_ops *ops;
	void *data;
};

/* In-process on ROOT ("/" for --direct). Lib warnings go to stderr as "vbusctl: ...". */
int transport_direct_open(const char *root, struct transport *ret);

/* Through vbusd on the system bus. -EOPNOTSUPP while there is no bus transport (cli/bus.c):
 * vbusctl then runs in-process, as with --direct. */
int transport_bus_open(struct transport *ret);

/* cli/bus.c: prints vbusd's DeviceAdded/DeviceRemoved/DeviceBound signals (one JSON object a
 * line with JSON) until vbusd leaves the bus or the program is interrupted. */
int transport_bus_monitor(bool json);

/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vbus generic netlink interface: manage devices on the virtbus bus.
 *
 * A management device (mgmtdev) is named by the pair BUS_NAME/DEV_NAME of
 * its parent device, e.g. "vbus_sim/vbus_sim1". Devices it creates appear
 * on the virtbus bus as "<DEV_NAME>.<name>", e.g. "vbus_sim1.net0".
 */
#ifndef _UAPI_LINUX_VBUS_H
#define _UAPI_LINUX_VBUS_H

#define VBUS_GENL_NAME		"vbus"
#define VBUS_GENL_VERSION	1
#define VBUS_GENL_MCGRP_MONITOR	"monitor"

/* Longest names accepted, including the terminating NUL. */
#define VBUS_MGMTDEV_NAME_MAX	64	/* BUS_NAME and DEV_NAME */
#define VBUS_DEV_NAME_MAX	32	/* DEV_NAME: [A-Za-z0-9_-]+ */
#define VBUS_TYPE_NAME_MAX	32	/* DEV_TYPE */
#define VBUS_DRIVER_NAME_MAX	64	/* DEV_DRIVER, DEV_DRIVER_OVERRIDE */

enum vbus_cmd {
	VBUS_CMD_UNSPEC,
	/* doit: mgmtdev handle; dump: all. Reply: handle + TYPE entries. */
	VBUS_CMD_MGMTDEV_GET,
	/* mgmtdev handle, DEV_NAME, DEV_TYPE. Also sent to "monitor". */
	VBUS_CMD_DEV_NEW,
	/* mgmtdev handle, DEV_NAME. Also sent to "monitor". */
	VBUS_CMD_DEV_DEL,
	/* doit: mgmtdev handle + DEV_NAME; dump: all, or one mgmtdev's. */
	VBUS_CMD_DEV_GET,
	/*
	 * mgmtdev handle, DEV_NAME and either
	 *   DEV_DRIVER "name": set driver_override to name and rebind;
	 *   DEV_DRIVER "":     clear driver_override, rebind by type match;
	 *   DEV_UNBOUND:       clear driver_override and keep it unbound
	 *                      until the next DEV_SET or driver_override write.
	 */
	VBUS_CMD_DEV_SET,
	/* Notification only: a driver was bound to or unbound from a device.
	 * Carries the device attributes; DEV_DRIVER absent means unbound.
	 */
	VBUS_CMD_DEV_BIND,

	__VBUS_CMD_MAX,
	VBUS_CMD_MAX = __VBUS_CMD_MAX - 1
};

enum vbus_nl_attr { /* not vbus_attr: libvbus.h has struct vbus_attr */
	VBUS_ATTR_UNSPEC,
	VBUS_ATTR_MGMTDEV_BUS_NAME,	/* string, e.g. "vbus_sim" */
	VBUS_ATTR_MGMTDEV_DEV_NAME,	/* string, e.g. "vbus_sim1" */
	VBUS_ATTR_MGMTDEV_TYPE,		/* nest of enum vbus_type_attr, repeated */
	VBUS_ATTR_DEV_NAME,		/* string, e.g. "net0" */
	VBUS_ATTR_DEV_TYPE,		/* string, e.g. "net" */
	VBUS_ATTR_DEV_DRIVER,		/* string: bound driver (GET), wanted driver (SET) */
	VBUS_ATTR_DEV_DRIVER_OVERRIDE,	/* string: current driver_override, if any */
	VBUS_ATTR_DEV_UNBOUND,		/* flag: held unbound (see VBUS_CMD_DEV_SET) */
	VBUS_ATTR_DEV_SYSFS_NAME,	/* string: name on the bus, e.g. "vbus_sim1.net0" */

	__VBUS_ATTR_MAX,
	VBUS_ATTR_MAX = __VBUS_ATTR_MAX - 1
};

enum vbus_type_attr {
	VBUS_TYPE_ATTR_UNSPEC,
	VBUS_TYPE_ATTR_NAME,		/* string */
	VBUS_TYPE_ATTR_MAX_INSTANCES,	/* u32 */
	VBUS_TYPE_ATTR_CUR_INSTANCES,	/* u32 */

	__VBUS_TYPE_ATTR_MAX,
	VBUS_TYPE_ATTR_MAX = __VBUS_TYPE_ATTR_MAX - 1
};

#endif /* _UAPI_LINUX_VBUS_H */

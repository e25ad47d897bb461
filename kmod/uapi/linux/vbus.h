/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vbus generic netlink interface: manage devices on the virtbus bus.
 *
 * A management device (mgmtdev) is named by the pair BUS_NAME/DEV_NAME of
 * its parent device, e.g. "vbus_sim/vbus_sim1". Devices it creates appear
 * on the virtbus bus as "<DEV_NAME>.<name>", e.g. "vbus_sim1.net0", with the
 * modalias "virtbus:<provider>.<type>", e.g. "virtbus:vbus_sim.net".
 * Described by kmod/vbus.yaml.
 */
#ifndef _UAPI_LINUX_VBUS_H
#define _UAPI_LINUX_VBUS_H

#define VBUS_GENL_NAME		"vbus"
#define VBUS_GENL_VERSION	1
#define VBUS_GENL_MCGRP_MONITOR	"monitor"

/* Longest names accepted, including the terminating NUL. */
#define VBUS_MGMTDEV_NAME_MAX	64	/* BUS_NAME and DEV_NAME */
#define VBUS_DEV_NAME_MAX	32	/* DEV_NAME: [A-Za-z0-9_-]+, ASCII only */
#define VBUS_TYPE_NAME_MAX	32	/* DEV_TYPE */
#define VBUS_DRIVER_NAME_MAX	64	/* DEV_DRIVER, DEV_DRIVER_OVERRIDE */
#define VBUS_PROVIDER_NAME_MAX	56	/* PROVIDER: the provider's module name */
#define VBUS_CONFIG_KEY_MAX	32	/* CONFIG_KEY: [a-z0-9_]+ */
#define VBUS_CONFIG_VALUE_MAX	128	/* CONFIG_VALUE */
#define VBUS_CONFIG_MAX_ENTRIES	16	/* DEV_CONFIG entries in one request */

enum vbus_cmd {
	VBUS_CMD_UNSPEC,
	/* doit: mgmtdev handle; dump: all, or one mgmtdev's. Reply: handle, PROVIDER, TYPEs. */
	VBUS_CMD_MGMTDEV_GET,
	/* mgmtdev handle, DEV_NAME, DEV_TYPE, DEV_CONFIG entries. */
	VBUS_CMD_DEV_NEW,
	/* mgmtdev handle, DEV_NAME. */
	VBUS_CMD_DEV_DEL,
	/* doit: mgmtdev handle + DEV_NAME; dump: all, filtered by mgmtdev and/or DEV_NAME. */
	VBUS_CMD_DEV_GET,
	/*
	 * mgmtdev handle, DEV_NAME and at least one of DEV_CONFIG entries (applied first)
	 * and either
	 *   DEV_DRIVER "name": set driver_override to name and rebind;
	 *   DEV_DRIVER "":     clear driver_override, rebind by id match;
	 *   DEV_UNBOUND:       clear driver_override and keep it unbound
	 *                      until the next DEV_SET or driver_override write.
	 */
	VBUS_CMD_DEV_SET,
	/*
	 * Notifications to "monitor", each with an id of its own. The DEV_*_NTF carry the
	 * attributes of a DEV_GET reply; DEV_BIND_NTF without DEV_DRIVER means unbound.
	 */
	VBUS_CMD_DEV_BIND_NTF,
	VBUS_CMD_DEV_NEW_NTF,
	VBUS_CMD_DEV_DEL_NTF,
	VBUS_CMD_DEV_CHANGE_NTF,	/* override, unbound flag or configuration changed */
	VBUS_CMD_MGMTDEV_NEW_NTF,	/* attributes of a MGMTDEV_GET reply */
	VBUS_CMD_MGMTDEV_DEL_NTF,	/* mgmtdev handle and PROVIDER */

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
	VBUS_ATTR_PROVIDER,		/* string: the mgmtdev's provider, e.g. "vbus_sim" */
	VBUS_ATTR_DEV_CONFIG,		/* nest of enum vbus_config_attr, repeated */
	VBUS_ATTR_DEV_MATCH_ID,		/* string: "<provider>.<type>", e.g. "vbus_sim.net" */

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

/* One configuration entry: a key the provider knows and its value, both strings. */
enum vbus_config_attr {
	VBUS_CONFIG_ATTR_UNSPEC,
	VBUS_CONFIG_ATTR_KEY,		/* string, e.g. "mac" */
	VBUS_CONFIG_ATTR_VALUE,		/* string, e.g. "02:00:00:00:00:01" */

	__VBUS_CONFIG_ATTR_MAX,
	VBUS_CONFIG_ATTR_MAX = __VBUS_CONFIG_ATTR_MAX - 1
};

#endif /* _UAPI_LINUX_VBUS_H */

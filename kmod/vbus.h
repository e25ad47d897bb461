/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtbus: a bus of lightweight devices created on request through the
 * "vbus" generic netlink family, for providers (management devices) and
 * the drivers that bind to those devices.
 */
#ifndef _VBUS_H
#define _VBUS_H

#include <linux/device.h>
#include <linux/mod_devicetable.h>
#include <linux/netlink.h>
#include <linux/spinlock.h>
#include <linux/vbus.h>	/* kmod/uapi, through ccflags in Kbuild */

struct vbus_mgmtdev;

/**
 * struct virtbus_device - a device on the virtbus bus
 * @dev: the device; its release() frees this structure
 * @name: name given at creation, unique within the management device
 * @type: device type, one of the management device's types
 * @mgmt_bus: bus name of the management device's parent (copied)
 * @mgmt_dev: device name of the management device's parent (copied)
 * @priv: provider data, set by the provider's dev_add op
 * @override_lock: protects @driver_override and @unbound against the bus
 *	match() running concurrently with a store
 * @driver_override: driver that must bind, or "" for type matching
 * @unbound: matches no driver at all
 *
 * The virtbus core allocates and frees these; providers only see them in
 * their dev_add/dev_del ops. Names are copied so that a device outliving
 * its management device (a held reference) still reports them.
 */
struct virtbus_device {
	struct device dev;
	char name[VBUS_DEV_NAME_MAX];
	char type[VBUS_TYPE_NAME_MAX];
	char mgmt_bus[VBUS_MGMTDEV_NAME_MAX];
	char mgmt_dev[VBUS_MGMTDEV_NAME_MAX];
	void *priv;
	/* private to the virtbus core */
	struct vbus_mgmtdev *mgmtdev;
	struct list_head list;
	spinlock_t override_lock;
	char driver_override[VBUS_DRIVER_NAME_MAX];
	bool unbound;
};

#define to_virtbus_device(d) container_of(d, struct virtbus_device, dev)

/**
 * struct virtbus_device_id - matches a device type
 * @type: type name, e.g. "net"
 * @driver_data: for the driver
 */
struct virtbus_device_id {
	char type[VBUS_TYPE_NAME_MAX];
	kernel_ulong_t driver_data;
};

/**
 * struct virtbus_driver - a driver for virtbus devices
 * @probe: bind to a device; @id is NULL when bound through driver_override
 *	to a type the driver does not list
 * @remove: unbind from a device
 * @id_table: types handled, terminated by an empty entry
 * @driver: the driver core's part; set @driver.name (or the module name is used)
 */
struct virtbus_driver {
	int (*probe)(struct virtbus_device *vdev, const struct virtbus_device_id *id);
	void (*remove)(struct virtbus_device *vdev);
	const struct virtbus_device_id *id_table;
	struct device_driver driver;
};

#define to_virtbus_driver(d) container_of(d, struct virtbus_driver, driver)

int __virtbus_driver_register(struct virtbus_driver *vdrv, struct module *owner,
			      const char *modname);
#define virtbus_driver_register(vdrv) \
	__virtbus_driver_register(vdrv, THIS_MODULE, KBUILD_MODNAME)
void virtbus_driver_unregister(struct virtbus_driver *vdrv);

/**
 * struct vbus_mgmtdev_type - a type of device a management device creates
 * @name: type name, e.g. "net"
 * @max_instances: limit on live devices of this type; read at every
 *	DEV_NEW, so the provider may change it (use WRITE_ONCE())
 */
struct vbus_mgmtdev_type {
	const char *name;
	u32 max_instances;
};

/**
 * struct vbus_mgmtdev_ops - provider callbacks, called with the vbus lock held
 * @dev_add: a device is about to be added (not yet visible); may set
 *	vdev->priv, or refuse with a negative errno and an extack message
 * @dev_del: the device was removed from the bus (called once for every
 *	successful @dev_add); the provider drops what it keeps in vdev->priv
 */
struct vbus_mgmtdev_ops {
	int (*dev_add)(struct vbus_mgmtdev *mdev, struct virtbus_device *vdev,
		       struct netlink_ext_ack *extack);
	void (*dev_del)(struct vbus_mgmtdev *mdev, struct virtbus_device *vdev);
};

/**
 * struct vbus_mgmtdev - a management device, embedded in the provider's data
 * @parent: device whose bus and name form the handle "bus/name"; must
 *	have a bus and stay registered while the mgmtdev is
 * @ops: callbacks
 * @types: types it can create
 * @num_types: entries in @types
 *
 * The provider owns the memory; vbus_mgmtdev_unregister() removes every
 * device it created before returning, after which the provider may free it.
 */
struct vbus_mgmtdev {
	struct device *parent;
	const struct vbus_mgmtdev_ops *ops;
	struct vbus_mgmtdev_type *types;
	unsigned int num_types;
	/* private to the virtbus core */
	struct list_head list;
	struct list_head devices;
	u32 *cur_instances;
};

int vbus_mgmtdev_register(struct vbus_mgmtdev *mdev);
void vbus_mgmtdev_unregister(struct vbus_mgmtdev *mdev);

#endif /* _VBUS_H */

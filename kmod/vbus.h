/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtbus: a bus of lightweight devices created on request through the
 * "vbus" generic netlink family, for providers (management devices) and
 * the drivers that bind to those devices.
 *
 * Matching is scoped by provider, as auxiliary.c scopes ids by module: a
 * device's match id is "<provider>.<type>" (the provider is the module that
 * registered the management device), its modalias "virtbus:<provider>.<type>".
 * A driver lists the ids it handles and declares them with
 * MODULE_ALIAS_VIRTBUS() so that udev loads it when such a device appears.
 *
 * A driver reaches provider data only through the provider's own typed
 * accessor (see vbus_sim.h): the provider embeds struct virtbus_device in a
 * struct of its own (ops->dev_size) and checks virtbus_dev_is_provider()
 * before container_of(), so a device bound through driver_override to a
 * driver of another provider is never misread.
 *
 * Locking rule for drivers and providers: the virtbus core holds no lock of
 * its own while a device is added or deleted, so a driver's probe() and
 * remove() may call every function here except deleting or unregistering
 * what is being probed (the device lock is held, as on every bus). Provider
 * ops are called without core locks too; they must not wait for anything
 * their provider holds around vbus_mgmtdev_unregister().
 */
#ifndef _VBUS_H
#define _VBUS_H

#include <linux/completion.h>
#include <linux/device.h>
#include <linux/mod_devicetable.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/netlink.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/vbus.h>	/* kmod/uapi, through ccflags in Kbuild */

struct vbus_mgmtdev;
struct vbus_mgmtdev_sysfs;

/* "<provider>.<type>" with its NUL */
#define VIRTBUS_MATCH_ID_MAX	(VBUS_PROVIDER_NAME_MAX + VBUS_TYPE_NAME_MAX)

/**
 * MODULE_ALIAS_VIRTBUS - declare that a module drives a provider's device type
 * @provider: the provider's module name, a string literal, e.g. "vbus_sim"
 * @type: the device type, a string literal, e.g. "net"
 *
 * file2alias knows nothing of virtbus, so the alias is written out here; it
 * equals the MODALIAS of the uevent of such a device.
 */
#define MODULE_ALIAS_VIRTBUS(provider, type) MODULE_ALIAS("virtbus:" provider "." type)

/**
 * struct virtbus_device - a device on the virtbus bus
 * @dev: the device; its release() frees the provider's struct around it
 * @name: name given at creation, unique within the management device
 * @type: device type, one of the management device's types
 * @match_id: "<provider>.<type>", what drivers' id tables list
 * @mgmt_bus: bus name of the management device's parent (copied)
 * @mgmt_dev: device name of the management device's parent (copied)
 *
 * The virtbus core allocates (ops->dev_size bytes) and frees these; names
 * are copied so that a device outliving its management device (a held
 * reference) still reports them. The rest is private to the core.
 */
struct virtbus_device {
	struct device dev;
	char name[VBUS_DEV_NAME_MAX];
	char type[VBUS_TYPE_NAME_MAX];
	char match_id[VIRTBUS_MATCH_ID_MAX];
	char mgmt_bus[VBUS_MGMTDEV_NAME_MAX];
	char mgmt_dev[VBUS_MGMTDEV_NAME_MAX];
	/* private to the virtbus core */
	struct vbus_mgmtdev *mgmtdev;
	const struct vbus_mgmtdev_ops *ops;
	struct list_head list;
	int state;
	/* one DEV_SET at a time */
	struct mutex set_lock;
	/* protects driver_override, bound and unbound against match() */
	spinlock_t override_lock;
	char driver_override[VBUS_DRIVER_NAME_MAX];
	char bound[VBUS_DRIVER_NAME_MAX];
	bool unbound;
};

#define to_virtbus_device(d) container_of(d, struct virtbus_device, dev)

/**
 * struct virtbus_device_id - matches a provider's device type
 * @name: "<provider>.<type>", e.g. "vbus_sim.net"
 * @driver_data: for the driver
 */
struct virtbus_device_id {
	char name[VIRTBUS_MATCH_ID_MAX];
	kernel_ulong_t driver_data;
};

/**
 * struct virtbus_driver - a driver for virtbus devices
 * @probe: bind to a device; @id is NULL when bound through driver_override
 *	to an id the driver does not list. May sleep and may call the vbus
 *	functions (see the locking rule at the top of this file).
 * @remove: unbind from a device
 * @id_table: ids handled, terminated by an empty entry
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

/**
 * virtbus_driver_register - register a driver on the virtbus bus
 * @vdrv: the driver, owned by the calling module
 *
 * Return: 0 or a negative errno from driver_register().
 */
#define virtbus_driver_register(vdrv) \
	__virtbus_driver_register(vdrv, THIS_MODULE, KBUILD_MODNAME)
void virtbus_driver_unregister(struct virtbus_driver *vdrv);

bool virtbus_dev_is_provider(const struct virtbus_device *vdev, const char *provider);

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
 * struct vbus_config_entry - one key/value pair of a device's configuration
 * @key: a key the provider knows, e.g. "mac"
 * @value: its value as text, validated by the provider
 */
struct vbus_config_entry {
	const char *key;
	const char *value;
};

struct vbus_config_msg;

int vbus_config_put(struct vbus_config_msg *cmsg, const char *key, const char *fmt, ...)
	__printf(3, 4);

/**
 * struct vbus_mgmtdev_ops - provider callbacks, called without virtbus locks
 * @dev_size: size of the provider's device struct, which embeds struct
 *	virtbus_device at offset 0 (VBUS_DEV_SIZE()); 0 for none
 * @dev_add: a device is about to be added (not yet visible): validate and
 *	store @config (@n entries), or refuse with a negative errno and an
 *	extack message
 * @dev_config: DEV_SET with configuration on a live device: validate every
 *	entry, then apply them all, or refuse and change nothing
 * @dev_config_fill: report the device's configuration with vbus_config_put();
 *	called with the management device's lock held: must not sleep on
 *	anything but the provider's own locks nor call vbus functions
 * @dev_del: the device was removed from the bus (called once for every
 *	successful @dev_add)
 */
struct vbus_mgmtdev_ops {
	size_t dev_size;
	int (*dev_add)(struct vbus_mgmtdev *mdev, struct virtbus_device *vdev,
		       const struct vbus_config_entry *config, unsigned int n,
		       struct netlink_ext_ack *extack);
	int (*dev_config)(struct virtbus_device *vdev, const struct vbus_config_entry *config,
			  unsigned int n, struct netlink_ext_ack *extack);
	int (*dev_config_fill)(struct virtbus_device *vdev, struct vbus_config_msg *cmsg);
	void (*dev_del)(struct vbus_mgmtdev *mdev, struct virtbus_device *vdev);
};

/**
 * VBUS_DEV_SIZE - ops->dev_size for a provider struct embedding a virtbus_device
 * @type: the provider's struct
 * @member: its struct virtbus_device member, which must come first
 */
#define VBUS_DEV_SIZE(type, member) \
	(sizeof(type) + BUILD_BUG_ON_ZERO(offsetof(type, member) != 0))

/**
 * struct vbus_mgmtdev - a management device, embedded in the provider's data
 * @parent: device whose bus and name form the handle "bus/name"; must
 *	have a bus and stay registered while the mgmtdev is
 * @ops: callbacks
 * @types: types it can create
 * @num_types: entries in @types
 *
 * The provider owns the memory; vbus_mgmtdev_unregister() removes every
 * device it created and waits for every user before returning, after which
 * the provider may free it. The rest is private to the virtbus core.
 */
struct vbus_mgmtdev {
	struct device *parent;
	const struct vbus_mgmtdev_ops *ops;
	struct vbus_mgmtdev_type *types;
	unsigned int num_types;
	/* private to the virtbus core */
	char provider[VBUS_PROVIDER_NAME_MAX];
	struct list_head list;
	refcount_t users;
	struct completion released;
	/* protects devices, cur_instances and dead */
	struct mutex lock;
	struct list_head devices;
	u32 *cur_instances;
	bool dead;
	struct vbus_mgmtdev_sysfs *sysfs;
};

int __vbus_mgmtdev_register(struct vbus_mgmtdev *mdev, const char *provider);

/**
 * vbus_mgmtdev_register - make a management device visible to userspace
 * @mdev: filled in by the provider; memory owned by the provider
 *
 * The calling module's name becomes the provider name of @mdev's devices.
 *
 * Return: see __vbus_mgmtdev_register().
 */
#define vbus_mgmtdev_register(mdev) __vbus_mgmtdev_register(mdev, KBUILD_MODNAME)
void vbus_mgmtdev_unregister(struct vbus_mgmtdev *mdev);
int vbus_mgmtdev_available_instances(struct vbus_mgmtdev *mdev, const char *type);
struct vbus_mgmtdev *virtbus_dev_mgmtdev(struct virtbus_device *vdev);

#endif /* _VBUS_H */

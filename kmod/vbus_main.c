// SPDX-License-Identifier: GPL-2.0
/*
 * virtbus: a bus of devices that management devices (providers) create on
 * request from userspace through the "vbus" generic netlink family.
 *
 * Lifetime rules, as in drivers/base/auxiliary.c: the core allocates a
 * struct virtbus_device (inside the provider's struct), initializes it
 * (from then on put_device() frees it), adds it, and frees it only in its
 * release() callback. A management device is owned by its provider;
 * unregistering it deletes its devices and waits until no request uses it.
 *
 * Locking (see vbus_internal.h): vbus_lock guards the list of management
 * devices, each mgmtdev's lock its devices and counts; a device being added
 * or deleted is on the list in state ADDING or DELETING, so that no lock is
 * held while the driver core probes or removes it.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/device.h>
#include <linux/kobject.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <net/genetlink.h>
#include <net/netlink.h>

#include "vbus_internal.h"

/* Protects vbus_mgmtdevs only: never held across probe, remove or device_lock(). */
DEFINE_MUTEX(vbus_lock);
LIST_HEAD(vbus_mgmtdevs);

/* /sys/bus/virtbus/mgmtdevs */
static struct kobject *vbus_mgmtdevs_kobj;

static const struct virtbus_device_id *virtbus_match_id(const struct virtbus_device_id *id,
							const struct virtbus_device *vdev)
{
	for (; id && id->name[0]; id++)
		if (!strcmp(id->name, vdev->match_id))
			return id;
	return NULL;
}

/*
 * The override is read here without the device lock (the driver core calls
 * match() from driver_attach() without it), so both this and every writer
 * take override_lock.
 */
static int virtbus_match(struct device *dev, struct device_driver *drv)
{
	struct virtbus_device *vdev = to_virtbus_device(dev);
	struct virtbus_driver *vdrv = to_virtbus_driver(drv);
	int ret;

	spin_lock(&vdev->override_lock);
	if (vdev->unbound)
		ret = 0;
	else if (vdev->driver_override[0])
		ret = !strcmp(vdev->driver_override, drv->name);
	else
		ret = !!virtbus_match_id(vdrv->id_table, vdev);
	spin_unlock(&vdev->override_lock);

	return ret;
}

static int virtbus_uevent(struct device *dev, struct kobj_uevent_env *env)
{
	struct virtbus_device *vdev = to_virtbus_device(dev);

	return add_uevent_var(env, "MODALIAS=virtbus:%s", vdev->match_id);
}

/* The bound driver's name is kept here so that readers never need the device lock. */
static void virtbus_set_bound(struct virtbus_device *vdev, const char *name)
{
	spin_lock(&vdev->override_lock);
	strscpy(vdev->bound, name, sizeof(vdev->bound));
	spin_unlock(&vdev->override_lock);
}

static int virtbus_probe(struct device *dev)
{
	struct virtbus_driver *vdrv = to_virtbus_driver(dev->driver);
	struct virtbus_device *vdev = to_virtbus_device(dev);
	int ret;

	ret = vdrv->probe(vdev, virtbus_match_id(vdrv->id_table, vdev));
	if (!ret)
		virtbus_set_bound(vdev, dev->driver->name);
	return ret;
}

static void virtbus_remove(struct device *dev)
{
	struct virtbus_driver *vdrv = to_virtbus_driver(dev->driver);
	struct virtbus_device *vdev = to_virtbus_device(dev);

	if (vdrv->remove)
		vdrv->remove(vdev);
	virtbus_set_bound(vdev, "");
}

static ssize_t modalias_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "virtbus:%s\n", to_virtbus_device(dev)->match_id);
}
static DEVICE_ATTR_RO(modalias);

static ssize_t type_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", to_virtbus_device(dev)->type);
}
static DEVICE_ATTR_RO(type);

/**
 * vbus_dev_get_state - read a device's override, bound driver and unbound flag
 * @vdev: the device
 * @override: VBUS_DRIVER_NAME_MAX bytes, or NULL
 * @bound: VBUS_DRIVER_NAME_MAX bytes, or NULL
 * @unbound: set to the unbound flag, or NULL
 */
void vbus_dev_get_state(struct virtbus_device *vdev, char *override, char *bound, bool *unbound)
{
	spin_lock(&vdev->override_lock);
	if (override)
		strscpy(override, vdev->driver_override, VBUS_DRIVER_NAME_MAX);
	if (bound)
		strscpy(bound, vdev->bound, VBUS_DRIVER_NAME_MAX);
	if (unbound)
		*unbound = vdev->unbound;
	spin_unlock(&vdev->override_lock);
}

static ssize_t driver_override_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	char name[VBUS_DRIVER_NAME_MAX];

	vbus_dev_get_state(to_virtbus_device(dev), name, NULL, NULL);
	/* "(null)" for none, as PCI and platform devices print it */
	return sysfs_emit(buf, "%s\n", name[0] ? name : "(null)");
}

/* Like PCI: takes effect at the next probe; writing "\n" clears it. */
static ssize_t driver_override_store(struct device *dev, struct device_attribute *attr,
				     const char *buf, size_t count)
{
	struct virtbus_device *vdev = to_virtbus_device(dev);
	char name[VBUS_DRIVER_NAME_MAX];
	size_t len = count;

	if (len && buf[len - 1] == '\n')
		len--;
	if (len >= sizeof(name) || memchr(buf, '\0', len))
		return -EINVAL;
	memcpy(name, buf, len);
	name[len] = '\0';

	spin_lock(&vdev->override_lock);
	strscpy(vdev->driver_override, name, sizeof(vdev->driver_override));
	vdev->unbound = false;
	spin_unlock(&vdev->override_lock);
	vbus_nl_notify_dev(vdev, VBUS_CMD_DEV_CHANGE_NTF);

	return count;
}
static DEVICE_ATTR_RW(driver_override);

static struct attribute *virtbus_dev_attrs[] = {
	&dev_attr_modalias.attr,
	&dev_attr_type.attr,
	&dev_attr_driver_override.attr,
	NULL,
};
ATTRIBUTE_GROUPS(virtbus_dev);

struct bus_type virtbus_bus = {
	.name = "virtbus",
	.match = virtbus_match,
	.uevent = virtbus_uevent,
	.probe = virtbus_probe,
	.remove = virtbus_remove,
	.dev_groups = virtbus_dev_groups,
};

/**
 * __virtbus_driver_register - register a driver on the virtbus bus
 * @vdrv: the driver, with at least @vdrv->probe set
 * @owner: the module that owns @vdrv
 * @modname: its name, used when @vdrv->driver.name is not set
 *
 * Use virtbus_driver_register(), which fills in @owner and @modname.
 *
 * Return: 0, -EINVAL without a probe callback, or an errno of driver_register().
 */
int __virtbus_driver_register(struct virtbus_driver *vdrv, struct module *owner,
			      const char *modname)
{
	if (WARN_ON(!vdrv->probe))
		return -EINVAL;

	if (!vdrv->driver.name)
		vdrv->driver.name = modname;
	vdrv->driver.owner = owner;
	vdrv->driver.bus = &virtbus_bus;
	vdrv->driver.mod_name = modname;

	return driver_register(&vdrv->driver);
}
EXPORT_SYMBOL_GPL(__virtbus_driver_register);

/**
 * virtbus_driver_unregister - unbind a driver from its devices and remove it
 * @vdrv: a driver registered with virtbus_driver_register()
 */
void virtbus_driver_unregister(struct virtbus_driver *vdrv)
{
	driver_unregister(&vdrv->driver);
}
EXPORT_SYMBOL_GPL(virtbus_driver_unregister);

/**
 * virtbus_dev_is_provider - whether a device was created by a given provider
 * @vdev: a device on the virtbus bus
 * @provider: a provider's module name
 *
 * A provider's typed accessor calls this before container_of(): a driver
 * may be bound through driver_override to a device of any provider.
 *
 * Return: true when @vdev's management device was registered by @provider.
 */
bool virtbus_dev_is_provider(const struct virtbus_device *vdev, const char *provider)
{
	size_t n = strlen(provider);

	return !strncmp(vdev->match_id, provider, n) && vdev->match_id[n] == '.';
}
EXPORT_SYMBOL_GPL(virtbus_dev_is_provider);

/**
 * virtbus_dev_mgmtdev - the management device that created a device
 * @vdev: a device on the virtbus bus, from its driver's probe until remove
 *
 * Return: the management device; valid while @vdev is bound.
 */
struct vbus_mgmtdev *virtbus_dev_mgmtdev(struct virtbus_device *vdev)
{
	return vdev->mgmtdev;
}
EXPORT_SYMBOL_GPL(virtbus_dev_mgmtdev);

const char *vbus_mgmtdev_bus_name(const struct vbus_mgmtdev *mdev)
{
	return mdev->parent->bus->name;
}

const char *vbus_mgmtdev_dev_name(const struct vbus_mgmtdev *mdev)
{
	return dev_name(mdev->parent);
}

static struct vbus_mgmtdev *vbus_mgmtdev_find(const char *bus, const char *name)
{
	struct vbus_mgmtdev *mdev;

	lockdep_assert_held(&vbus_lock);

	list_for_each_entry(mdev, &vbus_mgmtdevs, list)
		if ((!bus || !strcmp(vbus_mgmtdev_bus_name(mdev), bus)) &&
		    !strcmp(vbus_mgmtdev_dev_name(mdev), name))
			return mdev;
	return NULL;
}

/**
 * vbus_mgmtdev_get - find a registered management device and hold it
 * @bus: its parent's bus name
 * @name: its parent's device name
 *
 * Return: the mgmtdev, to be released with vbus_mgmtdev_put(), or NULL.
 */
struct vbus_mgmtdev *vbus_mgmtdev_get(const char *bus, const char *name)
{
	struct vbus_mgmtdev *mdev;

	mutex_lock(&vbus_lock);
	mdev = vbus_mgmtdev_find(bus, name);
	if (mdev)
		refcount_inc(&mdev->users);
	mutex_unlock(&vbus_lock);
	return mdev;
}

/**
 * vbus_mgmtdev_put - release what vbus_mgmtdev_get() holds
 * @mdev: the mgmtdev
 */
void vbus_mgmtdev_put(struct vbus_mgmtdev *mdev)
{
	if (refcount_dec_and_test(&mdev->users))
		complete(&mdev->released);
}

/**
 * vbus_dev_find - a device of a management device, in any state
 * @mdev: the mgmtdev, with its lock held
 * @name: the device's name
 *
 * Return: the device or NULL.
 */
struct virtbus_device *vbus_dev_find(struct vbus_mgmtdev *mdev, const char *name)
{
	struct virtbus_device *vdev;

	lockdep_assert_held(&mdev->lock);

	list_for_each_entry(vdev, &mdev->devices, list)
		if (!strcmp(vdev->name, name))
			return vdev;
	return NULL;
}

static int vbus_mgmtdev_type_index(const struct vbus_mgmtdev *mdev, const char *type)
{
	unsigned int i;

	for (i = 0; i < mdev->num_types; i++)
		if (!strcmp(mdev->types[i].name, type))
			return i;
	return -ENOENT;
}

/**
 * vbus_mgmtdev_available_instances - how many more devices of a type fit
 * @mdev: a registered management device
 * @type: one of its types
 *
 * May be called from a driver's probe (see the locking rule in vbus.h).
 *
 * Return: the number, or -ENOENT for a type @mdev does not have.
 */
int vbus_mgmtdev_available_instances(struct vbus_mgmtdev *mdev, const char *type)
{
	int t = vbus_mgmtdev_type_index(mdev, type);
	u32 max, cur;

	if (t < 0)
		return t;
	mutex_lock(&mdev->lock);
	max = READ_ONCE(mdev->types[t].max_instances);
	cur = mdev->cur_instances[t];
	mutex_unlock(&mdev->lock);
	return cur < max ? min_t(u32, max - cur, INT_MAX) : 0;
}
EXPORT_SYMBOL_GPL(vbus_mgmtdev_available_instances);

/* The only place a virtbus_device (and the provider's struct around it) is freed. */
static void virtbus_dev_release(struct device *dev)
{
	kfree(to_virtbus_device(dev));
}

/* Step one: after this, put_device() frees @vdev through release(). */
static void virtbus_device_init(struct virtbus_device *vdev, struct vbus_mgmtdev *mdev)
{
	device_initialize(&vdev->dev);
	vdev->dev.bus = &virtbus_bus;
	vdev->dev.parent = mdev->parent;
	vdev->dev.release = virtbus_dev_release;
	spin_lock_init(&vdev->override_lock);
	mutex_init(&vdev->set_lock);
	INIT_LIST_HEAD(&vdev->list);
}

/**
 * vbus_name_valid - whether a name is made of ASCII letters, digits, '_' and '-'
 * @name: NUL-terminated
 * @lower_only: lower case letters, digits and '_' only (configuration keys)
 *
 * Bytes >= 0x80 never pass (the kernel's isalnum() accepts 0xc0-0xff).
 *
 * Return: true when valid and not empty.
 */
bool vbus_name_valid(const char *name, bool lower_only)
{
	char c;

	if (!*name)
		return false;
	for (; (c = *name); name++) {
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')
			continue;
		if (!lower_only && ((c >= 'A' && c <= 'Z') || c == '-'))
			continue;
		return false;
	}
	return true;
}

/* Checks a new device against @mdev's state; under its lock. */
static int vbus_dev_new_check(struct vbus_mgmtdev *mdev, const char *name, int t,
			      struct netlink_ext_ack *extack)
{
	lockdep_assert_held(&mdev->lock);

	if (mdev->dead) {
		NL_SET_ERR_MSG_MOD(extack, "Management device is being removed");
		return -ENODEV;
	}
	if (vbus_dev_find(mdev, name)) {
		NL_SET_ERR_MSG_MOD(extack, "Device with this name already exists");
		return -EEXIST;
	}
	if (mdev->cur_instances[t] >= READ_ONCE(mdev->types[t].max_instances)) {
		NL_SET_ERR_MSG_MOD(extack, "Maximum number of devices of this type reached");
		return -ENOSPC;
	}
	return 0;
}

/* Takes a device in state DELETING off the bus and the list; drops the list's reference. */
static void vbus_dev_remove(struct vbus_mgmtdev *mdev, struct virtbus_device *vdev)
{
	int t = vbus_mgmtdev_type_index(mdev, vdev->type);

	device_del(&vdev->dev);
	if (mdev->ops->dev_del)
		mdev->ops->dev_del(mdev, vdev);

	mutex_lock(&mdev->lock);
	list_del(&vdev->list);
	if (!WARN_ON(t < 0))
		mdev->cur_instances[t]--;
	mutex_unlock(&mdev->lock);

	/* Drops the reference of virtbus_device_init(); release() frees. */
	put_device(&vdev->dev);
}

/**
 * vbus_dev_new - create, add and probe a device
 * @mdev: a management device the caller holds (vbus_mgmtdev_get())
 * @name: the device's name
 * @type: one of @mdev's types
 * @config: configuration entries for the provider
 * @n: number of entries
 * @extack: for the message of every failure
 *
 * Return: 0 or a negative errno.
 */
int vbus_dev_new(struct vbus_mgmtdev *mdev, const char *name, const char *type,
		 const struct vbus_config_entry *config, unsigned int n,
		 struct netlink_ext_ack *extack)
{
	size_t size = max(mdev->ops->dev_size, sizeof(struct virtbus_device));
	struct virtbus_device *vdev;
	int t, err;

	if (!vbus_name_valid(name, false)) {
		NL_SET_ERR_MSG_MOD(extack, "Device name must be made of ASCII [A-Za-z0-9_-]");
		return -EINVAL;
	}
	t = vbus_mgmtdev_type_index(mdev, type);
	if (t < 0) {
		NL_SET_ERR_MSG_MOD(extack, "Management device does not support this device type");
		return -EOPNOTSUPP;
	}
	if (n && !mdev->ops->dev_add) {
		NL_SET_ERR_MSG_MOD(extack, "Management device takes no configuration");
		return -EOPNOTSUPP;
	}
	/* Early answer for the usual refusals; checked again when the device is listed. */
	mutex_lock(&mdev->lock);
	err = vbus_dev_new_check(mdev, name, t, extack);
	mutex_unlock(&mdev->lock);
	if (err)
		return err;

	vdev = kzalloc(size, GFP_KERNEL);
	if (!vdev) {
		NL_SET_ERR_MSG_MOD(extack, "Out of memory for the device");
		return -ENOMEM;
	}
	strscpy(vdev->name, name, sizeof(vdev->name));
	strscpy(vdev->type, type, sizeof(vdev->type));
	snprintf(vdev->match_id, sizeof(vdev->match_id), "%s.%s", mdev->provider, type);
	strscpy(vdev->mgmt_bus, vbus_mgmtdev_bus_name(mdev), sizeof(vdev->mgmt_bus));
	strscpy(vdev->mgmt_dev, vbus_mgmtdev_dev_name(mdev), sizeof(vdev->mgmt_dev));
	vdev->mgmtdev = mdev;
	vdev->ops = mdev->ops;
	virtbus_device_init(vdev, mdev);
	/* From here on put_device() frees vdev. */

	err = dev_set_name(&vdev->dev, "%s.%s", vdev->mgmt_dev, name);
	if (err) {
		NL_SET_ERR_MSG_MOD(extack, "Out of memory for the device name");
		goto err_put;
	}

	if (mdev->ops->dev_add) {
		err = mdev->ops->dev_add(mdev, vdev, config, n, extack);
		if (err) {
			if (!extack->_msg)
				NL_SET_ERR_MSG_MOD(extack, "Management device refused the device");
			goto err_put;
		}
	}

	mutex_lock(&mdev->lock);
	err = vbus_dev_new_check(mdev, name, t, extack);
	if (!err) {
		vdev->state = VBUS_DEV_ADDING;
		list_add_tail(&vdev->list, &mdev->devices);
		mdev->cur_instances[t]++;
	}
	mutex_unlock(&mdev->lock);
	if (err)
		goto err_del_op;

	/* Step two: visible, uevent sent, drivers probed; no virtbus lock held. */
	err = device_add(&vdev->dev);
	if (err) {
		NL_SET_ERR_MSG_MOD(extack, "Failed to add the device to the virtbus bus");
		mutex_lock(&mdev->lock);
		list_del(&vdev->list);
		mdev->cur_instances[t]--;
		mutex_unlock(&mdev->lock);
		goto err_del_op;
	}

	mutex_lock(&mdev->lock);
	vdev->state = mdev->dead ? VBUS_DEV_DELETING : VBUS_DEV_LIVE;
	mutex_unlock(&mdev->lock);
	if (vdev->state == VBUS_DEV_DELETING) {
		/* vbus_mgmtdev_unregister() began meanwhile and waits for us. */
		vbus_dev_remove(mdev, vdev);
		NL_SET_ERR_MSG_MOD(extack, "Management device was removed meanwhile");
		return -ENODEV;
	}
	return 0;

err_del_op:
	if (mdev->ops->dev_del)
		mdev->ops->dev_del(mdev, vdev);
err_put:
	put_device(&vdev->dev);
	return err;
}

/**
 * vbus_dev_del - delete a device
 * @mdev: a management device the caller holds
 * @name: the device's name
 * @extack: for the message of a failure
 *
 * Return: 0, or -ENODEV when @mdev has no such device.
 */
int vbus_dev_del(struct vbus_mgmtdev *mdev, const char *name, struct netlink_ext_ack *extack)
{
	struct virtbus_device *vdev;

	mutex_lock(&mdev->lock);
	vdev = vbus_dev_find(mdev, name);
	if (!vdev || vdev->state != VBUS_DEV_LIVE) {
		mutex_unlock(&mdev->lock);
		NL_SET_ERR_MSG_MOD(extack, "Device not found");
		return -ENODEV;
	}
	vdev->state = VBUS_DEV_DELETING;
	mutex_unlock(&mdev->lock);

	vbus_dev_remove(mdev, vdev);
	return 0;
}

static int vbus_dev_set_driver(struct virtbus_device *vdev, const char *driver, bool unbound,
			       struct netlink_ext_ack *extack)
{
	struct device *dev = &vdev->dev;
	char bound[VBUS_DRIVER_NAME_MAX];
	int ret;

	spin_lock(&vdev->override_lock);
	strscpy(vdev->driver_override, driver, sizeof(vdev->driver_override));
	vdev->unbound = unbound;
	strscpy(bound, vdev->bound, sizeof(bound));
	spin_unlock(&vdev->override_lock);
	vbus_nl_notify_dev(vdev, VBUS_CMD_DEV_CHANGE_NTF);

	/* No-op shortcut: already bound to the driver asked for. */
	if (driver[0] && !strcmp(bound, driver))
		return 0;

	device_release_driver(dev);
	if (unbound)
		return 0;

	ret = device_attach(dev);
	if (ret < 0) {
		NL_SET_ERR_MSG_MOD(extack, "Failed to bind a driver to the device");
		return ret;
	}
	/* Not an error: the override stays and applies once the driver loads. */
	if (!ret && driver[0])
		NL_SET_ERR_MSG_MOD(extack, "Driver not loaded or refused the device; left unbound");
	return 0;
}

/**
 * vbus_dev_set - configure a device and/or choose its driver
 * @mdev: a management device the caller holds
 * @name: the device's name
 * @config: configuration entries for the provider, applied first
 * @n: number of entries
 * @driver: the driver to bind, "" for id matching, NULL to leave the binding
 * @unbound: keep the device unbound (with @driver NULL)
 * @extack: for the message of a failure, or a warning
 *
 * Return: 0 or a negative errno.
 */
int vbus_dev_set(struct vbus_mgmtdev *mdev, const char *name,
		 const struct vbus_config_entry *config, unsigned int n,
		 const char *driver, bool unbound, struct netlink_ext_ack *extack)
{
	struct virtbus_device *vdev;
	int err = 0;

	mutex_lock(&mdev->lock);
	vdev = vbus_dev_find(mdev, name);
	if (!vdev || vdev->state != VBUS_DEV_LIVE) {
		mutex_unlock(&mdev->lock);
		NL_SET_ERR_MSG_MOD(extack, "Device not found");
		return -ENODEV;
	}
	get_device(&vdev->dev);
	mutex_unlock(&mdev->lock);

	mutex_lock(&vdev->set_lock);
	if (n) {
		if (!mdev->ops->dev_config) {
			NL_SET_ERR_MSG_MOD(extack, "Management device cannot reconfigure devices");
			err = -EOPNOTSUPP;
		} else {
			err = mdev->ops->dev_config(vdev, config, n, extack);
			if (err && !extack->_msg)
				NL_SET_ERR_MSG_MOD(extack,
						   "Management device refused the configuration");
		}
		if (!err && !driver && !unbound)
			vbus_nl_notify_dev(vdev, VBUS_CMD_DEV_CHANGE_NTF);
	}
	if (!err && (driver || unbound))
		err = vbus_dev_set_driver(vdev, driver ?: "", unbound, extack);
	mutex_unlock(&vdev->set_lock);

	put_device(&vdev->dev);
	return err;
}

/* ---- sysfs: /sys/bus/virtbus/mgmtdevs/BUS:DEV/types/TYPE ---------------------------------- */

struct vbus_mgmtdev_kobj {
	struct kobject kobj;
	struct vbus_mgmtdev *mdev;
	int type;	/* index in mdev->types, or -1 for the mgmtdev's directory */
};

struct vbus_mgmtdev_sysfs {
	struct vbus_mgmtdev_kobj *dir;
	struct kobject *types;
	struct vbus_mgmtdev_kobj *type[];
};

#define to_mkobj(k) container_of(k, struct vbus_mgmtdev_kobj, kobj)

static void vbus_mkobj_release(struct kobject *kobj)
{
	kfree(to_mkobj(kobj));
}

/* sysfs removal drains these before vbus_mgmtdev_unregister() goes on: mdev is valid. */
static ssize_t provider_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", to_mkobj(kobj)->mdev->provider);
}

static struct kobj_attribute vbus_attr_provider = __ATTR_RO(provider);

static struct attribute *vbus_mgmtdev_attrs[] = {
	&vbus_attr_provider.attr,
	NULL,
};
ATTRIBUTE_GROUPS(vbus_mgmtdev);

static ssize_t max_instances_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	struct vbus_mgmtdev_kobj *mk = to_mkobj(kobj);

	return sysfs_emit(buf, "%u\n", READ_ONCE(mk->mdev->types[mk->type].max_instances));
}

static struct kobj_attribute vbus_attr_max_instances = __ATTR_RO(max_instances);

static ssize_t available_instances_show(struct kobject *kobj, struct kobj_attribute *attr,
					char *buf)
{
	struct vbus_mgmtdev_kobj *mk = to_mkobj(kobj);

	return sysfs_emit(buf, "%d\n", vbus_mgmtdev_available_instances(mk->mdev,
					mk->mdev->types[mk->type].name));
}

static struct kobj_attribute vbus_attr_available_instances = __ATTR_RO(available_instances);

static ssize_t match_id_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	struct vbus_mgmtdev_kobj *mk = to_mkobj(kobj);

	return sysfs_emit(buf, "%s.%s\n", mk->mdev->provider, mk->mdev->types[mk->type].name);
}

static struct kobj_attribute vbus_attr_match_id = __ATTR_RO(match_id);

static struct attribute *vbus_mgmtdev_type_attrs[] = {
	&vbus_attr_max_instances.attr,
	&vbus_attr_available_instances.attr,
	&vbus_attr_match_id.attr,
	NULL,
};
ATTRIBUTE_GROUPS(vbus_mgmtdev_type);

static struct kobj_type vbus_mgmtdev_ktype = {
	.release = vbus_mkobj_release,
	.sysfs_ops = &kobj_sysfs_ops,
	.default_groups = vbus_mgmtdev_groups,
};

static struct kobj_type vbus_mgmtdev_type_ktype = {
	.release = vbus_mkobj_release,
	.sysfs_ops = &kobj_sysfs_ops,
	.default_groups = vbus_mgmtdev_type_groups,
};

static struct vbus_mgmtdev_kobj *vbus_mkobj_add(struct vbus_mgmtdev *mdev, int type,
						struct kobj_type *ktype, struct kobject *parent,
						const char *name)
{
	struct vbus_mgmtdev_kobj *mk;

	mk = kzalloc(sizeof(*mk), GFP_KERNEL);
	if (!mk)
		return NULL;
	mk->mdev = mdev;
	mk->type = type;
	if (kobject_init_and_add(&mk->kobj, ktype, parent, "%s", name)) {
		kobject_put(&mk->kobj);
		return NULL;
	}
	return mk;
}

static void vbus_mgmtdev_sysfs_del(struct vbus_mgmtdev *mdev)
{
	struct vbus_mgmtdev_sysfs *s = mdev->sysfs;
	unsigned int i;

	if (!s)
		return;
	for (i = 0; i < mdev->num_types; i++)
		if (s->type[i])
			kobject_put(&s->type[i]->kobj);
	kobject_put(s->types);
	if (s->dir) {
		sysfs_remove_link(&s->dir->kobj, "parent");
		kobject_put(&s->dir->kobj);
	}
	kfree(s);
	mdev->sysfs = NULL;
}

static int vbus_mgmtdev_sysfs_add(struct vbus_mgmtdev *mdev)
{
	char name[2 * VBUS_MGMTDEV_NAME_MAX];
	struct vbus_mgmtdev_sysfs *s;
	unsigned int i;

	s = kzalloc(struct_size(s, type, mdev->num_types), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	mdev->sysfs = s;
	snprintf(name, sizeof(name), "%s:%s", vbus_mgmtdev_bus_name(mdev),
		 vbus_mgmtdev_dev_name(mdev));
	s->dir = vbus_mkobj_add(mdev, -1, &vbus_mgmtdev_ktype, vbus_mgmtdevs_kobj, name);
	if (!s->dir)
		goto err;
	if (sysfs_create_link(&s->dir->kobj, &mdev->parent->kobj, "parent"))
		goto err;
	s->types = kobject_create_and_add("types", &s->dir->kobj);
	if (!s->types)
		goto err;
	for (i = 0; i < mdev->num_types; i++) {
		s->type[i] = vbus_mkobj_add(mdev, i, &vbus_mgmtdev_type_ktype, s->types,
					    mdev->types[i].name);
		if (!s->type[i])
			goto err;
	}
	return 0;
err:
	vbus_mgmtdev_sysfs_del(mdev);
	return -ENOMEM;
}

/* ---- management devices -------------------------------------------------------------------- */

/**
 * __vbus_mgmtdev_register - make a management device visible to userspace
 * @mdev: filled in by the provider; memory owned by the provider
 * @provider: the provider's module name (vbus_mgmtdev_register() passes it)
 *
 * Return: 0, or -EINVAL for an incomplete @mdev or a type name that is not
 * ASCII [A-Za-z0-9_-], -ENAMETOOLONG, -EEXIST when its handle or its
 * parent's device name is taken, -ENOMEM.
 */
int __vbus_mgmtdev_register(struct vbus_mgmtdev *mdev, const char *provider)
{
	unsigned int i;
	int err = 0;

	if (!mdev->parent || !mdev->parent->bus || !mdev->ops || !mdev->num_types || !provider)
		return -EINVAL;
	if (mdev->ops->dev_size && mdev->ops->dev_size < sizeof(struct virtbus_device))
		return -EINVAL;
	if (strlen(mdev->parent->bus->name) >= VBUS_MGMTDEV_NAME_MAX ||
	    strlen(dev_name(mdev->parent)) >= VBUS_MGMTDEV_NAME_MAX ||
	    strlen(provider) >= VBUS_PROVIDER_NAME_MAX)
		return -ENAMETOOLONG;
	for (i = 0; i < mdev->num_types; i++)
		if (!mdev->types[i].name || !vbus_name_valid(mdev->types[i].name, false) ||
		    strlen(mdev->types[i].name) >= VBUS_TYPE_NAME_MAX)
			return -EINVAL;

	strscpy(mdev->provider, provider, sizeof(mdev->provider));
	mdev->cur_instances = kcalloc(mdev->num_types, sizeof(*mdev->cur_instances), GFP_KERNEL);
	if (!mdev->cur_instances)
		return -ENOMEM;
	INIT_LIST_HEAD(&mdev->devices);
	mutex_init(&mdev->lock);
	refcount_set(&mdev->users, 1);
	init_completion(&mdev->released);
	mdev->dead = false;
	mdev->sysfs = NULL;

	mutex_lock(&vbus_lock);
	/* Device names on the bus are "<parent name>.<name>": parent names are unique. */
	if (vbus_mgmtdev_find(NULL, vbus_mgmtdev_dev_name(mdev))) {
		err = -EEXIST;
	} else {
		err = vbus_mgmtdev_sysfs_add(mdev);
		if (!err)
			list_add_tail(&mdev->list, &vbus_mgmtdevs);
	}
	mutex_unlock(&vbus_lock);

	if (err) {
		kfree(mdev->cur_instances);
		mdev->cur_instances = NULL;
		return err;
	}
	vbus_nl_notify_mgmtdev(mdev, VBUS_CMD_MGMTDEV_NEW_NTF);
	return 0;
}
EXPORT_SYMBOL_GPL(__vbus_mgmtdev_register);

/**
 * vbus_mgmtdev_unregister - delete every device of @mdev and hide it
 * @mdev: a registered management device
 *
 * Calls the dev_del op for each device and waits until no request uses
 * @mdev; the provider may free @mdev on return. Must not be called from a
 * probe or remove of one of @mdev's devices.
 */
void vbus_mgmtdev_unregister(struct vbus_mgmtdev *mdev)
{
	struct virtbus_device *vdev;

	mutex_lock(&vbus_lock);
	list_del(&mdev->list);
	vbus_mgmtdev_sysfs_del(mdev);
	mutex_unlock(&vbus_lock);

	mutex_lock(&mdev->lock);
	mdev->dead = true;
	for (;;) {
		struct virtbus_device *found = NULL;

		list_for_each_entry_reverse(vdev, &mdev->devices, list) {
			if (vdev->state == VBUS_DEV_LIVE) {
				found = vdev;
				break;
			}
		}
		if (!found)
			break;
		found->state = VBUS_DEV_DELETING;
		mutex_unlock(&mdev->lock);
		vbus_dev_remove(mdev, found);
		mutex_lock(&mdev->lock);
	}
	mutex_unlock(&mdev->lock);

	/* Requests in flight finish (an ADDING device deletes itself). */
	vbus_mgmtdev_put(mdev);
	wait_for_completion(&mdev->released);
	WARN_ON(!list_empty(&mdev->devices));

	vbus_nl_notify_mgmtdev(mdev, VBUS_CMD_MGMTDEV_DEL_NTF);
	kfree(mdev->cur_instances);
	mdev->cur_instances = NULL;
	mutex_destroy(&mdev->lock);
}
EXPORT_SYMBOL_GPL(vbus_mgmtdev_unregister);

static int __init vbus_init(void)
{
	int err;

	err = bus_register(&virtbus_bus);
	if (err)
		return err;

	vbus_mgmtdevs_kobj = kobject_create_and_add("mgmtdevs", &bus_get_kset(&virtbus_bus)->kobj);
	if (!vbus_mgmtdevs_kobj) {
		err = -ENOMEM;
		goto err_bus;
	}

	err = vbus_nl_init();
	if (err)
		goto err_kobj;
	return 0;

err_kobj:
	kobject_put(vbus_mgmtdevs_kobj);
err_bus:
	bus_unregister(&virtbus_bus);
	return err;
}

static void __exit vbus_exit(void)
{
	vbus_nl_exit();
	/* Providers hold a module reference through the exported symbols. */
	WARN_ON(!list_empty(&vbus_mgmtdevs));
	kobject_put(vbus_mgmtdevs_kobj);
	bus_unregister(&virtbus_bus);
}

module_init(vbus_init);
module_exit(vbus_exit);

MODULE_DESCRIPTION("virtbus bus and vbus generic netlink management");
MODULE_LICENSE("GPL");
MODULE_ALIAS_GENL_FAMILY(VBUS_GENL_NAME);

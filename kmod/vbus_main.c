// SPDX-License-Identifier: GPL-2.0
/*
 * virtbus: a bus of devices that management devices (providers) create on
 * request from userspace through the "vbus" generic netlink family.
 *
 * Lifetime rules, as in drivers/base/auxiliary.c: the core allocates a
 * struct virtbus_device, initializes it (from then on put_device() frees
 * it), adds it, and frees it only in its release() callback. A management
 * device is owned by its provider; unregistering it deletes its devices.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ctype.h>
#include <linux/device.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/genetlink.h>
#include <net/netlink.h>

#include "vbus_internal.h"

DEFINE_MUTEX(vbus_lock);
LIST_HEAD(vbus_mgmtdevs);

static const struct virtbus_device_id *virtbus_match_id(const struct virtbus_device_id *id,
							const struct virtbus_device *vdev)
{
	for (; id && id->type[0]; id++)
		if (!strcmp(id->type, vdev->type))
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

	return add_uevent_var(env, "MODALIAS=virtbus:%s", vdev->type);
}

static int virtbus_probe(struct device *dev)
{
	struct virtbus_driver *vdrv = to_virtbus_driver(dev->driver);
	struct virtbus_device *vdev = to_virtbus_device(dev);

	return vdrv->probe(vdev, virtbus_match_id(vdrv->id_table, vdev));
}

static void virtbus_remove(struct device *dev)
{
	struct virtbus_driver *vdrv = to_virtbus_driver(dev->driver);

	if (vdrv->remove)
		vdrv->remove(to_virtbus_device(dev));
}

static ssize_t modalias_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "virtbus:%s\n", to_virtbus_device(dev)->type);
}
static DEVICE_ATTR_RO(modalias);

static ssize_t type_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", to_virtbus_device(dev)->type);
}
static DEVICE_ATTR_RO(type);

void vbus_dev_get_override(struct virtbus_device *vdev, char *buf, size_t size, bool *unbound)
{
	spin_lock(&vdev->override_lock);
	strscpy(buf, vdev->driver_override, size);
	*unbound = vdev->unbound;
	spin_unlock(&vdev->override_lock);
}

static ssize_t driver_override_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	char name[VBUS_DRIVER_NAME_MAX];
	bool unbound;

	vbus_dev_get_override(to_virtbus_device(dev), name, sizeof(name), &unbound);
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

void virtbus_driver_unregister(struct virtbus_driver *vdrv)
{
	driver_unregister(&vdrv->driver);
}
EXPORT_SYMBOL_GPL(virtbus_driver_unregister);

const char *vbus_mgmtdev_bus_name(const struct vbus_mgmtdev *mdev)
{
	return mdev->parent->bus->name;
}

const char *vbus_mgmtdev_dev_name(const struct vbus_mgmtdev *mdev)
{
	return dev_name(mdev->parent);
}

struct vbus_mgmtdev *vbus_mgmtdev_find(const char *bus, const char *name)
{
	struct vbus_mgmtdev *mdev;

	lockdep_assert_held(&vbus_lock);

	list_for_each_entry(mdev, &vbus_mgmtdevs, list)
		if (!strcmp(vbus_mgmtdev_bus_name(mdev), bus) &&
		    !strcmp(vbus_mgmtdev_dev_name(mdev), name))
			return mdev;
	return NULL;
}

struct virtbus_device *vbus_dev_find(struct vbus_mgmtdev *mdev, const char *name)
{
	struct virtbus_device *vdev;

	lockdep_assert_held(&vbus_lock);

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

/* The only place a virtbus_device is freed. */
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
	INIT_LIST_HEAD(&vdev->list);
}

static bool vbus_name_valid(const char *name)
{
	if (!*name)
		return false;
	for (; *name; name++)
		if (!isalnum(*name) && *name != '_' && *name != '-')
			return false;
	return true;
}

int vbus_dev_new(struct vbus_mgmtdev *mdev, const char *name, const char *type,
		 struct netlink_ext_ack *extack)
{
	struct virtbus_device *vdev;
	struct device *other;
	int t, err;

	lockdep_assert_held(&vbus_lock);

	if (!vbus_name_valid(name)) {
		NL_SET_ERR_MSG_MOD(extack, "Device name must be made of [A-Za-z0-9_-]");
		return -EINVAL;
	}
	t = vbus_mgmtdev_type_index(mdev, type);
	if (t < 0) {
		NL_SET_ERR_MSG_MOD(extack, "Management device does not support this device type");
		return -EOPNOTSUPP;
	}
	if (mdev->cur_instances[t] >= READ_ONCE(mdev->types[t].max_instances)) {
		NL_SET_ERR_MSG_MOD(extack, "Maximum number of devices of this type reached");
		return -ENOSPC;
	}
	if (vbus_dev_find(mdev, name)) {
		NL_SET_ERR_MSG_MOD(extack, "Device with this name already exists");
		return -EEXIST;
	}

	vdev = kzalloc(sizeof(*vdev), GFP_KERNEL);
	if (!vdev)
		return -ENOMEM;
	strscpy(vdev->name, name, sizeof(vdev->name));
	strscpy(vdev->type, type, sizeof(vdev->type));
	strscpy(vdev->mgmt_bus, vbus_mgmtdev_bus_name(mdev), sizeof(vdev->mgmt_bus));
	strscpy(vdev->mgmt_dev, vbus_mgmtdev_dev_name(mdev), sizeof(vdev->mgmt_dev));
	virtbus_device_init(vdev, mdev);
	/* From here on put_device() frees vdev. */

	err = dev_set_name(&vdev->dev, "%s.%s", vdev->mgmt_dev, name);
	if (err) {
		NL_SET_ERR_MSG_MOD(extack, "Out of memory for the device name");
		goto err_put;
	}

	/* Another mgmtdev with the same device name on another bus. */
	other = bus_find_device_by_name(&virtbus_bus, NULL, dev_name(&vdev->dev));
	if (other) {
		put_device(other);
		NL_SET_ERR_MSG_MOD(extack, "A device with this name exists on the virtbus bus");
		err = -EEXIST;
		goto err_put;
	}

	if (mdev->ops->dev_add) {
		err = mdev->ops->dev_add(mdev, vdev, extack);
		if (err) {
			if (!extack->_msg)
				NL_SET_ERR_MSG_MOD(extack, "Management device refused the device");
			goto err_put;
		}
	}

	vdev->mgmtdev = mdev;
	/* Step two: visible, uevent sent, drivers probed. */
	err = device_add(&vdev->dev);
	if (err) {
		NL_SET_ERR_MSG_MOD(extack, "Failed to add the device to the virtbus bus");
		if (mdev->ops->dev_del)
			mdev->ops->dev_del(mdev, vdev);
		goto err_put;
	}

	list_add_tail(&vdev->list, &mdev->devices);
	mdev->cur_instances[t]++;
	return 0;

err_put:
	put_device(&vdev->dev);
	return err;
}

void vbus_dev_del(struct virtbus_device *vdev)
{
	struct vbus_mgmtdev *mdev = vdev->mgmtdev;
	int t;

	lockdep_assert_held(&vbus_lock);

	list_del(&vdev->list);
	t = vbus_mgmtdev_type_index(mdev, vdev->type);
	if (!WARN_ON(t < 0))
		mdev->cur_instances[t]--;

	device_del(&vdev->dev);
	if (mdev->ops->dev_del)
		mdev->ops->dev_del(mdev, vdev);
	vdev->mgmtdev = NULL;
	/* Drops the reference of virtbus_device_init(); release() frees. */
	put_device(&vdev->dev);
}

int vbus_dev_set_driver(struct virtbus_device *vdev, const char *driver, bool unbound,
			struct netlink_ext_ack *extack)
{
	struct device *dev = &vdev->dev;
	bool same;
	int ret;

	lockdep_assert_held(&vbus_lock);

	if (!driver)
		driver = "";

	spin_lock(&vdev->override_lock);
	strscpy(vdev->driver_override, driver, sizeof(vdev->driver_override));
	vdev->unbound = unbound;
	spin_unlock(&vdev->override_lock);

	/* No-op shortcut: already bound to the driver asked for. */
	device_lock(dev);
	same = driver[0] && dev->driver && !strcmp(dev->driver->name, driver);
	device_unlock(dev);
	if (same)
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
 * vbus_mgmtdev_register - make a management device visible to userspace
 * @mdev: filled in by the provider; memory owned by the provider
 *
 * Return: 0, or -EINVAL for an incomplete @mdev, -EEXIST when its handle
 * is taken, -ENOMEM.
 */
int vbus_mgmtdev_register(struct vbus_mgmtdev *mdev)
{
	unsigned int i;
	int err = 0;

	if (!mdev->parent || !mdev->parent->bus || !mdev->ops || !mdev->num_types)
		return -EINVAL;
	if (strlen(mdev->parent->bus->name) >= VBUS_MGMTDEV_NAME_MAX ||
	    strlen(dev_name(mdev->parent)) >= VBUS_MGMTDEV_NAME_MAX)
		return -ENAMETOOLONG;
	for (i = 0; i < mdev->num_types; i++)
		if (!mdev->types[i].name || !mdev->types[i].name[0] ||
		    strlen(mdev->types[i].name) >= VBUS_TYPE_NAME_MAX)
			return -EINVAL;

	mdev->cur_instances = kcalloc(mdev->num_types, sizeof(*mdev->cur_instances), GFP_KERNEL);
	if (!mdev->cur_instances)
		return -ENOMEM;
	INIT_LIST_HEAD(&mdev->devices);

	mutex_lock(&vbus_lock);
	if (vbus_mgmtdev_find(vbus_mgmtdev_bus_name(mdev), vbus_mgmtdev_dev_name(mdev)))
		err = -EEXIST;
	else
		list_add_tail(&mdev->list, &vbus_mgmtdevs);
	mutex_unlock(&vbus_lock);

	if (err) {
		kfree(mdev->cur_instances);
		mdev->cur_instances = NULL;
	}
	return err;
}
EXPORT_SYMBOL_GPL(vbus_mgmtdev_register);

/**
 * vbus_mgmtdev_unregister - delete every device of @mdev and hide it
 * @mdev: a registered management device
 *
 * Calls the dev_del op for each device; the provider may free @mdev on return.
 */
void vbus_mgmtdev_unregister(struct vbus_mgmtdev *mdev)
{
	struct virtbus_device *vdev, *tmp;

	mutex_lock(&vbus_lock);
	list_del(&mdev->list);
	list_for_each_entry_safe_reverse(vdev, tmp, &mdev->devices, list)
		vbus_dev_del(vdev);
	mutex_unlock(&vbus_lock);

	kfree(mdev->cur_instances);
	mdev->cur_instances = NULL;
}
EXPORT_SYMBOL_GPL(vbus_mgmtdev_unregister);

static int __init vbus_init(void)
{
	int err;

	err = bus_register(&virtbus_bus);
	if (err)
		return err;

	err = vbus_nl_init();
	if (err) {
		bus_unregister(&virtbus_bus);
		return err;
	}
	return 0;
}

static void __exit vbus_exit(void)
{
	vbus_nl_exit();
	/* Providers hold a module reference through the exported symbols. */
	WARN_ON(!list_empty(&vbus_mgmtdevs));
	bus_unregister(&virtbus_bus);
}

module_init(vbus_init);
module_exit(vbus_exit);

MODULE_DESCRIPTION("virtbus bus and vbus generic netlink management");
MODULE_LICENSE("GPL");
MODULE_ALIAS_GENL_FAMILY(VBUS_GENL_NAME);

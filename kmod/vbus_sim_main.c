// SPDX-License-Identifier: GPL-2.0
/*
 * vbus_sim: simulated parents on their own bus "vbus_sim", created and
 * deleted by writing an ID to /sys/bus/vbus_sim/{new,del}_device (like
 * netdevsim). Each parent is a vbus management device with types net and
 * blk, and a devlink instance that creates subfunctions; two virtbus
 * drivers, vbus_sim_net and vbus_sim_blk, make driver choice observable.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <net/netlink.h>

#include "vbus_sim.h"

#define VBUS_SIM_MAX_INSTANCES	8

/* Protects vbus_sim_devs and vbus_sim_enabled. */
static DEFINE_MUTEX(vbus_sim_lock);
static LIST_HEAD(vbus_sim_devs);
static bool vbus_sim_enabled;
static struct dentry *vbus_sim_ddir;

static struct bus_type vbus_sim_bus;

static int vbus_sim_mgmt_dev_add(struct vbus_mgmtdev *mdev, struct virtbus_device *vdev,
				 struct netlink_ext_ack *extack)
{
	struct vbus_sim_dev *sim = container_of(mdev, struct vbus_sim_dev, mgmt);
	u32 err = xchg(&sim->fail_next_dev_new, 0);

	if (err) {
		NL_SET_ERR_MSG_MOD(extack, "Injected failure (debugfs fail_next_dev_new)");
		return -(int)min_t(u32, err, MAX_ERRNO);
	}
	vdev->priv = sim;
	return 0;
}

static void vbus_sim_mgmt_dev_del(struct vbus_mgmtdev *mdev, struct virtbus_device *vdev)
{
	vdev->priv = NULL;
}

static const struct vbus_mgmtdev_ops vbus_sim_mgmt_ops = {
	.dev_add = vbus_sim_mgmt_dev_add,
	.dev_del = vbus_sim_mgmt_dev_del,
};

/* The only place a vbus_sim_dev is freed. */
static void vbus_sim_dev_release(struct device *dev)
{
	kfree(container_of(dev, struct vbus_sim_dev, dev));
}

static void vbus_sim_debugfs_create(struct vbus_sim_dev *sim)
{
	sim->ddir = debugfs_create_dir(dev_name(&sim->dev), vbus_sim_ddir);
	debugfs_create_u32("max_net", 0600, sim->ddir,
			   &sim->types[VBUS_SIM_TYPE_NET].max_instances);
	debugfs_create_u32("max_blk", 0600, sim->ddir,
			   &sim->types[VBUS_SIM_TYPE_BLK].max_instances);
	debugfs_create_u32("fail_next_dev_new", 0600, sim->ddir, &sim->fail_next_dev_new);
	debugfs_create_u32("fail_next_port_new", 0600, sim->ddir, &sim->fail_next_port_new);
}

static int vbus_sim_dev_new(unsigned int id)
{
	struct vbus_sim_dev *sim;
	int err;

	lockdep_assert_held(&vbus_sim_lock);

	list_for_each_entry(sim, &vbus_sim_devs, list)
		if (sim->id == id)
			return -EEXIST;

	sim = kzalloc(sizeof(*sim), GFP_KERNEL);
	if (!sim)
		return -ENOMEM;
	sim->id = id;
	INIT_LIST_HEAD(&sim->list);
	sim->types[VBUS_SIM_TYPE_NET].name = "net";
	sim->types[VBUS_SIM_TYPE_NET].max_instances = VBUS_SIM_MAX_INSTANCES;
	sim->types[VBUS_SIM_TYPE_BLK].name = "blk";
	sim->types[VBUS_SIM_TYPE_BLK].max_instances = VBUS_SIM_MAX_INSTANCES;

	device_initialize(&sim->dev);
	sim->dev.bus = &vbus_sim_bus;
	sim->dev.release = vbus_sim_dev_release;
	/* From here on put_device() frees sim. */
	err = dev_set_name(&sim->dev, "vbus_sim%u", id);
	if (err)
		goto err_put;
	err = device_add(&sim->dev);
	if (err)
		goto err_put;

	vbus_sim_debugfs_create(sim);

	err = vbus_sim_devlink_create(sim);
	if (err)
		goto err_del;

	sim->mgmt.parent = &sim->dev;
	sim->mgmt.ops = &vbus_sim_mgmt_ops;
	sim->mgmt.types = sim->types;
	sim->mgmt.num_types = VBUS_SIM_NUM_TYPES;
	err = vbus_mgmtdev_register(&sim->mgmt);
	if (err)
		goto err_devlink;

	list_add_tail(&sim->list, &vbus_sim_devs);
	return 0;

err_devlink:
	vbus_sim_devlink_destroy(sim);
err_del:
	debugfs_remove_recursive(sim->ddir);
	device_del(&sim->dev);
err_put:
	put_device(&sim->dev);
	return err;
}

static void vbus_sim_dev_del(struct vbus_sim_dev *sim)
{
	lockdep_assert_held(&vbus_sim_lock);

	list_del(&sim->list);
	/* virtbus devices first: they are children of sim->dev */
	vbus_mgmtdev_unregister(&sim->mgmt);
	vbus_sim_devlink_destroy(sim);
	debugfs_remove_recursive(sim->ddir);
	device_unregister(&sim->dev);
}

static int vbus_sim_parse_id(const char *buf, unsigned int *id)
{
	unsigned int v;
	int err;

	err = kstrtouint(buf, 10, &v);
	if (err)
		return err;
	if (v > INT_MAX)
		return -ERANGE;
	*id = v;
	return 0;
}

static ssize_t new_device_store(struct bus_type *bus, const char *buf, size_t count)
{
	unsigned int id;
	int err;

	err = vbus_sim_parse_id(buf, &id);
	if (err)
		return err;

	mutex_lock(&vbus_sim_lock);
	err = vbus_sim_enabled ? vbus_sim_dev_new(id) : -ENODEV;
	mutex_unlock(&vbus_sim_lock);

	return err ?: count;
}
static BUS_ATTR_WO(new_device);

static ssize_t del_device_store(struct bus_type *bus, const char *buf, size_t count)
{
	struct vbus_sim_dev *sim;
	unsigned int id;
	int err;

	err = vbus_sim_parse_id(buf, &id);
	if (err)
		return err;

	err = -ENOENT;
	mutex_lock(&vbus_sim_lock);
	list_for_each_entry(sim, &vbus_sim_devs, list) {
		if (sim->id == id) {
			vbus_sim_dev_del(sim);
			err = 0;
			break;
		}
	}
	mutex_unlock(&vbus_sim_lock);

	return err ?: count;
}
static BUS_ATTR_WO(del_device);

static struct attribute *vbus_sim_bus_attrs[] = {
	&bus_attr_new_device.attr,
	&bus_attr_del_device.attr,
	NULL,
};
ATTRIBUTE_GROUPS(vbus_sim_bus);

static struct bus_type vbus_sim_bus = {
	.name = "vbus_sim",
	.dev_name = "vbus_sim",
	.bus_groups = vbus_sim_bus_groups,
};

/* Drivers that bind to virtbus devices of type net and blk and do nothing. */
static int vbus_sim_drv_probe(struct virtbus_device *vdev, const struct virtbus_device_id *id)
{
	dev_dbg(&vdev->dev, "bound (type %s)\n", vdev->type);
	return 0;
}

static void vbus_sim_drv_remove(struct virtbus_device *vdev)
{
	dev_dbg(&vdev->dev, "unbound\n");
}

static const struct virtbus_device_id vbus_sim_net_ids[] = {
	{ .type = "net" },
	{ }
};

static const struct virtbus_device_id vbus_sim_blk_ids[] = {
	{ .type = "blk" },
	{ }
};

static struct virtbus_driver vbus_sim_net_driver = {
	.probe = vbus_sim_drv_probe,
	.remove = vbus_sim_drv_remove,
	.id_table = vbus_sim_net_ids,
	.driver.name = "vbus_sim_net",
};

static struct virtbus_driver vbus_sim_blk_driver = {
	.probe = vbus_sim_drv_probe,
	.remove = vbus_sim_drv_remove,
	.id_table = vbus_sim_blk_ids,
	.driver.name = "vbus_sim_blk",
};

static int __init vbus_sim_init(void)
{
	int err;

	vbus_sim_ddir = debugfs_create_dir("vbus_sim", NULL);

	err = virtbus_driver_register(&vbus_sim_net_driver);
	if (err)
		goto err_debugfs;
	err = virtbus_driver_register(&vbus_sim_blk_driver);
	if (err)
		goto err_net;
	err = vbus_sim_devlink_init();
	if (err)
		goto err_blk;
	err = bus_register(&vbus_sim_bus);
	if (err)
		goto err_devlink;

	mutex_lock(&vbus_sim_lock);
	vbus_sim_enabled = true;
	mutex_unlock(&vbus_sim_lock);
	return 0;

err_devlink:
	vbus_sim_devlink_exit();
err_blk:
	virtbus_driver_unregister(&vbus_sim_blk_driver);
err_net:
	virtbus_driver_unregister(&vbus_sim_net_driver);
err_debugfs:
	debugfs_remove_recursive(vbus_sim_ddir);
	return err;
}

static void __exit vbus_sim_exit(void)
{
	struct vbus_sim_dev *sim, *tmp;

	mutex_lock(&vbus_sim_lock);
	vbus_sim_enabled = false;
	list_for_each_entry_safe_reverse(sim, tmp, &vbus_sim_devs, list)
		vbus_sim_dev_del(sim);
	mutex_unlock(&vbus_sim_lock);

	bus_unregister(&vbus_sim_bus);
	vbus_sim_devlink_exit();
	virtbus_driver_unregister(&vbus_sim_blk_driver);
	virtbus_driver_unregister(&vbus_sim_net_driver);
	debugfs_remove_recursive(vbus_sim_ddir);
}

module_init(vbus_sim_init);
module_exit(vbus_sim_exit);

MODULE_DESCRIPTION("Simulated vbus management devices and devlink subfunctions");
MODULE_LICENSE("GPL");

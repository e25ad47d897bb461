// SPDX-License-Identifier: GPL-2.0
/*
 * vbus_sim: simulated parents on their own bus "vbus_sim", created and
 * deleted by writing an ID to /sys/bus/vbus_sim/{new,del}_device (like
 * netdevsim). Each parent is a vbus management device with types net and
 * blk (configuration: mac and mtu for net, capacity for blk), and a devlink
 * instance that creates subfunctions. Its virtbus drivers are in
 * vbus_sim_drv.ko, loaded by udev through their aliases.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/etherdevice.h>
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

#define VBUS_SIM_DEFAULT_MTU		1500
#define VBUS_SIM_DEFAULT_CAPACITY	(128ULL << 20)

struct vbus_sim_config {
	u8 mac[ETH_ALEN];
	u32 mtu;
	u64 capacity;
};

/* Validates every entry into @cfg (which holds the current values); changes nothing else. */
static int vbus_sim_config_parse(struct vbus_sim_vdev *sv, const struct vbus_config_entry *config,
				 unsigned int n, struct vbus_sim_config *cfg,
				 struct netlink_ext_ack *extack)
{
	bool net = !strcmp(sv->vdev.type, "net");
	unsigned int i;

	for (i = 0; i < n; i++) {
		const char *key = config[i].key, *val = config[i].value;

		if (net && !strcmp(key, "mac")) {
			if (!mac_pton(val, cfg->mac) || !is_valid_ether_addr(cfg->mac)) {
				NL_SET_ERR_MSG_MOD(extack,
						   "mac must be a unicast address like 02:00:00:00:00:01");
				return -EINVAL;
			}
		} else if (net && !strcmp(key, "mtu")) {
			if (kstrtou32(val, 10, &cfg->mtu) || cfg->mtu < ETH_MIN_MTU ||
			    cfg->mtu > ETH_MAX_MTU) {
				NL_SET_ERR_MSG_MOD(extack, "mtu must be a number from 68 to 65535");
				return -EINVAL;
			}
		} else if (!net && !strcmp(key, "capacity")) {
			if (kstrtou64(val, 10, &cfg->capacity) || !cfg->capacity ||
			    cfg->capacity % 512) {
				NL_SET_ERR_MSG_MOD(extack,
						   "capacity must be a positive multiple of 512 bytes");
				return -EINVAL;
			}
		} else {
			if (net)
				NL_SET_ERR_MSG_MOD(extack,
						   "Unknown configuration key: type net takes mac and mtu");
			else
				NL_SET_ERR_MSG_MOD(extack,
						   "Unknown configuration key: type blk takes capacity");
			return -EINVAL;
		}
	}
	return 0;
}

static void vbus_sim_config_read(struct vbus_sim_vdev *sv, struct vbus_sim_config *cfg)
{
	spin_lock(&sv->lock);
	ether_addr_copy(cfg->mac, sv->mac);
	cfg->mtu = sv->mtu;
	cfg->capacity = sv->capacity;
	spin_unlock(&sv->lock);
}

static void vbus_sim_config_write(struct vbus_sim_vdev *sv, const struct vbus_sim_config *cfg)
{
	spin_lock(&sv->lock);
	ether_addr_copy(sv->mac, cfg->mac);
	sv->mtu = cfg->mtu;
	sv->capacity = cfg->capacity;
	spin_unlock(&sv->lock);
}

static int vbus_sim_mgmt_dev_add(struct vbus_mgmtdev *mdev, struct virtbus_device *vdev,
				 const struct vbus_config_entry *config, unsigned int n,
				 struct netlink_ext_ack *extack)
{
	struct vbus_sim_dev *sim = container_of(mdev, struct vbus_sim_dev, mgmt);
	struct vbus_sim_vdev *sv = vbus_sim_vdev(vdev);
	u32 inject = xchg(&sim->fail_next_dev_new, 0);
	struct vbus_sim_config cfg = {
		.mtu = VBUS_SIM_DEFAULT_MTU,
		.capacity = VBUS_SIM_DEFAULT_CAPACITY,
	};
	int err;

	if (inject) {
		NL_SET_ERR_MSG_MOD(extack, "Injected failure (debugfs fail_next_dev_new)");
		return -(int)min_t(u32, inject, MAX_ERRNO);
	}
	if (WARN_ON(!sv))
		return -EINVAL;
	eth_random_addr(cfg.mac);
	err = vbus_sim_config_parse(sv, config, n, &cfg, extack);
	if (err)
		return err;

	spin_lock_init(&sv->lock);
	vbus_sim_config_write(sv, &cfg);
	sv->probe_delay_ms = READ_ONCE(sim->probe_delay_ms);
	sv->probe_reenter = READ_ONCE(sim->probe_reenter);
	sv->gate = &sim->gate;
	return 0;
}

static int vbus_sim_mgmt_dev_config(struct virtbus_device *vdev,
				    const struct vbus_config_entry *config, unsigned int n,
				    struct netlink_ext_ack *extack)
{
	struct vbus_sim_vdev *sv = vbus_sim_vdev(vdev);
	struct vbus_sim_config cfg;
	int err;

	if (WARN_ON(!sv))
		return -EINVAL;
	/* DEV_SET calls are serialized per device: read, validate, write. */
	vbus_sim_config_read(sv, &cfg);
	err = vbus_sim_config_parse(sv, config, n, &cfg, extack);
	if (!err)
		vbus_sim_config_write(sv, &cfg);
	return err;
}

static int vbus_sim_mgmt_dev_config_fill(struct virtbus_device *vdev,
					 struct vbus_config_msg *cmsg)
{
	struct vbus_sim_vdev *sv = vbus_sim_vdev(vdev);
	struct vbus_sim_config cfg;

	if (!sv)
		return 0;
	vbus_sim_config_read(sv, &cfg);
	if (strcmp(vdev->type, "net"))
		return vbus_config_put(cmsg, "capacity", "%llu", cfg.capacity);
	return vbus_config_put(cmsg, "mac", "%pM", cfg.mac) ?:
	       vbus_config_put(cmsg, "mtu", "%u", cfg.mtu);
}

static const struct vbus_mgmtdev_ops vbus_sim_mgmt_ops = {
	.dev_size = VBUS_DEV_SIZE(struct vbus_sim_vdev, vdev),
	.dev_add = vbus_sim_mgmt_dev_add,
	.dev_config = vbus_sim_mgmt_dev_config,
	.dev_config_fill = vbus_sim_mgmt_dev_config_fill,
};

/* The only place a vbus_sim_dev is freed. */
static void vbus_sim_dev_release(struct device *dev)
{
	kfree(container_of(dev, struct vbus_sim_dev, dev));
}

/* Any write to probe_release wakes the probes sleeping for probe_delay_ms. */
static int vbus_sim_probe_release_set(void *data, u64 val)
{
	struct vbus_sim_gate *gate = data;

	WRITE_ONCE(gate->seq, gate->seq + 1);
	wake_up_all(&gate->wq);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(vbus_sim_probe_release_fops, NULL, vbus_sim_probe_release_set, "%llu\n");

static void vbus_sim_debugfs_create(struct vbus_sim_dev *sim)
{
	sim->ddir = debugfs_create_dir(dev_name(&sim->dev), vbus_sim_ddir);
	debugfs_create_u32("max_net", 0600, sim->ddir,
			   &sim->types[VBUS_SIM_TYPE_NET].max_instances);
	debugfs_create_u32("max_blk", 0600, sim->ddir,
			   &sim->types[VBUS_SIM_TYPE_BLK].max_instances);
	debugfs_create_u32("fail_next_dev_new", 0600, sim->ddir, &sim->fail_next_dev_new);
	debugfs_create_u32("fail_next_port_new", 0600, sim->ddir, &sim->fail_next_port_new);
	debugfs_create_u32("probe_delay_ms", 0600, sim->ddir, &sim->probe_delay_ms);
	debugfs_create_bool("probe_reenter", 0600, sim->ddir, &sim->probe_reenter);
	debugfs_create_file_unsafe("probe_release", 0200, sim->ddir, &sim->gate,
				   &vbus_sim_probe_release_fops);
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
	init_waitqueue_head(&sim->gate.wq);
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

static int __init vbus_sim_init(void)
{
	int err;

	vbus_sim_ddir = debugfs_create_dir("vbus_sim", NULL);

	err = vbus_sim_devlink_init();
	if (err)
		goto err_debugfs;
	err = bus_register(&vbus_sim_bus);
	if (err)
		goto err_devlink;

	mutex_lock(&vbus_sim_lock);
	vbus_sim_enabled = true;
	mutex_unlock(&vbus_sim_lock);
	return 0;

err_devlink:
	vbus_sim_devlink_exit();
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
	debugfs_remove_recursive(vbus_sim_ddir);
}

module_init(vbus_sim_init);
module_exit(vbus_sim_exit);

MODULE_DESCRIPTION("Simulated vbus management devices and devlink subfunctions");
MODULE_LICENSE("GPL");

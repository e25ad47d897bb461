/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vbus_sim: simulated parents for virtbus and devlink subfunctions, and
 * the typed interface through which its drivers (vbus_sim_drv) reach the
 * data of a vbus_sim device.
 */
#ifndef _VBUS_SIM_H
#define _VBUS_SIM_H

#include <linux/device.h>
#include <linux/if_ether.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include "vbus.h"

/* The provider name of vbus_sim's management devices: its module name. */
#define VBUS_SIM_PROVIDER	"vbus_sim"

/**
 * struct vbus_sim_gate - ends the probe delays of a parent's devices early
 * @wq: probes waiting
 * @seq: bumped by a write to debugfs probe_release
 */
struct vbus_sim_gate {
	wait_queue_head_t wq;
	u32 seq;
};

/**
 * struct vbus_sim_vdev - a virtbus device of vbus_sim, as its drivers see it
 * @vdev: the virtbus device; first, as the virtbus core allocates this struct
 * @lock: protects @mac, @mtu and @capacity (set at creation and by DEV_SET)
 * @mac: type net: configuration "mac"
 * @mtu: type net: configuration "mtu"
 * @capacity: type blk: configuration "capacity", in bytes
 * @probe_delay_ms: the parent's debugfs probe_delay_ms when the device was made
 * @probe_reenter: the parent's debugfs probe_reenter when the device was made
 * @gate: the parent's; valid while the device is on the bus (the parent
 *	deletes its devices before it goes)
 */
struct vbus_sim_vdev {
	struct virtbus_device vdev;
	/* protects mac, mtu and capacity */
	spinlock_t lock;
	u8 mac[ETH_ALEN];
	u32 mtu;
	u64 capacity;
	u32 probe_delay_ms;
	bool probe_reenter;
	struct vbus_sim_gate *gate;
};

/**
 * vbus_sim_vdev - the vbus_sim data of a virtbus device
 * @vdev: a device on the virtbus bus, of any provider
 *
 * Return: the vbus_sim device around @vdev, or NULL when another provider
 * made it (a driver bound to it through driver_override).
 */
static inline struct vbus_sim_vdev *vbus_sim_vdev(struct virtbus_device *vdev)
{
	if (!virtbus_dev_is_provider(vdev, VBUS_SIM_PROVIDER))
		return NULL;
	return container_of(vdev, struct vbus_sim_vdev, vdev);
}

enum {
	VBUS_SIM_TYPE_NET,
	VBUS_SIM_TYPE_BLK,
	VBUS_SIM_NUM_TYPES,
};

/**
 * struct vbus_sim_dev - one simulated parent, "vbus_sim<ID>" on bus vbus_sim
 * @dev: the parent device; its release() frees this structure
 * @id: ID written to new_device
 * @list: in the global list of parents
 * @mgmt: the vbus management device "vbus_sim/vbus_sim<ID>"
 * @types: @mgmt's types; debugfs max_net and max_blk write their limits
 * @devlink: the devlink instance "vbus_sim/vbus_sim<ID>"
 * @ddir: debugfs directory
 * @fail_next_dev_new: errno (positive) the next DEV_NEW fails with, once
 * @fail_next_port_new: errno (positive) the next port_new fails with, once
 * @probe_delay_ms: new devices' drivers sleep this long in probe
 * @probe_reenter: new devices' drivers call back into vbus from probe
 * @gate: debugfs probe_release ends those sleeps early
 */
struct vbus_sim_dev {
	struct device dev;
	unsigned int id;
	struct list_head list;
	struct vbus_mgmtdev mgmt;
	struct vbus_mgmtdev_type types[VBUS_SIM_NUM_TYPES];
	struct devlink *devlink;
	struct dentry *ddir;
	u32 fail_next_dev_new;
	u32 fail_next_port_new;
	u32 probe_delay_ms;
	bool probe_reenter;
	struct vbus_sim_gate gate;
};

int vbus_sim_devlink_create(struct vbus_sim_dev *sim);
void vbus_sim_devlink_destroy(struct vbus_sim_dev *sim);
int vbus_sim_devlink_init(void);
void vbus_sim_devlink_exit(void);

#endif /* _VBUS_SIM_H */

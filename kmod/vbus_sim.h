/* SPDX-License-Identifier: GPL-2.0 */
/* vbus_sim: simulated parent devices for virtbus and devlink subfunctions. */
#ifndef _VBUS_SIM_H
#define _VBUS_SIM_H

#include <linux/device.h>
#include <linux/types.h>
#include "vbus.h"

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
};

int vbus_sim_devlink_create(struct vbus_sim_dev *sim);
void vbus_sim_devlink_destroy(struct vbus_sim_dev *sim);
int vbus_sim_devlink_init(void);
void vbus_sim_devlink_exit(void);

#endif /* _VBUS_SIM_H */

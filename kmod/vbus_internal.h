/* SPDX-License-Identifier: GPL-2.0 */
/* Shared between the virtbus core and its generic netlink family. */
#ifndef _VBUS_INTERNAL_H
#define _VBUS_INTERNAL_H

#include <linux/mutex.h>
#include "vbus.h"

/*
 * Lock order: vbus_lock, then a mgmtdev's lock, then a device's
 * override_lock. None of them is held across device_add(), device_del(),
 * a driver's probe or remove, or device_lock(); a device's set_lock (one
 * DEV_SET at a time per device) is, and is taken before the others.
 */

/* Protects vbus_mgmtdevs only. */
extern struct mutex vbus_lock;
extern struct list_head vbus_mgmtdevs;
extern struct bus_type virtbus_bus;

/* A virtbus_device on its mgmtdev's list: only LIVE ones are visible to userspace. */
enum {
	VBUS_DEV_ADDING,
	VBUS_DEV_LIVE,
	VBUS_DEV_DELETING,
};

struct vbus_config_msg {
	struct sk_buff *skb;
};

struct vbus_mgmtdev *vbus_mgmtdev_get(const char *bus, const char *name);
void vbus_mgmtdev_put(struct vbus_mgmtdev *mdev);
const char *vbus_mgmtdev_bus_name(const struct vbus_mgmtdev *mdev);
const char *vbus_mgmtdev_dev_name(const struct vbus_mgmtdev *mdev);

struct virtbus_device *vbus_dev_find(struct vbus_mgmtdev *mdev, const char *name);
int vbus_dev_new(struct vbus_mgmtdev *mdev, const char *name, const char *type,
		 const struct vbus_config_entry *config, unsigned int n,
		 struct netlink_ext_ack *extack);
int vbus_dev_del(struct vbus_mgmtdev *mdev, const char *name, struct netlink_ext_ack *extack);
int vbus_dev_set(struct vbus_mgmtdev *mdev, const char *name,
		 const struct vbus_config_entry *config, unsigned int n,
		 const char *driver, bool unbound, struct netlink_ext_ack *extack);
void vbus_dev_get_state(struct virtbus_device *vdev, char *override, char *bound, bool *unbound);
bool vbus_name_valid(const char *name, bool lower_only);

int vbus_nl_init(void);
void vbus_nl_exit(void);
void vbus_nl_notify_dev(struct virtbus_device *vdev, u8 cmd);
void vbus_nl_notify_mgmtdev(struct vbus_mgmtdev *mdev, u8 cmd);

#endif /* _VBUS_INTERNAL_H */

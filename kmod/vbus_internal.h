/* SPDX-License-Identifier: GPL-2.0 */
/* Shared between the virtbus core and its generic netlink family. */
#ifndef _VBUS_INTERNAL_H
#define _VBUS_INTERNAL_H

#include <linux/mutex.h>
#include "vbus.h"

/* Protects vbus_mgmtdevs, every mgmtdev's device list and instance counts. */
extern struct mutex vbus_lock;
extern struct list_head vbus_mgmtdevs;
extern struct bus_type virtbus_bus;

struct vbus_mgmtdev *vbus_mgmtdev_find(const char *bus, const char *name);
const char *vbus_mgmtdev_bus_name(const struct vbus_mgmtdev *mdev);
const char *vbus_mgmtdev_dev_name(const struct vbus_mgmtdev *mdev);

struct virtbus_device *vbus_dev_find(struct vbus_mgmtdev *mdev, const char *name);
int vbus_dev_new(struct vbus_mgmtdev *mdev, const char *name, const char *type,
		 struct netlink_ext_ack *extack);
void vbus_dev_del(struct virtbus_device *vdev);
int vbus_dev_set_driver(struct virtbus_device *vdev, const char *driver, bool unbound,
			struct netlink_ext_ack *extack);
void vbus_dev_get_override(struct virtbus_device *vdev, char *buf, size_t size,
			   bool *unbound);

int vbus_nl_init(void);
void vbus_nl_exit(void);

#endif /* _VBUS_INTERNAL_H */

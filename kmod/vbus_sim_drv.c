// SPDX-License-Identifier: GPL-2.0
/*
 * vbus_sim_drv: the virtbus drivers of vbus_sim's devices, vbus_sim_net and
 * vbus_sim_blk. They do nothing but bind, which makes driver choice and
 * autoloading observable; a module of their own so that udev loads them
 * through their aliases when a device appears. Debugfs knobs of the parent
 * (probe_delay_ms, probe_release, probe_reenter) make probe slow or call
 * back into vbus.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/jiffies.h>
#include <linux/module.h>

#include "vbus_sim.h"

static int vbus_sim_drv_probe(struct virtbus_device *vdev, const struct virtbus_device_id *id)
{
	struct vbus_sim_vdev *sv = vbus_sim_vdev(vdev);
	u32 seq;
	int avail;

	if (!sv) {
		dev_warn(&vdev->dev, "not a vbus_sim device (%s): refused\n", vdev->match_id);
		return -ENODEV;
	}
	if (sv->probe_delay_ms) {
		/* Until the delay is over, or until debugfs probe_release is written. */
		seq = READ_ONCE(sv->gate->seq);
		dev_info(&vdev->dev, "probe: sleeping %u ms\n", sv->probe_delay_ms);
		wait_event_timeout(sv->gate->wq, READ_ONCE(sv->gate->seq) != seq,
				   msecs_to_jiffies(sv->probe_delay_ms));
	}
	if (sv->probe_reenter) {
		/* Takes the mgmtdev's lock: allowed in probe, as vbus.h says. */
		avail = vbus_mgmtdev_available_instances(virtbus_dev_mgmtdev(vdev), vdev->type);
		dev_info(&vdev->dev, "probe: %d more %s devices available\n", avail, vdev->type);
	}
	dev_dbg(&vdev->dev, "bound (%s)\n", vdev->match_id);
	return 0;
}

static void vbus_sim_drv_remove(struct virtbus_device *vdev)
{
	dev_dbg(&vdev->dev, "unbound\n");
}

static const struct virtbus_device_id vbus_sim_net_ids[] = {
	{ .name = VBUS_SIM_PROVIDER ".net" },
	{ }
};

static const struct virtbus_device_id vbus_sim_blk_ids[] = {
	{ .name = VBUS_SIM_PROVIDER ".blk" },
	{ }
};

MODULE_ALIAS_VIRTBUS(VBUS_SIM_PROVIDER, "net");
MODULE_ALIAS_VIRTBUS(VBUS_SIM_PROVIDER, "blk");

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

static int __init vbus_sim_drv_init(void)
{
	int err;

	err = virtbus_driver_register(&vbus_sim_net_driver);
	if (err)
		return err;
	err = virtbus_driver_register(&vbus_sim_blk_driver);
	if (err)
		virtbus_driver_unregister(&vbus_sim_net_driver);
	return err;
}

static void __exit vbus_sim_drv_exit(void)
{
	virtbus_driver_unregister(&vbus_sim_blk_driver);
	virtbus_driver_unregister(&vbus_sim_net_driver);
}

module_init(vbus_sim_drv_init);
module_exit(vbus_sim_drv_exit);

MODULE_DESCRIPTION("Drivers for the virtbus devices of vbus_sim");
MODULE_LICENSE("GPL");

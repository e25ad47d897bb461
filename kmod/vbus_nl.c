// SPDX-License-Identifier: GPL-2.0
/*
 * The "vbus" generic netlink family: list management devices, create,
 * delete, list and rebind virtbus devices; notify "monitor" listeners.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/device.h>
#include <linux/notifier.h>
#include <net/genetlink.h>
#include <net/netlink.h>

#include "vbus_internal.h"

enum vbus_nl_mcgrp {
	VBUS_NL_MCGRP_MONITOR,
};

static const struct genl_multicast_group vbus_nl_mcgrps[] = {
	[VBUS_NL_MCGRP_MONITOR] = { .name = VBUS_GENL_MCGRP_MONITOR },
};

static struct genl_family vbus_nl_family;

#define VBUS_NL_POLICY_MGMTDEV							\
	[VBUS_ATTR_MGMTDEV_BUS_NAME] = { .type = NLA_NUL_STRING,		\
					 .len = VBUS_MGMTDEV_NAME_MAX - 1 },	\
	[VBUS_ATTR_MGMTDEV_DEV_NAME] = { .type = NLA_NUL_STRING,		\
					 .len = VBUS_MGMTDEV_NAME_MAX - 1 }

#define VBUS_NL_POLICY_DEV_NAME							\
	[VBUS_ATTR_DEV_NAME] = { .type = NLA_NUL_STRING, .len = VBUS_DEV_NAME_MAX - 1 }

/* One policy per command: an attribute a command does not take is refused. */
static const struct nla_policy vbus_nl_mgmtdev_get_policy[VBUS_ATTR_MAX + 1] = {
	VBUS_NL_POLICY_MGMTDEV,
};

static const struct nla_policy vbus_nl_dev_new_policy[VBUS_ATTR_MAX + 1] = {
	VBUS_NL_POLICY_MGMTDEV,
	VBUS_NL_POLICY_DEV_NAME,
	[VBUS_ATTR_DEV_TYPE] = { .type = NLA_NUL_STRING, .len = VBUS_TYPE_NAME_MAX - 1 },
};

static const struct nla_policy vbus_nl_dev_del_policy[VBUS_ATTR_MAX + 1] = {
	VBUS_NL_POLICY_MGMTDEV,
	VBUS_NL_POLICY_DEV_NAME,
};

static const struct nla_policy vbus_nl_dev_set_policy[VBUS_ATTR_MAX + 1] = {
	VBUS_NL_POLICY_MGMTDEV,
	VBUS_NL_POLICY_DEV_NAME,
	[VBUS_ATTR_DEV_DRIVER] = { .type = NLA_NUL_STRING, .len = VBUS_DRIVER_NAME_MAX - 1 },
	[VBUS_ATTR_DEV_UNBOUND] = { .type = NLA_FLAG },
};

static int vbus_nl_mgmtdev_fill(struct sk_buff *msg, struct vbus_mgmtdev *mdev,
				u32 portid, u32 seq, int flags)
{
	struct nlattr *nest;
	unsigned int i;
	void *hdr;

	hdr = genlmsg_put(msg, portid, seq, &vbus_nl_family, flags, VBUS_CMD_MGMTDEV_GET);
	if (!hdr)
		return -EMSGSIZE;

	if (nla_put_string(msg, VBUS_ATTR_MGMTDEV_BUS_NAME, vbus_mgmtdev_bus_name(mdev)) ||
	    nla_put_string(msg, VBUS_ATTR_MGMTDEV_DEV_NAME, vbus_mgmtdev_dev_name(mdev)))
		goto err_cancel;

	for (i = 0; i < mdev->num_types; i++) {
		nest = nla_nest_start(msg, VBUS_ATTR_MGMTDEV_TYPE);
		if (!nest)
			goto err_cancel;
		if (nla_put_string(msg, VBUS_TYPE_ATTR_NAME, mdev->types[i].name) ||
		    nla_put_u32(msg, VBUS_TYPE_ATTR_MAX_INSTANCES,
				READ_ONCE(mdev->types[i].max_instances)) ||
		    nla_put_u32(msg, VBUS_TYPE_ATTR_CUR_INSTANCES, mdev->cur_instances[i])) {
			nla_nest_cancel(msg, nest);
			goto err_cancel;
		}
		nla_nest_end(msg, nest);
	}

	genlmsg_end(msg, hdr);
	return 0;

err_cancel:
	genlmsg_cancel(msg, hdr);
	return -EMSGSIZE;
}

/* @driver: the bound driver's name; the caller reads it under the device lock. */
static int vbus_nl_dev_fill(struct sk_buff *msg, struct virtbus_device *vdev, u8 cmd,
			    const char *driver, u32 portid, u32 seq, int flags)
{
	char override[VBUS_DRIVER_NAME_MAX];
	bool unbound;
	void *hdr;

	hdr = genlmsg_put(msg, portid, seq, &vbus_nl_family, flags, cmd);
	if (!hdr)
		return -EMSGSIZE;

	vbus_dev_get_override(vdev, override, sizeof(override), &unbound);

	if (nla_put_string(msg, VBUS_ATTR_MGMTDEV_BUS_NAME, vdev->mgmt_bus) ||
	    nla_put_string(msg, VBUS_ATTR_MGMTDEV_DEV_NAME, vdev->mgmt_dev) ||
	    nla_put_string(msg, VBUS_ATTR_DEV_NAME, vdev->name) ||
	    nla_put_string(msg, VBUS_ATTR_DEV_TYPE, vdev->type) ||
	    nla_put_string(msg, VBUS_ATTR_DEV_SYSFS_NAME, dev_name(&vdev->dev)))
		goto err_cancel;
	if (driver && driver[0] && nla_put_string(msg, VBUS_ATTR_DEV_DRIVER, driver))
		goto err_cancel;
	if (override[0] && nla_put_string(msg, VBUS_ATTR_DEV_DRIVER_OVERRIDE, override))
		goto err_cancel;
	if (unbound && nla_put_flag(msg, VBUS_ATTR_DEV_UNBOUND))
		goto err_cancel;

	genlmsg_end(msg, hdr);
	return 0;

err_cancel:
	genlmsg_cancel(msg, hdr);
	return -EMSGSIZE;
}

static int vbus_nl_dev_fill_locked(struct sk_buff *msg, struct virtbus_device *vdev,
				   u32 portid, u32 seq, int flags)
{
	char driver[VBUS_DRIVER_NAME_MAX] = "";

	device_lock(&vdev->dev);
	if (vdev->dev.driver)
		strscpy(driver, vdev->dev.driver->name, sizeof(driver));
	device_unlock(&vdev->dev);

	return vbus_nl_dev_fill(msg, vdev, VBUS_CMD_DEV_GET, driver, portid, seq, flags);
}

static struct vbus_mgmtdev *vbus_nl_mgmtdev_get(struct nlattr **attrs,
						struct netlink_ext_ack *extack)
{
	struct vbus_mgmtdev *mdev;

	if (NL_REQ_ATTR_CHECK(extack, NULL, attrs, VBUS_ATTR_MGMTDEV_BUS_NAME) ||
	    NL_REQ_ATTR_CHECK(extack, NULL, attrs, VBUS_ATTR_MGMTDEV_DEV_NAME)) {
		NL_SET_ERR_MSG_MOD(extack, "Management device bus and device names are required");
		return ERR_PTR(-EINVAL);
	}

	mdev = vbus_mgmtdev_find(nla_data(attrs[VBUS_ATTR_MGMTDEV_BUS_NAME]),
				 nla_data(attrs[VBUS_ATTR_MGMTDEV_DEV_NAME]));
	if (!mdev) {
		NL_SET_ERR_MSG_ATTR(extack, attrs[VBUS_ATTR_MGMTDEV_DEV_NAME],
				    "Management device not found");
		return ERR_PTR(-ENODEV);
	}
	return mdev;
}

static struct virtbus_device *vbus_nl_dev_get(struct genl_info *info)
{
	struct vbus_mgmtdev *mdev;
	struct virtbus_device *vdev;

	mdev = vbus_nl_mgmtdev_get(info->attrs, info->extack);
	if (IS_ERR(mdev))
		return ERR_CAST(mdev);

	if (GENL_REQ_ATTR_CHECK(info, VBUS_ATTR_DEV_NAME)) {
		NL_SET_ERR_MSG_MOD(info->extack, "Device name is required");
		return ERR_PTR(-EINVAL);
	}
	vdev = vbus_dev_find(mdev, nla_data(info->attrs[VBUS_ATTR_DEV_NAME]));
	if (!vdev) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[VBUS_ATTR_DEV_NAME],
				    "Device not found");
		return ERR_PTR(-ENODEV);
	}
	return vdev;
}

static int vbus_nl_mgmtdev_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct vbus_mgmtdev *mdev;
	struct sk_buff *msg;
	int err;

	msg = nlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg) {
		NL_SET_ERR_MSG_MOD(info->extack, "Out of memory for the reply");
		return -ENOMEM;
	}

	mutex_lock(&vbus_lock);
	mdev = vbus_nl_mgmtdev_get(info->attrs, info->extack);
	if (IS_ERR(mdev)) {
		err = PTR_ERR(mdev);
		goto err_unlock;
	}
	err = vbus_nl_mgmtdev_fill(msg, mdev, info->snd_portid, info->snd_seq, 0);
	if (err) {
		NL_SET_ERR_MSG_MOD(info->extack, "Reply does not fit in a message");
		goto err_unlock;
	}
	mutex_unlock(&vbus_lock);

	return genlmsg_reply(msg, info);

err_unlock:
	mutex_unlock(&vbus_lock);
	nlmsg_free(msg);
	return err;
}

static int vbus_nl_mgmtdev_get_dumpit(struct sk_buff *msg, struct netlink_callback *cb)
{
	struct vbus_mgmtdev *mdev;
	long start = cb->args[0];
	long idx = 0;

	mutex_lock(&vbus_lock);
	list_for_each_entry(mdev, &vbus_mgmtdevs, list) {
		if (idx < start) {
			idx++;
			continue;
		}
		if (vbus_nl_mgmtdev_fill(msg, mdev, NETLINK_CB(cb->skb).portid,
					 cb->nlh->nlmsg_seq, NLM_F_MULTI))
			break;
		idx++;
	}
	mutex_unlock(&vbus_lock);

	cb->args[0] = idx;
	return msg->len;
}

static int vbus_nl_dev_new_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct vbus_mgmtdev *mdev;
	int err;

	if (GENL_REQ_ATTR_CHECK(info, VBUS_ATTR_DEV_NAME) ||
	    GENL_REQ_ATTR_CHECK(info, VBUS_ATTR_DEV_TYPE)) {
		NL_SET_ERR_MSG_MOD(info->extack, "Device name and type are required");
		return -EINVAL;
	}

	mutex_lock(&vbus_lock);
	mdev = vbus_nl_mgmtdev_get(info->attrs, info->extack);
	if (IS_ERR(mdev))
		err = PTR_ERR(mdev);
	else
		err = vbus_dev_new(mdev, nla_data(info->attrs[VBUS_ATTR_DEV_NAME]),
				   nla_data(info->attrs[VBUS_ATTR_DEV_TYPE]), info->extack);
	mutex_unlock(&vbus_lock);

	return err;
}

static int vbus_nl_dev_del_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct virtbus_device *vdev;
	int err = 0;

	mutex_lock(&vbus_lock);
	vdev = vbus_nl_dev_get(info);
	if (IS_ERR(vdev))
		err = PTR_ERR(vdev);
	else
		vbus_dev_del(vdev);
	mutex_unlock(&vbus_lock);

	return err;
}

static int vbus_nl_dev_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct virtbus_device *vdev;
	struct sk_buff *msg;
	int err;

	msg = nlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg) {
		NL_SET_ERR_MSG_MOD(info->extack, "Out of memory for the reply");
		return -ENOMEM;
	}

	mutex_lock(&vbus_lock);
	vdev = vbus_nl_dev_get(info);
	if (IS_ERR(vdev)) {
		err = PTR_ERR(vdev);
		goto err_unlock;
	}
	err = vbus_nl_dev_fill_locked(msg, vdev, info->snd_portid, info->snd_seq, 0);
	if (err) {
		NL_SET_ERR_MSG_MOD(info->extack, "Reply does not fit in a message");
		goto err_unlock;
	}
	mutex_unlock(&vbus_lock);

	return genlmsg_reply(msg, info);

err_unlock:
	mutex_unlock(&vbus_lock);
	nlmsg_free(msg);
	return err;
}

/* Optionally filtered by a mgmtdev handle given in the dump request. */
static int vbus_nl_dev_get_dumpit(struct sk_buff *msg, struct netlink_callback *cb)
{
	struct nlattr **attrs = genl_dumpit_info(cb)->attrs;
	struct vbus_mgmtdev *mdev, *filter = NULL;
	struct virtbus_device *vdev;
	long start = cb->args[0];
	long idx = 0;
	int err = 0;

	mutex_lock(&vbus_lock);
	if (attrs[VBUS_ATTR_MGMTDEV_BUS_NAME] || attrs[VBUS_ATTR_MGMTDEV_DEV_NAME]) {
		filter = vbus_nl_mgmtdev_get(attrs, cb->extack);
		if (IS_ERR(filter)) {
			err = PTR_ERR(filter);
			goto out;
		}
	}

	list_for_each_entry(mdev, &vbus_mgmtdevs, list) {
		if (filter && mdev != filter)
			continue;
		list_for_each_entry(vdev, &mdev->devices, list) {
			if (idx < start) {
				idx++;
				continue;
			}
			if (vbus_nl_dev_fill_locked(msg, vdev, NETLINK_CB(cb->skb).portid,
						    cb->nlh->nlmsg_seq, NLM_F_MULTI))
				goto out;
			idx++;
		}
	}
out:
	mutex_unlock(&vbus_lock);

	cb->args[0] = idx;
	return err ?: msg->len;
}

static int vbus_nl_dev_set_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *driver = info->attrs[VBUS_ATTR_DEV_DRIVER];
	bool unbound = nla_get_flag(info->attrs[VBUS_ATTR_DEV_UNBOUND]);
	struct virtbus_device *vdev;
	int err;

	if (!driver && !unbound) {
		NL_SET_ERR_MSG_MOD(info->extack, "Driver name or unbound flag is required");
		return -EINVAL;
	}
	if (driver && unbound) {
		NL_SET_ERR_MSG_ATTR(info->extack, driver,
				    "Driver name and unbound flag are mutually exclusive");
		return -EINVAL;
	}

	mutex_lock(&vbus_lock);
	vdev = vbus_nl_dev_get(info);
	if (IS_ERR(vdev))
		err = PTR_ERR(vdev);
	else
		err = vbus_dev_set_driver(vdev, driver ? nla_data(driver) : "", unbound,
					  info->extack);
	mutex_unlock(&vbus_lock);

	return err;
}

static const struct genl_ops vbus_nl_ops[] = {
	{
		.cmd = VBUS_CMD_MGMTDEV_GET,
		.doit = vbus_nl_mgmtdev_get_doit,
		.dumpit = vbus_nl_mgmtdev_get_dumpit,
		.policy = vbus_nl_mgmtdev_get_policy,
		.maxattr = VBUS_ATTR_MAX,
	},
	{
		.cmd = VBUS_CMD_DEV_NEW,
		.doit = vbus_nl_dev_new_doit,
		.policy = vbus_nl_dev_new_policy,
		.maxattr = VBUS_ATTR_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VBUS_CMD_DEV_DEL,
		.doit = vbus_nl_dev_del_doit,
		.policy = vbus_nl_dev_del_policy,
		.maxattr = VBUS_ATTR_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VBUS_CMD_DEV_GET,
		.doit = vbus_nl_dev_get_doit,
		.dumpit = vbus_nl_dev_get_dumpit,
		/* takes the same attributes as DEV_DEL */
		.policy = vbus_nl_dev_del_policy,
		.maxattr = VBUS_ATTR_MAX,
	},
	{
		.cmd = VBUS_CMD_DEV_SET,
		.doit = vbus_nl_dev_set_doit,
		.policy = vbus_nl_dev_set_policy,
		.maxattr = VBUS_ATTR_MAX,
		.flags = GENL_ADMIN_PERM,
	},
};

static struct genl_family vbus_nl_family = {
	.name = VBUS_GENL_NAME,
	.version = VBUS_GENL_VERSION,
	.maxattr = VBUS_ATTR_MAX,
	.netnsok = false,
	/* vbus_lock serializes what needs it */
	.parallel_ops = true,
	.module = THIS_MODULE,
	.ops = vbus_nl_ops,
	.n_ops = ARRAY_SIZE(vbus_nl_ops),
	/* every command is new: strict header and flag checks for all */
	.resv_start_op = VBUS_CMD_MGMTDEV_GET,
	.mcgrps = vbus_nl_mcgrps,
	.n_mcgrps = ARRAY_SIZE(vbus_nl_mcgrps),
};

static void vbus_nl_notify(struct virtbus_device *vdev, u8 cmd, const char *driver)
{
	struct sk_buff *msg;

	if (!genl_has_listeners(&vbus_nl_family, &init_net, VBUS_NL_MCGRP_MONITOR))
		return;

	msg = nlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return;
	if (vbus_nl_dev_fill(msg, vdev, cmd, driver, 0, 0, 0)) {
		nlmsg_free(msg);
		return;
	}
	genlmsg_multicast(&vbus_nl_family, msg, 0, VBUS_NL_MCGRP_MONITOR, GFP_KERNEL);
}

/*
 * Every add, removal, bind and unbind on the bus, whoever caused it (this
 * family, sysfs bind/unbind, driver load), in the order a listener needs:
 * NEW, BIND, BIND without driver (unbind), DEL.
 */
static int vbus_nl_bus_notify(struct notifier_block *nb, unsigned long action, void *data)
{
	struct virtbus_device *vdev = to_virtbus_device(data);

	switch (action) {
	case BUS_NOTIFY_ADD_DEVICE:
		vbus_nl_notify(vdev, VBUS_CMD_DEV_NEW, NULL);
		break;
	case BUS_NOTIFY_REMOVED_DEVICE:
		vbus_nl_notify(vdev, VBUS_CMD_DEV_DEL, NULL);
		break;
	case BUS_NOTIFY_BOUND_DRIVER:
		/* called with the device lock held: dev.driver is stable */
		vbus_nl_notify(vdev, VBUS_CMD_DEV_BIND, vdev->dev.driver->name);
		break;
	case BUS_NOTIFY_UNBOUND_DRIVER:
		vbus_nl_notify(vdev, VBUS_CMD_DEV_BIND, NULL);
		break;
	default:
		return NOTIFY_DONE;
	}
	return NOTIFY_OK;
}

static struct notifier_block vbus_nl_bus_nb = {
	.notifier_call = vbus_nl_bus_notify,
};

int vbus_nl_init(void)
{
	int err;

	err = genl_register_family(&vbus_nl_family);
	if (err)
		return err;

	err = bus_register_notifier(&virtbus_bus, &vbus_nl_bus_nb);
	if (err) {
		genl_unregister_family(&vbus_nl_family);
		return err;
	}
	return 0;
}

void vbus_nl_exit(void)
{
	bus_unregister_notifier(&virtbus_bus, &vbus_nl_bus_nb);
	genl_unregister_family(&vbus_nl_family);
}

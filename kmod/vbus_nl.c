// SPDX-License-Identifier: GPL-2.0
/*
 * The "vbus" generic netlink family: list management devices, create,
 * delete, list, configure and rebind virtbus devices; notify "monitor"
 * listeners. Every error carries an extack message.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/device.h>
#include <linux/notifier.h>
#include <linux/slab.h>
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

static const struct nla_policy vbus_nl_config_policy[VBUS_CONFIG_ATTR_MAX + 1] = {
	[VBUS_CONFIG_ATTR_KEY] = { .type = NLA_NUL_STRING, .len = VBUS_CONFIG_KEY_MAX - 1 },
	[VBUS_CONFIG_ATTR_VALUE] = { .type = NLA_NUL_STRING, .len = VBUS_CONFIG_VALUE_MAX - 1 },
};

#define VBUS_NL_POLICY_MGMTDEV							\
	[VBUS_ATTR_MGMTDEV_BUS_NAME] = { .type = NLA_NUL_STRING,		\
					 .len = VBUS_MGMTDEV_NAME_MAX - 1 },	\
	[VBUS_ATTR_MGMTDEV_DEV_NAME] = { .type = NLA_NUL_STRING,		\
					 .len = VBUS_MGMTDEV_NAME_MAX - 1 }

#define VBUS_NL_POLICY_DEV_NAME							\
	[VBUS_ATTR_DEV_NAME] = { .type = NLA_NUL_STRING, .len = VBUS_DEV_NAME_MAX - 1 }

#define VBUS_NL_POLICY_CONFIG							\
	[VBUS_ATTR_DEV_CONFIG] = NLA_POLICY_NESTED(vbus_nl_config_policy)

/* One policy per command: an attribute a command does not take is refused. */
static const struct nla_policy vbus_nl_mgmtdev_get_policy[VBUS_ATTR_MAX + 1] = {
	VBUS_NL_POLICY_MGMTDEV,
};

static const struct nla_policy vbus_nl_dev_new_policy[VBUS_ATTR_MAX + 1] = {
	VBUS_NL_POLICY_MGMTDEV,
	VBUS_NL_POLICY_DEV_NAME,
	[VBUS_ATTR_DEV_TYPE] = { .type = NLA_NUL_STRING, .len = VBUS_TYPE_NAME_MAX - 1 },
	VBUS_NL_POLICY_CONFIG,
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
	VBUS_NL_POLICY_CONFIG,
};

/* ---- replies and notifications ------------------------------------------------------------- */

static int vbus_nl_put_handle(struct sk_buff *msg, const char *bus, const char *dev)
{
	if (nla_put_string(msg, VBUS_ATTR_MGMTDEV_BUS_NAME, bus) ||
	    nla_put_string(msg, VBUS_ATTR_MGMTDEV_DEV_NAME, dev))
		return -EMSGSIZE;
	return 0;
}

/* @types: with the TYPE entries (a reply, MGMTDEV_NEW_NTF), else the handle only. */
static int vbus_nl_mgmtdev_fill(struct sk_buff *msg, struct vbus_mgmtdev *mdev, u8 cmd,
				bool types, u32 portid, u32 seq, int flags)
{
	struct nlattr *nest;
	unsigned int i;
	void *hdr;

	hdr = genlmsg_put(msg, portid, seq, &vbus_nl_family, flags, cmd);
	if (!hdr)
		return -EMSGSIZE;

	if (vbus_nl_put_handle(msg, vbus_mgmtdev_bus_name(mdev), vbus_mgmtdev_dev_name(mdev)) ||
	    nla_put_string(msg, VBUS_ATTR_PROVIDER, mdev->provider))
		goto err_cancel;

	for (i = 0; types && i < mdev->num_types; i++) {
		u32 cur;

		mutex_lock(&mdev->lock);
		cur = mdev->cur_instances[i];
		mutex_unlock(&mdev->lock);

		nest = nla_nest_start(msg, VBUS_ATTR_MGMTDEV_TYPE);
		if (!nest)
			goto err_cancel;
		if (nla_put_string(msg, VBUS_TYPE_ATTR_NAME, mdev->types[i].name) ||
		    nla_put_u32(msg, VBUS_TYPE_ATTR_MAX_INSTANCES,
				READ_ONCE(mdev->types[i].max_instances)) ||
		    nla_put_u32(msg, VBUS_TYPE_ATTR_CUR_INSTANCES, cur)) {
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

/**
 * vbus_config_put - add one entry to a device's reported configuration
 * @cmsg: what the dev_config_fill op was given
 * @key: the key
 * @fmt: printf format of the value
 *
 * Return: 0, or -EMSGSIZE when the message is full (return it from the op).
 */
int vbus_config_put(struct vbus_config_msg *cmsg, const char *key, const char *fmt, ...)
{
	char value[VBUS_CONFIG_VALUE_MAX];
	struct nlattr *nest;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);

	nest = nla_nest_start(cmsg->skb, VBUS_ATTR_DEV_CONFIG);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put_string(cmsg->skb, VBUS_CONFIG_ATTR_KEY, key) ||
	    nla_put_string(cmsg->skb, VBUS_CONFIG_ATTR_VALUE, value)) {
		nla_nest_cancel(cmsg->skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(cmsg->skb, nest);
	return 0;
}
EXPORT_SYMBOL_GPL(vbus_config_put);

static int vbus_nl_dev_fill(struct sk_buff *msg, struct virtbus_device *vdev, u8 cmd,
			    u32 portid, u32 seq, int flags)
{
	char override[VBUS_DRIVER_NAME_MAX], bound[VBUS_DRIVER_NAME_MAX];
	struct vbus_config_msg cmsg = { .skb = msg };
	bool unbound;
	void *hdr;

	hdr = genlmsg_put(msg, portid, seq, &vbus_nl_family, flags, cmd);
	if (!hdr)
		return -EMSGSIZE;

	vbus_dev_get_state(vdev, override, bound, &unbound);

	if (vbus_nl_put_handle(msg, vdev->mgmt_bus, vdev->mgmt_dev) ||
	    nla_put_string(msg, VBUS_ATTR_DEV_NAME, vdev->name) ||
	    nla_put_string(msg, VBUS_ATTR_DEV_TYPE, vdev->type) ||
	    nla_put_string(msg, VBUS_ATTR_DEV_MATCH_ID, vdev->match_id) ||
	    nla_put_string(msg, VBUS_ATTR_DEV_SYSFS_NAME, dev_name(&vdev->dev)))
		goto err_cancel;
	if (bound[0] && nla_put_string(msg, VBUS_ATTR_DEV_DRIVER, bound))
		goto err_cancel;
	if (override[0] && nla_put_string(msg, VBUS_ATTR_DEV_DRIVER_OVERRIDE, override))
		goto err_cancel;
	if (unbound && nla_put_flag(msg, VBUS_ATTR_DEV_UNBOUND))
		goto err_cancel;
	if (vdev->ops->dev_config_fill && vdev->ops->dev_config_fill(vdev, &cmsg))
		goto err_cancel;

	genlmsg_end(msg, hdr);
	return 0;

err_cancel:
	genlmsg_cancel(msg, hdr);
	return -EMSGSIZE;
}

static void vbus_nl_multicast(struct sk_buff *msg)
{
	genlmsg_multicast(&vbus_nl_family, msg, 0, VBUS_NL_MCGRP_MONITOR, GFP_KERNEL);
}

/**
 * vbus_nl_notify_dev - tell "monitor" listeners about a device
 * @vdev: the device
 * @cmd: a VBUS_CMD_DEV_*_NTF
 */
void vbus_nl_notify_dev(struct virtbus_device *vdev, u8 cmd)
{
	struct sk_buff *msg;

	if (!genl_has_listeners(&vbus_nl_family, &init_net, VBUS_NL_MCGRP_MONITOR))
		return;

	msg = nlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return;
	if (vbus_nl_dev_fill(msg, vdev, cmd, 0, 0, 0)) {
		nlmsg_free(msg);
		return;
	}
	vbus_nl_multicast(msg);
}

/**
 * vbus_nl_notify_mgmtdev - tell "monitor" listeners about a management device
 * @mdev: the mgmtdev
 * @cmd: VBUS_CMD_MGMTDEV_NEW_NTF or VBUS_CMD_MGMTDEV_DEL_NTF
 */
void vbus_nl_notify_mgmtdev(struct vbus_mgmtdev *mdev, u8 cmd)
{
	struct sk_buff *msg;

	if (!genl_has_listeners(&vbus_nl_family, &init_net, VBUS_NL_MCGRP_MONITOR))
		return;

	msg = nlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return;
	if (vbus_nl_mgmtdev_fill(msg, mdev, cmd, cmd == VBUS_CMD_MGMTDEV_NEW_NTF, 0, 0, 0)) {
		nlmsg_free(msg);
		return;
	}
	vbus_nl_multicast(msg);
}

/* ---- requests ------------------------------------------------------------------------------ */

static struct vbus_mgmtdev *vbus_nl_mgmtdev_get(struct nlattr **attrs,
						struct netlink_ext_ack *extack)
{
	struct vbus_mgmtdev *mdev;

	if (!attrs[VBUS_ATTR_MGMTDEV_BUS_NAME] || !attrs[VBUS_ATTR_MGMTDEV_DEV_NAME]) {
		NL_REQ_ATTR_CHECK(extack, NULL, attrs, VBUS_ATTR_MGMTDEV_BUS_NAME);
		NL_REQ_ATTR_CHECK(extack, NULL, attrs, VBUS_ATTR_MGMTDEV_DEV_NAME);
		NL_SET_ERR_MSG_MOD(extack, "Management device bus and device names are required");
		return ERR_PTR(-EINVAL);
	}

	mdev = vbus_mgmtdev_get(nla_data(attrs[VBUS_ATTR_MGMTDEV_BUS_NAME]),
				nla_data(attrs[VBUS_ATTR_MGMTDEV_DEV_NAME]));
	if (!mdev) {
		NL_SET_ERR_MSG_ATTR(extack, attrs[VBUS_ATTR_MGMTDEV_DEV_NAME],
				    "Management device not found");
		return ERR_PTR(-ENODEV);
	}
	return mdev;
}

static int vbus_nl_require_dev_name(struct genl_info *info)
{
	if (GENL_REQ_ATTR_CHECK(info, VBUS_ATTR_DEV_NAME)) {
		NL_SET_ERR_MSG_MOD(info->extack, "Device name is required");
		return -EINVAL;
	}
	return 0;
}

/*
 * The DEV_CONFIG entries of a request, in order; the strings point into the
 * request. The policy has validated each nest; here keys are checked.
 */
static int vbus_nl_parse_config(struct genl_info *info, struct vbus_config_entry *config,
				unsigned int *ret_n)
{
	struct nlattr *tb[VBUS_CONFIG_ATTR_MAX + 1];
	unsigned int n = 0, i;
	struct nlattr *a;
	int rem, err;

	nla_for_each_attr(a, genlmsg_data(info->genlhdr), genlmsg_len(info->genlhdr), rem) {
		if (nla_type(a) != VBUS_ATTR_DEV_CONFIG)
			continue;
		if (n == VBUS_CONFIG_MAX_ENTRIES) {
			NL_SET_ERR_MSG_ATTR(info->extack, a, "Too many configuration entries");
			return -E2BIG;
		}
		err = nla_parse_nested(tb, VBUS_CONFIG_ATTR_MAX, a, vbus_nl_config_policy,
				       info->extack);
		if (err)
			return err;
		if (!tb[VBUS_CONFIG_ATTR_KEY] || !tb[VBUS_CONFIG_ATTR_VALUE]) {
			NL_SET_ERR_MSG_ATTR(info->extack, a,
					    "A configuration entry needs a key and a value");
			return -EINVAL;
		}
		config[n].key = nla_data(tb[VBUS_CONFIG_ATTR_KEY]);
		config[n].value = nla_data(tb[VBUS_CONFIG_ATTR_VALUE]);
		if (!vbus_name_valid(config[n].key, true)) {
			NL_SET_ERR_MSG_ATTR(info->extack, tb[VBUS_CONFIG_ATTR_KEY],
					    "Configuration keys are made of ASCII [a-z0-9_]");
			return -EINVAL;
		}
		for (i = 0; i < n; i++) {
			if (!strcmp(config[i].key, config[n].key)) {
				NL_SET_ERR_MSG_ATTR(info->extack, tb[VBUS_CONFIG_ATTR_KEY],
						    "Configuration key given twice");
				return -EINVAL;
			}
		}
		n++;
	}
	*ret_n = n;
	return 0;
}

static int vbus_nl_mgmtdev_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct vbus_mgmtdev *mdev;
	struct sk_buff *msg;
	int err;

	mdev = vbus_nl_mgmtdev_get(info->attrs, info->extack);
	if (IS_ERR(mdev))
		return PTR_ERR(mdev);

	msg = nlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg) {
		NL_SET_ERR_MSG_MOD(info->extack, "Out of memory for the reply");
		err = -ENOMEM;
		goto out;
	}
	err = vbus_nl_mgmtdev_fill(msg, mdev, VBUS_CMD_MGMTDEV_GET, true, info->snd_portid,
				   info->snd_seq, 0);
	if (err) {
		NL_SET_ERR_MSG_MOD(info->extack, "Reply does not fit in a message");
		nlmsg_free(msg);
		goto out;
	}
	err = genlmsg_reply(msg, info);
out:
	vbus_mgmtdev_put(mdev);
	return err;
}

/*
 * Dumps resume by name, not by list position: a device created or deleted
 * between two parts neither skips nor repeats another one. Entries go out
 * sorted by (mgmtdev bus, mgmtdev name, device name).
 */
struct vbus_nl_dump {
	bool started;
	bool have_last;
	bool mgmtdev_done;	/* every device of the last mgmtdev was sent */
	char bus[VBUS_MGMTDEV_NAME_MAX];	/* filter, "" for none */
	char dev[VBUS_MGMTDEV_NAME_MAX];
	char name[VBUS_DEV_NAME_MAX];
	char last_bus[VBUS_MGMTDEV_NAME_MAX];	/* resume point */
	char last_dev[VBUS_MGMTDEV_NAME_MAX];
	char last_name[VBUS_DEV_NAME_MAX];
};

static int vbus_nl_dump_done(struct netlink_callback *cb)
{
	kfree((void *)cb->args[0]);
	cb->args[0] = 0;
	return 0;
}

/* The dump's state; made and its filters read at the first part. */
static struct vbus_nl_dump *vbus_nl_dump_state(struct netlink_callback *cb, bool dev_filter,
					       int *err)
{
	struct nlattr **attrs = genl_dumpit_info(cb)->attrs;
	struct vbus_nl_dump *st = (struct vbus_nl_dump *)cb->args[0];
	struct nlattr *bus, *dev, *name;

	if (st)
		return st;
	bus = attrs[VBUS_ATTR_MGMTDEV_BUS_NAME];
	dev = attrs[VBUS_ATTR_MGMTDEV_DEV_NAME];
	name = dev_filter ? attrs[VBUS_ATTR_DEV_NAME] : NULL;
	if (!bus != !dev) {
		NL_SET_ERR_MSG_ATTR(cb->extack, bus ?: dev,
				    "A management device filter needs its bus and device names");
		*err = -EINVAL;
		return NULL;
	}
	st = kzalloc(sizeof(*st), GFP_KERNEL);
	if (!st) {
		NL_SET_ERR_MSG_MOD(cb->extack, "Out of memory for the dump");
		*err = -ENOMEM;
		return NULL;
	}
	if (bus) {
		nla_strscpy(st->bus, bus, sizeof(st->bus));
		nla_strscpy(st->dev, dev, sizeof(st->dev));
	}
	if (name)
		nla_strscpy(st->name, name, sizeof(st->name));
	cb->args[0] = (long)st;
	return st;
}

static int vbus_nl_mgmtdev_cmp(struct vbus_mgmtdev *mdev, const char *bus, const char *dev)
{
	return strcmp(vbus_mgmtdev_bus_name(mdev), bus) ?:
	       strcmp(vbus_mgmtdev_dev_name(mdev), dev);
}

/*
 * The next mgmtdev to dump: the first in order after the resume point
 * (the one of the resume point itself while its devices are not done).
 */
static struct vbus_mgmtdev *vbus_nl_dump_next_mgmtdev(struct vbus_nl_dump *st, bool same_ok)
{
	struct vbus_mgmtdev *mdev, *best = NULL;
	int c;

	lockdep_assert_held(&vbus_lock);

	list_for_each_entry(mdev, &vbus_mgmtdevs, list) {
		if (st->bus[0] && vbus_nl_mgmtdev_cmp(mdev, st->bus, st->dev))
			continue;
		if (st->have_last) {
			c = vbus_nl_mgmtdev_cmp(mdev, st->last_bus, st->last_dev);
			if (c < 0 || (c == 0 && !same_ok))
				continue;
		}
		if (!best || vbus_nl_mgmtdev_cmp(mdev, vbus_mgmtdev_bus_name(best),
						 vbus_mgmtdev_dev_name(best)) < 0)
			best = mdev;
	}
	return best;
}

static void vbus_nl_dump_mark(struct vbus_nl_dump *st, struct vbus_mgmtdev *mdev,
			      const char *name)
{
	strscpy(st->last_bus, vbus_mgmtdev_bus_name(mdev), sizeof(st->last_bus));
	strscpy(st->last_dev, vbus_mgmtdev_dev_name(mdev), sizeof(st->last_dev));
	strscpy(st->last_name, name ?: "", sizeof(st->last_name));
	st->have_last = true;
	st->mgmtdev_done = !name;
}

/* A fill failed: the message is full, or the entry alone is too large for it. */
static int vbus_nl_dump_full(struct sk_buff *msg, struct netlink_callback *cb, const char *msg_text)
{
	if (msg->len)
		return msg->len;
	/* NL_SET_ERR_MSG() wants a literal; this is one, passed down. */
	if (cb->extack)
		cb->extack->_msg = msg_text;
	return -EMSGSIZE;
}

static int vbus_nl_mgmtdev_get_dumpit(struct sk_buff *msg, struct netlink_callback *cb)
{
	struct vbus_mgmtdev *mdev;
	struct vbus_nl_dump *st;
	int err = 0;

	st = vbus_nl_dump_state(cb, false, &err);
	if (!st)
		return err;

	mutex_lock(&vbus_lock);
	if (!st->started && st->bus[0] && !vbus_nl_dump_next_mgmtdev(st, true)) {
		NL_SET_ERR_MSG_MOD(cb->extack, "Management device not found");
		err = -ENODEV;
	}
	st->started = true;
	while (!err && (mdev = vbus_nl_dump_next_mgmtdev(st, false))) {
		if (vbus_nl_mgmtdev_fill(msg, mdev, VBUS_CMD_MGMTDEV_GET, true,
					 NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
					 NLM_F_MULTI)) {
			err = vbus_nl_dump_full(msg, cb, KBUILD_MODNAME
						": A management device is too large for a dump message");
			break;
		}
		vbus_nl_dump_mark(st, mdev, NULL);
	}
	mutex_unlock(&vbus_lock);

	return err ?: msg->len;
}

/* The next live device of @mdev after the resume point, with the name filter. */
static struct virtbus_device *vbus_nl_dump_next_dev(struct vbus_nl_dump *st,
						    struct vbus_mgmtdev *mdev)
{
	struct virtbus_device *vdev, *best = NULL;
	bool resume = st->have_last && !st->mgmtdev_done &&
		      !vbus_nl_mgmtdev_cmp(mdev, st->last_bus, st->last_dev);

	lockdep_assert_held(&mdev->lock);

	list_for_each_entry(vdev, &mdev->devices, list) {
		if (vdev->state != VBUS_DEV_LIVE)
			continue;
		if (st->name[0] && strcmp(vdev->name, st->name))
			continue;
		if (resume && strcmp(vdev->name, st->last_name) <= 0)
			continue;
		if (!best || strcmp(vdev->name, best->name) < 0)
			best = vdev;
	}
	return best;
}

static int vbus_nl_dev_get_dumpit(struct sk_buff *msg, struct netlink_callback *cb)
{
	struct virtbus_device *vdev;
	struct vbus_mgmtdev *mdev;
	struct vbus_nl_dump *st;
	int err = 0;

	st = vbus_nl_dump_state(cb, true, &err);
	if (!st)
		return err;

	mutex_lock(&vbus_lock);
	if (!st->started && st->bus[0] && !vbus_nl_dump_next_mgmtdev(st, true)) {
		NL_SET_ERR_MSG_MOD(cb->extack, "Management device not found");
		err = -ENODEV;
	}
	st->started = true;
	while (!err && (mdev = vbus_nl_dump_next_mgmtdev(st, !st->mgmtdev_done))) {
		mutex_lock(&mdev->lock);
		while ((vdev = vbus_nl_dump_next_dev(st, mdev))) {
			if (vbus_nl_dev_fill(msg, vdev, VBUS_CMD_DEV_GET,
					     NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
					     NLM_F_MULTI)) {
				err = vbus_nl_dump_full(msg, cb, KBUILD_MODNAME
								": A device is too large for a dump message");
				break;
			}
			vbus_nl_dump_mark(st, mdev, vdev->name);
		}
		mutex_unlock(&mdev->lock);
		if (!err)
			vbus_nl_dump_mark(st, mdev, NULL);
	}
	mutex_unlock(&vbus_lock);

	return err ?: msg->len;
}

/*
 * Replies to @info with device @name of @mdev as DEV_GET describes it, under @cmd: the reply of
 * DEV_GET, and of DEV_NEW asked with NLM_F_ECHO (the device as made, its driver bound by then).
 * Why no reply could be made goes to @extack (NULL: nowhere, the request succeeded anyway).
 */
static int vbus_nl_dev_reply(struct vbus_mgmtdev *mdev, const char *name, u8 cmd,
			     struct genl_info *info, struct netlink_ext_ack *extack)
{
	struct virtbus_device *vdev;
	struct sk_buff *msg;
	int err;

	msg = nlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg) {
		NL_SET_ERR_MSG_MOD(extack, "Out of memory for the reply");
		return -ENOMEM;
	}
	mutex_lock(&mdev->lock);
	vdev = vbus_dev_find(mdev, name);
	if (!vdev || vdev->state != VBUS_DEV_LIVE) {
		NL_SET_ERR_MSG_ATTR(extack, info->attrs[VBUS_ATTR_DEV_NAME],
				    "Device not found");
		err = -ENODEV;
	} else {
		err = vbus_nl_dev_fill(msg, vdev, cmd, info->snd_portid, info->snd_seq, 0);
		if (err)
			NL_SET_ERR_MSG_MOD(extack, "Reply does not fit in a message");
	}
	mutex_unlock(&mdev->lock);
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	return genlmsg_reply(msg, info);
}

static int vbus_nl_dev_new_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct vbus_config_entry config[VBUS_CONFIG_MAX_ENTRIES];
	struct vbus_mgmtdev *mdev;
	unsigned int n;
	int err;

	if (!info->attrs[VBUS_ATTR_DEV_NAME] || !info->attrs[VBUS_ATTR_DEV_TYPE]) {
		GENL_REQ_ATTR_CHECK(info, VBUS_ATTR_DEV_NAME);
		GENL_REQ_ATTR_CHECK(info, VBUS_ATTR_DEV_TYPE);
		NL_SET_ERR_MSG_MOD(info->extack, "Device name and type are required");
		return -EINVAL;
	}
	err = vbus_nl_parse_config(info, config, &n);
	if (err)
		return err;

	mdev = vbus_nl_mgmtdev_get(info->attrs, info->extack);
	if (IS_ERR(mdev))
		return PTR_ERR(mdev);
	err = vbus_dev_new(mdev, nla_data(info->attrs[VBUS_ATTR_DEV_NAME]),
			   nla_data(info->attrs[VBUS_ATTR_DEV_TYPE]), config, n, info->extack);
	/*
	 * NLM_F_ECHO: the device as DEV_GET would describe it, so that the caller needs no second
	 * request to see it and its driver. The device exists whatever happens to the reply: a
	 * reply that cannot be made (gone already, no memory) is left out, never an error.
	 */
	if (!err && (info->nlhdr->nlmsg_flags & NLM_F_ECHO))
		(void)vbus_nl_dev_reply(mdev, nla_data(info->attrs[VBUS_ATTR_DEV_NAME]),
					VBUS_CMD_DEV_NEW, info, NULL);
	vbus_mgmtdev_put(mdev);
	return err;
}

static int vbus_nl_dev_del_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct vbus_mgmtdev *mdev;
	int err;

	mdev = vbus_nl_mgmtdev_get(info->attrs, info->extack);
	if (IS_ERR(mdev))
		return PTR_ERR(mdev);
	err = vbus_nl_require_dev_name(info);
	if (!err)
		err = vbus_dev_del(mdev, nla_data(info->attrs[VBUS_ATTR_DEV_NAME]), info->extack);
	vbus_mgmtdev_put(mdev);
	return err;
}

static int vbus_nl_dev_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct vbus_mgmtdev *mdev;
	int err;

	mdev = vbus_nl_mgmtdev_get(info->attrs, info->extack);
	if (IS_ERR(mdev))
		return PTR_ERR(mdev);
	err = vbus_nl_require_dev_name(info);
	if (!err)
		err = vbus_nl_dev_reply(mdev, nla_data(info->attrs[VBUS_ATTR_DEV_NAME]),
					VBUS_CMD_DEV_GET, info, info->extack);
	vbus_mgmtdev_put(mdev);
	return err;
}

static int vbus_nl_dev_set_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *driver = info->attrs[VBUS_ATTR_DEV_DRIVER];
	bool unbound = nla_get_flag(info->attrs[VBUS_ATTR_DEV_UNBOUND]);
	struct vbus_config_entry config[VBUS_CONFIG_MAX_ENTRIES];
	struct vbus_mgmtdev *mdev;
	unsigned int n;
	int err;

	if (driver && unbound) {
		NL_SET_ERR_MSG_ATTR(info->extack, driver,
				    "Driver name and unbound flag are mutually exclusive");
		return -EINVAL;
	}
	err = vbus_nl_parse_config(info, config, &n);
	if (err)
		return err;
	if (!driver && !unbound && !n) {
		NL_SET_ERR_MSG_MOD(info->extack,
				   "Driver name, unbound flag or configuration is required");
		return -EINVAL;
	}

	mdev = vbus_nl_mgmtdev_get(info->attrs, info->extack);
	if (IS_ERR(mdev))
		return PTR_ERR(mdev);
	err = vbus_nl_require_dev_name(info);
	if (!err)
		err = vbus_dev_set(mdev, nla_data(info->attrs[VBUS_ATTR_DEV_NAME]), config, n,
				   driver ? nla_data(driver) : NULL, unbound, info->extack);
	vbus_mgmtdev_put(mdev);
	return err;
}

static const struct genl_ops vbus_nl_ops[] = {
	{
		.cmd = VBUS_CMD_MGMTDEV_GET,
		.doit = vbus_nl_mgmtdev_get_doit,
		.dumpit = vbus_nl_mgmtdev_get_dumpit,
		.done = vbus_nl_dump_done,
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
		.done = vbus_nl_dump_done,
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
	/* the virtbus core's locks serialize what needs it */
	.parallel_ops = true,
	.module = THIS_MODULE,
	.ops = vbus_nl_ops,
	.n_ops = ARRAY_SIZE(vbus_nl_ops),
	/* every command is new: strict header and flag checks for all */
	.resv_start_op = VBUS_CMD_MGMTDEV_GET,
	.mcgrps = vbus_nl_mcgrps,
	.n_mcgrps = ARRAY_SIZE(vbus_nl_mcgrps),
};

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
		vbus_nl_notify_dev(vdev, VBUS_CMD_DEV_NEW_NTF);
		break;
	case BUS_NOTIFY_REMOVED_DEVICE:
		vbus_nl_notify_dev(vdev, VBUS_CMD_DEV_DEL_NTF);
		break;
	case BUS_NOTIFY_BOUND_DRIVER:
	case BUS_NOTIFY_UNBOUND_DRIVER:
		vbus_nl_notify_dev(vdev, VBUS_CMD_DEV_BIND_NTF);
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

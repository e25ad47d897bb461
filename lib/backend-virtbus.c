// SPDX-License-Identifier: LGPL-2.1-or-later
/* The virtbus kind: devices of vbus.ko's management devices, over the "vbus" genl family. */
#include <stdio.h>

#include <linux/vbus.h>

#include "netlink.h"
#include "sysfs.h"

#define VIRTBUS_DEVICES "/sys/bus/virtbus/devices"

static struct nla_policy vbus_policy[VBUS_ATTR_MAX + 1] = {
	[VBUS_ATTR_MGMTDEV_BUS_NAME] = { .type = NLA_STRING },
	[VBUS_ATTR_MGMTDEV_DEV_NAME] = { .type = NLA_STRING },
	[VBUS_ATTR_MGMTDEV_TYPE] = { .type = NLA_NESTED },
	[VBUS_ATTR_DEV_NAME] = { .type = NLA_STRING },
	[VBUS_ATTR_DEV_TYPE] = { .type = NLA_STRING },
	[VBUS_ATTR_DEV_DRIVER] = { .type = NLA_STRING },
	[VBUS_ATTR_DEV_DRIVER_OVERRIDE] = { .type = NLA_STRING },
	[VBUS_ATTR_DEV_UNBOUND] = { .type = NLA_FLAG },
	[VBUS_ATTR_DEV_SYSFS_NAME] = { .type = NLA_STRING },
	[VBUS_ATTR_PROVIDER] = { .type = NLA_STRING },
	[VBUS_ATTR_DEV_CONFIG] = { .type = NLA_NESTED },
	[VBUS_ATTR_DEV_MATCH_ID] = { .type = NLA_STRING },
};

static struct nla_policy type_policy[VBUS_TYPE_ATTR_MAX + 1] = {
	[VBUS_TYPE_ATTR_NAME] = { .type = NLA_STRING },
	[VBUS_TYPE_ATTR_MAX_INSTANCES] = { .type = NLA_U32 },
	[VBUS_TYPE_ATTR_CUR_INSTANCES] = { .type = NLA_U32 },
};

/* The nested TYPE entries repeat the same attribute, so they are walked from the raw
 * message: libnl's parse keeps only the last of a repeated attribute. */
struct mgmtdev_walk {
	const char *filter;
	bool types; /* one entry per (parent, type) */
	struct json_object *out;
	int found;
};

static struct json_object *type_object(struct nlattr *nest)
{
	struct nlattr *t[VBUS_TYPE_ATTR_MAX + 1];
	struct json_object *o;
	uint32_t max = 0, cur = 0;

	if (nla_parse_nested(t, VBUS_TYPE_ATTR_MAX, nest, type_policy) < 0 ||
	    !t[VBUS_TYPE_ATTR_NAME])
		return NULL;
	if (t[VBUS_TYPE_ATTR_MAX_INSTANCES])
		max = nla_get_u32(t[VBUS_TYPE_ATTR_MAX_INSTANCES]);
	if (t[VBUS_TYPE_ATTR_CUR_INSTANCES])
		cur = nla_get_u32(t[VBUS_TYPE_ATTR_CUR_INSTANCES]);
	o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "type", json_object_new_string(nla_get_string(t[VBUS_TYPE_ATTR_NAME])));
	json_object_object_add(o, "max_instances", json_object_new_int64(max));
	json_object_object_add(o, "available_instances",
			       json_object_new_int64(cur < max ? max - cur : 0));
	return o;
}

static int mgmtdev_msg(struct nl_msg *msg, void *arg)
{
	struct mgmtdev_walk *w = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct nlattr *tb[VBUS_ATTR_MAX + 1], *a;
	_cleanup_free_ char *handle = NULL;
	struct json_object *entry = NULL, *types = NULL;
	int rem;

	if (genlmsg_parse(h, 0, tb, VBUS_ATTR_MAX, vbus_policy) < 0)
		return NL_SKIP;
	handle = vbus_nl_handle(tb, VBUS_ATTR_MGMTDEV_BUS_NAME, VBUS_ATTR_MGMTDEV_DEV_NAME);
	if (!handle || (w->filter && !streq(w->filter, handle)))
		return NL_OK;
	w->found++;

	if (!w->types) {
		entry = json_object_new_object();
		types = json_object_new_array();
		if (!entry || !types) {
			json_object_put(entry);
			json_object_put(types);
			return NL_STOP;
		}
		json_object_object_add(entry, "parent", json_object_new_string(handle));
		json_object_object_add(entry, "kind", json_object_new_string("virtbus"));
		json_object_object_add(entry, "types", types);
		json_object_array_add(w->out, entry);
	}
	nla_for_each_attr(a, genlmsg_attrdata(nlmsg_data(h), 0), genlmsg_attrlen(nlmsg_data(h), 0),
			  rem) {
		struct json_object *t;

		if (nla_type(a) != VBUS_ATTR_MGMTDEV_TYPE)
			continue;
		t = type_object(a);
		if (!t)
			continue;
		if (w->types) {
			json_object_object_add(t, "parent", json_object_new_string(handle));
			json_object_object_add(t, "kind", json_object_new_string("virtbus"));
			json_object_array_add(w->out, t);
		} else {
			json_object_array_add(types, t);
		}
	}
	return NL_OK;
}

/* vbus.ko not loaded: no virtbus parents, not an error. */
static int walk_mgmtdevs(struct vbus_ctx *ctx, struct mgmtdev_walk *w)
{
	return vbus_nl_dump_raw(ctx, VBUS_KIND_VIRTBUS, VBUS_GENL_NAME, VBUS_CMD_MGMTDEV_GET,
				mgmtdev_msg, w, "vbus management devices");
}

static int virtbus_list_parents(struct vbus_ctx *ctx, const char *parent,
				struct json_object *parents)
{
	struct mgmtdev_walk w = { .filter = parent, .out = parents };

	return walk_mgmtdevs(ctx, &w);
}

static int virtbus_list_types(struct vbus_ctx *ctx, const char *parent, struct json_object *types)
{
	struct mgmtdev_walk w = { .filter = parent, .types = true, .out = types };

	return walk_mgmtdevs(ctx, &w);
}

/* ---- devices ---------------------------------------------------------------------------- */

struct dev_info {
	char *handle;
	char *name;
	char *type;
	char *driver;
	char *override;
	char *sysfs_name;
	bool unbound;
};

static void dev_info_done(struct dev_info *d)
{
	free(d->handle);
	free(d->name);
	free(d->type);
	free(d->driver);
	free(d->override);
	free(d->sysfs_name);
	*d = (struct dev_info){};
}

static char *get_str(struct nlattr **tb, int attr)
{
	return tb[attr] ? strdup(nla_get_string(tb[attr])) : NULL;
}

static int fill_dev(struct nlattr **tb, struct dev_info *d)
{
	d->handle = vbus_nl_handle(tb, VBUS_ATTR_MGMTDEV_BUS_NAME, VBUS_ATTR_MGMTDEV_DEV_NAME);
	d->name = get_str(tb, VBUS_ATTR_DEV_NAME);
	d->type = get_str(tb, VBUS_ATTR_DEV_TYPE);
	d->driver = get_str(tb, VBUS_ATTR_DEV_DRIVER);
	d->override = get_str(tb, VBUS_ATTR_DEV_DRIVER_OVERRIDE);
	d->sysfs_name = get_str(tb, VBUS_ATTR_DEV_SYSFS_NAME);
	d->unbound = tb[VBUS_ATTR_DEV_UNBOUND];
	return d->handle && d->name ? 0 : -EBADMSG;
}

static int add_dev(struct nlattr **tb, void *userdata)
{
	struct vbus_ctx *ctx = ((void **)userdata)[0];
	struct json_object *out = ((void **)userdata)[1], *o;
	_cleanup_free_ char *path = NULL;
	struct dev_info d = {};
	int r;

	r = fill_dev(tb, &d);
	if (r < 0) {
		dev_info_done(&d);
		return 0;
	}
	o = json_object_new_object();
	if (!o) {
		dev_info_done(&d);
		return -ENOMEM;
	}
	if (d.sysfs_name)
		path = vbus_pathf(ctx, VIRTBUS_DEVICES "/%s", d.sysfs_name);
	json_object_object_add(o, "name", json_object_new_string(d.name));
	json_object_object_add(o, "kind", json_object_new_string("virtbus"));
	json_object_object_add(o, "parent", json_object_new_string(d.handle));
	json_object_object_add(o, "type", d.type ? json_object_new_string(d.type) : NULL);
	json_object_object_add(o, "bound_driver", d.driver ? json_object_new_string(d.driver) : NULL);
	json_object_object_add(o, "sysfs_path", path ? json_object_new_string(path) : NULL);
	json_object_array_add(out, o);
	dev_info_done(&d);
	return 0;
}

static int virtbus_list_active(struct vbus_ctx *ctx, struct json_object *devices)
{
	void *data[2] = { ctx, devices };

	return vbus_nl_dump(ctx, VBUS_KIND_VIRTBUS, VBUS_GENL_NAME, VBUS_CMD_DEV_GET, vbus_policy,
			    VBUS_ATTR_MAX, add_dev, data, "virtbus devices");
}

/* A request naming DEF's device: its mgmtdev handle and name. */
static int dev_request(struct vbus_ctx *ctx, const struct vbus_def *def, uint8_t cmd,
		       struct vbus_nl **ret_nl, struct nl_msg **ret)
{
	struct vbus_nl *nl;
	struct nl_msg *msg;
	int r;

	r = vbus_nl_get(ctx, VBUS_KIND_VIRTBUS, &nl);
	if (r < 0)
		return r;
	r = vbus_nl_request(nl, VBUS_GENL_NAME, cmd, false, &msg);
	if (r < 0)
		return r;
	r = vbus_nl_put_handle(msg, VBUS_ATTR_MGMTDEV_BUS_NAME, VBUS_ATTR_MGMTDEV_DEV_NAME,
			       def->parent);
	if (r >= 0 && nla_put_string(msg, VBUS_ATTR_DEV_NAME, def->name) < 0)
		r = -EMSGSIZE;
	if (r < 0) {
		nlmsg_free(msg);
		return r;
	}
	*ret_nl = nl;
	*ret = msg;
	return 0;
}

static int get_one(struct nlattr **tb, void *userdata)
{
	struct dev_info *d = userdata;

	dev_info_done(d);
	(void)fill_dev(tb, d);
	return 0;
}

/* DEV_GET of DEF's device; -ENODEV (quietly) when it does not exist. */
static int dev_get(struct vbus_ctx *ctx, const struct vbus_def *def, struct dev_info *ret)
{
	struct vbus_nl *nl;
	struct nl_msg *msg;
	char *saved;
	int r;

	r = dev_request(ctx, def, VBUS_CMD_DEV_GET, &nl, &msg);
	if (r < 0)
		return r;
	saved = vbus_error_take(ctx);
	r = vbus_nl_call(nl, msg, vbus_policy, VBUS_ATTR_MAX, get_one, ret, def->name);
	if (r == -ENODEV || r == -ENOENT) {
		vbus_error_restore(ctx, saved);
		return -ENODEV;
	}
	free(saved);
	return r;
}

/* ---- checking --------------------------------------------------------------------------- */

static bool dev_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= VBUS_DEV_NAME_MAX)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* Every (parent, type), for vbus_nl_parent_offers(). */
static int walk_all_types(struct vbus_ctx *ctx, struct json_object *out)
{
	struct mgmtdev_walk w = { .types = true, .out = out };

	return walk_mgmtdevs(ctx, &w);
}

static int virtbus_check(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	int r;

	if (!dev_name_ok(def->name))
		return vbus_error(ctx, -EINVAL,
				  "'%s': virtbus device names are letters, digits, '_' and '-', at most %d",
				  def->name, VBUS_DEV_NAME_MAX - 1);
	if (!def->type)
		return vbus_error(ctx, -EINVAL, "%s: a virtbus definition needs --type", def->name);
	/* attrs are the provider's configuration keys: its kernel callback validates them. */
	if (def->n_attrs > VBUS_CONFIG_MAX_ENTRIES)
		return vbus_error(ctx, -EINVAL, "%s: virtbus devices take at most %d attributes",
				  def->name, VBUS_CONFIG_MAX_ENTRIES);
	if (!strchr(def->parent, '/'))
		return vbus_error(ctx, -EINVAL,
				  "%s: parent '%s' is not a vbus management device (BUS/DEVICE)",
				  def->name, def->parent);
	if (!ctx->real_root)
		return -ENODEV;
	r = vbus_nl_parent_offers(ctx, VBUS_KIND_VIRTBUS, walk_all_types, def->parent, def->type);
	if (r <= 0)
		return r;
	return vbus_error(ctx, -EINVAL, "vbus management device %s does not offer type %s",
			  def->parent, def->type);
}

/* ST from D, a device as the kernel described it (DEV_GET, or DEV_NEW's echo). */
static int status_from(struct vbus_ctx *ctx, struct dev_info *d, struct vbus_status *st)
{
	st->active = true;
	if (d->sysfs_name) {
		st->sysfs_path = vbus_pathf(ctx, VIRTBUS_DEVICES "/%s", d->sysfs_name);
		if (!st->sysfs_path)
			return -ENOMEM;
	}
	/* Bound by type, no override: what virtbus_resolve_driver() calls "host". */
	st->bound_by_match = d->driver && !(d->override && *d->override);
	st->bound_driver = TAKE_PTR(d->driver);
	return 0;
}

static int virtbus_status(struct vbus_ctx *ctx, const struct vbus_def *def, struct vbus_status *st)
{
	struct dev_info d = {};
	int r;

	if (!ctx->real_root)
		return 0;
	r = dev_get(ctx, def, &d);
	if (r == -ENODEV)
		return 0;
	if (r >= 0)
		r = status_from(ctx, &d, st);
	dev_info_done(&d);
	return r;
}

/* ---- changing --------------------------------------------------------------------------- */

/* DEF's attrs as DEV_CONFIG entries, in order. */
static int put_config(struct nl_msg *msg, const struct vbus_def *def)
{
	for (size_t i = 0; i < def->n_attrs; i++) {
		struct nlattr *nest = nla_nest_start(msg, VBUS_ATTR_DEV_CONFIG);

		if (!nest || nla_put_string(msg, VBUS_CONFIG_ATTR_KEY, def->attrs[i].key) < 0 ||
		    nla_put_string(msg, VBUS_CONFIG_ATTR_VALUE, def->attrs[i].value) < 0)
			return -EMSGSIZE;
		nla_nest_end(msg, nest);
	}
	return 0;
}

/* ECHO: DEV_NEW with NLM_F_ECHO, the device as made into *ECHO (left empty when the kernel
 * sent nothing back, a vbus.ko older than the flag). */
static int call_echo(struct vbus_ctx *ctx, const struct vbus_def *def, uint8_t cmd,
		     const char *driver, bool unbound, struct dev_info *echo)
{
	struct vbus_nl *nl;
	struct nl_msg *msg;
	char what[160];
	int r;

	r = dev_request(ctx, def, cmd, &nl, &msg);
	if (r < 0)
		return r;
	if (echo)
		nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_ECHO;
	if ((cmd == VBUS_CMD_DEV_NEW && nla_put_string(msg, VBUS_ATTR_DEV_TYPE, def->type) < 0) ||
	    (cmd == VBUS_CMD_DEV_NEW && put_config(msg, def) < 0) ||
	    (driver && nla_put_string(msg, VBUS_ATTR_DEV_DRIVER, driver) < 0) ||
	    (unbound && nla_put_flag(msg, VBUS_ATTR_DEV_UNBOUND) < 0)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	snprintf(what, sizeof(what), "virtbus device %s on %s", def->name, def->parent);
	return vbus_nl_call(nl, msg, vbus_policy, VBUS_ATTR_MAX, echo ? get_one : NULL, echo, what);
}

static int simple_call(struct vbus_ctx *ctx, const struct vbus_def *def, uint8_t cmd,
		       const char *driver, bool unbound)
{
	return call_echo(ctx, def, cmd, driver, unbound, NULL);
}

/* The device is matched by type when it appears: its "host" driver gets it first, as on any
 * bus without a per-device policy; bind() moves it when another driver is wanted. */
static int virtbus_create(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	return simple_call(ctx, def, VBUS_CMD_DEV_NEW, NULL, false);
}

/* The same, the kernel's echo of the new device as its status: one request instead of a
 * DEV_NEW and a DEV_GET. */
static int virtbus_create_status(struct vbus_ctx *ctx, const struct vbus_def *def,
				 struct vbus_status *st)
{
	struct dev_info d = {};
	int r;

	r = call_echo(ctx, def, VBUS_CMD_DEV_NEW, NULL, false, &d);
	if (r >= 0 && d.handle && d.name && streq(d.name, def->name) &&
	    streq(d.handle, def->parent))
		r = status_from(ctx, &d, st);
	dev_info_done(&d);
	return r;
}

static int virtbus_destroy(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	return simple_call(ctx, def, VBUS_CMD_DEV_DEL, NULL, false);
}

/*
 * "host" is the driver that matches the device's type. The kernel knows it, not sysfs: when
 * the device is not with it already, clear its override (DEV_SET "") and read what bound.
 */
static int virtbus_resolve_driver(struct vbus_ctx *ctx, const struct vbus_def *def,
				  const char *choice, char **ret)
{
	struct dev_info d = {};
	int r;

	if (streq(choice, VBUS_DRIVER_NONE)) {
		*ret = NULL;
		return 0;
	}
	if (streq(choice, VBUS_DRIVER_VFIO))
		return vbus_error(ctx, -EOPNOTSUPP,
				  "%s: virtbus devices have no VM driver; name a driver or use host",
				  def->name);
	if (!streq(choice, VBUS_DRIVER_HOST)) {
		*ret = strdup(choice);
		return *ret ? 0 : -ENOMEM;
	}

	r = dev_get(ctx, def, &d);
	if (r >= 0 && (!d.driver || (d.override && *d.override))) {
		dev_info_done(&d);
		r = simple_call(ctx, def, VBUS_CMD_DEV_SET, "", false);
		if (r >= 0)
			r = dev_get(ctx, def, &d);
	}
	if (r >= 0 && !d.driver)
		r = vbus_error(ctx, -ENODEV, "%s: no driver on the virtbus bus handles type %s",
			       def->name, def->type ?: "(none)");
	if (r >= 0)
		*ret = TAKE_PTR(d.driver);
	dev_info_done(&d);
	return r;
}

static int virtbus_bind(struct vbus_ctx *ctx, const struct vbus_def *def, const char *driver)
{
	return simple_call(ctx, def, VBUS_CMD_DEV_SET, driver, !driver);
}

/* vbus.ko's "monitor" group: devices made, deleted, bound or changed, management devices
 * registered or gone, each one event for the caller. */
static int virtbus_event(uint8_t cmd, struct nlattr **tb, void *userdata)
{
	struct vbus_nl_kind_monitor *m = userdata;
	_cleanup_free_ char *parent =
		vbus_nl_handle(tb, VBUS_ATTR_MGMTDEV_BUS_NAME, VBUS_ATTR_MGMTDEV_DEV_NAME);
	struct vbus_monitor_event ev = {
		.kind = VBUS_KIND_VIRTBUS,
		.what = cmd == VBUS_CMD_MGMTDEV_NEW_NTF ? VBUS_MONITOR_PARENT_NEW :
			cmd == VBUS_CMD_MGMTDEV_DEL_NTF ? VBUS_MONITOR_PARENT_GONE :
							  VBUS_MONITOR_DEVICE,
		.parent = parent,
		.name = tb[VBUS_ATTR_DEV_NAME] ? nla_get_string(tb[VBUS_ATTR_DEV_NAME]) : NULL,
		.index = -1,
	};

	m->fn(&ev, m->userdata);
	return 0;
}

static int virtbus_monitor_open(struct vbus_ctx *ctx, vbus_monitor_fn fn, void *userdata,
				void **ret_handle, int *ret_fd)
{
	return vbus_nl_kind_monitor_open(ctx, VBUS_GENL_NAME, VBUS_GENL_MCGRP_MONITOR,
					 vbus_policy, VBUS_ATTR_MAX, virtbus_event, fn, userdata,
					 ret_handle, ret_fd);
}

/* The kind's rules, applied by the core (lib/ops.c). */
static const struct vbus_kind_rules virtbus_rules = {
	.a_kind = "a virtbus",
	.parent_handle = true,
	.index = VBUS_FIELD_REFUSED,
	.any_attr = true,
};

const struct vbus_backend vbus_backend_virtbus = {
	.kind = VBUS_KIND_VIRTBUS,
	.rules = &virtbus_rules,
	.list_parents = virtbus_list_parents,
	.list_types = virtbus_list_types,
	.list_active = virtbus_list_active,
	.check = virtbus_check,
	.status = virtbus_status,
	.status_in_list = true,
	.create = virtbus_create,
	.create_status = virtbus_create_status,
	.destroy = virtbus_destroy,
	.resolve_driver = virtbus_resolve_driver,
	.bind = virtbus_bind,
	.free_data = vbus_nl_free_data,
	.monitor_open = virtbus_monitor_open,
	.monitor_dispatch = vbus_nl_kind_monitor_dispatch,
	.monitor_close = vbus_nl_kind_monitor_close,
};

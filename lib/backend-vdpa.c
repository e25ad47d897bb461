// SPDX-License-Identifier: LGPL-2.1-or-later
/* The vdpa kind: vDPA devices of a vdpa management device, over the kernel's "vdpa" family. */
#include <linux/vdpa.h>
#include <stdio.h>

#include "bind.h"
#include "netlink.h"
#include "sysfs.h"

/* Virtio device ids (include/uapi/linux/virtio_ids.h) that vdpa parents offer. */
static const char *const virtio_types[] = {
	[1] = "net", [2] = "blk", [3] = "console", [4] = "rng", [8] = "scsi",
	[20] = "crypto", [26] = "fs", [41] = "gpio",
};

static const char *virtio_type_name(uint32_t id)
{
	if (id < ELEMENTSOF(virtio_types) && virtio_types[id])
		return virtio_types[id];
	return NULL;
}

static struct nla_policy vdpa_policy[VDPA_ATTR_MAX + 1] = {
	[VDPA_ATTR_MGMTDEV_BUS_NAME] = { .type = NLA_STRING },
	[VDPA_ATTR_MGMTDEV_DEV_NAME] = { .type = NLA_STRING },
	[VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES] = { .type = NLA_U64 },
	[VDPA_ATTR_DEV_NAME] = { .type = NLA_STRING },
	[VDPA_ATTR_DEV_ID] = { .type = NLA_U32 },
	[VDPA_ATTR_DEV_VENDOR_ID] = { .type = NLA_U32 },
	[VDPA_ATTR_DEV_MAX_VQS] = { .type = NLA_U32 },
	[VDPA_ATTR_DEV_MAX_VQ_SIZE] = { .type = NLA_U16 },
	[VDPA_ATTR_DEV_MGMTDEV_MAX_VQS] = { .type = NLA_U32 },
};

#define VDPA_SYSFS "/sys/bus/vdpa"

/* ---- reading ---------------------------------------------------------------------------- */

struct mgmtdev_walk {
	struct vbus_ctx *ctx;
	const char *filter;  /* only this parent, when set */
	bool types;	     /* one entry per (parent, type) instead of per parent */
	struct json_object *out;
	int found;
};

static struct json_object *classes_array(uint64_t classes)
{
	struct json_object *a = json_object_new_array();

	for (unsigned i = 0; a && i < 64; i++) {
		const char *t;

		if (!(classes & (1ULL << i)))
			continue;
		t = virtio_type_name(i);
		if (t)
			json_object_array_add(a, json_object_new_string(t));
	}
	return a;
}

static int add_mgmtdev(struct nlattr **tb, void *userdata)
{
	struct mgmtdev_walk *w = userdata;
	_cleanup_free_ char *handle = NULL;
	uint64_t classes = 0;
	struct json_object *o;

	handle = vbus_nl_handle(tb, VDPA_ATTR_MGMTDEV_BUS_NAME, VDPA_ATTR_MGMTDEV_DEV_NAME);
	if (!handle)
		return 0; /* not a management device reply */
	if (w->filter && !streq(w->filter, handle))
		return 0;
	w->found++;
	if (tb[VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES])
		classes = nla_get_u64(tb[VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES]);

	if (w->types) {
		for (unsigned i = 0; i < 64; i++) {
			const char *t = virtio_type_name(i);

			if (!(classes & (1ULL << i)) || !t)
				continue;
			o = json_object_new_object();
			if (!o)
				return -ENOMEM;
			json_object_object_add(o, "parent", json_object_new_string(handle));
			json_object_object_add(o, "kind", json_object_new_string("vdpa"));
			json_object_object_add(o, "type", json_object_new_string(t));
			json_object_array_add(w->out, o);
		}
		return 0;
	}

	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "parent", json_object_new_string(handle));
	json_object_object_add(o, "kind", json_object_new_string("vdpa"));
	json_object_object_add(o, "types", classes_array(classes));
	if (tb[VDPA_ATTR_DEV_MGMTDEV_MAX_VQS])
		json_object_object_add(
			o, "max_vqs",
			json_object_new_int64(nla_get_u32(tb[VDPA_ATTR_DEV_MGMTDEV_MAX_VQS])));
	json_object_array_add(w->out, o);
	return 0;
}

/* The kernel without vdpa (no module, Debian's stock 6.1) simply has no vdpa parents. */
static int walk_mgmtdevs(struct vbus_ctx *ctx, struct mgmtdev_walk *w)
{
	return vbus_nl_dump(ctx, VBUS_KIND_VDPA, VDPA_GENL_NAME, VDPA_CMD_MGMTDEV_GET, vdpa_policy,
			    VDPA_ATTR_MAX, add_mgmtdev, w, "vdpa management devices");
}

static int vdpa_list_parents(struct vbus_ctx *ctx, const char *parent, struct json_object *parents)
{
	struct mgmtdev_walk w = { .ctx = ctx, .filter = parent, .out = parents };

	return walk_mgmtdevs(ctx, &w);
}

static int vdpa_list_types(struct vbus_ctx *ctx, const char *parent, struct json_object *types)
{
	struct mgmtdev_walk w = { .ctx = ctx, .filter = parent, .types = true, .out = types };

	return walk_mgmtdevs(ctx, &w);
}

static int add_runtime(struct vbus_ctx *ctx, struct json_object *o, const char *name)
{
	_cleanup_free_ char *path = NULL, *driver = NULL;
	int r;

	path = vbus_pathf(ctx, VDPA_SYSFS "/devices/%s", name);
	if (!path)
		return -ENOMEM;
	r = vbus_bind_get_driver(ctx, "vdpa", name, &driver);
	if (r < 0 && r != -ENODEV)
		return r;
	json_object_object_add(o, "bound_driver", driver ? json_object_new_string(driver) : NULL);
	json_object_object_add(o, "sysfs_path", json_object_new_string(path));
	return 0;
}

struct dev_walk {
	struct vbus_ctx *ctx;
	struct json_object *out;
};

static int add_dev(struct nlattr **tb, void *userdata)
{
	struct dev_walk *w = userdata;
	_cleanup_free_ char *handle = NULL;
	const char *name, *type = NULL;
	struct json_object *o;

	if (!tb[VDPA_ATTR_DEV_NAME])
		return 0;
	name = nla_get_string(tb[VDPA_ATTR_DEV_NAME]);
	handle = vbus_nl_handle(tb, VDPA_ATTR_MGMTDEV_BUS_NAME, VDPA_ATTR_MGMTDEV_DEV_NAME);
	if (tb[VDPA_ATTR_DEV_ID])
		type = virtio_type_name(nla_get_u32(tb[VDPA_ATTR_DEV_ID]));

	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "kind", json_object_new_string("vdpa"));
	json_object_object_add(o, "parent", handle ? json_object_new_string(handle) : NULL);
	json_object_object_add(o, "type", type ? json_object_new_string(type) : NULL);
	json_object_array_add(w->out, o);
	return add_runtime(w->ctx, o, name);
}

static int vdpa_list_active(struct vbus_ctx *ctx, struct json_object *devices)
{
	struct dev_walk w = { .ctx = ctx, .out = devices };

	return vbus_nl_dump(ctx, VBUS_KIND_VDPA, VDPA_GENL_NAME, VDPA_CMD_DEV_GET, vdpa_policy,
			    VDPA_ATTR_MAX, add_dev, &w, "vdpa devices");
}

/* ---- checking --------------------------------------------------------------------------- */

static int parse_u16(const char *s, uint16_t *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > UINT16_MAX || s[0] == '-')
		return -EINVAL;
	*ret = v;
	return 0;
}

static int check_attrs(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	for (size_t i = 0; i < def->n_attrs; i++) {
		const struct vbus_attr *a = &def->attrs[i];
		uint8_t mac[6];
		uint16_t v;

		if (streq(a->key, "mac")) {
			if (vbus_parse_mac(a->value, mac) < 0)
				return vbus_error(ctx, -EINVAL,
						  "%s: attribute mac: '%s' is not a MAC address",
						  def->name, a->value);
		} else if (streq(a->key, "mtu") || streq(a->key, "max_vqp")) {
			if (parse_u16(a->value, &v) < 0 || v == 0)
				return vbus_error(ctx, -EINVAL,
						  "%s: attribute %s: '%s' is not a number from 1 to 65535",
						  def->name, a->key, a->value);
		} else {
			return vbus_error(ctx, -EINVAL,
					  "%s: vdpa devices take the attributes mac, mtu and max_vqp, not '%s'",
					  def->name, a->key);
		}
	}
	return 0;
}

/* Every (parent, type) for vbus_nl_parent_offers(), and a parent alone when it offers no
 * class this library names. */
static int walk_all_types(struct vbus_ctx *ctx, struct json_object *out)
{
	_cleanup_json_ struct json_object *parents = json_object_new_array();
	struct mgmtdev_walk w = { .ctx = ctx, .out = parents };
	int r;

	if (!parents)
		return -ENOMEM;
	r = walk_mgmtdevs(ctx, &w);
	if (r < 0)
		return r;
	for (size_t i = 0; i < json_object_array_length(parents); i++) {
		struct json_object *e = json_object_array_get_idx(parents, i), *p, *types, *o;
		size_t n;

		if (!json_object_object_get_ex(e, "parent", &p))
			continue;
		if (!json_object_object_get_ex(e, "types", &types))
			types = NULL;
		n = types ? json_object_array_length(types) : 0;
		for (size_t j = 0; j < (n ?: 1); j++) {
			o = json_object_new_object();
			if (!o || json_object_array_add(out, o) < 0) {
				json_object_put(o);
				return -ENOMEM;
			}
			json_object_object_add(o, "parent", json_object_get(p));
			if (n)
				json_object_object_add(o, "type", json_object_get(
								json_object_array_get_idx(types, j)));
		}
	}
	return 0;
}

static int vdpa_check(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	int r;

	r = check_attrs(ctx, def);
	if (r < 0)
		return r;
	if (!ctx->real_root)
		return -ENODEV; /* no kernel to ask: stored, starts where it is real */
	r = vbus_nl_parent_offers(ctx, VBUS_KIND_VDPA, walk_all_types, def->parent, def->type);
	if (r <= 0)
		return r;
	return vbus_error(ctx, -EINVAL, "vdpa parent %s does not offer type %s", def->parent,
			  def->type);
}

static int vdpa_status(struct vbus_ctx *ctx, const struct vbus_def *def, struct vbus_status *st)
{
	_cleanup_free_ char *path = NULL;
	int r;

	if (asprintf(&path, VDPA_SYSFS "/devices/%s", def->name) < 0)
		return -ENOMEM;
	st->active = sysfs_exists(ctx, path);
	if (!st->active)
		return 0;
	free(path);
	path = vbus_pathf(ctx, VDPA_SYSFS "/devices/%s", def->name);
	if (!path)
		return -ENOMEM;
	r = vbus_bind_get_driver(ctx, "vdpa", def->name, &st->bound_driver);
	if (r < 0 && r != -ENODEV)
		return r;
	st->sysfs_path = TAKE_PTR(path);
	return 0;
}

/* ---- changing --------------------------------------------------------------------------- */

static int put_attrs(struct vbus_ctx *ctx, const struct vbus_def *def, struct nl_msg *msg)
{
	for (size_t i = 0; i < def->n_attrs; i++) {
		const struct vbus_attr *a = &def->attrs[i];
		uint8_t mac[6];
		uint16_t v;
		int r;

		if (streq(a->key, "mac")) {
			if (vbus_parse_mac(a->value, mac) < 0)
				return -EINVAL;
			r = nla_put(msg, VDPA_ATTR_DEV_NET_CFG_MACADDR, sizeof(mac), mac);
		} else {
			if (parse_u16(a->value, &v) < 0)
				return -EINVAL;
			r = nla_put_u16(msg,
					streq(a->key, "mtu") ? VDPA_ATTR_DEV_NET_CFG_MTU :
							       VDPA_ATTR_DEV_NET_CFG_MAX_VQP,
					v);
		}
		if (r < 0)
			return -EMSGSIZE;
	}
	return 0;
}

static int dev_del(struct vbus_ctx *ctx, struct vbus_nl *nl, const char *name)
{
	struct nl_msg *msg;
	char what[128];
	int r;

	r = vbus_nl_request(nl, VDPA_GENL_NAME, VDPA_CMD_DEV_DEL, false, &msg);
	if (r < 0)
		return r;
	if (nla_put_string(msg, VDPA_ATTR_DEV_NAME, name) < 0) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	snprintf(what, sizeof(what), "vdpa device %s", name);
	return vbus_nl_call(nl, msg, vdpa_policy, VDPA_ATTR_MAX, NULL, NULL, what);
}

/*
 * A new vdpa device is probed by whichever vdpa driver is loaded the moment it appears. So
 * that it never meets the other driver first, autoprobe of the vdpa bus is off while the device
 * is made; bind() then gives it the chosen driver through driver_override.
 */
static int vdpa_create(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	_cleanup_free_ char *autoprobe = NULL;
	struct vbus_nl *nl;
	struct nl_msg *msg;
	char what[128];
	int r, r2;

	r = vbus_nl_get(ctx, VBUS_KIND_VDPA, &nl);
	if (r < 0)
		return r;
	r = vbus_nl_request(nl, VDPA_GENL_NAME, VDPA_CMD_DEV_NEW, false, &msg);
	if (r < 0)
		return r;
	r = vbus_nl_put_handle(msg, VDPA_ATTR_MGMTDEV_BUS_NAME, VDPA_ATTR_MGMTDEV_DEV_NAME,
			       def->parent);
	if (r >= 0)
		r = nla_put_string(msg, VDPA_ATTR_DEV_NAME, def->name) < 0 ? -EMSGSIZE : 0;
	if (r >= 0)
		r = put_attrs(ctx, def, msg);
	if (r < 0) {
		nlmsg_free(msg);
		return r;
	}

	if (sysfs_read(ctx, VDPA_SYSFS "/drivers_autoprobe", &autoprobe) >= 0 &&
	    streq(autoprobe, "1"))
		(void)sysfs_write(ctx, VDPA_SYSFS "/drivers_autoprobe", "0");
	else
		autoprobe = (free(autoprobe), NULL);

	snprintf(what, sizeof(what), "vdpa device %s on %s", def->name, def->parent);
	r = vbus_nl_call(nl, msg, vdpa_policy, VDPA_ATTR_MAX, NULL, NULL, what);

	if (autoprobe) {
		r2 = sysfs_write(ctx, VDPA_SYSFS "/drivers_autoprobe", "1");
		if (r2 < 0)
			warn(ctx, "could not turn autoprobe of the vdpa bus back on: %s",
			     strerror(-r2));
	}
	return r;
}

static int vdpa_destroy(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	struct vbus_nl *nl;
	int r;

	r = vbus_nl_get(ctx, VBUS_KIND_VDPA, &nl);
	if (r < 0)
		return r;
	return dev_del(ctx, nl, def->name);
}

static int vdpa_resolve_driver(struct vbus_ctx *ctx, const struct vbus_def *def,
			       const char *choice, char **ret)
{
	const char *d;
	char *s;

	if (streq(choice, VBUS_DRIVER_NONE)) {
		*ret = NULL;
		return 0;
	}
	if (streq(choice, VBUS_DRIVER_VFIO))
		d = "vhost_vdpa"; /* the VM path: /dev/vhost-vdpa-N for qemu */
	else if (streq(choice, VBUS_DRIVER_HOST))
		d = "virtio_vdpa"; /* the host's own virtio driver (virtio_net, virtio_blk) */
	else
		d = choice;
	s = strdup(d);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static int vdpa_bind(struct vbus_ctx *ctx, const struct vbus_def *def, const char *driver)
{
	return vbus_bind_driver(ctx, "vdpa", def->name, driver);
}

/* The kind's rules, applied by the core (lib/ops.c). */
static const char *const vdpa_attrs[] = { "mac", "mtu", "max_vqp", NULL };
static const struct vbus_kind_rules vdpa_rules = {
	.a_kind = "a vdpa",
	.index = VBUS_FIELD_REFUSED,
	.attrs = vdpa_attrs,
};

const struct vbus_backend vbus_backend_vdpa = {
	.kind = VBUS_KIND_VDPA,
	.rules = &vdpa_rules,
	.list_parents = vdpa_list_parents,
	.list_types = vdpa_list_types,
	.list_active = vdpa_list_active,
	.check = vdpa_check,
	.status = vdpa_status,
	.status_in_list = true,
	.create = vdpa_create,
	.destroy = vdpa_destroy,
	.resolve_driver = vdpa_resolve_driver,
	.bind = vdpa_bind,
	.free_data = vbus_nl_free_data,
};

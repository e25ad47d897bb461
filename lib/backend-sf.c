// SPDX-License-Identifier: LGPL-2.1-or-later
/* The sf kind: devlink subfunction ports (flavour pcisf) and their auxiliary devices. */
#include <linux/devlink.h>
#include <stdio.h>
#include <time.h>

#include "bind.h"
#include "netlink.h"
#include "sysfs.h"

#define DEVLINK_GENL "devlink"
#define AUX_DEVICES "/sys/bus/auxiliary/devices"

static struct nla_policy devlink_policy[DEVLINK_ATTR_MAX + 1] = {
	[DEVLINK_ATTR_BUS_NAME] = { .type = NLA_STRING },
	[DEVLINK_ATTR_DEV_NAME] = { .type = NLA_STRING },
	[DEVLINK_ATTR_PORT_INDEX] = { .type = NLA_U32 },
	[DEVLINK_ATTR_PORT_FLAVOUR] = { .type = NLA_U16 },
	[DEVLINK_ATTR_PORT_PCI_PF_NUMBER] = { .type = NLA_U16 },
	[DEVLINK_ATTR_PORT_PCI_SF_NUMBER] = { .type = NLA_U32 },
	[DEVLINK_ATTR_PORT_CONTROLLER_NUMBER] = { .type = NLA_U32 },
	[DEVLINK_ATTR_PORT_NETDEV_NAME] = { .type = NLA_STRING },
	[DEVLINK_ATTR_PORT_FUNCTION] = { .type = NLA_NESTED },
};

static struct nla_policy function_policy[DEVLINK_PORT_FUNCTION_ATTR_MAX + 1] = {
	[DEVLINK_PORT_FUNCTION_ATTR_HW_ADDR] = { .type = NLA_UNSPEC },
	[DEVLINK_PORT_FN_ATTR_STATE] = { .type = NLA_U8 },
	[DEVLINK_PORT_FN_ATTR_OPSTATE] = { .type = NLA_U8 },
};

/* One devlink port as the kernel reports it. */
struct port {
	char *handle; /* "bus/dev" */
	uint32_t index;
	uint16_t flavour;
	uint16_t pfnum;
	int64_t sfnum; /* -1: not an SF port */
	char hw_addr[3 * 32];
	int state;   /* -1 unknown */
	int opstate; /* -1 unknown */
};

struct ports {
	struct port *v;
	size_t n;
};

static void ports_done(struct ports *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].handle);
	free(p->v);
	*p = (struct ports){};
}

static void format_hw_addr(const uint8_t *b, int len, char *out, size_t size)
{
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; i < len && o + 3 < size; i++)
		o += snprintf(out + o, size - o, "%s%02x", i ? ":" : "", b[i]);
}

static int add_port(struct nlattr **tb, void *userdata)
{
	struct ports *p = userdata;
	struct port *n, port = { .sfnum = -1, .state = -1, .opstate = -1 };

	if (!tb[DEVLINK_ATTR_PORT_INDEX])
		return 0;
	port.handle = vbus_nl_handle(tb, DEVLINK_ATTR_BUS_NAME, DEVLINK_ATTR_DEV_NAME);
	if (!port.handle)
		return -ENOMEM;
	port.index = nla_get_u32(tb[DEVLINK_ATTR_PORT_INDEX]);
	if (tb[DEVLINK_ATTR_PORT_FLAVOUR])
		port.flavour = nla_get_u16(tb[DEVLINK_ATTR_PORT_FLAVOUR]);
	if (tb[DEVLINK_ATTR_PORT_PCI_PF_NUMBER])
		port.pfnum = nla_get_u16(tb[DEVLINK_ATTR_PORT_PCI_PF_NUMBER]);
	if (port.flavour == DEVLINK_PORT_FLAVOUR_PCI_SF && tb[DEVLINK_ATTR_PORT_PCI_SF_NUMBER])
		port.sfnum = nla_get_u32(tb[DEVLINK_ATTR_PORT_PCI_SF_NUMBER]);
	if (tb[DEVLINK_ATTR_PORT_FUNCTION]) {
		struct nlattr *fn[DEVLINK_PORT_FUNCTION_ATTR_MAX + 1];

		if (nla_parse_nested(fn, DEVLINK_PORT_FUNCTION_ATTR_MAX,
				     tb[DEVLINK_ATTR_PORT_FUNCTION], function_policy) == 0) {
			if (fn[DEVLINK_PORT_FUNCTION_ATTR_HW_ADDR])
				format_hw_addr(nla_data(fn[DEVLINK_PORT_FUNCTION_ATTR_HW_ADDR]),
					       nla_len(fn[DEVLINK_PORT_FUNCTION_ATTR_HW_ADDR]),
					       port.hw_addr, sizeof(port.hw_addr));
			if (fn[DEVLINK_PORT_FN_ATTR_STATE])
				port.state = nla_get_u8(fn[DEVLINK_PORT_FN_ATTR_STATE]);
			if (fn[DEVLINK_PORT_FN_ATTR_OPSTATE])
				port.opstate = nla_get_u8(fn[DEVLINK_PORT_FN_ATTR_OPSTATE]);
		}
	}

	n = realloc(p->v, (p->n + 1) * sizeof(*p->v));
	if (!n) {
		free(port.handle);
		return -ENOMEM;
	}
	p->v = n;
	p->v[p->n++] = port;
	return 0;
}

/* All devlink ports; none (and no error) when the kernel has no devlink. In 6.1 the dump
 * replies come as DEVLINK_CMD_NEW, which the reply callback does not care about. */
static int dump_ports(struct vbus_ctx *ctx, struct ports *ret)
{
	int r;

	r = vbus_nl_dump(ctx, VBUS_KIND_SF, DEVLINK_GENL, DEVLINK_CMD_PORT_GET, devlink_policy,
			 DEVLINK_ATTR_MAX, add_port, ret, "devlink ports");
	if (r < 0)
		ports_done(ret);
	return r;
}

static const struct port *find_sf(const struct ports *p, const char *handle, int64_t sfnum)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].sfnum == sfnum && streq(p->v[i].handle, handle))
			return &p->v[i];
	return NULL;
}

/*
 * What this context learnt of SF ports and their auxiliary devices, so that one start or
 * status does not dump every port nor walk every auxiliary device (with 1 000 SFs that made
 * each start linear, an apply --now of them quadratic). ctx->sf_cache maps "HANDLE|SFNUM"
 * to {"port": index, "aux": name}; ctx->sf_aux_seen holds the auxiliary devices looked at.
 * Every entry is checked against the kernel before it is believed.
 */
static struct json_object *cache_entry(struct vbus_ctx *ctx, const char *handle, int64_t sfnum,
				       bool create)
{
	struct json_object *e;
	char key[256];

	if (!ctx->sf_cache) {
		if (!create || !(ctx->sf_cache = json_object_new_object()))
			return NULL;
	}
	snprintf(key, sizeof(key), "%s|%" PRId64, handle, sfnum);
	if (json_object_object_get_ex(ctx->sf_cache, key, &e))
		return e;
	if (!create)
		return NULL;
	e = json_object_new_object();
	if (!e || json_object_object_add(ctx->sf_cache, key, e) < 0) {
		json_object_put(e);
		return NULL;
	}
	return e;
}

static void cache_set_port(struct vbus_ctx *ctx, const char *handle, int64_t sfnum, uint32_t port)
{
	struct json_object *e = cache_entry(ctx, handle, sfnum, true);

	if (e)
		json_object_object_add(e, "port", json_object_new_int64(port));
}

static void cache_drop_port(struct vbus_ctx *ctx, const char *handle, int64_t sfnum)
{
	struct json_object *e = cache_entry(ctx, handle, sfnum, false);

	if (e)
		json_object_object_del(e, "port");
}

static void cache_set_aux(struct vbus_ctx *ctx, const char *handle, int64_t sfnum, const char *aux)
{
	struct json_object *e = cache_entry(ctx, handle, sfnum, true);

	if (e)
		json_object_object_add(e, "aux", json_object_new_string(aux));
}

/* The port of HANDLE with INDEX, asked for alone (PORT_GET doit): 0 and *RET filled, -ENODEV
 * when there is none. */
static int port_get(struct vbus_ctx *ctx, const char *handle, uint32_t index, struct ports *ret)
{
	struct vbus_nl *nl;
	struct nl_msg *msg;
	int r;

	r = vbus_nl_get(ctx, VBUS_KIND_SF, &nl);
	if (r < 0)
		return r;
	r = vbus_nl_request(nl, DEVLINK_GENL, DEVLINK_CMD_PORT_GET, false, &msg);
	if (r < 0)
		return r;
	r = vbus_nl_put_handle(msg, DEVLINK_ATTR_BUS_NAME, DEVLINK_ATTR_DEV_NAME, handle);
	if (r >= 0 && nla_put_u32(msg, DEVLINK_ATTR_PORT_INDEX, index) < 0)
		r = -EMSGSIZE;
	if (r < 0) {
		nlmsg_free(msg);
		return r;
	}
	r = vbus_nl_call(nl, msg, devlink_policy, DEVLINK_ATTR_MAX, add_port, ret, "devlink port");
	if (r < 0) {
		ports_done(ret);
		vbus_error_clear(ctx);
		return -ENODEV;
	}
	return 0;
}

/*
 * SF SFNUM of HANDLE: its port from the cache, checked with one PORT_GET, else from a dump of
 * all ports (which refills the cache for every SF port). 0 and *RET (a copy, handle
 * borrowed from P) filled, -ENODEV when there is no such port.
 */
static int find_port(struct vbus_ctx *ctx, const char *handle, int64_t sfnum, struct ports *p,
		     const struct port **ret)
{
	struct json_object *e = cache_entry(ctx, handle, sfnum, false), *v;
	const struct port *x;
	int r;

	if (e && json_object_object_get_ex(e, "port", &v)) {
		r = port_get(ctx, handle, (uint32_t)json_object_get_int64(v), p);
		if (r < 0 && r != -ENODEV)
			return r;
		x = r >= 0 ? find_sf(p, handle, sfnum) : NULL;
		if (x) {
			*ret = x;
			return 0;
		}
		ports_done(p);
		json_object_object_del(e, "port");
	}
	/* Not in the cache, and the cache knows every port: while vbus holds the store's lock
	 * (a batch such as apply --now), a dump made under this same hold, kept up to date by
	 * this context's creations and removals, says there is none. Another tool adding that
	 * SF meanwhile makes the kernel refuse the creation, which resets this. */
	if (ctx->lock_depth > 0 && ctx->sf_complete_gen == ctx->lock_gen)
		return -ENODEV;
	r = dump_ports(ctx, p);
	if (r < 0)
		return r;
	if (ctx->sf_cache) {
		json_object_object_foreach (ctx->sf_cache, key, entry) {
			(void)key;
			json_object_object_del(entry, "port");
		}
	}
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].sfnum >= 0)
			cache_set_port(ctx, p->v[i].handle, p->v[i].sfnum, p->v[i].index);
	ctx->sf_complete_gen = ctx->lock_depth > 0 ? ctx->lock_gen : 0;
	x = find_sf(p, handle, sfnum);
	if (!x)
		return -ENODEV;
	*ret = x;
	return 0;
}

/* The auxiliary device NAME belongs to SF SFNUM of the device DEV: it is DEV's child and its
 * "sfnum" says SFNUM. */
static bool aux_is(struct vbus_ctx *ctx, const char *name, const char *dev, int64_t sfnum)
{
	_cleanup_free_ char *path = NULL, *parent = NULL;
	uint64_t v;

	if (asprintf(&path, AUX_DEVICES "/%s", name) < 0)
		return false;
	if (sysfs_link_parent_name(ctx, path, &parent) < 0 || !streq(parent, dev))
		return false;
	free(path);
	if (asprintf(&path, AUX_DEVICES "/%s/sfnum", name) < 0) {
		path = NULL;
		return false;
	}
	return sysfs_read_u64(ctx, path, &v) >= 0 && (int64_t)v == sfnum;
}

/*
 * The auxiliary device of SF SFNUM under the devlink instance HANDLE: its sysfs directory lies
 * below the instance's device (/sys/bus/BUS/devices/DEV) and its "sfnum" attribute matches.
 * *ret is its name on the auxiliary bus ("vbus_sim.sf.3", "mlx5_core.sf.2").
 */
static int find_aux(struct vbus_ctx *ctx, const char *handle, int64_t sfnum, char **ret)
{
	_cleanup_strv_ char **names = NULL;
	const char *slash = strchr(handle, '/');
	struct json_object *e, *v;
	const char *dev;
	int r;

	if (!slash)
		return -ENODEV;
	dev = slash + 1;
	/* Known already: one readlink() and one read to be sure it still is. */
	e = cache_entry(ctx, handle, sfnum, false);
	if (e && json_object_object_get_ex(e, "aux", &v)) {
		if (aux_is(ctx, json_object_get_string(v), dev, sfnum)) {
			*ret = strdup(json_object_get_string(v));
			return *ret ? 0 : -ENOMEM;
		}
		json_object_object_del(e, "aux");
	}
	/* Else look at the auxiliary devices not seen yet (a new SF's, typically), and at all of
	 * them when that finds nothing (a name reused for another device). */
	r = sysfs_list_dir(ctx, AUX_DEVICES, &names, NULL);
	if (r < 0)
		return -ENODEV;
	if (!ctx->sf_aux_seen && !(ctx->sf_aux_seen = json_object_new_object()))
		return -ENOMEM;
	for (int pass = 0; pass < 2; pass++) {
		for (char **n = names; *n; n++) {
			_cleanup_free_ char *path = NULL, *parent = NULL;
			uint64_t num;

			if (pass == 0 && json_object_object_get_ex(ctx->sf_aux_seen, *n, NULL))
				continue;
			json_object_object_add(ctx->sf_aux_seen, *n, NULL);
			if (asprintf(&path, AUX_DEVICES "/%s", *n) < 0)
				return -ENOMEM;
			if (sysfs_link_parent_name(ctx, path, &parent) < 0)
				continue;
			free(path);
			if (asprintf(&path, AUX_DEVICES "/%s/sfnum", *n) < 0) {
				path = NULL;
				return -ENOMEM;
			}
			if (sysfs_read_u64(ctx, path, &num) < 0)
				continue;
			/* Remembered under its instance's device name; HANDLE's bus is the same
			 * for all SFs of one parent device. */
			if (streq(parent, dev)) {
				cache_set_aux(ctx, handle, (int64_t)num, *n);
				if ((int64_t)num == sfnum) {
					*ret = strdup(*n);
					return *ret ? 0 : -ENOMEM;
				}
			}
		}
	}
	return -ENODEV;
}

/* ---- reading ---------------------------------------------------------------------------- */

/* A devlink instance can make SFs when it is an eswitch manager: it has a pcipf port (mlx5 in
 * switchdev mode, vbus_sim) or SF ports already. */
static int sf_list_parents(struct vbus_ctx *ctx, const char *parent, struct json_object *parents)
{
	struct ports p = {};
	int r;

	r = dump_ports(ctx, &p);
	if (r < 0)
		return r;
	for (size_t i = 0; i < p.n; i++) {
		const struct port *x = &p.v[i];
		struct json_object *o;
		unsigned count = 0;
		bool seen = false;

		if (x->flavour != DEVLINK_PORT_FLAVOUR_PCI_PF &&
		    x->flavour != DEVLINK_PORT_FLAVOUR_PCI_SF)
			continue;
		if (parent && !streq(parent, x->handle))
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = streq(p.v[j].handle, x->handle) &&
			       (p.v[j].flavour == DEVLINK_PORT_FLAVOUR_PCI_PF ||
				p.v[j].flavour == DEVLINK_PORT_FLAVOUR_PCI_SF);
		if (seen)
			continue;
		for (size_t j = 0; j < p.n; j++)
			count += streq(p.v[j].handle, x->handle) && p.v[j].sfnum >= 0;

		o = json_object_new_object();
		if (!o) {
			r = -ENOMEM;
			break;
		}
		json_object_object_add(o, "parent", json_object_new_string(x->handle));
		json_object_object_add(o, "kind", json_object_new_string("sf"));
		json_object_object_add(o, "num_sfs", json_object_new_int64(count));
		json_object_array_add(parents, o);
	}
	ports_done(&p);
	return r;
}

static int add_runtime(struct vbus_ctx *ctx, struct json_object *o, const char *handle,
		       int64_t sfnum)
{
	_cleanup_free_ char *aux = NULL, *driver = NULL, *path = NULL;

	if (find_aux(ctx, handle, sfnum, &aux) == 0) {
		path = vbus_pathf(ctx, AUX_DEVICES "/%s", aux);
		if (!path)
			return -ENOMEM;
		(void)vbus_bind_get_driver(ctx, "auxiliary", aux, &driver);
	}
	json_object_object_add(o, "bound_driver", driver ? json_object_new_string(driver) : NULL);
	json_object_object_add(o, "sysfs_path", path ? json_object_new_string(path) : NULL);
	json_object_object_add(o, "aux_device", aux ? json_object_new_string(aux) : NULL);
	return 0;
}

static int sf_list_active(struct vbus_ctx *ctx, struct json_object *devices)
{
	struct ports p = {};
	int r;

	r = dump_ports(ctx, &p);
	if (r < 0)
		return r;
	for (size_t i = 0; i < p.n && r >= 0; i++) {
		const struct port *x = &p.v[i];
		const char *dev = strchr(x->handle, '/');
		struct json_object *o;
		char name[128];

		if (x->sfnum < 0)
			continue;
		snprintf(name, sizeof(name), "%s-sf%" PRId64, dev ? dev + 1 : x->handle, x->sfnum);
		o = json_object_new_object();
		if (!o) {
			r = -ENOMEM;
			break;
		}
		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "kind", json_object_new_string("sf"));
		json_object_object_add(o, "parent", json_object_new_string(x->handle));
		json_object_object_add(o, "index", json_object_new_int64(x->sfnum));
		json_object_object_add(o, "port_index", json_object_new_int64(x->index));
		if (x->hw_addr[0])
			json_object_object_add(o, "hw_addr", json_object_new_string(x->hw_addr));
		json_object_object_add(o, "state",
				       json_object_new_string(x->state == DEVLINK_PORT_FN_STATE_ACTIVE ?
								      "active" :
								      "inactive"));
		json_object_array_add(devices, o);
		r = add_runtime(ctx, o, x->handle, x->sfnum);
	}
	ports_done(&p);
	return r;
}

/* ---- checking --------------------------------------------------------------------------- */

static int match_instance(struct nlattr **tb, void *userdata)
{
	const char **want = userdata;
	_cleanup_free_ char *handle = vbus_nl_handle(tb, DEVLINK_ATTR_BUS_NAME, DEVLINK_ATTR_DEV_NAME);

	if (handle && streq(handle, want[0]))
		want[1] = "";
	return 0;
}

/* 1 when the devlink instance HANDLE exists, 0 when not (or no devlink at all). */
static int instance_exists(struct vbus_ctx *ctx, const char *handle)
{
	const char *want[2] = { handle, NULL };
	int r;

	r = vbus_nl_dump(ctx, VBUS_KIND_SF, DEVLINK_GENL, DEVLINK_CMD_GET, devlink_policy,
			 DEVLINK_ATTR_MAX, match_instance, want, "devlink instances");
	if (r < 0)
		return r;
	return want[1] ? 1 : 0;
}

static const char *attr_value(const struct vbus_def *def, const char *key)
{
	for (size_t i = 0; i < def->n_attrs; i++)
		if (streq(def->attrs[i].key, key))
			return def->attrs[i].value;
	return NULL;
}

static int sf_check(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	uint8_t mac[6];
	int r;

	if (def->index < 0)
		return vbus_error(ctx, -EINVAL, "%s: an sf definition needs --index SFNUM",
				  def->name);
	if (def->index > UINT32_MAX)
		return vbus_error(ctx, -EINVAL, "%s: sfnum %" PRId64 " is out of range", def->name,
				  def->index);
	if (!strchr(def->parent, '/'))
		return vbus_error(ctx, -EINVAL,
				  "%s: parent '%s' is not a devlink handle (BUS/DEVICE, e.g. pci/0000:06:00.0)",
				  def->name, def->parent);
	for (size_t i = 0; i < def->n_attrs; i++) {
		const struct vbus_attr *a = &def->attrs[i];

		if (streq(a->key, "hw_addr")) {
			if (vbus_parse_mac(a->value, mac) < 0)
				return vbus_error(ctx, -EINVAL,
						  "%s: attribute hw_addr: '%s' is not a MAC address",
						  def->name, a->value);
		} else {
			return vbus_error(ctx, -EINVAL,
					  "%s: sf devices take the attribute hw_addr, not '%s'",
					  def->name, a->key);
		}
	}
	if (!ctx->real_root)
		return -ENODEV;

	/* Present is enough: whether the instance makes SFs only PORT_NEW can tell. */
	r = instance_exists(ctx, def->parent);
	if (r < 0)
		return r;
	return r ? 0 : -ENODEV;
}

static int sf_status(struct vbus_ctx *ctx, const struct vbus_def *def, struct vbus_status *st)
{
	_cleanup_free_ char *aux = NULL;
	const struct port *x = NULL;
	struct ports p = {};
	int r;

	if (!ctx->real_root)
		return 0;
	r = find_port(ctx, def->parent, def->index, &p, &x);
	if (r < 0 && r != -ENODEV)
		return r;
	/* A port whose function is inactive has no device: it is not active (and creating it
	 * again is refused by the kernel, which says why), but partial: a start killed between
	 * PORT_NEW and the activation, or a stop between the deactivation and PORT_DEL, left it. */
	st->active = x && x->state == DEVLINK_PORT_FN_STATE_ACTIVE;
	st->partial = x && !st->active;
	ports_done(&p);
	if (!st->active || find_aux(ctx, def->parent, def->index, &aux) < 0)
		return 0;
	st->sysfs_path = vbus_pathf(ctx, AUX_DEVICES "/%s", aux);
	if (!st->sysfs_path)
		return -ENOMEM;
	r = vbus_bind_get_driver(ctx, "auxiliary", aux, &st->bound_driver);
	return r == -ENODEV ? 0 : r;
}

/* ---- changing --------------------------------------------------------------------------- */

static int port_request(struct vbus_nl *nl, uint8_t cmd, const char *handle, struct nl_msg **ret)
{
	struct nl_msg *msg;
	int r;

	r = vbus_nl_request(nl, DEVLINK_GENL, cmd, false, &msg);
	if (r < 0)
		return r;
	r = vbus_nl_put_handle(msg, DEVLINK_ATTR_BUS_NAME, DEVLINK_ATTR_DEV_NAME, handle);
	if (r < 0) {
		nlmsg_free(msg);
		return r;
	}
	*ret = msg;
	return 0;
}

static int port_reply(struct nlattr **tb, void *userdata)
{
	uint32_t *index = userdata;

	if (tb[DEVLINK_ATTR_PORT_INDEX])
		*index = nla_get_u32(tb[DEVLINK_ATTR_PORT_INDEX]);
	return 0;
}

/* PORT_SET of the port function: hw_addr (when MAC) and/or state (when STATE >= 0). */
static int function_set(struct vbus_nl *nl, const struct vbus_def *def, uint32_t port,
			const uint8_t *mac, int state)
{
	struct nl_msg *msg;
	struct nlattr *fn;
	char what[160];
	int r;

	r = port_request(nl, DEVLINK_CMD_PORT_SET, def->parent, &msg);
	if (r < 0)
		return r;
	if (nla_put_u32(msg, DEVLINK_ATTR_PORT_INDEX, port) < 0 ||
	    !(fn = nla_nest_start(msg, DEVLINK_ATTR_PORT_FUNCTION)) ||
	    (mac && nla_put(msg, DEVLINK_PORT_FUNCTION_ATTR_HW_ADDR, 6, mac) < 0) ||
	    (state >= 0 && nla_put_u8(msg, DEVLINK_PORT_FN_ATTR_STATE, state) < 0)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	nla_nest_end(msg, fn);
	snprintf(what, sizeof(what), "sf %" PRId64 " of %s (port %u)", def->index, def->parent,
		 port);
	return vbus_nl_call(nl, msg, devlink_policy, DEVLINK_ATTR_MAX, NULL, NULL, what);
}

static int port_del(struct vbus_nl *nl, const struct vbus_def *def, uint32_t port)
{
	struct nl_msg *msg;
	char what[160];
	int r;

	r = port_request(nl, DEVLINK_CMD_PORT_DEL, def->parent, &msg);
	if (r < 0)
		return r;
	if (nla_put_u32(msg, DEVLINK_ATTR_PORT_INDEX, port) < 0) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	snprintf(what, sizeof(what), "sf %" PRId64 " of %s (port %u)", def->index, def->parent,
		 port);
	return vbus_nl_call(nl, msg, devlink_policy, DEVLINK_ATTR_MAX, NULL, NULL, what);
}

/* The auxiliary device comes from the driver after "state active", possibly from a work item
 * (mlx5): wait for it a little. */
static int wait_aux(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	_cleanup_free_ char *aux = NULL;

	for (int i = 0; i < 100; i++) {
		if (find_aux(ctx, def->parent, def->index, &aux) == 0)
			return 0;
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	}
	return vbus_error(ctx, -ETIMEDOUT,
			  "sf %" PRId64 " of %s: the auxiliary device did not appear within 2 s",
			  def->index, def->parent);
}

static int sf_create(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	const char *hw = attr_value(def, "hw_addr");
	struct vbus_nl *nl;
	struct nl_msg *msg;
	uint32_t port = UINT32_MAX;
	uint8_t mac[6];
	char what[160];
	int r;

	r = vbus_nl_get(ctx, VBUS_KIND_SF, &nl);
	if (r < 0)
		return r;
	if (hw && vbus_parse_mac(hw, mac) < 0)
		return -EINVAL;

	r = port_request(nl, DEVLINK_CMD_PORT_NEW, def->parent, &msg);
	if (r < 0)
		return r;
	if (nla_put_u16(msg, DEVLINK_ATTR_PORT_FLAVOUR, DEVLINK_PORT_FLAVOUR_PCI_SF) < 0 ||
	    nla_put_u16(msg, DEVLINK_ATTR_PORT_PCI_PF_NUMBER, 0) < 0 ||
	    nla_put_u32(msg, DEVLINK_ATTR_PORT_PCI_SF_NUMBER, def->index) < 0) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	snprintf(what, sizeof(what), "sf %" PRId64 " of %s", def->index, def->parent);
	r = vbus_nl_call(nl, msg, devlink_policy, DEVLINK_ATTR_MAX, port_reply, &port, what);
	if (r < 0) {
		ctx->sf_complete_gen = 0; /* someone else's port, maybe: dump next time */
		return r;
	}
	if (port == UINT32_MAX)
		return vbus_error(ctx, -EIO, "%s: the kernel did not say which port it made", what);
	cache_set_port(ctx, def->parent, def->index, port);

	r = function_set(nl, def, port, hw ? mac : NULL, DEVLINK_PORT_FN_STATE_ACTIVE);
	if (r >= 0)
		r = wait_aux(ctx, def);
	if (r < 0) {
		char *cause = vbus_error_take(ctx);

		(void)function_set(nl, def, port, NULL, DEVLINK_PORT_FN_STATE_INACTIVE);
		if (port_del(nl, def, port) >= 0)
			cache_drop_port(ctx, def->parent, def->index);
		vbus_error_restore(ctx, cause);
	}
	return r;
}

static int sf_destroy(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	const struct port *x = NULL;
	struct ports p = {};
	struct vbus_nl *nl;
	uint32_t port;
	int r;

	r = vbus_nl_get(ctx, VBUS_KIND_SF, &nl);
	if (r < 0)
		return r;
	r = find_port(ctx, def->parent, def->index, &p, &x);
	if (r == -ENODEV)
		return 0;
	if (r < 0)
		return r;
	port = x->index;
	if (x->state == DEVLINK_PORT_FN_STATE_ACTIVE)
		r = function_set(nl, def, port, NULL, DEVLINK_PORT_FN_STATE_INACTIVE);
	ports_done(&p);
	if (r < 0)
		return r;
	r = port_del(nl, def, port);
	if (r >= 0)
		cache_drop_port(ctx, def->parent, def->index);
	return r;
}

/* SFs have no driver_override (the auxiliary bus lacks it in 6.1): "host" and "vfio" mean the
 * driver that claims the auxiliary device when it is probed; "none" unbinds it; a name is
 * checked against what bound. */
static int sf_resolve_driver(struct vbus_ctx *ctx, const struct vbus_def *def, const char *choice,
			     char **ret)
{
	_cleanup_free_ char *aux = NULL, *bound = NULL;
	int r;

	if (streq(choice, VBUS_DRIVER_NONE)) {
		*ret = NULL;
		return 0;
	}
	if (!streq(choice, VBUS_DRIVER_HOST) && !streq(choice, VBUS_DRIVER_VFIO)) {
		*ret = strdup(choice);
		return *ret ? 0 : -ENOMEM;
	}
	r = find_aux(ctx, def->parent, def->index, &aux);
	if (r < 0)
		return vbus_error(ctx, r, "sf %" PRId64 " of %s has no auxiliary device", def->index,
				  def->parent);
	r = vbus_bind_get_driver(ctx, "auxiliary", aux, &bound);
	if (r >= 0 && !bound) {
		r = sysfs_write(ctx, "/sys/bus/auxiliary/drivers_probe", aux);
		if (r >= 0)
			r = vbus_bind_get_driver(ctx, "auxiliary", aux, &bound);
	}
	if (r < 0)
		return vbus_error(ctx, r, "probing %s: %s", aux, strerror(-r));
	if (!bound)
		return vbus_error(ctx, -ENODEV, "no driver takes the auxiliary device %s", aux);
	*ret = TAKE_PTR(bound);
	return 0;
}

static int sf_bind(struct vbus_ctx *ctx, const struct vbus_def *def, const char *driver)
{
	_cleanup_free_ char *aux = NULL, *bound = NULL;
	int r;

	r = find_aux(ctx, def->parent, def->index, &aux);
	if (r < 0)
		return vbus_error(ctx, r, "sf %" PRId64 " of %s has no auxiliary device", def->index,
				  def->parent);
	if (!driver)
		return vbus_bind_driver(ctx, "auxiliary", aux, NULL);
	r = vbus_bind_get_driver(ctx, "auxiliary", aux, &bound);
	if (r < 0)
		return r;
	if (!bound) {
		r = sysfs_write(ctx, "/sys/bus/auxiliary/drivers_probe", aux);
		if (r >= 0)
			r = vbus_bind_get_driver(ctx, "auxiliary", aux, &bound);
		if (r < 0)
			return vbus_error(ctx, r, "probing %s: %s", aux, strerror(-r));
	}
	if (!streq_ptr(bound, driver))
		return vbus_error(ctx, -EIO,
				  "%s is bound to %s, not %s (the auxiliary bus has no driver_override)",
				  aux, bound ?: "no driver", driver);
	return 0;
}

/* ---- following devlink's "config" group -------------------------------------------------- */

/*
 * devlink announces on "config" every port registered or unregistered (PORT_NEW, PORT_DEL, with
 * the attributes of a PORT_GET reply), a port function set (PORT_NEW again, with its new state)
 * and instances registered or gone (NEW, DEL). A port added by hand whose function is never
 * activated makes no uevent: this is how the listing learns of it. An SF port is a device of
 * this kind; a PF port (an eswitch manager) is what makes its instance a parent.
 */
static int sf_event(uint8_t cmd, struct nlattr **tb, void *userdata)
{
	struct vbus_nl_kind_monitor *m = userdata;
	_cleanup_free_ char *handle = vbus_nl_handle(tb, DEVLINK_ATTR_BUS_NAME, DEVLINK_ATTR_DEV_NAME);
	struct vbus_monitor_event ev = { .kind = VBUS_KIND_SF, .parent = handle, .index = -1 };
	bool gone = cmd == DEVLINK_CMD_PORT_DEL || cmd == DEVLINK_CMD_DEL;
	uint16_t flavour;

	if (!handle)
		return 0;
	switch (cmd) {
	case DEVLINK_CMD_NEW:
	case DEVLINK_CMD_DEL:
		ev.what = gone ? VBUS_MONITOR_PARENT_GONE : VBUS_MONITOR_PARENT_NEW;
		break;
	case DEVLINK_CMD_PORT_NEW:
	case DEVLINK_CMD_PORT_SET:
	case DEVLINK_CMD_PORT_DEL:
		if (!tb[DEVLINK_ATTR_PORT_FLAVOUR])
			return 0;
		flavour = nla_get_u16(tb[DEVLINK_ATTR_PORT_FLAVOUR]);
		if (flavour == DEVLINK_PORT_FLAVOUR_PCI_SF && tb[DEVLINK_ATTR_PORT_PCI_SF_NUMBER]) {
			ev.what = VBUS_MONITOR_DEVICE;
			ev.index = nla_get_u32(tb[DEVLINK_ATTR_PORT_PCI_SF_NUMBER]);
		} else if (flavour == DEVLINK_PORT_FLAVOUR_PCI_PF) {
			ev.what = gone ? VBUS_MONITOR_PARENT_GONE : VBUS_MONITOR_PARENT_NEW;
		} else {
			return 0; /* physical ports, VF representors: nothing of ours */
		}
		break;
	default:
		return 0; /* parameters, health reporters, traps, rates, regions */
	}
	m->fn(&ev, m->userdata);
	return 0;
}

static int sf_monitor_open(struct vbus_ctx *ctx, vbus_monitor_fn fn, void *userdata,
			    void **ret_handle, int *ret_fd)
{
	return vbus_nl_kind_monitor_open(ctx, DEVLINK_GENL, DEVLINK_GENL_MCGRP_CONFIG_NAME,
					 devlink_policy, DEVLINK_ATTR_MAX, sf_event, fn, userdata,
					 ret_handle, ret_fd);
}

/* The kind's rules, applied by the core (lib/ops.c). */
static const char *const sf_attrs[] = { "hw_addr", NULL };
static const struct vbus_kind_rules sf_rules = {
	.a_kind = "an sf",
	.parent_handle = true,
	.identity = VBUS_IDENTITY_INDEX,
	.index_label = "SF",
	.type = VBUS_FIELD_REFUSED,
	.attrs = sf_attrs,
	.pick_index = true,
};

const struct vbus_backend vbus_backend_sf = {
	.kind = VBUS_KIND_SF,
	.rules = &sf_rules,
	.list_parents = sf_list_parents,
	.list_active = sf_list_active,
	.check = sf_check,
	.status = sf_status,
	.status_in_list = true,
	.create = sf_create,
	.destroy = sf_destroy,
	.resolve_driver = sf_resolve_driver,
	.bind = sf_bind,
	.free_data = vbus_nl_free_data,
	.monitor_open = sf_monitor_open,
	.monitor_dispatch = vbus_nl_kind_monitor_dispatch,
	.monitor_close = vbus_nl_kind_monitor_close,
};

// SPDX-License-Identifier: LGPL-2.1-or-later
/* Per-VF settings (mac, vlan, trust, ...) on the PF's netdev over rtnetlink, with libnl-route. */
#include <dlfcn.h>
#include <inttypes.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <stdio.h>

#include <netlink/route/link.h>
#include <netlink/route/link/sriov.h>

#include "netlink.h"
#include "sysfs.h"
#include "vf-netdev.h"

/*
 * libnl-route is loaded when a VF's netdev settings are first applied, not linked: its
 * constructors register about a hundred link, qdisc and classifier modules, some 0.4 ms of
 * every vbusctl start, and almost no command touches a VF's netdev. Only what this file calls
 * is looked up (systemd loads its optional libraries the same way).
 */
#define ROUTE_LIB "libnl-route-3.so.200"
#define ROUTE_SYMS(X) \
	X(rtnl_link_alloc) \
	X(rtnl_link_build_change_request) \
	X(rtnl_link_get_num_vf) \
	X(rtnl_link_put) \
	X(rtnl_link_set_ifindex) \
	X(rtnl_link_vf_add) \
	X(rtnl_link_vf_alloc) \
	X(rtnl_link_vf_get) \
	X(rtnl_link_vf_get_addr) \
	X(rtnl_link_vf_get_linkstate) \
	X(rtnl_link_vf_get_rate) \
	X(rtnl_link_vf_get_spoofchk) \
	X(rtnl_link_vf_get_trust) \
	X(rtnl_link_vf_get_vlans) \
	X(rtnl_link_vf_put) \
	X(rtnl_link_vf_set_addr) \
	X(rtnl_link_vf_set_index) \
	X(rtnl_link_vf_set_linkstate) \
	X(rtnl_link_vf_set_rate) \
	X(rtnl_link_vf_set_spoofchk) \
	X(rtnl_link_vf_set_trust) \
	X(rtnl_link_vf_set_vlans) \
	X(rtnl_link_vf_vlan_alloc) \
	X(rtnl_link_vf_vlan_put)
#define DECLARE(f) static typeof(f) *sym_##f;
ROUTE_SYMS(DECLARE)

static int route_load(struct vbus_ctx *ctx)
{
	static void *dl;
	void *h;
	int r;

	if (dl)
		return 0;
	r = vbus_nl_dlopen(ctx); /* libnl-3 first: the objects below are freed with its calls */
	if (r < 0)
		return r;
	h = dlopen(ROUTE_LIB, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return vbus_error(ctx, -EOPNOTSUPP, "cannot load %s: %s", ROUTE_LIB, dlerror());
#define LOAD(f)                                                                                    \
	if (!(sym_##f = dlsym(h, #f))) {                                                           \
		dlclose(h);                                                                        \
		return vbus_error(ctx, -EOPNOTSUPP, "%s has no %s", ROUTE_LIB, #f);                \
	}
	ROUTE_SYMS(LOAD)
	dl = h;
	return 0;
}

#define KEYS "mac, vlan, qos, trust, spoofchk, link_state, min_tx_rate, max_tx_rate"

static const char *const link_states[] = {
    [IFLA_VF_LINK_STATE_AUTO] = "auto",
    [IFLA_VF_LINK_STATE_ENABLE] = "enable",
    [IFLA_VF_LINK_STATE_DISABLE] = "disable",
};

/* A decimal number 0..MAX, digits only (no sign, no blanks, no base prefix). */
static int parse_u32(const char *s, uint32_t max, uint32_t *ret)
{
	uint64_t v = 0;

	if (!s || !*s || strlen(s) > 10)
		return -EINVAL;
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*c - '0');
	}
	if (v > max)
		return -ERANGE;
	*ret = (uint32_t)v;
	return 0;
}

static int parse_switch(const char *s, bool *ret)
{
	if (streq(s, "on"))
		*ret = true;
	else if (streq(s, "off"))
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

int vbus_vf_settings_parse(struct vbus_ctx *ctx, const struct vbus_def *def,
			   struct vbus_vf_settings *ret)
{
	struct vbus_vf_settings s = {};
	bool have_qos = false, have_min = false, have_max = false;
	unsigned seen = 0;

	for (size_t i = 0; i < def->n_attrs; i++) {
		static const char *const keys[] = {"mac",	  "vlan",	"qos",
						   "trust",	  "spoofchk",	"link_state",
						   "min_tx_rate", "max_tx_rate"};
		const char *k = def->attrs[i].key ?: "", *v = def->attrs[i].value ?: "";
		size_t n;

		for (n = 0; n < ELEMENTSOF(keys); n++)
			if (streq(k, keys[n]))
				break;
		if (n == ELEMENTSOF(keys))
			return vbus_error(ctx, -EINVAL,
					  "%s: a VF has no attribute '%s' (only " KEYS ")",
					  def->name, k);
		if (seen & (1u << n))
			return vbus_error(ctx, -EINVAL, "%s: attribute %s is given twice",
					  def->name, k);
		seen |= 1u << n;

		if (streq(k, "mac")) {
			if (vbus_parse_mac(v, s.mac) < 0 || strlen(v) != 17)
				return vbus_error(ctx, -EINVAL,
						  "%s: attribute mac: '%s' is not a MAC address",
						  def->name, v);
			if (s.mac[0] & 1)
				return vbus_error(
				    ctx, -EINVAL,
				    "%s: attribute mac: %s is a multicast address, a VF "
				    "needs a unicast one",
				    def->name, v);
			s.set |= VBUS_VF_SET_MAC;
		} else if (streq(k, "vlan")) {
			if (parse_u32(v, 4095, &s.vlan) < 0)
				return vbus_error(
				    ctx, -EINVAL,
				    "%s: attribute vlan: '%s' is not a VLAN id (0-4095)", def->name,
				    v);
			s.set |= VBUS_VF_SET_VLAN;
		} else if (streq(k, "qos")) {
			if (parse_u32(v, 7, &s.qos) < 0)
				return vbus_error(
				    ctx, -EINVAL,
				    "%s: attribute qos: '%s' is not a VLAN priority (0-7)",
				    def->name, v);
			have_qos = true;
		} else if (streq(k, "trust") || streq(k, "spoofchk")) {
			bool trust = streq(k, "trust");

			if (parse_switch(v, trust ? &s.trust : &s.spoofchk) < 0)
				return vbus_error(ctx, -EINVAL,
						  "%s: attribute %s: '%s' is neither on nor off",
						  def->name, k, v);
			s.set |= trust ? VBUS_VF_SET_TRUST : VBUS_VF_SET_SPOOFCHK;
		} else if (streq(k, "link_state")) {
			size_t j;

			for (j = 0; j < ELEMENTSOF(link_states); j++)
				if (streq(v, link_states[j]))
					break;
			if (j == ELEMENTSOF(link_states))
				return vbus_error(
				    ctx, -EINVAL,
				    "%s: attribute link_state: '%s' is not auto, enable "
				    "or disable",
				    def->name, v);
			s.link_state = (uint32_t)j;
			s.set |= VBUS_VF_SET_LINK_STATE;
		} else {
			bool min = streq(k, "min_tx_rate");

			if (parse_u32(v, UINT32_MAX, min ? &s.min_tx_rate : &s.max_tx_rate) < 0)
				return vbus_error(ctx, -EINVAL,
						  "%s: attribute %s: '%s' is not a rate in Mbit/s "
						  "(0-4294967295)",
						  def->name, k, v);
			if (min)
				have_min = true;
			else
				have_max = true;
			s.set |= VBUS_VF_SET_RATE;
		}
	}
	if (have_qos && !(s.set & VBUS_VF_SET_VLAN))
		return vbus_error(ctx, -EINVAL, "%s: attribute qos needs vlan (the VLAN it tags)",
				  def->name);
	/* max_tx_rate 0 is no limit: any guarantee fits under it. */
	if (have_min && have_max && s.max_tx_rate && s.min_tx_rate > s.max_tx_rate)
		return vbus_error(ctx, -EINVAL,
				  "%s: attribute min_tx_rate %" PRIu32
				  " is above max_tx_rate %" PRIu32,
				  def->name, s.min_tx_rate, s.max_tx_rate);
	*ret = s;
	return 0;
}

/* The PF's own netdev under DEVPATH/net: in switchdev mode representors of its VFs and SFs
 * ("pf0vf1", "pf0sf88" as phys_port_name) live there too. */
static int find_netdev(struct vbus_ctx *ctx, const char *devpath, char **ret_name, int *ret_ifindex)
{
	_cleanup_strv_ char **nets = NULL;
	_cleanup_free_ char *dir = NULL;
	int r;

	if (asprintf(&dir, "%s/net", devpath) < 0)
		return -ENOMEM;
	r = sysfs_list_dir(ctx, dir, &nets, NULL);
	if (r < 0 && r != -ENOENT)
		return r;
	for (char **n = r < 0 ? NULL : nets; n && *n; n++) {
		_cleanup_free_ char *port = NULL, *name = NULL;
		uint64_t ifindex = 0;
		unsigned a, b;
		char c;

		if (sysfs_readf(ctx, &port, "%s/%s/phys_port_name", dir, *n) >= 0 &&
		    (sscanf(port, "pf%uvf%u%c", &a, &b, &c) == 2 ||
		     sscanf(port, "pf%usf%u%c", &a, &b, &c) == 2))
			continue;
		free(port);
		port = NULL;
		if (asprintf(&port, "%s/%s/ifindex", dir, *n) < 0)
			return -ENOMEM;
		r = sysfs_read_u64(ctx, port, &ifindex);
		if (r < 0)
			return r;
		if (ifindex == 0 || ifindex > INT32_MAX)
			return -EINVAL;
		name = strdup(*n);
		if (!name)
			return -ENOMEM;
		*ret_name = TAKE_PTR(name);
		*ret_ifindex = (int)ifindex;
		return 0;
	}
	return -ENODEV;
}

static int ignore_reply(struct nl_msg *msg, void *userdata)
{
	return NL_SKIP;
}

static void keep_first(struct nl_object *obj, void *userdata)
{
	struct rtnl_link **ret = userdata;

	if (!*ret) {
		nl_object_get(obj);
		*ret = (struct rtnl_link *)obj;
	}
}

/* The RTM_NEWLINK answer to our RTM_GETLINK, parsed by libnl-route when it carries a VF list
 * (libnl's sym_rtnl_link_vf_get() must not meet a link without one). */
static int on_link(struct nl_msg *msg, void *userdata)
{
	struct nlattr *tb[IFLA_MAX + 1];

	if (nlmsg_hdr(msg)->nlmsg_type != RTM_NEWLINK ||
	    nlmsg_parse(nlmsg_hdr(msg), sizeof(struct ifinfomsg), tb, IFLA_MAX, NULL) < 0 ||
	    !tb[IFLA_VFINFO_LIST] || !tb[IFLA_NUM_VF])
		return NL_SKIP;
	(void)nl_msg_parse(msg, keep_first, userdata);
	return NL_OK;
}

/* What the PF's driver reports of VF INDEX now (ndo_get_vf_config); NULL when it reports
 * nothing: then every setting is sent. */
static int get_vf(struct vbus_nl *nl, int ifindex, uint32_t index, const char *what,
		  struct rtnl_link_vf **ret)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex};
	struct rtnl_link *link = NULL;
	struct nl_msg *msg;
	uint32_t num = 0;
	int r;

	*ret = NULL;
	msg = nlmsg_alloc_simple(RTM_GETLINK, 0);
	if (!msg)
		return -ENOMEM;
	if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    nla_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_VF) < 0) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	r = vbus_nl_call_raw(nl, msg, on_link, &link, what);
	if (r < 0)
		return r;
	if (link && sym_rtnl_link_get_num_vf(link, &num) == 0 && index < num)
		*ret = sym_rtnl_link_vf_get(link, index);
	if (link)
		sym_rtnl_link_put(link);
	return 0;
}

/* Whether CUR (may be NULL) already has setting BIT of S: then it is not sent again, so a
 * start of a VF a VM already uses does not make its driver reset it for nothing. */
static bool already(struct rtnl_link_vf *cur, const struct vbus_vf_settings *s, unsigned bit)
{
	uint32_t v;

	if (!cur)
		return false;
	switch (bit) {
	case VBUS_VF_SET_MAC: {
		struct nl_addr *a = NULL;

		return sym_rtnl_link_vf_get_addr(cur, &a) == 0 &&
		       nl_addr_get_len(a) >= sizeof(s->mac) &&
		       memcmp(nl_addr_get_binary_addr(a), s->mac, sizeof(s->mac)) == 0;
	}
	case VBUS_VF_SET_VLAN: {
		nl_vf_vlans_t *vlans = NULL;
		bool same;

		if (sym_rtnl_link_vf_get_vlans(cur, &vlans) < 0)
			return false;
		same = vlans->size == 1 && vlans->vlans[0].vf_vlan == s->vlan &&
		       vlans->vlans[0].vf_vlan_qos == s->qos &&
		       (vlans->vlans[0].vf_vlan_proto == 0 ||
			vlans->vlans[0].vf_vlan_proto == ETH_P_8021Q);
		sym_rtnl_link_vf_vlan_put(vlans);
		return same;
	}
	case VBUS_VF_SET_TRUST:
		return sym_rtnl_link_vf_get_trust(cur, &v) == 0 && v == s->trust;
	case VBUS_VF_SET_SPOOFCHK:
		return sym_rtnl_link_vf_get_spoofchk(cur, &v) == 0 && v == s->spoofchk;
	case VBUS_VF_SET_LINK_STATE:
		return sym_rtnl_link_vf_get_linkstate(cur, &v) == 0 && v == s->link_state;
	case VBUS_VF_SET_RATE: {
		struct nl_vf_rate rate = {};
		int r;

		/* libnl reports no rate when both are 0. */
		r = sym_rtnl_link_vf_get_rate(cur, &rate);
		if (r == -NLE_NOATTR)
			return s->min_tx_rate == 0 && s->max_tx_rate == 0;
		return r == 0 && rate.api == RTNL_LINK_VF_RATE_API_NEW &&
		       rate.min_tx_rate == s->min_tx_rate && rate.max_tx_rate == s->max_tx_rate;
	}
	}
	return false;
}

static void link_putp(struct rtnl_link **l)
{
	if (*l)
		sym_rtnl_link_put(*l);
}

static void vf_putp(struct rtnl_link_vf **v)
{
	if (*v)
		sym_rtnl_link_vf_put(*v);
}

/* One setting (BIT of S) of VF INDEX: the VF object with only that attribute, in the
 * IFLA_VFINFO_LIST of an RTM_NEWLINK on IFINDEX. */
static int fill_vf(struct rtnl_link_vf *vf, const struct vbus_vf_settings *s, unsigned bit)
{
	switch (bit) {
	case VBUS_VF_SET_MAC: {
		struct nl_addr *a = nl_addr_build(AF_LLC, s->mac, sizeof(s->mac));

		if (!a)
			return -ENOMEM;
		sym_rtnl_link_vf_set_addr(vf, a); /* takes its own reference */
		nl_addr_put(a);
		return 0;
	}
	case VBUS_VF_SET_VLAN: {
		nl_vf_vlans_t *vlans = NULL;

		if (sym_rtnl_link_vf_vlan_alloc(&vlans, 1) < 0)
			return -ENOMEM;
		vlans->vlans[0].vf_vlan = s->vlan;
		vlans->vlans[0].vf_vlan_qos = s->qos;
		vlans->vlans[0].vf_vlan_proto = ETH_P_8021Q;
		sym_rtnl_link_vf_set_vlans(vf, vlans); /* takes its own reference */
		sym_rtnl_link_vf_vlan_put(vlans);
		return 0;
	}
	case VBUS_VF_SET_TRUST:
		sym_rtnl_link_vf_set_trust(vf, s->trust);
		return 0;
	case VBUS_VF_SET_SPOOFCHK:
		sym_rtnl_link_vf_set_spoofchk(vf, s->spoofchk);
		return 0;
	case VBUS_VF_SET_LINK_STATE:
		sym_rtnl_link_vf_set_linkstate(vf, s->link_state);
		return 0;
	case VBUS_VF_SET_RATE: {
		struct nl_vf_rate rate = {.api = RTNL_LINK_VF_RATE_API_NEW,
					  .min_tx_rate = s->min_tx_rate,
					  .max_tx_rate = s->max_tx_rate};

		sym_rtnl_link_vf_set_rate(vf, &rate);
		return 0;
	}
	}
	return -EINVAL;
}

/* "vlan 100 qos 3": the setting as `ip link set ... vf N` spells it. */
static void describe(char *buf, size_t size, const struct vbus_vf_settings *s, unsigned bit)
{
	switch (bit) {
	case VBUS_VF_SET_MAC:
		snprintf(buf, size, "mac %02x:%02x:%02x:%02x:%02x:%02x", s->mac[0], s->mac[1],
			 s->mac[2], s->mac[3], s->mac[4], s->mac[5]);
		break;
	case VBUS_VF_SET_VLAN:
		snprintf(buf, size, "vlan %" PRIu32 " qos %" PRIu32, s->vlan, s->qos);
		break;
	case VBUS_VF_SET_TRUST:
		snprintf(buf, size, "trust %s", s->trust ? "on" : "off");
		break;
	case VBUS_VF_SET_SPOOFCHK:
		snprintf(buf, size, "spoofchk %s", s->spoofchk ? "on" : "off");
		break;
	case VBUS_VF_SET_LINK_STATE:
		snprintf(buf, size, "link_state %s", link_states[s->link_state]);
		break;
	case VBUS_VF_SET_RATE:
		snprintf(buf, size, "min_tx_rate %" PRIu32 " max_tx_rate %" PRIu32, s->min_tx_rate,
			 s->max_tx_rate);
		break;
	default:
		snprintf(buf, size, "?");
	}
}

static int set_one(struct vbus_nl *nl, int ifindex, uint32_t index,
		   const struct vbus_vf_settings *s, unsigned bit, const char *what)
{
	_cleanup_(link_putp) struct rtnl_link *orig = sym_rtnl_link_alloc();
	_cleanup_(link_putp) struct rtnl_link *change = sym_rtnl_link_alloc();
	_cleanup_(vf_putp) struct rtnl_link_vf *vf = sym_rtnl_link_vf_alloc();
	struct nl_msg *msg = NULL;
	int r;

	if (!orig || !change || !vf)
		return -ENOMEM;
	sym_rtnl_link_set_ifindex(orig, ifindex);
	sym_rtnl_link_vf_set_index(vf, index);
	r = fill_vf(vf, s, bit);
	if (r < 0)
		return r;
	if (sym_rtnl_link_vf_add(change, vf) < 0)
		return -ENOMEM;
	r = sym_rtnl_link_build_change_request(orig, change, 0, &msg);
	if (r < 0)
		return r == -NLE_NOMEM ? -ENOMEM : -EINVAL;
	return vbus_nl_call_raw(nl, msg, ignore_reply, NULL, what);
}

int vbus_vf_settings_apply(struct vbus_ctx *ctx, const char *name, const char *devpath,
			   uint32_t index, const struct vbus_vf_settings *s)
{
	static const unsigned order[] = {VBUS_VF_SET_MAC,	 VBUS_VF_SET_VLAN,
					 VBUS_VF_SET_RATE,	 VBUS_VF_SET_SPOOFCHK,
					 VBUS_VF_SET_LINK_STATE, VBUS_VF_SET_TRUST};
	_cleanup_nl_ struct vbus_nl *nl = NULL;
	_cleanup_(vf_putp) struct rtnl_link_vf *cur = NULL;
	_cleanup_free_ char *ifname = NULL;
	int ifindex = 0, r;

	if (!s->set)
		return 0;
	r = find_netdev(ctx, devpath, &ifname, &ifindex);
	if (r == -ENODEV)
		return vbus_error(
		    ctx, r,
		    "%s: %s has no network interface to set its VF %" PRIu32 "'s settings on", name,
		    strrchr(devpath, '/') ? strrchr(devpath, '/') + 1 : devpath, index);
	if (r < 0)
		return vbus_error(ctx, r, "%s: the network interface of %s: %s", name, devpath,
				  strerror(-r));
	if (ctx->real_root) {
		char what[256];

		r = route_load(ctx);
		if (r < 0)
			return r;
		r = vbus_nl_open_route(ctx, &nl);
		if (r < 0)
			return r;
		snprintf(what, sizeof(what), "%s: cannot read the VF settings of %s", name, ifname);
		r = get_vf(nl, ifindex, index, what, &cur);
		if (r < 0)
			return r;
	}
	/* In the order of the kernel's do_setvfinfo(): the MAC before what filters on it. */
	for (size_t i = 0; i < ELEMENTSOF(order); i++) {
		char setting[64], what[256];

		if (!(s->set & order[i]))
			continue;
		describe(setting, sizeof(setting), s, order[i]);
		if (!nl) {
			dbg(ctx, "%s: fake root: not setting %s on VF %" PRIu32 " of %s", name,
			    setting, index, ifname);
			continue;
		}
		if (already(cur, s, order[i])) {
			dbg(ctx, "%s: %s is in place on VF %" PRIu32 " of %s", name, setting, index,
			    ifname);
			continue;
		}
		snprintf(what, sizeof(what), "%s: cannot set %s on VF %" PRIu32 " of %s", name,
			 setting, index, ifname);
		r = set_one(nl, ifindex, index, s, order[i], what);
		if (r < 0)
			return r;
		dbg(ctx, "%s: %s set on VF %" PRIu32 " of %s", name, setting, index, ifname);
	}
	return 0;
}

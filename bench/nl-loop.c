// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * nl-loop: the floor for bench/vm.sh's provisioning case. One process, one generic netlink
 * socket, the kernel calls vbus makes and nothing else: N DEV_NEW (or DEV_DEL) requests of the
 * vdpa or the vbus family in a loop, each acked before the next, the kernel's extack message on
 * a failure. No definitions, no run records, no driver choice, no check of the result.
 *
 *   nl-loop vdpa add|del MGMTDEV PREFIX N       devices PREFIX0 .. PREFIX<N-1> on MGMTDEV
 *   nl-loop vbus add|del BUS/DEV PREFIX N TYPE   (vdpasim_net; vbus_sim/vbus_sim2 net)
 *   nl-loop devlink add|del BUS/DEV FIRST N      SFs sfnum FIRST .. FIRST+N-1 of pfnum 0
 *
 * devlink, as vbus's sf kind does it: add is PORT_NEW (its reply names the port) and one
 * PORT_SET of the function (hw_addr 00:11:22:33:HH:LL of the sfnum, state active); del is a
 * PORT_SET (state inactive) and PORT_DEL, the ports found by one PORT_GET dump first.
 *
 * For vbus, BUS/DEV may be a comma-separated list: device i goes to parent i % count, as
 * bench/vm.sh spreads vbus's definitions.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/devlink.h>
#include <linux/netlink.h>
#include <linux/vbus.h>
#include <linux/vdpa.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

static char extack[256];

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *err, void *arg)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)err - 1;
	struct nlattr *a;
	int rem, *ret = arg;

	*ret = err->error;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NL_STOP;
	a = (struct nlattr *)((char *)err +
			      ((nlh->nlmsg_flags & NLM_F_CAPPED) ? sizeof(*err)
								 : sizeof(*err) + err->msg.nlmsg_len -
									   NLMSG_HDRLEN));
	rem = nlh->nlmsg_len - ((char *)a - (char *)nlh);
	for (; nla_ok(a, rem); a = nla_next(a, &rem))
		if (nla_type(a) == NLMSGERR_ATTR_MSG)
			snprintf(extack, sizeof(extack), "%s", (char *)nla_data(a));
	return NL_STOP;
}

static int on_ack(struct nl_msg *msg, void *arg)
{
	*(int *)arg = 0;
	return NL_STOP;
}

/* devlink: a port's index and sfnum from a PORT_NEW reply or a PORT_GET dump entry. */
struct sf_port {
	unsigned int index, sfnum;
};

struct sf_ports {
	struct sf_port *v;
	size_t n;
};

static int on_port(struct nl_msg *msg, void *arg)
{
	struct nlattr *tb[DEVLINK_ATTR_MAX + 1];
	struct sf_ports *p = arg;
	struct sf_port *v;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, DEVLINK_ATTR_MAX, NULL) < 0 ||
	    !tb[DEVLINK_ATTR_PORT_INDEX] || !tb[DEVLINK_ATTR_PORT_PCI_SF_NUMBER])
		return NL_OK;
	v = realloc(p->v, (p->n + 1) * sizeof(*v));
	if (!v)
		return NL_STOP;
	p->v = v;
	v[p->n].index = nla_get_u32(tb[DEVLINK_ATTR_PORT_INDEX]);
	v[p->n++].sfnum = nla_get_u32(tb[DEVLINK_ATTR_PORT_PCI_SF_NUMBER]);
	return NL_OK;
}

/* Sends MSG (freed) and waits for its ACK (or the end of a dump); replies go to PORTS when
 * given. 0, or the kernel's negative errno with its extack in extack[]. */
static int transact(struct nl_sock *sk, struct nl_msg *msg, struct sf_ports *ports)
{
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	int ret = 1, r;

	if (!cb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, &ret);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &ret);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_ack, &ret);
	if (ports)
		nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_port, ports);
	r = nl_send_auto(sk, msg);
	nlmsg_free(msg);
	while (r >= 0 && ret > 0)
		r = nl_recvmsgs(sk, cb);
	nl_cb_put(cb);
	return r < 0 ? -EIO : ret;
}

static struct nl_msg *devlink_msg(int family, uint8_t cmd, int flags, const char *bus,
				  const char *dev)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg || !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, NLM_F_REQUEST | flags,
				 cmd, DEVLINK_GENL_VERSION))
		exit(1);
	nla_put_string(msg, DEVLINK_ATTR_BUS_NAME, bus);
	nla_put_string(msg, DEVLINK_ATTR_DEV_NAME, dev);
	return msg;
}

/* PORT_SET of port INDEX's function: hw_addr when MAC, state STATE. */
static int function_set(struct nl_sock *sk, int family, const char *bus, const char *dev,
			unsigned int index, const uint8_t *mac, uint8_t state)
{
	struct nl_msg *msg = devlink_msg(family, DEVLINK_CMD_PORT_SET, 0, bus, dev);
	struct nlattr *fn;

	nla_put_u32(msg, DEVLINK_ATTR_PORT_INDEX, index);
	fn = nla_nest_start(msg, DEVLINK_ATTR_PORT_FUNCTION);
	if (mac)
		nla_put(msg, DEVLINK_PORT_FUNCTION_ATTR_HW_ADDR, 6, mac);
	nla_put_u8(msg, DEVLINK_PORT_FN_ATTR_STATE, state);
	nla_nest_end(msg, fn);
	return transact(sk, msg, NULL);
}

static int sf_loop(struct nl_sock *sk, int family, bool add, const char *handle, long first,
		   long n)
{
	const char *slash = strchr(handle, '/');
	struct sf_ports dump = {};
	char bus[32];
	int r = 0;

	if (!slash)
		return -EINVAL;
	snprintf(bus, sizeof(bus), "%.*s", (int)(slash - handle), handle);
	if (!add) {
		r = transact(sk, devlink_msg(family, DEVLINK_CMD_PORT_GET, NLM_F_DUMP, bus, slash + 1),
			     &dump);
		if (r < 0)
			return r;
	}
	for (long i = first; i < first + n && r >= 0; i++) {
		uint8_t mac[6] = { 0x00, 0x11, 0x22, 0x33, (i >> 8) & 0xff, i & 0xff };
		struct sf_ports made = {};
		const struct sf_port *port = NULL;
		struct nl_msg *msg;

		if (add) {
			msg = devlink_msg(family, DEVLINK_CMD_PORT_NEW, 0, bus, slash + 1);
			nla_put_u16(msg, DEVLINK_ATTR_PORT_FLAVOUR, DEVLINK_PORT_FLAVOUR_PCI_SF);
			nla_put_u16(msg, DEVLINK_ATTR_PORT_PCI_PF_NUMBER, 0);
			nla_put_u32(msg, DEVLINK_ATTR_PORT_PCI_SF_NUMBER, i);
			r = transact(sk, msg, &made);
			if (r >= 0 && made.n != 1)
				r = -EIO; /* the reply names the port */
			if (r >= 0)
				r = function_set(sk, family, bus, slash + 1, made.v[0].index, mac,
						 DEVLINK_PORT_FN_STATE_ACTIVE);
			free(made.v);
		} else {
			for (size_t k = 0; k < dump.n && !port; k++)
				if (dump.v[k].sfnum == i)
					port = &dump.v[k];
			if (!port) {
				r = -ENODEV;
				break;
			}
			r = function_set(sk, family, bus, slash + 1, port->index, NULL,
					 DEVLINK_PORT_FN_STATE_INACTIVE);
			if (r >= 0) {
				msg = devlink_msg(family, DEVLINK_CMD_PORT_DEL, 0, bus, slash + 1);
				nla_put_u32(msg, DEVLINK_ATTR_PORT_INDEX, port->index);
				r = transact(sk, msg, NULL);
			}
		}
		if (r < 0)
			fprintf(stderr, "nl-loop: devlink %s sfnum %ld: %s%s%s\n", add ? "add" : "del",
				i, strerror(-r), extack[0] ? ": " : "", extack);
	}
	free(dump.v);
	return r;
}

int main(int argc, char **argv)
{
	struct nl_sock *sk;
	struct nl_cb *cb;
	const char *family_name, *verb, *prefix, *type = NULL;
	char *parents;
	char *handles[64];
	size_t n_handles = 0;
	bool vdpa, add;
	int family, one = 1;
	long n;

	if (argc == 6 && !strcmp(argv[1], "devlink") &&
	    (!strcmp(argv[2], "add") || !strcmp(argv[2], "del"))) {
		sk = nl_socket_alloc();
		if (!sk || genl_connect(sk) < 0) {
			fprintf(stderr, "nl-loop: cannot open a generic netlink socket\n");
			return 1;
		}
		setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
		family = genl_ctrl_resolve(sk, DEVLINK_GENL_NAME);
		if (family < 0) {
			fprintf(stderr, "nl-loop: no %s family: %s\n", DEVLINK_GENL_NAME,
				nl_geterror(family));
			return 1;
		}
		n = sf_loop(sk, family, !strcmp(argv[2], "add"), argv[3], strtol(argv[4], NULL, 10),
			    strtol(argv[5], NULL, 10));
		nl_socket_free(sk);
		return n < 0 ? 1 : 0;
	}
	if (argc < 6 || (strcmp(argv[1], "vdpa") && strcmp(argv[1], "vbus")) ||
	    (strcmp(argv[2], "add") && strcmp(argv[2], "del")) ||
	    (!strcmp(argv[1], "vbus") && !strcmp(argv[2], "add") && argc < 7)) {
		fprintf(stderr, "usage: nl-loop vdpa|vbus add|del PARENT[,PARENT...] PREFIX N [TYPE]\n"
				"       nl-loop devlink add|del BUS/DEV FIRST N\n");
		return 2;
	}
	vdpa = !strcmp(argv[1], "vdpa");
	add = !strcmp(argv[2], "add");
	family_name = vdpa ? VDPA_GENL_NAME : VBUS_GENL_NAME;
	verb = argv[2];
	parents = argv[3];
	prefix = argv[4];
	n = strtol(argv[5], NULL, 10);
	if (argc > 6)
		type = argv[6];
	for (char *save = NULL, *p = strtok_r(parents, ",", &save); p && n_handles < 64;
	     p = strtok_r(NULL, ",", &save))
		handles[n_handles++] = p;

	sk = nl_socket_alloc();
	if (!sk || genl_connect(sk) < 0) {
		fprintf(stderr, "nl-loop: cannot open a generic netlink socket\n");
		return 1;
	}
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	family = genl_ctrl_resolve(sk, family_name);
	if (family < 0) {
		fprintf(stderr, "nl-loop: no %s family: %s\n", family_name, nl_geterror(family));
		return 1;
	}
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb)
		return 1;
	for (long i = 0; i < n; i++) {
		const char *handle = handles[i % n_handles];
		const char *slash = strchr(handle, '/');
		struct nl_msg *msg = nlmsg_alloc();
		char name[64];
		int ret = 1, r;
		uint8_t cmd = vdpa ? (add ? VDPA_CMD_DEV_NEW : VDPA_CMD_DEV_DEL)
				   : (add ? VBUS_CMD_DEV_NEW : VBUS_CMD_DEV_DEL);

		snprintf(name, sizeof(name), "%s%ld", prefix, i);
		if (!msg || !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, NLM_F_REQUEST,
					 cmd, vdpa ? VDPA_GENL_VERSION : VBUS_GENL_VERSION))
			return 1;
		if (vdpa) {
			/* "vdpasim_net" has no bus; "pci/0000:06:00.0" has. */
			if (add && slash) {
				char bus[32];

				snprintf(bus, sizeof(bus), "%.*s", (int)(slash - handle), handle);
				nla_put_string(msg, VDPA_ATTR_MGMTDEV_BUS_NAME, bus);
			}
			if (add)
				nla_put_string(msg, VDPA_ATTR_MGMTDEV_DEV_NAME, slash ? slash + 1 : handle);
			nla_put_string(msg, VDPA_ATTR_DEV_NAME, name);
		} else {
			char bus[32];

			snprintf(bus, sizeof(bus), "%.*s", slash ? (int)(slash - handle) : 0, handle);
			nla_put_string(msg, VBUS_ATTR_MGMTDEV_BUS_NAME, bus);
			nla_put_string(msg, VBUS_ATTR_MGMTDEV_DEV_NAME, slash ? slash + 1 : handle);
			nla_put_string(msg, VBUS_ATTR_DEV_NAME, name);
			if (add)
				nla_put_string(msg, VBUS_ATTR_DEV_TYPE, type);
		}
		nl_cb_err(cb, NL_CB_CUSTOM, on_error, &ret);
		nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &ret);
		r = nl_send_auto(sk, msg);
		nlmsg_free(msg);
		while (r >= 0 && ret > 0)
			r = nl_recvmsgs(sk, cb);
		if (r < 0 || ret < 0) {
			fprintf(stderr, "nl-loop: %s %s %s: %s%s%s\n", family_name, verb, name,
				strerror(ret < 0 ? -ret : EIO), extack[0] ? ": " : "", extack);
			return 1;
		}
	}
	nl_cb_put(cb);
	nl_socket_free(sk);
	return 0;
}

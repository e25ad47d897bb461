// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * nl-loop: the floor for bench/vm.sh's provisioning case. One process, one generic netlink
 * socket, the kernel calls vbus makes and nothing else: N DEV_NEW (or DEV_DEL) requests of the
 * vdpa or the vbus family in a loop, each acked before the next, the kernel's extack message on
 * a failure. No definitions, no run records, no driver choice, no check of the result.
 *
 *   nl-loop vdpa add|del MGMTDEV PREFIX N       devices PREFIX0 .. PREFIX<N-1> on MGMTDEV
 *   nl-loop vbus add|del BUS/DEV PREFIX N TYPE   (vdpasim_net; vbus_sim/vbus_sim2 net)
 *
 * For vbus, BUS/DEV may be a comma-separated list: device i goes to parent i % count, as
 * bench/vm.sh spreads vbus's definitions.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

	if (argc < 6 || (strcmp(argv[1], "vdpa") && strcmp(argv[1], "vbus")) ||
	    (strcmp(argv[2], "add") && strcmp(argv[2], "del")) ||
	    (!strcmp(argv[1], "vbus") && !strcmp(argv[2], "add") && argc < 7)) {
		fprintf(stderr, "usage: nl-loop vdpa|vbus add|del PARENT[,PARENT...] PREFIX N [TYPE]\n");
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

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * vbus-nl: a small client of the "vbus" generic netlink family, for the VM
 * kmod suite. It prints the kernel's extack message on every error and
 * exits 1; "raw" sends hand-made (malformed) attributes.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netlink.h>
#include <linux/vbus.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

struct req {
	bool done;
	int err;		/* negative errno from the kernel, 0 */
	char msg[256];		/* extack message: error, or warning on success */
	int miss_type;		/* missing attribute, or -1 */
	long bad_offs;		/* offset of the rejected attribute, or -1 */
	unsigned int count;	/* replies parsed */
};

static struct nl_sock *sk;
static int family;
static const char *arg_cmd;

static const char *const cmd_names[] = {
	[VBUS_CMD_MGMTDEV_GET] = "mgmtdev-get",
	[VBUS_CMD_DEV_NEW] = "dev-new",
	[VBUS_CMD_DEV_DEL] = "dev-del",
	[VBUS_CMD_DEV_GET] = "dev-get",
	[VBUS_CMD_DEV_SET] = "dev-set",
	[VBUS_CMD_DEV_BIND_NTF] = "dev-bind-ntf",
	[VBUS_CMD_DEV_NEW_NTF] = "dev-new-ntf",
	[VBUS_CMD_DEV_DEL_NTF] = "dev-del-ntf",
	[VBUS_CMD_DEV_CHANGE_NTF] = "dev-change-ntf",
	[VBUS_CMD_MGMTDEV_NEW_NTF] = "mgmtdev-new-ntf",
	[VBUS_CMD_MGMTDEV_DEL_NTF] = "mgmtdev-del-ntf",
};

static const char *const attr_names[] = {
	[VBUS_ATTR_MGMTDEV_BUS_NAME] = "mgmtdev-bus-name",
	[VBUS_ATTR_MGMTDEV_DEV_NAME] = "mgmtdev-dev-name",
	[VBUS_ATTR_MGMTDEV_TYPE] = "mgmtdev-type",
	[VBUS_ATTR_DEV_NAME] = "dev-name",
	[VBUS_ATTR_DEV_TYPE] = "dev-type",
	[VBUS_ATTR_DEV_DRIVER] = "dev-driver",
	[VBUS_ATTR_DEV_DRIVER_OVERRIDE] = "dev-driver-override",
	[VBUS_ATTR_DEV_UNBOUND] = "dev-unbound",
	[VBUS_ATTR_DEV_SYSFS_NAME] = "dev-sysfs-name",
	[VBUS_ATTR_PROVIDER] = "provider",
	[VBUS_ATTR_DEV_CONFIG] = "dev-config",
	[VBUS_ATTR_DEV_MATCH_ID] = "dev-match-id",
};

static struct nla_policy attr_policy[VBUS_ATTR_MAX + 1] = {
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

static struct nla_policy config_policy[VBUS_CONFIG_ATTR_MAX + 1] = {
	[VBUS_CONFIG_ATTR_KEY] = { .type = NLA_STRING },
	[VBUS_CONFIG_ATTR_VALUE] = { .type = NLA_STRING },
};

/* dev-config: print the configuration entries instead of the device line */
static bool arg_config;

static struct nla_policy type_policy[VBUS_TYPE_ATTR_MAX + 1] = {
	[VBUS_TYPE_ATTR_NAME] = { .type = NLA_STRING },
	[VBUS_TYPE_ATTR_MAX_INSTANCES] = { .type = NLA_U32 },
	[VBUS_TYPE_ATTR_CUR_INSTANCES] = { .type = NLA_U32 },
};

static int lookup(const char *const *names, size_t n, const char *s)
{
	char *end;
	long v;
	size_t i;

	for (i = 0; i < n; i++)
		if (names[i] && !strcmp(names[i], s))
			return i;
	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || *end || end == s || v < 0 || v > 65535)
		return -1;
	return v;
}

/* Reads the extack TLVs of an error (or ACK) message. */
static void parse_ext_ack(struct nlmsghdr *nlh, struct req *r)
{
	struct nlmsgerr *e = nlmsg_data(nlh);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	unsigned int off = sizeof(*e);

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	if (NLMSG_HDRLEN + off > nlh->nlmsg_len)
		return;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)e + off),
		      nlh->nlmsg_len - NLMSG_HDRLEN - off, NULL) < 0)
		return;
	if (tb[NLMSGERR_ATTR_MSG])
		snprintf(r->msg, sizeof(r->msg), "%.*s", nla_len(tb[NLMSGERR_ATTR_MSG]),
			 (char *)nla_data(tb[NLMSGERR_ATTR_MSG]));
	if (tb[NLMSGERR_ATTR_MISS_TYPE])
		r->miss_type = nla_get_u32(tb[NLMSGERR_ATTR_MISS_TYPE]);
	if (tb[NLMSGERR_ATTR_OFFS])
		r->bad_offs = nla_get_u32(tb[NLMSGERR_ATTR_OFFS]);
}

static int err_cb(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
	struct req *r = arg;

	r->err = e->error;
	parse_ext_ack(nlh, r);
	r->done = true;
	return NL_STOP;
}

static int ack_cb(struct nl_msg *msg, void *arg)
{
	struct req *r = arg;

	parse_ext_ack(nlmsg_hdr(msg), r);
	r->done = true;
	return NL_STOP;
}

/* A dump ends with DONE carrying an error code, and TLVs after it. */
static int finish_cb(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct req *r = arg;
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	int err = 0;

	if (nlmsg_datalen(nlh) >= (int)sizeof(int))
		memcpy(&err, nlmsg_data(nlh), sizeof(err));
	r->err = err;
	if (err && (nlh->nlmsg_flags & NLM_F_ACK_TLVS) &&
	    nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)nlmsg_data(nlh) + sizeof(int)),
		      nlmsg_datalen(nlh) - sizeof(int), NULL) >= 0 && tb[NLMSGERR_ATTR_MSG])
		snprintf(r->msg, sizeof(r->msg), "%.*s", nla_len(tb[NLMSGERR_ATTR_MSG]),
			 (char *)nla_data(tb[NLMSGERR_ATTR_MSG]));
	r->done = true;
	return NL_STOP;
}

static const char *str(struct nlattr **tb, int a)
{
	return tb[a] ? nla_get_string(tb[a]) : "-";
}

static void print_dev(const char *prefix, struct nlattr **tb)
{
	printf("%s%s: mgmtdev %s/%s name %s type %s driver %s override %s%s\n", prefix,
	       str(tb, VBUS_ATTR_DEV_SYSFS_NAME), str(tb, VBUS_ATTR_MGMTDEV_BUS_NAME),
	       str(tb, VBUS_ATTR_MGMTDEV_DEV_NAME), str(tb, VBUS_ATTR_DEV_NAME),
	       str(tb, VBUS_ATTR_DEV_TYPE), str(tb, VBUS_ATTR_DEV_DRIVER),
	       str(tb, VBUS_ATTR_DEV_DRIVER_OVERRIDE), tb[VBUS_ATTR_DEV_UNBOUND] ? " unbound" : "");
}

static int valid_cb(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct genlmsghdr *g = nlmsg_data(nlh);
	struct nlattr *tb[VBUS_ATTR_MAX + 1];
	struct nlattr *ta[VBUS_TYPE_ATTR_MAX + 1];
	struct req *r = arg;
	struct nlattr *a;
	int rem;

	if (genlmsg_parse(nlh, 0, tb, VBUS_ATTR_MAX, attr_policy) < 0) {
		fprintf(stderr, "vbus-nl: cannot parse a message from the kernel\n");
		return NL_SKIP;
	}
	r->count++;

	if (arg_config) {
		struct nlattr *tc[VBUS_CONFIG_ATTR_MAX + 1];

		nla_for_each_attr(a, genlmsg_attrdata(g, 0), genlmsg_attrlen(g, 0), rem) {
			if (nla_type(a) != VBUS_ATTR_DEV_CONFIG ||
			    nla_parse_nested(tc, VBUS_CONFIG_ATTR_MAX, a, config_policy) < 0)
				continue;
			printf("%s=%s\n", str(tc, VBUS_CONFIG_ATTR_KEY),
			       str(tc, VBUS_CONFIG_ATTR_VALUE));
		}
		fflush(stdout);
		return NL_OK;
	}

	switch (g->cmd) {
	case VBUS_CMD_MGMTDEV_NEW_NTF:
	case VBUS_CMD_MGMTDEV_DEL_NTF:
		printf("[%s] %s/%s provider %s\n",
		       g->cmd == VBUS_CMD_MGMTDEV_NEW_NTF ? "mgmtdev-new" : "mgmtdev-del",
		       str(tb, VBUS_ATTR_MGMTDEV_BUS_NAME), str(tb, VBUS_ATTR_MGMTDEV_DEV_NAME),
		       str(tb, VBUS_ATTR_PROVIDER));
		break;
	case VBUS_CMD_MGMTDEV_GET:
		printf("%s/%s:", str(tb, VBUS_ATTR_MGMTDEV_BUS_NAME),
		       str(tb, VBUS_ATTR_MGMTDEV_DEV_NAME));
		nla_for_each_attr(a, genlmsg_attrdata(g, 0), genlmsg_attrlen(g, 0), rem) {
			if (nla_type(a) != VBUS_ATTR_MGMTDEV_TYPE)
				continue;
			if (nla_parse_nested(ta, VBUS_TYPE_ATTR_MAX, a, type_policy) < 0 ||
			    !ta[VBUS_TYPE_ATTR_NAME])
				continue;
			printf(" %s %u/%u", nla_get_string(ta[VBUS_TYPE_ATTR_NAME]),
			       ta[VBUS_TYPE_ATTR_CUR_INSTANCES] ?
			       nla_get_u32(ta[VBUS_TYPE_ATTR_CUR_INSTANCES]) : 0,
			       ta[VBUS_TYPE_ATTR_MAX_INSTANCES] ?
			       nla_get_u32(ta[VBUS_TYPE_ATTR_MAX_INSTANCES]) : 0);
		}
		printf("\n");
		break;
	case VBUS_CMD_DEV_GET:
	case VBUS_CMD_DEV_NEW: /* the echo of dev-new --echo */
		print_dev("", tb);
		break;
	case VBUS_CMD_DEV_NEW_NTF:
		print_dev("[new] ", tb);
		break;
	case VBUS_CMD_DEV_DEL_NTF:
		print_dev("[del] ", tb);
		break;
	case VBUS_CMD_DEV_BIND_NTF:
		print_dev(tb[VBUS_ATTR_DEV_DRIVER] ? "[bind] " : "[unbind] ", tb);
		break;
	case VBUS_CMD_DEV_CHANGE_NTF:
		print_dev("[change] ", tb);
		break;
	default:
		printf("[cmd %u]\n", g->cmd);
		break;
	}
	fflush(stdout);
	return NL_OK;
}

/* Sends @msg and reads replies until the ACK, DONE or an error. Returns 0 or 1. */
static int transact(struct nl_msg *msg)
{
	struct req r = { .miss_type = -1, .bad_offs = -1 };
	struct nl_cb *cb;
	int err;

	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		fprintf(stderr, "vbus-nl: out of memory\n");
		return 1;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, valid_cb, &r);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, ack_cb, &r);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, finish_cb, &r);
	nl_cb_err(cb, NL_CB_CUSTOM, err_cb, &r);

	err = nl_send_auto(sk, msg);
	nlmsg_free(msg);
	if (err < 0) {
		fprintf(stderr, "vbus-nl: %s: send: %s\n", arg_cmd, nl_geterror(err));
		nl_cb_put(cb);
		return 1;
	}
	while (!r.done) {
		err = nl_recvmsgs(sk, cb);
		if (err < 0 && !r.done) {
			fprintf(stderr, "vbus-nl: %s: receive: %s\n", arg_cmd, nl_geterror(err));
			nl_cb_put(cb);
			return 1;
		}
	}
	nl_cb_put(cb);

	if (r.err) {
		fprintf(stderr, "vbus-nl: %s: %s", arg_cmd, strerror(-r.err));
		if (r.msg[0])
			fprintf(stderr, ": %s", r.msg);
		if (r.miss_type >= 0)
			fprintf(stderr, " (missing attribute %d)", r.miss_type);
		if (r.bad_offs >= 0)
			fprintf(stderr, " (bad attribute at offset %ld)", r.bad_offs);
		fprintf(stderr, "\n");
		return 1;
	}
	if (r.msg[0])
		fprintf(stderr, "vbus-nl: %s: warning: %s\n", arg_cmd, r.msg);
	return 0;
}

static struct nl_msg *new_msg(int cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg || !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, flags, cmd,
				 VBUS_GENL_VERSION)) {
		fprintf(stderr, "vbus-nl: out of memory\n");
		exit(1);
	}
	return msg;
}

/* KEY=VALUE as a DEV_CONFIG entry; 1 when ARG has no '='. */
static int put_config(struct nl_msg *msg, const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct nlattr *nest;
	char key[256];

	if (!eq || (size_t)(eq - arg) >= sizeof(key))
		return 1;
	memcpy(key, arg, eq - arg);
	key[eq - arg] = '\0';
	nest = nla_nest_start(msg, VBUS_ATTR_DEV_CONFIG);
	if (!nest || nla_put_string(msg, VBUS_CONFIG_ATTR_KEY, key) < 0 ||
	    nla_put_string(msg, VBUS_CONFIG_ATTR_VALUE, eq + 1) < 0) {
		fprintf(stderr, "vbus-nl: message too long\n");
		exit(1);
	}
	nla_nest_end(msg, nest);
	return 0;
}

/* MGMT is "bus/dev"; a missing slash is a usage error. */
static int put_mgmt(struct nl_msg *msg, const char *mgmt)
{
	char bus[256];
	const char *slash = strchr(mgmt, '/');

	if (!slash || slash == mgmt || !slash[1] || (size_t)(slash - mgmt) >= sizeof(bus)) {
		fprintf(stderr, "vbus-nl: management device must be BUS/DEV, not '%s'\n", mgmt);
		exit(2);
	}
	memcpy(bus, mgmt, slash - mgmt);
	bus[slash - mgmt] = '\0';
	if (nla_put_string(msg, VBUS_ATTR_MGMTDEV_BUS_NAME, bus) < 0 ||
	    nla_put_string(msg, VBUS_ATTR_MGMTDEV_DEV_NAME, slash + 1) < 0) {
		fprintf(stderr, "vbus-nl: message too long\n");
		exit(1);
	}
	return 0;
}

static int monitor(long count)
{
	struct req r = { .miss_type = -1, .bad_offs = -1 };
	int grp, err;

	grp = genl_ctrl_resolve_grp(sk, VBUS_GENL_NAME, VBUS_GENL_MCGRP_MONITOR);
	if (grp < 0) {
		fprintf(stderr, "vbus-nl: no multicast group %s: %s\n", VBUS_GENL_MCGRP_MONITOR,
			nl_geterror(grp));
		return 1;
	}
	err = nl_socket_add_membership(sk, grp);
	if (err < 0) {
		fprintf(stderr, "vbus-nl: joining %s: %s\n", VBUS_GENL_MCGRP_MONITOR,
			nl_geterror(err));
		return 1;
	}
	nl_socket_disable_seq_check(sk);
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, valid_cb, &r);
	fprintf(stderr, "vbus-nl: monitoring\n");
	while (count < 0 || r.count < (unsigned long)count) {
		err = nl_recvmsgs_default(sk);
		if (err < 0) {
			fprintf(stderr, "vbus-nl: monitor: %s\n", nl_geterror(err));
			return 1;
		}
	}
	return 0;
}

/*
 * raw CMD [--dump] [ATTR:KIND[:VALUE]]...: ATTR and CMD by name or number;
 * KIND str (with NUL), nonul (without), u8, u16, u32, flag, long[:N] (a
 * string of N 'a's, default 300), empty (no payload).
 */
static int raw(int argc, char **argv)
{
	struct nl_msg *msg;
	int cmd, flags = 0, i;

	if (argc < 1)
		return -1;
	cmd = lookup(cmd_names, sizeof(cmd_names) / sizeof(cmd_names[0]), argv[0]);
	if (cmd < 0 || cmd > 255)
		return -1;
	i = 1;
	if (i < argc && !strcmp(argv[i], "--dump")) {
		flags = NLM_F_DUMP;
		i++;
	}
	msg = new_msg(cmd, flags);
	for (; i < argc; i++) {
		char *spec = strdup(argv[i]), *kind, *value;
		int attr, r = 0;

		if (!spec)
			exit(1);
		kind = strchr(spec, ':');
		if (!kind)
			return -1;
		*kind++ = '\0';
		value = strchr(kind, ':');
		if (value)
			*value++ = '\0';
		attr = lookup(attr_names, sizeof(attr_names) / sizeof(attr_names[0]), spec);
		if (attr < 0)
			return -1;
		if (!strcmp(kind, "str"))
			r = nla_put_string(msg, attr, value ?: "");
		else if (!strcmp(kind, "nonul"))
			r = nla_put(msg, attr, strlen(value ?: ""), value ?: "");
		else if (!strcmp(kind, "u8"))
			r = nla_put_u8(msg, attr, strtoul(value ?: "0", NULL, 0));
		else if (!strcmp(kind, "u16"))
			r = nla_put_u16(msg, attr, strtoul(value ?: "0", NULL, 0));
		else if (!strcmp(kind, "u32"))
			r = nla_put_u32(msg, attr, strtoul(value ?: "0", NULL, 0));
		else if (!strcmp(kind, "kv")) {
			/* dev-config:kv:KEY=VALUE, or a nest with only a key (no '=') */
			if (put_config(msg, value ?: "")) {
				struct nlattr *nest = nla_nest_start(msg, attr);

				r = nest ? nla_put_string(msg, VBUS_CONFIG_ATTR_KEY, value ?: "") : -1;
				nla_nest_end(msg, nest);
			}
		} else if (!strcmp(kind, "flag") || !strcmp(kind, "empty"))
			r = nla_put_flag(msg, attr);
		else if (!strcmp(kind, "long")) {
			size_t n = strtoul(value ?: "300", NULL, 0);
			char *s = malloc(n + 1);

			if (!s)
				exit(1);
			memset(s, 'a', n);
			s[n] = '\0';
			r = nla_put_string(msg, attr, s);
			free(s);
		} else {
			return -1;
		}
		if (r < 0) {
			fprintf(stderr, "vbus-nl: raw: attribute %s does not fit\n", argv[i]);
			exit(1);
		}
		free(spec);
	}
	return transact(msg);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vbus-nl COMMAND [ARGS]\n"
		"  mgmtdev-list [BUS/DEV]\n"
		"  dev-new BUS/DEV NAME TYPE [KEY=VALUE]...\n"
		"  dev-new --echo BUS/DEV NAME TYPE   prints the device as made (NLM_F_ECHO)\n"
		"  dev-del BUS/DEV NAME\n"
		"  dev-get [BUS/DEV [NAME]]\n"
		"  dev-config BUS/DEV NAME   its configuration, KEY=VALUE lines\n"
		"  dev-set BUS/DEV NAME [DRIVER|''|--unbound] [KEY=VALUE]...\n"
		"  monitor [COUNT]\n"
		"  raw CMD [--dump] [ATTR:KIND[:VALUE]]...\n"
		"  batch [--keep-going]   commands from stdin, one a line\n"
		"Errors print the kernel's extack message; exit status 1 (2 for usage).\n");
}

static int batch(bool keep_going);

/* One command on the open socket: 0, 1 on failure, 2 on a usage error. */
static int run(int argc, char **argv)
{
	struct nl_msg *msg;
	int r;

	if (!strcmp(arg_cmd, "mgmtdev-list") && argc <= 1) {
		msg = new_msg(VBUS_CMD_MGMTDEV_GET, argc ? 0 : NLM_F_DUMP);
		if (argc)
			put_mgmt(msg, argv[0]);
		r = transact(msg);
	} else if (!strcmp(arg_cmd, "dev-new") && argc >= 4 && !strcmp(argv[0], "--echo")) {
		msg = new_msg(VBUS_CMD_DEV_NEW, NLM_F_ECHO);
		put_mgmt(msg, argv[1]);
		nla_put_string(msg, VBUS_ATTR_DEV_NAME, argv[2]);
		nla_put_string(msg, VBUS_ATTR_DEV_TYPE, argv[3]);
		r = transact(msg);
	} else if (!strcmp(arg_cmd, "dev-new") && argc >= 3) {
		msg = new_msg(VBUS_CMD_DEV_NEW, 0);
		put_mgmt(msg, argv[0]);
		nla_put_string(msg, VBUS_ATTR_DEV_NAME, argv[1]);
		nla_put_string(msg, VBUS_ATTR_DEV_TYPE, argv[2]);
		for (int i = 3; i < argc; i++)
			if (put_config(msg, argv[i])) {
				usage(stderr);
				nlmsg_free(msg);
				return 2;
			}
		r = transact(msg);
	} else if (!strcmp(arg_cmd, "dev-config") && argc == 2) {
		msg = new_msg(VBUS_CMD_DEV_GET, 0);
		put_mgmt(msg, argv[0]);
		nla_put_string(msg, VBUS_ATTR_DEV_NAME, argv[1]);
		arg_config = true;
		r = transact(msg);
		arg_config = false;
	} else if (!strcmp(arg_cmd, "dev-del") && argc == 2) {
		msg = new_msg(VBUS_CMD_DEV_DEL, 0);
		put_mgmt(msg, argv[0]);
		nla_put_string(msg, VBUS_ATTR_DEV_NAME, argv[1]);
		r = transact(msg);
	} else if (!strcmp(arg_cmd, "dev-get") && argc <= 2) {
		msg = new_msg(VBUS_CMD_DEV_GET, argc == 2 ? 0 : NLM_F_DUMP);
		if (argc >= 1)
			put_mgmt(msg, argv[0]);
		if (argc == 2)
			nla_put_string(msg, VBUS_ATTR_DEV_NAME, argv[1]);
		r = transact(msg);
	} else if (!strcmp(arg_cmd, "dev-set") && argc >= 3) {
		msg = new_msg(VBUS_CMD_DEV_SET, 0);
		put_mgmt(msg, argv[0]);
		nla_put_string(msg, VBUS_ATTR_DEV_NAME, argv[1]);
		for (int i = 2; i < argc; i++) {
			if (!put_config(msg, argv[i]))
				continue;
			if (!strcmp(argv[i], "--unbound"))
				nla_put_flag(msg, VBUS_ATTR_DEV_UNBOUND);
			else
				nla_put_string(msg, VBUS_ATTR_DEV_DRIVER, argv[i]);
		}
		r = transact(msg);
	} else if (!strcmp(arg_cmd, "monitor") && argc <= 1) {
		r = monitor(argc ? strtol(argv[0], NULL, 10) : -1);
	} else if (!strcmp(arg_cmd, "batch") && argc <= 1) {
		r = batch(argc && !strcmp(argv[0], "--keep-going"));
	} else if (!strcmp(arg_cmd, "raw")) {
		r = raw(argc, argv);
		if (r < 0) {
			usage(stderr);
			r = 2;
		}
	} else {
		usage(stderr);
		r = 2;
	}

	return r;
}

/* Commands from stdin, one a line, words split on blanks ('' is an empty word). */
static int batch(bool keep_going)
{
	char line[1024];
	int ret = 0;

	while (fgets(line, sizeof(line), stdin)) {
		char *argv[16], *p = line;
		int argc = 0, r;

		while (argc < 15) {
			p += strspn(p, " \t\n");
			if (!*p)
				break;
			argv[argc++] = p;
			p += strcspn(p, " \t\n");
			if (*p)
				*p++ = '\0';
			if (!strcmp(argv[argc - 1], "''"))
				argv[argc - 1][0] = '\0';
		}
		if (!argc || argv[0][0] == '#')
			continue;
		if (!strcmp(argv[0], "batch") || !strcmp(argv[0], "monitor")) {
			fprintf(stderr, "vbus-nl: batch: %s is not allowed here\n", argv[0]);
			r = 2;
		} else {
			arg_cmd = argv[0];
			r = run(argc - 1, argv + 1);
		}
		if (r) {
			ret = 1;
			if (!keep_going)
				break;
		}
	}
	return ret;
}

int main(int argc, char **argv)
{
	int one = 1, r;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	arg_cmd = argv[1];
	if (!strcmp(arg_cmd, "-h") || !strcmp(arg_cmd, "--help")) {
		usage(stdout);
		return 0;
	}

	sk = nl_socket_alloc();
	if (!sk || genl_connect(sk) < 0) {
		fprintf(stderr, "vbus-nl: cannot open a generic netlink socket\n");
		return 1;
	}
	/* libnl 3.7 has no helper for these */
	if (setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one)) < 0 ||
	    setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)) < 0) {
		perror("vbus-nl: setsockopt NETLINK_EXT_ACK");
		return 1;
	}
	family = genl_ctrl_resolve(sk, VBUS_GENL_NAME);
	if (family < 0) {
		fprintf(stderr, "vbus-nl: generic netlink family %s not found (is vbus.ko loaded?)\n",
			VBUS_GENL_NAME);
		return 1;
	}

	r = run(argc - 2, argv + 2);
	nl_socket_free(sk);
	return r;
}

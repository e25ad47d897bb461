// SPDX-License-Identifier: LGPL-2.1-or-later
/* Generic netlink on libnl-genl: requests, dumps, multicast and the kernel's extack message. */
#include <linux/netlink.h>
#include <stdio.h>
#include <sys/socket.h>

#include <netlink/genl/family.h>
#include <netlink/socket.h>

#include "netlink.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define MAX_FAMILIES 8

struct vbus_nl {
	struct vbus_ctx *ctx;
	struct nl_sock *sk;
	struct nl_cb *cb;
	struct {
		char *name;
		int id;
	} families[MAX_FAMILIES];
	size_t n_families;
	char *extack;

	/* monitor sockets only */
	const struct nla_policy *policy;
	int maxattr;
	vbus_nl_event_fn event_fn;
	void *event_data;
	struct nlattr **tb;
};

/* One request in flight: what the callbacks fill in. */
struct call {
	struct vbus_nl *nl;
	const struct nla_policy *policy;
	int maxattr;
	struct nlattr **tb;
	vbus_nl_reply_fn fn;
	int (*raw_fn)(struct nl_msg *msg, void *userdata);
	void *userdata;
	int err;
	bool kernel_err; /* err came from the kernel's ack, not from us */
	bool done;
};

/* libnl reports its own error codes; callers want errno. */
static int nlerr_to_errno(int nlerr)
{
	switch (-nlerr) {
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_PERM:
		return -EPERM;
	case NLE_NOACCESS:
		return -EACCES;
	case NLE_OBJ_NOTFOUND:
		return -ENOENT;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_INTR:
		return -EINTR;
	case NLE_MSGSIZE:
		return -EMSGSIZE;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	case NLE_INVAL:
		return -EINVAL;
	default:
		return -EIO;
	}
}

static int enable_extack(struct nl_sock *sk)
{
	int one = 1, fd = nl_socket_get_fd(sk);

	/* libnl 3.7 has no helper for these: ask for the kernel's message, without the echo of
	 * our request. Old kernels refuse with ENOPROTOOPT, which only loses the message. */
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	return 0;
}

static int connect_socket(struct vbus_ctx *ctx, int protocol, struct nl_sock **ret)
{
	struct nl_sock *sk;
	int r;

	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	r = protocol == NETLINK_GENERIC ? genl_connect(sk) : nl_connect(sk, protocol);
	if (r < 0) {
		nl_socket_free(sk);
		return vbus_error(ctx, nlerr_to_errno(r), "%s netlink: %s",
				  protocol == NETLINK_GENERIC ? "generic" : "route", nl_geterror(r));
	}
	enable_extack(sk);
	/* A buffer as large as the kernel's largest dump message (32 KiB): libnl then reads each
	 * message with one recvmsg() instead of a MSG_PEEK for its size and a second read, which
	 * halved the recvmsg() calls of a start (4 -> 2 per request acked; 8 -> 4 with a reply). */
	(void)nl_socket_set_msg_buf_size(sk, 32768);
	*ret = sk;
	return 0;
}

static int open_protocol(struct vbus_ctx *ctx, int protocol, struct vbus_nl **ret)
{
	struct vbus_nl *nl;
	int r;

	/* libnl is loaded here, before the first socket (nl-dl.h). */
	r = vbus_nl_dlopen(ctx);
	if (r < 0)
		return r;
	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	nl->ctx = ctx;
	r = connect_socket(ctx, protocol, &nl->sk);
	if (r < 0) {
		free(nl);
		return r;
	}
	nl->cb = nl_cb_alloc(NL_CB_CUSTOM);
	if (!nl->cb) {
		vbus_nl_free(nl);
		return -ENOMEM;
	}
	*ret = nl;
	return 0;
}

int vbus_nl_open(struct vbus_ctx *ctx, struct vbus_nl **ret)
{
	return open_protocol(ctx, NETLINK_GENERIC, ret);
}

int vbus_nl_open_route(struct vbus_ctx *ctx, struct vbus_nl **ret)
{
	return open_protocol(ctx, NETLINK_ROUTE, ret);
}

struct vbus_nl *vbus_nl_free(struct vbus_nl *nl)
{
	if (!nl)
		return NULL;
	for (size_t i = 0; i < nl->n_families; i++)
		free(nl->families[i].name);
	if (nl->cb)
		nl_cb_put(nl->cb);
	if (nl->sk)
		nl_socket_free(nl->sk);
	free(nl->extack);
	free(nl->tb);
	free(nl);
	return NULL;
}

int vbus_nl_family(struct vbus_nl *nl, const char *family, int *ret_id)
{
	int id;

	for (size_t i = 0; i < nl->n_families; i++)
		if (streq(nl->families[i].name, family)) {
			*ret_id = nl->families[i].id;
			return 0;
		}

	id = genl_ctrl_resolve(nl->sk, family);
	if (id < 0)
		return vbus_error(nl->ctx, -ENOENT,
				  "generic netlink family %s is not available (module not loaded?)",
				  family);
	if (nl->n_families < MAX_FAMILIES) {
		char *name = strdup(family);

		if (!name)
			return -ENOMEM;
		nl->families[nl->n_families].name = name;
		nl->families[nl->n_families++].id = id;
	}
	*ret_id = id;
	return 0;
}

int vbus_nl_request(struct vbus_nl *nl, const char *family, uint8_t cmd, bool dump,
		    struct nl_msg **ret)
{
	struct nl_msg *msg;
	int id, r;

	r = vbus_nl_family(nl, family, &id);
	if (r < 0)
		return r;
	msg = nlmsg_alloc();
	if (!msg)
		return -ENOMEM;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, id, 0, dump ? NLM_F_DUMP : 0, cmd, 0)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	*ret = msg;
	return 0;
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct call *c = arg;
	int r;

	if (c->err < 0)
		return NL_SKIP;
	if (c->raw_fn)
		return c->raw_fn(msg, c->userdata);
	memset(c->tb, 0, (c->maxattr + 1) * sizeof(*c->tb));
	r = genlmsg_parse(nlmsg_hdr(msg), 0, c->tb, c->maxattr, (struct nla_policy *)c->policy);
	if (r < 0) {
		c->err = vbus_error(c->nl->ctx, -EBADMSG, "malformed netlink reply: %s",
				    nl_geterror(r));
		return NL_SKIP;
	}
	if (c->fn) {
		r = c->fn(c->tb, c->userdata);
		if (r < 0)
			c->err = r;
	}
	return NL_OK;
}

/* The ack of a request carries, after struct nlmsgerr, the extack attributes. */
static void parse_extack(struct vbus_nl *nl, struct nlmsgerr *e)
{
	struct nlmsghdr *h = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	size_t off = sizeof(*e);
	int len;

	free(nl->extack);
	nl->extack = NULL;
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	len = (int)h->nlmsg_len - NLMSG_HDRLEN - (int)off;
	if (len <= 0)
		return;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)e + off), len, NULL) < 0)
		return;
	if (tb[NLMSGERR_ATTR_MSG] && nla_len(tb[NLMSGERR_ATTR_MSG]) > 0)
		nl->extack = strndup(nla_data(tb[NLMSGERR_ATTR_MSG]), nla_len(tb[NLMSGERR_ATTR_MSG]));
}

static int on_error(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	struct call *c = arg;

	parse_extack(c->nl, e);
	if (c->err == 0) {
		c->err = e->error < 0 ? e->error : -EIO;
		c->kernel_err = true;
	}
	c->done = true;
	return NL_STOP;
}

static int on_done(struct nl_msg *msg, void *arg)
{
	struct call *c = arg;

	c->done = true;
	return NL_STOP;
}

static int call(struct vbus_nl *nl, struct nl_msg *msg, struct call c, const char *what)
{
	int r;

	free(nl->extack);
	nl->extack = NULL;
	c.tb = calloc(c.maxattr + 1, sizeof(*c.tb));
	if (!c.tb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}

	nl_cb_set(nl->cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, &c);
	nl_cb_set(nl->cb, NL_CB_ACK, NL_CB_CUSTOM, on_done, &c);
	nl_cb_set(nl->cb, NL_CB_FINISH, NL_CB_CUSTOM, on_done, &c);
	nl_cb_err(nl->cb, NL_CB_CUSTOM, on_error, &c);

	r = nl_send_auto(nl->sk, msg);
	nlmsg_free(msg);
	if (r < 0) {
		free(c.tb);
		return vbus_error(nl->ctx, nlerr_to_errno(r), "%s: %s", what, nl_geterror(r));
	}

	while (!c.done) {
		r = nl_recvmsgs(nl->sk, nl->cb);
		if (r < 0 && !c.done) {
			if (c.err == 0)
				c.err = vbus_error(nl->ctx, nlerr_to_errno(r), "%s: %s", what,
						   nl_geterror(r));
			break;
		}
	}
	free(c.tb);

	if (c.kernel_err)
		return vbus_error(nl->ctx, c.err, "%s: %s", what, nl->extack ?: strerror(-c.err));
	return c.err;
}

int vbus_nl_call(struct vbus_nl *nl, struct nl_msg *msg, const struct nla_policy *policy,
		 int maxattr, vbus_nl_reply_fn cb, void *userdata, const char *what)
{
	return call(nl, msg,
		    (struct call){ .nl = nl, .policy = policy, .maxattr = maxattr, .fn = cb,
				   .userdata = userdata },
		    what);
}

int vbus_nl_call_raw(struct vbus_nl *nl, struct nl_msg *msg,
		     int (*cb)(struct nl_msg *msg, void *userdata), void *userdata, const char *what)
{
	return call(nl, msg, (struct call){ .nl = nl, .raw_fn = cb, .userdata = userdata }, what);
}

const char *vbus_nl_last_extack(struct vbus_nl *nl)
{
	return nl->extack;
}

static int on_event(struct nl_msg *msg, void *arg)
{
	struct vbus_nl *nl = arg;
	struct genlmsghdr *g = nlmsg_data(nlmsg_hdr(msg));

	memset(nl->tb, 0, (nl->maxattr + 1) * sizeof(*nl->tb));
	if (genlmsg_parse(nlmsg_hdr(msg), 0, nl->tb, nl->maxattr,
			  (struct nla_policy *)nl->policy) < 0) {
		dbg(nl->ctx, "ignoring a malformed netlink event");
		return NL_SKIP;
	}
	(void)nl->event_fn(g->cmd, nl->tb, nl->event_data);
	return NL_OK;
}

/* Notifications carry sequence number 0: nothing to check them against. */
static int no_seq_check(struct nl_msg *msg, void *arg)
{
	return NL_OK;
}

int vbus_nl_monitor_open(struct vbus_ctx *ctx, const char *family, const char *group,
			 const struct nla_policy *policy, int maxattr, vbus_nl_event_fn cb,
			 void *userdata, struct vbus_nl **ret)
{
	_cleanup_nl_ struct vbus_nl *nl = NULL;
	int r, grp, rcvbuf = 1 << 20;

	r = vbus_nl_open(ctx, &nl);
	if (r < 0)
		return r;
	grp = genl_ctrl_resolve_grp(nl->sk, family, group);
	if (grp < 0)
		return vbus_error(ctx, -ENOENT, "generic netlink group %s of %s is not available",
				  group, family);
	r = nl_socket_add_membership(nl->sk, grp);
	if (r < 0)
		return vbus_error(ctx, nlerr_to_errno(r), "joining %s/%s: %s", family, group,
				  nl_geterror(r));
	nl_socket_disable_seq_check(nl->sk);
	/* A burst (a devlink batch of port adds: a few events each) while the reader is busy
	 * must not overflow the default 208 KiB; a lost event still costs only a full read. */
	if (setsockopt(nl_socket_get_fd(nl->sk), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)) < 0)
		(void)setsockopt(nl_socket_get_fd(nl->sk), SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				 sizeof(rcvbuf));
	r = nl_socket_set_nonblocking(nl->sk);
	if (r < 0)
		return nlerr_to_errno(r);

	nl->tb = calloc(maxattr + 1, sizeof(*nl->tb));
	if (!nl->tb)
		return -ENOMEM;
	nl->policy = policy;
	nl->maxattr = maxattr;
	nl->event_fn = cb;
	nl->event_data = userdata;
	nl_cb_set(nl->cb, NL_CB_VALID, NL_CB_CUSTOM, on_event, nl);
	/* nl_socket_disable_seq_check() set this on the socket's own callbacks, but events are
	 * read with NL->cb: without it libnl's strict check refused each one (NLE_SEQ_MISMATCH)
	 * before the callback saw it. */
	nl_cb_set(nl->cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, no_seq_check, NULL);
	*ret = TAKE_PTR(nl);
	return 0;
}

int vbus_nl_monitor_fd(struct vbus_nl *nl)
{
	return nl_socket_get_fd(nl->sk);
}

int vbus_nl_monitor_dispatch(struct vbus_nl *nl)
{
	int r;

	for (;;) {
		r = nl_recvmsgs(nl->sk, nl->cb);
		if (r == -NLE_AGAIN)
			return 0;
		if (r < 0)
			return nlerr_to_errno(r);
	}
}

int vbus_nl_kind_monitor_open(struct vbus_ctx *ctx, const char *family, const char *group,
			      const struct nla_policy *policy, int maxattr, vbus_nl_event_fn cb,
			      vbus_monitor_fn fn, void *userdata, void **ret_handle, int *ret_fd)
{
	struct vbus_nl_kind_monitor *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	m->fn = fn;
	m->userdata = userdata;
	r = vbus_nl_monitor_open(ctx, family, group, policy, maxattr, cb, m, &m->nl);
	if (r < 0) {
		free(m);
		return r;
	}
	*ret_handle = m;
	*ret_fd = vbus_nl_monitor_fd(m->nl);
	return 0;
}

int vbus_nl_kind_monitor_dispatch(void *handle)
{
	struct vbus_nl_kind_monitor *m = handle;

	return vbus_nl_monitor_dispatch(m->nl);
}

void vbus_nl_kind_monitor_close(void *handle)
{
	struct vbus_nl_kind_monitor *m = handle;

	vbus_nl_free(m->nl);
	free(m);
}

int vbus_nl_get(struct vbus_ctx *ctx, enum vbus_kind kind, struct vbus_nl **ret)
{
	struct vbus_nl *nl;
	int r;

	if (!ctx->real_root)
		return vbus_error(ctx, -EOPNOTSUPP,
				  "kind %s talks to the kernel and is not available under --root %s",
				  vbus_kind_to_string(kind), ctx->root);
	if (!ctx->backend_data[kind]) {
		r = vbus_nl_open(ctx, &nl);
		if (r < 0)
			return r;
		ctx->backend_data[kind] = nl;
	}
	*ret = ctx->backend_data[kind];
	return 0;
}

int vbus_nl_parent_offers(struct vbus_ctx *ctx, enum vbus_kind kind,
			  int (*walk)(struct vbus_ctx *ctx, struct json_object *out),
			  const char *parent, const char *type)
{
	_cleanup_json_ struct json_object *fresh = NULL;
	struct json_object *types = ctx->parent_types[kind];
	bool found = false;
	int r;

	if (!types || ctx->lock_depth == 0 || ctx->parent_types_gen[kind] != ctx->lock_gen) {
		fresh = json_object_new_array();
		if (!fresh)
			return -ENOMEM;
		r = walk(ctx, fresh);
		if (r < 0)
			return r;
		types = fresh;
		if (ctx->lock_depth > 0) {
			json_object_put(ctx->parent_types[kind]);
			ctx->parent_types[kind] = json_object_get(fresh);
			ctx->parent_types_gen[kind] = ctx->lock_gen;
		}
	}
	for (size_t i = 0; i < json_object_array_length(types); i++) {
		struct json_object *e = json_object_array_get_idx(types, i), *p, *t;

		if (!json_object_object_get_ex(e, "parent", &p) ||
		    !streq_ptr(json_object_get_string(p), parent))
			continue;
		found = true;
		if (!type || (json_object_object_get_ex(e, "type", &t) &&
			      streq_ptr(json_object_get_string(t), type)))
			return 0;
	}
	return found ? 1 : -ENODEV;
}

void vbus_nl_free_data(struct vbus_ctx *ctx, void *data)
{
	vbus_nl_free(data);
}

int vbus_nl_put_handle(struct nl_msg *msg, int bus_attr, int dev_attr, const char *handle)
{
	const char *slash = strchr(handle, '/');
	int r;

	if (slash) {
		_cleanup_free_ char *bus = strndup(handle, slash - handle);

		if (!bus)
			return -ENOMEM;
		r = nla_put_string(msg, bus_attr, bus);
		if (r < 0)
			return -EMSGSIZE;
		handle = slash + 1;
	}
	return nla_put_string(msg, dev_attr, handle) < 0 ? -EMSGSIZE : 0;
}

char *vbus_nl_handle(struct nlattr **tb, int bus_attr, int dev_attr)
{
	char *s;

	if (!tb[dev_attr])
		return NULL;
	if (!tb[bus_attr])
		return strdup(nla_get_string(tb[dev_attr]));
	if (asprintf(&s, "%s/%s", nla_get_string(tb[bus_attr]), nla_get_string(tb[dev_attr])) < 0)
		return NULL;
	return s;
}

static int dump_request(struct vbus_ctx *ctx, enum vbus_kind kind, const char *family, uint8_t cmd,
			struct vbus_nl **ret_nl, struct nl_msg **ret)
{
	int r;

	if (!ctx->real_root)
		return 0;
	r = vbus_nl_get(ctx, kind, ret_nl);
	if (r < 0)
		return r;
	r = vbus_nl_request(*ret_nl, family, cmd, true, ret);
	if (r == -ENOENT) {
		vbus_error_clear(ctx);
		return 0;
	}
	return r < 0 ? r : 1;
}

int vbus_nl_dump(struct vbus_ctx *ctx, enum vbus_kind kind, const char *family, uint8_t cmd,
		 const struct nla_policy *policy, int maxattr, vbus_nl_reply_fn cb, void *userdata,
		 const char *what)
{
	struct vbus_nl *nl;
	struct nl_msg *msg;
	int r;

	r = dump_request(ctx, kind, family, cmd, &nl, &msg);
	if (r <= 0)
		return r;
	return vbus_nl_call(nl, msg, policy, maxattr, cb, userdata, what);
}

int vbus_nl_dump_raw(struct vbus_ctx *ctx, enum vbus_kind kind, const char *family, uint8_t cmd,
		     int (*cb)(struct nl_msg *msg, void *userdata), void *userdata, const char *what)
{
	struct vbus_nl *nl;
	struct nl_msg *msg;
	int r;

	r = dump_request(ctx, kind, family, cmd, &nl, &msg);
	if (r <= 0)
		return r;
	return vbus_nl_call_raw(nl, msg, cb, userdata, what);
}

int vbus_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &end) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = b[i];
	return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Generic netlink in three calls (open, prepare, send-and-receive), with the kernel's extack. */
#pragma once

#include <netlink/attr.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "nl-dl.h"
#include "vbus-private.h"

struct vbus_nl;

/* Called for each reply message of a request (one for a doit, many for a dump). Attributes
 * are parsed against POLICY (unknown ones skipped) before the callback sees them. Returning a
 * negative errno aborts the request with that error. */
typedef int (*vbus_nl_reply_fn)(struct nlattr **tb, void *userdata);

int vbus_nl_open(struct vbus_ctx *ctx, struct vbus_nl **ret);
/* The same on NETLINK_ROUTE (rtnetlink): build requests with libnl-route, send with
 * vbus_nl_call_raw(); vbus_nl_family() and vbus_nl_request() are for generic netlink only. */
int vbus_nl_open_route(struct vbus_ctx *ctx, struct vbus_nl **ret);
struct vbus_nl *vbus_nl_free(struct vbus_nl *nl);
static inline void vbus_nl_freep(struct vbus_nl **p)
{
	vbus_nl_free(*p);
}
#define _cleanup_nl_ _cleanup_(vbus_nl_freep)

/* Resolves (and caches) a family; -ENOENT when the kernel does not have it (module not
 * loaded, feature not built). */
int vbus_nl_family(struct vbus_nl *nl, const char *family, int *ret_id);

/* Starts a request for CMD of FAMILY; NLM_F_DUMP when DUMP. Add attributes with nla_put_*(). */
int vbus_nl_request(struct vbus_nl *nl, const char *family, uint8_t cmd, bool dump,
		    struct nl_msg **ret);

/*
 * Sends MSG (and frees it) and reads every reply up to the ack or the end of the dump, each
 * parsed with POLICY (MAXATTR + 1 entries) and handed to CB (may be NULL). On a kernel error
 * returns its negative errno and records "<what>: <extack message or strerror>" with
 * vbus_error(), WHAT naming the object ("vdpa device v0").
 */
int vbus_nl_call(struct vbus_nl *nl, struct nl_msg *msg, const struct nla_policy *policy,
		 int maxattr, vbus_nl_reply_fn cb, void *userdata, const char *what);

/* The same, for replies whose attributes repeat (a list of nests): CB gets each message raw
 * and returns NL_OK, NL_SKIP or NL_STOP. */
int vbus_nl_call_raw(struct vbus_nl *nl, struct nl_msg *msg,
		     int (*cb)(struct nl_msg *msg, void *userdata), void *userdata, const char *what);

/* The extack text of the last failed call, or NULL when the kernel sent none. */
const char *vbus_nl_last_extack(struct vbus_nl *nl);

/*
 * Multicast: a separate socket subscribed to GROUP of FAMILY, non-blocking, for an event
 * loop. vbus_nl_monitor_fd() gives the fd to poll; vbus_nl_monitor_dispatch() reads what is
 * pending and calls CB for each message with its command in *cmd.
 */
typedef int (*vbus_nl_event_fn)(uint8_t cmd, struct nlattr **tb, void *userdata);
int vbus_nl_monitor_open(struct vbus_ctx *ctx, const char *family, const char *group,
			 const struct nla_policy *policy, int maxattr, vbus_nl_event_fn cb,
			 void *userdata, struct vbus_nl **ret);
int vbus_nl_monitor_fd(struct vbus_nl *nl);
int vbus_nl_monitor_dispatch(struct vbus_nl *nl);

/*
 * A kind's monitor over one such group, for struct vbus_backend's monitor_* ops: CB gets the
 * struct vbus_nl_kind_monitor as its userdata and reports each event of the kind to its FN.
 */
struct vbus_nl_kind_monitor {
	struct vbus_nl *nl;
	vbus_monitor_fn fn;
	void *userdata;
};
int vbus_nl_kind_monitor_open(struct vbus_ctx *ctx, const char *family, const char *group,
			      const struct nla_policy *policy, int maxattr, vbus_nl_event_fn cb,
			      vbus_monitor_fn fn, void *userdata, void **ret_handle, int *ret_fd);
int vbus_nl_kind_monitor_dispatch(void *handle);
void vbus_nl_kind_monitor_close(void *handle);

/*
 * The request socket of a netlink kind in CTX, opened on first use and kept in
 * ctx->backend_data[KIND] (free it with vbus_nl_free_data as the backend's free_data op).
 * -EOPNOTSUPP under a --root other than "/": a fake tree has no kernel behind it.
 */
int vbus_nl_get(struct vbus_ctx *ctx, enum vbus_kind kind, struct vbus_nl **ret);
void vbus_nl_free_data(struct vbus_ctx *ctx, void *data);

/* Puts a handle written "BUS/DEV" (or "DEV" alone) as the two string attributes. */
int vbus_nl_put_handle(struct nl_msg *msg, int bus_attr, int dev_attr, const char *handle);
/* The "BUS/DEV" (or "DEV") form of a handle from a reply; NULL when DEV is missing. */
char *vbus_nl_handle(struct nlattr **tb, int bus_attr, int dev_attr);


/*
 * A dump of CMD of FAMILY for a kind's listing: nothing (0) under a --root other than "/" or
 * when the kernel lacks the family (the module is not loaded: no parents, not an error).
 * The _raw form hands CB each message, for replies whose attributes repeat.
 */
int vbus_nl_dump(struct vbus_ctx *ctx, enum vbus_kind kind, const char *family, uint8_t cmd,
		 const struct nla_policy *policy, int maxattr, vbus_nl_reply_fn cb, void *userdata,
		 const char *what);
int vbus_nl_dump_raw(struct vbus_ctx *ctx, enum vbus_kind kind, const char *family, uint8_t cmd,
		     int (*cb)(struct nl_msg *msg, void *userdata), void *userdata, const char *what);

/*
 * Whether PARENT of a netlink kind offers TYPE (any type when NULL): 0 yes, 1 the parent is
 * there without that type, -ENODEV no such parent. WALK lists every (parent, type) entry of
 * the kind (objects with "parent" and "type"). Under the lock (vbus_lock()) one walk serves
 * the whole hold: a batch of starts does not dump the management devices once per device.
 * Only our own calls change them then, or a parent going away, which the create call reports.
 */
int vbus_nl_parent_offers(struct vbus_ctx *ctx, enum vbus_kind kind,
			  int (*walk)(struct vbus_ctx *ctx, struct json_object *out),
			  const char *parent, const char *type);

/* "00:11:22:33:44:55" to 6 bytes; -EINVAL for anything else. */
int vbus_parse_mac(const char *s, uint8_t mac[6]);

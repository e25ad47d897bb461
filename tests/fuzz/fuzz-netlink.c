// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer: the netlink reply parsers of one backend, built with the backend's source included
 * (its callbacks and policies are static). Each input is a generic netlink payload (genlmsghdr
 * and attributes) going through genlmsg_parse() with the backend's policy, as lib/netlink.c
 * does for every reply, then to the reply callback chosen by the first byte. Seeds are golden
 * replies of the kernel (tests/fuzz/corpus/netlink-*), which the fuzzer mutates.
 * Built three times: FUZZ_NL_VDPA, FUZZ_NL_SF, FUZZ_NL_VIRTBUS.
 */
#include "fuzz-util.h"

#if defined(FUZZ_NL_VDPA)
#include "backend-vdpa.c"
#elif defined(FUZZ_NL_SF)
#include "backend-sf.c"
#elif defined(FUZZ_NL_VIRTBUS)
#include "backend-virtbus.c"
#else
#error "which backend?"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct nl_msg *make_msg(const uint8_t *data, size_t size)
{
	struct nl_msg *msg = nlmsg_alloc_size(NLMSG_HDRLEN + NLMSG_ALIGN(size) + 64);

	if (!msg)
		abort();
	if (!nlmsg_put(msg, 0, 0, 0x20, 0, NLM_F_MULTI) ||
	    (size && nlmsg_append(msg, (void *)data, size, NLMSG_ALIGNTO) < 0))
		abort();
	return msg;
}

/* As lib/netlink.c's on_valid(): parse against POLICY, then hand TB to CB. */
static void parse_and_call(struct nl_msg *msg, const struct nla_policy *policy, int maxattr,
			   vbus_nl_reply_fn cb, void *userdata)
{
	struct nlattr *tb[256] = {};

	if (maxattr >= 256)
		abort();
	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, maxattr, (struct nla_policy *)policy) < 0)
		return;
	(void)cb(tb, userdata);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vbus_ctx *ctx = fuzz_ctx(NULL);
	struct json_object *out;
	struct nl_msg *msg;
	uint8_t which;

	if (size < 1 || size > 8192)
		return -1;
	if (vbus_nl_dlopen(ctx) < 0) /* libnl's calls go through nl-dl.h's pointers */
		abort();
	out = json_object_new_array();
	if (!out)
		abort();
	which = data[0];
	msg = make_msg(data + 1, size - 1);

#if defined(FUZZ_NL_VDPA)
	if (which % 3 == 0) {
		struct mgmtdev_walk w = { .ctx = ctx, .out = out };

		parse_and_call(msg, vdpa_policy, VDPA_ATTR_MAX, add_mgmtdev, &w);
	} else if (which % 3 == 1) {
		struct mgmtdev_walk w = { .ctx = ctx, .out = out, .types = true,
					  .filter = "vdpasim_net" };

		parse_and_call(msg, vdpa_policy, VDPA_ATTR_MAX, add_mgmtdev, &w);
	} else {
		struct dev_walk w = { .ctx = ctx, .out = out };

		parse_and_call(msg, vdpa_policy, VDPA_ATTR_MAX, add_dev, &w);
	}
#elif defined(FUZZ_NL_SF)
	if (which % 3 == 0) {
		struct ports p = {};

		parse_and_call(msg, devlink_policy, DEVLINK_ATTR_MAX, add_port, &p);
		/* Two messages in one dump: the array grows. */
		parse_and_call(msg, devlink_policy, DEVLINK_ATTR_MAX, add_port, &p);
		ports_done(&p);
	} else if (which % 3 == 1) {
		const char *want[2] = { "pci/0000:06:00.0", NULL };

		parse_and_call(msg, devlink_policy, DEVLINK_ATTR_MAX, match_instance, want);
	} else {
		uint32_t index = 0;

		parse_and_call(msg, devlink_policy, DEVLINK_ATTR_MAX, port_reply, &index);
	}
#elif defined(FUZZ_NL_VIRTBUS)
	if (which % 4 == 0 || which % 4 == 1) {
		struct mgmtdev_walk w = { .out = out, .types = which % 4 == 1 };

		(void)mgmtdev_msg(msg, &w);
	} else if (which % 4 == 2) {
		void *d[2] = { ctx, out };

		parse_and_call(msg, vbus_policy, VBUS_ATTR_MAX, add_dev, d);
	} else {
		struct dev_info d = {};

		parse_and_call(msg, vbus_policy, VBUS_ATTR_MAX, get_one, &d);
		dev_info_done(&d);
	}
#endif
	/* What a listing prints of it must serialize. */
	(void)json_object_to_json_string(out);
	json_object_put(out);
	nlmsg_free(msg);
	return 0;
}

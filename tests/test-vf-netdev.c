// SPDX-License-Identifier: LGPL-2.1-or-later
/* Per-VF netdev settings (lib/vf-netdev.c): what a definition may ask for, and the errors. */
#include <linux/if_link.h>
#include <stdio.h>

#include "test.h"
#include "vbus-private.h"
#include "vf-netdev.h"

#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "tests/data"
#endif

static struct vbus_ctx *ctx;
static struct vbus_vf_settings S;

static void setup(void)
{
	char root[512];

	snprintf(root, sizeof(root), "%s/host-sriov", TEST_DATA_DIR);
	check_int(vbus_ctx_new(root, &ctx), 0);
}

/* Parses the attrs "k1", "v1", "k2", "v2", ..., NULL of a VF definition "vfx": "ok" or the
 * error (errno and cause) as the user would read it. */
static const char *parse(const char *k, ...)
{
	static char out[512];
	struct vbus_def *d = NULL;
	va_list ap;
	int r;

	check_int(vbus_def_new(&d), 0);
	d->name = strdup("vfx");
	d->kind = VBUS_KIND_VF;
	d->parent = strdup("0000:03:00.0");
	d->index = 1;
	va_start(ap, k);
	for (; k; k = va_arg(ap, const char *))
		check_int(vbus_def_add_attr(d, k, va_arg(ap, const char *)), 0);
	va_end(ap);
	S = (struct vbus_vf_settings){};
	r = vbus_vf_settings_parse(ctx, d, &S);
	if (r < 0)
		snprintf(out, sizeof(out), "%d %s", r, vbus_ctx_last_error(ctx));
	else
		snprintf(out, sizeof(out), "ok");
	/* The backend's check refuses the same, with the same words. */
	if (r < 0) {
		check_int((vbus_backend_vf.check)(ctx, d), r);
		check_str(vbus_ctx_last_error(ctx), out + strcspn(out, " ") + 1);
	} else {
		check_int((vbus_backend_vf.check)(ctx, d), 0);
	}
	vbus_def_free(d);
	return out;
}

TEST(all_settings)
{
	setup();
	check_str(parse("mac", "52:54:00:ab:CD:01", "vlan", "100", "qos", "3", "trust", "on",
			"spoofchk", "off", "link_state", "disable", "min_tx_rate", "10",
			"max_tx_rate", "1000", NULL),
		  "ok");
	check_int(S.set, VBUS_VF_SET_MAC | VBUS_VF_SET_VLAN | VBUS_VF_SET_TRUST |
			     VBUS_VF_SET_SPOOFCHK | VBUS_VF_SET_LINK_STATE | VBUS_VF_SET_RATE);
	check_int(S.mac[4], 0xcd);
	check_int(S.mac[5], 0x01);
	check_int(S.vlan, 100);
	check_int(S.qos, 3);
	check_int(S.trust, 1);
	check_int(S.spoofchk, 0);
	check_int(S.link_state, IFLA_VF_LINK_STATE_DISABLE);
	check_int(S.min_tx_rate, 10);
	check_int(S.max_tx_rate, 1000);

	check_str(parse(NULL), "ok");
	check_int(S.set, 0);
	check_str(parse("link_state", "auto", NULL), "ok");
	check_int(S.link_state, IFLA_VF_LINK_STATE_AUTO);
	check_str(parse("link_state", "enable", NULL), "ok");
	check_int(S.link_state, IFLA_VF_LINK_STATE_ENABLE);
	/* Bounds that hold: vlan 0 (no filter) and 4095, qos 7 with vlan 0 (priority tags), a
	 * guarantee under no limit, the largest rate. */
	check_str(parse("vlan", "0", "qos", "7", NULL), "ok");
	check_str(parse("vlan", "4095", NULL), "ok");
	check_int(S.qos, 0);
	check_str(parse("min_tx_rate", "500", "max_tx_rate", "0", NULL), "ok");
	check_str(parse("max_tx_rate", "4294967295", NULL), "ok");
	check_int(S.max_tx_rate, 4294967295u);
	check_int(S.min_tx_rate, 0);
	check_str(parse("mac", "00:00:00:00:00:00", NULL), "ok");
	vbus_ctx_unref(ctx);
}

TEST(refusals_name_the_definition_and_the_key)
{
	setup();
	check_str(parse("mac", "52:54:00:12:34", NULL),
		  "-22 vfx: attribute mac: '52:54:00:12:34' is not a MAC address");
	check_str(parse("mac", "52:54:00:12:34:5", NULL),
		  "-22 vfx: attribute mac: '52:54:00:12:34:5' is not a MAC address");
	check_str(parse("mac", "01:00:5e:00:00:01", NULL),
		  "-22 vfx: attribute mac: 01:00:5e:00:00:01 is a multicast address, a VF needs a "
		  "unicast one");
	check_str(parse("vlan", "4096", NULL),
		  "-22 vfx: attribute vlan: '4096' is not a VLAN id (0-4095)");
	check_str(parse("vlan", "-1", NULL),
		  "-22 vfx: attribute vlan: '-1' is not a VLAN id (0-4095)");
	check_str(parse("vlan", "0x10", NULL),
		  "-22 vfx: attribute vlan: '0x10' is not a VLAN id (0-4095)");
	check_str(parse("vlan", "", NULL), "-22 vfx: attribute vlan: '' is not a VLAN id (0-4095)");
	check_str(parse("vlan", "10", "qos", "8", NULL),
		  "-22 vfx: attribute qos: '8' is not a VLAN priority (0-7)");
	check_str(parse("qos", "3", NULL), "-22 vfx: attribute qos needs vlan (the VLAN it tags)");
	check_str(parse("trust", "yes", NULL),
		  "-22 vfx: attribute trust: 'yes' is neither on nor off");
	check_str(parse("spoofchk", "1", NULL),
		  "-22 vfx: attribute spoofchk: '1' is neither on nor off");
	check_str(parse("link_state", "up", NULL),
		  "-22 vfx: attribute link_state: 'up' is not auto, enable or disable");
	check_str(parse("min_tx_rate", "200", "max_tx_rate", "100", NULL),
		  "-22 vfx: attribute min_tx_rate 200 is above max_tx_rate 100");
	check_str(parse("max_tx_rate", "4294967296", NULL),
		  "-22 vfx: attribute max_tx_rate: '4294967296' is not a rate in Mbit/s "
		  "(0-4294967295)");
	check_str(parse("min_tx_rate", "1.5", NULL),
		  "-22 vfx: attribute min_tx_rate: '1.5' is not a rate in Mbit/s (0-4294967295)");
	check_str(parse("vlan", "1", "vlan", "2", NULL), "-22 vfx: attribute vlan is given twice");
	check_str(parse("mtu", "9000", NULL),
		  "-22 vfx: a VF has no attribute 'mtu' (only mac, vlan, qos, trust, spoofchk, "
		  "link_state, min_tx_rate, max_tx_rate)");
	vbus_ctx_unref(ctx);
}

TEST(apply_needs_a_netdev)
{
	struct vbus_vf_settings s = {.set = VBUS_VF_SET_VLAN, .vlan = 5};

	setup();
	/* Nothing asked: nothing looked up. */
	check_int(vbus_vf_settings_apply(ctx, "vfx", "/sys/bus/pci/devices/0000:05:00.0", 0,
					 &(struct vbus_vf_settings){}),
		  0);
	/* The NVMe function has no netdev: said, not skipped in silence. */
	check_int(vbus_vf_settings_apply(ctx, "vfx", "/sys/bus/pci/devices/0000:05:00.0", 0, &s),
		  -ENODEV);
	check_str(vbus_ctx_last_error(ctx),
		  "vfx: 0000:05:00.0 has no network interface to set its VF 0's settings on");
	/* The E810 PF has enp3s0f0np0; a fake root only logs what it would send. */
	check_int(vbus_vf_settings_apply(ctx, "vfx", "/sys/bus/pci/devices/0000:03:00.0", 1, &s),
		  0);
	vbus_ctx_unref(ctx);
}

TEST_MAIN()

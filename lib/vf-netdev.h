/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Per-VF settings on an SR-IOV PF's netdev, as `ip link set PF vf N ...` sets them (rtnetlink). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vbus-private.h"

/* Which settings a definition asks for (struct vbus_vf_settings.set). */
enum {
	VBUS_VF_SET_MAC = 1u << 0,
	VBUS_VF_SET_VLAN = 1u << 1, /* vlan, with qos */
	VBUS_VF_SET_TRUST = 1u << 2,
	VBUS_VF_SET_SPOOFCHK = 1u << 3,
	VBUS_VF_SET_LINK_STATE = 1u << 4,
	VBUS_VF_SET_RATE = 1u << 5, /* min_tx_rate and max_tx_rate: the one not given is 0 */
};

struct vbus_vf_settings {
	unsigned set;
	uint8_t mac[6];
	uint32_t vlan, qos;
	bool trust, spoofchk;
	uint32_t link_state;		   /* IFLA_VF_LINK_STATE_AUTO, _ENABLE, _DISABLE */
	uint32_t min_tx_rate, max_tx_rate; /* Mbit/s, 0: no guarantee / no limit */
};

/*
 * The settings in DEF's attrs (keys mac, vlan, qos, trust, spoofchk, link_state, min_tx_rate,
 * max_tx_rate); -EINVAL with a cause naming DEF and the key for an unknown key, a key given
 * twice or a bad value (also: qos without vlan, min_tx_rate above max_tx_rate).
 */
int vbus_vf_settings_parse(struct vbus_ctx *ctx, const struct vbus_def *def,
			   struct vbus_vf_settings *ret);

/*
 * Applies S to VF INDEX through the network interface of the device DEVPATH (a sysfs path as
 * on a host, "/sys/bus/pci/devices/0000:03:00.0"): the VF's settings are read first
 * (RTM_GETLINK, RTEXT_FILTER_VF) and each one that differs is sent in an RTM_NEWLINK request
 * with IFLA_VFINFO_LIST of its own, so a refusal names the setting (with the kernel's extack
 * message) and a VF in use is not changed, or reset by its driver, for nothing. NAME names the definition in errors. Nothing to do when S sets nothing; -ENODEV
 * when the device has no network interface; under a fake root only what would be done is
 * logged.
 */
int vbus_vf_settings_apply(struct vbus_ctx *ctx, const char *name, const char *devpath,
			   uint32_t index, const struct vbus_vf_settings *s);

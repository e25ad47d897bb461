/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The virtio-net function of an active vbus_sim subfunction, as mlx5_core
 * offers "mlx5_core.vnet.N" to mlx5_vdpa: auxiliary device
 * "vbus_sim.vnet.<ID>" (ID that of its SF, "vbus_sim.sf.<ID>", which is its
 * parent). vbus_sim makes it; vbus_sim_vdpa binds it and registers a vDPA
 * management device on the SF. Only this header is shared: vbus_sim_vdpa
 * needs no symbol of vbus_sim.
 */
#ifndef _VBUS_SIM_VNET_H
#define _VBUS_SIM_VNET_H

#include <linux/auxiliary_bus.h>
#include <linux/if_ether.h>
#include <linux/types.h>

/* Auxiliary device name, as vbus_sim_vdpa's id table matches it. */
#define VBUS_SIM_VNET_NAME	"vbus_sim.vnet"

/**
 * struct vbus_sim_vnet - the virtio-net function of a vbus_sim SF
 * @adev: auxiliary device vbus_sim.vnet.<ID>; its parent is the SF's
 *	auxiliary device, its release (in vbus_sim) frees this structure
 * @sfnum: the SF's number (devlink port attribute sfnum)
 * @hw_addr: the function's address set with devlink port function set
 *	hw_addr, all zero when none was
 */
struct vbus_sim_vnet {
	struct auxiliary_device adev;
	u32 sfnum;
	u8 hw_addr[ETH_ALEN];
};

#endif /* _VBUS_SIM_VNET_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * vbus_sim devlink instance: pcisf ports whose function, once set
 * active, appears as auxiliary device vbus_sim.sf.<N>, bound by the
 * auxiliary driver below (opstate "attached"). Bound, it offers the SF's
 * virtio-net function as auxiliary device vbus_sim.vnet.<N> (a child, as
 * mlx5_core offers mlx5_core.vnet.N), on which vbus_sim_vdpa registers a
 * vDPA management device.
 *
 * Every port (the PF's and each SF's) has a representor netdev, as a NIC
 * in switchdev mode has, so that its devlink type is eth: devlink warns
 * "Type was not set for devlink port." an hour after a port whose type
 * stays unset is registered.
 *
 * In 6.1 every devlink op here runs with the instance lock held, which
 * also protects the port list; netdevs are registered under it (rtnl
 * after the devlink lock, as netdevsim does).
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/auxiliary_bus.h>
#include <linux/etherdevice.h>
#include <linux/idr.h>
#include <linux/list.h>
#include <linux/netdevice.h>
#include <linux/slab.h>
#include <net/devlink.h>

#include "vbus_sim.h"
#include "vbus_sim_vnet.h"

/* Highest sfnum picked automatically when the user gives none. */
#define VBUS_SIM_SFNUM_MAX	1023

struct vbus_sim_sf {
	struct auxiliary_device adev;
	u32 sfnum;
	u8 hw_addr[ETH_ALEN];
};

struct vbus_sim_port {
	struct devlink_port dl_port;
	struct net_device *rep;
	struct list_head list;
	unsigned int index;
	u32 sfnum;
	u8 hw_addr[ETH_ALEN];
	/* non-NULL while the function is active */
	struct vbus_sim_sf *sf;
};

struct vbus_sim_devlink {
	struct vbus_sim_dev *sim;
	/* The eswitch port of the PF itself (index 0), as a NIC in switchdev mode has. */
	struct devlink_port pf_port;
	struct net_device *pf_rep;
	struct list_head ports;
	unsigned int next_index;
};

static DEFINE_IDA(vbus_sim_sf_ida);

/* ---- representor netdevs: they drop what is sent to them ----------------------------------- */

struct vbus_sim_rep {
	struct devlink_port *dl_port;
};

static netdev_tx_t vbus_sim_rep_xmit(struct sk_buff *skb, struct net_device *dev)
{
	dev_core_stats_tx_dropped_inc(dev);
	dev_kfree_skb(skb);
	return NETDEV_TX_OK;
}

static struct devlink_port *vbus_sim_rep_devlink_port(struct net_device *dev)
{
	return ((struct vbus_sim_rep *)netdev_priv(dev))->dl_port;
}

static const struct net_device_ops vbus_sim_rep_ops = {
	.ndo_start_xmit = vbus_sim_rep_xmit,
	.ndo_get_devlink_port = vbus_sim_rep_devlink_port,
};

/* A representor for a registered port; sets the port's type to eth. */
static struct net_device *vbus_sim_rep_create(struct vbus_sim_dev *sim,
					      struct devlink_port *dl_port)
{
	struct vbus_sim_rep *rep;
	struct net_device *dev;
	int err;

	dev = alloc_netdev(sizeof(*rep), "vbsim%d", NET_NAME_ENUM, ether_setup);
	if (!dev)
		return ERR_PTR(-ENOMEM);
	rep = netdev_priv(dev);
	rep->dl_port = dl_port;
	dev->netdev_ops = &vbus_sim_rep_ops;
	eth_hw_addr_random(dev);
	SET_NETDEV_DEV(dev, &sim->dev);
	err = register_netdev(dev);
	if (err) {
		free_netdev(dev);
		return ERR_PTR(err);
	}
	devlink_port_type_eth_set(dl_port, dev);
	return dev;
}

static void vbus_sim_rep_destroy(struct devlink_port *dl_port, struct net_device *dev)
{
	if (!dev)
		return;
	devlink_port_type_clear(dl_port);
	unregister_netdev(dev);
	free_netdev(dev);
}

static struct vbus_sim_port *to_sim_port(struct devlink_port *dl_port)
{
	return container_of(dl_port, struct vbus_sim_port, dl_port);
}

/* Like mlx5's SF devices: "sfnum" tells userspace which port an auxiliary device belongs to. */
static ssize_t sfnum_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct vbus_sim_sf *sf = container_of(dev, struct vbus_sim_sf, adev.dev);

	return sysfs_emit(buf, "%u\n", sf->sfnum);
}
static DEVICE_ATTR_RO(sfnum);

static struct attribute *vbus_sim_sf_attrs[] = {
	&dev_attr_sfnum.attr,
	NULL
};
ATTRIBUTE_GROUPS(vbus_sim_sf);

/* The only place a vbus_sim_sf is freed. */
static void vbus_sim_sf_release(struct device *dev)
{
	struct vbus_sim_sf *sf = container_of(dev, struct vbus_sim_sf, adev.dev);

	ida_free(&vbus_sim_sf_ida, sf->adev.id);
	kfree(sf);
}

static int vbus_sim_sf_activate(struct vbus_sim_dev *sim, struct vbus_sim_port *port,
				struct netlink_ext_ack *extack)
{
	struct vbus_sim_sf *sf;
	int id, err;

	sf = kzalloc(sizeof(*sf), GFP_KERNEL);
	if (!sf) {
		NL_SET_ERR_MSG_MOD(extack, "Out of memory for the subfunction");
		return -ENOMEM;
	}
	id = ida_alloc(&vbus_sim_sf_ida, GFP_KERNEL);
	if (id < 0) {
		kfree(sf);
		NL_SET_ERR_MSG_MOD(extack, "No free subfunction device id");
		return id;
	}
	ether_addr_copy(sf->hw_addr, port->hw_addr);
	sf->sfnum = port->sfnum;
	sf->adev.name = "sf";
	sf->adev.id = id;
	sf->adev.dev.parent = &sim->dev;
	sf->adev.dev.release = vbus_sim_sf_release;
	sf->adev.dev.groups = vbus_sim_sf_groups;

	err = auxiliary_device_init(&sf->adev);
	if (err) {
		ida_free(&vbus_sim_sf_ida, id);
		kfree(sf);
		NL_SET_ERR_MSG_MOD(extack, "Failed to initialize the subfunction device");
		return err;
	}
	/* From here on put_device() (auxiliary_device_uninit) frees sf. */
	err = auxiliary_device_add(&sf->adev);
	if (err) {
		auxiliary_device_uninit(&sf->adev);
		NL_SET_ERR_MSG_MOD(extack, "Failed to add the subfunction device");
		return err;
	}
	port->sf = sf;
	return 0;
}

static void vbus_sim_sf_deactivate(struct vbus_sim_port *port)
{
	struct vbus_sim_sf *sf = port->sf;

	if (!sf)
		return;
	port->sf = NULL;
	auxiliary_device_delete(&sf->adev);
	auxiliary_device_uninit(&sf->adev);
}

static struct vbus_sim_port *vbus_sim_port_find(struct vbus_sim_devlink *sdl, unsigned int index)
{
	struct vbus_sim_port *port;

	list_for_each_entry(port, &sdl->ports, list)
		if (port->index == index)
			return port;
	return NULL;
}

static bool vbus_sim_sfnum_used(struct vbus_sim_devlink *sdl, u32 sfnum)
{
	struct vbus_sim_port *port;

	list_for_each_entry(port, &sdl->ports, list)
		if (port->sfnum == sfnum)
			return true;
	return false;
}

static int vbus_sim_port_new(struct devlink *devlink, const struct devlink_port_new_attrs *attrs,
			     struct netlink_ext_ack *extack, unsigned int *new_port_index)
{
	struct vbus_sim_devlink *sdl = devlink_priv(devlink);
	struct vbus_sim_port *port;
	u32 sfnum, inject;
	int err;

	if (attrs->flavour != DEVLINK_PORT_FLAVOUR_PCI_SF) {
		NL_SET_ERR_MSG_MOD(extack, "Only port flavour pcisf is supported");
		return -EOPNOTSUPP;
	}
	if (attrs->pfnum != 0) {
		NL_SET_ERR_MSG_MOD(extack, "Only PF number 0 is supported");
		return -EINVAL;
	}
	if (attrs->controller_valid && attrs->controller) {
		NL_SET_ERR_MSG_MOD(extack, "External controllers are not supported");
		return -EOPNOTSUPP;
	}
	if (attrs->port_index_valid) {
		NL_SET_ERR_MSG_MOD(extack, "The driver chooses the port index");
		return -EOPNOTSUPP;
	}

	if (attrs->sfnum_valid) {
		sfnum = attrs->sfnum;
		if (vbus_sim_sfnum_used(sdl, sfnum)) {
			NL_SET_ERR_MSG_MOD(extack, "SF number is already in use");
			return -EEXIST;
		}
	} else {
		for (sfnum = 0; sfnum <= VBUS_SIM_SFNUM_MAX; sfnum++)
			if (!vbus_sim_sfnum_used(sdl, sfnum))
				break;
		if (sfnum > VBUS_SIM_SFNUM_MAX) {
			NL_SET_ERR_MSG_MOD(extack, "No free SF number");
			return -ENOSPC;
		}
	}

	inject = xchg(&sdl->sim->fail_next_port_new, 0);
	if (inject) {
		NL_SET_ERR_MSG_MOD(extack, "Injected failure (debugfs fail_next_port_new)");
		return -(int)min_t(u32, inject, MAX_ERRNO);
	}

	port = kzalloc(sizeof(*port), GFP_KERNEL);
	if (!port) {
		NL_SET_ERR_MSG_MOD(extack, "Out of memory for the port");
		return -ENOMEM;
	}
	port->index = sdl->next_index++;
	port->sfnum = sfnum;
	devlink_port_attrs_pci_sf_set(&port->dl_port, 0, 0, sfnum, false);
	err = devl_port_register(devlink, &port->dl_port, port->index);
	if (err) {
		kfree(port);
		NL_SET_ERR_MSG_MOD(extack, "Failed to register the devlink port");
		return err;
	}
	port->rep = vbus_sim_rep_create(sdl->sim, &port->dl_port);
	if (IS_ERR(port->rep)) {
		err = PTR_ERR(port->rep);
		devl_port_unregister(&port->dl_port);
		kfree(port);
		NL_SET_ERR_MSG_MOD(extack, "Failed to register the port's representor netdev");
		return err;
	}
	list_add_tail(&port->list, &sdl->ports);

	*new_port_index = port->index;
	return 0;
}

static void vbus_sim_port_free(struct vbus_sim_port *port)
{
	vbus_sim_sf_deactivate(port);
	vbus_sim_rep_destroy(&port->dl_port, port->rep);
	devl_port_unregister(&port->dl_port);
	list_del(&port->list);
	kfree(port);
}

static int vbus_sim_port_del(struct devlink *devlink, unsigned int port_index,
			     struct netlink_ext_ack *extack)
{
	struct vbus_sim_devlink *sdl = devlink_priv(devlink);
	struct vbus_sim_port *port;

	port = vbus_sim_port_find(sdl, port_index);
	if (!port) {
		NL_SET_ERR_MSG_MOD(extack, "Port was not created by port_new");
		return -ENODEV;
	}
	vbus_sim_port_free(port);
	return 0;
}

/* The PF port has no function of its own to manage: only SF ports are vbus_sim_ports. */
static bool vbus_sim_is_pf_port(struct devlink_port *dl_port)
{
	struct vbus_sim_devlink *sdl = devlink_priv(dl_port->devlink);

	return dl_port == &sdl->pf_port;
}

static int vbus_sim_hw_addr_get(struct devlink_port *dl_port, u8 *hw_addr, int *hw_addr_len,
				struct netlink_ext_ack *extack)
{
	struct vbus_sim_port *port = to_sim_port(dl_port);

	if (vbus_sim_is_pf_port(dl_port))
		return -EOPNOTSUPP;

	ether_addr_copy(hw_addr, port->hw_addr);
	*hw_addr_len = ETH_ALEN;
	return 0;
}

static int vbus_sim_hw_addr_set(struct devlink_port *dl_port, const u8 *hw_addr, int hw_addr_len,
				struct netlink_ext_ack *extack)
{
	struct vbus_sim_port *port = to_sim_port(dl_port);

	if (vbus_sim_is_pf_port(dl_port)) {
		NL_SET_ERR_MSG_MOD(extack, "The PF port has no function to configure");
		return -EOPNOTSUPP;
	}
	if (hw_addr_len != ETH_ALEN) {
		NL_SET_ERR_MSG_MOD(extack, "Hardware address must be 6 bytes");
		return -EINVAL;
	}
	if (!is_zero_ether_addr(hw_addr) && !is_valid_ether_addr(hw_addr)) {
		NL_SET_ERR_MSG_MOD(extack, "Hardware address must be unicast");
		return -EINVAL;
	}
	if (port->sf) {
		NL_SET_ERR_MSG_MOD(extack, "Cannot change the address of an active function");
		return -EBUSY;
	}
	ether_addr_copy(port->hw_addr, hw_addr);
	return 0;
}

static int vbus_sim_state_get(struct devlink_port *dl_port, enum devlink_port_fn_state *state,
			      enum devlink_port_fn_opstate *opstate,
			      struct netlink_ext_ack *extack)
{
	struct vbus_sim_port *port = to_sim_port(dl_port);

	if (vbus_sim_is_pf_port(dl_port))
		return -EOPNOTSUPP;
	*state = port->sf ? DEVLINK_PORT_FN_STATE_ACTIVE : DEVLINK_PORT_FN_STATE_INACTIVE;
	/* attached once our auxiliary driver has bound the SF device */
	*opstate = port->sf && READ_ONCE(port->sf->adev.dev.driver) ?
		   DEVLINK_PORT_FN_OPSTATE_ATTACHED : DEVLINK_PORT_FN_OPSTATE_DETACHED;
	return 0;
}

static int vbus_sim_state_set(struct devlink_port *dl_port, enum devlink_port_fn_state state,
			      struct netlink_ext_ack *extack)
{
	struct vbus_sim_devlink *sdl = devlink_priv(dl_port->devlink);
	struct vbus_sim_port *port = to_sim_port(dl_port);

	if (vbus_sim_is_pf_port(dl_port)) {
		NL_SET_ERR_MSG_MOD(extack, "The PF port has no function to configure");
		return -EOPNOTSUPP;
	}
	switch (state) {
	case DEVLINK_PORT_FN_STATE_ACTIVE:
		if (port->sf)
			return 0;
		return vbus_sim_sf_activate(sdl->sim, port, extack);
	case DEVLINK_PORT_FN_STATE_INACTIVE:
		vbus_sim_sf_deactivate(port);
		return 0;
	default:
		NL_SET_ERR_MSG_MOD(extack, "Unknown function state");
		return -EINVAL;
	}
}

static const struct devlink_ops vbus_sim_devlink_ops = {
	.port_new = vbus_sim_port_new,
	.port_del = vbus_sim_port_del,
	.port_function_hw_addr_get = vbus_sim_hw_addr_get,
	.port_function_hw_addr_set = vbus_sim_hw_addr_set,
	.port_fn_state_get = vbus_sim_state_get,
	.port_fn_state_set = vbus_sim_state_set,
};

int vbus_sim_devlink_create(struct vbus_sim_dev *sim)
{
	struct vbus_sim_devlink *sdl;
	struct devlink *devlink;
	int err;

	devlink = devlink_alloc(&vbus_sim_devlink_ops, sizeof(*sdl), &sim->dev);
	if (!devlink)
		return -ENOMEM;
	sdl = devlink_priv(devlink);
	sdl->sim = sim;
	INIT_LIST_HEAD(&sdl->ports);
	sdl->next_index = 1;

	devlink_port_attrs_pci_pf_set(&sdl->pf_port, 0, 0, false);
	err = devlink_port_register(devlink, &sdl->pf_port, 0);
	if (err) {
		devlink_free(devlink);
		return err;
	}
	sdl->pf_rep = vbus_sim_rep_create(sim, &sdl->pf_port);
	if (IS_ERR(sdl->pf_rep)) {
		err = PTR_ERR(sdl->pf_rep);
		devlink_port_unregister(&sdl->pf_port);
		devlink_free(devlink);
		return err;
	}

	sim->devlink = devlink;
	devlink_register(devlink);
	return 0;
}

void vbus_sim_devlink_destroy(struct vbus_sim_dev *sim)
{
	struct devlink *devlink = sim->devlink;
	struct vbus_sim_devlink *sdl = devlink_priv(devlink);
	struct vbus_sim_port *port, *tmp;

	/* Waits for running devlink commands; no new ones start. */
	devlink_unregister(devlink);
	devl_lock(devlink);
	list_for_each_entry_safe_reverse(port, tmp, &sdl->ports, list)
		vbus_sim_port_free(port);
	vbus_sim_rep_destroy(&sdl->pf_port, sdl->pf_rep);
	devl_port_unregister(&sdl->pf_port);
	devl_unlock(devlink);
	devlink_free(devlink);
	sim->devlink = NULL;
}

/* The only place a vbus_sim_vnet is freed. */
static void vbus_sim_vnet_release(struct device *dev)
{
	kfree(container_of(dev, struct vbus_sim_vnet, adev.dev));
}

/*
 * Binds the SF devices, so that their function reports opstate attached, and
 * adds the SF's virtio-net function vbus_sim.vnet.<N> under it.
 */
static int vbus_sim_sf_probe(struct auxiliary_device *adev, const struct auxiliary_device_id *id)
{
	struct vbus_sim_sf *sf = container_of(adev, struct vbus_sim_sf, adev);
	struct vbus_sim_vnet *vnet;
	int err;

	vnet = kzalloc(sizeof(*vnet), GFP_KERNEL);
	if (!vnet)
		return -ENOMEM;
	vnet->sfnum = sf->sfnum;
	ether_addr_copy(vnet->hw_addr, sf->hw_addr);
	vnet->adev.name = "vnet";
	vnet->adev.id = adev->id;
	vnet->adev.dev.parent = &adev->dev;
	vnet->adev.dev.release = vbus_sim_vnet_release;

	err = auxiliary_device_init(&vnet->adev);
	if (err) {
		kfree(vnet);
		return err;
	}
	/* From here on put_device() (auxiliary_device_uninit) frees vnet. */
	err = auxiliary_device_add(&vnet->adev);
	if (err) {
		auxiliary_device_uninit(&vnet->adev);
		return err;
	}
	auxiliary_set_drvdata(adev, vnet);
	dev_dbg(&adev->dev, "subfunction attached\n");
	return 0;
}

/* Removes the virtio-net function first: its vDPA devices go with it. */
static void vbus_sim_sf_remove(struct auxiliary_device *adev)
{
	struct vbus_sim_vnet *vnet = auxiliary_get_drvdata(adev);

	auxiliary_device_delete(&vnet->adev);
	auxiliary_device_uninit(&vnet->adev);
	dev_dbg(&adev->dev, "subfunction detached\n");
}

static const struct auxiliary_device_id vbus_sim_sf_ids[] = {
	{ .name = KBUILD_MODNAME ".sf" },
	{ }
};
MODULE_DEVICE_TABLE(auxiliary, vbus_sim_sf_ids);

static struct auxiliary_driver vbus_sim_sf_driver = {
	.name = "sf",
	.probe = vbus_sim_sf_probe,
	.remove = vbus_sim_sf_remove,
	.id_table = vbus_sim_sf_ids,
};

int vbus_sim_devlink_init(void)
{
	return auxiliary_driver_register(&vbus_sim_sf_driver);
}

void vbus_sim_devlink_exit(void)
{
	auxiliary_driver_unregister(&vbus_sim_sf_driver);
	ida_destroy(&vbus_sim_sf_ida);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * vbus_sim_vdpa: a vDPA management device on every active vbus_sim
 * subfunction, as mlx5_vdpa offers one on "auxiliary/mlx5_core.sf.N".
 *
 * vbus_sim adds auxiliary device vbus_sim.vnet.<N> under each bound SF
 * device vbus_sim.sf.<N>; this driver binds it and registers a management
 * device whose device is the SF's, so that "vdpa mgmtdev show" lists
 * "auxiliary/vbus_sim.sf.<N>" with class net. "vdpa dev add" on it makes a
 * simulated virtio-net device: config space (mac, status, mtu), feature
 * negotiation and virtqueue state kept in memory, set_map so that
 * vhost_vdpa needs no IOMMU. There is no datapath: kicks are ignored and no
 * buffer is ever used. One device per SF, as mlx5_vdpa allows.
 *
 * Lifetime: the vDPA devices are children of the SF device. Unbinding
 * vbus_sim.vnet.<N> (SF deactivated, port deleted, either module removed)
 * unregisters the management device, which deletes its devices first.
 *
 * 6.1's dev_add has no extack: what the vdpa core does not refuse itself
 * (attributes outside config_attr_mask) is refused with an errno and a
 * kernel log line naming the device and the cause.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/auxiliary_bus.h>
#include <linux/dma-mapping.h>
#include <linux/etherdevice.h>
#include <linux/if_vlan.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/vdpa.h>
#include <linux/virtio_byteorder.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <uapi/linux/vdpa.h>

#include "vbus_sim_vnet.h"

/* One receive and one transmit queue; no control queue (nothing would answer it). */
#define VBUS_SIM_VDPA_NVQS	2
#define VBUS_SIM_VDPA_VQ_NUM	256
#define VBUS_SIM_VDPA_MTU_MIN	ETH_MIN_MTU
#define VBUS_SIM_VDPA_MTU_MAX	9000
#define VBUS_SIM_VDPA_FEATURES	(BIT_ULL(VIRTIO_F_VERSION_1) | \
				 BIT_ULL(VIRTIO_F_ACCESS_PLATFORM) | \
				 BIT_ULL(VIRTIO_NET_F_MAC) | \
				 BIT_ULL(VIRTIO_NET_F_MTU) | \
				 BIT_ULL(VIRTIO_NET_F_STATUS))

struct vbus_sim_vdpa_vq {
	u64 desc_addr;
	u64 driver_addr;
	u64 device_addr;
	u32 num;
	u16 avail_index;
	bool ready;
	struct vdpa_callback cb;
};

struct vbus_sim_vdpa_mgmt;

struct vbus_sim_vdpa {
	struct vdpa_device vdpa;
	struct vbus_sim_vdpa_mgmt *mgmt;
	/* protects everything below */
	spinlock_t lock;
	struct virtio_net_config config;
	u64 driver_features;
	u8 status;
	u32 generation;
	struct vdpa_callback config_cb;
	struct vbus_sim_vdpa_vq vqs[VBUS_SIM_VDPA_NVQS];
};

struct vbus_sim_vdpa_mgmt {
	struct vdpa_mgmt_dev mgmt;
	struct vbus_sim_vnet *vnet;
	/* the device made on this management device; serialized by the vdpa core's lock */
	struct vbus_sim_vdpa *dev;
};

static struct vbus_sim_vdpa *to_sim_vdpa(struct vdpa_device *vdpa)
{
	return container_of(vdpa, struct vbus_sim_vdpa, vdpa);
}

/* Called with the lock held. */
static void vbus_sim_vdpa_reset_locked(struct vbus_sim_vdpa *v)
{
	memset(v->vqs, 0, sizeof(v->vqs));
	memset(&v->config_cb, 0, sizeof(v->config_cb));
	v->driver_features = 0;
	v->status = 0;
	v->generation++;
}

static int vbus_sim_vdpa_set_vq_address(struct vdpa_device *vdpa, u16 idx, u64 desc_area,
					u64 driver_area, u64 device_area)
{
	struct vbus_sim_vdpa *v = to_sim_vdpa(vdpa);

	if (idx >= VBUS_SIM_VDPA_NVQS)
		return -EINVAL;
	spin_lock(&v->lock);
	v->vqs[idx].desc_addr = desc_area;
	v->vqs[idx].driver_addr = driver_area;
	v->vqs[idx].device_addr = device_area;
	spin_unlock(&v->lock);
	return 0;
}

static void vbus_sim_vdpa_set_vq_num(struct vdpa_device *vdpa, u16 idx, u32 num)
{
	struct vbus_sim_vdpa *v = to_sim_vdpa(vdpa);

	if (idx >= VBUS_SIM_VDPA_NVQS)
		return;
	spin_lock(&v->lock);
	v->vqs[idx].num = num;
	spin_unlock(&v->lock);
}

/* No datapath: a kick is noted by nobody. */
static void vbus_sim_vdpa_kick_vq(struct vdpa_device *vdpa, u16 idx)
{
}

static void vbus_sim_vdpa_set_vq_cb(struct vdpa_device *vdpa, u16 idx, struct vdpa_callback *cb)
{
	struct vbus_sim_vdpa *v = to_sim_vdpa(vdpa);

	if (idx >= VBUS_SIM_VDPA_NVQS)
		return;
	spin_lock(&v->lock);
	v->vqs[idx].cb = *cb;
	spin_unlock(&v->lock);
}

static void vbus_sim_vdpa_set_vq_ready(struct vdpa_device *vdpa, u16 idx, bool ready)
{
	struct vbus_sim_vdpa *v = to_sim_vdpa(vdpa);

	if (idx >= VBUS_SIM_VDPA_NVQS)
		return;
	spin_lock(&v->lock);
	v->vqs[idx].ready = ready;
	spin_unlock(&v->lock);
}

static bool vbus_sim_vdpa_get_vq_ready(struct vdpa_device *vdpa, u16 idx)
{
	struct vbus_sim_vdpa *v = to_sim_vdpa(vdpa);
	bool ready;

	if (idx >= VBUS_SIM_VDPA_NVQS)
		return false;
	spin_lock(&v->lock);
	ready = v->vqs[idx].ready;
	spin_unlock(&v->lock);
	return ready;
}

static int vbus_sim_vdpa_set_vq_state(struct vdpa_device *vdpa, u16 idx,
				      const struct vdpa_vq_state *state)
{
	struct vbus_sim_vdpa *v = to_sim_vdpa(vdpa);

	if (idx >= VBUS_SIM_VDPA_NVQS)
		return -EINVAL;
	spin_lock(&v->lock);
	v->vqs[idx].avail_index = state->split.avail_index;
	spin_unlock(&v->lock);
	return 0;
}

static int vbus_sim_vdpa_get_vq_state(struct vdpa_device *vdpa, u16 idx,
				      struct vdpa_vq_state *state)
{
	struct vbus_sim_vdpa *v = to_sim_vdpa(vdpa);

	if (idx >= VBUS_SIM_VDPA_NVQS)
		return -EINVAL;
	spin_lock(&v->lock);
	state->split.avail_index = v->vqs[idx].avail_index;
	spin_unlock(&v->lock);
	return 0;
}

static u32 vbus_sim_vdpa_get_vq_align(struct vdpa_device *vdpa)
{
	return PAGE_SIZE;
}

static u32 vbus_sim_vdpa_get_vq_group(struct vdpa_device *vdpa, u16 idx)
{
	return 0;
}

static u64 vbus_sim_vdpa_get_device_features(struct vdpa_device *vdpa)
{
	return VBUS_SIM_VDPA_FEATURES;
}

static int vbus_sim_vdpa_set_driver_features(struct vdpa_device *vdpa, u64 features)
{
	struct vbus_sim_vdpa *v = to_sim_vdpa(vdpa);

	/* Without ACCESS_PLATFORM a driver would hand us physical addresses. */
	if (!(features & BIT_ULL(VIRTIO_F_ACCESS_PLATFORM)))
		return -EINVAL;
	spin_lock(&v->lock);
	v->driver_features = features & VBUS_SIM_VDPA_FEATURES;
	spin_unlock(&v->lock);
	return 0;
}

static u64 vbus_sim_vdpa_get_driver_features(struct vdpa_device *vdpa)
{
	struct vbus_sim_vdpa *v = to_sim_vdpa(vdpa);
	u64 features;

	spin_lock(&v->lock);
	features = v->driver_features;
	spin_unlock(&v->lock);
	return features;
}

static void vbus_sim_vdpa_set_config_cb(struct vdpa_device *vdpa, struct vdpa_callback *cb)
{
	struct vbus_sim_vdpa *v = to_sim_vdpa(vdpa);

	spin_lock(&v->lock);
	v->config_cb = *cb;
	spin_unlock(&v->lock);
}

static u16 vbus_sim_vdpa_get_vq_num_max(struct vdpa_device *vdpa)
{
	return VBUS_SIM_VDPA_VQ_NUM;
}

static u32 vbus_sim_vdpa_get_device_id(struct vdpa_device *vdpa)
{
	return VIRTIO_ID_NET;
}

static u32 vbus_sim_vdpa_get_vendor_id(struct vdpa_device *vdpa)
{
	return 0;
}

static u8 vbus_sim_vdpa_get_status(struct vdpa_device *vdpa)
{
	struct vbus_sim_vdpa *v = to_sim_vdpa(vdpa);
	u8 status;

	spin_lock(&v->lock);
	status = v->status;
	spin_unlock(&v->lock);
	return status;
}

static void vbus_sim_vdpa_set_status(struct vdpa_device *vdpa, u8 status)
{
	struct vbus_sim_vdpa *v = to_sim_vdpa(vdpa);

	spin_lock(&v->lock);
	if (status)
		v->status = status;
	else
		vbus_sim_vdpa_reset_locked(v);
	spin_unlock(&v->lock);
}

static int vbus_sim_vdpa_reset(struct vdpa_device *vdpa)
{
	struct vbus_sim_vdpa *v = to_sim_vdpa(vdpa);

	spin_lock(&v->lock);
	vbus_sim_vdpa_reset_locked(v);
	spin_unlock(&v->lock);
	return 0;
}

static size_t vbus_sim_vdpa_get_config_size(struct vdpa_device *vdpa)
{
	return sizeof(struct virtio_net_config);
}

static void vbus_sim_vdpa_get_config(struct vdpa_device *vdpa, unsigned int offset, void *buf,
				     unsigned int len)
{
	struct vbus_sim_vdpa *v = to_sim_vdpa(vdpa);

	if (offset > sizeof(v->config) || len > sizeof(v->config) - offset)
		return;
	spin_lock(&v->lock);
	memcpy(buf, (u8 *)&v->config + offset, len);
	spin_unlock(&v->lock);
}

/* The driver may write the MAC address (virtio 1.x allows it without CTRL_MAC_ADDR). */
static void vbus_sim_vdpa_set_config(struct vdpa_device *vdpa, unsigned int offset,
				     const void *buf, unsigned int len)
{
	struct vbus_sim_vdpa *v = to_sim_vdpa(vdpa);

	if (offset > ETH_ALEN || len > ETH_ALEN - offset)
		return;
	spin_lock(&v->lock);
	memcpy(v->config.mac + offset, buf, len);
	spin_unlock(&v->lock);
}

static u32 vbus_sim_vdpa_get_generation(struct vdpa_device *vdpa)
{
	struct vbus_sim_vdpa *v = to_sim_vdpa(vdpa);
	u32 gen;

	spin_lock(&v->lock);
	gen = v->generation;
	spin_unlock(&v->lock);
	return gen;
}

/* The device translates nothing: any mapping of address space 0 is accepted and not used. */
static int vbus_sim_vdpa_set_map(struct vdpa_device *vdpa, unsigned int asid,
				 struct vhost_iotlb *iotlb)
{
	return asid ? -EINVAL : 0;
}

static const struct vdpa_config_ops vbus_sim_vdpa_ops = {
	.set_vq_address = vbus_sim_vdpa_set_vq_address,
	.set_vq_num = vbus_sim_vdpa_set_vq_num,
	.kick_vq = vbus_sim_vdpa_kick_vq,
	.set_vq_cb = vbus_sim_vdpa_set_vq_cb,
	.set_vq_ready = vbus_sim_vdpa_set_vq_ready,
	.get_vq_ready = vbus_sim_vdpa_get_vq_ready,
	.set_vq_state = vbus_sim_vdpa_set_vq_state,
	.get_vq_state = vbus_sim_vdpa_get_vq_state,
	.get_vq_align = vbus_sim_vdpa_get_vq_align,
	.get_vq_group = vbus_sim_vdpa_get_vq_group,
	.get_device_features = vbus_sim_vdpa_get_device_features,
	.set_driver_features = vbus_sim_vdpa_set_driver_features,
	.get_driver_features = vbus_sim_vdpa_get_driver_features,
	.set_config_cb = vbus_sim_vdpa_set_config_cb,
	.get_vq_num_max = vbus_sim_vdpa_get_vq_num_max,
	.get_device_id = vbus_sim_vdpa_get_device_id,
	.get_vendor_id = vbus_sim_vdpa_get_vendor_id,
	.get_status = vbus_sim_vdpa_get_status,
	.set_status = vbus_sim_vdpa_set_status,
	.reset = vbus_sim_vdpa_reset,
	.get_config_size = vbus_sim_vdpa_get_config_size,
	.get_config = vbus_sim_vdpa_get_config,
	.set_config = vbus_sim_vdpa_set_config,
	.get_generation = vbus_sim_vdpa_get_generation,
	.set_map = vbus_sim_vdpa_set_map,
};

/* ---- the management device ------------------------------------------------------------------ */

static int vbus_sim_vdpa_dev_add(struct vdpa_mgmt_dev *mdev, const char *name,
				 const struct vdpa_dev_set_config *config)
{
	struct vbus_sim_vdpa_mgmt *m = container_of(mdev, struct vbus_sim_vdpa_mgmt, mgmt);
	struct device *sf_dev = mdev->device;
	struct vbus_sim_vdpa *v;
	u16 mtu = ETH_DATA_LEN;
	u8 mac[ETH_ALEN];
	int err;

	if (config->mask & BIT_ULL(VDPA_ATTR_DEV_NET_CFG_MAX_VQP) &&
	    config->net.max_vq_pairs != 1) {
		dev_err(sf_dev, "vdpa device %s: max_vqp %u is not supported, only 1\n",
			name, config->net.max_vq_pairs);
		return -EOPNOTSUPP;
	}
	if (config->mask & BIT_ULL(VDPA_ATTR_DEV_NET_CFG_MTU)) {
		mtu = config->net.mtu;
		if (mtu < VBUS_SIM_VDPA_MTU_MIN || mtu > VBUS_SIM_VDPA_MTU_MAX) {
			dev_err(sf_dev, "vdpa device %s: mtu %u is out of range %u-%u\n",
				name, mtu, VBUS_SIM_VDPA_MTU_MIN, VBUS_SIM_VDPA_MTU_MAX);
			return -ERANGE;
		}
	}
	if (config->mask & BIT_ULL(VDPA_ATTR_DEV_NET_CFG_MACADDR)) {
		if (!is_valid_ether_addr(config->net.mac)) {
			dev_err(sf_dev, "vdpa device %s: mac %pM is not a unicast address\n",
				name, config->net.mac);
			return -EINVAL;
		}
		ether_addr_copy(mac, config->net.mac);
	} else if (is_valid_ether_addr(m->vnet->hw_addr)) {
		/* the address "devlink port function set hw_addr" gave the SF */
		ether_addr_copy(mac, m->vnet->hw_addr);
	} else {
		eth_random_addr(mac);
	}

	if (m->dev) {
		dev_err(sf_dev, "vdpa device %s: %s already has device %s, and one is all it offers\n",
			name, dev_name(sf_dev), dev_name(&m->dev->vdpa.dev));
		return -ENOSPC;
	}

	v = vdpa_alloc_device(struct vbus_sim_vdpa, vdpa, sf_dev, &vbus_sim_vdpa_ops, 1, 1,
			      name, false);
	if (IS_ERR(v))
		return PTR_ERR(v);
	v->mgmt = m;
	spin_lock_init(&v->lock);
	ether_addr_copy(v->config.mac, mac);
	v->config.status = __cpu_to_virtio16(true, VIRTIO_NET_S_LINK_UP);
	v->config.max_virtqueue_pairs = __cpu_to_virtio16(true, 1);
	v->config.mtu = __cpu_to_virtio16(true, mtu);

	/* virtio_vdpa allocates its rings through the DMA API on this device */
	v->vdpa.dev.dma_mask = &v->vdpa.dev.coherent_dma_mask;
	err = dma_set_mask_and_coherent(&v->vdpa.dev, DMA_BIT_MASK(64));
	if (err)
		goto err_put;
	v->vdpa.dma_dev = &v->vdpa.dev;
	v->vdpa.mdev = mdev;

	err = _vdpa_register_device(&v->vdpa, VBUS_SIM_VDPA_NVQS);
	if (err)
		goto err_put;
	m->dev = v;
	return 0;

err_put:
	put_device(&v->vdpa.dev);
	return err;
}

static void vbus_sim_vdpa_dev_del(struct vdpa_mgmt_dev *mdev, struct vdpa_device *vdpa)
{
	struct vbus_sim_vdpa_mgmt *m = container_of(mdev, struct vbus_sim_vdpa_mgmt, mgmt);

	if (m->dev == to_sim_vdpa(vdpa))
		m->dev = NULL;
	_vdpa_unregister_device(vdpa);
}

static const struct vdpa_mgmtdev_ops vbus_sim_vdpa_mgmt_ops = {
	.dev_add = vbus_sim_vdpa_dev_add,
	.dev_del = vbus_sim_vdpa_dev_del,
};

static struct virtio_device_id vbus_sim_vdpa_id_table[] = {
	{ VIRTIO_ID_NET, VIRTIO_DEV_ANY_ID },
	{ 0 },
};

static int vbus_sim_vdpa_probe(struct auxiliary_device *adev, const struct auxiliary_device_id *id)
{
	struct vbus_sim_vnet *vnet = container_of(adev, struct vbus_sim_vnet, adev);
	struct vbus_sim_vdpa_mgmt *m;
	int err;

	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	m->vnet = vnet;
	/* the SF's device names the management device: "auxiliary/vbus_sim.sf.<N>" */
	m->mgmt.device = adev->dev.parent;
	m->mgmt.ops = &vbus_sim_vdpa_mgmt_ops;
	m->mgmt.id_table = vbus_sim_vdpa_id_table;
	m->mgmt.config_attr_mask = BIT_ULL(VDPA_ATTR_DEV_NET_CFG_MACADDR) |
				   BIT_ULL(VDPA_ATTR_DEV_NET_CFG_MTU) |
				   BIT_ULL(VDPA_ATTR_DEV_NET_CFG_MAX_VQP);
	m->mgmt.supported_features = VBUS_SIM_VDPA_FEATURES;
	m->mgmt.max_supported_vqs = VBUS_SIM_VDPA_NVQS;

	err = vdpa_mgmtdev_register(&m->mgmt);
	if (err) {
		kfree(m);
		return err;
	}
	auxiliary_set_drvdata(adev, m);
	return 0;
}

/* Deletes the device made on it, if any (vdpa_mgmtdev_unregister() calls dev_del). */
static void vbus_sim_vdpa_remove(struct auxiliary_device *adev)
{
	struct vbus_sim_vdpa_mgmt *m = auxiliary_get_drvdata(adev);

	vdpa_mgmtdev_unregister(&m->mgmt);
	kfree(m);
}

static const struct auxiliary_device_id vbus_sim_vdpa_aux_ids[] = {
	{ .name = VBUS_SIM_VNET_NAME },
	{ }
};
MODULE_DEVICE_TABLE(auxiliary, vbus_sim_vdpa_aux_ids);

static struct auxiliary_driver vbus_sim_vdpa_driver = {
	.name = "vnet",
	.probe = vbus_sim_vdpa_probe,
	.remove = vbus_sim_vdpa_remove,
	.id_table = vbus_sim_vdpa_aux_ids,
};
module_auxiliary_driver(vbus_sim_vdpa_driver);

MODULE_DESCRIPTION("vDPA management devices on the subfunctions of vbus_sim");
MODULE_LICENSE("GPL");

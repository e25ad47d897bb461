// SPDX-License-Identifier: LGPL-2.1-or-later
/* How a consumer reaches an active sub-device: PCI address, IOMMU group, device nodes, netdev. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "vbus-private.h"

/*
 * Everything is read from sysfs, never from /dev: vbusd runs with PrivateDevices=yes, and a
 * fake tree has no /dev. A node is listed when the kernel registered it: /sys/class/vfio/G is
 * /dev/vfio/G, /sys/class/misc/vfio is /dev/vfio/vfio, /sys/class/misc/iommu is /dev/iommu, a
 * device's vfio-dev/vfioN is /dev/vfio/devices/vfioN, a vdpa device's vhost-vdpa-N child is
 * /dev/vhost-vdpa-N.
 */

static bool exists_at(int dirfd, const char *path)
{
	struct stat st;

	return fstatat(dirfd, path, &st, 0) >= 0;
}

static _printf_(2, 3) void add_node(struct vbus_access *a, const char *fmt, ...)
{
	va_list ap;

	if (a->n_nodes >= VBUS_ACCESS_MAX_NODES)
		return;
	va_start(ap, fmt);
	vsnprintf(a->nodes[a->n_nodes], sizeof(a->nodes[0]), fmt, ap);
	va_end(ap);
	a->node_ptrs[a->n_nodes] = a->nodes[a->n_nodes];
	a->n_nodes++;
	a->node_ptrs[a->n_nodes] = NULL;
}

/* The first entry of DIR (below DIRFD) whose name starts with PREFIX, into BUF. */
static bool first_entry(int dirfd, const char *dir, const char *prefix, char *buf, size_t size)
{
	int fd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	bool found = false;
	DIR *d;

	if (fd < 0)
		return false;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return false;
	}
	while (!found && (de = readdir(d)))
		if (de->d_name[0] != '.' && strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
		    strlen(de->d_name) < size) {
			strcpy(buf, de->d_name);
			found = true;
		}
	closedir(d);
	return found;
}

/* The netdev of the device at DIRFD: its net/ child, or (SF, vDPA on virtio_vdpa) the net/ of
 * one of its child devices (mlx5_core.eth.N, virtioN). */
static void find_netdev(int dirfd, bool children, struct vbus_access *a)
{
	char sub[300];
	struct dirent *de;
	DIR *d;
	int fd;

	if (first_entry(dirfd, "net", "", a->netdev, sizeof(a->netdev)) || !children)
		return;
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/net", de->d_name);
		if (first_entry(dirfd, sub, "", a->netdev, sizeof(a->netdev)))
			break;
	}
	closedir(d);
}

static bool is_pci_address(const char *s)
{
	unsigned dom, bus, dev, fn;
	char end;

	return strlen(s) == 12 && sscanf(s, "%4x:%2x:%2x.%1x%c", &dom, &bus, &dev, &fn, &end) == 4;
}

void vbus_access_read(struct vbus_ctx *ctx, enum vbus_kind kind, const char *sysfs_path,
		      const char *driver, struct vbus_access *a)
{
	_cleanup_free_ char *dir = NULL, *sys = NULL;
	_cleanup_close_ int fd = -1, sysfd = -1;
	const char *base;
	char link[PATH_MAX], name[64];
	ssize_t n;
	bool vfio;

	*a = (struct vbus_access){ .iommu_group = -1 };
	if (!sysfs_path)
		return;
	base = strrchr(sysfs_path, '/');
	base = base ? base + 1 : sysfs_path;
	if ((kind == VBUS_KIND_PCI || kind == VBUS_KIND_VF || kind == VBUS_KIND_VGPU) &&
	    is_pci_address(base))
		snprintf(a->pci_address, sizeof(a->pci_address), "%s", base);
	dir = vbus_path(ctx, sysfs_path);
	sys = vbus_path(ctx, "/sys");
	if (!dir || !sys)
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = readlinkat(fd, "iommu_group", link, sizeof(link) - 1);
	if (n > 0) {
		char *slash, *end;
		long g;

		link[n] = '\0';
		slash = strrchr(link, '/');
		g = strtol(slash ? slash + 1 : link, &end, 10);
		if (*end == '\0' && g >= 0 && g < INT32_MAX)
			a->iommu_group = (int)g;
	}
	if (!driver)
		return;
	sysfd = open(sys, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sysfd < 0)
		return;

	/* Every mdev driver is a vfio driver (vfio_mdev, the parents' own: mtty, kvmgt, vfio_ap);
	 * for PCI, vfio-pci and its variants (mlx5_vfio_pci, ...) carry "vfio" in their name. */
	vfio = kind == VBUS_KIND_MDEV || strstr(driver, "vfio");
	if (vfio && a->iommu_group >= 0) {
		char g[32];

		snprintf(g, sizeof(g), "%d", a->iommu_group);
		snprintf(link, sizeof(link), "class/vfio/%s", g);
		if (exists_at(sysfd, link))
			add_node(a, "/dev/vfio/%s", g);
		else {
			snprintf(link, sizeof(link), "class/vfio/noiommu-%s", g);
			if (exists_at(sysfd, link))
				add_node(a, "/dev/vfio/noiommu-%s", g);
		}
		if (a->n_nodes && exists_at(sysfd, "class/misc/vfio"))
			add_node(a, "%s", "/dev/vfio/vfio");
	}
	/* iommufd: the device's own cdev, opened together with /dev/iommu. Before 6.6
	 * vfio-dev/vfioN exists without a device number (no "dev"): no node then. */
	if (vfio && first_entry(fd, "vfio-dev", "vfio", name, sizeof(name)) &&
	    snprintf(link, sizeof(link), "vfio-dev/%s/dev", name) > 0 && exists_at(fd, link)) {
		add_node(a, "/dev/vfio/devices/%s", name);
		if (exists_at(sysfd, "class/misc/iommu"))
			add_node(a, "%s", "/dev/iommu");
	}
	a->vfio = a->n_nodes > 0;
	if (vfio)
		return;
	if (kind == VBUS_KIND_VDPA && streq(driver, "vhost_vdpa")) {
		if (first_entry(fd, ".", "vhost-vdpa-", name, sizeof(name)))
			add_node(a, "/dev/%s", name);
		a->vhost_vdpa = a->n_nodes > 0;
		return;
	}
	if (kind == VBUS_KIND_VF || kind == VBUS_KIND_PCI || kind == VBUS_KIND_SF ||
	    kind == VBUS_KIND_VDPA)
		find_netdev(fd, kind == VBUS_KIND_SF || kind == VBUS_KIND_VDPA, a);
}

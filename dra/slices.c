// SPDX-License-Identifier: LGPL-2.1-or-later
/* The devices vbus manages as resource.k8s.io/v1 ResourceSlice devices, and the slices. */
#include <limits.h>
#include <stdio.h>

#include "dra.h"

static int attr_add(struct json_object *attrs, const char *key, const char *type,
		    struct json_object *value)
{
	struct json_object *a;

	if (!value)
		return -ENOMEM;
	if (json_object_object_length(attrs) >= DRA_DEVICE_MAX_ATTRIBUTES) {
		json_object_put(value);
		return -E2BIG;
	}
	a = json_object_new_object();
	if (!a || json_object_object_add(a, type, value) < 0 ||
	    json_object_object_add(attrs, key, a) < 0) {
		json_object_put(a);
		return -ENOMEM;
	}
	return 0;
}

int dra_attr_add_string(struct json_object *attrs, const char *key, const char *value)
{
	if (strlen(value) > DRA_ATTRIBUTE_STRING_MAX)
		return -EINVAL;
	return attr_add(attrs, key, "string", json_object_new_string(value));
}

int dra_attr_add_int(struct json_object *attrs, const char *key, int64_t value)
{
	return attr_add(attrs, key, "int", json_object_new_int64(value));
}

bool dra_entry_is_managed(struct json_object *entry)
{
	return dra_json_bool(entry, "defined") ||
	       (dra_json_bool(entry, "active") && json_object_object_get_ex(entry, "version", NULL));
}

static bool is_pci_address(const char *s)
{
	unsigned d, b, dev, fn;
	char end;

	return s && sscanf(s, "%4x:%2x:%2x.%1x%c", &d, &b, &dev, &fn, &end) == 4 &&
	       strlen(s) == 12;
}

/* The NUMA node and PCIe root of PCI function ADDR as sysfs below ROOT shows them. */
static void pci_topology(const char *root, const char *addr, int *ret_numa, char **ret_root)
{
	_cleanup_free_ char *link = NULL, *real = NULL, *numa = NULL;
	char buf[32];
	FILE *f;

	*ret_numa = -1;
	*ret_root = NULL;
	if (asprintf(&link, "%s/sys/bus/pci/devices/%s", streq(root, "/") ? "" : root, addr) < 0)
		return;
	real = realpath(link, NULL);
	if (!real)
		return;
	/* .../devices/pci0000:00/0000:00:1c.0/0000:03:00.0: the host bridge names the root. */
	const char *p = strstr(real, "/devices/pci");
	if (p) {
		p += strlen("/devices/");
		size_t n = strcspn(p, "/");

		if (n < sizeof(buf) && p[n] == '/') {
			*ret_root = strndup(p, n);
		}
	}
	if (asprintf(&numa, "%s/numa_node", real) < 0)
		return;
	f = fopen(numa, "re");
	if (f) {
		int v;

		if (fgets(buf, sizeof(buf), f) && sscanf(buf, "%d", &v) == 1 && v >= 0)
			*ret_numa = v;
		fclose(f);
	}
}

/* A string attribute when VALUE is set; an over-long value, or one past the limit of the
 * attributes, is left out (the API refuses it). */
static int attr_opt(struct json_object *attrs, const char *key, const char *value)
{
	int r;

	if (!value || !*value)
		return 0;
	r = dra_attr_add_string(attrs, key, value);
	return r == -EINVAL || r == -E2BIG ? 0 : r;
}

int dra_device_from_entry(struct json_object *entry, const char *root, struct json_object **ret)
{
	_cleanup_json_ struct json_object *dev = json_object_new_object();
	struct json_object *attrs = json_object_new_object();
	const char *name = dra_json_str(entry, "name"), *kind = dra_json_str(entry, "kind");
	const char *parent = dra_json_str(entry, "parent"), *pci = dra_json_str(entry, "pci_address");
	_cleanup_free_ char *label = NULL, *pcie_root = NULL;
	int numa = -1, r;

	if (!dev || !attrs || json_object_object_add(dev, "attributes", attrs) < 0) {
		json_object_put(attrs);
		return -ENOMEM;
	}
	if (!name || !kind)
		return -EINVAL;
	r = dra_device_label(name, &label);
	if (r < 0)
		return r;
	if (json_object_object_add(dev, "name", json_object_new_string(label)) < 0)
		return -ENOMEM;
	/* The PCI function that places the device: its own, else its parent's (mdev, sf...). */
	const char *anchor = pci ?: is_pci_address(parent) ? parent : NULL;
	if (anchor && root)
		pci_topology(root, anchor, &numa, &pcie_root);

	/* In order of use: the limit (32) is far, but what is cut is the least needed. */
	if ((r = attr_opt(attrs, "kind", kind)) < 0 || (r = attr_opt(attrs, "name", name)) < 0 ||
	    (r = attr_opt(attrs, "parent", parent)) < 0 ||
	    (r = attr_opt(attrs, "type", dra_json_str(entry, "type"))) < 0 ||
	    (r = attr_opt(attrs, "driver", dra_json_str(entry, "wanted_driver"))) < 0 ||
	    (r = attr_opt(attrs, "boundDriver", dra_json_str(entry, "bound_driver"))) < 0 ||
	    (r = attr_opt(attrs, "resource.kubernetes.io/pciBusID", pci)) < 0 ||
	    (r = attr_opt(attrs, "resource.kubernetes.io/pcieRoot", pcie_root)) < 0)
		return r;
	if (streq(kind, "mdev") && (r = attr_opt(attrs, "mdevUUID", dra_json_str(entry, "uuid"))) < 0)
		return r;
	if (numa >= 0 && (r = dra_attr_add_int(attrs, "numaNode", numa)) < 0 && r != -E2BIG)
		return r;
	*ret = TAKE_PTR(dev);
	return 0;
}

int dra_devices_build(struct json_object *listing, const char *root, struct json_object **ret,
		      struct json_object **ret_names)
{
	_cleanup_json_ struct json_object *devs = json_object_new_array(),
					  *names = json_object_new_object();
	size_t n = json_object_is_type(listing, json_type_array) ? json_object_array_length(listing) : 0;

	if (!devs || !names)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(listing, i), *d = NULL;
		const char *label;
		int r;

		if (!dra_entry_is_managed(e))
			continue;
		r = dra_device_from_entry(e, root, &d);
		if (r == -EINVAL)
			continue;
		if (r < 0)
			return r;
		label = json_object_get_string(json_object_object_get(d, "name"));
		/* Two names on one label (only a sha256 prefix collision): the first keeps it. */
		if (json_object_object_get_ex(names, label, NULL)) {
			json_object_put(d);
			continue;
		}
		if (json_object_object_add(names, label,
					   json_object_new_string(dra_json_str(e, "name"))) < 0 ||
		    json_object_array_add(devs, d) < 0) {
			json_object_put(d);
			return -ENOMEM;
		}
	}
	*ret = TAKE_PTR(devs);
	if (ret_names)
		*ret_names = TAKE_PTR(names);
	return 0;
}

int dra_slices_build(const char *node, const char *driver, int64_t generation,
		     struct json_object *devices, struct json_object *owner,
		     struct json_object **ret)
{
	_cleanup_json_ struct json_object *slices = json_object_new_array();
	size_t n = json_object_array_length(devices);
	size_t count = n ? (n + DRA_SLICE_MAX_DEVICES - 1) / DRA_SLICE_MAX_DEVICES : 1;

	if (!slices)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++) {
		_cleanup_json_ struct json_object *s = NULL;
		_cleanup_free_ char *name = NULL;
		struct json_object *meta, *spec, *pool, *devs;
		int r;

		r = dra_slice_name(node, driver, (unsigned)i, &name);
		if (r < 0)
			return r;
		s = json_object_new_object();
		meta = json_object_new_object();
		spec = json_object_new_object();
		pool = json_object_new_object();
		devs = json_object_new_array();
		if (!s || !meta || !spec || !pool || !devs) {
			json_object_put(meta);
			json_object_put(spec);
			json_object_put(pool);
			json_object_put(devs);
			return -ENOMEM;
		}
		json_object_object_add(s, "apiVersion", json_object_new_string("resource.k8s.io/v1"));
		json_object_object_add(s, "kind", json_object_new_string("ResourceSlice"));
		json_object_object_add(s, "metadata", meta);
		json_object_object_add(s, "spec", spec);
		json_object_object_add(meta, "name", json_object_new_string(name));
		if (owner) {
			struct json_object *refs = json_object_new_array();

			json_object_array_add(refs, json_object_get(owner));
			json_object_object_add(meta, "ownerReferences", refs);
		}
		json_object_object_add(spec, "driver", json_object_new_string(driver));
		json_object_object_add(spec, "nodeName", json_object_new_string(node));
		json_object_object_add(spec, "pool", pool);
		json_object_object_add(pool, "name", json_object_new_string(node));
		json_object_object_add(pool, "generation", json_object_new_int64(generation));
		json_object_object_add(pool, "resourceSliceCount",
				       json_object_new_int64((int64_t)count));
		json_object_object_add(spec, "devices", devs);
		for (size_t j = i * DRA_SLICE_MAX_DEVICES; j < n && j < (i + 1) * DRA_SLICE_MAX_DEVICES;
		     j++)
			if (json_object_array_add(devs, json_object_get(json_object_array_get_idx(
								devices, j))) < 0)
				return -ENOMEM;
		if (json_object_array_add(slices, s) < 0)
			return -ENOMEM;
		TAKE_PTR(s);
	}
	*ret = TAKE_PTR(slices);
	return 0;
}

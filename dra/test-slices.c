// SPDX-License-Identifier: LGPL-2.1-or-later
/* vbus-dra's slices: which devices, their attributes and limits, splitting at 128 per slice. */
#include <stdio.h>

#include "dra.h"
#include "test.h"

static struct json_object *entry(const char *json)
{
	struct json_object *o = json_tokener_parse(json);

	check(o != NULL);
	return o;
}

static const char *attr(struct json_object *dev, const char *key, const char *type)
{
	struct json_object *a = json_object_object_get(json_object_object_get(dev, "attributes"), key);

	return a ? json_object_get_string(json_object_object_get(a, type)) : NULL;
}

TEST(managed)
{
	_cleanup_json_ struct json_object *def = entry("{\"version\":1,\"name\":\"a\",\"defined\":true,\"active\":false}"),
					  *run = entry("{\"version\":1,\"name\":\"b\",\"defined\":false,\"active\":true}"),
					  *foreign = entry("{\"name\":\"0000:03:00.0-vf0\",\"defined\":false,\"active\":true}");

	check(dra_entry_is_managed(def));
	check(dra_entry_is_managed(run));
	check(!dra_entry_is_managed(foreign));
}

TEST(attributes_vf)
{
	_cleanup_json_ struct json_object *e = entry(
		"{\"version\":1,\"name\":\"nic-vf1\",\"kind\":\"vf\",\"parent\":\"0000:03:00.0\","
		"\"driver\":\"vfio\",\"active\":true,\"defined\":true,\"bound_driver\":\"vfio-pci\","
		"\"wanted_driver\":\"vfio-pci\",\"pci_address\":\"0000:03:01.1\"}");
	_cleanup_json_ struct json_object *d = NULL;

	/* host-mixed: 0000:03:01.1 below pci0000:00, numa_node -1 (unknown: no attribute) */
	check_int(dra_device_from_entry(e, TEST_DATA_DIR "/host-mixed", &d), 0);
	check_str(dra_json_str(d, "name"), "nic-vf1");
	check_str(attr(d, "kind", "string"), "vf");
	check_str(attr(d, "name", "string"), "nic-vf1");
	check_str(attr(d, "parent", "string"), "0000:03:00.0");
	check_str(attr(d, "driver", "string"), "vfio-pci");
	check_str(attr(d, "boundDriver", "string"), "vfio-pci");
	check_str(attr(d, "resource.kubernetes.io/pciBusID", "string"), "0000:03:01.1");
	check_str(attr(d, "resource.kubernetes.io/pcieRoot", "string"), "pci0000:00");
	check(attr(d, "type", "string") == NULL);
	check(attr(d, "mdevUUID", "string") == NULL);
	check(attr(d, "numaNode", "int") == NULL);
}

TEST(attributes_mdev_numa)
{
	_cleanup_json_ struct json_object *e = entry(
		"{\"version\":1,\"name\":\"GPU_1\",\"kind\":\"mdev\",\"parent\":\"0000:00:02.0\","
		"\"type\":\"i915-GVTg_V5_4\",\"uuid\":\"4b6f1c2e-8a3d-4f5e-9c71-2d0e6a5b3f10\","
		"\"active\":false,\"defined\":true,\"wanted_driver\":\"intel_vgpu_mdev\"}");
	_cleanup_json_ struct json_object *d = NULL;
	char root[] = "/tmp/test-dra-slices.XXXXXX";

	check(mkdtemp(root) != NULL);
	/* a tree whose GPU sits on NUMA node 1 below host bridge pci0000:40 */
	test_sh("mkdir -p %s/sys/devices/pci0000:40/0000:40:02.0 %s/sys/bus/pci/devices && "
		"echo 1 > %s/sys/devices/pci0000:40/0000:40:02.0/numa_node && "
		"ln -s ../../../devices/pci0000:40/0000:40:02.0 %s/sys/bus/pci/devices/0000:00:02.0",
		root, root, root, root);
	check_int(dra_device_from_entry(e, root, &d), 0);
	check(strncmp(dra_json_str(d, "name"), "gpu-1-", 6) == 0);
	check_str(attr(d, "name", "string"), "GPU_1");
	check_str(attr(d, "type", "string"), "i915-GVTg_V5_4");
	check_str(attr(d, "mdevUUID", "string"), "4b6f1c2e-8a3d-4f5e-9c71-2d0e6a5b3f10");
	check(attr(d, "resource.kubernetes.io/pciBusID", "string") == NULL);
	check_str(attr(d, "resource.kubernetes.io/pcieRoot", "string"), "pci0000:40");
	check_int(json_object_get_int(json_object_object_get(
			  json_object_object_get(json_object_object_get(d, "attributes"), "numaNode"),
			  "int")),
		  1);
	check(attr(d, "boundDriver", "string") == NULL);
	test_sh("rm -rf %s", root);
}

TEST(attribute_limits)
{
	_cleanup_json_ struct json_object *attrs = json_object_new_object();
	char key[16], longv[DRA_ATTRIBUTE_STRING_MAX + 2];

	for (int i = 0; i < DRA_DEVICE_MAX_ATTRIBUTES; i++) {
		snprintf(key, sizeof(key), "a%d", i);
		check_int(dra_attr_add_int(attrs, key, i), 0);
	}
	check_int(dra_attr_add_string(attrs, "one-more", "x"), -E2BIG);
	check_int(dra_attr_add_int(attrs, "one-more", 1), -E2BIG);
	check_int(json_object_object_length(attrs), DRA_DEVICE_MAX_ATTRIBUTES);

	_cleanup_json_ struct json_object *a2 = json_object_new_object();
	memset(longv, 'v', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	check_int(dra_attr_add_string(a2, "long", longv), -EINVAL);
	longv[DRA_ATTRIBUTE_STRING_MAX] = '\0';
	check_int(dra_attr_add_string(a2, "long", longv), 0);
}

TEST(long_name_attribute_left_out)
{
	char name[100], json[400];
	_cleanup_json_ struct json_object *e = NULL, *d = NULL;

	memset(name, 'n', 80);
	name[80] = '\0';
	snprintf(json, sizeof(json),
		 "{\"version\":1,\"name\":\"%s\",\"kind\":\"pci\",\"parent\":\"0000:05:00.0\","
		 "\"defined\":true}",
		 name);
	e = entry(json);
	check_int(dra_device_from_entry(e, NULL, &d), 0);
	/* the label is cut to 63 with its hash; the 80-character name is no attribute (max 64) */
	check_int(strlen(dra_json_str(d, "name")), 63);
	check(attr(d, "name", "string") == NULL);
	check_str(attr(d, "kind", "string"), "pci");
}

static struct json_object *listing(int n)
{
	struct json_object *a = json_object_new_array();
	char json[256];

	for (int i = 0; i < n; i++) {
		snprintf(json, sizeof(json),
			 "{\"version\":1,\"name\":\"m%03d\",\"kind\":\"mdev\",\"parent\":\"mtty\","
			 "\"defined\":true,\"active\":false}",
			 i);
		json_object_array_add(a, json_tokener_parse(json));
	}
	/* and one device nobody defined: never published */
	json_object_array_add(a, json_tokener_parse("{\"name\":\"x\",\"kind\":\"vf\",\"active\":true,"
						    "\"defined\":false}"));
	return a;
}

static void check_split(int n, size_t want_slices)
{
	_cleanup_json_ struct json_object *l = listing(n), *devs = NULL, *names = NULL,
					  *slices = NULL;
	size_t total = 0;

	check_int(dra_devices_build(l, NULL, &devs, &names), 0);
	check_int(json_object_array_length(devs), n);
	check_int(json_object_object_length(names), n);
	check_int(dra_slices_build("node1", "vbus.dev", 7, devs, NULL, &slices), 0);
	check_int(json_object_array_length(slices), want_slices);
	for (size_t i = 0; i < json_object_array_length(slices); i++) {
		struct json_object *s = json_object_array_get_idx(slices, i);
		struct json_object *spec = json_object_object_get(s, "spec");
		struct json_object *pool = json_object_object_get(spec, "pool");
		size_t nd = json_object_array_length(json_object_object_get(spec, "devices"));
		char want[64];

		snprintf(want, sizeof(want), "node1-vbus-dev-%zu", i);
		check_str(dra_json_str(json_object_object_get(s, "metadata"), "name"), want);
		check_str(dra_json_str(s, "apiVersion"), "resource.k8s.io/v1");
		check_str(dra_json_str(s, "kind"), "ResourceSlice");
		check_str(dra_json_str(spec, "driver"), "vbus.dev");
		check_str(dra_json_str(spec, "nodeName"), "node1");
		check_str(dra_json_str(pool, "name"), "node1");
		check_int(json_object_get_int64(json_object_object_get(pool, "generation")), 7);
		check_int(json_object_get_int64(json_object_object_get(pool, "resourceSliceCount")),
			  want_slices);
		check(nd <= DRA_SLICE_MAX_DEVICES);
		total += nd;
	}
	check_int(total, n);
}

TEST(split)
{
	check_split(0, 1);
	check_split(1, 1);
	check_split(128, 1);
	check_split(129, 2);
	check_split(300, 3);
}

TEST_MAIN()

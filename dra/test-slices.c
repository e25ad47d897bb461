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
	struct json_object *a =
	    json_object_object_get(json_object_object_get(dev, "attributes"), key);

	return a ? json_object_get_string(json_object_object_get(a, type)) : NULL;
}

TEST(managed)
{
	_cleanup_json_ struct json_object
	    *def = entry("{\"version\":1,\"name\":\"a\",\"defined\":true,\"active\":false}"),
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
	_cleanup_json_ struct json_object *e =
	    entry("{\"version\":1,\"name\":\"GPU_1\",\"kind\":\"mdev\",\"parent\":\"0000:00:02.0\","
		  "\"type\":\"i915-GVTg_V5_4\",\"uuid\":\"4b6f1c2e-8a3d-4f5e-9c71-2d0e6a5b3f10\","
		  "\"active\":false,\"defined\":true,\"wanted_driver\":\"intel_vgpu_mdev\"}");
	_cleanup_json_ struct json_object *d = NULL;
	char root[] = "/tmp/test-dra-slices.XXXXXX";

	check(mkdtemp(root) != NULL);
	/* a tree whose GPU sits on NUMA node 1 below host bridge pci0000:40 */
	test_sh(
	    "mkdir -p %s/sys/devices/pci0000:40/0000:40:02.0 %s/sys/bus/pci/devices && "
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
	json_object_array_add(a,
			      json_tokener_parse("{\"name\":\"x\",\"kind\":\"vf\",\"active\":true,"
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
	check_int(dra_slices_build("node1", "vbus.dev", 7, devs, NULL, NULL, NULL, &slices), 0);
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

static struct json_object *types_fixture(void)
{
	return json_tokener_parse(
	    "[{\"parent\":\"0000:00:02.0\",\"kind\":\"mdev\",\"type\":\"i915-GVTg_V5_4\","
	    "\"available_instances\":1},"
	    "{\"parent\":\"0000:00:02.0\",\"kind\":\"mdev\",\"type\":\"i915-GVTg_V5_8\","
	    "\"available_instances\":2},"
	    "{\"parent\":\"mtty\",\"kind\":\"mdev\",\"type\":\"mtty-1\",\"available_instances\":24}"
	    ","
	    "{\"parent\":\"mtty\",\"kind\":\"mdev\",\"type\":\"mtty-2\",\"available_instances\":0}"
	    "]");
}

TEST(partitionable_devices_and_counters)
{
	_cleanup_json_ struct json_object *types = types_fixture(), *devs = NULL, *sets = NULL,
					  *map = NULL;
	_cleanup_json_ struct json_object *taken = json_tokener_parse("{\"mtty-mtty-1-0\":\"x\"}");

	check_int(dra_partitionable_build(types, taken, &devs, &sets, &map), 0);
	/* 1 + 2 GVT devices, mtty-1 capped at DRA_POTENTIAL_MAX, mtty-2 has none left */
	check_int(json_object_array_length(devs), 3 + DRA_POTENTIAL_MAX);
	check_int(json_object_object_length(map), 3 + DRA_POTENTIAL_MAX);
	/* a name vbus uses already is skipped: mtty-1 starts at 1 */
	check(!json_object_object_get_ex(map, "mtty-mtty-1-0", NULL));
	check(json_object_object_get_ex(map, "mtty-mtty-1-1", NULL));
	check(json_object_object_get_ex(map, "mtty-mtty-1-16", NULL));
	check(!json_object_object_get_ex(map, "mtty-mtty-1-17", NULL));
	check_str(dra_json_str(json_object_object_get(map, "mtty-mtty-1-1"), "type"), "mtty-1");
	check_str(dra_json_str(json_object_object_get(map, "mtty-mtty-1-1"), "parent"), "mtty");

	/* one counter set per parent, a counter per type with its available instances */
	check_int(json_object_array_length(sets), 2);
	struct json_object *mtty = json_object_array_get_idx(sets, 1);
	check_str(dra_json_str(mtty, "name"), "counters-mtty");
	check_str(
	    dra_json_str(json_object_object_get(json_object_object_get(mtty, "counters"), "mtty-1"),
			 "value"),
	    "24");
	check(!json_object_object_get_ex(json_object_object_get(mtty, "counters"), "mtty-2", NULL));

	/* every device consumes 1 of its type's counter in its parent's set; names are labels */
	for (size_t i = 0; i < json_object_array_length(devs); i++) {
		struct json_object *d = json_object_array_get_idx(devs, i);
		struct json_object *c =
		    json_object_array_get_idx(json_object_object_get(d, "consumesCounters"), 0);
		const char *set = dra_json_str(c, "counterSet");
		bool found = false;

		check(strlen(dra_json_str(d, "name")) <= 63);
		for (size_t j = 0; j < json_object_array_length(sets); j++)
			if (streq(dra_json_str(json_object_array_get_idx(sets, j), "name"), set)) {
				struct json_object *cs = json_object_object_get(
				    json_object_array_get_idx(sets, j), "counters");
				json_object_object_foreach (json_object_object_get(c, "counters"),
							    k, v) {
					found = json_object_object_get_ex(cs, k, NULL) &&
						streq(dra_json_str(v, "value"), "1");
				}
			}
		check(found);
		check(json_object_get_boolean(json_object_object_get(
		    json_object_object_get(json_object_object_get(d, "attributes"),
					   "createOnDemand"),
		    "bool")));
	}
}

TEST(partitionable_slices)
{
	_cleanup_json_ struct json_object *l = listing(130), *devs = NULL,
					  *pot = json_object_new_array(),
					  *sets = json_object_new_array(), *slices = NULL;
	size_t nd = 0, np = 0, nc = 0;

	check_int(dra_devices_build(l, NULL, &devs, NULL), 0);
	for (int i = 0; i < 70; i++) {
		char json[200];

		snprintf(json, sizeof(json),
			 "{\"name\":\"p%d\",\"consumesCounters\":[{\"counterSet\":\"s\","
			 "\"counters\":{\"c\":{\"value\":\"1\"}}}]}",
			 i);
		json_object_array_add(pot, json_tokener_parse(json));
	}
	for (int i = 0; i < 9; i++)
		json_object_array_add(sets, json_tokener_parse("{\"name\":\"s\",\"counters\":{}}"));
	check_int(dra_slices_build("n", "vbus.dev", 3, devs, pot, sets, NULL, &slices), 0);
	/* 130 devices: 2 slices; 70 counting devices: 64 + 6; 9 counter sets: 8 + 1 */
	check_int(json_object_array_length(slices), 6);
	for (size_t i = 0; i < json_object_array_length(slices); i++) {
		struct json_object *spec =
		    json_object_object_get(json_object_array_get_idx(slices, i), "spec");
		struct json_object *d = json_object_object_get(spec, "devices"),
				   *c = json_object_object_get(spec, "sharedCounters");

		/* a slice holds devices or counter sets, never both */
		check(!d != !c);
		check_int(json_object_get_int64(json_object_object_get(
			      json_object_object_get(spec, "pool"), "resourceSliceCount")),
			  6);
		if (d && json_object_array_length(d) &&
		    json_object_object_get_ex(json_object_array_get_idx(d, 0), "consumesCounters",
					      NULL)) {
			check(json_object_array_length(d) <= 64);
			np += json_object_array_length(d);
		} else if (d) {
			check(json_object_array_length(d) <= 128);
			nd += json_object_array_length(d);
		} else {
			check(json_object_array_length(c) <= 8);
			nc += json_object_array_length(c);
		}
	}
	check_int(nd, 130);
	check_int(np, 70);
	check_int(nc, 9);
}

TEST(partitionable_counter_limit)
{
	_cleanup_json_ struct json_object *types = json_object_new_array(), *devs = NULL,
					  *sets = NULL, *taken = json_object_new_object();
	char json[160];

	for (int i = 0; i < 40; i++) {
		snprintf(json, sizeof(json),
			 "{\"parent\":\"p\",\"kind\":\"virtbus\",\"type\":\"t%d\","
			 "\"available_instances\":1}",
			 i);
		json_object_array_add(types, json_tokener_parse(json));
	}
	check_int(dra_partitionable_build(types, taken, &devs, &sets, NULL), 0);
	check_int(json_object_array_length(sets), 1);
	check_int(json_object_object_length(
			  json_object_object_get(json_object_array_get_idx(sets, 0), "counters")),
		  DRA_COUNTERS_MAX);
	check_int(json_object_array_length(devs), DRA_COUNTERS_MAX);
}

TEST(partitionable_sf_and_vdpa)
{
	/* vdpasim_net offers net; vbus_sim/vbus_sim1 makes SFs (it has 2, one defined and off,
	 * one made by hand with devlink); the vdpa parent has one device. */
	_cleanup_json_ struct json_object *types = json_tokener_parse(
	    "[{\"parent\":\"vdpasim_net\",\"kind\":\"vdpa\",\"type\":\"net\"},"
	    "{\"parent\":\"vdpasim_net\",\"kind\":\"vdpa\",\"type\":\"blk\"},"
	    "{\"parent\":\"mtty\",\"kind\":\"mdev\",\"type\":\"mtty-1\","
	    "\"available_instances\":2},"
	    "{\"parent\":\"vbus_sim/vbus_sim1\",\"kind\":\"virtbus\",\"type\":\"net\","
	    "\"available_instances\":3}]");
	_cleanup_json_ struct json_object *parents =
	    json_tokener_parse("[{\"parent\":\"vbus_sim/vbus_sim1\",\"kind\":\"sf\"},"
			       "{\"parent\":\"vbus_sim/vbus_sim1\",\"kind\":\"virtbus\"},"
			       "{\"parent\":\"0000:03:00.0\",\"kind\":\"vf\"}]");
	_cleanup_json_ struct json_object *listing = json_tokener_parse(
	    "[{\"name\":\"s0\",\"kind\":\"sf\",\"parent\":\"vbus_sim/vbus_sim1\","
	    "\"index\":0,\"defined\":true},"
	    "{\"name\":\"vbus_sim1-sf1\",\"kind\":\"sf\",\"parent\":\"vbus_sim/vbus_sim1\","
	    "\"index\":1,\"active\":true},"
	    "{\"name\":\"x\",\"kind\":\"sf\",\"parent\":\"vbus_sim/vbus_sim2\",\"index\":2},"
	    "{\"name\":\"v0\",\"kind\":\"vdpa\",\"parent\":\"vdpasim_net\"}]");
	_cleanup_json_ struct json_object *offers = NULL, *devs = NULL, *sets = NULL, *map = NULL,
					  *taken = json_object_new_object();
	size_t sf = 0, net = 0, blk = 0, mtty = 0, vb = 0;

	check_int(dra_partitionable_types(types, parents, listing, &offers), 0);
	check_int(json_object_array_length(offers), 5);
	check_int(dra_partitionable_build(offers, taken, &devs, &sets, &map), 0);

	/* counters: mtty per type; vdpasim_net one "devices" counter its types share, 16 - 1;
	 * vbus_sim1 "sf", 16 - 2 */
	check_int(json_object_array_length(sets), 3);
	for (size_t i = 0; i < json_object_array_length(sets); i++) {
		struct json_object *set = json_object_array_get_idx(sets, i);
		struct json_object *c = json_object_object_get(set, "counters");
		const char *name = dra_json_str(set, "name");

		if (strstr(name, "vdpasim")) {
			check_int(json_object_object_length(c), 1);
			check_str(dra_json_str(json_object_object_get(c, "devices"), "value"),
				  "15");
		} else if (strstr(name, "vbus-sim")) {
			/* SFs and virtbus devices of one parent: one set, two counters */
			check_int(json_object_object_length(c), 2);
			check_str(dra_json_str(json_object_object_get(c, "sf"), "value"), "14");
			check_str(dra_json_str(json_object_object_get(c, "net"), "value"), "3");
		} else
			check_str(name, "counters-mtty");
	}
	/* devices: 14 SFs (no type attribute), 15 of each vDPA type, 2 mtty-1 */
	json_object_object_foreach (map, name, entry) {
		const char *kind = dra_json_str(entry, "kind"), *type = dra_json_str(entry, "type");

		check(strlen(name) <= 63);
		if (streq(kind, "sf")) {
			check(!type);
			check_str(dra_json_str(entry, "parent"), "vbus_sim/vbus_sim1");
			check(strncmp(name, "vbus-sim1-sf-", 13) == 0);
			sf++;
		} else if (streq(kind, "virtbus")) {
			/* the kernel's limit for a virtbus device name */
			check(strlen(name) <= 31);
			vb++;
		} else if (streq(kind, "vdpa")) {
			check_str(dra_json_str(entry, "parent"), "vdpasim_net");
			net += streq(type, "net");
			blk += streq(type, "blk");
		} else
			mtty++;
	}
	check_int(sf, 14);
	check_int(net, 15);
	check_int(blk, 15);
	check_int(mtty, 2);
	check_int(vb, 3);
	for (size_t i = 0; i < json_object_array_length(devs); i++) {
		struct json_object *d = json_object_array_get_idx(devs, i);
		struct json_object *a = json_object_object_get(d, "attributes");
		struct json_object *c =
		    json_object_array_get_idx(json_object_object_get(d, "consumesCounters"), 0);
		const char *kind = dra_json_str(json_object_object_get(a, "kind"), "string");

		if (streq(kind, "sf")) {
			check(!json_object_object_get_ex(a, "type", NULL));
			check(json_object_object_get_ex(json_object_object_get(c, "counters"), "sf",
							NULL));
		} else if (streq(kind, "vdpa"))
			check(json_object_object_get_ex(json_object_object_get(c, "counters"),
							"devices", NULL));
	}

	/* SF numbers: 0 and 1 are taken on vbus_sim1 (2 only on vbus_sim2) */
	check_int(dra_free_sfnum(listing, "vbus_sim/vbus_sim1", 0), 2);
	check_int(dra_free_sfnum(listing, "vbus_sim/vbus_sim1", 1), 2);
	check_int(dra_free_sfnum(listing, "vbus_sim/vbus_sim1", 3), 3);
	check_int(dra_free_sfnum(listing, "vbus_sim/vbus_sim2", 0), 0);
	check_int(dra_free_sfnum(listing, "vbus_sim/vbus_sim2", 2), 3);
	check_int(dra_free_sfnum(NULL, "p", -1), 0);
}

TEST_MAIN()

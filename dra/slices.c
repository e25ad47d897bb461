// SPDX-License-Identifier: LGPL-2.1-or-later
/* The devices vbus manages as resource.k8s.io/v1 ResourceSlice devices, and the slices. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>

#include <openssl/sha.h>

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
	       (dra_json_bool(entry, "active") &&
		json_object_object_get_ex(entry, "version", NULL));
}

static bool is_pci_address(const char *s)
{
	unsigned d, b, dev, fn;
	char end;

	return s && sscanf(s, "%4x:%2x:%2x.%1x%c", &d, &b, &dev, &fn, &end) == 4 && strlen(s) == 12;
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
	const char *parent = dra_json_str(entry, "parent"),
		   *pci = dra_json_str(entry, "pci_address");
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
	if (streq(kind, "mdev") &&
	    (r = attr_opt(attrs, "mdevUUID", dra_json_str(entry, "uuid"))) < 0)
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
	size_t n =
	    json_object_is_type(listing, json_type_array) ? json_object_array_length(listing) : 0;

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

#define MAX_PER_SLICE_COUNTING 64 /* devices per slice when any consumes counters */
#define MAX_COUNTER_SETS_PER_SLICE 8

static struct json_object *new_slice(const char *node, const char *driver, int64_t generation,
				     size_t index, size_t count, struct json_object *owner,
				     const char *list_key, struct json_object *list)
{
	struct json_object *s = json_object_new_object(), *meta = json_object_new_object(),
			   *spec = json_object_new_object(), *pool = json_object_new_object();
	_cleanup_free_ char *name = NULL;

	if (!s || !meta || !spec || !pool ||
	    dra_slice_name(node, driver, (unsigned)index, &name) < 0) {
		json_object_put(s);
		json_object_put(meta);
		json_object_put(spec);
		json_object_put(pool);
		return NULL;
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
	json_object_object_add(pool, "resourceSliceCount", json_object_new_int64((int64_t)count));
	json_object_object_add(spec, list_key, list);
	return s;
}

static size_t chunks(size_t n, size_t per)
{
	return (n + per - 1) / per;
}

/* Adds the slices of LIST (PER items each, under LIST_KEY) from slice number *INDEX on. */
static int add_chunks(struct json_object *slices, const char *node, const char *driver,
		      int64_t generation, size_t *index, size_t count, struct json_object *owner,
		      const char *list_key, struct json_object *list, size_t per, bool at_least_one)
{
	size_t n = list ? json_object_array_length(list) : 0, c = chunks(n, per);

	if (c == 0 && at_least_one)
		c = 1;
	for (size_t i = 0; i < c; i++) {
		struct json_object *part = json_object_new_array(), *s;

		for (size_t j = i * per; part && j < n && j < (i + 1) * per; j++)
			json_object_array_add(part,
					      json_object_get(json_object_array_get_idx(list, j)));
		s = part ? new_slice(node, driver, generation, (*index)++, count, owner, list_key,
				     part)
			 : NULL;
		if (!s) {
			json_object_put(part);
			return -ENOMEM;
		}
		if (json_object_array_add(slices, s) < 0) {
			json_object_put(s);
			return -ENOMEM;
		}
	}
	return 0;
}

int dra_slices_build(const char *node, const char *driver, int64_t generation,
		     struct json_object *devices, struct json_object *potential,
		     struct json_object *counter_sets, struct json_object *owner,
		     struct json_object **ret)
{
	_cleanup_json_ struct json_object *slices = json_object_new_array();
	size_t n = json_object_array_length(devices), index = 0, count;
	size_t np = potential ? json_object_array_length(potential) : 0;
	size_t nc = counter_sets ? json_object_array_length(counter_sets) : 0;
	int r;

	if (!slices)
		return -ENOMEM;
	/* Devices, devices that consume counters (64 a slice), counter sets (alone in theirs). */
	count = (n || (!np && !nc) ? chunks(n, DRA_SLICE_MAX_DEVICES) ?: 1 : 0) +
		chunks(np, MAX_PER_SLICE_COUNTING) + chunks(nc, MAX_COUNTER_SETS_PER_SLICE);
	r = add_chunks(slices, node, driver, generation, &index, count, owner, "devices", devices,
		       DRA_SLICE_MAX_DEVICES, !np && !nc);
	if (r >= 0)
		r = add_chunks(slices, node, driver, generation, &index, count, owner, "devices",
			       potential, MAX_PER_SLICE_COUNTING, false);
	if (r >= 0)
		r = add_chunks(slices, node, driver, generation, &index, count, owner,
			       "sharedCounters", counter_sets, MAX_COUNTER_SETS_PER_SLICE, false);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(slices);
	return 0;
}

/* A DNS label for a composed name (parts joined with '-'), at most MAX characters: a longer
 * one is cut and ends in '-' and 8 hex digits of the composed name's sha256. */
static char *label_max(const char *a, const char *b, const char *c, size_t max)
{
	_cleanup_free_ char *s = NULL;
	unsigned char md[SHA256_DIGEST_LENGTH];
	char *l = NULL;
	size_t n;

	if (asprintf(&s, "%s%s%s%s%s", a, b ? "-" : "", b ?: "", c ? "-" : "", c ?: "") < 0 ||
	    dra_device_label(s, &l) < 0)
		return NULL;
	if (strlen(l) <= max)
		return l;
	n = max - 9;
	while (n && l[n - 1] == '-')
		n--;
	SHA256((const unsigned char *)s, strlen(s), md);
	snprintf(l + n, 10, "%s%02x%02x%02x%02x", n ? "-" : "", md[0], md[1], md[2], md[3]);
	return l;
}

static char *label_of(const char *a, const char *b, const char *c)
{
	return label_max(a, b, c, DRA_LABEL_MAX);
}

int dra_partitionable_build(struct json_object *types, struct json_object *taken,
			    struct json_object **ret_devices, struct json_object **ret_counter_sets,
			    struct json_object **ret_map)
{
	_cleanup_json_ struct json_object *devs = json_object_new_array(),
					  *sets = json_object_new_object(),
					  *map = json_object_new_object(),
					  *set_list = json_object_new_array();
	size_t n =
	    json_object_is_type(types, json_type_array) ? json_object_array_length(types) : 0;

	if (!devs || !sets || !map || !set_list)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *t = json_object_array_get_idx(types, i), *set, *counters, *v;
		const char *parent = dra_json_str(t, "parent"), *kind = dra_json_str(t, "kind");
		const char *type = dra_json_str(t, "type"), *shared = dra_json_str(t, "counter");
		_cleanup_free_ char *set_name = NULL, *counter = NULL;
		int64_t avail = json_object_object_get_ex(t, "available_instances", &v)
				    ? json_object_get_int64(v)
				    : 0;
		char value[32];

		/* An SF has no type: its counter and names say "sf". */
		if (!parent || !kind || (!type && !shared) || avail <= 0)
			continue;
		/* The counter holds what the parent has; only the devices offered are capped. */
		snprintf(value, sizeof(value), "%" PRId64, avail);
		if (avail > DRA_POTENTIAL_MAX)
			avail = DRA_POTENTIAL_MAX;
		set_name = label_of("counters", parent, NULL);
		counter = label_of(shared ?: type, NULL, NULL);
		if (!set_name || !counter)
			return -ENOMEM;
		if (!json_object_object_get_ex(sets, set_name, &set)) {
			set = json_object_new_object();
			counters = json_object_new_object();
			if (!set || !counters) {
				json_object_put(set);
				json_object_put(counters);
				return -ENOMEM;
			}
			json_object_object_add(set, "name", json_object_new_string(set_name));
			json_object_object_add(set, "counters", counters);
			json_object_object_add(sets, set_name, set);
			json_object_array_add(set_list, json_object_get(set));
		}
		counters = json_object_object_get(set, "counters");
		/* A counter the parent's types share (vDPA) is there once. The API allows 32
		 * counters a set: further types of the parent are not offered. */
		if (!json_object_object_get_ex(counters, counter, NULL)) {
			if (json_object_object_length(counters) >= DRA_COUNTERS_MAX)
				continue;
			struct json_object *cv = json_object_new_object();
			json_object_object_add(cv, "value", json_object_new_string(value));
			json_object_object_add(counters, counter, cv);
		}

		/* AVAIL devices that could be made, named PARENT-TYPE-N (a name vbus or an
		 * earlier one took is skipped). */
		for (int64_t made = 0, k = 0; made < avail && k < 4 * DRA_POTENTIAL_MAX; k++) {
			char idx[24];
			_cleanup_free_ char *name = NULL;
			struct json_object *dev, *attrs, *cons, *c, *cc, *one, *entry;

			snprintf(idx, sizeof(idx), "%" PRId64, k);
			/* The parent's last component ("vbus_sim1" of "vbus_sim/vbus_sim1"); a
			 * virtbus device's name must fit the kernel's (31 characters). */
			name = label_max(
			    strrchr(parent, '/') ? strrchr(parent, '/') + 1 : parent, type ?: kind,
			    idx, streq(kind, "virtbus") ? DRA_VIRTBUS_NAME_MAX : DRA_LABEL_MAX);
			if (!name)
				return -ENOMEM;
			if (json_object_object_get_ex(taken, name, NULL) ||
			    json_object_object_get_ex(map, name, NULL))
				continue;
			dev = json_object_new_object();
			attrs = json_object_new_object();
			cons = json_object_new_array();
			c = json_object_new_object();
			cc = json_object_new_object();
			one = json_object_new_object();
			entry = json_object_new_object();
			if (!dev || !attrs || !cons || !c || !cc || !one || !entry) {
				json_object_put(dev);
				json_object_put(attrs);
				json_object_put(cons);
				json_object_put(c);
				json_object_put(cc);
				json_object_put(one);
				json_object_put(entry);
				return -ENOMEM;
			}
			json_object_object_add(dev, "name", json_object_new_string(name));
			json_object_object_add(dev, "attributes", attrs);
			(void)attr_opt(attrs, "kind", kind);
			(void)attr_opt(attrs, "parent", parent);
			if (type)
				(void)attr_opt(attrs, "type", type);
			(void)attr_add(attrs, "createOnDemand", "bool",
				       json_object_new_boolean(true));
			json_object_object_add(one, "value", json_object_new_string("1"));
			json_object_object_add(cc, counter, one);
			json_object_object_add(c, "counterSet", json_object_new_string(set_name));
			json_object_object_add(c, "counters", cc);
			json_object_array_add(cons, c);
			json_object_object_add(dev, "consumesCounters", cons);
			json_object_array_add(devs, dev);

			json_object_object_add(entry, "kind", json_object_new_string(kind));
			json_object_object_add(entry, "parent", json_object_new_string(parent));
			if (type)
				json_object_object_add(entry, "type", json_object_new_string(type));
			json_object_object_add(map, name, entry);
			made++;
		}
	}
	*ret_devices = TAKE_PTR(devs);
	*ret_counter_sets = TAKE_PTR(set_list);
	if (ret_map)
		*ret_map = TAKE_PTR(map);
	return 0;
}

/* How many devices of KIND on PARENT LISTING has (defined or running, vbus's or not). */
static int64_t count_on(struct json_object *listing, const char *kind, const char *parent)
{
	size_t n =
	    json_object_is_type(listing, json_type_array) ? json_object_array_length(listing) : 0;
	int64_t c = 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(listing, i);

		c += streq_ptr(dra_json_str(e, "kind"), kind) &&
		     streq_ptr(dra_json_str(e, "parent"), parent);
	}
	return c;
}

static int add_offer(struct json_object *out, const char *parent, const char *kind,
		     const char *type, const char *counter, int64_t avail)
{
	struct json_object *o = json_object_new_object();

	if (!o || json_object_array_add(out, o) < 0) {
		json_object_put(o);
		return -ENOMEM;
	}
	json_object_object_add(o, "parent", json_object_new_string(parent));
	json_object_object_add(o, "kind", json_object_new_string(kind));
	if (type)
		json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "counter", json_object_new_string(counter));
	json_object_object_add(o, "available_instances", json_object_new_int64(avail));
	return 0;
}

int dra_partitionable_types(struct json_object *types, struct json_object *parents,
			    struct json_object *listing, struct json_object **ret)
{
	_cleanup_json_ struct json_object *out = json_object_new_array();
	size_t nt =
	    json_object_is_type(types, json_type_array) ? json_object_array_length(types) : 0;
	size_t np =
	    json_object_is_type(parents, json_type_array) ? json_object_array_length(parents) : 0;
	int r;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < nt; i++) {
		struct json_object *t = json_object_array_get_idx(types, i);
		const char *kind = dra_json_str(t, "kind"), *parent = dra_json_str(t, "parent");

		if (!kind || !parent)
			continue;
		if (!streq(kind, "vdpa")) {
			json_object_array_add(out, json_object_get(t));
			continue;
		}
		/* A vDPA management device has no instance count: its types share one. */
		r = add_offer(out, parent, kind, dra_json_str(t, "type"), "devices",
			      DRA_ONDEMAND_CAPACITY - count_on(listing, kind, parent));
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < np; i++) {
		struct json_object *p = json_object_array_get_idx(parents, i);
		const char *kind = dra_json_str(p, "kind"), *parent = dra_json_str(p, "parent");

		if (!streq_ptr(kind, "sf") || !parent)
			continue;
		r = add_offer(out, parent, kind, NULL, "sf",
			      DRA_ONDEMAND_CAPACITY - count_on(listing, kind, parent));
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(out);
	return 0;
}

int64_t dra_free_sfnum(struct json_object *listing, const char *parent, int64_t from)
{
	size_t n =
	    json_object_is_type(listing, json_type_array) ? json_object_array_length(listing) : 0;

	for (int64_t sfnum = from < 0 ? 0 : from;; sfnum++) {
		bool used = false;

		for (size_t i = 0; i < n && !used; i++) {
			struct json_object *e = json_object_array_get_idx(listing, i), *v;

			used = streq_ptr(dra_json_str(e, "kind"), "sf") &&
			       streq_ptr(dra_json_str(e, "parent"), parent) &&
			       json_object_object_get_ex(e, "index", &v) &&
			       json_object_get_int64(v) == sfnum;
		}
		if (!used)
			return sfnum;
	}
}

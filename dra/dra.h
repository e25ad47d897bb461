/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vbus-dra's internal interfaces: names, slices, kubeconfig and REST, checkpoint, vbusd. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "../lib/macro.h"

static inline void json_putp(struct json_object **p)
{
	if (*p)
		json_object_put(*p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_json_ _cleanup_(json_putp)
#define _cleanup_close_ _cleanup_(closep)

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b)
{
	return (!a && !b) || (a && b && streq(a, b));
}

/* A string member of O, or NULL (absent, null or not a string). */
const char *dra_json_str(struct json_object *o, const char *key);
bool dra_json_bool(struct json_object *o, const char *key);

/* ---- names.c: the names vbus-dra gives things ------------------------------------------- */

#define DRA_LABEL_MAX 63
/* A vbus definition name as a device name in a ResourceSlice (a DNS label): lowercased, every
 * character outside [a-z0-9-] as '-', and when that changed anything (or the name is longer
 * than 63 or starts or ends with '-'), at most 54 characters of it without a trailing '-' plus
 * "-" and the first 8 hex digits of sha256(NAME). Stable and unique for unique names. */
int dra_device_label(const char *name, char **ret);
/* The CDI device name lib/cdi.c gives a vbus name (vbus.json(5)): ':' as '_', trailing
 * characters that are not letters or digits dropped. */
int dra_cdi_name(const char *name, char **ret);
/* NODE-DRIVER(. as -)-N */
int dra_slice_name(const char *node, const char *driver, unsigned n, char **ret);

/* ---- slices.c: devices and ResourceSlices (resource.k8s.io/v1) ---------------------------- */

#define DRA_SLICE_MAX_DEVICES 128
#define DRA_DEVICE_MAX_ATTRIBUTES 32 /* attributes + capacities */
#define DRA_ATTRIBUTE_STRING_MAX 64

/* Adds KEY -> {"string"|"int"|"bool": VALUE} to the attributes map ATTRS: -E2BIG when it holds
 * DRA_DEVICE_MAX_ATTRIBUTES already, -EINVAL for a string longer than the API allows. */
int dra_attr_add_string(struct json_object *attrs, const char *key, const char *value);
int dra_attr_add_int(struct json_object *attrs, const char *key, int64_t value);
/* Whether a listing entry (ListDevices) is a device vbus manages: a definition, or a device
 * vbus started (both carry the definition's keys, "version" among them). */
bool dra_entry_is_managed(struct json_object *entry);
/* The slice device of ENTRY: {"name": label, "attributes": {...}}. ROOT is vbusd's root, for
 * the NUMA node and PCIe root of a PCI device in sysfs (NULL: not read). */
int dra_device_from_entry(struct json_object *entry, const char *root, struct json_object **ret);
/* The devices to publish from a whole listing, in its order, and label -> vbus name. */
int dra_devices_build(struct json_object *listing, const char *root, struct json_object **ret,
		      struct json_object **ret_names);
/* The ResourceSlice objects of one pool generation: DEVICES (not consumed) split at
 * DRA_SLICE_MAX_DEVICES (at least one slice when there is nothing else), then the POTENTIAL
 * devices that consume counters (64 a slice) and the COUNTER_SETS (8 a slice, in slices of
 * their own, as resource.k8s.io/v1 wants). POTENTIAL and COUNTER_SETS may be NULL. */
int dra_slices_build(const char *node, const char *driver, int64_t generation,
		     struct json_object *devices, struct json_object *potential,
		     struct json_object *counter_sets, struct json_object *owner,
		     struct json_object **ret);

/* Create on demand (KEP 4815 partitionable devices), for --partitionable: from TYPES (the
 * entries of vbusd's ListTypes: parent, kind, type, available_instances), one counter set per
 * parent ("counters-PARENT", a counter per type holding its available instances) and for each
 * type as many devices as it has instances (at most DRA_POTENTIAL_MAX), named PARENT-TYPE-N as
 * a DNS label (PARENT's last '/' component; names in TAKEN skipped; a virtbus name cut to
 * DRA_VIRTBUS_NAME_MAX with a hash suffix), each consuming 1 of its type's counter and marked
 * createOnDemand. RET_MAP: device name -> {kind, parent, type}. */
#define DRA_POTENTIAL_MAX 16
#define DRA_VIRTBUS_NAME_MAX 31 /* the kernel's VBUS_DEV_NAME_MAX - 1 */
#define DRA_COUNTERS_MAX 32	/* counters per counter set */
int dra_partitionable_build(struct json_object *types, struct json_object *taken,
			    struct json_object **ret_devices, struct json_object **ret_counter_sets,
			    struct json_object **ret_map);
/* An entry of TYPES may name its counter ("counter": shared by the parent's types) and may
 * have no type (an SF: devices PARENT-sf-N, counter "sf").
 *
 * The offers for dra_partitionable_build(): TYPES' mdev and virtbus entries as they are (the
 * kernel counts their instances); per vDPA management device and type of TYPES, and per SF
 * parent of PARENTS (vbusd's ListParents), an entry whose counter ("devices" shared by the
 * management device's types, "sf") holds DRA_ONDEMAND_CAPACITY minus the devices of that kind
 * LISTING (ListDevices, defined and running) has on the parent: the kernel reports no
 * capacity for either. */
#define DRA_ONDEMAND_CAPACITY 16
int dra_partitionable_types(struct json_object *types, struct json_object *parents,
			    struct json_object *listing, struct json_object **ret);
/* The lowest SF number >= FROM no SF of PARENT in LISTING (defined or running) has. */
int64_t dra_free_sfnum(struct json_object *listing, const char *parent, int64_t from);
#define DRA_SFNUM_TRIES 8 /* SF numbers tried when the kernel says one is in use */

/* ---- kube.c: kubeconfig / in-cluster config and the API server's REST API ----------------- */

struct kube {
	char *server; /* https://host:port, no trailing '/' */
	char *ca_file;
	char *ca_data; /* PEM */
	bool insecure;
	char *token;
	char *token_file; /* read at every request (projected tokens rotate) */
	void *curl;
};

/* TEXT is a kubeconfig (YAML or JSON); DIR resolves its relative file names. */
int kube_config_parse(const char *text, const char *dir, struct kube *ret, char **ret_error);
int kube_config_load(const char *path, struct kube *ret, char **ret_error);
/* KUBERNETES_SERVICE_HOST/PORT and the service account's token and CA below SA_DIR. */
int kube_config_in_cluster(const char *sa_dir, struct kube *ret, char **ret_error);
void kube_done(struct kube *k);
/* METHOD PATH with BODY (NULL: none); the HTTP status and the reply (NULL when not JSON).
 * Negative errno when no HTTP answer came (RET_ERROR says why). */
int kube_request(struct kube *k, const char *method, const char *path, struct json_object *body,
		 long *ret_status, struct json_object **ret_reply, char **ret_error);
/* The "message" of a Status reply, or "HTTP <status>". */
char *kube_status_message(long status, struct json_object *reply);

/* ---- checkpoint.c --------------------------------------------------------------------------- */

/* {"version": 1, "claims": {UID: {...}}}; a missing file is an empty checkpoint. */
int checkpoint_load(const char *path, struct json_object **ret, char **ret_error);
/* Written to a temporary file, synced and renamed over PATH. */
int checkpoint_save(const char *path, struct json_object *checkpoint, char **ret_error);

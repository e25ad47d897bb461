/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What libvbus offers the programs of this tree beyond libvbus.h (kmod's libkmod-internal.h):
 * the fields of struct vbus_def, and the calls of libvbus.h whose JSON is text there in their
 * json-c form (no copy through text for vbusctl and vbusd). Not installed, not exported from
 * libvbus.so: programs outside the tree use libvbus.h.
 */
#pragma once

#include <json-c/json.h>

#include "libvbus.h"

struct vbus_attr {
	char *key;
	char *value;
};

struct vbus_def {
	char *name;
	enum vbus_kind kind;
	char *parent;
	char *type;	 /* mdev type, vdpa/virtbus device type; NULL when unset */
	char *uuid;	 /* mdev; generated on define when NULL */
	int64_t index;	 /* VF index or sfnum; -1 when unset */
	char *driver;	 /* "auto" when unset */
	enum vbus_start start;
	struct vbus_attr *attrs; /* written in this order */
	size_t n_attrs;
	char **tags;
	size_t n_tags;
	struct json_object *extra; /* unknown keys, preserved on rewrite; may be NULL */
};

/* DEF has "select", "count" or a parent glob: it stands for one device per matching parent
 * (and per count), which the store's readers see instead (lib/select.c, vbus.json(5)). */
bool vbus_def_is_template(const struct vbus_def *def);

/* Parses a schema-v1 object; -EINVAL with the offending key in vbus_ctx_last_error(). */
int vbus_def_from_json(struct vbus_ctx *ctx, struct json_object *obj, struct vbus_def **ret);
int vbus_def_to_json(const struct vbus_def *def, struct json_object **ret);
/* vbus_def_from_json() for a definition without "kind" that PURPOSE completes through
 * vbus_policy_fill() (PURPOSE NULL or "": vbus_def_from_json() itself). */
int vbus_def_from_json_for(struct vbus_ctx *ctx, struct json_object *obj, const char *purpose,
			   struct vbus_def **ret);
/* VALUE as the config files and vbusctl -j print it (two-space indent, "[]" when empty, a final
 * newline). The caller frees *ret. */
int vbus_json_format(struct json_object *value, char **ret);

/* The json-c forms of vbus_list_parents_json(), vbus_list_types_json(), vbus_apply_json(),
 * vbus_reconcile_json(), vbus_import_json() and vbus_cdi_read_json(): the same, as a new JSON
 * array (the caller puts it). */
int vbus_list_parents(struct vbus_ctx *ctx, const char *parent, struct json_object **ret);
int vbus_list_types(struct vbus_ctx *ctx, const char *parent, struct json_object **ret);
int vbus_apply(struct vbus_ctx *ctx, struct json_object *definitions, unsigned flags,
	       struct json_object **ret_plan);
int vbus_reconcile(struct vbus_ctx *ctx, const char *parent, unsigned flags,
		   struct json_object **ret_results);
int vbus_import(struct vbus_ctx *ctx, const char *source, const char *dir,
		struct json_object **ret_report);
int vbus_import_with_flags(struct vbus_ctx *ctx, const char *source, const char *dir,
			   unsigned flags, struct json_object **ret_report);
int vbus_cdi_read(struct vbus_ctx *ctx, struct json_object **ret);

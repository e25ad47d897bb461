// SPDX-License-Identifier: LGPL-2.1-or-later
/* libvbus.h's calls whose JSON is text: the json-c calls of libvbus-internal.h, in and out. */
#include "vbus-private.h"

/* *RET: the text of VALUE (put), on success only. */
static int text_of(struct json_object *value, char **ret)
{
	_cleanup_json_ struct json_object *v = value;
	char *s = NULL;
	int r;

	r = vbus_json_format(v, &s);
	if (r < 0)
		return r;
	*ret = s;
	return 0;
}

/* TEXT parsed; -EINVAL (with WHAT in the last error) when it is not JSON of TYPE. */
static int parse(struct vbus_ctx *ctx, const char *text, json_type type, const char *what,
		 struct json_object **ret)
{
	struct json_object *o;

	if (!text)
		return -EINVAL;
	o = json_tokener_parse(text);
	if (!o || !json_object_is_type(o, type)) {
		json_object_put(o);
		return vbus_error(ctx, -EINVAL, "%s is not a JSON %s", what,
				  type == json_type_array ? "array" : "object");
	}
	*ret = o;
	return 0;
}

VBUS_EXPORT int vbus_def_new_from_json(struct vbus_ctx *ctx, const char *json, const char *purpose,
				       struct vbus_def **ret)
{
	_cleanup_json_ struct json_object *o = NULL;
	int r;

	vbus_error_clear(ctx);
	r = parse(ctx, json, json_type_object, "the definition", &o);
	if (r < 0)
		return r;
	return vbus_def_from_json_for(ctx, o, purpose, ret);
}

VBUS_EXPORT int vbus_def_format_json(const struct vbus_def *def, char **ret)
{
	struct json_object *o = NULL;
	int r;

	r = vbus_def_to_json(def, &o);
	if (r < 0)
		return r;
	return text_of(o, ret);
}

VBUS_EXPORT int vbus_list_parents_json(struct vbus_ctx *ctx, const char *parent, char **ret)
{
	struct json_object *o = NULL;
	int r;

	r = vbus_list_parents(ctx, parent, &o);
	if (r < 0)
		return r;
	return text_of(o, ret);
}

VBUS_EXPORT int vbus_list_types_json(struct vbus_ctx *ctx, const char *parent, char **ret)
{
	struct json_object *o = NULL;
	int r;

	r = vbus_list_types(ctx, parent, &o);
	if (r < 0)
		return r;
	return text_of(o, ret);
}

/* R from a call that may set *O on failure too: *RET set whenever *O is. */
static int text_result(int r, struct json_object *o, char **ret)
{
	int k;

	if (!o)
		return r;
	k = text_of(o, ret);
	return r < 0 ? r : k < 0 ? k : r;
}

VBUS_EXPORT int vbus_apply_json(struct vbus_ctx *ctx, const char *definitions, unsigned flags,
				char **ret_plan)
{
	_cleanup_json_ struct json_object *defs = NULL;
	struct json_object *plan = NULL;
	int r;

	vbus_error_clear(ctx);
	r = parse(ctx, definitions, json_type_array, "the list of definitions", &defs);
	if (r < 0)
		return r;
	r = vbus_apply(ctx, defs, flags, &plan);
	return text_result(r, plan, ret_plan);
}

VBUS_EXPORT int vbus_reconcile_json(struct vbus_ctx *ctx, const char *parent, unsigned flags,
				    char **ret_results)
{
	struct json_object *results = NULL;
	int r;

	r = vbus_reconcile(ctx, parent, flags, &results);
	return text_result(r, results, ret_results);
}

VBUS_EXPORT int vbus_import_json(struct vbus_ctx *ctx, const char *source, const char *dir,
				 unsigned flags, char **ret_report)
{
	struct json_object *report = NULL;
	int r;

	r = vbus_import_with_flags(ctx, source, dir, flags, &report);
	if (r < 0) {
		json_object_put(report);
		return r;
	}
	return text_result(r, report, ret_report);
}

VBUS_EXPORT int vbus_cdi_read_json(struct vbus_ctx *ctx, char **ret)
{
	struct json_object *o = NULL;
	int r;

	r = vbus_cdi_read(ctx, &o);
	if (r < 0)
		return r;
	return text_of(o, ret);
}

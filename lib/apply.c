// SPDX-License-Identifier: LGPL-2.1-or-later
/* apply: make the set of definitions equal to a list, all or nothing, and say what it does. */
#include <stdio.h>
#include <strings.h>

#include "vbus-private.h"

enum action {
	ACT_KEEP,
	ACT_DEFINE,
	ACT_MODIFY,
	ACT_UNDEFINE,
};

static const char *const action_names[] = {
    [ACT_KEEP] = "keep",
    [ACT_DEFINE] = "define",
    [ACT_MODIFY] = "modify",
    [ACT_UNDEFINE] = "undefine",
};

struct step {
	enum action action;
	struct vbus_def *want; /* the definition to store (define, modify, keep) */
	struct vbus_def *old;  /* what is stored now (modify, undefine, keep); NULL if damaged */
	bool parent_absent;
	bool done;
};

static void steps_free(struct step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		vbus_def_free(steps[i].want);
		vbus_def_free(steps[i].old);
	}
	free(steps);
}

static bool defs_equal(const struct vbus_def *a, const struct vbus_def *b)
{
	_cleanup_json_ struct json_object *ja = NULL, *jb = NULL;

	if (vbus_def_to_json(a, &ja) < 0 || vbus_def_to_json(b, &jb) < 0)
		return false;
	return json_object_equal(ja, jb);
}

static int plan_entry(struct json_object *plan, const struct step *s)
{
	const struct vbus_def *d = s->want ?: s->old;
	struct json_object *o = json_object_new_object();

	if (!o)
		return -ENOMEM;
	if (json_object_object_add(o, "action", json_object_new_string(action_names[s->action])) <
		0 ||
	    json_object_object_add(o, "name", json_object_new_string(d->name)) < 0 ||
	    json_object_object_add(o, "kind",
				   json_object_new_string(vbus_kind_to_string(d->kind))) < 0 ||
	    json_object_object_add(o, "parent", json_object_new_string(d->parent)) < 0 ||
	    json_object_object_add(o, "parent_present",
				   s->action == ACT_UNDEFINE
				       ? NULL
				       : json_object_new_boolean(!s->parent_absent)) < 0 ||
	    json_object_array_add(plan, o) < 0) {
		json_object_put(o);
		return -ENOMEM;
	}
	return 0;
}

/* Two entries of the list that are one device (or one name): refused before anything. */
static int check_list_duplicates(struct vbus_ctx *ctx, struct vbus_def **want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++) {
			const struct vbus_def *a = want[i], *b = want[j];

			if (streq(a->name, b->name))
				return vbus_error(ctx, -EEXIST, "'%s' is listed twice", a->name);
			if (a->kind != b->kind)
				continue;
			if ((a->kind == VBUS_KIND_MDEV && a->uuid && b->uuid &&
			     strcasecmp(a->uuid, b->uuid) == 0) ||
			    ((a->kind == VBUS_KIND_VF || a->kind == VBUS_KIND_SF) &&
			     streq(a->parent, b->parent) && a->index == b->index) ||
			    (a->kind == VBUS_KIND_PCI && streq(a->parent, b->parent)))
				return vbus_error(ctx, -EEXIST, "'%s' and '%s' are the same device",
						  b->name, a->name);
		}
	return 0;
}

static int prepare(struct vbus_ctx *ctx, struct vbus_def *def, bool *ret_absent)
{
	const struct vbus_backend *be;
	int r;

	r = vbus_def_validate(ctx, def);
	if (r < 0)
		return r;
	r = vbus_backend_require(ctx, def->kind, &be);
	if (r < 0)
		return r;
	if (def->kind == VBUS_KIND_MDEV && !def->uuid) {
		r = vbus_uuid_generate(&def->uuid);
		if (r < 0)
			return vbus_error(ctx, r, "cannot generate a uuid: %s", strerror(-r));
	}
	*ret_absent = false;
	if (!be->check)
		return 0;
	r = vbus_plain_cause(ctx, def, be->check(ctx, def));
	if (r == -ENODEV) {
		vbus_error_clear(ctx);
		*ret_absent = true;
		return 0;
	}
	return r;
}

/* Puts back what the steps done so far changed; best effort, the first cause is kept. */
static void rollback(struct vbus_ctx *ctx, struct step *steps, size_t n)
{
	char *saved = vbus_error_take(ctx);

	for (size_t i = n; i-- > 0;) {
		struct step *s = &steps[i];
		int r = 0;

		if (!s->done)
			continue;
		if (s->action == ACT_DEFINE)
			r = vbus_store_remove(ctx, s->want->name);
		else if (s->old)
			r = vbus_store_save(ctx, s->old);
		if (r < 0)
			warn(ctx, "Could not restore '%s': %s", (s->want ?: s->old)->name,
			     vbus_ctx_last_error(ctx) ?: strerror(-r));
	}
	vbus_error_restore(ctx, saved);
}

static int apply_locked(struct vbus_ctx *ctx, struct json_object *list, unsigned flags,
			struct json_object **ret_plan)
{
	_cleanup_json_ struct json_object *plan = NULL;
	struct vbus_def **stored = NULL, **want = NULL;
	size_t n_stored = 0, n_want = 0, n_steps = 0;
	struct step *steps = NULL;
	int r;

	if (!json_object_is_type(list, json_type_array))
		return vbus_error(ctx, -EINVAL, "apply needs a JSON array of definitions");
	n_want = json_object_array_length(list);
	want = calloc(n_want + 1, sizeof(*want));
	plan = json_object_new_array();
	if (!want || !plan) {
		free(want);
		return -ENOMEM;
	}
	r = vbus_store_load_all(ctx, true, &stored, &n_stored);
	if (r < 0)
		goto out;
	steps = calloc(n_want + n_stored + 1, sizeof(*steps));
	if (!steps) {
		r = -ENOMEM;
		goto out;
	}

	/* 1. Validate everything: a refusal anywhere changes nothing anywhere. */
	for (size_t i = 0; i < n_want; i++) {
		r = vbus_def_from_json(ctx, json_object_array_get_idx(list, i), &want[i]);
		if (r < 0) {
			_cleanup_free_ char *cause = vbus_error_take(ctx);

			r = vbus_error(ctx, r, "entry %zu: %s", i + 1, cause ?: strerror(-r));
			goto out;
		}
	}
	r = check_list_duplicates(ctx, want, n_want);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n_want; i++) {
		struct step *s = &steps[n_steps++];
		int exists;

		s->want = want[i];
		want[i] = NULL;
		for (size_t j = 0; j < n_stored; j++)
			if (stored[j] && streq(stored[j]->name, s->want->name)) {
				s->old = TAKE_PTR(stored[j]);
				break;
			}
		/* The same device keeps its uuid when the list does not name one. */
		if (s->old && s->want->kind == VBUS_KIND_MDEV && s->old->kind == VBUS_KIND_MDEV &&
		    !s->want->uuid && s->old->uuid) {
			s->want->uuid = strdup(s->old->uuid);
			if (!s->want->uuid) {
				r = -ENOMEM;
				goto out;
			}
		}
		r = prepare(ctx, s->want, &s->parent_absent);
		if (r < 0) {
			_cleanup_free_ char *cause = vbus_error_take(ctx);

			r = vbus_error(ctx, r, "'%s': %s", s->want->name, cause ?: strerror(-r));
			goto out;
		}
		exists = s->old ? 1 : vbus_store_exists(ctx, s->want->name);
		if (exists < 0) {
			r = exists;
			goto out;
		}
		/* A damaged file of that name is replaced: the list says what it should hold. */
		if (!exists)
			s->action = ACT_DEFINE;
		else if (s->old && defs_equal(s->old, s->want))
			s->action = ACT_KEEP;
		else
			s->action = ACT_MODIFY;
	}
	for (size_t j = 0; j < n_stored; j++) {
		struct step *s;

		if (!stored[j])
			continue;
		s = &steps[n_steps++];
		s->action = ACT_UNDEFINE;
		s->old = TAKE_PTR(stored[j]);
	}

	/* 2. The plan, in the order it is carried out: undefine, modify, define. */
	for (int a = ACT_UNDEFINE; a >= (int)ACT_KEEP; a--)
		for (size_t i = 0; i < n_steps; i++)
			if ((int)steps[i].action == a) {
				r = plan_entry(plan, &steps[i]);
				if (r < 0)
					goto out;
			}
	if (flags & VBUS_APPLY_DRY_RUN)
		goto done;

	/* 3. Act; on failure put back what was changed. */
	for (int a = ACT_UNDEFINE; a > (int)ACT_KEEP; a--)
		for (size_t i = 0; i < n_steps; i++) {
			struct step *s = &steps[i];

			if ((int)s->action != a)
				continue;
			r = a == ACT_UNDEFINE ? vbus_store_remove(ctx, s->old->name)
					      : vbus_store_save(ctx, s->want);
			if (r < 0) {
				rollback(ctx, steps, n_steps);
				goto out;
			}
			s->done = true;
			info(ctx, "%s '%s'",
			     a == ACT_UNDEFINE ? "Undefined"
			     : a == ACT_MODIFY ? "Modified"
					       : "Defined",
			     (s->want ?: s->old)->name);
		}
done:
	*ret_plan = TAKE_PTR(plan);
	r = 0;
out:
	steps_free(steps, n_steps);
	vbus_defs_free(stored, n_stored);
	vbus_defs_free(want, n_want);
	return r;
}

VBUS_EXPORT int vbus_apply(struct vbus_ctx *ctx, struct json_object *definitions, unsigned flags,
			   struct json_object **ret_plan)
{
	int r;

	vbus_error_clear(ctx);
	r = vbus_lock(ctx);
	if (r < 0)
		return r;
	r = apply_locked(ctx, definitions, flags, ret_plan);
	vbus_unlock(ctx);
	return r;
}

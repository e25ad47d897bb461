// SPDX-License-Identifier: LGPL-2.1-or-later
/* apply: make the set of definitions equal to a list, all or nothing, and say what it does. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>

#include "vbus-private.h"

/* A list longer than this is refused before any work: validating 100 000 entries kept vbusd's
 * only thread busy for seconds. */
#define VBUS_APPLY_MAX 16384

enum action {
	ACT_KEEP,
	ACT_DEFINE,
	ACT_MODIFY,
	ACT_UNDEFINE,
	ACT_STOP,
	ACT_START,
};

static const char *const action_names[] = {
    [ACT_KEEP] = "keep",
    [ACT_DEFINE] = "define",
    [ACT_MODIFY] = "modify",
    [ACT_UNDEFINE] = "undefine",
    [ACT_STOP] = "stop",
    [ACT_START] = "start",
};

struct step {
	enum action action;
	struct vbus_def *want; /* the definition to store (define, modify, keep) */
	struct vbus_def *old;  /* what is stored now (modify, undefine, keep); NULL if damaged */
	bool parent_absent;
	/* --now: vbus started the device of this undefined definition (stop it), or this
	 * definition's device is to be started; its plan entry, for the error. */
	bool stop, start;
	struct json_object *now_entry;
	/* --now: the device was not (start) or was (stop) in the kind's dump under this hold of
	 * the lock. */
	bool absent, present;
	/* --now, stop: the run record read to decide it, handed to the stop (vbus_stop_run()). */
	struct vbus_run run;
	/* A template (lib/select.c): the devices it makes now, as the plan shows them. */
	struct json_object *devices;
};

static void steps_free(struct step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		vbus_def_free(steps[i].want);
		vbus_def_free(steps[i].old);
		json_object_put(steps[i].devices);
		vbus_run_done(&steps[i].run);
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

/* The plan entry of S; ACTION is S's own, or ACT_STOP/ACT_START (--now). */
static int plan_entry(struct json_object *plan, const struct step *s, enum action action,
		      struct json_object **ret)
{
	const struct vbus_def *d = s->want ?: s->old;
	struct json_object *o = json_object_new_object();

	if (!o)
		return -ENOMEM;
	if (json_object_object_add(o, "action", json_object_new_string(action_names[action])) <
		0 ||
	    json_object_object_add(o, "name", json_object_new_string(d->name)) < 0 ||
	    json_object_object_add(o, "kind",
				   json_object_new_string(vbus_kind_to_string(d->kind))) < 0 ||
	    json_object_object_add(o, "parent", json_object_new_string(d->parent)) < 0 ||
	    json_object_object_add(o, "parent_present",
				   s->action == ACT_UNDEFINE
				       ? NULL
				       : json_object_new_boolean(!s->parent_absent)) < 0 ||
	    (s->devices && action != ACT_UNDEFINE && action != ACT_STOP &&
	     json_object_object_add(o, "devices", json_object_get(s->devices)) < 0) ||
	    json_object_array_add(plan, o) < 0) {
		json_object_put(o);
		return -ENOMEM;
	}
	if (ret)
		*ret = o;
	return 0;
}

/* What makes two entries of the list one device, as a key in *ret: an mdev uuid (any case), a
 * VF or SF index of a parent, a PCI function; NULL when none of these applies. */
static int device_key(const struct vbus_def *d, char **ret)
{
	char *k = NULL;
	int r = 0;

	if (vbus_def_is_template(d)) {
		/* Its devices are checked one by one (check_template_devices()). */
	} else if (d->kind == VBUS_KIND_MDEV && d->uuid) {
		r = asprintf(&k, "mdev|%s", d->uuid);
		for (char *c = k; r >= 0 && *c; c++)
			*c = tolower((unsigned char)*c);
	} else if (d->kind == VBUS_KIND_VF || d->kind == VBUS_KIND_SF)
		r = asprintf(&k, "%s|%s|%" PRId64, vbus_kind_to_string(d->kind), d->parent,
			     d->index);
	else if (d->kind == VBUS_KIND_PCI)
		r = asprintf(&k, "pci|%s", d->parent);
	if (r < 0)
		return -ENOMEM;
	*ret = k;
	return 0;
}

/* The index stored under KEY in SEEN, or -1; else stores I there. */
static int64_t seen_before(struct json_object *seen, const char *key, size_t i, int *r)
{
	struct json_object *v;

	if (json_object_object_get_ex(seen, key, &v))
		return json_object_get_int64(v);
	v = json_object_new_int64(i);
	if (!v || json_object_object_add(seen, key, v) < 0) {
		json_object_put(v);
		*r = -ENOMEM;
	}
	return -1;
}

/* Two entries of the list that are one device (or one name): refused before anything. Maps
 * of names and device keys, since a list may hold thousands of entries; the entry reported is
 * the first that clashes with an earlier one (and that earlier one: the first it clashes with). */
static int check_list_duplicates(struct vbus_ctx *ctx, struct vbus_def **want, size_t n)
{
	_cleanup_json_ struct json_object *names = json_object_new_object();
	_cleanup_json_ struct json_object *devices = json_object_new_object();
	int r = 0;

	if (!names || !devices)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *key = NULL;
		int64_t by_name, by_device = -1;

		r = device_key(want[i], &key);
		if (r < 0)
			return r;
		by_name = seen_before(names, want[i]->name, i, &r);
		if (key)
			by_device = seen_before(devices, key, i, &r);
		if (r < 0)
			return r;
		if (by_name >= 0 && (by_device < 0 || by_name <= by_device))
			return vbus_error(ctx, -EEXIST, "'%s' is listed twice", want[i]->name);
		if (by_device >= 0)
			return vbus_error(ctx, -EEXIST, "'%s' and '%s' are the same device",
					  want[by_device]->name, want[i]->name);
	}
	return 0;
}

/* The devices of the list's templates are devices like the others: none may be another
 * entry's device, or have its name. */
static int check_template_devices(struct vbus_ctx *ctx, struct step *steps, size_t n)
{
	struct vbus_def **all = NULL;
	size_t n_all = 0;
	bool any = false;
	int r = 0;

	for (size_t i = 0; i < n && !any; i++)
		any = vbus_def_is_template(steps[i].want);
	if (!any)
		return 0;
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct vbus_def **gen = NULL, **a;
		size_t n_gen = 0;

		if (vbus_def_is_template(steps[i].want)) {
			r = vbus_select_expand(ctx, steps[i].want, &gen, &n_gen);
		} else {
			gen = calloc(2, sizeof(*gen));
			r = gen ? vbus_def_dup(steps[i].want, &gen[0]) : -ENOMEM;
			n_gen = r >= 0;
		}
		if (r < 0) {
			vbus_defs_free(gen, n_gen);
			break;
		}
		a = realloc(all, (n_all + n_gen + 1) * sizeof(*all));
		if (!a) {
			vbus_defs_free(gen, n_gen);
			r = -ENOMEM;
			break;
		}
		all = a;
		if (n_gen)
			memcpy(all + n_all, gen, n_gen * sizeof(*gen));
		n_all += n_gen;
		free(gen);
	}
	if (r >= 0)
		r = check_list_duplicates(ctx, all, n_all);
	vbus_defs_free(all, n_all);
	return r;
}

static int prepare(struct vbus_ctx *ctx, struct vbus_def *def, bool *ret_absent,
		   struct json_object **ret_devices)
{
	const struct vbus_backend *be;
	int r;

	if (vbus_def_is_template(def)) {
		r = vbus_select_prepare(ctx, def, ret_devices);
		if (r >= 0)
			*ret_absent = r > 0;
		return r < 0 ? r : 0;
	}

	r = vbus_def_validate(ctx, def);
	if (r < 0)
		return r;
	vbus_uuid_lower(def->uuid);
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
	if (vbus_stack_ref(def)) {
		/* Checked where its parent definition runs now; its reference against the new set
		 * (apply_locked()). */
		_cleanup_def_ struct vbus_def *res = NULL;

		r = vbus_stack_resolve(ctx, def, &res);
		if (r == -ENOENT) /* its parent is new in this set */
			r = -ENODEV;
		if (r >= 0)
			r = vbus_plain_cause(ctx, res, be->check(ctx, res));
	} else {
		r = vbus_plain_cause(ctx, def, be->check(ctx, def));
	}
	if (r == -ENODEV) {
		vbus_error_clear(ctx);
		*ret_absent = true;
		return 0;
	}
	return r;
}

/* The files the steps change, for the journal: "NAME.json" of each define, modify, undefine. */
static int changed_files(struct step *steps, size_t n, char ***ret, size_t *ret_n)
{
	char **files = calloc(n + 1, sizeof(*files));
	size_t k = 0;

	if (!files)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (steps[i].action == ACT_KEEP)
			continue;
		if (asprintf(&files[k], "%s.json", (steps[i].want ?: steps[i].old)->name) < 0) {
			for (size_t j = 0; j < k; j++)
				free(files[j]);
			free(files);
			return -ENOMEM;
		}
		k++;
	}
	*ret = files;
	*ret_n = k;
	return 0;
}

/* Puts back the files the journal names; the first cause is kept. */
static void rollback(struct vbus_ctx *ctx)
{
	char *saved = vbus_error_take(ctx);
	int r = vbus_store_journal_rollback(ctx, ctx->lock_fd);

	if (r < 0)
		warn(ctx, "Could not restore the definitions: %s",
		     vbus_ctx_last_error(ctx) ?: strerror(-r));
	vbus_error_restore(ctx, saved);
}

/* A set of the identities of the active devices of the kinds in KINDS (a mask of 1 << kind),
 * one listing per kind. */
static int active_identities(struct vbus_ctx *ctx, unsigned kinds, struct json_object **ret)
{
	_cleanup_json_ struct json_object *set = json_object_new_object();
	int r;

	if (!set)
		return -ENOMEM;
	for (int k = 0; k < _VBUS_KIND_MAX; k++) {
		const struct vbus_backend *be = vbus_ctx_backend(ctx, k);
		_cleanup_json_ struct json_object *devices = NULL;

		if (!(kinds & (1u << k)) || !be || !be->list_active)
			continue;
		devices = json_object_new_array();
		if (!devices)
			return -ENOMEM;
		r = be->list_active(ctx, devices);
		if (r < 0)
			return r;
		for (size_t i = 0; i < json_object_array_length(devices); i++) {
			_cleanup_free_ char *id =
			    vbus_active_identity(json_object_array_get_idx(devices, i));

			if (id && json_object_object_add(set, id, NULL) < 0)
				return -ENOMEM;
		}
	}
	*ret = TAKE_PTR(set);
	return 0;
}

/* A device this apply stops is not active for the definitions it starts: a new definition of
 * the same device (a VF of an undefined template, now defined by itself) starts it again after
 * the stop. Drops their identities from ACTIVE. */
static int forget_stopped(struct vbus_ctx *ctx, struct step *steps, size_t n,
			  struct json_object *active)
{
	for (size_t i = 0; i < n; i++) {
		struct vbus_def **gen = NULL;
		size_t n_gen = 0;
		int r;

		if (!steps[i].stop)
			continue;
		if (!vbus_def_is_template(steps[i].old)) {
			_cleanup_free_ char *id = vbus_def_identity(steps[i].old);

			if (id)
				json_object_object_del(active, id);
			continue;
		}
		r = vbus_select_expand(ctx, steps[i].old, &gen, &n_gen);
		if (r < 0) {
			/* What cannot be expanded now stops nothing either. */
			vbus_error_clear(ctx);
			continue;
		}
		for (size_t j = 0; j < n_gen; j++) {
			_cleanup_free_ char *id = vbus_def_identity(gen[j]);

			if (id)
				json_object_object_del(active, id);
		}
		vbus_defs_free(gen, n_gen);
	}
	return 0;
}

/* KIND's list_active() shows every device of the kind that exists (status_in_list). */
static bool complete_listing(struct vbus_ctx *ctx, enum vbus_kind kind)
{
	const struct vbus_backend *be = vbus_ctx_backend(ctx, kind);

	return be && be->list_active && be->status_in_list;
}

/* --now: marks the devices to stop (those vbus started for a definition it undefines: they
 * have a run record) and to start (start:auto, parent present, not active, or stopped by this
 * apply). */
static int plan_now(struct vbus_ctx *ctx, struct step *steps, size_t n)
{
	_cleanup_json_ struct json_object *active = NULL;
	unsigned kinds = 0, stop_kinds = 0;
	int r;

	for (size_t i = 0; i < n; i++) {
		struct step *s = &steps[i];

		if (s->action == ACT_UNDEFINE && vbus_def_is_template(s->old)) {
			s->stop = true; /* those of its devices that vbus started */
		} else if (s->action == ACT_UNDEFINE) {
			struct vbus_run run = {};

			r = vbus_run_load(ctx, s->old->name, &run);
			if (r == -ENOENT)
				continue;
			if (r < 0)
				return r;
			s->stop = !run.transient && vbus_run_is_live(ctx, &run);
			if (s->stop) {
				s->run = run;
				if (!run.stacked_on && complete_listing(ctx, run.def->kind))
					stop_kinds |= 1u << run.def->kind;
			} else
				vbus_run_done(&run);
		} else if (s->want->start == VBUS_START_AUTO && !s->parent_absent)
			kinds |= 1u << s->want->kind;
	}
	if (!(kinds | stop_kinds))
		return 0;
	r = active_identities(ctx, kinds | stop_kinds, &active);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct step *s = &steps[i];
		_cleanup_free_ char *id = NULL;

		if (!s->stop || !s->run.def || s->run.stacked_on ||
		    !(stop_kinds & (1u << s->run.def->kind)))
			continue;
		id = vbus_def_identity(s->run.def);
		if (!id)
			return -ENOMEM;
		s->present = json_object_object_get_ex(active, id, NULL);
	}
	/* What the dump did not show is absent for its start, which then asks the kernel nothing
	 * before it creates (a device this apply stops is not: its stop may fail). Only kinds
	 * whose listing is complete. */
	for (size_t i = 0; i < n; i++) {
		struct step *s = &steps[i];
		_cleanup_free_ char *id = NULL;

		if (s->action == ACT_UNDEFINE || s->want->start != VBUS_START_AUTO ||
		    s->parent_absent || vbus_def_is_template(s->want) || vbus_stack_ref(s->want))
			continue;
		if (!complete_listing(ctx, s->want->kind))
			continue;
		id = vbus_def_identity(s->want);
		if (!id)
			return -ENOMEM;
		s->absent = !json_object_object_get_ex(active, id, NULL);
	}
	r = forget_stopped(ctx, steps, n, active);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct step *s = &steps[i];
		_cleanup_free_ char *id = NULL;

		if (s->action == ACT_UNDEFINE || s->want->start != VBUS_START_AUTO ||
		    s->parent_absent)
			continue;
		if (vbus_def_is_template(s->want)) {
			s->start = true; /* each of its devices that is not active */
			continue;
		}
		id = vbus_def_identity(s->want);
		if (!id)
			return -ENOMEM;
		s->start = !json_object_object_get_ex(active, id, NULL);
	}
	return 0;
}

/* --now for a template: stops (STOP) its devices vbus started, or starts those not active;
 * the first failure stops it, *RET_NAME names that device. */
static int now_template(struct vbus_ctx *ctx, const struct vbus_def *tmpl, bool stop,
			char failed_name[static 65])
{
	struct vbus_def **gen = NULL;
	size_t n = 0;
	int r;

	r = vbus_select_expand(ctx, tmpl, &gen, &n);
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct vbus_run run = {};

		if (stop) {
			if (vbus_run_load(ctx, gen[i]->name, &run) < 0) {
				vbus_error_clear(ctx);
				continue;
			}
			vbus_run_done(&run);
		}
		r = stop ? vbus_stop(ctx, gen[i]->name) : vbus_start(ctx, gen[i]->name);
		if (r == -EALREADY)
			r = 0;
		if (r < 0) {
			snprintf(failed_name, 65, "%s", gen[i]->name);
		}
	}
	vbus_defs_free(gen, n);
	return r;
}

/* --now: stops, then starts, each failure noted in its plan entry; the others go on.
 * *ret_failed: a device failed (not this function: the plan is then worth returning). */
static int act_now(struct vbus_ctx *ctx, struct step *steps, size_t n, bool *ret_failed)
{
	_cleanup_free_ char *first = NULL;
	char failed_name[65];
	unsigned n_failed = 0;
	int first_r = 0;

	for (int a = ACT_STOP; a <= ACT_START; a++)
		for (size_t i = 0; i < n; i++) {
			struct step *s = &steps[i];
			const char *name = (s->want ?: s->old)->name, *cause;
			int r;

			if (!(a == ACT_STOP ? s->stop : s->start))
				continue;
			if (vbus_def_is_template(s->want ?: s->old)) {
				r = now_template(ctx, s->want ?: s->old, a == ACT_STOP, failed_name);
				if (r < 0)
					name = failed_name;
			} else
				r = a == ACT_STOP ? vbus_stop_run(ctx, &s->run, s->present)
						  : vbus_start_def(ctx, s->want ?: s->old, s->absent);
			/* Gone or come meanwhile (a stale record, vbusd was quicker): nothing to do. */
			if (r >= 0 || r == -EALREADY)
				continue;
			cause = vbus_ctx_last_error(ctx) ?: strerror(-r);
			if (json_object_object_add(s->now_entry, "error",
						   json_object_new_string(cause)) < 0)
				return -ENOMEM;
			if (n_failed++ == 0) {
				first_r = r;
				if (asprintf(&first, "'%s' did not %s: %s", name, action_names[a],
					     cause) < 0)
					return -ENOMEM;
			}
		}
	*ret_failed = n_failed > 0;
	if (n_failed > 1)
		return vbus_error(ctx, first_r, "%s, and %u more failed", first, n_failed - 1);
	if (n_failed)
		return vbus_error(ctx, first_r, "%s", first);
	return 0;
}

static int apply_locked(struct vbus_ctx *ctx, struct json_object *list, unsigned flags,
			struct json_object **ret_plan)
{
	_cleanup_json_ struct json_object *plan = NULL, *by_name = NULL;
	struct vbus_def **stored = NULL, **want = NULL;
	struct json_object *v;
	bool failed = false, journal = false;
	size_t n_stored = 0, n_want = 0, n_steps = 0;
	struct step *steps = NULL;
	int r;

	if (!json_object_is_type(list, json_type_array))
		return vbus_error(ctx, -EINVAL, "apply needs a JSON array of definitions");
	n_want = json_object_array_length(list);
	if (n_want > VBUS_APPLY_MAX)
		return vbus_error(ctx, -E2BIG, "the list holds %zu definitions (at most %d)", n_want,
				  VBUS_APPLY_MAX);
	want = calloc(n_want + 1, sizeof(*want));
	plan = json_object_new_array();
	if (!want || !plan) {
		free(want);
		return -ENOMEM;
	}
	r = vbus_store_load_files(ctx, true, &stored, &n_stored);
	if (r < 0)
		goto out;
	steps = calloc(n_want + n_stored + 1, sizeof(*steps));
	by_name = json_object_new_object();
	if (!steps || !by_name) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t j = 0; j < n_stored; j++) {
		v = json_object_new_int64(j);
		if (!v || json_object_object_add(by_name, stored[j]->name, v) < 0) {
			json_object_put(v);
			r = -ENOMEM;
			goto out;
		}
	}

	/* 1. Validate everything: a refusal anywhere changes nothing anywhere. */
	for (size_t i = 0; i < n_want; i++) {
		r = vbus_def_from_json(ctx, json_object_array_get_idx(list, i), &want[i]);
		if (r < 0) {
			_cleanup_free_ char *cause = vbus_error_take(ctx);
			struct json_object *name = NULL;

			/* The entry's name too, when it has a valid one. */
			if (json_object_object_get_ex(json_object_array_get_idx(list, i), "name",
						      &name) &&
			    json_object_is_type(name, json_type_string) &&
			    vbus_name_is_valid(json_object_get_string(name)))
				r = vbus_error(ctx, r, "entry %zu ('%s'): %s", i + 1,
					       json_object_get_string(name), cause ?: strerror(-r));
			else
				r = vbus_error(ctx, r, "entry %zu: %s", i + 1, cause ?: strerror(-r));
			goto out;
		}
	}
	r = check_list_duplicates(ctx, want, n_want);
	if (r < 0)
		goto out;
	/* "@NAME" parents name definitions of the new set. */
	for (size_t i = 0; i < n_want && r >= 0; i++)
		r = vbus_stack_check(ctx, want[i], want, n_want);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n_want; i++) {
		struct step *s = &steps[n_steps++];
		int exists;

		s->want = want[i];
		want[i] = NULL;
		if (json_object_object_get_ex(by_name, s->want->name, &v))
			s->old = TAKE_PTR(stored[json_object_get_int64(v)]);
		/* The same device keeps its uuid when the list does not name one. */
		if (s->old && s->want->kind == VBUS_KIND_MDEV && s->old->kind == VBUS_KIND_MDEV &&
		    !s->want->uuid && s->old->uuid) {
			s->want->uuid = strdup(s->old->uuid);
			if (!s->want->uuid) {
				r = -ENOMEM;
				goto out;
			}
		}
		r = prepare(ctx, s->want, &s->parent_absent, &s->devices);
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
	r = check_template_devices(ctx, steps, n_steps);
	if (r < 0)
		goto out;
	for (size_t j = 0; j < n_stored; j++) {
		struct step *s;

		if (!stored[j])
			continue;
		s = &steps[n_steps++];
		s->action = ACT_UNDEFINE;
		s->old = TAKE_PTR(stored[j]);
	}

	if (flags & VBUS_APPLY_NOW) {
		r = plan_now(ctx, steps, n_steps);
		if (r < 0)
			goto out;
	}

	/* 2. The plan, in the order it is carried out: undefine, modify, define (keep), then
	 * with --now stop and start. */
	for (int a = ACT_UNDEFINE; a >= (int)ACT_KEEP; a--)
		for (size_t i = 0; i < n_steps; i++)
			if ((int)steps[i].action == a) {
				r = plan_entry(plan, &steps[i], a, NULL);
				if (r < 0)
					goto out;
			}
	for (int a = ACT_STOP; a <= ACT_START; a++)
		for (size_t i = 0; i < n_steps; i++) {
			struct step *s = &steps[i];

			if (!(a == ACT_STOP ? s->stop : s->start))
				continue;
			r = plan_entry(plan, s, a, &s->now_entry);
			if (r < 0)
				goto out;
		}
	if (flags & VBUS_APPLY_DRY_RUN)
		goto done;

	/* 3. Act, all or nothing even across a crash: a journal of what the files were first;
	 * on failure (or at the next lock after a crash) it puts them back. */
	{
		char **files = NULL;
		size_t n_files = 0;

		r = changed_files(steps, n_steps, &files, &n_files);
		if (r < 0)
			goto out;
		r = n_files ? vbus_store_journal_begin(ctx, files, n_files) : 0;
		for (size_t i = 0; i < n_files; i++)
			free(files[i]);
		free(files);
		if (r < 0)
			goto out;
		journal = n_files > 0;
		ctx->store_defer_sync = journal;
	}
	for (int a = ACT_UNDEFINE; a > (int)ACT_KEEP; a--)
		for (size_t i = 0; i < n_steps; i++) {
			struct step *s = &steps[i];

			if ((int)s->action != a)
				continue;
			r = a == ACT_UNDEFINE ? vbus_store_remove(ctx, s->old->name)
					      : vbus_store_save(ctx, s->want);
			if (r < 0) {
				rollback(ctx);
				goto out;
			}
			info(ctx, "%s '%s'",
			     a == ACT_UNDEFINE ? "Undefined"
			     : a == ACT_MODIFY ? "Modified"
					       : "Defined",
			     (s->want ?: s->old)->name);
		}

	if (journal) {
		ctx->store_defer_sync = false;
		r = vbus_store_journal_commit(ctx);
		if (r < 0) {
			rollback(ctx);
			goto out;
		}
	}

	/* A start of an undefined device that died before the kernel made it left a record
	 * that names nothing: it goes with its definition. */
	for (size_t i = 0; i < n_steps; i++)
		if (steps[i].action == ACT_UNDEFINE && !steps[i].stop &&
		    !vbus_def_is_template(steps[i].old))
			vbus_run_drop_stale(ctx, steps[i].old->name);

	/* 4. --now: the definitions stay whatever happens to the devices. */
	r = act_now(ctx, steps, n_steps, &failed);
	if (r < 0 && failed) {
		*ret_plan = TAKE_PTR(plan);
		goto out;
	}
	if (r < 0)
		goto out;
done:
	*ret_plan = TAKE_PTR(plan);
	r = 0;
out:
	ctx->store_defer_sync = false;
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
	/* A dry run writes nothing, the CDI specs included (vbus_unlock() would sync them). */
	if (flags & VBUS_APPLY_DRY_RUN)
		ctx->cdi_synced_gen = ctx->lock_gen;
	r = apply_locked(ctx, definitions, flags, ret_plan);
	vbus_unlock(ctx);
	return r;
}

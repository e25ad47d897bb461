// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * NodePrepareResources / NodeUnprepareResources: each claim's allocation read from the API
 * server, its devices made present and bound through vbusd, what was done recorded in the
 * checkpoint before the answer, and undone exactly by unprepare. One claim's failure is its
 * own answer; a claim is prepared whole or not at all (what it did is rolled back).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "plugin.h"

static char *fmt(const char *f, ...) _printf_(1, 2);
static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	if (vasprintf(&s, f, ap) < 0)
		s = NULL;
	va_end(ap);
	return s ?: strdup("out of memory");
}

static struct json_object *claims_of(struct dra *d)
{
	return json_object_object_get(d->checkpoint, "claims");
}

static struct json_object *get_path(struct json_object *o, const char *const *keys)
{
	for (; o && *keys; keys++)
		if (!json_object_object_get_ex(o, *keys, &o))
			return NULL;
	return o;
}

static char **strv_from_json(struct json_object *a)
{
	size_t n = json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
	char **v = calloc(n + 1, sizeof(char *));

	for (size_t i = 0; v && i < n; i++)
		v[i] = strdup(json_object_get_string(json_object_array_get_idx(a, i)));
	return v;
}

/* The answer of a prepared claim, from its checkpoint record. */
static void answer_from_record(struct dra *d, struct json_object *rec, struct dra_claim_answer *a)
{
	struct json_object *devs = json_object_object_get(rec, "devices");
	size_t n = json_object_array_length(devs);

	a->devices = calloc(n ?: 1, sizeof(*a->devices));
	if (!a->devices) {
		a->error = strdup("out of memory");
		return;
	}
	a->n_devices = n;
	for (size_t i = 0; i < n; i++) {
		struct json_object *dev = json_object_array_get_idx(devs, i);

		a->devices[i].requests = strv_from_json(json_object_object_get(dev, "requests"));
		a->devices[i].pool = strdup(d->node);
		a->devices[i].device = strdup(dra_json_str(dev, "device") ?: "");
		a->devices[i].cdi_ids = strv_from_json(json_object_object_get(dev, "cdi"));
	}
}

static int save(struct dra *d, char **ret_error)
{
	_cleanup_free_ char *error = NULL;
	int r = checkpoint_save(d->checkpoint_path, d->checkpoint, &error);

	if (r < 0)
		*ret_error = fmt("%s", error ?: strerror(-r));
	return r;
}

/* The CDI id of vbus device NAME in the spec of CLASS ("vfio", "vhost-vdpa") vbusd keeps. */
static char *cdi_id(struct dra *d, const char *class, const char *name)
{
	_cleanup_free_ char *path = NULL, *cdi = NULL;
	_cleanup_json_ struct json_object *spec = NULL;
	struct json_object *devs;

	if (dra_cdi_name(name, &cdi) < 0)
		return NULL;
	if (d->cdi_root ? asprintf(&path, "%s/vbus.dev-%s.json", d->cdi_root, class) < 0
			: asprintf(&path, "%s/var/run/cdi/vbus.dev-%s.json",
				   !d->root || streq(d->root, "/") ? "" : d->root, class) < 0)
		return NULL;
	spec = json_object_from_file(path);
	devs = json_object_object_get(spec, "devices");
	for (size_t i = 0; devs && i < json_object_array_length(devs); i++)
		if (streq_ptr(dra_json_str(json_object_array_get_idx(devs, i), "name"), cdi))
			return fmt("vbus.dev/%s=%s", class, cdi);
	return NULL;
}

/* Our opaque config's driver choice; *RET_DRIVER untouched when it names none. */
static int parse_config(struct json_object *params, const char **ret_driver, char **ret_error)
{
	struct json_object_iterator it, end;

	if (!json_object_is_type(params, json_type_object)) {
		*ret_error = fmt("opaque parameters for the driver are not a JSON object");
		return -EINVAL;
	}
	if (!streq_ptr(dra_json_str(params, "apiVersion"), "vbus.dev/v1") ||
	    !streq_ptr(dra_json_str(params, "kind"), "DeviceConfig")) {
		*ret_error = fmt("opaque parameters must have apiVersion vbus.dev/v1 and kind "
				 "DeviceConfig");
		return -EINVAL;
	}
	it = json_object_iter_begin(params);
	end = json_object_iter_end(params);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *k = json_object_iter_peek_name(&it);

		if (streq(k, "apiVersion") || streq(k, "kind"))
			continue;
		if (streq(k, "driver")) {
			const char *v = dra_json_str(params, "driver");

			if (!v || !*v) {
				*ret_error =
				    fmt("DeviceConfig \"driver\" must be a non-empty string");
				return -EINVAL;
			}
			*ret_driver = v;
			continue;
		}
		*ret_error = fmt("DeviceConfig has an unknown field \"%s\"", k);
		return -EINVAL;
	}
	return 0;
}

static bool request_matches(struct json_object *requests, const char *request)
{
	size_t n =
	    json_object_is_type(requests, json_type_array) ? json_object_array_length(requests) : 0;

	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++) {
		const char *r = json_object_get_string(json_object_array_get_idx(requests, i));
		size_t len = strlen(r);

		/* "req" also covers the sub-requests "req/sub" of firstAvailable. */
		if (streq(r, request) || (strncmp(r, request, len) == 0 && request[len] == '/'))
			return true;
	}
	return false;
}

/* Whether another claim than UID holds vbus device NAME in the checkpoint. */
static bool held_elsewhere(struct dra *d, const char *uid, const char *name)
{
	json_object_object_foreach (claims_of(d), k, rec) {
		struct json_object *devs = json_object_object_get(rec, "devices");

		if (streq(k, uid))
			continue;
		for (size_t i = 0; i < json_object_array_length(devs); i++)
			if (streq_ptr(dra_json_str(json_object_array_get_idx(devs, i), "name"),
				      name))
				return true;
	}
	return false;
}

/* Undoes what the record DEV says prepare did (a device of claim UID). */
static int undo_device(struct dra *d, const char *uid, struct json_object *dev, char **ret_error)
{
	const char *name = dra_json_str(dev, "name"), *prev = dra_json_str(dev, "previous_driver");
	_cleanup_free_ char *error = NULL;
	int r;

	if (!name)
		return 0;
	if (held_elsewhere(d, uid, name)) {
		log_info("'%s' stays: another claim holds it", name);
		return 0;
	}
	if (dra_json_bool(dev, "created")) {
		r = vbusd_call(d, "Remove", name, NULL, &error);
		/* -ENOENT: not made after all (a crash between record and call), or gone */
		if (r < 0 && r != -ENOENT) {
			*ret_error = fmt("Cannot remove '%s': %s", name, error ?: strerror(-r));
			return r;
		}
		log_info("Removed '%s' (claim %s)", name, uid);
		return 0;
	}
	if (dra_json_bool(dev, "started")) {
		r = vbusd_call(d, "Stop", name, NULL, &error);
		/* A device that was there before, whose recorded Start never happened (a crash
		 * between record and call): vbus did not start it, nothing to undo. */
		if (r == -EBUSY && dra_json_bool(dev, "was_active"))
			r = 0;
		if (r < 0 && r != -EALREADY) {
			*ret_error = fmt("Cannot stop '%s': %s", name, error ?: strerror(-r));
			return r;
		}
		log_info("Stopped '%s' (claim %s)", name, uid);
	}
	if (prev) {
		free(error);
		error = NULL;
		r = vbusd_call(d, "Assign", name, prev, &error);
		if (r < 0 && r != -EALREADY) {
			*ret_error = fmt("Cannot give '%s' its driver '%s' back: %s", name, prev,
					 error ?: strerror(-r));
			return r;
		}
		log_info("Assigned '%s' its driver '%s' again (claim %s)", name, prev, uid);
	}
	return 0;
}

/* Undoes the devices of REC from the last; those undone leave REC. */
static int undo_record(struct dra *d, const char *uid, struct json_object *rec, char **ret_error)
{
	struct json_object *devs = json_object_object_get(rec, "devices");

	for (size_t i = json_object_array_length(devs); i > 0; i--) {
		int r = undo_device(d, uid, json_object_array_get_idx(devs, i - 1), ret_error);

		if (r < 0)
			return r;
		json_object_array_del_idx(devs, i - 1, 1);
	}
	return 0;
}

/* Makes vbus device ENTRY present and bound to WANT (NULL: its definition's choice); fills
 * DEV with what was done. */
static int prepare_device(struct dra *d, struct json_object *entry, const char *want,
			  struct json_object *dev, char **ret_error)
{
	const char *name = dra_json_str(entry, "name"), *choice = dra_json_str(entry, "driver");
	const char *wanted = dra_json_str(entry, "wanted_driver");
	const char *bound = dra_json_str(entry, "bound_driver");
	_cleanup_free_ char *error = NULL;
	bool active = dra_json_bool(entry, "active"), assigned = false;
	int r;

	/* Each step is recorded before it is asked for (a crash in between leaves a record that
	 * the next prepare or unprepare undoes, instead of a device nobody knows of). */
	if (want && !streq_ptr(want, choice) && !streq_ptr(want, wanted)) {
		json_object_object_add(dev, "previous_driver",
				       json_object_new_string(choice ?: "auto"));
		r = save(d, ret_error);
		if (r < 0)
			return r;
		r = vbusd_call(d, "Assign", name, want, &error);
		if (r < 0 && r != -EALREADY) {
			json_object_object_del(dev, "previous_driver");
			*ret_error = fmt("Cannot assign '%s' to driver '%s': %s", name, want,
					 error ?: strerror(-r));
			return r;
		}
		assigned = true;
		log_info("Assigned '%s' to '%s' (was '%s')", name, want, choice ?: "auto");
	}
	if (!active || (!assigned && !streq_ptr(bound, wanted))) {
		/* vbusd records what its Start did (made the device, or only bound it and which
		 * driver it had), and its Stop undoes exactly that: so does unprepare. */
		json_object_object_add(dev, "started", json_object_new_boolean(true));
		if (active)
			json_object_object_add(dev, "was_active", json_object_new_boolean(true));
		r = save(d, ret_error);
		if (r < 0)
			return r;
		free(error);
		error = NULL;
		r = vbusd_call(d, "Start", name, NULL, &error);
		if (r < 0) {
			json_object_object_del(dev, "started");
			json_object_object_del(dev, "was_active");
		}
		if (r < 0 && r != -EALREADY) {
			*ret_error = fmt("Cannot start '%s': %s", name, error ?: strerror(-r));
			return r;
		}
		if (r >= 0)
			log_info("Started '%s'%s", name, active ? " (bound it to its driver)" : "");
	}
	return 0;
}

/* Makes the device NAME that could exist (POT: kind, parent, type), transient, with WANT as
 * its driver when given; DEV records it as created. */
static int create_device(struct dra *d, const char *name, struct json_object *pot, const char *want,
			 struct json_object *listing, struct json_object *dev, char **ret_error)
{
	_cleanup_json_ struct json_object *def = json_object_new_object();
	_cleanup_free_ char *error = NULL;
	int r;

	if (!def)
		return -ENOMEM;
	json_object_object_add(def, "name", json_object_new_string(name));
	json_object_object_foreach (pot, k, v)
		json_object_object_add(def, k, json_object_get(v));
	if (want)
		json_object_object_add(def, "driver", json_object_new_string(want));
	json_object_object_add(dev, "created", json_object_new_boolean(true));
	r = save(d, ret_error);
	if (r < 0)
		return r;
	const char *kind = dra_json_str(pot, "kind") ?: "", *type = dra_json_str(pot, "type");
	const char *parent = dra_json_str(pot, "parent") ?: "";
	bool sf = streq(kind, "sf");
	int64_t sfnum = -1;

	/* An SF is made with an SF number none of the parent's SFs in the listing has; a port
	 * vbusd has not seen (made by hand with devlink, inactive) makes the kernel refuse it
	 * (EEXIST): then the next one, a few times. */
	for (int attempt = 0;; attempt++) {
		if (sf) {
			sfnum = dra_free_sfnum(listing, parent, sfnum + 1);
			json_object_object_add(def, "index", json_object_new_int64(sfnum));
		}
		free(error);
		error = NULL;
		r = vbusd_create(d, def, 1 /* transient */, &error);
		if (r != -EEXIST || !sf || attempt >= DRA_SFNUM_TRIES - 1)
			break;
		log_debug("SF number %" PRId64 " of %s is in use: trying the next one", sfnum,
			  parent);
	}
	if (r < 0) {
		json_object_object_del(dev, "created");
		*ret_error = fmt("Cannot create '%s' (%s%s%s on %s): %s", name, kind,
				 type ? " " : "", type ?: "", parent, error ?: strerror(-r));
		return r;
	}
	log_info("Created '%s' (%s%s%s on %s)", name, kind, type ? " " : "", type ?: "", parent);
	return 0;
}

static void prepare_claim(struct dra *d, const struct dra_claim_ref *c, struct dra_claim_answer *a)
{
	static const char *const alloc_results[] = {"status", "allocation", "devices", "results",
						    NULL};
	static const char *const alloc_config[] = {"status", "allocation", "devices", "config",
						   NULL};
	_cleanup_json_ struct json_object *claim = NULL, *listing = NULL, *rec = NULL;
	_cleanup_free_ char *path = NULL, *error = NULL;
	struct json_object *results, *configs, *devs;
	long status = 0;
	int r;

	/* Prepared already: the same answer, nothing done again. */
	rec = json_object_get(json_object_object_get(claims_of(d), c->uid));
	if (rec && !dra_json_bool(rec, "failed")) {
		answer_from_record(d, rec, a);
		return;
	}
	/* A prepare that failed and could not undo all it did: undo the rest first. */
	if (rec) {
		if (undo_record(d, c->uid, rec, &error) < 0) {
			a->error = fmt("ResourceClaim %s/%s: %s", c->ns, c->name, error);
			free(TAKE_PTR(error));
			(void)save(d, &error);
			return;
		}
		json_object_object_del(claims_of(d), c->uid);
		json_object_put(TAKE_PTR(rec));
		free(error);
		error = NULL;
		if (save(d, &error) < 0) {
			a->error = TAKE_PTR(error);
			return;
		}
	}

	if (asprintf(&path, "/apis/resource.k8s.io/v1/namespaces/%s/resourceclaims/%s", c->ns,
		     c->name) < 0) {
		a->error = strdup("out of memory");
		return;
	}
	r = kube_request(&d->kube, "GET", path, NULL, &status, &claim, &error);
	if (r < 0) {
		a->error = fmt("Cannot read ResourceClaim %s/%s: %s", c->ns, c->name,
			       error ?: strerror(-r));
		return;
	}
	if (status != 200) {
		_cleanup_free_ char *m = kube_status_message(status, claim);

		a->error = fmt("Cannot read ResourceClaim %s/%s: %s", c->ns, c->name, m ?: "");
		return;
	}
	const char *uid = dra_json_str(json_object_object_get(claim, "metadata"), "uid");
	if (!streq_ptr(uid, c->uid)) {
		a->error = fmt("ResourceClaim %s/%s has uid %s, not %s (it was replaced)", c->ns,
			       c->name, uid ?: "(none)", c->uid);
		return;
	}
	results = get_path(claim, alloc_results);
	configs = get_path(claim, alloc_config);
	if (!results) {
		a->error = fmt("ResourceClaim %s/%s is not allocated", c->ns, c->name);
		return;
	}

	r = vbusd_list(d, NULL, &listing, &error);
	if (r < 0) {
		a->error = fmt("Cannot list the devices of vbusd: %s", error ?: strerror(-r));
		return;
	}
	/* label -> listing entry */
	_cleanup_json_ struct json_object *by_label = json_object_new_object();
	for (size_t i = 0; by_label && i < json_object_array_length(listing); i++) {
		struct json_object *e = json_object_array_get_idx(listing, i);
		_cleanup_free_ char *label = NULL;

		if (!dra_entry_is_managed(e) || !dra_json_str(e, "name") ||
		    dra_device_label(dra_json_str(e, "name"), &label) < 0)
			continue;
		if (!json_object_object_get_ex(by_label, label, NULL))
			json_object_object_add(by_label, label, json_object_get(e));
	}

	rec = json_object_new_object();
	devs = json_object_new_array();
	if (!by_label || !rec || !devs) {
		json_object_put(devs);
		a->error = strdup("out of memory");
		return;
	}
	json_object_object_add(rec, "namespace", json_object_new_string(c->ns));
	json_object_object_add(rec, "name", json_object_new_string(c->name));
	json_object_object_add(rec, "devices", devs);
	/* In the checkpoint from now on, marked unfinished until every device is ready. */
	json_object_object_add(rec, "failed", json_object_new_boolean(true));
	json_object_object_add(claims_of(d), c->uid, json_object_get(rec));

	for (size_t i = 0; i < json_object_array_length(results); i++) {
		struct json_object *res = json_object_array_get_idx(results, i), *entry, *dev;
		const char *request = dra_json_str(res, "request") ?: "";
		const char *label = dra_json_str(res, "device"), *want = NULL;
		char *undo_error = NULL;

		if (!streq_ptr(dra_json_str(res, "driver"), d->driver) ||
		    !streq_ptr(dra_json_str(res, "pool"), d->node))
			continue;
		/* The configs for this request, in order: a later one overrides. */
		for (size_t j = 0; configs && j < json_object_array_length(configs); j++) {
			struct json_object *cf = json_object_array_get_idx(configs, j);
			struct json_object *opaque = json_object_object_get(cf, "opaque");

			if (!opaque || !streq_ptr(dra_json_str(opaque, "driver"), d->driver) ||
			    !request_matches(json_object_object_get(cf, "requests"), request))
				continue;
			free(error);
			error = NULL;
			r = parse_config(json_object_object_get(opaque, "parameters"), &want,
					 &error);
			if (r < 0) {
				a->error = fmt("ResourceClaim %s/%s, request %s: %s", c->ns,
					       c->name, request, error);
				goto rollback;
			}
		}
		if (label && !json_object_object_get_ex(by_label, label, NULL) &&
		    json_object_object_get_ex(d->potential, label, NULL)) {
			/* A device that could exist (--partitionable): made now, transient. */
			dev = json_object_new_object();
			if (!dev || json_object_array_add(devs, dev) < 0) {
				json_object_put(dev);
				a->error = strdup("out of memory");
				goto rollback;
			}
			json_object_object_add(dev, "name", json_object_new_string(label));
			json_object_object_add(dev, "device", json_object_new_string(label));
			struct json_object *rq = json_object_new_array();
			json_object_array_add(rq, json_object_new_string(request));
			json_object_object_add(dev, "requests", rq);
			free(error);
			error = NULL;
			r = create_device(d, label, json_object_object_get(d->potential, label),
					  want, listing, dev, &error);
			if (r < 0) {
				a->error = fmt("ResourceClaim %s/%s: %s", c->ns, c->name, error);
				goto rollback;
			}
			continue;
		}
		if (!label || !json_object_object_get_ex(by_label, label, &entry)) {
			a->error =
			    fmt("ResourceClaim %s/%s: device %s is not a vbus device of node %s",
				c->ns, c->name, label ?: "(none)", d->node);
			goto rollback;
		}
		dev = json_object_new_object();
		if (!dev || json_object_array_add(devs, dev) < 0) {
			json_object_put(dev);
			a->error = strdup("out of memory");
			goto rollback;
		}
		const char *name = dra_json_str(entry, "name");
		json_object_object_add(dev, "name", json_object_new_string(name));
		json_object_object_add(dev, "device", json_object_new_string(label));
		struct json_object *reqs = json_object_new_array();
		json_object_array_add(reqs, json_object_new_string(request));
		json_object_object_add(dev, "requests", reqs);
		free(error);
		error = NULL;
		/* Admin access (monitoring a device others may use): handed over as it is. */
		if (dra_json_bool(res, "adminAccess"))
			continue;
		r = prepare_device(d, entry, want, dev, &error);
		if (r < 0) {
			a->error = fmt("ResourceClaim %s/%s: %s", c->ns, c->name, error);
			goto rollback;
		}
		continue;
	rollback:
		if (undo_record(d, c->uid, rec, &undo_error) < 0) {
			/* What could not be undone stays recorded (unfinished), for the next
			 * prepare or unprepare. */
			char *e = fmt("%s; and %s", a->error, undo_error);

			free(a->error);
			a->error = e;
		} else
			json_object_object_del(claims_of(d), c->uid);
		free(undo_error);
		undo_error = NULL;
		(void)save(d, &undo_error);
		free(undo_error);
		return;
	}

	/* The CDI ids of each device as vbusd's specs name it now. */
	for (size_t i = 0; i < json_object_array_length(devs); i++) {
		struct json_object *dev = json_object_array_get_idx(devs, i), *ids;
		const char *name = dra_json_str(dev, "name");
		char *id;

		ids = json_object_new_array();
		json_object_object_add(dev, "cdi", ids);
		if ((id = cdi_id(d, "vfio", name)) || (id = cdi_id(d, "vhost-vdpa", name))) {
			json_object_array_add(ids, json_object_new_string(id));
			free(id);
		}
	}

	json_object_object_del(rec, "failed");
	free(error);
	error = NULL;
	if (save(d, &error) < 0) {
		char *undo_error = NULL;

		a->error = fmt("Cannot record claim %s: %s", c->uid, error);
		json_object_object_add(rec, "failed", json_object_new_boolean(true));
		if (undo_record(d, c->uid, rec, &undo_error) >= 0)
			json_object_object_del(claims_of(d), c->uid);
		free(undo_error);
		undo_error = NULL;
		(void)save(d, &undo_error);
		free(undo_error);
		return;
	}
	log_info("Prepared ResourceClaim %s/%s (%s): %zu device(s)", c->ns, c->name, c->uid,
		 json_object_array_length(devs));
	answer_from_record(d, rec, a);
}

void claims_prepare(struct dra *d, const struct dra_claim_ref *claims, size_t n,
		    struct dra_claim_answer *answers)
{
	for (size_t i = 0; i < n; i++) {
		prepare_claim(d, &claims[i], &answers[i]);
		if (answers[i].error)
			log_warning("Prepare of ResourceClaim %s/%s (%s) failed: %s", claims[i].ns,
				    claims[i].name, claims[i].uid, answers[i].error);
	}
}

void claims_unprepare(struct dra *d, const struct dra_claim_ref *claims, size_t n,
		      struct dra_claim_answer *answers)
{
	for (size_t i = 0; i < n; i++) {
		const struct dra_claim_ref *c = &claims[i];
		struct json_object *rec = json_object_object_get(claims_of(d), c->uid);
		char *error = NULL;

		/* Unknown (never prepared here, or unprepared already): nothing to undo. */
		if (!rec)
			continue;
		json_object_get(rec);
		if (undo_record(d, c->uid, rec, &error) < 0) {
			answers[i].error = fmt("ResourceClaim %s/%s: %s", c->ns, c->name, error);
			free(error);
			error = NULL;
			(void)save(d, &error);
		} else {
			json_object_object_del(claims_of(d), c->uid);
			if (save(d, &error) < 0)
				answers[i].error = error;
			else
				log_info("Unprepared ResourceClaim %s/%s (%s)", c->ns, c->name,
					 c->uid);
			error = NULL;
		}
		free(error);
		json_object_put(rec);
		if (answers[i].error)
			log_warning("Unprepare of ResourceClaim %s/%s (%s) failed: %s", c->ns,
				    c->name, c->uid, answers[i].error);
	}
}

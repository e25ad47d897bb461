// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * vbus-dra: a Kubernetes DRA kubelet plugin for the devices vbusd manages. It publishes them
 * as ResourceSlices (one pool per node), and prepares and unprepares them for claims through
 * vbusd's org.vbus1 (never libvbus in-process). One event loop does everything; the gRPC
 * threads of server.cc hand their calls to it.
 */
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "plugin.h"

#define VBUS_BUS_NAME "org.vbus1"
#define VBUS_PATH "/org/vbus1"
#define VBUS_MANAGER "org.vbus1.Manager"
#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define RETRY_USEC (5 * 1000000ULL)

static int log_max = 6;

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_max)
		return;
	va_start(ap, fmt);
	fputs("vbus-dra: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- vbusd ---------------------------------------------------------------------------------- */

static char *bus_error_text(const sd_bus_error *e, int r)
{
	char *s;

	if (e && e->message)
		s = strdup(e->message);
	else if (e && e->name)
		s = strdup(e->name);
	else
		s = strdup(strerror(-r));
	return s;
}

/* vbusd's ListDevices: the listing's JSON document in a sealed memfd (org.vbus1(5)). */
int vbusd_list(struct dra *d, const char *name, struct json_object **ret, char **ret_error)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	struct json_tokener *tok;
	struct json_object *o;
	struct stat st;
	char *text = NULL;
	ssize_t n = -1;
	int r, fd = -1;

	r = sd_bus_call_method(d->bus, VBUS_BUS_NAME, VBUS_PATH, VBUS_MANAGER, "ListDevices", &e,
			       &reply, "us", 3u, name ?: "");
	if (r < 0) {
		*ret_error = bus_error_text(&e, r);
		sd_bus_error_free(&e);
		return r;
	}
	r = sd_bus_message_read(reply, "h", &fd);
	if (r >= 0 && (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size >= (1LL << 31)))
		r = -EBADMSG;
	if (r >= 0 && !(text = malloc(st.st_size + 1)))
		r = -ENOMEM;
	if (r >= 0 && (n = pread(fd, text, st.st_size, 0)) != (ssize_t)st.st_size)
		r = -EBADMSG;
	/* The descriptor belongs to the message: read before it goes. */
	sd_bus_message_unref(reply);
	if (r < 0) {
		free(text);
		*ret_error = strdup("bad reply to ListDevices");
		return r;
	}
	text[n] = '\0';
	tok = json_tokener_new_ex(64);
	o = tok ? json_tokener_parse_ex(tok, text, (int)n) : NULL;
	json_tokener_free(tok);
	free(text);
	if (!o || !json_object_is_type(o, json_type_array)) {
		json_object_put(o);
		*ret_error = strdup("ListDevices did not answer a JSON array");
		return -EBADMSG;
	}
	*ret = o;
	return 0;
}

int vbusd_call(struct dra *d, const char *method, const char *name, const char *arg,
	       char **ret_error)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r;

	if (arg)
		r = sd_bus_call_method(d->bus, VBUS_BUS_NAME, VBUS_PATH, VBUS_MANAGER, method, &e,
				       NULL, "ss", name, arg);
	else
		r = sd_bus_call_method(d->bus, VBUS_BUS_NAME, VBUS_PATH, VBUS_MANAGER, method, &e,
				       NULL, "s", name);
	if (r < 0) {
		if (sd_bus_error_has_name(&e, "org.vbus1.Error.AlreadyInState"))
			r = -EALREADY;
		else if (sd_bus_error_has_name(&e, "org.vbus1.Error.NoSuchDevice"))
			r = -ENOENT;
		else if (sd_bus_error_has_name(&e, "org.vbus1.Error.Busy"))
			r = -EBUSY;
		*ret_error = bus_error_text(&e, r);
		sd_bus_error_free(&e);
		return r;
	}
	return 0;
}

int vbusd_create(struct dra *d, struct json_object *definition, unsigned flags, char **ret_error)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL, *reply = NULL;
	int r;

	r = sd_bus_message_new_method_call(d->bus, &m, VBUS_BUS_NAME, VBUS_PATH, VBUS_MANAGER,
					   "Create");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'a', "{sv}");
	json_object_object_foreach (definition, k, v) {
		if (r < 0)
			break;
		if (json_object_is_type(v, json_type_int))
			r = sd_bus_message_append(m, "{sv}", k, "x", json_object_get_int64(v));
		else
			r = sd_bus_message_append(m, "{sv}", k, "s", json_object_get_string(v));
	}
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd_bus_message_append(m, "su", "", flags);
	if (r < 0) {
		sd_bus_message_unref(m);
		*ret_error = strdup(strerror(-r));
		return r;
	}
	r = sd_bus_call(d->bus, m, 0, &e, &reply);
	sd_bus_message_unref(m);
	sd_bus_message_unref(reply);
	if (r < 0) {
		if (sd_bus_error_has_name(&e, "org.vbus1.Error.AlreadyExists"))
			r = -EEXIST;
		*ret_error = bus_error_text(&e, r);
		sd_bus_error_free(&e);
	}
	return r;
}

/* ListTypes("") or ListParents(""): their string keys parent, kind, type and the integer
 * available_instances of each entry. */
static int list_entries(struct dra *d, const char *method, struct json_object **ret,
			char **ret_error)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	struct json_object *a = json_object_new_array();
	int r;

	if (!a)
		return -ENOMEM;
	r = sd_bus_call_method(d->bus, VBUS_BUS_NAME, VBUS_PATH, VBUS_MANAGER, method, &e, &reply,
			       "s", "");
	if (r < 0) {
		*ret_error = bus_error_text(&e, r);
		sd_bus_error_free(&e);
		json_object_put(a);
		return r;
	}
	r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
	while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'a', "{sv}")) > 0) {
		struct json_object *o = json_object_new_object();

		json_object_array_add(a, o);
		while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
			const char *key, *contents, *str;
			int64_t x;
			char type;

			r = sd_bus_message_read(reply, "s", &key);
			if (r >= 0)
				r = sd_bus_message_peek_type(reply, &type, &contents);
			if (r < 0)
				break;
			if (streq(contents, "s") &&
			    (streq(key, "parent") || streq(key, "kind") || streq(key, "type"))) {
				r = sd_bus_message_read(reply, "v", "s", &str);
				json_object_object_add(o, key, json_object_new_string(str));
			} else if (streq(contents, "x") && streq(key, "available_instances")) {
				r = sd_bus_message_read(reply, "v", "x", &x);
				json_object_object_add(o, key, json_object_new_int64(x));
			} else
				r = sd_bus_message_skip(reply, "v");
			if (r >= 0)
				r = sd_bus_message_exit_container(reply);
			if (r < 0)
				break;
		}
		if (r >= 0)
			r = sd_bus_message_exit_container(reply);
	}
	sd_bus_message_unref(reply);
	if (r < 0) {
		json_object_put(a);
		if (asprintf(ret_error, "bad reply to %s", method) < 0)
			*ret_error = NULL;
		return r;
	}
	*ret = a;
	return 0;
}

int vbusd_list_types(struct dra *d, struct json_object **ret, char **ret_error)
{
	return list_entries(d, "ListTypes", ret, ret_error);
}

int vbusd_list_parents(struct dra *d, struct json_object **ret, char **ret_error)
{
	return list_entries(d, "ListParents", ret, ret_error);
}

static int vbusd_root(struct dra *d)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	char *root = NULL;
	int r;

	r = sd_bus_get_property_string(d->bus, VBUS_BUS_NAME, VBUS_PATH, VBUS_MANAGER, "Root", &e,
				       &root);
	if (r < 0) {
		log_warning("Cannot read vbusd's Root: %s", e.message ?: strerror(-r));
		sd_bus_error_free(&e);
		return r;
	}
	free(d->root);
	d->root = root;
	return 0;
}

/* ---- publishing --------------------------------------------------------------------------- */

static int publish_fail(struct dra *d, const char *what, int r, long status,
			struct json_object *reply, const char *error)
{
	_cleanup_free_ char *m = r < 0 ? NULL : kube_status_message(status, reply);

	log_error("Cannot %s: %s", what, r < 0 ? error ?: strerror(-r) : m ?: "");
	return r < 0 ? r : -EIO;
}

/* The Node object as owner of the slices (they go with it), when we may read it. */
static void read_owner(struct dra *d)
{
	_cleanup_json_ struct json_object *node = NULL;
	_cleanup_free_ char *path = NULL, *error = NULL;
	struct json_object *o;
	const char *uid;
	long status = 0;

	if (d->owner_tried)
		return;
	d->owner_tried = true;
	if (asprintf(&path, "/api/v1/nodes/%s", d->node) < 0)
		return;
	if (kube_request(&d->kube, "GET", path, NULL, &status, &node, &error) < 0 ||
	    status != 200) {
		log_debug("No Node %s to own the slices (HTTP %ld)", d->node, status);
		return;
	}
	uid = dra_json_str(json_object_object_get(node, "metadata"), "uid");
	if (!uid)
		return;
	o = json_object_new_object();
	if (!o)
		return;
	json_object_object_add(o, "apiVersion", json_object_new_string("v1"));
	json_object_object_add(o, "kind", json_object_new_string("Node"));
	json_object_object_add(o, "name", json_object_new_string(d->node));
	json_object_object_add(o, "uid", json_object_new_string(uid));
	json_object_object_add(o, "controller", json_object_new_boolean(true));
	d->owner = o;
}

static void check_ready(struct dra *d)
{
	if (d->ready || !d->published_once || !d->grpc)
		return;
	d->ready = true;
	log_msg(0, "ready");
	sd_notify(false, "READY=1\nSTATUS=Publishing and serving the kubelet");
}

static int publish(struct dra *d)
{
	_cleanup_json_ struct json_object *listing = NULL, *devices = NULL, *slices = NULL,
					  *existing = NULL, *names = NULL, *potential = NULL,
					  *counter_sets = NULL, *map = NULL, *all = NULL;
	_cleanup_free_ char *error = NULL, *path = NULL, *sel = NULL, *esc = NULL;
	struct json_object *items;
	const char *text;
	int64_t max_gen = 0;
	long status = 0;
	int r;

	if (!d->vbusd_up)
		return 0;
	r = vbusd_list(d, NULL, &listing, &error);
	if (r < 0) {
		log_error("Cannot list the devices of vbusd: %s", error);
		return r;
	}
	r = dra_devices_build(listing, d->root, &devices, &names);
	if (r < 0)
		return r;
	if (d->partitionable) {
		_cleanup_json_ struct json_object *types = NULL, *parents = NULL, *offers = NULL;

		free(error);
		error = NULL;
		r = vbusd_list_types(d, &types, &error);
		if (r < 0) {
			log_error("Cannot list the types of vbusd: %s", error);
			return r;
		}
		free(error);
		error = NULL;
		r = vbusd_list_parents(d, &parents, &error);
		if (r < 0) {
			log_error("Cannot list the parents of vbusd: %s", error);
			return r;
		}
		r = dra_partitionable_types(types, parents, listing, &offers);
		if (r < 0)
			return r;
		r = dra_partitionable_build(offers, names, &potential, &counter_sets, &map);
		if (r < 0)
			return r;
	}
	all = json_object_new_array();
	if (!all)
		return -ENOMEM;
	json_object_array_add(all, json_object_get(devices));
	json_object_array_add(all, json_object_get(potential));
	json_object_array_add(all, json_object_get(counter_sets));
	text = json_object_to_json_string_ext(all, JSON_C_TO_STRING_PLAIN);
	/* What prepare may create: as computed now (a slice the server has not got yet only
	 * means the scheduler cannot allocate it yet). */
	json_object_put(d->potential);
	d->potential = TAKE_PTR(map);

	/* What the API server holds for this node and driver now. */
	if (asprintf(&sel, "spec.nodeName=%s,spec.driver=%s", d->node, d->driver) < 0)
		return -ENOMEM;
	esc = curl_easy_escape(NULL, sel, 0);
	if (!esc ||
	    asprintf(&path, "/apis/resource.k8s.io/v1/resourceslices?fieldSelector=%s", esc) < 0)
		return -ENOMEM;
	r = kube_request(&d->kube, "GET", path, NULL, &status, &existing, &error);
	if (r < 0 || status != 200)
		return publish_fail(d, "list the ResourceSlices", r, status, existing, error);
	items = json_object_object_get(existing, "items");
	size_t n_items =
	    json_object_is_type(items, json_type_array) ? json_object_array_length(items) : 0;
	size_t current = 0, count_want = 0;
	for (size_t i = 0; i < n_items; i++) {
		struct json_object *pool = json_object_object_get(
		    json_object_object_get(json_object_array_get_idx(items, i), "spec"), "pool");
		int64_t g = json_object_get_int64(json_object_object_get(pool, "generation"));

		if (!streq_ptr(dra_json_str(pool, "name"), d->node))
			continue;
		if (g > max_gen)
			max_gen = g;
		if (d->generation_known && g == d->generation) {
			struct json_object *meta =
			    json_object_object_get(json_object_array_get_idx(items, i), "metadata");
			struct json_object *rv = json_object_object_get(
			    d->written, dra_json_str(meta, "name") ?: "");

			/* A slice another writer changed (a resourceVersion that is not the one
			 * our write got) counts as not ours: it is written again. */
			if (rv && streq_ptr(json_object_get_string(rv),
					    dra_json_str(meta, "resourceVersion")))
				current++;
			count_want = (size_t)json_object_get_int64(
			    json_object_object_get(pool, "resourceSliceCount"));
		}
	}

	if (!d->generation_known) {
		d->generation = max_gen + 1;
		d->generation_known = true;
	} else if (!streq_ptr(d->published, text)) {
		d->generation = (max_gen > d->generation ? max_gen : d->generation) + 1;
	} else if (current == n_items && current == count_want && current > 0) {
		return 0; /* as published */
	} else {
		/* Someone changed or deleted our slices: publish again, as a new generation. */
		log_info("The ResourceSlices of pool %s changed behind us: publishing again",
			 d->node);
		d->generation = (max_gen > d->generation ? max_gen : d->generation) + 1;
	}

	read_owner(d);
	r = dra_slices_build(d->node, d->driver, d->generation, devices, potential, counter_sets,
			     d->owner, &slices);
	if (r < 0)
		return r;
	for (size_t i = 0; i < json_object_array_length(slices); i++) {
		struct json_object *s = json_object_array_get_idx(slices, i), *old = NULL;
		const char *name = dra_json_str(json_object_object_get(s, "metadata"), "name");
		_cleanup_json_ struct json_object *reply = NULL;
		_cleanup_free_ char *p = NULL, *what = NULL;

		for (size_t j = 0; j < n_items; j++) {
			struct json_object *it = json_object_array_get_idx(items, j);

			if (streq_ptr(dra_json_str(json_object_object_get(it, "metadata"), "name"),
				      name))
				old = it;
		}
		free(error);
		error = NULL;
		if (old) {
			const char *rv = dra_json_str(json_object_object_get(old, "metadata"),
						      "resourceVersion");
			if (rv)
				json_object_object_add(json_object_object_get(s, "metadata"),
						       "resourceVersion",
						       json_object_new_string(rv));
			if (asprintf(&p, "/apis/resource.k8s.io/v1/resourceslices/%s", name) < 0)
				return -ENOMEM;
			r = kube_request(&d->kube, "PUT", p, s, &status, &reply, &error);
		} else
			r = kube_request(&d->kube, "POST",
					 "/apis/resource.k8s.io/v1/resourceslices", s, &status,
					 &reply, &error);
		if (r < 0 || (status != 200 && status != 201)) {
			if (asprintf(&what, "%s ResourceSlice %s", old ? "update" : "create",
				     name) < 0)
				return -ENOMEM;
			return publish_fail(d, what, r, status, reply, error);
		}
		if (!d->written && !(d->written = json_object_new_object()))
			return -ENOMEM;
		json_object_object_add(
		    d->written, name,
		    json_object_new_string(
			dra_json_str(json_object_object_get(reply, "metadata"), "resourceVersion")
			    ?: ""));
	}
	/* Slices of ours beyond the new count go (after the new ones are there). */
	for (size_t j = 0; j < n_items; j++) {
		struct json_object *it = json_object_array_get_idx(items, j);
		const char *name = dra_json_str(json_object_object_get(it, "metadata"), "name");
		_cleanup_json_ struct json_object *reply = NULL;
		_cleanup_free_ char *p = NULL;
		bool keep = false;

		for (size_t i = 0; name && i < json_object_array_length(slices); i++)
			keep |= streq_ptr(
			    dra_json_str(json_object_object_get(
					     json_object_array_get_idx(slices, i), "metadata"),
					 "name"),
			    name);
		if (!name || keep)
			continue;
		if (asprintf(&p, "/apis/resource.k8s.io/v1/resourceslices/%s", name) < 0)
			return -ENOMEM;
		free(error);
		error = NULL;
		r = kube_request(&d->kube, "DELETE", p, NULL, &status, &reply, &error);
		if (r < 0 || (status != 200 && status != 202 && status != 404)) {
			_cleanup_free_ char *what = NULL;

			if (asprintf(&what, "delete ResourceSlice %s", name) < 0)
				return -ENOMEM;
			return publish_fail(d, what, r, status, reply, error);
		}
	}
	free(d->published);
	d->published = strdup(text);
	log_info("Published %zu device(s) in %zu ResourceSlice(s), pool %s generation %" PRId64,
		 json_object_array_length(devices), json_object_array_length(slices), d->node,
		 d->generation);
	if (!d->published_once) {
		d->published_once = true;
		check_ready(d);
	}
	return 0;
}

static int on_publish(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct dra *d = userdata;

	if (publish(d) < 0)
		schedule_publish(d, RETRY_USEC);
	return 0;
}

void schedule_publish(struct dra *d, uint64_t delay_usec)
{
	uint64_t now;

	if (!d->vbusd_up)
		return;
	(void)sd_event_now(d->event, CLOCK_MONOTONIC, &now);
	if (!d->publish_source) {
		if (sd_event_add_time(d->event, &d->publish_source, CLOCK_MONOTONIC,
				      now + delay_usec, 0, on_publish, d) < 0)
			log_error("Cannot schedule publishing");
		return;
	}
	(void)sd_event_source_set_time(d->publish_source, now + delay_usec);
	(void)sd_event_source_set_enabled(d->publish_source, SD_EVENT_ONESHOT);
}

static int on_resync(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct dra *d = userdata;

	schedule_publish(d, 0);
	(void)sd_event_source_set_time(s, usec + d->interval_usec);
	(void)sd_event_source_set_enabled(s, SD_EVENT_ON);
	return 0;
}

/* Any change vbusd announces may change what we publish: once, a moment later. */
static int on_vbus_signal(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct dra *d = userdata;

	log_debug("vbusd: %s", sd_bus_message_get_member(m));
	schedule_publish(d, 100 * 1000);
	return 0;
}

static void vbusd_appeared(struct dra *d)
{
	d->vbusd_up = true;
	(void)vbusd_root(d);
	log_info("vbusd is on the bus (its boot reconcile is done): publishing");
	schedule_publish(d, 0);
}

static int on_name_owner(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct dra *d = userdata;
	const char *name, *old, *new;

	if (sd_bus_message_read(m, "sss", &name, &old, &new) < 0 || !streq(name, VBUS_BUS_NAME))
		return 0;
	if (*new)
		vbusd_appeared(d);
	else {
		d->vbusd_up = false;
		log_warning("vbusd left the bus: slices stay as published until it is back");
	}
	return 0;
}

static int watch_vbusd(struct dra *d)
{
	int r;

	r = sd_bus_match_signal(d->bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
				"org.freedesktop.DBus", "NameOwnerChanged", on_name_owner, d);
	if (r >= 0)
		r = sd_bus_match_signal(d->bus, NULL, VBUS_BUS_NAME, VBUS_PATH, VBUS_MANAGER, NULL,
					on_vbus_signal, d);
	if (r >= 0)
		r = sd_bus_add_match(d->bus, NULL,
				     "type='signal',sender='" VBUS_BUS_NAME "',"
				     "interface='org.freedesktop.DBus.Properties',"
				     "member='PropertiesChanged',path_namespace='" VBUS_PATH "'",
				     on_vbus_signal, d);
	if (r < 0)
		return r;
	/* The name is taken only after vbusd's boot reconcile: owned now means done. */
	{
		sd_bus_message *reply = NULL;
		int has = 0;

		if (sd_bus_call_method(d->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
				       "org.freedesktop.DBus", "NameHasOwner", NULL, &reply, "s",
				       VBUS_BUS_NAME) >= 0 &&
		    sd_bus_message_read(reply, "b", &has) >= 0 && has)
			vbusd_appeared(d);
		else
			log_info("Waiting for vbusd (org.vbus1) before publishing");
		sd_bus_message_unref(reply);
	}
	return 0;
}

/* ---- the gRPC threads' calls, run on the loop ----------------------------------------------- */

struct job {
	bool prepare, done;
	const struct dra_claim_ref *claims;
	size_t n;
	struct dra_claim_answer *answers;
	struct job *next;
};

static void fail_job(struct job *j, const char *why)
{
	for (size_t i = 0; i < j->n; i++)
		if (!j->answers[i].error)
			j->answers[i].error = strdup(why);
	j->done = true;
}

static void hand_over(struct dra *d, bool prepare, const struct dra_claim_ref *claims, size_t n,
		      struct dra_claim_answer *answers)
{
	struct job j = {.prepare = prepare, .claims = claims, .n = n, .answers = answers};
	uint64_t one = 1;

	pthread_mutex_lock(&d->lock);
	if (d->stopping)
		fail_job(&j, "vbus-dra is stopping");
	else {
		struct job **p = &d->jobs;

		while (*p)
			p = &(*p)->next;
		*p = &j;
		if (write(d->efd, &one, sizeof(one)) < 0)
			log_error("Cannot wake the loop: %m");
		while (!j.done)
			pthread_cond_wait(&d->cond, &d->lock);
	}
	pthread_mutex_unlock(&d->lock);
}

static void grpc_prepare(void *userdata, const struct dra_claim_ref *claims, size_t n,
			 struct dra_claim_answer *answers)
{
	hand_over(userdata, true, claims, n, answers);
}

static void grpc_unprepare(void *userdata, const struct dra_claim_ref *claims, size_t n,
			   struct dra_claim_answer *answers)
{
	hand_over(userdata, false, claims, n, answers);
}

static void grpc_registered(void *userdata, bool ok, const char *error)
{
	/* stderr only: no shared state */
	if (ok)
		log_msg(6, "Registered with the kubelet");
	else
		log_msg(3, "The kubelet did not register the plugin: %s", error);
}

static int on_jobs(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct dra *d = userdata;
	uint64_t v;
	struct job *jobs;

	(void)read(fd, &v, sizeof(v));
	for (;;) {
		pthread_mutex_lock(&d->lock);
		jobs = d->jobs;
		if (jobs)
			d->jobs = jobs->next;
		pthread_mutex_unlock(&d->lock);
		if (!jobs)
			break;
		if (jobs->prepare)
			claims_prepare(d, jobs->claims, jobs->n, jobs->answers);
		else
			claims_unprepare(d, jobs->claims, jobs->n, jobs->answers);
		pthread_mutex_lock(&d->lock);
		jobs->done = true;
		pthread_cond_broadcast(&d->cond);
		pthread_mutex_unlock(&d->lock);
	}
	return 0;
}

static void stop_jobs(struct dra *d)
{
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	for (struct job *j = d->jobs; j; j = j->next)
		fail_job(j, "vbus-dra is stopping");
	d->jobs = NULL;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

/* ---- command line ------------------------------------------------------------------------- */

static void help(void)
{
	printf(
	    "Usage: vbus-dra --node-name NODE [OPTIONS]\n"
	    "A Kubernetes DRA kubelet plugin for the devices vbusd manages.\n\n"
	    "  --node-name NODE            the Kubernetes node (pool name)\n"
	    "  --driver-name NAME          the DRA driver name (default vbus.dev)\n"
	    "  --plugin-dir DIR            the plugin socket DIR/dra.sock\n"
	    "                              (default /var/lib/kubelet/plugins/DRIVER)\n"
	    "  --registry-dir DIR          the registration socket DIR/DRIVER-reg.sock\n"
	    "                              (default /var/lib/kubelet/plugins_registry)\n"
	    "  --state-dir DIR             the checkpoint (default /var/lib/vbus-dra)\n"
	    "  --kubeconfig FILE           the API server and credentials (default: in-cluster)\n"
	    "  --bus-address ADDRESS       the D-Bus bus of vbusd (default: the system bus)\n"
	    "  --publish-interval SECONDS  resync period (default 60)\n"
	    "  --log-level LEVEL           error, warning, info (default) or debug\n"
	    "  --kubelet-plugins-directory-path DIR\n"
	    "                              as --plugin-dir DIR/DRIVER\n"
	    "  --kubelet-registrar-directory-path DIR\n"
	    "                              as --registry-dir DIR\n"
	    "  --cdi-root DIR              where vbusd's CDI specs are read (default:\n"
	    "                              /var/run/cdi below vbusd's root)\n"
	    "  --partitionable             also publish the mdevs, virtbus devices, SFs and vDPA\n"
	    "                              devices that could be made (KEP 4815 counters) and\n"
	    "                              make them in prepare\n"
	    "  -h --help                   this help\n"
	    "  -V --version                the version\n");
}

static int usage(const char *fmt, ...) _printf_(1, 2);
static int usage(const char *fmt, ...)
{
	va_list ap;

	fputs("vbus-dra: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'vbus-dra --help'.\n", stderr);
	return -EINVAL;
}

static int set_str(char **p, const char *v)
{
	free(*p);
	*p = strdup(v);
	return *p ? 0 : -ENOMEM;
}

/* 1: run; 0: exit 0 (help); negative: usage error (exit 2). */
static int parse_argv(struct dra *d, int argc, char *argv[])
{
	enum {
		ARG_NODE = 0x100,
		ARG_DRIVER,
		ARG_PLUGIN_DIR,
		ARG_REGISTRY_DIR,
		ARG_STATE_DIR,
		ARG_KUBECONFIG,
		ARG_BUS,
		ARG_INTERVAL,
		ARG_LOG_LEVEL,
		ARG_PARTITIONABLE,
		ARG_KUBELET_REGISTRAR,
		ARG_KUBELET_PLUGINS,
		ARG_CDI_ROOT,
	};
	static const struct option options[] = {
	    {"node-name", required_argument, NULL, ARG_NODE},
	    {"driver-name", required_argument, NULL, ARG_DRIVER},
	    {"plugin-dir", required_argument, NULL, ARG_PLUGIN_DIR},
	    {"registry-dir", required_argument, NULL, ARG_REGISTRY_DIR},
	    {"state-dir", required_argument, NULL, ARG_STATE_DIR},
	    {"kubeconfig", required_argument, NULL, ARG_KUBECONFIG},
	    {"bus-address", required_argument, NULL, ARG_BUS},
	    {"publish-interval", required_argument, NULL, ARG_INTERVAL},
	    {"log-level", required_argument, NULL, ARG_LOG_LEVEL},
	    {"partitionable", no_argument, NULL, ARG_PARTITIONABLE},
	    /* the names other DRA drivers (dra-example-driver, NVIDIA's) give these */
	    {"kubelet-registrar-directory-path", required_argument, NULL, ARG_KUBELET_REGISTRAR},
	    {"kubelet-plugins-directory-path", required_argument, NULL, ARG_KUBELET_PLUGINS},
	    {"cdi-root", required_argument, NULL, ARG_CDI_ROOT},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {}};
	_cleanup_free_ char *plugins_dir = NULL;
	int c, r = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hV", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help();
			return 0;
		case 'V':
			printf("vbus-dra %s\n", VBUS_VERSION);
			return 0;
		case ARG_NODE:
			r = set_str(&d->node, optarg);
			break;
		case ARG_DRIVER:
			r = set_str(&d->driver, optarg);
			break;
		case ARG_PLUGIN_DIR:
			r = set_str(&d->plugin_dir, optarg);
			break;
		case ARG_REGISTRY_DIR:
			r = set_str(&d->registry_dir, optarg);
			break;
		case ARG_STATE_DIR:
			r = set_str(&d->state_dir, optarg);
			break;
		case ARG_KUBECONFIG:
			r = set_str(&d->kubeconfig, optarg);
			break;
		case ARG_BUS:
			r = set_str(&d->bus_address, optarg);
			break;
		case ARG_INTERVAL: {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || v == 0 || v > 86400 ||
			    optarg[0] == '-')
				return usage("--publish-interval: '%s' is not a number of seconds "
					     "from 1 to 86400",
					     optarg);
			d->interval_usec = v * 1000000ULL;
			break;
		}
		case ARG_LOG_LEVEL:
			if (streq(optarg, "error"))
				log_max = 3;
			else if (streq(optarg, "warning"))
				log_max = 4;
			else if (streq(optarg, "info"))
				log_max = 6;
			else if (streq(optarg, "debug"))
				log_max = 7;
			else
				return usage("--log-level: unknown level '%s'", optarg);
			break;
		case ARG_PARTITIONABLE:
			d->partitionable = true;
			break;
		case ARG_KUBELET_REGISTRAR:
			r = set_str(&d->registry_dir, optarg);
			break;
		case ARG_KUBELET_PLUGINS:
			r = set_str(&plugins_dir, optarg);
			break;
		case ARG_CDI_ROOT:
			r = set_str(&d->cdi_root, optarg);
			break;
		case ':':
			return usage("option '%s' needs an argument", argv[optind - 1]);
		default:
			return usage("unknown option '%s'", argv[optind - 1]);
		}
		if (r < 0)
			return r;
	}
	if (optind < argc)
		return usage("unexpected argument '%s'", argv[optind]);
	if (!d->node || !*d->node)
		return usage("--node-name is required");
	if (!d->driver && set_str(&d->driver, "vbus.dev") < 0)
		return -ENOMEM;
	if (!*d->driver || strchr(d->driver, '/'))
		return usage("--driver-name: '%s' is not a driver name", d->driver);
	if (strchr(d->node, '/'))
		return usage("--node-name: '%s' is not a node name", d->node);
	if (!d->plugin_dir && asprintf(&d->plugin_dir, "%s/%s",
				       plugins_dir ?: "/var/lib/kubelet/plugins", d->driver) < 0)
		return -ENOMEM;
	if (!d->registry_dir && set_str(&d->registry_dir, "/var/lib/kubelet/plugins_registry") < 0)
		return -ENOMEM;
	if (!d->state_dir && set_str(&d->state_dir, "/var/lib/vbus-dra") < 0)
		return -ENOMEM;
	if (!d->interval_usec)
		d->interval_usec = 60 * 1000000ULL;
	return 1;
}

static int mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = strdup(path);

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST)
				return -errno;
			*s = '/';
		}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static void dra_done(struct dra *d)
{
	d->publish_source = sd_event_source_disable_unref(d->publish_source);
	d->resync_source = sd_event_source_disable_unref(d->resync_source);
	d->efd_source = sd_event_source_disable_unref(d->efd_source);
	if (d->efd >= 0)
		close(d->efd);
	d->bus = sd_bus_flush_close_unref(d->bus);
	d->event = sd_event_unref(d->event);
	kube_done(&d->kube);
	json_object_put(d->checkpoint);
	json_object_put(d->owner);
	json_object_put(d->potential);
	free(d->node);
	free(d->driver);
	free(d->plugin_dir);
	free(d->registry_dir);
	free(d->state_dir);
	free(d->kubeconfig);
	free(d->bus_address);
	free(d->checkpoint_path);
	free(d->root);
	free(d->cdi_root);
	json_object_put(d->written);
	free(d->published);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
}

static int run(struct dra *d)
{
	static const struct dra_grpc_ops ops = {
	    .prepare = grpc_prepare,
	    .unprepare = grpc_unprepare,
	    .registered = grpc_registered,
	};
	_cleanup_free_ char *error = NULL, *reg_sock = NULL, *plugin_sock = NULL;
	sigset_t mask;
	uint64_t now;
	int r;

	/* Configuration first: a wrong kubeconfig or state directory is said at once. */
	if (d->kubeconfig)
		r = kube_config_load(d->kubeconfig, &d->kube, &error);
	else
		r = kube_config_in_cluster(SA_DIR, &d->kube, &error);
	if (r < 0) {
		log_error("%s", error ?: strerror(-r));
		return r;
	}
	r = mkdir_p(d->state_dir, 0700);
	if (r < 0) {
		log_error("Cannot create the state directory '%s': %s", d->state_dir, strerror(-r));
		return r;
	}
	if (asprintf(&d->checkpoint_path, "%s/checkpoint.json", d->state_dir) < 0)
		return -ENOMEM;
	free(error);
	error = NULL;
	r = checkpoint_load(d->checkpoint_path, &d->checkpoint, &error);
	if (r < 0) {
		log_error("%s", error ?: strerror(-r));
		return r;
	}
	log_info("Checkpoint '%s': %d prepared claim(s)", d->checkpoint_path,
		 json_object_object_length(json_object_object_get(d->checkpoint, "claims")));

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	/* Blocked before gRPC starts its threads, so that they inherit the mask. */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	r = sd_event_default(&d->event);
	if (r < 0)
		return r;
	r = sd_event_add_signal(d->event, NULL, SIGTERM, NULL, NULL);
	if (r >= 0)
		r = sd_event_add_signal(d->event, NULL, SIGINT, NULL, NULL);
	if (r < 0) {
		log_error("Cannot watch SIGTERM: %s", strerror(-r));
		return r;
	}

	if (d->bus_address) {
		r = sd_bus_new(&d->bus);
		if (r >= 0)
			r = sd_bus_set_address(d->bus, d->bus_address);
		if (r >= 0)
			r = sd_bus_set_bus_client(d->bus, true);
		if (r >= 0)
			r = sd_bus_start(d->bus);
	} else
		r = sd_bus_open_system(&d->bus);
	if (r < 0) {
		log_error("Cannot connect to the bus of vbusd (%s): %s",
			  d->bus_address ?: "the system bus", strerror(-r));
		return r;
	}
	r = sd_bus_attach_event(d->bus, d->event, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0)
		return r;

	d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->efd < 0)
		return -errno;
	r = sd_event_add_io(d->event, &d->efd_source, d->efd, EPOLLIN, on_jobs, d);
	if (r < 0)
		return r;

	r = watch_vbusd(d);
	if (r < 0) {
		log_error("Cannot watch vbusd's signals: %s", strerror(-r));
		return r;
	}
	(void)sd_event_now(d->event, CLOCK_MONOTONIC, &now);
	r = sd_event_add_time(d->event, &d->resync_source, CLOCK_MONOTONIC, now + d->interval_usec,
			      0, on_resync, d);
	if (r < 0)
		return r;

	r = mkdir_p(d->plugin_dir, 0750);
	if (r >= 0)
		r = mkdir_p(d->registry_dir, 0755);
	if (r < 0) {
		log_error("Cannot create the socket directories '%s', '%s': %s", d->plugin_dir,
			  d->registry_dir, strerror(-r));
		return r;
	}
	if (asprintf(&reg_sock, "%s/%s-reg.sock", d->registry_dir, d->driver) < 0 ||
	    asprintf(&plugin_sock, "%s/dra.sock", d->plugin_dir) < 0)
		return -ENOMEM;
	free(error);
	error = NULL;
	struct dra_grpc_config cfg = {
	    .driver_name = d->driver,
	    .registration_socket = reg_sock,
	    .plugin_socket = plugin_sock,
	};
	r = dra_grpc_start(&cfg, &ops, d, &d->grpc, &error);
	if (r < 0) {
		log_error("%s", error ?: strerror(-r));
		return r;
	}
	log_info("Serving the kubelet: %s (registration), %s (DRAPlugin)", reg_sock, plugin_sock);
	check_ready(d);

	r = sd_event_loop(d->event);
	sd_notify(false, "STOPPING=1");
	stop_jobs(d);
	dra_grpc_stop(TAKE_PTR(d->grpc));
	if (r < 0) {
		log_error("Event loop failed: %s", strerror(-r));
		return r;
	}
	log_info("Stopped (the ResourceSlices stay)");
	return 0;
}

int main(int argc, char *argv[])
{
	struct dra d = {.efd = -1};
	int r;

	pthread_mutex_init(&d.lock, NULL);
	pthread_cond_init(&d.cond, NULL);
	r = parse_argv(&d, argc, argv);
	if (r <= 0) {
		dra_done(&d);
		return r < 0 ? 2 : 0;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	r = run(&d);
	/* gRPC threads are gone (or never were) before the state they used. */
	dra_grpc_stop(TAKE_PTR(d.grpc));
	dra_done(&d);
	curl_global_cleanup();
	return r < 0 ? 1 : 0;
}

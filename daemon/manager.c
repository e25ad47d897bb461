// SPDX-License-Identifier: LGPL-2.1-or-later
/* /org/vbus1: org.vbus1.Manager, the CLI verbs as methods. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "vbusd.h"

/*
 * Every changing method runs in one order: parse, authorize, act, emit (objects_refresh_*),
 * reply. The act is the libvbus operation vbusctl --direct calls, and its result is the reply:
 * its error through the one errno table (bus-util.c), its cause as the message. The daemon
 * decides nothing of its own (no shortcut on its model's flags: the model may be behind the
 * kernel, and only libvbus knows whether nothing would change), so a transcript reads the same
 * both ways (tests/integration/transcripts.py). Authorization may suspend the call until polkit
 * answers; the message is then dispatched again from the top, so nothing is done twice.
 * The methods run one at a time on the event loop: changes are serialized by construction, and
 * a failing one leaves nothing behind that blocks the next.
 */

/* ERROR from errno R and its CAUSE (NULL: the errno's text), logged once. */
static int error_from_cause(sd_bus_error *error, int r, const char *verb, const char *name,
			    const char *cause)
{
	const char *ename = vbus_bus_error_name(r);

	if (!cause)
		cause = strerror(r < 0 ? -r : r);
	log_notice("Failed to %s '%s': %s", verb, name ? name : "", cause);
	if (ename)
		return sd_bus_error_set(error, ename, cause);
	return sd_bus_error_set_errnof(error, r < 0 ? -r : r, "%s", cause);
}

int bus_error_from_vbus(struct vbusd *d, sd_bus_error *error, int r, const char *verb,
			const char *name)
{
	return error_from_cause(error, r, verb, name, vbus_ctx_last_error(d->ctx));
}

static int reply_json_array(sd_bus_message *m, struct json_object *arr)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int r;

	r = sd_bus_message_new_method_return(m, &reply);
	if (r < 0)
		return r;
	r = bus_append_json_object_array(reply, arr);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

/*
 * What libvbus warned about while acting for a caller (a rollback that could not put something
 * back, ...) goes to that caller too, as Warning signals addressed to it before the reply:
 * vbusctl prints them as --direct prints them.
 */
static void send_warnings(struct vbusd *d, sd_bus_message *m, struct json_object *lines)
{
	const char *sender = sd_bus_message_get_sender(m);

	for (size_t i = 0; sender && lines && i < json_object_array_length(lines); i++) {
		_cleanup_(sd_bus_message_unrefp) sd_bus_message *s = NULL;

		if (sd_bus_message_new_signal(d->bus, &s, VBUS_MANAGER_PATH, VBUS_MANAGER_IFACE,
					      "Warning") >= 0 &&
		    sd_bus_message_set_destination(s, sender) >= 0 &&
		    sd_bus_message_append(s, "s", json_object_get_string(
							  json_object_array_get_idx(lines, i))) >= 0)
			(void)sd_bus_send(d->bus, s, NULL);
	}
	json_object_put(lines);
}

/* The model follows NAME after a change; a name libvbus refused names no file to read. */
static void refresh_name(struct vbusd *d, const char *name)
{
	if (vbus_name_is_valid(name))
		objects_refresh_name(d, name);
}

/* A failed act on a device: the error reply, and DeviceFailed for whoever follows. */
static int act_failed(struct vbusd *d, sd_bus_error *error, int r, const char *verb,
		      const char *name)
{
	objects_emit_failed(d, name, verb, r, vbus_ctx_last_error(d->ctx) ?: strerror(-r));
	r = bus_error_from_vbus(d, error, r, verb, name);
	refresh_name(d, name);
	return r;
}

/* ---- reading ------------------------------------------------------------------------------- */

static int method_list_parents(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct vbusd *d = userdata;
	_cleanup_json_ struct json_object *arr = NULL;
	const char *parent;
	int r;

	r = sd_bus_message_read(m, "s", &parent);
	if (r < 0)
		return r;
	r = vbus_list_parents(d->ctx, parent[0] ? parent : NULL, &arr);
	if (r < 0)
		return bus_error_from_vbus(d, error, r, "list parents", parent);
	return reply_json_array(m, arr);
}

static int method_list_types(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct vbusd *d = userdata;
	_cleanup_json_ struct json_object *arr = NULL;
	const char *parent;
	int r;

	r = sd_bus_message_read(m, "s", &parent);
	if (r < 0)
		return r;
	r = vbus_list_types(d->ctx, parent[0] ? parent : NULL, &arr);
	if (r < 0)
		return bus_error_from_vbus(d, error, r, "list types", parent);
	return reply_json_array(m, arr);
}

static int read_list_args(sd_bus_message *m, uint32_t *flags, const char **name,
			  sd_bus_error *error)
{
	int r;

	r = sd_bus_message_read(m, "us", flags, name);
	if (r < 0)
		return r;
	if (*flags & ~(uint32_t)(VBUS_LIST_DEFINED | VBUS_LIST_ACTIVE))
		return sd_bus_error_setf(error, "org.vbus1.Error.InvalidArgument",
					 "unknown flags 0x%x", *flags);
	return 0;
}

/* A listing's failure: the error of the table, else the errno's, with the cause. */
static int list_error(sd_bus_error *error, int r, char *cause)
{
	_cleanup_free_ char *c = cause;
	const char *ename = vbus_bus_error_name(r);

	if (!c)
		return r;
	if (ename)
		return sd_bus_error_set(error, ename, c);
	return sd_bus_error_set_errnof(error, r < 0 ? -r : r, "%s", c);
}

/* The listing answers from the model (objects.c), which follows every change: its JSON
 * document in a sealed memfd of its own, so a large listing costs the bus one small message
 * instead of megabytes copied through dbus-daemon and checked as UTF-8 at each end (as
 * systemd's DumpByFileDescriptor next to Dump). */
static int method_list_devices(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct vbusd *d = userdata;
	_cleanup_close_ int fd = -1;
	char *cause = NULL;
	const char *name;
	uint32_t flags;
	int r;

	r = read_list_args(m, &flags, &name, error);
	if (r < 0)
		return r;
	r = objects_list_fd(d, flags, name[0] ? name : NULL, &fd, &cause);
	/* What reading the definitions warned about (Warnings) comes with every listing, failed
	 * ones too, as --direct prints it, before the reply: vbusctl needs no second call. */
	send_warnings(d, m, json_object_get(objects_warnings(d)));
	if (r < 0)
		return list_error(error, r, cause);
	return sd_bus_reply_method_return(m, "h", fd);
}

/* ---- definitions --------------------------------------------------------------------------- */

/* Reads an a{sv} definition into a vbus_def; InvalidArgument with the key on refusal. */
static int read_def(struct vbusd *d, sd_bus_message *m, struct json_object **ret_obj,
		    sd_bus_error *error)
{
	_cleanup_json_ struct json_object *obj = NULL;
	int r;

	r = bus_read_json_object(m, &obj);
	if (r < 0)
		return r;
	if (!json_object_object_get(obj, "version") &&
	    json_object_object_add(obj, "version", json_object_new_int(1)) < 0)
		return -ENOMEM;
	*ret_obj = TAKE_PTR(obj);
	return 0;
}

/* An mdev named by its UUID alone, without a parent: libvbus takes parent and type from the
 * running mdev at define (vbusctl define NAME --uuid U, mdevctl define -u U). */
static bool names_running_mdev(struct json_object *obj)
{
	struct json_object *kind = json_object_object_get(obj, "kind");

	return !json_object_object_get(obj, "parent") && json_object_object_get(obj, "uuid") &&
	       kind && streq_ptr(json_object_get_string(kind), "mdev");
}

/* libvbus parses and validates (the name included), with the message --direct shows. PURPOSE
 * not empty: the definition has no kind, policy picks it (vbus_def_from_json_for()). */
static int def_parse_for(struct vbusd *d, struct json_object *obj, const char *purpose,
			 struct vbus_def **ret, sd_bus_error *error)
{
	struct json_object *n = json_object_object_get(obj, "name");
	_cleanup_json_ struct json_object *copy = NULL;
	bool promote = names_running_mdev(obj);
	int r;

	/* The parser wants a parent: it reads the definition with a stand-in one, which goes
	 * again before libvbus acts (as the definition vbusctl builds in-process has none). */
	if (promote) {
		r = json_object_deep_copy(obj, &copy, NULL);
		if (r < 0 || json_object_object_add(copy, "parent",
						    json_object_get(json_object_object_get(
							    obj, "uuid"))) < 0)
			return -ENOMEM;
	}
	r = vbus_def_from_json_for(d->ctx, copy ?: obj, purpose, ret);
	if (r < 0)
		return bus_error_from_vbus(d, error, r, "parse definition",
					   n ? json_object_get_string(n) : NULL);
	if (promote) {
		free((*ret)->parent);
		(*ret)->parent = NULL;
	}
	return 0;
}

static int def_parse(struct vbusd *d, struct json_object *obj, struct vbus_def **ret,
		     sd_bus_error *error)
{
	return def_parse_for(d, obj, NULL, ret, error);
}

static int reply_device(sd_bus_message *m, const char *name, int define_result)
{
	_cleanup_free_ char *path = device_path(name);

	if (!path)
		return -ENOMEM;
	if (define_result < 0)
		return sd_bus_reply_method_return(m, "o", path);
	/* vbus_define() returns 1 when it stored a definition whose parent is absent. */
	return sd_bus_reply_method_return(m, "ob", path, define_result == 0);
}

static int method_define(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct vbusd *d = userdata;
	_cleanup_json_ struct json_object *obj = NULL;
	_cleanup_def_ struct vbus_def *def = NULL;
	struct capture c;
	int r;

	r = read_def(d, m, &obj, error);
	if (r < 0)
		return r;
	r = auth_check(d, m, error);
	if (r <= 0)
		return r < 0 ? r : 1;
	r = def_parse(d, obj, &def, error);
	if (r < 0)
		return r;
	capture_begin(d, &c);
	r = vbus_define(d->ctx, def, 0);
	send_warnings(d, m, capture_end(d, &c));
	if (r < 0)
		return bus_error_from_vbus(d, error, r, "define", def->name);
	log_debug("Defined '%s'", def->name); /* libvbus logs it at info */
	refresh_name(d, def->name);
	return reply_device(m, def->name, r);
}

static int method_modify(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct vbusd *d = userdata;
	_cleanup_json_ struct json_object *changes = NULL, *obj = NULL;
	_cleanup_def_ struct vbus_def *old = NULL, *def = NULL;
	struct json_object *n;
	const char *name;
	struct capture c;
	int r;

	r = sd_bus_message_read(m, "s", &name);
	if (r < 0)
		return r;
	r = bus_read_json_object(m, &changes);
	if (r < 0)
		return r;
	n = json_object_object_get(changes, "name");
	if (n && !streq(json_object_get_string(n), name))
		return sd_bus_error_set(error, "org.vbus1.Error.InvalidArgument",
					"modify cannot rename a definition");
	r = auth_check(d, m, error);
	if (r <= 0)
		return r < 0 ? r : 1;
	r = vbus_def_load(d->ctx, name, &old);
	if (r < 0)
		return bus_error_from_vbus(d, error, r, "modify", name);
	r = vbus_def_to_json(old, &obj);
	if (r < 0)
		return r;
	/* The changes replace whole keys; an empty string removes one. */
	json_object_object_foreach(changes, key, val) {
		if (json_object_is_type(val, json_type_string) && !json_object_get_string_len(val))
			json_object_object_del(obj, key);
		else if (json_object_object_add(obj, key, json_object_get(val)) < 0)
			return -ENOMEM;
	}
	r = def_parse(d, obj, &def, error);
	if (r < 0)
		return r;
	capture_begin(d, &c);
	r = vbus_define(d->ctx, def, VBUS_DEFINE_REPLACE);
	send_warnings(d, m, capture_end(d, &c));
	if (r < 0)
		return bus_error_from_vbus(d, error, r, "modify", name);
	log_debug("Modified '%s'", name);
	refresh_name(d, name);
	return reply_device(m, name, r);
}

/* vbusctl modify --live: the running device changed in place first (vbus_modify_live()), the
 * definition after it (Modify), as in-process. */
static int method_modify_live(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct vbusd *d = userdata;
	_cleanup_json_ struct json_object *obj = NULL;
	_cleanup_def_ struct vbus_def *def = NULL;
	struct capture c;
	int r;

	r = read_def(d, m, &obj, error);
	if (r < 0)
		return r;
	r = auth_check(d, m, error);
	if (r <= 0)
		return r < 0 ? r : 1;
	r = def_parse(d, obj, &def, error);
	if (r < 0)
		return r;
	capture_begin(d, &c);
	r = vbus_modify_live(d->ctx, def);
	send_warnings(d, m, capture_end(d, &c));
	if (r < 0)
		return act_failed(d, error, r, "modify", def->name);
	log_debug("Modified running '%s'", def->name);
	refresh_name(d, def->name);
	return sd_bus_reply_method_return(m, NULL);
}

static int method_create(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct vbusd *d = userdata;
	_cleanup_json_ struct json_object *obj = NULL;
	_cleanup_def_ struct vbus_def *def = NULL;
	const char *purpose;
	uint32_t flags;
	struct capture c;
	int r;

	r = read_def(d, m, &obj, error);
	if (r < 0)
		return r;
	r = sd_bus_message_read(m, "su", &purpose, &flags);
	if (r < 0)
		return r;
	if (flags & ~(uint32_t)(VBUS_CREATE_TRANSIENT | VBUS_CREATE_FORCE))
		return sd_bus_error_setf(error, "org.vbus1.Error.InvalidArgument",
					 "unknown flags 0x%x", flags);
	r = auth_check(d, m, error);
	if (r <= 0)
		return r < 0 ? r : 1;
	/* A purpose: libvbus fills in kind, parent, driver and type (vbus_policy_fill()). */
	r = def_parse_for(d, obj, purpose, &def, error);
	if (r < 0)
		return r;
	capture_begin(d, &c);
	r = vbus_create(d->ctx, def, flags);
	send_warnings(d, m, capture_end(d, &c));
	if (r < 0)
		return act_failed(d, error, r, "create", def->name);
	log_debug("Created '%s'", def->name);
	refresh_name(d, def->name);
	return reply_device(m, def->name, -1);
}

/* ---- verbs on a name ----------------------------------------------------------------------- */

enum verb { VERB_UNDEFINE, VERB_START, VERB_STOP, VERB_REMOVE };

static int method_verb(sd_bus_message *m, struct vbusd *d, sd_bus_error *error, enum verb verb)
{
	static const char *const names[] = { "undefine", "start", "stop", "remove" };
	const char *name;
	struct capture c;
	int r;

	r = sd_bus_message_read(m, "s", &name);
	if (r < 0)
		return r;
	r = auth_check(d, m, error);
	if (r <= 0)
		return r < 0 ? r : 1;
	capture_begin(d, &c);
	switch (verb) {
	case VERB_UNDEFINE:
		r = vbus_undefine(d->ctx, name);
		break;
	case VERB_START:
		r = vbus_start(d->ctx, name);
		break;
	case VERB_STOP:
		r = vbus_stop(d->ctx, name);
		break;
	case VERB_REMOVE:
		r = vbus_remove(d->ctx, name);
		break;
	}
	send_warnings(d, m, capture_end(d, &c));
	if (r < 0 && verb == VERB_UNDEFINE)
		return bus_error_from_vbus(d, error, r, names[verb], name);
	if (r < 0)
		return act_failed(d, error, r, names[verb], name);
	log_debug("%c%s '%s' done", names[verb][0] - 'a' + 'A', names[verb] + 1, name);
	refresh_name(d, name);
	return sd_bus_reply_method_return(m, NULL);
}

static int method_undefine(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	return method_verb(m, userdata, error, VERB_UNDEFINE);
}

static int method_start(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	return method_verb(m, userdata, error, VERB_START);
}

/* Start with VBUS_START_* flags (FORCE: a VF start may re-create VFs vbus did not make). */
static int method_start_with_flags(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct vbusd *d = userdata;
	const char *name;
	struct capture c;
	uint32_t flags;
	int r;

	r = sd_bus_message_read(m, "su", &name, &flags);
	if (r < 0)
		return r;
	if (flags & ~(uint32_t)VBUS_START_FORCE)
		return sd_bus_error_setf(error, "org.vbus1.Error.InvalidArgument",
					 "unknown flags 0x%x", flags);
	r = auth_check(d, m, error);
	if (r <= 0)
		return r < 0 ? r : 1;
	capture_begin(d, &c);
	r = vbus_start_with_flags(d->ctx, name, flags);
	send_warnings(d, m, capture_end(d, &c));
	if (r < 0)
		return act_failed(d, error, r, "start", name);
	refresh_name(d, name);
	return sd_bus_reply_method_return(m, NULL);
}

static int method_stop(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	return method_verb(m, userdata, error, VERB_STOP);
}

static int method_remove(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	return method_verb(m, userdata, error, VERB_REMOVE);
}

static int method_assign(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct vbusd *d = userdata;
	const char *name, *driver;
	struct capture c;
	int r;

	r = sd_bus_message_read(m, "ss", &name, &driver);
	if (r < 0)
		return r;
	if (!streq(driver, VBUS_DRIVER_AUTO) && !vbus_driver_is_valid(driver))
		return sd_bus_error_setf(error, "org.vbus1.Error.InvalidArgument",
					 "invalid driver '%s'", driver);
	r = auth_check(d, m, error);
	if (r <= 0)
		return r < 0 ? r : 1;
	capture_begin(d, &c);
	r = vbus_assign(d->ctx, name, driver);
	send_warnings(d, m, capture_end(d, &c));
	if (r < 0)
		return act_failed(d, error, r, "assign", name);
	log_debug("Assigned '%s' to %s", name, driver);
	refresh_name(d, name);
	return sd_bus_reply_method_return(m, NULL);
}

/*
 * With NOW a start or stop that failed fails the call, though the definitions were applied: the
 * error (the first failure's errno and cause, as libvbus gives them) carries the plan after its
 * message, so that vbusctl prints what was done as --direct does. Each failed step is also
 * announced (DeviceFailed).
 */
static int reply_apply_failed(sd_bus_message *m, struct vbusd *d, int r, const char *cause,
			      struct json_object *plan)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int k;

	/* The plan names each failure's cause; the errno is the first one's only. */
	for (size_t i = 0, n = 0; i < json_object_array_length(plan); i++) {
		struct json_object *o = json_object_array_get_idx(plan, i), *why;

		if (json_object_object_get_ex(o, "error", &why))
			objects_emit_failed(
				d, json_object_get_string(json_object_object_get(o, "name")),
				json_object_get_string(json_object_object_get(o, "action")),
				n++ ? 0 : r, json_object_get_string(why));
	}
	(void)error_from_cause(&error, r, "apply", "", cause);
	k = sd_bus_message_new_method_error(m, &reply, &error);
	if (k < 0)
		return k;
	k = bus_append_json_object_array(reply, plan);
	if (k < 0)
		return k;
	return sd_bus_send(NULL, reply, NULL);
}

#define APPLY_OPEN_MAX 256

static int apply_flags(sd_bus_message *m, struct vbusd *d, sd_bus_error *error,
		       struct json_object *defs, unsigned flags)
{
	_cleanup_json_ struct json_object *plan = NULL;
	struct capture c;
	int r;

	if (flags & ~(unsigned)(VBUS_APPLY_DRY_RUN | VBUS_APPLY_NOW))
		return sd_bus_error_setf(error, "org.vbus1.Error.InvalidArgument",
					 "unknown apply flags 0x%x", flags);
	/* A dry run is open to everyone, but only a short one: a long list costs the only thread
	 * seconds (and the list is bounded in libvbus for everyone). */
	if (!(flags & VBUS_APPLY_DRY_RUN) || json_object_array_length(defs) > APPLY_OPEN_MAX) {
		r = auth_check(d, m, error);
		if (r <= 0)
			return r < 0 ? r : 1;
	}
	capture_begin(d, &c);
	r = vbus_apply(d->ctx, defs, flags, &plan);
	send_warnings(d, m, capture_end(d, &c));
	if (r < 0) {
		_cleanup_free_ char *cause = strdup(vbus_ctx_last_error(d->ctx) ?: strerror(-r));

		/* The model follows what was done before the failure (read after the cause). */
		objects_refresh(d);
		if (plan)
			return reply_apply_failed(m, d, r, cause, plan);
		return error_from_cause(error, r, "apply", "", cause);
	}
	objects_refresh(d);
	return reply_json_array(m, plan);
}

static int method_apply(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	_cleanup_json_ struct json_object *defs = NULL;
	uint32_t flags;
	int r;

	r = bus_read_json_object_array(m, &defs);
	if (r < 0)
		return r;
	r = sd_bus_message_read(m, "u", &flags);
	if (r < 0)
		return r;
	return apply_flags(m, userdata, error, defs, flags);
}

static int method_import(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct vbusd *d = userdata;
	_cleanup_json_ struct json_object *report = NULL;
	const char *source, *dir;
	struct capture c;
	uint32_t flags = 0;
	int r;

	r = sd_bus_message_read(m, "ss", &source, &dir);
	if (r < 0)
		return r;
	/* ImportWithFlags: the same with "u" flags (VBUS_IMPORT_KEEP_SOURCE). */
	if (streq(sd_bus_message_get_member(m), "ImportWithFlags")) {
		r = sd_bus_message_read(m, "u", &flags);
		if (r < 0)
			return r;
		if (flags & ~(uint32_t)VBUS_IMPORT_KEEP_SOURCE)
			return sd_bus_error_setf(error, "org.vbus1.Error.InvalidArgument",
						 "unknown flags 0x%x", flags);
	}
	if (!streq(source, "mdevctl") && !streq(source, "driverctl"))
		return sd_bus_error_setf(error, "org.vbus1.Error.InvalidArgument",
					 "unknown import source '%s'", source);
	r = auth_check(d, m, error);
	if (r <= 0)
		return r < 0 ? r : 1;
	/* vbusd reads as root: a directory of the caller's choosing only for root (others could
	 * read or probe any file through it); the tool's own directory for everyone. */
	if (streq(dir, streq(source, "mdevctl") ? "/etc/mdevctl.d" : "/etc/driverctl.d"))
		dir = "";
	if (dir[0]) {
		r = auth_caller_is_root(m);
		if (r < 0)
			return r;
		if (r == 0)
			return sd_bus_error_setf(error, "org.vbus1.Error.AccessDenied",
						 "only root may import from another directory "
						 "than the %s default", source);
	}
	capture_begin(d, &c);
	r = vbus_import_with_flags(d->ctx, source, dir[0] ? dir : NULL, flags, &report);
	send_warnings(d, m, capture_end(d, &c));
	if (r < 0)
		return bus_error_from_vbus(d, error, r, "import", source);
	objects_refresh(d);
	return reply_json_array(m, report);
}

/* Replies to M with DEF, as a stored definition reads (GetDefinition, FillDefinition). */
static int reply_definition(sd_bus_message *m, const struct vbus_def *def)
{
	_cleanup_json_ struct json_object *out = NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int r;

	r = vbus_def_to_json(def, &out);
	if (r < 0)
		return r;
	r = sd_bus_message_new_method_return(m, &reply);
	if (r >= 0)
		r = bus_append_json_object(reply, out);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

/* The definition with what PURPOSE gives it (kind, parent, driver, type): define --for. */
static int method_fill_definition(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct vbusd *d = userdata;
	_cleanup_json_ struct json_object *obj = NULL;
	_cleanup_def_ struct vbus_def *def = NULL;
	const char *purpose;
	int r;

	r = read_def(d, m, &obj, error);
	if (r < 0)
		return r;
	r = sd_bus_message_read(m, "s", &purpose);
	if (r < 0)
		return r;
	if (!purpose[0])
		return sd_bus_error_set(error, "org.vbus1.Error.InvalidArgument",
					"FillDefinition needs a purpose");
	r = def_parse_for(d, obj, purpose, &def, error);
	if (r < 0)
		return r;
	return reply_definition(m, def);
}

/* The stored definition NAME as its file holds it (a template too, whose devices the listing
 * shows instead of it): what vbusctl modify changes. */
static int method_get_definition(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct vbusd *d = userdata;
	_cleanup_def_ struct vbus_def *def = NULL;
	const char *name;
	int r;

	r = sd_bus_message_read(m, "s", &name);
	if (r < 0)
		return r;
	r = vbus_def_load(d->ctx, name, &def);
	if (r < 0)
		return bus_error_from_vbus(d, error, r, "read", name);
	return reply_definition(m, def);
}

/* What policy would create on PARENT for PURPOSE: the first half of Create with a purpose. */
static int method_pick_kind(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct vbusd *d = userdata;
	_cleanup_free_ char *parent_name = NULL, *driver = NULL;
	const char *parent, *purpose;
	enum vbus_kind kind;
	int r;

	r = sd_bus_message_read(m, "ss", &parent, &purpose);
	if (r < 0)
		return r;
	r = vbus_policy_pick(d->ctx, parent, purpose, &kind, &parent_name, &driver);
	if (r < 0)
		return bus_error_from_vbus(d, error, r, "pick a kind for", parent);
	return sd_bus_reply_method_return(m, "sss", vbus_kind_to_string(kind), parent_name,
					  driver);
}

static int property_get_root(sd_bus *bus, const char *path, const char *interface,
			     const char *property, sd_bus_message *reply, void *userdata,
			     sd_bus_error *error)
{
	struct vbusd *d = userdata;

	return sd_bus_message_append(reply, "s", vbus_ctx_get_root(d->ctx));
}

static int property_get_version(sd_bus *bus, const char *path, const char *interface,
				const char *property, sd_bus_message *reply, void *userdata,
				sd_bus_error *error)
{
	return sd_bus_message_append(reply, "s", VBUS_VERSION);
}

/* What the last listing of definitions warned about: vbusctl prints it with its listings. */
static int property_get_warnings(sd_bus *bus, const char *path, const char *interface,
				 const char *property, sd_bus_message *reply, void *userdata,
				 sd_bus_error *error)
{
	struct json_object *w = objects_warnings(userdata);
	int r;

	r = sd_bus_message_open_container(reply, 'a', "s");
	for (size_t i = 0; r >= 0 && w && i < json_object_array_length(w); i++)
		r = sd_bus_message_append(reply, "s",
					  json_object_get_string(json_object_array_get_idx(w, i)));
	if (r < 0)
		return r;
	return sd_bus_message_close_container(reply);
}

static const sd_bus_vtable manager_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Root", "s", property_get_root, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Warnings", "as", property_get_warnings, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_METHOD_WITH_ARGS("ListParents", SD_BUS_ARGS("s", parent),
				SD_BUS_RESULT("aa{sv}", parents), method_list_parents,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ListTypes", SD_BUS_ARGS("s", parent),
				SD_BUS_RESULT("aa{sv}", types), method_list_types,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ListDevices", SD_BUS_ARGS("u", flags, "s", name),
				SD_BUS_RESULT("h", fd), method_list_devices,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Define", SD_BUS_ARGS("a{sv}", definition),
				SD_BUS_RESULT("o", device, "b", parent_present), method_define,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Modify", SD_BUS_ARGS("s", name, "a{sv}", changes),
				SD_BUS_RESULT("o", device, "b", parent_present), method_modify,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ModifyLive", SD_BUS_ARGS("a{sv}", definition), SD_BUS_NO_RESULT,
				method_modify_live, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Undefine", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT,
				method_undefine, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Start", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT, method_start,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("StartWithFlags", SD_BUS_ARGS("s", name, "u", flags),
				SD_BUS_NO_RESULT, method_start_with_flags,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Stop", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT, method_stop,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Create",
				SD_BUS_ARGS("a{sv}", definition, "s", purpose, "u", flags),
				SD_BUS_RESULT("o", device), method_create,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Remove", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT,
				method_remove, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Assign", SD_BUS_ARGS("s", name, "s", driver), SD_BUS_NO_RESULT,
				method_assign, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Apply", SD_BUS_ARGS("aa{sv}", definitions, "u", flags),
				SD_BUS_RESULT("aa{sv}", plan), method_apply,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Import", SD_BUS_ARGS("s", source, "s", directory),
				SD_BUS_RESULT("aa{sv}", report), method_import,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ImportWithFlags",
				SD_BUS_ARGS("s", source, "s", directory, "u", flags),
				SD_BUS_RESULT("aa{sv}", report), method_import,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("FillDefinition", SD_BUS_ARGS("a{sv}", definition, "s", purpose),
				SD_BUS_RESULT("a{sv}", definition), method_fill_definition,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("GetDefinition", SD_BUS_ARGS("s", name),
				SD_BUS_RESULT("a{sv}", definition), method_get_definition,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("PickKind", SD_BUS_ARGS("s", parent, "s", purpose),
				SD_BUS_RESULT("s", kind, "s", kind_parent, "s", driver),
				method_pick_kind, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_SIGNAL_WITH_ARGS("DeviceAdded", SD_BUS_ARGS("s", name, "o", device,
							   "a{sv}", properties), 0),
	SD_BUS_SIGNAL_WITH_ARGS("DeviceRemoved", SD_BUS_ARGS("s", name, "o", device), 0),
	SD_BUS_SIGNAL_WITH_ARGS("DeviceDefined", SD_BUS_ARGS("s", name, "o", device,
							     "a{sv}", properties), 0),
	SD_BUS_SIGNAL_WITH_ARGS("DeviceModified", SD_BUS_ARGS("s", name, "o", device,
							      "a{sv}", properties), 0),
	SD_BUS_SIGNAL_WITH_ARGS("DeviceUndefined", SD_BUS_ARGS("s", name, "o", device), 0),
	SD_BUS_SIGNAL_WITH_ARGS("DeviceStarted", SD_BUS_ARGS("s", name, "o", device,
							     "s", sysfs_path), 0),
	SD_BUS_SIGNAL_WITH_ARGS("DeviceStopped", SD_BUS_ARGS("s", name, "o", device), 0),
	SD_BUS_SIGNAL_WITH_ARGS("DeviceBound", SD_BUS_ARGS("s", name, "o", device, "s", driver),
				0),
	SD_BUS_SIGNAL_WITH_ARGS("DeviceUnbound", SD_BUS_ARGS("s", name, "o", device,
							     "s", driver), 0),
	SD_BUS_SIGNAL_WITH_ARGS("DeviceFailed", SD_BUS_ARGS("s", name, "o", device, "s", action,
							    "s", error, "s", message), 0),
	SD_BUS_SIGNAL_WITH_ARGS("DeviceGaveUp", SD_BUS_ARGS("s", name, "o", device, "s", action,
							    "u", attempts, "s", message), 0),
	SD_BUS_SIGNAL_WITH_ARGS("Warning", SD_BUS_ARGS("s", message), 0),
	SD_BUS_VTABLE_END,
};

int manager_register(struct vbusd *d)
{
	return sd_bus_add_object_vtable(d->bus, NULL, VBUS_MANAGER_PATH, VBUS_MANAGER_IFACE,
					manager_vtable, d);
}

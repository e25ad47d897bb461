// SPDX-License-Identifier: LGPL-2.1-or-later
/* vbusctl over D-Bus: the transport ops as calls to org.vbus1 (vbusd), and `vbusctl monitor`. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "transport.h"
#include "vbus-private.h"

#if VBUSCTL_SD_BUS

#include "bus-util.h"
#include "sd-bus-dl.h"

/*
 * Owned with vbusd (daemon/): the Manager methods take and return the JSON model as a{sv} /
 * aa{sv} (shared/bus-util.c does both directions), so what vbusctl prints over the bus is
 * what it prints with --direct. D-Bus errors come back as errno through the one table of
 * org.vbus1.Error names; their message is the cause libvbus gave in the daemon.
 */
struct bus_transport {
	sd_bus *bus;
	struct vbus_ctx *ctx; /* parsing definitions only; never touches the system */
	char *last_error;
	bool mute_warnings; /* a listing made for another verb: its Warning signals unprinted */
};

static int set_error(struct bus_transport *b, const sd_bus_error *e, int r)
{
	free(b->last_error);
	b->last_error = NULL;
	if (e && sd_bus_error_is_set(e)) {
		/* Nobody owns org.vbus1 and nothing activates it: say what to do instead. */
		if (sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
		    sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
			b->last_error = strdup(VBUSD_NOT_RUNNING);
		else
			b->last_error = strdup(e->message ?: e->name);
		r = sd_bus_error_get_errno(e);
		return r > 0 ? -r : -EIO;
	}
	return r < 0 ? r : -EIO;
}

/* vbusd's Warning signals, addressed to this caller before a reply: what libvbus warned about
 * while acting for it, printed as libvbus prints it in-process. */
static int on_warning(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct bus_transport *b = userdata;
	const char *w;

	if (!b->mute_warnings && sd_bus_message_is_signal(m, VBUS_MANAGER_IFACE, "Warning") &&
	    sd_bus_message_read(m, "s", &w) >= 0)
		fprintf(stderr, "vbusctl: %s\n", w);
	return 0;
}

/* Dispatches what came before a reply (the Warning signals) now, before the result is shown. */
static void drain(struct bus_transport *b)
{
	while (sd_bus_process(b->bus, NULL) > 0)
		;
}

static int call(struct bus_transport *b, const char *method, sd_bus_message **ret,
		sd_bus_message *m)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r;

	r = sd_bus_call(b->bus, m, 0, &e, ret);
	drain(b);
	if (r < 0)
		r = set_error(b, &e, r);
	sd_bus_error_free(&e);
	return r;
}

static int new_call(struct bus_transport *b, const char *method, sd_bus_message **ret)
{
	int r = sd_bus_message_new_method_call(b->bus, ret, VBUS_BUS_NAME, VBUS_MANAGER_PATH,
					       VBUS_MANAGER_IFACE, method);

	if (r >= 0)
		/* Let polkit ask the user (pkttyagent and friends) when it needs to. */
		(void)sd_bus_message_set_allow_interactive_authorization(*ret, true);
	return r;
}

static int call_list(struct bus_transport *b, const char *method, const char *sig,
		     struct json_object **ret, ...)
{
	sd_bus_message *m = NULL, *reply = NULL;
	va_list ap;
	int r;

	r = new_call(b, method, &m);
	if (r >= 0) {
		va_start(ap, ret);
		r = sd_bus_message_appendv(m, sig, ap);
		va_end(ap);
	}
	if (r >= 0)
		r = call(b, method, &reply, m);
	if (r >= 0)
		r = bus_read_json_object_array(reply, ret);
	sd_bus_message_unref(m);
	sd_bus_message_unref(reply);
	return r;
}

static int b_list_parents(void *t, const char *parent, struct json_object **ret)
{
	return call_list(t, "ListParents", "s", ret, parent ?: "");
}

static int b_list_types(void *t, const char *parent, struct json_object **ret)
{
	return call_list(t, "ListTypes", "s", ret, parent ?: "");
}

/* vbusd's listing document: a read-only mapping of the sealed memfd of ListDevices. */
struct doc {
	const char *p;
	size_t len;
};

static void doc_unmap(struct doc *d)
{
	if (d->p)
		munmap((void *)d->p, d->len);
}

/* The whole memfd mapped (its pages populated in one call, not a fault each), without a copy;
 * a document with a NUL byte is not one vbusd writes. */
static int map_memfd(int fd, struct doc *ret)
{
	struct stat st;
	void *p;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > (1LL << 34))
		return -EBADMSG;
	p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (memchr(p, '\0', st.st_size)) {
		munmap(p, st.st_size);
		return -EBADMSG;
	}
	*ret = (struct doc){ .p = p, .len = st.st_size };
	return 0;
}

/* The listing as vbusd serves it: the JSON document of its model, in a sealed memfd. */
static int call_list_devices(struct bus_transport *b, unsigned flags, const char *name, bool warn,
			     struct doc *ret)
{
	const char *method = "ListDevices";
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL, *reply = NULL;
	int r, fd = -1;

	r = new_call(b, method, &m);
	if (r >= 0)
		r = sd_bus_message_append(m, "us", (uint32_t)flags, name ?: "");
	if (r >= 0) {
		/* The Warning signals before the reply: what reading the definitions warned
		 * about in vbusd (a file it cannot read), printed with each listing as libvbus
		 * prints it in-process ("vbusctl: Ignoring ..."). */
		r = sd_bus_call(b->bus, m, 0, &e, &reply);
		b->mute_warnings = !warn;
		drain(b);
		b->mute_warnings = false;
	}
	if (r < 0)
		r = set_error(b, &e, r);
	if (r >= 0)
		r = sd_bus_message_read(reply, "h", &fd);
	if (r >= 0)
		r = fd >= 0 ? map_memfd(fd, ret) : -EBADMSG;
	sd_bus_error_free(&e);
	sd_bus_message_unref(m);
	sd_bus_message_unref(reply);
	return r;
}

static int b_list_devices_document(void *t, unsigned flags, const char *name, FILE *out)
{
	_cleanup_(doc_unmap) struct doc d = {};
	int r;

	r = call_list_devices(t, flags, name, true, &d);
	if (r < 0)
		return r;
	/* Straight from the mapping: no copy of a document of megabytes. */
	return fwrite(d.p, 1, d.len, out) == d.len ? 0 : -EIO;
}

/* The listing's document parsed (a JSON array of the devices). */
static int list_json(struct bus_transport *b, unsigned flags, const char *name,
		     struct json_object **ret)
{
	_cleanup_(doc_unmap) struct doc d = {};
	struct json_object *arr = NULL;
	json_tokener *tok;
	int r;

	r = call_list_devices(b, flags, name, false, &d);
	if (r < 0)
		return r;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	arr = json_tokener_parse_ex(tok, d.p, (int)d.len);
	json_tokener_free(tok);
	if (!json_object_is_type(arr, json_type_array)) {
		json_object_put(arr);
		return -EBADMSG;
	}
	*ret = arr;
	return 0;
}

static const char *skip_space(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n'))
		p++;
	return p;
}

/* The model from vbusd's document, one element at a time: each object is parsed, made a
 * device and put before the next is read (10 000 devices never exist as JSON objects at once;
 * one parse of the whole document was measured slower: its allocations reuse no memory). */
static int b_list_devices(void *t, unsigned flags, const char *name, struct vbus_device ***ret,
			  size_t *ret_n)
{
	_cleanup_(doc_unmap) struct doc d = {};
	struct vbus_device **devs = NULL;
	size_t n = 0, allocated = 0;
	json_tokener *tok = NULL;
	const char *p, *end;
	int r;

	r = call_list_devices(t, flags, name, true, &d);
	if (r < 0)
		return r;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	end = d.p + d.len;
	p = skip_space(d.p, end);
	if (p == end || *p++ != '[')
		r = -EBADMSG;
	while (r >= 0) {
		struct json_object *o;

		p = skip_space(p, end);
		if (p < end && *p == ']')
			break;
		if (n == allocated) {
			struct vbus_device **v;

			allocated = allocated ? allocated * 2 : 64;
			v = realloc(devs, (allocated + 1) * sizeof(*v));
			if (!v) {
				r = -ENOMEM;
				break;
			}
			devs = v;
		}
		json_tokener_reset(tok);
		o = json_tokener_parse_ex(tok, p, (int)(end - p));
		if (!o) {
			r = -EBADMSG;
			break;
		}
		p += json_tokener_get_parse_end(tok);
		r = vbus_device_from_json(o, &devs[n]);
		json_object_put(o);
		if (r < 0)
			break;
		n++;
		p = skip_space(p, end);
		if (p < end && *p == ',')
			p++;
		else if (p == end || *p != ']')
			r = -EBADMSG;
	}
	json_tokener_free(tok);
	if (r < 0) {
		vbus_device_list_free(devs, n);
		return r == -ENOMEM ? r : -EBADMSG;
	}
	if (!devs && !(devs = calloc(1, sizeof(*devs))))
		return -ENOMEM;
	*ret = devs;
	*ret_n = n;
	return 0;
}

static int b_get_definition(struct bus_transport *b, const char *name, struct vbus_def **ret)
{
	sd_bus_message *m = NULL, *reply = NULL;
	struct json_object *obj = NULL;
	int r;

	r = new_call(b, "GetDefinition", &m);
	if (r >= 0)
		r = sd_bus_message_append(m, "s", name);
	if (r >= 0)
		r = call(b, "GetDefinition", &reply, m);
	if (r >= 0)
		r = bus_read_json_object(reply, &obj);
	if (r >= 0)
		r = vbus_def_from_json(b->ctx, obj, ret);
	json_object_put(obj);
	sd_bus_message_unref(m);
	sd_bus_message_unref(reply);
	return r;
}

static int b_def_load(void *t, const char *name, struct vbus_def **ret)
{
	struct bus_transport *b = t;
	struct json_object *arr = NULL;
	int r;

	if (!vbus_name_is_valid(name)) {
		/* Refused before any file is read: libvbus's own words, as with --direct. */
		r = vbus_def_load(b->ctx, name, ret);
		free(b->last_error);
		b->last_error = vbus_ctx_last_error(b->ctx) ? strdup(vbus_ctx_last_error(b->ctx))
							     : NULL;
		return r < 0 ? r : -EINVAL;
	}
	r = list_json(b, VBUS_LIST_DEFINED, name, &arr);
	/* Not listed: maybe a template, which the listing shows as its devices. */
	if (r == -ENOENT)
		return b_get_definition(b, name, ret);
	if (r < 0)
		return r;
	if (json_object_array_length(arr) == 0) {
		json_object_put(arr);
		return b_get_definition(b, name, ret);
	}
	r = vbus_def_from_json(b->ctx, json_object_array_get_idx(arr, 0), ret);
	if (r < 0) {
		free(b->last_error);
		b->last_error = vbus_ctx_last_error(b->ctx) ? strdup(vbus_ctx_last_error(b->ctx))
							     : NULL;
	}
	json_object_put(arr);
	return r;
}

/* libvbus in the daemon fills in what it picked (an mdev's UUID, a VF's or SF's index): show
 * it as --direct would. */
static void def_update(struct bus_transport *b, struct vbus_def *def)
{
	struct json_object *arr = NULL, *o, *v;

	if ((def->uuid && def->index >= 0) ||
	    list_json(b, VBUS_LIST_DEFINED, def->name, &arr) < 0)
		return;
	o = json_object_array_length(arr) ? json_object_array_get_idx(arr, 0) : NULL;
	if (o && !def->uuid && json_object_object_get_ex(o, "uuid", &v) &&
	    json_object_is_type(v, json_type_string))
		def->uuid = strdup(json_object_get_string(v));
	if (o && def->index < 0 && json_object_object_get_ex(o, "index", &v) &&
	    json_object_is_type(v, json_type_int))
		def->index = json_object_get_int64(v);
	json_object_put(arr);
}

/*
 * DEF as a{sv}. An mdev named by its UUID alone (define NAME --uuid U, mdevctl define -u U) has
 * no parent yet: libvbus in vbusd takes it from the running mdev at define, as in-process. The
 * JSON form wants one, so the key is written for a stand-in and left out.
 */
static int append_def(sd_bus_message *m, const struct vbus_def *def)
{
	struct json_object *obj = NULL;
	struct vbus_def stand_in;
	int r;

	if (!def->parent && def->kind == VBUS_KIND_MDEV && def->uuid) {
		stand_in = *def;
		stand_in.parent = def->uuid;
		r = vbus_def_to_json(&stand_in, &obj);
		if (r >= 0)
			json_object_object_del(obj, "parent");
	} else
		r = vbus_def_to_json(def, &obj);
	if (r < 0)
		return r;
	r = bus_append_json_object(m, obj);
	json_object_put(obj);
	return r;
}

static int b_define(void *t, struct vbus_def *def, unsigned flags)
{
	struct bus_transport *b = t;
	sd_bus_message *m = NULL, *reply = NULL;
	const char *path;
	int present = 1, r;

	r = new_call(b, flags & VBUS_DEFINE_REPLACE ? "Modify" : "Define", &m);
	if (r >= 0 && (flags & VBUS_DEFINE_REPLACE))
		r = sd_bus_message_append(m, "s", def->name);
	if (r >= 0)
		r = append_def(m, def);
	if (r >= 0)
		r = call(b, "Define", &reply, m);
	if (r >= 0)
		r = sd_bus_message_read(reply, "ob", &path, &present);
	sd_bus_message_unref(m);
	sd_bus_message_unref(reply);
	if (r < 0)
		return r;
	def_update(b, def);
	return present ? 0 : 1;
}

static int b_modify_live(void *t, const struct vbus_def *def)
{
	struct bus_transport *b = t;
	sd_bus_message *m = NULL, *reply = NULL;
	int r;

	r = new_call(b, "ModifyLive", &m);
	if (r >= 0)
		r = append_def(m, def);
	if (r >= 0)
		r = call(b, "ModifyLive", &reply, m);
	sd_bus_message_unref(m);
	sd_bus_message_unref(reply);
	return r < 0 ? r : 0;
}

static int call_names(struct bus_transport *b, const char *method, const char *a, const char *c)
{
	sd_bus_message *m = NULL, *reply = NULL;
	int r;

	r = new_call(b, method, &m);
	if (r >= 0)
		r = sd_bus_message_append(m, "s", a);
	if (r >= 0 && c)
		r = sd_bus_message_append(m, "s", c);
	if (r >= 0)
		r = call(b, method, &reply, m);
	sd_bus_message_unref(m);
	sd_bus_message_unref(reply);
	return r < 0 ? r : 0;
}

static int b_undefine(void *t, const char *name)
{
	return call_names(t, "Undefine", name, NULL);
}

static int b_start(void *t, const char *name)
{
	return call_names(t, "Start", name, NULL);
}

static int b_start_flags(void *t, const char *name, unsigned flags)
{
	struct bus_transport *b = t;
	sd_bus_message *m = NULL, *reply = NULL;
	int r;

	r = new_call(b, "StartWithFlags", &m);
	if (r >= 0)
		r = sd_bus_message_append(m, "su", name, (uint32_t)flags);
	if (r >= 0)
		r = call(b, "StartWithFlags", &reply, m);
	sd_bus_message_unref(m);
	sd_bus_message_unref(reply);
	return r < 0 ? r : 0;
}

static int b_stop(void *t, const char *name)
{
	return call_names(t, "Stop", name, NULL);
}

static int b_remove(void *t, const char *name)
{
	return call_names(t, "Remove", name, NULL);
}

static int b_assign(void *t, const char *name, const char *driver)
{
	return call_names(t, "Assign", name, driver);
}

static int b_create(void *t, struct vbus_def *def, unsigned flags)
{
	struct bus_transport *b = t;
	sd_bus_message *m = NULL, *reply = NULL;
	int r;

	r = new_call(b, "Create", &m);
	if (r >= 0)
		r = append_def(m, def);
	if (r >= 0)
		r = sd_bus_message_append(m, "su", "", (uint32_t)flags);
	if (r >= 0)
		r = call(b, "Create", &reply, m);
	sd_bus_message_unref(m);
	sd_bus_message_unref(reply);
	if (r < 0)
		return r;
	def_update(b, def);
	return 0;
}

static int b_import(void *t, const char *source, const char *dir, struct json_object **ret)
{
	return call_list(t, "Import", "ss", ret, source, dir ?: "");
}

struct pending {
	bool done;
	sd_bus_message *reply;
};

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct pending *p = userdata;

	p->reply = sd_bus_message_ref(m);
	p->done = true;
	return 0;
}

/*
 * sd_bus_call(), keeping the reply of an error too: an Apply that fails with --now
 * carries the plan after its message. The error (errno and cause) is set as call() sets it;
 * *ret is the reply either way.
 */
static int call_keep_error(struct bus_transport *b, sd_bus_message *m, sd_bus_message **ret)
{
	struct pending p = {};
	sd_bus_slot *slot = NULL;
	int r;

	r = sd_bus_call_async(b->bus, &slot, m, on_reply, &p, 0);
	while (r >= 0 && !p.done) {
		r = sd_bus_process(b->bus, NULL);
		if (r > 0 || p.done)
			continue;
		if (r >= 0)
			r = sd_bus_wait(b->bus, UINT64_MAX);
	}
	sd_bus_slot_unref(slot);
	if (r < 0) {
		sd_bus_message_unref(p.reply);
		return set_error(b, NULL, r);
	}
	*ret = p.reply;
	if (sd_bus_message_is_method_error(p.reply, NULL)) {
		sd_bus_error e = SD_BUS_ERROR_NULL;
		const char *message = NULL;

		/* Its message is the first argument (sd-bus fills it in only when it is the
		 * only one). */
		(void)sd_bus_message_read(p.reply, "s", &message);
		r = sd_bus_error_set(&e, sd_bus_message_get_error(p.reply)->name, message);
		r = set_error(b, &e, r);
		sd_bus_error_free(&e);
		return r;
	}
	return 0;
}

static int b_import_flags(void *t, const char *source, const char *dir, unsigned flags,
			  struct json_object **ret)
{
	return call_list(t, "ImportWithFlags", "ssu", ret, source, dir ?: "", (uint32_t)flags);
}

static int b_apply(void *t, struct json_object *definitions, unsigned flags,
		   struct json_object **ret_plan)
{
	struct bus_transport *b = t;
	sd_bus_message *m = NULL, *reply = NULL;
	int r;

	r = new_call(b, "Apply", &m);
	if (r >= 0)
		r = bus_append_json_object_array(m, definitions);
	if (r >= 0)
		r = sd_bus_message_append(m, "u", (uint32_t)flags);
	if (r >= 0)
		r = call_keep_error(b, m, &reply);
	if (r >= 0)
		r = bus_read_json_object_array(reply, ret_plan);
	else if (reply && sd_bus_message_rewind(reply, true) >= 0 &&
		 sd_bus_message_skip(reply, "s") >= 0 &&
		 sd_bus_message_peek_type(reply, NULL, NULL) > 0)
		/* The error with the plan: what was done, each failed step with its cause. */
		(void)bus_read_json_object_array(reply, ret_plan);
	sd_bus_message_unref(m);
	sd_bus_message_unref(reply);
	return r;
}

/* vbusd runs vbus_policy_fill() on the definition (without its kind) and sends it back. */
static int b_fill(void *t, struct vbus_def *def, const char *purpose)
{
	struct bus_transport *b = t;
	sd_bus_message *m = NULL, *reply = NULL;
	struct json_object *obj = NULL;
	struct vbus_def *filled = NULL;
	int r;

	r = new_call(b, "FillDefinition", &m);
	if (r >= 0)
		r = append_def(m, def);
	if (r >= 0)
		r = sd_bus_message_append(m, "s", purpose);
	if (r >= 0)
		r = call(b, "FillDefinition", &reply, m);
	if (r >= 0)
		r = bus_read_json_object(reply, &obj);
	if (r >= 0)
		r = vbus_def_from_json(b->ctx, obj, &filled);
	if (r >= 0) {
		/* Only what policy decides; the rest stays as the options gave it. */
		char *swap;

		def->kind = filled->kind;
		swap = def->parent, def->parent = filled->parent, filled->parent = swap;
		swap = def->driver, def->driver = filled->driver, filled->driver = swap;
		swap = def->type, def->type = filled->type, filled->type = swap;
	}
	vbus_def_free(filled);
	json_object_put(obj);
	sd_bus_message_unref(m);
	sd_bus_message_unref(reply);
	return r < 0 ? r : 0;
}

static const char *b_last_error(void *t)
{
	struct bus_transport *b = t;

	return b->last_error;
}

static void b_close(void *t)
{
	struct bus_transport *b = t;

	if (!b)
		return;
	sd_bus_flush_close_unref(b->bus);
	vbus_ctx_unref(b->ctx);
	free(b->last_error);
	free(b);
}

static int b_root(void *t, char **ret)
{
	struct bus_transport *b = t;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r;

	r = sd_bus_get_property_string(b->bus, VBUS_BUS_NAME, VBUS_MANAGER_PATH, VBUS_MANAGER_IFACE,
				       "Root", &e, ret);
	if (r < 0)
		r = set_error(b, &e, r);
	sd_bus_error_free(&e);
	return r;
}

static const struct transport_ops bus_ops = {
	.name = "bus",
	.list_parents = b_list_parents,
	.list_types = b_list_types,
	.list_devices = b_list_devices,
	.def_load = b_def_load,
	.define = b_define,
	.modify_live = b_modify_live,
	.undefine = b_undefine,
	.start = b_start,
	.start_flags = b_start_flags,
	.stop = b_stop,
	.create = b_create,
	.remove = b_remove,
	.assign = b_assign,
	.import = b_import,
	.import_flags = b_import_flags,
	.last_error = b_last_error,
	.close = b_close,
	.apply = b_apply,
	.fill = b_fill,
	.list_devices_document = b_list_devices_document,
	.root = b_root,
};

static int bus_open(sd_bus **ret)
{
	int r;

	/* libsystemd is loaded here, on the only path that talks to vbusd (sd-bus-dl.h). */
	r = dlopen_sd_bus();
	if (r < 0)
		return r;
	r = sd_bus_error_add_map(vbus_bus_errors);
	if (r < 0)
		return r;
	/* DBUS_SYSTEM_BUS_ADDRESS is honoured: the tests use a private bus. */
	return sd_bus_open_system(ret);
}

int transport_bus_open(struct transport *ret)
{
	struct bus_transport *b;
	int r;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	r = bus_open(&b->bus);
	if (r >= 0)
		r = sd_bus_add_filter(b->bus, NULL, on_warning, b);
	if (r >= 0)
		r = vbus_ctx_new(NULL, &b->ctx);
	if (r < 0) {
		b_close(b);
		return r;
	}
	ret->ops = &bus_ops;
	ret->data = b;
	return 0;
}

/* ---- monitor ------------------------------------------------------------------------------- */

static bool monitor_json;

static bool is(const char *a, const char *b)
{
	return a && strcmp(a, b) == 0;
}

/* A control character in a cause (it may quote a file) is shown escaped, as vbusctl's errors
 * show it: it cannot forge or hide a line on a terminal. */
static void print_escaped(const char *s)
{
	for (; *s; s++) {
		unsigned char c = *s;

		if (c < 0x20 || c == 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

/* One event: a line of text, or a JSON object with "event", "name", "path" and DETAILS (taken). */
static void print_event(const char *event, const char *name, const char *path, const char *text,
			struct json_object *details)
{
	if (monitor_json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "event", json_object_new_string(event));
		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "path", json_object_new_string(path));
		if (details) {
			json_object_object_foreach(details, k, v)
				json_object_object_add(o, k, json_object_get(v));
		}
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		printf("%-9s ", event);
		print_escaped(name);
		if (text) {
			putchar(' ');
			print_escaped(text);
		}
		putchar('\n');
	}
	json_object_put(details);
	fflush(stdout);
}

/* The signals of org.vbus1.Manager and the events they print (see vbusctl(8)). */
static const struct {
	const char *member, *event;
	const char *sig;    /* after "so" (name, path) */
	const char *keys[3]; /* JSON keys of the arguments in SIG (a{sv}: "device") */
} events[] = {
	{"DeviceAdded", "added", "a{sv}", {"device"}},
	{"DeviceDefined", "defined", "a{sv}", {"device"}},
	{"DeviceModified", "modified", "a{sv}", {"device"}},
	{"DeviceStarted", "started", "s", {"sysfs_path"}},
	{"DeviceBound", "bound", "s", {"driver"}},
	{"DeviceUnbound", "unbound", "s", {"driver"}},
	{"DeviceStopped", "stopped", "", {}},
	{"DeviceUndefined", "undefined", "", {}},
	{"DeviceRemoved", "removed", "", {}},
	{"DeviceFailed", "failed", "sss", {"action", "error", "message"}},
	{"DeviceGaveUp", "gave-up", "sus", {"action", "attempts", "message"}},
};

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	const char *member = sd_bus_message_get_member(m), *name, *path;
	struct json_object *details = NULL;
	char *text = NULL;
	size_t i;

	for (i = 0; i < sizeof(events) / sizeof(events[0]); i++)
		if (is(member, events[i].member))
			break;
	if (i == sizeof(events) / sizeof(events[0]) ||
	    sd_bus_message_read(m, "so", &name, &path) < 0)
		return 0;
	details = json_object_new_object();
	for (const char *t = events[i].sig; details && *t; t++) {
		const char *key = events[i].keys[t - events[i].sig], *sv = NULL;
		struct json_object *v = NULL;
		uint32_t u;

		if (*t == 'a') {
			if (bus_read_json_object(m, &v) < 0)
				goto bad;
			t += 4; /* a{sv} */
		} else if (*t == 'u') {
			if (sd_bus_message_read(m, "u", &u) < 0)
				goto bad;
			v = json_object_new_int64(u);
		} else {
			if (sd_bus_message_read(m, "s", &sv) < 0)
				goto bad;
			v = json_object_new_string(sv);
		}
		json_object_object_add(details, key, v);
	}
	/* The text line: the driver of bound/unbound, "ACTION: MESSAGE" of a failure,
	 * "ACTION after N attempts: MESSAGE" of a give-up. */
	if (is(events[i].event, "bound") || is(events[i].event, "unbound"))
		text = strdup(json_object_get_string(json_object_object_get(details, "driver")));
	else if (is(events[i].event, "failed") &&
		 asprintf(&text, "%s: %s",
			  json_object_get_string(json_object_object_get(details, "action")),
			  json_object_get_string(json_object_object_get(details, "message"))) < 0)
		text = NULL;
	else if (is(events[i].event, "gave-up") &&
		 asprintf(&text, "%s after %s attempts: %s",
			  json_object_get_string(json_object_object_get(details, "action")),
			  json_object_get_string(json_object_object_get(details, "attempts")),
			  json_object_get_string(json_object_object_get(details, "message"))) < 0)
		text = NULL;
	print_event(events[i].event, name, path, text, details);
	free(text);
	return 0;
bad:
	json_object_put(details);
	return 0;
}

static int on_name_lost(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	const char *name, *old, *new;

	if (sd_bus_message_read(m, "sss", &name, &old, &new) >= 0 && is(name, VBUS_BUS_NAME) &&
	    !new[0]) {
		fprintf(stderr, "vbusctl: vbusd left the bus\n");
		sd_bus_close(sd_bus_message_get_bus(m));
	}
	return 0;
}

int transport_bus_monitor(bool json)
{
	sd_bus *bus = NULL;
	sd_bus_slot *s1 = NULL, *s2 = NULL;
	sigset_t mask;
	int r;

	monitor_json = json;
	r = bus_open(&bus);
	if (r < 0) {
		fprintf(stderr,
			"vbusctl: Cannot reach the system bus (%s): " VBUSD_NOT_RUNNING "\n",
			strerror(-r));
		return r;
	}
	r = sd_bus_match_signal(bus, &s1, VBUS_BUS_NAME, VBUS_MANAGER_PATH, VBUS_MANAGER_IFACE,
				NULL, on_signal, NULL);
	if (r >= 0)
		r = sd_bus_add_match(bus, &s2,
				     "type='signal',sender='org.freedesktop.DBus',"
				     "interface='org.freedesktop.DBus',member='NameOwnerChanged',"
				     "arg0='" VBUS_BUS_NAME "'",
				     on_name_lost, NULL);
	if (r < 0) {
		fprintf(stderr, "vbusctl: Failed to subscribe to org.vbus1: %s\n", strerror(-r));
		goto out;
	}
	/* Readiness for scripts: the subscription is in place once this line is out (on
	 * standard error, so with -j too). */
	fprintf(stderr, "Monitoring org.vbus1 (Ctrl-C to stop)\n");
	sigemptyset(&mask);
	sigaddset(&mask, SIGPIPE);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	for (;;) {
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			break;
		if (r > 0)
			continue;
		r = sd_bus_wait(bus, UINT64_MAX);
		if (r < 0)
			break;
	}
	/* The bus going away (vbusd gone, Ctrl-C) ends the stream. */
	r = (r == -ECONNRESET || r == -ENOTCONN) ? 0 : r;
out:
	sd_bus_slot_unref(s1);
	sd_bus_slot_unref(s2);
	sd_bus_flush_close_unref(bus);
	return r;
}

#else /* no sd-bus: vbusctl runs in-process only */

int transport_bus_open(struct transport *ret)
{
	return -EOPNOTSUPP;
}

int transport_bus_monitor(bool json)
{
	fprintf(stderr, "vbusctl: built without sd-bus, monitor is not available\n");
	return -EOPNOTSUPP;
}

#endif

// SPDX-License-Identifier: LGPL-2.1-or-later
/* vbusctl run as "mdevctl": mdevctl 1.2/1.3's command line over vbus's mdev definitions. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli-util.h"
#include "config.h"
#include "libvbus-internal.h"
#include "mdevctl.h"
#include "transport.h"

#if VBUSCTL_SD_BUS
#include "sd-bus-dl.h"
#endif

/*
 * libvirt (virNodeDevice*), Nova and scripts run the program "mdevctl" found in PATH. Run under
 * that name, vbusctl takes mdevctl's options, prints mdevctl's text and JSON and exits as it
 * does (0, 1 for a failure, 2 for a usage error), while the definitions are vbus's: an mdev
 * defined here is /etc/vbus/devices.d/UUID.json and every vbus mdev definition (whatever its
 * name) is listed by its UUID. It goes through vbusd when vbusd is on the system bus, and
 * in-process otherwise (libvirt cannot pass --direct).
 */

enum {
	M_DEFINED = 1 << 0,
	M_DUMPJSON = 1 << 1,
	M_VERBOSE = 1 << 2,
	M_UUID = 1 << 3,
	M_PARENT = 1 << 4,
	M_TYPE = 1 << 5,
	M_AUTO = 1 << 6,
	M_MANUAL = 1 << 7,
	M_JSONFILE = 1 << 8,
	M_ADDATTR = 1 << 9,
	M_DELATTR = 1 << 10,
	M_INDEX = 1 << 11,
	M_VALUE = 1 << 12,
	M_LIVE = 1 << 13,
};

static const struct {
	unsigned bit;
	const char *name;
} m_opt_names[] = {
	{M_DEFINED, "--defined"}, {M_DUMPJSON, "--dumpjson"}, {M_VERBOSE, "--verbose"},
	{M_UUID, "--uuid"},	  {M_PARENT, "--parent"},     {M_TYPE, "--type"},
	{M_AUTO, "--auto"},	  {M_MANUAL, "--manual"},     {M_JSONFILE, "--jsonfile"},
	{M_ADDATTR, "--addattr"}, {M_DELATTR, "--delattr"},   {M_INDEX, "--index"},
	{M_VALUE, "--value"},	  {M_LIVE, "--live"},
};

static unsigned m_opts;
static const char *m_uuid, *m_parent, *m_type, *m_jsonfile, *m_addattr, *m_value;
static long m_index = -1;
static struct transport mtr;

static void merr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void merr(const char *fmt, ...)
{
	va_list ap;

	fputs("Error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int musage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int musage(const char *fmt, ...)
{
	va_list ap;

	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n\nFor more information try --help\n", stderr);
	return EXIT_USAGE;
}

/* The cause libvbus or vbusd gave, or strerror. */
static int mfailed(int r)
{
	const char *cause = mtr.ops->last_error(mtr.data);

	merr("%s", cause && *cause ? cause : strerror(r < 0 ? -r : r));
	return EXIT_FAILURE;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool jbool(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

static bool streq_ptr(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) == 0 : a == b;
}

/* ---- reading the vbus model as mdevctl's ------------------------------------------------- */

/* Every mdev of the listing FLAGS, sorted by parent then UUID (mdevctl's order). */
static int cmp_mdev(const void *a, const void *b)
{
	struct json_object *x = *(struct json_object *const *)a, *y = *(struct json_object *const *)b;
	int c = strcmp(jstr(x, "parent") ?: "", jstr(y, "parent") ?: "");

	return c ? c : strcmp(jstr(x, "uuid") ?: "", jstr(y, "uuid") ?: "");
}

/* What this file reads of an mdev of the model, as an object: name, parent, uuid, type,
 * active, defined, start, attrs. */
static struct json_object *mdev_object(const struct vbus_device *dev)
{
	struct json_object *o = json_object_new_object(), *attrs = json_object_new_array();
	const char *key, *value;

	if (!o || !attrs) {
		json_object_put(o);
		json_object_put(attrs);
		return NULL;
	}
	json_object_object_add(o, "name", json_object_new_string(vbus_device_get_name(dev)));
	json_object_object_add(o, "parent", json_object_new_string(vbus_device_get_parent(dev) ?: ""));
	json_object_object_add(o, "uuid", json_object_new_string(vbus_device_get_uuid(dev)));
	if (vbus_device_get_type(dev))
		json_object_object_add(o, "type", json_object_new_string(vbus_device_get_type(dev)));
	json_object_object_add(o, "active", json_object_new_boolean(vbus_device_is_active(dev)));
	json_object_object_add(o, "defined", json_object_new_boolean(vbus_device_is_defined(dev)));
	if (vbus_device_has_definition(dev))
		json_object_object_add(o, "start",
				       json_object_new_string(vbus_start_to_string(
					       vbus_device_get_start(dev)) ?: "auto"));
	for (size_t i = 0; vbus_device_get_attr(dev, i, &key, &value) >= 0; i++) {
		struct json_object *kv = json_object_new_object();

		json_object_object_add(kv, key, json_object_new_string(value));
		json_object_array_add(attrs, kv);
	}
	json_object_object_add(o, "attrs", attrs);
	return o;
}

static int load_mdevs(unsigned flags, struct json_object **ret)
{
	_cleanup_(json_putp) struct json_object *out = NULL;
	struct vbus_device **all = NULL;
	size_t n = 0;
	int r;

	r = mtr.ops->list_devices(mtr.data, flags, NULL, &all, &n);
	if (r < 0)
		return r;
	out = json_object_new_array();
	for (size_t i = 0; out && i < n; i++) {
		struct json_object *o;

		if (vbus_device_get_kind(all[i]) != VBUS_KIND_MDEV || !vbus_device_get_uuid(all[i]))
			continue;
		o = mdev_object(all[i]);
		if (!o || json_object_array_add(out, o) < 0) {
			json_object_put(o);
			vbus_device_list_free(all, n);
			return -ENOMEM;
		}
	}
	vbus_device_list_free(all, n);
	if (!out)
		return -ENOMEM;
	json_object_array_sort(out, cmp_mdev);
	*ret = out;
	out = NULL;
	return 0;
}

/* The definition whose mdev has UUID (any vbus name); NULL when none. */
static struct json_object *find_uuid(struct json_object *mdevs, const char *uuid, bool defined)
{
	for (size_t i = 0; i < json_object_array_length(mdevs); i++) {
		struct json_object *o = json_object_array_get_idx(mdevs, i);

		if (strcasecmp(jstr(o, "uuid"), uuid) == 0 && (!defined || jbool(o, "defined")))
			return o;
	}
	return NULL;
}

/*
 * The attributes mdevctl shows for the device O: its definition's, or for a running mdev with
 * no definition, those the callout script of its type reports ("get attributes", run here as
 * the caller, as mdevctl runs it; a failing script shows none). A new reference, or NULL.
 */
static struct json_object *device_attrs(struct json_object *o)
{
	static struct vbus_ctx *ctx;
	_cleanup_(def_freep) struct vbus_def *def = NULL;
	struct json_object *attrs;

	if (jbool(o, "defined"))
		return json_object_object_get_ex(o, "attrs", &attrs) ? json_object_get(attrs) : NULL;
	if (!jbool(o, "active") || (!ctx && vbus_ctx_new("/", &ctx) < 0) || vbus_def_new(&def) < 0)
		return NULL;
	def->kind = VBUS_KIND_MDEV;
	def->uuid = strdup(jstr(o, "uuid") ?: "");
	def->parent = strdup(jstr(o, "parent") ?: "");
	def->type = strdup(jstr(o, "type") ?: "");
	if (!def->uuid || !def->parent || !def->type || vbus_callout_get_attrs(ctx, def) <= 0)
		return NULL;
	attrs = json_object_new_array();
	for (size_t i = 0; attrs && i < def->n_attrs; i++) {
		struct json_object *a = json_object_new_object();

		json_object_object_add(a, def->attrs[i].key,
				       json_object_new_string(def->attrs[i].value));
		json_object_array_add(attrs, a);
	}
	return attrs;
}

/* mdevctl's per-device object: {"mdev_type", "start", "attrs"}. */
static struct json_object *mdev_json(struct json_object *o, struct json_object *attrs)
{
	struct json_object *obj = json_object_new_object();
	const char *start = jbool(o, "defined") ? jstr(o, "start") : NULL;

	if (!obj)
		return NULL;
	json_object_object_add(obj, "mdev_type", json_object_new_string(jstr(o, "type") ?: ""));
	json_object_object_add(obj, "start", json_object_new_string(start ?: "manual"));
	json_object_object_add(obj, "attrs", attrs ? json_object_get(attrs) : json_object_new_array());
	return obj;
}

/* Two-space indent and "[]" when empty, as mdevctl (serde_json) prints. */
static void print_json(struct json_object *v)
{
	_cleanup_(freep) char *s = NULL;

	if (vbus_json_format(v, &s) >= 0)
		fputs(s, stdout);
}

/* A type's description as mdevctl shows it: the lines of the sysfs file joined by ", ". */
static char *description(const char *d)
{
	size_t n = 0;
	char *s;

	if (!d)
		return NULL;
	s = malloc(strlen(d) * 2 + 1);
	if (!s)
		return NULL;
	for (const char *p = d; *p; p++) {
		if (*p != '\n') {
			s[n++] = *p;
		} else if (p[1]) {
			s[n++] = ',';
			s[n++] = ' ';
		}
	}
	s[n] = '\0';
	return s;
}

/* ---- verbs --------------------------------------------------------------------------------- */

static int m_list(void)
{
	_cleanup_(json_putp) struct json_object *mdevs = NULL, *byparent = NULL, *top = NULL;
	bool defined = m_opts & M_DEFINED;
	const char *last_parent = NULL;
	struct json_object *group = NULL;
	int r;

	r = load_mdevs(defined ? VBUS_LIST_DEFINED : VBUS_LIST_ACTIVE, &mdevs);
	if (r < 0)
		return mfailed(r);
	top = json_object_new_array();
	byparent = json_object_new_object();
	if (!top || !byparent)
		return mfailed(-ENOMEM);
	for (size_t i = 0; i < json_object_array_length(mdevs); i++) {
		struct json_object *o = json_object_array_get_idx(mdevs, i);
		_cleanup_(json_putp) struct json_object *attrs = NULL;
		const char *parent = jstr(o, "parent"), *uuid = jstr(o, "uuid");
		bool def = jbool(o, "defined");

		if (m_uuid && strcasecmp(uuid, m_uuid) != 0)
			continue;
		if (m_parent && !streq_ptr(parent, m_parent))
			continue;
		if ((m_opts & (M_DUMPJSON | M_VERBOSE)))
			attrs = device_attrs(o);
		if (m_opts & M_DUMPJSON) {
			struct json_object *entry;

			if (m_uuid) {
				/* One device: its object alone, as mdevctl prints it. */
				_cleanup_(json_putp) struct json_object *one = mdev_json(o, attrs);

				print_json(one);
				return EXIT_SUCCESS;
			}
			if (!streq_ptr(parent, last_parent)) {
				group = json_object_new_array();
				json_object_object_add(byparent, parent, group);
				last_parent = parent;
			}
			entry = json_object_new_object();
			json_object_object_add(entry, uuid, mdev_json(o, attrs));
			json_object_array_add(group, entry);
			continue;
		}
		printf("%s %s %s %s%s\n", uuid, parent, jstr(o, "type") ?: "",
		       def ? jstr(o, "start") : "manual",
		       defined && jbool(o, "active") ? " (active)"
		       : !defined && def	     ? " (defined)"
						     : "");
		if ((m_opts & M_VERBOSE) && attrs && json_object_array_length(attrs) > 0) {
			puts("  Attrs:");
			for (size_t k = 0; k < json_object_array_length(attrs); k++)
				printf("    @{%zu}: %s\n", k,
				       json_object_to_json_string_ext(
					       json_object_array_get_idx(attrs, k),
					       JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
		}
	}
	if (m_opts & M_DUMPJSON) {
		if (json_object_object_length(byparent) > 0)
			json_object_array_add(top, json_object_get(byparent));
		print_json(top);
	} else {
		putchar('\n');
	}
	return EXIT_SUCCESS;
}

static int m_types(void)
{
	_cleanup_(json_putp) struct json_object *types = NULL, *byparent = NULL, *top = NULL;
	const char *last_parent = NULL;
	struct json_object *group = NULL;
	int r;

	r = mtr.ops->list_types(mtr.data, NULL, &types);
	if (r < 0)
		return mfailed(r);
	top = json_object_new_array();
	byparent = json_object_new_object();
	if (!top || !byparent)
		return mfailed(-ENOMEM);
	for (size_t i = 0; i < json_object_array_length(types); i++) {
		struct json_object *t = json_object_array_get_idx(types, i), *n;
		const char *parent = jstr(t, "parent"), *type = jstr(t, "type");
		const char *name = jstr(t, "name");
		_cleanup_(freep) char *desc = description(jstr(t, "description"));
		int64_t avail = 0;

		if (!streq_ptr(jstr(t, "kind"), "mdev") || !parent || !type)
			continue;
		if (m_parent && !streq_ptr(parent, m_parent))
			continue;
		if (json_object_object_get_ex(t, "available_instances", &n))
			avail = json_object_get_int64(n);
		if (m_opts & M_DUMPJSON) {
			struct json_object *entry = json_object_new_object();
			struct json_object *info = json_object_new_object();

			if (!streq_ptr(parent, last_parent)) {
				group = json_object_new_array();
				json_object_object_add(byparent, parent, group);
				last_parent = parent;
			}
			json_object_object_add(info, "available_instances",
					       json_object_new_int64(avail));
			json_object_object_add(info, "device_api",
					       json_object_new_string(jstr(t, "device_api") ?: ""));
			if (name)
				json_object_object_add(info, "name", json_object_new_string(name));
			if (desc)
				json_object_object_add(info, "description",
						       json_object_new_string(desc));
			json_object_object_add(entry, type, info);
			json_object_array_add(group, entry);
			continue;
		}
		if (!streq_ptr(parent, last_parent)) {
			puts(parent);
			last_parent = parent;
		}
		printf("  %s\n    Available instances: %" PRId64 "\n    Device API: %s\n", type,
		       avail, jstr(t, "device_api") ?: "");
		if (name)
			printf("    Name: %s\n", name);
		if (desc)
			printf("    Description: %s\n", desc);
	}
	if (m_opts & M_DUMPJSON) {
		if (json_object_object_length(byparent) > 0)
			json_object_array_add(top, json_object_get(byparent));
		print_json(top);
	} else {
		putchar('\n');
	}
	return EXIT_SUCCESS;
}

static int new_uuid(char **ret)
{
	char buf[64] = "";
	FILE *f = fopen("/proc/sys/kernel/random/uuid", "re");

	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

static char *lowercase(const char *s)
{
	char *d = strdup(s);

	for (char *p = d; p && *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
	return d;
}

/* mdevctl's JSON (mdev_type, start, attrs) from --jsonfile into DEF. */
static int read_mdev_jsonfile(struct vbus_def *def)
{
	_cleanup_(json_putp) struct json_object *obj = json_object_from_file(m_jsonfile);
	struct json_object *attrs;
	const char *type, *start;
	int r;

	if (!obj) {
		const char *e = json_util_get_last_err();

		merr("Unable to read file %s: %.*s", m_jsonfile, e ? (int)strcspn(e, "\n") : 5,
		     e ?: "error");
		return -EINVAL;
	}
	type = jstr(obj, "mdev_type");
	if (!type) {
		merr("%s: no \"mdev_type\"", m_jsonfile);
		return -EINVAL;
	}
	free(def->type);
	def->type = strdup(type);
	start = jstr(obj, "start");
	if (start) {
		def->start = vbus_start_from_string(start);
		if (def->start < 0) {
			merr("%s: invalid \"start\" \"%s\"", m_jsonfile, start);
			return -EINVAL;
		}
	}
	if (json_object_object_get_ex(obj, "attrs", &attrs)) {
		if (!json_object_is_type(attrs, json_type_array)) {
			merr("%s: \"attrs\" is not an array", m_jsonfile);
			return -EINVAL;
		}
		for (size_t i = 0; i < json_object_array_length(attrs); i++) {
			struct json_object *a = json_object_array_get_idx(attrs, i);

			if (!json_object_is_type(a, json_type_object) ||
			    json_object_object_length(a) != 1) {
				merr("%s: attribute %zu is not one key and value", m_jsonfile, i);
				return -EINVAL;
			}
			json_object_object_foreach(a, k, v) {
				r = vbus_def_add_attr(def, k, json_object_get_string(v));
				if (r < 0)
					return r;
			}
		}
	}
	return def->type ? 0 : -ENOMEM;
}

static int m_define(void)
{
	_cleanup_(def_freep) struct vbus_def *def = NULL;
	_cleanup_(json_putp) struct json_object *mdevs = NULL;
	_cleanup_(freep) char *uuid = NULL;
	struct json_object *running = NULL;
	bool generated = false;
	int r;

	if ((m_opts & M_JSONFILE) && (m_opts & (M_TYPE | M_AUTO)))
		return musage("The argument '--%s' cannot be used with '--jsonfile <JSONFILE>'",
			      m_opts & M_TYPE ? "type <type>" : "auto");
	if (m_uuid) {
		uuid = lowercase(m_uuid);
	} else {
		r = new_uuid(&uuid);
		generated = true;
	}
	if (!uuid)
		return mfailed(-ENOMEM);
	r = load_mdevs(VBUS_LIST_DEFINED | VBUS_LIST_ACTIVE, &mdevs);
	if (r < 0)
		return mfailed(r);
	if (m_uuid) {
		struct json_object *d = find_uuid(mdevs, uuid, true);

		if (d) {
			merr("Device %s on %s already defined", uuid, jstr(d, "parent"));
			return EXIT_FAILURE;
		}
		/* A running mdev: parent and type may come from it (mdevctl define -u U). */
		running = find_uuid(mdevs, uuid, false);
	}
	r = vbus_def_new(&def);
	if (r < 0)
		return mfailed(r);
	def->kind = VBUS_KIND_MDEV;
	def->start = (m_opts & M_AUTO) ? VBUS_START_AUTO : VBUS_START_MANUAL;
	def->name = strdup(uuid);
	def->uuid = strdup(uuid);
	def->parent = strdup(m_parent ?: running ? jstr(running, "parent") : "");
	if (m_type)
		def->type = strdup(m_type);
	else if (running && !m_jsonfile && jstr(running, "type"))
		def->type = strdup(jstr(running, "type"));
	if (!def->name || !def->uuid || !def->parent || ((m_type || running) && !def->type))
		return mfailed(-ENOMEM);
	if (!def->parent[0]) {
		merr("No parent specified");
		return EXIT_FAILURE;
	}
	if (m_jsonfile) {
		r = read_mdev_jsonfile(def);
		if (r < 0)
			return EXIT_FAILURE;
	}
	if (!def->type) {
		merr("No type specified");
		return EXIT_FAILURE;
	}
	r = mtr.ops->define(mtr.data, def, 0);
	if (r < 0)
		return mfailed(r);
	if (generated)
		puts(uuid);
	return EXIT_SUCCESS;
}

/* The vbus definition of the mdev that -u names (and -p, when given). */
static int load_by_uuid(struct vbus_def **ret)
{
	_cleanup_(json_putp) struct json_object *mdevs = NULL;
	struct json_object *d;
	int r;

	r = load_mdevs(VBUS_LIST_DEFINED, &mdevs);
	if (r < 0)
		return mfailed(r);
	d = find_uuid(mdevs, m_uuid, true);
	if (!d || (m_parent && !streq_ptr(jstr(d, "parent"), m_parent))) {
		merr("No devices match the specified uuid");
		return EXIT_FAILURE;
	}
	r = mtr.ops->def_load(mtr.data, jstr(d, "name"), ret);
	if (r < 0)
		return mfailed(r);
	return 0;
}

static int m_undefine(void)
{
	_cleanup_(def_freep) struct vbus_def *def = NULL;
	int r;

	r = load_by_uuid(&def);
	if (r)
		return r;
	r = mtr.ops->undefine(mtr.data, def->name);
	return r < 0 ? mfailed(r) : EXIT_SUCCESS;
}

static void attrs_del(struct vbus_def *def, size_t i)
{
	free(def->attrs[i].key);
	free(def->attrs[i].value);
	memmove(def->attrs + i, def->attrs + i + 1, (def->n_attrs - i - 1) * sizeof(*def->attrs));
	def->n_attrs--;
}

static int m_modify(void)
{
	_cleanup_(def_freep) struct vbus_def *def = NULL;
	int r;

	if ((m_opts & M_AUTO) && (m_opts & M_MANUAL))
		return musage("The argument '--auto' cannot be used with '--manual'");
	if ((m_opts & M_ADDATTR) && (m_opts & M_DELATTR))
		return musage("The argument '--addattr <ADDATTR>' cannot be used with '--delattr'");
	if ((m_opts & M_ADDATTR) && !(m_opts & M_VALUE))
		return musage("The following required arguments were not provided:\n"
			      "    --value <VALUE>");
	r = load_by_uuid(&def);
	if (r)
		return r;
	if (m_jsonfile) {
		/* The file replaces type, start and attributes. */
		for (size_t i = def->n_attrs; i > 0; i--)
			attrs_del(def, i - 1);
		if (read_mdev_jsonfile(def) < 0)
			return EXIT_FAILURE;
	}
	if (m_type) {
		free(def->type);
		def->type = strdup(m_type);
		if (!def->type)
			return mfailed(-ENOMEM);
	}
	if (m_opts & M_AUTO)
		def->start = VBUS_START_AUTO;
	if (m_opts & M_MANUAL)
		def->start = VBUS_START_MANUAL;
	if (m_opts & M_ADDATTR) {
		size_t at = m_index >= 0 && (size_t)m_index < def->n_attrs ? (size_t)m_index
									    : def->n_attrs;

		r = vbus_def_add_attr(def, m_addattr, m_value);
		if (r < 0)
			return mfailed(r);
		/* Added last; move it to INDEX. */
		if (at < def->n_attrs - 1) {
			struct vbus_attr a = def->attrs[def->n_attrs - 1];

			memmove(def->attrs + at + 1, def->attrs + at,
				(def->n_attrs - 1 - at) * sizeof(*def->attrs));
			def->attrs[at] = a;
		}
	}
	if (m_opts & M_DELATTR) {
		/* Without --index, the last one (as mdevctl 1.2 does). */
		if (m_index < 0) {
			if (def->n_attrs > 0)
				attrs_del(def, def->n_attrs - 1);
		} else if ((size_t)m_index < def->n_attrs) {
			attrs_del(def, m_index);
		}
	}
	/* mdevctl 1.3: --live changes the running device, --defined (the default without
	 * --live) the definition; both, both (the running device first). */
	if (m_opts & M_LIVE) {
		if (!mtr.ops->modify_live) {
			merr("--live is not available over %s", mtr.ops->name);
			return EXIT_FAILURE;
		}
		r = mtr.ops->modify_live(mtr.data, def);
		if (r < 0)
			return mfailed(r);
		if (!(m_opts & M_DEFINED))
			return EXIT_SUCCESS;
	}
	r = mtr.ops->define(mtr.data, def, VBUS_DEFINE_REPLACE);
	return r < 0 ? mfailed(r) : EXIT_SUCCESS;
}

static int m_start(void)
{
	_cleanup_(def_freep) struct vbus_def *def = NULL;
	_cleanup_(json_putp) struct json_object *mdevs = NULL;
	_cleanup_(freep) char *uuid = NULL;
	struct json_object *d = NULL;
	bool generated = false;
	int r;

	if ((m_opts & M_JSONFILE) && (m_opts & M_TYPE))
		return musage("The argument '--type <type>' cannot be used with '--jsonfile "
			      "<JSONFILE>'");
	if (m_uuid) {
		r = load_mdevs(VBUS_LIST_DEFINED, &mdevs);
		if (r < 0)
			return mfailed(r);
		d = find_uuid(mdevs, m_uuid, true);
	}
	if (d && !m_type && !m_jsonfile) {
		/* A defined device. */
		if (m_parent && !streq_ptr(jstr(d, "parent"), m_parent)) {
			merr("No devices match the specified uuid");
			return EXIT_FAILURE;
		}
		r = mtr.ops->start(mtr.data, jstr(d, "name"));
		if (r == -EALREADY) {
			merr("Device %s already exists", m_uuid);
			return EXIT_FAILURE;
		}
		return r < 0 ? mfailed(r) : EXIT_SUCCESS;
	}
	if (!m_parent || (!m_type && !m_jsonfile)) {
		merr("Device is insufficiently specified");
		return EXIT_FAILURE;
	}
	/* A transient device: parent and type (or a JSON file) given. */
	if (m_uuid) {
		uuid = lowercase(m_uuid);
	} else {
		r = new_uuid(&uuid);
		generated = true;
	}
	if (!uuid)
		return mfailed(-ENOMEM);
	r = vbus_def_new(&def);
	if (r < 0)
		return mfailed(r);
	def->kind = VBUS_KIND_MDEV;
	def->start = VBUS_START_MANUAL;
	def->name = strdup(uuid);
	def->uuid = strdup(uuid);
	def->parent = strdup(m_parent);
	if (m_type)
		def->type = strdup(m_type);
	if (!def->name || !def->uuid || !def->parent || (m_type && !def->type))
		return mfailed(-ENOMEM);
	if (m_jsonfile && read_mdev_jsonfile(def) < 0)
		return EXIT_FAILURE;
	r = mtr.ops->create(mtr.data, def, VBUS_CREATE_TRANSIENT);
	if (r < 0)
		return mfailed(r);
	if (generated)
		puts(uuid);
	return EXIT_SUCCESS;
}

static int m_stop(void)
{
	_cleanup_(json_putp) struct json_object *mdevs = NULL;
	struct json_object *d;
	int r;

	r = load_mdevs(VBUS_LIST_DEFINED | VBUS_LIST_ACTIVE, &mdevs);
	if (r < 0)
		return mfailed(r);
	d = find_uuid(mdevs, m_uuid, false);
	if (!d || !jbool(d, "active")) {
		merr("Error removing device %s: it is not active", m_uuid);
		return EXIT_FAILURE;
	}
	r = mtr.ops->stop(mtr.data, jstr(d, "name"));
	return r < 0 ? mfailed(r) : EXIT_SUCCESS;
}

/* What the udev rule of mdevctl runs when a parent registers: its autostart devices. */
static int m_start_parent_mdevs(const char *parent)
{
	_cleanup_(json_putp) struct json_object *mdevs = NULL;
	int r, ret = EXIT_SUCCESS;

	r = load_mdevs(VBUS_LIST_DEFINED, &mdevs);
	if (r < 0)
		return mfailed(r);
	for (size_t i = 0; i < json_object_array_length(mdevs); i++) {
		struct json_object *o = json_object_array_get_idx(mdevs, i);

		if (!streq_ptr(jstr(o, "parent"), parent) || jbool(o, "active") ||
		    !streq_ptr(jstr(o, "start"), "auto"))
			continue;
		r = mtr.ops->start(mtr.data, jstr(o, "name"));
		if (r < 0 && r != -EALREADY) {
			mfailed(r);
			ret = EXIT_FAILURE;
		}
	}
	return ret;
}

/* ---- command line -------------------------------------------------------------------------- */

static const struct mverb {
	const char *name;
	unsigned opts, required;
	const char *help;
} mverbs[] = {
	{"list", M_DEFINED | M_DUMPJSON | M_VERBOSE | M_UUID | M_PARENT, 0,
	 "List mediated devices"},
	{"types", M_PARENT | M_DUMPJSON, 0, "List available mediated device types"},
	{"define", M_UUID | M_PARENT | M_TYPE | M_AUTO | M_JSONFILE, 0,
	 "Define a persistent mediated device"},
	{"undefine", M_UUID | M_PARENT, M_UUID, "Undefine a persistent mediated device"},
	{"modify",
	 M_UUID | M_PARENT | M_TYPE | M_AUTO | M_MANUAL | M_JSONFILE | M_ADDATTR | M_DELATTR |
		 M_INDEX | M_VALUE | M_LIVE | M_DEFINED,
	 M_UUID, "Modify the definition of a mediated device"},
	{"start", M_UUID | M_PARENT | M_TYPE | M_JSONFILE, 0, "Start a mediated device"},
	{"stop", M_UUID, M_UUID, "Stop a mediated device"},
	{"start-parent-mdevs", 0, 0, "Start the autostart devices of a parent"},
};

static void mhelp(void)
{
	printf("mdevctl (vbus %s)\nA mediated device management utility for Linux, "
	       "provided by vbusctl\n\nUSAGE:\n    mdevctl <SUBCOMMAND>\n\nOPTIONS:\n"
	       "    -h, --help       Print help information\n"
	       "    -V, --version    Print version information\n\nSUBCOMMANDS:\n",
	       VBUS_VERSION);
	for (size_t i = 0; i < sizeof(mverbs) / sizeof(mverbs[0]); i++)
		printf("    %-20s%s\n", mverbs[i].name, mverbs[i].help);
}

static const char *m_opt_name(unsigned bit)
{
	for (size_t i = 0; i < sizeof(m_opt_names) / sizeof(m_opt_names[0]); i++)
		if (m_opt_names[i].bit == bit)
			return m_opt_names[i].name;
	return "?";
}

static bool uuid_valid(const char *s)
{
	static const char pattern[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	if (strlen(s) != sizeof(pattern) - 1)
		return false;
	for (size_t i = 0; pattern[i]; i++) {
		bool hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
			   (s[i] >= 'A' && s[i] <= 'F');

		if (pattern[i] == '-' ? s[i] != '-' : !hex)
			return false;
	}
	return true;
}

/* Through vbusd when it is on the system bus (or activatable), else in-process. */
static int open_transport(void)
{
#if VBUSCTL_SD_BUS
	sd_bus *bus = NULL;
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	bool reachable = false;

	if (dlopen_sd_bus() >= 0 && sd_bus_open_system(&bus) >= 0) {
		reachable = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
					       "org.freedesktop.DBus", "GetNameOwner", &error,
					       &reply, "s", "org.vbus1") >= 0;
		sd_bus_error_free(&error);
		sd_bus_message_unref(reply);
		reply = NULL;
		if (!reachable &&
		    sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
				       "org.freedesktop.DBus", "ListActivatableNames", &error,
				       &reply, NULL) >= 0) {
			char **names = NULL;

			if (sd_bus_message_read_strv(reply, &names) >= 0)
				for (char **n = names; n && *n; n++)
					reachable = reachable || strcmp(*n, "org.vbus1") == 0;
			for (char **n = names; n && *n; n++)
				free(*n);
			free(names);
		}
		sd_bus_error_free(&error);
		sd_bus_message_unref(reply);
		sd_bus_flush_close_unref(bus);
	}
	if (reachable && transport_bus_open(&mtr) >= 0)
		return 0;
#endif
	return transport_direct_open("/", &mtr);
}

int mdevctl_main(int argc, char **argv)
{
	enum { A_DUMPJSON = 0x100, A_JSONFILE, A_ADDATTR, A_DELATTR, A_VALUE, A_LIVE };
	static const struct option options[] = {
		{"defined", no_argument, NULL, 'd'},	  {"dumpjson", no_argument, NULL, A_DUMPJSON},
		{"verbose", no_argument, NULL, 'v'},	  {"uuid", required_argument, NULL, 'u'},
		{"parent", required_argument, NULL, 'p'}, {"type", required_argument, NULL, 't'},
		{"auto", no_argument, NULL, 'a'},	  {"manual", no_argument, NULL, 'm'},
		{"jsonfile", required_argument, NULL, A_JSONFILE},
		{"addattr", required_argument, NULL, A_ADDATTR},
		{"delattr", no_argument, NULL, A_DELATTR},
		{"index", required_argument, NULL, 'i'},
		{"value", required_argument, NULL, A_VALUE},
		{"live", no_argument, NULL, A_LIVE},
		{"help", no_argument, NULL, 'h'},	  {"version", no_argument, NULL, 'V'},
		{}};
	const struct mverb *verb = NULL;
	const char *positional = NULL;
	int c, r;

	if (argc < 2) {
		mhelp();
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("mdevctl (vbus) %s\n", VBUS_VERSION);
		return EXIT_SUCCESS;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		mhelp();
		return EXIT_SUCCESS;
	}
	for (size_t i = 0; i < sizeof(mverbs) / sizeof(mverbs[0]); i++)
		if (strcmp(mverbs[i].name, argv[1]) == 0)
			verb = &mverbs[i];
	if (!verb)
		return musage("Found argument '%s' which wasn't expected, or isn't valid in this "
			      "context",
			      argv[1]);

	opterr = 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "+:dvu:p:t:amhi:V", options, NULL)) >= 0) {
		unsigned bit = 0;

		switch (c) {
		case 'd':
			bit = M_DEFINED;
			break;
		case A_DUMPJSON:
			bit = M_DUMPJSON;
			break;
		case 'v':
			bit = M_VERBOSE;
			break;
		case 'u':
			bit = M_UUID;
			m_uuid = optarg;
			if (!uuid_valid(optarg))
				return musage("Invalid value \"%s\" for '--uuid <UUID>'", optarg);
			break;
		case 'p':
			bit = M_PARENT;
			m_parent = optarg;
			break;
		case 't':
			bit = M_TYPE;
			m_type = optarg;
			break;
		case 'a':
			bit = M_AUTO;
			break;
		case 'm':
			bit = M_MANUAL;
			break;
		case A_JSONFILE:
			bit = M_JSONFILE;
			m_jsonfile = optarg;
			break;
		case A_ADDATTR:
			bit = M_ADDATTR;
			m_addattr = optarg;
			break;
		case A_DELATTR:
			bit = M_DELATTR;
			break;
		case 'i': {
			char *end;

			bit = M_INDEX;
			errno = 0;
			m_index = strtol(optarg, &end, 10);
			if (errno || *end || m_index < 0)
				return musage("Invalid value \"%s\" for '--index <INDEX>'", optarg);
			break;
		}
		case A_VALUE:
			bit = M_VALUE;
			m_value = optarg;
			break;
		case A_LIVE:
			bit = M_LIVE;
			break;
		case 'h':
			printf("mdevctl-%s\n%s\n", verb->name, verb->help);
			return EXIT_SUCCESS;
		case ':':
			return musage("The argument '%s' requires a value but none was supplied",
				      argv[optind - 1]);
		default:
			return musage("Found argument '%s' which wasn't expected, or isn't valid in "
				      "this context",
				      argv[optind - 1]);
		}
		if (!(verb->opts & bit))
			return musage("Found argument '%s' which wasn't expected, or isn't valid in "
				      "this context",
				      m_opt_name(bit));
		m_opts |= bit;
	}
	if (strcmp(verb->name, "start-parent-mdevs") == 0) {
		if (optind != argc - 1)
			return musage("start-parent-mdevs takes one PARENT");
		positional = argv[optind];
	} else if (optind < argc) {
		return musage("Found argument '%s' which wasn't expected, or isn't valid in this "
			      "context",
			      argv[optind]);
	}
	if ((verb->required & M_UUID) && !m_uuid)
		return musage("The following required arguments were not provided:\n"
			      "    --uuid <UUID>");

	r = open_transport();
	if (r < 0) {
		merr("Failed to set up: %s", strerror(-r));
		return EXIT_FAILURE;
	}
	if (strcmp(verb->name, "list") == 0)
		r = m_list();
	else if (strcmp(verb->name, "types") == 0)
		r = m_types();
	else if (strcmp(verb->name, "define") == 0)
		r = m_define();
	else if (strcmp(verb->name, "undefine") == 0)
		r = m_undefine();
	else if (strcmp(verb->name, "modify") == 0)
		r = m_modify();
	else if (strcmp(verb->name, "start") == 0)
		r = m_start();
	else if (strcmp(verb->name, "stop") == 0)
		r = m_stop();
	else
		r = m_start_parent_mdevs(positional);
	mtr.ops->close(mtr.data);
	return r;
}

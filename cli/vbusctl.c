// SPDX-License-Identifier: LGPL-2.1-or-later
/* vbusctl: the command line of vbus, a table of verbs over a transport (in-process or vbusd). */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "closest.h"
#include "cli-util.h"
#include "config.h"
#include "libvbus-internal.h"
#include "mdevctl.h"
#include "output.h"
#include "transport.h"

/* Options: each has a bit, and each verb says which it takes. */
enum {
	OPT_DEFINED = 1 << 0,
	OPT_ALL = 1 << 1,
	OPT_KIND = 1 << 2,
	OPT_PARENT = 1 << 3,
	OPT_TYPE = 1 << 4,
	OPT_UUID = 1 << 5,
	OPT_INDEX = 1 << 6,
	OPT_DRIVER = 1 << 7,
	OPT_ATTR = 1 << 8,
	OPT_AUTO = 1 << 9,
	OPT_MANUAL = 1 << 10,
	OPT_TAG = 1 << 11,
	OPT_JSONFILE = 1 << 12,
	OPT_TRANSIENT = 1 << 13,
	OPT_DRY_RUN = 1 << 14,
	OPT_FOR = 1 << 15,
	OPT_NOW = 1 << 16,
	OPT_LIVE = 1 << 17,
	OPT_FORCE = 1 << 18,
	OPT_KEEP_SOURCE = 1 << 19,
	OPT_SELECT = 1 << 20,
	OPT_COUNT = 1 << 21,
};
#define OPTS_DEF                                                                                   \
	(OPT_KIND | OPT_PARENT | OPT_TYPE | OPT_UUID | OPT_INDEX | OPT_DRIVER | OPT_ATTR |         \
	 OPT_AUTO | OPT_MANUAL | OPT_TAG | OPT_FOR | OPT_SELECT | OPT_COUNT)

static const struct {
	unsigned bit;
	const char *name;
} opt_names[] = {
    {OPT_DEFINED, "--defined"},	  {OPT_ALL, "--all"},
    {OPT_KIND, "--kind"},	  {OPT_PARENT, "--parent"},
    {OPT_TYPE, "--type"},	  {OPT_UUID, "--uuid"},
    {OPT_INDEX, "--index"},	  {OPT_DRIVER, "--driver"},
    {OPT_ATTR, "--attr"},	  {OPT_AUTO, "--auto"},
    {OPT_MANUAL, "--manual"},	  {OPT_TAG, "--tag"},
    {OPT_JSONFILE, "--jsonfile"}, {OPT_TRANSIENT, "--transient"},
    {OPT_DRY_RUN, "--dry-run"},	  {OPT_FOR, "--for"},
    {OPT_NOW, "--now"},
    {OPT_LIVE, "--live"},	  {OPT_FORCE, "--force"},
    {OPT_KEEP_SOURCE, "--keep-source"},
    {OPT_SELECT, "--select"},	  {OPT_COUNT, "--count"},
};

static bool arg_json;
static bool arg_direct;
static const char *arg_root;
static unsigned arg_opts; /* OPT_* given */
static const char *arg_for;
static const char *arg_kind, *arg_parent, *arg_type, *arg_uuid, *arg_driver, *arg_jsonfile;
static int64_t arg_index = -1;
static char **arg_attrs, **arg_tags, **arg_selects; /* as given: "KEY=VALUE", "TAG" */
static size_t arg_n_attrs, arg_n_tags, arg_n_selects;
static const char *arg_count;

static struct transport tr;

static void err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void err(const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	fputs("vbusctl: ", stderr);
	/* Names come from the user and from files: a control character in one (a newline, an
	 * escape sequence) is shown escaped, so it cannot forge or hide output on a terminal. */
	for (int i = 0; n >= 0 && i < n; i++) {
		unsigned char c = msg[i];

		if (c < 0x20 || c == 0x7f)
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
	fputc('\n', stderr);
	free(msg);
}

/* "Failed to VERB 'NAME': cause", the cause from the transport (libvbus names the object). */
static int failed(const char *verb, const char *name, int r)
{
	const char *cause = tr.ops->last_error(tr.data);

	if (!cause || !*cause)
		cause = strerror(r < 0 ? -r : r);
	if (name)
		err("Failed to %s '%s': %s", verb, name, cause);
	else
		err("Failed to %s: %s", verb, cause);
	return EXIT_FAILURE;
}

/* ---- listings ---------------------------------------------------------------------------- */

static char *fmt_types(struct json_object *row)
{
	struct json_object *v;
	char *s;

	if (!json_object_object_get_ex(row, "types", &v) ||
	    !json_object_is_type(v, json_type_array))
		return NULL;
	if (asprintf(&s, "%zu", json_object_array_length(v)) < 0)
		return NULL;
	return s;
}

static char *fmt_vfs(struct json_object *row)
{
	struct json_object *num, *total;
	char *s;

	if (!json_object_object_get_ex(row, "num_vfs", &num) ||
	    !json_object_object_get_ex(row, "total_vfs", &total))
		return NULL;
	if (asprintf(&s, "%" PRId64 "/%" PRId64, json_object_get_int64(num),
		     json_object_get_int64(total)) < 0)
		return NULL;
	return s;
}

static int verb_parents(int argc, char **argv)
{
	static const struct column cols[] = {
	    {"PARENT", "parent", NULL},
	    {"KIND", "kind", NULL},
	    {"TYPES", NULL, fmt_types},
	    {"VFS", NULL, fmt_vfs},
	};
	_cleanup_(json_putp) struct json_object *arr = NULL;
	const char *parent = argc > 1 ? argv[1] : NULL;
	int r;

	r = tr.ops->list_parents(tr.data, parent, &arr);
	if (r < 0)
		return failed("list parents", NULL, r);
	return output_list(arr, cols, sizeof(cols) / sizeof(cols[0]), arg_json) < 0;
}

/*
 * PARENT exists but has no types: say what it is instead of printing an empty table. Exit 1, as
 * `ip link show dev X` does for a name it cannot show: a script asking for PARENT's types gets
 * none, and the cause is on stderr.
 */
static int no_types(const char *parent)
{
	_cleanup_(json_putp) struct json_object *arr = NULL;
	char kinds[128] = "";
	const char *how = NULL;
	size_t n;

	if (tr.ops->list_parents(tr.data, parent, &arr) < 0)
		arr = NULL;
	n = arr ? json_object_array_length(arr) : 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *row = json_object_array_get_idx(arr, i), *k;
		const char *kind;

		if (!json_object_object_get_ex(row, "kind", &k))
			continue;
		kind = json_object_get_string(k);
		if (strcmp(kind, "vgpu") == 0)
			how = "it is a GPU whose VFs list its vGPU profiles, and none is free or it "
			      "has no VFs yet: a vgpu definition's start makes them";
		else if (strcmp(kind, "vf") == 0 && !how)
			how = "it is an SR-IOV PF: its VFs are made with --kind vf --index N";
		else if (strcmp(kind, "sf") == 0)
			how =
			    "it is a devlink SF parent: its SFs are made with --kind sf --index N";
		snprintf(kinds + strlen(kinds), sizeof(kinds) - strlen(kinds), "%s%s",
			 *kinds ? ", " : "", kind);
	}
	if (how)
		err("%s offers no creatable types (%s; see vbusctl parents %s)", parent, how,
		    parent);
	else if (*kinds)
		err("%s offers no creatable types (kind %s, but no types; see vbusctl parents %s)",
		    parent, kinds, parent);
	else
		err("%s offers no creatable types (see vbusctl parents)", parent);
	return EXIT_FAILURE;
}

static int verb_types(int argc, char **argv)
{
	static const struct column cols[] = {
	    {"PARENT", "parent", NULL},	 {"KIND", "kind", NULL},
	    {"TYPE", "type", NULL},	 {"AVAILABLE", "available_instances", NULL},
	    {"API", "device_api", NULL}, {"NAME", "name", NULL},
	};
	_cleanup_(json_putp) struct json_object *arr = NULL;
	const char *parent = argc > 1 ? argv[1] : NULL;
	int r;

	r = tr.ops->list_types(tr.data, parent, &arr);
	if (r < 0)
		return failed("list types", NULL, r);
	if (parent && json_object_array_length(arr) == 0)
		return no_types(parent);
	return output_list(arr, cols, sizeof(cols) / sizeof(cols[0]), arg_json) < 0;
}

static int verb_list(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : NULL;
	struct vbus_device **devs = NULL;
	size_t n = 0;
	unsigned flags;
	int r;

	if (arg_opts & OPT_ALL)
		flags = VBUS_LIST_ACTIVE | VBUS_LIST_DEFINED;
	else if (arg_opts & OPT_DEFINED)
		flags = VBUS_LIST_DEFINED;
	else
		flags = VBUS_LIST_ACTIVE;
	if (arg_json && tr.ops->list_devices_document) {
		/* vbusd serves the listing as this JSON document already: print it as it is. */
		r = tr.ops->list_devices_document(tr.data, flags, name, stdout);
		if (r == -EIO)
			return EXIT_FAILURE;
		if (r < 0)
			return failed("list", name, r);
		return EXIT_SUCCESS;
	}
	r = tr.ops->list_devices(tr.data, flags, name, &devs, &n);
	if (r < 0)
		return failed("list", name, r);
	r = print_devices(devs, n, arg_json);
	vbus_device_list_free(devs, n);
	return r < 0;
}

/* ---- definitions from options ------------------------------------------------------------ */

static int set_str(char **dst, const char *s)
{
	char *d = strdup(s);

	if (!d)
		return -ENOMEM;
	free(*dst);
	*dst = d;
	return 0;
}

/* A number as JSON takes it, else the text (libvbus names what is wrong with it). */
static struct json_object *number_or_string(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s && !*end && !errno)
		return json_object_new_int64(v);
	return json_object_new_string(s);
}

/* --select KEY=VALUE... and --count N|fill as the "select" and "count" keys (vbus.json(5)). */
static int apply_template_options(struct vbus_def *def)
{
	if (!def->extra && !(def->extra = json_object_new_object()))
		return -ENOMEM;
	if (arg_opts & OPT_SELECT) {
		struct json_object *sel = json_object_new_object();

		/* Any parent of the kind, which the selectors narrow (as a file without "parent"). */
		if (!def->parent && !(def->parent = strdup("*"))) {
			json_object_put(sel);
			return -ENOMEM;
		}

		if (!sel || json_object_object_add(def->extra, "select", sel) < 0) {
			json_object_put(sel);
			return -ENOMEM;
		}
		for (size_t i = 0; i < arg_n_selects; i++) {
			const char *eq = strchr(arg_selects[i], '=');
			_cleanup_(freep) char *key = strndup(arg_selects[i], eq - arg_selects[i]);
			struct json_object *v = key && strcmp(key, "numa_node") == 0
							? number_or_string(eq + 1)
							: json_object_new_string(eq + 1);

			if (!key || !v || json_object_object_add(sel, key, v) < 0) {
				json_object_put(v);
				return -ENOMEM;
			}
		}
	}
	if (arg_opts & OPT_COUNT) {
		struct json_object *v = number_or_string(arg_count);

		if (!v || json_object_object_add(def->extra, "count", v) < 0) {
			json_object_put(v);
			return -ENOMEM;
		}
	}
	return 0;
}

/* Applies the definition options to DEF (new or loaded for modify). */
static int apply_options(struct vbus_def *def)
{
	int r = 0;

	if (arg_kind)
		def->kind = vbus_kind_from_string(arg_kind);
	if (arg_parent)
		r = set_str(&def->parent, arg_parent);
	if (r >= 0 && arg_type)
		r = set_str(&def->type, arg_type);
	if (r >= 0 && arg_uuid)
		r = set_str(&def->uuid, arg_uuid);
	if (r >= 0 && arg_driver)
		r = set_str(&def->driver, arg_driver);
	if (r < 0)
		return r;
	if (arg_opts & OPT_INDEX)
		def->index = arg_index;
	if (arg_opts & OPT_AUTO)
		def->start = VBUS_START_AUTO;
	if (arg_opts & OPT_MANUAL)
		def->start = VBUS_START_MANUAL;
	if (arg_opts & OPT_ATTR) {
		/* Given attributes replace the list: their order is the order of writing. */
		for (size_t i = 0; i < def->n_attrs; i++) {
			free(def->attrs[i].key);
			free(def->attrs[i].value);
		}
		def->n_attrs = 0;
		for (size_t i = 0; i < arg_n_attrs; i++) {
			_cleanup_(freep) char *key = strdup(arg_attrs[i]);
			char *eq;

			if (!key)
				return -ENOMEM;
			eq = strchr(key, '=');
			*eq = '\0';
			r = vbus_def_add_attr(def, key, eq + 1);
			if (r < 0)
				return r;
		}
	}
	if (arg_opts & (OPT_SELECT | OPT_COUNT)) {
		r = apply_template_options(def);
		if (r < 0)
			return r;
	}
	if (arg_opts & OPT_TAG) {
		for (size_t i = 0; i < def->n_tags; i++)
			free(def->tags[i]);
		def->n_tags = 0;
		for (size_t i = 0; i < arg_n_tags; i++) {
			r = vbus_def_add_tag(def, arg_tags[i]);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* PATH as one JSON value, read as the store reads its files (same limits, nothing may follow
 * the value); the error is printed. */
int vbus_read_json_file(struct vbus_ctx *ctx, const char *path, struct json_object **ret);

static int read_json(const char *path, struct json_object **ret)
{
	struct vbus_ctx *ctx = NULL;
	int r;

	/* A private context only to parse: the transport may not be in-process. */
	r = vbus_ctx_new(NULL, &ctx);
	if (r < 0)
		return r;
	r = vbus_read_json_file(ctx, path, ret);
	if (r < 0)
		err("Failed to read %s: %s", path, vbus_ctx_last_error(ctx) ?: strerror(-r));
	vbus_ctx_unref(ctx);
	return r;
}

static int read_jsonfile(const char *name, struct vbus_def **ret)
{
	_cleanup_(json_putp) struct json_object *obj = NULL;
	struct vbus_ctx *ctx = NULL;
	int r;

	r = read_json(arg_jsonfile, &obj);
	if (r < 0)
		return r;
	r = vbus_ctx_new(NULL, &ctx);
	if (r < 0)
		return r;
	r = vbus_def_from_json(ctx, obj, ret);
	if (r < 0)
		err("Failed to read %s: %s", arg_jsonfile,
		    vbus_ctx_last_error(ctx) ?: strerror(-r));
	else if (name && strcmp(name, (*ret)->name) != 0) {
		err("Failed to read %s: it defines '%s', not '%s'", arg_jsonfile, (*ret)->name,
		    name);
		*ret = vbus_def_free(*ret);
		r = -EINVAL;
	}
	vbus_ctx_unref(ctx);
	return r;
}

/* The definition that define and create act on: from --jsonfile or from the options. */
static int build_def(int argc, char **argv, struct vbus_def **ret)
{
	_cleanup_(def_freep) struct vbus_def *def = NULL;
	const char *name = argc > 1 ? argv[1] : NULL;
	int r;

	if (arg_jsonfile) {
		if (arg_opts & OPTS_DEF) {
			err("--jsonfile does not combine with the definition options");
			return -EXIT_USAGE;
		}
		r = read_jsonfile(name, &def);
		if (r < 0)
			return -EXIT_FAILURE;
		*ret = def;
		def = NULL;
		return 0;
	}
	if (!name) {
		err("%s needs a NAME (or --jsonfile FILE)", argv[0]);
		return -EXIT_USAGE;
	}
	if (arg_for && arg_kind) {
		err("--for and --kind exclude each other");
		return -EXIT_USAGE;
	}
	/* --uuid alone names a running mdev: libvbus takes its parent and type. */
	if (arg_uuid && !arg_for && !arg_kind)
		arg_kind = "mdev";
	if ((!arg_kind && !arg_for) ||
	    (!arg_parent && !(arg_uuid && !arg_for) && !(arg_opts & OPT_SELECT))) {
		err("%s needs --kind (or --for) and --parent (or --select)", argv[0]);
		return -EXIT_USAGE;
	}
	r = vbus_def_new(&def);
	if (r >= 0)
		r = set_str(&def->name, name);
	if (r >= 0)
		r = apply_options(def);
	if (r < 0) {
		err("Out of memory");
		return -EXIT_FAILURE;
	}
	if (arg_for) {
		/* Policy picks the kind, the parent's name for it, the driver unless --driver
		 * says, and the type of a kind that has types unless --type says. */
		if (!tr.ops->fill) {
			err("--for is not available over %s", tr.ops->name);
			return -EXIT_FAILURE;
		}
		r = tr.ops->fill(tr.data, def, arg_for);
		if (r < 0) {
			failed(argv[0], name, r);
			return -EXIT_FAILURE;
		}
	}
	*ret = def;
	def = NULL;
	return 0;
}

/* With -j the stored definition; otherwise what the user did not choose: the uuid or index. */
static void print_def(const struct vbus_def *def, bool uuid_generated, bool index_picked)
{
	_cleanup_(json_putp) struct json_object *obj = NULL;

	if (arg_json) {
		if (vbus_def_to_json(def, &obj) >= 0)
			output_json(obj);
	} else if (uuid_generated && def->uuid) {
		puts(def->uuid);
	} else if (index_picked && def->index >= 0) {
		printf("%" PRId64 "\n", def->index);
	}
}

static bool picks_index(const struct vbus_def *def)
{
	return (def->kind == VBUS_KIND_VF || def->kind == VBUS_KIND_SF) && def->index < 0;
}

static int verb_define(int argc, char **argv)
{
	_cleanup_(def_freep) struct vbus_def *def = NULL;
	bool gen, pick;
	int r;

	r = build_def(argc, argv, &def);
	if (r < 0)
		return -r;
	gen = def->kind == VBUS_KIND_MDEV && !def->uuid;
	pick = picks_index(def);
	r = tr.ops->define(tr.data, def, 0);
	if (r < 0)
		return failed("define", def->name, r);
	if (r > 0 && vbus_def_is_template(def))
		err("No parent matches '%s' now; its devices start when one appears", def->name);
	else if (r > 0)
		err("Parent %s of '%s' is not present; it will start when it appears", def->parent,
		    def->name);
	print_def(def, gen, pick);
	return EXIT_SUCCESS;
}

static int verb_modify(int argc, char **argv)
{
	_cleanup_(def_freep) struct vbus_def *def = NULL;
	int r;

	/* --live alone gives the running device what its definition says now. */
	if (!(arg_opts & (OPTS_DEF | OPT_LIVE))) {
		err("modify needs at least one option to change");
		return EXIT_USAGE;
	}
	r = tr.ops->def_load(tr.data, argv[1], &def);
	if (r < 0)
		return failed("modify", argv[1], r);
	r = apply_options(def);
	if (r < 0) {
		err("Out of memory");
		return EXIT_FAILURE;
	}
	if (arg_opts & OPT_LIVE) {
		/* The running device first: a refusal leaves the definition as it was. */
		if (!tr.ops->modify_live) {
			err("Failed to modify '%s': --live is not available over %s", argv[1],
			    tr.ops->name);
			return EXIT_FAILURE;
		}
		r = tr.ops->modify_live(tr.data, def);
		if (r < 0)
			return failed("modify", argv[1], r);
	}
	r = tr.ops->define(tr.data, def, VBUS_DEFINE_REPLACE);
	if (r < 0)
		return failed("modify", argv[1], r);
	if (r > 0)
		err("Parent %s of '%s' is not present; it will start when it appears", def->parent,
		    def->name);
	print_def(def, false, false);
	return EXIT_SUCCESS;
}

static int verb_create(int argc, char **argv)
{
	_cleanup_(def_freep) struct vbus_def *def = NULL;
	bool gen, pick;
	int r;

	r = build_def(argc, argv, &def);
	if (r < 0)
		return -r;
	gen = def->kind == VBUS_KIND_MDEV && !def->uuid;
	pick = picks_index(def);
	r = tr.ops->create(tr.data, def,
			   (arg_opts & OPT_TRANSIENT ? VBUS_CREATE_TRANSIENT : 0) |
				   (arg_opts & OPT_FORCE ? VBUS_CREATE_FORCE : 0));
	if (r < 0)
		return failed("create", def->name, r);
	print_def(def, gen, pick);
	return EXIT_SUCCESS;
}

static int verb_undefine(int argc, char **argv)
{
	int r = tr.ops->undefine(tr.data, argv[1]);

	return r < 0 ? failed("undefine", argv[1], r) : EXIT_SUCCESS;
}

static int verb_start(int argc, char **argv)
{
	int r = arg_opts & OPT_FORCE ? tr.ops->start_flags(tr.data, argv[1], VBUS_START_FORCE)
				     : tr.ops->start(tr.data, argv[1]);

	return r < 0 ? failed("start", argv[1], r) : EXIT_SUCCESS;
}

static int verb_stop(int argc, char **argv)
{
	int r = tr.ops->stop(tr.data, argv[1]);

	return r < 0 ? failed("stop", argv[1], r) : EXIT_SUCCESS;
}

static int verb_remove(int argc, char **argv)
{
	int r = tr.ops->remove(tr.data, argv[1]);

	return r < 0 ? failed("remove", argv[1], r) : EXIT_SUCCESS;
}

static int verb_assign(int argc, char **argv)
{
	int r;

	if (!vbus_driver_is_valid(argv[2])) {
		err("Invalid driver '%s'", argv[2]);
		return EXIT_USAGE;
	}
	r = tr.ops->assign(tr.data, argv[1], argv[2]);
	return r < 0 ? failed("assign", argv[1], r) : EXIT_SUCCESS;
}

static int verb_import(int argc, char **argv)
{
	_cleanup_(json_putp) struct json_object *rep = NULL;
	size_t n;
	int r;

	if (strcmp(argv[1], "mdevctl") != 0 && strcmp(argv[1], "driverctl") != 0) {
		err("Unknown import source '%s' (mdevctl or driverctl)", argv[1]);
		return EXIT_USAGE;
	}
	r = arg_opts & OPT_KEEP_SOURCE
		    ? tr.ops->import_flags(tr.data, argv[1], argc > 2 ? argv[2] : NULL,
					   VBUS_IMPORT_KEEP_SOURCE, &rep)
		    : tr.ops->import(tr.data, argv[1], argc > 2 ? argv[2] : NULL, &rep);
	if (r < 0)
		return failed("import", argv[1], r);
	if (arg_json) {
		output_json(rep);
		return EXIT_SUCCESS;
	}
	n = json_object_array_length(rep);
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(rep, i), *name, *src, *ok, *why,
				   *moved = NULL;

		json_object_object_get_ex(o, "name", &name);
		json_object_object_get_ex(o, "source", &src);
		json_object_object_get_ex(o, "imported", &ok);
		json_object_object_get_ex(o, "reason", &why);
		json_object_object_get_ex(o, "moved_to", &moved);
		if (json_object_get_boolean(ok)) {
			printf("Imported '%s' from %s%s%s\n", json_object_get_string(name),
			       json_object_get_string(src), moved ? ", moved to " : "",
			       moved ? json_object_get_string(moved) : "");
			if (why)
				err("'%s': %s", json_object_get_string(name),
				    json_object_get_string(why));
		} else {
			err("Skipping %s: %s", json_object_get_string(src),
			    json_object_get_string(why));
		}
	}
	return EXIT_SUCCESS;
}

/* Signals of vbusd, so always over the bus (cli/bus.c). */
static int verb_monitor(int argc, char **argv)
{
	if (arg_root || arg_direct) {
		err("monitor needs vbusd: it cannot run with --root or --direct");
		return EXIT_USAGE;
	}
	return transport_bus_monitor(arg_json) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* The CDI specs are files any user may read (vbusd keeps them): read here, on every transport,
 * below the root the core works on. */
static int verb_cdi(int argc, char **argv)
{
	static const struct column cols[] = {
	    {"CDI NAME", "cdi_name", NULL},
	    {"DEVICE NODES", "device_nodes", NULL},
	    {"ENV", "env", NULL},
	};
	_cleanup_(json_putp) struct json_object *specs = NULL, *rows = NULL;
	_cleanup_(freep) char *root = NULL;
	struct vbus_ctx *ctx = NULL;
	bool list = argc > 1;
	int r;

	if (list && strcmp(argv[1], "list") != 0) {
		err("Unknown cdi command '%s' (cdi [list])", argv[1]);
		return EXIT_USAGE;
	}
	/* Where the core writes them: vbusd's root over the bus. */
	r = tr.ops->root ? tr.ops->root(tr.data, &root) : 0;
	if (r < 0) {
		err("Failed to read the CDI specs: cannot ask for the root: %s",
		    tr.ops->last_error(tr.data) ?: strerror(-r));
		return EXIT_FAILURE;
	}
	r = vbus_ctx_new(root ?: "/", &ctx);
	if (r >= 0) {
		r = vbus_cdi_read(ctx, &specs);
		if (r < 0)
			err("Failed to read the CDI specs: %s",
			    vbus_ctx_last_error(ctx) ?: strerror(-r));
		vbus_ctx_unref(ctx);
	} else
		err("Failed to read the CDI specs: %s", strerror(-r));
	if (r < 0)
		return EXIT_FAILURE;
	if (!list && arg_json) {
		output_json(specs);
		return EXIT_SUCCESS;
	}
	rows = json_object_new_array();
	for (size_t i = 0; rows && i < json_object_array_length(specs); i++) {
		struct json_object *spec = json_object_array_get_idx(specs, i), *kind, *devs;

		if (!json_object_object_get_ex(spec, "kind", &kind) ||
		    !json_object_object_get_ex(spec, "devices", &devs))
			continue;
		for (size_t j = 0; j < json_object_array_length(devs); j++) {
			struct json_object *d = json_object_array_get_idx(devs, j), *name, *edits;
			struct json_object *row, *nodes, *env = NULL, *v;
			char *q = NULL;

			if (!json_object_object_get_ex(d, "name", &name) ||
			    asprintf(&q, "%s=%s", json_object_get_string(kind),
				     json_object_get_string(name)) < 0)
				continue;
			if (list) {
				json_object_array_add(rows, json_object_new_string(q));
				free(q);
				continue;
			}
			row = json_object_new_object();
			nodes = json_object_new_array();
			json_object_object_add(row, "cdi_name", json_object_new_string(q));
			free(q);
			json_object_object_get_ex(d, "containerEdits", &edits);
			if (edits && json_object_object_get_ex(edits, "deviceNodes", &v))
				for (size_t k = 0; k < json_object_array_length(v); k++) {
					struct json_object *p;

					if (json_object_object_get_ex(json_object_array_get_idx(v, k),
								      "path", &p))
						json_object_array_add(nodes, json_object_get(p));
				}
			if (edits)
				json_object_object_get_ex(edits, "env", &env);
			json_object_object_add(row, "device_nodes", nodes);
			json_object_object_add(row, "env", env ? json_object_get(env) : NULL);
			json_object_array_add(rows, row);
		}
	}
	if (!rows) {
		err("Failed to list the CDI devices: %s", strerror(ENOMEM));
		return EXIT_FAILURE;
	}
	if (!list)
		return output_list(rows, cols, sizeof(cols) / sizeof(cols[0]), false) < 0;
	if (arg_json) {
		output_json(rows);
		return EXIT_SUCCESS;
	}
	for (size_t i = 0; i < json_object_array_length(rows); i++)
		puts(json_object_get_string(json_object_array_get_idx(rows, i)));
	return EXIT_SUCCESS;
}

/* The plan as a table: each device a template makes follows its entry, ACTION "device". */
static int print_plan(struct json_object *plan)
{
	static const struct column cols[] = {
	    {"ACTION", "action", NULL},
	    {"NAME", "name", NULL},
	    {"KIND", "kind", NULL},
	    {"PARENT", "parent", NULL},
	    {"PRESENT", "parent_present", NULL},
	};
	_cleanup_(json_putp) struct json_object *rows = NULL;

	if (arg_json)
		return output_list(plan, cols, sizeof(cols) / sizeof(cols[0]), true);
	rows = json_object_new_array();
	if (!rows)
		return -ENOMEM;
	for (size_t i = 0; i < json_object_array_length(plan); i++) {
		struct json_object *o = json_object_array_get_idx(plan, i), *devs, *kind;

		json_object_array_add(rows, json_object_get(o));
		if (!json_object_object_get_ex(o, "devices", &devs))
			continue;
		json_object_object_get_ex(o, "kind", &kind);
		for (size_t k = 0; k < json_object_array_length(devs); k++) {
			struct json_object *d = json_object_array_get_idx(devs, k), *v;
			struct json_object *row = json_object_new_object();

			if (!row)
				return -ENOMEM;
			json_object_object_add(row, "action", json_object_new_string("device"));
			if (json_object_object_get_ex(d, "name", &v))
				json_object_object_add(row, "name", json_object_get(v));
			json_object_object_add(row, "kind", json_object_get(kind));
			if (json_object_object_get_ex(d, "parent", &v))
				json_object_object_add(row, "parent", json_object_get(v));
			json_object_object_add(row, "parent_present", json_object_new_boolean(true));
			json_object_array_add(rows, row);
		}
	}
	return output_list(rows, cols, sizeof(cols) / sizeof(cols[0]), false);
}

/* apply and config apply: LIST read from WHAT. */
static int apply_list(const char *what, struct json_object *list)
{
	_cleanup_(json_putp) struct json_object *plan = NULL;
	unsigned flags = 0;
	size_t n;
	int r;

	if (!json_object_is_type(list, json_type_array)) {
		err("Failed to read %s: not a JSON array of definitions", what);
		return EXIT_FAILURE;
	}
	if (!tr.ops->apply) {
		err("apply is not available over %s", tr.ops->name);
		return EXIT_FAILURE;
	}
	if (arg_opts & OPT_DRY_RUN)
		flags |= VBUS_APPLY_DRY_RUN;
	if (arg_opts & OPT_NOW)
		flags |= VBUS_APPLY_NOW;
	r = tr.ops->apply(tr.data, list, flags, &plan);
	/* With --now a device that did not start or stop fails the command, but the definitions
	 * were applied: the plan says what was done, each failed step is named with its cause. */
	if (r < 0 && !plan)
		return failed("apply", what, r);
	if (print_plan(plan) < 0)
		return EXIT_FAILURE;
	n = json_object_array_length(plan);
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(plan, i), *action, *name, *why;

		if (!json_object_object_get_ex(o, "error", &why))
			continue;
		json_object_object_get_ex(o, "action", &action);
		json_object_object_get_ex(o, "name", &name);
		err("Failed to %s '%s': %s", json_object_get_string(action),
		    json_object_get_string(name), json_object_get_string(why));
	}
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

static int verb_apply(int argc, char **argv)
{
	_cleanup_(json_putp) struct json_object *list = NULL;

	if (read_json(argv[1], &list) < 0)
		return EXIT_FAILURE;
	return apply_list(argv[1], list);
}

/* Named configs (NVIDIA vgpu-device-manager's pattern): /etc/vbus/configs.d/NAME.json, under
 * --root DIR when given, each a list as apply takes it. */
#define CONFIGS_DIR "/etc/vbus/configs.d"

static int verb_config(int argc, char **argv)
{
	_cleanup_(json_putp) struct json_object *list = NULL;
	_cleanup_(freep) char *path = NULL;

	if (strcmp(argv[1], "list") == 0 && argc == 2) {
		_cleanup_(freep) char *dir = NULL;
		struct dirent **des = NULL;
		int n;

		if (asprintf(&dir, "%s" CONFIGS_DIR, arg_root ?: "") < 0)
			return EXIT_FAILURE;
		n = scandir(dir, &des, NULL, alphasort);
		if (n < 0 && errno != ENOENT) {
			err("Failed to read %s: %s", CONFIGS_DIR, strerror(errno));
			return EXIT_FAILURE;
		}
		for (int i = 0; i < n; i++) {
			size_t len = strlen(des[i]->d_name);

			if (des[i]->d_name[0] != '.' && len > 5 &&
			    strcmp(des[i]->d_name + len - 5, ".json") == 0)
				printf("%.*s\n", (int)len - 5, des[i]->d_name);
			free(des[i]);
		}
		free(des);
		return EXIT_SUCCESS;
	}
	if (strcmp(argv[1], "apply") != 0 || argc != 3) {
		err("Usage: vbusctl config apply NAME [--dry-run] [--now] | vbusctl config list");
		return EXIT_USAGE;
	}
	if (!vbus_name_is_valid(argv[2])) {
		err("Invalid config name \"%s\" (1-64 of A-Z a-z 0-9 _ . : -, starting with a letter "
		    "or digit)",
		    argv[2]);
		return EXIT_USAGE;
	}
	if (asprintf(&path, "%s" CONFIGS_DIR "/%s.json", arg_root ?: "", argv[2]) < 0)
		return EXIT_FAILURE;
	if (access(path, F_OK) < 0 && errno == ENOENT) {
		err("Failed to apply config '%s': no %s/%s.json", argv[2], CONFIGS_DIR, argv[2]);
		return EXIT_FAILURE;
	}
	if (read_json(path, &list) < 0)
		return EXIT_FAILURE;
	return apply_list(path, list);
}

/* ---- verbs and options ------------------------------------------------------------------- */

struct verb {
	const char *name;
	int min_args, max_args; /* not counting the verb */
	unsigned opts;
	int (*fn)(int argc, char **argv);
	const char *usage; /* vbusctl VERB --help, vbusctl help VERB */
};

#define DEF_OPTIONS                                                                                \
	"  --kind KIND         mdev, vf, sf, vdpa, virtbus, pci or vgpu\n"                        \
	"  --parent PARENT     the parent device (see vbusctl parents), or @NAME: the device\n"    \
	"                      the definition NAME makes (an mdev on a VF, a vDPA on an SF)\n"     \
	"  --type TYPE         mdev, vdpa, virtbus, vgpu: what to create (see vbusctl types)\n"    \
	"  --uuid UUID         mdev: its UUID (default: a new one, printed)\n"                     \
	"  --index N           vf, sf, vgpu: its index (default: the lowest free one)\n"          \
	"  --driver DRIVER     auto (policy decides, the default), vfio, host, none or a\n"        \
	"                      driver on the kind's bus or a module of that name\n"                \
	"  --attr KEY=VALUE    an attribute set at creation (repeatable, in order)\n"              \
	"  --auto | --manual   start when the parent is there (default) or only by start\n"        \
	"  --tag TAG           a tag (repeatable)\n"                                            \
	"  --select KEY=VALUE  one device per matching parent instead of --parent: vendor,\n"   \
	"                      device, subsystem_vendor, subsystem_device, class, driver,\n"    \
	"                      numa_node (repeatable; see vbus.json(5))\n"                       \
	"  --count N|fill      mdev, vf: N devices on each matching parent, or as many as\n"  \
	"                      it offers\n"

static int verb_help(int argc, char **argv);

static const struct verb verbs[] = {
    {"parents", 0, 1, 0, verb_parents,
     "vbusctl parents [PARENT]\n"
     "\n"
     "What each parent can create, one row per parent and kind: the number of types (mdev,\n"
     "vdpa, virtbus) or the VFs enabled of the total (vf). With PARENT only that one; a\n"
     "PARENT that is absent or cannot create anything fails (exit 1).\n"},
    {"types", 0, 1, 0, verb_types,
     "vbusctl types [PARENT]\n"
     "\n"
     "The creatable types with their available instances, of every parent or of PARENT.\n"
     "A PARENT that creates by index (an SR-IOV PF, a devlink SF parent) has no types:\n"
     "vbusctl says so and exits 1.\n"},
    {"list", 0, 1, OPT_DEFINED | OPT_ALL, verb_list,
     "vbusctl list [--defined | --all] [NAME]\n"
     "\n"
     "The active sub-devices, or only NAME.\n"
     "  --defined           the definitions instead (active or not)\n"
     "  --all               both\n"
     "With -j each row is the definition's JSON object plus active, defined, bound_driver\n"
     "and sysfs_path (vbus.json(5)).\n"},
    {"define", 0, 1, OPTS_DEF | OPT_JSONFILE, verb_define,
     "vbusctl define NAME --kind KIND --parent PARENT [OPTIONS]\n"
     "vbusctl define NAME --for PURPOSE --parent PARENT [OPTIONS]\n"
     "vbusctl define --jsonfile FILE\n"
     "\n"
     "Store a definition (/etc/vbus/devices.d/NAME.json); nothing is created until start.\n"
     "A parent that is not present is accepted with a warning.\n" DEF_OPTIONS
     "  --for PURPOSE       policy picks the kind (and the driver): vm, host, ...\n"
     "  --jsonfile FILE     the whole definition from FILE (vbus.json(5))\n"},
    {"modify", 1, 1, (OPTS_DEF & ~OPT_FOR) | OPT_LIVE, verb_modify,
     "vbusctl modify NAME OPTION... [--live]\n"
     "\n"
     "Change the given fields of a definition; --attr and --tag replace the lists. A\n"
     "running device keeps running as it was started; the change applies at its next\n"
     "start. The options are define's but --for and --jsonfile, and:\n"
     "  --live              change the running device in place first (an mdev's\n"
     "                      attributes, through its type's mdevctl callout), and the\n"
     "                      definition only when that worked\n" DEF_OPTIONS},
    {"undefine", 1, 1, 0, verb_undefine,
     "vbusctl undefine NAME\n"
     "\n"
     "Remove a definition. A running device stays as it is.\n"},
    {"start", 1, 1, OPT_FORCE, verb_start,
     "vbusctl start NAME [--force]\n"
     "\n"
     "Create NAME's sub-device (unless it exists), bind its driver and check the binding.\n"
     "On failure what this start did is undone.\n"
     "  --force             raise a PF's VF count even when VFs that vbus did not create\n"
     "                      are bound (they are re-created and given their drivers back)\n"},
    {"stop", 1, 1, 0, verb_stop,
     "vbusctl stop NAME\n"
     "\n"
     "Undo what start did: remove the sub-device if vbus created it, else give it its\n"
     "previous driver back.\n"},
    {"create", 0, 1, OPTS_DEF | OPT_JSONFILE | OPT_TRANSIENT | OPT_FORCE, verb_create,
     "vbusctl create NAME --kind KIND --parent PARENT [OPTIONS] [--transient] [--force]\n"
     "vbusctl create NAME --for PURPOSE --parent PARENT [OPTIONS] [--transient] [--force]\n"
     "vbusctl create --jsonfile FILE [--transient] [--force]\n"
     "\n"
     "define and start as one step, rolled back as a whole on failure.\n" DEF_OPTIONS
     "  --for PURPOSE       policy picks the kind (and the driver): vm, host, ...\n"
     "  --jsonfile FILE     the whole definition from FILE (vbus.json(5))\n"
     "  --transient         store nothing: only the device is made\n"
     "  --force             as for start\n"},
    {"remove", 1, 1, 0, verb_remove,
     "vbusctl remove NAME\n"
     "\n"
     "stop, then undefine.\n"},
    {"assign", 2, 2, 0, verb_assign,
     "vbusctl assign NAME DRIVER\n"
     "\n"
     "Rebind NAME now (when active) and store the choice (when defined). DRIVER: auto,\n"
     "vfio, host, none or a driver name.\n"},
    {"apply", 1, 1, OPT_DRY_RUN | OPT_NOW, verb_apply,
     "vbusctl apply FILE [--dry-run] [--now]\n"
     "\n"
     "Make the set of definitions equal to FILE's JSON array of definitions and print the\n"
     "plan; a refused entry changes nothing.\n"
     "  --dry-run           only print the plan\n"
     "  --now               also start its start:auto devices and stop those of the\n"
     "                      definitions it removes\n"},
    {"config", 1, 2, OPT_DRY_RUN | OPT_NOW, verb_config,
     "vbusctl config apply NAME [--dry-run] [--now]\n"
     "vbusctl config list\n"
     "\n"
     "Named configs: apply /etc/vbus/configs.d/NAME.json (a JSON array of definitions, as\n"
     "apply takes it) the way apply applies FILE, with the same plan; list: the names.\n"
     "  --dry-run           only print the plan\n"
     "  --now               as for apply\n"},
    {"import", 1, 2, OPT_KEEP_SOURCE, verb_import,
     "vbusctl import mdevctl|driverctl [DIR] [--keep-source]\n"
     "\n"
     "Define what mdevctl (/etc/mdevctl.d) or driverctl (/etc/driverctl.d) keeps, or what\n"
     "DIR holds in that layout; what cannot be imported is named on stderr and skipped.\n"
     "vbus becomes the one owner: each imported file moves to /etc/vbus/import-backup/.\n"
     "  --keep-source       leave the imported files in place\n"},
    {"monitor", 0, 0, 0, verb_monitor,
     "vbusctl monitor\n"
     "\n"
     "Print vbusd's events (added, removed, bound) as they come, until Ctrl-C or until\n"
     "vbusd leaves the bus; with -j one JSON object a line. Needs vbusd (not --root or\n"
     "--direct).\n"},
    {"cdi", 0, 1, 0, verb_cdi,
     "vbusctl cdi [list]\n"
     "\n"
     "The CDI specs vbus keeps in /var/run/cdi (below vbusd's root): one row per device\n"
     "with its CDI name, device nodes and environment; -j prints the spec files. list:\n"
     "the CDI names only (vbus.dev/vfio=NAME, vbus.dev/vhost-vdpa=NAME), for a container\n"
     "runtime's --device.\n"},
    {"help", 0, 1, 0, verb_help,
     "vbusctl help [COMMAND]\n"
     "\n"
     "This summary, or COMMAND's usage and options (as vbusctl COMMAND --help).\n"},
};

static const struct verb *find_verb(const char *name)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

/* "Unknown command 'lsit'; did you mean 'list'?" (exit 2). */
static int unknown_verb(const char *name)
{
	const char *names[sizeof(verbs) / sizeof(verbs[0])];
	const char *near;

	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		names[i] = verbs[i].name;
	near = vbus_closest(name, names, sizeof(verbs) / sizeof(verbs[0]));
	if (near)
		err("Unknown command '%s'; did you mean '%s'? (see vbusctl --help)", name, near);
	else
		err("Unknown command '%s' (see vbusctl --help)", name);
	return EXIT_USAGE;
}

static void verb_usage(const struct verb *v)
{
	const char *u = v->usage;

	/* Each synopsis line gets "Usage: " or its indent; the rest as written. */
	for (bool first = true; *u && *u != '\n'; first = false) {
		size_t n = strcspn(u, "\n");

		printf("%s%.*s\n", first ? "Usage: " : "       ", (int)n, u);
		u += n + (u[n] == '\n');
	}
	fputs(u, stdout);
	printf("\nGlobal options: -j/--json, --root DIR, --direct (see vbusctl --help).\n");
}

static void help(void)
{
	printf("vbusctl [-j|--json] [--root DIR | --direct] COMMAND ...\n"
	       "\n"
	       "Manage kernel sub-devices (mdev, SR-IOV VFs, PCI driver overrides, ...).\n"
	       "\n"
	       "Commands:\n"
	       "  parents [PARENT]             what each parent can create, per kind\n"
	       "  types [PARENT]               creatable types with available instances\n"
	       "  list [--defined | --all] [NAME]\n"
	       "                               active devices; --defined: definitions;\n"
	       "                               --all: both\n"
	       "  define NAME --kind K --parent P [--type T] [--uuid U] [--index N]\n"
	       "              [--driver D] [--attr KEY=VALUE]... [--auto | --manual] [--tag T]...\n"
	       "  define NAME --for vm|host --parent P ...   policy picks the kind and driver\n"
	       "  define NAME --kind K --select KEY=VALUE... [--count N|fill] ...\n"
	       "                               one device per matching parent (and count)\n"
	       "  define --jsonfile FILE\n"
	       "  define NAME --uuid U         keep a running mdev as it runs\n"
	       "  modify NAME [same options] [--live]\n"
	       "                               change a definition (--live: and the running\n"
	       "                               device, in place)\n"
	       "  undefine NAME                forget a definition (the device stays)\n"
	       "  start NAME [--force]         create and bind a defined device; --force:\n"
	       "                               re-create VFs vbus did not make if need be\n"
	       "  stop NAME                    undo what start did\n"
	       "  create NAME ... [--transient] [--force]\n"
	       "                               define + start, rolled back as a whole\n"
	       "  remove NAME                  stop + undefine\n"
	       "  assign NAME DRIVER           rebind now; persisted if NAME is defined\n"
	       "  apply FILE [--dry-run] [--now]\n"
	       "                               make the defined set equal to FILE's list\n"
	       "                               (a JSON array of definitions); print the plan;\n"
	       "                               --now: also start its start:auto devices and\n"
	       "                               stop those of the definitions it removes\n"
	       "  config apply NAME [--dry-run] [--now]\n"
	       "                               apply /etc/vbus/configs.d/NAME.json\n"
	       "  config list                  the names of the configs there\n"
	       "  import mdevctl|driverctl [DIR] [--keep-source]\n"
	       "                               define what the tool has; its files are moved\n"
	       "                               to /etc/vbus/import-backup (--keep-source: not)\n"
	       "  monitor                      stream vbusd's add/remove/bind events\n"
	       "  cdi [list]                   the CDI specs vbus keeps in /var/run/cdi;\n"
	       "                               list: their device names (vbus.dev/vfio=NAME)\n"
	       "  help [COMMAND]               this help, or COMMAND's usage and options\n"
	       "\n"
	       "Kinds: mdev, vf, sf, vdpa, virtbus, pci, vgpu. Drivers: auto, vfio, host, none\n"
	       "or a driver name.\n"
	       "\n"
	       "Options:\n"
	       "  -h --help        show this help (after a command: that command's)\n"
	       "  -V --version     show the version\n"
	       "  -j --json        JSON output\n"
	       "     --root DIR    run in-process with every path under DIR\n"
	       "     --direct      run in-process on /\n"
	       "\n"
	       "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

static int verb_help(int argc, char **argv)
{
	const struct verb *v;

	if (argc < 2) {
		help();
		return EXIT_SUCCESS;
	}
	v = find_verb(argv[1]);
	if (!v)
		return unknown_verb(argv[1]);
	verb_usage(v);
	return EXIT_SUCCESS;
}

enum {
	ARG_VERSION = 0x100,
	ARG_ROOT,
	ARG_DIRECT,
	ARG_DEFINED,
	ARG_ALL,
	ARG_KIND,
	ARG_PARENT,
	ARG_TYPE,
	ARG_UUID,
	ARG_INDEX,
	ARG_DRIVER,
	ARG_ATTR,
	ARG_AUTO,
	ARG_MANUAL,
	ARG_TAG,
	ARG_SELECT,
	ARG_COUNT,
	ARG_JSONFILE,
	ARG_TRANSIENT,
	ARG_DRY_RUN,
	ARG_FOR,
	ARG_NOW,
	ARG_LIVE,
	ARG_FORCE,
	ARG_KEEP_SOURCE,
};

static int push(char ***list, size_t *n, char *s)
{
	char **l = realloc(*list, (*n + 1) * sizeof(*l));

	if (!l)
		return -ENOMEM;
	l[(*n)++] = s;
	*list = l;
	return 0;
}

/* Long options match exactly: getopt_long() alone would take "--kin" for "--kind". */
static int check_exact_options(int argc, char **argv, const struct option *options)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool known = false;
		size_t len;

		if (strcmp(a, "--") == 0)
			break;
		if (strncmp(a, "--", 2) != 0)
			continue;
		len = strcspn(a + 2, "=");
		for (const struct option *o = options; o->name; o++) {
			if (strlen(o->name) == len && strncmp(o->name, a + 2, len) == 0) {
				known = true;
				/* The next word is this option's value, whatever it looks like. */
				if (o->has_arg == required_argument && !a[2 + len])
					i++;
			}
		}
		if (!known) {
			_cleanup_(freep) char *word = strndup(a + 2, len);
			const char *names[64], *near = NULL;
			size_t n = 0;

			for (const struct option *o = options; o->name && n < 64; o++)
				names[n++] = o->name;
			if (word)
				near = vbus_closest(word, names, n);
			if (near)
				err("Unknown option '%.*s'; did you mean '--%s'?", (int)len + 2, a,
				    near);
			else
				err("Unknown option '%.*s'", (int)len + 2, a);
			return EXIT_USAGE;
		}
	}
	return 0;
}

static int take_option(int c, const char *optarg_, const char *spelled)
{
	unsigned bit = 0;
	char *end;

	switch (c) {
	case ARG_DEFINED:
		bit = OPT_DEFINED;
		break;
	case ARG_ALL:
		bit = OPT_ALL;
		break;
	case ARG_KIND:
		bit = OPT_KIND;
		if (vbus_kind_from_string(optarg_) < 0) {
			err("Unknown kind '%s' (mdev, vf, sf, vdpa, virtbus, pci or vgpu)", optarg_);
			return EXIT_USAGE;
		}
		arg_kind = optarg_;
		break;
	case ARG_PARENT:
		bit = OPT_PARENT;
		if (!*optarg_) {
			err("--parent needs a value");
			return EXIT_USAGE;
		}
		arg_parent = optarg_;
		break;
	case ARG_TYPE:
		bit = OPT_TYPE;
		if (!*optarg_) {
			err("--type needs a value");
			return EXIT_USAGE;
		}
		arg_type = optarg_;
		break;
	case ARG_UUID:
		bit = OPT_UUID;
		arg_uuid = optarg_;
		break;
	case ARG_INDEX:
		bit = OPT_INDEX;
		errno = 0;
		arg_index = strtoll(optarg_, &end, 10);
		if (errno || !*optarg_ || *end || arg_index < 0 || arg_index > INT32_MAX ||
		    optarg_[0] == '-' || optarg_[0] == '+' || optarg_[0] == ' ') {
			err("Invalid index '%s' (a number from 0)", optarg_);
			return EXIT_USAGE;
		}
		break;
	case ARG_DRIVER:
		bit = OPT_DRIVER;
		if (!vbus_driver_is_valid(optarg_)) {
			err("Invalid driver '%s' (auto, vfio, host, none or a driver name)",
			    optarg_);
			return EXIT_USAGE;
		}
		arg_driver = optarg_;
		break;
	case ARG_ATTR:
		bit = OPT_ATTR;
		if (!strchr(optarg_, '=') || optarg_[0] == '=') {
			err("Invalid attribute '%s' (KEY=VALUE)", optarg_);
			return EXIT_USAGE;
		}
		if (push(&arg_attrs, &arg_n_attrs, (char *)optarg_) < 0)
			return EXIT_FAILURE;
		break;
	case ARG_AUTO:
		bit = OPT_AUTO;
		break;
	case ARG_MANUAL:
		bit = OPT_MANUAL;
		break;
	case ARG_SELECT:
		bit = OPT_SELECT;
		if (!strchr(optarg_, '=') || optarg_[0] == '=') {
			err("Invalid selector '%s' (KEY=VALUE: vendor, device, subsystem_vendor, "
			    "subsystem_device, class, driver, numa_node)",
			    optarg_);
			return EXIT_USAGE;
		}
		if (push(&arg_selects, &arg_n_selects, (char *)optarg_) < 0)
			return EXIT_FAILURE;
		break;
	case ARG_COUNT:
		bit = OPT_COUNT;
		arg_count = optarg_;
		break;
	case ARG_TAG:
		bit = OPT_TAG;
		if (!*optarg_) {
			err("--tag needs a value");
			return EXIT_USAGE;
		}
		if (push(&arg_tags, &arg_n_tags, (char *)optarg_) < 0)
			return EXIT_FAILURE;
		break;
	case ARG_JSONFILE:
		bit = OPT_JSONFILE;
		arg_jsonfile = optarg_;
		break;
	case ARG_TRANSIENT:
		bit = OPT_TRANSIENT;
		break;
	case ARG_DRY_RUN:
		bit = OPT_DRY_RUN;
		break;
	case ARG_NOW:
		bit = OPT_NOW;
		break;
	case ARG_LIVE:
		bit = OPT_LIVE;
		break;
	case ARG_FORCE:
		bit = OPT_FORCE;
		break;
	case ARG_KEEP_SOURCE:
		bit = OPT_KEEP_SOURCE;
		break;
	case ARG_FOR:
		bit = OPT_FOR;
		if (!*optarg_) {
			err("--for needs a purpose (vm, host, ...)");
			return EXIT_USAGE;
		}
		arg_for = optarg_;
		break;
	default:
		err("Unknown option '%s'", spelled);
		return EXIT_USAGE;
	}
	arg_opts |= bit;
	return 0;
}

static const char *opt_name(unsigned bit)
{
	for (size_t i = 0; i < sizeof(opt_names) / sizeof(opt_names[0]); i++)
		if (opt_names[i].bit == bit)
			return opt_names[i].name;
	return "?";
}

int main(int argc, char **argv)
{
	static const struct option options[] = {{"json", no_argument, NULL, 'j'},
						{"root", required_argument, NULL, ARG_ROOT},
						{"direct", no_argument, NULL, ARG_DIRECT},
						{"defined", no_argument, NULL, ARG_DEFINED},
						{"all", no_argument, NULL, ARG_ALL},
						{"kind", required_argument, NULL, ARG_KIND},
						{"parent", required_argument, NULL, ARG_PARENT},
						{"type", required_argument, NULL, ARG_TYPE},
						{"uuid", required_argument, NULL, ARG_UUID},
						{"index", required_argument, NULL, ARG_INDEX},
						{"driver", required_argument, NULL, ARG_DRIVER},
						{"attr", required_argument, NULL, ARG_ATTR},
						{"auto", no_argument, NULL, ARG_AUTO},
						{"manual", no_argument, NULL, ARG_MANUAL},
						{"tag", required_argument, NULL, ARG_TAG},
						{"select", required_argument, NULL, ARG_SELECT},
						{"count", required_argument, NULL, ARG_COUNT},
						{"jsonfile", required_argument, NULL, ARG_JSONFILE},
						{"transient", no_argument, NULL, ARG_TRANSIENT},
						{"dry-run", no_argument, NULL, ARG_DRY_RUN},
						{"for", required_argument, NULL, ARG_FOR},
						{"now", no_argument, NULL, ARG_NOW},
						{"live", no_argument, NULL, ARG_LIVE},
						{"force", no_argument, NULL, ARG_FORCE},
						{"keep-source", no_argument, NULL, ARG_KEEP_SOURCE},
						{"help", no_argument, NULL, 'h'},
						{"version", no_argument, NULL, ARG_VERSION},
						{}};
	const struct verb *verb = NULL;
	bool arg_help = false;
	const char *prog = argv[0] ? strrchr(argv[0], '/') : NULL;
	char **args;
	int n_args = 0, r, c;

	/* Installed or linked as "mdevctl": mdevctl's command line (libvirt runs that name). */
	prog = prog ? prog + 1 : argv[0];
	if (prog && strcmp(prog, "mdevctl") == 0)
		return mdevctl_main(argc, argv);

	r = check_exact_options(argc, argv, options);
	if (r)
		return r;

	/* Global options, the verb, its arguments and its options, in any order (as systemctl
	 * takes them); each verb says below which options it takes. */
	args = calloc(argc + 1, sizeof(*args));
	if (!args) {
		err("Out of memory");
		return EXIT_FAILURE;
	}
	opterr = 0;
	while (optind < argc) {
		c = getopt_long(argc, argv, "-:hjV", options, NULL);
		if (c < 0) {
			/* After "--": the rest are arguments. */
			while (optind < argc)
				args[n_args++] = argv[optind++];
			break;
		}
		switch (c) {
		case 1:
			args[n_args++] = optarg;
			break;
		case 'j':
			arg_json = true;
			break;
		case ARG_ROOT:
			arg_root = optarg;
			break;
		case ARG_DIRECT:
			arg_direct = true;
			break;
		case 'h':
			/* Alone: the summary; with a command: that command's usage. */
			arg_help = true;
			break;
		case 'V':
		case ARG_VERSION:
			printf("vbusctl %s\n", VBUS_VERSION);
			free(args);
			return EXIT_SUCCESS;
		case ':':
			err("Option '%s' needs an argument", argv[optind - 1]);
			free(args);
			return EXIT_USAGE;
		case '?':
			if (optopt && optopt < 0x100)
				err("Unknown option '-%c'", optopt);
			else
				err("Unknown option '%s'", argv[optind - 1]);
			free(args);
			return EXIT_USAGE;
		default:
			r = take_option(c, optarg, argv[optind - 1]);
			if (r) {
				free(args);
				return r;
			}
		}
	}

	if (arg_help && (n_args == 0 || strcmp(args[0], "help") == 0)) {
		r = verb_help(n_args, args);
		goto out;
	}
	if (n_args == 0) {
		err("Missing command (see vbusctl --help)");
		r = EXIT_USAGE;
		goto out;
	}
	verb = find_verb(args[0]);
	if (!verb) {
		r = unknown_verb(args[0]);
		goto out;
	}
	if (arg_help) {
		verb_usage(verb);
		r = EXIT_SUCCESS;
		goto out;
	}
	if (n_args - 1 < verb->min_args || n_args - 1 > verb->max_args) {
		if (verb->min_args == verb->max_args)
			err("%s takes %d argument%s, %d given", verb->name, verb->max_args,
			    verb->max_args == 1 ? "" : "s", n_args - 1);
		else if (verb->min_args == 0)
			err("%s takes at most %d argument%s, %d given", verb->name, verb->max_args,
			    verb->max_args == 1 ? "" : "s", n_args - 1);
		else
			err("%s takes %d to %d arguments, %d given", verb->name, verb->min_args,
			    verb->max_args, n_args - 1);
		r = EXIT_USAGE;
		goto out;
	}
	if (arg_opts & ~verb->opts) {
		unsigned bad = arg_opts & ~verb->opts;

		err("%s does not take %s", verb->name, opt_name(bad & -bad));
		r = EXIT_USAGE;
		goto out;
	}
	if ((arg_opts & OPT_DEFINED) && (arg_opts & OPT_ALL)) {
		err("--defined and --all exclude each other");
		r = EXIT_USAGE;
		goto out;
	}
	if ((arg_opts & OPT_AUTO) && (arg_opts & OPT_MANUAL)) {
		err("--auto and --manual exclude each other");
		r = EXIT_USAGE;
		goto out;
	}
	if (arg_root && arg_direct) {
		err("--root and --direct exclude each other");
		r = EXIT_USAGE;
		goto out;
	}
	if (verb->fn == verb_help) {
		/* Needs no transport: works without vbusd and without a root. */
		r = verb_help(n_args, args);
		goto out;
	}

	if (arg_root || arg_direct) {
		r = transport_direct_open(arg_root ?: "/", &tr);
	} else {
		r = transport_bus_open(&tr);
		if (r == -EOPNOTSUPP)
			r = transport_direct_open("/", &tr);
	}
	if (r < 0 && arg_root) {
		err("Cannot use root %s: %s", arg_root, strerror(-r));
		r = EXIT_FAILURE;
		goto out;
	}
	if (r < 0 && !arg_direct) {
		err("Cannot reach the system bus (%s): " VBUSD_NOT_RUNNING, strerror(-r));
		r = EXIT_FAILURE;
		goto out;
	}
	if (r < 0) {
		err("Failed to set up: %s", strerror(-r));
		r = EXIT_FAILURE;
		goto out;
	}
	r = verb->fn(n_args, args);
	tr.ops->close(tr.data);
out:
	free(args);
	free(arg_attrs);
	free(arg_tags);
	free(arg_selects);
	return r;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* CDI specs: the definitions bound to vfio or vhost_vdpa, by name, for container runtimes. */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "vbus-private.h"

#define CDI_DIR "/var/run/cdi"

/*
 * One spec file per class. cdiVersion is the lowest the content needs: 0.3.0 (device nodes
 * and env are in every version), 0.5.0 once a device name starts with a digit. podman 4.3
 * (CDI 0.5) reads both; nothing here is outside the 0.5.0 schema (no hostPath, no
 * annotations), device nodes carry the path only: the runtime reads type and major/minor from
 * the host's node.
 */
enum cdi_class {
	CDI_VFIO,
	CDI_VHOST_VDPA,
	_CDI_MAX,
};

static const struct {
	const char *file;
	const char *kind;
} cdi_classes[_CDI_MAX] = {
	[CDI_VFIO] = { "vbus.dev-vfio.json", "vbus.dev/vfio" },
	[CDI_VHOST_VDPA] = { "vbus.dev-vhost-vdpa.json", "vbus.dev/vhost-vdpa" },
};

/*
 * A vbus name is [A-Za-z0-9][A-Za-z0-9_.:-]*; a CDI device name must also end with a letter or
 * digit and (as its spec words it) hold no ':'. So ':' becomes '_' and trailing non-alphanumeric
 * characters are dropped: "pci:04:00.0" -> "pci_04_00.0", "gpu-" -> "gpu".
 */
VBUS_EXPORT char *vbus_cdi_name(const char *name)
{
	char *s;
	size_t n;

	if (!name || !vbus_name_is_valid(name))
		return NULL;
	s = strdup(name);
	if (!s)
		return NULL;
	for (char *p = s; *p; p++)
		if (*p == ':')
			*p = '_';
	n = strlen(s);
	while (n > 1 && !isalnum((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* PREFIX + the CDI name in upper case, anything but letters and digits as '_' + "=" VALUE. */
static struct json_object *env_var(const char *prefix, const char *name, const char *value)
{
	_cleanup_free_ char *s = NULL;

	if (asprintf(&s, "%s%s=%s", prefix, name, value) < 0)
		return NULL;
	for (char *p = s + strlen(prefix); *p != '='; p++)
		*p = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
	return json_object_new_string(s);
}

static int add_device(struct json_object *devices, const char *name, const struct vbus_def *def,
		      const struct vbus_access *a)
{
	_cleanup_json_ struct json_object *dev = json_object_new_object();
	struct json_object *edits = json_object_new_object(), *env = json_object_new_array(),
			   *nodes = json_object_new_array(), *v = NULL;

	if (!dev || !edits || !env || !nodes) {
		json_object_put(edits);
		json_object_put(env);
		json_object_put(nodes);
		return -ENOMEM;
	}
	json_object_object_add(dev, "name", json_object_new_string(name));
	json_object_object_add(dev, "containerEdits", edits);
	json_object_object_add(edits, "env", env);
	json_object_object_add(edits, "deviceNodes", nodes);
	if (a->pci_address[0])
		v = env_var("VBUS_PCI_ADDRESS_", name, a->pci_address);
	else if (def->kind == VBUS_KIND_MDEV && def->uuid)
		v = env_var("VBUS_MDEV_UUID_", name, def->uuid);
	else if (def->kind == VBUS_KIND_VDPA)
		v = env_var("VBUS_VDPA_DEVICE_", name, def->name);
	if (v && json_object_array_add(env, v) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < a->n_nodes; i++) {
		struct json_object *n = json_object_new_object();

		if (!n || json_object_array_add(nodes, n) < 0) {
			json_object_put(n);
			return -ENOMEM;
		}
		json_object_object_add(n, "path", json_object_new_string(a->nodes[i]));
	}
	if (json_object_array_add(devices, dev) < 0)
		return -ENOMEM;
	TAKE_PTR(dev);
	return 0;
}

/* DEF's device, when it is bound to vfio or vhost_vdpa, goes into DEVICES[its class]. */
static int collect(struct vbus_ctx *ctx, const struct vbus_def *def, struct json_object *seen,
		   struct json_object **devices, bool *digit)
{
	const struct vbus_backend *be = vbus_ctx_backend(ctx, def->kind);
	_cleanup_free_ char *name = NULL;
	struct vbus_status st = {};
	struct vbus_access a;
	int r, c;

	if (def->kind != VBUS_KIND_PCI && def->kind != VBUS_KIND_VF &&
	    def->kind != VBUS_KIND_MDEV && def->kind != VBUS_KIND_VDPA)
		return 0;
	if (!be || !be->status)
		return 0;
	name = vbus_cdi_name(def->name);
	if (!name)
		return -ENOMEM;
	/* Two definitions that map to one CDI name: the first by name keeps it. */
	if (json_object_object_get_ex(seen, name, NULL)) {
		dbg(ctx, "CDI name %s of '%s' is taken: left out", name, def->name);
		return 0;
	}
	if (be->status(ctx, def, &st) < 0) {
		dbg(ctx, "status of '%s': %s", def->name, vbus_ctx_last_error(ctx) ?: "");
		vbus_error_clear(ctx);
		vbus_status_done(&st);
		return 0;
	}
	vbus_access_read(ctx, def->kind,
			 st.active && st.sysfs_path ? vbus_path_display(ctx, st.sysfs_path) : NULL,
			 st.bound_driver, &a);
	vbus_status_done(&st);
	if (a.vfio)
		c = CDI_VFIO;
	else if (a.vhost_vdpa)
		c = CDI_VHOST_VDPA;
	else
		return 0;
	r = add_device(devices[c], name, def, &a);
	if (r < 0)
		return r;
	json_object_object_add(seen, name, NULL);
	if (isdigit((unsigned char)name[0]))
		digit[c] = true;
	return 0;
}

static bool file_equals(const char *path, const char *text)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = strlen(text);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) < 0 || (size_t)st.st_size != len)
		return false;
	buf = malloc(len + 1);
	if (!buf)
		return false;
	n = read(fd, buf, len + 1);
	return n == (ssize_t)len && memcmp(buf, text, len) == 0;
}

static int write_spec(struct vbus_ctx *ctx, const char *dir, int c, struct json_object *devices,
		      bool digit)
{
	_cleanup_json_ struct json_object *spec = NULL;
	_cleanup_free_ char *path = NULL, *text = NULL;
	int r;

	if (asprintf(&path, "%s/%s", dir, cdi_classes[c].file) < 0)
		return -ENOMEM;
	/* A spec without devices is invalid: no device, no file. */
	if (json_object_array_length(devices) == 0) {
		if (access(path, F_OK) < 0)
			return 0;
		return vbus_unlink_sync(ctx, dir, cdi_classes[c].file);
	}
	spec = json_object_new_object();
	if (!spec)
		return -ENOMEM;
	json_object_object_add(spec, "cdiVersion",
			       json_object_new_string(digit ? "0.5.0" : "0.3.0"));
	json_object_object_add(spec, "kind", json_object_new_string(cdi_classes[c].kind));
	json_object_object_add(spec, "devices", json_object_get(devices));
	r = vbus_json_format(spec, &text);
	if (r < 0)
		return r;
	if (file_equals(path, text))
		return 0;
	return vbus_write_file_atomic(ctx, dir, cdi_classes[c].file, text);
}

/* The store lock is held by the caller (vbus_unlock() before it lets go, vbus_cdi_update()). */
int vbus_cdi_sync(struct vbus_ctx *ctx)
{
	_cleanup_json_ struct json_object *seen = json_object_new_object(), *names = NULL;
	_cleanup_free_ char *dir = vbus_path(ctx, CDI_DIR);
	struct json_object *devices[_CDI_MAX] = {};
	struct vbus_def **defs = NULL;
	struct vbus_run *runs = NULL;
	size_t n_defs = 0, n_runs = 0;
	bool digit[_CDI_MAX] = {};
	int r;

	if (ctx->cdi_syncing)
		return 0;
	ctx->cdi_syncing = true;
	names = json_object_new_object();
	for (int c = 0; c < _CDI_MAX; c++)
		devices[c] = json_object_new_array();
	r = !seen || !dir || !names || !devices[0] || !devices[1] ? -ENOMEM : 0;
	if (r >= 0)
		r = vbus_store_load_all(ctx, true, &defs, &n_defs);
	for (size_t i = 0; r >= 0 && i < n_defs; i++) {
		if (json_object_object_add(names, defs[i]->name, NULL) < 0)
			r = -ENOMEM;
		else
			r = collect(ctx, defs[i], seen, devices, digit);
	}
	/* Devices vbus started without a definition (transient) keep their name while active;
	 * the records of defined names are not read (autostart: one each). */
	if (r >= 0)
		r = vbus_run_load_except(ctx, names, &runs, &n_runs);
	for (size_t i = 0; r >= 0 && i < n_runs; i++)
		r = collect(ctx, runs[i].def, seen, devices, digit);
	for (int c = 0; r >= 0 && c < _CDI_MAX; c++)
		r = write_spec(ctx, dir, c, devices[c], digit[c]);
	if (r >= 0)
		ctx->cdi_synced_gen = ctx->lock_gen;
	for (int c = 0; c < _CDI_MAX; c++)
		json_object_put(devices[c]);
	vbus_defs_free(defs, n_defs);
	for (size_t i = 0; i < n_runs; i++)
		vbus_run_done(&runs[i]);
	free(runs);
	ctx->cdi_syncing = false;
	return r;
}

VBUS_EXPORT int vbus_cdi_update(struct vbus_ctx *ctx)
{
	int r;

	vbus_error_clear(ctx);
	r = vbus_lock(ctx);
	if (r < 0)
		return r;
	r = vbus_cdi_sync(ctx);
	vbus_unlock(ctx);
	return r;
}

VBUS_EXPORT int vbus_cdi_read(struct vbus_ctx *ctx, struct json_object **ret)
{
	_cleanup_json_ struct json_object *arr = json_object_new_array();
	int r;

	vbus_error_clear(ctx);
	if (!arr)
		return -ENOMEM;
	for (int c = 0; c < _CDI_MAX; c++) {
		_cleanup_free_ char *path = vbus_pathf(ctx, CDI_DIR "/%s", cdi_classes[c].file);
		struct json_object *spec = NULL;

		if (!path)
			return -ENOMEM;
		if (access(path, F_OK) < 0)
			continue;
		r = vbus_read_json_file(ctx, path, &spec);
		if (r < 0)
			return r;
		if (json_object_array_add(arr, spec) < 0) {
			json_object_put(spec);
			return -ENOMEM;
		}
	}
	*ret = TAKE_PTR(arr);
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* Driver binding through driver_override and drivers_probe, verified, for the vf and pci kinds. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#include <sys/utsname.h>

#include "bind.h"
#include "closest.h"
#include "sysfs.h"

extern char **environ;

int vbus_run(struct vbus_ctx *ctx, char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int r, status;

	/* Its stdout must not mix with ours (vbusctl -j prints JSON there); stderr stays. */
	r = posix_spawn_file_actions_init(&fa);
	if (r != 0)
		return -r;
	r = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	if (r == 0)
		r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		dbg(ctx, "cannot run %s: %s", argv[0], strerror(r));
		return -r;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		dbg(ctx, "%s failed (status 0x%x)", argv[0], status);
		return -EIO;
	}
	return 0;
}

int vbus_bind_get_driver(struct vbus_ctx *ctx, const char *bus, const char *dev, char **ret)
{
	_cleanup_free_ char *path = NULL;
	char *drv = NULL;
	int r;

	if (asprintf(&path, "/sys/bus/%s/devices/%s", bus, dev) < 0)
		return -ENOMEM;
	if (!sysfs_exists(ctx, path))
		return -ENODEV;
	free(path);
	if (asprintf(&path, "/sys/bus/%s/devices/%s/driver", bus, dev) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	r = sysfs_link_basename(ctx, path, &drv);
	if (r < 0 && r != -ENOENT)
		return r;
	*ret = drv;
	return 0;
}

/* The override, NULL when none: the kernel shows "(null)", a fake tree may hold "". */
static int get_override(struct vbus_ctx *ctx, const char *bus, const char *dev, char **ret)
{
	_cleanup_free_ char *s = NULL;
	int r;

	r = sysfs_readf(ctx, &s, "/sys/bus/%s/devices/%s/driver_override", bus, dev);
	if (r == -ENOENT) {
		*ret = NULL;
		return 0;
	}
	if (r < 0)
		return r;
	*ret = (streq(s, "(null)") || !*s) ? NULL : TAKE_PTR(s);
	return 0;
}

static int set_override(struct vbus_ctx *ctx, const char *bus, const char *dev, const char *driver)
{
	/* "\n" alone clears it (driver_set_override()). */
	return sysfs_writef(ctx, driver ?: "\n", "/sys/bus/%s/devices/%s/driver_override", bus,
			    dev);
}

static int unbind(struct vbus_ctx *ctx, const char *bus, const char *dev, const char *driver)
{
	return sysfs_writef(ctx, dev, "/sys/bus/%s/drivers/%s/unbind", bus, driver);
}

/* drivers_probe and read what got bound. Probing may be asynchronous on a real kernel. */
static int probe(struct vbus_ctx *ctx, const char *bus, const char *dev, char **ret)
{
	_cleanup_free_ char *path = NULL;
	int r;

	if (asprintf(&path, "/sys/bus/%s/drivers_probe", bus) < 0)
		return -ENOMEM;
	r = sysfs_write(ctx, path, dev);
	if (r < 0)
		return r;
	for (int i = 0;; i++) {
		char *drv = NULL;

		r = vbus_bind_get_driver(ctx, bus, dev, &drv);
		if (r < 0)
			return r;
		if (drv || !ctx->real_root || i >= 20) {
			*ret = drv;
			return 0;
		}
		nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
	}
}

static bool driver_present(struct vbus_ctx *ctx, const char *bus, const char *driver)
{
	_cleanup_free_ char *path = NULL;

	if (asprintf(&path, "/sys/bus/%s/drivers/%s", bus, driver) < 0)
		return false;
	return sysfs_exists(ctx, path);
}

/*
 * Whether loading module DRIVER can give bus BUS a driver: it is one of the drivers vbus itself
 * chooses, or modules.alias gives it an alias of that bus ("pci:...", or "vfio_pci:..." as
 * vfio-pci's variants have). Any other name is not loaded: a caller allowed to assign drivers
 * must not be able to load every module installed.
 */
static bool module_serves_bus(struct vbus_ctx *ctx, const char *bus, const char *driver)
{
	static const char *const known[] = { "vfio_pci", "vhost_vdpa", "virtio_vdpa" };
	_cleanup_free_ char *mod = strdup(driver), *path = NULL, *line = NULL;
	size_t size = 0, blen = strlen(bus);
	struct utsname u;
	bool found = false;
	FILE *f;

	if (!mod || uname(&u) < 0)
		return false;
	for (char *c = mod; *c; c++)
		if (*c == '-')
			*c = '_';
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (streq(mod, known[i]))
			return true;
	path = vbus_pathf(ctx, "/lib/modules/%s/modules.alias", u.release);
	f = path ? fopen(path, "re") : NULL;
	if (!f)
		return false;
	/* "alias PATTERN MODULE" */
	while (!found && getline(&line, &size, f) > 0) {
		char *pat, *m, *save = NULL;

		if (strncmp(line, "alias ", 6) != 0)
			continue;
		pat = strtok_r(line + 6, " \n", &save);
		m = pat ? strtok_r(NULL, " \n", &save) : NULL;
		if (!m || !streq(m, mod))
			continue;
		if (strncmp(pat, "vfio_", 5) == 0)
			pat += 5;
		found = strncmp(pat, bus, blen) == 0 && pat[blen] == ':';
	}
	fclose(f);
	return found;
}

static int load_driver(struct vbus_ctx *ctx, const char *bus, const char *dev, const char *driver)
{
	int r;

	if (driver_present(ctx, bus, driver))
		return 0;
	if (!module_serves_bus(ctx, bus, driver))
		return vbus_error(ctx, -ENOENT,
				  "%s: driver %s is not available on bus %s (no module of that name "
				  "provides a %s driver; load it first)",
				  dev, driver, bus, bus);
	if (ctx->real_root) {
		_cleanup_free_ char *unit = NULL;
		char *argv[] = {(char *)"/sbin/modprobe", (char *)"-q", (char *)"--",
				(char *)driver, NULL};
		char *sd_argv[] = {(char *)"/bin/systemctl", (char *)"start", (char *)"--quiet",
				   NULL, NULL};

		/* As a systemd service (vbusd.service) vbus may not load modules itself (no
		 * CAP_SYS_MODULE, no @module system calls): systemd's modprobe@.service does. */
		if (getenv("INVOCATION_ID")) {
			if (asprintf(&unit, "modprobe@%s.service", driver) < 0)
				return -ENOMEM;
			sd_argv[3] = unit;
		}
		/* Module and driver names mostly agree (modprobe treats - and _ alike). */
		r = vbus_run(ctx, unit ? sd_argv : argv);
		if (r < 0)
			dbg(ctx, "modprobe %s failed: %s", driver, strerror(-r));
		if (driver_present(ctx, bus, driver))
			return 0;
	} else {
		dbg(ctx, "fake root: not loading module %s", driver);
	}
	return vbus_error(ctx, -ENOENT,
			  "%s: driver %s is not available on bus %s (no module loaded it)", dev,
			  driver, bus);
}

/* Puts DEV back to OLD_OVERRIDE and OLD_DRIVER after a failed bind; errors are only logged,
 * the caller reports the original failure. */
static void restore(struct vbus_ctx *ctx, const char *bus, const char *dev,
		    const char *old_override, const char *old_driver)
{
	_cleanup_free_ char *cur = NULL, *drv = NULL;
	int r;

	r = set_override(ctx, bus, dev, old_override);
	if (r < 0)
		dbg(ctx, "%s: cannot restore driver_override: %s", dev, strerror(-r));
	if (vbus_bind_get_driver(ctx, bus, dev, &cur) < 0 || streq_ptr(cur, old_driver))
		return;
	if (cur) {
		r = unbind(ctx, bus, dev, cur);
		if (r < 0) {
			dbg(ctx, "%s: cannot unbind %s: %s", dev, cur, strerror(-r));
			return;
		}
	}
	if (!old_driver)
		return;
	r = probe(ctx, bus, dev, &drv);
	if (r < 0 || !streq_ptr(drv, old_driver))
		dbg(ctx, "%s: could not give it back to %s", dev, old_driver);
}

int vbus_bind_driver(struct vbus_ctx *ctx, const char *bus, const char *dev, const char *driver)
{
	_cleanup_free_ char *cur = NULL, *old_override = NULL, *drv = NULL, *grp = NULL;
	int r;

	r = vbus_bind_get_driver(ctx, bus, dev, &cur);
	if (r == -ENODEV)
		return vbus_error(ctx, r, "%s device %s does not exist", bus, dev);
	if (r < 0)
		return vbus_error(ctx, r, "%s: cannot read its driver: %s", dev, strerror(-r));
	r = get_override(ctx, bus, dev, &old_override);
	if (r < 0)
		return vbus_error(ctx, r, "%s: cannot read driver_override: %s", dev, strerror(-r));

	if (!driver) {
		if (old_override) {
			r = set_override(ctx, bus, dev, NULL);
			if (r < 0)
				return vbus_error(ctx, r, "%s: cannot clear driver_override: %s",
						  dev, strerror(-r));
		}
		if (cur) {
			r = unbind(ctx, bus, dev, cur);
			if (r < 0)
				return vbus_error(ctx, r, "%s: cannot unbind from %s: %s", dev, cur,
						  strerror(-r));
		}
		return 0;
	}

	if (streq_ptr(cur, driver))
		return 0;

	r = load_driver(ctx, bus, dev, driver);
	if (r < 0)
		return r;
	/* vfio-pci refuses a device without an IOMMU group; say why before touching anything. */
	if (streq(bus, "pci") && streq(driver, "vfio-pci")) {
		if (asprintf(&grp, "/sys/bus/pci/devices/%s/iommu_group", dev) < 0) {
			grp = NULL;
			return -ENOMEM;
		}
		if (!sysfs_exists(ctx, grp))
			return vbus_error(ctx, -ENODEV,
					  "%s has no IOMMU group, vfio-pci cannot take it (is the "
					  "IOMMU enabled?)",
					  dev);
	}

	r = set_override(ctx, bus, dev, driver);
	if (r < 0)
		return vbus_error(ctx, r, "%s: cannot set driver_override to %s: %s", dev, driver,
				  strerror(-r));
	if (cur) {
		r = unbind(ctx, bus, dev, cur);
		if (r < 0) {
			vbus_error(ctx, r, "%s: cannot unbind from %s: %s", dev, cur, strerror(-r));
			goto fail;
		}
	}
	r = probe(ctx, bus, dev, &drv);
	if (r < 0) {
		vbus_error(ctx, r, "%s: probing drivers failed: %s", dev, strerror(-r));
		goto fail;
	}
	if (!streq_ptr(drv, driver)) {
		if (drv)
			r = vbus_error(ctx, -EIO, "%s: %s got bound instead of %s", dev, drv,
				       driver);
		else
			r = vbus_error(ctx, -EIO, "%s: %s did not bind it (see the kernel log)",
				       dev, driver);
		goto fail;
	}
	return 0;
fail : {
	/* Keep the cause while restoring. */
	_cleanup_free_ char *cause = ctx->last_error ? strdup(ctx->last_error) : NULL;

	restore(ctx, bus, dev, old_override, cur);
	if (cause) {
		free(ctx->last_error);
		ctx->last_error = TAKE_PTR(cause);
	}
	return r;
}
}

int vbus_bind_host(struct vbus_ctx *ctx, const char *bus, const char *dev, char **ret)
{
	_cleanup_free_ char *cur = NULL, *override = NULL, *drv = NULL;
	int r;

	r = vbus_bind_get_driver(ctx, bus, dev, &cur);
	if (r == -ENODEV)
		return vbus_error(ctx, r, "%s device %s does not exist", bus, dev);
	if (r < 0)
		return vbus_error(ctx, r, "%s: cannot read its driver: %s", dev, strerror(-r));
	r = get_override(ctx, bus, dev, &override);
	if (r < 0)
		return vbus_error(ctx, r, "%s: cannot read driver_override: %s", dev, strerror(-r));
	if (cur && !override) {
		if (ret)
			*ret = TAKE_PTR(cur);
		return 0;
	}
	if (override) {
		r = set_override(ctx, bus, dev, NULL);
		if (r < 0)
			return vbus_error(ctx, r, "%s: cannot clear driver_override: %s", dev,
					  strerror(-r));
	}
	if (cur) {
		r = unbind(ctx, bus, dev, cur);
		if (r < 0)
			return vbus_error(ctx, r, "%s: cannot unbind from %s: %s", dev, cur,
					  strerror(-r));
	}
	r = probe(ctx, bus, dev, &drv);
	if (r < 0)
		return vbus_error(ctx, r, "%s: probing drivers failed: %s", dev, strerror(-r));
	if (ret)
		*ret = TAKE_PTR(drv);
	return 0;
}

int vbus_bind_resolve_pci(struct vbus_ctx *ctx, const char *dev, const char *choice, char **ret)
{
	char *s = NULL;
	int r;

	if (streq(choice, VBUS_DRIVER_NONE)) {
		*ret = NULL;
		return 0;
	}
	if (streq(choice, VBUS_DRIVER_HOST)) {
		r = vbus_bind_host(ctx, "pci", dev, &s);
		if (r < 0)
			return r;
		if (!s)
			return vbus_error(ctx, -ENOENT, "%s: no host driver takes it", dev);
		*ret = s;
		return 0;
	}
	s = strdup(streq(choice, VBUS_DRIVER_VFIO) ? "vfio-pci" : choice);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

/* The sysfs bus the drivers of KIND's devices are on. */
static const char *kind_bus(enum vbus_kind kind)
{
	switch (kind) {
	case VBUS_KIND_MDEV:
		return "mdev";
	case VBUS_KIND_VF:
	case VBUS_KIND_PCI:
	case VBUS_KIND_VGPU:
		return "pci";
	case VBUS_KIND_SF:
		return "auxiliary";
	case VBUS_KIND_VDPA:
		return "vdpa";
	case VBUS_KIND_VIRTBUS:
		return "virtbus";
	default:
		return NULL;
	}
}

/* Module names as modprobe compares them: '-' and '_' alike. */
static void module_name_normalize(char *s)
{
	for (; *s; s++)
		if (*s == '-')
			*s = '_';
}

/* Whether modules.dep under /lib/modules/RELEASE lists a module called NAME (normalized): 1 or
 * 0; negative errno when it cannot be read. */
static int module_listed(struct vbus_ctx *ctx, const char *release, const char *name)
{
	_cleanup_free_ char *path = vbus_pathf(ctx, "/lib/modules/%s/modules.dep", release);
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	bool found = false;
	FILE *f;

	if (!path)
		return -ENOMEM;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (!found && getline(&line, &cap, f) > 0) {
		char *colon = strchr(line, ':'), *base, *ko;

		if (!colon)
			continue;
		*colon = '\0';
		base = strrchr(line, '/');
		base = base ? base + 1 : line;
		ko = strstr(base, ".ko");
		if (!ko)
			continue;
		*ko = '\0';
		module_name_normalize(base);
		found = streq(base, name);
	}
	fclose(f);
	return found;
}

static bool module_installed(struct vbus_ctx *ctx, const char *driver)
{
	_cleanup_free_ char *name = strdup(driver);
	_cleanup_strv_ char **releases = NULL;
	struct utsname u;
	int r;

	if (!name)
		return false;
	module_name_normalize(name);
	if (ctx->real_root) {
		/* A modules.dep that cannot be read (vbusd's unit hides /lib/modules; a kernel
		 * without its modules installed) says nothing: only what is known is refused. */
		if (uname(&u) < 0)
			return true;
		r = module_listed(ctx, u.release, name);
		if (r < 0)
			dbg(ctx, "cannot read modules.dep of %s (%s): not judging driver %s",
			    u.release, strerror(-r), driver);
		return r != 0;
	}
	if (sysfs_list_entries(ctx, "/lib/modules", &releases) < 0) {
		vbus_error_clear(ctx);
		return false;
	}
	for (char **rel = releases; *rel; rel++)
		if (module_listed(ctx, *rel, name) > 0)
			return true;
	return false;
}

int vbus_driver_check(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	static const char *const keywords[] = {VBUS_DRIVER_AUTO, VBUS_DRIVER_VFIO, VBUS_DRIVER_HOST,
					       VBUS_DRIVER_NONE};
	_cleanup_strv_ char **drivers = NULL;
	_cleanup_free_ const char **cands = NULL;
	_cleanup_free_ char *dir = NULL;
	const char *bus = kind_bus(def->kind), *near;
	char where[128] = "under /lib/modules";
	struct utsname u;
	size_t n = 0;

	if (!def->driver || !bus)
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(keywords); i++)
		if (streq(def->driver, keywords[i]))
			return 0;
	if (driver_present(ctx, bus, def->driver) || module_installed(ctx, def->driver))
		return 0;

	/* The nearest name: a keyword or a driver on the bus (a typo of "vfio" is the usual). */
	if (asprintf(&dir, "/sys/bus/%s/drivers", bus) < 0) {
		dir = NULL;
		return -ENOMEM;
	}
	if (sysfs_list_entries(ctx, dir, &drivers) < 0)
		vbus_error_clear(ctx);
	for (char **d = drivers; d && *d; d++)
		n++;
	cands = calloc(n + ELEMENTSOF(keywords), sizeof(*cands));
	if (!cands)
		return -ENOMEM;
	for (size_t i = 0; i < ELEMENTSOF(keywords); i++)
		cands[i] = keywords[i];
	for (size_t i = 0; i < n; i++)
		cands[ELEMENTSOF(keywords) + i] = drivers[i];
	near = vbus_closest(def->driver, cands, n + ELEMENTSOF(keywords));
	/* On the running system, name the kernel whose modules were looked at. */
	if (ctx->real_root && uname(&u) == 0)
		snprintf(where, sizeof(where), "for kernel %s", u.release);
	if (near)
		return vbus_error(
		    ctx, -ENOENT,
		    "no driver \"%s\" for %s devices (none in /sys/bus/%s/drivers and "
		    "no module of that name %s); did you mean \"%s\"?",
		    def->driver, vbus_kind_to_string(def->kind), bus, where, near);
	return vbus_error(ctx, -ENOENT,
			  "no driver \"%s\" for %s devices (none in /sys/bus/%s/drivers and no "
			  "module of that name %s; auto, vfio, host and none choose one)",
			  def->driver, vbus_kind_to_string(def->kind), bus, where);
}

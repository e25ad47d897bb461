// SPDX-License-Identifier: LGPL-2.1-or-later
/* Auto-provisioning: reconcile at start, udev events bring start:auto definitions up. */
#include <stdio.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "config.h"
#include "netlink.h"
#include "vbusd.h"

#if HAVE_LIBUDEV
#include <libudev.h>
#endif

/*
 * Starting an autostart definition right after its parent appeared can fail because the
 * parent is not ready yet (mdev types registered a moment later, SR-IOV capability still being
 * set up): such a start is retried with a doubling delay, RETRY_MAX times.
 */
#define RETRY_FIRST_USEC 500000ULL
#define RETRY_MAX 7

struct retry {
	struct retry *next;
	struct vbusd *d;
	char *name;
	unsigned attempt;
	sd_event_source *timer;
};

static struct retry *retry_free(struct retry *t)
{
	if (!t)
		return NULL;
	sd_event_source_disable_unref(t->timer);
	free(t->name);
	free(t);
	return NULL;
}

static void retry_drop(struct vbusd *d, struct retry *t)
{
	for (struct retry **p = &d->retries; *p; p = &(*p)->next)
		if (*p == t) {
			*p = t->next;
			break;
		}
	retry_free(t);
}

static struct retry *retry_find(struct vbusd *d, const char *name)
{
	for (struct retry *t = d->retries; t; t = t->next)
		if (streq(t->name, name))
			return t;
	return NULL;
}

static int start_one(struct vbusd *d, const char *name);

static int retry_fire(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct retry *t = userdata;
	struct vbusd *d = t->d;
	_cleanup_free_ char *name = strdup(t->name);

	if (!name)
		return -ENOMEM;
	(void)start_one(d, name);
	objects_refresh_name(d, name);
	return 0;
}

static void retry_schedule(struct vbusd *d, const char *name)
{
	struct retry *t = retry_find(d, name);
	uint64_t now;

	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t)
			return;
		t->d = d;
		t->name = strdup(name);
		if (!t->name) {
			free(t);
			return;
		}
		t->next = d->retries;
		d->retries = t;
	}
	if (t->attempt >= RETRY_MAX) {
		log_warning("Giving up on starting '%s' after %u attempts", name, t->attempt);
		retry_drop(d, t);
		return;
	}
	t->timer = sd_event_source_disable_unref(t->timer);
	sd_event_now(d->event, CLOCK_MONOTONIC, &now);
	if (sd_event_add_time(d->event, &t->timer, CLOCK_MONOTONIC,
			      now + (RETRY_FIRST_USEC << t->attempt), 0, retry_fire, t) < 0) {
		retry_drop(d, t);
		return;
	}
	t->attempt++;
}

/* Starts NAME; on failure schedules a retry. Returns the result of vbus_start(). */
static int start_one(struct vbusd *d, const char *name)
{
	int r = vbus_start(d->ctx, name);
	struct retry *t = retry_find(d, name);

	if (r >= 0) {
		/* libvbus has said "Started" through the log callback already. */
		if (t)
			retry_drop(d, t);
		return r;
	}
	log_notice("Failed to start '%s': %s%s", name,
		   vbus_ctx_last_error(d->ctx) ?: strerror(-r),
		   t && t->attempt >= RETRY_MAX ? "" : " (will retry)");
	retry_schedule(d, name);
	return r;
}

/* The kernel's name of a parent handle: "pci/0000:06:00.0" and "vbus_sim/vbus_sim2" (devlink,
 * vdpa and vbus handles) name their device by the part after the bus. */
static const char *sysname_of(const char *parent)
{
	const char *slash = strrchr(parent, '/');

	return slash ? slash + 1 : parent;
}

/*
 * Starts every defined start:auto device that is not active and whose parent is present (and,
 * with PARENT, is PARENT: the name the kernel gave it, "0000:03:00.0" or "mtty"). Active
 * devices matching a definition were adopted by the listing already.
 */
int provision_reconcile(struct vbusd *d, const char *parent)
{
	_cleanup_free_ char **todo = NULL;
	struct lh_entry *e;
	size_t n_todo = 0;
	int n = 0;

	objects_refresh(d);
	if (!d->devices)
		return 0;
	todo = calloc(d->devices->count + 1, sizeof(*todo));
	if (!todo)
		return -ENOMEM;
	lh_foreach(d->devices, e) {
		struct device *dev = (struct device *)lh_entry_v(e);

		if (!dev->defined || dev->active || !dev->start_auto || !dev->parent)
			continue;
		if (parent && !streq(sysname_of(dev->parent), sysname_of(parent)))
			continue;
		if (!d->parents || !json_object_object_get(d->parents, dev->parent)) {
			/* A parent that just appeared may not list itself yet: retry later. */
			if (parent)
				retry_schedule(d, dev->name);
			continue;
		}
		todo[n_todo] = strdup(dev->name);
		if (!todo[n_todo])
			break;
		n_todo++;
	}
	/* Starting changes the model: act on a copy of the names. The model follows each
	 * start (one definition read again each), and the signals go out after the batch. */
	for (size_t i = 0; i < n_todo; i++)
		if (start_one(d, todo[i]) >= 0)
			n++;
	for (size_t i = 0; i < n_todo; i++) {
		objects_refresh_name(d, todo[i]);
		free(todo[i]);
	}
	return n;
}

/* ---- policy for sub-devices vbus did not make ------------------------------------------------ */

/*
 * An active sub-device without a definition that was not there before (vdpa dev add by hand,
 * an mdev made by another tool) gets the driver policy.d gives it. What was there when vbusd
 * started, or was seen already, is left as it is: the administrator may have bound it by hand.
 */
static void provision_adopt(struct vbusd *d, bool initial)
{
	struct lh_entry *e;

	if (!d->devices || !d->n_undefined)
		return;
	lh_foreach(d->devices, e) {
		struct device *dev = (struct device *)lh_entry_v(e);

		if (dev->definition || !dev->active || dev->policy_seen)
			continue;
		dev->policy_seen = true;
		if (initial)
			continue;
		if (vbus_apply_policy(d->ctx, dev->name) < 0)
			log_warning("Policy could not bind '%s': %s", dev->name,
				    vbus_ctx_last_error(d->ctx) ?: "unknown cause");
	}
}

/* ---- the vbus genl family's monitor group --------------------------------------------------- */

static int vbus_event(uint8_t cmd, struct nlattr **tb, void *userdata)
{
	struct vbusd *d = userdata;

	/* DEV_NEW, DEV_DEL, DEV_BIND: the listing tells the rest. */
	objects_refresh(d);
	provision_adopt(d, false);
	return 0;
}

static int vbus_monitor_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct vbusd *d = userdata;

	if (vbus_nl_monitor_dispatch(d->vbus_monitor) < 0)
		log_debug("vbus monitor: reading failed");
	return 0;
}

/* Follows the virtbus devices of vbus.ko; tried again on kernel events until it is loaded. */
static void vbus_monitor_start(struct vbusd *d)
{
	if (d->vbus_monitor || !streq(vbus_ctx_get_root(d->ctx), "/"))
		return;
	if (vbus_virtbus_monitor_open(d->ctx, vbus_event, d, &d->vbus_monitor) < 0) {
		vbus_error_clear(d->ctx);
		return;
	}
	if (sd_event_add_io(d->event, &d->vbus_monitor_source,
			    vbus_nl_monitor_fd(d->vbus_monitor), EPOLLIN, vbus_monitor_io, d) < 0) {
		d->vbus_monitor = vbus_nl_free(d->vbus_monitor);
		return;
	}
	log_debug("Following the vbus monitor group");
}

/* ---- udev ---------------------------------------------------------------------------------- */

/*
 * An event for the kernel device SYSNAME: when the model knows it as definitions (by name, or
 * by the last part of their sysfs path), only those are read again. Anything else (a device
 * nobody defined, a parent going away) may change many entries: the whole model is.
 */
static void refresh_device(struct vbusd *d, const char *sysname)
{
	_cleanup_free_ char **names = NULL;
	struct lh_entry *e;
	size_t n = 0;
	bool all = !d->devices;

	if (!all) {
		names = calloc(d->devices->count + 1, sizeof(*names));
		all = !names;
	}
	if (!all)
		lh_foreach(d->devices, e) {
			struct device *dev = (struct device *)lh_entry_v(e);
			const char *slash = dev->sysfs_path ? strrchr(dev->sysfs_path, '/') : NULL;

			if (!streq(dev->name, sysname) && !(slash && streq(slash + 1, sysname)))
				continue;
			if (!dev->definition) {
				all = true;
				break;
			}
			names[n++] = dev->name;
		}
	if (all || n == 0) {
		objects_refresh(d);
		return;
	}
	/* Refreshing frees the entries: keep the names. */
	for (size_t i = 0; i < n; i++)
		if (!(names[i] = strdup(names[i]))) {
			while (i--)
				free(names[i]);
			objects_refresh(d);
			return;
		}
	for (size_t i = 0; i < n; i++) {
		objects_refresh_name(d, names[i]);
		free(names[i]);
	}
}

/*
 * One kernel event, as udev passes it on: a parent may have appeared (a PCI function, a vdpa
 * or vbus_sim device, an auxiliary device such as an SF, or an mdev parent registering its
 * types), so its autostart definitions come up; anything else may change what is active.
 */
static _unused_ void handle_uevent(struct vbusd *d, const char *action, const char *subsystem,
				   const char *sysname, const char *mdev_state)
{
	log_debug("uevent: %s %s %s%s%s", action ?: "?", subsystem ?: "?", sysname ?: "?",
		  mdev_state ? " MDEV_STATE=" : "", mdev_state ?: "");
	if (!action || !sysname)
		return;
	if ((streq(action, "add") && subsystem &&
	     (streq(subsystem, "pci") || streq(subsystem, "vdpa") ||
	      streq(subsystem, "vbus_sim") || streq(subsystem, "auxiliary"))) ||
	    (streq(action, "change") && streq_ptr(mdev_state, "registered")))
		(void)provision_reconcile(d, sysname);
	else
		refresh_device(d, sysname);
	vbus_monitor_start(d);
	provision_adopt(d, false);
	/* A binding someone else changed leaves the CDI specs (or enters them) at once. */
	if (subsystem && (streq(subsystem, "pci") || streq(subsystem, "mdev") ||
			  streq(subsystem, "vdpa") || streq(subsystem, "vfio") ||
			  streq(subsystem, "vhost-vdpa")))
		(void)vbus_cdi_update(d->ctx);
}

#if HAVE_LIBUDEV
static int udev_event(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct vbusd *d = userdata;
	struct udev_device *dev = udev_monitor_receive_device(d->monitor);

	if (!dev)
		return 0;
	handle_uevent(d, udev_device_get_action(dev), udev_device_get_subsystem(dev),
		      udev_device_get_sysname(dev),
		      udev_device_get_property_value(dev, "MDEV_STATE"));
	udev_device_unref(dev);
	return 0;
}

static int monitor_start(struct vbusd *d)
{
	struct udev *udev;
	int r;

	udev = udev_new();
	if (!udev)
		return -ENOMEM;
	d->monitor = udev_monitor_new_from_netlink(udev, "udev");
	udev_unref(udev); /* the monitor keeps its own reference */
	if (!d->monitor)
		return -errno ?: -EIO;
	r = udev_monitor_enable_receiving(d->monitor);
	if (r < 0)
		return r;
	return sd_event_add_io(d->event, &d->monitor_source, udev_monitor_get_fd(d->monitor),
			       EPOLLIN, udev_event, d);
}
#endif

#if VBUSD_FAKE_KERNEL
/*
 * The test copy reads uevents from the FIFO named by VBUSD_FAKE_UEVENTS, one a line:
 * "ACTION SUBSYSTEM SYSNAME [MDEV_STATE]", as udev would deliver them for a fake tree.
 */
static int fake_uevent(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	char buf[4096], *line, *save = NULL;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);

	if (n <= 0)
		return 0;
	buf[n] = 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[4] = {}, *save2 = NULL;
		int i = 0;

		for (char *w = strtok_r(line, " ", &save2); w && i < 4; w = strtok_r(NULL, " ", &save2))
			f[i++] = w;
		handle_uevent(userdata, f[0], f[1], f[2], f[3]);
	}
	return 0;
}

static void fake_uevents_start(struct vbusd *d)
{
	const char *path = getenv("VBUSD_FAKE_UEVENTS");
	int fd;

	if (!path)
		return;
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || sd_event_add_io(d->event, &d->monitor_source, fd, EPOLLIN, fake_uevent, d) < 0) {
		log_error("Cannot read fake uevents from %s", path);
		return;
	}
	sd_event_source_set_io_fd_own(d->monitor_source, true);
}
#endif

/* ---- devices.d ----------------------------------------------------------------------------- */

/* Definitions written by someone else (vbusctl --direct, an editor): show them. */
static int devices_dir_changed(sd_event_source *s, const struct inotify_event *ev, void *userdata)
{
	struct vbusd *d = userdata;
	_cleanup_free_ char *name = NULL;
	size_t len;

	lib_log_forget();
	if (s == d->policy_inotify_source)
		return 0;
	/* NAME.json: that definition alone. A temporary (".#NAME.XXXXXX", renamed into place
	 * later) tells nothing yet. Anything else (a lost event, the directory itself): all. */
	len = ev->len ? strlen(ev->name) : 0;
	if (!(ev->mask & IN_Q_OVERFLOW) && len > 5 && streq(ev->name + len - 5, ".json") &&
	    ev->name[0] != '.' && (name = strndup(ev->name, len - 5)) &&
	    vbus_name_is_valid(name)) {
		objects_refresh_name(d, name);
		return 0;
	}
	if (!(ev->mask & IN_Q_OVERFLOW) && len && ev->name[0] == '.')
		return 0;
	objects_refresh(d);
	return 0;
}

static int watch_dir(struct vbusd *d, const char *sub, sd_event_source **ret)
{
	_cleanup_free_ char *etc = vbus_path(d->ctx, "/etc/vbus");
	_cleanup_free_ char *dir = vbus_pathf(d->ctx, "/etc/vbus/%s", sub);
	int r;

	if (!etc || !dir)
		return -ENOMEM;
	(void)mkdir(etc, 0755);
	(void)mkdir(dir, 0755);
	r = sd_event_add_inotify(d->event, ret, dir,
				 IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
					 IN_ONLYDIR,
				 devices_dir_changed, d);
	if (r < 0)
		return r;
	/* Before the bus: a caller who just wrote a definition sees it in the next listing. */
	return sd_event_source_set_priority(*ret, SD_EVENT_PRIORITY_IMPORTANT);
}

int provision_start(struct vbusd *d)
{
	int r;

	r = watch_dir(d, "devices.d", &d->inotify_source);
	if (r < 0)
		log_warning("Not watching devices.d: %s", strerror(-r));
	/* Policy is read at each decision; a change only lets its warnings be given again. */
	r = watch_dir(d, "policy.d", &d->policy_inotify_source);
	if (r < 0)
		log_warning("Not watching policy.d: %s", strerror(-r));
#if HAVE_LIBUDEV
	/* Events of the real kernel mean nothing for a tree below --root. */
	if (streq(vbus_ctx_get_root(d->ctx), "/")) {
		r = monitor_start(d);
		if (r < 0)
			log_warning("No udev monitor, parents appearing later are not noticed: %s",
				    strerror(-r));
	}
#endif
#if VBUSD_FAKE_KERNEL
	fake_uevents_start(d);
#endif
	vbus_monitor_start(d);
	r = provision_reconcile(d, NULL);
	if (r > 0)
		log_info("Reconciled: started %d device(s)", r);
	provision_adopt(d, true);
	return 0;
}

void provision_done(struct vbusd *d)
{
	d->vbus_monitor_source = sd_event_source_disable_unref(d->vbus_monitor_source);
	d->vbus_monitor = vbus_nl_free(d->vbus_monitor);
	while (d->retries) {
		struct retry *t = d->retries;

		d->retries = t->next;
		retry_free(t);
	}
	d->monitor_source = sd_event_source_disable_unref(d->monitor_source);
	d->inotify_source = sd_event_source_disable_unref(d->inotify_source);
	d->policy_inotify_source = sd_event_source_disable_unref(d->policy_inotify_source);
#if HAVE_LIBUDEV
	if (d->monitor)
		udev_monitor_unref(d->monitor);
	d->monitor = NULL;
#endif
}

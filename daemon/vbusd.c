// SPDX-License-Identifier: LGPL-2.1-or-later
/* vbusd: owns org.vbus1 on the system bus; state, authorization, events and policy of vbus. */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "config.h"
#define SD_BUS_DL_NO_REDIRECT
#include "sd-bus-dl.h"
#include "vbusd.h"

int vbusd_log_level = 6;
static bool log_to_journal;

#if VBUSD_FAKE_KERNEL
void fake_kernel_install(struct vbus_ctx *ctx);
#endif

static const char *arg_root;
static bool arg_no_polkit;

/* Notices are mostly refused calls, which anyone can make: at most LOG_NOTICE_BURST per
 * LOG_NOTICE_WINDOW seconds, then one line saying how many were left out. */
#define LOG_NOTICE_BURST 20
#define LOG_NOTICE_WINDOW 10

static bool notice_allowed(void)
{
	static time_t window;
	static unsigned n, suppressed;
	time_t now = time(NULL);

	if (now - window >= LOG_NOTICE_WINDOW) {
		unsigned s = suppressed;

		window = now;
		n = 0;
		suppressed = 0;
		if (s)
			vbusd_log(LOG_NOTICE_NORATE, "%u notices suppressed in the last %d s", s,
				  LOG_NOTICE_WINDOW);
	}
	if (n < LOG_NOTICE_BURST) {
		n++;
		return true;
	}
	suppressed++;
	return false;
}

void vbusd_log(int level, const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL, *safe = NULL;
	va_list ap;
	int r;

	if (level == LOG_NOTICE_NORATE)
		level = 5;
	else if (level == 5 && level <= vbusd_log_level && !notice_allowed())
		return;
	if (level > vbusd_log_level)
		return;
	va_start(ap, fmt);
	r = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	/* Names and causes can come from callers and files: one line, no terminal controls. */
	safe = vbus_escape(text);
	if (!safe)
		return;
	if (log_to_journal)
		sd_journal_print(level, "%s", safe);
	else
		/* "<N>" lets journald (or anything reading sd-daemon prefixes) keep the level. */
		fprintf(stderr, "<%d>%s\n", level, safe);
}

/*
 * The warnings the library gave already (a broken definition or policy file is met again on
 * every listing): repeated ones go to debug, until the files change (lib_log_forget()).
 */
static struct json_object *lib_warned;

void lib_log_forget(void)
{
	if (lib_warned)
		json_object_put(lib_warned);
	lib_warned = NULL;
}

/* Library messages go to the same log, at the library's level. */
static void lib_log(void *userdata, int level, const char *file, int line, const char *fn,
		    const char *format, va_list args)
{
	char buf[1024];

	if (level > vbusd_log_level)
		return;
	vsnprintf(buf, sizeof(buf), format, args);
	if (level <= VBUS_LOG_WARNING) {
		if (!lib_warned)
			lib_warned = json_object_new_object();
		if (lib_warned && json_object_object_get_ex(lib_warned, buf, NULL))
			level = VBUS_LOG_DEBUG;
		else if (lib_warned)
			json_object_object_add(lib_warned, buf, NULL);
		if (level > vbusd_log_level)
			return;
	}
	vbusd_log(level, "%s", buf);
}

/* stderr is the journal when JOURNAL_STREAM names its device and inode (systemd.exec(5)). */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

static int log_level_parse(const char *s)
{
	static const char *const names[] = { "emerg", "alert", "crit", "err",
					     "warning", "notice", "info", "debug" };

	for (int i = 0; i < 8; i++)
		if (streq(s, names[i]))
			return i;
	return -EINVAL;
}

static void help(void)
{
	printf("vbusd [OPTIONS...]\n\n"
	       "The vbus daemon: serves org.vbus1 on the system bus.\n\n"
	       "  -h --help            Show this help\n"
	       "     --version         Show the version\n"
	       "     --root=DIR        Work on the tree below DIR (sys, etc/vbus, run)\n"
	       "     --no-polkit       Do not ask polkit: only root may change things\n"
	       "     --log-level=LEVEL err, warning, notice, info (default) or debug\n");
}

/* Returns 1 to go on, 0 to exit successfully, <0 on usage error. */
static int parse_argv(int argc, char *argv[])
{
	enum { ARG_VERSION = 0x100, ARG_ROOT, ARG_NO_POLKIT, ARG_LOG_LEVEL };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{ "root", required_argument, NULL, ARG_ROOT },
		{ "no-polkit", no_argument, NULL, ARG_NO_POLKIT },
		{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
		{}
	};
	int c, l;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help();
			return 0;
		case ARG_VERSION:
			printf("vbusd %s\n", VBUS_VERSION);
			return 0;
		case ARG_ROOT:
			arg_root = optarg;
			break;
		case ARG_NO_POLKIT:
			arg_no_polkit = true;
			break;
		case ARG_LOG_LEVEL:
			l = log_level_parse(optarg);
			if (l < 0) {
				fprintf(stderr, "vbusd: unknown log level '%s'\n", optarg);
				return -EINVAL;
			}
			vbusd_log_level = l;
			break;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vbusd: takes no arguments\n");
		return -EINVAL;
	}
	return 1;
}

static void vbusd_done(struct vbusd *d)
{
	provision_done(d);
	auth_done(d);
	objects_done(d);
	d->bus = sd_bus_flush_close_unref(d->bus);
	d->event = sd_event_unref(d->event);
	d->ctx = vbus_ctx_unref(d->ctx);
	lib_log_forget();
}

static int run(void)
{
	_cleanup_(vbusd_done) struct vbusd d = { .root = arg_root, .no_polkit = arg_no_polkit };
	sigset_t mask;
	int r;

	r = vbus_ctx_new(arg_root, &d.ctx);
	if (r < 0) {
		log_error("Failed to set up libvbus for root %s: %s", arg_root ? arg_root : "/",
			  strerror(-r));
		return r;
	}
	vbus_ctx_set_log_fn(d.ctx, lib_log, &d);
#if VBUSD_FAKE_KERNEL
	/* tests/integration/fake-kernel.c: the test copy plays the kernel in a fake tree. */
	fake_kernel_install(d.ctx);
#endif
	/* The library logs at the daemon's level (bad policy and definition files are
	 * warnings), unless VBUS_LOG says otherwise. */
	if (!getenv("VBUS_LOG"))
		vbus_ctx_set_log_level(d.ctx, vbusd_log_level);

	r = sd_event_default(&d.event);
	if (r < 0) {
		log_error("Failed to allocate the event loop: %s", strerror(-r));
		return r;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	/* A NULL handler makes the loop exit cleanly on the signal. */
	r = sd_event_add_signal(d.event, NULL, SIGTERM, NULL, NULL);
	if (r >= 0)
		r = sd_event_add_signal(d.event, NULL, SIGINT, NULL, NULL);
	if (r < 0) {
		log_error("Failed to watch SIGTERM: %s", strerror(-r));
		return r;
	}

	/* sd_bus_open_system() honours DBUS_SYSTEM_BUS_ADDRESS: tests run on a private bus. */
	r = sd_bus_open_system(&d.bus);
	if (r < 0) {
		log_error("Failed to connect to the system bus: %s", strerror(-r));
		return r;
	}
	r = sd_bus_error_add_map(vbus_bus_errors);
	if (r < 0)
		return r;
	r = manager_register(&d);
	if (r >= 0)
		r = objects_register(&d);
	if (r < 0) {
		log_error("Failed to register the D-Bus objects: %s", strerror(-r));
		return r;
	}
	r = sd_bus_attach_event(d.bus, d.event, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0)
		return r;

	/* The model and the devices first, so the first caller sees a reconciled state. */
	r = provision_start(&d);
	if (r < 0)
		return r;
	/* The CDI specs as this boot has them (names come from definitions, not group numbers). */
	r = vbus_cdi_update(d.ctx);
	if (r < 0)
		log_warning("Failed to write the CDI specs: %s",
			    vbus_ctx_last_error(d.ctx) ?: strerror(-r));

	r = sd_bus_request_name(d.bus, VBUS_BUS_NAME, 0);
	if (r < 0) {
		log_error("Failed to own %s: %s", VBUS_BUS_NAME, strerror(-r));
		return r;
	}
	sd_notify(false, "READY=1\nSTATUS=Serving org.vbus1");
	log_info("vbusd %s serving %s (root %s)", VBUS_VERSION, VBUS_BUS_NAME,
		 vbus_ctx_get_root(d.ctx));

	r = sd_event_loop(d.event);
	sd_notify(false, "STOPPING=1\nSTATUS=Shutting down");
	if (r < 0) {
		log_error("Event loop failed: %s", strerror(-r));
		return r;
	}
	log_info("vbusd stopped");
	return 0;
}

int main(int argc, char *argv[])
{
	int r;

	log_to_journal = stderr_is_journal();
	/* shared/ calls sd-bus through pointers (for vbusctl's sake); vbusd links libsystemd, so
	 * this only looks the symbols up. */
	if (dlopen_sd_bus() < 0) {
		fprintf(stderr, "vbusd: Cannot load libsystemd.so.0\n");
		return 1;
	}
	r = parse_argv(argc, argv);
	if (r <= 0)
		return r < 0 ? 2 : 0;
	return run() < 0 ? 1 : 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* Auto-provisioning: definitions re-applied at start, when devices or parents are added and
 * when a device vbus started loses its driver. */
#include <dirent.h>
#include <stdio.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "vbusd.h"
#include "sysfs.h"

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

static uint64_t retry_first_usec(void)
{
#if VBUSD_FAKE_KERNEL
	/* tests/integration/events.sh: to the give-up in well under a second. */
	const char *e = getenv("VBUSD_FAKE_RETRY_USEC");

	if (e)
		return strtoull(e, NULL, 10);
#endif
	return RETRY_FIRST_USEC;
}

/* The kernel's name of a parent handle: "pci/0000:06:00.0" and "vbus_sim/vbus_sim2" (devlink,
 * vdpa and vbus handles) name their device by the part after the bus. */
static const char *sysname_of(const char *parent)
{
	const char *slash = strrchr(parent, '/');

	return slash ? slash + 1 : parent;
}

/*
 * Failures are handled in batches (one reconcile, one retry round): each device still gets its
 * DeviceFailed and DeviceGaveUp signals, but the log gets one line per parent and batch, and the
 * devices of one parent that failed together are retried together, by one timer (a round). Ten
 * thousand starts failing on one parent thus cost one log line and one timer per round, and a
 * device's retry is found through a hash table, not a walk of every retry.
 */
struct round;

struct retry {
	char *name;
	char *parent;	     /* the parent's kernel name (sysname_of()): rounds and log lines */
	unsigned attempt;    /* retries scheduled so far */
	struct round *round; /* the round it waits in, NULL when none */
	size_t slot;	     /* its index in round->items */
};

struct round {
	struct round *next, **pprev; /* in d->rounds */
	struct vbusd *d;
	sd_event_source *timer;
	struct retry **items; /* NULL where a member left (started, rescheduled, dropped) */
	size_t n, cap;
	size_t cursor;	      /* the first member not started yet, once the round runs */
	struct batch *batch;  /* while it runs: its starts are one batch across its slices */
};

/* The failures of one batch for one parent that are retried alike (or given up on). */
struct group {
	char *parent;
	unsigned attempt; /* the retry they wait for, RETRY_MAX when given up on */
	unsigned n;	  /* failures to log (a parent not listed yet is retried silently) */
	char *first, *first_cause;
	struct round *round;
	struct group *next; /* in the order met, for the log */
};

struct batch {
	struct vbusd *d;
	struct lh_table *groups; /* "ATTEMPT PARENT" -> struct group */
	struct group *first, **last;
	bool locked;
};

static void retry_entry_free(struct lh_entry *e)
{
	struct retry *t = (struct retry *)lh_entry_v(e);

	free(t->name); /* the key */
	free(t->parent);
	free(t);
}

static struct retry *retry_get(struct vbusd *d, const char *name)
{
	void *v;

	return d->retries && lh_table_lookup_ex(d->retries, name, &v) ? v : NULL;
}

static void retry_detach(struct retry *t)
{
	if (t->round)
		t->round->items[t->slot] = NULL;
	t->round = NULL;
}

static void retry_drop(struct vbusd *d, struct retry *t)
{
	retry_detach(t);
	lh_table_delete(d->retries, t->name);
}

static void batch_end(struct batch *b);

static void round_free(struct round *rd)
{
	if (!rd)
		return;
	if (rd->batch) {
		batch_end(rd->batch);
		free(rd->batch);
	}
	if (rd->pprev) {
		*rd->pprev = rd->next;
		if (rd->next)
			rd->next->pprev = rd->pprev;
	}
	for (size_t i = 0; i < rd->n; i++)
		if (rd->items[i])
			rd->items[i]->round = NULL;
	sd_event_source_disable_unref(rd->timer);
	free(rd->items);
	free(rd);
}

static int round_add(struct round *rd, struct retry *t)
{
	if (rd->n == rd->cap) {
		size_t cap = rd->cap ? rd->cap * 2 : 16;
		struct retry **items = realloc(rd->items, cap * sizeof(*items));

		if (!items)
			return -ENOMEM;
		rd->items = items;
		rd->cap = cap;
	}
	t->round = rd;
	t->slot = rd->n;
	rd->items[rd->n++] = t;
	return 0;
}

static int start_one(struct vbusd *d, struct batch *b, const char *name, const char *parent,
		     const struct vbus_def *def);
static void batch_begin(struct vbusd *d, struct batch *b);

/*
 * A round is due: its members are started again, as one batch (one hold of the lock, one log
 * line per parent), ROUND_SLICE starts per dispatch. Between two slices the round's timer is
 * due at once but waits its turn among the other pending events, so vbusd answers the bus and
 * follows the kernel's events while it retries: a round of 10 000 failing starts takes
 * seconds, a listing no longer waits for it.
 */
#define ROUND_SLICE 64

/*
 * Below the bus and the kernel's events. At the same priority a slice could starve a call: sd-bus
 * keeps a message it has read but not dispatched in its queue and re-arms its own timer in every
 * iteration, so that timer is never older than the slice's, which is re-armed too, and ties
 * went to the slice until the round ended (seconds for 10 000 failing starts).
 */
#define ROUND_PRIORITY (SD_EVENT_PRIORITY_NORMAL + 1)

static int round_fire(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct round *rd = userdata;
	struct vbusd *d = rd->d;
	unsigned started = 0, slice = ROUND_SLICE;

	if (!rd->batch) {
		rd->batch = malloc(sizeof(*rd->batch));
		if (!rd->batch) {
			round_free(rd);
			return 0;
		}
		batch_begin(d, rd->batch);
	}
again:
	for (; rd->cursor < rd->n && started < slice; rd->cursor++) {
		struct retry *t = rd->items[rd->cursor];
		_cleanup_free_ char *name = NULL, *parent = NULL;

		if (!t)
			continue;
		rd->items[rd->cursor] = NULL;
		t->round = NULL;
		/* Starting may drop T. */
		name = strdup(t->name);
		parent = strdup(t->parent);
		if (!name || !parent) {
			rd->cursor = rd->n;
			break;
		}
		(void)start_one(d, rd->batch, name, parent, NULL);
		objects_refresh_name(d, name);
		started++;
	}
	/* More to start: again after what is pending now (or now, all of it, if the timer cannot
	 * be set again). */
	if (rd->cursor < rd->n) {
		if (sd_event_source_set_time(s, 0) >= 0 &&
		    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT) >= 0)
			return 0;
		slice = UINT_MAX;
		goto again;
	}
	round_free(rd);
	return 0;
}

static void group_free(struct lh_entry *e)
{
	struct group *g = (struct group *)lh_entry_v(e);

	free(lh_entry_k(e));
	free(g->parent);
	free(g->first);
	free(g->first_cause);
	free(g);
}

/* A batch holds the store lock: its starts take it again without waiting, and the CDI specs
 * are brought up to date once, when it lets go (not after each start: a full read each). */
static void batch_begin(struct vbusd *d, struct batch *b)
{
	*b = (struct batch){.d = d, .groups = lh_kchar_table_new(16, group_free)};
	b->last = &b->first;
	b->locked = vbus_lock(d->ctx) >= 0;
	if (!b->locked)
		vbus_error_clear(d->ctx);
}

/* The group of PARENT's failures retried as ATTEMPT in B, made (with its round) when new. */
static struct group *batch_group(struct batch *b, const char *parent, unsigned attempt)
{
	struct vbusd *d = b->d;
	_cleanup_free_ char *key = NULL;
	struct group *g;
	void *v;
	uint64_t now = 0;

	if (!b->groups || asprintf(&key, "%u %s", attempt, parent) < 0)
		return NULL;
	if (lh_table_lookup_ex(b->groups, key, &v))
		return v;
	g = calloc(1, sizeof(*g));
	if (!g || !(g->parent = strdup(parent))) {
		free(g);
		return NULL;
	}
	g->attempt = attempt;
	if (attempt < RETRY_MAX) {
		/* Its timer is set when the batch ends (batch_end()): a round that runs in slices
		 * must not have its failures retried before its last slice. */
		g->round = calloc(1, sizeof(*g->round));
		sd_event_now(d->event, CLOCK_MONOTONIC, &now);
		if (!g->round ||
		    sd_event_add_time(d->event, &g->round->timer, CLOCK_MONOTONIC,
				      now + (retry_first_usec() << attempt), 0, round_fire,
				      g->round) < 0 ||
		    sd_event_source_set_priority(g->round->timer, ROUND_PRIORITY) < 0 ||
		    sd_event_source_set_enabled(g->round->timer, SD_EVENT_OFF) < 0) {
			if (g->round)
				sd_event_source_disable_unref(g->round->timer);
			free(g->round);
			free(g->parent);
			free(g);
			return NULL;
		}
		g->round->d = d;
		g->round->next = d->rounds;
		if (d->rounds)
			d->rounds->pprev = &g->round->next;
		g->round->pprev = &d->rounds;
		d->rounds = g->round;
	}
	if (lh_table_insert(b->groups, key, g) < 0) {
		round_free(g->round);
		free(g->parent);
		free(g);
		return NULL;
	}
	key = NULL;
	*b->last = g;
	b->last = &g->next;
	return g;
}

/*
 * NAME (on PARENT) did not start because of CAUSE (NULL: its parent is not listed yet, which is
 * retried without a word): retried in the round of its parent, or given up on after RETRY_MAX
 * retries (DeviceGaveUp).
 */
static void batch_fail(struct batch *b, const char *name, const char *parent, const char *cause)
{
	struct vbusd *d = b->d;
	struct retry *t = retry_get(d, name);
	struct group *g;

	parent = sysname_of(parent ?: "");
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t)
			return;
		t->name = strdup(name);
		t->parent = strdup(parent);
		if (!t->name || !t->parent || lh_table_insert(d->retries, t->name, t) < 0) {
			free(t->name);
			free(t->parent);
			free(t);
			return;
		}
	}
	retry_detach(t);
	if (t->attempt >= RETRY_MAX) {
		objects_emit_gave_up(d, name, "start", t->attempt, cause ?: "its parent is not ready");
		g = batch_group(b, t->parent, RETRY_MAX);
		retry_drop(d, t);
	} else {
		g = batch_group(b, t->parent, t->attempt);
		if (!g || round_add(g->round, t) < 0) {
			retry_drop(d, t);
			return;
		}
		t->attempt++;
	}
	if (!g || !cause)
		return;
	if (g->n++ == 0) {
		g->first = strdup(name);
		g->first_cause = strdup(cause);
	}
}

/* One log line per parent and kind of outcome of the batch: few enough that the notices are
 * not rate-limited (a refused call's are). */
static void batch_end(struct batch *b)
{
	uint64_t now = 0;

	sd_event_now(b->d->event, CLOCK_MONOTONIC, &now);
	for (struct group *g = b->first; g; g = g->next) {
		int level = g->attempt >= RETRY_MAX ? 4 : LOG_NOTICE_NORATE;
		char when[64];

		/* The delay runs from the end of the batch. A timer that cannot be set fires now. */
		if (g->round && sd_event_source_set_time(g->round->timer,
							 now + (retry_first_usec() << g->attempt)) < 0)
			(void)sd_event_source_set_time(g->round->timer, 0);
		if (g->round)
			(void)sd_event_source_set_enabled(g->round->timer, SD_EVENT_ONESHOT);

		if (g->n == 0)
			continue;
		if (g->attempt >= RETRY_MAX)
			snprintf(when, sizeof(when), "giving up after %u attempts", RETRY_MAX);
		else
			snprintf(when, sizeof(when), "retry in %.3g s",
				 (double)(retry_first_usec() << g->attempt) / 1e6);
		if (g->n == 1)
			vbusd_log(level, "Failed to start '%s': %s; %s", g->first ?: "?",
				  g->first_cause ?: "?", when);
		else
			vbusd_log(level, "%s: %u devices failed to start (first: %s: %s); %s",
				  g->parent[0] ? g->parent : "(no parent)", g->n, g->first ?: "?",
				  g->first_cause ?: "?", when);
	}
	if (b->groups)
		lh_table_free(b->groups);
	b->groups = NULL;
	b->first = NULL;
	b->last = &b->first;
	if (b->locked)
		vbus_unlock(b->d->ctx);
	b->locked = false;
}

/*
 * Brings NAME (on PARENT) to what its definition asks (present, with its wanted driver); on
 * failure, B retries it. vbus_start() converges: a device that is there already with its driver
 * is left as it is (-EALREADY), one with the wrong driver is bound again. DEF: NAME's stored
 * definition as a listing read it under B's lock (not read again), else NULL. 1 when something
 * was done, 0 when nothing needed to be, else the failure.
 */
static int start_one(struct vbusd *d, struct batch *b, const char *name, const char *parent,
		     const struct vbus_def *def)
{
	int r = def ? vbus_start_def(d->ctx, def, false) : vbus_start(d->ctx, name);
	struct retry *t = retry_get(d, name);
	const char *cause;

	if (r >= 0 || r == -EALREADY) {
		/* libvbus has said "Started" through the log callback already. */
		if (r == -EALREADY)
			vbus_error_clear(d->ctx);
		if (t)
			retry_drop(d, t);
		return r >= 0;
	}
	cause = vbus_ctx_last_error(d->ctx) ?: strerror(-r);
	objects_emit_failed(d, name, "start", r, cause);
	batch_fail(b, name, parent, cause);
	return r;
}

/*
 * Re-applies every start:auto definition whose parent is present (and, with PARENT, is PARENT:
 * the name the kernel gave it, "0000:03:00.0" or "mtty"): made present and given its wanted
 * driver. /run/vbus may be empty (after a reboot): vbus_start() decides from what it finds.
 * With RECONCILE_INACTIVE only the definitions whose device is not there are considered (events
 * that can only make parents appear: a module loaded, a driver bound to a parent).
 */
#define STACK_DEPTH_MAX 8

/* The parent of the definition at the bottom of DEV's stack (DEV's own parent when it is not
 * stacked), and in *RET_DEPTH how many definitions DEV stands on; NULL when a reference
 * names nothing the model knows (libvbus says why at its start). */
static const char *stack_root_parent(struct vbusd *d, const struct device *dev, int *ret_depth)
{
	int depth = 0;

	while (dev && dev->parent && dev->parent[0] == '@' && depth <= STACK_DEPTH_MAX) {
		dev = objects_get(d, dev->parent + 1);
		depth++;
	}
	*ret_depth = depth;
	return dev && depth <= STACK_DEPTH_MAX ? dev->parent : NULL;
}

/*
 * A reconcile of more than ROUND_SLICE definitions (a parent with hundreds appeared) starts
 * them in slices, as a retry round does: one batch (one hold of the lock, one log line per
 * parent), ROUND_SLICE starts per dispatch at ROUND_PRIORITY, so vbusd answers the bus and
 * follows the kernel's events in between.
 */
struct reconcile {
	struct reconcile *next, **pprev; /* in d->reconciles */
	struct vbusd *d;
	sd_event_source *timer;
	struct batch batch;
	bool fresh;   /* the model was read under the batch's lock: its definitions are stored */
	char **todo;  /* name, then the parent at the bottom of its stack, per definition */
	size_t n_todo, cursor;
	int started;
};

static void reconcile_free(struct reconcile *rc)
{
	if (!rc)
		return;
	batch_end(&rc->batch);
	if (rc->pprev) {
		*rc->pprev = rc->next;
		if (rc->next)
			rc->next->pprev = rc->pprev;
	}
	for (size_t i = 0; i < rc->n_todo; i++)
		free(rc->todo[i]);
	free(rc->todo);
	sd_event_source_disable_unref(rc->timer);
	free(rc);
}

/* Starts up to LIMIT more of RC's definitions; the model follows them, as one snapshot of
 * the policy (policy.d checked once, not per entry). True when none is left. */
static bool reconcile_slice(struct reconcile *rc, size_t limit)
{
	struct vbusd *d = rc->d;
	size_t from = rc->cursor;

	for (; rc->cursor < rc->n_todo && limit > 0; rc->cursor += 2, limit--) {
		/* The definition the model read under this batch's lock, or as a refresh since
		 * read it: one undefined or no longer start:auto since an earlier slice is left. */
		struct device *dev = rc->fresh ? objects_get(d, rc->todo[rc->cursor]) : NULL;
		const struct vbus_def *def = dev ? vbus_device_stored_def(dev->model) : NULL;

		if (rc->fresh && (!dev || !dev->defined || !dev->start_auto))
			continue;
		if (start_one(d, &rc->batch, rc->todo[rc->cursor], rc->todo[rc->cursor + 1], def) > 0)
			rc->started++;
	}
	if (rc->cursor >= rc->n_todo)
		batch_end(&rc->batch);
	vbus_policy_pin(d->ctx);
	for (size_t i = from; i < rc->cursor; i += 2)
		/* One left above because the model no longer has it has nothing to follow (a
		 * refresh of a name the model lacks reads it whole). */
		if (!rc->fresh || objects_get(d, rc->todo[i]))
			objects_refresh_runtime(d, rc->todo[i]);
	vbus_policy_unpin(d->ctx);
	return rc->cursor >= rc->n_todo;
}

static int reconcile_fire(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct reconcile *rc = userdata;

	if (reconcile_slice(rc, ROUND_SLICE)) {
		reconcile_free(rc);
		return 0;
	}
	/* Again after what is pending now (or all of it now, if the timer cannot be set). */
	if (sd_event_source_set_time(s, 0) < 0 ||
	    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT) < 0) {
		reconcile_slice(rc, SIZE_MAX);
		reconcile_free(rc);
	}
	return 0;
}

int provision_reconcile(struct vbusd *d, const char *parent, unsigned flags)
{
	struct reconcile *rc;
	struct lh_entry *e;
	size_t n_todo = 0;
	int r;

	rc = calloc(1, sizeof(*rc));
	if (!rc)
		return -ENOMEM;
	rc->d = d;
	/* The model is read with the lock held: the definitions it holds are the stored ones
	 * until the batch lets go, and each start takes its own instead of reading its file. */
	batch_begin(d, &rc->batch);
	rc->fresh = objects_refresh(d) >= 0 && rc->batch.locked;
	if (!d->devices) {
		reconcile_free(rc);
		return 0;
	}
	/* Two strings per definition: its name and its parent. */
	rc->todo = calloc(2 * d->devices->count + 2, sizeof(*rc->todo));
	if (!rc->todo) {
		reconcile_free(rc);
		return -ENOMEM;
	}
	/* Parents first: a definition standing on another ("parent": "@vf-a") after it, by the
	 * depth of its stack, so the VF is there before the mdev on it. */
	for (int depth = 0; depth <= STACK_DEPTH_MAX; depth++)
		lh_foreach(d->devices, e) {
			struct device *dev = (struct device *)lh_entry_v(e);
			int k;
			const char *root = stack_root_parent(d, dev, &k);

			if (!dev->defined || !dev->start_auto || !root || k != depth)
				continue;
			if ((flags & RECONCILE_INACTIVE) && dev->active)
				continue;
			/* A parent that appeared brings up the stacks on its definitions too. */
			if (parent && !streq(sysname_of(root), sysname_of(parent)))
				continue;
			/* A pci definition's parent is its device (no parent listing names it):
			 * active means present. */
			if (!dev->active &&
			    (!d->parents || !json_object_object_get(d->parents, root))) {
				/* A parent that just appeared may not list itself yet: retry
				 * later. */
				if (parent)
					batch_fail(&rc->batch, dev->name, root, NULL);
				continue;
			}
			rc->todo[n_todo] = strdup(dev->name);
			rc->todo[n_todo + 1] = strdup(root);
			if (!rc->todo[n_todo] || !rc->todo[n_todo + 1]) {
				free(rc->todo[n_todo]);
				free(rc->todo[n_todo + 1]);
				rc->todo[n_todo] = rc->todo[n_todo + 1] = NULL;
				break;
			}
			n_todo += 2;
		}
	rc->n_todo = n_todo;
	/* Starting changes the model: the names are a copy. Few (or at start, before READY=1):
	 * all now. */
	if ((flags & RECONCILE_NOW) || n_todo <= 2 * ROUND_SLICE ||
	    sd_event_add_time(d->event, &rc->timer, CLOCK_MONOTONIC, 0, 0, reconcile_fire, rc) < 0 ||
	    sd_event_source_set_priority(rc->timer, ROUND_PRIORITY) < 0) {
		reconcile_slice(rc, SIZE_MAX);
		r = rc->started;
		reconcile_free(rc);
		return r;
	}
	rc->next = d->reconciles;
	if (d->reconciles)
		d->reconciles->pprev = &rc->next;
	rc->pprev = &d->reconciles;
	d->reconciles = rc;
	/* The first slice now, the others after what is pending. */
	if (reconcile_slice(rc, ROUND_SLICE)) {
		r = rc->started;
		reconcile_free(rc);
		return r;
	}
	return rc->started;
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
		if (dev->model && vbus_apply_policy_to(d->ctx, dev->model) < 0)
			log_warning("Policy could not bind '%s': %s", dev->name,
				    vbus_ctx_last_error(d->ctx) ?: "unknown cause");
	}
}

/* ---- the kinds that announce their own events: vbus.ko's "monitor", devlink's "config" ---- */

/*
 * Their events are handled in batches: the first one arms a timer MONITOR_DELAY_USEC later, the
 * next ones join its batch. What the batch names is then read again once: the definitions an
 * event names (an SF port of a definition: by parent and sfnum), or the whole model when an
 * event names a device nobody defined, a parent going away, or more than MONITOR_NAMES_MAX
 * definitions. A parent that appeared gets its start:auto definitions re-applied, as on a udev
 * add. The next batch waits at least twice as long as this one took after it ends, so that a
 * long burst (100 `devlink port add`, each a kernel event or two) is read whole a few times
 * and the kernel keeps most of the CPU, not one read per port.
 */
#define MONITOR_DELAY_USEC 200000ULL
#define MONITOR_NAMES_MAX 32
#define MONITOR_PARENTS_MAX 4

static uint64_t now_usec(struct vbusd *d);

/* The time now (sd_event_now() is the loop iteration's): how long handling a batch took. */
static uint64_t clock_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

struct monitor_batch {
	sd_event_source *timer;
	unsigned n_events;
	bool whole;		 /* read the whole model */
	struct lh_table *names;	 /* definitions to read again (a set) */
	struct lh_table *parents; /* parents that appeared (a set) */
};

static void monitor_batch_free(struct monitor_batch *b)
{
	if (!b)
		return;
	sd_event_source_disable_unref(b->timer);
	if (b->names)
		lh_table_free(b->names);
	if (b->parents)
		lh_table_free(b->parents);
	free(b);
}

static void set_key_free(struct lh_entry *e)
{
	free(lh_entry_k(e));
}

/* Adds KEY to the set *T (made when missing); false when out of memory. */
static bool set_add(struct lh_table **t, const char *key)
{
	char *k;

	if (!*t && !(*t = lh_kchar_table_new(16, set_key_free)))
		return false;
	if (lh_table_lookup_entry(*t, key))
		return true;
	k = strdup(key);
	if (!k || lh_table_insert(*t, k, k) < 0) {
		free(k);
		return false;
	}
	return true;
}

/* The definition in the model that EV's device is, or NULL (none, or not a definition). */
static const char *monitor_definition(struct vbusd *d, const struct vbus_monitor_event *ev)
{
	struct lh_entry *e;

	if (!d->devices || !ev->parent)
		return NULL;
	if (ev->name) {
		struct device *dev = objects_get(d, ev->name);

		return dev && dev->definition && dev->model &&
		       vbus_device_get_kind(dev->model) == ev->kind &&
		       streq_ptr(vbus_device_get_parent(dev->model), ev->parent) ?
			       dev->name :
			       NULL;
	}
	if (ev->index < 0)
		return NULL;
	lh_foreach(d->devices, e) {
		struct device *dev = (struct device *)lh_entry_v(e);

		if (dev->model && vbus_device_get_kind(dev->model) == ev->kind &&
		    vbus_device_get_index(dev->model) == ev->index &&
		    streq_ptr(vbus_device_get_parent(dev->model), ev->parent))
			return dev->definition ? dev->name : NULL;
	}
	return NULL;
}

static int monitor_batch_fire(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct vbusd *d = userdata;
	struct monitor_batch *b = d->monitor_batch;
	struct lh_entry *e;
	size_t n_parents;
	uint64_t t0, t1;

	d->monitor_batch = NULL;
	t0 = clock_usec();
	n_parents = b->parents ? (size_t)b->parents->count : 0;
	log_debug("Kernel events: %u in one batch; %s", b->n_events,
		  n_parents ? "re-applying the definitions on the parents that appeared" :
		  b->whole  ? "reading the model whole" :
			      "reading the definitions they name");
	if (n_parents > MONITOR_PARENTS_MAX) {
		(void)provision_reconcile(d, NULL, RECONCILE_INACTIVE);
	} else if (n_parents) {
		/* Each reads the model whole first. */
		lh_foreach(b->parents, e)
			(void)provision_reconcile(d, lh_entry_k(e), 0);
	} else if (b->whole || !b->names) {
		objects_refresh(d);
	} else {
		lh_foreach(b->names, e)
			objects_refresh_name(d, lh_entry_k(e));
	}
	provision_adopt(d, false);
	monitor_batch_free(b);
	t1 = clock_usec();
	d->monitor_not_before = t1 + 2 * (t1 - t0);
	return 0;
}

static void monitor_event(const struct vbus_monitor_event *ev, void *userdata)
{
	struct vbusd *d = userdata;
	struct monitor_batch *b = d->monitor_batch;
	uint64_t when = now_usec(d) + MONITOR_DELAY_USEC;
	const char *name;

	if (!b) {
		b = d->monitor_batch = calloc(1, sizeof(*b));
		if (!b) {
			objects_refresh(d);
			return;
		}
		if (when < d->monitor_not_before)
			when = d->monitor_not_before;
		if (sd_event_add_time(d->event, &b->timer, CLOCK_MONOTONIC, when, 0,
				      monitor_batch_fire, d) < 0) {
			d->monitor_batch = NULL;
			monitor_batch_free(b);
			objects_refresh(d);
			return;
		}
	}
	b->n_events++;
	if (ev->what == VBUS_MONITOR_PARENT_NEW && ev->parent) {
		if (!set_add(&b->parents, ev->parent))
			b->whole = true;
	} else if (ev->what != VBUS_MONITOR_DEVICE) {
		b->whole = true;
	} else if (!b->whole) {
		name = monitor_definition(d, ev);
		if (!name || !set_add(&b->names, name) ||
		    b->names->count > MONITOR_NAMES_MAX)
			b->whole = true;
	}
}

static int vbus_monitor_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct vbusd *d = userdata;
	struct vbus_monitor_event lost = { .what = VBUS_MONITOR_PARENT_GONE, .index = -1 };
	int r = vbus_monitor_dispatch(d->vbus_monitor);

	/* ENOBUFS (libnl says ENOMEM): events were lost, the socket's buffer overflowed. What
	 * they said is read again, all of it. */
	if (r == -ENOMEM || r == -ENOBUFS)
		monitor_event(&lost, d);
	if (r < 0)
		log_debug("Kernel events: reading failed: %s", strerror(-r));
	return 0;
}

static bool is_one_of(const char *s, const char *const *list);

/* The model's entry DEV is the kernel device SYSNAME (by name, or its sysfs path ends so). */
static bool device_is(const struct device *dev, const char *sysname)
{
	const char *slash = dev->sysfs_path ? strrchr(dev->sysfs_path, '/') : NULL;

	return streq(dev->name, sysname) || (slash && streq(slash + 1, sysname));
}

/* DEV's state was read after the kernel sent uevent SEQNUM (0: not known): it holds the change. */
static bool saw_uevent(const struct device *dev, uint64_t seqnum)
{
	return seqnum && dev->seqnum && seqnum <= dev->seqnum;
}

/* Some entry of the model is the kernel device SYSNAME, and each such was read after uevent
 * SEQNUM. */
static bool model_saw(struct vbusd *d, const char *sysname, uint64_t seqnum)
{
	struct lh_entry *e;
	bool any = false;

	if (!seqnum || !d->devices)
		return false;
	lh_foreach(d->devices, e) {
		struct device *dev = (struct device *)lh_entry_v(e);

		if (!device_is(dev, sysname))
			continue;
		if (!saw_uevent(dev, seqnum))
			return false;
		any = true;
	}
	return any;
}

/*
 * A vfio group's or vfio-dev node's uevent (SEQNUM, DEVPATH) changes only what the model says of
 * the devices behind it (their group, their node): true when every one of those was read after
 * it. Those of an mdev or PCI function vbusd just bound to vfio were: its start read them.
 */
static bool vfio_uevent_seen(struct vbusd *d, const char *subsystem, const char *sysname,
			     const char *devpath, uint64_t seqnum)
{
	_cleanup_(sysfs_strv_freep) char **members = NULL;
	_cleanup_free_ char *owner = NULL;

	if (!seqnum || !sysname)
		return false;
	if (streq(subsystem, "vfio-dev")) {
		/* .../OWNER/vfio-dev/vfioN */
		const char *end = devpath ? strstr(devpath, "/vfio-dev/") : NULL;
		const char *start = end;

		if (!end)
			return false;
		while (start > devpath && start[-1] != '/')
			start--;
		owner = strndup(start, end - start);
		return owner && *owner && model_saw(d, owner, seqnum);
	}
	/* A group's devices: /sys/kernel/iommu_groups/N/devices (vfio gives an mdev an emulated
	 * group of its own there too). Gone with the group on its removal: read whole then. */
	if (asprintf(&owner, "/sys/kernel/iommu_groups/%s/devices", sysname) < 0)
		return false;
	if (sysfs_list_entries(d->ctx, owner, &members) < 0) {
		vbus_error_clear(d->ctx);
		return false;
	}
	if (!members || !members[0])
		return false;
	for (char **m = members; *m; m++)
		if (!model_saw(d, *m, seqnum))
			return false;
	return true;
}

/*
 * A uevent of a netdev or its queues names nothing a definition holds but may change a device's
 * netdev (a VF's): it joins the batch of kernel events, read whole once, instead of a full read
 * each (100 SF ports made by hand bring 100 representor netdevs, each with its queues). Queue
 * kobjects never change the model. True when the uevent was taken here.
 */
static bool uevent_batched(struct vbusd *d, const char *subsystem, const char *sysname,
			   const char *devpath, uint64_t seqnum)
{
	static const struct vbus_monitor_event whole = { .what = VBUS_MONITOR_PARENT_GONE,
							 .index = -1 };
	/* Devices the model does not name: each event would read it whole. A device's vfio
	 * group and vfio-dev node come with every mdev or PCI function bound to vfio (two
	 * whole reads per mdev made an autostart quadratic, bench case 9); its start read
	 * them already. */
	static const char *const whole_later[] = {"net", "vfio", "vfio-dev", NULL};

	if (streq_ptr(subsystem, "queues"))
		return true;
	if (!is_one_of(subsystem, whole_later))
		return false;
	if (!streq(subsystem, "net") && vfio_uevent_seen(d, subsystem, sysname, devpath, seqnum)) {
		log_debug("uevent %" PRIu64 " of %s %s: the model read its devices after that already",
			  seqnum, subsystem, sysname);
		return true;
	}
	monitor_event(&whole, d);
	return true;
}

/* Follows virtbus devices (vbus.ko) and SF ports (devlink); a kind whose module is not loaded
 * yet is tried again on kernel events. */
static void vbus_monitor_start(struct vbusd *d)
{
	if (!streq(vbus_ctx_get_root(d->ctx), "/"))
		return;
	if (d->vbus_monitor) {
		if (vbus_monitor_join(d->ctx, d->vbus_monitor) > 0)
			log_debug("Following one more kind's kernel events");
		return;
	}
	if (vbus_monitor_open(d->ctx, monitor_event, d, &d->vbus_monitor) < 0) {
		vbus_error_clear(d->ctx);
		return;
	}
	if (sd_event_add_io(d->event, &d->vbus_monitor_source,
			    vbus_monitor_fd(d->vbus_monitor), EPOLLIN, vbus_monitor_io, d) < 0) {
		d->vbus_monitor = vbus_monitor_free(d->vbus_monitor);
		return;
	}
	log_debug("Following the kernel events of vbus.ko and devlink");
}

/* ---- udev ---------------------------------------------------------------------------------- */

/*
 * An event (number SEQNUM, 0 when not known) for the kernel device SYSNAME: when the model knows
 * it as definitions (by name, or by the last part of their sysfs path), only those are read
 * again, and none whose state was read after the kernel sent the event (the uevents of an
 * mdev vbusd just created: its start read the device once it existed and was bound). Anything
 * else (a device nobody defined, a parent going away) may change many entries: the whole model
 * is.
 */
static void refresh_device(struct vbusd *d, const char *sysname, uint64_t seqnum)
{
	_cleanup_free_ char **names = NULL;
	struct lh_entry *e;
	size_t n = 0, seen = 0;
	bool all = !d->devices;

	if (!all) {
		names = calloc(d->devices->count + 1, sizeof(*names));
		all = !names;
	}
	if (!all)
		lh_foreach(d->devices, e) {
			struct device *dev = (struct device *)lh_entry_v(e);

			if (!device_is(dev, sysname))
				continue;
			if (saw_uevent(dev, seqnum)) {
				seen++;
				continue;
			}
			if (!dev->definition) {
				all = true;
				break;
			}
			names[n++] = dev->name;
		}
	if (!all && n == 0 && seen > 0) {
		log_debug("uevent %" PRIu64 " of '%s': the model read it after that already",
			  seqnum, sysname);
		return;
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
 * After an unbind or remove: a definition whose device the kernel removed (a parent's module
 * unloaded, the parent deleted) loses its run record too, so that /run/vbus tells what runs
 * and a device of that name made later by someone else never passes for vbus's. Its parent's
 * return starts the start:auto ones again. Every run record of an inactive entry is looked
 * at, not only the one the event names: an SF's listing loses its sysfs path when its devlink
 * instance goes, before the uevents of its auxiliary device.
 */
static void forget_gone(struct vbusd *d)
{
	_cleanup_(sysfs_strv_freep) char **names = NULL;

	/* The run records, not every definition: a remove costs what runs, not what is defined. */
	if (vbus_run_names(d->ctx, &names) < 0)
		return;
	for (char **name = names; *name; name++) {
		struct device *dev = objects_get(d, *name);

		if (dev && !dev->active && vbus_run_forget_gone(d->ctx, *name) > 0) {
			log_debug("'%s': its device was removed, its run record dropped", *name);
			objects_refresh_name(d, *name);
		}
		vbus_error_clear(d->ctx);
	}
}

/* ---- a device vbus started loses its driver ------------------------------------------------ */

/*
 * Someone unbinding the device of a running definition (echo > unbind, another tool) gets it
 * bound again to the wanted driver, but vbusd does not fight a person in a loop: each rebind
 * within FIGHT_WINDOW of the previous one waits twice as long (FIGHT_FIRST_USEC first, which
 * also lets vbus's own unbind + probe finish), and after FIGHT_MAX of them the next unbind is
 * accepted: vbusd gives up on that device, says so, and leaves it until its definition changes,
 * a start brings it back or vbusd restarts.
 */
#define FIGHT_FIRST_USEC 300000ULL
#define FIGHT_WINDOW_USEC (60ULL * 1000000ULL)
#define FIGHT_MAX 3

struct fight {
	struct fight *next;
	struct vbusd *d;
	char *name;
	unsigned rebinds;   /* rebinds in a row, each within FIGHT_WINDOW of the one before */
	uint64_t last_usec; /* when vbusd last bound it again */
	bool gave_up;
	sd_event_source *timer;
};

static struct fight *fight_free(struct fight *f)
{
	if (!f)
		return NULL;
	sd_event_source_disable_unref(f->timer);
	free(f->name);
	free(f);
	return NULL;
}

static struct fight *fight_find(struct vbusd *d, const char *name)
{
	for (struct fight *f = d->fights; f; f = f->next)
		if (streq(f->name, name))
			return f;
	return NULL;
}

/* NAME's definition changed, or was started again: its history of rebinds no longer counts. */
static void fight_forget(struct vbusd *d, const char *name)
{
	for (struct fight **p = &d->fights; *p; p = &(*p)->next)
		if (streq((*p)->name, name)) {
			struct fight *f = *p;

			*p = f->next;
			fight_free(f);
			return;
		}
}

static uint64_t now_usec(struct vbusd *d)
{
	uint64_t now = 0;

	sd_event_now(d->event, CLOCK_MONOTONIC, &now);
	return now;
}

/* vbusd stops re-applying NAME on its own: said once, at warning priority. */
static void gave_up(struct vbusd *d, const char *name, const char *cause)
{
	log_warning("Giving up on '%s': %s", name, cause);
}

static int fight_fire(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct fight *f = userdata;
	struct vbusd *d = f->d;
	_cleanup_free_ char *parent = NULL;
	struct device *dev;
	struct batch b;

	f->timer = sd_event_source_disable_unref(f->timer);
	/* Stopped meanwhile (vbusctl stop removes the record), or never started by vbus: the
	 * driver it has is nobody's order. */
	if (!vbus_run_exists(d->ctx, f->name))
		return 0;
	objects_refresh_name(d, f->name);
	dev = objects_get(d, f->name);
	/* Gone (deleted, parent removed): its parent's return brings it back, not this. */
	if (!dev || !dev->active)
		return 0;
	/* Bound to its driver again already (vbus's own unbind + probe): nothing was done. */
	parent = dev->parent ? strdup(dev->parent) : NULL;
	batch_begin(d, &b);
	if (start_one(d, &b, f->name, parent, NULL) > 0) {
		log_notice("'%s' was unbound by someone else: bound it again (%u)", f->name,
			   f->rebinds + 1);
		f->rebinds++;
		f->last_usec = now_usec(d);
	}
	batch_end(&b);
	objects_refresh_name(d, f->name);
	return 0;
}

/* The device SYSNAME lost its driver: the definitions that own it are looked at shortly. */
static void handle_unbind(struct vbusd *d, const char *sysname)
{
	struct lh_entry *e;

	if (!d->devices)
		return;
	lh_foreach(d->devices, e) {
		struct device *dev = (struct device *)lh_entry_v(e);
		const char *slash = dev->sysfs_path ? strrchr(dev->sysfs_path, '/') : NULL;
		struct fight *f;
		uint64_t now = now_usec(d);

		if (!dev->definition || !slash || !streq(slash + 1, sysname))
			continue;
		f = fight_find(d, dev->name);
		if (!f) {
			f = calloc(1, sizeof(*f));
			if (!f || !(f->name = strdup(dev->name))) {
				free(f);
				return;
			}
			f->d = d;
			f->next = d->fights;
			d->fights = f;
		}
		if (f->gave_up || f->timer)
			continue;
		if (f->rebinds && now - f->last_usec >= FIGHT_WINDOW_USEC)
			f->rebinds = 0;
		if (f->rebinds >= FIGHT_MAX) {
			char cause[128];

			f->gave_up = true;
			snprintf(cause, sizeof(cause),
				 "unbound by someone else %u times within %llu s; leaving it unbound",
				 f->rebinds + 1, FIGHT_WINDOW_USEC / 1000000ULL);
			gave_up(d, dev->name, cause);
			continue;
		}
		if (sd_event_add_time(d->event, &f->timer, CLOCK_MONOTONIC,
				      now + (FIGHT_FIRST_USEC << f->rebinds), 0, fight_fire, f) < 0)
			f->timer = NULL;
	}
}

/* The PF of the VF SYSNAME, NULL when it is none (or out of memory). */
static char *physfn_of(struct vbusd *d, const char *sysname)
{
	_cleanup_free_ char *p = vbus_pathf(d->ctx, "/sys/bus/pci/devices/%s/physfn", sysname);
	char target[PATH_MAX];
	ssize_t n;

	if (!p)
		return NULL;
	n = readlink(p, target, sizeof(target) - 1);
	if (n <= 0)
		return NULL;
	target[n] = '\0';
	return strdup(strrchr(target, '/') ? strrchr(target, '/') + 1 : target);
}

/* Is SYSNAME the parent of a start:auto definition (cheaper than a reconcile, which reads the
 * whole model)? */
static bool is_parent(struct vbusd *d, const char *sysname)
{
	struct lh_entry *e;

	if (!d->devices)
		return false;
	lh_foreach(d->devices, e) {
		struct device *dev = (struct device *)lh_entry_v(e);

		if (dev->defined && dev->start_auto && dev->parent &&
		    streq(sysname_of(dev->parent), sysname))
			return true;
	}
	return false;
}

static bool is_one_of(const char *s, const char *const *list)
{
	for (; s && *list; list++)
		if (streq(s, *list))
			return true;
	return false;
}

static int cdi_update_deferred(sd_event_source *s, void *userdata)
{
	struct vbusd *d = userdata;

	d->cdi_defer = sd_event_source_disable_unref(d->cdi_defer);
	(void)vbus_cdi_update(d->ctx);
	return 0;
}

/* The CDI specs follow kernel events once the events queued so far are handled: a burst (500
 * mdevs appearing, each with its add and bind) is one sync, a full read of the definitions,
 * instead of one per event. */
static void cdi_update_soon(struct vbusd *d)
{
	if (d->cdi_defer)
		return;
	if (sd_event_add_defer(d->event, &d->cdi_defer, cdi_update_deferred, d) < 0 ||
	    sd_event_source_set_priority(d->cdi_defer, SD_EVENT_PRIORITY_IDLE) < 0) {
		d->cdi_defer = sd_event_source_disable_unref(d->cdi_defer);
		(void)vbus_cdi_update(d->ctx);
	}
}

/*
 * One kernel event, as udev passes it on:
 * - add of a PCI function (hot-plug, a rescan; a VF: its PF's definitions too), a vdpa, vbus_sim
 *   or auxiliary device, or an mdev parent registering its types: the start:auto definitions on
 *   it are re-applied (a pci definition is bound to its wanted driver again);
 * - add of a module (vdpa_sim_net registers its mgmtdev without a uevent of its own) and bind
 *   of a driver to a device (a PF's driver makes SR-IOV, devlink or vdpa available): definitions
 *   whose device is not there are tried;
 * - unbind of a device a definition started: it is bound again (handle_unbind());
 * - unbind or remove: the run records of devices the kernel removed are dropped (forget_gone());
 * anything else may change what is active: the model follows.
 */
static _unused_ void handle_uevent(struct vbusd *d, const char *action, const char *subsystem,
				   const char *sysname, const char *devpath, const char *mdev_state,
				   uint64_t seqnum)
{
	static const char *const added[] = {"pci", "vdpa", "vbus_sim", "auxiliary", NULL};
	static const char *const bound[] = {"pci",   "vdpa",	  "virtbus",
					    "mdev",  "auxiliary", NULL};
	static const char *const gone[] = {"pci", "vdpa", "virtbus", "mdev", "auxiliary", "vbus_sim",
					   NULL};
	/* The actions the kernel announces once their change is done. A remove is sent before
	 * the device's sysfs directory goes (device_del()): a read after its number may still
	 * have seen the device, so a remove is always read. */
	static const char *const after_change[] = {"add", "bind", "unbind", "change", NULL};
	unsigned gen = d->ctx->lock_gen;

	log_debug("uevent %" PRIu64 ": %s %s %s%s%s", seqnum, action ?: "?", subsystem ?: "?",
		  sysname ?: "?", mdev_state ? " MDEV_STATE=" : "", mdev_state ?: "");
	if (!action || !sysname)
		return;
	if (!is_one_of(action, after_change))
		seqnum = 0;
	if (streq(action, "add") && is_one_of(subsystem, added)) {
		(void)provision_reconcile(d, sysname, 0);
		if (streq(subsystem, "pci")) {
			_cleanup_free_ char *pf = physfn_of(d, sysname);

			if (pf)
				(void)provision_reconcile(d, pf, 0);
		}
	} else if (streq(action, "change") && streq_ptr(mdev_state, "registered")) {
		(void)provision_reconcile(d, sysname, 0);
	} else if (streq(action, "add") && streq_ptr(subsystem, "module")) {
		(void)provision_reconcile(d, NULL, RECONCILE_INACTIVE);
	} else if (streq(action, "bind") && is_one_of(subsystem, bound)) {
		refresh_device(d, sysname, seqnum);
		if (is_parent(d, sysname))
			(void)provision_reconcile(d, sysname, RECONCILE_INACTIVE);
	} else if (streq(action, "unbind") && is_one_of(subsystem, bound)) {
		handle_unbind(d, sysname);
		refresh_device(d, sysname, seqnum);
		forget_gone(d);
	} else if (!uevent_batched(d, subsystem, sysname, devpath, seqnum)) {
		refresh_device(d, sysname, seqnum);
		if (streq(action, "remove") && is_one_of(subsystem, gone))
			forget_gone(d);
	}
	/* A kind's genl family comes with its module (the module's uevent follows its init).
	 * Asked on every event, each lookup of a missing family made the kernel run modprobe:
	 * a dozen per mdev on a host without vdpa.ko (bench case 9). */
	if (streq(action, "add") && streq_ptr(subsystem, "module"))
		vbus_monitor_start(d);
	provision_adopt(d, false);
	/* A binding someone else changed leaves the CDI specs (or enters them) at once. */
	if (subsystem && (streq(subsystem, "pci") || streq(subsystem, "mdev") ||
			  streq(subsystem, "vdpa") || streq(subsystem, "vfio") ||
			  streq(subsystem, "vhost-vdpa")) &&
	    /* unless a reconcile for this event wrote them already, after the kernel's change */
	    !(d->ctx->lock_gen != gen && d->ctx->cdi_synced_gen == d->ctx->lock_gen))
		cdi_update_soon(d);
}

#if HAVE_LIBUDEV
static int udev_event(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct vbusd *d = userdata;
	struct udev_device *dev = udev_monitor_receive_device(d->monitor);

	if (!dev)
		return 0;
	handle_uevent(d, udev_device_get_action(dev), udev_device_get_subsystem(dev),
		      udev_device_get_sysname(dev), udev_device_get_devpath(dev),
		      udev_device_get_property_value(dev, "MDEV_STATE"),
		      udev_device_get_seqnum(dev));
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
 * "ACTION SUBSYSTEM SYSNAME [MDEV_STATE] [SEQNUM=N] [DEVPATH=P]", as udev would deliver them for
 * a fake tree (whose sys/kernel/uevent_seqnum a test may write).
 */
static int fake_uevent(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	char buf[4096], *line, *save = NULL;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);

	if (n <= 0)
		return 0;
	buf[n] = 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[3] = {}, *mdev_state = NULL, *devpath = NULL, *save2 = NULL;
		uint64_t seqnum = 0;
		int i = 0;

		for (char *w = strtok_r(line, " ", &save2); w; w = strtok_r(NULL, " ", &save2)) {
			if (i < 3)
				f[i++] = w;
			else if (!strncmp(w, "SEQNUM=", 7))
				seqnum = strtoull(w + strlen("SEQNUM="), NULL, 10);
			else if (!strncmp(w, "DEVPATH=", 8))
				devpath = w + strlen("DEVPATH=");
			else
				mdev_state = w;
		}
		handle_uevent(userdata, f[0], f[1], f[2], devpath, mdev_state, seqnum);
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
	len = ev->len ? strlen(ev->name) : 0;
	if (s == d->policy_inotify_source) {
		/* The model shows policy's choices (a definition's wanted driver): read again,
		 * unless a temporary file tells nothing yet. */
		if ((ev->mask & IN_Q_OVERFLOW) || !len || ev->name[0] != '.')
			objects_refresh(d);
		return 0;
	}
	/* NAME.json: that definition alone. A temporary (".#NAME.XXXXXX", renamed into place
	 * later) tells nothing yet. Anything else (a lost event, the directory itself): all. */
	if (!(ev->mask & IN_Q_OVERFLOW) && len > 5 && streq(ev->name + len - 5, ".json") &&
	    ev->name[0] != '.' && (name = strndup(ev->name, len - 5)) &&
	    vbus_name_is_valid(name)) {
		fight_forget(d, name);
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
	_cleanup_free_ char *dir = vbus_pathf(d->ctx, "/etc/vbus/%s", sub);
	int r;

	if (!dir)
		return -ENOMEM;
	/* Made with its parents: a root (--root, a fresh host) may not have /etc/vbus yet. */
	r = vbus_mkdir_p(dir, 0755);
	if (r < 0)
		return r;
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

	d->retries = lh_kchar_table_new(64, retry_entry_free);
	if (!d->retries)
		return -ENOMEM;

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
	r = provision_reconcile(d, NULL, RECONCILE_NOW);
	if (r > 0)
		log_info("Reconciled: %d definition(s) made present or bound again", r);
	provision_adopt(d, true);
	return 0;
}

void provision_done(struct vbusd *d)
{
	d->vbus_monitor_source = sd_event_source_disable_unref(d->vbus_monitor_source);
	d->vbus_monitor = vbus_monitor_free(d->vbus_monitor);
	monitor_batch_free(d->monitor_batch);
	d->monitor_batch = NULL;
	d->cdi_defer = sd_event_source_disable_unref(d->cdi_defer);
	/* Batches first: one that ends sets the timers of the rounds its failures joined, which
	 * must all be there still. */
	while (d->reconciles)
		reconcile_free(d->reconciles);
	for (struct round *rd = d->rounds; rd; rd = rd->next)
		if (rd->batch) {
			batch_end(rd->batch);
			free(rd->batch);
			rd->batch = NULL;
		}
	while (d->rounds)
		round_free(d->rounds);
	if (d->retries)
		lh_table_free(d->retries);
	d->retries = NULL;
	while (d->fights) {
		struct fight *f = d->fights;

		d->fights = f->next;
		fight_free(f);
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

// SPDX-License-Identifier: LGPL-2.1-or-later
/* Authorization of changes: uid 0, or polkit's org.vbus1.manage asked asynchronously. */
#include "vbusd.h"

/*
 * A question to polkit about one method call. The call is answered later: when polkit replies
 * the original message is put back into the bus's read queue and its handler runs again from
 * the top; this time auth_check() finds the answer here and consumes it.
 */
struct auth_query {
	struct auth_query *next;
	struct vbusd *d;
	sd_bus_message *request;
	sd_bus_slot *slot;
	uid_t uid;
	bool done;
	bool granted;
	bool challenge;
};

/*
 * Questions to polkit in flight: at most AUTH_MAX_PER_UID per caller's uid, AUTH_MAX_PENDING in
 * all (below dbus-daemon's 128 pending replies per connection, vbusd's one). A polkit that never
 * answers ties a question up for sd-bus's 25 s timeout: one caller queueing a thousand Defines
 * must not use up what everyone else needs. A call beyond the bound is refused (Busy) at once.
 */
#define AUTH_MAX_PER_UID 16
#define AUTH_MAX_PENDING 96

static struct auth_query *auth_query_free(struct auth_query *q)
{
	if (!q)
		return NULL;
	sd_bus_slot_unref(q->slot);
	sd_bus_message_unref(q->request);
	free(q);
	return NULL;
}

static void auth_query_unlink(struct vbusd *d, struct auth_query *q)
{
	for (struct auth_query **p = &d->auth_queries; *p; p = &(*p)->next)
		if (*p == q) {
			*p = q->next;
			return;
		}
}

void auth_done(struct vbusd *d)
{
	while (d->auth_queries) {
		struct auth_query *q = d->auth_queries;

		d->auth_queries = q->next;
		auth_query_free(q);
	}
}

static int deny(sd_bus_error *error, bool challenge)
{
	if (challenge)
		return sd_bus_error_set(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
					"interactive authorization required for " VBUS_POLKIT_ACTION);
	sd_bus_error_set(error, "org.vbus1.Error.AccessDenied",
			 "access denied: changes need root or polkit action " VBUS_POLKIT_ACTION);
	return -EACCES;
}

static int polkit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct auth_query *q = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	int authorized = 0, challenge = 0, r;

	q->slot = sd_bus_slot_unref(q->slot);
	if (e) {
		/* No polkit on this bus (or it failed): only root may change things. */
		log_debug("polkit did not answer: %s: %s", e->name, e->message);
	} else {
		r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
		if (r >= 0)
			r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
		if (r < 0) {
			log_warning("Malformed answer from polkit: %s", strerror(-r));
			authorized = challenge = 0;
		}
	}
	q->done = true;
	q->granted = authorized;
	q->challenge = !authorized && challenge;
	r = sd_bus_enqueue_for_read(sd_bus_message_get_bus(q->request), q->request);
	if (r < 0) {
		log_error("Failed to resume a method call after polkit: %s", strerror(-r));
		auth_query_unlink(q->d, q);
		auth_query_free(q);
	}
	return 0;
}

int auth_check(struct vbusd *d, sd_bus_message *m, sd_bus_error *error)
{
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
	struct auth_query *q;
	const char *sender;
	uid_t uid;
	int r;

	for (q = d->auth_queries; q; q = q->next)
		if (q->request == m)
			break;
	if (q) {
		bool granted = q->granted, challenge = q->challenge;

		if (!q->done)
			return 0;
		auth_query_unlink(d, q);
		auth_query_free(q);
		return granted ? 1 : deny(error, challenge);
	}

	r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
	if (r < 0)
		return r;
	r = sd_bus_creds_get_euid(creds, &uid);
	if (r < 0)
		return r;
	if (uid == 0)
		return 1;
	sender = sd_bus_message_get_sender(m);
	if (d->no_polkit || !sender)
		return deny(error, false);
	{
		unsigned all = 0, mine = 0;

		for (q = d->auth_queries; q; q = q->next)
			if (!q->done) {
				all++;
				mine += q->uid == uid;
			}
		if (mine >= AUTH_MAX_PER_UID || all >= AUTH_MAX_PENDING) {
			log_debug("Refused a call of uid %u: %u authorizations pending (%u in all)",
				  (unsigned)uid, mine, all);
			sd_bus_error_setf(error, "org.vbus1.Error.Busy",
					  "too many authorizations pending (%u for uid %u, at most "
					  "%d); try again later",
					  mine, (unsigned)uid, AUTH_MAX_PER_UID);
			return -EBUSY;
		}
	}

	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->d = d;
	q->uid = uid;
	q->request = sd_bus_message_ref(m);
	r = sd_bus_call_method_async(
		d->bus, &q->slot, "org.freedesktop.PolicyKit1", "/org/freedesktop/PolicyKit1/Authority",
		"org.freedesktop.PolicyKit1.Authority", "CheckAuthorization", polkit_reply, q,
		"(sa{sv})sa{ss}us", "system-bus-name", 1, "name", "s", sender, VBUS_POLKIT_ACTION, 0,
		(uint32_t)(sd_bus_message_get_allow_interactive_authorization(m) ? 1 : 0), "");
	if (r < 0) {
		auth_query_free(q);
		return r;
	}
	q->next = d->auth_queries;
	d->auth_queries = q;
	log_debug("Asked polkit about %s (uid %u)", sender, (unsigned)uid);
	return 0;
}

/* 1 when the caller of M is uid 0, 0 when not, negative errno when unknown. */
int auth_caller_is_root(sd_bus_message *m)
{
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
	uid_t uid;
	int r;

	r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
	if (r < 0)
		return r;
	r = sd_bus_creds_get_euid(creds, &uid);
	if (r < 0)
		return r;
	return uid == 0;
}

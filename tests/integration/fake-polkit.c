// SPDX-License-Identifier: LGPL-2.1-or-later
/* A stand-in for polkitd on the test bus: answers CheckAuthorization from a file, logs queries. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

/*
 * fake-polkit ANSWER_FILE LOG_FILE: the answer is read at each call ("yes", "no" or
 * "challenge"), so a test can flip it; each query is logged as "ACTION FLAGS SUBJECT-KIND".
 */
static const char *answer_file, *log_file;

static int check_authorization(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	const char *kind, *action, *key;
	char answer[32] = "no";
	uint32_t flags;
	FILE *f;
	int r;

	r = sd_bus_message_enter_container(m, 'r', "sa{sv}");
	if (r < 0)
		return r;
	r = sd_bus_message_read(m, "s", &kind);
	if (r < 0)
		return r;
	r = sd_bus_message_skip(m, "a{sv}");
	if (r < 0)
		return r;
	r = sd_bus_message_exit_container(m);
	if (r < 0)
		return r;
	r = sd_bus_message_read(m, "s", &action);
	if (r < 0)
		return r;
	r = sd_bus_message_skip(m, "a{ss}");
	if (r < 0)
		return r;
	r = sd_bus_message_read(m, "us", &flags, &key);
	if (r < 0)
		return r;
	f = fopen(answer_file, "re");
	if (f) {
		if (!fgets(answer, sizeof(answer), f))
			strcpy(answer, "no");
		fclose(f);
	}
	answer[strcspn(answer, "\n")] = 0;
	f = fopen(log_file, "ae");
	if (f) {
		fprintf(f, "%s %u %s\n", action, flags, kind);
		fclose(f);
	}
	return sd_bus_reply_method_return(m, "(bba{ss})", strcmp(answer, "yes") == 0,
					  strcmp(answer, "challenge") == 0, 0);
}

static const sd_bus_vtable authority_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("CheckAuthorization", "(sa{sv})sa{ss}us", "(bba{ss})", check_authorization,
		      SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_VTABLE_END,
};

int main(int argc, char **argv)
{
	sd_bus *bus = NULL;
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: fake-polkit ANSWER_FILE LOG_FILE\n");
		return 2;
	}
	answer_file = argv[1];
	log_file = argv[2];
	r = sd_bus_open_system(&bus);
	if (r >= 0)
		r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/PolicyKit1/Authority",
					     "org.freedesktop.PolicyKit1.Authority",
					     authority_vtable, NULL);
	if (r >= 0)
		r = sd_bus_request_name(bus, "org.freedesktop.PolicyKit1", 0);
	if (r < 0) {
		fprintf(stderr, "fake-polkit: %s\n", strerror(-r));
		return 1;
	}
	for (;;) {
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			break;
		if (r == 0 && sd_bus_wait(bus, UINT64_MAX) < 0)
			break;
	}
	sd_bus_flush_close_unref(bus);
	return 0;
}

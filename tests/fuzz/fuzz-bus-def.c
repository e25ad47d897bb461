// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer: the daemon's a{sv} -> definition path (bus_read_json_object(), then
 * vbus_def_from_json() as Manager.Define does). The input is a small program that builds the
 * a{sv} a client could send: any key, values of every D-Bus type, nested variants, arrays and
 * dicts, so the reader sees what sd-bus would let through.
 */
#include <sys/socket.h>
#include <systemd/sd-bus.h>

#include "bus-util.h"
#define SD_BUS_DL_NO_REDIRECT
#include "sd-bus-dl.h"
#include "fuzz-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t next(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static const char *const keys[] = { "version", "name", "kind", "parent", "type", "uuid",
				     "index", "driver", "start", "attrs", "tags", "extra" };

/* A string from the input (length byte, then bytes), NUL-terminated in BUF. */
static const char *str(struct in *in, char *buf, size_t size)
{
	size_t len = next(in) % size;

	if (len > in->n)
		len = in->n;
	memcpy(buf, in->p, len);
	buf[len] = '\0';
	in->p += len;
	in->n -= len;
	return buf;
}

static int value(sd_bus_message *m, struct in *in, int depth);

static int dict(sd_bus_message *m, struct in *in, int depth)
{
	unsigned n = next(in) % 8;
	char buf[256];
	int r;

	r = sd_bus_message_open_container(m, 'a', "{sv}");
	for (unsigned i = 0; r >= 0 && i < n && in->n; i++) {
		uint8_t k = next(in);
		const char *key = k < 0xc0 ? keys[k % (sizeof(keys) / sizeof(*keys))]
					   : str(in, buf, sizeof(buf));

		r = sd_bus_message_open_container(m, 'e', "sv");
		if (r >= 0)
			r = sd_bus_message_append_basic(m, 's', key);
		if (r >= 0)
			r = value(m, in, depth + 1);
		if (r >= 0)
			r = sd_bus_message_close_container(m);
	}
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	return r;
}

/* One variant holding a value chosen by the input. */
static int value(sd_bus_message *m, struct in *in, int depth)
{
	char buf[256];
	uint8_t op = next(in) % (depth > 6 ? 10 : 14);
	int r;

	switch (op) {
	case 0:
	case 1: /* the common case: a string */
		r = sd_bus_message_append(m, "v", "s", str(in, buf, sizeof(buf)));
		break;
	case 2:
		r = sd_bus_message_append(m, "v", "b", next(in) & 1);
		break;
	case 3:
		r = sd_bus_message_append(m, "v", "i", (int32_t)((uint32_t)next(in) << 24 | next(in)));
		break;
	case 4: {
		uint64_t x = 0;

		for (int i = 0; i < 8; i++)
			x = x << 8 | next(in);
		r = sd_bus_message_append(m, "v", "x", (int64_t)x);
		break;
	}
	case 5: {
		uint64_t t = 0;

		for (int i = 0; i < 8; i++)
			t = t << 8 | next(in);
		r = sd_bus_message_append(m, "v", "t", t);
		break;
	}
	case 6: {
		uint64_t bits = 0;
		double d;

		for (int i = 0; i < 8; i++)
			bits = bits << 8 | next(in);
		memcpy(&d, &bits, sizeof(d));
		r = sd_bus_message_append(m, "v", "d", d);
		break;
	}
	case 7:
		r = sd_bus_message_append(m, "v", "y", next(in));
		break;
	case 8:
		r = sd_bus_message_append(m, "v", "o", "/org/vbus1");
		break;
	case 9:
		r = sd_bus_message_append(m, "v", "u", (uint32_t)next(in) << 16 | next(in));
		break;
	case 10: { /* as */
		unsigned n = next(in) % 6;

		r = sd_bus_message_open_container(m, 'v', "as");
		if (r >= 0)
			r = sd_bus_message_open_container(m, 'a', "s");
		for (unsigned i = 0; r >= 0 && i < n; i++)
			r = sd_bus_message_append_basic(m, 's', str(in, buf, sizeof(buf)));
		if (r >= 0)
			r = sd_bus_message_close_container(m);
		if (r >= 0)
			r = sd_bus_message_close_container(m);
		break;
	}
	case 11: /* a{sv}, as an attrs entry or an unknown nested object */
		r = sd_bus_message_open_container(m, 'v', "a{sv}");
		if (r >= 0)
			r = dict(m, in, depth);
		if (r >= 0)
			r = sd_bus_message_close_container(m);
		break;
	case 12: { /* av: a list of anything, also how null travels (empty) */
		unsigned n = next(in) % 5;

		r = sd_bus_message_open_container(m, 'v', "av");
		if (r >= 0)
			r = sd_bus_message_open_container(m, 'a', "v");
		for (unsigned i = 0; r >= 0 && i < n; i++)
			r = value(m, in, depth + 1);
		if (r >= 0)
			r = sd_bus_message_close_container(m);
		if (r >= 0)
			r = sd_bus_message_close_container(m);
		break;
	}
	default: /* a struct, which the reader turns into an array */
		r = sd_bus_message_append(m, "v", "(si)", str(in, buf, sizeof(buf)),
					  (int32_t)next(in));
		break;
	}
	return r;
}

static sd_bus *bus;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vbus_ctx *ctx = fuzz_ctx(NULL);
	struct in in = { data, size };
	sd_bus_message *m = NULL;
	struct json_object *obj = NULL;
	struct vbus_def *def = NULL;
	int r;

	if (size > 16 * 1024)
		return -1;
	if (!bus) {
		int sv[2];

		/* sd-bus builds messages only on a started bus; this one never talks to anyone.
		 * bus-util.c calls sd-bus through the pointers of sd-bus-dl.h. */
		if (dlopen_sd_bus() < 0 ||
		    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
		    sd_bus_new(&bus) < 0 || sd_bus_set_fd(bus, sv[0], sv[0]) < 0 ||
		    sd_bus_start(bus) < 0)
			abort();
	}
	if (sd_bus_message_new_method_call(bus, &m, "org.vbus1", "/org/vbus1", "org.vbus1.Manager",
					   "Define") < 0)
		abort();
	r = dict(m, &in, 0);
	if (r >= 0)
		r = sd_bus_message_seal(m, 1, 0);
	if (r >= 0)
		r = sd_bus_message_rewind(m, true);
	if (r >= 0 && bus_read_json_object(m, &obj) >= 0) {
		struct json_object *name = json_object_object_get(obj, "name");

		if (!json_object_object_get(obj, "version"))
			json_object_object_add(obj, "version", json_object_new_int(1));
		/* Manager.Define checks the name before parsing: the same here. */
		if (name && vbus_name_is_valid(json_object_get_string(name)) &&
		    vbus_def_from_json(ctx, obj, &def) >= 0) {
			struct json_object *back = NULL;

			if (vbus_def_to_json(def, &back) < 0)
				abort();
			json_object_put(back);
			vbus_def_free(def);
		}
		json_object_put(obj);
	}
	sd_bus_message_unref(m);
	return 0;
}

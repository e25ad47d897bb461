// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bus-floor: the least any sd-bus client of vbusd does to list definitions. It links
 * libsystemd, connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured), makes the one
 * ListDevices call vbusctl makes for `list --defined`, and copies the document from the
 * returned memfd to stdout. No libvbus, no json-c, no rendering, no error mapping.
 *
 * bench/run times it beside vbusctl and mdevctl: what vbusctl costs over it is vbusctl's own;
 * where it is itself slower than mdevctl, no sd-bus client can meet "never slower" at that size.
 * `bus-floor --load-only` exits before connecting: what starting a program that links
 * libsystemd (and, in Debian 12, libcap, libgcrypt, libgpg-error, liblzma, libzstd, liblz4)
 * costs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

int main(int argc, char **argv)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	sd_bus *bus = NULL;
	char buf[65536];
	ssize_t n;
	int r, fd;

	if (argc > 1 && strcmp(argv[1], "--load-only") == 0)
		return 0;
	r = sd_bus_open_system(&bus);
	if (r >= 0)
		r = sd_bus_call_method(bus, "org.vbus1", "/org/vbus1", "org.vbus1.Manager",
				       "ListDevices", &e, &reply, "us", 1u /* VBUS_LIST_DEFINED */,
				       "");
	if (r >= 0)
		r = sd_bus_message_read(reply, "h", &fd);
	if (r < 0) {
		fprintf(stderr, "bus-floor: ListDevices: %s\n", e.message ?: "failed");
		return 1;
	}
	if (lseek(fd, 0, SEEK_SET) < 0)
		return 1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			return 1;
	sd_bus_error_free(&e);
	sd_bus_message_unref(reply);
	sd_bus_flush_close_unref(bus);
	return n < 0;
}

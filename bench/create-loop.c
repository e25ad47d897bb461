// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * create-loop: the floor for bench case 9 (autostart in the VM). Writes each UUID of FILE (one a
 * line) to CREATE, an mdev type's `create`, as mdevctl and vbus do (open, write, close), and
 * nothing else: what remains of its run time is the kernel's (device_add, the mdev driver's
 * probe, sysfs, uevents) and a process start.
 *
 *   create-loop CREATE FILE
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char line[128];
	FILE *f;
	int n = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: create-loop CREATE FILE\n");
		return 2;
	}
	f = fopen(argv[2], "re");
	if (!f) {
		perror(argv[2]);
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t len = strcspn(line, "\n");
		int fd = open(argv[1], O_WRONLY | O_CLOEXEC);

		if (fd < 0 || write(fd, line, len) != (ssize_t)len) {
			fprintf(stderr, "create-loop: %.*s to %s: %m\n", (int)len, line, argv[1]);
			return 1;
		}
		close(fd);
		n++;
	}
	fclose(f);
	printf("%d\n", n);
	return 0;
}

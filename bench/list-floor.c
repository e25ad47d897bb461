// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * list-floor: the floor for bench case 1 (`vbusctl --root R -j list --defined`). One process
 * that does the least a listing of the store can do with json-c: the *.json files of DIR in
 * name order (scandir), each opened, read once into one buffer and parsed by one reused
 * tokener, then all of them printed as one pretty JSON array by json-c. No validation, no
 * definition objects, no runtime keys, no policy.
 *
 *   list-floor DIR            parse and print
 *   list-floor --parse DIR    parse only (the trees are kept, as the printing needs them)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

static int filter_json(const struct dirent *de)
{
	size_t n = strlen(de->d_name);

	return de->d_name[0] != '.' && n > 5 && strcmp(de->d_name + n - 5, ".json") == 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
	static char buf[1 << 20];
	const int flags = JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			  JSON_C_TO_STRING_NOSLASHESCAPE;
	bool print = !(argc == 3 && strcmp(argv[1], "--parse") == 0);
	const char *dir = argv[argc - 1];
	struct json_tokener *tok;
	struct json_object *all;
	struct dirent **des;
	int n, dfd, ret = 0;

	if (argc != 2 && print) {
		fprintf(stderr, "usage: list-floor [--parse] DIR\n");
		return 2;
	}
	n = scandir(dir, &des, filter_json, by_name);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (n < 0 || dfd < 0) {
		fprintf(stderr, "list-floor: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	tok = json_tokener_new();
	all = json_object_new_array();
	if (!tok || !all)
		return 1;
	for (int i = 0; i < n; i++) {
		int fd = openat(dfd, des[i]->d_name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		ssize_t k = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		struct json_object *o = NULL;

		if (fd >= 0)
			close(fd);
		if (k > 0) {
			json_tokener_reset(tok);
			o = json_tokener_parse_ex(tok, buf, (int)k);
		}
		if (!o) {
			fprintf(stderr, "list-floor: %s: cannot read or parse\n", des[i]->d_name);
			ret = 1;
		} else {
			json_object_array_add(all, o);
		}
		free(des[i]);
	}
	free(des);
	close(dfd);
	if (print)
		printf("%s\n", json_object_to_json_string_ext(all, flags));
	json_object_put(all);
	json_tokener_free(tok);
	return ret;
}

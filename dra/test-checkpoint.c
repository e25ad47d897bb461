// SPDX-License-Identifier: LGPL-2.1-or-later
/* vbus-dra's checkpoint: round trip, a missing file, a damaged one, no temporary left. */
#include <dirent.h>
#include <stdio.h>

#include "dra.h"
#include "test.h"

static char dir[] = "/tmp/test-dra-checkpoint.XXXXXX";

static int count_entries(const char *d)
{
	DIR *dh = opendir(d);
	struct dirent *e;
	int n = 0;

	while (dh && (e = readdir(dh)))
		n += e->d_name[0] != '.';
	if (dh)
		closedir(dh);
	return n;
}

TEST(round_trip)
{
	_cleanup_free_ char *path = NULL, *error = NULL;
	_cleanup_json_ struct json_object *cp = NULL, *again = NULL;
	struct json_object *claims, *rec;

	check(mkdtemp(dir) != NULL);
	check(asprintf(&path, "%s/checkpoint.json", dir) > 0);
	check_int(checkpoint_load(path, &cp, &error), 0);
	claims = json_object_object_get(cp, "claims");
	check_int(json_object_object_length(claims), 0);

	rec = json_tokener_parse(
	    "{\"namespace\":\"ns\",\"name\":\"c\",\"devices\":[{\"name\":\"Serial_A\","
	    "\"device\":\"serial-a-157e5d71\",\"requests\":[\"r\"],\"started\":true,"
	    "\"previous_driver\":\"host\",\"cdi\":[\"vbus.dev/vfio=Serial_A\"]}]}");
	json_object_object_add(claims, "uid-1", rec);
	check_int(checkpoint_save(path, cp, &error), 0);
	check_int(count_entries(dir), 1); /* no temporary file left */

	check_int(checkpoint_load(path, &again, &error), 0);
	check(json_object_equal(cp, again));
	check_str(dra_json_str(json_object_array_get_idx(
				   json_object_object_get(
				       json_object_object_get(
					   json_object_object_get(again, "claims"), "uid-1"),
				       "devices"),
				   0),
			       "previous_driver"),
		  "host");

	/* replaced, not appended */
	json_object_object_del(json_object_object_get(cp, "claims"), "uid-1");
	check_int(checkpoint_save(path, cp, &error), 0);
	json_object_put(again);
	again = NULL;
	check_int(checkpoint_load(path, &again, &error), 0);
	check_int(json_object_object_length(json_object_object_get(again, "claims")), 0);
}

TEST(damaged)
{
	_cleanup_free_ char *path = NULL, *error = NULL;
	_cleanup_json_ struct json_object *cp = NULL;

	check(asprintf(&path, "%s/damaged.json", dir) > 0);
	test_sh("printf '{\"version\": 1, \"claims\": {' > %s", path);
	check(checkpoint_load(path, &cp, &error) < 0);
	check(error && strstr(error, path));
	check(cp == NULL);
	free(error);
	error = NULL;
	test_sh("printf '{\"version\": 2, \"claims\": {}}' > %s", path);
	check(checkpoint_load(path, &cp, &error) < 0);
	check(error && strstr(error, "version 1"));
}

TEST(unwritable)
{
	_cleanup_free_ char *path = NULL, *error = NULL;
	_cleanup_json_ struct json_object *cp = json_tokener_parse("{\"version\":1,\"claims\":{}}");

	check(asprintf(&path, "%s/no-such-dir/checkpoint.json", dir) > 0);
	check(checkpoint_save(path, cp, &error) < 0);
	check(error && strstr(error, "no-such-dir"));
	test_sh("rm -rf %s", dir);
}

TEST_MAIN()

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One JSON model per listing, printed as a table or as JSON: the two never drift. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

struct column {
	const char *header;
	const char *key; /* key of each row object, rendered as text ... */
	/* ... unless FORMAT is set: returns a new string (NULL: "-"). */
	char *(*format)(struct json_object *row);
};

/* Prints ARRAY (of objects) as a table with a header line, or as JSON when JSON is set. */
int output_list(struct json_object *array, const struct column *cols, size_t n_cols, bool json);
/* Prints one JSON value, pretty, followed by a newline. */
void output_json(struct json_object *value);

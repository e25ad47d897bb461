// SPDX-License-Identifier: LGPL-2.1-or-later
/* libFuzzer: a definition as JSON text -> vbus_def_from_json() -> validate -> back to JSON. */
#include <json-c/json.h>

#include "fuzz-util.h"
#include "vbus-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The schema's own keys: unknown keys are kept as json-c reads them, and json-c's lenient
 * numbers ("0000e" reads as a double, writes as "0000", reads back as an integer) are not ours
 * to pin down. */
static bool known_keys_equal(struct json_object *a, struct json_object *b)
{
	static const char *const keys[] = { "version", "name", "kind", "parent", "type", "uuid",
					    "index", "driver", "start", "attrs", "tags" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
		if (!json_object_equal(json_object_object_get(a, keys[i]),
				       json_object_object_get(b, keys[i])))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vbus_ctx *ctx = fuzz_ctx(NULL);
	struct json_tokener *tok;
	struct json_object *obj, *back = NULL;
	struct vbus_def *def = NULL, *dup = NULL;
	char *text = NULL;

	if (size > 64 * 1024)
		return -1;
	tok = json_tokener_new();
	if (!tok)
		abort();
	obj = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	json_tokener_free(tok);
	if (!obj)
		return 0;
	if (vbus_def_from_json(ctx, obj, &def) >= 0) {
		/* Whatever parses must survive every operation a define performs before acting. */
		(void)vbus_def_validate(ctx, def);
		if (vbus_def_dup(def, &dup) < 0)
			abort();
		if (vbus_def_to_json(dup, &back) < 0)
			abort();
		if (vbus_json_format(back, &text) < 0)
			abort();
		/* What the store writes must parse back into the same definition. */
		{
			struct json_object *again = json_tokener_parse(text), *again_json = NULL;
			struct vbus_def *def2 = NULL;

			if (!again || vbus_def_from_json(ctx, again, &def2) < 0 ||
			    vbus_def_to_json(def2, &again_json) < 0 ||
			    !known_keys_equal(back, again_json)) {
				fprintf(stderr, "definition does not round-trip:\n%s\n", text);
				abort();
			}
			json_object_put(again_json);
			vbus_def_free(def2);
			json_object_put(again);
		}
	}
	free(text);
	json_object_put(back);
	vbus_def_free(dup);
	vbus_def_free(def);
	json_object_put(obj);
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* libFuzzer: a policy.d file (the input) -> every decision that reads policy, on the
 * host-mixed fake tree (so vendor/device/class matches see real ids). */
#include "fuzz-util.h"
#include "vbus-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const parents[] = { "0000:03:00.0", "0000:00:02.0", "mtty", "nope" };
static const char *const purposes[] = { "vm", "host", "storage" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *root, path[4200];
	struct vbus_ctx *ctx = fuzz_ctx_tree(TEST_DATA_DIR "/host-mixed", &root);
	struct vbus_def *def = NULL;

	if (size > 128 * 1024)
		return -1;
	snprintf(path, sizeof(path), "%s/etc/vbus/policy.d", root);
	fuzz_clear_dir(path);
	snprintf(path, sizeof(path), "%s/etc/vbus/policy.d/50-fuzz.json", root);
	fuzz_write_file(path, data, size);

	for (size_t p = 0; p < sizeof(parents) / sizeof(*parents); p++)
		for (size_t u = 0; u < sizeof(purposes) / sizeof(*purposes); u++) {
			enum vbus_kind kind;
			char *driver = NULL;

			if (vbus_policy_pick_kind_among(ctx, parents[p], purposes[u], 0x3f, &kind,
							&driver) >= 0) {
				if (kind < 0 || kind >= _VBUS_KIND_MAX || !driver)
					abort();
				free(driver);
			}
		}

	if (vbus_def_new(&def) < 0)
		abort();
	def->name = strdup("vm1-gpu");
	def->parent = strdup("0000:03:00.0");
	def->type = strdup("i915-GVTg_V5_4");
	vbus_def_add_tag(def, "vm");
	for (int k = 0; k < _VBUS_KIND_MAX; k++) {
		char *driver = NULL;

		def->kind = k;
		if (vbus_policy_rule_driver(ctx, def, &driver) >= 0)
			free(driver);
		driver = NULL;
		if (vbus_policy_resolve_driver(ctx, def, &driver) >= 0) {
			if (!driver)
				abort();
			free(driver);
		}
	}
	vbus_def_free(def);
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* libFuzzer: the store loader on a devices.d file with the input as content (and a name). */
#include "fuzz-util.h"
#include "vbus-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *root, dir[4096], path[4200];
	struct vbus_ctx *ctx = fuzz_ctx(&root);
	struct vbus_def **defs = NULL, *one = NULL;
	struct vbus_device **list = NULL;
	size_t n_list = 0;
	size_t n = 0;

	if (size > 256 * 1024)
		return -1;
	snprintf(dir, sizeof(dir), "%s/etc/vbus/devices.d", root);
	fuzz_clear_dir(dir);
	/* Two files: the input under a good name and a good definition next to it, which must
	 * load whatever the first one holds (a bad file is skipped, never stops the others). */
	snprintf(path, sizeof(path), "%s/f1.json", dir);
	fuzz_write_file(path, data, size);
	snprintf(path, sizeof(path), "%s/good.json", dir);
	static const char good[] = "{ \"version\": 1, \"name\": \"good\", \"kind\": \"pci\", "
				   "\"parent\": \"0000:05:00.0\", \"driver\": \"vfio\" }";
	fuzz_write_file(path, good, sizeof(good) - 1);

	if (vbus_store_load_all(fuzz_ctx(NULL), true, &defs, &n) >= 0) {
		bool found = false;

		for (size_t i = 0; i < n; i++)
			if (defs[i] && defs[i]->name && strcmp(defs[i]->name, "good") == 0)
				found = true;
		if (!found) {
			fprintf(stderr, "a bad devices.d file hid good.json\n");
			abort();
		}
		vbus_defs_free(defs, n);
	}
	(void)vbus_def_load(ctx, "f1", &one);
	vbus_def_free(one);
	if (vbus_list_devices(ctx, VBUS_LIST_DEFINED, NULL, &list, &n_list) >= 0)
		vbus_device_list_free(list, n_list);
	return 0;
}

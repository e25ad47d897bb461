// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer: vbus_import() of mdevctl or driverctl files made from the input. Input: one byte
 * choosing the source (even: mdevctl), then records "PATH\nCONTENT" separated by NUL bytes;
 * PATH is "PARENT/UUID" for mdevctl and "BUS-DEVICE" for driverctl.
 */
#include <json-c/json.h>

#include "fuzz-util.h"
#include "vbus-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A path component the test can create: no "/", ".", ".." or empty, at most 200 bytes. */
static bool component_ok(const char *s, size_t n)
{
	if (n == 0 || n > 200 || memchr(s, '/', n) || memchr(s, '\0', n))
		return false;
	return !((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'));
}

static void write_record(const char *dir, bool mdevctl, const char *rec, size_t len)
{
	const char *nl = memchr(rec, '\n', len), *slash;
	char path[4096], sub[4096];
	size_t plen;

	if (!nl)
		return;
	plen = nl - rec;
	if (mdevctl) {
		slash = memchr(rec, '/', plen);
		if (!slash || !component_ok(rec, slash - rec) ||
		    !component_ok(slash + 1, nl - slash - 1))
			return;
		snprintf(sub, sizeof(sub), "%s/%.*s", dir, (int)(slash - rec), rec);
		mkdir(sub, 0755);
		snprintf(path, sizeof(path), "%s/%.*s", sub, (int)(nl - slash - 1), slash + 1);
	} else {
		if (!component_ok(rec, plen))
			return;
		snprintf(path, sizeof(path), "%s/%.*s", dir, (int)plen, rec);
	}
	fuzz_write_file(path, nl + 1, len - plen - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *root, dir[4096], store[4096];
	struct vbus_ctx *ctx = fuzz_ctx_tree(TEST_DATA_DIR "/host-mixed", &root);
	struct json_object *report = NULL;
	bool mdevctl;
	size_t off = 1;

	if (size < 1 || size > 64 * 1024)
		return -1;
	mdevctl = !(data[0] & 1);
	snprintf(dir, sizeof(dir), "%s/import", root);
	snprintf(store, sizeof(store), "%s/etc/vbus/devices.d", root);
	fuzz_clear_dir(dir);
	fuzz_clear_dir(store);
	while (off < size) {
		const uint8_t *end = memchr(data + off, '\0', size - off);
		size_t len = end ? (size_t)(end - (data + off)) : size - off;

		write_record(dir, mdevctl, (const char *)data + off, len);
		off += len + 1;
	}
	if (vbus_import(ctx, mdevctl ? "mdevctl" : "driverctl", dir, &report) >= 0) {
		struct vbus_def **defs = NULL;
		size_t n = 0;

		if (!json_object_is_type(report, json_type_array))
			abort();
		/* What import wrote must load back. */
		if (vbus_store_load_all(ctx, true, &defs, &n) < 0)
			abort();
		vbus_defs_free(defs, n);
		json_object_put(report);
	}
	return 0;
}

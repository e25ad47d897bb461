// SPDX-License-Identifier: LGPL-2.1-or-later
/* Definitions and the config store: schema v1 to and from JSON, names, atomic writes, bad files. */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "test.h"
#include "vbus-private.h"

static char root[256];
static char warnings[4096];

static void log_cb(void *userdata, int level, const char *file, int line, const char *fn,
		   const char *format, va_list args)
{
	size_t n = strlen(warnings);

	if (level <= VBUS_LOG_WARNING && n + 2 < sizeof(warnings)) {
		vsnprintf(warnings + n, sizeof(warnings) - n - 1, format, args);
		strcat(warnings, "\n");
	}
}

static struct vbus_ctx *setup(void)
{
	struct vbus_ctx *ctx = NULL;

	warnings[0] = '\0';
	snprintf(root, sizeof(root), "/tmp/vbus-test-def-XXXXXX");
	check(mkdtemp(root) != NULL);
	check_int(vbus_ctx_new(root, &ctx), 0);
	vbus_ctx_set_log_fn(ctx, log_cb, NULL);
	return ctx;
}

static void teardown(struct vbus_ctx *ctx)
{
	char cmd[300];

	vbus_ctx_unref(ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	check_int(system(cmd), 0);
}

static void write_file(const char *rel, const char *text)
{
	char p[512], cmd[600];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s%s')\"", root, rel);
	check_int(system(cmd), 0);
	snprintf(p, sizeof(p), "%s%s", root, rel);
	f = fopen(p, "we");
	check(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static struct json_object *parse(const char *s)
{
	struct json_object *o = json_tokener_parse(s);

	check(o != NULL);
	return o;
}

TEST(names)
{
	check(vbus_name_is_valid("vm1-gpu"));
	check(vbus_name_is_valid("0000:03:00.0"));
	check(vbus_name_is_valid("a_b.c:d-e"));
	check(!vbus_name_is_valid(""));
	check(!vbus_name_is_valid(NULL));
	check(!vbus_name_is_valid(".hidden"));
	check(!vbus_name_is_valid("-x"));
	check(!vbus_name_is_valid("a/b"));
	check(!vbus_name_is_valid(".."));
	check(!vbus_name_is_valid("a b"));
	check(
	    vbus_name_is_valid("a234567890123456789012345678901234567890123456789012345678901234"));
	check(!vbus_name_is_valid(
	    "a2345678901234567890123456789012345678901234567890123456789012345"));
	check(vbus_driver_is_valid("vfio-pci"));
	check(vbus_driver_is_valid("auto"));
	check(!vbus_driver_is_valid("a/b"));
	check(!vbus_driver_is_valid(""));
	check_int(vbus_kind_from_string("mdev"), VBUS_KIND_MDEV);
	check_int(vbus_kind_from_string("MDEV"), _VBUS_KIND_INVALID);
	check_int(vbus_kind_from_string("md"), _VBUS_KIND_INVALID);
	check_str(vbus_kind_to_string(VBUS_KIND_VIRTBUS), "virtbus");
	check_int(vbus_start_from_string("manual"), VBUS_START_MANUAL);
	check_int(vbus_start_from_string("Manual"), _VBUS_START_INVALID);
}

TEST(json_round_trip_keeps_unknown_keys)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_json_ struct json_object *in = parse(
	    "{ \"version\": 1, \"name\": \"vm1-gpu\", \"kind\": \"mdev\", \"parent\": "
	    "\"0000:00:02.0\", \"type\": \"i915-GVTg_V5_4\", \"uuid\": "
	    "\"83b8f4f2-509f-382f-3c1e-e6bfe0fa1001\", \"attrs\": [ { \"weight\": \"4\" }, { "
	    "\"b\": \"1\" } ], \"driver\": \"auto\", \"start\": \"manual\", \"tags\": [ \"vm\" ], "
	    "\"x-note\": { \"k\": [ 1, 2 ] } }");
	_cleanup_json_ struct json_object *out = NULL;
	_cleanup_def_ struct vbus_def *def = NULL, *dup = NULL;

	check_int(vbus_def_from_json(ctx, in, &def), 0);
	check_str(def->name, "vm1-gpu");
	check_int(def->kind, VBUS_KIND_MDEV);
	check_int(def->start, VBUS_START_MANUAL);
	check_int(def->n_attrs, 2);
	check_str(def->attrs[0].key, "weight");
	check_str(def->attrs[1].key, "b");
	check_int(def->index, -1);
	check_int(vbus_def_dup(def, &dup), 0);
	check_int(vbus_def_to_json(dup, &out), 0);
	/* the same object, key for key, unknown ones included */
	check(json_object_equal(in, out));
	teardown(ctx);
}

TEST(json_runtime_keys_are_not_stored)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_json_ struct json_object *in = parse(
		"{\"version\":1,\"name\":\"v\",\"kind\":\"vf\",\"parent\":\"0000:03:00.0\","
		"\"index\":1,\"active\":true,\"defined\":true,\"bound_driver\":null,"
		"\"sysfs_path\":\"/sys/bus/pci/devices/0000:03:01.1\",\"note\":\"kept\"}");
	_cleanup_json_ struct json_object *out = NULL;
	_cleanup_def_ struct vbus_def *def = NULL;

	/* what "vbusctl list -j" prints goes back in without its runtime keys */
	check_int(vbus_def_from_json(ctx, in, &def), 0);
	check_int(vbus_def_to_json(def, &out), 0);
	check(!json_object_object_get_ex(out, "active", NULL));
	check(!json_object_object_get_ex(out, "defined", NULL));
	check(!json_object_object_get_ex(out, "bound_driver", NULL));
	check(!json_object_object_get_ex(out, "sysfs_path", NULL));
	check(json_object_object_get_ex(out, "note", NULL));
	teardown(ctx);
}

TEST(json_refusals_name_the_key)
{
	static const struct {
		const char *json, *cause;
	} cases[] = {
	    {"[]", "a definition must be a JSON object"},
	    {"{\"kind\":\"mdev\",\"parent\":\"p\"}", "key \"name\" is missing"},
	    {"{\"name\":\"a/b\",\"kind\":\"mdev\",\"parent\":\"p\"}", NULL},
	    {"{\"name\":\"x\",\"kind\":\"gpu\",\"parent\":\"p\"}", "unknown kind \"gpu\""},
	    {"{\"name\":\"x\",\"kind\":\"vf\"}", "key \"parent\" is missing"},
	    {"{\"version\":2,\"name\":\"x\",\"kind\":\"vf\",\"parent\":\"p\"}",
	     "unsupported version 2 (this is version 1)"},
	    {"{\"name\":\"x\",\"kind\":\"vf\",\"parent\":\"p\",\"index\":-1}",
	     "key \"index\" must be a non-negative integer"},
	    {"{\"name\":\"x\",\"kind\":\"vf\",\"parent\":\"p\",\"index\":\"1\"}",
	     "key \"index\" must be a non-negative integer"},
	    {"{\"name\":\"x\",\"kind\":\"vf\",\"parent\":\"p\",\"start\":\"later\"}",
	     "key \"start\" must be \"auto\" or \"manual\""},
	    {"{\"name\":\"x\",\"kind\":\"vf\",\"parent\":\"p\",\"attrs\":{\"a\":\"b\"}}",
	     "key \"attrs\" must be an array of objects"},
	    {"{\"name\":\"x\",\"kind\":\"vf\",\"parent\":\"p\",\"attrs\":[{\"a\":\"b\",\"c\":\"d\"}"
	     "]}",
	     "each element of \"attrs\" must hold exactly one key"},
	    {"{\"name\":\"x\",\"kind\":\"mdev\",\"parent\":\"p\",\"uuid\":\"nope\"}",
	     "invalid uuid \"nope\""},
	    {"{\"name\":\"x\",\"kind\":\"vf\",\"parent\":\"p\",\"tags\":[1]}",
	     "key \"tags\" must hold non-empty strings"},
	    {"{\"name\":5,\"kind\":\"vf\",\"parent\":\"p\"}", "key \"name\" must be a string"},
	};
	struct vbus_ctx *ctx = setup();

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_json_ struct json_object *o = parse(cases[i].json);
		struct vbus_def *def = NULL;

		check_int(vbus_def_from_json(ctx, o, &def), -EINVAL);
		check(def == NULL);
		if (cases[i].cause)
			check_str(vbus_ctx_last_error(ctx), cases[i].cause);
	}
	teardown(ctx);
}

static int count_entries(const char *rel)
{
	char p[512];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(p, sizeof(p), "%s%s", root, rel);
	d = opendir(p);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")))
			n++;
	closedir(d);
	return n;
}

TEST(store_save_is_atomic_and_clean)
{
	struct vbus_ctx *ctx = setup();
	_cleanup_def_ struct vbus_def *def = NULL, *loaded = NULL;
	char p[512];
	struct stat st;

	check_int(vbus_def_new(&def), 0);
	def->name = strdup("v1");
	def->kind = VBUS_KIND_VF;
	def->parent = strdup("0000:03:00.0");
	def->index = 3;
	check_int(vbus_store_save(ctx, def), 0);
	check_int(vbus_store_save(ctx, def), 0);
	/* one file, no temporary left behind, mode 0644 */
	check_int(count_entries("/etc/vbus/devices.d"), 1);
	snprintf(p, sizeof(p), "%s/etc/vbus/devices.d/v1.json", root);
	check_int(stat(p, &st), 0);
	check_int(st.st_mode & 0777, 0644);
	check_int(vbus_def_load(ctx, "v1", &loaded), 0);
	check_int(loaded->index, 3);
	check_str(loaded->driver, "auto");
	check_int(vbus_def_load(ctx, "v2", &loaded), -ENOENT);
	check_str(vbus_ctx_last_error(ctx), "'v2' is not defined");
	teardown(ctx);
}

TEST(store_skips_bad_files_by_name)
{
	struct vbus_ctx *ctx = setup();
	struct vbus_def **defs = NULL;
	size_t n = 0;

	write_file(
	    "/etc/vbus/devices.d/good.json",
	    "{\"version\":1,\"name\":\"good\",\"kind\":\"pci\",\"parent\":\"0000:04:00.0\"}");
	write_file("/etc/vbus/devices.d/broken.json", "{ \"version\": 1, \"name\": ");
	write_file(
	    "/etc/vbus/devices.d/other.json",
	    "{\"version\":1,\"name\":\"good2\",\"kind\":\"pci\",\"parent\":\"0000:05:00.0\"}");
	write_file("/etc/vbus/devices.d/junk.json", "{} trailing");
	write_file("/etc/vbus/devices.d/empty.json", "");
	write_file("/etc/vbus/devices.d/.#good.json.abc123", "garbage");
	write_file("/etc/vbus/devices.d/README", "not a definition");
	check_int(vbus_store_load_all(ctx, false, &defs, &n), 0);
	check_int(n, 1);
	if (n == 1)
		check_str(defs[0]->name, "good");
	vbus_defs_free(defs, n);
	check_str(warnings,
		  "Ignoring /etc/vbus/devices.d/broken.json: invalid JSON: unexpected end of data\n"
		  "Ignoring /etc/vbus/devices.d/empty.json: empty file\n"
		  "Ignoring /etc/vbus/devices.d/junk.json: trailing data after the JSON value\n"
		  "Ignoring /etc/vbus/devices.d/other.json: name \"good2\" does not match the file "
		  "name\n");
	/* quiet: the same result without a word */
	warnings[0] = '\0';
	check_int(vbus_store_load_all(ctx, true, &defs, &n), 0);
	check_int(n, 1);
	vbus_defs_free(defs, n);
	check_str(warnings, "");
	teardown(ctx);
}

/* A store that the caller may not write: refused with the file named, nothing left behind. */
TEST(store_unwritable)
{
	struct vbus_ctx *ctx = setup();
	char dir[512];
	int status = -1;
	pid_t pid;

	write_file(
	    "/etc/vbus/devices.d/keep.json",
	    "{\"version\":1,\"name\":\"keep\",\"kind\":\"pci\",\"parent\":\"0000:04:00.0\"}");
	snprintf(dir, sizeof(dir), "%s/etc/vbus/devices.d", root);
	check_int(chmod(root, 0755), 0); /* mkdtemp's 0700 would stop the other user earlier */
	check_int(chmod(dir, 0555), 0);
	pid = fork();
	if (pid == 0) {
		_cleanup_def_ struct vbus_def *def = NULL;
		int r;

		/* root writes anyway: be somebody else */
		if (getuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(3);
		vbus_def_new(&def);
		def->name = strdup("v1");
		def->kind = VBUS_KIND_PCI;
		def->parent = strdup("0000:05:00.0");
		r = vbus_store_save(ctx, def);
		if (r != -EACCES)
			_exit(1);
		if (strcmp(vbus_ctx_last_error(ctx),
			   "cannot write /etc/vbus/devices.d/v1.json: Permission denied") != 0)
			_exit(2);
		_exit(0);
	}
	check(pid > 0);
	check_int(waitpid(pid, &status, 0), pid);
	check(WIFEXITED(status));
	check_int(WEXITSTATUS(status), 0);
	check_int(chmod(dir, 0755), 0);
	check_int(count_entries("/etc/vbus/devices.d"), 1);
	teardown(ctx);
}

TEST(ctx_paths)
{
	struct vbus_ctx *ctx = NULL;
	_cleanup_free_ char *a = NULL, *b = NULL;

	/* a root must exist: a typo must not create a tree somewhere */
	check_int(vbus_ctx_new("/nonexistent-vbus-root", &ctx), -ENOENT);
	check_int(vbus_ctx_new("/etc/hostname", &ctx), -ENOTDIR);
	check_int(vbus_ctx_new("/tmp//", &ctx), 0);
	check_str(vbus_ctx_get_root(ctx), "/tmp");
	a = vbus_path(ctx, "/sys/class/mdev_bus");
	check_str(a, "/tmp/sys/class/mdev_bus");
	check_str(vbus_path_display(ctx, a), "/sys/class/mdev_bus");
	vbus_ctx_unref(ctx);
	check_int(vbus_ctx_new(NULL, &ctx), 0);
	check_str(vbus_ctx_get_root(ctx), "/");
	b = vbus_path(ctx, "/etc/vbus");
	check_str(b, "/etc/vbus");
	check(vbus_ctx_ref(ctx) == ctx);
	vbus_ctx_unref(ctx);
	vbus_ctx_unref(ctx);
}

TEST(uuid_generation)
{
	_cleanup_free_ char *a = NULL, *b = NULL;

	check_int(vbus_uuid_generate(&a), 0);
	check_int(vbus_uuid_generate(&b), 0);
	check(vbus_uuid_is_valid(a));
	check(strcmp(a, b) != 0);
	check(a[14] == '4');
}

/* What every input path accepts as text, and how the rest is shown (issue 14). */
TEST(text_check_and_escape)
{
	static const char *const good[] = { "", "abc", "pci/0000:00:02.0", "caf\xc3\xa9",
					     "\xe2\x82\xac", "\xf0\x9f\x98\x80" };
	static const char *const bad[] = { "a\nb", "\x1b]0;T\x07", "a\x7f", "\xc2\x9b" "31m",
					   "\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
					   "\xe2\x82" };
	char *e;

	for (size_t i = 0; i < ELEMENTSOF(good); i++)
		check(vbus_text_check(good[i], strlen(good[i])) == NULL);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		check(vbus_text_check(bad[i], strlen(bad[i])) != NULL);
	check(vbus_text_check("a\0b", 3) != NULL);
	e = vbus_escape("a\nb\x1b[1m\xff caf\xc3\xa9 \\");
	check_str(e, "a\\x0ab\\x1b[1m\\xff caf\xc3\xa9 \\x5c");
	free(e);
}

/* The JSON text writer escapes exactly what json-c escapes (without slash escapes), wherever
 * the character sits in the eight-byte words it scans, and vbus_text_check() finds a bad byte
 * at any offset. */
TEST(text_string_as_json_c)
{
	static const char special[] = { '"', '\\', '\n', '\t', 0x01, 0x1f, 0x7f, '/', 0x20 };
	const int flags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;

	for (size_t len = 1; len <= 19; len++)
		for (size_t at = 0; at < len; at++)
			for (size_t k = 0; k < sizeof(special); k++) {
				struct vbus_text t = {};
				struct json_object *o;
				char s[24];

				/* Filler with a UTF-8 sequence: bytes >= 0x80 are no escape. */
				for (size_t i = 0; i < len; i++)
					s[i] = i % 5 == 3 ? (char)0xc3 : i % 5 == 4 ? (char)0xa9 : 'a';
				s[at] = special[k];
				o = json_object_new_string_len(s, (int)len);
				vbus_text_string(&t, s, len);
				check_str(t.s, json_object_to_json_string_ext(o, flags));
				json_object_put(o);
				free(t.s);
				s[len] = '\0';
				if (special[k] < 0x20 || special[k] == 0x7f)
					check(vbus_text_check(s, len) != NULL);
			}
	/* A key that needs no escape, one that does, in an object and in an array. */
	{
		struct vbus_text t = {};

		vbus_text_member(&t, true, 2, "name");
		vbus_text_member(&t, false, 4, "a\"b");
		vbus_text_member(&t, false, 0, NULL);
		check_str(t.s, "\n  \"name\": ,\n    \"a\\\"b\": ,\n");
		free(t.s);
	}
}

TEST_MAIN()

// SPDX-License-Identifier: LGPL-2.1-or-later
/* Policy engine: driver rules and purpose profiles against fake trees in tests/data/policy-*. */
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "test.h"
#include "vbus-private.h"

#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "tests/data"
#endif

static char logbuf[8192];

static void log_to_buf(void *userdata, int level, const char *file, int line, const char *fn,
		       const char *format, va_list args)
{
	size_t n = strlen(logbuf);

	if (level > VBUS_LOG_WARNING || n + 2 >= sizeof(logbuf))
		return;
	vsnprintf(logbuf + n, sizeof(logbuf) - n - 1, format, args);
	strcat(logbuf, "\n");
}

static struct vbus_ctx *ctx_for(const char *tree)
{
	struct vbus_ctx *ctx = NULL;
	char root[512];

	snprintf(root, sizeof(root), "%s/%s", TEST_DATA_DIR, tree);
	if (vbus_ctx_new(root, &ctx) < 0)
		return NULL;
	logbuf[0] = 0;
	vbus_ctx_set_log_fn(ctx, log_to_buf, NULL);
	return ctx;
}

/* The driver policy gives a definition; a static buffer so checks read in one line. */
static const char *resolve(struct vbus_ctx *ctx, const char *name, enum vbus_kind kind,
			   const char *parent, const char *type, const char *tag)
{
	static char out[64];
	char *tags[] = { (char *)tag };
	struct vbus_def def = {
		.name = (char *)name,
		.kind = kind,
		.parent = (char *)parent,
		.type = (char *)type,
		.index = -1,
		.driver = (char *)"auto",
		.tags = tag ? tags : NULL,
		.n_tags = tag ? 1 : 0,
	};
	char *s = NULL;
	int r = vbus_policy_resolve_driver(ctx, &def, &s);

	if (r < 0)
		snprintf(out, sizeof(out), "error %d", r);
	else
		snprintf(out, sizeof(out), "%s", s);
	free(s);
	return out;
}

TEST(defaults_without_policy)
{
	struct vbus_ctx *ctx = ctx_for("policy-none");

	check(ctx);
	check_str(resolve(ctx, "a", VBUS_KIND_MDEV, "0000:00:02.0", "t", NULL), "host");
	check_str(resolve(ctx, "a", VBUS_KIND_VF, "0000:03:00.0", NULL, NULL), "vfio");
	check_str(resolve(ctx, "a", VBUS_KIND_SF, "pci/0000:03:00.0", NULL, NULL), "host");
	check_str(resolve(ctx, "a", VBUS_KIND_VDPA, "vdpasim_net", "net", NULL), "vfio");
	check_str(resolve(ctx, "a", VBUS_KIND_VIRTBUS, "vbus_sim/vbus_sim1", "net", NULL), "host");
	check_str(resolve(ctx, "a", VBUS_KIND_PCI, "0000:05:00.0", NULL, NULL), "vfio");
	check_str(resolve(ctx, "a", (enum vbus_kind)42, "x", NULL, NULL), "error -22");
	/* No policy directory is not worth a warning. */
	check_str(logbuf, "");
	vbus_ctx_unref(ctx);
}

TEST(rules_match_ids_tags_and_globs)
{
	struct vbus_ctx *ctx = ctx_for("policy-basic");

	/* 10-nic.json: vendor/device of the PF plus a tag. */
	check_str(resolve(ctx, "n1", VBUS_KIND_VF, "0000:03:00.0", NULL, "host"), "iavf");
	/* Same PF without the tag: the parent glob rule of the same file. */
	check_str(resolve(ctx, "n2", VBUS_KIND_VF, "0000:03:00.0", NULL, NULL), "host");
	check_str(resolve(ctx, "n3", VBUS_KIND_SF, "pci/0000:03:00.0", NULL, NULL), "host");
	/* Another vendor's PF: no rule, the kind's default. */
	check_str(resolve(ctx, "n4", VBUS_KIND_VF, "0000:04:00.0", NULL, "host"), "vfio");
	/* 40-gpu.json: type glob and tag. */
	check_str(resolve(ctx, "g1", VBUS_KIND_MDEV, "0000:00:02.0", "i915-GVTg_V5_4", "vm"),
		  "vfio");
	check_str(resolve(ctx, "g2", VBUS_KIND_MDEV, "0000:00:02.0", "i915-GVTg_V5_4", NULL),
		  "host");
	check_str(resolve(ctx, "g3", VBUS_KIND_MDEV, "0000:00:02.0", "nvidia-63", "vm"), "host");
	/* A parent that is not a PCI function: globs work, id and class rules never match. */
	check_str(resolve(ctx, "m1", VBUS_KIND_MDEV, "mtty", "mtty-1", NULL), "none");
	check_str(resolve(ctx, "v1", VBUS_KIND_VDPA, "pci/0000:04:00.0", "net", NULL),
		  "virtio_vdpa");
	check_str(resolve(ctx, "v2", VBUS_KIND_VDPA, "vdpasim_net", "net", NULL), "vfio");
	/* A name glob. */
	check_str(resolve(ctx, "scratch-1", VBUS_KIND_PCI, "0000:05:00.0", NULL, NULL), "none");
	/* Hostile parent names never escape the tree. */
	check_str(resolve(ctx, "p", VBUS_KIND_VDPA, "pci/../../../etc", "net", NULL), "vfio");
	vbus_ctx_unref(ctx);
}

TEST(first_file_in_lexical_order_wins)
{
	struct vbus_ctx *ctx = ctx_for("policy-basic");

	/* 10-nic.json says host, 40-gpu.json says never-reached for the same device. */
	check_str(resolve(ctx, "n2", VBUS_KIND_VF, "0000:03:00.1", NULL, NULL), "host");
	vbus_ctx_unref(ctx);
}

TEST(bad_files_are_named_and_ignored)
{
	struct vbus_ctx *ctx = ctx_for("policy-basic");

	/* Each bad file, if it were read, would make this "none" (or "auto"). */
	check_str(resolve(ctx, "x", VBUS_KIND_MDEV, "0000:00:02.0", "other", NULL), "host");
	check(strstr(logbuf, "20-broken.json"));
	check(strstr(logbuf, "30-badkey.json"));
	check(strstr(logbuf, "'knd'"));
	check(strstr(logbuf, "35-badkind.json"));
	check(strstr(logbuf, "36-auto.json"));
	check(!strstr(logbuf, "10-nic.json"));
	check(!strstr(logbuf, "40-gpu.json"));
	check(!strstr(logbuf, "50-catchall"));
	vbus_ctx_unref(ctx);
}

static const char *pick(struct vbus_ctx *ctx, const char *parent, const char *purpose,
			unsigned offered)
{
	static char out[64];
	enum vbus_kind kind = _VBUS_KIND_INVALID;
	char *driver = NULL;
	int r = vbus_policy_pick_kind_among(ctx, parent, purpose, offered, &kind, &driver);

	if (r < 0)
		snprintf(out, sizeof(out), "error %d", r);
	else
		snprintf(out, sizeof(out), "%s %s", vbus_kind_to_string(kind), driver);
	free(driver);
	return out;
}

#define K(k) (1u << VBUS_KIND_##k)

TEST(builtin_profiles)
{
	struct vbus_ctx *ctx = ctx_for("policy-none");

	/* A GPU with mdev types: mdev, whatever else it offers. */
	check_str(pick(ctx, "0000:00:02.0", "vm", K(MDEV) | K(VF)), "mdev vfio");
	/* A NIC PF for a VM: a VF, else a vDPA device; never a bare SF (it cannot be given to
	 * a VM). */
	check_str(pick(ctx, "0000:03:00.0", "vm", K(SF) | K(VF) | K(VDPA)), "vf vfio");
	check_str(pick(ctx, "0000:03:00.0", "vm", K(VF)), "vf vfio");
	check_str(pick(ctx, "0000:03:00.0", "vm", K(SF) | K(VDPA)), "vdpa vfio");
	check_str(pick(ctx, "0000:03:00.0", "vm", K(SF)), "error -19");
	check_str(vbus_ctx_last_error(ctx),
		  "parent 0000:03:00.0 offers no kind for purpose 'vm' (it offers SFs, and an SF "
		  "cannot be given to a VM: enable VFs, or make a vdpa device on an SF)");
	check_str(pick(ctx, "vbus_sim/vbus_sim1", "vm", K(SF) | K(VIRTBUS)), "virtbus vfio");
	/* For the host a NIC gets an SF with its driver, else a VF. */
	check_str(pick(ctx, "0000:03:00.0", "host", K(SF) | K(VF) | K(VDPA)), "sf host");
	check_str(pick(ctx, "pci/0000:03:00.0", "host", K(SF) | K(VF)), "sf host");
	check_str(pick(ctx, "0000:05:00.0", "host", K(VF)), "vf host");
	check_str(pick(ctx, "mtty", "vm", K(MDEV)), "mdev vfio");
	check_str(pick(ctx, "0000:05:00.0", "vm", K(PCI)), "error -19");
	check_str(pick(ctx, "0000:05:00.0", "storage", K(VF)), "error -22");
	check(strstr(vbus_ctx_last_error(ctx), "storage"));
	vbus_ctx_unref(ctx);
}

TEST(file_profiles_come_first)
{
	struct vbus_ctx *ctx = ctx_for("policy-basic");

	/* 10-nic.json: Mellanox PFs get VFs on vfio-pci for VMs, even when SFs are possible. */
	check_str(pick(ctx, "0000:04:00.0", "vm", K(SF) | K(VF)), "vf vfio-pci");
	/* ... but the entry only offers vf: without VFs the built-ins decide (no SF for a VM). */
	check_str(pick(ctx, "0000:04:00.0", "vm", K(SF)), "error -19");
	check_str(pick(ctx, "0000:04:00.0", "vm", K(SF) | K(VDPA)), "vdpa vfio");
	/* Other NICs and other purposes are untouched. */
	check_str(pick(ctx, "0000:03:00.0", "vm", K(SF) | K(VF)), "vf vfio");
	check_str(pick(ctx, "0000:04:00.0", "host", K(SF) | K(VF)), "sf host");
	vbus_ctx_unref(ctx);
}

/* vbus_policy_fill() on a definition as `define NAME --for PURPOSE --parent P [--type T]
 * [--driver D]` makes it, in a scratch copy of host-mixed (GPU with GVT-g types, mtty, the E810
 * PF with VFs) with POLICY (a policy.d file's text, NULL for none). "kind parent driver type"
 * or the error. */
static char fill_root[256];

static void fill_setup(const char *policy)
{
	snprintf(fill_root, sizeof(fill_root), "/tmp/vbus-test-fill.XXXXXX");
	check(mkdtemp(fill_root) != NULL);
	test_sh("cp -a '%s/host-mixed/.' '%s/'", TEST_DATA_DIR, fill_root);
	if (policy)
		test_sh("mkdir -p '%s/etc/vbus/policy.d' && printf '%%s' '%s' >"
			"'%s/etc/vbus/policy.d/10-types.json'",
			fill_root, policy, fill_root);
}

static void fill_teardown(void)
{
	test_sh("rm -rf '%s'", fill_root);
}

static const char *fill(const char *parent, const char *purpose, const char *type,
			const char *driver)
{
	static char out[512];
	struct vbus_ctx *ctx = NULL;
	struct vbus_def *def = NULL;
	int r;

	check_int(vbus_ctx_new(fill_root, &ctx), 0);
	check_int(vbus_def_new(&def), 0);
	def->name = strdup("f1");
	def->parent = strdup(parent);
	def->type = type ? strdup(type) : NULL;
	if (driver) {
		free(def->driver);
		def->driver = strdup(driver);
	}
	r = vbus_policy_fill(ctx, def, purpose);
	if (r < 0)
		snprintf(out, sizeof(out), "error %d: %s", r, vbus_ctx_last_error(ctx));
	else
		snprintf(out, sizeof(out), "%s %s %s %s", vbus_kind_to_string(def->kind),
			 def->parent, def->driver, def->type ?: "-");
	vbus_def_free(def);
	vbus_ctx_unref(ctx);
	return out;
}

TEST(fill_picks_kind_and_type)
{
	fill_setup(NULL);
	/* A NIC PF with VFs, for a VM: a VF on vfio; for the host a VF with its host driver
	 * (no devlink under a fake root: no SF to prefer). */
	check_str(fill("0000:03:00.0", "vm", NULL, NULL), "vf 0000:03:00.0 vfio -");
	check_str(fill("0000:03:00.0", "host", NULL, NULL), "vf 0000:03:00.0 host -");
	check_str(fill("pci/0000:03:00.0", "vm", NULL, "vfio-pci"), "vf 0000:03:00.0 vfio-pci -");
	/* A GPU: the mdev type with the most available instances (V5_8: 2 left, V5_4: 1). */
	check_str(fill("0000:00:02.0", "vm", NULL, NULL), "mdev 0000:00:02.0 vfio i915-GVTg_V5_8");
	/* --type given: kept as it is. */
	check_str(fill("0000:00:02.0", "vm", "i915-GVTg_V5_4", NULL),
		  "mdev 0000:00:02.0 vfio i915-GVTg_V5_4");
	check_str(fill("mtty", "vm", NULL, NULL), "mdev mtty vfio mtty-1");
	check_str(fill("0000:99:00.0", "vm", NULL, NULL),
		  "error -19: parent 0000:99:00.0 not found");
	check_str(fill("0000:03:00.0", "storage", NULL, NULL),
		  "error -22: no policy profile for purpose 'storage'");
	/* No instance left of any type: said, not a type that cannot be created. */
	test_sh("for t in '%s'/sys/devices/pci0000:00/0000:00:02.0/mdev_supported_types/*; do "
		"echo 0 >$t/available_instances; done",
		fill_root);
	check_str(fill("0000:00:02.0", "vm", NULL, NULL),
		  "error -28: no mdev type of 0000:00:02.0 has an instance available");
	fill_teardown();
}

TEST(fill_takes_the_type_a_profile_names)
{
	fill_setup("{ \"version\": 1, \"profiles\": { \"vm\": { \"prefer\": ["
		   " { \"match\": { \"parent\": \"mtty\" }, \"kinds\": [ \"mdev\" ],"
		   "   \"type\": \"mtty-2\" },"
		   " { \"match\": { \"vendor\": \"0x8086\", \"class\": \"0x03*\" },"
		   "   \"kinds\": [ \"mdev\" ], \"type\": \"i915-GVTg_V5_4*\" },"
		   " { \"match\": { \"parent\": \"0000:03:00.0\" }, \"kinds\": [ \"mdev\" ],"
		   "   \"type\": \"nothing-*\" } ] } } }");
	/* mtty-1 has more instances; the profile names mtty-2. */
	check_str(fill("mtty", "vm", NULL, NULL), "mdev mtty vfio mtty-2");
	/* A glob: the best of the types it matches. */
	check_str(fill("0000:00:02.0", "vm", NULL, NULL), "mdev 0000:00:02.0 vfio i915-GVTg_V5_4");
	/* An entry for a kind the parent does not offer is passed over. */
	check_str(fill("0000:03:00.0", "vm", NULL, NULL), "vf 0000:03:00.0 vfio -");
	/* The host profile is not touched by the file. */
	check_str(fill("mtty", "host", NULL, NULL), "mdev mtty host mtty-1");
	fill_teardown();
	fill_setup("{ \"version\": 1, \"profiles\": { \"vm\": { \"prefer\": ["
		   " { \"match\": { \"parent\": \"mtty\" }, \"kinds\": [ \"mdev\" ],"
		   "   \"type\": \"mdpy-*\" } ] } } }");
	check_str(fill("mtty", "vm", NULL, NULL),
		  "error -19: parent mtty has no mdev type matching 'mdpy-*'");
	fill_teardown();
}

/* One context keeps the policy it read: a change of policy.d (a file rewritten with the same
 * size, a file added, the directory removed) is seen by the next lookup all the same. */
static void put_policy(const char *dir, const char *file, const char *driver, long age)
{
	char p[600];
	FILE *f;
	struct timespec ts[2];

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	f = fopen(p, "w");
	check(f != NULL);
	if (!f)
		return;
	fprintf(f, "{ \"version\": 1, \"rules\": [ { \"match\": { \"kind\": \"pci\" }, "
		   "\"driver\": \"%s\" } ] }\n",
		driver);
	fclose(f);
	/* An mtime in the past, the same for both versions when AGE is: only the cache's
	 * other stamps (size, inode) can tell them apart. */
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= age;
	ts[1] = ts[0];
	ts[1].tv_nsec = 0;
	check(utimensat(AT_FDCWD, p, ts, 0) == 0);
}

TEST(policy_changes_are_seen_by_a_long_lived_context)
{
	char root[] = "/tmp/vbus-test-policy.XXXXXX", dir[600], cmd[700];
	struct vbus_ctx *ctx = NULL;

	check(mkdtemp(root) != NULL);
	snprintf(dir, sizeof(dir), "%s/etc/vbus/policy.d", root);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
	check(system(cmd) == 0);
	put_policy(dir, "10-a.json", "drv-aa", 100);
	check_int(vbus_ctx_new(root, &ctx), 0);
	check_str(resolve(ctx, "p", VBUS_KIND_PCI, "0000:05:00.0", NULL, NULL), "drv-aa");
	check_str(resolve(ctx, "p", VBUS_KIND_PCI, "0000:05:00.0", NULL, NULL), "drv-aa");
	/* Rewritten in place (same inode), same size, an older mtime. */
	put_policy(dir, "10-a.json", "drv-bb", 200);
	check_str(resolve(ctx, "p", VBUS_KIND_PCI, "0000:05:00.0", NULL, NULL), "drv-bb");
	/* A new file that sorts first. */
	put_policy(dir, "05-b.json", "drv-cc", 100);
	check_str(resolve(ctx, "p", VBUS_KIND_PCI, "0000:05:00.0", NULL, NULL), "drv-cc");
	/* Just written (this second): read again every time, whatever the stamps say. */
	put_policy(dir, "05-b.json", "drv-dd", 0);
	check_str(resolve(ctx, "p", VBUS_KIND_PCI, "0000:05:00.0", NULL, NULL), "drv-dd");
	/* No directory at all: the kind's default. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	check(system(cmd) == 0);
	check_str(resolve(ctx, "p", VBUS_KIND_PCI, "0000:05:00.0", NULL, NULL), "vfio");
	vbus_ctx_unref(ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	check(system(cmd) == 0);
}

TEST_MAIN()

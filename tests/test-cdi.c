// SPDX-License-Identifier: LGPL-2.1-or-later
/* CDI specs on the fake trees: content per kind, names CDI forbids, leaving at once, and
 * replacement that a reader never sees half done. */
#include <errno.h>
#include <ctype.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "vbus-private.h"

static char root[64];

#define VFIO_SPEC "/var/run/cdi/vbus.dev-vfio.json"
#define VDPA_SPEC "/var/run/cdi/vbus.dev-vhost-vdpa.json"
#define MDEV "sys/devices/pci0000:00/0000:00:02.0/4b6f1c2e-8a3d-4f5e-9c71-2d0e6a5b3f10"

static struct vbus_ctx *setup(const char *tree)
{
	struct vbus_ctx *ctx = NULL;

	strcpy(root, "/tmp/vbus-test-cdi.XXXXXX");
	check(mkdtemp(root) != NULL);
	/* A checkout has no empty directories: devices.d may be missing from the tree. */
	test_sh("cp -a '%s/%s/.' '%s/' && mkdir -p '%s/etc/vbus/devices.d' && "
		"rm -f '%s'/etc/vbus/devices.d/broken.json",
		TEST_DATA_DIR, tree, root, root, root);
	check_int(vbus_ctx_new(root, &ctx), 0);
	vbus_ctx_set_log_level(ctx, VBUS_LOG_ERR);
	return ctx;
}

static void teardown(struct vbus_ctx *ctx)
{
	vbus_ctx_unref(ctx);
	test_sh("rm -rf '%s'", root);
}

static void put_def(const char *name, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/etc/vbus/devices.d/%s.json", root, name);
	f = fopen(p, "w");
	check(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

/* The file under the root, or NULL when absent. */
static char *slurp(const char *path)
{
	char p[256], *buf = NULL;
	size_t len = 0;
	FILE *f;

	snprintf(p, sizeof(p), "%s%s", root, path);
	f = fopen(p, "r");
	if (!f)
		return NULL;
	if (getdelim(&buf, &len, '\0', f) < 0) {
		free(buf);
		buf = strdup("");
	}
	fclose(f);
	return buf;
}

static void check_file(const char *path, const char *want)
{
	char *got = slurp(path);

	if (!want) {
		if (got)
			printf("# %s exists:\n%s", path, got);
		check(got == NULL);
	} else {
		check_str(got, want);
	}
	free(got);
}

/* CDI's own rule (container-device-interface, ValidateDeviceName) and spec text: first and last
 * characters alphanumeric, in between alphanumerics, '-', '_', '.'. */
static bool cdi_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("-_.", s[i]))
			return false;
	return true;
}

TEST(names)
{
	static const struct {
		const char *name, *cdi;
	} cases[] = {
		{ "gpu1", "gpu1" },
		{ "a", "a" },
		{ "x.y_z-w", "x.y_z-w" },
		{ "gpu-", "gpu" },
		{ "a-_.:", "a" },
		{ "pci:04:00.0", "pci_04_00.0" },
		{ "9lives", "9lives" },
		{ "-lead", NULL },
		{ "", NULL },
		{ "has space", NULL },
	};
	static const char allowed[] = "abcXYZ019_.:-";

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char *s = vbus_cdi_name(cases[i].name);

		if (cases[i].cdi)
			check_str(s, cases[i].cdi);
		else
			check(s == NULL);
		free(s);
	}
	/* Every valid vbus name of up to three characters maps to a valid CDI name. */
	for (const char *a = allowed; *a; a++)
		for (const char *b = allowed; *b; b++)
			for (const char *c = allowed; *c; c++) {
				char name[4] = { *a, *b, *c, 0 };
				char *s;

				if (!vbus_name_is_valid(name))
					continue;
				s = vbus_cdi_name(name);
				if (!cdi_name_valid(s)) {
					printf("# %s -> %s\n", name, s ?: "(null)");
					test_failed = 1;
				}
				free(s);
			}
}

static const char gpu_and_nic[] =
	"{\n"
	"  \"cdiVersion\": \"0.3.0\",\n"
	"  \"kind\": \"vbus.dev/vfio\",\n"
	"  \"devices\": [\n"
	"    {\n"
	"      \"name\": \"gpu-desktop\",\n"
	"      \"containerEdits\": {\n"
	"        \"env\": [\n"
	"          \"VBUS_MDEV_UUID_GPU_DESKTOP=4b6f1c2e-8a3d-4f5e-9c71-2d0e6a5b3f10\"\n"
	"        ],\n"
	"        \"deviceNodes\": [\n"
	"          {\n"
	"            \"path\": \"/dev/vfio/13\"\n"
	"          },\n"
	"          {\n"
	"            \"path\": \"/dev/vfio/vfio\"\n"
	"          }\n"
	"        ]\n"
	"      }\n"
	"    },\n"
	"    {\n"
	"      \"name\": \"nic_04\",\n"
	"      \"containerEdits\": {\n"
	"        \"env\": [\n"
	"          \"VBUS_PCI_ADDRESS_NIC_04=0000:04:00.0\"\n"
	"        ],\n"
	"        \"deviceNodes\": [\n"
	"          {\n"
	"            \"path\": \"/dev/vfio/9\"\n"
	"          },\n"
	"          {\n"
	"            \"path\": \"/dev/vfio/vfio\"\n"
	"          }\n"
	"        ]\n"
	"      }\n"
	"    }\n"
	"  ]\n"
	"}\n";

/* pci on vfio-pci and mdev on its vfio driver; written by the operations themselves. */
TEST(vfio_spec)
{
	struct vbus_ctx *ctx = setup("host-mixed");
	struct vbus_def *def = NULL;
	struct json_object *specs = NULL;
	char *s;

	/* The definitions on disk are not in a spec until something writes it. */
	check_file(VFIO_SPEC, NULL);
	check_int(vbus_def_new(&def), 0);
	def->name = strdup("nic:04:");
	def->kind = VBUS_KIND_PCI;
	def->parent = strdup("0000:04:00.0");
	def->driver = strdup("vfio");
	check_int(vbus_define(ctx, def, 0), 0);
	vbus_def_free(def);
	check_file(VFIO_SPEC, gpu_and_nic);
	check_file(VDPA_SPEC, NULL);
	check_int(vbus_cdi_read(ctx, &specs), 0);
	check_int(json_object_array_length(specs), 1);
	json_object_put(specs);

	/* nic-vf1's VF gets vfio-pci by hand (group 21): vbus_cdi_update() sees it. */
	test_sh("cd '%s' && d=sys/devices/pci0000:00/0000:00:1c.0/0000:03:01.1 && "
		"ln -s ../../../../bus/pci/drivers/vfio-pci $d/driver && "
		"mkdir -p sys/devices/virtual/vfio/21 && "
		"ln -s ../../devices/virtual/vfio/21 sys/class/vfio/21",
		root);
	check_int(vbus_cdi_update(ctx), 0);
	s = slurp(VFIO_SPEC);
	check(s && strstr(s, "\"name\": \"nic-vf1\"") &&
	      strstr(s, "\"VBUS_PCI_ADDRESS_NIC_VF1=0000:03:01.1\"") &&
	      strstr(s, "\"path\": \"/dev/vfio/21\""));
	free(s);

	/* A device whose driver goes leaves at once; an undefined one too (through undefine's
	 * own release of the lock). */
	test_sh("rm '%s/sys/devices/pci0000:00/0000:00:1c.0/0000:03:01.1/driver'", root);
	check_int(vbus_cdi_update(ctx), 0);
	check_file(VFIO_SPEC, gpu_and_nic);
	check_int(vbus_undefine(ctx, "gpu-desktop"), 0);
	s = slurp(VFIO_SPEC);
	check(s && !strstr(s, "gpu-desktop") && strstr(s, "nic_04"));
	free(s);
	/* A name that starts with a digit needs cdiVersion 0.5.0. */
	put_def("0gpu", "{ \"version\": 1, \"name\": \"0gpu\", \"kind\": \"mdev\","
			" \"parent\": \"0000:00:02.0\", \"type\": \"i915-GVTg_V5_4\","
			" \"uuid\": \"4b6f1c2e-8a3d-4f5e-9c71-2d0e6a5b3f10\" }\n");
	check_int(vbus_cdi_update(ctx), 0);
	s = slurp(VFIO_SPEC);
	check(s && strstr(s, "\"cdiVersion\": \"0.5.0\"") && strstr(s, "\"name\": \"0gpu\""));
	free(s);
	/* Nothing left: no file (a spec without devices is invalid). */
	check_int(vbus_undefine(ctx, "0gpu"), 0);
	check_int(vbus_undefine(ctx, "nic:04:"), 0);
	check_file(VFIO_SPEC, NULL);
	teardown(ctx);
}

/* Two definitions whose names map to one CDI name: the first by name keeps it. */
TEST(name_clash)
{
	struct vbus_ctx *ctx = setup("host-mixed");
	char *s;

	put_def("gpu-", "{ \"version\": 1, \"name\": \"gpu-\", \"kind\": \"mdev\","
			" \"parent\": \"0000:00:02.0\", \"type\": \"i915-GVTg_V5_4\","
			" \"uuid\": \"4b6f1c2e-8a3d-4f5e-9c71-2d0e6a5b3f10\" }\n");
	put_def("gpu", "{ \"version\": 1, \"name\": \"gpu\", \"kind\": \"mdev\","
		       " \"parent\": \"0000:00:02.0\", \"type\": \"i915-GVTg_V5_4\","
		       " \"uuid\": \"4b6f1c2e-8a3d-4f5e-9c71-2d0e6a5b3f10\" }\n");
	check_int(vbus_cdi_update(ctx), 0);
	s = slurp(VFIO_SPEC);
	check(s && strstr(s, "\"name\": \"gpu\"") && strstr(s, "\"name\": \"gpu-desktop\""));
	/* One "gpu" entry only. */
	check(s && !strstr(strstr(s, "\"name\": \"gpu\"") + 1, "\"name\": \"gpu\""));
	free(s);
	teardown(ctx);
}

/* A vdpa device on vhost_vdpa (the fake tree has no kernel for the netlink kinds: a backend
 * that reports it as the real one does). */
static int vdpa_status(struct vbus_ctx *ctx, const struct vbus_def *def, struct vbus_status *st)
{
	st->active = true;
	st->sysfs_path = vbus_pathf(ctx, "/sys/bus/vdpa/devices/%s", def->name);
	st->bound_driver = strdup("vhost_vdpa");
	return 0;
}

static const struct vbus_backend fake_vdpa = {
	.kind = VBUS_KIND_VDPA,
	.status = vdpa_status,
};

TEST(vhost_vdpa_spec)
{
	struct vbus_ctx *ctx = setup("host-sriov");
	struct vbus_device **devs = NULL;
	size_t n = 0;

	ctx->backend_override[VBUS_KIND_VDPA] = &fake_vdpa;
	test_sh("mkdir -p '%s/sys/devices/vdpa0/vhost-vdpa-0' '%s/sys/bus/vdpa/devices' && "
		"ln -s ../../../devices/vdpa0 '%s/sys/bus/vdpa/devices/vdpa0'",
		root, root, root);
	put_def("vdpa0", "{ \"version\": 1, \"name\": \"vdpa0\", \"kind\": \"vdpa\","
			 " \"parent\": \"vdpasim_net\", \"driver\": \"vfio\" }\n");
	check_int(vbus_cdi_update(ctx), 0);
	check_file(VDPA_SPEC, "{\n"
			      "  \"cdiVersion\": \"0.3.0\",\n"
			      "  \"kind\": \"vbus.dev/vhost-vdpa\",\n"
			      "  \"devices\": [\n"
			      "    {\n"
			      "      \"name\": \"vdpa0\",\n"
			      "      \"containerEdits\": {\n"
			      "        \"env\": [\n"
			      "          \"VBUS_VDPA_DEVICE_VDPA0=vdpa0\"\n"
			      "        ],\n"
			      "        \"deviceNodes\": [\n"
			      "          {\n"
			      "            \"path\": \"/dev/vhost-vdpa-0\"\n"
			      "          }\n"
			      "        ]\n"
			      "      }\n"
			      "    }\n"
			      "  ]\n"
			      "}\n");
	check_file(VFIO_SPEC, NULL);
	/* The listing shows the same node. */
	check_int(vbus_list_devices(ctx, VBUS_LIST_DEFINED, "vdpa0", &devs, &n), 0);
	check_str(vbus_device_get_device_nodes(devs[0])[0], "/dev/vhost-vdpa-0");
	vbus_device_list_free(devs, n);
	teardown(ctx);
}

/* What the listing says of the VF and the vfio-bound function: address, group, netdev. */
TEST(listing_access)
{
	struct vbus_ctx *ctx = setup("host-mixed");
	struct vbus_device **devs = NULL;
	size_t n = 0;

	check_int(vbus_list_devices(ctx, VBUS_LIST_ACTIVE, "0000:03:00.0-vf0", &devs, &n), 0);
	check_str(vbus_device_get_pci_address(devs[0]), "0000:03:01.0");
	check_int(vbus_device_get_iommu_group(devs[0]), 20);
	check_str(vbus_device_get_netdev(devs[0]), "enp3s1");
	check(vbus_device_get_device_nodes(devs[0])[0] == NULL);
	vbus_device_list_free(devs, n);
	check_int(vbus_list_devices(ctx, VBUS_LIST_ACTIVE, "0000:04:00.0", &devs, &n), 0);
	check_str(vbus_device_get_device_nodes(devs[0])[0], "/dev/vfio/9");
	check(vbus_device_get_netdev(devs[0]) == NULL);
	vbus_device_list_free(devs, n);
	check_int(vbus_list_devices(ctx, VBUS_LIST_DEFINED, "nic-vf1", &devs, &n), 0);
	check_str(vbus_device_get_wanted_driver(devs[0]), "vfio-pci");
	check_str(vbus_device_get_pci_address(devs[0]), "0000:03:01.1");
	vbus_device_list_free(devs, n);
	/* "host" is shown as it is: resolving it would probe the host driver, and a listing
	 * never rebinds (the override stays). */
	put_def("back", "{ \"version\": 1, \"name\": \"back\", \"kind\": \"pci\","
			" \"parent\": \"0000:04:00.0\", \"driver\": \"host\" }\n");
	check_int(vbus_list_devices(ctx, VBUS_LIST_DEFINED, "back", &devs, &n), 0);
	check_str(vbus_device_get_wanted_driver(devs[0]), "host");
	check_str(vbus_device_get_bound_driver(devs[0]), "vfio-pci");
	vbus_device_list_free(devs, n);
	test_sh("grep -qx vfio-pci '%s/sys/devices/pci0000:00/0000:00:1c.4/0000:04:00.0/"
		"driver_override'",
		root);
	teardown(ctx);
}

/* 1000 rewrites (the mdev's driver going and coming back) while another process reads the
 * spec in a loop: every read is one of the two whole files. */
TEST(atomic_replacement)
{
	struct vbus_ctx *ctx = setup("host-mixed");
	char *one = NULL, *two = NULL, path[256], flag[256];
	int status = 0, pipefd[2];
	long reads = 0;
	pid_t pid;

	put_def("nic", "{ \"version\": 1, \"name\": \"nic\", \"kind\": \"pci\","
		       " \"parent\": \"0000:04:00.0\", \"driver\": \"vfio\" }\n");
	check_int(vbus_cdi_update(ctx), 0);
	two = slurp(VFIO_SPEC);
	test_sh("mv '%s/" MDEV "/driver' '%s/" MDEV "/driver.off'", root, root);
	check_int(vbus_cdi_update(ctx), 0);
	one = slurp(VFIO_SPEC);
	check(one && two && strcmp(one, two) != 0);
	snprintf(path, sizeof(path), "%s" VFIO_SPEC, root);
	snprintf(flag, sizeof(flag), "%s/done", root);
	check_int(pipe(pipefd), 0);
	pid = fork();
	if (pid == 0) {
		long n = 0, bad = 0;

		close(pipefd[0]);
		while (access(flag, F_OK) < 0 || n < 10) {
			char buf[8192];
			ssize_t k, len = 0;
			int fd = open(path, O_RDONLY | O_CLOEXEC);

			if (fd < 0) {
				bad++;
				continue;
			}
			while ((k = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
				len += k;
			close(fd);
			buf[len] = '\0';
			if (strcmp(buf, one) != 0 && strcmp(buf, two) != 0)
				bad++;
			n++;
		}
		dprintf(pipefd[1], "%ld %ld\n", n, bad);
		_exit(bad ? 1 : 0);
	}
	close(pipefd[1]);
	{
		char on[256], off[256];

		snprintf(on, sizeof(on), "%s/" MDEV "/driver", root);
		snprintf(off, sizeof(off), "%s/" MDEV "/driver.off", root);
		for (int i = 0; i < 1000; i++) {
			check_int(rename(i % 2 ? on : off, i % 2 ? off : on), 0);
			check_int(vbus_cdi_update(ctx), 0);
		}
	}
	test_sh("touch '%s'", flag);
	{
		char line[64] = "";
		long bad = -1;
		FILE *f = fdopen(pipefd[0], "r");

		check(f && fgets(line, sizeof(line), f));
		check_int(sscanf(line, "%ld %ld", &reads, &bad), 2);
		printf("# %ld reads during 1000 rewrites, %ld partial or missing\n", reads, bad);
		check_int(bad, 0);
		if (f)
			fclose(f);
	}
	check_int(waitpid(pid, &status, 0), pid);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	check(reads > 0);
	free(one);
	free(two);
	teardown(ctx);
}

TEST_MAIN()

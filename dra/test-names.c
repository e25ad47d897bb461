// SPDX-License-Identifier: LGPL-2.1-or-later
/* vbus-dra's names: device labels (DNS labels, stable, unique), CDI names, slice names. */
#include <ctype.h>

#include "dra.h"
#include "test.h"

static bool is_dns_label(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return false;
	return true;
}

static char *label(const char *name)
{
	char *s = NULL;

	check_int(dra_device_label(name, &s), 0);
	return s;
}

TEST(label_unchanged)
{
	const char *same[] = {"gpu-desktop", "nic-vf1", "a", "0000-03-00-0", "x9"};

	for (size_t i = 0; i < ELEMENTSOF(same); i++) {
		_cleanup_free_ char *s = label(same[i]);

		check_str(s, same[i]);
	}
}

TEST(label_changed_gets_hash)
{
	_cleanup_free_ char *a = label("Gpu_1"), *b = label("gpu.1"), *c = label("gpu-1");

	/* python3 -c 'import hashlib; print(hashlib.sha256(b"Gpu_1").hexdigest()[:8])' */
	check_str(a, "gpu-1-9a5c5245");

	check(is_dns_label(a));
	check(is_dns_label(b));
	check_int(strlen(a), strlen("gpu-1-") + 8);
	check(strncmp(a, "gpu-1-", 6) == 0);
	check(strncmp(b, "gpu-1-", 6) == 0);
	/* three names that lowercase to one label stay three labels */
	check(strcmp(a, b) != 0);
	check(strcmp(a, c) != 0);
	check(strcmp(b, c) != 0);
}

TEST(label_pci_and_colons)
{
	_cleanup_free_ char *a = label("pci:0000:04:00.0");

	check(is_dns_label(a));
	check(strncmp(a, "pci-0000-04-00-0-", 17) == 0);
}

TEST(label_long)
{
	char name[200];
	_cleanup_free_ char *a = NULL, *b = NULL;

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	a = label(name);
	name[150] = 'b';
	b = label(name);
	check(is_dns_label(a));
	check(is_dns_label(b));
	check_int(strlen(a), 63);
	check(strcmp(a, b) != 0);

	/* exactly 63 valid characters: unchanged */
	name[63] = '\0';
	memset(name, 'c', 63);
	_cleanup_free_ char *c = label(name);
	check_str(c, name);
}

TEST(label_edges)
{
	_cleanup_free_ char *a = label("-x-"), *b = label("___"), *c = label("X");

	check(is_dns_label(a));
	check(strncmp(a, "x-", 2) == 0);
	check(is_dns_label(b));
	check_int(strlen(b), 8);
	check(is_dns_label(c));
	check(strncmp(c, "x-", 2) == 0);
}

TEST(label_stable)
{
	_cleanup_free_ char *a = label("VM1.GPU"), *b = label("VM1.GPU");

	check_str(a, b);
}

TEST(cdi_name)
{
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

	check_int(dra_cdi_name("pci:04:00.0", &a), 0);
	check_str(a, "pci_04_00.0");
	check_int(dra_cdi_name("gpu-", &b), 0);
	check_str(b, "gpu");
	check_int(dra_cdi_name("nic-vf1", &c), 0);
	check_str(c, "nic-vf1");
}

TEST(slice_name)
{
	_cleanup_free_ char *a = NULL, *b = NULL;

	check_int(dra_slice_name("node1", "vbus.dev", 0, &a), 0);
	check_str(a, "node1-vbus-dev-0");
	check_int(dra_slice_name("n.example.com", "gpu.vbus.dev", 12, &b), 0);
	check_str(b, "n.example.com-gpu-vbus-dev-12");
}

TEST_MAIN()

// SPDX-License-Identifier: LGPL-2.1-or-later
/* The names vbus-dra gives devices (DNS labels, CDI names) and slices. */
#include <ctype.h>
#include <stdio.h>

#include <openssl/sha.h>

#include "dra.h"

const char *dra_json_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

bool dra_json_bool(struct json_object *o, const char *key)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, key, &v) &&
	       json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

int dra_device_label(const char *name, char **ret)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	size_t len = strlen(name), n;
	bool changed = len == 0 || len > DRA_LABEL_MAX;
	char *s;

	s = malloc(len + 1 + 9 + 1);
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')
			s[i] = (char)c;
		else if (c >= 'A' && c <= 'Z')
			s[i] = (char)(c - 'A' + 'a');
		else
			s[i] = '-';
		if (s[i] != name[i])
			changed = true;
	}
	s[len] = '\0';
	/* A DNS label starts and ends with a letter or digit. */
	if (len && (s[0] == '-' || s[len - 1] == '-'))
		changed = true;
	if (!changed) {
		*ret = s;
		return 0;
	}
	n = len > DRA_LABEL_MAX - 9 ? DRA_LABEL_MAX - 9 : len;
	s[n] = '\0';
	/* The leading '-' go, and the trailing ones before the suffix's own. */
	while (n && s[n - 1] == '-')
		s[--n] = '\0';
	size_t skip = strspn(s, "-");
	memmove(s, s + skip, n - skip + 1);
	n -= skip;
	SHA256((const unsigned char *)name, len, md);
	snprintf(s + n, 10, "%s%02x%02x%02x%02x", n ? "-" : "", md[0], md[1], md[2], md[3]);
	*ret = s;
	return 0;
}

int dra_cdi_name(const char *name, char **ret)
{
	char *s = strdup(name);
	size_t n;

	if (!s)
		return -ENOMEM;
	for (char *p = s; *p; p++)
		if (*p == ':')
			*p = '_';
	n = strlen(s);
	while (n > 1 && !isalnum((unsigned char)s[n - 1]))
		s[--n] = '\0';
	*ret = s;
	return 0;
}

int dra_slice_name(const char *node, const char *driver, unsigned n, char **ret)
{
	char *s;

	if (asprintf(&s, "%s-%s-%u", node, driver, n) < 0)
		return -ENOMEM;
	for (char *p = s + strlen(node) + 1; *p; p++)
		if (*p == '.')
			*p = '-';
	*ret = s;
	return 0;
}

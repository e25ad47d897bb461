/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sysfs access below the context's root: attributes, links and directories, as the kernel shows
 * them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vbus-private.h"

/*
 * Every PATH here is absolute as on a host ("/sys/bus/pci/devices/0000:03:00.0/sriov_numvfs")
 * and resolved under ctx's root with vbus_path(). Errors are negative errno and are not logged
 * beyond debug; the callers name the object in vbus_error().
 */

/* Reads an attribute, without trailing whitespace. -ENOENT when it does not exist. */
int sysfs_read(struct vbus_ctx *ctx, const char *path, char **ret);
int sysfs_readf(struct vbus_ctx *ctx, char **ret, const char *fmt, ...) _printf_(3, 4);
/* Reads a decimal or 0x-prefixed unsigned attribute. -EINVAL when it is not a number. */
int sysfs_read_u64(struct vbus_ctx *ctx, const char *path, uint64_t *ret);

/*
 * Writes VALUE to an existing attribute in one write(2), as `echo -n VALUE > PATH` would: the
 * file is never created, on a fake root either. Returns the kernel's refusal as negative errno.
 * After a successful write, calls ctx->sysfs_write_hook (tests play the kernel there) with the
 * full path (root included) and returns its error, if any, as the kernel's refusal.
 */
int sysfs_write(struct vbus_ctx *ctx, const char *path, const char *value);
int sysfs_writef(struct vbus_ctx *ctx, const char *value, const char *fmt, ...) _printf_(3, 4);

/* true when PATH exists (following links). */
bool sysfs_exists(struct vbus_ctx *ctx, const char *path);

/* The last component of a symlink's target: "driver" -> "vfio-pci". -ENOENT when absent. */
int sysfs_link_basename(struct vbus_ctx *ctx, const char *path, char **ret);

/* The directory's entries without "." and "..", sorted, NULL-terminated; *ret_n may be NULL.
 * -ENOENT when the directory does not exist. Free with sysfs_strv_free(). */
int sysfs_list_dir(struct vbus_ctx *ctx, const char *path, char ***ret, size_t *ret_n);

/* The same for a directory that may be absent (a class or bus whose module is not loaded): an
 * empty list then; other failures are reported with vbus_error() naming PATH. */
int sysfs_list_entries(struct vbus_ctx *ctx, const char *path, char ***ret);

/* The canonical path of PATH, links resolved, as a full path (root included). */
/* The name of the directory that holds the target of the link PATH (a device's parent). */
int sysfs_link_parent_name(struct vbus_ctx *ctx, const char *path, char **ret);
int sysfs_realpath(struct vbus_ctx *ctx, const char *path, char **ret);

char **sysfs_strv_free(char **l);
static inline void sysfs_strv_freep(char ***l)
{
	sysfs_strv_free(*l);
}
#define _cleanup_strv_ _cleanup_(sysfs_strv_freep)

/* JSON building for the backends' listings; NULL strings become JSON null. -ENOMEM on failure. */
static inline int jadd(struct json_object *o, const char *key, struct json_object *v)
{
	if (json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static inline int jadd_str(struct json_object *o, const char *key, const char *s)
{
	struct json_object *v = NULL;

	if (s) {
		v = json_object_new_string(s);
		if (!v)
			return -ENOMEM;
	}
	return jadd(o, key, v);
}

static inline int jadd_int(struct json_object *o, const char *key, int64_t i)
{
	struct json_object *v = json_object_new_int64(i);

	if (!v)
		return -ENOMEM;
	return jadd(o, key, v);
}

static inline int jarray_add(struct json_object *a, struct json_object *v)
{
	if (json_object_array_add(a, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

/* A sysfs name given by a user (parent, type, attribute): one path component, no tricks. */
static inline bool sysfs_name_is_valid(const char *s)
{
	return s && *s && !strchr(s, '/') && !streq(s, ".") && !streq(s, "..") && strlen(s) < 256;
}

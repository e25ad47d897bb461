// SPDX-License-Identifier: LGPL-2.1-or-later
/* What prepare did, per claim, kept in one JSON file so that unprepare undoes it after a
 * restart. Replaced atomically (temporary file, fsync, rename, fsync of the directory). */
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "dra.h"

static int fail(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int fail(char **ret_error, int r, const char *fmt, ...)
{
	va_list ap;

	if (ret_error) {
		va_start(ap, fmt);
		if (vasprintf(ret_error, fmt, ap) < 0)
			*ret_error = NULL;
		va_end(ap);
	}
	return r;
}

static struct json_object *empty(void)
{
	struct json_object *o = json_object_new_object(), *claims = json_object_new_object();

	if (!o || !claims || json_object_object_add(o, "version", json_object_new_int(1)) < 0 ||
	    json_object_object_add(o, "claims", claims) < 0) {
		json_object_put(o);
		json_object_put(claims);
		return NULL;
	}
	return o;
}

int checkpoint_load(const char *path, struct json_object **ret, char **ret_error)
{
	struct json_object *o, *v, *claims;

	o = json_object_from_file(path);
	if (!o) {
		if (access(path, F_OK) < 0 && errno == ENOENT) {
			o = empty();
			if (!o)
				return -ENOMEM;
			*ret = o;
			return 0;
		}
		return fail(ret_error, -EINVAL,
			    "Cannot read the checkpoint '%s': not JSON (damaged or cut short); it "
			    "is kept as it is: move it away to start without it",
			    path);
	}
	if (!json_object_object_get_ex(o, "version", &v) || json_object_get_int(v) != 1 ||
	    !json_object_object_get_ex(o, "claims", &claims) ||
	    !json_object_is_type(claims, json_type_object)) {
		json_object_put(o);
		return fail(ret_error, -EINVAL,
			    "The checkpoint '%s' is not version 1 with a \"claims\" object", path);
	}
	*ret = o;
	return 0;
}

int checkpoint_save(const char *path, struct json_object *checkpoint, char **ret_error)
{
	_cleanup_free_ char *tmp = NULL, *copy = strdup(path);
	_cleanup_close_ int fd = -1, dfd = -1;
	const char *text;
	size_t len, off = 0;

	if (!copy || asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	text = json_object_to_json_string_ext(checkpoint,
					      JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
	if (!text)
		return -ENOMEM;
	len = strlen(text);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return fail(ret_error, -errno, "Cannot write the checkpoint '%s': %s", tmp,
			    strerror(errno));
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0) {
			int r = -errno;

			unlink(tmp);
			return fail(ret_error, r, "Cannot write the checkpoint '%s': %s", tmp,
				    strerror(-r));
		}
		off += (size_t)n;
	}
	if (write(fd, "\n", 1) != 1 || fsync(fd) < 0 || rename(tmp, path) < 0) {
		int r = -errno;

		unlink(tmp);
		return fail(ret_error, r, "Cannot replace the checkpoint '%s': %s", path,
			    strerror(-r));
	}
	dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void)fsync(dfd);
	return 0;
}

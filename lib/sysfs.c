// SPDX-License-Identifier: LGPL-2.1-or-later
/* sysfs access below the context's root: the only place where vbus reads or writes sysfs. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sysfs.h"

/* sysfs attributes are at most a page; some (descriptions) are multi-line. */
#define SYSFS_MAX 8192

int sysfs_read(struct vbus_ctx *ctx, const char *path, char **ret)
{
	_cleanup_free_ char *p = vbus_path(ctx, path);
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -EBADF;
	size_t len = 0;
	ssize_t n;

	if (!p)
		return -ENOMEM;
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	buf = malloc(SYSFS_MAX + 1);
	if (!buf)
		return -ENOMEM;
	/* sysfs returns the whole attribute in the first read; a fake tree may need more. */
	while (len < SYSFS_MAX) {
		n = read(fd, buf + len, SYSFS_MAX - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		len += n;
	}
	while (len > 0 && isspace((unsigned char)buf[len - 1]))
		len--;
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	return 0;
}

int sysfs_readf(struct vbus_ctx *ctx, char **ret, const char *fmt, ...)
{
	_cleanup_free_ char *path = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&path, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	return sysfs_read(ctx, path, ret);
}

int sysfs_read_u64(struct vbus_ctx *ctx, const char *path, uint64_t *ret)
{
	_cleanup_free_ char *s = NULL;
	unsigned long long v;
	char *end;
	int r;

	r = sysfs_read(ctx, path, &s);
	if (r < 0)
		return r;
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

int sysfs_write(struct vbus_ctx *ctx, const char *path, const char *value)
{
	_cleanup_free_ char *p = vbus_path(ctx, path);
	_cleanup_close_ int fd = -EBADF;
	size_t len = strlen(value);
	ssize_t n;
	int r;

	if (!p)
		return -ENOMEM;
	ctx->changed_gen = ctx->lock_gen;
	/* Never O_CREAT: a missing attribute is an error on sysfs, so it is one on a fake root.
	 * O_TRUNC only off sysfs, where the file keeps its old content otherwise. */
	fd = open(p, O_WRONLY | O_CLOEXEC | O_NOCTTY | (ctx->real_root ? 0 : O_TRUNC));
	if (fd < 0) {
		r = -errno;
		dbg(ctx, "open %s: %s", p, strerror(-r));
		return r;
	}
	/* One write: a sysfs store sees exactly one buffer, a short write is a refusal. */
	n = write(fd, value, len);
	if (n < 0) {
		r = -errno;
		dbg(ctx, "write '%s' to %s: %s", value, p, strerror(-r));
		return r;
	}
	if ((size_t)n != len)
		return -EIO;
	r = close(fd);
	fd = -EBADF;
	if (r < 0)
		return -errno;
	dbg(ctx, "wrote '%s' to %s", value, p);
	if (ctx->sysfs_write_hook) {
		r = ctx->sysfs_write_hook(ctx, p, value, ctx->sysfs_write_hook_data);
		if (r < 0) {
			dbg(ctx, "write '%s' to %s refused by hook: %s", value, p, strerror(-r));
			return r;
		}
	}
	return 0;
}

int sysfs_writef(struct vbus_ctx *ctx, const char *value, const char *fmt, ...)
{
	_cleanup_free_ char *path = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&path, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	return sysfs_write(ctx, path, value);
}

bool sysfs_exists(struct vbus_ctx *ctx, const char *path)
{
	_cleanup_free_ char *p = vbus_path(ctx, path);

	return p && access(p, F_OK) == 0;
}

int sysfs_link_basename(struct vbus_ctx *ctx, const char *path, char **ret)
{
	_cleanup_free_ char *p = vbus_path(ctx, path);
	char buf[PATH_MAX];
	const char *base;
	ssize_t n;
	char *s;

	if (!p)
		return -ENOMEM;
	n = readlink(p, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	base = strrchr(buf, '/');
	base = base ? base + 1 : buf;
	if (!*base)
		return -EINVAL;
	s = strdup(base);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

char **sysfs_strv_free(char **l)
{
	if (!l)
		return NULL;
	for (char **i = l; *i; i++)
		free(*i);
	free(l);
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int sysfs_list_dir(struct vbus_ctx *ctx, const char *path, char ***ret, size_t *ret_n)
{
	_cleanup_free_ char *p = vbus_path(ctx, path);
	_cleanup_strv_ char **l = NULL;
	size_t n = 0, allocated = 0;
	struct dirent *de;
	DIR *d;

	if (!p)
		return -ENOMEM;
	d = opendir(p);
	if (!d)
		return -errno;
	l = calloc(1, sizeof(char *));
	if (!l)
		goto oom;
	allocated = 1;
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (n + 2 > allocated) {
			char **t = realloc(l, (allocated * 2 + 2) * sizeof(char *));

			if (!t)
				goto oom;
			l = t;
			allocated = allocated * 2 + 2;
		}
		l[n] = strdup(de->d_name);
		if (!l[n])
			goto oom;
		l[++n] = NULL;
	}
	closedir(d);
	qsort(l, n, sizeof(char *), cmp_str);
	if (ret_n)
		*ret_n = n;
	*ret = TAKE_PTR(l);
	return 0;
oom:
	closedir(d);
	return -ENOMEM;
}

int sysfs_list_entries(struct vbus_ctx *ctx, const char *path, char ***ret)
{
	int r;

	r = sysfs_list_dir(ctx, path, ret, NULL);
	if (r == -ENOENT) {
		*ret = calloc(1, sizeof(char *));
		return *ret ? 0 : -ENOMEM;
	}
	if (r < 0)
		return vbus_error(ctx, r, "cannot list %s: %s", path, strerror(-r));
	return 0;
}

/* The name of the directory holding what the link PATH points to: for a device link of a bus,
 * its parent device ("../../../devices/virtual/mtty/mtty/UUID" -> "mtty"). One readlink();
 * realpath() only when the link is not a plain path down from a common ancestor. */
int sysfs_link_parent_name(struct vbus_ctx *ctx, const char *path, char **ret)
{
	_cleanup_free_ char *p = vbus_path(ctx, path), *real = NULL;
	char buf[PATH_MAX], *slash, *s;
	ssize_t n;

	if (!p)
		return -ENOMEM;
	n = readlink(p, buf, sizeof(buf) - 1);
	if (n >= 0) {
		buf[n] = '\0';
		slash = strrchr(buf, '/');
		if (slash && slash != buf) {
			*slash = '\0';
			s = strrchr(buf, '/');
			s = s ? s + 1 : buf;
			if (*s && !streq(s, ".") && !streq(s, "..")) {
				s = strdup(s);
				if (!s)
					return -ENOMEM;
				*ret = s;
				return 0;
			}
		}
	}
	real = realpath(p, NULL);
	if (!real)
		return -errno;
	slash = strrchr(real, '/');
	if (!slash || slash == real)
		return -EINVAL;
	*slash = '\0';
	s = strrchr(real, '/');
	s = strdup(s ? s + 1 : real);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int sysfs_realpath(struct vbus_ctx *ctx, const char *path, char **ret)
{
	_cleanup_free_ char *p = vbus_path(ctx, path);
	char *s;

	if (!p)
		return -ENOMEM;
	s = realpath(p, NULL);
	if (!s)
		return -errno;
	*ret = s;
	return 0;
}

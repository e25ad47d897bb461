// SPDX-License-Identifier: LGPL-2.1-or-later
/* The library context: root directory, logging through the program's callback, last error. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vbus-private.h"

static const char *const kind_names[_VBUS_KIND_MAX] = {
    [VBUS_KIND_MDEV] = "mdev", [VBUS_KIND_VF] = "vf",		[VBUS_KIND_SF] = "sf",
    [VBUS_KIND_VDPA] = "vdpa", [VBUS_KIND_VIRTBUS] = "virtbus", [VBUS_KIND_PCI] = "pci",
    [VBUS_KIND_VGPU] = "vgpu",
};

static const char *const start_names[_VBUS_START_MAX] = {
    [VBUS_START_AUTO] = "auto",
    [VBUS_START_MANUAL] = "manual",
};

VBUS_EXPORT const char *vbus_kind_to_string(enum vbus_kind kind)
{
	if (kind < 0 || kind >= _VBUS_KIND_MAX)
		return NULL;
	return kind_names[kind];
}

VBUS_EXPORT enum vbus_kind vbus_kind_from_string(const char *s)
{
	if (!s)
		return _VBUS_KIND_INVALID;
	for (int i = 0; i < _VBUS_KIND_MAX; i++)
		if (streq(s, kind_names[i]))
			return i;
	return _VBUS_KIND_INVALID;
}

VBUS_EXPORT const char *vbus_start_to_string(enum vbus_start start)
{
	if (start < 0 || start >= _VBUS_START_MAX)
		return NULL;
	return start_names[start];
}

VBUS_EXPORT enum vbus_start vbus_start_from_string(const char *s)
{
	if (!s)
		return _VBUS_START_INVALID;
	for (int i = 0; i < _VBUS_START_MAX; i++)
		if (streq(s, start_names[i]))
			return i;
	return _VBUS_START_INVALID;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

VBUS_EXPORT bool vbus_name_is_valid(const char *name)
{
	size_t n;

	if (!name || !is_alnum(name[0]))
		return false;
	n = strlen(name);
	if (n > 64)
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_alnum(name[i]) && !strchr("_.:-", name[i]))
			return false;
	return true;
}

/* Kernel driver names: what a module or a driver directory under /sys/bus/X/drivers is called. */
VBUS_EXPORT bool vbus_driver_is_valid(const char *driver)
{
	size_t n;

	if (!driver || !driver[0])
		return false;
	n = strlen(driver);
	if (n > 64 || driver[0] == '.' || driver[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(driver[i]) && !strchr("_.-", driver[i]))
			return false;
	return true;
}

bool vbus_uuid_is_valid(const char *s)
{
	/* 8-4-4-4-12 hex digits: the dashes at 8, 13, 18 and 23. A NUL is no hex digit, so the
	 * loop stops at the end of a short string. */
	const uint64_t dashes = 1ULL << 8 | 1ULL << 13 | 1ULL << 18 | 1ULL << 23;

	if (!s)
		return false;
	for (int i = 0; i < 36; i++) {
		unsigned char c = s[i];

		if (dashes >> i & 1) {
			if (c != '-')
				return false;
		} else if (!((unsigned)(c - '0') < 10 || (unsigned)((c | 0x20) - 'a') < 6)) {
			return false;
		}
	}
	return s[36] == '\0';
}

static int log_level_from_string(const char *s)
{
	static const struct {
		const char *name;
		int level;
	} levels[] = {
	    {"err", VBUS_LOG_ERR},	 {"error", VBUS_LOG_ERR}, {"warning", VBUS_LOG_WARNING},
	    {"notice", VBUS_LOG_NOTICE}, {"info", VBUS_LOG_INFO}, {"debug", VBUS_LOG_DEBUG},
	};
	char *end;
	long l;

	for (size_t i = 0; i < ELEMENTSOF(levels); i++)
		if (streq(s, levels[i].name))
			return levels[i].level;
	l = strtol(s, &end, 10);
	if (*s && !*end && l >= 0 && l <= VBUS_LOG_DEBUG)
		return (int)l;
	return -EINVAL;
}

static int make_root(const char *root, char **ret)
{
	_cleanup_free_ char *abs = NULL;
	size_t n;

	if (!root || !root[0])
		root = "/";
	if (root[0] != '/') {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		if (asprintf(&abs, "%s/%s", streq(cwd, "/") ? "" : cwd, root) < 0)
			return -ENOMEM;
	} else {
		abs = strdup(root);
		if (!abs)
			return -ENOMEM;
	}
	/* No trailing slashes, but "/" stays "/". */
	n = strlen(abs);
	while (n > 1 && abs[n - 1] == '/')
		abs[--n] = '\0';
	*ret = TAKE_PTR(abs);
	return 0;
}

VBUS_EXPORT int vbus_ctx_new(const char *root, struct vbus_ctx **ret)
{
	struct vbus_ctx *ctx;
	const char *env;
	struct stat st;
	int r;

	if (!ret)
		return -EINVAL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->n_ref = 1;
	ctx->lock_fd = -1;
	ctx->run_journal_fd = -1;
	r = make_root(root, &ctx->root);
	if (r < 0) {
		free(ctx);
		return r;
	}
	if (stat(ctx->root, &st) < 0 || !S_ISDIR(st.st_mode)) {
		r = stat(ctx->root, &st) < 0 ? -errno : -ENOTDIR;
		free(ctx->root);
		free(ctx);
		return r;
	}
	ctx->real_root = streq(ctx->root, "/");
	ctx->log_level = VBUS_LOG_WARNING;
	env = secure_getenv("VBUS_LOG");
	if (env) {
		r = log_level_from_string(env);
		if (r >= 0)
			ctx->log_level = r;
	}
	*ret = ctx;
	return 0;
}

VBUS_EXPORT struct vbus_ctx *vbus_ctx_ref(struct vbus_ctx *ctx)
{
	if (ctx)
		ctx->n_ref++;
	return ctx;
}

VBUS_EXPORT struct vbus_ctx *vbus_ctx_unref(struct vbus_ctx *ctx)
{
	if (!ctx || --ctx->n_ref > 0)
		return NULL;
	for (int i = 0; i < _VBUS_KIND_MAX; i++) {
		const struct vbus_backend *be = vbus_ctx_backend(ctx, i);

		if (ctx->backend_data[i] && be && be->free_data)
			be->free_data(ctx, ctx->backend_data[i]);
		json_object_put(ctx->parent_types[i]);
	}
	if (ctx->lock_fd >= 0)
		close(ctx->lock_fd);
	if (ctx->run_journal_fd >= 0)
		close(ctx->run_journal_fd);
	vbus_policy_cache_free(ctx);
	json_object_put(ctx->sf_cache);
	json_object_put(ctx->sf_aux_seen);
	free(ctx->last_error);
	free(ctx->root);
	free(ctx);
	return NULL;
}

VBUS_EXPORT const char *vbus_ctx_get_root(struct vbus_ctx *ctx)
{
	return ctx->root;
}

VBUS_EXPORT void vbus_ctx_set_log_fn(struct vbus_ctx *ctx, vbus_log_fn fn, void *userdata)
{
	ctx->log_fn = fn;
	ctx->log_data = userdata;
}

VBUS_EXPORT void vbus_ctx_set_log_level(struct vbus_ctx *ctx, int level)
{
	ctx->log_level = level;
}

VBUS_EXPORT int vbus_ctx_get_log_level(struct vbus_ctx *ctx)
{
	return ctx->log_level;
}

VBUS_EXPORT const char *vbus_ctx_last_error(struct vbus_ctx *ctx)
{
	return ctx->last_error;
}

char *vbus_path(struct vbus_ctx *ctx, const char *p)
{
	if (ctx->real_root)
		return strdup(p);
	return vbus_strjoin(ctx->root, p[0] == '/' ? "" : "/", p, NULL);
}

char *vbus_strjoin(const char *first, ...)
{
	size_t len = 0;
	const char *a;
	va_list ap;
	char *s, *e;

	va_start(ap, first);
	for (a = first; a; a = va_arg(ap, const char *))
		len += strlen(a);
	va_end(ap);
	s = malloc(len + 1);
	if (!s)
		return NULL;
	e = s;
	va_start(ap, first);
	for (a = first; a; a = va_arg(ap, const char *))
		e = stpcpy(e, a);
	va_end(ap);
	return s;
}

char *vbus_pathf(struct vbus_ctx *ctx, const char *fmt, ...)
{
	_cleanup_free_ char *p = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0)
		return NULL;
	return vbus_path(ctx, p);
}

const char *vbus_path_display(struct vbus_ctx *ctx, const char *path)
{
	size_t n = strlen(ctx->root);

	if (ctx->real_root || strncmp(path, ctx->root, n) != 0 || (path[n] != '/' && path[n]))
		return path;
	return path[n] ? path + n : "/";
}

void vbus_log(struct vbus_ctx *ctx, int level, const char *file, int line, const char *fn,
	      const char *fmt, ...)
{
	va_list ap;

	if (!ctx->log_fn)
		return;
	va_start(ap, fmt);
	ctx->log_fn(ctx->log_data, level, file, line, fn, fmt, ap);
	va_end(ap);
}

int vbus_error(struct vbus_ctx *ctx, int err, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	free(ctx->last_error);
	ctx->last_error = r < 0 ? NULL : msg;
	if (ctx->last_error)
		dbg(ctx, "error (%s): %s", strerror(err < 0 ? -err : err), ctx->last_error);
	return err;
}

void vbus_error_clear(struct vbus_ctx *ctx)
{
	free(ctx->last_error);
	ctx->last_error = NULL;
}

char *vbus_error_take(struct vbus_ctx *ctx)
{
	return TAKE_PTR(ctx->last_error);
}

void vbus_error_restore(struct vbus_ctx *ctx, char *saved)
{
	free(ctx->last_error);
	ctx->last_error = saved;
}

void vbus_status_done(struct vbus_status *st)
{
	free(st->sysfs_path);
	free(st->bound_driver);
	st->sysfs_path = NULL;
	st->bound_driver = NULL;
	st->active = false;
	st->bound_by_match = false;
	st->partial = false;
}

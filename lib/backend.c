// SPDX-License-Identifier: LGPL-2.1-or-later
/* The backend table: one ops struct per kind, each from its own lib/backend-<kind>.c. */
#include <sys/epoll.h>
#include <unistd.h>

#include "vbus-private.h"

/*
 * Weak references: a kind whose backend file is not built yet (sf, vdpa and virtbus come
 * with the netlink issue) resolves to NULL here, lists nothing and refuses changes. Adding a
 * backend is adding its file to lib/meson.build; this table does not change.
 */
#pragma weak vbus_backend_mdev
#pragma weak vbus_backend_vf
#pragma weak vbus_backend_sf
#pragma weak vbus_backend_vdpa
#pragma weak vbus_backend_virtbus
#pragma weak vbus_backend_pci
#pragma weak vbus_backend_vgpu

static const struct vbus_backend *const backends[_VBUS_KIND_MAX] = {
    [VBUS_KIND_MDEV] = &vbus_backend_mdev,	 [VBUS_KIND_VF] = &vbus_backend_vf,
    [VBUS_KIND_SF] = &vbus_backend_sf,		 [VBUS_KIND_VDPA] = &vbus_backend_vdpa,
    [VBUS_KIND_VIRTBUS] = &vbus_backend_virtbus, [VBUS_KIND_PCI] = &vbus_backend_pci,
    [VBUS_KIND_VGPU] = &vbus_backend_vgpu,
};

const struct vbus_backend *vbus_backend_get(enum vbus_kind kind)
{
	if (kind < 0 || kind >= _VBUS_KIND_MAX)
		return NULL;
	return backends[kind];
}

const struct vbus_backend *vbus_ctx_backend(struct vbus_ctx *ctx, enum vbus_kind kind)
{
	if (kind < 0 || kind >= _VBUS_KIND_MAX)
		return NULL;
	if (ctx->backend_override[kind])
		return ctx->backend_override[kind];
	return backends[kind];
}

const struct vbus_kind_rules *vbus_kind_rules(enum vbus_kind kind)
{
	static const struct vbus_kind_rules none = { .a_kind = "a" };
	const struct vbus_backend *be = vbus_backend_get(kind);

	/* The kind's own table, not a test's override: the rules belong to the kind. */
	return be && be->rules ? be->rules : &none;
}

int vbus_backend_require(struct vbus_ctx *ctx, enum vbus_kind kind, const struct vbus_backend **ret)
{
	const struct vbus_backend *be;

	if (kind < 0 || kind >= _VBUS_KIND_MAX)
		return vbus_error(ctx, -EINVAL, "unknown kind");
	be = vbus_ctx_backend(ctx, kind);
	if (!be)
		return vbus_error(ctx, -EOPNOTSUPP, "kind %s is not supported yet",
				  vbus_kind_to_string(kind));
	*ret = be;
	return 0;
}

struct vbus_monitor {
	int epoll_fd;
	vbus_monitor_fn fn;
	void *userdata;
	const struct vbus_backend *be[_VBUS_KIND_MAX];
	void *handle[_VBUS_KIND_MAX];
};

struct vbus_monitor *vbus_monitor_free(struct vbus_monitor *m)
{
	if (!m)
		return NULL;
	for (int k = 0; k < _VBUS_KIND_MAX; k++)
		if (m->handle[k])
			m->be[k]->monitor_close(m->handle[k]);
	if (m->epoll_fd >= 0)
		close(m->epoll_fd);
	free(m);
	return NULL;
}

/* Joins the kinds that M does not follow yet; how many it follows now, or a failure. */
static int monitor_join(struct vbus_ctx *ctx, struct vbus_monitor *m, int *ret_err)
{
	int n = 0;

	*ret_err = -EOPNOTSUPP;
	for (int k = 0; k < _VBUS_KIND_MAX; k++) {
		const struct vbus_backend *be = vbus_ctx_backend(ctx, k);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = k };
		void *handle;
		int fd, r;

		if (m->handle[k]) {
			n++;
			continue;
		}
		if (!be || !be->monitor_open)
			continue;
		r = be->monitor_open(ctx, m->fn, m->userdata, &handle, &fd);
		if (r < 0) {
			/* its module is not loaded (yet): the others still count */
			vbus_error_clear(ctx);
			*ret_err = r;
			continue;
		}
		if (epoll_ctl(m->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			r = -errno;
			be->monitor_close(handle);
			return r;
		}
		m->be[k] = be;
		m->handle[k] = handle;
		n++;
	}
	return n;
}

int vbus_monitor_open(struct vbus_ctx *ctx, vbus_monitor_fn fn, void *userdata,
		      struct vbus_monitor **ret)
{
	struct vbus_monitor *m;
	int n, err;

	if (!streq(vbus_ctx_get_root(ctx), "/"))
		return -EOPNOTSUPP;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->fn = fn;
	m->userdata = userdata;
	m->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (m->epoll_fd < 0) {
		n = -errno;
		vbus_monitor_free(m);
		return n;
	}
	n = monitor_join(ctx, m, &err);
	if (n <= 0) {
		vbus_monitor_free(m);
		return n < 0 ? n : err;
	}
	*ret = m;
	return 0;
}

int vbus_monitor_join(struct vbus_ctx *ctx, struct vbus_monitor *m)
{
	int before = 0, n, err;

	for (int k = 0; k < _VBUS_KIND_MAX; k++)
		before += !!m->handle[k];
	n = monitor_join(ctx, m, &err);
	if (n < 0)
		return n;
	return n > before;
}

int vbus_monitor_fd(struct vbus_monitor *m)
{
	return m->epoll_fd;
}

int vbus_monitor_dispatch(struct vbus_monitor *m)
{
	struct epoll_event ev[_VBUS_KIND_MAX];
	int n, r = 0;

	n = epoll_wait(m->epoll_fd, ev, _VBUS_KIND_MAX, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		unsigned k = ev[i].data.u32;
		int q = k < _VBUS_KIND_MAX && m->handle[k] ? m->be[k]->monitor_dispatch(m->handle[k])
							   : 0;

		if (q < 0 && r == 0)
			r = q;
	}
	return r;
}

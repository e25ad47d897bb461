// SPDX-License-Identifier: LGPL-2.1-or-later
/* Stacks: a definition whose parent is "@NAME" stands on the device that definition NAME makes. */
#include <stdio.h>

#include "sysfs.h"
#include "vbus-private.h"

/* Deeper chains than this are refused (VF -> mdev, SF -> vDPA need two). */
#define STACK_MAX_DEPTH 8

const char *vbus_stack_ref(const struct vbus_def *def)
{
	return def && def->parent && def->parent[0] == '@' ? def->parent + 1 : NULL;
}

static const struct vbus_def *find(const struct vbus_def *def, struct vbus_def *const *defs,
				   size_t n, const char *name)
{
	if (streq(def->name, name))
		return def;
	for (size_t i = 0; i < n; i++)
		if (defs[i] && streq(defs[i]->name, name))
			return defs[i];
	return NULL;
}

/* "a -> b -> a": the chain from DEF up to where it came back, for the refusal of a cycle. */
static char *chain_text(const struct vbus_def *def, struct vbus_def *const *defs, size_t n,
			const char *last)
{
	const struct vbus_def *cur = def;
	char *s = strdup(def->name), *more;

	for (int depth = 0; s && cur && vbus_stack_ref(cur) && depth <= STACK_MAX_DEPTH; depth++) {
		const char *ref = vbus_stack_ref(cur);

		if (asprintf(&more, "%s -> %s", s, ref) < 0)
			more = NULL;
		free(s);
		s = more;
		if (streq(ref, last) && depth > 0)
			break;
		cur = find(def, defs, n, ref);
		if (cur == def)
			break;
	}
	return s;
}

int vbus_stack_check(struct vbus_ctx *ctx, const struct vbus_def *def,
		     struct vbus_def *const *defs, size_t n)
{
	const struct vbus_def *cur = def;
	const char *seen[STACK_MAX_DEPTH + 1];
	int depth = 0;

	if (!vbus_stack_ref(def))
		return 0;
	if (!vbus_name_is_valid(vbus_stack_ref(def)))
		return vbus_error(ctx, -EINVAL,
				  "'%s': parent \"%s\" names no valid definition (@NAME)",
				  def->name, def->parent);
	while (vbus_stack_ref(cur)) {
		const char *ref = vbus_stack_ref(cur);
		const struct vbus_def *up = find(def, defs, n, ref);

		seen[depth++] = cur->name;
		for (int i = 0; i < depth; i++)
			if (streq(seen[i], ref)) {
				_cleanup_free_ char *text = chain_text(def, defs, n, ref);

				if (streq(ref, def->name) && depth == 1)
					return vbus_error(ctx, -EINVAL,
							  "'%s' names itself as its parent (@%s)",
							  def->name, ref);
				return vbus_error(ctx, -ELOOP,
						  "'%s' is in a cycle of parents: %s", def->name,
						  text ?: "");
			}
		if (!up && vbus_store_exists(ctx, ref) > 0)
			return vbus_error(ctx, -EINVAL,
					  "'%s' stands on @%s, a template: name one of its devices "
					  "(@%s-PARENT-N)",
					  cur->name, ref, ref);
		if (!up)
			return vbus_error(ctx, -ENOENT,
					  "'%s' stands on @%s, and no definition '%s' exists",
					  cur->name, ref, ref);
		if (depth >= STACK_MAX_DEPTH)
			return vbus_error(ctx, -ELOOP,
					  "'%s' stands on a stack deeper than %d definitions",
					  def->name, STACK_MAX_DEPTH);
		cur = up;
	}
	return 0;
}

int vbus_stack_check_stored(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	struct vbus_def **defs = NULL;
	size_t n = 0;
	int r;

	if (!vbus_stack_ref(def))
		return 0;
	r = vbus_store_load_all(ctx, true, &defs, &n);
	if (r < 0)
		return r;
	r = vbus_stack_check(ctx, def, defs, n);
	vbus_defs_free(defs, n);
	return r;
}

int vbus_stack_dependents(struct vbus_ctx *ctx, const char *name, char **ret)
{
	struct vbus_def **defs = NULL;
	char *list = NULL, *more;
	size_t n = 0;
	int r;

	r = vbus_store_load_all(ctx, true, &defs, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		const char *ref = vbus_stack_ref(defs[i]), *tmpl = vbus_def_template(defs[i]);
		bool on_ours = false;

		/* NAME a template: what stands on one of its devices stands on it. */
		for (size_t k = 0; ref && k < n && !on_ours; k++)
			on_ours = streq(defs[k]->name, ref) &&
				  streq_ptr(vbus_def_template(defs[k]), name);
		if (!streq_ptr(ref, name) && !on_ours)
			continue;
		if (asprintf(&more, "%s%s'%s'%s%s%s", list ?: "", list ? ", " : "", defs[i]->name,
			     tmpl ? " (of '" : "", tmpl ?: "", tmpl ? "')" : "") < 0)
			r = -ENOMEM;
		else {
			free(list);
			list = more;
		}
	}
	vbus_defs_free(defs, n);
	if (r < 0) {
		free(list);
		return r;
	}
	*ret = list;
	return 0;
}

/* The name a kind's definitions give a device at SYSFS_PATH (inside the root) as their parent:
 * its sysfs name, or "BUS/NAME" for the kinds that name parents by handle (devlink, vdpa, vbus
 * management devices: "auxiliary/mlx5_core.sf.2", "pci/0000:08:00.2"). */
static int parent_name(struct vbus_ctx *ctx, enum vbus_kind kind, const char *sysfs_path,
		       char **ret)
{
	_cleanup_free_ char *sub = NULL, *bus = NULL;
	const char *base = strrchr(sysfs_path, '/');
	int r;

	base = base ? base + 1 : sysfs_path;
	if (!vbus_kind_rules(kind)->parent_handle) {
		*ret = strdup(base);
		return *ret ? 0 : -ENOMEM;
	}
	if (asprintf(&sub, "%s/subsystem", sysfs_path) < 0)
		return -ENOMEM;
	r = sysfs_link_basename(ctx, sub, &bus);
	if (r < 0)
		return r;
	return asprintf(ret, "%s/%s", bus, base) < 0 ? -ENOMEM : 0;
}

static int resolve(struct vbus_ctx *ctx, const struct vbus_def *def, int depth, char **ret)
{
	_cleanup_def_ struct vbus_def *up = NULL;
	const char *ref = vbus_stack_ref(def);
	const struct vbus_backend *be;
	struct vbus_run run = {};
	struct vbus_status st = {};
	int r;

	if (depth > STACK_MAX_DEPTH)
		return vbus_error(ctx, -ELOOP, "'%s' stands on a stack deeper than %d definitions",
				  def->name, STACK_MAX_DEPTH);
	/* What runs says where it runs (a run record holds the resolved parent); else the
	 * definition, resolved in turn. */
	if (vbus_run_load(ctx, ref, &run) >= 0) {
		up = TAKE_PTR(run.def);
		vbus_run_done(&run);
	} else {
		r = vbus_def_load(ctx, ref, &up);
		if (r == -ENOENT)
			return vbus_error(ctx, -ENOENT,
					  "'%s' stands on @%s, and no definition '%s' exists",
					  def->name, ref, ref);
		if (r < 0)
			return r;
		if (vbus_stack_ref(up)) {
			_cleanup_free_ char *p = NULL;

			r = resolve(ctx, up, depth + 1, &p);
			if (r < 0)
				return r;
			free(up->parent);
			up->parent = TAKE_PTR(p);
		}
	}
	be = vbus_ctx_backend(ctx, up->kind);
	if (!be || !be->status)
		return vbus_error(ctx, -EOPNOTSUPP, "'%s': its parent '%s' (kind %s) has no status",
				  def->name, ref, vbus_kind_to_string(up->kind) ?: "?");
	r = be->status(ctx, up, &st);
	if (r < 0)
		return vbus_plain_cause(ctx, up, r);
	if (!st.active) {
		vbus_status_done(&st);
		return vbus_error(ctx, -ENODEV, "parent definition '%s' of '%s' is not active", ref,
				  def->name);
	}
	{
		const char *root = vbus_ctx_get_root(ctx);
		const char *path = st.sysfs_path;

		/* sysfs_path is under the root; parent_name() wants it as seen inside. */
		if (!streq(root, "/") && strncmp(path, root, strlen(root)) == 0)
			path += strlen(root);
		r = parent_name(ctx, def->kind, path, ret);
	}
	vbus_status_done(&st);
	if (r < 0)
		return vbus_error(ctx, r, "'%s': cannot tell the device of its parent '%s': %s",
				  def->name, ref, strerror(-r));
	return 0;
}

int vbus_stack_resolve(struct vbus_ctx *ctx, const struct vbus_def *def, struct vbus_def **ret)
{
	_cleanup_def_ struct vbus_def *d = NULL;
	_cleanup_free_ char *p = NULL;
	int r;

	r = resolve(ctx, def, 0, &p);
	if (r < 0)
		return r;
	r = vbus_def_dup(def, &d);
	if (r < 0)
		return r;
	free(d->parent);
	d->parent = TAKE_PTR(p);
	*ret = TAKE_PTR(d);
	return 0;
}

int vbus_stack_depth(const struct vbus_def *def, struct vbus_def *const *defs, size_t n)
{
	const struct vbus_def *cur = def;
	int depth = 0;

	while (cur && vbus_stack_ref(cur) && depth < STACK_MAX_DEPTH) {
		cur = find(def, defs, n, vbus_stack_ref(cur));
		depth++;
	}
	return depth;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* Import: mdevctl's /etc/mdevctl.d/<parent>/<uuid> and driverctl's /etc/driverctl.d/<bus>-<dev>. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "vbus-private.h"

struct import {
	struct json_object *rep;
	struct vbus_define_batch batch; /* one read of the store for the whole import */
	bool raw; /* DIR came from the user: show paths as given, not as seen inside the root */
	/* What was imported, for take_ownership(): the report entry, the definition, the file. */
	struct imported {
		struct json_object *entry;
		struct vbus_def *def;
		char *path;
	} *done;
	size_t n_done;
};

static const char *shown(struct vbus_ctx *ctx, const struct import *im, const char *path)
{
	return im->raw ? path : vbus_path_display(ctx, path);
}

static int report(struct vbus_ctx *ctx, struct import *im, const char *name, const char *path,
		  bool imported, const char *reason)
{
	struct json_object *o = json_object_new_object();
	/* File names are bytes: shown escaped, so the report is text (D-Bus, a terminal). */
	_cleanup_free_ char *ename = name ? vbus_escape(name) : NULL;
	_cleanup_free_ char *epath = vbus_escape(shown(ctx, im, path));

	if (!o || (name && !ename) || !epath) {
		json_object_put(o);
		return -ENOMEM;
	}
	if (json_object_object_add(o, "name", name ? json_object_new_string(ename) : NULL) < 0 ||
	    json_object_object_add(o, "source", json_object_new_string(epath)) < 0 ||
	    json_object_object_add(o, "imported", json_object_new_boolean(imported)) < 0 ||
	    json_object_object_add(o, "reason", reason ? json_object_new_string(reason) : NULL) <
		0 ||
	    json_object_object_add(o, "moved_to", NULL) < 0 ||
	    json_object_array_add(im->rep, o) < 0) {
		json_object_put(o);
		return -ENOMEM;
	}
	return 0;
}

static int note_imported(struct import *im, const struct vbus_def *def, const char *path)
{
	struct imported *n = realloc(im->done, (im->n_done + 1) * sizeof(*n));
	struct imported *e;

	if (!n)
		return -ENOMEM;
	im->done = n;
	e = &n[im->n_done];
	*e = (struct imported){
	    .entry = json_object_array_get_idx(im->rep, json_object_array_length(im->rep) - 1),
	    .path = strdup(path)};
	if (!e->path || vbus_def_dup(def, &e->def) < 0) {
		free(e->path);
		return -ENOMEM;
	}
	im->n_done++;
	return 0;
}

static void import_done(struct import *im)
{
	for (size_t i = 0; i < im->n_done; i++) {
		vbus_def_free(im->done[i].def);
		free(im->done[i].path);
	}
	free(im->done);
	im->done = NULL;
	im->n_done = 0;
}

/* Defines DEF and reports the outcome. Only a store that cannot be written (out of memory,
 * read-only, full, I/O error) stops the import: every further file would fail the same way,
 * and the user must see the failure, not a report of skipped files with exit 0. */
static int import_def(struct vbus_ctx *ctx, struct import *im, struct vbus_def *def,
		      const char *path)
{
	_cleanup_free_ char *msg = NULL;
	int r;

	r = vbus_define_batch_add(ctx, &im->batch, def);
	if (r == -ENOMEM || r == -EROFS || r == -ENOSPC || r == -EDQUOT || r == -EIO)
		return r;
	if (r < 0)
		return report(ctx, im, def->name, path, false,
			      vbus_ctx_last_error(ctx) ?: strerror(-r));
	if (r > 0 && asprintf(&msg, "parent %s is not present; it will start when it appears",
			      def->parent) < 0)
		return -ENOMEM;
	r = report(ctx, im, def->name, path, true, msg);
	if (r < 0)
		return r;
	return note_imported(im, def, path);
}

static int skip(struct vbus_ctx *ctx, struct import *im, const char *name, const char *path, int r)
{
	if (r == -ENOMEM)
		return r;
	return report(ctx, im, name, path, false, vbus_ctx_last_error(ctx) ?: strerror(-r));
}

static int mdevctl_def(struct vbus_ctx *ctx, const char *parent, const char *uuid,
		       struct json_object *obj, struct vbus_def **ret)
{
	_cleanup_def_ struct vbus_def *def = NULL;
	struct json_object *v;
	int r;

	if (!vbus_uuid_is_valid(uuid))
		return vbus_error(ctx, -EINVAL, "the file name is not a uuid");
	if (!json_object_is_type(obj, json_type_object))
		return vbus_error(ctx, -EINVAL, "not a JSON object");
	r = vbus_def_new(&def);
	if (r < 0)
		return r;
	def->kind = VBUS_KIND_MDEV;
	def->name = strdup(uuid);
	def->uuid = strdup(uuid);
	def->parent = strdup(parent);
	if (!def->name || !def->uuid || !def->parent)
		return -ENOMEM;
	if (!json_object_object_get_ex(obj, "mdev_type", &v) ||
	    !json_object_is_type(v, json_type_string))
		return vbus_error(ctx, -EINVAL, "no \"mdev_type\"");
	def->type = strdup(json_object_get_string(v));
	if (!def->type)
		return -ENOMEM;
	if (json_object_object_get_ex(obj, "start", &v)) {
		def->start = vbus_start_from_string(json_object_get_string(v));
		if (def->start < 0 || !json_object_is_type(v, json_type_string))
			return vbus_error(ctx, -EINVAL, "\"start\" must be \"auto\" or \"manual\"");
	} else {
		def->start = VBUS_START_MANUAL;
	}
	if (json_object_object_get_ex(obj, "attrs", &v)) {
		size_t n;

		if (!json_object_is_type(v, json_type_array))
			return vbus_error(ctx, -EINVAL, "\"attrs\" must be an array");
		n = json_object_array_length(v);
		for (size_t i = 0; i < n; i++) {
			struct json_object *a = json_object_array_get_idx(v, i);

			if (!json_object_is_type(a, json_type_object) ||
			    json_object_object_length(a) != 1)
				return vbus_error(ctx, -EINVAL,
						  "\"attrs\" must hold one-key objects");
			json_object_object_foreach (a, key, val) {
				/* The file's contents are never echoed (the caller may not be
				 * allowed to read it): the position, not the key. */
				if (!json_object_is_type(val, json_type_string) &&
				    !json_object_is_type(val, json_type_int))
					return vbus_error(ctx, -EINVAL,
							  "attribute %zu must be a string", i + 1);
				r = vbus_def_add_attr(def, key, json_object_get_string(val));
				if (r < 0)
					return r == -EINVAL
						   ? vbus_error(ctx, r, "attribute without a name")
						   : r;
			}
		}
	}
	*ret = TAKE_PTR(def);
	return 0;
}

/*
 * The entries of DIR (a directory fd) in order, without "." files. A directory given over
 * D-Bus may be anyone's: nothing below it is followed when it is a link, only regular files of
 * bounded size are read, opened without blocking (see read_file_at()), and no content is echoed.
 */
static int open_dir_at(int dirfd, const char *name, bool nofollow)
{
	return openat(dirfd, name,
		      O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK | (nofollow ? O_NOFOLLOW : 0));
}

static int not_hidden(const struct dirent *de)
{
	return de->d_name[0] != '.';
}

static int import_mdevctl(struct vbus_ctx *ctx, const char *dir, struct import *im)
{
	_cleanup_close_ int dfd = -1;
	struct dirent **parents = NULL;
	int n, r = 0;

	dfd = open_dir_at(AT_FDCWD, dir, false);
	n = dfd < 0 ? -1 : scandirat(dfd, ".", &parents, not_hidden, vbus_dirent_cmp);
	if (n < 0) {
		r = -errno;
		return vbus_error(ctx, r, "cannot read %s: %s", shown(ctx, im, dir), strerror(-r));
	}
	for (int i = 0; i < n && r >= 0; i++) {
		_cleanup_free_ char *pdir = NULL;
		_cleanup_close_ int pfd = -1;
		struct dirent **files = NULL;
		int m;

		if (asprintf(&pdir, "%s/%s", dir, parents[i]->d_name) < 0) {
			r = -ENOMEM;
			break;
		}
		pfd = open_dir_at(dfd, parents[i]->d_name, true);
		m = pfd < 0 ? -1 : scandirat(pfd, ".", &files, not_hidden, vbus_dirent_cmp);
		if (m < 0) {
			struct stat st;

			/* O_NOFOLLOW | O_DIRECTORY on a link says ENOTDIR: ask what it is. */
			if (fstatat(dfd, parents[i]->d_name, &st, AT_SYMLINK_NOFOLLOW) >= 0 &&
			    S_ISLNK(st.st_mode))
				errno = ELOOP;
			if (errno == ELOOP)
				r = report(ctx, im, NULL, pdir, false,
					   "a symbolic link (not followed)");
			else if (errno != ENOTDIR)
				r = report(ctx, im, NULL, pdir, false, strerror(errno));
			continue;
		}
		for (int j = 0; j < m; j++) {
			_cleanup_json_ struct json_object *obj = NULL;
			_cleanup_def_ struct vbus_def *def = NULL;
			_cleanup_free_ char *path = NULL;
			const char *uuid = files[j]->d_name;
			int k;

			if (r < 0)
				continue;
			if (asprintf(&path, "%s/%s", pdir, uuid) < 0) {
				r = -ENOMEM;
				continue;
			}
			vbus_error_clear(ctx);
			k = vbus_read_json_file_at(ctx, pfd, uuid, O_NOFOLLOW, &obj);
			if (k >= 0)
				k = mdevctl_def(ctx, parents[i]->d_name, uuid, obj, &def);
			if (k >= 0) {
				vbus_uuid_lower(def->uuid);
				vbus_uuid_lower(def->name);
			}
			if (k < 0)
				r = skip(ctx, im, vbus_uuid_is_valid(uuid) ? uuid : NULL, path, k);
			else
				r = import_def(ctx, im, def, path);
		}
		for (int j = 0; j < m; j++)
			free(files[j]);
		free(files);
	}
	for (int i = 0; i < n; i++)
		free(parents[i]);
	free(parents);
	return r;
}

static int import_driverctl(struct vbus_ctx *ctx, const char *dir, struct import *im)
{
	_cleanup_close_ int dfd = -1;
	struct dirent **files = NULL;
	int n, r = 0;

	dfd = open_dir_at(AT_FDCWD, dir, false);
	n = dfd < 0 ? -1 : scandirat(dfd, ".", &files, not_hidden, vbus_dirent_cmp);
	if (n < 0) {
		r = -errno;
		return vbus_error(ctx, r, "cannot read %s: %s", shown(ctx, im, dir), strerror(-r));
	}
	for (int i = 0; i < n && r >= 0; i++) {
		_cleanup_def_ struct vbus_def *def = NULL;
		_cleanup_free_ char *path = NULL, *driver = NULL;
		const char *f = files[i]->d_name;
		int k;

		if (asprintf(&path, "%s/%s", dir, f) < 0) {
			r = -ENOMEM;
			break;
		}
		vbus_error_clear(ctx);
		if (strncmp(f, "pci-", 4) != 0 || !f[4]) {
			r = skip(ctx, im, NULL, path,
				 vbus_error(ctx, -EOPNOTSUPP,
					    "only overrides of pci devices can be imported"));
			continue;
		}
		if (!vbus_name_is_valid(f)) {
			r = skip(ctx, im, NULL, path,
				 vbus_error(ctx, -EINVAL, "the file name is not a valid name"));
			continue;
		}
		k = vbus_read_line_at(ctx, dfd, f, O_NOFOLLOW, &driver);
		if (k >= 0 && !vbus_driver_is_valid(driver))
			k = vbus_error(ctx, -EINVAL, "the file does not hold a driver name");
		if (k >= 0)
			k = vbus_def_new(&def);
		if (k < 0) {
			r = skip(ctx, im, f, path, k);
			continue;
		}
		def->kind = VBUS_KIND_PCI;
		def->name = strdup(f);
		def->parent = strdup(f + 4);
		def->driver = TAKE_PTR(driver);
		if (!def->name || !def->parent) {
			r = -ENOMEM;
			break;
		}
		r = import_def(ctx, im, def, path);
	}
	for (int i = 0; i < n; i++)
		free(files[i]);
	free(files);
	return r;
}

/* ---- after a successful import: vbus is the one owner ----------------------------------- */

/* FILE (below DIR) moved to BACKUP/ its path below DIR, across file systems if need be. */
static int move_aside(struct vbus_ctx *ctx, const char *dir, const char *file,
		      const char *backup, char **ret)
{
	_cleanup_free_ char *dst = NULL, *dstdir = NULL, *text = NULL;
	const char *rel = file + strlen(dir);
	char *slash;
	int r;

	while (*rel == '/')
		rel++;
	if (asprintf(&dst, "%s/%s", backup, rel) < 0 || !(dstdir = strdup(dst)))
		return -ENOMEM;
	slash = strrchr(dstdir, '/');
	*slash = '\0';
	r = vbus_mkdir_p(dstdir, 0755);
	if (r < 0)
		return vbus_error(ctx, r, "cannot create %s: %s", vbus_path_display(ctx, dstdir),
				  strerror(-r));
	if (rename(file, dst) < 0) {
		FILE *f;
		size_t n;

		if (errno != EXDEV)
			return vbus_error(ctx, -errno, "cannot move %s aside: %m", file);
		/* Another file system: a copy (the files are small), then the original goes. */
		f = fopen(file, "re");
		if (!f)
			return vbus_error(ctx, -errno, "cannot read %s: %m", file);
		text = calloc(1, 1024 * 1024 + 2);
		n = text ? fread(text, 1, 1024 * 1024 + 1, f) : 0;
		fclose(f);
		if (!text)
			return -ENOMEM;
		if (n > 1024 * 1024 || memchr(text, '\0', n))
			return vbus_error(ctx, -EFBIG, "cannot copy %s to %s: not a small text file",
					  file, dstdir);
		r = vbus_write_file_atomic(ctx, dstdir, slash + 1, text);
		if (r < 0)
			return r;
		if (unlink(file) < 0)
			return vbus_error(ctx, -errno, "cannot remove %s: %m", file);
	}
	*ret = TAKE_PTR(dst);
	return 0;
}

/*
 * The other tool must no longer start what vbus now owns: its files go into a backup directory
 * (unless KEEP), and a device running now is recorded as vbus's, so that vbusctl stop and start
 * work on it as the other tool's did. A file that cannot be moved is named in its entry's
 * "reason" and stays; that is no failure of the import.
 */
static int take_ownership(struct vbus_ctx *ctx, struct import *im, const char *source,
			  const char *dir, bool keep)
{
	_cleanup_free_ char *backup = NULL;
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	if (im->n_done == 0)
		return 0;
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", gmtime_r(&now, &tm));
	backup = vbus_pathf(ctx, "/etc/vbus/import-backup/%s-%s", source, stamp);
	if (!backup)
		return -ENOMEM;
	for (size_t i = 0; i < im->n_done; i++) {
		struct imported *e = &im->done[i];
		_cleanup_free_ char *moved = NULL;
		int r;

		r = vbus_run_take_over(ctx, e->def);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			warn(ctx, "'%s' runs, but vbus cannot record it as its own: %s", e->def->name,
			     vbus_ctx_last_error(ctx) ?: strerror(-r));
		vbus_error_clear(ctx);
		if (keep)
			continue;
		r = move_aside(ctx, dir, e->path, backup, &moved);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			if (json_object_object_add(e->entry, "reason",
						   json_object_new_string(vbus_ctx_last_error(ctx) ?:
									  strerror(-r))) < 0)
				return -ENOMEM;
			vbus_error_clear(ctx);
			continue;
		}
		if (json_object_object_add(e->entry, "moved_to",
					   json_object_new_string(shown(ctx, im, moved))) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int import_locked(struct vbus_ctx *ctx, const char *source, const char *dir,
			 unsigned flags, struct json_object **ret_report)
{
	_cleanup_json_ struct json_object *rep = NULL;
	_cleanup_free_ char *path = NULL;
	struct import im;
	bool mdevctl;
	int r;

	vbus_error_clear(ctx);
	if (!source || !(streq(source, "mdevctl") || streq(source, "driverctl")))
		return vbus_error(ctx, -EINVAL, "unknown import source \"%s\"", source ?: "");
	mdevctl = streq(source, "mdevctl");
	/* An explicit DIR is the user's path, not one under the root. */
	if (dir)
		path = strdup(dir);
	else
		path = vbus_path(ctx, mdevctl ? "/etc/mdevctl.d" : "/etc/driverctl.d");
	rep = json_object_new_array();
	if (!path || !rep)
		return -ENOMEM;
	im = (struct import){.rep = rep, .raw = dir != NULL};
	r = vbus_define_batch_begin(ctx, &im.batch);
	if (r >= 0) {
		int k;

		r = mdevctl ? import_mdevctl(ctx, path, &im) : import_driverctl(ctx, path, &im);
		/* The definitions are on disk before the other tool's files move aside. */
		k = vbus_define_batch_end(ctx, &im.batch);
		if (r >= 0)
			r = k;
	}
	if (r >= 0)
		r = take_ownership(ctx, &im, source, path, flags & VBUS_IMPORT_KEEP_SOURCE);
	import_done(&im);
	if (r < 0)
		return r;
	vbus_error_clear(ctx);
	*ret_report = TAKE_PTR(rep);
	return 0;
}

VBUS_EXPORT int vbus_import_with_flags(struct vbus_ctx *ctx, const char *source,
				       const char *dir, unsigned flags,
				       struct json_object **ret_report)
{
	int r;

	vbus_error_clear(ctx);
	if (flags & ~(unsigned)VBUS_IMPORT_KEEP_SOURCE)
		return vbus_error(ctx, -EINVAL, "unknown import flags 0x%x", flags);
	r = vbus_lock(ctx);
	if (r < 0)
		return r;
	r = import_locked(ctx, source, dir, flags, ret_report);
	vbus_unlock(ctx);
	return r;
}

VBUS_EXPORT int vbus_import(struct vbus_ctx *ctx, const char *source, const char *dir,
			    struct json_object **ret_report)
{
	return vbus_import_with_flags(ctx, source, dir, 0, ret_report);
}

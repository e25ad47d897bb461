// SPDX-License-Identifier: LGPL-2.1-or-later
/* Policy: which driver a sub-device gets on "auto", and which kind a purpose (--for) asks for. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>

#include "vbus-private.h"

/*
 * Policy files: ROOT/etc/vbus/policy.d/ *.json, read in lexical (strcmp) order on every
 * decision, so an edit takes effect without a reload. Schema, version 1:
 *
 *   { "version": 1,
 *     "rules": [
 *       { "match": { "kind": "vf" | ["vf", "pci"],   any of these kinds
 *                    "name": "vm1-*",                 glob (fnmatch) on the definition's name
 *                    "parent": "0000:03:*",           glob on the parent as the user writes it
 *                    "type": "i915-*",                glob on the mdev/vdpa/virtbus type
 *                    "vendor": "0x8086",              PCI ids of the parent, compared as numbers
 *                    "device": "0x1572",
 *                    "class": "0x02*",                glob on the parent's PCI class ("0x020000")
 *                    "tags": ["vm"] },                every tag listed must be on the definition
 *         "driver": "vfio" | "host" | "none" | "<driver name>",
 *         "adopt": true } ],                           also for devices vbus did not create
 *     "profiles": {
 *       "vm": { "driver": "vfio",                     driver choice for devices created --for vm
 *               "prefer": [ { "match": { "class": "0x02*" },   parent keys only: parent,
 *                             "kinds": ["vf", "vdpa"],         vendor, device, class
 *                             "driver": "vfio",                optional, overrides the above
 *                             "type": "nvidia-*" } ] },        optional, glob on the types
 *       "host": { ... } } }
 *
 * Every key is optional except "version". A rule without "match" matches everything. The first
 * matching rule over all files wins; then the built-in default of the kind (below). For a
 * purpose, "prefer" entries of all files are tried in order, then the built-in ones: the first
 * entry whose match fits the parent yields the first of its kinds that the parent offers
 * ("vm" never yields sf: an SF cannot be given to a VM). A kind with types (mdev, virtbus, or
 * any when the entry names "type") gets the type with the most available instances among those
 * the entry's "type" glob matches (all when it names none).
 * A file with an unknown key, a wrong type or an invalid value is reported by name through the
 * log callback and ignored as a whole: half a policy is worse than none.
 */

#define POLICY_DIR "/etc/vbus/policy.d"

static const char *const default_choice[_VBUS_KIND_MAX] = {
	[VBUS_KIND_MDEV] = VBUS_DRIVER_HOST,   [VBUS_KIND_VF] = VBUS_DRIVER_VFIO,
	[VBUS_KIND_SF] = VBUS_DRIVER_HOST,     [VBUS_KIND_VDPA] = VBUS_DRIVER_VFIO,
	[VBUS_KIND_VIRTBUS] = VBUS_DRIVER_HOST, [VBUS_KIND_PCI] = VBUS_DRIVER_VFIO,
	[VBUS_KIND_VGPU] = VBUS_DRIVER_VFIO,
};

/* The built-in purpose profiles, in the schema of a policy file, tried after the files. */
static const char builtin_profiles[] =
	"{ \"vm\": { \"driver\": \"vfio\", \"prefer\": ["
	"    { \"match\": { \"class\": \"0x03*\" }, \"kinds\": [ \"mdev\", \"vgpu\", \"vf\" ] },"
	"    { \"match\": { \"class\": \"0x02*\" }, \"kinds\": [ \"vf\", \"vdpa\" ] },"
	"    { \"kinds\": [ \"mdev\", \"vf\", \"vdpa\", \"virtbus\" ] } ] },"
	"  \"host\": { \"driver\": \"host\", \"prefer\": ["
	"    { \"match\": { \"class\": \"0x02*\" }, \"kinds\": [ \"sf\", \"vf\" ] },"
	"    { \"kinds\": [ \"vf\", \"sf\", \"mdev\", \"virtbus\", \"vdpa\" ] } ] } }";

struct policy {
	struct json_object *rules;    /* array of rule objects, all files in order */
	struct json_object *profiles; /* purpose -> {"driver": first seen, "prefer": [all]} */
	bool builtin;                 /* the built-in profiles are merged (policy_profiles()) */
};

static void policy_done(struct policy *p)
{
	json_object_putp(&p->rules);
	json_object_putp(&p->profiles);
}

/* ---- validation ---------------------------------------------------------------------------- */

static bool is_type(struct json_object *o, enum json_type t)
{
	return o && json_object_is_type(o, t);
}

static bool driver_choice_is_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || streq(s, VBUS_DRIVER_AUTO))
		return false;
	for (const char *c = s; *c; c++)
		if (!(('a' <= *c && *c <= 'z') || ('A' <= *c && *c <= 'Z') ||
		      ('0' <= *c && *c <= '9') || *c == '_' || *c == '-' || *c == '.'))
			return false;
	return true;
}

static int parse_hex_id(const char *s, unsigned long *ret)
{
	char *end;
	unsigned long v;

	if (!s || strncmp(s, "0x", 2) != 0 || !s[2])
		return -EINVAL;
	errno = 0;
	v = strtoul(s + 2, &end, 16);
	if (errno || *end || v > 0xffff)
		return -EINVAL;
	*ret = v;
	return 0;
}

static bool kind_list_is_valid(struct json_object *v, bool array_only)
{
	if (!array_only && is_type(v, json_type_string))
		return vbus_kind_from_string(json_object_get_string(v)) >= 0;
	if (!is_type(v, json_type_array) || json_object_array_length(v) == 0)
		return false;
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		struct json_object *k = json_object_array_get_idx(v, i);

		if (!is_type(k, json_type_string) ||
		    vbus_kind_from_string(json_object_get_string(k)) < 0)
			return false;
	}
	return true;
}

/* Validates a "match" object; PARENT_ONLY for profiles, which match a parent, not a device.
 * On failure *ret_key names the offending key. */
static bool match_is_valid(struct json_object *m, bool parent_only, const char **ret_key)
{
	unsigned long id;

	if (!is_type(m, json_type_object)) {
		*ret_key = "match";
		return false;
	}
	json_object_object_foreach(m, key, v) {
		bool ok;

		*ret_key = key;
		if (streq(key, "parent") || streq(key, "class"))
			ok = is_type(v, json_type_string);
		else if (streq(key, "vendor") || streq(key, "device"))
			ok = is_type(v, json_type_string) &&
			     parse_hex_id(json_object_get_string(v), &id) == 0;
		else if (parent_only)
			ok = false;
		else if (streq(key, "name") || streq(key, "type"))
			ok = is_type(v, json_type_string);
		else if (streq(key, "kind"))
			ok = kind_list_is_valid(v, false);
		else if (streq(key, "tags")) {
			ok = is_type(v, json_type_array);
			for (size_t i = 0; ok && i < json_object_array_length(v); i++)
				ok = is_type(json_object_array_get_idx(v, i), json_type_string);
		} else
			ok = false;
		if (!ok)
			return false;
	}
	return true;
}

static bool driver_value_is_valid(struct json_object *d)
{
	return is_type(d, json_type_string) && driver_choice_is_valid(json_object_get_string(d));
}

static bool rule_is_valid(struct json_object *r, const char **ret_key)
{
	if (!is_type(r, json_type_object)) {
		*ret_key = "rules";
		return false;
	}
	*ret_key = "driver";
	if (!driver_value_is_valid(json_object_object_get(r, "driver")))
		return false;
	json_object_object_foreach(r, key, v) {
		*ret_key = key;
		if (streq(key, "match")) {
			if (!match_is_valid(v, false, ret_key))
				return false;
		} else if (streq(key, "adopt")) {
			if (!is_type(v, json_type_boolean))
				return false;
		} else if (!streq(key, "driver"))
			return false;
	}
	return true;
}

static bool profile_is_valid(struct json_object *p, const char **ret_key)
{
	if (!is_type(p, json_type_object))
		return false;
	json_object_object_foreach(p, key, v) {
		*ret_key = key;
		if (streq(key, "driver")) {
			if (!driver_value_is_valid(v))
				return false;
		} else if (streq(key, "prefer")) {
			if (!is_type(v, json_type_array))
				return false;
			for (size_t i = 0; i < json_object_array_length(v); i++) {
				struct json_object *e = json_object_array_get_idx(v, i);

				if (!is_type(e, json_type_object))
					return false;
				*ret_key = "kinds";
				if (!kind_list_is_valid(json_object_object_get(e, "kinds"), true))
					return false;
				json_object_object_foreach(e, ekey, ev) {
					*ret_key = ekey;
					if (streq(ekey, "match")) {
						if (!match_is_valid(ev, true, ret_key))
							return false;
					} else if (streq(ekey, "driver")) {
						if (!driver_value_is_valid(ev))
							return false;
					} else if (streq(ekey, "type")) {
						if (!is_type(ev, json_type_string))
							return false;
					} else if (!streq(ekey, "kinds"))
						return false;
				}
			}
		} else
			return false;
	}
	return true;
}

/* Checks a whole file; on failure *ret_key names what is wrong. */
static bool file_is_valid(struct json_object *f, const char **ret_key)
{
	struct json_object *v;

	*ret_key = "top level";
	if (!is_type(f, json_type_object))
		return false;
	*ret_key = "version";
	v = json_object_object_get(f, "version");
	if (!is_type(v, json_type_int) || json_object_get_int(v) != 1)
		return false;
	json_object_object_foreach(f, key, val) {
		*ret_key = key;
		if (streq(key, "version"))
			continue;
		if (streq(key, "rules")) {
			if (!is_type(val, json_type_array))
				return false;
			for (size_t i = 0; i < json_object_array_length(val); i++)
				if (!rule_is_valid(json_object_array_get_idx(val, i), ret_key))
					return false;
		} else if (streq(key, "profiles")) {
			if (!is_type(val, json_type_object))
				return false;
			json_object_object_foreach(val, purpose, prof) {
				*ret_key = purpose;
				if (!profile_is_valid(prof, ret_key))
					return false;
			}
		} else
			return false;
	}
	return true;
}

/* ---- loading ------------------------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strv_freep(char ***p)
{
	if (!*p)
		return;
	for (char **s = *p; *s; s++)
		free(*s);
	free(*p);
}

/* Merges profiles of one file (or the built-ins) into P->profiles. */
static int merge_profiles(struct policy *p, struct json_object *profiles)
{
	json_object_object_foreach(profiles, purpose, prof) {
		struct json_object *dst, *prefer, *dst_prefer, *d;

		if (!json_object_object_get_ex(p->profiles, purpose, &dst)) {
			dst = json_object_new_object();
			dst_prefer = json_object_new_array();
			if (!dst || !dst_prefer ||
			    json_object_object_add(dst, "prefer", dst_prefer) < 0) {
				json_object_put(dst);
				json_object_put(dst_prefer);
				return -ENOMEM;
			}
			if (json_object_object_add(p->profiles, purpose, dst) < 0) {
				json_object_put(dst);
				return -ENOMEM;
			}
		}
		dst_prefer = json_object_object_get(dst, "prefer");
		/* The first file naming a purpose's driver decides it. */
		d = json_object_object_get(prof, "driver");
		if (d && !json_object_object_get(dst, "driver") &&
		    json_object_object_add(dst, "driver", json_object_get(d)) < 0)
			return -ENOMEM;
		prefer = json_object_object_get(prof, "prefer");
		for (size_t i = 0; prefer && i < json_object_array_length(prefer); i++)
			if (json_object_array_add(dst_prefer,
						  json_object_get(json_object_array_get_idx(prefer, i))) < 0)
				return -ENOMEM;
	}
	return 0;
}

static int policy_add_file(struct vbus_ctx *ctx, struct policy *p, const char *path,
			   const char *name)
{
	_cleanup_json_ struct json_object *f = NULL;
	struct json_object *rules, *profiles;
	const char *key = NULL;
	int r;

	/* The store's reader: a regular file of bounded size, never a FIFO that blocks. */
	r = vbus_read_json_file(ctx, path, &f);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		warn(ctx, "policy %s: not valid JSON, ignored: %s", name,
		     vbus_ctx_last_error(ctx) ?: strerror(-r));
		vbus_error_clear(ctx);
		return 0;
	}
	if (!file_is_valid(f, &key)) {
		warn(ctx, "policy %s: invalid key or value '%s', ignored", name, key);
		return 0;
	}
	rules = json_object_object_get(f, "rules");
	for (size_t i = 0; rules && i < json_object_array_length(rules); i++)
		if (json_object_array_add(p->rules,
					  json_object_get(json_object_array_get_idx(rules, i))) < 0)
			return -ENOMEM;
	profiles = json_object_object_get(f, "profiles");
	if (profiles) {
		r = merge_profiles(p, profiles);
		if (r < 0)
			return r;
	}
	dbg(ctx, "policy %s loaded", name);
	return 0;
}

static int policy_read(struct vbus_ctx *ctx, struct policy *ret)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_(strv_freep) char **names = NULL;
	struct policy p = {};
	size_t n = 0, allocated = 0;
	DIR *d;
	struct dirent *de;
	int r = 0;

	p.rules = json_object_new_array();
	p.profiles = json_object_new_object();
	if (!p.rules || !p.profiles) {
		policy_done(&p);
		return -ENOMEM;
	}
	dir = vbus_path(ctx, POLICY_DIR);
	if (!dir) {
		policy_done(&p);
		return -ENOMEM;
	}
	d = opendir(dir);
	if (!d) {
		if (errno != ENOENT)
			warn(ctx, "policy: cannot read %s: %s", dir, strerror(errno));
		goto builtin;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len < 6 || !streq(de->d_name + len - 5, ".json"))
			continue;
		if (n + 2 > allocated) {
			size_t na = allocated ? allocated * 2 : 8;
			char **nn = realloc(names, na * sizeof(char *));

			if (!nn) {
				r = -ENOMEM;
				break;
			}
			names = nn;
			allocated = na;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			r = -ENOMEM;
			break;
		}
		names[++n] = NULL;
	}
	closedir(d);
	if (r < 0) {
		policy_done(&p);
		return r;
	}
	if (n)
		qsort(names, n, sizeof(char *), name_cmp);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = NULL;

		if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
			policy_done(&p);
			return -ENOMEM;
		}
		r = policy_add_file(ctx, &p, path, names[i]);
		if (r < 0) {
			policy_done(&p);
			return r;
		}
	}

builtin:
	/* The built-in profiles follow the files' when a purpose is first asked for: a
	 * listing, which only matches rules, does not parse them. */
	*ret = p;
	return 0;
}

/* P's profiles, the built-in ones merged after the files' the first time. */
static int policy_profiles(struct policy *p, struct json_object **ret)
{
	if (!p->builtin) {
		_cleanup_json_ struct json_object *b = json_tokener_parse(builtin_profiles);
		int r = b ? merge_profiles(p, b) : -ENOMEM;

		if (r < 0)
			return r;
		p->builtin = true;
	}
	*ret = p->profiles;
	return 0;
}

/*
 * The policy read last, kept in the context while policy.d stays as it was: the same files
 * (the directory's mtime and inode) with the same mtime, size and inode each. A start checks
 * that with a stat() per file instead of reading and parsing them all again.
 */
struct stamp {
	char *name; /* NULL for the directory */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct policy_cache {
	struct policy p;
	bool dir_exists;
	/* A file written in the last second may be written again within the same mtime tick
	 * without a trace in its stamp (git's "racy" files): such a cache is not trusted. */
	bool racy;
	/* Read with warnings off (a listing's wanted driver): the next caller that would show
	 * them reads it again, so that they are given. */
	bool quiet;
	struct stamp dir;
	struct stamp *files;
	size_t n_files;
	/* Read while the lock was held for the lock_gen-th time (0: not under the lock): one
	 * operation (a reconcile starting 500 devices) reads policy.d once, racy or not. */
	unsigned gen;
};

static bool is_recent(const struct stat *st)
{
	struct timespec now;

	if (clock_gettime(CLOCK_REALTIME, &now) < 0)
		return true;
	return st->st_mtim.tv_sec >= now.tv_sec - 1;
}

static void stamp_of(const struct stat *st, struct stamp *s)
{
	s->dev = st->st_dev;
	s->ino = st->st_ino;
	s->size = st->st_size;
	s->mtime = st->st_mtim;
}

static bool stamp_eq(const struct stamp *a, const struct stamp *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

void vbus_policy_cache_free(struct vbus_ctx *ctx)
{
	struct policy_cache *c = ctx->policy_cache;

	if (!c)
		return;
	policy_done(&c->p);
	for (size_t i = 0; i < c->n_files; i++)
		free(c->files[i].name);
	free(c->files);
	free(c);
	ctx->policy_cache = NULL;
}

/* The stamps of the *.json files of the directory DFD as they are now (one that cannot be
 * stat'ed is left out: reading it fails the same way and says why). */
static int take_stamps(int dfd, struct policy_cache *c)
{
	DIR *d;
	struct dirent *de;
	int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		struct stamp *f;
		struct stat st;

		if (de->d_name[0] == '.' || len < 6 || !streq(de->d_name + len - 5, ".json"))
			continue;
		if (fstatat(dfd, de->d_name, &st, 0) < 0)
			continue;
		if (is_recent(&st))
			c->racy = true;
		f = realloc(c->files, (c->n_files + 1) * sizeof(*f));
		if (!f) {
			closedir(d);
			return -ENOMEM;
		}
		c->files = f;
		f = &c->files[c->n_files];
		stamp_of(&st, f);
		f->name = strdup(de->d_name);
		if (!f->name) {
			closedir(d);
			return -ENOMEM;
		}
		c->n_files++;
	}
	closedir(d);
	return 0;
}

static bool cache_valid(const struct policy_cache *c, int dfd, const struct stat *dst)
{
	struct stamp now;

	if (!c || c->racy)
		return false;
	if (dfd < 0)
		return !c->dir_exists;
	if (!c->dir_exists)
		return false;
	stamp_of(dst, &now);
	if (!stamp_eq(&now, &c->dir))
		return false;
	for (size_t i = 0; i < c->n_files; i++) {
		struct stat st;

		if (fstatat(dfd, c->files[i].name, &st, 0) < 0)
			return false;
		stamp_of(&st, &now);
		if (!stamp_eq(&now, &c->files[i]))
			return false;
	}
	return true;
}

/* The policy, read again only when policy.d changed. Owned by CTX: valid until the next call. */
static int policy_load(struct vbus_ctx *ctx, struct policy **ret)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_close_ int dfd = -1;
	struct policy_cache *c;
	struct stat dst;
	int r;

	c = ctx->policy_cache;
	if (c && (ctx->policy_pinned || (ctx->lock_depth > 0 && c->gen == ctx->lock_gen)) &&
	    !(c->quiet && ctx->log_level >= VBUS_LOG_WARNING)) {
		*ret = &c->p;
		return 0;
	}
	dir = vbus_path(ctx, POLICY_DIR);
	if (!dir)
		return -ENOMEM;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0 && fstat(dfd, &dst) < 0)
		return -errno;
	if (cache_valid(ctx->policy_cache, dfd, &dst) &&
	    !(((struct policy_cache *)ctx->policy_cache)->quiet &&
	      ctx->log_level >= VBUS_LOG_WARNING)) {
		c = ctx->policy_cache;
		c->gen = ctx->lock_depth > 0 ? ctx->lock_gen : 0;
		*ret = &c->p;
		return 0;
	}
	vbus_policy_cache_free(ctx);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	/* Stamps first: a file changed while it is read is read again next time. */
	if (dfd >= 0) {
		c->dir_exists = true;
		c->racy = is_recent(&dst);
		stamp_of(&dst, &c->dir);
		r = take_stamps(dfd, c);
		if (r < 0)
			goto fail;
	}
	r = policy_read(ctx, &c->p);
	if (r < 0)
		goto fail;
	c->quiet = ctx->log_level < VBUS_LOG_WARNING;
	c->gen = ctx->lock_depth > 0 ? ctx->lock_gen : 0;
	ctx->policy_cache = c;
	*ret = &c->p;
	return 0;
fail:
	ctx->policy_cache = c;
	vbus_policy_cache_free(ctx);
	return r;
}

/* ---- matching ------------------------------------------------------------------------------ */

/* What policy knows of a parent: its name and, when it is a PCI function, its ids. */
struct parent_info {
	const char *name;
	bool pci;
	unsigned long vendor, device;
	char class[16];
};

static int read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	if (!fgets(buf, size, f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* "pci/0000:03:00.0" (devlink, vdpa) names the PCI function 0000:03:00.0. */
static const char *parent_bdf(const char *parent)
{
	return strncmp(parent, "pci/", 4) == 0 ? parent + 4 : parent;
}

static int parent_info_get(struct vbus_ctx *ctx, const char *parent, struct parent_info *ret)
{
	struct parent_info pi = { .name = parent };
	const char *bdf = parent_bdf(parent);
	char buf[32];

	/* A name with a '/' beyond "pci/" or ".." is not a PCI function; never build a path
	 * out of it. */
	if (!strchr(bdf, '/') && !strstr(bdf, "..")) {
		_cleanup_free_ char *v = vbus_pathf(ctx, "/sys/bus/pci/devices/%s/vendor", bdf);
		_cleanup_free_ char *d = vbus_pathf(ctx, "/sys/bus/pci/devices/%s/device", bdf);
		_cleanup_free_ char *c = vbus_pathf(ctx, "/sys/bus/pci/devices/%s/class", bdf);

		if (!v || !d || !c)
			return -ENOMEM;
		if (read_line(v, buf, sizeof(buf)) == 0 && parse_hex_id(buf, &pi.vendor) == 0 &&
		    read_line(d, buf, sizeof(buf)) == 0 && parse_hex_id(buf, &pi.device) == 0) {
			pi.pci = true;
			if (read_line(c, pi.class, sizeof(pi.class)) < 0)
				pi.class[0] = 0;
		}
	}
	*ret = pi;
	return 0;
}

static bool glob_matches(struct json_object *m, const char *key, const char *value)
{
	struct json_object *v;

	if (!json_object_object_get_ex(m, key, &v))
		return true;
	return value && fnmatch(json_object_get_string(v), value, 0) == 0;
}

static bool id_matches(struct json_object *m, const char *key, const struct parent_info *pi,
		       unsigned long value)
{
	struct json_object *v;
	unsigned long want;

	if (!json_object_object_get_ex(m, key, &v))
		return true;
	return pi->pci && parse_hex_id(json_object_get_string(v), &want) == 0 && want == value;
}

static bool parent_matches(struct json_object *m, const struct parent_info *pi)
{
	if (!m)
		return true;
	return glob_matches(m, "parent", pi->name) && id_matches(m, "vendor", pi, pi->vendor) &&
	       id_matches(m, "device", pi, pi->device) &&
	       glob_matches(m, "class", pi->pci && pi->class[0] ? pi->class : NULL);
}

static bool def_has_tag(const struct vbus_def *def, const char *tag)
{
	for (size_t i = 0; i < def->n_tags; i++)
		if (streq(def->tags[i], tag))
			return true;
	return false;
}

static bool rule_matches(struct json_object *rule, const struct vbus_def *def,
			 const struct parent_info *pi)
{
	struct json_object *m = json_object_object_get(rule, "match"), *v;

	if (!m)
		return true;
	if (json_object_object_get_ex(m, "kind", &v)) {
		bool any = false;

		if (json_object_is_type(v, json_type_string))
			any = vbus_kind_from_string(json_object_get_string(v)) == def->kind;
		for (size_t i = 0; !any && json_object_is_type(v, json_type_array) &&
				   i < json_object_array_length(v);
		     i++)
			any = vbus_kind_from_string(json_object_get_string(
				      json_object_array_get_idx(v, i))) == def->kind;
		if (!any)
			return false;
	}
	if (!glob_matches(m, "name", def->name) || !glob_matches(m, "type", def->type))
		return false;
	if (json_object_object_get_ex(m, "tags", &v))
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (!def_has_tag(def, json_object_get_string(json_object_array_get_idx(v, i))))
				return false;
	return parent_matches(m, pi);
}

/* ---- decisions ----------------------------------------------------------------------------- */

/* ADOPT: only the rules with "adopt": true (for a device vbus did not create). */
static int rule_driver(struct vbus_ctx *ctx, const struct vbus_def *def, bool adopt, char **ret)
{
	struct policy *p;
	struct parent_info pi;
	const char *choice = NULL;
	char *s = NULL;
	int r;

	if (def->kind < 0 || def->kind >= _VBUS_KIND_MAX)
		return vbus_error(ctx, -EINVAL, "%s: unknown kind", def->name);
	r = policy_load(ctx, &p);
	if (r < 0)
		return r;
	/* No rule: nothing to match, and the parent's ids are not read (once per definition of
	 * a listing). */
	if (json_object_array_length(p->rules) == 0) {
		*ret = NULL;
		return 0;
	}
	r = parent_info_get(ctx, def->parent ? def->parent : "", &pi);
	if (r < 0)
		return r;
	for (size_t i = 0; i < json_object_array_length(p->rules); i++) {
		struct json_object *rule = json_object_array_get_idx(p->rules, i);

		/* What vbus did not create is someone else's: only a rule that says so acts. */
		if (adopt && !json_object_get_boolean(json_object_object_get(rule, "adopt")))
			continue;
		if (rule_matches(rule, def, &pi)) {
			choice = json_object_get_string(json_object_object_get(rule, "driver"));
			dbg(ctx, "%s: policy rule %zu picks driver %s%s", def->name, i, choice,
			    adopt ? " (adopt)" : "");
			break;
		}
	}
	if (choice && !(s = strdup(choice)))
		return -ENOMEM;
	*ret = s;
	return 0;
}

int vbus_policy_rule_driver(struct vbus_ctx *ctx, const struct vbus_def *def, char **ret)
{
	return rule_driver(ctx, def, false, ret);
}

int vbus_policy_adopt_driver(struct vbus_ctx *ctx, const struct vbus_def *def, char **ret)
{
	return rule_driver(ctx, def, true, ret);
}

int vbus_policy_resolve_driver(struct vbus_ctx *ctx, const struct vbus_def *def, char **ret)
{
	char *s;
	int r;

	r = vbus_policy_rule_driver(ctx, def, &s);
	if (r < 0)
		return r;
	if (!s && !(s = strdup(default_choice[def->kind])))
		return -ENOMEM;
	*ret = s;
	return 0;
}

/*
 * The kind PURPOSE's profile gives PARENT among OFFERED, the driver choice and the entry's type
 * glob (*ret_type NULL when it names none; it points into the policy: valid until the next
 * policy_load()).
 */
static int pick_among(struct vbus_ctx *ctx, const char *parent, const char *purpose,
		      unsigned offered, enum vbus_kind *ret_kind, char **ret_driver,
		      const char **ret_type)
{
	struct policy *p;
	struct json_object *profiles, *prof, *prefer, *d, *t;
	struct parent_info pi;
	bool vm = streq(purpose, "vm");
	int r;

	if (!parent || !purpose)
		return -EINVAL;
	r = policy_load(ctx, &p);
	if (r < 0)
		return r;
	r = policy_profiles(p, &profiles);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(profiles, purpose, &prof))
		return vbus_error(ctx, -EINVAL, "no policy profile for purpose '%s'", purpose);
	r = parent_info_get(ctx, parent, &pi);
	if (r < 0)
		return r;
	prefer = json_object_object_get(prof, "prefer");
	for (size_t i = 0; i < json_object_array_length(prefer); i++) {
		struct json_object *e = json_object_array_get_idx(prefer, i);
		struct json_object *kinds = json_object_object_get(e, "kinds");

		if (!parent_matches(json_object_object_get(e, "match"), &pi))
			continue;
		for (size_t k = 0; k < json_object_array_length(kinds); k++) {
			enum vbus_kind kind = vbus_kind_from_string(
				json_object_get_string(json_object_array_get_idx(kinds, k)));
			char *s;

			if (kind < 0 || !(offered & (1u << kind)))
				continue;
			/* A VM takes a PCI function or a vhost device; an SF is neither. */
			if (vm && kind == VBUS_KIND_SF)
				continue;
			d = json_object_object_get(e, "driver");
			if (!d)
				d = json_object_object_get(prof, "driver");
			s = strdup(d ? json_object_get_string(d) : VBUS_DRIVER_AUTO);
			if (!s)
				return -ENOMEM;
			t = json_object_object_get(e, "type");
			dbg(ctx, "parent %s for %s: kind %s, driver %s, type %s", parent, purpose,
			    vbus_kind_to_string(kind), s, t ? json_object_get_string(t) : "(any)");
			*ret_kind = kind;
			*ret_driver = s;
			*ret_type = t ? json_object_get_string(t) : NULL;
			return 0;
		}
	}
	if (vm && (offered & (1u << VBUS_KIND_SF)))
		return vbus_error(ctx, -ENODEV,
				  "parent %s offers no kind for purpose 'vm' (it offers SFs, and an SF "
				  "cannot be given to a VM: enable VFs, or make a vdpa device on an SF)",
				  parent);
	return vbus_error(ctx, -ENODEV, "parent %s offers no kind for purpose '%s'", parent,
			  purpose);
}

int vbus_policy_pick_kind_among(struct vbus_ctx *ctx, const char *parent, const char *purpose,
				unsigned offered, enum vbus_kind *ret_kind, char **ret_driver)
{
	const char *type;

	return pick_among(ctx, parent, purpose, offered, ret_kind, ret_driver, &type);
}

/* vbus_policy_pick() plus the profile entry's type glob (a copy, NULL when none). */
static int pick(struct vbus_ctx *ctx, const char *parent, const char *purpose,
		enum vbus_kind *ret_kind, char **ret_parent, char **ret_driver, char **ret_type)
{
	_cleanup_json_ struct json_object *parents = NULL;
	const char *names[_VBUS_KIND_MAX] = {};
	_cleanup_free_ char *driver = NULL, *pn_dup = NULL, *type_dup = NULL;
	enum vbus_kind kind = 0; /* set by pick_among() on success */
	const char *want, *type = NULL;
	unsigned offered = 0;
	int r;

	if (!parent || !purpose)
		return -EINVAL;
	want = parent_bdf(parent);
	r = vbus_list_parents(ctx, NULL, &parents);
	if (r < 0)
		return r;
	/* A PF is "0000:03:00.0" for vf but "pci/0000:03:00.0" for sf and vdpa: one parent. */
	for (size_t i = 0; i < json_object_array_length(parents); i++) {
		struct json_object *o = json_object_array_get_idx(parents, i);
		const char *pn = json_object_get_string(json_object_object_get(o, "parent"));
		const char *kn = json_object_get_string(json_object_object_get(o, "kind"));
		enum vbus_kind k = kn ? vbus_kind_from_string(kn) : _VBUS_KIND_INVALID;

		if (pn && k >= 0 && streq(parent_bdf(pn), want) && !names[k]) {
			offered |= 1u << k;
			names[k] = pn;
		}
	}
	if (!offered)
		return vbus_error(ctx, -ENODEV, "parent %s not found", parent);
	r = pick_among(ctx, parent, purpose, offered, &kind, &driver, &type);
	if (r < 0)
		return r;
	pn_dup = strdup(names[kind]);
	if (!pn_dup || (type && !(type_dup = strdup(type))))
		return -ENOMEM;
	*ret_kind = kind;
	*ret_parent = TAKE_PTR(pn_dup);
	*ret_driver = TAKE_PTR(driver);
	*ret_type = TAKE_PTR(type_dup);
	return 0;
}

VBUS_EXPORT int vbus_policy_pick(struct vbus_ctx *ctx, const char *parent, const char *purpose,
				 enum vbus_kind *ret_kind, char **ret_parent, char **ret_driver)
{
	_cleanup_free_ char *type = NULL;

	return pick(ctx, parent, purpose, ret_kind, ret_parent, ret_driver, &type);
}

/*
 * The type of KIND on PARENT with the most available instances (the first in the listing's
 * order on a tie) among those GLOB matches (all when NULL).
 */
static int pick_type(struct vbus_ctx *ctx, const char *parent, enum vbus_kind kind,
		     const char *glob, char **ret)
{
	_cleanup_json_ struct json_object *types = NULL;
	const char *best = NULL, *kn = vbus_kind_to_string(kind);
	int64_t best_avail = -1;
	bool counted = false;
	size_t matched = 0;
	char *s;
	int r;

	r = vbus_list_types(ctx, parent, &types);
	if (r < 0)
		return r;
	for (size_t i = 0; i < json_object_array_length(types); i++) {
		struct json_object *o = json_object_array_get_idx(types, i), *a;
		const char *t = json_object_get_string(json_object_object_get(o, "type"));
		int64_t avail = 0;

		if (!t || !streq_ptr(json_object_get_string(json_object_object_get(o, "kind")), kn) ||
		    !streq_ptr(json_object_get_string(json_object_object_get(o, "parent")), parent) ||
		    (glob && fnmatch(glob, t, 0) != 0))
			continue;
		matched++;
		if (json_object_object_get_ex(o, "available_instances", &a)) {
			counted = true;
			avail = json_object_get_int64(a);
		}
		if (avail > best_avail) {
			best = t;
			best_avail = avail;
		}
	}
	if (matched == 0)
		return glob ? vbus_error(ctx, -ENODEV, "parent %s has no %s type matching '%s'",
					 parent, kn, glob)
			    : vbus_error(ctx, -ENODEV, "parent %s offers no %s type", parent, kn);
	if (counted && best_avail <= 0)
		return vbus_error(ctx, -ENOSPC,
				  "no %s type%s%s%s of %s has an instance available", kn,
				  glob ? " matching '" : "", glob ?: "", glob ? "'" : "", parent);
	dbg(ctx, "parent %s: type %s (%" PRId64 " available)", parent, best, best_avail);
	s = strdup(best);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

VBUS_EXPORT int vbus_policy_fill(struct vbus_ctx *ctx, struct vbus_def *def, const char *purpose)
{
	_cleanup_free_ char *parent = NULL, *driver = NULL, *glob = NULL, *type = NULL;
	enum vbus_kind kind;
	int r;

	if (!def || !purpose || !*purpose)
		return -EINVAL;
	if (def->kind != _VBUS_KIND_INVALID)
		return vbus_error(ctx, -EINVAL,
				  "'%s': a purpose picks the kind, the definition must not name one "
				  "(it names %s)",
				  def->name ?: "", vbus_kind_to_string(def->kind) ?: "?");
	if (!def->parent)
		return vbus_error(ctx, -EINVAL, "'%s': a purpose needs a parent", def->name ?: "");
	r = pick(ctx, def->parent, purpose, &kind, &parent, &driver, &glob);
	if (r < 0)
		return r;
	if (!def->type && (glob || kind == VBUS_KIND_MDEV || kind == VBUS_KIND_VIRTBUS ||
			   kind == VBUS_KIND_VGPU)) {
		r = pick_type(ctx, parent, kind, glob, &type);
		if (r < 0)
			return r;
	}
	def->kind = kind;
	free(def->parent);
	def->parent = TAKE_PTR(parent);
	if (!def->driver || streq(def->driver, VBUS_DRIVER_AUTO)) {
		free(def->driver);
		def->driver = TAKE_PTR(driver);
	}
	if (type)
		def->type = TAKE_PTR(type);
	return 0;
}

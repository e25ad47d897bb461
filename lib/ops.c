// SPDX-License-Identifier: LGPL-2.1-or-later
/* Operations: define, undefine, start, stop, create, remove, assign; ordering and rollback. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <strings.h>

#include "bind.h"
#include "callout.h"
#include "sysfs.h"
#include "vbus-private.h"

#define RUN_DIR "/run/vbus"

/* ---- generic validation ------------------------------------------------------------------ */

static bool attr_allowed(const struct vbus_kind_rules *rules, const char *key)
{
	if (rules->any_attr)
		return true;
	for (const char *const *a = rules->attrs; a && *a; a++)
		if (streq(*a, key))
			return true;
	return false;
}

/* The kinds whose devices have a uuid, for the refusal of one ("mdev"). */
static const char *uuid_kinds(void)
{
	for (int k = 0; k < _VBUS_KIND_MAX; k++)
		if (vbus_kind_rules(k)->uuid)
			return vbus_kind_to_string(k);
	return "no";
}

/* A type or an index that the kind requires or refuses (RULE), WHAT being "a type" or "an
 * index". */
static int check_field(struct vbus_ctx *ctx, const struct vbus_kind_rules *rules, const char *kind,
		       enum vbus_field_rule rule, bool set, const char *what)
{
	if (rule == VBUS_FIELD_REQUIRED && !set)
		return vbus_error(ctx, -EINVAL, "%s definition needs %s", rules->a_kind, what);
	if (rule == VBUS_FIELD_REFUSED && set) {
		if (rules->fields_refused)
			return vbus_error(ctx, -EINVAL, "%s", rules->fields_refused);
		return vbus_error(ctx, -EINVAL, "%s is not for %s devices", what, kind);
	}
	return 0;
}

int vbus_def_validate(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	const char *kind = vbus_kind_to_string(def->kind);
	const struct vbus_kind_rules *rules = vbus_kind_rules(def->kind);
	int r;

	/* No string is echoed before it is known to be text. */
	if (!vbus_name_is_valid(def->name) && def->name &&
	    vbus_text_check(def->name, strlen(def->name)))
		return vbus_error(ctx, -EINVAL, "invalid name (it %s)",
				  vbus_text_check(def->name, strlen(def->name)));
	r = vbus_def_check_strings(ctx, def);
	if (r < 0)
		return r;
	if (!vbus_name_is_valid(def->name))
		return vbus_error(ctx, -EINVAL,
				  "invalid name \"%s\" (1-64 of A-Z a-z 0-9 _ . : -, starting with "
				  "a letter or digit)",
				  def->name ?: "");
	if (!kind)
		return vbus_error(ctx, -EINVAL, "'%s' has no valid kind", def->name);
	if (!def->parent || !def->parent[0])
		return vbus_error(ctx, -EINVAL, "'%s' names no parent", def->name);
	if (def->driver && !vbus_driver_is_valid(def->driver))
		return vbus_error(ctx, -EINVAL, "invalid driver \"%s\"", def->driver);
	if (def->start < 0 || def->start >= _VBUS_START_MAX)
		return vbus_error(ctx, -EINVAL, "'%s' has no valid start mode", def->name);
	if (def->uuid && !rules->uuid)
		return vbus_error(ctx, -EINVAL, "a uuid is for %s devices, not %s", uuid_kinds(),
				  kind);
	if (def->uuid && !vbus_uuid_is_valid(def->uuid))
		return vbus_error(ctx, -EINVAL, "invalid uuid \"%s\"", def->uuid);

	/* Required first (the type, then the index), then refused. */
	r = check_field(ctx, rules, kind, rules->type == VBUS_FIELD_REQUIRED ? rules->type : 0,
			def->type, "a type");
	if (r >= 0)
		r = check_field(ctx, rules, kind,
				rules->index == VBUS_FIELD_REQUIRED ? rules->index : 0,
				def->index >= 0, "an index");
	if (r >= 0)
		r = check_field(ctx, rules, kind, rules->type == VBUS_FIELD_REFUSED ? rules->type : 0,
				def->type, "a type");
	if (r >= 0)
		r = check_field(ctx, rules, kind,
				rules->index == VBUS_FIELD_REFUSED ? rules->index : 0,
				def->index >= 0, "an index");
	if (r < 0)
		return r;
	for (size_t i = 0; i < def->n_attrs; i++)
		if (!attr_allowed(rules, def->attrs[i].key))
			return vbus_error(ctx, -EINVAL, "attribute \"%s\" is not for %s devices",
					  def->attrs[i].key, kind);
	return 0;
}

/* One string per sub-device identity (mdev uuid, vf/sf parent+index, pci parent, else parent+
 * name), so listings match definitions with active devices through a map, not pair by pair. */
static char *identity_key(enum vbus_kind kind, const char *parent, int64_t index,
			  const char *uuid, const char *name)
{
	const char *ks = vbus_kind_to_string(kind);
	char *k = NULL;
	int r;

	if (!ks)
		return NULL;
	switch (vbus_kind_rules(kind)->identity) {
	case VBUS_IDENTITY_UUID:
		if (!uuid)
			return NULL;
		k = vbus_strjoin(ks, "|", uuid, NULL);
		for (char *c = k; c && *c; c++)
			*c = tolower((unsigned char)*c);
		break;
	case VBUS_IDENTITY_INDEX:
		if (!parent || index < 0)
			return NULL;
		r = asprintf(&k, "%s|%s|%" PRId64, ks, parent, index);
		if (r < 0)
			k = NULL;
		break;
	case VBUS_IDENTITY_PARENT:
		if (!parent)
			return NULL;
		k = vbus_strjoin(ks, "|", parent, NULL);
		break;
	default:
		if (!parent || !name)
			return NULL;
		k = vbus_strjoin(ks, "|", parent, "|", name, NULL);
		break;
	}
	return k;
}

char *vbus_def_identity(const struct vbus_def *def)
{
	return identity_key(def->kind, def->parent, def->index, def->uuid, def->name);
}

char *vbus_active_identity(struct json_object *active)
{
	struct json_object *v;
	const char *s[4] = {};
	static const char *const keys[] = { "kind", "parent", "uuid", "name" };
	int64_t index = -1;

	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		if (json_object_object_get_ex(active, keys[i], &v) &&
		    json_object_is_type(v, json_type_string))
			s[i] = json_object_get_string(v);
	if (json_object_object_get_ex(active, "index", &v) && json_object_is_type(v, json_type_int))
		index = json_object_get_int64(v);
	if (!s[0])
		return NULL;
	return identity_key(vbus_kind_from_string(s[0]), s[1], index, s[2], s[3]);
}

/* DEF has an identity that two definitions may not share (check_duplicates()). */
static bool identity_unique(const struct vbus_def *def)
{
	const struct vbus_kind_rules *rules = vbus_kind_rules(def->kind);

	if (!rules)
		return false;
	switch (rules->identity) {
	case VBUS_IDENTITY_UUID:
		return def->uuid;
	case VBUS_IDENTITY_INDEX:
	case VBUS_IDENTITY_PARENT:
		return true;
	default:
		return false;
	}
}

/* DEF's device is defined already as OTHER. */
static int duplicate_error(struct vbus_ctx *ctx, const struct vbus_def *def, const char *other)
{
	const struct vbus_kind_rules *rules = vbus_kind_rules(def->kind);

	if (rules->identity == VBUS_IDENTITY_UUID)
		return vbus_error(ctx, -EEXIST, "uuid %s is already defined as '%s'", def->uuid,
				  other);
	if (rules->identity == VBUS_IDENTITY_PARENT)
		return vbus_error(ctx, -EEXIST, "%s is already defined as '%s'", def->parent, other);
	return vbus_error(ctx, -EEXIST, "%s %" PRId64 " of %s is already defined as '%s'",
			  rules->index_label ?: "index", def->index, def->parent, other);
}

/* Another definition with the same identity: refused, two names for one device is a trap. */
static int check_duplicates(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	const struct vbus_kind_rules *rules = vbus_kind_rules(def->kind);
	struct vbus_def **defs = NULL;
	size_t n = 0;
	int r;

	r = vbus_store_load_all(ctx, true, &defs, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		const struct vbus_def *o = defs[i];

		/* Kinds that name a device by its parent's index share it: a vf and a vgpu
		 * definition on VF 2 of one GPU are one VF. */
		if (streq(o->name, def->name) ||
		    (o->kind != def->kind &&
		     !(rules->identity == VBUS_IDENTITY_INDEX &&
		       vbus_kind_rules(o->kind)->identity == VBUS_IDENTITY_INDEX)))
			continue;
		if ((rules->identity == VBUS_IDENTITY_UUID && def->uuid && o->uuid &&
		     strcasecmp(def->uuid, o->uuid) == 0) ||
		    (rules->identity == VBUS_IDENTITY_INDEX && streq(def->parent, o->parent) &&
		     def->index == o->index) ||
		    (rules->identity == VBUS_IDENTITY_PARENT && streq(def->parent, o->parent)))
			r = duplicate_error(ctx, def, o->name);
	}
	vbus_defs_free(defs, n);
	return r;
}

/*
 * The caller (CLI, daemon) says "Failed to start 'NAME': <cause>", so a cause that starts
 * with "NAME: " would say the name twice: keep the cause only.
 */
int vbus_plain_cause(struct vbus_ctx *ctx, const struct vbus_def *def, int r)
{
	const char *e = vbus_ctx_last_error(ctx);
	size_t n = strlen(def->name);

	if (r < 0 && e && strncmp(e, def->name, n) == 0 && e[n] == ':' && e[n + 1] == ' ') {
		char *s = strdup(e + n + 2);

		if (s)
			vbus_error_restore(ctx, s);
	}
	return r;
}

/* ---- run state --------------------------------------------------------------------------- */

void vbus_run_done(struct vbus_run *run)
{
	run->def = vbus_def_free(run->def);
	free(run->previous_driver);
	run->previous_driver = NULL;
	free(run->stacked_on);
	run->stacked_on = NULL;
}

static void vbus_run_donep(struct vbus_run *run)
{
	vbus_run_done(run);
}

static int run_parse(struct vbus_ctx *ctx, struct json_object *obj, struct vbus_run *ret)
{
	struct json_object *d, *v;
	struct vbus_def *def = NULL;
	int r;

	if (!json_object_object_get_ex(obj, "definition", &d))
		return vbus_error(ctx, -EINVAL, "no definition");
	r = vbus_def_from_json(ctx, d, &def);
	if (r < 0)
		return r;
	*ret = (struct vbus_run){.def = def};
	if (json_object_object_get_ex(obj, "created", &v))
		ret->created = json_object_get_boolean(v);
	if (json_object_object_get_ex(obj, "transient", &v))
		ret->transient = json_object_get_boolean(v);
	/* Records written before the write-ahead have no state: they are complete. */
	if (json_object_object_get_ex(obj, "state", &v) && json_object_is_type(v, json_type_string))
		ret->pending = !streq(json_object_get_string(v), "active");
	if (json_object_object_get_ex(obj, "previous_driver", &v) &&
	    json_object_is_type(v, json_type_string)) {
		ret->previous_driver = strdup(json_object_get_string(v));
		if (!ret->previous_driver) {
			vbus_run_done(ret);
			return -ENOMEM;
		}
	}
	if (json_object_object_get_ex(obj, "stacked_on", &v) &&
	    json_object_is_type(v, json_type_string)) {
		ret->stacked_on = strdup(json_object_get_string(v));
		if (!ret->stacked_on) {
			vbus_run_done(ret);
			return -ENOMEM;
		}
	}
	return 0;
}

int vbus_run_load(struct vbus_ctx *ctx, const char *name, struct vbus_run *ret)
{
	_cleanup_json_ struct json_object *obj = NULL;
	_cleanup_free_ char *p = vbus_pathf(ctx, RUN_DIR "/%s.json", name);
	int r;

	if (!p)
		return -ENOMEM;
	if (access(p, F_OK) < 0)
		return -ENOENT;
	r = vbus_read_json_file(ctx, p, &obj);
	if (r >= 0)
		r = run_parse(ctx, obj, ret);
	if (r < 0 && r != -ENOMEM) {
		warn(ctx, "Ignoring %s: %s", vbus_path_display(ctx, p),
		     vbus_ctx_last_error(ctx) ?: strerror(-r));
		vbus_error_clear(ctx);
		return -ENOENT;
	}
	return r;
}

bool vbus_run_exists(struct vbus_ctx *ctx, const char *name)
{
	_cleanup_free_ char *p = vbus_pathf(ctx, RUN_DIR "/%s.json", name);

	return p && access(p, F_OK) >= 0;
}

/* The name a file of RUN_DIR holds the record of (NULL: not a record; ENOMEM in errno). */
static char *run_file_name(const char *f)
{
	size_t len = strlen(f);
	char *name;

	errno = 0;
	if (f[0] == '.' || len <= 5 || !streq(f + len - 5, ".json"))
		return NULL;
	name = strndup(f, len - 5);
	if (name && !vbus_name_is_valid(name)) {
		free(name);
		return NULL;
	}
	return name;
}

int vbus_run_names(struct vbus_ctx *ctx, char ***ret)
{
	_cleanup_free_ char *dir = vbus_path(ctx, RUN_DIR);
	struct dirent **des = NULL;
	char **names;
	size_t k = 0;
	int n, r = 0;

	if (!dir)
		return -ENOMEM;
	n = scandir(dir, &des, NULL, NULL);
	names = calloc(n > 0 ? n + 1 : 1, sizeof(*names));
	for (int i = 0; i < n; i++) {
		char *name = r < 0 || !names ? NULL : run_file_name(des[i]->d_name);

		if (name)
			names[k++] = name;
		else if (errno == ENOMEM)
			r = -ENOMEM;
		free(des[i]);
	}
	free(des);
	if (!names || r < 0) {
		sysfs_strv_free(names);
		return -ENOMEM;
	}
	*ret = names;
	return 0;
}

int vbus_run_load_all(struct vbus_ctx *ctx, struct vbus_run **ret, size_t *ret_n)
{
	return vbus_run_load_except(ctx, NULL, ret, ret_n);
}

int vbus_run_load_except(struct vbus_ctx *ctx, struct json_object *skip, struct vbus_run **ret,
			 size_t *ret_n)
{
	_cleanup_free_ char *dir = vbus_path(ctx, RUN_DIR);
	struct dirent **des = NULL;
	struct vbus_run *runs = NULL;
	size_t n_runs = 0;
	int n, r = 0;

	if (!dir)
		return -ENOMEM;
	n = scandir(dir, &des, NULL, vbus_dirent_cmp);
	if (n < 0) {
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	runs = calloc(n + 1, sizeof(*runs));
	if (!runs)
		r = -ENOMEM;
	for (int i = 0; i < n && r >= 0; i++) {
		_cleanup_free_ char *name = run_file_name(des[i]->d_name);
		int k;

		if (!name && errno == ENOMEM) {
			r = -ENOMEM;
			break;
		}
		if (!name || (skip && json_object_object_get_ex(skip, name, NULL)))
			continue;
		k = vbus_run_load(ctx, name, &runs[n_runs]);
		if (k == -ENOMEM)
			r = k;
		else if (k >= 0)
			n_runs++;
	}
	for (int i = 0; i < n; i++)
		free(des[i]);
	free(des);
	if (r < 0) {
		for (size_t i = 0; i < n_runs; i++)
			vbus_run_done(&runs[i]);
		free(runs);
		return r;
	}
	*ret = runs;
	*ret_n = n_runs;
	return 0;
}

/* The journal of the run records' intents: see vbus_run_journal_fold(). */
#define RUN_JOURNAL ".intents"

static int run_to_json(const struct vbus_run *run, struct json_object **ret)
{
	_cleanup_json_ struct json_object *obj = NULL, *d = NULL;
	int r;

	r = vbus_def_to_json(run->def, &d);
	if (r < 0)
		return r;
	obj = json_object_new_object();
	if (!obj)
		return -ENOMEM;
	if (json_object_object_add(obj, "version", json_object_new_int(1)) < 0 ||
	    json_object_object_add(obj, "definition", TAKE_PTR(d)) < 0 ||
	    json_object_object_add(obj, "created", json_object_new_boolean(run->created)) < 0 ||
	    json_object_object_add(obj, "transient", json_object_new_boolean(run->transient)) < 0 ||
	    json_object_object_add(obj, "state",
				   json_object_new_string(!run->pending  ? "active"
							  : run->created ? "creating"
									 : "binding")) < 0 ||
	    json_object_object_add(
		obj, "previous_driver",
		run->previous_driver ? json_object_new_string(run->previous_driver) : NULL) < 0)
		return -ENOMEM;
	if (run->stacked_on &&
	    json_object_object_add(obj, "stacked_on", json_object_new_string(run->stacked_on)) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(obj);
	return 0;
}

static int run_save(struct vbus_ctx *ctx, const struct vbus_run *run)
{
	_cleanup_json_ struct json_object *obj = NULL;
	_cleanup_free_ char *dir = NULL, *file = NULL, *text = NULL;
	int r;

	if (run->stacked_on)
		ctx->run_unstacked_gen = 0;

	r = run_to_json(run, &obj);
	if (r < 0)
		return r;
	dir = vbus_path(ctx, RUN_DIR);
	if (!dir || asprintf(&file, "%s.json", run->def->name) < 0)
		return -ENOMEM;
	r = vbus_json_format(obj, &text);
	if (r < 0)
		return r;
	return vbus_write_runtime_file(ctx, dir, file, text);
}

/*
 * The write-ahead record of a start (RUN, pending), appended as one line to the journal of
 * this hold of the lock, opened at its first start: one write() per device instead of a file
 * of its own written and renamed, and the outcome (run_save(), NAME.json) is the only file a
 * start writes. A line is complete or absent after a kill: the write is the step before the
 * kernel is asked. The journal needs no fsync, as no record in /run does (vbus_write_runtime_file).
 */
static int run_journal_append(struct vbus_ctx *ctx, const struct vbus_run *run)
{
	_cleanup_json_ struct json_object *obj = NULL;
	_cleanup_free_ char *line = NULL;
	size_t len;
	ssize_t n;
	int r;

	if (ctx->run_journal_fd < 0) {
		_cleanup_free_ char *dir = vbus_path(ctx, RUN_DIR);
		_cleanup_free_ char *p = vbus_path(ctx, RUN_DIR "/" RUN_JOURNAL);

		if (!dir || !p)
			return -ENOMEM;
		r = vbus_mkdir_p(dir, 0755);
		if (r < 0)
			return r;
		ctx->run_journal_fd = open(p,
					   O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC |
						   O_NOFOLLOW,
					   0644);
		if (ctx->run_journal_fd < 0)
			return -errno;
	}
	r = run_to_json(run, &obj);
	if (r < 0)
		return r;
	line = vbus_strjoin(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN), "\n",
			    NULL);
	if (!line)
		return -ENOMEM;
	ctx->changed_gen = ctx->lock_gen;
	len = strlen(line);
	do
		n = write(ctx->run_journal_fd, line, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

void vbus_run_journal_close(struct vbus_ctx *ctx)
{
	_cleanup_free_ char *p = NULL;

	if (ctx->run_journal_fd < 0)
		return;
	close(ctx->run_journal_fd);
	ctx->run_journal_fd = -1;
	p = vbus_path(ctx, RUN_DIR "/" RUN_JOURNAL);
	/* Left behind (no memory, a failed unlink): the next holder folds it, which adds
	 * nothing, every start of this hold having written its outcome or been undone. */
	if (p && unlink(p) < 0 && errno != ENOENT)
		dbg(ctx, "cannot remove %s: %s", p, strerror(errno));
}

/*
 * Under the lock, before anything else reads or writes (the flock taken, the context not yet
 * counted as holding it): a journal left behind is a holder killed during its starts. Each
 * device it names without a record of its own gets its pending record (the last line for a
 * name wins), which the next call keeps (the device exists: vbus made it or holds it) or drops
 * (it does not), as for a start that wrote its record itself. A torn last line is a write that
 * did not finish, before which the kernel was not asked: ignored.
 */
int vbus_run_journal_fold(struct vbus_ctx *ctx)
{
	_cleanup_free_ char *p = vbus_path(ctx, RUN_DIR "/" RUN_JOURNAL);
	_cleanup_free_ char *dir = vbus_path(ctx, RUN_DIR);
	_cleanup_close_ int dfd = -1;
	struct json_tokener *tok = NULL;
	char **lines = NULL;
	size_t n_lines = 0;
	FILE *f;
	int fd, r = 0;

	if (!p || !dir)
		return -ENOMEM;
	/* The common case, no journal: one failed open per hold of the lock. */
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		size_t cap = 0;
		char *l = NULL, **nl;

		if (getline(&l, &cap, f) < 0) {
			free(l);
			break;
		}
		nl = realloc(lines, (n_lines + 1) * sizeof(*lines));
		if (!nl) {
			free(l);
			r = -ENOMEM;
			break;
		}
		lines = nl;
		lines[n_lines++] = l;
	}
	fclose(f);
	tok = json_tokener_new();
	if (!tok && r >= 0)
		r = -ENOMEM;
	for (size_t i = n_lines; i-- > 0 && r >= 0;) {
		_cleanup_json_ struct json_object *obj = NULL;
		_cleanup_free_ char *rec = NULL;
		struct vbus_run run = {};

		if (!strchr(lines[i], '\n'))
			continue; /* torn */
		json_tokener_reset(tok);
		obj = json_tokener_parse_ex(tok, lines[i], (int)strlen(lines[i]));
		if (!obj || run_parse(ctx, obj, &run) < 0 || !vbus_name_is_valid(run.def->name)) {
			vbus_error_clear(ctx);
			vbus_run_done(&run);
			continue;
		}
		rec = vbus_strjoin(run.def->name, ".json", NULL);
		if (!rec)
			r = -ENOMEM;
		else if (faccessat(dfd, rec, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT) {
			dbg(ctx, "'%s': its start did not finish, recording it as pending",
			    run.def->name);
			run.pending = true;
			r = run_save(ctx, &run);
		}
		vbus_run_done(&run);
	}
	if (tok)
		json_tokener_free(tok);
	for (size_t i = 0; i < n_lines; i++)
		free(lines[i]);
	free(lines);
	if (r >= 0 && unlinkat(dfd, RUN_JOURNAL, 0) < 0 && errno != ENOENT)
		r = -errno;
	if (r < 0) {
		_cleanup_free_ char *cause = vbus_error_take(ctx);

		return vbus_error(ctx, r, "cannot recover %s/%s: %s", RUN_DIR, RUN_JOURNAL,
				  cause ?: strerror(-r));
	}
	return 0;
}

/* A record is written without a sync (vbus_write_runtime_file(): /run does not outlive a
 * boot), so its removal syncs nothing either: one unlink() per stop, no fsync of /run/vbus. */
static int run_remove(struct vbus_ctx *ctx, const char *name)
{
	_cleanup_free_ char *p = vbus_pathf(ctx, RUN_DIR "/%s.json", name);
	int r;

	if (!p)
		return -ENOMEM;
	ctx->changed_gen = ctx->lock_gen;
	if (unlink(p) >= 0)
		return 0;
	r = -errno;
	/* No record (a manual pci definition vbus never started, stopped): nothing to forget. */
	if (r == -ENOENT)
		return 0;
	return vbus_error(ctx, r, "cannot remove %s: %s", vbus_path_display(ctx, p), strerror(-r));
}

static void step(struct vbus_ctx *ctx, const char *name)
{
	if (ctx->step_hook)
		ctx->step_hook(ctx, name, ctx->step_hook_data);
}

enum presence {
	ABSENT,
	PARTIAL, /* vbus_status.partial: something for destroy() to remove */
	ACTIVE,
};

static enum presence presence(struct vbus_ctx *ctx, const struct vbus_def *def);
static bool is_active(struct vbus_ctx *ctx, const struct vbus_def *def);

bool vbus_run_is_live(struct vbus_ctx *ctx, const struct vbus_run *run)
{
	return !run->pending || presence(ctx, run->def) != ABSENT;
}

/*
 * vbus_run_load() for the operations: a pending record (a start that died half-way) whose
 * device exists, even in part (killed between two requests of its creation), is kept, vbus
 * made it or holds it; one whose device does not exist tells nothing any more and is dropped
 * (-ENOENT, as without a record).
 */
static int run_load(struct vbus_ctx *ctx, const char *name, struct vbus_run *ret)
{
	struct vbus_run run = {};
	int r;

	r = vbus_run_load(ctx, name, &run);
	if (r < 0)
		return r;
	if (run.pending && presence(ctx, run.def) == ABSENT) {
		dbg(ctx, "'%s': dropping the record of a start that did not get to the kernel",
		    name);
		vbus_run_done(&run);
		r = run_remove(ctx, name);
		return r < 0 ? r : -ENOENT;
	}
	*ret = run;
	return 0;
}

void vbus_run_drop_stale(struct vbus_ctx *ctx, const char *name)
{
	struct vbus_run run = {};

	if (run_load(ctx, name, &run) >= 0)
		vbus_run_done(&run);
	vbus_error_clear(ctx);
}

/*
 * Import made DEF's definition from another tool's file while its device runs: vbus is its
 * owner from now on, so stop removes it as the other tool's stop would (mdevctl stop destroys
 * the mdev; a driverctl override gives the function back to its host driver). 1 when a record
 * was written, 0 when the device is not active or has a record already.
 */
int vbus_run_take_over(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	struct vbus_run run = {};
	int r;

	r = run_load(ctx, def->name, &run);
	if (r >= 0) {
		vbus_run_done(&run);
		return 0;
	}
	if (r != -ENOENT)
		return r;
	if (!is_active(ctx, def))
		return 0;
	r = vbus_def_dup(def, &run.def);
	if (r < 0)
		return r;
	run.created = true;
	r = run_save(ctx, &run);
	vbus_run_done(&run);
	return r < 0 ? r : 1;
}

/* ---- define / undefine ------------------------------------------------------------------- */

/* Generic rules, a uuid for mdev, then the backend's check. 1: parent absent (stored anyway). */
static void mark_used(bool *used, size_t n, int64_t index)
{
	if (index >= 0 && (uint64_t)index < n)
		used[index] = true;
}

/*
 * A vf or sf definition without index gets the lowest one that no definition (stored or
 * started) of that parent holds and no active device of it is bound to a driver (in use).
 */
static int pick_index(struct vbus_ctx *ctx, struct vbus_def *def)
{
	enum { MAX_INDEX = 4096 };
	_cleanup_free_ bool *used = calloc(MAX_INDEX, sizeof(bool));
	_cleanup_json_ struct json_object *active = json_object_new_array();
	const struct vbus_backend *be = vbus_ctx_backend(ctx, def->kind);
	struct vbus_def **defs = NULL;
	struct vbus_run *runs = NULL;
	size_t n_defs = 0, n_runs = 0;
	int r;

	if (!used || !active)
		return -ENOMEM;
	r = vbus_store_load_all(ctx, true, &defs, &n_defs);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_defs; i++)
		if (defs[i]->kind == def->kind && streq(defs[i]->parent, def->parent))
			mark_used(used, MAX_INDEX, defs[i]->index);
	vbus_defs_free(defs, n_defs);
	r = vbus_run_load_all(ctx, &runs, &n_runs);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_runs; i++) {
		if (runs[i].def->kind == def->kind && streq(runs[i].def->parent, def->parent))
			mark_used(used, MAX_INDEX, runs[i].def->index);
		vbus_run_done(&runs[i]);
	}
	free(runs);
	if (be && be->list_active && be->list_active(ctx, active) >= 0) {
		for (size_t i = 0; i < json_object_array_length(active); i++) {
			struct json_object *o = json_object_array_get_idx(active, i), *v;

			if (!json_object_object_get_ex(o, "parent", &v) ||
			    !streq(json_object_get_string(v), def->parent))
				continue;
			if (!json_object_object_get_ex(o, "bound_driver", &v) ||
			    !json_object_is_type(v, json_type_string))
				continue;
			if (json_object_object_get_ex(o, "index", &v))
				mark_used(used, MAX_INDEX, json_object_get_int64(v));
		}
	}
	vbus_error_clear(ctx);
	for (int i = 0; i < MAX_INDEX; i++)
		if (!used[i]) {
			def->index = i;
			dbg(ctx, "'%s': index %d of %s is free", def->name, i, def->parent);
			return 0;
		}
	return vbus_error(ctx, -ENOSPC, "no free index on %s", def->parent);
}

/* A definition of a kind with uuids (mdev) that names a running device by UUID without its
 * parent or type takes them from it (mdevctl define -u UUID): the running device is promoted
 * to a definition. */
static int promote_running(struct vbus_ctx *ctx, struct vbus_def *def)
{
	const struct vbus_backend *be = vbus_ctx_backend(ctx, def->kind);
	_cleanup_json_ struct json_object *active = json_object_new_array();
	int r;

	if (!active)
		return -ENOMEM;
	if (!be || !be->list_active)
		return 0;
	r = be->list_active(ctx, active);
	if (r < 0)
		return r;
	for (size_t i = 0; i < json_object_array_length(active); i++) {
		struct json_object *o = json_object_array_get_idx(active, i), *v;

		if (!json_object_object_get_ex(o, "uuid", &v) ||
		    strcasecmp(json_object_get_string(v), def->uuid) != 0)
			continue;
		if (!def->parent && json_object_object_get_ex(o, "parent", &v) &&
		    !(def->parent = strdup(json_object_get_string(v))))
			return -ENOMEM;
		if (!def->type && json_object_object_get_ex(o, "type", &v) &&
		    !(def->type = strdup(json_object_get_string(v))))
			return -ENOMEM;
		return 0;
	}
	return vbus_error(ctx, -ENOENT, "'%s' names no %s, and no running %s has uuid %s",
			  def->name ?: "", def->parent ? "type" : "parent",
			  vbus_kind_to_string(def->kind), def->uuid);
}

/* A stacked definition: its reference holds (no missing definition, no cycle), and it is
 * checked on the device its parent definition runs as; 1 when that is not running. */
static int prepare_stacked(struct vbus_ctx *ctx, const struct vbus_backend *be,
			   const struct vbus_def *def)
{
	_cleanup_def_ struct vbus_def *res = NULL;
	int r;

	r = vbus_stack_check_stored(ctx, def);
	if (r < 0)
		return r;
	r = vbus_stack_resolve(ctx, def, &res);
	if (r == -ENODEV) {
		vbus_error_clear(ctx);
		return 1;
	}
	if (r < 0)
		return r;
	if (!be->check)
		return 0;
	r = vbus_plain_cause(ctx, res, be->check(ctx, res));
	if (r == -ENODEV) {
		vbus_error_clear(ctx);
		return 1;
	}
	return r < 0 ? r : 0;
}

static int prepare_def(struct vbus_ctx *ctx, struct vbus_def *def)
{
	const struct vbus_kind_rules *rules = vbus_kind_rules(def->kind);
	const struct vbus_backend *be;
	int r;

	/* A template: its devices are checked, each as if defined alone (lib/select.c). */
	if (vbus_def_is_template(def)) {
		int absent = vbus_select_prepare(ctx, def, NULL);

		/* a stacked one's reference holds (apply checks it against its own set) */
		if (absent >= 0 && vbus_stack_ref(def)) {
			r = vbus_stack_check_stored(ctx, def);
			if (r < 0)
				return r;
		}
		if (absent < 0)
			return absent;
		r = vbus_driver_check(ctx, def);
		return r < 0 ? r : absent;
	}

	if (rules->uuid && def->uuid && (!def->parent || !def->type)) {
		r = promote_running(ctx, def);
		if (r < 0)
			return r;
	}

	if (rules->pick_index && def->index < 0 && def->parent && def->name) {
		r = pick_index(ctx, def);
		if (r < 0)
			return r;
	}
	r = vbus_def_validate(ctx, def);
	if (r < 0)
		return r;
	vbus_uuid_lower(def->uuid);
	r = vbus_backend_require(ctx, def->kind, &be);
	if (r < 0)
		return r;
	/* A driver name that no start could load is refused now, not at start. */
	r = vbus_driver_check(ctx, def);
	if (r < 0)
		return r;
	if (rules->uuid && !def->uuid) {
		r = vbus_uuid_generate(&def->uuid);
		if (r < 0)
			return vbus_error(ctx, r, "cannot generate a uuid: %s", strerror(-r));
	}
	if (vbus_stack_ref(def))
		return prepare_stacked(ctx, be, def);
	if (!be->check)
		return 0;
	r = vbus_plain_cause(ctx, def, be->check(ctx, def));
	if (r == -ENODEV) {
		vbus_error_clear(ctx);
		return 1;
	}
	return r < 0 ? r : 0;
}

/*
 * IDS, when not NULL, maps the identity of every stored definition to its name (a batch of
 * defines under one lock: the store is read once, not once per definition); the new
 * definition's identity is added to it.
 */
/* NAME is a device of a template: its definition is the template's, changed there. */
static int refuse_generated(struct vbus_ctx *ctx, const char *name)
{
	_cleanup_def_ struct vbus_def *d = NULL;

	if (vbus_def_load(ctx, name, &d) >= 0 && vbus_def_template(d))
		return vbus_error(ctx, -EEXIST,
				  "'%s' is a device of the definition '%s' (change or undefine "
				  "'%s')",
				  name, vbus_def_template(d), vbus_def_template(d));
	vbus_error_clear(ctx);
	return 0;
}

/* A device of template DEF that another definition names already (its own earlier devices
 * aside: a modify makes them again). */
static int check_template_duplicates(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	struct vbus_def **gen = NULL, **defs = NULL;
	size_t n_gen = 0, n = 0;
	int r;

	r = vbus_select_expand(ctx, def, &gen, &n_gen);
	if (r >= 0)
		r = vbus_store_load_all(ctx, true, &defs, &n);
	for (size_t i = 0; i < n && r >= 0; i++) {
		_cleanup_free_ char *id = NULL;

		if (streq(defs[i]->name, def->name) ||
		    streq_ptr(vbus_def_template(defs[i]), def->name))
			continue;
		id = vbus_def_identity(defs[i]);
		for (size_t k = 0; id && k < n_gen && r >= 0; k++) {
			_cleanup_free_ char *gid = vbus_def_identity(gen[k]);

			if (gid && streq(gid, id))
				r = vbus_error(ctx, -EEXIST, "its device '%s' is already defined as '%s'",
					       gen[k]->name, defs[i]->name);
		}
	}
	vbus_defs_free(gen, n_gen);
	vbus_defs_free(defs, n);
	return r;
}

static int define_locked(struct vbus_ctx *ctx, struct vbus_def *def, unsigned flags,
			 struct json_object *ids, bool no_templates)
{
	_cleanup_free_ char *id = NULL;
	struct json_object *v;
	int r, absent, exists;

	vbus_error_clear(ctx);
	absent = prepare_def(ctx, def);
	if (absent < 0)
		return absent;
	exists = vbus_store_exists(ctx, def->name);
	if (exists < 0)
		return vbus_error(ctx, exists, "cannot look up '%s': %s", def->name,
				  strerror(-exists));
	if (exists && !(flags & VBUS_DEFINE_REPLACE))
		return vbus_error(ctx, -EEXIST, "'%s' is already defined", def->name);
	/* A batch that knows the store holds no template need not read it for one. */
	if (!exists && !no_templates) {
		r = refuse_generated(ctx, def->name);
		if (r < 0)
			return r;
	}
	if (!exists && (flags & VBUS_DEFINE_REPLACE))
		return vbus_error(ctx, -ENOENT, "'%s' is not defined", def->name);
	if (vbus_def_is_template(def)) {
		r = check_template_duplicates(ctx, def);
		if (r < 0)
			return r;
	} else if (!ids) {
		r = check_duplicates(ctx, def);
		if (r < 0)
			return r;
	} else if (identity_unique(def)) {
		id = vbus_def_identity(def);
		if (!id)
			return -ENOMEM;
		if (json_object_object_get_ex(ids, id, &v) &&
		    !streq(json_object_get_string(v), def->name))
			return duplicate_error(ctx, def, json_object_get_string(v));
	}
	r = vbus_store_save(ctx, def);
	if (r < 0)
		return r;
	if (id) {
		v = json_object_new_string(def->name);
		if (!v || json_object_object_add(ids, id, v) < 0) {
			json_object_put(v);
			return -ENOMEM;
		}
	}
	info(ctx, "Defined '%s'", def->name);
	return absent;
}

/* ---- many defines under one lock (import) ------------------------------------------------ */

int vbus_define_batch_begin(struct vbus_ctx *ctx, struct vbus_define_batch *b)
{
	struct vbus_def **defs = NULL;
	size_t n = 0;
	int r;

	*b = (struct vbus_define_batch){};
	if (ctx->lock_depth == 0)
		return -EINVAL;
	r = vbus_store_load_all(ctx, true, &defs, &n);
	if (r < 0)
		return r;
	b->ids = json_object_new_object();
	if (!b->ids)
		r = -ENOMEM;
	/* In name order, the first holder of an identity is the one named (check_duplicates()). */
	for (size_t i = 0; i < n && r >= 0; i++) {
		_cleanup_free_ char *id = NULL;
		struct json_object *v;

		if (vbus_def_is_template(defs[i]))
			b->templates = true;
		if (!identity_unique(defs[i]))
			continue;
		id = vbus_def_identity(defs[i]);
		if (!id) {
			r = -ENOMEM;
			break;
		}
		if (json_object_object_get_ex(b->ids, id, NULL))
			continue;
		v = json_object_new_string(defs[i]->name);
		if (!v || json_object_object_add(b->ids, id, v) < 0) {
			json_object_put(v);
			r = -ENOMEM;
		}
	}
	vbus_defs_free(defs, n);
	if (r < 0) {
		json_object_put(b->ids);
		b->ids = NULL;
		return r;
	}
	/* Each file is still replaced atomically (temporary file, rename); the fsyncs of each
	 * wait for vbus_define_batch_end(): one syncfs() for the whole batch. */
	ctx->store_defer_sync = true;
	return 0;
}

static int define_running_mdev(struct vbus_ctx *ctx, struct vbus_def *def);

/* What vbus_define() does, under the batch's lock and with its map. */
int vbus_define_batch_add(struct vbus_ctx *ctx, struct vbus_define_batch *b, struct vbus_def *def)
{
	struct vbus_callout c;
	int r;

	vbus_error_clear(ctx);
	r = define_running_mdev(ctx, def);
	if (r < 0)
		return r;
	r = vbus_callout_pre(ctx, def, "define", &c);
	if (r < 0)
		return r;
	r = define_locked(ctx, def, 0, b->ids, !b->templates);
	if (r >= 0 && vbus_def_is_template(def))
		b->templates = true;
	vbus_callout_post(ctx, def, "define", &c, r);
	return r;
}

/* The batch's files on disk (also after a failure: what was written stays, whole). */
int vbus_define_batch_end(struct vbus_ctx *ctx, struct vbus_define_batch *b)
{
	int r = 0;

	if (!b->ids)
		return 0;
	json_object_put(b->ids);
	b->ids = NULL;
	ctx->store_defer_sync = false;
	if (syncfs(ctx->lock_fd) < 0 || fsync(ctx->lock_fd) < 0) {
		r = -errno;
		return vbus_error(ctx, r, "cannot sync /etc/vbus/devices.d: %s", strerror(-r));
	}
	return 0;
}

/* NAME may not go while definitions stand on it: they would name nothing. */
static int refuse_parent_of(struct vbus_ctx *ctx, const char *name, const char *verb)
{
	_cleanup_free_ char *deps = NULL;
	int r;

	r = vbus_stack_dependents(ctx, name, &deps);
	if (r < 0)
		return r;
	if (deps)
		return vbus_error(ctx, -EBUSY,
				  "%s stand%s on '%s' (\"parent\": \"@%s\"): %s or change %s first",
				  deps, strchr(deps, ',') ? "" : "s", name, name, verb,
				  strchr(deps, ',') ? "them" : "it");
	return 0;
}

static int undefine_locked(struct vbus_ctx *ctx, const char *name)
{
	int r;

	vbus_error_clear(ctx);
	if (!vbus_name_is_valid(name))
		return vbus_error(ctx, -EINVAL, "invalid name \"%s\"", name ?: "");
	r = vbus_store_exists(ctx, name);
	if (r < 0)
		return vbus_error(ctx, r, "cannot look up '%s': %s", name, strerror(-r));
	if (r == 0) {
		r = refuse_generated(ctx, name);
		return r < 0 ? r : vbus_error(ctx, -ENOENT, "'%s' is not defined", name);
	}
	r = refuse_parent_of(ctx, name, "undefine");
	if (r < 0)
		return r;
	/* A running device stays as it is (as with mdevctl); its run record lets stop undo it. */
	return vbus_store_remove(ctx, name);
}

/* ---- start / stop ------------------------------------------------------------------------ */

/* The driver name DEF asks for: NULL for none; *ret_skip when the kind binds by itself. */
/* MATCHED: the driver the kind's matching bound the device to, as a status just read says
 * (vbus_status.bound_by_match), else NULL: "host" is that driver, nothing is asked. */
static int resolve_driver(struct vbus_ctx *ctx, const struct vbus_backend *be,
			  const struct vbus_def *def, const char *request, const char *matched,
			  char **ret, bool *ret_skip)
{
	_cleanup_free_ char *choice = NULL;
	int r;

	*ret_skip = false;
	if (!request || streq(request, VBUS_DRIVER_AUTO)) {
		r = vbus_policy_resolve_driver(ctx, def, &choice);
		if (r < 0)
			return r;
	} else {
		choice = strdup(request);
		if (!choice)
			return -ENOMEM;
	}
	if (streq(choice, VBUS_DRIVER_NONE)) {
		*ret = NULL;
		return 0;
	}
	if (streq(choice, VBUS_DRIVER_VFIO) || streq(choice, VBUS_DRIVER_HOST)) {
		if (!be->resolve_driver) {
			/* A kind that cannot choose: its sub-devices are bound by the kernel. */
			*ret_skip = true;
			*ret = NULL;
			return 0;
		}
		if (matched && streq(choice, VBUS_DRIVER_HOST)) {
			*ret = strdup(matched);
			return *ret ? 0 : -ENOMEM;
		}
		return vbus_plain_cause(ctx, def, be->resolve_driver(ctx, def, choice, ret));
	}
	*ret = TAKE_PTR(choice);
	return 0;
}

static int do_bind(struct vbus_ctx *ctx, const struct vbus_backend *be, const struct vbus_def *def,
		   const char *driver)
{
	struct vbus_status st = {};
	int r;

	if (!be->bind)
		return vbus_error(ctx, -EOPNOTSUPP, "kind %s cannot bind '%s' to a driver",
				  vbus_kind_to_string(def->kind), def->name);
	r = vbus_plain_cause(ctx, def, be->bind(ctx, def, driver));
	if (r < 0)
		return r;
	/* Verify: the requested driver, not just some driver (driverctl only checks the latter). */
	if (!be->status)
		return 0;
	r = be->status(ctx, def, &st);
	if (r < 0)
		return r;
	if (!st.active)
		r = vbus_error(ctx, -ENODEV, "'%s' disappeared while binding it", def->name);
	else if (!streq_ptr(st.bound_driver, driver))
		r = vbus_error(ctx, -EIO, "'%s' is bound to %s instead of %s", def->name,
			       st.bound_driver ?: "no driver", driver ?: "no driver");
	vbus_status_done(&st);
	return r;
}

static int get_status(struct vbus_ctx *ctx, const struct vbus_backend *be,
		      const struct vbus_def *def, struct vbus_status *st)
{
	if (!be->status)
		return vbus_error(ctx, -EOPNOTSUPP, "kind %s cannot report status",
				  vbus_kind_to_string(def->kind));
	return vbus_plain_cause(ctx, def, be->status(ctx, def, st));
}

/* Undo a failed start: destroy what this start created, else give back the previous driver.
 * A failure to undo is a warning (the start's own cause is what the caller reports) and is
 * returned, so the write-ahead record stays: the device is still vbus's to stop. */
static int rollback_start(struct vbus_ctx *ctx, const struct vbus_backend *be,
			  const struct vbus_def *def, bool created, bool rebound,
			  const char *previous_driver)
{
	char *saved = vbus_error_take(ctx);
	int r = 0;

	dbg(ctx, "'%s': undoing the start (%s)", def->name,
	    created   ? "destroy"
	    : rebound ? "rebind"
		      : "nothing to undo");
	if (created && be->destroy)
		r = be->destroy(ctx, def);
	else if (rebound && be->bind)
		r = be->bind(ctx, def, previous_driver);
	if (r < 0)
		warn(ctx, "Could not undo the start of '%s': %s", def->name,
		     vbus_ctx_last_error(ctx) ?: strerror(-r));
	vbus_error_restore(ctx, saved);
	return r;
}

/* Writes RUN as the intent (pending) or the outcome of a start. */
static int run_record(struct vbus_ctx *ctx, struct vbus_run *run, bool pending, const char *what)
{
	int r;

	run->pending = pending;
	r = pending ? run_journal_append(ctx, run) : run_save(ctx, run);
	if (r < 0)
		return vbus_error(ctx, r, "cannot record %s of '%s' in /run/vbus: %s", what,
				  run->def->name, vbus_ctx_last_error(ctx) ?: strerror(-r));
	step(ctx, pending ? "intent" : "recorded");
	return 0;
}

static int start_def(struct vbus_ctx *ctx, const struct vbus_def *def, bool transient,
		     const char *stacked_on, bool absent)
{
	const struct vbus_backend *be;
	struct vbus_status st = {};
	_cleanup_free_ char *driver = NULL;
	struct vbus_run run = {.transient = transient};
	bool created = false, rebound = false, recorded = false, matched, skip;
	unsigned changed_gen = ctx->changed_gen;
	int r;

	r = vbus_backend_require(ctx, def->kind, &be);
	if (r < 0)
		return r;
	if (be->check) {
		r = vbus_plain_cause(ctx, def, be->check(ctx, def));
		if (r == -ENODEV)
			return vbus_error(ctx, r, "parent %s of '%s' is not present", def->parent,
					  def->name);
		if (r < 0)
			return r;
	}
	/* ABSENT: the caller's dump under this hold of the lock did not show it. */
	r = absent ? 0 : get_status(ctx, be, def, &st);
	if (r < 0)
		return r;
	r = vbus_def_dup(def, &run.def);
	if (r >= 0 && stacked_on && !(run.stacked_on = strdup(stacked_on)))
		r = -ENOMEM;
	if (r < 0) {
		vbus_status_done(&st);
		vbus_run_done(&run);
		return r;
	}
	step(ctx, "checked");
	if (!st.active) {
		if (!be->create) {
			r = vbus_error(ctx, -EOPNOTSUPP, "kind %s cannot create devices",
				       vbus_kind_to_string(def->kind));
			goto fail;
		}
		/* Write-ahead: what is about to be made is vbus's, even if we die right after. */
		run.created = true;
		r = run_record(ctx, &run, true, "the creation");
		if (r < 0)
			goto fail;
		recorded = true;
		dbg(ctx, "'%s': creating %s on %s", def->name, vbus_kind_to_string(def->kind),
		    def->parent);
		vbus_status_done(&st);
		r = vbus_plain_cause(ctx, def,
				     be->create_status ? be->create_status(ctx, def, &st)
						       : be->create(ctx, def));
		if (r < 0)
			goto fail;
		created = true;
		step(ctx, "created");
		/* Verified: the kernel's answer to the create, else a status read now. */
		if (!st.active) {
			vbus_status_done(&st);
			r = get_status(ctx, be, def, &st);
		}
		if (r >= 0 && !st.active)
			r = vbus_error(ctx, -ENODEV, "'%s' did not appear after creating it",
				       def->name);
		if (r < 0)
			goto fail;
	}
	run.previous_driver = TAKE_PTR(st.bound_driver);
	matched = st.bound_by_match;
	vbus_status_done(&st);

	if (be->configure) {
		r = vbus_plain_cause(ctx, def, be->configure(ctx, def));
		if (r < 0)
			goto fail;
		matched = false; /* settings may rebind: ask again */
	}

	r = resolve_driver(ctx, be, def, def->driver, matched ? run.previous_driver : NULL,
			   &driver, &skip);
	if (r < 0)
		goto fail;
	dbg(ctx, "'%s': driver %s -> %s (was %s)", def->name, def->driver ?: VBUS_DRIVER_AUTO,
	    skip ? "(the kind's own)" : driver ?: "none", run.previous_driver ?: "none");
	if (!skip && !streq_ptr(driver, run.previous_driver)) {
		/* The driver to give back is known before the device is taken from it. */
		if (!recorded) {
			r = run_record(ctx, &run, true, "the binding");
			if (r < 0)
				goto fail;
			recorded = true;
		}
		rebound = true;
		r = do_bind(ctx, be, def, driver);
		if (r < 0)
			goto fail;
		step(ctx, "bound");
	}

	r = run_record(ctx, &run, false, "the start");
	if (r < 0)
		goto fail;
	vbus_run_done(&run);
	info(ctx, "Started '%s'", def->name);
	return 0;

fail:
	if (rollback_start(ctx, be, def, created, rebound, run.previous_driver) >= 0) {
		/* All undone: the intent in the journal names nothing (vbus_unlock() drops it),
		 * and nothing changed for the CDI specs either. */
		ctx->changed_gen = changed_gen;
	} else if (recorded) {
		/* Not undone: the device stays vbus's, with the record of its start as far as
		 * it got (the journal goes at vbus_unlock()). */
		char *saved = vbus_error_take(ctx);

		(void)run_save(ctx, &run);
		vbus_error_restore(ctx, saved);
	}
	vbus_status_done(&st);
	vbus_run_done(&run);
	return r;
}

/* Loads what start needs: the run record if there is one, else the stored definition. */
static int load_for_name(struct vbus_ctx *ctx, const char *name, struct vbus_run *ret_run,
			 struct vbus_def **ret_def)
{
	int r;

	if (!vbus_name_is_valid(name))
		return vbus_error(ctx, -EINVAL, "invalid name \"%s\"", name ?: "");
	r = run_load(ctx, name, ret_run);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r >= 0)
		return 1;
	r = vbus_def_load(ctx, name, ret_def);
	if (r >= 0 && vbus_def_is_template(*ret_def)) {
		*ret_def = vbus_def_free(*ret_def);
		return vbus_error(ctx, -EISDIR,
				  "'%s' stands for a device on each matching parent: name one of "
				  "those (vbusctl list --defined)",
				  name);
	}
	return r < 0 ? r : 0;
}

static enum presence presence(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	const struct vbus_backend *be = vbus_ctx_backend(ctx, def->kind);
	struct vbus_status st = {};
	enum presence p;

	if (!be || !be->status || be->status(ctx, def, &st) < 0)
		return ABSENT;
	p = st.active ? ACTIVE : st.partial ? PARTIAL : ABSENT;
	vbus_status_done(&st);
	return p;
}

static bool is_active(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	return presence(ctx, def) == ACTIVE;
}

/* What a start or stop of RUN's device that was killed half-way left (PARTIAL): vbus's by
 * RUN when vbus made the device, removed so that the device can be made again. */
static int destroy_partial(struct vbus_ctx *ctx, const struct vbus_run *run)
{
	const struct vbus_backend *be;
	int r;

	r = vbus_backend_require(ctx, run->def->kind, &be);
	if (r < 0)
		return r;
	if (!be->destroy)
		return 0;
	dbg(ctx, "'%s': removing what a start or stop that did not finish left of it",
	    run->def->name);
	return vbus_plain_cause(ctx, run->def, be->destroy(ctx, run->def));
}

/*
 * A definition is a standing order: RUN's device is present, so it only needs its wanted
 * driver again (someone unbound or rebound it). The stored definition says what is wanted
 * when it still names the same device (a modify may have changed the driver since), else the
 * definition as started. -EALREADY when nothing needs doing.
 */
static int converge_run(struct vbus_ctx *ctx, struct vbus_run *run)
{
	_cleanup_def_ struct vbus_def *stored = NULL;
	_cleanup_free_ char *driver = NULL, *id = NULL, *stored_id = NULL;
	const struct vbus_backend *be;
	struct vbus_status st = {};
	bool skip;
	int r;

	r = vbus_backend_require(ctx, run->def->kind, &be);
	if (r < 0)
		return r;
	if (!run->transient && vbus_def_load(ctx, run->def->name, &stored) >= 0) {
		struct vbus_def *res = NULL;

		/* A stacked definition names the device it stands on as it runs now. */
		if (vbus_stack_ref(stored) && vbus_stack_resolve(ctx, stored, &res) >= 0) {
			vbus_def_free(stored);
			stored = res;
		}
		id = vbus_def_identity(run->def);
		stored_id = vbus_def_identity(stored);
		if (id && stored_id && streq(id, stored_id)) {
			vbus_def_free(run->def);
			run->def = TAKE_PTR(stored);
		}
	}
	vbus_error_clear(ctx);
	r = get_status(ctx, be, run->def, &st);
	if (r < 0)
		return r;
	r = resolve_driver(ctx, be, run->def, run->def->driver,
			   st.bound_by_match ? st.bound_driver : NULL, &driver, &skip);
	if (r >= 0 && (skip || streq_ptr(driver, st.bound_driver))) {
		/* A start that died after the kernel made the device: only the record is left
		 * to complete. */
		if (!run->pending)
			r = vbus_error(ctx, -EALREADY, "'%s' is already active", run->def->name);
	} else if (r >= 0) {
		dbg(ctx, "'%s': bound to %s, wants %s: rebinding", run->def->name,
		    st.bound_driver ?: "no driver", driver ?: "no driver");
		r = do_bind(ctx, be, run->def, driver);
		if (r < 0 && be->bind) {
			char *saved = vbus_error_take(ctx);

			(void)be->bind(ctx, run->def, st.bound_driver);
			vbus_error_restore(ctx, saved);
		}
	}
	vbus_status_done(&st);
	if (r < 0)
		return r;
	r = run_record(ctx, run, false, "the start");
	if (r < 0)
		return r;
	info(ctx, "Started '%s' (%s %s)", run->def->name, skip ? "bound by its kind" : "bound to",
	     skip ? "" : driver ?: "no driver");
	return 0;
}

static int start_named(struct vbus_ctx *ctx, const char *name, unsigned flags, int depth);
static int stop_named(struct vbus_ctx *ctx, const char *name, int depth);

/* Stacks are at most this deep (lib/stack.c refuses deeper ones at define). */
#define STACK_MAX 8

/*
 * Starts DEF, and first, when DEF stands on another definition ("parent": "@NAME") that is not
 * running, that one (VF, then the mdev on it); a parent started here is stopped again when DEF
 * then fails, so a failed start leaves what it found.
 */
static int start_stacked(struct vbus_ctx *ctx, const struct vbus_def *def, bool transient,
			 unsigned flags, int depth, bool absent)
{
	_cleanup_def_ struct vbus_def *res = NULL;
	const char *ref = vbus_stack_ref(def);
	struct vbus_run parent = {};
	bool started_parent = false;
	int r;

	if (!ref)
		return start_def(ctx, def, transient, NULL, absent);
	if (depth >= STACK_MAX)
		return vbus_error(ctx, -ELOOP, "'%s' stands on a stack deeper than %d definitions",
				  def->name, STACK_MAX);
	/* Its parent's start was killed after the kernel made it (its record still pending):
	 * completed first, as its own start would; it ran already, so it is not stopped again
	 * if DEF fails. */
	if (vbus_run_load(ctx, ref, &parent) >= 0 && parent.pending) {
		r = start_named(ctx, ref, flags, depth + 1);
		if (r < 0 && r != -EALREADY) {
			_cleanup_free_ char *cause = vbus_error_take(ctx);

			vbus_run_done(&parent);
			return vbus_error(ctx, r, "its parent '%s' did not start: %s", ref,
					  cause ?: strerror(-r));
		}
	}
	vbus_run_done(&parent);
	vbus_error_clear(ctx);
	r = vbus_stack_resolve(ctx, def, &res);
	if (r == -ENODEV) {
		vbus_error_clear(ctx);
		dbg(ctx, "'%s': starting '%s' first, it stands on it", def->name, ref);
		r = start_named(ctx, ref, flags, depth + 1);
		if (r < 0 && r != -EALREADY) {
			_cleanup_free_ char *cause = vbus_error_take(ctx);

			return vbus_error(ctx, r, "its parent '%s' did not start: %s", ref,
					  cause ?: strerror(-r));
		}
		started_parent = r >= 0;
		vbus_error_clear(ctx);
		r = vbus_stack_resolve(ctx, def, &res);
	}
	if (r >= 0) {
		const struct vbus_backend *be = vbus_ctx_backend(ctx, def->kind);

		/* Its parent runs, but may be no parent of this kind: say which device it is. */
		if (be && be->check && be->check(ctx, res) == -ENODEV)
			r = vbus_error(ctx, -ENODEV,
				       "its parent '%s' runs as %s, where no %s device can be made",
				       ref, res->parent, vbus_kind_to_string(def->kind));
		else
			r = start_def(ctx, res, transient, ref, false);
	}
	if (r < 0 && started_parent) {
		char *saved = vbus_error_take(ctx);

		if (stop_named(ctx, ref, depth + 1) < 0)
			warn(ctx, "Could not stop '%s' again after '%s' failed: %s", ref, def->name,
			     vbus_ctx_last_error(ctx) ?: "?");
		vbus_error_restore(ctx, saved);
	}
	return r;
}

static int start_locked(struct vbus_ctx *ctx, const char *name, unsigned flags)
{
	return start_named(ctx, name, flags, 0);
}

/* NAME's start; GIVEN: its stored definition as the caller read it already (apply), else
 * NULL (read from the store). */
static int start_given(struct vbus_ctx *ctx, const char *name, const struct vbus_def *given,
		       unsigned flags, int depth, bool absent)
{
	_cleanup_(vbus_run_donep) struct vbus_run run = {};
	_cleanup_def_ struct vbus_def *def = NULL;
	int r;

	vbus_error_clear(ctx);
	if (flags & ~(unsigned)VBUS_START_FORCE)
		return vbus_error(ctx, -EINVAL, "unknown start flags 0x%x", flags);
	if (given) {
		r = run_load(ctx, name, &run);
		if (r < 0 && r != -ENOENT)
			return r;
		r = r >= 0;
	} else {
		r = load_for_name(ctx, name, &run, &def);
		if (r < 0)
			return r;
	}
	if (r > 0) {
		enum presence p = presence(ctx, run.def);

		if (p == ACTIVE)
			return converge_run(ctx, &run);
		/* Half made or half removed by vbus (killed in between): removed first, the
		 * record kept until it is gone, else the kernel refuses to make it again. */
		if (p == PARTIAL && run.created) {
			r = destroy_partial(ctx, &run);
			if (r < 0)
				return r;
		}
		/* A stale record (the device went away underneath us): start afresh. */
		r = run_remove(ctx, name);
		if (r < 0)
			return r;
		if (run.transient)
			return vbus_error(ctx, -ENOENT, "'%s' is not defined", name);
		if (!given) {
			r = vbus_def_load(ctx, name, &def);
			if (r < 0)
				return r;
		}
	}
	return start_stacked(ctx, given ?: def, false, flags, depth, absent);
}

static int start_named(struct vbus_ctx *ctx, const char *name, unsigned flags, int depth)
{
	return start_given(ctx, name, NULL, flags, depth, false);
}

int vbus_start_def(struct vbus_ctx *ctx, const struct vbus_def *def, bool absent)
{
	int r;

	if (!def->name || !vbus_name_is_valid(def->name) || vbus_def_is_template(def))
		return vbus_start(ctx, def->name);
	vbus_error_clear(ctx);
	r = vbus_lock(ctx);
	if (r < 0)
		return r;
	r = start_given(ctx, def->name, def, 0, 0, absent);
	vbus_unlock(ctx);
	return r;
}

static int stop_run(struct vbus_ctx *ctx, const struct vbus_backend *be, struct vbus_run *run)
{
	const struct vbus_def *def = run->def;
	int r;

	if (run->created) {
		if (!be->destroy)
			return vbus_error(ctx, -EOPNOTSUPP, "kind %s cannot remove devices",
					  vbus_kind_to_string(def->kind));
		r = vbus_plain_cause(ctx, def, be->destroy(ctx, def));
		if (r < 0)
			return r;
	} else if (be->bind) {
		/* Not ours to destroy: give the device back the driver it had. */
		_cleanup_free_ char *host = NULL;
		struct vbus_status st = {};
		const char *want = run->previous_driver;
		bool skip = false;

		if (!want && vbus_kind_rules(def->kind)->host_owned) {
			r = resolve_driver(ctx, be, def, VBUS_DRIVER_HOST, NULL, &host, &skip);
			if (r < 0)
				return r;
			want = host;
		}
		r = get_status(ctx, be, def, &st);
		if (r < 0)
			return r;
		if (st.active && !skip && !streq_ptr(st.bound_driver, want))
			r = do_bind(ctx, be, def, want);
		vbus_status_done(&st);
		if (r < 0)
			return r;
	}
	return run_remove(ctx, def->name);
}

/* What vbus started on NAME's device ("parent": "@NAME") is stopped before it, the last
 * started first. */
static int stop_dependents(struct vbus_ctx *ctx, const char *name, int depth)
{
	struct vbus_run *runs = NULL;
	size_t n = 0;
	int r, level = ctx->log_level;

	if (ctx->lock_depth > 0 && ctx->run_unstacked_gen == ctx->lock_gen)
		return 0;
	/* Quietly: an unusable record is reported by whoever acts on it, not by every stop. */
	if (level > VBUS_LOG_ERR)
		ctx->log_level = VBUS_LOG_ERR;
	r = vbus_run_load_all(ctx, &runs, &n);
	ctx->log_level = level;
	if (r < 0)
		return r;
	if (ctx->lock_depth > 0) {
		size_t k = 0;

		while (k < n && !runs[k].stacked_on)
			k++;
		if (k == n)
			ctx->run_unstacked_gen = ctx->lock_gen;
	}
	for (size_t i = n; i-- > 0 && r >= 0;) {
		if (!streq_ptr(runs[i].stacked_on, name))
			continue;
		if (depth >= STACK_MAX) {
			r = vbus_error(ctx, -ELOOP, "'%s' stands on a stack deeper than %d",
				       runs[i].def->name, STACK_MAX);
			break;
		}
		r = stop_named(ctx, runs[i].def->name, depth + 1);
		if (r == -EALREADY) {
			vbus_error_clear(ctx);
			r = 0;
		} else if (r < 0) {
			_cleanup_free_ char *cause = vbus_error_take(ctx);

			r = vbus_error(ctx, r, "'%s' stands on it and did not stop: %s",
				       runs[i].def->name, cause ?: strerror(-r));
		}
	}
	for (size_t i = 0; i < n; i++)
		vbus_run_done(&runs[i]);
	free(runs);
	return r;
}

static int stop_locked(struct vbus_ctx *ctx, const char *name)
{
	return stop_named(ctx, name, 0);
}

/* NAME's device is gone already (unplugged, removed by hand): only its record is left. */
static int stop_gone(struct vbus_ctx *ctx, const char *name)
{
	(void)run_remove(ctx, name);
	return vbus_error(ctx, -EALREADY, "'%s' is not active", name);
}

/* NAME's stop; GIVEN: its run record as the caller read it already under this hold of the
 * lock (apply), taken over (*GIVEN is emptied), else NULL (read from /run/vbus). A record of a
 * stacked device is read again: the stop of what it stands on may have stopped it since. */
static int stop_given(struct vbus_ctx *ctx, const char *name, struct vbus_run *given, int depth,
		      bool present)
{
	_cleanup_(vbus_run_donep) struct vbus_run run = {};
	_cleanup_def_ struct vbus_def *def = NULL;
	const struct vbus_backend *be;
	int r;

	vbus_error_clear(ctx);
	if (given && given->def && !given->stacked_on && streq(given->def->name, name)) {
		run = *given;
		*given = (struct vbus_run){};
	} else {
		present = false;
		r = load_for_name(ctx, name, &run, &def);
		if (r < 0)
			return r;
	}
	r = stop_dependents(ctx, name, depth);
	if (r < 0)
		return r;
	if (!run.def && vbus_stack_ref(def)) {
		struct vbus_def *res = NULL;

		/* Not started by vbus: only its device, where its parent runs, can tell. */
		if (vbus_stack_resolve(ctx, def, &res) < 0)
			return vbus_error(ctx, -EALREADY, "'%s' is not active", name);
		vbus_def_free(def);
		def = res;
	}
	if (!run.def) {
		r = vbus_backend_require(ctx, def->kind, &be);
		if (r < 0)
			return r;
		if (!is_active(ctx, def))
			return vbus_error(ctx, -EALREADY, "'%s' is not active", name);
		if (!vbus_kind_rules(def->kind)->host_owned)
			return vbus_error(ctx, -EBUSY,
					  "'%s' is active but was not started by vbus; leaving it "
					  "alone",
					  name);
		/* A pci definition only manages a binding: stopping gives back the host driver. */
		run = (struct vbus_run){.def = TAKE_PTR(def)};
	} else {
		r = vbus_backend_require(ctx, run.def->kind, &be);
		if (r < 0)
			return r;
		/* PRESENT: the caller's dump under this hold of the lock showed the device; asked
		 * only if the stop fails. What a killed start or stop of vbus's left (PARTIAL) is
		 * stopped as the device: destroy() removes it. */
		if (!present) {
			enum presence p = presence(ctx, run.def);

			if (p == ABSENT || (p == PARTIAL && !run.created))
				return stop_gone(ctx, name);
		}
	}
	r = stop_run(ctx, be, &run);
	if (r < 0 && present && !is_active(ctx, run.def)) {
		/* Gone since the dump. */
		vbus_error_clear(ctx);
		return stop_gone(ctx, name);
	}
	if (r < 0)
		return r;
	info(ctx, "Stopped '%s'", name);
	return 0;
}

static int stop_named(struct vbus_ctx *ctx, const char *name, int depth)
{
	return stop_given(ctx, name, NULL, depth, false);
}

int vbus_stop_run(struct vbus_ctx *ctx, struct vbus_run *run, bool present)
{
	const char *name = run->def ? run->def->name : NULL;
	int r;

	if (!name || !vbus_name_is_valid(name))
		return -EINVAL;
	vbus_error_clear(ctx);
	r = vbus_lock(ctx);
	if (r < 0)
		return r;
	r = stop_given(ctx, name, run, 0, present);
	vbus_unlock(ctx);
	return r;
}

/* ---- create / remove / assign ------------------------------------------------------------ */

static int create_locked(struct vbus_ctx *ctx, struct vbus_def *def, unsigned flags)
{
	_cleanup_(vbus_run_donep) struct vbus_run run = {};
	int r;

	vbus_error_clear(ctx);
	if (vbus_def_is_template(def))
		return vbus_error(ctx, -EINVAL,
				  "create makes one device, and '%s' stands for one on each matching "
				  "parent: define it, or make its devices with apply --now",
				  def->name);
	if (flags & VBUS_CREATE_TRANSIENT) {
		r = prepare_def(ctx, def);
		if (r < 0)
			return r;
		if (r > 0)
			return vbus_error(ctx, -ENODEV, "parent %s of '%s' is not present",
					  def->parent, def->name);
		r = vbus_store_exists(ctx, def->name);
		if (r > 0)
			return vbus_error(ctx, -EEXIST, "'%s' is already defined", def->name);
		if (run_load(ctx, def->name, &run) >= 0)
			return vbus_error(ctx, -EEXIST, "'%s' already exists", def->name);
		r = check_duplicates(ctx, def);
		if (r < 0)
			return r;
		return start_stacked(ctx, def, true, 0, 0, false);
	}

	if (run_load(ctx, def->name, &run) >= 0)
		return vbus_error(ctx, -EEXIST, "'%s' already exists", def->name);
	r = vbus_define(ctx, def, 0);
	if (r < 0)
		return r;
	if (r > 0) {
		(void)vbus_store_remove(ctx, def->name);
		return vbus_error(ctx, -ENODEV, "parent %s of '%s' is not present", def->parent,
				  def->name);
	}
	r = start_stacked(ctx, def, false, 0, 0, false);
	if (r < 0) {
		/* Rolled back as a whole: the definition goes too. */
		char *saved = vbus_error_take(ctx);

		(void)vbus_store_remove(ctx, def->name);
		vbus_error_restore(ctx, saved);
		return r;
	}
	return 0;
}

static int remove_locked(struct vbus_ctx *ctx, const char *name)
{
	_cleanup_(vbus_run_donep) struct vbus_run run = {};
	int r, defined;

	vbus_error_clear(ctx);
	if (!vbus_name_is_valid(name))
		return vbus_error(ctx, -EINVAL, "invalid name \"%s\"", name ?: "");
	defined = vbus_store_exists(ctx, name);
	if (defined < 0)
		return defined;
	r = run_load(ctx, name, &run);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == -ENOENT && !defined)
		return vbus_error(ctx, -ENOENT, "'%s' is not defined", name);
	if (defined) {
		int k = refuse_parent_of(ctx, name, "remove");

		if (k < 0)
			return k;
	}
	if (r >= 0) {
		r = vbus_stop(ctx, name);
		if (r < 0 && r != -EALREADY)
			return r;
		vbus_error_clear(ctx);
	}
	if (defined)
		return vbus_undefine(ctx, name);
	return 0;
}

static int assign_locked(struct vbus_ctx *ctx, const char *name, const char *request)
{
	_cleanup_(vbus_run_donep) struct vbus_run run = {};
	_cleanup_def_ struct vbus_def *def = NULL, *stored = NULL;
	_cleanup_free_ char *driver = NULL;
	const struct vbus_backend *be;
	struct vbus_status st = {};
	bool skip, have_run;
	int r, defined;

	vbus_error_clear(ctx);
	if (!vbus_driver_is_valid(request))
		return vbus_error(ctx, -EINVAL, "invalid driver \"%s\"", request ?: "");
	r = load_for_name(ctx, name, &run, &def);
	if (r < 0)
		return r;
	have_run = r > 0;
	if (have_run)
		def = TAKE_PTR(run.def);
	if (!have_run && vbus_stack_ref(def)) {
		struct vbus_def *res = NULL;

		r = vbus_stack_resolve(ctx, def, &res);
		if (r < 0)
			return r;
		vbus_def_free(def);
		def = res;
	}
	r = vbus_backend_require(ctx, def->kind, &be);
	if (r < 0)
		return r;
	defined = vbus_store_exists(ctx, name);
	if (defined < 0)
		return defined;

	r = get_status(ctx, be, def, &st);
	if (r < 0)
		return r;
	if (st.active) {
		free(def->driver);
		def->driver = strdup(request);
		if (!def->driver) {
			vbus_status_done(&st);
			return -ENOMEM;
		}
		r = resolve_driver(ctx, be, def, request, NULL, &driver, &skip);
		if (r >= 0 && skip)
			r = vbus_error(ctx, -EOPNOTSUPP, "kind %s binds its devices by itself",
				       vbus_kind_to_string(def->kind));
		if (r >= 0 && !streq_ptr(driver, st.bound_driver)) {
			r = do_bind(ctx, be, def, driver);
			if (r < 0) {
				char *saved = vbus_error_take(ctx);

				if (be->bind)
					(void)be->bind(ctx, def, st.bound_driver);
				vbus_error_restore(ctx, saved);
			}
		}
		if (r >= 0) {
			if (!have_run)
				run.previous_driver = TAKE_PTR(st.bound_driver);
			run.def = TAKE_PTR(def);
			r = run_save(ctx, &run);
			def = TAKE_PTR(run.def);
		}
		vbus_status_done(&st);
		if (r < 0)
			return r;
	} else if (!defined) {
		return vbus_error(ctx, -ENODEV, "'%s' is not active", name);
	}

	if (defined) {
		r = vbus_def_load(ctx, name, &stored);
		if (r < 0)
			return r;
		/* A template's device: its driver is the template's (a file of its own would
		 * shadow the template). */
		if (vbus_def_template(stored))
			return 0;
		free(stored->driver);
		stored->driver = strdup(request);
		if (!stored->driver)
			return -ENOMEM;
		r = vbus_store_save(ctx, stored);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * mdevctl's define of a running mdev (mdevctl -u U, vbusctl define NAME --uuid U): kind, parent
 * and type come from the device, and when the definition brings no attributes, those its
 * callout script reports ("get attributes"), so the definition starts what runs now.
 */
static int define_running_mdev(struct vbus_ctx *ctx, struct vbus_def *def)
{
	_cleanup_free_ char *path = NULL;
	int r;

	if (def->kind != VBUS_KIND_MDEV || !def->uuid)
		return 0;
	if (!def->parent || !def->type) {
		r = promote_running(ctx, def);
		if (r < 0)
			return r;
	}
	/* Nothing to ask when the define will be refused as a duplicate name. */
	if (def->n_attrs > 0 || (def->name && vbus_store_exists(ctx, def->name) > 0))
		return 0;
	vbus_uuid_lower(def->uuid);
	if (asprintf(&path, "/sys/bus/mdev/devices/%s", def->uuid) < 0)
		return -ENOMEM;
	if (!sysfs_exists(ctx, path))
		return 0;
	r = vbus_callout_get_attrs(ctx, def);
	return r < 0 ? r : 0;
}

/* ---- the public entry points: each holds the store lock ---------------------------------- */

VBUS_EXPORT int vbus_define(struct vbus_ctx *ctx, struct vbus_def *def, unsigned flags)
{
	int r;

	const char *action = flags & VBUS_DEFINE_REPLACE ? "modify" : "define";
	struct vbus_callout c;

	vbus_error_clear(ctx);
	r = vbus_lock(ctx);
	if (r < 0)
		return r;
	r = flags & VBUS_DEFINE_REPLACE ? 0 : define_running_mdev(ctx, def);
	if (r >= 0)
		r = vbus_callout_pre(ctx, def, action, &c);
	else
		c = (struct vbus_callout){};
	if (r >= 0) {
		r = define_locked(ctx, def, flags, NULL, false);
		vbus_callout_post(ctx, def, action, &c, r);
	}
	vbus_unlock(ctx);
	return r;
}

VBUS_EXPORT int vbus_undefine(struct vbus_ctx *ctx, const char *name)
{
	int r;

	_cleanup_def_ struct vbus_def *def = NULL;
	struct vbus_callout c = {};

	vbus_error_clear(ctx);
	r = vbus_lock(ctx);
	if (r < 0)
		return r;
	/* An mdev's callouts may veto its undefine (mdevctl's protocol). */
	if (vbus_name_is_valid(name) && vbus_def_load(ctx, name, &def) >= 0)
		r = vbus_callout_pre(ctx, def, "undefine", &c);
	else
		vbus_error_clear(ctx); /* undefine_locked() says what is wrong with NAME */
	if (r >= 0) {
		r = undefine_locked(ctx, name);
		if (def)
			vbus_callout_post(ctx, def, "undefine", &c, r);
	}
	vbus_unlock(ctx);
	return r;
}

static int modify_live_locked(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	_cleanup_(vbus_run_donep) struct vbus_run run = {};
	struct vbus_def *old;
	int r;

	if (!def->name || !vbus_name_is_valid(def->name))
		return vbus_error(ctx, -EINVAL, "invalid name \"%s\"", def->name ?: "");
	r = vbus_run_load(ctx, def->name, &run);
	if (r == -ENOENT || (r >= 0 && !is_active(ctx, run.def)))
		return vbus_error(ctx, -EALREADY, "'%s' is not running", def->name);
	if (r < 0)
		return r;
	old = run.def;
	if (!vbus_kind_rules(def->kind)->live_attrs)
		return vbus_error(ctx, -EOPNOTSUPP, "'%s': a running %s cannot be changed in place",
				  def->name, vbus_kind_to_string(def->kind));
	if (def->kind != old->kind || !streq_ptr(def->parent, old->parent) ||
	    !streq_ptr(def->type, old->type) || !streq_ptr(def->uuid, old->uuid))
		return vbus_error(ctx, -EINVAL,
				  "'%s' is running as %s on %s: only its attributes can change in "
				  "place",
				  def->name, old->type ?: "?", old->parent ?: "?");
	r = vbus_callout_live(ctx, def);
	if (r < 0)
		return r;
	/* The run record says what runs: listings then show no pending change. */
	run.def = NULL;
	vbus_def_free(old);
	r = vbus_def_dup(def, &run.def);
	if (r < 0)
		return r;
	r = run_save(ctx, &run);
	if (r < 0)
		return r;
	info(ctx, "Changed running '%s'", def->name);
	return 0;
}

VBUS_EXPORT int vbus_modify_live(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	int r;

	vbus_error_clear(ctx);
	r = vbus_lock(ctx);
	if (r < 0)
		return r;
	r = modify_live_locked(ctx, def);
	vbus_unlock(ctx);
	return r;
}

VBUS_EXPORT int vbus_start_with_flags(struct vbus_ctx *ctx, const char *name, unsigned flags)
{
	int r;

	vbus_error_clear(ctx);
	r = vbus_lock(ctx);
	if (r < 0)
		return r;
	ctx->force = flags & VBUS_START_FORCE;
	r = start_locked(ctx, name, flags);
	ctx->force = false;
	vbus_unlock(ctx);
	return r;
}

VBUS_EXPORT int vbus_start(struct vbus_ctx *ctx, const char *name)
{
	return vbus_start_with_flags(ctx, name, 0);
}

VBUS_EXPORT int vbus_stop(struct vbus_ctx *ctx, const char *name)
{
	int r;

	vbus_error_clear(ctx);
	r = vbus_lock(ctx);
	if (r < 0)
		return r;
	r = stop_locked(ctx, name);
	vbus_unlock(ctx);
	return r;
}

/*
 * A record whose device the kernel removed (vbusd: its remove event) says nothing true any
 * more; kept, a device of that name someone makes later would pass for vbus's own.
 */
int vbus_run_forget_gone(struct vbus_ctx *ctx, const char *name)
{
	_cleanup_(vbus_run_donep) struct vbus_run run = {};
	int r;

	vbus_error_clear(ctx);
	r = vbus_lock(ctx);
	if (r < 0)
		return r;
	/* A pending record whose device is gone is dropped by run_load() itself. One whose
	 * device is partly there stays: it names what vbus has to remove still. */
	r = run_load(ctx, name, &run);
	if (r == -ENOENT)
		r = 0;
	else if (r >= 0 && presence(ctx, run.def) != ABSENT)
		r = 0;
	else if (r >= 0) {
		r = run_remove(ctx, name);
		if (r >= 0) {
			dbg(ctx, "'%s': its device is gone, dropping its run record", name);
			r = 1;
		}
	}
	vbus_unlock(ctx);
	return r;
}

VBUS_EXPORT int vbus_create(struct vbus_ctx *ctx, struct vbus_def *def, unsigned flags)
{
	int r;

	vbus_error_clear(ctx);
	r = vbus_lock(ctx);
	if (r < 0)
		return r;
	ctx->force = flags & VBUS_CREATE_FORCE;
	r = create_locked(ctx, def, flags);
	ctx->force = false;
	vbus_unlock(ctx);
	return r;
}

VBUS_EXPORT int vbus_remove(struct vbus_ctx *ctx, const char *name)
{
	int r;

	vbus_error_clear(ctx);
	r = vbus_lock(ctx);
	if (r < 0)
		return r;
	r = remove_locked(ctx, name);
	vbus_unlock(ctx);
	return r;
}

VBUS_EXPORT int vbus_assign(struct vbus_ctx *ctx, const char *name, const char *request)
{
	int r;

	vbus_error_clear(ctx);
	r = vbus_lock(ctx);
	if (r < 0)
		return r;
	r = assign_locked(ctx, name, request);
	vbus_unlock(ctx);
	return r;
}

/* ---- reconcile: every start:auto definition, present with its wanted driver -------------- */

/* The kernel's name of a parent: "pci/0000:06:00.0" and "vbus_sim/vbus_sim2" (devlink, vdpa
 * and vbus handles) name their device by the part after the bus. */
static const char *parent_sysname(const char *parent)
{
	const char *slash = strrchr(parent, '/');

	return slash ? slash + 1 : parent;
}

static int result_add(struct json_object *results, const char *name, const char *result,
		      const char *cause, int err)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return -ENOMEM;
	if (json_object_object_add(o, "name", json_object_new_string(name)) < 0 ||
	    json_object_object_add(o, "result", json_object_new_string(result)) < 0 ||
	    json_object_object_add(o, "error", cause ? json_object_new_string(cause) : NULL) < 0 ||
	    json_object_object_add(o, "errno", json_object_new_int(-err)) < 0 ||
	    json_object_array_add(results, o) < 0) {
		json_object_put(o);
		return -ENOMEM;
	}
	return 0;
}

/* The records of starts that died before the kernel made anything go (transient ones too:
 * no definition brings them up); those whose device exists stay, it is vbus's. */
static int sweep_pending(struct vbus_ctx *ctx)
{
	struct vbus_run *runs = NULL;
	size_t n = 0;
	int r;

	r = vbus_run_load_all(ctx, &runs, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct vbus_run run = {};

		if (runs[i].pending && run_load(ctx, runs[i].def->name, &run) >= 0)
			vbus_run_done(&run);
		vbus_run_done(&runs[i]);
	}
	free(runs);
	return 0;
}

/* The definition at the bottom of DEF's stack (DEF when not stacked, or when a reference
 * is broken: that one then says so when it starts). */
static const struct vbus_def *stack_root(const struct vbus_def *def, struct vbus_def *const *defs,
					 size_t n)
{
	for (int depth = 0; vbus_stack_ref(def) && depth < STACK_MAX; depth++) {
		const struct vbus_def *up = NULL;

		for (size_t i = 0; i < n && !up; i++)
			if (streq(defs[i]->name, vbus_stack_ref(def)))
				up = defs[i];
		if (!up)
			break;
		def = up;
	}
	return def;
}

static int reconcile_locked(struct vbus_ctx *ctx, const char *parent, unsigned flags,
			    struct json_object **ret_results)
{
	_cleanup_json_ struct json_object *results = json_object_new_array();
	_cleanup_free_ char *first = NULL;
	struct vbus_def **defs = NULL;
	size_t n = 0, *order = NULL;
	unsigned n_failed = 0, n_changed = 0;
	int r, first_r = 0;

	if (!results)
		return -ENOMEM;
	r = sweep_pending(ctx);
	if (r < 0)
		return r;
	r = vbus_store_load_all(ctx, true, &defs, &n);
	if (r < 0)
		return r;
	/* Parents first: what stands on another definition after it, by the depth of its stack
	 * (VF, then the mdev on it); the same order by name within a depth. */
	order = calloc(n + 1, sizeof(*order));
	if (!order) {
		vbus_defs_free(defs, n);
		return -ENOMEM;
	}
	for (int depth = 0, k = 0; (size_t)k < n && depth <= STACK_MAX; depth++)
		for (size_t i = 0; i < n; i++)
			if (vbus_stack_depth(defs[i], defs, n) == depth)
				order[k++] = i;
	for (size_t o = 0; o < n && r >= 0; o++) {
		const struct vbus_def *def = defs[order[o]], *root = stack_root(def, defs, n);
		const struct vbus_backend *be = vbus_ctx_backend(ctx, root->kind);
		const char *result, *cause = NULL;
		int k = 0;

		if (def->start != VBUS_START_AUTO)
			continue;
		/* A parent that appeared brings up what stands on its definitions too. */
		if (parent && (vbus_stack_ref(root) ||
			       !streq(parent_sysname(root->parent), parent_sysname(parent))))
			continue;
		vbus_error_clear(ctx);
		if (be && be->check && !vbus_stack_ref(root) && be->check(ctx, root) == -ENODEV) {
			result = "absent";
		} else {
			k = start_locked(ctx, def->name, flags);
			result = k >= 0 ? "started" : k == -EALREADY ? "unchanged" : "failed";
		}
		if (k < 0 && k != -EALREADY) {
			cause = vbus_ctx_last_error(ctx) ?: strerror(-k);
			if (n_failed++ == 0) {
				first_r = k;
				if (asprintf(&first, "'%s' did not start: %s", def->name, cause) < 0)
					first = NULL;
			}
		} else {
			k = 0;
		}
		if (k == 0 && streq(result, "started"))
			n_changed++;
		r = result_add(results, def->name, result, cause, k);
	}
	vbus_defs_free(defs, n);
	free(order);
	vbus_error_clear(ctx);
	if (r < 0)
		return r;
	*ret_results = TAKE_PTR(results);
	if (n_failed > 1)
		return vbus_error(ctx, first_r, "%s, and %u more failed", first ?: "", n_failed - 1);
	if (n_failed)
		return vbus_error(ctx, first_r, "%s", first ?: "");
	return (int)n_changed;
}

VBUS_EXPORT int vbus_reconcile(struct vbus_ctx *ctx, const char *parent, unsigned flags,
			       struct json_object **ret_results)
{
	int r;

	vbus_error_clear(ctx);
	r = vbus_lock(ctx);
	if (r < 0)
		return r;
	ctx->force = flags & VBUS_START_FORCE;
	r = reconcile_locked(ctx, parent, flags, ret_results);
	ctx->force = false;
	vbus_unlock(ctx);
	return r;
}

/* ---- policy for what vbus did not make ---------------------------------------------------- */

/* A definition-shaped copy of an active device of a listing: its identity only. */
static int def_from_active(const struct vbus_device *dev, struct vbus_def **ret)
{
	_cleanup_def_ struct vbus_def *def = NULL;
	const char *fields[] = { vbus_device_get_name(dev), vbus_device_get_parent(dev),
				 vbus_device_get_type(dev), vbus_device_get_uuid(dev) };
	int r;

	r = vbus_def_new(&def);
	if (r < 0)
		return r;
	def->kind = vbus_device_get_kind(dev);
	if (def->kind < 0 || !fields[0] || !fields[1])
		return -EINVAL;
	{
		char **to[] = { &def->name, &def->parent, &def->type, &def->uuid };

		for (size_t i = 0; i < ELEMENTSOF(to); i++)
			if (fields[i] && !(*to[i] = strdup(fields[i])))
				return -ENOMEM;
	}
	def->index = vbus_device_get_index(dev);
	*ret = TAKE_PTR(def);
	return 0;
}

int vbus_apply_policy_to(struct vbus_ctx *ctx, const struct vbus_device *dev)
{
	_cleanup_def_ struct vbus_def *def = NULL;
	_cleanup_free_ char *choice = NULL, *driver = NULL, *bound = NULL;
	const char *name = vbus_device_get_name(dev);
	const struct vbus_backend *be;
	bool skip;
	int r;

	vbus_error_clear(ctx);
	if (vbus_device_is_defined(dev))
		return 0; /* its definition decides, not policy */
	r = def_from_active(dev, &def);
	if (r >= 0 && vbus_device_get_bound_driver(dev) &&
	    !(bound = strdup(vbus_device_get_bound_driver(dev))))
		r = -ENOMEM;
	if (r < 0)
		return vbus_error(ctx, r, "'%s': cannot tell what it is", name);
	r = vbus_policy_adopt_driver(ctx, def, &choice);
	if (r < 0 || !choice)
		return r;
	r = vbus_backend_require(ctx, def->kind, &be);
	if (r < 0)
		return r;

	r = vbus_lock(ctx);
	if (r < 0)
		return r;
	r = resolve_driver(ctx, be, def, choice, NULL, &driver, &skip);
	if (r >= 0 && !skip && !streq_ptr(driver, bound)) {
		r = do_bind(ctx, be, def, driver);
		if (r >= 0) {
			info(ctx, "Policy bound '%s' to %s", name, driver ?: "no driver");
			r = 1;
		}
	} else if (r >= 0) {
		r = 0;
	}
	vbus_unlock(ctx);
	return r;
}

VBUS_EXPORT int vbus_apply_policy(struct vbus_ctx *ctx, const char *name)
{
	struct vbus_device **list = NULL;
	size_t n = 0;
	int r;

	vbus_error_clear(ctx);
	r = vbus_list_devices(ctx, VBUS_LIST_ACTIVE, name, &list, &n);
	if (r < 0)
		return r;
	if (n == 0) {
		vbus_device_list_free(list, n);
		return vbus_error(ctx, -ENODEV, "'%s' is not an active sub-device", name);
	}
	r = vbus_apply_policy_to(ctx, list[0]);
	vbus_device_list_free(list, n);
	return r;
}

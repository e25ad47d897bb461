// SPDX-License-Identifier: LGPL-2.1-or-later
/* mdevctl's callout and notifier scripts, run around the changes vbus makes to mdevs. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include "callout.h"
#include "vbus-private.h"

/*
 * The protocol is mdevctl's (src/callouts.rs), so vendor scripts written for mdevctl (vfio-ap,
 * vGPU managers) keep working when vbus owns the mdevs:
 *   SCRIPT -t TYPE -e EVENT -a ACTION -s STATE -u UUID -p PARENT
 * with the device's mdevctl JSON ({"mdev_type", "start", "attrs"}) on standard input.
 * Callouts: the executables of /usr/lib/mdevctl/scripts.d/callouts, then of
 * /etc/mdevctl.d/scripts.d/callouts, in name order; the first whose exit status is not 2
 * ("not my device") is the device's script. A non-zero status at "pre" vetoes the change;
 * "post" follows the change with state success or failure. Notifiers (scripts.d/notifiers)
 * all run after the change, without standard input; their status is ignored.
 */

#define CALLOUT_TIMEOUT_SEC 30
#define CALLOUT_OUTPUT_MAX 4096

static const char *const callout_dirs[] = {
	"/usr/lib/mdevctl/scripts.d/callouts",
	"/etc/mdevctl.d/scripts.d/callouts",
};

static const char *const notifier_dirs[] = {
	"/usr/lib/mdevctl/scripts.d/notifiers",
	"/etc/mdevctl.d/scripts.d/notifiers",
};

void vbus_callout_done(struct vbus_callout *c)
{
	free(c->script);
	c->script = NULL;
}

/* mdevctl's JSON of DEF: what a script reads on standard input. */
static char *mdev_json(const struct vbus_def *def)
{
	_cleanup_json_ struct json_object *o = json_object_new_object(), *attrs = NULL;
	char *s;

	attrs = json_object_new_array();
	if (!o || !attrs)
		return NULL;
	for (size_t i = 0; i < def->n_attrs; i++) {
		struct json_object *a = json_object_new_object();

		if (!a || json_object_object_add(a, def->attrs[i].key,
						 json_object_new_string(def->attrs[i].value)) < 0 ||
		    json_object_array_add(attrs, a) < 0) {
			json_object_put(a);
			return NULL;
		}
	}
	if (json_object_object_add(o, "mdev_type", json_object_new_string(def->type ?: "")) < 0 ||
	    json_object_object_add(o, "start",
				   json_object_new_string(vbus_start_to_string(def->start))) < 0 ||
	    json_object_object_add(o, "attrs", TAKE_PTR(attrs)) < 0)
		return NULL;
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE));
	return s;
}

/* What a script wrote on one of its outputs, up to CALLOUT_OUTPUT_MAX bytes. */
struct output {
	int fd;
	size_t n;
	char buf[CALLOUT_OUTPUT_MAX];
};

/* Reads what FD has; false at its end. */
static bool output_read(struct output *o)
{
	char sink[512];
	ssize_t k;

	if (o->n < sizeof(o->buf) - 1)
		k = read(o->fd, o->buf + o->n, sizeof(o->buf) - 1 - o->n);
	else
		k = read(o->fd, sink, sizeof(sink)); /* enough kept: drain the rest */
	if (k < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (k <= 0) {
		close(o->fd);
		o->fd = -1;
		return false;
	}
	if (o->n < sizeof(o->buf) - 1)
		o->n += k;
	return true;
}

/* write(), where a script that exited without reading its input gives EPIPE, not a SIGPIPE
 * that would kill the caller's process (a library must not change its signal handling). */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t n)
{
	static const struct timespec zero;
	sigset_t pipe, old;
	ssize_t k;
	int saved;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, &old);
	k = write(fd, buf, n);
	saved = errno;
	if (k < 0 && errno == EPIPE && !sigismember(&old, SIGPIPE))
		(void)sigtimedwait(&pipe, NULL, &zero); /* the SIGPIPE this write raised */
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return k;
}

/*
 * Runs SCRIPT with the protocol's arguments and INPUT on standard input. Returns the exit
 * status (>= 0), or a negative errno when it could not run or was killed (after the timeout).
 * Its standard output goes to *ret_out, the first line of its standard error to *ret_err
 * (each may be NULL; NULL when empty).
 */
static int run_script(struct vbus_ctx *ctx, const char *script, const struct vbus_def *def,
		      const char *event, const char *action, const char *state, const char *input,
		      char **ret_out, char **ret_err)
{
	const char *argv[] = { script, "-t", def->type ?: "", "-e", event, "-a", action, "-s",
			       state, "-u", def->uuid ?: "", "-p", def->parent ?: "", NULL };
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	struct output o = { .fd = -1 }, e = { .fd = -1 };
	size_t done = 0, len = input ? strlen(input) : 0;
	struct timespec start, now;
	int status, r = 0;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		r = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (pid == 0) {
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
			_exit(127);
		execv(script, (char **)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	in[0] = out[1] = err[1] = -1;
	o.fd = out[0];
	e.fd = err[0];
	out[0] = err[0] = -1;
	if (!input) {
		close(in[1]);
		in[1] = -1;
	} else {
		fcntl(in[1], F_SETFL, O_NONBLOCK);
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (o.fd >= 0 || e.fd >= 0) {
		struct pollfd p[3] = { { .fd = o.fd, .events = POLLIN },
				       { .fd = e.fd, .events = POLLIN },
				       { .fd = in[1], .events = POLLOUT } };
		int left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = (CALLOUT_TIMEOUT_SEC - (now.tv_sec - start.tv_sec)) * 1000;
		if (left <= 0 || poll(p, 3, left) == 0) {
			kill(pid, SIGKILL);
			r = -ETIME;
			break;
		}
		if (p[2].revents) {
			ssize_t k = write_nosigpipe(in[1], input + done, len - done);

			if (k > 0)
				done += k;
			if ((k < 0 && errno != EAGAIN && errno != EINTR) || done == len) {
				close(in[1]); /* a script that stops reading early is fine */
				in[1] = -1;
			}
		}
		if (p[0].revents)
			output_read(&o);
		if (p[1].revents)
			output_read(&e);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r == 0)
		r = WIFEXITED(status) ? WEXITSTATUS(status) : -EINTR;
	o.buf[o.n] = e.buf[e.n] = '\0';
	e.buf[strcspn(e.buf, "\n")] = '\0';
	if (ret_out)
		*ret_out = o.n ? strdup(o.buf) : NULL;
	if (ret_err)
		*ret_err = e.buf[0] ? strdup(e.buf) : NULL;
	dbg(ctx, "callout %s -e %s -a %s -s %s for %s: %d", script, event, action, state,
	    def->uuid ?: "?", r);
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	if (o.fd >= 0)
		close(o.fd);
	if (e.fd >= 0)
		close(e.fd);
	return r;
}

/* A script's answer to "get capabilities": whether its "supports" lists the live event. */
static bool supports_live(const char *out)
{
	_cleanup_json_ struct json_object *o = out ? json_tokener_parse(out) : NULL;
	struct json_object *sup, *events;

	if (!o || !json_object_object_get_ex(o, "supports", &sup) ||
	    !json_object_object_get_ex(sup, "events", &events) ||
	    !json_object_is_type(events, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(events); i++)
		if (streq(json_object_get_string(json_object_array_get_idx(events, i)), "live"))
			return true;
	return false;
}

/*
 * The executables of the directories DIRS (under the root), each directory's sorted by name,
 * in the order of DIRS. A pair found without any is not read again while the lock is held as
 * it was then: an import of thousands of mdevs read both pairs per mdev for nothing (a script
 * run costs far more than the read it skips).
 */
static int list_scripts(struct vbus_ctx *ctx, const char *const dirs[2], char ***ret,
			size_t *ret_n)
{
	unsigned bit = dirs == callout_dirs ? 1u : 2u;
	char **scripts = NULL;
	size_t n = 0;

	if (ctx->lock_depth > 0 && ctx->scripts_gen == ctx->lock_gen && (ctx->scripts_none & bit)) {
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	if (ctx->scripts_gen != ctx->lock_gen) {
		ctx->scripts_gen = ctx->lock_gen;
		ctx->scripts_none = 0;
	}
	for (size_t d = 0; d < 2; d++) {
		_cleanup_free_ char *path = vbus_path(ctx, dirs[d]);
		struct dirent **ents = NULL;
		char **grown;
		int k;

		if (!path)
			goto oom;
		k = scandir(path, &ents, NULL, vbus_dirent_cmp);
		if (k < 0)
			continue;
		grown = realloc(scripts, (n + k + 1) * sizeof(*scripts));
		if (grown)
			scripts = grown;
		for (int i = 0; i < k; i++) {
			struct stat st;
			char *p = NULL;

			if (grown && ents[i]->d_name[0] != '.' &&
			    asprintf(&p, "%s/%s", path, ents[i]->d_name) >= 0 &&
			    stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0)
				scripts[n++] = TAKE_PTR(p);
			free(p);
			free(ents[i]);
		}
		free(ents);
		if (!grown)
			goto oom;
	}
	if (n == 0)
		ctx->scripts_none |= bit;
	*ret = scripts;
	*ret_n = n;
	return 0;
oom:
	for (size_t i = 0; i < n; i++)
		free(scripts[i]);
	free(scripts);
	return -ENOMEM;
}

/* The scripts of a directory pair, freed with scripts_done(). */
struct scripts {
	char **v;
	size_t n;
};

static void scripts_done(struct scripts *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

int vbus_callout_pre(struct vbus_ctx *ctx, const struct vbus_def *def, const char *action,
		     struct vbus_callout *c)
{
	_cleanup_(scripts_done) struct scripts s = {};
	_cleanup_free_ char *input = NULL;
	int r;

	*c = (struct vbus_callout){};
	if (def->kind != VBUS_KIND_MDEV)
		return 0;
	r = list_scripts(ctx, callout_dirs, &s.v, &s.n);
	if (r < 0)
		return r;
	/* What the scripts read: not made when there is none (the usual host). */
	input = s.n ? mdev_json(def) : NULL;
	if (s.n && !input)
		return -ENOMEM;
	for (size_t i = 0; i < s.n; i++) {
		_cleanup_free_ char *cause = NULL;
		const char *name = strrchr(s.v[i], '/') + 1;

		r = run_script(ctx, s.v[i], def, "pre", action, "none", input, NULL, &cause);
		if (r == 2)
			continue; /* not this script's device */
		if (r < 0)
			return vbus_error(ctx, -EPERM,
					  "callout %s did not finish the pre-%s step for '%s': %s",
					  name, action, def->name, strerror(-r));
		if (r > 0)
			return vbus_error(ctx, -EPERM, "callout %s refused to %s '%s' (status %d)%s%s",
					  name, action, def->name, r, cause ? ": " : "", cause ?: "");
		c->script = TAKE_PTR(s.v[i]);
		return 0;
	}
	return 0;
}

void vbus_callout_post(struct vbus_ctx *ctx, const struct vbus_def *def, const char *action,
		       struct vbus_callout *c, int result)
{
	_cleanup_(scripts_done) struct scripts s = {};
	_cleanup_free_ char *input = NULL;
	const char *state = result < 0 ? "failure" : "success";

	if (def->kind != VBUS_KIND_MDEV)
		return;
	/* Only the pre step's script reads the definition: not made without one. */
	if (c->script && (input = mdev_json(def)))
		(void)run_script(ctx, c->script, def, "post", action, state, input, NULL, NULL);
	if (list_scripts(ctx, notifier_dirs, &s.v, &s.n) >= 0)
		for (size_t i = 0; i < s.n; i++)
			(void)run_script(ctx, s.v[i], def, "notify", action, state, NULL, NULL, NULL);
	vbus_callout_done(c);
}

int vbus_callout_live(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	_cleanup_(scripts_done) struct scripts s = {};
	_cleanup_free_ char *input = mdev_json(def);
	static const char provides[] = "{\"provides\":{\"version\":2,\"actions\":[\"start\","
				       "\"stop\",\"define\",\"undefine\",\"modify\","
				       "\"attributes\",\"capabilities\"],\"events\":[\"pre\","
				       "\"post\",\"notify\",\"get\",\"live\"]}}";
	int r;

	if (!input)
		return -ENOMEM;
	r = list_scripts(ctx, callout_dirs, &s.v, &s.n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < s.n; i++) {
		_cleanup_free_ char *cause = NULL, *caps = NULL;
		const char *name = strrchr(s.v[i], '/') + 1;

		/* The script's device, and whether it changes it live (mdevctl 1.3's versioned
		 * scripts): only such a script is asked to. */
		r = run_script(ctx, s.v[i], def, "get", "capabilities", "none", provides, &caps,
			       NULL);
		if (r != 0 || !supports_live(caps))
			continue;
		r = run_script(ctx, s.v[i], def, "live", "modify", "none", input, NULL, &cause);
		if (r == 2)
			continue;
		if (r != 0)
			r = vbus_error(ctx, r < 0 ? r : -EIO,
				       "callout %s could not change running '%s' (status %d)%s%s",
				       name, def->name, r, cause ? ": " : "", cause ?: "");
		return r;
	}
	return vbus_error(ctx, -EOPNOTSUPP,
			  "'%s' cannot be changed while running: no callout script of mdev type "
			  "%s supports live changes",
			  def->name, def->type ?: "?");
}

/* Adds the attributes in OUT, a script's answer to "get attributes" (mdevctl's shape: an array
 * of one-key objects; "" and "[{}]" mean none), to DEF. */
static int add_reported_attrs(struct vbus_ctx *ctx, struct vbus_def *def, const char *name,
			      const char *out)
{
	_cleanup_json_ struct json_object *a = NULL;
	size_t n;
	int r;

	if (!out || !out[strspn(out, " \t\n")] || streq(out, "[{}]") || streq(out, "[{}]\n"))
		return 0;
	a = json_tokener_parse(out);
	if (!a || !json_object_is_type(a, json_type_array))
		return vbus_error(ctx, -EBADMSG,
				  "callout %s answered \"get attributes\" for '%s' with no JSON "
				  "array of attributes",
				  name, def->name ?: def->uuid);
	n = json_object_array_length(a);
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(a, i);

		if (!json_object_is_type(o, json_type_object) ||
		    json_object_object_length(o) != 1)
			return vbus_error(ctx, -EBADMSG,
					  "callout %s: attribute %zu for '%s' is not an object "
					  "with one key",
					  name, i, def->name ?: def->uuid);
		json_object_object_foreach(o, key, val) {
			if (!json_object_is_type(val, json_type_string))
				return vbus_error(ctx, -EBADMSG,
						  "callout %s: attribute \"%s\" for '%s' is not a "
						  "string",
						  name, key, def->name ?: def->uuid);
			r = vbus_def_add_attr(def, key, json_object_get_string(val));
			if (r < 0)
				return r;
		}
	}
	return 1;
}

VBUS_EXPORT int vbus_callout_get_attrs(struct vbus_ctx *ctx, struct vbus_def *def)
{
	_cleanup_(scripts_done) struct scripts s = {};
	int r;

	if (!ctx || !def || def->kind != VBUS_KIND_MDEV)
		return -EINVAL;
	r = list_scripts(ctx, callout_dirs, &s.v, &s.n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < s.n; i++) {
		_cleanup_free_ char *out = NULL, *cause = NULL;
		const char *name = strrchr(s.v[i], '/') + 1;

		/* As mdevctl: no standard input for a "get" event. */
		r = run_script(ctx, s.v[i], def, "get", "attributes", "none", NULL, &out, &cause);
		if (r == 2)
			continue;
		if (r != 0)
			return vbus_error(ctx, r < 0 ? r : -EIO,
					  "callout %s failed to get the attributes of '%s' (status "
					  "%d)%s%s",
					  name, def->name ?: def->uuid, r, cause ? ": " : "",
					  cause ?: "");
		return add_reported_attrs(ctx, def, name, out);
	}
	return 0;
}

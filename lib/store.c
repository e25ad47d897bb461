// SPDX-License-Identifier: LGPL-2.1-or-later
/* The config store: /etc/vbus/devices.d/NAME.json, written atomically, read leniently. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "vbus-private.h"

#define DEVICES_DIR "/etc/vbus/devices.d"

void vbus_defs_free(struct vbus_def **defs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		vbus_def_free(defs[i]);
	free(defs);
}

int vbus_dirent_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int vbus_uuid_generate(char **ret)
{
	uint8_t b[16];
	char *s;
	ssize_t n;

	n = getrandom(b, sizeof(b), 0);
	if (n < 0)
		return -errno;
	if (n != sizeof(b))
		return -EIO;
	b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	if (asprintf(&s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		     b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
		     b[12], b[13], b[14], b[15]) < 0)
		return -ENOMEM;
	*ret = s;
	return 0;
}

/* mkdir -p, for directories under the root: one mkdir() when the directory exists already,
 * the parents only when it says they are missing. */
int vbus_mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = NULL;
	char *slash;
	int r;

	if (mkdir(path, mode) >= 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -errno;
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	slash = strrchr(p, '/');
	if (!slash || slash == p)
		return -ENOENT;
	*slash = '\0';
	r = vbus_mkdir_p(p, mode);
	if (r < 0)
		return r;
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int fsync_dir(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		return -errno;
	return 0;
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, s, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		s += k;
		n -= k;
	}
	return 0;
}

/*
 * Replaces DIR/NAME with CONTENTS so that a reader (or a crash) sees the old file or the new
 * one, never a mix: a temporary file beside it, fsync, rename over, fsync the directory.
 */
static int write_file_atomic(struct vbus_ctx *ctx, const char *dir, const char *name,
			     const char *contents, bool sync)
{
	_cleanup_free_ char *tmp = NULL, *dst = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	ctx->changed_gen = ctx->lock_gen;
	r = vbus_mkdir_p(dir, 0755);
	if (r < 0)
		return vbus_error(ctx, r, "cannot create %s: %s", vbus_path_display(ctx, dir),
				  strerror(-r));
	if (asprintf(&tmp, "%s/.#%s.XXXXXX", dir, name) < 0 ||
	    asprintf(&dst, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		return vbus_error(ctx, r, "cannot write %s: %s", vbus_path_display(ctx, dst),
				  strerror(-r));
	}
	r = write_all(fd, contents, strlen(contents));
	if (r >= 0 && fchmod(fd, 0644) < 0)
		r = -errno;
	if (r >= 0 && sync && fsync(fd) < 0)
		r = -errno;
	if (r >= 0 && rename(tmp, dst) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return vbus_error(ctx, r, "cannot write %s: %s", vbus_path_display(ctx, dst),
				  strerror(-r));
	}
	r = sync ? fsync_dir(dir) : 0;
	if (r < 0)
		return vbus_error(ctx, r, "cannot sync %s: %s", vbus_path_display(ctx, dir),
				  strerror(-r));
	return 0;
}

int vbus_write_file_atomic(struct vbus_ctx *ctx, const char *dir, const char *name,
			   const char *contents)
{
	return write_file_atomic(ctx, dir, name, contents, !ctx->store_defer_sync);
}

/*
 * The same for runtime state (/run/vbus), without fsync: the rename makes the file visible to
 * every later reader whatever happens to this process, which is what the write-ahead record
 * of a start needs (written before the kernel is asked). What an fsync adds is survival of a
 * power loss or kernel crash, after which /run (a tmpfs) is empty and none of the devices
 * such a record describes exists any more either.
 */
int vbus_write_runtime_file(struct vbus_ctx *ctx, const char *dir, const char *name,
			    const char *contents)
{
	return write_file_atomic(ctx, dir, name, contents, false);
}

int vbus_unlink_sync(struct vbus_ctx *ctx, const char *dir, const char *name)
{
	_cleanup_free_ char *p = NULL;
	int r;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	ctx->changed_gen = ctx->lock_gen;
	if (unlink(p) < 0) {
		r = -errno;
		return vbus_error(ctx, r, "cannot remove %s: %s", vbus_path_display(ctx, p),
				  strerror(-r));
	}
	if (!ctx->store_defer_sync)
		(void)fsync_dir(dir); /* the file is gone; a failed dir sync is not fatal */
	return 0;
}

/* Parses LEN bytes of BUF (NUL-terminated) as one JSON value with TOK, which is reset first. */
static int parse_json(struct vbus_ctx *ctx, struct json_tokener *tok, const char *buf, size_t len,
		      struct json_object **ret)
{
	struct json_object *obj;
	enum json_tokener_error jerr;

	if (len == 0)
		return vbus_error(ctx, -EINVAL, "empty file");
	json_tokener_reset(tok);
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	if (!obj && jerr == json_tokener_continue)
		jerr = json_tokener_error_parse_eof;
	if (!obj)
		return vbus_error(ctx, -EINVAL, "invalid JSON: %s", json_tokener_error_desc(jerr));
	/* Only white space may follow the value. */
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
		if (!strchr(" \t\r\n", buf[i])) {
			json_object_put(obj);
			return vbus_error(ctx, -EINVAL, "trailing data after the JSON value");
		}
	*ret = obj;
	return 0;
}

/* What fd's fstat() says against reading it: a directory, not a regular file, too large. */
static int check_regular(struct vbus_ctx *ctx, int fd)
{
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0) {
		r = -errno;
		return vbus_error(ctx, r, "%s", strerror(-r));
	}
	if (S_ISDIR(st.st_mode))
		return vbus_error(ctx, -EISDIR, "%s", strerror(EISDIR));
	if (!S_ISREG(st.st_mode))
		return vbus_error(ctx, -EINVAL, "not a regular file");
	if (st.st_size > VBUS_DEF_MAX_SIZE)
		return vbus_error(ctx, -EFBIG, "file too large (%jd bytes, at most %d)",
				  (intmax_t)st.st_size, VBUS_DEF_MAX_SIZE);
	return 0;
}

/*
 * Reads a whole file of at most VBUS_DEF_MAX_SIZE bytes into *BUF (grown as needed,
 * NUL-terminated). Only a regular file is read: opened without blocking (a FIFO or a device
 * node never hangs the reader), OFLAGS adds O_NOFOLLOW where a link must not be followed. A
 * first read of a buffer larger than the file returns it all. REGULAR: the directory listing
 * said PATH is a regular file (d_type), so no fstat() is made unless the file turns out too
 * large (then for the same message); a file swapped for another type since reads as empty
 * (a FIFO, opened without blocking) or fails to read (a directory).
 */
static int read_file_at(struct vbus_ctx *ctx, int dirfd, const char *path, int oflags,
			bool regular, char **buf, size_t *size, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	size_t len = 0;
	int r;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | oflags);
	if (fd < 0) {
		r = -errno;
		if (r == -ELOOP && (oflags & O_NOFOLLOW))
			return vbus_error(ctx, r, "a symbolic link (not followed)");
		return vbus_error(ctx, r, "%s", strerror(-r));
	}
	if (!regular) {
		r = check_regular(ctx, fd);
		if (r < 0)
			return r;
	}
	for (;;) {
		ssize_t k;

		if (!*buf || len + 1 >= *size) {
			size_t n = *size ? *size * 2 : 16384;
			char *b;

			if (*size >= VBUS_DEF_MAX_SIZE + 2) {
				r = regular ? check_regular(ctx, fd) : 0;
				if (r < 0)
					return r;
				return vbus_error(ctx, -EFBIG, "file too large (at most %d bytes)",
						  VBUS_DEF_MAX_SIZE);
			}
			if (n > VBUS_DEF_MAX_SIZE + 2)
				n = VBUS_DEF_MAX_SIZE + 2;
			b = realloc(*buf, n);
			if (!b)
				return -ENOMEM;
			*buf = b;
			*size = n;
		}
		k = read(fd, *buf + len, *size - 1 - len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			return vbus_error(ctx, r, "%s", strerror(-r));
		}
		len += k;
		/* Short of the buffer: the end of the file. */
		if (k == 0 || len + 1 < *size)
			break;
	}
	(*buf)[len] = '\0';
	*ret_len = len;
	return 0;
}

int vbus_read_json_file_at(struct vbus_ctx *ctx, int dirfd, const char *path, int oflags,
			   struct json_object **ret)
{
	_cleanup_free_ char *buf = NULL;
	struct json_tokener *tok;
	size_t size = 0, len;
	int r;

	r = read_file_at(ctx, dirfd, path, oflags, false, &buf, &size, &len);
	if (r < 0)
		return r;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	r = parse_json(ctx, tok, buf, len, ret);
	json_tokener_free(tok);
	return r;
}

/* Reads PATH as one JSON value; a cause the user can act on in vbus_ctx_last_error(). */
int vbus_read_json_file(struct vbus_ctx *ctx, const char *path, struct json_object **ret)
{
	return vbus_read_json_file_at(ctx, AT_FDCWD, path, 0, ret);
}

/* The first line of a small regular file under DIRFD (not following a link when OFLAGS says
 * O_NOFOLLOW), without its line end; the rest of the file is ignored. */
int vbus_read_line_at(struct vbus_ctx *ctx, int dirfd, const char *path, int oflags, char **ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t size = 0, len;
	char *line;
	int r;

	r = read_file_at(ctx, dirfd, path, oflags, false, &buf, &size, &len);
	if (r < 0)
		return r;
	len = strcspn(buf, "\n");
	while (len > 0 && strchr(" \t\r", buf[len - 1]))
		len--;
	if (len == 0)
		return vbus_error(ctx, -EINVAL, "empty file");
	line = strndup(buf, len);
	if (!line)
		return -ENOMEM;
	*ret = line;
	return 0;
}

/* Removes NAME under DIRFD, a file or a directory of files (one level: all vbus puts there). */
static void remove_entry(int dirfd, const char *name)
{
	int fd;
	DIR *d;
	struct dirent *de;

	if (unlinkat(dirfd, name, 0) >= 0 || (errno != EISDIR && errno != EPERM))
		return;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			(void)unlinkat(fd, de->d_name, 0);
	closedir(d);
	(void)unlinkat(dirfd, name, AT_REMOVEDIR);
}

/* Under the lock nobody is writing: a ".#NAME.XXXXXX" left in DIRFD is the temporary file of a
 * writer that was killed between create and rename, ".#journal*" a journal not yet committed or
 * already done (never loaded: hidden). Errors are ignored (best effort). */
void vbus_remove_stale_temporaries(int dirfd)
{
	DIR *d;
	struct dirent *de;
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] == '.' && de->d_name[1] == '#')
			remove_entry(dirfd, de->d_name);
	closedir(d);
}

/*
 * The journal of apply: many files changed as one. Before the first change, a directory
 * ".#journal" gets, for each file to change, a hard link to the file as it is (the old inode
 * stays: writers replace files by rename) or "FILE.absent" when there is none; it becomes
 * ".journal" by one rename (the commit point of the journal). The changes follow. The end is one
 * rename of ".journal" to ".#journal-done". A ".journal" met under the lock is an apply that did
 * not finish: its files are put back (each a rename or an unlink, so a crash meanwhile is
 * replayed again) and the store shows the whole old set.
 */
#define JOURNAL ".journal"
#define JOURNAL_TMP ".#journal"
#define JOURNAL_DONE ".#journal-done"
#define ABSENT ".absent"

static int fsync_fd(int fd)
{
	return fsync(fd) < 0 ? -errno : 0;
}

int vbus_store_journal_begin(struct vbus_ctx *ctx, char *const *files, size_t n)
{
	_cleanup_close_ int jfd = -1;
	int dfd = ctx->lock_fd, r = 0;

	if (ctx->lock_depth == 0 || dfd < 0)
		return -EINVAL;
	remove_entry(dfd, JOURNAL_TMP);
	if (mkdirat(dfd, JOURNAL_TMP, 0700) < 0)
		goto fail;
	jfd = openat(dfd, JOURNAL_TMP, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (jfd < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *absent = NULL;
		int fd;

		if (linkat(dfd, files[i], jfd, files[i], 0) >= 0)
			continue;
		if (errno != ENOENT)
			goto fail;
		if (asprintf(&absent, "%s" ABSENT, files[i]) < 0) {
			r = -ENOMEM;
			goto out;
		}
		fd = openat(jfd, absent, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			goto fail;
		close(fd);
	}
	if (fsync(jfd) < 0 || renameat(dfd, JOURNAL_TMP, dfd, JOURNAL) < 0 || fsync(dfd) < 0)
		goto fail;
	return 0;
fail:
	r = -errno;
out:
	remove_entry(dfd, JOURNAL_TMP);
	if (r == -ENOMEM)
		return r;
	return vbus_error(ctx, r, "cannot write the journal in %s: %s", DEVICES_DIR,
			  strerror(-r));
}

int vbus_store_journal_commit(struct vbus_ctx *ctx)
{
	int dfd = ctx->lock_fd, r;

	/* Every file written meanwhile is on disk before the journal goes. */
	if (syncfs(dfd) < 0 || renameat(dfd, JOURNAL, dfd, JOURNAL_DONE) < 0 || fsync(dfd) < 0) {
		r = -errno;
		return vbus_error(ctx, r, "cannot commit the journal in %s: %s", DEVICES_DIR,
				  strerror(-r));
	}
	remove_entry(dfd, JOURNAL_DONE);
	return 0;
}

/* Puts back the files of the journal in DFD; 0 when there is none. */
int vbus_store_journal_rollback(struct vbus_ctx *ctx, int dfd)
{
	_cleanup_close_ int jfd = -1;
	char **names = NULL;
	int n, r = 0;

	jfd = openat(dfd, JOURNAL, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (jfd < 0)
		return errno == ENOENT ? 0 : vbus_error(ctx, -errno, "cannot open the journal in %s: %s",
							DEVICES_DIR, strerror(errno));
	/* The names first: the loop below empties the directory it would read. */
	{
		int fd = fcntl(jfd, F_DUPFD_CLOEXEC, 3);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;
		size_t cap = 0;

		if (!d) {
			if (fd >= 0)
				close(fd);
			return -ENOMEM;
		}
		n = 0;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			if ((size_t)n == cap) {
				char **x = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));

				if (!x) {
					r = -ENOMEM;
					break;
				}
				names = x;
			}
			names[n] = strdup(de->d_name);
			if (!names[n]) {
				r = -ENOMEM;
				break;
			}
			n++;
		}
		closedir(d);
	}
	for (int i = 0; i < n && r >= 0; i++) {
		char *f = names[i];
		size_t len = strlen(f);

		if (len > strlen(ABSENT) && streq(f + len - strlen(ABSENT), ABSENT)) {
			_cleanup_free_ char *file = strndup(f, len - strlen(ABSENT));

			if (!file)
				r = -ENOMEM;
			else if (unlinkat(dfd, file, 0) < 0 && errno != ENOENT)
				r = -errno;
			else if (fsync(dfd) < 0 || unlinkat(jfd, f, 0) < 0)
				r = -errno;
		} else if (renameat(jfd, f, dfd, f) < 0)
			r = -errno;
		/* A rename onto another link of the same inode (the file was not changed yet)
		 * does nothing: that link goes by itself. */
		else if (unlinkat(jfd, f, 0) < 0 && errno != ENOENT)
			r = -errno;
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (r >= 0)
		r = fsync_fd(dfd);
	if (r >= 0 && unlinkat(dfd, JOURNAL, AT_REMOVEDIR) < 0)
		r = -errno;
	if (r >= 0)
		r = fsync_fd(dfd);
	if (r < 0)
		return r == -ENOMEM ? r
				    : vbus_error(ctx, r, "cannot roll back the journal in %s: %s",
						 DEVICES_DIR, strerror(-r));
	return 1;
}

int vbus_lock(struct vbus_ctx *ctx)
{
	_cleanup_free_ char *dir = NULL;
	int fd, r;

	if (ctx->lock_depth > 0) {
		ctx->lock_depth++;
		return 0;
	}
	dir = vbus_store_dir(ctx);
	if (!dir)
		return -ENOMEM;
	r = vbus_mkdir_p(dir, 0755);
	if (r < 0)
		return vbus_error(ctx, r, "cannot create %s: %s", DEVICES_DIR, strerror(-r));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		return vbus_error(ctx, r, "cannot open %s: %s", DEVICES_DIR, strerror(-r));
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		r = -errno;
		close(fd);
		return vbus_error(ctx, r, "cannot lock %s: %s", DEVICES_DIR, strerror(-r));
	}
	/* An apply killed before its end: the old set comes back before anyone reads or writes.
	 * Every time, not once: another process may have been the one killed. */
	if (faccessat(fd, JOURNAL, F_OK, AT_SYMLINK_NOFOLLOW) >= 0) {
		r = vbus_store_journal_rollback(ctx, fd);
		if (r < 0) {
			close(fd);
			return r;
		}
		warn(ctx, "Rolled back an apply that did not finish in %s", DEVICES_DIR);
	}
	/* The same for the run records' journal of a start killed half-way. */
	r = vbus_run_journal_fold(ctx);
	if (r < 0) {
		close(fd);
		return r;
	}
	/* Once per context: a long-lived one (vbusd) must not read the whole store on every
	 * change; a writer killed meanwhile leaves a hidden file that the next process (or
	 * vbusd's next start) removes. */
	if (!ctx->store_swept) {
		_cleanup_free_ char *run = vbus_path(ctx, "/run/vbus");
		_cleanup_close_ int rfd = -1;

		vbus_remove_stale_temporaries(fd);
		/* The run records are written under the lock too. */
		if (run)
			rfd = open(run, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rfd >= 0)
			vbus_remove_stale_temporaries(rfd);
		ctx->store_swept = true;
	}
	ctx->lock_fd = fd;
	ctx->lock_depth = 1;
	ctx->lock_gen++;
	return 0;
}

void vbus_unlock(struct vbus_ctx *ctx)
{
	/* The CDI specs follow every change, rewritten before the lock goes so that they are
	 * never older than the last change; their failure is not the operation's. */
	if (ctx->lock_depth == 1 && ctx->cdi_synced_gen != ctx->lock_gen &&
	    ctx->changed_gen == ctx->lock_gen) {
		char *saved = vbus_error_take(ctx);
		int r = vbus_cdi_sync(ctx);

		if (r < 0)
			dbg(ctx, "CDI specs not written: %s", vbus_ctx_last_error(ctx) ?: strerror(-r));
		vbus_error_restore(ctx, saved);
	}
	if (ctx->lock_depth == 0 || --ctx->lock_depth > 0)
		return;
	vbus_run_journal_close(ctx);
	close(ctx->lock_fd);
	ctx->lock_fd = -1;
}

char *vbus_store_dir(struct vbus_ctx *ctx)
{
	return vbus_path(ctx, DEVICES_DIR);
}

char *vbus_store_file(struct vbus_ctx *ctx, const char *name)
{
	return vbus_pathf(ctx, DEVICES_DIR "/%s.json", name);
}

/* 1 when NAME has a file in the store (parsable or not), 0 when not. */
int vbus_store_exists(struct vbus_ctx *ctx, const char *name)
{
	_cleanup_free_ char *p = vbus_store_file(ctx, name);

	if (!p)
		return -ENOMEM;
	if (access(p, F_OK) == 0)
		return 1;
	return errno == ENOENT ? 0 : -errno;
}

/* What loading many files reuses: the directory, a read buffer and a tokener. */
struct loader {
	int dirfd;
	char *buf;
	size_t size;
	struct json_tokener *tok;
};

static void loader_done(struct loader *l)
{
	if (l->dirfd >= 0 && l->dirfd != AT_FDCWD)
		close(l->dirfd);
	free(l->buf);
	if (l->tok)
		json_tokener_free(l->tok);
}

/* REGULAR: see read_file_at(). */
static int load_file(struct vbus_ctx *ctx, struct loader *l, const char *path, bool regular,
		     const char *name, struct vbus_def **ret)
{
	_cleanup_json_ struct json_object *obj = NULL;
	_cleanup_def_ struct vbus_def *def = NULL;
	size_t len;
	int r;

	r = read_file_at(ctx, l->dirfd, path, 0, regular, &l->buf, &l->size, &len);
	if (r < 0)
		return r;
	r = parse_json(ctx, l->tok, l->buf, len, &obj);
	if (r < 0)
		return r;
	r = vbus_def_from_json(ctx, obj, &def);
	if (r < 0)
		return r;
	if (!streq(def->name, name))
		return vbus_error(ctx, -EINVAL, "name \"%s\" does not match the file name",
				  def->name);
	*ret = TAKE_PTR(def);
	return 0;
}

static int load_generated(struct vbus_ctx *ctx, const char *name, struct vbus_def **ret);

VBUS_EXPORT int vbus_def_load(struct vbus_ctx *ctx, const char *name, struct vbus_def **ret)
{
	_cleanup_free_ char *p = NULL;
	struct vbus_def *def = NULL;
	int r;

	if (!vbus_name_is_valid(name))
		return vbus_error(ctx, -EINVAL, "invalid name \"%s\"", name);
	p = vbus_store_file(ctx, name);
	if (!p)
		return -ENOMEM;
	if (access(p, F_OK) < 0 && errno == ENOENT) {
		r = load_generated(ctx, name, ret);
		if (r != -ENOENT)
			return r;
		return vbus_error(ctx, -ENOENT, "'%s' is not defined", name);
	}
	{
		struct loader l = { .dirfd = AT_FDCWD, .tok = json_tokener_new() };

		r = l.tok ? load_file(ctx, &l, p, false, name, &def) : -ENOMEM;
		loader_done(&l);
	}
	if (r < 0) {
		_cleanup_free_ char *cause = vbus_error_take(ctx);

		return vbus_error(ctx, r, "%s: %s", vbus_path_display(ctx, p),
				  cause ?: strerror(-r));
	}
	*ret = def;
	return 0;
}

static int filter_json(const struct dirent *de)
{
	size_t n = strlen(de->d_name);

	/* Hidden files include our own temporary ".#NAME.XXXXXX". */
	return de->d_name[0] != '.' && n > 5 && streq(de->d_name + n - 5, ".json");
}

/*
 * Every definition of the store, sorted by name. A file that cannot be used is reported by
 * name (warning) and skipped: one damaged file never hides the others.
 */
int vbus_store_load_files(struct vbus_ctx *ctx, bool quiet, struct vbus_def ***ret, size_t *ret_n)
{
	_cleanup_free_ char *dir = vbus_store_dir(ctx);
	struct dirent **des = NULL;
	struct vbus_def **defs = NULL;
	struct loader l = { .dirfd = -1 };
	size_t n_defs = 0;
	int n, r = 0;

	if (!dir)
		return -ENOMEM;
	/* An apply under way or killed: wait for it under the lock (which rolls a killed one
	 * back), so a reader sees the whole old set or the whole new one. Best effort: a reader
	 * that may not write the store reads what is there. */
	if (ctx->lock_depth == 0) {
		_cleanup_free_ char *j = NULL;

		if (asprintf(&j, "%s/" JOURNAL, dir) < 0)
			return -ENOMEM;
		if (access(j, F_OK) >= 0 && vbus_lock(ctx) >= 0)
			vbus_unlock(ctx);
		vbus_error_clear(ctx);
	}
	n = scandir(dir, &des, filter_json, vbus_dirent_cmp);
	if (n < 0) {
		struct stat st;

		r = -errno;
		/* No directory is no definitions; a symlink to nowhere is a broken setup, which
		 * must not look like an empty one. */
		if (r == -ENOENT && lstat(dir, &st) < 0) {
			*ret = NULL;
			*ret_n = 0;
			return 0;
		}
		return vbus_error(ctx, r, "cannot read %s: %s", DEVICES_DIR, strerror(-r));
	}
	defs = calloc(n + 1, sizeof(*defs));
	l.tok = json_tokener_new();
	l.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!defs || !l.tok)
		r = -ENOMEM;
	else if (l.dirfd < 0)
		r = vbus_error(ctx, -errno, "cannot read %s: %s", DEVICES_DIR, strerror(errno));
	for (int i = 0; i < n && r >= 0; i++) {
		const char *file = des[i]->d_name;
		char name[NAME_MAX + 1];
		struct vbus_def *def = NULL;
		size_t len = strlen(file) - 5; /* filter_json(): a name, then ".json" */
		int k;

		memcpy(name, file, len);
		name[len] = '\0';
		if (!vbus_name_is_valid(name)) {
			if (!quiet)
				warn(ctx, "Ignoring %s/%s: \"%s\" is not a valid name",
				     vbus_path_display(ctx, dir), file, name);
			continue;
		}
		k = load_file(ctx, &l, file, des[i]->d_type == DT_REG, name, &def);
		if (k == -ENOMEM) {
			r = k;
			break;
		}
		if (k < 0) {
			if (!quiet)
				warn(ctx, "Ignoring %s/%s: %s", vbus_path_display(ctx, dir), file,
				     vbus_ctx_last_error(ctx) ?: strerror(-k));
			vbus_error_clear(ctx);
			continue;
		}
		defs[n_defs++] = def;
	}
	loader_done(&l);
	for (int i = 0; i < n; i++)
		free(des[i]);
	free(des);
	if (r < 0) {
		vbus_defs_free(defs, n_defs);
		return r;
	}
	*ret = defs;
	*ret_n = n_defs;
	return 0;
}

/* The store as its readers see it: the devices of a template (lib/select.c) in its place. */
int vbus_store_load_all(struct vbus_ctx *ctx, bool quiet, struct vbus_def ***ret, size_t *ret_n)
{
	struct vbus_def **defs = NULL;
	size_t n = 0;
	int r;

	r = vbus_store_load_files(ctx, quiet, &defs, &n);
	if (r < 0)
		return r;
	r = vbus_select_expand_all(ctx, quiet, &defs, &n);
	if (r < 0) {
		vbus_defs_free(defs, n);
		return r;
	}
	*ret = defs;
	*ret_n = n;
	return 0;
}

/* NAME, a device of a template: that device's definition, as the store's readers see it. */
static int load_generated(struct vbus_ctx *ctx, const char *name, struct vbus_def **ret)
{
	struct vbus_def **defs = NULL;
	size_t n = 0;
	int r;

	r = vbus_store_load_all(ctx, true, &defs, &n);
	if (r < 0)
		return r;
	r = -ENOENT;
	for (size_t i = 0; i < n && r == -ENOENT; i++)
		if (streq(defs[i]->name, name) && vbus_def_template(defs[i])) {
			*ret = TAKE_PTR(defs[i]);
			r = 0;
		}
	vbus_defs_free(defs, n);
	return r;
}

int vbus_store_save(struct vbus_ctx *ctx, const struct vbus_def *def)
{
	_cleanup_json_ struct json_object *obj = NULL;
	_cleanup_free_ char *dir = NULL, *file = NULL, *text = NULL;
	int r;

	if (!vbus_name_is_valid(def->name))
		return vbus_error(ctx, -EINVAL, "invalid name \"%s\"", def->name ?: "");
	r = vbus_def_to_json(def, &obj);
	if (r < 0)
		return r;
	dir = vbus_store_dir(ctx);
	if (!dir || asprintf(&file, "%s.json", def->name) < 0)
		return -ENOMEM;
	r = vbus_json_format(obj, &text);
	if (r < 0)
		return r;
	/* What the store could not read back is refused here, before anything is written. */
	if (strlen(text) > VBUS_DEF_MAX_SIZE)
		return vbus_error(ctx, -EFBIG, "'%s' would be %zu bytes (at most %d)", def->name,
				  strlen(text), VBUS_DEF_MAX_SIZE);
	return vbus_write_file_atomic(ctx, dir, file, text);
}

int vbus_store_remove(struct vbus_ctx *ctx, const char *name)
{
	_cleanup_free_ char *dir = vbus_store_dir(ctx), *file = NULL;

	if (!dir || asprintf(&file, "%s.json", name) < 0)
		return -ENOMEM;
	return vbus_unlink_sync(ctx, dir, file);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the libFuzzer targets share: a quiet context over a scratch root, files from input. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libvbus-internal.h"

static void fuzz_log(void *userdata, int level, const char *file, int line, const char *fn,
		     const char *format, va_list args)
{
	/* Library messages are not findings; keep the fuzzer's output readable. */
}

static int fuzz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* Removes everything below DIR (DIR itself stays). */
static inline void fuzz_clear_dir(const char *dir)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s", dir);
	nftw(buf, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	mkdir(buf, 0755);
}

static inline void fuzz_mkdir_p(const char *path)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(buf, 0755);
		*p = '/';
	}
	mkdir(buf, 0755);
}

static inline int fuzz_write_file(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = size ? write(fd, data, size) : 0;
	close(fd);
	return n == (ssize_t)size ? 0 : -EIO;
}

static char fuzz_root[64];

static void fuzz_remove_root(void)
{
	if (fuzz_root[0])
		nftw(fuzz_root, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A scratch root (a copy of TREE when set; ROOT/etc/vbus/{devices.d,policy.d}, ROOT/sys, ROOT/run) made once per
 * process and a context over it; both live until the process ends. */
static inline struct vbus_ctx *fuzz_ctx_tree(const char *tree, char **ret_root)
{
	static struct vbus_ctx *ctx;
	char *root = fuzz_root;
	char p[4096];

	if (!ctx) {
		/* On tmpfs when there is one: the store fsyncs every write it makes. */
		snprintf(root, sizeof(fuzz_root), "%s/vbus-fuzz.XXXXXX",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		if (!mkdtemp(root))
			abort();
		atexit(fuzz_remove_root);
		if (tree) {
			snprintf(p, sizeof(p), "cp -a '%s/.' '%s'", tree, root);
			if (system(p) != 0)
				abort();
		}
		for (const char *const *d = (const char *const[]){ "etc/vbus/devices.d",
								     "etc/vbus/policy.d", "sys/bus",
								     "sys/class", "run/vbus", NULL };
		     *d; d++) {
			snprintf(p, sizeof(p), "%s/%s", root, *d);
			fuzz_mkdir_p(p);
		}
		if (vbus_ctx_new(root, &ctx) < 0)
			abort();
		vbus_ctx_set_log_fn(ctx, fuzz_log, NULL);
	}
	if (ret_root)
		*ret_root = root;
	return ctx;
}

static inline struct vbus_ctx *fuzz_ctx(char **ret_root)
{
	return fuzz_ctx_tree(NULL, ret_root);
}

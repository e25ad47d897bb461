/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A small test harness: cases registered with TEST(), TAP output for meson (protocol: 'tap'). */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(void);
};

/* Set by the assertions; a case fails when any assertion in it failed. */
extern int test_failed;

#define TEST(n)                                                                                    \
	static void test_##n(void);                                                                \
	static const struct test_case test_case_##n                                               \
		__attribute__((used, section("test_cases"), aligned(sizeof(void *)))) = {         \
			.name = #n,                                                                \
			.fn = test_##n,                                                            \
		};                                                                                 \
	static void test_##n(void)

#define check(expr)                                                                                \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			printf("# %s:%d: check failed: %s\n", __FILE__, __LINE__, #expr);          \
			test_failed = 1;                                                           \
		}                                                                                  \
	} while (0)

#define check_int(a, b)                                                                            \
	do {                                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                                \
		if (_a != _b) {                                                                    \
			printf("# %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__,   \
			       #a, _a, #b, _b);                                                    \
			test_failed = 1;                                                           \
		}                                                                                  \
	} while (0)

#define check_str(a, b)                                                                            \
	do {                                                                                       \
		const char *_a = (a), *_b = (b);                                                   \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                                           \
			printf("# %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, \
			       _a ? _a : "(null)", _b ? _b : "(null)");                            \
			test_failed = 1;                                                           \
		}                                                                                  \
	} while (0)

/* Runs a shell command built like printf; a failure fails the case and is printed. */
static inline void test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void test_sh(const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		printf("# command failed: %s\n", cmd);
		test_failed = 1;
	}
}

/* Defines main(): runs every case (or those named in argv) and prints TAP. */
#define TEST_MAIN()                                                                                \
	int test_failed;                                                                           \
	extern const struct test_case __start_test_cases[], __stop_test_cases[];                  \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		const struct test_case *t;                                                         \
		int n = 0, failed = 0;                                                             \
		for (t = __start_test_cases; t < __stop_test_cases; t++)                           \
			n++;                                                                       \
		printf("1..%d\n", n);                                                              \
		n = 0;                                                                             \
		for (t = __start_test_cases; t < __stop_test_cases; t++) {                         \
			bool run = argc < 2;                                                       \
			for (int i = 1; i < argc; i++)                                             \
				run = run || strcmp(argv[i], t->name) == 0;                        \
			n++;                                                                       \
			if (!run) {                                                                \
				printf("ok %d - %s # SKIP not selected\n", n, t->name);            \
				continue;                                                          \
			}                                                                          \
			test_failed = 0;                                                           \
			t->fn();                                                                   \
			fflush(stdout);                                                            \
			printf("%s %d - %s\n", test_failed ? "not ok" : "ok", n, t->name);         \
			failed += test_failed;                                                     \
		}                                                                                  \
		return failed ? 1 : 0;                                                             \
	}

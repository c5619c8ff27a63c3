/*
 * test_stress: raw clone threads running ordinary libc code at full tilt
 * (lib_stress.c says what each iteration does), 8 threads x 10^6
 * iterations, several rounds, in this dynamic program and in a static one.
 * Each trap in FINDINGS.md breaks at least one of its checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syscalls/sys.h"
#include "lib_stress.h"

#define THREADS 8
#define ITERS 1000000L
#define ROUNDS 3

static void stress_dynamic(void **state)
{
	char err[256];

	for (int round = 0; round < ROUNDS; round++) {
		int r = stress_run(THREADS, ITERS, err, sizeof(err));

		if (r != 0)
			fail_msg("round %d: %s", round, err);
	}
}

/* The static program sits next to this one: build/tests/syscalls/. */
static void stress_static(void **state)
{
	char self[PATH_MAX], prog[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	assert_true(n > 0);
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(prog, sizeof(prog), "%s/stress_static", self);
	assert_int_equal(access(prog, X_OK), 0);

	for (int round = 0; round < ROUNDS; round++) {
		char cmd[PATH_MAX + 64];
		int st;

		snprintf(cmd, sizeof(cmd), "%s %d %ld >/dev/null", prog,
			 THREADS, ITERS);
		st = system(cmd);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail_msg("round %d: %s exited with status 0x%x", round,
				 prog, st);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stress_dynamic),
		cmocka_unit_test(stress_static),
	};

	return cmocka_run_group_tests_name("syscalls/stress", tests, NULL, NULL);
}

/*
 * test_vm: the numa tests on a real two-node kernel. Runs
 * scripts/numa-vm.sh, which boots a QEMU guest with two NUMA nodes from
 * an initramfs holding the other tests/numa programs and runs them there
 * (so that memory_on_second_node runs instead of skipping, and libnuma,
 * sysfs, mbind and get_mempolicy are all real). Skipped when qemu, a
 * kernel image, busybox or cpio is missing (the `vm` group of
 * scripts/packages.txt); `make test-numa-vm` installs them and runs the
 * script directly.
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

static void two_node_guest(void **state)
{
	char build[PATH_MAX - 128], script[PATH_MAX], cmd[2 * PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", build, sizeof(build) - 1);
	int st;

	assert_true(n > 0);
	build[n] = '\0';
	/* .../BUILD/tests/numa/test_vm -> .../BUILD */
	for (int i = 0; i < 3; i++)
		*strrchr(build, '/') = '\0';
	snprintf(script, sizeof(script), "%s/../scripts/numa-vm.sh", build);
	if (access(script, X_OK) != 0)
		snprintf(script, sizeof(script), "scripts/numa-vm.sh");
	if (access(script, X_OK) != 0) {
		fprintf(stderr, "test_vm: scripts/numa-vm.sh not found\n");
		skip();
		return;
	}
	snprintf(cmd, sizeof(cmd), "'%s' '%s' 2>&1", script, build);
	fflush(stdout);
	st = system(cmd);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77) {
		skip();         /* no qemu, kernel, busybox or cpio here */
		return;
	}
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(two_node_guest),
	};

	return cmocka_run_group_tests_name("numa/vm", tests, NULL, NULL);
}

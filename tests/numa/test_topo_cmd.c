/*
 * test_topo_cmd: `threadlab topo` as a user meets it — the report on
 * emulated and real layouts, which of flag and environment wins, the
 * reproduce line that round-trips, and every usage error (exit 2, the
 * message on stderr, nothing on stdout).
 *
 * The driver (build/bin/threadlab) is found relative to this binary
 * (build/tests/numa/test_topo_cmd) and run as a child with its stdout and
 * stderr in files; each run is killed if it lasts over CHILD_TIMEOUT_S.
 *
 * Shared state: none; one thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHILD_TIMEOUT_S 30
#define OUT_MAX (256 * 1024)

static char driver[PATH_MAX];

static struct {
	int status;
	char out[OUT_MAX], err[OUT_MAX];
} R;

static void slurp(FILE *f, char *buf)
{
	size_t n;

	rewind(f);
	n = fread(buf, 1, OUT_MAX - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* Run the driver: env is "NAME=VALUE" or NULL (both topology variables
 * are cleared first); then the arguments, NULL-terminated. */
static void run(const char *env, const char *arg, ...)
{
	const char *argv[16];
	FILE *out = tmpfile(), *err = tmpfile();
	struct timespec start, now;
	int argc = 0, st = 0;
	va_list ap;
	pid_t pid;

	assert_non_null(out);
	assert_non_null(err);
	argv[argc++] = driver;
	va_start(ap, arg);
	for (const char *a = arg; a && argc < 15; a = va_arg(ap, const char *))
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		unsetenv("THREADLAB_TOPOLOGY");
		unsetenv("THREADLAB_PLACEMENT");
		if (env)
			putenv((char *)env);
		dup2(fileno(out), STDOUT_FILENO);
		dup2(fileno(err), STDERR_FILENO);
		execv(driver, (char *const *)argv);
		_exit(127);
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		assert_true(r == 0 || errno == EINTR);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > CHILD_TIMEOUT_S) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			fail_msg("threadlab %s ... ran over %d s", arg,
				 CHILD_TIMEOUT_S);
		}
		usleep(2000);
	}
	R.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	slurp(out, R.out);
	slurp(err, R.err);
	if (R.status == 127)
		fail_msg("could not run %s", driver);
}

static void expect_out(const char *s)
{
	if (!strstr(R.out, s))
		fail_msg("stdout lacks \"%s\"; it is:\n%s\nstderr:\n%s", s,
			 R.out, R.err);
}

static void expect_usage_error(const char *what)
{
	if (R.status != 2 || !strstr(R.err, what))
		fail_msg("want exit 2 and a message with \"%s\"; got exit %d, "
			 "stderr:\n%s", what, R.status, R.err);
	assert_string_equal(R.out, "");
}

static int find_driver(void **state)
{
	char self[PATH_MAX - 64];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	assert_true(n > 0);
	self[n] = '\0';
	/* .../build/tests/numa/test_topo_cmd -> .../build/bin/threadlab */
	for (int i = 0; i < 3; i++) {
		slash = strrchr(self, '/');
		assert_non_null(slash);
		*slash = '\0';
	}
	snprintf(driver, sizeof(driver), "%s/bin/threadlab", self);
	if (access(driver, X_OK) != 0) {
		fprintf(stderr, "no driver at %s (make driver)\n", driver);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */

static void emulated_report(void **state)
{
	run(NULL, "topo", "--topology", "0:0-7,1:8-15", "--policy", "spread",
	    "--workers", "4", NULL);
	assert_int_equal(R.status, 0);
	assert_string_equal(R.err, "");
	expect_out("threadlab topo --workers 4 --policy spread --topology '0:0-7,1:8-15'\n");
	expect_out("\nkernel: Linux ");
	expect_out("\nTHREADLAB_TOPOLOGY: (unset)\n");
	expect_out("\ntopology: emulated, run on the real layout from ");
	expect_out("\nnodes: 2  cpus: 16  usable here: ");
	expect_out("\n   0  0-7       8          -          -  ");
	expect_out("\n   1  8-15      8          -          -  ");
	expect_out("\n        0    1\n   0   10   20\n   1   20   10\n");
	expect_out("\nreproduce: THREADLAB_TOPOLOGY='0:0-7,1:8-15@10,20;20,10'\n");
	expect_out("\nplan: policy spread, 4 workers on 16 CPUs\n");
	expect_out("\n     0     0     0");
	expect_out("\n     1     8     1");
	expect_out("\n     2     1     0");
	expect_out("\n     3     9     1");
	expect_out("\n     0: [0:10] 2 | [1:20] 1 3\n");
	expect_out("\n     3: [1:10] 1 | [0:20] 0 2\n");
}

static void environment_and_flags(void **state)
{
	/* The variables alone. */
	run("THREADLAB_TOPOLOGY=0:0-3,1:4-7@10,30;30,10", "topo", NULL);
	assert_int_equal(R.status, 0);
	expect_out("\nTHREADLAB_TOPOLOGY: '0:0-3,1:4-7@10,30;30,10'\n");
	expect_out("\nplan: policy compact, 8 workers on 8 CPUs\n");
	expect_out("\n   0   10   30\n");

	run("THREADLAB_PLACEMENT=node=1", "topo", "--topology", "0:0-3,1:4-7",
	    NULL);
	assert_int_equal(R.status, 0);
	expect_out("\nTHREADLAB_PLACEMENT: 'node=1'\n");
	expect_out("\nplan: policy node=1, 4 workers on 4 CPUs\n");
	expect_out("\n     0     4     1");

	/* Flags win over the variables. */
	run("THREADLAB_PLACEMENT=node=1", "topo", "--topology", "0:0-3,1:4-7",
	    "--policy", "compact", "--workers", "5", NULL);
	assert_int_equal(R.status, 0);
	expect_out("\nplan: policy compact, 5 workers on 8 CPUs\n");
	run("THREADLAB_TOPOLOGY=0:0", "topo", "--topology", "0:0-1,1:2-3", NULL);
	assert_int_equal(R.status, 0);
	expect_out("\nnodes: 2  cpus: 4");
}

static void real_layout_round_trips(void **state)
{
	char spec[4096], nodes_line[256];
	const char *p, *q;

	run(NULL, "topo", NULL);
	assert_int_equal(R.status, 0);
	assert_string_equal(R.err, "");
	if (!strstr(R.out, "\ntopology: libnuma\n") &&
	    !strstr(R.out, "\ntopology: sysfs\n") &&
	    !strstr(R.out, "\ntopology: single-node fallback\n"))
		fail_msg("no source line in:\n%s", R.out);
	p = strstr(R.out, "\nreproduce: THREADLAB_TOPOLOGY='");
	assert_non_null(p);
	p += strlen("\nreproduce: THREADLAB_TOPOLOGY='");
	q = strchr(p, '\'');
	assert_non_null(q);
	snprintf(spec, sizeof(spec), "%.*s", (int)(q - p), p);
	p = strstr(R.out, "\nnodes: ");
	assert_non_null(p);
	snprintf(nodes_line, sizeof(nodes_line), "%.*s",
		 (int)strcspn(p + 1, "\n") + 1, p);

	/* The same layout, emulated from the printed value. */
	run(NULL, "topo", "--topology", spec, NULL);
	assert_int_equal(R.status, 0);
	expect_out(nodes_line);
	expect_out(spec);
}

static void usage_errors(void **state)
{
	run(NULL, "topo", "--topology", "0:0-7;1:8-15", NULL);
	expect_usage_error("bad THREADLAB_TOPOLOGY \"0:0-7;1:8-15\": unexpected character at character 6 (';'); expected NODE:CPUS");
	run("THREADLAB_TOPOLOGY=0:0,1", "topo", NULL);
	expect_usage_error("expected ':' after node 1 at the end");
	run("THREADLAB_PLACEMENT=wide", "topo", NULL);
	expect_usage_error("bad THREADLAB_PLACEMENT \"wide\": expected compact, spread or node=N");
	run(NULL, "topo", "--policy", "nodes=1", NULL);
	expect_usage_error("bad placement policy \"nodes=1\"");
	run(NULL, "topo", "--topology", "0:0-3,1:4-7", "--policy", "node=2",
	    NULL);
	expect_usage_error("the topology has no node 2");
	run(NULL, "topo", "--topology", "0:0-3,1:", "--policy", "node=1",
	    NULL);
	expect_usage_error("node 1 has no CPU to run a worker on");
	run(NULL, "topo", "--workers", "-1", NULL);
	expect_usage_error("invalid --workers '-1'");
	run(NULL, "topo", "--workers", "65537", NULL);
	expect_usage_error("invalid --workers '65537'");
	run(NULL, "topo", "--workers", "3x", NULL);
	expect_usage_error("invalid --workers '3x'");
	run(NULL, "topo", "--workers", NULL);
	expect_usage_error("'--workers' needs a value");
	run(NULL, "topo", "--frob", NULL);
	expect_usage_error("--frob");
	run(NULL, "topo", "extra", NULL);
	expect_usage_error("unexpected argument 'extra'");
}

static void help(void **state)
{
	static char topo_help[OUT_MAX];

	run(NULL, "--help", NULL);
	assert_int_equal(R.status, 0);
	expect_out("\n  topo ");
	run(NULL, "help", "topo", NULL);
	assert_int_equal(R.status, 0);
	expect_out("--workers N");
	expect_out("--policy P");
	expect_out("THREADLAB_TOPOLOGY");
	strcpy(topo_help, R.out);
	run(NULL, "topo", "--help", NULL);
	assert_int_equal(R.status, 0);
	assert_string_equal(R.out, topo_help);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(emulated_report),
		cmocka_unit_test(environment_and_flags),
		cmocka_unit_test(real_layout_round_trips),
		cmocka_unit_test(usage_errors),
		cmocka_unit_test(help),
	};

	return cmocka_run_group_tests_name("numa/topo_cmd", tests, find_driver,
					   NULL);
}

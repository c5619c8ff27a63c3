/*
 * test_driver: the threadlab driver (build/bin/threadlab) as a user meets
 * it — its help, its errors, and `threadlab micro`'s output, which must be
 * Go's benchmark format line for line.
 *
 * The driver is run as a child process, found relative to this test's own
 * binary (build/tests/bench/test_driver -> build/bin/threadlab), with its
 * stdout and stderr captured separately: results must go to stdout and
 * everything else to stderr. Every child runs under a time limit and is
 * killed if it overruns; no test asserts how fast anything is.
 *
 * Shared state: none; the tests run one after another on one thread.
 */
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/common/lib_proc.h"

#define CHILD_TIMEOUT_MS 60000      /* per run of the driver */
#define OUT_MAX (256 * 1024)

static char driver[PATH_MAX];

TL_RUN_DEFINE(R, OUT_MAX);          /* the last run of the driver */

/* Run the driver with the given arguments (NULL-terminated) into R. */
static void run_driver(const char *arg, ...)
{
	const char *argv[32];
	int argc = 0, rc;
	va_list ap;

	argv[argc++] = driver;
	va_start(ap, arg);
	for (const char *a = arg; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;

	rc = tl_run_argv(&R, argv, NULL, CHILD_TIMEOUT_MS);
	if (rc == -ETIMEDOUT)
		fail_msg("threadlab %s ... did not finish in %d ms", arg,
			 CHILD_TIMEOUT_MS);
	assert_int_equal(rc, 0);
	if (R.status == 127)
		fail_msg("could not run %s", driver);
}

static void expect_usage_error(const char *what)
{
	if (R.status != 2 || !strstr(R.err, what))
		fail_msg("want exit 2 and a message naming '%s'; got exit %d, "
			 "stderr:\n%s", what, R.status, R.err);
	assert_string_equal(R.out, "");
}

/* ---------------------------------------------------------------------
 * Help
 * ------------------------------------------------------------------- */

static void test_help_lists_micro(void **state)
{
	char micro_help[OUT_MAX];

	run_driver("--help", NULL);
	assert_int_equal(R.status, 0);
	assert_true(tl_matches(R.out, "^  micro +[^ ]"));
	assert_true(tl_matches(R.out, "^  help +[^ ]"));

	run_driver("help", "micro", NULL);
	assert_int_equal(R.status, 0);
	for (int i = 0; i < 3; i++) {
		static const char *const flags[] = {
			"--filter", "--count", "--benchtime",
		};

		if (!strstr(R.out, flags[i]))
			fail_msg("help micro does not document %s", flags[i]);
	}
	strcpy(micro_help, R.out);

	/* Both ways of asking give the same text. */
	run_driver("micro", "--help", NULL);
	assert_int_equal(R.status, 0);
	assert_string_equal(R.out, micro_help);
}

/* ---------------------------------------------------------------------
 * Usage errors: exit 2, a message naming the culprit, nothing on stdout
 * ------------------------------------------------------------------- */

static void test_unknown_subcommand(void **state)
{
	run_driver("frobnicate", NULL);
	expect_usage_error("'frobnicate'");
	run_driver("help", "frobnicate", NULL);
	expect_usage_error("'frobnicate'");
	run_driver(NULL);
	expect_usage_error("no command");
}

static void test_bad_flag(void **state)
{
	run_driver("--bogus", NULL);
	expect_usage_error("'--bogus'");
	run_driver("micro", "--bogus", NULL);
	expect_usage_error("'--bogus'");
	run_driver("micro", "-z", NULL);
	expect_usage_error("'-z'");
	run_driver("micro", "--count", NULL);
	expect_usage_error("'--count'");
	run_driver("micro", "--count", "0", NULL);
	expect_usage_error("--count");
	run_driver("micro", "--count", "3x", NULL);
	expect_usage_error("--count");
	run_driver("micro", "--benchtime", "1", NULL);        /* no unit */
	expect_usage_error("--benchtime");
	run_driver("micro", "--benchtime", "-1s", NULL);
	expect_usage_error("--benchtime");
	run_driver("micro", "--benchtime", "0x", NULL);
	expect_usage_error("--benchtime");
	run_driver("micro", "stray", NULL);
	expect_usage_error("'stray'");
}

static void test_invalid_regex(void **state)
{
	run_driver("micro", "--filter", "(", NULL);
	expect_usage_error("--filter");
	run_driver("micro", "--filter", "Spawn[", NULL);
	expect_usage_error("--filter");
}

/* Go's -benchtime forms. --list stops after the flags are checked, so
 * even a long duration costs nothing here. */
static void test_benchtime_forms(void **state)
{
	static const char *const good[] = {
		"1s", "500ms", "1.5s", "2m30s", "100us", "100\xc2\xb5s",
		"250ns", "1h", ".5s", "0", "1x", "100x",
	};
	static const char *const bad[] = {
		"1", "-1s", "0x", "x", "-5x", "1ss", "5 s", "s", "1.5x", "",
		"1d",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		run_driver("micro", "--benchtime", good[i], "--list", NULL);
		if (R.status != 0)
			fail_msg("--benchtime '%s' refused: %s", good[i], R.err);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run_driver("micro", "--benchtime", bad[i], "--list", NULL);
		expect_usage_error("--benchtime");
	}
}

/* ---------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------- */

/* Go's result line: name (with -N unless N is 1) padded, tab, iterations
 * (%8d), tab, ns/op. Groups: 1 the name with its -N, 2 iterations,
 * 3 ns/op. */
#define RESULT_RE "^(Benchmark[^[:space:]]*) *\t *([0-9]+)\t *"             \
		  "([0-9]+(\\.[0-9]+)?) ns/op$"

struct result {
	char name[128];
	int procs;                   /* the -N, 1 when absent */
	unsigned long long n;
	double ns;
};

/* Every line of stdout: header `key: value` lines (goos, goarch, pkg,
 * cpu first) or result lines, nothing else. Returns the results. */
static int parse_output(const char *out, struct result *res, int max)
{
	static const char *const header[] = {
		"goos: linux", "goarch: ", "pkg: threadlab/micro", "cpu: ",
	};
	regex_t re;
	regmatch_t m[6];
	const char *line = out;
	int nres = 0, nline = 0;

	assert_int_equal(regcomp(&re, RESULT_RE, REG_EXTENDED), 0);
	while (*line) {
		const char *eol = strchr(line, '\n');
		char buf[512];
		size_t len;

		if (!eol)
			fail_msg("stdout does not end with a newline");
		len = (size_t)(eol - line);
		assert_true(len < sizeof(buf));
		memcpy(buf, line, len);
		buf[len] = '\0';

		if (nline < 4) {
			if (strncmp(buf, header[nline], strlen(header[nline])))
				fail_msg("header line %d is '%s', want '%s...'",
					 nline + 1, buf, header[nline]);
		} else if (regexec(&re, buf, 6, m, 0) == 0) {
			struct result *r = &res[nres++];
			char *dash;

			assert_true(nres <= max);
			snprintf(r->name, sizeof(r->name), "%.*s",
				 (int)(m[1].rm_eo - m[1].rm_so), buf + m[1].rm_so);
			/* The -N suffix: a dash and digits at the end. */
			dash = strrchr(r->name, '-');
			r->procs = 1;
			if (dash && dash[1] &&
			    strspn(dash + 1, "0123456789") == strlen(dash + 1)) {
				r->procs = atoi(dash + 1);
				*dash = '\0';
				assert_true(r->procs > 1);   /* Go omits -1 */
			}
			r->n = strtoull(buf + m[2].rm_so, NULL, 10);
			r->ns = strtod(buf + m[3].rm_so, NULL);
		} else if (!tl_matches(buf, "^[a-z][a-z0-9-]*: [^ ]") || nres) {
			fail_msg("stdout line %d is neither a header line nor a "
				 "Go benchmark line: '%s'", nline + 1, buf);
		}
		nline++;
		line = eol + 1;
	}
	regfree(&re);
	return nres;
}

static int usable_cpus(void)
{
	cpu_set_t set;

	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	return CPU_COUNT(&set);
}

static void test_micro_spawn_lines(void **state)
{
	struct result res[16];
	int n, clone = 0, pthread = 0;

	run_driver("micro", "--filter", "ThreadSpawn", "--benchtime", "100x",
		   "--count", "2", NULL);
	if (R.status != 0)
		fail_msg("exit %d, stderr:\n%s", R.status, R.err);
	n = parse_output(R.out, res, 16);
	assert_int_equal(n, 4);
	for (int i = 0; i < n; i++) {
		if (!strcmp(res[i].name, "BenchmarkThreadSpawn/model=clone"))
			clone++;
		else if (!strcmp(res[i].name,
				 "BenchmarkThreadSpawn/model=pthread"))
			pthread++;
		else
			fail_msg("unexpected benchmark '%s'", res[i].name);
		/* Nx runs exactly N iterations, as Go's -benchtime=Nx. */
		assert_int_equal(res[i].n, 100);
		assert_true(res[i].ns > 0);
		/* Spawned threads may run on any usable CPU: that is the -N. */
		assert_int_equal(res[i].procs, usable_cpus());
	}
	assert_int_equal(clone, 2);
	assert_int_equal(pthread, 2);
}

/* A duration benchtime grows n past the first run's 1; each pinned
 * ping-pong reports its own CPU count; cpus=2 runs or is skipped with a
 * note on stderr. */
static void test_micro_pingpong_lines(void **state)
{
	struct result res[16];
	int n;

	run_driver("micro", "--filter", "^BenchmarkFutexPingPong/model=clone/",
		   "--benchtime", "20ms", NULL);
	if (R.status != 0)
		fail_msg("exit %d, stderr:\n%s", R.status, R.err);
	n = parse_output(R.out, res, 16);
	assert_true(n >= 1);
	assert_string_equal(res[0].name,
			    "BenchmarkFutexPingPong/model=clone/cpus=1");
	assert_int_equal(res[0].procs, 1);
	assert_true(res[0].n > 1);
	assert_true(res[0].ns > 0);
	if (usable_cpus() >= 2) {
		assert_int_equal(n, 2);
		assert_string_equal(res[1].name,
				    "BenchmarkFutexPingPong/model=clone/cpus=2");
		assert_int_equal(res[1].procs, 2);
		assert_true(res[1].n > 1);
	} else {
		assert_int_equal(n, 1);
		assert_non_null(strstr(R.err, "cpus=2"));
	}
}

static void test_micro_list_and_no_match(void **state)
{
	run_driver("micro", "--list", "--filter", "PingPong/model=pthread/cpus=1$",
		   NULL);
	assert_int_equal(R.status, 0);
	assert_string_equal(R.out,
			    "BenchmarkFutexPingPong/model=pthread/cpus=1\n"
			    "BenchmarkCondPingPong/model=pthread/cpus=1\n");

	/* As go test -bench: nothing matches is a warning, not an error. */
	run_driver("micro", "--filter", "NoSuchBenchmark", NULL);
	assert_int_equal(R.status, 0);
	assert_string_equal(R.out, "");
	assert_non_null(strstr(R.err, "NoSuchBenchmark"));
}

/* ---------------------------------------------------------------------
 * Setup: find the driver
 * ------------------------------------------------------------------- */

/* --workers N: the rt/ benchmarks that use every CPU run on N workers
 * (their -N is N), and the Go peer runs the same selection with
 * GOMAXPROCS N, its lines among ours; a bad count is refused. */
/* The header records when, where and how (date, cores, kernel, command:
 * what docs/ quotes beside a figure), and a result line may carry several
 * metrics: GrowShrink's raw threads keep the 64 KiB they touched (B/task)
 * and each has a kernel stack (kernel-B/task). */
static void test_micro_header_and_metrics(void **state)
{
	const char *line;
	char name[128];
	unsigned long long n;
	double ns, user, kernel;

	run_driver("micro", "--filter",
		   "^BenchmarkGrowShrink/model=clone/phase=after/", "--benchtime",
		   "1x", NULL);
	if (R.status != 0)
		fail_msg("exit %d, stderr:\n%s", R.status, R.err);
	assert_non_null(strstr(R.out, "\ndate: "));
	assert_non_null(strstr(R.out, "\ncores: "));
	assert_non_null(strstr(R.out, "\nkernel: Linux "));
	assert_non_null(strstr(R.out, "\ncommand: threadlab micro --filter "
				      "^BenchmarkGrowShrink/model=clone/phase=after/ "
				      "--benchtime 1x\n"));
	line = strstr(R.out, "\nBenchmarkGrowShrink/");
	assert_non_null(line);
	if (sscanf(line + 1, "%127s %llu %lf ns/op %lf B/task %lf kernel-B/task",
		   name, &n, &ns, &user, &kernel) != 5)
		fail_msg("result line not as expected: %s", line + 1);
	assert_int_equal(n, 1);
	if (user < 64 * 1024 || kernel < 4096)
		fail_msg("%s: %.0f B/task, %.0f kernel-B/task: a thread that used "
			 "64 KiB of stack keeps at least that, and has a kernel stack",
			 name, user, kernel);
}

static void test_micro_workers_and_go(void **state)
{
	struct result res[16];
	bool have_go = access("/usr/bin/go", X_OK) == 0;
	int n, rt = 0, go = 0;

	run_driver("micro", "--filter",
		   "^BenchmarkSpawn/model=(rt/stack=segmented|go)$",
		   "--benchtime", "100x", "--workers", "1", NULL);
	if (R.status != 0)
		fail_msg("exit %d, stderr:\n%s", R.status, R.err);
	n = parse_output(R.out, res, 16);
	for (int i = 0; i < n; i++) {
		if (!strcmp(res[i].name, "BenchmarkSpawn/model=rt/stack=segmented"))
			rt++;
		else if (!strcmp(res[i].name, "BenchmarkSpawn/model=go"))
			go++;
		else
			fail_msg("unexpected benchmark '%s'", res[i].name);
		assert_int_equal(res[i].procs, 1);
		assert_int_equal(res[i].n, 100);
	}
	assert_int_equal(rt, 1);
	assert_int_equal(go, have_go ? 1 : 0);
	if (!have_go)
		assert_non_null(strstr(R.err, "model=go skipped"));

	/* The placement policy reaches the rt/ runs; the plan is a header. */
	run_driver("micro", "--filter", "^BenchmarkSpawn/model=rt/stack=segmented$",
		   "--benchtime", "10x", "--workers", "2", "--placement",
		   "spread", NULL);
	if (R.status != 0)
		fail_msg("exit %d, stderr:\n%s", R.status, R.err);
	assert_true(tl_matches(R.out, "^plan: spread: w0 cpu[0-9]+ node[0-9]+, w1 cpu[0-9]+ node[0-9]+$"));
	run_driver("micro", "--placement", "sideways", NULL);
	expect_usage_error("sideways");

	run_driver("micro", "--workers", "0", NULL);
	expect_usage_error("--workers");
	run_driver("micro", "--workers", "many", NULL);
	expect_usage_error("--workers");
}

/* build/bin/threadlab, or a note on stderr and the group fails. */
static int find_driver(void **state)
{
	return tl_driver_path(driver, sizeof(driver)) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help_lists_micro),
		cmocka_unit_test(test_unknown_subcommand),
		cmocka_unit_test(test_bad_flag),
		cmocka_unit_test(test_invalid_regex),
		cmocka_unit_test(test_benchtime_forms),
		cmocka_unit_test(test_micro_spawn_lines),
		cmocka_unit_test(test_micro_pingpong_lines),
		cmocka_unit_test(test_micro_list_and_no_match),
		cmocka_unit_test(test_micro_workers_and_go),
		cmocka_unit_test(test_micro_header_and_metrics),
	};

	return cmocka_run_group_tests_name("driver", tests, find_driver, NULL);
}

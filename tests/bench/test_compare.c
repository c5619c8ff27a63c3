/*
 * test_compare: `threadlab compare` (bench/compare.c) as a user runs it.
 *
 * One short comparison — `threadlab compare --quick --models
 * clone,pthread,go --emails 200 --concurrency 2,20 --server smtp-sink` —
 * is run once by the group set-up into a scratch directory, and the tests
 * read what it left:
 *   - table: exit 0; stdout names the server and has one row per model
 *     and setting (2 concurrencies x reuse yes/no), each "ok", the clone
 *     model with one thread per session plus main; go is a row or, without
 *     a Go toolchain, "skipped (...)" — never missing;
 *   - results: results.txt parses line by line: `key: value` headers
 *     (date, cpu, cores, kernel, server, emails among them), Go benchmark
 *     lines whose every metric has one of the documented units and that
 *     carry the required ones, `--- SKIP:` lines; no `--- FAIL:`;
 *   - report: report.md exists, names the server, has the table and the
 *     OS-threads notes;
 *   - svg: the three plots are well-formed (start with <svg, end with
 *     </svg>, every tag closed in order).
 * And on their own (quick):
 *   - a non-loopback --server is refused with exit 2 before anything runs;
 *   - an unknown model in --models is refused with exit 2;
 *   - a server that refuses every connection makes the run FAIL, loudly
 *     in the table and in results.txt, with exit status 1;
 *   - an external loopback server (our own smtp-sink, started here) is
 *     used as it is, checked by the senders' 250s only;
 *   - the rt model, while threadlab send has none, is a "skipped (not
 *     built yet ...)" row and a `--- SKIP:` line (skipped once it exists).
 *
 * Everything that needs postfix's /usr/sbin/smtp-sink is skipped (never
 * passed) when it is missing. The Go peer is built with `go build` into
 * build/bin/email-go, where `make compare` puts it and where the driver
 * looks for it, when go is on PATH.
 *
 * Every child runs under a time limit and is killed by its pid if it
 * overruns; servers started here are killed by their pids. No test
 * asserts how fast anything is.
 *
 * Shared state: none; the tests run one after another on one thread.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/common/lib_net.h"
#include "tests/common/lib_proc.h"

#define SMTP_SINK TL_SMTP_SINK
#define CHILD_TIMEOUT_MS 120000
#define BUILD_TIMEOUT_MS 180000     /* go build, cold cache */
#define SINK_WAIT_MS 5000           /* for our smtp-sink to answer */
#define OUT_MAX (256 * 1024)

TL_RUN_DEFINE(R, OUT_MAX);          /* the last child's */
TL_RUN_DEFINE(main_run, OUT_MAX);   /* the group set-up's comparison */

static char driver[PATH_MAX + 32], bindir[PATH_MAX + 8], root[PATH_MAX];
static char outdir[PATH_MAX];
static bool have_sink, have_go;
static int cpus;
/* The smtp-sink of test_external_server; the group teardown stops it
 * when a failure jumped out of the test. */
static struct tl_sink external = TL_SINK_INIT;

/* Run argv (argv[0] a path) in dir (NULL: here) into R; false when it
 * overran its time and was killed (or could not be started). */
static bool run_argv(const char *const *argv, const char *dir, int timeout_ms)
{
	return tl_run_argv(&R, argv, dir, timeout_ms) == 0;
}

/* threadlab compare ARGS... (NULL-terminated) into R. */
static void run_compare(const char *arg, ...)
{
	const char *argv[40];
	int argc = 0;
	va_list ap;

	argv[argc++] = driver;
	argv[argc++] = "compare";
	va_start(ap, arg);
	for (const char *a = arg; a && argc < 39; a = va_arg(ap, const char *))
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	if (!run_argv(argv, NULL, CHILD_TIMEOUT_MS))
		fail_msg("threadlab compare did not finish in %d ms; stderr:\n%s",
			 CHILD_TIMEOUT_MS, R.err);
}

/* A whole file into a malloc'ed string (NULL if it cannot be read). */
static char *slurp(const char *name)
{
	char path[PATH_MAX + 64];
	struct stat st;
	char *buf;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", outdir, name);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	if (fstat(fileno(f), &st) < 0 || !(buf = malloc((size_t)st.st_size + 1))) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* ---------------------------------------------------------------------
 * Set-up: find the driver, build the Go peer, run one comparison.
 * ------------------------------------------------------------------- */

/* build/bin/threadlab, and the tree above build/. */
static bool find_driver(void)
{
	char build[PATH_MAX];

	if (tl_build_dir(build, sizeof(build)) != 0 ||
	    tl_source_root(root, sizeof(root), NULL) != 0)
		return false;
	snprintf(bindir, sizeof(bindir), "%s/bin", build);
	snprintf(driver, sizeof(driver), "%s/threadlab", bindir);
	return access(driver, X_OK) == 0;
}

/* Build the Go peer where the driver looks for it. A go that is there
 * but cannot build it is a failure, reported by test_table. */
static char go_build_error[1024];

static void build_go_peer(void)
{
	char out[PATH_MAX + 32], dir[PATH_MAX + 32];
	int rc;

	snprintf(out, sizeof(out), "%s/email-go", bindir);
	snprintf(dir, sizeof(dir), "%s/bench/email/go", root);
	rc = tl_go_build(&R, dir, out, outdir, BUILD_TIMEOUT_MS);
	if (rc < 0 && rc != -ENOENT)
		snprintf(go_build_error, sizeof(go_build_error),
			 "go build failed: %.900s", R.err);
}

static int group_setup(void **state)
{
	char concs[32], peer[PATH_MAX + 32];
	cpu_set_t set;

	if (!find_driver()) {
		fprintf(stderr, "test_compare: no driver next to this test "
			"(build/bin/threadlab)\n");
		return -1;
	}
	cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ?
	       CPU_COUNT(&set) : 1;
	snprintf(outdir, sizeof(outdir), "/tmp/threadlab-test-compare.XXXXXX");
	if (!mkdtemp(outdir))
		return -1;
	have_sink = access(SMTP_SINK, X_OK) == 0;
	build_go_peer();
	/* What the driver will find: a go row, or a skipped one. */
	snprintf(peer, sizeof(peer), "%s/email-go", bindir);
	have_go = access(peer, X_OK) == 0;
	if (!have_sink)
		return 0;
	/* Concurrency 2 and 20: the table's two settings at a tenth of the
	 * default high concurrency, to keep the test short. */
	snprintf(concs, sizeof(concs), "2,20");
	run_compare("--quick", "--models", "clone,pthread,go", "--emails",
		    "200", "--concurrency", concs, "--server", "smtp-sink",
		    "--out", outdir, NULL);
	main_run.status = R.status;
	memcpy(main_run.out, R.out, OUT_MAX);
	memcpy(main_run.err, R.err, OUT_MAX);
	return 0;
}

static int group_teardown(void **state)
{
	const char *rm[] = { "/bin/rm", "-rf", outdir, NULL };

	tl_sink_stop(&external);
	if (outdir[0])
		run_argv(rm, NULL, CHILD_TIMEOUT_MS);
	return 0;
}

static void need_sink(void)
{
	if (!have_sink) {
		fprintf(stderr, "[  SKIP    ] needs %s (Debian's postfix)\n",
			SMTP_SINK);
		skip();
	}
}

/* ---------------------------------------------------------------------
 * The comparison's output
 * ------------------------------------------------------------------- */

static void test_table(void **state)
{
	static const char *const names[] = { "clone", "pthread", "go" };
	const char *out = main_run.out;
	char pattern[256];

	need_sink();
	if (go_build_error[0])
		fail_msg("%s", go_build_error);
	if (main_run.status != 0)
		fail_msg("exit %d\nstdout:\n%s\nstderr:\n%s", main_run.status,
			 out, main_run.err);
	assert_true(tl_matches(out, "^threadlab compare: server smtp-sink; 200 emails per run"));
	assert_true(tl_matches(out, "^model +conc +reuse +emails/s +cpu-us/email +syscalls/email \\(perf\\) +syscalls/email \\(strace\\) +ctxsw/email +peak RSS MiB +threads +server CPU +check$"));
	for (size_t i = 0; i < 3; i++) {
		if (strcmp(names[i], "go") == 0 && !have_go) {
			assert_true(tl_matches(out, "^go +skipped \\(.+\\)$"));
			continue;
		}
		for (int reuse = 0; reuse < 2; reuse++) {
			static const char *const conc[] = { "2", "20" };

			for (int c = 0; c < 2; c++) {
				/* model conc reuse and 9 more columns, ok */
				snprintf(pattern, sizeof(pattern),
					 "^%s +%s +%s( +([-0-9.]+|timeout)){7} +[0-9]+%%( BOUND)? +ok$",
					 names[i], conc[c], reuse ? "yes" : "no");
				if (!tl_matches(out, pattern))
					fail_msg("no row like %s in\n%s", pattern,
						 out);
			}
		}
	}
	/* The clone model: one thread per session, and main. */
	assert_true(tl_matches(out, "^clone +20 +no( +[-0-9.]+){6} +21 "));
	assert_false(tl_matches(out, "FAIL"));
	/* Progress on stderr, one line per run. */
	assert_true(tl_matches(main_run.err, "^compare: \\[ 1/[0-9]+\\] clone "));
}

/* The units results.txt may carry, as compare.c documents them. */
static const char *const units[] = {
	"ns/op", "emails/s", "cpu-us/email", "rusage-cpu-us/email",
	"syscalls/email", "strace-syscalls/email", "io_uring-ops/email",
	"io_uring-enters/email", "ctxsw/email", "peak-rss-KiB", "threads",
	"server-cpu-%",
};

static bool known_unit(const char *u)
{
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(units[i], u) == 0)
			return true;
	return false;
}

/* One Go benchmark line: NAME-P \t N (\t VALUE UNIT)*; the units seen
 * are OR-ed into *seen as bits of units[]. */
static void check_bench_line(char *line, unsigned *seen)
{
	char *save = NULL, *name, *n, *v;

	name = strtok_r(line, "\t", &save);
	assert_non_null(name);
	if (!tl_matches(name, "^BenchmarkEmail/model=[a-z-]+/conc=[0-9]+/reuse=(true|false)(-[0-9]+)?$"))
		fail_msg("bad benchmark name '%s'", name);
	n = strtok_r(NULL, "\t", &save);
	assert_non_null(n);
	assert_true(tl_matches(n, "^ *[0-9]+$"));
	assert_int_equal(strtol(n, NULL, 10), 200);
	while ((v = strtok_r(NULL, "\t", &save))) {
		char unit[64];
		double x;

		if (sscanf(v, " %lf %63s", &x, unit) != 2)
			fail_msg("metric '%s' is not 'VALUE UNIT'", v);
		if (!known_unit(unit))
			fail_msg("unknown unit '%s'", unit);
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcmp(units[i], unit) == 0)
				*seen |= 1u << i;
		assert_true(x >= 0);
	}
}

static void test_results(void **state)
{
	char *text, *save = NULL;
	unsigned lines = 0, seen_all = ~0u, headers = 0;
	static const char *const keys[] = { "date: ", "cpu: ", "cores: ",
		"kernel: ", "server: smtp-sink", "emails: 200",
		"plan: compact: w0 cpu" };

	need_sink();
	text = slurp("results.txt");
	assert_non_null(text);
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "Benchmark", 9) == 0) {
			unsigned seen = 0;

			check_bench_line(line, &seen);
			seen_all &= seen;
			lines++;
		} else if (strncmp(line, "--- SKIP: BenchmarkEmail/model=", 31) == 0) {
			assert_false(have_go);   /* only go may be skipped */
		} else if (strncmp(line, "--- FAIL:", 9) == 0) {
			fail_msg("a run failed: %s", line);
		} else if (tl_matches(line, "^[a-z][a-z-]*: [^ ].*$")) {
			for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
				if (strncmp(line, keys[i], strlen(keys[i])) == 0)
					headers |= 1u << i;
		} else {
			fail_msg("results.txt: line is neither a header, a "
				 "benchmark nor a SKIP/FAIL line: '%s'", line);
		}
	}
	free(text);
	assert_int_equal(headers, (1u << 7) - 1);
	assert_int_equal(lines, have_go ? 12 : 8);
	/* Every line has the sender's metrics and the measured ones
	 * (io_uring only for the rt model; none here). */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strncmp(units[i], "io_uring", 8) == 0)
			continue;
		if (!(seen_all & (1u << i)))
			fail_msg("a benchmark line lacks '%s'", units[i]);
	}
}

static void test_report(void **state)
{
	char *md;

	need_sink();
	md = slurp("report.md");
	assert_non_null(md);
	assert_true(tl_matches(md, "^- Server: smtp-sink \\(postfix's /usr/sbin/smtp-sink"));
	assert_true(tl_matches(md, "^- Placement of the rt workers \\(numa/'s plan\\): compact: w0 cpu"));
	assert_true(tl_matches(md, "^- Command: `threadlab compare --quick "));
	assert_true(tl_matches(md, "^- Machine: .+, [0-9]+ CPUs, Linux "));
	assert_true(tl_matches(md, "^\\| model \\| conc \\| reuse \\| emails/s \\|"));
	assert_true(tl_matches(md, "^\\| clone \\| 20 \\| no \\| [0-9]+ \\|"));
	assert_true(tl_matches(md, "^## OS threads$"));
	assert_true(tl_matches(md, "\\*\\*clone\\*\\*: .*Cannot limit its threads"));
	assert_true(tl_matches(md, "^## Syscalls by name$"));
	free(md);
}

/* Well-formed enough: <svg ... </svg>, and every element closed in the
 * order it was opened (self-closing ones count as closed). */
static void check_svg(const char *name)
{
	char *text = slurp(name), *p, *end;
	char stack[64][32];
	int depth = 0;

	if (!text)
		fail_msg("no %s", name);
	end = text + strlen(text);
	while (end > text && (end[-1] == '\n' || end[-1] == ' '))
		*--end = '\0';
	if (strncmp(text, "<svg", 4) != 0)
		fail_msg("%s does not start with <svg", name);
	if (end - text < 6 || strcmp(end - 6, "</svg>") != 0)
		fail_msg("%s does not end with </svg>", name);
	for (p = text; (p = strchr(p, '<')); ) {
		char *close = strchr(p, '>');
		size_t len;

		assert_non_null(close);
		assert_null(memchr(p + 1, '<', (size_t)(close - p - 1)));
		if (p[1] == '/') {
			len = strcspn(p + 2, " >");
			assert_true(depth > 0);
			depth--;
			if (strlen(stack[depth]) != len ||
			    strncmp(stack[depth], p + 2, len) != 0)
				fail_msg("%s: </%.*s> closes <%s>", name,
					 (int)len, p + 2, stack[depth]);
		} else if (close[-1] != '/') {
			len = strcspn(p + 1, " >");
			assert_true(depth < 64 && len < 32);
			memcpy(stack[depth], p + 1, len);
			stack[depth][len] = '\0';
			depth++;
		}
		p = close + 1;
	}
	if (depth != 0)
		fail_msg("%s: <%s> is never closed", name, stack[depth - 1]);
	assert_true(strstr(text, "<rect") != NULL);
	free(text);
}

static void test_svg(void **state)
{
	need_sink();
	check_svg("emails-per-second.svg");
	check_svg("cpu-per-email.svg");
	check_svg("syscalls-per-email.svg");
}

/* ---------------------------------------------------------------------
 * Refusals and failures
 * ------------------------------------------------------------------- */

static void test_non_loopback_refused(void **state)
{
	static const char *const servers[] = {
		"192.0.2.1:25", "10.0.0.1:2525", "[2001:db8::1]:25",
		"mail.example.com:25", "0.0.0.0:25", "128.0.0.1:25",
	};

	for (size_t i = 0; i < sizeof(servers) / sizeof(servers[0]); i++) {
		run_compare("--server", servers[i], "--models", "clone",
			    "--out", outdir, NULL);
		if (R.status != 2)
			fail_msg("--server %s: exit %d, not 2\nstderr: %s",
				 servers[i], R.status, R.err);
		assert_string_equal(R.out, "");
		assert_true(tl_matches(R.err, "loopback"));
	}
}

static void test_unknown_model_refused(void **state)
{
	run_compare("--models", "clone,bogus", "--out", outdir, NULL);
	assert_int_equal(R.status, 2);
	assert_string_equal(R.out, "");
	assert_true(tl_matches(R.err, "unknown model 'bogus'"));
	run_compare("--concurrency", "2,x", "--out", outdir, NULL);
	assert_int_equal(R.status, 2);
	run_compare("--runs", "0", "--out", outdir, NULL);
	assert_int_equal(R.status, 2);
}

/* A free port on 127.0.0.1, left bound and not listening in *keep when
 * keep is given (connecting to it is refused). */
static int free_port(int *keep)
{
	int port = tl_free_port(keep);

	assert_true(port > 0);
	return port;
}

/* Every connection refused: the run fails, the table and results.txt
 * say FAIL, exit 1. */
static void test_failed_run(void **state)
{
	char server[32], dir[PATH_MAX + 16], *text;
	int keep, port = free_port(&keep);

	snprintf(server, sizeof(server), "127.0.0.1:%d", port);
	snprintf(dir, sizeof(dir), "%s/failed", outdir);
	run_compare("--models", "clone", "--emails", "5", "--concurrency",
		    "2", "--server", server, "--out", dir, NULL);
	close(keep);
	if (R.status != 1)
		fail_msg("exit %d, not 1\nstdout:\n%s\nstderr:\n%s", R.status,
			 R.out, R.err);
	assert_true(tl_matches(R.out, "^clone +2 +no .* FAIL$"));
	assert_true(tl_matches(R.out, "^FAILED:$"));
	assert_true(tl_matches(R.out, "messages not accepted"));
	snprintf(dir, sizeof(dir), "failed/results.txt");
	text = slurp(dir);
	assert_non_null(text);
	assert_true(tl_matches(text, "^--- FAIL: BenchmarkEmail/model=clone/conc=2/reuse=false"));
	free(text);
}

/* A server that is already running on loopback is used as it is: no
 * counts of its own, so the senders' 250s are the check. */
static void test_external_server(void **state)
{
	char dir[PATH_MAX + 16], *md;
	int rc;

	need_sink();
	/* Our own smtp-sink on a free port, waited for until it answers. */
	rc = tl_sink_start(&external, NULL, 256, SINK_WAIT_MS);
	if (rc < 0)
		fail_msg("smtp-sink did not start on 127.0.0.1: %s",
			 strerror(-rc));
	snprintf(dir, sizeof(dir), "%s/external", outdir);
	run_compare("--models", "pthread", "--emails", "50", "--concurrency",
		    "2", "--server", external.addr, "--out", dir, NULL);
	tl_sink_stop(&external);
	if (R.status != 0)
		fail_msg("exit %d\nstdout:\n%s\nstderr:\n%s", R.status, R.out,
			 R.err);
	assert_true(tl_matches(R.out, "^pthread +2 +yes .* - +ok \\(250s only\\)$"));
	md = slurp("external/report.md");
	assert_non_null(md);
	assert_true(tl_matches(md, "^- Server: 127\\.0\\.0\\.1:[0-9]+ \\(external"));
	free(md);
}

/* Until `threadlab send --model rt` exists, the rt model is a row that
 * says it was skipped and why — never silently left out. */
static void test_rt_skipped(void **state)
{
	char server[32], dir[PATH_MAX + 16], *text;
	const char *probe[] = { driver, "send", "--model", "rt", "--emails",
				"1", "--concurrency", "1", "--server", server,
				NULL };
	int keep, port = free_port(&keep);

	snprintf(server, sizeof(server), "127.0.0.1:%d", port);
	assert_true(run_argv(probe, NULL, CHILD_TIMEOUT_MS));
	if (R.status != 2) {
		close(keep);
		fprintf(stderr, "[  SKIP    ] threadlab send has an rt model "
			"now: nothing to skip\n");
		skip();
	}
	snprintf(dir, sizeof(dir), "%s/rt", outdir);
	run_compare("--models", "rt", "--server", server, "--out", dir, NULL);
	close(keep);
	assert_int_equal(R.status, 0);
	assert_true(tl_matches(R.out, "^rt +skipped \\(not built yet"));
	snprintf(dir, sizeof(dir), "rt/results.txt");
	text = slurp(dir);
	assert_non_null(text);
	assert_true(tl_matches(text, "^--- SKIP: BenchmarkEmail/model=rt: not built yet"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_svg),
		cmocka_unit_test(test_non_loopback_refused),
		cmocka_unit_test(test_unknown_model_refused),
		cmocka_unit_test(test_failed_run),
		cmocka_unit_test(test_external_server),
		cmocka_unit_test(test_rt_skipped),
	};

	return cmocka_run_group_tests_name("compare", tests, group_setup,
					   group_teardown);
}

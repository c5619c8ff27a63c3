/*
 * docs/examples: run every Go by Example program (build/examples/<name>,
 * built by `make examples`, which building this test does too) and check
 * its output: exactly where the output is determined, and where timing
 * or scheduling decides the order, the parts that do not depend on it
 * (which lines, how many, in which order within one task). Each runs
 * with segmented and with mapped stacks (THREADLAB_STACK in its
 * environment).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib_rt.h"

#define RUN_TIMEOUT_MS 30000
#define MAXLINES 64

struct out {
	char buf[8192];
	char *line[MAXLINES];
	int n;
};

/* build/tests/rt/test_examples -> build/examples */
static void examples_dir(char *buf, size_t len)
{
	char exe[PATH_MAX - 16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	assert_true(n > 0);
	exe[n] = '\0';
	for (int up = 0; up < 3 && (slash = strrchr(exe, '/')); up++)
		*slash = '\0';
	snprintf(buf, len, "%s/examples", exe);
}

static void run_example(void **state, const char *name, struct out *o)
{
	static const char *const kinds[] = { "", "segmented", "mapped" };
	struct rt_config cfg = rtt_config(state, 0);   /* skips if needed */
	char path[PATH_MAX + 64], dir[PATH_MAX];
	int fds[2], status;
	size_t got = 0;
	pid_t pid;

	examples_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (access(path, X_OK) != 0)
		fail_msg("%s: not built (make examples)", path);
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		setenv("THREADLAB_STACK", kinds[cfg.stack], 1);
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, RUN_TIMEOUT_MS) <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("%s: no end after %d ms", name, RUN_TIMEOUT_MS);
		}
		r = read(fds[0], o->buf + got, sizeof(o->buf) - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == sizeof(o->buf) - 1)
			break;
	}
	close(fds[0]);
	o->buf[got] = '\0';
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s: status %#x, output:\n%s", name, status, o->buf);
	o->n = 0;
	for (char *s = o->buf, *nl; *s && o->n < MAXLINES; s = nl + 1) {
		nl = strchr(s, '\n');
		if (!nl)
			fail_msg("%s: last line unterminated: %s", name, s);
		*nl = '\0';
		o->line[o->n++] = s;
	}
}

/* The output is exactly these lines. */
static void expect_lines(struct out *o, const char *const *want, int n)
{
	if (o->n != n)
		fail_msg("%d lines, want %d", o->n, n);
	for (int i = 0; i < n; i++)
		if (strcmp(o->line[i], want[i]) != 0)
			fail_msg("line %d: \"%s\", want \"%s\"", i + 1,
				 o->line[i], want[i]);
}

/* The index of the line equal to s (exactly once), or fail. */
static int find(struct out *o, const char *s)
{
	int at = -1;

	for (int i = 0; i < o->n; i++) {
		if (strcmp(o->line[i], s) != 0)
			continue;
		if (at >= 0)
			fail_msg("\"%s\" printed twice", s);
		at = i;
	}
	if (at < 0)
		fail_msg("\"%s\" not printed", s);
	return at;
}

/* A test case whose output is exactly the given lines. */
#define EXACT(fn, file, ...)                                                \
	static void fn(void **state)                                        \
	{                                                                   \
		static const char *const want[] = { __VA_ARGS__ };          \
		struct out o;                                               \
                                                                            \
		run_example(state, file, &o);                               \
		expect_lines(&o, want, sizeof(want) / sizeof(want[0]));     \
	}

EXACT(test_channels, "channels", "ping")
EXACT(test_channel_buffering, "channel-buffering", "buffered", "channel")
EXACT(test_channel_synchronization, "channel-synchronization",
      "working...done")
EXACT(test_channel_directions, "channel-directions", "passed message")
EXACT(test_non_blocking_channel_operations,
      "non-blocking-channel-operations", "no message received",
      "no message sent", "no activity")
EXACT(test_range_over_channels, "range-over-channels", "one", "two")
EXACT(test_atomic_counters, "atomic-counters", "ops: 50000")
EXACT(test_mutexes, "mutexes", "map[a:20000 b:10000]")
EXACT(test_context, "context", "server: hello handler started",
      "client: ^C", "server: context canceled",
      "server: hello handler ended", "client: got \"context canceled\"",
      "server: hello handler started", "server: context deadline exceeded",
      "server: hello handler ended",
      "client: got \"context deadline exceeded\"")

/* goroutines: "direct" first, "done" last; each task's lines in order. */
static void test_goroutines(void **state)
{
	struct out o;
	char s[32];
	int prev = 2;

	run_example(state, "goroutines", &o);
	assert_int_equal(o.n, 8);
	for (int i = 0; i < 3; i++) {
		snprintf(s, sizeof(s), "direct : %d", i);
		assert_int_equal(find(&o, s), i);
	}
	for (int i = 0; i < 3; i++) {
		int at;

		snprintf(s, sizeof(s), "goroutine : %d", i);
		at = find(&o, s);
		assert_true(at > prev);
		prev = at;
	}
	assert_true(find(&o, "going") > 2);
	assert_int_equal(find(&o, "done"), 7);
}

/* select: both received (which first depends on timing). */
static void test_select(void **state)
{
	struct out o;

	run_example(state, "select", &o);
	assert_int_equal(o.n, 2);
	find(&o, "received one");
	find(&o, "received two");
}

/* timeouts: the first times out (its timer is due before the result's
 * sleep, so it wins even after a stall); the second may not, on a
 * machine that stalls the program for 100 ms. */
static void test_timeouts(void **state)
{
	struct out o;

	run_example(state, "timeouts", &o);
	assert_int_equal(o.n, 2);
	assert_string_equal(o.line[0], "timeout 1");
	if (strcmp(o.line[1], "result 2") != 0)
		assert_string_equal(o.line[1], "timeout 2");
}

/* closing-channels: every job sent and received once, received in
 * order, "all" after the jobs, the closed receive last. */
static void test_closing_channels(void **state)
{
	struct out o;
	char s[32];
	int prev = -1;

	run_example(state, "closing-channels", &o);
	assert_int_equal(o.n, 9);
	for (int j = 1; j <= 3; j++) {
		int at;

		snprintf(s, sizeof(s), "sent job %d", j);
		assert_true(find(&o, s) < find(&o, "sent all jobs"));
		snprintf(s, sizeof(s), "received job %d", j);
		at = find(&o, s);
		assert_true(at > prev);
		prev = at;
	}
	assert_true(find(&o, "received all jobs") > prev);
	assert_int_equal(find(&o, "received more jobs: false"), 8);
}

/* timers: timer 1 fires; timer 2 is stopped (or, after a 100 ms stall
 * between its start and its stop, fires). */
static void test_timers(void **state)
{
	struct out o;

	run_example(state, "timers", &o);
	assert_int_equal(o.n, 2);
	assert_string_equal(o.line[0], "Timer 1 fired");
	if (strcmp(o.line[1], "Timer 2 stopped") != 0)
		assert_string_equal(o.line[1], "Timer 2 fired");
}

/* tickers: a few ticks at increasing times, then "Ticker stopped". */
static void test_tickers(void **state)
{
	struct out o;
	long prev = -1, ms;

	run_example(state, "tickers", &o);
	assert_true(o.n >= 1 && o.n <= 6);
	for (int i = 0; i < o.n - 1; i++) {
		if (sscanf(o.line[i], "Tick at %ld ms", &ms) != 1)
			fail_msg("line %d: %s", i + 1, o.line[i]);
		assert_true(ms > prev);
		prev = ms;
	}
	assert_string_equal(o.line[o.n - 1], "Ticker stopped");
}

/* worker-pools: each job started and finished once, by one worker of
 * the three. */
static void test_worker_pools(void **state)
{
	int started[6] = { 0 }, finished[6] = { 0 };
	struct out o;

	run_example(state, "worker-pools", &o);
	assert_int_equal(o.n, 10);
	for (int i = 0; i < o.n; i++) {
		unsigned w;
		int j;

		if (sscanf(o.line[i], "worker %u started  job %d", &w, &j) == 2) {
			assert_true(w >= 1 && w <= 3 && j >= 1 && j <= 5);
			assert_int_equal(started[j], 0);
			started[j] = (int)w;
		} else if (sscanf(o.line[i], "worker %u finished job %d", &w,
				  &j) == 2) {
			assert_true(j >= 1 && j <= 5);
			assert_int_equal(started[j], (int)w);
			assert_int_equal(finished[j], 0);
			finished[j] = (int)w;
		} else {
			fail_msg("line %d: %s", i + 1, o.line[i]);
		}
	}
}

/* waitgroups: each worker starts, then is done. */
static void test_waitgroups(void **state)
{
	struct out o;
	char a[32], b[32];

	run_example(state, "waitgroups", &o);
	assert_int_equal(o.n, 10);
	for (int i = 1; i <= 5; i++) {
		snprintf(a, sizeof(a), "Worker %d starting", i);
		snprintf(b, sizeof(b), "Worker %d done", i);
		assert_true(find(&o, a) < find(&o, b));
	}
}

/* rate-limiting: requests 1-5 in order, twice, at times that do not go
 * back. */
static void test_rate_limiting(void **state)
{
	struct out o;

	run_example(state, "rate-limiting", &o);
	assert_int_equal(o.n, 10);
	for (int i = 0; i < 10; i++) {
		static long prev;
		int req;
		long ms;

		if (sscanf(o.line[i], "request %d at %ld ms", &req, &ms) != 2)
			fail_msg("line %d: %s", i + 1, o.line[i]);
		assert_int_equal(req, i % 5 + 1);
		if (i % 5)
			assert_true(ms >= prev);
		prev = ms;
	}
}

/* stateful-goroutines: some reads and some writes were served. */
static void test_stateful_goroutines(void **state)
{
	unsigned long long r = 0, w = 0;
	struct out o;

	run_example(state, "stateful-goroutines", &o);
	assert_int_equal(o.n, 2);
	assert_int_equal(sscanf(o.line[0], "readOps: %llu", &r), 1);
	assert_int_equal(sscanf(o.line[1], "writeOps: %llu", &w), 1);
	assert_true(r > 0 && w > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		RT_TEST(test_goroutines),
		RT_TEST(test_channels),
		RT_TEST(test_channel_buffering),
		RT_TEST(test_channel_synchronization),
		RT_TEST(test_channel_directions),
		RT_TEST(test_select),
		RT_TEST(test_timeouts),
		RT_TEST(test_non_blocking_channel_operations),
		RT_TEST(test_closing_channels),
		RT_TEST(test_range_over_channels),
		RT_TEST(test_timers),
		RT_TEST(test_tickers),
		RT_TEST(test_worker_pools),
		RT_TEST(test_waitgroups),
		RT_TEST(test_rate_limiting),
		RT_TEST(test_atomic_counters),
		RT_TEST(test_mutexes),
		RT_TEST(test_stateful_goroutines),
		RT_TEST(test_context),
	};

	rtt_filter_from_env();
	return cmocka_run_group_tests_name("rt_examples", tests, NULL, NULL);
}

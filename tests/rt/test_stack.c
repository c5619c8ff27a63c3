/*
 * rt/ stacks: deep recursion across many segments (and the memory coming
 * back), the split-stack limit after a split returns, how much of the
 * margin __morestack really uses, the hot split, and a signal landing
 * while a task is at its stack limit.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib_rt.h"
#include "rt/internal.h"

static _Atomic int finished;

static void wait_finished(int want)
{
	while (atomic_load(&finished) < want)
		rt_yield();
}

/* ------------------------------------------------------------------
 * Deep recursion
 * ---------------------------------------------------------------- */
#define DEPTH 100000

static size_t rss_peak;

static void *rss_on_worker(void *out)
{
	*(size_t *)out = rtt_rss();
	return NULL;
}

static __attribute__((noinline)) long deep(long n)
{
	volatile char pad[40];

	pad[0] = (char)n;
	if (n == 0) {
		rt_call_on_worker_stack(rss_on_worker, &rss_peak);
		return 0;
	}
	return deep(n - 1) + n + pad[0] - (char)n;
}

static void deep_task(void *arg)
{
	long r = deep(DEPTH);

	RTT_CHECKF(r == (long)DEPTH * (DEPTH + 1) / 2, "deep(%d) = %ld", DEPTH,
		   r);
	atomic_fetch_add(&finished, 1);
}

struct rss3 {
	size_t before, after;
};

static void *exited_on_worker(void *out)
{
	struct rt_worker_stats tot;

	rt_stats_total(&tot);
	*(uint64_t *)out = tot.exited;
	return NULL;
}

/* Wait until n tasks have ended *and* been freed: `finished` is counted
 * before a task switches away for the last time. */
static void wait_exited(uint64_t n)
{
	uint64_t exited = 0;

	while (exited < n) {
		rt_yield();
		rt_call_on_worker_stack(exited_on_worker, &exited);
	}
}

static void deep_main(void *arg)
{
	struct rss3 *m = arg;

	/* Warm the pools first, so that "before" already has them. */
	rt_go(deep_task, NULL);
	wait_finished(1);
	wait_exited(1);
	rt_call_on_worker_stack(rss_on_worker, &m->before);
	rt_go(deep_task, NULL);
	wait_finished(2);
	wait_exited(2);
	rt_call_on_worker_stack(rss_on_worker, &m->after);
}

static void test_deep_recursion(void **state)
{
	struct rt_config cfg = rtt_config(state, 0);
	struct rt_worker_stats tot;
	struct rss3 m = { 0 };

	cfg.mapped_size = 64u << 20;
	atomic_store(&finished, 0);
	rtt_run(&cfg, deep_main, &m);
	assert_int_equal(atomic_load(&finished), 2);
	print_message("rss before %zu KiB, at depth %d %zu KiB, after %zu KiB\n",
		      m.before >> 10, DEPTH, rss_peak >> 10, m.after >> 10);
	if (rtt_scale(100) != 100) {
		/* valgrind's own memory moves RSS: nothing to compare. */
		print_message("RSS not checked under valgrind\n");
	} else {
		/* 100,000 frames of more than 48 bytes: at least 4.8 MB. */
		assert_true(rss_peak > m.before + (4u << 20));
		/* And back down once the task has ended. */
		assert_true(m.after < m.before + (1u << 20));
	}
	rt_stats_total(&tot);
	if (rtt_kind(state) == RT_STACK_SEGMENTED)
		assert_true(tot.segments > 100);
}

/* ------------------------------------------------------------------
 * The limit after a split returns to the first segment
 * ---------------------------------------------------------------- */
static void limit_task(void *arg)
{
	struct rt_task *t = rt__current();
	char *lo, *hi, *limit;
	void *before, *after;

	rt__stack_bounds(t, &lo, &hi, &limit);
	before = rt__split_limit();
	RTT_CHECKF(before == limit, "limit %p, want %p", before, limit);
	RTT_CHECK(deep(2000) == 2000l * 2001 / 2);
	after = rt__split_limit();
	RTT_CHECKF(after == limit, "limit after a split %p, want %p", after,
		   limit);
	rt_yield();
	RTT_CHECK(rt__split_limit() == limit);
	atomic_fetch_add(&finished, 1);
}

static void limit_main(void *arg)
{
	for (int i = 0; i < 50; i++)
		rt_go(limit_task, NULL);
	wait_finished(50);
}

static void test_limit_after_split(void **state)
{
	struct rt_config cfg = rtt_config(state, 0);

	atomic_store(&finished, 0);
	rtt_run(&cfg, limit_main, NULL);
	assert_int_equal(atomic_load(&finished), 50);
}

/* ------------------------------------------------------------------
 * How far below the limit __morestack writes: fill the margin with a
 * pattern, make calls cross the limit with every frame size from 0 to
 * 320 bytes (gcc lets frames under 256 bytes start right at the limit),
 * and find the lowest byte written.
 * ---------------------------------------------------------------- */
#define PATTERN 0xa5

static _Atomic long deepest_below, edges;

/* Each frame function, after taking its own frame (which gcc lets a
 * frame under 256 bytes take entirely below the limit), calls one that
 * needs a split: the deepest case for __morestack. */
static __attribute__((noinline)) int needs_split(int x)
{
	volatile char buf[300];

	buf[0] = (char)x;
	return buf[0];
}

#define FRAME_FN(n)                                                         \
	static __attribute__((noinline)) int frame##n(int x)                \
	{                                                                   \
		volatile char buf[n + 1];                                   \
		buf[0] = (char)x;                                           \
		return buf[0] + needs_split(x);                             \
	}
FRAME_FN(0) FRAME_FN(16) FRAME_FN(40) FRAME_FN(64) FRAME_FN(100)
FRAME_FN(128) FRAME_FN(160) FRAME_FN(200) FRAME_FN(232) FRAME_FN(248)
FRAME_FN(255) FRAME_FN(264) FRAME_FN(320)
static int (*const frames[])(int) = {
	frame0, frame16, frame40, frame64, frame100, frame128, frame160,
	frame200, frame232, frame248, frame255, frame264, frame320,
};

static char *edge_sp;

/* Recurse until %rsp is within `gap` bytes above the current limit (or
 * above `floor`, for a stack without one), then call frames[k] there. */
static __attribute__((noinline)) int approach(char *floor, long gap, int k)
{
	volatile char step[8];
	char *limit = floor ? floor : rt__split_limit();

	step[0] = 0;
	if (rt__sp() - limit > gap)
		return approach(floor, gap, k) + step[0];
	edge_sp = rt__sp();
	return k >= 0 ? frames[k](k) + step[0] : step[0];
}

static void margin_task(void *arg)
{
	struct rt_task *t = rt__current();
	char *lo, *hi, *limit, *p;
	long gap;
	size_t k;

	rt__stack_bounds(t, &lo, &hi, &limit);
	for (gap = 0; gap <= 96; gap += 8) {
		for (k = 0; k < sizeof(frames) / sizeof(*frames); k++) {
			for (p = lo + 8; p < limit; p++)
				*(volatile char *)p = (char)PATTERN;
			approach(NULL, gap, (int)k);
			/* Count it only if the edge was in the first segment. */
			if (edge_sp < lo || edge_sp >= hi)
				continue;
			atomic_fetch_add(&edges, 1);
			for (p = lo + 8; p < limit && *p == (char)PATTERN; p++)
				;
			if (limit - p > atomic_load(&deepest_below))
				atomic_store(&deepest_below, limit - p);
		}
	}
	atomic_fetch_add(&finished, 1);
}

static void margin_main(void *arg)
{
	rt_go(margin_task, NULL);
	wait_finished(1);
}

static void test_margin_use(void **state)
{
	struct rt_config cfg = rtt_config(state, 1);

	atomic_store(&finished, 0);
	atomic_store(&deepest_below, 0);
	atomic_store(&edges, 0);
	rtt_run(&cfg, margin_main, NULL);
	print_message("deepest write below the limit: %ld of %u bytes of "
		      "margin (%ld crossings from the first segment)\n",
		      atomic_load(&deepest_below), RT_SEGMENT_MARGIN_DEFAULT,
		      atomic_load(&edges));
	assert_true(atomic_load(&edges) > 50);
	assert_true(atomic_load(&deepest_below) > 0);
	/* With room to spare: the canary is at the chunk's base. */
	assert_true(atomic_load(&deepest_below) <= RT_SEGMENT_MARGIN_DEFAULT - 64);
}

/* ------------------------------------------------------------------
 * Hot split: a call that crosses the segment boundary every time reuses
 * the same extra segment.
 * ---------------------------------------------------------------- */
#define HOT_CALLS 200000

static __attribute__((noinline)) int hot_callee(int x)
{
	volatile char buf[600];

	buf[0] = (char)x;
	buf[599] = buf[0];
	return buf[599];
}

static __attribute__((noinline)) long hot_at_edge(char *floor)
{
	volatile char step[8];
	char *limit = floor ? floor : rt__split_limit();
	long sum = 0;

	step[0] = 0;
	if (rt__sp() - limit > 48)
		return hot_at_edge(floor) + step[0];
	for (int i = 0; i < HOT_CALLS; i++)
		sum += hot_callee(i & 1);
	return sum;
}

static int64_t hot_ns;

static void hot_task(void *arg)
{
	char *lo, *hi, *limit;
	int64_t t0;
	long s;

	rt__stack_bounds(rt__current(), &lo, &hi, &limit);
	t0 = rt_now();
	/* Segmented: at the limit; mapped (no limit, no split): the same
	 * loop deep in the stack, for comparison. */
	s = hot_at_edge(limit ? NULL : lo + 4096);
	hot_ns = rt_now() - t0;
	RTT_CHECK(s == HOT_CALLS / 2);
	atomic_fetch_add(&finished, 1);
}

static void hot_main(void *arg)
{
	rt_go(hot_task, NULL);
	wait_finished(1);
}

static void test_hot_split(void **state)
{
	struct rt_config cfg = rtt_config(state, 1);
	struct rt_worker_stats tot;

	atomic_store(&finished, 0);
	rtt_run(&cfg, hot_main, NULL);
	rt_stats_total(&tot);
	print_message("%.1f ns per call (%s stack), %llu extra segments\n",
		      (double)hot_ns / HOT_CALLS,
		      rtt_kind(state) == RT_STACK_MAPPED ? "mapped" : "segmented",
		      (unsigned long long)tot.segments);
	/* The one segment is kept and reused, not allocated per call. */
	assert_true(tot.segments <= 2);
}

/* ------------------------------------------------------------------
 * A signal delivered to the worker while its task sits at its stack
 * limit: the handler runs on the worker's sigaltstack.
 * ---------------------------------------------------------------- */
#define SIGNALS rtt_scale(2000)

static _Atomic int handled, target_tid, sender_done;

__attribute__((no_split_stack))
static void on_usr1(int sig)
{
	volatile char big[2048];   /* too big for what is left of a segment */

	big[0] = (char)sig;
	big[sizeof(big) - 1] = big[0];
	atomic_fetch_add(&handled, 1);
}

static __attribute__((noinline)) int sit_at_limit(char *floor, long gap)
{
	volatile char step[8];
	char *limit = floor ? floor : rt__split_limit();

	step[0] = 0;
	if (rt__sp() - limit > gap)
		return sit_at_limit(floor, gap) + step[0];
	atomic_store(&target_tid, (int)sys_syscall0(SYS_gettid));
	/* sched_yield: a system call lets valgrind switch threads and
	 * deliver the signal; the inline syscall takes no stack. */
	while (!atomic_load(&sender_done))
		sys_syscall0(SYS_sched_yield);
	return step[0];
}

static void *sender(void *arg)
{
	int64_t end = sys_now_ns() + 20ll * 1000 * 1000 * 1000;
	int tid, sent = 0;

	while (!(tid = atomic_load(&target_tid)) && sys_now_ns() < end)
		sys_arch_relax();
	while (tid && sent < SIGNALS && sys_now_ns() < end) {
		if (sys_syscall3(SYS_tgkill, getpid(), tid, SIGUSR1) == 0)
			sent++;
		while (atomic_load(&handled) < sent && sys_now_ns() < end)
			sys_sched_yield();
	}
	atomic_store(&sender_done, 1);
	return NULL;
}

static void signal_task(void *arg)
{
	char *lo, *hi, *limit;

	rt__stack_bounds(rt__current(), &lo, &hi, &limit);
	/* Segmented: 32 bytes above the limit of the first segment; mapped:
	 * 512 bytes above the guard page. */
	if (limit)
		sit_at_limit(NULL, 32);
	else
		sit_at_limit(lo, 512);
	atomic_fetch_add(&finished, 1);
}

static void signal_main(void *arg)
{
	rt_go(signal_task, NULL);
	wait_finished(1);
}

static void test_signal_at_limit(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_ONSTACK };
	struct sigaction old;
	struct sys_thread th = { 0 };

	cfg.mapped_size = 16u << 10;
	atomic_store(&finished, 0);
	atomic_store(&handled, 0);
	atomic_store(&target_tid, 0);
	atomic_store(&sender_done, 0);
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	assert_int_equal(sys_thread_spawn(&th, NULL, sender, NULL), 0);
	rtt_run(&cfg, signal_main, NULL);
	assert_int_equal(sys_thread_join(&th, NULL), 0);
	sigaction(SIGUSR1, &old, NULL);
	assert_int_equal(atomic_load(&handled), SIGNALS);
	assert_int_equal(atomic_load(&finished), 1);
}

/* ------------------------------------------------------------------
 * A task that grew, came back to its first segment and parked gives
 * its extra segments back once parked long enough (RT_TRIM_AFTER_NS),
 * and runs on (and grows again) after it is woken.
 * ---------------------------------------------------------------- */
static struct rt__spinlock trim_lock;
static struct rt_task *_Atomic trim_waiter;

static bool unlock_trim(void *arg)
{
	rt__spin_unlock(&trim_lock);
	return true;
}

static void trim_task(void *arg)
{
	RTT_CHECK(deep(3000) == 3000l * 3001 / 2);   /* grows, returns */
	rt__spin_lock(&trim_lock);
	atomic_store(&trim_waiter, rt__current());
	rt__park(unlock_trim, NULL);
	RTT_CHECK(deep(3000) == 3000l * 3001 / 2);   /* grows again */
	atomic_fetch_add(&finished, 1);
}

static uint64_t trimmed;

static void *segments_on_worker(void *out)
{
	struct rt_worker_stats tot;

	rt_stats_total(&tot);
	*(uint64_t *)out = tot.segments;
	return NULL;
}

static void trim_main(void *arg)
{
	struct rt_task *t;
	int64_t end;

	rt_go(trim_task, NULL);
	while (!(t = atomic_load(&trim_waiter)))
		rt_yield();
	/* Parked (its unlock ran once we can take the lock). */
	rt__spin_lock(&trim_lock);
	rt__spin_unlock(&trim_lock);
	/* Wait up to 5 s for the trim, yielding (which also runs it). */
	end = rt_now() + 5ll * 1000 * 1000 * 1000;
	do {
		rt_yield();
		rt_call_on_worker_stack(segments_on_worker, &trimmed);
	} while (!trimmed && rt_now() < end);
	rt__unpark(t);
	wait_finished(1);
}

static void test_trim_parked(void **state)
{
	struct rt_config cfg = rtt_config(state, 0);

	atomic_store(&finished, 0);
	atomic_store(&trim_waiter, NULL);
	trimmed = 0;
	rtt_run(&cfg, trim_main, NULL);
	assert_int_equal(atomic_load(&finished), 1);
	print_message("%llu segments given back while parked\n",
		      (unsigned long long)trimmed);
	assert_true(trimmed > 0);
}

/* ------------------------------------------------------------------
 * Many grown tasks parked at once — more than a worker watches for
 * trimming (RT_TRIM_SLOTS) — all give their segments back: the oldest
 * are trimmed early to make room rather than kept for ever. On two
 * workers, each case run five times.
 * ---------------------------------------------------------------- */
#define MANY 3000u
static struct rt_task *many_parked;   /* under trim_lock, via ->next */
static _Atomic unsigned many_left;

static void many_task(void *arg)
{
	struct rt_task *me = rt__current();

	RTT_CHECK(deep(300) == 300l * 301 / 2);      /* grows, returns */
	rt__spin_lock(&trim_lock);
	me->next = many_parked;
	many_parked = me;
	atomic_fetch_sub(&many_left, 1);
	rt__park(unlock_trim, NULL);
	RTT_CHECK(deep(300) == 300l * 301 / 2);      /* grows again */
	atomic_fetch_add(&finished, 1);
}

static unsigned with_spare;

static void many_main(void *arg)
{
	struct rt_task *t, *next;
	int64_t end;

	for (unsigned i = 0; i < MANY; i++)
		RTT_CHECK(rt_go(many_task, NULL) == 0);
	while (atomic_load(&many_left) > 0)
		rt_yield();
	/* Wait up to 5 s for every one to be trimmed: none of the parked
	 * tasks keeps a spare segment. (The list is complete and no longer
	 * changes; a task being trimmed right now is read as it is.) */
	end = rt_now() + 5ll * 1000 * 1000 * 1000;
	do {
		rt_yield();
		with_spare = 0;
		rt__spin_lock(&trim_lock);
		for (t = many_parked; t; t = t->next)
			with_spare += rt__stack_has_spare(t);
		rt__spin_unlock(&trim_lock);
	} while (with_spare && rt_now() < end);
	rt_call_on_worker_stack(segments_on_worker, &trimmed);
	rt__spin_lock(&trim_lock);
	t = many_parked;
	many_parked = NULL;
	rt__spin_unlock(&trim_lock);
	for (; t; t = next) {
		next = t->next;
		rt__unpark(t);
	}
	wait_finished(MANY);
}

static void test_trim_many_parked(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	for (int round = 0; round < 5; round++) {
		atomic_store(&finished, 0);
		atomic_store(&many_left, MANY);
		many_parked = NULL;
		trimmed = 0;
		rtt_run(&cfg, many_main, NULL);
		assert_int_equal(atomic_load(&finished), MANY);
		if (with_spare)
			fail_msg("round %d: %u of %u grown, parked tasks still hold spare segments after 5 s (%llu segments given back)",
				 round, with_spare, MANY, (unsigned long long)trimmed);
	}
	print_message("%llu segments given back by %u parked tasks\n",
		      (unsigned long long)trimmed, MANY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		RT_TEST(test_deep_recursion),
		RT_TEST_SEGMENTED(test_limit_after_split),
		RT_TEST_SEGMENTED(test_margin_use),
		RT_TEST(test_hot_split),
		RT_TEST(test_signal_at_limit),
		RT_TEST_SEGMENTED(test_trim_parked),
		RT_TEST_SEGMENTED(test_trim_many_parked),
	};

	rtt_filter_from_env();
	return cmocka_run_group_tests_name("rt_stack", tests, NULL, NULL);
}

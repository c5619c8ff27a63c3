/*
 * rt/ time: sleeps not early on several workers; timers fire in order
 * and not early; a stopped timer does not fire; reset; a stopped ticker
 * stops; rt_timer_func runs its function in a task; a timer in the heap
 * of a worker busy with a task that never yields still fires (another
 * worker fires it); many timers at once. No test asserts lateness (the
 * machine is shared and noisy), only order and "not early", with every
 * wait bounded. Each case runs with segmented and with mapped stacks
 * (lib_rt.h).
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "lib_rt.h"

#define BOUND_NS (30ll * RT_SEC)

/* ------------------------------------------------------------------
 * Sleeps: never early, on several workers at once.
 * ---------------------------------------------------------------- */
#define SLEEPERS 300

struct sl {
	struct rt_wg wg;
	_Atomic int early;
	_Atomic int moved;
};

static void sleeper(void *arg)
{
	struct sl *s = arg;

	for (int i = 0; i < 3; i++) {
		int64_t d = (int64_t)(1 + (rt_task_id() + i) % 7) * RT_MSEC;
		int64_t t0 = rt_now();
		int w = rt_worker_id();

		RTT_CHECK(rt_sleep(d) == 0);
		if (rt_now() - t0 < d)
			atomic_fetch_add(&s->early, 1);
		if (rt_worker_id() != w)
			atomic_fetch_add(&s->moved, 1);
	}
	rt_wg_done(&s->wg);
}

static void sleep_main(void *arg)
{
	struct sl s = { 0 };
	int64_t t0 = rt_now();

	rt_wg_add(&s.wg, SLEEPERS);
	for (int i = 0; i < SLEEPERS; i++)
		rt_go(sleeper, &s);
	rt_wg_wait(&s.wg);
	RTT_CHECK(atomic_load(&s.early) == 0);
	RTT_CHECK(rt_now() - t0 >= 3 * RT_MSEC);
	/* Zero and negative: at once. */
	t0 = rt_now();
	RTT_CHECK(rt_sleep(0) == 0 && rt_sleep(-5) == 0);
	RTT_CHECK(rt_sleep_until(t0 - RT_SEC) == 0);
}

static void test_sleep_not_early(void **state)
{
	struct rt_config cfg = rtt_config(state, 3);

	rtt_run(&cfg, sleep_main, NULL);
}

/* ------------------------------------------------------------------
 * Order: timers armed together (one heap) with distinct durations, in a
 * shuffled order, fire in the order of their deadlines, each at or after
 * it. Their channel receives the time of the firing.
 * ---------------------------------------------------------------- */
#define NTIMERS 40

static void order_main(void *arg)
{
	struct rt_timer *t[NTIMERS];
	int64_t due[NTIMERS], fired[NTIMERS], t0, span;
	int idx[NTIMERS];
	uint32_t seed = 99;

	for (int i = 0; i < NTIMERS; i++)
		idx[i] = i;
	for (int i = NTIMERS - 1; i > 0; i--) {
		int j;

		seed = seed * 1664525u + 1013904223u;
		j = (int)((seed >> 8) % (uint32_t)(i + 1));
		int x = idx[i];
		idx[i] = idx[j];
		idx[j] = x;
	}
	t0 = rt_now();
	for (int k = 0; k < NTIMERS; k++) {
		int i = idx[k];
		int64_t d = (int64_t)(i + 1) * 500 * RT_USEC;

		due[i] = rt_now() + d;
		t[i] = rt_timer_new(d);
		RTT_CHECK(t[i] != NULL);
	}
	/* Each timer's own time lies in [due, due + span]: only timers
	 * whose due times are further apart than that have a known order
	 * (all of them, unless arming them was slow, as under valgrind). */
	span = rt_now() - t0;
	for (int i = 0; i < NTIMERS; i++) {
		bool ok;

		RTT_CHECK(rt_chan_recv_until(rt_timer_chan(t[i]), &fired[i],
					     &ok, t0 + BOUND_NS) == 0 && ok);
		RTT_CHECKF(fired[i] >= due[i], "timer %d fired %lld ns early",
			   i, (long long)(due[i] - fired[i]));
		/* Fired already: stop says so. */
		RTT_CHECK(!rt_timer_stop(t[i]));
		rt_timer_free(t[i]);
	}
	for (int i = 0; i < NTIMERS; i++)
		for (int j = 0; j < NTIMERS; j++)
			if (due[j] > due[i] + span)
				RTT_CHECKF(fired[j] >= fired[i],
					   "timer %d fired before timer %d",
					   j, i);
}

static void test_timers_in_order(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	rtt_run(&cfg, order_main, NULL);
}

/* ------------------------------------------------------------------
 * Stop and reset.
 * ---------------------------------------------------------------- */
static void stop_reset_main(void *arg)
{
	struct rt_timer *t = rt_timer_new(20 * RT_MSEC);
	int64_t v, t0;
	bool ok;

	RTT_CHECK(rt_timer_stop(t));
	RTT_CHECK(!rt_timer_stop(t));
	rt_sleep(30 * RT_MSEC);
	RTT_CHECK(rt_chan_try_recv(rt_timer_chan(t), &v, &ok) == -EAGAIN);
	/* Reset a stopped timer: it fires, after the new duration. */
	t0 = rt_now();
	RTT_CHECK(!rt_timer_reset(t, 3 * RT_MSEC));
	RTT_CHECK(rt_chan_recv(rt_timer_chan(t), &v));
	RTT_CHECK(v >= t0 + 3 * RT_MSEC);
	/* Reset a pending one: true, and it fires once, late. */
	RTT_CHECK(!rt_timer_reset(t, 2 * RT_MSEC));
	t0 = rt_now();
	RTT_CHECK(rt_timer_reset(t, 6 * RT_MSEC));
	RTT_CHECK(rt_chan_recv(rt_timer_chan(t), &v));
	RTT_CHECK(v >= t0 + 6 * RT_MSEC);
	rt_sleep(5 * RT_MSEC);
	RTT_CHECK(rt_chan_try_recv(rt_timer_chan(t), &v, &ok) == -EAGAIN);
	/* A fired value not yet received is dropped by stop. */
	rt_timer_reset(t, RT_MSEC);
	rt_sleep(3 * RT_MSEC);
	RTT_CHECK(!rt_timer_stop(t));
	RTT_CHECK(rt_chan_try_recv(rt_timer_chan(t), &v, &ok) == -EAGAIN);
	rt_timer_free(t);
	/* Freeing a pending timer stops it. */
	rt_timer_free(rt_timer_new(RT_MSEC));
	rt_sleep(3 * RT_MSEC);
}

static void test_stop_and_reset(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	rtt_run(&cfg, stop_reset_main, NULL);
}

/* ------------------------------------------------------------------
 * Tickers: ticks come in order, not early; after stop, none.
 * ---------------------------------------------------------------- */
static void ticker_main(void *arg)
{
	int64_t period = 2 * RT_MSEC, t0 = rt_now(), v, prev = 0;
	struct rt_timer *tk = rt_ticker_new(period);
	bool ok;

	for (int i = 0; i < 10; i++) {
		RTT_CHECK(rt_chan_recv(rt_timer_chan(tk), &v));
		RTT_CHECK(v > prev);
		prev = v;
	}
	/* At least 10 periods since the start (a tick may be dropped when
	 * the receiver is late, never early). */
	RTT_CHECK(prev >= t0 + 10 * period);
	rt_timer_stop(tk);
	rt_sleep(5 * period);
	RTT_CHECK(rt_chan_try_recv(rt_timer_chan(tk), &v, &ok) == -EAGAIN);
	/* Reset: it ticks again, at the new period. */
	t0 = rt_now();
	rt_ticker_reset(tk, 3 * RT_MSEC);
	RTT_CHECK(rt_chan_recv(rt_timer_chan(tk), &v) && v >= t0 + 3 * RT_MSEC);
	rt_timer_free(tk);
}

static void test_ticker_stops(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	rtt_run(&cfg, ticker_main, NULL);
}

/* ------------------------------------------------------------------
 * rt_timer_func runs fn in a task, at or after the deadline.
 * ---------------------------------------------------------------- */
struct fn_arg {
	_Atomic int64_t ran_at;
	_Atomic int in_task;
};

static void timer_fn(void *arg)
{
	struct fn_arg *a = arg;

	atomic_store(&a->in_task, rt_in_task());
	atomic_store(&a->ran_at, rt_now());
}

static void func_main(void *arg)
{
	struct fn_arg a = { 0 };
	int64_t t0 = rt_now();
	struct rt_timer *t = rt_timer_func(4 * RT_MSEC, timer_fn, &a);

	while (!atomic_load(&a.ran_at) && rt_now() < t0 + BOUND_NS)
		rt_sleep(RT_MSEC);
	RTT_CHECK(atomic_load(&a.in_task));
	RTT_CHECK(atomic_load(&a.ran_at) >= t0 + 4 * RT_MSEC);
	RTT_CHECK(rt_timer_chan(t) == NULL);
	rt_timer_free(t);
}

static void test_timer_func(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	rtt_run(&cfg, func_main, NULL);
}

/* ------------------------------------------------------------------
 * A timer in the heap of a worker whose task never yields: the other
 * worker (idle, sleeping until the earliest timer of any heap) fires it,
 * and the task it starts runs there.
 * ---------------------------------------------------------------- */
/* A system call that lets the kernel (and valgrind, which runs one
 * thread at a time and would otherwise keep running this one) schedule
 * the other worker thread; not an rt_ yield: to rt/ the worker stays
 * busy in this task. */
static void *os_yield(void *unused)
{
	sched_yield();
	return NULL;
}

static void busy_main(void *arg)
{
	struct fn_arg a = { 0 };
	int64_t t0 = rt_now();
	struct rt_timer *t = rt_timer_func(5 * RT_MSEC, timer_fn, &a);

	/* No rt_ call that could switch: this worker never looks at its
	 * heap until the loop ends. */
	while (!atomic_load(&a.ran_at) && rt_now() < t0 + BOUND_NS)
		rt_call_on_worker_stack(os_yield, NULL);
	RTT_CHECKF(atomic_load(&a.ran_at) != 0,
		   "the timer did not fire while its worker was busy");
	RTT_CHECK(atomic_load(&a.ran_at) >= t0 + 5 * RT_MSEC);
	rt_timer_free(t);
}

static void test_timer_of_busy_worker(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	rtt_run(&cfg, busy_main, NULL);
}

/* ------------------------------------------------------------------
 * Many timers at once: 20,000 sleeps of 0-2 ms on four workers, and
 * 200 tickers stopped while they tick.
 * ---------------------------------------------------------------- */
#define MANY rtt_scale(20000)

static void short_sleeper(void *arg)
{
	rt_sleep((int64_t)(rt_task_id() % 2000) * RT_USEC);
	rt_wg_done(arg);
}

static void ticker_task(void *arg)
{
	struct rt_timer *tk = rt_ticker_new(RT_MSEC);
	int64_t v;

	for (int i = 0; i < 3; i++)
		RTT_CHECK(rt_chan_recv(rt_timer_chan(tk), &v));
	rt_timer_free(tk);
	rt_wg_done(arg);
}

static void many_main(void *arg)
{
	struct rt_wg wg = { 0 };

	rt_wg_add(&wg, (int)MANY + 200);
	for (long i = 0; i < MANY; i++)
		rt_go(short_sleeper, &wg);
	for (int i = 0; i < 200; i++)
		rt_go(ticker_task, &wg);
	rt_wg_wait(&wg);
}

static void test_many_timers(void **state)
{
	struct rt_config cfg = rtt_config(state, 4);

	rtt_run(&cfg, many_main, NULL);
}

/* ------------------------------------------------------------------
 * Misuse
 * ---------------------------------------------------------------- */
static void sleep_outside(void *arg)
{
	rt_sleep(RT_MSEC);
}

static void ticker_zero_main(void *arg)
{
	rt_ticker_new(0);
}

static void ticker_zero(void *arg)
{
	struct rt_config cfg = { .workers = 1 };

	rt_main(&cfg, ticker_zero_main, NULL);
}

static void test_misuse(void **state)
{
	(void)state;
	rtt_expect_panic(sleep_outside, "rt_sleep: called outside a task");
	rtt_expect_panic(ticker_zero, "rt_ticker_new: non-positive period 0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		RT_TEST(test_sleep_not_early),
		RT_TEST(test_timers_in_order),
		RT_TEST(test_stop_and_reset),
		RT_TEST(test_ticker_stops),
		RT_TEST(test_timer_func),
		RT_TEST(test_timer_of_busy_worker),
		RT_TEST(test_many_timers),
		cmocka_unit_test(test_misuse),
	};

	rtt_filter_from_env();
	return cmocka_run_group_tests_name("rt_timer", tests, NULL, NULL);
}

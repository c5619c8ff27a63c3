/*
 * rt/ scheduler: spawning, completion, stealing, park/unpark, shutdown,
 * configuration, counters, and misuse. Each case runs with segmented and
 * with mapped stacks (lib_rt.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "lib_rt.h"
#include "rt/internal.h"

#define DEADLINE_NS (60ll * 1000 * 1000 * 1000)

static _Atomic long counter;

static void count_one(void *arg)
{
	atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
}

/* Yield until *c reaches want or a minute passes; false on timeout. */
static bool wait_count(_Atomic long *c, long want)
{
	int64_t end = rt_now() + DEADLINE_NS;
	unsigned i = 0;

	while (atomic_load(c) < want) {
		rt_yield();
		if (++i % 1024 == 0 && rt_now() > end)
			return false;
	}
	return true;
}

/* 1,000,000 tasks spawned by one task, all completed. */
#define MILLION rtt_scale(1000000)

static void million_main(void *arg)
{
	long i;

	for (i = 0; i < MILLION; i++)
		RTT_CHECK(rt_go(count_one, NULL) == 0);
	RTT_CHECKF(wait_count(&counter, MILLION), "only %ld of %ld ran",
		   atomic_load(&counter), MILLION);
}

static void test_million_tasks(void **state)
{
	struct rt_config cfg = rtt_config(state, 0);
	struct rt_worker_stats tot;

	atomic_store(&counter, 0);
	rtt_run(&cfg, million_main, NULL);
	assert_int_equal(atomic_load(&counter), MILLION);
	rt_stats_total(&tot);
	assert_int_equal(tot.spawned, MILLION);
	/* Every task ran (and the main one). */
	assert_int_equal(tot.tasks_run, MILLION + 1);
	/* No task of this size needs a second segment. */
	assert_int_equal(tot.segments, 0);
}

/* Spawning from many tasks at once. */
#define SPAWNERS 200
#define PER_SPAWNER rtt_scale(5000)

static void spawner(void *arg)
{
	for (int i = 0; i < PER_SPAWNER; i++) {
		RTT_CHECK(rt_go(count_one, NULL) == 0);
		if (i % 100 == 99)
			rt_yield();
	}
	count_one(NULL);
}

static void many_main(void *arg)
{
	for (int i = 0; i < SPAWNERS; i++)
		RTT_CHECK(rt_go(spawner, NULL) == 0);
	RTT_CHECK(wait_count(&counter, SPAWNERS * (PER_SPAWNER + 1)));
}

static void test_spawn_from_many(void **state)
{
	struct rt_config cfg = rtt_config(state, 0);

	atomic_store(&counter, 0);
	rtt_run(&cfg, many_main, NULL);
	assert_int_equal(atomic_load(&counter), SPAWNERS * (PER_SPAWNER + 1));
}

/* Work stealing: one task spawns everything; another worker must steal.
 * Each child spins a little so that the spawner's queue stays full. */
static void busy_child(void *arg)
{
	for (volatile int i = 0; i < 2000; i++)
		;
	count_one(NULL);
}

#define STEAL_TASKS rtt_scale(20000)

static void steal_main(void *arg)
{
	for (int i = 0; i < STEAL_TASKS; i++)
		RTT_CHECK(rt_go(busy_child, NULL) == 0);
	RTT_CHECK(wait_count(&counter, STEAL_TASKS));
}

static void test_work_stealing(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);
	struct rt_worker_stats st[2];
	int attempt;

	/* A loaded machine may run the thief late; it must steal at least
	 * once in a few tries, and every task must run every time. */
	for (attempt = 0; attempt < 10; attempt++) {
		atomic_store(&counter, 0);
		rtt_run(&cfg, steal_main, NULL);
		assert_int_equal(atomic_load(&counter), STEAL_TASKS);
		assert_int_equal(rt_stats(st, 2), 2);
		if (st[0].steals + st[1].steals > 0)
			break;
	}
	assert_true(st[0].steals + st[1].steals > 0);
	assert_true(st[0].stolen + st[1].stolen > 0);
	assert_int_equal(st[0].tasks_run + st[1].tasks_run, STEAL_TASKS + 1);
}

/* Yielding tasks move between workers and all finish. */
static _Atomic long moved;

static void yielder(void *arg)
{
	int first = rt_worker_id();

	for (int i = 0; i < 1000; i++) {
		rt_yield();
		RTT_CHECK(rt_worker_id() >= 0 && rt_worker_id() < 2);
		RTT_CHECK(rt_in_task());
	}
	if (rt_worker_id() != first)
		atomic_fetch_add(&moved, 1);
	count_one(NULL);
}

static void yield_main(void *arg)
{
	for (int i = 0; i < 100; i++)
		rt_go(yielder, NULL);
	RTT_CHECK(wait_count(&counter, 100));
}

static void test_yield_many(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);
	struct rt_worker_stats tot;

	atomic_store(&counter, 0);
	atomic_store(&moved, 0);
	rtt_run(&cfg, yield_main, NULL);
	assert_int_equal(atomic_load(&counter), 100);
	rt_stats_total(&tot);
	assert_true(tot.yields >= 100 * 1000 / 2);
	print_message("%ld of 100 tasks ended on another worker\n",
		      atomic_load(&moved));
}

/* Park/unpark: a wait list under a spinlock, released by the unlock
 * callback once the parked task is saved. */
struct waitlist {
	struct rt__spinlock lock;
	struct rt_task *head;
	int n;
};

static bool unlock_list(void *arg)
{
	rt__spin_unlock(&((struct waitlist *)arg)->lock);
	return true;
}

static void wait_on(struct waitlist *wl)
{
	struct rt_task *me = rt__current();

	rt__spin_lock(&wl->lock);
	me->next = wl->head;
	wl->head = me;
	wl->n++;
	rt__park(unlock_list, wl);
}

static int wake_all_on(struct waitlist *wl)
{
	struct rt_task *t, *next;
	int n = 0;

	rt__spin_lock(&wl->lock);
	t = wl->head;
	wl->head = NULL;
	wl->n = 0;
	rt__spin_unlock(&wl->lock);
	for (; t; t = next) {
		next = t->next;
		rt__unpark(t);
		n++;
	}
	return n;
}

static struct waitlist gate;
static _Atomic long woke;

static void parker(void *arg)
{
	count_one(NULL);
	wait_on(&gate);
	atomic_fetch_add(&woke, 1);
}

#define PARKERS rtt_scale(10000)

static void park_main(void *arg)
{
	int round, n = 0;

	for (round = 0; round < 3; round++) {
		atomic_store(&counter, 0);
		atomic_store(&woke, 0);
		for (int i = 0; i < PARKERS; i++)
			rt_go(parker, NULL);
		RTT_CHECK(wait_count(&counter, PARKERS));
		/* All have counted; wait until all are on the list. A worker
		 * preempted by the kernel holds its task up: bound by time. */
		int64_t end = rt_now() + DEADLINE_NS;

		for (int spins = 0;; spins++) {
			rt__spin_lock(&gate.lock);
			n = gate.n;
			rt__spin_unlock(&gate.lock);
			if (n == PARKERS ||
			    (spins % 1024 == 1023 && rt_now() > end))
				break;
			rt_yield();
		}
		RTT_CHECKF(n == PARKERS, "%d parked of %ld", n, PARKERS);
		RTT_CHECK(wake_all_on(&gate) == PARKERS);
		RTT_CHECK(wait_count(&woke, PARKERS));
	}
}

static void test_park_unpark(void **state)
{
	struct rt_config cfg = rtt_config(state, 0);
	struct rt_worker_stats tot;

	memset(&gate, 0, sizeof(gate));
	rtt_run(&cfg, park_main, NULL);
	assert_int_equal(atomic_load(&woke), PARKERS);
	rt_stats_total(&tot);
	assert_int_equal(tot.parks, 3 * PARKERS);
	assert_int_equal(tot.unparks, 3 * PARKERS);
}

/* Park called off by its unlock callback: the task goes on at once. */
static bool refuse(void *arg)
{
	return false;
}

static void refuse_main(void *arg)
{
	for (int i = 0; i < 1000; i++)
		rt__park(refuse, NULL);
	count_one(NULL);
}

static void test_park_refused(void **state)
{
	struct rt_config cfg = rtt_config(state, 0);

	atomic_store(&counter, 0);
	rtt_run(&cfg, refuse_main, NULL);
	assert_int_equal(atomic_load(&counter), 1);
}

/* Unpark from a thread that is not a worker: onto the global queue. */
static struct rt_task *_Atomic lone;

static void lone_parker(void *arg)
{
	struct rt_task *me = rt__current();
	struct waitlist *wl = arg;

	rt__spin_lock(&wl->lock);
	atomic_store(&lone, me);
	rt__park(unlock_list, wl);
	count_one(NULL);
}

static void *outside_waker(void *arg)
{
	struct waitlist *wl = arg;
	struct rt_task *t;

	while (!(t = atomic_load(&lone)))
		sys_arch_relax();
	rt__spin_lock(&wl->lock);   /* parked once we get it */
	rt__spin_unlock(&wl->lock);
	rt__unpark(t);
	return NULL;
}

static void outside_main(void *arg)
{
	rt_go(lone_parker, arg);
	RTT_CHECK(wait_count(&counter, 1));
}

static void test_unpark_from_outside(void **state)
{
	struct rt_config cfg = rtt_config(state, 0);
	struct waitlist wl = { 0 };
	struct sys_thread th = { 0 };

	atomic_store(&counter, 0);
	atomic_store(&lone, NULL);
	assert_int_equal(sys_thread_spawn(&th, NULL, outside_waker, &wl), 0);
	rtt_run(&cfg, outside_main, &wl);
	assert_int_equal(sys_thread_join(&th, NULL), 0);
	assert_int_equal(atomic_load(&counter), 1);
}

/* rt_go from a thread that is not a worker: onto the global queue, and
 * a sleeping worker is woken for it. */
static _Atomic int go_ready;

static void *outside_spawner(void *arg)
{
	while (!atomic_load(&go_ready))
		sys_sched_yield();
	for (int i = 0; i < 1000; i++)
		if (rt_go(count_one, NULL) < 0)
			return (void *)1;
	return NULL;
}

static void outside_go_main(void *arg)
{
	atomic_store(&go_ready, 1);
	RTT_CHECK(wait_count(&counter, 1000));
}

static void test_go_from_outside(void **state)
{
	struct rt_config cfg = rtt_config(state, 0);
	struct sys_thread th = { 0 };
	void *ret = (void *)-1;

	atomic_store(&counter, 0);
	atomic_store(&go_ready, 0);
	assert_int_equal(sys_thread_spawn(&th, NULL, outside_spawner, NULL), 0);
	rtt_run(&cfg, outside_go_main, NULL);
	assert_int_equal(sys_thread_join(&th, &ret), 0);
	assert_null(ret);
	assert_int_equal(atomic_load(&counter), 1000);
}

/* rt_main returns while tasks are parked and runnable: they are
 * abandoned and their memory (grown segments too) freed. Many runs. */
static void deep_parker(void *arg)
{
	volatile char buf[8192];

	buf[0] = 1;
	buf[sizeof(buf) - 1] = buf[0];
	wait_on(&gate);                 /* never woken */
}

static void abandon_main(void *arg)
{
	for (int i = 0; i < 100; i++) {
		rt_go(parker, NULL);
		rt_go(deep_parker, NULL);
		rt_go(count_one, NULL);
	}
	rt_yield();
}

static void test_main_returns_abandons(void **state)
{
	struct rt_config cfg = rtt_config(state, 0);

	for (int run = 0; run < 30; run++) {
		memset(&gate, 0, sizeof(gate));
		rtt_run(&cfg, abandon_main, NULL);
	}
}

/* Configuration from the environment. */
static void workers_main(void *arg)
{
	*(unsigned *)arg = rt_workers();
	RTT_CHECK(rt_worker_id() >= 0 && rt_worker_id() < 3);
}

static void test_config_env(void **state)
{
	struct rt_config cfg = rtt_config(state, 0);
	const char *e = getenv("THREADLAB_STACK");
	char *saved_stack = e ? strdup(e) : NULL;
	unsigned n = 0;
	const char *bad_workers[] = { "abc", "0", "-1", "1025", "2x", "" };

	setenv("THREADLAB_WORKERS", "3", 1);
	rtt_run(&cfg, workers_main, &n);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < sizeof(bad_workers) / sizeof(*bad_workers); i++) {
		setenv("THREADLAB_WORKERS", bad_workers[i], 1);
		if (!*bad_workers[i]) {
			/* Empty means unset. */
			rtt_run(&cfg, workers_main, &n);
			continue;
		}
		assert_int_equal(rt_main(&cfg, workers_main, &n), -EINVAL);
	}
	unsetenv("THREADLAB_WORKERS");

	cfg.stack = RT_STACK_DEFAULT;
	setenv("THREADLAB_STACK", "bogus", 1);
	assert_int_equal(rt_main(&cfg, workers_main, &n), -EINVAL);
	setenv("THREADLAB_STACK", "mapped", 1);
	rtt_run(&cfg, workers_main, &n);
	assert_int_equal(rt_stack_kind(), RT_STACK_MAPPED);
	unsetenv("THREADLAB_STACK");
	if (rtt_kind(state) == RT_STACK_SEGMENTED) {
		setenv("THREADLAB_STACK_SEGMENT", "100", 1);
		cfg.stack = RT_STACK_SEGMENTED;
		assert_int_equal(rt_main(&cfg, workers_main, &n), -EINVAL);
		unsetenv("THREADLAB_STACK_SEGMENT");
	}
	setenv("THREADLAB_STACK_SIZE", "12345", 1);
	cfg.stack = RT_STACK_MAPPED;
	assert_int_equal(rt_main(&cfg, workers_main, &n), -EINVAL);
	unsetenv("THREADLAB_STACK_SIZE");
	setenv("THREADLAB_PIN", "maybe", 1);
	assert_int_equal(rt_main(&cfg, workers_main, &n), -EINVAL);
	unsetenv("THREADLAB_PIN");
	/* As the suite was started (make memcheck sets it). */
	if (saved_stack) {
		setenv("THREADLAB_STACK", saved_stack, 1);
		free(saved_stack);
	}
}

static void bad_env_child(void *arg)
{
	struct rt_config cfg = { 0 };

	setenv("THREADLAB_WORKERS", "lots", 1);
	_exit(rt_main(&cfg, workers_main, NULL) == -EINVAL ? 0 : 1);
}

static void test_config_message(void **state)
{
	char buf[512];
	int st = rtt_fork_capture(bad_env_child, NULL, buf, sizeof(buf));

	(void)state;
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_non_null(strstr(buf, "THREADLAB_WORKERS=lots"));
}

/* THREADLAB_DEBUG=stats prints the counters at the end. */
static void stats_child(void *arg)
{
	struct rt_config cfg = *(struct rt_config *)arg;

	setenv("THREADLAB_DEBUG", "stats", 1);
	atomic_store(&counter, 0);
	_exit(rt_main(&cfg, million_main, NULL) == 0 ? 0 : 1);
}

static void test_stats_print(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);
	char buf[4096];
	int st = rtt_fork_capture(stats_child, &cfg, buf, sizeof(buf));

	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_non_null(strstr(buf, "threadlab rt stats: 2 workers"));
	assert_non_null(strstr(buf, "total"));
}

/* Misuse stops the program with a message naming the call. */
static void yield_outside(void *arg)
{
	rt_yield();
}

static void unpark_running_main(void *arg)
{
	rt__unpark(rt__current());
}

static void unpark_running(void *arg)
{
	struct rt_config cfg = { .workers = 1 };

	rt_main(&cfg, unpark_running_main, NULL);
}

static void go_outside(void *arg)
{
	rt_go(count_one, NULL);
}

static void nested_main_task(void *arg)
{
	rt_main(NULL, count_one, NULL);
}

static void nested_main(void *arg)
{
	struct rt_config cfg = { .workers = 1 };

	rt_main(&cfg, nested_main_task, NULL);
}

static void *yield_on_worker_stack(void *arg)
{
	rt_yield();
	return NULL;
}

static void yield_in_call_main(void *arg)
{
	rt_call_on_worker_stack(yield_on_worker_stack, NULL);
}

static void yield_in_call(void *arg)
{
	struct rt_config cfg = { .workers = 1 };

	rt_main(&cfg, yield_in_call_main, NULL);
}

static void test_misuse(void **state)
{
	(void)state;
	rtt_expect_panic(yield_outside, "rt_yield: called outside a task");
	rtt_expect_panic(unpark_running, "rt__unpark: task 1 is not parked (running)");
	rtt_expect_panic(go_outside, "rt_go: no runtime is running");
	rtt_expect_panic(nested_main, "rt_main: called from inside a runtime");
	rtt_expect_panic(yield_in_call,
		     "rt_yield: called inside rt_call_on_worker_stack");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		RT_TEST(test_million_tasks),
		RT_TEST(test_spawn_from_many),
		RT_TEST(test_work_stealing),
		RT_TEST(test_yield_many),
		RT_TEST(test_park_unpark),
		RT_TEST(test_park_refused),
		RT_TEST(test_unpark_from_outside),
		RT_TEST(test_go_from_outside),
		RT_TEST(test_main_returns_abandons),
		RT_TEST(test_config_env),
		RT_TEST(test_stats_print),
		cmocka_unit_test(test_config_message),
		cmocka_unit_test(test_misuse),
	};

	rtt_filter_from_env();
	return cmocka_run_group_tests_name("rt_sched", tests, NULL, NULL);
}

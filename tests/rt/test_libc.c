/*
 * Task code calling libc while it moves between worker threads: printf,
 * snprintf, malloc, errno — called directly (the linker makes each such
 * call ask for a big segment, which rt/ frees when the task ends) and
 * through rt_call_on_worker_stack (no segment at all).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib_rt.h"
#include "rt/internal.h"

#define TASKS 200
#define ROUNDS 50

static _Atomic int finished, migrations;
static FILE *devnull;

static void wait_finished(int want)
{
	while (atomic_load(&finished) < want)
		rt_yield();
}

/* ------------------------------------------------------------------
 * Direct calls
 * ---------------------------------------------------------------- */
static void direct_task(void *arg)
{
	long id = (long)arg;
	int last = rt_worker_id();

	for (int i = 0; i < ROUNDS; i++) {
		char buf[64], want[64];
		char *p;
		int n;

		n = snprintf(buf, sizeof(buf), "task %ld round %d %.3f", id, i,
			     i / 8.0);
		rt_yield();
		/* Build the expected text by hand: no libc. */
		RTT_CHECK(n > 0 && n < (int)sizeof(buf));
		p = malloc(100 + (size_t)i);
		RTT_CHECK(p != NULL);
		memset(p, (int)id, 100 + (size_t)i);
		rt_yield();
		RTT_CHECK(((unsigned char *)p)[99 + i] == (unsigned char)id);
		free(p);
		fprintf(devnull, "%s\n", buf);
		snprintf(want, sizeof(want), "task %ld round %d %.3f", id, i,
			 i / 8.0);
		RTT_CHECK(strcmp(buf, want) == 0);
		if (rt_worker_id() != last) {
			atomic_fetch_add(&migrations, 1);
			last = rt_worker_id();
		}
	}
	atomic_fetch_add(&finished, 1);
}

static void direct_main(void *arg)
{
	for (long i = 0; i < TASKS; i++)
		rt_go(direct_task, (void *)i);
	wait_finished(TASKS);
}

static void test_libc_direct(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	atomic_store(&finished, 0);
	atomic_store(&migrations, 0);
	rtt_run(&cfg, direct_main, NULL);
	assert_int_equal(atomic_load(&finished), TASKS);
	print_message("%d migrations seen\n", atomic_load(&migrations));
}

/* ------------------------------------------------------------------
 * The same through rt_call_on_worker_stack: no extra segment.
 * ---------------------------------------------------------------- */
struct fmt_job {
	char buf[64];
	long id;
	int i;
	int n;
	void *p;
};

static void *fmt_on_worker(void *arg)
{
	struct fmt_job *j = arg;

	j->n = snprintf(j->buf, sizeof(j->buf), "task %ld round %d %.3f", j->id,
			j->i, j->i / 8.0);
	fprintf(devnull, "%s\n", j->buf);
	j->p = malloc(64);
	return j->buf;
}

static void *free_on_worker(void *p)
{
	free(p);
	return NULL;
}

/* The jobs live outside the tasks' stacks, which stay small enough for
 * the first segment: the check below is that libc needed no more. */
static struct fmt_job jobs[TASKS];

static void worker_stack_task(void *arg)
{
	struct fmt_job *j = &jobs[(long)arg];

	j->id = (long)arg;
	for (j->i = 0; j->i < ROUNDS; j->i++) {
		char *r = rt_call_on_worker_stack(fmt_on_worker, j);

		RTT_CHECK(r == j->buf && j->n > 0 && j->p != NULL);
		rt_yield();
		rt_call_on_worker_stack(free_on_worker, j->p);
	}
	atomic_fetch_add(&finished, 1);
}

static void worker_stack_main(void *arg)
{
	for (long i = 0; i < TASKS; i++)
		rt_go(worker_stack_task, (void *)i);
	wait_finished(TASKS);
}

static void test_libc_on_worker_stack(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);
	struct rt_worker_stats tot;

	atomic_store(&finished, 0);
	rtt_run(&cfg, worker_stack_main, NULL);
	assert_int_equal(atomic_load(&finished), TASKS);
	rt_stats_total(&tot);
	/* Not one task needed an extra segment. */
	assert_int_equal(tot.segments, 0);
	assert_true(tot.worker_stack_calls >= TASKS * ROUNDS * 2);
}

/* What runs on the worker stack sees no split-stack limit, and runs on
 * a different stack from the task's. */
static char *seen_sp;
static void *seen_limit;

static void *where_on_worker(void *arg)
{
	seen_sp = rt__sp();
	seen_limit = rt__split_limit();
	return arg;
}

static void where_main(void *arg)
{
	char *lo, *hi, *limit;
	void *before, *after;

	rt__stack_bounds(rt__current(), &lo, &hi, &limit);
	before = rt__split_limit();
	RTT_CHECK(rt_call_on_worker_stack(where_on_worker, (void *)7) ==
		  (void *)7);
	after = rt__split_limit();
	RTT_CHECK(seen_limit == NULL);
	RTT_CHECK(before == after);
	RTT_CHECK(seen_sp < lo || seen_sp >= hi);
}

static void test_worker_stack_is_other(void **state)
{
	struct rt_config cfg = rtt_config(state, 1);

	rtt_run(&cfg, where_main, NULL);
}

/* ------------------------------------------------------------------
 * errno: each task's own across switches, and right after a failing
 * call on whatever thread the task is on now.
 * ---------------------------------------------------------------- */
static __attribute__((noinline)) int close_bad(void)
{
	return close(-1);
}

static void errno_task(void *arg)
{
	int mine = 1000 + (int)(long)arg;
	int last = rt_worker_id();

	for (int i = 0; i < 500; i++) {
		RT_ERRNO = mine;
		rt_yield();
		/* Our own value, whichever thread we are on now. */
		RTT_CHECKF(RT_ERRNO == mine, "errno %d, want %d", RT_ERRNO,
			   mine);
		RTT_CHECK(close_bad() == -1);
		RTT_CHECKF(RT_ERRNO == EBADF, "errno %d after close(-1)",
			   RT_ERRNO);
		if (rt_worker_id() != last) {
			atomic_fetch_add(&migrations, 1);
			last = rt_worker_id();
		}
	}
	atomic_fetch_add(&finished, 1);
}

static void errno_main(void *arg)
{
	for (long i = 0; i < TASKS; i++)
		rt_go(errno_task, (void *)i);
	wait_finished(TASKS);
}

static void test_errno_across_migrations(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	atomic_store(&finished, 0);
	atomic_store(&migrations, 0);
	rtt_run(&cfg, errno_main, NULL);
	assert_int_equal(atomic_load(&finished), TASKS);
	print_message("%d migrations seen\n", atomic_load(&migrations));
}

static int group_setup(void **state)
{
	devnull = fopen("/dev/null", "w");
	return devnull ? 0 : -1;
}

static int group_teardown(void **state)
{
	fclose(devnull);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		RT_TEST(test_libc_direct),
		RT_TEST(test_libc_on_worker_stack),
		RT_TEST(test_worker_stack_is_other),
		RT_TEST(test_errno_across_migrations),
	};

	rtt_filter_from_env();
	return cmocka_run_group_tests_name("rt_libc", tests, group_setup,
					   group_teardown);
}

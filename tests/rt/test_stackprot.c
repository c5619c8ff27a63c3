/*
 * Built with -fstack-protector-strong (Makefile): every function below
 * with an array gets a canary from %fs:0x28 in its frame, checked when it
 * returns. Tasks keep such frames live across rt_yield while they move
 * between workers; every worker thread must hold the same canary
 * (syscalls/tls.c copies it), or the first migrated return aborts with
 * "stack smashing detected".
 */
#include <stdatomic.h>
#include <string.h>

#include "lib_rt.h"
#include "rt/internal.h"

#ifndef __SSP_STRONG__
#error "test_stackprot must be built with -fstack-protector-strong"
#endif

#define TASKS 300

static _Atomic int finished, migrations;

static __attribute__((noinline)) int guarded(int depth, int id)
{
	char buf[24];
	int last = rt_worker_id(), r = 0;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(id + (int)i);
	rt_yield();
	if (depth > 0)
		r = guarded(depth - 1, id);
	rt_yield();
	if (rt_worker_id() != last)
		atomic_fetch_add(&migrations, 1);
	for (size_t i = 0; i < sizeof(buf); i++)
		RTT_CHECK(buf[i] == (char)(id + (int)i));
	return r + buf[3];
}

static void prot_task(void *arg)
{
	int id = (int)(long)arg;

	for (int round = 0; round < 20; round++)
		RTT_CHECK(guarded(8, id) == 9 * (char)(id + 3));
	atomic_fetch_add(&finished, 1);
}

static void prot_main(void *arg)
{
	for (long i = 0; i < TASKS; i++)
		rt_go(prot_task, (void *)i);
	while (atomic_load(&finished) < TASKS)
		rt_yield();
}

static void test_canary_survives_migration(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	atomic_store(&finished, 0);
	atomic_store(&migrations, 0);
	rtt_run(&cfg, prot_main, NULL);
	assert_int_equal(atomic_load(&finished), TASKS);
	print_message("%d returns on another worker than the frame's start\n",
		      atomic_load(&migrations));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		RT_TEST(test_canary_survives_migration),
	};

	rtt_filter_from_env();
	return cmocka_run_group_tests_name("rt_stackprot", tests, NULL, NULL);
}

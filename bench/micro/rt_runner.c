/*
 * The runner's calls for rt/ task code (rt_runner.h). Each *_on_worker
 * function runs on the worker stack (rt_call_on_worker_stack), where the
 * runner's ordinary (not split-stack) code may run. No shared state.
 */
#include <string.h>

#include "bench/micro/rt_runner.h"

void *bench_rt__reset_on_worker(void *b)
{
	bench_reset_timer(b);
	bench_start_timer(b);
	return NULL;
}

void *bench_rt__stop_on_worker(void *b)
{
	bench_stop_timer(b);
	return NULL;
}

void *bench_rt__start_on_worker(void *b)
{
	bench_start_timer(b);
	return NULL;
}

int bench_rt_main(struct bench_b *b, unsigned workers,
		  enum rt_stack_kind stack, void (*main_fn)(void *),
		  void *arg)
{
	struct rt_config cfg = { .workers = workers, .stack = stack };
	int err;

	bench_stop_timer(b);     /* started again inside the main task */
	err = rt_main(&cfg, main_fn, arg);
	if (err < 0)
		bench_failf(b, "rt_main: %s", strerror(-err));
	return err;
}

/* Go by Example: Atomic Counters, in C on rt/ tasks
 * (atomic-counters.md). The atomics are C11's. */
#include <stdatomic.h>

#include "rt/rt.h"

static _Atomic uint64_t ops;

static void counter(void *arg)
{
	for (int c = 0; c < 1000; c++)
		atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
	rt_wg_done(arg);
}

static void main_task(void *arg)
{
	struct rt_wg wg = { 0 };

	/* 50 tasks, each incrementing the counter 1000 times. */
	for (int i = 0; i < 50; i++) {
		rt_wg_add(&wg, 1);
		rt_go(counter, &wg);
	}
	rt_wg_wait(&wg);
	rt_printf("ops: %llu\n", (unsigned long long)atomic_load(&ops));
}

int main(void)
{
	return rt_main(NULL, main_task, NULL) == 0 ? 0 : 1;
}

/*
 * The benchmark runner (bench/bench.c) seen from rt/ task code: the
 * micro-benchmarks of tasks (bench/micro/rt.c, vocab.c) time themselves
 * from inside their main task, whose stack is a split-stack segment, so
 * every call into the runner goes through rt_call_on_worker_stack.
 * rt_runner.c is task code too (-fsplit-stack, see the Makefile).
 */
#ifndef BENCH_MICRO_RT_RUNNER_H
#define BENCH_MICRO_RT_RUNNER_H

#include "bench/bench.h"
#include "rt/rt.h"

/* The runner's timer calls, to run on the worker stack (rt_runner.c). */
void *bench_rt__reset_on_worker(void *b);
void *bench_rt__stop_on_worker(void *b);
void *bench_rt__start_on_worker(void *b);

/* b's timer, from a task: reset and start it (it is stopped while
 * rt_main starts), stop it, start it again. Inline: a benchmark that
 * starts its timer at the very edge of a stack segment (HotSplit) must
 * not add a frame there, which would itself cross into a new segment. */
static inline void bench_rt_reset_timer(struct bench_b *b)
{
	rt_call_on_worker_stack(bench_rt__reset_on_worker, b);
}

static inline void bench_rt_stop_timer(struct bench_b *b)
{
	rt_call_on_worker_stack(bench_rt__stop_on_worker, b);
}

static inline void bench_rt_start_timer(struct bench_b *b)
{
	rt_call_on_worker_stack(bench_rt__start_on_worker, b);
}

/* Run main_fn(arg) as the main task of a runtime of `workers` workers
 * with `stack` stacks, b's timer stopped until main_fn starts it; when
 * the runtime cannot start, b fails with rt_main's error. 0 or -errno. */
int bench_rt_main(struct bench_b *b, unsigned workers,
		  enum rt_stack_kind stack, void (*main_fn)(void *),
		  void *arg);

#endif

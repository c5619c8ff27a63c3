/*
 * Micro-benchmarks of rt/ tasks, the counterparts of bench/micro/go's
 * goroutine benchmarks (same names with model=rt, same work):
 *
 *   BenchmarkSpawn/model=rt/stack=S
 *       Spawn + run + exit of one task that does nothing but count down a
 *       shared counter; the spawning task waits (yielding) until all have
 *       run. ns/op is per task. Workers: every usable CPU (the -N).
 *
 *   BenchmarkYield/model=rt/stack=S
 *       Two tasks take turns through rt_yield; ns/op is per rt_yield (one
 *       switch from one task to the other). -1: one worker, so each yield
 *       is a hand-off; -N: N workers, where a yield with nothing else on
 *       its worker tries to steal and otherwise returns at once.
 *
 *   BenchmarkParkedRSS/model=rt/stack=S/tasks=T
 *       Start T tasks that park (rt/internal.h's park, as a channel
 *       receive would) and divide the growth of the resident set by T,
 *       in the first round of a fresh runtime; reported as B/task (ns/op
 *       is the time of one round and means little).
 *
 *   BenchmarkGrowShrink/model=rt/stack=S/phase=P/tasks=1000
 *       1000 tasks each use 64 KiB of stack and park, at the bottom of
 *       the recursion (P=deep) or after coming back from it (P=after);
 *       B/task is the resident memory per task 20 ms later. Segmented
 *       stacks give the extra segments back once a task has been parked
 *       RT_TRIM_AFTER_NS; mapped stacks keep their pages until the task
 *       ends. The same benchmark for kernel threads is in threads.c.
 *
 *   BenchmarkHotSplit/model=rt/stack=S
 *       A call in a loop made when the stack is nearly full: with
 *       segmented stacks every call crosses into the next segment and
 *       back (the "hot split" that made Go leave segmented stacks in
 *       1.3); with mapped stacks the same loop is an ordinary call. The
 *       callee has a 512-byte frame (Go's leaf has 256 bytes; see
 *       leaf() below for why more here). One worker.
 *
 * S is segmented or mapped (rt/stack.c). Each run of a benchmark
 * function is one rt_main; the timer runs only inside the main task, so
 * starting and stopping the workers is not counted. This file is task
 * code: the Makefile compiles it with -fsplit-stack, and it calls the
 * runner (non-split code) through rt_runner.h, on the worker stack.
 *
 * Shared state: the struct run of a benchmark call, written by its tasks
 * (atomics) and read by the benchmark function after rt_main returns.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/micro/rt_runner.h"
#include "rt/internal.h"
#include "rt/rt.h"

struct rt_arg {
	enum rt_stack_kind stack;
	long tasks;              /* ParkedRSS, GrowShrink */
	bool deep;               /* GrowShrink: park at the bottom */
};

#define ARG(s, n) (&(const struct rt_arg){ (s), (n), false })
#define ARG_GROW(s, deep) (&(const struct rt_arg){ (s), 1000, (deep) })
#define SEG RT_STACK_SEGMENTED
#define MAP RT_STACK_MAPPED

struct run {
	struct bench_b *b;
	const struct rt_arg *a;
	_Atomic long left;       /* tasks or yields still to go */
	_Atomic int done;
	double per_task;         /* ParkedRSS */
	long check;
	/* ParkedRSS: the parked tasks, under lock. */
	struct rt__spinlock lock;
	struct rt_task *parked;
};

static int run_rt(struct bench_b *b, struct run *r, int workers,
		  void (*main_fn)(void *))
{
	r->b = b;
	return bench_rt_main(b, (unsigned)workers, r->a->stack, main_fn, r);
}

/* ---------------------------------------------------------------------
 * Spawn
 * ------------------------------------------------------------------- */
static void spawn_child(void *arg)
{
	atomic_fetch_sub_explicit(&((struct run *)arg)->left, 1,
				  memory_order_relaxed);
}

static void spawn_main(void *arg)
{
	struct run *r = arg;
	uint64_t i, n = r->b->n;

	atomic_store(&r->left, (long)n);
	bench_rt_reset_timer(r->b);
	for (i = 0; i < n; i++)
		if (rt_go(spawn_child, r) < 0)
			atomic_fetch_sub(&r->left, 1);
	while (atomic_load_explicit(&r->left, memory_order_acquire) > 0)
		rt_yield();
	bench_rt_stop_timer(r->b);
}

static void bench_spawn(struct bench_b *b)
{
	struct run r = { .a = b->arg };

	run_rt(b, &r, b->cpus, spawn_main);
}

/* ---------------------------------------------------------------------
 * Yield
 * ------------------------------------------------------------------- */
static void yield_partner(void *arg)
{
	struct run *r = arg;
	long i, n = (long)(r->b->n / 2);

	for (i = 0; i < n; i++)
		rt_yield();
	atomic_store(&r->done, 1);
}

static void yield_main(void *arg)
{
	struct run *r = arg;
	long i, n = (long)(r->b->n - r->b->n / 2);

	rt_go(yield_partner, r);
	rt_yield();             /* let the partner start */
	bench_rt_reset_timer(r->b);
	for (i = 0; i < n; i++)
		rt_yield();
	while (!atomic_load(&r->done))
		rt_yield();
	bench_rt_stop_timer(r->b);
}

static void bench_yield(struct bench_b *b)
{
	struct run r = { .a = b->arg };

	run_rt(b, &r, b->cpus, yield_main);
}

/* ---------------------------------------------------------------------
 * ParkedRSS
 * ------------------------------------------------------------------- */
static void *rss_on_worker(void *out)
{
	*(long *)out = bench_rss_bytes();
	return NULL;
}

static bool unlock_run(void *arg)
{
	rt__spin_unlock(&((struct run *)arg)->lock);
	return true;
}

/* Put the calling task on r->parked, count it, and park until
 * parked_round unparks it. */
static void park_on_run(struct run *r)
{
	struct rt_task *me = rt__current();

	rt__spin_lock(&r->lock);
	me->next = r->parked;
	r->parked = me;
	atomic_fetch_sub_explicit(&r->left, 1, memory_order_release);
	rt__park(unlock_run, r);
}

static void parker(void *arg)
{
	struct run *r = arg;

	park_on_run(r);
	atomic_fetch_add(&r->done, 1);
}

/*
 * One round of ParkedRSS or GrowShrink: start the run's n tasks of `task`,
 * which end up parked on r->parked; `settle` ns after the last one parked,
 * the growth of the resident set per task (in the first round only:
 * later ones reuse the memory the pools kept, and would say 0); then,
 * with the timer stopped, unpark them all and wait for them to end.
 */
static void parked_round(struct run *r, uint64_t it, void (*task)(void *),
			 int64_t settle)
{
	long before, after, n = r->a->tasks;
	struct rt_task *t, *next;

	atomic_store(&r->left, n);
	atomic_store(&r->done, 0);
	rt_call_on_worker_stack(rss_on_worker, &before);
	for (long i = 0; i < n; i++)
		rt_go(task, r);
	while (atomic_load_explicit(&r->left, memory_order_acquire) > 0)
		rt_yield();
	if (settle)
		rt_sleep(settle);
	rt_call_on_worker_stack(rss_on_worker, &after);
	if (it == 0)
		r->per_task = (double)(after - before) / (double)n;

	bench_rt_stop_timer(r->b);
	rt__spin_lock(&r->lock);
	t = r->parked;
	r->parked = NULL;
	rt__spin_unlock(&r->lock);
	for (; t; t = next) {
		next = t->next;
		rt__unpark(t);
	}
	while (atomic_load(&r->done) < n)
		rt_yield();
	bench_rt_start_timer(r->b);
}

static void parked_main(void *arg)
{
	struct run *r = arg;

	bench_rt_reset_timer(r->b);
	for (uint64_t it = 0; it < r->b->n; it++)
		parked_round(r, it, parker, 0);
	bench_rt_stop_timer(r->b);
}

static void bench_parked_rss(struct bench_b *b)
{
	struct run r = { .a = b->arg };

	if (run_rt(b, &r, b->cpus, parked_main) == 0)
		bench_report_metric(b, r.per_task, "B/task");
}

/* ---------------------------------------------------------------------
 * GrowShrink
 * ------------------------------------------------------------------- */
/* bench/micro/threads.c's GrowShrink with tasks: 1000 tasks each use 64
 * frames of 1 KiB, then park, at the bottom (deep) or after coming back
 * (after); 20 ms later (long enough for rt/ to trim the extra segments
 * of a task parked for RT_TRIM_AFTER_NS), the growth of the resident set
 * per task. First round of a fresh runtime, as ParkedRSS. */
#define GS_FRAMES 64

static __attribute__((noinline)) long grow_down(struct run *r, int n)
{
	volatile char pad[1024];

	pad[0] = (char)n;
	pad[sizeof(pad) - 1] = (char)n;
	if (n == 0) {
		if (r->a->deep)
			park_on_run(r);
		return pad[0];
	}
	return grow_down(r, n - 1) + pad[sizeof(pad) - 1];
}

static void grower(void *arg)
{
	struct run *r = arg;

	if (grow_down(r, GS_FRAMES - 1) == -1)
		r->check++;      /* never: keeps the result used */
	if (!r->a->deep)
		park_on_run(r);
	atomic_fetch_add(&r->done, 1);
}

static void grow_main(void *arg)
{
	struct run *r = arg;

	bench_rt_reset_timer(r->b);
	for (uint64_t it = 0; it < r->b->n; it++)
		parked_round(r, it, grower, 20 * RT_MSEC);
	bench_rt_stop_timer(r->b);
}

static void bench_grow_shrink(struct bench_b *b)
{
	struct run r = { .a = b->arg };

	if (run_rt(b, &r, b->cpus, grow_main) == 0)
		bench_report_metric(b, r.per_task, "B/task");
}

/* ---------------------------------------------------------------------
 * HotSplit
 * ------------------------------------------------------------------- */
/* Go's leaf has a 256-byte array; here 512 bytes, because gcc lets a
 * leaf function keep 128 bytes in the red zone below %rsp and frames under
 * 256 bytes start below the split-stack limit: a 256-byte array would fit
 * in what the limit allows and never split. */
static __attribute__((noinline)) long leaf(long x)
{
	volatile char pad[512];

	pad[x & 511] = (char)x;
	return pad[(x + 1) & 511] + x;
}

/* Recurse until within 48 bytes of the limit (segmented) or of `floor`
 * (mapped, which has no limit), then call leaf() n times there. */
static __attribute__((noinline)) long at_edge(struct run *r, char *floor)
{
	volatile char step[8];
	char *limit = floor ? floor : rt__split_limit();
	long s = 0;

	step[0] = 0;
	if (rt__sp() - limit > 48)
		return at_edge(r, floor) + step[0];
	bench_rt_reset_timer(r->b);
	for (uint64_t i = 0; i < r->b->n; i++)
		s += leaf((long)i);
	bench_rt_stop_timer(r->b);
	return s;
}

static void hot_main(void *arg)
{
	struct run *r = arg;
	char *lo, *hi, *limit;

	rt__stack_bounds(rt__current(), &lo, &hi, &limit);
	r->check = at_edge(r, limit ? NULL : lo + 4096);
}

static void bench_hot_split(struct bench_b *b)
{
	struct run r = { .a = b->arg };

	run_rt(b, &r, 1, hot_main);
}

const struct bench_def bench_micro_rt[] = {
	{ "BenchmarkSpawn/model=rt/stack=segmented", bench_spawn,
	  ARG(SEG, 0), BENCH_CPUS_WORKERS },
	{ "BenchmarkSpawn/model=rt/stack=mapped", bench_spawn,
	  ARG(MAP, 0), BENCH_CPUS_WORKERS },
	{ "BenchmarkYield/model=rt/stack=segmented", bench_yield,
	  ARG(SEG, 0), 1 },
	{ "BenchmarkYield/model=rt/stack=segmented", bench_yield,
	  ARG(SEG, 0), BENCH_CPUS_WORKERS },
	{ "BenchmarkYield/model=rt/stack=mapped", bench_yield,
	  ARG(MAP, 0), 1 },
	{ "BenchmarkParkedRSS/model=rt/stack=segmented/tasks=100000",
	  bench_parked_rss, ARG(SEG, 100000), BENCH_CPUS_WORKERS },
	{ "BenchmarkParkedRSS/model=rt/stack=segmented/tasks=1000000",
	  bench_parked_rss, ARG(SEG, 1000000), BENCH_CPUS_WORKERS },
	{ "BenchmarkParkedRSS/model=rt/stack=mapped/tasks=100000",
	  bench_parked_rss, ARG(MAP, 100000), BENCH_CPUS_WORKERS },
	{ "BenchmarkGrowShrink/model=rt/stack=segmented/phase=deep/tasks=1000",
	  bench_grow_shrink, ARG_GROW(SEG, true), BENCH_CPUS_WORKERS },
	{ "BenchmarkGrowShrink/model=rt/stack=segmented/phase=after/tasks=1000",
	  bench_grow_shrink, ARG_GROW(SEG, false), BENCH_CPUS_WORKERS },
	{ "BenchmarkGrowShrink/model=rt/stack=mapped/phase=deep/tasks=1000",
	  bench_grow_shrink, ARG_GROW(MAP, true), BENCH_CPUS_WORKERS },
	{ "BenchmarkGrowShrink/model=rt/stack=mapped/phase=after/tasks=1000",
	  bench_grow_shrink, ARG_GROW(MAP, false), BENCH_CPUS_WORKERS },
	{ "BenchmarkHotSplit/model=rt/stack=segmented", bench_hot_split,
	  ARG(SEG, 0), 1 },
	{ "BenchmarkHotSplit/model=rt/stack=mapped", bench_hot_split,
	  ARG(MAP, 0), 1 },
	{ NULL, NULL, NULL, 0 },
};

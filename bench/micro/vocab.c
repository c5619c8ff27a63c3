/*
 * Micro-benchmarks of rt/'s concurrency vocabulary, the counterparts of
 * bench/micro/go's (same names with model=rt, same work):
 *
 *   BenchmarkChanPingPong/model=rt
 *       Two tasks send an int back and forth over two unbuffered
 *       channels; ns/op is one round trip (two sends, two receives).
 *       -1: one worker; -N: N workers.
 *
 *   BenchmarkChanBuffered/model=rt
 *       A producer sends n ints into a channel of 128, a consumer ranges
 *       over it; ns/op per element.
 *
 *   BenchmarkMutex/model=M/tasks=T
 *       T tasks (M=rt) or T kernel threads (M=clone: sys_thread and
 *       sys_mutex; M=pthread: pthread_create and pthread_mutex_t)
 *       each do n/T lock; counter++; unlock; ns/op per lock+unlock (n in
 *       all, as Go's b.N). The threads are started, and wait for a start
 *       signal, before the timer starts.
 *
 *   BenchmarkSelect4/model=rt
 *       One task selects over four buffered channels that are always
 *       ready (each holds a value; the chosen one gets its value back);
 *       ns/op per select.
 *
 * Each run of an rt benchmark is one rt_main; the timer runs only inside
 * the main task. This file is task code: the Makefile compiles it with
 * -fsplit-stack, and the runner's calls go through rt_runner.h (on the
 * worker stack). The thread benchmarks run on ordinary threads.
 *
 * Shared state: the struct run of a benchmark call, written by its tasks
 * or threads (atomics, or under the mutex measured) and read by the
 * benchmark function after they are joined.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/micro/rt_runner.h"
#include "rt/rt.h"
#include "syscalls/sys.h"

enum model { RT, CLONE, PTHREAD };

struct varg {
	enum model model;
	int tasks;
};

#define ARG(m, t) (&(const struct varg){ (m), (t) })

struct run {
	struct bench_b *b;
	const struct varg *a;
	struct rt_chan *c1, *c2;
	struct rt_wg wg;
	struct rt_mutex mu;
	struct sys_mutex smu;
	pthread_mutex_t pmu;
	long counter;               /* under the mutex measured */
	long per;
	_Atomic uint32_t go;        /* the threads' start signal */
};

/* ---------------------------------------------------------------------
 * A wrong count, reported to the runner on the worker stack.
 * ------------------------------------------------------------------- */
static void *fail_on_worker(void *r)
{
	struct run *run = r;

	bench_failf(run->b, "counter %ld, want %ld", run->counter,
		    run->per * run->a->tasks);
	return NULL;
}

static void run_rt(struct bench_b *b, struct run *r, int workers,
		   void (*main_fn)(void *))
{
	r->b = b;
	bench_rt_main(b, (unsigned)workers, RT_STACK_DEFAULT, main_fn, r);
}

/* ---------------------------------------------------------------------
 * ChanPingPong
 * ------------------------------------------------------------------- */
static void pong(void *arg)
{
	struct run *r = arg;
	long v;

	while (rt_chan_recv(r->c1, &v))
		rt_chan_send(r->c2, &v);
	rt_wg_done(&r->wg);
}

static void pingpong_main(void *arg)
{
	struct run *r = arg;
	uint64_t i, n = r->b->n;
	long v;

	r->c1 = rt_chan_new(sizeof(long), 0);
	r->c2 = rt_chan_new(sizeof(long), 0);
	rt_wg_add(&r->wg, 1);
	rt_go(pong, r);
	bench_rt_reset_timer(r->b);
	for (i = 0; i < n; i++) {
		v = (long)i;
		rt_chan_send(r->c1, &v);
		rt_chan_recv(r->c2, &v);
	}
	bench_rt_stop_timer(r->b);
	rt_chan_close(r->c1);
	rt_wg_wait(&r->wg);
	rt_chan_free(r->c1);
	rt_chan_free(r->c2);
}

static void bench_pingpong(struct bench_b *b)
{
	struct run r = { .a = b->arg };

	run_rt(b, &r, b->cpus, pingpong_main);
}

/* ---------------------------------------------------------------------
 * ChanBuffered
 * ------------------------------------------------------------------- */
static void drain(void *arg)
{
	struct run *r = arg;
	long v;

	while (rt_chan_recv(r->c1, &v))
		;
	rt_chan_close(r->c2);
}

static void buffered_main(void *arg)
{
	struct run *r = arg;
	uint64_t i, n = r->b->n;

	r->c1 = rt_chan_new(sizeof(long), 128);
	r->c2 = rt_chan_new(0, 0);
	bench_rt_reset_timer(r->b);
	rt_go(drain, r);
	for (i = 0; i < n; i++) {
		long v = (long)i;

		rt_chan_send(r->c1, &v);
	}
	rt_chan_close(r->c1);
	rt_chan_recv(r->c2, NULL);
	bench_rt_stop_timer(r->b);
	rt_chan_free(r->c1);
	rt_chan_free(r->c2);
}

static void bench_buffered(struct bench_b *b)
{
	struct run r = { .a = b->arg };

	run_rt(b, &r, b->cpus, buffered_main);
}

/* ---------------------------------------------------------------------
 * Mutex
 * ------------------------------------------------------------------- */
static void mutex_task(void *arg)
{
	struct run *r = arg;

	for (long i = 0; i < r->per; i++) {
		rt_mutex_lock(&r->mu);
		r->counter++;
		rt_mutex_unlock(&r->mu);
	}
	rt_wg_done(&r->wg);
}

static void mutex_main(void *arg)
{
	struct run *r = arg;
	int t, tasks = r->a->tasks;

	r->per = (long)(r->b->n / (uint64_t)tasks);
	bench_rt_reset_timer(r->b);
	rt_wg_add(&r->wg, tasks);
	for (t = 0; t < tasks; t++)
		rt_go(mutex_task, r);
	rt_wg_wait(&r->wg);
	bench_rt_stop_timer(r->b);
	if (r->counter != r->per * tasks)
		rt_call_on_worker_stack(fail_on_worker, r);
}

static void wait_start(struct run *r)
{
	while (!atomic_load_explicit(&r->go, memory_order_acquire))
		sys_futex_wait(&r->go, 0, -1);
}

static void *mutex_thread(void *arg)
{
	struct run *r = arg;

	wait_start(r);
	for (long i = 0; i < r->per; i++) {
		if (r->a->model == CLONE) {
			sys_mutex_lock(&r->smu);
			r->counter++;
			sys_mutex_unlock(&r->smu);
		} else {
			pthread_mutex_lock(&r->pmu);
			r->counter++;
			pthread_mutex_unlock(&r->pmu);
		}
	}
	return NULL;
}

static void *mutex_pthread(void *arg)
{
	return mutex_thread(arg);
}

static void bench_mutex_threads(struct bench_b *b, struct run *r)
{
	int tasks = r->a->tasks, started = 0;
	struct sys_thread *st = calloc((size_t)tasks, sizeof(*st));
	pthread_t *pt = calloc((size_t)tasks, sizeof(*pt));
	int err = 0;

	if (!st || !pt) {
		bench_failf(b, "out of memory");
		goto out;
	}
	pthread_mutex_init(&r->pmu, NULL);
	r->per = (long)(b->n / (uint64_t)tasks);
	for (; started < tasks; started++) {
		if (r->a->model == CLONE)
			err = sys_thread_spawn(&st[started], NULL, mutex_thread,
					       r);
		else
			err = -pthread_create(&pt[started], NULL,
					      mutex_pthread, r);
		if (err < 0)
			break;
	}
	bench_reset_timer(b);
	atomic_store_explicit(&r->go, 1, memory_order_release);
	sys_futex_wake(&r->go, INT32_MAX);
	for (int i = 0; i < started; i++) {
		if (r->a->model == CLONE)
			sys_thread_join(&st[i], NULL);
		else
			pthread_join(pt[i], NULL);
	}
	bench_stop_timer(b);
	if (err < 0)
		bench_failf(b, "starting thread %d: %s", started,
			    strerror(-err));
	else if (r->counter != r->per * tasks)
		bench_failf(b, "counter %ld, want %ld", r->counter,
			    r->per * tasks);
	pthread_mutex_destroy(&r->pmu);
out:
	free(st);
	free(pt);
}

static void bench_mutex(struct bench_b *b)
{
	struct run r = { .a = b->arg };

	r.b = b;
	if (r.a->model == RT)
		run_rt(b, &r, b->cpus, mutex_main);
	else
		bench_mutex_threads(b, &r);
}

/* ---------------------------------------------------------------------
 * Select4
 * ------------------------------------------------------------------- */
static void select_main(void *arg)
{
	struct run *r = arg;
	struct rt_chan *c[4];
	struct rt_select_case cs[4];
	uint64_t i, n = r->b->n;
	long v = 0;

	for (int k = 0; k < 4; k++) {
		c[k] = rt_chan_new(sizeof(long), 1);
		rt_chan_send(c[k], &v);
	}
	bench_rt_reset_timer(r->b);
	for (i = 0; i < n; i++) {
		int k;

		for (k = 0; k < 4; k++)
			cs[k] = RT_CASE_RECV(c[k], &v);
		k = rt_select(cs, 4, RT_SELECT_BLOCK);
		rt_chan_send(c[k], &v);
	}
	bench_rt_stop_timer(r->b);
	for (int k = 0; k < 4; k++)
		rt_chan_free(c[k]);
}

static void bench_select4(struct bench_b *b)
{
	struct run r = { .a = b->arg };

	run_rt(b, &r, b->cpus, select_main);
}

const struct bench_def bench_micro_vocab[] = {
	{ "BenchmarkChanPingPong/model=rt", bench_pingpong, ARG(RT, 0), 1 },
	{ "BenchmarkChanPingPong/model=rt", bench_pingpong, ARG(RT, 0),
	  BENCH_CPUS_WORKERS },
	{ "BenchmarkChanBuffered/model=rt", bench_buffered, ARG(RT, 0), 1 },
	{ "BenchmarkChanBuffered/model=rt", bench_buffered, ARG(RT, 0),
	  BENCH_CPUS_WORKERS },
	{ "BenchmarkMutex/model=rt/tasks=2", bench_mutex, ARG(RT, 2),
	  BENCH_CPUS_WORKERS },
	{ "BenchmarkMutex/model=rt/tasks=16", bench_mutex, ARG(RT, 16),
	  BENCH_CPUS_WORKERS },
	{ "BenchmarkMutex/model=rt/tasks=100", bench_mutex, ARG(RT, 100),
	  BENCH_CPUS_WORKERS },
	{ "BenchmarkMutex/model=clone/tasks=2", bench_mutex, ARG(CLONE, 2),
	  0 },
	{ "BenchmarkMutex/model=clone/tasks=16", bench_mutex, ARG(CLONE, 16),
	  0 },
	{ "BenchmarkMutex/model=clone/tasks=100", bench_mutex,
	  ARG(CLONE, 100), 0 },
	{ "BenchmarkMutex/model=pthread/tasks=2", bench_mutex,
	  ARG(PTHREAD, 2), 0 },
	{ "BenchmarkMutex/model=pthread/tasks=16", bench_mutex,
	  ARG(PTHREAD, 16), 0 },
	{ "BenchmarkMutex/model=pthread/tasks=100", bench_mutex,
	  ARG(PTHREAD, 100), 0 },
	{ "BenchmarkSelect4/model=rt", bench_select4, ARG(RT, 0), 1 },
	{ "BenchmarkSelect4/model=rt", bench_select4, ARG(RT, 0),
	  BENCH_CPUS_WORKERS },
	{ NULL, NULL, NULL, 0 },
};

/*
 * rt/ sync: mutex and rwmutex exclusion with exact (non-atomic) counters
 * under contention across workers, the mutex's starvation mode letting a
 * waiter in, a wait group over 100,000 tasks (and several waiters, and
 * reuse), once under races, the semaphore's bound, the condition
 * variable (signal and broadcast), and misuse (in child processes). Each
 * case runs with segmented and with mapped stacks (lib_rt.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "lib_rt.h"

#define DEADLINE_NS (30ll * RT_SEC)

/* *max = the larger of *max and n, atomically (a plain load and store
 * could lose a larger value stored meanwhile). */
static void atomic_max(_Atomic int *max, int n)
{
	int m = atomic_load(max);

	while (n > m && !atomic_compare_exchange_weak(max, &m, n))
		;
}

/* ------------------------------------------------------------------
 * Mutex: a plain counter, incremented under the lock by tasks on four
 * workers, is exact; nobody is ever inside with someone else. Some
 * critical sections yield, so that waiters park (not only spin).
 * ---------------------------------------------------------------- */
#define MTX_TASKS 16
#define MTX_ITERS rtt_scale(20000)

struct mtx {
	struct rt_mutex m;
	long counter;               /* under m */
	_Atomic int inside;
	struct rt_wg wg;
};

static void mtx_task(void *arg)
{
	struct mtx *x = arg;

	for (long i = 0; i < MTX_ITERS; i++) {
		rt_mutex_lock(&x->m);
		RTT_CHECK(atomic_exchange(&x->inside, 1) == 0);
		x->counter++;
		if (i % 97 == 0)
			rt_yield();
		atomic_store(&x->inside, 0);
		rt_mutex_unlock(&x->m);
	}
	rt_wg_done(&x->wg);
}

static void mutex_main(void *arg)
{
	for (int round = 0; round < 3; round++) {
		struct mtx x = { 0 };

		rt_wg_add(&x.wg, MTX_TASKS);
		for (int i = 0; i < MTX_TASKS; i++)
			rt_go(mtx_task, &x);
		rt_wg_wait(&x.wg);
		RTT_CHECKF(x.counter == MTX_TASKS * MTX_ITERS, "%ld, want %ld",
			   x.counter, MTX_TASKS * MTX_ITERS);
		RTT_CHECK(atomic_load(&x.m.state) == 0);
		RTT_CHECK(rt_mutex_trylock(&x.m));
		RTT_CHECK(!rt_mutex_trylock(&x.m));
		rt_mutex_unlock(&x.m);
	}
}

static void test_mutex_exclusion(void **state)
{
	struct rt_config cfg = rtt_config(state, 4);

	rtt_run(&cfg, mutex_main, NULL);
}

/*
 * Starvation: a hog takes and releases the mutex in a tight loop without
 * ever yielding, holding it for tens of microseconds each time; a waiter
 * on the other worker must still get it (after waiting 1 ms it switches
 * the mutex to hand-off mode, and the hog's next lock queues behind it;
 * measured: the waiter gets in after 1.01-1.03 ms). The hog stops after
 * DEADLINE_NS at most.
 */
struct starve {
	struct rt_mutex m;
	_Atomic int waiter_in, hog_started;
	_Atomic long hog_rounds;
	struct rt_wg wg;
};

static void hog(void *arg)
{
	struct starve *s = arg;
	int64_t end = rt_now() + DEADLINE_NS;
	long n = 0;

	atomic_store(&s->hog_started, 1);
	while (!atomic_load(&s->waiter_in)) {
		rt_mutex_lock(&s->m);
		n++;
		/* Hold it a while: the waiter's spinning cannot catch the
		 * moment it is free; it parks, wakes and loses the race,
		 * until it has waited 1 ms and starvation mode starts. */
		for (volatile int k = 0; k < 20000; k++)
			;
		rt_mutex_unlock(&s->m);
		if (n % 4096 == 0 && rt_now() > end)
			break;
	}
	atomic_store(&s->hog_rounds, n);
	rt_wg_done(&s->wg);
}

static void starved(void *arg)
{
	struct starve *s = arg;

	while (!atomic_load(&s->hog_started))
		rt_yield();
	rt_mutex_lock(&s->m);
	atomic_store(&s->waiter_in, 1);
	rt_mutex_unlock(&s->m);
	rt_wg_done(&s->wg);
}

static void starve_main(void *arg)
{
	struct starve s = { 0 };

	rt_wg_add(&s.wg, 2);
	rt_go(hog, &s);
	rt_go(starved, &s);
	rt_wg_wait(&s.wg);
	RTT_CHECKF(atomic_load(&s.waiter_in), "the waiter starved (%ld "
		   "rounds of the hog)", atomic_load(&s.hog_rounds));
}

static void test_mutex_no_starvation(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	rtt_run(&cfg, starve_main, NULL);
}

/* ------------------------------------------------------------------
 * RWMutex: writers alone, readers together, exact counter.
 * ---------------------------------------------------------------- */
#define RW_WRITERS 4
#define RW_READERS 12
#define RW_WITERS rtt_scale(3000)
#define RW_RITERS rtt_scale(6000)

struct rw {
	struct rt_rwmutex l;
	long counter;               /* written under l (write) */
	_Atomic int writers_in, readers_in, max_readers;
	struct rt_wg wg;
};

static void rw_writer(void *arg)
{
	struct rw *x = arg;

	for (long i = 0; i < RW_WITERS; i++) {
		rt_rwmutex_lock(&x->l);
		RTT_CHECK(atomic_exchange(&x->writers_in, 1) == 0);
		RTT_CHECK(atomic_load(&x->readers_in) == 0);
		x->counter++;
		if (i % 31 == 0)
			rt_yield();
		atomic_store(&x->writers_in, 0);
		rt_rwmutex_unlock(&x->l);
	}
	rt_wg_done(&x->wg);
}

static void rw_reader(void *arg)
{
	struct rw *x = arg;

	for (long i = 0; i < RW_RITERS; i++) {
		int n;

		rt_rwmutex_rlock(&x->l);
		n = atomic_fetch_add(&x->readers_in, 1) + 1;
		RTT_CHECK(atomic_load(&x->writers_in) == 0);
		atomic_max(&x->max_readers, n);
		if (i % 7 == 0)
			rt_yield();
		RTT_CHECK(atomic_load(&x->writers_in) == 0);
		atomic_fetch_sub(&x->readers_in, 1);
		rt_rwmutex_runlock(&x->l);
	}
	rt_wg_done(&x->wg);
}

static void rw_main(void *arg)
{
	for (int round = 0; round < 2; round++) {
		struct rw x = { 0 };

		rt_wg_add(&x.wg, RW_WRITERS + RW_READERS);
		for (int i = 0; i < RW_READERS; i++) {
			rt_go(rw_reader, &x);
			if (i < RW_WRITERS)
				rt_go(rw_writer, &x);
		}
		rt_wg_wait(&x.wg);
		RTT_CHECK(x.counter == RW_WRITERS * RW_WITERS);
		/* Readers do share: they yield inside, and others get in. */
		RTT_CHECKF(atomic_load(&x.max_readers) > 1, "max readers %d",
			   atomic_load(&x.max_readers));
		RTT_CHECK(atomic_load(&x.l.readers) == 0);
	}
}

static void test_rwmutex(void **state)
{
	struct rt_config cfg = rtt_config(state, 4);

	rtt_run(&cfg, rw_main, NULL);
}

/* ------------------------------------------------------------------
 * Wait group: 100,000 tasks, three waiters, then the group reused.
 * ---------------------------------------------------------------- */
#define WG_TASKS rtt_scale(100000)

struct wgt {
	struct rt_wg wg, waiters;
	_Atomic long done;
	_Atomic int released;
};

static void wg_task(void *arg)
{
	struct wgt *w = arg;

	atomic_fetch_add_explicit(&w->done, 1, memory_order_relaxed);
	rt_wg_done(&w->wg);
}

static void wg_waiter(void *arg)
{
	struct wgt *w = arg;

	rt_wg_wait(&w->wg);
	RTT_CHECK(atomic_load(&w->done) >= WG_TASKS);
	atomic_fetch_add(&w->released, 1);
	rt_wg_done(&w->waiters);
}

static void wg_main(void *arg)
{
	struct wgt w = { 0 };

	for (int round = 0; round < 2; round++) {
		atomic_store(&w.done, 0);
		atomic_store(&w.released, 0);
		rt_wg_add(&w.wg, (int)WG_TASKS);
		rt_wg_add(&w.waiters, 3);
		for (int i = 0; i < 3; i++)
			rt_go(wg_waiter, &w);
		for (long i = 0; i < WG_TASKS; i++)
			RTT_CHECK(rt_go(wg_task, &w) == 0);
		rt_wg_wait(&w.wg);
		RTT_CHECK(atomic_load(&w.done) == WG_TASKS);
		rt_wg_wait(&w.waiters);
		RTT_CHECK(atomic_load(&w.released) == 3);
		RTT_CHECK(atomic_load(&w.wg.state) == 0);
	}
	/* Waiting on a zero group returns at once. */
	rt_wg_wait(&w.wg);
}

static void test_waitgroup_100k(void **state)
{
	struct rt_config cfg = rtt_config(state, 0);

	rtt_run(&cfg, wg_main, NULL);
}

/* ------------------------------------------------------------------
 * Once: 64 racing callers on four workers; fn runs once, and yields
 * while it runs, so that others arrive meanwhile; every caller returns
 * after fn has finished.
 * ---------------------------------------------------------------- */
struct oncet {
	struct rt_once once;
	_Atomic int runs, finished;
	struct rt_wg wg;
};

static void once_fn(void *arg)
{
	struct oncet *o = arg;

	atomic_fetch_add(&o->runs, 1);
	for (int i = 0; i < 5; i++)
		rt_yield();
	atomic_store(&o->finished, 1);
}

static void once_caller(void *arg)
{
	struct oncet *o = arg;

	rt_once(&o->once, once_fn, o);
	RTT_CHECK(atomic_load(&o->finished) == 1);
	rt_wg_done(&o->wg);
}

static void once_main(void *arg)
{
	for (int round = 0; round < 50; round++) {
		struct oncet o = { 0 };

		rt_wg_add(&o.wg, 64);
		for (int i = 0; i < 64; i++)
			rt_go(once_caller, &o);
		rt_wg_wait(&o.wg);
		RTT_CHECKF(atomic_load(&o.runs) == 1, "fn ran %d times",
			   atomic_load(&o.runs));
	}
}

static void test_once_races(void **state)
{
	struct rt_config cfg = rtt_config(state, 4);

	rtt_run(&cfg, once_main, NULL);
}

/* ------------------------------------------------------------------
 * Semaphore: never more than its permits inside.
 * ---------------------------------------------------------------- */
#define SEM_PERMITS 3

struct semt {
	struct rt_sem s;
	_Atomic int inside, max;
	struct rt_wg wg;
};

static void sem_task(void *arg)
{
	struct semt *x = arg;

	for (int i = 0; i < 200; i++) {
		int n;

		rt_sem_acquire(&x->s);
		n = atomic_fetch_add(&x->inside, 1) + 1;
		RTT_CHECKF(n <= SEM_PERMITS, "%d inside", n);
		atomic_max(&x->max, n);
		rt_yield();
		atomic_fetch_sub(&x->inside, 1);
		rt_sem_release(&x->s);
	}
	rt_wg_done(&x->wg);
}

static void sem_main(void *arg)
{
	struct semt x = { 0 };

	rt_sem_init(&x.s, SEM_PERMITS);
	rt_wg_add(&x.wg, 32);
	for (int i = 0; i < 32; i++)
		rt_go(sem_task, &x);
	rt_wg_wait(&x.wg);
	/* Never more than the permits (checked inside), and more than one
	 * at a time: a task yields inside, and another gets in. */
	RTT_CHECKF(atomic_load(&x.max) >= 2, "max inside %d",
		   atomic_load(&x.max));
	for (int i = 0; i < SEM_PERMITS; i++)
		RTT_CHECK(rt_sem_try_acquire(&x.s));
	RTT_CHECK(!rt_sem_try_acquire(&x.s));
}

static void test_semaphore(void **state)
{
	struct rt_config cfg = rtt_config(state, 3);

	rtt_run(&cfg, sem_main, NULL);
}

/* ------------------------------------------------------------------
 * Condition variable: a bounded queue with signal (exact counts), and
 * broadcast waking every waiter.
 * ---------------------------------------------------------------- */
#define QCAP 4
#define Q_ITEMS rtt_scale(20000)

struct q {
	struct rt_mutex m;
	struct rt_cond not_empty, not_full;
	long buf[QCAP];
	int head, n;
	long taken, sum;
	int producers_left;
	bool flag;
	int woke;
	struct rt_wg wg;
};

static void q_producer(void *arg)
{
	struct q *q = arg;

	for (long i = 0; i < Q_ITEMS; i++) {
		rt_mutex_lock(&q->m);
		while (q->n == QCAP)
			rt_cond_wait(&q->not_full, &q->m);
		q->buf[(q->head + q->n++) % QCAP] = i;
		rt_cond_signal(&q->not_empty);
		rt_mutex_unlock(&q->m);
	}
	rt_mutex_lock(&q->m);
	q->producers_left--;
	rt_cond_broadcast(&q->not_empty);
	rt_mutex_unlock(&q->m);
	rt_wg_done(&q->wg);
}

static void q_consumer(void *arg)
{
	struct q *q = arg;

	rt_mutex_lock(&q->m);
	for (;;) {
		while (q->n == 0 && q->producers_left > 0)
			rt_cond_wait(&q->not_empty, &q->m);
		if (q->n == 0)
			break;
		q->sum += q->buf[q->head];
		q->head = (q->head + 1) % QCAP;
		q->n--;
		q->taken++;
		rt_cond_signal(&q->not_full);
	}
	rt_mutex_unlock(&q->m);
	rt_wg_done(&q->wg);
}

static void flag_waiter(void *arg)
{
	struct q *q = arg;

	rt_mutex_lock(&q->m);
	while (!q->flag)
		rt_cond_wait(&q->not_empty, &q->m);
	q->woke++;
	rt_mutex_unlock(&q->m);
	rt_wg_done(&q->wg);
}

static void cond_main(void *arg)
{
	struct q q = { 0 };

	q.producers_left = 3;
	rt_wg_add(&q.wg, 3 + 5);
	for (int i = 0; i < 5; i++)
		rt_go(q_consumer, &q);
	for (int i = 0; i < 3; i++)
		rt_go(q_producer, &q);
	rt_wg_wait(&q.wg);
	RTT_CHECK(q.taken == 3 * Q_ITEMS);
	RTT_CHECK(q.sum == 3 * (Q_ITEMS * (Q_ITEMS - 1) / 2));

	memset(&q, 0, sizeof(q));
	rt_wg_add(&q.wg, 50);
	for (int i = 0; i < 50; i++)
		rt_go(flag_waiter, &q);
	rt_sleep(5 * RT_MSEC);
	rt_mutex_lock(&q.m);
	q.flag = true;
	rt_cond_broadcast(&q.not_empty);
	rt_mutex_unlock(&q.m);
	rt_wg_wait(&q.wg);
	RTT_CHECK(q.woke == 50);
}

static void test_cond(void **state)
{
	struct rt_config cfg = rtt_config(state, 3);

	rtt_run(&cfg, cond_main, NULL);
}

/* ------------------------------------------------------------------
 * Misuse
 * ---------------------------------------------------------------- */
static void unlock_unlocked_main(void *arg)
{
	static struct rt_mutex m;

	rt_mutex_unlock(&m);
}

static void unlock_unlocked(void *arg)
{
	rtt_run_misuse(unlock_unlocked_main);
}

static void wg_negative_main(void *arg)
{
	static struct rt_wg wg;

	rt_wg_add(&wg, 1);
	rt_wg_done(&wg);
	rt_wg_done(&wg);
}

static void wg_negative(void *arg)
{
	rtt_run_misuse(wg_negative_main);
}

static void runlock_unlocked_main(void *arg)
{
	static struct rt_rwmutex rw;

	rt_rwmutex_runlock(&rw);
}

static void runlock_unlocked(void *arg)
{
	rtt_run_misuse(runlock_unlocked_main);
}

static void rw_unlock_unlocked_main(void *arg)
{
	static struct rt_rwmutex rw;

	rt_rwmutex_unlock(&rw);
}

static void rw_unlock_unlocked(void *arg)
{
	rtt_run_misuse(rw_unlock_unlocked_main);
}

static void lock_outside(void *arg)
{
	static struct rt_mutex m;

	rt_mutex_lock(&m);      /* the fast path works anywhere */
	rt_mutex_lock(&m);      /* this one would park */
}

static void test_misuse(void **state)
{
	(void)state;
	rtt_expect_panic(unlock_unlocked,
		     "rt_mutex_unlock: unlock of unlocked mutex");
	rtt_expect_panic(wg_negative, "rt_wg_add: negative wait group counter");
	rtt_expect_panic(runlock_unlocked,
		     "rt_rwmutex_runlock: runlock of unlocked rwmutex");
	rtt_expect_panic(rw_unlock_unlocked,
		     "rt_rwmutex_unlock: unlock of unlocked rwmutex");
	rtt_expect_panic(lock_outside, "rt_mutex_lock: called outside a task");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		RT_TEST(test_mutex_exclusion),
		RT_TEST(test_mutex_no_starvation),
		RT_TEST(test_rwmutex),
		RT_TEST(test_waitgroup_100k),
		RT_TEST(test_once_races),
		RT_TEST(test_semaphore),
		RT_TEST(test_cond),
		cmocka_unit_test(test_misuse),
	};

	rtt_filter_from_env();
	return cmocka_run_group_tests_name("rt_sync", tests, NULL, NULL);
}

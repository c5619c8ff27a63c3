/*
 * Time for tasks: a timer heap per worker, rt_sleep, one-shot timers,
 * tickers, and the timeouts of select and contexts (Go's runtime timers,
 * time.Sleep, time.NewTimer, time.NewTicker, time.AfterFunc).
 *
 * Heaps. Each worker has a binary min-heap of timers ordered by `when`.
 * A timer goes into the heap of the worker that arms it. Timers fire on
 * a worker's scheduler context (g0), never in a task, so that their
 * callbacks run with no lock held: sched.c calls rt__timers_run from its
 * scheduling loop (the worker's own heap) and, before a worker sleeps,
 * for every heap (an idle worker fires the timers of a busy one).
 * A busy worker whose tasks switch straight to each other looks at its
 * heap every 61st schedule (sched.c's next_local) and, when a timer is
 * due, goes through g0. A worker with nothing to run sleeps on its futex
 * until the earliest timer of any heap (rt__timers_sleep).
 *
 * Waking a sleeper for a new timer (Go's wakeNetPoller). When a timer
 * becomes the earliest of its heap and no sleeping worker means to wake
 * before it, an idle worker is woken so that it sleeps again with the
 * new timeout; otherwise the timer would wait until its own worker looked
 * (which a task that never yields can put off). The race with a worker
 * going to sleep is a Dekker pair: the worker records sleep_until, lists
 * itself idle, fences, and looks at every heap's `next` again
 * (rt__timers_sooner, inside sched.c's idle_sleep); the arming task
 * stores `next`, fences, and reads sleep_until and the idle count.
 *
 * A timer's life: IDLE -> WAITING (in a heap) -> RUNNING (popped; its
 * callback runs, no lock held) -> IDLE, or WAITING again for a ticker.
 * rt__timer_stop takes a WAITING timer out; on a RUNNING one it asks
 * that a ticker not be re-armed and waits until the callback has
 * returned (the firing worker's last write to the timer is its state),
 * so that the timer's memory — often on a task's stack — may be reused.
 * A timer fired on a worker may unpark a task of any worker: rt__unpark
 * queues it on the firing worker.
 *
 * Shared state and its protection:
 *   h->n, h->a[], h->cap, and the when/period/idx/stopped fields of the
 *        timers in the heap (or popped from it and running)
 *                        h->lock (a spinlock; after channel locks and
 *                        before sched.c's, docs/LOCKING.md)
 *   h->next              written under h->lock, read anywhere (atomic)
 *   h->sleep_until       its worker only writes; anyone reads (atomic)
 *   h->running           its worker's g0 only
 *   t->state, t->heap    written under the heap lock; read without it
 *                        by rt__timer_stop's wait (atomics)
 *   timers.h, timers.n   written by rt_main before the workers start
 */
#include <errno.h>
#include <stdlib.h>

#include "vocab.h"

#define MIN_CAP 16u

struct rt__timers {
	struct rt__spinlock lock;
	uint32_t n, cap;
	struct rt__timer **a;
	_Atomic int64_t next;           /* a[0]->when; INT64_MAX: empty */
	_Atomic int64_t sleep_until;    /* INT64_MAX: awake, or no limit */
	struct rt__timer *running;
} __attribute__((aligned(64)));

static struct {
	struct rt__timers *h;
	unsigned n;
} timers;

/* ------------------------------------------------------------------
 * The heap (under h->lock)
 * ---------------------------------------------------------------- */

static void heap_set(struct rt__timers *h, uint32_t i, struct rt__timer *t)
{
	h->a[i] = t;
	t->idx = i;
}

static void sift_up(struct rt__timers *h, uint32_t i)
{
	struct rt__timer *t = h->a[i];

	while (i > 0) {
		uint32_t p = (i - 1) / 2;

		if (h->a[p]->when <= t->when)
			break;
		heap_set(h, i, h->a[p]);
		i = p;
	}
	heap_set(h, i, t);
}

static void sift_down(struct rt__timers *h, uint32_t i)
{
	struct rt__timer *t = h->a[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->a[c + 1]->when < h->a[c]->when)
			c++;
		if (t->when <= h->a[c]->when)
			break;
		heap_set(h, i, h->a[c]);
		i = c;
	}
	heap_set(h, i, t);
}

static void publish_next(struct rt__timers *h)
{
	atomic_store(&h->next, h->n ? h->a[0]->when : INT64_MAX);
}

static void heap_push(struct rt__timers *h, struct rt__timer *t)
{
	h->a[h->n] = t;
	t->idx = h->n++;
	sift_up(h, t->idx);
	publish_next(h);
}

static void heap_remove(struct rt__timers *h, struct rt__timer *t)
{
	uint32_t i = t->idx;

	h->n--;
	if (i != h->n) {
		heap_set(h, i, h->a[h->n]);
		if (i > 0 && h->a[i]->when < h->a[(i - 1) / 2]->when)
			sift_up(h, i);
		else
			sift_down(h, i);
	}
	publish_next(h);
}

/* Make room for one more timer; takes and returns with h->lock held,
 * but may drop it meanwhile. false: out of memory. */
static bool heap_reserve(struct rt__timers *h)
{
	while (h->n == h->cap) {
		uint32_t cap = h->cap ? h->cap * 2 : MIN_CAP;
		struct rt__timer **a, **old = NULL;

		rt__spin_unlock(&h->lock);
		a = rt__malloc(cap * sizeof(*a));
		rt__spin_lock(&h->lock);
		if (!a)
			return false;
		if (h->cap < cap) {
			for (uint32_t i = 0; i < h->n; i++)
				a[i] = h->a[i];
			old = h->a;
			h->a = a;
			h->cap = cap;
		} else {
			old = a;        /* somebody grew it meanwhile */
		}
		if (old) {
			rt__spin_unlock(&h->lock);
			rt__free(old);
			rt__spin_lock(&h->lock);
		}
	}
	return true;
}

/* ------------------------------------------------------------------
 * Arming and stopping
 * ---------------------------------------------------------------- */

/* A new earliest timer at `when`: make sure some worker will wake up for
 * it (see the top of the file). Called after h->next was stored. */
static void wake_for(int64_t when)
{
	int64_t soonest = INT64_MAX;
	unsigned i;

	atomic_thread_fence(memory_order_seq_cst);
	for (i = 0; i < timers.n; i++) {
		int64_t s = atomic_load(&timers.h[i].sleep_until);

		if (s < soonest)
			soonest = s;
	}
	if (soonest > when)
		rt__wake_idle();
}

int rt__timer_start(struct rt__timer *t, int64_t when, int64_t period,
		    bool keep_locked)
{
	struct rt_worker *w = rt__self();
	struct rt__timers *h;
	bool first;

	if (!w || !timers.h)
		rt__panic("rt: a timer armed outside the runtime's workers");
	h = &timers.h[w->id];
	rt__spin_lock(&h->lock);
	if (!heap_reserve(h)) {
		rt__spin_unlock(&h->lock);
		return -ENOMEM;
	}
	t->when = when;
	t->period = period;
	t->stopped = 0;
	atomic_store_explicit(&t->heap, h, memory_order_relaxed);
	atomic_store_explicit(&t->state, RT__TIMER_WAITING,
			      memory_order_relaxed);
	heap_push(h, t);
	first = h->a[0] == t;
	if (first)
		wake_for(when);
	if (!keep_locked)
		rt__spin_unlock(&h->lock);
	return 0;
}

void rt__timer_unlock(struct rt__timer *t)
{
	rt__spin_unlock(&atomic_load_explicit(&t->heap,
					      memory_order_relaxed)->lock);
}

RT__ON_WORKER_STACK static void *sched_yield_on_worker(void *unused)
{
	sys_sched_yield();
	return NULL;
}

/* Wait until t's callback (running on another worker) has returned. */
static void wait_not_running(struct rt__timer *t)
{
	unsigned n = 0;

	while (atomic_load_explicit(&t->state, memory_order_acquire) ==
	       RT__TIMER_RUNNING) {
		sys_arch_relax();
		if (++n % 1024 == 0)
			rt_call_on_worker_stack(sched_yield_on_worker, NULL);
	}
}

bool rt__timer_stop(struct rt__timer *t)
{
	struct rt__timers *h;
	struct rt_worker *w;

	for (;;) {
		h = atomic_load_explicit(&t->heap, memory_order_acquire);
		if (!h)
			return false;           /* never armed */
		rt__spin_lock(&h->lock);
		if (atomic_load_explicit(&t->heap, memory_order_relaxed) == h)
			break;
		rt__spin_unlock(&h->lock);
	}
	switch (atomic_load_explicit(&t->state, memory_order_relaxed)) {
	case RT__TIMER_WAITING:
		heap_remove(h, t);
		atomic_store_explicit(&t->state, RT__TIMER_IDLE,
				      memory_order_relaxed);
		rt__spin_unlock(&h->lock);
		return true;
	case RT__TIMER_RUNNING:
		t->stopped = 1;
		rt__spin_unlock(&h->lock);
		/* From inside its own callback: nothing to wait for. */
		w = rt__self();
		if (w && !w->cur && timers.h[w->id].running == t)
			return false;
		wait_not_running(t);
		return false;
	default:
		rt__spin_unlock(&h->lock);
		return false;
	}
}

/* ------------------------------------------------------------------
 * Firing (g0)
 * ---------------------------------------------------------------- */

/* The time is read under the heap's lock, so that when two workers
 * fire one heap, the times timers see follow the order they fire in. */
static bool run_heap(struct rt__timers *mine, struct rt__timers *h,
		     int64_t now)
{
	bool fired = false;

	if (atomic_load(&h->next) > now)
		return false;
	rt__spin_lock(&h->lock);
	while (h->n && h->a[0]->when <= (now = sys_now_ns())) {
		struct rt__timer *t = h->a[0];

		heap_remove(h, t);
		atomic_store_explicit(&t->state, RT__TIMER_RUNNING,
				      memory_order_relaxed);
		mine->running = t;
		rt__spin_unlock(&h->lock);

		t->f(t, t->arg, now);
		fired = true;

		rt__spin_lock(&h->lock);
		mine->running = NULL;
		if (t->period > 0 && !t->stopped && heap_reserve(h)) {
			/* The next tick after now; ticks missed are dropped,
			 * as Go's tickers do. */
			t->when += t->period * (1 + (now - t->when) / t->period);
			atomic_store_explicit(&t->state, RT__TIMER_WAITING,
					      memory_order_release);
			heap_push(h, t);
		} else {
			/* The last write to t: rt__timer_stop waits for it. */
			atomic_store_explicit(&t->state, RT__TIMER_IDLE,
					      memory_order_release);
		}
	}
	rt__spin_unlock(&h->lock);
	return fired;
}

bool rt__timers_run(struct rt_worker *w, bool all)
{
	struct rt__timers *mine;
	bool fired = false;
	int64_t now;
	unsigned i;

	if (!timers.h)
		return false;
	mine = &timers.h[w->id];
	if (!all && atomic_load_explicit(&mine->next, memory_order_relaxed) ==
		    INT64_MAX)
		return false;
	now = sys_now_ns();
	fired = run_heap(mine, mine, now);
	if (all)
		for (i = 1; i < timers.n; i++)
			fired |= run_heap(mine,
					  &timers.h[(w->id + i) % timers.n], now);
	return fired;
}

bool rt__timers_due(struct rt_worker *w)
{
	int64_t next;

	if (!timers.h)
		return false;
	next = atomic_load_explicit(&timers.h[w->id].next,
				    memory_order_relaxed);
	return next != INT64_MAX && rt__now() >= next;
}

static int64_t earliest(void)
{
	int64_t e = INT64_MAX;
	unsigned i;

	for (i = 0; i < timers.n; i++) {
		int64_t n = atomic_load(&timers.h[i].next);

		if (n < e)
			e = n;
	}
	return e;
}

int64_t rt__timers_sleep(struct rt_worker *w, int64_t timeout_ns)
{
	int64_t e, now;

	if (!timers.h)
		return timeout_ns;
	e = earliest();
	now = sys_now_ns();
	if (e != INT64_MAX) {
		int64_t t = e > now ? e - now : 0;

		if (timeout_ns < 0 || t < timeout_ns)
			timeout_ns = t;
	}
	atomic_store(&timers.h[w->id].sleep_until,
		     timeout_ns < 0 ? INT64_MAX : now + timeout_ns);
	return timeout_ns;
}

bool rt__timers_sooner(struct rt_worker *w)
{
	if (!timers.h)
		return false;
	return earliest() < atomic_load(&timers.h[w->id].sleep_until);
}

void rt__timers_awake(struct rt_worker *w)
{
	if (timers.h)
		atomic_store_explicit(&timers.h[w->id].sleep_until, INT64_MAX,
				      memory_order_relaxed);
}

int rt__timers_setup(unsigned nworkers)
{
	unsigned i;

	if (posix_memalign((void **)&timers.h, 64,
			   nworkers * sizeof(*timers.h))) {
		timers.h = NULL;
		return -ENOMEM;
	}
	for (i = 0; i < nworkers; i++) {
		struct rt__timers *h = &timers.h[i];

		atomic_store(&h->lock.v, 0);
		h->n = h->cap = 0;
		h->a = NULL;
		h->running = NULL;
		atomic_store(&h->next, INT64_MAX);
		atomic_store(&h->sleep_until, INT64_MAX);
	}
	timers.n = nworkers;
	return 0;
}

void rt__timers_teardown(void)
{
	unsigned i;

	/* Timers still armed belong to abandoned tasks: forget them. */
	for (i = 0; i < timers.n; i++)
		free(timers.h[i].a);
	free(timers.h);
	timers.h = NULL;
	timers.n = 0;
}

/* ------------------------------------------------------------------
 * rt_sleep
 * ---------------------------------------------------------------- */

static void sleep_fire(struct rt__timer *t, void *task, int64_t now)
{
	rt__unpark(task);
}

static bool sleep_unlock(void *t)
{
	rt__timer_unlock(t);
	return true;
}

int rt_sleep_until(int64_t deadline)
{
	struct rt__timer t = { .f = sleep_fire };
	int r;

	rt__need_task("rt_sleep");
	if (deadline <= rt__now())
		return 0;
	t.arg = rt__current();
	r = rt__timer_start(&t, deadline, 0, true);
	if (r < 0)
		return r;
	/* The heap stays locked until we are parked: the timer cannot
	 * fire (and unpark us) before. */
	rt__park(sleep_unlock, &t);
	/* Fired: wait until the firing worker is done with t. */
	rt__timer_stop(&t);
	return 0;
}

int rt_sleep(int64_t ns)
{
	if (ns <= 0) {
		rt__need_task("rt_sleep");
		return 0;
	}
	return rt_sleep_until(rt__now() + ns);
}

/* ------------------------------------------------------------------
 * Timers and tickers with a channel; timers that spawn a task
 * ---------------------------------------------------------------- */

struct rt_timer {
	struct rt__timer t;
	struct rt_chan *c;          /* NULL for rt_timer_func */
	void (*fn)(void *);
	void *arg;
};

/* Like Go's sendTime: never blocks; a tick nobody took is dropped. */
static void chan_fire(struct rt__timer *t, void *arg, int64_t now)
{
	struct rt_timer *tm = arg;

	rt_chan_try_send(tm->c, &now);
}

static void func_fire(struct rt__timer *t, void *arg, int64_t now)
{
	struct rt_timer *tm = arg;

	if (rt_go(tm->fn, tm->arg) < 0)
		rt__panic("rt_timer_func: no memory for the timer's task");
}

static struct rt_timer *timer_new(const char *name, int64_t first,
				  int64_t period, void (*fn)(void *),
				  void *arg)
{
	struct rt_timer *tm;

	if (!rt__self())
		rt__panic("%s: called outside the runtime's tasks", name);
	tm = rt__calloc(sizeof(*tm));
	if (!tm)
		return NULL;
	tm->t.arg = tm;
	/* Everything the callback reads is written before the timer is
	 * armed (the heap lock orders it before the firing). */
	tm->fn = fn;
	tm->arg = arg;
	if (!fn) {
		tm->c = rt_chan_new(sizeof(int64_t), 1);
		if (!tm->c) {
			rt__free(tm);
			return NULL;
		}
		tm->t.f = chan_fire;
	} else {
		tm->t.f = func_fire;
	}
	if (rt__timer_start(&tm->t, rt__now() + first, period, false) < 0) {
		if (tm->c)
			rt_chan_free(tm->c);
		rt__free(tm);
		return NULL;
	}
	return tm;
}

struct rt_timer *rt_timer_new(int64_t ns)
{
	return timer_new("rt_timer_new", ns, 0, NULL, NULL);
}

struct rt_timer *rt_timer_func(int64_t ns, void (*fn)(void *), void *arg)
{
	if (!fn)
		rt__panic("rt_timer_func: fn is NULL");
	return timer_new("rt_timer_func", ns, 0, fn, arg);
}

struct rt_timer *rt_ticker_new(int64_t period)
{
	if (period <= 0)
		rt__panic("rt_ticker_new: non-positive period %lld",
			  (long long)period);
	return timer_new("rt_ticker_new", period, period, NULL, NULL);
}

struct rt_chan *rt_timer_chan(struct rt_timer *tm)
{
	return tm->c;
}

static void drain(struct rt_timer *tm)
{
	int64_t v;
	bool ok;

	if (tm->c)
		rt_chan_try_recv(tm->c, &v, &ok);
}

bool rt_timer_stop(struct rt_timer *tm)
{
	bool was = rt__timer_stop(&tm->t);

	drain(tm);
	return was;
}

static bool rearm(struct rt_timer *tm, int64_t first, int64_t period,
		  const char *name)
{
	bool was = rt__timer_stop(&tm->t);

	drain(tm);
	if (rt__timer_start(&tm->t, rt__now() + first, period, false) < 0)
		rt__panic("%s: out of memory", name);
	return was;
}

bool rt_timer_reset(struct rt_timer *tm, int64_t ns)
{
	if (!rt__self())
		rt__panic("rt_timer_reset: called outside the runtime's tasks");
	return rearm(tm, ns, tm->t.period, "rt_timer_reset");
}

void rt_ticker_reset(struct rt_timer *tm, int64_t period)
{
	if (period <= 0)
		rt__panic("rt_ticker_reset: non-positive period %lld",
			  (long long)period);
	if (!rt__self())
		rt__panic("rt_ticker_reset: called outside the runtime's "
			  "tasks");
	rearm(tm, period, period, "rt_ticker_reset");
}

void rt_timer_free(struct rt_timer *tm)
{
	if (!tm)
		return;
	rt__timer_stop(&tm->t);
	if (tm->c)
		rt_chan_free(tm->c);
	rt__free(tm);
}

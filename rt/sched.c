/*
 * The rt/ scheduler: tasks on M:N workers, with work stealing.
 *
 * Workers. rt_main starts cfg.workers sys_threads (one per online CPU by
 * default, pinned), each with its own sigaltstack. A worker's thread
 * runs its scheduler loop (worker_main), "g0" in Go's terms, on the
 * thread's own stack; g0 picks a task and switches to it.
 *
 * Switching. Tasks switch to each other directly: a task that yields,
 * parks or ends takes the next task from its worker's queue itself and
 * switches straight to it — one switch per hand-off. Only when there is
 * nothing local to run does it switch to g0, which steals, spins and
 * sleeps. The task that switched away is finished by whoever resumes
 * next (rt__finish_switch): queued (yield), published as parked (park),
 * or freed (exit) — only then is its context fully saved, and only then
 * may another worker see it.
 *
 * Run queues (Go's runq, proc.go). Each worker has a bounded ring of
 * RT_RUNQ_SIZE tasks: the owner puts at tail (a release store: no
 * atomic read-modify-write) and takes at head (CAS, since thieves take
 * at head too); a thief grabs half of a victim's queue in one CAS. When
 * the ring is full, the owner moves half of it to the global queue. The
 * global queue (a list under gq_lock) takes tasks spawned from outside
 * the workers and overflow; a worker looks at it every 61st schedule so
 * that it cannot starve.
 *
 * Spawning. New tasks go onto the spawner's ring; when it is full the
 * spawner gives way (spawn_give_way) instead of spilling half the ring
 * to the global queue, so a spawning loop runs its tasks while they are
 * still in the cache and memory stays bounded by the queues.
 *
 * Trimming. A task parked with extra stack segments it does not use is
 * noted by its worker; after RT_TRIM_AFTER_NS its segments are unmapped
 * (trim_parked).
 *
 * Idle workers. A worker with no work becomes "spinning": it tries to
 * steal for up to SPIN_NS, then sleeps on its own futex word. Waking is
 * rationed (Go's wakep): new work wakes an idle worker only when no
 * worker is spinning already, and the woken worker starts as the one
 * spinner; when a spinner finds work it stops spinning and, if it was
 * the last one, wakes one more. So at most one idle worker is being
 * woken at any moment — a cross-CPU wake costs 20-27 us on this VM.
 * A worker puts itself on the idle list and then looks at every queue
 * once more (with a full fence between), so work queued before the last
 * look is never slept through; work a task queues on its own worker
 * needs no wake at all to be run eventually.
 *
 * Timers (timer.c, docs/time.md) fire on g0 only, never in a task (a
 * parking task may hold a lock a timer's callback needs): the loop fires
 * its worker's due timers, and every worker's before it sleeps, with the
 * futex timeout set by the earliest timer; next_local sends a task that
 * switches away to g0 when its worker's heap has a timer due, and so
 * does rt_yield. Each hook is marked "timer.c".
 *
 * Shared state and its protection:
 *   sched.gq[k]         its lock (leaf spinlock); its len and sched.gq_len
 *                       (the total) also read without it
 *                       without it as a hint
 *   sched.idle, w->idle, w->idle_next
 *                       idle_lock (leaf spinlock)
 *   sched.nidle, nspinning, done
 *                       atomics
 *   w->head, w->tail, w->runq[]
 *                       lock-free as described above
 *   w->trim[]           its worker only; the tasks named there are
 *                       locked for trimming by a CAS PARKED -> PARKING
 *   t->state            atomic; RUNNABLE -> RUNNING by the worker that
 *                       took the task from a queue, PARKED -> RUNNABLE by
 *                       CAS in rt__unpark; other transitions by the owner
 *   everything else in struct rt_worker: its own thread only
 * The spinlocks are leaves and never nest (internal.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "internal.h"
#include "vocab.h"          /* the timer hooks (timer.c) */
#include "numa/topo.h"

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define RT_HAVE_VALGRIND 1
#endif
#endif

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define SPIN_NS     (30 * 1000)  /* an idle worker steals this long first */
#define GQ_TICK     61           /* look at the global queue first every.. */
#define WORKER_STACK (1u << 20)  /* g0 and rt_call_on_worker_stack */

_Static_assert(offsetof(struct rt__ctx, sp) == RT_CTX_SP, "ctx");
_Static_assert(offsetof(struct rt__ctx, guard) == RT_CTX_GUARD, "ctx");
_Static_assert(offsetof(struct rt__ctx, segments) == RT_CTX_SEGMENTS, "ctx");
_Static_assert(offsetof(struct rt__ctx, cur_segment) == RT_CTX_CURSEG, "ctx");
_Static_assert(offsetof(struct rt__ctx, initial_sp) == RT_CTX_INITIAL_SP,
	       "ctx");
_Static_assert(offsetof(struct rt__ctx, initial_len) == RT_CTX_INITIAL_LEN,
	       "ctx");
_Static_assert(offsetof(struct rt__ctx, err) == RT_CTX_ERRNO, "ctx");
_Static_assert(sizeof(struct rt__ctx) == RT_CTX_SIZE, "ctx");
_Static_assert(sizeof(struct rt_task) == 128, "task record size");
_Static_assert(offsetof(struct rt_task, id) + 16 <= sizeof(struct rt_task),
	       "room for the pool's batch header");
_Static_assert((RT_RUNQ_SIZE & (RT_RUNQ_SIZE - 1)) == 0, "runq size");

/* libgcc: whether __morestack blocks signals (per thread). */
extern void __splitstack_block_signals(int *new_value, int *old_value);

__thread struct rt_worker *rt__tls_worker
	__attribute__((tls_model("initial-exec")));
long rt__errno_tpoff;
struct rt__pool rt__task_pool;

struct rt__gq {
	struct rt__spinlock lock;       /* protects head, tail, len writes */
	struct rt_task *head, *tail;
	_Atomic uint32_t len;
} __attribute__((aligned(64)));

static struct {
	struct rt__cfg cfg;
	unsigned nworkers;
	struct rt_worker *workers;
	_Atomic bool active;            /* an rt_main call is in progress */
	_Atomic bool running;           /* its workers accept tasks */
	_Atomic uint32_t done;          /* the main task has ended */

	/* The global queue, one per node of the plan: a worker queues on
	 * its own node's and takes from it first, then from the nearest
	 * other nodes (node_order). gq_len is the total, for quick looks. */
	struct rt__gq *gq;              /* nnodes entries */
	unsigned nnodes;
	const int *node_order;          /* nnodes x nnodes, nearest first */
	_Atomic uint32_t gq_len;
	_Atomic uint32_t gq_rr;         /* node for tasks queued off-worker */

	/* Where workers run (numa/): set up by rt_main, read-only while
	 * the runtime runs. */
	struct topo_plan plan;
	int *orders;                    /* steal orders, then node orders */

	struct rt__spinlock idle_lock;
	struct rt_worker *idle;
	_Atomic uint32_t nidle;
	_Atomic uint32_t nspinning;

	_Atomic uint64_t outside_ids;   /* ids of tasks spawned off-worker */
	_Atomic unsigned started;       /* workers spawned so far */

	/* The last run's counters, for rt_stats after rt_main. */
	struct rt_worker_stats *last;
	unsigned nlast;
	enum rt_stack_kind last_kind;
} sched;

/* ------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------- */

void rt__panic(const char *fmt, ...)
{
	char buf[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sys_panic("%s", buf);
}

struct rt_task *rt__current(void)
{
	struct rt_worker *w = rt__self();

	return w ? w->cur : NULL;
}

RT__ON_WORKER_STACK static void *errno_tpoff_on_worker(void *unused)
{
	rt__errno_tpoff = (char *)&errno - (char *)sys_arch_thread_pointer();
	return NULL;
}

RT__ON_WORKER_STACK static void *now_on_worker(void *out)
{
	*(int64_t *)out = sys_now_ns();
	return NULL;
}

/* The time, from task code (the vDSO is not split-stack code). */
static int64_t now_ns(void)
{
	int64_t t;

	rt_call_on_worker_stack(now_on_worker, &t);
	return t;
}

/* Wake worker v, asleep in its ring (io.c) or on its futex word. */
RT__ON_WORKER_STACK static void *wake_worker_on_worker(void *arg)
{
	struct rt_worker *v = arg;

	if (!rt__io_wake(v))
		sys_futex_wake(&v->sleep_word, 1);
	return NULL;
}

/* ------------------------------------------------------------------
 * Global queue
 * ---------------------------------------------------------------- */

/* The global queue part a task goes to: the worker's node's, or, from
 * off the workers, each node's in turn. */
static struct rt__gq *gq_of(struct rt_worker *w)
{
	if (w)
		return &sched.gq[w->node];
	return &sched.gq[atomic_fetch_add_explicit(&sched.gq_rr, 1,
						   memory_order_relaxed) %
			 sched.nnodes];
}

static void gq_put(struct rt__gq *q, struct rt_task *first,
		   struct rt_task *last, uint32_t n)
{
	last->next = NULL;
	rt__spin_lock(&q->lock);
	if (q->tail)
		q->tail->next = first;
	else
		q->head = first;
	q->tail = last;
	atomic_store_explicit(&q->len, q->len + n, memory_order_relaxed);
	atomic_fetch_add_explicit(&sched.gq_len, n, memory_order_relaxed);
	rt__spin_unlock(&q->lock);
}

static inline void runq_put(struct rt_worker *w, struct rt_task *t);

/* Take a fair share of one node's global queue (at most `max` if
 * max > 0): return one, put the rest on w's run queue. */
static struct rt_task *gq_take(struct rt_worker *w, struct rt__gq *q,
			       uint32_t max)
{
	struct rt_task *t, *rest;
	uint32_t n, m;

	rt__spin_lock(&q->lock);
	n = atomic_load_explicit(&q->len, memory_order_relaxed);
	if (!n) {
		rt__spin_unlock(&q->lock);
		return NULL;
	}
	m = n / sched.nworkers + 1;
	if (m > n)
		m = n;
	if (max && m > max)
		m = max;
	if (m > RT_RUNQ_SIZE / 2)
		m = RT_RUNQ_SIZE / 2;
	t = q->head;
	rest = t->next;
	{
		struct rt_task *last = t;
		uint32_t i;

		for (i = 1; i < m; i++)
			last = last->next;
		q->head = last->next;
		if (!q->head)
			q->tail = NULL;
		last->next = NULL;
	}
	atomic_store_explicit(&q->len, n - m, memory_order_relaxed);
	atomic_fetch_sub_explicit(&sched.gq_len, m, memory_order_relaxed);
	rt__spin_unlock(&q->lock);
	if (m == 1)
		rest = NULL;
	/* Outside the lock: runq_put may take it again when w's ring is
	 * full. */
	while (rest) {
		struct rt_task *next = rest->next;

		runq_put(w, rest);
		rest = next;
	}
	RT__STAT_ADD(w, global_gets, m);
	return t;
}

/* From the global queue: w's own node's part first, then the nearest. */
static struct rt_task *gq_get(struct rt_worker *w, uint32_t max)
{
	const int *order = &sched.node_order[w->node * sched.nnodes];

	for (unsigned k = 0; k < sched.nnodes; k++) {
		struct rt__gq *q = &sched.gq[order[k]];
		struct rt_task *t;

		if (!atomic_load_explicit(&q->len, memory_order_relaxed))
			continue;
		t = gq_take(w, q, max);
		if (t)
			return t;
	}
	return NULL;
}

/* ------------------------------------------------------------------
 * Local run queues (Go's runqput/runqget/runqgrab/runqsteal)
 * ---------------------------------------------------------------- */

/* The ring is full: move half of it, and t, to the global queue.
 * false when a thief moved head meanwhile (then try the ring again). */
static __attribute__((noinline))
bool runq_put_slow(struct rt_worker *w, struct rt_task *t, uint32_t h,
		   uint32_t tl)
{
	uint32_t n = (tl - h) / 2, i;
	struct rt_task *first, *last;

	/* Claim the n oldest first: only the owner writes slots, so after
	 * the CAS they cannot change under us. */
	if (!atomic_compare_exchange_strong_explicit(&w->head, &h, h + n,
						     memory_order_acq_rel,
						     memory_order_relaxed))
		return false;
	first = last = atomic_load_explicit(&w->runq[h % RT_RUNQ_SIZE],
					    memory_order_relaxed);
	for (i = 1; i < n; i++) {
		struct rt_task *x = atomic_load_explicit(
			&w->runq[(h + i) % RT_RUNQ_SIZE], memory_order_relaxed);

		last->next = x;
		last = x;
	}
	last->next = t;
	gq_put(gq_of(w), first, t, n + 1);
	return true;
}

static inline __attribute__((always_inline))
void runq_put(struct rt_worker *w, struct rt_task *t)
{
	uint32_t h, tl;

	for (;;) {
		h = atomic_load_explicit(&w->head, memory_order_acquire);
		tl = atomic_load_explicit(&w->tail, memory_order_relaxed);
		if (tl - h < RT_RUNQ_SIZE) {
			atomic_store_explicit(&w->runq[tl % RT_RUNQ_SIZE], t,
					      memory_order_relaxed);
			/* Publishes the slot and everything written to the
			 * task before (its saved context). */
			atomic_store_explicit(&w->tail, tl + 1,
					      memory_order_release);
			return;
		}
		if (runq_put_slow(w, t, h, tl))
			return;
	}
}

static inline __attribute__((always_inline))
struct rt_task *runq_get(struct rt_worker *w)
{
	uint32_t h = atomic_load_explicit(&w->head, memory_order_acquire);

	for (;;) {
		uint32_t tl = atomic_load_explicit(&w->tail,
						   memory_order_relaxed);
		struct rt_task *t;

		if (tl == h)
			return NULL;
		t = atomic_load_explicit(&w->runq[h % RT_RUNQ_SIZE],
					 memory_order_relaxed);
		if (atomic_compare_exchange_weak_explicit(
			    &w->head, &h, h + 1, memory_order_acq_rel,
			    memory_order_acquire))
			return t;
	}
}

/* Copy half of v's queue into w's ring from slot `at` on; the count. */
static uint32_t runq_grab(struct rt_worker *v, struct rt_worker *w,
			  uint32_t at)
{
	for (;;) {
		uint32_t h = atomic_load_explicit(&v->head,
						  memory_order_acquire);
		uint32_t tl = atomic_load_explicit(&v->tail,
						   memory_order_acquire);
		uint32_t n = tl - h, i;

		n -= n / 2;
		if (n == 0)
			return 0;
		if (n > RT_RUNQ_SIZE / 2)
			continue;       /* read h and tl at different times */
		for (i = 0; i < n; i++) {
			struct rt_task *t = atomic_load_explicit(
				&v->runq[(h + i) % RT_RUNQ_SIZE],
				memory_order_relaxed);

			atomic_store_explicit(&w->runq[(at + i) % RT_RUNQ_SIZE],
					      t, memory_order_relaxed);
		}
		/* The CAS says the slots we copied were still v's to give. */
		if (atomic_compare_exchange_strong_explicit(
			    &v->head, &h, h + n, memory_order_acq_rel,
			    memory_order_relaxed))
			return n;
	}
}

/* Steal half of v's queue into w's (which is empty); return one. */
static struct rt_task *runq_steal(struct rt_worker *w, struct rt_worker *v)
{
	uint32_t tl = atomic_load_explicit(&w->tail, memory_order_relaxed);
	uint32_t n = runq_grab(v, w, tl);
	struct rt_task *t;

	if (n == 0)
		return NULL;
	RT__STAT_INC(w, steals);
	RT__STAT_ADD(w, stolen, n);
	n--;
	t = atomic_load_explicit(&w->runq[(tl + n) % RT_RUNQ_SIZE],
				 memory_order_relaxed);
	if (n)
		atomic_store_explicit(&w->tail, tl + n, memory_order_release);
	return t;
}

static bool runq_empty(struct rt_worker *w)
{
	return atomic_load_explicit(&w->head, memory_order_acquire) ==
	       atomic_load_explicit(&w->tail, memory_order_acquire);
}

/* One pass over the other workers in w's steal order: its own node's
 * workers first, then the nearest other nodes' (numa/'s plan; within a
 * group the order starts after w, so idle workers do not all raid the
 * same victim first). */
static struct rt_task *steal_round(struct rt_worker *w)
{
	unsigned n = sched.nworkers, i;

	for (i = 0; i + 1 < n; i++) {
		struct rt_worker *v = &sched.workers[w->steal_order[i]];
		struct rt_task *t;

		if (runq_empty(v))
			continue;
		t = runq_steal(w, v);
		if (t)
			return t;
	}
	return NULL;
}

static bool work_anywhere(void)
{
	unsigned i;

	if (atomic_load_explicit(&sched.gq_len, memory_order_relaxed))
		return true;
	for (i = 0; i < sched.nworkers; i++)
		if (!runq_empty(&sched.workers[i]))
			return true;
	return false;
}

/*
 * Give back the extra stack segments of tasks that have been parked here
 * for RT_TRIM_AFTER_NS without using them (a task that grew, returned,
 * and now waits). Not at once when they park: a task that grows and
 * parks in a loop would map and unmap a segment every time round.
 * While trimming, the task's state is PARKING, which rt__unpark waits
 * out. A slot may name a record that has since been unparked, ended and
 * reused: the CAS from PARKED fails then, or the record is parked again
 * and trimming what it does not use is still right.
 *
 * The slots are a ring in the order the tasks parked, so the ones due
 * are at its head. When it is full, the oldest is trimmed at once to make
 * room (note_parked): with more than RT_TRIM_SLOTS grown tasks parking
 * within RT_TRIM_AFTER_NS on one worker, memory given back early is the
 * lesser evil against memory never given back.
 */
static void trim_one(struct rt_worker *w, struct rt_task *t)
{
	uint32_t s = RT_TASK_PARKED;

	if (atomic_compare_exchange_strong_explicit(
		    &t->state, &s, RT_TASK_PARKING,
		    memory_order_acquire, memory_order_relaxed)) {
		rt__stack_trim(w, t);
		atomic_store_explicit(&t->state, RT_TASK_PARKED,
				      memory_order_release);
	}
}

static void trim_pop(struct rt_worker *w)
{
	trim_one(w, w->trim[w->trim_head].t);
	w->trim_head = (w->trim_head + 1) % RT_TRIM_SLOTS;
	w->ntrim--;
}

static __attribute__((noinline)) void trim_parked(struct rt_worker *w)
{
	int64_t now = now_ns();

	while (w->ntrim &&
	       now - w->trim[w->trim_head].since >= RT_TRIM_AFTER_NS)
		trim_pop(w);
}

/* `t`, which has extra segments, parks now: watch it for trimming. */
static __attribute__((noinline)) void note_parked(struct rt_worker *w,
						  struct rt_task *t)
{
	unsigned slot;

	if (w->ntrim == RT_TRIM_SLOTS)
		trim_pop(w);
	slot = (w->trim_head + w->ntrim) % RT_TRIM_SLOTS;
	w->trim[slot].t = t;
	w->trim[slot].since = now_ns();
	w->ntrim++;
}

/* What a worker runs next without stealing or sleeping. */
static inline struct rt_task *next_local(struct rt_worker *w)
{
	struct rt_task *t;

	if (unlikely(--w->tick == 0)) {
		w->tick = GQ_TICK;
		if (w->ntrim)
			trim_parked(w);
		/* Timers (timer.c): a task switching away goes through g0,
		 * which fires them, when one is due. Not here: the task may
		 * hold the lock a timer's callback needs. */
		if (w->cur && rt__timers_due(w))
			return NULL;
		/* The same for the ring (io.c): only g0 submits and reaps. */
		if (w->cur && rt__io_due(w))
			return NULL;
		if (atomic_load_explicit(&sched.gq_len, memory_order_relaxed)) {
			t = gq_get(w, 1);
			if (t)
				return t;
		}
	}
	t = runq_get(w);
	if (likely(t != NULL))
		return t;
	if (atomic_load_explicit(&sched.gq_len, memory_order_relaxed))
		return gq_get(w, 0);
	return NULL;
}

/* ------------------------------------------------------------------
 * Idle workers: spinning, sleeping, waking
 * ---------------------------------------------------------------- */

/* Wake one idle worker if nobody spins already (Go's wakep). */
static void wakep(struct rt_worker *self)
{
	struct rt_worker *v;
	uint32_t zero = 0;

	if (!atomic_load_explicit(&sched.nidle, memory_order_relaxed))
		return;
	if (!atomic_compare_exchange_strong(&sched.nspinning, &zero, 1))
		return;
	rt__spin_lock(&sched.idle_lock);
	v = sched.idle;
	if (v) {
		sched.idle = v->idle_next;
		v->idle = false;
		atomic_fetch_sub(&sched.nidle, 1);
		/* It starts as the spinner we just counted. */
		v->spinning = true;
		atomic_store_explicit(&v->sleep_word, 1, memory_order_release);
	}
	rt__spin_unlock(&sched.idle_lock);
	if (!v) {
		atomic_fetch_sub(&sched.nspinning, 1);
		return;
	}
	if (self)
		RT__STAT_INC(self, wakes);
	rt_call_on_worker_stack(wake_worker_on_worker, v);
}

static void maybe_wakep(struct rt_worker *self)
{
	if (atomic_load_explicit(&sched.nidle, memory_order_relaxed) &&
	    !atomic_load_explicit(&sched.nspinning, memory_order_relaxed))
		wakep(self);
}

static void stop_spinning(struct rt_worker *w)
{
	if (!w->spinning)
		return;
	w->spinning = false;
	/* The last spinner found work: there may be more, so hand the
	 * spinning on (Go's resetspinning). */
	if (atomic_fetch_sub(&sched.nspinning, 1) == 1)
		maybe_wakep(w);
}

/* Take w off the idle list if it is still there (under idle_lock);
 * false when a waker took it off first (its wake is on the way). */
static bool idle_unlist(struct rt_worker *w)
{
	bool listed;

	rt__spin_lock(&sched.idle_lock);
	listed = w->idle;
	if (listed) {
		struct rt_worker **pp = &sched.idle;

		while (*pp != w)
			pp = &(*pp)->idle_next;
		*pp = w->idle_next;
		w->idle = false;
		atomic_fetch_sub(&sched.nidle, 1);
	}
	rt__spin_unlock(&sched.idle_lock);
	return listed;
}

/* Sleep until woken (by wakep or shutdown), unless work shows up, or
 * for at most timeout_ns (< 0: no limit). On return w may be spinning
 * (it was woken to look for work). */
static void idle_sleep(struct rt_worker *w, int64_t timeout_ns)
{
	if (w->spinning) {
		w->spinning = false;
		atomic_fetch_sub(&sched.nspinning, 1);
	}
	rt__spin_lock(&sched.idle_lock);
	atomic_store_explicit(&w->sleep_word, 0, memory_order_relaxed);
	w->idle = true;
	w->idle_next = sched.idle;
	sched.idle = w;
	atomic_fetch_add(&sched.nidle, 1);
	rt__spin_unlock(&sched.idle_lock);

	/* Dekker with the wakers: our nidle increment, then their queue,
	 * against their queue write, then our nidle. */
	atomic_thread_fence(memory_order_seq_cst);
	if ((work_anywhere() || atomic_load(&sched.done) ||
	     rt__timers_sooner(w)) && idle_unlist(w))
		return;
	/* (Not listed any more: a waker took us off; its word is on the
	 * way.) */
	RT__STAT_INC(w, sleeps);
	while (!atomic_load_explicit(&w->sleep_word, memory_order_acquire)) {
		int r;

		/* With a ring, sleep in it: completions wake us directly,
		 * wakers through its eventfd (io.c). */
		if (w->io)
			r = rt__io_wait(w, timeout_ns);
		else
			r = sys_futex_wait(&w->sleep_word, 0, timeout_ns);
		if (r == -ETIMEDOUT || (w->io && rt__io_due(w))) {
			if (idle_unlist(w))
				return;
			timeout_ns = -1;        /* a wake is on its way */
		}
	}
}

/* g0: the next task for w, or NULL when the runtime ends. */
static struct rt_task *find_runnable(struct rt_worker *w)
{
	struct rt_task *t;
	int64_t deadline;
	unsigned i;

	for (;;) {
		if (atomic_load_explicit(&sched.done, memory_order_acquire))
			return NULL;
		rt__timers_run(w, false);       /* timer.c */
		/* io.c: reap; submit now only with other work to run first
		 * (else the idle wait submits and sleeps in one enter). */
		rt__io_poll(w, !runq_empty(w) ||
			    atomic_load_explicit(&sched.gq_len,
						 memory_order_relaxed));
		t = next_local(w);
		if (t)
			goto found;
		/* Waiting for I/O of its own (io.c): one look at the other
		 * workers, then sleep in the ring. A completion wakes the
		 * worker there; spinning until it comes would burn CPU on
		 * every round trip (measured: 10% of the rt sender's CPU at
		 * concurrency 2, for a 2 us spin per park). */
		if (!w->spinning && rt__io_busy(w)) {
			t = steal_round(w);
			if (t)
				goto found;
			goto sleep;
		}
		/* Spin: at most half the busy workers at once (Go's rule),
		 * so that a burst of idleness doesn't burn every CPU. */
		if (!w->spinning) {
			uint32_t busy = sched.nworkers -
				atomic_load(&sched.nidle);

			if (2 * atomic_load(&sched.nspinning) < busy) {
				w->spinning = true;
				atomic_fetch_add(&sched.nspinning, 1);
			}
		}
		if (w->spinning) {
			deadline = sys_now_ns() + SPIN_NS;
			for (i = 0;; i++) {
				t = steal_round(w);
				if (!t && rt__io_ready(w))
					rt__io_poll(w, false);
				if (!t)
					t = next_local(w);
				if (t)
					goto found;
				if (atomic_load_explicit(&sched.done,
							 memory_order_relaxed))
					return NULL;
				if (i % 16 == 15 && sys_now_ns() > deadline)
					break;
				sys_arch_relax();
			}
		}
sleep:
		if (w->ntrim)
			trim_parked(w);
		/* Before sleeping, fire the due timers of every worker
		 * (timer.c); then sleep no later than the next one. */
		if (rt__timers_run(w, true))
			continue;
		/* With tasks to trim later, wake up for them. */
		idle_sleep(w, rt__timers_sleep(w, w->ntrim ? RT_TRIM_AFTER_NS
						     : -1));
		rt__timers_awake(w);
		rt__timers_run(w, true);
	}
found:
	stop_spinning(w);
	return t;
}

/* For timer.c: a new earliest timer wants an idle worker to look. */
void rt__wake_idle(void)
{
	maybe_wakep(rt__self());
}

/* Wake every sleeping worker: the runtime is ending. */
static void wake_all(void)
{
	struct rt_worker *list, *v;

	rt__spin_lock(&sched.idle_lock);
	list = sched.idle;
	sched.idle = NULL;
	for (v = list; v; v = v->idle_next) {
		v->idle = false;
		atomic_fetch_sub(&sched.nidle, 1);
		atomic_store_explicit(&v->sleep_word, 1, memory_order_release);
	}
	rt__spin_unlock(&sched.idle_lock);
	for (v = list; v; v = v->idle_next)
		rt_call_on_worker_stack(wake_worker_on_worker, v);
}

/* ------------------------------------------------------------------
 * Switching
 * ---------------------------------------------------------------- */

static void free_task(struct rt_worker *w, struct rt_task *t)
{
	rt__stack_put(w, t);
	atomic_store_explicit(&t->state, RT_TASK_FREE, memory_order_relaxed);
	rt__pool_put(&rt__task_pool, &w->task_cache, t);
	RT__STAT_INC(w, exited);
}

static __attribute__((noinline)) void finish_switch_slow(struct rt_worker *w)
{
	struct rt_task *prev = w->prev;
	enum rt__after after = w->after;

	w->after = RT_AFTER_NONE;
	switch (after) {
	case RT_AFTER_NONE:
	case RT_AFTER_YIELD:
		break;
	case RT_AFTER_PARK: {
		bool (*unlock)(void *) = w->unlock;

		w->unlock = NULL;
		RT__STAT_INC(w, parks);
		/* Still ours until published: look at its stack now. */
		if (unlikely(rt__stack_has_spare(prev)))
			note_parked(w, prev);
		atomic_store_explicit(&prev->state, RT_TASK_PARKED,
				      memory_order_release);
		if (unlock && !unlock(w->unlock_arg)) {
			uint32_t s = RT_TASK_PARKED;

			/* Called off: resume it, unless a waker was quicker. */
			if (atomic_compare_exchange_strong(&prev->state, &s,
							   RT_TASK_RUNNABLE))
				runq_put(w, prev);
		}
		break;
	}
	case RT_AFTER_YIELD_GLOBAL:
		atomic_store_explicit(&prev->state, RT_TASK_RUNNABLE,
				      memory_order_relaxed);
		gq_put(gq_of(w), prev, prev, 1);
		break;
	case RT_AFTER_EXIT:
		free_task(w, prev);
		break;
	}
}

/* The yield case inline: it is the hot one. */
static inline __attribute__((always_inline))
void finish_switch(struct rt_worker *w)
{
	if (likely(w->after == RT_AFTER_YIELD)) {
		struct rt_task *prev = w->prev;

		w->after = RT_AFTER_NONE;
		atomic_store_explicit(&prev->state, RT_TASK_RUNNABLE,
				      memory_order_relaxed);
		runq_put(w, prev);
	} else if (w->after != RT_AFTER_NONE) {
		finish_switch_slow(w);
	}
}

void rt__finish_switch(struct rt_worker *w)
{
	finish_switch(w);
}

/* A task's first run: give it a stack. */
static __attribute__((noinline)) void first_run(struct rt_worker *w,
						struct rt_task *t)
{
	if (rt__stack_get(w, t) < 0)
		rt__panic("rt: out of memory for a task stack");
	RT__STAT_INC(w, tasks_run);
}

/* Make t the running task of w (it has been taken from a queue). */
static inline __attribute__((always_inline))
void prepare_run(struct rt_worker *w, struct rt_task *t)
{
	if (unlikely(!t->stack))
		first_run(w, t);
	atomic_store_explicit(&t->state, RT_TASK_RUNNING, memory_order_relaxed);
	RT__STAT_INC(w, switches);
	w->cur = t;
}

/* Switch away from the running task cur of w; `after` says what becomes
 * of it. Returns (for yield and park) when cur runs again. */
static inline __attribute__((always_inline))
void switch_away(struct rt_worker *w, struct rt_task *cur,
		 enum rt__after after, struct rt_task *next)
{
	w->prev = cur;
	w->after = after;
	if (likely(next != NULL)) {
		prepare_run(w, next);
		rt__switch(&cur->ctx, &next->ctx);
	} else {
		w->cur = NULL;
		rt__switch(&cur->ctx, &w->g0);
	}
	/* Resumed — perhaps on another worker: `w` is stale. */
	finish_switch(rt__self());
}

static inline struct rt_task *next_for_task(struct rt_worker *w)
{
	if (unlikely(atomic_load_explicit(&sched.done, memory_order_relaxed)))
		return NULL;
	return next_local(w);
}

static __attribute__((noinline, noreturn)) void yield_misuse(
	struct rt_worker *w)
{
	if (!w || !w->cur)
		rt__panic("rt_yield: called outside a task");
	rt__panic("rt_yield: called inside rt_call_on_worker_stack");
}

/* Nothing local to switch to: take some work from a busy worker rather
 * than leave it waiting behind a long task there; NULL: keep running. */
static __attribute__((noinline)) struct rt_task *yield_slow(
	struct rt_worker *w)
{
	if (atomic_load_explicit(&sched.done, memory_order_relaxed))
		return NULL;
	/* next_local also says NULL with a non-empty queue when g0 has
	 * work (a timer due, the ring's); a steal copies into the free
	 * slots of w's queue assuming it is empty, and would overwrite
	 * queued tasks. g0 runs them instead. */
	if (!runq_empty(w))
		return NULL;
	return steal_round(w);
}

void rt_yield(void)
{
	struct rt_worker *w = rt__self();
	struct rt_task *cur, *next;

	if (unlikely(!w || !w->cur || w->on_worker_stack))
		yield_misuse(w);
	cur = w->cur;
	next = next_for_task(w);
	if (unlikely(!next)) {
		next = yield_slow(w);
		/* On shutdown, off to g0 (next == NULL) to end the worker;
		 * also when a timer is due (timer.c): g0 fires it. */
		if (!next && !atomic_load_explicit(&sched.done,
						   memory_order_relaxed) &&
		    !rt__timers_due(w) && !rt__io_due(w))
			return;
	}
	RT__STAT_INC(w, yields);
	switch_away(w, cur, RT_AFTER_YIELD, next);
}

void rt__park(bool (*unlock)(void *arg), void *arg)
{
	struct rt_worker *w = rt__self();
	struct rt_task *cur = w ? w->cur : NULL;

	if (!cur)
		rt__panic("rt__park: called outside a task");
	if (w->on_worker_stack)
		rt__panic("rt__park: called inside rt_call_on_worker_stack");
	atomic_store_explicit(&cur->state, RT_TASK_PARKING,
			      memory_order_relaxed);
	w->unlock = unlock;
	w->unlock_arg = arg;
	switch_away(w, cur, RT_AFTER_PARK, next_for_task(w));
}

void rt__unpark(struct rt_task *t)
{
	struct rt_worker *w = rt__self();
	uint32_t s;

	for (;;) {
		s = atomic_load_explicit(&t->state, memory_order_acquire);
		if (s == RT_TASK_PARKING) {
			/* Still switching away on its worker: a moment. */
			sys_arch_relax();
			continue;
		}
		if (s != RT_TASK_PARKED)
			rt__panic("rt__unpark: task %llu is not parked (%s)",
				  (unsigned long long)t->id,
				  s == RT_TASK_RUNNING ? "running" :
				  s == RT_TASK_RUNNABLE ? "runnable already" :
				  s == RT_TASK_DEAD ? "ended" : "not a task");
		if (atomic_compare_exchange_weak_explicit(
			    &t->state, &s, RT_TASK_RUNNABLE,
			    memory_order_acq_rel, memory_order_relaxed))
			break;
	}
	if (w) {
		RT__STAT_INC(w, unparks);
		runq_put(w, t);
		maybe_wakep(w);
	} else {
		gq_put(gq_of(NULL), t, t, 1);
		atomic_thread_fence(memory_order_seq_cst);
		maybe_wakep(NULL);
	}
}

void rt__unpark_nowake(struct rt_task *t)
{
	struct rt_worker *w = rt__self();
	uint32_t s = RT_TASK_PARKED;

	if (!w) {
		rt__unpark(t);
		return;
	}
	/* Completions are reaped after their task has parked (io.c's wait
	 * records), so no PARKING wait is needed here. */
	if (!atomic_compare_exchange_strong_explicit(
		    &t->state, &s, RT_TASK_RUNNABLE, memory_order_acq_rel,
		    memory_order_relaxed)) {
		rt__unpark(t);          /* waits out PARKING, or stops */
		return;
	}
	RT__STAT_INC(w, unparks);
	runq_put(w, t);
}

/* The end of the run: rt_main's task has returned. */
static void shutdown_begin(void)
{
	atomic_store(&sched.done, 1);
	wake_all();
}

void rt__task_main(struct rt_task *t)
{
	struct rt_worker *w;

	rt__finish_switch(rt__self());
	t->fn(t->arg);
	if (t->flags & RT__TASK_MAIN)
		shutdown_begin();
	w = rt__self();
	atomic_store_explicit(&t->state, RT_TASK_DEAD, memory_order_relaxed);
	switch_away(w, t, RT_AFTER_EXIT, next_for_task(w));
	__builtin_unreachable();
}

/*
 * rt_go found the spawner's run queue full: rather than pile work up
 * (half the queue would go to the global queue, and a spawning loop can
 * produce a million tasks faster than any worker runs them), the spawner
 * gives way. It goes to the global queue, as Go's Gosched does, and the
 * worker runs what is queued, coming back to it within GQ_TICK switches.
 * The tasks it spawned run while their records and stacks are still in
 * the cache, and memory stays bounded by the queues.
 */
static __attribute__((noinline)) void spawn_give_way(struct rt_worker *w,
						     struct rt_task *t)
{
	struct rt_task *cur = w->cur, *next = runq_get(w);

	runq_put(w, t);
	maybe_wakep(w);
	if (!next)              /* thieves emptied it meanwhile */
		return;
	RT__STAT_INC(w, yields);
	switch_away(w, cur, RT_AFTER_YIELD_GLOBAL, next);
}

static inline bool runq_full(struct rt_worker *w)
{
	return atomic_load_explicit(&w->tail, memory_order_relaxed) -
	       atomic_load_explicit(&w->head, memory_order_relaxed) >=
	       RT_RUNQ_SIZE;
}

int rt_go(void (*fn)(void *), void *arg)
{
	struct rt_worker *w = rt__self();
	struct rt__pool_cache tmp = { 0 };
	struct rt_task *t;

	if (!atomic_load_explicit(&sched.running, memory_order_acquire))
		rt__panic("rt_go: no runtime is running (call it from a task "
			  "of rt_main)");
	if (!fn)
		rt__panic("rt_go: fn is NULL");
	t = rt__pool_get(&rt__task_pool, w ? &w->task_cache : &tmp);
	if (!w)
		rt__pool_flush(&rt__task_pool, &tmp);
	if (!t)
		return -ENOMEM;
	t->fn = fn;
	t->arg = arg;
	t->flags = 0;
	t->stack = NULL;
	t->next = NULL;
	atomic_store_explicit(&t->state, RT_TASK_RUNNABLE, memory_order_relaxed);
	if (w) {
		/* Unique, not in order: (per-worker count, worker). */
		t->id = ((w->st.spawned + 1) << 10) | w->id;
		RT__STAT_INC(w, spawned);
		if (unlikely(runq_full(w)) && w->cur && !w->on_worker_stack &&
		    !atomic_load_explicit(&sched.done, memory_order_relaxed)) {
			spawn_give_way(w, t);
			return 0;
		}
		runq_put(w, t);
		maybe_wakep(w);
	} else {
		t->id = (atomic_fetch_add(&sched.outside_ids, 1) + 1) << 10 |
			(RT_WORKERS_MAX - 1);
		gq_put(gq_of(NULL), t, t, 1);
		atomic_thread_fence(memory_order_seq_cst);
		maybe_wakep(NULL);
	}
	return 0;
}

/* ------------------------------------------------------------------
 * Workers
 * ---------------------------------------------------------------- */

static void run_task(struct rt_worker *w, struct rt_task *t)
{
	prepare_run(w, t);
	rt__switch(&w->g0, &t->ctx);
	/* g0 never moves between threads: w is still ours. */
	rt__finish_switch(w);
}

static int altstack_on(struct rt_worker *w)
{
	long min = sysconf(_SC_SIGSTKSZ);
	stack_t ss = { 0 };
	void *p;

	w->altstack_size = 64u << 10;
	if (min > 0 && (size_t)min * 2 > w->altstack_size)
		w->altstack_size = ((size_t)min * 2 + 4095) & ~4095ul;
	p = sys_mmap(NULL, w->altstack_size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (sys_is_error((long)p))
		return (int)(long)p;
	w->altstack = p;
	ss.ss_sp = p;
	ss.ss_size = w->altstack_size;
	if (sigaltstack(&ss, NULL) < 0) {
		sys_munmap(p, w->altstack_size);
		w->altstack = NULL;
		return -EINVAL;
	}
	return 0;
}

static void altstack_off(struct rt_worker *w)
{
	stack_t ss = { .ss_flags = SS_DISABLE };

	if (!w->altstack)
		return;
	sigaltstack(&ss, NULL);
	sys_munmap(w->altstack, w->altstack_size);
	w->altstack = NULL;
}

static void *worker_main(void *arg)
{
	struct rt_worker *w = arg;
	struct rt_task *t;
	int no = 0;

	rt__tls_worker = w;
	w->tid = sys_gettid();
#ifdef RT_HAVE_VALGRIND
	{
		/* The thread's stack as a stack, so that memcheck sees the
		 * moves between it and task stacks as stack switches (and
		 * not as a huge push or pop that marks other memory — our
		 * TLS — unaddressable). sys_thread puts the stack right
		 * below the TLS block; this is the part below us. */
		char *sp = __builtin_frame_address(0);

		w->vg_stack = VALGRIND_STACK_REGISTER(sp - WORKER_STACK + 4096,
						      sp + 64);
	}
	if (RUNNING_ON_VALGRIND) {
		/* sys_threads' mappings lie side by side, and their guard
		 * pages (MADV_GUARD_INSTALL) split no mapping, so valgrind
		 * takes a neighbour's mapping for part of the next thread's
		 * stack and marks it unaddressable when that thread starts
		 * — our TLS and TCB included. Wait for every worker to
		 * exist, then mark ours usable again. */
		char *tp = sys_arch_thread_pointer();

		while (atomic_load(&sched.started) < sched.nworkers &&
		       !atomic_load(&sched.done))
			sys_syscall0(SYS_sched_yield);
		VALGRIND_MAKE_MEM_DEFINED(tp - (16u << 10), 24u << 10);
	}
#endif
	if (altstack_on(w) < 0)
		sys_panic("rt: worker %u: no signal stack", w->id);
	/* Signals need not be blocked while __morestack links a segment:
	 * handlers run on the sigaltstack (and must be no_split_stack), and
	 * blocking costs two system calls per split (1984 ns instead of
	 * 32 ns for a hot split; FINDINGS.md). */
	__splitstack_block_signals(&no, NULL);
	/* The worker's ring, made on its own thread (io.c). */
	rt__io_worker_start(w);

	while ((t = find_runnable(w)) != NULL)
		run_task(w, t);

	rt__io_worker_stop(w);

	if (w->spinning) {
		w->spinning = false;
		atomic_fetch_sub(&sched.nspinning, 1);
	}
	altstack_off(w);
#ifdef RT_HAVE_VALGRIND
	VALGRIND_STACK_DEREGISTER(w->vg_stack);
#endif
	rt__tls_worker = NULL;
	return NULL;
}

/* ------------------------------------------------------------------
 * rt_main and the rest of the public API
 * ---------------------------------------------------------------- */

static void keep_stats(void)
{
	unsigned i;

	free(sched.last);
	sched.last = calloc(sched.nworkers, sizeof(*sched.last));
	sched.nlast = sched.last ? sched.nworkers : 0;
	for (i = 0; i < sched.nlast; i++)
		sched.last[i] = sched.workers[i].st;
	sched.last_kind = sched.cfg.stack;
}

/*
 * Where the workers run: numa/'s topology (THREADLAB_TOPOLOGY may emulate
 * one) and plan under the placement policy, each worker's node, memory
 * node and steal order, each node's order of the others by distance, and
 * one global queue per node. A bad topology or policy is a configuration
 * error: one line on stderr, -EINVAL.
 */
static void unplan(void);

static int plan(struct rt_worker *workers, unsigned n)
{
	struct topo *t = calloc(1, sizeof(*t));
	struct topo_policy pol;
	char err[256];
	unsigned nn, i, k;
	int r;

	if (!t)
		return -ENOMEM;
	r = topo_discover(t, err, sizeof(err));
	if (r == 0)
		r = topo_policy_select(&pol, sched.cfg.placement, err,
				       sizeof(err));
	if (r == 0)
		r = topo_plan_make(&sched.plan, t, (int)n, &pol, err,
				   sizeof(err));
	free(t);
	if (r < 0) {
		if (r == -EINVAL)
			fprintf(stderr, "threadlab: rt_main: %s\n", err);
		return r;
	}
	nn = (unsigned)sched.plan.nnodes;
	sched.orders = calloc((size_t)n * n + (size_t)nn * nn, sizeof(int));
	sched.gq = calloc(nn, sizeof(*sched.gq));
	if (!sched.orders || !sched.gq) {
		unplan();
		return -ENOMEM;
	}
	sched.nnodes = nn;
	for (i = 0; i < n; i++) {
		const struct topo_worker *pw = &sched.plan.worker[i];
		int *order = &sched.orders[(size_t)i * n];

		workers[i].node = (unsigned)pw->node_index;
		workers[i].mem_node = pw->mem_node;
		topo_steal_order(&sched.plan, (int)i, order, (int)n);
		workers[i].steal_order = order;
	}
	/* Node a's order of the nodes: itself, then by distance, ties in
	 * cyclic order after a (as topo_steal_order does for workers). */
	for (unsigned a = 0; a < nn; a++) {
		int *order = &sched.orders[(size_t)n * n + (size_t)a * nn];

		for (k = 0; k < nn; k++)
			order[k] = (int)((a + k) % nn);
		for (k = 1; k < nn; k++) {      /* insertion sort, stable */
			int b = order[k];
			unsigned j = k;

			while (j > 1 && sched.plan.distance[a * nn + order[j - 1]] >
						sched.plan.distance[a * nn + b]) {
				order[j] = order[j - 1];
				j--;
			}
			order[j] = b;
		}
	}
	sched.node_order = &sched.orders[(size_t)n * n];
	atomic_store(&sched.gq_len, 0);
	atomic_store(&sched.gq_rr, 0);
	return 0;
}

static void unplan(void)
{
	topo_plan_free(&sched.plan);
	free(sched.orders);
	free(sched.gq);
	sched.orders = NULL;
	sched.gq = NULL;
	sched.node_order = NULL;
	sched.nnodes = 0;
	atomic_store(&sched.gq_len, 0);
	memset(&sched.plan, 0, sizeof(sched.plan));
}

static void teardown(void)
{
	rt__timers_teardown();
	rt__io_teardown();
	rt__stack_teardown();
	rt__pool_destroy(&rt__task_pool);
	free(sched.workers);
	sched.workers = NULL;
	sched.nworkers = 0;
	unplan();
	sched.idle = NULL;
	atomic_store(&sched.nidle, 0);
	atomic_store(&sched.nspinning, 0);
}

static int start_workers(unsigned *started)
{
	cpu_set_t one;
	unsigned i;
	int r;

	for (i = 0; i < sched.nworkers; i++) {
		struct rt_worker *w = &sched.workers[i];
		struct sys_thread_attr attr = { .stack_size = WORKER_STACK };
		char name[32];

		snprintf(name, sizeof(name), "rt-worker-%u", i);
		attr.name = name;
		if (sched.cfg.pin &&
		    topo_plan_cpuset(&sched.plan, (int)i, &one) == 0)
			attr.cpus = &one;
		r = sys_thread_spawn(&w->thread, &attr, worker_main, w);
		if (r < 0)
			return r;
		*started = i + 1;
		atomic_store(&sched.started, i + 1);
	}
	return 0;
}

int rt_main(const struct rt_config *cfg, void (*fn)(void *), void *arg)
{
	struct rt__pool_cache tmp = { 0 };
	struct rt_task *t;
	unsigned i, started = 0;
	bool no = false;
	int r;

	if (rt__self())
		rt__panic("rt_main: called from inside a runtime");
	if (!fn)
		rt__panic("rt_main: fn is NULL");
	if (!atomic_compare_exchange_strong(&sched.active, &no, true))
		return -EBUSY;

	r = rt__config_resolve(cfg, &sched.cfg);
	if (r < 0)
		goto out_inactive;
	r = sys_thread_check_libc();
	if (r < 0)
		goto out_inactive;
	errno_tpoff_on_worker(NULL);

	r = rt__stack_setup(&sched.cfg);
	if (r < 0)
		goto out_inactive;
	memset(&rt__task_pool, 0, sizeof(rt__task_pool));
	rt__task_pool.name = "tasks";
	rt__task_pool.obj_size = sizeof(struct rt_task);
	rt__task_pool.link_off = offsetof(struct rt_task, next);
	/* id and the padding after it: a free record keeps state FREE. */
	rt__task_pool.hdr_off = offsetof(struct rt_task, id);
	rt__task_pool.slab_size = 64u << 10;
	rt__task_pool.batch = 64;

	sched.nworkers = sched.cfg.workers;
	if (posix_memalign((void **)&sched.workers, 64,
			   sched.nworkers * sizeof(struct rt_worker))) {
		sched.workers = NULL;
		r = -ENOMEM;
		goto out_teardown;
	}
	memset(sched.workers, 0, sched.nworkers * sizeof(struct rt_worker));
	r = plan(sched.workers, sched.nworkers);
	if (r < 0)
		goto out_teardown;
	for (i = 0; i < sched.nworkers; i++) {
		sched.workers[i].id = i;
		sched.workers[i].rand = 0x9e3779b9u * (i + 1);
		sched.workers[i].tick = GQ_TICK;
	}
	r = rt__timers_setup(sched.nworkers);   /* timer.c */
	if (r < 0)
		goto out_teardown;
	r = rt__io_setup(sched.nworkers);       /* io.c */
	if (r < 0)
		goto out_teardown;
	atomic_store(&sched.done, 0);
	atomic_store(&sched.started, 0);

	/* The main task, on the global queue for whichever worker looks
	 * first. */
	t = rt__pool_get(&rt__task_pool, &tmp);
	rt__pool_flush(&rt__task_pool, &tmp);
	if (!t) {
		r = -ENOMEM;
		goto out_teardown;
	}
	t->fn = fn;
	t->arg = arg;
	t->flags = RT__TASK_MAIN;
	t->stack = NULL;
	t->id = 1;
	atomic_store(&t->state, RT_TASK_RUNNABLE);
	gq_put(gq_of(NULL), t, t, 1);

	atomic_store(&sched.running, true);
	r = start_workers(&started);
	if (r < 0) {
		/* The ones that started may be running the main task
		 * already, which cannot be stopped: run with them. */
		if (!started)
			goto out_running;
		atomic_store(&sched.started, sched.nworkers);
		fprintf(stderr, "threadlab: rt_main: started only %u of %u "
			"workers (%s); running with those\n", started,
			sched.nworkers, strerror(-r));
	}
	for (i = 0; i < started; i++)
		sys_thread_join(&sched.workers[i].thread, NULL);
	r = 0;
	keep_stats();
	if (sched.cfg.stats) {
		rt__stats_print(sched.last, sched.nlast, &sched.cfg);
		rt__io_stats_print();           /* io.c */
	}
out_running:
	atomic_store(&sched.running, false);
out_teardown:
	teardown();
out_inactive:
	atomic_store(&sched.active, false);
	return r;
}

bool rt_in_task(void)
{
	return rt__current() != NULL;
}

int rt_worker_id(void)
{
	struct rt_worker *w = rt__self();

	return w ? (int)w->id : -1;
}

unsigned rt_workers(void)
{
	return atomic_load(&sched.running) ? sched.nworkers : 0;
}

uint64_t rt_task_id(void)
{
	struct rt_task *t = rt__current();

	return t ? t->id : 0;
}

enum rt_stack_kind rt_stack_kind(void)
{
	return atomic_load(&sched.running) ? sched.cfg.stack : sched.last_kind;
}

__attribute__((noipa))
void *rt_call_on_worker_stack(void *(*fn)(void *), void *arg)
{
	struct rt_worker *w = rt__self();
	uintptr_t sp;
	void *r;

	if (!w || !w->cur || w->on_worker_stack)
		return fn(arg);
	/* Below g0's saved frame, with room to spare, 16-byte aligned. */
	sp = ((uintptr_t)w->g0.sp - 256) & ~(uintptr_t)15;
#ifdef RT_HAVE_VALGRIND
	/* memcheck marked the stack below g0's frames unaddressable when
	 * they returned; moving %rsp there is a stack switch to it, so it
	 * would not mark it usable again. (A no-op outside valgrind.) */
	VALGRIND_MAKE_MEM_UNDEFINED(sp - (WORKER_STACK / 2), WORKER_STACK / 2);
#endif
	w->on_worker_stack = true;
	RT__STAT_INC(w, worker_stack_calls);
	r = rt__call_on_stack(fn, arg, (void *)sp);
	/* fn cannot switch (rt_yield and rt__park refuse), so w is still
	 * the worker we run on. */
	w->on_worker_stack = false;
	return r;
}

__attribute__((noipa)) int *rt_errno_location(void)
{
	char *tp;

	/* Set by rt_main; the same in every thread (static TLS). */
	if (!rt__errno_tpoff)
		rt_call_on_worker_stack(errno_tpoff_on_worker, NULL);
	__asm__ volatile ("mov %%fs:0, %0" : "=r" (tp));
	return (int *)(tp + rt__errno_tpoff);
}

unsigned rt_stats(struct rt_worker_stats *out, unsigned max)
{
	unsigned i, n;

	if (atomic_load(&sched.running) && sched.workers) {
		n = sched.nworkers;
		for (i = 0; i < n && i < max; i++) {
			uint64_t *dst = (uint64_t *)&out[i];
			_Atomic uint64_t *src =
				(_Atomic uint64_t *)&sched.workers[i].st;
			size_t k;

			for (k = 0; k < sizeof(out[i]) / sizeof(uint64_t); k++)
				dst[k] = atomic_load_explicit(
					&src[k], memory_order_relaxed);
		}
		return n;
	}
	n = sched.nlast;
	for (i = 0; i < n && i < max; i++)
		out[i] = sched.last[i];
	return n;
}

void rt_stats_total(struct rt_worker_stats *out)
{
	struct rt_worker_stats *st = calloc(RT_WORKERS_MAX, sizeof(*st));
	unsigned n = st ? rt_stats(st, RT_WORKERS_MAX) : 0, i;
	size_t k;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < n; i++)
		for (k = 0; k < sizeof(*out) / sizeof(uint64_t); k++)
			((uint64_t *)out)[k] += ((uint64_t *)&st[i])[k];
	free(st);
}

int rt_worker_placement(unsigned i, struct rt_placement *out)
{
	const struct topo_worker *pw;

	if (!atomic_load(&sched.running))
		return -ESRCH;
	if (i >= sched.nworkers)
		return -EINVAL;
	pw = &sched.plan.worker[i];
	out->cpu = pw->cpu;
	out->real_cpu = pw->real_cpu;
	out->node = pw->node;
	out->mem_node = pw->mem_node;
	return 0;
}

int rt_steal_order(unsigned i, int *order, int cap)
{
	unsigned n = sched.nworkers;

	if (!atomic_load(&sched.running))
		return -ESRCH;
	if (i >= n)
		return -EINVAL;
	for (unsigned k = 0; k + 1 < n && (int)k < cap; k++)
		order[k] = sched.workers[i].steal_order[k];
	return (int)n - 1;
}

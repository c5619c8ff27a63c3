/*
 * rt/ internals of Go's concurrency vocabulary (channels, select, sync,
 * timers, contexts), shared between chan.c, sync.c, timer.c, context.c,
 * workpool.c and the few hooks in sched.c. Not installed.
 *
 * Everything that blocks is built on rt__park/rt__unpark (internal.h):
 * a task puts a waiter record — on its own stack — on some wait list
 * under that list's spinlock, then parks passing the unlock; a waker
 * takes the record off the list under the same lock, does the transfer
 * the record describes (a channel element copied straight between the two
 * tasks' stacks), and unparks the task. Go calls such a record a sudog.
 *
 * Invariants every file here relies on:
 *   - A waiter record lives on the stack of the task it names, and is
 *     valid while that task is parked on its behalf: only the waker that
 *     took it off its list (and, for select, won the claim below) may
 *     touch it, and only until it unparks the task.
 *   - A task in select has one waiter per case, on as many lists; they
 *     share one struct rt__sel. Whoever takes one of them off its list
 *     must first win the CAS of sel->done from 0 to 1; a loser drops the
 *     record (it stays off its list) and looks at the next waiter. So a
 *     select is completed exactly once, by a channel operation, a close
 *     or its timeout.
 *   - Timers: a timer is in at most one worker's heap, under that heap's
 *     lock; while its callback runs (state RUNNING) nobody frees it:
 *     rt__timer_stop waits the callback out.
 *   - No vocabulary spinlock is held while a task switches except the
 *     ones released by the unlock callback of rt__park.
 *
 * Lock order (docs/LOCKING.md): channel locks (several only in select,
 * by address) -> a timer heap's lock -> sched.c's and pool.c's leaf
 * locks (global queues, the idle list, the pools), which rt__unpark and
 * the switch of a parking task take. Context locks and the sync
 * objects' locks (struct rt__sema, rt_cond) never nest with another
 * vocabulary lock; sched.c's may be taken under them.
 */
#ifndef THREADLAB_RT_VOCAB_H
#define THREADLAB_RT_VOCAB_H

#include "internal.h"

#define RT__NS_PER_MS 1000000ll

/* ------------------------------------------------------------------
 * Waiters (Go's sudog)
 * ---------------------------------------------------------------- */
struct rt__sel {
	_Atomic uint32_t done;      /* 0 until a waker claims the select */
	int32_t winner;             /* the case, or RT__SEL_TIMEOUT */
};
#define RT__SEL_TIMEOUT (-1)

struct rt__waiter {
	struct rt_task *task;
	struct rt__waiter *next, *prev; /* on a channel's queue */
	void *elem;                 /* send: the value; receive: where it
				     * goes (NULL: dropped) */
	struct rt_chan *c;
	struct rt__sel *sel;        /* NULL: a plain send or receive */
	uint32_t idx;               /* its case, in a select */
	uint8_t queued;             /* on c's queue (under c's lock) */
	uint8_t success;            /* 1: a value moved; 0: a close woke it */
};

/* ------------------------------------------------------------------
 * Timers (timer.c)
 * ---------------------------------------------------------------- */
enum rt__timer_state {
	RT__TIMER_IDLE = 0,         /* in no heap */
	RT__TIMER_WAITING,          /* in t->heap */
	RT__TIMER_RUNNING,          /* its callback runs */
};

struct rt__timers;

/* A timer. f runs on a worker's scheduler context (g0): no lock held,
 * no task to park — it must not block; it may unpark tasks, send to a
 * channel without blocking, spawn tasks. `now` is when it fired. */
struct rt__timer {
	int64_t when;               /* fires at or after this (rt_now ns) */
	int64_t period;             /* > 0: fires again every period */
	void (*f)(struct rt__timer *t, void *arg, int64_t now);
	void *arg;
	struct rt__timers *_Atomic heap; /* the heap it is (or was) in */
	uint32_t idx;               /* its slot there, while WAITING */
	_Atomic uint32_t state;     /* enum rt__timer_state */
	uint32_t stopped;           /* stop asked while RUNNING */
};

/*
 * Arm t (IDLE) to fire at `when` (period > 0: then every period), in the
 * heap of the worker running the caller. With `keep_locked`, return with
 * that heap's lock held: the caller then parks with rt__timer_unlock(t)
 * in its unlock callback, so that t cannot fire before the caller is
 * parked. 0, or -ENOMEM (t not armed, nothing locked).
 */
int rt__timer_start(struct rt__timer *t, int64_t when, int64_t period,
		    bool keep_locked);
void rt__timer_unlock(struct rt__timer *t);
/*
 * Take t out of its heap: true if it was waiting (it will not fire now),
 * false if it had fired or was never armed. If its callback is running,
 * wait until it returns (unless called from that callback), so that t's
 * memory may be reused when this returns.
 */
bool rt__timer_stop(struct rt__timer *t);

/* Hooks for sched.c. */
int rt__timers_setup(unsigned nworkers);
void rt__timers_teardown(void);
/* On g0: run w's due timers, and with `all` every worker's; true if
 * any fired. */
bool rt__timers_run(struct rt_worker *w, bool all);
/* Whether w's own heap has a timer due (cheap when it is empty). */
bool rt__timers_due(struct rt_worker *w);
/* The futex timeout for an idle worker: at most `timeout_ns` (< 0: no
 * limit) and no later than the earliest timer of any heap. Records when
 * w means to wake, for rt__timers_sooner and for timer starts. */
int64_t rt__timers_sleep(struct rt_worker *w, int64_t timeout_ns);
/* After w listed itself idle: a timer earlier than its recorded wake-up
 * appeared meanwhile (then it must not sleep that long). */
bool rt__timers_sooner(struct rt_worker *w);
/* w woke up (or gave up sleeping). */
void rt__timers_awake(struct rt_worker *w);

/* sched.c: wake an idle worker unless one spins already (Go's wakep). */
void rt__wake_idle(void);

/* The time (CLOCK_MONOTONIC ns), from any stack. */
int64_t rt__now(void);

/* Stop the program when called outside a task (name: the public call). */
void rt__need_task(const char *name);

/* ------------------------------------------------------------------
 * Element copies. Task code must not call memcpy/memset: they are libc
 * (not split-stack code), and each call from a split-stack function
 * makes the linker ask for a 1 MiB segment first. These compile to
 * inline moves.
 * ---------------------------------------------------------------- */
/* The general cases, out of line (vocab.c): loops that gcc must not turn
 * back into memcpy/memset calls. */
void rt__copy_slow(void *dst, const void *src, size_t n);
void rt__zero_slow(void *dst, size_t n);

static inline __attribute__((always_inline))
void rt__copy(void *dst, const void *src, size_t n)
{
	switch (n) {
	case 0: return;
	case 1: __builtin_memcpy(dst, src, 1); return;
	case 2: __builtin_memcpy(dst, src, 2); return;
	case 4: __builtin_memcpy(dst, src, 4); return;
	case 8: __builtin_memcpy(dst, src, 8); return;
	case 16: __builtin_memcpy(dst, src, 16); return;
	}
	rt__copy_slow(dst, src, n);
}

static inline __attribute__((always_inline))
void rt__zero(void *dst, size_t n)
{
	switch (n) {
	case 0: return;
	case 4: __builtin_memset(dst, 0, 4); return;
	case 8: __builtin_memset(dst, 0, 8); return;
	}
	rt__zero_slow(dst, n);
}

/* malloc/free for task code: on the worker stack. */
void *rt__malloc(size_t n);
void *rt__calloc(size_t n);
void rt__free(void *p);

#endif

/*
 * Go's sync package for tasks: mutex, rwmutex, wait group, once,
 * counting semaphore, condition variable. Every object is ready when
 * zero-filled.
 *
 * All of them block through one internal semaphore, struct rt__sema
 * (rt.h): a count and a FIFO of parked tasks under a spinlock — Go's
 * runtime semaphore (sema.go) without its address table, since here the
 * queue lives in the object. sema_acquire takes a unit of the count or
 * queues the task (at the back, or at the front for a mutex waiter that
 * has waited before) and parks it, with the spinlock released once it
 * is parked; sema_release gives the unit to the first waiter, or adds it
 * to the count when nobody waits. The count makes a release that comes
 * before the acquire it is meant for (the usual race) harmless.
 *
 * The objects above it are ports of Go's sync/mutex.go, rwmutex.go,
 * waitgroup.go, once.go and the runtime's notifyList (cond), with Go's
 * invariants; see each section.
 *
 * Shared state and its protection:
 *   struct rt__sema: lock protects count and the queue (a leaf spinlock:
 *     nothing else is taken under it but rt__unpark's sched.c locks)
 *   struct rt_cond: lock protects the queue and the ticket compare
 *     (wait/notify are also read without it, atomically)
 *   everything else: atomics, as described per object
 * Lock order: the locks here are leaves above sched.c's
 * (docs/LOCKING.md).
 */
#include <errno.h>

#include "vocab.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* A task waiting in a sema or a cond (on its stack). */
struct sync_waiter {
	struct rt_task *task;
	struct sync_waiter *next;
	uint32_t ticket;            /* cond only */
};

static inline struct rt__spinlock *spin(_Atomic uint32_t *word)
{
	return (struct rt__spinlock *)word;
}

static bool unlock_word(void *word)
{
	rt__spin_unlock(spin(word));
	return true;
}

/* ------------------------------------------------------------------
 * The semaphore
 * ---------------------------------------------------------------- */

static void sema_acquire(struct rt__sema *s, bool lifo, const char *name)
{
	struct sync_waiter me = { 0 };

	rt__spin_lock(spin(&s->lock));
	if (s->count > 0) {
		s->count--;
		rt__spin_unlock(spin(&s->lock));
		return;
	}
	me.task = rt__current();
	if (!me.task) {
		rt__spin_unlock(spin(&s->lock));
		rt__need_task(name);
	}
	if (lifo || !s->head) {
		me.next = s->head;
		s->head = &me;
		if (!s->tail)
			s->tail = &me;
	} else {
		((struct sync_waiter *)s->tail)->next = &me;
		s->tail = &me;
	}
	rt__park(unlock_word, &s->lock);
}

static bool sema_try_acquire(struct rt__sema *s)
{
	bool got = false;

	rt__spin_lock(spin(&s->lock));
	if (s->count > 0) {
		s->count--;
		got = true;
	}
	rt__spin_unlock(spin(&s->lock));
	return got;
}

static void sema_release(struct rt__sema *s)
{
	struct sync_waiter *w;
	struct rt_task *t;

	rt__spin_lock(spin(&s->lock));
	w = s->head;
	if (!w) {
		s->count++;
		rt__spin_unlock(spin(&s->lock));
		return;
	}
	s->head = w->next;
	if (!s->head)
		s->tail = NULL;
	t = w->task;            /* *w is gone once t runs */
	rt__spin_unlock(spin(&s->lock));
	rt__unpark(t);
}

/* ------------------------------------------------------------------
 * Mutex (Go's sync.Mutex)
 *
 * state: LOCKED | WOKEN | STARVING | waiters << WAITER_SHIFT.
 *
 * Normal mode: waiters queue in FIFO order, but a woken waiter does not
 * own the mutex: it competes with tasks arriving just then, which have
 * the advantage of already running. Such a newcomer may spin briefly
 * (when other workers run: the holder may be about to unlock there)
 * and sets WOKEN so that unlock wakes nobody else meanwhile.
 *
 * Starvation mode (the anti-starvation policy): a waiter that fails to
 * get the mutex for more than STARVE_NS (1 ms) sets STARVING. Then
 * unlock hands the mutex directly to the waiter at the front of the
 * queue; newcomers neither take it nor spin, they queue at the back. The
 * mode ends when the waiter that receives the mutex is the last one, or
 * waited less than 1 ms. A waiter that was woken and lost the race
 * re-queues at the front. So every waiter gets the mutex within a bounded
 * number of hand-offs once the mode is on. Normal mode is much faster
 * (a task can take the mutex many times running); starvation mode bounds
 * the tail.
 * ---------------------------------------------------------------- */
#define MUTEX_LOCKED       1u
#define MUTEX_WOKEN        2u
#define MUTEX_STARVING     4u
#define MUTEX_WAITER_SHIFT 3
#define MUTEX_WAITER       (1u << MUTEX_WAITER_SHIFT)
#define STARVE_NS          RT__NS_PER_MS
#define SPIN_ROUNDS        4
#define SPIN_PAUSES        30

static bool can_spin(int iter)
{
	return iter < SPIN_ROUNDS && rt_workers() > 1;
}

static __attribute__((noinline)) void mutex_lock_slow(struct rt_mutex *m)
{
	int64_t wait_start = 0;
	bool starving = false, awoke = false;
	int iter = 0;
	uint32_t old = atomic_load_explicit(&m->state, memory_order_relaxed);

	for (;;) {
		uint32_t new;

		/* Spin while another task holds it (not in starvation mode:
		 * then it goes to the queue's front anyway). */
		if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) == MUTEX_LOCKED &&
		    can_spin(iter)) {
			/* Tell unlock not to wake others while we spin. */
			if (!awoke && !(old & MUTEX_WOKEN) &&
			    (old >> MUTEX_WAITER_SHIFT) &&
			    atomic_compare_exchange_weak(&m->state, &old,
							 old | MUTEX_WOKEN))
				awoke = true;
			for (int i = 0; i < SPIN_PAUSES; i++)
				sys_arch_relax();
			iter++;
			old = atomic_load_explicit(&m->state,
						   memory_order_relaxed);
			continue;
		}
		new = old;
		if (!(old & MUTEX_STARVING))
			new |= MUTEX_LOCKED;    /* don't barge when starving */
		if (old & (MUTEX_LOCKED | MUTEX_STARVING))
			new += MUTEX_WAITER;
		if (starving && (old & MUTEX_LOCKED))
			new |= MUTEX_STARVING;
		if (awoke) {
			if (!(new & MUTEX_WOKEN))
				rt__panic("rt_mutex_lock: inconsistent state");
			new &= ~MUTEX_WOKEN;
		}
		if (!atomic_compare_exchange_weak_explicit(
			    &m->state, &old, new, memory_order_acquire,
			    memory_order_relaxed))
			continue;
		if (!(old & (MUTEX_LOCKED | MUTEX_STARVING)))
			return;                 /* took it */
		{
			bool lifo = wait_start != 0;

			if (!wait_start)
				wait_start = rt__now();
			sema_acquire(&m->sema, lifo, "rt_mutex_lock");
		}
		starving = starving || rt__now() - wait_start > STARVE_NS;
		old = atomic_load_explicit(&m->state, memory_order_acquire);
		if (old & MUTEX_STARVING) {
			/* Handed to us: the state says locked-with-no-owner-
			 * bit; take it and drop our waiter count. */
			uint32_t delta = MUTEX_LOCKED - MUTEX_WAITER;

			if ((old & (MUTEX_LOCKED | MUTEX_WOKEN)) ||
			    !(old >> MUTEX_WAITER_SHIFT))
				rt__panic("rt_mutex_lock: inconsistent state");
			if (!starving || (old >> MUTEX_WAITER_SHIFT) == 1)
				delta -= MUTEX_STARVING;  /* leave the mode */
			atomic_fetch_add_explicit(&m->state, delta,
						  memory_order_acquire);
			return;
		}
		awoke = true;
		iter = 0;
	}
}

void rt_mutex_lock(struct rt_mutex *m)
{
	uint32_t unlocked = 0;

	if (likely(atomic_compare_exchange_strong_explicit(
		    &m->state, &unlocked, MUTEX_LOCKED, memory_order_acquire,
		    memory_order_relaxed)))
		return;
	mutex_lock_slow(m);
}

bool rt_mutex_trylock(struct rt_mutex *m)
{
	uint32_t old = atomic_load_explicit(&m->state, memory_order_relaxed);

	if (old & (MUTEX_LOCKED | MUTEX_STARVING))
		return false;
	return atomic_compare_exchange_strong_explicit(
		&m->state, &old, old | MUTEX_LOCKED, memory_order_acquire,
		memory_order_relaxed);
}

static __attribute__((noinline)) void mutex_unlock_slow(struct rt_mutex *m,
							uint32_t new)
{
	if (!((new + MUTEX_LOCKED) & MUTEX_LOCKED))
		rt__panic("rt_mutex_unlock: unlock of unlocked mutex");
	if (new & MUTEX_STARVING) {
		/* Hand it to the first waiter (LOCKED stays clear: the
		 * waiter sets it; newcomers see STARVING and queue). */
		sema_release(&m->sema);
		return;
	}
	for (;;) {
		uint32_t old = new;

		/* Nobody to wake, or someone is already woken, spinning,
		 * or has taken the mutex: done. */
		if (!(old >> MUTEX_WAITER_SHIFT) ||
		    (old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING)))
			return;
		new = (old - MUTEX_WAITER) | MUTEX_WOKEN;
		if (atomic_compare_exchange_weak_explicit(
			    &m->state, &old, new, memory_order_relaxed,
			    memory_order_relaxed)) {
			sema_release(&m->sema);
			return;
		}
		new = old;
	}
}

void rt_mutex_unlock(struct rt_mutex *m)
{
	uint32_t new = atomic_fetch_sub_explicit(&m->state, MUTEX_LOCKED,
						 memory_order_release) -
		       MUTEX_LOCKED;

	if (unlikely(new != 0))
		mutex_unlock_slow(m, new);
}

/* ------------------------------------------------------------------
 * RWMutex (Go's sync.RWMutex)
 *
 * readers counts the readers in (and waiting); a writer, once it holds
 * w, subtracts RW_MAX from it, so readers arriving later see a negative
 * count and wait on rsem; `departing` counts the readers the writer
 * still waits for, the last of which releases wsem. Unlock adds RW_MAX
 * back and releases each waiting reader.
 * ---------------------------------------------------------------- */
#define RW_MAX (1 << 30)

void rt_rwmutex_rlock(struct rt_rwmutex *rw)
{
	if (atomic_fetch_add_explicit(&rw->readers, 1,
				      memory_order_acquire) + 1 < 0)
		sema_acquire(&rw->rsem, false, "rt_rwmutex_rlock");
}

void rt_rwmutex_runlock(struct rt_rwmutex *rw)
{
	int32_t r = atomic_fetch_sub_explicit(&rw->readers, 1,
					      memory_order_release) - 1;

	if (likely(r >= 0))
		return;
	if (r + 1 == 0 || r + 1 == -RW_MAX)
		rt__panic("rt_rwmutex_runlock: runlock of unlocked rwmutex");
	/* A writer waits: the last departing reader lets it in. */
	if (atomic_fetch_sub(&rw->departing, 1) - 1 == 0)
		sema_release(&rw->wsem);
}

void rt_rwmutex_lock(struct rt_rwmutex *rw)
{
	int32_t r;

	rt_mutex_lock(&rw->w);
	/* Announce the writer; r: the readers still in. */
	r = atomic_fetch_sub(&rw->readers, RW_MAX);
	if (r != 0 && atomic_fetch_add(&rw->departing, r) + r != 0)
		sema_acquire(&rw->wsem, false, "rt_rwmutex_lock");
}

void rt_rwmutex_unlock(struct rt_rwmutex *rw)
{
	int32_t r = atomic_fetch_add(&rw->readers, RW_MAX) + RW_MAX;

	if (r >= RW_MAX)
		rt__panic("rt_rwmutex_unlock: unlock of unlocked rwmutex");
	for (int32_t i = 0; i < r; i++)
		sema_release(&rw->rsem);
	rt_mutex_unlock(&rw->w);
}

/* ------------------------------------------------------------------
 * Wait group (Go's sync.WaitGroup)
 *
 * state: counter in the high 32 bits, waiters in the low 32. Wait adds a
 * waiter and sleeps on the semaphore; the Add that brings the counter to
 * zero resets the state and releases every waiter. Add with a positive
 * delta while waiters wait and the counter is zero is misuse (Go: "Add
 * called concurrently with Wait").
 * ---------------------------------------------------------------- */

void rt_wg_add(struct rt_wg *wg, int delta)
{
	uint64_t state = atomic_fetch_add(&wg->state,
					  (uint64_t)(int64_t)delta << 32) +
			 ((uint64_t)(int64_t)delta << 32);
	int32_t v = (int32_t)(state >> 32);
	uint32_t waiters = (uint32_t)state;

	if (v < 0)
		rt__panic("rt_wg_add: negative wait group counter");
	if (waiters && delta > 0 && v == delta)
		rt__panic("rt_wg_add: called concurrently with rt_wg_wait");
	if (v > 0 || waiters == 0)
		return;
	/* The counter is zero and tasks wait: nobody may touch the state
	 * now but us. */
	if (atomic_load(&wg->state) != state)
		rt__panic("rt_wg_add: called concurrently with rt_wg_wait");
	atomic_store(&wg->state, 0);
	for (; waiters; waiters--)
		sema_release(&wg->sema);
}

void rt_wg_done(struct rt_wg *wg)
{
	rt_wg_add(wg, -1);
}

void rt_wg_wait(struct rt_wg *wg)
{
	uint64_t state = atomic_load(&wg->state);

	for (;;) {
		if ((state >> 32) == 0)
			return;
		if (atomic_compare_exchange_weak(&wg->state, &state,
						 state + 1)) {
			sema_acquire(&wg->sema, false, "rt_wg_wait");
			if (atomic_load(&wg->state) != 0)
				rt__panic("rt_wg_wait: wait group reused "
					  "before the previous wait returned");
			return;
		}
	}
}

/* ------------------------------------------------------------------
 * Once (Go's sync.Once): the mutex makes late callers wait for fn.
 * ---------------------------------------------------------------- */

void rt_once(struct rt_once *o, void (*fn)(void *), void *arg)
{
	if (likely(atomic_load_explicit(&o->done, memory_order_acquire)))
		return;
	rt_mutex_lock(&o->m);
	if (!atomic_load_explicit(&o->done, memory_order_relaxed)) {
		fn(arg);
		atomic_store_explicit(&o->done, 1, memory_order_release);
	}
	rt_mutex_unlock(&o->m);
}

/* ------------------------------------------------------------------
 * Counting semaphore: the sema itself.
 * ---------------------------------------------------------------- */

void rt_sem_init(struct rt_sem *s, unsigned permits)
{
	rt__spin_lock(spin(&s->s.lock));
	s->s.count = permits;
	rt__spin_unlock(spin(&s->s.lock));
}

void rt_sem_acquire(struct rt_sem *s)
{
	sema_acquire(&s->s, false, "rt_sem_acquire");
}

bool rt_sem_try_acquire(struct rt_sem *s)
{
	return sema_try_acquire(&s->s);
}

void rt_sem_release(struct rt_sem *s)
{
	sema_release(&s->s);
}

/* ------------------------------------------------------------------
 * Condition variable (Go's notifyList)
 *
 * A waiter takes a ticket (wait++) before unlocking the mutex, then
 * queues unless its ticket has been notified meanwhile. Signal notifies
 * the oldest ticket not yet notified and wakes its holder if it has
 * queued (if not yet, it will see the ticket notified and not park);
 * broadcast notifies every ticket handed out. So no wake-up is lost
 * between the unlock and the park. Tickets compare modulo 2^32.
 * ---------------------------------------------------------------- */

static inline bool ticket_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

void rt_cond_wait(struct rt_cond *c, struct rt_mutex *m)
{
	struct sync_waiter me = { 0 };

	rt__need_task("rt_cond_wait");
	rt__spin_lock(spin(&c->lock));
	me.ticket = atomic_load_explicit(&c->wait, memory_order_relaxed);
	atomic_store_explicit(&c->wait, me.ticket + 1, memory_order_relaxed);
	rt__spin_unlock(spin(&c->lock));

	rt_mutex_unlock(m);

	rt__spin_lock(spin(&c->lock));
	if (ticket_before(me.ticket, atomic_load_explicit(
				  &c->notify, memory_order_relaxed))) {
		rt__spin_unlock(spin(&c->lock));
	} else {
		me.task = rt__current();
		if (c->tail)
			((struct sync_waiter *)c->tail)->next = &me;
		else
			c->head = &me;
		c->tail = &me;
		rt__park(unlock_word, &c->lock);
	}
	rt_mutex_lock(m);
}

void rt_cond_signal(struct rt_cond *c)
{
	struct sync_waiter *w, *prev = NULL;
	struct rt_task *t = NULL;
	uint32_t ticket;

	if (atomic_load(&c->wait) == atomic_load(&c->notify))
		return;
	rt__spin_lock(spin(&c->lock));
	ticket = atomic_load_explicit(&c->notify, memory_order_relaxed);
	if (ticket == atomic_load_explicit(&c->wait, memory_order_relaxed)) {
		rt__spin_unlock(spin(&c->lock));
		return;
	}
	atomic_store_explicit(&c->notify, ticket + 1, memory_order_relaxed);
	for (w = c->head; w; prev = w, w = w->next) {
		if (w->ticket != ticket)
			continue;
		if (prev)
			prev->next = w->next;
		else
			c->head = w->next;
		if (c->tail == w)
			c->tail = prev;
		t = w->task;
		break;
	}
	rt__spin_unlock(spin(&c->lock));
	if (t)
		rt__unpark(t);
}

void rt_cond_broadcast(struct rt_cond *c)
{
	struct sync_waiter *w;

	if (atomic_load(&c->wait) == atomic_load(&c->notify))
		return;
	rt__spin_lock(spin(&c->lock));
	atomic_store_explicit(&c->notify,
			      atomic_load_explicit(&c->wait,
						   memory_order_relaxed),
			      memory_order_relaxed);
	w = c->head;
	c->head = c->tail = NULL;
	rt__spin_unlock(spin(&c->lock));
	while (w) {
		struct sync_waiter *next = w->next;

		rt__unpark(w->task);
		w = next;
	}
}

/*
 * The three-state futex mutex (Ulrich Drepper, "Futexes Are Tricky",
 * mutex #3), the kernel-thread counterpart of rt_mutex.
 *
 * state: 0 unlocked; 1 locked, nobody waiting; 2 locked, and a thread may
 * be asleep in the kernel. Why three: with only "locked/unlocked", unlock
 * would have to make a futex_wake system call every time, because it could
 * not know whether anyone sleeps. With state 2, unlock makes the call only
 * when a waiter announced itself. A waiter always sets 2 before sleeping
 * (and keeps 2 when it gets the lock, since others may still sleep), so
 * the wake is never lost; at worst one wake call is spent for nothing.
 *
 * Memory order: acquire when taking the lock, release when dropping it.
 *
 * Shared state: the one word, touched only with atomics. The mutex has no
 * owner field, so unlock can catch "not locked at all" but not "locked by
 * another thread". Where a sys_mutex stands in the lock order is for its
 * user to say (docs/LOCKING.md); this file takes no other lock.
 */
#include <errno.h>

#include "internal.h"

enum { UNLOCKED = 0, LOCKED = 1, CONTENDED = 2 };

/* How many times to look again before sleeping: a lock held for a few
 * instructions is often free a moment later, and sleeping costs a system
 * call and a wake-up (tens of µs on this machine's other CPU). */
#define SPINS 100

static int lock_slow(struct sys_mutex *m, int64_t timeout_ns)
{
	int64_t deadline = sys__deadline(timeout_ns);
	uint32_t s;

	/* Spin by reading: a compare-and-swap on a held lock would take its
	 * cache line away from the holder on every attempt. */
	for (int i = 0; i < SPINS; i++) {
		s = atomic_load_explicit(&m->state, memory_order_relaxed);
		if (s == UNLOCKED &&
		    atomic_compare_exchange_weak_explicit(&m->state, &s, LOCKED,
							  memory_order_acquire,
							  memory_order_relaxed))
			return 0;
		if (s == CONTENDED)
			break;   /* others already sleep: queue behind them */
		sys_arch_relax();
	}
	/* Mark the lock contended; if it was free, we own it (and keep the
	 * mark, as we cannot know whether anyone else sleeps). */
	while (atomic_exchange_explicit(&m->state, CONTENDED,
					memory_order_acquire) != UNLOCKED) {
		int64_t left = sys__time_left(deadline);

		if (left == 0)
			return -ETIMEDOUT;
		sys_futex_wait(&m->state, CONTENDED, left);
	}
	return 0;
}

void sys_mutex_lock(struct sys_mutex *m)
{
	uint32_t s = UNLOCKED;

	if (!atomic_compare_exchange_strong_explicit(&m->state, &s, LOCKED,
						     memory_order_acquire,
						     memory_order_relaxed))
		lock_slow(m, -1);
}

int sys_mutex_timedlock(struct sys_mutex *m, int64_t timeout_ns)
{
	uint32_t s = UNLOCKED;

	if (atomic_compare_exchange_strong_explicit(&m->state, &s, LOCKED,
						    memory_order_acquire,
						    memory_order_relaxed))
		return 0;
	return lock_slow(m, timeout_ns);
}

int sys_mutex_trylock(struct sys_mutex *m)
{
	uint32_t s = UNLOCKED;

	return atomic_compare_exchange_strong_explicit(&m->state, &s, LOCKED,
						       memory_order_acquire,
						       memory_order_relaxed)
		       ? 0 : -EBUSY;
}

void sys_mutex_unlock(struct sys_mutex *m)
{
	uint32_t s = atomic_exchange_explicit(&m->state, UNLOCKED,
					      memory_order_release);

	if (s == CONTENDED)
		sys_futex_wake(&m->state, 1);
	else if (s != LOCKED)
		sys_panic("sys_mutex_unlock: mutex %p is not locked", (void *)m);
}

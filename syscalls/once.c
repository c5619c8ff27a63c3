/*
 * sys_once: run a function exactly once, however many threads ask.
 *
 * state: 0 not started, 1 running, 2 running and someone sleeps on it,
 * 3 done. The first caller moves 0 -> 1 and runs fn; the others sleep
 * until the state reaches 3. The release store of 3 publishes what fn
 * wrote; the acquire load on the fast path sees it.
 *
 * A waiter marks the state 2 before it sleeps, so the runner makes the
 * FUTEX_WAKE system call only when someone sleeps (the mutex's trick,
 * docs/futex.md). fn must not call sys_once on the same object: it would
 * wait for itself for ever (the word has no room to say who runs fn).
 *
 * Shared state: the one word, touched only with atomics; no lock is held
 * while fn runs.
 */
#include <errno.h>

#include "sys.h"

enum { ONCE_NEW = 0, ONCE_RUNNING = 1, ONCE_WAITED = 2, ONCE_DONE = 3 };

void sys_once(struct sys_once *o, void (*fn)(void *arg), void *arg)
{
	uint32_t s = atomic_load_explicit(&o->state, memory_order_acquire);

	if (s == ONCE_DONE)
		return;
	s = ONCE_NEW;
	if (atomic_compare_exchange_strong_explicit(&o->state, &s, ONCE_RUNNING,
						    memory_order_acquire,
						    memory_order_acquire)) {
		fn(arg);
		if (atomic_exchange_explicit(&o->state, ONCE_DONE,
					     memory_order_release) == ONCE_WAITED)
			sys_futex_wake(&o->state, INT32_MAX);
		return;
	}
	while (s != ONCE_DONE) {
		/* Say we sleep, so the runner knows to wake us. */
		if (s == ONCE_RUNNING &&
		    !atomic_compare_exchange_strong_explicit(
			    &o->state, &s, ONCE_WAITED, memory_order_acquire,
			    memory_order_acquire))
			continue;
		sys_futex_wait(&o->state, ONCE_WAITED, -1);
		s = atomic_load_explicit(&o->state, memory_order_acquire);
	}
}

/*
 * sys_cond: a condition variable made of one sequence counter.
 *
 * seq counts signals and broadcasts (it wraps). A waiter reads seq while
 * it still holds the mutex, unlocks, and sleeps in FUTEX_WAIT for as long
 * as seq still holds the value it read; signal and broadcast add one to
 * seq and then wake one or all sleepers.
 *
 * Why no wake is lost: the waiter reads seq before it unlocks the mutex,
 * and whoever changes the predicate does so under that mutex, so the
 * change — and the seq increment that follows it — comes after the read.
 * Then either the increment lands before the waiter reaches the kernel
 * (FUTEX_WAIT sees a different value and returns at once) or the waiter
 * is already queued when the wake looks for it (futex.c explains why the
 * kernel's check-then-sleep is atomic). The only way to miss a signal is
 * for seq to wrap exactly 2^32 times between the read and the sleep.
 *
 * A wake-up that came without a signal (a stray FUTEX_WAKE, EINTR) is
 * recognised by seq being unchanged, and slept through: the timed wait
 * keeps one deadline on CLOCK_MONOTONIC and sleeps only for what is left
 * of it, so -ETIMEDOUT means the whole timeout passed without a signal.
 * Callers must still wait in a loop on their predicate: a signal meant for
 * another waiter also ends a wait, and by the time the mutex is retaken
 * another thread may have made the predicate false again.
 *
 * Signal and broadcast always make the wake system call, even when nobody
 * sleeps: struct sys_cond has one word, and a sequence number cannot also
 * count waiters without turning every arrival into a spurious wake of the
 * others. (A waiter count beside seq, as struct sys_sem has, would let
 * them skip it.)
 *
 * Broadcast wakes every sleeper, and they then queue on the mutex one by
 * one (the "thundering herd"). glibc before 2.25 avoided that with
 * FUTEX_CMP_REQUEUE, moving the sleepers from the condvar's word to the
 * mutex's without waking them; that needs the condvar to know its mutex,
 * and sys_cond does not.
 *
 * Relocking: a thread that comes back from the cond wait takes the mutex
 * in the CONTENDED state (2), never in LOCKED (1), as glibc's condvars do
 * through lll_cond_lock — the requeueing ones before 2.25 and the
 * requeue-free one since alike. The mutex's rule is that its word must say
 * 2 whenever a thread may be asleep on it. A requeueing broadcast breaks
 * the rule's usual keeper: it moves sleepers onto the mutex word without
 * any of them storing 2. If the one thread it woke then took the mutex
 * with a plain lock (0 -> 1), its unlock would see 1, skip the wake, and
 * leave every requeued thread asleep for ever; taking it as 2 makes that
 * unlock wake the next one, and so on down the line.
 *
 * This file does not requeue, so here a plain lock would also be correct:
 * every thread asleep on the mutex stored 2 itself before it slept. State
 * 2 is kept so that the relock stays right if broadcast ever learns to
 * requeue, the obvious next step against the thundering herd. Its price:
 * the unlock after each wait makes a FUTEX_WAKE even when nobody sleeps on
 * the mutex — at most one per wait. (It also skips sys_mutex_lock's spin,
 * which pays only when the signaller still holds the mutex.)
 * docs/futex.md, section 4, tells the requeue story.
 *
 * Shared state: seq, touched only with atomics. The mutex passed in
 * protects the caller's predicate, never seq. Lock order: this file takes
 * no lock of its own; it drops and retakes the caller's mutex.
 */
#include <errno.h>

#include "internal.h"

/* The mutex's states (syscalls/mutex.c). */
enum { MUTEX_UNLOCKED = 0, MUTEX_CONTENDED = 2 };

/* Take `m` in the contended state: sys_mutex_lock's slow path without
 * its spinning (see "Relocking" above). Acquire: the caller reads what
 * the previous holder wrote. */
static void relock_contended(struct sys_mutex *m)
{
	while (atomic_exchange_explicit(&m->state, MUTEX_CONTENDED,
					memory_order_acquire) != MUTEX_UNLOCKED)
		sys_futex_wait(&m->state, MUTEX_CONTENDED, -1);
}

static int cond_wait(struct sys_cond *c, struct sys_mutex *m,
		     int64_t timeout_ns, const char *who)
{
	int64_t deadline = sys__deadline(timeout_ns);
	/* Read while `m` is held: see "Why no wake is lost". */
	uint32_t seq = atomic_load_explicit(&c->seq, memory_order_relaxed);
	int ret = 0;

	/* Waiting without the mutex is the bug this catches; holding it in
	 * another thread is a bug it cannot see (the mutex has no owner). */
	if (atomic_load_explicit(&m->state, memory_order_relaxed) ==
	    MUTEX_UNLOCKED)
		sys_panic("%s: mutex %p is not locked", who, (void *)m);
	sys_mutex_unlock(m);
	for (;;) {
		int64_t left = sys__time_left(deadline);

		if (left == 0) {
			ret = -ETIMEDOUT;
			break;
		}
		/* 0 (woken), -EAGAIN (seq moved already), -EINTR or
		 * -ETIMEDOUT: in every case, seq decides. */
		sys_futex_wait(&c->seq, seq, left);
		if (atomic_load_explicit(&c->seq, memory_order_relaxed) != seq)
			break;
	}
	/* A signal that came as the deadline passed still counts as one:
	 * the wake may have been meant for us, and a caller that gave up on
	 * -ETIMEDOUT without looking at its predicate would lose it. */
	if (ret && atomic_load_explicit(&c->seq, memory_order_relaxed) != seq)
		ret = 0;
	relock_contended(m);
	return ret;
}

int sys_cond_timedwait(struct sys_cond *c, struct sys_mutex *m,
		       int64_t timeout_ns)
{
	return cond_wait(c, m, timeout_ns, "sys_cond_timedwait");
}

void sys_cond_wait(struct sys_cond *c, struct sys_mutex *m)
{
	cond_wait(c, m, -1, "sys_cond_wait");
}

/*
 * The increment needs no ordering of its own: what the woken thread must
 * see was written under the mutex, and the mutex orders it.
 */
void sys_cond_signal(struct sys_cond *c)
{
	atomic_fetch_add_explicit(&c->seq, 1, memory_order_relaxed);
	sys_futex_wake(&c->seq, 1);
}

void sys_cond_broadcast(struct sys_cond *c)
{
	atomic_fetch_add_explicit(&c->seq, 1, memory_order_relaxed);
	sys_futex_wake(&c->seq, INT32_MAX);
}

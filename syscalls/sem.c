/*
 * sys_sem: a counting semaphore on one futex word.
 *
 * value is the count: wait takes one (compare-and-swap from v > 0 to
 * v - 1) and sleeps on the word while it reads 0; post adds one. waiters
 * counts the threads inside the slow path of a wait (about to sleep,
 * asleep, or just woken). It exists only so that post can skip the
 * FUTEX_WAKE system call when nobody waits — the same saving the mutex's
 * third state buys (docs/futex.md).
 *
 * Invariants:
 *  - value <= UINT32_MAX - 1: post stops the program rather than wrap.
 *  - A thread that sleeps on value counted itself in waiters first, and
 *    stays counted until it returns.
 *
 * Why no wake is lost — two threads, two words, a store then a load on
 * each side (Dekker's pattern):
 *     waiter: waiters += 1;  read value == 0;  FUTEX_WAIT(value, 0)
 *     poster: value += 1;    read waiters;     FUTEX_WAKE if > 0
 * With sequentially consistent operations at least one of the two reads
 * sees the other's write. If the poster read waiters == 0, the waiter's
 * read of value (or, later, the kernel's, inside FUTEX_WAIT) sees the new
 * count and it does not sleep. Weaker orders would allow both reads to
 * see the old values: the poster skips the wake and the waiter sleeps on
 * a count of 1.
 *
 * Each post wakes at most one thread, and a woken thread always tries to
 * take a unit before it looks at its deadline, so a wake is never spent
 * by a thread that then leaves with the unit still there.
 *
 * Shared state: both words, touched only with atomics; no lock. Taking a
 * unit is an acquire and giving one back a release, so what a thread did
 * before sys_sem_post is visible to the thread whose wait takes that unit.
 */
#include <errno.h>

#include "internal.h"

#define SEM_MAX (UINT32_MAX - 1)

/* Take one unit if there is one: true when taken. */
static bool try_take(struct sys_sem *s)
{
	uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);

	while (v > 0) {
		if (atomic_compare_exchange_weak_explicit(&s->value, &v, v - 1,
							  memory_order_acquire,
							  memory_order_relaxed))
			return true;
	}
	return false;
}

static int wait_slow(struct sys_sem *s, int64_t timeout_ns)
{
	int64_t deadline = sys__deadline(timeout_ns);
	int ret = 0;

	/* seq_cst: the waiter's half of the Dekker pattern above. */
	atomic_fetch_add(&s->waiters, 1);
	for (;;) {
		int64_t left;

		if (try_take(s))
			break;
		left = sys__time_left(deadline);
		if (left == 0) {
			ret = -ETIMEDOUT;
			break;
		}
		/* Sleeps only if the count is still 0 when the kernel looks;
		 * any return (woken, -EAGAIN, -EINTR, -ETIMEDOUT) loops back
		 * to try again with what is left of the deadline. */
		sys_futex_wait(&s->value, 0, left);
	}
	atomic_fetch_sub_explicit(&s->waiters, 1, memory_order_relaxed);
	return ret;
}

void sys_sem_init(struct sys_sem *s, uint32_t value)
{
	if (value > SEM_MAX)
		sys_panic("sys_sem_init: value %u is larger than %u", value,
			  SEM_MAX);
	atomic_store_explicit(&s->value, value, memory_order_relaxed);
	atomic_store_explicit(&s->waiters, 0, memory_order_relaxed);
}

void sys_sem_wait(struct sys_sem *s)
{
	if (!try_take(s))
		wait_slow(s, -1);
}

int sys_sem_trywait(struct sys_sem *s)
{
	return try_take(s) ? 0 : -EAGAIN;
}

int sys_sem_timedwait(struct sys_sem *s, int64_t timeout_ns)
{
	if (try_take(s))
		return 0;
	return wait_slow(s, timeout_ns);
}

void sys_sem_post(struct sys_sem *s)
{
	uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);

	/* A CAS rather than an add, so that an overflow stops the program
	 * before the count wraps. seq_cst: the poster's half of the Dekker
	 * pattern above (and a release for the thread that takes it). */
	do {
		if (v >= SEM_MAX)
			sys_panic("sys_sem_post: semaphore %p would exceed %u",
				  (void *)s, SEM_MAX);
	} while (!atomic_compare_exchange_weak(&s->value, &v, v + 1));
	if (atomic_load(&s->waiters) > 0)
		sys_futex_wake(&s->value, 1);
}

uint32_t sys_sem_value(struct sys_sem *s)
{
	return atomic_load_explicit(&s->value, memory_order_relaxed);
}

/*
 * sys_waitgroup: Go's sync.WaitGroup for kernel threads.
 *
 * count is the number of pieces of work not yet done; wait sleeps on the
 * count's own word until it reads 0. waiters counts the threads inside a
 * wait's slow path, so that the done() that brings the count to 0 makes
 * the FUTEX_WAKE system call only when someone may sleep, and every other
 * done() makes none.
 *
 * Invariants:
 *  - count >= 0. A call that would make it negative is a programming
 *    error (more done() than add()): it stops the program, naming the call.
 *  - A thread that sleeps on count counted itself in waiters first.
 *
 * Why no wake is lost: the same Dekker pattern as syscalls/sem.c —
 *     waiter: waiters += 1;  read count c != 0;  FUTEX_WAIT(count, c)
 *     done:   count -= 1 -> 0;  read waiters;  FUTEX_WAKE(all) if > 0
 * all sequentially consistent, so either the done sees the waiter, or the
 * waiter (or the kernel's check inside FUTEX_WAIT) sees the new count. A
 * waiter that sleeps with c = 3 while the count moves to 2 is woken by
 * nothing until the count reaches 0 — which is all it waits for.
 *
 * As in Go, a wait group may be reused once every wait of the previous
 * round has returned. An add() that raises the count from 0 while a
 * waiter is still on its way out can send that waiter back to sleep.
 *
 * Memory order: every change of count is a read-modify-write, so they form
 * one release sequence; the waiter's acquire read of 0 makes everything
 * each done() caller did before it visible to the waiter.
 *
 * Shared state: both words, touched only with atomics; no lock.
 */
#include <errno.h>

#include "internal.h"

/* The futex word is the count itself (a signed counter, waited on as the
 * unsigned word it also is). */
static _Atomic uint32_t *count_word(struct sys_waitgroup *wg)
{
	return (_Atomic uint32_t *)&wg->count;
}

static void add(struct sys_waitgroup *wg, int32_t n, const char *who)
{
	/* seq_cst: the done side of the Dekker pattern above. */
	int32_t old = atomic_fetch_add(&wg->count, n);
	int64_t now = (int64_t)old + n;

	if (now < 0)
		sys_panic("%s: wait group %p counter would be %lld "
			  "(more done than add)", who, (void *)wg,
			  (long long)now);
	if (now > INT32_MAX)
		sys_panic("%s: wait group %p counter overflows", who,
			  (void *)wg);
	if (now == 0 && n != 0 && atomic_load(&wg->waiters) > 0)
		sys_futex_wake(count_word(wg), INT32_MAX);
}

void sys_waitgroup_add(struct sys_waitgroup *wg, int32_t n)
{
	add(wg, n, "sys_waitgroup_add");
}

void sys_waitgroup_done(struct sys_waitgroup *wg)
{
	add(wg, -1, "sys_waitgroup_done");
}

int sys_waitgroup_timedwait(struct sys_waitgroup *wg, int64_t timeout_ns)
{
	int64_t deadline;
	int32_t c;
	int ret = 0;

	if (atomic_load_explicit(&wg->count, memory_order_acquire) == 0)
		return 0;
	deadline = sys__deadline(timeout_ns);
	/* seq_cst: the waiter side of the Dekker pattern above. */
	atomic_fetch_add(&wg->waiters, 1);
	while ((c = atomic_load(&wg->count)) != 0) {
		int64_t left = sys__time_left(deadline);

		if (left == 0) {
			ret = -ETIMEDOUT;
			break;
		}
		/* Any return — woken, -EAGAIN (the count moved), -EINTR,
		 * -ETIMEDOUT — goes back to reading the count. */
		sys_futex_wait(count_word(wg), (uint32_t)c, left);
	}
	atomic_fetch_sub_explicit(&wg->waiters, 1, memory_order_relaxed);
	return ret;
}

void sys_waitgroup_wait(struct sys_waitgroup *wg)
{
	sys_waitgroup_timedwait(wg, -1);
}

/*
 * The futex system call, reduced to wait and wake.
 *
 * FUTEX_WAIT sleeps only if the word still holds the expected value when
 * the kernel looks at it (under the kernel's hash-bucket lock), which is
 * what makes "check, then sleep" race-free: a waker that changes the word
 * and then calls FUTEX_WAKE either runs before the check (the wait returns
 * -EAGAIN at once) or finds the waiter queued.
 *
 * FUTEX_PRIVATE_FLAG tells the kernel the word is not shared with another
 * process, so it can key the wait by address alone, without taking the
 * page's reference. The kernel's own wake for CLONE_CHILD_CLEARTID is a
 * shared wake, so thread join must use the shared variant.
 */
#include <errno.h>
#include <linux/futex.h>
#include <time.h>

#include "sys.h"

static int futex_wait(_Atomic uint32_t *word, uint32_t expected,
		      int64_t timeout_ns, int op)
{
	struct timespec ts, *tsp = NULL;

	if (timeout_ns >= 0) {
		/* FUTEX_WAIT's timeout is relative (CLOCK_MONOTONIC). */
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	return (int)sys_syscall4(SYS_futex, (long)word, op, expected,
				 (long)tsp);
}

int sys_futex_wait(_Atomic uint32_t *word, uint32_t expected,
		   int64_t timeout_ns)
{
	return futex_wait(word, expected, timeout_ns, FUTEX_WAIT_PRIVATE);
}

int sys_futex_wait_shared(_Atomic uint32_t *word, uint32_t expected,
			  int64_t timeout_ns)
{
	return futex_wait(word, expected, timeout_ns, FUTEX_WAIT);
}

/* The kernel takes a count of 0 as 1; we take it as 0. */
int sys_futex_wake(_Atomic uint32_t *word, int n)
{
	if (n <= 0)
		return 0;
	return (int)sys_syscall3(SYS_futex, (long)word, FUTEX_WAKE_PRIVATE, n);
}

int sys_futex_wake_shared(_Atomic uint32_t *word, int n)
{
	if (n <= 0)
		return 0;
	return (int)sys_syscall3(SYS_futex, (long)word, FUTEX_WAKE, n);
}

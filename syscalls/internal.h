/*
 * syscalls/ internals shared between its files. Not installed.
 */
#ifndef THREADLAB_SYS_INTERNAL_H
#define THREADLAB_SYS_INTERNAL_H

#include <resolv.h>
#include <signal.h>

#include "sys.h"

/* Deadlines of the timed waits: the absolute CLOCK_MONOTONIC time of a
 * relative timeout, -1 for ever. Taken once, so that every later sleep is
 * for what is left of it, however often the thread is woken for nothing. */
static inline int64_t sys__deadline(int64_t timeout_ns)
{
	int64_t now;

	if (timeout_ns < 0)
		return -1;
	now = sys_now_ns();
	return timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
}

/* What is left of a deadline, as sys_futex_wait takes it: -1 for ever,
 * 0 when it has passed. */
static inline int64_t sys__time_left(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - sys_now_ns();
	return left > 0 ? left : 0;
}

/* arch/<arch>/clone.S */
long sys__clone(unsigned long flags, void *stack, _Atomic int *ptid,
		_Atomic int *ctid, void *tls, int (*fn)(void *), void *arg);

/*
 * The control block of a raw thread. It lives at the top of the thread's
 * own mapping, above its TCB, so it costs no allocation and goes away with
 * the stack. Written by the spawner before clone, read by the child; `ret`
 * written by the child, read by the joiner after the CLEARTID wake (the
 * kernel's wake orders the two).
 */
struct sys_thread_ctl {
	sys_thread_fn fn;
	void *arg;
	void *ret;
	void *map;                  /* the whole mapping: guard, stack, TLS, ctl */
	size_t map_size;
	size_t guard_size;          /* at the bottom of the mapping */
	void *tp;                   /* thread pointer: glibc's struct pthread */
	_Atomic int *tid;           /* the TCB's tid field: PARENT_SETTID and
				     * CHILD_CLEARTID word */
	uint64_t sigmask;           /* the spawner's signal mask, for the child */
	char name[16];              /* comm name, "" to inherit */
	struct __res_state res;     /* the thread's own resolver state */
	struct sys_thread_ctl *next_free;   /* cache list (thread.c) */
};

/* tls.c: glibc's TLS and TCB for a raw thread. */
int sys__tls_init(void);                /* once per process; 0 or -ENOTSUP */
size_t sys__tls_reserve(void);          /* bytes of TLS+TCB to reserve */
/* Lay out TLS and TCB just below `top` (16-aligned); returns the thread
 * pointer, sets *stack_top, or NULL on -ENOMEM. */
void *sys__tls_setup(char *top, char **stack_top, _Atomic int **tid);
void sys__tls_enter(struct sys_thread_ctl *ctl);  /* in the child, first */
void sys__tls_leave(void);                        /* in the child, last */
void sys__tls_release(void *tp);                  /* in the joiner */

#endif

/*
 * syscalls/ — kernel threads by hand.
 *
 * The lowest layer of threadlab: raw system calls, kernel threads made with
 * clone() (no pthread_create), and futex-based synchronisation for them.
 *
 * Conventions (see DESIGN.md):
 *  - A function named for an action returns 0 (or a count) on success and
 *    -errno on failure. A predicate returns bool.
 *  - Nothing in this layer reads or writes errno; code running on a raw
 *    thread may of course use errno through libc as usual.
 *  - Misuse that is a programming error (unlocking a mutex nobody holds,
 *    a wait group going negative) stops the program with a message that
 *    names the call.
 */
#ifndef THREADLAB_SYS_H
#define THREADLAB_SYS_H

/* cpu_set_t needs _GNU_SOURCE before the first system header: threadlab
 * builds with -D_GNU_SOURCE, and threadlab.pc passes it on. */
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#include "arch/x86_64/syscall_arch.h"
#else
#error "threadlab's syscalls/ layer supports x86-64 only for now"
#endif

/* ---------------------------------------------------------------------
 * Raw system calls (syscalls/syscall.c). Each returns what the kernel
 * returned: a result, or -errno.
 * ------------------------------------------------------------------- */

/* true when a raw return value is an error (-4095..-1). */
static inline bool sys_is_error(long ret)
{
	return (unsigned long)ret > -4096UL;
}

long sys_write(int fd, const void *buf, size_t len);
long sys_read(int fd, void *buf, size_t len);
int sys_close(int fd);
int sys_gettid(void);
int sys_getpid(void);
/* The CPU the caller runs on now (getcpu(2)), or -errno. */
int sys_getcpu(void);
int sys_sched_yield(void);
/* mmap: the address, or -errno as a (void *) — test with sys_is_error(). */
void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, long off);
int sys_munmap(void *addr, size_t len);
int sys_mprotect(void *addr, size_t len, int prot);
int sys_madvise(void *addr, size_t len, int advice);
/* Affinity of thread `tid` (0: the caller). */
int sys_sched_setaffinity(int tid, const cpu_set_t *set);
int sys_sched_getaffinity(int tid, cpu_set_t *set);
/* Monotonic time in nanoseconds (vDSO clock_gettime; never fails). */
int64_t sys_now_ns(void);
/* Sleep for `ns` nanoseconds; 0 or -EINTR. */
int sys_nanosleep(int64_t ns);
/* Stop the program: write "threadlab: <what>\n" to stderr and abort. */
__attribute__((noreturn, format(printf, 1, 2)))
void sys_panic(const char *fmt, ...);

/* ---------------------------------------------------------------------
 * Futexes (syscalls/futex.c).
 *
 * A futex is a 32-bit word in memory that the kernel can put threads to
 * sleep on. The *_private calls tell the kernel that only this process uses
 * the word, which makes them cheaper; the shared ones work across
 * processes — and are the only ones the kernel's CLONE_CHILD_CLEARTID wake
 * reaches.
 *
 * Timeouts are relative, in nanoseconds; a negative timeout waits for ever.
 * ------------------------------------------------------------------- */

/* Sleep while *word == expected. 0 when woken (or spuriously),
 * -EAGAIN when *word != expected already, -ETIMEDOUT, -EINTR. */
int sys_futex_wait(_Atomic uint32_t *word, uint32_t expected,
		   int64_t timeout_ns);
int sys_futex_wait_shared(_Atomic uint32_t *word, uint32_t expected,
			  int64_t timeout_ns);
/* Wake up to `n` waiters (INT32_MAX: all; n <= 0: none, no system call).
 * The number woken, or -errno. */
int sys_futex_wake(_Atomic uint32_t *word, int n);
int sys_futex_wake_shared(_Atomic uint32_t *word, int n);

/* ---------------------------------------------------------------------
 * Synchronisation for kernel threads, built on futexes. Each object is
 * ready when zero-filled (or set with its SYS_*_INIT); none needs a destroy
 * call. Timed variants take a relative timeout in ns (< 0: for ever) and
 * return -ETIMEDOUT when it runs out.
 * ------------------------------------------------------------------- */

/* Mutex, three states (syscalls/mutex.c): 0 unlocked, 1 locked with no
 * waiters, 2 locked and someone may sleep. The third state lets unlock skip
 * the wake system call when nobody waits (docs/futex.md). Not recursive. */
struct sys_mutex {
	_Atomic uint32_t state;
};
#define SYS_MUTEX_INIT { 0 }
void sys_mutex_lock(struct sys_mutex *m);
/* 0 when taken, -EBUSY when held by someone. */
int sys_mutex_trylock(struct sys_mutex *m);
/* 0 when taken, -ETIMEDOUT. */
int sys_mutex_timedlock(struct sys_mutex *m, int64_t timeout_ns);
/* Unlocking a mutex that is not locked stops the program. */
void sys_mutex_unlock(struct sys_mutex *m);

/* Condition variable (syscalls/cond.c): a sequence number that signal and
 * broadcast advance; a waiter sleeps while it has not changed. As with
 * pthreads, wake-ups may be spurious: wait in a loop on your predicate. */
struct sys_cond {
	_Atomic uint32_t seq;
};
#define SYS_COND_INIT { 0 }
/* Called with `m` held; returns with `m` held again. */
void sys_cond_wait(struct sys_cond *c, struct sys_mutex *m);
/* 0, or -ETIMEDOUT; `m` is held again either way. */
int sys_cond_timedwait(struct sys_cond *c, struct sys_mutex *m,
		       int64_t timeout_ns);
void sys_cond_signal(struct sys_cond *c);
void sys_cond_broadcast(struct sys_cond *c);

/* Counting semaphore (syscalls/sem.c). */
struct sys_sem {
	_Atomic uint32_t value;
	_Atomic uint32_t waiters;
};
#define SYS_SEM_INIT(n) { (n), 0 }
void sys_sem_init(struct sys_sem *s, uint32_t value);
void sys_sem_wait(struct sys_sem *s);
/* 0 when taken, -EAGAIN when the count is 0. */
int sys_sem_trywait(struct sys_sem *s);
int sys_sem_timedwait(struct sys_sem *s, int64_t timeout_ns);
/* Raising the count past UINT32_MAX - 1 stops the program. */
void sys_sem_post(struct sys_sem *s);
uint32_t sys_sem_value(struct sys_sem *s);

/* Once (syscalls/once.c): fn(arg) runs exactly once however many threads
 * call; every caller returns only after it has finished. */
struct sys_once {
	_Atomic uint32_t state;
};
#define SYS_ONCE_INIT { 0 }
void sys_once(struct sys_once *o, void (*fn)(void *arg), void *arg);

/* Wait group (syscalls/waitgroup.c), as Go's sync.WaitGroup: add(n) before
 * starting work, done() when each piece ends, wait() until the count is 0.
 * A count that goes negative stops the program. */
struct sys_waitgroup {
	_Atomic int32_t count;
	_Atomic uint32_t waiters;
};
#define SYS_WAITGROUP_INIT { 0, 0 }
void sys_waitgroup_add(struct sys_waitgroup *wg, int32_t n);
void sys_waitgroup_done(struct sys_waitgroup *wg);
void sys_waitgroup_wait(struct sys_waitgroup *wg);
int sys_waitgroup_timedwait(struct sys_waitgroup *wg, int64_t timeout_ns);

/* ---------------------------------------------------------------------
 * Kernel threads made with clone() (syscalls/thread.c, syscalls/tls.c).
 *
 * A sys_thread runs ordinary libc code: malloc, stdio, errno, thread-local
 * variables, recursive mutexes, sched_getcpu. It has its own mmap'd stack
 * with a guard below it, and its own TLS block and TCB laid out the way
 * glibc expects; the layout assumptions are checked once, at the first
 * spawn, against the running glibc (sys_thread_check_libc).
 *
 * Limits: glibc does not know these threads, so pthread calls that look
 * the calling thread up in glibc's own lists (pthread_getattr_np,
 * pthread_cancel, pthread_kill of it) do not work on them, and setuid-family
 * calls do not reach them. In a dynamically linked program glibc's
 * per-thread malloc cache (tcache) is not freed when a raw thread exits
 * (the function that frees it is exported only by the static libc).
 * ------------------------------------------------------------------- */

/* Default stack size, and the bounds sys_thread_spawn accepts. */
#define SYS_THREAD_STACK_DEFAULT (256u * 1024)
#define SYS_THREAD_STACK_MIN     (16u * 1024)
#define SYS_THREAD_STACK_MAX     (1ul << 30)

struct sys_thread_attr {
	size_t stack_size;       /* usable stack; 0: SYS_THREAD_STACK_DEFAULT */
	size_t guard_size;       /* guard below it; 0: one page */
	const cpu_set_t *cpus;   /* run only on these CPUs; NULL: inherit */
	const char *name;        /* for /proc/PID/task/TID/comm; NULL: inherit */
};

struct sys_thread_ctl;           /* inside the thread's mapping (internal) */

/* A handle owned by the caller. Zero it (or let spawn fill it); after a
 * join it may be reused for another spawn. */
struct sys_thread {
	struct sys_thread_ctl *ctl;  /* NULL until spawned and after join */
	int tid;                     /* the kernel's thread id */
	int state;                   /* SYS_THREAD_* below */
};
enum { SYS_THREAD_NONE = 0, SYS_THREAD_RUNNING = 1, SYS_THREAD_JOINED = 2 };

typedef void *(*sys_thread_fn)(void *arg);

/*
 * Start fn(arg) on a new kernel thread.
 * RETURN VALUE: 0, and *t describes the thread; or
 *   -EINVAL   fn or t is NULL, a stack or guard size out of bounds, a CPU set
 *             with no online CPU in it, t already running;
 *   -ENOMEM   no memory for the stack or TLS;
 *   -EAGAIN   the kernel refused another thread (limits);
 *   -ENOTSUP  the running libc is not laid out as this code expects
 *             (the reason is printed once and sys_thread_libc_error() has it).
 */
int sys_thread_spawn(struct sys_thread *t, const struct sys_thread_attr *attr,
		     sys_thread_fn fn, void *arg);

/*
 * Wait for the thread to end; its return value goes to *ret (if ret is not
 * NULL) and its stack goes back to the cache.
 * RETURN VALUE: 0; -EINVAL when t was never spawned or is joined already;
 * -EDEADLK when a thread joins itself.
 */
int sys_thread_join(struct sys_thread *t, void **ret);

/* The calling thread's id (gettid) — cached nowhere, always right. */
int sys_thread_self_tid(void);

/* Check the running glibc once: 0 if raw threads can run libc here,
 * -ENOTSUP otherwise. sys_thread_spawn calls it; tests may call it first. */
int sys_thread_check_libc(void);
/* Why sys_thread_check_libc failed, or NULL. */
const char *sys_thread_libc_error(void);

/* The stack and TLS cache: how many spare mappings it keeps (default 32);
 * 0 disables it. Returns the previous limit. */
unsigned sys_thread_set_cache_limit(unsigned n);
/* Unmap every cached stack now. */
void sys_thread_cache_drain(void);

struct sys_thread_stats {
	uint64_t spawned;        /* threads started */
	uint64_t joined;         /* threads joined */
	uint64_t maps;           /* stack+TLS mappings created with mmap */
	uint64_t reuses;         /* spawns that took a cached mapping */
	uint64_t cached;         /* mappings in the cache now */
};
void sys_thread_stats(struct sys_thread_stats *out);

/* CPUs that are online now (from /sys/devices/system/cpu/online, else the
 * process's affinity). 0, or -errno. */
int sys_online_cpus(cpu_set_t *set);

#endif

/*
 * raw_limits: what does not work on a raw sys_thread, and one rule of join,
 * shown rather than asserted. docs/code/raw-limits.sh builds this program
 * twice (static and dynamic) and writes docs/generated/raw-limits.txt.
 *
 *  1. pthread_getattr_np on a raw thread: glibc finds no stack recorded in
 *     the thread's struct pthread and takes it for the main thread, so it
 *     reports the main thread's stack.
 *  2. malloc's per-thread cache (tcache): freed at a raw thread's exit only
 *     when __libc_thread_freeres is linked, which the static libc allows and
 *     the shared one does not. Measured as malloc's bytes in use (mallinfo2)
 *     across two rounds of N threads that each malloc and free one small
 *     block: what the second round adds stays behind per thread.
 *  3. (Not a limit, a rule of join.) The kernel's CLONE_CHILD_CLEARTID
 *     wake is a shared futex wake: a waiter that sleeps on the tid word
 *     with FUTEX_WAIT_PRIVATE is not woken when the thread exits (it
 *     times out); one that sleeps with the shared FUTEX_WAIT is.
 *  4. setuid from the main thread: glibc changes the credentials of every
 *     thread it knows (its SIGSETXID broadcast); a raw thread is not among
 *     them and keeps the old ones. Needs root; reported as skipped otherwise.
 *     Runs last: after it the process is no longer root.
 *
 * Usage: raw_limits [N]   (N threads for the tcache check, default 200)
 *
 * Shared state: `step` (an atomic futex word) orders the setuid check: the
 * thread waits for step 1, main sets it after setuid.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "syscalls/internal.h"   /* 3 reads the tid word's address */
#include "syscalls/sys.h"

extern void __libc_thread_freeres(void) __attribute__((weak));

static _Atomic uint32_t step;

/* 1. Where pthread_getattr_np says this thread's stack is, and where a
 *    local variable really is. */
static void *getattr_thread(void *arg)
{
	pthread_attr_t a;
	void *addr = NULL;
	size_t size = 0;
	int local = 0, r;

	r = pthread_getattr_np(pthread_self(), &a);
	if (r == 0) {
		pthread_attr_getstack(&a, &addr, &size);
		pthread_attr_destroy(&a);
	}
	printf("1. pthread_getattr_np on a raw thread: %s; says stack %p..%p,\n"
	       "   a local variable is at %p: %s\n",
	       r ? strerror(r) : "returned 0", addr, (char *)addr + size,
	       (void *)&local,
	       (char *)&local >= (char *)addr && (char *)&local < (char *)addr + size
	       ? "inside (right)" : "outside (wrong stack reported)");
	return NULL;
}

/* 4. The raw thread's own user id, before and after main's setuid. */
static void *uid_thread(void *arg)
{
	uint32_t s;

	while ((s = atomic_load(&step)) == 0)
		sys_futex_wait(&step, s, -1);
	/* getuid(2) answers for the calling thread: each thread has its own
	 * credentials in the kernel. */
	*(long *)arg = sys_syscall0(SYS_getuid);
	return NULL;
}

/* 3. Wait on a thread's tid word the way join does, but private or shared;
 *    the thread exits after 50 ms, the wait gives up after 1 s. */
static void *sleep_50ms_thread(void *arg)
{
	sys_nanosleep(50 * 1000 * 1000);
	return NULL;
}

static int wait_tid_word(bool shared, int64_t *waited_ns)
{
	struct sys_thread t = { 0 };
	_Atomic uint32_t *word;
	uint32_t v;
	int64_t start;
	int r;

	*waited_ns = 0;
	r = sys_thread_spawn(&t, NULL, sleep_50ms_thread, NULL);
	if (r < 0)
		return r;
	word = (_Atomic uint32_t *)t.ctl->tid;
	start = sys_now_ns();
	v = atomic_load(word);
	r = v == 0 ? 0 : shared ? sys_futex_wait_shared(word, v, 1000000000)
				: sys_futex_wait(word, v, 1000000000);
	*waited_ns = sys_now_ns() - start;
	sys_thread_join(&t, NULL);    /* the word is 0 by now: no wait */
	return r;
}

static void *small_malloc_thread(void *arg)
{
	void *volatile p = malloc(32);

	free(p);
	return NULL;
}

/* n threads one after another, each joined before the next starts. */
static int small_malloc_threads(int n)
{
	struct sys_thread t = { 0 };

	for (int i = 0; i < n; i++) {
		int r = sys_thread_spawn(&t, NULL, small_malloc_thread, NULL);

		if (r < 0)
			return r;
		sys_thread_join(&t, NULL);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 200;
	struct sys_thread t = { 0 };
	struct mallinfo2 before, mid, after;
	long uid = -1;
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (n < 1 || n > 100000) {
		fprintf(stderr, "usage: raw_limits [N], 1 <= N <= 100000\n");
		return 2;
	}
	printf("%s libc; __libc_thread_freeres %s\n",
	       __libc_thread_freeres ? "static" : "dynamic",
	       __libc_thread_freeres ? "linked" : "not available");

	r = sys_thread_spawn(&t, NULL, getattr_thread, NULL);
	if (r < 0) {
		fprintf(stderr, "raw_limits: sys_thread_spawn: %s\n", strerror(-r));
		return 1;
	}
	sys_thread_join(&t, NULL);

	/* Two rounds of n threads: the first may allocate once-only things
	 * (an arena, stdio's buffers); what the second adds is per thread. */
	sys_thread_set_cache_limit(0);   /* count malloc only, not stacks */
	before = mallinfo2();
	r = small_malloc_threads(n);
	mid = mallinfo2();
	if (r == 0)
		r = small_malloc_threads(n);
	if (r < 0) {
		fprintf(stderr, "raw_limits: sys_thread_spawn: %s\n", strerror(-r));
		return 1;
	}
	after = mallinfo2();
	printf("2. malloc's bytes in use, raw threads that each malloc and free "
	       "32 bytes:\n"
	       "   first %d threads %+ld, next %d threads %+ld (%+ld per thread); "
	       "malloc's heaps grew by %ld, then %ld bytes\n",
	       n, (long)(mid.uordblks - before.uordblks), n,
	       (long)(after.uordblks - mid.uordblks),
	       (long)(after.uordblks - mid.uordblks) / n,
	       (long)(mid.arena - before.arena), (long)(after.arena - mid.arena));

	for (int shared = 0; shared <= 1; shared++) {
		int64_t ns = 0;

		r = wait_tid_word(shared, &ns);
		printf("3. %s on the tid word of a thread that exits after "
		       "50 ms: %s after %lld ms\n",
		       shared ? "FUTEX_WAIT        " : "FUTEX_WAIT_PRIVATE",
		       r == 0 ? "woken" : r == -ETIMEDOUT ? "timed out" :
		       strerror(-r), (long long)(ns / 1000000));
	}

	if (getuid() != 0) {
		printf("4. setuid: skipped (needs root)\n");
		return 0;
	}
	r = sys_thread_spawn(&t, NULL, uid_thread, &uid);
	if (r < 0) {
		fprintf(stderr, "raw_limits: sys_thread_spawn: %s\n", strerror(-r));
		return 1;
	}
	if (setuid(65534) != 0) {
		printf("4. setuid(65534): %s\n", strerror(errno));
		uid = -2;
	}
	atomic_store(&step, 1);
	sys_futex_wake(&step, 1);
	sys_thread_join(&t, NULL);
	if (uid != -2)
		printf("4. after setuid(65534) in main: main's uid %ld, the raw "
		       "thread's uid %ld\n", (long)getuid(), uid);
	return 0;
}

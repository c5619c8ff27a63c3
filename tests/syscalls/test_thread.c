/*
 * test_thread: sys_thread_spawn/join — raw clone threads that run libc.
 * Through the public API only: thread-local variables, errno, printf("%f"),
 * recursive mutexes, pthread key and TLS destructors, pinning and
 * sched_getcpu, names, the signal mask, the stack cache, the guard, and
 * every bad-input case of sys.h's RETURN VALUE lists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syscalls/sys.h"

static void *ret_arg_twice(void *arg)
{
	return (void *)((long)arg * 2);
}

static void check_libc(void **state)
{
	assert_int_equal(sys_thread_check_libc(), 0);
	assert_null(sys_thread_libc_error());
}

static void spawn_join_many(void **state)
{
	enum { N = 64, ROUNDS = 20 };
	struct sys_thread t[N];

	memset(t, 0, sizeof(t));
	for (int round = 0; round < ROUNDS; round++) {
		for (long i = 0; i < N; i++)
			assert_int_equal(sys_thread_spawn(&t[i], NULL,
							  ret_arg_twice,
							  (void *)i), 0);
		for (long i = 0; i < N; i++) {
			void *ret = NULL;

			assert_true(t[i].tid > 0);
			assert_int_equal(sys_thread_join(&t[i], &ret), 0);
			assert_int_equal((long)ret, 2 * i);
			assert_int_equal(t[i].state, SYS_THREAD_JOINED);
		}
	}
}

static __thread long tls_value = 42;
static __thread char tls_buf[4096];     /* a bigger .tbss block */

static void *tls_worker(void *arg)
{
	long id = (long)arg;

	/* Every thread starts from the TLS image, not another's values. */
	if (tls_value != 42 || tls_buf[0] != 0)
		return (void *)-1L;
	tls_value = id;
	tls_buf[0] = (char)id;
	for (int i = 0; i < 1000; i++) {
		sys_sched_yield();
		if (tls_value != id || tls_buf[0] != (char)id)
			return (void *)-2L;
	}
	return &tls_value;
}

static void tls_distinct(void **state)
{
	enum { N = 8 };
	struct sys_thread t[N] = { 0 };
	void *addr[N];

	tls_value = 7;
	for (long i = 0; i < N; i++)
		assert_int_equal(sys_thread_spawn(&t[i], NULL, tls_worker,
						  (void *)(i + 100)), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(sys_thread_join(&t[i], &addr[i]), 0);
		assert_true((long)addr[i] != -1L && (long)addr[i] != -2L);
		assert_ptr_not_equal(addr[i], &tls_value);
		for (int j = 0; j < i; j++)
			assert_ptr_not_equal(addr[i], addr[j]);
	}
	assert_int_equal(tls_value, 7);
}

static void *errno_worker(void *arg)
{
	errno = 0;
	for (int i = 0; i < 10000; i++) {
		if (close(-1) != -1 || errno != EBADF)
			return (void *)1L;
		errno = 0;
	}
	return NULL;
}

static void errno_per_thread(void **state)
{
	enum { N = 4 };
	struct sys_thread t[N] = { 0 };
	void *ret;

	errno = ENOENT;
	for (int i = 0; i < N; i++)
		assert_int_equal(sys_thread_spawn(&t[i], NULL, errno_worker,
						  NULL), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(sys_thread_join(&t[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(errno, ENOENT);
}

static void *float_worker(void *arg)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%f|%.3e|%g", 3.25, 12345.678, 0.5);
	return buf;
}

static void printf_float(void **state)
{
	struct sys_thread t = { 0 };
	void *ret;

	assert_int_equal(sys_thread_spawn(&t, NULL, float_worker, NULL), 0);
	assert_int_equal(sys_thread_join(&t, &ret), 0);
	assert_string_equal(ret, "3.250000|1.235e+04|0.5");
}

/* Recursive mutexes compare the owner with the TCB's tid: if it were 0
 * in every raw thread, two of them would both "own" the mutex. */
static pthread_mutex_t rmutex;
static long rcount;
static _Atomic int inside;

static void *recursive_worker(void *arg)
{
	for (int i = 0; i < 20000; i++) {
		pthread_mutex_lock(&rmutex);
		pthread_mutex_lock(&rmutex);
		if (atomic_fetch_add(&inside, 1) != 0)
			return (void *)1L;
		rcount++;
		atomic_fetch_sub(&inside, 1);
		pthread_mutex_unlock(&rmutex);
		pthread_mutex_unlock(&rmutex);
	}
	return NULL;
}

static void recursive_mutex(void **state)
{
	enum { N = 4 };
	struct sys_thread t[N] = { 0 };
	pthread_mutexattr_t ma;
	void *ret;

	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&rmutex, &ma);
	rcount = 0;
	for (int i = 0; i < N; i++)
		assert_int_equal(sys_thread_spawn(&t[i], NULL, recursive_worker,
						  NULL), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(sys_thread_join(&t[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(rcount, N * 20000);
	pthread_mutex_destroy(&rmutex);
}

/* Destructors at thread exit: pthread keys (the first block of 32 and a
 * second-level one) and C++-style thread_local destructors. */
extern int __cxa_thread_atexit_impl(void (*fn)(void *), void *obj,
				    void *dso);
extern void *__dso_handle;
static _Atomic int key_dtor_runs, tls_dtor_runs;
static pthread_key_t keys[40];

static void key_dtor(void *p)
{
	atomic_fetch_add(&key_dtor_runs, 1);
}

static void tls_dtor(void *p)
{
	atomic_fetch_add(&tls_dtor_runs, 1);
}

static void *dtor_worker(void *arg)
{
	for (int i = 0; i < 40; i++)
		pthread_setspecific(keys[i], (void *)1);
	__cxa_thread_atexit_impl(tls_dtor, NULL, &__dso_handle);
	return NULL;
}

static void exit_destructors(void **state)
{
	struct sys_thread t = { 0 };

	for (int i = 0; i < 40; i++)
		assert_int_equal(pthread_key_create(&keys[i], key_dtor), 0);
	assert_int_equal(sys_thread_spawn(&t, NULL, dtor_worker, NULL), 0);
	assert_int_equal(sys_thread_join(&t, NULL), 0);
	assert_int_equal(atomic_load(&key_dtor_runs), 40);
	assert_int_equal(atomic_load(&tls_dtor_runs), 1);
	for (int i = 0; i < 40; i++)
		pthread_key_delete(keys[i]);
}

struct cpu_report {
	int libc_cpu, kernel_cpu;
};

static void *cpu_worker(void *arg)
{
	struct cpu_report *r = arg;

	r->libc_cpu = sched_getcpu();     /* from the rseq area */
	r->kernel_cpu = sys_getcpu();     /* from the kernel */
	return NULL;
}

static void pinned_threads(void **state)
{
	cpu_set_t online;

	assert_int_equal(sys_online_cpus(&online), 0);
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		struct sys_thread t = { 0 };
		struct sys_thread_attr attr = { 0 };
		struct cpu_report rep = { -1, -1 };
		cpu_set_t one;

		if (!CPU_ISSET(cpu, &online))
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		attr.cpus = &one;
		for (int round = 0; round < 20; round++) {
			assert_int_equal(sys_thread_spawn(&t, &attr, cpu_worker,
							  &rep), 0);
			assert_int_equal(sys_thread_join(&t, NULL), 0);
			assert_int_equal(rep.kernel_cpu, cpu);
			assert_int_equal(rep.libc_cpu, cpu);
		}
	}
}

/* glibc can be told not to use rseq; sched_getcpu must still be right on
 * raw threads then. Runs this program again, pinned test only. */
static void pinned_threads_without_rseq(void **state)
{
	char self[4096], cmd[4200];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int st;

	assert_true(n > 0);
	self[n] = '\0';
	snprintf(cmd, sizeof(cmd),
		 "GLIBC_TUNABLES=glibc.pthread.rseq=0 %s pinned_threads >/dev/null 2>&1",
		 self);
	st = system(cmd);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void *name_worker(void *arg)
{
	static char comm[32];
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", sys_gettid());
	f = fopen(path, "r");
	if (!f || !fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	if (f)
		fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
	return comm;
}

static void thread_name(void **state)
{
	struct sys_thread t = { 0 };
	struct sys_thread_attr attr = { .name = "tl-worker-17" };
	void *ret;

	assert_int_equal(sys_thread_spawn(&t, &attr, name_worker, NULL), 0);
	assert_int_equal(sys_thread_join(&t, &ret), 0);
	assert_string_equal(ret, "tl-worker-17");
}

static void *mask_worker(void *arg)
{
	sigset_t cur;

	pthread_sigmask(SIG_SETMASK, NULL, &cur);
	return (void *)(long)(sigismember(&cur, SIGUSR1) * 2 +
			      sigismember(&cur, SIGUSR2));
}

/* The child gets the spawner's mask back after the clone window. */
static void signal_mask_inherited(void **state)
{
	struct sys_thread t = { 0 };
	sigset_t set, old;
	void *ret;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	assert_int_equal(sys_thread_spawn(&t, NULL, mask_worker, NULL), 0);
	assert_int_equal(sys_thread_join(&t, &ret), 0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	assert_int_equal((long)ret, 2);   /* SIGUSR1 blocked, SIGUSR2 not */
}

static void stack_cache(void **state)
{
	struct sys_thread t = { 0 };
	struct sys_thread_stats a, b;
	unsigned old;

	sys_thread_stats(&a);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(sys_thread_spawn(&t, NULL, ret_arg_twice, NULL), 0);
		assert_int_equal(sys_thread_join(&t, NULL), 0);
	}
	sys_thread_stats(&b);
	assert_int_equal(b.spawned - a.spawned, 10);
	assert_int_equal(b.joined - a.joined, 10);
	assert_true(b.reuses - a.reuses >= 9);   /* the first may map */
	assert_true(b.cached >= 1);

	old = sys_thread_set_cache_limit(0);
	sys_thread_stats(&a);
	assert_int_equal(a.cached, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sys_thread_spawn(&t, NULL, ret_arg_twice, NULL), 0);
		assert_int_equal(sys_thread_join(&t, NULL), 0);
	}
	sys_thread_stats(&b);
	assert_int_equal(b.maps - a.maps, 3);
	assert_int_equal(b.reuses - a.reuses, 0);
	sys_thread_set_cache_limit(old);
}

static int depth(volatile char *prev, long n)
{
	volatile char frame[512];

	frame[0] = prev ? prev[0] + 1 : 0;
	if (n == 0)
		return frame[0];
	return depth(frame, n - 1) + frame[1];
}

static void *overflow_worker(void *arg)
{
	return (void *)(long)depth(NULL, 1L << 30);
}

/* In a child process: the thread runs off its 16 KiB stack into the guard
 * and the process dies of SIGSEGV, instead of writing over memory. */
static void guard_catches_overflow(void **state)
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct sys_thread t = { 0 };
		struct sys_thread_attr attr = { .stack_size = SYS_THREAD_STACK_MIN };

		if (sys_thread_spawn(&t, &attr, overflow_worker, NULL) == 0)
			sys_thread_join(&t, NULL);
		_exit(0);    /* not reached if the guard works */
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSEGV);
}

/* A deep but legal recursion on a big stack works (no false guard hit). */
static void *deep_worker(void *arg)
{
	return (void *)(long)depth(NULL, 1000);
}

static void big_stack(void **state)
{
	struct sys_thread t = { 0 };
	struct sys_thread_attr attr = { .stack_size = 4u << 20 };
	void *ret;

	assert_int_equal(sys_thread_spawn(&t, &attr, deep_worker, NULL), 0);
	assert_int_equal(sys_thread_join(&t, &ret), 0);
	assert_int_equal((long)(char)(long)ret, (char)1000);
}

static void *self_join_worker(void *arg)
{
	return (void *)(long)sys_thread_join(arg, NULL);
}

static void *sleeper(void *arg)
{
	sys_nanosleep(20 * 1000 * 1000);
	return NULL;
}

static void bad_input(void **state)
{
	struct sys_thread t = { 0 }, zero = { 0 };
	struct sys_thread_attr attr = { 0 };
	cpu_set_t none, offline;
	void *ret;

	assert_int_equal(sys_thread_spawn(NULL, NULL, ret_arg_twice, NULL), -EINVAL);
	assert_int_equal(sys_thread_spawn(&t, NULL, NULL, NULL), -EINVAL);

	attr.stack_size = 1;
	assert_int_equal(sys_thread_spawn(&t, &attr, ret_arg_twice, NULL), -EINVAL);
	attr.stack_size = SYS_THREAD_STACK_MIN - 1;
	assert_int_equal(sys_thread_spawn(&t, &attr, ret_arg_twice, NULL), -EINVAL);
	attr.stack_size = 1ul << 40;
	assert_int_equal(sys_thread_spawn(&t, &attr, ret_arg_twice, NULL), -EINVAL);
	attr.stack_size = (size_t)-1;
	assert_int_equal(sys_thread_spawn(&t, &attr, ret_arg_twice, NULL), -EINVAL);
	attr.stack_size = 0;
	attr.guard_size = 1ul << 40;
	assert_int_equal(sys_thread_spawn(&t, &attr, ret_arg_twice, NULL), -EINVAL);
	attr.guard_size = 0;

	CPU_ZERO(&none);
	attr.cpus = &none;
	assert_int_equal(sys_thread_spawn(&t, &attr, ret_arg_twice, NULL), -EINVAL);
	CPU_ZERO(&offline);
	CPU_SET(CPU_SETSIZE - 1, &offline);     /* no such CPU here */
	attr.cpus = &offline;
	assert_int_equal(sys_thread_spawn(&t, &attr, ret_arg_twice, NULL), -EINVAL);
	assert_int_equal(t.state, SYS_THREAD_NONE);

	/* Joining a handle never spawned, or twice. */
	assert_int_equal(sys_thread_join(&zero, NULL), -EINVAL);
	assert_int_equal(sys_thread_join(NULL, NULL), -EINVAL);
	assert_int_equal(sys_thread_spawn(&t, NULL, sleeper, NULL), 0);
	/* A running handle cannot be spawned on again. */
	assert_int_equal(sys_thread_spawn(&t, NULL, sleeper, NULL), -EINVAL);
	assert_int_equal(sys_thread_join(&t, NULL), 0);
	assert_int_equal(sys_thread_join(&t, NULL), -EINVAL);

	/* A thread joining itself. */
	assert_int_equal(sys_thread_spawn(&t, NULL, self_join_worker, &t), 0);
	assert_int_equal(sys_thread_join(&t, &ret), 0);
	assert_int_equal((long)ret, -EDEADLK);

	/* And after all that, the handle is reusable. */
	assert_int_equal(sys_thread_spawn(&t, NULL, ret_arg_twice, (void *)21), 0);
	assert_int_equal(sys_thread_join(&t, &ret), 0);
	assert_int_equal((long)ret, 42);
}

/* With an argument, run only the tests whose names match it. */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(check_libc),
		cmocka_unit_test(spawn_join_many),
		cmocka_unit_test(tls_distinct),
		cmocka_unit_test(errno_per_thread),
		cmocka_unit_test(printf_float),
		cmocka_unit_test(recursive_mutex),
		cmocka_unit_test(exit_destructors),
		cmocka_unit_test(pinned_threads),
		cmocka_unit_test(pinned_threads_without_rseq),
		cmocka_unit_test(thread_name),
		cmocka_unit_test(signal_mask_inherited),
		cmocka_unit_test(stack_cache),
		cmocka_unit_test(guard_catches_overflow),
		cmocka_unit_test(big_stack),
		cmocka_unit_test(bad_input),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("syscalls/thread", tests, NULL, NULL);
}

/*
 * test_futex: the futex calls and every primitive built on them
 * (syscalls/futex.c, mutex.c, cond.c, sem.c, once.c, waitgroup.c), on raw
 * threads from sys_thread_spawn — never pthreads.
 *
 * What each group of tests holds the code to:
 *  - futex: -EAGAIN on a value mismatch, -ETIMEDOUT no earlier than the
 *    timeout, and wake returning exactly how many sleepers it woke (the
 *    sleepers are seen asleep in /proc/self/task/TID/syscall first).
 *  - contention: exact counts — a plain, non-atomic counter incremented
 *    under the mutex, items through a condvar queue each seen exactly once,
 *    a semaphore never letting more threads in than its count — several
 *    rounds in one run, so that one green run means something.
 *  - timed variants: -ETIMEDOUT, no earlier than asked, also while another
 *    thread keeps waking the sleeper for nothing (the deadline must be kept
 *    across spurious wake-ups, not restarted).
 *  - misuse: in a forked child, which must die of SIGABRT with a message
 *    naming the call.
 *
 * Assertions run on the main thread only (cmocka's failure path is a
 * longjmp); worker threads report through atomics. Every wait for another
 * thread is bounded in time (WAIT_LIMIT_NS), and no test asserts speed:
 * a time limit here only turns a hang into a failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syscalls/sys.h"

#define MS 1000000LL
#define WAIT_LIMIT_NS (10000 * MS)  /* a hang, not slowness, past this */

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static void spawn(struct sys_thread *t, sys_thread_fn fn, void *arg)
{
	int r;

	memset(t, 0, sizeof(*t));
	r = sys_thread_spawn(t, NULL, fn, arg);
	if (r != 0)
		fail_msg("sys_thread_spawn: %d (%s)", r, strerror(-r));
}

static void join(struct sys_thread *t)
{
	assert_int_equal(sys_thread_join(t, NULL), 0);
}

static void spawn_all(struct sys_thread *t, int n, sys_thread_fn fn,
		      void *arg)
{
	for (int i = 0; i < n; i++)
		spawn(&t[i], fn, arg);
}

static void join_all(struct sys_thread *t, int n)
{
	for (int i = 0; i < n; i++)
		join(&t[i]);
}

/* Poll until *v >= want or WAIT_LIMIT_NS passes; true when reached. */
static bool wait_for_count(_Atomic int *v, int want)
{
	int64_t end = sys_now_ns() + WAIT_LIMIT_NS;

	while (atomic_load(v) < want) {
		if (sys_now_ns() > end)
			return false;
		sys_nanosleep(100000);
	}
	return true;
}

/* Read /proc/self/task/TID/NAME into buf (NUL-terminated): 0, or -1. */
static int read_task_file(int tid, const char *name, char *buf, size_t len)
{
	char path[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/%s", tid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* The state letter of /proc/self/task/TID/stat (R, S, D...), or 0. */
static char task_state(int tid)
{
	char buf[512], *p;

	if (read_task_file(tid, "stat", buf, sizeof(buf)) < 0)
		return 0;
	p = strrchr(buf, ')');       /* comm may hold spaces and parens */
	return p && p[1] == ' ' ? p[2] : 0;
}

/*
 * Whether thread `tid` sleeps in the futex system call on `word`, queued
 * where FUTEX_WAKE will find it. /proc/self/task/TID/syscall reads
 * "202 0xWORD ..." for a thread blocked in futex(2) (202 on x86-64) and
 * off its CPU — past the kernel's queueing, which comes before the thread
 * gives up its CPU. That alone is not enough: a thread just woken, whose
 * wake-up is still on its way to another CPU (an inter-processor
 * interrupt, tens of µs in this VM), is in the kernel's TASK_WAKING state
 * and still reads as blocked in futex there. stat reports it as R, not S;
 * so the state is read before and after, and must be S both times.
 * -1 when /proc cannot tell.
 */
static int asleep_on(int tid, const void *word)
{
	char buf[256], want[64];
	char before = task_state(tid);

	if (read_task_file(tid, "syscall", buf, sizeof(buf)) < 0 || !before)
		return -1;
	snprintf(want, sizeof(want), "%d 0x%lx ", SYS_futex,
		 (unsigned long)word);
	return before == 'S' && strncmp(buf, want, strlen(want)) == 0 &&
	       task_state(tid) == 'S';
}

/* Wait until all `n` threads sleep on `word`; fails the test after
 * WAIT_LIMIT_NS, skips it when /proc cannot tell. */
static void wait_all_asleep(struct sys_thread *t, int n, const void *word)
{
	int64_t end = sys_now_ns() + WAIT_LIMIT_NS;

	for (int i = 0; i < n; i++) {
		int r;

		while ((r = asleep_on(t[i].tid, word)) == 0) {
			if (sys_now_ns() > end)
				fail_msg("thread %d never slept on the futex",
					 t[i].tid);
			sys_nanosleep(200000);
		}
		if (r < 0)
			skip();   /* no /proc/PID/task/TID/syscall here */
	}
}

/*
 * The spurious waker: wakes every sleeper on `word` every 2 ms without
 * changing it, so a timed wait on it is woken for nothing again and again.
 * A timed wait that restarted its full timeout at each wake-up would
 * outlast the waker, which gives up after WAIT_LIMIT_NS (gave_up).
 */
struct poker {
	_Atomic uint32_t *word;
	_Atomic int stop;
	_Atomic int gave_up;
	_Atomic long woken;      /* sleepers actually woken */
	struct sys_thread thread;
};

static void *poker_main(void *arg)
{
	struct poker *p = arg;
	int64_t end = sys_now_ns() + WAIT_LIMIT_NS;

	while (!atomic_load(&p->stop)) {
		int n;

		if (sys_now_ns() > end) {
			atomic_store(&p->gave_up, 1);
			break;
		}
		n = sys_futex_wake(p->word, INT32_MAX);
		if (n > 0)
			atomic_fetch_add(&p->woken, n);
		sys_nanosleep(2 * MS);
	}
	return NULL;
}

static void poker_start(struct poker *p, _Atomic uint32_t *word)
{
	memset(p, 0, sizeof(*p));
	p->word = word;
	spawn(&p->thread, poker_main, p);
}

/* Stop the waker; fails when it gave up before the timed call returned. */
static void poker_stop(struct poker *p, const char *what)
{
	int gave_up = atomic_load(&p->gave_up);

	atomic_store(&p->stop, 1);
	join(&p->thread);
	if (gave_up)
		fail_msg("%s outlasted %lld ms of spurious wake-ups: the "
			 "deadline restarts at each wake-up", what,
			 WAIT_LIMIT_NS / MS);
	print_message("    %s: %ld spurious wake-ups delivered\n", what,
		      atomic_load(&p->woken));
}

/* Check one timed call: -ETIMEDOUT, and not before `timeout` ns. */
#define assert_timed_out(call, timeout) do {                              \
	int64_t t0_ = sys_now_ns();                                       \
	int r_ = (call);                                                  \
	int64_t el_ = sys_now_ns() - t0_;                                 \
	if (r_ != -ETIMEDOUT)                                             \
		fail_msg("%s returned %d, not -ETIMEDOUT", #call, r_);    \
	if (el_ < (timeout))                                              \
		fail_msg("%s timed out after %lld ns, before %lld ns",    \
			 #call, (long long)el_, (long long)(timeout));    \
} while (0)

/* ------------------------------------------------------------------ */
/* The futex calls                                                     */
/* ------------------------------------------------------------------ */

static void futex_wait_mismatch(void **state)
{
	_Atomic uint32_t w = 7;

	assert_int_equal(sys_futex_wait(&w, 6, -1), -EAGAIN);
	assert_int_equal(sys_futex_wait(&w, 8, 50 * MS), -EAGAIN);
	assert_int_equal(sys_futex_wait_shared(&w, 0, -1), -EAGAIN);
	assert_int_equal(sys_futex_wait_shared(&w, 6, 0), -EAGAIN);
}

static void futex_wait_timeout(void **state)
{
	static const int64_t timeouts[] = { 0, 1000, 1 * MS, 20 * MS, 50 * MS };
	_Atomic uint32_t w = 0;

	for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
		assert_timed_out(sys_futex_wait(&w, 0, timeouts[i]),
				 timeouts[i]);
		assert_timed_out(sys_futex_wait_shared(&w, 0, timeouts[i]),
				 timeouts[i]);
	}
}

#define SLEEPERS 4

struct wake_test {
	_Atomic uint32_t word;
	_Atomic int wakeups;     /* returns from FUTEX_WAIT with 0 */
	_Atomic int errors;
	bool shared;
};

/* Sleep on the word until it reads non-zero, counting each wake-up. */
static void *sleeper(void *arg)
{
	struct wake_test *w = arg;

	while (atomic_load(&w->word) == 0) {
		int r = w->shared ? sys_futex_wait_shared(&w->word, 0, -1)
				  : sys_futex_wait(&w->word, 0, -1);

		if (r == 0)
			atomic_fetch_add(&w->wakeups, 1);
		else if (r != -EAGAIN && r != -EINTR)
			atomic_fetch_add(&w->errors, 1);
	}
	return NULL;
}

static void wake_counts(bool shared)
{
	struct wake_test w = { .shared = shared };
	struct sys_thread t[SLEEPERS];
	int (*wake)(_Atomic uint32_t *, int) =
		shared ? sys_futex_wake_shared : sys_futex_wake;
	int (*other)(_Atomic uint32_t *, int) =
		shared ? sys_futex_wake : sys_futex_wake_shared;

	/* Nobody waits: nobody is woken. */
	assert_int_equal(wake(&w.word, INT32_MAX), 0);

	spawn_all(t, SLEEPERS, sleeper, &w);
	wait_all_asleep(t, SLEEPERS, &w.word);
	/* A private wake does not reach shared sleepers and the other way
	 * round: the kernel keys them differently. This is why join, which
	 * waits for the kernel's shared CLONE_CHILD_CLEARTID wake, must
	 * sleep with the shared call. */
	assert_int_equal(other(&w.word, INT32_MAX), 0);

	assert_int_equal(wake(&w.word, 1), 1);
	wait_all_asleep(t, SLEEPERS, &w.word);   /* it went back to sleep */
	assert_int_equal(wake(&w.word, 2), 2);
	wait_all_asleep(t, SLEEPERS, &w.word);
	atomic_store(&w.word, 1);
	assert_int_equal(wake(&w.word, INT32_MAX), SLEEPERS);
	join_all(t, SLEEPERS);
	assert_int_equal(atomic_load(&w.wakeups), 1 + 2 + SLEEPERS);
	assert_int_equal(atomic_load(&w.errors), 0);
}

static void futex_wake_counts_private(void **state)
{
	wake_counts(false);
}

static void futex_wake_counts_shared(void **state)
{
	wake_counts(true);
}

/* ------------------------------------------------------------------ */
/* Mutex                                                               */
/* ------------------------------------------------------------------ */

#define THREADS 8
#define MUTEX_ITERS 200000
/* Rounds of each contention test: enough that one green run means
 * something, few enough that the binary stays well under 20 s on 2 CPUs. */
#define ROUNDS 3
#define MUTEX_ROUNDS 10
#define SEM_ROUNDS 5

struct counter {
	struct sys_mutex m;
	long value;              /* plain: only the mutex protects it */
	_Atomic int errors;
	_Atomic int go;          /* start line, so that the threads race */
	_Atomic int next_kind;   /* which locking call each thread uses */
};

static void start_line(_Atomic int *go)
{
	while (!atomic_load_explicit(go, memory_order_acquire))
		sys_arch_relax();
}

static void *incrementer(void *arg)
{
	struct counter *c = arg;

	start_line(&c->go);
	for (int i = 0; i < MUTEX_ITERS; i++) {
		sys_mutex_lock(&c->m);
		c->value++;
		/* Now and then give the CPU away while holding the lock, so
		 * that the others stop spinning and sleep in the kernel: the
		 * slow path gets as much exercise as the fast one. */
		if ((i & 1023) == 0)
			sys_sched_yield();
		sys_mutex_unlock(&c->m);
	}
	return NULL;
}

static void mutex_contention(void **state)
{
	for (int round = 0; round < MUTEX_ROUNDS; round++) {
		struct counter c = { .m = SYS_MUTEX_INIT };
		struct sys_thread t[THREADS];

		spawn_all(t, THREADS, incrementer, &c);
		atomic_store(&c.go, 1);
		join_all(t, THREADS);
		if (c.value != (long)THREADS * MUTEX_ITERS)
			fail_msg("round %d: counter %ld, expected %ld", round,
				 c.value, (long)THREADS * MUTEX_ITERS);
		assert_int_equal(atomic_load(&c.m.state), 0);
	}
}

/* Each thread takes the lock its own way: lock, trylock in a loop,
 * timedlock with a long timeout, timedlock with a 0 timeout in a loop. */
#define MIXED_ITERS 50000

static void *mixed_locker(void *arg)
{
	struct counter *c = arg;
	int kind = atomic_fetch_add(&c->next_kind, 1) % 4;

	start_line(&c->go);
	for (int i = 0; i < MIXED_ITERS; i++) {
		switch (kind) {
		case 0:
			sys_mutex_lock(&c->m);
			break;
		case 1:
			while (sys_mutex_trylock(&c->m) != 0)
				sys_arch_relax();
			break;
		case 2:
			if (sys_mutex_timedlock(&c->m, WAIT_LIMIT_NS) != 0) {
				atomic_fetch_add(&c->errors, 1);
				return NULL;
			}
			break;
		default: {
			int r;

			while ((r = sys_mutex_timedlock(&c->m, 0)) != 0) {
				if (r != -ETIMEDOUT) {
					atomic_fetch_add(&c->errors, 1);
					return NULL;
				}
			}
			break;
		}
		}
		c->value++;
		sys_mutex_unlock(&c->m);
	}
	return NULL;
}

static void mutex_contention_mixed(void **state)
{
	for (int round = 0; round < MUTEX_ROUNDS; round++) {
		struct counter c = { .m = SYS_MUTEX_INIT };
		struct sys_thread t[THREADS];

		spawn_all(t, THREADS, mixed_locker, &c);
		atomic_store(&c.go, 1);
		join_all(t, THREADS);
		assert_int_equal(atomic_load(&c.errors), 0);
		if (c.value != (long)THREADS * MIXED_ITERS)
			fail_msg("round %d: counter %ld, expected %ld", round,
				 c.value, (long)THREADS * MIXED_ITERS);
	}
}

struct handoff {
	struct sys_mutex m;
	_Atomic int step;
	_Atomic int result;
	int64_t elapsed;
};

/* Takes the mutex and holds it until step 2. */
static void *holder(void *arg)
{
	struct handoff *h = arg;

	sys_mutex_lock(&h->m);
	atomic_store(&h->step, 1);
	while (atomic_load(&h->step) < 2)
		sys_nanosleep(100000);
	sys_mutex_unlock(&h->m);
	return NULL;
}

/* Waits up to WAIT_LIMIT_NS for a mutex that main holds. */
static void *timed_locker(void *arg)
{
	struct handoff *h = arg;
	int r;

	atomic_store(&h->step, 1);
	r = sys_mutex_timedlock(&h->m, WAIT_LIMIT_NS);
	atomic_store(&h->result, r);
	if (r == 0)
		sys_mutex_unlock(&h->m);
	return NULL;
}

static void mutex_trylock_timedlock(void **state)
{
	struct sys_mutex m = SYS_MUTEX_INIT;
	struct handoff h = { .m = SYS_MUTEX_INIT };
	struct sys_thread t;

	/* On the caller's own thread. */
	assert_int_equal(sys_mutex_trylock(&m), 0);
	assert_int_equal(sys_mutex_trylock(&m), -EBUSY);
	assert_timed_out(sys_mutex_timedlock(&m, 0), 0);
	assert_timed_out(sys_mutex_timedlock(&m, 30 * MS), 30 * MS);
	sys_mutex_unlock(&m);
	assert_int_equal(sys_mutex_timedlock(&m, 0), 0);
	sys_mutex_unlock(&m);
	assert_int_equal(atomic_load(&m.state), 0);

	/* Held by another thread. */
	spawn(&t, holder, &h);
	assert_true(wait_for_count(&h.step, 1));
	assert_int_equal(sys_mutex_trylock(&h.m), -EBUSY);
	assert_timed_out(sys_mutex_timedlock(&h.m, 20 * MS), 20 * MS);
	atomic_store(&h.step, 2);
	join(&t);
	assert_int_equal(sys_mutex_trylock(&h.m), 0);
	sys_mutex_unlock(&h.m);

	/* A timed lock that gets the mutex when its holder lets go. */
	atomic_store(&h.step, 0);
	atomic_store(&h.result, 1);
	sys_mutex_lock(&h.m);
	spawn(&t, timed_locker, &h);
	assert_true(wait_for_count(&h.step, 1));
	sys_nanosleep(20 * MS);
	sys_mutex_unlock(&h.m);
	join(&t);
	assert_int_equal(atomic_load(&h.result), 0);
}

struct timed_call {
	void *obj;
	void *obj2;
	int64_t timeout;
	_Atomic int started;
	int result;
	int64_t elapsed;
};

static void *timedlock_thread(void *arg)
{
	struct timed_call *c = arg;
	int64_t t0 = sys_now_ns();

	atomic_store(&c->started, 1);
	c->result = sys_mutex_timedlock(c->obj, c->timeout);
	c->elapsed = sys_now_ns() - t0;
	return NULL;
}

static void check_timed_call(struct timed_call *c, const char *what)
{
	if (c->result != -ETIMEDOUT)
		fail_msg("%s returned %d, not -ETIMEDOUT", what, c->result);
	if (c->elapsed < c->timeout)
		fail_msg("%s timed out after %lld ns, before %lld ns", what,
			 (long long)c->elapsed, (long long)c->timeout);
}

static void mutex_timedlock_spurious(void **state)
{
	struct sys_mutex m = SYS_MUTEX_INIT;
	struct timed_call c = { .obj = &m, .timeout = 200 * MS };
	struct sys_thread t;
	struct poker p;

	sys_mutex_lock(&m);
	poker_start(&p, &m.state);
	spawn(&t, timedlock_thread, &c);
	join(&t);
	poker_stop(&p, "sys_mutex_timedlock");
	check_timed_call(&c, "sys_mutex_timedlock");
	sys_mutex_unlock(&m);
}

/* ------------------------------------------------------------------ */
/* Condition variable                                                  */
/* ------------------------------------------------------------------ */

#define QCAP 16
#define PRODUCERS 3
#define CONSUMERS 3
#define ITEMS_EACH 40000
#define ITEMS (PRODUCERS * ITEMS_EACH)

/* A bounded queue; `m` protects everything but the atomics. */
struct queue {
	struct sys_mutex m;
	struct sys_cond not_empty, not_full;
	int buf[QCAP];
	int head, len;
	int consumed;            /* items taken out, all consumers */
	unsigned char seen[ITEMS];
	_Atomic int next_id;
	_Atomic int go;
};

static void *producer(void *arg)
{
	struct queue *q = arg;
	int id = atomic_fetch_add(&q->next_id, 1);

	start_line(&q->go);
	for (int i = 0; i < ITEMS_EACH; i++) {
		sys_mutex_lock(&q->m);
		while (q->len == QCAP)
			sys_cond_wait(&q->not_full, &q->m);
		q->buf[(q->head + q->len++) % QCAP] = id * ITEMS_EACH + i;
		sys_cond_signal(&q->not_empty);
		sys_mutex_unlock(&q->m);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct queue *q = arg;

	start_line(&q->go);
	sys_mutex_lock(&q->m);
	for (;;) {
		int item;

		while (q->len == 0 && q->consumed < ITEMS)
			sys_cond_wait(&q->not_empty, &q->m);
		if (q->consumed == ITEMS)
			break;
		item = q->buf[q->head];
		q->head = (q->head + 1) % QCAP;
		q->len--;
		q->consumed++;
		if (q->seen[item] < 255)
			q->seen[item]++;
		sys_cond_signal(&q->not_full);
		/* The last item: the other consumers may sleep on an empty
		 * queue that will never fill again. */
		if (q->consumed == ITEMS)
			sys_cond_broadcast(&q->not_empty);
	}
	sys_mutex_unlock(&q->m);
	return NULL;
}

static void cond_producer_consumer(void **state)
{
	struct queue *q = calloc(1, sizeof(*q));

	assert_non_null(q);
	for (int round = 0; round < ROUNDS; round++) {
		struct sys_thread p[PRODUCERS], c[CONSUMERS];

		memset(q, 0, sizeof(*q));
		spawn_all(c, CONSUMERS, consumer, q);
		spawn_all(p, PRODUCERS, producer, q);
		atomic_store(&q->go, 1);
		join_all(p, PRODUCERS);
		join_all(c, CONSUMERS);
		assert_int_equal(q->consumed, ITEMS);
		assert_int_equal(q->len, 0);
		for (int i = 0; i < ITEMS; i++)
			if (q->seen[i] != 1)
				fail_msg("round %d: item %d seen %d times",
					 round, i, q->seen[i]);
	}
	free(q);
}

#define WAITERS 8
#define BROADCAST_ROUNDS 50

struct gate {
	struct sys_mutex m;
	struct sys_cond open, arrived_cond;
	int generation;          /* protected by m */
	int arrived;             /* protected by m */
	int tokens;              /* protected by m */
	_Atomic int left;
};

/* Arrives, then waits for one generation change. */
static void *gate_waiter(void *arg)
{
	struct gate *g = arg;
	int gen;

	sys_mutex_lock(&g->m);
	gen = g->generation;
	if (++g->arrived == WAITERS)
		sys_cond_signal(&g->arrived_cond);
	while (g->generation == gen)
		sys_cond_wait(&g->open, &g->m);
	sys_mutex_unlock(&g->m);
	atomic_fetch_add(&g->left, 1);
	return NULL;
}

/* Wait, under g->m, until all waiters have arrived; false on a hang. */
static bool gate_all_arrived(struct gate *g)
{
	while (g->arrived < WAITERS)
		if (sys_cond_timedwait(&g->arrived_cond, &g->m,
				       WAIT_LIMIT_NS) == -ETIMEDOUT)
			return g->arrived == WAITERS;
	return true;
}

static void cond_broadcast_wakes_all(void **state)
{
	for (int round = 0; round < BROADCAST_ROUNDS; round++) {
		struct gate g = { .m = SYS_MUTEX_INIT };
		struct sys_thread t[WAITERS];
		bool arrived;

		spawn_all(t, WAITERS, gate_waiter, &g);
		sys_mutex_lock(&g.m);
		arrived = gate_all_arrived(&g);
		/* Every waiter is inside sys_cond_wait now: it has read
		 * the sequence number, since it gave up the mutex only
		 * there. One broadcast must wake all of them. */
		g.generation++;
		sys_cond_broadcast(&g.open);
		sys_mutex_unlock(&g.m);
		if (!arrived)
			fail_msg("round %d: only %d of %d waiters arrived",
				 round, g.arrived, WAITERS);
		if (!wait_for_count(&g.left, WAITERS))
			fail_msg("round %d: one broadcast woke %d of %d "
				 "waiters", round, atomic_load(&g.left),
				 WAITERS);
		join_all(t, WAITERS);
	}
}

/* Waits for a token and takes it. */
static void *token_taker(void *arg)
{
	struct gate *g = arg;

	sys_mutex_lock(&g->m);
	if (++g->arrived == WAITERS)
		sys_cond_signal(&g->arrived_cond);
	while (g->tokens == 0)
		sys_cond_wait(&g->open, &g->m);
	g->tokens--;
	sys_mutex_unlock(&g->m);
	atomic_fetch_add(&g->left, 1);
	return NULL;
}

/* One signal per token: each wakes at least one waiter, so every waiter
 * gets its token, and no token is taken twice. */
static void cond_signal_one_by_one(void **state)
{
	for (int round = 0; round < ROUNDS; round++) {
		struct gate g = { .m = SYS_MUTEX_INIT };
		struct sys_thread t[WAITERS];
		bool arrived;

		spawn_all(t, WAITERS, token_taker, &g);
		sys_mutex_lock(&g.m);
		arrived = gate_all_arrived(&g);
		sys_mutex_unlock(&g.m);
		if (!arrived)
			fail_msg("round %d: only %d of %d waiters arrived",
				 round, g.arrived, WAITERS);
		for (int i = 0; i < WAITERS; i++) {
			sys_mutex_lock(&g.m);
			g.tokens++;
			sys_cond_signal(&g.open);
			sys_mutex_unlock(&g.m);
			if (!wait_for_count(&g.left, i + 1))
				fail_msg("round %d: signal %d woke nobody",
					 round, i);
		}
		join_all(t, WAITERS);
		assert_int_equal(atomic_load(&g.left), WAITERS);
		assert_int_equal(g.tokens, 0);
	}
}

static void *cond_timedwait_thread(void *arg)
{
	struct timed_call *c = arg;
	int64_t t0;

	sys_mutex_lock(c->obj2);
	t0 = sys_now_ns();
	atomic_store(&c->started, 1);
	c->result = sys_cond_timedwait(c->obj, c->obj2, c->timeout);
	c->elapsed = sys_now_ns() - t0;
	/* The mutex must be held again, timed out or not. */
	if (atomic_load(&((struct sys_mutex *)c->obj2)->state) == 0)
		c->result = -EPERM;
	sys_mutex_unlock(c->obj2);
	return NULL;
}

static void cond_timedwait_times_out(void **state)
{
	struct sys_mutex m = SYS_MUTEX_INIT;
	struct sys_cond cv = SYS_COND_INIT;
	struct timed_call c = { .obj = &cv, .obj2 = &m, .timeout = 200 * MS };
	struct sys_thread t;
	struct poker p;

	sys_mutex_lock(&m);
	assert_timed_out(sys_cond_timedwait(&cv, &m, 0), 0);
	assert_int_equal(sys_mutex_trylock(&m), -EBUSY);   /* held again */
	assert_timed_out(sys_cond_timedwait(&cv, &m, 30 * MS), 30 * MS);
	assert_int_equal(sys_mutex_trylock(&m), -EBUSY);
	sys_mutex_unlock(&m);

	/* Woken for nothing every 2 ms, it must still sleep 200 ms in all. */
	poker_start(&p, &cv.seq);
	spawn(&t, cond_timedwait_thread, &c);
	join(&t);
	poker_stop(&p, "sys_cond_timedwait");
	check_timed_call(&c, "sys_cond_timedwait");

	/* A signal before the deadline: 0. */
	c.timeout = WAIT_LIMIT_NS;
	atomic_store(&c.started, 0);
	spawn(&t, cond_timedwait_thread, &c);
	assert_true(wait_for_count(&c.started, 1));
	sys_mutex_lock(&m);      /* it is inside the wait once we get this */
	sys_cond_signal(&cv);
	sys_mutex_unlock(&m);
	join(&t);
	assert_int_equal(c.result, 0);
}

/* ------------------------------------------------------------------ */
/* Semaphore                                                           */
/* ------------------------------------------------------------------ */

#define SEM_SLOTS 3
#define SEM_ITERS 20000

struct bounded {
	struct sys_sem sem;
	_Atomic int inside, max_inside, entries, errors, go, next_kind;
};

static void *sem_user(void *arg)
{
	struct bounded *b = arg;
	int kind = atomic_fetch_add(&b->next_kind, 1) % 3;

	start_line(&b->go);
	for (int i = 0; i < SEM_ITERS; i++) {
		int in, max;

		if (kind == 0) {
			sys_sem_wait(&b->sem);
		} else if (kind == 1) {
			while (sys_sem_trywait(&b->sem) != 0)
				sys_arch_relax();
		} else if (sys_sem_timedwait(&b->sem, WAIT_LIMIT_NS) != 0) {
			atomic_fetch_add(&b->errors, 1);
			return NULL;
		}
		in = atomic_fetch_add(&b->inside, 1) + 1;
		max = atomic_load(&b->max_inside);
		while (in > max &&
		       !atomic_compare_exchange_weak(&b->max_inside, &max, in))
			;
		atomic_fetch_add(&b->entries, 1);
		for (int k = 0; k < 20; k++)
			sys_arch_relax();
		atomic_fetch_sub(&b->inside, 1);
		sys_sem_post(&b->sem);
	}
	return NULL;
}

static void sem_bounds_concurrency(void **state)
{
	for (int round = 0; round < SEM_ROUNDS; round++) {
		struct bounded b = { 0 };
		struct sys_thread t[THREADS];

		sys_sem_init(&b.sem, SEM_SLOTS);
		spawn_all(t, THREADS, sem_user, &b);
		atomic_store(&b.go, 1);
		join_all(t, THREADS);
		assert_int_equal(atomic_load(&b.errors), 0);
		assert_int_equal(atomic_load(&b.entries), THREADS * SEM_ITERS);
		if (atomic_load(&b.max_inside) > SEM_SLOTS)
			fail_msg("round %d: %d threads inside a semaphore of %d",
				 round, atomic_load(&b.max_inside), SEM_SLOTS);
		assert_true(atomic_load(&b.max_inside) >= 1);
		assert_int_equal(sys_sem_value(&b.sem), SEM_SLOTS);
		assert_int_equal(atomic_load(&b.sem.waiters), 0);
	}
}

#define SEM_POSTS 50000   /* per poster */
#define SEM_POSTERS 4
#define SEM_TAKERS 4

struct sem_flow {
	struct sys_sem sem;
	_Atomic long taken;
	_Atomic int go;
};

static void *sem_poster(void *arg)
{
	struct sem_flow *f = arg;

	start_line(&f->go);
	for (int i = 0; i < SEM_POSTS; i++)
		sys_sem_post(&f->sem);
	return NULL;
}

static void *sem_taker(void *arg)
{
	struct sem_flow *f = arg;

	start_line(&f->go);
	for (int i = 0; i < SEM_POSTS * SEM_POSTERS / SEM_TAKERS; i++) {
		sys_sem_wait(&f->sem);
		atomic_fetch_add(&f->taken, 1);
	}
	return NULL;
}

/* Exactly as many waits return as posts were made: none lost, none
 * invented. */
static void sem_post_wait_counts(void **state)
{
	for (int round = 0; round < ROUNDS; round++) {
		struct sem_flow f = { .sem = SYS_SEM_INIT(0) };
		struct sys_thread p[SEM_POSTERS], c[SEM_TAKERS];

		spawn_all(c, SEM_TAKERS, sem_taker, &f);
		spawn_all(p, SEM_POSTERS, sem_poster, &f);
		atomic_store(&f.go, 1);
		join_all(p, SEM_POSTERS);
		join_all(c, SEM_TAKERS);
		assert_int_equal(atomic_load(&f.taken),
				 (long)SEM_POSTS * SEM_POSTERS);
		assert_int_equal(sys_sem_value(&f.sem), 0);
		assert_int_equal(sys_sem_trywait(&f.sem), -EAGAIN);
	}
}

static void *sem_timedwait_thread(void *arg)
{
	struct timed_call *c = arg;
	int64_t t0 = sys_now_ns();

	atomic_store(&c->started, 1);
	c->result = sys_sem_timedwait(c->obj, c->timeout);
	c->elapsed = sys_now_ns() - t0;
	return NULL;
}

static void sem_try_and_timed(void **state)
{
	struct sys_sem s = SYS_SEM_INIT(2);
	struct timed_call c = { .obj = &s, .timeout = 200 * MS };
	struct sys_thread t;
	struct poker p;

	assert_int_equal(sys_sem_value(&s), 2);
	assert_int_equal(sys_sem_trywait(&s), 0);
	assert_int_equal(sys_sem_timedwait(&s, 0), 0);
	assert_int_equal(sys_sem_trywait(&s), -EAGAIN);
	assert_timed_out(sys_sem_timedwait(&s, 0), 0);
	assert_timed_out(sys_sem_timedwait(&s, 30 * MS), 30 * MS);
	assert_int_equal(atomic_load(&s.waiters), 0);

	poker_start(&p, &s.value);
	spawn(&t, sem_timedwait_thread, &c);
	join(&t);
	poker_stop(&p, "sys_sem_timedwait");
	check_timed_call(&c, "sys_sem_timedwait");

	/* A post before the deadline: 0, and the unit is taken. */
	c.timeout = WAIT_LIMIT_NS;
	spawn(&t, sem_timedwait_thread, &c);
	assert_true(wait_for_count(&c.started, 1));
	sys_nanosleep(10 * MS);
	sys_sem_post(&s);
	join(&t);
	assert_int_equal(c.result, 0);
	assert_int_equal(sys_sem_value(&s), 0);
}

/* ------------------------------------------------------------------ */
/* Once                                                                */
/* ------------------------------------------------------------------ */

#define ONCE_ROUNDS 200

struct once_test {
	struct sys_once once;
	_Atomic int calls;
	long value;              /* plain: written by fn, read by callers */
	_Atomic int bad;         /* callers that returned before fn's effect */
	_Atomic int go;
};

static void once_fn(void *arg)
{
	struct once_test *o = arg;

	atomic_fetch_add(&o->calls, 1);
	/* Long enough that the other callers must sleep for it. */
	sys_nanosleep(1 * MS);
	o->value = 42;
}

static void *once_caller(void *arg)
{
	struct once_test *o = arg;

	start_line(&o->go);
	sys_once(&o->once, once_fn, o);
	if (o->value != 42)
		atomic_fetch_add(&o->bad, 1);
	return NULL;
}

static void once_races(void **state)
{
	for (int round = 0; round < ONCE_ROUNDS; round++) {
		struct once_test o = { .once = SYS_ONCE_INIT };
		struct sys_thread t[THREADS];

		spawn_all(t, THREADS, once_caller, &o);
		atomic_store(&o.go, 1);
		join_all(t, THREADS);
		if (atomic_load(&o.calls) != 1)
			fail_msg("round %d: fn ran %d times", round,
				 atomic_load(&o.calls));
		if (atomic_load(&o.bad))
			fail_msg("round %d: %d callers returned before fn "
				 "finished", round, atomic_load(&o.bad));
		/* Later calls return at once and do not run fn. */
		sys_once(&o.once, once_fn, &o);
		assert_int_equal(atomic_load(&o.calls), 1);
	}
}

/* ------------------------------------------------------------------ */
/* Wait group                                                          */
/* ------------------------------------------------------------------ */

#define WG_WORKERS 64
#define WG_ROUNDS 10
#define WG_WAITERS 4

struct wg_test {
	struct sys_waitgroup wg;
	int done_flag[WG_WORKERS];   /* plain: written before done() */
	_Atomic int next;
	_Atomic int bad;             /* waiters that saw work unfinished */
	bool slow;
};

static void *wg_worker(void *arg)
{
	struct wg_test *w = arg;
	int i = atomic_fetch_add(&w->next, 1);

	if (w->slow)
		sys_nanosleep(1 * MS);
	w->done_flag[i] = 1;
	sys_waitgroup_done(&w->wg);
	return NULL;
}

static int wg_unfinished(struct wg_test *w)
{
	int n = 0;

	for (int i = 0; i < WG_WORKERS; i++)
		n += !w->done_flag[i];
	return n;
}

static void *wg_waiter(void *arg)
{
	struct wg_test *w = arg;

	sys_waitgroup_wait(&w->wg);
	if (wg_unfinished(w) || atomic_load(&w->wg.count) != 0)
		atomic_fetch_add(&w->bad, 1);
	return NULL;
}

static void waitgroup_many(void **state)
{
	struct sys_thread *t = calloc(WG_WORKERS, sizeof(*t));

	assert_non_null(t);
	for (int round = 0; round < WG_ROUNDS; round++) {
		struct wg_test w = { .wg = SYS_WAITGROUP_INIT };

		/* Half the rounds add all at once, half one by one. */
		if (round % 2 == 0)
			sys_waitgroup_add(&w.wg, WG_WORKERS);
		for (int i = 0; i < WG_WORKERS; i++) {
			if (round % 2)
				sys_waitgroup_add(&w.wg, 1);
			spawn(&t[i], wg_worker, &w);
		}
		sys_waitgroup_wait(&w.wg);
		assert_int_equal(wg_unfinished(&w), 0);
		assert_int_equal(atomic_load(&w.wg.count), 0);
		join_all(t, WG_WORKERS);
		assert_int_equal(atomic_load(&w.wg.waiters), 0);
	}
	free(t);
}

static void waitgroup_several_waiters(void **state)
{
	struct sys_thread *t = calloc(WG_WORKERS, sizeof(*t));
	struct sys_thread waiters[WG_WAITERS];

	assert_non_null(t);
	for (int round = 0; round < WG_ROUNDS; round++) {
		struct wg_test w = { .wg = SYS_WAITGROUP_INIT, .slow = true };

		sys_waitgroup_add(&w.wg, WG_WORKERS);
		spawn_all(waiters, WG_WAITERS, wg_waiter, &w);
		spawn_all(t, WG_WORKERS, wg_worker, &w);
		sys_waitgroup_wait(&w.wg);
		assert_int_equal(wg_unfinished(&w), 0);
		join_all(waiters, WG_WAITERS);
		join_all(t, WG_WORKERS);
		assert_int_equal(atomic_load(&w.bad), 0);
		assert_int_equal(atomic_load(&w.wg.waiters), 0);
	}
	free(t);
}

static void *wg_timedwait_thread(void *arg)
{
	struct timed_call *c = arg;
	int64_t t0 = sys_now_ns();

	atomic_store(&c->started, 1);
	c->result = sys_waitgroup_timedwait(c->obj, c->timeout);
	c->elapsed = sys_now_ns() - t0;
	return NULL;
}

static void waitgroup_timedwait(void **state)
{
	struct sys_waitgroup wg = SYS_WAITGROUP_INIT;
	struct timed_call c = { .obj = &wg, .timeout = 200 * MS };
	struct sys_thread t;
	struct poker p;

	assert_int_equal(sys_waitgroup_timedwait(&wg, 0), 0);
	sys_waitgroup_add(&wg, 1);
	assert_timed_out(sys_waitgroup_timedwait(&wg, 0), 0);
	assert_timed_out(sys_waitgroup_timedwait(&wg, 30 * MS), 30 * MS);

	poker_start(&p, (_Atomic uint32_t *)&wg.count);
	spawn(&t, wg_timedwait_thread, &c);
	join(&t);
	poker_stop(&p, "sys_waitgroup_timedwait");
	check_timed_call(&c, "sys_waitgroup_timedwait");

	/* Done before the deadline: 0. */
	c.timeout = WAIT_LIMIT_NS;
	spawn(&t, wg_timedwait_thread, &c);
	assert_true(wait_for_count(&c.started, 1));
	sys_nanosleep(10 * MS);
	sys_waitgroup_done(&wg);
	join(&t);
	assert_int_equal(c.result, 0);
	assert_int_equal(atomic_load(&wg.waiters), 0);
}

/* ------------------------------------------------------------------ */
/* Misuse: the program must stop, naming the call                      */
/* ------------------------------------------------------------------ */

/* Run fn in a child; it must die of SIGABRT having written `expect`
 * on stderr. */
static void expect_abort(void (*fn)(void), const char *expect)
{
	int fds[2], status;
	char out[1024];
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		dup2(fds[1], 2);
		close(fds[0]);
		fn();
		_exit(0);        /* it did not stop: the parent fails */
	}
	close(fds[1]);
	while (len < sizeof(out) - 1 &&
	       (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += n;
	out[len] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
		fail_msg("expected SIGABRT with \"%s\"; status 0x%x, stderr "
			 "\"%s\"", expect, status, out);
	if (!strstr(out, expect))
		fail_msg("stderr \"%s\" does not name \"%s\"", out, expect);
}

static void unlock_unlocked_mutex(void)
{
	struct sys_mutex m = SYS_MUTEX_INIT;

	sys_mutex_unlock(&m);
}

static void unlock_mutex_twice(void)
{
	struct sys_mutex m = SYS_MUTEX_INIT;

	sys_mutex_lock(&m);
	sys_mutex_unlock(&m);
	sys_mutex_unlock(&m);
}

static void waitgroup_done_below_zero(void)
{
	struct sys_waitgroup wg = SYS_WAITGROUP_INIT;

	sys_waitgroup_add(&wg, 1);
	sys_waitgroup_done(&wg);
	sys_waitgroup_done(&wg);
}

static void waitgroup_add_negative(void)
{
	struct sys_waitgroup wg = SYS_WAITGROUP_INIT;

	sys_waitgroup_add(&wg, 2);
	sys_waitgroup_add(&wg, -3);
}

static void sem_post_overflow(void)
{
	struct sys_sem s = SYS_SEM_INIT(UINT32_MAX - 1);

	sys_sem_post(&s);
}

static void cond_wait_without_mutex(void)
{
	struct sys_mutex m = SYS_MUTEX_INIT;
	struct sys_cond c = SYS_COND_INIT;

	sys_cond_wait(&c, &m);
}

static void misuse_stops_the_program(void **state)
{
	expect_abort(unlock_unlocked_mutex, "sys_mutex_unlock");
	expect_abort(unlock_mutex_twice, "sys_mutex_unlock");
	expect_abort(waitgroup_done_below_zero, "sys_waitgroup_done");
	expect_abort(waitgroup_add_negative, "sys_waitgroup_add");
	expect_abort(sem_post_overflow, "sys_sem_post");
	expect_abort(cond_wait_without_mutex, "sys_cond_wait");
}

/* test_futex [PATTERN]: run only the tests whose names match. */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(futex_wait_mismatch),
		cmocka_unit_test(futex_wait_timeout),
		cmocka_unit_test(futex_wake_counts_private),
		cmocka_unit_test(futex_wake_counts_shared),
		cmocka_unit_test(mutex_contention),
		cmocka_unit_test(mutex_contention_mixed),
		cmocka_unit_test(mutex_trylock_timedlock),
		cmocka_unit_test(mutex_timedlock_spurious),
		cmocka_unit_test(cond_producer_consumer),
		cmocka_unit_test(cond_broadcast_wakes_all),
		cmocka_unit_test(cond_signal_one_by_one),
		cmocka_unit_test(cond_timedwait_times_out),
		cmocka_unit_test(sem_bounds_concurrency),
		cmocka_unit_test(sem_post_wait_counts),
		cmocka_unit_test(sem_try_and_timed),
		cmocka_unit_test(once_races),
		cmocka_unit_test(waitgroup_many),
		cmocka_unit_test(waitgroup_several_waiters),
		cmocka_unit_test(waitgroup_timedwait),
		cmocka_unit_test(misuse_stops_the_program),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("futex", tests, NULL, NULL);
}

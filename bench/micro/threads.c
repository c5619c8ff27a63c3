/*
 * Micro-benchmarks of kernel threads: raw clone() threads (sys_thread)
 * against pthreads, doing the same thing, so that only the kind of thread
 * differs.
 *
 *   BenchmarkThreadSpawn/model=M
 *       Spawn one thread that returns at once, join it; repeat. ns/op is
 *       one spawn+join. Each library's defaults (sys_thread: 256 KiB stack
 *       from its cache of mappings; glibc: RLIMIT_STACK-sized stack from
 *       its stack cache), unpinned: the -N is every usable CPU.
 *
 *   BenchmarkFutexPingPong/model=M/cpus=C
 *       Two threads hand a token back and forth through one futex word
 *       (sys_futex_wait / sys_futex_wake); ns/op is one round trip, that
 *       is two hand-offs, each a wake and a sleep. cpus=1 pins both
 *       threads to one CPU (each hand-off is a same-CPU context switch);
 *       cpus=2 pins them to two CPUs (each hand-off wakes a thread asleep
 *       on the other CPU — an inter-processor interrupt). On a virtual
 *       machine cpus=2 depends on what else runs: waking an idle virtual
 *       CPU goes through the hypervisor, waking a busy one need not. Its
 *       figures spread widely on a shared machine: `threadlab micro
 *       --filter FutexPingPong/model=clone/cpus=2 --benchtime 300ms
 *       --count 5` gave 8 to 66 us per round trip on the 2-CPU VM this
 *       was written on, under load. Compare models measured together, by
 *       their medians.
 *
 *   BenchmarkGrowShrink/model=M/phase=P/tasks=1000
 *       1000 threads each use 64 KiB of stack, then park: P=deep at the
 *       bottom of that recursion, P=after once back from it. B/task is
 *       the resident memory each one holds then (a kernel thread's stack
 *       pages stay: nothing gives them back before the thread ends);
 *       kernel-B/task the kernel's stack for it. rt/micro and the Go peer
 *       have the same benchmark for tasks and goroutines.
 *
 *   BenchmarkCondPingPong/model=M/cpus=C
 *       The same hand-off written as most pthread programs would: a
 *       pthread_mutex_t, a pthread_cond_t and a predicate. It measures
 *       what glibc's condition variable adds to the bare futex above.
 *
 * M is `clone` (sys_thread_spawn / sys_thread_join) or `pthread`
 * (pthread_create / pthread_join). For the ping-pongs the set-up (two
 * spawns) and tear-down (two joins) are outside the timer: the timed part
 * starts when both threads are released at once and ends when the last
 * round trip is done.
 *
 * Shared state: a struct pingpong (or condpong) is shared by the two
 * players and the benchmark function for one run; its words are atomics,
 * and the futex protocol is described at each. The condpong's fields are
 * protected by its mutex. Nothing outlives a run.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include "bench/bench.h"
#include "syscalls/sys.h"

enum model { MODEL_CLONE, MODEL_PTHREAD };

struct threads_arg {
	enum model model;
	int cpus;                /* ping-pongs: 1 or 2 */
	bool deep;               /* GrowShrink: park at the bottom */
};

/* ---------------------------------------------------------------------
 * A thread of either kind, behind one pair of calls, so that each
 * benchmark body is written once.
 * ------------------------------------------------------------------- */

struct worker {
	enum model model;
	struct sys_thread st;
	pthread_t pt;
};

static const char *model_call(enum model m)
{
	return m == MODEL_CLONE ? "sys_thread_spawn" : "pthread_create";
}

static int start_pthread(pthread_t *pt, const cpu_set_t *cpus,
			 void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	int r;

	if (!cpus)
		return -pthread_create(pt, NULL, fn, arg);
	r = pthread_attr_init(&attr);
	if (r)
		return -r;
	/* glibc applies the affinity before the thread runs fn. */
	r = pthread_attr_setaffinity_np(&attr, sizeof(*cpus), cpus);
	if (r == 0)
		r = pthread_create(pt, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return -r;
}

/* Start fn(arg) on a new thread of kind `m`, on CPU `cpu` only (or
 * anywhere when cpu < 0). 0 or -errno. */
static int worker_start(struct worker *w, enum model m, int cpu,
			void *(*fn)(void *), void *arg)
{
	struct sys_thread_attr attr = { 0 };
	cpu_set_t set;

	memset(w, 0, sizeof(*w));
	w->model = m;
	CPU_ZERO(&set);
	if (cpu >= 0)
		CPU_SET(cpu, &set);
	if (m == MODEL_PTHREAD)
		return start_pthread(&w->pt, cpu >= 0 ? &set : NULL, fn, arg);
	/* sys_thread_spawn pins the child from its first instruction. */
	attr.cpus = cpu >= 0 ? &set : NULL;
	return sys_thread_spawn(&w->st, &attr, fn, arg);
}

static int worker_join(struct worker *w)
{
	if (w->model == MODEL_CLONE)
		return sys_thread_join(&w->st, NULL);
	return -pthread_join(w->pt, NULL);
}

/* ---------------------------------------------------------------------
 * Spawn + join
 * ------------------------------------------------------------------- */

static void *noop(void *arg)
{
	return arg;
}

static void bench_thread_spawn(struct bench_b *b)
{
	const struct threads_arg *a = b->arg;
	struct worker w;
	int r;

	for (uint64_t i = 0; i < b->n; i++) {
		r = worker_start(&w, a->model, -1, noop, NULL);
		if (r < 0) {
			bench_failf(b, "%s: %s", model_call(a->model),
				    strerror(-r));
			return;
		}
		r = worker_join(&w);
		if (r < 0) {
			bench_failf(b, "join: %s", strerror(-r));
			return;
		}
	}
}

/* ---------------------------------------------------------------------
 * Pinning
 * ------------------------------------------------------------------- */

/* The first `want` usable CPUs into cpu[]; false (the benchmark skipped)
 * when there are fewer. */
static bool pick_cpus(struct bench_b *b, int want, int cpu[2])
{
	cpu_set_t set;
	int have, k = 0;

	if (bench_usable_cpus(&set) < 0) {
		bench_skipf(b, "cannot tell which CPUs are usable");
		return false;
	}
	have = CPU_COUNT(&set);
	if (have < want) {
		bench_skipf(b, "needs %d CPUs, only %d online and usable",
			    want, have);
		return false;
	}
	for (int c = 0; c < CPU_SETSIZE && k < want; c++)
		if (CPU_ISSET(c, &set))
			cpu[k++] = c;
	if (want == 1)
		cpu[1] = cpu[0];
	return true;
}

/* ---------------------------------------------------------------------
 * The start and finish of a timed two-thread run: both players wait on
 * `go` until the benchmark function has reset its timer; the ping player
 * raises `done` after its last round trip.
 * ------------------------------------------------------------------- */

static void wait_while_zero(_Atomic uint32_t *word)
{
	while (atomic_load_explicit(word, memory_order_acquire) == 0)
		sys_futex_wait(word, 0, -1);
}

static void raise_flag(_Atomic uint32_t *word)
{
	atomic_store_explicit(word, 1, memory_order_release);
	sys_futex_wake(word, INT_MAX);
}

struct race {
	_Atomic uint32_t go;     /* 0 until the players may start */
	_Atomic uint32_t done;   /* 1 when the last round trip is over */
	uint64_t n;              /* round trips; written before the spawns */
	/* The CPU each player found itself on (ping 0, pong 1), to check
	 * the pinning; written by the player, read after its join. */
	int ran_on[2];
};

/* Record where player `i` runs, then wait for the start. */
static void await_start(struct race *race, int i)
{
	race->ran_on[i] = sys_getcpu();
	wait_while_zero(&race->go);
}

/*
 * Run `ping` and `pong` on two threads of kind a->model, pinned per
 * a->cpus, each given `race` (the first member of their shared struct),
 * timing from their release to `done`. Fails the benchmark if a thread
 * ran elsewhere than where it was pinned.
 */
static void run_pair(struct bench_b *b, struct race *race,
		     void *(*ping)(void *), void *(*pong)(void *))
{
	const struct threads_arg *a = b->arg;
	struct worker w[2];
	int cpu[2], r;

	if (!pick_cpus(b, a->cpus, cpu))
		return;
	race->n = b->n;
	r = worker_start(&w[0], a->model, cpu[0], ping, race);
	if (r < 0) {
		bench_failf(b, "%s (CPU %d): %s", model_call(a->model), cpu[0],
			    strerror(-r));
		return;
	}
	r = worker_start(&w[1], a->model, cpu[1], pong, race);
	if (r < 0) {
		bench_failf(b, "%s (CPU %d): %s", model_call(a->model), cpu[1],
			    strerror(-r));
		/* Let the first player go with nothing to do. */
		race->n = 0;
		raise_flag(&race->go);
		worker_join(&w[0]);
		return;
	}

	bench_reset_timer(b);
	raise_flag(&race->go);
	wait_while_zero(&race->done);
	bench_stop_timer(b);

	for (int i = 0; i < 2; i++) {
		r = worker_join(&w[i]);
		if (r < 0)
			bench_failf(b, "join: %s", strerror(-r));
		else if (race->ran_on[i] != cpu[i])
			bench_failf(b, "a thread pinned to CPU %d ran on %d",
				    cpu[i], race->ran_on[i]);
	}
}

/* ---------------------------------------------------------------------
 * Futex ping-pong
 *
 * One word, `turn`: 0 when it is ping's move, 1 when it is pong's. A
 * player makes its move by flipping the word and waking the other, then
 * sleeps while the word still says it is the other's move. FUTEX_WAIT
 * compares the word under the kernel's lock, so a wake that comes before
 * the sleep is not lost: the wait returns -EAGAIN at once. The wake is
 * made every time, as a blocking hand-off needs: this measures sleeping
 * and waking, not spinning.
 * ------------------------------------------------------------------- */

struct pingpong {
	struct race race;
	/* Its own cache line: the two players write it in turn. */
	_Alignas(64) _Atomic uint32_t turn;
};

static void *futex_ping(void *arg)
{
	struct pingpong *pp = arg;
	uint64_t n;

	await_start(&pp->race, 0);
	n = pp->race.n;
	for (uint64_t i = 0; i < n; i++) {
		atomic_store_explicit(&pp->turn, 1, memory_order_release);
		sys_futex_wake(&pp->turn, 1);
		while (atomic_load_explicit(&pp->turn,
					    memory_order_acquire) == 1)
			sys_futex_wait(&pp->turn, 1, -1);
	}
	raise_flag(&pp->race.done);
	return NULL;
}

static void *futex_pong(void *arg)
{
	struct pingpong *pp = arg;
	uint64_t n;

	await_start(&pp->race, 1);
	n = pp->race.n;
	for (uint64_t i = 0; i < n; i++) {
		while (atomic_load_explicit(&pp->turn,
					    memory_order_acquire) == 0)
			sys_futex_wait(&pp->turn, 0, -1);
		atomic_store_explicit(&pp->turn, 0, memory_order_release);
		sys_futex_wake(&pp->turn, 1);
	}
	return NULL;
}

static void bench_futex_pingpong(struct bench_b *b)
{
	struct pingpong pp;

	memset(&pp, 0, sizeof(pp));
	run_pair(b, &pp.race, futex_ping, futex_pong);
}

/* ---------------------------------------------------------------------
 * Mutex + condition variable ping-pong: `turn` as above, protected by
 * `lock`; a player waits on `cond` while it is the other's move. Only
 * one player ever waits at a time, so pthread_cond_signal is enough.
 * ------------------------------------------------------------------- */

struct condpong {
	struct race race;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int turn;                /* protected by lock */
};

static void *cond_ping(void *arg)
{
	struct condpong *cp = arg;
	uint64_t n;

	await_start(&cp->race, 0);
	n = cp->race.n;
	pthread_mutex_lock(&cp->lock);
	for (uint64_t i = 0; i < n; i++) {
		cp->turn = 1;
		pthread_cond_signal(&cp->cond);
		while (cp->turn == 1)
			pthread_cond_wait(&cp->cond, &cp->lock);
	}
	pthread_mutex_unlock(&cp->lock);
	raise_flag(&cp->race.done);
	return NULL;
}

static void *cond_pong(void *arg)
{
	struct condpong *cp = arg;
	uint64_t n;

	await_start(&cp->race, 1);
	n = cp->race.n;
	pthread_mutex_lock(&cp->lock);
	for (uint64_t i = 0; i < n; i++) {
		while (cp->turn == 0)
			pthread_cond_wait(&cp->cond, &cp->lock);
		cp->turn = 0;
		pthread_cond_signal(&cp->cond);
	}
	pthread_mutex_unlock(&cp->lock);
	return NULL;
}

static void bench_cond_pingpong(struct bench_b *b)
{
	struct condpong cp;

	memset(&cp, 0, sizeof(cp));
	pthread_mutex_init(&cp.lock, NULL);
	pthread_cond_init(&cp.cond, NULL);
	run_pair(b, &cp.race, cond_ping, cond_pong);
	pthread_cond_destroy(&cp.cond);
	pthread_mutex_destroy(&cp.lock);
}

/* ---------------------------------------------------------------------
 * GrowShrink: the stack memory a parked thread keeps
 * ------------------------------------------------------------------- */

/* GS_TASKS threads each use GS_FRAMES frames of 1 KiB (64 KiB of stack),
 * then park on a futex: at the bottom of the recursion (deep) or after
 * coming back from it (after). With all of them parked, and 20 ms later
 * (the settling time every model gets), the growth of the resident set
 * since before the spawns, per thread, is B/task; the growth of the
 * kernel's stacks for threads (KernelStack in /proc/meminfo, 16 KiB per
 * thread on x86-64) per thread is kernel-B/task. Measured in the first
 * round of each run (later rounds reuse the stacks the libraries keep). */
#define GS_TASKS 1000
#define GS_FRAMES 64

struct grow {
	bool deep;               /* park at the bottom, else after */
	_Atomic int left;        /* threads not yet parked */
	_Atomic uint32_t release;   /* futex word: 1 when they may end */
};

static void grow_park(struct grow *g)
{
	atomic_fetch_sub_explicit(&g->left, 1, memory_order_release);
	wait_while_zero(&g->release);
}

static __attribute__((noinline)) long grow_down(struct grow *g, int n)
{
	volatile char pad[1024];

	/* Both ends, so that every page of the frame is touched. */
	pad[0] = (char)n;
	pad[sizeof(pad) - 1] = (char)n;
	if (n == 0) {
		if (g->deep)
			grow_park(g);
		return pad[0];
	}
	return grow_down(g, n - 1) + pad[sizeof(pad) - 1];
}

static void *grow_main(void *arg)
{
	struct grow *g = arg;

	if (grow_down(g, GS_FRAMES - 1) == -1)
		return arg;      /* never: keeps the result used */
	if (!g->deep)
		grow_park(g);
	return NULL;
}

static void bench_grow_shrink(struct bench_b *b)
{
	const struct threads_arg *a = b->arg;
	static struct worker w[GS_TASKS];
	struct grow g = { .deep = a->deep };

	for (uint64_t it = 0; it < b->n; it++) {
		long rss0 = bench_rss_bytes(), k0 = bench_kernel_stack_bytes();
		int64_t end = sys_now_ns() + 10ll * 1000 * 1000 * 1000;
		int started, r = 0;

		atomic_store(&g.left, GS_TASKS);
		atomic_store(&g.release, 0);
		for (started = 0; started < GS_TASKS; started++) {
			r = worker_start(&w[started], a->model, -1, grow_main, &g);
			if (r < 0)
				break;
		}
		if (r < 0)
			atomic_fetch_sub(&g.left, GS_TASKS - started);
		while (atomic_load_explicit(&g.left, memory_order_acquire) > 0 &&
		       sys_now_ns() < end)
			sys_nanosleep(1000 * 1000);
		sys_nanosleep(20 * 1000 * 1000);
		if (it == 0 && r == 0) {
			bench_report_metric(b, (double)(bench_rss_bytes() - rss0) /
					    GS_TASKS, "B/task");
			bench_report_metric(b,
				(double)(bench_kernel_stack_bytes() - k0) /
				GS_TASKS, "kernel-B/task");
		}
		if (atomic_load(&g.left) > 0 && r == 0)
			bench_failf(b, "%d of %d threads not parked after 10 s",
				    atomic_load(&g.left), GS_TASKS);
		raise_flag(&g.release);
		for (int i = 0; i < started; i++)
			if (worker_join(&w[i]) < 0)
				sys_panic("GrowShrink: join failed");
		if (r < 0) {
			bench_failf(b, "%s for thread %d: %s",
				    model_call(a->model), started + 1,
				    strerror(-r));
			return;
		}
		if (b->failed)
			return;
	}
}

/* ---------------------------------------------------------------------
 * The suite
 * ------------------------------------------------------------------- */

#define ARG(m, c) (&(const struct threads_arg){ (m), (c), false })
#define ARG_GROW(m, deep) (&(const struct threads_arg){ (m), 0, (deep) })

const struct bench_def bench_micro_threads[] = {
	{ "BenchmarkThreadSpawn/model=clone", bench_thread_spawn,
	  ARG(MODEL_CLONE, 0), 0 },
	{ "BenchmarkThreadSpawn/model=pthread", bench_thread_spawn,
	  ARG(MODEL_PTHREAD, 0), 0 },
	{ "BenchmarkFutexPingPong/model=clone/cpus=1", bench_futex_pingpong,
	  ARG(MODEL_CLONE, 1), 1 },
	{ "BenchmarkFutexPingPong/model=pthread/cpus=1", bench_futex_pingpong,
	  ARG(MODEL_PTHREAD, 1), 1 },
	{ "BenchmarkFutexPingPong/model=clone/cpus=2", bench_futex_pingpong,
	  ARG(MODEL_CLONE, 2), 2 },
	{ "BenchmarkFutexPingPong/model=pthread/cpus=2", bench_futex_pingpong,
	  ARG(MODEL_PTHREAD, 2), 2 },
	{ "BenchmarkCondPingPong/model=clone/cpus=1", bench_cond_pingpong,
	  ARG(MODEL_CLONE, 1), 1 },
	{ "BenchmarkCondPingPong/model=pthread/cpus=1", bench_cond_pingpong,
	  ARG(MODEL_PTHREAD, 1), 1 },
	{ "BenchmarkCondPingPong/model=clone/cpus=2", bench_cond_pingpong,
	  ARG(MODEL_CLONE, 2), 2 },
	{ "BenchmarkCondPingPong/model=pthread/cpus=2", bench_cond_pingpong,
	  ARG(MODEL_PTHREAD, 2), 2 },
	/* Unpinned: the -N is every usable CPU. */
	{ "BenchmarkGrowShrink/model=clone/phase=deep/tasks=1000",
	  bench_grow_shrink, ARG_GROW(MODEL_CLONE, true), 0 },
	{ "BenchmarkGrowShrink/model=clone/phase=after/tasks=1000",
	  bench_grow_shrink, ARG_GROW(MODEL_CLONE, false), 0 },
	{ "BenchmarkGrowShrink/model=pthread/phase=deep/tasks=1000",
	  bench_grow_shrink, ARG_GROW(MODEL_PTHREAD, true), 0 },
	{ "BenchmarkGrowShrink/model=pthread/phase=after/tasks=1000",
	  bench_grow_shrink, ARG_GROW(MODEL_PTHREAD, false), 0 },
	{ NULL, NULL, NULL, 0 },
};

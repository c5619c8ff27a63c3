/*
 * rt/ internals shared between its files (rt__ prefix). Not installed.
 *
 * Invariants every rt/ file relies on:
 *   - A task runs on at most one worker at a time. The worker that took
 *     it from a queue (or unparked it) owns it until it switches away.
 *   - While a task runs on worker W, W's scheduler context (w->g0, on the
 *     worker thread's own stack) is suspended inside rt__switch, so the
 *     worker stack below w->g0.sp is free: rt_call_on_worker_stack uses
 *     it.
 *   - After every rt__switch returns, the code that resumes first calls
 *     rt__finish_switch(): the task that switched away is only then fully
 *     saved, so only then may it be queued, published as parked, or
 *     freed (Linux's finish_task_switch, for the same reason).
 *   - Nothing keeps errno or the address of a thread-local variable
 *     across a switch: the task may resume on another thread. rt__self()
 *     reads the worker pointer fresh each time (an asm volatile that the
 *     compiler cannot merge with an earlier read).
 *
 * Lock order (docs/LOCKING.md): the spinlocks here are leaves — the
 * global queue lock, the idle-worker lock and each pool's lock are never
 * held together, and no sys_mutex is taken under any of them.
 */
#ifndef THREADLAB_RT_INTERNAL_H
#define THREADLAB_RT_INTERNAL_H

#include <stdalign.h>
#include <stdatomic.h>

#include "rt.h"
#include "syscalls/sys.h"

#if defined(__x86_64__)
#include "arch/x86_64/ctx.h"
#else
#error "rt/ has a context switch for x86-64 only"
#endif

/* The running code's split-stack limit (%fs:RT_TCB_SPLIT_LIMIT: NULL on a
 * mapped stack and on the worker stack) and its stack pointer, for the
 * tests and benchmarks that look at where they run. Inline, so that the
 * stack pointer is the caller's. */
static inline char *rt__split_limit(void)
{
	char *l;

	__asm__ volatile ("movq %%fs:%c1, %0" : "=r" (l)
			  : "i" (RT_TCB_SPLIT_LIMIT));
	return l;
}

static inline char *rt__sp(void)
{
	char *sp;

	__asm__ volatile ("movq %%rsp, %0" : "=r" (sp));
	return sp;
}

/* ------------------------------------------------------------------
 * Contexts (arch/x86_64/switch.S)
 * ---------------------------------------------------------------- */

/* A saved execution context; offsets fixed by arch/<arch>/ctx.h. */
struct rt__ctx {
	void *sp;               /* saved stack pointer */
	void *guard;            /* split-stack limit (0: never split) */
	void *segments;         /* libgcc: the task's extra segments */
	void *cur_segment;      /* libgcc: the segment in use (NULL: first) */
	void *initial_sp;       /* libgcc: top of the first segment */
	size_t initial_len;     /* libgcc: its length, for the limit */
	int err;                /* errno while switched out */
	int pad;
};

void rt__switch(struct rt__ctx *from, struct rt__ctx *to);
void *rt__call_on_stack(void *(*fn)(void *), void *arg, void *sp);
void rt__task_entry(void);
/* errno's offset from the thread pointer (the same in every thread). */
extern long rt__errno_tpoff;

/* ------------------------------------------------------------------
 * Spinlock. Critical sections under it are a few instructions and make
 * no calls; it can be taken from task code (no syscalls in the common
 * path, and the yield syscall is inline, so it costs no stack).
 * ---------------------------------------------------------------- */
struct rt__spinlock {
	_Atomic uint32_t v;
};

static inline void rt__spin_lock(struct rt__spinlock *l)
{
	while (atomic_exchange_explicit(&l->v, 1, memory_order_acquire)) {
		unsigned n = 0;

		while (atomic_load_explicit(&l->v, memory_order_relaxed)) {
			sys_arch_relax();
			/* The holder may have been preempted by the kernel. */
			if (++n == 1024) {
				sys_syscall0(SYS_sched_yield);
				n = 0;
			}
		}
	}
}

static inline void rt__spin_unlock(struct rt__spinlock *l)
{
	atomic_store_explicit(&l->v, 0, memory_order_release);
}

/* ------------------------------------------------------------------
 * Tasks
 * ---------------------------------------------------------------- */
enum rt__task_state {
	RT_TASK_FREE = 0,       /* in a pool (mmap'd memory starts as this) */
	RT_TASK_RUNNABLE,       /* in a run queue, or being switched to */
	RT_TASK_RUNNING,
	RT_TASK_PARKING,        /* switching away to park; not yet saved */
	RT_TASK_PARKED,         /* saved; waits for rt__unpark */
	RT_TASK_DEAD,           /* ended; its worker frees it */
};

/* A task record. Kept out of the stack chunk (pool.c slabs), so that the
 * chunk can be small; 128 bytes, one per two cache lines. */
struct rt_task {
	struct rt__ctx ctx;
	_Atomic uint32_t state;     /* enum rt__task_state */
	uint32_t flags;             /* RT__TASK_* */
	void (*fn)(void *);
	void *arg;
	char *stack;                /* the first segment / mapped region,
				     * NULL until the task first runs */
	struct rt_task *next;       /* global queue, pool, wait lists */
	uint64_t id;
	unsigned vg_stack;          /* valgrind's id of a mapped stack */
} __attribute__((aligned(64)));

#define RT__TASK_MAIN 1u        /* rt_main's task: its end ends the run */

/* ------------------------------------------------------------------
 * Memory pools (pool.c): fixed-size objects carved out of mmap'd slabs,
 * a small cache per worker (no lock) in front of a global stack of
 * batches (spinlock). Memory goes back to the kernel only when the
 * runtime ends.
 * ---------------------------------------------------------------- */
struct rt__slab;

struct rt__pool {
	const char *name;
	size_t obj_size;            /* bytes per object */
	size_t link_off;            /* where a free object keeps its link */
	size_t hdr_off;             /* where the first object of a batch
				     * keeps two more words (batch header) */
	size_t slab_size;           /* bytes per slab */
	unsigned batch;             /* objects moved per cache refill */
	/* Called on a new slab (worker stack) before use: 0 or -errno. */
	int (*slab_init)(struct rt__pool *p, char *slab);
	struct rt__spinlock lock;   /* protects batches, nbatches, slabs */
	void *batches;              /* full (or, after a flush, partial)
				     * batches, each a list of objects */
	size_t nbatches;
	struct rt__slab *slabs;
};

struct rt__pool_cache {             /* owner only */
	void *free;                 /* a list of n (< = batch) objects */
	unsigned n;
	void *full;                 /* NULL or a list of `batch` objects */
};

/* Slow paths (pool.c). Both run in a few dozen bytes of stack: they are
 * called from task code on the task's first segment. */
void *rt__pool_refill(struct rt__pool *p, struct rt__pool_cache *c);
void rt__pool_spill(struct rt__pool *p, struct rt__pool_cache *c);
void rt__pool_flush(struct rt__pool *p, struct rt__pool_cache *c);

/* An object from the cache (refilled when empty), or NULL: -ENOMEM. */
static inline void *rt__pool_get(struct rt__pool *p, struct rt__pool_cache *c)
{
	void *obj = c->free;

	if (__builtin_expect(obj == NULL, 0))
		return rt__pool_refill(p, c);
	c->free = *(void **)((char *)obj + p->link_off);
	c->n--;
	return obj;
}

static inline void rt__pool_put(struct rt__pool *p, struct rt__pool_cache *c,
				void *obj)
{
	if (__builtin_expect(c->n == p->batch, 0))
		rt__pool_spill(p, c);
	*(void **)((char *)obj + p->link_off) = c->free;
	c->free = obj;
	c->n++;
}
/* Call fn on every object of every slab (teardown only). */
void rt__pool_each(struct rt__pool *p, void (*fn)(void *obj, void *arg),
		   void *arg);
/* Unmap every slab. No object may be in use. */
void rt__pool_destroy(struct rt__pool *p);
/* Number of slabs mapped so far. */
size_t rt__pool_slabs(struct rt__pool *p);

/* ------------------------------------------------------------------
 * Workers and the scheduler (sched.c)
 * ---------------------------------------------------------------- */
#define RT_RUNQ_SIZE 256u       /* local run queue slots (power of 2) */
#define RT_TRIM_SLOTS 1024u     /* parked tasks watched for trimming */
#define RT_TRIM_AFTER_NS (10 * 1000 * 1000)

enum rt__after {                /* what rt__finish_switch does with prev */
	RT_AFTER_NONE = 0,
	RT_AFTER_YIELD,         /* queue it */
	RT_AFTER_YIELD_GLOBAL,  /* queue it on the global queue */
	RT_AFTER_PARK,          /* publish it parked, run the unlock */
	RT_AFTER_EXIT,          /* free it */
};

struct rt_worker {
	/* Owner-only state. */
	struct rt_task *cur;        /* the running task; NULL: g0 runs */
	struct rt_task *prev;       /* switched away from, to finish */
	enum rt__after after;
	bool (*unlock)(void *);     /* RT_AFTER_PARK's callback */
	void *unlock_arg;
	struct rt__ctx g0;          /* the scheduler loop's context */
	unsigned id;
	unsigned node;              /* its node's position in the plan */
	int mem_node;               /* real node for its memory; -1: any */
	const int *steal_order;     /* the other workers, nearest first */
	unsigned tick;              /* schedules, for global-queue fairness */
	uint32_t rand;              /* victim choice */
	bool spinning;              /* counted in sched.nspinning */
	bool on_worker_stack;       /* inside rt_call_on_worker_stack */
	struct rt__pool_cache task_cache;
	struct rt__pool_cache stack_cache;
	struct rt__io *io;          /* its ring (io.c); NULL: none */
	/* Tasks that parked here keeping extra stack segments they do not
	 * use, and when: trimmed once parked for RT_TRIM_AFTER_NS. */
	struct {
		struct rt_task *t;
		int64_t since;
	} trim[RT_TRIM_SLOTS];      /* a ring, oldest at trim_head */
	unsigned trim_head, ntrim;
	struct rt_worker_stats st;  /* RT__STAT_INC only */
	int tid;
	unsigned vg_stack;          /* valgrind's id of the thread's stack */
	void *altstack;
	size_t altstack_size;
	struct sys_thread thread;

	/* The run queue (Go's runq): the owner puts at tail and takes at
	 * head; thieves take from head. head moves by CAS only. */
	alignas(64) _Atomic uint32_t head;
	_Atomic uint32_t tail;      /* written by the owner only */
	struct rt_task *_Atomic runq[RT_RUNQ_SIZE];

	/* Sleeping: the futex word (1: wake up) and the idle list link,
	 * both under sched.idle_lock except the word's reads. */
	alignas(64) _Atomic uint32_t sleep_word;
	struct rt_worker *idle_next;
	bool idle;
} __attribute__((aligned(64)));

/* Counters: written by the owner only, read by anyone (relaxed). */
#define RT__STAT_ADD(w, field, n)                                           \
	atomic_store_explicit((_Atomic uint64_t *)&(w)->st.field,           \
		atomic_load_explicit((_Atomic uint64_t *)&(w)->st.field,    \
				     memory_order_relaxed) + (n),           \
		memory_order_relaxed)
#define RT__STAT_INC(w, field) RT__STAT_ADD(w, field, 1)

/* The resolved configuration of the running runtime. */
struct rt__cfg {
	unsigned workers;
	enum rt_stack_kind stack;
	size_t segment_size;
	size_t segment_margin;
	size_t mapped_size;
	bool pin;
	bool stats;
	const char *placement;      /* rt_config.placement (caller's) */
};

/* config.c */
int rt__config_resolve(const struct rt_config *in, struct rt__cfg *out);
void rt__stats_print(const struct rt_worker_stats *st, unsigned n,
		     const struct rt__cfg *cfg);

/* The worker running the caller, or NULL. Read from TLS each time:
 * asm volatile, so the compiler can neither cache the value nor the
 * address across a switch. */
extern __thread struct rt_worker *rt__tls_worker
	__attribute__((tls_model("initial-exec")));

static inline struct rt_worker *rt__self(void)
{
	struct rt_worker *w;

	__asm__ volatile ("movq rt__tls_worker@gottpoff(%%rip), %0\n\t"
			  "movq %%fs:(%0), %0" : "=r" (w));
	return w;
}

/* The running task, or NULL. */
struct rt_task *rt__current(void);

/*
 * Mark every function that rt/ runs through rt_call_on_worker_stack.
 * Such a function calls non-split code (libc, syscalls/); if the compiler
 * inlined it (or a clone of rt_call_on_worker_stack specialised for it)
 * into its caller, the caller would call non-split code itself, and the
 * linker would make the caller ask for a 1 MiB segment at every call —
 * on the task's stack, which is exactly what the worker stack is for.
 */
#define RT__ON_WORKER_STACK __attribute__((noinline, noipa))

/*
 * Park the calling task. Once its context is saved, unlock(arg) runs (if
 * unlock is not NULL) on the worker, on whatever stack runs next — so it
 * must not call libc or yield; typically it releases the spinlock that
 * protects the wait list the task put itself on, so that any rt__unpark
 * made after the unlock finds the task parked. If unlock returns false,
 * the park is called off and the task resumes as if unparked at once.
 * Stops the program outside a task or from rt_call_on_worker_stack.
 */
void rt__park(bool (*unlock)(void *arg), void *arg);
/* Make a parked task runnable: onto the calling worker's queue (from a
 * task or the worker), else onto the global queue. Stops the program if
 * t is not parked (running, runnable, dead). */
void rt__unpark(struct rt_task *t);

/* rt__unpark without waking an idle worker: for a caller that wakes at
 * most one for a batch of tasks (io.c's reaper). */
void rt__unpark_nowake(struct rt_task *t);

/* Called by every context that resumes from rt__switch (see above). */
void rt__finish_switch(struct rt_worker *w);
/* First C code of a task (from rt__task_entry). */
__attribute__((noreturn)) void rt__task_main(struct rt_task *t);

/* Stop the program from task code: the message is formatted on the
 * worker stack. */
__attribute__((noreturn, format(printf, 1, 2)))
void rt__panic(const char *fmt, ...);

/* ------------------------------------------------------------------
 * I/O rings (io.c): the hooks the scheduler calls. All but rt__io_wake
 * and rt__io_due run on the worker's own scheduler context (g0).
 * ---------------------------------------------------------------- */
struct rt__io;
int rt__io_setup(unsigned nworkers);           /* rt_main, before workers */
void rt__io_teardown(void);                    /* rt_main, after them */
void rt__io_worker_start(struct rt_worker *w); /* the worker's thread */
void rt__io_worker_stop(struct rt_worker *w);
/* Reap what completed, without waiting; the number of tasks made
 * runnable (on w). Queued SQEs are submitted now when `submit` (the
 * caller has other work to run first), else left for rt__io_wait's
 * enter, which submits them and sleeps in one system call. */
unsigned rt__io_poll(struct rt_worker *w, bool submit);
/* Sleep in the ring until a completion, a wake (rt__io_wake) or
 * timeout_ns (< 0: none); -ETIMEDOUT, or 0. */
int rt__io_wait(struct rt_worker *w, int64_t timeout_ns);
/* The ring has work for g0 (queued SQEs, completions to reap, tasks
 * waiting for room). Cheap: no system call; any context of w. */
bool rt__io_due(struct rt_worker *w);
/* Completions wait to be reaped (a poll would make tasks runnable). */
bool rt__io_ready(struct rt_worker *w);
/* Requests of tasks are in flight on w's ring. */
bool rt__io_busy(struct rt_worker *w);
/* Wake v if it sleeps (or is about to) in its ring: false when v has no
 * ring (then its futex is the way). Any thread. */
bool rt__io_wake(struct rt_worker *v);
/* The last run's ring counters on stderr (THREADLAB_DEBUG=stats). */
void rt__io_stats_print(void);

/* ------------------------------------------------------------------
 * Stacks (stack.c)
 * ---------------------------------------------------------------- */
int rt__stack_setup(const struct rt__cfg *cfg);  /* per rt_main */
void rt__stack_teardown(void);
/* Give t a stack and a first context starting at rt__task_entry, from
 * w's cache (w: the calling worker, in a task or g0); 0 or -ENOMEM. */
int rt__stack_get(struct rt_worker *w, struct rt_task *t);
/* Take t's stack back (t has ended or is abandoned; nobody runs on it). */
void rt__stack_put(struct rt_worker *w, struct rt_task *t);
/* Free the extra segments t has grown but does not use now (t is parked
 * or switched out). Returns how many. */
unsigned rt__stack_trim(struct rt_worker *w, struct rt_task *t);
/* Whether t (switched out) keeps extra segments it does not use now. */
bool rt__stack_has_spare(struct rt_task *t);
/* Where t's stack is: [*lo, *hi), and the limit a fresh task starts
 * with (0 for mapped stacks). For tests and debugging. */
void rt__stack_bounds(struct rt_task *t, char **lo, char **hi, char **limit);
/* The task pool (records), set up by stack_setup as well. */
extern struct rt__pool rt__task_pool;

#endif

/*
 * rt/ — goroutine-like tasks: M:N on raw clone() workers, segmented stacks.
 *
 * rt_main() starts a runtime of `workers` kernel threads (sys_threads, one
 * per CPU by default) and runs fn(arg) as its first task. Tasks are
 * spawned with rt_go(), give way with rt_yield(), and end when their
 * function returns. A worker runs one task at a time, switching between
 * tasks in user space; idle workers steal half of a busy worker's run
 * queue; a worker with nothing to do sleeps on a futex.
 *
 * Stacks (docs/segmented-stacks.md):
 *   segmented  the default. A task starts on a small first segment
 *              (RT_SEGMENT_DEFAULT bytes, a knob) and grows through
 *              libgcc's __morestack: task code must be compiled with
 *              -fsplit-stack and linked with gold or lld (the Makefile
 *              and threadlab.pc do both).
 *   mapped     a region reserved per task (RT_MAPPED_DEFAULT, a knob),
 *              committed page by page as it is touched, with a guard
 *              page below it. For builds without split stacks
 *              (sanitizers, valgrind) and as the hot-split comparison.
 *
 * Rules for task code:
 *   - Calls into code not compiled with -fsplit-stack (libc: printf,
 *     malloc, ...) work, but on a segmented stack the linker makes each
 *     such call ask for a 1 MiB segment first (kept until the task ends).
 *     Run libc-heavy code with rt_call_on_worker_stack() instead. A call
 *     into non-split code through a function pointer is invisible to
 *     the linker and must go through rt_call_on_worker_stack().
 *   - errno is saved per task at every switch, but its address is not:
 *     glibc declares __errno_location() const, so the compiler may
 *     compute &errno once and reuse it after an rt_yield() that moved the
 *     task to another worker thread, where it is another thread's errno.
 *     Read errno right after the call that set it, with no rt_ call in
 *     between, or use RT_ERRNO. The same holds for the address of any
 *     __thread variable.
 *   - Signal handlers must be installed with SA_ONSTACK (every worker has
 *     its own sigaltstack: a task's first segment is far too small for a
 *     signal frame) and, in split-stack builds, be no_split_stack
 *     functions (or non-split code).
 *   - Scheduling is cooperative: a task that never yields, blocks or
 *     returns keeps its worker.
 *
 * Conventions as everywhere in threadlab: actions return 0 or -errno;
 * misuse (rt_yield outside a task, ...) stops the program with a message
 * naming the call.
 */
#ifndef THREADLAB_RT_H
#define THREADLAB_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rt_stack_kind {
	RT_STACK_DEFAULT = 0,   /* $THREADLAB_STACK, else segmented */
	RT_STACK_SEGMENTED = 1,
	RT_STACK_MAPPED = 2,
};

/* The first segment of a task's segmented stack, and the margin below
 * its limit that __morestack and no_split_stack code may use. Usable by
 * the task before it grows: size - margin (plus up to 256 bytes that
 * gcc lets small frames take below the limit): 512 bytes by default,
 * room for rt/'s own paths (a yield, a park, a spawn that gives way)
 * under a task function or two; a 1024-byte segment left 256 and made
 * ordinary tasks grow. A parked task costs its first segment plus its
 * 128-byte record. The margin: __morestack was measured writing 480
 * bytes below the limit at most (tests/rt/test_stack.c, margin_use).
 * docs/segmented-stacks.md has the measurements. */
#define RT_SEGMENT_DEFAULT        1280u
#define RT_SEGMENT_MARGIN_DEFAULT 768u
#define RT_SEGMENT_MIN            512u
#define RT_SEGMENT_MAX            (1u << 20)
#define RT_SEGMENT_MARGIN_MIN     512u
/* A mapped stack: reserved address space; memory is committed as the
 * task touches it. */
#define RT_MAPPED_DEFAULT         (256u * 1024)
#define RT_MAPPED_MIN             (16u * 1024)
#define RT_MAPPED_MAX             (1ul << 32)
#define RT_WORKERS_MAX            1024u

/*
 * Configuration. A zero field means "from the environment, else the
 * default":
 *   workers         THREADLAB_WORKERS=N       (1..RT_WORKERS_MAX; default:
 *                                              the online CPUs)
 *   stack           THREADLAB_STACK=segmented|mapped
 *   segment_size    THREADLAB_STACK_SEGMENT=BYTES  (first segment)
 *   segment_margin  THREADLAB_STACK_MARGIN=BYTES
 *   mapped_size     THREADLAB_STACK_SIZE=BYTES     (mapped stacks; k/m
 *                                                   suffixes accepted)
 *   pin             THREADLAB_PIN=0|1         (pin worker i to the i-th
 *                                              online CPU; default 1
 *                                              when workers <= CPUs)
 *   placement       THREADLAB_PLACEMENT=compact|spread|node=N
 *                                             (where workers run, from
 *                                              numa/'s plan over the
 *                                              topology, which
 *                                              THREADLAB_TOPOLOGY may
 *                                              emulate: docs/numa.md)
 *   stats           THREADLAB_DEBUG=stats     (print per-worker counters
 *                                              to stderr when rt_main
 *                                              returns)
 * A bad value (in a field or in the environment) makes rt_main print one
 * line saying which and why, and return -EINVAL.
 */
struct rt_config {
	unsigned workers;
	enum rt_stack_kind stack;
	size_t segment_size;
	size_t segment_margin;
	size_t mapped_size;
	int pin;                 /* 0: default; 1: pin; -1: do not pin */
	int stats;               /* 0: from THREADLAB_DEBUG; 1: print; -1: not */
	const char *placement;   /* NULL: from THREADLAB_PLACEMENT, else
				  * compact; must live while rt_main runs */
};

/*
 * Start the runtime, run fn(arg) as its first task, and return when fn
 * returns. Tasks still runnable or blocked at that moment are abandoned
 * (as goroutines are when main returns) and their memory freed. cfg may
 * be NULL (everything from the environment). May be called again after
 * it returns; not from inside a task.
 * RETURN VALUE: 0; -EINVAL bad configuration (a message says which);
 * -ENOMEM; -EAGAIN the kernel refused a worker thread; -ENOTSUP segmented
 * stacks requested but unusable here (a message says why); -EBUSY called
 * while a runtime runs.
 */
int rt_main(const struct rt_config *cfg, void (*fn)(void *arg), void *arg);

/*
 * Spawn a task running fn(arg). From a task, it goes onto the calling
 * worker's run queue; from any other thread while a runtime runs, onto
 * the global queue. When the caller's run queue is full, the caller
 * gives way (as rt_yield) before returning, so that a task spawning in a
 * loop cannot pile up unbounded work. RETURN VALUE: 0, -ENOMEM. Calling
 * it when no runtime runs stops the program.
 */
int rt_go(void (*fn)(void *arg), void *arg);

/* Let other tasks run; the caller stays runnable and may resume on
 * another worker. Outside a task: stops the program. */
void rt_yield(void);

/* true when the caller is a task. */
bool rt_in_task(void);
/* The index of the worker running the caller (0..workers-1), or -1 when
 * the caller is not on a worker. Changes across rt_yield(). */
int rt_worker_id(void);
/* The number of workers of the running runtime (0 when none runs). */
unsigned rt_workers(void);
/* The running task's id, unique within a run (the first task's is 1;
 * the others are not in spawn order); 0 outside tasks. */
uint64_t rt_task_id(void);
/* The stack strategy of the running runtime (or of the last one). */
enum rt_stack_kind rt_stack_kind(void);

/*
 * Run fn(arg) on the current worker's own stack (a big, ordinary thread
 * stack) and return its result: the way for task code to call libc
 * (printf, malloc, getaddrinfo, ...) without growing a segmented stack by
 * 1 MiB, and the only safe way to call non-split code through a function
 * pointer. fn must not yield or block (rt_yield and every blocking rt_
 * call stop the program when called from it). Outside a task (or when
 * already on the worker stack) fn is simply called. The cost is a few
 * nanoseconds.
 */
void *rt_call_on_worker_stack(void *(*fn)(void *arg), void *arg);

/*
 * Where the workers run. rt_main plans them with numa/ (topo_plan_make):
 * worker i is pinned to its planned CPU (when pinning is on), its stacks
 * and task records come from its node's memory, an idle worker steals
 * from the workers of its own node first and then from the nearest other
 * nodes (rt_steal_order), and the global queue is split per node: a
 * worker queues there on its own node's part and takes from it first.
 */
struct rt_placement {
	int cpu;                 /* CPU in the topology (may be emulated) */
	int real_cpu;            /* CPU it is pinned to here (if pinned) */
	int node;                /* node id in the topology */
	int mem_node;            /* real node its memory comes from; -1 any */
};
/* Worker i of the running runtime: 0, or -EINVAL (no such worker), or
 * -ESRCH (no runtime runs). */
int rt_worker_placement(unsigned i, struct rt_placement *out);
/* The order in which idle worker i looks at the others' run queues:
 * writes at most cap worker indexes; returns workers - 1, or -EINVAL /
 * -ESRCH as above. */
int rt_steal_order(unsigned i, int *order, int cap);

/* errno, read through a path the compiler cannot cache across a switch
 * (see the rules above). */
int *rt_errno_location(void);
#define RT_ERRNO (*rt_errno_location())

/* Per-worker counters. Each is written by its worker only; rt_stats may
 * read them while the runtime runs (values a moment old), and after
 * rt_main returns it reports the last run's final counts. */
struct rt_worker_stats {
	uint64_t spawned;        /* rt_go calls made on this worker */
	uint64_t tasks_run;      /* tasks started on this worker */
	uint64_t exited;         /* tasks that ended on this worker */
	uint64_t switches;       /* switches into a task */
	uint64_t yields;         /* rt_yield calls that gave way */
	uint64_t parks;          /* tasks parked */
	uint64_t unparks;        /* tasks made runnable again by this worker */
	uint64_t steals;         /* successful steals from another worker */
	uint64_t stolen;         /* tasks taken by those steals */
	uint64_t global_gets;    /* tasks taken from the global queue */
	uint64_t sleeps;         /* times the worker slept on its futex */
	uint64_t wakes;          /* idle workers this worker woke */
	uint64_t segments;       /* extra stack segments (libgcc's) the tasks
				  * that ended or parked here had grown */
	uint64_t stack_maps;     /* slabs of stacks mapped from the kernel */
	uint64_t worker_stack_calls; /* rt_call_on_worker_stack switches */
};

/* Copy up to `max` workers' counters into out[]; returns the number of
 * workers (of the running runtime, else of the last one; 0 if none ran). */
unsigned rt_stats(struct rt_worker_stats *out, unsigned max);
/* Sum of every worker's counters. */
void rt_stats_total(struct rt_worker_stats *out);

#endif

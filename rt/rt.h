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
#include <sys/socket.h>
#include <sys/types.h>

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

/* ==================================================================
 * Go's concurrency vocabulary: channels, select, sync, time, contexts,
 * worker pools (docs/channels.md, docs/sync.md, docs/time.md).
 *
 * Every call that blocks parks the calling task — its worker runs other
 * tasks meanwhile — and must be made from a task: made anywhere else it
 * stops the program with a message naming the call. Calls that never
 * block (rt_chan_try_send, rt_chan_close, rt_mutex_unlock, rt_wg_add,
 * rt_ctx_cancel, ...) work from any thread while a runtime runs.
 * Misuse that Go makes a panic (send on a closed channel, closing one
 * twice, unlocking an unlocked mutex, a negative wait-group counter)
 * stops the program with a message naming the call. Objects are freed
 * explicitly (C has no garbage collector): free one only when no task
 * uses it any more.
 * ================================================================== */

/* ------------------------------------------------------------------
 * Time (rt/timer.c). Times are CLOCK_MONOTONIC nanoseconds.
 * ---------------------------------------------------------------- */
#define RT_NSEC    1ll
#define RT_USEC    1000ll
#define RT_MSEC    1000000ll
#define RT_SEC     1000000000ll
#define RT_FOREVER INT64_MAX   /* a deadline that never comes */

/* The time now (any thread; no system call: the vDSO). */
int64_t rt_now(void);
/* Park the calling task for at least `ns` (<= 0: return at once) / until
 * `deadline`. 0, or -ENOMEM (no room in the timer heap). */
int rt_sleep(int64_t ns);
int rt_sleep_until(int64_t deadline);

/* ------------------------------------------------------------------
 * Channels (rt/chan.c): Go's chan of fixed-size elements, copied in and
 * out by value. cap 0: unbuffered (a send waits for a receiver).
 * ---------------------------------------------------------------- */
struct rt_chan;
#define RT_CHAN_ELEM_MAX (1u << 16)

/* A channel of `cap` elements of `elem_size` bytes (0 is fine: a channel
 * of signals, Go's chan struct{}). NULL: out of memory (the only
 * failure; elem_size > RT_CHAN_ELEM_MAX stops the program). */
struct rt_chan *rt_chan_new(size_t elem_size, size_t cap);
/* Free c. No task may wait on it or use it after (stops the program if
 * one waits). Tasks whose select completed through another channel and
 * that have not yet taken their waiters off c are waited for: c may be
 * freed as soon as the other side of a select has been woken. NULL is
 * ignored. */
void rt_chan_free(struct rt_chan *c);
/* Send the element at `elem`: blocks until a receiver takes it or there
 * is room in the buffer. On a closed channel (also when it is closed
 * while the sender waits) or c == NULL: stops the program. */
void rt_chan_send(struct rt_chan *c, const void *elem);
/* Receive into `elem` (NULL: drop it). true: a value was received;
 * false: c is closed and drained, and *elem is zero-filled (Go's
 * v, ok := <-c). c == NULL stops the program. */
bool rt_chan_recv(struct rt_chan *c, void *elem);
/* Without blocking (select with default): 0, or -EAGAIN when it would
 * block (also when c is NULL). try_recv sets *ok as rt_chan_recv's
 * result. */
int rt_chan_try_send(struct rt_chan *c, const void *elem);
int rt_chan_try_recv(struct rt_chan *c, void *elem, bool *ok);
/* With a deadline (rt_now() based; RT_FOREVER: none): 0, or -ETIMEDOUT
 * when the deadline passed first. */
int rt_chan_send_until(struct rt_chan *c, const void *elem,
		       int64_t deadline);
int rt_chan_recv_until(struct rt_chan *c, void *elem, bool *ok,
		       int64_t deadline);
/* Close c: receivers get the buffered values, then `false`; every task
 * waiting on c wakes (blocked senders stop the program, as in Go).
 * Closing twice, or c == NULL: stops the program. */
void rt_chan_close(struct rt_chan *c);
/* Buffered elements now; capacity; element size. */
size_t rt_chan_len(struct rt_chan *c);
size_t rt_chan_cap(struct rt_chan *c);
size_t rt_chan_elem_size(struct rt_chan *c);

/* Send a value of type T: rt_chan_sendv(c, int, 42). */
#define rt_chan_sendv(c, T, v) rt_chan_send((c), &(T){ (v) })

/* ------------------------------------------------------------------
 * select (rt/chan.c): wait on several channel operations, do exactly one.
 * ---------------------------------------------------------------- */
enum rt_select_dir {
	RT_SELECT_RECV = 1,
	RT_SELECT_SEND = 2,
};

struct rt_select_case {
	struct rt_chan *c;          /* NULL: never ready (Go's nil channel) */
	enum rt_select_dir dir;
	bool ok;                    /* out, receive: as rt_chan_recv's */
	void *elem;                 /* send: the value; receive: where the
				     * value goes (NULL: drop it) */
	void *rt_private[8];        /* rt/'s; the case's waiter record */
};

#define RT_CASE_RECV(ch, p)                                                 \
	((struct rt_select_case){ .c = (ch), .dir = RT_SELECT_RECV,         \
				  .elem = (p) })
#define RT_CASE_SEND(ch, p)                                                 \
	((struct rt_select_case){ .c = (ch), .dir = RT_SELECT_SEND,         \
				  .elem = (void *)(p) })

/* timeout_ns for rt_select: */
#define RT_SELECT_BLOCK    (-1)   /* wait for ever (no default case) */
#define RT_SELECT_NONBLOCK 0      /* Go's default case */

/*
 * Do one of the n cases that can proceed, chosen uniformly at random
 * among those ready (as Go does), and return its index; a receive case
 * has its `ok` set. If none is ready: with RT_SELECT_NONBLOCK return
 * -EAGAIN at once (the default case); with RT_SELECT_BLOCK wait until
 * one is; with timeout_ns > 0 wait at most that long, then return
 * -ETIMEDOUT. rt_select_until takes a deadline instead (RT_FOREVER:
 * none). No case (n == 0, or every c NULL) and no timeout: blocks for
 * ever, as Go's select {}. A send case on a closed channel stops the
 * program (as Go panics). -ENOMEM: no room for the timeout's timer.
 */
int rt_select(struct rt_select_case *cases, size_t n, int64_t timeout_ns);
int rt_select_until(struct rt_select_case *cases, size_t n,
		    int64_t deadline);

/* ------------------------------------------------------------------
 * Sync (rt/sync.c): Go's sync package for tasks. Every object is ready
 * when zero-filled (static, or = { 0 }); none needs a destroy call. Their
 * fields are rt/'s.
 * ---------------------------------------------------------------- */

/* A lock-protected count and FIFO of parked tasks (internal; here only
 * because the objects below embed it). */
struct rt__sema {
	_Atomic uint32_t lock;
	uint32_t count;
	void *head, *tail;
};

/* Mutex (Go's sync.Mutex, with its starvation mode): a task that waited
 * more than 1 ms switches the mutex to FIFO hand-off until the queue
 * drains, so no waiter waits for ever (docs/sync.md). */
struct rt_mutex {
	_Atomic uint32_t state;
	struct rt__sema sema;
};
void rt_mutex_lock(struct rt_mutex *m);
bool rt_mutex_trylock(struct rt_mutex *m);
/* Unlocking an unlocked mutex stops the program. Any task may unlock. */
void rt_mutex_unlock(struct rt_mutex *m);

/* Reader/writer mutex (Go's sync.RWMutex): a writer waiting blocks new
 * readers, so writers are not starved. */
struct rt_rwmutex {
	struct rt_mutex w;
	struct rt__sema wsem, rsem;
	_Atomic int32_t readers;    /* minus RT__RW_MAX while a writer is */
	_Atomic int32_t departing;  /* readers the waiting writer waits for */
};
void rt_rwmutex_rlock(struct rt_rwmutex *rw);
void rt_rwmutex_runlock(struct rt_rwmutex *rw);
void rt_rwmutex_lock(struct rt_rwmutex *rw);
void rt_rwmutex_unlock(struct rt_rwmutex *rw);

/* Wait group (Go's sync.WaitGroup). A negative counter stops the
 * program. */
struct rt_wg {
	_Atomic uint64_t state;     /* counter << 32 | waiters */
	struct rt__sema sema;
};
void rt_wg_add(struct rt_wg *wg, int delta);
void rt_wg_done(struct rt_wg *wg);
void rt_wg_wait(struct rt_wg *wg);

/* Once (Go's sync.Once): fn(arg) runs once; every caller returns after
 * it has. */
struct rt_once {
	_Atomic uint32_t done;
	struct rt_mutex m;
};
void rt_once(struct rt_once *o, void (*fn)(void *arg), void *arg);

/* Counting semaphore (FIFO). Zero-filled: no permits; rt_sem_init sets
 * a count (before any task uses it). */
struct rt_sem {
	struct rt__sema s;
};
void rt_sem_init(struct rt_sem *s, unsigned permits);
void rt_sem_acquire(struct rt_sem *s);
bool rt_sem_try_acquire(struct rt_sem *s);
void rt_sem_release(struct rt_sem *s);

/* Condition variable (Go's sync.Cond, with the mutex passed to wait). */
struct rt_cond {
	_Atomic uint32_t lock;
	_Atomic uint32_t wait;      /* tickets handed out */
	_Atomic uint32_t notify;    /* tickets notified */
	void *head, *tail;
};
void rt_cond_wait(struct rt_cond *c, struct rt_mutex *m);
void rt_cond_signal(struct rt_cond *c);
void rt_cond_broadcast(struct rt_cond *c);

/* ------------------------------------------------------------------
 * Timers and tickers (rt/timer.c): Go's time.Timer, time.Ticker and
 * time.AfterFunc. Their channel has room for one element, an int64_t:
 * the rt_now() of the firing; a tick nobody has taken yet is dropped.
 * Stop and reset discard a value not yet received (Go 1.23's rule).
 * Made and reset from tasks; NULL: out of memory. Like tasks, timers
 * belong to one run of rt_main: free them before it returns (a timer
 * still armed then is forgotten, and must not be used again).
 * ---------------------------------------------------------------- */
struct rt_timer;
struct rt_timer *rt_timer_new(int64_t ns);          /* fires once */
struct rt_timer *rt_ticker_new(int64_t period);     /* every period */
/* Fires once, running fn(arg) in a new task. */
struct rt_timer *rt_timer_func(int64_t ns, void (*fn)(void *arg),
			       void *arg);
struct rt_chan *rt_timer_chan(struct rt_timer *t);  /* NULL for _func */
/* true: the timer was pending and now will not fire. */
bool rt_timer_stop(struct rt_timer *t);
/* Arm again to fire in ns (a ticker: every ns); true if it was
 * pending. */
bool rt_timer_reset(struct rt_timer *t, int64_t ns);
void rt_ticker_reset(struct rt_timer *t, int64_t period);
/* Stop and free. */
void rt_timer_free(struct rt_timer *t);

/* ------------------------------------------------------------------
 * Contexts (rt/context.c): Go's context.Context for cancellation and
 * deadlines. Cancelling a context cancels its children; its done channel
 * is closed then, so a receive case on it in rt_select fires.
 * ---------------------------------------------------------------- */
struct rt_ctx;
/* The root: never cancelled; its done channel is NULL (never ready). */
struct rt_ctx *rt_ctx_background(void);
/* Children of parent; NULL: out of memory. */
struct rt_ctx *rt_ctx_with_cancel(struct rt_ctx *parent);
struct rt_ctx *rt_ctx_with_deadline(struct rt_ctx *parent,
				    int64_t deadline);
struct rt_ctx *rt_ctx_with_timeout(struct rt_ctx *parent, int64_t ns);
/* Cancel c and every descendant (their err: -ECANCELED). Idempotent. */
void rt_ctx_cancel(struct rt_ctx *c);
/* Cancel c and drop the caller's reference (Go's `defer cancel()`);
 * no task may use c afterwards. Children keep their parent's memory
 * alive until they are freed. */
void rt_ctx_free(struct rt_ctx *c);
/* Closed when c is cancelled (elements of size 0). */
struct rt_chan *rt_ctx_done(struct rt_ctx *c);
/* 0 while not cancelled; -ECANCELED; -ETIMEDOUT (deadline exceeded). */
int rt_ctx_err(struct rt_ctx *c);
/* true and *deadline when c (or an ancestor) has a deadline. */
bool rt_ctx_deadline(struct rt_ctx *c, int64_t *deadline);

/* ------------------------------------------------------------------
 * Worker pool (rt/workpool.c): n tasks, each receiving jobs from `jobs`
 * until it is closed and drained, calling fn(arg, worker, job, result)
 * and sending the result to `results` (NULL: none). When the last
 * worker ends, `results` is closed. Element sizes are the channels'.
 * ---------------------------------------------------------------- */
struct rt_workpool;
/* NULL: out of memory (no worker started). From a task. */
struct rt_workpool *rt_workpool_start(unsigned n, struct rt_chan *jobs,
				      struct rt_chan *results,
				      void (*fn)(void *arg, unsigned worker,
						 const void *job,
						 void *result),
				      void *arg);
/* Wait until every worker has ended, then free the pool. */
void rt_workpool_wait(struct rt_workpool *p);

/* printf(3) to stdout from a task, run on the worker's stack (see the
 * rules above): what the examples use. */
__attribute__((format(printf, 1, 2)))
int rt_printf(const char *fmt, ...);

/* ==================================================================
 * I/O on io_uring (rt/io.c, docs/io.md).
 *
 * Each worker has its own ring, made by the worker on its own thread
 * (SINGLE_ISSUER|DEFER_TASKRUN|COOP_TASKRUN where the kernel has them).
 * A call below puts one request (an SQE) on the ring of the worker
 * running the caller and parks the task; the worker submits the
 * requests of all its tasks together when it has nothing else to run
 * (or every 61st schedule), reaps the completions and makes their tasks
 * runnable again — on any worker, since a task may be stolen after it
 * wakes. A worker with nothing to run sleeps inside its ring.
 *
 * Every call is made from a task (elsewhere it stops the program, as
 * does a call from inside rt_call_on_worker_stack). RETURN VALUE: what
 * the system call of the same name returns (a file descriptor, a byte
 * count, 0), or -errno; nothing reads or sets errno. -ENOSYS: the worker
 * running the task has no ring (io_uring disabled, THREADLAB_IO=off).
 * Sockets are blocking ones (the ring waits for them to be ready);
 * SIGPIPE: pass MSG_NOSIGNAL to the sends.
 *
 * Deadlines (the _until calls): `deadline` is an rt_now() time (RT_FOREVER
 * for none). The request is linked to an IORING_OP_LINK_TIMEOUT at that
 * absolute CLOCK_MONOTONIC time; when it fires first the kernel cancels
 * the request and the call returns -ETIMEDOUT (io_uring says -ECANCELED;
 * rt/ translates, so -ECANCELED from an _until call means something else
 * cancelled it). A receive that timed out has consumed nothing; a send
 * cut by its deadline may have sent part of its bytes (count them by
 * what the peer got, or treat the connection as lost).
 * ================================================================== */

/* 0 when the calling task's worker has a ring; -ENOSYS (or why the ring
 * could not be made: -EPERM io_uring disabled, -ENOMEM) if not; -ESRCH
 * outside the runtime's workers. */
int rt_io_available(void);

/* A new socket (IORING_OP_SOCKET; the system call before Linux 5.19). */
int rt_socket(int domain, int type, int protocol);
/* setsockopt(2) on the ring (SOCKET_URING_OP_SETSOCKOPT, Linux 6.7;
 * before that the system call, found out once). */
int rt_setsockopt(int fd, int level, int optname, const void *val,
		  socklen_t len);
int rt_connect(int fd, const struct sockaddr *addr, socklen_t len);
int rt_connect_until(int fd, const struct sockaddr *addr, socklen_t len,
		     int64_t deadline);
ssize_t rt_recv(int fd, void *buf, size_t len, int flags);
ssize_t rt_recv_until(int fd, void *buf, size_t len, int flags,
		      int64_t deadline);
ssize_t rt_send(int fd, const void *buf, size_t len, int flags);
ssize_t rt_send_until(int fd, const void *buf, size_t len, int flags,
		      int64_t deadline);
/* The vectored send. *msg and what it points to must stay valid until
 * the call returns (they do: the caller is parked). */
ssize_t rt_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t rt_sendmsg_until(int fd, const struct msghdr *msg, int flags,
			 int64_t deadline);
/*
 * A request and its reply in one round trip on the ring: sendmsg(msg)
 * and, linked after it, recv(buf, len) — one park, one submission, for
 * protocols that send a command and wait for the answer. Returns what
 * the receive returns; *sent gets what the send returned. When the send
 * fails or ends short (the ring retries short sends, MSG_WAITALL), the
 * receive is not made and the call returns -ECANCELED: *sent says how
 * far the send got. The deadline covers the receive (a send blocks only
 * when the peer stops reading).
 */
ssize_t rt_sendmsg_recv(int fd, const struct msghdr *msg, int sflags,
			void *buf, size_t len, int rflags, ssize_t *sent);
ssize_t rt_sendmsg_recv_until(int fd, const struct msghdr *msg, int sflags,
			      void *buf, size_t len, int rflags,
			      ssize_t *sent, int64_t deadline);
/* pread/pwrite at `off`; off -1: at (and moving) the file position. */
ssize_t rt_read(int fd, void *buf, size_t len, int64_t off);
ssize_t rt_read_until(int fd, void *buf, size_t len, int64_t off,
		      int64_t deadline);
ssize_t rt_write(int fd, const void *buf, size_t len, int64_t off);
int rt_openat(int dirfd, const char *path, int flags, mode_t mode);
int rt_fsync(int fd);
int rt_renameat(int olddirfd, const char *oldpath, int newdirfd,
		const char *newpath);
int rt_unlinkat(int dirfd, const char *path, int flags);
int rt_shutdown(int fd, int how);
int rt_close(int fd);

/*
 * Listening sockets. rt_listen makes a TCP socket bound to addr (with
 * SO_REUSEADDR) and listening (backlog <= 0: SOMAXCONN): 0 and *out, or
 * -errno. Callable from a task or from any thread (it makes ordinary
 * system calls, on the worker stack). Port 0 picks a free port:
 * getsockname(rt_listener_fd(l), ...) says which.
 *
 * rt_accept waits for a connection: a new socket (SOCK_CLOEXEC,
 * blocking), or -errno; -ECANCELED after rt_listener_shutdown;
 * rt_accept_until also -ETIMEDOUT. The first call arms one multishot
 * accept on the ring of its worker, which then accepts every connection
 * as it comes (one SQE, one completion per connection), handing each to
 * the longest-waiting rt_accept or keeping it until one is called. On a
 * kernel without multishot accept (before 5.19) one accept is armed at
 * a time. Many tasks may accept on one listener.
 *
 * rt_listener_shutdown stops listening: waiting and later rt_accepts
 * return -ECANCELED; connections accepted and not yet taken are closed
 * by rt_listener_close. Both may be called from any task (and
 * shutdown from any thread). rt_listener_close (from a task) waits until
 * the ring is done with the listener, then frees it and closes its
 * socket; no task may be in rt_accept on it.
 */
struct rt_listener;
int rt_listen(const struct sockaddr *addr, socklen_t len, int backlog,
	      struct rt_listener **out);
int rt_listener_fd(const struct rt_listener *l);
int rt_accept(struct rt_listener *l);
int rt_accept_until(struct rt_listener *l, int64_t deadline);
void rt_listener_shutdown(struct rt_listener *l);
int rt_listener_close(struct rt_listener *l);

/* Operations counted per worker (RT_IO_WAKE: the eventfd reads that let
 * other threads wake a worker sleeping in its ring; RT_IO_TIMEOUT: the
 * linked timeouts of the _until calls; RT_IO_CANCEL: at shutdown). */
enum rt_io_op {
	RT_IO_WAKE, RT_IO_TIMEOUT, RT_IO_CANCEL, RT_IO_SOCKET, RT_IO_ACCEPT,
	RT_IO_CONNECT, RT_IO_RECV, RT_IO_SEND, RT_IO_SENDMSG, RT_IO_READ,
	RT_IO_WRITE, RT_IO_OPENAT, RT_IO_FSYNC, RT_IO_RENAMEAT,
	RT_IO_UNLINKAT, RT_IO_CLOSE, RT_IO_SETSOCKOPT, RT_IO_SHUTDOWN,
	RT_IO_NOPS
};
const char *rt_io_op_name(enum rt_io_op op);

/* Per-worker io_uring counters (all 64-bit, each written by its worker
 * only; read like rt_stats). */
struct rt_io_stats {
	uint64_t ring;           /* 1: the worker has a ring (a sum: how
				  * many do) */
	uint64_t setup_flags;    /* IORING_SETUP_* the ring was made with */
	uint64_t features;       /* IORING_FEAT_* the kernel reported */
	int64_t setup_error;     /* no ring: why (-errno) */
	uint64_t ops[RT_IO_NOPS];/* SQEs by type */
	uint64_t submitted;      /* all SQEs */
	uint64_t completions;    /* CQEs reaped */
	uint64_t enters;         /* io_uring_enter system calls */
	uint64_t waits;          /* of which slept waiting (idle) */
	uint64_t wake_writes;    /* eventfd writes to wake another worker */
};
unsigned rt_io_stats(struct rt_io_stats *out, unsigned max);
/* Sums over the workers; setup_flags, features and setup_error are
 * worker 0's. */
void rt_io_stats_total(struct rt_io_stats *out);
/* "SINGLE_ISSUER|DEFER_TASKRUN|..." for setup_flags, into buf; the
 * length it needs (as snprintf). */
size_t rt_io_setup_name(uint64_t flags, char *buf, size_t len);

#endif

/*
 * rt/io.c — I/O for tasks on io_uring: one ring per worker.
 *
 * Rings. Every worker creates its own ring, on its own thread, when it
 * starts (rt__io_worker_start), asking for SINGLE_ISSUER|DEFER_TASKRUN|
 * COOP_TASKRUN|TASKRUN_FLAG (and SUBMIT_ALL): one thread submits, and
 * completions are posted only when that thread asks for them, so the
 * kernel never interrupts a worker to run io_uring's task work. A kernel
 * that refuses a flag gets the same request without it, flag by flag
 * (DEFER_TASKRUN, then SINGLE_ISSUER, then COOP_TASKRUN with
 * TASKRUN_FLAG, then SUBMIT_ALL); what was accepted is in rt_io_stats.
 * A worker whose ring cannot be made at all (io_uring disabled) runs
 * without one: the rt_ I/O calls made on it return -ENOSYS, and it
 * sleeps on its futex as before.
 *
 * A task's I/O. The task fills an SQE on the ring of the worker running
 * it, with the address of a wait record on its own stack as user_data,
 * and parks. It does not enter the kernel: the SQE waits in the ring
 * until the worker's scheduler context (g0) submits everything queued at
 * once — when the worker has nothing else to run, and every 61st
 * schedule on a busy worker (sched.c's next_local sends the switching
 * task through g0 when rt__io_due says the ring has work). Only g0
 * calls io_uring_enter and reaps completions, so a completion is always
 * reaped by the ring's owner; it fills in the wait record and makes the
 * task runnable on that worker, from where any worker may steal it. A
 * task never touches another worker's ring: after it parks it may resume
 * anywhere, and its next SQE goes on the ring of the worker it is on
 * then.
 *
 * Parking on a completion. The wait record's state goes from WAITING
 * either to PARKED (by the park's unlock callback, once the task is
 * saved) or to DONE (by the reaper). Whoever comes second acts: the
 * reaper unparks a PARKED task; the unlock callback that finds DONE
 * calls the park off and the task goes on at once. So a completion
 * reaped while its task is still switching away — g0 reaps, a timer
 * callback completes an accept — is never lost and never unparks a task
 * that is not parked yet.
 *
 * The idle wait. A worker with nothing to run sleeps in
 * io_uring_enter(GETEVENTS, min_complete 1), with the timeout sched.c
 * gives it (the next timer, the trim interval): an I/O completion wakes
 * it directly. Other workers (and threads outside the runtime) wake it
 * through an eventfd: each ring always has a read of its worker's
 * eventfd in flight, re-armed whenever it completes, and a waker writes
 * the eventfd (rt__io_wake). An eventfd rather than IORING_OP_MSG_RING
 * from the waker's ring: the waker may be any thread — one outside the
 * runtime, or a worker without a ring — and MSG_RING would need the
 * waker to own a ring and enter it at once, a system call all the same.
 *
 * What strace cannot see: a task's sends, receives, accepts and connects
 * are SQEs, not system calls. strace shows only the io_uring_enter that
 * carries a batch of them (and the eventfd writes that wake workers), so
 * rt_io_stats counts the operations by type and the enters.
 *
 * Shared state and its protection:
 *   struct rt__io (a worker's ring, its counts, its room list)
 *                       its worker only (g0 and the tasks it runs); the
 *                       counters are read by anyone (relaxed atomics);
 *                       efd is fixed while the worker runs
 *   struct rt_listener  l->lock, a leaf spinlock taken before sched.c's
 *                       locks (a completion made under it may queue a
 *                       task); never held across a park or a syscall
 *   wait records        the task's own stack; the reaper or a timer
 *                       callback writes res and flags before the state
 *                       CAS, and never touches the record after it
 *   iog                 written by rt_main before the workers start and
 *                       after they end; the workers' slots by each worker
 *   iog.sockopt         atomic: whether the ring does setsockopt
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "vocab.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define IO_SQ_ENTRIES  1024u
#define IO_CQ_ENTRIES  8192u
#define IO_DRAIN_NS    (1000ll * 1000 * 1000)  /* worker stop: cancel wait */

/* user_data: a pointer (8-aligned) with a tag in its low bits. */
#define TAG_WAIT     0ul         /* struct io_wait * */
#define TAG_WAKE     1ul         /* the eventfd read */
#define TAG_IGNORE   2ul         /* linked timeouts, cancels */
#define TAG_LISTENER 3ul         /* struct rt_listener * */
#define TAG_PART     4ul         /* struct io_wait *: the send of a
				  * send-then-receive pair (res2) */
#define TAG_PART_SKIP 5ul        /* the same, its CQE skipped on success:
				  * only a failed send posts one, and then
				  * stands for the pair's (the receive,
				  * cancelled, posts none) */
#define TAG_MASK     7ul

/* The kernel's socket commands for IORING_OP_URING_CMD (Linux 6.7;
 * newer than this system's headers). */
#define IO_SOCKET_URING_OP_SETSOCKOPT 3u

enum { WAIT_WAITING = 0, WAIT_PARKED, WAIT_DONE };

/* A send-then-receive pair completes when both CQEs are in (PAIR_BOTH),
 * or, when the send's CQE is skipped on success (IOSQE_CQE_SKIP_SUCCESS,
 * PAIR_SKIP), with the first CQE: the receive's when the send succeeded,
 * else the send's — a link whose head has CQE_SKIP_SUCCESS and fails
 * posts no CQE for the requests it cancels (liburing's test/skip-cqe.c,
 * test_link_fail, pins that down since 5.17). */
enum { PAIR_NONE = 0, PAIR_BOTH, PAIR_SKIP };
#define SEEN_SEND 1u
#define SEEN_RECV 2u

/* A task waiting for its completions; on the task's stack. */
struct io_wait {
	struct rt_task *task;
	int32_t res;                     /* the (last) operation's result */
	uint32_t cqe_flags;
	int32_t res2;                    /* the send of a pair (TAG_PART) */
	uint8_t pair;                    /* PAIR_*: what completes it */
	uint8_t seen;                    /* SEEN_*: a pair's CQEs so far
					  * (both: the ring's owner only) */
	_Atomic uint32_t state;          /* WAIT_* */
	struct io_wait *next;            /* room list, listener waiters */
};

struct rt__io {
	struct io_uring ring;
	int efd;                         /* the wake eventfd */
	uint64_t efd_buf;                /* where the armed read puts it */
	unsigned inflight;               /* requests whose last CQE is to
					  * come, the eventfd read included */
	struct io_wait *room;            /* tasks waiting for SQ room */
	uint8_t ops[32];                 /* IORING_OP_* supported (bits) */
	struct rt_io_stats st;
} __attribute__((aligned(64)));

struct rt_listener {
	int fd;
	struct rt__spinlock lock;        /* everything below */
	bool armed;                      /* an accept is in flight */
	bool multishot;                  /* multishot accept (else one at a
					  * time) */
	bool got_one;                    /* a connection came: multishot
					  * works */
	bool closed;                     /* rt_listener_shutdown was called */
	int err;                         /* for the next rt_accept, or 0 */
	int *q;                          /* accepted, not yet taken: a ring */
	unsigned qhead, qlen, qcap;
	struct io_wait *waiters;         /* FIFO of tasks in rt_accept */
	struct io_wait *closer;          /* rt_listener_close waits here */
};

static struct {
	unsigned n;
	struct rt__io *io;               /* n slots, one per worker */
	struct rt_io_stats *last;        /* the last run's, for rt_io_stats */
	unsigned nlast;
	_Atomic int sockopt;             /* 0: untried; 1: ring; -1: syscall */
} iog;

/* Counters: written by the owner only, read by anyone (relaxed). */
#define IO_STAT_ADD(io, field, n)                                           \
	atomic_store_explicit((_Atomic uint64_t *)&(io)->st.field,          \
		atomic_load_explicit((_Atomic uint64_t *)&(io)->st.field,   \
				     memory_order_relaxed) + (n),           \
		memory_order_relaxed)

static const char *const op_names[RT_IO_NOPS] = {
	[RT_IO_WAKE] = "wake", [RT_IO_TIMEOUT] = "timeout",
	[RT_IO_CANCEL] = "cancel", [RT_IO_SOCKET] = "socket",
	[RT_IO_ACCEPT] = "accept", [RT_IO_CONNECT] = "connect",
	[RT_IO_RECV] = "recv", [RT_IO_SEND] = "send",
	[RT_IO_SENDMSG] = "sendmsg", [RT_IO_READ] = "read",
	[RT_IO_WRITE] = "write", [RT_IO_OPENAT] = "openat",
	[RT_IO_FSYNC] = "fsync", [RT_IO_RENAMEAT] = "renameat",
	[RT_IO_UNLINKAT] = "unlinkat", [RT_IO_CLOSE] = "close",
	[RT_IO_SETSOCKOPT] = "setsockopt", [RT_IO_SHUTDOWN] = "shutdown",
};

const char *rt_io_op_name(enum rt_io_op op)
{
	return (unsigned)op < RT_IO_NOPS ? op_names[op] : "?";
}

static bool op_supported(const struct rt__io *io, unsigned op)
{
	return op < 256 && (io->ops[op / 8] >> (op % 8) & 1);
}

/* ------------------------------------------------------------------
 * Submitting and reaping (the owner's thread)
 * ---------------------------------------------------------------- */

/* SQEs filled and not yet handed to the kernel. */
static inline unsigned io_queued(const struct rt__io *io)
{
	return io->ring.sq.sqe_tail - io->ring.sq.sqe_head;
}

/* Make the filled SQEs visible to the kernel; how many it has not
 * consumed yet (as liburing's __io_uring_flush_sq). */
static unsigned io_flush(struct rt__io *io)
{
	struct io_uring_sq *sq = &io->ring.sq;
	unsigned tail = sq->sqe_tail;

	if (sq->sqe_head != tail) {
		sq->sqe_head = tail;
		/* The SQEs' contents before the tail that publishes them. */
		io_uring_smp_store_release(sq->ktail, tail);
	}
	return tail - IO_URING_READ_ONCE(*sq->khead);
}

/* io_uring_enter, raw: no libc, so it may run on any stack. */
static int io_enter(struct rt__io *io, unsigned min_complete, unsigned flags,
		    const void *arg, size_t argsz)
{
	unsigned submit = io_flush(io);
	long r;

	r = sys_syscall6(SYS_io_uring_enter, io->ring.ring_fd, submit,
			 min_complete, flags, (long)arg, (long)argsz);
	IO_STAT_ADD(io, enters, 1);
	return (int)r;
}

/* Whether completions wait in the kernel for an enter with GETEVENTS
 * (deferred task work, or an overflowed CQ). */
static inline bool io_kernel_has_cqes(const struct rt__io *io)
{
	return IO_URING_READ_ONCE(*io->ring.sq.kflags) &
	       (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW);
}

bool rt__io_due(struct rt_worker *w)
{
	struct rt__io *io = w->io;

	return io && (io_queued(io) || io->room || io_kernel_has_cqes(io) ||
		      io_uring_cq_ready(&io->ring));
}

bool rt__io_ready(struct rt_worker *w)
{
	struct rt__io *io = w->io;

	return io && (io_kernel_has_cqes(io) || io_uring_cq_ready(&io->ring));
}

bool rt__io_busy(struct rt_worker *w)
{
	struct rt__io *io = w->io;

	/* More than the eventfd read in flight. */
	return io && io->inflight > 1;
}

/* Count an SQE of type `op` as submitted (it will be, by the next enter)
 * and in flight. */
static inline void io_count(struct rt__io *io, enum rt_io_op op)
{
	io->inflight++;
	IO_STAT_ADD(io, ops[op], 1);
	IO_STAT_ADD(io, submitted, 1);
}

/* An SQE from g0 (which may enter the kernel to make room). */
static struct io_uring_sqe *g0_sqe(struct rt__io *io)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&io->ring)))
		io_enter(io, 0, 0, NULL, 0);
	return sqe;
}

static void arm_wake(struct rt__io *io)
{
	struct io_uring_sqe *sqe = g0_sqe(io);

	io_uring_prep_read(sqe, io->efd, &io->efd_buf, sizeof(io->efd_buf),
			   (uint64_t)-1);
	sqe->user_data = TAG_WAKE;
	io_count(io, RT_IO_WAKE);
}

/* Hand a result to the task waiting in wt. `wake`: let sched.c wake an
 * idle worker for it (the reaper wakes at most one for a whole batch). */
static void complete(struct io_wait *wt, int res, unsigned flags, bool wake)
{
	uint32_t s = WAIT_WAITING;

	wt->res = res;
	wt->cqe_flags = flags;
	if (atomic_compare_exchange_strong_explicit(&wt->state, &s, WAIT_DONE,
						    memory_order_acq_rel,
						    memory_order_acquire))
		return;         /* it has not parked yet: it will not */
	/* PARKED: the record is ours until this unpark. */
	if (wake)
		rt__unpark(wt->task);
	else
		rt__unpark_nowake(wt->task);
}

/* The park's unlock: WAITING -> PARKED, or call the park off (DONE). */
static bool wait_unlock(void *arg)
{
	struct io_wait *wt = arg;
	uint32_t s = WAIT_WAITING;

	return atomic_compare_exchange_strong_explicit(
		&wt->state, &s, WAIT_PARKED, memory_order_acq_rel,
		memory_order_acquire);
}

static void listener_cqe(struct rt__io *io, struct rt_listener *l, int res,
			 unsigned flags);

/* Whether wt has every CQE it waits for. */
static inline bool pair_complete(const struct io_wait *wt)
{
	switch (wt->pair) {
	case PAIR_NONE:
		return true;
	case PAIR_BOTH:
		return wt->seen == (SEEN_SEND | SEEN_RECV);
	default:
		return true;            /* whichever CQE came is the only one */
	}
}

/* Reap every CQE in the ring; the number of tasks made runnable. */
static unsigned io_reap(struct rt__io *io)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0, woke = 0;

	io_uring_for_each_cqe(&io->ring, head, cqe) {
		uint64_t ud = cqe->user_data;
		void *p = (void *)(uintptr_t)(ud & ~TAG_MASK);

		n++;
		switch (ud & TAG_MASK) {
		case TAG_WAIT:
		case TAG_PART:
		case TAG_PART_SKIP: {
			struct io_wait *wt = p;

			/* (A skipped send was not counted in flight; its
			 * failure CQE is the receive's last word.) */
			io->inflight--;
			if ((ud & TAG_MASK) != TAG_WAIT) {
				wt->res2 = cqe->res;
				wt->seen |= SEEN_SEND;
				if (wt->pair == PAIR_SKIP)
					wt->res = -ECANCELED;
			} else {
				wt->res = cqe->res;
				wt->cqe_flags = cqe->flags;
				wt->seen |= SEEN_RECV;
			}
			if (pair_complete(wt)) {
				complete(wt, wt->res, wt->cqe_flags, false);
				woke++;
			}
			break;
		}
		case TAG_WAKE:
			io->inflight--;
			arm_wake(io);
			break;
		case TAG_LISTENER:
			listener_cqe(io, p, cqe->res, cqe->flags);
			break;
		default:
			io->inflight--;
			break;
		}
	}
	io_uring_cq_advance(&io->ring, n);
	IO_STAT_ADD(io, completions, n);
	return woke;
}

/* Tasks waiting for SQ room: let them try again. */
static unsigned wake_room(struct rt__io *io)
{
	struct io_wait *wt = io->room, *next;
	unsigned n = 0;

	io->room = NULL;
	for (; wt; wt = next, n++) {
		next = wt->next;
		complete(wt, 0, 0, false);
	}
	return n;
}

unsigned rt__io_poll(struct rt_worker *w, bool submit)
{
	struct rt__io *io = w->io;
	unsigned n;

	if (!io)
		return 0;
	/* Queued SQEs wait for the idle wait's enter unless the caller has
	 * other work to run first, or tasks wait for room. */
	if ((io_queued(io) && (submit || io->room ||
			       io_uring_sq_space_left(&io->ring) <
			       IO_SQ_ENTRIES / 2)) ||
	    io_kernel_has_cqes(io))
		io_enter(io, 0, IORING_ENTER_GETEVENTS, NULL, 0);
	n = io_reap(io);
	if (io->room)
		n += wake_room(io);
	/* This worker runs one of them now; more than one is work for an
	 * idle worker too (sched.c wakes at most one). */
	if (n > 1)
		rt__wake_idle();
	return n;
}

int rt__io_wait(struct rt_worker *w, int64_t timeout_ns)
{
	struct rt__io *io = w->io;
	struct __kernel_timespec ts;
	struct io_uring_getevents_arg arg = { 0 };
	unsigned flags = IORING_ENTER_GETEVENTS;
	int r;

	if (io_uring_cq_ready(&io->ring) || io->room)
		return 0;
	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		arg.ts = (uint64_t)(uintptr_t)&ts;
		flags |= IORING_ENTER_EXT_ARG;
	}
	IO_STAT_ADD(io, waits, 1);
	r = io_enter(io, 1, flags, timeout_ns >= 0 ? &arg : NULL,
		     timeout_ns >= 0 ? sizeof(arg) : 0);
	return r == -ETIME ? -ETIMEDOUT : 0;
}

bool rt__io_wake(struct rt_worker *v)
{
	static const uint64_t one = 1;
	struct rt__io *io = v->io;
	struct rt_worker *self;

	if (!io)
		return false;
	sys_write(io->efd, &one, sizeof(one));
	self = rt__self();
	if (self && self->io)
		IO_STAT_ADD(self->io, wake_writes, 1);
	return true;
}

/* ------------------------------------------------------------------
 * Rings: set-up and tear-down (worker_main, on the worker's thread)
 * ---------------------------------------------------------------- */

int rt__io_setup(unsigned nworkers)
{
	iog.io = NULL;
	iog.n = 0;
	if (posix_memalign((void **)&iog.io, 64, nworkers * sizeof(*iog.io)))
		return -ENOMEM;
	memset(iog.io, 0, nworkers * sizeof(*iog.io));
	for (unsigned i = 0; i < nworkers; i++)
		iog.io[i].efd = -1;
	free(iog.last);
	iog.last = calloc(nworkers, sizeof(*iog.last));
	iog.nlast = iog.last ? nworkers : 0;
	iog.n = nworkers;
	return 0;
}

void rt__io_teardown(void)
{
	free(iog.io);
	iog.io = NULL;
	iog.n = 0;
}

/* Flags asked for, and the order they are given up in when refused. */
static const unsigned io_wanted = IORING_SETUP_SINGLE_ISSUER |
	IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN |
	IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL;
static const unsigned io_give_up[] = {
	IORING_SETUP_DEFER_TASKRUN,
	IORING_SETUP_SINGLE_ISSUER,
	IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
	IORING_SETUP_SUBMIT_ALL,
};

static bool io_disabled_by_env(void)
{
	const char *e = getenv("THREADLAB_IO");

	return e && strcmp(e, "off") == 0;
}

static int ring_create(struct rt__io *io)
{
	unsigned flags = io_wanted;
	size_t i = 0;
	int r;

	for (;;) {
		struct io_uring_params p;

		memset(&p, 0, sizeof(p));
		p.flags = flags | IORING_SETUP_CQSIZE;
		p.cq_entries = IO_CQ_ENTRIES;
		r = io_uring_queue_init_params(IO_SQ_ENTRIES, &io->ring, &p);
		if (r == 0) {
			io->st.setup_flags = p.flags;
			io->st.features = p.features;
			return 0;
		}
		/* EINVAL: a flag this kernel does not know. Anything else
		 * (ENOMEM, EPERM: io_uring disabled) no flag will cure. */
		if (r != -EINVAL || i == sizeof(io_give_up) / sizeof(io_give_up[0]))
			return r;
		flags &= ~io_give_up[i++];
	}
}

void rt__io_worker_start(struct rt_worker *w)
{
	struct rt__io *io = &iog.io[w->id];
	struct io_uring_probe *probe;
	int r;

	w->io = NULL;
	if (io_disabled_by_env()) {
		io->st.setup_error = -ENOSYS;
		return;
	}
	r = ring_create(io);
	if (r < 0) {
		io->st.setup_error = r;
		return;
	}
	io->st.ring = 1;
	probe = io_uring_get_probe_ring(&io->ring);
	if (probe) {
		for (unsigned op = 0; op < probe->ops_len && op < 256; op++)
			if (probe->ops[op].flags & IO_URING_OP_SUPPORTED)
				io->ops[op / 8] |= (uint8_t)(1u << (op % 8));
		io_uring_free_probe(probe);
	}
	/* Blocking: a read of a non-blocking eventfd on a ring would end at
	 * once with -EAGAIN instead of waiting for a write. */
	io->efd = eventfd(0, EFD_CLOEXEC);
	if (io->efd < 0) {
		io->st.setup_error = -EMFILE;
		io->st.ring = 0;
		io_uring_queue_exit(&io->ring);
		return;
	}
	arm_wake(io);
	w->io = io;
}

/* Count a CQE of a ring being torn down; its task is abandoned, so its
 * user_data is not followed. */
static void drain_cqes(struct rt__io *io)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&io->ring, head, cqe) {
		n++;
		unsigned tag = cqe->user_data & TAG_MASK;

		if (tag == TAG_LISTENER && (cqe->flags & IORING_CQE_F_MORE))
			continue;
		io->inflight--;
	}
	io_uring_cq_advance(&io->ring, n);
}

void rt__io_worker_stop(struct rt_worker *w)
{
	struct rt__io *io = w->io;
	int64_t end;

	if (!io) {
		if (iog.last && w->id < iog.nlast)
			iog.last[w->id] = iog.io[w->id].st;
		return;
	}
	/* Cancel what is in flight and wait for it: the kernel must be done
	 * with the buffers (task stacks, freed after the workers end). */
	if (op_supported(io, IORING_OP_ASYNC_CANCEL)) {
		struct io_uring_sqe *sqe = g0_sqe(io);

		io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
		sqe->user_data = TAG_IGNORE;
		io_count(io, RT_IO_CANCEL);
	}
	end = sys_now_ns() + IO_DRAIN_NS;
	drain_cqes(io);
	while (io->inflight > 0 && sys_now_ns() < end) {
		struct __kernel_timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
		struct io_uring_getevents_arg arg = {
			.ts = (uint64_t)(uintptr_t)&ts,
		};

		io_enter(io, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
			 &arg, sizeof(arg));
		drain_cqes(io);
	}
	if (iog.last && w->id < iog.nlast)
		iog.last[w->id] = io->st;
	w->io = NULL;
	io_uring_queue_exit(&io->ring);
	close(io->efd);
	io->efd = -1;
}

/* ------------------------------------------------------------------
 * Task side: one operation, parked on
 * ---------------------------------------------------------------- */

/* One operation of a task, on its stack. */
struct io_op {
	struct io_wait wt;
	struct rt__io *io;
	int64_t deadline;
	struct __kernel_timespec ts;
};

static __attribute__((noinline)) void need_task(const char *name)
{
	rt__panic("%s: called outside a task (rt_ I/O parks the caller)",
		  name);
}

/* Wait until the worker's g0 has made room in the SQ (it submits what
 * is queued). The task may come back on another worker. */
static __attribute__((noinline)) void wait_for_room(struct rt__io *io)
{
	struct io_wait wt = { .task = rt__current() };

	wt.next = io->room;
	io->room = &wt;
	rt__park(wait_unlock, &wt);
}

/*
 * Find the ring of the worker running the calling task and make sure it
 * has room for `nsqe` more SQEs (op->io); false with op->wt.res set
 * (-ENOSYS: this worker has no ring). No switch may happen between this
 * and the io_uring_get_sqe calls that use the room.
 */
static inline bool op_room(struct io_op *op, const char *name, unsigned nsqe)
{
	for (;;) {
		struct rt_worker *w = rt__self();
		struct rt__io *io;

		if (unlikely(!w || !w->cur || w->on_worker_stack))
			need_task(name);
		io = w->io;
		if (unlikely(!io)) {
			op->wt.res = -ENOSYS;
			return false;
		}
		if (likely(io_uring_sq_space_left(&io->ring) >= nsqe)) {
			op->io = io;
			op->wt.task = w->cur;
			op->wt.pair = PAIR_NONE;
			return true;
		}
		wait_for_room(io);
	}
}

/* Begin an operation: its SQE (with room for the linked timeout after
 * it when there is a deadline), or NULL with op->wt.res set. */
static inline struct io_uring_sqe *op_begin(struct io_op *op, const char *name,
					    int64_t deadline)
{
	op->deadline = deadline;
	if (!op_room(op, name, deadline != RT_FOREVER ? 2 : 1))
		return NULL;
	return io_uring_get_sqe(&op->io->ring);
}

/* Submit-side end of an operation: tag it, add the linked timeout, park
 * until the completion(s); the raw result (see op_end). */
static long op_park(struct io_op *op, struct io_uring_sqe *sqe,
		    enum rt_io_op type)
{
	struct rt__io *io = op->io;

	atomic_store_explicit(&op->wt.state, WAIT_WAITING,
			      memory_order_relaxed);
	sqe->user_data = (uint64_t)(uintptr_t)&op->wt;
	io_count(io, type);
	if (op->deadline != RT_FOREVER) {
		struct io_uring_sqe *lt;

		sqe->flags |= IOSQE_IO_LINK;
		lt = io_uring_get_sqe(&io->ring);       /* op_begin made room */
		op->ts.tv_sec = op->deadline / 1000000000;
		op->ts.tv_nsec = op->deadline % 1000000000;
		/* The kernel copies ts when it submits the SQE, while this
		 * task is parked (its stack stays put). */
		io_uring_prep_link_timeout(lt, &op->ts, IORING_TIMEOUT_ABS);
		lt->user_data = TAG_IGNORE;
		io_count(io, RT_IO_TIMEOUT);
	}
	rt__park(wait_unlock, &op->wt);
	/* Maybe on another worker now: op->io is not ours any more. */
	return op->wt.res;
}

/* op_park, with a request that the deadline cancelled said -ETIMEDOUT. */
static long op_end(struct io_op *op, struct io_uring_sqe *sqe,
		   enum rt_io_op type)
{
	long r = op_park(op, sqe, type);

	if (op->deadline != RT_FOREVER && r == -ECANCELED)
		return -ETIMEDOUT;
	return r;
}

int rt_io_available(void)
{
	struct rt_worker *w = rt__self();

	if (!w)
		return -ESRCH;
	if (w->io)
		return 0;
	return iog.io && w->id < iog.n && iog.io[w->id].st.setup_error ?
	       iog.io[w->id].st.setup_error : -ENOSYS;
}

int rt_socket(int domain, int type, int protocol)
{
	struct io_op op;
	struct io_uring_sqe *sqe;
	struct rt_worker *w = rt__self();

	if (w && w->io && !op_supported(w->io, IORING_OP_SOCKET))
		/* Before Linux 5.19: a plain system call. */
		return (int)sys_syscall3(SYS_socket, domain, type, protocol);
	sqe = op_begin(&op, "rt_socket", RT_FOREVER);
	if (!sqe)
		return op.wt.res;
	io_uring_prep_socket(sqe, domain, type, protocol, 0);
	return (int)op_end(&op, sqe, RT_IO_SOCKET);
}

int rt_setsockopt(int fd, int level, int optname, const void *val,
		  socklen_t len)
{
	struct io_op op;
	struct io_uring_sqe *sqe;
	int r;

	if (atomic_load_explicit(&iog.sockopt, memory_order_relaxed) < 0)
		return (int)sys_syscall5(SYS_setsockopt, fd, level, optname,
					 (long)val, len);
	sqe = op_begin(&op, "rt_setsockopt", RT_FOREVER);
	if (!sqe)
		return op.wt.res;
	/* IORING_OP_URING_CMD with SOCKET_URING_OP_SETSOCKOPT (Linux 6.7),
	 * laid out by hand: this liburing predates it. level and optname
	 * share the 64 bits of addr, optlen is file_index, optval addr3. */
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = IO_SOCKET_URING_OP_SETSOCKOPT;
	sqe->addr = (uint64_t)(uint32_t)level | (uint64_t)(uint32_t)optname << 32;
	sqe->file_index = len;
	sqe->addr3 = (uint64_t)(uintptr_t)val;
	r = (int)op_end(&op, sqe, RT_IO_SETSOCKOPT);
	if (r == -EINVAL || r == -EOPNOTSUPP || r == -ENOTSUP) {
		/* An older kernel: the system call, from now on. */
		int s = (int)sys_syscall5(SYS_setsockopt, fd, level, optname,
					  (long)val, len);

		if (s == 0)
			atomic_store(&iog.sockopt, -1);
		return s;
	}
	if (r == 0)
		atomic_store_explicit(&iog.sockopt, 1, memory_order_relaxed);
	return r;
}

int rt_connect_until(int fd, const struct sockaddr *addr, socklen_t len,
		     int64_t deadline)
{
	struct io_op op;
	struct io_uring_sqe *sqe = op_begin(&op, "rt_connect", deadline);

	if (!sqe)
		return op.wt.res;
	io_uring_prep_connect(sqe, fd, addr, len);
	return (int)op_end(&op, sqe, RT_IO_CONNECT);
}

int rt_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	return rt_connect_until(fd, addr, len, RT_FOREVER);
}

ssize_t rt_recv_until(int fd, void *buf, size_t len, int flags,
		      int64_t deadline)
{
	struct io_op op;
	struct io_uring_sqe *sqe = op_begin(&op, "rt_recv", deadline);

	if (!sqe)
		return op.wt.res;
	io_uring_prep_recv(sqe, fd, buf, len, flags);
	return op_end(&op, sqe, RT_IO_RECV);
}

ssize_t rt_recv(int fd, void *buf, size_t len, int flags)
{
	return rt_recv_until(fd, buf, len, flags, RT_FOREVER);
}

ssize_t rt_send_until(int fd, const void *buf, size_t len, int flags,
		      int64_t deadline)
{
	struct io_op op;
	struct io_uring_sqe *sqe = op_begin(&op, "rt_send", deadline);

	if (!sqe)
		return op.wt.res;
	io_uring_prep_send(sqe, fd, buf, len, flags);
	return op_end(&op, sqe, RT_IO_SEND);
}

ssize_t rt_send(int fd, const void *buf, size_t len, int flags)
{
	return rt_send_until(fd, buf, len, flags, RT_FOREVER);
}

ssize_t rt_sendmsg_until(int fd, const struct msghdr *msg, int flags,
			 int64_t deadline)
{
	struct io_op op;
	struct io_uring_sqe *sqe = op_begin(&op, "rt_sendmsg", deadline);

	if (!sqe)
		return op.wt.res;
	io_uring_prep_sendmsg(sqe, fd, msg, (unsigned)flags);
	return op_end(&op, sqe, RT_IO_SENDMSG);
}

ssize_t rt_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	return rt_sendmsg_until(fd, msg, flags, RT_FOREVER);
}

/* Both public forms inline this: a wrapper's frame (8 arguments: two on
 * the stack) would be one more on the task's small first segment. */
static inline __attribute__((always_inline))
ssize_t sendmsg_recv(int fd, const struct msghdr *msg, int sflags,
		     void *buf, size_t len, int rflags, ssize_t *sent,
		     int64_t deadline)
{
	struct io_op op;
	struct io_uring_sqe *snd, *rcv;
	size_t want = 0;
	long r;

	op.deadline = deadline;
	if (!op_room(&op, "rt_sendmsg_recv", deadline != RT_FOREVER ? 3 : 2)) {
		*sent = op.wt.res;
		return op.wt.res;
	}
	for (size_t i = 0; i < msg->msg_iovlen; i++)
		want += msg->msg_iov[i].iov_len;
	snd = io_uring_get_sqe(&op.io->ring);
	/* MSG_WAITALL: the ring retries a short send itself, and one that
	 * still ends short breaks the link (the receive is cancelled). */
	io_uring_prep_sendmsg(snd, fd, msg, (unsigned)sflags | MSG_WAITALL);
	snd->flags |= IOSQE_IO_LINK;
	snd->user_data = (uint64_t)(uintptr_t)&op.wt | TAG_PART;
	io_count(op.io, RT_IO_SENDMSG);
	/* Without a deadline nothing else cancels the receive, so the send's
	 * CQE can be skipped when it succeeds: one CQE per round trip, and
	 * the wait for it is not ended early by the send's. */
	op.wt.seen = 0;
	op.wt.res2 = (int32_t)want;
	if (deadline == RT_FOREVER &&
	    (op.io->st.features & IORING_FEAT_CQE_SKIP)) {
		snd->flags |= IOSQE_CQE_SKIP_SUCCESS;
		snd->user_data = (uint64_t)(uintptr_t)&op.wt | TAG_PART_SKIP;
		op.wt.pair = PAIR_SKIP;
		op.io->inflight--;      /* no CQE to wait for, normally */
	} else {
		op.wt.pair = PAIR_BOTH;
	}
	rcv = io_uring_get_sqe(&op.io->ring);
	io_uring_prep_recv(rcv, fd, buf, len, rflags);
	r = op_park(&op, rcv, RT_IO_RECV);
	*sent = op.wt.res2;
	if (op.wt.res2 < 0 || (size_t)op.wt.res2 != want)
		return -ECANCELED;      /* the send said why */
	if (deadline != RT_FOREVER && r == -ECANCELED)
		return -ETIMEDOUT;
	return r;
}

ssize_t rt_sendmsg_recv_until(int fd, const struct msghdr *msg, int sflags,
			      void *buf, size_t len, int rflags,
			      ssize_t *sent, int64_t deadline)
{
	return sendmsg_recv(fd, msg, sflags, buf, len, rflags, sent,
			    deadline);
}

ssize_t rt_sendmsg_recv(int fd, const struct msghdr *msg, int sflags,
			void *buf, size_t len, int rflags, ssize_t *sent)
{
	return sendmsg_recv(fd, msg, sflags, buf, len, rflags, sent,
			    RT_FOREVER);
}

ssize_t rt_read_until(int fd, void *buf, size_t len, int64_t off,
		      int64_t deadline)
{
	struct io_op op;
	struct io_uring_sqe *sqe = op_begin(&op, "rt_read", deadline);

	if (!sqe)
		return op.wt.res;
	io_uring_prep_read(sqe, fd, buf, (unsigned)(len > 0x7ffff000 ?
						    0x7ffff000 : len),
			   (uint64_t)off);
	return op_end(&op, sqe, RT_IO_READ);
}

ssize_t rt_read(int fd, void *buf, size_t len, int64_t off)
{
	return rt_read_until(fd, buf, len, off, RT_FOREVER);
}

ssize_t rt_write(int fd, const void *buf, size_t len, int64_t off)
{
	struct io_op op;
	struct io_uring_sqe *sqe = op_begin(&op, "rt_write", RT_FOREVER);

	if (!sqe)
		return op.wt.res;
	io_uring_prep_write(sqe, fd, buf, (unsigned)(len > 0x7ffff000 ?
						     0x7ffff000 : len),
			    (uint64_t)off);
	return op_end(&op, sqe, RT_IO_WRITE);
}

int rt_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	struct io_op op;
	struct io_uring_sqe *sqe = op_begin(&op, "rt_openat", RT_FOREVER);

	if (!sqe)
		return op.wt.res;
	io_uring_prep_openat(sqe, dirfd, path, flags, mode);
	return (int)op_end(&op, sqe, RT_IO_OPENAT);
}

int rt_fsync(int fd)
{
	struct io_op op;
	struct io_uring_sqe *sqe = op_begin(&op, "rt_fsync", RT_FOREVER);

	if (!sqe)
		return op.wt.res;
	io_uring_prep_fsync(sqe, fd, 0);
	return (int)op_end(&op, sqe, RT_IO_FSYNC);
}

int rt_renameat(int olddirfd, const char *oldpath, int newdirfd,
		const char *newpath)
{
	struct io_op op;
	struct io_uring_sqe *sqe = op_begin(&op, "rt_renameat", RT_FOREVER);

	if (!sqe)
		return op.wt.res;
	io_uring_prep_renameat(sqe, olddirfd, oldpath, newdirfd, newpath, 0);
	return (int)op_end(&op, sqe, RT_IO_RENAMEAT);
}

int rt_unlinkat(int dirfd, const char *path, int flags)
{
	struct io_op op;
	struct io_uring_sqe *sqe = op_begin(&op, "rt_unlinkat", RT_FOREVER);

	if (!sqe)
		return op.wt.res;
	io_uring_prep_unlinkat(sqe, dirfd, path, flags);
	return (int)op_end(&op, sqe, RT_IO_UNLINKAT);
}

int rt_shutdown(int fd, int how)
{
	struct io_op op;
	struct io_uring_sqe *sqe = op_begin(&op, "rt_shutdown", RT_FOREVER);

	if (!sqe)
		return op.wt.res;
	io_uring_prep_shutdown(sqe, fd, how);
	return (int)op_end(&op, sqe, RT_IO_SHUTDOWN);
}

int rt_close(int fd)
{
	struct io_op op;
	struct io_uring_sqe *sqe = op_begin(&op, "rt_close", RT_FOREVER);

	if (!sqe)
		return op.wt.res;
	io_uring_prep_close(sqe, fd);
	return (int)op_end(&op, sqe, RT_IO_CLOSE);
}

/* ------------------------------------------------------------------
 * Listening and accepting
 * ---------------------------------------------------------------- */

struct listen_args {
	const struct sockaddr *addr;
	socklen_t len;
	int backlog;
	struct rt_listener *l;
	int r;
};

RT__ON_WORKER_STACK static void *listen_on_worker(void *arg)
{
	struct listen_args *a = arg;
	const int one = 1;
	struct rt_listener *l;
	int fd;

	l = calloc(1, sizeof(*l));
	if (!l) {
		a->r = -ENOMEM;
		return NULL;
	}
	/* Blocking: io_uring waits for a connection on a blocking socket;
	 * on a non-blocking one an accept would end at once with EAGAIN. */
	fd = socket(a->addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, a->addr, a->len) < 0 ||
	    listen(fd, a->backlog > 0 ? a->backlog : SOMAXCONN) < 0)
		goto fail_close;
	l->fd = fd;
	l->multishot = true;
	a->l = l;
	a->r = 0;
	return NULL;
fail_close:
	a->r = -errno;
	close(fd);
	free(l);
	return NULL;
fail:
	a->r = -errno;
	free(l);
	return NULL;
}

int rt_listen(const struct sockaddr *addr, socklen_t len, int backlog,
	      struct rt_listener **out)
{
	struct listen_args a = { addr, len, backlog, NULL, 0 };

	rt_call_on_worker_stack(listen_on_worker, &a);
	*out = a.l;
	return a.r;
}

int rt_listener_fd(const struct rt_listener *l)
{
	return l->fd;
}

/* Queue an accept on io's ring (l->armed is set by the caller). */
static void arm_accept(struct rt__io *io, struct io_uring_sqe *sqe,
		       struct rt_listener *l, bool multishot)
{
	if (multishot)
		io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL,
					       SOCK_CLOEXEC);
	else
		io_uring_prep_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
	sqe->user_data = (uint64_t)(uintptr_t)l | TAG_LISTENER;
	io_count(io, RT_IO_ACCEPT);
}

/* Append / remove a waiter (under l->lock). */
static void waiter_add(struct rt_listener *l, struct io_wait *wt)
{
	struct io_wait **pp = &l->waiters;

	while (*pp)
		pp = &(*pp)->next;
	wt->next = NULL;
	*pp = wt;
}

static bool waiter_remove(struct rt_listener *l, struct io_wait *wt)
{
	struct io_wait **pp = &l->waiters;

	while (*pp && *pp != wt)
		pp = &(*pp)->next;
	if (!*pp)
		return false;
	*pp = wt->next;
	return true;
}

RT__ON_WORKER_STACK static void *close_fd_on_worker(void *fd)
{
	close((int)(intptr_t)fd);
	return NULL;
}

/* Keep an accepted connection nobody waits for yet (g0, under l->lock:
 * realloc is fine on g0's stack; the lock is a spinlock held by g0
 * only for this). false: out of memory. */
static bool queue_fd(struct rt_listener *l, int fd)
{
	if (l->qlen == l->qcap) {
		unsigned cap = l->qcap ? l->qcap * 2 : 64, i;
		int *q = malloc(cap * sizeof(*q));

		if (!q)
			return false;
		for (i = 0; i < l->qlen; i++)
			q[i] = l->q[(l->qhead + i) % l->qcap];
		free(l->q);
		l->q = q;
		l->qhead = 0;
		l->qcap = cap;
	}
	l->q[(l->qhead + l->qlen) % l->qcap] = fd;
	l->qlen++;
	return true;
}

/* A completion of l's accept, on the owner's g0. */
static void listener_cqe(struct rt__io *io, struct rt_listener *l, int res,
			 unsigned flags)
{
	bool more = flags & IORING_CQE_F_MORE;
	struct io_wait *to = NULL, *closer = NULL;
	bool rearm = false, close_it = false;

	if (!more)
		io->inflight--;
	rt__spin_lock(&l->lock);
	if (!more)
		l->armed = false;
	if (res >= 0) {
		l->got_one = true;
		if (l->closed) {
			close_it = true;
		} else if (l->waiters) {
			to = l->waiters;
			l->waiters = to->next;
		} else if (!queue_fd(l, res)) {
			close_it = true;
		}
	} else if (res == -EINVAL && l->multishot && !l->got_one &&
		   !l->closed) {
		/* A kernel without multishot accept (before 5.19) refuses
		 * the flag: one accept at a time from now on. */
		l->multishot = false;
	} else if (!l->closed && res != -ECANCELED) {
		if (l->waiters) {
			to = l->waiters;
			l->waiters = to->next;
		} else {
			l->err = res;
		}
	}
	if (!l->armed) {
		if (l->closed)
			closer = l->closer;
		else if (l->waiters)
			rearm = l->armed = true;
	}
	rt__spin_unlock(&l->lock);
	if (close_it)
		close_fd_on_worker((void *)(intptr_t)res);
	if (to)
		complete(to, res, 0, false);
	if (closer)
		complete(closer, 0, 0, false);
	if (rearm)
		arm_accept(io, g0_sqe(io), l, l->multishot);
}

struct accept_timer {
	struct rt__timer t;
	struct rt_listener *l;
	struct io_wait *wt;
};

/* rt_accept_until's deadline (g0 of some worker). */
static void accept_timeout(struct rt__timer *t, void *arg, int64_t now)
{
	struct accept_timer *at = arg;
	bool removed;

	rt__spin_lock(&at->l->lock);
	removed = waiter_remove(at->l, at->wt);
	rt__spin_unlock(&at->l->lock);
	if (removed)
		complete(at->wt, -ETIMEDOUT, 0, true);
}

int rt_accept_until(struct rt_listener *l, int64_t deadline)
{
	struct io_op op;
	struct accept_timer at;
	struct io_uring_sqe *sqe;
	bool arm;
	int fd;

	/* Room for the accept, in case this task is the one to arm it. */
	if (!op_room(&op, "rt_accept", 1))
		return op.wt.res;
	rt__spin_lock(&l->lock);
	if (l->qlen) {
		fd = l->q[l->qhead];
		l->qhead = (l->qhead + 1) % l->qcap;
		l->qlen--;
		rt__spin_unlock(&l->lock);
		return fd;
	}
	if (l->err) {
		fd = l->err;
		l->err = 0;
		rt__spin_unlock(&l->lock);
		return fd;
	}
	if (l->closed) {
		rt__spin_unlock(&l->lock);
		return -ECANCELED;
	}
	if (deadline != RT_FOREVER && deadline <= rt__now()) {
		rt__spin_unlock(&l->lock);
		return -ETIMEDOUT;
	}
	arm = !l->armed;
	l->armed = true;
	atomic_store_explicit(&op.wt.state, WAIT_WAITING, memory_order_relaxed);
	waiter_add(l, &op.wt);
	rt__spin_unlock(&l->lock);
	if (arm) {
		/* op_room made room; nothing ran since. */
		sqe = io_uring_get_sqe(&op.io->ring);
		arm_accept(op.io, sqe, l, l->multishot);
	}
	if (deadline != RT_FOREVER) {
		rt__zero(&at.t, sizeof(at.t));
		at.t.f = accept_timeout;
		at.t.arg = &at;
		at.l = l;
		at.wt = &op.wt;
		if (rt__timer_start(&at.t, deadline, 0, false) < 0) {
			deadline = RT_FOREVER;  /* no room for a timer: wait */
		}
	}
	rt__park(wait_unlock, &op.wt);
	if (deadline != RT_FOREVER)
		rt__timer_stop(&at.t);
	return op.wt.res;
}

int rt_accept(struct rt_listener *l)
{
	return rt_accept_until(l, RT_FOREVER);
}

void rt_listener_shutdown(struct rt_listener *l)
{
	struct io_wait *list;

	rt__spin_lock(&l->lock);
	if (l->closed) {
		rt__spin_unlock(&l->lock);
		return;
	}
	l->closed = true;
	list = l->waiters;
	l->waiters = NULL;
	rt__spin_unlock(&l->lock);
	/* The armed accept ends with an error when the socket stops
	 * listening (inet_shutdown wakes it): no cancel on a ring that may
	 * be another worker's. */
	sys_syscall2(SYS_shutdown, l->fd, SHUT_RDWR);
	while (list) {
		struct io_wait *next = list->next;

		complete(list, -ECANCELED, 0, true);
		list = next;
	}
}

RT__ON_WORKER_STACK static void *listener_free_on_worker(void *arg)
{
	struct rt_listener *l = arg;

	while (l->qlen) {
		close(l->q[l->qhead]);
		l->qhead = (l->qhead + 1) % l->qcap;
		l->qlen--;
	}
	close(l->fd);
	free(l->q);
	free(l);
	return NULL;
}

int rt_listener_close(struct rt_listener *l)
{
	struct io_wait wt = { 0 };
	bool wait;

	if (!l)
		return 0;
	rt_listener_shutdown(l);
	rt__spin_lock(&l->lock);
	if (l->waiters)
		rt__panic("rt_listener_close: a task still waits in rt_accept");
	wait = l->armed;
	if (wait) {
		wt.task = rt__current();
		if (!wt.task)
			rt__panic("rt_listener_close: an accept is in flight "
				  "and the caller is not a task");
		l->closer = &wt;
	}
	rt__spin_unlock(&l->lock);
	if (wait)
		rt__park(wait_unlock, &wt);
	rt_call_on_worker_stack(listener_free_on_worker, l);
	return 0;
}

/* ------------------------------------------------------------------
 * Counters
 * ---------------------------------------------------------------- */

unsigned rt_io_stats(struct rt_io_stats *out, unsigned max)
{
	unsigned i, n;

	if (rt_workers() && iog.io) {
		n = iog.n;
		for (i = 0; i < n && i < max; i++) {
			const struct rt_io_stats *s = &iog.io[i].st;
			uint64_t *dst = (uint64_t *)&out[i];
			_Atomic uint64_t *src = (_Atomic uint64_t *)s;

			for (size_t k = 0; k < sizeof(*s) / sizeof(uint64_t); k++)
				dst[k] = atomic_load_explicit(
					&src[k], memory_order_relaxed);
		}
		return n;
	}
	n = iog.nlast;
	for (i = 0; i < n && i < max; i++)
		out[i] = iog.last[i];
	return n;
}

void rt_io_stats_total(struct rt_io_stats *out)
{
	struct rt_io_stats *st = calloc(RT_WORKERS_MAX, sizeof(*st));
	unsigned n = st ? rt_io_stats(st, RT_WORKERS_MAX) : 0, i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < n; i++) {
		if (i == 0) {
			out->setup_flags = st[i].setup_flags;
			out->features = st[i].features;
			out->setup_error = st[i].setup_error;
		}
		out->ring += st[i].ring;
		for (unsigned k = 0; k < RT_IO_NOPS; k++)
			out->ops[k] += st[i].ops[k];
		out->submitted += st[i].submitted;
		out->completions += st[i].completions;
		out->enters += st[i].enters;
		out->waits += st[i].waits;
		out->wake_writes += st[i].wake_writes;
	}
	free(st);
}

void rt__io_stats_print(void)
{
	char setup[160];
	unsigned i, k;

	if (!iog.nlast)
		return;
	rt_io_setup_name(iog.last[0].setup_flags, setup, sizeof(setup));
	if (iog.last[0].ring)
		fprintf(stderr, "threadlab rt io: rings set up with %s\n", setup);
	else
		fprintf(stderr, "threadlab rt io: no rings (%s)\n",
			strerror((int)-iog.last[0].setup_error));
	fprintf(stderr, "%-6s %10s %10s %10s %8s %8s  %s\n", "worker", "sqes",
		"cqes", "enters", "waits", "wakes", "sqes by type");
	for (i = 0; i < iog.nlast; i++) {
		const struct rt_io_stats *s = &iog.last[i];

		fprintf(stderr, "%-6u %10llu %10llu %10llu %8llu %8llu ", i,
			(unsigned long long)s->submitted,
			(unsigned long long)s->completions,
			(unsigned long long)s->enters,
			(unsigned long long)s->waits,
			(unsigned long long)s->wake_writes);
		for (k = 0; k < RT_IO_NOPS; k++)
			if (s->ops[k])
				fprintf(stderr, " %s=%llu", op_names[k],
					(unsigned long long)s->ops[k]);
		fputc('\n', stderr);
	}
}

size_t rt_io_setup_name(uint64_t flags, char *buf, size_t len)
{
	static const struct { uint64_t f; const char *name; } names[] = {
		{ IORING_SETUP_SINGLE_ISSUER, "SINGLE_ISSUER" },
		{ IORING_SETUP_DEFER_TASKRUN, "DEFER_TASKRUN" },
		{ IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN" },
		{ IORING_SETUP_TASKRUN_FLAG, "TASKRUN_FLAG" },
		{ IORING_SETUP_SUBMIT_ALL, "SUBMIT_ALL" },
		{ IORING_SETUP_CQSIZE, "CQSIZE" },
	};
	size_t n = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(flags & names[i].f))
			continue;
		n += (size_t)snprintf(buf + (n < len ? n : len),
				      n < len ? len - n : 0, "%s%s",
				      n ? "|" : "", names[i].name);
	}
	if (!n)
		n = (size_t)snprintf(buf, len, "none");
	return n;
}

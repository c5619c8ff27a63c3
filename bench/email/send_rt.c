/*
 * bench/email/send_rt.c — the `rt` model of `threadlab send`: one rt/
 * task per SMTP session, on the rt/ workers (one per CPU), every socket
 * operation on the worker's io_uring (rt/io.c).
 *
 * The same session as the clone and pthread models (send_threads.c):
 * connect, greeting and EHLO, its share of the messages, reconnecting
 * after a failed message; the same SMTP client machine (smtp.c). What
 * differs is who waits. A session that waits for a reply parks its task
 * instead of blocking a kernel thread: its receive is an SQE on its
 * worker's ring, and the worker runs other sessions meanwhile, then
 * submits every session's requests with one io_uring_enter and reaps
 * their completions together. So C sessions need no more threads than
 * CPUs, and the system calls per email fall with the number of sessions
 * in flight per worker: a batch of sends and receives per enter.
 *
 * The socket, TCP_NODELAY (as Go and the other models set it), connect,
 * the sends and receives and close all go through the ring
 * (IORING_OP_SOCKET, SOCKET_URING_OP_SETSOCKOPT where the kernel has
 * them). A command and the wait for its reply are one linked pair on the
 * ring (rt_sendmsg_recv): one park and one completion batch per round
 * trip of the dialogue.
 *
 * Deadlines. Each message gets one, BENCH_SEND_TIMEOUT_S after it starts
 * (as the Go peer's SetDeadline). Not as a linked timeout on every
 * request: that costs an hrtimer armed and cancelled in the kernel per
 * request (measured: 3.5 us of CPU per email at concurrency 200 with
 * reuse, about 12%). Instead a session publishes its deadline in
 * `armed` (one atomic store per message) and a watchdog task looks at
 * every session once a second; it shuts the socket of a session past
 * its deadline down, which ends the session's pending receive. The
 * handshake on `armed` (deadline -> FIRING -> FIRED, or the session's
 * own CAS back to 0) makes sure the watchdog never touches a socket the
 * session has closed: a session whose CAS fails waits for FIRED.
 *
 * Task code rules (rt/rt.h): the task stack is a small segment, so the
 * session's buffers live in its struct session (heap), and the calls
 * into smtp.c — not split-stack code — run on the worker's stack through
 * rt_call_on_worker_stack, one call per step of the dialogue.
 *
 * Counters: `threads` is the number of workers (the thread that called
 * rt_main only waits for them); io_uring operations and io_uring_enter
 * calls are the totals of every worker's ring over the run
 * (rt_io_stats_total), printed by send.c.
 *
 * Shared state: struct bench_send_run (send.h). A session's socket,
 * client machine and buffers belong to its task.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bench/email/send.h"
#include "bench/email/smtp.h"
#include "rt/rt.h"

static const struct smtp_client_config client_config = {
	.helo = BENCH_SEND_HELO,
	.from = SMTP_MESSAGE_FROM,
	.to = SMTP_MESSAGE_TO,
};

#define WD_FIRING (-1)
#define WD_FIRED  (-2)

struct session {
	struct bench_send_run *run;
	struct rt_wg *wg;
	uint64_t count;
	/* 0: no message in flight; > 0: its deadline (rt_now); WD_FIRING,
	 * WD_FIRED: the watchdog is shutting fd down / has. */
	_Atomic int64_t armed;
	int fd;                          /* the socket `armed` is about */
	struct smtp_client c;
	struct iovec iov[2];
	struct msghdr mh;
	char buf[1024];
};

/* ------------------------------------------------------------------
 * The client machine, on the worker stack
 * ---------------------------------------------------------------- */

enum step_kind {
	STEP_INIT,       /* smtp_client_init */
	STEP_MAIL,       /* smtp_client_mail with the run's message */
	STEP_QUIT,       /* smtp_client_quit */
	STEP_SENT,       /* n bytes went out */
	STEP_RECEIVED,   /* n bytes are in s->buf */
	STEP_EOF,        /* the connection ended */
};

struct step {
	struct session *s;
	enum step_kind kind;
	size_t n;
	int result;      /* smtp_client_feed's */
};

/* Apply one event to the machine and, when it has bytes to send, fill
 * s->mh with them. */
static void *step_on_worker(void *arg)
{
	struct step *st = arg;
	struct session *s = st->s;
	struct smtp_client *c = &s->c;

	st->result = 0;
	switch (st->kind) {
	case STEP_INIT:
		smtp_client_init(c, &client_config);
		break;
	case STEP_MAIL:
		smtp_client_mail(c, s->run->wire, s->run->wire_len,
				 s->run->size);
		break;
	case STEP_QUIT:
		smtp_client_quit(c);
		break;
	case STEP_SENT:
		smtp_client_sent(c, st->n);
		break;
	case STEP_RECEIVED:
		st->result = smtp_client_feed(c, s->buf, st->n);
		break;
	case STEP_EOF:
		smtp_client_eof(c);
		break;
	}
	if (smtp_client_state(c) == SMTP_C_SEND) {
		s->mh.msg_iov = s->iov;
		s->mh.msg_iovlen = (size_t)smtp_client_output(c, s->iov);
	}
	return NULL;
}

static int step(struct session *s, enum step_kind kind, size_t n)
{
	struct step st = { .s = s, .kind = kind, .n = n };

	rt_call_on_worker_stack(step_on_worker, &st);
	return st.result;
}

/*
 * Drive the machine over the socket until it needs the caller (READY,
 * DONE or FAILED). 0, or -errno from the ring (the client is FAILED
 * too): -ETIMEDOUT when the deadline passed.
 */
static int pump(struct session *s, int fd)
{
	struct smtp_client *c = &s->c;
	ssize_t n;

	for (;;) {
		ssize_t sent;

		switch (smtp_client_state(c)) {
		case SMTP_C_SEND:
			/* The command and the wait for its reply, as one pair
			 * (the client is lock-step: a reply always follows). */
			n = rt_sendmsg_recv(fd, &s->mh, MSG_NOSIGNAL, s->buf,
					    sizeof(s->buf), 0, &sent);
			if (sent < 0) {
				n = sent;
				goto fail;
			}
			step(s, STEP_SENT, (size_t)sent);
			if (n == -ECANCELED)
				break;          /* short send: the rest first */
			goto received;
		case SMTP_C_RECV:
			n = rt_recv(fd, s->buf, sizeof(s->buf), 0);
received:
			if (n < 0)
				goto fail;
			if (n == 0)
				step(s, STEP_EOF, 0);
			else if (step(s, STEP_RECEIVED, (size_t)n) < 0)
				return -EPROTO;
			break;
		default:
			return 0;
		}
	}
fail:
	step(s, STEP_EOF, 0);
	return (int)n;
}

/* ------------------------------------------------------------------
 * Sessions
 * ---------------------------------------------------------------- */

struct failure {
	struct bench_send_run *run;
	const struct smtp_client *c;
	int err;
	const char *what;
};

static void *failed_on_worker(void *arg)
{
	struct failure *f = arg;
	struct bench_send_run *run = f->run;

	char what[300];

	atomic_fetch_add_explicit(&run->failed, 1, memory_order_relaxed);
	if (!f->what) {
		snprintf(what, sizeof(what), "connect %s", run->server);
		f->what = what;
	}
	if (f->err && f->err != -EPROTO) {
		const char *e = strerrordesc_np(-f->err);

		bench_send_error(run, "%s: %s", f->what, e ? e : "unknown error");
	} else {
		bench_send_error(run, "%s", f->c && f->c->error[0] ?
				 f->c->error : f->what);
	}
	return NULL;
}

/* Record a failed message: the ring's error, else the client's; what
 * NULL means "connect HOST:PORT". */
static void message_failed(struct session *s, const struct smtp_client *c,
			   int err, const char *what)
{
	struct failure f = { s->run, c, err, what };

	rt_call_on_worker_stack(failed_on_worker, &f);
}

/* Publish the deadline of what the session does next on fd. */
static void arm(struct session *s, int fd, int64_t deadline)
{
	s->fd = fd;
	atomic_store_explicit(&s->armed, deadline, memory_order_release);
}

/* Take the deadline back; true when the watchdog fired first (fd is
 * shut down). Waits until the watchdog is done with fd. */
static bool disarm(struct session *s)
{
	int64_t v = atomic_load_explicit(&s->armed, memory_order_relaxed);

	if (v > 0 && atomic_compare_exchange_strong(&s->armed, &v, 0))
		return false;
	while (atomic_load(&s->armed) != WD_FIRED)
		rt_sleep(RT_MSEC);
	atomic_store(&s->armed, 0);
	return true;
}

/*
 * Connect and get to READY (greeting, EHLO). The socket, or -errno with
 * the failure recorded against one message.
 */
static int open_session(struct session *s, int64_t deadline)
{
	struct bench_send_run *run = s->run;
	const int one = 1;
	int fd, r;

	fd = rt_socket(run->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		message_failed(s, NULL, fd, "socket");
		return fd;
	}
	arm(s, fd, deadline);
	rt_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	r = rt_connect(fd, (const struct sockaddr *)&run->addr, run->addrlen);
	if (r < 0) {
		disarm(s);
		rt_close(fd);
		/* what NULL: "connect HOST:PORT", as the other models say */
		message_failed(s, NULL, r, NULL);
		return r;
	}
	step(s, STEP_INIT, 0);
	r = pump(s, fd);
	if (disarm(s))
		r = -ETIMEDOUT;
	if (smtp_client_state(&s->c) != SMTP_C_READY) {
		rt_close(fd);
		message_failed(s, &s->c, r, "greeting");
		return r < 0 ? r : -EPROTO;
	}
	return fd;
}

/* Say QUIT and close; the answer does not change any count. */
static void close_session(struct session *s, int fd)
{
	if (smtp_client_state(&s->c) == SMTP_C_READY) {
		arm(s, fd, rt_now() + BENCH_SEND_TIMEOUT_S * RT_SEC);
		step(s, STEP_QUIT, 0);
		pump(s, fd);
		disarm(s);
	}
	rt_close(fd);
}

static void session_task(void *arg)
{
	struct session *s = arg;
	struct bench_send_run *run = s->run;
	int fd = -1;

	for (uint64_t i = 0; i < s->count; i++) {
		int64_t deadline = rt_now() + BENCH_SEND_TIMEOUT_S * RT_SEC;
		uint64_t before;
		int r;

		if (fd < 0) {
			fd = open_session(s, deadline);
			if (fd < 0)
				continue;
		}
		before = s->c.accepted;
		arm(s, fd, deadline);
		step(s, STEP_MAIL, 0);
		r = pump(s, fd);
		if (disarm(s))
			r = -ETIMEDOUT;
		if (s->c.accepted > before) {
			atomic_fetch_add_explicit(&run->accepted, 1,
						  memory_order_relaxed);
		} else {
			message_failed(s, &s->c, r, "send");
			/* As the other models: drop the connection. */
			rt_close(fd);
			fd = -1;
			continue;
		}
		if (!run->reuse) {
			close_session(s, fd);
			fd = -1;
		}
	}
	if (fd >= 0)
		close_session(s, fd);
	rt_wg_done(s->wg);
}

struct rt_run {
	struct session *s;
	uint64_t n;
	int err;
	_Atomic int done;
};

/* Every WATCHDOG_NS, shut down the socket of each session past its
 * deadline (see the top of the file). */
#define WATCHDOG_NS (500 * RT_MSEC)

static void watchdog_task(void *arg)
{
	struct rt_run *rr = arg;

	while (!atomic_load(&rr->done)) {
		int64_t now;

		rt_sleep(WATCHDOG_NS);
		now = rt_now();
		for (uint64_t i = 0; i < rr->n; i++) {
			struct session *s = &rr->s[i];
			int64_t v = atomic_load_explicit(&s->armed,
							 memory_order_acquire);

			if (v <= 0 || v > now ||
			    !atomic_compare_exchange_strong(&s->armed, &v,
							    WD_FIRING))
				continue;
			rt_shutdown(s->fd, SHUT_RDWR);
			atomic_store(&s->armed, WD_FIRED);
		}
	}
}

static void *spawn_error_on_worker(void *arg)
{
	struct rt_run *rr = arg;

	bench_send_error(rr->s[0].run, "rt_go: %s",
			 strerrordesc_np(-rr->err));
	return NULL;
}

static void main_task(void *arg)
{
	struct rt_run *rr = arg;
	struct rt_wg wg = { 0 };
	uint64_t i;

	if (rt_io_available() < 0) {
		rr->err = rt_io_available();
		return;
	}
	rt_go(watchdog_task, rr);
	for (i = 0; i < rr->n; i++) {
		int r;

		rr->s[i].wg = &wg;
		rt_wg_add(&wg, 1);
		r = rt_go(session_task, &rr->s[i]);
		if (r < 0) {
			rt_wg_done(&wg);
			rr->err = r;
			rt_call_on_worker_stack(spawn_error_on_worker, rr);
			break;
		}
	}
	rt_wg_wait(&wg);
	/* The watchdog, asleep, is left behind: rt_main abandons it. */
	atomic_store(&rr->done, 1);
}

/*
 * The runtime's configuration: the environment's (rt/rt.h), with two
 * exceptions that the environment can still override:
 *
 * The first stack segment is 2048 bytes (THREADLAB_STACK_SEGMENT). A
 * session's deepest point is where it resumes from a completion: its own
 * frames (about 400 bytes) under rt_sendmsg_recv and the scheduler's
 * resume path. With the default 1280-byte segment (512 usable) that point
 * lies just past the first segment, and every round trip crossed into a
 * second one (libgcc's __morestack, a hot split: 2141 segments grown and
 * trimmed for 20000 emails at concurrency 200). 2048 keeps it in the
 * first segment; 200 sessions cost 150 KiB more.
 *
 * The workers are not pinned (THREADLAB_PIN, THREADLAB_PLACEMENT). The
 * sender and the sink are two processes sharing the same CPUs, each
 * round trip a wake-up in the other one. Pinned one per CPU, a worker and
 * the peer worker it wakes stay wherever they are, often on the other
 * CPU, and every reply costs an inter-processor wake-up (20-27 us here,
 * FINDINGS.md); unpinned, the kernel puts a waker and its wakee on one
 * CPU, as it does for the Go peer's threads and the clone model's, which
 * are not pinned either. Measured with docs/io.md's commands (4 fresh
 * sink+sender pairs each, twice, 2000 emails, concurrency 2 with
 * --reuse): 86-97 us of client CPU per email pinned (one run of the 8:
 * 48), 42-62 unpinned.
 */
struct rt_config *bench_send_rt_config(struct rt_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	if (!getenv("THREADLAB_STACK_SEGMENT"))
		cfg->segment_size = 2048;
	if (!getenv("THREADLAB_PIN") && !getenv("THREADLAB_PLACEMENT"))
		cfg->pin = -1;
	return cfg;
}

int bench_send_rt(struct bench_send_run *run)
{
	uint64_t n = run->concurrency < run->emails ? run->concurrency
						    : run->emails;
	struct rt_run rr = { .n = n };
	struct rt_config cfg;
	struct rt_io_stats io;
	struct rt_worker_stats ws[1];
	int r;

	rr.s = calloc(n, sizeof(*rr.s));
	if (!rr.s)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++) {
		rr.s[i].run = run;
		rr.s[i].count = bench_send_share(run, n, i);
	}
	r = rt_main(bench_send_rt_config(&cfg), main_task, &rr);
	if (r < 0) {
		bench_send_error(run, "rt_main: %s", strerrordesc_np(-r));
	} else if (rr.err < 0) {
		r = rr.err;
		if (r == -ENOSYS || r == -EPERM)
			bench_send_error(run, "io_uring is not available: %s",
					 strerrordesc_np(-r));
	}
	run->threads = rt_stats(ws, 1);
	rt_io_stats_total(&io);
	run->io_uring = true;
	run->io_uring_ops = io.submitted;
	run->io_uring_enter = io.enters;
	free(rr.s);
	return r;
}

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
 * them). Each message gets one deadline, BENCH_SEND_TIMEOUT_S after it
 * starts (as the Go peer's SetDeadline), carried by a linked timeout on
 * every request of the message (rt/io.c).
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

struct session {
	struct bench_send_run *run;
	struct rt_wg *wg;
	uint64_t count;
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
static int pump(struct session *s, int fd, int64_t deadline)
{
	struct smtp_client *c = &s->c;
	ssize_t n;

	for (;;) {
		switch (smtp_client_state(c)) {
		case SMTP_C_SEND:
			n = rt_sendmsg_until(fd, &s->mh, MSG_NOSIGNAL, deadline);
			if (n < 0)
				goto fail;
			step(s, STEP_SENT, (size_t)n);
			break;
		case SMTP_C_RECV:
			n = rt_recv_until(fd, s->buf, sizeof(s->buf), 0,
					  deadline);
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

	atomic_fetch_add_explicit(&run->failed, 1, memory_order_relaxed);
	if (f->err && f->err != -EPROTO) {
		const char *e = strerrordesc_np(-f->err);

		bench_send_error(run, "%s: %s", f->what, e ? e : "unknown error");
	} else {
		bench_send_error(run, "%s", f->c && f->c->error[0] ?
				 f->c->error : f->what);
	}
	return NULL;
}

/* Record a failed message: the ring's error, else the client's. */
static void message_failed(struct session *s, const struct smtp_client *c,
			   int err, const char *what)
{
	struct failure f = { s->run, c, err, what };

	rt_call_on_worker_stack(failed_on_worker, &f);
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
	rt_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	r = rt_connect_until(fd, (const struct sockaddr *)&run->addr,
			     run->addrlen, deadline);
	if (r < 0) {
		rt_close(fd);
		message_failed(s, NULL, r, "connect");
		return r;
	}
	step(s, STEP_INIT, 0);
	r = pump(s, fd, deadline);
	if (smtp_client_state(&s->c) != SMTP_C_READY) {
		rt_close(fd);
		message_failed(s, &s->c, r, "greeting");
		return r < 0 ? r : -EPROTO;
	}
	return fd;
}

/* Say QUIT and close; the answer does not change any count. */
static void close_session(struct session *s, int fd, int64_t deadline)
{
	if (smtp_client_state(&s->c) == SMTP_C_READY) {
		step(s, STEP_QUIT, 0);
		pump(s, fd, deadline);
	}
	rt_close(fd);
}

static void session_task(void *arg)
{
	struct session *s = arg;
	struct bench_send_run *run = s->run;
	int64_t deadline = 0;
	int fd = -1;

	for (uint64_t i = 0; i < s->count; i++) {
		uint64_t before;
		int r;

		deadline = rt_now() + BENCH_SEND_TIMEOUT_S * RT_SEC;
		if (fd < 0) {
			fd = open_session(s, deadline);
			if (fd < 0)
				continue;
		}
		before = s->c.accepted;
		step(s, STEP_MAIL, 0);
		r = pump(s, fd, deadline);
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
			close_session(s, fd, deadline);
			fd = -1;
		}
	}
	if (fd >= 0)
		close_session(s, fd, rt_now() + BENCH_SEND_TIMEOUT_S * RT_SEC);
	rt_wg_done(s->wg);
}

struct rt_run {
	struct session *s;
	uint64_t n;
	int err;
};

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
}

int bench_send_rt(struct bench_send_run *run)
{
	uint64_t n = run->concurrency < run->emails ? run->concurrency
						    : run->emails;
	struct rt_run rr = { .n = n };
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
	r = rt_main(NULL, main_task, &rr);
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

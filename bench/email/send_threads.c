/*
 * bench/email/send_threads.c — the `clone` and `pthread` models of
 * `threadlab send`: one kernel thread per SMTP session, blocking socket
 * system calls. `clone` makes its threads with sys_thread_spawn (raw
 * clone(), syscalls/), `pthread` with pthread_create; everything else —
 * the session below — is the same code, so the two differ only in how a
 * thread is made, joined and scheduled.
 *
 * Why one thread per session, and why that is the point. A session
 * spends nearly all its life waiting: for the connection, then for each
 * reply to come back. With blocking calls the thread that waits in
 * recv() can do nothing else, so C sessions in flight need C threads: at
 * concurrency 200 this model runs 200 kernel threads on 2 CPUs, and each
 * reply wakes one of them through the scheduler (a context switch, and on
 * a virtual machine an inter-processor wake-up; docs/threads.md). Capping
 * the threads at the CPU count, as the Go runtime and rt/ do with their
 * workers, would cap the concurrency at the CPU count too. The rt model
 * and the Go peer multiplex the sessions on a few threads instead; the
 * comparison measures what that multiplexing saves (CPU per email,
 * context switches, memory) against what it costs (a scheduler in user
 * space, non-blocking I/O). So here, and only here, `threads` grows with
 * the concurrency: min(C, N) session threads and the main thread.
 *
 * Stacks: 64 KiB for both kinds of thread (a session uses a few KiB), so
 * that thousands of sessions fit and neither library's default size
 * (256 KiB for sys_thread, RLIMIT_STACK for glibc) tilts the memory
 * figures.
 *
 * Shared state: struct bench_send_run (send.h says what protects what).
 * A session's socket, client machine and buffers are its thread's own.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bench/email/send.h"
#include "bench/email/smtp.h"
#include "syscalls/sys.h"

#define SESSION_STACK (64u * 1024)

static const struct smtp_client_config client_config = {
	.helo = BENCH_SEND_HELO,
	.from = SMTP_MESSAGE_FROM,
	.to = SMTP_MESSAGE_TO,
};

/* One session's thread: its share of the messages. */
struct session {
	struct bench_send_run *run;
	uint64_t count;
	struct sys_thread st;        /* clone */
	pthread_t pt;                /* pthread */
};

static const char *err_text(int err)
{
	const char *s = strerrordesc_np(err);

	return s ? s : "unknown error";
}

/*
 * Drive the client machine over a blocking socket until it needs the
 * caller (READY, DONE or FAILED). 0, or -errno from the socket (the
 * client is then FAILED too); -ETIMEDOUT when the server stalled.
 */
static int pump(int fd, struct smtp_client *c)
{
	char buf[1024];
	struct iovec iov[2];
	struct msghdr mh = { .msg_iov = iov };
	ssize_t n;

	for (;;) {
		switch (smtp_client_state(c)) {
		case SMTP_C_SEND:
			mh.msg_iovlen = (size_t)smtp_client_output(c, iov);
			/* MSG_NOSIGNAL: a server that closed gives EPIPE,
			 * not a SIGPIPE that kills the process. */
			n = sendmsg(fd, &mh, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				goto fail;
			smtp_client_sent(c, (size_t)n);
			break;
		case SMTP_C_RECV:
			n = recv(fd, buf, sizeof(buf), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				goto fail;
			if (n == 0)
				smtp_client_eof(c);
			else if (smtp_client_feed(c, buf, (size_t)n) < 0)
				return -EPROTO;
			break;
		default:
			return 0;
		}
	}
fail:
	n = errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
	smtp_client_eof(c);
	return (int)n;
}

/* Record a failed message: the socket's error, else the client's. */
static void message_failed(struct bench_send_run *run,
			   const struct smtp_client *c, int err,
			   const char *what)
{
	atomic_fetch_add_explicit(&run->failed, 1, memory_order_relaxed);
	if (err && err != -EPROTO)
		bench_send_error(run, "%s: %s", what, err_text(-err));
	else
		bench_send_error(run, "%s", c->error[0] ? c->error : what);
}

/*
 * Connect and get to READY (greeting, EHLO). The socket, or -errno with
 * the failure recorded against one message.
 */
static int open_session(struct bench_send_run *run, struct smtp_client *c)
{
	const struct timeval tmo = { .tv_sec = BENCH_SEND_TIMEOUT_S };
	const int one = 1;
	int fd, r;

	fd = socket(run->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		message_failed(run, c, r, "socket");
		return r;
	}
	/* As Go's net package does for every TCP connection; and the
	 * timeouts bound every recv, send and the connect itself. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
	if (connect(fd, (const struct sockaddr *)&run->addr, run->addrlen) < 0) {
		char what[300];

		/* SO_SNDTIMEO bounds connect too: EINPROGRESS on expiry. */
		r = errno == EINPROGRESS ? -ETIMEDOUT : -errno;
		close(fd);
		smtp_client_init(c, &client_config);
		snprintf(what, sizeof(what), "connect %s", run->server);
		message_failed(run, c, r, what);
		return r;
	}
	smtp_client_init(c, &client_config);
	r = pump(fd, c);
	if (smtp_client_state(c) != SMTP_C_READY) {
		close(fd);
		message_failed(run, c, r, "greeting");
		return r < 0 ? r : -EPROTO;
	}
	return fd;
}

/* Say QUIT and close; the answer does not change any count. */
static void close_session(int fd, struct smtp_client *c)
{
	if (smtp_client_state(c) == SMTP_C_READY) {
		smtp_client_quit(c);
		pump(fd, c);
	}
	close(fd);
}

static void *session_main(void *arg)
{
	struct session *s = arg;
	struct bench_send_run *run = s->run;
	struct smtp_client c;
	int fd = -1;

	for (uint64_t i = 0; i < s->count; i++) {
		uint64_t before;
		int r;

		if (fd < 0) {
			fd = open_session(run, &c);
			if (fd < 0)
				continue;
		}
		before = c.accepted;
		smtp_client_mail(&c, run->wire, run->wire_len, run->size);
		r = pump(fd, &c);
		if (c.accepted > before) {
			atomic_fetch_add_explicit(&run->accepted, 1,
						  memory_order_relaxed);
		} else {
			message_failed(run, &c, r, "send");
			/* A refused message leaves the session usable,
			 * but drop it anyway, as the other models do. */
			close(fd);
			fd = -1;
			continue;
		}
		if (!run->reuse) {
			close_session(fd, &c);
			fd = -1;
		}
	}
	if (fd >= 0)
		close_session(fd, &c);
	return NULL;
}

/* Start the sessions with `start`, join them with `join`. */
static int run_sessions(struct bench_send_run *run,
			int (*start)(struct session *),
			int (*join)(struct session *), const char *call)
{
	uint64_t n = run->concurrency < run->emails ? run->concurrency
						    : run->emails;
	struct session *s = calloc(n, sizeof(*s));
	uint64_t started;
	int r = 0;

	if (!s)
		return -ENOMEM;
	for (started = 0; started < n; started++) {
		s[started].run = run;
		s[started].count = bench_send_share(run, n, started);
		r = start(&s[started]);
		if (r < 0) {
			bench_send_error(run, "%s for session %llu of %llu: %s",
					 call, (unsigned long long)started + 1,
					 (unsigned long long)n, err_text(-r));
			break;
		}
	}
	for (uint64_t i = 0; i < started; i++) {
		int j = join(&s[i]);

		if (j < 0)
			sys_panic("send: joining session %llu: %s",
				  (unsigned long long)i, err_text(-j));
	}
	run->threads = (unsigned)started + 1;
	free(s);
	return r;
}

static int clone_start(struct session *s)
{
	const struct sys_thread_attr attr = { .stack_size = SESSION_STACK };

	return sys_thread_spawn(&s->st, &attr, session_main, s);
}

static int clone_join(struct session *s)
{
	return sys_thread_join(&s->st, NULL);
}

static int pt_start(struct session *s)
{
	pthread_attr_t attr;
	int r;

	r = pthread_attr_init(&attr);
	if (r)
		return -r;
	r = pthread_attr_setstacksize(&attr, SESSION_STACK);
	if (r == 0)
		r = pthread_create(&s->pt, &attr, session_main, s);
	pthread_attr_destroy(&attr);
	return -r;
}

static int pt_join(struct session *s)
{
	return -pthread_join(s->pt, NULL);
}

int bench_send_clone(struct bench_send_run *run)
{
	return run_sessions(run, clone_start, clone_join, "sys_thread_spawn");
}

int bench_send_pthread(struct bench_send_run *run)
{
	return run_sessions(run, pt_start, pt_join, "pthread_create");
}

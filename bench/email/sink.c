/*
 * `threadlab sink`: the embedded SMTP server of the experiment. It
 * accepts mail on a loopback address, counts messages and bytes, and
 * with --store writes every accepted message into a Maildir. Built on
 * rt/: one task per connection on the rt/ workers, all its I/O — accept,
 * receive, send, and the Maildir's open, write, fsync and rename — on the
 * workers' io_uring rings (rt/io.c), the dialogue by smtp.c's server
 * machine.
 *
 *     threadlab sink --listen 127.0.0.1:2525 [--store DIR]
 *                    [--max-connections N] [--idle-timeout D]
 *                    [--max-size BYTES]
 *
 * When it is ready it says `listening on 127.0.0.1:PORT` on stderr (with
 * the port picked when PORT is 0). On SIGINT or SIGTERM it stops
 * accepting, ends the sessions that are left (a message not yet
 * complete is dropped, as if the client had gone), prints exactly one
 * line on stdout and exits 0:
 *
 *     sink: messages=N bytes=B connections=C
 *
 * N counts messages answered 250, B their octets (after dot-stuffing is
 * undone, CRLF line ends as received), C every connection accepted
 * (those turned away with 421 included). `threadlab compare` reads it.
 *
 * Nothing acknowledged is lost. With --store DIR, a message goes to
 * DIR/tmp/NAME as its body arrives; at the final dot the file is
 * fsync'ed, renamed into DIR/new/NAME and DIR/new is fsync'ed — and only
 * then does smtp_server_commit write the 250. A message that ends any
 * other way (the client went, a limit, an error writing) is unlinked
 * from tmp/ and never reaches new/; a failed commit is answered 451/452.
 *
 * Limits, each with its SMTP reply (smtp.c writes them):
 *   --max-connections N  a connection beyond N at once gets "421 4.7.0
 *                        ... too many connections" and is closed
 *   --idle-timeout D     a client silent for D (a Go duration: 30s,
 *                        500ms), even mid-command or mid-DATA, gets "421
 *                        4.4.2 ... idle timeout" and is closed
 *   --max-size BYTES     a bigger message gets 552 (at MAIL when SIZE=
 *                        says so, else at its final dot)
 *
 * Signals: the handler (SA_ONSTACK, and no_split_stack: rt/rt.h's rules)
 * only writes an eventfd; a task of the runtime reads it through its
 * ring and stops the sink from there.
 *
 * Shared state: `sink` below. The counters are atomics. The list of live
 * sessions and `stopping` are under sink.lock (an rt_mutex). A session's
 * socket, buffers, machine and Maildir file belong to its task.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/email/send.h"
#include "bench/email/smtp.h"
#include "rt/rt.h"
#include "syscalls/sys.h"

#define DEFAULT_MAX_CONNECTIONS 10000u
#define DEFAULT_IDLE_NS (300ll * RT_SEC)        /* RFC 5321 4.5.3.2.7 */
#define STOP_GRACE_NS (2ll * RT_SEC)    /* sessions' time to end on stop */
#define IN_SIZE 16384
#define OUT_SIZE 4096

static const char usage[] =
"usage: threadlab sink [--listen HOST:PORT] [--store DIR]\n"
"                      [--max-connections N] [--idle-timeout D]\n"
"                      [--max-size BYTES]\n"
"\n"
"An SMTP server that accepts every message and counts it: one rt/ task\n"
"per connection, its I/O on the workers' io_uring. Says 'listening on\n"
"HOST:PORT' on stderr when ready. On SIGINT or SIGTERM it stops, prints\n"
"\n"
"  sink: messages=N bytes=B connections=C\n"
"\n"
"on stdout (messages answered 250, their bytes, connections accepted)\n"
"and exits 0.\n"
"\n"
"Flags:\n"
"  --listen HOST:PORT     where to listen (default 127.0.0.1:2525); HOST\n"
"                         is a numeric IPv4 address, [IPv6] or localhost;\n"
"                         PORT 0 picks a free port (printed).\n"
"  --store DIR            write each message into the Maildir DIR (tmp/,\n"
"                         then fsync and rename into new/ before the 250);\n"
"                         DIR and its tmp, new and cur are made if missing.\n"
"  --max-connections N    at most N connections at once, 1 to 1000000\n"
"                         (default 10000); more get 421 and are closed.\n"
"  --idle-timeout D       close a client silent for D with 421 (a Go\n"
"                         duration: 300s, 1.5s, 200ms; default 300s).\n"
"  --max-size BYTES       refuse bigger messages with 552 (default: no\n"
"                         limit).\n"
"  -h, --help             print this help.\n"
"\n"
"Exit status: 0 stopped by a signal, 1 could not start, 2 bad flags.\n";

struct conn {
	struct conn *next, *prev;        /* sink.live, under sink.lock */
	int fd;
	bool over_limit;                 /* answer 421 and close */
	bool registered;                 /* on sink.list */
	_Atomic int64_t idle_until;      /* rt_now() deadline of the read */
	_Atomic int timed_out;           /* the watchdog shut its reads */
	struct iovec iov;
	struct msghdr mh;
	struct smtp_server s;
	struct smtp_buf out;
	int tmp_fd;                      /* the message in tmp/, or -1 */
	int store_err;                   /* why it cannot be stored, or 0 */
	uint64_t tmp_off;
	uint64_t body_bytes;
	char name[96];                   /* its Maildir name */
	char outbuf[OUT_SIZE];
	char in[IN_SIZE];
};

static struct {
	/* Settings (read-only once the runtime runs). */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	unsigned max_conns;
	int64_t idle_ns;
	uint64_t max_size;
	const char *store;
	int tmp_dfd, new_dfd;            /* DIR/tmp and DIR/new */
	int stop_efd;                    /* the signal handler writes it */

	struct rt_listener *l;
	_Atomic uint64_t messages, bytes, connections, seq;
	_Atomic unsigned live;           /* sessions running */
	struct rt_mutex lock;            /* live list and stopping */
	struct conn *list;
	bool stopping;
	int start_err;
} sink;



static int parse_flags(int argc, char **argv)
{
	enum { OPT_LISTEN = 256, OPT_STORE, OPT_MAXCONN, OPT_IDLE, OPT_MAXSIZE };
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "store", required_argument, NULL, OPT_STORE },
		{ "max-connections", required_argument, NULL, OPT_MAXCONN },
		{ "idle-timeout", required_argument, NULL, OPT_IDLE },
		{ "max-size", required_argument, NULL, OPT_MAXSIZE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_time bt;
	uint64_t v;
	int c;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			if (bench_parse_hostport(optarg, 0, &sink.addr, &sink.addrlen) < 0)
				return bench_usage_error("sink",
					"invalid --listen '%s': want HOST:PORT with a numeric IPv4 address, [IPv6] or localhost, and a port from 0 to 65535",
					optarg);
			break;
		case OPT_STORE:
			if (!*optarg)
				return bench_usage_error("sink", "--store needs a directory");
			sink.store = optarg;
			break;
		case OPT_MAXCONN:
			if (!bench_parse_u64(optarg, 1, 1000000, &v))
				return bench_usage_error("sink",
					"invalid --max-connections '%s': want a whole number from 1 to 1000000",
					optarg);
			sink.max_conns = (unsigned)v;
			break;
		case OPT_IDLE:
			if (bench_parse_benchtime(optarg, &bt) < 0 || bt.iters ||
			    bt.ns <= 0)
				return bench_usage_error("sink",
					"invalid --idle-timeout '%s': want a positive Go duration such as 30s or 500ms",
					optarg);
			sink.idle_ns = bt.ns;
			break;
		case OPT_MAXSIZE:
			if (!bench_parse_u64(optarg, 1, UINT64_MAX / 2, &v))
				return bench_usage_error("sink",
					"invalid --max-size '%s': want a whole number of bytes, at least 1",
					optarg);
			sink.max_size = v;
			break;
		case 'h':
			bench_cmd_usage(&bench_cmd_sink, stdout);
			return -1;
		default:
			return bench_flag_error("sink", c, argv);
		}
	}
	if (optind < argc)
		return bench_usage_error("sink", "unexpected argument '%s'",
					 argv[optind]);
	return 0;
}

/* ------------------------------------------------------------------
 * The Maildir (task code: every step is a ring operation)
 * ---------------------------------------------------------------- */

static void *name_on_worker(void *arg)
{
	struct conn *c = arg;

	snprintf(c->name, sizeof(c->name), "%lld.P%dQ%llu.threadlab",
		 (long long)(sys_now_ns() / 1000000000), (int)getpid(),
		 (unsigned long long)atomic_fetch_add(&sink.seq, 1) + 1);
	return NULL;
}

/* DATA was accepted: open DIR/tmp/NAME. A failure is kept for the
 * commit (the 354 is already on its way). */
static void store_open(struct conn *c)
{
	c->store_err = 0;
	c->tmp_off = 0;
	c->tmp_fd = -1;
	if (!sink.store)
		return;
	rt_call_on_worker_stack(name_on_worker, c);
	c->tmp_fd = rt_openat(sink.tmp_dfd, c->name,
			      O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (c->tmp_fd < 0) {
		c->store_err = c->tmp_fd;
		c->tmp_fd = -1;
	}
}

static void store_write(struct conn *c, const char *p, size_t n)
{
	while (c->tmp_fd >= 0 && !c->store_err && n) {
		ssize_t w = rt_write(c->tmp_fd, p, n, (int64_t)c->tmp_off);

		if (w <= 0) {
			c->store_err = w < 0 ? (int)w : -EIO;
			break;
		}
		c->tmp_off += (uint64_t)w;
		p += w;
		n -= (size_t)w;
	}
}

/* The message will not be kept: close and unlink its tmp/ file. */
static void store_discard(struct conn *c)
{
	if (c->tmp_fd < 0)
		return;
	rt_close(c->tmp_fd);
	c->tmp_fd = -1;
	rt_unlinkat(sink.tmp_dfd, c->name, 0);
}

/* The final dot: make the message durable in new/; 0 or -errno. */
static int store_commit(struct conn *c)
{
	int r = c->store_err;

	if (!sink.store)
		return 0;
	if (!r)
		r = rt_fsync(c->tmp_fd);
	if (r) {
		store_discard(c);
		return r;
	}
	r = rt_close(c->tmp_fd);
	c->tmp_fd = -1;
	if (!r)
		r = rt_renameat(sink.tmp_dfd, c->name, sink.new_dfd, c->name);
	if (r) {
		rt_unlinkat(sink.tmp_dfd, c->name, 0);
		return r;
	}
	/* The rename itself must survive a crash before we say 250. */
	return rt_fsync(sink.new_dfd);
}

/* ------------------------------------------------------------------
 * Sessions
 * ---------------------------------------------------------------- */

enum sstep { SS_INIT, SS_GREET, SS_FEED, SS_COMMIT, SS_EOF, SS_LIMIT };

struct sstep_args {
	struct conn *c;
	enum sstep kind;
	const char *in;
	size_t len, used;
	int result;                      /* SS_COMMIT's outcome; SS_LIMIT's why */
	bool open;                       /* a message was open (SS_EOF) */
	enum smtp_event ev;
};

static void *sstep_on_worker(void *arg)
{
	struct sstep_args *a = arg;
	struct conn *c = a->c;

	switch (a->kind) {
	case SS_INIT: {
		struct smtp_server_config cfg = {
			.hostname = "threadlab-sink",
			.max_message = sink.max_size,
		};

		smtp_server_init(&c->s, &cfg);
		c->out.data = c->outbuf;
		c->out.cap = sizeof(c->outbuf);
		c->out.len = 0;
		break;
	}
	case SS_GREET:
		smtp_server_greet(&c->s, &c->out);
		break;
	case SS_FEED:
		a->ev = smtp_server_feed(&c->s, a->in, a->len, &a->used,
					 &c->out);
		break;
	case SS_COMMIT:
		smtp_server_commit(&c->s, a->result, &c->out);
		break;
	case SS_EOF:
		a->open = smtp_server_message_open(&c->s);
		smtp_server_eof(&c->s);
		break;
	case SS_LIMIT:
		smtp_server_shutdown(&c->s, (enum smtp_limit)a->result,
				     &c->out);
		break;
	}
	return NULL;
}

static void sstep(struct sstep_args *a)
{
	rt_call_on_worker_stack(sstep_on_worker, a);
}

/* Send what the machine wrote; 0 or -errno. */
static int flush_out(struct conn *c)
{
	size_t off = 0;

	while (off < c->out.len) {
		ssize_t n = rt_send_until(c->fd, c->out.data + off,
					  c->out.len - off, MSG_NOSIGNAL,
					  rt_now() + sink.idle_ns);

		if (n <= 0)
			return n < 0 ? (int)n : -EPIPE;
		off += (size_t)n;
	}
	c->out.len = 0;
	return 0;
}

/* Feed one buffer of input; false when the session is over. */
static bool feed(struct conn *c, const char *in, size_t len)
{
	struct sstep_args a = { .c = c, .kind = SS_FEED };
	size_t off = 0;

	while (off < len) {
		a.kind = SS_FEED;
		a.in = in + off;
		a.len = len - off;
		a.used = 0;
		sstep(&a);
		off += a.used;
		switch (a.ev) {
		case SMTP_EV_NONE:
			break;
		case SMTP_EV_FLUSH:
			if (flush_out(c) < 0)
				return false;
			break;
		case SMTP_EV_DATA:
			/* The 354 goes out with the next flush (below). */
			c->body_bytes = 0;
			store_open(c);
			break;
		case SMTP_EV_BODY:
			c->body_bytes += c->s.data_len;
			store_write(c, c->s.data, c->s.data_len);
			break;
		case SMTP_EV_MESSAGE:
			a.kind = SS_COMMIT;
			a.result = store_commit(c);
			sstep(&a);
			if (a.result == 0) {
				atomic_fetch_add_explicit(&sink.messages, 1,
							  memory_order_relaxed);
				atomic_fetch_add_explicit(&sink.bytes,
							  c->body_bytes,
							  memory_order_relaxed);
			}
			break;
		case SMTP_EV_ABORT:
			store_discard(c);
			break;
		case SMTP_EV_CLOSE:
			flush_out(c);
			return false;
		}
	}
	/* Everything consumed: the replies go out with the next read. */
	return true;
}

/*
 * Send the replies in c->out (if any) and read what comes next: one
 * linked pair on the ring (rt_sendmsg_recv). The read's byte count, 0 at
 * the end of the stream, or -errno; -ETIMEDOUT when the watchdog found
 * the client idle for too long.
 */
static ssize_t reply_and_read(struct conn *c)
{
	ssize_t n, sent;

	atomic_store_explicit(&c->idle_until, rt_now() + sink.idle_ns,
			      memory_order_relaxed);
	if (c->out.len) {
		c->iov.iov_base = c->out.data;
		c->iov.iov_len = c->out.len;
		c->mh.msg_iov = &c->iov;
		c->mh.msg_iovlen = 1;
		n = rt_sendmsg_recv(c->fd, &c->mh, MSG_NOSIGNAL, c->in,
				    sizeof(c->in), 0, &sent);
		if (sent < 0)
			return sent;
		if (n == -ECANCELED && (size_t)sent < c->out.len) {
			/* Short: the rest, then the read. */
			c->out.data += sent;
			c->out.len -= (size_t)sent;
			n = flush_out(c);
			c->out.data = c->outbuf;
			if (n < 0)
				return n;
			n = rt_recv(c->fd, c->in, sizeof(c->in), 0);
		}
		c->out.len = 0;
	} else {
		n = rt_recv(c->fd, c->in, sizeof(c->in), 0);
	}
	if (atomic_load(&c->timed_out))
		return -ETIMEDOUT;
	return n;
}

/* The connection ended or is being cut: drop a partial message. */
static void session_eof(struct conn *c)
{
	struct sstep_args a = { .c = c, .kind = SS_EOF };

	sstep(&a);
	if (a.open || c->tmp_fd >= 0)
		store_discard(c);
}

static void *alloc_conn_on_worker(void *arg)
{
	/* Zeroed: the msghdr's name and control fields must be empty. */
	return calloc(1, sizeof(struct conn));
}

static void *free_on_worker(void *p)
{
	free(p);
	return NULL;
}

static void live_add(struct conn *c)
{
	rt_mutex_lock(&sink.lock);
	c->registered = !sink.stopping;
	if (c->registered) {
		c->prev = NULL;
		c->next = sink.list;
		if (sink.list)
			sink.list->prev = c;
		sink.list = c;
	}
	rt_mutex_unlock(&sink.lock);
}

static void live_remove(struct conn *c)
{
	if (!c->registered)
		return;
	rt_mutex_lock(&sink.lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		sink.list = c->next;
	if (c->next)
		c->next->prev = c->prev;
	rt_mutex_unlock(&sink.lock);
}

/* A connection's task; c->fd and c->over_limit set by the acceptor. */
static void session_task(void *arg)
{
	struct conn *c = arg;
	struct sstep_args a = { .c = c, .kind = SS_INIT };

	sstep(&a);
	if (c->over_limit) {
		a.kind = SS_LIMIT;
		a.result = SMTP_LIMIT_CONNECTIONS;
		sstep(&a);
		flush_out(c);
		goto out;
	}
	live_add(c);
	if (!c->registered) {           /* stopping already */
		a.kind = SS_LIMIT;
		a.result = SMTP_LIMIT_SHUTDOWN;
		sstep(&a);
		flush_out(c);
		goto out;
	}
	a.kind = SS_GREET;
	sstep(&a);
	for (;;) {
		ssize_t n = reply_and_read(c);

		if (n == -ETIMEDOUT) {
			session_eof(c);
			a.kind = SS_LIMIT;
			a.result = SMTP_LIMIT_IDLE;
			sstep(&a);
			flush_out(c);
			break;
		}
		if (n <= 0)
			goto out_eof;
		if (!feed(c, c->in, (size_t)n))
			break;
	}
	goto out_remove;
out_eof:
	session_eof(c);
out_remove:
	/* A message committed or aborted ends with no tmp file open; a
	 * session that ends otherwise (CLOSE after an error) drops it. */
	store_discard(c);
	/* Off the list before the socket closes: the watchdog and the stop
	 * task touch only the sockets of listed sessions. */
	live_remove(c);
out:
	rt_close(c->fd);
	atomic_fetch_sub(&sink.live, 1);
	rt_call_on_worker_stack(free_on_worker, c);
}

/* ------------------------------------------------------------------
 * The idle watchdog
 *
 * A linked timeout on every read would cost an hrtimer in the kernel per
 * read (rt/io.c's _until calls); instead each session publishes when its
 * read goes idle, and this task looks at the listed sessions a few times
 * per idle period. It shuts the read side of a session past its time
 * down, which ends the pending read (end of file); the session sees
 * timed_out and answers 421. The write side stays open for that reply.
 * ---------------------------------------------------------------- */

static void watchdog_task(void *arg)
{
	int64_t period = sink.idle_ns / 4;

	if (period > 500 * RT_MSEC)
		period = 500 * RT_MSEC;
	if (period < 5 * RT_MSEC)
		period = 5 * RT_MSEC;
	for (;;) {
		int64_t now;

		rt_sleep(period);
		now = rt_now();
		rt_mutex_lock(&sink.lock);
		if (sink.stopping) {
			rt_mutex_unlock(&sink.lock);
			return;
		}
		for (struct conn *c = sink.list; c; c = c->next) {
			if (atomic_load_explicit(&c->idle_until,
						 memory_order_relaxed) > now ||
			    atomic_load(&c->timed_out))
				continue;
			atomic_store(&c->timed_out, 1);
			rt_shutdown(c->fd, SHUT_RD);
		}
		rt_mutex_unlock(&sink.lock);
	}
}

/* ------------------------------------------------------------------
 * Stopping
 * ---------------------------------------------------------------- */

__attribute__((no_split_stack))
static void on_signal(int sig)
{
	static const uint64_t one = 1;

	(void)sig;
	sys_write(sink.stop_efd, &one, sizeof(one));
}

/* Waits for the signal's eventfd write, then stops the sink: no more
 * connections, and every session's next receive sees end-of-file. */
static void stop_task(void *arg)
{
	uint64_t v;
	ssize_t n;

	do
		n = rt_read(sink.stop_efd, &v, sizeof(v), -1);
	while (n == -EINTR);
	rt_mutex_lock(&sink.lock);
	sink.stopping = true;
	for (struct conn *c = sink.list; c; c = c->next)
		rt_shutdown(c->fd, SHUT_RD);
	rt_mutex_unlock(&sink.lock);
	rt_listener_shutdown(sink.l);
}

/* ------------------------------------------------------------------
 * The main task: listen, accept, stop
 * ---------------------------------------------------------------- */

static void *announce_on_worker(void *arg)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (getsockname(rt_listener_fd(sink.l), (struct sockaddr *)&ss,
			&len) == 0) {
		if (ss.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
				  host, sizeof(host));
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
			fprintf(stderr, "listening on %s:%d\n", host, port);
		} else {
			inet_ntop(AF_INET6,
				  &((struct sockaddr_in6 *)&ss)->sin6_addr,
				  host, sizeof(host));
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
			fprintf(stderr, "listening on [%s]:%d\n", host, port);
		}
	}
	fflush(stderr);
	return NULL;
}

/* Why the sink cannot start, on stderr. */
struct start_error {
	const char *what;
	int err;                         /* -errno */
};

static void *start_error_on_worker(void *arg)
{
	const struct start_error *e = arg;

	fprintf(stderr, "threadlab sink: %s: %s\n", e->what, strerror(-e->err));
	return NULL;
}

static void main_task(void *arg)
{
	int64_t end;
	int r;

	r = rt_io_available();
	if (r < 0) {
		struct start_error e = {
			"io_uring is not available on this system", r
		};

		sink.start_err = r;
		rt_call_on_worker_stack(start_error_on_worker, &e);
		return;
	}
	r = rt_listen((struct sockaddr *)&sink.addr, sink.addrlen, 4096,
		      &sink.l);
	if (r < 0) {
		struct start_error e = { "cannot listen", r };

		sink.start_err = r;
		rt_call_on_worker_stack(start_error_on_worker, &e);
		return;
	}
	rt_call_on_worker_stack(announce_on_worker, NULL);
	rt_go(stop_task, NULL);
	rt_go(watchdog_task, NULL);
	for (;;) {
		struct conn *c;
		int fd = rt_accept(sink.l);

		if (fd == -ECANCELED)
			break;
		if (fd < 0) {
			/* EMFILE and the like: not fatal, try again soon. */
			rt_sleep(10 * RT_MSEC);
			continue;
		}
		atomic_fetch_add_explicit(&sink.connections, 1,
					  memory_order_relaxed);
		c = rt_call_on_worker_stack(alloc_conn_on_worker, NULL);
		if (!c) {
			rt_close(fd);
			continue;
		}
		c->fd = fd;
		c->registered = false;
		c->tmp_fd = -1;
		atomic_store(&c->timed_out, 0);
		atomic_store(&c->idle_until, INT64_MAX);
		/* Over the limit: the task answers 421 and closes. */
		c->over_limit = atomic_fetch_add(&sink.live, 1) >=
				sink.max_conns;
		if (rt_go(session_task, c) < 0) {
			atomic_fetch_sub(&sink.live, 1);
			rt_close(fd);
			rt_call_on_worker_stack(free_on_worker, c);
		}
	}
	/* Stopping: give the sessions a moment to see their end-of-file. */
	end = rt_now() + STOP_GRACE_NS;
	while (atomic_load(&sink.live) > 0 && rt_now() < end)
		rt_sleep(RT_MSEC);
	rt_listener_close(sink.l);
}

/* ------------------------------------------------------------------
 * The command
 * ---------------------------------------------------------------- */

/* Sockets are file descriptors: let thousands of sessions have one. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int open_maildir(void)
{
	static const char *const sub[] = { "tmp", "new", "cur" };
	int dfd;

	if (mkdir(sink.store, 0755) < 0 && errno != EEXIST)
		goto fail;
	dfd = open(sink.store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		goto fail;
	for (size_t i = 0; i < 3; i++)
		if (mkdirat(dfd, sub[i], 0755) < 0 && errno != EEXIST) {
			close(dfd);
			goto fail;
		}
	sink.tmp_dfd = openat(dfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	sink.new_dfd = openat(dfd, "new", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(dfd);
	if (sink.tmp_dfd < 0 || sink.new_dfd < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "threadlab sink: --store %s: %s\n", sink.store,
		strerror(errno));
	return -1;
}

static int sink_main(int argc, char **argv)
{
	struct rt_config cfg;
	struct sigaction sa;
	int r;

	memset(&sink, 0, sizeof(sink));
	sink.max_conns = DEFAULT_MAX_CONNECTIONS;
	sink.idle_ns = DEFAULT_IDLE_NS;
	sink.tmp_dfd = sink.new_dfd = -1;
	if (bench_parse_hostport("127.0.0.1:2525", 0, &sink.addr, &sink.addrlen) < 0)
		sys_panic("sink: the default address does not parse");
	r = parse_flags(argc, argv);
	if (r)
		return r < 0 ? BENCH_EXIT_OK : r;
	if (sink.store && open_maildir() < 0)
		return BENCH_EXIT_FAIL;
	/* Blocking: the stop task reads it on a ring. */
	sink.stop_efd = eventfd(0, EFD_CLOEXEC);
	if (sink.stop_efd < 0) {
		perror("threadlab sink: eventfd");
		return BENCH_EXIT_FAIL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	r = rt_main(bench_send_rt_config(&cfg), main_task, NULL);
	if (r < 0) {
		fprintf(stderr, "threadlab sink: rt_main: %s\n", strerror(-r));
		return BENCH_EXIT_FAIL;
	}
	if (sink.start_err)
		return BENCH_EXIT_FAIL;
	printf("sink: messages=%llu bytes=%llu connections=%llu\n",
	       (unsigned long long)atomic_load(&sink.messages),
	       (unsigned long long)atomic_load(&sink.bytes),
	       (unsigned long long)atomic_load(&sink.connections));
	return fflush(stdout) == 0 ? BENCH_EXIT_OK : BENCH_EXIT_FAIL;
}

const struct bench_cmd bench_cmd_sink = {
	.name = "sink",
	.summary = "an SMTP server on rt/ and io_uring that counts (and stores) mail",
	.usage = usage,
	.run = sink_main,
};

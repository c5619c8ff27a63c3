/*
 * rt/ I/O on io_uring (rt/io.c): a ring on every worker and the setup
 * flags it got, echo over loopback between tasks with exact bytes at
 * several sizes, many connections at once across the workers, multishot
 * accept, deadlines that fire, close and shutdown, file operations, the
 * eventfd wake of a worker sleeping in its ring, and the runtime without
 * rings (THREADLAB_IO=off). Each case runs with segmented and with
 * mapped stacks (lib_rt.h). Every wait is bounded by a deadline, so a
 * bug fails a case instead of hanging it.
 *
 * Task code here calls libc only through rt_call_on_worker_stack or in
 * its failure paths (RTT_CHECK); buffers are static, not on task stacks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib_rt.h"

#define SEC RT_SEC
#define TEST_DEADLINE (20 * SEC)         /* any one wait in a case */

/* ------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------- */

/* Skip the case where this kernel (or its settings) gives no io_uring,
 * and under valgrind, where rt/ makes no rings (rt/io.c says why). */
static void need_io_uring(void)
{
	static int ok;          /* 0: untried; 1: yes; -1: no */
	struct io_uring ring;

	if (RUNNING_ON_VALGRIND) {
		print_message("valgrind does not follow io_uring: rt/ makes no "
			      "rings under it\n");
		skip();
	}
	if (!ok) {
		ok = io_uring_queue_init(4, &ring, 0) == 0 ? 1 : -1;
		if (ok > 0)
			io_uring_queue_exit(&ring);
	}
	if (ok < 0) {
		print_message("io_uring is not available here\n");
		skip();
	}
}

static void *getsockname_on_worker(void *arg)
{
	struct sockaddr_in *in = arg;
	socklen_t len = sizeof(*in);
	int fd = in->sin_port;

	in->sin_port = 0;
	if (getsockname(fd, (struct sockaddr *)in, &len) < 0)
		in->sin_family = 0;
	return NULL;
}

/* A listener on 127.0.0.1 with a free port; its address in *addr. */
static struct rt_listener *listen_loopback(struct sockaddr_in *addr)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct rt_listener *l = NULL;
	int r;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = rt_listen((struct sockaddr *)&a, sizeof(a), 512, &l);
	RTT_CHECKF(r == 0, "rt_listen: %d", r);
	if (r)
		return NULL;
	a.sin_port = (in_port_t)rt_listener_fd(l);
	rt_call_on_worker_stack(getsockname_on_worker, &a);
	RTT_CHECK(a.sin_family == AF_INET);
	*addr = a;
	return l;
}

/* A connected TCP socket, or -errno. */
static int dial(const struct sockaddr_in *addr)
{
	int fd = rt_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return fd;
	r = rt_connect_until(fd, (const struct sockaddr *)addr, sizeof(*addr),
			     rt_now() + TEST_DEADLINE);
	if (r < 0) {
		rt_close(fd);
		return r;
	}
	return fd;
}

/* Send all of buf; 0 or -errno. */
static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = rt_send_until(fd, buf, len, MSG_NOSIGNAL,
					  rt_now() + TEST_DEADLINE);

		if (n <= 0)
			return n < 0 ? (int)n : -EPIPE;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Receive exactly len bytes; 0, -errno, or -ECONNRESET at an early EOF. */
static int recv_all(int fd, char *buf, size_t len)
{
	while (len) {
		ssize_t n = rt_recv_until(fd, buf, len, 0,
					  rt_now() + TEST_DEADLINE);

		if (n <= 0)
			return n < 0 ? (int)n : -ECONNRESET;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static uint8_t pattern(size_t i, unsigned seed)
{
	return (uint8_t)(i * 131 + seed * 7 + (i >> 9));
}

/* An echo server's connection: echo until EOF. Each has its own buffer
 * (echo_next is reset by every case that starts a server). */
#define ECHO_CONNS 512
static char echo_bufs[ECHO_CONNS][16384];
static _Atomic unsigned echo_next;

static void echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned k = atomic_fetch_add(&echo_next, 1);
	char *buf = echo_bufs[k % ECHO_CONNS];
	ssize_t n;

	while ((n = rt_recv_until(fd, buf, sizeof(echo_bufs[0]), 0,
				  rt_now() + TEST_DEADLINE)) > 0)
		if (send_all(fd, buf, (size_t)n) < 0)
			break;
	RTT_CHECKF(n >= 0, "echo recv: %zd", n);
	RTT_CHECK(rt_close(fd) == 0);
}

/* Accept `n` connections, one echo task each. */
struct acceptor {
	struct rt_listener *l;
	long n;
	_Atomic long accepted;
	_Atomic int done;
};

static void accept_loop(void *arg)
{
	struct acceptor *a = arg;

	for (long i = 0; i < a->n; i++) {
		int fd = rt_accept_until(a->l, rt_now() + TEST_DEADLINE);

		RTT_CHECKF(fd >= 0, "rt_accept: %d", fd);
		if (fd < 0)
			break;
		atomic_fetch_add(&a->accepted, 1);
		RTT_CHECK(rt_go(echo_conn, (void *)(intptr_t)fd) == 0);
	}
	atomic_store(&a->done, 1);
}

/* Yield until *flag or the deadline; false on timeout. */
static bool wait_flag(_Atomic int *flag, int want)
{
	int64_t end = rt_now() + TEST_DEADLINE;

	while (atomic_load(flag) < want) {
		if (rt_now() > end)
			return false;
		rt_sleep(RT_MSEC);
	}
	return true;
}

/* ------------------------------------------------------------------
 * A ring on every worker
 * ---------------------------------------------------------------- */

static _Atomic unsigned seen_workers;

static void check_ring(void *arg)
{
	int w = rt_worker_id();

	RTT_CHECKF(rt_io_available() == 0, "worker %d: %d", w,
		   rt_io_available());
	atomic_fetch_or(&seen_workers, 1u << w);
	rt_sleep(RT_MSEC);      /* keep this worker busy a moment */
}

static void rings_main(void *arg)
{
	unsigned n = rt_workers(), want = (1u << n) - 1;
	int64_t end = rt_now() + TEST_DEADLINE;

	/* Spawn until every worker has run one of them. */
	while (atomic_load(&seen_workers) != want && rt_now() < end) {
		for (unsigned i = 0; i < 2 * n; i++)
			rt_go(check_ring, NULL);
		rt_sleep(2 * RT_MSEC);
	}
	RTT_CHECKF(atomic_load(&seen_workers) == want, "workers seen %#x of %#x",
		   atomic_load(&seen_workers), want);
}

static void test_ring_per_worker(void **state)
{
	struct rt_config cfg = rtt_config(state, 3);
	struct rt_io_stats st[3];
	char name[128];
	unsigned n;

	need_io_uring();

	atomic_store(&seen_workers, 0);
	rtt_run(&cfg, rings_main, NULL);
	n = rt_io_stats(st, 3);
	assert_int_equal(n, 3);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(st[i].ring, 1);
		assert_int_equal(st[i].setup_error, 0);
		/* Kernel 6.1+ accepts every flag asked for; older ones get
		 * fewer (the fallback), never none of the basic set. */
		assert_true(st[i].setup_flags & IORING_SETUP_CQSIZE);
		assert_true(st[i].ops[RT_IO_WAKE] >= 1);
		assert_true(st[i].enters >= 1);
	}
	rt_io_setup_name(st[0].setup_flags, name, sizeof(name));
	print_message("setup: %s\n", name);
	if (!(st[0].setup_flags & IORING_SETUP_DEFER_TASKRUN))
		print_message("note: this kernel refused DEFER_TASKRUN\n");
}

/* ------------------------------------------------------------------
 * Echo with exact bytes
 * ---------------------------------------------------------------- */

static const size_t echo_sizes[] = { 1, 2, 100, 1000, 4096, 65536,
				     1u << 20 };
#define ECHO_MAX (1u << 20)
static char echo_out[ECHO_MAX], echo_in[ECHO_MAX];

static void echo_client(void *arg)
{
	struct sockaddr_in *addr = arg;
	int fd = dial(addr);

	RTT_CHECKF(fd >= 0, "dial: %d", fd);
	if (fd < 0)
		return;
	for (size_t k = 0; k < sizeof(echo_sizes) / sizeof(echo_sizes[0]); k++) {
		size_t len = echo_sizes[k];
		struct msghdr mh = { 0 };
		struct iovec iov[2];
		int r;

		for (size_t i = 0; i < len; i++)
			echo_out[i] = (char)pattern(i, (unsigned)k);
		if (k % 2 == 0) {
			r = send_all(fd, echo_out, len);
		} else {
			/* Vectored: the two halves in one sendmsg. */
			size_t half = len / 2, sent = 0;

			iov[0] = (struct iovec){ echo_out, half };
			iov[1] = (struct iovec){ echo_out + half, len - half };
			mh.msg_iov = iov;
			mh.msg_iovlen = 2;
			ssize_t n = rt_sendmsg(fd, &mh, MSG_NOSIGNAL);

			RTT_CHECKF(n > 0, "rt_sendmsg: %zd", n);
			sent = n > 0 ? (size_t)n : len;
			r = sent < len ? send_all(fd, echo_out + sent,
						  len - sent) : 0;
		}
		RTT_CHECKF(r == 0, "send %zu: %d", len, r);
		r = recv_all(fd, echo_in, len);
		RTT_CHECKF(r == 0, "recv %zu: %d", len, r);
		RTT_CHECKF(memcmp(echo_in, echo_out, len) == 0,
			   "echoed bytes differ at size %zu", len);
	}
	RTT_CHECK(rt_shutdown(fd, SHUT_WR) == 0);
	/* The server closes after our EOF: we see its EOF. */
	RTT_CHECK(rt_recv_until(fd, echo_in, 16, 0, rt_now() + TEST_DEADLINE)
		  == 0);
	RTT_CHECK(rt_close(fd) == 0);
}

static _Atomic int client_done;

static void echo_client_task(void *arg)
{
	echo_client(arg);
	atomic_store(&client_done, 1);
}

static void echo_main(void *arg)
{
	struct sockaddr_in addr;
	struct acceptor a = { .n = 1 };

	a.l = listen_loopback(&addr);
	if (!a.l)
		return;
	atomic_store(&echo_next, 0);
	atomic_store(&client_done, 0);
	rt_go(accept_loop, &a);
	rt_go(echo_client_task, &addr);
	RTT_CHECK(wait_flag(&client_done, 1));
	RTT_CHECK(wait_flag(&a.done, 1));
	RTT_CHECK(rt_listener_close(a.l) == 0);
}

static void test_echo_sizes(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);
	struct rt_io_stats tot;

	need_io_uring();

	rtt_run(&cfg, echo_main, NULL);
	rt_io_stats_total(&tot);
	assert_true(tot.ops[RT_IO_RECV] > 0);
	assert_true(tot.ops[RT_IO_SEND] > 0);
	assert_true(tot.ops[RT_IO_SENDMSG] > 0);
	assert_true(tot.ops[RT_IO_CONNECT] == 1);
	assert_true(tot.ops[RT_IO_TIMEOUT] > 0);
}

/* ------------------------------------------------------------------
 * Many connections at once, across the workers
 * ---------------------------------------------------------------- */

#define MANY 300
#define MANY_ROUNDS 5
#define MANY_MSG 1000
static char many_out[MANY][MANY_MSG], many_in[MANY][MANY_MSG];
static _Atomic int many_done;
static struct sockaddr_in many_addr;
static _Atomic unsigned many_workers;

static void many_client(void *arg)
{
	long id = (long)arg;
	int fd = dial(&many_addr);

	RTT_CHECKF(fd >= 0, "dial %ld: %d", id, fd);
	if (fd >= 0) {
		for (int round = 0; round < MANY_ROUNDS; round++) {
			for (size_t i = 0; i < MANY_MSG; i++)
				many_out[id][i] = (char)pattern(i, (unsigned)(id + round));
			RTT_CHECK(send_all(fd, many_out[id], MANY_MSG) == 0);
			RTT_CHECK(recv_all(fd, many_in[id], MANY_MSG) == 0);
			RTT_CHECKF(memcmp(many_out[id], many_in[id], MANY_MSG) == 0,
				   "connection %ld round %d: bytes differ", id,
				   round);
			atomic_fetch_or(&many_workers, 1u << rt_worker_id());
		}
		RTT_CHECK(rt_close(fd) == 0);
	}
	atomic_fetch_add(&many_done, 1);
}

static void many_main(void *arg)
{
	struct acceptor a = { .n = MANY };

	a.l = listen_loopback(&many_addr);
	if (!a.l)
		return;
	atomic_store(&echo_next, 0);
	atomic_store(&many_done, 0);
	atomic_store(&many_workers, 0);
	rt_go(accept_loop, &a);
	for (long i = 0; i < MANY; i++)
		RTT_CHECK(rt_go(many_client, (void *)i) == 0);
	RTT_CHECKF(wait_flag(&many_done, MANY), "%d of %d clients done",
		   atomic_load(&many_done), MANY);
	RTT_CHECK(wait_flag(&a.done, 1));
	RTT_CHECK(atomic_load(&a.accepted) == MANY);
	RTT_CHECK(rt_listener_close(a.l) == 0);
}

static void test_many_connections(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);
	struct rt_io_stats st[2];

	need_io_uring();

	rtt_run(&cfg, many_main, NULL);
	assert_int_equal(rt_io_stats(st, 2), 2);
	/* Both rings carried connections' I/O. */
	assert_true(st[0].ops[RT_IO_RECV] > 0);
	assert_true(st[1].ops[RT_IO_RECV] > 0);
	print_message("recvs per worker %llu / %llu; enters %llu / %llu; "
		      "completions per enter %.1f\n",
		      (unsigned long long)st[0].ops[RT_IO_RECV],
		      (unsigned long long)st[1].ops[RT_IO_RECV],
		      (unsigned long long)st[0].enters,
		      (unsigned long long)st[1].enters,
		      (double)(st[0].completions + st[1].completions) /
		      (double)(st[0].enters + st[1].enters));
}

/* ------------------------------------------------------------------
 * A request and its reply as one linked pair (rt_sendmsg_recv)
 * ---------------------------------------------------------------- */

static char pair_big[1u << 20];

struct pair_srv {
	struct rt_listener *l;
	_Atomic int done;
};

/* Reads "N\n"-terminated requests of any size, answers each with
 * "ok <bytes>\n"; stops at EOF. */
static void pair_server(void *arg)
{
	struct pair_srv *ps = arg;
	static char buf[65536];
	int fd = rt_accept_until(ps->l, rt_now() + TEST_DEADLINE);
	size_t got = 0;
	ssize_t n;

	RTT_CHECK(fd >= 0);
	while (fd >= 0 && (n = rt_recv_until(fd, buf, sizeof(buf), 0,
					     rt_now() + TEST_DEADLINE)) > 0) {
		got += (size_t)n;
		if (buf[n - 1] == '\n') {
			char line[32];
			int len = snprintf(line, sizeof(line), "ok %zu\n", got);

			RTT_CHECK(send_all(fd, line, (size_t)len) == 0);
			got = 0;
		}
	}
	if (fd >= 0)
		rt_close(fd);
	atomic_store(&ps->done, 1);
}

static void pair_main(void *arg)
{
	struct sockaddr_in addr;
	struct pair_srv ps = { 0 };
	struct msghdr mh = { 0 };
	struct iovec iov[2];
	char reply[64];
	ssize_t sent, n;
	int fd;

	ps.l = listen_loopback(&addr);
	if (!ps.l)
		return;
	rt_go(pair_server, &ps);
	fd = dial(&addr);
	RTT_CHECK(fd >= 0);
	mh.msg_iov = iov;
	/* small, two iovecs */
	iov[0] = (struct iovec){ "hello ", 6 };
	iov[1] = (struct iovec){ "there\n", 6 };
	mh.msg_iovlen = 2;
	n = rt_sendmsg_recv(fd, &mh, MSG_NOSIGNAL, reply, sizeof(reply), 0,
			    &sent);
	RTT_CHECKF(sent == 12 && n == 6 && memcmp(reply, "ok 12\n", 6) == 0,
		   "pair: sent %zd, got %zd", sent, n);
	/* 1 MiB: far more than the socket buffers; the ring finishes the
	 * send (MSG_WAITALL) before the receive runs */
	memset(pair_big, 'b', sizeof(pair_big));
	pair_big[sizeof(pair_big) - 1] = '\n';
	iov[0] = (struct iovec){ pair_big, sizeof(pair_big) };
	mh.msg_iovlen = 1;
	n = rt_sendmsg_recv_until(fd, &mh, MSG_NOSIGNAL, reply, sizeof(reply),
				  0, &sent, rt_now() + TEST_DEADLINE);
	RTT_CHECKF(sent == (ssize_t)sizeof(pair_big), "big pair: sent %zd",
		   sent);
	RTT_CHECKF(n > 0 && strncmp(reply, "ok 1048576\n", (size_t)n) == 0,
		   "big pair: got %zd '%.*s'", n, (int)(n > 0 ? n : 0), reply);
	/* a deadline with no answer (no newline: the server waits) */
	iov[0] = (struct iovec){ "no end", 6 };
	n = rt_sendmsg_recv_until(fd, &mh, MSG_NOSIGNAL, reply, sizeof(reply),
				  0, &sent, rt_now() + 30 * RT_MSEC);
	RTT_CHECKF(sent == 6 && n == -ETIMEDOUT, "pair deadline: %zd %zd",
		   sent, n);
	/* the send fails: the receive is not made */
	RTT_CHECK(rt_shutdown(fd, SHUT_WR) == 0);
	iov[0] = (struct iovec){ "late\n", 5 };
	n = rt_sendmsg_recv(fd, &mh, MSG_NOSIGNAL, reply, sizeof(reply), 0,
			    &sent);
	RTT_CHECKF(sent == -EPIPE && n == -ECANCELED, "pair after shutdown: "
		   "sent %zd, got %zd", sent, n);
	RTT_CHECK(wait_flag(&ps.done, 1));
	RTT_CHECK(rt_close(fd) == 0);
	RTT_CHECK(rt_listener_close(ps.l) == 0);
}

static void test_sendmsg_recv_pair(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);
	struct rt_io_stats tot;

	need_io_uring();
	rtt_run(&cfg, pair_main, NULL);
	rt_io_stats_total(&tot);
	assert_true(tot.ops[RT_IO_SENDMSG] >= 4);
}

/* ------------------------------------------------------------------
 * The runtime ends with tasks parked on I/O: rt_main returns (the rings
 * cancel what is in flight before the stacks go).
 * ---------------------------------------------------------------- */

static int abandon_fds[2];

static void abandoned_reader(void *arg)
{
	static char b[16];

	rt_recv(abandon_fds[0], b, sizeof(b), 0);
	RTT_CHECK(!"a read nobody answers returned");
}

static void abandon_main(void *arg)
{
	for (int i = 0; i < 10; i++)
		rt_go(abandoned_reader, NULL);
	rt_sleep(20 * RT_MSEC);
}

static void test_end_with_io_in_flight(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);
	int64_t t0;

	need_io_uring();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    abandon_fds), 0);
	t0 = rt_now();
	rtt_run(&cfg, abandon_main, NULL);
	assert_true(rt_now() - t0 < 5 * SEC);
	close(abandon_fds[0]);
	close(abandon_fds[1]);
}

/* ------------------------------------------------------------------
 * Multishot accept: connections that arrive before anyone accepts are
 * kept; one SQE serves many connections.
 * ---------------------------------------------------------------- */

#define BURST 40
#define BIG_BURST 200
static int big_cfd[BIG_BURST];

static void multishot_main(void *arg)
{
	struct sockaddr_in addr;
	struct rt_listener *l = listen_loopback(&addr);
	struct rt_io_stats before, after;
	int cfd[BURST], sfd[BURST];
	char b;

	if (!l)
		return;
	rt_io_stats_total(&before);
	/* First accept: arms the multishot; the first connection ends it. */
	cfd[0] = dial(&addr);
	RTT_CHECK(cfd[0] >= 0);
	sfd[0] = rt_accept_until(l, rt_now() + TEST_DEADLINE);
	RTT_CHECKF(sfd[0] >= 0, "accept: %d", sfd[0]);
	/* Connections while nobody waits in rt_accept: the armed accept
	 * takes them and the listener keeps them. */
	for (int i = 1; i < BURST; i++) {
		cfd[i] = dial(&addr);
		RTT_CHECKF(cfd[i] >= 0, "dial %d: %d", i, cfd[i]);
	}
	rt_sleep(20 * RT_MSEC);
	for (int i = 1; i < BURST; i++) {
		sfd[i] = rt_accept_until(l, rt_now() + TEST_DEADLINE);
		RTT_CHECKF(sfd[i] >= 0, "accept %d: %d", i, sfd[i]);
	}
	rt_io_stats_total(&after);
	RTT_CHECKF(after.ops[RT_IO_ACCEPT] - before.ops[RT_IO_ACCEPT] < BURST / 4,
		   "%llu accept SQEs for %d connections",
		   (unsigned long long)(after.ops[RT_IO_ACCEPT] -
					before.ops[RT_IO_ACCEPT]), BURST);
	/* Each accepted socket is the other end of one of ours: a byte
	 * written on each client arrives on exactly one server socket. */
	for (int i = 0; i < BURST; i++) {
		b = (char)i;
		RTT_CHECK(rt_send(cfd[i], &b, 1, MSG_NOSIGNAL) == 1);
	}
	{
		uint64_t got = 0;

		for (int i = 0; i < BURST; i++) {
			RTT_CHECK(rt_recv_until(sfd[i], &b, 1, 0,
						rt_now() + TEST_DEADLINE) == 1);
			RTT_CHECK(b >= 0 && b < BURST);
			got |= 1ull << b;
		}
		RTT_CHECK(got == (1ull << BURST) - 1);
	}
	for (int i = 0; i < BURST; i++) {
		RTT_CHECK(rt_close(cfd[i]) == 0);
		RTT_CHECK(rt_close(sfd[i]) == 0);
	}
	/* More connections than the listener's first queue holds (64): it
	 * grows, and none is lost. */
	for (int i = 0; i < BIG_BURST; i++) {
		big_cfd[i] = dial(&addr);
		RTT_CHECKF(big_cfd[i] >= 0, "dial %d: %d", i, big_cfd[i]);
	}
	rt_sleep(50 * RT_MSEC);
	for (int i = 0; i < BIG_BURST; i++) {
		int fd = rt_accept_until(l, rt_now() + TEST_DEADLINE);

		RTT_CHECKF(fd >= 0, "accept %d of the big burst: %d", i, fd);
		if (fd >= 0)
			rt_close(fd);
	}
	RTT_CHECK(rt_accept_until(l, rt_now() + 20 * RT_MSEC) == -ETIMEDOUT);
	for (int i = 0; i < BIG_BURST; i++)
		if (big_cfd[i] >= 0)
			rt_close(big_cfd[i]);
	RTT_CHECK(rt_listener_close(l) == 0);
}

static void test_accept_multishot(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	need_io_uring();

	rtt_run(&cfg, multishot_main, NULL);
}

/* ------------------------------------------------------------------
 * Deadlines
 * ---------------------------------------------------------------- */

static void deadline_main(void *arg)
{
	struct sockaddr_in addr;
	struct rt_listener *l = listen_loopback(&addr);
	int64_t t0, el;
	char buf[8];
	int c, s;
	ssize_t n;

	if (!l)
		return;
	/* accept with nobody connecting */
	t0 = rt_now();
	s = rt_accept_until(l, t0 + 30 * RT_MSEC);
	el = rt_now() - t0;
	RTT_CHECKF(s == -ETIMEDOUT, "accept_until: %d", s);
	RTT_CHECKF(el >= 30 * RT_MSEC, "accept timed out after %lld ns",
		   (long long)el);
	/* a deadline already past */
	RTT_CHECK(rt_accept_until(l, rt_now() - 1) == -ETIMEDOUT);

	c = dial(&addr);
	s = rt_accept_until(l, rt_now() + TEST_DEADLINE);
	RTT_CHECK(c >= 0 && s >= 0);
	/* recv with a silent peer: the linked timeout cancels it */
	t0 = rt_now();
	n = rt_recv_until(s, buf, sizeof(buf), 0, t0 + 30 * RT_MSEC);
	el = rt_now() - t0;
	RTT_CHECKF(n == -ETIMEDOUT, "recv_until: %zd", n);
	RTT_CHECKF(el >= 30 * RT_MSEC, "recv timed out after %lld ns",
		   (long long)el);
	/* a timed-out receive consumed nothing: the next gets the byte */
	RTT_CHECK(rt_send(c, "x", 1, MSG_NOSIGNAL) == 1);
	n = rt_recv_until(s, buf, sizeof(buf), 0, rt_now() + TEST_DEADLINE);
	RTT_CHECKF(n == 1 && buf[0] == 'x', "recv after timeout: %zd", n);
	/* data before the deadline: no timeout */
	RTT_CHECK(rt_send(c, "yz", 2, MSG_NOSIGNAL) == 2);
	n = rt_recv_until(s, buf, sizeof(buf), 0, rt_now() + TEST_DEADLINE);
	RTT_CHECK(n == 2);
	RTT_CHECK(rt_close(c) == 0);
	RTT_CHECK(rt_close(s) == 0);
	RTT_CHECK(rt_listener_close(l) == 0);
}

static void test_deadline(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	need_io_uring();

	rtt_run(&cfg, deadline_main, NULL);
}

/* ------------------------------------------------------------------
 * Close, EOF, errors, and shutting a listener down under a waiter
 * ---------------------------------------------------------------- */

struct shut {
	struct rt_listener *l;
	_Atomic int started, result, done;
};

static void blocked_acceptor(void *arg)
{
	struct shut *sh = arg;
	int r;

	atomic_store(&sh->started, 1);
	r = rt_accept_until(sh->l, rt_now() + TEST_DEADLINE);
	atomic_store(&sh->result, r);
	atomic_store(&sh->done, 1);
}

static void close_main(void *arg)
{
	struct sockaddr_in addr;
	struct shut sh = { 0 };
	char buf[4];
	int c, s;

	sh.l = listen_loopback(&addr);
	if (!sh.l)
		return;
	c = dial(&addr);
	s = rt_accept_until(sh.l, rt_now() + TEST_DEADLINE);
	RTT_CHECK(c >= 0 && s >= 0);
	/* the peer closes: EOF */
	RTT_CHECK(rt_close(c) == 0);
	RTT_CHECK(rt_recv_until(s, buf, sizeof(buf), 0,
				rt_now() + TEST_DEADLINE) == 0);
	RTT_CHECK(rt_close(s) == 0);
	/* errors come back as -errno */
	RTT_CHECK(rt_close(s) == -EBADF);
	RTT_CHECK(rt_recv(-1, buf, 1, 0) == -EBADF);
	RTT_CHECK(rt_send(s, buf, 1, MSG_NOSIGNAL) == -EBADF);
	/* connection refused: nobody listens on port 1 */
	{
		struct sockaddr_in no = addr;
		int fd = rt_socket(AF_INET, SOCK_STREAM, 0);

		no.sin_port = htons(1);
		RTT_CHECK(fd >= 0);
		RTT_CHECK(rt_connect(fd, (struct sockaddr *)&no, sizeof(no)) ==
			  -ECONNREFUSED);
		RTT_CHECK(rt_close(fd) == 0);
	}
	/* a task blocked in rt_accept, then the listener shut down */
	rt_go(blocked_acceptor, &sh);
	RTT_CHECK(wait_flag(&sh.started, 1));
	rt_sleep(10 * RT_MSEC);
	rt_listener_shutdown(sh.l);
	RTT_CHECK(wait_flag(&sh.done, 1));
	RTT_CHECKF(atomic_load(&sh.result) == -ECANCELED, "accept: %d",
		   atomic_load(&sh.result));
	RTT_CHECK(rt_accept(sh.l) == -ECANCELED);
	RTT_CHECK(rt_listener_close(sh.l) == 0);
}

static void test_close(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	need_io_uring();

	rtt_run(&cfg, close_main, NULL);
}

/* ------------------------------------------------------------------
 * Files: open, write, fsync, rename, read, unlink on the ring
 * ---------------------------------------------------------------- */

static char dir_path[64];
static char file_buf[8192], file_back[8192];

static void files_main(void *arg)
{
	int dfd = rt_openat(AT_FDCWD, dir_path, O_RDONLY | O_DIRECTORY, 0);
	int fd;

	RTT_CHECKF(dfd >= 0, "open dir: %d", dfd);
	fd = rt_openat(dfd, "tmp-file", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		       0600);
	RTT_CHECKF(fd >= 0, "openat: %d", fd);
	for (size_t i = 0; i < sizeof(file_buf); i++)
		file_buf[i] = (char)pattern(i, 3);
	RTT_CHECK(rt_write(fd, file_buf, 5000, -1) == 5000);
	RTT_CHECK(rt_write(fd, file_buf + 5000, sizeof(file_buf) - 5000, -1) ==
		  (ssize_t)(sizeof(file_buf) - 5000));
	RTT_CHECK(rt_fsync(fd) == 0);
	RTT_CHECK(rt_close(fd) == 0);
	RTT_CHECK(rt_renameat(dfd, "tmp-file", dfd, "new-file") == 0);
	RTT_CHECK(rt_openat(dfd, "tmp-file", O_RDONLY, 0) == -ENOENT);
	fd = rt_openat(dfd, "new-file", O_RDONLY | O_CLOEXEC, 0);
	RTT_CHECK(fd >= 0);
	RTT_CHECK(rt_read(fd, file_back, sizeof(file_back), 0) ==
		  (ssize_t)sizeof(file_back));
	RTT_CHECK(memcmp(file_back, file_buf, sizeof(file_buf)) == 0);
	RTT_CHECK(rt_close(fd) == 0);
	RTT_CHECK(rt_unlinkat(dfd, "new-file", 0) == 0);
	RTT_CHECK(rt_fsync(dfd) == 0);
	RTT_CHECK(rt_close(dfd) == 0);
}

static void test_files(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	need_io_uring();

	snprintf(dir_path, sizeof(dir_path), "/tmp/threadlab-test-io.XXXXXX");
	assert_non_null(mkdtemp(dir_path));
	rtt_run(&cfg, files_main, NULL);
	assert_int_equal(rmdir(dir_path), 0);
}

/* ------------------------------------------------------------------
 * Waking a worker asleep in its ring: from a thread outside the
 * runtime (rt_go from there writes the worker's eventfd).
 * ---------------------------------------------------------------- */

static _Atomic int outside_ran, outside_stop;

static void outside_task(void *arg)
{
	atomic_fetch_add(&outside_ran, 1);
}

static void *outside_thread(void *arg)
{
	for (int i = 0; i < 20 && !atomic_load(&outside_stop); i++) {
		usleep(5000);   /* long enough for every worker to sleep */
		while (!rt_workers() && !atomic_load(&outside_stop))
			usleep(1000);
		if (atomic_load(&outside_stop))
			break;
		rt_go(outside_task, NULL);
	}
	return NULL;
}

static void outside_main(void *arg)
{
	/* Wait (parked in the ring, through rt_sleep) for the 20 tasks
	 * that the outside thread spawns. */
	int64_t end = rt_now() + TEST_DEADLINE;

	while (atomic_load(&outside_ran) < 20 && rt_now() < end)
		rt_sleep(RT_MSEC);
	RTT_CHECKF(atomic_load(&outside_ran) == 20, "%d of 20 ran",
		   atomic_load(&outside_ran));
}

static void test_wake_from_outside(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);
	struct rt_io_stats tot;
	pthread_t th;

	need_io_uring();

	atomic_store(&outside_ran, 0);
	atomic_store(&outside_stop, 0);
	assert_int_equal(pthread_create(&th, NULL, outside_thread, NULL), 0);
	rtt_run(&cfg, outside_main, NULL);
	atomic_store(&outside_stop, 1);
	pthread_join(th, NULL);
	rt_io_stats_total(&tot);
	assert_true(tot.waits > 0);
}

/* ------------------------------------------------------------------
 * Without rings (THREADLAB_IO=off): -ENOSYS, and the runtime still
 * sleeps and wakes on its futexes.
 * ---------------------------------------------------------------- */

static void off_task(void *arg)
{
	atomic_fetch_add(&outside_ran, 1);
}

static void off_main(void *arg)
{
	char b;

	RTT_CHECK(rt_io_available() == -ENOSYS);
	RTT_CHECK(rt_recv(0, &b, 1, 0) == -ENOSYS);
	RTT_CHECK(rt_socket(AF_INET, SOCK_STREAM, 0) == -ENOSYS);
	for (int i = 0; i < 100; i++)
		rt_go(off_task, NULL);
	rt_sleep(20 * RT_MSEC);
	RTT_CHECK(atomic_load(&outside_ran) == 100);
}

static void test_io_off(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);
	struct rt_io_stats tot;

	atomic_store(&outside_ran, 0);
	setenv("THREADLAB_IO", "off", 1);
	rtt_run(&cfg, off_main, NULL);
	unsetenv("THREADLAB_IO");
	rt_io_stats_total(&tot);
	assert_int_equal(tot.ring, 0);
	assert_int_equal(tot.setup_error, -ENOSYS);
}

/* ------------------------------------------------------------------
 * Misuse: an rt_ I/O call outside a task stops the program.
 * ---------------------------------------------------------------- */

static void recv_outside(void *arg)
{
	char b;

	rt_recv(0, &b, 1, 0);
}

static void test_outside_task_stops(void **state)
{
	char out[512];
	int st = rtt_fork_capture(recv_outside, NULL, out, sizeof(out));

	assert_true(st != 0);
	assert_non_null(strstr(out, "rt_recv: called outside a task"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		RT_TEST(test_ring_per_worker),
		RT_TEST(test_echo_sizes),
		RT_TEST(test_many_connections),
		RT_TEST(test_accept_multishot),
		RT_TEST(test_sendmsg_recv_pair),
		RT_TEST(test_end_with_io_in_flight),
		RT_TEST(test_deadline),
		RT_TEST(test_close),
		RT_TEST(test_files),
		RT_TEST(test_wake_from_outside),
		RT_TEST(test_io_off),
		cmocka_unit_test(test_outside_task_stops),
	};

	rtt_filter_from_env();
	return cmocka_run_group_tests_name("rt_io", tests, NULL, NULL);
}

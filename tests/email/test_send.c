/*
 * test_send: `threadlab send` (the clone and pthread models; rt too, against
 * smtp-sink) against real
 * servers on loopback, with counts and bytes checked:
 *
 *  - a small blocking server in this test, built on smtp.c's server
 *    machine (one pthread per connection), which compares every message
 *    it receives with the one the sender must send, octet for octet, and
 *    counts connections — and can refuse messages or drop connections in
 *    the middle of a body, to check that failures are counted;
 *  - postfix's smtp-sink (/usr/sbin/smtp-sink, Debian's postfix package,
 *    installed without configuration by `make test`), started on a free
 *    port with -c (running counters on its stdout) and killed by its pid
 *    at the end; skipped, and said so, when it is not installed.
 *
 * The driver (build/bin/threadlab) runs as a child with stdout and stderr
 * captured apart and a time limit. Nothing here asserts a speed.
 *
 * Shared state: the test server's counters are atomics, written by its
 * connection threads and read by the test after the driver has exited
 * and the server has been stopped (which joins every connection thread).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "bench/email/smtp.h"
#include "tests/common/lib_net.h"
#include "tests/common/lib_proc.h"

#define CHILD_TIMEOUT_MS 60000
#define OUT_MAX (64 * 1024)
#define SMTP_SINK TL_SMTP_SINK
#define SINK_START_MS 10000         /* for smtp-sink to listen */
#define SINK_COUNT_MS 5000          /* for its counters to reach a count */
#define SINK_BACKLOG 256

static char driver[PATH_MAX];

/* ---------------------------------------------------------------------
 * Running the driver
 * ------------------------------------------------------------------- */

TL_RUN_DEFINE(R, OUT_MAX);          /* the last run of the driver */

/* Run the driver with argv (NULL-terminated, without the program). */
static void run_argv(const char *const *args)
{
	const char *argv[40];
	int argc = 0, rc;

	argv[argc++] = driver;
	for (; *args && argc < 39; args++)
		argv[argc++] = *args;
	argv[argc] = NULL;
	rc = tl_run_argv(&R, argv, NULL, CHILD_TIMEOUT_MS);
	if (rc == -ETIMEDOUT)
		fail_msg("threadlab %s ... did not finish in %d ms",
			 argv[1], CHILD_TIMEOUT_MS);
	assert_int_equal(rc, 0);
	if (R.status == 127)
		fail_msg("could not run %s", driver);
}

/* threadlab send --model M --emails N --concurrency C [--reuse]
 * --server 127.0.0.1:PORT [--size S] */
static void run_send(const char *model, unsigned emails, unsigned conc,
		     bool reuse, unsigned port, unsigned size)
{
	char e[32], c[32], srv[64], sz[32];
	const char *args[16];
	int n = 0;

	snprintf(e, sizeof(e), "%u", emails);
	snprintf(c, sizeof(c), "%u", conc);
	snprintf(srv, sizeof(srv), "127.0.0.1:%u", port);
	snprintf(sz, sizeof(sz), "%u", size);
	args[n++] = "send";
	args[n++] = "--model";
	args[n++] = model;
	args[n++] = "--emails";
	args[n++] = e;
	args[n++] = "--concurrency";
	args[n++] = c;
	if (reuse)
		args[n++] = "--reuse";
	args[n++] = "--server";
	args[n++] = srv;
	if (size) {
		args[n++] = "--size";
		args[n++] = sz;
	}
	args[n] = NULL;
	run_argv(args);
}

static int usable_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	return CPU_COUNT(&set);
}

/* The settings lines and the benchmark line, exactly as documented. */
static void expect_result(const char *model, unsigned emails, unsigned conc,
			  bool reuse, unsigned port, unsigned size)
{
	char want[1024], suffix[16] = "";
	unsigned sessions = conc < emails ? conc : emails;
	int cpus = usable_cpus();

	if (R.status != 0)
		fail_msg("threadlab send exited %d\nstdout:\n%s\nstderr:\n%s",
			 R.status, R.out, R.err);
	if (cpus != 1)
		snprintf(suffix, sizeof(suffix), "-%d", cpus);
	snprintf(want, sizeof(want),
		 "model: %s\nemails: %u\nconcurrency: %u\nreuse: %s\n"
		 "size: %u\nserver: 127.0.0.1:%u\nthreads: %u\n"
		 "BenchmarkEmail/model=%s/conc=%u/reuse=%s%s\t%8u\t",
		 model, emails, conc, reuse ? "true" : "false",
		 size ? size : 1024, port, sessions + 1, model, conc,
		 reuse ? "true" : "false", suffix, emails);
	if (strncmp(R.out, want, strlen(want)) != 0)
		fail_msg("want stdout to start with:\n%s\ngot:\n%s", want, R.out);
	/* Go's prettyPrint widths, then one line end and nothing else. */
	if (!tl_matches(R.out + strlen(want),
		     "^ *[0-9]+(\\.[0-9]+)? ns/op\t *[0-9]+(\\.[0-9]+)? emails/s"
		     "\t *[0-9]+(\\.[0-9]+)? cpu-us/email\n$"))
		fail_msg("malformed benchmark line:\n%s", R.out);
}

/* ---------------------------------------------------------------------
 * The test server: smtp.c's server machine, one thread per connection
 * ------------------------------------------------------------------- */

struct tserver {
	int lfd;
	unsigned port;
	pthread_t acceptor;
	_Atomic bool stop;
	struct smtp_server_config cfg;
	const char *expect;              /* the message every client sends */
	size_t expect_len;
	unsigned drop_every;             /* close mid-body every Nth DATA, 0 */

	_Atomic unsigned conns;          /* connections accepted */
	_Atomic unsigned live;           /* connection threads running */
	_Atomic unsigned datas;          /* bodies begun */
	_Atomic unsigned drops;          /* connections dropped mid-body */
	_Atomic unsigned msgs;           /* messages accepted, bytes right */
	_Atomic unsigned bad;            /* messages with wrong bytes */
	_Atomic unsigned aborts;         /* SMTP_EV_ABORT seen */
	bool running;                    /* started and not stopped */
};

static struct tserver S;
static char expected_msg[200000];

struct tconn {
	struct tserver *srv;
	int fd;
};

static bool write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static void *conn_main(void *arg)
{
	struct tconn *tc = arg;
	struct tserver *srv = tc->srv;
	struct smtp_server s;
	char in[4096], obuf[4096];
	struct smtp_buf out = { obuf, sizeof(obuf), 0 };
	char *body = malloc(srv->expect_len + 1);
	size_t body_len = 0;
	bool overflow = false, dropping = false;

	smtp_server_init(&s, &srv->cfg);
	smtp_server_greet(&s, &out);
	if (!body || !write_all(tc->fd, obuf, out.len))
		goto out;
	out.len = 0;
	for (;;) {
		ssize_t n = recv(tc->fd, in, sizeof(in), 0);
		size_t off = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			smtp_server_eof(&s);
			goto out;
		}
		while (off < (size_t)n || out.len) {
			size_t used;
			enum smtp_event ev = smtp_server_feed(&s, in + off,
							      (size_t)n - off,
							      &used, &out);

			off += used;
			switch (ev) {
			case SMTP_EV_NONE:
			case SMTP_EV_FLUSH:
				if (!write_all(tc->fd, obuf, out.len))
					goto out;
				out.len = 0;
				if (ev == SMTP_EV_NONE)
					goto next_read;
				break;
			case SMTP_EV_DATA:
				body_len = 0;
				overflow = false;
				dropping = srv->drop_every &&
					   atomic_fetch_add(&srv->datas, 1) %
					   srv->drop_every == srv->drop_every - 1;
				break;
			case SMTP_EV_BODY:
				if (dropping) {
					/* Close with part of the body read:
					 * the message must not exist, and
					 * the client must count it failed. */
					atomic_fetch_add(&srv->drops, 1);
					goto out;
				}
				if (body_len + s.data_len > srv->expect_len) {
					overflow = true;
					break;
				}
				memcpy(body + body_len, s.data, s.data_len);
				body_len += s.data_len;
				break;
			case SMTP_EV_MESSAGE:
				if (!overflow && body_len == srv->expect_len &&
				    memcmp(body, srv->expect, body_len) == 0)
					atomic_fetch_add(&srv->msgs, 1);
				else
					atomic_fetch_add(&srv->bad, 1);
				smtp_server_commit(&s, 0, &out);
				break;
			case SMTP_EV_ABORT:
				atomic_fetch_add(&srv->aborts, 1);
				break;
			case SMTP_EV_CLOSE:
				write_all(tc->fd, obuf, out.len);
				goto out;
			}
		}
next_read:
		;
	}
out:
	close(tc->fd);
	free(body);
	free(tc);
	atomic_fetch_sub(&srv->live, 1);
	return NULL;
}

static void *acceptor_main(void *arg)
{
	struct tserver *srv = arg;

	while (!atomic_load(&srv->stop)) {
		struct pollfd p = { .fd = srv->lfd, .events = POLLIN };
		struct tconn *tc;
		pthread_t t;
		int fd;

		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		tc = malloc(sizeof(*tc));
		if (!tc) {
			close(fd);
			continue;
		}
		tc->srv = srv;
		tc->fd = fd;
		atomic_fetch_add(&srv->conns, 1);
		atomic_fetch_add(&srv->live, 1);
		if (pthread_create(&t, NULL, conn_main, tc) != 0) {
			atomic_fetch_sub(&srv->live, 1);
			close(fd);
			free(tc);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

/* A listening socket on 127.0.0.1 and a free port. */
static int listen_loopback(unsigned *port)
{
	int fd, p = tl_free_port(&fd);

	assert_true(p > 0);
	assert_int_equal(listen(fd, 512), 0);
	*port = (unsigned)p;
	return fd;
}

/* Start the test server, expecting messages of `size` octets. */
static void server_start(size_t size, uint64_t max_message,
			 unsigned drop_every)
{
	memset(&S, 0, sizeof(S));
	assert_true(size <= sizeof(expected_msg));
	smtp_message_generate(expected_msg, size);
	S.expect = expected_msg;
	S.expect_len = size;
	S.cfg.hostname = "test.threadlab";
	S.cfg.max_message = max_message;
	S.drop_every = drop_every;
	S.lfd = listen_loopback(&S.port);
	assert_int_equal(pthread_create(&S.acceptor, NULL, acceptor_main, &S), 0);
	S.running = true;
}

/* Stop accepting, wait (bounded) for every connection thread to end;
 * false if some did not. */
static bool server_halt(void)
{
	int64_t deadline = tl_now_ms() + 10000;

	if (!S.running)
		return true;
	S.running = false;
	atomic_store(&S.stop, true);
	pthread_join(S.acceptor, NULL);
	close(S.lfd);
	while (atomic_load(&S.live) > 0) {
		if (tl_now_ms() > deadline)
			return false;
		usleep(1000);
	}
	return true;
}

static void server_stop(void)
{
	if (!server_halt())
		fail_msg("%u test server connections still open",
			 atomic_load(&S.live));
}

/* ---------------------------------------------------------------------
 * Against the test server
 * ------------------------------------------------------------------- */

static void check_models(unsigned emails, unsigned conc, unsigned size)
{
	static const char *const models[] = { "clone", "pthread" };

	for (int m = 0; m < 2; m++) {
		for (int reuse = 0; reuse <= 1; reuse++) {
			unsigned sessions = conc < emails ? conc : emails;

			server_start(size ? size : 1024, 0, 0);
			run_send(models[m], emails, conc, reuse, S.port, size);
			server_stop();
			expect_result(models[m], emails, conc, reuse, S.port,
				      size);
			assert_int_equal(atomic_load(&S.bad), 0);
			assert_int_equal(atomic_load(&S.msgs), emails);
			assert_int_equal(atomic_load(&S.aborts), 0);
			/* One connection per message, or per session. */
			assert_int_equal(atomic_load(&S.conns),
					 reuse ? sessions : emails);
		}
	}
}

static void test_send_counts_and_bytes(void **state)
{
	check_models(300, 8, 0);
}

static void test_send_sizes(void **state)
{
	/* The smallest message, one without headers, and a big one whose
	 * many dot lines are stuffed on the way and unstuffed on arrival. */
	check_models(20, 3, 2);
	check_models(20, 3, 100);
	check_models(40, 4, 150000);
}

static void test_send_more_sessions_than_emails(void **state)
{
	check_models(7, 50, 0);
	check_models(1, 1, 0);
}

static void test_send_refused(void **state)
{
	/* A server whose size limit is under the message: every message is
	 * answered 552 at its dot, none is stored, and the run fails. */
	for (int reuse = 0; reuse <= 1; reuse++) {
		server_start(1024, 500, 0);
		run_send(reuse ? "pthread" : "clone", 12, 3, reuse, S.port, 0);
		server_stop();
		assert_int_equal(R.status, 1);
		if (!tl_matches(R.out, "^--- FAIL: BenchmarkEmail/model=(clone|pthread)"
			     "/conc=3/reuse=(true|false)(-[0-9]+)?: 12 of 12 messages "
			     "not accepted \\(first error: end of data: 552 5\\.3\\.4 "
			     "Message size exceeds fixed limit\\)$"))
			fail_msg("stdout:\n%s", R.out);
		assert_false(tl_matches(R.out, "^Benchmark"));
		assert_int_equal(atomic_load(&S.msgs), 0);
		assert_int_equal(atomic_load(&S.aborts), 12);
	}
}

static void test_send_dropped_connections(void **state)
{
	/* Every 4th body is cut off by the server closing the connection:
	 * those messages, and only those, are counted as not accepted;
	 * with --reuse the session reconnects and goes on. */
	for (int m = 0; m < 2; m++) {
		for (int reuse = 0; reuse <= 1; reuse++) {
			char want[128];

			server_start(1024, 0, 4);
			run_send(m ? "pthread" : "clone", 40, 4, reuse, S.port, 0);
			server_stop();
			assert_int_equal(R.status, 1);
			assert_int_equal(atomic_load(&S.drops), 10);
			assert_int_equal(atomic_load(&S.msgs), 30);
			assert_int_equal(atomic_load(&S.bad), 0);
			snprintf(want, sizeof(want), ": 10 of 40 messages not accepted "
				 "\\(first error: ");
			if (!tl_matches(R.out, want))
				fail_msg("stdout:\n%s", R.out);
			/* With --reuse: 4 sessions, and a new connection
			 * after each drop but a session's last message. */
			if (reuse)
				assert_in_range(atomic_load(&S.conns), 4 + 10 - 4,
						4 + 10);
			else
				assert_int_equal(atomic_load(&S.conns), 40);
		}
	}
}

static void test_send_no_server(void **state)
{
	unsigned port;
	int fd = listen_loopback(&port);

	/* The port was free a moment ago and is closed now. */
	close(fd);
	run_send("clone", 5, 2, false, port, 0);
	assert_int_equal(R.status, 1);
	if (!tl_matches(R.out, ": 5 of 5 messages not accepted \\(first error: "
		     "connect 127\\.0\\.0\\.1:[0-9]+: Connection refused\\)$"))
		fail_msg("stdout:\n%s", R.out);
	run_send("pthread", 5, 2, true, port, 0);
	assert_int_equal(R.status, 1);
	assert_true(tl_matches(R.out, ": 5 of 5 messages not accepted"));
}

static void test_send_flag_errors(void **state)
{
	static const struct {
		const char *args[12];
		const char *message;
	} cases[] = {
		{ { "send", "--emails", "1", "--concurrency", "1" }, "--model is required" },
		{ { "send", "--model", "rt2", "--emails", "1", "--concurrency", "1" }, "unknown --model 'rt2'" },
		{ { "send", "--model", "clone", "--concurrency", "1" }, "--emails is required" },
		{ { "send", "--model", "clone", "--emails", "1" }, "--concurrency is required" },
		{ { "send", "--model", "clone", "--emails", "0", "--concurrency", "1" }, "invalid --emails '0'" },
		{ { "send", "--model", "clone", "--emails", "1x", "--concurrency", "1" }, "invalid --emails '1x'" },
		{ { "send", "--model", "clone", "--emails", "1", "--concurrency", "-3" }, "invalid --concurrency '-3'" },
		{ { "send", "--model", "clone", "--emails", "1", "--concurrency", "65537" }, "invalid --concurrency '65537'" },
		{ { "send", "--model", "clone", "--emails", "1", "--concurrency", "1", "--size", "1" }, "invalid --size '1'" },
		{ { "send", "--model", "clone", "--emails", "1", "--concurrency", "1", "--size", "67108865" }, "invalid --size '67108865'" },
		{ { "send", "--model", "clone", "--emails", "1", "--concurrency", "1", "--server", "mail.example.com:25" }, "invalid --server 'mail.example.com:25'" },
		{ { "send", "--model", "clone", "--emails", "1", "--concurrency", "1", "--server", "127.0.0.1" }, "invalid --server '127.0.0.1'" },
		{ { "send", "--model", "clone", "--emails", "1", "--concurrency", "1", "--server", "127.0.0.1:0" }, "invalid --server '127.0.0.1:0'" },
		{ { "send", "--model", "clone", "--emails", "1", "--concurrency", "1", "--frobnicate" }, "unknown flag '--frobnicate'" },
		{ { "send", "--model", "clone", "--emails", "1", "--concurrency", "1", "--size" }, "flag '--size' needs a value" },
		{ { "send", "--model", "clone", "--emails", "1", "--concurrency", "1", "--reuse=yes" }, "flag '--reuse' takes no value" },
		{ { "send", "--model", "clone", "--emails", "1", "--concurrency", "1", "stray" }, "unexpected argument 'stray'" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_argv(cases[i].args);
		if (R.status != 2 || !strstr(R.err, cases[i].message) ||
		    R.out[0] != '\0')
			fail_msg("case %zu: want exit 2, '%s' on stderr and "
				 "nothing on stdout; got exit %d, stderr:\n%s\n"
				 "stdout:\n%s", i, cases[i].message, R.status,
				 R.err, R.out);
	}
}

static void test_send_help(void **state)
{
	static const char *const help1[] = { "send", "--help", NULL };
	static const char *const help2[] = { "help", "send", NULL };
	static const char *const top[] = { "--help", NULL };
	static char first[OUT_MAX];

	run_argv(help1);
	assert_int_equal(R.status, 0);
	for (int i = 0; i < 6; i++) {
		static const char *const flags[] = {
			"--model", "--emails", "--concurrency", "--reuse",
			"--server", "--size",
		};

		if (!strstr(R.out, flags[i]))
			fail_msg("send --help does not document %s", flags[i]);
	}
	strcpy(first, R.out);
	run_argv(help2);
	assert_int_equal(R.status, 0);
	assert_string_equal(R.out, first);
	run_argv(top);
	assert_true(tl_matches(R.out, "^  send +[^ ]"));
}

/* ---------------------------------------------------------------------
 * Against postfix's smtp-sink
 * ------------------------------------------------------------------- */

/* Wait (bounded) until the sink's counters reach quit and mesg. */
static void sink_expect(struct tl_sink *k, unsigned quit, unsigned mesg)
{
	tl_sink_wait(k, quit, mesg, SINK_COUNT_MS);
	if (k->quits != quit || k->messages != mesg)
		fail_msg("smtp-sink counted %ld QUITs and %ld messages; want %u "
			 "and %u", k->quits, k->messages, quit, mesg);
}

static struct tl_sink K = TL_SINK_INIT;

static void test_smtp_sink_interop(void **state)
{
	static const char *const models[] = { "clone", "pthread" };
	struct tl_sink *k = &K;
	unsigned quits = 0, mesgs = 0;
	int rc;

	if (access(SMTP_SINK, X_OK) != 0) {
		print_message("%s is missing (Debian package postfix; `make "
			      "test` installs it)\n", SMTP_SINK);
		skip();
	}
	rc = tl_sink_start(k, NULL, SINK_BACKLOG, SINK_START_MS);
	if (rc < 0)
		fail_msg("smtp-sink did not listen on 127.0.0.1 in %d ms: %s",
			 SINK_START_MS, strerror(-rc));
	for (int m = 0; m < 2; m++) {
		for (int reuse = 0; reuse <= 1; reuse++) {
			const unsigned emails = 200, conc = 8;

			run_send(models[m], emails, conc, reuse, k->port, 0);
			expect_result(models[m], emails, conc, reuse, k->port, 0);
			mesgs += emails;
			quits += reuse ? conc : emails;
			sink_expect(k, quits, mesgs);
		}
	}
	/* A big message with many stuffed lines, as smtp-sink sees it. */
	run_send("clone", 10, 2, true, k->port, 100000);
	expect_result("clone", 10, 2, true, k->port, 100000);
	quits += 2;
	mesgs += 10;
	sink_expect(k, quits, mesgs);

	/* The rt model (tasks on io_uring) against the same real server:
	 * its settings differ (threads = workers, io_uring counters), so
	 * only the outcome is checked here; tests/email/test_sink.c checks
	 * its output against our own sink. */
	for (int reuse = 0; reuse <= 1; reuse++) {
		const unsigned emails = 200, conc = 8;

		run_send("rt", emails, conc, reuse, k->port, 0);
		if (R.status != 0 ||
		    !tl_matches(R.out, "^BenchmarkEmail/model=rt/conc=8/reuse=(true|false)(-[0-9]+)?\t +200\t"))
			fail_msg("send --model rt%s against smtp-sink: exit %d\n"
				 "stdout:\n%s\nstderr:\n%s", reuse ? " --reuse" : "",
				 R.status, R.out, R.err);
		mesgs += emails;
		quits += reuse ? conc : emails;
		sink_expect(k, quits, mesgs);
	}
}

/* After every test, pass or fail: no server or sink is left running. */
static int cleanup(void **state)
{
	tl_sink_stop(&K);
	return server_halt() ? 0 : -1;
}

/* build/bin/threadlab, or a note on stderr and the group fails. */
static int find_driver(void **state)
{
	return tl_driver_path(driver, sizeof(driver)) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_send_counts_and_bytes, cleanup),
		cmocka_unit_test_teardown(test_send_sizes, cleanup),
		cmocka_unit_test_teardown(test_send_more_sessions_than_emails, cleanup),
		cmocka_unit_test_teardown(test_send_refused, cleanup),
		cmocka_unit_test_teardown(test_send_dropped_connections, cleanup),
		cmocka_unit_test(test_send_no_server),
		cmocka_unit_test(test_send_flag_errors),
		cmocka_unit_test(test_send_help),
		cmocka_unit_test_teardown(test_smtp_sink_interop, cleanup),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("email/send", tests, find_driver,
					   NULL);
}

/*
 * test_send: `threadlab send` (the clone and pthread models) against real
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
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bench/email/smtp.h"

#define CHILD_TIMEOUT_MS 60000
#define OUT_MAX (64 * 1024)
#define SMTP_SINK "/usr/sbin/smtp-sink"

static char driver[PATH_MAX];

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------------
 * Running the driver
 * ------------------------------------------------------------------- */

struct run {
	int status;                  /* exit status; -1 if killed */
	char out[OUT_MAX];
	char err[OUT_MAX];
};

static struct run R;

static bool drain(int fd, char *buf, size_t *len)
{
	char scratch[4096];
	ssize_t n;

	if (*len < OUT_MAX - 1)
		n = read(fd, buf + *len, OUT_MAX - 1 - *len);
	else
		n = read(fd, scratch, sizeof(scratch));
	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0)
		return false;
	if (*len < OUT_MAX - 1)
		*len += (size_t)n;
	return true;
}

/* Run the driver with argv (NULL-terminated, without the program). */
static void run_argv(const char *const *args)
{
	const char *argv[40];
	int out[2], err[2], argc = 0, st;
	size_t out_len = 0, err_len = 0;
	bool out_open = true, err_open = true;
	int64_t deadline;
	pid_t pid;

	argv[argc++] = driver;
	for (; *args && argc < 39; args++)
		argv[argc++] = *args;
	argv[argc] = NULL;
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		execv(driver, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	deadline = now_ms() + CHILD_TIMEOUT_MS;
	while (out_open || err_open) {
		struct pollfd p[2] = {
			{ .fd = out_open ? out[0] : -1, .events = POLLIN },
			{ .fd = err_open ? err[0] : -1, .events = POLLIN },
		};
		int64_t left = deadline - now_ms();

		if (left <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			fail_msg("threadlab %s ... did not finish in %d ms",
				 argv[1], CHILD_TIMEOUT_MS);
		}
		if (poll(p, 2, (int)left) < 0)
			continue;
		if (p[0].revents && !drain(out[0], R.out, &out_len))
			out_open = false;
		if (p[1].revents && !drain(err[0], R.err, &err_len))
			err_open = false;
	}
	close(out[0]);
	close(err[0]);
	R.out[out_len] = '\0';
	R.err[err_len] = '\0';
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	R.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
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

static bool matches(const char *text, const char *pattern)
{
	regex_t re;
	bool found;

	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB |
				 REG_NEWLINE), 0);
	found = regexec(&re, text, 0, NULL, 0) == 0;
	regfree(&re);
	return found;
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
	if (!matches(R.out + strlen(want),
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
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 512), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
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
	int64_t deadline = now_ms() + 10000;

	if (!S.running)
		return true;
	S.running = false;
	atomic_store(&S.stop, true);
	pthread_join(S.acceptor, NULL);
	close(S.lfd);
	while (atomic_load(&S.live) > 0) {
		if (now_ms() > deadline)
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
		if (!matches(R.out, "^--- FAIL: BenchmarkEmail/model=(clone|pthread)"
			     "/conc=3/reuse=(true|false)(-[0-9]+)?: 12 of 12 messages "
			     "not accepted \\(first error: end of data: 552 5\\.3\\.4 "
			     "Message size exceeds fixed limit\\)$"))
			fail_msg("stdout:\n%s", R.out);
		assert_false(matches(R.out, "^Benchmark"));
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
			if (!matches(R.out, want))
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
	if (!matches(R.out, ": 5 of 5 messages not accepted \\(first error: "
		     "connect 127\\.0\\.0\\.1:[0-9]+: Connection refused\\)$"))
		fail_msg("stdout:\n%s", R.out);
	run_send("pthread", 5, 2, true, port, 0);
	assert_int_equal(R.status, 1);
	assert_true(matches(R.out, ": 5 of 5 messages not accepted"));
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
	assert_true(matches(R.out, "^  send +[^ ]"));
}

/* ---------------------------------------------------------------------
 * Against postfix's smtp-sink
 * ------------------------------------------------------------------- */

struct sink {
	pid_t pid;
	unsigned port;
	char log[64];                    /* its stdout: the -c counters */
};

/* The last "sess=S quit=Q mesg=M" the sink printed; false if none. */
static bool sink_counters(const struct sink *k, unsigned *quit,
			  unsigned *mesg)
{
	static char buf[1 << 20];
	FILE *f = fopen(k->log, "r");
	size_t n;
	char *p, *last = NULL;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (p = buf; (p = strstr(p, "sess=")) != NULL; p++)
		last = p;
	return last && sscanf(last, "sess=%*u quit=%u mesg=%u", quit, mesg) == 2;
}

static bool port_open(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static void sink_start(struct sink *k)
{
	char addr[64];
	int64_t deadline;
	int fd;

	fd = listen_loopback(&k->port);
	close(fd);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", k->port);
	snprintf(k->log, sizeof(k->log), "/tmp/threadlab-sink-XXXXXX");
	fd = mkstemp(k->log);
	assert_true(fd >= 0);
	k->pid = fork();
	assert_true(k->pid >= 0);
	if (k->pid == 0) {
		dup2(fd, STDOUT_FILENO);
		/* As root smtp-sink insists on dropping privileges. */
		if (geteuid() == 0)
			execl(SMTP_SINK, "smtp-sink", "-c", "-u", "nobody",
			      addr, "256", (char *)NULL);
		else
			execl(SMTP_SINK, "smtp-sink", "-c", addr, "256",
			      (char *)NULL);
		_exit(127);
	}
	close(fd);
	deadline = now_ms() + 10000;
	while (!port_open(k->port)) {
		int st;

		if (waitpid(k->pid, &st, WNOHANG) == k->pid)
			fail_msg("smtp-sink exited (status %d) before listening "
				 "on %s", st, addr);
		if (now_ms() > deadline)
			fail_msg("smtp-sink did not listen on %s in 10 s", addr);
		usleep(10000);
	}
}

static void sink_stop(struct sink *k)
{
	kill(k->pid, SIGTERM);
	while (waitpid(k->pid, NULL, 0) < 0 && errno == EINTR)
		;
	unlink(k->log);
}

/* Wait (bounded) until the sink's counters reach quit and mesg. */
static void sink_expect(struct sink *k, unsigned quit, unsigned mesg)
{
	int64_t deadline = now_ms() + 5000;
	unsigned q = 0, m = 0;

	for (;;) {
		if (sink_counters(k, &q, &m) && q >= quit && m >= mesg)
			break;
		if (now_ms() > deadline)
			break;
		usleep(5000);
	}
	if (q != quit || m != mesg)
		fail_msg("smtp-sink counted %u QUITs and %u messages; want %u "
			 "and %u", q, m, quit, mesg);
}

static struct sink K;

static void test_smtp_sink_interop(void **state)
{
	static const char *const models[] = { "clone", "pthread" };
	struct sink *k = &K;
	unsigned quits = 0, mesgs = 0;

	if (access(SMTP_SINK, X_OK) != 0) {
		print_message("%s is missing (Debian package postfix; `make "
			      "test` installs it)\n", SMTP_SINK);
		skip();
	}
	sink_start(k);
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
	sink_expect(k, quits + 2, mesgs + 10);
}

/* After every test, pass or fail: no server or sink is left running. */
static int cleanup(void **state)
{
	if (K.pid > 0) {
		sink_stop(&K);
		K.pid = 0;
	}
	return server_halt() ? 0 : -1;
}

static int find_driver(void **state)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return -1;
	self[n] = '\0';
	slash = strrchr(self, '/');        /* build/tests/email/test_send */
	if (!slash)
		return -1;
	*slash = '\0';
	if ((size_t)snprintf(driver, sizeof(driver), "%s/../../bin/threadlab",
			     self) >= sizeof(driver))
		return -1;
	if (access(driver, X_OK) != 0) {
		fprintf(stderr, "test_send: %s is missing; `make all` builds "
			"it\n", driver);
		return -1;
	}
	return 0;
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

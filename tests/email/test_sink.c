/*
 * test_sink: `threadlab sink` (bench/email/sink.c), the embedded SMTP
 * server on rt/ tasks and io_uring, as a child process on a free loopback
 * port:
 *
 *  - against `threadlab send` in all three models (clone, pthread, rt),
 *    with and without --reuse, with --store: the counts the sink prints
 *    when stopped, the Maildir (one file in new/ per message, each with
 *    exactly the bytes the senders send, nothing left in tmp/);
 *  - against postfix's smtp-source (a client that is not ours); skipped,
 *    and said so, when /usr/sbin/smtp-source is missing;
 *  - bad input, each on its own connection while a good session keeps
 *    delivering: unknown commands, commands out of sequence, lines over
 *    1000 octets, a client that stalls mid-command (idle timeout), one
 *    that disconnects mid-DATA, one whose body never gets its final dot,
 *    a message over --max-size, more connections than --max-connections.
 *    Each gets the right reply or a clean close; no partial message is
 *    ever stored;
 *  - SIGINT and SIGTERM with sessions still open; bad flags; --help.
 *
 * Every child is started and stopped by this test, by its pid, with a
 * time limit. Nothing here asserts a speed. The sink's own I/O uses
 * io_uring: where the kernel refuses io_uring the sink says so and exits
 * 1, and the cases that need it are reported skipped.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <regex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
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
#include "tests/common/lib_proc.h"

#define CHILD_TIMEOUT_MS 60000
#define OUT_MAX (64 * 1024)
#define SMTP_SOURCE "/usr/sbin/smtp-source"

static char driver[PATH_MAX];


/* ---------------------------------------------------------------------
 * A child process with its output captured (the sender, smtp-source)
 * ------------------------------------------------------------------- */

TL_RUN_DEFINE(R, OUT_MAX);

/* Run argv (argv[0] the program's path) to its end, its output in R. */
static void run_prog(const char *const *argv)
{
	int r = tl_run_argv(&R, argv, NULL, CHILD_TIMEOUT_MS);

	if (r == -ETIMEDOUT)
		fail_msg("%s did not finish in %d ms", argv[0],
			 CHILD_TIMEOUT_MS);
	if (r < 0)
		fail_msg("could not start %s: %s", argv[0], strerror(-r));
	if (R.status == 127)
		fail_msg("could not run %s", argv[0]);
}

/* threadlab send --model M --emails N --concurrency C [--reuse]; it
 * must deliver every message. */
static void send_ok(const char *model, unsigned emails, unsigned conc,
		    bool reuse, unsigned port)
{
	char e[32], c[32], srv[64];
	const char *argv[16];
	int n = 0;

	snprintf(e, sizeof(e), "%u", emails);
	snprintf(c, sizeof(c), "%u", conc);
	snprintf(srv, sizeof(srv), "127.0.0.1:%u", port);
	argv[n++] = driver;
	argv[n++] = "send";
	argv[n++] = "--model";
	argv[n++] = model;
	argv[n++] = "--emails";
	argv[n++] = e;
	argv[n++] = "--concurrency";
	argv[n++] = c;
	if (reuse)
		argv[n++] = "--reuse";
	argv[n++] = "--server";
	argv[n++] = srv;
	argv[n] = NULL;
	run_prog(argv);
	if (R.status != 0 || !tl_matches(R.out, "^BenchmarkEmail/model="))
		fail_msg("threadlab send --model %s --emails %u --concurrency "
			 "%u%s exited %d\nstdout:\n%s\nstderr:\n%s", model,
			 emails, conc, reuse ? " --reuse" : "", R.status,
			 R.out, R.err);
}

/* ---------------------------------------------------------------------
 * The sink under test
 * ------------------------------------------------------------------- */

struct sink {
	pid_t pid;
	unsigned port;
	char out[64], err[64];           /* its stdout and stderr files */
	char store[64];                  /* the Maildir, "" without */
};

static struct sink K;

static void read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, cap - 1) : -1;

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* Start `threadlab sink --listen 127.0.0.1:0 FLAGS...` and wait for its
 * "listening on" line. false (with the reason printed) when it exits
 * saying io_uring is unavailable. */
static bool sink_start(struct sink *k, bool store, const char *const *flags)
{
	const char *argv[24];
	char text[4096];
	int n = 0, ofd, efd;
	int64_t deadline;

	memset(k, 0, sizeof(*k));
	snprintf(k->out, sizeof(k->out), "/tmp/threadlab-sink-out-XXXXXX");
	snprintf(k->err, sizeof(k->err), "/tmp/threadlab-sink-err-XXXXXX");
	ofd = mkstemp(k->out);
	efd = mkstemp(k->err);
	assert_true(ofd >= 0 && efd >= 0);
	argv[n++] = driver;
	argv[n++] = "sink";
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	if (store) {
		snprintf(k->store, sizeof(k->store),
			 "/tmp/threadlab-maildir-XXXXXX");
		assert_non_null(mkdtemp(k->store));
		argv[n++] = "--store";
		argv[n++] = k->store;
	}
	for (; flags && *flags; flags++)
		argv[n++] = *flags;
	argv[n] = NULL;
	k->pid = fork();
	assert_true(k->pid >= 0);
	if (k->pid == 0) {
		dup2(ofd, STDOUT_FILENO);
		dup2(efd, STDERR_FILENO);
		execv(driver, (char *const *)argv);
		_exit(127);
	}
	close(ofd);
	close(efd);
	deadline = tl_now_ms() + 10000;
	for (;;) {
		const char *p;
		int st;

		read_file(k->err, text, sizeof(text));
		p = strstr(text, "listening on 127.0.0.1:");
		if (p && strchr(p, '\n')) {
			k->port = (unsigned)atoi(p + strlen("listening on 127.0.0.1:"));
			assert_true(k->port > 0 && k->port < 65536);
			return true;
		}
		if (waitpid(k->pid, &st, WNOHANG) == k->pid) {
			k->pid = 0;
			if (strstr(text, "io_uring")) {
				print_message("the sink cannot run here: %s", text);
				return false;
			}
			fail_msg("the sink exited (status %d) before listening: %s",
				 st, text);
		}
		if (tl_now_ms() > deadline)
			fail_msg("the sink did not say it listens in 10 s: %s",
				 text);
		usleep(5000);
	}
}

#define SINK_OR_SKIP(k, store, flags)                                       \
	do {                                                                \
		if (!sink_start((k), (store), (flags)))                     \
			skip();                                             \
	} while (0)

/* Stop it with sig; it must exit 0 within 10 s and print exactly one
 * line "sink: messages=N bytes=B connections=C" on stdout. */
static void sink_stop(struct sink *k, int sig, unsigned long long *msgs,
		      unsigned long long *bytes, unsigned long long *conns)
{
	char text[4096];
	int64_t deadline = tl_now_ms() + 10000;
	int st = 0;
	pid_t r;

	kill(k->pid, sig);
	while ((r = waitpid(k->pid, &st, WNOHANG)) == 0 &&
	       tl_now_ms() < deadline)
		usleep(5000);
	if (r != k->pid) {
		kill(k->pid, SIGKILL);
		waitpid(k->pid, &st, 0);
		k->pid = 0;
		fail_msg("the sink did not exit within 10 s of signal %d", sig);
	}
	k->pid = 0;
	read_file(k->out, text, sizeof(text));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("the sink exited with status %#x; stdout: %s", st, text);
	if (!tl_matches(text, "^sink: messages=[0-9]+ bytes=[0-9]+ "
			   "connections=[0-9]+\n$") ||
	    strchr(text, '\n') != text + strlen(text) - 1)
		fail_msg("want one line 'sink: messages=N bytes=B "
			 "connections=C', got: '%s'", text);
	assert_int_equal(sscanf(text, "sink: messages=%llu bytes=%llu "
				"connections=%llu", msgs, bytes, conns), 3);
	unlink(k->out);
	unlink(k->err);
}

/* Count the files in store/sub; with `want` set, compare each one. */
static unsigned maildir_count(const struct sink *k, const char *sub,
			      const char *want, size_t want_len)
{
	static char buf[1 << 20];
	char path[PATH_MAX];
	struct dirent *d;
	unsigned n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "%s/%s", k->store, sub);
	dir = opendir(path);
	assert_non_null(dir);
	while ((d = readdir(dir)) != NULL) {
		char file[PATH_MAX + 300];
		int fd;
		ssize_t len;

		if (d->d_name[0] == '.')
			continue;
		n++;
		if (!want)
			continue;
		snprintf(file, sizeof(file), "%s/%s", path, d->d_name);
		fd = open(file, O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		len = read(fd, buf, sizeof(buf));
		close(fd);
		if (len != (ssize_t)want_len || memcmp(buf, want, want_len) != 0)
			fail_msg("%s: %zd bytes, not the %zu the message has "
				 "(or other bytes)", file, len, want_len);
	}
	closedir(dir);
	return n;
}

static void maildir_remove(struct sink *k)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	char path[PATH_MAX + 300];

	if (!k->store[0])
		return;
	for (size_t i = 0; i < 3; i++) {
		char dirpath[PATH_MAX];
		struct dirent *d;
		DIR *dir;

		snprintf(dirpath, sizeof(dirpath), "%s/%s", k->store, subs[i]);
		dir = opendir(dirpath);
		if (!dir)
			continue;
		while ((d = readdir(dir)) != NULL) {
			if (d->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dirpath, d->d_name);
			unlink(path);
		}
		closedir(dir);
		rmdir(dirpath);
	}
	rmdir(k->store);
	k->store[0] = '\0';
}

/* ---------------------------------------------------------------------
 * A hand-driven SMTP client
 * ------------------------------------------------------------------- */

static int dial(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void say(int fd, const char *s)
{
	size_t len = strlen(s);

	while (len) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

		assert_true(n > 0);
		s += n;
		len -= (size_t)n;
	}
}

/*
 * Read one complete reply (the last line "ddd " ends it) within
 * timeout_ms; its text in buf. Returns the code, 0 when the connection
 * closed first, -1 on a timeout.
 */
static int reply(int fd, char *buf, size_t cap, int timeout_ms)
{
	int64_t deadline = tl_now_ms() + timeout_ms;
	size_t len = 0;

	buf[0] = '\0';
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char *line, *end;
		ssize_t n;
		int64_t left = deadline - tl_now_ms();

		/* A complete last line: "ddd " ... CRLF. */
		for (line = buf; (end = strstr(line, "\r\n")); line = end + 2)
			if (end - line >= 4 && line[3] == ' ')
				return atoi(line);
		if (left <= 0)
			return -1;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n <= 0)
			return 0;
		len += (size_t)n;
		buf[len] = '\0';
	}
}

/* Say cmd and expect code (0: the connection closes). */
static void expect(int fd, const char *cmd, int code)
{
	char buf[4096];
	int got;

	if (cmd)
		say(fd, cmd);
	got = reply(fd, buf, sizeof(buf), 10000);
	if (got != code)
		fail_msg("after '%.60s': want %d, got %d ('%s')",
			 cmd ? cmd : "(connect)", code, got, buf);
}

/* The connection ends (EOF) within timeout_ms, whatever came before. */
static void expect_close(int fd, int timeout_ms)
{
	int64_t deadline = tl_now_ms() + timeout_ms;
	char buf[4096];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - tl_now_ms();
		ssize_t n;

		if (left <= 0)
			fail_msg("the sink did not close the connection in %d ms",
				 timeout_ms);
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			return;
	}
}

/* One complete, good transaction on a new connection. */
static void good_message(unsigned port)
{
	int fd = dial(port);

	expect(fd, NULL, 220);
	expect(fd, "EHLO good.test\r\n", 250);
	expect(fd, "MAIL FROM:<a@good.test>\r\n", 250);
	expect(fd, "RCPT TO:<b@good.test>\r\n", 250);
	expect(fd, "DATA\r\n", 354);
	expect(fd, "Subject: good\r\n\r\n..a stuffed line\r\nbody\r\n.\r\n", 250);
	expect(fd, "QUIT\r\n", 221);
	expect_close(fd, 5000);
	close(fd);
}

/* The body good_message stores (dot-stuffing undone). */
static const char good_body[] = "Subject: good\r\n\r\n.a stuffed line\r\nbody\r\n";

/* ---------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------- */

/* The three models, with and without --reuse, into a Maildir. */
static void test_sink_senders(void **state)
{
	static const char *const models[] = { "clone", "pthread", "rt" };
	const unsigned emails = 150, conc = 8;
	unsigned long long msgs, bytes, conns, want_conns = 0;
	char *msg = malloc(1024);

	assert_non_null(msg);
	SINK_OR_SKIP(&K, true, NULL);
	for (int m = 0; m < 3; m++) {
		for (int reuse = 0; reuse <= 1; reuse++) {
			send_ok(models[m], emails, conc, reuse, K.port);
			want_conns += reuse ? conc : emails;
		}
	}
	sink_stop(&K, SIGTERM, &msgs, &bytes, &conns);
	assert_int_equal(msgs, 6 * emails);
	assert_int_equal(bytes, 6ull * emails * 1024);
	assert_int_equal(conns, want_conns);
	/* Every message, byte for byte, in new/; nothing left in tmp/. */
	smtp_message_generate(msg, 1024);
	assert_int_equal(maildir_count(&K, "new", msg, 1024), 6 * emails);
	assert_int_equal(maildir_count(&K, "tmp", NULL, 0), 0);
	free(msg);
}

/* postfix's smtp-source as the client: 20 sessions, 400 messages, with
 * and without reusing connections (-d). */
static void test_sink_smtp_source(void **state)
{
	unsigned long long msgs, bytes, conns;
	char target[64];

	if (access(SMTP_SOURCE, X_OK) != 0) {
		print_message("%s is missing (Debian package postfix; `make "
			      "test` installs it)\n", SMTP_SOURCE);
		skip();
	}
	SINK_OR_SKIP(&K, false, NULL);
	snprintf(target, sizeof(target), "127.0.0.1:%u", K.port);
	{
		const char *argv[] = { SMTP_SOURCE, "-s", "20", "-m", "400",
				       "-l", "2000", target, NULL };

		run_prog(argv);
		if (R.status != 0)
			fail_msg("smtp-source exited %d: %s%s", R.status, R.out,
				 R.err);
	}
	{
		const char *argv[] = { SMTP_SOURCE, "-d", "-s", "10", "-m",
				       "300", "-l", "100", target, NULL };

		run_prog(argv);
		if (R.status != 0)
			fail_msg("smtp-source -d exited %d: %s%s", R.status,
				 R.out, R.err);
	}
	sink_stop(&K, SIGTERM, &msgs, &bytes, &conns);
	assert_int_equal(msgs, 700);
	/* smtp-source adds headers of its own: at least the payload. */
	assert_true(bytes >= 400ull * 2000 + 300ull * 100);
	assert_int_equal(conns, 400 + 10);
}

/* Bad commands on one connection; the same connection then delivers. */
static void test_sink_bad_commands(void **state)
{
	unsigned long long msgs, bytes, conns;
	char longline[1200];
	int fd;

	SINK_OR_SKIP(&K, true, NULL);
	fd = dial(K.port);
	expect(fd, NULL, 220);
	expect(fd, "FROB\r\n", 500);                    /* unknown */
	expect(fd, "MAIL FROM:<a@b.test>\r\n", 503);    /* before EHLO */
	expect(fd, "EHLO x.test\r\n", 250);
	expect(fd, "RCPT TO:<c@d.test>\r\n", 503);      /* before MAIL */
	expect(fd, "DATA\r\n", 503);
	/* A command line of 1100 octets: 500, and the next line is read
	 * as a command again. */
	memset(longline, 'X', sizeof(longline));
	memcpy(longline, "NOOP ", 5);
	memcpy(longline + 1100, "\r\n", 3);
	expect(fd, longline, 500);
	expect(fd, "NOOP\r\n", 250);
	expect(fd, "MAIL FROM:<a@b.test>\r\n", 250);
	expect(fd, "MAIL FROM:<a@b.test>\r\n", 503);    /* nested */
	expect(fd, "RCPT TO:<c@d.test>\r\n", 250);
	expect(fd, "DATA\r\n", 354);
	expect(fd, "x\r\n.\r\n", 250);
	expect(fd, "QUIT\r\n", 221);
	expect_close(fd, 5000);
	close(fd);
	good_message(K.port);
	sink_stop(&K, SIGTERM, &msgs, &bytes, &conns);
	assert_int_equal(msgs, 2);
	assert_int_equal(bytes, 3 + strlen(good_body));
	assert_int_equal(conns, 2);
	assert_int_equal(maildir_count(&K, "new", NULL, 0), 2);
	assert_int_equal(maildir_count(&K, "tmp", NULL, 0), 0);
}

/* A body line over 1000 octets, and a message over --max-size: both are
 * refused at the dot and never stored; the session goes on. */
static void test_sink_limits_in_body(void **state)
{
	static const char *const flags[] = { "--max-size", "3000", NULL };
	unsigned long long msgs, bytes, conns;
	static char body[8000];
	int fd;

	SINK_OR_SKIP(&K, true, flags);
	fd = dial(K.port);
	expect(fd, NULL, 220);
	expect(fd, "EHLO x.test\r\n", 250);
	/* a line of 1500 octets in the body: 500 at the dot */
	expect(fd, "MAIL FROM:<a@b.test>\r\n", 250);
	expect(fd, "RCPT TO:<c@d.test>\r\n", 250);
	expect(fd, "DATA\r\n", 354);
	memset(body, 'y', 1500);
	memcpy(body + 1500, "\r\n.\r\n", 6);
	expect(fd, body, 500);
	/* 5000 octets in lines of 100 against --max-size 3000: 552 */
	expect(fd, "MAIL FROM:<a@b.test>\r\n", 250);
	expect(fd, "RCPT TO:<c@d.test>\r\n", 250);
	expect(fd, "DATA\r\n", 354);
	for (int i = 0; i < 50; i++) {
		memset(body + i * 100, 'z', 98);
		memcpy(body + i * 100 + 98, "\r\n", 2);
	}
	memcpy(body + 5000, ".\r\n", 4);
	expect(fd, body, 552);
	/* SIZE= over the limit: 552 at MAIL */
	expect(fd, "MAIL FROM:<a@b.test> SIZE=100000\r\n", 552);
	/* and a message within the limit still goes through */
	expect(fd, "MAIL FROM:<a@b.test>\r\n", 250);
	expect(fd, "RCPT TO:<c@d.test>\r\n", 250);
	expect(fd, "DATA\r\n", 354);
	expect(fd, "small\r\n.\r\n", 250);
	expect(fd, "QUIT\r\n", 221);
	close(fd);
	sink_stop(&K, SIGTERM, &msgs, &bytes, &conns);
	assert_int_equal(msgs, 1);
	assert_int_equal(maildir_count(&K, "new", "small\r\n", 7), 1);
	assert_int_equal(maildir_count(&K, "tmp", NULL, 0), 0);
}

/* Sessions that end badly: a partial message is never stored, and the
 * sink goes on serving others. */
static void test_sink_broken_sessions(void **state)
{
	static const char *const flags[] = { "--idle-timeout", "400ms", NULL };
	unsigned long long msgs, bytes, conns;
	char buf[4096];
	int64_t t0;
	int fd;

	SINK_OR_SKIP(&K, true, flags);

	/* Disconnects mid-DATA. */
	fd = dial(K.port);
	expect(fd, NULL, 220);
	expect(fd, "EHLO x.test\r\n", 250);
	expect(fd, "MAIL FROM:<a@b.test>\r\n", 250);
	expect(fd, "RCPT TO:<c@d.test>\r\n", 250);
	expect(fd, "DATA\r\n", 354);
	say(fd, "Subject: cut\r\n\r\nhalf a bo");
	usleep(50000);
	close(fd);
	good_message(K.port);

	/* A body without its final dot, then end of stream (the write side
	 * shut): no 250, the connection closes, nothing stored. */
	fd = dial(K.port);
	expect(fd, NULL, 220);
	expect(fd, "EHLO x.test\r\n", 250);
	expect(fd, "MAIL FROM:<a@b.test>\r\n", 250);
	expect(fd, "RCPT TO:<c@d.test>\r\n", 250);
	expect(fd, "DATA\r\n", 354);
	say(fd, "Subject: no dot\r\n\r\nline\r\n");
	shutdown(fd, SHUT_WR);
	assert_int_equal(reply(fd, buf, sizeof(buf), 5000), 0);
	close(fd);
	good_message(K.port);

	/* Stalls mid-command: 421 after the idle timeout, then closed. */
	fd = dial(K.port);
	expect(fd, NULL, 220);
	expect(fd, "EHLO x.test\r\n", 250);
	t0 = tl_now_ms();
	say(fd, "MAIL FROM:<a@b.te");
	expect(fd, NULL, 421);
	assert_true(tl_now_ms() - t0 >= 300);
	expect_close(fd, 5000);
	close(fd);

	/* Stalls mid-DATA: 421, and the partial body is dropped. */
	fd = dial(K.port);
	expect(fd, NULL, 220);
	expect(fd, "EHLO x.test\r\n", 250);
	expect(fd, "MAIL FROM:<a@b.test>\r\n", 250);
	expect(fd, "RCPT TO:<c@d.test>\r\n", 250);
	expect(fd, "DATA\r\n", 354);
	say(fd, "Subject: stalled\r\n\r\nsome");
	expect(fd, NULL, 421);
	expect_close(fd, 5000);
	close(fd);
	good_message(K.port);

	sink_stop(&K, SIGTERM, &msgs, &bytes, &conns);
	assert_int_equal(msgs, 3);
	assert_int_equal(bytes, 3 * strlen(good_body));
	assert_int_equal(conns, 7);
	assert_int_equal(maildir_count(&K, "new", good_body,
				       strlen(good_body)), 3);
	assert_int_equal(maildir_count(&K, "tmp", NULL, 0), 0);
}

/* More connections than --max-connections: 421 to the extra one; a slot
 * freed is usable again. */
static void test_sink_connection_limit(void **state)
{
	static const char *const flags[] = { "--max-connections", "3", NULL };
	unsigned long long msgs, bytes, conns;
	int fd[4], extra;
	int64_t deadline;

	SINK_OR_SKIP(&K, false, flags);
	for (int i = 0; i < 3; i++) {
		fd[i] = dial(K.port);
		expect(fd[i], NULL, 220);
	}
	extra = dial(K.port);
	expect(extra, NULL, 421);
	expect_close(extra, 5000);
	close(extra);
	/* One of the three says QUIT: its slot comes free (the sink counts
	 * it free when the session has ended, a moment after the 221). */
	expect(fd[0], "QUIT\r\n", 221);
	expect_close(fd[0], 5000);
	close(fd[0]);
	deadline = tl_now_ms() + 5000;
	for (;;) {
		char buf[512];
		int code;

		fd[3] = dial(K.port);
		code = reply(fd[3], buf, sizeof(buf), 5000);
		if (code == 220)
			break;
		assert_int_equal(code, 421);
		close(fd[3]);
		assert_true(tl_now_ms() < deadline);
		usleep(10000);
	}
	expect(fd[3], "EHLO x.test\r\n", 250);
	expect(fd[1], "NOOP\r\n", 250);
	sink_stop(&K, SIGINT, &msgs, &bytes, &conns);
	assert_int_equal(msgs, 0);
	assert_true(conns >= 5);
	for (int i = 1; i < 4; i++)
		close(fd[i]);
}

/* Stopping with sessions open (one idle, one mid-DATA): exit 0 at once,
 * the partial message not counted. */
static void test_sink_stop_with_open_sessions(void **state)
{
	unsigned long long msgs, bytes, conns;
	int64_t t0;
	int a, b;

	SINK_OR_SKIP(&K, true, NULL);
	a = dial(K.port);
	expect(a, NULL, 220);
	b = dial(K.port);
	expect(b, NULL, 220);
	expect(b, "EHLO x.test\r\n", 250);
	expect(b, "MAIL FROM:<a@b.test>\r\n", 250);
	expect(b, "RCPT TO:<c@d.test>\r\n", 250);
	expect(b, "DATA\r\n", 354);
	say(b, "partial\r\n");
	good_message(K.port);
	t0 = tl_now_ms();
	sink_stop(&K, SIGTERM, &msgs, &bytes, &conns);
	assert_true(tl_now_ms() - t0 < 5000);
	assert_int_equal(msgs, 1);
	assert_int_equal(conns, 3);
	assert_int_equal(maildir_count(&K, "new", NULL, 0), 1);
	assert_int_equal(maildir_count(&K, "tmp", NULL, 0), 0);
	close(a);
	close(b);
}

static void test_sink_flags(void **state)
{
	struct { const char *flag, *value, *says; } bad[] = {
		{ "--listen", "nowhere", "invalid --listen" },
		{ "--listen", "127.0.0.1:70000", "invalid --listen" },
		{ "--max-connections", "0", "invalid --max-connections" },
		{ "--idle-timeout", "5", "invalid --idle-timeout" },
		{ "--idle-timeout", "-1s", "invalid --idle-timeout" },
		{ "--max-size", "big", "invalid --max-size" },
		{ "--frob", NULL, "--frob" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *argv[] = { driver, "sink", bad[i].flag,
				       bad[i].value, NULL };

		run_prog(argv);
		if (R.status != 2 || !strstr(R.err, bad[i].says) || R.out[0])
			fail_msg("sink %s %s: want exit 2 and '%s' on stderr, "
				 "got %d, stderr '%s', stdout '%s'",
				 bad[i].flag, bad[i].value ? bad[i].value : "",
				 bad[i].says, R.status, R.err, R.out);
	}
	{
		const char *argv[] = { driver, "sink", "--help", NULL };

		run_prog(argv);
		assert_int_equal(R.status, 0);
		assert_non_null(strstr(R.out, "sink: messages=N bytes=B "
					      "connections=C"));
	}
	/* A port already taken: a message and exit 1. */
	{
		struct sockaddr_in a = { .sin_family = AF_INET };
		socklen_t len = sizeof(a);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		char listen_at[64];
		const char *argv[] = { driver, "sink", "--listen", listen_at,
				       NULL };

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(listen(fd, 1), 0);
		getsockname(fd, (struct sockaddr *)&a, &len);
		snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%u",
			 ntohs(a.sin_port));
		run_prog(argv);
		close(fd);
		assert_int_equal(R.status, 1);
		assert_non_null(strstr(R.err, "threadlab sink:"));
		assert_string_equal(R.out, "");
	}
}

/* After every test: no sink left running, no Maildir left behind. */
static int cleanup(void **state)
{
	if (K.pid > 0) {
		kill(K.pid, SIGKILL);
		waitpid(K.pid, NULL, 0);
		K.pid = 0;
	}
	if (K.out[0])
		unlink(K.out);
	if (K.err[0])
		unlink(K.err);
	maildir_remove(&K);
	return 0;
}

static int find_driver(void **state)
{
	return tl_driver_path(driver, sizeof(driver)) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_sink_senders, cleanup),
		cmocka_unit_test_teardown(test_sink_smtp_source, cleanup),
		cmocka_unit_test_teardown(test_sink_bad_commands, cleanup),
		cmocka_unit_test_teardown(test_sink_limits_in_body, cleanup),
		cmocka_unit_test_teardown(test_sink_broken_sessions, cleanup),
		cmocka_unit_test_teardown(test_sink_connection_limit, cleanup),
		cmocka_unit_test_teardown(test_sink_stop_with_open_sessions,
					  cleanup),
		cmocka_unit_test(test_sink_flags),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("email/sink", tests, find_driver,
					   NULL);
}

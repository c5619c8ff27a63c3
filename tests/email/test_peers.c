/*
 * test_peers: the email peers of `threadlab send` in Go, PHP and Python
 * (bench/email/{go,php,python}), run as a user runs them, against a real
 * SMTP server that is not ours: postfix's smtp-sink, on 127.0.0.1 and a
 * free port.
 *
 * For each model (go, php-fibers, php-fork, python-asyncio,
 * python-threads):
 *   - deliver: 50 messages at concurrency 1 and 8, with and without
 *     --reuse; exit 0, the settings lines, the benchmark line with N = 50,
 *     and smtp-sink's own counter ("-c": mesg=N, printed each time it
 *     receives a data terminator) up by exactly 50;
 *   - closed port: pointed at a port that is bound but not listening, it
 *     exits 1 with `--- FAIL: <name>: 5 of 5 messages not accepted (first
 *     error: ...)` and no benchmark line;
 *   - bad flags: exit 2, a message on stderr, nothing on stdout;
 *   - message: the bytes smtp-sink received (its "-d" dump of each
 *     message) are the message the peers are specified to send
 *     (expected_message below, the rule of bench/email/go/message.go),
 *     at several sizes, two messages over one connection — so the
 *     dot-stuffing (a lone "." line, lines starting with "." and "..")
 *     survives the round trip.
 *
 * A model whose toolchain is missing (go, php, php's pcntl, the system
 * /usr/bin/python3) is skipped, never passed; so is everything when
 * /usr/sbin/smtp-sink is missing (Debian's postfix package; see
 * scripts/packages.txt). The Go peer is built with `go build` into a
 * temporary directory by the group set-up.
 *
 * Processes: every child runs under a time limit and is killed by its pid
 * if it overruns; the smtp-sink servers are stopped by their pids in the
 * teardown (and the dumping one at the end of each message test), and die
 * with this program if it is killed (see TL_TIMEOUT in
 * tests/common/lib_net.h). No test asserts how fast anything is.
 *
 * Shared state: none; the tests run one after another on one thread.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/common/lib_net.h"
#include "tests/common/lib_proc.h"

/*
 * smtp-sink runs under coreutils' timeout (tests/common/lib_net.h says
 * why: no server outlives this test), so both must be there.
 */
#define SMTP_SINK TL_SMTP_SINK
#define TIMEOUT TL_TIMEOUT
#define PYTHON "/usr/bin/python3"
#define CHILD_TIMEOUT_MS 60000      /* per run of a peer */
#define BUILD_TIMEOUT_MS 180000     /* go build, cold cache */
#define SINK_WAIT_MS 5000           /* for smtp-sink to answer, per port */
#define SINK_COUNT_MS 5000          /* for its counters to reach a count */
#define SINK_BACKLOG 1024
#define OUT_MAX (64 * 1024)
#define EMAILS 50

/* ---------------------------------------------------------------------
 * Running a child
 * ------------------------------------------------------------------- */

TL_RUN_DEFINE(R, OUT_MAX);          /* the last child's */

/*
 * Run argv (argv[0] a path) in directory `dir` (NULL: here) into R, or
 * kill it by its pid after timeout_ms. Returns false when it overran.
 */
static bool run_argv(const char *const *argv, const char *dir, int timeout_ms)
{
	int rc = tl_run_argv(&R, argv, dir, timeout_ms);

	if (rc != -ETIMEDOUT)
		assert_int_equal(rc, 0);
	return rc == 0;
}

/* ---------------------------------------------------------------------
 * smtp-sink
 * ------------------------------------------------------------------- */

/* A port that was free a moment ago on 127.0.0.1, held by the caller in
 * *keep (a bound socket that never listens: connecting is refused). */
static int free_port(int *keep)
{
	int port = tl_free_port(keep);

	assert_true(port > 0);
	return port;
}

/* Start smtp-sink -c on a free port (see tl_sink_start), with `dump` (a
 * template, see smtp-sink(1)) writing each message to a file. */
static void start_sink(struct tl_sink *s, const char *dump)
{
	int rc = tl_sink_start(s, dump, SINK_BACKLOG, SINK_WAIT_MS);

	if (rc < 0)
		fail_msg("smtp-sink did not start on 127.0.0.1 (%d ports "
			 "tried): %s", TL_SINK_ATTEMPTS, strerror(-rc));
}

/* The sink's message count once it reaches `want`, or after 5 s. Each
 * counter line is printed when the sink sees ".", before its 250, so a
 * peer that exited 0 has all its messages counted already; the wait only
 * covers the output's way to us. */
static long sink_wait(struct tl_sink *s, long want)
{
	tl_sink_wait(s, 0, want, SINK_COUNT_MS);
	usleep(20000);           /* and nothing more comes after */
	return tl_sink_read(s);
}

/* ---------------------------------------------------------------------
 * The models
 * ------------------------------------------------------------------- */

struct model {
	const char *name;            /* as in model= */
	const char *tool;            /* what it needs, for the skip message */
	bool available;
	char why[256];               /* why not, when not */
	const char *argv[8];         /* the command before the options */
	int (*threads)(int conc);    /* expected `threads:`, or NULL */
};

static char root[PATH_MAX];      /* the top of the source tree */
static char tmpdir[PATH_MAX];    /* our scratch directory */
static char go_bin[PATH_MAX + 16], php_bin[PATH_MAX];
static char php_script[PATH_MAX + 32], py_script[PATH_MAX + 32];
static struct tl_sink sink = TL_SINK_INIT;       /* counting, for all */
static struct tl_sink dump = TL_SINK_INIT;       /* dumping, per test */
static int closed_fd = -1, closed_port;
static int cpus;

static int one_thread(int conc)
{
	return 1;
}

static int thread_per_session(int conc)
{
	return conc + 1;         /* and the main thread */
}

static int fork_threads(int conc)
{
	return (conc < cpus ? conc : cpus) + 1;   /* and the parent */
}

static struct model models[] = {
	{ .name = "go", .tool = "go (golang-go)" },
	{ .name = "php-fibers", .tool = "php (php-cli)",
	  .threads = one_thread },
	{ .name = "php-fork", .tool = "php (php-cli) with pcntl",
	  .threads = fork_threads },
	{ .name = "python-asyncio", .tool = PYTHON " (python3)",
	  .threads = one_thread },
	{ .name = "python-threads", .tool = PYTHON " (python3)",
	  .threads = thread_per_session },
};

#define N_MODELS (sizeof(models) / sizeof(models[0]))

/* The top of the tree: three levels above this binary
 * (build/tests/email/test_peers), or the current directory. */
static bool find_root(void)
{
	return tl_source_root(root, sizeof(root), "bench/email/go/go.mod") == 0;
}

static void set_argv(struct model *m, const char *a0, const char *a1,
		     const char *a2, const char *a3)
{
	m->argv[0] = a0;
	m->argv[1] = a1;
	m->argv[2] = a2;
	m->argv[3] = a3;
	m->argv[4] = NULL;
}

static void setup_go(struct model *m)
{
	char dir[PATH_MAX + 32];
	int rc;

	snprintf(go_bin, sizeof(go_bin), "%s/email-go", tmpdir);
	snprintf(dir, sizeof(dir), "%s/bench/email/go", root);
	rc = tl_go_build(&R, dir, go_bin, tmpdir, BUILD_TIMEOUT_MS);
	if (rc == -ENOENT) {
		snprintf(m->why, sizeof(m->why), "no go on PATH");
		return;
	}
	/* A toolchain that is there but cannot build the peer is a failure,
	 * reported by the go tests with go build's output. */
	if (rc < 0) {
		snprintf(m->why, sizeof(m->why), "BUILD FAILED: %.200s", R.err);
		return;
	}
	set_argv(m, go_bin, NULL, NULL, NULL);
	m->threads = NULL;       /* the runtime's own: checked >= 1 */
	m->available = true;
}

static void setup_php(struct model *fibers, struct model *fork_m)
{
	const char *pcntl[] = { php_bin, "-r",
		"exit(function_exists('pcntl_fork') ? 0 : 1);", NULL };

	if (tl_find_on_path("php", php_bin, sizeof(php_bin)) != 0) {
		snprintf(fibers->why, sizeof(fibers->why), "no php on PATH");
		snprintf(fork_m->why, sizeof(fork_m->why), "no php on PATH");
		return;
	}
	snprintf(php_script, sizeof(php_script), "%s/bench/email/php/send.php",
		 root);
	set_argv(fibers, php_bin, php_script, "--model", "php-fibers");
	fibers->available = true;
	if (!run_argv(pcntl, NULL, CHILD_TIMEOUT_MS) || R.status != 0) {
		snprintf(fork_m->why, sizeof(fork_m->why),
			 "php has no pcntl extension");
		return;
	}
	set_argv(fork_m, php_bin, php_script, "--model", "php-fork");
	fork_m->available = true;
}

static void setup_python(struct model *async_m, struct model *threads_m)
{
	if (access(PYTHON, X_OK) != 0) {
		snprintf(async_m->why, sizeof(async_m->why), "no %s", PYTHON);
		snprintf(threads_m->why, sizeof(threads_m->why), "no %s", PYTHON);
		return;
	}
	snprintf(py_script, sizeof(py_script), "%s/bench/email/python/send.py",
		 root);
	set_argv(async_m, PYTHON, py_script, "--model", "python-asyncio");
	set_argv(threads_m, PYTHON, py_script, "--model", "python-threads");
	async_m->available = threads_m->available = true;
}

static bool have_sink;

static int group_setup(void **state)
{
	cpu_set_t set;

	if (!find_root()) {
		fprintf(stderr, "test_peers: cannot find bench/email/ above "
			"the binary or here\n");
		return -1;
	}
	cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ?
	       CPU_COUNT(&set) : 1;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/threadlab-peers.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	/* smtp-sink writes its dumps as the user it switches to. */
	chmod(tmpdir, 0777);
	setup_go(&models[0]);
	setup_php(&models[1], &models[2]);
	setup_python(&models[3], &models[4]);
	have_sink = access(SMTP_SINK, X_OK) == 0 && access(TIMEOUT, X_OK) == 0;
	if (have_sink)
		start_sink(&sink, NULL);
	closed_port = free_port(&closed_fd);
	return 0;
}

static int group_teardown(void **state)
{
	const char *rm[] = { "/bin/rm", "-rf", tmpdir, NULL };

	tl_sink_stop(&sink);
	tl_sink_stop(&dump);
	if (closed_fd >= 0)
		close(closed_fd);
	if (tmpdir[0])
		run_argv(rm, NULL, CHILD_TIMEOUT_MS);
	return 0;
}

/* Skip the test when the model or the server cannot run here; a go that
 * is there but failed to build the peer is a failure. */
static struct model *need(void **state)
{
	struct model *m = *state;

	if (!m->available && strncmp(m->why, "BUILD FAILED", 12) == 0)
		fail_msg("%s: %s", m->name, m->why);
	if (!m->available) {
		fprintf(stderr, "[  SKIP    ] %s: needs %s: %s\n", m->name,
			m->tool, m->why);
		skip();
	}
	if (!have_sink) {
		fprintf(stderr, "[  SKIP    ] %s: needs %s (Debian's postfix)\n",
			m->name, SMTP_SINK);
		skip();
	}
	return m;
}

/* Run the model with extra options (NULL-terminated) into R. */
static void run_model(const struct model *m, const char *opt, ...)
{
	const char *argv[32];
	int argc = 0;
	va_list ap;

	for (; m->argv[argc]; argc++)
		argv[argc] = m->argv[argc];
	va_start(ap, opt);
	for (const char *a = opt; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	if (!run_argv(argv, NULL, CHILD_TIMEOUT_MS))
		fail_msg("%s did not finish in %d ms; stdout:\n%s\nstderr:\n%s",
			 m->name, CHILD_TIMEOUT_MS, R.out, R.err);
}

/* The value of the `key: value` line in R.out, or -1. */
static long setting(const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "%s: ", key);
	for (p = R.out; p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, k, strlen(k)) == 0)
			return strtol(p + strlen(k), NULL, 10);
	}
	return -1;
}

/* ---------------------------------------------------------------------
 * The tests
 * ------------------------------------------------------------------- */

/* 50 messages at concurrency 1 and 8, with and without --reuse: exit 0,
 * the settings, the line, and 50 more messages counted by smtp-sink. */
static void test_deliver(void **state)
{
	struct model *m = need(state);
	static const int concs[] = { 1, 8 };
	char server[64], emails[16], conc[16], pattern[512];

	snprintf(server, sizeof(server), "127.0.0.1:%d", sink.port);
	snprintf(emails, sizeof(emails), "%d", EMAILS);
	for (int reuse = 0; reuse < 2; reuse++) {
		for (size_t i = 0; i < 2; i++) {
			const char *rs = reuse ? "true" : "false";
			long before = tl_sink_read(&sink), after;

			snprintf(conc, sizeof(conc), "%d", concs[i]);
			run_model(m, "--emails", emails, "--concurrency", conc,
				  "--server", server,
				  reuse ? "--reuse" : NULL, NULL);
			if (R.status != 0)
				fail_msg("%s --concurrency %s%s: exit %d\n"
					 "stdout:\n%s\nstderr:\n%s", m->name,
					 conc, reuse ? " --reuse" : "",
					 R.status, R.out, R.err);
			snprintf(pattern, sizeof(pattern),
				 "^model: %s\nemails: %d\nconcurrency: %s\n"
				 "reuse: %s\nsize: 1024\nserver: %s\n"
				 "threads: [0-9]+\n(processes: [0-9]+\n)?"
				 "BenchmarkEmail/model=%s/conc=%s/reuse=%s"
				 "(-[0-9]+)?\t +%d\t +[0-9.]+ ns/op"
				 "\t +[0-9.]+ emails/s\t +[0-9.]+ cpu-us/email\n$",
				 m->name, EMAILS, conc, rs, server, m->name,
				 conc, rs, EMAILS);
			if (!tl_matches(R.out, pattern))
				fail_msg("%s: output is not\n%s\nbut\n%s",
					 m->name, pattern, R.out);
			if (m->threads)
				assert_int_equal(setting("threads"),
						 m->threads(concs[i]));
			else
				assert_true(setting("threads") >= 1);
			after = sink_wait(&sink, before + EMAILS);
			if (after - before != EMAILS)
				fail_msg("%s --concurrency %s%s: smtp-sink "
					 "counted %ld messages, not %d",
					 m->name, conc, reuse ? " --reuse" : "",
					 after - before, EMAILS);
		}
	}
}

/* A port that refuses connections: every message fails, exit 1, the
 * FAIL line in Go's form and no result line. */
static void test_closed_port(void **state)
{
	struct model *m = need(state);
	char server[64], pattern[512];

	snprintf(server, sizeof(server), "127.0.0.1:%d", closed_port);
	run_model(m, "--emails", "5", "--concurrency", "2", "--server",
		  server, NULL);
	if (R.status != 1)
		fail_msg("%s against a closed port: exit %d, not 1\n"
			 "stdout:\n%s\nstderr:\n%s", m->name, R.status, R.out,
			 R.err);
	snprintf(pattern, sizeof(pattern),
		 "^--- FAIL: BenchmarkEmail/model=%s/conc=2/reuse=false"
		 "(-[0-9]+)?: 5 of 5 messages not accepted \\(first error: "
		 "[^\n]*[Rr]efused[^\n]*\\)$", m->name);
	if (!tl_matches(R.out, pattern) || tl_matches(R.out, "^BenchmarkEmail"))
		fail_msg("%s: no FAIL line like\n%s\nin\n%s", m->name,
			 pattern, R.out);
}

/* Bad flags: exit 2, a message on stderr, nothing on stdout. */
static void test_bad_flags(void **state)
{
	struct model *m = need(state);
	static const char *const bad[][6] = {
		{ "--emails", "10", "--concurrency", "2", "--bogus", NULL },
		{ "--emails", "0", "--concurrency", "2", NULL },
		{ "--emails", "10", "--concurrency", "x", NULL },
		{ "--emails", "10", "--concurrency", "2", "--size", "1" },
		{ "--emails", "10", "--concurrency", "2", "--server", "nope" },
		{ "--concurrency", "2", NULL },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run_model(m, bad[i][0], bad[i][1], bad[i][2], bad[i][3],
			  bad[i][4], bad[i][5], NULL);
		if (R.status != 2 || R.out[0] != '\0' || R.err[0] == '\0')
			fail_msg("%s %s %s %s %s %s %s: exit %d (want 2), "
				 "stdout \"%s\", stderr \"%s\"", m->name,
				 bad[i][0], bad[i][1], bad[i][2], bad[i][3],
				 bad[i][4] ? bad[i][4] : "",
				 bad[i][5] ? bad[i][5] : "", R.status, R.out,
				 R.err);
	}
}

/* The message the peers send, by its rule (bench/email/go/message.go):
 * exactly `size` bytes of CRLF lines — the headers when they fit with a
 * CRLF to spare, then body line k of 76 characters (line 0: 1), cut
 * short at the end, never leaving one byte; character i of line k is '.'
 * below dots(k), else 'a' + (k+i) % 26. */
static size_t expected_message(char *buf, size_t size)
{
	static const char head[] = "From: <sender@threadlab.test>\r\n"
				   "To: <sink@threadlab.test>\r\n"
				   "Subject: threadlab email benchmark\r\n"
				   "\r\n";
	size_t n = 0, rem = size;

	if (size >= sizeof(head) - 1 + 2) {
		memcpy(buf, head, sizeof(head) - 1);
		n = sizeof(head) - 1;
		rem -= n;
	}
	for (size_t k = 0; rem > 0; k++) {
		size_t len = k == 0 ? 3 : 78, dots;

		if (rem < len)
			len = rem;
		if (rem - len == 1)
			len = len > 2 ? len - 1 : len + 1;
		dots = (k % 8 == 0 || k % 8 == 3) ? 1 : k % 8 == 6 ? 2 : 0;
		for (size_t i = 0; i < len - 2; i++)
			buf[n++] = i < dots ? '.' : (char)('a' + (k + i) % 26);
		buf[n++] = '\r';
		buf[n++] = '\n';
		rem -= len;
	}
	return n;
}

/* What smtp-sink's dump holds for a message: its own headers (up to the
 * three lines of its Received:), then the message with each CRLF turned
 * into LF, then an empty line. */
static size_t dump_form(const char *msg, size_t len, char *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (!(msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n'))
			out[n++] = msg[i];
	out[n++] = '\n';
	return n;
}

/* Read every dump file in dir, check each against want, delete it; the
 * number of files. */
static int check_dumps(const char *dir, const char *want, size_t want_len,
		       const char *name, int size)
{
	static char body[8192];
	DIR *d = opendir(dir);
	struct dirent *e;
	int files = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char path[2 * PATH_MAX], *p, *end;
		FILE *f;
		size_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		f = fopen(path, "r");
		assert_non_null(f);
		n = fread(body, 1, sizeof(body) - 1, f);
		fclose(f);
		unlink(path);
		body[n] = '\0';
		end = body + n;
		p = strstr(body, "\nReceived: ");
		if (!p)
			fail_msg("%s --size %d: dump %s has no Received:",
				 name, size, e->d_name);
		/* Skip the Received: header's three lines. */
		for (int lines = 0; lines < 3 && p; lines++)
			p = memchr(p + 1, '\n', (size_t)(end - p - 1));
		if (!p)
			fail_msg("%s --size %d: dump %s cut short", name, size,
				 e->d_name);
		p++;
		if ((size_t)(end - p) != want_len || memcmp(p, want, want_len))
			fail_msg("%s --size %d: smtp-sink received\n%.*s\n"
				 "---- but the message is\n%.*s\n----", name,
				 size, (int)(end - p), p, (int)want_len, want);
		files++;
	}
	closedir(d);
	return files;
}

/* Two messages over one connection at several sizes: smtp-sink's dumps
 * of them are the message, unstuffed — so the peer stuffed what needed
 * stuffing and nothing else. The dumping sink is `dump`, a global, so
 * that the teardown kills it when a failure jumps out of here. */
static void test_message(void **state)
{
	struct model *m = need(state);
	static const int sizes[] = { 2, 3, 95, 96, 97, 98, 181, 1024 };
	static char msg[2048], want[2048];
	char dir[PATH_MAX + 64], tmpl[PATH_MAX + 80], server[64], size[16];

	/* A failure in the last message test jumped past its tl_sink_stop. */
	tl_sink_stop(&dump);
	snprintf(dir, sizeof(dir), "%s/dump-%s", tmpdir, m->name);
	assert_int_equal(mkdir(dir, 0777), 0);
	chmod(dir, 0777);
	snprintf(tmpl, sizeof(tmpl), "%s/m.", dir);
	start_sink(&dump, tmpl);
	snprintf(server, sizeof(server), "127.0.0.1:%d", dump.port);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = expected_message(msg, (size_t)sizes[i]);
		size_t want_len = dump_form(msg, len, want);
		int files;

		assert_int_equal(len, sizes[i]);
		snprintf(size, sizeof(size), "%d", sizes[i]);
		run_model(m, "--emails", "2", "--concurrency", "1", "--reuse",
			  "--size", size, "--server", server, NULL);
		if (R.status != 0)
			fail_msg("%s --size %s: exit %d\nstdout:\n%s\n"
				 "stderr:\n%s", m->name, size, R.status,
				 R.out, R.err);
		sink_wait(&dump, (long)(2 * (i + 1)));
		files = check_dumps(dir, want, want_len, m->name, sizes[i]);
		if (files != 2)
			fail_msg("%s --size %s: %d messages dumped, not 2",
				 m->name, size, files);
	}
	tl_sink_stop(&dump);
}

/* The four tests of models[i], named "<model>: <test>". */
#define MODEL_TESTS(i, name)                                                \
	{ name ": deliver", test_deliver, NULL, NULL, &models[i] },         \
	{ name ": closed port", test_closed_port, NULL, NULL, &models[i] }, \
	{ name ": bad flags", test_bad_flags, NULL, NULL, &models[i] },     \
	{ name ": message", test_message, NULL, NULL, &models[i] }

int main(void)
{
	const struct CMUnitTest tests[] = {
		MODEL_TESTS(0, "go"), MODEL_TESTS(1, "php-fibers"),
		MODEL_TESTS(2, "php-fork"), MODEL_TESTS(3, "python-asyncio"),
		MODEL_TESTS(4, "python-threads"),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("email peers", tests, group_setup,
					   group_teardown);
}

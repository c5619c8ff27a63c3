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
 * with this program if it is killed (see TIMEOUT). No test asserts how
 * fast anything is.
 *
 * Shared state: none; the tests run one after another on one thread.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <regex.h>
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define SMTP_SINK "/usr/sbin/smtp-sink"
/*
 * smtp-sink runs under coreutils' timeout, which passes on the SIGTERM
 * that stops it, and which gets a SIGTERM itself if this test dies
 * (PR_SET_PDEATHSIG; smtp-sink's own would not survive its switch to
 * another user): so a test killed by run-tests.sh's time limit leaves no
 * server behind, and none outlives SINK_LIFETIME in any case.
 */
#define TIMEOUT "/usr/bin/timeout"
#define SINK_LIFETIME "600"
#define PYTHON "/usr/bin/python3"
#define CHILD_TIMEOUT_MS 60000      /* per run of a peer */
#define BUILD_TIMEOUT_MS 180000     /* go build, cold cache */
#define OUT_MAX (64 * 1024)
#define EMAILS 50

/* ---------------------------------------------------------------------
 * Running a child
 * ------------------------------------------------------------------- */

struct run {
	int status;                  /* exit status; -1 if killed by a signal */
	char out[OUT_MAX];           /* stdout, NUL-terminated */
	char err[OUT_MAX];           /* stderr, NUL-terminated */
};

static struct run R;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Append what is readable on fd to buf; false at end of file. */
static bool drain(int fd, char *buf, size_t *len)
{
	char scratch[4096];
	ssize_t n;

	if (*len < OUT_MAX - 1)
		n = read(fd, buf + *len, OUT_MAX - 1 - *len);
	else
		n = read(fd, scratch, sizeof(scratch));   /* discard */
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	if (*len < OUT_MAX - 1)
		*len += (size_t)n;
	return true;
}

/*
 * Run argv (argv[0] a path) in directory `dir` (NULL: here) into R, or
 * kill it by its pid after timeout_ms. Returns false when it overran.
 */
static bool run_argv(const char *const *argv, const char *dir, int timeout_ms)
{
	int out[2], err[2], st;
	size_t out_len = 0, err_len = 0;
	bool out_open = true, err_open = true;
	int64_t deadline = now_ms() + timeout_ms;
	pid_t pid;

	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		if (dir && chdir(dir) != 0)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	while (out_open || err_open) {
		struct pollfd p[2] = {
			{ .fd = out_open ? out[0] : -1, .events = POLLIN },
			{ .fd = err_open ? err[0] : -1, .events = POLLIN },
		};
		int64_t left = deadline - now_ms();

		if (left <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			close(out[0]);
			close(err[0]);
			R.out[out_len] = R.err[err_len] = '\0';
			R.status = -1;
			return false;
		}
		if (poll(p, 2, (int)left) < 0)
			continue;
		if (out_open && p[0].revents)
			out_open = drain(out[0], R.out, &out_len);
		if (err_open && p[1].revents)
			err_open = drain(err[0], R.err, &err_len);
	}
	close(out[0]);
	close(err[0]);
	R.out[out_len] = R.err[err_len] = '\0';
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	R.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return true;
}

/* Where `name` is on PATH, into buf; false when it is nowhere. */
static bool find_on_path(const char *name, char *buf, size_t len)
{
	const char *path = getenv("PATH");
	char dirs[4096], *save = NULL;

	snprintf(dirs, sizeof(dirs), "%s",
		 path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (char *d = strtok_r(dirs, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		snprintf(buf, len, "%s/%s", d, name);
		if (access(buf, X_OK) == 0)
			return true;
	}
	return false;
}

/* ---------------------------------------------------------------------
 * smtp-sink
 * ------------------------------------------------------------------- */

struct sink {
	pid_t pid;
	int out;                     /* its stdout (the -c counters) */
	int port;
	char tail[256];              /* the counters' text not yet parsed */
	long messages;               /* the last mesg= it printed */
};

/* A port that was free a moment ago on 127.0.0.1. Holding it is left to
 * the caller when `keep` is given (a bound socket that never listens:
 * connecting to it is refused). */
static int free_port(int *keep)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	if (keep)
		*keep = fd;
	else
		close(fd);
	return port;
}

static bool port_answers(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void stop_sink(struct sink *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
			;
		s->pid = 0;
	}
	if (s->out >= 0)
		close(s->out);
	s->out = -1;
}

/*
 * Start smtp-sink on 127.0.0.1 and a free port, counting (-c), and with
 * `dump` (a template, see smtp-sink(1)) writing each message to a file.
 * A port taken between free_port() and smtp-sink's bind is tried again
 * with another. As root smtp-sink must be told a user to run as (-u).
 */
static void start_sink(struct sink *s, const char *dump)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		char addr[64];
		const char *argv[16];
		int argc = 0, out[2];
		int64_t deadline;

		s->port = free_port(NULL);
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", s->port);
		argv[argc++] = TIMEOUT;
		argv[argc++] = SINK_LIFETIME;
		argv[argc++] = SMTP_SINK;
		argv[argc++] = "-c";
		if (geteuid() == 0) {
			argv[argc++] = "-u";
			argv[argc++] = "nobody";
		}
		if (dump) {
			argv[argc++] = "-d";
			argv[argc++] = dump;
		}
		argv[argc++] = addr;
		argv[argc++] = "1024";       /* listen backlog */
		argv[argc] = NULL;

		assert_int_equal(pipe2(out, O_CLOEXEC), 0);
		s->pid = fork();
		assert_true(s->pid >= 0);
		if (s->pid == 0) {
			int null = open("/dev/null", O_WRONLY);

			dup2(out[1], STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			execv(TIMEOUT, (char *const *)argv);
			_exit(127);
		}
		close(out[1]);
		s->out = out[0];
		fcntl(s->out, F_SETFL, O_NONBLOCK);
		s->tail[0] = '\0';
		s->messages = 0;

		deadline = now_ms() + 5000;
		while (now_ms() < deadline) {
			if (port_answers(s->port))
				return;
			if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
				s->pid = 0;
				break;               /* port taken: try another */
			}
			usleep(10000);
		}
		stop_sink(s);
	}
	fail_msg("smtp-sink did not start on 127.0.0.1 (5 ports tried)");
}

/* Read the sink's counters ("sess=S quit=Q mesg=M\r" each time one
 * changes) and keep the last mesg=. */
static long sink_messages(struct sink *s)
{
	char buf[4096];
	ssize_t n;

	while ((n = read(s->out, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			size_t t = strlen(s->tail);
			char *m;

			if (buf[i] != '\r') {
				/* A counter line is some thirty bytes; a
				 * longer one means the format changed. */
				assert_true(t < sizeof(s->tail) - 1);
				s->tail[t] = buf[i];
				s->tail[t + 1] = '\0';
				continue;
			}
			m = strstr(s->tail, "mesg=");
			if (m)
				s->messages = strtol(m + 5, NULL, 10);
			s->tail[0] = '\0';
		}
	}
	return s->messages;
}

/* The sink's message count once it reaches `want`, or after 5 s. Each
 * counter line is printed when the sink sees ".", before its 250, so a
 * peer that exited 0 has all its messages counted already; the wait only
 * covers the pipe. */
static long sink_wait(struct sink *s, long want)
{
	int64_t deadline = now_ms() + 5000;

	while (sink_messages(s) < want && now_ms() < deadline) {
		struct pollfd p = { .fd = s->out, .events = POLLIN };

		poll(&p, 1, 50);
	}
	usleep(20000);           /* and nothing more comes after */
	return sink_messages(s);
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
static char go_bin[PATH_MAX + 16], php_bin[PATH_MAX], go_tool[PATH_MAX];
static char php_script[PATH_MAX + 32], py_script[PATH_MAX + 32];
static struct sink sink = { .out = -1 };         /* counting, for all */
static struct sink dump = { .out = -1 };         /* dumping, per test */
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
	char exe[PATH_MAX], probe[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n > 0) {
		exe[n] = '\0';
		for (int up = 0; up < 4; up++) {
			char *slash = strrchr(exe, '/');

			if (!slash)
				break;
			*slash = '\0';
		}
		snprintf(probe, sizeof(probe), "%s/bench/email/go/go.mod", exe);
		if (access(probe, R_OK) == 0) {
			snprintf(root, sizeof(root), "%s", exe);
			return true;
		}
	}
	if (getcwd(root, sizeof(root))) {
		snprintf(probe, sizeof(probe), "%s/bench/email/go/go.mod", root);
		return access(probe, R_OK) == 0;
	}
	return false;
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
	const char *build[] = { go_tool, "build", "-o", go_bin, ".", NULL };
	char dir[PATH_MAX + 32];

	if (!find_on_path("go", go_tool, sizeof(go_tool))) {
		snprintf(m->why, sizeof(m->why), "no go on PATH");
		return;
	}
	/* go build needs a cache; without HOME it has no default one. */
	if (!getenv("GOCACHE") && !getenv("XDG_CACHE_HOME") && !getenv("HOME")) {
		snprintf(dir, sizeof(dir), "%s/gocache", tmpdir);
		setenv("GOCACHE", dir, 1);
	}
	snprintf(go_bin, sizeof(go_bin), "%s/email-go", tmpdir);
	snprintf(dir, sizeof(dir), "%s/bench/email/go", root);
	/* A toolchain that is there but cannot build the peer is a failure,
	 * reported by the go tests with go build's output. */
	if (!run_argv(build, dir, BUILD_TIMEOUT_MS) || R.status != 0) {
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

	if (!find_on_path("php", php_bin, sizeof(php_bin))) {
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

	stop_sink(&sink);
	stop_sink(&dump);
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

static bool matches(const char *text, const char *pattern)
{
	regex_t re;
	bool ok;

	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE |
				 REG_NOSUB), 0);
	ok = regexec(&re, text, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
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
			long before = sink_messages(&sink), after;

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
			if (!matches(R.out, pattern))
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
	if (!matches(R.out, pattern) || matches(R.out, "^BenchmarkEmail"))
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

	/* A failure in the last message test jumped past its stop_sink. */
	stop_sink(&dump);
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
	stop_sink(&dump);
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

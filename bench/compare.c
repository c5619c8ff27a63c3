/*
 * `threadlab compare`: the main job behind `make compare`. Every email
 * model — this driver's own (`threadlab send --model clone|pthread|rt`)
 * and its peers in Go, PHP and Python (bench/email/) — delivers the same
 * N emails to a fresh SMTP server on loopback, at concurrency = the CPU
 * count and at 200, with and without --reuse, and is measured from the
 * outside the same way:
 *
 *   emails/s          the sender's own benchmark line (delivery only);
 *   CPU µs per email  user+sys of wait4()'s rusage of the sender, over N:
 *                     the whole process, start-up included, and on Linux
 *                     its reaped children too (php-fork's workers);
 *   syscalls/email    a smaller run under `perf stat -e
 *                     raw_syscalls:sys_enter` (every thread and child),
 *                     and the same smaller run again under `strace -f -c`
 *                     for the breakdown by name — strace slows the traced
 *                     program and so undercounts (FINDINGS.md), hence both
 *                     columns. Each is the count of the smaller run minus
 *                     that of a 1-email run of the same model (the
 *                     process's start-up), over the emails in between;
 *   context switches  ru_nvcsw + ru_nivcsw of the sender, per email;
 *   peak RSS          ru_maxrss (for a process with children: the largest
 *                     of them, not their sum);
 *   threads           the sender's `threads:` line;
 *   io_uring          the sender's `io_uring_ops:` / `io_uring_enter:`
 *                     lines (run totals; the rt model), per email;
 *   server            messages counted by the server (must equal N, or
 *                     the run failed) and its CPU time over the delivery;
 *                     a run whose server used >= 90% of one core is
 *                     flagged BOUND: it measured the server more than the
 *                     client.
 *
 * Every run gets a server of its own on a free 127.0.0.1 port, started
 * before the sender and stopped (SIGTERM, by its pid) after it, so its
 * message count and its CPU time belong to that run alone: the embedded
 * sink (`threadlab sink`) when this driver has one, else postfix's
 * smtp-sink, or a HOST:PORT the user names (loopback only; then the
 * server is not ours, and neither its counts nor its CPU are known).
 * The embedded sink is used when `threadlab help sink` succeeds; it is
 * expected to print "sink: messages=N bytes=B connections=C" on stdout
 * when stopped by SIGTERM. smtp-sink counts with -c ("... mesg=M\r" at
 * every change). The rt model is run when `threadlab send --model rt`
 * is not a usage error; until then it is a "skipped" row, as is any
 * model whose toolchain is missing — never silently left out.
 *
 * Output: progress lines on stderr, one table on stdout at the end, and
 * in the output directory results.txt (Go's benchmark format), report.md
 * and three SVG plots (svg.c).
 *
 * The program is single-threaded. Shared state: the pids of the running
 * child and server, read by the SIGINT/SIGTERM handler so that an
 * interrupted comparison leaves no server behind (volatile sig_atomic_t
 * sized; the handler only calls kill and re-raises).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/svg.h"
#include "syscalls/sys.h"

/* The default N and runs: the whole default run (7 models, 4 settings
 * each, 3 timed runs and 2 syscall runs per setting, 2 start-up runs per
 * model: 154 runs) took 3 min 5 s as `make compare` on this project's
 * 2-core machine with postfix's smtp-sink; --quick (98 runs) 26 s.
 * report.md records the time of each comparison. */
#define DEFAULT_EMAILS 5000
#define DEFAULT_RUNS 3
#define QUICK_EMAILS 600
#define QUICK_RUNS 1
#define MAX_EMAILS 1000000000ull
#define MAX_CONCS 8
#define MAX_RUNS 100
#define HIGH_CONCURRENCY 200
#define SERVER_BOUND_PCT 90.0      /* of one core, over the delivery */
#define TOP_SYSCALLS 8
#define MAX_SYSCALL_NAMES 512
#define OUT_MAX (64 * 1024)
#define SMTP_SINK "/usr/sbin/smtp-sink"
#define PYTHON "/usr/bin/python3"   /* Debian's, as the Python peer says */
#define SYSCALL_EVENT "raw_syscalls:sys_enter"

static const char usage[] =
"usage: threadlab compare [--emails N] [--quick] [--models LIST]\n"
"                         [--concurrency LIST] [--size BYTES]\n"
"                         [--server embedded|smtp-sink|HOST:PORT]\n"
"                         [--out DIR] [--runs K] [--placement P]\n"
"\n"
"Run every email model (threadlab send's clone, pthread and rt; the Go,\n"
"PHP and Python peers) at each concurrency, with and without --reuse,\n"
"N emails each, against a fresh SMTP server on loopback per run, and\n"
"measure each run: emails/s, client CPU per email (wait4's rusage),\n"
"syscalls per email (a smaller run under perf stat and under strace -f\n"
"-c), io_uring operations per email (rt), context switches per email,\n"
"peak RSS, OS threads, the server's CPU, and that the server accepted\n"
"exactly what was sent. A progress line per run goes to stderr, the table\n"
"to stdout; DIR gets results.txt (Go's benchmark format), report.md and\n"
"SVG plots.\n"
"\n"
"Models: clone pthread rt go php-fibers php-fork python-asyncio\n"
"python-threads. A model that cannot run here (not built, no toolchain)\n"
"is shown as skipped, with the reason.\n"
"\n"
"Flags:\n"
"  --emails N         emails per run (default 5000; --quick: 600).\n"
"  --quick            a short run (about 30 s on 2 cores).\n"
"  --models LIST      comma-separated models (default: all).\n"
"  --concurrency LIST comma-separated sessions at once (default: the CPU\n"
"                     count and 200), 1 to 65536.\n"
"  --size BYTES       message size (default 1024), 2 to 67108864.\n"
"  --server S         embedded (threadlab sink, the default when built),\n"
"                     smtp-sink (postfix's /usr/sbin/smtp-sink, the default\n"
"                     otherwise), or HOST:PORT of a running server, which\n"
"                     must be a loopback address (127.0.0.0/8 or ::1).\n"
"  --out DIR          where results go (default out/compare).\n"
"  --runs K           timed runs per setting, 1 to 100 (default 3; --quick:\n"
"                     1); the table shows medians, results.txt every run.\n"
"  --placement P      where the rt sender's and the embedded sink's workers\n"
"                     run: compact, spread or node=N (numa/'s plan;\n"
"                     default THREADLAB_PLACEMENT, else compact). The plan\n"
"                     is recorded in results.txt and report.md.\n"
"  -h, --help         print this help.\n"
"\n"
"Exit status: 0 every run passed, 1 a run failed (a message not\n"
"accepted, a count mismatch, a sender that crashed), 2 bad flags.\n";

/* ---------------------------------------------------------------------
 * Models
 * ------------------------------------------------------------------- */

enum model_kind { KIND_DRIVER, KIND_GO, KIND_PHP, KIND_PYTHON };

/* One strace -c row: a syscall's name and its calls (per email, once
 * divided). */
struct sc_count {
	char name[32];
	double calls;
};

struct sc_table {
	size_t n;
	struct sc_count e[MAX_SYSCALL_NAMES];
};

struct model {
	const char *name;
	enum model_kind kind;
	bool limits_threads;     /* can keep its OS threads near the CPUs */
	const char *threads_how; /* how it uses threads, for report.md */

	/* Set up by probe_models(). */
	bool selected, available;
	char why[256];           /* why not available */
	const char *argv[5];     /* the command before the common flags */

	/* The 1-email runs (process start-up): NaN / NULL when not run. */
	double base_perf;
	struct sc_table *base_strace;
};

static struct model models[] = {
	{ .name = "clone", .kind = KIND_DRIVER, .limits_threads = false,
	  .threads_how =
	  "one raw kernel thread (clone) per session, blocking calls: C + 1 "
	  "threads" },
	{ .name = "pthread", .kind = KIND_DRIVER, .limits_threads = false,
	  .threads_how =
	  "one pthread per session, blocking calls: C + 1 threads" },
	{ .name = "rt", .kind = KIND_DRIVER, .limits_threads = true,
	  .threads_how =
	  "one task per session on one worker thread per CPU (io_uring)" },
	{ .name = "go", .kind = KIND_GO, .limits_threads = true,
	  .threads_how =
	  "goroutines; GOMAXPROCS = CPUs bounds the threads running Go code, "
	  "the runtime adds sysmon and threads parked in system calls" },
	{ .name = "php-fibers", .kind = KIND_PHP, .limits_threads = true,
	  .threads_how =
	  "one thread: fibers over stream_select" },
	{ .name = "php-fork", .kind = KIND_PHP, .limits_threads = true,
	  .threads_how =
	  "one single-threaded process per CPU (fibers inside) plus the "
	  "parent" },
	{ .name = "python-asyncio", .kind = KIND_PYTHON, .limits_threads = true,
	  .threads_how =
	  "one thread: one asyncio event loop" },
	{ .name = "python-threads", .kind = KIND_PYTHON, .limits_threads = false,
	  .threads_how =
	  "one thread per session, blocking sockets: C + 1 threads (the GIL "
	  "runs one at a time)" },
};

#define N_MODELS (sizeof(models) / sizeof(models[0]))

/* ---------------------------------------------------------------------
 * Runs
 * ------------------------------------------------------------------- */

enum run_mode { MODE_TIMED, MODE_PERF, MODE_STRACE };

/* One process run of a sender and what was measured of it. */
struct sample {
	bool done;               /* it ran (not skipped) */
	bool failed;             /* a check failed: see fail */
	bool timed_out;          /* killed at its time limit */
	char fail[400];
	bool line;               /* a benchmark line was printed */
	char name[160];          /* its benchmark name, with -P */
	uint64_t n;              /* emails in its benchmark line */
	double ns_op, emails_s, self_cpu_us;
	long threads;
	double uring_ops, uring_enter;   /* run totals; NaN: not printed */
	struct rusage ru;
	int64_t wall_ns;         /* the whole process */
	long long server_msgs;   /* -1: unknown (external server) */
	int64_t server_cpu_ns;   /* -1: unknown */
	double perf_count;       /* MODE_PERF: raw_syscalls:sys_enter */
	struct sc_table *strace; /* MODE_STRACE: the rows (owned) */
};

/* One setting of one model: K timed runs and the two syscall runs. */
struct config {
	struct model *m;
	unsigned conc;
	bool reuse;
	struct sample *runs;     /* opts.runs of them */
	struct sample perf, strace;

	/* Summary (summarize()). NaN: not known. */
	bool failed, server_bound, strace_timeout;
	char fail[480];
	char name[160];
	double emails_s, cpu_us, ctxsw, rss_kib, threads, server_pct;
	double uring_ops, uring_enter;
	double perf_pe, strace_pe;
	size_t n_top;
	struct sc_count top[TOP_SYSCALLS];
};

enum server_kind { SERVER_EMBEDDED, SERVER_SMTP_SINK, SERVER_EXTERNAL };

static struct {
	uint64_t emails, syscall_emails, size;
	unsigned concs[MAX_CONCS];
	size_t n_concs;
	unsigned runs;
	bool quick;
	const char *out;
	enum server_kind server;
	char external[80];       /* SERVER_EXTERNAL: HOST:PORT */
} opts;

static char self_path[PATH_MAX];
static char root[PATH_MAX];      /* the source tree, for the PHP/Python peers */
static char go_bin[PATH_MAX + 16], php_bin[PATH_MAX];
static char php_script[PATH_MAX + 32], py_script[PATH_MAX + 32];
static char perf_bin[PATH_MAX], strace_bin[PATH_MAX];
static bool have_perf, have_strace;
static char perf_why[200], strace_why[200];
static char tmpdir[64];
static int cpus = 1;

static struct config *configs;
static size_t n_configs;
static size_t step, n_steps;
static int64_t t_start;

/* The running child (its process group) and server, for the handler. */
static volatile sig_atomic_t child_pgid, server_pid;

/* ---------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------- */

static double nan_value(void)
{
	return __builtin_nan("");
}

static bool known(double v)
{
	return v == v;
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

static int64_t tv_ns(const struct timeval *tv)
{
	return (int64_t)tv->tv_sec * 1000000000 + (int64_t)tv->tv_usec * 1000;
}

static int64_t ru_cpu_ns(const struct rusage *ru)
{
	return tv_ns(&ru->ru_utime) + tv_ns(&ru->ru_stime);
}

static void format_elapsed(char *buf, size_t len, int64_t ns)
{
	long s = (long)(ns / 1000000000);

	snprintf(buf, len, "%ld:%02ld", s / 60, s % 60);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	if (n == 0)
		return nan_value();
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Go's testing.prettyPrint, as the senders print their metrics. */
static void pretty_print(FILE *f, double x, const char *unit)
{
	double y = x < 0 ? -x : x;

	if (y == 0 || y >= 999.95)
		fprintf(f, "\t%10.0f %s", x, unit);
	else if (y >= 99.995)
		fprintf(f, "\t%12.1f %s", x, unit);
	else if (y >= 9.9995)
		fprintf(f, "\t%13.2f %s", x, unit);
	else if (y >= 0.99995)
		fprintf(f, "\t%14.3f %s", x, unit);
	else if (y >= 0.099995)
		fprintf(f, "\t%15.4f %s", x, unit);
	else if (y >= 0.0099995)
		fprintf(f, "\t%16.5f %s", x, unit);
	else
		fprintf(f, "\t%17.6f %s", x, unit);
}

/* The file's whole text into buf (NUL-terminated); its length or -errno. */
static ssize_t read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return -errno;
	while (got < len - 1) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

/* A temporary file's path (in our scratch directory). */
static const char *tmp_path(const char *name)
{
	static char paths[4][PATH_MAX];
	static unsigned next;
	char *p = paths[next++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", tmpdir, name);
	return p;
}

/* ---------------------------------------------------------------------
 * Children
 * ------------------------------------------------------------------- */

struct child {
	int status;              /* exit status, -1 when killed by a signal */
	int sig;                 /* that signal */
	bool timed_out;
	struct rusage ru;
	int64_t wall_ns;
	size_t out_len, err_len;
	char out[OUT_MAX];
	char err[OUT_MAX];
};

static struct child C;

/* On SIGINT/SIGTERM: stop what we started, then die of the signal. */
static void on_signal(int sig)
{
	if (child_pgid > 0)
		kill(-child_pgid, SIGKILL);
	if (server_pid > 0)
		kill(server_pid, SIGTERM);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Append what is readable on fd; false at end of file. */
static bool drain(int fd, char *buf, size_t *len)
{
	char scratch[4096];
	ssize_t n;

	if (*len < OUT_MAX - 1)
		n = read(fd, buf + *len, OUT_MAX - 1 - *len);
	else
		n = read(fd, scratch, sizeof(scratch));   /* keep the start */
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	if (*len < OUT_MAX - 1)
		*len += (size_t)n;
	return true;
}

/*
 * Run argv[0] (a path) with its stdout and stderr captured into C, in a
 * process group of its own so that a time-out kills it and whatever it
 * started (perf's and strace's tracees, php-fork's workers) by that one
 * id. Waits with wait4 for its rusage. 0, or -errno when it could not be
 * started.
 */
static int run_child(const char *const *argv, int64_t timeout_ms)
{
	int out[2], err[2], st = 0;
	bool out_open = true, err_open = true;
	int64_t t0 = sys_now_ns(), deadline = t0 + timeout_ms * 1000000;
	pid_t pid;

	memset(&C.ru, 0, sizeof(C.ru));
	C.out_len = C.err_len = 0;
	C.timed_out = false;
	if (pipe2(out, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(err, O_CLOEXEC) < 0) {
		int e = errno;

		close(out[0]);
		close(out[1]);
		return -e;
	}
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(out[0]); close(out[1]); close(err[0]); close(err[1]);
		return -e;
	}
	if (pid == 0) {
		setpgid(0, 0);
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	/* Both sides set the group, so that it exists before any kill. */
	setpgid(pid, pid);
	child_pgid = pid;
	close(out[1]);
	close(err[1]);
	while (out_open || err_open) {
		struct pollfd p[2] = {
			{ .fd = out_open ? out[0] : -1, .events = POLLIN },
			{ .fd = err_open ? err[0] : -1, .events = POLLIN },
		};
		int64_t left = (deadline - sys_now_ns()) / 1000000;

		if (left <= 0) {
			kill(-pid, SIGKILL);
			C.timed_out = true;
			break;
		}
		if (poll(p, 2, left > 1000 ? 1000 : (int)left) < 0)
			continue;
		if (out_open && p[0].revents)
			out_open = drain(out[0], C.out, &C.out_len);
		if (err_open && p[1].revents)
			err_open = drain(err[0], C.err, &C.err_len);
	}
	close(out[0]);
	close(err[0]);
	while (wait4(pid, &st, 0, &C.ru) < 0 && errno == EINTR)
		;
	/* The group's other members (a traced sender whose tracer was
	 * killed) are ours too. */
	if (C.timed_out)
		kill(-pid, SIGKILL);
	child_pgid = 0;
	C.wall_ns = sys_now_ns() - t0;
	C.out[C.out_len] = C.err[C.err_len] = '\0';
	C.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	C.sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	return 0;
}

/* ---------------------------------------------------------------------
 * Servers
 * ------------------------------------------------------------------- */

struct server {
	pid_t pid;
	char addr[80];           /* HOST:PORT for the senders */
	int port;
	int64_t cpu0_ns;         /* its CPU time when it was ready */
};

/*
 * A live process's CPU time so far, in ns: the sum over its threads of
 * the first field of /proc/PID/task/TID/schedstat (the scheduler's own
 * run time). 0 when it cannot be read. Used to leave a server's start-up
 * and our readiness probe out of its CPU over a run — noticeable when a
 * run is short.
 */
static int64_t proc_cpu_ns(pid_t pid)
{
	char path[64], text[128];
	struct dirent *d;
	int64_t sum = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((d = readdir(dir))) {
		char file[96 + sizeof(d->d_name)];

		if (d->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s/schedstat", path, d->d_name);
		if (read_text(file, text, sizeof(text)) > 0)
			sum += strtoll(text, NULL, 10);
	}
	closedir(dir);
	return sum;
}

static const char *server_name(void)
{
	switch (opts.server) {
	case SERVER_EMBEDDED:
		return "embedded";
	case SERVER_SMTP_SINK:
		return "smtp-sink";
	default:
		return opts.external;
	}
}

/* A port free on 127.0.0.1 a moment ago (0 if none could be had); or,
 * with keep, left bound (not listening) in *keep. */
static int free_port(int *keep)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = 0;

	if (fd < 0)
		return 0;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (keep && port)
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

static pid_t spawn_server(const char *const *argv)
{
	int out = open(tmp_path("server.out"),
		       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int err = open(tmp_path("server.err"),
		       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	pid_t pid = -1;

	if (out >= 0 && err >= 0)
		pid = fork();
	if (pid == 0) {
		dup2(out, STDOUT_FILENO);
		dup2(err, STDERR_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (out >= 0)
		close(out);
	if (err >= 0)
		close(err);
	return pid;
}

/*
 * A fresh server on a free port of 127.0.0.1, answering when this
 * returns (0), or -errno with the reason on stderr. An external server
 * is only named. A port taken between free_port() and the server's bind
 * makes the server exit; another port is tried then.
 */
static int server_start(struct server *s)
{
	s->pid = 0;
	if (opts.server == SERVER_EXTERNAL) {
		snprintf(s->addr, sizeof(s->addr), "%s", opts.external);
		return 0;
	}
	for (int attempt = 0; attempt < 5; attempt++) {
		const char *argv[10];
		char listen[48];
		int argc = 0;
		int64_t deadline;

		s->port = free_port(NULL);
		if (!s->port)
			return -EADDRNOTAVAIL;
		snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d", s->port);
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", s->port);
		if (opts.server == SERVER_EMBEDDED) {
			argv[argc++] = self_path;
			argv[argc++] = "sink";
			argv[argc++] = "--listen";
			argv[argc++] = listen;
		} else {
			argv[argc++] = SMTP_SINK;
			argv[argc++] = "-c";   /* counters on stdout */
			if (geteuid() == 0) {  /* it will not run as root */
				argv[argc++] = "-u";
				argv[argc++] = "nobody";
			}
			argv[argc++] = listen;
			argv[argc++] = "1024"; /* listen backlog */
		}
		argv[argc] = NULL;
		s->pid = spawn_server(argv);
		if (s->pid < 0)
			return -errno;
		server_pid = s->pid;
		deadline = sys_now_ns() + 5000000000;
		while (sys_now_ns() < deadline) {
			if (port_answers(s->port)) {
				/* Let it finish with the probe first. */
				usleep(2000);
				s->cpu0_ns = proc_cpu_ns(s->pid);
				return 0;
			}
			if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
				s->pid = 0;
				break;
			}
			usleep(5000);
		}
		if (s->pid > 0) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
		}
		server_pid = 0;
	}
	fprintf(stderr, "threadlab compare: the %s server did not start on "
		"127.0.0.1 (5 ports tried); its stderr: %s\n", server_name(),
		tmp_path("server.err"));
	return -EIO;
}

/* The messages the server's output reports: smtp-sink -c prints
 * "sess=S quit=Q mesg=M\r" at every change (the last one counts); the
 * embedded sink prints "sink: messages=N bytes=B connections=C" when it
 * is stopped. -1 when neither is there. */
static long long server_messages(void)
{
	static char text[1 << 20];
	long long msgs = -1;
	const char *p;

	if (read_text(tmp_path("server.out"), text, sizeof(text)) < 0)
		return -1;
	if (opts.server == SERVER_EMBEDDED) {
		p = strstr(text, "sink: messages=");
		return p ? strtoll(p + 15, NULL, 10) : -1;
	}
	/* A sink that got no message prints no mesg= at all. */
	msgs = 0;
	for (p = text; (p = strstr(p, "mesg=")); p += 5)
		msgs = strtoll(p + 5, NULL, 10);
	return msgs;
}

/* Stop our server (SIGTERM, by its pid) and read its count and CPU. */
static void server_stop(struct server *s, long long *msgs, int64_t *cpu_ns)
{
	struct rusage ru;
	int64_t deadline = sys_now_ns() + 5000000000;
	int st;

	*msgs = -1;
	*cpu_ns = -1;
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	for (;;) {
		pid_t r = wait4(s->pid, &st, WNOHANG, &ru);

		if (r == s->pid)
			break;
		if (r < 0 && errno != EINTR)
			return;
		if (sys_now_ns() > deadline) {
			kill(s->pid, SIGKILL);
			deadline = INT64_MAX;
		}
		usleep(2000);
	}
	server_pid = 0;
	s->pid = 0;
	*cpu_ns = ru_cpu_ns(&ru) - s->cpu0_ns;
	if (*cpu_ns < 0)
		*cpu_ns = 0;
	*msgs = server_messages();
}

/* ---------------------------------------------------------------------
 * Flags
 * ------------------------------------------------------------------- */

static struct model *find_model(const char *name, size_t len)
{
	for (size_t i = 0; i < N_MODELS; i++)
		if (strlen(models[i].name) == len &&
		    strncmp(models[i].name, name, len) == 0)
			return &models[i];
	return NULL;
}

static int parse_models(const char *list)
{
	const char *p = list;

	for (size_t i = 0; i < N_MODELS; i++)
		models[i].selected = false;
	while (*p) {
		size_t len = strcspn(p, ",");
		struct model *m = find_model(p, len);

		if (!m)
			return bench_usage_error("compare",
				"unknown model '%.*s' in --models: want a comma-separated list of clone, pthread, rt, go, php-fibers, php-fork, python-asyncio, python-threads",
				(int)len, p);
		m->selected = true;
		p += len;
		if (*p == ',')
			p++;
	}
	for (size_t i = 0; i < N_MODELS; i++)
		if (models[i].selected)
			return 0;
	return bench_usage_error("compare", "--models names no model");
}

static int parse_concs(const char *list)
{
	const char *p = list;

	opts.n_concs = 0;
	while (*p) {
		size_t len = strcspn(p, ",");
		char one[24];
		uint64_t v;

		if (len == 0 || len >= sizeof(one) ||
		    opts.n_concs == MAX_CONCS)
			goto bad;
		memcpy(one, p, len);
		one[len] = '\0';
		if (!bench_parse_u64(one, 1, 65536, &v))
			goto bad;
		opts.concs[opts.n_concs++] = (unsigned)v;
		p += len;
		if (*p == ',')
			p++;
	}
	if (opts.n_concs)
		return 0;
bad:
	return bench_usage_error("compare",
		"invalid --concurrency '%s': want up to %d comma-separated whole numbers from 1 to 65536",
		list, MAX_CONCS);
}

/*
 * HOST:PORT of a server that must be on this machine: a numeric address
 * in 127.0.0.0/8, ::1 (as [::1]:PORT), or localhost. Benchmark traffic
 * never leaves loopback. 0, or a usage error.
 */
static int parse_external(const char *s)
{
	const char *colon = strrchr(s, ':');
	char host[64];
	struct in_addr a4;
	struct in6_addr a6;
	uint64_t port;
	size_t hl;

	if (!colon || !bench_parse_u64(colon + 1, 1, 65535, &port))
		return bench_usage_error("compare",
			"invalid --server '%s': want embedded, smtp-sink or HOST:PORT (a loopback address and a port from 1 to 65535)",
			s);
	hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		memcpy(host, s + 1, hl - 2);
		host[hl - 2] = '\0';
	} else if (hl > 0 && hl < sizeof(host)) {
		memcpy(host, s, hl);
		host[hl] = '\0';
	} else {
		host[0] = '\0';
	}
	if (strcmp(host, "localhost") == 0 ||
	    (inet_pton(AF_INET, host, &a4) == 1 &&
	     (ntohl(a4.s_addr) >> 24) == 127) ||
	    (s[0] == '[' && inet_pton(AF_INET6, host, &a6) == 1 &&
	     IN6_IS_ADDR_LOOPBACK(&a6))) {
		snprintf(opts.external, sizeof(opts.external), "%s", s);
		return 0;
	}
	return bench_usage_error("compare",
		"refusing --server '%s': the comparison sends its traffic only to loopback — a numeric address in 127.0.0.0/8, [::1]:PORT or localhost:PORT",
		s);
}

/* The rt workers' placement plan, for results.txt and report.md. */
static char placement_plan[1024];

static const char *current_plan(void)
{
	if (!placement_plan[0] &&
	    bench_describe_plan(NULL, 0, placement_plan,
				sizeof(placement_plan)) < 0)
		return "unknown";
	return placement_plan;
}

static int parse_flags(int argc, char **argv, const char **server)
{
	enum { OPT_EMAILS = 256, OPT_QUICK, OPT_MODELS, OPT_CONC, OPT_SIZE,
	       OPT_SERVER, OPT_OUT, OPT_RUNS, OPT_PLACEMENT };
	static const struct option longopts[] = {
		{ "emails", required_argument, NULL, OPT_EMAILS },
		{ "quick", no_argument, NULL, OPT_QUICK },
		{ "models", required_argument, NULL, OPT_MODELS },
		{ "concurrency", required_argument, NULL, OPT_CONC },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "runs", required_argument, NULL, OPT_RUNS },
		{ "placement", required_argument, NULL, OPT_PLACEMENT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c, r;

	opterr = 0;
	optind = 0;     /* glibc: start afresh on this argv */
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_EMAILS:
			if (!bench_parse_u64(optarg, 1, MAX_EMAILS, &opts.emails))
				return bench_usage_error("compare",
					"invalid --emails '%s': want a whole number from 1 to %llu",
					optarg, MAX_EMAILS);
			break;
		case OPT_QUICK:
			opts.quick = true;
			break;
		case OPT_MODELS:
			if ((r = parse_models(optarg)))
				return r;
			break;
		case OPT_CONC:
			if ((r = parse_concs(optarg)))
				return r;
			break;
		case OPT_SIZE:
			if (!bench_parse_u64(optarg, 2, 64u << 20, &opts.size))
				return bench_usage_error("compare",
					"invalid --size '%s': want a whole number of bytes from 2 to %u",
					optarg, 64u << 20);
			break;
		case OPT_SERVER:
			*server = optarg;
			break;
		case OPT_OUT:
			if (!*optarg)
				return bench_usage_error("compare",
					"--out needs a directory");
			opts.out = optarg;
			break;
		case OPT_RUNS:
			if (!bench_parse_u64(optarg, 1, MAX_RUNS, &v))
				return bench_usage_error("compare",
					"invalid --runs '%s': want a whole number from 1 to %d",
					optarg, MAX_RUNS);
			opts.runs = (unsigned)v;
			break;
		case OPT_PLACEMENT:
			/* The rt sender and the embedded sink read it from
			 * the environment they inherit. */
			if (bench_describe_plan(optarg, 0, placement_plan,
						sizeof(placement_plan)) < 0)
				return bench_usage_error("compare", "%s",
							 placement_plan);
			setenv("THREADLAB_PLACEMENT", optarg, 1);
			break;
		case 'h':
			bench_cmd_usage(&bench_cmd_compare, stdout);
			return -1;
		default:
			return bench_flag_error("compare", c, argv);
		}
	}
	if (optind < argc)
		return bench_usage_error("compare", "unexpected argument '%s'",
					 argv[optind]);
	if (*server && strcmp(*server, "embedded") != 0 &&
	    strcmp(*server, "smtp-sink") != 0)
		return parse_external(*server);
	return 0;
}

/* ---------------------------------------------------------------------
 * What can run here
 * ------------------------------------------------------------------- */

/* The source tree: the first directory at or above the driver's (up to
 * four levels: build/bin/threadlab) or the current one that holds the
 * peers. */
static void find_root(void)
{
	char dir[PATH_MAX], probe[PATH_MAX + 64];

	snprintf(dir, sizeof(dir), "%s", self_path);
	for (int up = 0; up < 4; up++) {
		char *slash = strrchr(dir, '/');

		if (!slash)
			break;
		*slash = '\0';
		snprintf(probe, sizeof(probe), "%s/bench/email/go/go.mod", dir);
		if (access(probe, R_OK) == 0) {
			snprintf(root, sizeof(root), "%s", dir);
			return;
		}
	}
	if (!getcwd(root, sizeof(root)))
		snprintf(root, sizeof(root), ".");
}

/* Does this driver have a `sink` command? (`help sink` exits 0.) */
static bool have_embedded_sink(void)
{
	const char *argv[] = { self_path, "help", "sink", NULL };

	return run_child(argv, 10000) == 0 && C.status == 0;
}

/* Is `threadlab send --model NAME` a model of this driver? Asked of a
 * port that refuses connections: an unknown model is a usage error (2);
 * a known one tries its email and fails (1). */
static bool driver_has_model(const char *name)
{
	char server[32];
	int keep = -1, port = free_port(&keep);
	const char *argv[] = { self_path, "send", "--model", name,
			       "--emails", "1", "--concurrency", "1",
			       "--server", server, NULL };
	bool ok;

	snprintf(server, sizeof(server), "127.0.0.1:%d", port);
	ok = port && run_child(argv, 60000) == 0 && !C.timed_out &&
	     C.status != BENCH_EXIT_USAGE && C.status >= 0;
	if (keep >= 0)
		close(keep);
	return ok;
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

static void probe_models(void)
{
	char go_tool[PATH_MAX], dir[PATH_MAX];
	bool php = false, pcntl = false;

	snprintf(dir, sizeof(dir), "%s", self_path);
	*strrchr(dir, '/') = '\0';
	snprintf(go_bin, sizeof(go_bin), "%s/email-go", dir);
	if (find_on_path("php", php_bin, sizeof(php_bin))) {
		const char *argv[] = { php_bin, "-r",
			"exit(function_exists('pcntl_fork') ? 0 : 1);", NULL };

		php = true;
		pcntl = run_child(argv, 30000) == 0 && C.status == 0;
	}
	snprintf(php_script, sizeof(php_script), "%s/bench/email/php/send.php",
		 root);
	snprintf(py_script, sizeof(py_script), "%s/bench/email/python/send.py",
		 root);

	for (size_t i = 0; i < N_MODELS; i++) {
		struct model *m = &models[i];

		m->base_perf = nan_value();
		if (!m->selected)
			continue;
		switch (m->kind) {
		case KIND_DRIVER:
			if (strcmp(m->name, "clone") == 0 ||
			    strcmp(m->name, "pthread") == 0 ||
			    driver_has_model(m->name))
				set_argv(m, self_path, "send", "--model",
					 m->name);
			else
				snprintf(m->why, sizeof(m->why),
					 "not built yet: threadlab send has no --model %s",
					 m->name);
			break;
		case KIND_GO:
			if (access(go_bin, X_OK) == 0)
				set_argv(m, go_bin, NULL, NULL, NULL);
			else
				snprintf(m->why, sizeof(m->why),
					 "%.150s not built (%s; make compare builds it)",
					 go_bin,
					 find_on_path("go", go_tool, sizeof(go_tool)) ?
					 "go is installed" : "no go on PATH");
			break;
		case KIND_PHP:
			if (!php)
				snprintf(m->why, sizeof(m->why),
					 "no php on PATH (Debian: php-cli)");
			else if (access(php_script, R_OK) != 0)
				snprintf(m->why, sizeof(m->why), "no %.150s",
					 php_script);
			else if (strcmp(m->name, "php-fork") == 0 && !pcntl)
				snprintf(m->why, sizeof(m->why),
					 "php has no pcntl extension");
			else
				set_argv(m, php_bin, php_script, "--model",
					 m->name);
			break;
		case KIND_PYTHON:
			if (access(PYTHON, X_OK) != 0)
				snprintf(m->why, sizeof(m->why),
					 "no %s (Debian: python3)", PYTHON);
			else if (access(py_script, R_OK) != 0)
				snprintf(m->why, sizeof(m->why), "no %.150s",
					 py_script);
			else
				set_argv(m, PYTHON, py_script, "--model",
					 m->name);
			break;
		}
		m->available = m->argv[0] != NULL;
	}
}

/* perf with the syscall tracepoint, and strace: can they count here? */
static void probe_tools(void)
{
	if (!find_on_path("perf", perf_bin, sizeof(perf_bin))) {
		snprintf(perf_why, sizeof(perf_why), "no perf on PATH (Debian: linux-perf)");
	} else {
		const char *argv[] = { perf_bin, "stat", "-e", SYSCALL_EVENT,
				       "-x", ",", "--", "/bin/true", NULL };

		have_perf = run_child(argv, 30000) == 0 && C.status == 0 &&
			    strstr(C.err, SYSCALL_EVENT) &&
			    !strstr(C.err, "<not");
		if (!have_perf)
			snprintf(perf_why, sizeof(perf_why),
				 "perf stat -e %s does not count here: %.120s",
				 SYSCALL_EVENT, C.err);
	}
	if (!find_on_path("strace", strace_bin, sizeof(strace_bin))) {
		snprintf(strace_why, sizeof(strace_why), "no strace on PATH");
	} else {
		const char *argv[] = { strace_bin, "-f", "-c", "-o", "/dev/null",
				       "--", "/bin/true", NULL };

		have_strace = run_child(argv, 30000) == 0 && C.status == 0;
		if (!have_strace)
			snprintf(strace_why, sizeof(strace_why),
				 "strace cannot trace here: %.120s", C.err);
	}
}

/* ---------------------------------------------------------------------
 * One run
 * ------------------------------------------------------------------- */

/* The rows of `strace -c` (calls, name; the total left out). */
static struct sc_table *parse_strace(const char *text)
{
	struct sc_table *t = calloc(1, sizeof(*t));
	char line[512];

	if (!t)
		return NULL;
	while (*text) {
		size_t len = strcspn(text, "\n");
		char *tok[8], *save = NULL;
		int n = 0;

		snprintf(line, sizeof(line), "%.*s", (int)len, text);
		text += len + (text[len] == '\n');
		for (char *w = strtok_r(line, " \t", &save); w && n < 8;
		     w = strtok_r(NULL, " \t", &save))
			tok[n++] = w;
		/* % time, seconds, usecs/call, calls, [errors,] syscall */
		if (n < 5 || n > 6 || (tok[0][0] < '0' || tok[0][0] > '9') ||
		    strcmp(tok[n - 1], "total") == 0 ||
		    t->n == MAX_SYSCALL_NAMES)
			continue;
		snprintf(t->e[t->n].name, sizeof(t->e[t->n].name), "%s",
			 tok[n - 1]);
		t->e[t->n].calls = strtod(tok[3], NULL);
		t->n++;
	}
	return t;
}

/* perf stat -x, output: "COUNT,,raw_syscalls:sys_enter,..." */
static double parse_perf(const char *text)
{
	const char *p = strstr(text, "," SYSCALL_EVENT);

	if (!p)
		return nan_value();
	while (p > text && p[-1] != '\n')
		p--;
	if (*p < '0' || *p > '9')
		return nan_value();       /* <not counted> */
	return strtod(p, NULL);
}

/* The sender's stdout: settings lines, then its benchmark line or a
 * FAIL line. */
static void parse_sender(const char *out, struct sample *s)
{
	const char *p = out;

	s->threads = -1;
	s->uring_ops = s->uring_enter = nan_value();
	while (*p) {
		size_t len = strcspn(p, "\n");
		char line[1024];

		snprintf(line, sizeof(line), "%.*s", (int)len, p);
		p += len + (p[len] == '\n');
		if (strncmp(line, "threads: ", 9) == 0) {
			s->threads = strtol(line + 9, NULL, 10);
		} else if (strncmp(line, "io_uring_ops: ", 14) == 0) {
			s->uring_ops = strtod(line + 14, NULL);
		} else if (strncmp(line, "io_uring_enter: ", 16) == 0) {
			s->uring_enter = strtod(line + 16, NULL);
		} else if (strncmp(line, "--- FAIL: ", 10) == 0) {
			/* "--- FAIL: NAME: why": the name as the benchmark
			 * line would have had it, and the reason. */
			char *why = strstr(line + 10, ": ");

			if (why) {
				*why = '\0';
				snprintf(s->name, sizeof(s->name), "%.150s",
					 line + 10);
				why += 2;
			}
			snprintf(s->fail, sizeof(s->fail), "%.390s",
				 why ? why : line + 10);
		} else if (strncmp(line, "BenchmarkEmail/", 15) == 0) {
			char *save = NULL, *w, *prev = NULL;
			int i = 0;

			for (w = strtok_r(line, " \t", &save); w;
			     w = strtok_r(NULL, " \t", &save), i++) {
				if (i == 0) {
					s->line = true;
					snprintf(s->name, sizeof(s->name), "%.150s", w);
				} else if (i == 1)
					s->n = strtoull(w, NULL, 10);
				else if (i % 2 == 1 && prev) {
					double v = strtod(prev, NULL);

					if (strcmp(w, "ns/op") == 0)
						s->ns_op = v;
					else if (strcmp(w, "emails/s") == 0)
						s->emails_s = v;
					else if (strcmp(w, "cpu-us/email") == 0)
						s->self_cpu_us = v;
				}
				prev = w;
			}
		}
	}
}

static void fail(struct sample *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct sample *s, const char *fmt, ...)
{
	va_list ap;

	if (s->failed)
		return;          /* the first reason is the one to show */
	s->failed = true;
	va_start(ap, fmt);
	vsnprintf(s->fail, sizeof(s->fail), fmt, ap);
	va_end(ap);
}

/* A generous limit: the slowest model here delivers ~1000 emails/s, and
 * every message may take up to 30 s before a sender gives up on it. */
static int64_t run_limit_ms(uint64_t emails)
{
	return 120000 + (int64_t)(emails / 100) * 1000;
}

/* strace's limit: it can slow a program down badly (python-threads'
 * GIL hand-offs become futex storms under ptrace), so it gets twenty
 * times the timed run's pace, and at least 15 s. A run over it is killed
 * and its column says so; it is not a failure of the model. */
static int64_t strace_limit_ms(const struct config *c, uint64_t emails)
{
	double pace_ms = c->runs[0].done && c->runs[0].wall_ns > 0 ?
		(double)c->runs[0].wall_ns / 1e6 / (double)opts.emails : 1;
	int64_t ms = (int64_t)(20 * pace_ms * (double)emails);

	return ms < 15000 ? 15000 : ms;
}

/*
 * Run model m once: `emails` messages at concurrency conc, in `mode`,
 * against a fresh server; fill s and check it.
 */
static void run_sample(struct model *m, unsigned conc, bool reuse,
		       uint64_t emails, enum run_mode mode, int64_t limit_ms,
		       struct sample *s)
{
	const char *argv[32];
	char n_arg[24], c_arg[16], size_arg[24];
	const char *out_file = NULL;
	struct server srv;
	int argc = 0, r;

	memset(s, 0, sizeof(*s));
	s->done = true;
	s->perf_count = nan_value();
	s->server_msgs = -1;
	s->server_cpu_ns = -1;
	if (mode == MODE_PERF) {
		out_file = tmp_path("perf.txt");
		argv[argc++] = perf_bin;
		argv[argc++] = "stat";
		argv[argc++] = "-e";
		argv[argc++] = SYSCALL_EVENT;
		argv[argc++] = "-x";
		argv[argc++] = ",";
		argv[argc++] = "-o";
		argv[argc++] = out_file;
		argv[argc++] = "--";
	} else if (mode == MODE_STRACE) {
		out_file = tmp_path("strace.txt");
		argv[argc++] = strace_bin;
		argv[argc++] = "-f";
		argv[argc++] = "-c";
		argv[argc++] = "-o";
		argv[argc++] = out_file;
		argv[argc++] = "--";
	}
	if (out_file)
		unlink(out_file);
	for (int i = 0; m->argv[i]; i++)
		argv[argc++] = m->argv[i];
	snprintf(n_arg, sizeof(n_arg), "%llu", (unsigned long long)emails);
	snprintf(c_arg, sizeof(c_arg), "%u", conc);
	snprintf(size_arg, sizeof(size_arg), "%llu",
		 (unsigned long long)opts.size);
	argv[argc++] = "--emails";
	argv[argc++] = n_arg;
	argv[argc++] = "--concurrency";
	argv[argc++] = c_arg;
	if (reuse)
		argv[argc++] = "--reuse";
	argv[argc++] = "--size";
	argv[argc++] = size_arg;
	argv[argc++] = "--server";
	argv[argc++] = srv.addr;
	argv[argc] = NULL;

	if ((r = server_start(&srv)) < 0) {
		fail(s, "no server: %s", strerror(-r));
		return;
	}
	r = run_child(argv, limit_ms);
	server_stop(&srv, &s->server_msgs, &s->server_cpu_ns);
	if (r < 0) {
		fail(s, "cannot start %s: %s", argv[0], strerror(-r));
		return;
	}
	s->ru = C.ru;
	s->wall_ns = C.wall_ns;
	parse_sender(C.out, s);
	if (C.timed_out) {
		s->timed_out = true;
		fail(s, "killed after %lld s (its time limit)",
		     (long long)(limit_ms / 1000));
		return;
	}
	if (s->fail[0]) {                /* the sender's own FAIL line */
		char why[sizeof(s->fail)];

		snprintf(why, sizeof(why), "%s", s->fail);
		s->fail[0] = '\0';
		fail(s, "%s", why);
	}
	if (C.status != 0)
		fail(s, "exit status %d%s%s%s", C.status,
		     C.sig ? " (killed by signal " : "",
		     C.sig ? strsignal(C.sig) : "", C.sig ? ")" : "");
	if (!s->line)
		fail(s, "no benchmark line; stderr: %.200s", C.err);
	else if (s->n != emails)
		fail(s, "its benchmark line says %llu emails, not %llu",
		     (unsigned long long)s->n, (unsigned long long)emails);
	if (s->server_msgs >= 0 && (uint64_t)s->server_msgs != emails)
		fail(s, "the server counted %lld messages, the sender sent %llu",
		     s->server_msgs, (unsigned long long)emails);
	if (s->failed && C.err_len && !strstr(s->fail, "stderr"))
		snprintf(s->fail + strlen(s->fail),
			 sizeof(s->fail) - strlen(s->fail), "; stderr: %.160s",
			 C.err);

	if (mode == MODE_PERF) {
		static char text[8192];

		if (read_text(out_file, text, sizeof(text)) >= 0)
			s->perf_count = parse_perf(text);
	} else if (mode == MODE_STRACE) {
		static char text[64 * 1024];

		if (read_text(out_file, text, sizeof(text)) >= 0)
			s->strace = parse_strace(text);
	}
}

static const char *mode_name(enum run_mode mode)
{
	return mode == MODE_PERF ? "perf stat" :
	       mode == MODE_STRACE ? "strace -c" : "timed";
}

static void progress(const struct model *m, unsigned conc, bool reuse,
		     const char *what, uint64_t emails, const struct sample *s)
{
	char el[32];

	format_elapsed(el, sizeof(el), sys_now_ns() - t_start);
	fprintf(stderr, "compare: [%2zu/%zu] %-14s conc=%-4u reuse=%-5s %-13s "
		"%6llu emails  %6.1f s", ++step, n_steps, m->name, conc,
		reuse ? "true" : "false", what, (unsigned long long)emails,
		(double)s->wall_ns / 1e9);
	if (s->failed)
		fprintf(stderr, "  %s: %s", s->timed_out ? "TIMEOUT" : "FAIL",
			s->fail);
	else if (s->emails_s > 0 && !strcmp(what, "timed"))
		fprintf(stderr, "  %8.0f emails/s", s->emails_s);
	fprintf(stderr, "  (elapsed %s)\n", el);
}

/* ---------------------------------------------------------------------
 * The plan and its execution
 * ------------------------------------------------------------------- */

static int make_plan(void)
{
	size_t per_model = opts.n_concs * 2, i = 0;

	n_configs = 0;
	n_steps = 0;
	for (size_t k = 0; k < N_MODELS; k++) {
		if (!models[k].available)
			continue;
		n_configs += per_model;
		n_steps += have_perf + have_strace;     /* the baselines */
		n_steps += per_model * (opts.runs + have_perf + have_strace);
	}
	configs = calloc(n_configs ? n_configs : 1, sizeof(*configs));
	if (!configs)
		return -ENOMEM;
	for (size_t k = 0; k < N_MODELS; k++) {
		if (!models[k].available)
			continue;
		for (size_t ci = 0; ci < opts.n_concs; ci++)
			for (int reuse = 0; reuse < 2; reuse++) {
				struct config *c = &configs[i++];

				c->m = &models[k];
				c->conc = opts.concs[ci];
				c->reuse = reuse;
				c->runs = calloc(opts.runs, sizeof(*c->runs));
				if (!c->runs)
					return -ENOMEM;
			}
	}
	return 0;
}

/* The process start-up of a model: one email, one session. */
static void run_baselines(struct model *m)
{
	struct sample s;

	if (have_perf) {
		run_sample(m, 1, false, 1, MODE_PERF, run_limit_ms(1), &s);
		progress(m, 1, false, "perf base", 1, &s);
		if (!s.failed)
			m->base_perf = s.perf_count;
		free(s.strace);
	}
	if (have_strace) {
		run_sample(m, 1, false, 1, MODE_STRACE, run_limit_ms(1), &s);
		progress(m, 1, false, "strace base", 1, &s);
		if (!s.failed)
			m->base_strace = s.strace;
		else
			free(s.strace);
	}
}

static void run_config(struct config *c)
{
	for (unsigned k = 0; k < opts.runs; k++) {
		run_sample(c->m, c->conc, c->reuse, opts.emails, MODE_TIMED,
			   run_limit_ms(opts.emails), &c->runs[k]);
		progress(c->m, c->conc, c->reuse, "timed", opts.emails,
			 &c->runs[k]);
	}
	if (have_perf) {
		run_sample(c->m, c->conc, c->reuse, opts.syscall_emails,
			   MODE_PERF, run_limit_ms(opts.syscall_emails),
			   &c->perf);
		progress(c->m, c->conc, c->reuse, mode_name(MODE_PERF),
			 opts.syscall_emails, &c->perf);
	}
	if (have_strace) {
		run_sample(c->m, c->conc, c->reuse, opts.syscall_emails,
			   MODE_STRACE, strace_limit_ms(c, opts.syscall_emails),
			   &c->strace);
		progress(c->m, c->conc, c->reuse, mode_name(MODE_STRACE),
			 opts.syscall_emails, &c->strace);
	}
}

/* The calls of `run` minus those of `base`, per email, largest first. */
static double strace_per_email(struct config *c, const struct sc_table *run,
			       const struct sc_table *base, double emails)
{
	static struct sc_count all[MAX_SYSCALL_NAMES];
	double total = 0;
	size_t n = 0;

	for (size_t i = 0; i < run->n; i++) {
		double b = 0;

		for (size_t j = 0; base && j < base->n; j++)
			if (strcmp(base->e[j].name, run->e[i].name) == 0)
				b = base->e[j].calls;
		all[n] = run->e[i];
		all[n].calls = (run->e[i].calls - b) / emails;
		/* Less than one call in 200 emails: not worth a column. */
		if (all[n].calls < 0.005)
			continue;
		total += all[n].calls;
		n++;
	}
	/* Largest first: a selection of the top few is enough. */
	c->n_top = 0;
	for (size_t t = 0; t < TOP_SYSCALLS && t < n; t++) {
		size_t best = t;

		for (size_t i = t + 1; i < n; i++)
			if (all[i].calls > all[best].calls)
				best = i;
		struct sc_count tmp = all[t];
		all[t] = all[best];
		all[best] = tmp;
		c->top[c->n_top++] = all[t];
	}
	return total;
}

static void summarize(struct config *c)
{
	double v[7][MAX_RUNS];
	size_t n = 0;
	double emails = (double)opts.emails;
	double sys_emails = (double)opts.syscall_emails - 1;

	c->emails_s = c->cpu_us = c->ctxsw = c->rss_kib = c->threads = nan_value();
	c->server_pct = c->uring_ops = c->uring_enter = nan_value();
	c->perf_pe = c->strace_pe = nan_value();
	snprintf(c->name, sizeof(c->name), "BenchmarkEmail/model=%s/conc=%u/reuse=%s",
		 c->m->name, c->conc, c->reuse ? "true" : "false");
	for (unsigned k = 0; k < opts.runs; k++) {
		struct sample *s = &c->runs[k];
		double delivery_ns;

		if (s->name[0])
			snprintf(c->name, sizeof(c->name), "%s", s->name);
		if (s->failed) {
			if (!c->failed)
				snprintf(c->fail, sizeof(c->fail), "run %u: %s",
					 k + 1, s->fail);
			c->failed = true;
			continue;
		}
		delivery_ns = s->ns_op * (double)s->n;
		if (delivery_ns <= 0)
			delivery_ns = (double)s->wall_ns;
		v[0][n] = s->emails_s;
		v[1][n] = (double)ru_cpu_ns(&s->ru) / 1e3 / emails;
		v[2][n] = (double)(s->ru.ru_nvcsw + s->ru.ru_nivcsw) / emails;
		v[3][n] = (double)s->ru.ru_maxrss;
		v[4][n] = (double)s->threads;
		v[5][n] = s->server_cpu_ns >= 0 ?
			  100.0 * (double)s->server_cpu_ns / delivery_ns :
			  nan_value();
		v[6][n] = s->uring_ops;
		n++;
	}
	if (n) {
		c->emails_s = median(v[0], n);
		c->cpu_us = median(v[1], n);
		c->ctxsw = median(v[2], n);
		c->rss_kib = median(v[3], n);
		c->threads = median(v[4], n);
		if (known(v[5][0]))
			c->server_pct = median(v[5], n);
		if (known(v[6][0])) {
			c->uring_ops = median(v[6], n) / emails;
			for (size_t k = 0; k < n; k++)
				v[6][k] = c->runs[k].uring_enter;
			c->uring_enter = median(v[6], n) / emails;
		}
		c->server_bound = known(c->server_pct) &&
				  c->server_pct >= SERVER_BOUND_PCT;
	}
	if (c->perf.done && c->perf.failed && !c->failed) {
		c->failed = true;
		snprintf(c->fail, sizeof(c->fail), "perf run: %s", c->perf.fail);
	} else if (c->perf.done && !c->perf.failed &&
		   known(c->m->base_perf) && known(c->perf.perf_count)) {
		c->perf_pe = (c->perf.perf_count - c->m->base_perf) / sys_emails;
		if (c->perf_pe < 0)
			c->perf_pe = 0;
	}
	if (c->strace.done && c->strace.timed_out) {
		c->strace_timeout = true;
	} else if (c->strace.done && c->strace.failed && !c->failed) {
		c->failed = true;
		snprintf(c->fail, sizeof(c->fail), "strace run: %s",
			 c->strace.fail);
	} else if (c->strace.done && !c->strace.failed && c->strace.strace &&
		   c->m->base_strace) {
		c->strace_pe = strace_per_email(c, c->strace.strace,
						c->m->base_strace, sys_emails);
	}
}

/* ---------------------------------------------------------------------
 * The table
 * ------------------------------------------------------------------- */

#define MAX_COLS 16

static bool any_uring(void)
{
	for (size_t i = 0; i < n_configs; i++)
		if (known(configs[i].uring_ops))
			return true;
	return false;
}

static void cell_num(char *buf, size_t len, double v, int decimals)
{
	if (!known(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.*f", decimals, v);
}

/* The cells of config c's row (or the header when c is NULL). Returns
 * the number of columns. */
static int row_cells(const struct config *c, char cell[][96], bool md)
{
	bool uring = any_uring();
	int n = 0;

	if (!c) {
		static const char *const head[] = { "model", "conc", "reuse",
			"emails/s", "cpu-us/email", "syscalls/email (perf)",
			"syscalls/email (strace)" };
		static const char *const tail[] = { "ctxsw/email",
			"peak RSS MiB", "threads", "server CPU", "check" };

		for (size_t i = 0; i < 7; i++)
			snprintf(cell[n++], 96, "%s", head[i]);
		if (md)
			snprintf(cell[4], 96, "CPU µs/email");
		if (uring) {
			snprintf(cell[n++], 96, "io_uring ops/email");
			snprintf(cell[n++], 96, "io_uring_enter/email");
		}
		for (size_t i = 0; i < 5; i++)
			snprintf(cell[n++], 96, "%s", tail[i]);
		return n;
	}
	snprintf(cell[n++], 96, "%s", c->m->name);
	snprintf(cell[n++], 96, "%u", c->conc);
	snprintf(cell[n++], 96, "%s", c->reuse ? "yes" : "no");
	cell_num(cell[n++], 96, c->emails_s, 0);
	cell_num(cell[n++], 96, c->cpu_us, 1);
	cell_num(cell[n++], 96, c->perf_pe, 1);
	if (c->strace_timeout)
		snprintf(cell[n++], 96, "timeout");
	else
		cell_num(cell[n++], 96, c->strace_pe, 1);
	if (uring) {
		cell_num(cell[n++], 96, c->uring_ops, 2);
		cell_num(cell[n++], 96, c->uring_enter, 2);
	}
	cell_num(cell[n++], 96, c->ctxsw, 1);
	cell_num(cell[n++], 96, known(c->rss_kib) ? c->rss_kib / 1024 :
		 nan_value(), 1);
	cell_num(cell[n++], 96, c->threads, 0);
	if (known(c->server_pct))
		snprintf(cell[n++], 96, "%.0f%%%s", c->server_pct,
			 c->server_bound ? " BOUND" : "");
	else
		snprintf(cell[n++], 96, "-");
	if (c->failed)
		snprintf(cell[n++], 96, "%s", md ? "**FAIL**" : "FAIL");
	else if (opts.server == SERVER_EXTERNAL)
		snprintf(cell[n++], 96, "ok (250s only)");
	else
		snprintf(cell[n++], 96, "ok");
	return n;
}

static void print_table(FILE *f, bool md)
{
	static char cell[MAX_COLS][96];
	int width[MAX_COLS] = { 0 }, cols;

	/* Widths: the widest cell of every column. */
	cols = row_cells(NULL, cell, md);
	for (int j = 0; j < cols; j++)
		width[j] = (int)strlen(cell[j]);
	for (size_t i = 0; i < n_configs; i++) {
		row_cells(&configs[i], cell, md);
		for (int j = 0; j < cols; j++)
			if ((int)strlen(cell[j]) > width[j])
				width[j] = (int)strlen(cell[j]);
	}
	for (size_t i = 0; i < N_MODELS; i++)
		if (models[i].selected && (int)strlen(models[i].name) > width[0])
			width[0] = (int)strlen(models[i].name);

	for (size_t i = 0; i <= n_configs; i++) {
		row_cells(i == 0 ? NULL : &configs[i - 1], cell, md);
		for (int j = 0; j < cols; j++) {
			/* Numbers to the right, words to the left. */
			bool left = j == 0 || j == 2 || j == cols - 1;

			if (md)
				fprintf(f, "| %s ", cell[j]);
			else if (j == cols - 1)    /* no trailing blanks */
				fprintf(f, "  %s", cell[j]);
			else
				fprintf(f, j ? "  %*s" : "%*s",
					left ? -width[j] : width[j], cell[j]);
		}
		fputs(md ? "|\n" : "\n", f);
		if (i == 0 && md) {
			for (int j = 0; j < cols; j++)
				fputs(j == 0 || j == 2 || j == cols - 1 ?
				      "|---" : "|--:", f);
			fputs("|\n", f);
		}
	}
	/* Models that did not run: one row each, with the reason. */
	for (size_t i = 0; i < N_MODELS; i++) {
		const struct model *m = &models[i];

		if (!m->selected || m->available)
			continue;
		if (md) {
			fprintf(f, "| %s | | | skipped (%s) ", m->name, m->why);
			for (int j = 4; j < cols; j++)
				fputs("| ", f);
			fputs("|\n", f);
		} else {
			fprintf(f, "%-*s  skipped (%s)\n", width[0], m->name,
				m->why);
		}
	}
}

/* ---------------------------------------------------------------------
 * Files: results.txt, report.md, the plots
 * ------------------------------------------------------------------- */

struct machine {
	char date[64], cpu[256], kernel[200];
	char command[2048];      /* "threadlab compare ..." as run */
};

static void describe_machine(struct machine *mc)
{
	struct utsname u;
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(mc->date, sizeof(mc->date), "%Y-%m-%dT%H:%M:%S%z", &tm);
	bench_cpu_model(mc->cpu, sizeof(mc->cpu));
	if (!mc->cpu[0])
		snprintf(mc->cpu, sizeof(mc->cpu), "unknown");
	if (uname(&u) == 0)
		snprintf(mc->kernel, sizeof(mc->kernel), "%s %s %s", u.sysname,
			 u.release, u.machine);
	else
		snprintf(mc->kernel, sizeof(mc->kernel), "unknown");
}

static const char *server_description(void)
{
	static char buf[256];

	switch (opts.server) {
	case SERVER_EMBEDDED:
		return "embedded (threadlab sink, rt/ and io_uring), a fresh one per run on 127.0.0.1 and a free port";
	case SERVER_SMTP_SINK:
		snprintf(buf, sizeof(buf), "smtp-sink (postfix's %s -c%s), a fresh one per run on 127.0.0.1 and a free port",
			 SMTP_SINK, geteuid() == 0 ? " -u nobody" : "");
		return buf;
	default:
		snprintf(buf, sizeof(buf), "%s (external: not started by threadlab; its message counts and CPU are not known, so each run is checked by the senders' 250 replies only)",
			 opts.external);
		return buf;
	}
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static FILE *open_out(const char *name, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", opts.out, name);
	f = fopen(path, "we");
	if (!f)
		fprintf(stderr, "threadlab compare: cannot write %s: %s\n",
			path, strerror(errno));
	return f;
}

static int close_out(FILE *f, const char *path)
{
	bool bad = ferror(f);

	if (fclose(f) != 0 || bad) {
		fprintf(stderr, "threadlab compare: error writing %s\n", path);
		return -EIO;
	}
	return 0;
}

/*
 * results.txt: `key: value` header lines, then one benchmark line per
 * timed run — the sender's name, N and metrics, followed by those
 * measured here — and `--- FAIL:` / `--- SKIP:` lines for the runs that
 * failed and the models that did not run.
 */
static int write_results(const struct machine *mc)
{
	char path[PATH_MAX + 32];
	FILE *f = open_out("results.txt", path, sizeof(path));

	if (!f)
		return -EIO;
	fprintf(f, "goos: linux\ngoarch: %s\npkg: threadlab/compare\n",
		strstr(mc->kernel, "x86_64") ? "amd64" :
		strstr(mc->kernel, "aarch64") ? "arm64" : "unknown");
	fprintf(f, "date: %s\ncpu: %s\ncores: %d\nkernel: %s\nserver: %s\n"
		"emails: %llu\nsyscall-emails: %llu\nsize: %llu\n", mc->date,
		mc->cpu, cpus, mc->kernel, server_name(),
		(unsigned long long)opts.emails,
		(unsigned long long)opts.syscall_emails,
		(unsigned long long)opts.size);
	fprintf(f, "plan: %s\ncommand: %s\n", current_plan(), mc->command);
	for (size_t i = 0; i < n_configs; i++) {
		const struct config *c = &configs[i];

		for (unsigned k = 0; k < opts.runs; k++) {
			const struct sample *s = &c->runs[k];
			double em = (double)opts.emails;

			if (s->failed) {
				fprintf(f, "--- FAIL: %s: %s\n", c->name, s->fail);
				continue;
			}
			fprintf(f, "%s\t%8llu", s->name, (unsigned long long)s->n);
			pretty_print(f, s->ns_op, "ns/op");
			pretty_print(f, s->emails_s, "emails/s");
			pretty_print(f, s->self_cpu_us, "cpu-us/email");
			pretty_print(f, (double)ru_cpu_ns(&s->ru) / 1e3 / em,
				     "rusage-cpu-us/email");
			if (known(c->perf_pe))
				pretty_print(f, c->perf_pe, "syscalls/email");
			if (known(c->strace_pe))
				pretty_print(f, c->strace_pe,
					     "strace-syscalls/email");
			if (known(s->uring_ops))
				pretty_print(f, s->uring_ops / em,
					     "io_uring-ops/email");
			if (known(s->uring_enter))
				pretty_print(f, s->uring_enter / em,
					     "io_uring-enters/email");
			pretty_print(f, (double)(s->ru.ru_nvcsw +
						 s->ru.ru_nivcsw) / em,
				     "ctxsw/email");
			pretty_print(f, (double)s->ru.ru_maxrss, "peak-rss-KiB");
			pretty_print(f, (double)s->threads, "threads");
			if (s->server_cpu_ns >= 0)
				pretty_print(f, 100.0 * (double)s->server_cpu_ns /
					     (s->ns_op * (double)s->n),
					     "server-cpu-%");
			fputc('\n', f);
		}
		if (c->fail[0] && strncmp(c->fail, "run ", 4) != 0)
			fprintf(f, "--- FAIL: %s: %s\n", c->name, c->fail);
	}
	for (size_t i = 0; i < N_MODELS; i++)
		if (models[i].selected && !models[i].available)
			fprintf(f, "--- SKIP: BenchmarkEmail/model=%s: %s\n",
				models[i].name, models[i].why);
	return close_out(f, path);
}

/* The plots: per model (group), per setting (series). */
static int write_plot(const char *file, const char *title, const char *axis,
		      int which)
{
	static const char *groups[N_MODELS], *gnote[N_MODELS];
	static char series_buf[MAX_CONCS * 2][48], gnote_buf[N_MODELS][240];
	const char *series[MAX_CONCS * 2];
	size_t ng = 0, ns = opts.n_concs * 2;
	double *value = calloc(N_MODELS * ns, sizeof(double));
	const char **cnote = calloc(N_MODELS * ns, sizeof(char *));
	char path[PATH_MAX + 32];
	FILE *f;
	int r;

	if (!value || !cnote) {
		free(value);
		free(cnote);
		return -ENOMEM;
	}
	for (size_t s = 0; s < ns; s++) {
		snprintf(series_buf[s], sizeof(series_buf[s]), "conc=%u%s",
			 opts.concs[s / 2], s % 2 ? " reuse" : "");
		series[s] = series_buf[s];
	}
	for (size_t k = 0; k < N_MODELS; k++) {
		const struct model *m = &models[k];

		if (!m->selected)
			continue;
		groups[ng] = m->name;
		gnote[ng] = NULL;
		if (!m->available) {
			snprintf(gnote_buf[ng], sizeof(gnote_buf[ng]),
				 "skipped (%s)", m->why);
			gnote[ng] = gnote_buf[ng];
		}
		for (size_t s = 0; s < ns; s++)
			value[ng * ns + s] = nan_value();
		for (size_t i = 0; i < n_configs; i++) {
			const struct config *c = &configs[i];
			size_t s;

			if (c->m != m)
				continue;
			s = 0;
			while (s < ns && !(opts.concs[s / 2] == c->conc &&
					   (s % 2 == 1) == c->reuse))
				s++;
			if (s == ns)
				continue;
			value[ng * ns + s] = which == 0 ? c->emails_s :
				which == 1 ? c->cpu_us :
				known(c->perf_pe) ? c->perf_pe : c->strace_pe;
			if (c->failed)
				cnote[ng * ns + s] = "FAIL";
			else if (!known(value[ng * ns + s]))
				cnote[ng * ns + s] = "n/a";
		}
		ng++;
	}
	f = open_out(file, path, sizeof(path));
	if (!f) {
		free(value);
		free(cnote);
		return -EIO;
	}
	r = bench_svg_bar_chart(f, &(struct bench_svg_chart){
		.title = title, .axis = axis, .n_groups = ng, .groups = groups,
		.n_series = ns, .series = series, .value = value,
		.cell_note = cnote, .group_note = gnote });
	free(value);
	free(cnote);
	if (r < 0) {
		fclose(f);
		return r;
	}
	return close_out(f, path);
}

static int write_plots(void)
{
	char sys_title[160];
	int r = 0;

	snprintf(sys_title, sizeof(sys_title),
		 "Syscalls per email (%s, %llu-email runs)",
		 have_perf ? "perf stat -e " SYSCALL_EVENT : "strace -f -c",
		 (unsigned long long)opts.syscall_emails);
	r |= write_plot("emails-per-second.svg",
			"Emails per second (higher is better)", "emails/s", 0);
	r |= write_plot("cpu-per-email.svg",
			"Client CPU per email (user+sys, lower is better)",
			"CPU µs per email", 1);
	r |= write_plot("syscalls-per-email.svg", sys_title,
			"syscalls per email", 2);
	return r ? -EIO : 0;
}

static void write_threads_notes(FILE *f)
{
	fprintf(f, "## OS threads\n\n"
		"The comparison limits each model's OS threads to the CPU count "
		"(%d here) wherever the model allows it. Measured: the "
		"senders' `threads:` line (php-fork: its processes).\n\n", cpus);
	for (size_t k = 0; k < N_MODELS; k++) {
		const struct model *m = &models[k];
		double most = -1;
		unsigned at = 0;

		if (!m->selected)
			continue;
		for (size_t i = 0; i < n_configs; i++)
			/* >=: of equal counts, the highest concurrency's */
			if (configs[i].m == m && known(configs[i].threads) &&
			    configs[i].threads >= most) {
				most = configs[i].threads;
				at = configs[i].conc;
			}
		fprintf(f, "- **%s**: %s. ", m->name, m->threads_how);
		if (!m->available)
			fprintf(f, "Not run here (%s).\n", m->why);
		else if (most < 0)
			fprintf(f, "No thread count was reported.\n");
		else if (m->limits_threads)
			fprintf(f, "Limits its threads: at most %.0f measured "
				"(concurrency %u).\n", most, at);
		else
			fprintf(f, "**Cannot limit its threads to the CPU "
				"count**: a blocking session holds its thread "
				"from connect to QUIT, so %u sessions need %u "
				"threads — %.0f measured. That is the point of "
				"the comparison.\n", at, at, most);
	}
	fputc('\n', f);
}

static void write_syscall_notes(FILE *f)
{
	fprintf(f, "## Syscalls by name\n\n"
		"Per email, from `strace -f -c` on the %llu-email run (minus "
		"the 1-email run), the %d most frequent; `syscalls/email "
		"(perf)` counts every syscall of the same run at full speed.\n\n"
		"| model | conc | reuse | perf | strace | by name (strace) |\n"
		"|---|--:|---|--:|--:|---|\n",
		(unsigned long long)opts.syscall_emails, TOP_SYSCALLS);
	for (size_t i = 0; i < n_configs; i++) {
		const struct config *c = &configs[i];
		char p[32], s[32];

		cell_num(p, sizeof(p), c->perf_pe, 1);
		if (c->strace_timeout)
			snprintf(s, sizeof(s), "timeout");
		else
			cell_num(s, sizeof(s), c->strace_pe, 1);
		fprintf(f, "| %s | %u | %s | %s | %s | ", c->m->name, c->conc,
			c->reuse ? "yes" : "no", p, s);
		for (size_t t = 0; t < c->n_top; t++)
			fprintf(f, "%s%s %.2f", t ? ", " : "", c->top[t].name,
				c->top[t].calls);
		if (c->strace_timeout)
			fprintf(f, "over its time limit under strace (killed); "
				"see perf");
		fputs(" |\n", f);
	}
	fputc('\n', f);
}

static const struct config *find_config(const char *model, unsigned conc,
					bool reuse)
{
	for (size_t i = 0; i < n_configs; i++)
		if (strcmp(configs[i].m->name, model) == 0 &&
		    configs[i].conc == conc && configs[i].reuse == reuse)
			return &configs[i];
	return NULL;
}

/* Issue 5's targets for the rt model: client CPU per email at most 0.6
 * times the Go peer's, with and without reuse; at most 1 syscall per
 * email (perf's count, which sees every io_uring_enter). */
static void write_targets(FILE *f)
{
	const struct model *rt = find_model("rt", 2);

	fprintf(f, "## Targets for the rt model\n\n"
		"CPU per email at most 0.6 x the Go peer's; at most 1 syscall "
		"per email.\n\n");
	if (!rt->selected || !rt->available) {
		fprintf(f, "Not evaluated: the rt model did not run (%s).\n\n",
			rt->selected ? rt->why : "not in --models");
		return;
	}
	fprintf(f, "| conc | reuse | rt CPU µs/email | go CPU µs/email | "
		"rt/go | syscalls/email (perf) | met |\n"
		"|--:|---|--:|--:|--:|--:|---|\n");
	for (size_t i = 0; i < n_configs; i++) {
		const struct config *c = &configs[i], *go;
		double ratio;
		bool cpu_ok, sys_ok;

		if (c->m != rt)
			continue;
		go = find_config("go", c->conc, c->reuse);
		ratio = go && known(go->cpu_us) && known(c->cpu_us) ?
			c->cpu_us / go->cpu_us : nan_value();
		cpu_ok = known(ratio) && ratio <= 0.6;
		sys_ok = known(c->perf_pe) && c->perf_pe <= 1.0;
		fprintf(f, "| %u | %s | %.1f | ", c->conc,
			c->reuse ? "yes" : "no", c->cpu_us);
		if (go && known(go->cpu_us))
			fprintf(f, "%.1f | %.2f | ", go->cpu_us, ratio);
		else
			fprintf(f, "- | - | ");
		if (known(c->perf_pe))
			fprintf(f, "%.2f | ", c->perf_pe);
		else
			fprintf(f, "- | ");
		fprintf(f, "%s |\n", c->failed ? "**FAIL**" :
			cpu_ok && sys_ok ? "yes" :
			!known(ratio) || !known(c->perf_pe) ? "not measured" :
			cpu_ok ? "CPU yes, syscalls no" :
			sys_ok ? "syscalls yes, CPU no" : "no");
	}
	fputc('\n', f);
}

static int write_report(const struct machine *mc, int argc, char **argv,
			int64_t total_ns)
{
	char path[PATH_MAX + 32], el[32];
	FILE *f = open_out("report.md", path, sizeof(path));
	size_t failed = 0, bound = 0;

	if (!f)
		return -EIO;
	format_elapsed(el, sizeof(el), total_ns);
	fprintf(f, "# threadlab compare\n\n");
	fprintf(f, "- Date: %s\n- Machine: %s, %d CPUs, %s\n", mc->date,
		mc->cpu, cpus, mc->kernel);
	fprintf(f, "- Command: `%s`\n- Server: %s\n", mc->command,
		server_description());
	fprintf(f, "- Placement of the rt workers (numa/'s plan): %s\n",
		current_plan());
	fprintf(f, "- Emails per run: %llu (syscall runs: %llu), message "
		"size %llu bytes, %u timed run%s per setting%s\n",
		(unsigned long long)opts.emails,
		(unsigned long long)opts.syscall_emails,
		(unsigned long long)opts.size, opts.runs,
		opts.runs == 1 ? "" : "s", opts.runs > 1 ? " (medians)" : "");
	fprintf(f, "- Total time: %s (%.1f s)\n\n", el, (double)total_ns / 1e9);

	fprintf(f, "## Results\n\n");
	print_table(f, true);
	fputc('\n', f);
	for (size_t i = 0; i < n_configs; i++) {
		failed += configs[i].failed;
		bound += configs[i].server_bound;
	}
	if (failed) {
		fprintf(f, "**%zu setting%s FAILED:**\n\n", failed,
			failed == 1 ? "" : "s");
		for (size_t i = 0; i < n_configs; i++)
			if (configs[i].failed)
				fprintf(f, "- `%s`: %s\n", configs[i].name,
					configs[i].fail);
		fputc('\n', f);
	}
	if (bound) {
		fprintf(f, "Limited by the server (BOUND: its CPU was at least "
			"%.0f%% of one core over the delivery), so these "
			"measure the server more than the client:\n\n",
			SERVER_BOUND_PCT);
		for (size_t i = 0; i < n_configs; i++)
			if (configs[i].server_bound)
				fprintf(f, "- `%s` (server CPU %.0f%%)\n",
					configs[i].name, configs[i].server_pct);
		fputc('\n', f);
	}
	fprintf(f, "How each column is measured:\n\n"
		"- **emails/s**: the sender's own benchmark line: N over the "
		"wall time of the delivery (start-up left out).\n"
		"- **CPU µs/email**: user+sys from wait4()'s rusage of the "
		"sender process, over N: start-up included, and its reaped "
		"children (php-fork's workers) too. The senders' own "
		"delivery-only figure is `cpu-us/email` in results.txt.\n"
		"- **syscalls/email (perf)**: `perf stat -e %s` (every thread "
		"and child) on a %llu-email run, minus a 1-email run at "
		"concurrency 1 (the process's start-up), over the %llu emails "
		"in between. Per-session costs (a thread, and with --reuse "
		"the connect, EHLO and QUIT) are spread over that run's "
		"emails per session, min(C, %llu) sessions — fewer emails per "
		"session than the timed run's at high concurrency, so they "
		"weigh more here.%s\n"
		"- **syscalls/email (strace)**: `strace -f -c` on the same "
		"smaller run, the same subtraction. strace stops the program "
		"at every syscall, so replies are already waiting when it "
		"reads and it counts fewer than happen at full speed; a run "
		"that strace slowed past its time limit (20 times the timed "
		"run's pace, at least 15 s) says `timeout` — python-threads "
		"at high concurrency, whose GIL hand-offs turn into futex "
		"storms under ptrace.%s\n",
		SYSCALL_EVENT, (unsigned long long)opts.syscall_emails,
		(unsigned long long)opts.syscall_emails - 1,
		(unsigned long long)opts.syscall_emails,
		have_perf ? "" : " **Not measured here**: ",
		have_strace ? "" : " **Not measured here**: ");
	if (!have_perf)
		fprintf(f, "  (perf: %s)\n", perf_why);
	if (!have_strace)
		fprintf(f, "  (strace: %s)\n", strace_why);
	if (any_uring())
		fprintf(f, "- **io_uring ops/email, io_uring_enter/email**: "
			"the rt sender's own counters (`io_uring_ops:`, "
			"`io_uring_enter:`), over N. strace and perf see only "
			"the io_uring_enter calls, not the work inside the "
			"ring.\n");
	fprintf(f, "- **ctxsw/email**: voluntary + involuntary context "
		"switches (ru_nvcsw + ru_nivcsw) over N.\n"
		"- **peak RSS MiB**: ru_maxrss; for a process with children "
		"(php-fork) the largest one, not the sum.\n"
		"- **threads**: the sender's `threads:` line.\n"
		"- **server CPU**: the server's user+sys over the run (wait4 "
		"after it is stopped, minus its CPU time when it was ready, "
		"from /proc/PID/task/*/schedstat) over the delivery's wall "
		"time, in %% of one core; "
		"BOUND at %.0f%% or more.\n"
		"- **check**: ok when the sender got every 250 and the server "
		"counted exactly N messages; FAIL otherwise (and `threadlab "
		"compare` exits 1).\n\n", SERVER_BOUND_PCT);

	fprintf(f, "## Plots\n\n"
		"![emails per second](emails-per-second.svg)\n\n"
		"![CPU per email](cpu-per-email.svg)\n\n"
		"![syscalls per email](syscalls-per-email.svg)\n\n");
	write_targets(f);
	write_threads_notes(f);
	write_syscall_notes(f);
	fprintf(f, "Raw results: results.txt (Go's benchmark format; "
		"`benchstat results.txt` reads it).\n");
	return close_out(f, path);
}

/* ---------------------------------------------------------------------
 * The command
 * ------------------------------------------------------------------- */

static int choose_server(const char *flag)
{
	bool embedded = have_embedded_sink();
	bool sink = access(SMTP_SINK, X_OK) == 0;

	if (flag && strcmp(flag, "embedded") == 0) {
		if (!embedded)
			return bench_usage_error("compare",
				"--server embedded: this threadlab has no sink command yet; use --server smtp-sink or HOST:PORT");
		opts.server = SERVER_EMBEDDED;
	} else if (flag && strcmp(flag, "smtp-sink") == 0) {
		if (!sink) {
			fprintf(stderr, "threadlab compare: --server smtp-sink: no %s (Debian's postfix package: scripts/deps.sh test)\n",
				SMTP_SINK);
			return BENCH_EXIT_FAIL;
		}
		opts.server = SERVER_SMTP_SINK;
	} else if (flag) {
		opts.server = SERVER_EXTERNAL;
	} else if (embedded) {
		opts.server = SERVER_EMBEDDED;
	} else if (sink) {
		opts.server = SERVER_SMTP_SINK;
	} else {
		fprintf(stderr, "threadlab compare: no SMTP server to use: this threadlab has no sink command yet and %s is missing (install postfix: scripts/deps.sh test); or name a running one with --server 127.0.0.1:PORT\n",
			SMTP_SINK);
		return BENCH_EXIT_FAIL;
	}
	return 0;
}

static void cleanup_tmp(void)
{
	static const char *const files[] = { "server.out", "server.err",
					     "perf.txt", "strace.txt" };

	if (!tmpdir[0])
		return;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(tmp_path(files[i]));
	rmdir(tmpdir);
}

static void free_all(void)
{
	for (size_t i = 0; i < n_configs; i++) {
		free(configs[i].runs);
		free(configs[i].perf.strace);
		free(configs[i].strace.strace);
	}
	free(configs);
	for (size_t k = 0; k < N_MODELS; k++)
		free(models[k].base_strace);
}

static void print_summary(void)
{
	size_t failed = 0;

	printf("threadlab compare: server %s; %llu emails per run; %d CPUs\n\n",
	       server_name(), (unsigned long long)opts.emails, cpus);
	print_table(stdout, false);
	for (size_t i = 0; i < n_configs; i++)
		if (configs[i].failed) {
			if (!failed++)
				printf("\nFAILED:\n");
			printf("  %s: %s\n", configs[i].name, configs[i].fail);
		}
	for (size_t i = 0; i < n_configs; i++)
		if (configs[i].server_bound) {
			printf("\nBOUND: the server used >= %.0f%% of one core in "
			       "these runs; they measure the server more than "
			       "the client.\n", SERVER_BOUND_PCT);
			break;
		}
	fflush(stdout);
}

static int compare_main(int argc, char **argv)
{
	const char *server_flag = NULL;
	struct machine mc;
	struct sigaction sa = { .sa_handler = on_signal };
	cpu_set_t set;
	ssize_t len;
	int r, status = BENCH_EXIT_OK;
	bool any_failed = false;

	opts.size = 1024;
	opts.out = "out/compare";
	for (size_t i = 0; i < N_MODELS; i++)
		models[i].selected = true;
	r = parse_flags(argc, argv, &server_flag);
	if (r)
		return r < 0 ? BENCH_EXIT_OK : r;
	if (bench_usable_cpus(&set) == 0)
		cpus = CPU_COUNT(&set);
	if (!opts.n_concs) {
		opts.concs[opts.n_concs++] = (unsigned)cpus;
		if (cpus != HIGH_CONCURRENCY)
			opts.concs[opts.n_concs++] = HIGH_CONCURRENCY;
	}
	if (!opts.emails)
		opts.emails = opts.quick ? QUICK_EMAILS : DEFAULT_EMAILS;
	/* Medians of three: one run on a shared 2-core machine can be off
	 * by a factor of two or more. */
	if (!opts.runs)
		opts.runs = opts.quick ? QUICK_RUNS : DEFAULT_RUNS;
	/* The syscall runs: a fifth of N, at least 100 (or N) and at most
	 * 2000, and never fewer than 2 (one is subtracted). */
	opts.syscall_emails = opts.emails / 5;
	if (opts.syscall_emails < 100)
		opts.syscall_emails = opts.emails < 100 ? opts.emails : 100;
	if (opts.syscall_emails > 2000)
		opts.syscall_emails = 2000;
	if (opts.syscall_emails < 2)
		opts.syscall_emails = 2;

	len = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
	if (len <= 0) {
		fprintf(stderr, "threadlab compare: cannot find my own binary: %s\n",
			strerror(errno));
		return BENCH_EXIT_FAIL;
	}
	self_path[len] = '\0';
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	r = choose_server(server_flag);
	if (r)
		return r;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/threadlab-compare.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		fprintf(stderr, "threadlab compare: mkdtemp: %s\n", strerror(errno));
		return BENCH_EXIT_FAIL;
	}
	if ((r = mkdir_p(opts.out)) < 0) {
		fprintf(stderr, "threadlab compare: cannot create %s: %s\n",
			opts.out, strerror(-r));
		cleanup_tmp();
		return BENCH_EXIT_FAIL;
	}
	find_root();
	probe_models();
	probe_tools();
	if (make_plan() < 0) {
		fprintf(stderr, "threadlab compare: out of memory\n");
		cleanup_tmp();
		return BENCH_EXIT_FAIL;
	}
	fprintf(stderr, "compare: server %s; %llu emails per run, %llu per "
		"syscall run; syscalls by %s%s%s; %zu runs\n", server_name(),
		(unsigned long long)opts.emails,
		(unsigned long long)opts.syscall_emails,
		have_perf ? "perf" : "(no perf)", have_strace ? " and strace" :
		" (no strace)", "", n_steps);
	for (size_t k = 0; k < N_MODELS; k++)
		if (models[k].selected && !models[k].available)
			fprintf(stderr, "compare: skipping %s: %s\n",
				models[k].name, models[k].why);

	t_start = sys_now_ns();
	for (size_t k = 0; k < N_MODELS; k++) {
		if (!models[k].available)
			continue;
		run_baselines(&models[k]);
		for (size_t i = 0; i < n_configs; i++)
			if (configs[i].m == &models[k])
				run_config(&configs[i]);
	}
	for (size_t i = 0; i < n_configs; i++) {
		summarize(&configs[i]);
		any_failed |= configs[i].failed;
	}

	describe_machine(&mc);
	bench_command_line(argc, argv, mc.command, sizeof(mc.command));
	print_summary();
	if (write_results(&mc) < 0 || write_report(&mc, argc, argv,
			sys_now_ns() - t_start) < 0 || write_plots() < 0)
		status = BENCH_EXIT_FAIL;
	else
		fprintf(stderr, "compare: wrote %s/results.txt, report.md and "
			"3 plots (*.svg)\n", opts.out);
	if (any_failed) {
		fprintf(stderr, "compare: FAILED: some runs did not deliver "
			"exactly what was sent (see the table)\n");
		status = BENCH_EXIT_FAIL;
	}
	cleanup_tmp();
	free_all();
	return status;
}

const struct bench_cmd bench_cmd_compare = {
	.name = "compare",
	.summary = "run every email model and measure them side by side",
	.usage = usage,
	.run = compare_main,
};

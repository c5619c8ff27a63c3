/*
 * bench/ — the harness shared by the threadlab driver's subcommands.
 *
 * Two things live here:
 *
 *  - Subcommands. Each is a `struct bench_cmd` (a name, one line for the
 *    top-level --help, its full usage text, and its entry point) defined in
 *    its own file and listed once in main.c's table. Adding `sink`, `send`,
 *    `compare` or `topo` means one new file and one line in that table.
 *
 *  - A benchmark runner that behaves like Go's testing package, so results
 *    from C and from Go line up in one table and `benchstat` reads both:
 *    a benchmark is a function that does b->n iterations of something; the
 *    runner calls it with n = 1, then with n grown the way Go grows b.N,
 *    until one call lasts at least the benchtime; that last call is the
 *    result, printed as one line in Go's format:
 *
 *        BenchmarkThreadSpawn/model=clone-2   	   50000	     24321 ns/op
 *
 *    The -N suffix is the number of CPUs the benchmark's threads may run on
 *    (Go's is GOMAXPROCS); as in Go it is left off when N is 1.
 *
 * Output discipline: stdout carries only what benchstat reads (header
 * lines `key: value`, result lines, `--- FAIL` blocks); progress and notes
 * go to stderr. Exit statuses of the driver: 0 success, 1 a run failed,
 * 2 a usage error (unknown subcommand, bad flag, bad value).
 *
 * Shared state: none across threads. The runner and the subcommands run
 * on the main thread; a benchmark's own threads touch only their struct
 * bench_b through the timer calls, and only while the benchmark function
 * runs (it must join them before returning).
 */
#ifndef THREADLAB_BENCH_H
#define THREADLAB_BENCH_H

#include <regex.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

/* Exit statuses of the driver and its subcommands. */
#define BENCH_EXIT_OK    0
#define BENCH_EXIT_FAIL  1
#define BENCH_EXIT_USAGE 2

/* ---------------------------------------------------------------------
 * Subcommands (main.c dispatches).
 * ------------------------------------------------------------------- */

struct bench_cmd {
	const char *name;        /* "micro" */
	const char *summary;     /* one line for `threadlab --help` */
	const char *usage;       /* the full text of `threadlab help NAME` */
	/* argv[0] is the subcommand's name; returns an exit status. */
	int (*run)(int argc, char **argv);
};

extern const struct bench_cmd bench_cmd_micro;
extern const struct bench_cmd bench_cmd_topo;     /* topo_cmd.c */
extern const struct bench_cmd bench_cmd_send;     /* email/send.c */
extern const struct bench_cmd bench_cmd_sink;     /* email/sink.c */
extern const struct bench_cmd bench_cmd_compare;  /* compare.c */

/* Print a command's usage text (to stdout for --help, stderr on error). */
void bench_cmd_usage(const struct bench_cmd *cmd, FILE *to);

/*
 * Report a getopt_long error on stderr, naming the flag, and return
 * BENCH_EXIT_USAGE. `cmd` is the subcommand (NULL: the driver's own
 * flags); `c` is what getopt_long returned: '?' for an unknown flag, ':'
 * for a missing value (the optstring must start with ':' so that the two
 * can be told apart, and opterr must be 0).
 */
int bench_flag_error(const char *cmd, int c, char *const argv[]);

/* "threadlab CMD: " + message + "\n" on stderr; returns BENCH_EXIT_USAGE. */
__attribute__((format(printf, 2, 3)))
int bench_usage_error(const char *cmd, const char *fmt, ...);

/* ---------------------------------------------------------------------
 * The benchmark runner (bench.c).
 * ------------------------------------------------------------------- */

/* How long to run each benchmark: for a duration (Go's -benchtime=1s), or
 * a fixed number of iterations (-benchtime=100x). */
struct bench_time {
	int64_t ns;              /* used when iters == 0 */
	uint64_t iters;          /* > 0: exactly this many iterations */
};

/*
 * Parse Go's -benchtime forms: "Nx" (N > 0 iterations), or a Go duration
 * ("1s", "500ms", "1.5s", "2m30s", "100us", "100µs", "0"; units ns us µs
 * ms s m h). 0, or -EINVAL for anything else (negative included).
 */
int bench_parse_benchtime(const char *s, struct bench_time *out);
/* The inverse, for the `benchtime:` line: "1s", "500ms", "100x". */
void bench_format_benchtime(const struct bench_time *t, char *buf,
			    size_t len);

/* The state of one run of a benchmark function. */
#define BENCH_MAX_METRICS 4

struct bench_b {
	uint64_t n;              /* iterations this call must do */
	const void *arg;         /* the benchmark's bench_def.arg */
	int cpus;                /* CPUs its threads may run on (the -N) */

	/* Runner-private below: use the functions that follow. */
	int64_t start_ns;        /* when the timer was last started */
	int64_t elapsed_ns;      /* time accumulated while it ran */
	bool timer_on;
	bool failed, skipped;
	char msg[256];           /* why it failed or was skipped */
	unsigned nmetrics;       /* bench_report_metric: how many, and */
	const char *metric_unit[BENCH_MAX_METRICS];   /* their units */
	double metric[BENCH_MAX_METRICS];
};

/*
 * Like Go's b.ResetTimer / b.StopTimer / b.StartTimer: the runner starts
 * the timer before calling the function and stops it after; a function
 * with set-up to leave out resets the timer when set-up is done (and may
 * stop it around tear-down).
 */
void bench_reset_timer(struct bench_b *b);
void bench_start_timer(struct bench_b *b);
void bench_stop_timer(struct bench_b *b);

/* Like b.Fatalf / b.Skipf, but C cannot unwind: the function must return
 * right after calling them (having joined any thread it started). A
 * failed benchmark prints `--- FAIL: NAME` and the message on stdout, as
 * Go does, and makes the driver exit 1; a skipped one prints a note on
 * stderr and no result line. */
__attribute__((format(printf, 2, 3)))
void bench_failf(struct bench_b *b, const char *fmt, ...);
__attribute__((format(printf, 2, 3)))
void bench_skipf(struct bench_b *b, const char *fmt, ...);

/* Like Go's b.ReportMetric: one more value on the result line, after
 * ns/op, in `unit` ("B/task"); for one unit the last call wins; at most
 * BENCH_MAX_METRICS units (more is a programming error). */
void bench_report_metric(struct bench_b *b, double value, const char *unit);

/* A benchmark: a table of these is what a suite exports. */
struct bench_def {
	/* Full name, sub-benchmarks separated by '/', without the -N:
	 * "BenchmarkFutexPingPong/model=clone/cpus=1". */
	const char *name;
	void (*fn)(struct bench_b *b);
	const void *arg;
	/* CPUs its threads may run on, the -N suffix; 0: every CPU the
	 * process may use (counted when the benchmark runs);
	 * BENCH_CPUS_WORKERS: the worker count of `threadlab micro
	 * --workers N` (default: every usable CPU) — for rt/ benchmarks,
	 * whose b->cpus is then the number of workers to start. */
	int cpus;
};
#define BENCH_CPUS_WORKERS (-1)

struct bench_opts {
	struct bench_time time;  /* default 1s */
	unsigned count;          /* runs of each benchmark, default 1 */
	const char *pkg;         /* for the `pkg:` header line */
	int workers;             /* for BENCH_CPUS_WORKERS; 0: usable CPUs */
	const char *plan;        /* the placement plan, for a `plan:` line */
	const char *command;     /* the command line, for a `command:` line */
	bool progress;           /* progress lines on stderr */
};

/*
 * Run `n` benchmarks (already filtered), each opts->count times in a row
 * as Go does, printing the header before the first result. Returns the
 * number of runs that failed (0 when all passed or were skipped).
 */
int bench_run_all(const struct bench_def *const *defs, size_t n,
		  const struct bench_opts *opts);

/* The micro-benchmark suites (bench/micro/), each a table ended by an
 * entry whose name is NULL; `threadlab micro` runs them in this order. */
extern const struct bench_def bench_micro_threads[];   /* micro/threads.c */
extern const struct bench_def bench_micro_rt[];        /* micro/rt.c */
extern const struct bench_def bench_micro_vocab[];     /* micro/vocab.c */

/*
 * The Go peer of the micro-benchmarks (bench/micro/go, `go test -bench`),
 * run with the same selection, count, benchtime and worker count, its
 * result lines printed among ours (micro_go.c). `names` are the C
 * benchmarks' names, to tell which Go benchmarks the filter selects.
 * Returns 0 (also when Go is missing: a note on stderr says it was
 * skipped), -1 when the filter selects no Go benchmark, or 1 when
 * `go test` failed.
 */
int bench_micro_go(const regex_t *re, const struct bench_opts *opts,
		   const char *const *names, size_t nnames);

/*
 * The placement plan that rt/ workers follow under `placement` (NULL:
 * THREADLAB_PLACEMENT, else compact) with `workers` workers (0: one per
 * usable CPU), in one line for reports: "spread: w0 cpu0 node0, w1 cpu1
 * node0". 0; or -EINVAL with numa/'s message in buf.
 */
int bench_describe_plan(const char *placement, int workers, char *buf,
			size_t len);

/* A whole decimal number (at most 19 digits, no sign) in [lo, hi]. */
bool bench_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/* HOST:PORT, the host numeric IPv4, [IPv6] or localhost (= 127.0.0.1),
 * the port from min_port to 65535 (0 lets a server pick a free one).
 * 0, or -EINVAL. */
int bench_parse_hostport(const char *s, unsigned min_port,
			 struct sockaddr_storage *ss, socklen_t *len);

/* Go's result line for `name` (with its -N already added). */
void bench_print_result(FILE *to, int width, const char *name, uint64_t n,
			int64_t elapsed_ns);

/* The CPUs this process may run on that are online now (0 or -errno). */
int bench_usable_cpus(cpu_set_t *set);

/* The CPU's model name from /proc/cpuinfo ("" when unknown). */
void bench_cpu_model(char *buf, size_t len);

/*
 * The `date:`, `cores:`, `kernel:` and (when not NULL) `command:` lines
 * of a results file's header — with `cpu:` (bench_cpu_model), what every
 * committed results file records beside its figures (see
 * scripts/results-header.sh and scripts/check-docs.py).
 */
void bench_print_machine(FILE *f, const char *command);

/* The process's resident set (/proc/self/statm), and the kernel's memory
 * for thread stacks (KernelStack in /proc/meminfo, machine-wide), in
 * bytes; -1 when unreadable. Plain libc calls: from rt/ task code, call
 * them on the worker stack. */
long bench_rss_bytes(void);
long bench_kernel_stack_bytes(void);

/* "threadlab ARGV..." in buf: argv as a command (argv[0] is the
 * subcommand), with shell-unsafe arguments single-quoted. */
void bench_command_line(int argc, char **argv, char *buf, size_t len);

#endif

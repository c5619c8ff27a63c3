/*
 * `threadlab micro`: the micro-benchmarks, selected and run like
 * `go test -bench REGEX -count N -benchtime D`.
 *
 * The suites are tables of struct bench_def in the files of bench/micro/;
 * this file gathers them, keeps those whose full name (without the -N
 * suffix) matches --filter, and hands them to the runner in bench.c.
 *
 * Shared state: none (main thread only).
 */
#include <errno.h>
#include <getopt.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "syscalls/sys.h"

static const struct bench_def *const suites[] = {
	bench_micro_threads,
	bench_micro_rt,
	bench_micro_vocab,
};

#define N_SUITES (sizeof(suites) / sizeof(suites[0]))
#define MAX_BENCHMARKS 256
#define MAX_COUNT 1000000u
/* Show progress on a non-terminal stderr when the benchmarks are
 * expected to run at least this long (benchtime x count x benchmarks;
 * the real time is about twice that, for the runs that find n). */
#define PROGRESS_AFTER_NS (10ll * 1000000000)

static const char usage[] =
"usage: threadlab micro [--filter REGEX] [--count N] [--benchtime D]\n"
"                       [--workers N] [--placement P] [--list]\n"
"\n"
"Run the kernel-thread micro-benchmarks and print one line per run in\n"
"Go's benchmark format, so that results from C and Go sit in one\n"
"benchstat table:\n"
"\n"
"  BenchmarkFutexPingPong/model=clone/cpus=2-2   	   20000	     48211 ns/op\n"
"\n"
"Header lines (goos, goarch, pkg, cpu, benchtime) come first. The -N\n"
"suffix is the number of CPUs the benchmark's threads may run on (Go's is\n"
"GOMAXPROCS) and, as in Go, is left off when it is 1. Each benchmark runs\n"
"first once, then with an iteration count grown as Go's testing package\n"
"grows b.N, until one run lasts at least the benchtime; that run is the\n"
"result.\n"
"\n"
"Flags:\n"
"  --filter REGEX   run only benchmarks whose full name (without -N)\n"
"                   matches REGEX, a POSIX extended regular expression,\n"
"                   e.g. 'ThreadSpawn' or 'PingPong/model=clone/cpus=1$'.\n"
"                   Default: every benchmark.\n"
"  --count N        run each benchmark N times in a row (default 1), one\n"
"                   line each; benchstat takes the median of the N.\n"
"  --benchtime D    run each benchmark for at least D, in Go's forms: a\n"
"                   duration (500ms, 1s, 1.5s, 2m, 100us) or Nx for\n"
"                   exactly N iterations (default 1s).\n"
"  --workers N      run the rt/ benchmarks that use every CPU on N workers,\n"
"                   and the Go peer with GOMAXPROCS 1 and N (default: the\n"
"                   CPUs the process may use). Their -N suffix is N.\n"
"  --placement P    where the rt/ workers run: compact, spread or node=N\n"
"                   (numa/'s plan; default THREADLAB_PLACEMENT, else\n"
"                   compact). The plan used is printed as a `plan:` line.\n"
"  --list           print the names of the C benchmarks that --filter\n"
"                   selects, and exit.\n"
"  -h, --help       print this help.\n"
"\n"
"Benchmarks:\n"
"  ThreadSpawn      spawn and join one thread that does nothing, one at a\n"
"                   time; model=clone (sys_thread_spawn/join, raw clone)\n"
"                   or model=pthread (pthread_create/join). Unpinned.\n"
"  FutexPingPong    two threads hand a token back and forth through one\n"
"                   futex word; ns/op is one round trip. cpus=1 pins both\n"
"                   threads to one CPU, cpus=2 to two different CPUs\n"
"                   (skipped, with a note, when only one CPU is usable).\n"
"  CondPingPong     the same hand-off through pthread_mutex_t and\n"
"                   pthread_cond_t, as most pthread programs would write\n"
"                   it, on clone threads and on pthreads.\n"
"\n"
"  Spawn, Yield, ParkedRSS, HotSplit (model=rt, stack=segmented|mapped)\n"
"                   rt/ tasks: spawn+run+exit; a yield hand-off between two\n"
"                   tasks; resident memory per parked task (B/task); a call\n"
"                   that crosses a stack segment boundary every time.\n"
"  ChanPingPong, ChanBuffered, Mutex/tasks=T, Select4 (model=rt)\n"
"                   rt/ channels and sync: a round trip over two unbuffered\n"
"                   channels; a producer and a consumer through a buffer of\n"
"                   128 (per element); T tasks taking turns at one mutex\n"
"                   (per lock+unlock; also model=clone with sys_mutex and\n"
"                   model=pthread, T kernel threads); a select over four\n"
"                   channels always ready.\n"
"  model=go         the same measurements with goroutines (bench/micro/go,\n"
"                   run with `go test -bench` when Go is installed; its\n"
"                   lines come after ours, in the same format).\n"
"\n"
"Progress goes to stderr (when it is a terminal, or when the run will be\n"
"long); stdout carries only results, so `threadlab micro > out.txt` is a\n"
"benchstat input. Exit status: 0 when every benchmark ran or was skipped,\n"
"1 when one failed, 2 for a usage error.\n";

static int parse_count(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > MAX_COUNT)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* Every benchmark of every suite whose name matches `re`, in order. */
static size_t select_benchmarks(const regex_t *re,
				const struct bench_def **out, size_t max)
{
	size_t n = 0;

	for (size_t s = 0; s < N_SUITES; s++) {
		for (const struct bench_def *d = suites[s]; d->name; d++) {
			if (regexec(re, d->name, 0, NULL, 0) != 0)
				continue;
			if (n == max)
				sys_panic("threadlab micro: more than %zu benchmarks; raise MAX_BENCHMARKS",
					  max);
			out[n++] = d;
		}
	}
	return n;
}

/* The Go peer, given every C benchmark's name; returns 1 if go test
 * failed. With nothing selected anywhere, warns as `go test` does. */
static int run_go(const regex_t *re, const struct bench_opts *opts,
		  size_t nselected, const char *filter)
{
	static const char *names[MAX_BENCHMARKS];
	size_t n = 0;
	int r;

	for (size_t s = 0; s < N_SUITES; s++)
		for (const struct bench_def *d = suites[s]; d->name; d++)
			if (n < MAX_BENCHMARKS)
				names[n++] = d->name;
	r = bench_micro_go(re, opts, names, n);
	if (r < 0) {
		if (nselected == 0)
			fprintf(stderr, "threadlab micro: no benchmark matches '%s'\n",
				filter);
		return 0;
	}
	return r;
}

static int micro_main(int argc, char **argv)
{
	enum { OPT_FILTER = 256, OPT_COUNT, OPT_BENCHTIME, OPT_WORKERS,
	       OPT_PLACEMENT, OPT_LIST };
	static const struct option longopts[] = {
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "benchtime", required_argument, NULL, OPT_BENCHTIME },
		{ "workers", required_argument, NULL, OPT_WORKERS },
		{ "placement", required_argument, NULL, OPT_PLACEMENT },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_opts opts = {
		.time = { .ns = 1000000000 },
		.count = 1,
		.pkg = "threadlab/micro",
	};
	static const struct bench_def *selected[MAX_BENCHMARKS];
	const char *filter = ".", *placement = NULL;
	static char plan[1024], command[2048];
	bool list = false;
	regex_t re;
	size_t n;
	int c, r, failures;

	opterr = 0;
	optind = 0;     /* glibc: start afresh on this argv */
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_FILTER:
			filter = optarg;
			break;
		case OPT_COUNT:
			if (parse_count(optarg, &opts.count) < 0)
				return bench_usage_error("micro",
					"invalid --count '%s': want a whole number from 1 to %u",
					optarg, MAX_COUNT);
			break;
		case OPT_BENCHTIME:
			if (bench_parse_benchtime(optarg, &opts.time) < 0)
				return bench_usage_error("micro",
					"invalid --benchtime '%s': want a duration (500ms, 1s, 2m) or Nx (100x)",
					optarg);
			break;
		case OPT_WORKERS: {
			unsigned w;

			if (parse_count(optarg, &w) < 0 || w > 1024)
				return bench_usage_error("micro",
					"invalid --workers '%s': want a whole number from 1 to 1024",
					optarg);
			opts.workers = (int)w;
			break;
		}
		case OPT_PLACEMENT:
			placement = optarg;
			break;
		case OPT_LIST:
			list = true;
			break;
		case 'h':
			bench_cmd_usage(&bench_cmd_micro, stdout);
			return BENCH_EXIT_OK;
		default:
			return bench_flag_error("micro", c, argv);
		}
	}
	if (optind < argc)
		return bench_usage_error("micro",
			"unexpected argument '%s' (benchmarks are chosen with --filter)",
			argv[optind]);

	/* The rt/ benchmarks read the policy from the environment (their
	 * rt_config leaves it NULL), so one setting reaches every run. */
	r = bench_describe_plan(placement, opts.workers, plan, sizeof(plan));
	if (r < 0)
		return bench_usage_error("micro", "%s", plan);
	if (placement)
		setenv("THREADLAB_PLACEMENT", placement, 1);
	opts.plan = plan;
	bench_command_line(argc, argv, command, sizeof(command));
	opts.command = command;

	r = regcomp(&re, filter, REG_EXTENDED | REG_NOSUB);
	if (r != 0) {
		char why[256];

		regerror(r, &re, why, sizeof(why));
		return bench_usage_error("micro", "invalid --filter '%s': %s",
					 filter, why);
	}
	n = select_benchmarks(&re, selected, MAX_BENCHMARKS);

	if (list) {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", selected[i]->name);
		regfree(&re);
		return BENCH_EXIT_OK;
	}
	opts.progress = isatty(STDERR_FILENO) ||
		(opts.time.iters == 0 &&
		 (double)opts.time.ns * opts.count * (double)n >=
			 (double)PROGRESS_AFTER_NS);
	failures = n ? bench_run_all(selected, n, &opts) : 0;
	failures += run_go(&re, &opts, n, filter);
	regfree(&re);
	if (failures) {
		fprintf(stderr, "threadlab micro: %d run%s failed\n", failures,
			failures == 1 ? "" : "s");
		return BENCH_EXIT_FAIL;
	}
	return BENCH_EXIT_OK;
}

const struct bench_cmd bench_cmd_micro = {
	.name = "micro",
	.summary = "run the kernel-thread micro-benchmarks (Go benchmark format)",
	.usage = usage,
	.run = micro_main,
};

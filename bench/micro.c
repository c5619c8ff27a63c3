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
};

#define N_SUITES (sizeof(suites) / sizeof(suites[0]))
#define MAX_BENCHMARKS 256
#define MAX_COUNT 1000000u
/* Show progress on a non-terminal stderr when the benchmarks are
 * expected to run at least this long (benchtime x count x benchmarks;
 * the real time is about twice that, for the runs that find n). */
#define PROGRESS_AFTER_NS (10ll * 1000000000)

static const char usage[] =
"usage: threadlab micro [--filter REGEX] [--count N] [--benchtime D] [--list]\n"
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
"  --list           print the names that --filter selects, and exit.\n"
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

static int micro_main(int argc, char **argv)
{
	enum { OPT_FILTER = 256, OPT_COUNT, OPT_BENCHTIME, OPT_LIST };
	static const struct option longopts[] = {
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "benchtime", required_argument, NULL, OPT_BENCHTIME },
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
	const char *filter = ".";
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

	r = regcomp(&re, filter, REG_EXTENDED | REG_NOSUB);
	if (r != 0) {
		char why[256];

		regerror(r, &re, why, sizeof(why));
		return bench_usage_error("micro", "invalid --filter '%s': %s",
					 filter, why);
	}
	n = select_benchmarks(&re, selected, MAX_BENCHMARKS);
	regfree(&re);

	if (list) {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", selected[i]->name);
		return BENCH_EXIT_OK;
	}
	if (n == 0) {
		/* As `go test -bench` does: a warning, and success. */
		fprintf(stderr, "threadlab micro: no benchmark matches '%s'\n",
			filter);
		return BENCH_EXIT_OK;
	}
	opts.progress = isatty(STDERR_FILENO) ||
		(opts.time.iters == 0 &&
		 (double)opts.time.ns * opts.count * (double)n >=
			 (double)PROGRESS_AFTER_NS);
	failures = bench_run_all(selected, n, &opts);
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

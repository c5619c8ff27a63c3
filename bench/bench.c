/*
 * The benchmark runner: Go's testing.B, in C, for the threadlab driver.
 *
 * What is copied from Go (src/testing/benchmark.go, Go 1.21 and later),
 * and why: results from these benchmarks are meant to sit in one
 * benchstat table with results from Go's, so the two should be measured
 * and printed the same way.
 *
 *  - A benchmark is first run with n = 1. Then, unless a fixed count was
 *    asked for (-benchtime=Nx), n is predicted from the last run so that
 *    the next lasts the benchtime, with 20% to spare, growing at most
 *    100-fold and at least by one, capped at 1e9 (predict_n), until a run
 *    lasts at least the benchtime. The last run is the result.
 *  - With a count, each benchmark runs `count` times in a row.
 *  - The line: the name padded, a tab, n as %8d, a tab, ns/op printed by
 *    Go's prettyPrint (whole nanoseconds from 999.95 up, more decimals
 *    below), then " ns/op".
 *
 * Shared state: none; everything here runs on the main thread. The timer
 * in struct bench_b is touched only by the function the runner called,
 * on the thread that called it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "numa/topo.h"
#include "syscalls/sys.h"

#define MAX_ITERS 1000000000ull   /* Go's cap on b.N */

/* ---------------------------------------------------------------------
 * -benchtime
 * ------------------------------------------------------------------- */

static const struct {
	const char *name;
	int64_t ns;
} units[] = {
	{ "ns", 1 },
	{ "us", 1000 },
	{ "\xc2\xb5s", 1000 },          /* U+00B5 micro sign */
	{ "\xce\xbcs", 1000 },          /* U+03BC Greek small letter mu */
	{ "ms", 1000000 },
	{ "s", 1000000000 },
	{ "m", 60ll * 1000000000 },
	{ "h", 3600ll * 1000000000 },
};

/* The unit at the start of *p (longest match), advancing *p past it. */
static int64_t parse_unit(const char **p)
{
	size_t best = 0;
	int64_t ns = 0;

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t len = strlen(units[i].name);

		if (len > best && strncmp(*p, units[i].name, len) == 0) {
			best = len;
			ns = units[i].ns;
		}
	}
	*p += best;
	return ns;
}

/* Go's time.ParseDuration, without negative values: a sequence of
 * decimal numbers, each with an optional fraction and a unit. */
static int parse_duration(const char *s, int64_t *out)
{
	const char *p = s;
	uint64_t total = 0;

	if (*p == '+')
		p++;
	if (strcmp(p, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (*p == '\0')
		return -EINVAL;
	while (*p) {
		uint64_t whole = 0, frac = 0, scale = 1;
		bool digits = false;
		int64_t unit;
		unsigned __int128 v;

		for (; *p >= '0' && *p <= '9'; p++, digits = true) {
			if (whole > (UINT64_MAX - 9) / 10)
				return -EINVAL;
			whole = whole * 10 + (uint64_t)(*p - '0');
		}
		if (*p == '.') {
			for (p++; *p >= '0' && *p <= '9'; p++, digits = true) {
				/* Digits past 1e-18 cannot change a
				 * nanosecond count; drop them. */
				if (scale < 1000000000000000000ull) {
					frac = frac * 10 + (uint64_t)(*p - '0');
					scale *= 10;
				}
			}
		}
		if (!digits)
			return -EINVAL;
		unit = parse_unit(&p);
		if (unit == 0)
			return -EINVAL;
		v = (unsigned __int128)whole * (uint64_t)unit +
		    (unsigned __int128)frac * (uint64_t)unit / scale;
		if (v > INT64_MAX - total)
			return -EINVAL;
		total += (uint64_t)v;
	}
	*out = (int64_t)total;
	return 0;
}

int bench_parse_benchtime(const char *s, struct bench_time *out)
{
	size_t len = s ? strlen(s) : 0;

	if (len == 0)
		return -EINVAL;
	if (s[len - 1] == 'x') {
		uint64_t n = 0;

		if (len == 1)
			return -EINVAL;
		for (size_t i = 0; i < len - 1; i++) {
			if (s[i] < '0' || s[i] > '9' ||
			    n > (UINT64_MAX - 9) / 10)
				return -EINVAL;
			n = n * 10 + (uint64_t)(s[i] - '0');
		}
		if (n == 0)
			return -EINVAL;         /* Go: "invalid count" */
		out->iters = n;
		out->ns = 0;
		return 0;
	}
	out->iters = 0;
	return parse_duration(s, &out->ns);
}

void bench_format_benchtime(const struct bench_time *t, char *buf, size_t len)
{
	static const struct { int64_t ns; const char *unit; } steps[] = {
		{ 1000000000, "s" }, { 1000000, "ms" }, { 1000, "us" },
	};

	if (t->iters) {
		snprintf(buf, len, "%llux", (unsigned long long)t->iters);
		return;
	}
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (t->ns != 0 && t->ns % steps[i].ns == 0) {
			snprintf(buf, len, "%lld%s",
				 (long long)(t->ns / steps[i].ns), steps[i].unit);
			return;
		}
	}
	snprintf(buf, len, "%lldns", (long long)t->ns);
}

/* ---------------------------------------------------------------------
 * The timer and the outcome of a run
 * ------------------------------------------------------------------- */

void bench_start_timer(struct bench_b *b)
{
	if (!b->timer_on) {
		b->start_ns = sys_now_ns();
		b->timer_on = true;
	}
}

void bench_stop_timer(struct bench_b *b)
{
	if (b->timer_on) {
		b->elapsed_ns += sys_now_ns() - b->start_ns;
		b->timer_on = false;
	}
}

void bench_reset_timer(struct bench_b *b)
{
	if (b->timer_on)
		b->start_ns = sys_now_ns();
	b->elapsed_ns = 0;
}

void bench_failf(struct bench_b *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->msg, sizeof(b->msg), fmt, ap);
	va_end(ap);
	b->failed = true;
}

void bench_skipf(struct bench_b *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->msg, sizeof(b->msg), fmt, ap);
	va_end(ap);
	b->skipped = true;
}

/* ---------------------------------------------------------------------
 * Running
 * ------------------------------------------------------------------- */

/* Go's predictN: the iterations that should last `goal_ns`, judging by
 * the last run, with 20% more, at most 100 times and at least one more
 * than `last`, and never over 1e9. */
static uint64_t predict_n(int64_t goal_ns, uint64_t prev_iters,
			  int64_t prev_ns, uint64_t last)
{
	unsigned __int128 n;

	if (prev_ns <= 0)
		prev_ns = 1;
	/* Multiply first: for very fast benchmarks prev_iters ~ prev_ns,
	 * and dividing first would lose an order of magnitude. */
	n = (unsigned __int128)goal_ns * prev_iters / (uint64_t)prev_ns;
	n += n / 5;
	if (n > (unsigned __int128)last * 100)
		n = (unsigned __int128)last * 100;
	if (n < last + 1)
		n = last + 1;
	if (n > MAX_ITERS)
		n = MAX_ITERS;
	return (uint64_t)n;
}

static void run_n(const struct bench_def *d, struct bench_b *b, uint64_t n)
{
	b->n = n;
	b->elapsed_ns = 0;
	b->timer_on = false;
	bench_start_timer(b);
	d->fn(b);
	bench_stop_timer(b);
}

/* Go's B.launch: the result is the last run, in b. */
static void launch(const struct bench_def *d, struct bench_b *b,
		   const struct bench_time *t)
{
	uint64_t n = 1;

	run_n(d, b, 1);
	if (t->iters) {
		/* -benchtime=1x: the first run is the result. */
		if (t->iters > 1 && !b->failed && !b->skipped)
			run_n(d, b, t->iters);
		return;
	}
	while (!b->failed && !b->skipped && b->elapsed_ns < t->ns &&
	       n < MAX_ITERS) {
		uint64_t last = n;

		n = predict_n(t->ns, b->n, b->elapsed_ns, last);
		run_n(d, b, n);
	}
}

/* Go's prettyPrint: ten places before the point, four significant
 * digits for small numbers, decimal points aligned. */
static void print_ns(FILE *to, double x)
{
	double y = x < 0 ? -x : x;

	if (y == 0 || y >= 999.95)
		fprintf(to, "%10.0f ns/op", x);
	else if (y >= 99.995)
		fprintf(to, "%12.1f ns/op", x);
	else if (y >= 9.9995)
		fprintf(to, "%13.2f ns/op", x);
	else if (y >= 0.99995)
		fprintf(to, "%14.3f ns/op", x);
	else if (y >= 0.099995)
		fprintf(to, "%15.4f ns/op", x);
	else if (y >= 0.0099995)
		fprintf(to, "%16.5f ns/op", x);
	else if (y >= 0.00099995)
		fprintf(to, "%17.6f ns/op", x);
	else
		fprintf(to, "%18.7f ns/op", x);
}

static void print_result(FILE *to, int width, const char *name, uint64_t n,
			 int64_t elapsed_ns, const struct bench_b *b)
{
	fprintf(to, "%-*s\t%8llu\t", width, name, (unsigned long long)n);
	if (n > 0)
		print_ns(to, (double)elapsed_ns / (double)n);
	for (unsigned i = 0; b && i < b->nmetrics; i++)
		fprintf(to, "\t%10.0f %s", b->metric[i], b->metric_unit[i]);
	fputc('\n', to);
	fflush(to);
}

void bench_print_result(FILE *to, int width, const char *name, uint64_t n,
			int64_t elapsed_ns)
{
	print_result(to, width, name, n, elapsed_ns, NULL);
}

void bench_report_metric(struct bench_b *b, double value, const char *unit)
{
	unsigned i;

	for (i = 0; i < b->nmetrics; i++)
		if (strcmp(b->metric_unit[i], unit) == 0)
			break;
	if (i == BENCH_MAX_METRICS)
		sys_panic("bench_report_metric: more than %d units",
			  BENCH_MAX_METRICS);
	if (i == b->nmetrics)
		b->nmetrics++;
	b->metric[i] = value;
	b->metric_unit[i] = unit;
}

/* Go's benchmarkName: the name, and -N unless N is 1. */
static void full_name(char *buf, size_t len, const char *name, int cpus)
{
	if (cpus != 1)
		snprintf(buf, len, "%s-%d", name, cpus);
	else
		snprintf(buf, len, "%s", name);
}

static int def_cpus(const struct bench_def *d, int usable,
		    const struct bench_opts *opts)
{
	if (d->cpus == BENCH_CPUS_WORKERS && opts->workers > 0)
		return opts->workers;
	return d->cpus > 0 ? d->cpus : usable;
}

static void print_header(const struct bench_opts *opts)
{
	char model[256], bt[32];

	printf("goos: linux\n");
#if defined(__x86_64__)
	printf("goarch: amd64\n");
#elif defined(__aarch64__)
	printf("goarch: arm64\n");
#endif
	printf("pkg: %s\n", opts->pkg);
	bench_cpu_model(model, sizeof(model));
	if (model[0])
		printf("cpu: %s\n", model);
	bench_print_machine(stdout, opts->command);
	/* A setting, as a `key: value` line above the results: benchstat
	 * keeps it as part of the configuration. */
	bench_format_benchtime(&opts->time, bt, sizeof(bt));
	printf("benchtime: %s\n", bt);
	if (opts->plan)
		printf("plan: %s\n", opts->plan);
	fflush(stdout);
}

static void progress(const struct bench_opts *opts, bool tty, size_t i,
		     size_t n, const char *name, unsigned run)
{
	if (!opts->progress)
		return;
	if (tty)
		fprintf(stderr, "\r\033[K[%zu/%zu] %s  run %u of %u", i + 1, n,
			name, run + 1, opts->count);
	else if (run == 0)
		fprintf(stderr, "threadlab: [%zu/%zu] %s (%u run%s)\n", i + 1,
			n, name, opts->count, opts->count == 1 ? "" : "s");
}

static void progress_clear(const struct bench_opts *opts, bool tty)
{
	if (opts->progress && tty)
		fputs("\r\033[K", stderr);
}

int bench_run_all(const struct bench_def *const *defs, size_t n,
		  const struct bench_opts *opts)
{
	bool tty = isatty(STDERR_FILENO), header = false;
	int usable = 1, width = 0, failures = 0;
	char name[256];
	cpu_set_t set;

	if (bench_usable_cpus(&set) == 0)
		usable = CPU_COUNT(&set);
	for (size_t i = 0; i < n; i++) {
		int len;

		full_name(name, sizeof(name), defs[i]->name,
			  def_cpus(defs[i], usable, opts));
		len = (int)strlen(name);
		if (len > width)
			width = len;
	}

	for (size_t i = 0; i < n; i++) {
		const struct bench_def *d = defs[i];
		int cpus = def_cpus(d, usable, opts);

		full_name(name, sizeof(name), d->name, cpus);
		for (unsigned run = 0; run < opts->count; run++) {
			struct bench_b b = { .arg = d->arg, .cpus = cpus };

			progress(opts, tty, i, n, name, run);
			launch(d, &b, &opts->time);
			progress_clear(opts, tty);
			if (b.skipped) {
				fprintf(stderr, "threadlab: skip %s: %s\n",
					name, b.msg);
				break;
			}
			if (!header) {
				print_header(opts);
				header = true;
			}
			if (b.failed) {
				/* Go's form, on stdout with the results. */
				printf("--- FAIL: %s\n    %s\n", name, b.msg);
				fflush(stdout);
				failures++;
				continue;
			}
			print_result(stdout, width, name, b.n, b.elapsed_ns,
				     &b);
		}
	}
	return failures;
}

/* ---------------------------------------------------------------------
 * The machine
 * ------------------------------------------------------------------- */

int bench_usable_cpus(cpu_set_t *set)
{
	cpu_set_t online;
	int r;

	r = sys_sched_getaffinity(0, set);
	if (r < 0)
		return r;
	if (sys_online_cpus(&online) == 0)
		CPU_AND(set, set, &online);
	return CPU_COUNT(set) > 0 ? 0 : -ENOENT;
}

void bench_command_line(int argc, char **argv, char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, "threadlab");

	for (int i = 0; i < argc && off < len; i++) {
		/* Quote an argument that the shell would split or expand. */
		bool quote = argv[i][0] == '\0' ||
			     strpbrk(argv[i], " \t\n'\"\\$`*?[]|&;<>()") != NULL;

		off += (size_t)snprintf(buf + off, len - off,
					quote ? " '%s'" : " %s", argv[i]);
	}
}

void bench_print_machine(FILE *f, const char *command)
{
	char date[64];
	time_t now = time(NULL);
	struct utsname u;
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S%z", &tm);
	fprintf(f, "date: %s\n", date);
	fprintf(f, "cores: %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
	if (uname(&u) == 0)
		fprintf(f, "kernel: %s %s %s\n", u.sysname, u.release,
			u.machine);
	if (command)
		fprintf(f, "command: %s\n", command);
}

long bench_rss_bytes(void)
{
	unsigned long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "re");
	int n;

	if (!f)
		return -1;
	n = fscanf(f, "%lu %lu", &size, &rss);
	fclose(f);
	return n == 2 ? (long)rss * sysconf(_SC_PAGESIZE) : -1;
}

long bench_kernel_stack_bytes(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "KernelStack: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

void bench_cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[512];

	buf[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *v = strchr(line, ':'), *end;

		if (strncmp(line, "model name", 10) != 0 || !v)
			continue;
		for (v++; *v == ' ' || *v == '\t'; v++)
			;
		end = v + strlen(v);
		while (end > v && (end[-1] == '\n' || end[-1] == ' ' ||
				   end[-1] == '\t'))
			*--end = '\0';
		snprintf(buf, len, "%s", v);
		break;
	}
	fclose(f);
}

/* ---------------------------------------------------------------------
 * Command-line helpers for the subcommands
 * ------------------------------------------------------------------- */

void bench_cmd_usage(const struct bench_cmd *cmd, FILE *to)
{
	fputs(cmd->usage, to);
}

/* Whether getopt stopped inside a bundle of short flags ("-qz") at `c`:
 * it then has not moved past the bundle yet. */
static bool in_bundle(char *const argv[], int c)
{
	const char *arg = argv[optind];

	return arg && arg[0] == '-' && arg[1] != '-' && strchr(arg + 1, c);
}

int bench_flag_error(const char *cmd, int c, char *const argv[])
{
	const char *last = optind > 0 ? argv[optind - 1] : "?";
	const char *sp = cmd ? " " : "";
	char flag[64];

	if (!cmd)
		cmd = "";
	if (c == ':') {
		/* getopt has moved past the flag that lacks its value. */
		fprintf(stderr, "threadlab%s%s: flag '%s' needs a value\n", sp,
			cmd, last);
	} else if (optopt > ' ' && optopt < 127 &&
		   (in_bundle(argv, optopt) || strncmp(last, "--", 2) != 0)) {
		/* An unknown short flag: getopt sets optopt to it. */
		fprintf(stderr, "threadlab%s%s: unknown flag '-%c'\n", sp, cmd,
			optopt);
	} else if (optopt != 0) {
		/* A known long flag given a value it does not take
		 * ("--help=x"): getopt sets optopt to the flag's code. */
		snprintf(flag, sizeof(flag), "%.*s", (int)strcspn(last, "="),
			 last);
		fprintf(stderr, "threadlab%s%s: flag '%s' takes no value\n", sp,
			cmd, flag);
	} else {
		/* An unknown (or ambiguous) long flag: optopt is 0. */
		fprintf(stderr, "threadlab%s%s: unknown flag '%s'\n", sp, cmd,
			last);
	}
	fprintf(stderr, "Run 'threadlab%s%s --help' for usage.\n", sp, cmd);
	return BENCH_EXIT_USAGE;
}

int bench_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "threadlab %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return BENCH_EXIT_USAGE;
}

int bench_describe_plan(const char *placement, int workers, char *buf,
			 size_t len)
{
	struct topo *t = calloc(1, sizeof(*t));
	struct topo_plan plan = { 0 };
	struct topo_policy pol;
	char err[256];
	size_t off;
	int r;

	if (!t)
		return -ENOMEM;
	r = topo_discover(t, err, sizeof(err));
	if (r == 0)
		r = topo_policy_select(&pol, placement, err, sizeof(err));
	if (r == 0)
		r = topo_plan_make(&plan, t, workers, &pol, err, sizeof(err));
	free(t);
	if (r < 0) {
		snprintf(buf, len, "%s", err);
		return r;
	}
	topo_policy_format(&pol, buf, len);
	off = strlen(buf);
	for (int i = 0; i < plan.nworkers && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s w%d cpu%d node%d",
					i ? "," : ":", i, plan.worker[i].cpu,
					plan.worker[i].node);
	topo_plan_free(&plan);
	return 0;
}

bool bench_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s || strlen(s) > 19)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

int bench_parse_hostport(const char *s, unsigned min_port,
			 struct sockaddr_storage *ss, socklen_t *len)
{
	const char *colon = strrchr(s, ':');
	char host[64];
	size_t hl;
	uint64_t port;

	if (!colon || !bench_parse_u64(colon + 1, min_port, 65535, &port))
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host,
		      &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, host,
		      &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

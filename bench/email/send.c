/*
 * `threadlab send`: deliver N emails to an SMTP server over C concurrent
 * sessions, in one of the threading models, and print the result in Go's
 * benchmark format — the same lines as the Go, PHP and Python peers
 * (bench/email/go, php, python), so all of them sit in one table:
 *
 *     model: clone
 *     emails: 1000
 *     concurrency: 8
 *     reuse: false
 *     size: 1024
 *     server: 127.0.0.1:2525
 *     threads: 9
 *     BenchmarkEmail/model=clone/conc=8/reuse=false-2	    1000	    123456 ns/op	       810.2 emails/s	       140.5 cpu-us/email
 *
 * ns/op is the wall time of the delivery per email and emails/s its
 * inverse; cpu-us/email is this process's user+sys CPU time
 * (getrusage(RUSAGE_SELF), every thread, the exited ones included) per
 * email. Both cover the delivery only, from just before the first
 * session starts to just after the last has been joined: flag parsing
 * and building the message are left out, as in the peers. The -N suffix
 * is the number of CPUs the process may run on (left off when 1, as Go
 * does). Numbers are printed the way Go's testing package prints them
 * (its prettyPrint), as the Go peer does.
 *
 * Every message must be answered 250 after its terminating dot. When any
 * is not, the benchmark line is replaced by
 *
 *     --- FAIL: BenchmarkEmail/...: K of N messages not accepted (first error: ...)
 *
 * (as Go's testing package prints a failed benchmark instead of its
 * result) and the exit status is 1. Bad flags: a message on stderr and
 * exit status 2; nothing on stdout.
 *
 * The message is smtp_message_generate's (the same bytes as the peers'),
 * built and dot-stuffed once; every session sends that one buffer.
 *
 * Shared state: struct bench_send_run, while a model runs (send.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench/bench.h"
#include "bench/email/send.h"
#include "bench/email/smtp.h"
#include "syscalls/sys.h"

#define MAX_EMAILS 1000000000ull
#define MAX_CONCURRENCY 65536u

static const char usage[] =
"usage: threadlab send --model M --emails N --concurrency C [--reuse]\n"
"                      [--server HOST:PORT] [--size BYTES]\n"
"\n"
"Deliver N emails to an SMTP server over C concurrent sessions and print\n"
"the settings and one result line in Go's benchmark format:\n"
"\n"
"  BenchmarkEmail/model=M/conc=C/reuse=R-P  N  ns/op  emails/s  cpu-us/email\n"
"\n"
"(wall time per email, emails per second, this process's user+sys CPU per\n"
"email; P is the number of CPUs the process may run on). Every message\n"
"must be answered 250 after its final dot; if any is not, a line\n"
"'--- FAIL: NAME: K of N messages not accepted (first error: ...)'\n"
"replaces the result and the exit status is 1.\n"
"\n"
"Models:\n"
"  clone     one raw kernel thread (clone(), sys_thread) per session,\n"
"            blocking socket calls\n"
"  pthread   the same with pthread_create\n"
"  rt        one rt/ task per session on one worker thread per CPU, every\n"
"            socket operation on the worker's io_uring; also prints\n"
"            io_uring_ops and io_uring_enter (totals over every ring)\n"
"\n"
"Flags:\n"
"  --model M          the threading model (required).\n"
"  --emails N         messages to deliver, 1 to 1000000000 (required).\n"
"  --concurrency C    sessions at once, 1 to 65536 (required); session i\n"
"                     of min(C, N) sends N/min(C, N) messages, one more\n"
"                     when i < N mod min(C, N).\n"
"  --reuse            send all of a session's messages over one connection\n"
"                     (MAIL again after each 250); without it every message\n"
"                     has its own connection and ends with QUIT.\n"
"  --server HOST:PORT the SMTP server (default 127.0.0.1:2525). HOST is a\n"
"                     numeric IPv4 address, [IPv6] or localhost.\n"
"  --size BYTES       message size before dot-stuffing, 2 to 67108864\n"
"                     (default 1024); the same message as the Go, PHP and\n"
"                     Python senders.\n"
"  -h, --help         print this help.\n"
"\n"
"A message that gets no reply within 30 s counts as not accepted.\n"
"Exit status: 0 all accepted, 1 some not, 2 bad flags.\n";

static const struct {
	const char *name;
	int (*run)(struct bench_send_run *run);
} models[] = {
	{ "clone", bench_send_clone },
	{ "pthread", bench_send_pthread },
	{ "rt", bench_send_rt },
};

#define N_MODELS (sizeof(models) / sizeof(models[0]))

void bench_send_error(struct bench_send_run *run, const char *fmt, ...)
{
	va_list ap;

	if (atomic_flag_test_and_set(&run->error_claimed))
		return;
	va_start(ap, fmt);
	vsnprintf(run->first_error, sizeof(run->first_error), fmt, ap);
	va_end(ap);
}



/* Go's testing.prettyPrint: a metric as a benchmark line prints it. */
static void pretty_print(double x, const char *unit)
{
	double y = fabs(x);

	if (y == 0 || y >= 999.95)
		printf("%10.0f %s", x, unit);
	else if (y >= 99.995)
		printf("%12.1f %s", x, unit);
	else if (y >= 9.9995)
		printf("%13.2f %s", x, unit);
	else if (y >= 0.99995)
		printf("%14.3f %s", x, unit);
	else if (y >= 0.099995)
		printf("%15.4f %s", x, unit);
	else if (y >= 0.0099995)
		printf("%16.5f %s", x, unit);
	else if (y >= 0.00099995)
		printf("%17.6f %s", x, unit);
	else
		printf("%18.7f %s", x, unit);
}

static int64_t cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
	       ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* Sockets are file descriptors: let thousands of sessions have one (Go
 * raises this limit the same way at start-up). */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

struct send_flags {
	int model;                       /* index in models[], -1: none */
	uint64_t emails, concurrency, size;
	bool reuse;
	const char *server;
};

static int parse_flags(int argc, char **argv, struct send_flags *f,
		       struct bench_send_run *run)
{
	enum { OPT_MODEL = 256, OPT_EMAILS, OPT_CONC, OPT_REUSE, OPT_SERVER,
	       OPT_SIZE };
	static const struct option longopts[] = {
		{ "model", required_argument, NULL, OPT_MODEL },
		{ "emails", required_argument, NULL, OPT_EMAILS },
		{ "concurrency", required_argument, NULL, OPT_CONC },
		{ "reuse", no_argument, NULL, OPT_REUSE },
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	optind = 0;     /* glibc: start afresh on this argv */
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_MODEL:
			f->model = -1;
			for (size_t i = 0; i < N_MODELS; i++)
				if (strcmp(optarg, models[i].name) == 0)
					f->model = (int)i;
			if (f->model < 0)
				return bench_usage_error("send",
					"unknown --model '%s': want clone, pthread or rt",
					optarg);
			break;
		case OPT_EMAILS:
			if (!bench_parse_u64(optarg, 1, MAX_EMAILS, &f->emails))
				return bench_usage_error("send",
					"invalid --emails '%s': want a whole number from 1 to %llu",
					optarg, MAX_EMAILS);
			break;
		case OPT_CONC:
			if (!bench_parse_u64(optarg, 1, MAX_CONCURRENCY,
					  &f->concurrency))
				return bench_usage_error("send",
					"invalid --concurrency '%s': want a whole number from 1 to %u",
					optarg, MAX_CONCURRENCY);
			break;
		case OPT_REUSE:
			f->reuse = true;
			break;
		case OPT_SERVER:
			f->server = optarg;
			if (bench_parse_hostport(optarg, 1, &run->addr, &run->addrlen) < 0)
				return bench_usage_error("send",
					"invalid --server '%s': want HOST:PORT with a numeric IPv4 address, [IPv6] or localhost, and a port from 1 to 65535",
					optarg);
			break;
		case OPT_SIZE:
			if (!bench_parse_u64(optarg, SMTP_MESSAGE_MIN,
					  SMTP_MESSAGE_MAX, &f->size))
				return bench_usage_error("send",
					"invalid --size '%s': want a whole number of bytes from %d to %u",
					optarg, SMTP_MESSAGE_MIN, SMTP_MESSAGE_MAX);
			break;
		case 'h':
			bench_cmd_usage(&bench_cmd_send, stdout);
			return -1;
		default:
			return bench_flag_error("send", c, argv);
		}
	}
	if (optind < argc)
		return bench_usage_error("send", "unexpected argument '%s'",
					 argv[optind]);
	if (f->model < 0)
		return bench_usage_error("send", "--model is required: clone, pthread or rt");
	if (!f->emails)
		return bench_usage_error("send", "--emails is required");
	if (!f->concurrency)
		return bench_usage_error("send", "--concurrency is required");
	return 0;
}

static int send_main(int argc, char **argv)
{
	struct send_flags f = {
		.model = -1, .size = 1024, .server = "127.0.0.1:2525",
	};
	static struct bench_send_run run;
	char name[160], *msg, *wire;
	uint64_t not_accepted;
	int64_t t0, t1, c0, c1;
	cpu_set_t set;
	int cpus = 1, r;

	memset(&run, 0, sizeof(run));
	atomic_flag_clear(&run.error_claimed);
	if (bench_parse_hostport(f.server, 1, &run.addr, &run.addrlen) < 0)
		sys_panic("send: the default server does not parse");
	r = parse_flags(argc, argv, &f, &run);
	if (r)
		return r < 0 ? BENCH_EXIT_OK : r;

	msg = malloc(f.size);
	wire = msg ? malloc(f.size + f.size / 2 + 8) : NULL;
	if (!wire) {
		free(msg);
		fprintf(stderr, "threadlab send: out of memory for a message of %llu bytes\n",
			(unsigned long long)f.size);
		return BENCH_EXIT_FAIL;
	}
	smtp_message_generate(msg, f.size);
	if (smtp_stuffed_size(msg, f.size) > f.size + f.size / 2 + 8)
		sys_panic("send: the stuffed message outgrew its buffer");
	run.emails = f.emails;
	run.concurrency = (unsigned)f.concurrency;
	run.reuse = f.reuse;
	run.server = f.server;
	run.size = f.size;
	run.wire = wire;
	run.wire_len = smtp_stuff(msg, f.size, wire);
	free(msg);
	if (bench_usable_cpus(&set) == 0)
		cpus = CPU_COUNT(&set);
	raise_nofile();

	t0 = sys_now_ns();
	c0 = cpu_ns();
	r = models[f.model].run(&run);
	c1 = cpu_ns();
	t1 = sys_now_ns();
	free(wire);
	if (r < 0)
		fprintf(stderr, "threadlab send: not every session started: %s\n",
			run.first_error);

	printf("model: %s\nemails: %llu\nconcurrency: %llu\nreuse: %s\n"
	       "size: %llu\nserver: %s\nthreads: %u\n", models[f.model].name,
	       (unsigned long long)f.emails, (unsigned long long)f.concurrency,
	       f.reuse ? "true" : "false", (unsigned long long)f.size,
	       f.server, run.threads);
	if (run.io_uring)
		printf("io_uring_ops: %llu\nio_uring_enter: %llu\n",
		       (unsigned long long)run.io_uring_ops,
		       (unsigned long long)run.io_uring_enter);
	snprintf(name, sizeof(name), "BenchmarkEmail/model=%s/conc=%llu/reuse=%s",
		 models[f.model].name, (unsigned long long)f.concurrency,
		 f.reuse ? "true" : "false");
	if (cpus != 1)
		snprintf(name + strlen(name), sizeof(name) - strlen(name),
			 "-%d", cpus);
	not_accepted = f.emails - atomic_load(&run.accepted);
	if (not_accepted > 0) {
		printf("--- FAIL: %s: %llu of %llu messages not accepted "
		       "(first error: %s)\n", name,
		       (unsigned long long)not_accepted,
		       (unsigned long long)f.emails,
		       run.first_error[0] ? run.first_error : "unknown");
		fflush(stdout);
		return BENCH_EXIT_FAIL;
	}
	printf("%s\t%8llu\t", name, (unsigned long long)f.emails);
	pretty_print((double)(t1 - t0) / (double)f.emails, "ns/op");
	putchar('\t');
	pretty_print((double)f.emails * 1e9 / (double)(t1 - t0), "emails/s");
	putchar('\t');
	pretty_print((double)(c1 - c0) / 1e3 / (double)f.emails, "cpu-us/email");
	putchar('\n');
	return fflush(stdout) == 0 ? BENCH_EXIT_OK : BENCH_EXIT_FAIL;
}

const struct bench_cmd bench_cmd_send = {
	.name = "send",
	.summary = "deliver N emails over SMTP with C sessions in a threading model",
	.usage = usage,
	.run = send_main,
};

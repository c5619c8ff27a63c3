/*
 * `threadlab topo`: the machine's NUMA layout (or the emulated one), the
 * distance matrix, and the placement plan with each worker's steal order,
 * in a form to paste into a bug report: it starts with the kernel, the
 * CPU model and the settings that shaped it (THREADLAB_TOPOLOGY,
 * THREADLAB_PLACEMENT, the flags), and the layout ends with the
 * THREADLAB_TOPOLOGY value that reproduces it on any machine.
 * docs/numa.md explains how to read it.
 *
 * Shared state: none (main thread only).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "bench/bench.h"
#include "numa/topo.h"

static const char usage[] =
"usage: threadlab topo [--workers N] [--policy P] [--topology SPEC]\n"
"\n"
"Print the NUMA topology threadlab sees (where it came from: libnuma,\n"
"sysfs, a one-node fallback, or THREADLAB_TOPOLOGY), every node's CPUs and\n"
"memory, the distance matrix, and the placement plan: which worker runs on\n"
"which CPU of which node, and the order in which each idle worker steals\n"
"from the others (its own node first, then nearer nodes first).\n"
"\n"
"Flags:\n"
"  --workers N      plan N workers (default 0: one per CPU the policy uses;\n"
"                   more workers than CPUs wrap around).\n"
"  --policy P       compact, spread or node=N (default: THREADLAB_PLACEMENT,\n"
"                   else compact).\n"
"  --topology SPEC  emulate this layout, as THREADLAB_TOPOLOGY=SPEC would\n"
"                   (the flag wins over the variable), e.g. 0:0-7,1:8-15 or\n"
"                   0:0-3+8-11,1:4-7+12-15@10,21;21,10\n"
"  -h, --help       print this help.\n"
"\n"
"Environment:\n"
"  THREADLAB_TOPOLOGY   NODE:CPUS[,NODE:CPUS...][@MATRIX]: an emulated layout\n"
"                       (CPUS: ranges joined by '+'; MATRIX: distances, ','\n"
"                       between entries, ';' between rows). See docs/numa.md.\n"
"  THREADLAB_PLACEMENT  the policy, when --policy is not given.\n"
"\n"
"Exit status: 0, or 2 for a bad flag or a malformed variable (the message\n"
"shows the expected form), 1 if the machine's layout cannot be read.\n";

static int parse_workers(const char *s, int *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v > TOPO_MAX_WORKERS)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static void print_header(const char *policy_flag, const char *topo_flag,
			 int workers)
{
	const char *env_t = getenv("THREADLAB_TOPOLOGY");
	const char *env_p = getenv("THREADLAB_PLACEMENT");
	struct utsname u;
	char model[256];

	printf("threadlab topo");
	if (workers)
		printf(" --workers %d", workers);
	if (policy_flag)
		printf(" --policy %s", policy_flag);
	if (topo_flag)
		printf(" --topology '%s'", topo_flag);
	printf("\n");
	if (uname(&u) == 0)
		printf("kernel: %s %s %s\n", u.sysname, u.release, u.machine);
	bench_cpu_model(model, sizeof(model));
	printf("cpu: %s\n", model[0] ? model : "unknown");
	printf("THREADLAB_TOPOLOGY: %s%s%s\n", env_t ? "'" : "",
	       env_t ? env_t : "(unset)", env_t ? "'" : "");
	printf("THREADLAB_PLACEMENT: %s%s%s\n", env_p ? "'" : "",
	       env_p ? env_p : "(unset)", env_p ? "'" : "");
}

static int topo_main(int argc, char **argv)
{
	enum { OPT_WORKERS = 256, OPT_POLICY, OPT_TOPOLOGY };
	static const struct option longopts[] = {
		{ "workers", required_argument, NULL, OPT_WORKERS },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "topology", required_argument, NULL, OPT_TOPOLOGY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *policy_flag = NULL, *topo_flag = NULL;
	struct topo_policy pol;
	struct topo_plan plan;
	struct topo *t;
	char err[2048];
	int workers = 0, c, r;

	opterr = 0;
	optind = 0;     /* glibc: start afresh on this argv */
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_WORKERS:
			if (parse_workers(optarg, &workers) < 0)
				return bench_usage_error("topo",
					"invalid --workers '%s': want a whole number from 0 (one per CPU) to %d",
					optarg, TOPO_MAX_WORKERS);
			break;
		case OPT_POLICY:
			policy_flag = optarg;
			break;
		case OPT_TOPOLOGY:
			topo_flag = optarg;
			break;
		case 'h':
			bench_cmd_usage(&bench_cmd_topo, stdout);
			return BENCH_EXIT_OK;
		default:
			return bench_flag_error("topo", c, argv);
		}
	}
	if (optind < argc)
		return bench_usage_error("topo", "unexpected argument '%s'",
					 argv[optind]);

	/* Every input is checked before anything is printed, so that a
	 * usage error leaves stdout empty. */
	if (topo_policy_select(&pol, policy_flag, err, sizeof(err)) < 0)
		return bench_usage_error("topo", "%s", err);
	t = malloc(sizeof(*t));
	if (!t) {
		fprintf(stderr, "threadlab topo: out of memory\n");
		return BENCH_EXIT_FAIL;
	}
	if (topo_flag)
		r = topo_parse(t, topo_flag, err, sizeof(err));
	else
		r = topo_discover(t, err, sizeof(err));
	if (r < 0) {
		free(t);
		if (r == -EINVAL)
			return bench_usage_error("topo", "%s", err);
		fprintf(stderr, "threadlab topo: %s\n", err);
		return BENCH_EXIT_FAIL;
	}
	r = topo_plan_make(&plan, t, workers, &pol, err, sizeof(err));
	if (r < 0) {
		free(t);
		if (r == -EINVAL)
			return bench_usage_error("topo", "%s", err);
		fprintf(stderr, "threadlab topo: cannot plan: %s\n",
			strerror(-r));
		return BENCH_EXIT_FAIL;
	}

	print_header(policy_flag, topo_flag, workers);
	printf("\n");
	topo_print(stdout, t);
	printf("\n");
	topo_plan_print(stdout, &plan);
	topo_plan_free(&plan);
	free(t);
	return fflush(stdout) == 0 ? BENCH_EXIT_OK : BENCH_EXIT_FAIL;
}

const struct bench_cmd bench_cmd_topo = {
	.name = "topo",
	.summary = "print the NUMA topology, distances and placement plan",
	.usage = usage,
	.run = topo_main,
};

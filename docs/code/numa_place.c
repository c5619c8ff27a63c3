/*
 * numa_place — what a placement plan does to a program, seen from outside
 * (docs/numa.md). Run by docs/code/numa-examples.sh.
 *
 *     numa_place [WORKERS] [MIB] [pinned|unpinned]
 *
 * Reads the topology (THREADLAB_TOPOLOGY emulates one) and the policy
 * (THREADLAB_PLACEMENT), makes the plan, and starts WORKERS raw threads
 * (sys_thread). Each takes MIB MiB from topo_alloc_on_node on the node the
 * plan gives it, touches every page, then walks its memory a few times
 * noting the CPUs it found itself on. "pinned" gives each thread the plan's
 * CPU; "unpinned" lets the kernel put it anywhere (its memory still comes
 * from the planned node: the mismatch is the point).
 *
 * It prints, per worker, the planned CPU and node, the CPUs it ran on and
 * how many of its pages are on which node (get_mempolicy per page), then
 * the change in the kernel's per-node allocation counters over the run —
 * /sys/devices/system/node/node*\/numastat, what `numastat` prints.
 *
 * Shared state: each worker writes only its own struct result, which the
 * main thread reads after joining it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numa/topo.h"
#include "syscalls/sys.h"

#define WALKS 8
#define MAX_NODES_SHOWN 8

struct result {
	const struct topo_worker *plan;
	size_t bytes;
	cpu_set_t ran_on;
	long pages_on[MAX_NODES_SHOWN + 1];  /* last: other/unknown */
	int err;
};

static void *worker(void *arg)
{
	struct result *r = arg;
	size_t page = 4096;
	volatile unsigned char *mem;
	unsigned long sum = 0;

	CPU_ZERO(&r->ran_on);
	mem = topo_alloc_on_node(r->bytes, r->plan->mem_node, &r->err);
	if (!mem)
		return NULL;
	for (size_t off = 0; off < r->bytes; off += page)
		mem[off] = 1;
	for (int walk = 0; walk < WALKS; walk++) {
		for (size_t off = 0; off < r->bytes; off += 64)
			sum += mem[off];
		CPU_SET(sched_getcpu(), &r->ran_on);
	}
	for (size_t off = 0; off < r->bytes; off += page) {
		int node = topo_node_of_addr((const void *)(mem + off));

		if (node >= 0 && node < MAX_NODES_SHOWN)
			r->pages_on[node]++;
		else
			r->pages_on[MAX_NODES_SHOWN]++;
	}
	topo_free((void *)mem, r->bytes);
	return (void *)sum;
}

/* numa_hit numa_miss local_node other_node of one node, or -1s. */
static void read_numastat(int node, long long v[4])
{
	static const char *const keys[4] = {
		"numa_hit", "numa_miss", "local_node", "other_node",
	};
	char path[96], key[64];
	long long val;
	FILE *f;

	for (int i = 0; i < 4; i++)
		v[i] = -1;
	snprintf(path, sizeof(path),
		 "/sys/devices/system/node/node%d/numastat", node);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fscanf(f, "%63s %lld", key, &val) == 2)
		for (int i = 0; i < 4; i++)
			if (strcmp(key, keys[i]) == 0)
				v[i] = val;
	fclose(f);
}

int main(int argc, char **argv)
{
	int nworkers = argc > 1 ? atoi(argv[1]) : 0;
	size_t mib = argc > 2 ? (size_t)atoi(argv[2]) : 16;
	bool pinned = argc <= 3 || strcmp(argv[3], "unpinned") != 0;
	static struct topo t, real;
	static long long before[TOPO_MAX_NODES][4], after[TOPO_MAX_NODES][4];
	struct topo_policy pol;
	struct topo_plan plan;
	struct sys_thread *th;
	struct result *res;
	char err[2048], buf[256];

	if (topo_discover(&t, err, sizeof(err)) < 0 ||
	    topo_policy_select(&pol, NULL, err, sizeof(err)) < 0 ||
	    topo_plan_make(&plan, &t, nworkers, &pol, err, sizeof(err)) < 0) {
		fprintf(stderr, "numa_place: %s\n", err);
		return 2;
	}
	if (topo_discover_real(&real) < 0)
		return 1;
	topo_policy_format(&pol, buf, sizeof(buf));
	printf("numa_place: %d workers, %zu MiB each, %s, policy %s, "
	       "topology %s, real nodes %d\n", plan.nworkers, mib,
	       pinned ? "pinned" : "unpinned", buf,
	       topo_source_name(t.source), real.nnodes);

	th = calloc((size_t)plan.nworkers, sizeof(*th));
	res = calloc((size_t)plan.nworkers, sizeof(*res));
	if (!th || !res)
		return 1;
	for (int i = 0; i < real.nnodes; i++)
		read_numastat(real.node[i].id, before[i]);
	for (int w = 0; w < plan.nworkers; w++) {
		cpu_set_t cpus;
		struct sys_thread_attr attr = { .cpus = pinned ? &cpus : NULL };
		int r;

		topo_plan_cpuset(&plan, w, &cpus);
		res[w].plan = &plan.worker[w];
		res[w].bytes = mib << 20;
		r = sys_thread_spawn(&th[w], &attr, worker, &res[w]);
		if (r < 0) {
			fprintf(stderr, "numa_place: spawn: %s\n", strerror(-r));
			return 1;
		}
	}
	for (int w = 0; w < plan.nworkers; w++)
		sys_thread_join(&th[w], NULL);
	for (int i = 0; i < real.nnodes; i++)
		read_numastat(real.node[i].id, after[i]);

	printf("worker  cpu  node  real_cpu  mem_node  ran_on  pages by node\n");
	for (int w = 0; w < plan.nworkers; w++) {
		const struct topo_worker *wk = &plan.worker[w];

		topo_format_cpus(&res[w].ran_on, buf, sizeof(buf));
		printf("%6d %4d %5d %9d %9d  %-6s", w, wk->cpu, wk->node,
		       wk->real_cpu, wk->mem_node, buf);
		if (res[w].err)
			printf("  alloc failed: %s", strerror(-res[w].err));
		for (int n = 0; n <= MAX_NODES_SHOWN; n++)
			if (res[w].pages_on[n])
				printf("  %s%d:%ld", n < MAX_NODES_SHOWN ?
				       "node" : "other", n, res[w].pages_on[n]);
		printf("\n");
	}
	printf("numastat change over the run (numa_hit numa_miss "
	       "local_node other_node, in pages):\n");
	for (int i = 0; i < real.nnodes; i++) {
		printf("  node%d:", real.node[i].id);
		for (int k = 0; k < 4; k++)
			printf(" %+lld", before[i][k] < 0 ? 0 :
			       after[i][k] - before[i][k]);
		printf("\n");
	}
	topo_plan_free(&plan);
	free(th);
	free(res);
	return 0;
}

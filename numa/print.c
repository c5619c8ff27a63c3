/*
 * numa/print.c — a topology and a plan as text, for people and for bug
 * reports: every line says what it is, the layout ends with the
 * THREADLAB_TOPOLOGY value that reproduces it anywhere, and the plan names
 * its policy and worker count. docs/numa.md explains how to read it.
 *
 * No shared state.
 */
#include <stdio.h>
#include <stdlib.h>

#include "numa/internal.h"

static void print_mem(FILE *f, int64_t bytes)
{
	if (bytes < 0)
		fprintf(f, " %10s", "-");
	else
		fprintf(f, " %6lld MiB", (long long)(bytes >> 20));
}

void topo_print(FILE *f, const struct topo *t)
{
	char buf[8192];
	int width = 4;

	fprintf(f, "topology: %s", topo_source_name(t->source));
	if (t->source == TOPO_SOURCE_EMULATED)
		fprintf(f, ", run on the real layout from %s",
			topo_source_name(t->real_source));
	fprintf(f, "\n");
	topo_format_cpus(&t->usable, buf, sizeof(buf));
	fprintf(f, "nodes: %d  cpus: %d  usable here: %s (%d)\n", t->nnodes,
		t->ncpus, buf, CPU_COUNT(&t->usable));
	if (t->source == TOPO_SOURCE_EMULATED)
		fprintf(f, "cpu map: %s\n", t->cpu_map_identity ?
			"identity (every CPU of the layout exists here)" :
			"k-th CPU of the layout runs on the (k mod usable)-th "
			"usable CPU");

	for (int i = 0; i < t->nnodes; i++) {
		int n = topo_format_cpus(&t->node[i].cpus, buf, sizeof(buf));

		if (n > width)
			width = n;
	}
	if (width > 40)
		width = 40;
	fprintf(f, "node  %-*s  ncpus   mem_total    mem_free  runs on\n",
		width, "cpus");
	for (int i = 0; i < t->nnodes; i++) {
		const struct topo_node *n = &t->node[i];
		cpu_set_t on;

		CPU_ZERO(&on);
		for (int c = 0; c < TOPO_MAX_CPUS; c++)
			if (CPU_ISSET(c, &n->cpus) && t->real_cpu[c] >= 0)
				CPU_SET(t->real_cpu[c], &on);
		topo_format_cpus(&n->cpus, buf, sizeof(buf));
		fprintf(f, "%4d  %-*s  %5d", n->id, width, buf, n->ncpus);
		print_mem(f, n->mem_total);
		print_mem(f, n->mem_free);
		topo_format_cpus(&on, buf, sizeof(buf));
		fprintf(f, "  %s\n", buf);
	}

	fprintf(f, "distance (row: from, column: to)\n    ");
	for (int j = 0; j < t->nnodes; j++)
		fprintf(f, " %4d", t->node[j].id);
	fprintf(f, "\n");
	for (int i = 0; i < t->nnodes; i++) {
		fprintf(f, "%4d", t->node[i].id);
		for (int j = 0; j < t->nnodes; j++)
			fprintf(f, " %4d", t->distance[i][j]);
		fprintf(f, "\n");
	}
	if (topo_format_spec(t, buf, sizeof(buf)) >= 0)
		fprintf(f, "reproduce: THREADLAB_TOPOLOGY='%s'\n", buf);
	else
		fprintf(f, "reproduce: (layout too long to print)\n");
}

void topo_plan_print(FILE *f, const struct topo_plan *plan)
{
	char pol[32];
	int *order;

	topo_policy_format(&plan->policy, pol, sizeof(pol));
	fprintf(f, "plan: policy %s, %d workers on %d CPUs%s\n", pol,
		plan->nworkers, plan->nslots,
		plan->nworkers > plan->nslots ?
		" (wrapped: worker w shares the CPU of worker w mod CPUs)" :
		"");
	fprintf(f, "worker   cpu  node  real_cpu  mem_node  lap\n");
	for (int w = 0; w < plan->nworkers; w++) {
		const struct topo_worker *wk = &plan->worker[w];

		fprintf(f, "%6d  %4d  %4d  %8d  %8d  %3d\n", w, wk->cpu,
			wk->node, wk->real_cpu, wk->mem_node, wk->lap);
	}

	order = malloc(sizeof(int) * (size_t)plan->nworkers);
	if (!order)
		return;
	fprintf(f, "steal order (own node first, then nodes by distance; "
		"[node:distance] workers)\n");
	for (int w = 0; w < plan->nworkers; w++) {
		int n = topo_steal_order(plan, w, order, plan->nworkers);
		int own = plan->worker[w].node_index, prev = -1;

		fprintf(f, "%6d:", w);
		if (n == 0)
			fprintf(f, " (no other worker)");
		for (int k = 0; k < n; k++) {
			int ni = plan->worker[order[k]].node_index;

			if (ni != prev)
				fprintf(f, "%s [%d:%d]", prev < 0 ? "" : " |",
					plan->node_id[ni],
					plan->distance[(size_t)own *
						       plan->nnodes + ni]);
			fprintf(f, " %d", order[k]);
			prev = ni;
		}
		fprintf(f, "\n");
	}
	free(order);
}

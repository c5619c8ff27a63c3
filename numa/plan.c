/*
 * numa/plan.c — the placement plan and the steal order.
 *
 * A policy turns the topology's usable CPUs into an ordered list of slots
 * (topo.h says in which order for each policy); worker w takes slot
 * w mod nslots. The plan copies the node ids and the distance matrix it
 * needs, so that the steal order can be computed from the plan alone.
 *
 * Invariants of a made plan: 0 < nworkers <= TOPO_MAX_WORKERS; every
 * worker's real_cpu is a CPU that was usable when the topology was read;
 * worker[w].node_index < nnodes.
 *
 * No shared state: a plan belongs to its maker; steal orders only read it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "numa/internal.h"

/* The usable CPUs of every node, node after node, CPUs increasing:
 * cpus[first[i] .. first[i + 1]) belong to node i. */
struct by_node {
	int *cpus;
	int first[TOPO_MAX_NODES + 1];
};

static int collect(const struct topo *t, struct by_node *b)
{
	int k = 0;

	b->cpus = malloc(sizeof(int) * (size_t)(t->ncpus > 0 ? t->ncpus : 1));
	if (!b->cpus)
		return -ENOMEM;
	for (int i = 0; i < t->nnodes; i++) {
		b->first[i] = k;
		for (int c = 0; c < TOPO_MAX_CPUS && k < t->ncpus; c++)
			if (CPU_ISSET(c, &t->node[i].cpus) &&
			    t->real_cpu[c] >= 0)
				b->cpus[k++] = c;
	}
	b->first[t->nnodes] = k;
	return 0;
}

/* Fill slots[] (CPU and node position) under the policy; their count, or
 * -EINVAL with a message. */
static int make_slots(const struct topo *t, const struct by_node *b,
		      const struct topo_policy *pol, int *cpu, int *node,
		      char *err, size_t errlen)
{
	int n = 0, idx, most = 0;

	switch (pol->kind) {
	case TOPO_POLICY_COMPACT:
		for (int i = 0; i < t->nnodes; i++)
			for (int k = b->first[i]; k < b->first[i + 1]; k++) {
				cpu[n] = b->cpus[k];
				node[n++] = i;
			}
		break;
	case TOPO_POLICY_SPREAD:
		for (int i = 0; i < t->nnodes; i++)
			if (b->first[i + 1] - b->first[i] > most)
				most = b->first[i + 1] - b->first[i];
		for (int r = 0; r < most; r++)
			for (int i = 0; i < t->nnodes; i++)
				if (b->first[i] + r < b->first[i + 1]) {
					cpu[n] = b->cpus[b->first[i] + r];
					node[n++] = i;
				}
		break;
	case TOPO_POLICY_NODE:
		idx = topo_node_index(t, pol->node);
		if (idx < 0)
			return topo__fail(err, errlen, "placement node=%d: "
					  "the topology has no node %d",
					  pol->node, pol->node);
		for (int k = b->first[idx]; k < b->first[idx + 1]; k++) {
			cpu[n] = b->cpus[k];
			node[n++] = idx;
		}
		if (n == 0)
			return topo__fail(err, errlen, "placement node=%d: "
					  "node %d has no CPU to run a worker "
					  "on", pol->node, pol->node);
		break;
	default:
		return topo__fail(err, errlen, "placement: unknown policy %d",
				  (int)pol->kind);
	}
	if (n == 0)
		return topo__fail(err, errlen, "placement: no CPU of the "
				  "topology is usable by this process");
	return n;
}

int topo_plan_make(struct topo_plan *plan, const struct topo *t,
		   int nworkers, const struct topo_policy *pol,
		   char *err, size_t errlen)
{
	static const struct topo_policy compact = { TOPO_POLICY_COMPACT, 0 };
	struct by_node b;
	int *slot_cpu = NULL, *slot_node = NULL;
	int nslots, nn = t->nnodes, r;

	memset(plan, 0, sizeof(*plan));
	plan->policy = pol ? *pol : compact;
	if (nworkers < 0 || nworkers > TOPO_MAX_WORKERS)
		return topo__fail(err, errlen, "placement: %d workers; "
				  "expected 0 (one per CPU) to %d", nworkers,
				  TOPO_MAX_WORKERS);
	r = collect(t, &b);
	if (r < 0)
		return r;
	slot_cpu = malloc(sizeof(int) * (size_t)(t->ncpus + 1));
	slot_node = malloc(sizeof(int) * (size_t)(t->ncpus + 1));
	if (!slot_cpu || !slot_node) {
		r = -ENOMEM;
		goto out_free_slots;
	}
	r = make_slots(t, &b, &plan->policy, slot_cpu, slot_node, err,
		       errlen);
	if (r < 0)
		goto out_free_slots;
	nslots = r;
	if (nworkers == 0)
		nworkers = nslots;

	r = -ENOMEM;
	plan->worker = calloc((size_t)nworkers, sizeof(*plan->worker));
	plan->node_id = calloc((size_t)nn, sizeof(int));
	plan->distance = malloc((size_t)nn * (size_t)nn);
	if (!plan->worker || !plan->node_id || !plan->distance)
		goto out_free_plan;
	for (int w = 0; w < nworkers; w++) {
		struct topo_worker *wk = &plan->worker[w];
		int s = w % nslots;

		wk->cpu = slot_cpu[s];
		wk->node_index = slot_node[s];
		wk->node = t->node[wk->node_index].id;
		wk->real_cpu = t->real_cpu[wk->cpu];
		wk->mem_node = t->real_node[wk->real_cpu];
		wk->lap = w / nslots;
	}
	for (int i = 0; i < nn; i++) {
		plan->node_id[i] = t->node[i].id;
		memcpy(plan->distance + (size_t)i * nn, t->distance[i],
		       (size_t)nn);
	}
	plan->nworkers = nworkers;
	plan->nslots = nslots;
	plan->nnodes = nn;
	r = 0;
	goto out_free_slots;

out_free_plan:
	topo_plan_free(plan);
	plan->policy = pol ? *pol : compact;
out_free_slots:
	free(slot_cpu);
	free(slot_node);
	free(b.cpus);
	return r;
}

void topo_plan_free(struct topo_plan *plan)
{
	free(plan->worker);
	free(plan->node_id);
	free(plan->distance);
	memset(plan, 0, sizeof(*plan));
}

int topo_plan_cpuset(const struct topo_plan *plan, int w, cpu_set_t *set)
{
	if (w < 0 || w >= plan->nworkers)
		return -EINVAL;
	CPU_ZERO(set);
	CPU_SET(plan->worker[w].real_cpu, set);
	return 0;
}

int topo_steal_order(const struct topo_plan *plan, int w, int *order,
		     int cap)
{
	int nodes[TOPO_MAX_NODES];
	int nn = plan->nnodes, n = plan->nworkers, own, count = 0;
	const uint8_t *dist;

	if (w < 0 || w >= n)
		return -EINVAL;
	own = plan->worker[w].node_index;
	dist = plan->distance + (size_t)own * nn;

	/* Own node first whatever the matrix says (a firmware table may
	 * call a remote node as near as the local one); then the others by
	 * distance from own, ties in cyclic order of position after own.
	 * An insertion sort, stable: there are at most 64 nodes. */
	nodes[0] = own;
	for (int k = 1; k < nn; k++) {
		int j = (own + k) % nn, at = k;

		while (at > 1 && dist[nodes[at - 1]] > dist[j]) {
			nodes[at] = nodes[at - 1];
			at--;
		}
		nodes[at] = j;
	}
	for (int k = 0; k < nn; k++)
		for (int step = 1; step < n; step++) {
			int v = (w + step) % n;

			if (plan->worker[v].node_index != nodes[k])
				continue;
			if (count < cap)
				order[count] = v;
			count++;
		}
	return count;
}

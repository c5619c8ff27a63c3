/*
 * test_place: the plan on this machine. Raw threads (sys_thread) pinned
 * by a plan run on the CPU it planned (sched_getcpu and getcpu agree, the
 * affinity mask holds that CPU alone), under every policy, with more
 * workers than CPUs, and for emulated layouts mapped onto this machine;
 * memory from topo_alloc_on_node is on the asked node (get_mempolicy with
 * MPOL_F_NODE|MPOL_F_ADDR after touching it) and carries the preferred
 * policy, also when a pinned worker allocates it for itself; bad input.
 * A test that needs a second real node is skipped on a one-node machine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "numa/topo.h"
#include "syscalls/sys.h"

#define ROUNDS 10
#define CHECKS 50               /* sched_getcpu checks per worker */
#define WORKER_MEM (64u * 1024)

static struct topo tb;

struct report {
	int want_cpu;
	int mem_node;
	int cpu_mismatch;       /* sched_getcpu != want_cpu, count */
	int getcpu_mismatch;    /* sys_getcpu != want_cpu, count */
	int mask_cpus;          /* CPUs in the thread's affinity mask */
	int mask_has_cpu;
	int mem_err;            /* topo_alloc_on_node's error, 0 */
	int mem_node_seen;      /* node of the worker's memory */
};

static void *worker(void *arg)
{
	struct report *r = arg;
	cpu_set_t mask;
	unsigned char *mem;

	for (int i = 0; i < CHECKS; i++) {
		if (sched_getcpu() != r->want_cpu)
			r->cpu_mismatch++;
		if (sys_getcpu() != r->want_cpu)
			r->getcpu_mismatch++;
		if (i % 10 == 0)
			sys_sched_yield();
	}
	if (sys_sched_getaffinity(0, &mask) == 0) {
		r->mask_cpus = CPU_COUNT(&mask);
		r->mask_has_cpu = CPU_ISSET(r->want_cpu, &mask);
	}
	/* The worker's own memory (what a stack pool would take), from the
	 * node the plan gives it, touched by the worker itself. */
	mem = topo_alloc_on_node(WORKER_MEM, r->mem_node, &r->mem_err);
	if (mem) {
		memset(mem, 0x5a, WORKER_MEM);
		r->mem_node_seen = topo_node_of_addr(mem);
		topo_free(mem, WORKER_MEM);
	}
	return NULL;
}

static void run_plan(const struct topo *t, const char *policy, int n)
{
	struct topo_policy pol;
	struct topo_plan plan;
	struct sys_thread *th;
	struct report *rep;
	char err[512];

	assert_int_equal(topo_policy_parse(&pol, policy, err, sizeof(err)), 0);
	if (topo_plan_make(&plan, t, n, &pol, err, sizeof(err)) != 0)
		fail_msg("plan %s %d: %s", policy, n, err);
	n = plan.nworkers;
	th = calloc((size_t)n, sizeof(*th));
	rep = calloc((size_t)n, sizeof(*rep));
	assert_non_null(th);
	assert_non_null(rep);

	for (int w = 0; w < n; w++) {
		cpu_set_t cpus;
		struct sys_thread_attr attr = { .cpus = &cpus };

		assert_int_equal(topo_plan_cpuset(&plan, w, &cpus), 0);
		rep[w].want_cpu = plan.worker[w].real_cpu;
		rep[w].mem_node = plan.worker[w].mem_node;
		rep[w].mem_node_seen = -100;
		assert_int_equal(sys_thread_spawn(&th[w], &attr, worker,
						  &rep[w]), 0);
	}
	for (int w = 0; w < n; w++) {
		struct report *r = &rep[w];

		assert_int_equal(sys_thread_join(&th[w], NULL), 0);
		if (r->cpu_mismatch || r->getcpu_mismatch)
			fail_msg("%s worker %d pinned to CPU %d: sched_getcpu "
				 "differed %d times, getcpu %d times", policy,
				 w, r->want_cpu, r->cpu_mismatch,
				 r->getcpu_mismatch);
		assert_int_equal(r->mask_cpus, 1);
		assert_true(r->mask_has_cpu);
		assert_int_equal(r->mem_err, 0);
		if (r->mem_node >= 0)
			assert_int_equal(r->mem_node_seen, r->mem_node);
		else
			assert_true(r->mem_node_seen >= 0);
	}
	free(th);
	free(rep);
	topo_plan_free(&plan);
}

static void pinned_real_layout(void **state)
{
	static const char *const policies[] = { "compact", "spread", "node=0" };
	char err[512];
	int ncpu;

	assert_int_equal(topo_discover_real(&tb), 0);
	ncpu = CPU_COUNT(&tb.usable);
	for (int round = 0; round < ROUNDS; round++)
		for (int p = 0; p < 3; p++) {
			struct topo_policy pol;

			assert_int_equal(topo_policy_parse(&pol, policies[p],
							   err, sizeof(err)),
					 0);
			/* node=0 needs node 0 to have a usable CPU. */
			if (pol.kind == TOPO_POLICY_NODE) {
				int i = topo_node_index(&tb, 0);
				bool any = false;

				for (int c = 0; i >= 0 && c < TOPO_MAX_CPUS; c++)
					if (CPU_ISSET(c, &tb.node[i].cpus) &&
					    tb.real_cpu[c] >= 0)
						any = true;
				if (!any)
					continue;
			}
			run_plan(&tb, policies[p], 0);
			run_plan(&tb, policies[p], 1);
			run_plan(&tb, policies[p], 2 * ncpu + 1);
		}
}

static void pinned_emulated_layouts(void **state)
{
	static const struct {
		const char *spec, *policy;
		int n;
	} cases[] = {
		{ "0:0-7,1:8-15", "spread", 16 },
		{ "0:0-7,1:8-15", "compact", 20 },
		{ "0:0-7,1:8-15", "node=1", 3 },
		{ "0:0-1,1:2-3,2:4-5,3:6-7@10,12,20,30;25,10,14,20;"
		  "20,14,10,12;30,20,12,10", "spread", 8 },
		{ "0:0-3,1:,2:4-7", "compact", 0 },
		{ "0:200-203,5:900", "spread", 7 },
	};
	char err[1024];

	for (int round = 0; round < ROUNDS; round++)
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			if (topo_parse(&tb, cases[i].spec, err, sizeof(err)))
				fail_msg("%s: %s", cases[i].spec, err);
			run_plan(&tb, cases[i].policy, cases[i].n);
		}
}

/* ------------------------------------------------------------------ */

static void check_on_node(void *p, size_t size, int node)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned long mask[TOPO_MAX_NODES / 64] = { 0 };
	int mode = -1;

	memset(p, 0xa5, size);
	for (size_t off = 0; off < size; off += (size_t)page) {
		int got = -1;

		assert_int_equal(get_mempolicy(&got, NULL, 0,
					       (char *)p + off,
					       MPOL_F_NODE | MPOL_F_ADDR), 0);
		if (got != node)
			fail_msg("page at offset %zu is on node %d, asked %d",
				 off, got, node);
	}
	assert_int_equal(topo_node_of_addr(p), node);
	/* The mapping carries the preferred policy for that node. */
	assert_int_equal(get_mempolicy(&mode, mask, TOPO_MAX_NODES, p,
				       MPOL_F_ADDR), 0);
	assert_int_equal(mode, MPOL_PREFERRED);
	for (int n = 0; n < TOPO_MAX_NODES; n++)
		assert_int_equal(!!(mask[n / 64] & (1ul << (n % 64))),
				 n == node);
}

static void memory_on_each_node(void **state)
{
	static const size_t sizes[] = { 1, 4096, 100000, 4u << 20 };

	if (numa_available() < 0) {
		skip();         /* no NUMA in this kernel: no policy to see */
		return;
	}
	assert_int_equal(topo_discover_real(&tb), 0);
	for (int i = 0; i < tb.nnodes; i++) {
		int node = tb.node[i].id;

		if (tb.node[i].mem_total <= 0)
			continue;       /* a node without memory */
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			int err = 1;
			void *p = topo_alloc_on_node(sizes[s], node, &err);

			assert_non_null(p);
			assert_int_equal(err, 1);  /* untouched on success */
			check_on_node(p, sizes[s], node);
			assert_int_equal(topo_free(p, sizes[s]), 0);
		}
	}
}

static void memory_on_second_node(void **state)
{
	int with_mem = 0, last = -1;

	if (numa_available() < 0) {
		skip();
		return;
	}
	assert_int_equal(topo_discover_real(&tb), 0);
	for (int i = 0; i < tb.nnodes; i++)
		if (tb.node[i].mem_total > 0) {
			with_mem++;
			last = tb.node[i].id;
		}
	if (with_mem < 2) {
		skip();         /* one node with memory: nothing to tell apart */
		return;
	}
	{
		void *p = topo_alloc_on_node(1 << 20, last, NULL);

		assert_non_null(p);
		check_on_node(p, 1 << 20, last);
		topo_free(p, 1 << 20);
	}
}

static void memory_without_node(void **state)
{
	int mode = -1;
	char *p = topo_alloc_on_node(10000, -1, NULL);

	assert_non_null(p);
	memset(p, 1, 10000);
	assert_true(topo_node_of_addr(p) >= 0);
	if (numa_available() >= 0) {
		assert_int_equal(get_mempolicy(&mode, NULL, 0, p, MPOL_F_ADDR),
				 0);
		assert_int_equal(mode, MPOL_DEFAULT);
	}
	assert_int_equal(topo_free(p, 10000), 0);
}

static void memory_bad_input(void **state)
{
	int err = 0;

	assert_null(topo_alloc_on_node(0, 0, &err));
	assert_int_equal(err, -EINVAL);
	err = 0;
	assert_null(topo_alloc_on_node(4096, TOPO_MAX_NODES, &err));
	assert_int_equal(err, -EINVAL);
	err = 0;
	assert_null(topo_alloc_on_node(SIZE_MAX, 0, &err));
	assert_int_equal(err, -EINVAL);
	err = 0;
	assert_null(topo_alloc_on_node(SIZE_MAX / 2, 0, &err));
	assert_int_equal(err, -ENOMEM);
	assert_null(topo_alloc_on_node(0, 0, NULL));   /* err may be NULL */
	if (numa_available() >= 0 && numa_max_node() + 1 < TOPO_MAX_NODES) {
		/* A node the machine does not have. */
		err = 0;
		assert_null(topo_alloc_on_node(4096, numa_max_node() + 1,
					       &err));
		assert_int_equal(err, -EINVAL);
	}
	assert_int_equal(topo_free(NULL, 4096), -EINVAL);
	assert_true(topo_node_of_addr(NULL) < 0);
}

/* Many threads allocating on the node at once: no shared state, so
 * nothing to get wrong, but show it. */
static void *alloc_loop(void *arg)
{
	long bad = 0;

	for (int i = 0; i < 200; i++) {
		int node = (int)(long)arg;
		char *p = topo_alloc_on_node(8192, node, NULL);

		if (!p) {
			bad++;
			continue;
		}
		p[0] = p[8191] = 1;
		if (topo_node_of_addr(p) != node)
			bad++;
		if (topo_free(p, 8192) != 0)
			bad++;
	}
	return (void *)bad;
}

static void memory_from_many_threads(void **state)
{
	enum { N = 8 };
	struct sys_thread th[N];

	memset(th, 0, sizeof(th));
	for (int round = 0; round < ROUNDS; round++) {
		for (int i = 0; i < N; i++)
			assert_int_equal(sys_thread_spawn(&th[i], NULL,
							  alloc_loop,
							  (void *)0L), 0);
		for (int i = 0; i < N; i++) {
			void *bad = (void *)1;

			assert_int_equal(sys_thread_join(&th[i], &bad), 0);
			assert_null(bad);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pinned_real_layout),
		cmocka_unit_test(pinned_emulated_layouts),
		cmocka_unit_test(memory_on_each_node),
		cmocka_unit_test(memory_on_second_node),
		cmocka_unit_test(memory_without_node),
		cmocka_unit_test(memory_bad_input),
		cmocka_unit_test(memory_from_many_threads),
	};

	return cmocka_run_group_tests_name("numa/place", tests, NULL, NULL);
}

/*
 * test_placement: rt/ workers placed by numa/'s plan — pinned to their
 * planned CPU, memory from their node, stealing in the plan's order
 * (own node first, then by distance), the global queue split per node —
 * on this machine and on emulated multi-node layouts (THREADLAB_TOPOLOGY).
 */
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lib_rt.h"
#include "numa/topo.h"
#include "syscalls/sys.h"

/* Four emulated nodes of two CPUs each, asymmetric distances (a chain:
 * node 0 is nearest to 1, then 2, then 3), mapped onto the real CPUs. */
#define FOUR_NODES "0:0-1,1:2-3,2:4-5,3:6-7" \
	"@10,20,30,40;20,10,20,30;30,20,10,20;40,30,20,10"

struct where {
	_Atomic int bad;
	_Atomic long ran;
	long want;
};

/* Run on the worker stack: libc and syscalls/ are not split-stack code. */
__attribute__((noinline, noipa)) static void *cpu_and_node(void *arg)
{
	long *out = arg;

	out[0] = sched_getcpu();
	out[1] = topo_node_of_addr((void *)out[2]);
	return NULL;
}

/* Each task checks that it runs on its worker's planned CPU and that its
 * stack lives on its worker's memory node. */
static void placed_task(void *arg)
{
	struct where *wh = arg;
	struct rt_placement pl;
	long probe[3];
	int w = rt_worker_id();

	probe[2] = (long)&probe;      /* an address on this task's stack */
	rt_call_on_worker_stack(cpu_and_node, probe);
	if (rt_worker_placement((unsigned)w, &pl) != 0 ||
	    probe[0] != pl.real_cpu ||
	    (pl.mem_node >= 0 && probe[1] != pl.mem_node))
		atomic_store(&wh->bad, 1);
	atomic_fetch_add(&wh->ran, 1);
}

static void placed_main(void *arg)
{
	struct where *wh = arg;

	for (long i = 0; i < wh->want; i++)
		rt_go(placed_task, wh);
	while (atomic_load(&wh->ran) < wh->want)
		rt_yield();
}

static void pinned_where_planned(void **state)
{
	struct rt_config cfg = rtt_config(state, 0);
	struct where wh = { .want = rtt_scale(20000) };

	cfg.pin = 1;
	rtt_run(&cfg, placed_main, &wh);
	assert_int_equal(atomic_load(&wh.ran), wh.want);
	assert_int_equal(atomic_load(&wh.bad), 0);
}

struct orders {
	struct topo_plan plan;       /* made by the test, to compare with */
	_Atomic long ran;
	long want;
};

static void count_task(void *arg)
{
	atomic_fetch_add(&((struct orders *)arg)->ran, 1);
}

static void orders_main(void *arg)
{
	struct orders *o = arg;
	int n = o->plan.nworkers;

	RTT_CHECK(rt_workers() == (unsigned)n);
	for (int i = 0; i < n; i++) {
		int got[64], want[64];
		struct rt_placement pl;

		RTT_CHECK(rt_steal_order((unsigned)i, got, 64) == n - 1);
		RTT_CHECK(topo_steal_order(&o->plan, i, want, 64) == n - 1);
		for (int k = 0; k < n - 1; k++)
			RTT_CHECKF(got[k] == want[k],
				   "worker %d: steal order[%d] = %d, plan says %d",
				   i, k, got[k], want[k]);
		RTT_CHECK(rt_worker_placement((unsigned)i, &pl) == 0);
		RTT_CHECK(pl.node == o->plan.worker[i].node);
		RTT_CHECK(pl.cpu == o->plan.worker[i].cpu);
	}
	RTT_CHECK(rt_steal_order((unsigned)n, NULL, 0) == -EINVAL);
	/* And the runtime works across the emulated nodes. */
	for (long i = 0; i < o->want; i++)
		rt_go(count_task, o);
	while (atomic_load(&o->ran) < o->want)
		rt_yield();
}

/* The scheduler's steal order is the plan's: own node, then nearest. */
static void run_emulated(void **state, const char *spec, int workers,
			 const char *policy)
{
	struct rt_config cfg = rtt_config(state, (unsigned)workers);
	struct orders o = { .want = rtt_scale(20000) };
	struct topo t;
	struct topo_policy pol;
	char err[256];

	assert_int_equal(topo_parse(&t, spec, err, sizeof(err)), 0);
	assert_int_equal(topo_policy_parse(&pol, policy, err, sizeof(err)), 0);
	assert_int_equal(topo_plan_make(&o.plan, &t, workers, &pol, err,
					sizeof(err)), 0);
	setenv("THREADLAB_TOPOLOGY", spec, 1);
	cfg.placement = policy;
	cfg.pin = -1;
	rtt_run(&cfg, orders_main, &o);
	unsetenv("THREADLAB_TOPOLOGY");
	assert_int_equal(atomic_load(&o.ran), o.want);
	topo_plan_free(&o.plan);
}

static void steal_order_four_nodes(void **state)
{
	run_emulated(state, FOUR_NODES, 8, "compact");
	run_emulated(state, FOUR_NODES, 8, "spread");
	run_emulated(state, FOUR_NODES, 3, "spread");
}

static void steal_order_two_nodes(void **state)
{
	run_emulated(state, "0:0,1:1", 2, "spread");
	run_emulated(state, "0:0-1,1:2-3", 2, "compact");
	run_emulated(state, "0:0-1,1:2-3", 4, "node=1");
}

static void noop_main(void *arg)
{
}

/* A bad policy or topology is a configuration error, not a crash. */
static void bad_placement(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	cfg.placement = "nowhere";
	assert_int_equal(rt_main(&cfg, noop_main, NULL), -EINVAL);
	cfg.placement = "node=7";
	assert_int_equal(rt_main(&cfg, noop_main, NULL), -EINVAL);
	cfg.placement = NULL;
	setenv("THREADLAB_TOPOLOGY", "0:0-1,", 1);
	assert_int_equal(rt_main(&cfg, noop_main, NULL), -EINVAL);
	unsetenv("THREADLAB_TOPOLOGY");
	setenv("THREADLAB_PLACEMENT", "sideways", 1);
	assert_int_equal(rt_main(&cfg, noop_main, NULL), -EINVAL);
	unsetenv("THREADLAB_PLACEMENT");
	/* And a good one afterwards still runs. */
	assert_int_equal(rt_main(&cfg, noop_main, NULL), 0);
	/* Outside a runtime there is nothing to ask. */
	{
		struct rt_placement pl;

		assert_int_equal(rt_worker_placement(0, &pl), -ESRCH);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		RT_TEST(pinned_where_planned),
		RT_TEST(steal_order_four_nodes),
		RT_TEST_SEGMENTED(steal_order_two_nodes),
		RT_TEST_SEGMENTED(bad_placement),
	};

	rtt_filter_from_env();
	return cmocka_run_group_tests_name("rt/placement", tests, NULL, NULL);
}

/*
 * test_discover: where a topology comes from. The sysfs reader against
 * made-up node directories (two nodes, sparse ids, a node with memory
 * only, offline CPUs, missing and malformed files), the one-node fallback,
 * the real-layout bookkeeping (usable CPUs, real_cpu, real_node), and on
 * this machine: libnuma and sysfs agree, and discovery names its source.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <numa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "numa/internal.h"
#include "numa/topo.h"
#include "syscalls/sys.h"

static struct topo tb, tb2;
static char root[64];

static void put(const char *rel, const char *text)
{
	char path[256], dir[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	mkdir(dir, 0755);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int make_root(void **state)
{
	strcpy(root, "/tmp/threadlab-sysfs-XXXXXX");
	assert_non_null(mkdtemp(root));
	return 0;
}

static int drop_root(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
	root[0] = '\0';
	return 0;
}

static cpu_set_t cpus_upto(int n)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	for (int c = 0; c < n; c++)
		CPU_SET(c, &s);
	return s;
}

static void assert_cpus(const cpu_set_t *set, const char *want)
{
	char buf[256];

	assert_true(topo_format_cpus(set, buf, sizeof(buf)) >= 0);
	assert_string_equal(buf, want);
}

static void sysfs_two_nodes(void **state)
{
	cpu_set_t online = cpus_upto(8);

	put("online", "0-1\n");
	put("node0/cpulist", "0-3\n");
	put("node1/cpulist", "4-7\n");
	put("node0/distance", "10 21\n");
	put("node1/distance", "21 10\n");
	put("node0/meminfo", "Node 0 MemTotal:        1048576 kB\n"
			     "Node 0 MemFree:          524288 kB\n"
			     "Node 0 MemUsed:          524288 kB\n");
	put("node1/meminfo", "Node 1 MemTotal:        2097152 kB\n"
			     "Node 1 MemFree:         2000000 kB\n");
	topo__clear(&tb);
	assert_int_equal(topo__from_sysfs(&tb, root, &online), 0);
	assert_int_equal(tb.nnodes, 2);
	assert_cpus(&tb.node[0].cpus, "0-3");
	assert_cpus(&tb.node[1].cpus, "4-7");
	assert_int_equal(tb.node[1].ncpus, 4);
	assert_int_equal(tb.node[0].mem_total, 1048576LL * 1024);
	assert_int_equal(tb.node[0].mem_free, 524288LL * 1024);
	assert_int_equal(tb.node[1].mem_total, 2097152LL * 1024);
	assert_int_equal(tb.distance[0][1], 21);
	assert_int_equal(tb.distance[1][0], 21);
	assert_int_equal(tb.distance[1][1], 10);

	/* Offline CPUs (6, 7) are not part of the topology. */
	online = cpus_upto(6);
	topo__clear(&tb);
	assert_int_equal(topo__from_sysfs(&tb, root, &online), 0);
	assert_cpus(&tb.node[1].cpus, "4-5");
	assert_int_equal(tb.node[1].ncpus, 2);

	/* Usable: CPUs 0-2 and 5 only (a taskset). The others stay in the
	 * topology, with no real CPU to run on. */
	{
		cpu_set_t usable = cpus_upto(3);
		struct topo_policy spread = { TOPO_POLICY_SPREAD, 0 };
		struct topo_plan p;

		CPU_SET(5, &usable);
		topo__finish_real(&tb, TOPO_SOURCE_SYSFS, &usable);
		assert_int_equal(tb.source, TOPO_SOURCE_SYSFS);
		assert_int_equal(tb.real_source, TOPO_SOURCE_SYSFS);
		assert_int_equal(tb.ncpus, 6);
		assert_false(tb.cpu_map_identity);
		assert_int_equal(tb.real_cpu[2], 2);
		assert_int_equal(tb.real_cpu[3], -1);
		assert_int_equal(tb.real_cpu[4], -1);
		assert_int_equal(tb.real_cpu[5], 5);
		assert_int_equal(tb.real_node[3], 0);
		assert_int_equal(tb.real_node[5], 1);
		assert_int_equal(tb.real_node[6], -1);

		/* The plan uses only the usable CPUs. */
		assert_int_equal(topo_plan_make(&p, &tb, 0, &spread, NULL, 0), 0);
		assert_int_equal(p.nworkers, 4);
		assert_int_equal(p.worker[0].cpu, 0);
		assert_int_equal(p.worker[1].cpu, 5);
		assert_int_equal(p.worker[1].mem_node, 1);
		assert_int_equal(p.worker[2].cpu, 1);
		assert_int_equal(p.worker[3].cpu, 2);
		topo_plan_free(&p);
	}
}

static void sysfs_sparse_and_memory_only(void **state)
{
	cpu_set_t online = cpus_upto(4);

	put("online", "0,2-3\n");
	put("node0/cpulist", "0-1\n");
	put("node2/cpulist", "\n");               /* memory only */
	put("node3/cpulist", "2-3\n");
	put("node0/distance", "10 20 30\n");
	put("node2/distance", "20 10 20\n");
	put("node3/distance", "30 20 10\n");
	topo__clear(&tb);
	assert_int_equal(topo__from_sysfs(&tb, root, &online), 0);
	assert_int_equal(tb.nnodes, 3);
	assert_int_equal(tb.node[1].id, 2);
	assert_int_equal(tb.node[1].ncpus, 0);
	assert_int_equal(tb.node[2].id, 3);
	assert_int_equal(tb.distance[0][2], 30);
	/* No meminfo files: unknown. */
	assert_int_equal(tb.node[0].mem_total, -1);
	assert_int_equal(tb.node[0].mem_free, -1);
	assert_int_equal(topo_node_index(&tb, 3), 2);
}

static void sysfs_bad_distance_rows_keep_defaults(void **state)
{
	cpu_set_t online = cpus_upto(4);

	put("online", "0-1\n");
	put("node0/cpulist", "0-1\n");
	put("node1/cpulist", "2-3\n");
	put("node0/distance", "10 21 31\n");      /* too long */
	/* node1/distance missing */
	topo__clear(&tb);
	assert_int_equal(topo__from_sysfs(&tb, root, &online), 0);
	assert_int_equal(tb.distance[0][1], TOPO_DIST_REMOTE);
	assert_int_equal(tb.distance[1][0], TOPO_DIST_REMOTE);
	assert_int_equal(tb.distance[1][1], TOPO_DIST_LOCAL);

	put("node0/distance", "10 x\n");
	topo__clear(&tb);
	assert_int_equal(topo__from_sysfs(&tb, root, &online), 0);
	assert_int_equal(tb.distance[0][1], TOPO_DIST_REMOTE);
}

static void sysfs_failures(void **state)
{
	cpu_set_t online = cpus_upto(4);
	char missing[128];

	snprintf(missing, sizeof(missing), "%s/nothing-here", root);
	topo__clear(&tb);
	assert_int_equal(topo__from_sysfs(&tb, missing, &online), -ENOENT);

	put("online", "zero\n");
	topo__clear(&tb);
	assert_int_equal(topo__from_sysfs(&tb, root, &online), -EINVAL);

	put("online", "\n");
	topo__clear(&tb);
	assert_int_equal(topo__from_sysfs(&tb, root, &online), -ENOENT);

	put("online", "0-70\n");                  /* beyond TOPO_MAX_NODES */
	topo__clear(&tb);
	assert_int_equal(topo__from_sysfs(&tb, root, &online), -E2BIG);

	put("online", "0-1\n");                   /* node1 has no cpulist */
	put("node0/cpulist", "0-1\n");
	topo__clear(&tb);
	assert_int_equal(topo__from_sysfs(&tb, root, &online), -ENOENT);

	put("node1/cpulist", "3-2\n");
	topo__clear(&tb);
	assert_int_equal(topo__from_sysfs(&tb, root, &online), -EINVAL);
}

static void single_node_fallback(void **state)
{
	cpu_set_t online = cpus_upto(3), usable = cpus_upto(3);

	topo__clear(&tb);
	topo__single(&tb, &online);
	topo__finish_real(&tb, TOPO_SOURCE_SINGLE, &usable);
	assert_int_equal(tb.source, TOPO_SOURCE_SINGLE);
	assert_string_equal(topo_source_name(tb.source),
			    "single-node fallback");
	assert_int_equal(tb.nnodes, 1);
	assert_int_equal(tb.node[0].id, 0);
	assert_int_equal(tb.ncpus, 3);
	assert_int_equal(tb.distance[0][0], 10);
	assert_true(tb.cpu_map_identity);
	assert_true(tb.node[0].mem_total > 0);
	assert_int_equal(tb.real_node[2], 0);
	assert_int_equal(tb.real_cpu[2], 2);
	assert_int_equal(tb.real_cpu[3], -1);
}

/* ------------------------------------------------------------------ */

static void this_machine(void **state)
{
	cpu_set_t online, usable;
	int nsys;

	assert_int_equal(topo_discover_real(&tb), 0);
	assert_true(tb.nnodes >= 1);
	assert_true(tb.ncpus >= 1);
	assert_int_equal(tb.source, tb.real_source);
	assert_int_equal(topo__usable_cpus(&usable), 0);
	assert_true(CPU_EQUAL(&usable, &tb.usable));
	if (numa_available() >= 0)
		assert_int_equal(tb.source, TOPO_SOURCE_LIBNUMA);
	else
		assert_int_not_equal(tb.source, TOPO_SOURCE_LIBNUMA);

	/* Every online CPU is in exactly one node. */
	assert_int_equal(sys_online_cpus(&online), 0);
	assert_int_equal(tb.ncpus, CPU_COUNT(&online));
	for (int c = 0; c < TOPO_MAX_CPUS; c++) {
		if (!CPU_ISSET(c, &online)) {
			assert_int_equal(topo_cpu_node(&tb, c), -ENOENT);
			continue;
		}
		assert_true(topo_cpu_node(&tb, c) >= 0);
		assert_int_equal(tb.real_node[c], topo_cpu_node(&tb, c));
		assert_int_equal(tb.real_cpu[c],
				 CPU_ISSET(c, &usable) ? c : -1);
	}
	for (int i = 0; i < tb.nnodes; i++)
		assert_int_equal(tb.distance[i][i], TOPO_DIST_LOCAL);

	/* The sysfs reader sees the same nodes and CPUs as libnuma. */
	topo__clear(&tb2);
	nsys = topo__from_sysfs(&tb2, TOPO_SYSFS_NODE_ROOT, &online);
	if (nsys < 0) {
		skip();         /* no /sys/devices/system/node here */
		return;
	}
	assert_int_equal(tb2.nnodes, tb.nnodes);
	for (int i = 0; i < tb.nnodes; i++) {
		assert_int_equal(tb2.node[i].id, tb.node[i].id);
		assert_true(CPU_EQUAL(&tb2.node[i].cpus, &tb.node[i].cpus));
		assert_true(tb2.node[i].mem_total > 0);
		assert_int_equal(tb2.node[i].mem_total, tb.node[i].mem_total);
		for (int j = 0; j < tb.nnodes; j++)
			assert_int_equal(tb2.distance[i][j],
					 tb.distance[i][j]);
	}
}

/* The real layout written as THREADLAB_TOPOLOGY and read back gives the
 * same nodes and distances, and on this machine runs each CPU on itself. */
static void this_machine_reproduces(void **state)
{
	char spec[4096], err[1024];

	assert_int_equal(topo_discover_real(&tb), 0);
	assert_true(topo_format_spec(&tb, spec, sizeof(spec)) > 0);
	assert_int_equal(topo_parse(&tb2, spec, err, sizeof(err)), 0);
	assert_int_equal(tb2.nnodes, tb.nnodes);
	assert_memory_equal(tb2.distance, tb.distance, sizeof(tb.distance));
	/* Identity unless a taskset hides some CPUs (then both say so). */
	assert_int_equal(tb2.cpu_map_identity, tb.cpu_map_identity);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(sysfs_two_nodes, make_root,
						drop_root),
		cmocka_unit_test_setup_teardown(sysfs_sparse_and_memory_only,
						make_root, drop_root),
		cmocka_unit_test_setup_teardown(
			sysfs_bad_distance_rows_keep_defaults, make_root,
			drop_root),
		cmocka_unit_test_setup_teardown(sysfs_failures, make_root,
						drop_root),
		cmocka_unit_test(single_node_fallback),
		cmocka_unit_test(this_machine),
		cmocka_unit_test(this_machine_reproduces),
	};

	return cmocka_run_group_tests_name("numa/discover", tests, NULL, NULL);
}

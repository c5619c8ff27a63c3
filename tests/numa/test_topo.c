/*
 * test_topo: THREADLAB_TOPOLOGY and THREADLAB_PLACEMENT parsing, the
 * placement plan of each policy, and the steal order, on emulated layouts:
 * one node, 2 nodes x 8 CPUs, 4 nodes with asymmetric distances, more
 * workers than CPUs, nodes with no CPUs, sparse node ids; every malformed
 * form we could think of, each rejected with its message; the rule that
 * maps emulated CPUs onto this machine's.
 *
 * Pure computation: nothing here depends on the machine except the
 * real_cpu values, which are only checked against the machine's usable set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numa/internal.h"
#include "numa/topo.h"

static struct topo topo_buf;    /* 20 KiB: not on the stack */

static struct topo *parse_ok(const char *spec)
{
	char err[1024] = "";
	int r = topo_parse(&topo_buf, spec, err, sizeof(err));

	if (r != 0)
		fail_msg("topo_parse(\"%s\") = %d: %s", spec, r, err);
	return &topo_buf;
}

static void assert_cpus(const cpu_set_t *set, const char *want)
{
	char buf[256];

	assert_true(topo_format_cpus(set, buf, sizeof(buf)) >= 0);
	assert_string_equal(buf, want);
}

/* ------------------------------------------------------------------ */

static void parse_one_node(void **state)
{
	struct topo *t = parse_ok("0:0-3");

	assert_int_equal(t->source, TOPO_SOURCE_EMULATED);
	assert_string_equal(topo_source_name(t->source), "emulated");
	assert_int_equal(t->nnodes, 1);
	assert_int_equal(t->ncpus, 4);
	assert_int_equal(t->node[0].id, 0);
	assert_int_equal(t->node[0].ncpus, 4);
	assert_cpus(&t->node[0].cpus, "0-3");
	assert_int_equal(t->node[0].mem_total, -1);
	assert_int_equal(t->distance[0][0], 10);
	assert_int_equal(topo_cpu_node(t, 3), 0);
	assert_int_equal(topo_cpu_node(t, 4), -ENOENT);
	assert_int_equal(topo_cpu_node(t, -1), -ENOENT);
	assert_int_equal(topo_node_index(t, 0), 0);
	assert_int_equal(topo_node_index(t, 1), -ENOENT);
}

static void parse_two_by_eight(void **state)
{
	struct topo *t = parse_ok("0:0-7,1:8-15");

	assert_int_equal(t->nnodes, 2);
	assert_int_equal(t->ncpus, 16);
	assert_cpus(&t->node[0].cpus, "0-7");
	assert_cpus(&t->node[1].cpus, "8-15");
	/* No matrix: Linux's defaults. */
	assert_int_equal(t->distance[0][0], 10);
	assert_int_equal(t->distance[0][1], 20);
	assert_int_equal(t->distance[1][0], 20);
	assert_int_equal(t->distance[1][1], 10);
	assert_int_equal(topo_cpu_node(t, 8), 1);
}

static void parse_plus_ranges_and_matrix(void **state)
{
	struct topo *t = parse_ok("0:0-3+8-11,1:4-7+12-15@10,21;21,10");

	assert_int_equal(t->nnodes, 2);
	assert_cpus(&t->node[0].cpus, "0-3,8-11");
	assert_cpus(&t->node[1].cpus, "4-7,12-15");
	assert_int_equal(t->distance[0][1], 21);
	assert_int_equal(t->distance[1][0], 21);

	t = parse_ok("0:5+1+3-4,1:0");  /* any order inside a node */
	assert_cpus(&t->node[0].cpus, "1,3-5");
	assert_cpus(&t->node[1].cpus, "0");
}

static const char *asym4 =
	"0:0-1,1:2-3,2:4-5,3:6-7"
	"@10,12,20,30;25,10,14,20;20,14,10,12;30,20,12,10";

static void parse_four_asymmetric(void **state)
{
	static const uint8_t want[4][4] = {
		{ 10, 12, 20, 30 }, { 25, 10, 14, 20 },
		{ 20, 14, 10, 12 }, { 30, 20, 12, 10 },
	};
	struct topo *t = parse_ok(asym4);

	assert_int_equal(t->nnodes, 4);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++)
			assert_int_equal(t->distance[i][j], want[i][j]);
	assert_int_equal(t->distance[0][1], 12);
	assert_int_equal(t->distance[1][0], 25);
}

static void parse_nodes_without_cpus(void **state)
{
	struct topo *t = parse_ok("0:0-3,1:,2:4-7");

	assert_int_equal(t->nnodes, 3);
	assert_int_equal(t->node[1].id, 1);
	assert_int_equal(t->node[1].ncpus, 0);
	assert_cpus(&t->node[1].cpus, "none");
	assert_int_equal(t->ncpus, 8);

	t = parse_ok("0:,1:0-1");
	assert_int_equal(t->node[0].ncpus, 0);
	t = parse_ok("0:0-1,1:@10,30;30,10");
	assert_int_equal(t->node[1].ncpus, 0);
	assert_int_equal(t->distance[1][0], 30);
}

static void parse_sparse_ids(void **state)
{
	struct topo *t = parse_ok("0:0-1,2:2-3,63:4@10,20,30;20,10,20;30,20,10");

	assert_int_equal(t->nnodes, 3);
	assert_int_equal(t->node[1].id, 2);
	assert_int_equal(t->node[2].id, 63);
	assert_int_equal(topo_node_index(t, 63), 2);
	assert_int_equal(topo_node_index(t, 1), -ENOENT);
	assert_int_equal(t->distance[0][2], 30);
	/* The largest CPU number. */
	t = parse_ok("0:1023");
	assert_int_equal(topo_cpu_node(t, 1023), 0);
}

/* ------------------------------------------------------------------ */

struct bad {
	const char *spec;
	const char *why;        /* must appear in the message */
};

static const struct bad bad_specs[] = {
	{ "", "the value is empty" },
	{ "0", "expected ':' after node 0 at the end" },
	{ "0-3", "expected ':' after node 0 at character 2 ('-')" },
	{ ":0-3", "expected a node number at character 1 (':')" },
	{ "a:0", "expected a node number at character 1 ('a')" },
	{ "-1:0", "expected a node number" },
	{ "0:0-7;1:8-15", "unexpected character at character 6 (';')" },
	{ "0:0-7 1:8-15", "unexpected character at character 6 (byte 0x20)" },
	{ "0:0-7,1:8-15,", "expected a node number at the end" },
	{ "0:0-7,,1:8-15", "expected a node number at character 7 (',')" },
	{ "0:7-0", "CPU range 7-0 decreases at character 3" },
	{ "0:0-", "expected a CPU number at the end" },
	{ "0:-3", "expected a CPU number at character 3 ('-')" },
	{ "0:0--3", "expected a CPU number" },
	{ "0:0-3+", "expected a CPU number at the end" },
	{ "0:0-3++4", "expected a CPU number at character 7 ('+')" },
	{ "0:+1", "expected a CPU number" },
	{ "0:0-1-2", "unexpected character at character 6 ('-')" },
	/* The kernel's cpulist comma is a node separator here. */
	{ "0:0,1", "expected ':' after node 1 at the end" },
	{ "0:0,2,1:1", "expected ':' after node 2" },
	{ "0:0-3,1:2-5", "CPU 2 of node 1 is in node 0 already" },
	{ "0:0+0", "CPU 0 is listed twice in node 0" },
	{ "0:0-3+2", "CPU 2 is listed twice in node 0 at character 7" },
	{ "1:0-3,0:4-7", "node 0 after node 1 (node numbers must increase)" },
	{ "0:0,0:1", "node 0 after node 0 (node numbers must increase)" },
	{ "64:0", "a node number 64 is above 63" },
	{ "0:1024", "a CPU number 1024 is above 1023" },
	{ "0:0-1024", "a CPU number 1024 is above 1023" },
	{ "0:99999999999999999999999", "is above 1023" },
	{ "99999999999999999999:0", "is above 63" },
	{ "0:,1:", "no node has a CPU" },
	{ "0:", "no node has a CPU" },
	{ "0:0x1", "unexpected character at character 4 ('x')" },
	{ "\t0:0", "expected a node number at character 1 (byte 0x09)" },
	{ "0:0-1\n", "unexpected character at character 6 (byte 0x0a)" },
	{ "0:0-3@", "expected a distance at the end" },
	{ "0:0-3@10,20", "row 1 of the matrix (from node 0) has more than 1 distances" },
	{ "0:0-3@10;10", "the matrix has more than 1 rows" },
	{ "0:0-1,1:2-3@10,20", "the matrix has 1 rows, but there are 2 nodes" },
	{ "0:0-1,1:2-3@10,20;20", "row 2 of the matrix (from node 1) has 1 distances, but there are 2 nodes" },
	{ "0:0-1,1:2-3@10;20,10", "row 1 of the matrix (from node 0) has 1 distances" },
	{ "0:0-1,1:2-3@10,20;20,10;10,20", "the matrix has more than 2 rows" },
	{ "0:0-1,1:2-3@10,20;20,10,", "row 2 of the matrix (from node 1) has more than 2 distances" },
	{ "0:0-1,1:2-3@10,20,30;20,10", "row 1 of the matrix (from node 0) has more than 2 distances" },
	{ "0:0-1,1:2-3@11,20;20,10", "the distance from node 0 to itself is 11, not 10 at character 13" },
	{ "0:0-1,1:2-3@10,10;20,10", "the distance from node 0 to node 1 is 10, outside 11..254 at character 16" },
	{ "0:0-1,1:2-3@10,20;5,10", "the distance from node 1 to node 0 is 5, outside 11..254" },
	{ "0:0-1,1:2-3@10,255;20,10", "is 255, outside 11..254" },
	{ "0:0-1,1:2-3@10,256;20,10", "a distance 256 is above 255" },
	{ "0:0-1,1:2-3@10,-20;20,10", "expected a distance at character 16 ('-')" },
	{ "0:0-1,1:2-3@10,20;20,10 ", "unexpected character at character 24 (byte 0x20)" },
	{ "0:0-1,1:2-3@@10,20;20,10", "expected a distance at character 13 ('@')" },
	{ "0:0-1@10@10", "unexpected character at character 9 ('@')" },
	{ "0:0-1,1:2-3@10 20;20 10", "has 1 distances" },
	{ "0:0-1@", "expected a distance" },
	{ "@10", "expected a node number at character 1 ('@')" },
	{ "node0:0-3", "expected a node number" },
	{ "0=0-3", "expected ':' after node 0 at character 2 ('=')" },
	{ "0:0-3,1:4-7@10,20;20,10;", "the matrix has more than 2 rows" },
	{ "0:\xc3\xa9", "expected a CPU number at character 3 (byte 0xc3)" },
};

static void parse_rejects_malformed(void **state)
{
	for (size_t i = 0; i < sizeof(bad_specs) / sizeof(bad_specs[0]); i++) {
		const struct bad *b = &bad_specs[i];
		char err[1024] = "";
		int r = topo_parse(&topo_buf, b->spec, err, sizeof(err));

		if (r != -EINVAL)
			fail_msg("\"%s\" gave %d, not -EINVAL", b->spec, r);
		if (!strstr(err, b->why))
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"",
				 b->spec, err, b->why);
		/* Every message shows the expected form and an example. */
		if (!strstr(err, "bad THREADLAB_TOPOLOGY") ||
		    !strstr(err, "expected NODE:CPUS[,NODE:CPUS...][@MATRIX]") ||
		    !strstr(err, "e.g. 0:0-7,1:8-15"))
			fail_msg("\"%s\": message \"%s\" lacks the form",
				 b->spec, err);
	}
}

static void parse_error_buffer_edges(void **state)
{
	char small[16];

	/* NULL or tiny buffers: still -EINVAL, never an overflow. */
	assert_int_equal(topo_parse(&topo_buf, "x", NULL, 0), -EINVAL);
	assert_int_equal(topo_parse(&topo_buf, NULL, NULL, 0), -EINVAL);
	memset(small, 'z', sizeof(small));
	assert_int_equal(topo_parse(&topo_buf, "x", small, sizeof(small)),
			 -EINVAL);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	/* A long value is shortened in the message. */
	{
		char spec[400], err[1024];

		memset(spec, '0', sizeof(spec) - 1);
		spec[sizeof(spec) - 1] = '\0';
		assert_int_equal(topo_parse(&topo_buf, spec, err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "...\""));
		assert_true(strlen(err) < 700);
	}
}

static void format_round_trip(void **state)
{
	static const char *const specs[] = {
		"0:0-3",
		"0:0-7,1:8-15",
		"0:0-3+8-11,1:4-7+12-15@10,21;21,10",
		"0:0-1,1:2-3,2:4-5,3:6-7@10,12,20,30;25,10,14,20;20,14,10,12;30,20,12,10",
		"0:0-3,1:,2:4-7",
		"0:0-1,2:2-3,63:4+1023",
	};
	static struct topo again;

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		char buf[512], err[512];
		struct topo *t = parse_ok(specs[i]);

		assert_true(topo_format_spec(t, buf, sizeof(buf)) > 0);
		if (topo_parse(&again, buf, err, sizeof(err)) != 0)
			fail_msg("%s -> %s: %s", specs[i], buf, err);
		assert_int_equal(again.nnodes, t->nnodes);
		for (int n = 0; n < t->nnodes; n++) {
			assert_int_equal(again.node[n].id, t->node[n].id);
			assert_true(CPU_EQUAL(&again.node[n].cpus,
					      &t->node[n].cpus));
		}
		assert_memory_equal(again.distance, t->distance,
				    sizeof(t->distance));
	}
	{
		char buf[64];
		struct topo *t = parse_ok("0:0-3+8,1:4-7");

		assert_int_equal(topo_format_spec(t, buf, sizeof(buf)),
				 (int)strlen("0:0-3+8,1:4-7@10,20;20,10"));
		assert_string_equal(buf, "0:0-3+8,1:4-7@10,20;20,10");
		assert_int_equal(topo_format_spec(t, buf, 8), -ENOSPC);
		assert_int_equal(strlen(buf), 7);
		assert_int_equal(topo_format_spec(t, buf, 0), -ENOSPC);
	}
}

static void format_cpus(void **state)
{
	cpu_set_t s;
	char buf[8];

	CPU_ZERO(&s);
	assert_int_equal(topo_format_cpus(&s, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "none");
	CPU_SET(0, &s);
	CPU_SET(2, &s);
	CPU_SET(3, &s);
	assert_int_equal(topo_format_cpus(&s, buf, sizeof(buf)), 5);
	assert_string_equal(buf, "0,2-3");
	CPU_SET(1000, &s);
	assert_int_equal(topo_format_cpus(&s, buf, sizeof(buf)), -ENOSPC);
	assert_int_equal(strlen(buf), 7);
}

/* ------------------------------------------------------------------ */

static void policy_parse_forms(void **state)
{
	static const char *const bad[] = {
		"", "Compact", "compact ", " spread", "node=", "node=64",
		"node=-1", "node=1x", "nodes=1", "node", "node=+1",
		"node=100", "spread,compact", "node= 1",
	};
	struct topo_policy p;
	char err[512], buf[16];

	assert_int_equal(topo_policy_parse(&p, "compact", err, sizeof(err)), 0);
	assert_int_equal(p.kind, TOPO_POLICY_COMPACT);
	assert_int_equal(topo_policy_parse(&p, "spread", err, sizeof(err)), 0);
	assert_int_equal(p.kind, TOPO_POLICY_SPREAD);
	assert_int_equal(topo_policy_parse(&p, "node=0", err, sizeof(err)), 0);
	assert_int_equal(p.kind, TOPO_POLICY_NODE);
	assert_int_equal(p.node, 0);
	assert_int_equal(topo_policy_parse(&p, "node=63", err, sizeof(err)), 0);
	assert_int_equal(p.node, 63);
	assert_int_equal(topo_policy_format(&p, buf, sizeof(buf)), 7);
	assert_string_equal(buf, "node=63");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (topo_policy_parse(&p, bad[i], err, sizeof(err)) != -EINVAL)
			fail_msg("policy \"%s\" accepted", bad[i]);
		if (!strstr(err, "bad placement policy") ||
		    !strstr(err, "expected compact, spread or node=N"))
			fail_msg("policy \"%s\": message \"%s\"", bad[i], err);
	}
	assert_int_equal(topo_policy_parse(&p, NULL, NULL, 0), -EINVAL);
}

static void policy_select_order(void **state)
{
	struct topo_policy p;
	char err[512];

	unsetenv("THREADLAB_PLACEMENT");
	assert_int_equal(topo_policy_select(&p, NULL, err, sizeof(err)), 0);
	assert_int_equal(p.kind, TOPO_POLICY_COMPACT);

	setenv("THREADLAB_PLACEMENT", "spread", 1);
	assert_int_equal(topo_policy_select(&p, NULL, err, sizeof(err)), 0);
	assert_int_equal(p.kind, TOPO_POLICY_SPREAD);
	/* A program's own setting wins over the environment. */
	assert_int_equal(topo_policy_select(&p, "node=1", err, sizeof(err)), 0);
	assert_int_equal(p.kind, TOPO_POLICY_NODE);
	assert_int_equal(p.node, 1);

	setenv("THREADLAB_PLACEMENT", "", 1);
	assert_int_equal(topo_policy_select(&p, NULL, err, sizeof(err)), 0);
	assert_int_equal(p.kind, TOPO_POLICY_COMPACT);

	setenv("THREADLAB_PLACEMENT", "sideways", 1);
	assert_int_equal(topo_policy_select(&p, NULL, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "bad THREADLAB_PLACEMENT \"sideways\""));
	assert_non_null(strstr(err, "expected compact, spread or node=N"));
	assert_int_equal(topo_policy_select(&p, "bogus", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "bad placement policy \"bogus\""));
	unsetenv("THREADLAB_PLACEMENT");
}

static void discover_reads_env(void **state)
{
	char err[1024];

	setenv("THREADLAB_TOPOLOGY", "0:0-7,1:8-15", 1);
	assert_int_equal(topo_discover(&topo_buf, err, sizeof(err)), 0);
	assert_int_equal(topo_buf.source, TOPO_SOURCE_EMULATED);
	assert_int_equal(topo_buf.nnodes, 2);

	setenv("THREADLAB_TOPOLOGY", "0:0-7;1:8-15", 1);
	assert_int_equal(topo_discover(&topo_buf, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bad THREADLAB_TOPOLOGY \"0:0-7;1:8-15\""));

	/* Empty is unset: the machine's own layout. */
	setenv("THREADLAB_TOPOLOGY", "", 1);
	assert_int_equal(topo_discover(&topo_buf, err, sizeof(err)), 0);
	assert_int_not_equal(topo_buf.source, TOPO_SOURCE_EMULATED);
	unsetenv("THREADLAB_TOPOLOGY");
	assert_int_equal(topo_discover(&topo_buf, err, sizeof(err)), 0);
	assert_int_not_equal(topo_buf.source, TOPO_SOURCE_EMULATED);
}

/* ------------------------------------------------------------------ */

static void mapping_rule(void **state)
{
	static struct topo t;
	int16_t real_node[TOPO_MAX_CPUS];
	cpu_set_t usable;
	char err[512];

	for (int i = 0; i < TOPO_MAX_CPUS; i++)
		real_node[i] = -1;
	real_node[0] = real_node[1] = 0;
	real_node[2] = real_node[5] = real_node[7] = 1;

	/* More CPUs than here: k-th CPU -> (k mod 2)-th usable. */
	CPU_ZERO(&usable);
	CPU_SET(0, &usable);
	CPU_SET(1, &usable);
	assert_int_equal(topo__parse_layout(&t, "0:0-7,1:8-15", err,
					    sizeof(err)), 0);
	topo__map_cpus(&t, &usable, real_node, TOPO_SOURCE_LIBNUMA);
	assert_false(t.cpu_map_identity);
	for (int c = 0; c < 16; c++)
		assert_int_equal(t.real_cpu[c], c % 2);
	assert_int_equal(t.real_cpu[16], -1);
	assert_int_equal(t.real_source, TOPO_SOURCE_LIBNUMA);
	assert_int_equal(t.real_node[1], 0);

	/* Counting by rank, not by number: sparse layout, sparse usable. */
	CPU_ZERO(&usable);
	CPU_SET(2, &usable);
	CPU_SET(5, &usable);
	CPU_SET(7, &usable);
	assert_int_equal(topo__parse_layout(&t, "0:10+20,1:30-32", err,
					    sizeof(err)), 0);
	topo__map_cpus(&t, &usable, real_node, TOPO_SOURCE_SYSFS);
	assert_int_equal(t.real_cpu[10], 2);
	assert_int_equal(t.real_cpu[20], 5);
	assert_int_equal(t.real_cpu[30], 7);
	assert_int_equal(t.real_cpu[31], 2);
	assert_int_equal(t.real_cpu[32], 5);

	/* Every CPU exists here: each runs on itself, whatever the nodes. */
	assert_int_equal(topo__parse_layout(&t, "0:7,1:2+5", err,
					    sizeof(err)), 0);
	topo__map_cpus(&t, &usable, real_node, TOPO_SOURCE_SYSFS);
	assert_true(t.cpu_map_identity);
	assert_int_equal(t.real_cpu[7], 7);
	assert_int_equal(t.real_cpu[2], 2);
	assert_int_equal(t.real_cpu[5], 5);

	/* One CPU missing: the whole layout is mapped by rank. */
	assert_int_equal(topo__parse_layout(&t, "0:2+5,1:6", err,
					    sizeof(err)), 0);
	topo__map_cpus(&t, &usable, real_node, TOPO_SOURCE_SYSFS);
	assert_false(t.cpu_map_identity);
	assert_int_equal(t.real_cpu[2], 2);
	assert_int_equal(t.real_cpu[5], 5);
	assert_int_equal(t.real_cpu[6], 7);
}

static void parse_maps_onto_this_machine(void **state)
{
	struct topo *t = parse_ok("0:0-7,1:8-15,2:100-163");

	assert_true(CPU_COUNT(&t->usable) > 0);
	for (int c = 0; c < TOPO_MAX_CPUS; c++) {
		if (topo_cpu_node(t, c) < 0) {
			assert_int_equal(t->real_cpu[c], -1);
			continue;
		}
		assert_true(t->real_cpu[c] >= 0);
		assert_true(CPU_ISSET(t->real_cpu[c], &t->usable));
	}
}

/* ------------------------------------------------------------------ */

static void make_plan(struct topo_plan *p, const char *spec,
		      const char *policy, int nworkers)
{
	struct topo_policy pol;
	char err[512];

	assert_int_equal(topo_policy_parse(&pol, policy, err, sizeof(err)), 0);
	if (topo_plan_make(p, parse_ok(spec), nworkers, &pol, err,
			   sizeof(err)) != 0)
		fail_msg("plan %s %s %d: %s", spec, policy, nworkers, err);
}

static void assert_plan_cpus(const struct topo_plan *p, const int *cpu,
			     const int *node, int n)
{
	assert_int_equal(p->nworkers, n);
	for (int w = 0; w < n; w++) {
		if (p->worker[w].cpu != cpu[w] || p->worker[w].node != node[w])
			fail_msg("worker %d: cpu %d node %d, expected cpu %d "
				 "node %d", w, p->worker[w].cpu,
				 p->worker[w].node, cpu[w], node[w]);
		/* real_cpu and mem_node follow the topology's maps. */
		assert_int_equal(p->worker[w].real_cpu,
				 topo_buf.real_cpu[cpu[w]]);
		assert_int_equal(p->worker[w].mem_node,
				 topo_buf.real_node[p->worker[w].real_cpu]);
		assert_int_equal(p->node_id[p->worker[w].node_index], node[w]);
	}
}

static void plan_one_node(void **state)
{
	static const int cpu[] = { 0, 1, 2, 3 }, node[] = { 0, 0, 0, 0 };
	static const char *const policies[] = { "compact", "spread", "node=0" };
	struct topo_plan p;

	for (int i = 0; i < 3; i++) {
		make_plan(&p, "0:0-3", policies[i], 4);
		assert_plan_cpus(&p, cpu, node, 4);
		assert_int_equal(p.nslots, 4);
		assert_int_equal(p.nnodes, 1);
		topo_plan_free(&p);
	}
	/* 0 workers: one per CPU. */
	make_plan(&p, "0:0-3", "compact", 0);
	assert_int_equal(p.nworkers, 4);
	topo_plan_free(&p);
	assert_null(p.worker);
	topo_plan_free(&p);     /* freeing twice is harmless */
}

static void plan_two_by_eight(void **state)
{
	int cpu[16], node[16];
	struct topo_plan p;

	make_plan(&p, "0:0-7,1:8-15", "compact", 16);
	for (int w = 0; w < 16; w++)
		cpu[w] = w, node[w] = w / 8;
	assert_plan_cpus(&p, cpu, node, 16);
	topo_plan_free(&p);

	/* compact with fewer workers stays on the first node. */
	make_plan(&p, "0:0-7,1:8-15", "compact", 5);
	assert_plan_cpus(&p, cpu, node, 5);
	topo_plan_free(&p);

	make_plan(&p, "0:0-7,1:8-15", "spread", 16);
	for (int w = 0; w < 16; w++)
		cpu[w] = (w % 2) * 8 + w / 2, node[w] = w % 2;
	assert_plan_cpus(&p, cpu, node, 16);
	topo_plan_free(&p);

	make_plan(&p, "0:0-7,1:8-15", "node=1", 4);
	for (int w = 0; w < 4; w++)
		cpu[w] = 8 + w, node[w] = 1;
	assert_plan_cpus(&p, cpu, node, 4);
	assert_int_equal(p.nslots, 8);
	topo_plan_free(&p);

	make_plan(&p, "0:0-7,1:8-15", "node=1", 0);
	assert_int_equal(p.nworkers, 8);
	topo_plan_free(&p);
	make_plan(&p, "0:0-7,1:8-15", "spread", 0);
	assert_int_equal(p.nworkers, 16);
	topo_plan_free(&p);
}

static void plan_more_workers_than_cpus(void **state)
{
	static const int c_cpu[] = { 0, 1, 2, 3, 0, 1, 2, 3, 0, 1 };
	static const int c_node[] = { 0, 0, 1, 1, 0, 0, 1, 1, 0, 0 };
	static const int s_cpu[] = { 0, 2, 1, 3, 0, 2, 1, 3, 0, 2 };
	static const int s_node[] = { 0, 1, 0, 1, 0, 1, 0, 1, 0, 1 };
	static const int n_cpu[] = { 2, 3, 2, 3, 2, 3, 2, 3, 2, 3 };
	static const int n_node[] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	struct topo_plan p;

	make_plan(&p, "0:0-1,1:2-3", "compact", 10);
	assert_plan_cpus(&p, c_cpu, c_node, 10);
	assert_int_equal(p.nslots, 4);
	for (int w = 0; w < 10; w++)
		assert_int_equal(p.worker[w].lap, w / 4);
	topo_plan_free(&p);

	make_plan(&p, "0:0-1,1:2-3", "spread", 10);
	assert_plan_cpus(&p, s_cpu, s_node, 10);
	topo_plan_free(&p);

	make_plan(&p, "0:0-1,1:2-3", "node=1", 10);
	assert_plan_cpus(&p, n_cpu, n_node, 10);
	assert_int_equal(p.nslots, 2);
	assert_int_equal(p.worker[9].lap, 4);
	topo_plan_free(&p);

	/* The upper bound itself is accepted. */
	make_plan(&p, "0:0", "compact", TOPO_MAX_WORKERS);
	assert_int_equal(p.worker[TOPO_MAX_WORKERS - 1].cpu, 0);
	assert_int_equal(p.worker[TOPO_MAX_WORKERS - 1].lap,
			 TOPO_MAX_WORKERS - 1);
	topo_plan_free(&p);
}

static void plan_node_without_cpus(void **state)
{
	static const int c_cpu[] = { 0, 1, 2, 3, 4, 0 };
	static const int c_node[] = { 0, 0, 2, 2, 2, 0 };
	static const int s_cpu[] = { 0, 2, 1, 3, 4, 0 };
	static const int s_node[] = { 0, 2, 0, 2, 2, 0 };
	struct topo_plan p;
	struct topo_policy pol = { TOPO_POLICY_NODE, 1 };
	char err[512];

	make_plan(&p, "0:0-1,1:,2:2-4", "compact", 6);
	assert_plan_cpus(&p, c_cpu, c_node, 6);
	topo_plan_free(&p);
	/* spread: a node whose CPUs are used up is skipped. */
	make_plan(&p, "0:0-1,1:,2:2-4", "spread", 6);
	assert_plan_cpus(&p, s_cpu, s_node, 6);
	assert_int_equal(p.nslots, 5);
	topo_plan_free(&p);

	assert_int_equal(topo_plan_make(&p, parse_ok("0:0-1,1:,2:2-4"), 2,
					&pol, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "node 1 has no CPU to run a worker on"));
	assert_null(p.worker);
	pol.node = 5;
	assert_int_equal(topo_plan_make(&p, &topo_buf, 2, &pol, err,
					sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "the topology has no node 5"));
}

static void plan_bad_input(void **state)
{
	struct topo_plan p;
	char err[512];
	struct topo *t = parse_ok("0:0-3");

	assert_int_equal(topo_plan_make(&p, t, -1, NULL, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "-1 workers"));
	assert_int_equal(topo_plan_make(&p, t, TOPO_MAX_WORKERS + 1, NULL,
					err, sizeof(err)), -EINVAL);
	/* NULL policy: compact. */
	assert_int_equal(topo_plan_make(&p, t, 2, NULL, NULL, 0), 0);
	assert_int_equal(p.policy.kind, TOPO_POLICY_COMPACT);
	{
		cpu_set_t s;

		assert_int_equal(topo_plan_cpuset(&p, 1, &s), 0);
		assert_int_equal(CPU_COUNT(&s), 1);
		assert_true(CPU_ISSET(p.worker[1].real_cpu, &s));
		assert_int_equal(topo_plan_cpuset(&p, 2, &s), -EINVAL);
		assert_int_equal(topo_plan_cpuset(&p, -1, &s), -EINVAL);
	}
	topo_plan_free(&p);
}

/* ------------------------------------------------------------------ */

static void assert_order(const struct topo_plan *p, int w, const int *want,
			 int n)
{
	int got[64];

	assert_int_equal(topo_steal_order(p, w, got, 64), n);
	for (int k = 0; k < n; k++)
		if (got[k] != want[k])
			fail_msg("worker %d: steal order position %d is %d, "
				 "expected %d", w, k, got[k], want[k]);
}

/* On the 4-node asymmetric layout, compact, 2 workers per node:
 * workers 0,1 on node 0; 2,3 on node 1; 4,5 on node 2; 6,7 on node 3. */
static void steal_order_follows_distance(void **state)
{
	struct topo_plan p;

	make_plan(&p, asym4, "compact", 8);
	/* node 0's row: 1 -> 12, 2 -> 20, 3 -> 30 */
	assert_order(&p, 0, (int[]){ 1, 2, 3, 4, 5, 6, 7 }, 7);
	assert_order(&p, 1, (int[]){ 0, 2, 3, 4, 5, 6, 7 }, 7);
	/* node 1's row: 0 -> 25 (not 12: the thief's row counts),
	 * 2 -> 14, 3 -> 20 */
	assert_order(&p, 2, (int[]){ 3, 4, 5, 6, 7, 0, 1 }, 7);
	assert_order(&p, 3, (int[]){ 2, 4, 5, 6, 7, 0, 1 }, 7);
	/* node 2's row: 0 -> 20, 1 -> 14, 3 -> 12 */
	assert_order(&p, 5, (int[]){ 4, 6, 7, 2, 3, 0, 1 }, 7);
	/* node 3's row: 0 -> 30, 1 -> 20, 2 -> 12 */
	assert_order(&p, 7, (int[]){ 6, 4, 5, 2, 3, 0, 1 }, 7);
	topo_plan_free(&p);
}

static void steal_order_properties(void **state)
{
	static const char *const specs[] = {
		"0:0-1,1:2-3,2:4-5,3:6-7@10,12,20,30;25,10,14,20;20,14,10,12;30,20,12,10",
		"0:0-3,1:4-7,2:,3:8-11@10,16,16,22;16,10,22,16;16,22,10,16;22,16,16,10",
		"0:0-7,1:8-15",
		"0:0",
	};
	static const char *const policies[] = { "compact", "spread" };
	static const int counts[] = { 1, 3, 8, 13, 40 };

	for (size_t s = 0; s < 4; s++)
		for (size_t pi = 0; pi < 2; pi++)
			for (size_t ci = 0; ci < 5; ci++) {
				struct topo_plan p;
				int order[64], n = counts[ci];

				make_plan(&p, specs[s], policies[pi], n);
				for (int w = 0; w < n; w++) {
					bool seen[64] = { false };
					int own = p.worker[w].node_index;
					int last = 0, r;

					r = topo_steal_order(&p, w, order, 64);
					assert_int_equal(r, n - 1);
					for (int k = 0; k < r; k++) {
						int v = order[k];
						int ni = p.worker[v].node_index;
						int d = p.distance[own * p.nnodes + ni];

						assert_true(v >= 0 && v < n && v != w);
						assert_false(seen[v]);
						seen[v] = true;
						/* Own node first, then by
						 * distance, never back. */
						if (ni == own)
							d = 0;
						assert_true(d >= last);
						last = d;
					}
				}
				topo_plan_free(&p);
			}
}

static void steal_order_ties_rotate(void **state)
{
	struct topo_plan p;
	int order[4];

	/* Four nodes, all remote ones at 20: each thief starts after itself. */
	make_plan(&p, "0:0,1:1,2:2,3:3", "compact", 4);
	assert_order(&p, 0, (int[]){ 1, 2, 3 }, 3);
	assert_order(&p, 1, (int[]){ 2, 3, 0 }, 3);
	assert_order(&p, 2, (int[]){ 3, 0, 1 }, 3);
	assert_order(&p, 3, (int[]){ 0, 1, 2 }, 3);
	/* A short buffer: the count is still the whole, cap is respected. */
	order[2] = order[3] = -7;
	assert_int_equal(topo_steal_order(&p, 0, order, 2), 3);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 2);
	assert_int_equal(order[2], -7);
	assert_int_equal(topo_steal_order(&p, 4, order, 4), -EINVAL);
	assert_int_equal(topo_steal_order(&p, -1, order, 4), -EINVAL);
	topo_plan_free(&p);

	/* Within a node, workers in cyclic order after the thief,
	 * wrapped workers included. */
	make_plan(&p, "0:0-1,1:2-3", "compact", 8);
	/* node 0: workers 0, 1, 4, 5; node 1: 2, 3, 6, 7 */
	assert_order(&p, 4, (int[]){ 5, 0, 1, 6, 7, 2, 3 }, 7);
	assert_order(&p, 3, (int[]){ 6, 7, 2, 4, 5, 0, 1 }, 7);
	topo_plan_free(&p);

	make_plan(&p, "0:0", "compact", 1);
	assert_int_equal(topo_steal_order(&p, 0, order, 4), 0);
	topo_plan_free(&p);
}

/* The plan keeps its own copy: the topology may go away. */
static void plan_outlives_topology(void **state)
{
	struct topo_plan p;

	make_plan(&p, asym4, "spread", 8);
	memset(&topo_buf, 0xff, sizeof(topo_buf));
	assert_int_equal(p.nnodes, 4);
	assert_int_equal(p.distance[1 * 4 + 0], 25);
	assert_order(&p, 0, (int[]){ 4, 1, 5, 2, 6, 3, 7 }, 7);
	topo_plan_free(&p);
}

static void print_is_complete(void **state)
{
	struct topo_plan p;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	make_plan(&p, asym4, "spread", 9);
	topo_print(f, &topo_buf);
	topo_plan_print(f, &p);
	fclose(f);
	assert_non_null(strstr(text, "topology: emulated"));
	assert_non_null(strstr(text, "reproduce: THREADLAB_TOPOLOGY='" "0:0-1,1:2-3,2:4-5,3:6-7@10,12,20,30;25,10,14,20;20,14,10,12;30,20,12,10'"));
	assert_non_null(strstr(text, "plan: policy spread, 9 workers on 8 CPUs (wrapped"));
	assert_non_null(strstr(text, "     8:"));
	topo_plan_free(&p);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_one_node),
		cmocka_unit_test(parse_two_by_eight),
		cmocka_unit_test(parse_plus_ranges_and_matrix),
		cmocka_unit_test(parse_four_asymmetric),
		cmocka_unit_test(parse_nodes_without_cpus),
		cmocka_unit_test(parse_sparse_ids),
		cmocka_unit_test(parse_rejects_malformed),
		cmocka_unit_test(parse_error_buffer_edges),
		cmocka_unit_test(format_round_trip),
		cmocka_unit_test(format_cpus),
		cmocka_unit_test(policy_parse_forms),
		cmocka_unit_test(policy_select_order),
		cmocka_unit_test(discover_reads_env),
		cmocka_unit_test(mapping_rule),
		cmocka_unit_test(parse_maps_onto_this_machine),
		cmocka_unit_test(plan_one_node),
		cmocka_unit_test(plan_two_by_eight),
		cmocka_unit_test(plan_more_workers_than_cpus),
		cmocka_unit_test(plan_node_without_cpus),
		cmocka_unit_test(plan_bad_input),
		cmocka_unit_test(steal_order_follows_distance),
		cmocka_unit_test(steal_order_properties),
		cmocka_unit_test(steal_order_ties_rotate),
		cmocka_unit_test(plan_outlives_topology),
		cmocka_unit_test(print_is_complete),
	};

	return cmocka_run_group_tests_name("numa/topo", tests, NULL, NULL);
}

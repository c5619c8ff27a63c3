/*
 * numa/ — where things run and live.
 *
 * The machine's NUMA layout (nodes, the online CPUs of each, memory per
 * node, the distance matrix), a placement plan that says which worker runs
 * on which CPU of which node, the order in which an idle worker looks at the
 * others' queues (its own node first, then nearer nodes before farther
 * ones), and memory placed on a chosen node.
 *
 * This layer uses syscalls/ and libnuma, nothing above. It holds no shared
 * state of its own: a struct topo and a struct topo_plan are plain data
 * that their owner fills and reads; functions that only read them may be
 * called from any number of threads at once.
 *
 * Conventions (DESIGN.md): a function named for an action returns 0 (or a
 * count) or -errno; errno is not used to report anything. Bad input from
 * outside (an environment variable, a flag) gets -EINVAL and a message in
 * the caller's buffer `err` (`errlen` bytes, NUL-terminated; err may be
 * NULL) that shows the expected form; nothing in this layer exits.
 *
 * ---------------------------------------------------------------------
 * THREADLAB_TOPOLOGY — an emulated layout, for any machine
 *
 *   THREADLAB_TOPOLOGY = NODES [ "@" MATRIX ]
 *   NODES   = NODE { "," NODE }          nodes, ids increasing
 *   NODE    = ID ":" [ CPUS ]            no CPUs: a node with memory only
 *   CPUS    = RANGE { "+" RANGE }        '+' joins ranges of one node
 *   RANGE   = CPU [ "-" CPU ]
 *   MATRIX  = ROW { ";" ROW }            one row per node, in NODES order
 *   ROW     = DIST { "," DIST }          one entry per node, in NODES order
 *
 *   ID 0..63, CPU 0..1023 (each CPU in one node at most, at least one CPU
 *   in all), DIST decimal: 10 on the diagonal, 11..254 elsewhere (the ACPI
 *   SLIT convention Linux reports). Rows may differ from columns
 *   (asymmetric distances). Without a matrix: 10 local, 20 remote, which
 *   is what Linux assumes when the firmware gives none. No spaces.
 *
 *   Examples:   0:0-7,1:8-15
 *               0:0-3+8-11,1:4-7+12-15@10,21;21,10
 *               0:0-3,1:4-7,2:@10,16,22;16,10,22;22,22,10   (node 2: memory)
 *
 *   The comma separates nodes and '+' separates the ranges of one node, so
 *   a CPU list never needs the comma the kernel's cpulist uses; inside the
 *   matrix (after '@') the comma separates entries and ';' rows.
 *   An empty value is the same as an unset one.
 *
 * Running an emulated layout here: when every CPU the layout names is
 * online here and allowed to this process, each runs on itself. Otherwise
 * the k-th CPU of the layout (counting from 0 in increasing CPU number)
 * runs on the (k mod U)-th usable CPU here (U usable CPUs, also in
 * increasing order) — e.g. 0:0-7,1:8-15 on a 2-CPU machine puts the even
 * CPUs on CPU 0 and the odd ones on CPU 1. The plan and the steal order
 * follow the emulated layout; only pinning and memory use the real one.
 *
 * ---------------------------------------------------------------------
 * THREADLAB_PLACEMENT — the placement policy
 *
 *   compact   fill a node before the next: node by node in increasing id,
 *             CPUs in increasing number within a node.
 *   spread    round-robin across nodes: the first CPU of each node (in
 *             increasing node id), then the second CPU of each, ...; a node
 *             whose CPUs are used up is skipped.
 *   node=N    only the CPUs of node N, in increasing number.
 *
 * The policy orders the CPUs it may use into a list of "slots"; worker w
 * runs on slot (w mod S), S the number of slots. So more workers than
 * CPUs wrap around: with S slots, workers w and w + S share a CPU (their
 * `lap` tells how many times the list was wrapped). Nodes with no usable
 * CPU are skipped by compact and spread; node=N of such a node is -EINVAL.
 */
#ifndef THREADLAB_NUMA_TOPO_H
#define THREADLAB_NUMA_TOPO_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TOPO_MAX_NODES   64
#define TOPO_MAX_CPUS    CPU_SETSIZE     /* 1024 */
#define TOPO_MAX_WORKERS 65536

/* The distance Linux reports from a node to itself, and the remote one it
 * assumes when the firmware gives no table. */
#define TOPO_DIST_LOCAL  10
#define TOPO_DIST_REMOTE 20

/* Where a topology came from. */
enum topo_source {
	TOPO_SOURCE_NONE = 0,
	TOPO_SOURCE_LIBNUMA,     /* libnuma: numa_available() >= 0 */
	TOPO_SOURCE_SYSFS,       /* /sys/devices/system/node, libnuma said no */
	TOPO_SOURCE_SINGLE,      /* neither worked: one node, every online CPU */
	TOPO_SOURCE_EMULATED,    /* THREADLAB_TOPOLOGY (or topo_parse) */
};

struct topo_node {
	int id;                  /* the node's number (emulated: as written) */
	int ncpus;               /* CPUs in `cpus` */
	cpu_set_t cpus;          /* its online CPUs (emulated: as written) */
	int64_t mem_total;       /* bytes; -1 when unknown (always, emulated) */
	int64_t mem_free;        /* bytes; -1 when unknown */
};

/*
 * A topology: filled by topo_discover or topo_parse, read by the rest.
 * About 20 KiB; keep it off small stacks.
 */
struct topo {
	enum topo_source source;
	/* Where the real layout behind real_node[] came from (the same as
	 * `source` unless emulated). */
	enum topo_source real_source;
	int nnodes;
	int ncpus;               /* CPUs of all nodes together */
	/* Nodes in increasing id; the distance matrix is indexed by position
	 * in node[] (not by id): distance[i][j] from node[i] to node[j]. */
	struct topo_node node[TOPO_MAX_NODES];
	uint8_t distance[TOPO_MAX_NODES][TOPO_MAX_NODES];
	/* CPUs this process may run on here: online and in its affinity mask
	 * when the topology was read. */
	cpu_set_t usable;
	/* A CPU of the topology -> the real CPU that runs it, -1 when none
	 * does (a real CPU outside the affinity mask). Identity when real. */
	int16_t real_cpu[TOPO_MAX_CPUS];
	bool cpu_map_identity;   /* real_cpu[c] == c for every CPU listed */
	/* A real CPU -> its real node, -1 when unknown. */
	int16_t real_node[TOPO_MAX_CPUS];
};

/*
 * Read the layout to plan with: THREADLAB_TOPOLOGY when it is set and not
 * empty, else the machine's (libnuma, else sysfs, else one node).
 * RETURN VALUE: 0; -EINVAL when THREADLAB_TOPOLOGY is malformed (message
 * in err); otherwise as topo_discover_real (message in err too).
 */
int topo_discover(struct topo *t, char *err, size_t errlen);

/* The machine's layout only, ignoring THREADLAB_TOPOLOGY. 0; -E2BIG when
 * the machine has a node numbered TOPO_MAX_NODES or above; -errno when not
 * even the online CPUs can be read. */
int topo_discover_real(struct topo *t);

/*
 * Parse `spec` (the THREADLAB_TOPOLOGY grammar above) into an emulated
 * topology, mapped onto this machine's CPUs as described above (which
 * reads the machine's layout too).
 * RETURN VALUE: 0; -EINVAL with a message in err; -ENOMEM; or an error of
 * topo_discover_real (message in err).
 */
int topo_parse(struct topo *t, const char *spec, char *err, size_t errlen);

/* "libnuma", "sysfs", "single-node fallback", "emulated". */
const char *topo_source_name(enum topo_source s);

/* The position of node `id` in t->node[], or -ENOENT. */
int topo_node_index(const struct topo *t, int id);
/* The id of the node holding topology CPU `cpu`, or -ENOENT. */
int topo_cpu_node(const struct topo *t, int cpu);

/*
 * Write the topology in THREADLAB_TOPOLOGY form (always with its matrix),
 * so that a layout seen on one machine can be emulated on another.
 * RETURN VALUE: the length written (without the NUL); -ENOSPC when it does
 * not fit in len bytes (buf then holds a truncated, NUL-terminated string).
 */
int topo_format_spec(const struct topo *t, char *buf, size_t len);

/* Write a CPU set as the kernel's cpulist ("0-3,8-11"), or "none".
 * Same return values as topo_format_spec. */
int topo_format_cpus(const cpu_set_t *set, char *buf, size_t len);

/* --------------------------------------------------------------------- */

enum topo_policy_kind {
	TOPO_POLICY_COMPACT = 0, /* the default */
	TOPO_POLICY_SPREAD,
	TOPO_POLICY_NODE,
};

struct topo_policy {
	enum topo_policy_kind kind;
	int node;                /* TOPO_POLICY_NODE: the node id */
};

/* Parse "compact", "spread" or "node=N". 0, or -EINVAL with a message. */
int topo_policy_parse(struct topo_policy *p, const char *s,
		      char *err, size_t errlen);

/*
 * Choose the policy: `config` (a program's setting, e.g. a --policy flag
 * or the rt config) when not NULL, else THREADLAB_PLACEMENT when set and
 * not empty, else compact. 0, or -EINVAL with a message naming the source.
 */
int topo_policy_select(struct topo_policy *p, const char *config,
		       char *err, size_t errlen);

/* "compact", "spread", "node=N"; same return values as topo_format_spec. */
int topo_policy_format(const struct topo_policy *p, char *buf, size_t len);

/* One worker of a plan. */
struct topo_worker {
	int cpu;                 /* CPU in the topology (emulated number) */
	int real_cpu;            /* the CPU here it is pinned to */
	int node;                /* its node's id in the topology */
	int node_index;          /* its node's position in topo.node[] */
	int mem_node;            /* real node of real_cpu, for
				    topo_alloc_on_node; -1 when unknown */
	int lap;                 /* w / nslots: 0 on the first pass */
};

/* A plan owns its arrays; free it with topo_plan_free. It keeps a copy of
 * what it needs of the topology, which may go away afterwards. */
struct topo_plan {
	struct topo_policy policy;
	int nworkers;
	int nslots;              /* CPUs the policy uses; workers wrap after */
	int nnodes;              /* of the topology */
	struct topo_worker *worker;      /* nworkers entries */
	int *node_id;            /* nnodes: node ids by position */
	uint8_t *distance;       /* nnodes * nnodes, row-major, by position */
};

/*
 * Plan `nworkers` workers (0: one per slot, i.e. per CPU the policy may
 * use) on `t` under `pol` (NULL: compact).
 * RETURN VALUE: 0; -EINVAL (message in err) when nworkers is negative or
 * above TOPO_MAX_WORKERS, the policy names a node that does not exist or has
 * no usable CPU, or no CPU is usable at all; -ENOMEM.
 */
int topo_plan_make(struct topo_plan *plan, const struct topo *t,
		   int nworkers, const struct topo_policy *pol,
		   char *err, size_t errlen);
/* Free what topo_plan_make allocated; the plan may then be made again. */
void topo_plan_free(struct topo_plan *plan);

/* The CPU set that pins worker w (its real CPU), for sys_thread_attr.cpus.
 * 0, or -EINVAL when w is out of range. */
int topo_plan_cpuset(const struct topo_plan *plan, int w, cpu_set_t *set);

/*
 * The order in which worker w, when idle, should look at the other
 * workers' queues: every other worker once, in groups —
 *   1. the workers of w's own node;
 *   2. then the workers of each other node, nearest first by
 *      distance[w's node][their node]; nodes at equal distance in cyclic
 *      order of position starting after w's node (so that the nodes of a
 *      tie are not all raided by everyone in the same order).
 * Within a group, workers in cyclic order of index starting after w
 * (worker w+1, w+2, ..., wrapping to 0), for the same reason.
 * Writes at most `cap` indexes to `order`.
 * RETURN VALUE: the number of other workers (nworkers - 1; more than cap
 * when the buffer is short); -EINVAL when w is out of range.
 */
int topo_steal_order(const struct topo_plan *plan, int w, int *order,
		     int cap);

/* --------------------------------------------------------------------- */

/*
 * `size` bytes (rounded up to pages) of zeroed anonymous memory that the
 * kernel places on real node `node` (MPOL_PREFERRED: should that node run
 * out, the kernel takes the nearest other one instead of failing — a
 * worker should not die because its node is full). The policy acts when a
 * page is first touched. node < 0: no policy (first touch decides). On a
 * kernel without NUMA support only node 0 exists, and its memory is plain.
 * RETURN VALUE: the address, or NULL with *err (if err is not NULL) set
 * to -EINVAL (size 0, node above TOPO_MAX_NODES - 1 or not on the machine),
 * -ENOMEM.
 */
void *topo_alloc_on_node(size_t size, int node, int *err);

/* Give back memory from topo_alloc_on_node (the same size). 0 or -errno. */
int topo_free(void *p, size_t size);

/* The node of the page holding `addr` (get_mempolicy with MPOL_F_NODE |
 * MPOL_F_ADDR), or -errno (-EFAULT: not mapped). Touch the page first: an
 * untouched page has no node yet. On a kernel without NUMA support, 0. */
int topo_node_of_addr(const void *addr);

/* --------------------------------------------------------------------- */

/* Print the topology (source, nodes, CPUs, memory, distance matrix, the
 * THREADLAB_TOPOLOGY that reproduces it), for people and bug reports. */
void topo_print(FILE *f, const struct topo *t);
/* Print a plan: one line per worker, then each worker's steal order. */
void topo_plan_print(FILE *f, const struct topo_plan *plan);

#endif

/*
 * numa/topo.c — reading the machine's NUMA layout.
 *
 * Three sources, tried in order: libnuma (when numa_available() says the
 * kernel has NUMA), the kernel's sysfs node directory (libnuma said no, but
 * the files are there — e.g. a libnuma that fails in a container), and
 * finally one node holding every online CPU, which is always true enough to
 * run on. THREADLAB_TOPOLOGY replaces all three with an emulated layout
 * (parse.c), but the real one is still read for pinning and memory.
 *
 * Only online CPUs count: a CPU that is offline can take no worker. Of
 * those, the ones outside the process's affinity mask (taskset, a cgroup
 * cpuset) stay in the topology, since they are part of the machine, but
 * have no real_cpu and so get no worker.
 *
 * No shared state: everything goes into the caller's struct topo.
 */
#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "numa/internal.h"
#include "syscalls/sys.h"

int topo__fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

void topo__clear(struct topo *t)
{
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < TOPO_MAX_CPUS; i++) {
		t->real_cpu[i] = -1;
		t->real_node[i] = -1;
	}
}

int topo__usable_cpus(cpu_set_t *usable)
{
	cpu_set_t online, aff;
	int r_online, r_aff;

	r_online = sys_online_cpus(&online);
	r_aff = sys_sched_getaffinity(0, &aff);
	if (r_aff < 0 && r_online < 0)
		return r_online;
	if (r_aff < 0) {
		*usable = online;
		return 0;
	}
	if (r_online < 0) {
		*usable = aff;
		return 0;
	}
	CPU_AND(usable, &online, &aff);
	/* Should the two not meet (a stale online file), trust the mask the
	 * kernel enforces. */
	if (CPU_COUNT(usable) == 0)
		*usable = aff;
	return 0;
}

static void default_distances(struct topo *t)
{
	for (int i = 0; i < t->nnodes; i++)
		for (int j = 0; j < t->nnodes; j++)
			t->distance[i][j] = i == j ? TOPO_DIST_LOCAL
						   : TOPO_DIST_REMOTE;
}

int topo__from_libnuma(struct topo *t, const cpu_set_t *online)
{
	struct bitmask *cpus;
	int max;

	if (numa_available() < 0)
		return -ENOSYS;
	max = numa_max_node();
	if (max < 0)
		return -ENOSYS;
	cpus = numa_allocate_cpumask();
	if (!cpus)
		return -ENOMEM;
	for (int id = 0; id <= max; id++) {
		struct topo_node *n;
		long long total, free_b = -1;

		if (!numa_bitmask_isbitset(numa_nodes_ptr, id))
			continue;
		if (id >= TOPO_MAX_NODES) {
			numa_free_cpumask(cpus);
			return -E2BIG;
		}
		n = &t->node[t->nnodes++];
		n->id = id;
		CPU_ZERO(&n->cpus);
		numa_bitmask_clearall(cpus);
		if (numa_node_to_cpus(id, cpus) == 0) {
			unsigned long lim = cpus->size < TOPO_MAX_CPUS
					    ? cpus->size : TOPO_MAX_CPUS;

			for (unsigned long c = 0; c < lim; c++)
				if (numa_bitmask_isbitset(cpus, c) &&
				    CPU_ISSET(c, online))
					CPU_SET(c, &n->cpus);
		}
		n->ncpus = CPU_COUNT(&n->cpus);
		total = numa_node_size64(id, &free_b);
		n->mem_total = total >= 0 ? total : -1;
		n->mem_free = total >= 0 ? free_b : -1;
	}
	numa_free_cpumask(cpus);
	if (t->nnodes == 0)
		return -ENOSYS;

	default_distances(t);
	for (int i = 0; i < t->nnodes; i++)
		for (int j = 0; j < t->nnodes; j++) {
			int d = numa_distance(t->node[i].id, t->node[j].id);

			/* 0: libnuma could not read it; keep the default. */
			if (d > 0 && d < 256)
				t->distance[i][j] = (uint8_t)d;
		}
	return 0;
}

/* Read a small sysfs file into buf (NUL-terminated). Length or -errno. */
static int read_small(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	close(fd);
	buf[n] = '\0';
	return (int)n;
}

/* The kernel's list format: "0-3,8,10-11", maybe empty, maybe with a
 * trailing newline. Entries of `limit` or more are an error. */
static int parse_kernel_list(const char *s, cpu_set_t *set, int limit)
{
	CPU_ZERO(set);
	while (*s && *s != '\n') {
		char *end;
		unsigned long lo, hi;

		lo = strtoul(s, &end, 10);
		if (end == s)
			return -EINVAL;
		hi = lo;
		if (*end == '-') {
			s = end + 1;
			hi = strtoul(s, &end, 10);
			if (end == s || hi < lo)
				return -EINVAL;
		}
		if (hi >= (unsigned long)limit)
			return -E2BIG;
		for (unsigned long c = lo; c <= hi; c++)
			CPU_SET(c, set);
		s = end;
		if (*s == ',')
			s++;
		else if (*s && *s != '\n')
			return -EINVAL;
	}
	return 0;
}

/* "Node 0 MemTotal:        7301332 kB" -> bytes, or -1. */
static int64_t meminfo_field(const char *text, const char *field)
{
	const char *p = strstr(text, field);
	char *end;
	unsigned long long kb;

	if (!p)
		return -1;
	p += strlen(field);
	kb = strtoull(p, &end, 10);
	if (end == p)
		return -1;
	return (int64_t)kb * 1024;
}

static void sysfs_distances(struct topo *t, const char *root, int i)
{
	char path[512], buf[4096];
	const char *p = buf;
	uint8_t row[TOPO_MAX_NODES];
	int j = 0;

	snprintf(path, sizeof(path), "%s/node%d/distance", root, t->node[i].id);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return;
	/* One number per online node, in node order. A row of another
	 * length (a node going away under us) keeps the default. */

	while (*p && *p != '\n') {
		char *end;
		unsigned long d = strtoul(p, &end, 10);

		if (end == p || d == 0 || d > 255 || j == t->nnodes)
			return;
		row[j++] = (uint8_t)d;
		p = end;
		while (*p == ' ')
			p++;
	}
	if (j != t->nnodes)
		return;
	memcpy(t->distance[i], row, (size_t)j);
}

int topo__from_sysfs(struct topo *t, const char *root,
		     const cpu_set_t *online)
{
	char path[512], buf[4096];
	cpu_set_t nodes;
	int r;

	snprintf(path, sizeof(path), "%s/online", root);
	r = read_small(path, buf, sizeof(buf));
	if (r < 0)
		return r;
	r = parse_kernel_list(buf, &nodes, TOPO_MAX_NODES);
	if (r < 0)
		return r;
	if (CPU_COUNT(&nodes) == 0)
		return -ENOENT;

	for (int id = 0; id < TOPO_MAX_NODES; id++) {
		struct topo_node *n;

		if (!CPU_ISSET(id, &nodes))
			continue;
		n = &t->node[t->nnodes++];
		n->id = id;
		snprintf(path, sizeof(path), "%s/node%d/cpulist", root, id);
		r = read_small(path, buf, sizeof(buf));
		if (r < 0)
			return r;
		r = parse_kernel_list(buf, &n->cpus, TOPO_MAX_CPUS);
		if (r < 0)
			return r;
		CPU_AND(&n->cpus, &n->cpus, online);
		n->ncpus = CPU_COUNT(&n->cpus);

		snprintf(path, sizeof(path), "%s/node%d/meminfo", root, id);
		n->mem_total = n->mem_free = -1;
		if (read_small(path, buf, sizeof(buf)) > 0) {
			n->mem_total = meminfo_field(buf, "MemTotal:");
			n->mem_free = meminfo_field(buf, "MemFree:");
		}
	}
	default_distances(t);
	for (int i = 0; i < t->nnodes; i++)
		sysfs_distances(t, root, i);
	return 0;
}

void topo__single(struct topo *t, const cpu_set_t *online)
{
	long page = sysconf(_SC_PAGESIZE);
	long phys = sysconf(_SC_PHYS_PAGES);
	long avail = sysconf(_SC_AVPHYS_PAGES);
	struct topo_node *n = &t->node[0];

	t->nnodes = 1;
	n->id = 0;
	n->cpus = *online;
	n->ncpus = CPU_COUNT(online);
	n->mem_total = page > 0 && phys > 0 ? (int64_t)phys * page : -1;
	n->mem_free = page > 0 && avail > 0 ? (int64_t)avail * page : -1;
	t->distance[0][0] = TOPO_DIST_LOCAL;
}

void topo__finish_real(struct topo *t, enum topo_source src,
		       const cpu_set_t *usable)
{
	t->source = t->real_source = src;
	t->usable = *usable;
	t->ncpus = 0;
	t->cpu_map_identity = true;
	for (int i = 0; i < t->nnodes; i++) {
		struct topo_node *n = &t->node[i];

		t->ncpus += n->ncpus;
		for (int c = 0; c < TOPO_MAX_CPUS; c++) {
			if (!CPU_ISSET(c, &n->cpus))
				continue;
			t->real_node[c] = (int16_t)n->id;
			if (CPU_ISSET(c, usable))
				t->real_cpu[c] = (int16_t)c;
			else
				t->cpu_map_identity = false;
		}
	}
}

int topo_discover_real(struct topo *t)
{
	cpu_set_t online, usable;
	int r;

	r = topo__usable_cpus(&usable);
	if (r < 0)
		return r;
	if (sys_online_cpus(&online) < 0)
		online = usable;

	topo__clear(t);
	r = topo__from_libnuma(t, &online);
	if (r == 0) {
		topo__finish_real(t, TOPO_SOURCE_LIBNUMA, &usable);
		return 0;
	}
	if (r == -E2BIG)
		return r;
	topo__clear(t);
	r = topo__from_sysfs(t, TOPO_SYSFS_NODE_ROOT, &online);
	if (r == 0) {
		topo__finish_real(t, TOPO_SOURCE_SYSFS, &usable);
		return 0;
	}
	topo__clear(t);
	topo__single(t, &online);
	topo__finish_real(t, TOPO_SOURCE_SINGLE, &usable);
	return 0;
}

int topo_discover(struct topo *t, char *err, size_t errlen)
{
	const char *spec = getenv("THREADLAB_TOPOLOGY");
	int r;

	if (spec && *spec)
		return topo_parse(t, spec, err, errlen);
	r = topo_discover_real(t);
	if (r < 0)
		topo__fail(err, errlen,
			   "cannot read this machine's CPUs and nodes: %s",
			   strerror(-r));
	return r;
}

int topo_parse(struct topo *t, const char *spec, char *err, size_t errlen)
{
	struct topo *real;
	int r;

	r = topo__parse_layout(t, spec, err, errlen);
	if (r < 0)
		return r;
	real = malloc(sizeof(*real));
	if (!real)
		return -ENOMEM;
	r = topo_discover_real(real);
	if (r < 0) {
		topo__fail(err, errlen,
			   "cannot read this machine's CPUs to run the "
			   "emulated layout on: %s", strerror(-r));
		free(real);
		return r;
	}
	topo__map_cpus(t, &real->usable, real->real_node, real->source);
	free(real);
	return 0;
}

const char *topo_source_name(enum topo_source s)
{
	switch (s) {
	case TOPO_SOURCE_LIBNUMA:
		return "libnuma";
	case TOPO_SOURCE_SYSFS:
		return "sysfs";
	case TOPO_SOURCE_SINGLE:
		return "single-node fallback";
	case TOPO_SOURCE_EMULATED:
		return "emulated";
	default:
		return "none";
	}
}

int topo_node_index(const struct topo *t, int id)
{
	for (int i = 0; i < t->nnodes; i++)
		if (t->node[i].id == id)
			return i;
	return -ENOENT;
}

int topo_cpu_node(const struct topo *t, int cpu)
{
	if (cpu < 0 || cpu >= TOPO_MAX_CPUS)
		return -ENOENT;
	for (int i = 0; i < t->nnodes; i++)
		if (CPU_ISSET(cpu, &t->node[i].cpus))
			return t->node[i].id;
	return -ENOENT;
}

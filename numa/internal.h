/*
 * numa/ internals shared between its files. Not installed.
 *
 * The discovery steps are separate functions so that the tests can run
 * each one alone: the sysfs reader against a made-up tree, the emulation
 * mapping against a made-up set of usable CPUs.
 */
#ifndef THREADLAB_NUMA_INTERNAL_H
#define THREADLAB_NUMA_INTERNAL_H

#include <stdarg.h>

#include "numa/topo.h"

#define TOPO_SYSFS_NODE_ROOT "/sys/devices/system/node"

/* Empty the topology: no nodes, no CPUs, every map entry -1. */
void topo__clear(struct topo *t);

/* The CPUs this process may run on: online and in its affinity mask (the
 * affinity mask alone if they do not meet). 0 or -errno. */
int topo__usable_cpus(cpu_set_t *usable);

/* Fill nodes, CPUs (intersected with `online`), memory and distances from
 * libnuma; -ENOSYS when numa_available() < 0. */
int topo__from_libnuma(struct topo *t, const cpu_set_t *online);
/* The same from a sysfs node directory (normally TOPO_SYSFS_NODE_ROOT);
 * -ENOENT or -EINVAL when it is missing or unreadable. */
int topo__from_sysfs(struct topo *t, const char *root,
		     const cpu_set_t *online);
/* One node, id 0, holding every CPU of `online`; memory from sysconf. */
void topo__single(struct topo *t, const cpu_set_t *online);

/* After one of the three above: real_cpu[] is the identity on the usable
 * CPUs (-1 on the others), real_node[] from the nodes, source recorded. */
void topo__finish_real(struct topo *t, enum topo_source src,
		       const cpu_set_t *usable);

/* The grammar part of topo_parse: nodes, CPUs and distances of `spec`
 * into t (source EMULATED); no mapping. 0 or -EINVAL with a message. */
int topo__parse_layout(struct topo *t, const char *spec,
		       char *err, size_t errlen);
/* The mapping part: emulated CPUs onto `usable` (topo.h describes the
 * rule); real_node is indexed by real CPU (TOPO_MAX_CPUS entries). */
void topo__map_cpus(struct topo *t, const cpu_set_t *usable,
		    const int16_t *real_node, enum topo_source real_source);

/* snprintf into err (when err and errlen are not 0); returns -EINVAL so a
 * caller can write `return topo__fail(...)`. */
__attribute__((format(printf, 3, 4)))
int topo__fail(char *err, size_t errlen, const char *fmt, ...);

#endif

/*
 * numa/mem.c — memory placed on a node.
 *
 * A fresh anonymous mapping with a memory policy (mbind) on it: the kernel
 * then takes each page from the chosen node when the page is first
 * touched. mbind and get_mempolicy are called through syscalls/ rather
 * than libnuma's wrappers, because those report through errno, and code
 * in an rt/ task must not rely on errno (a task can move between worker
 * threads, and errno is per thread).
 *
 * No shared state.
 */
#include <errno.h>
#include <numaif.h>
#include <sys/mman.h>
#include <unistd.h>

#include "numa/internal.h"
#include "syscalls/sys.h"

/* mbind's nodemask: one bit per node; maxnode counts one more bit than the
 * mask holds (the kernel drops the last, as glibc's and libnuma's callers
 * know). */
#define MASK_WORDS ((TOPO_MAX_NODES + 63) / 64)

static size_t page_round(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (size > SIZE_MAX - page)
		return 0;
	return (size + page - 1) & ~(page - 1);
}

void *topo_alloc_on_node(size_t size, int node, int *err)
{
	unsigned long mask[MASK_WORDS] = { 0 };
	size_t len = page_round(size);
	void *p;
	long r;

	if (size == 0 || len == 0 || node >= TOPO_MAX_NODES) {
		r = -EINVAL;
		goto out_err;
	}
	p = sys_mmap(NULL, len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sys_is_error((long)p)) {
		r = (long)p;
		goto out_err;
	}
	if (node < 0)
		return p;
	mask[node / 64] = 1ul << (node % 64);
	r = sys_syscall6(SYS_mbind, (long)p, (long)len, MPOL_PREFERRED,
			 (long)mask, TOPO_MAX_NODES + 1, 0);
	/* A kernel without NUMA has one node, 0, and no mbind. */
	if (r == -ENOSYS && node == 0)
		r = 0;
	if (r < 0)
		goto out_unmap;
	return p;

out_unmap:
	sys_munmap(p, len);
out_err:
	if (err)
		*err = (int)r;
	return NULL;
}

int topo_free(void *p, size_t size)
{
	size_t len = page_round(size);

	if (!p || len == 0)
		return -EINVAL;
	return sys_munmap(p, len);
}

int topo_node_of_addr(const void *addr)
{
	int node = -1;
	long r;

	r = sys_syscall5(SYS_get_mempolicy, (long)&node, 0, 0, (long)addr,
			 MPOL_F_NODE | MPOL_F_ADDR);
	if (r == -ENOSYS)
		return 0;
	if (r < 0)
		return (int)r;
	return node;
}

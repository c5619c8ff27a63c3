/*
 * Small helpers shared by the vocabulary's files (vocab.h): the time,
 * allocation and element copies for task code, and the "called outside
 * a task" check. No shared state.
 */
#include <stdlib.h>

#include "vocab.h"

RT__ON_WORKER_STACK static void *now_on_worker(void *out)
{
	*(int64_t *)out = sys_now_ns();
	return NULL;
}

int64_t rt__now(void)
{
	int64_t t;

	rt_call_on_worker_stack(now_on_worker, &t);
	return t;
}

int64_t rt_now(void)
{
	return rt__now();
}

void rt__need_task(const char *name)
{
	struct rt_worker *w = rt__self();

	if (!w || !w->cur)
		rt__panic("%s: called outside a task", name);
}

struct alloc_args {
	size_t n;
	void *p;
	bool zero;
};

RT__ON_WORKER_STACK static void *malloc_on_worker(void *arg)
{
	struct alloc_args *a = arg;

	a->p = a->zero ? calloc(1, a->n) : malloc(a->n);
	return NULL;
}

RT__ON_WORKER_STACK static void *free_on_worker(void *p)
{
	free(p);
	return NULL;
}

void *rt__malloc(size_t n)
{
	struct alloc_args a = { n, NULL, false };

	rt_call_on_worker_stack(malloc_on_worker, &a);
	return a.p;
}

void *rt__calloc(size_t n)
{
	struct alloc_args a = { n, NULL, true };

	rt_call_on_worker_stack(malloc_on_worker, &a);
	return a.p;
}

void rt__free(void *p)
{
	if (p)
		rt_call_on_worker_stack(free_on_worker, p);
}

/* Word moves, then bytes. The attribute keeps gcc from recognising the
 * loops as memcpy/memset and calling libc (non-split code) again. */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
void rt__copy_slow(void *dst, const void *src, size_t n)
{
	char *d = dst;
	const char *s = src;

	while (n >= 8) {
		uint64_t x;

		__builtin_memcpy(&x, s, 8);
		__builtin_memcpy(d, &x, 8);
		d += 8, s += 8, n -= 8;
	}
	while (n--)
		*d++ = *s++;
}

__attribute__((optimize("no-tree-loop-distribute-patterns")))
void rt__zero_slow(void *dst, size_t n)
{
	char *d = dst;
	uint64_t z = 0;

	while (n >= 8) {
		__builtin_memcpy(d, &z, 8);
		d += 8, n -= 8;
	}
	while (n--)
		*d++ = 0;
}
